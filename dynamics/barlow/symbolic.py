"""Symbolic (sympy) derivations of the linear Barlow Twins results (S §3–4, App. C).

The numerical functions of :mod:`dynamics.barlow` implement closed forms and
right-hand sides typed from Simon et al. (S).  This module *derives* those
formulas from their premises with sympy, so the tests can check the numerics
against a derivation instead of against a second transcription of the paper:

==========================================  ==========================================
derivation                                  checks
==========================================  ==========================================
:func:`modewise_ode`                        S14 (loss) ⇒ S12 (ODE), s' = −∂L/∂s
:func:`modewise_solution`                   S12 ⇒ S10 via u = s^{-2} and ``dsolve``
:func:`verify_modewise_solution`            S10 satisfies S12, s(0) = s0
:func:`modewise_limits`                     S13 (``limit`` for γ > 0, γ < 0, γ = 0)
:func:`critical_time`                       S16 from s0^{-2} = γ e^{8γτ}
:func:`matrix_gradient`                     S5 ⇒ S6 entry by entry (explicit small W, Γ)
:func:`appendix_c_system`                   S6 ⇒ S45 in the eigenbasis, ∇_A of ‖AΛAᵀ − I‖²
:func:`verify_appendix_c_reduction`         W = U A V, Γ = VᵀΛV: S6 ⇒ U (S45 rhs) V, any U, V
:func:`appendix_c_approximate_solution`     S47–S48 solve S46 exactly
==========================================  ==========================================

``lambdified_*`` functions turn the derived expressions into NumPy callables
(``sympy.lambdify(..., modules="numpy")``); they evaluate the *literal*
formulas, so use them only where those do not overflow (the package's
functions are the stable ones).

sympy is imported when this module is; :mod:`dynamics.barlow` does not import
it eagerly — use ``from dynamics.barlow import symbolic``.

Symbols (module attributes): ``t`` (time, >= 0), ``gamma`` (real eigenvalue
γ of Γ), ``gamma_pos`` / ``gamma_neg`` (γ with a sign assumption), ``s``
(real singular value), ``s0`` (initial singular value, > 0), ``u``
(u = s^{-2} > 0), ``tau`` (critical time).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import sympy as sp

from .._validation import as_array, as_symmetric, as_times, check_positive_int

t = sp.Symbol("t", nonnegative=True)
gamma = sp.Symbol("gamma", real=True)
gamma_pos = sp.Symbol("gamma", positive=True)
gamma_neg = sp.Symbol("gamma", negative=True)
s = sp.Symbol("s", real=True)
s0 = sp.Symbol("s_0", positive=True)
u = sp.Symbol("u", positive=True)
tau = sp.Symbol("tau", real=True)


def _is_zero(expr) -> bool:
    """True when ``expr`` simplifies to exactly 0 (sympy's answer, not a numerical test)."""
    return sp.simplify(expr) == 0


def _matrix_is_zero(M, simplifier=sp.expand) -> bool:
    return all(simplifier(e) == 0 for e in M)


# ---------------------------------------------------------------------------
# Modewise dynamics (S10, S12–S14, S16)


def modewise_loss():
    """Loss of one aligned mode, L_j = (1 − γ_j s_j²)² (S14, one term of the sum)."""
    return (1 - gamma * s**2) ** 2


@functools.lru_cache(maxsize=None)
def modewise_ode():
    """Derive the modewise ODE s' = 4 (1 − γ s²) γ s (S12) from the modewise loss (S14).

    Along an aligned trajectory W = U S Γ^{(<=d)} the loss decouples into
    Σ_j (1 − γ_j s_j²)² (S14) and gradient flow on W is gradient flow on each
    s_j: s_j' = −∂L_j/∂s_j.  The derivative is taken and simplified here.

    Returns
    -------
    ``((s, gamma), rhs)`` — the symbols and the simplified, factored
    right-hand side (equal to 4 (1 − γ s²) γ s).
    """
    rhs = sp.factor(sp.simplify(-sp.diff(modewise_loss(), s)))
    return (s, gamma), rhs


def s10():
    """The paper's closed form, typed from S10: s(t) = e^{4γt} / sqrt(s0^{-2} + (e^{8γt} − 1) γ)."""
    return sp.exp(4 * gamma * t) / sp.sqrt(s0**-2 + (sp.exp(8 * gamma * t) - 1) * gamma)


class ModewiseSolution(NamedTuple):
    r"""Result of :func:`modewise_solution` (all sympy objects).

    The derivation S12 ⇒ S10 (substitution $u = s^{-2}$): $s(t)$ with $\dot s = -\partial L/\partial s$ for the
    modewise loss S14."""

    u_rhs: sp.Expr
    """u' as a function of ``u`` for u = s^{-2}: −8γ(u − γ)."""
    u_solution: sp.Expr
    """u(t) from ``dsolve`` with u(0) = s0^{-2}: γ + (s0^{-2} − γ) e^{−8γt}."""
    s_solution: sp.Expr
    """s(t) = u(t)^{-1/2}, rewritten with e^{4γt} in the numerator (the S10 form)."""


@functools.lru_cache(maxsize=None)
def modewise_solution() -> ModewiseSolution:
    """Solve S12 exactly and recover S10.

    1. With u = s^{-2} (s > 0), u' = −2 s^{-3} s'; inserting S12 (as derived by
       :func:`modewise_ode`) and s = u^{-1/2} gives the *linear* ODE
       u' = −8γ (u − γ).
    2. ``sympy.dsolve`` with u(0) = s0^{-2}: u(t) = γ + (s0^{-2} − γ) e^{−8γt}.
    3. s = u^{-1/2} (positive branch, s0 > 0; s0 < 0 is the mirror image, S is
       odd in s).  Multiplying numerator and denominator by e^{4γt} = sqrt(e^{8γt})
       (γ, t real) gives s(t) = e^{4γt} / sqrt(s0^{-2} + (e^{8γt} − 1) γ) — S10.

    γ is any real number; γ = 0 gives u ≡ s0^{-2}, s ≡ s0.
    """
    (s_sym, _), rhs = modewise_ode()
    s_pos = sp.Symbol("s", positive=True)
    u_rhs = sp.factor(sp.simplify((-2 * s_pos**-3 * rhs.subs(s_sym, s_pos)).subs(s_pos, u**sp.Rational(-1, 2))))
    u_fn = sp.Function("u")
    ode = sp.Eq(u_fn(t).diff(t), u_rhs.subs(u, u_fn(t)))
    u_solution = sp.dsolve(ode, u_fn(t), ics={u_fn(0): s0**-2}).rhs
    # s = u^{-1/2} = e^{4γt} / sqrt(e^{8γt} u); the expansion of e^{8γt} u is the S10 denominator.
    denominator = sp.expand(sp.exp(8 * gamma * t) * u_solution)
    s_solution = sp.exp(4 * gamma * t) / sp.sqrt(denominator)
    return ModewiseSolution(u_rhs=u_rhs, u_solution=u_solution, s_solution=s_solution)


def verify_modewise_solution() -> bool:
    """Check that S10 (typed from the paper) solves S12 and starts at s0.

    Substitutes s(t) of S10 into s' − 4 (1 − γ s²) γ s and simplifies the residual
    to 0; checks s(0) = s0; and checks that the ``dsolve`` derivation of
    :func:`modewise_solution` gives the same function (u^{-1/2} and its S10 rewrite).
    """
    sol = s10()
    (s_sym, g_sym), rhs = modewise_ode()
    residual = sp.diff(sol, t) - rhs.subs(s_sym, sol)
    derived = modewise_solution()
    return (
        _is_zero(residual)
        and _is_zero(sol.subs(t, 0) - s0)
        and _is_zero(derived.s_solution - sol)
        and _is_zero(derived.u_solution ** sp.Rational(-1, 2) - sol)
    )


@functools.lru_cache(maxsize=None)
def modewise_limits() -> dict:
    """Limits t → ∞ of S10 (S13), computed with ``sympy.limit``.

    Returns ``{"positive": γ^{-1/2}, "negative": 0, "zero": s0}`` where the
    ``"positive"`` entry is in the symbol :data:`gamma_pos` (γ > 0) and the
    ``"negative"`` limit is taken with :data:`gamma_neg` (γ < 0).
    """
    sol = s10()
    return {
        "positive": sp.limit(sol.subs(gamma, gamma_pos), t, sp.oo),
        "negative": sp.limit(sol.subs(gamma, gamma_neg), t, sp.oo),
        "zero": sp.limit(sol.subs(gamma, 0), t, sp.oo),
    }


@functools.lru_cache(maxsize=None)
def critical_time():
    """Critical time τ = −log(s0² γ) / (8γ) of a mode with γ > 0 (S16).

    τ is the time at which the growing term γ e^{8γt} in the S10 denominator
    s0^{-2} + (e^{8γt} − 1) γ catches up with the initial term s0^{-2}:
    ``solve(s0^{-2} = γ e^{8γτ}, τ)``.  For small s0 this is where s(t) stops
    growing like s0 e^{4γt} and turns over to γ^{-1/2}.

    Returns the sympy expression for τ in the symbols :data:`gamma_pos` and
    :data:`s0` (``sympy.solve`` returns it as log(1/(γ^{1/8} s0^{1/4}))/γ,
    which equals S16).
    """
    solutions = sp.solve(sp.Eq(s0**-2, gamma_pos * sp.exp(8 * gamma_pos * tau)), tau)
    if len(solutions) != 1:
        raise RuntimeError(f"expected one real critical time, sympy returned {solutions}")
    return solutions[0]


# ---------------------------------------------------------------------------
# Matrix gradient flow (S5, S6)


def weight_matrix(d: int, m: int) -> sp.Matrix:
    r"""Symbolic W ∈ R^{d×m} with independent real entries w_ij (1-based names ``w_i_j``).

    The W of the loss S5, $L = \lVert W \Gamma W^\top - I_d\rVert_F^2$."""
    d, m = check_positive_int(d, "d"), check_positive_int(m, "m")
    return sp.Matrix(d, m, lambda i, j: sp.Symbol(f"w_{i + 1}_{j + 1}", real=True))


def feature_correlation_matrix(m: int) -> sp.Matrix:
    r"""Symbolic symmetric Γ ∈ R^{m×m}: entry (i, j) and (j, i) are the same symbol g_ij, i <= j.

    The Γ of the loss S5, $L = \lVert W \Gamma W^\top - I_d\rVert_F^2$."""
    m = check_positive_int(m, "m")
    return sp.Matrix(m, m, lambda i, j: sp.Symbol(f"g_{min(i, j) + 1}_{max(i, j) + 1}", real=True))


def _frobenius_sq(M):
    return sum(e**2 for e in M)


@functools.lru_cache(maxsize=None)
def matrix_gradient(d: int, m: int) -> sp.Matrix:
    """Entry-wise gradient ∂L/∂w_ij of L = ‖W Γ Wᵀ − I_d‖_F² (S5).

    W = :func:`weight_matrix` ``(d, m)``, Γ = :func:`feature_correlation_matrix`
    ``(m)`` (symmetric).  The loss is written out as a polynomial in the w_ij
    and g_ij and differentiated one entry at a time; nothing about matrix
    calculus is assumed.  The gradient flow is dW/dt = −(this) (S6).
    """
    d, m = check_positive_int(d, "d"), check_positive_int(m, "m")
    W = weight_matrix(d, m)
    Gamma = feature_correlation_matrix(m)
    L = sp.expand(_frobenius_sq(W * Gamma * W.T - sp.eye(d)))
    return sp.Matrix(d, m, lambda i, j: sp.diff(L, W[i, j]))


def verify_matrix_gradient(d: int, m: int) -> bool:
    """Check the entry-wise gradient equals 4 (W Γ Wᵀ − I) W Γ, i.e. S6: dW/dt = −4 (WΓWᵀ − I) W Γ.

    The difference is expanded as a polynomial and must vanish identically.
    """
    W = weight_matrix(d, m)
    Gamma = feature_correlation_matrix(m)
    closed = 4 * (W * Gamma * W.T - sp.eye(d)) * W * Gamma
    return _matrix_is_zero(matrix_gradient(d, m) - closed)


# ---------------------------------------------------------------------------
# Appendix C (S45–S48)


def coefficient_matrix(d: int, m: int) -> sp.Matrix:
    """Symbolic A ∈ R^{d×m} with independent real entries a_jk (names ``a_j_k``), as in S43–S44."""
    d, m = check_positive_int(d, "d"), check_positive_int(m, "m")
    return sp.Matrix(d, m, lambda i, j: sp.Symbol(f"a_{i + 1}_{j + 1}", real=True))


def eigenvalue_symbols(m: int) -> tuple:
    r"""Symbols γ_1, ..., γ_m (real) for Λ = diag(γ_1, ..., γ_m).

    The eigenvalues of Γ in S §4 and S App. C, $\Gamma = V^\top \Lambda V$."""
    m = check_positive_int(m, "m")
    return sp.symbols(f"gamma_1:{m + 1}", real=True)


class AppendixCSystem(NamedTuple):
    r"""Result of :func:`appendix_c_system`.

    The S6 flow in the eigenbasis, S45: $\dot A = -\nabla_A \lVert A \Lambda A^\top - I\rVert_F^2$ for $W = U A
    V$ (S App. C)."""

    A: sp.Matrix
    gammas: tuple
    rhs_s6_time: sp.Matrix
    """dA/dt in the time of S6: −∇_A ‖A Λ Aᵀ − I‖²."""
    rhs_s45: sp.Matrix
    """dA/dt after t → t/4 (S45): rhs_s6_time / 4."""


@functools.lru_cache(maxsize=None)
def appendix_c_system(d: int, m: int) -> AppendixCSystem:
    """The S6 flow in the eigenbasis of Γ: dA/dt = 4 (I − A Λ Aᵀ) A Λ, i.e. S45 after t → t/4.

    Write W = U A Γ^{(<=m)} (S44) with U ∈ O(d) and Γ = Vᵀ Λ V, V = Γ^{(<=m)}
    orthogonal.  Then W Γ Wᵀ = U A Λ Aᵀ Uᵀ, so L(W) = ‖A Λ Aᵀ − I‖_F² — the loss
    does not see U or V — and, because W ↦ U W V^{-1} is an isometry of the
    Frobenius inner product, gradient flow on W is gradient flow on A with the
    loss ‖A Λ Aᵀ − I‖²:  dA/dt = −∇_A ‖A Λ Aᵀ − I‖².  (The same reduction is
    checked directly on S6, for arbitrary orthogonal U and V, by
    :func:`verify_appendix_c_reduction`.)

    Here A is an explicit symbolic d×m matrix, Λ = diag(γ_1..γ_m), and the
    gradient is taken entry by entry.  :func:`verify_appendix_c_system` checks
    it equals 4 (I − A Λ Aᵀ) A Λ.
    """
    A = coefficient_matrix(d, m)
    gammas = eigenvalue_symbols(m)
    Lam = sp.diag(*gammas)
    L = sp.expand(_frobenius_sq(A * Lam * A.T - sp.eye(d)))
    rhs = sp.Matrix(d, m, lambda i, j: -sp.diff(L, A[i, j]))
    return AppendixCSystem(A=A, gammas=gammas, rhs_s6_time=rhs, rhs_s45=rhs / 4)


def verify_appendix_c_system(d: int, m: int) -> bool:
    """Check −∇_A ‖AΛAᵀ − I‖² = 4 (I − A Λ Aᵀ) A Λ entry by entry (so S45 after t → t/4)."""
    sysc = appendix_c_system(d, m)
    A, Lam = sysc.A, sp.diag(*sysc.gammas)
    closed = (sp.eye(d) - A * Lam * A.T) * A * Lam
    return _matrix_is_zero(sysc.rhs_s6_time - 4 * closed) and _matrix_is_zero(sysc.rhs_s45 - closed)


def verify_appendix_c_reduction() -> bool:
    """Check, for *any* orthogonal U (d×d) and V (m×m), that S6 maps to S45 (×4).

    Works with non-commutative symbols U, Uᵀ, A, Aᵀ, V, Vᵀ, Λ, so the result
    holds for every size: with W = U A V and Γ = Vᵀ Λ V, the S6 right-hand side
    −4 (W Γ Wᵀ − I) W Γ is expanded, the relations V Vᵀ = I and Uᵀ U = I are
    applied until nothing changes, and the result must equal
    U · 4 (I − A Λ Aᵀ) A Λ · V.  Hence dA/dt = 4 (I − A Λ Aᵀ) A Λ.
    """
    U, Ut, A, At, V, Vt, Lam = sp.symbols("U U^T A A^T V V^T Lambda", commutative=False)
    W, Wt, G = U * A * V, Vt * At * Ut, Vt * Lam * V
    rhs = sp.expand(-4 * (W * G * Wt - 1) * W * G)
    previous = None
    while rhs != previous:
        previous = rhs
        rhs = sp.expand(rhs.subs({V * Vt: 1, Ut * U: 1}))
    target = sp.expand(U * 4 * (1 - A * Lam * At) * A * Lam * V)
    return sp.expand(rhs - target) == 0


def appendix_c_approximate_rhs(d: int, m: int) -> sp.Matrix:
    """Right-hand side of S46: (I − diag(γ_j s_j²)) A Λ, with s_j = a_jj the diagonal of A."""
    _check_d_le_m(d, m)
    A = coefficient_matrix(d, m)
    gammas = eigenvalue_symbols(m)
    D = sp.diag(*[gammas[j] * A[j, j] ** 2 for j in range(d)])
    return (sp.eye(d) - D) * A * sp.diag(*gammas)


def _check_d_le_m(d, m):
    d, m = check_positive_int(d, "d"), check_positive_int(m, "m")
    if d > m:
        raise ValueError(f"d must be <= m (A is d x m with diagonal s_1..s_d), got d = {d}, m = {m}")


class AppendixCSolution(NamedTuple):
    """Result of :func:`appendix_c_approximate_solution` (generic row j, column k > j).

    The approximate solution S47–S48 of the upper-triangular system S46 (S App. C, S Fig 6)."""

    t: sp.Symbol
    gamma_j: sp.Symbol
    gamma_k: sp.Symbol
    s0: sp.Symbol
    a0: sp.Symbol
    s_j: sp.Expr
    """S47: e^{γ_j t} / sqrt(s_j(0)^{-2} + (e^{2γ_j t} − 1) γ_j)."""
    a_jk: sp.Expr
    """S48 (j < k): a_jk(0) (s_j(t)/s_j(0))^{γ_k/γ_j}."""


@functools.lru_cache(maxsize=None)
def appendix_c_approximate_solution() -> AppendixCSolution:
    """S47–S48, the solution of the approximate system S46, for a generic entry j < k.

    Row j of S46 reads s_j' = (1 − γ_j s_j²) γ_j s_j (S12 in the rescaled time:
    S10 with t → t/4) and a_jk' = (1 − γ_j s_j²) γ_k a_jk.  Symbols: γ_j > 0,
    γ_k real, s_j(0) > 0, a_jk(0) real, t >= 0.  Entries below the diagonal
    start at 0 and stay 0 (their S46 equation is linear and homogeneous).
    """
    g_j = sp.Symbol("gamma_j", positive=True)
    g_k = sp.Symbol("gamma_k", real=True)
    s0_j = sp.Symbol("s_j0", positive=True)
    a0 = sp.Symbol("a_jk0", real=True)
    s_j = sp.exp(g_j * t) / sp.sqrt(s0_j**-2 + (sp.exp(2 * g_j * t) - 1) * g_j)
    a_jk = a0 * (s_j / s0_j) ** (g_k / g_j)
    return AppendixCSolution(t=t, gamma_j=g_j, gamma_k=g_k, s0=s0_j, a0=a0, s_j=s_j, a_jk=a_jk)


def verify_appendix_c_solution() -> bool:
    """Check S47–S48 solve S46 exactly and start at (s_j(0), a_jk(0)).

    Residuals s_j' − (1 − γ_j s_j²) γ_j s_j and a_jk' − (1 − γ_j s_j²) γ_k a_jk
    are simplified to 0 (the second after dividing by a_jk, which is legitimate
    because a_jk ≡ 0 when a_jk(0) = 0 and is otherwise non-zero).  Also checks
    S47 is S10 at time t/4.
    """
    sol = appendix_c_approximate_solution()
    g_j, g_k, s_j, a_jk = sol.gamma_j, sol.gamma_k, sol.s_j, sol.a_jk
    res_s = sp.diff(s_j, t) - (1 - g_j * s_j**2) * g_j * s_j
    res_a = (sp.diff(a_jk, t) - (1 - g_j * s_j**2) * g_k * a_jk) / a_jk
    s10_rescaled = s10().subs({gamma: g_j, s0: sol.s0}).subs(t, t / 4)
    return (
        _is_zero(res_s)
        and _is_zero(res_a)
        and _is_zero(s_j.subs(t, 0) - sol.s0)
        and _is_zero(a_jk.subs(t, 0) - sol.a0)
        and _is_zero(s_j.subs(t, 4 * t) - s10().subs({gamma: g_j, s0: sol.s0}))
        and _is_zero(s_j - s10_rescaled)
    )


@functools.lru_cache(maxsize=None)
def appendix_c_first_order_remainder(d: int, m: int) -> sp.Matrix:
    """First-order (in the off-diagonal size ε) part of S45 − S46.

    With A = S + ε B (S the diagonal part of A, B the off-diagonal part),
    returns the coefficient of ε in (I − AΛAᵀ)AΛ − (I − diag(γ_j s_j²))AΛ,
    i.e. −(S Λ Bᵀ + B Λ Sᵀ) S Λ.  S46 drops these terms; they are the same
    order as the off-diagonal entries themselves, so S46 is accurate only
    while the s_k they carry are small.  Entry (j, k) is
    −γ_k s_k (γ_k s_k b_jk + γ_j s_j b_kj) for k <= d and 0 for k > d; for an
    upper-triangular B that is −γ_k² s_k² b_jk above the diagonal (j < k <= d)
    and −γ_j γ_k s_j s_k b_kj below it — a source that S46 sets to zero.
    """
    _check_d_le_m(d, m)
    eps = sp.Symbol("epsilon")
    A = coefficient_matrix(d, m)
    gammas = eigenvalue_symbols(m)
    Lam = sp.diag(*gammas)
    S = sp.Matrix(d, m, lambda i, j: A[i, j] if i == j else 0)
    B = A - S
    Aeps = S + eps * B
    D = sp.diag(*[gammas[j] * Aeps[j, j] ** 2 for j in range(d)])
    diff = (sp.eye(d) - Aeps * Lam * Aeps.T) * Aeps * Lam - (sp.eye(d) - D) * Aeps * Lam
    return diff.applyfunc(lambda e: sp.expand(e).coeff(eps, 1))


# ---------------------------------------------------------------------------
# NumPy callables of the derived expressions


@functools.lru_cache(maxsize=None)
def lambdified_modewise_rhs():
    """NumPy function ``f(s, gamma)`` of the derived S12 right-hand side (broadcasts)."""
    (s_sym, g_sym), rhs = modewise_ode()
    return sp.lambdify((s_sym, g_sym), rhs, modules="numpy")


@functools.lru_cache(maxsize=None)
def lambdified_aligned_singular_values():
    """NumPy function ``f(t, gamma, s0)`` of the derived S10 (literal form; broadcasts).

    Overflows for 8γt >~ 700 and loses accuracy for tiny s0; use on moderate ranges.
    """
    return sp.lambdify((t, gamma, s0), modewise_solution().s_solution, modules="numpy")


@functools.lru_cache(maxsize=None)
def lambdified_critical_time():
    """NumPy function ``f(gamma, s0)`` of the derived S16 (γ > 0; broadcasts)."""
    return sp.lambdify((gamma_pos, s0), critical_time(), modules="numpy")


def _lambdify_matrix(args, M):
    return sp.lambdify(args, M, modules="numpy")


@functools.lru_cache(maxsize=None)
def lambdified_flow_rhs(d: int, m: int):
    """NumPy function ``f(W, Gamma) -> (d, m)`` of −(derived gradient), the S6 right-hand side.

    ``Gamma`` must be symmetric; its upper triangle is what is substituted.
    """
    d, m = check_positive_int(d, "d"), check_positive_int(m, "m")
    W = weight_matrix(d, m)
    G = feature_correlation_matrix(m)
    g_syms = [G[i, j] for i in range(m) for j in range(i, m)]
    fn = _lambdify_matrix((list(W), g_syms), -matrix_gradient(d, m))

    def flow_rhs(W_num, Gamma_num):
        W_num = as_array(W_num, "W")
        Gamma_num = as_array(Gamma_num, "Gamma")
        if W_num.shape != (d, m) or Gamma_num.shape != (m, m):
            raise ValueError(f"expected W {(d, m)} and Gamma {(m, m)}, got {W_num.shape}, {Gamma_num.shape}")
        as_symmetric(Gamma_num, "Gamma")
        return np.asarray(fn(W_num.ravel(), Gamma_num[np.triu_indices(m)]), dtype=float)

    return flow_rhs


@functools.lru_cache(maxsize=None)
def lambdified_appendix_c_rhs(d: int, m: int):
    """NumPy function ``f(A, gammas) -> (d, m)`` of the derived S45 right-hand side (rescaled time)."""
    sysc = appendix_c_system(d, m)
    fn = _lambdify_matrix((list(sysc.A), list(sysc.gammas)), sysc.rhs_s45)

    def appendix_c_rhs(A_num, gammas_num):
        A_num = as_array(A_num, "A")
        gammas_num = as_array(gammas_num, "gammas")
        if A_num.shape != (d, m) or gammas_num.shape != (m,):
            raise ValueError(f"expected A {(d, m)} and gammas {(m,)}, got {A_num.shape}, {gammas_num.shape}")
        return np.asarray(fn(A_num.ravel(), gammas_num), dtype=float)

    return appendix_c_rhs


@functools.lru_cache(maxsize=None)
def lambdified_appendix_c_solution():
    """NumPy function ``f(A0, gammas, t) -> (T, d, m)`` of S47–S48 (rescaled time of S45).

    Diagonal: s_j(t) of S47; above the diagonal: a_jk(t) of S48; below: 0.
    Literal form — use on moderate ranges.
    """
    sol = appendix_c_approximate_solution()
    s_fn = sp.lambdify((sol.t, sol.gamma_j, sol.s0), sol.s_j, modules="numpy")
    a_fn = sp.lambdify((sol.t, sol.gamma_j, sol.gamma_k, sol.s0, sol.a0), sol.a_jk, modules="numpy")

    def appendix_c_solution(A0, gammas, times):
        A0 = as_array(A0, "A0", ndim=2)
        gammas = as_array(gammas, "gammas", ndim=1)
        times = as_times(times, "times")
        d, m = A0.shape
        if gammas.shape != (m,) or d > m:
            raise ValueError(f"expected A0 (d, m) with d <= m and gammas (m,), got {A0.shape} and {gammas.shape}")
        out = np.zeros((times.size, d, m))
        for j in range(d):
            out[:, j, j] = s_fn(times, gammas[j], A0[j, j])
            for k in range(j + 1, m):
                out[:, j, k] = a_fn(times, gammas[j], gammas[k], A0[j, j], A0[j, k])
        return out

    return appendix_c_solution


__all__ = [
    "AppendixCSolution", "AppendixCSystem", "ModewiseSolution", "appendix_c_approximate_rhs",
    "appendix_c_approximate_solution", "appendix_c_first_order_remainder", "appendix_c_system",
    "coefficient_matrix", "critical_time", "eigenvalue_symbols", "feature_correlation_matrix",
    "gamma", "gamma_neg", "gamma_pos", "lambdified_aligned_singular_values", "lambdified_appendix_c_rhs",
    "lambdified_appendix_c_solution", "lambdified_critical_time", "lambdified_flow_rhs",
    "lambdified_modewise_rhs", "matrix_gradient", "modewise_limits", "modewise_loss", "modewise_ode",
    "modewise_solution", "s", "s0", "s10", "t", "tau", "u", "verify_appendix_c_reduction",
    "verify_appendix_c_solution", "verify_appendix_c_system", "verify_matrix_gradient",
    "verify_modewise_solution", "weight_matrix",
]


# ---------------------------------------------------------------------------
# S App. G: the modified losses (S Fig 9), their aligned-init ODEs, the g_sqr solution, escape times,
# stable learning rates

lam = sp.Symbol("lambda", real=True)
sbar = sp.Symbol("sbar", real=True)
h = sp.Symbol("h", positive=True)
epsilon = sp.Symbol("epsilon", positive=True)
width = sp.Symbol("w", positive=True)
theta = sp.Symbol("theta", positive=True)
_u = sp.Symbol("u", positive=True)
_s_pos = sp.Symbol("s", positive=True)

MODIFICATIONS = ("none", "sqr", "smooth_min", "smooth_eps", "quartic", "hinge")


def g_sqr(x):
    """g_sqr(λ) = sign(λ)|λ|^{1/2} (S App. G.2)."""
    return sp.sign(x) * sp.sqrt(sp.Abs(x))


def modified_spectral_loss(modification: str):
    r"""ℓ(λ) of a modification, written from its definition (S App. G.2–G.3):
    $(1-\lambda)^2$, $(g_{\rm sqr}(\lambda) - 1)^2$, $(\min(\lambda,1) - 1)^2$, $(\min(\lambda, 1+\varepsilon(1-\lambda)) - 1)^2$,
    $(1-\lambda)^4$, $\max(|1-\lambda| - w, 0)^2$."""
    forms = {
        "none": (1 - lam) ** 2,
        "sqr": (g_sqr(lam) - 1) ** 2,
        "smooth_min": (sp.Min(lam, 1) - 1) ** 2,
        "smooth_eps": (sp.Min(lam, 1 + epsilon * (1 - lam)) - 1) ** 2,
        "quartic": (1 - lam) ** 4,
        "hinge": sp.Max(sp.Abs(1 - lam) - width, 0) ** 2,
    }
    if modification not in forms:
        raise ValueError(f"modification must be one of {list(MODIFICATIONS)}, got {modification!r}")
    return forms[modification]


def _region_points(modification):
    """λ as a function of u > 0 in each region where ℓ is one smooth expression (name -> λ(u))."""
    if modification == "sqr":
        return {"positive": _u}
    if modification == "hinge":
        return {"below": 1 - width - _u, "basin": 1 - width * _u / (1 + _u), "above": 1 + width + _u}
    if modification in ("smooth_min", "smooth_eps"):
        return {"below": 1 - _u, "above": 1 + _u}
    return {"all": lam}


@functools.lru_cache(maxsize=None)
def modified_loss_branches(modification: str) -> dict:
    r"""ℓ(λ) on each region as one expression, derived from :func:`modified_spectral_loss`.

    The landscapes of S App. G.2–G.3 (S Fig 9).

    The definition is evaluated at a point λ(u) of the region with u > 0 (e.g. λ = 1 − u below 1), so
    sympy resolves sign, Abs, Min and Max itself; then u is eliminated (u = λ(u)⁻¹).  Returns region ->
    expression in :data:`lam`: e.g. ``"smooth_eps"`` gives below (λ − 1)², above ε²(λ − 1)²; ``"sqr"`` on
    λ > 0 gives (λ^{1/2} − 1)²; ``"hinge"`` gives (1 − w − λ)², 0, (λ − 1 − w)².
    """
    ell = modified_spectral_loss(modification)
    out = {}
    for name, point in _region_points(modification).items():
        if point is lam:
            out[name] = sp.expand(ell)
            continue
        value = sp.simplify(ell.subs(lam, point))
        u_of_lam = sp.solve(sp.Eq(point, lam), _u)
        if len(u_of_lam) != 1:
            raise RuntimeError(f"could not invert the region {name} of {modification}: {u_of_lam}")
        out[name] = sp.simplify(value.subs(_u, u_of_lam[0]))
    return out


def modified_modewise_loss(modification: str) -> dict:
    r"""The landscape $\bar\ell(\bar s) = \ell(\bar s^2)$ of S Fig 9 A–D on each region (region -> expression in
    :data:`sbar`, for $\bar s > 0$)."""
    sb = sp.Symbol("sbar", positive=True)
    return {k: sp.simplify(v.subs(lam, sb**2)).subs(sb, sbar) for k, v in modified_loss_branches(modification).items()}


@functools.lru_cache(maxsize=None)
def modified_modewise_ode(modification: str) -> dict:
    r"""Aligned-init ODE $\dot s = -\partial_s\,\ell(\gamma s^2)$ on each region (s > 0, γ > 0; S12 for "none").

    Returns region -> right-hand side in the symbols ``s`` (positive) and :data:`gamma_pos`;
    ``"sqr"``: $2\gamma^{1/2}(1 - \gamma^{1/2}s)$ — linear in s, hence :func:`modified_sqr_solution`.
    """
    out = {}
    for k, v in modified_loss_branches(modification).items():
        out[k] = sp.factor(sp.simplify(-sp.diff(v.subs(lam, gamma_pos * _s_pos**2), _s_pos)))
    return out


@functools.lru_cache(maxsize=None)
def modified_sqr_solution():
    r"""Solve the g_sqr ODE $\dot s = 2\gamma^{1/2}(1 - \gamma^{1/2}s)$, s(0) = s0, with ``dsolve``:
    $s(t) = \gamma^{-1/2} - (\gamma^{-1/2} - s_0)e^{-2\gamma t}$ (S App. G.2, footnote 26)."""
    rhs = modified_modewise_ode("sqr")["positive"]
    s_fn = sp.Function("s")
    ode = sp.Eq(s_fn(t).diff(t), rhs.subs(_s_pos, s_fn(t)))
    return sp.simplify(sp.dsolve(ode, s_fn(t), ics={s_fn(0): s0}).rhs)


def verify_modified_sqr_solution() -> bool:
    r"""The dsolve solution solves the ODE, starts at s0, and equals γ^{-1/2} − (γ^{-1/2} − s0) e^{−2γt}.

    The $g_{\rm sqr}$ closed form of S App. G.2 (footnote 26), the analogue of S10: $s(t) = \gamma^{-1/2} -
    (\gamma^{-1/2} - s_0)\,e^{-2\gamma t}$."""
    sol = modified_sqr_solution()
    rhs = modified_modewise_ode("sqr")["positive"]
    typed = gamma_pos ** sp.Rational(-1, 2) - (gamma_pos ** sp.Rational(-1, 2) - s0) * sp.exp(-2 * gamma_pos * t)
    return (_is_zero(sp.diff(sol, t) - rhs.subs(_s_pos, sol)) and _is_zero(sol.subs(t, 0) - s0)
            and _is_zero(sol - typed))


@functools.lru_cache(maxsize=None)
def modified_escape_time(modification: str):
    r"""Flow time from λ0 to θ < 1 (below the minimum): $T = \int_{\lambda_0}^{\theta} d\lambda / \dot\lambda$ with
    $\dot\lambda = 2\gamma s\dot s$ expressed in λ = γ s² (``integrate``).  Returns an expression in
    :data:`theta`, ``lambda_0`` (positive) and :data:`gamma_pos`.  ``"hinge"`` needs θ < 1 − w.

    The analogue of S16 for the modifications of S App. G.2 (S App. F for the baseline)."""
    region = {"none": "all", "sqr": "positive", "smooth_min": "below", "smooth_eps": "below",
              "quartic": "all", "hinge": "below"}[modification]
    rhs = modified_modewise_ode(modification)[region]
    lam_pos = sp.Symbol("lambda", positive=True)
    lam0 = sp.Symbol("lambda_0", positive=True)
    s_of_lam = sp.sqrt(lam_pos / gamma_pos)
    lam_dot = sp.simplify((2 * gamma_pos * _s_pos * rhs).subs(_s_pos, s_of_lam))
    x = sp.Symbol("x", positive=True)
    integrand = sp.apart(sp.simplify(1 / lam_dot.subs(lam_pos, x)), x) if modification != "sqr" \
        else sp.simplify(1 / lam_dot.subs(lam_pos, x))
    F = sp.integrate(integrand, x)
    return sp.simplify(F.subs(x, theta) - F.subs(x, lam0))


@functools.lru_cache(maxsize=None)
def modified_curvatures(modification: str) -> tuple:
    r"""One-sided curvatures $(\bar\ell''(1^-), \bar\ell''(1^+))$ of the landscape at $\bar s = 1$ (the minimum;
    for the hinge, the edges of its basin carry the curvature instead, and at $\bar s = 1$ it is 0).

    They set the stable step of S App. G.3 (:func:`modified_local_stable_step`)."""
    sb = sp.Symbol("sbar", positive=True)
    branches = modified_loss_branches(modification)
    names = {"none": ("all", "all"), "sqr": ("positive", "positive"), "smooth_min": ("below", "above"),
             "smooth_eps": ("below", "above"), "quartic": ("all", "all"), "hinge": ("basin", "basin")}[modification]
    return tuple(sp.simplify(sp.diff(branches[n].subs(lam, sb**2), sb, 2).subs(sb, 1)) for n in names)


@functools.lru_cache(maxsize=None)
def modified_local_stable_step(modification: str):
    r"""Largest stable $h = \eta\gamma$ at the minimum: the non-zero root of $(1 - hk_-)(1 - hk_+) = 1$ (the
    two-step multiplier of the piecewise-linear step map reaching −1 … +1 at the boundary; for $k_- = k_+ = k$
    it is $h = 2/k$, i.e. η < 2/ℓ''), ``sympy.oo`` when a curvature is 0.

    S App. G.3 (the η < 1/4 example, S Fig 9 C–D)."""
    k_minus, k_plus = modified_curvatures(modification)
    if k_minus == 0 or k_plus == 0:
        return sp.oo
    roots = [r for r in sp.solve(sp.Eq((1 - h * k_minus) * (1 - h * k_plus), 1), h) if r != 0]
    if len(roots) != 1:
        raise RuntimeError(f"expected one non-zero root, got {roots}")
    return sp.simplify(roots[0])


def appendix_g3_example_lr():
    r"""S App. G.3's example: $L = (1 - s_1^2)^2 + (1 - 10^{-6}s_2^2)^2$; gradient descent is stable at the
    minimum $s = (1, 10^3)$ iff η < 2/(largest Hessian eigenvalue) = 1/4 (returned exactly, a Rational)."""
    s1, s2 = sp.symbols("s_1 s_2", real=True)
    L = (1 - s1**2) ** 2 + (1 - sp.Rational(1, 10**6) * s2**2) ** 2
    H = sp.hessian(L, (s1, s2)).subs({s1: 1, s2: 1000})
    return 2 / max(H.eigenvals())


def _spectral_trace_form(modification, region, C, d):
    """tr ℓ(C) on a region as a function of the entries of a symmetric 2x2 (or any d for polynomials) C."""
    I = sp.eye(d)
    E = C - I
    if modification == "quartic":
        return (E * E * E * E).trace()
    branch = modified_loss_branches(modification)[region]
    if modification == "sqr":  # tr (C^{1/2} − I)² = tr C − 2 tr C^{1/2} + d; 2x2 PSD: tr C^{1/2} = sqrt(tr C + 2 sqrt(det C))
        if d != 2:
            raise ValueError("the g_sqr trace form is written for d = 2")
        return C.trace() - 2 * sp.sqrt(C.trace() + 2 * sp.sqrt(C.det())) + d
    # the remaining branches are a·(λ − b)² (a, b constants): tr a (C − bI)²
    a = sp.Poly(sp.expand(branch), lam).coeff_monomial(lam**2) if branch != 0 else 0
    if a == 0:
        return sp.Integer(0)
    b = sp.solve(sp.diff(branch, lam), lam)[0]
    M = C - b * I
    return a * (M * M).trace()


def verify_modified_matrix_gradient(modification: str, region: str | None = None, d: int = 2, m: int = 3) -> bool:
    r"""At aligned W = [diag(s) 0] (Γ = diag(γ_1..γ_m), its eigenbasis), the entry-wise matrix gradient of
    $L(W) = \mathrm{tr}\,\ell(W\Gamma W^\top)$ on a region equals $-$[diag(modewise right-hand sides) 0].

    tr ℓ(C) is written through matrix operations valid on the region (polynomial branches as
    $\mathrm{tr}\,a(C - bI)^2$, the quartic as $\mathrm{tr}(C - I)^4$, g_sqr for d = 2 as
    $\mathrm{tr}\,C - 2(\mathrm{tr}\,C + 2\det C^{1/2})^{1/2} + 2$), differentiated in every w_ij, and evaluated at
    the aligned point, where the off-diagonal rows must vanish and the diagonal must be $-\dot s_j$ of
    :func:`modified_modewise_ode` (S12's derivation for the modified losses).
    """
    branches = modified_loss_branches(modification)
    region = region or next(iter(branches))
    d, m = check_positive_int(d, "d"), check_positive_int(m, "m")
    W = weight_matrix(d, m)
    gammas = sp.symbols(f"gamma_1:{m + 1}", positive=True)
    C = W * sp.diag(*gammas) * W.T
    L = _spectral_trace_form(modification, region, C, d)
    ss = sp.symbols(f"s_1:{d + 1}", positive=True)
    aligned = {W[i, j]: (ss[i] if i == j else 0) for i in range(d) for j in range(m)}
    rhs = modified_modewise_ode(modification)[region]
    roots = sp.symbols(f"r_1:{m + 1}", positive=True)  # γ_i = r_i², so that sqrt((r_1 s_1 + r_2 s_2)²) simplifies
    squares = {g: r**2 for g, r in zip(gammas, roots)}

    def settle(expr):
        expr = expr.subs(squares)
        expr = expr.replace(lambda e: e.is_Pow and e.exp in (sp.Rational(1, 2), sp.Rational(-1, 2)),
                            lambda e: sp.factor(e.base) ** e.exp)
        return sp.simplify(expr)

    for i in range(d):
        for j in range(m):
            gij = sp.diff(L, W[i, j]).subs(aligned)
            expected = -rhs.subs({_s_pos: ss[i], gamma_pos: gammas[i]}) if i == j else 0
            if settle(gij - expected) != 0:
                return False
    return True


@functools.lru_cache(maxsize=None)
def lambdified_modified_modewise_rhs(modification: str):
    r"""NumPy ``f(s, gamma, epsilon, w)`` of the derived modewise ODE, the region chosen per entry by λ = γ s²
    (s > 0, γ > 0).

    The modewise ODE of a modification of S App. G.2–G.3, the analogue of S12: $\dot s = -\partial \ell(\gamma
    s^2)/\partial s$."""
    ode = modified_modewise_ode(modification)
    fns = {k: sp.lambdify((_s_pos, gamma_pos, epsilon, width), v, modules="numpy") for k, v in ode.items()}

    def rhs(s_num, gamma_num, eps_num=0.1, w_num=0.25):
        s_num = np.asarray(s_num, dtype=float)
        gamma_num = np.asarray(gamma_num, dtype=float)
        lam_num = gamma_num * s_num**2
        vals = {k: np.broadcast_to(np.asarray(f(s_num, gamma_num, eps_num, w_num), dtype=float), lam_num.shape)
                for k, f in fns.items()}
        if modification in ("none", "quartic"):
            return vals["all"].copy()
        if modification == "sqr":
            return vals["positive"].copy()
        if modification == "hinge":
            return np.where(lam_num < 1 - w_num, vals["below"], np.where(lam_num > 1 + w_num, vals["above"],
                                                                           vals["basin"]))
        return np.where(lam_num < 1, vals["below"], vals["above"])

    return rhs


__all__ += [
    "MODIFICATIONS", "appendix_g3_example_lr", "epsilon", "g_sqr", "h", "lam", "lambdified_modified_modewise_rhs",
    "modified_curvatures", "modified_escape_time", "modified_local_stable_step", "modified_loss_branches",
    "modified_modewise_loss", "modified_modewise_ode", "modified_spectral_loss", "modified_sqr_solution", "sbar",
    "theta", "verify_modified_matrix_gradient", "verify_modified_sqr_solution", "width",
]
