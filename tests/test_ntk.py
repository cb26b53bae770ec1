"""NTK module (A2, S App. D.5): closed forms vs quadrature, generic vs structured, wide-net Monte Carlo."""


import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special

from dynamics import networks, ntk


def _inputs(n=12, D=5, seed=0, unit=False):
    """Random rows plus the awkward cases: a zero row, parallel and antiparallel pairs, a repeated row."""
    x = np.random.default_rng(seed).standard_normal((n, D))
    x[0] = 0.0
    x[1] = 2.5 * x[2]
    x[3] = -0.7 * x[4]
    x[5] = x[6]
    if unit:
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms > 0, norms, 1.0)
    return x


# ----------------------------------------------------------------------------- infinite width


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_closed_form_matches_quadrature(activation):
    x1, x2 = _inputs(12, seed=0), _inputs(9, seed=1)
    K_c, S_c = ntk.analytic_ntk(x1, x2, activation, return_nngp=True, method="closed")
    K_q, S_q = ntk.analytic_ntk(x1, x2, activation, return_nngp=True, method="quadrature")
    assert np.all(np.isfinite(K_c)) and np.all(np.isfinite(K_q))
    scale = np.abs(K_c).max()
    assert np.abs(K_c - K_q).max() < 1e-8 * scale
    assert np.abs(S_c - S_q).max() < 1e-8 * scale
    assert np.allclose(ntk.analytic_nngp(x1, x2, activation), S_c, rtol=0, atol=1e-14)


def test_relu_closed_form_special_angles():
    x = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [0.0, 0.0]])
    K, S = ntk.analytic_ntk(x, x, "relu", return_nngp=True)
    # θ = 0: Σ = |x|²/2, Θ = |x|²;  θ = π/2: Σ = |x||x̃|/(2π), derivative term 0;  θ = π: Θ = 0.
    assert K[0, 0] == pytest.approx(1.0) and S[0, 0] == pytest.approx(0.5)
    assert K[0, 1] == pytest.approx(2.0 / (2 * np.pi)) and S[0, 1] == pytest.approx(2.0 / (2 * np.pi))
    assert K[0, 2] == pytest.approx(0.0, abs=1e-15)
    assert np.all(K[3] == 0.0) and np.all(K[:, 3] == 0.0)


def test_linear_is_twice_the_dot_product():
    x1, x2 = _inputs(10, seed=2), _inputs(7, seed=3)
    assert np.allclose(ntk.analytic_ntk(x1, x2, "linear"), 2.0 * x1 @ x2.T, rtol=1e-14, atol=1e-14)
    # the quadrature path with a callable pair reproduces it
    K_q = ntk.analytic_ntk(x1, x2, (lambda u: u, lambda u: np.ones_like(u)))
    assert np.allclose(K_q, 2.0 * x1 @ x2.T, rtol=1e-10, atol=1e-10)


def test_numpy_only_callable_pair_uses_the_quadrature():
    x = _inputs(8, seed=4)
    pair = (scipy.special.erf, lambda u: 2.0 / np.sqrt(np.pi) * np.exp(-u**2))
    assert np.allclose(ntk.analytic_ntk(x, x, pair), ntk.analytic_ntk(x, x, "erf"), rtol=0, atol=1e-9)


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "sigmoid", "linear"])
def test_analytic_kernel_is_symmetric_psd(activation):
    x = _inputs(15, seed=5)
    K, S = ntk.analytic_ntk(x, x, activation, return_nngp=True)
    for A in (K, S):
        assert np.allclose(A, A.T, rtol=0, atol=1e-12 * np.abs(A).max())
        assert np.linalg.eigvalsh(0.5 * (A + A.T)).min() > -1e-10 * np.abs(A).max()


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_very_wide_network_matches_analytic(activation):
    """Monte Carlo: the M = 2^16 structured "trace" kernel is within 3% of Θ (E[K_M] = Θ, sd ~ M^{-1/2})."""
    x = _inputs(8, D=6, seed=6, unit=True)[1:]  # unit-norm rows, no zero row
    params = networks.init_two_layer(6, 2**16, 2, seed=7)
    K_M = np.asarray(ntk.two_layer_ntk(params, x, x, activation, output="trace", block_size=4))
    K_inf = ntk.analytic_ntk(x, x, activation)
    assert np.abs(K_M - K_inf).max() < 0.03 * np.abs(K_inf).max()
    assert np.linalg.norm(K_M - K_inf) < 0.03 * np.linalg.norm(K_inf)


# ----------------------------------------------------------------------------- empirical NTK


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_generic_and_structured_paths_agree(activation):
    rng = np.random.default_rng(8)
    x1, x2 = rng.standard_normal((7, 4)), rng.standard_normal((5, 4))
    params = networks.init_two_layer(4, 24, 3, seed=9)
    apply = networks.make_apply("two_layer", activation)
    K = np.asarray(ntk.empirical_ntk(apply, params, x1, x2))
    assert K.shape == (7, 5, 3, 3)
    assert np.allclose(np.asarray(ntk.empirical_ntk(apply, params, x1, x2, block_size=3)), K, rtol=0, atol=1e-12)
    full = np.asarray(ntk.two_layer_ntk(params, x1, x2, activation, output="full"))
    full_blocked = np.asarray(ntk.two_layer_ntk(params, x1, x2, activation, output="full", block_size=2))
    trace = np.asarray(ntk.two_layer_ntk(params, x1, x2, activation, output="trace"))
    scalar = np.asarray(ntk.two_layer_ntk(params, x1, x2, activation, output="scalar", block_size=4))
    assert np.abs(full - K).max() < 1e-10
    assert np.abs(full_blocked - K).max() < 1e-10
    assert np.abs(trace - np.einsum("abii->ab", K) / 3).max() < 1e-10
    assert np.abs(scalar - K.sum(axis=(2, 3)) / 3).max() < 1e-10
    # S App. D.5: NTK of √d · mean output, from the Jacobian of that scalar function
    assert np.abs(np.asarray(ntk.scalar_ntk(apply, params, x1, x2)) - scalar).max() < 1e-10


def test_scalar_ntk_is_the_mean_reduction_for_any_model():
    """A model outside the two-layer family (linear map then tanh): scalar_ntk = (1/d) Σ_ij K_ij."""
    rng = np.random.default_rng(10)
    params = {"A": jnp.asarray(rng.standard_normal((4, 3))), "b": jnp.asarray(rng.standard_normal(4))}

    def apply(p, x):
        return jnp.tanh(x @ p["A"].T + p["b"])

    x1, x2 = rng.standard_normal((6, 3)), rng.standard_normal((4, 3))
    K = np.asarray(ntk.empirical_ntk(apply, params, x1, x2))
    # direct sum over parameters of the hand-written Jacobian: df_i/dA_kl = δ_ik s_i x_l, df_i/db_k = δ_ik s_i
    s1 = 1 - np.tanh(x1 @ np.asarray(params["A"]).T + np.asarray(params["b"])) ** 2
    s2 = 1 - np.tanh(x2 @ np.asarray(params["A"]).T + np.asarray(params["b"])) ** 2
    by_hand = np.einsum("ai,bi,ij->abij", s1, s2, np.eye(4)) * (x1 @ x2.T + 1.0)[:, :, None, None]
    assert np.allclose(K, by_hand, rtol=0, atol=1e-12)
    assert np.allclose(np.asarray(ntk.scalar_ntk(apply, params, x1, x2)), K.sum(axis=(2, 3)) / 4, atol=1e-12)


def test_structured_kernel_on_same_inputs_is_symmetric_psd():
    x = _inputs(20, seed=11)
    params = networks.init_two_layer(5, 64, 3, seed=12)
    for output in ("trace", "scalar"):
        K = np.asarray(ntk.two_layer_ntk(params, x, x, "relu", output=output))
        assert np.allclose(K, K.T, atol=1e-12)
        assert np.linalg.eigvalsh(K).min() > -1e-10 * np.abs(K).max()
    full = np.asarray(ntk.two_layer_ntk(params, x, x, "erf", output="full"))
    G = full.transpose(0, 2, 1, 3).reshape(60, 60)
    assert np.allclose(G, G.T, atol=1e-12) and np.linalg.eigvalsh(G).min() > -1e-10 * np.abs(G).max()


def test_large_trace_kernel_runs_in_blocks():
    """n = 2000 unit-norm inputs, M = 4096, D = 49: "trace" output in blocks of (block, M) intermediates.

    Its speed is measured by ``python -m benchmarks ntk``, not here."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2000, 49))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    params = networks.init_two_layer(49, 4096, 10, seed=14)
    K = ntk.two_layer_ntk(params, x, x, "relu", output="trace", block_size=500)
    assert K.shape == (2000, 2000) and bool(jnp.all(jnp.isfinite(K)))
    # diagonal of the relu NTK of unit-norm inputs is 1 at infinite width
    assert abs(float(jnp.mean(jnp.diag(K))) - 1.0) < 0.05


# ----------------------------------------------------------------------------- drift


def test_drift_measures():
    K0 = np.array([[2.0, 1.0], [1.0, 2.0]])
    Kt = K0 + np.array([[0.0, 0.3], [0.3, -0.4]])
    assert float(ntk.ntk_drift(Kt, K0)) == pytest.approx(np.sqrt(0.09 * 2 + 0.16) / np.sqrt(10.0))
    assert float(ntk.max_entry_change(Kt, K0)) == pytest.approx(0.4)
    assert float(ntk.ntk_drift(K0, K0)) == 0.0
    with pytest.raises(ValueError, match="K_t and K_0"):
        ntk.ntk_drift(K0, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="K_0"):
        ntk.ntk_drift(K0, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="K_t"):
        ntk.max_entry_change(np.full((2, 2), np.nan), K0)


# ----------------------------------------------------------------------------- validation


def test_bad_inputs_name_the_argument():
    x = np.ones((3, 4))
    params = networks.init_two_layer(4, 8, 2)
    apply = networks.make_apply("two_layer", "relu")
    with pytest.raises(ValueError, match="x1 and x2"):
        ntk.analytic_ntk(x, np.ones((3, 5)))
    with pytest.raises(ValueError, match="x2 must be finite"):
        ntk.analytic_ntk(x, np.full((2, 4), np.nan))
    with pytest.raises(ValueError, match="x1 must be 2-D"):
        ntk.analytic_ntk(np.ones(4), x)
    with pytest.raises(ValueError, match="activation"):
        ntk.analytic_ntk(x, x, "softplus")
    with pytest.raises(ValueError, match="method"):
        ntk.analytic_ntk(x, x, "tanh", method="closed")
    with pytest.raises(ValueError, match="activation"):
        ntk.two_layer_ntk(params, x, x, "nope")
    with pytest.raises(ValueError, match="output"):
        ntk.two_layer_ntk(params, x, x, output="diag")
    with pytest.raises(ValueError, match=r"params\['V'\]"):
        ntk.two_layer_ntk(params, np.ones((3, 5)), np.ones((2, 5)))
    with pytest.raises(ValueError, match="x1 must be finite"):
        ntk.two_layer_ntk(params, np.full((3, 4), np.inf), x)
    with pytest.raises(ValueError, match="params"):
        ntk.two_layer_ntk({"V": params["V"]}, x, x)
    with pytest.raises(ValueError, match="x1 and x2"):
        ntk.empirical_ntk(apply, params, x, np.ones((2, 3)))
    with pytest.raises(ValueError, match="x1 must be finite"):
        ntk.empirical_ntk(apply, params, np.full((3, 4), np.nan), x)
    with pytest.raises(ValueError, match="block_size"):
        ntk.empirical_ntk(apply, params, x, x, block_size=0)
    with pytest.raises(TypeError, match="apply_fn"):
        ntk.scalar_ntk("not a function", params, x, x)
    with pytest.raises(ValueError, match="apply_fn"):
        ntk.empirical_ntk(lambda p, z: jnp.sum(apply(p, z)), params, x, x)

