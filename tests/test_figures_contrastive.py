"""Tests of the Anil et al. (A) figures (dynamics.figures._contrastive): files, captions and content.

make_all is run once (fast mode) with the figure functions wrapped so that the returned figures can be
inspected; plotted values are compared with values recomputed here from the contrastive API.
"""

import re

import numpy as np
import pytest
from figure_helpers import assert_files_written, make_and_keep, plotted_lines

from dynamics import contrastive, figures, networks
from dynamics.experiments import contrastive as ex
from dynamics.figures import _contrastive as fc
from dynamics.linalg import loglog_fit
from dynamics.theorems import get_check

NAMES = ["a_fig1_lemma9", "a_fig2_3_ntk_change", "a_fig4_cv_and_pca", "a_fig5_downstream", "cross_paper_ntk_drift"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return make_and_keep(tmp_path_factory.mktemp("contrastive_figs"), NAMES)


_lines = plotted_lines


def test_registered():
    for n in NAMES:
        assert figures.FIGURES[n] is getattr(figures, n) and n in figures.__all__


def test_make_all_writes_png_pdf_and_captions(made):
    out, paths, figs = made
    assert_files_written(out, paths, NAMES)
    captions = (out / "captions.md").read_text()
    for n in NAMES:
        assert f"## {n}" in captions
        caption = figs[n][1]
        assert "Fast mode" in caption and caption.strip() in captions
        assert "t = lr × step" in caption and "dashed" in caption


def test_fig1_gd_vs_lemma9_and_width_sweep(made):
    fig, _ = made[2]["a_fig1_lemma9"]
    ax_a, ax_b = fig.axes[:2]
    assert len(_lines(ax_a, "solid")) == 4 and len(_lines(ax_a, "dashed")) == 4
    sweep = _lines(ax_b, "solid")[0]
    assert list(sweep.get_xdata()) == [64, 256, 1024]
    # the M = 64 point recomputed from the API: GD vs the frozen-NTK flow at T = 5
    d = contrastive.contrastive_digits(10)
    p = networks.init_two_layer(d.dim, 64, 10, seed=0)
    _, hist = contrastive.train_contrastive(p, d, lr=0.01, n_steps=500, similarity="cosine",
                                            record_steps=np.array([0, 500]))
    F_gd = np.asarray(hist["outputs"][-1])
    F_ntk = contrastive.lemma9_flow(p, d, hist.t[-1:], similarity="cosine")[-1]
    expected = np.abs(F_gd - F_ntk).max() / np.abs(F_gd).max()
    assert sweep.get_ydata()[0] == pytest.approx(expected, rel=1e-6)
    # the dashed frozen-NTK curves start where GD starts and stay close (cosine, wide)
    for s, t in zip(_lines(ax_a, "solid"), _lines(ax_a, "dashed")):
        assert s.get_ydata()[0] == pytest.approx(t.get_ydata()[0], abs=1e-9)
        assert np.max(np.abs(s.get_ydata() - t.get_ydata())) < 0.05 * np.max(np.abs(s.get_ydata()))


def test_fig2_3_dot_diverges_cosine_small(made):
    fig, _ = made[2]["a_fig2_3_ntk_change"]
    ax_a, ax_b, ax_c = fig.axes[:3]
    assert len(_lines(ax_b, "solid")) == 3
    assert len(_lines(ax_c, "solid")) == 1 and len(_lines(ax_c, "dashed")) == 1
    dot = [ln for ln in _lines(ax_a, "solid") if ln.get_label().startswith("dot")]
    assert len(dot) == 1 and np.max(dot[0].get_ydata()) > 1e3
    final = _lines(ax_c, "solid")[0].get_ydata()
    assert np.all(final < 1) and final[-1] < final[0]
    assert final[0] == ex.ntk_change_run(128, 0, "cosine", 100)[1][-1]


def test_fig4_cv_drift_and_procrustes(made):
    fig, _ = made[2]["a_fig4_cv_and_pca"]
    ax_a, ax_b, _ax_c, ax_d = fig.axes[:4]
    assert len(_lines(ax_a, "solid")) == 3 and len(_lines(ax_a, "dashed")) == 1
    assert len(_lines(ax_b, "dashed")) == 1 and len(_lines(ax_d, "dashed")) == 1
    seeds = ex.grass_setup(True)[1]
    hs = [ex.grassmann_run(256, s, 50, 100)[2] for s in seeds]
    t = hs[0].t[hs[0].t > 0]
    np.testing.assert_allclose(_lines(ax_a, "solid")[0].get_xdata(), t)
    np.testing.assert_allclose(_lines(ax_a, "solid")[0].get_ydata(),
                               np.mean([np.asarray(h["cv_change"])[h.t > 0] for h in hs], axis=0))
    proc = _lines(ax_d, "solid")[0].get_ydata()
    assert proc[0] == pytest.approx(np.mean([ex.pca_representation_difference(256, s, 50, 100)[0] for s in seeds]))


def test_fig5_bars_and_chance(made):
    fig, _ = made[2]["a_fig5_downstream"]
    ax = fig.axes[0]
    heights = [b.get_height() for b in ax.patches]
    assert len(heights) == 3
    accs = ex.downstream_accuracies(*ex.downstream_setup(True)[:2], n_steps=ex.downstream_setup(True)[2])
    np.testing.assert_allclose(heights, [accs["pca_C0"], accs["trained"], accs["iterative"]])
    chance = _lines(ax, "dashed")
    assert len(chance) == 1 and np.allclose(chance[0].get_ydata(), 0.1)
    baseline = [ln for ln in _lines(ax) if ln.get_linestyle() == ":"]
    assert len(baseline) == 1 and np.allclose(baseline[0].get_ydata(), accs["baseline"])
    assert min(heights) >= accs["baseline"] + get_check("a_fig5_deep_and_downstream").tolerance_for(True)


def _numbers(text):
    return [float(v) for v in re.findall(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)]


def test_cross_paper_drift_six_losses_over_time(made):
    fig, caption = made[2]["cross_paper_ntk_drift"]
    kw = ex.drift_setup(True)
    widths = kw["widths"]
    time_axes, ax_w = fig.axes[:len(widths)], fig.axes[len(widths)]
    for ax in time_axes:  # one panel per width, the six losses over time
        assert {ln.get_label() for ln in _lines(ax, "solid")} == set(fc.DRIFT_LOSSES.values())
    # the first panel recomputed from the API for two of the losses (M = 64)
    r = contrastive.ntk_drift_by_loss(widths[:1], losses=["contrastive_dot", "contrastive_cosine"],
                                      **{k: v for k, v in kw.items() if k != "widths"})
    assert np.all(np.abs(r["curves"]["contrastive_cosine"][:, :, 0]) < 1e-12)  # drift at t = 0 is 0
    assert np.all(np.abs(r["curves"]["contrastive_dot"][:, :, 0]) < 1e-12)
    by = {ln.get_label(): ln for ln in _lines(time_axes[0], "solid")}
    cos_line, dot_line = by["contrastive, cosine"], by["contrastive, dot product"]
    np.testing.assert_allclose(cos_line.get_ydata(), r["curves"]["contrastive_cosine"][0, 0, 1:], rtol=1e-9)
    np.testing.assert_allclose(cos_line.get_xdata(), r["t"][1:])
    dot_ref = r["curves"]["contrastive_dot"][0, 0]
    np.testing.assert_allclose(dot_line.get_ydata(), dot_ref[1:][np.isfinite(dot_ref[1:])], rtol=1e-9)
    # the dot product stops at its overflow (dotted vertical) before T; the others run to T
    t_div = float(r["t_diverge"]["contrastive_dot"][0, 0])
    assert t_div < kw["T"] and dot_line.get_xdata()[-1] < t_div
    verticals = [ln for ln in time_axes[0].get_lines() if ln.get_linestyle() == ":"]
    assert [float(ln.get_xdata()[0]) for ln in verticals] == [t_div]
    # late in training the dot-product drift exceeds the cosine drift, at every width
    for ax in time_axes:
        lines = {ln.get_label(): ln for ln in _lines(ax, "solid")}
        dot, cos = lines["contrastive, dot product"], lines["contrastive, cosine"]
        k = len(dot.get_ydata()) - 1
        assert dot.get_ydata()[k] > 10 * cos.get_ydata()[k]
        assert dot.get_ydata()[k] > 1 > 10 * cos.get_ydata()[-1]
    # caption numbers come from the plotted data: overflow times, drift at T at the largest width, slopes
    over = re.search(r"overflows at t = \[([^\]]*)\]", caption)
    assert over and _numbers(over.group(1)) == [round(float(ln.get_xdata()[0]), 1) for ax in time_axes
                                                 for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    wlines = {ln.get_label().split(" (")[0]: ln for ln in _lines(ax_w, "solid")}
    assert set(wlines) == set(fc.DRIFT_LOSSES.values()) - {"contrastive, dot product"}
    late = re.search(rf"at M = {widths[-1]}: ([^;]*);", caption).group(1)
    for name, ln in wlines.items():
        value = float(re.search(rf"{re.escape(name)} ([-+\d.e]+)", late).group(1))
        assert value == pytest.approx(ln.get_ydata()[-1], rel=5e-3)
        slope = float(re.search(rf"{re.escape(name)} \(slope ([-\d.]+)\)", ln.get_label()).group(1))
        assert slope == pytest.approx(loglog_fit(ln.get_xdata(), ln.get_ydata())[0], abs=5e-3)
        assert f"{name} {slope:.2f}" in caption
    assert ln.get_ydata()[0] > 0 and list(ln.get_xdata()) == widths
    assert wlines["contrastive, cosine"].get_ydata()[0] == pytest.approx(r["contrastive_cosine"][0], rel=1e-9)
