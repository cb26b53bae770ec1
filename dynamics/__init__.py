"""dynamics: learning dynamics of self-supervised learning, solved, integrated and trained.

Importing the package enables float64 in JAX (``jax_enable_x64``): the theory
checks compare closed forms with integrated flows to 1e-8 and better, which
float32 cannot resolve.  Pass float32 arrays explicitly where speed matters more.
"""

import jax as _jax

_jax.config.update("jax_enable_x64", True)

from . import barlow, contrastive, data, flows, grassmann, kernel, networks, ntk, trainer  # noqa: E402

__all__ = ["barlow", "contrastive", "data", "flows", "grassmann", "kernel", "networks", "ntk", "trainer", "__version__"]
__version__ = "0.1.0"
