"""experiments.speedup (S App. G): the learned measure, the stability rule, the lr search and the S52 option of
ssl.train_ssl, checked against independent computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynamics import losses, ssl
from dynamics.experiments import speedup as sp


def test_time_to_learn_is_the_first_record_after_the_last_unlearned_one():
    steps = np.array([0, 10, 20, 30, 40])
    lam = np.array([[1e-6, 1e-7], [0.9, 1e-6], [0.9, 0.6], [0.9, 0.4], [1.0, 0.8]])  # dips at 30
    assert sp.time_to_learn(steps, "barlow_twins", lam) == 40
    assert sp.time_to_learn(steps, "vicreg", lam) == 40
    assert sp.time_to_learn(steps[:4], "barlow_twins", lam[:4]) is None  # last record not learned
    # the level is LEARNED_LEVEL: just above / below it
    up = np.full((2, 3), sp.LEARNED_LEVEL * 1.01)
    assert sp.time_to_learn([0, 5], "barlow_twins", up) == 0
    assert sp.time_to_learn([0, 5], "barlow_twins", up * 0.98) is None


def test_simclr_learned_needs_growth_and_a_flat_spectrum():
    lam = np.array([[1e-5, 5e-6], [1e-2, 1e-4], [1e-1, 2e-2]])
    ok = sp.learned("simclr", lam)
    # record 0: ratio 0.5 but no growth; record 1: grown, ratio 0.01; record 2: grown 1e4x, ratio 0.2
    assert ok.tolist() == [False, False, True]


def test_learned_rejects_bad_input():
    with pytest.raises(ValueError, match="loss"):
        sp.learned("no_such_loss", np.ones((2, 2)))
    with pytest.raises(ValueError, match="steps"):
        sp.time_to_learn([0, 1, 2], "barlow_twins", np.ones((2, 2)))


def test_stable_rule():
    assert sp.stable({"loss": np.array([3.0, 1.0, 0.1]), "diverged": 0})
    assert not sp.stable({"loss": np.array([3.0, 1.0, 4.0]), "diverged": 0})  # ends above its start
    assert not sp.stable({"loss": np.array([3.0, np.nan, np.nan]), "diverged": 1})


def test_methods_and_specs():
    assert len(sp.methods("linear")) == len(sp.MODIFICATIONS)
    deep = sp.methods("deep")
    assert ("simclr", "precondition") in deep and ("simclr", "sqr") not in deep
    assert sp.loss_spec("barlow_twins", "precondition", 64) == ("barlow_twins", {"lambd": 1.0, "symmetrize": True},
                                                               sp.ALPHA_REL * 128)
    assert sp.loss_spec("barlow_twins", "hinge", 64) == ("modified_barlow_twins",
                                                        {"modification": "hinge", "width": sp.HINGE_WIDTH}, None)
    with pytest.raises(ValueError, match="modification"):
        sp.loss_spec("vicreg", "sqr", 64)
    with pytest.raises(ValueError, match="modification"):
        sp.loss_spec("barlow_twins", "sharpen", 64)
    with pytest.raises(ValueError, match="setting"):
        sp.methods("huge")
    base = sp.lr_grid("linear", "barlow_twins", "baseline", True)
    pre = sp.lr_grid("linear", "barlow_twins", "precondition", True)
    np.testing.assert_allclose(np.array(pre) / np.array(base), 2 * 500 * (1 + sp.ALPHA_REL), rtol=1e-5)


def test_ssl_loss_precondition_gradient_is_s52():
    rng = np.random.default_rng(0)
    za, zb = (jnp.asarray(rng.standard_normal((8, 3))) for _ in range(2))
    plain = ssl.ssl_loss("barlow_twins", lambd=1.0, symmetrize=True)
    pre = ssl.ssl_loss("barlow_twins", precondition=2.0, lambd=1.0, symmetrize=True)
    assert pre is ssl.ssl_loss("barlow_twins", precondition=2.0, lambd=1.0, symmetrize=True)  # cached
    np.testing.assert_allclose(pre(za, zb), plain(za, zb), rtol=1e-12)
    ga, gb = jax.grad(pre, argnums=(0, 1))(za, zb)
    pa, pb = jax.grad(plain, argnums=(0, 1))(za, zb)
    F, G = np.concatenate([za, zb]), np.concatenate([pa, pb])
    want = G @ np.linalg.inv(F.T @ F + 2.0 * np.eye(3))
    np.testing.assert_allclose(np.concatenate([ga, gb]), want, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="precondition"):
        ssl.ssl_loss("barlow_twins", precondition=-1.0)
    with pytest.raises(TypeError, match="precondition"):
        ssl.ssl_loss("barlow_twins", precondition=True)


def test_modified_barlow_twins_through_ssl_loss_and_spectrum():
    rng = np.random.default_rng(1)
    za, zb = rng.standard_normal((10, 3)), rng.standard_normal((10, 3))
    fn = ssl.ssl_loss("modified_barlow_twins", modification="quartic")
    lam = ssl.embedding_spectrum("modified_barlow_twins", za, zb, loss_kwargs={"modification": "quartic"})
    c = za.T @ zb / 10
    np.testing.assert_allclose(lam, np.linalg.eigvalsh((c + c.T) / 2)[::-1], rtol=1e-10)
    np.testing.assert_allclose(fn(jnp.asarray(za), jnp.asarray(zb)), np.sum((1 - lam) ** 4), rtol=1e-10)


def test_train_ssl_precondition_changes_the_steps_not_the_loss_value(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.standard_normal((32, 3, 3, 1)).astype(np.float32)
    from dynamics import networks

    params = networks.init_mlp(9, 16, 2, seed=0, alpha=0.3, dtype=jnp.float32)
    kw = dict(lr=0.01, n_steps=3, batch_size=8, eval_size=16, record_hidden=False, n_records=2,
              loss_kwargs={"lambd": 1.0, "symmetrize": True})
    a = ssl.train_ssl("barlow_twins", "mlp", params, images, **kw)
    b = ssl.train_ssl("barlow_twins", "mlp", params, images, precondition=0.5, **kw)
    assert a.loss[0] == b.loss[0] and a.loss[-1] != b.loss[-1]
    assert b.config["precondition"] == 0.5 and "precondition" not in a.config
    with pytest.raises(ValueError, match="precondition"):
        ssl.train_ssl("barlow_twins", "mlp", params, images, precondition=0.0, **kw)


def test_linear_sqr_learns_in_fewer_steps_than_the_baseline_at_one_lr():
    # one rate of the fast grid, two methods: the growth phase of g_sqr is Theta(1) from small init (S App. G.2)
    lr = sp.lr_grid("linear", "barlow_twins", "baseline", True)[3]
    base = sp.gd_run("linear", "barlow_twins", "baseline", lr, True)
    sqr = sp.gd_run("linear", "barlow_twins", "sqr", lr, True)
    kb = sp.time_to_learn(base["steps"], "barlow_twins", base["eigenvalues"])
    ks = sp.time_to_learn(sqr["steps"], "barlow_twins", sqr["eigenvalues"])
    assert kb is not None and ks is not None and ks < kb / 2
    assert sp.stable(base) and sp.stable(sqr)
    assert 0.1 < base["probe"] <= 1.0


def test_growth_rate_of_an_exponential():
    t = np.arange(11)
    lam = np.stack([np.full(11, 1.0), 1e-6 * np.exp(0.3 * 0.1 * t)], axis=1)
    assert sp.growth_rate(t, lam, 0.1) == pytest.approx(0.3, rel=1e-12)
    with pytest.raises(ValueError, match="positive"):
        sp.growth_rate(t, np.zeros((11, 2)), 0.1)


def test_runs_reject_unmeasured_methods_and_settings():
    with pytest.raises(ValueError, match="not measured"):
        sp.lr_runs("linear", "vicreg", "baseline", fast=True)
    with pytest.raises(ValueError, match="setting"):
        sp.lr_runs("huge", "barlow_twins", "baseline", fast=True)
    with pytest.raises(ValueError, match="setting"):
        sp.gd_run("deep", "barlow_twins", "baseline", 0.1, True)
