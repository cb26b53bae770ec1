"""dynamics.networks: one two-layer network (both parametrisations), its parameter type and validator."""

import copy
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

import dynamics  # noqa: F401
from dynamics import networks as N

NUMPY_PHI = {"relu": lambda u: np.maximum(u, 0.0), "erf": erf, "tanh": np.tanh, "linear": lambda u: u,
             "sigmoid": lambda u: 1.0 / (1.0 + np.exp(-u))}
NUMPY_SCALE = {"relu": 1.0, "erf": np.sqrt(np.pi) / 2.0, "tanh": 1.0, "linear": 1.0, "sigmoid": 4.0}


def _params(D=3, M=5, Z=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((M, D)), rng.standard_normal((M, Z))


@pytest.mark.parametrize("act", sorted(N.ACTIVATIONS))
@pytest.mark.parametrize("parametrization", N.PARAMETRIZATIONS)
@pytest.mark.parametrize("scaled", [False, True])
def test_two_layer_apply_against_numpy(act, parametrization, scaled):
    V, W = _params()
    x = np.random.default_rng(1).standard_normal((4, 3))
    M = V.shape[0]
    phi = (lambda u: NUMPY_SCALE[act] * NUMPY_PHI[act](u)) if scaled else NUMPY_PHI[act]
    c = 1.0 / np.sqrt(M) if parametrization == "ntk" else 1.0
    # f(x)_z = c Σ_m W_mz φ(Σ_d V_md x_d), one input at a time
    expect = np.array([[c * sum(W[m, z] * phi(V[m] @ xi) for m in range(M)) for z in range(2)] for xi in x])
    for params in ({"V": V, "W": W}, N.TwoLayerParams(V, W)):
        out = N.two_layer_apply(params, x, act, parametrization=parametrization, scaled=scaled)
        np.testing.assert_allclose(out, expect, rtol=1e-13, atol=1e-14)
        apply = N.make_apply("two_layer", act, parametrization=parametrization, scaled=scaled)
        np.testing.assert_allclose(apply(params, x), expect, rtol=1e-13, atol=1e-14)
    feats = N.hidden_features({"V": V}, x, act, parametrization=parametrization, scaled=scaled)
    np.testing.assert_allclose(feats, c * phi(x @ V.T), rtol=1e-13, atol=1e-14)


def test_default_is_the_ntk_parametrisation_and_esser_linear_net_is_theta():
    V, W = _params(D=4, M=6, Z=2)
    x = np.random.default_rng(2).standard_normal((5, 4))
    np.testing.assert_allclose(N.two_layer_apply({"V": V, "W": W}, x), np.maximum(x @ V.T, 0) @ W / np.sqrt(6),
                               rtol=1e-13)
    # Esser et al.: f(x) = Θᵀ x with Θ = Vᵀ W (their V is this V transposed)
    theta = V.T @ W
    out = N.two_layer_apply({"V": V, "W": W}, x, "linear", parametrization="standard")
    np.testing.assert_allclose(out, x @ theta, rtol=1e-12)


@pytest.mark.parametrize("act", sorted(N.ACTIVATIONS))
def test_scaled_activation_has_unit_slope_at_zero(act):
    phi = N.scaled_activation(act)
    slope = jax.grad(lambda u: phi(u))(0.0) if act != "relu" else jax.grad(lambda u: phi(u))(1e-12)
    assert abs(float(slope) - 1.0) < 1e-12
    assert N.ACTIVATION_SCALES[act] == pytest.approx(NUMPY_SCALE[act], rel=1e-15)
    phi_np, dphi = N.activation(act)
    u = np.linspace(-2, 2, 7)
    np.testing.assert_allclose(phi_np(u), NUMPY_PHI[act](u), rtol=1e-13, atol=1e-15)
    # the derivative table matches autodiff away from 0 (relu's kink)
    np.testing.assert_allclose(dphi(u + 0.1), jax.vmap(jax.grad(phi_np))(u + 0.1), rtol=1e-12, atol=1e-14)
    assert float(N.scaled_activation("sigmoid")(0.0)) == pytest.approx(2.0)  # φ(0) ≠ 0 (E Thm 1 violated)


def test_linear_apply_against_numpy():
    W = np.random.default_rng(3).standard_normal((2, 5))
    x = np.random.default_rng(4).standard_normal((6, 5))
    np.testing.assert_allclose(N.linear_apply({"W": W}, x), np.einsum("dm,nm->nd", W, x), rtol=1e-13)
    assert N.make_apply("linear") is N.linear_apply


def test_init_two_layer_is_unchanged_for_a_seed():
    p = N.init_two_layer(3, 7, 2, seed=5, hidden_scale=0.5, readout_scale=1e-3)
    rng = np.random.default_rng(5)
    V = 0.5 * rng.standard_normal((7, 3))
    W = 1e-3 * rng.standard_normal((7, 2))
    np.testing.assert_array_equal(p["V"], V)
    np.testing.assert_array_equal(p["W"], W)
    assert isinstance(p, N.TwoLayerParams) and isinstance(p, dict)
    assert (p.width, p.in_features, p.out_features) == (7, 3, 2)
    assert p.V is p["V"] and p.W is p["W"]


def test_two_layer_params_is_a_read_only_validated_pytree():
    V, W = _params()
    p = N.TwoLayerParams.create(V, W)
    assert sorted(p) == ["V", "W"] and dict(p, W=2 * W)["W"][0, 0] == 2 * W[0, 0]
    with pytest.raises(TypeError, match="read-only"):
        p["V"] = V
    with pytest.raises(TypeError, match="read-only"):
        p.update(V=V)
    leaves, treedef = jax.tree_util.tree_flatten(p)
    assert len(leaves) == 2 and leaves[0] is V
    # JAX unflattens with placeholders: no validation there
    placeholder = jax.tree_util.tree_unflatten(treedef, [object(), None])
    assert isinstance(placeholder, N.TwoLayerParams)
    paths = [jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_flatten_with_path(p)[0]]
    assert paths == ["['V']", "['W']"]
    # transformations return the same type
    x = jnp.ones((4, 3))
    g = jax.grad(lambda q: jnp.sum(N.two_layer_apply(q, x, "tanh")))(p)
    assert isinstance(g, N.TwoLayerParams) and g["V"].shape == V.shape
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), p, p)
    assert isinstance(stacked, N.TwoLayerParams) and stacked["V"].shape == (2, *V.shape)
    out = jax.vmap(N.two_layer_apply, in_axes=(0, None))(stacked, x)
    np.testing.assert_allclose(out[1], N.two_layer_apply(p, x), rtol=1e-14)
    np.testing.assert_allclose(jax.jit(N.two_layer_apply)(p, x), N.two_layer_apply(p, x), rtol=1e-14)
    for q in (pickle.loads(pickle.dumps(p)), copy.deepcopy(p), copy.copy(p)):
        assert isinstance(q, N.TwoLayerParams)
        np.testing.assert_array_equal(q["W"], W)
    assert "TwoLayerParams(V: (5, 3), W: (5, 2)" in repr(p)
    with pytest.raises(ValueError, match="must share the width M"):
        N.TwoLayerParams(V, W[:4])


def test_check_two_layer():
    V, W = _params()
    a, b = N.check_two_layer({"V": V, "W": W, "extra": 1}, np.ones((2, 3)))
    assert a is V and b is W
    Vb, Wb = np.stack([V, V]), np.stack([W, W])
    assert N.check_two_layer({"V": Vb, "W": Wb}, batch_ndim=1)[0] is Vb
    with pytest.raises(ValueError, match="must share the batch axes and the width M"):
        N.check_two_layer({"V": Vb, "W": np.stack([W, W, W])}, batch_ndim=1)
    with pytest.raises(ValueError, match=r"params\['V'\] must be 3-D"):
        N.check_two_layer({"V": V, "W": Wb}, batch_ndim=1)
    with pytest.raises(ValueError, match="anchors must have 3 features"):
        N.check_two_layer({"V": V, "W": W}, np.ones((2, 4)), x_name="anchors")
    mats = N.check_weights({"A": np.ones((2, 3)), "B": np.ones((3, 4))}, ("A", "B"), np.ones((5, 3)),
                           in_key="A", in_axis=1, model="chain")
    assert [m.shape for m in mats] == [(2, 3), (3, 4)]


@pytest.mark.parametrize("fn", [
    lambda p, x: N.two_layer_apply(p, x, "tanh"),
    lambda p, x: N.two_layer_apply(p, x, "sigmoid", parametrization="standard", scaled=True),
    lambda p, x: N.hidden_features(p, x, "erf"),
    lambda p, x: N.linear_apply({"W": p["W"].T}, x @ p["V"].T),
])
def test_float32_stays_float32(fn):
    V, W = _params()
    p32 = N.TwoLayerParams(jnp.asarray(V, jnp.float32), jnp.asarray(W, jnp.float32))
    x = jnp.ones((4, 3), jnp.float32)
    assert fn(p32, x).dtype == jnp.float32
    assert jax.jit(fn)(p32, x).dtype == jnp.float32
    g = jax.grad(lambda q: jnp.sum(fn(q, x)))(p32)
    assert g["V"].dtype == jnp.float32 and g["W"].dtype == jnp.float32


def test_bad_input_is_named():
    V, W = _params()
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match="parametrization must be one of"):
        N.two_layer_apply({"V": V, "W": W}, x, parametrization="mup")
    with pytest.raises(ValueError, match="parametrization must be one of"):
        N.hidden_features({"V": V}, x, parametrization="mup")
    with pytest.raises(ValueError, match="parametrization must be one of"):
        N.make_apply("two_layer", "tanh", parametrization="mup")
    with pytest.raises(TypeError, match="scaled must be True or False"):
        N.make_apply("two_layer", "tanh", scaled="yes")
    with pytest.raises(ValueError, match="activation must be one of"):
        N.scaled_activation("gelu")
    with pytest.raises(ValueError, match="activation must be one of"):
        N.two_layer_apply({"V": V, "W": W}, x, "gelu", scaled=True)
    with pytest.raises(ValueError, match=r"params\['V'\] must be 2-D"):
        N.TwoLayerParams(V[0], W)
    with pytest.raises(ValueError, match=r"params\['W'\] must be finite"):
        N.TwoLayerParams(V, np.full_like(W, np.nan))
    with pytest.raises(TypeError, match=r"params\['V'\] must be a real"):
        N.TwoLayerParams.create(V + 1j, W)
    with pytest.raises(ValueError, match="params must be a dict with 'V', 'W'"):
        N.check_two_layer([V, W])
    with pytest.raises(ValueError, match="params must be a dict with 'V', 'W'"):
        N.check_two_layer({"V": V})
    with pytest.raises(ValueError, match="must share the width M"):
        N.two_layer_apply({"V": V, "W": W[:3]}, x)
    with pytest.raises(ValueError, match="x must have 3 features"):
        N.two_layer_apply(N.TwoLayerParams(V, W), np.ones((4, 2)))
    with pytest.raises(ValueError, match="x must be finite"):
        N.two_layer_apply(N.TwoLayerParams(V, W), np.full((4, 3), np.inf))
    with pytest.raises(ValueError, match=r"params must be a dict with 'A' \(the chain\)"):
        N.check_weights({"B": V}, ("A",), model="chain")
    # inside jit the shapes are still checked
    with pytest.raises(ValueError, match="x must have 3 features"):
        jax.jit(N.two_layer_apply)({"V": V, "W": W}, jnp.ones((4, 2)))
