"""Tests of dynamics.experiments.grassmann (Esser et al.) and dynamics.experiments.contrastive (Anil et al.).

The checks, figures, notebooks and benchmarks of those papers stand on these setups: the checks use the
very objects defined here, no figure imports a check's private name, experiments import neither
theorems nor figures, grid runs are stored on disk (and read back unchanged) when a cache directory is
set, and bad arguments are named in the error.
"""

import ast
import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from dynamics import experiments, grassmann, sweep
from dynamics.experiments import contrastive as ec
from dynamics.experiments import grassmann as eg
from dynamics.theorems import contrastive_checks as cc
from dynamics.theorems import grassmann_checks as gc

ROOT = Path(__file__).resolve().parents[1]


def _imports(path):
    """(module, names) of every import statement of a source file (relative levels as leading dots)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            out.append(("." * node.level + (node.module or ""), [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
    return out


# ---------------------------------------------------------------------------- layering


def test_checks_stand_on_the_experiments():
    assert gc.half_moons is eg.half_moons and gc.digits_two_classes is eg.digits_two_classes
    assert gc.gaussian_triplets is eg.gaussian_triplets and gc.theorem1_digits is eg.theorem1_digits
    # the width x seed sweeps (one run_grid call each) and the single runs the checks use
    for name in ("ntk_change_runs", "cv_drifts", "pca_representation_differences", "downstream_accuracies",
                 "lemma9_difference", "lemma9_differences", "deep_cosine_ntk_changes", "deep_dot_overflows",
                 "early_dot_changes", "grassmann_train"):
        assert getattr(cc, name) is getattr(ec, name), name


def test_experiments_import_neither_theorems_nor_figures():
    for mod in ("grassmann.py", "contrastive.py"):
        for module, _ in _imports(ROOT / "dynamics" / "experiments" / mod):
            assert "theorems" not in module and "figures" not in module, (mod, module)


@pytest.mark.parametrize("path", ["dynamics/figures/_grassmann.py", "dynamics/figures/_contrastive.py",
                                  "benchmarks/grassmann_flow.py", "tests/test_figures_grassmann.py",
                                  "tests/test_figures_contrastive.py"])
def test_figures_and_benchmark_use_no_private_check_names(path):
    src = (ROOT / path).read_text()
    for module, names in _imports(ROOT / path):
        if "_checks" in module:
            assert not any(n.startswith("_") for n in names), (path, module, names)
    assert "cc._" not in src and "gc._" not in src
    assert "data._" not in src  # nor the data module's private loader


@pytest.mark.parametrize("nb", ["03_grassmannian_dynamics.ipynb", "04_contrastive_ntk_and_pca.ipynb"])
def test_notebooks_import_no_check_setups(nb):
    cells = json.loads((ROOT / "notebooks" / nb).read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "_checks import" not in code and "_checks as" not in code


# ---------------------------------------------------------------------------- setups


def test_grassmann_data_setups():
    X, Xp, Xn, y = eg.half_moons(eg.MOONS_N)
    assert X.shape == Xp.shape == Xn.shape == (eg.MOONS_N, 2) and y.shape == (eg.MOONS_N,)
    np.testing.assert_allclose(X.mean(0), 0.0, atol=1e-12)
    X, Xp, Xn, y = eg.digits_two_classes()
    n = len(eg.DIGITS_CLASSES) * eg.DIGITS_PER_CLASS
    assert X.shape == Xp.shape == Xn.shape == (n, 64) and set(np.unique(y)) == set(eg.DIGITS_CLASSES)
    assert X.min() >= 0.0 and X.max() <= 1.0
    X1, Xp1, Xn1 = eg.theorem1_digits(50)
    assert X1.shape == (50, 16)
    # the pooled pixels are the means of 2x2 blocks of the first 50 images of the seed-0 permutation
    from sklearn.datasets import load_digits

    images = load_digits().images
    first = images[np.random.default_rng(0).permutation(len(images))[0]] / 16.0
    np.testing.assert_allclose(X1[0, 0], first[:2, :2].mean(), rtol=1e-15)
    assert eg.digits_steps(True) < eg.digits_steps(False)
    rec = eg.digits_record_steps(600)
    assert rec[0] == 0 and rec[-1] == 600 and len(rec) == 31


def test_contrastive_setups():
    for fast in (True, False):
        widths, seeds = ec.lemma9_widths(fast)
        assert len(widths) >= 4 and widths == sorted(widths) and len(seeds) >= 2
        widths, seeds, n = ec.ntk_widths(fast)
        assert len(widths) >= 4 and widths == sorted(widths)
        widths, seeds, steps, n = ec.grass_setup(fast)
        assert len(widths) >= 4 and steps * ec.GRASS_LR > 0
        widths, seeds, n, cos_steps, dot_widths = ec.deep_setup(fast)
        assert set(dot_widths) <= set(widths)
        assert len(ec.downstream_setup(fast)) == 3 and set(ec.drift_setup(fast)) >= {"widths", "T", "lr"}
    d = ec.digit_triplets(20)
    assert d.n_anchors == 20 and ec.ntk_inputs(d, 30).shape == (30, d.dim)
    assert ec.digit_triplets(20) is d  # cached


# ---------------------------------------------------------------------------- runs and the disk cache


def test_grid_point_stored_and_read_back(tmp_path):
    """A width point of the E Figs 3–4 sweep: stored under the cache directory, read back unchanged,
    and equal to the run computed directly."""
    name = f"test-{uuid.uuid4().hex}"  # a name no other run uses: nothing in memory yet
    point = {"h": 8, "fast": True}
    with experiments.cache_dir(tmp_path):
        (res,) = experiments.run_grid(eg.flow_vs_gd_run, [point], name=name)
    files = list((tmp_path / name).glob("*.npz"))
    assert len(files) == 1

    def must_not_run(**_):
        raise AssertionError("the stored point was recomputed")

    ((_, stored),) = sweep.run_sweep(must_not_run, [point], tmp_path / name, progress=False)
    direct = eg.flow_vs_gd_run(8, True)
    for k in ("loss", "out_diff"):
        np.testing.assert_array_equal(stored[k], direct[k])
        np.testing.assert_array_equal(res[k], direct[k])
    ref = eg.discretised_flow_run(True)
    assert direct["out_diff"][0] < 1e-12 and np.max(direct["out_diff"]) < 5e-2  # GD follows E12
    assert direct["loss"].shape == ref["loss"].shape


def test_contrastive_run_wrappers():
    """The tuple/float wrappers over the grid points: an overflowing dot-product run has no history."""
    change = ec.early_dot_change(128, 100, 20)
    t, ch, K0, t_over = ec.ntk_change_run(128, 0, "dot", 100)
    assert 0 < change < 0.1 * K0  # the dot-product NTK starts nearly constant
    assert t is None and ch is None and np.isfinite(t_over) and t_over < ec.DOT_T_MAX
    assert ec.early_dot_change(128, 100, 20) == change  # computed once per process
    t_rep, ch_rep = ec.dot_ntk_replay(128, 100)
    assert len(t_rep) > 0 and t_rep[-1] < t_over and np.all(np.isfinite(ch_rep))


@pytest.mark.parametrize("call, arg", [
    (lambda: ec.ntk_change_run(0, 0, "cosine"), "M"),
    (lambda: ec.ntk_change_run(128.5, 0, "cosine"), "M"),
    (lambda: ec.cv_drift(256, -1, 50), "seed"),
    (lambda: ec.grassmann_run(256, 0, 50, lr=-0.1), "lr"),
    (lambda: ec.lemma9_difference(64, 0, n_steps=0), "n_steps"),
    (lambda: ec.downstream_accuracies(200, 256, n_test=0), "n_test"),
    (lambda: eg.flow_vs_gd_run(2, True), "h"),
    (lambda: eg.flow_vs_gd_runs(True, widths=[8, 2.5]), "widths"),
    (lambda: eg.theorem1_digits(5000), "n"),
    (lambda: eg.half_moons(1), "n"),
])
def test_bad_arguments_are_named(call, arg):
    with pytest.raises((TypeError, ValueError), match=arg):
        call()


def test_flow_vs_gd_width_sweep_matches_the_check_setup():
    """The figure's E11 runs start from the flow's Θ(0) and use the check's step size and record steps."""
    ref = eg.discretised_flow_run(True)
    X, Xp, Xn, _ = eg.digits_two_classes()
    C = grassmann.data_matrix(X, Xp, Xn)
    assert ref["lr"] == eg.DIGITS_LR_SCALE / np.linalg.norm(C, 2)
    np.testing.assert_array_equal(ref["record_steps"], eg.digits_record_steps(eg.digits_steps(True)))
    np.testing.assert_allclose(ref["loss"][0], np.trace(ref["theta0"].T @ C @ ref["theta0"]), rtol=1e-12)
