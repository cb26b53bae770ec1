"""Tests of the deep-network figures (dynamics.figures._deep): S Figs 1 C–D, 2 C–F, 3–5, 7 and Tables 1–2.

The plotting functions are fed synthetic runs (dynamics.ssl.SSLRun built from known step curves), so the
figure code is checked without the training: the plotted data must be the runs' arrays, the step times found
must be the steps put in, and every number of a caption must be the one computed from the data.  The
registered figures (which train) run in the slow test at the end.
"""

import re

import numpy as np
import pytest
from figure_helpers import plotted_lines

from dynamics import figures, ssl
from dynamics.experiments import deep
from dynamics.figures import _deep as fd

STEPS = (4.0, 8.0, 12.0, 16.0)  # the step centres of the synthetic small-init runs
T = np.linspace(0.0, 24.0, 97)  # records every 0.25
SETUP = {"data": "synthetic", "network": "mlp", "width": 16, "d": 5, "batch_size": 32, "n_steps": 96,
         "alpha": 0.1, "lr": 0.05}


def _sigmoid(t, c, rate=3.0):
    return 1.0 / (1.0 + np.exp(-rate * (t - c)))


def _run(eigenvalues, hidden=None, probe_acc=None, loss=None):
    steps = np.arange(len(T))
    p_steps = steps[::24]
    return ssl.SSLRun(steps=steps, t=T.copy(), loss=loss if loss is not None else 4.0 - eigenvalues.sum(axis=1),
                      eigenvalues=eigenvalues, hidden_eigenvalues=hidden, probe_steps=p_steps, probe_t=T[p_steps],
                      probe_accuracy=probe_acc if probe_acc is not None else np.linspace(0.2, 0.6, len(p_steps)),
                      params={}, config={"images": {"shape": [64, 8, 8, 3]}, "view_shape": [8, 8, 3],
                                         "optimizer": "sgd", "lr": 0.05, "batch_size": 32, "n_steps": 96,
                                         "embedding_dim": 5, "model": "resnet"}, at_step=96)


def _small_init(scale):
    # four eigenvalues step up from 1e-6 at STEPS (S Fig 1 D), the fifth never grows
    lam = np.stack([1e-6 + scale * _sigmoid(T, c) for c in STEPS] + [np.full_like(T, 2e-6)], axis=1)
    hidden = np.concatenate([2.0 * lam[:, :4] + 1e-5, np.full((len(T), 6), 1e-5)], axis=1)
    return lam, hidden


def _standard_init():
    # eight eigenvalues: at init spread around 1e-2, four of them grow to about 1 (two bands, S Fig 3)
    base = 1e-2 * (1.0 + 0.1 * np.arange(8))
    grow = np.stack([_sigmoid(T, 2.0 + 4.0 * j) if j < 4 else 0.0 * T for j in range(8)], axis=1)
    return base + grow * (1.0 + 0.05 * np.arange(8))


@pytest.fixture(scope="module")
def runs():
    out = {}
    for k, loss in enumerate(("barlow_twins", "simclr", "vicreg")):
        lam, hid = _small_init(1.0 + 0.5 * k)
        out[loss, "small"] = _run(lam, hid, probe_acc=np.array([0.2, 0.35, 0.5, 0.55, 0.6]))
        out[loss, "standard"] = _run(_standard_init(), None, probe_acc=np.array([0.3, 0.5, 0.6, 0.62, 0.65]))
    return out


def _numbers(text):
    return [float(v) for v in re.findall(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)]


def test_synthetic_steps_are_found_where_they_were_put():
    # the step times the figures mark (experiments.deep.step_times) are the sigmoid centres put in
    lam, hid = _small_init(1.0)
    np.testing.assert_allclose(deep.step_times(T, lam), STEPS, atol=0.25)  # within one record
    mismatch, t_e, t_h = deep.step_time_mismatch(T, lam, hid)
    assert mismatch < 0.05 and len(t_e) == len(t_h) == 4


def test_band_threshold_splits_the_two_bands():
    lam = _standard_init()
    lo, thr, hi = fd.band_threshold(lam)
    final = lam[-1]
    assert lo == pytest.approx(np.sort(final)[3]) and hi == pytest.approx(np.sort(final)[4])
    assert thr == pytest.approx(np.sqrt(lo * hi)) and int(np.sum(final > thr)) == 4
    with pytest.raises(ValueError, match="two columns"):
        fd.band_threshold(lam[:, :1])


def test_deep_steps_plot_the_runs_and_caption_their_numbers(runs):
    scores = {key: 0.9 if key[1] == "small" else 0.1 for key in runs}
    fig, caption = fd.plot_deep_steps(runs, SETUP, scores=scores)
    axes = fig.axes[:6]
    for i, loss in enumerate(("barlow_twins", "simclr", "vicreg")):
        r = runs[loss, "small"]
        ax_l, ax_e = axes[i], axes[3 + i]
        (loss_line,) = plotted_lines(ax_l, "solid")
        np.testing.assert_array_equal(loss_line.get_ydata(), r.loss)
        eig = plotted_lines(ax_e, "solid")
        assert len(eig) == 5
        for j, ln in enumerate(eig):
            np.testing.assert_array_equal(ln.get_xdata(), r.t)
            np.testing.assert_array_equal(ln.get_ydata(), np.maximum(r.eigenvalues[:, j], 1e-30))
        marks = sorted(ln.get_xdata()[0] for ln in ax_e.get_lines() if ln.get_linestyle() == ":")
        np.testing.assert_allclose(marks, STEPS, atol=0.25)
        part = caption.split(fd.LOSS_NAMES[loss] + " (")[1]
        times = _numbers(re.search(r"step times \[([^\]]*)\]", part).group(1))
        np.testing.assert_allclose(times, marks, rtol=5e-3)  # printed to 3 significant digits
        assert f"{len(STEPS)} of 5 eigenvalues grew from below 0.1 × their plateau level" in part
        assert f"loss {r.loss[0]:.3g} → {r.loss[-1]:.3g}" in part
        assert "stepwise score 0.9 (small init) vs 0.1 (standard init)" in part
    assert "t = lr × step" in caption and "alpha = 0.1" in caption
    assert fd.differs(SETUP) in caption and "MLP of S App. D.1 (width 16)" in caption


def test_standard_init_bands_and_histograms(runs):
    fig, caption = fd.plot_standard_init(runs, SETUP)
    r = runs["simclr", "standard"]
    lo, thr, hi = fd.band_threshold(r.eigenvalues)
    ax, ax_h = fig.axes[1], fig.axes[4]
    assert len(plotted_lines(ax, "solid")) == 8
    (thr_line,) = plotted_lines(ax, "dashed")
    assert thr_line.get_ydata()[0] == pytest.approx(thr)
    recs = fd._histogram_records(r.t)
    assert len(ax_h.patches) == len(recs)  # one step histogram per selected time
    part = caption.split("SimCLR (")[1]
    assert _numbers(re.search(r"threshold ([\d.e+-]+)", part).group(1))[0] == pytest.approx(thr, rel=1e-2)
    counts = _numbers(re.search(r": \[([^\]]*)\] of 8", part).group(1))
    assert counts == [int(np.sum(r.eigenvalues[k] > thr)) for k in recs]
    assert counts[0] == 0 and counts[-1] == 4  # bands fill in over training


def test_hidden_steps_marked_at_the_embedding_steps(runs):
    fig, caption = fd.plot_hidden_steps(runs, SETUP)
    ax_h = fig.axes[3]  # row-major: embeddings on top, hidden below
    r = runs["barlow_twins", "small"]
    hidden = plotted_lines(ax_h, "solid")
    assert len(hidden) == 10  # the top 2 d hidden eigenvalues
    np.testing.assert_array_equal(hidden[0].get_ydata(), r.hidden_eigenvalues[:, 0])
    marks = sorted(ln.get_xdata()[0] for ln in ax_h.get_lines() if ln.get_linestyle() == ":")
    np.testing.assert_allclose(marks, STEPS, atol=0.25)
    part = caption.split("Barlow Twins: ")[1]
    emb = _numbers(re.search(r"embedding step times \[([^\]]*)\]", part).group(1))
    hid = _numbers(re.search(r"hidden eigenvalues \[([^\]]*)\]", part).group(1))
    np.testing.assert_allclose(emb, marks, rtol=5e-3)  # printed to 3 significant digits
    np.testing.assert_allclose(hid, emb, atol=0.5)  # the synthetic hidden steps coincide
    mismatch = deep.step_time_mismatch(r.t, r.eigenvalues, r.hidden_eigenvalues)[0]
    assert f"|log t_e − log t_h| = {mismatch:.3g}" in part
    with pytest.raises(ValueError, match="hidden"):
        fd.plot_hidden_steps({("simclr", "small"): runs["simclr", "standard"]}, SETUP)


def test_linear_probe_small_vs_standard(runs):
    fig, caption = fd.plot_linear_probe(runs, SETUP)
    for i, loss in enumerate(("barlow_twins", "simclr", "vicreg")):
        lines = {ln.get_label(): ln for ln in plotted_lines(fig.axes[i], "solid")}
        assert set(lines) == {"small init", "standard init"}
        for init in ("small", "standard"):
            np.testing.assert_array_equal(lines[f"{init} init"].get_ydata(), runs[loss, init].probe_accuracy)
            np.testing.assert_array_equal(lines[f"{init} init"].get_xdata(), runs[loss, init].probe_t)
    assert "small init 0.2 → 0.6 (t = 24)" in caption and "standard init 0.3 → 0.65 (t = 24)" in caption


def test_tables_plot_ours_beside_the_paper():
    t1 = {"barlow_twins": {"a_exp_th": 0.4, "a_exp_ntk": 0.3, "chance": 0.05},
          "simclr": {"a_exp_th": 0.35, "a_exp_ntk": 0.25, "chance": 0.05},
          "vicreg": {"a_exp_th": 0.45, "a_exp_ntk": 0.2, "chance": 0.05}}
    t2 = {("barlow_twins", "simclr"): 0.3, ("barlow_twins", "vicreg"): 0.32, ("simclr", "vicreg"): 0.28}
    p1 = {k: {"a_exp_th": 0.6, "a_exp_ntk": 0.5, "chance": 0.025} for k in t1}
    p2 = {k: 0.5 for k in t2}
    fig, caption = fd.plot_tables({"table1": t1, "table2": t2}, SETUP, paper1=p1, paper2=p2)
    ax_a, ax_b = fig.axes[:2]
    heights = [b.get_height() for b in ax_a.patches]
    assert heights == [0.4, 0.35, 0.45, 0.6, 0.6, 0.6, 0.3, 0.25, 0.2, 0.5, 0.5, 0.5]
    assert [b.get_height() for b in ax_b.patches] == [0.3, 0.32, 0.28, 0.5, 0.5, 0.5]
    assert "Barlow Twins: a(P_exp, P_th) 0.4, a(P_exp, P_NTK) 0.3, chance 0.05" in caption
    assert "SimCLR / VICReg 0.28" in caption


def test_registered_and_tables_file_written(tmp_path, monkeypatch):
    names = ["s_fig1_2_deep_steps", "s_fig3_4_standard_init", "s_fig5_hidden_steps", "s_fig7_linear_probe",
             "s_tables_1_2"]
    for n in names:
        assert n in figures.FIGURES and n in figures.__all__
    assert set(figures.TABLES) == {"s_tables_1_2"}
    # make_all writes <name>.md for the names in TABLES, listed in captions.md beside the PNG and PDF
    fig, caption = fd.plot_linear_probe({("simclr", "small"): _run(*_small_init(1.0))}, SETUP)
    monkeypatch.setitem(figures.FIGURES, "s_tables_1_2", lambda *, fast=False: (fig, caption))
    monkeypatch.setitem(figures.TABLES, "s_tables_1_2", lambda *, fast=False: "# tables\n\n| a | b |\n")
    paths = figures.make_all(tmp_path, fast=True, names=["s_tables_1_2"], cache=False)
    assert tmp_path / "s_tables_1_2.md" in paths
    assert (tmp_path / "s_tables_1_2.md").read_text() == "# tables\n\n| a | b |\n"
    assert "[`s_tables_1_2.md`](s_tables_1_2.md)" in (tmp_path / "captions.md").read_text()
