"""The width × seed sweeps of the figures and checks go through ``experiments.run_grid``.

Each test runs one routed sweep under a cache directory and checks that (a) the run's folder holds one
stored point per (width, seed) and (b) the numbers equal those of the per-point loop it replaced,
recomputed here from the public API.  The figure sweeps are exercised with cheap stand-in point
functions (their wiring is what is tested; the real points are compared with the previous code in the
commit that routed them).
"""

import numpy as np
import pytest

from dynamics import experiments, networks, ntk
from dynamics._x64 import float64
from dynamics.experiments import contrastive as ex
from dynamics.experiments import wide
from dynamics.figures import _contrastive as fc
from dynamics.theorems import ntk_checks


def _stored(root, fn):
    folder = root / f"{fn.__module__}.{fn.__qualname__}"
    return sorted(folder.glob("*.npz"))


# ---------------------------------------------------------------------------- NTK at init (ntk_checks)


def test_width_errors_one_stored_point_per_width_and_seed_and_equal_to_the_loop(tmp_path):
    widths, n_seeds, n = [8, 32], 2, 12
    experiments.clear_memory(wide.ntk_init_point)
    with experiments.cache_dir(tmp_path):
        got = ntk_checks.width_errors("mixed_norm", "relu", widths, n_seeds, n=n)
    assert len(_stored(tmp_path, wide.ntk_init_point)) == len(widths) * n_seeds

    @float64
    def loop():  # the loop the check used before (one network per (width, seed), seed 10 000 s + M)
        x = wide.ntk_init_digits("mixed_norm", n, 0)
        K_inf = np.asarray(ntk.analytic_ntk(x, x, "relu"))
        errs = np.empty((len(widths), n_seeds))
        for i, M in enumerate(widths):
            for s in range(n_seeds):
                p = networks.init_two_layer(x.shape[1], M, 10, seed=10_000 * s + M)
                K = np.asarray(ntk.two_layer_ntk(p, x, x, "relu", output="trace"))
                errs[i, s] = np.linalg.norm(K - K_inf) / np.linalg.norm(K_inf)
        return errs.mean(axis=1)

    np.testing.assert_array_equal(got, loop())
    experiments.clear_memory(wide.ntk_init_point)


def test_ntk_init_digits_matches_the_check_inputs():
    np.testing.assert_array_equal(wide.ntk_init_digits("mixed_norm", 100, 0), ntk_checks.mixed_norm_digits())
    x = wide.ntk_init_digits("unit_norm", 30, 1)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-12)
    r = np.linalg.norm(wide.ntk_init_digits("mixed_norm", 30, 1), axis=1)
    assert 0.5 <= r.min() and r.max() <= 2.0


@pytest.mark.parametrize("kwargs, word", [({"inputs": "gaussian"}, "inputs"), ({"n": 0}, "n"),
                                          ({"seed": -1}, "seed"), ({"lo": 3.0}, "lo")])
def test_ntk_init_digits_bad_input(kwargs, word):
    with pytest.raises(ValueError, match=word):
        wide.ntk_init_digits(**kwargs)


def test_width_errors_bad_input():
    with pytest.raises(ValueError, match="inputs"):
        ntk_checks.width_errors("nope", "relu", [8], 1)
    with pytest.raises(ValueError, match="widths"):
        ntk_checks.width_errors("mixed_norm", "relu", [0], 1)
    with pytest.raises(ValueError, match="n_seeds"):
        ntk_checks.width_errors("mixed_norm", "relu", [8], 0)
    with pytest.raises(ValueError, match="M"):
        wide.ntk_init_point(0, 0, "relu", "mixed_norm", 10, 0, 10)


# ---------------------------------------------------------------------------- figures of A (stand-in points)


def fake_lemma9_point(M, seed, n, lr, n_steps):
    return {"difference": float(M + 0.5 * seed)}


def fake_ntk_change_point(M, seed, similarity, n, deep):
    t = np.linspace(0.0, 1.0, 4)
    if similarity == "dot":
        return {"t": np.zeros(0), "change": np.zeros(0), "K0max": 1.0, "t_overflow": float(M)}
    return {"t": t, "change": (M + seed) * t, "K0max": 1.0, "t_overflow": np.inf}


def fake_cv_drift_point(M, seed, n_steps, n, similarity, lr):
    t = np.linspace(0.0, 1.0, 3)
    return {"step": np.arange(3), "t": t, "cv_change": (M + seed) * t, "cv_relative_change": seed + t,
            "w_relative_change": M + t}


def fake_pca_difference_point(M, seed, n_steps, n, similarity_t, lr):
    return {"difference": float(M * (seed + 1)), "eigengap": 1.0}


@pytest.fixture
def fakes(monkeypatch):
    monkeypatch.setattr(ex, "lemma9_point", fake_lemma9_point)
    monkeypatch.setattr(ex, "ntk_change_point", fake_ntk_change_point)
    monkeypatch.setattr(ex, "cv_drift_point", fake_cv_drift_point)
    monkeypatch.setattr(ex, "pca_difference_point", fake_pca_difference_point)
    monkeypatch.setattr(ex, "lemma9_trajectory", lambda M: {"t": None, "F_gd": None, "F_ntk": None, "n_inputs": 0})
    monkeypatch.setattr(ex, "dot_ntk_replay", lambda M, n: ("replay", M))
    for f in (fake_lemma9_point, fake_ntk_change_point, fake_cv_drift_point, fake_pca_difference_point):
        experiments.clear_memory(f)
    yield
    for f in (fake_lemma9_point, fake_ntk_change_point, fake_cv_drift_point, fake_pca_difference_point):
        experiments.clear_memory(f)


def test_fig1_lemma9_sweep_through_run_grid(tmp_path, fakes):
    with experiments.cache_dir(tmp_path):
        r = fc.lemma9_runs(fast=True)
    assert len(_stored(tmp_path, fake_lemma9_point)) == len(r["widths"]) * len(r["seeds"])
    expected = [np.mean([M + 0.5 * s for s in r["seeds"]]) for M in r["widths"]]
    np.testing.assert_array_equal(r["diffs"], expected)


def test_fig2_3_ntk_change_sweep_through_run_grid(tmp_path, fakes):
    with experiments.cache_dir(tmp_path):
        r = fc.ntk_change_runs(fast=True)
    widths, seeds = r["widths"], r["seeds"]
    # cosine: every (width, seed); dot product: seed 0 of every width -- one stored file each
    assert len(_stored(tmp_path, fake_ntk_change_point)) == len(widths) * len(seeds) + len(widths)
    t = np.linspace(0.0, 1.0, 4)
    np.testing.assert_array_equal(r["cos_change"], [np.mean([(M + s) * t for s in seeds], axis=0) for M in widths])
    assert r["dot_overflow"] == [float(M) for M in widths]
    assert r["dot_curves"] == {widths[0]: ("replay", widths[0])}


def test_fig4_cv_and_pca_sweeps_through_run_grid(tmp_path, fakes):
    with experiments.cache_dir(tmp_path):
        r = fc.cv_runs(fast=True)
    widths, seeds = r["widths"], r["seeds"]
    assert len(_stored(tmp_path, fake_cv_drift_point)) == len(widths) * len(seeds)
    assert len(_stored(tmp_path, fake_pca_difference_point)) == len(widths) * len(seeds)
    t = np.linspace(0.0, 1.0, 3)
    np.testing.assert_array_equal(r["cv_change"], [np.mean([(M + s) * t for s in seeds], axis=0) for M in widths])
    np.testing.assert_array_equal(r["w_rel"], [M + t for M in widths])
    np.testing.assert_array_equal(r["procrustes"], [np.mean([M * (s + 1) for s in seeds]) for M in widths])


# ---------------------------------------------------------------------------- E Thm 1 at init (grassmann_checks)


def test_theorem1_init_one_stored_point_per_width_and_own_stream_per_width(tmp_path):
    from dynamics import grassmann
    from dynamics.experiments import grassmann as eg

    kw = {"n_nets": 8, "n": 20, "z": 2, "seed": 0}
    experiments.clear_memory(eg.theorem1_init_point)
    with experiments.cache_dir(tmp_path):
        mean, rms = eg.theorem1_init_differences([16, 32], **kw)
    assert len(_stored(tmp_path, eg.theorem1_init_point)) == 2
    experiments.clear_memory(eg.theorem1_init_point)
    # each width draws from its own stream: width 32 alone gives the same numbers as in the sweep
    mean32, rms32 = eg.theorem1_init_differences([32], **kw)
    for a in eg.THEOREM1_ACTIVATIONS:
        assert mean32[a] == [mean[a][1]] and rms32[a] == [rms[a][1]]
    # the in-memory route (models given as functions, here the default ones) equals the run_grid route
    given = {a: grassmann.network_apply(a) for a in (*eg.THEOREM1_ACTIVATIONS, "linear")}
    mean_m, rms_m = eg.theorem1_init_differences([16, 32], apply_fns=given, **kw)
    for a in eg.THEOREM1_ACTIVATIONS:
        np.testing.assert_allclose(mean_m[a], mean[a], rtol=1e-12)
        np.testing.assert_allclose(rms_m[a], rms[a], rtol=1e-12)
    experiments.clear_memory(eg.theorem1_init_point)


def test_theorem1_init_bad_input():
    from dynamics.experiments import grassmann as eg

    with pytest.raises(ValueError, match="h must be >= d"):
        eg.theorem1_init_width(8, 4, 20, 2)
    with pytest.raises(ValueError, match="n_nets"):
        eg.theorem1_init_width(16, 0, 20, 2)
    with pytest.raises(ValueError, match="widths"):
        eg.theorem1_init_differences([], 4, 20)
    with pytest.raises(ValueError, match="rows"):
        eg.haar_stack(2, 0, 3, np.random.default_rng(0))


def test_theorem1_training_one_stored_point_per_width_and_equal_to_the_in_memory_route(tmp_path):
    from dynamics import grassmann
    from dynamics.experiments import grassmann as eg

    kw = {"n_init": 2, "n": 20, "lr": 0.05, "steps": 3, "z": 2}
    experiments.clear_memory(eg.theorem1_training_point)
    with experiments.cache_dir(tmp_path):
        init, trained = eg.theorem1_training_differences([16, 32], **kw)
    assert len(_stored(tmp_path, eg.theorem1_training_point)) == 2
    given = {a: grassmann.network_apply(a) for a in (*eg.THEOREM1_ACTIVATIONS, "linear")}
    init_m, trained_m = eg.theorem1_training_differences([16, 32], apply_fns=given, **kw)
    for a in eg.THEOREM1_ACTIVATIONS:
        np.testing.assert_allclose(init_m[a], init[a], rtol=1e-12)
        np.testing.assert_allclose(trained_m[a], trained[a], rtol=1e-12)
        assert trained[a] != init[a]  # the nets moved
    experiments.clear_memory(eg.theorem1_training_point)


def test_theorem2_check_runs_its_widths_and_steps_through_run_grid(tmp_path):
    from dynamics import grassmann
    from dynamics.experiments import grassmann as eg
    from dynamics.theorems import grassmann_checks as gc

    experiments.clear_memory(eg.theorem2_gd_point)
    with experiments.cache_dir(tmp_path):
        out = gc._check_theorem2(True, widths=[4, 8])
    # 2 widths x 3 step sizes, and the free-tangent run of the widest net
    assert len(_stored(tmp_path, eg.theorem2_gd_point)) == 2 * 3 + 1
    assert set(out.details["rel_output_error_by_width"]) == {4, 8}
    r = experiments.run_grid(eg.theorem2_gd_point, [{"h": 4, "lr": 0.005, "horizon": 2.0, "n_records": 11,
                                                     "tangent": "grassmann"}])[0]
    np.testing.assert_allclose(r["theta"][0], eg.theorem2_setup()[4], atol=1e-12)  # Θ(0) = VᵀW at init
    # the stored run is the trainer's: the width-4 net from the same init, trained here directly
    x, xp, xn, _, theta0 = eg.theorem2_setup()
    p = grassmann.init_network(16, 4, 3, theta0=theta0, seed=4)
    steps = np.round(np.linspace(0.0, 2.0, 11) / 0.005).astype(int)
    _, hist = grassmann.train_projected(grassmann.network_apply("linear"), p, x, xp, xn, lr=0.005,
                                        n_steps=int(steps[-1]), record_steps=steps,
                                        observers={"theta": grassmann.network_theta})
    np.testing.assert_allclose(r["theta"], np.asarray(hist["theta"]), rtol=1e-10, atol=1e-12)
    experiments.clear_memory(eg.theorem2_gd_point)


def test_theorem2_point_bad_input():
    from dynamics.experiments import grassmann as eg

    for kwargs, word in [({"h": 0}, "h"), ({"lr": -1.0}, "lr"), ({"horizon": np.inf}, "horizon"),
                         ({"n_records": 1}, "n_records")]:
        args = {"h": 4, "lr": 0.02, "horizon": 2.0, "n_records": 11, "tangent": "grassmann", **kwargs}
        with pytest.raises(ValueError, match=word):
            eg.theorem2_gd_point(**args)
