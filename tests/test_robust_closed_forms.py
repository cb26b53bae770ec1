"""No silent wrong answer in the closed forms, the NTK, the data loaders and the trainer.

Each test is one input on which the code used to return a wrong number (inf, NaN, 0 or blank images)
or fail deep inside NumPy/JAX, checked against a high-precision reference (mpmath) or for a named error.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

import jax.numpy as jnp

from dynamics import barlow, data, kernel, ntk, trainer

# s(0) from 1e-1 down to 1e-300 (s(0)² underflows below ~1e-162), and subnormal values.
S0_DECADES = [10.0 ** -k for k in range(1, 301)]
SUBNORMAL = [1e-310, 3e-315, 1e-320]


def _mp_tau(g, s0):
    """S16 at 60 digits from the float64 inputs."""
    with mp.workdps(60):
        g, s0 = mp.mpf(g), mp.mpf(s0)
        return -mp.log(s0**2 * g) / (8 * g)


def _mp_s10(t, g, s0):
    """S10 literally, at 60 digits (mpmath's exponent range is unbounded)."""
    with mp.workdps(60):
        t, g, s0 = mp.mpf(t), mp.mpf(g), mp.mpf(s0)
        return mp.e ** (4 * g * t) / mp.sqrt(s0**-2 + (mp.e ** (8 * g * t) - 1) * g)


def _rel(a, ref):
    return float(abs(mp.mpf(float(a)) - ref) / abs(ref))


# ------------------------------------------------------------------------------ 1, 4: S16, S10 in logs


@pytest.mark.parametrize("g", [1.0, 0.37, 25.0])
def test_critical_times_match_mpmath_down_to_1e_300_and_subnormal(g):
    s0 = np.array(S0_DECADES + SUBNORMAL)
    tau = barlow.critical_times(np.full(s0.size, g), s0)
    assert np.all(np.isfinite(tau))
    errs = [_rel(ti, _mp_tau(g, si)) for ti, si in zip(tau, s0)]
    assert max(errs) < 1e-14, f"max relative error {max(errs):.2e} at s0 = {s0[int(np.argmax(errs))]:.1e}"
    assert barlow.critical_times([1.0], [1e-300])[0] == pytest.approx(172.69388197455342, rel=1e-14)


def test_stepwise_loss_drops_for_tiny_and_subnormal_init():
    g = np.array([1.0, 1.0, 1.0])
    s0 = np.array([1e-300, 1e-310, 1e-320])
    tau = barlow.critical_times(g, s0)
    t = np.array([0.0, tau[0] - 1, tau[0] + 1, tau[1] + 1, tau[2] + 1])
    assert np.array_equal(barlow.stepwise_loss(t, g, s0), [3, 3, 2, 1, 0])


def test_aligned_singular_values_match_mpmath_for_tiny_and_subnormal_s0():
    gammas = np.array([1.0, 0.5, -0.25, 2.0])
    worst = 0.0
    for s0 in S0_DECADES[::7] + [1e-300] + SUBNORMAL:
        tau = float(_mp_tau(1.0, s0))
        t = np.array([0.0, 0.5 * tau, tau, 2 * tau])
        s = barlow.aligned_singular_values(t, gammas, np.full(4, s0))
        logs = barlow.log_aligned_singular_values(t, gammas, np.full(4, s0))
        for i, ti in enumerate(t):
            for j, g in enumerate(gammas):
                ref = _mp_s10(ti, g, s0)
                # S10's condition number in log space is ~ |log s0| + 8|γ|t (rounding of s0 and t)
                kappa = 1 + 2 * abs(np.log(s0)) + 8 * abs(g) * ti
                log_err = float(abs(mp.mpf(float(logs[i, j])) - mp.log(ref)))
                assert log_err < 4e-16 * kappa, (ti, g, s0, log_err)
                if ref > 1e-300:  # s itself is representable at full precision
                    worst = max(worst, _rel(s[i, j], ref))
                else:  # subnormal/underflowed values: as exact as float64 allows
                    assert abs(float(s[i, j]) - float(ref)) <= 2 * abs(float(ref)) * 1e-13 + 5e-324
    assert worst < 1e-12
    # the subnormal start is not a fixed point: it grows to the S13 limit γ^{-1/2}
    s = barlow.aligned_singular_values([0.0, 1e3], [1.0], [1e-310])[:, 0]
    assert s[0] == 1e-310 and s[1] == pytest.approx(1.0, rel=1e-14)


def test_effective_initial_singular_values_and_alignment_scale_down_to_1e_300():
    rng = np.random.default_rng(0)
    W0 = rng.standard_normal((3, 5))
    Gamma = np.diag([2.0, 1.0, 0.5, 0.25, 0.1])
    ref = barlow.effective_initial_singular_values(W0, Gamma)
    U_ref, s_ref, _, _ = barlow.small_init_alignment(W0, Gamma)
    for scale in (1e-170, 1e-300):
        got = barlow.effective_initial_singular_values(scale * W0, Gamma)
        np.testing.assert_allclose(got / scale, ref, rtol=1e-13)
        U, s0, _, _ = barlow.small_init_alignment(scale * W0, Gamma)
        np.testing.assert_allclose(s0 / scale, s_ref, rtol=1e-13)
        np.testing.assert_allclose(U, U_ref, atol=1e-13)
        M = barlow.alignment_transform(scale * W0)
        np.testing.assert_allclose(M / scale, barlow.alignment_transform(W0), rtol=1e-12, atol=1e-14)


def test_kernel_predictor_accepts_tiny_init_and_gives_log_critical_times():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4))
    xp = x + 0.1 * rng.standard_normal((6, 4))
    est = kernel.KernelBarlowTwins(2).fit(x, xp)
    pred = kernel.barlow_twins_predict(est)
    f0 = rng.standard_normal((12, 2))
    U1, s1 = pred.aligned_init(f0)
    for scale in (1e-301, 1e-310):  # used to be rejected as "rank deficient" (absolute cut-off 1e-300)
        U, s0 = pred.aligned_init(scale * f0)
        np.testing.assert_allclose(s0 / scale, s1, rtol=1e-12)
        np.testing.assert_allclose(U, U1, atol=1e-12)
        tau = pred.critical_times(scale * f0)
        ref = [float(_mp_tau(g, s)) for g, s in zip(pred.gammas, s0)]
        np.testing.assert_allclose(tau, ref, rtol=1e-13)
    with pytest.raises(ValueError, match="rank deficient"):
        pred.aligned_init(np.outer(f0[:, 0], [1.0, 1.0]))  # rank 1


# ------------------------------------------------------------------------------ 2: App. C


def test_appendix_c_solution_tiny_init_has_no_nan_and_matches_mpmath():
    gammas = np.array([3.0, 1.0, 0.5])
    A0 = 1e-300 * np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3]])  # a_13(0) = 0 and the lower entry are 0
    t = np.array([0.0, 100.0, 3000.0])
    A = barlow.appendix_c_solution(A0, gammas, t)
    assert np.all(np.isfinite(A))
    assert np.all(A[:, 1, 0] == 0) and np.all(A[:, 0, 2] == 0)
    for i, ti in enumerate(t):
        s = [_mp_s10(ti / 4, gammas[j], A0[j, j]) for j in range(2)]
        np.testing.assert_allclose(A[i, [0, 1], [0, 1]], [float(v) for v in s], rtol=1e-13)
        with mp.workdps(60):
            for j, k in ((0, 1), (1, 2)):
                ref = mp.mpf(A0[j, k]) * (s[j] / mp.mpf(A0[j, j])) ** (mp.mpf(gammas[k]) / mp.mpf(gammas[j]))
                assert _rel(A[i, j, k], ref) < 1e-12


# ------------------------------------------------------------------------------ 3: erf NTK


def _mp_erf_kernels(x, y):
    """Θ and Σ of the erf network (Williams 1997) at 1300 digits from the float64 inputs."""
    with mp.workdps(1300):
        x = [mp.mpf(float(v)) for v in x]
        y = [mp.mpf(float(v)) for v in y]
        nx, ny = sum(v * v for v in x), sum(v * v for v in y)
        d = sum(a * b for a, b in zip(x, y))
        a, b = 1 + 2 * nx, 1 + 2 * ny
        D = a * b - 4 * d * d
        nngp = 2 / mp.pi * mp.asin(2 * d / mp.sqrt(a * b))
        return nngp + d * 4 / mp.pi / mp.sqrt(D), nngp


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e10, 1e76, 1e78, 1e155, 1e200, 1e300])
def test_erf_ntk_is_finite_and_matches_mpmath_for_huge_inputs(scale):
    rng = np.random.default_rng(2)
    X = scale * rng.standard_normal((4, 3))
    X[1] = X[0]  # parallel
    X[2] = -0.5 * X[0]  # antiparallel: sin θ = 0 exactly
    X[3] *= 1e-3
    K, S = ntk.analytic_ntk(X, X, "erf", return_nngp=True)
    assert np.all(np.isfinite(K)) and np.all(np.isfinite(S))
    for i in range(4):
        for j in range(4):
            k_ref, s_ref = _mp_erf_kernels(X[i], X[j])
            assert _rel(K[i, j], k_ref) < 5e-15, (i, j)
            assert _rel(S[i, j], s_ref) < 5e-15, (i, j)


def test_unbounded_ntk_overflow_is_a_named_error():
    X = np.array([[1e200, 0.0], [-1e200, 1.0]])
    with pytest.raises(ValueError, match="overflows float64"):
        ntk.analytic_ntk(X, X, "relu")


# ------------------------------------------------------------------------------ 5: preconditions


def test_aligned_trajectory_rejects_non_orthogonal_U_and_V():
    V = np.eye(2, 3)
    with pytest.raises(ValueError, match=r"U must have orthonormal rows"):
        barlow.aligned_trajectory(np.array([[1.0, 0.1], [0.0, 1.0]]), [1.0, 1.0], [1.0, 0.5], V, [1.0])
    with pytest.raises(ValueError, match=r"V must have orthonormal rows"):
        barlow.aligned_trajectory(np.eye(2), [1.0, 1.0], [1.0, 0.5], 2.0 * V, [1.0])
    R = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    assert barlow.aligned_trajectory(R, [1.0, 1.0], [1.0, 0.5], V, [0.0, 1.0]).shape == (2, 2, 3)


def test_top_spectral_solution_rejects_non_positive_gammas():
    with pytest.raises(ValueError, match=r"number of positive eigenvalues of Gamma \(0"):
        barlow.top_spectral_solution(-np.eye(3), 2)
    with pytest.raises(ValueError, match=r"d=2 exceeds the number of positive eigenvalues"):
        barlow.top_spectral_solution(np.diag([1.0, 0.0, -1.0]), 2)
    W = barlow.top_spectral_solution(np.diag([4.0, 1.0, -1.0]), 2)
    np.testing.assert_allclose(W @ np.diag([4.0, 1.0, -1.0]) @ W.T, np.eye(2), atol=1e-15)


def test_shifts_that_blank_images_are_rejected():
    with pytest.raises(ValueError, match=r"max_shift must be <= 4"):
        data.digits_pairs(5, augmentation="shift", max_shift=8)
    with pytest.raises(ValueError, match=r"max_shift must be < 8 \(the image side\)"):
        data.random_shifts(np.ones((3, 8, 8)), 8, np.random.default_rng(0))
    x, xp = data.digits_pairs(augmentation="shift", max_shift=4)
    assert np.all(x.max(axis=1) > 0) and np.all(xp.max(axis=1) > 0)


# ------------------------------------------------------------------------------ 6: named errors


def test_effective_initial_singular_values_d_greater_than_m():
    with pytest.raises(ValueError, match=r"W0 must have d <= m"):
        barlow.effective_initial_singular_values(np.ones((4, 3)), np.eye(3))


@pytest.mark.parametrize("rows", [(0, 2), (2, 0)])
def test_ntk_with_no_rows(rows):
    params = {"V": np.ones((3, 2)), "W": np.ones((3, 1))}
    x1, x2 = np.ones((rows[0], 2)), np.ones((rows[1], 2))
    name = "x1" if rows[0] == 0 else "x2"
    with pytest.raises(ValueError, match=rf"{name} must have at least one row"):
        ntk.two_layer_ntk(params, x1, x2)
    with pytest.raises(ValueError, match=rf"{name} must have at least one row"):
        ntk.analytic_ntk(x1, x2, "tanh")


@pytest.mark.parametrize("loss_fn, match", [
    (lambda p: jnp.sum(p).astype(jnp.int32), r"loss_fn\(params\) must return a real floating-point scalar"),
    (lambda p: jnp.sum(p) + 0j, r"loss_fn\(params\) must return a real floating-point scalar"),
    (lambda p: float(np.sum(np.asarray(p))), r"loss_fn\(params\) could not be traced by JAX"),
])
def test_gradient_descent_loss_that_is_not_a_real_scalar(loss_fn, match):
    with pytest.raises(TypeError, match=match):
        trainer.gradient_descent(loss_fn, jnp.ones(3), lr=0.1, n_steps=2)


def test_train_supervised_with_no_rows():
    with pytest.raises(ValueError, match=r"x must have at least one row"):
        trainer.train_supervised(lambda p, x: x @ p, jnp.ones((2, 1)), np.ones((0, 2)), np.ones((0, 1)), lr=0.1,
                                 n_steps=2)


@pytest.mark.parametrize("record_steps", [None, [2, 4]])
def test_model_non_finite_at_initialisation_is_not_blamed_on_the_learning_rate(record_steps):
    def apply_fn(p, x):
        return jnp.log(-x) @ p  # NaN for positive x

    with pytest.raises(trainer.NonFiniteError, match=r"at initialisation") as info:
        trainer.train_supervised(apply_fn, jnp.ones((2, 1)), np.ones((3, 2)), np.ones((3, 1)), lr=0.1, n_steps=4,
                                 record_steps=record_steps)
    assert info.value.step == 0
    assert "learning rate plays no part" in str(info.value)


def test_zero_d_jax_scalars_as_numbers():
    x = np.random.default_rng(3).standard_normal((4, 2))
    half = jnp.asarray(0.5)
    _, hist = trainer.train_supervised(lambda p, x: x @ p, jnp.zeros((2, 1)), x, x[:, :1], lr=jnp.asarray(0.1),
                                       n_steps=3)
    assert hist.lr == 0.1
    np.testing.assert_allclose(barlow.random_init_singular_values(2, jnp.asarray(0.1)), [0.1 * np.sqrt(2), 0.1])
    assert trainer.init_linear(2, 3, jnp.asarray(1e-3)).shape == (2, 3)
    assert data.gaussian_pairs(3, 2, noise=jnp.asarray(0.1))[0].shape == (3, 2)
    np.testing.assert_allclose(kernel.rbf_kernel(x, x, gamma=half), kernel.rbf_kernel(x, x, gamma=0.5))
    est = kernel.KernelBarlowTwins(1, rtol=jnp.asarray(1e-10)).fit(x, x + 0.1)
    assert est.gammas_.shape == (1,)
    with pytest.raises(ValueError, match=r"gamma must be a finite number > 0"):
        kernel.rbf_kernel(x, x, gamma=jnp.asarray(-1.0))
    with pytest.raises(ValueError, match=r"lr must be finite and > 0"):
        trainer.gradient_descent(lambda p: jnp.sum(p**2), jnp.ones(2), lr=jnp.asarray(0.0), n_steps=1)
    with pytest.raises(ValueError, match=r"sigma must be finite and > 0"):
        barlow.random_init_singular_values(2, jnp.asarray(np.nan))


@pytest.mark.parametrize("content", [b"\x00garbage" * 20, b"", b"\x80\x02}q\x00(X"])
def test_garbage_cifar_file_is_a_value_error_naming_the_file(tmp_path, content):
    path = tmp_path / "data_batch_1"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"data_batch_1.* is not a CIFAR-10 batch file"):
        data.load_cifar10_batch(path)
    with pytest.raises(ValueError, match=r"data_batch_1"):
        data.cifar10_pairs(tmp_path, n=1)
