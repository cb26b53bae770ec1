"""Paper figures: theory (dashed) against experiment or integrated flows (solid), one function per figure.

Each figure function returns ``(fig, caption)``: a :class:`matplotlib.figure.Figure`
with the caption also printed under the plot, so that the PNG describes
itself (data, sizes, seeds, theory vs experiment, time convention).
:func:`make_all` writes every figure as PNG and PDF and keeps
``captions.md`` beside them up to date; ``python -m dynamics figures`` calls it.

Figures of Simon et al., *On the Stepwise Nature of SSL* (S):

* :func:`s_fig1_stepwise` — Fig 1 A–B (§4.4, S10, S16, S19–S21, Result 4.6)
* :func:`s_fig6_appendix_c` — Fig 6 (App. C, S45 vs S47–S48)
* :func:`s_fig8_symmetry_breaking` — Fig 8 A–D (App. F)
* :func:`s_fig1_2_deep_steps`, :func:`s_fig3_4_standard_init`, :func:`s_fig5_hidden_steps`,
  :func:`s_fig7_linear_probe`, :func:`s_tables_1_2` — §6 and App. D–E on a residual network
  (Figs 1 C–D, 2 C–F, 3–5, 7, Tables 1–2); ``make_all`` also writes the tables as ``s_tables_1_2.md``
"""

from __future__ import annotations

import contextlib
import pathlib

from ._barlow import s_fig1_stepwise, s_fig6_appendix_c, s_fig8_symmetry_breaking
from ._common import save_figure, update_captions
from ._contrastive import (
    a_fig1_lemma9,
    a_fig2_3_ntk_change,
    a_fig4_cv_and_pca,
    a_fig5_downstream,
    cross_paper_ntk_drift,
)
from ._deep import (
    s_fig1_2_deep_steps,
    s_fig3_4_standard_init,
    s_fig5_hidden_steps,
    s_fig7_linear_probe,
    s_tables_1_2,
    s_tables_1_2_markdown,
)
from ._speedup import s_app_g_speedup
from ._grassmann import e_fig1_half_moons, e_fig2_nonlinear_vs_linear, e_fig3_flow_vs_gd, e_fig4_cost_and_svm
from ._wide import f_alignment_vs_width, f_ntk_drift_vs_width, s_fig2_wide_stepwise, s_kernel_pca_special_case
from .. import experiments
from .._x64 import float64 as _float64

FIGURES = {
    "s_fig1_stepwise": s_fig1_stepwise,
    "s_fig6_appendix_c": s_fig6_appendix_c,
    "s_fig8_symmetry_breaking": s_fig8_symmetry_breaking,
    "s_fig2_wide_stepwise": s_fig2_wide_stepwise,
    "s_kernel_pca_special_case": s_kernel_pca_special_case,
    "f_ntk_drift_vs_width": f_ntk_drift_vs_width,
    "f_alignment_vs_width": f_alignment_vs_width,
    "e_fig1_half_moons": e_fig1_half_moons,
    "e_fig2_nonlinear_vs_linear": e_fig2_nonlinear_vs_linear,
    "e_fig3_flow_vs_gd": e_fig3_flow_vs_gd,
    "e_fig4_cost_and_svm": e_fig4_cost_and_svm,
    "a_fig1_lemma9": a_fig1_lemma9,
    "a_fig2_3_ntk_change": a_fig2_3_ntk_change,
    "a_fig4_cv_and_pca": a_fig4_cv_and_pca,
    "a_fig5_downstream": a_fig5_downstream,
    "cross_paper_ntk_drift": cross_paper_ntk_drift,
    "s_fig1_2_deep_steps": s_fig1_2_deep_steps,
    "s_fig3_4_standard_init": s_fig3_4_standard_init,
    "s_fig5_hidden_steps": s_fig5_hidden_steps,
    "s_fig7_linear_probe": s_fig7_linear_probe,
    "s_tables_1_2": s_tables_1_2,
    "s_app_g_speedup": s_app_g_speedup,
}
# Each figure computes in float64 (scoped: the caller's JAX configuration is left alone).
FIGURES = {name: _float64(fn) for name, fn in FIGURES.items()}
globals().update(FIGURES)
# Figures whose numbers are also written as a markdown file ``<name>.md`` by :func:`make_all`.
TABLES = {"s_tables_1_2": _float64(s_tables_1_2_markdown)}
s_tables_1_2_markdown = TABLES["s_tables_1_2"]


CACHE_FOLDER = ".cache"


def make_all(out="paper_figures", *, fast: bool = False, names=None, cache=True) -> list[pathlib.Path]:
    """Make the figures ``names`` (default: all) and write them into ``out``.

    Each figure is written as ``out/<name>.png`` (dpi 150) and ``out/<name>.pdf`` (and, for the names
    in ``TABLES``, its tables as ``out/<name>.md``);
    ``out/captions.md`` gets one section per figure (file names and caption),
    sections of figures not made this time are kept.  ``out`` is created if
    missing.  ``fast=True`` uses coarser time grids (every figure in seconds);
    the training run behind Fig 1 is the same in both modes (and cached).

    The width × seed runs behind the figures (:func:`dynamics.experiments.run_grid`) are stored
    point by point under ``out/.cache`` (``cache=True``, the default; a path stores them there
    instead; ``False`` keeps them in memory only): an interrupted run resumes where it stopped, and
    a second run reads the stored points instead of training again.  The stored points are keyed
    by their settings only — delete the folder after changing an experiment's code.

    Returns
    -------
    list of the paths written: PNG and PDF of each figure (and its tables file), then captions.md.

    Raises
    ------
    ValueError
        if a name is not a known figure (the message lists the known names).
    """
    if names is None:
        names = list(FIGURES)
    elif isinstance(names, str):
        names = [names]
    names = list(names)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure name(s): {', '.join(map(repr, unknown))}; "
                         f"known names: {', '.join(FIGURES)}")
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if cache is True:
        cache = out / CACHE_FOLDER
    if cache:
        cache = pathlib.Path(cache)
        cache.mkdir(parents=True, exist_ok=True)
        ignore = cache / ".gitignore"  # stored runs are not part of the figures
        if not ignore.exists():
            ignore.write_text("*\n", encoding="utf-8")
    paths, entries = [], {}
    with experiments.cache_dir(cache) if cache else contextlib.nullcontext():
        for name in names:
            fig, caption = FIGURES[name](fast=fast)
            files = save_figure(fig, name, out)
            if name in TABLES:
                table = out / f"{name}.md"
                table.write_text(TABLES[name](fast=fast), encoding="utf-8")
                files = [*files, table]
            entries[name] = (files, caption)
            paths.extend(files)
    paths.append(update_captions(out, entries, order=list(FIGURES)))
    return paths


__all__ = ["FIGURES", "TABLES", "a_fig1_lemma9", "a_fig2_3_ntk_change", "a_fig4_cv_and_pca", "a_fig5_downstream",
           "cross_paper_ntk_drift", "e_fig1_half_moons", "e_fig2_nonlinear_vs_linear", "e_fig3_flow_vs_gd", "e_fig4_cost_and_svm",
           "f_alignment_vs_width", "f_ntk_drift_vs_width", "make_all", "s_fig1_stepwise",
           "s_fig2_wide_stepwise", "s_fig6_appendix_c", "s_fig8_symmetry_breaking", "s_kernel_pca_special_case",
           "s_fig1_2_deep_steps", "s_fig3_4_standard_init", "s_fig5_hidden_steps", "s_fig7_linear_probe",
           "s_tables_1_2", "s_tables_1_2_markdown", "s_app_g_speedup",
           "save_figure", "update_captions"]
