"""Losses, the data matrix C of the trace form, models and input checks (E1, E2, E7, Def 1).

Conventions: data are rows (``anchors`` (n, d) etc.); the two-layer model of E is
f(x) = W^T φ(V^T x) with V ∈ R^{d×h}, W ∈ R^{h×z}, so on a data matrix X (N, d) the
outputs are φ(X V) W (N, z); the linear model is f(x) = W^T V^T x = Θ^T x, Θ = V W.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np

from .. import networks
from .._validation import (
    as_array,
    as_matrix,
    as_symmetric,
    check_choice,
    check_finite_if_concrete,
    check_positive_int,
)

# φ ↦ c·φ with c = 1/φ'(0) so that φ'(0) = 1 (E Thm 1 "after scaling"); ReLU uses its right
# derivative 1.  φ(0) is *not* shifted: the sigmoid keeps φ(0) = 4·σ(0) = 2 ≠ 0, which is exactly the
# hypothesis of Thm 1 that it violates.
ACTIVATION_SCALES = {"tanh": 1.0, "relu": 1.0, "sigmoid": 4.0, "erf": float(np.sqrt(np.pi) / 2.0), "linear": 1.0}


# ---------------------------------------------------------------------------------------------
# input checks


def check_triplets(anchors, positives, negatives=None):
    """anchors, positives (and negatives): finite (n, d) arrays of one shape."""
    anchors = as_matrix(anchors, "anchors")
    positives = as_matrix(positives, "positives")
    if positives.shape != anchors.shape:
        raise ValueError(f"positives must have the shape of anchors {anchors.shape}, got {positives.shape}")
    if anchors.shape[0] == 0 or anchors.shape[1] == 0:
        raise ValueError(f"anchors must have at least one row and one feature, got shape {anchors.shape}")
    if negatives is not None:
        negatives = as_matrix(negatives, "negatives")
        if negatives.shape != anchors.shape:
            raise ValueError(f"negatives must have the shape of anchors {anchors.shape}, got {negatives.shape}")
    return anchors, positives, negatives


def check_data_matrix(C, name="C"):
    """C: finite, square and symmetric (E Def 1)."""
    return as_symmetric(C, name)


def check_theta(theta, d, name="theta0", *, orthonormal=True, atol=1e-8):
    """Θ (d, z) with 1 <= z <= d; ``orthonormal``: Θ^T Θ = I_z to ``atol`` (else ‖Θ‖_op <= 1 + atol)."""
    theta = as_matrix(theta, name)
    if theta.shape[0] != d:
        raise ValueError(f"{name} must have d = {d} rows to match C, got shape {theta.shape}")
    z = theta.shape[1]
    if not 1 <= z <= d:
        raise ValueError(f"{name} must have shape (d, z) with 1 <= z <= d = {d}, got {theta.shape}")
    if orthonormal:
        err = float(np.max(np.abs(theta.T @ theta - np.eye(z))))
        if err > atol:
            raise ValueError(f"{name} must have orthonormal columns ({name}^T {name} = I_{z}), "
                             f"max |{name}^T {name} - I| = {err:.3g} > {atol:g}; orthonormalise it (e.g. QR)")
    else:
        norm = float(np.linalg.norm(theta, 2))
        if norm > 1.0 + atol:
            raise ValueError(f"{name} must lie in the operator-norm unit ball, ‖{name}‖_op = {norm:.6g} > 1")
    return theta


def _check_loss_data(apply_fn, **arrays):
    """Traceable checks of the loss inputs: equal shapes (static) and, outside jit, finite values."""
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable apply_fn(params, X) -> (N, z), got {type(apply_fn).__name__}")
    (first, a0), *rest = arrays.items()
    if jnp.ndim(a0) != 2:
        raise ValueError(f"{first} must be 2-D (n, d), got shape {tuple(jnp.shape(a0))}")
    for name, a in rest:
        if jnp.shape(a) != jnp.shape(a0):
            raise ValueError(f"{name} must have the shape of {first} {tuple(jnp.shape(a0))}, got {tuple(jnp.shape(a))}")
    for name, a in arrays.items():
        check_finite_if_concrete(a, name)


def _check_theta_shape(C, theta):
    """Checks of the trace form: C (d, d), Θ (d, z) (shapes always); finite and real when concrete."""
    if jnp.ndim(C) != 2 or jnp.shape(C)[0] != jnp.shape(C)[1]:
        raise ValueError(f"C must be a square (d, d) matrix, got shape {tuple(jnp.shape(C))}")
    if jnp.ndim(theta) != 2 or jnp.shape(theta)[0] != jnp.shape(C)[0]:
        raise ValueError(f"theta must be (d, z) with d = {jnp.shape(C)[0]} rows to match C, got shape "
                         f"{tuple(jnp.shape(theta))}")
    check_finite_if_concrete(C, "C")
    check_finite_if_concrete(theta, "theta")


# ---------------------------------------------------------------------------------------------
# losses (E1, E2) and the trace form (E7, E8)


def contrastive_loss(apply_fn, params, anchors, positives, negatives):
    """E1: L = −(1/n) Σ_i f(x_i)^T (f(x_i⁺) − f(x_i⁻)) for any model ``apply_fn(params, X) -> (n, z)``.

    One positive x_i⁺ and one negative x_i⁻ per anchor x_i, dot-product similarity.  Traceable by JAX
    (no input conversion), so it is the loss the reference trainer differentiates.
    """
    _check_loss_data(apply_fn, anchors=anchors, positives=positives, negatives=negatives)
    fa = apply_fn(params, anchors)
    return -jnp.mean(jnp.sum(fa * (apply_fn(params, positives) - apply_fn(params, negatives)), axis=1))


def non_contrastive_loss(apply_fn, params, anchors, positives):
    """E2: L = −(1/n) Σ_i f(x_i)^T f(x_i⁺) (SimCLR-like without negatives, dot product)."""
    _check_loss_data(apply_fn, anchors=anchors, positives=positives)
    return -jnp.mean(jnp.sum(apply_fn(params, anchors) * apply_fn(params, positives), axis=1))


def data_matrix(anchors, positives, negatives=None):
    """The symmetric data matrix C of the trace form (E7, Def 1), *derived here*.

    For the linear model f(x) = Θ^T x, f(x)^T f(y) = Tr(Θ^T y x^T Θ), hence

        E1:  L = Tr(Θ^T C Θ),  C = −(1/2n) Σ_i [x_i (x_i⁺ − x_i⁻)^T + (x_i⁺ − x_i⁻) x_i^T],
        E2:  L = Tr(Θ^T C Θ),  C = −(1/2n) Σ_i [x_i x_i⁺^T + x_i⁺ x_i^T]      (``negatives=None``).

    Only the symmetric part of Σ_i x_i y_i^T survives the trace, which is why C is symmetrised.

    Returns
    -------
    (d, d) symmetric array.
    """
    anchors, positives, negatives = check_triplets(anchors, positives, negatives)
    diff = positives if negatives is None else positives - negatives
    M = anchors.T @ diff / anchors.shape[0]
    return -0.5 * (M + M.T)


def trace_loss(C, theta):
    """E8 (Def 1): L(Θ) = Tr(Θ^T C Θ); with Θ = V W this is Tr(W^T V^T C V W).  JAX-traceable."""
    _check_theta_shape(C, theta)
    return jnp.trace(theta.T @ C @ theta)


def scaled_loss(C, theta):
    """Scaled loss of Prop 3 / Example 1: L(Θ / ‖Θ‖_op) = Tr(Θ^T C Θ) / ‖Θ‖²_op.

    Scale invariant; where C has a negative eigenvalue its infimum equals the minimum over the
    operator-norm ball (Prop 3).  For z = 1 (Example 1) ‖Θ‖_op = ‖θ‖₂ and the loss is the Rayleigh
    quotient θ^T C θ / θ^T θ, which is smooth away from 0.
    """
    _check_theta_shape(C, theta)
    if theta.shape[1] == 1:
        return jnp.sum(theta * (C @ theta)) / jnp.sum(theta**2)
    return jnp.trace(theta.T @ C @ theta) / jnp.linalg.norm(theta, 2) ** 2


def expected_data_matrix(cov, mean=None, *, kind="contrastive"):
    """E[C] for Gaussian data and Gaussian-noise positives (E, §"Evolution", *derived here*).

    Anchors x ~ N(μ, Σ), positives x⁺ = x + ε with ε ~ N(0, σ² I) independent of x, negatives x⁻ an
    independent draw of N(μ, Σ).  Then E[x x^T] = Σ + μμ^T, E[x ε^T] = 0, E[x x⁻^T] = μμ^T, so

        contrastive (E1):      E[x (x⁺ − x⁻)^T] = Σ + μμ^T − μμ^T = Σ   ⇒  E[C] = −Σ,
        non-contrastive (E2):  E[x x⁺^T] = Σ + μμ^T                     ⇒  E[C] = −(Σ + μμ^T).

    Neither depends on σ (the noise only adds variance to the sample C); both are negative definite
    whenever Σ is positive definite, so C has the negative eigenvalues that Thm 3 needs.

    Parameters
    ----------
    cov : (d, d) symmetric positive semi-definite Σ.
    mean : (d,) μ (default 0); irrelevant for the contrastive loss.
    kind : "contrastive" (E1) or "non_contrastive" (E2).
    """
    check_choice(kind, "kind", {"contrastive", "non_contrastive"})
    cov = as_symmetric(cov, "cov")
    if np.linalg.eigvalsh(cov)[0] < -1e-10 * max(1.0, float(np.abs(cov).max())):
        raise ValueError("cov must be positive semi-definite (a covariance matrix)")
    d = cov.shape[0]
    mean = np.zeros(d) if mean is None else as_array(mean, "mean", ndim=1)
    if mean.shape != (d,):
        raise ValueError(f"mean must have shape ({d},) to match cov, got {mean.shape}")
    if kind == "contrastive":
        return -cov
    return -(cov + np.outer(mean, mean))


# ---------------------------------------------------------------------------------------------
# models


def scaled_activation(name: str):
    """φ with φ'(0) = 1 (E Thm 1 "after scaling"): tanh, relu (right derivative), 4·sigmoid, (√π/2)·erf, linear."""
    phi, _ = networks.activation(name)
    c = ACTIVATION_SCALES[name]
    if c == 1.0:
        return phi
    return lambda u: c * phi(u)


def _check_network(params, x):
    """params {"V": (d, h), "W": (h, z)} (or any leading batch axes under vmap) fitting rows x (N, d): shapes
    always, values (finite, real) for concrete arrays only, so it is JAX-traceable."""
    if not isinstance(params, Mapping) or not {"V", "W"} <= set(params):
        got = sorted(params) if isinstance(params, Mapping) else type(params).__name__
        raise ValueError(f"params must be a dict with 'V' (d, h) and 'W' (h, z), got {got}")
    V, W = params["V"], params["W"]
    if jnp.ndim(V) != 2 or jnp.ndim(W) != 2 or jnp.shape(V)[1] != jnp.shape(W)[0]:
        raise ValueError(f"params['V'] (d, h) and params['W'] (h, z) must be 2-D with the same h, got shapes "
                         f"{tuple(jnp.shape(V))} and {tuple(jnp.shape(W))}")
    if jnp.ndim(x) == 0 or jnp.shape(x)[-1] != jnp.shape(V)[0]:
        raise ValueError(f"x must have d = {jnp.shape(V)[0]} features (columns) to match params['V'] "
                         f"{tuple(jnp.shape(V))}, got shape {tuple(jnp.shape(x))}")
    check_finite_if_concrete(V, "params['V']")
    check_finite_if_concrete(W, "params['W']")
    check_finite_if_concrete(x, "x")
    return V, W


def linear_apply(params, x):
    """Two-layer linear network of E: f(x) = W^T V^T x, i.e. X V W for rows X (N, d) -> (N, z)."""
    V, W = _check_network(params, x)
    return x @ V @ W


def two_layer_apply(params, x, activation="tanh"):
    """Two-layer network of E: f(x) = W^T φ(V^T x), i.e. φ(X V) W -> (N, z), φ scaled to φ'(0) = 1.

    Unlike :func:`dynamics.networks.two_layer_apply` (NTK parametrisation, 1/√M) there is no width
    factor: E keeps V and W semi-orthogonal instead.
    """
    phi = scaled_activation(activation)
    V, W = _check_network(params, x)
    return phi(x @ V) @ W


def make_apply(activation="linear"):
    """``apply(params, X)`` for E's two-layer network with a named activation ("linear" = the linear net)."""
    check_choice(activation, "activation", set(ACTIVATION_SCALES))
    if activation == "linear":
        return linear_apply
    return functools.partial(two_layer_apply, activation=activation)


def outputs(X, theta):
    """Machine outputs of the linear model on data, F = X Θ (E §"New datapoint": f(x) = Θ(t)^T x).

    ``theta`` is (d, z) or a trajectory (T, d, z); returns (N, z) or (T, N, z).  New points are
    handled the same way: no retraining, just x^T Θ(t).
    """
    X = as_matrix(X, "X")
    theta = as_array(theta, "theta", ndim=(2, 3))
    if theta.shape[-2] != X.shape[1]:
        raise ValueError(f"theta must have d = {X.shape[1]} rows to match X, got shape {theta.shape}")
    return X @ theta


def random_semi_orthogonal(rows: int, cols: int, rng) -> np.ndarray:
    """Uniformly (Haar) distributed semi-orthogonal matrix: QR of a Gaussian with the sign of diag(R) fixed.

    Orthonormal columns if rows >= cols (M^T M = I), orthonormal rows otherwise (M M^T = I).
    ``rng``: a NumPy Generator or an int seed.
    """
    rows = check_positive_int(rows, "rows")
    cols = check_positive_int(cols, "cols")
    if not isinstance(rng, np.random.Generator):
        if isinstance(rng, bool) or not isinstance(rng, numbers.Integral):
            raise TypeError(f"rng must be a numpy.random.Generator or an int seed >= 0, got {rng!r}")
        check_positive_int(rng, "rng", minimum=0)
    rng = np.random.default_rng(rng)
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    return q if rows >= cols else q.T


def subspace_alignment(A, B) -> float:
    """(1/z) ‖Q_A^T Q_B‖²_F between the column spans of A, B (d, z): 1 iff the spans coincide.

    The same quantity as :func:`dynamics.kernel.subspace_alignment` (S App. E), which it calls.
    """
    from ..kernel import subspace_alignment as _alignment

    A, B = as_matrix(A, "A"), as_matrix(B, "B")
    if A.shape != B.shape:
        raise ValueError(f"A and B must have the same shape (d, z), got A {A.shape} and B {B.shape}")
    d, z = A.shape
    if not 1 <= z <= d:
        raise ValueError(f"A must have shape (d, z) with 1 <= z <= d (z columns spanning a subspace of R^d), "
                         f"got {A.shape}")
    for name, M in (("A", A), ("B", B)):
        s = np.linalg.svd(M, compute_uv=False)
        rank = int(np.sum(s > max(M.shape) * np.finfo(float).eps * s[0])) if s.size and s[0] > 0 else 0
        if rank < M.shape[1]:
            raise ValueError(f"{name} must have full column rank (its column span is compared), got shape {M.shape} "
                             f"with singular values {np.array2string(s, precision=3)}")
    return _alignment(A, B)
