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


__all__ = ["gaussian_triplets", "half_moons", "digits_two_classes", "theorem1_digits", "digits_steps",
           "digits_record_steps", "half_moons_runs", "flow_vs_gd_widths", "discretised_flow_run", "flow_vs_gd_run",
           "flow_vs_gd_runs", "MOONS_N", "MOONS_H", "MOONS_SEED0", "DIGITS_CLASSES", "DIGITS_PER_CLASS", "DIGITS_Z",
           "DIGITS_LR_SCALE"]
