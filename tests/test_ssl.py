"""dynamics.ssl: SSL training of deep networks (S §6, App. D) checked against independent computations.

References are written here from the definitions: the MLP forward pass and the Barlow Twins loss by hand,
SGD with momentum and weight decay as a NumPy loop, the spectra with NumPy's eigvalsh, the linear probe
with scikit-learn's RidgeClassifier.  Runs share a few small configurations, so the compiled programs are
reused between tests.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynamics import networks, ssl
from dynamics.trainer import NonFiniteError

N, SIDE, WIDTH, D_EMB = 24, 4, 8, 3


def flip(key, images):
    """Horizontal flip of each image with probability 1/2 (a small augmentation for the tests)."""
    f = jax.random.bernoulli(key, 0.5, (images.shape[0],))
    return jnp.where(f[:, None, None, None], images[:, :, ::-1], images)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((N, SIDE, SIDE, 1))


@pytest.fixture(scope="module")
def params():
    return networks.init_mlp(SIDE * SIDE, WIDTH, D_EMB, alpha=0.7, seed=1)


def _np_forward(p, x):
    x = np.asarray(x).reshape(len(x), -1)
    h = np.maximum(x @ np.asarray(p["W1"]) + np.asarray(p["b1"]), 0)
    return h @ np.asarray(p["W2"]) + np.asarray(p["b2"]), h


def _hand_barlow(p, x):
    """‖c − I‖_F², c = fᵀ f / N for identical views (Zbontar et al. eq. 1, λ = 1), the MLP written out."""
    h = jnp.maximum(x.reshape(len(x), -1) @ p["W1"] + p["b1"], 0)
    f = h @ p["W2"] + p["b2"]
    c = f.T @ f / f.shape[0]
    return jnp.sum((c - jnp.eye(c.shape[0])) ** 2)


# ---------------------------------------------------------------------------------------------
# the step, the records, the clock


def test_sgd_momentum_weight_decay_matches_numpy_loop(images, params):
    """Full batch without augmentation: train_ssl's steps equal v ← μv + g + wd·θ, θ ← θ − lr·v (NumPy loop)."""
    lr, mu, wd, steps = 0.05, 0.9, 0.01, 3
    run = ssl.train_ssl("barlow_twins", "mlp", params, images, lr=lr, n_steps=steps, momentum=mu,
                        weight_decay=wd, batch_size=N, eval_size=N, record_steps=[0, 1, 2, 3])
    p = {k: np.asarray(v) for k, v in params.items()}
    v = {k: np.zeros_like(a) for k, a in p.items()}
    grad = jax.jit(jax.grad(_hand_barlow))
    for _ in range(steps):
        g = {k: np.asarray(a) for k, a in grad(p, jnp.asarray(images)).items()}
        for k in p:
            v[k] = mu * v[k] + g[k] + wd * p[k]
            p[k] = p[k] - lr * v[k]
    for k in p:
        np.testing.assert_allclose(np.asarray(run.params[k]), p[k], rtol=1e-10, atol=1e-13)
    np.testing.assert_array_equal(run.steps, [0, 1, 2, 3])
    np.testing.assert_allclose(run.t, lr * np.arange(4), rtol=0, atol=0)
    assert run.at_step == steps
    # the last recorded loss is the hand loss of the final parameters on the evaluation images
    np.testing.assert_allclose(run.loss[-1], float(_hand_barlow(p, jnp.asarray(images))), rtol=1e-10)


def test_recorded_spectra_match_numpy(images, params):
    """At step 0 (evaluation views = the images): λ(C) and the hidden covariance eigenvalues from NumPy."""
    run = ssl.train_ssl("barlow_twins", "mlp", params, images, lr=0.05, n_steps=3, weight_decay=0.01,
                        batch_size=N, eval_size=N, record_steps=[0, 1, 2, 3])
    f, h = _np_forward(params, images)
    c = f.T @ f / N
    np.testing.assert_allclose(run.eigenvalues[0], np.linalg.eigvalsh(c)[::-1], rtol=1e-10, atol=1e-13)
    cov_h = np.cov(h.T, bias=True)
    np.testing.assert_allclose(run.hidden_eigenvalues[0], np.linalg.eigvalsh(cov_h)[::-1], rtol=1e-9, atol=1e-12)
    assert run.eigenvalues.shape == (4, D_EMB) and run.hidden_eigenvalues.shape == (4, WIDTH)


def test_embedding_spectrum_definitions():
    rng = np.random.default_rng(3)
    za, zb = rng.standard_normal((10, 4)), rng.standard_normal((10, 4)) + 0.5
    c = za.T @ zb / 10
    np.testing.assert_allclose(ssl.embedding_spectrum("barlow_twins", za, zb),
                               np.linalg.eigvalsh((c + c.T) / 2)[::-1], rtol=1e-12, atol=1e-14)

    def bn(z):
        return (z - z.mean(0)) / np.sqrt(z.var(0) + 1e-5)

    cb = bn(za).T @ bn(zb) / 10
    np.testing.assert_allclose(ssl.embedding_spectrum("barlow_twins", za, zb, loss_kwargs={"batch_norm": True}),
                               np.linalg.eigvalsh((cb + cb.T) / 2)[::-1], rtol=1e-12, atol=1e-14)
    both = np.concatenate([za, zb])
    for loss in ("simclr", "vicreg"):
        np.testing.assert_allclose(ssl.embedding_spectrum(loss, za, zb),
                                   np.linalg.eigvalsh(np.cov(both.T, bias=True))[::-1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ssl.covariance_spectrum(za), np.linalg.eigvalsh(np.cov(za.T, bias=True))[::-1],
                               rtol=1e-12, atol=1e-14)
    # the Barlow Twins matrix is the loss's: ‖C − I‖² from the eigenvalues equals the symmetrised loss
    lam = ssl.embedding_spectrum("barlow_twins", za, zb)
    loss = ssl.ssl_loss("barlow_twins", symmetrize=True)(za, zb)
    np.testing.assert_allclose(float(np.sum((np.asarray(lam) - 1) ** 2)), float(loss), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# the linear probe


def test_linear_probe_matches_ridge_classifier():
    from sklearn.linear_model import RidgeClassifier

    rng = np.random.default_rng(5)
    centers = rng.standard_normal((3, 6)) * 1.2
    ytr, yte = rng.integers(0, 3, 90), rng.integers(0, 3, 60)
    xtr = centers[ytr] + rng.standard_normal((90, 6)) * [1, 2, 3, 0.5, 1, 4]
    xte = centers[yte] + rng.standard_normal((60, 6)) * [1, 2, 3, 0.5, 1, 4]
    mean, std = xtr.mean(0), xtr.std(0)
    for ridge in (1e-3, 0.3):
        clf = RidgeClassifier(alpha=ridge * len(xtr)).fit((xtr - mean) / std, ytr)
        expected = float(np.mean(clf.predict((xte - mean) / std) == yte))
        assert ssl.linear_probe(xtr, ytr, xte, yte, ridge=ridge) == pytest.approx(expected, abs=1e-12)
    # separable classes (labels 4 and 9): perfect accuracy; a class unseen in training is always wrong
    x = np.concatenate([rng.standard_normal((20, 2)) + 6, rng.standard_normal((20, 2)) - 6])
    y = np.repeat([4, 9], 20)
    assert ssl.linear_probe(x, y, x, y) == 1.0
    assert ssl.linear_probe(x, y, x[:4], np.array([4, 4, 7, 7])) == 0.5


def test_probe_during_training_uses_the_hidden_representation(images, params):
    rng = np.random.default_rng(2)
    probe = ssl.ProbeData(images[:16], rng.integers(0, 2, 16), images[16:], rng.integers(0, 2, 8))
    run = ssl.train_ssl("barlow_twins", "mlp", params, images, lr=0.05, n_steps=3, weight_decay=0.01,
                        batch_size=N, eval_size=N, record_steps=[0, 1, 2, 3], probe=probe, probe_every=2)
    np.testing.assert_array_equal(run.probe_steps, [0, 2, 3])
    np.testing.assert_allclose(run.probe_t, 0.05 * np.array([0, 2, 3]))
    _, h_tr = _np_forward(params, probe.x_train)
    _, h_te = _np_forward(params, probe.x_test)
    assert run.probe_accuracy[0] == ssl.linear_probe(h_tr, probe.y_train, h_te, probe.y_test)
    _, h_tr = _np_forward(run.params, probe.x_train)
    _, h_te = _np_forward(run.params, probe.x_test)
    assert run.probe_accuracy[-1] == ssl.linear_probe(h_tr, probe.y_train, h_te, probe.y_test)


# ---------------------------------------------------------------------------------------------
# mini-batches of augmented views: reproducibility and resuming


def _minibatch(images, params, **kw):
    args = dict(lr=0.02, n_steps=10, augment=flip, batch_size=8, eval_size=12, n_records=5)
    args.update(kw)
    return ssl.train_ssl("barlow_twins", "mlp", params, images, **args)


def test_reproducible_from_seed(images, params):
    a, b, c = _minibatch(images, params), _minibatch(images, params), _minibatch(images, params, seed=1)
    np.testing.assert_array_equal(a.loss, b.loss)
    np.testing.assert_array_equal(a.eigenvalues, b.eigenvalues)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert np.all(a.loss[0] != c.loss[0]) or np.any(a.eigenvalues[0] != c.eigenvalues[0])  # other eval views
    assert not np.allclose(a.params["W1"], c.params["W1"])  # other batches and views


def test_resume_equals_uninterrupted(images, params, tmp_path):
    full = _minibatch(images, params, checkpoint=tmp_path / "full.npz", checkpoint_every=3)
    ckpt = tmp_path / "run.npz"
    part = _minibatch(images, params, checkpoint=ckpt, checkpoint_every=3, stop_at=5)
    assert part.at_step == 5 and part.steps[-1] <= 5
    assert ssl.SSLRun.load(ckpt).at_step == 5  # the checkpoint is a loadable (partial) run
    again = _minibatch(images, params, checkpoint=ckpt, checkpoint_every=3, stop_at=5)  # read back, not rerun
    np.testing.assert_array_equal(again.loss, part.loss)
    resumed = _minibatch(images, params, checkpoint=ckpt, checkpoint_every=3)
    assert resumed.at_step == 10
    np.testing.assert_array_equal(resumed.steps, full.steps)
    np.testing.assert_allclose(resumed.loss, full.loss, rtol=1e-12, atol=0)
    np.testing.assert_allclose(resumed.eigenvalues, full.eigenvalues, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(resumed.hidden_eigenvalues, full.hidden_eigenvalues, rtol=1e-12, atol=1e-15)
    for k in full.params:
        np.testing.assert_allclose(resumed.params[k], full.params[k], rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="checkpoint"):  # other settings: refused, naming the checkpoint
        _minibatch(images, params, checkpoint=ckpt, checkpoint_every=3, seed=4)
    other = dict(params, W1=params["W1"] * 2)
    with pytest.raises(ValueError, match="checkpoint"):  # other initial parameters
        _minibatch(images, other, checkpoint=ckpt, checkpoint_every=3)


# ---------------------------------------------------------------------------------------------
# optimisers, losses, the residual network, divergence


@pytest.mark.parametrize("loss,optimizer", [("vicreg", "lars"), ("simclr", "adam")])
def test_lars_and_adam_train(images, params, loss, optimizer):
    lr = 0.5 if optimizer == "lars" else 0.01
    run = ssl.train_ssl(loss, "mlp", params, images, lr=lr, n_steps=40, optimizer=optimizer, weight_decay=1e-4,
                        batch_size=N, eval_size=N, n_records=5)
    assert np.all(np.isfinite(run.loss)) and run.loss[-1] < run.loss[0]
    f, _ = _np_forward(run.params, images)
    np.testing.assert_allclose(run.eigenvalues[-1], np.linalg.eigvalsh(np.cov(f.T, bias=True))[::-1],
                               rtol=1e-8, atol=1e-12)


def test_resnet_records_hidden_spectrum_and_saves(images, tmp_path):
    p = networks.init_resnet((SIDE, SIDE, 1), D_EMB, widths=(4,), head_width=8, alpha=1.0, seed=0)
    run = ssl.train_ssl("simclr", "resnet", p, images, lr=0.01, n_steps=3, augment=flip, batch_size=8,
                        eval_size=12, record_steps=[0, 3], progress=True)
    assert run.eigenvalues.shape == (2, D_EMB) and run.hidden_eigenvalues.shape == (2, 4)
    assert np.all(np.diff(run.hidden_eigenvalues, axis=1) <= 1e-15)  # descending
    assert not np.array_equal(run.params["head"]["W2"], p["head"]["W2"])  # trained
    run.save(tmp_path / "r.npz")
    back = ssl.SSLRun.load(tmp_path / "r.npz")
    np.testing.assert_array_equal(back.hidden_eigenvalues, run.hidden_eigenvalues)
    assert back.config == run.config
    for a, b in zip(jax.tree_util.tree_leaves(back.params), jax.tree_util.tree_leaves(run.params)):
        np.testing.assert_array_equal(a, b)
    assert jax.tree_util.tree_structure(back.params) == jax.tree_util.tree_structure(run.params)


def test_divergence_names_the_first_bad_step(images, params):
    with pytest.raises(NonFiniteError) as info:
        ssl.train_ssl("barlow_twins", "mlp", params, images, lr=1e4, n_steps=50, weight_decay=0.01, batch_size=N,
                      eval_size=N, n_records=3)
    step = info.value.step
    assert 1 <= step <= 50 and f"step {step}" in str(info.value)
    if step > 1:  # the step before is still finite
        run = ssl.train_ssl("barlow_twins", "mlp", params, images, lr=1e4, n_steps=step - 1, weight_decay=0.01,
                            batch_size=N, eval_size=N, record_steps=[0, step - 1])
        assert np.all(np.isfinite(run.loss))


# ---------------------------------------------------------------------------------------------
# bad input


class _Alternating:
    """An augmentation whose two calls return views of different sizes (a stateful, inconsistent callable)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, key, images):
        self.calls += 1
        return images[:, : SIDE - self.calls % 2]


def _bad(images, params, **kw):
    args = dict(loss="barlow_twins", model="mlp", params=params, images=images, lr=0.1, n_steps=5, batch_size=8,
                eval_size=12)
    args.update(kw)
    return ssl.train_ssl(args.pop("loss"), args.pop("model"), args.pop("params"), args.pop("images"), **args)


@pytest.mark.parametrize("kw,match", [
    ({"loss": "byol"}, "loss"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"model": "vit"}, "model"),
    ({"lr": 0.0}, "lr"),
    ({"n_steps": 0}, "n_steps"),
    ({"batch_size": 30}, "batch_size"),
    ({"loss_kwargs": {"temperature": 0.5}}, "loss_kwargs"),
    ({"loss": "simclr", "loss_kwargs": {"temperature": -1.0}}, "temperature"),
    ({"augment": _Alternating()}, "augment"),
    ({"record_steps": [0, 2, 4]}, "record_steps"),
    ({"stop_at": 9}, "stop_at"),
    ({"probe_every": 2}, "probe"),
])
def test_bad_arguments_are_named(images, params, kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _bad(images, params, **kw)


def test_bad_images_and_sizes_are_named(images, params):
    with pytest.raises(ValueError, match="images"):
        _bad(images[..., 0], params)
    bad = images.copy()
    bad[3, 1, 1, 0] = np.nan
    with pytest.raises(ValueError, match="images must be finite"):
        _bad(bad, params)
    with pytest.raises(TypeError, match="images"):
        _bad((images * 255).astype(np.uint8), params)
    wide = networks.init_mlp(SIDE * SIDE, WIDTH, 10, seed=0)
    with pytest.raises(ValueError, match="batch_size"):  # d = 10 > batch_size = 8
        _bad(images, wide)
    with pytest.raises(ValueError, match="params fit"):
        _bad(images, networks.init_mlp(5, WIDTH, D_EMB))
    with pytest.raises(ValueError, match="params must be finite"):
        _bad(images, dict(params, b1=params["b1"] * np.nan))


def test_bad_probe_is_named(images, params):
    y = np.zeros(16, int)
    with pytest.raises(ValueError, match="probe.y_train"):
        _bad(images, params, probe=ssl.ProbeData(images[:16], y[:5], images[:8], y[:8]))
    with pytest.raises(ValueError, match="probe.x_test"):
        _bad(images, params, probe=ssl.ProbeData(images[:16], y, images[:8, :3], y[:8]))
    with pytest.raises(TypeError, match="probe"):
        _bad(images, params, probe=(images, y))
    with pytest.raises(ValueError, match="y_train"):
        ssl.linear_probe(np.ones((4, 2)), np.zeros(4, int), np.ones((2, 2)), np.zeros(2, int))


def test_make_optimizer_and_loss_names():
    with pytest.raises(ValueError, match="optimizer"):
        ssl.make_optimizer("rmsprop", 0.1)
    with pytest.raises(ValueError, match="momentum"):
        ssl.make_optimizer("sgd", 0.1, momentum=1.0)
    with pytest.raises(ValueError, match="loss"):
        ssl.ssl_loss("byol")
    assert ssl.ssl_loss("vicreg", sim_coeff=1.0) is ssl.ssl_loss("vicreg", sim_coeff=1.0)
    z = np.random.default_rng(0).standard_normal((6, 2))
    from dynamics import losses

    ours = jax.jit(ssl.ssl_loss("simclr", temperature=0.2))(z, z[::-1])
    theirs = jax.jit(lambda a, b: losses.nt_xent(a, b, temperature=0.2))(z, z[::-1])
    assert float(ours) == pytest.approx(float(theirs), rel=1e-14)


# ---------------------------------------------------------------------------------------------
# the package's augmentation pipeline, a user's model, float32


def _plain_mlp(params, images):
    """A user's model without a hidden representation (record_hidden=False)."""
    return ssl.mlp_on_images(params, images)


def test_make_augment_views_float32_and_a_callable_model():
    from dynamics.augment import make_augment

    rng = np.random.default_rng(7)
    colour = rng.random((N, SIDE, SIDE, 3)).astype(np.float32)
    aug = make_augment(size=3, resized=False)  # random crops, flips, colour jitter
    p = networks.init_mlp(3 * 3 * 3, WIDTH, D_EMB, alpha=0.7, seed=2, dtype=np.float32)
    kw = dict(lr=0.05, augment=aug, batch_size=8, eval_size=12, record_hidden=False)
    run = ssl.train_ssl("vicreg", _plain_mlp, p, colour, n_steps=6, record_steps=[0, 3, 6], **kw)
    assert run.config["view_shape"] == [8, 3, 3, 3] and run.hidden_eigenvalues is None
    assert run.params["W1"].dtype == np.float32 and run.eigenvalues.dtype == np.float32
    assert np.all(np.isfinite(run.loss)) and not np.array_equal(run.params["W1"], p["W1"])
    # the evaluation views are fixed by the seed: the same step-0 records for a run of another length
    short = ssl.train_ssl("vicreg", _plain_mlp, p, colour, n_steps=3, record_steps=[0, 3], **kw)
    np.testing.assert_array_equal(short.loss, run.loss[:2])
    np.testing.assert_array_equal(short.eigenvalues, run.eigenvalues[:2])
    with pytest.raises(ValueError, match="return_hidden"):
        ssl.train_ssl("vicreg", _plain_mlp, p, colour, n_steps=3, **dict(kw, record_hidden=True))


def test_spectra_and_load_reject_bad_input(tmp_path):
    z = np.ones((5, 2))
    with pytest.raises(ValueError, match="z_a and z_b"):
        ssl.embedding_spectrum("vicreg", z, np.ones((4, 2)))
    with pytest.raises(ValueError, match="loss"):
        ssl.embedding_spectrum("byol", z, z)
    with pytest.raises(ValueError, match="z_b must be finite"):
        ssl.embedding_spectrum("barlow_twins", z, z * np.nan)
    with pytest.raises(ValueError, match="h must be 2-D"):
        ssl.covariance_spectrum(np.ones(5))
    with pytest.raises(TypeError, match="h must be a real"):
        ssl.covariance_spectrum(np.ones((3, 2), dtype=complex))
    np.savez(tmp_path / "other.npz", x=np.ones(3))
    with pytest.raises(ValueError, match="SSLRun.save"):
        ssl.SSLRun.load(tmp_path / "other.npz")
