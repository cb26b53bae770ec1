"""dynamics.networks deep networks: the MLP of Simon et al. (2023), App. D.1 and a small residual network.

Shapes and dtypes, NumPy reference forward passes (explicit convolution loops), the small-initialisation
scaling in alpha (S App. D.2), jit/grad, reproducibility and bad-input errors.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynamics  # noqa: F401
from dynamics import networks as N

RELU = lambda u: np.maximum(u, 0.0)  # noqa: E731


def _randomize(params, seed=1, scale=0.3):
    """The same pytree with every leaf (biases included) redrawn N(0, scale²) in float64."""
    leaves, tree = jax.tree_util.tree_flatten(params)
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_unflatten(tree, [jnp.asarray(scale * rng.standard_normal(np.shape(a)))
                                               for a in leaves])


# ------------------------------------------------------------------------------------------- MLP


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_mlp_shapes_and_dtype(dtype):
    p = N.init_mlp(6, 11, 3, dtype=dtype)
    assert {k: tuple(v.shape) for k, v in p.items()} == {"W1": (6, 11), "b1": (11,), "W2": (11, 3), "b2": (3,)}
    assert all(v.dtype == dtype for v in p.values())
    assert not np.any(np.asarray(p["b1"])) and not np.any(np.asarray(p["b2"]))
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(dtype)
    f, h = N.mlp_apply(p, x, return_hidden=True)
    assert f.shape == (5, 3) and h.shape == (5, 11)
    assert f.dtype == dtype and h.dtype == dtype
    np.testing.assert_array_equal(f, N.mlp_apply(p, x))


@pytest.mark.parametrize("init, gain", [("lecun", 1.0), ("he", 2.0)])
def test_mlp_init_variance(init, gain):
    """W1 ~ N(0, gain/D), W2 ~ N(0, gain/M): empirical variances within 5% (D·M = 200 000 samples)."""
    D, M = 400, 500
    p = N.init_mlp(D, M, 400, init=init, seed=3)
    np.testing.assert_allclose(np.var(np.asarray(p["W1"])) * D, gain, rtol=0.05)
    np.testing.assert_allclose(np.var(np.asarray(p["W2"])) * M, gain, rtol=0.05)


@pytest.mark.parametrize("act", ["relu", "tanh", "linear"])
def test_mlp_apply_against_numpy(act):
    phi = {"relu": RELU, "tanh": np.tanh, "linear": lambda u: u}[act]
    p = _randomize(N.init_mlp(4, 7, 3))
    W1, b1, W2, b2 = (np.asarray(p[k]) for k in ("W1", "b1", "W2", "b2"))
    x = np.random.default_rng(2).standard_normal((5, 4))
    h = np.array([[phi(sum(x[i, a] * W1[a, m] for a in range(4)) + b1[m]) for m in range(7)] for i in range(5)])
    f = np.array([[sum(h[i, m] * W2[m, z] for m in range(7)) + b2[z] for z in range(3)] for i in range(5)])
    out, hid = N.mlp_apply(p, x, act, return_hidden=True)
    np.testing.assert_allclose(hid, h, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(out, f, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(N.make_apply("mlp", act)(p, x), f, rtol=1e-13, atol=1e-14)


def test_mlp_alpha_scaling_exact():
    """Zero biases, ReLU: every path has two weight layers, so f_α(x) = α² f_1(x) (S App. D.2 small init)."""
    x = np.random.default_rng(0).standard_normal((6, 5))
    p1 = N.init_mlp(5, 9, 3, seed=4)
    f1 = np.asarray(N.mlp_apply(p1, x))
    for alpha in (1e-3, 0.1, 3.0):
        pa = N.init_mlp(5, 9, 3, seed=4, alpha=alpha)
        for k in ("W1", "W2"):
            np.testing.assert_allclose(pa[k], alpha * np.asarray(p1[k]), rtol=1e-15)
        np.testing.assert_allclose(N.mlp_apply(pa, x), alpha**2 * f1, rtol=1e-13, atol=1e-300)


def test_mlp_seed_reproducible():
    a, b, c = N.init_mlp(4, 6, 2, seed=7), N.init_mlp(4, 6, 2, seed=7), N.init_mlp(4, 6, 2, seed=8)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.allclose(a["W1"], c["W1"])


def test_mlp_jit_grad():
    p = N.init_mlp(4, 6, 2)
    x = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_allclose(jax.jit(N.mlp_apply)(p, x), N.mlp_apply(p, x), rtol=1e-14)
    loss = lambda q: jnp.sum(N.mlp_apply(q, x) ** 2)  # noqa: E731
    g = jax.grad(loss)(p)
    assert jax.tree_util.tree_structure(g) == jax.tree_util.tree_structure(p)
    # finite-difference check of one entry of dL/dW1
    e = np.zeros((4, 6))
    e[1, 2] = 1e-6
    fd = (loss(dict(p, W1=p["W1"] + e)) - loss(dict(p, W1=p["W1"] - e))) / 2e-6
    np.testing.assert_allclose(g["W1"][1, 2], fd, rtol=1e-6)


# ------------------------------------------------------------------------------------------- ResNet


def _np_conv(x, w, b, stride, pad):
    """NumPy reference: out[n, i, j, o] = Σ_{u, v, c} xpad[n, s·i + u, s·j + v, c] w[u, v, c, o] + b[o]."""
    n, H, W, C = x.shape
    k, _, _, O = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    Ho, Wo = (H + 2 * pad - k) // stride + 1, (W + 2 * pad - k) // stride + 1
    out = np.zeros((n, Ho, Wo, O))
    for i in range(Ho):
        for j in range(Wo):
            for u in range(k):
                for v in range(k):
                    out[:, i, j, :] += xp[:, stride * i + u, stride * j + v, :] @ w[u, v]
    return out + (0.0 if b is None else b)


def _np_resnet(params, images):
    P = jax.tree_util.tree_map(np.asarray, params)
    x = RELU(_np_conv(images, P["stem"]["w"], P["stem"]["b"], 1, 1))
    for blocks in P["stages"]:
        for blk in blocks:
            s = 2 if "proj" in blk else 1
            y = RELU(_np_conv(x, blk["conv1"]["w"], blk["conv1"]["b"], s, 1))
            y = _np_conv(y, blk["conv2"]["w"], blk["conv2"]["b"], 1, 1)
            sc = _np_conv(x, blk["proj"]["w"], None, s, 0) if "proj" in blk else x
            x = RELU(sc + y)
    h = x.mean(axis=(1, 2))
    hd = P["head"]
    return RELU(h @ hd["W1"] + hd["b1"]) @ hd["W2"] + hd["b2"], h


def test_resnet_structure():
    p = N.init_resnet((8, 8, 3), 5, widths=(4, 6, 8), blocks_per_stage=2, head_width=10)
    assert p["stem"]["w"].shape == (3, 3, 3, 4)
    assert [len(s) for s in p["stages"]] == [2, 2, 2]
    assert ["proj" in b for s in p["stages"] for b in s] == [False, False, True, False, True, False]
    assert p["stages"][1][0]["proj"]["w"].shape == (1, 1, 4, 6)
    assert p["head"]["W1"].shape == (8, 10) and p["head"]["W2"].shape == (10, 5)
    assert N.init_resnet((8, 8, 3), 5, widths=(4, 7))["head"]["W1"].shape == (7, 7)  # head_width = widths[-1]
    # He init: conv kernels N(0, 2/fan_in), fan_in = 3·3·C_in
    w = np.asarray(N.init_resnet((4, 4, 3), 2, widths=(64, 64), seed=1)["stages"][0][0]["conv1"]["w"])
    np.testing.assert_allclose(np.var(w) * 9 * 64, 2.0, rtol=0.05)


@pytest.mark.parametrize("shape", [(5, 5, 2), (6, 4, 1)])
def test_resnet_against_numpy(shape):
    """Identity block, stride-2 projection block (odd and even sizes), pooling and head, biases non-zero."""
    p = _randomize(N.init_resnet(shape, 3, widths=(3, 4), blocks_per_stage=2, head_width=5), seed=5, scale=0.4)
    images = np.random.default_rng(6).standard_normal((2,) + shape)
    f_ref, h_ref = _np_resnet(p, images)
    f, h = N.resnet_apply(p, images, return_hidden=True)
    np.testing.assert_allclose(h, h_ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(f, f_ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(N.make_apply("resnet")(p, images), f_ref, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_resnet_dtype(dtype):
    p = N.init_resnet((6, 6, 3), 4, widths=(4, 8), dtype=dtype)
    assert all(a.dtype == dtype for a in jax.tree_util.tree_leaves(p))
    images = np.random.default_rng(0).standard_normal((3, 6, 6, 3)).astype(dtype)
    f, h = N.resnet_apply(p, images, return_hidden=True)
    assert f.shape == (3, 4) and h.shape == (3, 8)
    assert f.dtype == dtype and h.dtype == dtype
    # uint8 images are converted to the parameters' dtype
    u8 = (np.random.default_rng(1).integers(0, 256, (2, 6, 6, 3))).astype(np.uint8)
    out = N.resnet_apply(p, u8)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, N.resnet_apply(p, u8.astype(dtype)), rtol=1e-6 if dtype == jnp.float32 else 1e-14)


def test_resnet_homogeneity():
    """Zero biases and ReLU: f(c·images) = c·f(images) for c > 0 (exactly, up to round-off); in α the output is
    α^L·g(α) with g continuous at 0, L = len(widths) + 2 (stem, one projection per later stage, two head
    layers): f_α/α^L converges as α -> 0, its change shrinking by 10x per decade of α."""
    shape, widths = (6, 6, 2), (3, 4, 5)
    images = np.random.default_rng(2).standard_normal((3,) + shape)
    p1 = N.init_resnet(shape, 3, widths=widths, seed=9)
    f1 = np.asarray(N.resnet_apply(p1, images))
    np.testing.assert_allclose(N.resnet_apply(p1, 2.5 * images), 2.5 * f1, rtol=1e-12, atol=1e-14)
    L = len(widths) + 2
    ratios = []
    for alpha in (1e-2, 1e-3, 1e-4, 1e-5):
        pa = N.init_resnet(shape, 3, widths=widths, seed=9, alpha=alpha)
        for a, b in zip(jax.tree_util.tree_leaves(pa), jax.tree_util.tree_leaves(p1)):
            np.testing.assert_allclose(a, alpha * np.asarray(b), rtol=1e-15)
        ratios.append(np.asarray(N.resnet_apply(pa, images)) / alpha**L)
    limit = ratios[-1]
    assert np.max(np.abs(limit)) > 1e-3  # the leading term is not zero
    diffs = [np.max(np.abs(r - limit)) for r in ratios[:-1]]
    assert diffs[0] > 0 and diffs[0] / diffs[1] > 5 and diffs[1] / diffs[2] > 5, diffs
    assert diffs[-1] < 1e-3 * np.max(np.abs(limit))


def test_resnet_jit_grad_vmap():
    p = N.init_resnet((5, 5, 1), 2, widths=(2, 3))
    images = np.random.default_rng(0).standard_normal((2, 5, 5, 1))
    np.testing.assert_allclose(jax.jit(N.resnet_apply)(p, images), N.resnet_apply(p, images), rtol=1e-13)
    g = jax.grad(lambda q: jnp.sum(N.resnet_apply(q, images) ** 2))(p)
    assert jax.tree_util.tree_structure(g) == jax.tree_util.tree_structure(p)
    assert all(np.all(np.isfinite(a)) for a in jax.tree_util.tree_leaves(g))
    per = jax.vmap(lambda im: N.resnet_apply(p, im[None])[0])(images)
    np.testing.assert_allclose(per, N.resnet_apply(p, images), rtol=1e-13)


def test_resnet_seed_reproducible():
    a, b = N.init_resnet((4, 4, 3), 2, seed=3), N.init_resnet((4, 4, 3), 2, seed=3)
    c = N.init_resnet((4, 4, 3), 2, seed=4)
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(u, v)
    assert not np.allclose(a["stem"]["w"], c["stem"]["w"])


def test_init_two_layer_unchanged():
    """The deep initialisers draw from their own generators: init_two_layer's numbers are those of its seed."""
    p = N.init_two_layer(3, 4, 2, seed=0)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(p["V"], rng.standard_normal((4, 3)))
    np.testing.assert_array_equal(p["W"], rng.standard_normal((4, 2)))


# ------------------------------------------------------------------------------------------- bad input

MLP = N.init_mlp(3, 4, 2)
RES = N.init_resnet((5, 5, 2), 2, widths=(2, 3))
IMG = np.ones((2, 5, 5, 2))


def _bad_block():
    p = jax.tree_util.tree_map(lambda a: a, RES)
    p["stages"][1][0].pop("proj")
    return p


def _wide_conv2():
    p = jax.tree_util.tree_map(lambda a: a, RES)
    p["stages"][0][0]["conv2"]["w"] = np.ones((3, 3, 5, 2))
    return p


def _nan_head():
    p = jax.tree_util.tree_map(lambda a: a, RES)
    p["head"]["W2"] = p["head"]["W2"].at[0, 0].set(np.nan)
    return p


BAD = [
    ("mlp-M", lambda: N.init_mlp(3, 0, 2), ValueError, "M must be >= 1"),
    ("mlp-alpha", lambda: N.init_mlp(3, 4, 2, alpha=0.0), ValueError, "alpha must be finite and > 0"),
    ("mlp-alpha_nan", lambda: N.init_mlp(3, 4, 2, alpha=np.nan), ValueError, "alpha must be finite"),
    ("mlp-init", lambda: N.init_mlp(3, 4, 2, init="xavier"), ValueError, "init must be one of"),
    ("mlp-dtype", lambda: N.init_mlp(3, 4, 2, dtype=np.int32), TypeError, "dtype must be a floating dtype"),
    ("mlp-seed", lambda: N.init_mlp(3, 4, 2, seed=-1), ValueError, "seed must be >= 0"),
    ("mlp_apply-x", lambda: N.mlp_apply(MLP, np.ones((4, 5))), ValueError, "x must have 3 features"),
    ("mlp_apply-x_nan", lambda: N.mlp_apply(MLP, np.full((4, 3), np.nan)), ValueError, "x must be finite"),
    ("mlp_apply-params", lambda: N.mlp_apply({"W1": MLP["W1"]}, np.ones((4, 3))), ValueError, "params must be a dict"),
    ("mlp_apply-b1", lambda: N.mlp_apply(dict(MLP, b1=np.zeros(5)), np.ones((4, 3))), ValueError, "params['b1']"),
    ("mlp_apply-act", lambda: N.mlp_apply(MLP, np.ones((4, 3)), "gelu"), ValueError, "activation must be one of"),
    ("resnet-image_shape", lambda: N.init_resnet((5, 5), 2), ValueError, "image_shape must be (H, W, C)"),
    ("resnet-image_shape0", lambda: N.init_resnet((0, 5, 3), 2), ValueError, "image_shape[0] must be >= 1"),
    ("resnet-widths", lambda: N.init_resnet((5, 5, 3), 2, widths=()), ValueError, "widths must be a non-empty"),
    ("resnet-widths_neg", lambda: N.init_resnet((5, 5, 3), 2, widths=(4, -1)), ValueError, "widths[1] must be >= 1"),
    ("resnet-blocks", lambda: N.init_resnet((5, 5, 3), 2, blocks_per_stage=0), ValueError, "blocks_per_stage"),
    ("resnet-head", lambda: N.init_resnet((5, 5, 3), 2, head_width=2.5), TypeError, "head_width must be an integer"),
    ("resnet-alpha", lambda: N.init_resnet((5, 5, 3), 2, alpha=-1.0), ValueError, "alpha must be finite and > 0"),
    ("resnet_apply-images_C", lambda: N.resnet_apply(RES, np.ones((2, 5, 5, 3))), ValueError,
     "images must be 4-D (n, H, W, C) with C = 2"),
    ("resnet_apply-images_ndim", lambda: N.resnet_apply(RES, np.ones((5, 5, 2))), ValueError, "images must be 4-D"),
    ("resnet_apply-images_nan", lambda: N.resnet_apply(RES, np.full((2, 5, 5, 2), np.nan)), ValueError,
     "images must be finite"),
    ("resnet_apply-proj", lambda: N.resnet_apply(_bad_block(), IMG), ValueError, "must have a 'proj' shortcut"),
    ("resnet_apply-nan", lambda: N.resnet_apply(_nan_head(), IMG), ValueError, "params['head']['W2'] must be finite"),
    ("resnet_apply-params", lambda: N.resnet_apply({"stem": RES["stem"]}, IMG), ValueError, "params must be a dict"),
    ("check_mlp-W2", lambda: N.check_mlp(dict(MLP, W2=np.ones((5, 2)))), ValueError, "params['W2'] must have shape"),
    ("check_resnet-conv2", lambda: N.check_resnet(_wide_conv2()), ValueError, "['conv2']['w'] must have shape"),
    ("check_resnet-stages", lambda: N.check_resnet(dict(RES, stages=[])), ValueError, "params['stages'] must be"),
    ("check_resnet-images", lambda: N.check_resnet(RES, np.ones((2, 5, 5)), images_name="views"), ValueError,
     "views must be 4-D"),
    ("make_apply-standard", lambda: N.make_apply("mlp", parametrization="standard"), ValueError,
     "two-layer network only"),
]


@pytest.mark.parametrize("fn, err, match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input(fn, err, match):
    with pytest.raises(err) as info:
        fn()
    assert match in str(info.value), str(info.value)


def test_traced_apply_checks_shapes_not_values():
    """Inside jit the shape errors still fire; NaN values pass unchecked (their value is unknown)."""
    with pytest.raises(ValueError, match="images must be 4-D"):
        jax.jit(N.resnet_apply)(RES, np.ones((2, 5, 5, 3)))
    with pytest.raises(ValueError, match="x must have 3 features"):
        jax.jit(N.mlp_apply)(MLP, np.ones((4, 5)))
    assert np.all(np.isnan(jax.jit(N.mlp_apply)(MLP, np.full((4, 3), np.nan))))


def test_resnet_alpha_scope_last_scales_only_the_last_head_layer():
    import jax.numpy as jnp
    from dynamics import networks as nets

    full = nets.init_resnet((6, 6, 1), 3, widths=(4,), seed=2, alpha=1.0)
    last = nets.init_resnet((6, 6, 1), 3, widths=(4,), seed=2, alpha=0.1, alpha_scope="last")
    np.testing.assert_allclose(last["head"]["W2"], 0.1 * full["head"]["W2"], rtol=1e-12)
    np.testing.assert_array_equal(last["stem"]["w"], full["stem"]["w"])
    np.testing.assert_array_equal(last["head"]["W1"], full["head"]["W1"])
    x = jnp.asarray(np.random.default_rng(0).normal(size=(5, 6, 6, 1)))
    # zero biases: the output is exactly linear in the scale of the last layer
    np.testing.assert_allclose(nets.resnet_apply(last, x), 0.1 * nets.resnet_apply(full, x), rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="alpha_scope"):
        nets.init_resnet((6, 6, 1), 3, widths=(4,), alpha_scope="head")


# ------------------------------------------------------------------------------------------- head batch norm


def _np_head_norm(params, images, stats=None):
    """NumPy reference of the Linear -> BN -> ReLU -> Linear head (biased batch variance, ε = 1e-5)."""
    P = jax.tree_util.tree_map(np.asarray, params)
    no_norm = {k: v for k, v in P.items() if k != "head"}
    no_norm["head"] = {k: v for k, v in P["head"].items() if k != "norm"}
    _, h = _np_resnet(no_norm, images)
    hd = P["head"]
    u = h @ hd["W1"] + hd["b1"]
    mu, var = (u.mean(axis=0), u.var(axis=0)) if stats is None else stats
    u = (u - mu) / np.sqrt(var + 1e-5) * hd["norm"]["scale"] + hd["norm"]["offset"]
    return RELU(u) @ hd["W2"] + hd["b2"], h


def test_resnet_head_norm_against_numpy():
    p = _randomize(N.init_resnet((5, 5, 2), 3, widths=(3, 4), head_width=6, head_norm=True), seed=7, scale=0.4)
    assert p["head"]["norm"]["scale"].shape == (6,) and p["head"]["norm"]["offset"].shape == (6,)
    images = np.random.default_rng(8).standard_normal((7, 5, 5, 2))
    f_ref, h_ref = _np_head_norm(p, images)
    f, h = N.resnet_apply(p, images, return_hidden=True)
    np.testing.assert_allclose(h, h_ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(f, f_ref, rtol=1e-10, atol=1e-12)


def test_resnet_head_norm_statistics_make_rows_independent():
    """Training mode couples the rows; with the fixed statistics of a reference batch (evaluation mode) the output
    on the reference batch is the training-mode output, and any subset of rows gives the same rows."""
    p = N.init_resnet((6, 6, 1), 3, widths=(4, 6), seed=3, head_norm=True)
    x = np.random.default_rng(9).standard_normal((8, 6, 6, 1))
    stats = N.head_norm_statistics(p, x)
    full = np.asarray(N.resnet_apply(p, x))
    np.testing.assert_allclose(N.resnet_apply(p, x, norm_stats=stats), full, rtol=1e-12, atol=1e-14)
    sub = np.asarray(N.resnet_apply(p, x[2:5], norm_stats=stats))
    np.testing.assert_allclose(sub, full[2:5], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(sub, _np_head_norm(p, x[2:5], tuple(map(np.asarray, stats)))[0], rtol=1e-10,
                               atol=1e-12)
    assert not np.allclose(N.resnet_apply(p, x[2:5]), full[2:5])  # training mode: statistics of the 3 rows


def test_resnet_head_norm_undoes_the_scale_of_the_first_head_layer():
    """BN(c u) = BN(u) (up to ε): with the head norm, α on every weight but W2 changes nothing but ε's share, so
    α on "all" weights and on the "last" one give nearly the same embeddings (S App. D.2 with batch norm)."""
    p = N.init_resnet((6, 6, 1), 3, widths=(4,), seed=4, head_norm=True)
    x = np.random.default_rng(10).standard_normal((9, 6, 6, 1))
    scaled = jax.tree_util.tree_map(lambda a: a, p)
    scaled["head"]["W1"] = 3.0 * p["head"]["W1"]
    f, f_scaled = np.asarray(N.resnet_apply(p, x)), np.asarray(N.resnet_apply(scaled, x))
    # what is left is ε's share: (c u − c μ)/√(c² σ² + ε) − (u − μ)/√(σ² + ε) ≈ (1 − 1/c²) ε / (2 σ²) relative
    _, h = N.resnet_apply(p, x, return_hidden=True)
    var = np.var(np.asarray(h) @ np.asarray(p["head"]["W1"]), axis=0)
    bound = (1 - 1 / 9) * 1e-5 / (2 * var.min()) * 1.5
    assert np.abs(f_scaled - f).max() <= bound * np.abs(f).max(), (np.abs(f_scaled - f).max(), bound)
    plain = N.init_resnet((6, 6, 1), 3, widths=(4,), seed=4)  # without the norm the layer's scale passes through
    plain_scaled = jax.tree_util.tree_map(lambda a: a, plain)
    plain_scaled["head"]["W1"] = 3.0 * plain["head"]["W1"]
    np.testing.assert_allclose(N.resnet_apply(plain_scaled, x), 3.0 * N.resnet_apply(plain, x), rtol=1e-10, atol=1e-13)
    f32 = N.init_resnet((6, 6, 1), 3, widths=(4,), seed=4, head_norm=True, dtype=jnp.float32)
    assert N.resnet_apply(f32, x.astype(np.float32)).dtype == jnp.float32


RES_NORM = N.init_resnet((5, 5, 2), 2, widths=(2, 3), head_norm=True)


def _bad_norm():
    p = jax.tree_util.tree_map(lambda a: a, RES_NORM)
    p["head"]["norm"]["scale"] = np.ones(4)
    return p


@pytest.mark.parametrize("fn, match", [
    (lambda: N.resnet_apply(RES_NORM, IMG, norm_stats=np.zeros(3)), "norm_stats must be a (mean, variance) pair"),
    (lambda: N.resnet_apply(RES, IMG, norm_stats=(0.0, 1.0)), "norm_stats was given but params['head'] has no"),
    (lambda: N.head_norm_statistics(RES, IMG), "params['head'] has no 'norm' entry"),
    (lambda: N.resnet_apply(_bad_norm(), IMG), "params['head']['norm']['scale'] must have shape"),
    (lambda: N.resnet_apply(dict(RES_NORM, head=dict(RES_NORM["head"], norm={"scale": np.ones(3)})), IMG),
     "params['head']['norm'] must be a dict with 'scale', 'offset'"),
    (lambda: N.resnet_apply(RES_NORM, IMG, norm_stats=(np.zeros(2), np.ones(3))), "norm_stats[0] (the mean) must have shape"),
    (lambda: N.resnet_apply(RES_NORM, IMG, norm_stats=(np.zeros(3), np.full(3, np.nan))), "norm_stats[1] (the variance) must be finite"),
    (lambda: N.resnet_apply(RES_NORM, IMG, norm_stats=(np.zeros(3), -np.ones(3))), "norm_stats[1] (the variance) must be >= 0"),
], ids=["stats-not-pair", "stats-without-norm", "statistics-without-norm", "scale-shape", "norm-keys", "stats-shape",
        "stats-nan", "stats-negative-variance"])
def test_head_norm_bad_input(fn, match):
    with pytest.raises(ValueError) as info:
        fn()
    assert match in str(info.value), str(info.value)
