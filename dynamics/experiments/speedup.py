"""Can self-supervised training be sped up?  The proposals of Simon et al. (2023) App. G, measured.

S: J. B. Simon, M. Knutins, L. Ziyin, D. Geisz, A. J. Fetterman, J. Albrecht, "On the Stepwise Nature of
Self-Supervised Learning", ICML 2023 (arXiv:2303.15438).  SSL is slow because the small eigendirections of
the embeddings grow last (S10, S16: the escape time of mode j grows like $\\log(1/s_j(0)^2)/(8\\gamma_j)$).  S
App. G proposes three fixes, and this module measures each against the unmodified loss in one run:

* ``"precondition"`` (S52, any joint-embedding loss): the gradient with respect to the stacked embeddings
  $F = [z_a; z_b] \\in \\mathbb{R}^{2N \\times d}$ becomes $\\nabla_F L\\,(F^\\top F + \\alpha I_d)^{-1}$
  (:func:`dynamics.losses.preconditioned`), which pulls harder along the directions of small variance.  Here
  $\\alpha = $ :data:`ALPHA_REL` $\\cdot 2N$, and its learning-rate grid is the baseline's times
  $2N(1 + $ :data:`ALPHA_REL` $)$, so that both take the same step where $F^\\top F = 2N I_d$ (the learned
  state of Barlow Twins): the search compares like with like.
* the spectral modifications of Barlow Twins (:func:`dynamics.losses.modified_barlow_twins`, S App. G.2–G.3):
  $L = \\sum_j \\ell(\\lambda_j(C))$ with ``"sqr"`` $\\ell = (g_\\mathrm{sqr}(\\lambda) - 1)^2$,
  $g_\\mathrm{sqr}(\\lambda) = \\mathrm{sign}(\\lambda)|\\lambda|^{1/2}$ (sharpening at zero);
  ``"smooth_min"`` $(\\min(\\lambda, 1) - 1)^2$, ``"smooth_eps"`` $(\\min(\\lambda, 1 + \\epsilon(1 - \\lambda)) - 1)^2$,
  ``"quartic"`` $(1 - \\lambda)^4$ and ``"hinge"`` $\\max(|1 - \\lambda| - w, 0)^2$ (smoothed minima, which should
  tolerate larger learning rates).

**The measurement.**  For every (loss, modification) of a setting, full-batch (linear, wide) or mini-batch
(deep) training for a fixed number of steps at each learning rate of a geometric grid; a run is *stable*
when it stays finite and its final loss is not above its initial loss.  At the largest stable rate of the
grid, the *time to learn all d modes* is the first recorded step from which the embedding spectrum stays
"learned" to the end of the run (:func:`learned`):

* Barlow Twins (every modification): every eigenvalue of the symmetrised cross-correlation C (S2) above
  :data:`LEARNED_LEVEL` = 0.5 (the target is $C = I_d$);
* VICReg: every eigenvalue of the centred covariance $\\tilde C$ of the embeddings above 0.5 (the variance
  term pushes each standard deviation to 1);
* SimCLR (NT-Xent is blind to the scale of the embeddings): $\\lambda_d(\\tilde C)/\\lambda_1(\\tilde C) >$
  :data:`SIMCLR_RATIO` = 0.1 with $\\lambda_1(\\tilde C)$ at least :data:`SIMCLR_GROWTH` = 100 times its initial value.

Reported beside it: the steps and the time t = lr × step to learn, the speed-up ratio (the baseline's steps
over the modification's, both from this run), the final linear-probe accuracy (:func:`dynamics.ssl.linear_probe`:
on the embeddings for the linear and wide models, on the hidden layer for the deep network, as S Fig 7), and a
status: ``"learned"``, ``"not learned by step N"`` or ``"diverged"`` (no stable rate in the grid).  A largest
stable rate at the top of the grid is flagged (the true limit may lie higher).

**Settings** (:func:`speedup_setup`): (a) ``"linear"`` — f(x) = W x on the S §4 digit pairs
(:func:`dynamics.experiments.stepwise.digits_setup`), W(0) ~ N(0, σ²); (b) ``"wide"`` — the two-layer ReLU network
of :mod:`dynamics.experiments.wide` (NTK parametrisation, small readout) on its pairs; (c) ``"deep"`` — the
one-hidden-layer MLP of S App. D.1 on random 6 × 6 digit crops of :mod:`dynamics.experiments.deep`, trained by
:func:`dynamics.ssl.train_ssl` (SGD with momentum 0.9, batch 64) with Barlow Twins, SimCLR and VICReg.

**The VICReg conjecture** (S App. G.3: VICReg's square root in its variance term acts like $g_\\mathrm{sqr}$):
:func:`vicreg_conjecture` trains the linear model from small init with VICReg with and without the square root
(:func:`dynamics.losses.vicreg` ``sqrt=False``) and with Barlow Twins with and without $g_\\mathrm{sqr}$, at one
learning rate per loss, and reports the growth of the smallest eigenvalue over the first steps.

Every run goes through :func:`dynamics.experiments.run_grid`: computed once per process, and stored point by
point when a cache directory is set.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import data, losses, networks, ssl, trainer
from .._validation import check_choice
from .._x64 import float64
from . import deep, wide
from ._grid import run_grid

SETTINGS = ("linear", "wide", "deep")
MODIFICATIONS = ("baseline", "precondition", "sqr", "smooth_min", "smooth_eps", "quartic", "hinge")
#: the spectral modifications of Barlow Twins (S App. G.2-G.3), names of dynamics.losses.modified_barlow_twins
SPECTRAL = ("sqr", "smooth_min", "smooth_eps", "quartic", "hinge")
LOSSES = ("barlow_twins", "simclr", "vicreg")

#: S52's α relative to the number of stacked rows 2N: α = ALPHA_REL · 2N.
ALPHA_REL = 0.05
#: ε of smooth_eps and the basin half-width w of hinge.
SMOOTH_EPS = 0.1
HINGE_WIDTH = 0.25
#: the "learned" thresholds (module docstring).
LEARNED_LEVEL = 0.5
SIMCLR_RATIO = 0.1
SIMCLR_GROWTH = 100.0
#: the growth window of the VICReg conjecture (steps).
CONJECTURE_STEPS = 200


def methods(setting: str) -> list[tuple[str, str]]:
    """The (loss, modification) pairs measured in ``setting``: every modification of Barlow Twins; for the deep
    network also SimCLR and VICReg, baseline and S52 (the spectral modifications are specific to Barlow Twins,
    S App. G.2)."""
    check_choice(setting, "setting", set(SETTINGS))
    out = [("barlow_twins", m) for m in MODIFICATIONS]
    if setting == "deep":
        out += [(loss, m) for loss in ("simclr", "vicreg") for m in ("baseline", "precondition")]
    return out


def _geometric(start, factor, count):
    return tuple(float(f"{start * factor ** k:.6g}") for k in range(count))


def speedup_setup(fast: bool) -> dict:
    """The sizes of the runs, per setting (plain numbers, strings and tuples).

    Each setting has: n_steps (the step budget of every run), n_records (log-spaced records,
    :func:`dynamics.trainer.record_schedule`: the time to learn is resolved to a few per cent at every scale), lrs (the
    baseline learning-rate grid per loss; S52's grid is it times 2N(1 + ALPHA_REL)), pairs (N, the rows of a
    batch are 2N), d; linear: init_scale; wide: width, readout_scale; deep: alpha (init scale), batch_size,
    eval_size.  The deep model is the MLP of S App. D.1 with the data, augmentation and learning rates of
    :func:`dynamics.experiments.deep.deep_setup` in fast mode (its full mode trains a residual network).
    """
    fast = bool(fast)
    dsetup = deep.deep_setup(True)
    return {
        "linear": {"data": "digits 7x7 crop pairs (S §4), centred", "pairs": 500, "d": 6, "init_scale": 1e-6,
                   "n_steps": 1000 if fast else 4000, "n_records": 100 if fast else 200,
                   "lrs": {"barlow_twins": _geometric(0.04, 2.0, 10 if fast else 12)}},
        "wide": {"data": "digits 7x7 crop pairs, mean squared norm 1", "pairs": wide.N_PAIRS, "d": 3,
                 "width": 128 if fast else 1024, "readout_scale": 1e-4, "n_steps": 500 if fast else 4000,
                 "n_records": 80 if fast else 200,
                 "lrs": {"barlow_twins": _geometric(0.2, 2.0, 8 if fast else 10)}},
        "deep": {"data": dsetup["data"], "network": dsetup["network"], "width": dsetup["width"], "d": dsetup["d"],
                 "pairs": dsetup["batch_size"], "batch_size": dsetup["batch_size"], "alpha": 0.1,
                 "momentum": dsetup["momentum"], "eval_size": 256 if fast else 1024,
                 "n_steps": 600 if fast else 2000, "n_records": 30 if fast else 100,
                 "lrs": {loss: _geometric(dsetup["lr"][loss], 2.0, 3 if fast else 5) for loss in LOSSES}},
        "alpha_rel": ALPHA_REL, "smooth_eps": SMOOTH_EPS, "hinge_width": HINGE_WIDTH, "seed": 0,
    }


def lr_grid(setting: str, loss: str, modification: str, fast: bool) -> tuple[float, ...]:
    """The learning rates tried for (loss, modification): the baseline grid, times 2N(1 + ALPHA_REL) for S52."""
    s = speedup_setup(fast)[setting]
    base = s["lrs"][loss]
    if modification != "precondition":
        return base
    scale = 2 * s["pairs"] * (1 + ALPHA_REL)
    return tuple(float(f"{lr * scale:.6g}") for lr in base)


def loss_spec(loss: str, modification: str, pairs: int) -> tuple[str, dict, float | None]:
    """(loss name of :data:`dynamics.ssl.LOSSES`, its loss_kwargs, S52's α or None) of a (loss, modification):
    Barlow Twins with λ = 1 and the symmetrised C of S1-S2; SimCLR τ = 0.2 and VICReg's weights as in
    :mod:`dynamics.experiments.deep`; a spectral modification of :func:`dynamics.losses.modified_barlow_twins`;
    ``"precondition"`` the baseline with α = ALPHA_REL · 2 ``pairs``."""
    check_choice(loss, "loss", set(LOSSES))
    check_choice(modification, "modification", set(MODIFICATIONS))
    if modification in SPECTRAL:
        if loss != "barlow_twins":
            raise ValueError(f"modification {modification!r} applies to barlow_twins only (S App. G.2), got loss "
                             f"{loss!r}")
        kw = {"modification": modification}
        if modification == "smooth_eps":
            kw["eps"] = SMOOTH_EPS
        if modification == "hinge":
            kw["width"] = HINGE_WIDTH
        return "modified_barlow_twins", kw, None
    kw = dict(deep.LOSS_KWARGS[loss])
    return loss, kw, (ALPHA_REL * 2 * pairs if modification == "precondition" else None)


def embedding_loss(loss: str, modification: str, pairs: int):
    """The loss ``L(z_a, z_b)`` of (loss, modification) (:func:`loss_spec`, :func:`dynamics.ssl.ssl_loss`). S App. G."""
    name, kw, alpha = loss_spec(loss, modification, pairs)
    return ssl.ssl_loss(name, precondition=alpha, **kw)


def learned(loss: str, eigenvalues) -> np.ndarray:
    """(R,) bool: record r has learned all d modes (module docstring): every eigenvalue above LEARNED_LEVEL
    (Barlow Twins: λ(C); VICReg: λ(C̃)); SimCLR: λ_d/λ_1 > SIMCLR_RATIO with λ_1 > SIMCLR_GROWTH · λ_1 at the
    first record.  ``eigenvalues`` (R, d), any order per row. S App. G."""
    check_choice(loss, "loss", set(LOSSES))
    lam = np.sort(np.asarray(eigenvalues, dtype=float), axis=1)[:, ::-1]
    if lam.ndim != 2 or lam.shape[0] < 1:
        raise ValueError(f"eigenvalues must be 2-D (R, d) with R >= 1, got shape {lam.shape}")
    ok = np.all(np.isfinite(lam), axis=1)
    if loss == "simclr":
        top = lam[:, 0]
        return ok & (lam[:, -1] > SIMCLR_RATIO * top) & (top > SIMCLR_GROWTH * lam[0, 0])
    return ok & np.all(lam > LEARNED_LEVEL, axis=1)


def time_to_learn(steps, loss: str, eigenvalues):
    """The first recorded step from which every later record is :func:`learned`, or None (not learned by the
    end of the run). S App. G."""
    steps = np.asarray(steps)
    ok = learned(loss, eigenvalues)
    if steps.shape != ok.shape:
        raise ValueError(f"steps must have one entry per record ({ok.shape[0]}), got shape {steps.shape}")
    if not ok[-1]:
        return None
    bad = np.flatnonzero(~ok)
    return int(steps[0] if bad.size == 0 else steps[bad[-1] + 1])


# ---------------------------------------------------------------------------------------------
# (a) linear and (b) wide: full-batch gradient descent through dynamics.trainer


def _linear_apply(W, x):
    """f(x) = W x for the rows of x (S §3)."""
    return x @ W.T


def _wide_apply(params, x):
    return wide.relu_network_apply(params, x)


_APPLY = {"linear": _linear_apply, "wide": _wide_apply}


@functools.lru_cache(maxsize=64)
def _gd_loss(setting, loss, modification, pairs):
    apply_fn, fn = _APPLY[setting], embedding_loss(loss, modification, pairs)
    return lambda p, data: fn(apply_fn(p, data["x"]), apply_fn(p, data["xp"]))


@functools.lru_cache(maxsize=16)
def _gd_spectrum(setting, loss):
    apply_fn = _APPLY[setting]
    spec_loss = "barlow_twins" if loss == "modified_barlow_twins" else loss
    return lambda p, data: ssl.embedding_spectrum(spec_loss, apply_fn(p, data["x"]), apply_fn(p, data["xp"]))


@float64
@functools.lru_cache(maxsize=4)
def _gd_data(setting):
    if setting == "linear":
        # the pairs of stepwise.digits_setup (S §4), with their labels for the probe
        x, xp, labels = data.digits_pairs(n=500, crop_size=7, center=True, seed=0, return_labels=True)
        return x, xp, np.asarray(labels)
    x, xp, labels = wide.wide_data()
    return x, xp, np.asarray(labels)


def _gd_init(setting, fast, seed):
    s = speedup_setup(fast)[setting]
    x, _, _ = _gd_data(setting)
    if setting == "linear":
        return jnp.asarray(trainer.init_linear(s["d"], x.shape[1], s["init_scale"], seed))
    p = networks.init_two_layer(x.shape[1], s["width"], s["d"], seed=seed, readout_scale=s["readout_scale"])
    return {"V": p["V"], "W": p["W"]}


def _probe_embeddings(features, labels):
    n = features.shape[0] // 2
    if not np.all(np.isfinite(features)):
        return np.nan
    return ssl.linear_probe(features[:n], labels[:n], features[n:], labels[n:])


@float64
def gd_run(setting: str, loss: str, modification: str, lr: float, fast: bool, seed: int = 0) -> dict:
    """One full-batch run of (a) ``"linear"`` or (b) ``"wide"`` at learning rate ``lr``
    (:func:`dynamics.trainer.gradient_descent` on the embedding loss of the pairs, float64).
    S App. G.

    Returns {"steps" (R,), "loss" (R,), "eigenvalues" (R, d) (descending; Barlow Twins: λ(C)), "diverged" (0/1),
    "diverged_step", "probe" (linear-probe accuracy of the final embeddings of the first views: labels of the
    first half train the probe, the second half tests it; NaN if diverged)}.
    """
    check_choice(setting, "setting", {"linear", "wide"})
    s = speedup_setup(fast)[setting]
    x, xp, labels = _gd_data(setting)
    name, _, _ = loss_spec(loss, modification, s["pairs"])
    loss_fn = _gd_loss(setting, loss, modification, s["pairs"])
    obs = {"eigenvalues": _gd_spectrum(setting, name)}
    rec = trainer.record_schedule(s["n_steps"], s["n_records"])
    d = s["d"]
    try:
        params, hist = trainer.gradient_descent(loss_fn, _gd_init(setting, fast, seed),
                                                {"x": jnp.asarray(x), "xp": jnp.asarray(xp)}, lr=lr,
                                                record_steps=rec, observers=obs)
    except trainer.NonFiniteError as exc:
        return {"steps": rec, "loss": np.full(rec.size, np.nan), "eigenvalues": np.full((rec.size, d), np.nan),
                "diverged": 1, "diverged_step": exc.step, "probe": np.nan}
    feats = np.asarray(_APPLY[setting](params, jnp.asarray(x)))
    return {"steps": hist.step, "loss": np.asarray(hist.loss), "eigenvalues": np.asarray(hist["eigenvalues"]),
            "diverged": 0, "diverged_step": -1, "probe": _probe_embeddings(feats, labels)}


# ---------------------------------------------------------------------------------------------
# (c) deep: dynamics.ssl.train_ssl on the MLP of S App. D.1


def _deep_params(fast, seed):
    s = speedup_setup(fast)["deep"]
    dsetup = deep.deep_setup(True)
    return networks.init_mlp(dsetup["crop"] ** 2, s["width"], s["d"], seed=seed, alpha=s["alpha"],
                             dtype=jnp.float32)


def deep_run(loss: str, modification: str, lr: float, fast: bool, seed: int = 0) -> dict:
    """One :func:`dynamics.ssl.train_ssl` run of (c) the deep setting at learning rate ``lr`` (float32, the MLP
    of S App. D.1 from init scale α, random 6 × 6 crops of the standardised digits, SGD with momentum).

    Returns {"steps", "loss", "eigenvalues" (S App. D.4: λ(C) for Barlow Twins, λ(C̃) otherwise), "diverged",
    "diverged_step", "probe" (linear probe on the hidden layer at the last step, S Fig 7)}."""
    s = speedup_setup(fast)["deep"]
    x, _ = deep.deep_images()
    name, kw, alpha = loss_spec(loss, modification, s["batch_size"])
    rec = trainer.record_schedule(s["n_steps"], s["n_records"])
    try:
        run = ssl.train_ssl(name, s["network"], _deep_params(fast, seed), x.astype(np.float32), lr=lr,
                            n_steps=s["n_steps"], augment=deep.deep_augment(fast), optimizer="sgd",
                            momentum=s["momentum"], batch_size=s["batch_size"], loss_kwargs=kw, precondition=alpha,
                            seed=seed, record_steps=rec, eval_size=s["eval_size"], record_hidden=False,
                            probe=deep.deep_probe(fast), probe_every=s["n_steps"])
    except trainer.NonFiniteError as exc:
        return {"steps": rec, "loss": np.full(rec.size, np.nan), "eigenvalues": np.full((rec.size, s["d"]), np.nan),
                "diverged": 1, "diverged_step": exc.step, "probe": np.nan}
    return {"steps": run.steps, "loss": np.asarray(run.loss, dtype=float),
            "eigenvalues": np.asarray(run.eigenvalues, dtype=float), "diverged": 0, "diverged_step": -1,
            "probe": float(run.probe_accuracy[-1])}


def _point_run(setting, loss, modification, lr, fast, seed):
    if setting == "deep":
        return deep_run(loss, modification, lr, fast, seed)
    return gd_run(setting, loss, modification, lr, fast, seed)


def lr_runs(setting: str, loss: str, modification: str, *, fast: bool, seed: int = 0, progress: bool = False):
    """The runs of (loss, modification) at every rate of :func:`lr_grid`: a list of (lr, result dict). S App. G."""
    check_choice(setting, "setting", set(SETTINGS))
    if (loss, modification) not in methods(setting):
        raise ValueError(f"(loss, modification) = ({loss!r}, {modification!r}) is not measured in setting "
                         f"{setting!r}; measured: {methods(setting)}")
    lrs = lr_grid(setting, loss, modification, fast)
    points = [{"setting": setting, "loss": loss, "modification": modification, "lr": lr, "fast": bool(fast),
               "seed": int(seed)} for lr in lrs]
    res = run_grid(_point_run, points, name="speedup.lr_runs", progress=progress,
                   desc=f"{setting} {loss} {modification}")
    return list(zip(lrs, res))


def stable(result) -> bool:
    """A run is stable when it did not diverge, its losses are finite and its final loss is not above its
    initial one. S App. G."""
    loss = np.asarray(result["loss"], dtype=float)
    return bool(int(result["diverged"]) == 0 and np.all(np.isfinite(loss)) and loss[-1] <= loss[0])


def measure(setting: str, loss: str, modification: str, *, fast: bool, seed: int = 0, progress: bool = False) -> dict:
    """The row of (loss, modification) in ``setting``: the largest stable rate of the grid and what its run did.
    S App. G.

    Keys: setting, loss, modification, lrs, stable (per rate), steps (per rate: steps to learn, None where not
    learned or unstable), best_lr (the largest stable rate, None if none is), at_grid_edge (it is the top of the
    grid), steps_to_learn / t_to_learn at best_lr (None if not learned), fastest_lr / fastest_steps (the stable
    rate that learns in the fewest steps: a bounded oscillation at the largest stable rate can learn later than
    a smaller rate), n_steps, probe (final linear-probe accuracy at best_lr), status ("learned",
    "not learned by step N", "diverged": no stable rate), run (the result dict at best_lr, or None).
    """
    runs = lr_runs(setting, loss, modification, fast=fast, seed=seed, progress=progress)
    n_steps = speedup_setup(fast)[setting]["n_steps"]
    flags = [stable(r) for _, r in runs]
    steps = [time_to_learn(r["steps"], loss, r["eigenvalues"]) if f else None for (_, r), f in zip(runs, flags)]
    row = {"setting": setting, "loss": loss, "modification": modification, "lrs": [lr for lr, _ in runs],
           "stable": flags, "steps": steps, "n_steps": n_steps, "best_lr": None, "at_grid_edge": False,
           "steps_to_learn": None, "t_to_learn": None, "fastest_lr": None, "fastest_steps": None, "probe": None,
           "status": "diverged", "run": None}
    good = [i for i, f in enumerate(flags) if f]
    if not good:
        return row
    i = good[-1]
    lr, res = runs[i]
    k = steps[i]
    row.update(best_lr=lr, at_grid_edge=(i == len(runs) - 1), steps_to_learn=k,
               t_to_learn=None if k is None else lr * k, probe=float(res["probe"]), run=res,
               status="learned" if k is not None else f"not learned by step {n_steps}")
    learners = [j for j in good if steps[j] is not None]
    if learners:
        j = min(learners, key=lambda j: (steps[j], -j))
        row.update(fastest_lr=runs[j][0], fastest_steps=steps[j])
    return row


def _ratio(base, k):
    return None if (base is None or k is None or k == 0) else base / k


def speedup_table(setting: str, *, fast: bool, seed: int = 0, progress: bool = False) -> list[dict]:
    """:func:`measure` of every method of ``setting`` (:func:`methods`), with "ratio" = the same loss's
    baseline steps to learn over this row's, both at the largest stable rate (> 1: faster), and
    "fastest_ratio" the same at each one's fastest stable rate (None where either did not learn). S App. G."""
    rows = [measure(setting, loss, m, fast=fast, seed=seed, progress=progress) for loss, m in methods(setting)]
    base = {r["loss"]: r for r in rows if r["modification"] == "baseline"}
    for r in rows:
        b = base[r["loss"]]
        r["ratio"] = _ratio(b["steps_to_learn"], r["steps_to_learn"])
        r["fastest_ratio"] = _ratio(b["fastest_steps"], r["fastest_steps"])
    return rows


def speedup_tables(fast: bool, *, seed: int = 0, progress: bool = False) -> dict:
    """{setting: :func:`speedup_table`} for the three settings. S App. G."""
    return {s: speedup_table(s, fast=fast, seed=seed, progress=progress) for s in SETTINGS}


def _fmt(x, spec):
    return "—" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def format_table(rows) -> str:
    """The rows of :func:`speedup_table` (of one or several settings) as a markdown table. S App. G."""
    head = ("| setting | loss | modification | largest stable lr | steps to learn | t = lr × step | speed-up | "
            "fastest stable lr | its steps | its speed-up | probe accuracy | status |")
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lr = _fmt(r["best_lr"], ".4g") + (" (grid top)" if r["at_grid_edge"] else "")
        ratio = "—" if r.get("ratio") is None else f"{r['ratio']:.2f}×"
        fratio = "—" if r.get("fastest_ratio") is None else f"{r['fastest_ratio']:.2f}×"
        lines.append(f"| {r['setting']} | {r['loss']} | {r['modification']} | {lr} | {_fmt(r['steps_to_learn'], 'd')} | "
                     f"{_fmt(r['t_to_learn'], '.3g')} | {ratio} | {_fmt(r['fastest_lr'], '.4g')} | "
                     f"{_fmt(r['fastest_steps'], 'd')} | {fratio} | {_fmt(r['probe'], '.3f')} | {r['status']} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the VICReg conjecture (S App. G.3)

#: (loss, variant label, loss name, loss_kwargs) of the four runs: VICReg with / without its square root,
#: Barlow Twins with / without g_sqr.
CONJECTURE_RUNS = (
    ("vicreg", "with sqrt", "vicreg", {}),
    ("vicreg", "without sqrt", "vicreg", {"sqrt": False}),
    ("barlow_twins", "with g_sqr", "modified_barlow_twins", {"modification": "sqr"}),
    ("barlow_twins", "without g_sqr", "barlow_twins", {"lambd": 1.0, "symmetrize": True}),
)
#: learning rate of the conjecture runs per loss (the same for both variants of a loss).
CONJECTURE_LR = {"vicreg": 0.002, "barlow_twins": 0.05}


@functools.lru_cache(maxsize=16)
def _conjecture_loss(name, kw_items):
    fn = ssl.ssl_loss(name, **dict(kw_items))
    return lambda p, data: fn(_linear_apply(p, data["x"]), _linear_apply(p, data["xp"]))


@functools.lru_cache(maxsize=4)
def _conjecture_spectrum(name):
    return lambda p, data: ssl.embedding_spectrum(name, _linear_apply(p, data["x"]), _linear_apply(p, data["xp"]))


@float64
def conjecture_run(index: int, fast: bool, seed: int = 0) -> dict:
    """Run ``CONJECTURE_RUNS[index]`` on the linear model of (a) (same data, d and init) for
    :data:`CONJECTURE_STEPS` steps at :data:`CONJECTURE_LR`; {"steps", "eigenvalues" (R, d) descending: λ(C) for
    Barlow Twins, λ(C̃) for VICReg, "loss"}. S App. G."""
    loss, _, name, kw = CONJECTURE_RUNS[int(index)]
    s = speedup_setup(fast)["linear"]
    x, xp, _ = _gd_data("linear")
    rec = np.arange(CONJECTURE_STEPS + 1)
    _, hist = trainer.gradient_descent(_conjecture_loss(name, tuple(sorted(kw.items()))), _gd_init("linear", fast, seed),
                                       {"x": jnp.asarray(x), "xp": jnp.asarray(xp)}, lr=CONJECTURE_LR[loss],
                                       record_steps=rec, observers={"eigenvalues": _conjecture_spectrum(loss)})
    return {"steps": hist.step, "eigenvalues": np.asarray(hist["eigenvalues"]), "loss": np.asarray(hist.loss)}


def growth_rate(steps, eigenvalues, lr: float) -> float:
    """The early growth rate of the smallest eigenvalue: $\\log(\\lambda_d(t)/\\lambda_d(0))/t$ at the end of the
    window, t = lr × step (for S10's exponential escape it is $8\\gamma_d$ for λ ∝ s²)."""
    lam = np.sort(np.asarray(eigenvalues, dtype=float), axis=1)
    steps = np.asarray(steps)
    lo0, lo1 = lam[0, 0], lam[-1, 0]
    if not (lo0 > 0 and lo1 > 0):
        raise ValueError(f"the smallest eigenvalue must stay positive to have a growth rate, got {lo0:.3g} and "
                         f"{lo1:.3g}")
    return float(np.log(lo1 / lo0) / (lr * (steps[-1] - steps[0])))


def vicreg_conjecture(fast: bool, *, seed: int = 0) -> dict:
    """S App. G.3's conjecture, measured: {loss: {"with": rate, "without": rate, "ratio": with / without,
    "runs": {label: run}}} with :func:`growth_rate` over the first :data:`CONJECTURE_STEPS` steps; "with" is
    VICReg's square root or Barlow Twins' g_sqr; "ratio" is NaN unless both rates are positive (the smallest
    eigenvalue grows in both runs).  The conjecture predicts a ratio > 1 for VICReg, like Barlow
    Twins'."""
    points = [{"index": i, "fast": bool(fast), "seed": int(seed)} for i in range(len(CONJECTURE_RUNS))]
    res = run_grid(conjecture_run, points, name="speedup.conjecture_run")
    out = {}
    for (loss, label, _, _), r in zip(CONJECTURE_RUNS, res):
        entry = out.setdefault(loss, {"runs": {}})
        entry["runs"][label] = r
        entry["with" if label.startswith("with ") else "without"] = growth_rate(r["steps"], r["eigenvalues"],
                                                                               CONJECTURE_LR[loss])
    for entry in out.values():  # a ratio of rates only when both grow (a shrinking λ_d has no speed-up ratio)
        both = entry["with"] > 0 and entry["without"] > 0
        entry["ratio"] = entry["with"] / entry["without"] if both else float("nan")
    return out


__all__ = ["ALPHA_REL", "CONJECTURE_LR", "CONJECTURE_RUNS", "CONJECTURE_STEPS", "HINGE_WIDTH", "LEARNED_LEVEL",
           "LOSSES", "MODIFICATIONS", "SETTINGS", "SIMCLR_GROWTH", "SIMCLR_RATIO", "SMOOTH_EPS", "SPECTRAL",
           "conjecture_run", "deep_run", "embedding_loss", "format_table", "gd_run", "growth_rate", "learned",
           "loss_spec", "lr_grid", "lr_runs", "measure", "methods", "speedup_setup", "speedup_table",
           "speedup_tables", "stable", "time_to_learn", "vicreg_conjecture"]
