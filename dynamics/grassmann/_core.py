"""The data matrix C of the trace form, the model of Esser et al. and input checks (E1, E2, E7, Def 1).

P. Esser, S. Mukherjee, D. Ghoshdastidar, "Representation Learning Dynamics of Self-Supervised Models"
(2023), "E".  Conventions: data are rows (``anchors`` (n, d) etc.).  The two-layer network is the one of
:mod:`dynamics.networks` in its layout, V ∈ R^{h×d}, W ∈ R^{h×z}, without a width factor
(``parametrization="standard"``) and with E's activations scaled to φ'(0) = 1:

    f(x) = Wᵀ φ(V x),   on a data matrix X (N, d): φ(X Vᵀ) W (N, z).

E writes f(x) = Wᵀ φ(Ṽᵀ x) with Ṽ = Vᵀ ∈ R^{d×h}: their V is the transpose of the V here.  The linear
network is f(x) = Wᵀ V x = Θᵀ x with Θ = Vᵀ W ∈ R^{d×z} (E's Θ = Ṽ W, :func:`network_theta`).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np

from .. import linalg, networks
from .._validation import (
    as_array,
    as_matrix,
    as_symmetric,
    check_choice,
    check_finite_if_concrete,
    check_positive_int,
)

# E's scaled activations (φ'(0) = 1, E Thm 1) live with the network, the subspace alignment of the optima
# (Prop 3, Thm 2) in dynamics.linalg: the same objects.
ACTIVATION_SCALES = networks.ACTIVATION_SCALES
scaled_activation = networks.scaled_activation
subspace_alignment = linalg.subspace_alignment


# ---------------------------------------------------------------------------------------------
# input checks


def check_triplets(anchors, positives, negatives=None):
    """anchors, positives (and negatives): finite (n, d) arrays of one shape.

    The triplets (anchor, positive, negative) of E's losses E1 and E2.
    """
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
# the trace form (E7, E8); the losses E1, E2 themselves are dynamics.losses.triplet_contrastive and
# dynamics.losses.non_contrastive of a model's outputs (A1's special cases)


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


def network_apply(activation: str = "linear"):
    """``apply(params, X)`` of E's two-layer network f(x) = Wᵀ φ(V x), params {"V": (h, d), "W": (h, z)}.

    :func:`dynamics.networks.two_layer_apply` with ``parametrization="standard"`` (no width factor: E keeps
    V and W semi-orthogonal instead) and φ scaled to φ'(0) = 1 (E Thm 1); "linear" is the linear
    network X Vᵀ W = X Θ.  The same activation returns the same (cached) function object.
    """
    check_choice(activation, "activation", set(ACTIVATION_SCALES))
    return networks.make_apply("two_layer", activation, parametrization="standard", scaled=True)


def network_theta(params):
    """Θ = Vᵀ W (d, z) of the linear two-layer network f(x) = Θᵀ x (E's Θ = V W in their layout).

    The state of the width-independent flow of E Thm 2 (E9).

    ``params``: {"V": (h, d), "W": (h, z)}, or a stack with leading batch axes on both (Θ stacked the same
    way).  JAX-traceable.
    """
    batch_ndim = max(jnp.ndim(params["V"]) - 2, 0) if isinstance(params, Mapping) and "V" in params else 0
    V, W = networks.check_two_layer(params, batch_ndim=batch_ndim)
    return jnp.swapaxes(V, -1, -2) @ W


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
    r"""Uniformly (Haar) distributed semi-orthogonal matrix: QR of a Gaussian with the sign of diag(R) fixed.

    Initialisations on the constraint $W^\top W = I$ of E Thm 2 and the projected GD of E11.

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
