"""Orthogonality-constrained SSL and the Grassmannian flow (Esser et al., "E"): dynamics.grassmann."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from dynamics import grassmann as G
from dynamics import losses, networks, stiefel
from dynamics.grassmann import symbolic as S
from dynamics.theorems import list_checks


def _sym(d, seed=0, spectrum=None):
    rng = np.random.default_rng(seed)
    if spectrum is None:
        A = rng.standard_normal((d, d))
        return (A + A.T) / 2
    U = G.random_semi_orthogonal(d, d, rng)
    return (U * np.asarray(spectrum, float)) @ U.T


def _triplets(n=50, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    return x, x + 0.3 * rng.standard_normal((n, d)), rng.standard_normal((n, d))


# ---------------------------------------------------------------------------------------------
# symbolic derivations


@pytest.mark.parametrize("kind", ["contrastive", "non_contrastive"])
def test_symbolic_trace_form(kind):
    assert S.trace_form(2, 2, 2, kind).identity_holds


@pytest.mark.parametrize("dims", [(3, 2, 1), (3, 3, 2)])
def test_symbolic_free_gradients(dims):
    res = S.free_gradients(*dims)
    assert res.matches_2CVWWt and res.matches_2VtCVW


@pytest.mark.parametrize("dims", [(3, 2, 1), (3, 3, 2)])
def test_symbolic_theorem2_tall(dims):
    res = S.theta_flow(*dims, regime="tall")
    assert res.identity_holds  # dΘ = −2(I − ΘΘᵀ)CΘ − 2(I − VVᵀ)CΘ(WᵀW − I), generic V, W
    assert res.constant == 2
    assert res.zero_on_constraint
    assert res.zero_without_VtV  # the identity does not use VᵀV = I
    assert not res.WWt_is_identity  # h > z: WWᵀ ≠ I, and E9 still holds
    if dims[1] < dims[0]:
        assert not res.zero_without_WtW  # ... but WᵀW = I is needed (V not square)


def test_symbolic_theorem2_wide():
    res = S.theta_flow(3, 5, 1, regime="wide")
    assert res.identity_holds and res.constant == 2 and res.zero_on_constraint
    assert not res.zero_without_WtW and not res.zero_without_VtV


def test_symbolic_riccati_theorem3_expectation():
    ric = S.riccati(3, 2)
    assert ric.identity_holds and ric.double_bracket_on_projectors
    th3 = S.theorem3(3)
    assert th3.matches_E10 and th3.matches_ball_form and th3.rates_hold
    ec = S.expected_data_matrix(2)
    assert ec.contrastive_is_minus_Sigma and ec.non_contrastive_is_minus_second_moment


def test_symbolic_bad_regime():
    with pytest.raises(ValueError, match="regime"):
        S.theta_flow(3, 2, 1, regime="sideways")
    with pytest.raises(ValueError, match="h <= d"):
        S.theta_flow(2, 3, 1, regime="tall")


# ---------------------------------------------------------------------------------------------
# losses and the trace form


def test_trace_form_identity_numeric():
    x, xp, xn = _triplets(60, 5)
    C = G.data_matrix(x, xp, xn)
    assert np.allclose(C, C.T)
    params = G.init_network(5, 3, 2, seed=1)
    params = {"V": 1.7 * params["V"], "W": params["W"] - 0.2}  # any V, W: no constraint needed
    apply = G.network_apply("linear")
    loss = losses.triplet_contrastive(apply(params, x), apply(params, xp), apply(params, xn))  # E1
    theta = params["V"].T @ params["W"]
    np.testing.assert_allclose(G.network_theta(params), theta, rtol=1e-15)
    assert abs(float(loss) - float(G.trace_loss(C, theta))) < 1e-12 * max(1.0, abs(float(loss)))
    Cn = G.data_matrix(x, xp)
    loss_e2 = losses.non_contrastive(apply(params, x), apply(params, xp))
    assert abs(float(loss_e2) - float(G.trace_loss(Cn, theta))) < 1e-12


def test_expected_data_matrix_by_sampling():
    rng = np.random.default_rng(0)
    d, n = 3, 200_000
    A = rng.standard_normal((d, d))
    cov, mu = A @ A.T / d + 0.2 * np.eye(d), np.array([1.0, -2.0, 0.5])
    L = np.linalg.cholesky(cov)
    x = mu + rng.standard_normal((n, d)) @ L.T
    xp = x + 0.5 * rng.standard_normal((n, d))
    xn = mu + rng.standard_normal((n, d)) @ L.T
    for kind, Cs in (("contrastive", G.data_matrix(x, xp, xn)), ("non_contrastive", G.data_matrix(x, xp))):
        E = G.expected_data_matrix(cov, mu, kind=kind)
        assert np.linalg.norm(Cs - E) / np.linalg.norm(E) < 0.03
        assert np.linalg.eigvalsh(E).max() < 0 and np.linalg.eigvalsh(Cs).max() < 0  # negative definite


# ---------------------------------------------------------------------------------------------
# Theorem 2 flow


def test_grassmannian_gradients_give_theta_field():
    """Autodiff (horizontal ∘ grad of the trace loss) vs the E9 field at random points, several widths."""
    d, z = 6, 2
    C = _sym(d, 1)
    for h in (2, 4, 6, 9):
        p = G.init_network(d, h, z, theta0=G.random_semi_orthogonal(d, z, h), seed=h)
        g = jax.grad(lambda q: G.trace_loss(C, G.horizontal(q["V"]).T @ G.horizontal(q["W"])))(p)
        dtheta = -(g["V"].T @ p["W"] + p["V"].T @ g["W"])
        theta = np.asarray(G.network_theta(p))
        literal = -2 * (np.eye(d) - theta @ theta.T) @ C @ theta
        assert np.allclose(dtheta, literal, atol=1e-12)
        assert np.allclose(G.stiefel_field(0, jnp.asarray(theta), jnp.asarray(C)), literal, atol=1e-12)


# diffrax compiles once per (field, state shape, number of times): the flow tests share d = 5, z = 2, 6 times
D, Z = 5, 2


def test_trajectory_matches_scipy_and_stays_on_manifold():
    d, z = D, Z
    C = _sym(d, 2, spectrum=[-1.0, 0.2, 0.7, 1.0, 2.0])  # Θ^T C Θ ≻ 0 along the way: the sensitive case
    theta0 = G.random_semi_orthogonal(d, z, 3)
    t = np.linspace(0, 20, 6)
    a = G.trajectory(C, theta0, t)
    b = G.trajectory(C, theta0, t, backend="scipy", rtol=1e-11, atol=1e-13)
    assert a.shape == (len(t), d, z)
    assert np.abs(a - b).max() < 1e-8
    gram = np.einsum("tij,tik->tjk", a, a)
    assert np.abs(gram - np.eye(z)).max() < 1e-10
    assert G.subspace_alignment(a[-1], np.linalg.eigh(C)[1][:, :z]) > 1 - 1e-8  # the z smallest eigenvalues


def test_riccati_matches_theta_theta_t():
    d, z = D, Z
    C = _sym(d, 4)
    theta0 = G.random_semi_orthogonal(d, z, 5)
    t = np.linspace(0, 30, 6)  # long enough that the literal Riccati form would have left the projectors
    th = G.trajectory(C, theta0, t)
    P = G.riccati_trajectory(C, theta0 @ theta0.T, t)
    assert np.abs(P - np.einsum("tij,tkj->tik", th, th)).max() < 1e-8
    assert np.abs(np.einsum("tij,tjk->tik", P, P) - P).max() < 1e-9


def test_ball_flow_reduces_to_e9_on_the_manifold_and_to_zero_for_positive_C():
    d, z = D, Z
    C = _sym(d, 6)
    theta0 = G.random_semi_orthogonal(d, z, 7)
    t = np.linspace(0, 2, 6)
    assert np.abs(G.ball_trajectory(C, theta0, t) - G.trajectory(C, theta0, t)).max() < 1e-8
    Cp = _sym(d, 8, spectrum=[0.3, 0.5, 1.0, 1.5, 2.0])
    ball = G.ball_trajectory(Cp, 0.6 * theta0, np.linspace(0, 40, 6))
    assert np.all(np.diff(np.linalg.norm(ball, axis=(1, 2))) < 0) and np.linalg.norm(ball[-1]) < 1e-10


def test_eigen_flow_matches_trajectory_in_eigenbasis():
    d = 4
    C = _sym(d, 9, spectrum=[-0.7, 0.1, 0.4, 1.2])
    lam, U = np.linalg.eigh(C)
    theta0 = G.random_semi_orthogonal(d, 1, 10)
    t = np.linspace(0, 5, 6)
    zt = G.eigen_flow(lam, U.T @ theta0[:, 0], t)
    th = G.trajectory(C, theta0, t, backend="scipy")[:, :, 0]
    assert np.abs(zt - th @ U).max() < 1e-8


def test_outputs_on_new_points():
    theta = G.random_semi_orthogonal(4, 2, 0)
    X = np.random.default_rng(1).standard_normal((7, 4))
    assert np.allclose(G.outputs(X, theta), X @ theta)
    assert G.outputs(X, np.stack([theta, theta])).shape == (2, 7, 2)


# ---------------------------------------------------------------------------------------------
# collapse


def test_unconstrained_and_fixed_projector_closed_forms():
    d = 4
    C = _sym(d, 11)
    rng = np.random.default_rng(0)
    theta0 = rng.standard_normal((d, 3))
    t = np.array([0.0, 0.3, 1.1])
    closed = G.unconstrained_trajectory(C, theta0, t)
    for k, s in enumerate(t):
        assert np.allclose(closed[k], scipy.linalg.expm(-2 * C * s) @ theta0, rtol=1e-10, atol=1e-12)
    W0, P = rng.standard_normal((d, 5)), rng.standard_normal((2, 5))
    Wt = G.fixed_projector_trajectory(C, W0, P, t)
    A = np.kron(P.T @ P, C)  # vec(dW/dt) = −2 (S ⊗ C) vec(W), column-major vec
    for k, s in enumerate(t):
        expect = (scipy.linalg.expm(-2 * s * A) @ W0.reshape(-1, order="F")).reshape(d, 5, order="F")
        assert np.allclose(Wt[k], expect, rtol=1e-9, atol=1e-10)


def test_kernel_flow_matches_expm():
    x, xp, xn = _triplets(6, 2, 3)
    Sx = np.concatenate([x, xp, xn])
    K = np.exp(-0.5 * ((Sx[:, None] - Sx[None]) ** 2).sum(-1))
    F0 = np.random.default_rng(0).standard_normal((18, 2)) * 0.1
    t = np.array([0.0, 1.0, 4.0])
    a, b = G.kernel_flow(K, F0, t), G.kernel_flow_closed_form(K, F0, t)
    assert np.abs(a - b).max() / np.abs(b).max() < 1e-8
    r = G.collapse_ratio(b)
    assert r[-1] < r[0]


def test_optima_and_collapse_ratio():
    C = _sym(4, 12, spectrum=[-2.0, -1.0, 0.5, 1.0])
    U = np.linalg.eigh(C)[1]
    assert abs(abs(G.frobenius_optimum(C, 3)[:, 0] @ U[:, 0]) - 1) < 1e-12
    assert G.subspace_alignment(G.operator_optimum(C, 2), U[:, :2]) > 1 - 1e-12
    assert G.collapse_ratio(np.outer(np.arange(1.0, 6.0), [1.0, 2.0])) < 1e-15


# ---------------------------------------------------------------------------------------------
# trainer pieces


@pytest.mark.parametrize("shape", [(9, 3), (3, 9), (4, 4)])
def test_retractions(shape):
    rng = np.random.default_rng(0)
    M = G.random_semi_orthogonal(*shape, rng) + 0.05 * rng.standard_normal(shape)
    u, _, vt = np.linalg.svd(M, full_matrices=False)
    assert np.abs(np.asarray(G.retract(jnp.asarray(M), "polar")) - u @ vt).max() < 1e-12
    tall = M if shape[0] >= shape[1] else M.T
    q, r = np.linalg.qr(tall)
    q = q * np.sign(np.diag(r))
    q = q if shape[0] >= shape[1] else q.T
    assert np.abs(np.asarray(G.retract(jnp.asarray(M), "qr")) - q).max() < 1e-12


def test_projected_gd_keeps_constraints_and_follows_flow():
    x, xp, xn = _triplets(80, D, 4)
    C = G.data_matrix(x, xp, xn)
    theta0 = G.random_semi_orthogonal(D, Z, 1)
    lr, n = 0.002, 500
    t = lr * np.linspace(0, n, 6)
    flow = G.trajectory(C, theta0, t)
    for h in (3, 5, 10):
        p, _ = G.train_projected(G.network_apply("linear"), G.init_network(D, h, Z, theta0=theta0, seed=h), x, xp,
                                 xn, lr=lr, n_steps=n, record_steps=[0, n])
        V, W = np.asarray(p["V"]), np.asarray(p["W"])  # V (h, d)
        k = min(V.shape)
        assert np.abs((V @ V.T if h <= D else V.T @ V) - np.eye(k)).max() < 1e-12
        assert np.abs(W.T @ W - np.eye(2)).max() < 1e-12
        assert np.linalg.norm(V.T @ W - flow[-1]) < 0.02
    th, _ = G.discretised_flow(C, theta0, lr=lr, n_steps=n, record_steps=[0, n])
    assert np.linalg.norm(np.asarray(th) - flow[-1]) < 0.02


def test_free_step_then_retraction_follows_another_flow():
    """Literal E11 (Euclidean step, then polar): dΘ/dt = E9 − Vᵀ (I − W Wᵀ) V C Θ, which depends on V, W."""
    d, h, z = 8, 5, 2
    C = _sym(d, 13)
    p = G.init_network(d, h, z, seed=1)
    V, W = np.asarray(p["V"]), np.asarray(p["W"])  # V (h, d), Θ = Vᵀ W
    theta = V.T @ W
    e9 = -2 * (np.eye(d) - theta @ theta.T) @ C @ theta
    g = jax.grad(lambda q: G.trace_loss(C, q["V"].T @ q["W"]))(p)
    lr = 1e-6
    q = {k: G.retract(p[k] - lr * g[k], "polar") for k in p}
    rate = (np.asarray(q["V"].T @ q["W"]) - theta) / lr
    assert np.abs(rate - (e9 - V.T @ (np.eye(h) - W @ W.T) @ V @ C @ theta)).max() < 1e-4
    assert np.abs(rate - e9).max() > 0.1


def test_init_network_reproduces_theta0():
    theta0 = G.random_semi_orthogonal(8, 3, 0)
    for h in (3, 5, 8, 20):
        p = G.init_network(8, h, 3, theta0=theta0, seed=1)
        assert np.abs(np.asarray(p["V"].T @ p["W"]) - theta0).max() < 1e-12


def test_init_network_is_the_transposed_draw_of_before():
    """The networks layout V (h, d) is E's (d, h) draw transposed: a seed gives the same network."""
    for d, h, z in ((6, 3, 2), (3, 6, 2)):
        rng = np.random.default_rng(4)
        V_e = G.random_semi_orthogonal(d, h, rng)  # E's V (d, h)
        W = G.random_semi_orthogonal(h, z, rng)
        p = G.init_network(d, h, z, seed=4)
        assert isinstance(p, networks.TwoLayerParams)
        np.testing.assert_array_equal(p["V"], V_e.T)
        np.testing.assert_array_equal(p["W"], W)
        np.testing.assert_allclose(G.network_theta(p), V_e @ W, rtol=1e-15)


def test_network_is_the_standard_two_layer_net_with_scaled_activations():
    p = G.init_network(5, 7, 2, seed=3)
    x = np.random.default_rng(5).standard_normal((4, 5))
    V, W = np.asarray(p["V"]), np.asarray(p["W"])
    np.testing.assert_allclose(G.network_apply("linear")(p, x), x @ V.T @ W, rtol=1e-13)
    np.testing.assert_allclose(G.network_apply("sigmoid")(p, x), 4.0 / (1.0 + np.exp(-x @ V.T)) @ W, rtol=1e-13)
    np.testing.assert_allclose(G.network_apply("tanh")(p, x), np.tanh(x @ V.T) @ W, rtol=1e-13)
    assert G.network_apply("tanh") is G.network_apply("tanh")
    assert G.ACTIVATION_SCALES is networks.ACTIVATION_SCALES and G.scaled_activation is networks.scaled_activation
    assert G.tangent_project is stiefel.project_horizontal and G.horizontal is stiefel.horizontal
    assert G.retract is stiefel.retract
    batch = G.stack_params([p, G.init_network(5, 7, 2, seed=4)])
    assert isinstance(batch, networks.TwoLayerParams)
    th = np.asarray(G.network_theta(batch))
    np.testing.assert_allclose(th[0], V.T @ W, rtol=1e-15)
    proj = G.project_params(p)
    assert isinstance(proj, networks.TwoLayerParams)
    np.testing.assert_allclose(proj["V"], V, atol=1e-14)
    with pytest.raises(ValueError, match="activation must be one of"):
        G.network_apply("gelu")
    with pytest.raises(ValueError, match="must share the width M"):
        G.network_theta({"V": V, "W": W[:3]})


def _polar_np(M):
    u, _, vt = np.linalg.svd(M, full_matrices=False)
    return u @ vt


def test_projected_gd_step_against_numpy():
    """One E11 step of the linear net from the E1 loss of its outputs vs the step written out in NumPy:
    L = Tr(Θᵀ C Θ), Θ = Vᵀ W (E7), ∂L/∂V = 2 W Wᵀ V C, ∂L/∂W = 2 V C Vᵀ W, Grassmannian projections
    G_V (I − VᵀV) (V with orthonormal rows) and (I − W Wᵀ) G_W, then the polar factors."""
    x, xp, xn = _triplets(40, 6, 7)
    C = G.data_matrix(x, xp, xn)
    p = G.init_network(6, 4, 2, seed=3)
    V, W = np.asarray(p["V"]), np.asarray(p["W"])
    lr = 0.05
    gV = 2 * W @ W.T @ V @ C
    gW = 2 * V @ C @ V.T @ W
    V1 = _polar_np(V - lr * gV @ (np.eye(6) - V.T @ V))
    W1 = _polar_np(W - lr * (np.eye(4) - W @ W.T) @ gW)
    q, hist = G.train_projected(G.network_apply("linear"), p, x, xp, xn, lr=lr, n_steps=1, record_steps=[0, 1])
    np.testing.assert_allclose(q["V"], V1, atol=1e-13)
    np.testing.assert_allclose(q["W"], W1, atol=1e-13)
    assert isinstance(q, networks.TwoLayerParams)
    np.testing.assert_allclose(hist.loss[0], np.trace((V.T @ W).T @ C @ (V.T @ W)), rtol=1e-12)
    # the trace-form trainer takes the same step; QR differs from polar at O(lr²) only
    q2, h2 = G.train_trace(C, p, lr=lr, n_steps=1, record_steps=[0, 1])
    np.testing.assert_allclose(q2["V"], V1, atol=1e-13)
    np.testing.assert_allclose(h2["theta"][1], V1.T @ W1, atol=1e-13)
    q3, _ = G.train_trace(C, p, lr=lr, n_steps=1, record_steps=[0, 1], retraction="qr")
    assert np.abs(np.asarray(q3["V"]) - V1).max() < 10 * lr**2 * np.abs(gV).max() ** 2


def test_e_trainers_reuse_compiled_programs():
    """A second run of the same model on data of the same shapes (another init, lr, data) compiles nothing."""
    from dynamics import trainer

    apply = G.network_apply("linear")
    x, xp, xn = _triplets(30, 5, 1)
    obs = {"theta": G.network_theta}
    G.train_projected(apply, G.init_network(5, 3, 2, seed=0), x, xp, xn, lr=0.01, n_steps=4, observers=obs)
    before = trainer._programs.cache_info()
    x2, xp2, xn2 = _triplets(30, 5, 2)
    _, hist = G.train_projected(apply, G.init_network(5, 3, 2, seed=1), x2, xp2, xn2, lr=0.02, n_steps=6,
                                observers=obs)
    after = trainer._programs.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)
    assert hist["theta"].shape == (len(hist.step), 5, 2)
    C = G.data_matrix(x, xp, xn)
    theta0 = G.random_semi_orthogonal(5, 2, 0)
    for run in (lambda s: G.train_trace(C, G.init_network(5, 3, 2, seed=s), lr=0.01, n_steps=3),
                lambda s: G.discretised_flow(C * (1 + s), theta0, lr=0.01, n_steps=3)):
        run(0)
        before = trainer._programs.cache_info()
        run(1)
        after = trainer._programs.cache_info()
        assert (after.hits, after.misses) == (before.hits + 1, before.misses)


def _counted_trace_loss(q, C):
    _counted_trace_loss.traces += 1
    return G.trace_loss(C, G.horizontal(q["theta"]))


_counted_trace_loss.traces = 0


def test_time_per_step():
    C = jnp.asarray(_sym(5, 3))
    th = {"theta": jnp.asarray(G.random_semi_orthogonal(5, 2, 0))}
    t = G.time_per_step(_counted_trace_loss, th, C, lr=0.01, project=G.project_params, n_steps=20)
    traces = _counted_trace_loss.traces
    t2 = G.time_per_step(_counted_trace_loss, th, C, lr=0.02, project=G.project_params, n_steps=20)
    assert t > 0 and t2 > 0 and _counted_trace_loss.traces == traces  # compiled once
    closure = G.time_per_step(lambda q: G.trace_loss(C, q["theta"]), th, lr=0.01, n_steps=3, repeats=1)
    assert closure > 0
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        G.time_per_step(3, th, lr=0.1)
    with pytest.raises(ValueError, match="n_steps must be >= 1"):
        G.time_per_step(_counted_trace_loss, th, C, lr=0.1, n_steps=0)


# ---------------------------------------------------------------------------------------------
# bad input


def test_bad_inputs_are_named():
    C = _sym(4, 0)
    theta0 = G.random_semi_orthogonal(4, 2, 0)
    t = [0.0, 1.0]
    with pytest.raises(ValueError, match="C must be symmetric"):
        G.trajectory(C + np.triu(np.ones((4, 4)), 1), theta0, t)
    with pytest.raises(ValueError, match="C must be square"):
        G.trajectory(np.ones((4, 3)), theta0, t)
    with pytest.raises(ValueError, match="theta0 must have d = 4 rows"):
        G.trajectory(C, theta0[:3], t)
    with pytest.raises(ValueError, match="theta0 must have orthonormal columns"):
        G.trajectory(C, 2 * theta0, t)
    with pytest.raises(ValueError, match="theta0 must lie in the operator-norm unit ball"):
        G.ball_trajectory(C, 2 * theta0, t)
    with pytest.raises(ValueError, match="C must be finite"):
        G.trajectory(np.full((4, 4), np.nan), theta0, t)
    with pytest.raises(ValueError, match="t must be non-negative"):
        G.trajectory(C, theta0, [-1.0, 0.0])
    with pytest.raises(ValueError, match="P0 must be an orthogonal projector"):
        G.riccati_trajectory(C, np.eye(4) * 0.5, t)
    with pytest.raises(ValueError, match="z0 must be unit vectors"):
        G.eigen_flow([1.0, 2.0], [1.0, 1.0], t)
    with pytest.raises(ValueError, match="negatives must have the shape of anchors"):
        G.data_matrix(np.ones((3, 2)), np.ones((3, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="at least z = 3 negative eigenvalues"):
        G.operator_optimum(_sym(4, 1, spectrum=[-1.0, 1.0, 2.0, 3.0]), 3)
    with pytest.raises(ValueError, match="cov must be positive semi-definite"):
        G.expected_data_matrix(-np.eye(2))
    with pytest.raises(ValueError, match="z must be <= h"):
        G.init_network(4, 2, 3)
    with pytest.raises(ValueError, match="tangent must be one of"):
        G.train_projected(G.network_apply("linear"), G.init_network(4, 2, 1), np.ones((3, 4)), np.ones((3, 4)), lr=0.1,
                          n_steps=1, tangent="sideways")


# ---------------------------------------------------------------------------------------------
# registered checks (fast mode)


E_CHECKS = ["e_theorem2_width_independent_flow", "e_theorem3_sphere_and_ball", "e_prop1_collapse",
            "e_example1_half_moons", "e_theorem1_nonlinear_vs_linear", "e_flow_vs_projected_gd_digits"]


def test_checks_are_registered():
    """Registered under paper E; tests/test_theorems.py runs every registered check in fast mode."""
    checks = {c.name: c for c in list_checks()}
    assert all(name in checks and checks[name].paper == "E" for name in E_CHECKS)
