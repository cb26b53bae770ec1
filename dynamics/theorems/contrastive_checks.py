"""Checks for wide contrastive networks: NTK under dot product vs cosine similarity, and PCA (Anil et al., "A").

One network (two-layer, NTK parametrisation, ``dynamics.networks``; a 3-hidden-layer one for Fig 5),
one loss (A1, ``dynamics.contrastive``), one trainer (``dynamics.trainer.gradient_descent`` via
``dynamics.contrastive.train_contrastive``), one NTK module (``dynamics.ntk``).  Data: the built-in
8×8 digits (random crops) as anchors, a second crop as the positive, a crop of another random
image as the negative (A's MNIST setup, smaller).  The data, sizes, seeds, learning rates and runs
are those of :mod:`dynamics.experiments.contrastive`, shared with the A figures; the gates (slope
windows, slacks, margins) are declared here.

What these checks can and cannot show: A's statements are about width → ∞ (and "w.h.p."); here
each is a trend over a sweep of at least four finite widths, at fixed times, on a small data set.
Trends are gated on windows for the fitted slopes with every width left out in turn
(:func:`dynamics.linalg.loo_slopes`), and where a rate is predicted (the dot product's overflow time) on the
predicted rate.  Prop 10 and Prop 18 are checked directly (closed form vs GD, exact equality).
Each check is a private function ``_check_x(fast, *, ingredient=...)`` called by the registered
check with the right ingredient; ``tests/test_check_mutations_contrastive.py`` passes a wrong one
through the registry (``get_check(name).evaluate(True, ingredient=...)``) and sees it fail.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import contrastive, networks, ntk, trainer
from ..experiments.contrastive import (
    DOT_EARLY_T,
    DOT_T_MAX,
    GRASS_LR,
    LEMMA9_LR,
    LEMMA9_N,
    LEMMA9_STEPS,
    LEMMA16_T_FIX,
    NTK_LR,
    NTK_T,
    cv_drifts,
    deep_cosine_ntk_changes,
    deep_dot_overflows,
    deep_setup,
    digit_triplets,
    downstream_accuracies,
    downstream_setup,
    early_dot_changes,
    grass_setup,
    grassmann_train,
    lemma9_difference,
    lemma9_differences,
    lemma9_widths,
    ntk_change_runs,
    ntk_widths,
    pca_representation_differences,
)
from ..linalg import loglog_slope, loo_slopes
from ._registry import Outcome, register


def _window_distance(values, window):
    """max_i |v_i − centre| of a window (lo, hi); <= half-width iff every value lies in the window (NaN: inf)."""
    lo, hi = window
    v = np.asarray(values, float)
    if v.size == 0 or not np.all(np.isfinite(v)):
        return float("inf")
    return float(np.max(np.abs(v - 0.5 * (lo + hi))))


def _half_width(window):
    return 0.5 * (window[1] - window[0])


# ---------------------------------------------------------------------------- Lemma 9, Fig 1

LEMMA9_SLOPE_WINDOW = (-1.0, -0.35)  # log–log slope of the GD-vs-Lemma-9 difference in M (theory: −1/2)


def _check_lemma9(fast: bool, *, kernel_fn=None) -> Outcome:
    widths, seeds = lemma9_widths(fast)
    if kernel_fn is None:  # every width × seed point in one sweep (on the executor, if one is set)
        runs = lemma9_differences(widths, seeds)
        per_seed = [[runs[M, s] for s in seeds] for M in widths]
    else:  # a replaced kernel cannot name a stored point: computed here
        per_seed = [[lemma9_difference(M, s, kernel_fn=kernel_fn) for s in seeds] for M in widths]
    diffs = [float(np.mean(row)) for row in per_seed]
    slope = loglog_slope(widths, diffs)
    loo = loo_slopes(widths, diffs)
    decreasing = bool(np.all(np.diff(diffs) < 0))
    metric = _window_distance(loo, LEMMA9_SLOPE_WINDOW)
    details = {"widths": widths, "seeds": seeds, "max_fractional_difference": diffs,
               "max_fractional_difference_per_seed": per_seed, "loglog_slope": slope,
               "leave_one_out_slopes": loo, "slope_window": LEMMA9_SLOPE_WINDOW, "decreasing": decreasing,
               "T": LEMMA9_LR * LEMMA9_STEPS, "lr": LEMMA9_LR, "n_anchors": LEMMA9_N,
               "kernel": "NTK at init" if kernel_fn is None else repr(kernel_fn)}
    return Outcome(metric, conditions={"decreasing_with_width": decreasing}, details=details)


@register("a_lemma9_ntk_dynamics", paper="A", reference="A Lemma 9, Fig 1",
          description="frozen-NTK function-space dynamics (Lemma 9) approach GD as width grows (cosine)",
          compares="frozen-NTK function-space flow vs GD (cosine), widths 64–4096 (full to 16384), 2 seeds "
                   "(3 full)",
          tolerance=_half_width(LEMMA9_SLOPE_WINDOW), sense="<",
          gate="every leave-one-out slope in [−1, −0.35] (metric: largest distance from the centre, < 0.325); "
               "difference decreasing at every width step (decreasing_with_width)")
def check_lemma9(fast: bool = True, **ingredients) -> Outcome:
    """N = Z = 10 anchors with one positive and one negative each (30 inputs), cosine similarity
    (δ = 0.01), linear l, 500 GD steps at lr 0.01 (A Fig 1: 500 epochs), vs Lemma 9's ODE
    dF/dt = −K(0) ∇_F L with the full (30, 30, 10, 10) empirical NTK at init.  Quantity: the
    seed-averaged (2 seeds; full: 3) max fractional output difference at T = 5, widths 64–4096
    (full: to 16384).  Pass if it decreases with every width step and the log–log slope fitted with
    each width left out in turn lies in [−1, −0.35] for every left-out width (the lazy-training
    error is O(M^{-1/2}); measured about −0.55 to −0.9).  Metric: the largest distance of those
    slopes from the window centre −0.675 (tolerance 0.325).

    Can detect: a frozen kernel that is off by a constant factor (NTK × 1.1 gives a difference that
    stops shrinking, slope ≈ −0.1) or the NTK of a fixed other width, i.e. a flow that does not
    converge to GD.  Cannot detect: errors that vanish as M^{-1/2} or faster (e.g. the NTK of an
    independent network of the same width), nor anything about T ≫ 5."""
    return _check_lemma9(fast, **ingredients)


# ---------------------------------------------------------------------------- Prop 10


PROP10_C = 2.0  # data constant of the constructed triplets
PROP10_EPS = 0.002  # GD must overflow inside ((1 − ε) t̄, (1 + ε) t̄]


def _pq_observers():
    return {"P": lambda p: jnp.mean(p["V"] ** 2 + p["W"] ** 2), "S": lambda p: jnp.mean(p["V"] * p["W"])}


def prop10_run(M: int, lr: float, eps: float = PROP10_EPS, n_records: int = 60, blowup_time_fn=None):
    """GD on the D = Z = 1 linear network with the dot-product triplet loss, vs Prop 10's closed form.

    Returns a dict: t̄ (from ``blowup_time_fn(P0, S0, C)``, default ``contrastive.blowup_time``), log M,
    the max relative error of P(t) against ``contrastive.prop10_P`` up to 0.9 t̄, P at (1 − ε) t̄ (inf if
    GD overflowed before), and the time at which GD overflows (first non-finite step) when continued to
    (1 + ε) t̄ (inf if it does not; then P there).
    """
    return dict(_prop10_run(int(M), float(lr), float(eps), int(n_records), blowup_time_fn))


@functools.cache
def _prop10_run(M, lr, eps, n_records, blowup_time_fn):
    d = contrastive.prop10_data(PROP10_C)
    C = contrastive.data_constant(d)
    params = networks.init_two_layer(1, M, 1, seed=M)
    P0, S0 = contrastive.prop10_invariants(params["V"], params["W"])
    tbar = float((blowup_time_fn or contrastive.blowup_time)(P0, S0, C))
    n_track = int(0.9 * tbar / lr)
    n_pre = int((1 - eps) * tbar / lr)
    n_end = int(np.ceil((1 + eps) * tbar / lr))
    kw = {"similarity": "dot", "activation": "linear", "record_outputs": False, "observers": _pq_observers()}
    out = {"tbar": tbar, "log_M": float(np.log(M)), "P0": P0, "S0": S0, "C": C, "rel_err_to_0.9tbar": np.inf,
           "P_at_(1-eps)tbar": np.inf, "t_overflow": np.inf, "P_at_(1+eps)tbar": np.inf}
    done, p = 0, params
    try:  # to (1 − ε) t̄ recording P up to 0.9 t̄ (lost if GD overflows before), then on to (1 + ε) t̄
        steps = np.unique(np.concatenate([np.linspace(0, n_track, n_records).astype(int), [n_pre]]))
        p, hist = contrastive.train_contrastive(p, d, lr=lr, n_steps=n_pre, record_steps=steps, **kw)
        track = hist.step <= n_track
        P_theory = contrastive.prop10_P(hist.t[track], P0, S0, C)
        out["rel_err_to_0.9tbar"] = float(np.max(np.abs(hist["P"][track] / P_theory - 1.0)))
        out["P_at_(1-eps)tbar"] = float(hist["P"][-1])
        done = n_pre
        n_post = n_end - done
        _, hist = contrastive.train_contrastive(p, d, lr=lr, n_steps=n_post, record_steps=np.array([0, n_post]), **kw)
        out["P_at_(1+eps)tbar"] = float(hist["P"][-1])
    except trainer.NonFiniteError as err:
        out["t_overflow"] = (done + err.step) * lr
    return out


def _check_prop10(fast: bool, *, blowup_time_fn=None) -> Outcome:
    lr, eps = 1e-5, PROP10_EPS
    widths = [10, 30, 100, 300] if fast else [10, 100, 1000, 10000]
    runs = [prop10_run(M, lr, eps, blowup_time_fn=blowup_time_fn) for M in widths]
    err = max(r["rel_err_to_0.9tbar"] for r in runs)
    ratio = [r["t_overflow"] / r["tbar"] for r in runs]
    blows = all(r["P_at_(1-eps)tbar"] < 1e6 and 1 - eps < q <= 1 + eps for r, q in zip(runs, ratio))
    details = {"widths": widths, "lr": lr, "eps": eps, "runs": runs, "t_overflow_over_tbar": ratio,
               "blows_up_near_tbar": blows,
               "report_tbar_below_log_M": all(r["tbar"] < r["log_M"] for r in runs),
               "criterion": "tracking error < 1e-3 to 0.9 t̄; P((1−ε)t̄) < 1e6 and GD overflows in "
                            "((1−ε)t̄, (1+ε)t̄], ε = 0.002; all widths (t̄ < log M reported, not gated)"}
    return Outcome(err, conditions={"blows_up_near_tbar": blows}, details=details)


@register("a_prop10_blowup", paper="A", reference="A Prop 10, App. A.4",
          description="dot product, linear D = Z = 1 network: GD follows P(t) and its NTK blows up at t̄",
          compares="GD on the D = Z = 1 linear network vs P(t) and `blowup_time`",
          tolerance=1e-3, sense="<",
          gate="relative error of P < 1e-3 up to 0.9 t̄; P((1 − ε) t̄) < 1e6 and overflow within "
               "((1 − ε) t̄, (1 + ε) t̄], ε = 0.002, at every width (blows_up_near_tbar); t̄ < log M reported, "
               "not gated")
def check_prop10(fast: bool = True, **ingredients) -> Outcome:
    """Triplets x⁺ = x, x⁻ = −x with data constant C = 2 (loss −C M S²); two-layer linear network
    (D = Z = 1, N(0, 1) weights, seed M) trained by GD with lr 1e-5 (t = lr × step).  The NTK is
    K = P x y.  Pass if (i) the recorded P(t) = mean(v² + w²) matches the closed form (stable
    evaluation of A App. A.4) with relative error < 1e-3 up to 0.9 t̄; (ii) P((1 − ε) t̄) < 1e6 and GD
    overflows float64 within ((1 − ε) t̄, (1 + ε) t̄], ε = 0.002 (measured: 1.7e-4 to 5e-4 after t̄) —
    for every width.  Metric: the largest tracking error.  Prop 10's t̄ = O(log M) is reported
    (``report_tbar_below_log_M``), not gated: t̄ = 0.3–0.9 against log M = 2.3–9.2 here, a condition
    that cannot fail.

    Can detect: a blow-up time off by more than 0.2 % either way (t̄ × 1.05 or × 0.95 fails (ii)), a
    closed form P(t) off by 0.1 % before 0.9 t̄.  Cannot detect: the log M growth of t̄ (t̄ depends on
    the random P0, S0, not monotonically on M), anything beyond D = Z = 1."""
    return _check_prop10(fast, **ingredients)


# ---------------------------------------------------------------------------- Figs 2–3, Thm 13

# Runs (dynamics.experiments.contrastive): GD at NTK_LR = 0.2 to NTK_T = 40 (cosine) or to the first overflow,
# at most DOT_T_MAX = 80 (dot product, which must overflow before it); the dot-product NTK change is also
# recorded at the early time DOT_EARLY_T = 4, where it must still be small.
DOT_SLOPE_FACTOR = 1.5  # d t_overflow / d log M within [1/1.5, 1.5] × 1/(2 r), r the lazy growth rate
REL_CHANGE_MAX = 0.1  # max |K(t) − K(0)| / max |K(0)|: cosine at T = 40 and dot product at t = 4


def analytic_relu_ntk(X):
    r"""The infinite-width NTK Θ (n, n) of the two-layer ReLU network (the full NTK is Θ ⊗ I_Z).

    $\Theta(x, \tilde x)$ of Jacot et al. 2018 (arXiv:1806.07572) for the network A2: the kernel of the lazy
    growth rate of A Prop 10."""
    return ntk.analytic_ntk(X, X, "relu")


@functools.cache
def dot_growth_rate(n: int, kernel_fn=analytic_relu_ntk, lr: float = NTK_LR) -> dict:
    """Growth rate of the lazy (frozen-kernel) dynamics of the dot-product loss with linear l, under GD.

    The loss is quadratic in the outputs, L = ½ Σ_z F_zᵀ H F_z (H over the N(1+Q) inputs, the same for
    each output z), so with the kernel Θ ⊗ I_Z frozen (``kernel_fn(X)``, default the infinite-width NTK)
    dF/dt = −Θ H F grows like e^{λ t}, λ the largest real eigenvalue of −Θ H, and GD at ``lr`` like
    (1 + lr λ)^{step}, rate r = log(1 + lr λ)/lr.  The outputs reach O(√M) — weights displaced by O(1),
    where the NTK stops being constant and the loss's unbounded direction takes over — at
    t ≈ log M / (2 r) + O(1): the predicted slope of the overflow time against log M is 1/(2 r).
    """
    d = digit_triplets(n)
    X = d.inputs
    N = X.shape[0]
    fl = contrastive.function_loss(d.n_anchors, d.alpha, similarity="dot")
    H = np.asarray(jax.jacfwd(jax.grad(fl))(jnp.zeros((N, 1)))).reshape(N, N)
    K = np.asarray(kernel_fn(X), float)
    lam = float(np.max(np.linalg.eigvals(-K @ H).real))
    rate = float(np.log1p(lr * lam) / lr)
    return {"lambda": lam, "gd_rate": rate, "predicted_slope": 1.0 / (2.0 * rate)}


@register("a_dot_product_ntk_diverges", paper="A", reference="A Prop 10, Fig 2",
          description="dot product: the NTK is nearly constant at first, then diverges at t ≈ log M/(2r)",
          compares="overflow time of the dot-product run vs log M and the lazy growth rate; NTK change at t = 4 "
                   "(dot) and T = 40 (cosine)",
          tolerance=float(np.log(DOT_SLOPE_FACTOR)), sense="<",
          gate="overflows before T = 80 at every width (overflows_before_T); leave-one-out slopes of overflow "
               "time vs log M within ×1.5 of 1/(2r), r the lazy growth rate (metric < log 1.5); NTK changes "
               "< 0.1·max|K0| (dot_ntk_lazy_at_t4, cosine_ntk_lazy_at_T)")
def check_dot_diverges(fast: bool = True, **ingredients) -> Outcome:
    r"""Two-layer ReLU network (Z = 10), 100 digits triplets (full: 200), linear l, dot product, GD at lr 0.2
    up to T = 80 (400 steps), widths 128–1024 (full: to 8192), seed 0.  Pass if at every width (i) the
    weights overflow float64 before T; (ii) the fitted slope of the overflow time against log M, with each
    width left out in turn, lies within a factor 1.5 of the prediction 1/(2r) of the lazy growth rate r
    of the outputs under the infinite-width NTK (:func:`dot_growth_rate`; measured: 0.76–1.09 × 3.97
    fast, 0.80–1.00 × 6.89 full); (iii) the dot-product NTK change at t = 4 is below 0.1 max |K(0)| (it
    starts lazy, then diverges); (iv) with the cosine similarity the same network reaches t = 40 with
    max |K(40) − K(0)| < 0.1 max |K(0)| (measured 0.064 → 0.011).  Metric: the largest
    |log(slope / predicted slope)| over the left-out fits, tolerance log 1.5.

    A Prop 10, Fig 2: under the dot product the NTK of the wide network diverges (overflow time $\approx \log M
    / (2r)$).

    Can detect: no divergence (the cosine similarity swapped in fails (i)), a divergence time that does
    not grow like log M at the NTK's rate (a kernel off by a factor 2 fails (ii)), an NTK that moves
    early or moves under the cosine similarity.  Cannot detect: the O(1) offset of the overflow time,
    nor anything about the weights after the overflow."""
    return _check_dot_diverges(fast, **ingredients)


def _check_dot_diverges(fast: bool, *, similarity: str = "dot", kernel_fn=analytic_relu_ntk) -> Outcome:
    widths, _, n = ntk_widths(fast)
    growth = dot_growth_rate(n, kernel_fn)
    t_over, early, k0, cos_final = [], [], [], []
    early_steps = round(DOT_EARLY_T / NTK_LR)
    dot_runs = ntk_change_runs(widths, [0], similarity, n)
    cos_runs = ntk_change_runs(widths, [0], "cosine", n)
    early_runs = early_dot_changes(widths, n, early_steps, similarity=similarity)
    for M in widths:
        _, _, K0max, t_o = dot_runs[M, 0]
        t_over.append(t_o)
        k0.append(K0max)
        early.append(early_runs[M] / K0max)
        _, ch, _, _ = cos_runs[M, 0]
        cos_final.append(float(ch[-1]) / K0max if ch is not None else np.inf)
    overflow = all(t < DOT_T_MAX for t in t_over)
    if overflow:
        loo = loo_slopes(widths, t_over, log_y=False)
        slope = loglog_slope(widths, t_over, log_y=False)
        metric = float(np.max(np.abs(np.log(np.asarray(loo) / growth["predicted_slope"])))) \
            if np.all(np.asarray(loo) > 0) else np.inf
    else:
        loo, slope, metric = None, None, np.inf
    details = {"widths": widths, "lr": NTK_LR, "T_dot": DOT_T_MAX, "T_cosine": NTK_T, "n_anchors": n,
               "similarity": similarity, "t_overflow_dot": t_over, "slope_t_overflow_vs_log_M": slope,
               "leave_one_out_slopes": loo, **{f"lazy_{k}": v for k, v in growth.items()},
               "slope_factor_window": [1 / DOT_SLOPE_FACTOR, DOT_SLOPE_FACTOR], "max_abs_K0": k0,
               "relative_ntk_change_dot_at_t4": early, "relative_ntk_change_cosine_at_T": cos_final,
               "relative_change_max": REL_CHANGE_MAX}
    conditions = {"overflows_before_T": overflow, "dot_ntk_lazy_at_t4": max(early) < REL_CHANGE_MAX,
                  "cosine_ntk_lazy_at_T": max(cos_final) < REL_CHANGE_MAX}
    return Outcome(metric, conditions=conditions, details=details)


@register("a_theorem13_cosine_ntk", paper="A", reference="A Thm 13, Fig 3",
          description="cosine similarity: max NTK change after a fixed number of steps falls with width",
          compares="max NTK change after a fixed number of steps vs width (cosine)",
          tolerance=-0.35, sense="<=", gate="fitted log–log slope over >= 4 widths <= −0.35")
def check_theorem13(fast: bool = True) -> Outcome:
    """Same runs as the dot-product check with the cosine similarity (δ = 0.01): max |K(T) − K(0)| over the
    full NTK on 30 fixed inputs after 200 GD steps (lr 0.2, T = 40), averaged over seeds.  Metric: fitted
    log–log slope over >= 4 widths; pass if <= −0.35 (A Fig 3: roughly M^{-1/2})."""
    widths, seeds, n = ntk_widths(fast)
    runs = ntk_change_runs(widths, seeds, "cosine", n)
    change = [float(np.mean([runs[M, s][1][-1] for s in seeds])) for M in widths]
    slope = loglog_slope(widths, change)
    details = {"widths": widths, "seeds": seeds, "n_anchors": n, "steps": int(NTK_T / NTK_LR), "lr": NTK_LR,
               "max_ntk_change": change, "loglog_slope": slope,
               "max_abs_K0": [runs[M, seeds[0]][2] for M in widths]}
    return Outcome(slope, details=details)


# ---------------------------------------------------------------------------- Lemmas 16–17, Fig 4

LEMMA16_SLACK = 1.15  # κ̂(M) may grow by at most 15 % from one width to the next (single-seed s.d. 7–13 %)


def _check_lemma16(fast: bool, *, lr_fn=None) -> Outcome:
    widths, seeds, n_steps, n = grass_setup(fast)
    dC, relC, relW, steps = [], [], [], None
    runs = cv_drifts(widths, seeds, n_steps, n, lr=GRASS_LR if lr_fn is None else (lambda M: float(lr_fn(M))))
    for M in widths:
        hs = [runs[M, s] for s in seeds]
        steps = hs[0]["step"]
        dC.append(np.mean([h["cv_change"] for h in hs], axis=0))
        relC.append(np.mean([h["cv_relative_change"] for h in hs], axis=0))
        relW.append(np.mean([h["w_relative_change"] for h in hs], axis=0))
    dC, relC, relW = np.array(dC), np.array(relC), np.array(relW)
    t = GRASS_LR * steps.astype(float)  # the time of GD at lr 0.01 (a run at another step size is compared with it)
    pos = t > 0
    moved = bool(np.all(dC[:, pos] > 0))
    t_slopes = [loglog_slope(t[pos], row[pos]) if moved else np.inf for row in dC]
    m_slopes = [loglog_slope(widths, dC[:, k]) if moved else np.inf for k in np.nonzero(pos)[0]]
    k_fix = int(np.argmin(np.abs(t - LEMMA16_T_FIX)))
    kappa_t = np.sqrt(np.asarray(widths, float))[:, None] * dC[:, pos] / t[pos]  # √M ‖ΔC_V(t)‖ / t
    kappa = kappa_t.max(axis=1)  # κ̂(M): the smallest κ with ‖ΔC_V(t)‖ <= κ t/√M at all recorded t
    growth = kappa[1:] / kappa[:-1]
    metric = float(np.max(growth)) if moved else np.inf
    w_faster = bool(np.all(relW[:, pos] > relC[:, pos]))
    details = {"widths": widths, "seeds": seeds, "n_anchors": n, "lr": GRASS_LR, "t": t, "cv_change": dC,
               "sqrtM_cv_change_over_t": kappa_t, "kappa_hat": kappa, "kappa_hat_growth_per_width": growth,
               "slack": LEMMA16_SLACK, "t_slopes_per_width": t_slopes, "M_slopes_per_time": m_slopes,
               "t_fix": float(t[k_fix]), "M_slope_at_t_fix": m_slopes[k_fix - 1] if moved else None,
               "cv_relative_change": relC, "w_relative_change": relW, "w_moves_faster": w_faster,
               "cv_moved": moved, "step_sizes": [GRASS_LR if lr_fn is None else float(lr_fn(M)) for M in widths]}
    if not fast and lr_fn is None:
        bound_runs = cv_drifts(widths, seeds[:1], n_steps, n, similarity="cosine_bound")
        bound = np.array([bound_runs[M, seeds[0]]["cv_change"] for M in widths])
        details["trace_form_loss_cv_change"] = bound
        details["trace_form_loss_M_slope_at_t_fix"] = loglog_slope(widths, bound[:, k_fix])
        details["trace_form_loss_M_slope_at_end"] = loglog_slope(widths, bound[:, -1])
    conditions = {"cv_moved": moved, "at_most_linear_in_t": max(t_slopes) <= 1.1, "w_moves_faster": w_faster}
    return Outcome(metric, conditions=conditions, details=details)


@register("a_lemma16_cv_drift", paper="A", reference="A Lemma 16, Fig 4 (left, middle)",
          description="Grassmannian GD: ‖C_V(t) − C_V(0)‖_F <= κ t/√M with κ not growing with M; W moves faster",
          compares="‖C_V(t) − C_V(0)‖_F vs t and M under Grassmannian GD, 2 seeds (3 full)",
          tolerance=LEMMA16_SLACK, sense="<=",
          gate="κ̂(M) = max_t √M‖ΔC_V‖/t grows <= 15 % per width step; C_V moved (cv_moved); <= linear in t "
               "(at_most_linear_in_t); W moves relatively more than C_V (w_moves_faster)")
def check_lemma16(fast: bool = True, **ingredients) -> Outcome:
    """Two-layer ReLU network with orthonormal W (Z = 10), 100 digits triplets, cosine similarity loss,
    Grassmannian GD at lr 0.01 for 50 steps (full: 500), widths 256–2048 (full: 128–8192), 2 seeds (full: 3);
    C_V of A10 (δ' = √M δ).  Lemma 16: ‖C_V(t) − C_V(0)‖_F <= κ t/√M.  With κ̂(M) = max over recorded
    t of √M ‖ΔC_V(t)‖_F / t (seed-averaged drift), pass if (i) κ̂ does not grow with M: κ̂(M_{i+1}) /
    κ̂(M_i) <= 1.15 for every width step (a 15 % slack for the seed scatter of κ̂: single seeds scatter
    by 7–13 % (s.d.) at a fixed width, single-seed steps reach 1.23; measured 0.91–0.99, full
    0.81–1.00); (ii) for every width the log–log slope of ‖ΔC_V‖_F in t is <= 1.1 (at most linear);
    (iii) C_V moved (‖ΔC_V‖ > 0) and ‖ΔW‖/‖W(0)‖ > ‖ΔC_V‖/‖C_V(0)‖ at every recorded t > 0 and width.
    Metric: the largest κ̂ growth factor, tolerance 1.15.  The log–log slopes in M at each time are
    reported: about −0.54 at t = 0.01 steepening to −0.82 at t = 0.5 (full: −0.62 to −0.97 at t = 5),
    faster than the bound's −1/2 once the loss saturates.  The full variant also reports (without
    gating) the same drift when the trace-form loss A10 itself is trained: its V-gradient is
    O(M^{-3/2}) per entry instead of O(M^{-1/2}), and the drift falls roughly like M^{-1} to M^{-3/2},
    again inside the bound.

    Can detect: a drift that does not shrink like M^{-1/2} (a step size growing like √M fails (i),
    κ̂ growing 1.3× per width doubling), a drift faster than linear in t, a frozen V.  Cannot detect:
    the value of κ (a drift too large by a constant factor passes), nor a drift below the bound by any
    amount."""
    return _check_lemma16(fast, **ingredients)


LEMMA17_SLOPE_WINDOW = (-2.0, -0.5)  # the PCA difference falls at least like ‖ΔC_V‖/gap ~ M^{-1/2}


def _check_lemma17(fast: bool, *, similarity_t: str = "cosine_bound") -> Outcome:
    widths, seeds, n_steps, n = grass_setup(fast)
    diffs, gaps, per_seed = [], [], []
    runs = pca_representation_differences(widths, seeds, n_steps, n, similarity_t)
    for M in widths:
        res = [runs[M, s] for s in seeds]
        per_seed.append([r[0] for r in res])
        diffs.append(float(np.mean([r[0] for r in res])))
        gaps.append(float(np.mean([r[1] for r in res])))
    slope = loglog_slope(widths, diffs)
    loo = loo_slopes(widths, diffs)
    decreasing = bool(np.all(np.diff(diffs) < 0))
    metric = _window_distance(loo, LEMMA17_SLOPE_WINDOW)
    details = {"widths": widths, "seeds": seeds, "n_anchors": n, "t": GRASS_LR * n_steps,
               "procrustes_relative_difference": diffs, "procrustes_relative_difference_per_seed": per_seed,
               "loglog_slope": slope, "leave_one_out_slopes": loo, "slope_window": LEMMA17_SLOPE_WINDOW,
               "decreasing": decreasing, "eigengap_Z": gaps, "readout_at_t": f"PCA of C_V ({similarity_t})"}
    return Outcome(metric, conditions={"decreasing_with_width": decreasing}, details=details)


@register("a_lemma17_pca_stability", paper="A", reference="A Lemma 17, Fig 4 (right)",
          description="PCA representations from C_V(0) and C_V(t) agree up to rotation, better with width",
          compares="PCA representation of C_V(0) vs that of C_V(t) after Procrustes, 2 seeds (3 full)",
          tolerance=_half_width(LEMMA17_SLOPE_WINDOW), sense="<",
          gate="every leave-one-out slope in [−2, −0.5] (metric: largest distance from the centre, < 0.75); "
               "difference decreasing at every width step (decreasing_with_width)")
def check_lemma17(fast: bool = True, **ingredients) -> Outcome:
    """From the Grassmannian runs of the Lemma 16 check (t = 0.5; full: 5): representations
    (1/√M) W*ᵀ φ(V x) with W* the top-10 eigenvectors of C_V(0) (at V(0)) and of C_V(t) (at V(t)),
    aligned by the best orthogonal O (``scipy.linalg.orthogonal_procrustes``); relative difference
    averaged over the seeds.  Pass if it decreases with every width step and the log–log slope in M
    fitted with each width left out in turn lies in [−2, −0.5] (Lemma 17 / Davis–Kahan: at most
    ‖ΔC_V‖/eigengap, and ‖ΔC_V‖ falls at least like M^{-1/2}; measured −1.24 to −1.50, full −1.16 to
    −1.22).  Metric: the largest distance of those slopes from the window centre −1.25 (tolerance 0.75).

    Can detect: a readout at time t that is not the PCA of the same C_V (the PCA of C_V of A8 instead
    of A10 gives a difference that does not shrink), a representation difference that stops falling
    with width.  Cannot detect: the constant of the bound, nor failures at small eigengaps outside
    the sweep."""
    return _check_lemma17(fast, **ingredients)


# ---------------------------------------------------------------------------- Prop 18


@register("a_prop18_identical_columns", paper="A", reference="A Prop 18",
          description="identical columns of W at init give bit-identical outputs for all t (dot and cosine)",
          compares="outputs of two identical columns of W along GD, dot and cosine similarity",
          tolerance=0.0, sense="<=",
          gate="max difference exactly 0 and bit-identical outputs for the whole run (bit_identical), while "
               "the outputs moved (outputs_moved) and differ from another column (columns_distinct)")
def check_prop18(fast: bool = True) -> Outcome:
    """Two-layer ReLU network (M = 256, Z = 4) with W[:, 2] = W[:, 0] at init, GD on the linear
    contrastive loss (dot product and cosine similarity) for 300 (fast) / 2000 steps at lr 0.05 (dot
    product: 100 / 300 steps, before its blow-up); outputs recorded at every record step.  Metric: max over
    records, inputs and both similarities of |f_0(x) − f_2(x)|; pass if exactly 0 while the outputs
    moved and output 1 differs from output 0.

    A Prop 18: identical columns of W at init stay identical under GD, $f_0(x) = f_2(x)$ for all t."""
    d = digit_triplets(100)
    params = networks.init_two_layer(d.dim, 256, 4, seed=7)
    W = np.array(params["W"])
    W[:, 2] = W[:, 0]
    params = {"V": params["V"], "W": jnp.asarray(W)}
    details, worst, moved, distinct = {}, 0.0, True, True
    for sim, n_steps in (("dot", 100 if fast else 300), ("cosine", 300 if fast else 2000)):
        _, hist = contrastive.train_contrastive(params, d, lr=0.05, n_steps=n_steps, similarity=sim, n_records=25)
        F = hist["outputs"]
        diff = float(np.abs(F[:, :, 0] - F[:, :, 2]).max())
        change = float(np.abs(F[-1] - F[0]).max())
        details[sim] = {"max_abs_difference": diff, "bit_identical": bool(np.array_equal(F[:, :, 0], F[:, :, 2])),
                        "max_output_change": change, "n_steps": n_steps}
        worst = max(worst, diff)
        moved &= change > 1e-3
        distinct &= bool(np.abs(F[:, :, 0] - F[:, :, 1]).max() > 1e-3)
    conditions = {"bit_identical": all(details[s]["bit_identical"] for s in ("dot", "cosine")),
                  "outputs_moved": moved, "columns_distinct": distinct}
    return Outcome(worst, conditions=conditions, details=details)


# ---------------------------------------------------------------------------- Fig 5

DEEP_SLOPE_WINDOW = (-1.1, -0.35)  # log–log slope of the deep cosine NTK change in M (A: roughly M^{-1/2})
DEEP_REL_CHANGE_MAX = 0.3  # widths where max |K(T) − K(0)| / max |K(0)| stays below this (near-lazy; 16–64: 0.3–1.3)
DOWNSTREAM_MARGIN = 0.05  # accuracy above the best random-feature baseline (2.6 binomial s.e. on 600 test points)
ITERATIVE_MIN_V_MOVE = 0.05  # iterative scheme (V-step lr 2 M): ‖V_5 − V_0‖/‖V_0‖ >= 5 % (lr 0.5: 1.3e-4, PCA of C(0))


def _check_fig5(fast: bool, *, train_fn=grassmann_train) -> Outcome:
    widths, seeds, n_deep, cos_steps, dot_widths = deep_setup(fast)
    deep_runs = deep_cosine_ntk_changes(widths, seeds, n_deep, cos_steps)
    runs = [[deep_runs[M, s] for s in seeds] for M in widths]
    cos_change = [float(np.mean([r[0] for r in row])) for row in runs]
    rel_change = [float(max(r[0] / r[1] for r in row)) for row in runs]
    overflows = deep_dot_overflows(dot_widths, n_deep)
    t_over = [overflows[M] for M in dot_widths]
    slope = loglog_slope(widths, cos_change)
    loo = loo_slopes(widths, cos_change)
    deep_dist = _window_distance(loo, DEEP_SLOPE_WINDOW)
    decreasing = bool(np.all(np.diff(cos_change) < 0))
    deep_conditions = {"deep_loo_slopes_in_window": deep_dist < _half_width(DEEP_SLOPE_WINDOW),
                       "deep_cosine_change_decreasing": decreasing,
                       "deep_cosine_near_lazy": max(rel_change) < DEEP_REL_CHANGE_MAX,
                       "deep_dot_overflows": max(t_over) < DOT_T_MAX}
    n_down, M_down, steps_down = downstream_setup(fast)
    res = downstream_accuracies(n_down, M_down, n_steps=steps_down, train_fn=train_fn)
    accs = {k: res[k] for k in ("pca_C0", "trained", "iterative")}
    margins = {k: v - res["baseline"] for k, v in accs.items()}
    metric = min(margins.values())
    moved = res["iterative_V_change"] >= ITERATIVE_MIN_V_MOVE
    details = {"deep_widths": widths, "deep_seeds": seeds, "deep_n_anchors": n_deep, "hidden_layers": 3,
               "deep_cosine_T": NTK_LR * cos_steps, "deep_cosine_max_ntk_change_at_T": cos_change,
               "deep_cosine_max_relative_change": rel_change, "deep_relative_change_max": DEEP_REL_CHANGE_MAX,
               "deep_cosine_loglog_slope": slope, "deep_cosine_leave_one_out_slopes": loo,
               "deep_slope_window": DEEP_SLOPE_WINDOW, "deep_cosine_decreasing": decreasing,
               "deep_dot_widths": dot_widths, "deep_dot_t_overflow": t_over, "T_dot": DOT_T_MAX, "lr": NTK_LR,
               "downstream_n_anchors": n_down, "downstream_M": M_down, "downstream_train_steps": steps_down,
               "downstream_lr": 0.5, "accuracy": accs, "baselines": res["baselines"], "baseline": res["baseline"],
               "margin_over_baseline": margins, "required_margin": DOWNSTREAM_MARGIN,
               "iterative_lr": res["iterative_lr"], "iterative_V_change": res["iterative_V_change"],
               "iterative_min_V_change": ITERATIVE_MIN_V_MOVE, "chance": 0.1,
               "trained_with": "Grassmannian GD" if train_fn is grassmann_train else repr(train_fn)}
    return Outcome(metric, conditions={**deep_conditions, "iterative_V_moved": moved}, details=details)


@register("a_fig5_deep_and_downstream", paper="A", reference="A Fig 5, §5 (i)–(iii)",
          description="3-hidden-layer nets: cosine NTK change falls with width, dot diverges; downstream accuracy",
          compares="3-hidden-layer network, widths 128–1024: cosine NTK change, dot overflow at two widths; "
                   "linear-probe accuracy of PCA on C(0), trained net, iterative scheme vs random-feature baselines "
                   "computed in the check",
          tolerance=DOWNSTREAM_MARGIN, sense=">=",
          gate="every accuracy >= best baseline + 0.05; deep cosine NTK change < 0.3 (deep_cosine_near_lazy), "
               "decreasing (deep_cosine_change_decreasing), leave-one-out slopes in [−1.1, −0.35] "
               "(deep_loo_slopes_in_window); dot overflows (deep_dot_overflows); V moves >= 5 % "
               "(iterative_V_moved)")
def check_fig5(fast: bool = True, **ingredients) -> Outcome:
    """(a) 3-hidden-layer ReLU network (NTK parametrisation), digits triplets (20; full: 100), linear l, GD at
    lr 0.2.  Cosine similarity: the max change of the full NTK (20 fixed inputs) at T = 10 (50 steps; full:
    T = 40, 3 seeds), widths 128–1024, where it stays below 0.3 max |K(0)| (near the lazy regime: measured
    at most 0.18, full 0.25; widths 16–64 reach 0.3–1.3).  Pass if it decreases with every width step and
    the log–log slope with each width left out in turn lies in [−1.1, −0.35] (A: roughly M^{-1/2};
    measured −0.79 to −0.89, full −0.79 to −0.93).  Dot product: the weights overflow before T = 80 at
    widths 128 and 256 (full: 128–1024).
    (b) Downstream (A §5 (iii)): logistic regression on 10-dimensional representations of labelled
    anchors (200, M = 256; full: 1000, M = 1024), tested on 600 held-out digits, for PCA on C_V(0), the
    network trained by Grassmannian GD on the cosine loss and the iterative scheme (5 updates; V-step
    lr 2M so that V moves by >= 5 % — at lr 0.5 it moved 1.3e-4 and the scheme was PCA on C_V(0) again).
    Baseline, computed here: the best of the untrained network, 6 random orthonormal readouts of the same
    random features and 6 random 10-d pixel projections (each 0.20–0.30; full 0.24–0.33; chance 0.1).
    Pass if (a) holds, V moved, and every accuracy beats the baseline by >= 0.05 (2.6 binomial standard
    errors on 600 test points).  Metric: the smallest margin.

    Can detect: an untrained (or random-readout) representation posing as learned (fails (b)), a deep
    NTK change that does not fall with width, a dot product that does not diverge.  Cannot detect: how
    close PCA and the trained network are (A's claim; measured 0.37 vs 0.45, full 0.49 vs 0.70; reported
    only), nor the exact M^{-1/2} rate for the deep network."""
    return _check_fig5(fast, **ingredients)
