"""Tests of the Esser et al. (E) figures (dynamics.figures._grassmann): files, captions and content.

make_all is run once (fast mode) with the figure functions wrapped so that the returned figures can be
inspected; plotted values are compared with values recomputed here from the grassmann API.
"""

import numpy as np
import pytest
from figure_helpers import assert_files_written, make_and_keep, plotted_lines

from dynamics import figures, grassmann
from dynamics.experiments.grassmann import digits_two_classes, half_moons

NAMES = ["e_fig1_half_moons", "e_fig2_nonlinear_vs_linear", "e_fig3_flow_vs_gd", "e_fig4_cost_and_svm"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return make_and_keep(tmp_path_factory.mktemp("grassmann_figs"), NAMES)


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
        fig, caption = figs[n]
        rendered = " ".join(t.get_text().replace("\n", " ") for t in fig.texts)
        assert caption.split()[:6] == rendered.split()[:6]  # caption printed under the plot
    for needle in ("n = 200", "h = 8", "seeds 200–209", "n = 100", "h = 16, 128, 1024", "n = 340", "z = 4",
                   "fast", "solid", "dashed", "t = lr × step"):
        assert needle in captions, needle


def test_fig1_content(made):
    fig, _ = made[2]["e_fig1_half_moons"]
    _, ax_b, ax_c = fig.axes[:3]
    assert len(_lines(ax_b, "solid")) == 10 and len(_lines(ax_b, "dashed")) == 10
    assert len(_lines(ax_c, "solid")) == 10 and len(_lines(ax_c, "dashed")) == 5
    # a dashed curve of (B) is the closed form of Prop 1, recomputed here
    X, Xp, Xn, _ = half_moons(200)
    C = grassmann.data_matrix(X, Xp, Xn)
    p = grassmann.init_network(2, 8, 1, seed=200)
    ln = _lines(ax_b, "dashed")[0]
    t = ln.get_xdata()
    expected = np.linalg.norm(grassmann.unconstrained_trajectory(C, np.asarray(grassmann.network_theta(p)), t[-1:]))
    np.testing.assert_allclose(ln.get_ydata()[-1], expected, rtol=1e-10)
    # experiment diverges by > 1e6, constrained ends on u1
    for s in _lines(ax_b, "solid"):
        assert s.get_ydata()[-1] / s.get_ydata()[0] > 1e6
    for s in _lines(ax_c, "solid"):
        assert s.get_ydata()[-1] < 1e-10


def test_fig2_content(made):
    fig, _ = made[2]["e_fig2_nonlinear_vs_linear"]
    ax_a, ax_b = fig.axes[:2]
    assert len(_lines(ax_a)) == 3 and len(_lines(ax_b)) == 3
    # recompute the tanh value at init, h = 16, from the API (the check's data and seeds)
    from sklearn.datasets import load_digits

    images = np.asarray(load_digits().images, dtype=np.float64)
    rng = np.random.default_rng(0)
    imgs = images[rng.permutation(len(images))[:100]] / 16.0
    X = imgs.reshape(100, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(100, -1)
    tanh, lin = grassmann.network_apply("tanh"), grassmann.network_apply("linear")
    vals = []
    for s in range(4):
        q = grassmann.init_network(16, 16, 2, seed=16000 + s)
        vals.append(np.mean(np.linalg.norm(np.asarray(tanh(q, X)) - np.asarray(lin(q, X)), axis=-1)))
    ln = _lines(ax_a)[0]
    assert ln.get_label().startswith("tanh")
    assert list(ln.get_xdata()) == [16, 128, 1024]
    np.testing.assert_allclose(ln.get_ydata()[0], np.mean(vals), rtol=1e-8)
    # legend slopes are the fits of the plotted values
    for line in _lines(ax_a) + _lines(ax_b):
        slope = np.polyfit(np.log(line.get_xdata()), np.log(line.get_ydata()), 1)[0]
        assert f"{slope:+.2f}" in line.get_label()


def test_fig3_content(made):
    fig, _ = made[2]["e_fig3_flow_vs_gd"]
    ax_a, ax_b = fig.axes[:2]
    assert len(_lines(ax_a, "solid")) == 2 and len(_lines(ax_a, "dashed")) == 1 and len(_lines(ax_b)) == 2
    X, Xp, Xn, _ = digits_two_classes()
    C = grassmann.data_matrix(X, Xp, Xn)
    lr = 0.1 / np.linalg.norm(C, 2)
    th, _ = grassmann.discretised_flow(C, grassmann.random_semi_orthogonal(64, 4, 0), lr=lr, n_steps=600)
    th = np.asarray(th)
    np.testing.assert_allclose(_lines(ax_a, "dashed")[0].get_ydata()[-1], np.trace(th.T @ C @ th), rtol=1e-10)
    for s in _lines(ax_a, "solid"):  # GD follows the flow
        np.testing.assert_allclose(s.get_ydata(), _lines(ax_a, "dashed")[0].get_ydata(), rtol=1e-3, atol=1e-3)
    for ln in _lines(ax_b):
        assert np.max(ln.get_ydata()) < 5e-2


def test_fig4_content(made):
    from sklearn.model_selection import cross_val_score
    from sklearn.svm import LinearSVC

    fig, _ = made[2]["e_fig4_cost_and_svm"]
    ax_a, ax_b = fig.axes[:2]
    gd, flow = _lines(ax_a, "solid")[0], _lines(ax_a, "dashed")[0]
    assert list(gd.get_xdata()) == [64, 512, 4096]
    assert gd.get_ydata()[-1] > 2 * gd.get_ydata()[0]
    assert np.ptp(flow.get_ydata()) == 0 and flow.get_ydata()[0] < gd.get_ydata()[0]
    bars = ax_b.patches
    assert len(bars) == 3
    X, _, _, y = digits_two_classes()
    raw = np.mean(cross_val_score(LinearSVC(C=1.0, max_iter=20000), X, y, cv=5))
    np.testing.assert_allclose(bars[2].get_height(), raw, rtol=1e-12)
    assert abs(bars[0].get_height() - bars[1].get_height()) <= 0.02
