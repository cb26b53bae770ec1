"""Figures of Esser, Mukherjee, Ghoshdastidar (E): orthogonality-constrained SSL and its Grassmannian flow.

P. Esser, S. Mukherjee, D. Ghoshdastidar, "Representation Learning Dynamics of Self-Supervised Models"
(2023).  Every figure stands on :mod:`dynamics.experiments.grassmann` (the data, sizes, seeds, learning
rates and runs that the registered checks of :mod:`dynamics.theorems.grassmann_checks` use too), and
Figs 2 and 4 plot the check's own measured values (``get_check(name).run(fast)``), so a figure shows
what ``verify`` gates.  Theory / integrated flow dashed, trainer (experiment) solid.
"""

from __future__ import annotations

import jax
import numpy as np
from matplotlib import colormaps

from ..experiments.grassmann import MOONS_H, MOONS_N, MOONS_SEED0, flow_vs_gd_runs, half_moons_runs
from ..theorems import get_check
from ._common import (
    EXPERIMENT,
    THEORY,
    add_caption,
    new_figure,
    panel_label,
    style_handles,
)

# ---------------------------------------------------------------------------- Fig 1: half moons


def e_fig1_half_moons(*, fast: bool = False):
    """E Example 1 / Fig 1: unconstrained SSL diverges, orthogonality-constrained SSL converges.

    (A) data and the limiting direction ± u_1 (eigenvector of the most negative eigenvalue of C) with the
    final constrained Θ of every init; (B) ‖Θ(t)‖ of the unconstrained one-layer model, log-y; (C) the
    angle 1 − cos²(Θ(t), u_1) of the constrained net.  Runs:
    :func:`dynamics.experiments.grassmann.half_moons_runs`.

    Returns
    -------
    (matplotlib.figure.Figure, caption: str)
    """
    r = half_moons_runs(fast)
    colors = colormaps["viridis"](np.linspace(0.0, 0.9, r["n_init"]))
    fig = new_figure(13.0, 4.2)
    ax_a, ax_b, ax_c = fig.subplots(1, 3)

    X, y, u1 = r["X"], r["y"], r["u1"]
    ax_a.scatter(X[:, 0], X[:, 1], c=np.where(y == 0, "C0", "C1"), s=8, alpha=0.6)
    s = 1.2
    ax_a.plot([-s * u1[0], s * u1[0]], [-s * u1[1], s * u1[1]], color="k", linestyle=(0, (5, 2.5)),
              linewidth=1.6, label=r"$\pm u_1$ (theory: eigvec of $\lambda_{\min}(C)$)")
    th = r["final_theta"]
    th = th / np.linalg.norm(th, axis=1, keepdims=True)
    ax_a.scatter(th[:, 0], th[:, 1], marker="x", color="C3", s=40, zorder=3,
                 label=r"final $\Theta/\|\Theta\|$, E11 (all inits)")
    ax_a.set_aspect("equal")
    ax_a.set_xlabel(r"$x_1$ (centred)")
    ax_a.set_ylabel(r"$x_2$ (centred)")
    ax_a.set_title("Half moons and the fixed-point set")
    ax_a.legend(loc="lower left", fontsize=7.5, framealpha=0.9)
    ax_a.grid(alpha=0.25)
    panel_label(ax_a, "A")

    for b in range(r["n_init"]):
        ax_b.plot(r["t_free"], r["norm_free"][:, b], color=colors[b], **EXPERIMENT)
        ax_b.plot(r["t_free_th"], r["norm_free_th"][:, b], color=colors[b], **THEORY)
    ax_b.set_yscale("log")
    ax_b.set_xlabel("time t = lr × step")
    ax_b.set_ylabel(r"$\|\Theta(t)\|_F$")
    ax_b.set_title("Unconstrained (Prop 1): diverges")
    ax_b.legend(handles=style_handles([("GD, one-layer f = Θᵀx (solid)", {"color": "0.3", **EXPERIMENT}),
                                       ("exp(−2Ct)Θ(0) (dashed)", {"color": "0.1", **THEORY})]),
                loc="upper left", fontsize=8, framealpha=0.9)
    ax_b.grid(alpha=0.25)
    panel_label(ax_b, "B")

    floor = 1e-16
    kc, kt = r["t_con"] > 0, r["t_th"] > 0  # log-x
    for b in range(r["n_init"]):
        ax_c.plot(r["t_con"][kc], np.maximum(r["miss"][kc, b], floor), color=colors[b], **EXPERIMENT)
    for b in range(r["n_theory"]):
        ax_c.plot(r["t_th"][kt], np.maximum(r["miss_th"][kt, b], floor), color=colors[b], **THEORY)
    ax_c.set_yscale("log")
    ax_c.set_xscale("log")
    ax_c.set_ylim(floor / 3, 2.0)
    ax_c.set_xlabel("time t = lr × step (log, from step 1)")
    ax_c.set_ylabel(r"$1 - \cos^2(\Theta(t), u_1)$")
    ax_c.set_title("Constrained (E11): all inits → ±u₁")
    ax_c.legend(handles=style_handles([(f"projected GD E11, h = {MOONS_H} (solid)", {"color": "0.3", **EXPERIMENT}),
                                       ("ball flow of Θ (dashed)", {"color": "0.1", **THEORY})]),
                loc="lower left", fontsize=8, framealpha=0.9)
    ax_c.grid(alpha=0.25)
    panel_label(ax_c, "C")

    lam = r["lam"]
    caption = (
        f"E Example 1 / Fig 1 (setup of check e_example1_half_moons){' — fast mode' if fast else ''}. Data: "
        f"scikit-learn make_moons, n = {MOONS_N} (moons noise 0.05, seed 0, centred), positives x + N(0, 0.1²), "
        f"negatives random data points; d = 2, z = 1; C (E7) has eigenvalues {lam[0]:.3f}, {lam[1]:.3f}. "
        f"{r['n_init']} inits (seeds {MOONS_SEED0}–{MOONS_SEED0 + r['n_init'] - 1}) of the two-layer linear net, "
        f"h = {MOONS_H}, V, W random semi-orthogonal. (B) unconstrained: plain GD (solid, lr = {r['lr_free']:g}, "
        f"{int(r['t_free'][-1] / r['lr_free'])} steps) of the one-layer model with Θ(0) = V(0)W(0), and the closed "
        "form exp(−2Ct)Θ(0) of Prop 1 (dashed): ‖Θ‖ grows like exp(2|λ₁|t), no fixed point. (C) constrained: "
        f"Grassmannian projected GD E11 (solid, lr = 0.2/‖C‖ = {r['lr']:.3g}, {r['steps']} steps, all inits "
        f"trained as one batch) and the relaxed ball flow of Θ (dashed, scipy DOP853, first {r['n_theory']} "
        "inits): every init converges to the same line ±u₁ (floored at 1e-16). (A) the final directions "
        "(crosses) on ±u₁. Time t = lr × step."
    )
    add_caption(fig, caption)
    return fig, caption


# ---------------------------------------------------------------------------- Fig 2: Thm 1 / Conj 1

ACTS = ("tanh", "relu", "sigmoid")


def e_fig2_nonlinear_vs_linear(*, fast: bool = False):
    """E Thm 1 / Conj 1 / Fig 2: ‖f_φ − f_lin‖ vs hidden width h, at init and after training.

    Plots the values measured by the check ``e_theorem1_nonlinear_vs_linear`` (run here with the same
    ``fast``), with log–log slopes fitted to them.  Returns (fig, caption).
    """
    res = get_check("e_theorem1_nonlinear_vs_linear").run(fast=fast)
    det = res.details
    widths = np.asarray(det["widths"])
    fig = new_figure(11.0, 4.3)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key, skey, title, letter in zip(axes, ("diff_at_init", "diff_after_training"),
                                            ("slope_at_init", "slope_after_training"),
                                            ("At initialisation (Thm 1)", "After E11 training (Conj 1)"), "AB"):
        for i, a in enumerate(ACTS):
            vals = np.asarray(det[key][a])
            ax.plot(widths, vals, color=f"C{i}", marker="o", markersize=5,
                    label=f"{a}: slope {det[skey][a]:+.2f}", **EXPERIMENT)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("hidden width h")
        ax.set_title(title)
        ax.legend(loc="best", fontsize=8, framealpha=0.9, title="φ: fitted log–log slope", title_fontsize=8)
        ax.grid(alpha=0.25, which="both")
        panel_label(ax, letter)
    axes[0].set_ylabel(r"mean$_x\ \|f_\varphi(x) - f_{\mathrm{lin}}(x)\|$")
    caption = (
        f"E Thm 1 / Conj 1 / Fig 2: values measured by check e_theorem1_nonlinear_vs_linear "
        f"({'fast' if fast else 'full'} mode; status {'pass' if res.passed else 'FAIL'}). Data: scikit-learn "
        f"digits, n = {det['n']} images (seed 0), pixels/16, 2×2-average-pooled to d = {det['d']}; positives "
        f"x + N(0, 0.1²), random negatives; z = 2. Widths h = {', '.join(map(str, widths))} "
        "(>= d, VᵀV = I for V (h, d)); "
        f"V, W random semi-orthogonal, mean over {det['n_init']} inits (seeds 1000·h + s). φ scaled to φ'(0) = 1: "
        "tanh, relu, 4·sigmoid. (B) each nonlinear net and the linear one trained from the same (V, W) by "
        f"Grassmannian projected GD (E11) on E1, lr = {det['lr']:g}, {det['steps']} steps. Solid with markers: "
        "experiment (no theory curve; the expected init slopes −3/2 tanh, −1/2 relu, 0 sigmoid are derived in "
        "the check's docstring). Legend: least-squares slopes of log‖·‖ on log h."
    )
    add_caption(fig, caption)
    return fig, caption


# ---------------------------------------------------------------------------- Fig 3: E12 vs E11


def e_fig3_flow_vs_gd(*, fast: bool = False):
    """E Figs 3–4: loss of the discretised flow E12 (dashed) and of projected GD E11 (solid) for several h,
    and the relative output difference ‖XΘ_GD − XΘ_flow‖/‖XΘ_flow‖ along the way.  Returns (fig, caption)."""
    r = flow_vs_gd_runs(fast)
    fig = new_figure(11.0, 4.3)
    ax_a, ax_b = fig.subplots(1, 2)
    colors = colormaps["plasma"](np.linspace(0.1, 0.8, len(r["widths"])))
    t = r["t"]
    for c, h in zip(colors, r["widths"]):
        ax_a.plot(t, r["gd"][h]["loss"], color=c, label=f"E11 projected GD, h = {h}", **EXPERIMENT)
        ax_b.plot(t[1:], r["gd"][h]["out_diff"][1:], color=c, marker="o", markersize=3,
                  label=f"h = {h}", **EXPERIMENT)
    ax_a.plot(t, r["loss_flow"], color="k", label="E12 discretised flow (no h)", **THEORY)
    ax_a.axhline(r["optimum"], color="0.5", linestyle=":", linewidth=1.2,
                 label=r"optimum $\sum_{i\leq z}\lambda_i(C)$")
    ax_a.set_xlabel("time t = lr × step")
    ax_a.set_ylabel(r"E1 loss $= \mathrm{Tr}(\Theta^\top C\,\Theta)$")
    ax_a.set_title("Loss: GD of every width follows the flow")
    ax_a.legend(loc="upper right", fontsize=8, framealpha=0.9)
    ax_a.grid(alpha=0.25)
    panel_label(ax_a, "A")
    ax_b.set_yscale("log")
    ax_b.set_xlabel("time t = lr × step")
    ax_b.set_ylabel(r"$\|X\Theta_{GD} - X\Theta_{flow}\|_F / \|X\Theta_{flow}\|_F$")
    ax_b.set_title("Outputs: E11 vs E12 along training")
    ax_b.legend(loc="lower right", fontsize=8, framealpha=0.9)
    ax_b.grid(alpha=0.25, which="both")
    panel_label(ax_b, "B")
    caption = (
        f"E Figs 3–4 (setup of check e_flow_vs_projected_gd_digits){' — fast mode' if fast else ''}. Data: "
        f"scikit-learn digits, classes 3 and 8, 170 each (n = {r['n']}, seed 0), d = {r['d']} pixels/16; positives "
        "1-pixel random shift + N(0, 0.1²); random negatives; z = 4. Θ(0) random semi-orthogonal (seed 0); the nets "
        f"(h = {', '.join(map(str, r['widths']))}, tall V, init seed h) start from V(0)W(0) = Θ(0). Solid: "
        "Grassmannian projected GD E11 of the two-layer linear net on the E1 loss of its outputs; dashed: "
        "E12, Euler steps of the Θ flow E9 with polar retraction (width-free, the theory); both with "
        f"lr = 0.1/‖C‖ = {r['lr']:.3g}, {r['steps']} steps, 31 records. Dotted: the optimum (sum of the z smallest "
        "eigenvalues of C). (B) relative difference of the outputs XΘ on the anchors. Time t = lr × step."
    )
    add_caption(fig, caption)
    return fig, caption


# ---------------------------------------------------------------------------- Fig 4: cost and SVM


def e_fig4_cost_and_svm(*, fast: bool = False):
    """E Fig 4: (A) seconds per step of E12 and of E11 vs h; (B) linear-SVM accuracy on the embeddings.

    Both measured by the check ``e_flow_vs_projected_gd_digits`` in this run.  Returns (fig, caption).
    """
    res = get_check("e_flow_vs_projected_gd_digits").run(fast=fast)
    det = res.details
    by_w = det["seconds_per_step_GD_by_width"]
    widths = np.array(sorted(int(w) for w in by_w))
    t_gd = np.array([by_w[w] for w in widths])
    t_fl = det["seconds_per_step_flow"]
    fig = new_figure(11.0, 4.2)
    ax_a, ax_b = fig.subplots(1, 2)
    ax_a.plot(widths, t_gd * 1e3, color="C3", marker="o", label="E11 projected GD of V, W (measured)", **EXPERIMENT)
    ax_a.plot(widths, np.full(len(widths), t_fl * 1e3), color="k", marker="s",
              label="E12 discretised flow of Θ (measured; no h)", **THEORY)
    ax_a.set_xscale("log", base=2)
    ax_a.set_yscale("log")
    ax_a.set_xlabel("hidden width h")
    ax_a.set_ylabel("milliseconds per step")
    ax_a.set_title("Cost per step: flow flat, GD grows with h")
    ax_a.legend(loc="center right", fontsize=8, framealpha=0.9)
    ax_a.grid(alpha=0.25, which="both")
    panel_label(ax_a, "A")

    names = ["E12 flow", "E11 GD", "raw pixels"]
    accs = [det["svm_5fold_acc_flow"], det["svm_5fold_acc_GD"], det["svm_5fold_acc_raw_pixels"]]
    bars = ax_b.bar(names, accs, color=["0.35", "C3", "C0"], alpha=0.75, width=0.6)
    for b, a in zip(bars, accs):
        ax_b.text(b.get_x() + b.get_width() / 2, a + 0.005, f"{a:.3f}", ha="center", va="bottom", fontsize=9)
    ax_b.set_ylim(0.5, 1.05)
    ax_b.set_ylabel("5-fold linear-SVM accuracy (3 vs 8)")
    ax_b.set_title(f"Embeddings (z = {det['z']}) are equally separable")
    ax_b.grid(alpha=0.25, axis="y")
    panel_label(ax_b, "B")
    caption = (
        f"E Fig 4: values measured by check e_flow_vs_projected_gd_digits in this run ({'fast' if fast else 'full'} "
        f"mode; status {'pass' if res.passed else 'FAIL'}), JAX backend {jax.default_backend()}, on a shared "
        "machine (timings indicative). Data: digits 3 vs 8 (n = "
        f"{det['n']}, d = {det['d']}), z = {det['z']}, lr = {det['lr']:.3g}. (A) wall-clock seconds per compiled "
        "gradient step (median of 3 repeats of 5–10 steps): E11 for the two-layer linear net with h = "
        f"{', '.join(map(str, widths))} (solid), E12 on Θ (d × z, dashed; drawn at every h since it has none). "
        f"(B) 5-fold LinearSVC (C = 1) accuracy on the final outputs XΘ of E12 and of E11 (h = {det['h']}), "
        f"both after {det['steps']} steps from the same Θ(0), and on the raw pixels for reference."
    )
    add_caption(fig, caption)
    return fig, caption
