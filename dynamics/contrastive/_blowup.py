"""Proposition 10 of A: under the dot product the NTK of a linear network blows up in finite time.

Setting (A Prop 10, App. A.4): D = Z = 1, linear activation, f(x) = (1/√M) Σ_m w_m v_m x, triplets
with the linear loss L = −(1/N) Σ_n f(x_n)(f(x_n⁺) − f(x_n⁻)) = −C M S², where

    S = (1/M) Σ_m v_m w_m,   P = (1/M) Σ_m (v_m² + w_m²),   C = (1/N) Σ_n x_n (x_n⁺ − x_n⁻).

The NTK is K(x, y) = P x y.  Gradient flow gives (derived in :mod:`dynamics.contrastive.symbolic`)

    dv_m/dt = 2CS w_m,  dw_m/dt = 2CS v_m,  dP/dt = 8CS²,  dS/dt = 2CSP,  P² − 4S² = 4α (constant),

so dP/dt = 2C(P² − 4α) and, with β = (P0 − 2√α)/(P0 + 2√α),

    P(t) = 2√α (1 + β e^{8C√α t}) / (1 − β e^{8C√α t}),   t̄ = log(1/β) / (8C√α).

Numerically stable forms used here (*derived here*, equal to the above): with r = 2√α/P0 =
√(1 − 4S0²/P0²) ∈ [0, 1],

    log(1/β) = 2 atanh(r),   t̄ = atanh(r) / (2 C P0 r)  (→ 1/(2 C P0) as r → 0, i.e. α → 0),
    P(t) = P0 q(r (g − 2 C P0 t)) / (g − 2 C P0 t),   g = atanh(r)/r,  q(x) = x / tanh(x),

which has no cancellation for small α and no overflow before t̄.  The sign of S0 does not matter
(v → −v maps S → −S); blow-up needs C > 0 and S0 ≠ 0 — otherwise P stays bounded
(S0 = 0: P ≡ P0; C < 0: P decreases to 2√α; C = 0: nothing moves) and t̄ = ∞.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._validation import as_array, as_times, check_finite_if_concrete


def _real(x, name):
    """A finite real scalar (Python, NumPy or 0-d JAX), as float."""
    if isinstance(x, (bool, np.bool_)) or np.ndim(x) != 0 or np.iscomplexobj(x):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__} {np.shape(x)}")
    try:
        x = float(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}") from exc
    if not np.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}")
    return x


def _check_state(P0, S0, C):
    P0, S0, C = _real(P0, "P0"), _real(S0, "S0"), _real(C, "C")
    if P0 <= 0:
        raise ValueError(f"P0 = (1/M) Σ (v_m² + w_m²) must be > 0, got {P0}")
    # P0 >= 2|S0| for every real (v, w) (AM–GM); allow rounding at equality (v = ±w).
    if 2.0 * abs(S0) > P0 * (1.0 + 1e-12):
        raise ValueError(f"P0 and S0 must satisfy P0 >= 2|S0| (P0² >= 4 S0², true for any real weights), "
                         f"got P0 = {P0}, S0 = {S0}")
    return P0, S0, C


def _r_and_g(P0, S0):
    """r = 2√α / P0 = √(1 − 4S0²/P0²) and g = atanh(r)/r (g = 1 at r = 0), without cancellation.

    With u = 2|S0|/P0 ∈ (0, 1]: r = √((1 − u)(1 + u)), where 1 − u = (P0 − 2|S0|)/P0 is exact
    (Sterbenz) when u >= 1/2, and

        atanh(r) = ½ log((1 + r)/(1 − r)) = log1p(r) − log u        (since (1 − r)(1 + r) = u²),

    a sum of two non-negative terms.  The literal 1 − r loses everything for small S0
    (r = 1 in floating point for |S0| <= 1e-8 P0, and t̄ came out ``inf``); here log u is
    log(2|S0|) − log(P0) when u underflows, so S0 down to the subnormal range is exact.
    """
    a = 2.0 * abs(S0)
    if a >= P0:
        return 0.0, 1.0
    one_minus_u = (P0 - a) / P0
    u = a / P0
    r = float(np.sqrt(one_minus_u * (2.0 - one_minus_u)))
    if r < 0.5:
        return r, (float(np.arctanh(r) / r) if r > 0 else 1.0)
    if u >= 0.5:
        log_u = float(np.log1p(-one_minus_u))
    elif u >= np.finfo(float).tiny:
        log_u = float(np.log(u))
    else:
        log_u = float(np.log(a) - np.log(P0))
    return r, (float(np.log1p(r)) - log_u) / r


def prop10_invariants(v, w):
    """(P, S) = ((1/M) Σ (v_m² + w_m²), (1/M) Σ v_m w_m) from the weights (A App. A.4)."""
    v = as_array(v, "v").ravel()
    w = as_array(w, "w").ravel()
    if v.shape != w.shape or v.size == 0:
        raise ValueError(f"v and w must be non-empty with the same number of entries, got {v.size} and {w.size}")
    return float(np.mean(v**2 + w**2)), float(np.mean(v * w))


def prop10_alpha(P0, S0):
    """α = P0²/4 − S0² >= 0, the conserved quantity (P² − 4S²)/4 (A18)."""
    P0, S0, _ = _check_state(P0, S0, 1.0)
    return max(0.0, (P0 - 2 * abs(S0)) * (P0 + 2 * abs(S0)) / 4.0)


def blowup_time(P0, S0, C) -> float:
    r"""Blow-up time t̄ = log(1/β) / (8 C √α) of the NTK K = P x y (A Prop 10, App. A.4).

    A Prop 10: $\bar t = \dfrac{\log(1/\beta)}{8 C \sqrt{\alpha}}$, $\beta = \dfrac{P_0 - 2\sqrt\alpha}{P_0 + 2\sqrt\alpha}$.

    Parameters
    ----------
    P0 : P(0) = (1/M) Σ (v_m² + w_m²) > 0.
    S0 : S(0) = (1/M) Σ v_m w_m, with P0² >= 4 S0² (always true for real weights).
    C : data constant, the loss being −C M S².

    Returns
    -------
    t̄ as a float; ``inf`` where P does not blow up (C <= 0 or S0 = 0).  Evaluated as
    atanh(r)/(2 C P0 r), r = √(1 − 4S0²/P0²), with atanh(r) = log1p(r) − log(2|S0|/P0)
    (:func:`_r_and_g`): no cancellation for small S0 (t̄ = (log(P0/|S0|) + O(1))/(2 C P0) is finite
    for every S0 ≠ 0, e.g. 10.36 for P0 = C = 1, S0 = 1e-9); the limit α → 0 (v = ±w) gives
    1/(2 C P0).
    """
    P0, S0, C = _check_state(P0, S0, C)
    if C <= 0 or S0 == 0:
        return float("inf")
    _, g = _r_and_g(P0, S0)
    return g / (2.0 * C * P0)


def _q(x):
    """x / tanh(x), 1 at x = 0."""
    x = np.asarray(x, float)
    small = np.abs(x) < 1e-4
    xs = np.where(small, 1.0, x)
    return np.where(small, 1.0 + x**2 / 3.0, xs / np.tanh(xs))


def prop10_P(t, P0, S0, C):
    r"""P(t) of A Prop 10 (NTK scale, K = P x y) at times ``t`` (T,); ``inf`` at and after t̄.

    A Prop 10: $P(t) = 2\sqrt\alpha\, \dfrac{1 + \beta e^{8 C \sqrt\alpha\, t}}{1 - \beta e^{8 C \sqrt\alpha\, t}}$.

    Closed form P(t) = 2√α (1 + β e^{8C√α t}) / (1 − β e^{8C√α t}), evaluated in the stable form
    P0 q(r (g − 2CP0 t)) / (g − 2CP0 t) (module docstring).  Valid for any real C.
    """
    t = as_times(t)
    P0, S0, C = _check_state(P0, S0, C)
    if S0 == 0 or C == 0:
        return np.full(t.shape, P0)
    r, g = _r_and_g(P0, S0)
    den = g - 2.0 * C * P0 * t
    with np.errstate(divide="ignore", invalid="ignore"):
        P = P0 * _q(r * den) / den
    return np.where(den > 0, P, np.inf)


def prop10_S(t, P0, S0, C):
    """S(t) = sign(S0) √(P(t)²/4 − α) (A18); ``inf`` in magnitude at and after t̄."""
    P = prop10_P(t, P0, S0, C)
    alpha = prop10_alpha(P0, S0)
    sa = np.sqrt(alpha)
    with np.errstate(invalid="ignore", over="ignore"):
        mag = 0.5 * np.sqrt(np.maximum((P - 2 * sa) * (P + 2 * sa), 0.0))
    return np.sign(S0) * mag


def prop10_rhs(t, y, C):
    """Right-hand side of the (P, S) system: (dP/dt, dS/dt) = (8CS², 2CSP) (A16–A17); JAX-traceable."""
    if np.shape(y) != (2,):
        raise ValueError(f"y must be the state (P, S) of shape (2,), got shape {np.shape(y)}")
    # Concrete NaN/inf input is named here; under jit/grad (inside the integrator) values are not checked.
    check_finite_if_concrete(y, "y")
    check_finite_if_concrete(C, "C")
    P, S = y[0], y[1]
    return jnp.stack([8.0 * C * S**2, 2.0 * C * S * P])
