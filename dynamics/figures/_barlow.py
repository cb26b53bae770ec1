"""Figures of Simon et al., *On the Stepwise Nature of SSL*: Fig 1 A–B, Fig 6 (App. C), Fig 8 (App. F).

J. B. Simon, M. Knutins, L. Ziyin, D. Geisz, A. J. Fetterman, J. Albrecht, ICML 2023 (arXiv:2303.15438).
Data, sizes, seeds and the training run are those of :mod:`dynamics.experiments.stepwise`, which the
checks of :mod:`dynamics.theorems.barlow_checks` use too.
"""

from __future__ import annotations

import inspect

import jax.numpy as jnp
import numpy as np
from matplotlib import colormaps

from .. import barlow
from .._integrate import SolverConfig, integrate
from ..experiments.stepwise import STEPWISE_SIGMA, D, appendix_c_setup, digits_setup, digits_small_init_run
from ._common import EXPERIMENT, THEORY, add_caption, new_figure, panel_label, style_handles

FIG1_SIGMA = STEPWISE_SIGMA  # the run of the stepwise-loss check (s20_stepwise_loss)


def setting_defaults(func) -> dict:
    """Default keyword values of ``func`` (unwrapping ``lru_cache``) so captions state the real settings."""
    sig = inspect.signature(getattr(func, "__wrapped__", func))
    return {k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}


def mode_colors(k: int, cmap: str = "viridis"):
    return colormaps[cmap](np.linspace(0.0, 0.9, k))


def fmt_e(x: float) -> str:
    mant, exp = f"{x:.0e}".split("e")
    return f"{mant}e{int(exp)}" if mant != "1" else f"1e{int(exp)}"


# ---------------------------------------------------------------------------- Fig 1 A–B


def s_fig1_stepwise(*, fast: bool = False):
    """S Fig 1 A–B: stepwise loss and embedding eigenvalues of linear Barlow Twins from small init.

    Experiment: the reference trainer (full-batch GD on the loss of the
    embeddings) on built-in digits pairs, ``digits_small_init_run(1e-6)`` —
    the same cached run that ``verify`` checks.  Theory: (A) the loss of the
    predicted trajectory W*(t) of Result 4.6 (``small_init_prediction``), the
    step function S20 with the S21 initial values, and the critical times S16;
    (B) λ_j(t) = γ_j s_j*(t)² from S10 with the effective initial singular
    values S19.

    ``fast`` only thins the theory time grid; the training run is the same.

    Returns
    -------
    (matplotlib.figure.Figure, caption: str)
    """
    x, _, Gamma = digits_setup()
    n, m = x.shape
    setup = setting_defaults(digits_setup)
    run = setting_defaults(digits_small_init_run)
    W0, hist = digits_small_init_run(FIG1_SIGMA)
    gammas, _ = barlow.spectrum(Gamma)
    g = gammas[:D]

    keep = hist.t > 0  # log-x axis
    t_exp, loss_exp, eig_exp = hist.t[keep], hist.loss[keep], hist["eigenvalues"][keep]
    t_th = np.geomspace(t_exp[0], t_exp[-1], 120 if fast else 600)

    W_star = barlow.small_init_prediction(W0, Gamma, t_th)
    loss_th = np.array([barlow.loss(W, Gamma) for W in W_star])
    s_S21 = barlow.random_init_singular_values(D, FIG1_SIGMA)
    tau = barlow.critical_times(g, s_S21)
    loss_step = barlow.stepwise_loss(t_th, g, s_S21)
    s_eff = barlow.effective_initial_singular_values(W0, Gamma)
    eig_th = g[None, :] * barlow.aligned_singular_values(t_th, g, s_eff) ** 2
    # The loss sits at d for t << τ_1; start the axis a decade before τ_1 (the data start at t = lr).
    t_lo = max(t_exp[0], tau.min() / 10.0)

    fig = new_figure(11.0, 4.3)
    ax_a, ax_b = fig.subplots(1, 2)

    ax_a.plot(t_exp, loss_exp, color="k", label="experiment: GD loss", **EXPERIMENT)
    ax_a.plot(t_th, loss_th, color="C3", label="theory: loss of W*(t) (Result 4.6, S10)", **THEORY)
    ax_a.plot(t_th, loss_step, color="C0", linestyle=":", linewidth=1.6,
              label="step function S20, s_j(0) from S21")
    ax_a.vlines(tau, 0.93, 1.0, transform=ax_a.get_xaxis_transform(), color="C0", linewidth=1.2,
                label=r"critical times $\tau_j$ (S16)")
    ax_a.set_xscale("log")
    ax_a.set_xlim(t_lo, t_exp[-1] * 1.3)
    ax_a.set_ylim(-0.3, D + 1.2)
    ax_a.set_yticks(range(0, D + 1, 2))
    ax_a.set_xlabel("time t = lr × step (gradient-flow units)")
    ax_a.set_ylabel(r"loss $\mathcal{L} = \|C - I\|_F^2$")
    ax_a.set_title("Loss drops by one per learned mode")
    ax_a.legend(loc="lower left", fontsize=8, framealpha=0.9)
    ax_a.grid(alpha=0.25, which="major")
    panel_label(ax_a, "A")

    colors = mode_colors(D)
    for j in range(D):
        ax_b.plot(t_exp, eig_exp[:, j], color=colors[j], **EXPERIMENT)
    for j in range(D):
        ax_b.plot(t_th, eig_th[:, j], color=colors[j], **THEORY)
    ax_b.set_xscale("log")
    ax_b.set_xlim(t_lo, t_exp[-1] * 1.3)
    ax_b.set_ylim(-0.05, 1.12)
    ax_b.set_xlabel("time t = lr × step (gradient-flow units)")
    ax_b.set_ylabel(r"eigenvalues $\lambda_j$ of $C$ (dimensionless)")
    ax_b.set_title("Embedding eigenvalues are learned one at a time")
    handles = style_handles([
        ("experiment: eig(C) during GD", {"color": "0.3", **EXPERIMENT}),
        (r"theory: $\gamma_j s_j^*(t)^2$ (S10, $s_j^*(0)$ from S19)", {"color": "0.1", **THEORY}),
    ])
    ax_b.legend(handles=handles, loc="upper left", fontsize=8, framealpha=0.9)
    ax_b.text(0.03, 0.5, "colour: mode j = 1 (dark)\n… j = 10 (light)", transform=ax_b.transAxes, ha="left",
              va="center", fontsize=8, color="0.25")
    ax_b.grid(alpha=0.25, which="major")
    panel_label(ax_b, "B")

    caption = (
        "S Fig 1 A–B (Simon et al. §4.4), reproduced on built-in data. Data: scikit-learn digits, "
        f"n = {n} images drawn with seed {setup['seed']}, two random {setup['crop_size']}×{setup['crop_size']} "
        f"crops each, centred (m = {m}). Model f(x) = Wx, d = {D}, W(0) i.i.d. N(0, σ²) with σ = "
        f"{fmt_e(FIG1_SIGMA)}, init seed {run['seed']}. Experiment (solid): full-batch gradient descent on the "
        f"Barlow Twins loss of the embeddings (λ = 1, no batch norm), lr = {hist.lr:g}, {int(hist.step[-1]):,} "
        f"steps, {int(keep.sum())} log-spaced records. Theory (dashed): (A) loss of the predicted trajectory "
        "W*(t) of Result 4.6 (alignment transform of W(0), singular values from S10); (B) λ_j(t) = γ_j s_j*(t)² "
        "with the effective initial singular values s_j*(0) of S19. Dotted (A): step function S20, "
        "L(t) ≈ #{j : τ_j > t}, with critical times τ_j of S16 (ticks at the top) and s_j(0) ≈ σ√(d − j + 1) "
        f"(S21); top-{D} γ_j of Γ from {g[0]:.3f} to {g[-1]:.3f}. Time t = lr × step; the axes start at τ_1/10 "
        "(the loss is flat at d from the first step)."
    )
    add_caption(fig, caption)
    return fig, caption


# ---------------------------------------------------------------------------- Fig 6 (App. C)

# the setup of ``check_appendix_c``: d = 3, m = 5, α = 1e-9, seed 3
FIG6_D, FIG6_M, FIG6_ALPHA, FIG6_SEED = (setting_defaults(appendix_c_setup)[k] for k in ("d", "m", "alpha", "seed"))
# scipy's DOP853 here, while ``check_appendix_c`` integrates with diffrax Dopri8: the figure is then a second,
# independent integration of S45 (and needs no multi-second compilation).
FIG6_ODE_OPTIONS = {"backend": "scipy", "solver": "DOP853", "rtol": 1e-11, "atol": 1e-30}


def appendix_c_init(d: int = FIG6_D, m: int = FIG6_M, alpha: float = FIG6_ALPHA, seed: int = FIG6_SEED):
    """A(0) and γ of S Fig 6, built by the same function as ``check_appendix_c``
    (:func:`dynamics.experiments.stepwise.appendix_c_setup`)."""
    return appendix_c_setup(d, m, alpha, seed)


def s_fig6_appendix_c(*, fast: bool = False):
    """S Fig 6: entries of A(t) from an upper-triangular small init, integrated S45 vs S47–S48.

    d = 3, m = 5, γ_j = 2^{-j}, A(0) upper-triangular of scale 1e-9 (seed 3).
    (A) s_j(t) = a_jj(t); (B) |a_jk(t)| for j ≠ k, log-y.  Solid: S45 integrated
    (``appendix_c_flow``, scipy DOP853 — the check uses diffrax); dashed: S47–S48 (``appendix_c_solution``); S48 sets
    a_jk = 0 for j > k, so those entries have no dashed curve.

    Returns
    -------
    (matplotlib.figure.Figure, caption: str)
    """
    d, m = FIG6_D, FIG6_M
    A0, gammas = appendix_c_init()
    tau4 = 4.0 * barlow.critical_times(gammas[:d], np.diag(A0))  # S16 in the rescaled time of S45
    t_end = 1.4 * tau4.max()
    t = np.linspace(0.0, t_end, 150 if fast else 600)
    A_flow = barlow.appendix_c_flow(A0, gammas, t, **FIG6_ODE_OPTIONS)
    A_th = barlow.appendix_c_solution(A0, gammas, t)
    t, A_flow, A_th = t[1:], A_flow[1:], A_th[1:]  # A(0) has exact zeros (log-y)
    inner = [(j, k) for j in range(d) for k in range(j + 1, d)]  # j < k <= d: S48 until mode k grows
    final_ratio = [abs(A_flow[-1, j, k] / A_th[-1, j, k]) for j, k in inner]
    worst_off = float(np.abs(A_flow[:, ~np.eye(d, m, dtype=bool)]).max())

    fig = new_figure(11.0, 4.5)
    ax_a, ax_b = fig.subplots(1, 2)
    reds = colormaps["Reds"](np.linspace(0.5, 0.95, d))
    for j in range(d):
        label = rf"$s_{j + 1}$ ($\gamma_{j + 1} = 2^{{-{j + 1}}}$)"
        ax_a.plot(t, np.abs(A_flow[:, j, j]), color=reds[j], label=label, **EXPERIMENT)
        ax_a.plot(t, np.abs(A_th[:, j, j]), color=reds[j], **THEORY)
    ax_a.vlines(tau4, 0.93, 1.0, transform=ax_a.get_xaxis_transform(), color="0.3", linewidth=1.2)
    ax_a.set_yscale("log")
    ax_a.set_xlabel("rescaled time t (S45: t = 4 × gradient-flow time)")
    ax_a.set_ylabel(r"$|s_j(t)| = |a_{jj}(t)|$")
    ax_a.set_title("Diagonal: singular values")
    h_a = ax_a.get_legend_handles_labels()[0]
    h_a += style_handles([("integrated S45 (solid)", {"color": "0.3", **EXPERIMENT}),
                          ("S47 (dashed)", {"color": "0.1", **THEORY}),
                          (r"$4\tau_j$ (S16, ticks)", {"color": "0.3", "linewidth": 1.2})])
    ax_a.legend(handles=h_a, loc="lower right", fontsize=8, framealpha=0.9)
    ax_a.grid(alpha=0.25)
    panel_label(ax_a, "A")

    upper = [(j, k) for j in range(d) for k in range(m) if k > j]
    lower = [(j, k) for j in range(d) for k in range(m) if k < j]
    blues = colormaps["Blues"](np.linspace(0.45, 0.95, len(upper)))
    greens = colormaps["Greens"](np.linspace(0.5, 0.95, len(lower)))
    for c, (j, k) in zip(blues, upper):
        ax_b.plot(t, np.abs(A_flow[:, j, k]), color=c, **EXPERIMENT)
        ax_b.plot(t, np.abs(A_th[:, j, k]), color=c, **THEORY)
    for c, (j, k) in zip(greens, lower):
        ax_b.plot(t, np.abs(A_flow[:, j, k]), color=c, **EXPERIMENT)
    ax_b.set_yscale("log")
    lo = max(np.abs(A_flow[:, [j for j, _ in lower], [k for _, k in lower]]).min(), 1e-40)
    ax_b.set_ylim(bottom=lo / 10)
    ax_b.set_xlabel("rescaled time t (S45: t = 4 × gradient-flow time)")
    ax_b.set_ylabel(r"$|a_{jk}(t)|$, $j \neq k$")
    ax_b.set_title("Off-diagonal entries stay small")
    ax_b.legend(handles=style_handles([
        (r"$a_{jk}$, $j<k$: integrated S45", {"color": blues[-3], **EXPERIMENT}),
        (r"$a_{jk}$, $j<k$: S48", {"color": blues[-3], **THEORY}),
        (r"$a_{jk}$, $j>k$: integrated S45 (S48: 0)", {"color": greens[-2], **EXPERIMENT}),
    ]), loc="lower right", fontsize=8, framealpha=0.9)
    ax_b.grid(alpha=0.25)
    panel_label(ax_b, "B")

    caption = (
        f"S Fig 6 (Simon et al. App. C). A(t) in W(t) = U A(t) Γ^(≤m) for d = {d}, m = {m}, γ_j = 2^-j, "
        f"A(0) upper-triangular with entries {fmt_e(FIG6_ALPHA)} × U(0.5, 1.5), seed {FIG6_SEED} (no data, no "
        "training). Solid: the unapproximated dynamics dA/dt = (I − AΛAᵀ)AΛ (S45) integrated with scipy DOP853 "
        "(rtol 1e-11, atol 1e-30; the registered check uses diffrax Dopri8); dashed: the small-init solution "
        "S47 (diagonal, A) and S48 (j < k, B). "
        "S48 predicts a_jk = 0 for j > k: green curves have no dashed partner and stay tiny. For j < k ≤ d, S48 "
        "holds until mode k starts to grow; then the coupling dropped in S46 lifts the true a_jk to "
        f"{min(final_ratio):.2f}–{max(final_ratio):.2f}× the S48 value by the end, still small (largest "
        f"off-diagonal |a_jk| over the run: {worst_off:.1e}). Time: the rescaled time of S45 "
        f"(4 × gradient-flow time), {len(t)} points on a linear grid; ticks in "
        "A mark 4τ_j (S16)."
    )
    add_caption(fig, caption)
    return fig, caption


# ---------------------------------------------------------------------------- Fig 8 (App. F)

FIG8_GAMMAS = (1.0, 0.5, 0.25)
FIG8_INIT = 1e-3
FIG8_TARGET = 1.0
# scipy's DOP853 through the package's integrator wrapper: for a 6-dimensional state it is as accurate as
# diffrax and avoids a second multi-second compilation.
FIG8_ODE = SolverConfig(backend="scipy", solver="DOP853", rtol=1e-10, atol=1e-14)  # independent of the S10 closed form


def _ssl_field(t, y, gammas):
    """S12 in s̄ = γ^{1/2} s: ds̄/dt = 4γ (1 − s̄²) s̄."""
    return 4.0 * gammas * (1.0 - y**2) * y


def _supervised_field(t, y, args):
    """Linearised supervised learning of one eigenmode: dc̄/dt = 4γ (c̄* − c̄)."""
    gammas, target = args
    return 4.0 * gammas * (target - y)


def s_fig8_symmetry_breaking(*, fast: bool = False):
    """S Fig 8 A–D: SSL is symmetry breaking (double well), supervised learning is not (single well).

    (A) L(s̄) = (1 − s̄²)²; (B) L(c̄) = (c̄* − c̄)², c̄* = 1; (C) s̄_j(t) = γ_j^{1/2} s_j(t)
    from s̄(0) = ±1e-3 by the closed form S10 (``aligned_singular_values``,
    dashed) and by integrating S12 numerically (markers); (D) dc̄/dt = 4γ_j (c̄* − c̄)
    — the same linear rate 4γ_j as S12 near the origin — closed form (dashed)
    and integrated (markers).

    Returns
    -------
    (matplotlib.figure.Figure, caption: str)
    """
    g = np.array(FIG8_GAMMAS)
    signs = np.array([1.0, -1.0])
    tau = -np.log(FIG8_INIT) / (4.0 * g)  # App. F escape time
    t_end = 2.0 * tau.max()
    t = np.linspace(0.0, t_end, 200 if fast else 800)
    t_mark = np.linspace(0.0, t_end, 19 if fast else 31)

    # (C) closed form: s = s̄ / γ^{1/2} follows S10; negative s(0) mirrors the trajectory.
    g_rep = np.repeat(g, 2)  # order: (γ1, +), (γ1, −), (γ2, +), ...
    sbar0 = np.tile(signs * FIG8_INIT, len(g))
    sbar_cf = np.sqrt(g_rep)[None, :] * barlow.aligned_singular_values(t, g_rep, sbar0 / np.sqrt(g_rep))
    sbar_ode = integrate(_ssl_field, jnp.asarray(sbar0), t_mark, jnp.asarray(g_rep), config=FIG8_ODE)
    # (D) closed form of the linear ODE, c̄(t) = c̄* + (c̄(0) − c̄*) e^{−4γt}.
    cbar_cf = FIG8_TARGET + (sbar0[None, :] - FIG8_TARGET) * np.exp(-4.0 * g_rep[None, :] * t[:, None])
    cbar_ode = integrate(_supervised_field, jnp.asarray(sbar0), t_mark,
                         (jnp.asarray(g_rep), jnp.asarray(FIG8_TARGET)), config=FIG8_ODE)

    fig = new_figure(10.0, 7.2)
    (ax_a, ax_b), (ax_c, ax_d) = fig.subplots(2, 2)

    s = np.linspace(-1.6, 1.6, 400)
    ax_a.plot(s, (1 - s**2) ** 2, color="k", linewidth=2)
    ax_a.plot([-1, 1], [0, 0], "o", color="C2", markersize=7, label="minima s̄ = ±1")
    ax_a.plot([0], [1], "^", color="C3", markersize=7, label="unstable point s̄ = 0 (small init)")
    ax_a.set_xlabel(r"$\bar s_j = \gamma_j^{1/2} s_j$")
    ax_a.set_ylabel(r"modewise loss $(1 - \bar s_j^2)^2$")
    ax_a.set_title("SSL (Barlow Twins): double well")
    ax_a.set_ylim(-0.1, 2.6)
    ax_a.legend(loc="upper center", fontsize=8)
    panel_label(ax_a, "A")

    c = np.linspace(1 - 1.6, 1 + 1.6, 400)
    ax_b.plot(c, (FIG8_TARGET - c) ** 2, color="k", linewidth=2)
    ax_b.plot([FIG8_TARGET], [0], "o", color="C2", markersize=7, label=r"minimum $\bar c_j = \bar c^* = 1$")
    ax_b.plot([0], [FIG8_TARGET**2], "^", color="C3", markersize=7, label=r"small init $\bar c_j \approx 0$")
    ax_b.set_xlabel(r"$\bar c_j = \gamma_j c_j$")
    ax_b.set_ylabel(r"modewise loss $(\bar c^* - \bar c_j)^2$")
    ax_b.set_title("Supervised (linearised): single well")
    ax_b.set_ylim(-0.1, 2.6)
    ax_b.legend(loc="upper center", fontsize=8)
    panel_label(ax_b, "B")

    colors = ["C0", "C1", "C4"]
    for ax, cf, ode in ((ax_c, sbar_cf, sbar_ode), (ax_d, cbar_cf, cbar_ode)):
        for i in range(len(g_rep)):
            col = colors[i // 2]
            label = rf"$\gamma_j$ = {g_rep[i]:g}" if i % 2 == 0 else None
            ax.plot(t, cf[:, i], color=col, label=label, **THEORY)
        for i in range(len(g_rep)):
            col = colors[i // 2]
            ax.plot(t_mark, ode[:, i], linestyle="none", marker="o" if i % 2 == 0 else "s", markersize=4.5,
                    markerfacecolor="none", markeredgecolor=col, markeredgewidth=1.1)
        ax.axhline(0, color="0.6", linewidth=0.8)
        ax.set_xlabel("gradient-flow time t (= lr × step)")
        ax.set_ylim(-1.2, 1.2)
        ax.grid(alpha=0.25)
    for tj, col in zip(tau, colors):
        ax_c.axvline(tj, color=col, linestyle=":", linewidth=1.0)
    ax_c.set_ylabel(r"$\bar s_j(t)$")
    ax_c.set_title(r"SSL: plateau, then a step to $\pm 1$")
    ax_d.set_ylabel(r"$\bar c_j(t)$")
    ax_d.set_title("Supervised: immediate growth, no plateau")
    tau_entry = [(r"escape time $\tau_j$ (dotted)", {"color": "0.2", "linestyle": ":", "linewidth": 1.0})]
    for ax, loc, extra in ((ax_c, "center right", tau_entry), (ax_d, "lower right", [])):
        marks = style_handles([
            ("closed form (dashed)", {"color": "0.2", **THEORY}),
            ("integrated ODE, + init (○)", {"color": "0.2", "linestyle": "none", "marker": "o",
                                            "markerfacecolor": "none"}),
            ("integrated ODE, − init (□)", {"color": "0.2", "linestyle": "none", "marker": "s",
                                            "markerfacecolor": "none"}),
            *extra,
        ])
        h, _ = ax.get_legend_handles_labels()
        ax.legend(handles=h + marks, loc=loc, fontsize=7.5, framealpha=0.9)
    panel_label(ax_c, "C")
    panel_label(ax_d, "D")

    caption = (
        "S Fig 8 A–D (Simon et al. App. F): SSL is symmetry breaking, supervised learning is not. No data and no "
        "training: single-mode dynamics. (A) Barlow Twins modewise loss in s̄_j = √γ_j s_j, (1 − s̄_j²)² (S14), "
        "a double well. (B) Linearised supervised analogue (c̄* − c̄_j)² with c̄_j = γ_j c_j, c̄* = 1, a single well. "
        f"(C) s̄_j(t) for γ_j = {', '.join(f'{x:g}' for x in g)} from s̄_j(0) = ±{fmt_e(FIG8_INIT)}: dashed = closed "
        "form S10 (aligned_singular_values, s_j(0) = s̄_j(0)/√γ_j; a negative start mirrors the trajectory), "
        "markers = S12, ds̄/dt = 4γ_j(1 − s̄²)s̄, integrated numerically "
        f"({FIG8_ODE.backend} {FIG8_ODE.solver} through dynamics._integrate, rtol {FIG8_ODE.rtol:g}, atol "
        f"{FIG8_ODE.atol:g}) — an independent check. Dotted: escape times "
        "τ_j = −log|s̄_j(0)|/(4γ_j). (D) Supervised learning of mode j "
        "normalised to the same linear rate 4γ_j as S12 near the origin: dc̄/dt = 4γ_j(c̄* − c̄), closed form "
        "c̄(t) = c̄* + (c̄(0) − c̄*) exp(−4γ_j t) (dashed) and integrated (markers), from the same c̄(0) = ±"
        f"{fmt_e(FIG8_INIT)}. Plateaus in C, none in D; both signs reach +1 in D. Time: gradient-flow time "
        "(= lr × step for gradient descent); no seeds involved."
    )
    add_caption(fig, caption)
    return fig, caption
