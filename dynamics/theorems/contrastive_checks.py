"""Checks for wide contrastive networks: NTK under dot product vs cosine similarity, and PCA (Anil et al., "A").

One network (two-layer, NTK parametrisation, ``dynamics.networks``; a 3-hidden-layer one for Fig 5),
one loss (A1, ``dynamics.contrastive``), one trainer (``dynamics.trainer.gradient_descent`` via
``dynamics.contrastive.train_contrastive``), one NTK module (``dynamics.ntk``).  Data: the built-in
8×8 digits (random crops) as anchors, a second crop as the positive, a crop of another random
image as the negative (A's MNIST setup, smaller).

What these checks can and cannot show: A's statements are about width → ∞ (and "w.h.p."); here
each is a trend over a sweep of at least four finite widths (fitted log–log slopes), at fixed
times, on a small data set.  Prop 10 and Prop 18 are checked directly (closed form vs GD, exact
equality).
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from .. import contrastive, networks, ntk, trainer
from ._registry import CheckResult, register

Z_OUT = 10  # output dimension (A: Z = 10)


def _fit_slope(x, values):
    return float(np.polyfit(np.log(x), np.log(values), 1)[0])


@functools.cache
def _data(n: int):
    return contrastive.contrastive_digits(n)


def _ntk_inputs(d, n_points=30):
    """A fixed spread of ``n_points`` anchors, positives and negatives for the recorded NTK."""
    X = d.inputs
    return X[:: max(1, X.shape[0] // n_points)][:n_points]


# ---------------------------------------------------------------------------- Lemma 9, Fig 1


@functools.cache
def lemma9_difference(M: int, seed: int, n: int = 10, lr: float = 0.01, n_steps: int = 500) -> float:
    """max_{n,z} |F_GD(T) − F_NTK(T)| / max_{n,z} |F_GD(T)| at T = lr × n_steps, cosine similarity (A Fig 1).

    F_GD: the network trained by GD; F_NTK: Lemma 9's dynamics with the NTK frozen at init
    (``contrastive.lemma9_flow``), both on all anchors and partners, from the same initial network.
    """
    d = _data(n)
    params = networks.init_two_layer(d.dim, M, Z_OUT, seed=seed)
    _, hist = contrastive.train_contrastive(params, d, lr=lr, n_steps=n_steps, similarity="cosine",
                                            record_steps=np.array([0, n_steps]))
    F_gd = hist["outputs"][-1]
    F_ntk = contrastive.lemma9_flow(params, d, hist.t[-1:], similarity="cosine")[-1]
    return float(np.abs(F_gd - F_ntk).max() / np.abs(F_gd).max())


@register("a_lemma9_ntk_dynamics", paper="A", reference="A Lemma 9, Fig 1",
          description="frozen-NTK function-space dynamics (Lemma 9) approach GD as width grows (cosine)")
def check_lemma9(fast: bool = True) -> CheckResult:
    """N = Z = 10 anchors with one positive and one negative each (30 inputs), cosine similarity
    (δ = 0.01), linear l, 500 GD steps at lr 0.01 (A Fig 1: 500 epochs), vs Lemma 9's ODE
    dF/dt = −K(0) ∇_F L with the full (30, 30, 10, 10) empirical NTK at init.  Metric: fitted
    log–log slope of the seed-averaged max fractional output difference at T = 5 over >= 4 widths;
    pass if < 0."""
    widths, seeds = ([64, 256, 1024, 4096], (0,)) if fast else ([64, 256, 1024, 4096, 16384], (0, 1, 2))
    diffs = [float(np.mean([lemma9_difference(M, s) for s in seeds])) for M in widths]
    slope = _fit_slope(widths, diffs)
    details = {"widths": widths, "seeds": seeds, "max_fractional_difference": diffs, "loglog_slope": slope,
               "T": 5.0, "lr": 0.01}
    return CheckResult(slope, 0.0, bool(slope < 0), details)


# ---------------------------------------------------------------------------- Prop 10


PROP10_C = 2.0  # data constant of the constructed triplets


def _pq_observers():
    return {"P": lambda p: jnp.mean(p["V"] ** 2 + p["W"] ** 2), "S": lambda p: jnp.mean(p["V"] * p["W"])}


@functools.cache
def prop10_run(M: int, lr: float, eps: float = 0.01, n_records: int = 60):
    """GD on the D = Z = 1 linear network with the dot-product triplet loss, vs Prop 10's closed form.

    Returns a dict: t̄, log M, max relative error of P(t) up to 0.9 t̄, P at (1 − ε) t̄, and the time at
    which GD overflows (first non-finite step) when continued to (1 + ε) t̄ (or P there if it does not).
    """
    d = contrastive.prop10_data(PROP10_C)
    C = contrastive.data_constant(d)
    params = networks.init_two_layer(1, M, 1, seed=M)
    P0, S0 = contrastive.prop10_invariants(params["V"], params["W"])
    tbar = contrastive.blowup_time(P0, S0, C)
    n_track = int(0.9 * tbar / lr)
    n_pre = int((1 - eps) * tbar / lr)
    steps = np.unique(np.concatenate([np.linspace(0, n_track, n_records).astype(int), [n_pre]]))
    kw = {"similarity": "dot", "activation": "linear", "record_outputs": False, "observers": _pq_observers()}
    p_pre, hist = contrastive.train_contrastive(params, d, lr=lr, n_steps=n_pre, record_steps=steps, **kw)
    track = hist.step <= n_track
    P_theory = contrastive.prop10_P(hist.t[track], P0, S0, C)
    rel_err = float(np.max(np.abs(hist["P"][track] / P_theory - 1.0)))
    n_post = int(np.ceil((1 + eps) * tbar / lr)) - n_pre
    try:
        _, h2 = contrastive.train_contrastive(p_pre, d, lr=lr, n_steps=n_post, record_steps=np.array([0, n_post]),
                                              **kw)
        t_overflow, P_post = np.inf, float(h2["P"][-1])
    except trainer.NonFiniteError as err:
        t_overflow, P_post = (n_pre + err.step) * lr, np.inf
    return {"tbar": tbar, "log_M": float(np.log(M)), "P0": P0, "S0": S0, "C": C, "rel_err_to_0.9tbar": rel_err,
            "P_at_(1-eps)tbar": float(hist["P"][-1]), "t_overflow": t_overflow, "P_at_(1+eps)tbar": P_post}


@register("a_prop10_blowup", paper="A", reference="A Prop 10, App. A.4",
          description="dot product, linear D = Z = 1 network: GD follows P(t) and its NTK blows up at t̄ < log M")
def check_prop10(fast: bool = True) -> CheckResult:
    """Triplets x⁺ = x, x⁻ = −x with data constant C = 2 (loss −C M S²); two-layer linear network
    (D = Z = 1, N(0, 1) weights, seed M) trained by GD with lr 1e-5 (t = lr × step).  The NTK is
    K = P x y.  Pass if (i) the recorded P(t) = mean(v² + w²) matches the closed form (stable
    evaluation of A App. A.4) with relative error < 1e-3 up to 0.9 t̄; (ii) P((1 − ε) t̄) < 1e6 and GD
    overflows (P → ∞ past float64) or exceeds 1e6 before (1 + ε) t̄, ε = 0.01; (iii) t̄ < log M —
    for every width.  Metric: the largest tracking error."""
    lr = 1e-5
    widths = [10, 30, 100, 300] if fast else [10, 100, 1000, 10000]
    runs = [prop10_run(M, lr) for M in widths]
    err = max(r["rel_err_to_0.9tbar"] for r in runs)
    blows = all(r["P_at_(1-eps)tbar"] < 1e6 and (np.isfinite(r["t_overflow"]) or r["P_at_(1+eps)tbar"] > 1e6)
                for r in runs)
    below_log = all(r["tbar"] < r["log_M"] for r in runs)
    details = {"widths": widths, "lr": lr, "eps": 0.01, "runs": runs, "blows_up_near_tbar": blows,
               "tbar_below_log_M": below_log,
               "criterion": "tracking error < 1e-3 to 0.9 t̄; P((1−ε)t̄) < 1e6 and P > 1e6 or overflow by (1+ε)t̄; "
                            "t̄ < log M; all widths"}
    return CheckResult(err, 1e-3, bool(err < 1e-3 and blows and below_log), details)


# ---------------------------------------------------------------------------- Figs 2–3, Thm 13

NTK_LR, NTK_T = 0.2, 40.0  # cosine runs: 200 GD steps
DOT_T_MAX = 80.0  # dot-product runs stop at the first overflow; they must overflow before this time


@functools.cache
def ntk_change_run(M: int, seed: int, similarity: str, n: int = 100, deep: bool = False):
    """Max entry-wise NTK change ("full" NTK on 30 fixed inputs; 20 for the deep net) along GD at lr 0.2,
    to T = 40 (cosine) or 80 (dot product).

    Returns (times, max |K(t) − K(0)|, max |K(0)|, t_overflow): t_overflow is the first time the
    weights overflow (dot product), in which case the history stops there (times/changes are None).
    """
    d = _data(n)
    X = _ntk_inputs(d, 20 if deep else 30)
    if deep:
        params = contrastive.init_deep(d.dim, M, Z_OUT, seed=seed)
        ntk_fn = contrastive.deep_ntk_fn(X, X, output="full")
        apply_fn = contrastive.deep_apply
    else:
        params = networks.init_two_layer(d.dim, M, Z_OUT, seed=seed)
        ntk_fn = _two_layer_full_ntk_fn(X)
        apply_fn = None
    n_steps = round((DOT_T_MAX if similarity == "dot" else NTK_T) / NTK_LR)
    steps = np.unique(np.linspace(0, n_steps, 11).astype(int))
    K0max = float(np.abs(ntk_fn(params)).max())
    try:
        _, hist = contrastive.train_contrastive(params, d, lr=NTK_LR, n_steps=n_steps, similarity=similarity,
                                                apply_fn=apply_fn, record_steps=steps, record_outputs=False,
                                                ntk_fn=ntk_fn)
    except trainer.NonFiniteError as err:
        return None, None, K0max, err.step * NTK_LR
    return hist.t, hist["ntk_max_change"], K0max, np.inf


def _two_layer_full_ntk_fn(X):
    return ntk.two_layer_ntk_fn(X, X, "relu", output="full")


def _ntk_widths(fast):
    return ([128, 256, 512, 1024], (0,), 100) if fast else ([128, 256, 512, 1024, 2048, 4096, 8192], (0, 1, 2), 200)


@register("a_dot_product_ntk_diverges", paper="A", reference="A Prop 10, Fig 2",
          description="dot product: the NTK change grows without bound within a few epochs at every width")
def check_dot_diverges(fast: bool = True) -> CheckResult:
    """Two-layer ReLU network (Z = 10), digits triplets, linear l, dot product, GD at lr 0.2 up to T = 80
    (400 steps).  Pass if at every width the weights overflow float64 (max |K(t) − K(0)| > 1e300)
    before T and with the cosine similarity the same network reaches t = 40 with max NTK change < 1
    (the contrast); the full variant also requires the dot-product change at t = 4 to be < 1 (it starts
    small, then diverges; one more run per width, left out of the fast variant).  Metric: max over
    widths of t_overflow / T (tolerance 1).  The overflow time is reported against log M (Prop 10:
    t̄ = O(log M))."""
    widths, _, n = _ntk_widths(fast)
    t_over, early, cos_final = [], [], []
    early_steps = round(4.0 / NTK_LR)
    for M in widths:
        _, _, _, t_o = ntk_change_run(M, 0, "dot", n)
        t_over.append(t_o)
        if not fast:
            early.append(_early_dot_change(M, n, early_steps))
        _, ch, _, _ = ntk_change_run(M, 0, "cosine", n)
        cos_final.append(float(ch[-1]) if ch is not None else np.inf)
    ratio = max(t_over) / DOT_T_MAX
    finite = [t for t in t_over if np.isfinite(t)]
    details = {"widths": widths, "lr": NTK_LR, "T_dot": DOT_T_MAX, "T_cosine": NTK_T, "n_anchors": n,
               "t_overflow_dot": t_over,
               "max_ntk_change_dot_at_t4": early, "max_ntk_change_cosine_at_T": cos_final,
               "slope_t_overflow_vs_log_M": (float(np.polyfit(np.log(widths), t_over, 1)[0])
                                             if len(finite) == len(widths) else None)}
    passed = ratio < 1 and max(early, default=0.0) < 1 and max(cos_final) < 1
    return CheckResult(ratio, 1.0, bool(passed), details)


@functools.cache
def _early_dot_change(M, n, steps, deep=False):
    d = _data(n)
    X = _ntk_inputs(d, 20 if deep else 30)
    if deep:
        params = contrastive.init_deep(d.dim, M, Z_OUT, seed=0)
        ntk_fn, apply_fn = contrastive.deep_ntk_fn(X, X, output="full"), contrastive.deep_apply
    else:
        params = networks.init_two_layer(d.dim, M, Z_OUT, seed=0)
        ntk_fn, apply_fn = _two_layer_full_ntk_fn(X), None
    _, hist = contrastive.train_contrastive(params, d, lr=NTK_LR, n_steps=steps, similarity="dot", apply_fn=apply_fn,
                                            record_steps=np.array([0, steps]), record_outputs=False, ntk_fn=ntk_fn)
    return float(hist["ntk_max_change"][-1])


@register("a_theorem13_cosine_ntk", paper="A", reference="A Thm 13, Fig 3",
          description="cosine similarity: max NTK change after a fixed number of steps falls with width")
def check_theorem13(fast: bool = True) -> CheckResult:
    """Same runs as the dot-product check with the cosine similarity (δ = 0.01): max |K(T) − K(0)| over the
    full NTK on 30 fixed inputs after 200 GD steps (lr 0.2, T = 40), averaged over seeds.  Metric: fitted
    log–log slope over >= 4 widths; pass if <= −0.35 (A Fig 3: roughly M^{-1/2})."""
    widths, seeds, n = _ntk_widths(fast)
    change = [float(np.mean([ntk_change_run(M, s, "cosine", n)[1][-1] for s in seeds])) for M in widths]
    slope = _fit_slope(widths, change)
    details = {"widths": widths, "seeds": seeds, "n_anchors": n, "steps": int(NTK_T / NTK_LR), "lr": NTK_LR,
               "max_ntk_change": change, "loglog_slope": slope,
               "max_abs_K0": [ntk_change_run(M, seeds[0], "cosine", n)[2] for M in widths]}
    return CheckResult(slope, -0.35, bool(slope <= -0.35), details, sense="<=")


# ---------------------------------------------------------------------------- Lemmas 16–17, Fig 4

GRASS_LR = 0.01


@functools.cache
def grassmann_run(M: int, seed: int, n_steps: int, n: int = 100, similarity: str = "cosine"):
    """Grassmannian GD (W projected to WᵀW = I after each step) on the cosine-similarity loss (A1, δ = 0.01)
    (or another ``similarity``, e.g. "cosine_bound": the trace-form loss A10 itself).

    Records ‖C_V(t) − C_V(0)‖_F (C_V of A10) and the relative changes of C_V and W; returns
    (initial params (W orthonormal), final params, history).
    """
    d = _data(n)
    params = contrastive.orthonormalize_readout(networks.init_two_layer(d.dim, M, Z_OUT, seed=seed))
    steps = np.array([s for s in (0, 1, 2, 5, 10, 20, 50, 100, 200, 500) if s < n_steps] + [n_steps])
    final, hist = contrastive.train_contrastive(params, d, lr=GRASS_LR, n_steps=n_steps, similarity=similarity,
                                                grassmann=True, record_steps=steps, record_outputs=False,
                                                record_cv=True)
    return params, final, hist


def _grass_setup(fast):
    """(widths, seeds, steps, anchors) of the Grassmannian runs."""
    return ([256, 512, 1024, 2048], (0,), 50, 100) if fast else ([128, 256, 512, 1024, 2048, 4096, 8192], (0, 1, 2), 500, 100)


LEMMA16_T_FIX = 0.1  # 10 steps at lr 0.01: a fixed O(1) number of iterations, where the drift is linear in t


@register("a_lemma16_cv_drift", paper="A", reference="A Lemma 16, Fig 4 (left, middle)",
          description="Grassmannian GD: ‖C_V(t) − C_V(0)‖_F grows at most linearly in t, falls with width; W moves faster")
def check_lemma16(fast: bool = True) -> CheckResult:
    """Two-layer ReLU network with orthonormal W (Z = 10), 100 digits triplets, cosine similarity loss,
    Grassmannian GD at lr 0.01; C_V of A10 (δ' = √M δ).  Pass if (i) for every width the log–log slope of
    ‖ΔC_V‖_F in t is <= 1.1 (at most linear); (ii) its log–log slope in M at t = 0.1 (10 steps) lies in
    [−0.75, −0.25] (Lemma 16: κ t/√M); (iii) the slope in M is <= −0.25 at every recorded time;
    (iv) ‖ΔW‖/‖W(0)‖ > ‖ΔC_V‖/‖C_V(0)‖ at every recorded t > 0 and width.  Metric: |M-slope at t = 0.1 + 0.5|,
    tolerance 0.25 (the window of (ii)).

    Measured (see details): the M-slope steepens from ≈ −0.6 at early times toward ≈ −1 once the loss
    saturates (t >~ 1) — faster than Lemma 16's upper bound t/√M, hence consistent with it.  The
    full variant also reports (without gating) the same drift when the trace-form loss A10 itself is
    trained: its V-gradient is O(M^{-3/2}) per entry instead of O(M^{-1/2}), and the drift falls
    roughly like M^{-1} to M^{-3/2}, again inside the bound."""
    widths, seeds, n_steps, n = _grass_setup(fast)
    t = None
    dC, relC, relW = [], [], []
    for M in widths:
        hs = [grassmann_run(M, s, n_steps, n)[2] for s in seeds]
        t = hs[0].t
        dC.append(np.mean([h["cv_change"] for h in hs], axis=0))
        relC.append(np.mean([h["cv_relative_change"] for h in hs], axis=0))
        relW.append(np.mean([h["w_relative_change"] for h in hs], axis=0))
    dC, relC, relW = np.array(dC), np.array(relC), np.array(relW)
    pos = t > 0
    t_slopes = [_fit_slope(t[pos], row[pos]) for row in dC]
    m_slopes = [_fit_slope(widths, dC[:, k]) for k in np.nonzero(pos)[0]]
    k_fix = int(np.argmin(np.abs(t - LEMMA16_T_FIX)))
    m_slope_fix = _fit_slope(widths, dC[:, k_fix])
    w_faster = bool(np.all(relW[:, pos] > relC[:, pos]))
    details = {"widths": widths, "seeds": seeds, "n_anchors": n, "lr": GRASS_LR, "t": t, "cv_change": dC,
               "t_slopes_per_width": t_slopes, "M_slopes_per_time": m_slopes, "t_fix": float(t[k_fix]),
               "M_slope_at_t_fix": m_slope_fix, "cv_relative_change": relC, "w_relative_change": relW,
               "w_moves_faster": w_faster}
    if not fast:
        bound = np.array([grassmann_run(M, seeds[0], n_steps, n, similarity="cosine_bound")[2]["cv_change"]
                          for M in widths])
        details["trace_form_loss_cv_change"] = bound
        details["trace_form_loss_M_slope_at_t_fix"] = _fit_slope(widths, bound[:, k_fix])
        details["trace_form_loss_M_slope_at_end"] = _fit_slope(widths, bound[:, -1])
    passed = (max(t_slopes) <= 1.1 and -0.75 <= m_slope_fix <= -0.25 and max(m_slopes) <= -0.25 and w_faster)
    return CheckResult(abs(m_slope_fix + 0.5), 0.25, bool(passed), details, sense="<=")


def pca_representation_difference(M: int, seed: int, n_steps: int, n: int) -> tuple:
    """min_O ‖U_t O − U_0‖_F / ‖U_0‖_F for U = (1/√M) W*ᵀ φ(V x) on all inputs, W* = PCA of C_V (A10),
    with (V(0), C_V(0)) and (V(t), C_V(t)) from :func:`grassmann_run`; O from orthogonal Procrustes.
    Also returns the eigengap λ_Z − λ_{Z+1} of C_V(0)."""
    from scipy.linalg import orthogonal_procrustes

    d = _data(n)
    p0, pt, _ = grassmann_run(M, seed, n_steps, n)
    W0, lam0 = contrastive.pca_readout(p0, d, Z_OUT)
    Wt, _ = contrastive.pca_readout(pt, d, Z_OUT)
    X = jnp.asarray(d.inputs)
    U0 = np.asarray(networks.two_layer_apply({"V": p0["V"], "W": W0}, X))
    Ut = np.asarray(networks.two_layer_apply({"V": pt["V"], "W": Wt}, X))
    O, _ = orthogonal_procrustes(Ut, U0)
    return float(np.linalg.norm(Ut @ O - U0) / np.linalg.norm(U0)), float(lam0[Z_OUT - 1] - lam0[Z_OUT])


@register("a_lemma17_pca_stability", paper="A", reference="A Lemma 17, Fig 4 (right)",
          description="PCA representations from C_V(0) and C_V(t) agree up to rotation, better with width")
def check_lemma17(fast: bool = True) -> CheckResult:
    """From the Grassmannian runs of the Lemma 16 check: representations (1/√M) W*ᵀ φ(V x) with W* the
    top-10 eigenvectors of C_V(0) (at V(0)) and of C_V(t) (at V(t)), aligned by the best orthogonal
    O (``scipy.linalg.orthogonal_procrustes``).  Metric: log–log slope over widths of the relative
    difference at the final time; pass if < 0."""
    widths, seeds, n_steps, n = _grass_setup(fast)
    diffs, gaps = [], []
    for M in widths:
        res = [pca_representation_difference(M, s, n_steps, n) for s in seeds]
        diffs.append(float(np.mean([r[0] for r in res])))
        gaps.append(float(np.mean([r[1] for r in res])))
    slope = _fit_slope(widths, diffs)
    details = {"widths": widths, "seeds": seeds, "n_anchors": n, "t": GRASS_LR * n_steps,
               "procrustes_relative_difference": diffs,
               "loglog_slope": slope, "eigengap_Z": gaps}
    return CheckResult(slope, 0.0, bool(slope < 0), details)


# ---------------------------------------------------------------------------- Prop 18


@register("a_prop18_identical_columns", paper="A", reference="A Prop 18",
          description="identical columns of W at init give bit-identical outputs for all t (dot and cosine)")
def check_prop18(fast: bool = True) -> CheckResult:
    """Two-layer ReLU network (M = 256, Z = 4) with W[:, 2] = W[:, 0] at init, GD on the linear
    contrastive loss (dot product and cosine similarity) for 300 (fast) / 2000 steps at lr 0.05 (dot
    product: 100 / 300 steps, before its blow-up); outputs recorded at every record step.  Metric: max over
    records, inputs and both similarities of |f_0(x) − f_2(x)|; pass if exactly 0 while the outputs
    moved and output 1 differs from output 0."""
    d = _data(100)
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
    passed = worst == 0.0 and moved and distinct and all(details[s]["bit_identical"] for s in ("dot", "cosine"))
    return CheckResult(worst, 0.0, bool(passed), details, sense="<=")


# ---------------------------------------------------------------------------- Fig 5


@functools.cache
def downstream_accuracies(n: int, M: int, seed: int = 0, lr: float = 0.5, n_steps: int = 200, n_updates: int = 5,
                          n_test: int = 600):
    """Linear-classifier test accuracy (held-out digits) on three representations (A Fig 5 right).

    * PCA on C(0): W* = top-10 eigenvectors of C_V(0) (A10) at the initial V;
    * trained: the network (A7, WᵀW = I) trained by Grassmannian GD on the cosine loss (A1), lr, n_steps;
    * iterative: ``n_updates`` rounds of W ← PCA(C_V), one GD step on V (A §5 (ii)).
    Representations (1/√M) Wᵀ φ(V x) of the anchors (train, labelled) and held-out crops (test).
    """
    d = _data(n)
    Xte, yte = d.heldout[:n_test], d.heldout_labels[:n_test]
    params = networks.init_two_layer(d.dim, M, Z_OUT, seed=seed)

    def acc(p):
        return contrastive.downstream_accuracy(networks.two_layer_apply(p, jnp.asarray(d.anchors)), d.labels,
                                               networks.two_layer_apply(p, jnp.asarray(Xte)), yte)

    W0, _ = contrastive.pca_readout(params, d, Z_OUT)
    trained, _ = contrastive.train_contrastive(params, d, lr=lr, n_steps=n_steps, similarity="cosine",
                                               grassmann=True, record_steps=np.array([0, n_steps]),
                                               record_outputs=False)
    iterated, _ = contrastive.iterative_pca(params, d, n_updates, lr)
    return {"pca_C0": acc({"V": params["V"], "W": W0}), "trained": acc(trained), "iterative": acc(iterated)}


@register("a_fig5_deep_and_downstream", paper="A", reference="A Fig 5, §5 (i)–(iii)",
          description="3-hidden-layer nets: cosine NTK change falls with width, dot diverges; downstream accuracy")
def check_fig5(fast: bool = True) -> CheckResult:
    """(a) 3-hidden-layer ReLU network (NTK parametrisation), digits triplets, linear l, GD at lr 0.2: with the
    cosine similarity the max change of the full NTK (20 fixed inputs) at T = 40 falls with width (log–log
    slope < 0); with the dot product the weights overflow before T = 80 at every width tried (fast variant:
    the largest width only, where the divergence is slowest, saving three compilations).
    (b) Downstream: logistic regression on 10-dimensional representations of labelled anchors, tested on
    held-out digits, for PCA on C_V(0), the trained two-layer network (Grassmannian GD, cosine loss) and
    the iterative scheme (5 updates).  Pass if (a) holds and every accuracy is >= 0.25 (chance 0.1).
    Metric: the smallest of the three accuracies."""
    if fast:
        widths, n_deep, seeds, dot_widths = [16, 32, 64, 128], 20, (0,), [128]
    else:
        widths, n_deep, seeds, dot_widths = [32, 64, 128, 256, 512], 100, (0, 1), [32, 64, 128, 256, 512]
    cos_change = [float(np.mean([ntk_change_run(M, s, "cosine", n_deep, deep=True)[1][-1] for s in seeds]))
                  for M in widths]
    t_over = [ntk_change_run(M, 0, "dot", n_deep, deep=True)[3] for M in dot_widths]
    slope = _fit_slope(widths, cos_change)
    n_down, M_down, steps_down = (200, 256, 100) if fast else (1000, 1024, 400)
    accs = downstream_accuracies(n_down, M_down, n_steps=steps_down)
    details = {"deep_widths": widths, "deep_seeds": seeds, "deep_n_anchors": n_deep, "hidden_layers": 3,
               "deep_cosine_max_ntk_change_at_T": cos_change, "deep_cosine_loglog_slope": slope,
               "deep_dot_widths": dot_widths, "deep_dot_t_overflow": t_over, "T_cosine": NTK_T, "T_dot": DOT_T_MAX, "lr": NTK_LR,
               "downstream_n_anchors": n_down, "downstream_M": M_down, "downstream_train_steps": steps_down,
               "downstream_lr": 0.5, "accuracy": accs, "chance": 0.1}
    contrast = slope < 0 and max(t_over) < DOT_T_MAX
    metric = min(accs.values())
    return CheckResult(metric, 0.25, bool(contrast and metric >= 0.25), details, sense=">=")
