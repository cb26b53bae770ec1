"""Numerical gradient flow of the linear Barlow Twins model (S6) and of its unapproximated form (S45).

S: J. B. Simon, M. Knutins, L. Ziyin, D. Geisz, A. J. Fetterman, J. Albrecht, "On the Stepwise Nature of
Self-Supervised Learning", ICML 2023 (arXiv:2303.15438); equation numbers are theirs.  Both flows are
integrated with :func:`dynamics._integrate.integrate` and its defaults (diffrax Dopri8, rtol 1e-10).

Small initialisations.  S §4 studies W(0) of scale 1e-3 down to 1e-100 and smaller: the modes are
learned one after another at the critical times S16, and each must be followed from its own size
(S10 depends on s_j(0) through log s_j(0)).  Two things keep the numerical flow exact there:

* **the linear phase in closed form.**  In the eigenbasis of Γ, S6 reads
  dW̃/dt = 4 W̃Λ − 4 (W̃ΛW̃^T) W̃Λ.  While P = W̃ΛW̃^T is negligible the flow is linear,
  W̃(t) = W̃(0) e^{4Λt}, exactly.  Column k of the neglected term changes W̃_k by the relative amount
  about 4|λ_k| ∫_0^t ‖P(s)‖ ds with ‖P(s)‖ <= Σ_k |λ_k| ‖W̃_k(0)‖² e^{8λ_k s}, computed in closed
  form; the linear solution is used up to the time t_lin at which this bound reaches 1e-3 · rtol,
  and the numerical solver starts there.  At t_lin the state has grown to about 1e-7 whatever
  the initial scale (1e-3, 1e-150, or subnormal 1e-310, which the compiled solver would flush to
  zero), so the long exponential phase costs no steps and no precision.
* **scale-aware tolerances.**  With ``atol=None`` (default) the absolute tolerance is
  rtol · 1e-3 · σ_min, σ_min the smallest non-zero singular value of the state where the numerical
  solve starts: every mode, including the slowest one still at 1e-100 when the first saturates, is
  resolved to relative accuracy rtol.  A fixed atol (the former 1e-14) is far above a small state;
  the controller then accepted errors larger than the state (from an aligned init of 1e-40 the flow
  converged to the mirror solution −γ^{-1/2}).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._integrate import DEFAULT_BACKEND, DEFAULT_MAX_STEPS, DEFAULT_RTOL, DEFAULT_SOLVER, integrate, scale_aware_atol
from .._validation import as_array, as_matrix, as_times, check_positive, check_positive_int
from ._core import _flow_rhs, check_W_Gamma

_TINY = float(np.finfo(np.float64).tiny)
_LN2 = float(np.log(2.0))


def _vector_field(t, W, Gamma):
    return _flow_rhs(W, Gamma)


def _eigen_vector_field(t, W, lam):
    """S6 in the eigenbasis of Γ (W̃ = W Q, Γ = Q diag(λ) Q^T): dW̃/dt = −4 (W̃ Λ W̃^T − I) W̃ Λ."""
    WL = W * lam
    return -4.0 * (WL @ W.T - jnp.eye(W.shape[0], dtype=WL.dtype)) @ WL


def _appendix_c_field(t, A, gammas):
    """S45: dA/dt = (I − A Λ A^T) A Λ (S6 in the eigenbasis with time rescaled by 4)."""
    AL = A * gammas[None, :]
    return (jnp.eye(A.shape[0], dtype=AL.dtype) - AL @ A.T) @ AL


# ---------------------------------------------------------------------------------------------
# The modal flow dW̃/dt = a (I − W̃ΛW̃^T) W̃Λ: a = 4 for S6 in Γ's eigenbasis, a = 1 for S45.


def _split_scale(W):
    """W = M · 2^e with M of order 1 (an exact power-of-two rescaling, valid for subnormal W too)."""
    big = float(np.max(np.abs(W))) if W.size else 0.0
    if big == 0.0:
        return W.copy(), 0
    e = int(np.frexp(big)[1])
    return np.ldexp(W, -e), e


def _linear_error_log(t, log_c, lam, a):
    """log of the bound a·max|λ| · Σ_k |λ_k| c_k ∫_0^t e^{2aλ_k s} ds (module docstring), c_k = e^{log_c_k}."""
    if t <= 0:
        return -np.inf
    x = 2.0 * a * lam * t
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        # log ∫_0^t e^{2aλs} ds = log(expm1(x) / (2aλ)), written to neither overflow nor cancel.
        log_int = np.where(lam > 0, x + np.log(-np.expm1(-np.abs(x))) - np.log(np.abs(2.0 * a * lam)),
                           np.where(lam < 0, np.log(-np.expm1(-np.abs(x))) - np.log(np.abs(2.0 * a * lam)),
                                    np.log(t)))
        terms = np.log(np.abs(lam)) + log_c + log_int
    terms = terms[np.isfinite(terms)]
    if terms.size == 0:
        return -np.inf
    top = float(np.max(terms))
    return float(np.log(a * np.max(np.abs(lam)))) + top + float(np.log(np.sum(np.exp(terms - top))))


def _linear_phase_end(M, e, lam, a, t_end, delta):
    """Largest t in [0, t_end] (bisection) where the linear solution is exact to relative ``delta``."""
    if not np.any(lam) or t_end <= 0:
        return float(t_end)
    with np.errstate(divide="ignore"):
        log_c = np.log(np.sum(M**2, axis=0)) + 2.0 * e * _LN2  # log ‖W̃_k(0)‖²
    log_delta = float(np.log(delta))
    if _linear_error_log(t_end, log_c, lam, a) <= log_delta:
        return float(t_end)
    # Less than one e-fold of growth gains nothing: start the numerical solve at 0 (the usual, O(1e-3) init).
    efold = 1.0 / (a * float(np.max(np.abs(lam))))
    if efold >= t_end or _linear_error_log(efold, log_c, lam, a) > log_delta:
        return 0.0
    lo, hi = efold, float(t_end)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _linear_error_log(mid, log_c, lam, a) <= log_delta:
            lo = mid
        else:
            hi = mid
    return lo


def _linear_solution(M, e, lam, a, times):
    """W̃(0) e^{aΛt} at each t, from W̃(0) = M 2^e, evaluated through logs (no overflow, subnormal-exact)."""
    with np.errstate(divide="ignore"):
        log_abs = np.log(np.abs(M)) + e * _LN2
    growth = a * np.asarray(times)[:, None, None] * lam[None, None, :]
    return np.sign(M)[None] * np.exp(log_abs[None] + growth)


def _modal_flow(split, lam, ts, a, field, *, backend, solver, rtol, atol, max_steps, batch):
    """Solve dW̃/dt = a (I − W̃ΛW̃^T) W̃Λ from W̃(0) = M 2^e for each (M, e) in ``split``, saved at the
    times ``ts`` >= 0 (linear phase in closed form up to t_lin, then :func:`integrate` from t0 = t_lin).

    Returns (T, d, m), or (B, T, d, m) with ``batch``."""
    delta = scale_aware_atol(rtol, 1.0)  # rtol · 1e-3: the linear phase is exact to this relative error
    ends = [_linear_phase_end(M, e, lam, a, float(ts[-1]), delta) for M, e in split]
    if batch and max(ends) > min(ends):
        # Members of different scales leave the linear phase at different times: one solve each.
        return np.stack([_modal_flow([p], lam, ts, a, field, backend=backend, solver=solver, rtol=rtol, atol=atol,
                                     max_steps=max_steps, batch=False) for p in split])
    t_lin = ends[0]
    early = ts[ts <= t_lin]
    out = np.empty((len(split), len(ts)) + split[0][0].shape)
    for i, (M, e) in enumerate(split):
        out[i, :len(early)] = _linear_solution(M, e, lam, a, early)
    if len(early) < len(ts):
        start = np.stack([_linear_solution(M, e, lam, a, [t_lin])[0] for M, e in split])
        # Entries still subnormal at t_lin are 1e-285 below the leading ones (about 1e-7 there): round-off of
        # the rotation into the eigenbasis.  Zeroed here, as the compiled solver would do silently.
        start[np.abs(start) < _TINY] = 0.0
        if atol is None:
            sv = np.concatenate([np.linalg.svd(W, compute_uv=False) for W in start])
            sv = sv[sv > 0]
            atol = scale_aware_atol(rtol, float(sv.min()) if sv.size else 1.0)
        ys = integrate(field, jnp.asarray(start if batch else start[0]), ts[len(early):], jnp.asarray(lam),
                       t0=t_lin, backend=backend, solver=solver, rtol=rtol, atol=atol, max_steps=max_steps,
                       batch=batch)
        out[:, len(early):] = ys if batch else ys[None]
    return out if batch else out[0]


def gradient_flow(W0, Gamma, t, *, backend=DEFAULT_BACKEND, solver=DEFAULT_SOLVER, rtol=DEFAULT_RTOL, atol=None,
                  max_steps=DEFAULT_MAX_STEPS, eigenbasis: bool = True) -> np.ndarray:
    r"""Integrate dW/dt = −4 (W Γ W^T − I_d) W Γ (S6) from W(0) = W0.

    S6: $\dot W = -4\,(W \Gamma W^\top - I_d)\, W \Gamma$, $W(0) = W_0$.

    Adaptive steps (diffrax ``Dopri8`` with a PID controller by default), the
    solution returned at exactly the requested times.  ``backend="scipy"``
    solves the same problem with scipy's ``solve_ivp`` solvers (``solver`` is
    then a ``solve_ivp`` method, DOP853 by default) for cross-checks.

    With ``eigenbasis=True`` (default) Γ = Q diag(λ) Q^T is diagonalised once and S6 is
    integrated for W̃ = W Q, where it reads dW̃/dt = −4 (W̃ Λ W̃^T − I) W̃ Λ: the same ODE in
    rotated coordinates, O(d² m) work per evaluation instead of the O(d m²) of W Γ (10x faster
    at m = 1024, d = 10, with the same number of steps).  There the linear phase of a small
    initialisation, W̃(t) = W̃(0) e^{4Λt}, is taken in closed form while the cubic term is below
    1e-3 · rtol relative (module docstring), so inits of any scale — 1e-150, or subnormal — follow
    S10 to the solver's accuracy.  ``eigenbasis=False`` integrates S6 as written, from t = 0 (an
    independent cross-check of the rotation; a subnormal W0 is rejected there).

    Parameters
    ----------
    W0 : (d, m) initial weights, or (B, d, m) for a batch of B initial conditions solved together
        (one stacked solve with shared adaptive steps).
    Gamma : (m, m) symmetric feature cross-correlation (S4), finite; any sign of eigenvalues (an
        indefinite Γ, as from two views that disagree, is integrated alike).
    t : (T,) non-decreasing times >= 0; the flow starts at W0 at time 0.
    rtol : relative tolerance.
    atol : absolute tolerance; ``None`` (default) = rtol · 1e-3 · (smallest non-zero singular value of
        the state where the numerical solve starts), so that every mode is resolved whatever its scale.
    max_steps : step budget; exceeding it raises :class:`dynamics._integrate.IntegrationError` with the
        time reached (explicit solvers cannot step to t = 1e12: use :func:`aligned_singular_values`).
    eigenbasis : integrate in the eigenbasis of Γ (default) or S6 as written.

    Returns
    -------
    (T, d, m) array of W(t), or (B, T, d, m) for a batch.
    """
    W0 = as_array(W0, "W0", ndim=(2, 3))
    batch = W0.ndim == 3
    _, Gamma = check_W_Gamma(W0[0] if batch else W0, Gamma)
    rtol = check_positive(rtol, "rtol")
    max_steps = check_positive_int(max_steps, "max_steps")
    t = as_times(t)
    if eigenbasis:
        # Γ's eigenbasis (any order of the eigenvalues serves: the modes are integrated together).
        lam, Q = np.linalg.eigh(Gamma)
        # Rotate the mantissa of W0 = M 2^e (an exact rescaling), so that a tiny or subnormal W0 loses nothing.
        split = [(M @ Q, e) for M, e in map(_split_scale, W0 if batch else W0[None])]
        ys = _modal_flow(split, lam, t, 4.0, _eigen_vector_field, backend=backend, solver=solver, rtol=rtol,
                         atol=atol, max_steps=max_steps, batch=batch)
        ys = ys @ Q.T
        at0 = t == 0
        if batch:
            ys[:, at0] = W0[:, None]  # t = 0 exactly, not W0 Q Q^T
        else:
            ys[at0] = W0
        return ys
    if atol is None:
        sv = np.linalg.svd(W0, compute_uv=False).ravel()
        sv = sv[sv > 0]
        atol = scale_aware_atol(rtol, float(sv.min()) if sv.size else 1.0)
    return integrate(_vector_field, jnp.asarray(W0), t, jnp.asarray(Gamma), backend=backend, solver=solver,
                     rtol=rtol, atol=atol, max_steps=max_steps, batch=batch)


def appendix_c_flow(A0, gammas, t, *, rtol=DEFAULT_RTOL, atol=None, backend=DEFAULT_BACKEND, solver=DEFAULT_SOLVER,
                    max_steps=DEFAULT_MAX_STEPS) -> np.ndarray:
    """Integrate the unapproximated dynamics dA/dt = (I − A Λ A^T) A Λ (S45), rescaled time.

    The linear phase A(t) = A0 e^{Λt} of a small A0 is taken in closed form and ``atol=None`` follows the
    smallest singular value of the state, as in :func:`gradient_flow` (S45 is S6 in Γ's eigenbasis with
    t → 4t).  Returns (T, d, m).
    """
    A0 = as_matrix(A0, "A0")
    gammas = as_array(gammas, "gammas", ndim=1)
    if gammas.shape[0] != A0.shape[1]:
        raise ValueError(f"gammas must have length m = {A0.shape[1]}, got {gammas.shape[0]}")
    rtol = check_positive(rtol, "rtol")
    max_steps = check_positive_int(max_steps, "max_steps")
    t = as_times(t)
    ys = _modal_flow([_split_scale(A0)], gammas, t, 1.0, _appendix_c_field, backend=backend, solver=solver, rtol=rtol,
                     atol=atol, max_steps=max_steps, batch=False)
    ys[t == 0] = A0  # exactly, not the mantissa times 2^e
    return ys
