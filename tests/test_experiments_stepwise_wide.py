"""Tests of dynamics.experiments.stepwise, .kernels and .wide (Simon et al. §4–§6, Fleissner et al.).

The checks, figures, notebooks and benchmarks of these papers stand on one copy of each setup; the
width × seed sweeps go through ``experiments.run_grid``, and ``figures.make_all`` stores them under
``out/.cache`` so that a second run (another process) reads them back instead of training again.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from dynamics import barlow, experiments, figures, sweep
from dynamics.experiments import kernels, stepwise, wide

ROOT = pathlib.Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- layering


def test_experiments_import_neither_theorems_nor_figures():
    code = ("import sys, dynamics.experiments; "
            "bad = [m for m in sys.modules if m.startswith(('dynamics.theorems', 'dynamics.figures'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr


def test_checks_use_the_experiments_objects():
    from dynamics.theorems import barlow_checks, kernel_checks, wide_checks

    assert barlow_checks.digits_setup is stepwise.digits_setup
    assert barlow_checks.digits_small_init_run is stepwise.digits_small_init_run
    assert barlow_checks.appendix_c_setup is stepwise.appendix_c_setup
    assert kernel_checks.digits_setup is stepwise.digits_setup
    assert kernel_checks.two_pathway_kernel is kernels.two_pathway_kernel
    assert wide_checks.own_initial_ntk is wide.own_initial_ntk
    assert wide_checks.stepwise_records is wide.stepwise_records
    assert wide_checks.kernel_limit_records is wide.kernel_limit_records
    for name in ("digits_setup", "digits_small_init_run", "appendix_c_setup", "D"):
        assert name not in vars(barlow_checks) or getattr(barlow_checks, name) is getattr(stepwise, name)
    for name in ("wide_data", "stepwise_run", "standard_init_run", "kernel_limit_run", "_fleissner_widths",
                 "_stepwise_training", "_standard_init_run", "_apply"):
        assert name not in vars(wide_checks) or getattr(wide_checks, name) is getattr(wide, name, None)


OWN_CALLERS = ["dynamics/figures/_barlow.py", "dynamics/figures/_wide.py", "benchmarks/theory_vs_training.py",
               "notebooks/01_stepwise_barlow_twins.ipynb", "notebooks/02_kernels_and_wide_networks.ipynb"]


@pytest.mark.parametrize("path", OWN_CALLERS)
def test_figures_notebooks_benchmarks_take_setups_from_experiments(path):
    text = (ROOT / path).read_text(encoding="utf-8")
    assert not re.search(r"theorems\.\w+_checks import", text), "setups come from dynamics.experiments"
    assert not re.search(r"_checks\._\w+", text), "no private names of a check module"
    assert not re.search(r"from \.\.theorems\.\w+ import|import \w+_checks", text)


# ---------------------------------------------------------------------------- stepwise (S §4, App. C)


def test_digits_setup_is_cached_and_gamma_is_S4():
    x, xp, Gamma = stepwise.digits_setup()
    assert x.shape == xp.shape == (500, 49) and Gamma.shape == (49, 49)
    assert stepwise.digits_setup()[2] is Gamma  # cached: the same object for every caller
    np.testing.assert_allclose(Gamma, (x.T @ xp + xp.T @ x) / (2 * x.shape[0]), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.concatenate([x, xp]).mean(axis=0), 0.0, atol=1e-12)  # centred over all 2n views


def test_small_init_steps_follow_S16_with_S21():
    _, _, Gamma = stepwise.digits_setup()
    g = np.linalg.eigvalsh(Gamma)[::-1][:stepwise.D]
    sigma = stepwise.STEPWISE_SIGMA
    s0 = sigma * np.sqrt(stepwise.D - np.arange(stepwise.D))  # S21: s_j(0) ≈ σ √(d − j + 1)
    tau_d = -np.log(g[-1] * s0[-1] ** 2) / (8 * g[-1])  # S16
    expected = int(np.ceil(stepwise.SMALL_INIT_HORIZON * tau_d / stepwise.SMALL_INIT_LR))
    assert abs(stepwise.small_init_steps(sigma) - expected) <= 1
    assert stepwise.small_init_sigmas(True) == [1e-2, 1e-4, 1e-6]
    assert stepwise.small_init_sigmas(False)[-1] == 1e-8


def test_appendix_c_setup_is_upper_triangular_of_scale_alpha():
    A0, gammas = stepwise.appendix_c_setup()
    assert A0.shape == (3, 5)
    np.testing.assert_array_equal(gammas, 2.0 ** -np.arange(1, 6))
    assert np.all(np.tril(A0, -1) == 0)
    upper = A0[np.triu(np.ones_like(A0, dtype=bool))]
    assert np.all((upper >= 0.5e-9) & (upper <= 1.5e-9))


# ---------------------------------------------------------------------------- kernels (S §5)


def test_kernel_setups():
    assert kernels.n_pairs(True) == 200 and kernels.n_pairs(False) == 500
    assert kernels.D == stepwise.D
    held = kernels.held_out_digits()
    assert held.shape == (200, 49) and kernels.held_out_digits() is held
    x, xp, _ = stepwise.digits_setup(n=20)
    a, b = kernels.pathway_flag(x, 0), kernels.pathway_flag(xp, 1)
    K = kernels.two_pathway_kernel(np.concatenate([a, b]), np.concatenate([a, b]))
    assert np.all(K[:20, 20:] == 0) and np.all(K[20:, :20] == 0)  # K_XX' = 0 (S §5.2)
    np.testing.assert_allclose(K[20:, 20:], xp @ xp.T, rtol=1e-12)  # linear pathway
    assert np.allclose(np.diag(K[:20, :20]), 1.0)  # RBF pathway


# ---------------------------------------------------------------------------- wide (S §6, F)


def test_wide_data_has_unit_mean_squared_norm():
    x, xp, labels = wide.wide_data()
    assert x.shape == xp.shape == (100, 49) and labels.shape == (100,)
    np.testing.assert_allclose(np.mean(np.sum(np.concatenate([x, xp]) ** 2, axis=1)), 1.0, rtol=1e-12)


def test_discrete_singular_values_is_the_euler_step_of_S12():
    gammas, s0, lr = np.array([0.5, 0.1]), np.array([1e-3, 2e-3]), 0.05
    out = wide.discrete_singular_values([0, 1, 3], gammas, s0, lr)
    s1 = s0 + lr * 4 * gammas * s0 * (1 - gammas * s0**2)
    np.testing.assert_allclose(out[0], s0)
    np.testing.assert_allclose(out[1], s1, rtol=1e-14)
    s = s1
    for _ in range(2):
        s = s + lr * 4 * gammas * s * (1 - gammas * s**2)
    np.testing.assert_allclose(out[2], s, rtol=1e-14)
    late = wide.discrete_singular_values([20000], gammas, s0, lr)[0]
    np.testing.assert_allclose(late, gammas**-0.5, rtol=1e-10)  # fixed point γ s² = 1 (S13)
    # the flow S10 is the lr → 0 limit
    t = 3.0
    fine = wide.discrete_singular_values([int(t / 1e-4)], gammas, s0, 1e-4)[0]
    np.testing.assert_allclose(fine, barlow.aligned_singular_values([t], gammas, s0)[0], rtol=1e-3)


def test_widths_and_seeds():
    assert wide.stepwise_widths(True) == [128, 256, 512, 1024]
    widths, seeds = wide.fleissner_widths(True)
    lw, ls = wide.kernel_limit_widths_seeds(True)
    assert set(widths) <= set(lw) and set(seeds) <= set(ls)  # the two F checks share training runs
    for fast in (True, False):
        assert len(wide.fleissner_widths(fast)[0]) >= 4 and len(wide.kernel_limit_widths_seeds(fast)[1]) >= 3


def test_ntk_drift_records_are_the_standard_init_runs():
    recs = wide.ntk_drift_records([64], [1])
    hist = wide.standard_init_run(64, 1)[0]
    assert set(recs) == {(64, 1)}
    rec = recs[64, 1]
    np.testing.assert_array_equal(rec["t"], hist.t)
    np.testing.assert_array_equal(rec["ntk_drift"], hist["ntk_drift"])
    np.testing.assert_array_equal(rec["loss"], hist.loss)
    assert wide.ntk_drift_records([64], [1])[64, 1] is rec  # computed once per process
    # however the arguments are spelled, one training run
    assert wide.standard_init_run(64, 1, False)[0] is hist and wide.standard_init_run(64.0, 1)[0] is hist
    assert hist.t[-1] == pytest.approx(wide.STANDARD_INIT_T)


# ---------------------------------------------------------------------------- make_all resumes


def _counted_point(M, seed):
    """A grid point that leaves a trace of every computation in the file $COUNT_FILE."""
    with open(os.environ["COUNT_FILE"], "a", encoding="utf-8") as f:
        f.write(f"{M},{seed}\n")
    return {"value": float(10 * M + seed), "curve": np.linspace(0.0, 1.0, M + 2)}


def counted_grid_figure(*, fast: bool = False):
    """A figure standing on a width × seed grid (as the wide figures do), for the make_all tests."""
    recs = experiments.run_grid(_counted_point, sweep.grid(M=[1, 2, 3], seed=[0, 1]), name=os.environ["GRID_NAME"])
    fig = Figure(figsize=(3, 2))
    fig.subplots().plot([float(r["value"]) for r in recs])
    curve_sum = sum(float(np.sum(r["curve"])) for r in recs)
    return fig, "values " + ", ".join(f"{float(r['value']):g}" for r in recs) + f"; curve sum {curve_sum:g}"


def test_make_all_stores_grid_points_and_a_second_process_reads_them(tmp_path, monkeypatch):
    count = tmp_path / "count.txt"
    monkeypatch.setenv("COUNT_FILE", str(count))
    monkeypatch.setenv("GRID_NAME", "test.counted_point.resume")  # a name no other test computes
    monkeypatch.delenv("DYNAMICS_CACHE_DIR", raising=False)
    monkeypatch.setitem(figures.FIGURES, "counted_grid_figure", counted_grid_figure)
    out = tmp_path / "figs"
    figures.make_all(out, fast=True, names=["counted_grid_figure"])
    assert experiments.current_cache_dir() is None  # the cache directory is set for make_all only
    assert len(count.read_text().splitlines()) == 6  # every point computed once
    stored = sorted((out / ".cache" / "test.counted_point.resume").glob("*.npz"))
    assert len(stored) == 6
    assert (out / ".cache" / ".gitignore").read_text() == "*\n"
    caption = (out / "captions.md").read_text()
    assert "values 10, 11, 20, 21, 30, 31" in caption

    # a fresh process (nothing in memory) makes the figure again from the stored points
    (out / "captions.md").unlink()
    script = (f"import sys; sys.path.insert(0, {json.dumps(str(ROOT / 'tests'))}); "
              "import test_experiments_stepwise_wide as t; from dynamics import figures; "
              "figures.FIGURES['counted_grid_figure'] = t.counted_grid_figure; "
              f"figures.make_all({json.dumps(str(out))}, fast=True, names=['counted_grid_figure'])")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env={**os.environ, "COUNT_FILE": str(count)})
    assert res.returncode == 0, res.stderr
    assert len(count.read_text().splitlines()) == 6  # nothing recomputed
    assert (out / "captions.md").read_text() == caption  # the same numbers, read back from disk


def test_make_all_without_cache_writes_no_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("COUNT_FILE", str(tmp_path / "count.txt"))
    monkeypatch.setenv("GRID_NAME", "test.counted_point.no_cache")
    monkeypatch.delenv("DYNAMICS_CACHE_DIR", raising=False)
    monkeypatch.setitem(figures.FIGURES, "counted_grid_figure", counted_grid_figure)
    figures.make_all(tmp_path / "a", fast=True, names=["counted_grid_figure"], cache=False)
    assert not (tmp_path / "a" / ".cache").exists()
    figures.make_all(tmp_path / "b", fast=True, names=["counted_grid_figure"], cache=tmp_path / "elsewhere")
    assert not (tmp_path / "b" / ".cache").exists() and (tmp_path / "elsewhere").is_dir()
