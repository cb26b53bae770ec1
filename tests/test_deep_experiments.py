"""Pure pieces of dynamics.experiments.deep on synthetic inputs: the stepwise measure, step times, S49 and the
S Table 1 / Table 2 formatting (no training: fast)."""

import numpy as np
import pytest

from dynamics import kernel
from dynamics.experiments import deep


def _sigmoid_steps(t, centres, width, floor=1e-4):
    """Eigenvalues rising from ``floor`` to 1 around each centre (logistic in t of the given width)."""
    return floor + 1.0 / (1.0 + np.exp(-(t[:, None] - np.asarray(centres)[None, :]) / width))


T = np.linspace(0.0, 40.0, 400)


def test_separated_steps_counted_one_by_one():
    lam = _sigmoid_steps(T, [5.0, 15.0, 25.0, 35.0], 0.5)
    assert deep.separated_steps(T, lam).tolist() == [True] * 4
    assert deep.stepwise_score(T, lam) == 1.0


def test_steps_that_overlap_are_not_separated():
    lam = _sigmoid_steps(T, [5.0, 15.0, 15.5, 35.0], 0.5)  # modes 2 and 3 rise together
    assert deep.separated_steps(T, lam).tolist() == [True, False, False, True]
    assert deep.stepwise_score(T, lam) == 0.5


def test_eigenvalues_that_start_grown_take_no_step():
    lam = 0.5 + 0.5 * _sigmoid_steps(T, [5.0, 15.0, 25.0, 35.0], 0.5)  # start at half their final value
    assert deep.stepwise_score(T, lam) == 0.0


def test_smooth_joint_growth_scores_zero():
    lam = np.outer(1 - np.exp(-T / 10), [1.0, 0.8, 0.6, 0.4]) + 1e-6
    assert deep.stepwise_score(T, lam) == 0.0


def test_score_independent_of_scale_and_order_of_columns():
    lam = _sigmoid_steps(T, [5.0, 15.0, 25.0, 35.0], 0.5)
    assert deep.stepwise_score(T, 37.0 * lam[:, ::-1]) == 1.0


def test_shuffled_records_destroy_the_steps():
    lam = _sigmoid_steps(T, [5.0, 15.0, 25.0, 35.0], 0.5)
    perm = np.random.default_rng(0).permutation(T.size)
    assert deep.stepwise_score(T, lam[perm]) <= 0.25


def test_step_times_and_hidden_mismatch():
    lam = _sigmoid_steps(T, [5.0, 15.0, 25.0, 35.0], 0.5)
    np.testing.assert_allclose(deep.step_times(T, lam), [5.0, 15.0, 25.0, 35.0], atol=0.11)
    hid = _sigmoid_steps(T, [5.2, 15.2, 25.2, 35.2, 100.0], 0.5)
    mism, t_e, t_h = deep.step_time_mismatch(T, lam, hid)
    assert mism < 0.05 and t_e.size == 4 and t_h.size == 4
    far, _, _ = deep.step_time_mismatch(T, lam, hid[::-1])  # time-reversed hidden records
    assert far > 0.5


@pytest.mark.parametrize("bad", [np.ones(3), np.ones((2, 3, 4))])
def test_bad_eigenvalue_records(bad):
    with pytest.raises(ValueError, match="eigenvalues"):
        deep.stepwise_score(np.arange(3.0), bad)


def test_records_and_times_must_match():
    with pytest.raises(ValueError, match="one row per time"):
        deep.stepwise_score(np.arange(4.0), np.ones((3, 2)))
    with pytest.raises(ValueError, match="non-finite|finite|NaN"):
        deep.stepwise_score(np.arange(3.0), np.array([[1.0], [np.nan], [1.0]]))


def _linear_pairs(n=40, m=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, m)) * np.linspace(2, 0.5, m)
    return x, x + 0.3 * rng.normal(size=(n, m))


def test_predicted_embeddings_are_S49_of_the_kernel_estimator():
    x, xp = _linear_pairs()
    X = np.concatenate([x, xp])
    est = kernel.KernelBarlowTwins(3, kernel="linear").fit(x, xp)
    F = deep.predicted_embeddings(X @ X.T, 3)
    np.testing.assert_allclose(np.abs(F), np.abs(est.train_embeddings_), rtol=1e-7, atol=1e-9)


def test_table1_row_alignment_and_chance():
    x, xp = _linear_pairs()
    X = np.concatenate([x, xp])
    K = X @ X.T
    F_th = deep.predicted_embeddings(K, 3)
    row = deep.table1_row(F_th @ np.array([[1.0, 2, 0], [0, 1, 3], [1, 0, 1]]), K)  # mixed columns: same span
    assert row["a_exp_th"] == pytest.approx(1.0, abs=1e-10)
    assert row["chance"] == pytest.approx(3 / 80)
    rng = np.random.default_rng(1)
    rand = deep.table1_row(rng.normal(size=(80, 3)), K)
    assert rand["a_exp_th"] < 0.3
    # the top-d eNTK eigenvectors: against an eigh of K computed here
    lam, V = np.linalg.eigh(K)
    assert deep.table1_row(V[:, ::-1][:, :3], K)["a_exp_ntk"] == pytest.approx(1.0, abs=1e-10)


def test_alignment_tables_and_formatting():
    x, xp = _linear_pairs()
    X = np.concatenate([x, xp])
    K = X @ X.T
    F = deep.predicted_embeddings(K, 3)
    rng = np.random.default_rng(2)
    recs = {"barlow_twins": {"embeddings": F, "kernel": K},
            "simclr": {"embeddings": F @ rng.normal(size=(3, 3)), "kernel": K},
            "vicreg": {"embeddings": rng.normal(size=F.shape), "kernel": K}}
    tables = deep.alignment_tables(True, records=recs)
    assert tables["table2"][("barlow_twins", "simclr")] == pytest.approx(1.0, abs=1e-10)
    assert tables["table2"][("barlow_twins", "vicreg")] < 0.3
    t1, t2 = deep.format_table1(tables), deep.format_table2(tables)
    assert "0.615" in t1 and "0.517" in t1 and "1.000" in t1  # the paper's numbers beside ours
    assert "0.504" in t2 and "0.405" in t2
    assert t1.count("\n") == 4 and t2.count("\n") == 4


def test_setup_and_names():
    s = deep.deep_setup(True)
    assert s["d"] <= s["batch_size"] and s["alpha_small"]["barlow_twins"] < s["alpha_standard"]
    assert deep.learning_rate("barlow_twins", 1.0, True) < deep.learning_rate("barlow_twins", 0.1, True)
    with pytest.raises(ValueError, match="loss"):
        deep.alpha_run("byol", 0.1, fast=True)
    with pytest.raises(ValueError, match="init"):
        deep.deep_run("simclr", "tiny", fast=True)
    with pytest.raises(ValueError, match="alpha"):
        deep.alpha_run("simclr", -1.0, fast=True)


def test_run_key_changes_with_every_run_setting(monkeypatch):
    base = deep.run_key("vicreg", 0.1, fast=True)
    assert base == deep.run_key("vicreg", 0.1, fast=True)  # deterministic
    assert len({base, deep.run_key("vicreg", 0.3, fast=True), deep.run_key("vicreg", 0.1, fast=True, seed=1),
                deep.run_key("barlow_twins", 0.1, fast=True), deep.run_key("vicreg", 0.1, fast=False)}) == 5
    original = deep.deep_setup
    for key, value in [("n_steps", 17), ("batch_size", 32), ("width", 64), ("momentum", 0.5), ("crop", 5)]:
        monkeypatch.setattr(deep, "deep_setup", lambda fast, k=key, v=value: {**original(fast), k: v})
        assert deep.run_key("vicreg", 0.1, fast=True) != base, key
    # the settings that choose which runs are made, not how one is made, leave the key alone
    monkeypatch.setattr(deep, "deep_setup", lambda fast: {**original(fast), "table_pairs": 3, "alphas": (0.5,)})
    assert deep.run_key("vicreg", 0.1, fast=True) == base
    monkeypatch.setattr(deep, "deep_setup", original)
    monkeypatch.setitem(deep.LOSS_KWARGS, "vicreg", {"sim_coeff": 10.0})
    assert deep.run_key("vicreg", 0.1, fast=True) != base
    cfg = deep.run_config("vicreg", 0.1, fast=True)
    assert cfg["lr"] == deep.learning_rate("vicreg", 0.1, True) and cfg["alpha"] == 0.1


def test_changed_settings_never_return_a_stale_run(monkeypatch, tmp_path):
    """A run trained and stored under one setting is not returned for another (memory and disk caches)."""
    from dynamics import experiments

    original = deep.deep_setup
    tiny = {"n_steps": 3, "n_records": 2, "eval_size": 64, "probe_every": 3, "width": 8}
    monkeypatch.setattr(deep, "deep_setup", lambda fast: {**original(fast), **tiny})
    with experiments.cache_dir(tmp_path):
        a = deep.alpha_run("vicreg", 0.1, fast=True)
        assert a.config["n_steps"] == 3
        assert len(list((tmp_path / "deep.runs").glob("*.npz"))) == 1
        monkeypatch.setattr(deep, "deep_setup", lambda fast: {**original(fast), **tiny, "n_steps": 4})
        b = deep.alpha_run("vicreg", 0.1, fast=True)
        assert b.config["n_steps"] == 4 and len(b.t) == len(a.t)
        assert len(list((tmp_path / "deep.runs").glob("*.npz"))) == 2
        # from disk, past the memory cache (not cleared: it holds the real runs other tests share): the stored
        # run of each setting comes back
        monkeypatch.setattr(deep, "deep_setup", lambda fast: {**original(fast), **tiny})
        c = deep._alpha_run.__wrapped__("vicreg", 0.1, True, 0, deep.run_key("vicreg", 0.1, fast=True))
        assert c.config["n_steps"] == 3
        np.testing.assert_array_equal(c.eigenvalues, a.eigenvalues)


@pytest.mark.parametrize("bad, err", [(-1.0, ValueError), (float("nan"), ValueError), ("0.1", TypeError)])
def test_run_key_bad_alpha(bad, err):
    with pytest.raises(err, match="alpha"):
        deep.run_key("vicreg", bad, fast=True)


def test_plateau_level_ignores_a_noise_spike():
    """A spike of two records (mini-batch noise, 3x) does not set the level: the reference is the largest value of
    the running median over 5 records, not the largest value."""
    lam = _sigmoid_steps(T, [5.0, 15.0, 25.0, 35.0], 0.5)
    spike = lam.copy()
    spike[60:62, 0] *= 3.0  # t ≈ 6, just after the first step
    np.testing.assert_allclose(deep.plateau_levels(spike), lam.max(axis=0), rtol=1e-3)
    assert deep.stepwise_score(T, spike) == 1.0
    # the largest value as the reference would put "grown" (HIGH of it) above the plateau: 0.5 x 3 > 1
    assert np.all(spike[80:, 0] < deep.HIGH * spike[:, 0].max())


def test_an_eigenvalue_that_collapses_at_the_end_takes_no_step():
    lam = _sigmoid_steps(T, [5.0, 15.0, 25.0, 35.0], 0.5)
    lam[300:, 3] = 1e-4 * lam[300:, 3]  # eigenvalue 4 falls back after its rise: not a learned direction
    lam[200:, 2] = np.where(T[200:] > 30, 1e-3, lam[200:, 2])
    sep = deep.separated_steps(T, lam)
    assert sep[:2].tolist() == [True, True] and not sep[2]


def test_hidden_steps_from_order_one_count_by_their_growth():
    """A hidden eigenvalue that starts at 0.3 of its plateau rises by a factor of 3.3: a hidden step (min_growth
    2), though not an embedding step (which starts below LOW = 0.1 of its plateau)."""
    lam = _sigmoid_steps(T, [5.0, 15.0, 25.0, 35.0], 0.5)
    hid = 0.3 + 0.7 * _sigmoid_steps(T, [5.1, 15.1, 25.1, 35.1], 0.5)
    assert deep.step_times(T, hid).size == 0
    # half of the plateau: 0.3 + 0.7 σ = 0.5, σ = 2/7, t = centre + 0.5 log(2/5)
    expected = np.array([5.1, 15.1, 25.1, 35.1]) + 0.5 * np.log(0.4)
    np.testing.assert_allclose(deep.step_times(T, hid, min_growth=2.0), expected, atol=0.11)
    mism, t_e, t_h = deep.step_time_mismatch(T, lam, hid)
    assert mism < 0.1 and t_h.size == 4  # |log(5 / 4.64)| at the first step; the check's tolerance is 0.5
    flat = 0.8 + 0.2 * _sigmoid_steps(T, [5.1, 15.1, 25.1, 35.1], 0.5)  # grows by 1.25 only: no step
    assert deep.step_time_mismatch(T, lam, flat)[0] == np.inf


@pytest.mark.parametrize("window", [0, -3])
def test_plateau_levels_bad_window(window):
    with pytest.raises(ValueError, match="window"):
        deep.plateau_levels(np.ones((4, 2)), window=window)
