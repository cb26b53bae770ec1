"""Tests of the wide-network and kernel special-case figures (dynamics.figures._wide): files, captions, content.

The content tests read the plotted data back from the axes and compare it with the cached runs of
``dynamics.experiments.wide`` and with the registered checks' own metrics, so a figure cannot
silently show something other than what ``verify`` measures.
"""

import numpy as np
import pytest
from matplotlib.figure import Figure

from dynamics import figures
from dynamics.figures import _wide
from dynamics.experiments import wide
from dynamics.theorems import get_check

NAMES = ["s_fig2_wide_stepwise", "f_ntk_drift_vs_width", "f_alignment_vs_width", "s_kernel_pca_special_case"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("wide_figs")
    return out, figures.make_all(out, fast=True, names=NAMES)


def _lines(ax):
    return [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1]


def _solid(ax):
    return [ln for ln in _lines(ax) if ln.get_linestyle() == "-" and ln.get_marker() in ("None", "", None)]


def _dashed(ax):
    return [ln for ln in _lines(ax) if ln.get_linestyle() == "--"]


def _rendered(fig):
    return " ".join(t.get_text().replace("\n", " ") for t in fig.texts)


def test_registered_in_figures():
    for name in NAMES:
        assert figures.FIGURES[name] is getattr(figures, name)
        assert name in figures.__all__


def test_make_all_writes_png_pdf_and_captions(made):
    out, paths = made
    for name in NAMES:
        for ext in ("png", "pdf"):
            p = out / f"{name}.{ext}"
            assert p in paths and p.stat().st_size > 10_000
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    captions = (out / "captions.md").read_text()
    for name in NAMES:
        assert f"## {name}" in captions and f"{name}.png" in captions
    # data, sizes, seeds, widths, theory vs experiment and the time convention are stated
    for needle in ("n = 100", "d = 3", "init seed 1", "M = 1024", "widths M = 128, 256, 512, 1024",
                   "init seeds 1, 2", "T = 50", "lr = 0.02", "solid", "dashed", "Dotted", "t = lr × step",
                   "n = 200 images", "d = 10", "K_XX' = 0", "fast mode"):
        assert needle in captions, needle


def test_fig2_wide_stepwise_content():
    fig, caption = figures.s_fig2_wide_stepwise(fast=True)
    assert isinstance(fig, Figure) and caption in _rendered(fig)
    ax_a, ax_b, ax_c, ax_d = fig.axes
    hist, lam_pred, _, _ = wide.stepwise_run(1024)
    d = lam_pred.shape[1]
    keep = hist.t > 0
    # A: trainer loss (solid) and the predicted loss Σ_j (1 − λ_j^pred)² (dashed)
    (loss_net,), (loss_th,) = _solid(ax_a), _dashed(ax_a)
    np.testing.assert_array_equal(loss_net.get_ydata(), hist.loss[keep])
    np.testing.assert_allclose(loss_th.get_ydata(), np.sum((1 - lam_pred[keep]) ** 2, axis=1), rtol=1e-12)
    assert ax_a.get_xscale() == "log" and ax_b.get_xscale() == "log"
    # B: d network eigenvalue curves and d predicted ones, and they agree as the check requires
    solid_b, dashed_b = _solid(ax_b), _dashed(ax_b)
    assert len(_lines(ax_b)) >= 2 * d and len(solid_b) == d and len(dashed_b) == d
    for j in range(d):
        np.testing.assert_array_equal(solid_b[j].get_ydata(), hist["eigenvalues"][keep, j])
        np.testing.assert_array_equal(dashed_b[j].get_ydata(), lam_pred[keep, j])
    sup_err = max(np.abs(s.get_ydata() - t.get_ydata()).max() for s, t in zip(solid_b, dashed_b))
    assert sup_err < 0.1
    # C: the sup errors of every width of the check, on log–log axes
    widths = _wide.STEPWISE_WIDTHS[True]
    points = next(ln for ln in ax_c.get_lines() if ln.get_marker() == "o")
    np.testing.assert_array_equal(points.get_xdata(), widths)
    expected = [np.abs(wide.stepwise_run(M)[0]["eigenvalues"] - wide.stepwise_run(M)[1]).max()
                for M in widths]
    np.testing.assert_allclose(points.get_ydata(), expected, rtol=1e-12)
    assert ax_c.get_xscale() == "log" and ax_c.get_yscale() == "log"
    # the caption's numbers are the check's: errors, leave-one-out slopes and the gradient-flow-clock errors
    res = get_check("wide_stepwise_kernel_prediction").run(fast=True)
    np.testing.assert_allclose(res.details["sup_eigenvalue_error"], expected, rtol=1e-12)
    rendered = _rendered(fig)
    assert ", ".join(f"{e:.3g}" for e in res.details["sup_eigenvalue_error"]) in rendered
    assert ", ".join(f"{v:.2f}" for v in res.details["leave_one_out_slopes"]) in rendered
    flow = res.details["sup_eigenvalue_error_vs_S10_at_t_eq_lr_step"]
    assert ", ".join(f"{e:.3g}" for e in flow) in rendered
    (squares,) = [ln for ln in ax_c.get_lines() if ln.get_marker() == "s"]
    np.testing.assert_allclose(squares.get_ydata(), flow, rtol=1e-12)
    # D: the SimCLR / VICReg predictor errors are the check's (s_predictor_simclr_vicreg_width), caption included
    pres = get_check("s_predictor_simclr_vicreg_width").run(fast=True)
    for name, marker in (("simclr", "o"), ("vicreg", "s")):
        (line,) = [ln for ln in ax_d.get_lines() if ln.get_marker() == marker]
        np.testing.assert_array_equal(line.get_xdata(), pres.details["widths"])
        np.testing.assert_allclose(line.get_ydata(), pres.details[f"{name}_sup_relative_error"], rtol=1e-12)
        assert ", ".join(f"{e:.2g}" for e in pres.details[f"{name}_sup_relative_error"]) in rendered


def test_ntk_drift_figure_shows_the_check():
    fig, _ = figures.f_ntk_drift_vs_width(fast=True)
    ax_a, ax_b = fig.axes
    widths, seeds = wide.fleissner_widths(True)
    assert ax_a.get_xscale() == "log" and ax_a.get_yscale() == "log"
    for sup, marker in ((False, "o"), (True, "s")):
        lines = [ln for ln in ax_a.get_lines() if ln.get_marker() == marker]
        faint = [ln for ln in lines if ln.get_linestyle() == "None"]
        (mean,) = [ln for ln in lines if ln.get_linestyle() == "-"]
        # the drift recomputed here from the cached training runs: per seed and seed-averaged
        drift = np.array([[wide.standard_init_run(M, s, supervised=sup)[0]["ntk_drift"][-1] for s in seeds]
                          for M in widths])
        assert len(faint) == len(seeds)
        for k, ln in enumerate(faint):
            np.testing.assert_array_equal(ln.get_xdata(), widths)
            np.testing.assert_allclose(ln.get_ydata(), drift[:, k], rtol=1e-12)
        np.testing.assert_allclose(mean.get_ydata(), drift.mean(axis=1), rtol=1e-12)
    dotted = [ln for ln in ax_a.get_lines() if ln.get_linestyle() == ":"]
    assert len(dotted) == 2  # M^-1/2 and M^-1 references
    ref_slopes = sorted(np.polyfit(np.log(ln.get_xdata()), np.log(ln.get_ydata()), 1)[0] for ln in dotted)
    np.testing.assert_allclose(ref_slopes, [-1.0, -0.5], atol=1e-12)
    # the slopes in the legend are the check's
    res = get_check("fleissner_ntk_constancy").run(fast=True)
    legend = " ".join(t.get_text() for t in ax_a.get_legend().get_texts())
    assert f"slope {res.details['slope_barlow_twins']:.2f}" in legend
    assert f"slope {res.details['slope_supervised']:.2f}" in legend
    assert len(_solid(ax_b)) == len(widths)


def test_alignment_figure_shows_the_check():
    fig, _ = figures.f_alignment_vs_width(fast=True)
    ax_a, ax_b = fig.axes
    widths, seeds = wide.kernel_limit_widths_seeds(True)
    res = get_check("fleissner_kernel_limit").run(fast=True)
    (align_mean,) = [ln for ln in ax_a.get_lines() if ln.get_marker() == "o" and ln.get_linestyle() == "-"]
    np.testing.assert_allclose(align_mean.get_ydata(), 1.0 - np.array(res.details["alignment"]), rtol=1e-6)
    (gap_mean,) = [ln for ln in ax_a.get_lines() if ln.get_marker() == "s" and ln.get_linestyle() == "-"]
    np.testing.assert_allclose(gap_mean.get_ydata(), res.details["loss_curve_gap"], rtol=1e-6)
    faint = [ln for ln in ax_a.get_lines() if ln.get_linestyle() == "None"]
    assert len(faint) == 3 * len(seeds)
    legend = " ".join(t.get_text() for t in ax_a.get_legend().get_texts())
    assert f"slope {res.details['slope_one_minus_alignment']:.2f}" in legend
    # B: one network loss curve (solid) and one kernel-model curve (dashed) per width, for the first seed
    solid, dashed = _solid(ax_b), _dashed(ax_b)
    assert len(solid) == len(widths) and len(dashed) == len(widths)
    for M, ln in zip(widths, solid):
        hist = wide.standard_init_run(M, seeds[0])[0]
        np.testing.assert_array_equal(ln.get_ydata(), hist.loss[hist.t > 0])
    # the kernel model starts from the network's outputs and ends at zero loss like the network
    for s, k in zip(solid, dashed):
        assert abs(s.get_ydata()[0] - k.get_ydata()[0]) < 0.05 and k.get_ydata()[-1] < 1e-3


def test_kernel_pca_special_case_content():
    fig, caption = figures.s_kernel_pca_special_case(fast=True)
    ax_a, ax_b, ax_c = fig.axes[:3]
    d, n = 10, 200
    scatter = [ln for ln in ax_a.get_lines() if ln.get_linestyle() == "None"]
    assert len(scatter) == d and all(len(ln.get_xdata()) == 2 * n for ln in scatter)
    for ln in scatter:  # embedding coordinates on the kernel-PCA prediction y = x
        np.testing.assert_allclose(ln.get_ydata(), ln.get_xdata(), atol=1e-8)
    (image,) = ax_b.get_images()
    np.testing.assert_allclose(image.get_array(), np.eye(d), atol=1e-8)
    circles, crosses, dots = [ln for ln in ax_c.get_lines() if ln.get_linestyle() == "None"]
    assert len(circles.get_xdata()) == 2 * d
    np.testing.assert_allclose(circles.get_ydata(), crosses.get_ydata(), rtol=1e-8)
    np.testing.assert_allclose(circles.get_ydata(), dots.get_ydata(), rtol=1e-6)
    assert caption in _rendered(fig)
