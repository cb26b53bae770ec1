"""Closed forms, flow and validation of dynamics.barlow (S §4, App. C)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamics import barlow
from dynamics._integrate import IntegrationError, integrate


def _pairs(n=300, m=6, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, m)) * np.sqrt(2.0 ** -np.arange(m))
    return z + 0.1 * rng.standard_normal((n, m)), z + 0.1 * rng.standard_normal((n, m))


def _literal_s10(t, g, s0):
    return np.exp(4 * g * t) / np.sqrt(s0**-2 + (np.exp(8 * g * t) - 1) * g)


def test_cross_correlation_and_loss_from_embeddings_agree():
    x, xp = _pairs()
    G = barlow.cross_correlation(x, xp)
    W = np.random.default_rng(1).standard_normal((3, 6))
    assert np.allclose(G, G.T)
    # C from embeddings (S2) equals W Γ W^T (S4)
    assert np.allclose(barlow.cross_correlation(x @ W.T, xp @ W.T), W @ G @ W.T, atol=1e-12)
    assert barlow.loss(W, G) == pytest.approx(barlow.loss_from_embeddings(x @ W.T, xp @ W.T), rel=1e-12)


def test_flow_rhs_is_minus_autodiff_gradient():
    x, xp = _pairs()
    G = barlow.cross_correlation(x, xp)
    W = np.random.default_rng(2).standard_normal((3, 6))
    auto = jax.grad(lambda w: jnp.sum((w @ G @ w.T - jnp.eye(3)) ** 2))(jnp.asarray(W))
    assert np.allclose(barlow.flow_rhs(W, G), -np.asarray(auto), rtol=1e-12, atol=1e-12)


def test_aligned_matches_literal_formula_in_safe_range():
    t = np.linspace(0, 3, 31)
    g = np.array([1.3, 0.2, 0.0, -0.7])
    s0 = np.array([1e-3, 0.5, 0.8, 1.5])
    expected = np.stack([_literal_s10(t, gi, si) for gi, si in zip(g, s0)], axis=1)
    assert np.allclose(barlow.aligned_singular_values(t, g, s0), expected, rtol=1e-13, atol=0)


def test_extreme_arguments_finite():
    t = np.array([0.0, 1e-300, 1.0, 1e6, 1e12])
    g = np.array([1e3, -1e3, 1e-12, -1e-12, 0.0])
    s0 = np.array([1e-12, 1e-12, 1e3, 1e-12, 1e-12])
    s = barlow.aligned_singular_values(t, g, s0)
    assert np.all(np.isfinite(s)) and np.all(s >= 0)
    assert np.all(np.isfinite(barlow.log_aligned_singular_values(t[:4], g, s0)))


def test_negative_and_zero_initial_values_mirror_and_stay():
    t = np.linspace(0, 5, 11)
    s_pos = barlow.aligned_singular_values(t, [0.8], [1e-2])
    s_neg = barlow.aligned_singular_values(t, [0.8], [-1e-2])
    assert np.array_equal(s_neg, -s_pos)
    assert np.all(barlow.aligned_singular_values(t, [0.8], [0.0]) == 0)


@settings(max_examples=40, deadline=None)
@given(g=st.floats(-50, 50), s0=st.floats(1e-12, 20))
def test_monotone_approach_to_s13_limits(g, s0):
    t = np.concatenate([[0.0], np.geomspace(1e-6, 1e3 / max(abs(g), 1e-6), 200)])
    s = barlow.aligned_singular_values(t, [g], [s0])[:, 0]
    assert np.all(np.isfinite(s))
    limit = g**-0.5 if g > 0 else (s0 if g == 0 else 0.0)
    dist = np.abs(s - limit)
    assert np.all(np.diff(dist) <= 1e-12 * max(limit, s0)), "approach to S13 limit not monotone"
    if abs(g) >= 1e-6:  # the horizon covers 1e3 relaxation times: the limit is reached
        assert dist[-1] <= 1e-6 * max(limit, s0) + 1e-300


@settings(max_examples=60, deadline=None)
@given(log_g=st.floats(-12, 3), sign=st.sampled_from([-1.0, 0.0, 1.0]), log_s0=st.floats(-300, 3),
       log_t=st.floats(-300, 12))
def test_s10_finite_and_bounded_over_stated_ranges(log_g, sign, log_s0, log_t):
    # S10 (and its log form) over |γ| in [1e-12, 1e3], s(0) in [1e-300, 1e3], t in [0, 1e12]: finite,
    # and s(t) lies between s(0) and the S13 limit (γ^{-1/2} for γ > 0, 0 for γ < 0).
    g, s0 = sign * 10.0**log_g, 10.0**log_s0
    t = np.array([0.0, 10.0**log_t])
    s = barlow.aligned_singular_values(t, [g], [s0])[:, 0]
    assert np.all(np.isfinite(s)) and s[0] == pytest.approx(s0, rel=1e-14)
    limit = g**-0.5 if g > 0 else (s0 if g == 0 else 0.0)
    lo, hi = min(s0, limit), max(s0, limit)
    assert lo * (1 - 1e-12) <= s[1] <= hi * (1 + 1e-12)
    assert np.all(np.isfinite(barlow.log_aligned_singular_values(t, [g], [s0])))


_S12 = lambda t, s, g: 4.0 * (1.0 - g * s**2) * g * s  # noqa: E731


@settings(max_examples=15, deadline=None)
@given(g=st.floats(-3, 3), s0=st.floats(1e-6, 3))
def test_s10_equals_integrated_s12(g, s0):
    t = np.linspace(0.0, 4.0, 9)
    s_int = integrate(_S12, jnp.asarray([s0]), t, jnp.asarray(g), rtol=1e-12, atol=0.0)[:, 0]
    s_cf = barlow.aligned_singular_values(t, [g], [s0])[:, 0]
    assert np.allclose(s_int, s_cf, rtol=1e-9, atol=0)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_loss_invariant_under_left_rotation(seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((5, 5))
    G = A + A.T
    W = rng.standard_normal((3, 5))
    U = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    assert barlow.loss(U @ W, G) == pytest.approx(barlow.loss(W, G), rel=1e-10, abs=1e-12)


def test_critical_time_is_half_point_of_eigenvalue():
    g = np.array([1.0, 0.3, 0.05])
    s0 = np.array([1e-8, 1e-8, 1e-8])
    tau = barlow.critical_times(g, s0)
    lam = np.array([barlow.embedding_eigenvalues([tau[j]], g, s0)[0, j] for j in range(3)])
    assert np.allclose(lam, 0.5, atol=1e-6)
    assert np.isinf(barlow.critical_times([-1.0], [1e-3])[0])


def test_stepwise_loss_counts_unlearned_modes():
    g, s0 = np.array([1.0, 0.5, 0.25]), np.full(3, 1e-6)
    tau = barlow.critical_times(g, s0)
    t = np.array([0.0, 0.5 * (tau[0] + tau[1]), 0.5 * (tau[1] + tau[2]), 2 * tau[2]])
    assert np.array_equal(barlow.stepwise_loss(t, g, s0), [3, 2, 1, 0])
    # and the exact S14 loss sits on those plateaus
    assert np.allclose(barlow.aligned_loss(t, g, s0), [3, 2, 1, 0], atol=0.02)


def test_alignment_transform_matches_gram_schmidt():
    x, xp = _pairs(m=6)
    G = barlow.cross_correlation(x, xp)
    W0 = 1e-3 * np.random.default_rng(4).standard_normal((3, 6))
    U, s0, gammas, V = barlow.small_init_alignment(W0, G)
    assert np.allclose(s0, barlow.effective_initial_singular_values(W0, G), rtol=1e-12)
    Wstar0 = barlow.alignment_transform(W0 @ V.T) @ V
    assert np.allclose(Wstar0, U @ (s0[:, None] * V[:3]), atol=1e-15)
    assert np.allclose(barlow.small_init_prediction(W0, G, [0.0])[0], Wstar0, atol=1e-15)
    # 𝒜 is idempotent and has the QR diagonal as singular values
    A = barlow.alignment_transform(W0 @ V.T)
    assert np.allclose(barlow.alignment_transform(A), A, atol=1e-15)
    assert np.allclose(np.linalg.svd(A, compute_uv=False), np.sort(s0)[::-1], rtol=1e-12)


def test_top_spectral_solution_has_zero_loss():
    x, xp = _pairs()
    G = barlow.cross_correlation(x, xp)
    W = barlow.top_spectral_solution(G, 3)
    assert barlow.loss(W, G) < 1e-20
    g, _ = barlow.spectrum(G)
    assert np.linalg.norm(W) ** 2 == pytest.approx(np.sum(1 / g[:3]), rel=1e-12)


def test_gradient_flow_scipy_and_diffrax_agree():
    x, xp = _pairs()
    G = barlow.cross_correlation(x, xp)
    W0 = 1e-2 * np.random.default_rng(5).standard_normal((3, 6))
    t = np.linspace(0, 10, 11)
    a = barlow.gradient_flow(W0, G, t, rtol=1e-11, atol=1e-16)
    b = barlow.gradient_flow(W0, G, t, backend="scipy", rtol=1e-11, atol=1e-16)
    assert np.allclose(a, b, rtol=1e-7, atol=1e-9)
    assert np.array_equal(a[0], W0)


def test_gradient_flow_eigenbasis_equals_literal_S6():
    rng = np.random.default_rng(3)
    m, d = 12, 3
    A = rng.standard_normal((m, m))
    Gamma = A @ A.T / m - 0.3 * np.eye(m)  # indefinite, as Γ can be
    W0 = 0.1 * rng.standard_normal((d, m))
    t = np.linspace(0.0, 5.0, 7)
    for backend in ("diffrax", "scipy"):
        lit = barlow.gradient_flow(W0, Gamma, t, backend=backend, eigenbasis=False)
        rot = barlow.gradient_flow(W0, Gamma, t, backend=backend)
        assert np.max(np.abs(rot - lit)) < 1e-8 * np.max(np.abs(lit))
        assert np.array_equal(rot[0], W0)
    batch = barlow.gradient_flow(np.stack([W0, 2 * W0]), Gamma, t)
    assert np.max(np.abs(batch[0] - rot)) < 1e-8 * np.max(np.abs(rot)) and np.array_equal(batch[1, 0], 2 * W0)


def test_gradient_flow_reports_exhausted_budget():
    x, xp = _pairs()
    G = barlow.cross_correlation(x, xp)
    with pytest.raises(IntegrationError, match="max_steps"):
        barlow.gradient_flow(np.ones((3, 6)), G, [0.0, 100.0], max_steps=3)


def test_appendix_c_solution_diagonal_is_rescaled_s10():
    g = 2.0 ** -np.arange(1, 6)
    A0 = np.triu(1e-9 * np.ones((3, 5)))
    t = np.linspace(0, 100, 7)
    A = barlow.appendix_c_solution(A0, g, t)
    diag = np.stack([A[:, j, j] for j in range(3)], axis=1)
    assert np.allclose(diag, barlow.aligned_singular_values(t / 4, g[:3], np.diag(A0)), rtol=1e-13)
    assert np.all(A[:, 1, 0] == 0) and np.all(A[:, 2, :2] == 0)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: barlow.loss(np.ones((2, 3)), np.array([[1.0, 2, 0], [0, 1, 0], [0, 0, 1]])), "Gamma must be symmetric"),
        (lambda: barlow.loss(np.full((2, 3), np.nan), np.eye(3)), "W must be finite"),
        (lambda: barlow.loss(np.ones((2, 4)), np.eye(3)), "W has 4 columns"),
        (lambda: barlow.loss(np.ones(3), np.eye(3)), "W must be 2-D"),
        (lambda: barlow.aligned_singular_values([-1.0], [1.0], [1.0]), "t must be non-negative"),
        (lambda: barlow.aligned_singular_values([2.0, 1.0], [1.0], [1.0]), "t must be non-decreasing"),
        (lambda: barlow.aligned_singular_values([1.0], [1.0, 2.0], [1.0, 2.0, 3.0]), "s0 must have the same length"),
        (lambda: barlow.aligned_singular_values([1.0], [np.inf], [1.0]), "gammas must be finite"),
        (lambda: barlow.critical_times([1.0], [0.0]), "s0 must be non-zero"),
        (lambda: barlow.cross_correlation(np.ones((3, 2)), np.ones((4, 2))), "same shape"),
        (lambda: barlow.gradient_flow(np.ones((2, 3)), np.eye(3), [1.0], backend="euler"), "backend must be one of"),
        (lambda: barlow.alignment_transform(np.ones((4, 2))), "M must have at least as many columns"),
        (lambda: barlow.top_spectral_solution(np.eye(3), 5), "d must be <= m"),
        (lambda: barlow.top_spectral_solution(np.eye(3), -1), "d must be >= 1"),
        (lambda: barlow.appendix_c_solution(np.ones((2, 3)), [1.0, 0.5, 0.2], [1.0]), "upper-triangular"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_batched_gradient_flow_equals_individual_solves():
    x, xp = _pairs()
    G = barlow.cross_correlation(x, xp)
    W0s = 1e-2 * np.random.default_rng(6).standard_normal((4, 3, 6))
    t = np.linspace(0.5, 5, 4)
    batch = barlow.gradient_flow(W0s, G, t, rtol=1e-11, atol=1e-16)
    assert batch.shape == (4, 4, 3, 6)
    for b in range(4):
        single = barlow.gradient_flow(W0s[b], G, t, rtol=1e-11, atol=1e-16)
        assert np.allclose(batch[b], single, rtol=1e-8, atol=1e-12)
    looped = barlow.gradient_flow(W0s, G, t, backend="scipy", rtol=1e-11, atol=1e-16)
    assert np.allclose(batch, looped, rtol=1e-7, atol=1e-10)
