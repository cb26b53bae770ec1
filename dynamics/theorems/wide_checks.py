"""Checks for wide two-layer networks under Barlow Twins (S §6 / App. D.1, Fleissner et al. "F").

One network (two-layer, NTK parametrisation, ``dynamics.networks``), one loss
(Barlow Twins of the embeddings, ``dynamics.trainer.train_barlow``), one NTK
(``dynamics.ntk``), compared with the kernel theory of ``dynamics.kernel`` and
the frozen-kernel flow of ``dynamics.flows``.

What these checks can and cannot show: F's theorem is about width → ∞; here
it is checked as trends over a sweep of finite widths (fitted log–log slopes),
on a small built-in data set, at a fixed training time.  The generalisation
bounds of F are not checked.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from .. import barlow, data, flows, kernel, networks, ntk, trainer
from ._registry import CheckResult, register

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


def _fit_slope(widths, values):
    return float(np.polyfit(np.log(widths), np.log(values), 1)[0])


# ---------------------------------------------------------------------------- S Fig 2 A–B


@functools.lru_cache(maxsize=None)
def stepwise_run(M: int, seed: int = 1, d: int = 3, readout_scale: float = 1e-5, n: int = 100,
                 horizon: float = 1.3):
    """Small-init two-layer network vs the kernelised prediction from its own initial NTK (S40–S42).

    Returns the training history and the predicted eigenvalues of C at the recorded times.
    """
    x, xp, _ = wide_data(n)
    X = np.concatenate([x, xp])
    params = networks.init_two_layer(x.shape[1], M, d, seed=seed, readout_scale=readout_scale)
    K0 = np.asarray(ntk.two_layer_ntk(params, X, X, ACTIVATION, output="trace"))
    predictor = kernel.barlow_twins_predict(K0, n_components=d)
    F0 = np.asarray(_apply(params, jnp.asarray(X)))
    tau = predictor.critical_times(F0)
    lr = 0.05 / (8 * predictor.gammas[0])
    n_steps = int(np.ceil(horizon * tau.max() / lr))
    _, hist = trainer.train_barlow(_apply, params, x, xp, lr=lr, n_steps=n_steps, n_records=150,
                                   ntk_fn=ntk.two_layer_ntk_fn(X, X, ACTIVATION))
    lam_pred = np.sort(predictor.predicted_eigenvalues(hist.t, F0), axis=1)[:, ::-1]
    return hist, lam_pred, tau, predictor.gammas


@register("wide_stepwise_kernel_prediction", paper="S", reference="S Fig 2 A–B, App. D.1, S40–S42",
          description="small-init wide network learns stepwise; eigenvalues match the initial-NTK prediction")
def check_wide_stepwise(fast: bool = True) -> CheckResult:
    """Two-layer ReLU network, readout init 1e-5, d = 3, 100 digit pairs, trained by GD with the Barlow Twins loss.

    Prediction: the kernelised small-init dynamics (S40–S42) with the network's own empirical NTK at
    initialisation ("trace" reduction) and its initial outputs.  Metric: sup over t and j of
    |λ_j^net(t) − λ_j^pred(t)| (eigenvalues of C, sorted) at the widest network; passes if it is
    < 0.1 and the error falls with width (fitted log–log slope < 0).  The loss must also go through
    the plateaus: at the geometric mean of consecutive predicted τ_j (where they differ by a factor
    >= 1.5, so that a plateau exists) it is within 0.25 of d − j.
    """
    widths = [64, 256, 1024] if fast else [128, 512, 2048, 4096]
    errors, plateau_err, drift = [], [], []
    for M in widths:
        hist, lam_pred, tau, _ = stepwise_run(M)
        errors.append(float(np.abs(hist["eigenvalues"] - lam_pred).max()))
        drift.append(float(hist["ntk_drift"][-1]))
        ts = np.sort(tau)
        separated = ts[1:] / ts[:-1] >= 1.5  # plateaus exist only between well-separated steps
        mids = np.sqrt(ts[:-1] * ts[1:])[separated]
        expected = (len(tau) - 1 - np.arange(len(ts) - 1))[separated]
        levels = np.interp(np.log(mids), np.log(np.maximum(hist.t, 1e-300)), hist.loss)
        plateau_err.append(float(np.abs(levels - expected).max()) if mids.size else 0.0)
    slope = _fit_slope(widths, errors)
    details = {"widths": widths, "sup_eigenvalue_error": errors, "loglog_slope": slope,
               "plateau_level_error": plateau_err, "ntk_drift_at_end": drift}
    passed = errors[-1] < 0.1 and slope < 0 and max(plateau_err) < 0.25
    return CheckResult(errors[-1], 0.1, bool(passed), details)


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
          description="under Barlow Twins the NTK drift at a fixed time falls with width (slope <= -0.35)")
def check_ntk_constancy(fast: bool = True) -> CheckResult:
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
    return CheckResult(slope, -0.35, bool(slope <= -0.35), details, sense="<=")


@register("fleissner_kernel_limit", paper="F", reference="F abstract; S App. E alignment",
          description="wide networks under BT approach the kernel model: training curve and embeddings")
def check_kernel_limit(fast: bool = True) -> CheckResult:
    """Trained network vs the infinite-width kernel model from the same initial outputs.

    Kernel model: dF/dt = −(Θ ⊗ I_d) ∇_F L(F) with Θ = ``analytic_ntk`` (relu), F(0) the network's
    outputs, integrated to T (``flows.function_space_flow``).  Measured per width: subspace
    alignment a(P_net, P_kernel) of the embeddings at T (S App. E), the relative embedding error,
    and the largest gap between the network's loss curve and the kernel model's.  Passes if the
    alignment is >= 0.9 at the widest network, 1 − alignment falls with width (slope < 0), and the
    loss-curve gap falls with width (slope < 0): training curves become width-independent given
    the initial function.
    """
    widths, seeds = _fleissner_widths(fast)
    x, xp, _ = wide_data()
    X = np.concatenate([x, xp])
    theta = ntk.analytic_ntk(X, X, ACTIVATION)
    loss_fn = flows.barlow_twins_function_loss(x.shape[0])
    align, rel_err, gap = [], [], []
    for M in widths:
        a_s, e_s, g_s = [], [], []
        for s in seeds:
            hist, F0, FT = standard_init_run(M, s)
            F_kernel = flows.function_space_flow(theta, F0, loss_fn, hist.t, rtol=1e-8, atol=1e-12)
            n = x.shape[0]
            loss_kernel = np.array([barlow.loss_from_embeddings(F[:n], F[n:]) for F in F_kernel])
            a_s.append(kernel.subspace_alignment(FT, F_kernel[-1]))
            e_s.append(np.linalg.norm(FT - F_kernel[-1]) / np.linalg.norm(F_kernel[-1]))
            g_s.append(np.abs(hist.loss - loss_kernel).max())
        align.append(float(np.mean(a_s)))
        rel_err.append(float(np.mean(e_s)))
        gap.append(float(np.mean(g_s)))
    slope_align = _fit_slope(widths, 1.0 - np.array(align))
    slope_gap = _fit_slope(widths, gap)
    details = {"widths": widths, "seeds": seeds, "alignment": align, "slope_one_minus_alignment": slope_align,
               "relative_embedding_error": rel_err, "loss_curve_gap": gap, "slope_loss_curve_gap": slope_gap,
               "chance_alignment": 3 / X.shape[0]}
    passed = align[-1] >= 0.9 and slope_align < 0 and slope_gap < 0
    return CheckResult(align[-1], 0.9, bool(passed), details, sense=">=")
