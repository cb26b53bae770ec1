"""Trace forms of the contrastive loss and their PCA solution (A §4: A5, A8–A10, Lemmas 16–17, Fig 5).

G. G. Anil, P. Esser, D. Ghoshdastidar, "When can we Approximate Wide Contrastive Models with Neural
Tangent Kernels and Principal Component Analysis?" (2024), "A".  For the two-layer network f(x) = (1/√M) Wᵀ φ(V x) and the linear reduction l (A6),

    L = −(1/N) Σ_n Σ_q α_q s(x_n, x_{n,q}) = −Tr(Wᵀ C_V W)                              (A5)

with a symmetric M × M matrix C_V that depends on V only:

* dot product (A8):   C_V = (1/(2NM)) Σ_n Σ_q α_q [φ(V x_{n,q}) φ(V x_n)ᵀ + φ(V x_n) φ(V x_{n,q})ᵀ];
* cosine lower bound (A9–A10), δ' = √M δ:
  C_V = (1/(2N)) Σ_n Σ_q α_q [φ(V x_{n,q}) φ(V x_n)ᵀ + transpose] / ((‖φ(V x_{n,q})‖ + δ')(‖φ(V x_n)‖ + δ')).

The identity L = −Tr(Wᵀ C_V W) holds exactly for any W (*derived here*: f(x)ᵀf(x̃) =
(1/M) φᵀ W Wᵀ φ̃, summed with the weights α_q/N); for the cosine bound the similarity is the
"cosine_bound" of :mod:`dynamics.losses`, and the M in δ' = √M δ cancels the 1/M of f(x)ᵀf(x̃), which is
why the prefactor is 1/(2N) there and 1/(2NM) for the dot product, as in A10.  (A prefactor 1/(2NM) for
both would make the cosine C_V, and its change, a factor M smaller — ‖C_V‖_F = O(1/M) — contradicting
Lemma 16's M^{-1/2} rate.)  The loss in this form is :func:`cv_trace_loss`, −Tr(Wᵀ C_V W).  Under WᵀW = I, max Tr(Wᵀ C_V W) is solved by the top-Z eigenvectors of C_V (PCA, A5).

Low-rank form used throughout: with A = φ(V X_anchors) (N, M) and B_n = Σ_q c_nq φ(V x_{n,q}) (N, M),
c_nq = α_q/M (dot) or α_q/((‖φ(V x_{n,q})‖ + δ')(‖φ(V x_n)‖ + δ')) (cosine bound),

    C_V = (Aᵀ B + Bᵀ A) / (2N),

of rank <= 2N.  Frobenius distances and top eigenvectors are computed from A and B
(Gram matrices of size 4N, a QR of size M × 2N) without forming C_V when M > 2N.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import networks, stiefel, trainer
from .._validation import (
    check_choice,
    check_finite_if_concrete,
    check_positive,
    check_positive_if_concrete,
    check_positive_int,
    check_tree_finite_if_concrete,
    is_traced,
)
from ..losses import DEFAULT_DELTA, check_alpha, contrastive_function_loss, safe_norm

TRACE_SIMILARITIES = ("dot", "cosine_bound")


def _check_kind(similarity):
    check_choice(similarity, "similarity", set(TRACE_SIMILARITIES))


def _check_factors(factors, name="factors"):
    """A pair (A, B) of 2-D arrays of one shape (N, M): shapes always, finite real values when concrete."""
    if not isinstance(factors, (tuple, list)) or len(factors) != 2:
        raise ValueError(f"{name} must be a pair (A, B) of (N, M) arrays (see cv_factors), got {type(factors).__name__}")
    A, B = factors
    if jnp.ndim(A) != 2 or jnp.shape(A) != jnp.shape(B):
        raise ValueError(f"{name} must be a pair (A, B) of (N, M) arrays of one shape, got shapes "
                         f"{tuple(jnp.shape(A))} and {tuple(jnp.shape(B))}")
    check_tree_finite_if_concrete((A, B), name)  # "factors must be finite, ... in factors[0]" (A) or [1] (B)
    return A, B


def check_contrastive_data(data):
    """``data`` must be a :class:`ContrastiveData` (TypeError otherwise); returns it."""
    from ._data import ContrastiveData

    if not isinstance(data, ContrastiveData):
        raise TypeError(f"data must be a ContrastiveData (e.g. contrastive_digits(n)), got {type(data).__name__}")
    return data


def check_two_layer_params(params, dim):
    """(V, W) of the two-layer network (:func:`dynamics.networks.check_two_layer`, the one validator) whose V
    has D = ``dim`` columns, the features of the contrastive data."""
    V, W = networks.check_two_layer(params)
    if jnp.shape(V)[1] != dim:
        raise ValueError(f"params['V'] must have D = {dim} columns (the data's features), got shape "
                         f"{tuple(jnp.shape(V))}")
    return V, W


def cv_factors_from_features(phi_anchor, phi_partners, alpha, similarity="dot", *, delta=DEFAULT_DELTA):
    r"""(A, B) with C_V = (AᵀB + BᵀA)/(2N) from hidden activations φ(V x): anchors (N, M), partners (Q, N, M).

    The random-feature matrix of A8 and A10: $C_V = (A^\top B + B^\top A)/(2N)$.

    JAX-traceable: inside jit only the similarity name, alpha and the shapes are checked; concrete arrays
    (and δ) are also checked for finite real values.
    """
    _check_kind(similarity)
    alpha = check_alpha(alpha)
    if jnp.ndim(phi_anchor) != 2 or jnp.shape(phi_partners) != (len(alpha),) + tuple(jnp.shape(phi_anchor)):
        raise ValueError(f"phi_anchor must be (N, M) and phi_partners (Q, N, M) with Q = len(alpha) = {len(alpha)}, "
                         f"got {tuple(jnp.shape(phi_anchor))} and {tuple(jnp.shape(phi_partners))}")
    check_finite_if_concrete(phi_anchor, "phi_anchor")
    check_finite_if_concrete(phi_partners, "phi_partners")
    if similarity == "cosine_bound":
        check_positive_if_concrete(delta, "delta")
    phi_anchor, phi_partners = jnp.asarray(phi_anchor), jnp.asarray(phi_partners)
    M = phi_anchor.shape[-1]
    a = jnp.asarray(alpha, dtype=phi_anchor.dtype)[:, None, None]
    if similarity == "dot":
        B = jnp.sum(a * phi_partners, axis=0) / M
    else:
        dprime = jnp.sqrt(M) * delta
        na = safe_norm(phi_anchor, check=False) + dprime  # (N,)
        npart = safe_norm(phi_partners, check=False) + dprime  # (Q, N)
        B = jnp.sum(a * phi_partners / npart[:, :, None], axis=0) / na[:, None]
    return phi_anchor, B


@functools.cache
def _factors_fn(alpha, similarity, delta, activation):
    phi, _ = networks.ACTIVATIONS[activation]

    def fn(V, anchors, partners):
        return cv_factors_from_features(phi(anchors @ V.T), phi(partners @ V.T), alpha, similarity, delta=delta)

    return jax.jit(fn)


def cv_factors(params, data, similarity="dot", *, delta=DEFAULT_DELTA, activation="relu"):
    """Factors (A, B) of C_V(V) (A8 for "dot", A10 for "cosine_bound") for a two-layer ``params`` and ``data``.

    Returns JAX arrays A (N, M), B (N, M) with C_V = (AᵀB + BᵀA)/(2N).
    """
    _check_kind(similarity)
    delta = check_positive(delta, "delta")
    check_choice(activation, "activation", set(networks.ACTIVATIONS))
    data = check_contrastive_data(data)
    check_two_layer_params(params, data.dim)
    fn = _factors_fn(tuple(data.alpha), similarity, delta, activation)
    return fn(params["V"], data.anchors, data.partners)  # NumPy inputs go straight to the compiled function


def cv_matrix(factors):
    r"""Dense C_V = (AᵀB + BᵀA)/(2N), (M, M).

    A8, A10: $C_V = (A^\top B + B^\top A)/(2N)$.
    """
    A, B = _check_factors(factors)
    G = A.T @ B
    return (G + G.T) / (2 * A.shape[0])


def cv_frobenius_distance(factors_1, factors_2):
    """‖C_1 − C_2‖_F from factors; JAX-traceable.

    With ΔA = A1 − A2, ΔB = B1 − B2, A1ᵀB1 − A2ᵀB2 = ΔAᵀB1 + A2ᵀΔB, so C_1 − C_2 = Lᵀ R / (2N) with
    L = [ΔA; A2; B1; ΔB], R = [B1; ΔB; ΔA; A2] (4N × M) and ‖C_1 − C_2‖_F² = Σ (L Lᵀ) ⊙ (R Rᵀ) / (2N)² —
    O(N² M) without an M × M matrix.  Every term of that sum carries two factors of the differences,
    so a small distance is computed to relative (not absolute) precision.  When M <= 4N the dense
    difference is cheaper and is used instead.
    """
    A1, B1 = _check_factors(factors_1, "factors_1")
    A2, B2 = _check_factors(factors_2, "factors_2")
    if jnp.shape(A1) != jnp.shape(A2):
        raise ValueError(f"factors_1 and factors_2 must have the same shape (N, M), got {tuple(jnp.shape(A1))} and "
                         f"{tuple(jnp.shape(A2))}")
    N, M = A1.shape
    if M <= 4 * N:
        return jnp.linalg.norm((cv_matrix(factors_1) - cv_matrix(factors_2)).ravel())
    dA, dB = A1 - A2, B1 - B2
    L = jnp.concatenate([dA, A2, B1, dB])
    R = jnp.concatenate([B1, dB, dA, A2])
    sq = jnp.sum((L @ L.T) * (R @ R.T)) / (2 * N) ** 2
    return jnp.sqrt(jnp.maximum(sq, 0.0))


def cv_frobenius_norm(factors):
    r"""‖C_V‖_F from factors (distance to zero factors).

    The norm of A Lemma 16's $C_V$ (A8, A10), $\|C_V\|_F$, without forming the (M, M) matrix.
    """
    A, B = _check_factors(factors)
    return cv_frobenius_distance(factors, (jnp.zeros_like(A), jnp.zeros_like(B)))


def cv_eigh(factors, n_components=None):
    """Eigenpairs of C_V in decreasing order of eigenvalue, from factors (A5's PCA).

    For M > 2N: Uᵀ = [A; B]ᵀ = Q R (thin QR, M × 2N), C_V = Q (R K Rᵀ) Qᵀ with K = [[0, I], [I, 0]]/(2N);
    the eigenvectors of the small symmetric R K Rᵀ, mapped by Q, are those of C_V for its (at most 2N)
    non-zero eigenvalues.  Otherwise dense ``eigh``.

    Returns (eigenvalues (r,), eigenvectors (M, r)) with r = n_components (default all computed).
    """
    # jnp (XLA's LAPACK) rather than NumPy: after JAX work, OpenBLAS threads contend with XLA's pool
    # and the same QR/eigh runs ~50x slower on a small machine.
    A, B = (f if isinstance(f, jax.Array) else np.asarray(f) for f in _check_factors(factors))  # finite, real
    lam, U = _eigh_from_factors(A, B)
    lam, U = np.asarray(lam), np.asarray(U)
    order = np.argsort(lam)[::-1]
    lam, U = lam[order], U[:, order]
    if n_components is not None:
        n_components = check_positive_int(n_components, "n_components")
        if n_components > lam.size:
            raise ValueError(f"n_components must be <= {lam.size} (the computable eigenpairs), got {n_components}")
        lam, U = lam[:n_components], U[:, :n_components]
    return lam, U


@jax.jit
def _eigh_from_factors(A, B):
    A, B = A.astype(jnp.float64), B.astype(jnp.float64)
    N, M = A.shape
    if M <= 2 * N:
        return jnp.linalg.eigh(cv_matrix((A, B)))
    Q, R = jnp.linalg.qr(jnp.concatenate([A, B]).T)
    small = (R[:, :N] @ R[:, N:].T) / (2 * N)  # R K Rᵀ with K = [[0, I], [I, 0]]/(2N)
    lam, E = jnp.linalg.eigh(small + small.T)
    return lam, Q @ E


def pca_readout(params, data, n_components, similarity="cosine_bound", *, delta=DEFAULT_DELTA, activation="relu"):
    """W* = top-``n_components`` eigenvectors of C_V(V) (A5): the orthonormal readout maximising Tr(Wᵀ C_V W).

    Returns (W (M, Z) as a JAX array, eigenvalues (Z + 1,) — one more than used, for the gap λ_Z − λ_{Z+1}).
    """
    n_components = check_positive_int(n_components, "n_components")
    lam, U = cv_eigh(cv_factors(params, data, similarity, delta=delta, activation=activation), n_components + 1)
    return jax.device_put(U[:, :n_components]), lam


def cv_trace_loss(params, data, similarity="dot", *, delta=DEFAULT_DELTA, activation="relu"):
    """The contrastive loss in trace form, L = −Tr(Wᵀ C_V W) (A5 with C_V of A8 or A10).

    Computed from the factors as −(1/N) Σ (A W) ⊙ (B W).  The sign is the loss's: minimising it
    maximises Tr(Wᵀ C_V W).  (:func:`dynamics.grassmann.trace_loss` is the other trace form,
    Tr(Θᵀ C Θ) of Esser et al. E8, with the opposite sign convention: a different function.)
    """
    A, B = cv_factors(params, data, similarity, delta=delta, activation=activation)
    W = jnp.asarray(params["W"])
    return -jnp.sum((A @ W) * (B @ W)) / A.shape[0]


def orthonormalize_readout(params):
    """Project W onto the Stiefel manifold WᵀW = I by the polar factor W (WᵀW)^{-1/2}; JAX-traceable.

    The polar factor is the closest matrix with orthonormal columns (Frobenius norm); it is the
    retraction after each step of Grassmannian (projected) gradient descent (A Lemma 16, E11), here
    :func:`dynamics.stiefel.retract_polar`.  V and the type of ``params`` (a dict or
    :class:`dynamics.networks.TwoLayerParams`) are kept, so the result can be the carry of a compiled loop.
    """
    if not isinstance(params, dict) or "W" not in params:
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"params must be a dict with the readout 'W' (M, Z), got {got}")
    W = params["W"]
    if jnp.ndim(W) != 2:
        raise ValueError(f"params['W'] must be 2-D (M, Z), got shape {tuple(jnp.shape(W))}")
    check_finite_if_concrete(W, "params['W']")
    M, Z = jnp.shape(W)
    if M < Z:
        raise ValueError(f"params['W'] must have full column rank {Z} (W^T W = I needs M >= Z), got shape {(M, Z)}")
    if is_traced(W):
        W = stiefel.retract_polar(W)
    else:  # one compiled program instead of one per eager primitive; a singular WᵀW gives non-finite entries
        W, finite = _retract_polar(W)
        if not bool(finite):
            raise ValueError(f"params['W'] must have full column rank {Z} (W^T W is singular)")
    if isinstance(params, networks.TwoLayerParams):
        return networks.TwoLayerParams(params["V"], W)
    return {**params, "W": W}


@jax.jit
def _retract_polar(W):
    """(polar factor of W, whether it is finite): one compiled program for concrete W."""
    Q = stiefel.retract_polar(W)
    return Q, jnp.all(jnp.isfinite(Q))


@functools.cache
def _cosine_bound_loss_of_V(fl, activation):
    """``loss(V, data)``: the loss (A1) with the cosine lower bound (A9) of the two-layer network with the
    fixed readout data["W"] on the stacked inputs data["X"] — the V-step of :func:`iterative_pca`, cached on
    the (cached) function loss so that repeated updates and runs reuse one compiled step."""

    def loss(V, data):
        p = {"V": V, "W": data["W"]}
        norms = safe_norm(networks.hidden_features(p, data["X"], activation), check=False)
        return fl(networks.two_layer_apply(p, data["X"], activation), norms)

    return loss


def iterative_pca(params, data, n_updates, lr, *, n_components=None, delta=DEFAULT_DELTA, activation="relu",
                  loss="linear"):
    """The iterative scheme of A §5 (ii): repeat (a) W ← PCA of C_V(V) (A10), (b) one GD step on V.

    Step (b) descends the contrastive loss with the cosine lower bound (A9) at fixed W, i.e.
    −Tr(Wᵀ C_V W) for the linear l, by one step of :func:`dynamics.trainer.gradient_descent` with W and
    the inputs as its data (one compiled step for every update and every run of equal shapes).  Returns
    the final params (W from a last PCA of the final V) and the list of params after each (a)–(b) update.
    """
    n_updates = check_positive_int(n_updates, "n_updates")
    lr = check_positive(lr, "lr")
    data = check_contrastive_data(data)
    check_choice(activation, "activation", set(networks.ACTIVATIONS))
    check_two_layer_params(params, data.dim)
    Z = params["W"].shape[1] if n_components is None else check_positive_int(n_components, "n_components")
    X = jax.device_put(data.inputs)
    fl = contrastive_function_loss(data.n_anchors, data.alpha, similarity="cosine_bound", loss=loss, delta=delta)
    loss_V = _cosine_bound_loss_of_V(fl, activation)

    p = {"V": jnp.asarray(params["V"]), "W": jnp.asarray(params["W"])}
    history = []
    for _ in range(n_updates):
        W, _ = pca_readout(p, data, Z, "cosine_bound", delta=delta, activation=activation)
        V, _ = trainer.gradient_descent(loss_V, p["V"], {"W": W, "X": X}, lr=lr, record_steps=[0, 1])
        p = {"V": V, "W": W}
        history.append(p)
    W, _ = pca_readout(p, data, Z, "cosine_bound", delta=delta, activation=activation)
    return {"V": p["V"], "W": W}, history
