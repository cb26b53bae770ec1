"""The paper flows on the one integrator: S6 in Γ's eigenbasis against the literal S6 in the original basis
(indefinite Γ included), times that do not start at 0, bad Γ named, and the kernel flow as a call of the
generic function-space flow.

References are independent of the package's integrator: the literal S6, dW/dt = −4 (W Γ W^T − I) W Γ
(Simon et al. 2023, eq. S6), written here and solved with ``scipy.integrate.solve_ivp``.
"""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from dynamics import barlow, flows, grassmann, kernel


def _indefinite_gamma(m=5, seed=0):
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((m, m)))[0]
    lam = np.array([1.0, 0.6, 0.25, -0.3, -0.9])[:m]  # two negative eigenvalues
    return Q @ np.diag(lam) @ Q.T, lam


def _literal_s6(W0, Gamma, t, atol):
    d, m = W0.shape

    def rhs(_, w):
        W = w.reshape(d, m)
        return (-4.0 * (W @ Gamma @ W.T - np.eye(d)) @ W @ Gamma).ravel()

    sol = solve_ivp(rhs, (0.0, float(t[-1])), W0.ravel(), method="DOP853", t_eval=t, rtol=1e-12, atol=atol)
    assert sol.success
    return sol.y.T.reshape(len(t), d, m)


@pytest.mark.parametrize("scale", [0.3, 1e-6], ids=["order_one", "small_init"])
def test_eigenbasis_flow_equals_literal_s6_for_an_indefinite_gamma(scale):
    Gamma, lam = _indefinite_gamma()
    assert lam.min() < 0 < lam.max()
    W0 = scale * np.random.default_rng(1).standard_normal((2, 5))
    t = np.linspace(0.0, 8.0, 9)
    W_eig = barlow.gradient_flow(W0, Gamma, t, rtol=1e-11)
    W_ref = _literal_s6(W0, Gamma, t, atol=1e-14 * scale)
    err = np.max(np.abs(W_eig - W_ref), axis=(1, 2)) / np.max(np.abs(W_ref), axis=(1, 2))
    assert np.max(err) < 1e-8, err
    # the flow converged to a zero-loss point, W Γ W^T = I (S6's fixed points)
    np.testing.assert_allclose(W_eig[-1] @ Gamma @ W_eig[-1].T, np.eye(2), atol=1e-3)
    # and the literal form integrated by the package (eigenbasis=False) agrees too
    W_lit = barlow.gradient_flow(W0, Gamma, t, rtol=1e-11, eigenbasis=False)
    assert np.max(np.abs(W_lit - W_ref)) < 1e-8 * np.max(np.abs(W_ref))


def test_gradient_flow_times_need_not_start_at_zero():
    Gamma, _ = _indefinite_gamma(seed=2)
    W0 = 0.05 * np.random.default_rng(3).standard_normal((2, 5))
    t = np.array([0.0, 0.0, 0.5, 1.0, 2.0])
    full = barlow.gradient_flow(W0, Gamma, t)
    np.testing.assert_array_equal(full[0], W0)
    np.testing.assert_array_equal(full[1], W0)
    late = barlow.gradient_flow(W0, Gamma, t[2:])
    np.testing.assert_allclose(late, full[2:], rtol=0, atol=1e-10 * np.max(np.abs(full)))
    batch = barlow.gradient_flow(np.stack([W0, 2 * W0]), Gamma, t)
    assert batch.shape == (2, 5, 2, 5)
    np.testing.assert_array_equal(batch[:, 0], np.stack([W0, 2 * W0]))
    np.testing.assert_allclose(batch[0], full, rtol=0, atol=1e-9 * np.max(np.abs(full)))


def test_appendix_c_flow_times_need_not_start_at_zero():
    gammas = np.array([1.0, 0.5, 0.2])
    A0 = 1e-4 * np.random.default_rng(4).standard_normal((2, 3))
    t = np.array([0.0, 5.0, 10.0, 20.0])
    full = barlow.appendix_c_flow(A0, gammas, t)
    np.testing.assert_array_equal(full[0], A0)
    np.testing.assert_allclose(barlow.appendix_c_flow(A0, gammas, t[1:]), full[1:], rtol=0,
                               atol=1e-9 * np.max(np.abs(full)))


@pytest.mark.parametrize("Gamma, match", [
    pytest.param(np.diag([1.0, np.nan, 0.5]), "Gamma must be finite", id="nan"),
    pytest.param(np.diag([1.0, np.inf, 0.5]), "Gamma must be finite", id="inf"),
    pytest.param(np.triu(np.ones((3, 3))), "Gamma must be symmetric", id="nonsym"),
])
@pytest.mark.parametrize("eigenbasis", [True, False])
def test_gradient_flow_rejects_bad_gamma_by_name(Gamma, match, eigenbasis):
    with pytest.raises(ValueError, match=match):
        barlow.gradient_flow(0.1 * np.ones((2, 3)), Gamma, [0.0, 1.0], eigenbasis=eigenbasis)


def test_grassmann_flows_times_need_not_start_at_zero():
    rng = np.random.default_rng(5)
    A = rng.standard_normal((4, 4))
    C = A + A.T
    theta0 = np.linalg.qr(rng.standard_normal((4, 2)))[0]
    t = np.array([0.0, 0.3, 0.6])
    full = grassmann.trajectory(C, theta0, t)
    np.testing.assert_array_equal(full[0], theta0)
    late = grassmann.trajectory(C, theta0, [0.3, 0.6, 0.6])  # same number of save times: no new compile
    np.testing.assert_allclose(late[:2], full[1:], atol=1e-10)


def test_kernel_barlow_twins_flow_is_the_generic_flow_with_the_barlow_twins_loss():
    assert not hasattr(kernel, "function_space_flow")  # one function_space_flow: flows'
    rng = np.random.default_rng(6)
    Phi = rng.standard_normal((8, 5))
    K = Phi @ Phi.T
    F0 = 0.1 * rng.standard_normal((8, 2))
    t = np.array([0.5, 1.0, 3.0])
    ours = kernel.barlow_twins_flow(K, F0, t)
    generic = flows.function_space_flow(K, F0, flows.barlow_twins_function_loss(4), t, rtol=1e-10)
    np.testing.assert_allclose(ours, generic, rtol=0, atol=1e-12)
