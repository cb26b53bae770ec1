"""Orthogonality-constrained SSL on small data sets: the setups of Esser et al. (E).

P. Esser, S. Mukherjee, D. Ghoshdastidar, "Representation Learning Dynamics of Self-Supervised Models"
(2023), cited as E.  Shared by the checks of :mod:`dynamics.theorems.grassmann_checks`, the figures of
:mod:`dynamics.figures` (E Figs 1–4), notebook 03 and ``benchmarks/grassmann_flow.py``.

Data (all bundled with scikit-learn, nothing downloaded), as triplets (anchors X, positives X⁺,
negatives X⁻) for the data matrix C of E7 (:func:`dynamics.grassmann.data_matrix`):

* :func:`gaussian_triplets` — two noisy views of a Gaussian latent, random negatives (E[C] = −diag(spectrum)).
* :func:`half_moons` — E Example 1: ``make_moons``, positives x + N(0, 0.1²), random negatives.
* :func:`digits_two_classes` — E Figs 3–4 with the 8×8 digits in place of MNIST: classes 3 and 8.
* :func:`theorem1_digits` — E Thm 1 / Fig 2: digits 2×2-average-pooled to d = 16.

Runs (each computed once per process; the width sweep of :func:`flow_vs_gd_runs` through
:func:`~dynamics.experiments.run_grid`, stored on disk when a cache directory is set):

* :func:`half_moons_runs` — E Fig 1: unconstrained GD (Prop 1) and Grassmannian projected GD (E11)
  from the same inits, with the closed form and the ball flow.
* :func:`flow_vs_gd_run` / :func:`flow_vs_gd_runs` — E Figs 3–4: the discretised flow E12 vs E11 for
  several hidden widths h.

Time is gradient-flow time t = lr × step.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import data, grassmann, losses, trainer
from .._validation import check_positive_int
from .._x64 import float64
from ._grid import run_grid

# ---------------------------------------------------------------------------- data


def gaussian_triplets(n: int, d: int, *, noise: float = 0.3, seed: int = 0, spectrum=None):
    """Anchors and positives = two noisy views of one Gaussian latent (:func:`dynamics.data.gaussian_pairs`),
    negatives = the positives of a random other pair.  E[C] = −diag(spectrum) (E7;
    :func:`dynamics.grassmann.symbolic.expected_data_matrix`)."""
    x, xp = data.gaussian_pairs(n, d, spectrum=spectrum, noise=noise, seed=seed)
    perm = np.random.default_rng(seed + 1).permutation(n)
    return x, xp, xp[perm]


MOONS_N = 200  # E Example 1: points of the half moons
MOONS_H = 8  # hidden width of the two-layer linear net (h > d = 2: Θ of the net starts in the unit ball)
MOONS_SEED0 = 200  # init seeds MOONS_SEED0 + s


@functools.cache
def half_moons(n: int = MOONS_N, noise: float = 0.1, seed: int = 0):
    """E Example 1: sklearn ``make_moons`` (moons noise 0.05, centred), positives x + N(0, noise² I),
    negatives independent random points of the data set.  Returns (X, X⁺, X⁻, labels)."""
    from sklearn.datasets import make_moons

    n = check_positive_int(n, "n", minimum=2)
    X, y = make_moons(n, noise=0.05, random_state=seed)
    X = X - X.mean(0)
    rng = np.random.default_rng(seed)
    Xp = X + noise * rng.standard_normal(X.shape)
    Xn = X[rng.integers(0, n, n)]
    return X, Xp, Xn, y


DIGITS_CLASSES = (3, 8)  # E Figs 3–4: two classes
DIGITS_PER_CLASS = 170  # the bundled digits have fewer than 200 images per class
DIGITS_Z = 4  # output dimension z of the digits runs
DIGITS_LR_SCALE = 0.1  # step size lr = DIGITS_LR_SCALE / ‖C‖_op for E11 and E12


@functools.cache
def digits_two_classes(classes=DIGITS_CLASSES, per_class: int = DIGITS_PER_CLASS, noise: float = 0.1,
                       seed: int = 0):
    """E Figs 3–4 stand-in for MNIST: two digit classes of scikit-learn's digits (d = 64, pixels / 16).

    Anchors are the images, positives a random shift by up to one pixel (:func:`dynamics.data.random_shifts`,
    the augmentation of :func:`dynamics.data.digits_pairs`) plus N(0, noise²) pixel noise, negatives random
    other images.  Returns (X, X⁺, X⁻, labels).
    """
    images, labels = data.digits_images()
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes])
    imgs = images[idx] / 16.0
    X = imgs.reshape(len(idx), -1)
    Xp = data.random_shifts(imgs, 1, rng).reshape(len(idx), -1) + noise * rng.standard_normal(X.shape)
    Xn = X[rng.permutation(len(idx))]
    return X, Xp, Xn, labels[idx]


def digits_steps(fast: bool) -> int:
    """Steps of the E11 / E12 digits runs (E Figs 3–4): 600 in fast mode, 2000 in full."""
    return 600 if fast else 2000


def digits_record_steps(n_steps: int) -> np.ndarray:
    """The 31 record steps (evenly spaced, 0 and ``n_steps`` included) of the digits runs.

    The records of the discretised flow E12 and projected GD E11 on digits (E Figs 3–4)."""
    return np.unique(np.round(np.linspace(0, n_steps, 31)).astype(int))


def theorem1_digits(n: int):
    """E Thm 1 / Fig 2 data: ``n`` random digits (seed 0), pixels / 16, 2×2-average-pooled to d = 16;
    positives x + N(0, 0.1²), negatives a random permutation of the anchors.  Returns (X, X⁺, X⁻)."""
    images, _ = data.digits_images()
    n = check_positive_int(n, "n")
    if n > len(images):
        raise ValueError(f"n must be <= {len(images)} (the number of digit images), got {n}")
    rng = np.random.default_rng(0)
    imgs = images[rng.permutation(len(images))[:n]] / 16.0
    X = imgs.reshape(n, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(n, -1)  # 2×2 average pooling: d = 16
    Xp = X + 0.1 * rng.standard_normal(X.shape)
    Xn = X[rng.permutation(n)]
    return X, Xp, Xn


# ---------------------------------------------------------------------------- E Fig 1: half moons


@float64
def half_moons_runs(fast: bool = False) -> dict:
    """The runs behind E Fig 1 (the setup of the check ``e_example1_half_moons``).

    Unconstrained: plain GD (lr 0.05, to t = 15/|λ_1|) of the one-layer model f(x) = Θᵀx of E Prop 1 from
    Θ(0) = Θ of the initial net (:func:`dynamics.grassmann.network_theta`), and its closed form
    exp(−2Ct) Θ(0) (:func:`dynamics.grassmann.unconstrained_trajectory`).  Constrained: Grassmannian
    projected GD (E11) of the two-layer net (h = :data:`MOONS_H` > d = 2, lr = 0.2/‖C‖, 400 fast / 1500
    full steps), and the relaxed ball flow (:func:`dynamics.grassmann.ball_trajectory`, the Θ flow of a
    wide net, E Prop 3) from the same Θ(0), for the first 5 inits.
    10 (fast) / 20 inits, seeds :data:`MOONS_SEED0` + s.
    """
    X, Xp, Xn, y = half_moons(MOONS_N)
    C = grassmann.data_matrix(X, Xp, Xn)
    lam, U = np.linalg.eigh(C)
    u1 = U[:, 0]
    n_init = 10 if fast else 20
    inits = [grassmann.init_network(2, MOONS_H, 1, seed=MOONS_SEED0 + s) for s in range(n_init)]
    th0 = np.stack([np.asarray(grassmann.network_theta(p)) for p in inits])  # (B, 2, 1)

    # unconstrained one-layer GD, t up to 15/|λ_1| as in the check
    lr_free = 0.05
    n_free = int(np.ceil(15.0 / (abs(lam[0]) * lr_free)))
    rec_free = np.unique(np.linspace(0, n_free, 61).astype(int))
    xj, xpj, xnj = (jnp.asarray(a) for a in (X, Xp, Xn))

    def one_layer(th):
        return jnp.sum(jax.vmap(lambda t: losses.triplet_contrastive(xj @ t, xpj @ t, xnj @ t))(th))

    _, h_free = trainer.gradient_descent(one_layer, jnp.asarray(th0), lr=lr_free, n_steps=n_free,
                                         record_steps=rec_free,
                                         observers={"norm": lambda th: jnp.linalg.norm(th, axis=(1, 2))})
    t_free_th = np.linspace(0.0, h_free.t[-1], 200)
    norm_free_th = np.stack([np.linalg.norm(grassmann.unconstrained_trajectory(C, th0[b], t_free_th), axis=(1, 2))
                             for b in range(n_init)], axis=1)

    # constrained: E11 on the E1 loss of the outputs
    lr = 0.2 / np.abs(lam).max()
    steps = 400 if fast else 1500
    rec = np.unique(np.concatenate([[0], np.geomspace(1, steps, 60).astype(int)]))
    _, h_con = grassmann.train_projected(grassmann.network_apply("linear"), grassmann.stack_params(inits), X, Xp, Xn,
                                         lr=lr, n_steps=steps, record_steps=rec,
                                         observers={"theta": grassmann.network_theta})
    th = np.asarray(h_con["theta"])[:, :, :, 0]  # (T, B, 2)
    miss = 1.0 - (th @ u1) ** 2 / np.sum(th**2, axis=-1)
    t_th = np.concatenate([[0.0], np.geomspace(lr, h_con.t[-1], 300)])
    n_theory = min(5, n_init)
    ball = [grassmann.ball_trajectory(C, th0[b], t_th, backend="scipy")[:, :, 0] for b in range(n_theory)]
    miss_th = np.stack([1.0 - (b @ u1) ** 2 / np.sum(b**2, axis=-1) for b in ball], axis=1)
    return {"X": X, "y": y, "C": C, "lam": lam, "u1": u1, "th0": th0, "n_init": n_init, "lr_free": lr_free,
            "t_free": h_free.t, "norm_free": np.asarray(h_free["norm"]), "t_free_th": t_free_th,
            "norm_free_th": norm_free_th, "lr": lr, "steps": steps, "t_con": h_con.t, "miss": miss,
            "final_theta": th[-1], "t_th": t_th, "miss_th": miss_th, "n_theory": n_theory}


# ---------------------------------------------------------------------------- E Figs 3–4: E12 vs E11


def flow_vs_gd_widths(fast: bool) -> list[int]:
    """Hidden widths h of the E Figs 3–4 sweep: 8, 32 (fast); 8, 16, 32, 48 (full) — all below d = 64
    (h < d: V moves, and the comparison is not E12 written through a fixed isometry)."""
    return [8, 32] if fast else [8, 16, 32, 48]


@float64
@functools.lru_cache(maxsize=None)
def discretised_flow_run(fast: bool) -> dict:
    """E12 (Euler steps of the Θ flow E9 with polar retraction, width-free) on :func:`digits_two_classes`,
    z = :data:`DIGITS_Z`, from Θ(0) random semi-orthogonal (seed 0), lr = 0.1/‖C‖, :func:`digits_steps`
    steps, 31 records.  Cached.  Returns t, the outputs XΘ(t) on the anchors, the E1 loss Tr(ΘᵀCΘ),
    the optimum (sum of the z smallest eigenvalues of C), lr, steps, n, d, C and Θ(0)."""
    X, Xp, Xn, y = digits_two_classes()
    C = grassmann.data_matrix(X, Xp, Xn)
    d = X.shape[1]
    lr = DIGITS_LR_SCALE / np.linalg.norm(C, 2)
    steps = digits_steps(fast)
    rec = digits_record_steps(steps)
    theta0 = grassmann.random_semi_orthogonal(d, DIGITS_Z, 0)
    _, h_fl = grassmann.discretised_flow(C, theta0, lr=lr, n_steps=steps, record_steps=rec)
    F_fl = grassmann.outputs(X, h_fl["theta"])
    loss_fl = np.array([np.trace(t.T @ C @ t) for t in np.asarray(h_fl["theta"])])
    return {"t": h_fl.t, "outputs": F_fl, "loss": loss_fl, "lr": lr, "steps": steps, "record_steps": rec,
            "n": len(y), "d": d, "C": C, "theta0": theta0,
            "optimum": float(np.sum(np.linalg.eigvalsh(C)[:DIGITS_Z]))}


@float64
def flow_vs_gd_run(h: int, fast: bool) -> dict:
    """E11 (Grassmannian projected GD of the two-layer linear net, hidden width ``h``, init seed h) whose
    Θ starts at Θ(0) of :func:`discretised_flow_run`, with its lr and record steps: the E1 loss along
    training and the relative output difference ‖XΘ_GD − XΘ_flow‖_F / ‖XΘ_flow‖_F to E12 (one grid point
    of :func:`flow_vs_gd_runs`)."""
    h = check_positive_int(h, "h", minimum=DIGITS_Z)
    ref = discretised_flow_run(bool(fast))
    X, Xp, Xn, _ = digits_two_classes()
    params = grassmann.init_network(ref["d"], h, DIGITS_Z, theta0=ref["theta0"], seed=h)
    _, hist = grassmann.train_projected(grassmann.network_apply("linear"), params, X, Xp, Xn, lr=ref["lr"],
                                        n_steps=ref["steps"], record_steps=ref["record_steps"],
                                        observers={"theta": grassmann.network_theta})
    F = grassmann.outputs(X, hist["theta"])
    F_fl = ref["outputs"]
    diff = np.linalg.norm(F - F_fl, axis=(1, 2)) / np.linalg.norm(F_fl, axis=(1, 2))
    return {"loss": np.asarray(hist.loss), "out_diff": diff}


def flow_vs_gd_runs(fast: bool = False, widths=None) -> dict:
    """E Figs 3–4: E12 (:func:`discretised_flow_run`) and E11 for each h of ``widths`` (default
    :func:`flow_vs_gd_widths`) on digits 3 vs 8, z = 4, lr = 0.1/‖C‖, 600 fast / 2000 full steps — the
    setup of the check ``e_flow_vs_projected_gd_digits``.  The width sweep goes through
    :func:`~dynamics.experiments.run_grid` (resumable with a cache directory)."""
    ref = discretised_flow_run(fast)
    widths = [check_positive_int(h, "widths[i]", minimum=DIGITS_Z) for h in (widths or flow_vs_gd_widths(fast))]
    runs = run_grid(flow_vs_gd_run, [{"h": int(h), "fast": bool(fast)} for h in widths], desc="E11 vs E12")
    gd = {h: {"loss": np.asarray(r["loss"]), "out_diff": np.asarray(r["out_diff"])} for h, r in zip(widths, runs)}
    return {"C": ref["C"], "n": ref["n"], "d": ref["d"], "lr": ref["lr"], "steps": ref["steps"], "t": ref["t"],
            "loss_flow": ref["loss"], "gd": gd, "widths": widths, "optimum": ref["optimum"]}



# ---------------------------------------------------------------------------- E Thm 1 at initialisation

THEOREM1_ACTIVATIONS = ("tanh", "relu", "sigmoid")


def haar_stack(n: int, rows: int, cols: int, rng) -> np.ndarray:
    r"""``n`` independent Haar-random semi-orthogonal ``(rows, cols)`` matrices, shape ``(n, rows, cols)``.

    The same law as :func:`dynamics.grassmann.random_semi_orthogonal` ($Q$ of a Gaussian's QR with
    $\mathrm{diag}(R) > 0$), batched: Cholesky QR done twice ($Q = G R^{-1}$, $R = L^\top$ with
    $G^\top G = L L^\top$).  The uniformly random $V$, $W$ of E Thm 1."""
    n, rows, cols = (check_positive_int(v, k) for v, k in ((n, "n"), (rows, "rows"), (cols, "cols")))
    tall = (max(rows, cols), min(rows, cols))
    Q = rng.standard_normal((n, *tall))
    for _ in range(2):
        L = np.linalg.cholesky(np.swapaxes(Q, 1, 2) @ Q)  # Q^T Q = L L^T, R = L^T
        Q = np.swapaxes(np.linalg.solve(L, np.swapaxes(Q, 1, 2)), 1, 2)  # Q L^{-T}
    return Q if rows >= cols else np.swapaxes(Q, 1, 2)


def theorem1_init_width(h: int, n_nets: int, n: int, z: int, seed: int = 0, apply_fns=None,
                        budget: int = 2**22) -> dict:
    r"""E Thm 1 at one width: $\|f_\phi(x) - f_\mathrm{lin}(x)\|$ over ``n_nets`` Haar $(V, W)$ (V (h, d),
    $V^\top V = I_d$, W (h, z)) on :func:`theorem1_digits` ``(n)``.

    Returns {"mean_<act>": mean over nets and x, "rms_<act>": root mean square over nets and x} for each
    activation of :data:`THEOREM1_ACTIVATIONS`.  The draws come from ``np.random.default_rng([seed, h])``:
    each width has its own stream, so a width's numbers do not depend on the other widths of a sweep.
    ``apply_fns`` maps activation names and "linear" to ``apply(params, X)`` (default
    :func:`dynamics.grassmann.network_apply`; entries given replace those).  Nets are evaluated in chunks of
    a power of two with about ``budget`` hidden activations each."""
    h, n_nets, z = check_positive_int(h, "h"), check_positive_int(n_nets, "n_nets"), check_positive_int(z, "z")
    seed = check_positive_int(seed, "seed", minimum=0)
    X = theorem1_digits(n)[0]
    d = X.shape[1]
    if h < d:
        raise ValueError(f"h must be >= d = {d} (V^T V = I_d), got {h}")
    applies = {a: grassmann.network_apply(a) for a in (*THEOREM1_ACTIVATIONS, "linear")}
    applies.update(apply_fns or {})
    rng = np.random.default_rng([seed, h])
    Xj = jnp.asarray(X)

    @jax.jit
    def norms(V, W):
        q = {"V": V, "W": W}
        lin = jax.vmap(applies["linear"], in_axes=(0, None))(q, Xj)
        return {a: jnp.linalg.norm(jax.vmap(applies[a], in_axes=(0, None))(q, Xj) - lin, axis=-1)
                for a in THEOREM1_ACTIVATIONS}

    parts = {a: [] for a in THEOREM1_ACTIVATIONS}
    chunk = 2 ** int(np.clip(np.floor(np.log2(budget / (len(X) * h))), 0, 6))
    for start in range(0, n_nets, chunk):
        m = min(chunk, n_nets - start)
        V = np.swapaxes(haar_stack(m, d, h, rng), 1, 2)  # E's (d, h) draw, in the networks layout (h, d)
        out = norms(jnp.asarray(V), jnp.asarray(haar_stack(m, h, z, rng)))
        for a in THEOREM1_ACTIVATIONS:
            parts[a].append(np.asarray(out[a]))
    res = {}
    for a in THEOREM1_ACTIVATIONS:
        v = np.concatenate(parts[a])  # (n_nets, N)
        res[f"mean_{a}"], res[f"rms_{a}"] = float(np.mean(v)), float(np.sqrt(np.mean(v**2)))
    return res


@float64
def theorem1_init_point(h: int, n_nets: int, n: int, z: int, seed: int) -> dict:
    r"""One width of :func:`theorem1_init_differences` with the default models (JSON settings only, so
    :func:`~dynamics.experiments.run_grid` can store it and run it on a worker): E Thm 1,
    $\|f_\phi(x) - f_\mathrm{lin}(x)\|$ at init (:func:`theorem1_init_width`)."""
    return theorem1_init_width(h, n_nets, n, z, seed)


@float64
def theorem1_init_differences(widths, n_nets: int, n: int, z: int = 2, seed: int = 0, apply_fns=None, *,
                              progress: bool = False) -> tuple:
    r"""E Thm 1 at init over ``widths``: ``(mean, rms)``, each ``{activation: [value per width]}`` of
    $\|f_\phi(x) - f_\mathrm{lin}(x)\|$ (:func:`theorem1_init_width`, one random stream per (seed, width)).

    With the default models all widths are points of one :func:`~dynamics.experiments.run_grid` call
    (:func:`theorem1_init_point`); other ``apply_fns`` (functions cannot name a stored point) are run in
    memory, width by width, with the same draws."""
    widths = [check_positive_int(h, "widths") for h in widths]
    if not widths:
        raise ValueError("widths must not be empty")
    if apply_fns:
        runs = [theorem1_init_width(h, n_nets, n, z, seed, apply_fns) for h in widths]
    else:
        runs = run_grid(theorem1_init_point, [{"h": h, "n_nets": int(n_nets), "n": int(n), "z": int(z),
                                               "seed": int(seed)} for h in widths],
                        progress=progress, desc="E Thm 1 at init")
    mean = {a: [float(r[f"mean_{a}"]) for r in runs] for a in THEOREM1_ACTIVATIONS}
    rms = {a: [float(r[f"rms_{a}"]) for r in runs] for a in THEOREM1_ACTIVATIONS}
    return mean, rms



# ---------------------------------------------------------------------------- E Thm 2: width-independent flow

THEOREM2_D, THEOREM2_Z, THEOREM2_N = 16, 3, 400


@float64
@functools.cache
def theorem2_setup():
    r"""E Thm 2 data: ``(x, x⁺, x⁻, C, Θ(0))``, 400 Gaussian triplets in d = 16 (:func:`gaussian_triplets`, seed 3,
    spectrum 2 … 0.2) scaled so that $\|C\|_2 = 1$ for the data matrix $C$ of E7
    (:func:`dynamics.grassmann.data_matrix`), and $\Theta(0)$ a random semi-orthogonal (16, 3) matrix (seed 11)."""
    d = THEOREM2_D
    x, xp, xn = gaussian_triplets(THEOREM2_N, d, seed=3, spectrum=np.linspace(2.0, 0.2, d))
    scale = np.linalg.norm(grassmann.data_matrix(x, xp, xn), 2)
    x, xp, xn = x / np.sqrt(scale), xp / np.sqrt(scale), xn / np.sqrt(scale)
    return x, xp, xn, grassmann.data_matrix(x, xp, xn), grassmann.random_semi_orthogonal(d, THEOREM2_Z, 11)


@float64
def theorem2_gd_point(h: int, lr: float, horizon: float, n_records: int, tangent: str) -> dict:
    r"""One (width, step size) run of E Thm 2: projected GD (E11) of the width-``h`` linear net from
    $\Theta(0)$ of :func:`theorem2_setup` (init seed ``h``) on E1, recorded at ``n_records`` evenly spaced
    times in $[0, \mathrm{horizon}]$ (steps ``round(t / lr)``).

    Returns {"theta": $\Theta = V^\top W$ at the records, "V_change": $\max|V(T) - V(0)|$}; ``tangent`` is
    the trainer's (``"grassmann"``, the Grassmannian gradient, or ``"free"``, the Euclidean one).  JSON settings,
    so :func:`~dynamics.experiments.run_grid` stores it and runs it on a worker."""
    h = check_positive_int(h, "h")
    n_records = check_positive_int(n_records, "n_records", minimum=2)
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if not (np.isfinite(horizon) and horizon > 0):
        raise ValueError(f"horizon must be a positive finite number, got {horizon!r}")
    x, xp, xn, _, theta0 = theorem2_setup()
    params = grassmann.init_network(THEOREM2_D, h, THEOREM2_Z, theta0=theta0, seed=h)
    steps = np.round(np.linspace(0.0, horizon, n_records) / lr).astype(int)
    p_end, hist = grassmann.train_projected(grassmann.network_apply("linear"), params, x, xp, xn, lr=lr,
                                            n_steps=int(steps[-1]), record_steps=steps, tangent=tangent,
                                            observers={"theta": grassmann.network_theta})
    return {"theta": np.asarray(hist["theta"]),
            "V_change": float(np.abs(np.asarray(p_end["V"]) - np.asarray(params["V"])).max())}



def theorem1_training_width(h: int, n_init: int, n: int, lr: float, steps: int, z: int = 2, apply_fns=None) -> dict:
    r"""E Conj 1 / Fig 2 at one width: $\operatorname{mean}_x \|f_\phi(x) - f_\mathrm{lin}(x)\|$ at init and
    after training, seed mean over ``n_init`` inits (seeds ``1000 h + s``) of the nets of
    :data:`THEOREM1_ACTIVATIONS` and the linear net, each trained from the same $(V, W)$ by Grassmannian
    projected GD (E11) on E1 (:func:`dynamics.losses.triplet_contrastive`) on :func:`theorem1_digits`
    ``(n)``, ``steps`` steps at ``lr``.

    Returns {"init_<act>", "trained_<act>"}.  The four nets and their inits are independent: one E11 run
    on the sum of their E1 losses gives each exactly its own Grassmannian gradient step.  ``apply_fns``
    as in :func:`theorem1_init_width`."""
    h, n_init, steps, z = (check_positive_int(v, k) for v, k in ((h, "h"), (n_init, "n_init"), (steps, "steps"),
                                                                  (z, "z")))
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    X, Xp, Xn = theorem1_digits(n)
    d = X.shape[1]
    models = (*THEOREM1_ACTIVATIONS, "linear")
    applies = {a: grassmann.network_apply(a) for a in models}
    applies.update(apply_fns or {})
    batched = {a: jax.vmap(applies[a], in_axes=(0, None)) for a in models}
    xj, xpj, xnj = (jnp.asarray(a) for a in (X, Xp, Xn))

    def loss_fn(q):
        def one(a, net):
            net = jax.tree_util.tree_map(grassmann.horizontal, net)
            return losses.triplet_contrastive(*(applies[a](net, x) for x in (xj, xpj, xnj)))
        return sum(jnp.sum(jax.vmap(functools.partial(one, a))(q[a])) for a in models)

    project = jax.vmap(grassmann.project_params)
    params = grassmann.stack_params([grassmann.init_network(d, h, z, seed=1000 * h + s) for s in range(n_init)])
    trained, _ = trainer.gradient_descent(loss_fn, {a: params for a in models}, lr=lr, n_steps=steps,
                                          record_steps=[0, steps],
                                          project=lambda q: {a: project(v) for a, v in q.items()})
    f_lin0, f_linT = batched["linear"](params, X), batched["linear"](trained["linear"], X)
    res = {}
    for a in THEOREM1_ACTIVATIONS:
        res[f"init_{a}"] = float(np.mean(np.linalg.norm(batched[a](params, X) - f_lin0, axis=-1)))
        res[f"trained_{a}"] = float(np.mean(np.linalg.norm(batched[a](trained[a], X) - f_linT, axis=-1)))
    return res


@float64
def theorem1_training_point(h: int, n_init: int, n: int, lr: float, steps: int, z: int) -> dict:
    r"""One width of :func:`theorem1_training_differences` with the default models (JSON settings only, for
    :func:`~dynamics.experiments.run_grid`): E Conj 1, $\|f_\phi - f_\mathrm{lin}\|$ after E11 training
    (:func:`theorem1_training_width`)."""
    return theorem1_training_width(h, n_init, n, lr, steps, z)


@float64
def theorem1_training_differences(widths, n_init: int, n: int, lr: float, steps: int, z: int = 2, apply_fns=None,
                                  *, progress: bool = False) -> tuple:
    r"""E Conj 1 / Fig 2 over ``widths``: ``(at_init, trained)``, each ``{activation: [value per width]}`` of
    $\operatorname{mean}_x\|f_\phi(x) - f_\mathrm{lin}(x)\|$ (:func:`theorem1_training_width`).

    With the default models all widths are points of one :func:`~dynamics.experiments.run_grid` call
    (:func:`theorem1_training_point`); other ``apply_fns`` are run in memory, width by width."""
    widths = [check_positive_int(h, "widths") for h in widths]
    if not widths:
        raise ValueError("widths must not be empty")
    if apply_fns:
        runs = [theorem1_training_width(h, n_init, n, lr, steps, z, apply_fns) for h in widths]
    else:
        runs = run_grid(theorem1_training_point, [{"h": h, "n_init": int(n_init), "n": int(n), "lr": float(lr),
                                                  "steps": int(steps), "z": int(z)} for h in widths],
                        progress=progress, desc="E Conj 1 (training)")
    init = {a: [float(r[f"init_{a}"]) for r in runs] for a in THEOREM1_ACTIVATIONS}
    trained = {a: [float(r[f"trained_{a}"]) for r in runs] for a in THEOREM1_ACTIVATIONS}
    return init, trained


__all__ = ["gaussian_triplets", "half_moons", "digits_two_classes", "theorem1_digits", "digits_steps",
           "digits_record_steps", "half_moons_runs", "flow_vs_gd_widths", "discretised_flow_run", "flow_vs_gd_run",
           "flow_vs_gd_runs", "MOONS_N", "MOONS_H", "MOONS_SEED0", "DIGITS_CLASSES", "DIGITS_PER_CLASS", "DIGITS_Z",
           "DIGITS_LR_SCALE"]
__all__ += ["THEOREM1_ACTIVATIONS", "haar_stack", "theorem1_init_width", "theorem1_init_point",
            "theorem1_init_differences"]
__all__ += ["THEOREM2_D", "THEOREM2_Z", "THEOREM2_N", "theorem2_setup", "theorem2_gd_point"]
__all__ += ["theorem1_training_width", "theorem1_training_point", "theorem1_training_differences"]
