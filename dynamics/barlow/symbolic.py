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
    """Result of :func:`modewise_solution` (all sympy objects)."""

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
    """Symbolic W ∈ R^{d×m} with independent real entries w_ij (1-based names ``w_i_j``)."""
    d, m = check_positive_int(d, "d"), check_positive_int(m, "m")
    return sp.Matrix(d, m, lambda i, j: sp.Symbol(f"w_{i + 1}_{j + 1}", real=True))


def feature_correlation_matrix(m: int) -> sp.Matrix:
    """Symbolic symmetric Γ ∈ R^{m×m}: entry (i, j) and (j, i) are the same symbol g_ij, i <= j."""
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
    """Symbols γ_1, ..., γ_m (real) for Λ = diag(γ_1, ..., γ_m)."""
    m = check_positive_int(m, "m")
    return sp.symbols(f"gamma_1:{m + 1}", real=True)


class AppendixCSystem(NamedTuple):
    """Result of :func:`appendix_c_system`."""

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
    """Result of :func:`appendix_c_approximate_solution` (generic row j, column k > j)."""

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
