"""Stepwise learning of Barlow Twins, SimCLR and VICReg in deep networks: the setups and runs of
Simon et al. (2023) §6 and App. D–E at this machine's scale.

S: J. B. Simon, M. Knutins, L. Ziyin, D. Geisz, A. J. Fetterman, J. Albrecht, "On the Stepwise Nature of
Self-Supervised Learning", ICML 2023 (arXiv:2303.15438).  Losses: Barlow Twins (arXiv:2103.03230) with
λ = 1 and no batch norm (S App. D.2), SimCLR's NT-Xent (arXiv:2002.05709) at temperature 0.2 (S App. D.2),
VICReg (arXiv:2105.04906) with its official weights.

Shared by the checks of :mod:`dynamics.theorems.deep_checks`, the figures of S Fig 1 C–D, 2 C–F, 3–5, 7 and
S Tables 1–2, and notebook 05.  Every run is :func:`dynamics.ssl.train_ssl`: mini-batches of freshly
augmented views (random crops, :func:`dynamics.augment.make_augment`), optax SGD with momentum 0.9, time
t = lr × step, recorded on fixed evaluation views (S App. D.4: eigenvalues of the symmetrised C for Barlow
Twins, of the centred covariance of the embeddings for SimCLR and VICReg, of the centred covariance of the
hidden representation for all three), linear-probe accuracy on held-out digits (S Fig 7).

What differs from the paper, and why:

* *Data*: scikit-learn's 8 × 8 digits (1797 images, no download), standardised (the mean image removed,
  divided by the pixel standard deviation, as a ``Normalize`` transform does), views = random 6 × 6 crops.
  The paper trains on STL-10 (96 × 96 × 3) with the full SimCLR augmentations.
* *Network*: two networks, by mode (:func:`deep_setup`).  The full runs (``make figures``, ``-m slow``)
  train a small residual network (:data:`RESNET`, :func:`dynamics.networks.init_resnet`): stages of 8 and 16
  channels without batch norm, global average pooling (the hidden representation), and the projection head
  Linear -> BN -> ReLU -> Linear with batch statistics, as the projectors of the paper's networks.  The paper's
  ResNets have batch norm after every convolution too, which makes each layer invariant to the scale of the
  weights before it, so that "every initial weight × α" (S App. D.2) only scales the un-normalised last layer;
  here α multiplies the head's last layer (``alpha_scope="last"``).  Without the head's batch norm the pooled
  ReLU features have a common mean 50-100 times larger than their next direction, so that Barlow Twins learns
  that mean at once and the other directions hardly at all; with α on every weight and no batch norm the output
  is of order α^L and the network stalls after one direction.  The fast runs (``verify --fast``, the tests)
  train the one-hidden-layer ReLU MLP of S App. D.1 (``networks.init_mlp``, standard parametrisation) on the
  flattened views, several times cheaper per step on a CPU.
* *Sizes*: mini-batches of 256 images, one to three thousand steps instead of 320–500 epochs of STL-10; d = 4 instead
  of 512 / 128 / 50; the eNTK of S Table 1 on a few hundred pairs instead of 1000 (:func:`deep_setup`).  The
  batch is larger than the paper's per-step noise would suggest because with 64 images the SGD noise makes the
  eigenvalues fluctuate by factors of two around their plateaus and visible steps are not counted.
* *Initialisation*: "small" multiplies every initial weight by α (:data:`ALPHA_SMALL`; S App. D.2, where
  α ≈ 0.09–0.13; for the ResNet α is chosen by the paper's heuristic, a top eigenvalue of about 10⁻³ at init,
  :data:`RESNET_ALPHA_SMALL`); "standard" is α = 1, with a smaller learning rate for Barlow Twins (and VICReg
  on the MLP) (:data:`LEARNING_RATES_STANDARD`, :data:`RESNET_LEARNING_RATES_STANDARD`: the small-init rates
  diverge there); the paper instead lowers the rate for small init.

The measured scores, step times and alignments are not quoted here: they are in the generated captions and
tables (``paper_figures/captions.md``, ``paper_figures/s_tables_1_2.md``) and in the details of the checks of
:mod:`dynamics.theorems.deep_checks`.
"""

from __future__ import annotations

import functools
import hashlib
import json

import jax
import jax.numpy as jnp
import numpy as np

from .. import augment as _augment_module
from .. import data, kernel, linalg, networks, ntk, ssl
from .._validation import as_array, check_choice, check_positive, check_positive_int
from ._grid import current_cache_dir, run_grid

DEEP_LOSSES = ("barlow_twins", "simclr", "vicreg")
INITS = ("small", "standard")

#: Loss settings: S App. D.2 (Barlow Twins λ = 1 without batch norm, here with the symmetrised C of S2;
#: SimCLR τ = 0.2; VICReg's official weights 25, 25, 1).
LOSS_KWARGS = {"barlow_twins": {"lambd": 1.0, "symmetrize": True}, "simclr": {"temperature": 0.2}, "vicreg": {}}
#: Learning rate per loss (SGD, momentum 0.9) of the MLP runs (``fast``).  SimCLR's loss normalises the
#: embeddings, so its gradient grows like 1/‖f‖ from small init and it needs a smaller step (S App. D.2 also
#: lowers it, 0.5 -> 0.01).
LEARNING_RATES = {"barlow_twins": 0.015, "simclr": 0.002, "vicreg": 0.01}
#: Learning rate of the MLP at standard init (α = 1), where the small-init rates diverge (Barlow Twins at step 12).
LEARNING_RATES_STANDARD = {"barlow_twins": 0.005, "simclr": 0.002, "vicreg": 0.003}
#: α of the MLP's small init per loss (S App. D.2 tunes α per loss too: 0.093, 0.087, 0.133).
ALPHA_SMALL = {"barlow_twins": 0.1, "simclr": 0.1, "vicreg": 0.1}
ALPHA_STANDARD = 1.0

#: The residual network of the full runs (:func:`dynamics.networks.init_resnet`): two stages of 8 and 16
#: channels, the projection head Linear -> BN -> ReLU -> Linear with batch statistics (``head_norm``), α on the
#: head's last layer only (``alpha_scope="last"``: what "every weight × α" leaves in a network with batch norm,
#: S App. D.2).
RESNET = {"widths": (8, 16), "head_width": 16, "head_norm": True, "alpha_scope": "last"}
#: Learning rates of the ResNet runs (SGD, momentum 0.9), small init.  VICReg at 0.01 diverged in the hidden layer.
RESNET_LEARNING_RATES = {"barlow_twins": 0.015, "simclr": 0.01, "vicreg": 0.003}
#: Learning rates of the ResNet runs at standard init.
RESNET_LEARNING_RATES_STANDARD = {"barlow_twins": 0.005, "simclr": 0.01, "vicreg": 0.003}
#: α of the ResNet's small init per loss, chosen by S App. D.2's heuristic (the top embedding eigenvalue at
#: init about 10⁻³ for Barlow Twins and VICReg).
RESNET_ALPHA_SMALL = {"barlow_twins": 0.02, "simclr": 0.02, "vicreg": 0.02}
#: Steps of the ResNet runs per loss (t = lr × steps = 15, 10 and 9): VICReg's last directions grow latest.
RESNET_STEPS = {"barlow_twins": 1000, "simclr": 1000, "vicreg": 3000}

# The stepwise measure (:func:`stepwise_score`): "not grown" below LOW, "grown" above HIGH, of each
# eigenvalue's plateau level (:func:`plateau_levels`).
LOW, HIGH = 0.1, 0.5
#: Records of the running median whose largest value is an eigenvalue's plateau level (:func:`plateau_levels`).
PLATEAU_WINDOW = 5


def deep_setup(fast: bool) -> dict:
    """The settings of the deep runs (plain numbers, strings and tuples; figures print them).

    ``fast`` (the checks of ``verify --fast`` and the tests): the one-hidden-layer MLP of S App. D.1 on the
    flattened views (``"network": "mlp"``, ``"width"``).  Full (``make figures``, ``-m slow``): the residual
    network of :data:`RESNET` (``"network": "resnet"``, ``"widths"``, ``"head_width"``, ``"head_norm"``,
    ``"alpha_scope"``, passed to :func:`dynamics.networks.init_resnet`), several times the MLP's cost per step.

    Keys: network and its entries, d, crop, batch_size, n_steps (an int, or one per loss: :func:`n_steps`), n_records, eval_size, lr and lr_standard (per
    loss), momentum, alpha_small (per loss), alpha_standard, alphas (the α sweep of the trend check), table_pairs
    (n of S Table 1), probe_train / probe_test (images of the linear probe), probe_every, seed, data.
    """
    fast = bool(fast)
    common = {
        "data": "digits 8x8, standardised, random 6x6 crops",
        "d": 4,
        "crop": 6,
        "batch_size": 256,
        "momentum": 0.9,
        "alpha_standard": ALPHA_STANDARD,
        "probe_train": 500,
        "probe_test": 500,
        "seed": 0,
    }
    if fast:
        return {**common, "network": "mlp", "width": 128, "n_steps": 2000, "n_records": 60, "eval_size": 512,
                "lr": dict(LEARNING_RATES), "lr_standard": dict(LEARNING_RATES_STANDARD),
                "alpha_small": dict(ALPHA_SMALL), "alphas": (0.1, 0.3, 1.0), "table_pairs": 200, "probe_every": 200}
    return {**common, "network": "resnet", **RESNET, "n_steps": dict(RESNET_STEPS), "n_records": 80, "eval_size": 1024,
            "lr": dict(RESNET_LEARNING_RATES), "lr_standard": dict(RESNET_LEARNING_RATES_STANDARD),
            "alpha_small": dict(RESNET_ALPHA_SMALL), "alphas": (0.02, 0.1, 1.0), "table_pairs": 400,
            "probe_every": 250}


@functools.lru_cache(maxsize=1)
def deep_images():
    """(images (1797, 8, 8, 1), labels): digits / 16 with the mean image removed, divided by the pixel std. The data of the S §6 reproduction."""
    imgs, labels = data.digits_images()
    x = np.asarray(imgs, dtype=np.float64)[:, :, :, None] / 16.0
    x = (x - x.mean(axis=0)) / x.std()
    x.setflags(write=False)
    return x, np.asarray(labels)


def deep_augment(fast: bool):
    """The views: random crops of side ``crop`` (no flip, no jitter: grey digits). The views of S App. D.1, reduced to crops."""
    return _augment_module.make_augment(deep_setup(fast)["crop"], resized=False, flip=False, brightness=0.0,
                                        contrast=0.0, saturation=0.0)


def _center_crop(x, size):
    a = (x.shape[1] - size) // 2
    return x[:, a:a + size, a:a + size]


def deep_probe(fast: bool):
    """:class:`dynamics.ssl.ProbeData`: centre crops of the last images (train) and those before (test). The probe data of S Fig 7."""
    s = deep_setup(fast)
    x, y = deep_images()
    x = _center_crop(x, s["crop"]).astype(np.float32)
    ntr, nte = s["probe_train"], s["probe_test"]
    return ssl.ProbeData(x[-ntr:], y[-ntr:], x[-ntr - nte:-ntr], y[-ntr - nte:-ntr])


def _init_params(fast, alpha, seed):
    s = deep_setup(fast)
    D = s["crop"] ** 2
    if s["network"] == "mlp":
        return networks.init_mlp(D, s["width"], s["d"], seed=seed, alpha=alpha, dtype=jnp.float32)
    return networks.init_resnet((s["crop"], s["crop"], 1), s["d"], widths=s["widths"], seed=seed, alpha=alpha,
                                head_width=s.get("head_width"), alpha_scope=s["alpha_scope"],
                                head_norm=s.get("head_norm", False), dtype=jnp.float32)


#: Settings of :func:`deep_setup` that do not change one run (they choose which runs are made or how they are
#: evaluated afterwards); every other setting is part of :func:`run_config`.
_NOT_RUN_SETTINGS = ("alphas", "table_pairs", "alpha_small", "alpha_standard", "lr", "lr_standard")


def run_config(loss: str, alpha: float, *, fast: bool, seed: int = 0) -> dict:
    """Every setting that changes the run :func:`alpha_run` (``loss``, ``alpha``, ``fast``, ``seed``) makes.

    The entries of :func:`deep_setup` (``fast``) that enter the run (network, sizes, steps, records, probe,
    momentum, data), the loss and its keyword arguments (:data:`LOSS_KWARGS`), the learning rate actually used
    (:func:`learning_rate`), α and the seed: a dict of plain numbers, strings and lists.  :func:`run_key` hashes it,
    and the caches of :func:`alpha_run` are keyed by that hash, so changing any of these settings never returns a
    run made with other ones.
    """
    check_choice(loss, "loss", set(DEEP_LOSSES))
    alpha = _check_alpha(alpha)
    s = deep_setup(fast)
    cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.items() if k not in _NOT_RUN_SETTINGS}
    cfg.update(loss=loss, loss_kwargs=dict(LOSS_KWARGS[loss]), lr=learning_rate(loss, alpha, fast), alpha=alpha,
               n_steps=n_steps(loss, fast),
               seed=int(seed), fast=bool(fast))
    return cfg


def run_key(loss: str, alpha: float, *, fast: bool, seed: int = 0) -> str:
    """A 16-hex-digit SHA-256 hash of :func:`run_config` (its JSON with sorted keys): the cache key of a run."""
    text = json.dumps(run_config(loss, alpha, fast=fast, seed=seed), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_alpha(alpha):
    return check_positive(alpha, "alpha")


def n_steps(loss: str, fast: bool) -> int:
    """The number of SGD steps of a run of ``loss`` (``deep_setup(fast)["n_steps"]``, an int or one per loss; S App.
    D.2 also trains each method for its own number of epochs, 320 or 500)."""
    steps = deep_setup(fast)["n_steps"]
    return int(steps[loss] if isinstance(steps, dict) else steps)


def learning_rate(loss: str, alpha: float, fast: bool) -> float:
    """The step of a run from init scale ``alpha``: the small-init rate below α = 1, the standard one at α >= 1."""
    s = deep_setup(fast)
    return float(s["lr"][loss] if alpha < 1 else s["lr_standard"][loss])


def _run_path(loss, alpha, fast, seed, key):
    root = current_cache_dir()
    if root is None:
        return None
    folder = root / "deep.runs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{loss}_alpha{alpha:g}_{'fast' if fast else 'full'}_seed{seed}_{key}.npz"


@functools.lru_cache(maxsize=None)
def _alpha_run(loss, alpha, fast, seed, key):
    path = _run_path(loss, alpha, fast, seed, key)
    if path is not None and path.exists():
        return ssl.SSLRun.load(path)
    s = deep_setup(fast)
    x, _ = deep_images()
    run = ssl.train_ssl(loss, s["network"], _init_params(fast, alpha, seed), x.astype(np.float32),
                        lr=learning_rate(loss, alpha, fast), n_steps=n_steps(loss, fast), augment=deep_augment(fast), optimizer="sgd",
                        momentum=s["momentum"], batch_size=s["batch_size"], loss_kwargs=LOSS_KWARGS[loss],
                        seed=seed, n_records=s["n_records"], eval_size=s["eval_size"], probe=deep_probe(fast),
                        probe_every=s["probe_every"], desc=f"{loss} α={alpha:g}")
    if path is not None:
        run.save(path)
    return run


def alpha_run(loss: str, alpha: float, *, fast: bool, seed: int = 0):
    """:func:`dynamics.ssl.train_ssl` of the deep setup with the initial weights scaled by ``alpha``.
    Small init as in S App. D.2.

    Cached in memory, and on disk (``SSLRun.save``) under ``<cache dir>/deep.runs`` when a cache directory is
    set (:func:`dynamics.experiments.cache_dir`), so checks, figures and the notebook share the runs.  Both
    caches are keyed by :func:`run_key`, the hash of every setting of the run (:func:`run_config`)."""
    check_choice(loss, "loss", set(DEEP_LOSSES))
    alpha = _check_alpha(alpha)
    seed = check_positive_int(seed, "seed", minimum=0)
    return _alpha_run(loss, alpha, bool(fast), seed, run_key(loss, alpha, fast=fast, seed=seed))


def deep_run(loss: str, init: str, *, fast: bool, seed: int = 0):
    """The run of ``loss`` from ``init`` "small" (α = :data:`ALPHA_SMALL`) or "standard" (α = 1): an SSLRun. The runs of S Figs 1–5 and 7."""
    check_choice(init, "init", set(INITS))
    s = deep_setup(fast)
    return alpha_run(loss, s["alpha_small"][loss] if init == "small" else s["alpha_standard"], fast=fast, seed=seed)


def deep_runs(fast: bool) -> dict:
    """``{(loss, init): SSLRun}`` for the three losses and both inits. The runs of S Figs 1–5 and 7."""
    return {(loss, init): deep_run(loss, init, fast=fast) for loss in DEEP_LOSSES for init in INITS}


# ---------------------------------------------------------------------------------------------
# The stepwise measure


def _eigen_records(t, eigenvalues, name="eigenvalues"):
    t = as_array(t, "t", ndim=1)
    lam = as_array(eigenvalues, name, ndim=2)
    if lam.shape[0] != t.shape[0]:
        raise ValueError(f"{name} must have one row per time in t ({t.shape[0]}), got shape {lam.shape}")
    if lam.shape[0] < 2:
        raise ValueError(f"{name} must hold at least two records, got {lam.shape[0]}")
    if np.any(np.diff(t) < 0):
        raise ValueError("t must be non-decreasing")
    return t, np.sort(lam, axis=1)[:, ::-1]


def plateau_levels(eigenvalues, *, window: int = PLATEAU_WINDOW) -> np.ndarray:
    """The level each eigenvalue (sorted descending per record) rises to: the largest value over the run of its
    running median over ``window`` consecutive records (truncated at the ends), (d,).  The reference of
    :func:`step_crossings`: the plateau a step of S Fig 1 C–D rises to.

    The running median removes spikes shorter than about half the window (mini-batch noise), which the plain
    largest value would take as the level: with such a spike as the reference a fixed fraction of it may never
    be reached on the plateau it should describe."""
    lam = np.sort(as_array(eigenvalues, "eigenvalues", ndim=2), axis=1)[:, ::-1]
    window = check_positive_int(window, "window")
    T = lam.shape[0]
    half = window // 2
    smooth = np.stack([np.median(lam[max(0, i - half):min(T, i + half + 1)], axis=0) for i in range(T)])
    return smooth.max(axis=0)


def step_crossings(t, eigenvalues, *, low: float = LOW, high: float = HIGH):
    """For each eigenvalue (sorted descending per record): its plateau level λ_j^pl (:func:`plateau_levels`)
    and the indices of the first records at which it reaches ``low`` · λ_j^pl and ``high`` · λ_j^pl.
    The steps of S Fig 1 C–D and Fig 2 C–F.

    Returns (first_low (d,), first_high (d,), grows (d,) bool: λ_j^pl > 0, it starts below ``low`` · λ_j^pl,
    reaches ``high`` · λ_j^pl and, once there, never falls back below ``low`` · λ_j^pl — a step, not a
    fluctuation)."""
    _, lam = _eigen_records(t, eigenvalues)
    top = plateau_levels(lam)
    pos = top > 0
    reached = np.any(lam >= high * top, axis=0)
    first_low = np.argmax(lam >= low * top, axis=0)
    first_high = np.where(reached, np.argmax(lam >= high * top, axis=0), lam.shape[0] - 1)
    after = np.arange(lam.shape[0])[:, None] >= first_high[None, :]
    stays = np.all(~after | (lam >= low * top), axis=0)
    grows = pos & reached & (lam[0] < low * top) & stays
    return first_low, first_high, grows


def separated_steps(t, eigenvalues, *, low: float = LOW, high: float = HIGH) -> np.ndarray:
    """(d,) bool: eigenvalue j (sorted) takes a *separated step*.

    It starts "not grown" (below ``low`` × its plateau level, :func:`plateau_levels`), stays grown once it has
    grown (:func:`step_crossings`), and its rise is isolated from its
    neighbours': some record shows eigenvalue j − 1 grown (above ``high`` × its plateau level) while j is not
    yet above ``low`` × its own, and some record shows j grown while j + 1 is not yet above ``low`` — the
    plateaus between the steps of S Fig 1–2 (the first and the last eigenvalue have one neighbour each).
    """
    lo, hi, grows = step_crossings(t, eigenvalues, low=low, high=high)
    d = lo.size
    out = grows.copy()
    for j in range(d):
        if j > 0:
            out[j] &= hi[j - 1] < lo[j]
        if j < d - 1:
            out[j] &= hi[j] < lo[j + 1]
    return out


def stepwise_score(t, eigenvalues, *, low: float = LOW, high: float = HIGH) -> float:
    """The stepwise measure: the fraction of the d embedding eigenvalues that take a separated step
    (:func:`separated_steps`), in [0, 1].

    1 when every direction is learned on its own, one after the other, with a plateau between consecutive
    steps (S Fig 1 C–D, 2 C–F); 0 when the eigenvalues start grown (standard init, S Fig 3) or rise together.
    "Not grown" is below :data:`LOW` = 0.1 and "grown" above :data:`HIGH` = 0.5 of the eigenvalue's plateau
    level (:func:`plateau_levels`): a step of S Fig 1 D spans orders of magnitude, of which this is the top.
    It can fail: eigenvalues that grow at once, that never leave the grown band, or records too coarse to
    show a plateau all lower it.  ``t`` (T,) non-decreasing record times, ``eigenvalues`` (T, d).
    """
    return float(np.mean(separated_steps(t, eigenvalues, low=low, high=high)))


def step_times(t, eigenvalues, *, level: float = 0.5, min_growth: float = 1 / LOW):
    """The time at which each eigenvalue (sorted) first reaches ``level`` × its plateau level
    (:func:`plateau_levels`), for those whose plateau is at least ``min_growth`` times their first record (the
    default 1 / :data:`LOW`: they start "not grown") and that reach it: (k,) times, ascending. The step times
    compared in S Fig 5.

    The hidden representation of a network whose small init scales only the head (``alpha_scope="last"``, as
    batch norm does in the paper's) starts at order one, so its steps are rises by a factor (``min_growth`` 2
    in :func:`step_time_mismatch`), not from near zero."""
    t, lam = _eigen_records(t, eigenvalues)
    top = plateau_levels(lam)
    min_growth = check_positive(min_growth, "min_growth")
    keep = (top > 0) & (top >= min_growth * lam[0]) & np.any(lam >= level * top, axis=0)
    idx = np.argmax(lam >= level * top, axis=0)
    return np.sort(t[idx][keep])


#: How much a hidden eigenvalue must grow (plateau / first record) to count as a hidden step (S Fig 5).
HIDDEN_MIN_GROWTH = 2.0


def step_time_mismatch(t, embedding_eigenvalues, hidden_eigenvalues, *, n_hidden=None):
    """How far the embedding steps are from steps of the hidden representation (S Fig 5), in log time.

    Embedding step times: :func:`step_times` of the embedding eigenvalues (those that start below
    :data:`LOW` × their plateau level); hidden step times: :func:`step_times` of the top ``n_hidden``
    (default d) hidden eigenvalues that grow by :data:`HIDDEN_MIN_GROWTH` or more.  Returns (max over embedding steps of the distance |log t_e − log t_h| to
    the nearest hidden step, the embedding step times, the hidden step times); inf when either has no step.
    """
    t, lam = _eigen_records(t, embedding_eigenvalues, "embedding_eigenvalues")
    _, hid = _eigen_records(t, hidden_eigenvalues, "hidden_eigenvalues")
    k = lam.shape[1] if n_hidden is None else int(n_hidden)
    t_e = step_times(t, lam)
    t_h = step_times(t, hid[:, :k], min_growth=HIDDEN_MIN_GROWTH)
    t_e, t_h = t_e[t_e > 0], t_h[t_h > 0]
    if t_e.size == 0 or t_h.size == 0:
        return float("inf"), t_e, t_h
    dist = np.abs(np.log(t_e)[:, None] - np.log(t_h)[None, :]).min(axis=1)
    return float(dist.max()), t_e, t_h


# ---------------------------------------------------------------------------------------------
# S Table 1 and Table 2: the eNTK after training (S App. D.5, App. E)


def _flat_apply(params, x):
    """The MLP on flattened views (rows (n, D)): the function whose scalar eNTK S App. D.5 takes."""
    return networks.mlp_apply(params, x)


def _kernel_model(params, views, network):
    """(apply_fn(params, x), inputs) of the network whose scalar eNTK S App. D.5 takes on ``views``.

    The MLP sees flattened views.  The ResNet sees the images; with a batch-normalised head its statistics are
    fixed to those of ``views`` (:func:`dynamics.networks.head_norm_statistics`, evaluation mode), so that the
    rows are independent and the embeddings on ``views`` are those of the training-mode network on that batch."""
    if network == "mlp":
        return _flat_apply, views.reshape(views.shape[0], -1)
    if "norm" in params["head"]:
        stats = networks.head_norm_statistics(params, jnp.asarray(views))
        return functools.partial(networks.resnet_apply, norm_stats=stats), views
    return networks.resnet_apply, views


def table_views(fast: bool, seed: int = 0):
    """The 2n inputs of S Table 1: n pairs of views of the first n images (fixed key), rows [𝒳; 𝒳']."""
    s = deep_setup(fast)
    x, _ = deep_images()
    n = s["table_pairs"]
    key = jax.random.fold_in(jax.random.key(seed), 2**31 - 1)
    va, vb = _augment_module.two_views(key, jnp.asarray(x[:n]), deep_augment(fast))
    return np.concatenate([np.asarray(va), np.asarray(vb)])


def table_measurement(loss: str, fast: bool, seed: int = 0, key: str = "") -> dict:
    r"""One point of :func:`table_records`: the trained small-init network's embeddings F (2n, d) and its
    scalar eNTK K̃ (2n, 2n) on :func:`table_views` (S App. D.5: $\tilde K(x, x') = \nabla_\theta \bar f(x)^\top
    \nabla_\theta \bar f(x')$ with $\bar f = \sqrt{d}\,$ the mean output).

    ``key`` (:func:`table_key`) is not used by the computation: it is part of the point so that the stored
    measurement of :func:`table_records` is keyed by every setting of the run it measures."""
    run = deep_run(loss, "small", fast=fast, seed=seed)
    views = np.asarray(table_views(fast, seed), dtype=np.float64)
    params64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), run.params)
    apply_fn, X = _kernel_model(params64, views, deep_setup(fast)["network"])
    F = np.asarray(apply_fn(params64, jnp.asarray(X)), dtype=np.float64)
    K = np.asarray(ntk.scalar_ntk(apply_fn, params64, X, X))
    return {"embeddings": F, "kernel": K}


def table_key(loss: str, fast: bool, seed: int = 0) -> str:
    """The cache key of :func:`table_measurement`: :func:`run_key` of the small-init run and the number of pairs."""
    s = deep_setup(fast)
    run = run_key(loss, s["alpha_small"][loss], fast=fast, seed=seed)
    return f"{run}_n{s['table_pairs']}"


def table_records(fast: bool, seed: int = 0) -> dict:
    """``{loss: table_measurement(loss, fast)}`` through :func:`run_grid` (stored with a cache directory). The measurements of S Table 1 (S49)."""
    points = [{"loss": loss, "fast": bool(fast), "seed": int(seed), "key": table_key(loss, fast, seed)}
              for loss in DEEP_LOSSES]
    recs = run_grid(table_measurement, points, name="deep.table_measurement")
    return dict(zip(DEEP_LOSSES, recs))


def predicted_embeddings(K_tilde, d: int) -> np.ndarray:
    """S49: f_th = S̃ [b_1 … b_d]^T K̃^{1/2}, here as rows = points (2n, d) = K̃^{1/2} B S̃.

    (γ_j, b_j) the top eigenpairs of K_Γ (S §5.1) of the joint kernel ``K_tilde`` (rows [𝒳; 𝒳']), from
    :func:`dynamics.kernel.barlow_twins_predict`."""
    pred = kernel.barlow_twins_predict(np.asarray(K_tilde, dtype=np.float64), n_components=int(d))
    return linalg.sqrt_psd(np.asarray(K_tilde, dtype=np.float64)) @ pred.eigenvectors * pred.gammas ** -0.5


def ntk_top_eigenvectors(K_tilde, d: int) -> np.ndarray:
    """P_NTK of S App. E: the top-d eigenvectors of K̃, (2n, d)."""
    _, V = linalg.eigh_descending(np.asarray(K_tilde, dtype=np.float64), "K_tilde")
    return V[:, :int(d)]


def table1_row(embeddings, K_tilde) -> dict:
    """a(P_exp, P_th), a(P_exp, P_NTK) and the chance level d / (2n) (S App. E, S Table 1)."""
    F = np.asarray(embeddings, dtype=np.float64)
    two_n, d = F.shape
    return {"a_exp_th": linalg.subspace_alignment(F, predicted_embeddings(K_tilde, d)),
            "a_exp_ntk": linalg.subspace_alignment(F, ntk_top_eigenvectors(K_tilde, d)),
            "chance": d / two_n}


def alignment_tables(fast: bool, seed: int = 0, *, records=None) -> dict:
    """S Tables 1 and 2 from the trained small-init networks.

    Returns {"table1": {loss: {"a_exp_th", "a_exp_ntk", "chance"}}, "table2": {(l1, l2): a(P_exp^l1,
    P_exp^l2)}, "chance": d / (2n)}.  ``records`` ({loss: {"embeddings", "kernel"}}) replaces the measured
    ones (the mutation tests give a wrong kernel)."""
    recs = table_records(fast, seed) if records is None else records
    t1 = {loss: table1_row(r["embeddings"], r["kernel"]) for loss, r in recs.items()}
    losses = list(recs)
    t2 = {(a, b): linalg.subspace_alignment(recs[a]["embeddings"], recs[b]["embeddings"])
          for i, a in enumerate(losses) for b in losses[i + 1:]}
    F = next(iter(recs.values()))["embeddings"]
    return {"table1": t1, "table2": t2, "chance": F.shape[1] / F.shape[0]}


#: S Table 1 (ResNet-50, STL-10, d = 50, n = 1000 pairs), the paper's numbers.
PAPER_TABLE1 = {"barlow_twins": {"a_exp_th": 0.615, "a_exp_ntk": 0.510, "chance": 0.025},
                "simclr": {"a_exp_th": 0.517, "a_exp_ntk": 0.450, "chance": 0.025},
                "vicreg": {"a_exp_th": 0.592, "a_exp_ntk": 0.481, "chance": 0.025}}
#: S Table 2, the paper's numbers.
PAPER_TABLE2 = {("barlow_twins", "simclr"): 0.504, ("barlow_twins", "vicreg"): 0.504,
                ("simclr", "vicreg"): 0.405, "chance": 0.025}

_NAMES = {"barlow_twins": "BT", "simclr": "SimCLR", "vicreg": "VICReg"}


def format_table1(tables: dict) -> str:
    """S Table 1 as markdown: ours (this machine's runs) with the paper's numbers beside them."""
    t1 = tables["table1"]
    losses = [l for l in DEEP_LOSSES if l in t1]
    head = "| | " + " | ".join(f"{_NAMES[l]} (ours) | {_NAMES[l]} (paper)" for l in losses) + \
           " | random subspaces (ours) | (paper) |"
    lines = [head, "|" + "---|" * (2 * len(losses) + 3)]
    for key, label in (("a_exp_th", "a(P_exp, P_th)"), ("a_exp_ntk", "a(P_exp, P_NTK)")):
        cells = [f"{t1[l][key]:.3f} | {PAPER_TABLE1[l][key]:.3f}" for l in losses]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {tables['chance']:.3f} | 0.025 |")
    return "\n".join(lines) + "\n"


def format_table2(tables: dict) -> str:
    """S Table 2 as markdown: alignment between the methods' embeddings, ours and the paper's."""
    t2 = tables["table2"]
    pairs = list(t2)
    head = "| | " + " | ".join(f"a(P^{_NAMES[a]}, P^{_NAMES[b]})" for a, b in pairs) + " | random subspaces |"
    lines = [head, "|" + "---|" * (len(pairs) + 2),
             "| ours | " + " | ".join(f"{t2[p]:.3f}" for p in pairs) + f" | {tables['chance']:.3f} |",
             "| paper | " + " | ".join(f"{PAPER_TABLE2.get(p, float('nan')):.3f}" for p in pairs) + " | 0.025 |"]
    return "\n".join(lines) + "\n"


__all__ = ["ALPHA_SMALL", "ALPHA_STANDARD", "DEEP_LOSSES", "HIGH", "HIDDEN_MIN_GROWTH", "INITS", "LEARNING_RATES", "LOSS_KWARGS", "LOW",
           "PLATEAU_WINDOW", "RESNET", "RESNET_ALPHA_SMALL", "RESNET_LEARNING_RATES", "RESNET_LEARNING_RATES_STANDARD",
           "RESNET_STEPS", "n_steps",
           "PAPER_TABLE1", "PAPER_TABLE2", "alignment_tables", "alpha_run", "deep_augment", "deep_images",
           "deep_probe", "deep_run", "deep_runs", "deep_setup", "format_table1", "format_table2",
           "ntk_top_eigenvectors", "plateau_levels", "predicted_embeddings", "separated_steps", "step_crossings",
           "step_time_mismatch", "step_times", "stepwise_score", "table1_row", "table_measurement",
           "table_records", "table_views"]
