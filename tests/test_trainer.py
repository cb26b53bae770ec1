"""Reference trainer: history format, independence from Γ, reproducibility, failure reporting."""

import jax.numpy as jnp
import numpy as np
import pytest

from dynamics import barlow, trainer


def _pairs(n=200, m=5, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, m)) * np.sqrt(2.0 ** -np.arange(m))
    return z + 0.1 * rng.standard_normal((n, m)), z + 0.1 * rng.standard_normal((n, m))


def test_history_and_loss_match_gamma_form():
    x, xp = _pairs()
    G = barlow.cross_correlation(x, xp)
    W, hist = trainer.train_barlow_linear(x, xp, d=2, init_scale=1e-3, lr=1e-2, n_steps=500,
                                          n_records=20, record_weights=True)
    assert hist.step[0] == 0 and hist.step[-1] == 500
    assert np.allclose(hist.t, 1e-2 * hist.step)
    # the trainer computed the loss from embeddings; recompute it from Γ (S5)
    assert np.allclose(hist.loss, [barlow.loss(w, G) for w in hist["W"]], rtol=1e-10, atol=1e-12)
    eig = np.stack([np.linalg.eigvalsh(w @ G @ w.T)[::-1] for w in hist["W"]])
    assert np.allclose(hist["eigenvalues"], eig, atol=1e-12)
    assert np.array_equal(np.asarray(W), hist["W"][-1])


def test_small_step_gd_tracks_gradient_flow():
    x, xp = _pairs()
    G = barlow.cross_correlation(x, xp)
    W0 = trainer.init_linear(2, 5, 0.1, seed=3)
    _, hist = trainer.train_barlow_linear(x, xp, W0=W0, lr=1e-4, n_steps=20000, n_records=10, record_weights=True)
    flow = barlow.gradient_flow(W0, G, hist.t)
    err = np.linalg.norm(hist["W"] - flow, axis=(1, 2)) / np.linalg.norm(flow, axis=(1, 2))
    assert err.max() < 1e-3


def test_reproducible_bit_identical():
    x, xp = _pairs()
    a = trainer.train_barlow_linear(x, xp, d=2, seed=7, init_scale=1e-2, lr=1e-2, n_steps=300)[1]
    b = trainer.train_barlow_linear(x, xp, d=2, seed=7, init_scale=1e-2, lr=1e-2, n_steps=300)[1]
    assert np.array_equal(a.loss, b.loss) and np.array_equal(a["eigenvalues"], b["eigenvalues"])


def test_non_finite_names_first_bad_step():
    x, xp = _pairs()
    with pytest.raises(trainer.NonFiniteError, match=r"at step \d+") as info:
        trainer.train_barlow_linear(x, xp, d=2, init_scale=1.0, lr=50.0, n_steps=1000, n_records=3)
    step = info.value.step
    # replay by hand: the step before is finite, the named step is not
    W = jnp.asarray(trainer.init_linear(2, 5, 1.0, 0))
    xj, xpj = jnp.asarray(x), jnp.asarray(xp)
    loss = lambda w: barlow._core._embedding_loss(xj @ w.T, xpj @ w.T)  # noqa: E731
    import jax

    g = jax.jit(jax.grad(loss))
    for _ in range(step - 1):
        W = W - 50.0 * g(W)
    assert np.all(np.isfinite(W)) and np.isfinite(loss(W))
    W = W - 50.0 * g(W)
    assert not (np.all(np.isfinite(W)) and np.isfinite(loss(W)))


def test_projected_gd_stays_on_constraint():
    target = jnp.array([3.0, 4.0])
    proj = lambda v: v / jnp.linalg.norm(v)  # noqa: E731
    v, hist = trainer.gradient_descent(lambda v: -v @ target, jnp.array([1.0, 0.0]), lr=0.1, n_steps=200,
                                       project=proj, observers={"norm": jnp.linalg.norm})
    assert np.allclose(hist["norm"], 1.0)
    assert np.allclose(v, target / 5.0, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(d=2, lr=-1.0, n_steps=10), "lr must be finite and > 0"),
        (dict(d=2, lr=0.1, n_steps=0), "n_steps must be >= 1"),
        (dict(lr=0.1, n_steps=10), "give d"),
        (dict(W0=np.ones((2, 4)), lr=0.1, n_steps=10), "W0 must have m = 5"),
        (dict(d=2, lr=0.1, n_steps=10, record_steps=[0, 5, 3]), "strictly increasing"),
    ],
)
def test_trainer_bad_input(kwargs, match):
    x, xp = _pairs()
    with pytest.raises((ValueError, TypeError), match=match):
        trainer.train_barlow_linear(x, xp, **kwargs)


def test_network_trainer_records_ntk_drift_consistently():
    """The drift recorded inside the compiled loop equals the drift recomputed from the final parameters."""
    from dynamics import networks, ntk

    x, xp = _pairs(n=40, m=5)
    X = np.concatenate([x, xp])
    params = networks.init_two_layer(5, 64, 2, seed=0)
    apply = lambda p, inp: networks.two_layer_apply(p, inp, "tanh")  # noqa: E731
    final, hist = trainer.train_barlow(apply, params, x, xp, lr=0.05, n_steps=50, n_records=5,
                                       ntk_fn=ntk.two_layer_ntk_fn(X, X, "tanh"))
    K0 = ntk.two_layer_ntk(params, X, X, "tanh", output="trace")
    KT = ntk.two_layer_ntk(final, X, X, "tanh", output="trace")
    assert hist["ntk_drift"][0] < 1e-14
    assert hist["ntk_drift"][-1] == pytest.approx(float(ntk.ntk_drift(KT, K0)), rel=1e-10)
    assert hist["eigenvalues"].shape == (len(hist.t), 2)


def test_supervised_trainer_reduces_squared_loss():
    from dynamics import networks

    x, _ = _pairs(n=40, m=5)
    y = np.sin(x[:, :2])
    params = networks.init_two_layer(5, 128, 2, seed=1)
    apply = lambda p, inp: networks.two_layer_apply(p, inp, "relu")  # noqa: E731
    _, hist = trainer.train_supervised(apply, params, x, y, lr=0.1, n_steps=200, n_records=5)
    # recorded loss equals the squared loss recomputed on the initial parameters
    f0 = np.asarray(apply(params, x))
    assert hist.loss[0] == pytest.approx(0.5 * np.mean(np.sum((f0 - y) ** 2, axis=1)), rel=1e-12)
    assert hist.loss[-1] < 0.5 * hist.loss[0]
    with pytest.raises(ValueError, match="same number of rows"):
        trainer.train_supervised(apply, params, x, y[:5], lr=0.1, n_steps=2)


def test_repeated_runs_reuse_compiled_programs():
    # Same model and shapes, different data, init and lr: the compiled GD programs are reused, and the
    # result equals GD with programs built afresh from a closure over the data.
    from dynamics.barlow._core import _embedding_loss

    x, xp = _pairs(seed=1)
    trainer.train_barlow_linear(x, xp, d=2, seed=1, init_scale=1e-2, lr=1e-2, n_steps=50, n_records=5)
    before = trainer._programs.cache_info()
    x2, xp2 = _pairs(seed=2)
    W0 = trainer.init_linear(2, 5, 1e-2, seed=2)
    W, hist = trainer.train_barlow_linear(x2, xp2, W0=W0, lr=2e-2, n_steps=50, n_records=5)
    after = trainer._programs.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)
    x2j, xp2j = jnp.asarray(x2), jnp.asarray(xp2)
    W_ref, hist_ref = trainer.gradient_descent(lambda w: _embedding_loss(x2j @ w.T, xp2j @ w.T), jnp.asarray(W0),
                                               lr=2e-2, n_steps=50, record_steps=hist.step)
    assert np.allclose(np.asarray(W), np.asarray(W_ref), rtol=1e-12, atol=1e-15)
    assert np.allclose(hist.loss, hist_ref.loss, rtol=1e-12, atol=1e-15)


def test_unhashable_model_function_still_trains():
    class Model:  # callable, with __eq__ and no __hash__: cannot key a cache
        __hash__ = None

        def __eq__(self, other):
            return isinstance(other, Model)

        def __call__(self, W, inp):
            return inp @ W.T

    x, xp = _pairs()
    W0 = trainer.init_linear(2, 5, 1e-2, seed=4)
    _, h1 = trainer.train_barlow(Model(), jnp.asarray(W0), x, xp, lr=1e-2, n_steps=30, n_records=4)
    _, h2 = trainer.train_barlow_linear(x, xp, W0=W0, lr=1e-2, n_steps=30, record_steps=h1.step)
    assert np.allclose(h1.loss, h2.loss, rtol=1e-12)


# --------------------------------------------------------------------------- gradient_descent with data


def _quad_loss(w, data):
    """½‖A w − b‖² / n: a module-level loss so that its compiled programs are cached."""
    _quad_loss.traces += 1  # counts Python traces (eval_shape, jit, grad): a compiled run adds none
    r = data["A"] @ w - data["b"]
    return 0.5 * jnp.mean(r**2)


_quad_loss.traces = 0


def _quad_data(seed, n=30, m=4):
    rng = np.random.default_rng(seed)
    return {"A": rng.standard_normal((n, m)), "b": rng.standard_normal(n)}


def _norm_and_parts(w, data):
    return {"norm": jnp.linalg.norm(w), "parts": (w[:2], jnp.sum(data["A"] @ w))}


def test_data_form_equals_closure_form_bit_for_bit():
    data = _quad_data(0)
    w0 = jnp.asarray(np.random.default_rng(1).standard_normal(4))
    Aj, bj = jnp.asarray(data["A"]), jnp.asarray(data["b"])
    steps = [0, 1, 7, 40, 100]
    w1, h1 = trainer.gradient_descent(_quad_loss, w0, data, lr=0.05, record_steps=steps,
                                      observers={"w": lambda w, d: w})
    w2, h2 = trainer.gradient_descent(lambda w: _quad_loss(w, {"A": Aj, "b": bj}), w0, lr=0.05, record_steps=steps,
                                      observers={"w": lambda w: w})
    assert np.array_equal(np.asarray(w1), np.asarray(w2))
    assert np.array_equal(h1.loss, h2.loss) and np.array_equal(h1["w"], h2["w"])
    assert np.array_equal(h1.step, steps) and np.allclose(h1.t, 0.05 * np.asarray(steps))


def test_second_run_with_new_data_of_same_shapes_compiles_nothing():
    observers = {"summary": _norm_and_parts}
    w0 = jnp.zeros(4)
    trainer.gradient_descent(_quad_loss, w0, _quad_data(1), lr=0.1, n_steps=20, observers=observers)
    traces = _quad_loss.traces
    before = trainer._programs.cache_info()
    # new data, new init, new lr and a new schedule: same shapes, so nothing is traced or compiled
    w, hist = trainer.gradient_descent(_quad_loss, jnp.ones(4), _quad_data(2), lr=0.02,
                                       record_steps=[0, 3, 50], observers=observers)
    after = trainer._programs.cache_info()
    assert _quad_loss.traces == traces
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)
    # ... and the cached programs did run on the new data: plain NumPy GD gives the same weights
    d = _quad_data(2)
    v = np.ones(4)
    for _ in range(50):
        v = v - 0.02 * d["A"].T @ (d["A"] @ v - d["b"]) / d["A"].shape[0]
    assert np.allclose(np.asarray(w), v, rtol=1e-12, atol=1e-14)
    # new shapes do trace again
    trainer.gradient_descent(_quad_loss, jnp.ones(4), _quad_data(3, n=31), lr=0.02, n_steps=2)
    assert _quad_loss.traces > traces


def test_pytree_observers_are_stacked_leaf_by_leaf():
    data = _quad_data(4)
    w, hist = trainer.gradient_descent(_quad_loss, jnp.ones(4), data, lr=0.1, record_steps=[0, 5, 10],
                                       observers={"summary": _norm_and_parts, "tuple": lambda w, d: (w, w @ w)})
    s = hist["summary"]
    assert set(s) == {"norm", "parts"} and s["norm"].shape == (3,)
    assert s["parts"][0].shape == (3, 2) and s["parts"][1].shape == (3,)
    assert isinstance(s["norm"], np.ndarray)
    assert s["norm"][-1] == pytest.approx(float(jnp.linalg.norm(w)), rel=1e-14)
    assert np.allclose(s["parts"][1][-1], np.sum(data["A"] @ np.asarray(w)), rtol=1e-12)
    W, sq = hist["tuple"]
    assert W.shape == (3, 4) and np.allclose(sq, np.sum(W**2, axis=1), rtol=1e-14)
    assert np.array_equal(W[-1], np.asarray(w))


def test_float32_parameters_stay_float32():
    data = {k: v.astype(np.float32) for k, v in _quad_data(5).items()}
    w, hist = trainer.gradient_descent(_quad_loss, jnp.ones(4, dtype=jnp.float32), data, lr=0.1, n_steps=10,
                                       observers={"w": lambda w, d: w})
    assert w.dtype == jnp.float32 and hist["w"].dtype == np.float32 and hist.loss.dtype == np.float32


def test_optax_sgd_equals_plain_gradient_descent():
    optax = pytest.importorskip("optax")
    data = _quad_data(6)
    steps = [0, 10, 60]
    w1, h1 = trainer.gradient_descent(_quad_loss, jnp.ones(4), data, lr=0.07, record_steps=steps)
    w2, h2 = trainer.gradient_descent(_quad_loss, jnp.ones(4), data, lr=0.07, record_steps=steps,
                                      optimizer=optax.sgd(0.07))
    assert np.array_equal(np.asarray(w1), np.asarray(w2)) and np.array_equal(h1.loss, h2.loss)
    # a stateful optimizer runs too (momentum), and its non-finite runs still name the step
    w3, h3 = trainer.gradient_descent(_quad_loss, jnp.ones(4), data, lr=0.07, record_steps=steps,
                                      optimizer=optax.sgd(0.07, momentum=0.9))
    assert h3.loss[-1] < h3.loss[0] and not np.array_equal(np.asarray(w3), np.asarray(w1))
    with pytest.raises(trainer.NonFiniteError, match=r"at step \d+"):
        trainer.gradient_descent(_quad_loss, jnp.ones(4), {"A": 1e3 * data["A"], "b": data["b"]}, lr=1.0,
                                 n_steps=2000, record_steps=[0, 2000], optimizer=optax.sgd(1.0, momentum=0.9))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: trainer.gradient_descent(_quad_loss, jnp.ones(5), _quad_data(0), lr=0.1, n_steps=2), ValueError,
         r"loss_fn\(params, data\) failed on data of shapes .* check that the data fit params"),
        (lambda: trainer.gradient_descent(_quad_loss, jnp.ones(4), {"A": np.ones((3, 4))}, lr=0.1, n_steps=2),
         ValueError, "data fit params"),
        (lambda: trainer.gradient_descent(_quad_loss, jnp.ones(4), {"A": np.ones((3, 4)), "b": "abc"}, lr=0.1,
                                          n_steps=2), TypeError, r"data must be a pytree of numeric arrays.*\['b'\]"),
        (lambda: trainer.gradient_descent(_quad_loss, jnp.ones(4), {"A": np.full((3, 4), np.nan), "b": np.ones(3)},
                                          lr=0.1, n_steps=2), ValueError, r"data must be finite.*\['A'\]"),
        (lambda: trainer.gradient_descent(_quad_loss, jnp.ones(4), {}, lr=0.1, n_steps=2), ValueError,
         "data must contain at least one array"),
        (lambda: trainer.gradient_descent(_quad_loss, jnp.ones(4), _quad_data(0), lr=0.1, n_steps=2,
                                          observers={"x": 3}), TypeError, r"observers\['x'\] must be callable"),
        (lambda: trainer.gradient_descent(_quad_loss, jnp.ones(4), _quad_data(0), lr=0.1, n_steps=2,
                                          observers=[_norm_and_parts]), TypeError, "observers must be a dict"),
        (lambda: trainer.gradient_descent(_quad_loss, jnp.ones(4), _quad_data(0), lr=0.1, n_steps=2,
                                          observers={"loss": _norm_and_parts}), ValueError, "must not be named 'loss'"),
        (lambda: trainer.gradient_descent(_quad_loss, jnp.ones(4), _quad_data(0), lr=0.1, n_steps=2,
                                          observers={"bad": lambda w, d: d["missing"]}), ValueError,
         r"observer 'bad' \(params, data\) failed on data"),
        (lambda: trainer.gradient_descent(_quad_loss, jnp.ones(4), _quad_data(0), lr=0.1, n_steps=2, optimizer=3),
         TypeError, "optimizer must be an optax GradientTransformation"),
        (lambda: trainer.gradient_descent(3, jnp.ones(4), _quad_data(0), lr=0.1, n_steps=2), TypeError,
         r"loss_fn must be callable loss_fn\(params, data\)"),
    ],
)
def test_gradient_descent_with_data_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_helpers_for_paper_trainers():
    # check_apply: shapes only, errors name apply_fn and the inputs
    out = trainer.check_apply(lambda W, x: x @ W.T, jnp.ones((2, 3)), np.ones((5, 3)), "anchors")
    assert tuple(out.shape) == (5, 2)
    with pytest.raises(TypeError, match="apply_fn must be callable"):
        trainer.check_apply(3, jnp.ones((2, 3)), np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"apply_fn\(params, anchors\) failed on anchors of shape \(5, 4\)"):
        trainer.check_apply(lambda W, x: x @ W.T, jnp.ones((2, 3)), np.ones((5, 4)), "anchors")
    with pytest.raises(ValueError, match=r"must return an \(n, d\) array with n = 5 rows"):
        trainer.check_apply(lambda W, x: jnp.sum(x @ W.T), jnp.ones((2, 3)), np.ones((5, 3)))
    # params_observer(s): one cached object per function, the data argument ignored
    fn = jnp.linalg.norm
    assert trainer.params_observer(fn) is trainer.params_observer(fn)
    assert float(trainer.params_observer(fn)(jnp.ones(4), None)) == 2.0
    obs = trainer.params_observers({"n": fn})
    assert obs["n"] is trainer.params_observer(fn) and trainer.params_observers(None) == {}
    with pytest.raises(TypeError, match="fn must be callable"):
        trainer.params_observer(3)
    with pytest.raises(TypeError, match=r"observers\['n'\] must be callable"):
        trainer.params_observers({"n": 3})
    with pytest.raises(TypeError, match="observers must be a dict"):
        trainer.params_observers([fn])

    # cached: the builder's cache for hashable functions, a fresh build for unhashable ones
    import functools

    @functools.lru_cache(maxsize=4)
    def builder(f):
        return lambda p, data: f(p)

    class Unhashable:
        __hash__ = None

        def __call__(self, p):
            return p

    assert trainer.cached(builder, fn) is trainer.cached(builder, fn)
    u = Unhashable()
    assert trainer.cached(builder, u) is not trainer.cached(builder, u)


def test_contrastive_runs_reuse_compiled_programs():
    """A's trainer: a second run (another seed) of the same network on data of the same shapes compiles nothing,
    with the NTK, C_V and output observers recorded and the Grassmannian projection on."""
    from dynamics import contrastive, networks, ntk

    d = contrastive.contrastive_digits(12)
    X = d.inputs[:6]
    ntk_fn = ntk.two_layer_ntk_fn(X, X, "relu", output="full")
    kw = dict(lr=0.01, n_steps=5, record_steps=[0, 2, 5], grassmann=True, record_cv=True, ntk_fn=ntk_fn)
    contrastive.train_contrastive(networks.init_two_layer(d.dim, 32, 3, seed=0), d, **kw)
    before = trainer._programs.cache_info()
    _, hist = contrastive.train_contrastive(networks.init_two_layer(d.dim, 32, 3, seed=1), d, **kw)
    after = trainer._programs.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)
    for name in ("loss", "outputs", "ntk_max_change", "ntk_drift", "cv_change", "cv_relative_change", "w_change",
                 "w_relative_change"):
        assert hist[name].shape[0] == 3, name
    assert hist["ntk_drift"][0] < 1e-14 and hist["cv_relative_change"][0] < 1e-14 and hist["w_change"][0] == 0.0
    assert hist["w_change"][-1] > 0 and hist["ntk_drift"][-1] > 1e-10
