"""Self-supervised training of deep networks as practitioners do it: optax optimisers, mini-batches of
freshly augmented views, and the spectra Simon et al. record.

Simon et al. (2023), "On the Stepwise Nature of Self-Supervised Learning", ICML 2023 (arXiv:2303.15438; S
below), §6 and App. D, train ResNets with Barlow Twins (Zbontar et al., arXiv:2103.03230), SimCLR (Chen et
al., arXiv:2002.05709) and VICReg (Bardes et al., arXiv:2105.04906): SGD with momentum and weight decay
(SimCLR) or LARS (You et al. 2017; Barlow Twins and VICReg), mini-batches of two augmented views of each
image, time reported as t = lr × step (S Fig 1–5).  What they record (S App. D.4):

* the loss;
* the embedding eigenvalues: for Barlow Twins the eigenvalues λ_j(C) of the (symmetrised)
  cross-correlation C of the two views' embeddings, exactly as the loss defines it; for the other losses
  those of the centred covariance C̃ = E_x[(f(x) − f̄)(f(x) − f̄)ᵀ] of the embeddings;
* the eigenvalues of the centred covariance of the hidden representation (S Fig 5);
* the accuracy of a linear probe on the hidden representation of held-out labelled data (S Fig 7).

:func:`train_ssl` runs that loop on the device: the images live on the device, step k draws its
mini-batch and its augmentations from ``jax.random.fold_in(jax.random.key(seed), k)``, and the steps
between two record points run in one compiled ``lax.fori_loop``.  The compiled programs are cached on
(loss, model, augmentation, optimiser settings, batch size), so a second run with the same settings on
data of the same shapes compiles nothing.  A run is reproducible from its seed and resumable from a
checkpoint file.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import re
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from . import losses
from .networks import mlp_apply, resnet_apply
from .trainer import NonFiniteError, record_schedule
from ._validation import check_callable, check_choice, check_finite_if_concrete, check_positive, check_positive_int

__all__ = [
    "LOSSES",
    "OPTIMIZERS",
    "ProbeData",
    "SSLRun",
    "covariance_spectrum",
    "embedding_spectrum",
    "linear_probe",
    "make_optimizer",
    "mlp_on_images",
    "ssl_loss",
    "train_ssl",
]

LOSSES = ("barlow_twins", "simclr", "vicreg", "modified_barlow_twins")
OPTIMIZERS = ("sgd", "lars", "adam")

_LOSS_FUNCTIONS = {"barlow_twins": losses.barlow_twins, "simclr": losses.nt_xent, "vicreg": losses.vicreg,
                   "modified_barlow_twins": losses.modified_barlow_twins}
#: the losses whose recorded spectrum is that of the symmetrised cross-correlation C (S2)
_CROSS_SPECTRUM = ("barlow_twins", "modified_barlow_twins")

#: the fold_in index of the stream that draws the fixed evaluation views (never reached by a step index)
_EVAL_STREAM = 2**32 - 1


# ---------------------------------------------------------------------------------------------
# losses and spectra


def _check_loss_kwargs(loss, loss_kwargs):
    check_choice(loss, "loss", set(LOSSES))
    if loss_kwargs is None:
        return {}
    if not isinstance(loss_kwargs, dict):
        raise TypeError(f"loss_kwargs must be a dict of keyword arguments of the {loss} loss, got "
                        f"{type(loss_kwargs).__name__}")
    fn = _LOSS_FUNCTIONS[loss]
    params = inspect.signature(fn).parameters
    allowed = [n for n, p in params.items() if p.kind == inspect.Parameter.KEYWORD_ONLY]
    for name in loss_kwargs:
        if name not in allowed:
            raise TypeError(f"loss_kwargs: {name!r} is not an argument of the {loss} loss "
                            f"(dynamics.losses.{fn.__name__}); it takes {allowed}")
    return dict(loss_kwargs)


@functools.lru_cache(maxsize=64)
def _loss_fn(loss, kw_items, precondition=None):
    fn = _LOSS_FUNCTIONS[loss]
    kw = dict(kw_items)
    plain = lambda z_a, z_b: fn(z_a, z_b, **kw)  # noqa: E731
    return plain if precondition is None else losses.preconditioned(plain, precondition)


def _check_precondition(precondition):
    """None, or S52's α as a positive float."""
    if precondition is None:
        return None
    if isinstance(precondition, bool):
        raise TypeError(f"precondition must be None or a positive number (S52's alpha), got {precondition!r}")
    return check_positive(precondition, "precondition")


def _hashable_items(kw):
    items = tuple(sorted(kw.items()))
    try:
        hash(items)
    except TypeError:
        return None
    return items


def ssl_loss(loss, *, precondition=None, **loss_kwargs):
    r"""The loss ``loss(z_a, z_b) -> scalar`` of two views' embeddings (N, d) named ``loss``.

    * ``"barlow_twins"``: :func:`dynamics.losses.barlow_twins` (Zbontar et al. eq. 1; with λ = 1, no batch
      norm and ``symmetrize=True`` it is S1–S2, ‖C − I‖_F²);
    * ``"simclr"``: :func:`dynamics.losses.nt_xent` (Chen et al. eq. 1, NT-Xent);
    * ``"vicreg"``: :func:`dynamics.losses.vicreg` (Bardes et al. eqs. 1–6);
    * ``"modified_barlow_twins"``: :func:`dynamics.losses.modified_barlow_twins`, the spectral modifications of
      S App. G.2–G.3, $L = \sum_j \ell(\lambda_j(C))$ (e.g. ``modification="sqr"``:
      $\ell = (g_\mathrm{sqr}(\lambda) - 1)^2$, $g_\mathrm{sqr}(\lambda) = \mathrm{sign}(\lambda)|\lambda|^{1/2}$).

    ``loss_kwargs`` are passed on (``lambd``, ``batch_norm``, ``symmetrize``; ``temperature``; ``sim_coeff``,
    ``std_coeff``, ``cov_coeff``, ``eps``, ``sqrt``; ``modification``, ``eps``, ``width``).  ``precondition``
    (α > 0) wraps the loss in :func:`dynamics.losses.preconditioned`: the same value, and the gradient with
    respect to the stacked embeddings $F = [z_a; z_b]$ of S52,
    $\nabla_F L \to \nabla_F L\,(F^\top F + \alpha I_d)^{-1}$.  The same arguments return the same function
    object (cached).
    """
    kw = _check_loss_kwargs(loss, loss_kwargs)
    precondition = _check_precondition(precondition)
    items = _hashable_items(kw)
    if items is None:
        return _loss_fn.__wrapped__(loss, tuple(kw.items()), precondition)
    return _loss_fn(loss, items, precondition)


def covariance_spectrum(h):
    """Eigenvalues, descending, of the centred covariance C̃ = (1/n) Σ_i (h_i − h̄)(h_i − h̄)ᵀ of the rows of
    ``h`` (n, k) (S App. D.4: C̃ = E_x[(f(x) − f̄)(f(x) − f̄)ᵀ], the empirical mean over the n rows).

    Computes in the dtype of ``h``; JAX-traceable.  Returns (k,)."""
    if np.ndim(h) != 2 or np.shape(h)[0] < 1 or np.shape(h)[1] < 1:
        raise ValueError(f"h must be 2-D (n, k) with n, k >= 1, one row per sample, got shape {tuple(np.shape(h))}")
    return _cov_spectrum(_as_float(h, "h"))


@jax.jit
def _cov_spectrum(h):
    hc = h - jnp.mean(h, axis=0)
    return jnp.linalg.eigvalsh(hc.T @ hc / h.shape[0])[::-1]


@functools.partial(jax.jit, static_argnames="batch_norm")
def _cross_spectrum(z_a, z_b, batch_norm):
    if batch_norm:
        z_a, z_b = _batch_norm(z_a), _batch_norm(z_b)
    m = z_a.T @ z_b
    return jnp.linalg.eigvalsh((m + m.T) / (2 * z_a.shape[0]))[::-1]


def _as_float(z, name):
    """A real floating JAX array (integers promoted to the default float); complex/bool rejected naming ``name``."""
    check_finite_if_concrete(z, name)
    z = z if isinstance(z, jax.Array) else jnp.asarray(np.asarray(z))
    kind = np.dtype(z.dtype).kind
    if kind not in "fiu":
        raise TypeError(f"{name} must be a real numeric array, got dtype {z.dtype}")
    return z.astype(jnp.result_type(float)) if kind in "iu" else z


def _batch_norm(z, eps=losses.BATCH_NORM_EPS):
    mean = jnp.mean(z, axis=0)
    return (z - mean) / jnp.sqrt(jnp.mean((z - mean) ** 2, axis=0) + eps)


def embedding_spectrum(loss, z_a, z_b, *, loss_kwargs=None):
    """The embedding eigenvalues Simon et al. record (S App. D.4), descending, (d,).

    * ``"barlow_twins"``, ``"modified_barlow_twins"``: eigenvalues of the symmetrised cross-correlation
      C = (c + cᵀ)/2 with c = z_aᵀ z_b / N, the matrix of :func:`dynamics.losses.barlow_twins` (S2); with
      ``loss_kwargs={"batch_norm": True}`` the columns are batch-normalised first, as that loss does;
    * ``"simclr"``, ``"vicreg"``: eigenvalues of the centred covariance of the embeddings of both views, the
      2N rows of [z_a; z_b] (:func:`covariance_spectrum`).

    JAX-traceable; computes in the dtype of the embeddings.
    """
    kw = _check_loss_kwargs(loss, loss_kwargs)
    if np.ndim(z_a) != 2 or np.shape(z_a) != np.shape(z_b):
        raise ValueError(f"z_a and z_b must be 2-D (N, d) of the same shape, got {tuple(np.shape(z_a))} and "
                         f"{tuple(np.shape(z_b))}")
    z_a, z_b = _as_float(z_a, "z_a"), _as_float(z_b, "z_b")
    if z_a.dtype != z_b.dtype:
        dt = jnp.result_type(z_a.dtype, z_b.dtype)
        z_a, z_b = z_a.astype(dt), z_b.astype(dt)
    if loss in _CROSS_SPECTRUM:
        return _cross_spectrum(z_a, z_b, bool(kw.get("batch_norm", False)))
    return _cov_spectrum(jnp.concatenate([z_a, z_b]))


# ---------------------------------------------------------------------------------------------
# optimisers


def _is_matrix(params):
    return jax.tree_util.tree_map(lambda a: jnp.ndim(a) > 1, params)


def make_optimizer(name, lr, *, momentum=0.9, weight_decay=0.0):
    """The optax optimiser ``name`` with learning rate ``lr`` (S App. D: SGD for SimCLR, LARS for Barlow Twins
    and VICReg).

    * ``"sgd"``: ``optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(lr, momentum))``, the
      step v ← μ v + (g + wd θ), θ ← θ − lr v (PyTorch's SGD with weight decay; no momentum when μ = 0);
    * ``"lars"``: ``optax.lars(lr, weight_decay, momentum=momentum)`` (You et al. 2017), with weight decay and
      the trust ratio applied to the weight matrices and kernels only, not to the biases (as Zbontar et al.'s
      LARS excludes them);
    * ``"adam"``: ``optax.adamw(lr, weight_decay=weight_decay)`` (``momentum`` is not used).
    """
    check_choice(name, "optimizer", set(OPTIMIZERS))
    lr = check_positive(lr, "lr")
    momentum = check_positive(momentum, "momentum", allow_zero=True)
    if momentum >= 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    weight_decay = check_positive(weight_decay, "weight_decay", allow_zero=True)
    return _optimizer(name, lr, momentum, weight_decay)


def _sgd(learning_rate, momentum, weight_decay):
    import optax

    return optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(learning_rate, momentum=momentum))


def _factory(name):
    import optax

    return {"sgd": _sgd, "lars": optax.lars, "adam": optax.adamw}[name]


def _optimizer_kwargs(name, lr, momentum, weight_decay):
    if name == "sgd":
        return {"learning_rate": lr, "momentum": momentum or None, "weight_decay": weight_decay}
    if name == "lars":
        return {"learning_rate": lr, "weight_decay": weight_decay, "momentum": momentum,
                "weight_decay_mask": _is_matrix, "trust_ratio_mask": _is_matrix}
    return {"learning_rate": lr, "weight_decay": weight_decay}


@functools.lru_cache(maxsize=64)
def _optimizer(name, lr, momentum, weight_decay):
    return _factory(name)(**_optimizer_kwargs(name, lr, momentum, weight_decay))


@functools.lru_cache(maxsize=16)
def _injected(name):
    import optax

    static = ("weight_decay_mask", "trust_ratio_mask") if name == "lars" else ()
    return optax.inject_hyperparams(_factory(name), static_args=static)


@functools.lru_cache(maxsize=16)
def _canonical(name, has_momentum):
    """The optimiser whose ``update`` the compiled programs use: its learning rate, momentum and weight decay
    are read from the optimiser state (``optax.inject_hyperparams``), so runs that differ only in these values
    share the programs."""
    return _injected(name)(**_optimizer_kwargs(name, 1.0, 0.9 if has_momentum else 0.0, 0.0))


def _train_optimizer(name, lr, momentum, weight_decay):
    """(the transformation whose ``init`` holds these values, the canonical one of the programs): the same
    steps as :func:`make_optimizer` (name, lr, momentum=..., weight_decay=...)."""
    return (_injected(name)(**_optimizer_kwargs(name, lr, momentum, weight_decay)),
            _canonical(name, bool(momentum) or name != "sgd"))


# ---------------------------------------------------------------------------------------------
# linear probe


def linear_probe(features_train, y_train, features_test, y_test, *, ridge=1e-3):
    """Test accuracy of a one-vs-all ridge least-squares linear probe (S Fig 7).

    Features are standardised with the training mean and standard deviation (constant features are left at
    0); each class c gets a target column y_ic = +1 if y_i = c else −1, and the probe (W, b) minimises
    (1/n) Σ_i ‖x_i W + b − y_i‖² + ridge ‖W‖_F² (unpenalised intercept), i.e. W = (Xᵀ X / n + ridge I)⁻¹ Xᵀ Y / n
    on centred X, Y (the same solution as scikit-learn's ``RidgeClassifier(alpha=ridge · n)``).  A test point
    is assigned the class of its largest output.  Labels may be any integers; a test label that does not
    occur in training counts as an error.

    Computed on the host (NumPy) in the features' floating dtype.  Returns the fraction of test points
    classified correctly (a float).
    """
    xtr = _probe_matrix(features_train, "features_train")
    xte = _probe_matrix(features_test, "features_test")
    ytr = _probe_labels(y_train, "y_train", xtr.shape[0], "features_train")
    yte = _probe_labels(y_test, "y_test", xte.shape[0], "features_test")
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"features_test must have the {xtr.shape[1]} columns of features_train, got shape "
                         f"{tuple(xte.shape)}")
    ridge = check_positive(ridge, "ridge")
    classes = np.unique(ytr)
    if classes.size < 2:
        raise ValueError(f"y_train must contain at least two classes, got {classes.tolist()}")
    mean = xtr.mean(axis=0)
    std = xtr.std(axis=0)
    std = np.where(std > 0, std, 1).astype(xtr.dtype)
    xtr = (xtr - mean) / std
    xte = (xte - mean) / std
    Y = np.where(ytr[:, None] == classes[None, :], 1, -1).astype(xtr.dtype)
    xm, ym = xtr.mean(axis=0), Y.mean(axis=0)
    xc, yc = xtr - xm, Y - ym
    n, k = xtr.shape
    W = np.linalg.solve(xc.T @ xc / n + ridge * np.eye(k, dtype=xtr.dtype), xc.T @ yc / n)
    pred = classes[np.argmax((xte - xm) @ W + ym, axis=1)]
    return float(np.mean(pred == yte))


def _probe_matrix(x, name):
    """Features on the host, in their floating dtype (integers as float64); finite, 2-D."""
    if np.ndim(x) != 2 or np.shape(x)[0] < 1 or np.shape(x)[1] < 1:
        raise ValueError(f"{name} must be 2-D (n, k) with n, k >= 1, got shape {tuple(np.shape(x))}")
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real numeric array, got dtype {x.dtype}")
    x = x.astype(np.float64) if x.dtype.kind in "iu" else x
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite, got NaN or inf")
    return x


def _probe_labels(y, name, n, features_name):
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{name} must be 1-D with one label per row of {features_name} ({n}), got shape {y.shape}")
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    return y


# ---------------------------------------------------------------------------------------------
# run records


@dataclass(frozen=True)
class ProbeData:
    """Labelled images for the linear probe (S Fig 7): x_train (n, H, W, C), y_train (n,), x_test, y_test.

    The images are fed to the model without augmentation, so they must have the shape of the views."""

    x_train: object
    y_train: object
    x_test: object
    y_test: object


@dataclass
class SSLRun:
    """What :func:`train_ssl` recorded.
    The quantities of S App. D.4.

    Attributes
    ----------
    steps : (T,) int, the recorded steps (0 is the initial state).
    t : (T,) the gradient-flow times lr × step.
    loss : (T,) the loss on the fixed evaluation views.
    eigenvalues : (T, d) the embedding eigenvalues, descending (:func:`embedding_spectrum`).
    hidden_eigenvalues : (T, h) the hidden representation's covariance eigenvalues, descending, or None.
    probe_steps, probe_t, probe_accuracy : (P,) the steps, times and linear-probe accuracies (may be empty).
    params : the parameters at step ``at_step``.
    config : dict of the run's settings.
    at_step : the step ``params`` belong to (the last step of the run unless it was stopped early).
    """

    steps: np.ndarray
    t: np.ndarray
    loss: np.ndarray
    eigenvalues: np.ndarray
    hidden_eigenvalues: np.ndarray | None
    probe_steps: np.ndarray
    probe_t: np.ndarray
    probe_accuracy: np.ndarray
    params: object
    config: dict = field(default_factory=dict)
    at_step: int = -1

    def save(self, path):
        """Write the run to one ``.npz`` file at ``path`` (arrays, the parameters' leaves and structure, and the
        config as JSON text)."""
        _write_npz(path, self._arrays(), {"config": self.config, "at_step": int(self.at_step)}, self.params)

    def _arrays(self):
        out = {"steps": self.steps, "t": self.t, "loss": self.loss, "eigenvalues": self.eigenvalues,
               "probe_steps": self.probe_steps, "probe_t": self.probe_t, "probe_accuracy": self.probe_accuracy}
        if self.hidden_eigenvalues is not None:
            out["hidden_eigenvalues"] = self.hidden_eigenvalues
        return out

    @classmethod
    def load(cls, path) -> SSLRun:
        """Read a run written by :meth:`save`."""
        arrays, meta, params = _read_npz(path)
        return cls(steps=arrays["steps"], t=arrays["t"], loss=arrays["loss"], eigenvalues=arrays["eigenvalues"],
                   hidden_eigenvalues=arrays.get("hidden_eigenvalues"), probe_steps=arrays["probe_steps"],
                   probe_t=arrays["probe_t"], probe_accuracy=arrays["probe_accuracy"], params=params,
                   config=meta["config"], at_step=int(meta["at_step"]))


def _structure(tree, leaves):
    """JSON description of a pytree of dicts / lists / tuples with array leaves (appended to ``leaves``)."""
    if isinstance(tree, dict):
        if not all(isinstance(k, str) for k in tree):
            raise TypeError("params must be dicts keyed by strings to be saved")
        return {"dict": {k: _structure(v, leaves) for k, v in tree.items()}}
    if isinstance(tree, (list, tuple)):
        return {"list" if isinstance(tree, list) else "tuple": [_structure(v, leaves) for v in tree]}
    if tree is None:
        return {"none": None}
    leaves.append(np.asarray(tree))
    return {"leaf": len(leaves) - 1}


def _rebuild(desc, leaves):
    (kind, val), = desc.items()
    if kind == "dict":
        return {k: _rebuild(v, leaves) for k, v in val.items()}
    if kind in ("list", "tuple"):
        out = [_rebuild(v, leaves) for v in val]
        return out if kind == "list" else tuple(out)
    if kind == "none":
        return None
    return leaves[val]


def _write_npz(path, arrays, meta, params, extra_leaves=()):
    """Atomically write arrays, JSON ``meta``, the parameter leaves + structure and ``extra_leaves``."""
    path = os.fspath(path)
    leaves = []
    host = jax.device_get(params)
    try:
        structure = _structure(host, leaves)
    except TypeError:  # another pytree type: saved flat, keyed by its paths
        flat = jax.tree_util.tree_flatten_with_path(host)[0]
        structure = _structure({jax.tree_util.keystr(p): v for p, v in flat}, leaves)
    out = {f"a_{k}": np.asarray(v) for k, v in arrays.items()}
    out.update({f"p_{i}": leaf for i, leaf in enumerate(leaves)})
    out.update({f"o_{i}": np.asarray(leaf) for i, leaf in enumerate(jax.device_get(list(extra_leaves)))})
    meta = dict(meta, structure=structure, n_params=len(leaves), n_extra=len(extra_leaves))
    out["meta"] = np.asarray(json.dumps(meta, sort_keys=True))
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        np.savez(fh, **out)
    os.replace(tmp, path)


def _read_npz(path, with_extra=False):
    with np.load(os.fspath(path), allow_pickle=False) as z:
        if "meta" not in z.files:
            raise ValueError(f"path {os.fspath(path)!r} is not a file written by SSLRun.save or train_ssl "
                             f"(no 'meta' entry)")
        meta = json.loads(str(z["meta"]))
        arrays = {k[2:]: z[k] for k in z.files if k.startswith("a_")}
        leaves = [z[f"p_{i}"] for i in range(meta["n_params"])]
        extra = [z[f"o_{i}"] for i in range(meta["n_extra"])]
    params = jax.tree_util.tree_map(jnp.asarray, _rebuild(meta["structure"], leaves))
    if with_extra:
        return arrays, meta, params, extra
    return arrays, meta, params


# ---------------------------------------------------------------------------------------------
# models


def mlp_on_images(params, images, return_hidden=False):
    """:func:`dynamics.networks.mlp_apply` (S App. D.1) on images (n, H, W, C) flattened to rows (n, H·W·C)."""
    return mlp_apply(params, jnp.reshape(images, (images.shape[0], -1)), return_hidden=return_hidden)


_MODELS = {"mlp": mlp_on_images, "resnet": resnet_apply}


def _model(model):
    if isinstance(model, str):
        check_choice(model, "model", set(_MODELS))
        return _MODELS[model]
    return check_callable(model, "model", '"mlp", "resnet" or apply(params, images, return_hidden=False)')


def _describe(obj):
    """A process-independent description of a function / augmentation for the config."""
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, functools.partial):
        return f"partial({_describe(obj.func)}, args={obj.args!r}, keywords={sorted(obj.keywords.items())!r})"
    name = getattr(obj, "__qualname__", None)
    if name is not None and inspect.isroutine(obj):
        return f"{getattr(obj, '__module__', '')}.{name}"
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(obj))


# ---------------------------------------------------------------------------------------------
# compiled programs


def _views(augment, key, x):
    if augment is None:
        return x, x
    ka, kb = jax.random.split(key)
    return augment(ka, x), augment(kb, x)


@functools.lru_cache(maxsize=32)
def _programs(loss_fn, apply_fn, augment, optimizer, batch_size, embed_spectrum, record_hidden):
    """Compiled (advance, step_one, observe, finite, features, eval_views, init_opt) for one configuration."""

    def batch_loss(params, key, step, images):
        k = jax.random.fold_in(key, step)
        k_batch, k_aug = jax.random.split(k)
        idx = jax.random.choice(k_batch, images.shape[0], (batch_size,), replace=False)
        va, vb = _views(augment, k_aug, images[idx])
        f = apply_fn(params, jnp.concatenate([va, vb]))
        return loss_fn(f[:batch_size], f[batch_size:])

    def one_step(state, step, key, images):
        params, opt_state = state
        val, g = jax.value_and_grad(batch_loss)(params, key, step, images)
        updates, opt_state = optimizer.update(g, opt_state, params)
        params = jax.tree_util.tree_map(lambda a, u: (a + u).astype(a.dtype), params, updates)
        return (params, opt_state), val

    @jax.jit
    def advance(state, start, stop, key, images):
        return jax.lax.fori_loop(start, stop, lambda i, s: one_step(s, i, key, images)[0], state)

    @jax.jit
    def step_one(state, step, key, images):
        state, val = one_step(state, step, key, images)
        return state, jnp.isfinite(val), _tree_finite(state[0])

    @jax.jit
    def observe(params, va, vb):
        m = va.shape[0]
        if record_hidden:
            f, h = apply_fn(params, jnp.concatenate([va, vb]), return_hidden=True)
            hid = covariance_spectrum(h)
        else:
            f, hid = apply_fn(params, jnp.concatenate([va, vb])), None
        val = loss_fn(f[:m], f[m:])
        eig = embed_spectrum(f[:m], f[m:])
        return {"loss": val, "eigenvalues": eig, "hidden": hid}, _tree_finite(params) & jnp.isfinite(val)

    @jax.jit
    def finite(params):
        return _tree_finite(params)

    @jax.jit
    def features(params, x):
        return apply_fn(params, x, return_hidden=True)[1]

    @jax.jit
    def eval_views(key, x):
        return _views(augment, jax.random.fold_in(key, _EVAL_STREAM), x)

    return advance, step_one, observe, finite, features, eval_views


def _tree_finite(tree):
    leaves = [jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(tree)
              if jnp.issubdtype(jnp.asarray(a).dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


_finite_jit = jax.jit(_tree_finite)


@jax.jit
def _moments(a):
    return jnp.stack([jnp.sum(a), jnp.sum(a * a)])


@functools.lru_cache(maxsize=64)
def _spectrum_fn(loss, kw_items):
    kw = dict(kw_items)
    return lambda z_a, z_b: embedding_spectrum(loss, z_a, z_b, loss_kwargs=kw)


def _cached(builder, *args):
    try:
        hash(args)
    except TypeError:
        return builder.__wrapped__(*args)
    return builder(*args)


# ---------------------------------------------------------------------------------------------
# input checks


def _check_images(images, name="images"):
    if isinstance(images, jax.Array):
        arr = images
    else:
        arr = np.asarray(images)
    if arr.ndim != 4:
        raise ValueError(f"{name} must be 4-D (n, H, W, C), got {arr.ndim}-D array with shape {tuple(arr.shape)}")
    if np.dtype(arr.dtype).kind != "f":
        raise TypeError(f"{name} must be a floating-point array (images in [0, 1], e.g. from "
                        f"dynamics.data.load_images), got dtype {np.dtype(arr.dtype)}")
    if min(arr.shape) < 1:
        raise ValueError(f"{name} must have at least one image and H, W, C >= 1, got shape {tuple(arr.shape)}")
    ok = bool(_finite_jit(arr)) if isinstance(arr, jax.Array) else bool(np.all(np.isfinite(arr)))
    if not ok:
        raise ValueError(f"{name} must be finite, got NaN or inf")
    return arr if isinstance(arr, jax.Array) else jax.device_put(arr)


def _check_record_steps(record_steps, n_steps):
    raw = np.asarray(record_steps)
    if raw.dtype == np.bool_ or not np.issubdtype(raw.dtype, np.number):
        raise TypeError(f"record_steps must be an array of integer steps, got dtype {raw.dtype}")
    if raw.ndim != 1 or raw.size == 0 or not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)):
        raise ValueError("record_steps must be a non-empty 1-D array of integer steps")
    steps = raw.astype(np.int64)
    if np.any(steps < 0) or np.any(np.diff(steps) <= 0) or steps[-1] != n_steps:
        raise ValueError(f"record_steps must be strictly increasing steps >= 0 ending at n_steps={n_steps}, got "
                         f"{steps.tolist()[:8]}{'...' if steps.size > 8 else ''}")
    return steps


def _check_probe(probe, view_shape):
    if not isinstance(probe, ProbeData):
        raise TypeError(f"probe must be a dynamics.ssl.ProbeData, got {type(probe).__name__}")
    out = {}
    for split in ("train", "test"):
        x = _check_images(getattr(probe, f"x_{split}"), f"probe.x_{split}")
        if tuple(x.shape[1:]) != tuple(view_shape[1:]):
            raise ValueError(f"probe.x_{split} must hold images of the views' shape {tuple(view_shape[1:])} (they "
                             f"are fed to the model without augmentation), got shape {tuple(x.shape)}")
        y = _probe_labels(getattr(probe, f"y_{split}"), f"probe.y_{split}", x.shape[0], f"probe.x_{split}")
        out[split] = (x, y)
    return out


# ---------------------------------------------------------------------------------------------
# the trainer


def train_ssl(loss, model, params, images, *, lr, n_steps, augment=None, optimizer="sgd", momentum=0.9,
              weight_decay=0.0, batch_size=128, loss_kwargs=None, precondition=None, seed=0, record_steps=None,
              n_records=100,
              eval_size=256, record_hidden=True, probe=None, probe_every=None, probe_ridge=1e-3, checkpoint=None,
              checkpoint_every=None, stop_at=None, progress=False, desc=None) -> SSLRun:
    r"""Train ``model`` with an SSL loss on mini-batches of augmented views, as in S §6 and App. D.

    Step k (k = 0 … n_steps − 1), from the key κ_k = ``jax.random.fold_in(jax.random.key(seed), k)`` split
    into (κ_batch, κ_views): draw ``batch_size`` distinct images (``jax.random.choice`` without replacement,
    independently at every step, not in epochs), make two views of each with the two keys of
    ``jax.random.split(κ_views)`` (``augment(key, images)``; identical views when ``augment`` is None), and take
    one optax step on L(f(views_a), f(views_b)).  Time is
    t = lr × step (S Fig 1–5).  The steps between record points run in one compiled ``lax.fori_loop``.

    Recorded at ``record_steps`` (default :func:`dynamics.trainer.record_schedule` (n_steps, n_records), log
    spaced with 0 and n_steps), on FIXED evaluation views of the first ``eval_size`` images (drawn once from the
    seed): the loss, the embedding eigenvalues (:func:`embedding_spectrum`: λ(C) for Barlow Twins, the centred
    covariance for SimCLR and VICReg) and, with ``record_hidden``, the eigenvalues of the centred covariance of
    the hidden representation (S App. D.4, S Fig 5).  With ``probe`` (:class:`ProbeData`), every
    ``probe_every`` steps (and at n_steps), the accuracy of :func:`linear_probe` on the hidden representation
    of the un-augmented probe images (S Fig 7).

    Parameters
    ----------
    loss : "barlow_twins", "simclr", "vicreg" or "modified_barlow_twins" (:func:`ssl_loss`); ``loss_kwargs`` its
        keyword arguments.
    precondition : None, or S52's α > 0: the gradient of the loss with respect to the stacked embeddings of the
        batch $F = [z_a; z_b]$ (2 ``batch_size`` rows) becomes $\nabla_F L\,(F^\top F + \alpha I_d)^{-1}$
        (:func:`dynamics.losses.preconditioned`, S App. G.1); the recorded loss is unchanged.
    model : "mlp" (:func:`mlp_on_images`), "resnet" (:func:`dynamics.networks.resnet_apply`) or a callable
        ``apply(params, images, return_hidden=False)`` returning the embeddings (n, d), or (f, h) with
        ``return_hidden=True``.
    params : initial parameters (e.g. :func:`dynamics.networks.init_resnet` with ``alpha`` < 1 for the small
        initialisation of S App. D.2).
    images : (n, H, W, C) floating-point images (on the device for the whole run).
    lr, n_steps : learning rate (> 0) and number of steps.
    augment : callable ``(key, images) -> views`` (e.g. a :class:`dynamics.augment.Augment`); hashable
        (a module-level function, a frozen dataclass) to reuse compiled programs between runs.
    optimizer, momentum, weight_decay : :func:`make_optimizer`.
    batch_size : images per step (two views each); at least the embedding dimension d (the d × d
        cross-correlation or covariance of a batch has rank <= batch_size) and at most n.
    seed : the seed of the batches, the augmentations and the evaluation views.
    eval_size : images whose views are evaluated at the record points (the first min(eval_size, n)).
    probe_every : steps between probes (default: the record steps).  ``probe_ridge``: the probe's ridge.
    checkpoint : path of a checkpoint file.  Every ``checkpoint_every`` steps (default: at the record steps)
        and at the last step the state (parameters, optimiser state, step, records) is written there.  A
        call whose checkpoint file exists resumes from it: it must have been written by a run with the same
        settings (loss, model, parameters at step 0, images, every option above), else ``ValueError``; the
        resumed run gives the same result as an uninterrupted one, and a finished checkpoint is returned as it is.
    stop_at : stop after this step (writing the checkpoint there, if any) and return the run so far
        (``at_step`` = stop_at); a later call with the same arguments continues from the checkpoint.
    progress, desc : a tqdm progress bar over the steps, and its label.

    Returns
    -------
    :class:`SSLRun`

    Raises
    ------
    ValueError / TypeError
        unknown loss or optimizer, bad images, views of different shapes, d > batch_size, bad sizes.
    dynamics.trainer.NonFiniteError
        naming the first step whose loss or parameters are not finite (divergence).
    """
    # --- settings
    kw = _check_loss_kwargs(loss, loss_kwargs)
    precondition = _check_precondition(precondition)
    check_choice(optimizer, "optimizer", set(OPTIMIZERS))
    lr = check_positive(lr, "lr")
    n_steps = check_positive_int(n_steps, "n_steps")
    batch_size = check_positive_int(batch_size, "batch_size", minimum=2)
    eval_size = check_positive_int(eval_size, "eval_size", minimum=2)
    seed = check_positive_int(seed, "seed", minimum=0)
    if not isinstance(record_hidden, bool):
        raise TypeError(f"record_hidden must be True or False, got {record_hidden!r}")
    make_optimizer(optimizer, lr, momentum=momentum, weight_decay=weight_decay)  # checks the values
    opt_init, opt = _train_optimizer(optimizer, lr, float(momentum), float(weight_decay))
    apply_fn = _model(model)
    if augment is not None:
        check_callable(augment, "augment", "augment(key, images) -> views")
    if record_steps is None:
        record_steps = record_schedule(n_steps, check_positive_int(n_records, "n_records", minimum=2))
    record_steps = _check_record_steps(record_steps, n_steps)
    if stop_at is not None:
        stop_at = check_positive_int(stop_at, "stop_at")
        if stop_at > n_steps:
            raise ValueError(f"stop_at must be <= n_steps={n_steps}, got {stop_at}")
    if checkpoint_every is not None:
        checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    if probe_every is not None:
        probe_every = check_positive_int(probe_every, "probe_every")
        if probe is None:
            raise ValueError("probe_every needs probe (a ProbeData of labelled images)")
    probe_ridge = check_positive(probe_ridge, "probe_ridge")

    # --- data and shapes
    images = _check_images(images)
    n = images.shape[0]
    if batch_size > n:
        raise ValueError(f"batch_size={batch_size} must be <= the number of images n={n}")
    m = min(eval_size, n)
    sample = jax.ShapeDtypeStruct((batch_size,) + tuple(images.shape[1:]), images.dtype)
    if augment is not None:
        try:
            va_s, vb_s = jax.eval_shape(lambda k, x: _views(augment, k, x), jax.random.key(0), sample)
        except Exception as exc:  # noqa: BLE001 - any failure of the user's augmentation, named
            raise TypeError(f"augment(key, images) failed on images of shape {sample.shape}: "
                            f"{type(exc).__name__}: {exc}") from exc
        if not (hasattr(va_s, "shape") and hasattr(vb_s, "shape")) or va_s.shape != vb_s.shape:
            raise ValueError(f"augment must return views of one shape for the two views of a batch, got "
                             f"{getattr(va_s, 'shape', va_s)} and {getattr(vb_s, 'shape', vb_s)}")
        if va_s.ndim != 4 or va_s.shape[0] != batch_size:
            raise ValueError(f"augment must return views (n, H', W', C') of the n images it is given, got shape "
                             f"{va_s.shape} for {batch_size} images")
        view_shape = tuple(va_s.shape)
    else:
        view_shape = sample.shape
    try:
        f_s = jax.eval_shape(lambda p, x: apply_fn(p, x), params, jax.ShapeDtypeStruct(view_shape, images.dtype))
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"model(params, views) failed on views of shape {view_shape}: check that params fit the "
                         f"images: {type(exc).__name__}: {exc}") from exc
    if not hasattr(f_s, "shape") or len(f_s.shape) != 2 or f_s.shape[0] != batch_size:
        raise ValueError(f"model(params, views) must return embeddings (n, d), got "
                         f"{getattr(f_s, 'shape', type(f_s).__name__)} for {batch_size} views")
    d = f_s.shape[1]
    if d > batch_size:
        raise ValueError(f"the embedding dimension d={d} is larger than batch_size={batch_size}: the d x d "
                         f"cross-correlation / covariance of a batch has rank <= batch_size, so the loss cannot "
                         f"reach its optimum; use batch_size >= d")
    if d > m:
        raise ValueError(f"eval_size={m} (evaluated images) must be >= the embedding dimension d={d}")
    loss_fn = ssl_loss(loss, precondition=precondition, **kw)
    try:  # the loss's own checks of its keyword values (shapes only, nothing compiled)
        jax.eval_shape(loss_fn, f_s, f_s)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"loss_kwargs do not fit the {loss} loss: {exc}") from exc
    if record_hidden or probe is not None:
        try:
            out = jax.eval_shape(lambda p, x: apply_fn(p, x, return_hidden=True), params,
                                 jax.ShapeDtypeStruct(view_shape, images.dtype))
            ok = isinstance(out, tuple) and len(out) == 2 and len(out[1].shape) == 2
        except TypeError:
            ok = False
        if not ok:
            raise ValueError("model must return (f, h) with return_hidden=True to record the hidden spectrum or "
                             "probe the hidden representation (or give record_hidden=False and no probe)")
    probe_sets = _check_probe(probe, view_shape) if probe is not None else None
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params must contain at least one array")
    if not bool(_finite_jit(params)):
        raise ValueError("params must be finite (the initial parameters contain NaN or inf)")

    # --- schedule
    probe_steps = np.zeros(0, np.int64)
    if probe is not None:
        probe_steps = record_steps if probe_every is None else \
            np.unique(np.concatenate([np.arange(0, n_steps, probe_every), [n_steps]]))
    ckpt_steps = np.zeros(0, np.int64)
    if checkpoint is not None:
        ckpt_steps = record_steps[1:] if checkpoint_every is None else \
            np.unique(np.concatenate([np.arange(checkpoint_every, n_steps, checkpoint_every), [n_steps]]))
    last = n_steps if stop_at is None else stop_at
    bounds = np.unique(np.concatenate([record_steps, probe_steps, ckpt_steps, [last]]))
    bounds = bounds[bounds <= last]
    record_set, probe_set, ckpt_set = set(record_steps.tolist()), set(probe_steps.tolist()), set(ckpt_steps.tolist())

    config = {"loss": loss, "loss_kwargs": {k: (v if isinstance(v, (bool, int, float, str)) else repr(v))
                                            for k, v in sorted(kw.items())},
              "model": _describe(model), "augment": _describe(augment), "optimizer": optimizer, "lr": lr,
              "momentum": float(momentum), "weight_decay": float(weight_decay), "batch_size": batch_size,
              "seed": seed, "n_steps": n_steps, "record_steps": record_steps.tolist(), "eval_size": m,
              "record_hidden": record_hidden, "probe_steps": probe_steps.tolist(), "probe_ridge": probe_ridge,
              "images": {"shape": list(images.shape), "dtype": str(images.dtype)}, "view_shape": list(view_shape),
              "embedding_dim": int(d)}
    if precondition is not None:  # only when set: configs of unpreconditioned runs are as before
        config["precondition"] = precondition
    fingerprint = _fingerprint(params, images, probe_sets) if checkpoint is not None else None

    # --- programs
    loss_items = _hashable_items(kw)
    spec = _spectrum_fn(loss, loss_items) if loss_items is not None else \
        _spectrum_fn.__wrapped__(loss, tuple(kw.items()))
    advance, step_one, observe, finite, features, eval_views = _cached(
        _programs, loss_fn, apply_fn, augment, opt, batch_size, spec, record_hidden)
    key = jax.random.key(seed)
    eva, evb = eval_views(key, images[:m])

    # --- state (fresh or resumed)
    state = (params, opt_init.init(params))
    current = 0
    recs, probes = [], []
    resumed = checkpoint is not None and os.path.exists(os.fspath(checkpoint))
    if resumed:
        state, current, recs, probes = _load_checkpoint(checkpoint, config, fingerprint, state)
        if current >= last:
            return _result(recs, probes, state[0], lr, config, current, record_hidden)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=last, initial=current, desc=desc or f"{loss} ({optimizer})", leave=False)

    def record(step):
        out, ok = observe(state[0], eva, evb)
        if not bool(ok):
            return False
        if step in record_set:
            recs.append((step, jax.device_get(out)))
        return True

    try:
        if current == 0:
            if not record(0):
                raise NonFiniteError(0, "loss or parameters")
            if 0 in probe_set:
                probes.append((0, _probe(features, state[0], probe_sets, probe_ridge)))
        for b in (int(s) for s in bounds):
            if b <= current:
                continue
            good = state
            state = advance(state, current, b, key, images)
            ok = record(b) if b in record_set else bool(finite(state[0]))
            if not ok:
                _raise_first_bad_step(step_one, good, current, b, key, images)
            if b in probe_set:
                probes.append((b, _probe(features, state[0], probe_sets, probe_ridge)))
            current = b
            if checkpoint is not None and (b in ckpt_set or b == last):
                _save_checkpoint(checkpoint, config, fingerprint, state, current, recs, probes, lr, record_hidden)
            if bar is not None:
                bar.update(b - bar.n)
    finally:
        if bar is not None:
            bar.close()
    return _result(recs, probes, state[0], lr, config, current, record_hidden)


def _raise_first_bad_step(step_one, state, start, stop, key, images):
    """Replay the steps start … stop − 1 one by one from the last good state; name the first bad one."""
    for s in range(start, stop):
        state, loss_ok, params_ok = step_one(state, s, key, images)
        if not bool(loss_ok):  # the mini-batch loss at the parameters of step s
            raise NonFiniteError(s, "loss")
        if not bool(params_ok):  # the parameters after step s + 1
            raise NonFiniteError(s + 1, "parameters")
    raise NonFiniteError(stop, "loss")  # only the loss on the evaluation views at ``stop``


def _probe(features, params, sets, ridge, chunk=1024):
    feats = {}
    for split, (x, _) in sets.items():
        parts = [features(params, x)] if x.shape[0] <= chunk else \
            [features(params, x[i:i + chunk]) for i in range(0, x.shape[0], chunk)]
        feats[split] = np.concatenate(jax.device_get(parts))
    return linear_probe(feats["train"], sets["train"][1], feats["test"], sets["test"][1], ridge=ridge)


def _result(recs, probes, params, lr, config, at_step, record_hidden):
    steps = np.array([s for s, _ in recs], dtype=np.int64)
    if recs:
        loss = np.stack([np.asarray(r["loss"]) for _, r in recs])
        eig = np.stack([np.asarray(r["eigenvalues"]) for _, r in recs])
        hid = np.stack([np.asarray(r["hidden"]) for _, r in recs]) if record_hidden else None
    else:
        loss, eig, hid = np.zeros(0), np.zeros((0, config["embedding_dim"])), None
    p_steps = np.array([s for s, _ in probes], dtype=np.int64)
    return SSLRun(steps=steps, t=lr * steps.astype(float), loss=loss, eigenvalues=eig, hidden_eigenvalues=hid,
                  probe_steps=p_steps, probe_t=lr * p_steps.astype(float),
                  probe_accuracy=np.array([a for _, a in probes], dtype=float), params=params, config=config,
                  at_step=int(at_step))


def _fingerprint(params, images, probe_sets):
    """A digest of the initial parameters (their bytes) and of the images (shape and two moments)."""
    h = hashlib.sha256()
    for leaf in jax.device_get(jax.tree_util.tree_leaves(params)):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    arrays = [images] + ([x for x, _ in probe_sets.values()] if probe_sets else [])
    moments = [np.asarray(_moments(a)).tolist() for a in arrays]
    if probe_sets:
        moments += [tuple(np.asarray(y).tolist()) for _, y in probe_sets.values()]
    h.update(repr(moments).encode())
    return h.hexdigest()


def _save_checkpoint(path, config, fingerprint, state, step, recs, probes, lr, record_hidden):
    run = _result(recs, probes, state[0], lr, config, step, record_hidden)
    opt_leaves = jax.tree_util.tree_leaves(state[1])
    _write_npz(path, run._arrays(), {"config": config, "at_step": int(step), "fingerprint": fingerprint},
               state[0], extra_leaves=opt_leaves)


def _load_checkpoint(path, config, fingerprint, fresh_state):
    try:
        arrays, meta, params, opt_leaves = _read_npz(path, with_extra=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"checkpoint {os.fspath(path)!r} could not be read as a train_ssl checkpoint: {exc}") from exc
    if json.dumps(meta["config"], sort_keys=True) != json.dumps(json.loads(json.dumps(config)), sort_keys=True):
        saved, now = meta["config"], json.loads(json.dumps(config))
        diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        raise ValueError(f"checkpoint {os.fspath(path)!r} was written by a run with other settings (differing: "
                         f"{diff}); remove it or give another checkpoint path")
    if meta.get("fingerprint") != fingerprint:
        raise ValueError(f"checkpoint {os.fspath(path)!r} was written by a run from other initial parameters or "
                         f"images; remove it or give another checkpoint path")
    fresh_params, fresh_opt = fresh_state
    treedef = jax.tree_util.tree_structure(fresh_params)
    params = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(a, dtype=jnp.asarray(f).dtype) for a, f in
                                                    zip(jax.tree_util.tree_leaves(params),
                                                        jax.tree_util.tree_leaves(fresh_params))])
    opt_def = jax.tree_util.tree_structure(fresh_opt)
    fresh_opt_leaves = jax.tree_util.tree_leaves(fresh_opt)
    if len(opt_leaves) != len(fresh_opt_leaves):
        raise ValueError(f"checkpoint {os.fspath(path)!r} holds an optimiser state of another structure")
    opt_state = jax.tree_util.tree_unflatten(opt_def, [jnp.asarray(a, dtype=jnp.asarray(f).dtype)
                                                       for a, f in zip(opt_leaves, fresh_opt_leaves)])
    hidden = arrays.get("hidden_eigenvalues")
    recs = [(int(s), {"loss": arrays["loss"][i], "eigenvalues": arrays["eigenvalues"][i],
                      "hidden": None if hidden is None else hidden[i]}) for i, s in enumerate(arrays["steps"])]
    probes = [(int(s), float(a)) for s, a in zip(arrays["probe_steps"], arrays["probe_accuracy"])]
    return (params, opt_state), int(meta["at_step"]), recs, probes
