"""Tests of dynamics.figures: files, captions, figure content and the CLI entry point."""

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from dynamics import barlow, figures

NAMES = ["s_fig1_stepwise", "s_fig6_appendix_c", "s_fig8_symmetry_breaking"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("figs") / "new_subdir"  # make_all creates missing folders
    return out, figures.make_all(out, fast=True, names=NAMES)


def test_make_all_writes_png_pdf_and_captions(made):
    out, paths = made
    assert set(NAMES) <= set(figures.FIGURES)
    for name in NAMES:
        for ext in ("png", "pdf"):
            p = out / f"{name}.{ext}"
            assert p in paths and p.stat().st_size > 10_000
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    captions = (out / "captions.md").read_text()
    assert out / "captions.md" in paths
    for name in NAMES:
        assert f"## {name}" in captions and f"{name}.png" in captions and f"{name}.pdf" in captions
    # sizes, seeds, theory vs experiment and the time convention are stated
    for needle in ("n = 500", "m = 49", "d = 10", "σ = 1e-6", "seed 0", "init seed 1", "lr = 0.002",
                   "d = 3, m = 5", "seed 3", "Solid", "dashed", "t = lr × step", "rescaled time", "4γ_j"):
        assert needle in captions, needle


def test_captions_md_is_updated_not_overwritten(made, tmp_path):
    out, _ = made
    target = tmp_path / "figs"
    target.mkdir()
    (target / "captions.md").write_text((out / "captions.md").read_text().replace("double well", "OLD TEXT"))
    paths = figures.make_all(target, fast=True, names=["s_fig8_symmetry_breaking"])
    text = (target / "captions.md").read_text()
    assert {p.name for p in paths} == {"s_fig8_symmetry_breaking.png", "s_fig8_symmetry_breaking.pdf",
                                       "captions.md"}
    assert "OLD TEXT" not in text and "double well" in text
    assert text.index("## s_fig1_stepwise") < text.index("## s_fig6_appendix_c") < text.index("## s_fig8")


def test_unknown_name_raises_listing_known_names(tmp_path):
    with pytest.raises(ValueError, match="s_fig1_stepwise") as info:
        figures.make_all(tmp_path, fast=True, names=["s_fig1_stepwise", "fig_nonexistent"])
    assert "fig_nonexistent" in str(info.value)
    assert not any(tmp_path.iterdir())  # nothing written before the check


def _lines(ax):
    return [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1]


def test_fig1_content():
    fig, caption = figures.s_fig1_stepwise(fast=True)
    assert isinstance(fig, Figure) and "σ = 1e-6" in caption
    ax_a, ax_b = fig.axes
    assert ax_a.get_xscale() == "log" and ax_b.get_xscale() == "log"
    assert len(_lines(ax_a)) >= 3  # experiment, theory, step function
    lines_b = _lines(ax_b)
    assert len(lines_b) >= 20  # 10 experiment + 10 theory
    assert sum(ln.get_linestyle() == "-" for ln in lines_b) >= 10
    assert sum(ln.get_linestyle() == "--" for ln in lines_b) >= 10
    assert caption in " ".join(t.get_text().replace("\n", " ") for t in fig.texts)  # rendered under the plot


def test_fig6_content():
    fig, caption = figures.s_fig6_appendix_c(fast=True)
    ax_a, ax_b = fig.axes
    assert len(_lines(ax_a)) >= 6  # 3 s_j: integrated + S47
    assert len(_lines(ax_b)) >= 21  # 9 entries j < k (integrated + S48) + 3 entries j > k
    assert ax_a.get_yscale() == "log" and ax_b.get_yscale() == "log"


def test_fig8_content():
    fig, caption = figures.s_fig8_symmetry_breaking(fast=True)
    ax_a, ax_b, ax_c, ax_d = fig.axes
    assert len(_lines(ax_a)) >= 1 and len(_lines(ax_b)) >= 1
    for ax in (ax_c, ax_d):  # 3 gammas x 2 signs: closed form lines + integrated markers
        lines = _lines(ax)
        assert sum(ln.get_linestyle() == "--" for ln in lines) == 6
        assert sum(ln.get_linestyle() == "None" and ln.get_marker() in ("o", "s") for ln in lines) == 6
    # plateau in C, none in D: at the first marker time after 0, |s̄| is still tiny but c̄ has grown
    marks_c = [ln for ln in _lines(ax_c) if ln.get_linestyle() == "None"]
    marks_d = [ln for ln in _lines(ax_d) if ln.get_linestyle() == "None"]
    assert max(abs(ln.get_ydata()[1]) for ln in marks_c) < 0.1
    assert min(ln.get_ydata()[1] for ln in marks_d) > 0.3
    # the integrated markers agree with the closed forms evaluated here at the marker times
    gammas = np.repeat(figures._barlow.FIG8_GAMMAS, 2)
    s0 = np.tile([1e-3, -1e-3], 3)
    for i, ln in enumerate(marks_c):
        t = np.asarray(ln.get_xdata())
        s = barlow.aligned_singular_values(t, gammas[i:i + 1], s0[i:i + 1] / np.sqrt(gammas[i]))
        sbar = np.sqrt(gammas[i]) * s
        np.testing.assert_allclose(ln.get_ydata(), sbar[:, 0], atol=1e-7)
    for i, ln in enumerate(marks_d):
        t = np.asarray(ln.get_xdata())
        np.testing.assert_allclose(ln.get_ydata(), 1 + (s0[i] - 1) * np.exp(-4 * gammas[i] * t), atol=1e-7)


def test_cli_figures(tmp_path):
    res = subprocess.run([sys.executable, "-m", "dynamics", "figures", "--fast", "--out", str(tmp_path),
                          "s_fig8_symmetry_breaking"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "s_fig8_symmetry_breaking.png").exists()
    assert (tmp_path / "s_fig8_symmetry_breaking.pdf").exists()
    assert str(tmp_path / "captions.md") in res.stdout
