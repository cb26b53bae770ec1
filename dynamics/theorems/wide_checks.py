"""Checks for wide two-layer networks under Barlow Twins (S §6 / App. D.1, Fleissner et al. "F").

One network (two-layer, NTK parametrisation, ``dynamics.networks``), one loss
(Barlow Twins of the embeddings, ``dynamics.trainer.train_barlow``), one NTK
(``dynamics.ntk``), compared with the kernel theory of ``dynamics.kernel`` and
the frozen-kernel flow of ``dynamics.flows``.

What these checks can and cannot show: F's theorem is about width → ∞; here
it is checked as trends over a sweep of finite widths (log–log slopes, fitted
with each width left out in turn where a trend is gated) together with bounds
at the widest width, on a small built-in data set, at a fixed training time.
The generalisation bounds of F are not checked.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from .. import barlow, data, flows, kernel, networks, ntk, trainer
from ._registry import Outcome, register
from ._trends import fit_slope as _fit_slope
from ._trends import loo_slopes as _loo_slopes

ACTIVATION = "relu"


@functools.lru_cache(maxsize=None)
def wide_data(n: int = 100, seed: int = 0):
    """Built-in pairs for the wide networks: centred 7x7 digit crops scaled to mean squared norm 1.

    Returns ``(x, x_prime, labels)``; the scaling keeps NTK entries O(1).
    """
    x, xp, labels = data.digits_pairs(n=n, crop_size=7, center=True, seed=seed, return_labels=True)
    scale = np.sqrt(np.mean(np.sum(np.concatenate([x, xp]) ** 2, axis=1)))
    return x / scale, xp / scale, labels


def _apply(params, inp):
    return networks.two_layer_apply(params, inp, ACTIVATION)




# ---------------------------------------------------------------------------- S Fig 2 A–B




def stepwise_widths(fast: bool):
    """Widths of ``wide_stepwise_kernel_prediction`` (and of the S Fig 2 figure's panel C)."""
    return [128, 256, 512, 1024] if fast else [256, 512, 1024, 2048, 4096]


def own_initial_ntk(params, X):
    """The network's own empirical NTK at initialisation on X ("trace" over outputs)."""
    return np.asarray(ntk.two_layer_ntk(params, X, X, ACTIVATION, output="trace"))


def discrete_singular_values(steps, gammas, s0, lr):
    """s_j after k gradient-descent steps of size lr along the aligned modes: (len(steps), d).

    GD on the kernel model, F ← F − lr K̃ ∇_F L, keeps the aligned form of S40 and moves each mode by
    s ← s + lr · 4γ_j s (1 − γ_j s²), the Euler step of S12 — exact for GD, as S10 is for the flow.
    In the growth phase a step multiplies s_j by 1 + 4γ_j lr = exp(4γ_j lr · log(1 + 4γ_j lr)/(4γ_j lr)),
    so GD runs (1 − O(γ_j lr)) slower than the flow at t = lr × step (4.7 % for 4γ_1 lr = 0.1, 1.2 % for
    4γ_1 lr = 0.025).
    """
    steps = np.asarray(steps, dtype=np.int64)
    gammas = np.asarray(gammas, dtype=float)
    s = np.array(s0, dtype=float)
    out = np.empty((steps.size, s.size))
    k = 0
    for i, target in enumerate(steps):
        for _ in range(int(target) - k):
            s = s + lr * 4.0 * gammas * s * (1.0 - gammas * s * s)
        k = max(k, int(target))
        out[i] = s
    return out


# GD step of the small-init runs: lr = STEPWISE_LR_SCALE / (8 γ_1), i.e. 4γ_1·lr = STEPWISE_LR_SCALE / 2.  The
# prediction follows GD step by step (:func:`discrete_singular_values`), so the step need not be small.
STEPWISE_LR_SCALE = 0.2


@functools.lru_cache(maxsize=None)
def _stepwise_training(M, seed, d, readout_scale, n, horizon):
    """Initial parameters and training history of the small-init network (lr and length from its own NTK)."""
    x, xp, _ = wide_data(n)
    X = np.concatenate([x, xp])
    params = networks.init_two_layer(x.shape[1], M, d, seed=seed, readout_scale=readout_scale)
    predictor = kernel.barlow_twins_predict(own_initial_ntk(params, X), n_components=d)
    F0 = np.asarray(_apply(params, jnp.asarray(X)))
    tau = predictor.critical_times(F0)
    lr = STEPWISE_LR_SCALE / (8 * predictor.gammas[0])
    n_steps = int(np.ceil(horizon * tau.max() / lr))
    _, hist = trainer.train_barlow(_apply, params, x, xp, lr=lr, n_steps=n_steps, n_records=150,
                                   ntk_fn=ntk.two_layer_ntk_fn(X, X, ACTIVATION))
    return params, F0, hist


@functools.lru_cache(maxsize=None)
def stepwise_prediction(M: int, seed: int = 1, d: int = 3, readout_scale: float = 1e-5, n: int = 100,
                        horizon: float = 1.3, *, kernel_fn=own_initial_ntk, time_map: str = "steps"):
    """Predicted eigenvalues of C at the recorded steps of ``stepwise_run(M)``, from ``kernel_fn(params0, X)``.

    S40–S42 with K̃ = ``kernel_fn`` (default: the network's own NTK at init) and the network's initial
    outputs: γ_j from K_Γ, s_j(0) from S42.  ``time_map="steps"`` (default) evolves s_j by the GD
    recursion of :func:`discrete_singular_values` with the trainer's lr (the same modes, rates and
    init as S10, at the trainer's time step); ``"flow"`` evaluates S10 at t = lr × step.
    Returns (λ^pred sorted decreasingly (R, d), τ_j (S16), γ_j).
    """
    if time_map not in ("steps", "flow"):
        raise ValueError(f"time_map must be 'steps' or 'flow', got {time_map!r}")
    params, F0, hist = _stepwise_training(int(M), int(seed), int(d), float(readout_scale), int(n), float(horizon))
    x, xp, _ = wide_data(n)
    X = np.concatenate([x, xp])
    predictor = kernel.barlow_twins_predict(np.asarray(kernel_fn(params, X)), n_components=d)
    tau = predictor.critical_times(F0)
    if time_map == "flow":
        lam = predictor.predicted_eigenvalues(hist.t, F0)
    else:
        _, s0 = predictor.aligned_init(F0)
        lam = predictor.gammas[None, :] * discrete_singular_values(hist.step, predictor.gammas, s0, hist.lr) ** 2
    return np.sort(lam, axis=1)[:, ::-1], tau, predictor.gammas


def stepwise_run(M: int, seed: int = 1, d: int = 3, readout_scale: float = 1e-5, n: int = 100,
                 horizon: float = 1.3):
    """Small-init two-layer network vs the kernelised prediction from its own initial NTK (S40–S42).

    Returns (history, predicted eigenvalues of C at the recorded steps (GD recursion, see
    :func:`stepwise_prediction`), τ_j, γ_j).  The network is trained by full-batch GD with
    lr = ``STEPWISE_LR_SCALE`` / (8 γ_1) = 0.2 / (8 γ_1) to 1.3 × the largest τ_j.  Cached.
    """
    key = (int(M), int(seed), int(d), float(readout_scale), int(n), float(horizon))
    hist = _stepwise_training(*key)[2]
    lam_pred, tau, gammas = stepwise_prediction(*key)
    return hist, lam_pred, tau, gammas


STEPWISE_TOLERANCE = {True: 0.05, False: 0.02}
STEPWISE_MAX_SLOPE = -0.5


def _check_wide_stepwise(fast, *, kernel_fn=own_initial_ntk, time_map="steps") -> Outcome:
    """The comparison with the kernel ``kernel_fn`` and time map ``time_map`` (see :func:`stepwise_prediction`)."""
    widths = stepwise_widths(fast)
    tol = STEPWISE_TOLERANCE[fast]
    errors, flow_errors, plateau_err, drift = [], [], [], []
    for M in widths:
        hist = stepwise_run(M)[0]
        lam_pred, tau, _ = stepwise_prediction(M, kernel_fn=kernel_fn, time_map=time_map)
        errors.append(float(np.abs(hist["eigenvalues"] - lam_pred).max()))
        flow_errors.append(float(np.abs(hist["eigenvalues"] - stepwise_prediction(M, time_map="flow")[0]).max()))
        drift.append(float(hist["ntk_drift"][-1]))
        ts = np.sort(tau)
        separated = ts[1:] / ts[:-1] >= 1.5  # plateaus exist only between well-separated steps
        mids = np.sqrt(ts[:-1] * ts[1:])[separated]
        expected = (len(tau) - 1 - np.arange(len(ts) - 1))[separated]
        levels = np.interp(np.log(mids), np.log(np.maximum(hist.t, 1e-300)), hist.loss)
        plateau_err.append(float(np.abs(levels - expected).max()) if mids.size else 0.0)
    loo = _loo_slopes(widths, errors)
    details = {"widths": widths, "time_map": time_map, "sup_eigenvalue_error": errors,
               "loglog_slope": _fit_slope(widths, errors), "leave_one_out_slopes": loo,
               "max_leave_one_out_slope": STEPWISE_MAX_SLOPE,
               "sup_eigenvalue_error_vs_S10_at_t_eq_lr_step": flow_errors,
               "plateau_level_error": plateau_err, "ntk_drift_at_end": drift,
               "criterion": f"error at the widest width < {tol}, every leave-one-out slope <= "
                            f"{STEPWISE_MAX_SLOPE}, plateau levels within 0.25"}
    conditions = {"leave_one_out_slopes_at_most_max": max(loo) <= STEPWISE_MAX_SLOPE,
                  "plateau_levels_within_0.25": max(plateau_err) < 0.25}
    return Outcome(errors[-1], conditions=conditions, details=details)


@register("wide_stepwise_kernel_prediction", paper="S", reference="S Fig 2 A–B, App. D.1, S40–S42",
          description="small-init wide network learns stepwise; eigenvalues match the initial-NTK prediction",
          compares="small-init ReLU network (widths 128–1024; 256–4096 full) vs the GD-step recursion of S12 with "
                   "the S42 initial values from its initial NTK",
          tolerance={"fast": STEPWISE_TOLERANCE[True], "full": STEPWISE_TOLERANCE[False]}, sense="<",
          gate="sup eigenvalue error < 0.05 (full 0.02) at the widest width; every leave-one-out log–log slope "
               "over width <= −0.5 (leave_one_out_slopes_at_most_max); loss within 0.25 of the plateau levels "
               "(plateau_levels_within_0.25)")
def check_wide_stepwise(fast: bool = True, **ingredients) -> Outcome:
    """Two-layer ReLU network, readout init 1e-5, d = 3, 100 digit pairs, trained by GD with the Barlow Twins loss.

    Prediction: the kernelised small-init dynamics (S40–S42) with the network's own empirical NTK at
    initialisation ("trace" reduction) and its initial outputs, each mode advanced by the GD step of
    S12 at the trainer's lr, 0.2 / (8γ_1) (:func:`discrete_singular_values`).  The flow S10 at
    t = lr × step runs 4.7 % ahead of GD for mode 1 (4γ_1 lr = 0.1), which alone leaves an error of
    ≈ 0.25 at every width (reported as ``sup_eigenvalue_error_vs_S10_at_t_eq_lr_step``; with
    lr = 0.05 / (8γ_1) it ran 1.2 % ahead and the error levelled off at 0.07).  Metric: sup over recorded
    steps and j of |λ_j^net − λ_j^pred| (eigenvalues of C, sorted) at the widest network; passes if it
    is < 0.05 (fast, widths 128–1024; full 0.02, widths 256–4096), every leave-one-out log–log slope
    of the error over width is <= −0.5, and the loss goes through the plateaus: at the geometric mean
    of consecutive predicted τ_j (where they differ by a factor >= 1.5) it is within 0.25 of d − j.

    Can detect: a wrong kernel (e.g. the infinite-width NTK, whose x·x' term the small readout
    suppresses), wrong rates or time scale (S10 at t = lr × step fails), a wrong effective init, an
    error that does not vanish with width.  Cannot detect: errors of order the finite-width error
    (≈ 0.03 at M = 1024, tracking the NTK drift ∝ 1/M) or of the finite init scale (S40–S42 is a
    small-init limit, Result 4.6: at readout 1e-5 the error stops at ≈ 0.013 from M = 2048 to 4096,
    while readout 1e-7 gives 0.007 at M = 4096); one init seed and one data set.
    """
    return _check_wide_stepwise(fast, **ingredients)


# ---------------------------------------------------------------------------- Fleissner et al.


def standard_init_run(M: int, seed: int, supervised: bool = False, d: int = 3, n: int = 100,
                      T: float = 50.0, lr: float = 0.02):
    """Standard-init (all entries N(0, 1)) network trained to time T; NTK drift recorded.

    Barlow Twins on the pairs, or (``supervised``) the squared loss to the first d one-hot label
    coordinates of the digits — the familiar baseline.  Returns (history, F(0), F(T)) on [𝒳; 𝒳'].
    Cached on the normalised arguments, however they are passed.
    """
    return _standard_init_run(int(M), int(seed), bool(supervised), int(d), int(n), float(T), float(lr))


@functools.lru_cache(maxsize=None)
def _standard_init_run(M, seed, supervised, d, n, T, lr):
    x, xp, labels = wide_data(n)
    X = np.concatenate([x, xp])
    params = networks.init_two_layer(x.shape[1], M, d, seed=seed)
    n_steps = int(round(T / lr))
    ntk_fn = ntk.two_layer_ntk_fn(X, X, ACTIVATION)
    if supervised:
        y = np.eye(10)[labels][:, :d]
        final, hist = trainer.train_supervised(_apply, params, x, y, lr=lr, n_steps=n_steps, n_records=40,
                                               ntk_fn=ntk_fn)
    else:
        final, hist = trainer.train_barlow(_apply, params, x, xp, lr=lr, n_steps=n_steps, n_records=40,
                                           ntk_fn=ntk_fn)
    Xj = jnp.asarray(X)
    return hist, np.asarray(_apply(params, Xj)), np.asarray(_apply(final, Xj))


def _fleissner_widths(fast):
    return ([128, 256, 512, 1024], [1, 2]) if fast else ([128, 256, 512, 1024, 2048, 4096], [1, 2, 3])


@register("fleissner_ntk_constancy", paper="F", reference="F abstract (Thm: constant NTK under BT); A Fig 3 style",
          description="under Barlow Twins the NTK drift at a fixed time falls with width (slope <= -0.35)",
          compares="NTK drift at a fixed time vs width under Barlow Twins (supervised MSE reported alongside)",
          tolerance=-0.35, sense="<=", gate="fitted log–log slope of the drift over >= 4 widths <= −0.35")
def check_ntk_constancy(fast: bool = True) -> Outcome:
    """NTK drift ||K(T) − K(0)||_F / ||K(0)||_F at T = 50 (lr 0.02) vs width, standard init, Barlow Twins.

    Metric: fitted log–log slope of the seed-averaged drift over at least four widths; tolerance −0.35
    (pass if slope <= −0.35).  The same measurement with the supervised squared loss is reported as
    the baseline (``supervised_slope``), as is the drift itself.
    """
    widths, seeds = _fleissner_widths(fast)
    bt = [np.mean([standard_init_run(M, s)[0]["ntk_drift"][-1] for s in seeds]) for M in widths]
    sup = [np.mean([standard_init_run(M, s, supervised=True)[0]["ntk_drift"][-1] for s in seeds]) for M in widths]
    slope, slope_sup = _fit_slope(widths, bt), _fit_slope(widths, sup)
    details = {"widths": widths, "seeds": seeds, "drift_barlow_twins": bt, "drift_supervised_mse": sup,
               "slope_barlow_twins": slope, "slope_supervised": slope_sup,
               "final_loss_barlow_twins": [standard_init_run(M, seeds[0])[0].loss[-1] for M in widths]}
    return Outcome(slope, details=details)


def kernel_limit_widths_seeds(fast: bool):
    """Widths and init seeds of ``fleissner_kernel_limit`` (>= 3 seeds; the widths above 64 are those of the
    NTK-drift check, so the two checks share their training runs)."""
    return ([64, 128, 256, 512, 1024], [1, 2, 3]) if fast else ([64, 128, 256, 512, 1024, 2048, 4096], [1, 2, 3])


def relu_ntk(X):
    """The infinite-width ReLU NTK Θ on X (``analytic_ntk``): the kernel of the kernel model."""
    return ntk.analytic_ntk(X, X, ACTIVATION)


@functools.lru_cache(maxsize=None)
def _kernel_on_wide_data(theta_fn, n):
    x, xp, _ = wide_data(n)
    return np.asarray(theta_fn(np.concatenate([x, xp])))


@functools.lru_cache(maxsize=None)
def kernel_limit_run(M: int, seed: int, theta_fn=relu_ntk, n: int = 100) -> dict:
    """Network of width M (``standard_init_run(M, seed)``) vs the kernel model with Θ = ``theta_fn([𝒳; 𝒳'])``.

    Kernel model: dF/dt = −(Θ ⊗ I_d) ∇_F L(F), F(0) the network's initial outputs, integrated at the
    network's record times (``flows.function_space_flow``, rtol 1e-8, atol 1e-12; the GD step lr = 0.02
    times the largest rate of the linearised model, ≈ 0.7, is small enough that the flow and GD agree to
    far below the quantities measured here).  Returns a dict with "t", "loss_net", "loss_kernel",
    "alignment" (a(P_net, P_kernel) at T, S App. E), "relative_embedding_error" and "loss_curve_gap".
    """
    x, _, _ = wide_data(n)
    hist, F0, FT = standard_init_run(M, seed)
    F_kernel = flows.function_space_flow(_kernel_on_wide_data(theta_fn, n), F0, flows.barlow_twins_function_loss(n),
                                         hist.t, rtol=1e-8, atol=1e-12)
    loss_kernel = np.array([barlow.loss_from_embeddings(F[:n], F[n:]) for F in F_kernel])
    return {"t": hist.t, "loss_net": hist.loss, "loss_kernel": loss_kernel,
            "alignment": kernel.subspace_alignment(FT, F_kernel[-1]),
            "relative_embedding_error": float(np.linalg.norm(FT - F_kernel[-1]) / np.linalg.norm(F_kernel[-1])),
            "loss_curve_gap": float(np.abs(hist.loss - loss_kernel).max())}


KERNEL_LIMIT_GATES = {"loss_curve_gap": 0.1, "relative_embedding_error": 0.075, "max_leave_one_out_slope": -0.2,
                      "alignment": 0.99}


def _check_kernel_limit(fast, *, theta_fn=relu_ntk) -> Outcome:
    """The comparison with the kernel model of Θ = ``theta_fn(X)`` (the registered check: ``relu_ntk``)."""
    widths, seeds = kernel_limit_widths_seeds(fast)
    g = KERNEL_LIMIT_GATES
    runs = {(M, s): kernel_limit_run(M, s, theta_fn) for M in widths for s in seeds}
    mean = {q: [float(np.mean([runs[M, s][q] for s in seeds])) for M in widths]
            for q in ("alignment", "relative_embedding_error", "loss_curve_gap")}
    align, rel_err, gap = mean["alignment"], mean["relative_embedding_error"], mean["loss_curve_gap"]
    loo_gap, loo_rel = _loo_slopes(widths, gap), _loo_slopes(widths, rel_err)
    x, _, _ = wide_data()
    details = {"widths": widths, "seeds": seeds, "gates": g, "alignment": align,
               "slope_one_minus_alignment": _fit_slope(widths, 1.0 - np.array(align)),
               "relative_embedding_error": rel_err, "slope_relative_embedding_error": _fit_slope(widths, rel_err),
               "leave_one_out_slopes_relative_embedding_error": loo_rel,
               "loss_curve_gap": gap, "slope_loss_curve_gap": _fit_slope(widths, gap),
               "leave_one_out_slopes_loss_curve_gap": loo_gap,
               "per_seed_loss_curve_gap": [[runs[M, s]["loss_curve_gap"] for s in seeds] for M in widths],
               "chance_alignment": 3 / (2 * x.shape[0])}
    conditions = {"embedding_error_below_gate": rel_err[-1] < g["relative_embedding_error"],
                  "loss_curve_gap_loo_slopes_at_most_max": max(loo_gap) <= g["max_leave_one_out_slope"],
                  "embedding_error_loo_slopes_at_most_max": max(loo_rel) <= g["max_leave_one_out_slope"],
                  "alignment_at_least_gate": align[-1] >= g["alignment"]}
    return Outcome(gap[-1], conditions=conditions, details=details)


@register("fleissner_kernel_limit", paper="F", reference="F abstract; S App. E alignment",
          description="wide networks under BT approach the kernel model: training curve and embeddings",
          compares="trained network vs the infinite-width kernel model from the same F(0), widths 64–1024 "
                   "(full 4096), 3 seeds",
          tolerance=KERNEL_LIMIT_GATES["loss_curve_gap"], sense="<",
          gate="at the widest width: loss-curve gap < 0.1, embedding error < 0.075 (embedding_error_below_gate), "
               "alignment >= 0.99 (alignment_at_least_gate); leave-one-out slopes of gap and error <= −0.2 "
               "(*_loo_slopes_at_most_max)")
def check_kernel_limit(fast: bool = True, **ingredients) -> Outcome:
    """Trained network vs the infinite-width kernel model from the same initial outputs (:func:`kernel_limit_run`).

    Standard init, Barlow Twins, GD lr 0.02 to T = 50; kernel model with Θ = ``analytic_ntk`` (relu).
    Measured per width and seed (widths 64–1024 fast, 64–4096 full; seeds 1, 2, 3), then averaged over
    seeds: the largest gap between the network's loss curve and the kernel model's, the relative
    embedding error ‖F_net(T) − F_kernel(T)‖ / ‖F_kernel(T)‖ and the subspace alignment (S App. E) at T.
    Passes if, at the widest network, the loss-curve gap is < 0.1 (metric) and the embedding error
    < 0.075, every leave-one-out log–log slope of both over width is <= −0.2 (both fall like about
    M^-1/2), and the alignment is >= 0.99.

    Can detect: a wrong kernel model — the ReLU NNGP alone (Θ without its x·x' term) keeps a loss-curve
    gap of ≈ 0.6 at every width although its alignment is 0.995; Θ × 1.05 (a 5 % time rescaling) stops
    the gap falling — and a network that does not approach the kernel model as M grows.  Cannot detect:
    errors whose effect on the loss curve and the final embeddings stays below the finite-width error
    (gap ≈ 0.04, embedding error ≈ 0.04 at M = 1024); the alignment alone is 0.98 already at M = 64
    and barely tells kernels apart.
    """
    return _check_kernel_limit(fast, **ingredients)
