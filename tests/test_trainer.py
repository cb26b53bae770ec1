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
