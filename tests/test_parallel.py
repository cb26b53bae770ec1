"""Runs in one program: gradient_descent_batched / train_barlow_batched against the loop of single runs.

Each batched run is compared with :func:`trainer.gradient_descent` (or :func:`trainer.train_barlow`) run alone
from the same initial parameters and learning rate — two separately compiled programs — to 1e-12 relative in
float64, run by run; plus the bad inputs of the batched path (mismatched leading axes, empty batch, lr of the
wrong length) and the non-finite detection naming run and step.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynamics import losses, networks, parallel, trainer

N, D, M, Z = 24, 6, 32, 3
SEEDS = [3, 1, 4]
LRS = np.array([0.05, 0.08, 0.11])


def _apply(p, x):
    return networks.two_layer_apply(p, x, "relu")


def _bt_loss(p, data):
    return losses.barlow_twins(_apply(p, data["x"]), _apply(p, data["xp"]), symmetrize=True)


def _out_norm(p, data):
    return {"f": jnp.sum(_apply(p, data["x"]) ** 2), "w": p["W"][:2, 0]}


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, D)) / np.sqrt(D)
    return x, x + 0.1 * rng.standard_normal((N, D)) / np.sqrt(D)


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def test_init_two_layer_batch_equals_single_inits():
    scales = [0.1, 0.2, 0.3]
    pb = parallel.init_two_layer_batch(D, M, Z, SEEDS, readout_scale=scales)
    assert pb["V"].shape == (3, M, D) and pb["W"].shape == (3, M, Z)
    for b, s in enumerate(SEEDS):
        single = networks.init_two_layer(D, M, Z, seed=s, readout_scale=scales[b])
        np.testing.assert_array_equal(pb["V"][b], single["V"])
        np.testing.assert_array_equal(pb["W"][b], single["W"])
    back = parallel.unstack_runs(pb)
    np.testing.assert_array_equal(back[2]["W"], pb["W"][2])


def test_batched_gd_equals_loop_of_single_runs_with_per_run_lr(pairs):
    x, xp = pairs
    data = {"x": jnp.asarray(x), "xp": jnp.asarray(xp)}
    pb = parallel.init_two_layer_batch(D, M, Z, SEEDS, readout_scale=0.3)
    steps = np.array([0, 1, 5, 40, 120])
    final, hist = trainer.gradient_descent_batched(_bt_loss, pb, data, lr=LRS, record_steps=steps,
                                                   observers={"out": _out_norm})
    assert len(hist) == 3 and hist.loss.shape == (3, 5) and hist["out"]["w"].shape == (3, 5, 2)
    for b, s in enumerate(SEEDS):
        p0 = networks.init_two_layer(D, M, Z, seed=s, readout_scale=0.3)
        f1, h1 = trainer.gradient_descent(_bt_loss, p0, data, lr=float(LRS[b]), record_steps=steps,
                                          observers={"out": _out_norm})
        run = hist.run(b)
        np.testing.assert_array_equal(run.t, h1.t)
        assert run.lr == h1.lr
        assert _rel(run.loss, h1.loss) < 1e-12
        assert _rel(run["out"]["f"], h1["out"]["f"]) < 1e-12
        assert _rel(run["out"]["w"], h1["out"]["w"]) < 1e-12
        for k in ("V", "W"):
            assert _rel(final[k][b], f1[k]) < 1e-12
    # the runs really differ (lr and seed matter), so the comparison is not of one run with itself
    assert _rel(hist.loss[0], hist.loss[1]) > 1e-3


def test_train_barlow_batched_equals_train_barlow(pairs):
    x, xp = pairs
    pb = parallel.init_two_layer_batch(D, M, Z, SEEDS, readout_scale=1e-2)
    final, hist = trainer.train_barlow_batched(_apply, pb, x, xp, lr=0.1, n_steps=200, n_records=12)
    for b, s in enumerate(SEEDS):
        p0 = networks.init_two_layer(D, M, Z, seed=s, readout_scale=1e-2)
        f1, h1 = trainer.train_barlow(_apply, p0, x, xp, lr=0.1, n_steps=200, n_records=12)
        np.testing.assert_array_equal(hist.step, h1.step)
        assert _rel(hist["eigenvalues"][b], h1["eigenvalues"]) < 1e-12
        assert _rel(hist.loss[b], h1.loss) < 1e-12
        assert _rel(final["W"][b], f1["W"]) < 1e-12


def test_batched_data_and_optimizer(pairs):
    optax = pytest.importorskip("optax")
    x, xp = pairs
    xs = np.stack([x, xp, x[::-1]])
    xps = np.stack([xp, x, xp[::-1]])
    pb = parallel.init_two_layer_batch(D, M, Z, SEEDS, readout_scale=0.3)
    opt = optax.adam(1e-2)
    final, hist = trainer.gradient_descent_batched(_bt_loss, pb, {"x": xs, "xp": xps}, lr=1e-2, n_steps=30,
                                                   record_steps=[0, 10, 30], optimizer=opt, batch_data=True)
    for b, s in enumerate(SEEDS):
        p0 = networks.init_two_layer(D, M, Z, seed=s, readout_scale=0.3)
        f1, h1 = trainer.gradient_descent(_bt_loss, p0, {"x": xs[b], "xp": xps[b]}, lr=1e-2,
                                          record_steps=[0, 10, 30], optimizer=opt)
        assert _rel(hist.loss[b], h1.loss) < 1e-12
        assert _rel(final["V"][b], f1["V"]) < 1e-12


def test_closure_form_without_data():
    target = jnp.asarray([1.0, -2.0])
    pb = {"w": jnp.zeros((4, 2))}
    final, hist = trainer.gradient_descent_batched(lambda p: jnp.sum((p["w"] - target) ** 2), pb,
                                                   lr=np.array([0.1, 0.2, 0.3, 0.4]), n_steps=3,
                                                   record_steps=[0, 3])
    # GD on |w - c|^2: w_k = c (1 - (1 - 2 lr)^k), in closed form
    for b, lr in enumerate([0.1, 0.2, 0.3, 0.4]):
        np.testing.assert_allclose(final["w"][b], np.asarray(target) * (1 - (1 - 2 * lr) ** 3), rtol=1e-14)
    np.testing.assert_allclose(hist.t[:, -1], [0.3, 0.6, 0.9, 1.2], rtol=1e-15)


def test_non_finite_names_run_and_step():
    # GD on L = -w^2/2 gives w_k = (1 + lr)^k: only run 1 (lr = 1e10) overflows; the step where its loss first
    # overflows float64 is found by a NumPy loop of the same recursion
    pb = {"w": jnp.ones((3, 1))}
    with pytest.raises(trainer.NonFiniteError, match=r"step (\d+) in run 1") as info:
        trainer.gradient_descent_batched(lambda p: -0.5 * jnp.sum(p["w"] ** 2), pb, lr=np.array([0.1, 1e10, 0.1]),
                                         n_steps=60, record_steps=[0, 60])
    assert info.value.run == 1
    w, expected = 1.0, None
    with np.errstate(over="ignore"):
        for k in range(1, 61):
            w = w + 1e10 * w
            if not (np.isfinite(w) and np.isfinite(0.5 * w * w)):
                expected = k
                break
    assert info.value.step == expected == 16


def test_bad_input_is_named(pairs):
    x, xp = pairs
    data = {"x": x, "xp": xp}
    pb = parallel.init_two_layer_batch(D, M, Z, SEEDS)
    mismatched = networks.TwoLayerParams.tree_unflatten(None, (pb["V"], pb["W"][:2]))
    with pytest.raises(ValueError, match=r"params_batch.*same leading axis.*3.*2"):
        trainer.gradient_descent_batched(_bt_loss, mismatched, data, lr=0.1, n_steps=2)
    with pytest.raises(ValueError, match=r"params_batch must hold at least one run"):
        trainer.gradient_descent_batched(_bt_loss, {"V": np.zeros((0, M, D)), "W": np.zeros((0, M, Z))}, data,
                                         lr=0.1, n_steps=2)
    with pytest.raises(ValueError, match=r"params_batch must have a leading axis"):
        trainer.gradient_descent_batched(lambda p: jnp.sum(p["a"] ** 2), {"a": jnp.float64(1.0)}, lr=0.1,
                                         n_steps=2)
    with pytest.raises(ValueError, match=r"lr must be a number or one learning rate per run, shape \(3,\)"):
        trainer.gradient_descent_batched(_bt_loss, pb, data, lr=[0.1, 0.2], n_steps=2)
    with pytest.raises(ValueError, match=r"lr must be finite and > 0 for every run, got -0.1 for run 2"):
        trainer.gradient_descent_batched(_bt_loss, pb, data, lr=[0.1, 0.2, -0.1], n_steps=2)
    with pytest.raises(TypeError, match=r"lr must be a real number"):
        trainer.gradient_descent_batched(_bt_loss, pb, data, lr=np.array([True, True, True]), n_steps=2)
    with pytest.raises(ValueError, match=r"data must have one entry per run.*B = 3.*has 24"):
        trainer.gradient_descent_batched(_bt_loss, pb, data, lr=0.1, n_steps=2, batch_data=True)
    V_bad = np.array(pb["V"])
    V_bad[2, 0, 0] = np.nan
    bad = {"V": V_bad, "W": pb["W"]}
    with pytest.raises(ValueError, match=r"params_batch must be finite at step 0: run 2"):
        trainer.gradient_descent_batched(_bt_loss, bad, data, lr=0.1, n_steps=2)
    with pytest.raises(TypeError, match=r"sharding must be None, a jax.sharding.Mesh"):
        trainer.gradient_descent_batched(_bt_loss, pb, data, lr=0.1, n_steps=2, sharding="gpu")
    with pytest.raises(ValueError, match=r"runs must hold at least one"):
        parallel.stack_runs([])
    with pytest.raises(ValueError, match=r"seeds must hold at least one seed"):
        parallel.init_two_layer_batch(D, M, Z, [])
    with pytest.raises(ValueError, match=r"readout_scale must be a number or one value per seed \(3\)"):
        parallel.init_two_layer_batch(D, M, Z, SEEDS, readout_scale=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"b must be a run index below 3"):
        trainer.gradient_descent_batched(_bt_loss, pb, data, lr=0.1, n_steps=1)[1].run(3)


def test_sharding_argument_errors_name_sharding():
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    dev = np.array(jax.devices()[:1])
    with pytest.raises(ValueError, match=r"sharding must be a mesh with at least one named axis"):
        parallel.leading_axis(Mesh(dev.reshape(()), ()))
    with pytest.raises(ValueError, match=r"sharding names the axis 'y', which is not in the mesh"):
        parallel.leading_axis((Mesh(dev, ("x",)), "y"))
    with pytest.raises(ValueError, match=r"sharding must split the leading axis"):
        parallel.leading_axis(NamedSharding(Mesh(dev, ("x",)), PartitionSpec()))
    with pytest.raises(TypeError, match=r"sharding as a pair"):
        parallel.leading_axis((Mesh(dev, ("x",)), 3))
    one = parallel.leading_axis(Mesh(dev, ("x",)))
    assert one.size == 1 and one.axes == ("x",)


def _bt_function_loss(F):
    n = F.shape[0] // 2
    return losses.barlow_twins(F[:n], F[n:], symmetrize=True)


@pytest.fixture(scope="module")
def flow_setup(pairs):
    from dynamics import flows, ntk

    x, xp = pairs
    X = np.concatenate([x, xp])
    p = networks.init_two_layer(D, 64, Z, seed=0)
    K = np.asarray(ntk.two_layer_ntk(p, X, X, output="trace"))
    F0 = np.stack([np.asarray(_apply(networks.init_two_layer(D, 64, Z, seed=s, readout_scale=1e-2), X))
                   for s in SEEDS])
    xt = np.random.default_rng(5).standard_normal((4, D)) / np.sqrt(D)
    Kt = np.asarray(ntk.two_layer_ntk(p, xt, X, output="trace"))
    return flows.predictor(_bt_function_loss, K), F0, Kt


def test_batched_flow_gd_equals_single_calls(flow_setup):
    predict, F0, Kt = flow_setup
    lr = 0.05
    t = lr * np.array([0, 3, 40, 200])
    tr, te = predict.batch(t, F0, k_test_train=Kt, lr=lr)
    assert tr.shape == (3, 4) + F0.shape[1:] and te.shape == (3, 4, 4, Z)
    for b in range(3):
        tr1, te1 = predict(t, F0[b], k_test_train=Kt, lr=lr)
        assert _rel(tr[b], tr1) < 1e-12 and _rel(te[b], te1) < 1e-12
    assert _rel(tr[0, -1], tr[1, -1]) > 1e-3


def test_batched_flow_ode_matches_single_solves_to_tolerance(flow_setup):
    predict, F0, _ = flow_setup
    t = np.array([0.0, 0.5, 2.0])
    ys = predict.batch(t, F0)
    for b in range(3):
        # shared adaptive steps: the members agree with single solves to the solver's tolerance (rtol 1e-10)
        assert _rel(ys[b], predict(t, F0[b])) < 1e-8


def test_batched_flow_bad_input(flow_setup):
    predict, F0, Kt = flow_setup
    with pytest.raises(ValueError, match=r"f_train_0 must be 3-D"):
        predict.batch([0.0, 1.0], F0[0])
    with pytest.raises(ValueError, match=r"f_train_0 must hold at least one initial state"):
        predict.batch([0.0, 1.0], F0[:0])
    with pytest.raises(ValueError, match=r"f_train_0 must have shape \(B, 48, d\)"):
        predict.batch([0.0, 1.0], F0[:, :5])
    with pytest.raises(ValueError, match=r"sharding splits the members of the gradient-descent mode"):
        predict.batch([0.0, 1.0], F0, sharding=(jax.sharding.Mesh(np.array(jax.devices()[:1]), ("x",)), "x"))
    with pytest.raises(ValueError, match=r"f_test_0 needs k_test_train"):
        predict.batch([0.0, 1.0], F0, f_test_0=F0)
    with pytest.raises(ValueError, match=r"t must be multiples of lr"):
        predict.batch([0.0, 0.015], F0, lr=0.01)
