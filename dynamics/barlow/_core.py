"""Barlow Twins on a linear model: cross-correlations, loss and gradient flow (S1–S6).

Notation follows Simon et al. (S): n positive pairs x_i, x'_i in R^m, embeddings
f(x) = W x with W in R^{d x m}.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .. import losses
from .._validation import as_matrix, as_symmetric, check_pairs
from ..linalg import eigh_descending


def _cross_correlation(x, x_prime):
    n = x.shape[0]
    xtx = x.T @ x_prime
    return (xtx + xtx.T) / (2 * n)


def _loss(W, Gamma):
    C = W @ Gamma @ W.T
    return jnp.sum((C - jnp.eye(W.shape[0], dtype=C.dtype)) ** 2)


def _flow_rhs(W, Gamma):
    WG = W @ Gamma
    C = WG @ W.T
    return -4.0 * (C - jnp.eye(W.shape[0], dtype=C.dtype)) @ WG


def _embedding_loss(f, f_prime):
    """S1–S2 from embeddings: ||C - I||_F^2 with C the symmetrised embedding cross-correlation, i.e.
    :func:`dynamics.losses.barlow_twins` with ``symmetrize=True`` and λ = 1 (traceable)."""
    return losses.barlow_twins(f, f_prime, symmetrize=True)


_check_pairs = check_pairs


def check_W_Gamma(W, Gamma):
    W = as_matrix(W, "W")
    Gamma = as_symmetric(Gamma, "Gamma")
    if W.shape[1] != Gamma.shape[0]:
        raise ValueError(f"W has {W.shape[1]} columns but Gamma is {Gamma.shape[0]}x{Gamma.shape[0]}; expected W of shape (d, m) with Gamma (m, m)")
    return W, Gamma


def cross_correlation(x, x_prime) -> np.ndarray:
    r"""Symmetrised cross-correlation of paired rows (S2, S4).

    S4: $\Gamma = \frac{1}{2n}\sum_{i=1}^{n} \big(x_i x_i'^\top + x_i' x_i^\top\big)$.

    Γ = (1/2n) Σ_i (x_i x'_i^T + x'_i x_i^T).  Applied to features it gives the
    feature cross-correlation Γ (S4); applied to embeddings f(x_i), f(x'_i) it
    gives the embedding cross-correlation C = W Γ W^T (S2).

    Parameters
    ----------
    x, x_prime : (n, m) arrays, row i holding the two views of pair i.

    Returns
    -------
    (m, m) symmetric array.
    """
    x, x_prime = _check_pairs(x, x_prime)
    return np.asarray(_cross_correlation(x, x_prime))


def loss(W, Gamma) -> float:
    r"""Barlow Twins loss of the linear model, L = ||W Γ W^T − I_d||_F^2 (S5).

    S5: $\mathcal{L}(W) = \big\| W \Gamma W^\top - I_d \big\|_F^2$.
    """
    W, Gamma = check_W_Gamma(W, Gamma)
    return float(_loss(W, Gamma))


def loss_from_embeddings(f, f_prime) -> float:
    """Barlow Twins loss computed from paired embeddings, ||C − I_d||_F^2 with C of S2 (S1).

    The validated, float-returning form of ``dynamics.losses.barlow_twins(f, f_prime, symmetrize=True)``.
    """
    f, f_prime = _check_pairs(f, f_prime, ("f", "f_prime"))
    return float(losses.barlow_twins(f, f_prime, symmetrize=True))


def flow_rhs(W, Gamma) -> np.ndarray:
    r"""Right-hand side of the gradient flow, dW/dt = −4 (W Γ W^T − I_d) W Γ (S6).

    S6: $\dot W = -4\,(W \Gamma W^\top - I_d)\, W \Gamma$.
    """
    W, Gamma = check_W_Gamma(W, Gamma)
    return np.asarray(_flow_rhs(W, Gamma))


def spectrum(Gamma):
    """Eigenvalues γ_1 >= ... >= γ_m of Γ and the eigenvectors as rows (Γ^{(<=m)} of S §4.1).

    Returns ``(gammas, V)`` with ``V[j]`` the unit eigenvector of ``gammas[j]``,
    so that Γ = V^T diag(gammas) V.
    """
    gammas, V = eigh_descending(Gamma, "Gamma")  # eigenvectors as columns: transposed to rows here
    return gammas, V.T


def top_spectral_solution(Gamma, d: int, U=None) -> np.ndarray:
    r"""A top-spectral W (S Def 4.2): W = U S̃ Γ^{(<=d)}, S̃ = diag(γ_j^{-1/2}).

    S Def 4.2: $W = U \tilde S\, \Gamma^{(\le d)}$, $\tilde S = \operatorname{diag}(\gamma_j^{-1/2})$.

    ``U`` defaults to the identity; any orthogonal d x d matrix gives an equivalent solution.
    Raises ValueError when Γ has fewer than d positive eigenvalues (e.g. a negative-definite Γ),
    as ``kernel.KernelBarlowTwins`` does: Def 4.2's factor 1[γ_j > 0] would make those rows 0,
    a W that does not reach C = I_d.
    """
    from .._validation import check_positive_int

    gammas, V = spectrum(Gamma)
    d = check_positive_int(d, "d")
    if d > len(gammas):
        raise ValueError(f"d must be <= m = {len(gammas)}, got {d}")
    g = gammas[:d]
    # γ_j at the round-off level of Γ's eigensolver count as 0: 1/sqrt(1e-17) would be a silent 3e8.
    cutoff = len(gammas) * np.finfo(float).eps * float(np.max(np.abs(gammas)))
    n_pos = int(np.sum(gammas > cutoff))
    if n_pos < d:
        raise ValueError(
            f"d={d} exceeds the number of positive eigenvalues of Gamma ({n_pos}, above the round-off cutoff "
            f"{cutoff:.3g}; largest eigenvalue {gammas[0]:.3g}); the top-spectral solution needs "
            f"γ_1..γ_d > 0 (S Def 4.2) — with γ_j <= 0 the mode is never learned and its row would be 0"
        )
    s = 1.0 / np.sqrt(g)
    if U is None:
        U = np.eye(d)
    U = as_matrix(U, "U")
    if U.shape != (d, d):
        raise ValueError(f"U must be an orthogonal ({d}, {d}) matrix, got shape {U.shape}")
    if not np.allclose(U @ U.T, np.eye(d), atol=1e-10):
        err = float(np.max(np.abs(U @ U.T - np.eye(d))))
        raise ValueError(f"U must be an orthogonal ({d}, {d}) matrix, max |U U^T - I| = {err:.3g}")
    return U @ (s[:, None] * V[:d])
