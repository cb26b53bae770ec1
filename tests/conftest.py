import os

os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402

# The test suite runs in float64 throughout, as the theory checks need (arrays built directly with
# jax.numpy in tests included).  Importing dynamics itself leaves this setting alone
# (tests/test_precision.py checks that in fresh processes).
jax.config.update("jax_enable_x64", True)

import dynamics  # noqa: E402,F401
