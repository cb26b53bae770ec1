"""The sympy derivations of dynamics.barlow.symbolic, and the numerics checked against them.

Two kinds of check:
  * derivation vs the paper: each derived expression is compared with the formula typed
    from Simon et al. (S) — ``sympy.simplify(derived - expected) == 0``;
  * numerics vs derivation: the package's numerical functions agree with the lambdified
    derived expressions to 1e-12 relative, on ranges where the literal formulas are safe.
"""

import numpy as np
import pytest
import sympy as sp

import dynamics.barlow as bt
from dynamics.barlow import symbolic as sym

RTOL = 1e-12


def assert_rel_close(actual, expected, rtol=RTOL):
    """Max-abs error relative to the largest magnitude of the reference (entries may cross 0)."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape
    scale = max(np.max(np.abs(expected)), np.finfo(float).tiny)
    err = np.max(np.abs(actual - expected)) / scale
    assert err <= rtol, f"relative error {err:.3e} > {rtol:.1e}"


# ---------------------------------------------------------------------------
# Derivations vs the paper's formulas


def test_modewise_ode_is_S12():
    (s, g), rhs = sym.modewise_ode()
    expected = 4 * (1 - g * s**2) * g * s  # S12
    assert sp.simplify(rhs - expected) == 0
    # and it is −∂/∂s of S14
    assert sp.simplify(rhs + sp.diff((1 - g * s**2) ** 2, s)) == 0


def test_modewise_solution_is_S10():
    g, t, s0, u = sym.gamma, sym.t, sym.s0, sym.u
    derived = sym.modewise_solution()
    assert sp.simplify(derived.u_rhs - (-8 * g * (u - g))) == 0
    assert sp.simplify(derived.u_solution - (g + (s0**-2 - g) * sp.exp(-8 * g * t))) == 0
    expected = sp.exp(4 * g * t) / sp.sqrt(s0**-2 + (sp.exp(8 * g * t) - 1) * g)  # S10
    assert sp.simplify(derived.s_solution - expected) == 0
    # γ = 0: the mode does not move
    assert sp.simplify(derived.s_solution.subs(g, 0) - s0) == 0


def test_verify_modewise_solution():
    assert sym.verify_modewise_solution() is True


def test_modewise_limits_are_S13():
    lim = sym.modewise_limits()
    assert sp.simplify(lim["positive"] - sym.gamma_pos ** sp.Rational(-1, 2)) == 0
    assert lim["negative"] == 0
    assert sp.simplify(lim["zero"] - sym.s0) == 0


def test_critical_time_is_S16():
    g, s0 = sym.gamma_pos, sym.s0
    tau = sym.critical_time()
    expected = -sp.log(s0**2 * g) / (8 * g)  # S16
    assert sp.simplify(tau - expected) == 0
    # at τ the two denominator terms of S10 are equal
    assert sp.simplify(g * sp.exp(8 * g * tau) - s0**-2) == 0


@pytest.mark.parametrize("d, m", [(1, 2), (2, 2), (2, 3)])
def test_matrix_gradient_is_S6(d, m):
    assert sym.verify_matrix_gradient(d, m) is True
    grad = sym.matrix_gradient(d, m)
    W, G = sym.weight_matrix(d, m), sym.feature_correlation_matrix(m)
    assert G == G.T
    expected = -4 * (W * G * W.T - sp.eye(d)) * W * G  # S6: dW/dt
    assert all(sp.expand(e) == 0 for e in (-grad - expected))


def test_matrix_gradient_detects_a_wrong_formula():
    """The verifier is not vacuous: a gradient missing its factor 4 or Γ is rejected."""
    d, m = 2, 2
    W, G = sym.weight_matrix(d, m), sym.feature_correlation_matrix(m)
    grad = sym.matrix_gradient(d, m)
    wrong = [2 * (W * G * W.T - sp.eye(d)) * W * G, 4 * (W * G * W.T - sp.eye(d)) * W]
    for w in wrong:
        assert not all(sp.expand(e) == 0 for e in (grad - w))


@pytest.mark.parametrize("d, m", [(2, 3), (3, 5)])
def test_appendix_c_system_is_S45(d, m):
    assert sym.verify_appendix_c_system(d, m) is True
    sysc = sym.appendix_c_system(d, m)
    A, Lam = sysc.A, sp.diag(*sysc.gammas)
    expected = (sp.eye(d) - A * Lam * A.T) * A * Lam  # S45
    assert all(sp.expand(e) == 0 for e in (sysc.rhs_s45 - expected))


def test_appendix_c_reduction_for_any_orthogonal_U_V():
    assert sym.verify_appendix_c_reduction() is True


def test_appendix_c_solution_solves_S46():
    assert sym.verify_appendix_c_solution() is True
    sol = sym.appendix_c_approximate_solution()
    g_j, g_k, s0, a0, t = sol.gamma_j, sol.gamma_k, sol.s0, sol.a0, sol.t
    s47 = sp.exp(g_j * t) / sp.sqrt(s0**-2 + (sp.exp(2 * g_j * t) - 1) * g_j)
    assert sp.simplify(sol.s_j - s47) == 0
    assert sp.simplify(sol.a_jk - a0 * (s47 / s0) ** (g_k / g_j)) == 0


def test_appendix_c_approximate_rhs_on_diagonal_is_S12_rescaled():
    d, m = 2, 3
    rhs = sym.appendix_c_approximate_rhs(d, m)
    A, gs = sym.coefficient_matrix(d, m), sym.eigenvalue_symbols(m)
    for j in range(d):
        s = A[j, j]
        assert sp.expand(rhs[j, j] - (1 - gs[j] * s**2) * gs[j] * s) == 0
        for k in range(m):
            assert sp.expand(rhs[j, k] - (1 - gs[j] * s**2) * gs[k] * A[j, k]) == 0


def test_appendix_c_first_order_remainder():
    d, m = 2, 3
    R = sym.appendix_c_first_order_remainder(d, m)
    A, gs = sym.coefficient_matrix(d, m), sym.eigenvalue_symbols(m)
    for j in range(d):
        for k in range(m):
            if k >= d or j == k:
                expected = 0
            else:
                sj, sk = A[j, j], A[k, k]
                expected = -gs[k] * sk * (gs[k] * sk * A[j, k] + gs[j] * sj * A[k, j])
            assert sp.expand(R[j, k] - expected) == 0


# ---------------------------------------------------------------------------
# Numerics of dynamics.barlow vs the lambdified derivations


@pytest.fixture
def rng():
    return np.random.default_rng(20230417)


def test_singular_value_rhs_matches_derivation(rng):
    f = sym.lambdified_modewise_rhs()
    s = rng.uniform(-3, 3, 200)
    g = rng.uniform(-2, 2, 200)
    assert_rel_close(bt.singular_value_rhs(s, g), f(s, g))
    for si, gi in zip(s[:20], g[:20]):
        assert abs(bt.singular_value_rhs(si, gi) - f(si, gi)) <= RTOL * abs(f(si, gi))


def test_aligned_singular_values_match_derivation(rng):
    f = sym.lambdified_aligned_singular_values()
    t = np.linspace(0.0, 5.0, 51)
    gammas = np.concatenate([rng.uniform(-2, 2, 30), [0.0, 2.0, -2.0, 1e-8, -1e-8]])
    s0 = np.exp(rng.uniform(np.log(1e-3), np.log(2.0), gammas.size))
    got = bt.aligned_singular_values(t, gammas, s0)
    expected = f(t[:, None], gammas[None, :], s0[None, :])
    assert np.all(expected > 0)
    # entrywise relative: every value is positive and the literal S10 is well conditioned here
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0)


def test_critical_times_match_derivation(rng):
    f = sym.lambdified_critical_time()
    gammas = rng.uniform(0.01, 3.0, 50)
    s0 = np.exp(rng.uniform(np.log(1e-9), np.log(2.0), 50))
    np.testing.assert_allclose(bt.critical_times(gammas, s0), f(gammas, s0), rtol=RTOL, atol=0)


def test_flow_rhs_matches_derivation(rng):
    d, m = 2, 3
    f = sym.lambdified_flow_rhs(d, m)
    for _ in range(10):
        W = rng.normal(size=(d, m))
        X = rng.normal(size=(m, m))
        Gamma = (X + X.T) / 2
        assert_rel_close(bt.flow_rhs(W, Gamma), f(W, Gamma))
    # one case by literal substitution into the symbolic gradient (no lambdify)
    Wsym, Gsym = sym.weight_matrix(d, m), sym.feature_correlation_matrix(m)
    subs = {Wsym[i, j]: sp.Float(W[i, j], 30) for i in range(d) for j in range(m)}
    subs.update({Gsym[i, j]: sp.Float(Gamma[i, j], 30) for i in range(m) for j in range(i, m)})
    literal = np.array((-sym.matrix_gradient(d, m)).subs(subs).evalf(30), dtype=float)
    assert_rel_close(bt.flow_rhs(W, Gamma), literal)


def test_appendix_c_rhs_matches_derivation(rng):
    for d, m in [(2, 3), (3, 5)]:
        f = sym.lambdified_appendix_c_rhs(d, m)
        for _ in range(5):
            A = rng.normal(size=(d, m))
            gammas = np.sort(rng.uniform(-1, 2, m))[::-1]
            assert_rel_close(bt.appendix_c_rhs(A, gammas), f(A, gammas))


@pytest.mark.parametrize("scale", [1e-9, 1e-2, 0.5])
def test_appendix_c_solution_matches_derivation(rng, scale):
    d, m = 3, 5
    f = sym.lambdified_appendix_c_solution()
    gammas = 2.0 ** -np.arange(1, m + 1)  # the paper's Fig 6 spectrum
    A0 = np.triu(rng.normal(size=(d, m))) * scale
    A0[np.arange(d), np.arange(d)] = np.abs(A0[np.arange(d), np.arange(d)]) + 0.1 * scale
    t = np.linspace(0.0, 60.0, 61)  # rescaled time; 2 γ_1 t <= 60, no overflow
    got = bt.appendix_c_solution(A0, gammas, t)
    expected = f(A0, gammas, t)
    assert got.shape == expected.shape == (t.size, d, m)
    nz = expected != 0
    assert np.array_equal(got != 0, nz)
    np.testing.assert_allclose(got[nz], expected[nz], rtol=RTOL, atol=0)
