"""Figures of Simon et al. §6 and App. D–E: stepwise learning of Barlow Twins, SimCLR and VICReg in deep networks.

J. B. Simon, M. Knutins, L. Ziyin, D. Geisz, A. J. Fetterman, J. Albrecht, "On the Stepwise Nature of
Self-Supervised Learning", ICML 2023 (arXiv:2303.15438), cited as S.

* :func:`s_fig1_2_deep_steps` — S Fig 1 C–D and Fig 2 C–F: loss and embedding eigenvalues vs t, small init;
* :func:`s_fig3_4_standard_init` — S Figs 3–4: standard init, eigenvalues in two bands, bimodal histograms;
* :func:`s_fig5_hidden_steps` — S Fig 5: hidden-representation eigenvalues with the embedding steps marked;
* :func:`s_fig7_linear_probe` — S Fig 7: linear-probe accuracy during training, small vs standard init;
* :func:`s_tables_1_2` — S Tables 1–2 as a figure, :func:`s_tables_1_2_markdown` as markdown (ours beside
  the paper's numbers).

Every figure reads the runs of :func:`dynamics.experiments.deep.deep_runs` (trained by
:func:`dynamics.ssl.train_ssl`; the settings of :func:`dynamics.experiments.deep.deep_setup` in the same
mode, shared with the registered checks) and takes every number of its caption from those runs.  The
eigenvalues are those of S App. D.4: of the symmetrised cross-correlation C for Barlow Twins, of the
centred covariance of the embeddings for SimCLR and VICReg, of the centred covariance of the hidden
representation in Fig 5.  Time is t = lr × step.  What differs from the paper (data, network, sizes; see
:mod:`dynamics.experiments.deep`) is stated in every caption from the settings (:func:`differs`).
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps

from ._common import EXPERIMENT, THEORY, add_caption, new_figure, panel_label

LOSS_NAMES = {"barlow_twins": "Barlow Twins", "simclr": "SimCLR", "vicreg": "VICReg"}
INIT_NAMES = {"small": "small init", "standard": "standard init"}
INIT_COLORS = {"small": "C0", "standard": "C3"}
#: Records whose eigenvalues are drawn as histograms in Fig 4 (fractions of the run).
HISTOGRAM_FRACTIONS = (0.0, 0.1, 0.3, 1.0)


def differs(setup: dict) -> str:
    """What differs from the paper, from the settings of :func:`dynamics.experiments.deep.deep_setup`."""
    if setup.get("network") == "mlp":
        net = (f"the one-hidden-layer ReLU MLP of S App. D.1 (width {setup.get('width', '?')}) on the flattened "
               "views (fast mode; the full runs train the residual network)")
    else:
        head = ("Linear-BN-ReLU-Linear head with batch statistics" if setup.get("head_norm")
                else "Linear-ReLU-Linear head")
        scope = ("α on the head's last layer only (what batch norm leaves of 'every weight × α')"
                 if setup.get("alpha_scope") == "last" else "α on every weight")
        net = (f"a small residual network (stages of {setup.get('widths', '?')} channels, no batch norm in the "
               f"backbone, global pooling, {head}), {scope}")
    steps = setup.get("n_steps", "?")
    if isinstance(steps, dict):
        steps = "/".join(str(v) for v in steps.values()) + " (per loss)"
    return (f"Differs from S (ResNet-18/50 with batch norm on STL-10, d = 50–512, hundreds of epochs on a GPU): "
            f"data {setup.get('data', '?')}; {net}; d = {setup.get('d', '?')}, batch {setup.get('batch_size', '?')}, "
            f"{steps} SGD steps on a CPU. Fewer directions to learn and other time scales; "
            "the steps themselves are what is compared.")

_FLOOR = 1e-30  # eigenvalues at or below 0 (round-off of a covariance) are drawn at this floor on log axes


def _deep():
    from ..experiments import deep  # imported on use: the figures module loads without the deep runs

    return deep


def _colors(k):
    return colormaps["viridis"](np.linspace(0.0, 0.9, max(k, 1)))


def _positive(a):
    return np.maximum(np.asarray(a, float), _FLOOR)


def band_threshold(eigenvalues) -> tuple[float, float, float]:
    """(lower, threshold, upper) of the band between the eigenvalues that have not grown and those that have
    (S Figs 3–4): the widest gap between consecutive sorted log-eigenvalues at the last record, the threshold
    at its geometric middle.  ``eigenvalues`` (T, d)."""
    final = np.sort(np.log10(_positive(np.asarray(eigenvalues, float)[-1])))
    if final.size < 2:
        raise ValueError("eigenvalues must have at least two columns to split into bands")
    k = int(np.argmax(np.diff(final)))
    lo, hi = final[k], final[k + 1]
    return float(10.0**lo), float(10.0 ** ((lo + hi) / 2)), float(10.0**hi)


def _fmt(x, digits=3):
    return f"{float(x):.{digits}g}"


def _settings(setup: dict) -> str:
    """The settings of :func:`dynamics.experiments.deep.deep_setup`, as ``key = value`` pairs."""
    def show(v):
        if isinstance(v, float):
            return f"{v:g}"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k}: {show(x)}" for k, x in v.items()) + "}"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(show(x) for x in v) + "]"
        return str(v)

    return "; ".join(f"{k} = {show(v)}" for k, v in setup.items() if not callable(v))


def _finish(fig, caption: str, setup: dict, fast: bool):
    """Complete a figure's caption with its settings, what differs from the paper (:func:`differs`) and the mode,
    attach it to ``fig`` and return (fig, caption): the common ending of every figure of this module."""
    caption = (caption.rstrip() + f" Settings: {_settings(setup)}. {differs(setup)}"
               + (" Fast mode: the fast settings of the registered checks." if fast else ""))
    add_caption(fig, caption)
    return fig, caption


def _run_settings(run) -> str:
    """Data, network, optimiser and sizes of one run from its recorded config."""
    c = run.config
    imgs = c.get("images", {}).get("shape", "?")
    return (f"images {imgs}, views {c.get('view_shape', '?')}, {c.get('optimizer', '?')} at lr {c.get('lr', '?')}, "
            f"batch {c.get('batch_size', '?')}, {c.get('n_steps', '?')} steps, d = {c.get('embedding_dim', '?')}")


def _log_time_axis(ax, t):
    """A time axis logarithmic from the first positive record on (linear below it, so t = 0 is drawn): the
    steps of a small-init run come at times spread over orders of magnitude (S Result 4.6: t_j ∝ log(1/α)/γ_j)."""
    t = np.asarray(t, float)
    pos = t[t > 0]
    if pos.size:
        ax.set_xscale("symlog", linthresh=float(pos.min()))
        ax.set_xlim(0.0, float(t.max()))


def _losses(runs):
    return [k for k in LOSS_NAMES if any(key[0] == k for key in runs)]


def _score(t, eigenvalues):
    return float(_deep().stepwise_score(np.asarray(t), np.asarray(eigenvalues)))


def _step_times(t, eigenvalues):
    """:func:`dynamics.experiments.deep.step_times`: when each eigenvalue that starts below LOW × its plateau
    level first reaches half of it (ascending)."""
    return np.asarray(_deep().step_times(np.asarray(t), np.asarray(eigenvalues)), float)


# ---------------------------------------------------------------------------- S Fig 1 C–D, Fig 2 C–F


def plot_deep_steps(runs: dict, setup: dict, *, fast: bool = False, scores=None):
    """The plot of :func:`s_fig1_2_deep_steps` from ``runs`` {(loss, init): SSLRun}; ``scores`` {(loss, init):
    stepwise score} (default :func:`dynamics.experiments.deep.stepwise_score` of each run)."""
    losses = _losses(runs)
    if scores is None:
        scores = {key: _score(r.t, r.eigenvalues) for key, r in runs.items()}
    fig = new_figure(4.3 * len(losses), 7.0)
    axes = np.asarray(fig.subplots(2, len(losses), squeeze=False))
    parts = []
    for i, loss in enumerate(losses):
        r = runs[loss, "small"]
        ax_l, ax_e = axes[0, i], axes[1, i]
        ax_l.plot(r.t, r.loss, color="k", **EXPERIMENT)
        ax_l.set_xlabel("t = lr × step")
        _log_time_axis(ax_l, r.t)
        ax_l.set_ylabel("loss")
        ax_l.set_title(f"{LOSS_NAMES[loss]}, small init", fontsize=10)
        panel_label(ax_l, chr(ord("A") + 2 * i))
        lam = _positive(r.eigenvalues)
        steps = _step_times(r.t, r.eigenvalues)
        for j, c in enumerate(_colors(lam.shape[1])):
            ax_e.semilogy(r.t, lam[:, j], color=c, **EXPERIMENT)
        for ts in steps:
            ax_l.axvline(ts, color="0.6", linestyle=":", linewidth=1.0)
            ax_e.axvline(ts, color="0.6", linestyle=":", linewidth=1.0)
        ax_e.set_xlabel("t = lr × step")
        _log_time_axis(ax_e, r.t)
        ax_e.set_ylabel("eigenvalues of C" if loss == "barlow_twins" else "eigenvalues of the covariance")
        panel_label(ax_e, chr(ord("A") + 2 * i + 1))
        std = scores.get((loss, "standard"))
        parts.append(
            f"{LOSS_NAMES[loss]} ({_run_settings(r)}): loss {_fmt(r.loss[0])} → {_fmt(r.loss[-1])}, "
            f"{steps.size} of {lam.shape[1]} eigenvalues grew from below {_deep().LOW:g} × their plateau level, "
            f"step times {[float(_fmt(x)) for x in steps]}; stepwise score {_fmt(scores[loss, 'small'])} "
            f"(small init)" + ("" if std is None else f" vs {_fmt(std)} (standard init)"))
    caption = (
        "S Fig 1 C–D, Fig 2 C–F: loss (top) and embedding eigenvalues (bottom; S App. D.4: of C for Barlow Twins, "
        "of the centred covariance for SimCLR and VICReg, on fixed evaluation views) vs t = lr × step (logarithmic "
        "from the first record on, linear below it; the paper's axis is linear) from small "
        "init, trained by dynamics.ssl.train_ssl (experiment, solid; no theory curve, so nothing is dashed); dotted "
        "verticals: the step time of each eigenvalue that grew (dynamics.experiments.deep.step_times: when it "
        "first reaches half of its plateau level, the largest running median over 5 records). Stepwise score "
        "(dynamics.experiments.deep.stepwise_score): the fraction of eigenvalues taking a step separated from their "
        "neighbours' by plateaus. "
        + " ".join(p + "." for p in parts))
    return _finish(fig, caption, setup, fast)


def s_fig1_2_deep_steps(*, fast: bool = False):
    """S Fig 1 C–D and Fig 2 C–F: loss and embedding eigenvalues vs t for Barlow Twins, SimCLR and VICReg on the
    residual network from small init (:func:`dynamics.experiments.deep.deep_runs`).

    Returns (matplotlib.figure.Figure, caption: str)."""
    deep = _deep()
    return plot_deep_steps(deep.deep_runs(fast), deep.deep_setup(fast), fast=fast)


# ---------------------------------------------------------------------------- S Figs 3–4


def _histogram_records(t):
    n = len(t)
    return sorted({min(n - 1, int(round(f * (n - 1)))) for f in HISTOGRAM_FRACTIONS})


def plot_standard_init(runs: dict, setup: dict, *, fast: bool = False):
    """The plot of :func:`s_fig3_4_standard_init` from ``runs`` {(loss, init): SSLRun}."""
    losses = _losses(runs)
    recs = None
    fig = new_figure(4.3 * len(losses), 7.5)
    axes = np.asarray(fig.subplots(2, len(losses), squeeze=False))
    parts = []
    for i, loss in enumerate(losses):
        r = runs[loss, "standard"]
        lam = _positive(r.eigenvalues)
        lo, thr, hi = band_threshold(lam)
        ax, ax_h = axes[0, i], axes[1, i]
        for j, c in enumerate(_colors(lam.shape[1])):
            ax.semilogy(r.t, lam[:, j], color=c, **EXPERIMENT)
        ax.axhline(thr, color="k", **THEORY)
        ax.set_xlabel("t = lr × step")
        ax.set_ylabel("embedding eigenvalues")
        ax.set_title(f"{LOSS_NAMES[loss]}, standard init", fontsize=10)
        panel_label(ax, chr(ord("A") + i))
        recs = _histogram_records(r.t)
        logs = np.log10(lam)
        bins = np.linspace(logs.min(), logs.max(), 25)
        above = []
        for k, c in zip(recs, colormaps["magma"](np.linspace(0.15, 0.8, len(recs)))):
            ax_h.hist(logs[k], bins=bins, histtype="step", color=c, linewidth=1.8, label=f"t = {r.t[k]:.3g}")
            above.append(int(np.sum(lam[k] > thr)))
        ax_h.axvline(np.log10(thr), color="k", **THEORY)
        ax_h.set_xlabel(r"$\log_{10}$ eigenvalue")
        ax_h.set_ylabel("count")
        ax_h.legend(fontsize=7)
        panel_label(ax_h, chr(ord("A") + len(losses) + i))
        parts.append(
            f"{LOSS_NAMES[loss]} ({_run_settings(r)}): threshold {_fmt(thr)} in the band ({_fmt(lo)}, {_fmt(hi)}) at "
            f"the end; eigenvalues above it at t = {[float(_fmt(r.t[k])) for k in recs]}: {above} of {lam.shape[1]}")
    caption = (
        "S Figs 3–4: standard init. Top: embedding eigenvalues vs t = lr × step (solid, S App. D.4); dashed: the "
        "threshold between the band of eigenvalues that have not grown and those that have, at the geometric "
        "middle of the widest gap between sorted log-eigenvalues at the end of training (read from the run, not "
        "the paper's hand-drawn thresholds). Bottom: histograms of log10 eigenvalues at a few times, the same "
        "threshold dashed. " + " ".join(p + "." for p in parts))
    return _finish(fig, caption, setup, fast)


def s_fig3_4_standard_init(*, fast: bool = False):
    """S Figs 3–4: standard init — embedding eigenvalues in two bands over time, and bimodal histograms of the
    log-eigenvalues at a few times, for the three losses.

    Returns (matplotlib.figure.Figure, caption: str)."""
    deep = _deep()
    return plot_standard_init(deep.deep_runs(fast), deep.deep_setup(fast), fast=fast)


# ---------------------------------------------------------------------------- S Fig 5


def plot_hidden_steps(runs: dict, setup: dict, *, fast: bool = False, n_hidden=None):
    """The plot of :func:`s_fig5_hidden_steps` from ``runs``; ``n_hidden`` top hidden eigenvalues drawn
    (default 2 d)."""
    losses = _losses(runs)
    fig = new_figure(4.3 * len(losses), 7.0)
    axes = np.asarray(fig.subplots(2, len(losses), squeeze=False))
    parts = []
    for i, loss in enumerate(losses):
        r = runs[loss, "small"]
        if r.hidden_eigenvalues is None:
            raise ValueError(f"the {loss} small-init run has no hidden eigenvalues (record_hidden=False)")
        lam = _positive(r.eigenvalues)
        k = n_hidden or 2 * lam.shape[1]
        hid = _positive(r.hidden_eigenvalues[:, :k])
        mismatch, e, h = _deep().step_time_mismatch(r.t, r.eigenvalues, r.hidden_eigenvalues)
        ax_e, ax_h = axes[0, i], axes[1, i]
        for j, c in enumerate(_colors(lam.shape[1])):
            ax_e.semilogy(r.t, lam[:, j], color=c, **EXPERIMENT)
        for j, c in enumerate(_colors(hid.shape[1])):
            ax_h.semilogy(r.t, hid[:, j], color=c, **EXPERIMENT)
        for ts in e:
            ax_e.axvline(ts, color="0.5", linestyle=":", linewidth=1.0)
            ax_h.axvline(ts, color="0.5", linestyle=":", linewidth=1.0)
        ax_e.set_title(f"{LOSS_NAMES[loss]}, small init", fontsize=10)
        ax_e.set_ylabel("embedding eigenvalues")
        ax_h.set_ylabel(f"hidden eigenvalues (top {hid.shape[1]})")
        for ax in (ax_e, ax_h):
            ax.set_xlabel("t = lr × step")
            _log_time_axis(ax, r.t)
        panel_label(ax_e, chr(ord("A") + 2 * i))
        panel_label(ax_h, chr(ord("A") + 2 * i + 1))
        nearest = [float(_fmt(h[np.argmin(np.abs(np.log(h) - np.log(x)))])) for x in e] if h.size else []
        parts.append(f"{LOSS_NAMES[loss]}: embedding step times {[float(_fmt(x)) for x in e]}, nearest step times "
                     f"of the top {lam.shape[1]} hidden eigenvalues {nearest}, largest distance "
                     f"|log t_e − log t_h| = {_fmt(mismatch)}")
    caption = (
        "S Fig 5: eigenvalues of the embeddings (top) and of the hidden representation before the projection head "
        "(bottom; centred covariance, S App. D.4) vs t = lr × step (logarithmic from the first record on) from "
        "small init (solid; no theory curve, so "
        "nothing is dashed); dotted verticals in both rows: the embedding step times "
        "(dynamics.experiments.deep.step_times; the hidden ones of the top d hidden eigenvalues that rise by a "
        f"factor of {_deep().HIDDEN_MIN_GROWTH:g} or more, matched in log time by "
        "dynamics.experiments.deep.step_time_mismatch). " + " ".join(p + "." for p in parts))
    return _finish(fig, caption, setup, fast)


def s_fig5_hidden_steps(*, fast: bool = False):
    """S Fig 5: the hidden representation's spectrum vs t with the embedding step times marked, small init.

    Returns (matplotlib.figure.Figure, caption: str)."""
    deep = _deep()
    return plot_hidden_steps(deep.deep_runs(fast), deep.deep_setup(fast), fast=fast)


# ---------------------------------------------------------------------------- S Fig 7


def plot_linear_probe(runs: dict, setup: dict, *, fast: bool = False):
    """The plot of :func:`s_fig7_linear_probe` from ``runs``."""
    losses = _losses(runs)
    fig = new_figure(4.3 * len(losses), 3.8)
    axes = np.atleast_1d(fig.subplots(1, len(losses)))
    parts = []
    for i, (loss, ax) in enumerate(zip(losses, axes)):
        finals = []
        for init in INIT_NAMES:
            r = runs.get((loss, init))
            if r is None or len(r.probe_t) == 0:
                continue
            ax.plot(r.probe_t, r.probe_accuracy, "o", color=INIT_COLORS[init], linestyle="-",
                    linewidth=EXPERIMENT["linewidth"], alpha=0.8, label=INIT_NAMES[init])
            finals.append(f"{INIT_NAMES[init]} {_fmt(r.probe_accuracy[0])} → {_fmt(r.probe_accuracy[-1])} "
                          f"(t = {_fmt(r.probe_t[-1])})")
        ax.set_xlabel("t = lr × step")
        ax.set_ylabel("linear-probe accuracy")
        ax.set_title(LOSS_NAMES[loss], fontsize=10)
        ax.legend(fontsize=7)
        panel_label(ax, chr(ord("A") + i))
        parts.append(f"{LOSS_NAMES[loss]}: " + ", ".join(finals))
    caption = (
        "S Fig 7: held-out accuracy of a linear probe (one-vs-all ridge regression on the standardised hidden "
        "representation, dynamics.ssl.linear_probe) during training vs t = lr × step, small init vs standard init "
        "(experiment, solid; no theory curve, so nothing is dashed). " + "; ".join(parts) + ".")
    return _finish(fig, caption, setup, fast)


def s_fig7_linear_probe(*, fast: bool = False):
    """S Fig 7: linear-probe accuracy through training, small vs standard init, for the three losses.

    Returns (matplotlib.figure.Figure, caption: str)."""
    deep = _deep()
    return plot_linear_probe(deep.deep_runs(fast), deep.deep_setup(fast), fast=fast)


# ---------------------------------------------------------------------------- S Tables 1–2

TABLE1_ROWS = {"a_exp_th": r"$a(P_{exp}, P_{th})$ (S49)", "a_exp_ntk": r"$a(P_{exp}, P_{NTK})$"}


def _pair_name(pair):
    return " / ".join(LOSS_NAMES.get(p, str(p)) for p in pair)


def plot_tables(tables: dict, setup: dict, *, paper1=None, paper2=None, fast: bool = False):
    """The plot of :func:`s_tables_1_2` from ``tables`` (:func:`dynamics.experiments.deep.alignment_tables`),
    with the paper's numbers ``paper1`` {loss: {"a_exp_th", "a_exp_ntk", "chance"}} and ``paper2`` {pair: a}
    beside ours when given."""
    t1, t2 = tables["table1"], tables["table2"]
    losses = [k for k in LOSS_NAMES if k in t1] + [k for k in t1 if k not in LOSS_NAMES]
    fig = new_figure(11.0, 4.2)
    ax_a, ax_b = fig.subplots(1, 2)
    width = 0.2
    x = np.arange(len(losses))
    for k, (row, label) in enumerate(TABLE1_ROWS.items()):
        ours = [float(t1[loss][row]) for loss in losses]
        ax_a.bar(x + (2 * k - 1.5) * width, ours, width, color=f"C{k}", alpha=0.85, label=f"{label}, ours")
        if paper1:
            theirs = [float(paper1[loss][row]) if loss in paper1 else np.nan for loss in losses]
            ax_a.bar(x + (2 * k - 0.5) * width, theirs, width, color=f"C{k}", alpha=0.3, hatch="//",
                     label=f"{label}, S Table 1")
    chance = [float(t1[loss]["chance"]) for loss in losses]
    ax_a.hlines(chance, x - 2 * width, x + 2 * width, color="k", **THEORY, label="chance d/(2n), ours")
    ax_a.set_xticks(x, [LOSS_NAMES.get(k, k) for k in losses])
    ax_a.set_ylabel("subspace alignment a")
    ax_a.set_ylim(0, 1)
    ax_a.legend(fontsize=6)
    ax_a.set_title("Table 1: embeddings vs the eNTK after training", fontsize=9)
    panel_label(ax_a, "A")

    pairs = list(t2)
    xb = np.arange(len(pairs))
    ax_b.bar(xb - width / 2, [float(t2[p]) for p in pairs], width, color="C2", alpha=0.85, label="ours")
    if paper2:
        ax_b.bar(xb + width / 2, [float(paper2[p]) if p in paper2 else np.nan for p in pairs], width, color="C2",
                 alpha=0.3, hatch="//", label="S Table 2")
    ax_b.axhline(float(np.mean(chance)), color="k", **THEORY, label="chance d/(2n), ours")
    ax_b.set_xticks(xb, [_pair_name(p) for p in pairs], fontsize=7)
    ax_b.set_ylabel("subspace alignment a")
    ax_b.set_ylim(0, 1)
    ax_b.legend(fontsize=6)
    ax_b.set_title("Table 2: between the methods", fontsize=9)
    panel_label(ax_b, "B")
    rows = "; ".join(f"{LOSS_NAMES.get(k, k)}: a(P_exp, P_th) {_fmt(t1[k]['a_exp_th'])}, a(P_exp, P_NTK) "
                     f"{_fmt(t1[k]['a_exp_ntk'])}, chance {_fmt(t1[k]['chance'])}" for k in losses)
    pair_txt = "; ".join(f"{_pair_name(p)} {_fmt(t2[p])}" for p in pairs)
    caption = (
        "S Tables 1–2 (App. E): subspace alignment a(P, P') = ‖P P'ᵀ‖_F²/d of the embeddings' right singular "
        "vectors P_exp on 2n augmented inputs with P_th from the scalar eNTK K̃ of the trained network "
        "(S App. D.5; f_th of S49) and with P_NTK, the top-d eigenvectors of K̃; dashed: the chance level d/(2n). "
        f"Ours (solid bars): {rows}. Between the methods (B): {pair_txt}. Hatched: the paper's numbers (ResNet-50 "
        "on STL-10, n = 1000 pairs, d = 50, from moderately small init). t = lr × step as in the other figures; "
        "the tables are also written to s_tables_1_2.md.")
    return _finish(fig, caption, setup, fast)


def s_tables_1_2(*, fast: bool = False):
    """S Tables 1–2 as a figure: a(P_exp, P_th) (S49), a(P_exp, P_NTK) and chance for the three methods, and the
    alignment between the methods, ours beside the paper's (:func:`dynamics.experiments.deep.alignment_tables`).
    :func:`s_tables_1_2_markdown` prints the same tables as the paper does.

    Returns (matplotlib.figure.Figure, caption: str)."""
    deep = _deep()
    return plot_tables(deep.alignment_tables(fast), deep.deep_setup(fast), paper1=getattr(deep, "PAPER_TABLE1", None),
                       paper2=getattr(deep, "PAPER_TABLE2", None), fast=fast)


def s_tables_1_2_markdown(*, fast: bool = False) -> str:
    """S Tables 1–2 as markdown, ours beside the paper's numbers (``dynamics.experiments.deep.format_table1`` and
    ``format_table2`` of :func:`dynamics.experiments.deep.alignment_tables`); ``make_all`` writes it to
    ``s_tables_1_2.md``."""
    deep = _deep()
    tables, setup = deep.alignment_tables(fast), deep.deep_setup(fast)
    return ("# S Tables 1–2: embeddings predicted from the eNTK after training\n\n"
            "Generated by `python -m dynamics figures` (`dynamics.figures.make_all`) from "
            "`dynamics.experiments.deep.alignment_tables`" + (" in fast mode" if fast else "") + ", with the paper's "
            "numbers (Simon et al. 2023, Tables 1–2: ResNet-50 on STL-10, n = 1000 pairs, d = 50) beside ours.\n\n"
            f"Settings: {_settings(setup)}.\n\n{differs(setup)}\n\n"
            "## Table 1\n\n" + deep.format_table1(tables).strip() + "\n\n"
            "## Table 2\n\n" + deep.format_table2(tables).strip() + "\n")


__all__ = ["s_fig1_2_deep_steps", "s_fig3_4_standard_init", "s_fig5_hidden_steps", "s_fig7_linear_probe",
           "s_tables_1_2", "s_tables_1_2_markdown", "plot_deep_steps", "plot_tables", "plot_standard_init", "plot_hidden_steps", "plot_linear_probe",
           "band_threshold", "differs"]
