"""Figures of Anil, Esser, Ghoshdastidar (A): wide contrastive networks, NTK under dot product vs cosine, PCA.

G. G. Anil, P. Esser, D. Ghoshdastidar, "When can we Approximate Wide Contrastive Models with Neural
Tangent Kernels and Principal Component Analysis?" (2024).  Every figure stands on the setups and
cached runs of :mod:`dynamics.experiments.contrastive` (the data, sizes, seeds, learning rates and
fast/full sweeps that the checks of :mod:`dynamics.theorems.contrastive_checks` use), so a figure shows
what ``verify`` gates; the gates drawn are the checks' public constants or registry tolerances.
Theory (frozen-NTK flow, reference rates, chance level) dashed, trainer (experiment) solid; t = lr × step.
``cross_paper_ntk_drift`` compares six losses on one network over time via
:func:`dynamics.contrastive.ntk_drift_by_loss`.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps

from .. import contrastive
from ..experiments import contrastive as ex
from ..linalg import loglog_fit
from ..theorems import contrastive_checks as cc
from ..theorems import get_check
from ._common import (
    EXPERIMENT,
    THEORY,
    add_caption,
    new_figure,
    panel_label,
    style_handles,
)

_DASH = THEORY["linestyle"]


def _colors(k):
    return colormaps["viridis"](np.linspace(0.0, 0.85, k))


def _style_legend(ax, exp_label, theory_label, loc="best"):
    handles = style_handles([(exp_label, {**EXPERIMENT, "color": "0.3"}),
                             (theory_label, {**THEORY, "color": "0.3"})])
    return ax.legend(handles=handles, fontsize=7, loc=loc)


# ---------------------------------------------------------------------------- Fig 1: Lemma 9

def lemma9_runs(fast: bool = False) -> dict:
    """GD outputs vs the frozen-NTK flow (Lemma 9) for one width, and the difference sweep of the check."""
    widths, seeds = ([64, 256, 1024], (0,)) if fast else ([64, 256, 1024, 4096, 16384], (0, 1, 2))
    M_show = 256 if fast else 4096
    traj = ex.lemma9_trajectory(M_show)
    runs = ex.lemma9_differences(widths, seeds)
    diffs = [float(np.mean([runs[M, s] for s in seeds])) for M in widths]
    return {"widths": widths, "seeds": seeds, "M_show": M_show, "t": traj["t"], "F_gd": traj["F_gd"],
            "F_ntk": traj["F_ntk"], "diffs": np.array(diffs), "n": ex.LEMMA9_N, "n_inputs": traj["n_inputs"]}


def a_fig1_lemma9(*, fast: bool = False):
    """A Fig 1 / Lemma 9: the network trained by GD (solid) vs Lemma 9's dynamics with the NTK frozen at
    init (dashed), cosine similarity; (B) max fractional difference at T = 5 vs width (the check
    ``a_lemma9_ntk_dynamics``).

    Returns (matplotlib.figure.Figure, caption: str)."""
    r = lemma9_runs(fast)
    fig = new_figure(11.0, 4.0)
    ax_a, ax_b = fig.subplots(1, 2)
    # outputs z = 0..3, each on the input where it moves most
    move = np.abs(r["F_gd"][-1] - r["F_gd"][0])
    idx = [(int(np.argmax(move[:, z])), z) for z in range(4)]
    cols = _colors(len(idx))
    for c, (i, z) in zip(cols, idx):
        ax_a.plot(r["t"], r["F_gd"][:, i, z], color=c, **EXPERIMENT, label=f"input {i}, output {z}")
        ax_a.plot(r["t"], r["F_ntk"][:, i, z], color=c, **THEORY)
    ax_a.set_xlabel("t = lr × step")
    ax_a.set_ylabel(r"$f_z(x)$")
    ax_a.set_title(f"outputs, M = {r['M_show']}", fontsize=10)
    leg = ax_a.legend(fontsize=7, loc="upper left")
    ax_a.add_artist(leg)
    _style_legend(ax_a, "GD (experiment)", "Lemma 9, frozen NTK(0)", loc="lower left")
    panel_label(ax_a, "A")

    w, dif = np.array(r["widths"], float), r["diffs"]
    s, b = loglog_fit(w, dif)
    ax_b.loglog(w, dif, "o", color="C0", linestyle="-", linewidth=EXPERIMENT["linewidth"], alpha=0.8,
                label="GD vs Lemma 9 at T = 5")
    ax_b.loglog(w, np.exp(b) * w**s, color="k", **THEORY, label=f"fit: slope {s:.2f}")
    ax_b.set_xlabel("width M")
    ax_b.set_ylabel(r"$\max|F_{GD}-F_{NTK}| / \max|F_{GD}|$")
    ax_b.legend(fontsize=7)
    panel_label(ax_b, "B")
    caption = (
        f"A Fig 1 / Lemma 9 (check a_lemma9_ntk_dynamics). Data: {r['n']} 8×8-digit anchors (6×6 random crops) with "
        f"one positive and one negative each ({r['n_inputs']} inputs); two-layer ReLU network, NTK parametrisation, "
        f"Z = 10, cosine similarity (δ = 0.01), linear l; GD at lr {ex.LEMMA9_LR} for {ex.LEMMA9_STEPS} steps, "
        f"t = lr × step. (A) M = {r['M_show']}, seed 0: outputs z = 0–3, each on the input where it moves most, GD (solid) vs "
        "Lemma 9's ODE dF/dt = −K(0)∇_F L with the full empirical NTK frozen at init (dashed). (B) max fractional "
        f"output difference at T = 5 vs width M ∈ {r['widths']}, seeds {list(r['seeds'])}; dashed: log–log fit "
        f"(slope {s:.2f}; the check, on 4 widths and 2 seeds in fast mode, passes if the difference decreases "
        f"with width and the slopes fitted with each width left out lie in [{cc.LEMMA9_SLOPE_WINDOW[0]:g}, "
        f"{cc.LEMMA9_SLOPE_WINDOW[1]:g}])."
        + (" Fast mode: fewer widths and seeds than the full check." if fast else ""))
    add_caption(fig, caption)
    return fig, caption


# ---------------------------------------------------------------------------- Figs 2–3: NTK change


def ntk_change_runs(fast: bool = False) -> dict:
    """Cosine and dot-product NTK change runs of the checks a_dot_product_ntk_diverges / a_theorem13_cosine_ntk."""
    widths, seeds, n = ex.ntk_widths(fast)
    if fast:
        widths = widths[:3]  # the check's fast sweep without its largest width (time)
    cos_t, cos_ch, dot_over, dot_curves = None, [], [], {}
    cos_runs = ex.ntk_change_runs(widths, seeds, "cosine", n)
    dot_runs = ex.ntk_change_runs(widths, (0,), "dot", n)
    for M in widths:
        hs = [cos_runs[M, s] for s in seeds]
        cos_t = hs[0][0]
        cos_ch.append(np.mean([h[1] for h in hs], axis=0))
        dot_over.append(dot_runs[M, 0][3])
    dot_widths = [widths[0]] if fast else widths[::2]
    for M in dot_widths:
        t_o = dot_over[widths.index(M)]
        if np.isfinite(t_o):
            dot_curves[M] = ex.dot_ntk_replay(M, n)
    return {"widths": widths, "seeds": seeds, "n": n, "cos_t": cos_t, "cos_change": np.array(cos_ch),
            "dot_overflow": dot_over, "dot_curves": dot_curves}


def a_fig2_3_ntk_change(*, fast: bool = False):
    """A Figs 2–3: max NTK change along GD; dot product diverges (Prop 10), cosine stays small and falls with
    width (Thm 13).

    Returns (matplotlib.figure.Figure, caption: str)."""
    r = ntk_change_runs(fast)
    widths = r["widths"]
    cols = dict(zip(widths, _colors(len(widths))))
    fig = new_figure(14.0, 4.0)
    ax_a, ax_b, ax_c = fig.subplots(1, 3)
    for M, (t, ch) in r["dot_curves"].items():
        ax_a.semilogy(t, ch, color=cols[M], **EXPERIMENT, label=f"dot, M = {M}")
        ax_a.axvline(r["dot_overflow"][widths.index(M)], color=cols[M], linestyle=":", linewidth=1.2)
    for M, ch in zip(widths, r["cos_change"]):
        ax_a.semilogy(r["cos_t"][1:], ch[1:], color=cols[M], marker=".", **EXPERIMENT)
    ax_a.set_xlabel("t = lr × step")
    ax_a.set_ylabel(r"$\max|K(t)-K(0)|$")
    ax_a.set_title("dot product (to overflow, dotted) vs cosine (dots)", fontsize=9)
    ax_a.legend(fontsize=7)
    panel_label(ax_a, "A")

    for M, ch in zip(widths, r["cos_change"]):
        ax_b.plot(r["cos_t"], ch, color=cols[M], marker=".", **EXPERIMENT, label=f"cosine, M = {M}")
    ax_b.set_xlabel("t = lr × step")
    ax_b.set_ylabel(r"$\max|K(t)-K(0)|$")
    ax_b.set_title("cosine similarity", fontsize=9)
    ax_b.legend(fontsize=7)
    panel_label(ax_b, "B")

    w = np.array(widths, float)
    final = r["cos_change"][:, -1]
    s, _b = loglog_fit(w, final)
    ax_c.loglog(w, final, "o-", color="C0", linewidth=EXPERIMENT["linewidth"], alpha=0.8,
                label=f"cosine, T = {ex.NTK_T:g} (fit slope {s:.2f})")
    ax_c.loglog(w, final[0] * (w / w[0]) ** -0.5, color="k", **THEORY, label=r"$\propto M^{-1/2}$ (Thm 13 rate)")
    ax_c.set_xlabel("width M")
    ax_c.set_ylabel(r"$\max|K(T)-K(0)|$")
    ax_c.legend(fontsize=7)
    panel_label(ax_c, "C")
    caption = (
        f"A Figs 2–3, Prop 10, Thm 13 (checks a_dot_product_ntk_diverges, a_theorem13_cosine_ntk). Data: {r['n']} "
        "digit triplets (anchor, positive, negative crops); two-layer ReLU network, NTK parametrisation, Z = 10, "
        f"linear l; GD at lr {ex.NTK_LR}, t = lr × step; NTK: full (30, 30, 10, 10) empirical NTK on 30 fixed "
        f"inputs; widths {widths}, seeds {list(r['seeds'])}. (A) dot product (solid lines, widths "
        f"{list(r['dot_curves'])}, replayed to the last step before the weights overflow float64, dotted verticals "
        f"at the overflow times {[round(float(x), 1) for x in r['dot_overflow']]}) vs cosine (δ = 0.01, dots) "
        f"to T = {ex.NTK_T:g}. (B) cosine runs, linear axes. (C) cosine change at T = {ex.NTK_T:g} "
        f"({int(ex.NTK_T / ex.NTK_LR)} steps) vs width: fitted slope {s:.2f} (check passes if <= "
        f"{get_check('a_theorem13_cosine_ntk').tolerance_for(fast):g}); "
        "dashed: M^{-1/2} reference."
        + (" Fast mode: the check's fast sweep without its largest width, one dot-product replay." if fast else ""))
    add_caption(fig, caption)
    return fig, caption


# ---------------------------------------------------------------------------- Fig 4: C_V and PCA


def cv_runs(fast: bool = False) -> dict:
    """Grassmannian runs of the checks a_lemma16_cv_drift and a_lemma17_pca_stability."""
    widths, seeds, n_steps, n = ex.grass_setup(fast)
    if fast:
        widths = widths[:3]  # the check's fast sweep without its largest width (time)
    dC, relC, relW, t = [], [], [], None
    drifts = ex.cv_drifts(widths, seeds, n_steps, n)
    pca = ex.pca_representation_differences(widths, seeds, n_steps, n)
    for M in widths:
        hs = [drifts[M, s] for s in seeds]
        t = hs[0]["t"]
        dC.append(np.mean([h["cv_change"] for h in hs], axis=0))
        relC.append(np.mean([h["cv_relative_change"] for h in hs], axis=0))
        relW.append(np.mean([h["w_relative_change"] for h in hs], axis=0))
    procrustes = [float(np.mean([pca[M, s][0] for s in seeds])) for M in widths]
    return {"widths": widths, "seeds": seeds, "n_steps": n_steps, "n": n, "t": t, "cv_change": np.array(dC),
            "cv_rel": np.array(relC), "w_rel": np.array(relW), "procrustes": np.array(procrustes)}


def a_fig4_cv_and_pca(*, fast: bool = False):
    """A Fig 4 / Lemmas 16–17: drift of C_V under Grassmannian GD, W vs C_V, and stability of the PCA readout.

    Returns (matplotlib.figure.Figure, caption: str)."""
    r = cv_runs(fast)
    widths, t = r["widths"], r["t"]
    w = np.array(widths, float)
    cols = _colors(len(widths))
    pos = t > 0
    fig = new_figure(16.0, 4.0)
    ax_a, ax_b, ax_c, ax_d = fig.subplots(1, 4)
    for c, M, row in zip(cols, widths, r["cv_change"]):
        ax_a.loglog(t[pos], row[pos], color=c, marker=".", **EXPERIMENT, label=f"M = {M}")
    ref = r["cv_change"][0, pos]
    ax_a.loglog(t[pos], ref[0] * t[pos] / t[pos][0], color="k", **THEORY, label=r"$\propto t$ (Lemma 16)")
    ax_a.set_xlabel("t = lr × step")
    ax_a.set_ylabel(r"$\|C_V(t)-C_V(0)\|_F$")
    ax_a.legend(fontsize=7)
    panel_label(ax_a, "A")

    k_fix = int(np.argmin(np.abs(t - ex.LEMMA16_T_FIX)))
    slopes = {}
    for k, mk in ((k_fix, "o"), (len(t) - 1, "s")):
        s, _ = loglog_fit(w, r["cv_change"][:, k])
        slopes[float(t[k])] = s
        ax_b.loglog(w, r["cv_change"][:, k], marker=mk, **EXPERIMENT, label=f"t = {t[k]:g} (slope {s:.2f})")
    ax_b.loglog(w, r["cv_change"][0, k_fix] * (w / w[0]) ** -0.5, color="k", **THEORY,
                label=r"$\propto M^{-1/2}$ (Lemma 16: $\kappa t/\sqrt{M}$)")
    ax_b.set_xlabel("width M")
    ax_b.set_ylabel(r"$\|C_V(t)-C_V(0)\|_F$")
    ax_b.legend(fontsize=7)
    panel_label(ax_b, "B")

    for c, M, rc, rw in zip(cols, widths, r["cv_rel"], r["w_rel"]):
        ax_c.loglog(t[pos], rw[pos], color=c, **EXPERIMENT)
        ax_c.loglog(t[pos], rc[pos], color=c, marker="x", linestyle="-", linewidth=1.0, label=f"M = {M}")
    ax_c.legend(handles=ax_c.get_legend_handles_labels()[0] + style_handles(
        [(r"$\|\Delta W\|/\|W(0)\|$", {**EXPERIMENT, "color": "0.3"}),
         (r"$\|\Delta C_V\|/\|C_V(0)\|$", {"color": "0.3", "marker": "x", "linewidth": 1.0})]), fontsize=7)
    ax_c.set_xlabel("t = lr × step")
    ax_c.set_ylabel("relative change")
    panel_label(ax_c, "C")

    s, b = loglog_fit(w, r["procrustes"])
    ax_d.loglog(w, r["procrustes"], "o-", color="C3", linewidth=EXPERIMENT["linewidth"], alpha=0.8,
                label=f"t = {ex.GRASS_LR * r['n_steps']:g}")
    ax_d.loglog(w, np.exp(b) * w**s, color="k", **THEORY, label=f"fit: slope {s:.2f}")
    ax_d.set_xlabel("width M")
    ax_d.set_ylabel(r"$\min_O \|U_tO-U_0\|_F/\|U_0\|_F$")
    ax_d.legend(fontsize=7)
    panel_label(ax_d, "D")
    caption = (
        f"A Fig 4, Lemmas 16–17 (checks a_lemma16_cv_drift, a_lemma17_pca_stability). Data: {r['n']} digit triplets; "
        "two-layer ReLU network with orthonormal W (Z = 10), cosine-similarity loss (A1, δ = 0.01); Grassmannian GD "
        f"(W projected to WᵀW = I each step) at lr {ex.GRASS_LR} for {r['n_steps']} steps, t = lr × step; widths "
        f"{widths}, seeds {list(r['seeds'])}; C_V of A10. (A) ‖C_V(t) − C_V(0)‖_F vs t (solid), dashed: linear in t. "
        f"(B) the same vs M at t = {t[k_fix]:g} and t = {t[-1]:g}, dashed: M^(-1/2) (Lemma 16's bound κt/√M). "
        "(C) relative change of W (solid) and of C_V (crosses): W moves faster. (D) Procrustes-aligned difference "
        "of the PCA representations (1/√M) W*ᵀφ(Vx) from C_V(0) and C_V(t) (Lemma 17), dashed: log–log fit."
        + (" Fast mode: the check's fast sweep (50 steps) without its largest width." if fast else ""))
    add_caption(fig, caption)
    return fig, caption


# ---------------------------------------------------------------------------- Fig 5: downstream


def a_fig5_downstream(*, fast: bool = False):
    """A Fig 5 (right): linear-probe accuracy of PCA on C_V(0), the trained network and the iterative scheme.

    Returns (matplotlib.figure.Figure, caption: str)."""
    n, M, steps = ex.downstream_setup(fast)
    accs = ex.downstream_accuracies(n, M, n_steps=steps)
    margin = get_check("a_fig5_deep_and_downstream").tolerance_for(fast)
    labels = {"pca_C0": "PCA on $C_V(0)$", "trained": "trained network\n(Grassmannian GD)",
              "iterative": "iterative scheme\n(5 updates)"}
    fig = new_figure(6.5, 4.0)
    ax = fig.subplots()
    keys = list(labels)
    vals = [accs[k] for k in keys]
    bars = ax.bar(range(3), vals, color=["C0", "C1", "C2"], alpha=0.8)
    for bar, v in zip(bars, vals):
        ax.text(bar.get_x() + bar.get_width() / 2, v + 0.01, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
    ax.axhline(0.1, color="k", **THEORY, label="chance (0.1)")
    ax.axhline(accs["baseline"], color="0.4", linestyle=":", linewidth=1.2,
               label=f"best random-feature baseline ({accs['baseline']:.3f})")
    ax.set_xticks(range(3), [labels[k] for k in keys], fontsize=8)
    ax.set_ylabel("test accuracy (logistic regression)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    caption = (
        f"A Fig 5 (right), §5 (downstream part of check a_fig5_deep_and_downstream). Data: {n} digit triplets "
        f"(anchors labelled for the probe), test: 600 held-out digit crops; two-layer ReLU network, M = {M}, Z = 10, "
        "seed 0. Representations (1/√M) Wᵀφ(Vx): W = top-10 eigenvectors of C_V(0) (A10) at the initial V; the "
        f"network trained by Grassmannian GD on the cosine loss (lr 0.5, {steps} steps, t = lr × step); the iterative scheme "
        f"(5 rounds of W ← PCA(C_V), one GD step on V at lr {accs['iterative_lr']:g} = 2M; V moved by "
        f"{100 * accs['iterative_V_change']:.0f} %). Bars: multinomial logistic regression accuracy "
        "(experiment); dashed: chance level 0.1; dotted: the best of the baselines computed by the check (the "
        f"untrained network, {sum(k.startswith('random_readout') for k in accs['baselines'])} random orthonormal "
        "readouts of the same random features, as many random 10-d pixel projections), which every bar must beat "
        f"by {margin:g}."
        + (" Fast mode: the check's fast sizes." if fast else ""))
    add_caption(fig, caption)
    return fig, caption


# ---------------------------------------------------------------------------- cross-paper NTK drift

DRIFT_LOSSES = {"supervised_mse": "supervised MSE", "barlow_twins": "Barlow Twins", "simclr": "SimCLR",
                "vicreg": "VICReg", "contrastive_dot": "contrastive, dot product",
                "contrastive_cosine": "contrastive, cosine"}
DRIFT_COLORS = {"supervised_mse": "C0", "barlow_twins": "C1", "simclr": "C4", "vicreg": "C5",
                "contrastive_dot": "C3", "contrastive_cosine": "C2"}
DRIFT_YMAX = 1e3  # top of the drift axes; larger drifts (the dot product before overflow) are clipped there


def _seed_mean(curves):
    """Seed mean of (W, S, R) curves; NaN wherever a seed has stopped."""
    return np.asarray(curves, float).mean(axis=1)


def cross_paper_ntk_drift(*, fast: bool = False):
    """NTK drift ‖K(t) − K(0)‖_F/‖K(0)‖_F over time and vs width for six losses on one network and one data set.

    Supervised MSE, Barlow Twins (S1–S2), SimCLR (NT-Xent), VICReg and the contrastive loss A1 with the dot
    product and the cosine similarity, the same two-layer network and data
    (:func:`dynamics.contrastive.ntk_drift_by_loss` with :func:`dynamics.experiments.contrastive.drift_setup`).
    One panel per width shows the drift over time up to and past the dot-product blow-up (A Prop 10,
    A Fig 2): each curve stops at its run's first non-finite step, marked by a cross at the last finite
    drift and a dotted vertical at the overflow time; the last panel shows the drift at the final time T vs
    width, with the dot product's last finite drift before its overflow.

    Returns (matplotlib.figure.Figure, caption: str)."""
    kw = ex.drift_setup(fast)
    r = contrastive.ntk_drift_by_loss(**kw)
    widths = [int(m) for m in r["widths"]]
    w = np.asarray(widths, float)
    t, T = np.asarray(r["t"]), float(r["T"])
    n_panels = len(widths) + 1
    ncols = min(4, n_panels)
    nrows = -(-n_panels // ncols)
    fig = new_figure(4.0 * ncols, 3.6 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax in axes[n_panels:]:
        ax.set_axis_off()
    pos = t > 0
    for i, (M, ax) in enumerate(zip(widths, axes)):
        lowest = DRIFT_YMAX
        for key, name in DRIFT_LOSSES.items():
            c = DRIFT_COLORS[key]
            mean = _seed_mean(r["curves"][key])[i]
            ok = pos & np.isfinite(mean)
            ax.semilogy(t[ok], mean[ok], color=c, **EXPERIMENT, label=name)
            if (mean[ok] > 0).any():
                lowest = min(lowest, float(mean[ok][mean[ok] > 0].min()))
            for j in range(len(r["seeds"])):
                if np.isfinite(r["t_diverge"][key][i, j]):
                    ax.axvline(r["t_diverge"][key][i, j], color=c, linestyle=":", linewidth=1.2)
                    ax.plot([r["last_t"][key][i, j]], [min(r["last_drift"][key][i, j], DRIFT_YMAX)], "x",
                            color=c, markersize=8, markeredgewidth=2)
        ax.semilogy(t[pos], np.ones(int(pos.sum())), color="0.5", linewidth=0.8,
                    linestyle="-.", label=r"drift = 1 ($\|K(t)-K(0)\| = \|K(0)\|$)")
        ax.set_ylim(lowest / 2, DRIFT_YMAX)
        ax.set_xlabel("t = lr × step")
        ax.set_ylabel(r"$\|K(t)-K(0)\|_F / \|K(0)\|_F$")
        ax.set_title(f"M = {M}", fontsize=10)
        panel_label(ax, chr(ord("A") + i))
    axes[0].legend(fontsize=6, loc="upper left")

    ax = axes[len(widths)]
    slopes, at_T = {}, {}
    for key, name in DRIFT_LOSSES.items():
        c = DRIFT_COLORS[key]
        v = np.asarray(r[key], float)
        ok = np.isfinite(v) & (v > 0)
        at_T[key] = v
        if ok.sum() >= 2:
            slopes[key], _ = loglog_fit(w[ok], v[ok])
            ax.loglog(w[ok], v[ok], "o", color=c, linestyle="-", linewidth=EXPERIMENT["linewidth"], alpha=0.8,
                      label=f"{name} (slope {slopes[key]:.2f})")
        elif ok.any():
            ax.loglog(w[ok], v[ok], "o", color=c, label=name)
        if (~ok).any():
            last = np.asarray(r["last_drift"][key], float).mean(axis=1)
            ax.loglog(w[~ok], np.minimum(last[~ok], DRIFT_YMAX), "x", color=c, markersize=8, markeredgewidth=2,
                      linestyle="none", label=f"{name}: last finite drift before overflow")
    ref = np.asarray(r["contrastive_cosine"], float)
    ax.loglog(w, ref[0] * (w / w[0]) ** -0.5, color="k", **THEORY, label=r"$\propto M^{-1/2}$ (lazy regime)")
    ax.set_ylim(top=DRIFT_YMAX)
    ax.set_xlabel("width M")
    ax.set_ylabel(rf"$\|K(T)-K(0)\|_F / \|K(0)\|_F$, T = {T:g}")
    ax.legend(fontsize=6, loc="center left")
    panel_label(ax, chr(ord("A") + len(widths)))

    t_div = {k: np.asarray(r["t_diverge"][k], float).mean(axis=1) for k in DRIFT_LOSSES}
    diverged = [k for k in DRIFT_LOSSES if np.isfinite(t_div[k]).any()]
    div_txt = "; ".join(
        f"{DRIFT_LOSSES[k]} overflows at t = {[round(float(x), 1) for x in t_div[k]]} (widths {widths}, seed mean), "
        f"last finite drift {[float(f'{x:.3g}') for x in np.asarray(r['last_drift'][k]).mean(axis=1)]}"
        for k in diverged) or "no run overflows"
    big = len(widths) - 1
    late_txt = ", ".join(f"{DRIFT_LOSSES[k]} {at_T[k][big]:.3g}" for k in DRIFT_LOSSES if np.isfinite(at_T[k][big]))
    slope_txt = ", ".join(f"{DRIFT_LOSSES[k]} {s:.2f}" for k, s in slopes.items())
    time_panels = f"(A–{chr(ord('A') + len(widths) - 1)})"
    caption = (
        "NTK drift across papers (dynamics.contrastive.ntk_drift_by_loss): one two-layer ReLU network (NTK "
        f"parametrisation, N(0, 1) init, Z = 10), widths {widths}, seeds {list(r['seeds'])}; data: {kw['n']} "
        "digit anchors with a positive crop (and a negative for the contrastive losses, digit labels one-hot for "
        f"MSE); full-batch GD at lr {kw['lr']} to T = {T:g} ({round(T / kw['lr'])} steps), t = lr × step; drift "
        f"of the trace NTK on {2 * kw['n_ntk']} fixed inputs (anchors and positives), {len(t)} records. Losses: "
        "supervised MSE, Barlow Twins (S1–S2), SimCLR (NT-Xent, τ = 0.5), VICReg (25, 25, 1), contrastive (A1, "
        f"linear l) with dot product and cosine similarity (δ = 0.01). {time_panels} drift vs t per width, seed "
        "mean (solid); a run stops at its first non-finite step (dotted vertical: overflow time; cross: last finite "
        f"drift, clipped at {DRIFT_YMAX:g}). Under the dot product the NTK blows up in finite time (A Prop 10): "
        f"{div_txt}. "
        f"({chr(ord('A') + len(widths))}) drift at T = {T:g} vs width (solid; fitted slopes: {slope_txt}); "
        f"at M = {widths[big]}: {late_txt}; crosses: the dot product's last finite drift before its overflow; "
        "dashed: M^(-1/2) reference through the cosine run."
        + (" Fast mode: fewer anchors, NTK inputs, widths and a shorter T." if fast else ""))
    add_caption(fig, caption)
    return fig, caption


__all__ = ["a_fig1_lemma9", "a_fig2_3_ntk_change", "a_fig4_cv_and_pca", "a_fig5_downstream",
           "cross_paper_ntk_drift"]
