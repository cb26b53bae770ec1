"""Kernelised Barlow Twins on built-in digits: the setups of Simon et al. (2023) §5, App. B and App. E.

J. B. Simon, M. Knutins, L. Ziyin, D. Geisz, A. J. Fetterman, J. Albrecht, "On the Stepwise Nature of
Self-Supervised Learning", ICML 2023 (arXiv:2303.15438), cited as S.

Shared by the checks of :mod:`dynamics.theorems.kernel_checks` and the special-case figure of S §5.2.
The pairs are those of :func:`dynamics.experiments.stepwise.digits_setup` (centred random 7×7 crops of
scikit-learn digits, m = 49), fewer of them in fast mode.

* :func:`n_pairs` — the number of training pairs (fast 200, full 500).
* :func:`held_out_digits` — held-out points (first views of other random crops) for S24's out-of-sample
  embeddings.
* :func:`two_pathway_kernel` — the kernel 𝒦 of a two-pathway (CLIP-like) model, for which K_𝒳𝒳' = 0 (S §5.2).
* :func:`special_cases_run` — the two special cases of S §5.2 (𝒳 = 𝒳' is kernel PCA; the two-pathway
  model) computed once, as the figure draws them.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import barlow, data, kernel
from ..linalg import eigh_descending
from .._x64 import float64
from .stepwise import D, digits_setup


def n_pairs(fast: bool) -> int:
    """Training pairs of the kernel experiments: 200 in fast mode, 500 (all of :func:`digits_setup`) in full.

    The pairs of the kernel checks of S §5 (S Prop 5.1, S22–S25) and S App. E."""
    return 200 if fast else 500


@float64
@functools.lru_cache(maxsize=None)
def held_out_digits(n: int = 200):
    r"""Held-out points: first views of other random crops (seed 1), centred like the training pairs.

    The held-out inputs of the out-of-sample embeddings S24 (S Prop 5.1(b))."""
    return data.digits_pairs(n=n, crop_size=7, center=True, seed=1)[0]


def two_pathway_kernel(a, b):
    """𝒦 for a two-pathway (CLIP-like) model: the last input column says which pathway a point takes.

    Pathway 0: RBF on the pixels; pathway 1: linear on the pixels; no shared parameters, so 𝒦 = 0
    across pathways (S §5.2: K_𝒳𝒳' = 0).
    """
    pa, pb = a[:, -1][:, None], b[:, -1][None, :]
    rbf = kernel.rbf_kernel(a[:, :-1], b[:, :-1])
    lin = kernel.linear_kernel(a[:, :-1], b[:, :-1])
    return np.where((pa == 0) & (pb == 0), rbf, 0.0) + np.where((pa == 1) & (pb == 1), lin, 0.0)


def pathway_flag(v, pathway):
    r"""Append the pathway column of :func:`two_pathway_kernel` (0 or 1) to the points ``v``.

    The two-pathway special case of S §5.2, $K_{\mathcal{X}\mathcal{X}'} = 0$."""
    return np.concatenate([v, np.full((v.shape[0], 1), float(pathway))], axis=1)


@float64
@functools.lru_cache(maxsize=None)
def special_cases_run(fast: bool) -> dict:
    """The two special cases of S §5.2 on :func:`n_pairs` digits pairs, d = :data:`D`.  Cached.

    (a) 𝒳 = 𝒳' with the RBF kernel: ``KernelBarlowTwins`` train embeddings F (U = I) and the top-d
    eigenvectors v_j of K̃ from ``numpy.linalg.eigh``; since C = FᵀF/2n = I, the prediction is
    F[:, j] = ±√(2n) v_j (App. E: uncentred kernel PCA).  (b) Two pathways (RBF on 𝒳, linear on 𝒳',
    K_𝒳𝒳' = 0): eigenvalues of K_Γ and the singular values of K_𝒳𝒳^{1/2} K_𝒳'𝒳'^{1/2} / 2n (the canonical
    correlations of the two pathways) computed separately.
    """
    x, xp, _ = digits_setup(n=n_pairs(fast))
    n = x.shape[0]
    est_a = kernel.KernelBarlowTwins(D, "rbf").fit(x, x)
    evals, evecs = eigh_descending(est_a.K_tilde_, "K_tilde_")
    V = evecs[:, :D]
    F = est_a.train_embeddings_
    cos = (F / np.linalg.norm(F, axis=0)).T @ V  # (d, d): embedding coordinate j vs eigenvector k
    signs = np.sign(np.diag(cos))
    est_c = kernel.KernelBarlowTwins(D, two_pathway_kernel).fit(pathway_flag(x, 0), pathway_flag(xp, 1))
    K1, K2 = est_c.K_tilde_[:n, :n], est_c.K_tilde_[n:, n:]
    sv = np.linalg.svd(kernel.sqrt_psd(K1) @ kernel.sqrt_psd(K2), compute_uv=False) / (2 * n)
    Fc = est_c.train_embeddings_
    return {"n": n, "d": D, "F": F, "V": V, "cos": cos, "signs": signs, "eigvals_K_tilde": evals[:D + 1],
            "alignment": kernel.subspace_alignment(F, V), "gammas_same_views": est_a.gammas_,
            "eigenvalues_two_pathway": est_c.eigenvalues_, "singular_values": sv,
            "two_pathway_loss": barlow.loss_from_embeddings(Fc[:n], Fc[n:]),
            "two_pathway_cross_block_max": float(np.abs(est_c.K_tilde_[:n, n:]).max())}


__all__ = ["D", "digits_setup", "held_out_digits", "n_pairs", "pathway_flag", "special_cases_run",
           "two_pathway_kernel"]
