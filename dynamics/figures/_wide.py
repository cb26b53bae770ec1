"""Figures of wide two-layer networks under Barlow Twins and of the kernel special cases.

* :func:`s_fig2_wide_stepwise` — S Fig 2 A–B analogue (S §6, App. D.1, S40–S42)
* :func:`f_ntk_drift_vs_width` — Fleissner et al. (F): the NTK stays put as width grows
* :func:`f_alignment_vs_width` — F: finite networks approach the infinite-width kernel model (S App. E)
* :func:`s_kernel_pca_special_case` — S §5.2: 𝒳 = 𝒳' is kernel PCA; two-pathway models (K_𝒳𝒳' = 0)

Papers: Simon et al., "On the Stepwise Nature of Self-Supervised Learning", ICML 2023
(arXiv:2303.15438) (S); Fleissner, Anil, Ghoshdastidar, "Infinite Width Limits of Self Supervised Neural
Networks", PMLR 2025 (F).

Every figure reads the runs of :mod:`dynamics.experiments.wide` (or the setups of
:mod:`dynamics.experiments.kernels`) with the widths and seeds of the registered check in the same
mode — the width × seed sweeps through :func:`dynamics.experiments.run_grid`, so ``make_all`` with a
cache directory resumes — and the gates of the check from its registry declaration or the public
constants of :mod:`dynamics.theorems.wide_checks`, so the figure shows what ``python -m dynamics
verify`` measures.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps

from ..experiments import kernels as kernel_experiments
from ..experiments import wide
from ..experiments.stepwise import digits_setup
from ..linalg import loglog_fit, loglog_slope, loo_slopes
from ..theorems import get_check, wide_checks
from ._barlow import fmt_e, mode_colors, setting_defaults
from ._common import EXPERIMENT, THEORY, add_caption, new_figure, panel_label, style_handles

# Widths of ``check_wide_stepwise``.
STEPWISE_WIDTHS = {fast: wide.stepwise_widths(fast) for fast in (True, False)}
# Reference-line and per-seed styles shared by the width sweeps.
REFERENCE = {"linestyle": ":", "linewidth": 1.3, "color": "0.35"}
FAINT = {"linestyle": "none", "marker": "o", "markersize": 4, "alpha": 0.3}


def _widths_seeds(fast: bool):
    """Widths and seeds of the two Fleissner checks (``fleissner_ntk_constancy``, ``fleissner_kernel_limit``)."""
    widths, seeds = wide.fleissner_widths(fast)
    return list(widths), list(seeds)


def _width_colors(k: int):
    return colormaps["plasma"](np.linspace(0.0, 0.72, k))


def _log_axis_ticks(ax, lo: float, hi: float, axis: str = "y") -> None:
    """Label a log axis spanning less than a few decades at 1-2-5 values, so that every panel has numbers."""
    ticks = [m * 10.0**e for e in range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1)
             for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]
    getattr(ax, f"set_{axis}ticks")(ticks)
    getattr(ax, f"set_{axis}ticklabels")([f"{v:g}" for v in ticks])
    getattr(ax, f"set_{axis}lim")(lo, hi)


def _small(value: float, floor: float = 1e-15) -> str:
    """'= 3.2e-12', or '< 1e-15' for values at round-off (1 − a can come out as 0 or −1e-16)."""
    return f"< {floor:.0e}" if abs(value) < floor else f"= {value:.1e}"


def _label_reference(ax, x, y, text) -> None:
    ax.annotate(text, (x, y), xytext=(3, 0), textcoords="offset points", fontsize=8, color="0.3", va="center",
                ha="left")


def _data_sentence() -> str:
    n = setting_defaults(wide.wide_data)["n"]
    x, _, _ = wide.wide_data(n)
    return (f"Data: n = {n} scikit-learn digits, two random 7×7 crops each (seed 0), centred and scaled to mean "
            f"squared norm 1 (D = {x.shape[1]}; experiments.wide.wide_data).")


# ---------------------------------------------------------------------------- S Fig 2 A–B


def s_fig2_wide_stepwise(*, fast: bool = False):
    """S Fig 2 A–B analogue: a small-init wide ReLU network learns stepwise, as its initial NTK predicts.

    Experiment (solid): ``experiments.wide.stepwise_run(M)`` at the widest width of the check
    ``wide_stepwise_kernel_prediction`` (fast: 1024, full: 4096) — full-batch GD on the Barlow Twins
    loss of a two-layer ReLU network in NTK parametrisation, readout init σ(M) = 1e-5 (M/128)^-3.  Theory (dashed):
    the kernelised small-init dynamics S40–S42 (``barlow_twins_predict``) with the network's own
    empirical NTK at initialisation and its initial outputs, each mode advanced by the GD step of S12 at
    the trainer's lr (``experiments.wide.discrete_singular_values``): (A) loss Σ_j (1 − λ_j^pred)² (S14),
    (B) λ_j^pred = γ_j s_j².  (C) sup_{t, j} |λ_j^net − λ_j^pred| over the check's widths (circles), and
    the same against S10 at t = lr × step (squares: the gradient-flow clock, ahead of GD by O(γ_1 lr)).

    Returns
    -------
    (matplotlib.figure.Figure, caption: str)
    """
    widths = STEPWISE_WIDTHS[fast]
    run_defaults = setting_defaults(wide.stepwise_run)
    d = run_defaults["d"]
    runs = wide.stepwise_records(fast)  # {M: recorded run}, shared with the check (run_grid)
    errors = np.array([np.abs(runs[w]["eigenvalues"] - runs[w]["lam_pred"]).max() for w in widths])
    flow_errors = np.array([np.abs(runs[w]["eigenvalues"] - runs[w]["lam_pred_flow"]).max() for w in widths])
    width_errors = [np.abs(runs[w]["eigenvalues"] - runs[w]["lam_kernel_gd"]).max() for w in widths]
    init_errors = [np.abs(runs[w]["lam_kernel_gd"] - runs[w]["lam_pred"]).max() for w in widths]
    slope = loglog_slope(widths, errors)
    loo = loo_slopes(widths, errors)
    tol = get_check("wide_stepwise_kernel_prediction").tolerance_for(fast)
    M = widths[-1]
    run = runs[M]
    tau, gammas, lr, n_steps = run["tau"], run["gammas"], float(run["lr"]), int(run["step"][-1])
    keep = run["t"] > 0  # log-x axis
    t, lam_net, loss_net = run["t"][keep], run["eigenvalues"][keep], run["loss"][keep]
    lam_th = run["lam_pred"][keep]
    loss_th = np.sum((1.0 - lam_th) ** 2, axis=1)  # S14 with the predicted eigenvalues
    t_lo = max(t[0], np.min(tau) / 10.0)

    fig = new_figure(18.0, 4.3)
    ax_a, ax_b, ax_c, ax_d = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1.0, 1.0, 0.75, 0.75]})

    ax_a.plot(t, loss_net, color="k", label=f"experiment: GD loss, M = {M}", **EXPERIMENT)
    ax_a.plot(t, loss_th, color="C3", label=r"theory: $\sum_j (1 - \lambda_j^{pred})^2$ (S40–S42, S14)",
              **THEORY)
    ax_a.vlines(tau, 0.93, 1.0, transform=ax_a.get_xaxis_transform(), color="C0", linewidth=1.2,
                label=r"critical times $\tau_j$ (S16 with S42)")
    ax_a.set_xscale("log")
    ax_a.set_xlim(t_lo, t[-1] * 1.3)
    ax_a.set_ylim(-0.2, d + 0.6)
    ax_a.set_yticks(range(d + 1))
    ax_a.set_xlabel("time t = lr × step (gradient-flow units)")
    ax_a.set_ylabel(r"loss $\mathcal{L} = \|C - I\|_F^2$")
    ax_a.set_title("Wide ReLU network: stepwise loss")
    ax_a.legend(loc="lower left", fontsize=7.5, framealpha=0.9)
    ax_a.grid(alpha=0.25)
    panel_label(ax_a, "A")

    colors = mode_colors(d)
    for j in range(d):
        ax_b.plot(t, lam_net[:, j], color=colors[j], **EXPERIMENT)
    for j in range(d):
        ax_b.plot(t, lam_th[:, j], color=colors[j], **THEORY)
    ax_b.set_xscale("log")
    ax_b.set_xlim(t_lo, t[-1] * 1.3)
    ax_b.set_ylim(-0.05, 1.12)
    ax_b.set_xlabel("time t = lr × step (gradient-flow units)")
    ax_b.set_ylabel(r"eigenvalues $\lambda_j$ of $C$")
    ax_b.set_title("Eigenvalues of C: network vs initial-NTK theory")
    ax_b.legend(handles=style_handles([
        (f"experiment: eig(C), M = {M}", {"color": "0.3", **EXPERIMENT}),
        (r"theory: $\gamma_j s_j(t)^2$, kernel = NTK at init", {"color": "0.1", **THEORY}),
    ]) + style_handles([(rf"mode j = {j + 1}, $\gamma_{j + 1}$ = {gammas[j]:.3f}", {"color": colors[j],
                                                                                      "linewidth": 2.4})
                        for j in range(d)]),
        loc="upper left", fontsize=7.5, framealpha=0.9)
    ax_b.grid(alpha=0.25)
    panel_label(ax_b, "B")

    fit_slope, fit_intercept = loglog_fit(widths, errors)
    fit = np.exp(fit_intercept) * np.asarray(widths, float) ** fit_slope
    ax_c.plot(widths, errors, "o", color="k", markersize=6, label="vs GD step prediction (one init per width)")
    ax_c.plot(widths, fit, color="C3", linewidth=1.2, label=f"fit: slope {slope:.2f}")
    ax_c.plot(widths, flow_errors, "s", color="0.55", markersize=5, markerfacecolor="none",
              label="vs S10 at t = lr × step")
    ax_c.plot(widths, errors[0] * (np.array(widths) / widths[0]) ** -0.5, label=r"$\propto M^{-1/2}$",
              **REFERENCE)
    ax_c.set_xscale("log")
    ax_c.set_yscale("log")
    ax_c.set_xticks(widths)
    ax_c.set_xticklabels([str(w) for w in widths])
    ax_c.minorticks_off()
    _log_axis_ticks(ax_c, 0.5 * min(errors.min(), fit.min()), 2.0 * max(errors.max(), flow_errors.max()))
    ax_c.set_xlim(widths[0] / 1.4, widths[-1] * 1.4)
    ax_c.set_xlabel("width M")
    ax_c.set_ylabel(r"sup$_{t,j}$ $|\lambda_j^{net} - \lambda_j^{pred}|$")
    ax_c.set_title("Error vs width")
    ax_c.legend(loc="upper right", fontsize=7.5, framealpha=0.9)
    ax_c.grid(alpha=0.25, which="both")
    panel_label(ax_c, "C")

    # D: beyond the paper, flows.predictor with the initial NTK for SimCLR and VICReg (check s_predictor_simclr_vicreg_width)
    p_widths = wide.predictor_widths(fast)
    p_recs = wide.predictor_records(fast)
    p_err = {name: np.array([np.max(p_recs[name, w]["relative_error"]) for w in p_widths])
             for name in wide.PREDICTOR_LOSSES}
    p_loo = {name: loo_slopes(p_widths, e) for name, e in p_err.items()}
    for (name, e), color, marker in zip(p_err.items(), ("C0", "C2"), ("o", "s")):
        ax_d.plot(p_widths, e, marker=marker, color=color, markersize=6, linewidth=1.4,
                  label=f"{'SimCLR (NT-Xent)' if name == 'simclr' else 'VICReg'}: slope {loglog_slope(p_widths, e):.2f}")
    ax_d.set_xscale("log")
    ax_d.set_yscale("log")
    ax_d.set_xticks(p_widths)
    ax_d.set_xticklabels([str(w) for w in p_widths])
    ax_d.minorticks_off()
    ax_d.set_xlabel("width M")
    ax_d.set_ylabel(r"sup$_t$ $\|F_{net} - F_{pred}\|_F / \|F_{net}\|_F$")
    ax_d.set_title("SimCLR, VICReg: frozen-NTK predictor")
    ax_d.legend(loc="lower left", fontsize=7.5, framealpha=0.9)
    ax_d.grid(alpha=0.25, which="both")
    panel_label(ax_d, "D")

    caption = (
        "S Fig 2 A–B analogue (Simon et al. §6, App. D.1) on built-in data. " + _data_sentence() + " "
        f"Network: two-layer ReLU f(x) = W^T relu(Vx)/√M, NTK parametrisation, no biases, d = {d}, V ~ N(0, 1), "
        f"W ~ σ(M)·N(0, 1) (small init, σ(M) = {fmt_e(wide.STEPWISE_READOUT_SCALE)}·(M/{wide.STEPWISE_READOUT_WIDTH})"
        f"^-{wide.STEPWISE_READOUT_EXPONENT:g}, {fmt_e(float(run['readout_scale']))} at M = {M}), init seed "
        f"{run_defaults['seed']}. "
        f"Experiment (solid): full-batch gradient descent on the Barlow Twins loss, width M = {M}, lr = "
        f"{wide.STEPWISE_LR_SCALE:g}/(8γ_1) = {lr:.4g}, {n_steps:,} steps ({run_defaults['horizon']} × the largest "
        f"predicted τ_j), {int(keep.sum())} log spaced records. Theory (dashed): the kernelised small-init "
        "dynamics S40–S42 with the kernel K̃ = the network's own empirical NTK at initialisation (trace over "
        "outputs; with the readout that small it is essentially the random-features kernel relu(Vx)·relu(Vx')/M) and its "
        "initial outputs F(0), s_j(0) from S42, each mode advanced step by step by the gradient descent update "
        "of S12, s ← s + lr·4γ_j s(1 − γ_j s²) (exact for GD on the kernel model, as S10 is for the flow): "
        "(A) loss Σ_j (1 − λ_j^pred)² (S14), (B) λ_j^pred = "
        f"γ_j s_j²; top-{d} γ_j of K_Γ: {', '.join(f'{g:.4f}' for g in gammas)}; ticks in A: "
        f"critical times τ_j = {', '.join(f'{x:.1f}' for x in np.sort(tau))} (S16). (C) Circles: sup over recorded "
        f"steps and j of |λ_j^net − λ_j^pred| for widths {', '.join(map(str, widths))} (one init each, seed "
        f"{run_defaults['seed']}, same settings): {', '.join(f'{e:.3g}' for e in errors)}; fitted log–log slope "
        f"{slope:.2f} (leave one out slopes {', '.join(f'{v:.2f}' for v in loo)}); dotted: M^-1/2 reference. "
        f"Squares: the same against S10 at t = lr × step: {', '.join(f'{e:.3g}' for e in flow_errors)} — it levels "
        f"off because with 4γ_1·lr = {4 * gammas[0] * lr:.3f} a GD step grows mode 1 by "
        f"log(1 + 4γ_1 lr)/(4γ_1 lr) = {np.log1p(4 * gammas[0] * lr) / (4 * gammas[0] * lr):.4f} of "
        "the flow's rate, a time step artefact, not a width effect. The readout init falls with the width because "
        "S40–S42 is a small init limit: its own error (gradient descent on the frozen kernel model from the same F(0) vs S40–S42) "
        f"is {', '.join(f'{e:.2g}' for e in init_errors)} at these widths, below the finite width error (network vs "
        f"frozen kernel gradient descent) {', '.join(f'{e:.2g}' for e in width_errors)}. "
        "The check wide_stepwise_kernel_prediction "
        f"passes if the circle at the widest width is < {tol:g} and every leave one out slope is <= "
        f"{wide_checks.STEPWISE_MAX_SLOPE:g}. Same cached runs as the check ({'fast' if fast else 'full'} mode). "
        "Time t = lr × step. "
        "(D) Beyond the paper: the same prediction for other losses, flows.predictor(L, K) with K the network's full "
        "empirical NTK at init, in its gradient descent mode at the network's lr (so VICReg's hinge is met as the "
        f"network's GD meets it), against two layer ReLU networks with d = {wide.PREDICTOR_D} on "
        f"{wide.PREDICTOR_N} pairs trained by GD with the SimCLR loss (temperature {wide.PREDICTOR_TEMPERATURE:g}, readout "
        f"{fmt_e(wide.PREDICTOR_SETTINGS['simclr']['readout_scale'])}, lr {wide.PREDICTOR_SETTINGS['simclr']['lr']:g}, "
        f"T = {wide.PREDICTOR_SETTINGS['simclr']['T']:g}) or VICReg (readout "
        f"{fmt_e(wide.PREDICTOR_SETTINGS['vicreg']['readout_scale'])}, lr {wide.PREDICTOR_SETTINGS['vicreg']['lr']:g}, "
        f"T = {wide.PREDICTOR_SETTINGS['vicreg']['T']:g}): sup over time of the relative output error, SimCLR "
        f"{', '.join(f'{e:.2g}' for e in p_err['simclr'])}, VICReg {', '.join(f'{e:.2g}' for e in p_err['vicreg'])} "
        f"at M = {', '.join(map(str, p_widths))} (leave one out slopes SimCLR "
        f"{', '.join(f'{v:.2f}' for v in p_loo['simclr'])}, VICReg {', '.join(f'{v:.2f}' for v in p_loo['vicreg'])}; "
        "check s_predictor_simclr_vicreg_width)."
    )
    add_caption(fig, caption)
    return fig, caption


# ---------------------------------------------------------------------------- F: NTK drift


def drift_values(widths, seeds, supervised: bool = False) -> np.ndarray:
    """(len(widths), len(seeds)) NTK drift ‖K(T) − K(0)‖_F / ‖K(0)‖_F at the end of ``standard_init_run``
    (the records of ``experiments.wide.ntk_drift_records``, shared with the check)."""
    runs = wide.ntk_drift_records(widths, seeds, supervised)
    return np.array([[runs[M, s]["ntk_drift"][-1] for s in seeds] for M in widths])


def f_ntk_drift_vs_width(*, fast: bool = False):
    """NTK drift at T = 50 vs width M under Barlow Twins and supervised MSE (Fleissner et al.; A Fig 3 style).

    Experiment: ``experiments.wide.standard_init_run`` with the widths and seeds of the check
    ``fleissner_ntk_constancy``.  (A) drift at T vs M, log–log: seed means (markers joined), each seed
    faint, least-squares slopes of the seed means (as the check fits them) in the legend; dotted
    M^{-1/2} and M^{-1} references.  (B) drift over time under Barlow Twins, seed mean per width.

    Returns
    -------
    (matplotlib.figure.Figure, caption: str)
    """
    widths, seeds = _widths_seeds(fast)
    run_defaults = setting_defaults(wide.standard_init_run)
    T, lr, d = run_defaults["T"], run_defaults["lr"], run_defaults["d"]
    w = np.array(widths, dtype=float)
    series = {}
    for sup, name, color, marker in ((False, "Barlow Twins", "C0", "o"), (True, "supervised MSE", "C1", "s")):
        vals = drift_values(widths, seeds, sup)
        mean = vals.mean(axis=1)
        series[name] = (vals, mean, loglog_slope(widths, mean), color, marker)

    fig = new_figure(11.0, 4.5)
    ax_a, ax_b = fig.subplots(1, 2)
    for name, (vals, mean, slope, color, marker) in series.items():
        for k in range(len(seeds)):
            ax_a.plot(w, vals[:, k], color=color, **{**FAINT, "marker": marker})
        ax_a.plot(w, mean, color=color, marker=marker, markersize=7, linewidth=1.6,
                  label=f"{name}: seed mean, slope {slope:.2f}")
    anchor = series["Barlow Twins"][1][0]
    for power, text, style in ((0.5, r"$M^{-1/2}$", REFERENCE), (1.0, r"$M^{-1}$", REFERENCE)):
        ref = anchor * (w / w[0]) ** -power
        ax_a.plot(w, ref, label=rf"reference $\propto${text}", **style)
        _label_reference(ax_a, w[-1], ref[-1], text)
    ax_a.set_xscale("log")
    ax_a.set_yscale("log")
    ax_a.set_xticks(widths)
    ax_a.set_xticklabels([str(m) for m in widths])
    ax_a.minorticks_off()
    all_vals = np.concatenate([v[0].ravel() for v in series.values()] + [anchor * (w / w[0]) ** -1.0])
    _log_axis_ticks(ax_a, all_vals.min() / 6.0, all_vals.max() * 1.5)
    ax_a.set_xlim(w[0] / 1.3, w[-1] * 1.9)
    ax_a.set_xlabel("width M")
    ax_a.set_ylabel(rf"NTK drift $\|K(T) - K(0)\|_F / \|K(0)\|_F$, T = {T:g}")
    ax_a.set_title("The NTK freezes as width grows")
    handles, _ = ax_a.get_legend_handles_labels()
    handles += style_handles([("single seeds (faint)", {"color": "0.5", **FAINT})])
    ax_a.legend(handles=handles, loc="lower left", fontsize=8, framealpha=0.9)
    ax_a.grid(alpha=0.25, which="both")
    panel_label(ax_a, "A")

    colors = _width_colors(len(widths))
    bt_runs = wide.ntk_drift_records(widths, seeds)
    for M, c in zip(widths, colors):
        recs = [bt_runs[M, s] for s in seeds]
        keep = recs[0]["t"] > 0
        mean = np.mean([r["ntk_drift"][keep] for r in recs], axis=0)
        ax_b.plot(recs[0]["t"][keep], mean, color=c, label=f"M = {M}", **EXPERIMENT)
    ax_b.set_xscale("log")
    ax_b.set_yscale("log")
    ax_b.set_xlabel("time t = lr × step (gradient-flow units)")
    ax_b.set_ylabel(r"NTK drift $\|K(t) - K(0)\|_F / \|K(0)\|_F$")
    ax_b.set_title(f"Barlow Twins: drift during training (mean of {len(seeds)} seeds)")
    ax_b.legend(loc="upper left", fontsize=8, framealpha=0.9, ncol=2)
    ax_b.grid(alpha=0.25, which="both")
    panel_label(ax_b, "B")

    bt, sup = series["Barlow Twins"], series["supervised MSE"]
    caption = (
        "NTK drift vs width (Fleissner et al., F: the NTK of a two-layer network trained with Barlow Twins stays "
        "constant as width → ∞; measured as in Anil et al. Fig 3). " + _data_sentence() + " "
        "Network: two-layer ReLU, NTK parametrisation, all weights N(0, 1) (standard init), d = "
        f"{d}; widths M = {', '.join(map(str, widths))}; init seeds {', '.join(map(str, seeds))}. Experiment only "
        f"(no theory curve): full-batch GD, lr = {lr:g}, to T = {T:g} ({round(T / lr):,} steps); Barlow "
        f"Twins on the pairs, or the supervised squared loss to the first {d} one-hot label coordinates on the "
        "first views (baseline). Drift = ‖K(T) − K(0)‖_F/‖K(0)‖_F of the empirical NTK (trace over outputs) on "
        "all 2n inputs. (A) Markers joined: seed means; faint: single seeds; legend: least-squares log–log "
        f"slopes of the seed means (Barlow Twins {bt[2]:.2f}, supervised {sup[2]:.2f}; the check "
        "fleissner_ntk_constancy passes if the Barlow Twins slope ≤ −0.35). Seed-mean drift at M = "
        f"{widths[0]} / {widths[-1]}: Barlow Twins {bt[1][0]:.3g} / {bt[1][-1]:.3g}, supervised {sup[1][0]:.3g} / "
        f"{sup[1][-1]:.3g}. Dotted: M^-1/2 and M^-1 references through the Barlow Twins mean at M = {widths[0]}. "
        f"(B) Barlow Twins drift over training, mean over seeds, {len(recs[0]['t']) - 1} log-spaced records. "
        "Time t = lr × step."
    )
    add_caption(fig, caption)
    return fig, caption


# ---------------------------------------------------------------------------- F: kernel limit


def f_alignment_vs_width(*, fast: bool = False):
    """Finite networks approach the infinite-width kernel model under Barlow Twins (F; S App. E alignment).

    Same runs, widths and seeds as the check ``fleissner_kernel_limit``.  (A) 1 − a(P_net, P_kernel)
    at T, the relative embedding error at T and the sup-gap between loss curves vs width, log–log, seed
    means with fitted slopes, seeds faint.  (B) loss curves for the first seed: networks (solid) and the kernel model started from each
    network's initial outputs (dashed), coloured by width.

    Returns
    -------
    (matplotlib.figure.Figure, caption: str)
    """
    widths, seeds = (list(v) for v in wide.kernel_limit_widths_seeds(fast))
    run_defaults = setting_defaults(wide.standard_init_run)
    T, lr, d = run_defaults["T"], run_defaults["lr"], run_defaults["d"]
    gates = wide_checks.KERNEL_LIMIT_GATES
    runs = wide.kernel_limit_records(widths, seeds)  # shared with the check (run_grid)
    one_minus = np.array([[1.0 - runs[M, s]["alignment"] for s in seeds] for M in widths])
    gap = np.array([[runs[M, s]["loss_curve_gap"] for s in seeds] for M in widths])
    rel = np.array([[runs[M, s]["relative_embedding_error"] for s in seeds] for M in widths])
    # The check fits 1 − (seed mean of a), which equals the seed mean of 1 − a.
    mean_om, mean_gap, mean_rel = one_minus.mean(1), gap.mean(1), rel.mean(1)
    slope_om, slope_gap = loglog_slope(widths, mean_om), loglog_slope(widths, mean_gap)
    slope_rel = loglog_slope(widths, mean_rel)
    loo_gap, loo_rel = loo_slopes(widths, mean_gap), loo_slopes(widths, mean_rel)
    w = np.array(widths, dtype=float)

    fig = new_figure(11.5, 4.6)
    ax_a, ax_b = fig.subplots(1, 2)
    for vals, mean, slope, color, marker, label in (
            (one_minus, mean_om, slope_om, "C2", "o", r"$1 - a(P_{net}, P_{kernel})$ at T"),
            (rel, mean_rel, slope_rel, "C4", "^", r"$\|F_{net}(T) - F_{kernel}(T)\|_F / \|F_{kernel}(T)\|_F$"),
            (gap, mean_gap, slope_gap, "C1", "s", r"max$_t$ $|\mathcal{L}_{net}(t) - \mathcal{L}_{kernel}(t)|$")):
        for k in range(len(seeds)):
            ax_a.plot(w, vals[:, k], color=color, **{**FAINT, "marker": marker})
        ax_a.plot(w, mean, color=color, marker=marker, markersize=7, linewidth=1.6,
                  label=f"{label}: slope {slope:.2f}")
    for power, text, style in ((0.5, r"$M^{-1/2}$", REFERENCE), (1.0, r"$M^{-1}$", REFERENCE)):
        ref = mean_om[0] * (w / w[0]) ** -power
        ax_a.plot(w, ref, label=rf"reference $\propto${text}", **style)
        _label_reference(ax_a, w[-1], ref[-1], text)
    ax_a.set_xscale("log")
    ax_a.set_yscale("log")
    ax_a.set_xticks(widths)
    ax_a.set_xticklabels([str(m) for m in widths])
    ax_a.minorticks_off()
    ax_a.set_xlim(w[0] / 1.3, w[-1] * 1.9)
    # room below the data for the legend
    lo = min(one_minus.min(), mean_om[0] * (w[-1] / w[0]) ** -1.0)
    ax_a.set_ylim(lo / 40.0, 2.0 * max(gap.max(), rel.max()))
    ax_a.set_xlabel("width M")
    ax_a.set_ylabel("network vs kernel model (seed mean; seeds faint)")
    ax_a.set_title("Distance to the infinite-width kernel model")
    handles, _ = ax_a.get_legend_handles_labels()
    handles += style_handles([("single seeds (faint)", {"color": "0.5", **FAINT})])
    ax_a.legend(handles=handles, loc="lower left", fontsize=7.5, framealpha=0.9)
    ax_a.grid(alpha=0.25, which="both")
    panel_label(ax_a, "A")

    seed = seeds[0]
    colors = _width_colors(len(widths))
    for M, c in zip(widths, colors):
        r = runs[M, seed]
        keep = r["t"] > 0
        ax_b.plot(r["t"][keep], r["loss_net"][keep], color=c, label=f"M = {M}", **EXPERIMENT)
    for M, c in zip(widths, colors):
        r = runs[M, seed]
        keep = r["t"] > 0
        ax_b.plot(r["t"][keep], r["loss_kernel"][keep], color=c, **THEORY)
    ax_b.set_xscale("log")
    ax_b.set_xlabel("time t = lr × step (gradient-flow units)")
    ax_b.set_ylabel(r"loss $\mathcal{L} = \|C - I\|_F^2$")
    ax_b.set_title(f"Loss curves, seed {seed}")
    h_b, _ = ax_b.get_legend_handles_labels()
    h_b += style_handles([("network, GD (solid)", {"color": "0.3", **EXPERIMENT}),
                          ("kernel model Θ_relu (dashed)", {"color": "0.1", **THEORY})])
    ax_b.legend(handles=h_b, loc="lower left", fontsize=8, framealpha=0.9)
    ax_b.grid(alpha=0.25)
    panel_label(ax_b, "B")

    n2 = 2 * setting_defaults(wide.wide_data)["n"]
    caption = (
        "Finite networks approach the infinite-width kernel model (Fleissner et al., F) under Barlow Twins. "
        + _data_sentence() + " Network: two-layer ReLU, NTK parametrisation, all weights N(0, 1), d = "
        f"{d}; widths M = {', '.join(map(str, widths))}; init seeds {', '.join(map(str, seeds))}; full-batch GD "
        f"on the Barlow Twins loss, lr = {lr:g}, to T = {T:g} (the runs of the NTK-drift figure, plus M = "
        f"{widths[0]} and more seeds). Kernel model "
        "(theory, dashed): dF/dt = −(Θ ⊗ I_d)∇_F L(F) with Θ the analytic infinite-width ReLU NTK on the "
        f"{n2} inputs, started from each network's own initial outputs F(0) and integrated with diffrax Dopri8 "
        "(rtol 1e-8) at the network's record times. (A) Seed means (markers joined) and single seeds (faint) "
        f"of: 1 − subspace alignment a(P_net, P_kernel) of the embeddings at T (S App. E; chance level a ≈ "
        f"d/2n = {d / n2:.3f}), from {mean_om[0]:.2g} at M = {widths[0]} to {mean_om[-1]:.2g} at M = "
        f"{widths[-1]} (slope {slope_om:.2f}; 1 − a = mean sin² of the principal angles, so an O(M^-1/2) tilt of the "
        f"subspace shows as O(M^-1)); relative embedding error at T, {mean_rel[0]:.3g} to {mean_rel[-1]:.3g} "
        f"(slope {slope_rel:.2f}, leave one out {', '.join(f'{v:.2f}' for v in loo_rel)}); largest gap between "
        f"the loss curves, {mean_gap[0]:.3g} to {mean_gap[-1]:.3g} (slope {slope_gap:.2f}, leave one out "
        f"{', '.join(f'{v:.2f}' for v in loo_gap)}). Dotted: M^-1/2 and M^-1 references. The check "
        f"fleissner_kernel_limit passes if, at the widest network, the seed mean of the loss curve gap is < "
        f"{gates['loss_curve_gap']:g}, the embedding error < {gates['relative_embedding_error']:g} and a ≥ "
        f"{gates['alignment']:g}, and every leave one out slope of both the gap and the embedding error is ≤ "
        f"{gates['max_leave_one_out_slope']:g} (the kernel model of the NNGP kernel alone, Θ without its x·x' "
        f"term, keeps a large gap at every width and fails them). (B) Loss curves for seed {seed}: networks "
        "(solid) and their kernel models (dashed), coloured by width. Time t = lr × step."
    )
    add_caption(fig, caption)
    return fig, caption


# ---------------------------------------------------------------------------- S §5.2 special cases


def s_kernel_pca_special_case(*, fast: bool = False):
    """S §5.2 special cases: 𝒳 = 𝒳' gives (uncentred) kernel PCA; a two-pathway model still has a solution.

    (A) scatter of the KernelBarlowTwins embedding coordinates f_j(x_i) against √(2n) × the top-d
    eigenvectors of K̃ (numpy eigh), with the predicted line y = x; (B) |cosine| between embedding
    coordinates and eigenvectors (should be the identity); (C) two-pathway model (K_𝒳𝒳' = 0): the top
    eigenvalues of K_Γ against the singular values of K_𝒳𝒳^{1/2} K_𝒳'𝒳'^{1/2} / 2n.

    Returns
    -------
    (matplotlib.figure.Figure, caption: str)
    """
    r = kernel_experiments.special_cases_run(fast)  # the setups of kernel_pca_special_case
    n, D = r["n"], r["d"]
    F, V, signs = r["F"], r["V"], r["signs"]
    pred = np.sqrt(2 * n) * V * signs[None, :]
    max_dev = float(np.abs(F - pred).max())

    fig = new_figure(14.0, 4.4)
    ax_a, ax_b, ax_c = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.0, 0.85, 1.0]})
    colors = mode_colors(D)
    for j in range(D):
        ax_a.plot(pred[:, j], F[:, j], linestyle="none", marker="o", markersize=3.5, markerfacecolor="none",
                  markeredgecolor=colors[j], markeredgewidth=0.8, alpha=0.7)
    lim = 1.05 * max(np.abs(F).max(), np.abs(pred).max())
    ax_a.plot([-lim, lim], [-lim, lim], color="C3", **THEORY)
    ax_a.set_xlim(-lim, lim)
    ax_a.set_ylim(-lim, lim)
    ax_a.set_aspect("equal")
    ax_a.set_xlabel(r"kernel PCA: $\pm\sqrt{2n}\,(v_j)_i$, $v_j$ = eigenvector $j$ of $\tilde K$")
    ax_a.set_ylabel(r"KernelBarlowTwins embedding $f_j(x_i)$")
    ax_a.set_title(r"$\mathcal{X} = \mathcal{X}'$: embeddings = kernel PCA")
    ax_a.legend(handles=style_handles([
        (f"points i = 1..2n, modes j = 1..{D} (colour)", {"color": "0.3", "linestyle": "none", "marker": "o",
                                                         "markerfacecolor": "none"}),
        ("prediction y = x (dashed)", {"color": "C3", **THEORY}),
    ]), loc="upper left", fontsize=7.5, framealpha=0.9)
    ax_a.grid(alpha=0.25)
    panel_label(ax_a, "A")

    im = ax_b.imshow(np.abs(r["cos"]), vmin=0.0, vmax=1.0, cmap="Greys")
    ax_b.set_xticks(range(D))
    ax_b.set_xticklabels([str(k + 1) for k in range(D)], fontsize=7)
    ax_b.set_yticks(range(D))
    ax_b.set_yticklabels([str(j + 1) for j in range(D)], fontsize=7)
    ax_b.set_xlabel(r"eigenvector $k$ of $\tilde K$ (numpy eigh)")
    ax_b.set_ylabel(r"embedding coordinate $j$")
    ax_b.set_title(rf"$|\cos(f_j, v_k)|$;  $1 - a(P, P')$ {_small(1.0 - r['alignment'])}", fontsize=10)
    fig.colorbar(im, ax=ax_b, fraction=0.046, pad=0.04)
    panel_label(ax_b, "B")

    k = 2 * D
    ev = r["eigenvalues_two_pathway"]
    j = np.arange(1, k + 1)
    ax_c.plot(j, ev[:k], linestyle="none", marker="o", markersize=7, markerfacecolor="none", markeredgecolor="C0",
              markeredgewidth=1.3, label=r"top eigenvalues $\gamma_j$ of $K_\Gamma$ (KernelBarlowTwins)")
    ax_c.plot(j, r["singular_values"][:k], linestyle="none", marker="x", markersize=6, color="C3",
              label=r"singular values of $K_{\mathcal{XX}}^{1/2} K_{\mathcal{X'X'}}^{1/2}/2n$")
    ax_c.plot(j, -ev[::-1][:k], linestyle="none", marker=".", markersize=4, color="C2", zorder=5,
              label=r"$-$(bottom eigenvalues of $K_\Gamma$): $\pm$ pairs")
    ax_c.axvline(D + 0.5, color="0.5", linestyle=":", linewidth=1.0)
    ax_c.text(D + 0.7, 0.03, f"d = {D}", transform=ax_c.get_xaxis_transform(), fontsize=8, va="bottom",
              color="0.3")
    ax_c.set_yscale("log")
    ax_c.set_xlabel("index j")
    ax_c.set_ylabel("eigenvalue / singular value")
    ax_c.set_title(r"Two pathways, $K_{\mathcal{XX}'} = 0$ (RBF | linear)")
    ax_c.legend(loc="upper right", fontsize=7.5, framealpha=0.9)
    ax_c.grid(alpha=0.25, which="both")
    panel_label(ax_c, "C")

    rel_sv = float(np.max(np.abs(r["singular_values"][:D] - ev[:D]) / r["singular_values"][:D]))
    setup = setting_defaults(digits_setup)
    caption = (
        "Special cases of kernelised Barlow Twins (Simon et al. §5.2), same setups as the check "
        f"kernel_pca_special_case ({'fast' if fast else 'full'} mode). Data: scikit-learn digits, n = {n} images "
        f"(seed {setup['seed']}), two random {setup['crop_size']}×{setup['crop_size']} crops each, centred (m = 49); "
        f"d = {D}; no training and no seeds beyond the data. (A, B) X = X' (both views = the first crops), RBF "
        "kernel exp(−‖a − b‖²/m): then K_Γ = K̃/2n and S24 reduces to uncentred kernel PCA. A: every "
        f"coordinate f_j(x_i) of the KernelBarlowTwins training embeddings (U = I; 2n × d = {2 * n * D} points) "
        "against the top-d eigenvectors v_j of K̃ from numpy.linalg.eigh, scaled by √(2n) (C = FᵀF/2n = I fixes "
        f"the norm) with the sign of each v_j matched; dashed: the prediction y = x; largest deviation "
        f"{max_dev:.1e}. B: |cosine| between embedding coordinate j and eigenvector k; subspace alignment "
        f"(S App. E) 1 − a(P, P') {_small(1.0 - r['alignment'])}; top eigenvalues of K̃: "
        f"{', '.join(f'{e:.3g}' for e in r['eigvals_K_tilde'][:4])}, …, λ_{D} = {r['eigvals_K_tilde'][D - 1]:.3g}, "
        f"λ_{D + 1} = {r['eigvals_K_tilde'][D]:.3g}. (C) Two-pathway (CLIP-like) model: RBF kernel on X, linear "
        f"kernel on X', no shared parameters, so K_XX' = 0 (largest entry {r['two_pathway_cross_block_max']:g}). "
        f"Circles: top {k} eigenvalues of K_Γ (KernelBarlowTwins); dots: the negated bottom {k} (the spectrum "
        f"comes in ± pairs); crosses: the singular values of K_XX^{{1/2}} K_X'X'^{{1/2}}/2n — the canonical "
        f"correlations of the two pathways — computed separately by SVD; largest relative difference over "
        f"j ≤ d: {rel_sv:.1e}. The d = {D} embeddings have Barlow Twins loss {r['two_pathway_loss']:.1e} on the "
        "training pairs: zero loss without shared weights."
    )
    add_caption(fig, caption)
    return fig, caption
