"""Figure of Simon et al. (2023) App. G: can SSL be sped up?  The proposals measured.

J. B. Simon, M. Knutins, L. Ziyin, D. Geisz, A. J. Fetterman, J. Albrecht, "On the Stepwise Nature of
Self-Supervised Learning", ICML 2023 (arXiv:2303.15438), cited as S.

:func:`s_app_g_speedup` draws, per setting of :mod:`dynamics.experiments.speedup`, the smallest eigenvalue of
the Barlow Twins cross-correlation C (the last mode to be learned) of the baseline and of each modification,
each at its largest stable learning rate, against the step on one axis, and the VICReg conjecture runs of
:func:`dynamics.experiments.speedup.vicreg_conjecture`.  Every number of the caption comes from those runs.
"""

from __future__ import annotations

import numpy as np

from ._common import add_caption, new_figure, panel_label

SETTING_NAMES = {"linear": "(a) linear model, digits", "wide": "(b) wide two-layer ReLU network",
                 "deep": "(c) deep MLP (S App. D.1), digit crops"}
COLORS = {"baseline": "k", "precondition": "C0", "sqr": "C3", "smooth_min": "C2", "smooth_eps": "C8",
          "quartic": "C4", "hinge": "C1"}


def _speedup():
    from ..experiments import speedup  # imported on use

    return speedup


def _ratio_text(r):
    if r["status"] == "diverged":
        return f"{r['modification']} diverged at every rate"
    if r["steps_to_learn"] is None:
        return f"{r['modification']} {r['status']}"
    ratio = "" if r.get("ratio") is None else f", {r['ratio']:.2f}x"
    return f"{r['modification']} {r['steps_to_learn']} steps at lr {r['best_lr']:.4g}{ratio}"


def caption_numbers(tables, conjecture) -> str:
    """The caption's measured part, from :func:`dynamics.experiments.speedup.speedup_tables` and
    :func:`dynamics.experiments.speedup.vicreg_conjecture`."""
    parts = []
    for setting, rows in tables.items():
        by_loss = {}
        for r in rows:
            by_loss.setdefault(r["loss"], []).append(_ratio_text(r))
        parts.append(f"{setting}: " + "; ".join(f"{loss}: " + ", ".join(v) for loss, v in by_loss.items()) + ".")
    conj = []
    for loss, e in conjecture.items():
        ratio = "n/a" if not np.isfinite(e["ratio"]) else f"{e['ratio']:.3g}"
        conj.append(f"{loss}: rate with {e['with']:.3g}, without {e['without']:.3g}, ratio {ratio}")
    parts.append("Growth rate log(λ_d(t)/λ_d(0))/t of the smallest eigenvalue over the first steps, "
                 + "; ".join(conj) + ".")
    return " ".join(parts)


def s_app_g_speedup(fast: bool = False):
    """S App. G: eigenvalue curves of the baseline and the modifications (S52, g_sqr, smooth_min, smooth_eps,
    quartic, hinge), and the VICReg conjecture.  Returns (fig, caption)."""
    sp = _speedup()
    tables = sp.speedup_tables(fast)
    conj = sp.vicreg_conjecture(fast)
    fig = new_figure(16.0, 4.0)
    axes = fig.subplots(1, 4)
    for ax, (setting, rows), letter in zip(axes, tables.items(), "ABC"):
        for r in rows:
            if r["loss"] != "barlow_twins" or r["run"] is None:
                continue
            steps = np.maximum(np.asarray(r["run"]["steps"], float), 0.5)
            lam = np.sort(np.asarray(r["run"]["eigenvalues"], float), axis=1)[:, 0]
            ax.plot(steps, np.maximum(lam, 1e-16), color=COLORS[r["modification"]], lw=1.6,
                    label=f"{r['modification']} (lr {r['best_lr']:.3g})")
        ax.axhline(sp.LEARNED_LEVEL, color="0.5", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step k")
        ax.set_ylabel("smallest eigenvalue of C")
        ax.set_title(SETTING_NAMES[setting], fontsize=9)
        ax.legend(fontsize=6)
        panel_label(ax, letter)
    ax = axes[3]
    for (loss, label, _, _), c in zip(sp.CONJECTURE_RUNS, ("C0", "C9", "C3", "C1")):
        run = conj[loss]["runs"][label]
        t = sp.CONJECTURE_LR[loss] * np.asarray(run["steps"], float)
        lam = np.sort(np.asarray(run["eigenvalues"], float), axis=1)[:, 0]
        ax.plot(t, np.maximum(lam, 1e-30), color=c, lw=1.6, label=f"{loss}, {label}")
    ax.set_yscale("log")
    ax.set_xlabel("t = lr × step")
    ax.set_ylabel("smallest eigenvalue (C for BT, centred cov. for VICReg)")
    ax.set_title("(d) VICReg conjecture, linear model", fontsize=9)
    ax.legend(fontsize=6)
    panel_label(ax, "D")
    setup = sp.speedup_setup(fast)
    caption = (
        "S App. G speed-up proposals, measured (experiment only; the closed forms are in dynamics.barlow.speedup). "
        "A-C: smallest eigenvalue of the Barlow Twins cross-correlation C vs step, each method at the largest "
        "stable learning rate of its geometric grid (stable: finite, final loss not above the initial one); the "
        "step axis is shared because the rates differ (S52's grid is the baseline's times 2N(1 + "
        f"{sp.ALPHA_REL}), alpha = {sp.ALPHA_REL} 2N). Learned: every eigenvalue of C above {sp.LEARNED_LEVEL} "
        f"(dotted). Sizes: linear d = {setup['linear']['d']}, sigma = {setup['linear']['init_scale']:g}, "
        f"{setup['linear']['n_steps']} steps; wide M = {setup['wide']['width']}, d = {setup['wide']['d']}, "
        f"{setup['wide']['n_steps']} steps; deep width {setup['deep']['width']}, d = {setup['deep']['d']}, "
        f"batch {setup['deep']['batch_size']}, {setup['deep']['n_steps']} SGD steps (momentum 0.9), seed 0. "
        f"D: first {sp.CONJECTURE_STEPS} steps of the linear model, VICReg with/without its square root "
        f"(lr {sp.CONJECTURE_LR['vicreg']}), Barlow Twins with/without g_sqr (lr {sp.CONJECTURE_LR['barlow_twins']}). "
        "Measured (steps to learn at the largest stable lr, speed-up vs the baseline of the same run): "
        + caption_numbers(tables, conj))
    add_caption(fig, caption)
    return fig, caption


__all__ = ["caption_numbers", "s_app_g_speedup"]
