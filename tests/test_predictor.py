"""flows.predictor: the frozen-kernel outputs F(t) of dF/dt = −K ∇_F L(F) (S40–S42, A Lemma 9) against
closed forms, an independently integrated flow (scipy's solve_ivp written here) and an explicit NumPy
gradient-descent loop; VICReg in the step mode; step budgets, bad input and program reuse."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.linalg

from dynamics import flows, losses
from dynamics._integrate import IntegrationError

RNG = np.random.default_rng(0)


def _rbf(a, b, gamma=0.5):
    sq = np.sum(a**2, 1)[:, None] + np.sum(b**2, 1)[None, :] - 2 * a @ b.T
    return np.exp(-gamma * np.maximum(sq, 0.0))


def _kernels(n_train, n_test, m=3, seed=0):
    """RBF kernel between training inputs (positive definite) and its test-train rows."""
    rng = np.random.default_rng(seed)
    x, xs = rng.standard_normal((n_train, m)), rng.standard_normal((n_test, m))
    return _rbf(x, x), _rbf(xs, x)


@functools.lru_cache(maxsize=None)
def _quadratic(Y_bytes, shape):
    """L(F) = ½ ‖F − Y‖² (one function object per target, so compiled programs are reused)."""
    Y = jnp.asarray(np.frombuffer(Y_bytes).reshape(shape))
    return lambda F: 0.5 * jnp.sum((F - Y) ** 2)


def quadratic(Y):
    Y = np.ascontiguousarray(Y, dtype=float)
    return _quadratic(Y.tobytes(), Y.shape)


def _vicreg_stacked(n):
    return lambda F: losses.vicreg(F[:n], F[n:])


# ------------------------------------------------------------------ closed forms


def test_quadratic_loss_matches_closed_form_train_and_test():
    """dF/dt = −K(F − Y) ⇒ F(t) = Y + e^{−Kt}(F0 − Y); dF_*/dt = −K_*(F − Y) ⇒
    F_*(t) = F_*(0) − K_* K^{-1} (I − e^{−Kt})(F0 − Y)."""
    K, Ks = _kernels(8, 5)
    Y, F0, Fs0 = RNG.standard_normal((8, 2)), RNG.standard_normal((8, 2)), RNG.standard_normal((5, 2))
    t = np.array([0.0, 0.1, 0.7, 2.0, 5.0])
    predict = flows.predictor(quadratic(Y), K)
    train, test = predict(t, F0, k_test_train=Ks, f_test_0=Fs0)
    assert train.shape == (5, 8, 2) and test.shape == (5, 5, 2)
    for k, tk in enumerate(t):
        E = scipy.linalg.expm(-K * tk)
        ref = Y + E @ (F0 - Y)
        ref_s = Fs0 - Ks @ np.linalg.solve(K, (np.eye(8) - E) @ (F0 - Y))
        assert np.max(np.abs(train[k] - ref)) < 1e-8
        assert np.max(np.abs(test[k] - ref_s)) < 1e-8
    # train only: the same train outputs; f_test_0 defaults to zeros
    assert np.max(np.abs(predict(t, F0) - train)) < 1e-9
    _, test0 = predict(t, F0, k_test_train=Ks)
    assert np.max(np.abs(test0 - (test - Fs0))) < 1e-8


def test_full_kernel_matches_closed_form():
    """Full kernel K[a, b, i, j] = K_s[a, b] B[i, j]: F(t) = Y + e^{−K t}(F0 − Y) with K the (N d, N d) matrix."""
    K_s, _ = _kernels(6, 1)
    B = np.array([[1.0, 0.3], [0.3, 0.5]])
    K4 = np.einsum("ab,ij->abij", K_s, B)
    Kmat = np.kron(K_s, B)  # rows (a, i), a-major: the layout of F.reshape(-1)
    Y, F0 = RNG.standard_normal((6, 2)), RNG.standard_normal((6, 2))
    t = np.array([0.3, 1.5])
    out = flows.predictor(quadratic(Y), K4)(t, F0)
    for k, tk in enumerate(t):
        ref = Y.reshape(-1) + scipy.linalg.expm(-Kmat * tk) @ (F0 - Y).reshape(-1)
        assert np.max(np.abs(out[k] - ref.reshape(6, 2))) < 1e-8


# ------------------------------------------------------------------ Barlow Twins vs an independent integration


def test_barlow_twins_matches_solve_ivp():
    n, d = 5, 2
    K, Ks = _kernels(2 * n, 3, seed=1)
    F0, Fs0 = 0.3 * RNG.standard_normal((2 * n, d)), 0.3 * RNG.standard_normal((3, d))
    loss = losses.barlow_twins_function_loss(n)
    t = np.array([0.0, 0.5, 1.0, 3.0])
    train, test = flows.predictor(loss, K)(t, F0, k_test_train=Ks, f_test_0=Fs0)

    grad = jax.jit(jax.grad(loss))

    def rhs(_, y):
        Y = y.reshape(-1, d)
        G = np.asarray(grad(jnp.asarray(Y[:2 * n])))
        return np.concatenate([-K @ G, -Ks @ G]).reshape(-1)

    sol = scipy.integrate.solve_ivp(rhs, (0.0, t[-1]), np.concatenate([F0, Fs0]).reshape(-1), method="DOP853",
                                    t_eval=t, rtol=1e-13, atol=1e-14)
    assert sol.success
    ref = sol.y.T.reshape(len(t), -1, d)
    assert np.max(np.abs(train - ref[:, :2 * n])) < 1e-8
    assert np.max(np.abs(test - ref[:, 2 * n:])) < 1e-8
    # the scipy backend of the same predictor agrees too
    via_scipy = flows.predictor(loss, K, backend="scipy", solver="DOP853")(t, F0)
    assert np.max(np.abs(via_scipy - train)) < 1e-8
    # and function_space_flow is the same implementation
    same = flows.function_space_flow(K, F0, loss, t, K_test=Ks, F_test0=Fs0)
    assert np.array_equal(same[0], train) and np.array_equal(same[1], test)


# ------------------------------------------------------------------ fixed-step mode = gradient descent


def _numpy_gd(K, Ks, F0, Fs0, grad_np, lr, steps):
    F, Fs, saved = F0.copy(), Fs0.copy(), {}
    for k in range(max(steps) + 1):
        saved[k] = (F.copy(), Fs.copy())
        G = grad_np(F)
        F, Fs = F - lr * (K @ G), Fs - lr * (Ks @ G)
    return np.stack([saved[k][0] for k in steps]), np.stack([saved[k][1] for k in steps])


def test_fixed_step_mode_equals_numpy_gradient_descent():
    K, Ks = _kernels(8, 4, seed=2)
    Y, F0, Fs0 = RNG.standard_normal((8, 3)), RNG.standard_normal((8, 3)), RNG.standard_normal((4, 3))
    lr, t = 0.05, np.array([0.0, 0.05, 0.5, 0.5, 2.0])
    train, test = flows.predictor(quadratic(Y), K)(t, F0, k_test_train=Ks, f_test_0=Fs0, lr=lr)
    ref, ref_s = _numpy_gd(K, Ks, F0, Fs0, lambda F: F - Y, lr, [0, 1, 10, 10, 40])
    assert np.max(np.abs(train - ref)) < 1e-12 and np.max(np.abs(test - ref_s)) < 1e-12
    # Barlow Twins, gradient from jax.grad step by step, the update in NumPy
    n = 4
    loss = losses.barlow_twins_function_loss(n)
    grad = jax.jit(jax.grad(loss))
    F0 = 0.5 * RNG.standard_normal((2 * n, 3))
    train = flows.predictor(loss, K)(np.array([0.3, 1.2]), F0, lr=0.01)
    ref, _ = _numpy_gd(K, Ks, F0, np.zeros((4, 3)), lambda F: np.asarray(grad(jnp.asarray(F))), 0.01, [30, 120])
    assert np.max(np.abs(train - ref)) < 1e-12


def test_fixed_step_mode_approaches_the_flow_as_lr_falls():
    K, _ = _kernels(6, 1, seed=3)
    Y, F0 = RNG.standard_normal((6, 2)), RNG.standard_normal((6, 2))
    predict = flows.predictor(quadratic(Y), K)
    flow = predict([1.0], F0)
    errs = [np.max(np.abs(predict([1.0], F0, lr=lr) - flow)) for lr in (0.02, 0.01, 0.005)]
    # Euler's global error is O(lr)
    assert errs[0] > errs[1] > errs[2] and 1.8 < errs[0] / errs[1] < 2.2 and 1.8 < errs[1] / errs[2] < 2.2


def test_vicreg_fixed_step_mode_finishes():
    """VICReg's hinge: a 30 × 3 flow under an RBF kernel, t = 1 at lr = 1e-3 (1000 steps) in the step mode."""
    n, d = 15, 3
    K, Ks = _kernels(2 * n, 4, seed=4)
    F0 = 0.1 * RNG.standard_normal((2 * n, d))
    loss = _vicreg_stacked(n)
    t = np.linspace(0.0, 1.0, 11)
    train, test = flows.predictor(loss, K)(t, F0, k_test_train=Ks, lr=1e-3)
    assert train.shape == (11, 2 * n, d) and test.shape == (11, 4, d)
    assert np.all(np.isfinite(train)) and np.all(np.isfinite(test))
    L = [float(loss(jnp.asarray(F))) for F in train]
    assert L[-1] < L[0]
    # and it is gradient descent, step for step
    grad = jax.jit(jax.grad(loss))
    ref, _ = _numpy_gd(K, Ks, F0, np.zeros((4, d)), lambda F: np.asarray(grad(jnp.asarray(F))), 1e-3, [0, 100])
    assert np.max(np.abs(train[:2] - ref)) < 1e-12


# ------------------------------------------------------------------ step budgets


def test_adaptive_mode_over_budget_names_max_steps():
    n = 4
    K, _ = _kernels(2 * n, 1, seed=5)
    predict = flows.predictor(losses.barlow_twins_function_loss(n), 50.0 * K, max_steps=20)
    with pytest.raises(IntegrationError, match="max_steps=20"):
        predict([10.0], 0.3 * RNG.standard_normal((2 * n, 2)))


def test_fixed_step_mode_over_budget_names_max_steps_before_stepping():
    K, _ = _kernels(4, 1)
    predict = flows.predictor(quadratic(np.zeros((4, 1))), K, max_steps=100)
    with pytest.raises(IntegrationError, match="max_steps=100"):
        predict([1e9], np.ones((4, 1)), lr=1e-3)  # 1e12 steps: refused at once
    predict([0.1], np.ones((4, 1)), lr=1e-3)  # exactly 100 steps is within budget


def test_fixed_step_mode_divergence_is_named():
    K, _ = _kernels(4, 1)
    with pytest.raises(IntegrationError, match="non-finite outputs"):
        flows.predictor(quadratic(np.zeros((4, 1))), 1e3 * K)([50.0], np.ones((4, 1)), lr=0.1)


# ------------------------------------------------------------------ bad input


def _ok_predictor():
    return flows.predictor(quadratic(np.zeros((4, 2))), np.eye(4))


@pytest.mark.parametrize("K, exc, match", [
    (np.triu(np.ones((4, 4))), ValueError, "K_train must be symmetric"),
    (np.diag([1.0, 1.0, 1.0, -0.5]), ValueError, "K_train must be positive semi-definite"),
    (np.where(np.eye(4) > 0, np.nan, 0.0), ValueError, "K_train must be finite"),
    (np.ones((4, 3)), ValueError, r"K_train must have shape \(N, N\)"),
    (np.ones(4), ValueError, "K_train must be 2-D or 4-D"),
    (np.random.default_rng(0).standard_normal((4, 4, 2, 2)), ValueError, "K_train must be symmetric"),
    ("K", TypeError, "K_train must be a real numeric array"),
])
def test_bad_kernel_is_named(K, exc, match):
    with pytest.raises(exc, match=match):
        flows.predictor(quadratic(np.zeros((4, 2))), K)


def test_bad_options_are_named():
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        flows.predictor(3, np.eye(4))
    with pytest.raises(ValueError, match="rtol must be finite and > 0"):
        flows.predictor(quadratic(np.zeros((4, 2))), np.eye(4), rtol=-1.0)
    with pytest.raises(ValueError, match="max_steps must be >= 1"):
        flows.predictor(quadratic(np.zeros((4, 2))), np.eye(4), max_steps=0)
    with pytest.raises(ValueError, match="backend must be one of"):
        flows.predictor(quadratic(np.zeros((4, 2))), np.eye(4), backend="torch")


@pytest.mark.parametrize("call, exc, match", [
    (lambda p: p([1.0], np.ones((3, 2))), ValueError, r"f_train_0 must have shape \(4, d\)"),
    (lambda p: p([1.0], np.ones(4)), ValueError, "f_train_0 must be 2-D"),
    (lambda p: p([1.0], np.full((4, 2), np.nan)), ValueError, "f_train_0 must be finite"),
    (lambda p: p([1.0], np.ones((4, 2)), k_test_train=np.ones((2, 3))), ValueError, "k_test_train must have shape"),
    (lambda p: p([1.0], np.ones((4, 2)), k_test_train=np.ones((2, 4)), f_test_0=np.ones((2, 3))), ValueError,
     "k_test_train must have shape"),
    (lambda p: p([1.0], np.ones((4, 2)), k_test_train=np.full((2, 4), np.inf)), ValueError,
     "k_test_train must be finite"),
    (lambda p: p([1.0], np.ones((4, 2)), f_test_0=np.ones((2, 2))), ValueError, "f_test_0 needs k_test_train"),
    (lambda p: p([0.1, 0.25], np.ones((4, 2)), lr=0.1), ValueError, "t must be multiples of lr"),
    (lambda p: p([1.0], np.ones((4, 2)), lr=0.0), ValueError, "lr must be finite and > 0"),
    (lambda p: p([1.0], np.ones((4, 2)), lr=-0.1), ValueError, "lr must be finite and > 0"),
    (lambda p: p([-1.0], np.ones((4, 2))), ValueError, "t must be non-negative"),
    (lambda p: p([2.0, 1.0], np.ones((4, 2))), ValueError, "t must be non-decreasing"),
])
def test_bad_call_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call(_ok_predictor())


def test_full_kernel_needs_matching_outputs():
    K4 = np.einsum("ab,ij->abij", np.eye(3), np.eye(2))
    predict = flows.predictor(quadratic(np.zeros((3, 2))), K4)
    with pytest.raises(ValueError, match=r"f_train_0 must have shape \(3, 2\)"):
        predict([1.0], np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"k_test_train must be 4-D"):
        predict([1.0], np.ones((3, 2)), k_test_train=np.ones((2, 3)))


def test_multiples_of_lr_up_to_round_off_are_accepted():
    out = _ok_predictor()(np.arange(4) * 0.1, np.ones((4, 2)), lr=0.1)  # 0.30000000000000004 / 0.1 etc.
    assert out.shape == (4, 4, 2)


# ------------------------------------------------------------------ prepared once


def test_second_call_does_not_retrace_the_field():
    traces = [0]

    def loss(F):
        traces[0] += 1  # runs only while JAX traces the loss
        return 0.5 * jnp.sum(F**2) + 0.1 * jnp.sum(F**4)

    K, Ks = _kernels(6, 2, seed=6)
    predict = flows.predictor(loss, K)
    t = np.array([0.2, 1.0])
    predict(t, RNG.standard_normal((6, 2)))
    after_first = traces[0]
    assert after_first > 0
    predict(t, RNG.standard_normal((6, 2)))
    predict(t, 1e-3 * RNG.standard_normal((6, 2)))  # a new scale-aware atol too
    assert traces[0] == after_first
    predict(t, RNG.standard_normal((6, 2)), lr=0.1)
    after_gd = traces[0]
    predict(t, RNG.standard_normal((6, 2)), lr=0.1)
    predict(t, RNG.standard_normal((6, 2)), lr=0.05)  # a new learning rate: the same program
    assert traces[0] == after_gd
    # a new predictor of the same loss and shapes reuses the compiled programs as well
    flows.predictor(loss, 2.0 * K)(t, RNG.standard_normal((6, 2)))
    assert traces[0] == after_gd
