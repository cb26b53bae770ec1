"""Closed-form trajectories of Barlow Twins on a linear model (S Prop 4.1, Result 4.6, App. C).

The exact solution of the modewise ODE s' = 4(1 − γ s²) γ s (S12) is (S10)

    s(t) = e^{4γt} / sqrt(s(0)^{-2} + (e^{8γt} − 1) γ).

Written literally it overflows (e^{8γt} for γ t >~ 90) and loses all digits
for tiny s(0).  With u = s^{-2} the ODE is linear, u' = −8γ(u − γ), so

    u(t) = s(0)^{-2} e^{−8γt} − γ expm1(−8γt)                          (γ >= 0)
    log u(t) = −8γt + log(s(0)^{-2} + γ expm1(8γt))                      (γ < 0)

Both right-hand sides are sums of non-negative terms for the stated sign of γ,
so no cancellation occurs; they are combined in log space with ``logaddexp``
so that neither over- nor underflows.  log|s| = −½ log u, and the sign of s(0)
is carried along (s = 0 is a fixed point).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._validation import as_array, as_matrix, as_times
from ._core import check_W_Gamma, spectrum


def _log_u(t, gamma, log_u0):
    """log s(t)^{-2} for the aligned mode (S10 rewritten as a linear ODE in u = s^{-2})."""
    x = 8.0 * gamma * t
    # γ >= 0: u = u0 e^{-x} + (−γ expm1(−x)), both terms >= 0.
    pos_term = -gamma * jnp.expm1(-jnp.where(gamma >= 0, x, 0.0))
    log_pos = jnp.logaddexp(log_u0 - x, jnp.log(jnp.where(gamma >= 0, pos_term, 1.0)))
    # γ < 0: u = e^{-x} (u0 + γ expm1(x)), γ expm1(x) >= 0.
    neg_term = gamma * jnp.expm1(jnp.where(gamma < 0, x, 0.0))
    log_neg = -x + jnp.logaddexp(log_u0, jnp.log(jnp.where(gamma < 0, neg_term, 1.0)))
    return jnp.where(gamma >= 0, log_pos, log_neg)


@jax.jit
def _log_abs_aligned_from_log(t, gammas, log_abs_s0):
    """log|s_j(t)| for times t (T,), eigenvalues gammas (d,) and log|s_j(0)| (d,) (−inf: s stays 0)."""
    t = jnp.asarray(t)[:, None]
    gammas = jnp.asarray(gammas)[None, :]
    log_u0 = -2.0 * jnp.asarray(log_abs_s0)[None, :]  # log s0^{-2}, never s0^{-2} itself (S10)
    return -0.5 * _log_u(t, gammas, log_u0)


def _log_abs(s0) -> np.ndarray:
    """log|s0| in NumPy: exact for subnormal s0 too (XLA on the CPU flushes subnormal inputs to 0,
    which would turn s(0) = 1e-310 into a fixed point that never grows)."""
    with np.errstate(divide="ignore"):
        return np.log(np.abs(np.asarray(s0, dtype=np.float64)))


def _log_abs_aligned(t, gammas, s0) -> np.ndarray:
    """log|s_j(t)| of S10 for times t (T,), eigenvalues gammas (d,) and initial values s0 (d,)."""
    return np.asarray(_log_abs_aligned_from_log(t, gammas, _log_abs(s0)))


def _aligned(t, gammas, s0) -> np.ndarray:
    """s_j(t) of S10; the final exp is taken in NumPy so that subnormal values are not flushed to 0."""
    return np.sign(np.asarray(s0, dtype=np.float64))[None, :] * np.exp(_log_abs_aligned(t, gammas, s0))


def _check_modes(gammas, s0, *, allow_negative_s0=True):
    gammas = as_array(gammas, "gammas", ndim=(0, 1))
    s0 = as_array(s0, "s0", ndim=(0, 1))
    gammas, s0 = np.atleast_1d(gammas), np.atleast_1d(s0)
    if gammas.size == 0:
        raise ValueError("gammas must contain at least one eigenvalue (one mode), got an empty array")
    if s0.shape != gammas.shape:
        if s0.size == 1:
            s0 = np.full_like(gammas, s0.item())
        else:
            raise ValueError(f"s0 must have the same length as gammas ({gammas.size}), got {s0.size}")
    if not allow_negative_s0 and np.any(s0 <= 0):
        raise ValueError("s0 must be > 0 (initial singular values)")
    return gammas, s0


def aligned_singular_values(t, gammas, s0) -> np.ndarray:
    r"""Singular values s_j(t) from aligned initialisation (S Prop 4.1, S10).

    S10: $s_j(t) = \dfrac{e^{4\gamma_j t}}{\sqrt{s_j(0)^{-2} + (e^{8\gamma_j t} - 1)\,\gamma_j}}$, with the S13 limits $s_j(\infty) = \gamma_j^{-1/2}$ for $\gamma_j > 0$.

    s_j(t) = e^{4γ_j t} / sqrt(s_j(0)^{-2} + (e^{8γ_j t} − 1) γ_j), evaluated in a
    form that neither overflows nor returns NaN for any t >= 0, any finite γ_j
    and any finite s_j(0) (see the module docstring): s_j(0) enters only through
    log|s_j(0)|, so tiny (1e-300) and subnormal (1e-310) initial values grow as
    S10 says instead of underflowing in s_j(0)².  Limits (S13): γ_j^{-1/2}
    for γ_j > 0, s_j(0) for γ_j = 0, 0 for γ_j < 0.  A negative s_j(0) gives the
    mirror trajectory (App. F); s_j(0) = 0 is a fixed point.

    Parameters
    ----------
    t : (T,) non-negative, non-decreasing times (gradient-flow time).
    gammas : (d,) eigenvalues γ_j of Γ along the aligned directions.
    s0 : (d,) initial singular values (a scalar is broadcast).

    Returns
    -------
    (T, d) array of s_j(t).
    """
    t = as_times(t)
    gammas, s0 = _check_modes(gammas, s0)
    return _aligned(t, gammas, s0)


def log_aligned_singular_values(t, gammas, s0) -> np.ndarray:
    """log|s_j(t)| of S10, finite even where s_j(t) underflows (γ_j < 0, large t).  Shape (T, d)."""
    t = as_times(t)
    gammas, s0 = _check_modes(gammas, s0)
    return _log_abs_aligned(t, gammas, s0)


def singular_value_rhs(s, gammas) -> np.ndarray:
    r"""Modewise ODE right-hand side s_j' = 4 (1 − γ_j s_j²) γ_j s_j (S12).

    S12: $\dot s_j = 4\,(1 - \gamma_j s_j^2)\,\gamma_j s_j$.
    """
    s = as_array(s, "s")
    gammas = as_array(gammas, "gammas")
    try:
        np.broadcast_shapes(s.shape, gammas.shape)
    except ValueError:
        raise ValueError(f"s and gammas must have the same shape (d,) (or broadcast, e.g. s (T, d) with gammas "
                         f"(d,)), got s {s.shape} and gammas {gammas.shape}") from None
    return 4.0 * (1.0 - gammas * s**2) * gammas * s


def embedding_eigenvalues(t, gammas, s0) -> np.ndarray:
    r"""Eigenvalues of C along the aligned trajectory, λ_j(t) = γ_j s_j(t)² (S §4.2).  Shape (T, d).

    S §4.2: $\lambda_j(t) = \gamma_j\, s_j(t)^2$.
    """
    s = aligned_singular_values(t, gammas, s0)
    gammas = np.atleast_1d(np.asarray(gammas, dtype=float))
    return gammas[None, :] * s**2


def aligned_loss(t, gammas, s0) -> np.ndarray:
    r"""Loss along the aligned trajectory, L(t) = Σ_j (1 − γ_j s_j(t)²)² (S14).  Shape (T,).

    S14: $\mathcal{L}(t) = \sum_j \big(1 - \gamma_j s_j(t)^2\big)^2$.
    """
    lam = embedding_eigenvalues(t, gammas, s0)
    return np.sum((1.0 - lam) ** 2, axis=1)


def critical_times(gammas, s0) -> np.ndarray:
    r"""Critical times τ_j = −log(s_j(0)² γ_j) / (8 γ_j) at which mode j is learned (S16).

    S16: $\tau_j = -\dfrac{\log\big(s_j(0)^2 \gamma_j\big)}{8 \gamma_j}$.

    Evaluated as −(2 log|s_j(0)| + log γ_j) / (8 γ_j): s_j(0)² is never formed, so it cannot
    underflow (s_j(0) = 1e-300 gives τ = 172.69 for γ = 1, not +inf), and subnormal s_j(0) are
    exact.  Modes with γ_j <= 0 are never learned: τ_j = +inf.  τ_j <= 0 means the
    mode starts at or beyond the learned scale (s_j(0)² γ_j >= 1).
    """
    gammas, s0 = _check_modes(gammas, s0)
    if np.any(s0 == 0):
        raise ValueError("s0 must be non-zero: a zero singular value is a fixed point and is never learned")
    log_s0 = _log_abs(s0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        tau = -(2.0 * log_s0 + np.log(np.where(gammas > 0, gammas, 1.0))) / (8.0 * gammas)
    return np.where(gammas > 0, tau, np.inf)


def stepwise_loss(t, gammas, s0) -> np.ndarray:
    r"""Step-function approximation of the loss, L(t) ≈ #{j : τ_j > t} (S20), τ_j of S16 in log form.  Shape (T,).

    S20: $\mathcal{L}(t) \approx \#\{j : \tau_j > t\}$.
    """
    t = as_times(t)
    tau = critical_times(gammas, s0)
    return np.sum(tau[None, :] > t[:, None], axis=1).astype(float)


def random_init_singular_values(d: int, sigma: float) -> np.ndarray:
    """Typical effective initial singular values for N(0, σ²) init, s_j(0) ≈ σ sqrt(d − j + 1) (S21)."""
    from .._validation import check_positive, check_positive_int

    d = check_positive_int(d, "d")
    sigma = check_positive(sigma, "sigma")
    return sigma * np.sqrt(d - np.arange(d, dtype=float))


# ---------------------------------------------------------------------------
# Generic small initialisation (Def 4.4, 4.5, S19, Result 4.6)


def _max_abs(M) -> float:
    return float(np.max(np.abs(M))) if np.size(M) else 0.0


def _qr_nonneg(M):
    """QR with non-negative diagonal of R (S Def 4.4).  M: (a, b), a <= b.

    M is divided by max|M| first and R multiplied back (QR is homogeneous, Q(cM) = Q(M),
    R(cM) = c R(M) for c > 0), so a tiny (1e-300) or subnormal M is factorised at full precision.
    """
    c = _max_abs(M)
    if c == 0.0 or not np.isfinite(c):
        c = 1.0
    Q, R = np.linalg.qr(M / c, mode="complete")
    k = min(M.shape)
    signs = np.sign(np.diag(R)[:k])
    signs[signs == 0] = 1.0
    Q = Q.copy()
    Q[:, :k] *= signs
    R = R.copy()
    R[:k] *= signs[:, None]
    return Q, R * c


def _norm(r) -> float:
    """Euclidean norm without squaring the entries: exact scaling by max|r| (no under/overflow)."""
    c = _max_abs(r)
    if c == 0.0:
        return 0.0
    return c * float(np.linalg.norm(r / c))


def _rank_cutoff(M) -> float:
    """The round-off level of a Gram–Schmidt residual of M: max(shape) · ε · ‖M‖₂ (NumPy's matrix_rank rule)."""
    c = _max_abs(M)
    if c == 0.0:
        return 0.0
    return max(M.shape) * np.finfo(float).eps * c * float(np.linalg.norm(M / c, 2))


def alignment_transform(M) -> np.ndarray:
    """Alignment transformation 𝒜(M) = Q R̄ (S Def 4.5).

    M = Q R is the QR factorisation with non-negative diagonal (Def 4.4) and R̄
    keeps only the diagonal of R.  For M in R^{a x b} with a <= b and full rank the
    result is unique.  Returns an array of M's shape.
    """
    M = as_matrix(M, "M")
    a, b = M.shape
    if a == 0:
        raise ValueError(f"M must have at least one row, got shape {M.shape}")
    if a > b:
        raise ValueError(f"M must have at least as many columns as rows (a <= b), got shape {M.shape}")
    Q, R = _qr_nonneg(M)
    Rbar = np.zeros_like(R)
    idx = np.arange(a)
    Rbar[idx, idx] = R[idx, idx]
    return Q @ Rbar


def effective_initial_singular_values(W0, Gamma) -> np.ndarray:
    """Effective initial singular values s_j*(0) by Gram–Schmidt (S19).

    With u_j = W(0) v_j (v_j the j-th eigenvector of Γ), s_j*(0) is the norm of
    u_j after projecting out u_1, ..., u_{j−1}.  Computed by explicit
    (modified) Gram–Schmidt, independently of the QR used in
    :func:`alignment_transform`; the two agree (S footnote 9).
    """
    W0, Gamma = check_W_Gamma(W0, Gamma)
    d, m = W0.shape
    if d > m:
        raise ValueError(f"W0 must have d <= m (embedding dim at most input dim: S19 takes d eigenvectors of "
                         f"Gamma), got shape {W0.shape}")
    _, V = spectrum(Gamma)
    # Gram–Schmidt is homogeneous: s*(cW) = c s*(W).  Working with W/max|W| keeps residual norms of a
    # tiny W(0) (1e-300, subnormal) from underflowing when squared.
    c = _max_abs(W0)
    if c == 0.0:
        return np.zeros(d)
    Wn = W0 / c
    basis = []
    out = np.empty(d)
    for j in range(d):
        r = Wn @ V[j]
        for q in basis:
            r = r - (q @ r) * q
        out[j] = _norm(r)
        if out[j] > 0:
            basis.append(r / out[j])
    return out * c


def small_init_alignment(W0, Gamma):
    """Aligned initial condition of Result 4.6: W*(0) = 𝒜(W(0) Γ^{(<=m)T}) Γ^{(<=m)}.

    Returns ``(U, s0, gammas, V)`` such that W*(0) = U diag(s0) V[:d], with
    gammas the eigenvalues of Γ in decreasing order and V its eigenvectors as rows.
    """
    W0, Gamma = check_W_Gamma(W0, Gamma)
    d, m = W0.shape
    if d > m:
        raise ValueError(f"W0 must have d <= m (embedding dim at most input dim), got shape {W0.shape}")
    gammas, V = spectrum(Gamma)
    Q, R = _qr_nonneg(W0 @ V.T)
    s0 = np.diag(R)[:d].copy()
    cutoff = _rank_cutoff(W0 @ V.T)
    if np.any(s0 <= cutoff):
        raise ValueError(f"W0 Γ^{{(<=m)T}} is rank deficient: Result 4.6 needs it full rank, got an effective "
                         f"initial singular value {s0.min():.3g} at or below the round-off level {cutoff:.3g} "
                         f"(max(d, m) · eps · ‖W0‖₂)")
    return Q, s0, gammas, V


def small_init_prediction(W0, Gamma, t) -> np.ndarray:
    r"""Predicted trajectory W*(t) from a generic small initialisation (S Result 4.6).

    S Result 4.6: $W^*(t) = U\, S^*(t)\, \Gamma^{(\le d)}$ with $S^*(t)$ following S10 from the S19 values.

    W*(t) = U S*(t) Γ^{(<=d)} where U, S*(0) come from the alignment transform
    of W(0) Γ^{(<=m)T} (Def 4.5; the diagonal of R equals the Gram–Schmidt
    residuals of S19) and S*(t) follows S10.  As the init scale α → 0, the true
    trajectory approaches this one for all t.

    Parameters
    ----------
    W0 : (d, m) initial weights.
    Gamma : (m, m) symmetric feature cross-correlation (S4).
    t : (T,) times.

    Returns
    -------
    (T, d, m) array.
    """
    t = as_times(t)
    U, s0, gammas, V = small_init_alignment(W0, Gamma)
    d = U.shape[0]
    s = aligned_singular_values(t, gammas[:d], s0)
    return U @ (s[:, :, None] * V[None, :d])


def _check_orthonormal_rows(M, name, what, rtol=1e-8):
    """max |M M^T − I| <= rtol (M's rows orthonormal; rtol is relative to the unit row norms)."""
    err = float(np.max(np.abs(M @ M.T - np.eye(M.shape[0])))) if M.size else 0.0
    if not err <= rtol:
        raise ValueError(f"{name} must have orthonormal rows ({what}): max |{name} {name}^T - I| = {err:.3g} "
                         f"exceeds {rtol:g}")


def aligned_trajectory(U, s0, gammas, V, t) -> np.ndarray:
    """W(t) = U S(t) V for an aligned init (S9), V: (d, m) orthonormal eigenvector rows of Γ.

    S9 solves S6 only when U is orthogonal and the rows of V are orthonormal eigenvectors of Γ;
    U U^T = I and V V^T = I are checked (tolerance 1e-8), a ValueError names the argument otherwise.
    """
    t = as_times(t)
    s = aligned_singular_values(t, gammas, s0)
    d = s.shape[1]
    U = as_matrix(U, "U")
    V = as_matrix(V, "V")
    if U.shape != (d, d):
        raise ValueError(f"U must be ({d}, {d}) to match the {d} modes of gammas and s0, got shape {U.shape}")
    if V.shape[0] != d:
        raise ValueError(f"V must have d = {d} rows (eigenvectors of Γ) to match gammas and s0, got shape {V.shape}")
    if V.shape[0] > V.shape[1]:
        raise ValueError(f"V must be (d, m) with d <= m (orthonormal rows), got shape {V.shape}")
    _check_orthonormal_rows(U, "U", "an orthogonal d x d matrix, S9")
    _check_orthonormal_rows(V, "V", "orthonormal eigenvectors of Γ, S9")
    return U @ (s[:, :, None] * V[None])


# ---------------------------------------------------------------------------
# Appendix C: upper-triangular small init


def appendix_c_rhs(A, gammas) -> np.ndarray:
    r"""dA/dt = (I − A Λ A^T) A Λ in the rescaled time t → t/4 (S45).  A: (d, m), gammas: (m,).

    S45: $\dot A = (I - A \Lambda A^\top)\, A \Lambda$.
    """
    A = as_matrix(A, "A")
    gammas = as_array(gammas, "gammas", ndim=1)
    if gammas.shape[0] != A.shape[1]:
        raise ValueError(f"gammas must have length m = {A.shape[1]}, got {gammas.shape[0]}")
    AL = A * gammas[None, :]
    return (np.eye(A.shape[0]) - AL @ A.T) @ AL


def appendix_c_solution(A0, gammas, t) -> np.ndarray:
    r"""Approximate A(t) from an upper-triangular small init (S47–S48), rescaled time of S45.

    S47: $s_j(t) = \dfrac{e^{\gamma_j t}}{\sqrt{s_j(0)^{-2} + (e^{2\gamma_j t} - 1)\gamma_j}}$; S48: $a_{jk}(t) = a_{jk}(0)\,\big(s_j(t)/s_j(0)\big)^{\gamma_k/\gamma_j}$ for $j < k$.

    s_j(t) = e^{γ_j t} / sqrt(s_j(0)^{-2} + (e^{2γ_j t} − 1) γ_j)          (S47)
    a_jk(t) = a_jk(0) (s_j(t)/s_j(0))^{γ_k/γ_j} for j < k, 0 for j > k    (S48)

    Evaluated through log|s_j| and log|a_jk(0)|, so neither the power nor a tiny A(0)
    (scale 1e-300, subnormal entries) over- or underflows, and an entry that is 0 stays 0.

    Parameters
    ----------
    A0 : (d, m) upper-triangular with positive diagonal.
    gammas : (m,) eigenvalues γ_1 > ... > γ_m of Γ (the first d positive).
    t : (T,) times in the rescaled units of S45 (t_S45 = 4 t_S6).

    Returns
    -------
    (T, d, m) array.
    """
    A0 = as_matrix(A0, "A0")
    gammas = as_array(gammas, "gammas", ndim=1)
    t = as_times(t)
    d, m = A0.shape
    if gammas.shape[0] != m:
        raise ValueError(f"gammas must have length m = {m}, got {gammas.shape[0]}")
    if d > m:
        raise ValueError(f"A0 must have d <= m (at most as many rows as columns), got shape {A0.shape}")
    if np.any(np.tril(A0, -1) != 0):
        raise ValueError("A0 must be upper-triangular (a_jk(0) = 0 for j > k)")
    s0 = np.diag(A0).copy()
    if np.any(s0 <= 0):
        raise ValueError("A0 must have a positive diagonal (s_j(0) > 0)")
    if np.any(gammas[:d] <= 0):
        raise ValueError("gammas[:d] must be positive for S47–S48")
    # S47 is S10 at time t/4.
    log_s = _log_abs_aligned(t / 4.0, gammas[:d], s0)  # (T, d)
    log_ratio = log_s - np.log(s0)[None, :]
    # S48 only for j < k with a_jk(0) != 0, in log space: sign(a) exp(log|a| + (γ_k/γ_j) log(s_j(t)/s_j(0))).
    # Every other entry is exactly 0 (below the diagonal, and a_jk(0) = 0) and the diagonal is s_j(t):
    # never 0 · exp(...), which is NaN where the exponent overflows (0 · inf) for a tiny A(0).
    j, k = np.nonzero(np.triu(A0, 1))
    A = np.zeros((t.shape[0], d, m))
    if j.size:
        a = A0[j, k]
        expo = gammas[k] / gammas[j]
        with np.errstate(over="ignore"):
            A[:, j, k] = np.sign(a) * np.exp(np.log(np.abs(a))[None, :] + expo[None, :] * log_ratio[:, j])
    idx = np.arange(d)
    A[:, idx, idx] = np.exp(log_s)
    return A
