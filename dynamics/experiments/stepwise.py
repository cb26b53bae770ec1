"""Linear Barlow Twins on built-in digits: the setups and runs of Simon et al. (2023) §4 and App. C.

J. B. Simon, M. Knutins, L. Ziyin, D. Geisz, A. J. Fetterman, J. Albrecht, "On the Stepwise Nature of
Self-Supervised Learning", ICML 2023 (arXiv:2303.15438), cited as S.

Shared by the checks of :mod:`dynamics.theorems.barlow_checks` and :mod:`dynamics.theorems.kernel_checks`,
the figures S Fig 1 and S Fig 6, notebook 01 and the theory-vs-training benchmark, so that each
shows the same data and the same training run.

* :func:`digits_setup` — positive pairs (centred random 7×7 crops of scikit-learn digits) and their
  cross-correlation Γ = (1/2n) Σ_i (x_i x'_iᵀ + x'_i x_iᵀ) (S4).
* :func:`digits_small_init_run` — the linear model f(x) = W x trained by full-batch gradient descent on
  the Barlow Twins loss of its embeddings (S1–S3) from W(0) ~ N(0, σ²) up to ``horizon`` × τ_d, the
  last critical time of S16 with the typical initial singular values of S21.
* :func:`appendix_c_setup` — the upper-triangular A(0) and γ_j = 2^{-j} of S Fig 6 (App. C, S45).

Each run is cached in memory (``functools.lru_cache``): a check and the figure that illustrates it
share it.  Runs return objects (training histories), so they are not stored on disk.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import barlow, data, trainer
from .._x64 import float64

D = 10  # embedding dimension d of the S §4 experiments (S Fig 1)

# Gradient descent of the small-init runs (S §4.4): step, length in units of τ_d (S16 with the S21
# initial values) and the seed of W(0).
SMALL_INIT_LR = 2e-3
SMALL_INIT_HORIZON = 1.5
SMALL_INIT_SEED = 1
SMALL_INIT_RECORDS = 300
# σ of the run behind S Fig 1 and the stepwise-loss check (S16, S19–S20).
STEPWISE_SIGMA = 1e-6


def small_init_sigmas(fast: bool) -> list[float]:
    """The init scales σ of the Result 4.6 sweep (the error of the prediction must fall with σ)."""
    return [1e-2, 1e-4, 1e-6] if fast else [1e-2, 1e-4, 1e-6, 1e-8]


@float64
@functools.lru_cache(maxsize=None)
def digits_setup(n: int = 500, crop_size: int = 7, seed: int = 0):
    """Built-in positive pairs: centred random 7x7 crops of scikit-learn digits, and their Γ (S4).

    Returns ``(x, x_prime, Gamma)`` with ``x, x_prime`` of shape (n, crop_size²).  Cached.
    """
    x, xp = data.digits_pairs(n=n, crop_size=crop_size, center=True, seed=seed)
    return x, xp, barlow.cross_correlation(x, xp)


def small_init_steps(sigma: float, lr: float = SMALL_INIT_LR, horizon: float = SMALL_INIT_HORIZON) -> int:
    """Number of GD steps of :func:`digits_small_init_run`: ⌈horizon × τ_d / lr⌉.

    τ_d is the last critical time of S16, τ_j = −log(γ_j s_j(0)²) / (8 γ_j), with the top-d γ_j of the
    Γ of :func:`digits_setup` and the typical initial singular values s_j(0) ≈ σ √(d − j + 1) of S21.
    """
    _, _, Gamma = digits_setup()
    gammas, _ = barlow.spectrum(Gamma)
    tau = barlow.critical_times(gammas[:D], barlow.random_init_singular_values(D, sigma))
    return int(np.ceil(horizon * tau[-1] / lr))


@float64
@functools.lru_cache(maxsize=None)
def digits_small_init_run(sigma: float, lr: float = SMALL_INIT_LR, horizon: float = SMALL_INIT_HORIZON,
                          seed: int = SMALL_INIT_SEED):
    """Train the linear model on built-in digits pairs from N(0, σ²) init up to horizon × τ_d.

    Data: :func:`digits_setup` (n = 500, m = 49); d = :data:`D`; W(0) from ``trainer.init_linear``
    with ``seed``; full-batch GD on the Barlow Twins loss of the embeddings (S1–S3) with step ``lr``
    for :func:`small_init_steps` steps, 300 log-spaced records with the weights.
    Returns ``(W0, history)``; time is t = lr × step.  Cached.
    """
    x, xp, _ = digits_setup()
    W0 = trainer.init_linear(D, x.shape[1], sigma, seed)
    n_steps = small_init_steps(sigma, lr, horizon)
    _, hist = trainer.train_barlow_linear(x, xp, W0=W0, lr=lr, n_steps=n_steps, n_records=SMALL_INIT_RECORDS,
                                          record_weights=True)
    return W0, hist


def appendix_c_setup(d: int = 3, m: int = 5, alpha: float = 1e-9, seed: int = 3):
    """A(0) and γ of S Fig 6 (App. C): γ_j = 2^{-j}, A(0) upper-triangular with entries α·U(0.5, 1.5).

    Returns ``(A0, gammas)``, A0 of shape (d, m), gammas of shape (m,), the initial state and the
    spectrum of the rescaled dynamics S45.
    """
    gammas = 2.0 ** -np.arange(1, m + 1)
    rng = np.random.default_rng(seed)
    return np.triu(alpha * rng.uniform(0.5, 1.5, (d, m))), gammas


__all__ = ["D", "SMALL_INIT_HORIZON", "SMALL_INIT_LR", "SMALL_INIT_RECORDS", "SMALL_INIT_SEED", "STEPWISE_SIGMA",
           "appendix_c_setup", "digits_setup", "digits_small_init_run", "small_init_sigmas", "small_init_steps"]
