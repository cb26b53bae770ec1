"""Stiefel and Grassmann geometry for the orthogonality-constrained flows and trainers.

The constraint sets are the Stiefel manifolds St(n, k) = {M ∈ R^{n×k} : MᵀM = I_k} (n >= k, orthonormal
columns) and, for a wide matrix (n < k), the matrices with orthonormal rows M Mᵀ = I_n; every function
below treats a wide M as the transpose of a tall one, f(M) = f(Mᵀ)ᵀ.  Used by

* P. Esser, S. Mukherjee, D. Ghoshdastidar, "Representation Learning Dynamics of Self-Supervised Models"
  (2023), "E": projected gradient descent E11 keeps V and W semi-orthogonal; its gradient is the
  *Grassmannian* (horizontal) gradient (I − M Mᵀ) ∇_M L (Edelman, Arias and Smith's geometry of the
  Grassmann manifold), and the step is followed by a retraction.  That gradient is what makes the flow of
  Θ = Vᵀ W independent of the width (E Thm 2, E9); the Stiefel tangent projection G − M sym(MᵀG) is the
  first-order effect of the literal "free gradient step, then re-orthonormalise", which follows another,
  width-dependent flow (see :mod:`dynamics.grassmann`).
* G. G. Anil, P. Esser, D. Ghoshdastidar, "When can we Approximate Wide Contrastive Models with Neural
  Tangent Kernels and Principal Component Analysis?" (2024), "A": the readout W is kept on WᵀW = I by the
  polar retraction after every step (A Lemma 16, Fig 4).

Pieces (all traceable by JAX — shapes are checked always, values only for concrete arrays — and computed
in the dtype of their inputs, so float32 in gives float32 out):

* :func:`project_tangent` — Stiefel tangent projection G − M sym(MᵀG), sym(A) = (A + Aᵀ)/2;
* :func:`project_horizontal` — Grassmann horizontal projection (I − M Mᵀ) G (E11's gradient);
* :func:`horizontal` — the identity map whose VJP is :func:`project_horizontal`, so that ``jax.grad`` of any
  loss of any model written with ``horizontal(V)`` returns the Grassmannian gradient;
* :func:`retract_polar` — M (MᵀM)^{-1/2}, the closest matrix with orthonormal columns (Frobenius norm),
  E11 / A Lemma 16;
* :func:`retract_qr` — the Q factor of M = QR with diag(R) > 0 (the QR retraction with its sign fixed);
* :func:`retract` — either, by name.

For a step M − η H with H tangent at M (MᵀH + HᵀM = 0), both retractions give M − η H + O(η²): either
discretises the same flow.  Both are computed from the small k×k Gram matrix MᵀM (k = min of the two
sides) with matrix products only — no SVD or QR of the big side, which XLA on CPU runs slowly inside
compiled loops.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._validation import check_choice, check_finite_if_concrete, is_traced

RETRACTIONS = ("polar", "qr")


def _check_pair(M, G):
    if jnp.ndim(M) != 2 or jnp.shape(G) != jnp.shape(M):
        raise ValueError(f"M must be 2-D and G of the same shape, got M {tuple(jnp.shape(M))} and G {tuple(jnp.shape(G))}")
    check_finite_if_concrete(M, "M")
    check_finite_if_concrete(G, "G")
    return jnp.asarray(M), jnp.asarray(G)


def project_tangent(M, G):
    r"""Stiefel tangent projection of a free gradient G at M with orthonormal columns: G − M sym(MᵀG).

    $H = G - M \operatorname{sym}(M^\top G)$, $\operatorname{sym}(A) = (A + A^\top)/2$ (E11, A Lemma 16).

    sym(A) = (A + Aᵀ)/2.  The result H satisfies MᵀH + HᵀM = 0 (the tangent space of MᵀM = I at M, with
    the metric inherited from R^{n×k}).  To first order it is what a free step followed by a retraction
    keeps: R(M − η G) = M − η (G − M sym(MᵀG)) + O(η²) — the literal reading of E11 (``tangent="free"``
    in :func:`dynamics.grassmann.train_projected`).  A wide M (orthonormal rows) is handled as Mᵀ:
    G − sym(G Mᵀ) M.  M, G: (n, k) arrays of one shape.
    """
    M, G = _check_pair(M, G)
    if M.shape[0] >= M.shape[1]:
        A = M.T @ G
        return G - M @ ((A + A.T) / 2)
    A = G @ M.T
    return G - ((A + A.T) / 2) @ M


def project_horizontal(M, G):
    r"""Grassmann horizontal projection of a free gradient G at a semi-orthogonal M (E11).

    $H = (I - M M^\top)\, G$ for tall $M$ (E11).

    Tall M (orthonormal columns, MᵀM = I): (I − M Mᵀ) G, the gradient on the Grassmann manifold of
    span(M) (Edelman, Arias and Smith).  Wide M (orthonormal rows, M Mᵀ = I): G (I − MᵀM).  Square
    orthogonal M: 0 (M cannot move).  This gradient makes the flow of Θ = Vᵀ W width independent
    (E Thm 2).  M, G: (n, k) arrays of one shape.
    """
    M, G = _check_pair(M, G)
    if M.shape[0] >= M.shape[1]:
        return G - M @ (M.T @ G)
    return G - (G @ M.T) @ M


@jax.custom_vjp
def horizontal(M):
    """Identity whose gradient is projected by :func:`project_horizontal`.

    ``jax.grad(lambda p: loss(horizontal(p)))(M)`` is the Grassmannian gradient (I − M Mᵀ) ∇L(M) (E11),
    for any loss and any model.
    """
    return M


def _horizontal_fwd(M):
    return M, M


def _horizontal_bwd(M, g):
    return (project_horizontal(M, g),)


horizontal.defvjp(_horizontal_fwd, _horizontal_bwd)


def _check_matrix(M):
    if jnp.ndim(M) != 2:
        raise ValueError(f"M must be 2-D, got shape {tuple(jnp.shape(M))}")
    check_finite_if_concrete(M, "M")
    return jnp.asarray(M)


def _full_rank_or_raise(M, out):
    """Outside jit, a non-finite result means M^T M (or M M^T) was singular: say so."""
    if not is_traced(out) and not np.all(np.isfinite(np.asarray(out))):
        raise ValueError(f"M must have full rank min{tuple(M.shape)} = {min(M.shape)} to be retracted onto the "
                         "Stiefel manifold (M^T M or M M^T is singular)")
    return out


def _polar(M):
    if M.shape[0] < M.shape[1]:
        return _polar(M.T).T
    w, U = jnp.linalg.eigh(M.T @ M)
    return M @ ((U / jnp.sqrt(w)) @ U.T)


def _qr(M):
    if M.shape[0] < M.shape[1]:
        return _qr(M.T).T
    # CholeskyQR2: R^T R = M^T M (Cholesky), Q = M R^{-1}, done twice so that Q^T Q = I to round-off.
    for _ in range(2):
        R = jnp.linalg.cholesky(M.T @ M).T
        M = M @ jax.scipy.linalg.solve_triangular(R, jnp.eye(R.shape[0], dtype=R.dtype), lower=False)
    return M


def retract_polar(M):
    r"""Polar retraction M (MᵀM)^{-1/2} (= U Vᵀ of the thin SVD M = U Σ Vᵀ): E11, A Lemma 16.

    $R(M) = M\,(M^\top M)^{-1/2}$ (E11, A Lemma 16).

    The closest matrix with orthonormal columns in the Frobenius norm.  Computed from the eigendecomposition
    of the k×k Gram matrix MᵀM = Q diag(w) Qᵀ as M Q diag(w^{-1/2}) Qᵀ.  A wide M gets orthonormal rows,
    (M Mᵀ)^{-1/2} M.  M must have full rank min(n, k); outside jit a rank-deficient or non-finite M raises
    ``ValueError``.
    """
    M = _check_matrix(M)
    return _full_rank_or_raise(M, _polar(M))


def retract_qr(M):
    r"""QR retraction with the sign fix: the Q of M = QR with diag(R) > 0 (E11).

    $R(M) = Q$ of $M = QR$ with $\operatorname{diag}(R) > 0$ (E11).

    Computed as Q = M R^{-1} with RᵀR = MᵀM the Cholesky factorisation (that R is the QR's R with a positive
    diagonal), applied twice ("CholeskyQR2") so that orthonormality holds to round-off.  A wide M gets
    orthonormal rows (the QR of Mᵀ, transposed).  M must have full rank min(n, k); outside jit a
    rank-deficient or non-finite M raises ``ValueError``.
    """
    M = _check_matrix(M)
    return _full_rank_or_raise(M, _qr(M))


def retract(M, method="polar"):
    """Back onto the constraint: :func:`retract_polar` (``method="polar"``) or :func:`retract_qr` ("qr").

    Orthonormalises the columns of a tall M and the rows of a wide M.  For a step M − η H with H tangent,
    both give M − η H + O(η²), so either discretises the same flow (E11).
    """
    check_choice(method, "method", set(RETRACTIONS))
    return retract_polar(M) if method == "polar" else retract_qr(M)
