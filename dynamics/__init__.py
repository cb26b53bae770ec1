"""dynamics: learning dynamics of self-supervised learning, solved, integrated and trained.

Importing the package leaves JAX's configuration alone.  The package's own computations run in
float64, scoped to each call (``jax.enable_x64``; see :mod:`dynamics._x64`): a user's float32 model
code stays float32 after ``import dynamics``.  Functions meant to be traced inside a user's program
(the losses, the network ``apply`` functions, the Stiefel geometry) compute in the dtype of their
inputs.
"""

from . import _x64
from . import barlow, contrastive, data, flows, grassmann, kernel, linalg, losses, networks, ntk, stiefel, trainer

# Scope every public entry point of the theory and trainer modules to float64; the traceable
# building blocks keep the caller's precision.
_TRACEABLE = [obj for n, obj in vars(stiefel).items() if not n.startswith("_")]
_TRACEABLE += [getattr(losses, n) for n in losses.__all__]  # re-exported by barlow, contrastive, flows
_TRACEABLE += [obj for n, obj in vars(networks).items() if not n.startswith(("_", "init"))]
# NumPy linear algebra in the input's dtype, re-exported by kernel and grassmann: the same objects, unscoped.
_TRACEABLE += [getattr(linalg, n) for n in linalg.__all__]
for _mod in (barlow, contrastive, data, flows, grassmann, kernel, ntk, trainer):
    _x64.scope_module(_mod, keep=_TRACEABLE)
for _n in [n for n in vars(networks) if n.startswith("init")]:
    setattr(networks, _n, _x64.float64(getattr(networks, _n)))
del _mod, _n

__all__ = ["barlow", "contrastive", "data", "flows", "grassmann", "kernel", "linalg", "losses", "networks", "ntk",
           "stiefel", "trainer", "__version__"]
__version__ = "0.1.0"
