"""Theory side of E: the Grassmannian flow of Θ = V W (Thm 2), its Riccati form, Thm 3, and collapse.

E: P. Esser, S. Mukherjee, D. Ghoshdastidar, "Representation Learning Dynamics of Self-Supervised
Models" (2023); equation and theorem numbers are theirs.

All flows start at t = 0 and are integrated with :func:`dynamics._integrate.integrate` (diffrax by
default, scipy as an independent cross-check; the package's default tolerances); closed forms are
evaluated through eigendecompositions.
"""

from __future__ import annotations


import jax.numpy as jnp
import numpy as np

from .. import flows, losses
from .._integrate import DEFAULT_BACKEND, DEFAULT_MAX_STEPS, DEFAULT_RTOL, DEFAULT_SOLVER, integrate
from .._validation import (
    as_array,
    as_matrix,
    as_symmetric,
    as_times,
    check_choice,
    check_finite_if_concrete,
    check_positive_int,
)
from ..linalg import check_psd
from ._core import _check_theta_shape, check_data_matrix, check_theta

# ---------------------------------------------------------------------------------------------
# Theorem 2: dΘ/dt = −2 (I − Θ Θ^T) C Θ


def stiefel_field(_, theta, C):
    """E9 (Thm 2): dΘ/dt = −2 (I − Θ Θ^T) C Θ, evaluated as −2 (CΘ − Θ (Θ^T Θ)^{-1} Θ^T C Θ).

    The two agree on the Stiefel manifold Θ^T Θ = I, where the flow lives.  Off it they differ, and only
    the second keeps Θ^T Θ exactly constant: with the literal field, d(Θ^T Θ)/dt = −2 (I − Θ^T Θ) Θ^T C Θ
    − 2 Θ^T C Θ (I − Θ^T Θ), so a round-off deviation from Θ^T Θ = I grows like e^{4λt} wherever
    Θ^T C Θ ≻ 0 (for z = 1 and C ≻ 0 the numerical solution leaves the sphere and collapses or blows up).
    """
    _check_theta_shape(C, theta)  # shapes always; finiteness of concrete C, Θ too
    CT = C @ theta
    G = theta.T @ theta
    return -2.0 * (CT - theta @ jnp.linalg.solve(G, theta.T @ CT))


def ball_field(_, theta, C):
    """Relaxed (operator-norm ball) flow, *derived here*: dΘ/dt = −2 (I − ΘΘ^T) C Θ − 2 C Θ (I − Θ^T Θ).

    It is the exact flow of Θ = V W for a *wide* network, h >= d, with V V^T = I_d and W^T W = I_z
    under the same Grassmannian gradients as Thm 2 (projections on the side that is orthonormal):
    dV = −∇_V (I − V^T V), dW = −(I − W W^T) ∇_W (see :func:`dynamics.grassmann.symbolic.theta_flow`).
    Such Θ = V W lie in the operator-norm ball ‖Θ‖_op <= 1 of Prop 3 and, for h >= d + z, fill it
    (W = [Θ; (I − Θ^T Θ)^{1/2}; 0], V = [I_d, 0]).  The Stiefel set Θ^T Θ = I is invariant and on it the
    field equals E9.
    """
    _check_theta_shape(C, theta)
    CT = C @ theta
    return -2.0 * (CT - theta @ (theta.T @ CT)) - 2.0 * (CT - CT @ (theta.T @ theta))


def riccati_field(_, P, C):
    """dP/dt = −2 [(I − P) C P + P C (I − P)] for P = Θ Θ^T (*derived here* from E9, see symbolic),
    evaluated in its double-bracket (Lax) form 2 [[P, C], P] = [P, B], B = 2 [C, P] skew.

    Both agree on orthogonal projectors (P² = P, :func:`dynamics.grassmann.symbolic.riccati`).  The Lax
    form is isospectral, P(t) = Q(t) P(0) Q(t)^T with Q orthogonal, so P stays a projector; the literal
    Riccati form lets round-off grow off the projector set exponentially (1e-4 by t = 10 for C ≻ 0).
    """
    if jnp.ndim(C) != 2 or jnp.shape(P) != jnp.shape(C) or jnp.shape(C)[0] != jnp.shape(C)[1]:
        raise ValueError(f"P and C must be square (d, d) matrices of one shape, got P {tuple(jnp.shape(P))} and "
                         f"C {tuple(jnp.shape(C))}")
    M = P @ C - C @ P
    return 2.0 * (M @ P - P @ M)


def trajectory(C, theta0, t, *, rtol=DEFAULT_RTOL, atol=None, backend=DEFAULT_BACKEND, solver=DEFAULT_SOLVER,
               max_steps=DEFAULT_MAX_STEPS):
    r"""E Thm 2 (E9): integrate dΘ/dt = −2 (I − Θ Θ^T) C Θ from Θ(0) = ``theta0``.

    E9: $\dot\Theta = -2\,(I - \Theta\Theta^\top)\, C\, \Theta$.

    With V (d×h, V^T V = I_h), W (h×z, W^T W = I_z) following the Grassmannian gradient flow of
    L = Tr(W^T V^T C V W) (free gradients ∇_V = 2 C V W W^T, ∇_W = 2 V^T C V W, projected by
    (I − V V^T), (I − W W^T)), Θ = V W obeys E9 for every width z <= h <= d: the hidden width drops
    out.  The identity needs only W^T W = I_z (not W W^T = I, i.e. not h = z): see
    :func:`dynamics.grassmann.symbolic.theta_flow`.  It is Oja's minor-component flow; Θ^T Θ = I is
    invariant, and Θ converges to an orthonormal basis of the eigenvectors of C with the z smallest
    eigenvalues (Prop 3, Thm 3).

    Parameters
    ----------
    C : (d, d) symmetric data matrix (E7, :func:`data_matrix`).
    theta0 : (d, z) with orthonormal columns (to 1e-8).
    t : (T,) non-negative, non-decreasing times (t = lr × step for a trainer).
    rtol, atol, backend, solver, max_steps : passed to :func:`dynamics._integrate.integrate`
        (``atol=None``: rtol · 1e-3 · max|Θ0|, the scale of the state).

    Returns
    -------
    (T, d, z) array Θ(t).  Outputs on data: :func:`outputs`.
    """
    C = check_data_matrix(C)
    theta0 = check_theta(theta0, C.shape[0], "theta0")
    return _integrate(stiefel_field, theta0, t, C, rtol, atol, backend, solver, max_steps)


def ball_trajectory(C, theta0, t, *, rtol=DEFAULT_RTOL, atol=None, backend=DEFAULT_BACKEND, solver=DEFAULT_SOLVER,
                    max_steps=DEFAULT_MAX_STEPS):
    """Relaxed flow on the operator-norm ball (Prop 3 ball, Thm 3 first case), see :func:`ball_field`.

    ``theta0`` (d, z) with ‖Θ0‖_op <= 1; ``atol=None`` (default) means purely relative error control, so
    a small Θ0 and the decay to 0 are both followed to relative accuracy rtol.  For z = 1, in C's eigenbasis (z_i = u_i^T θ):
    dz_i/dt = −2 z_i [λ_i (2 − ‖z‖²) − Σ_j λ_j z_j²] and d‖z‖²/dt = −8 (Σ_j λ_j z_j²)(1 − ‖z‖²), so for
    C ≻ 0 and ‖θ(0)‖ < 1 the norm decreases monotonically to 0 — the case "all eigenvalues positive ⇒
    converges to 0" of E Thm 3, which the unit-sphere flow E10 cannot show.
    """
    C = check_data_matrix(C)
    theta0 = check_theta(theta0, C.shape[0], "theta0", orthonormal=False)
    # atol=None: purely relative error control.  Θ decays to 0 for C ≻ 0 (Thm 3), and an absolute floor
    # (even one scaled to Θ0) turns the decay into noise once Θ is below it.
    return _integrate(ball_field, theta0, t, C, rtol, 0.0 if atol is None else atol, backend, solver, max_steps)


def riccati_trajectory(C, P0, t, *, rtol=DEFAULT_RTOL, atol=None, backend=DEFAULT_BACKEND, solver=DEFAULT_SOLVER,
                       max_steps=DEFAULT_MAX_STEPS):
    r"""Riccati form of E9 for the projector P = Θ Θ^T: dP/dt = −2 [(I − P) C P + P C (I − P)].

    $\dot P = -2\big[(I - P)\, C P + P C\,(I - P)\big]$, $P = \Theta\Theta^\top$ (E9, E Thm 2).

    ``P0``: (d, d) symmetric idempotent (an orthogonal projector of rank z, to 1e-8).  P(t) depends only
    on span Θ(t): the flow on the Grassmannian itself.  Returns (T, d, d).
    """
    C = check_data_matrix(C)
    P0 = as_symmetric(P0, "P0")
    if P0.shape != C.shape:
        raise ValueError(f"P0 must have the shape of C {C.shape}, got {P0.shape}")
    err = float(np.max(np.abs(P0 @ P0 - P0)))
    if err > 1e-8:
        raise ValueError(f"P0 must be an orthogonal projector (P0 @ P0 = P0), max |P0² − P0| = {err:.3g}")
    return _integrate(riccati_field, P0, t, C, rtol, atol, backend, solver, max_steps)


def _integrate(field, y0, t, C, rtol, atol, backend, solver, max_steps):
    """The flow of ``field`` from y0 at t = 0, saved at the times ``t`` (>= 0)."""
    return integrate(field, jnp.asarray(y0), as_times(t), jnp.asarray(C), rtol=rtol, atol=atol, backend=backend,
                     solver=solver, max_steps=max_steps)


# ---------------------------------------------------------------------------------------------
# Theorem 3 (z = 1) in C's eigenbasis


def _check_eigen_coordinates(z, lam):
    if jnp.ndim(lam) != 1 or jnp.ndim(z) == 0 or jnp.shape(z)[-1] != jnp.shape(lam)[0]:
        raise ValueError(f"z must be (..., d) with d = len(lam), lam (d,), got z {tuple(jnp.shape(z))} and "
                         f"lam {tuple(jnp.shape(lam))}")


def sphere_field(_, z, lam):
    """E10 (Thm 3, z = 1): dz_i/dt = −2 z_i (λ_i − Σ_j λ_j z_j²) — E9 in the eigenbasis.

    Evaluated with the Rayleigh quotient Σ_j λ_j z_j² / Σ_j z_j² (equal on the unit sphere), which makes
    ‖z‖ an exact first integral; see :func:`stiefel_field` for why the literal form drifts off the sphere.
    """
    _check_eigen_coordinates(z, lam)
    check_finite_if_concrete(z, "z")  # values checked outside jit/grad only
    check_finite_if_concrete(lam, "lam")
    R = jnp.sum(lam * z**2, axis=-1, keepdims=True) / jnp.sum(z**2, axis=-1, keepdims=True)
    return -2.0 * z * (lam - R)


def ball_eigen_field(_, z, lam):
    """:func:`ball_field` in the eigenbasis (z = 1): dz_i/dt = −2 z_i [λ_i (2 − ‖z‖²) − Σ_j λ_j z_j²]."""
    _check_eigen_coordinates(z, lam)
    R = jnp.sum(lam * z**2, axis=-1, keepdims=True)
    return -2.0 * z * (lam * (2.0 - jnp.sum(z**2, axis=-1, keepdims=True)) - R)


def eigen_flow(eigenvalues, z0, t, *, form="sphere", rtol=DEFAULT_RTOL, atol=None, backend=DEFAULT_BACKEND,
               max_steps=DEFAULT_MAX_STEPS):
    r"""E Thm 3 (z = 1): integrate the flow of the eigen-coordinates z_i = u_i^T θ.

    E10 on the sphere: $\frac{d}{dt} z_1^2 = -4 z_1^2 \big(\lambda_1 - \sum_j \lambda_j z_j^2\big)$.

    form="sphere": E10 on the unit sphere (‖z0‖ = 1, to 1e-8).  Σ_i z_i² = 1 is invariant and
        d(z_1²)/dt = −4 z_1² (λ_1 − Σ_j λ_j z_j²) >= 0 for the smallest eigenvalue λ_1, so z → ±e_1:
        θ converges to ± the eigenvector of the smallest eigenvalue — whether or not λ_1 < 0.  The
        paper's case "all eigenvalues positive ⇒ θ → 0" is unreachable on the sphere.
    form="ball": the relaxed flow :func:`ball_eigen_field` (‖z0‖ <= 1).  d‖z‖²/dt =
        −8 (Σ_j λ_j z_j²)(1 − ‖z‖²): with every λ_i > 0 and ‖z0‖ < 1, z → 0 (Thm 3 first case); with a
        negative eigenvalue the norm grows to 1 and z → ±e_1 (second case).

    Parameters
    ----------
    eigenvalues : (d,) eigenvalues λ of C (any order; z is in the same order).
    z0 : (d,) initial coordinates, or (B, d) for B initialisations integrated together.
    t : (T,) times.
    rtol, atol, backend, max_steps : passed to :func:`dynamics._integrate.integrate` (``atol=None``:
        rtol · 1e-3 · max|z0| for the sphere, purely relative control for the ball, whose z may decay to 0
        or start small).

    Returns
    -------
    (T, d) array z(t) (or (T, B, d)).
    """
    check_choice(form, "form", {"sphere", "ball"})
    lam = as_array(eigenvalues, "eigenvalues", ndim=1)
    z0 = as_array(z0, "z0", ndim=(1, 2))
    if z0.shape[-1] != lam.shape[0]:
        raise ValueError(f"z0 must have shape ({lam.shape[0]},) or (B, {lam.shape[0]}) to match eigenvalues, "
                         f"got {z0.shape}")
    norm = np.linalg.norm(z0, axis=-1)
    if form == "sphere" and np.max(np.abs(norm - 1.0)) > 1e-8:
        raise ValueError(f"z0 must be unit vectors for form='sphere', got ‖z0‖ up to {np.max(norm):.12g}, "
                         f"down to {np.min(norm):.12g}")
    if form == "ball" and np.max(norm) > 1.0 + 1e-12:
        raise ValueError(f"z0 must satisfy ‖z0‖ <= 1 for form='ball', got ‖z0‖ = {np.max(norm):.12g}")
    field = sphere_field if form == "sphere" else ball_eigen_field
    if form == "ball" and atol is None:
        atol = 0.0  # purely relative: z → 0 for positive eigenvalues (as in :func:`ball_trajectory`)
    return integrate(field, jnp.asarray(z0), as_times(t), jnp.asarray(lam), rtol=rtol, atol=atol, backend=backend,
                     max_steps=max_steps)


# ---------------------------------------------------------------------------------------------
# Dimension collapse: Lemma 1, Prop 1, Remark 3, Prop 2


def unconstrained_trajectory(C, theta0, t):
    """Prop 1 (linear model f(x) = Θ^T x, no constraint): Θ(t) = exp(−2 C t) Θ0 in closed form.

    Gradient flow of L = Tr(Θ^T C Θ) is dΘ/dt = −2 C Θ: every column θ_k (output coordinate k) obeys the
    *same* linear ODE (Lemma 1: no coupling across outputs), so Θ(t) = U e^{−2Λt} U^T Θ0.  The component
    along the eigenvector u_1 of the smallest eigenvalue dominates: Θ(t) ≈ e^{−2λ_1 t} u_1 u_1^T Θ0, rank
    one — dimension collapse — and ‖Θ(t)‖ → ∞ when λ_1 < 0 (no fixed point to converge to).
    Evaluated as U e^{−2Λt} U^T Θ0 (overflows only when the true value does).  Returns (T, d, z).
    """
    C = check_data_matrix(C)
    theta0 = as_matrix(theta0, "theta0")
    if theta0.shape[0] != C.shape[0]:
        raise ValueError(f"theta0 must have d = {C.shape[0]} rows to match C, got {theta0.shape}")
    t = as_times(t)
    lam, U = np.linalg.eigh(C)
    A = U.T @ theta0
    return np.einsum("ij,tj,jk->tik", U, np.exp(-2.0 * np.outer(t, lam)), A)


def fixed_projector_trajectory(C, W0, P, t):
    """Remark 3: f(x) = P g(x), g(x) = W^T x with a fixed (not trained) projector P ∈ R^{z×h}.

    L = Tr(P W^T C W P^T), dW/dt = −2 C W S with S = P^T P.  With S = Σ_k s_k q_k q_k^T,
    W(t) = Σ_k exp(−2 s_k C t) W0 q_k q_k^T, and the outputs f(x) = P W(t)^T x.  The dominant term is
    e^{−2 λ_1 s_max t} u_1 (u_1^T W0 q_max) q_max^T: f(x) ∝ (u_1^T x) P q_max for every x — rank one
    whatever P is.  Returns W(t), (T, d, h).
    """
    C = check_data_matrix(C)
    W0 = as_matrix(W0, "W0")
    P = as_matrix(P, "P")
    d = C.shape[0]
    if W0.shape[0] != d or P.shape[1] != W0.shape[1]:
        raise ValueError(f"W0 must be (d={d}, h) and P (z, h) with the same h, got {W0.shape} and {P.shape}")
    t = as_times(t)
    lam, U = np.linalg.eigh(C)
    s, Q = np.linalg.eigh(P.T @ P)
    A = U.T @ W0 @ Q  # (d, h) in both eigenbases: entry (i, k) decays like exp(−2 λ_i s_k t)
    E = np.exp(-2.0 * t[:, None, None] * lam[None, :, None] * s[None, None, :])
    return np.einsum("ij,tjk,lk->til", U, E * A[None], Q)


def collapse_ratio(F) -> np.ndarray:
    """σ₂/σ₁ of the output matrix F (N, z), or of each F[t] for a stack (T, N, z): 0 means rank one (Prop 1)."""
    F = as_array(F, "F", ndim=(2, 3))
    s = np.linalg.svd(F, compute_uv=False)
    if s.shape[-1] < 2:
        raise ValueError(f"F must have at least two output columns to measure collapse, got shape {F.shape}")
    if np.any(s[..., 0] == 0):
        raise ValueError("F must be non-zero (σ₁ > 0): the ratio σ₂/σ₁ of a zero output matrix is undefined")
    return s[..., 1] / s[..., 0]


def contrastive_function_hessian(n: int) -> np.ndarray:
    """M (3n, 3n) with ∇_F L = M F for E1 of the stacked outputs F = [f(anchors); f(positives); f(negatives)]
    (:func:`dynamics.losses.contrastive_function_loss` with alpha = (+1, −1); E1 is quadratic in F)."""
    n = check_positive_int(n, "n")
    I = np.eye(n)
    Z = np.zeros((n, n))
    return -np.block([[Z, I, -I], [I, Z, Z], [-I, Z, Z]]) / n


def kernel_flow(K, F0, t, *, rtol=DEFAULT_RTOL, atol=None, backend=DEFAULT_BACKEND, max_steps=DEFAULT_MAX_STEPS):
    """Lemma 1 / Prop 1 for kernel models: dF/dt = −K ∇_F L(F) with L = E1, via
    :func:`dynamics.flows.function_space_flow`.

    ``K`` (3n, 3n) is the kernel on the stacked inputs [anchors; positives; negatives] and ``F0`` (3n, z)
    the initial outputs.  The kernel acts on every output coordinate alike (K ⊗ I_z, Lemma 1), so each
    column of F obeys the same linear ODE dF_k/dt = −K M F_k and F collapses to rank one.
    """
    F0 = as_matrix(F0, "F0")
    if F0.shape[0] % 3:
        raise ValueError(f"F0 must stack anchors, positives and negatives (3n rows), got {F0.shape[0]} rows")
    return flows.function_space_flow(K, F0, losses.contrastive_function_loss(F0.shape[0] // 3, (1, -1)), t, rtol=rtol, atol=atol,
                                     backend=backend, max_steps=max_steps)


def kernel_flow_closed_form(K, F0, t):
    """Closed form of :func:`kernel_flow`: F(t) = exp(−K M t) F0 with M = :func:`contrastive_function_hessian`.

    E1 is quadratic in F (∇_F L = M F), so the kernel flow dF/dt = −K M F is linear.  K must be symmetric
    positive semi-definite (to 1e-8 relative); with K = L L^T (L = U_K Λ_K^{1/2} over its non-zero
    eigenvalues) every solution is F(t) = F0 + L g(t), where dg/dt = −L^T M F0 − S g, S = L^T M L
    symmetric.  In the eigenbasis S = V diag(σ) V^T, h = V^T g obeys h_i' = −β_i − σ_i h_i, β = V^T L^T M F0:

        h_i(t) = −β_i t φ(−σ_i t),   φ(x) = expm1(x)/x  (φ(0) = 1),

    evaluated per mode (no matrix exponential; eigenvalues of K below 3n·eps·λ_max count as its null space,
    |σ_i| below 3n·eps·max|σ| as 0): decaying modes (σ_i > 0) reach their limit −β_i/σ_i, so at
    any t (1e12 included) F is finite wherever the exact solution is, and entries fed by a growing mode
    (σ_i < 0, e^{|σ_i| t} beyond float range) are ±inf — the exact flow diverges there (E Prop 1:
    ‖F‖ → ∞, collapse to rank one) — never NaN.  K M is similar to K^{1/2} M K^{1/2}, so for K ≻ 0 it has
    n eigenvalues of each sign (Sylvester) and a generic F0 diverges.  Returns (T, 3n, z).
    """
    K = as_symmetric(K, "K")
    F0 = as_matrix(F0, "F0")
    if F0.shape[0] != K.shape[0] or F0.shape[0] % 3:
        raise ValueError(f"F0 must have 3n rows matching K {K.shape}, got {F0.shape}")
    check_psd(K, "K")
    t = as_times(t)
    M = contrastive_function_hessian(F0.shape[0] // 3)
    lk, Uk = np.linalg.eigh(K)
    eps = K.shape[0] * np.finfo(float).eps
    keep = lk > eps * max(float(lk[-1]), 0.0)  # numerical rank: round-off eigenvalues of K are its null space
    L = Uk[:, keep] * np.sqrt(lk[keep])
    sigma, V = np.linalg.eigh(L.T @ M @ L)
    sigma = np.where(np.abs(sigma) <= eps * float(np.max(np.abs(sigma), initial=0.0)), 0.0, sigma)
    LV = L @ V  # (3n, r)
    beta = LV.T @ (M @ F0)  # (r, z)
    x = -np.outer(t, sigma)  # (T, r): h_i(t) = −β_i t φ(x), x = −σ_i t
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        phi = np.where(x == 0, 1.0, np.expm1(x) / np.where(x == 0, 1.0, x))  # > 0; +inf past float range
        log_abs_LV = np.log(np.abs(LV))
        log_abs_beta = np.log(np.abs(beta))
    out = np.empty((len(t),) + F0.shape)
    for k in range(len(t)):
        tphi = t[k] * phi[k]
        over = ~np.isfinite(tphi)
        if not np.any(over & np.any(beta != 0, axis=1)):
            out[k] = F0 - LV @ (tphi[:, None] * beta)
            continue
        # Some mode grows past float range: an entry it reaches is ±inf, with the sign of its largest
        # divergent term (compared through logs: log(t φ(x)) = x − log|σ| + log1p(−e^{−x}) for x > 0).
        fin = np.where(over, 0.0, tphi)
        out[k] = F0 - LV @ (fin[:, None] * beta)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_tphi = np.where(over, x[k] - np.log(np.abs(sigma)) + np.log1p(-np.exp(-np.abs(x[k]))), -np.inf)
        score = log_abs_LV[:, :, None] + (log_tphi[:, None] + log_abs_beta)[None]  # (3n, r, z)
        score = np.where(np.isnan(score), -np.inf, score)
        j = np.argmax(score, axis=1)  # (3n, z) the dominant divergent mode of each entry
        hit = np.take_along_axis(score, j[:, None, :], axis=1)[:, 0, :] > -np.inf
        sign = -np.sign(np.take_along_axis(LV[:, :, None] * np.ones_like(beta)[None], j[:, None, :], axis=1)[:, 0]
                        * np.take_along_axis(beta, j, axis=0))
        out[k] = np.where(hit, sign * np.inf, out[k])
    return out


# ---------------------------------------------------------------------------------------------
# Props 2 and 3: optima under norm constraints


def frobenius_optimum(C, z: int = 1):
    """Prop 2: argmin Tr(Θ^T C Θ) subject to ‖Θ‖_F <= 1 (e.g. ‖V‖_F, ‖W‖_F <= 1, Θ = V W).

    Tr(Θ^T C Θ) = Σ_i λ_i ‖Θ^T u_i‖² with Σ_i ‖Θ^T u_i‖² = ‖Θ‖²_F <= 1, minimised (when λ_1 < 0) by
    Θ = u_1 a^T, ‖a‖ = 1: rank one (dimension collapse) whatever z is.  Returns u_1 e_1^T (d, z).
    """
    C = check_data_matrix(C)
    z = check_positive_int(z, "z")
    lam, U = np.linalg.eigh(C)
    if lam[0] >= 0:
        raise ValueError("C must have a negative eigenvalue for a non-zero Frobenius-constrained optimum (Prop 2)")
    out = np.zeros((C.shape[0], z))
    out[:, 0] = U[:, 0]
    return out


def operator_optimum(C, z: int):
    """Prop 3: argmin Tr(Θ^T C Θ) over ‖Θ‖_op <= 1 = over Θ = V W with V^T V = I, W^T W = I = of the scaled
    loss L(Θ/‖Θ‖_op), when C has at least z negative eigenvalues.

    Tr(C Θ Θ^T) with 0 ⪯ ΘΘ^T ⪯ I and rank <= z is minimised by the projector onto the eigenvectors of
    the z most negative eigenvalues (no collapse).  Returns that orthonormal basis U_z (d, z).
    """
    C = check_data_matrix(C)
    z = check_positive_int(z, "z")
    lam, U = np.linalg.eigh(C)
    if not 1 <= z <= C.shape[0]:
        raise ValueError(f"z must be in 1..{C.shape[0]}, got {z}")
    if np.sum(lam < 0) < z:
        raise ValueError(f"C must have at least z = {z} negative eigenvalues (Prop 3), it has {int(np.sum(lam < 0))}")
    return U[:, :z]
