"""Wide contrastive networks on digit triplets: the setups and runs of Anil et al. (A).

G. G. Anil, P. Esser, D. Ghoshdastidar, "When can we Approximate Wide Contrastive Models with Neural
Tangent Kernels and Principal Component Analysis?" (2024), cited as A.  Shared by the checks of
:mod:`dynamics.theorems.contrastive_checks`, the A figures of :mod:`dynamics.figures` and notebook 04.

One network (two-layer ReLU, NTK parametrisation, :func:`dynamics.networks.init_two_layer`; the
3-hidden-layer one of :func:`dynamics.contrastive.init_deep` for A Fig 5), one loss (A1,
:mod:`dynamics.contrastive`), one trainer (:func:`dynamics.contrastive.train_contrastive`), Z = 10
outputs.  Data: :func:`digit_triplets` — 8×8 digits, a random crop as the anchor, a second crop as the
positive, a crop of another image as the negative (A's MNIST setup, smaller).  Time is gradient-flow
time t = lr × step.

Setups (widths, seeds, anchors, steps; fast and full sizes):
:func:`lemma9_widths` (A Lemma 9, Fig 1), :func:`ntk_widths` (A Prop 10, Thm 13, Figs 2–3),
:func:`grass_setup` (A Lemmas 16–17, Fig 4), :func:`deep_setup` and :func:`downstream_setup` (A Fig 5),
:func:`drift_setup` (NTK drift of six losses over time).

Runs whose results are numbers or arrays go through :func:`~dynamics.experiments.run_grid` one grid
point (width, seed, ...) at a time — computed once per process, stored on disk when a cache directory
is set, so an interrupted ``python -m dynamics figures`` resumes: :func:`lemma9_difference`,
:func:`ntk_change_run`, :func:`early_dot_change`, :func:`dot_ntk_replay`, :func:`cv_drift`,
:func:`pca_representation_difference`, :func:`deep_cosine_ntk_change`, :func:`deep_dot_overflow`;
their width × seed sweeps (:func:`lemma9_differences`, :func:`ntk_change_runs`, :func:`early_dot_changes`,
:func:`cv_drifts`, :func:`pca_representation_differences`, :func:`deep_cosine_ntk_changes`,
:func:`deep_dot_overflows`) hand all points to one ``run_grid`` call, so they run together on the
executor of :func:`~dynamics.experiments.use_executor` (local processes, a Dask cluster).
Runs that return parameters or histories stay cached in memory: :func:`lemma9_gd`,
:func:`lemma9_trajectory`, :func:`grassmann_run`, :func:`downstream_accuracies`.  A run given a
replaced ingredient (a callable: a wrong kernel or trainer in the mutation tests) is computed in
memory only.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from .. import contrastive, flows, networks, ntk, trainer
from .._validation import check_positive, check_positive_int
from .._x64 import float64
from ._grid import run_grid

Z_OUT = 10  # output dimension (A: Z = 10)


# ---------------------------------------------------------------------------- data and NTK inputs


@functools.cache
def digit_triplets(n: int):
    """:func:`dynamics.contrastive.contrastive_digits` ``(n)``: ``n`` digit anchors, one positive and one
    negative crop each (α = (+1, −1)), the other images held out with labels.  Cached.

    The data of A's contrastive loss A1 (anchor $x$, positive $x^+$, negative $x^-$, A's MNIST setup made
    smaller), shared by every A check and figure."""
    return contrastive.contrastive_digits(n)


def ntk_inputs(d, n_points=30):
    r"""A fixed spread of ``n_points`` anchors, positives and negatives of ``d`` for the recorded NTK.

    The inputs on which the NTK change $\max|K(t) - K(0)|$ of A Prop 10, Thm 13 and Figs 2–3 is recorded."""
    X = d.inputs
    return X[:: max(1, X.shape[0] // n_points)][:n_points]


def two_layer_full_ntk_fn(X):
    r"""``params -> `` the full (n, n, Z, Z) empirical NTK of the two-layer ReLU network on ``X``
    (:func:`dynamics.ntk.two_layer_ntk_fn`).

    The NTK of the network A2, $K_{ij}(x, \tilde x) = \partial_\theta f_i(x)^\top \partial_\theta f_j(\tilde
    x)$, the kernel of A Lemma 9 and of the NTK change of A Thm 13."""
    return ntk.two_layer_ntk_fn(X, X, "relu", output="full")


@float64
def two_layer_full_ntk(params, X):
    """The full (n, n, Z, Z) empirical NTK of the two-layer ReLU network at ``params`` (the kernel of A Lemma 9)."""
    return np.asarray(two_layer_full_ntk_fn(X)(params))


@float64
def frozen_kernel_flow(K, params, d, t, similarity="cosine"):
    """Outputs at times ``t`` of dF/dt = −K ∇_F L(F) (A Lemma 9) from the network's outputs at ``params``
    with a given frozen kernel ``K`` (N(1+Q), N(1+Q), Z, Z); with K the NTK at init this is
    :func:`dynamics.contrastive.lemma9_flow`."""
    F0 = np.asarray(networks.two_layer_apply(params, jnp.asarray(d.inputs)))
    fl = contrastive.function_loss(d.n_anchors, d.alpha, similarity=similarity)
    return flows.function_space_flow(K, F0, fl, np.asarray(t, float), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------- A Lemma 9, Fig 1

LEMMA9_N = 10  # anchors (30 inputs with their positives and negatives)
LEMMA9_LR = 0.01
LEMMA9_STEPS = 500  # A Fig 1: 500 epochs; T = 5


def lemma9_widths(fast: bool):
    """(widths, seeds) of the Lemma 9 sweep: 64–4096, seeds 0, 1 (fast); 64–16384, seeds 0–2 (full)."""
    return ([64, 256, 1024, 4096], (0, 1)) if fast else ([64, 256, 1024, 4096, 16384], (0, 1, 2))


@float64
@functools.cache
def lemma9_gd(M: int, seed: int, n: int, lr: float, n_steps: int):
    """(initial params, GD outputs on all inputs at T, T = lr × n_steps) of the cosine-similarity run of
    A Fig 1 (width ``M``, init seed ``seed``, :func:`digit_triplets` ``(n)``).  Cached."""
    d = digit_triplets(n)
    params = networks.init_two_layer(d.dim, M, Z_OUT, seed=seed)
    _, hist = contrastive.train_contrastive(params, d, lr=lr, n_steps=n_steps, similarity="cosine",
                                            record_steps=np.array([0, n_steps]))
    return params, np.asarray(hist["outputs"][-1]), float(hist.t[-1])


def lemma9_point(M: int, seed: int, n: int, lr: float, n_steps: int) -> dict:
    r"""One grid point of :func:`lemma9_difference` with the NTK at init: {"difference": ...}.

    A Lemma 9, Fig 1: $\max|F_{GD}(T) - F_{NTK}(T)| / \max|F_{GD}(T)|$."""
    return {"difference": _lemma9_difference(M, seed, n, lr, n_steps, None)}


def lemma9_difference(M: int, seed: int, n: int = LEMMA9_N, lr: float = LEMMA9_LR, n_steps: int = LEMMA9_STEPS,
                      kernel_fn=None) -> float:
    """max_{n,z} |F_GD(T) − F_NTK(T)| / max_{n,z} |F_GD(T)| at T = lr × n_steps, cosine similarity (A Fig 1).

    F_GD: the network trained by GD (:func:`lemma9_gd`); F_NTK: A Lemma 9's dynamics with the NTK frozen
    at init (:func:`dynamics.contrastive.lemma9_flow`), both on all anchors and partners, from the same
    initial network.  ``kernel_fn(params, X) -> K`` replaces the NTK at init by another frozen kernel
    (mutation tests; computed in memory only).
    """
    M, seed, n = check_positive_int(M, "M"), check_positive_int(seed, "seed", minimum=0), check_positive_int(n, "n")
    lr, n_steps = check_positive(lr, "lr"), check_positive_int(n_steps, "n_steps")
    if kernel_fn is not None:
        return _lemma9_difference(M, seed, n, lr, n_steps, kernel_fn)
    return float(run_grid(lemma9_point, [_lemma9_args(M, seed, n, lr, n_steps)])[0]["difference"])


def _lemma9_args(M, seed, n, lr, n_steps):
    return {"M": check_positive_int(M, "M"), "seed": check_positive_int(seed, "seed", minimum=0),
            "n": check_positive_int(n, "n"), "lr": check_positive(lr, "lr"),
            "n_steps": check_positive_int(n_steps, "n_steps")}


def _pairs(widths, seeds):
    """The (M, seed) keys of a widths × seeds grid, row-major; ``ValueError`` naming an empty axis."""
    widths, seeds = list(widths), list(seeds)
    if not widths or not seeds:
        raise ValueError(f"widths and seeds must not be empty, got widths {widths}, seeds {seeds}")
    return [(M, s) for M in widths for s in seeds]


def lemma9_differences(widths, seeds, n: int = LEMMA9_N, lr: float = LEMMA9_LR, n_steps: int = LEMMA9_STEPS,
                       *, progress: bool = False) -> dict:
    r"""``{(M, seed): lemma9_difference(M, seed, n, lr, n_steps)}`` over widths × seeds (A Lemma 9, Fig 1:
    $\max|F_{GD}(T) - F_{NTK}(T)| / \max|F_{GD}(T)|$), all points in one
    :func:`~dynamics.experiments.run_grid` call, so they run together on the executor of
    :func:`~dynamics.experiments.use_executor`."""
    keys = _pairs(widths, seeds)
    run_grid(lemma9_point, [_lemma9_args(M, s, n, lr, n_steps) for M, s in keys], progress=progress,
             desc="A Lemma 9")
    return {(M, s): lemma9_difference(M, s, n, lr, n_steps) for M, s in keys}


@float64
@functools.cache
def _lemma9_difference(M, seed, n, lr, n_steps, kernel_fn):
    d = digit_triplets(n)
    params, F_gd, T = lemma9_gd(M, seed, n, lr, n_steps)
    if kernel_fn is None:
        F_ntk = contrastive.lemma9_flow(params, d, np.array([T]), similarity="cosine")[-1]
    else:
        F_ntk = frozen_kernel_flow(np.asarray(kernel_fn(params, d.inputs)), params, d, [T])[-1]
    return float(np.abs(F_gd - np.asarray(F_ntk)).max() / np.abs(F_gd).max())


@float64
@functools.lru_cache(maxsize=None)
def lemma9_trajectory(M: int, seed: int = 0, n: int = LEMMA9_N, lr: float = LEMMA9_LR,
                      n_steps: int = LEMMA9_STEPS, n_records: int = 26) -> dict:
    """GD outputs (t, N(1+Q), Z) of the cosine-similarity run of A Fig 1 at ``n_records`` evenly spaced
    steps, and Lemma 9's frozen-NTK flow (:func:`dynamics.contrastive.lemma9_flow`) at the same times,
    from the same initial network.  Cached."""
    d = digit_triplets(n)
    params = networks.init_two_layer(d.dim, M, Z_OUT, seed=seed)
    steps = np.unique(np.linspace(0, n_steps, n_records).astype(int))
    _, hist = contrastive.train_contrastive(params, d, lr=lr, n_steps=n_steps, similarity="cosine",
                                            record_steps=steps)
    F_ntk = contrastive.lemma9_flow(params, d, hist.t, similarity="cosine")
    return {"t": hist.t, "F_gd": np.asarray(hist["outputs"]), "F_ntk": np.asarray(F_ntk),
            "n_inputs": d.inputs.shape[0]}


# ---------------------------------------------------------------------------- A Prop 10, Thm 13, Figs 2–3

NTK_LR, NTK_T = 0.2, 40.0  # cosine runs: 200 GD steps
DOT_T_MAX = 80.0  # dot-product runs stop at the first overflow, or at this time
DOT_EARLY_T = 4.0  # the early time at which the dot-product NTK change is recorded


def ntk_widths(fast: bool):
    """(widths, seeds, anchors) of the NTK-change runs: 128–1024, seed 0, 100 anchors (fast);
    128–8192, seeds 0–2, 200 anchors (full).

    The sweep of A Prop 10, Thm 13 and Figs 2–3."""
    return ([128, 256, 512, 1024], (0,), 100) if fast else ([128, 256, 512, 1024, 2048, 4096, 8192], (0, 1, 2), 200)


def _ntk_setup(M, seed, n, deep):
    d = digit_triplets(n)
    X = ntk_inputs(d, 20 if deep else 30)
    if deep:
        params = contrastive.init_deep(d.dim, M, Z_OUT, seed=seed)
        return d, params, contrastive.deep_ntk_fn(X, X, output="full"), contrastive.deep_apply
    params = networks.init_two_layer(d.dim, M, Z_OUT, seed=seed)
    return d, params, two_layer_full_ntk_fn(X), None


@float64
def ntk_change_point(M: int, seed: int, similarity: str, n: int, deep: bool) -> dict:
    r"""One grid point of :func:`ntk_change_run`: {"t", "change", "K0max", "t_overflow"} ("t" and "change"
    empty when the weights overflowed).

    A Prop 10, Thm 13, Figs 2–3: $\max|K(t) - K(0)|$ along GD."""
    d, params, ntk_fn, apply_fn = _ntk_setup(M, seed, n, deep)
    n_steps = round((DOT_T_MAX if similarity == "dot" else NTK_T) / NTK_LR)
    steps = np.unique(np.linspace(0, n_steps, 11).astype(int))
    K0max = float(np.abs(ntk_fn(params)).max())
    try:
        _, hist = contrastive.train_contrastive(params, d, lr=NTK_LR, n_steps=n_steps, similarity=similarity,
                                                apply_fn=apply_fn, record_steps=steps, record_outputs=False,
                                                ntk_fn=ntk_fn)
    except trainer.NonFiniteError as err:
        return {"t": np.zeros(0), "change": np.zeros(0), "K0max": K0max, "t_overflow": err.step * NTK_LR}
    return {"t": hist.t, "change": hist["ntk_max_change"], "K0max": K0max, "t_overflow": np.inf}


def ntk_change_run(M: int, seed: int, similarity: str, n: int = 100, deep: bool = False):
    """Max entry-wise NTK change ("full" NTK on 30 fixed inputs of :func:`ntk_inputs`; 20 for the deep net)
    along GD at lr 0.2, to T = 40 (cosine) or 80 (dot product), A Figs 2–3.

    Returns (times, max |K(t) − K(0)|, max |K(0)|, t_overflow): t_overflow is the first time the
    weights overflow (dot product), in which case the history stops there (times/changes are None).
    """
    r = run_grid(ntk_change_point, [_ntk_change_args(M, seed, similarity, n, deep)])[0]
    t_overflow = float(r["t_overflow"])
    if np.isfinite(t_overflow):
        return None, None, float(r["K0max"]), t_overflow
    return np.asarray(r["t"]), np.asarray(r["change"]), float(r["K0max"]), t_overflow


def _ntk_change_args(M, seed, similarity, n, deep):
    return {"M": check_positive_int(M, "M"), "seed": check_positive_int(seed, "seed", minimum=0),
            "similarity": similarity, "n": check_positive_int(n, "n"), "deep": bool(deep)}


def ntk_change_runs(widths, seeds, similarity: str, n: int = 100, deep: bool = False, *,
                    progress: bool = False) -> dict:
    r"""``{(M, seed): ntk_change_run(M, seed, similarity, n, deep)}`` over widths × seeds (A Prop 10,
    Thm 13, Figs 2–3: $\max|K(t) - K(0)|$ along GD), all points in one
    :func:`~dynamics.experiments.run_grid` call (spread over the executor of
    :func:`~dynamics.experiments.use_executor`)."""
    keys = _pairs(widths, seeds)
    run_grid(ntk_change_point, [_ntk_change_args(M, s, similarity, n, deep) for M, s in keys], progress=progress,
             desc=f"NTK change ({similarity})")
    return {(M, s): ntk_change_run(M, s, similarity, n, deep) for M, s in keys}


@float64
def early_dot_change_point(M: int, n: int, steps: int, deep: bool, similarity: str) -> dict:
    """One grid point of :func:`early_dot_change`: {"change": max |K(t) − K(0)| after ``steps`` steps}.

    A Fig 2 (the dot-product NTK starts nearly constant, A Prop 10)."""
    d, params, ntk_fn, apply_fn = _ntk_setup(M, 0, n, deep)
    _, hist = contrastive.train_contrastive(params, d, lr=NTK_LR, n_steps=steps, similarity=similarity,
                                            apply_fn=apply_fn, record_steps=np.array([0, steps]),
                                            record_outputs=False, ntk_fn=ntk_fn)
    return {"change": float(hist["ntk_max_change"][-1])}


def early_dot_change(M: int, n: int, steps: int, deep: bool = False, similarity: str = "dot") -> float:
    """max |K(t) − K(0)| of the full NTK after ``steps`` GD steps at lr 0.2 (seed 0; A Fig 2: the
    dot-product NTK starts nearly constant)."""
    return float(run_grid(early_dot_change_point, [_early_args(M, n, steps, deep, similarity)])[0]["change"])


def _early_args(M, n, steps, deep, similarity):
    return {"M": check_positive_int(M, "M"), "n": check_positive_int(n, "n"),
            "steps": check_positive_int(steps, "steps"), "deep": bool(deep), "similarity": similarity}


def early_dot_changes(widths, n: int, steps: int, deep: bool = False, similarity: str = "dot", *,
                      progress: bool = False) -> dict:
    r"""``{M: early_dot_change(M, n, steps, deep, similarity)}`` over ``widths`` (A Fig 2: the dot-product
    NTK change $\max|K(t) - K(0)|$ at an early time), in one :func:`~dynamics.experiments.run_grid` call."""
    widths = [M for M, _ in _pairs(widths, [0])]
    run_grid(early_dot_change_point, [_early_args(M, n, steps, deep, similarity) for M in widths],
             progress=progress, desc="early NTK change")
    return {M: early_dot_change(M, n, steps, deep, similarity) for M in widths}


@float64
def dot_ntk_replay_point(M: int, n: int) -> dict:
    r"""One grid point of :func:`dot_ntk_replay`: {"t", "change"} (empty if the run does not overflow).

    A Fig 2: $\max|K(t) - K(0)|$ of the dot-product run up to its overflow (A Prop 10)."""
    t_overflow = ntk_change_run(M, 0, "dot", n)[3]
    if not np.isfinite(t_overflow):
        return {"t": np.zeros(0), "change": np.zeros(0)}
    d = digit_triplets(n)
    X = ntk_inputs(d, 30)
    params = networks.init_two_layer(d.dim, M, Z_OUT, seed=0)
    last = round(t_overflow / NTK_LR) - 1
    steps = np.unique(np.concatenate([np.linspace(0, last, 25).astype(int), np.arange(max(0, last - 6), last + 1)]))
    while True:
        try:
            _, hist = contrastive.train_contrastive(params, d, lr=NTK_LR, n_steps=int(steps[-1]),
                                                    similarity="dot", record_steps=steps, record_outputs=False,
                                                    ntk_fn=two_layer_full_ntk_fn(X))
            break
        except trainer.NonFiniteError:  # the NTK evaluation can overflow one step earlier than the weights
            steps = steps[:-1]
    ch = np.asarray(hist["ntk_max_change"])
    ok = np.isfinite(ch) & (hist.t > 0)
    return {"t": hist.t[ok], "change": ch[ok]}


def dot_ntk_replay(M: int, n: int):
    """(times, max |K(t) − K(0)|) of the dot-product run of :func:`ntk_change_run` (seed 0) replayed with
    denser records up to the last step before it overflows (A Fig 2)."""
    r = run_grid(dot_ntk_replay_point, [{"M": check_positive_int(M, "M"), "n": check_positive_int(n, "n")}])[0]
    return np.asarray(r["t"]), np.asarray(r["change"])


# ---------------------------------------------------------------------------- A Lemmas 16–17, Fig 4

GRASS_LR = 0.01
LEMMA16_T_FIX = 0.1  # 10 steps at lr 0.01: a fixed O(1) number of iterations, where the drift is linear in t


def grass_setup(fast: bool):
    """(widths, seeds, steps, anchors) of the Grassmannian runs: 256–2048, seeds 0, 1, 50 steps (fast);
    128–8192, seeds 0–2, 500 steps (full); 100 anchors.

    The sweep of A Lemmas 16–17 and Fig 4."""
    if fast:
        return [256, 512, 1024, 2048], (0, 1), 50, 100
    return [128, 256, 512, 1024, 2048, 4096, 8192], (0, 1, 2), 500, 100


def grassmann_run(M: int, seed: int, n_steps: int, n: int = 100, similarity: str = "cosine", lr: float = GRASS_LR):
    """Grassmannian GD (W projected to WᵀW = I after each step) on the cosine-similarity loss (A1, δ = 0.01)
    (or another ``similarity``, e.g. "cosine_bound": the trace-form loss A10 itself) at step size ``lr``.

    Records ‖C_V(t) − C_V(0)‖_F (C_V of A10) and the relative changes of C_V and W; returns
    (initial params (W orthonormal), final params, history).  Cached.
    """
    return _grassmann_run(check_positive_int(M, "M"), check_positive_int(seed, "seed", minimum=0),
                          check_positive_int(n_steps, "n_steps"), check_positive_int(n, "n"), similarity,
                          check_positive(lr, "lr"))


@float64
@functools.cache
def _grassmann_run(M, seed, n_steps, n, similarity, lr):
    d = digit_triplets(n)
    params = contrastive.orthonormalize_readout(networks.init_two_layer(d.dim, M, Z_OUT, seed=seed))
    steps = np.array([s for s in (0, 1, 2, 5, 10, 20, 50, 100, 200, 500) if s < n_steps] + [n_steps])
    final, hist = contrastive.train_contrastive(params, d, lr=lr, n_steps=n_steps, similarity=similarity,
                                                grassmann=True, record_steps=steps, record_outputs=False,
                                                record_cv=True)
    return params, final, hist


@float64
def cv_drift_point(M: int, seed: int, n_steps: int, n: int, similarity: str, lr: float) -> dict:
    r"""One grid point of :func:`cv_drift`.

    A Lemma 16, Fig 4 (left, middle): the drift $\lVert C_V(t) - C_V(0)\rVert_F$."""
    hist = grassmann_run(M, seed, n_steps, n, similarity, lr)[2]
    return {"step": hist.step, "t": hist.t, "cv_change": hist["cv_change"],
            "cv_relative_change": hist["cv_relative_change"], "w_relative_change": hist["w_relative_change"]}


def cv_drift(M: int, seed: int, n_steps: int, n: int = 100, similarity: str = "cosine", lr: float = GRASS_LR) -> dict:
    """The recorded drift of :func:`grassmann_run` (A Lemma 16): {"step", "t", "cv_change" ‖C_V(t) − C_V(0)‖_F,
    "cv_relative_change", "w_relative_change"} at the record steps."""
    point = _cv_args(M, seed, n_steps, n, similarity, lr)
    return {k: np.asarray(v) for k, v in run_grid(cv_drift_point, [point])[0].items()}


def _cv_args(M, seed, n_steps, n, similarity, lr):
    return {"M": check_positive_int(M, "M"), "seed": check_positive_int(seed, "seed", minimum=0),
            "n_steps": check_positive_int(n_steps, "n_steps"), "n": check_positive_int(n, "n"),
            "similarity": similarity, "lr": check_positive(lr, "lr")}


def _lr_of(lr):
    """``lr`` as a function of the width: a number, or a callable ``M -> lr``."""
    return lr if callable(lr) else (lambda M: lr)


def cv_drifts(widths, seeds, n_steps: int, n: int = 100, similarity: str = "cosine", lr=GRASS_LR, *,
              progress: bool = False) -> dict:
    r"""``{(M, seed): cv_drift(M, seed, n_steps, n, similarity, lr(M))}`` over widths × seeds (A Lemma 16:
    $\|C_V(t) - C_V(0)\|_F$), in one :func:`~dynamics.experiments.run_grid` call; ``lr`` is a step
    size or a function of the width."""
    keys, lr_of = _pairs(widths, seeds), _lr_of(lr)
    run_grid(cv_drift_point, [_cv_args(M, s, n_steps, n, similarity, lr_of(M)) for M, s in keys],
             progress=progress, desc="A Lemma 16")
    return {(M, s): cv_drift(M, s, n_steps, n, similarity, lr_of(M)) for M, s in keys}


@float64
def pca_difference_point(M: int, seed: int, n_steps: int, n: int, similarity_t: str, lr: float) -> dict:
    r"""One grid point of :func:`pca_representation_difference`: {"difference", "eigengap"}.

    A Lemma 17, Fig 4 (right): $\min_O \lVert U_t O - U_0\rVert_F / \lVert U_0\rVert_F$ with $W^*$ the PCA of
    $C_V$ (A10)."""
    from scipy.linalg import orthogonal_procrustes

    d = digit_triplets(n)
    p0, pt, _ = grassmann_run(M, seed, n_steps, n, lr=lr)
    W0, lam0 = contrastive.pca_readout(p0, d, Z_OUT)
    Wt, _ = contrastive.pca_readout(pt, d, Z_OUT, similarity_t)
    X = jnp.asarray(d.inputs)
    U0 = np.asarray(networks.two_layer_apply({"V": p0["V"], "W": W0}, X))
    Ut = np.asarray(networks.two_layer_apply({"V": pt["V"], "W": Wt}, X))
    O, _ = orthogonal_procrustes(Ut, U0)
    return {"difference": float(np.linalg.norm(Ut @ O - U0) / np.linalg.norm(U0)),
            "eigengap": float(lam0[Z_OUT - 1] - lam0[Z_OUT])}


def pca_representation_difference(M: int, seed: int, n_steps: int, n: int, similarity_t: str = "cosine_bound",
                                  lr: float = GRASS_LR) -> tuple:
    """min_O ‖U_t O − U_0‖_F / ‖U_0‖_F for U = (1/√M) W*ᵀ φ(V x) on all inputs, W* = PCA of C_V (A10),
    with (V(0), C_V(0)) and (V(t), C_V(t)) from :func:`grassmann_run`; O from orthogonal Procrustes
    (A Lemma 17).  ``similarity_t`` picks the C_V whose PCA gives the readout at time t (mutation tests:
    "dot", A8).  Also returns the eigengap λ_Z − λ_{Z+1} of C_V(0)."""
    r = run_grid(pca_difference_point, [_pca_args(M, seed, n_steps, n, similarity_t, lr)])[0]
    return float(r["difference"]), float(r["eigengap"])


def _pca_args(M, seed, n_steps, n, similarity_t, lr):
    return {"M": check_positive_int(M, "M"), "seed": check_positive_int(seed, "seed", minimum=0),
            "n_steps": check_positive_int(n_steps, "n_steps"), "n": check_positive_int(n, "n"),
            "similarity_t": similarity_t, "lr": check_positive(lr, "lr")}


def pca_representation_differences(widths, seeds, n_steps: int, n: int, similarity_t: str = "cosine_bound",
                                   lr: float = GRASS_LR, *, progress: bool = False) -> dict:
    r"""``{(M, seed): pca_representation_difference(M, seed, n_steps, n, similarity_t, lr)}`` over widths ×
    seeds (A Lemma 17: $\min_O \|U_t O - U_0\|_F / \|U_0\|_F$), in one
    :func:`~dynamics.experiments.run_grid` call."""
    keys = _pairs(widths, seeds)
    run_grid(pca_difference_point, [_pca_args(M, s, n_steps, n, similarity_t, lr) for M, s in keys],
             progress=progress, desc="A Lemma 17")
    return {(M, s): pca_representation_difference(M, s, n_steps, n, similarity_t, lr) for M, s in keys}


# ---------------------------------------------------------------------------- A Fig 5

ITERATIVE_LR_PER_WIDTH = 2.0  # iterative scheme: V-step lr = 2 M (the trace loss's V-gradient is O(1/M) smaller)


def deep_setup(fast: bool):
    """(widths, seeds, anchors, cosine steps, dot-product widths) of the deep-network part of A Fig 5."""
    if fast:
        return [128, 256, 512, 1024], (0,), 20, 50, [128, 256]
    return [128, 256, 512, 1024], (0, 1, 2), 100, 200, [128, 256, 512, 1024]


@float64
def deep_cosine_point(M: int, seed: int, n: int, n_steps: int) -> dict:
    r"""One grid point of :func:`deep_cosine_ntk_change`: {"change", "K0max"}.

    A Fig 5: $(\max|K(T) - K(0)|, \max|K(0)|)$ of the 3-hidden-layer network."""
    d, params, ntk_fn, apply_fn = _ntk_setup(M, seed, n, True)
    _, hist = contrastive.train_contrastive(params, d, lr=NTK_LR, n_steps=n_steps, similarity="cosine",
                                            apply_fn=apply_fn, record_steps=np.array([0, n_steps]),
                                            record_outputs=False, ntk_fn=ntk_fn)
    return {"change": float(hist["ntk_max_change"][-1]), "K0max": float(np.abs(ntk_fn(params)).max())}


def deep_cosine_ntk_change(M: int, seed: int, n: int, n_steps: int) -> tuple:
    """(max |K(T) − K(0)|, max |K(0)|) of the full NTK (20 fixed inputs) of the 3-hidden-layer network after
    ``n_steps`` GD steps at lr 0.2 on the cosine-similarity loss (A Fig 5)."""
    r = run_grid(deep_cosine_point, [_deep_cosine_args(M, seed, n, n_steps)])[0]
    return float(r["change"]), float(r["K0max"])


def _deep_cosine_args(M, seed, n, n_steps):
    return {"M": check_positive_int(M, "M"), "seed": check_positive_int(seed, "seed", minimum=0),
            "n": check_positive_int(n, "n"), "n_steps": check_positive_int(n_steps, "n_steps")}


def deep_cosine_ntk_changes(widths, seeds, n: int, n_steps: int, *, progress: bool = False) -> dict:
    r"""``{(M, seed): deep_cosine_ntk_change(M, seed, n, n_steps)}`` over widths × seeds (A Fig 5:
    $(\max|K(T) - K(0)|, \max|K(0)|)$ of the deep network), in one :func:`~dynamics.experiments.run_grid` call."""
    keys = _pairs(widths, seeds)
    run_grid(deep_cosine_point, [_deep_cosine_args(M, s, n, n_steps) for M, s in keys], progress=progress,
             desc="A Fig 5 (deep cosine)")
    return {(M, s): deep_cosine_ntk_change(M, s, n, n_steps) for M, s in keys}


@float64
def deep_dot_point(M: int, n: int, seed: int, similarity: str) -> dict:
    """One grid point of :func:`deep_dot_overflow`: {"t_overflow"}.

    A Fig 5 and A Prop 10 (the dot-product blow-up) for the 3-hidden-layer network."""
    d = digit_triplets(n)
    params = contrastive.init_deep(d.dim, M, Z_OUT, seed=seed)
    n_steps = round(DOT_T_MAX / NTK_LR)
    try:
        contrastive.train_contrastive(params, d, lr=NTK_LR, n_steps=n_steps, similarity=similarity,
                                      apply_fn=contrastive.deep_apply, record_steps=np.arange(0, n_steps + 1, 10),
                                      record_outputs=False)
    except trainer.NonFiniteError as err:
        return {"t_overflow": err.step * NTK_LR}
    return {"t_overflow": np.inf}


def deep_dot_overflow(M: int, n: int, seed: int = 0, similarity: str = "dot") -> float:
    """First time the weights of the 3-hidden-layer network overflow under GD at lr 0.2 (inf if not by T = 80).

    The dot-product blow-up of A Prop 10 for the deep network of A Fig 5."""
    return float(run_grid(deep_dot_point, [_deep_dot_args(M, n, seed, similarity)])[0]["t_overflow"])


def _deep_dot_args(M, n, seed, similarity):
    return {"M": check_positive_int(M, "M"), "n": check_positive_int(n, "n"),
            "seed": check_positive_int(seed, "seed", minimum=0), "similarity": similarity}


def deep_dot_overflows(widths, n: int, seed: int = 0, similarity: str = "dot", *, progress: bool = False) -> dict:
    """``{M: deep_dot_overflow(M, n, seed, similarity)}`` over ``widths`` (A Fig 5: the first overflow time
    of the deep network under the dot product), in one :func:`~dynamics.experiments.run_grid` call."""
    widths = [M for M, _ in _pairs(widths, [seed])]
    run_grid(deep_dot_point, [_deep_dot_args(M, n, seed, similarity) for M in widths], progress=progress,
             desc="A Fig 5 (deep dot)")
    return {M: deep_dot_overflow(M, n, seed, similarity) for M in widths}


def downstream_setup(fast: bool = False):
    """(anchors, width, training steps) of the downstream part of A Fig 5: (200, 256, 100) fast,
    (1000, 1024, 400) full."""
    return (200, 256, 100) if fast else (1000, 1024, 400)


def grassmann_train(params, d, lr, n_steps):
    """The trained representation of A Fig 5: Grassmannian GD (WᵀW = I) on the cosine loss (A1)."""
    trained, _ = contrastive.train_contrastive(params, d, lr=lr, n_steps=n_steps, similarity="cosine",
                                               grassmann=True, record_steps=np.array([0, n_steps]),
                                               record_outputs=False)
    return trained


def downstream_accuracies(n: int, M: int, seed: int = 0, lr: float = 0.5, n_steps: int = 200, n_updates: int = 5,
                          n_test: int = 600, train_fn=grassmann_train, n_random: int = 6):
    """Linear-classifier test accuracy (held-out digits) of representations (A Fig 5 right, §5) and baselines.

    * "pca_C0": W* = top-10 eigenvectors of C_V(0) (A10) at the initial V;
    * "trained": ``train_fn(params, data, lr, n_steps)``, default the network (A7, WᵀW = I) trained by
      Grassmannian GD on the cosine loss (A1, :func:`grassmann_train`);
    * "iterative": ``n_updates`` rounds of W ← PCA(C_V), one GD step on V at lr 2M (A §5 (ii)).
    Representations (1/√M) Wᵀ φ(V x) of the anchors (train, labelled) and held-out crops (test).
    Baselines ("baselines"): the untrained network (W orthonormalised), ``n_random`` random orthonormal
    readouts of the same random features φ(V(0) x), and ``n_random`` random 10-d projections of the pixels;
    "baseline" is the best of them.  "iterative_V_change" is ‖V_final − V(0)‖/‖V(0)‖ of the iterative scheme.
    Cached.
    """
    return _downstream_accuracies(check_positive_int(n, "n"), check_positive_int(M, "M"),
                                  check_positive_int(seed, "seed", minimum=0), check_positive(lr, "lr"),
                                  check_positive_int(n_steps, "n_steps"), check_positive_int(n_updates, "n_updates"),
                                  check_positive_int(n_test, "n_test"), train_fn,
                                  check_positive_int(n_random, "n_random"))


@float64
@functools.cache
def _downstream_accuracies(n, M, seed, lr, n_steps, n_updates, n_test, train_fn, n_random):
    d = digit_triplets(n)
    Xtr, Xte, yte = jnp.asarray(d.anchors), jnp.asarray(d.heldout[:n_test]), d.heldout_labels[:n_test]
    params = networks.init_two_layer(d.dim, M, Z_OUT, seed=seed)

    def acc(p):
        return contrastive.downstream_accuracy(networks.two_layer_apply(p, Xtr), d.labels,
                                               networks.two_layer_apply(p, Xte), yte)

    W0, _ = contrastive.pca_readout(params, d, Z_OUT)
    trained = train_fn(params, d, lr, n_steps)
    iterated, _ = contrastive.iterative_pca(params, d, n_updates, ITERATIVE_LR_PER_WIDTH * M)
    rng = np.random.default_rng(1000 + seed)
    base = {"untrained": acc(contrastive.orthonormalize_readout(params))}
    for k in range(n_random):
        Q, _ = np.linalg.qr(rng.standard_normal((M, Z_OUT)))
        base[f"random_readout_{k}"] = acc({"V": params["V"], "W": jnp.asarray(Q)})
    for k in range(n_random):
        R = rng.standard_normal((d.dim, Z_OUT))
        base[f"random_pixel_projection_{k}"] = contrastive.downstream_accuracy(np.asarray(Xtr) @ R, d.labels,
                                                                               np.asarray(Xte) @ R, yte)
    v_move = float(jnp.linalg.norm(iterated["V"] - params["V"]) / jnp.linalg.norm(params["V"]))
    return {"pca_C0": acc({"V": params["V"], "W": W0}), "trained": acc(trained), "iterative": acc(iterated),
            "baselines": base, "baseline": max(base.values()), "iterative_V_change": v_move,
            "iterative_lr": ITERATIVE_LR_PER_WIDTH * M}


# ---------------------------------------------------------------------------- NTK drift across losses


def drift_setup(fast: bool = False) -> dict:
    """Arguments of :func:`dynamics.contrastive.ntk_drift_by_loss` for the cross-paper NTK-drift figure
    (supervised MSE, Barlow Twins, SimCLR, VICReg, contrastive A1 with dot product and cosine similarity on
    one network), recorded over time up to and past the dot-product blow-up (A Prop 10, Fig 2): on these
    data the dot-product runs overflow between t ≈ 10 and 25 at lr 0.2, so T = 24 (fast, 30 anchors) and
    T = 60 (full, 100 anchors), with records every 2 time units (10 steps)."""
    if fast:
        return {"widths": [64, 128, 256], "T": 24.0, "lr": 0.2, "n": 30, "n_ntk": 10, "seeds": (0,),
                "n_records": 13}
    return {"widths": [64, 128, 256, 512, 1024, 2048], "T": 60.0, "lr": 0.2, "n": 100, "n_ntk": 40,
            "seeds": (0, 1), "n_records": 31}


__all__ = ["Z_OUT", "digit_triplets", "ntk_inputs", "two_layer_full_ntk_fn", "two_layer_full_ntk", "frozen_kernel_flow",
           "LEMMA9_N", "LEMMA9_LR", "LEMMA9_STEPS", "lemma9_widths", "lemma9_gd", "lemma9_point", "lemma9_difference",
           "lemma9_differences", "ntk_change_runs", "early_dot_changes", "cv_drifts", "pca_representation_differences",
           "deep_cosine_ntk_changes", "deep_dot_overflows",
           "lemma9_trajectory", "NTK_LR", "NTK_T", "DOT_T_MAX", "DOT_EARLY_T", "ntk_widths", "ntk_change_point",
           "ntk_change_run", "early_dot_change_point", "early_dot_change", "dot_ntk_replay_point", "dot_ntk_replay",
           "GRASS_LR", "LEMMA16_T_FIX", "grass_setup", "grassmann_run", "cv_drift_point", "cv_drift",
           "pca_difference_point", "pca_representation_difference", "ITERATIVE_LR_PER_WIDTH", "deep_setup",
           "deep_cosine_point", "deep_cosine_ntk_change", "deep_dot_point", "deep_dot_overflow", "downstream_setup",
           "grassmann_train", "downstream_accuracies", "drift_setup"]
