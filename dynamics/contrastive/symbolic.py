"""Symbolic (sympy) derivation of Proposition 10 of A (NTK blow-up under the dot product).

Each step of App. A.4 is derived from its premises with explicit symbols, so that
:mod:`dynamics.contrastive` (``blowup_time``, ``prop10_P``) is checked against a derivation
rather than against a transcription of the paper:

==========================================  =================================================
derivation                                  result
==========================================  =================================================
:func:`triplet_loss_reduction`              −(1/N) Σ f(x_n)(f(x_n⁺) − f(x_n⁻)) = −C M S²
:func:`linear_network_ntk`                  K(x, y) = Σ_θ ∂f(x)/∂θ ∂f(y)/∂θ = P x y
:func:`weight_flow`                         dv_m/dt = 2CS w_m,  dw_m/dt = 2CS v_m  (A14–A15)
:func:`ps_system`                           dP/dt = 8CS²,  dS/dt = 2CSP  (A16–A17)
:func:`invariant_rate`                      d(P² − 4S²)/dt = 0  (A18)
:func:`p_ode` / :func:`p_solution`          dP/dt = 2C(P² − 4α), solved by separation
:func:`closed_form` / :func:`verify_closed_form`   P(t) = 2√α (1 + βe^{8C√α t})/(1 − βe^{8C√α t})
:func:`blowup_time`                         t̄ = log(1/β)/(8C√α) from 1 − β e^{8C√α t̄} = 0
:func:`verify_stable_blowup_form`           log(1/β) = 2 atanh(2√α/P0) (the form used numerically)
==========================================  =================================================

The weight-level steps use an explicit width M (sums written out), so the identities are
polynomial identities in the v_m, w_m checked by expansion; they hold for each M tried.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import sympy as sp

from .._validation import check_positive_int

t = sp.Symbol("t", nonnegative=True)
C = sp.Symbol("C", positive=True)
P = sp.Symbol("P", positive=True)
S = sp.Symbol("S", real=True)
alpha = sp.Symbol("alpha", positive=True)
P0 = sp.Symbol("P_0", positive=True)
S0 = sp.Symbol("S_0", real=True)
x, y = sp.symbols("x y", real=True)


def weights(M: int):
    """Symbols v_1..v_M, w_1..w_M (real).

    The weights of the D = Z = 1 linear network of A Prop 10 (App. A.4).
    """
    M = check_positive_int(M, "M")
    v = sp.symbols(f"v_1:{M + 1}", real=True)
    w = sp.symbols(f"w_1:{M + 1}", real=True)
    return v, w


def network(M: int, inp):
    """f(x) = (1/√M) Σ_m w_m v_m x: the two-layer network (A2) with D = Z = 1 and φ(a) = a."""
    v, w = weights(M)
    return sum(w[m] * v[m] for m in range(M)) * inp / sp.sqrt(M)


def p_and_s(M: int):
    r"""P = (1/M) Σ (v_m² + w_m²) and S = (1/M) Σ v_m w_m as expressions in the weights.

    The two quantities of A Prop 10: $P = \frac{1}{M}\sum_m (v_m^2 + w_m^2)$, $S = \frac{1}{M}\sum_m v_m w_m$.
    """
    v, w = weights(M)
    return (sum(v[m] ** 2 + w[m] ** 2 for m in range(M)) / M, sum(v[m] * w[m] for m in range(M)) / M)


class LossReduction(NamedTuple):
    """The loss of A Prop 10's network reduced to P and S (A App. A.4), with the residual sympy leaves (zero when the reduction holds)."""
    loss: sp.Expr
    """−(1/N) Σ_n f(x_n)(f(x_n⁺) − f(x_n⁻)) in the weights and data."""
    C: sp.Expr
    """(1/N) Σ_n x_n (x_n⁺ − x_n⁻)."""
    residual: sp.Expr
    """loss − (−C M S²), expanded: 0."""


@functools.cache
def triplet_loss_reduction(N: int, M: int) -> LossReduction:
    """The linear triplet loss of a D = Z = 1 linear network is −C M S² (A App. A.4)."""
    N, M = check_positive_int(N, "N"), check_positive_int(M, "M")
    xs = sp.symbols(f"x_1:{N + 1}", real=True)
    xp = sp.symbols(f"xp_1:{N + 1}", real=True)
    xn = sp.symbols(f"xn_1:{N + 1}", real=True)
    loss = -sum(network(M, xs[n]) * (network(M, xp[n]) - network(M, xn[n])) for n in range(N)) / N
    c_expr = sum(xs[n] * (xp[n] - xn[n]) for n in range(N)) / N
    _, s_expr = p_and_s(M)
    return LossReduction(loss, c_expr, sp.expand(loss + c_expr * M * s_expr**2))


@functools.cache
def linear_network_ntk(M: int) -> sp.Expr:
    """K(x, y) = Σ_θ ∂f(x)/∂θ · ∂f(y)/∂θ over θ = (v, w), simplified; equals P x y."""
    v, w = weights(M)
    fx, fy = network(M, x), network(M, y)
    return sp.expand(sum(sp.diff(fx, p) * sp.diff(fy, p) for p in v + w))


@functools.cache
def weight_flow(M: int):
    """Gradient flow of L = −C M S² on the weights: (dv/dt, dw/dt) = (−∂L/∂v, −∂L/∂w), expanded."""
    v, w = weights(M)
    _, s_expr = p_and_s(M)
    L = -C * M * s_expr**2
    return tuple(sp.expand(-sp.diff(L, p)) for p in v), tuple(sp.expand(-sp.diff(L, p)) for p in w)


@functools.cache
def ps_system(M: int):
    """(dP/dt, dS/dt) by the chain rule through the weight flow, as polynomials in the weights."""
    v, w = weights(M)
    p_expr, s_expr = p_and_s(M)
    dv, dw = weight_flow(M)
    dP = sp.expand(sum(sp.diff(p_expr, v[m]) * dv[m] + sp.diff(p_expr, w[m]) * dw[m] for m in range(M)))
    dS = sp.expand(sum(sp.diff(s_expr, v[m]) * dv[m] + sp.diff(s_expr, w[m]) * dw[m] for m in range(M)))
    return dP, dS


def verify_weight_level(M: int, N: int = 2) -> dict:
    """Each weight-level identity of App. A.4 for width M, as booleans (all True)."""
    M, N = check_positive_int(M, "M"), check_positive_int(N, "N")
    v, w = weights(M)
    p_expr, s_expr = p_and_s(M)
    dv, dw = weight_flow(M)
    dP, dS = ps_system(M)
    return {
        "loss_is_minus_C_M_S2": triplet_loss_reduction(N, M).residual == 0,
        "ntk_is_P_x_y": sp.expand(linear_network_ntk(M) - p_expr * x * y) == 0,
        "dv_is_2CS_w": all(sp.expand(dv[m] - 2 * C * s_expr * w[m]) == 0 for m in range(M)),
        "dw_is_2CS_v": all(sp.expand(dw[m] - 2 * C * s_expr * v[m]) == 0 for m in range(M)),
        "dP_is_8CS2": sp.expand(dP - 8 * C * s_expr**2) == 0,
        "dS_is_2CSP": sp.expand(dS - 2 * C * s_expr * p_expr) == 0,
    }


def invariant_rate() -> sp.Expr:
    """d(P² − 4S²)/dt along (dP/dt, dS/dt) = (8CS², 2CSP): simplifies to 0 (A18)."""
    return sp.simplify(2 * P * (8 * C * S**2) - 8 * S * (2 * C * S * P))


def p_ode() -> sp.Expr:
    """dP/dt = 8CS² with S² = P²/4 − α (A18): 2C(P² − 4α), factored."""
    return sp.factor(sp.expand((8 * C * S**2).subs(S**2, P**2 / 4 - alpha)))


@functools.cache
def p_solution() -> sp.Expr:
    """Solve dP/dt = 2C(P² − 4α), P(0) = P0, by separation of variables (the right-hand side of :func:`p_ode`).

    ∫ dP / (2C(P² − 4α)) by partial fractions gives F(P) = (log(P − 2√α) − log(P + 2√α))/(8C√α);
    F(P) − F(P0) = t is exponentiated (e^{8C√α(F(P) − F(P0))} is rational in P) and solved for P.
    (``sympy.dsolve`` with the initial condition fails on this Riccati equation, hence the steps.)
    """
    k = 8 * C * sp.sqrt(alpha)
    F = sp.integrate(sp.apart(1 / p_ode(), P), P)
    lhs = sp.expand(sp.exp(sp.expand(k * (F - F.subs(P, P0)))))
    sols = sp.solve(sp.Eq(lhs, sp.exp(k * t)), P)
    if len(sols) != 1:
        raise RuntimeError(f"expected one solution P(t), sympy returned {sols}")
    return sols[0]


def beta() -> sp.Expr:
    r"""β = (P0 − 2√α)/(P0 + 2√α).

    A Prop 10: $\beta = (P_0 - 2\sqrt\alpha)/(P_0 + 2\sqrt\alpha)$.
    """
    return (P0 - 2 * sp.sqrt(alpha)) / (P0 + 2 * sp.sqrt(alpha))


def closed_form() -> sp.Expr:
    """The paper's P(t) = 2√α (1 + β e^{8C√α t}) / (1 − β e^{8C√α t}) (App. A.4)."""
    e = beta() * sp.exp(8 * C * sp.sqrt(alpha) * t)
    return 2 * sp.sqrt(alpha) * (1 + e) / (1 - e)


def verify_closed_form() -> dict:
    r"""The closed form solves dP/dt = 2C(P² − 4α), starts at P0, and equals :func:`p_solution`.

    A Prop 10: $\dot P = 2C(P^2 - 4\alpha)$.
    """
    Pt = closed_form()
    residual = sp.simplify(sp.diff(Pt, t) - p_ode().subs(P, Pt))
    start = sp.simplify(Pt.subs(t, 0) - P0)
    same = sp.simplify(p_solution() - Pt)
    return {"solves_ode": residual == 0, "initial_value": start == 0, "matches_separation": same == 0}


@functools.cache
def blowup_time() -> sp.Expr:
    """t̄ solving 1 − β e^{8C√α t̄} = 0, the pole of P(t) (0 < β < 1).

    Solved for the exponent y = 8C√α t̄ with β a positive symbol (one real root, y = −log β), then
    t̄ = y / (8C√α) with β substituted.
    """
    y_sym = sp.Symbol("y", real=True)
    b = sp.Symbol("beta", positive=True)
    sols = sp.solve(sp.Eq(1 - b * sp.exp(y_sym), 0), y_sym)
    if len(sols) != 1:
        raise RuntimeError(f"expected one real blow-up exponent, sympy returned {sols}")
    return sols[0].subs(b, beta()) / (8 * C * sp.sqrt(alpha))


def verify_blowup_time() -> bool:
    r""":func:`blowup_time` equals log(1/β)/(8C√α).

    A Prop 10: $\bar t = \log(1/\beta)/(8C\sqrt\alpha)$.
    """
    return sp.simplify(sp.expand_log(blowup_time() - sp.log(1 / beta()) / (8 * C * sp.sqrt(alpha)),
                                     force=True)) == 0


def verify_stable_blowup_form() -> bool:
    r"""log(1/β) = 2 atanh(r), r = 2√α/P0 ∈ (0, 1): the overflow-free form used by ``blowup_time``.

    A Prop 10: $\log(1/\beta) = 2\operatorname{atanh}(r)$, $r = 2\sqrt\alpha/P_0$.

    Checked as e^{2 atanh(r)} = (1 + r)/(1 − r) (logarithmic form of atanh) and (1 + r)/(1 − r) = 1/β.
    """
    r = 2 * sp.sqrt(alpha) / P0
    return (sp.simplify((1 + r) / (1 - r) - 1 / beta()) == 0
            and sp.simplify(sp.exp(2 * sp.atanh(r).rewrite(sp.log)) - (1 + r) / (1 - r)) == 0)


@functools.cache
def lambdified_closed_form():
    """NumPy ``f(t, C, alpha, P0)`` of the literal closed form (overflows near and past t̄)."""
    return sp.lambdify((t, C, alpha, P0), closed_form(), modules="numpy")


@functools.cache
def lambdified_blowup_time():
    """NumPy ``f(C, alpha, P0)`` of the derived t̄."""
    return sp.lambdify((C, alpha, P0), blowup_time(), modules="numpy")
