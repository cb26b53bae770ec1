"""Reference trainer: full-batch gradient descent with recorded history.

The trainer is deliberately plain — ``params ← params − lr ∇L(params)``,
optionally followed by a projection back onto a constraint — so that it is
an independent check of the theory: it never sees Γ or any closed form, only
the loss computed from the model's outputs on the data.

Time is reported in gradient-flow units, t = lr × step, as in the papers.
Between record points the steps run inside one compiled ``lax.fori_loop``;
on a non-finite loss or parameter the run is replayed step by step from the
last good record to name the first bad step.  The data and the learning rate
are arguments of the compiled programs, which :func:`train_barlow`,
:func:`train_supervised` and :func:`train_barlow_linear` cache per model
function: a second run of the same model on data of the same shapes (another
seed, learning rate or data set) does not compile again.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ._validation import as_matrix, check_callable, check_positive, check_positive_int
from .barlow._core import _check_pairs, _embedding_loss


class NonFiniteError(FloatingPointError):
    """Training produced a non-finite loss or parameter; ``step`` is the first bad step."""

    def __init__(self, step: int, what: str):
        self.step = step
        if step == 0:
            msg = (f"non-finite {what} at step 0, at initialisation (before any gradient step): the model output "
                   f"or the loss is NaN/inf at the initial parameters on this data — check the model, the loss "
                   f"and the data; the learning rate plays no part yet")
        else:
            msg = f"non-finite {what} at step {step}: reduce the learning rate or the init scale"
        super().__init__(msg)


@dataclass
class History:
    """What a training run recorded.

    Attributes
    ----------
    step : (R,) int array of recorded steps (0 is the initial state).
    t : (R,) gradient-flow times lr × step.
    records : mapping name -> (R, ...) array; always contains "loss".
    lr : learning rate.
    """

    step: np.ndarray
    t: np.ndarray
    records: dict = field(default_factory=dict)
    lr: float = 0.0

    def __getitem__(self, name):
        return self.records[name]

    def __contains__(self, name):
        return name in self.records

    @property
    def loss(self) -> np.ndarray:
        return self.records["loss"]


def record_schedule(n_steps: int, n_records: int = 200, *, log: bool = True) -> np.ndarray:
    """Steps at which to record: 0, n_steps and ``n_records`` points log- (or linearly) spaced between."""
    n_steps = check_positive_int(n_steps, "n_steps")
    n_records = check_positive_int(n_records, "n_records", minimum=2)
    if log:
        pts = np.geomspace(1, n_steps, n_records - 1)
    else:
        pts = np.linspace(0, n_steps, n_records)
    return np.unique(np.concatenate([[0], np.round(pts).astype(np.int64), [n_steps]]))


def _check_record_steps(record_steps) -> np.ndarray:
    """Non-empty, strictly increasing integer steps >= 0 (integral floats such as 10.0 are accepted)."""
    raw = np.asarray(record_steps)
    if raw.dtype == np.bool_ or not np.issubdtype(raw.dtype, np.number):
        raise TypeError(f"record_steps must be an array of integer steps, got dtype {raw.dtype}")
    if raw.ndim != 1 or raw.size == 0:
        raise ValueError(f"record_steps must be a non-empty 1-D array of steps, got shape {raw.shape}")
    bad = ~np.isfinite(raw) | (raw != np.round(raw))
    if np.any(bad):
        raise ValueError(f"record_steps must be integers (step numbers), got {float(raw[bad][0]):g} at index "
                         f"{int(np.argmax(bad))}")
    steps = raw.astype(np.int64)
    if np.any(steps < 0) or np.any(np.diff(steps) <= 0):
        raise ValueError("record_steps must be a non-empty, strictly increasing array of steps >= 0")
    return steps


def _check_initial_params(loss_fn, params):
    """The initial parameters are finite and ``loss_fn(params)`` is a scalar (shapes only, nothing compiled)."""
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params must contain at least one array")
    if not bool(_tree_finite(params)):
        raise ValueError("params must be finite at step 0 (the initial parameters contain NaN or inf)")
    out = _eval_shape(loss_fn, params, "loss_fn(params)", "a real scalar written with jax.numpy")
    if not hasattr(out, "shape") or tuple(out.shape) != ():
        shape = tuple(out.shape) if hasattr(out, "shape") else type(out).__name__
        raise ValueError(f"loss_fn(params) must return a scalar, got {shape}")
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"loss_fn(params) must return a real floating-point scalar (gradient descent "
                        f"differentiates it), got dtype {np.dtype(out.dtype)}")


def _eval_shape(fn, args, what, expected):
    """``jax.eval_shape(fn, *args)`` with JAX's tracing errors turned into a TypeError naming ``what``."""
    args = args if isinstance(args, tuple) else (args,)
    try:
        return jax.eval_shape(fn, *args)
    except (jax.errors.JAXTypeError, jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError,
            jax.errors.TracerBoolConversionError, jax.errors.TracerIntegerConversionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TypeError(f"{what} could not be traced by JAX: it must be {expected} (no NumPy calls, float() "
                        f"or Python branches on values): {type(exc).__name__}: {first}") from exc
    except TypeError as exc:
        raise TypeError(f"{what} failed when traced by JAX (it must be {expected}): {exc}") from exc


def _check_apply(apply_fn, params, x, name="x"):
    """``apply_fn(params, x)`` evaluates (shapes only) to an (n, d) array; errors name apply_fn and ``name``."""
    check_callable(apply_fn, "apply_fn", "apply_fn(params, x) -> (n, d)")
    try:
        out = jax.eval_shape(apply_fn, params, jnp.asarray(x))
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"apply_fn(params, {name}) failed on {name} of shape {tuple(np.shape(x))} — check that "
                         f"params fit {name} (number of features): {exc}") from exc
    if not hasattr(out, "shape") or len(out.shape) != 2 or out.shape[0] != np.shape(x)[0]:
        shape = tuple(out.shape) if hasattr(out, "shape") else type(out).__name__
        raise ValueError(f"apply_fn(params, {name}) must return an (n, d) array with n = {np.shape(x)[0]} rows, "
                         f"got {shape}")
    return out


def _tree_finite(tree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))


def gradient_descent(loss_fn, params, *, lr, n_steps=None, record_steps=None, observers=None,
                     project=None, progress=False, desc="training") -> tuple[object, History]:
    """Run full-batch gradient descent on ``loss_fn(params)`` and record a history.

    Parameters
    ----------
    loss_fn : callable params -> scalar, written with ``jax.numpy`` (data closed over).
    params : initial parameters (any pytree of arrays).
    lr : learning rate (> 0).
    n_steps : number of steps; or give ``record_steps`` whose last entry is the final step.
    record_steps : increasing steps at which to record (default: :func:`record_schedule`).
    observers : mapping name -> callable params -> array, recorded at every record step.
    project : optional callable params -> params applied after every step (projected GD).
    progress : show a tqdm progress bar over record segments.

    Returns
    -------
    (final params, :class:`History`)

    Raises
    ------
    NonFiniteError
        naming the first step whose loss or parameters are not finite.
    """
    check_callable(loss_fn, "loss_fn", "loss_fn(params) -> scalar")
    if observers is not None and not isinstance(observers, dict):
        raise TypeError(f"observers must be a dict name -> callable(params), got {type(observers).__name__}")
    for name, fn in (observers or {}).items():
        check_callable(fn, f"observers[{name!r}]", "fn(params) -> array")
    # Programs built afresh: a closure over data cannot be reused safely (nor kept alive in a cache).
    return _run(_closure_loss(loss_fn), params, None, lr=lr, n_steps=n_steps, record_steps=record_steps,
                observers={k: _closure_observer(fn) for k, fn in (observers or {}).items()}, project=project,
                progress=progress, desc=desc, cache=False)


def _closure_loss(loss_fn):
    return lambda p, data: loss_fn(p)


def _closure_observer(fn):
    return lambda p, data: fn(p)


def _run(loss_fn, params, data, *, lr, n_steps, record_steps, observers, project, progress, desc, cache):
    """GD on ``loss_fn(params, data)`` with observers ``fn(params, data)``; data and lr are arguments of the
    compiled programs, so with ``cache=True`` (hashable module-level loss builders) a second run with the
    same functions and shapes reuses the compiled code."""
    lr = check_positive(lr, "lr")
    if n_steps is not None:
        n_steps = check_positive_int(n_steps, "n_steps")
    if record_steps is None:
        if n_steps is None:
            raise ValueError("give n_steps or record_steps")
        record_steps = record_schedule(n_steps)
    record_steps = _check_record_steps(record_steps)
    if n_steps is not None and record_steps[-1] != n_steps:
        raise ValueError(f"record_steps must end at n_steps={n_steps}, ends at {record_steps[-1]}")
    if project is not None:
        check_callable(project, "project", "project(params) -> params")
    if "loss" in observers:
        raise ValueError("observers must not be named 'loss': the loss is always recorded")
    _check_initial_params(lambda p: loss_fn(p, data), params)
    for name, fn in observers.items():
        _eval_shape(lambda p, fn=fn: fn(p, data), params, f"observer {name!r} (params)",
                    "an array function written with jax.numpy")

    key = (loss_fn, project, tuple(observers.items()))
    advance, observe, step_one = _cached(_programs, *key) if cache else _programs.__wrapped__(*key)
    lr_arg = jnp.asarray(lr)
    recs = {}
    iterator = range(len(record_steps))
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=desc, leave=False)
    current, p = 0, params
    for r in iterator:
        target = int(record_steps[r])
        good = p
        if target > current:
            p = advance(p, target - current, lr_arg, data)
        out, ok = observe(p, data)
        if not bool(ok):
            _raise_first_bad_step(lambda q: step_one(q, lr_arg, data), lambda q: observe(q, data), good, current,
                                  target)
        current = target
        for name, val in out.items():
            recs.setdefault(name, []).append(np.asarray(val))
    history = History(step=record_steps.copy(), t=lr * record_steps.astype(float),
                      records={k: np.stack(v) for k, v in recs.items()}, lr=lr)
    return p, history


@functools.lru_cache(maxsize=32)
def _programs(loss_fn, project, observer_items):
    """Compiled (advance, observe, step) for GD on ``loss_fn(params, data)``; cached on the functions."""
    observers = dict(observer_items)
    proj = project if project is not None else (lambda p: p)

    def one_step(p, lr, data):
        g = jax.grad(loss_fn)(p, data)
        return proj(jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g))

    @jax.jit
    def advance(p, k, lr, data):
        return jax.lax.fori_loop(0, k, lambda i, q: one_step(q, lr, data), p)

    @jax.jit
    def observe(p, data):
        val = loss_fn(p, data)
        out = {name: fn(p, data) for name, fn in observers.items()}
        out["loss"] = val
        return out, _tree_finite(p) & jnp.isfinite(val)

    return advance, observe, jax.jit(one_step)


def _raise_first_bad_step(step_one, observe, p, start, stop):
    _, ok = observe(p)
    if not bool(ok):  # only when ``start`` was never recorded: the initial state (step 0)
        raise NonFiniteError(start, "loss or parameters")
    for s in range(start + 1, stop + 1):
        p = step_one(p)
        _, ok = observe(p)
        if not bool(ok):
            raise NonFiniteError(s, "loss or parameters")
    raise NonFiniteError(stop, "loss or parameters")


# ---------------------------------------------------------------------------
# Linear Barlow Twins model (S §3)


def init_linear(d: int, m: int, scale: float, seed: int = 0) -> np.ndarray:
    """W0 in R^{d x m} with i.i.d. N(0, scale²) entries (S §4.4)."""
    d = check_positive_int(d, "d")
    m = check_positive_int(m, "m")
    scale = check_positive(scale, "scale")
    seed = check_positive_int(seed, "seed", minimum=0)
    return scale * np.random.default_rng(seed).standard_normal((d, m))


def train_barlow(apply_fn, params, x, x_prime, *, lr, n_steps, record_steps=None, n_records=200,
                 observers=None, ntk_fn=None, project=None, progress=False, desc="Barlow Twins"):
    """Train any model ``apply_fn(params, x) -> (n, d)`` with the Barlow Twins loss (S1–S2) by full-batch GD.

    The loss is ||C − I_d||_F² with C the symmetrised cross-correlation of the
    embeddings of the pairs.  Always records "loss" and "eigenvalues" (of C,
    decreasing); ``ntk_fn(params) -> K`` adds "ntk_drift" = ||K(t) − K(0)||_F /
    ||K(0)||_F (Fleissner et al.; S App. D.5); ``observers`` adds more.

    Returns
    -------
    (final params, :class:`History`)
    """
    x, x_prime = _check_pairs(x, x_prime)
    _check_apply(apply_fn, params, x)
    obs = {"eigenvalues": _cached(_barlow_eigenvalues, apply_fn)}
    obs.update(_user_observers(observers))
    data = {"x": jnp.asarray(x), "xp": jnp.asarray(x_prime)}
    return _train_model(_cached(_barlow_loss, apply_fn), params, data, obs, ntk_fn, lr=lr, n_steps=n_steps,
                        record_steps=record_steps, n_records=n_records, project=project, progress=progress,
                        desc=desc)


def _train_model(loss_fn, params, data, obs, ntk_fn, *, lr, n_steps, record_steps, n_records, project, progress,
                 desc):
    """The part shared by the model trainers: NTK drift observer, record schedule, cached programs."""
    if ntk_fn is not None:
        obs["ntk_drift"], data["K0"] = _drift_observer(ntk_fn, params)
    if record_steps is None:
        record_steps = record_schedule(n_steps, n_records)
    return _run(loss_fn, params, data, lr=lr, n_steps=n_steps, record_steps=record_steps, observers=obs,
                project=project, progress=progress, desc=desc, cache=True)


def _cached(builder, *fns):
    """``builder(*fns)`` from its cache, or built afresh when a function is not hashable."""
    try:
        hash(fns)
    except TypeError:
        return builder.__wrapped__(*fns)
    return builder(*fns)


# Loss and observer builders keyed on apply_fn (and ntk_fn): a second run of the same model with data
# of the same shapes reuses the compiled programs of :func:`_run`.


@functools.lru_cache(maxsize=32)
def _barlow_loss(apply_fn):
    return lambda p, data: _embedding_loss(apply_fn(p, data["x"]), apply_fn(p, data["xp"]))


@functools.lru_cache(maxsize=32)
def _barlow_eigenvalues(apply_fn):
    from .barlow._core import _cross_correlation

    return lambda p, data: jnp.linalg.eigvalsh(_cross_correlation(apply_fn(p, data["x"]),
                                                                  apply_fn(p, data["xp"])))[::-1]


@functools.lru_cache(maxsize=32)
def _mse_loss(apply_fn):
    return lambda p, data: 0.5 * jnp.mean(jnp.sum((apply_fn(p, data["x"]) - data["y"]) ** 2, axis=1))


@functools.lru_cache(maxsize=32)
def _user_observer(fn):
    return lambda p, data: fn(p)


def _user_observers(observers):
    if observers is not None and not isinstance(observers, dict):
        raise TypeError(f"observers must be a dict name -> callable(params), got {type(observers).__name__}")
    out = {}
    for name, fn in (observers or {}).items():
        check_callable(fn, f"observers[{name!r}]", "fn(params) -> array")
        out[name] = _cached(_user_observer, fn)
    return out


def train_supervised(apply_fn, params, x, y, *, lr, n_steps, record_steps=None, n_records=200, observers=None,
                     ntk_fn=None, progress=False):
    """Supervised baseline: GD on the squared loss (1/2n) Σ_i ||f(x_i) − y_i||², same recorder as :func:`train_barlow`."""
    x = as_matrix(x, "x")
    y = as_matrix(y, "y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of rows, got {x.shape[0]} and {y.shape[0]}")
    if x.shape[0] == 0:
        raise ValueError(f"x must have at least one row (training point): the mean squared loss of no points is "
                         f"undefined, got shape {x.shape}")
    out = _check_apply(apply_fn, params, x)
    if tuple(out.shape) != y.shape:
        raise ValueError(f"y must have the shape of the outputs apply_fn(params, x) {tuple(out.shape)}, got {y.shape}")
    data = {"x": jnp.asarray(x), "y": jnp.asarray(y)}
    return _train_model(_cached(_mse_loss, apply_fn), params, data, _user_observers(observers), ntk_fn, lr=lr,
                        n_steps=n_steps, record_steps=record_steps, n_records=n_records, project=None,
                        progress=progress, desc="supervised MSE")


def _drift_observer(ntk_fn, params0):
    """(observer, K(0)): the observer reads K(0) from the run's data, so that it can be cached on ntk_fn."""
    check_callable(ntk_fn, "ntk_fn", "ntk_fn(params) -> K")
    return _cached(_drift_from_data, ntk_fn), jnp.asarray(ntk_fn(params0))


@functools.lru_cache(maxsize=32)
def _drift_from_data(ntk_fn):
    from .ntk import ntk_drift

    return lambda p, data: ntk_drift(ntk_fn(p), data["K0"])


def train_barlow_linear(x, x_prime, *, d=None, W0=None, init_scale=1e-6, seed=0, lr, n_steps,
                        record_steps=None, n_records=200, record_weights=False, progress=False):
    """Train f(x) = W x with the Barlow Twins loss by full-batch gradient descent (S1–S3).

    The loss is computed from the embeddings of the pairs, L = ||C − I_d||_F²
    with C = (1/2n) Σ_i (f(x_i) f(x'_i)^T + f(x'_i) f(x_i)^T) (S1–S2) — not from Γ.

    Parameters
    ----------
    x, x_prime : (n, m) positive pairs.
    d : embedding dimension (required unless ``W0`` is given).
    W0 : (d, m) initial weights; default i.i.d. N(0, init_scale²) from ``seed``.
    lr, n_steps : learning rate and number of steps; time t = lr × step.
    record_steps : steps to record (default log-spaced, ``n_records`` points).
    record_weights : also record W at every record step (key "W").

    Returns
    -------
    (W_final, :class:`History`) with records "loss" (R,), "eigenvalues" (R, d)
    — the eigenvalues of C in decreasing order — and optionally "W" (R, d, m).
    """
    x, x_prime = _check_pairs(x, x_prime)
    m = x.shape[1]
    if W0 is None:
        if d is None:
            raise ValueError("give d (embedding dimension) or W0")
        W0 = init_linear(d, m, init_scale, seed)
    W0 = as_matrix(W0, "W0")
    if W0.shape[1] != m:
        raise ValueError(f"W0 must have m = {m} columns to match x, got shape {W0.shape}")
    if d is not None and W0.shape[0] != d:
        raise ValueError(f"W0 has {W0.shape[0]} rows but d = {d}")
    if record_steps is None:
        record_steps = record_schedule(n_steps, n_records)
    observers = {"W": _identity} if record_weights else None
    return train_barlow(_linear_apply, jnp.asarray(W0), x, x_prime, lr=lr, n_steps=n_steps,
                        record_steps=record_steps, observers=observers, progress=progress,
                        desc="Barlow Twins (linear)")


def _linear_apply(W, inp):
    """f(x) = W x for the rows of inp (S §3)."""
    return inp @ W.T


def _identity(W):
    return W
