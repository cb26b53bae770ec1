"""Named experiments: the data, sizes, widths, seeds and runs that checks, figures, notebooks and
benchmarks share.

Layering: the core (losses, networks, geometry, integrator, trainer) and the paper modules
(:mod:`dynamics.barlow`, :mod:`dynamics.kernel`, :mod:`dynamics.grassmann`, :mod:`dynamics.contrastive`)
sit below; :mod:`dynamics.theorems` (the checks) and :mod:`dynamics.figures` stand on this package
and never on each other's private names.  Each setup is cached in memory (a check and the figure
that illustrates it share the run); width × seed grids go through :func:`run_grid`, which stores
each point on disk when a cache directory is set (:func:`cache_dir`), so an interrupted long run
resumes, and spreads the points over any :class:`concurrent.futures.Executor` (local processes, a
Dask cluster) set with :func:`use_executor` or the environment variable ``DYNAMICS_EXECUTOR``.

* :mod:`~dynamics.experiments.stepwise` — Simon et al. (2023) §4: linear Barlow Twins on digits.
* :mod:`~dynamics.experiments.kernels` — Simon et al. §5: kernelised Barlow Twins.
* :mod:`~dynamics.experiments.wide` — Simon et al. §6 and Fleissner et al.: wide two-layer networks.
* :mod:`~dynamics.experiments.grassmann` — Esser et al.: orthogonality-constrained SSL.
* :mod:`~dynamics.experiments.contrastive` — Anil et al.: wide contrastive networks.
* :mod:`~dynamics.experiments.speedup` — Simon et al. App. G: can self-supervised training be sped up
  (S52's preconditioner, the spectral modifications of Barlow Twins), measured on linear, wide and deep models.
"""

from ._grid import (cache_dir, clear_memory, close_executor, current_cache_dir, current_executor, make_executor,
                    parse_executor_spec, run_grid, use_executor)
from . import kernels, stepwise, wide
from . import contrastive, grassmann, speedup

__all__ = ["cache_dir", "clear_memory", "close_executor", "current_cache_dir", "current_executor", "make_executor",
           "parse_executor_spec", "run_grid", "use_executor", "kernels", "stepwise", "wide", "contrastive", "grassmann",
           "speedup"]
