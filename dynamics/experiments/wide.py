"""Wide two-layer networks under Barlow Twins: the setups and runs of Simon et al. (2023) §6 / App. D.1
and of Fleissner et al. (2025).

* S: J. B. Simon, M. Knutins, L. Ziyin, D. Geisz, A. J. Fetterman, J. Albrecht, "On the Stepwise Nature
  of Self-Supervised Learning", ICML 2023 (arXiv:2303.15438).
* F: M. Fleissner, G. G. Anil, D. Ghoshdastidar, "Infinite Width Limits of Self Supervised Neural
  Networks", PMLR 2025 (OpenReview CTlnhuuiaP).

Shared by the checks of :mod:`dynamics.theorems.wide_checks`, the figures S Fig 2, F NTK drift and F
kernel limit, and notebook 02.  One data set (:func:`wide_data`), one network (two-layer ReLU in NTK
parametrisation, :func:`relu_network_apply`), trained with the Barlow Twins loss of its embeddings
(``trainer.train_barlow``) by full-batch gradient descent; time is t = lr × step.

Runs that return objects (training histories, parameters) are cached in memory
(``functools.lru_cache``): :func:`stepwise_run`, :func:`stepwise_training`, :func:`standard_init_run`,
:func:`kernel_limit_run`.  The width × seed sweeps built on them — :func:`stepwise_records`,
:func:`ntk_drift_records`, :func:`kernel_limit_records` — return numbers and arrays per grid point and
go through :func:`dynamics.experiments.run_grid`: each point is computed once per process, and with a
cache directory (:func:`dynamics.experiments.cache_dir`) stored on disk, so an interrupted figure run
resumes.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from .. import barlow, data, flows, kernel, losses, networks, ntk, trainer
from .._validation import check_choice, check_positive_int
from .._x64 import float64
from ..losses import barlow_twins_function_loss
from ._grid import run_grid

ACTIVATION = "relu"

# Small-init runs of S Fig 2 A–C (S §6, App. D.1): init seed, output dimension d, pairs, length in units of the
# largest predicted τ_j (S16) and the number of records.
STEPWISE_SEED = 1
STEPWISE_D = 3
STEPWISE_HORIZON = 1.3
STEPWISE_RECORDS = 150
# Readout init scaled down with the width (:func:`stepwise_readout_scale`):
# σ(M) = STEPWISE_READOUT_SCALE · (M / STEPWISE_READOUT_WIDTH)^(−STEPWISE_READOUT_EXPONENT).  S40–S42 is the
# small-init limit (S Result 4.6); at a fixed σ its own error — frozen-kernel GD from the network's F(0) vs the
# aligned recursion — does not fall with M (σ = 1e-5: 0.025, 0.015, 2e-5, 2e-4, 0.0069 at M = 256 ... 4096) and
# at M = 4096 it equals the width error (0.0062), so the comparison stopped at 0.013 from M = 2048 to 4096.  It
# falls like σ^q with q ≈ 1/3 (M = 4096: 0.0069, 0.0014, 2.6e-4 at σ = 1e-5, 1e-7, 1e-9), the width error like
# 1/M, hence σ ∝ M^-3.
STEPWISE_READOUT_SCALE = 1e-5
STEPWISE_READOUT_WIDTH = 128
STEPWISE_READOUT_EXPONENT = 3.0
# GD step of the small-init runs: lr = STEPWISE_LR_SCALE / (8 γ_1), i.e. 4γ_1·lr = STEPWISE_LR_SCALE / 2, at every
# width.  The prediction follows GD step by step (:func:`discrete_singular_values`), so the step sets no floor:
# lr = 0.05 / (8γ_1) gave the same errors as 0.2 / (8γ_1) to 15 % at every width (M = 4096, σ = 1e-5: 0.0136 vs
# 0.0131; σ = 1e-7: 0.0087 vs 0.0072).
STEPWISE_LR_SCALE = 0.3

# Standard-init runs of the F experiments: output dimension, pairs, training time T and GD step.
STANDARD_INIT_D = 3
STANDARD_INIT_T = 50.0
STANDARD_INIT_LR = 0.02
STANDARD_INIT_RECORDS = 40
N_PAIRS = 100


@float64
@functools.lru_cache(maxsize=None)
def wide_data(n: int = N_PAIRS, seed: int = 0):
    """Built-in pairs for the wide networks: centred 7x7 digit crops scaled to mean squared norm 1.

    The data of the wide-network runs of S §6 / App. D.1 and of F (Fleissner et al. 2025).

    Returns ``(x, x_prime, labels)``; the scaling keeps NTK entries O(1).  Cached.
    """
    x, xp, labels = data.digits_pairs(n=n, crop_size=7, center=True, seed=seed, return_labels=True)
    scale = np.sqrt(np.mean(np.sum(np.concatenate([x, xp]) ** 2, axis=1)))
    return x / scale, xp / scale, labels


def relu_network_apply(params, inp):
    r"""The network of these experiments: two-layer, NTK parametrisation, :data:`ACTIVATION` (``networks``).

    $f(x) = M^{-1/2} W^\top \mathrm{relu}(V x)$ (the two-layer network of A2 and S App. D.1; the network of F
    Thm 1)."""
    return networks.two_layer_apply(params, inp, ACTIVATION)


# ---------------------------------------------------------------------------- S Fig 2 A–B


def stepwise_widths(fast: bool):
    """Widths of ``wide_stepwise_kernel_prediction`` (and of the S Fig 2 figure's panel C)."""
    return [128, 256, 512, 1024] if fast else [256, 512, 1024, 2048, 4096]


def own_initial_ntk(params, X):
    r"""The network's own empirical NTK at initialisation on X ("trace" over outputs).

    The kernel $K(0)$ of the stepwise prediction S40–S42 (S Fig 2 A–B, App. D.1), $K = \frac{1}{d}\sum_i
    K_{ii}$."""
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


def stepwise_readout_scale(M: int) -> float:
    """Readout init of the small-init run at width M: σ(M) = 1e-5 · (M / 128)^-3 (see :data:`STEPWISE_READOUT_SCALE`).

    The init scale falls with the width so that the small-init error of S40–S42 (S Result 4.6, ∝ σ^q,
    q ≈ 1/3 measured) stays below the finite-width error (∝ 1/M) over the whole sweep: 1e-5 at M = 128,
    2e-8 at M = 1024, 3e-10 at M = 4096.
    """
    M = check_positive_int(M, "M")
    return float(STEPWISE_READOUT_SCALE * (M / STEPWISE_READOUT_WIDTH) ** -STEPWISE_READOUT_EXPONENT)


def _stepwise_key(M, seed, d, readout_scale, n, horizon, lr_scale):
    """Normalised settings of a small-init run (None: the width schedule and :data:`STEPWISE_LR_SCALE`)."""
    M = check_positive_int(M, "M")
    readout_scale = stepwise_readout_scale(M) if readout_scale is None else float(readout_scale)
    lr_scale = STEPWISE_LR_SCALE if lr_scale is None else float(lr_scale)
    return (M, int(seed), int(d), readout_scale, int(n), float(horizon), lr_scale)


@functools.lru_cache(maxsize=None)
def _stepwise_training(M, seed, d, readout_scale, n, horizon, lr_scale):
    x, xp, _ = wide_data(n)
    X = np.concatenate([x, xp])
    params = networks.init_two_layer(x.shape[1], M, d, seed=seed, readout_scale=readout_scale)
    predictor = kernel.barlow_twins_predict(own_initial_ntk(params, X), n_components=d)
    F0 = np.asarray(relu_network_apply(params, jnp.asarray(X)))
    tau = predictor.critical_times(F0)
    lr = lr_scale / (8 * predictor.gammas[0])
    n_steps = int(np.ceil(horizon * tau.max() / lr))
    _, hist = trainer.train_barlow(relu_network_apply, params, x, xp, lr=lr, n_steps=n_steps, n_records=STEPWISE_RECORDS,
                                   ntk_fn=ntk.two_layer_ntk_fn(X, X, ACTIVATION))
    return params, F0, hist


@float64
def stepwise_training(M: int, seed: int = STEPWISE_SEED, d: int = STEPWISE_D, readout_scale: float | None = None,
                      n: int = N_PAIRS, horizon: float = STEPWISE_HORIZON, lr_scale: float | None = None):
    """Initial parameters, initial outputs F(0) on [𝒳; 𝒳'] and training history of the small-init network.

    Two-layer ReLU network of width M, readout init ``readout_scale`` (default: :func:`stepwise_readout_scale`
    (M)), trained by full-batch GD on the Barlow Twins loss with lr = ``lr_scale`` / (8 γ_1) (default
    :data:`STEPWISE_LR_SCALE`) to ``horizon`` × the largest τ_j, γ_j and τ_j (S16 with S42) from its own
    initial NTK; NTK drift recorded.  Cached on the normalised arguments.
    """
    return _stepwise_training(*_stepwise_key(M, seed, d, readout_scale, n, horizon, lr_scale))


def _aligned_eigenvalues(predictor, F0, hist, time_map):
    """λ^pred of S40–S42 at the records of ``hist``: GD recursion ("steps") or S10 at t = lr × step ("flow")."""
    if time_map == "flow":
        return predictor.predicted_eigenvalues(hist.t, F0)
    _, s0 = predictor.aligned_init(F0)
    return predictor.gammas[None, :] * discrete_singular_values(hist.step, predictor.gammas, s0, hist.lr) ** 2


@float64
def stepwise_prediction(M: int, seed: int = STEPWISE_SEED, d: int = STEPWISE_D, readout_scale: float | None = None,
                        n: int = N_PAIRS, horizon: float = STEPWISE_HORIZON, *, kernel_fn=own_initial_ntk,
                        time_map: str = "steps", lr_scale: float | None = None):
    """Predicted eigenvalues of C at the recorded steps of ``stepwise_run(M)``, from ``kernel_fn(params0, X)``.

    S40–S42 with K̃ = ``kernel_fn`` (default: the network's own NTK at init) and the network's initial
    outputs: γ_j from K_Γ, s_j(0) from S42.  ``time_map="steps"`` (default) evolves s_j by the GD
    recursion of :func:`discrete_singular_values` with the trainer's lr (the same modes, rates and
    init as S10, at the trainer's time step); ``"flow"`` evaluates S10 at t = lr × step.
    Returns (λ^pred sorted decreasingly (R, d), τ_j (S16), γ_j).  Cached.
    """
    if time_map not in ("steps", "flow"):
        raise ValueError(f"time_map must be 'steps' or 'flow', got {time_map!r}")
    return _stepwise_prediction(_stepwise_key(M, seed, d, readout_scale, n, horizon, lr_scale), kernel_fn, time_map)


@functools.lru_cache(maxsize=None)
def _stepwise_prediction(key, kernel_fn, time_map):
    params, F0, hist = _stepwise_training(*key)
    x, xp, _ = wide_data(key[4])
    X = np.concatenate([x, xp])
    predictor = kernel.barlow_twins_predict(np.asarray(kernel_fn(params, X)), n_components=key[2])
    lam = _aligned_eigenvalues(predictor, F0, hist, time_map)
    return np.sort(lam, axis=1)[:, ::-1], predictor.critical_times(F0), predictor.gammas


@float64
def stepwise_kernel_descent(M: int, seed: int = STEPWISE_SEED, d: int = STEPWISE_D,
                            readout_scale: float | None = None, n: int = N_PAIRS, horizon: float = STEPWISE_HORIZON,
                            lr_scale: float | None = None) -> np.ndarray:
    """Eigenvalues of C (sorted, (R, d)) of gradient descent on the frozen-kernel model at the run's records.

    F_{k+1} = F_k − lr K̃ ∇_F L(F_k) with K̃ the network's initial NTK (trace), the Barlow Twins loss of the
    stacked outputs and the network's own F(0) and lr (:func:`dynamics.flows.predictor` in its step mode):
    no small-init approximation and no finite width.  It splits the error of the check in two: network vs
    this (finite width) and this vs the aligned recursion of S40–S42 (finite init scale, S Result 4.6).
    """
    key = _stepwise_key(M, seed, d, readout_scale, n, horizon, lr_scale)
    params, F0, hist = _stepwise_training(*key)
    x, xp, _ = wide_data(key[4])
    F = flows.predictor(barlow_twins_function_loss(key[4]), own_initial_ntk(params, np.concatenate([x, xp])),
                        max_steps=int(hist.step[-1]) + 1)(hist.t, F0, lr=hist.lr)
    m = np.einsum("tai,taj->tij", F[:, :key[4]], F[:, key[4]:])
    return np.linalg.eigvalsh((m + m.transpose(0, 2, 1)) / (2 * key[4]))[:, ::-1]


@float64
def stepwise_run(M: int, seed: int = STEPWISE_SEED, d: int = STEPWISE_D, readout_scale: float | None = None,
                 n: int = N_PAIRS, horizon: float = STEPWISE_HORIZON, lr_scale: float | None = None):
    """Small-init two-layer network vs the kernelised prediction from its own initial NTK (S40–S42).

    Returns (history, predicted eigenvalues of C at the recorded steps (GD recursion, see
    :func:`stepwise_prediction`), τ_j, γ_j).  The network (readout init :func:`stepwise_readout_scale` (M))
    is trained by full-batch GD with lr = ``STEPWISE_LR_SCALE`` / (8 γ_1) = 0.3 / (8 γ_1) to 1.3 × the
    largest τ_j.  Cached.
    """
    key = _stepwise_key(M, seed, d, readout_scale, n, horizon, lr_scale)
    hist = _stepwise_training(*key)[2]
    lam_pred, tau, gammas = _stepwise_prediction(key, own_initial_ntk, "steps")
    return hist, lam_pred, tau, gammas


@float64
def stepwise_measurement(M: int, seed: int = STEPWISE_SEED, readout_scale: float | None = None,
                         lr_scale: float | None = None) -> dict:
    """One grid point of :func:`stepwise_records`: :func:`stepwise_run` ``(M, seed)`` as arrays.

    Keys: "t", "step", "lr", "loss", "eigenvalues" (of C, sorted), "ntk_drift" (the trainer's records),
    "lam_pred" (the GD-step prediction of :func:`stepwise_prediction`), "lam_pred_flow" (S10 at
    t = lr × step), "lam_kernel_gd" (:func:`stepwise_kernel_descent`), "readout_scale", "tau" (S16 with
    S42) and "gammas" (top-d eigenvalues of K_Γ of the initial NTK).
    """
    kw = {"readout_scale": readout_scale, "lr_scale": lr_scale}
    hist, lam_pred, tau, gammas = stepwise_run(M, seed, **kw)
    key = _stepwise_key(M, seed, STEPWISE_D, readout_scale, N_PAIRS, STEPWISE_HORIZON, lr_scale)
    return {"t": hist.t, "step": hist.step, "lr": hist.lr, "loss": hist.loss, "eigenvalues": hist["eigenvalues"],
            "ntk_drift": hist["ntk_drift"], "lam_pred": lam_pred,
            "lam_pred_flow": stepwise_prediction(M, seed, time_map="flow", **kw)[0],
            "lam_kernel_gd": stepwise_kernel_descent(M, seed, **kw), "readout_scale": key[3], "tau": tau,
            "gammas": gammas}


@float64
def stepwise_records(fast: bool, *, progress: bool = False) -> dict:
    """``{M: stepwise_measurement(M)}`` over :func:`stepwise_widths` (through :func:`run_grid`), readout init
    :func:`stepwise_readout_scale` (M) and lr = :data:`STEPWISE_LR_SCALE` / (8 γ_1).

    S Fig 2 A–B, App. D.1: the wide network's stepwise learning against the kernel prediction S40–S42."""
    widths = stepwise_widths(fast)
    points = [{"M": M, "seed": STEPWISE_SEED, "readout_scale": stepwise_readout_scale(M), "lr_scale": STEPWISE_LR_SCALE}
              for M in widths]
    recs = run_grid(stepwise_measurement, points, name="wide.stepwise_measurement", progress=progress)
    return dict(zip(widths, recs))


# ---------------------------------------------------------------------------- beyond S: SimCLR and VICReg

#: Losses of :func:`predictor_run`: SimCLR's NT-Xent (Chen et al. 2020, eq. 1; temperature 0.5) and VICReg
#: (Bardes et al. 2022, official coefficients 25, 25, 1) of the two views.
PREDICTOR_LOSSES = ("simclr", "vicreg")
PREDICTOR_TEMPERATURE = 0.5
PREDICTOR_D = 8        # d = 3 lets NT-Xent rows pass near the origin, where its normalisation is ill-conditioned
PREDICTOR_N = 50       # pairs (S App. D.1 trains on 50 images)
PREDICTOR_SEED = 1
PREDICTOR_RECORDS = 40
# Readout init σ, GD step and length.  NT-Xent is scale invariant, so from readout σ the dynamics run on the
# clock t/σ² (lr and T ∝ σ²); VICReg's hinge makes the embeddings grow from σ to std 1.
PREDICTOR_SETTINGS = {"simclr": {"readout_scale": 1e-2, "lr": 0.5e-4, "T": 200e-4},
                      "vicreg": {"readout_scale": 1e-3, "lr": 1e-2, "T": 10.0}}


def predictor_widths(fast: bool):
    r"""Widths of ``s_predictor_simclr_vicreg_width``.

    S40–S42 and S Fig 2 C, extended to SimCLR (arXiv:2002.05709) and VICReg (arXiv:2105.04906): the network
    against the frozen-kernel flow $\dot F = -K\,\nabla_F L(F)$."""
    return [128, 256, 512, 1024] if fast else [128, 256, 512, 1024, 2048, 4096]


def _view_loss(name, a, b):
    if name == "simclr":
        return losses.nt_xent(a, b, temperature=PREDICTOR_TEMPERATURE)
    return losses.vicreg(a, b)


@functools.lru_cache(maxsize=None)
def predictor_function_loss(name: str, n: int):
    r"""The loss ``name`` of the stacked outputs F = [f(𝒳); f(𝒳')] (2n, d), for :func:`dynamics.flows.predictor`
    (one function object per (name, n), so the compiled programs are reused).

    S40–S42 and S Fig 2 C, extended to SimCLR (arXiv:2002.05709) and VICReg (arXiv:2105.04906): the network
    against the frozen-kernel flow $\dot F = -K\,\nabla_F L(F)$; the losses follow SimCLR arXiv:2002.05709 and
    VICReg arXiv:2105.04906."""
    if name not in PREDICTOR_LOSSES:
        raise ValueError(f"name must be one of {list(PREDICTOR_LOSSES)}, got {name!r}")
    return lambda F: _view_loss(name, F[:n], F[n:])


@functools.lru_cache(maxsize=None)
def _network_loss(name):
    return lambda p, data: _view_loss(name, relu_network_apply(p, data["x"]), relu_network_apply(p, data["xp"]))


def _stacked_outputs(p, data):
    return relu_network_apply(p, jnp.concatenate([data["x"], data["xp"]]))


def initial_full_ntk(params, X):
    r"""The network's own empirical NTK at initialisation on X, full (N, N, d, d) (``ntk.two_layer_ntk``).

    The kernel $K(0)$ of the frozen-kernel flow $\dot F = -K\,\nabla_F L(F)$ of S40–S42 in the predictor runs (S
    Fig 2 C)."""
    return np.asarray(ntk.two_layer_ntk(params, X, X, ACTIVATION, output="full"))


@functools.lru_cache(maxsize=None)
def _predictor_training(loss, M, seed, readout_scale, lr, T):
    """Initial parameters and history (outputs "F" on [𝒳; 𝒳'] recorded) of :func:`predictor_run`; cached."""
    x, xp, _ = wide_data(PREDICTOR_N)
    params = networks.init_two_layer(x.shape[1], M, PREDICTOR_D, seed=seed, readout_scale=readout_scale)
    n_steps = int(round(T / lr))
    _, hist = trainer.gradient_descent(_network_loss(loss), params, {"x": jnp.asarray(x), "xp": jnp.asarray(xp)},
                                       lr=lr, record_steps=trainer.record_schedule(n_steps, PREDICTOR_RECORDS),
                                       observers={"F": _stacked_outputs})
    return params, hist


@float64
def predictor_run(loss: str, M: int, *, seed: int = PREDICTOR_SEED, readout_scale: float | None = None,
                  lr: float | None = None, T: float | None = None, kernel_fn=initial_full_ntk,
                  predict_loss: str | None = None) -> dict:
    """A small-init network trained with SimCLR or VICReg vs ``flows.predictor`` with its initial NTK.

    Two-layer ReLU network of width M (NTK parametrisation, V ~ N(0, 1), W ~ ``readout_scale``·N(0, 1)),
    d = :data:`PREDICTOR_D`, on :data:`PREDICTOR_N` digit pairs, trained by full-batch GD at ``lr`` to
    ``T`` on ``loss`` (defaults :data:`PREDICTOR_SETTINGS`).  Prediction: F(t) of
    F_{k+1} = F_k − lr K ∇_F L(F_k) (``flows.predictor(L, K)(t, F(0), lr=lr)``, the gradient-descent mode,
    which treats VICReg's hinge exactly as the network's GD does) with K = ``kernel_fn(params0, X)``
    (default the full empirical NTK at init) and L = ``predict_loss`` (default ``loss``) — S40–S42 for
    Barlow Twins, extended here to other losses.  Returns "t", "relative_error" ‖F_net(t) − F_pred(t)‖_F /
    ‖F_net(t)‖_F, "loss_net", "loss_pred".
    """
    if loss not in PREDICTOR_LOSSES:
        raise ValueError(f"loss must be one of {list(PREDICTOR_LOSSES)}, got {loss!r}")
    predict_loss = loss if predict_loss is None else predict_loss
    if predict_loss not in PREDICTOR_LOSSES:
        raise ValueError(f"predict_loss must be one of {list(PREDICTOR_LOSSES)}, got {predict_loss!r}")
    M = check_positive_int(M, "M")
    cfg = {**PREDICTOR_SETTINGS[loss], **{k: v for k, v in (("readout_scale", readout_scale), ("lr", lr), ("T", T))
                                          if v is not None}}
    n = PREDICTOR_N
    x, xp, _ = wide_data(n)
    X = np.concatenate([x, xp])
    params, hist = _predictor_training(loss, M, int(seed), float(cfg["readout_scale"]), float(cfg["lr"]),
                                       float(cfg["T"]))
    n_steps = int(hist.step[-1])
    F_net = np.asarray(hist["F"])
    fn = predictor_function_loss(predict_loss, n)
    F_pred = flows.predictor(fn, kernel_fn(params, X), max_steps=n_steps + 1)(hist.t, F_net[0], lr=cfg["lr"])
    rel = np.linalg.norm(F_net - F_pred, axis=(1, 2)) / np.linalg.norm(F_net, axis=(1, 2))
    loss_fn = predictor_function_loss(loss, n)
    return {"t": hist.t, "relative_error": rel, "loss_net": hist.loss,
            "loss_pred": np.array([float(loss_fn(jnp.asarray(F))) for F in F_pred]), **cfg}


@float64
def predictor_measurement(loss: str, M: int) -> dict:
    r"""One grid point of :func:`predictor_records`: :func:`predictor_run` ``(loss, M)`` with the defaults.

    S40–S42 and S Fig 2 C, extended to SimCLR (arXiv:2002.05709) and VICReg (arXiv:2105.04906): the network
    against the frozen-kernel flow $\dot F = -K\,\nabla_F L(F)$."""
    return predictor_run(loss, M)


@float64
def predictor_records(fast: bool, *, progress: bool = False) -> dict:
    r"""``{(loss, M): predictor_measurement(loss, M)}`` over :data:`PREDICTOR_LOSSES` × :func:`predictor_widths`.

    S40–S42 and S Fig 2 C, extended to SimCLR (arXiv:2002.05709) and VICReg (arXiv:2105.04906): the network
    against the frozen-kernel flow $\dot F = -K\,\nabla_F L(F)$."""
    points = [{"loss": name, "M": M} for name in PREDICTOR_LOSSES for M in predictor_widths(fast)]
    recs = run_grid(predictor_measurement, points, name="wide.predictor_measurement", progress=progress)
    return {(p["loss"], p["M"]): r for p, r in zip(points, recs)}


# ---------------------------------------------------------------------------- Fleissner et al.


@float64
def standard_init_run(M: int, seed: int, supervised: bool = False, d: int = STANDARD_INIT_D, n: int = N_PAIRS,
                      T: float = STANDARD_INIT_T, lr: float = STANDARD_INIT_LR):
    r"""Standard-init (all entries N(0, 1)) network trained to time T; NTK drift recorded.

    F Thm 1 (Fleissner et al. 2025): the NTK drift $\lVert K(T) - K(0)\rVert_F / \lVert K(0)\rVert_F$ falls with
    width under Barlow Twins.

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
        final, hist = trainer.train_supervised(relu_network_apply, params, x, y, lr=lr, n_steps=n_steps,
                                               n_records=STANDARD_INIT_RECORDS, ntk_fn=ntk_fn)
    else:
        final, hist = trainer.train_barlow(relu_network_apply, params, x, xp, lr=lr, n_steps=n_steps,
                                           n_records=STANDARD_INIT_RECORDS, ntk_fn=ntk_fn)
    Xj = jnp.asarray(X)
    return hist, np.asarray(relu_network_apply(params, Xj)), np.asarray(relu_network_apply(final, Xj))


def fleissner_widths(fast: bool):
    r"""Widths and init seeds of ``fleissner_ntk_constancy`` (and of the NTK-drift figure).

    The width grid of F Thm 1 (Fleissner et al. 2025): NTK drift $\to 0$ as $M \to \infty$."""
    return ([128, 256, 512, 1024], [1, 2]) if fast else ([128, 256, 512, 1024, 2048, 4096], [1, 2, 3])


@float64
def ntk_drift_measurement(M: int, seed: int, supervised: bool = False) -> dict:
    """One grid point of :func:`ntk_drift_records`: "t", "ntk_drift" ‖K(t) − K(0)‖_F / ‖K(0)‖_F and "loss"
    of :func:`standard_init_run` ``(M, seed, supervised)``.

    F Thm 1: the drift falls with width M under Barlow Twins (Fleissner et al. 2025)."""
    hist = standard_init_run(M, seed, supervised)[0]
    return {"t": hist.t, "ntk_drift": hist["ntk_drift"], "loss": hist.loss}


@float64
def ntk_drift_records(widths, seeds, supervised: bool = False, *, progress: bool = False) -> dict:
    r"""``{(M, seed): ntk_drift_measurement(M, seed, supervised)}`` over widths × seeds (:func:`run_grid`).

    F Thm 1 (Fleissner et al. 2025): $\lVert K(t) - K(0)\rVert_F / \lVert K(0)\rVert_F \to 0$ as $M \to \infty$."""
    points = [{"M": int(M), "seed": int(s), "supervised": bool(supervised)} for M in widths for s in seeds]
    recs = run_grid(ntk_drift_measurement, points, name="wide.ntk_drift_measurement", progress=progress)
    return {(p["M"], p["seed"]): r for p, r in zip(points, recs)}


def kernel_limit_widths_seeds(fast: bool):
    """Widths and init seeds of ``fleissner_kernel_limit`` (>= 3 seeds; the widths above 64 are those of the
    NTK-drift check, so the two checks share their training runs).

    The width × seed grid of F Thm 1 (Fleissner et al. 2025), kernel-limit part."""
    return ([64, 128, 256, 512, 1024], [1, 2, 3]) if fast else ([64, 128, 256, 512, 1024, 2048, 4096], [1, 2, 3])


def relu_ntk(X):
    r"""The infinite-width ReLU NTK Θ on X (``analytic_ntk``): the kernel of the kernel model.

    $\Theta(x, \tilde x) = \Sigma(x, \tilde x) + (x^\top \tilde x)\,\mathbb{E}_v[\varphi'(v^\top
    x)\varphi'(v^\top \tilde x)]$ (Jacot et al. 2018, arXiv:1806.07572), the limit kernel of F Thm 1."""
    return ntk.analytic_ntk(X, X, ACTIVATION)


@functools.lru_cache(maxsize=None)
def _kernel_on_wide_data(theta_fn, n):
    x, xp, _ = wide_data(n)
    return np.asarray(theta_fn(np.concatenate([x, xp])))


@float64
@functools.lru_cache(maxsize=None)
def kernel_limit_run(M: int, seed: int, theta_fn=relu_ntk, n: int = N_PAIRS) -> dict:
    """Network of width M (``standard_init_run(M, seed)``) vs the kernel model with Θ = ``theta_fn([𝒳; 𝒳'])``.

    Kernel model: dF/dt = −(Θ ⊗ I_d) ∇_F L(F), F(0) the network's initial outputs, integrated at the
    network's record times (``flows.function_space_flow``, rtol 1e-8, atol 1e-12; the GD step lr = 0.02
    times the largest rate of the linearised model, ≈ 0.7, is small enough that the flow and GD agree to
    far below the quantities measured here).  Returns a dict with "t", "loss_net", "loss_kernel",
    "alignment" (a(P_net, P_kernel) at T, S App. E), "relative_embedding_error" and "loss_curve_gap".
    """
    hist, F0, FT = standard_init_run(M, seed)
    F_kernel = flows.function_space_flow(_kernel_on_wide_data(theta_fn, n), F0, flows.barlow_twins_function_loss(n),
                                         hist.t, rtol=1e-8, atol=1e-12)
    loss_kernel = np.array([barlow.loss_from_embeddings(F[:n], F[n:]) for F in F_kernel])
    return {"t": hist.t, "loss_net": hist.loss, "loss_kernel": loss_kernel,
            "alignment": kernel.subspace_alignment(FT, F_kernel[-1]),
            "relative_embedding_error": float(np.linalg.norm(FT - F_kernel[-1]) / np.linalg.norm(F_kernel[-1])),
            "loss_curve_gap": float(np.abs(hist.loss - loss_kernel).max())}


@float64
def kernel_limit_measurement(M: int, seed: int) -> dict:
    """One grid point of :func:`kernel_limit_records`: :func:`kernel_limit_run` ``(M, seed)``, Θ = :func:`relu_ntk`.

    F Thm 1 (Fleissner et al. 2025): the width-M network approaches the kernel model with the limit kernel Θ (S
    App. E alignment)."""
    return kernel_limit_run(M, seed)


@float64
def kernel_limit_records(widths, seeds, theta_fn=relu_ntk, *, progress: bool = False) -> dict:
    """``{(M, seed): kernel_limit_run(M, seed, theta_fn)}`` over widths × seeds.

    F Thm 1 (Fleissner et al. 2025): the network approaches the kernel model with Θ as M grows.

    With the registered kernel (:func:`relu_ntk`) the points go through :func:`run_grid` (stored on disk
    when a cache directory is set); another ``theta_fn`` (a function cannot name a stored point) is run
    in memory only.
    """
    keys = [(int(M), int(s)) for M in widths for s in seeds]
    if theta_fn is not relu_ntk:
        return {(M, s): kernel_limit_run(M, s, theta_fn) for M, s in keys}
    recs = run_grid(kernel_limit_measurement, [{"M": M, "seed": s} for M, s in keys],
                    name="wide.kernel_limit_measurement", progress=progress)
    return dict(zip(keys, recs))



# ---------------------------------------------------------------------------- NTK at initialisation

NTK_INIT_INPUTS = ("unit_norm", "mixed_norm")


@functools.lru_cache(maxsize=None)
def ntk_init_digits(inputs: str = "mixed_norm", n: int = 100, seed: int = 0, crop_size: int = 7,
                    lo: float = 0.5, hi: float = 2.0) -> np.ndarray:
    r"""The inputs of the NTK-at-initialisation check, rebuilt from their name, size and seed.

    ``"unit_norm"``: centred ``crop_size``² crops of scikit-learn digits (the first view of each pair of
    :func:`dynamics.data.digits_pairs`), rows scaled to unit norm.  ``"mixed_norm"``: the same rows scaled
    by $r_i = e^{u_i}$, $u_i \sim U[\log lo, \log hi]$ (NumPy seed 3), since the erf kernel depends on the
    norms and not only on the angles.  The inputs on which the empirical NTK is compared with the
    infinite-width kernel $\Theta$ (Jacot et al. 2018, arXiv:1806.07572; A Lemma 9's kernel; S App. D.5).
    Cached.
    """
    check_choice(inputs, "inputs", NTK_INIT_INPUTS)
    n = check_positive_int(n, "n")
    seed = check_positive_int(seed, "seed", minimum=0)
    x, _ = data.digits_pairs(n=n, crop_size=crop_size, center=True, seed=seed)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1.0)
    if inputs == "unit_norm":
        return x
    if not (0 < lo <= hi and np.isfinite(hi)):
        raise ValueError(f"lo and hi must satisfy 0 < lo <= hi < inf, got lo={lo!r}, hi={hi!r}")
    r = np.exp(np.random.default_rng(3).uniform(np.log(lo), np.log(hi), size=(x.shape[0], 1)))
    return x * r


@float64
def ntk_init_point(M: int, seed: int, activation: str, inputs: str, n: int, data_seed: int, z_out: int) -> dict:
    r"""One (width, seed) point of the NTK-at-init sweep: {"K": the empirical "trace" NTK $K_M(x, x)$}.

    $K_M(a, b) = \frac{1}{M}\sum_{m=1}^M \big[\phi(v_m\cdot a)\phi(v_m\cdot b) + \tfrac{\lVert w_m\rVert^2}{Z}
    (a\cdot b)\,\phi'(v_m\cdot a)\phi'(v_m\cdot b)\big]$ of a width-``M`` two-layer network
    (:func:`dynamics.networks.init_two_layer` with ``seed``, output dimension ``z_out``) on
    :func:`ntk_init_digits` ``(inputs, n, data_seed)``, from :func:`dynamics.ntk.two_layer_ntk` (the NTK at
    init of Jacot et al. 2018, arXiv:1806.07572; A Lemma 9, S App. D.5).  Every argument is a JSON value,
    so the point can be stored and run on a worker by :func:`~dynamics.experiments.run_grid`.
    """
    M = check_positive_int(M, "M")
    seed = check_positive_int(seed, "seed", minimum=0)
    z_out = check_positive_int(z_out, "z_out")
    x = ntk_init_digits(inputs, n, data_seed)
    params = networks.init_two_layer(x.shape[1], M, z_out, seed=seed)
    return {"K": np.asarray(ntk.two_layer_ntk(params, x, x, activation, output="trace"))}


__all__ = ["ACTIVATION", "N_PAIRS", "PREDICTOR_D", "PREDICTOR_LOSSES", "PREDICTOR_N", "PREDICTOR_RECORDS",
           "PREDICTOR_SEED", "PREDICTOR_SETTINGS", "PREDICTOR_TEMPERATURE", "initial_full_ntk", "predictor_function_loss",
           "predictor_measurement", "predictor_records", "predictor_run", "predictor_widths", "STANDARD_INIT_D", "STANDARD_INIT_LR", "STANDARD_INIT_RECORDS", "STANDARD_INIT_T",
           "STEPWISE_D", "STEPWISE_HORIZON", "STEPWISE_LR_SCALE", "STEPWISE_READOUT_EXPONENT",
           "STEPWISE_READOUT_SCALE", "STEPWISE_READOUT_WIDTH", "STEPWISE_RECORDS", "STEPWISE_SEED", "discrete_singular_values", "fleissner_widths", "kernel_limit_measurement",
           "kernel_limit_records", "kernel_limit_run", "kernel_limit_widths_seeds", "relu_network_apply",
           "ntk_drift_measurement", "ntk_drift_records", "own_initial_ntk", "relu_ntk", "standard_init_run",
           "stepwise_kernel_descent", "stepwise_measurement", "stepwise_prediction", "stepwise_readout_scale",
           "stepwise_records", "stepwise_run", "stepwise_training", "stepwise_widths", "wide_data"]
__all__ += ["NTK_INIT_INPUTS", "ntk_init_digits", "ntk_init_point"]
