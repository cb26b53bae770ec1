"""Reference trainer: full-batch gradient descent with a recorded history.

One loop for every paper's trainer.  The step is deliberately plain,

    θ_{k+1} = P(θ_k − lr ∇_θ L(θ_k)),    t_k = lr × k,

the explicit Euler discretisation of the gradient flow dθ/dt = −∇L that the papers' theories
describe (Simon et al. (2023), "On the Stepwise Nature of Self-Supervised Learning", ICML 2023,
arXiv:2303.15438, eqs. S1–S3 and S6; Esser, Mukherjee, Ghoshdastidar (2023), "Representation Learning
Dynamics of Self-Supervised Models", E11 with P the retraction onto the Stiefel manifold; Anil, Esser,
Ghoshdastidar (2024), "When can we Approximate Wide Contrastive Models with Neural Tangent Kernels and
Principal Component Analysis?", Lemma 16).  P is an optional projection (identity by default); an
optax ``GradientTransformation`` may replace the plain step.  The trainer is an independent check of
the theory: it never sees Γ, C or any closed form, only the loss of the model's outputs on the data.

Time is reported in gradient-flow units, t = lr × step, as in the papers.  Between record points the
steps run inside one compiled ``lax.fori_loop``; on a non-finite loss or parameter the run is replayed
step by step from the last good record to name the first bad step.

:func:`gradient_descent` with ``data`` takes ``loss_fn(params, data)``: the data, the learning rate and
the number of steps are arguments of the compiled programs, which are cached on the functions (loss,
projection, observers, optimizer), so a second run with the same functions on data of the same shapes
(another seed, learning rate or data set) compiles nothing.  :func:`train_barlow`,
:func:`train_supervised` and :func:`train_barlow_linear` build their losses once per model function
(module-level builders) and run through it.  Observers may return any pytree of arrays.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from . import losses
from ._validation import as_matrix, check_callable, check_pairs, check_positive, check_positive_int


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


def _tree_finite(tree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))


@jax.jit
def _finite_flags(leaves):
    """One compiled check for a list of arrays: is each finite (non-float leaves always are)."""
    return [jnp.all(jnp.isfinite(a)) if jnp.issubdtype(a.dtype, jnp.inexact) else jnp.array(True) for a in leaves]


def _check_data(data):
    """``data`` as a pytree of device arrays: every leaf a real numeric array, finite (checked once, here).

    NumPy leaves are checked on the host and moved with ``jax.device_put`` (``jnp.asarray`` would compile
    a copy per shape).  Returns (data, pending): the JAX leaves as (name, array), checked together with the
    initial parameters by one compiled call (:func:`_check_initial`)."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(data)
    if not leaves:
        raise ValueError("data must contain at least one array (give data=None for the form loss_fn(params))")
    out, names, on_device = [], [], []
    for path, leaf in leaves:
        where = "data" + jax.tree_util.keystr(path)
        names.append(where)
        if isinstance(leaf, (str, bytes)) or not (np.isscalar(leaf) or hasattr(leaf, "shape")):
            raise TypeError(f"data must be a pytree of numeric arrays, got {type(leaf).__name__} at {where}")
        if not isinstance(leaf, jax.Array):
            leaf = np.asarray(leaf)
        kind = np.dtype(leaf.dtype).kind
        if kind not in "biuf":
            raise TypeError(f"data must be a pytree of real numeric arrays, got dtype {np.dtype(leaf.dtype)} "
                            f"at {where}")
        if isinstance(leaf, jax.Array):
            on_device.append(len(out))
        elif kind == "f" and not np.all(np.isfinite(leaf)):
            raise ValueError(f"data must be finite, got NaN or inf in {where}")
        out.append(leaf if isinstance(leaf, jax.Array) else jax.device_put(leaf))
    pending = [(names[i], out[i]) for i in on_device]
    return jax.tree_util.tree_unflatten(treedef, out), pending


def _check_observers(observers, signature):
    if observers is None:
        return {}
    if not isinstance(observers, dict):
        raise TypeError(f"observers must be a dict name -> callable {signature}, got {type(observers).__name__}")
    for name, fn in observers.items():
        if not isinstance(name, str):
            raise TypeError(f"observers must be keyed by names (str), got key {name!r}")
        check_callable(fn, f"observers[{name!r}]", f"{signature} -> array or pytree of arrays")
    if "loss" in observers:
        raise ValueError("observers must not be named 'loss': the loss is always recorded")
    return dict(observers)


def _check_optimizer(optimizer):
    """``None`` (plain GD) or an optax ``GradientTransformation``: ``init(params)`` and
    ``update(grads, state, params) -> (updates, state)`` (duck-typed: optax itself is not imported)."""
    if optimizer is None:
        return None
    if not (callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))):
        raise TypeError(f"optimizer must be an optax GradientTransformation (with init(params) and "
                        f"update(grads, state, params)), got {type(optimizer).__name__}")
    return optimizer


def gradient_descent(loss_fn, params, data=None, *, lr, n_steps=None, record_steps=None, observers=None,
                     project=None, optimizer=None, progress=False, desc="training") -> tuple[object, History]:
    """Run full-batch gradient descent on ``loss_fn`` and record a history.

    Each step is θ ← P(θ − lr ∇_θ L(θ)), with P the optional projection back onto a constraint
    (identity by default), i.e. explicit Euler steps of the gradient flow dθ/dt = −∇L (projected
    gradient descent on a manifold when P is a retraction, Esser et al. E11, Anil et al. Lemma 16);
    times are reported as t = lr × step.  With ``optimizer`` (an optax ``GradientTransformation``)
    the step is θ ← P(θ + u), (u, state) = optimizer.update(∇L, state, θ); ``optax.sgd(lr)`` is the
    plain step above.

    Two forms:

    * ``data`` given (any pytree of arrays): ``loss_fn(params, data)`` and observers
      ``fn(params, data)``.  The data, the learning rate and the number of steps are *arguments* of
      the compiled programs, which are cached on (``loss_fn``, ``project``, ``observers``,
      ``optimizer``): a second run with the same functions (module-level, hashable) and data of the
      same shapes and dtypes compiles nothing — another seed, learning rate or data set reuses the
      programs.
    * ``data=None``: ``loss_fn(params)`` and ``fn(params)`` with the data closed over; programs are
      built afresh for every run (a closure cannot key a cache safely, nor be kept alive in one).

    Parameters
    ----------
    loss_fn : callable -> real scalar, written with ``jax.numpy``.
    params : initial parameters (any pytree of arrays); the steps keep each leaf's dtype.
    data : optional pytree of arrays passed to ``loss_fn`` and the observers (checked finite once).
    lr : learning rate (> 0); with ``optimizer``, only the clock t = lr × step (give the optimizer the
        same rate).
    n_steps : number of steps; or give ``record_steps`` whose last entry is the final step.
    record_steps : increasing steps at which to record (default: :func:`record_schedule`).
    observers : mapping name -> callable returning an array or any pytree of arrays (a dict, a tuple ...);
        ``History.records[name]`` holds that pytree with each leaf stacked over the R records.
    project : optional callable params -> params applied after every step (projected GD).
    optimizer : optional optax ``GradientTransformation`` (default: plain GD).
    progress : show a tqdm progress bar over record segments.

    Returns
    -------
    (final params, :class:`History`)

    Raises
    ------
    NonFiniteError
        naming the first step whose loss or parameters are not finite.
    """
    if data is None:
        check_callable(loss_fn, "loss_fn", "loss_fn(params) -> scalar")
        observers = _check_observers(observers, "fn(params)")
        loss_fn = _closure_loss(loss_fn)
        observers = {k: _closure_observer(fn) for k, fn in observers.items()}
        cache, what, pending = False, "loss_fn(params)", []
    else:
        check_callable(loss_fn, "loss_fn", "loss_fn(params, data) -> scalar")
        observers = _check_observers(observers, "fn(params, data)")
        data, pending = _check_data(data)
        cache, what = True, "loss_fn(params, data)"
    if project is not None:
        check_callable(project, "project", "project(params) -> params")
    optimizer = _check_optimizer(optimizer)
    return _run(loss_fn, params, data, lr=lr, n_steps=n_steps, record_steps=record_steps, observers=observers,
                project=project, optimizer=optimizer, progress=progress, desc=desc, cache=cache, what=what,
                pending=pending)


def _closure_loss(loss_fn):
    return lambda p, data: loss_fn(p)


def _closure_observer(fn):
    return lambda p, data: fn(p)


def _check_initial(loss_fn, params, data, observers, what, pending=()):
    """Finite initial parameters (and the JAX leaves ``pending`` of the data, in the same compiled call);
    ``loss_fn`` a real scalar and every observer traceable on (params, data).

    Shapes only, nothing compiled; ``jax.eval_shape`` caches its trace on the function and the shapes, so a
    repeated run of the same (cached) functions traces nothing here either."""
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params must contain at least one array")
    flags = [bool(ok) for ok in _finite_flags(list(leaves) + [a for _, a in pending])]
    if not all(flags[:len(leaves)]):
        raise ValueError("params must be finite at step 0 (the initial parameters contain NaN or inf)")
    for (name, _), ok in zip(pending, flags[len(leaves):]):
        if not ok:
            raise ValueError(f"data must be finite, got NaN or inf in {name}")
    out = _eval_shape(loss_fn, (params, data), what, "a real scalar written with jax.numpy", data is not None)
    if not hasattr(out, "shape") or tuple(out.shape) != ():
        shape = tuple(out.shape) if hasattr(out, "shape") else type(out).__name__
        raise ValueError(f"{what} must return a scalar, got {shape}")
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"{what} must return a real floating-point scalar (gradient descent "
                        f"differentiates it), got dtype {np.dtype(out.dtype)}")
    args = "params, data" if data is not None else "params"
    for name, fn in observers.items():
        _eval_shape(fn, (params, data), f"observer {name!r} ({args})",
                    "an array (or pytree of arrays) function written with jax.numpy", data is not None)


def _eval_shape(fn, args, what, expected, with_data=False):
    """``jax.eval_shape(fn, *args)`` with JAX's tracing errors turned into a TypeError naming ``what``
    (and, for the data form, a ValueError saying that the data do not fit the parameters)."""
    args = args if isinstance(args, tuple) else (args,)
    try:
        return jax.eval_shape(fn, *args)
    except (jax.errors.JAXTypeError, jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError,
            jax.errors.TracerBoolConversionError, jax.errors.TracerIntegerConversionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TypeError(f"{what} could not be traced by JAX: it must be {expected} (no NumPy calls, float() "
                        f"or Python branches on values): {type(exc).__name__}: {first}") from exc
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        if with_data:
            shapes = jax.tree_util.tree_map(lambda a: tuple(np.shape(a)), args[1])
            raise ValueError(f"{what} failed on data of shapes {shapes} — check that the data fit params "
                             f"(keys, number of features): {type(exc).__name__}: {exc}") from exc
        raise TypeError(f"{what} failed when traced by JAX (it must be {expected}): {exc}") from exc


def check_apply(apply_fn, params, x, name="x"):
    """``apply_fn(params, x)`` evaluates (shapes only, nothing compiled) to an (n, d) array; returns its shape
    struct.  Errors name ``apply_fn`` and the inputs ``name``; used by every model trainer."""
    check_callable(apply_fn, "apply_fn", "apply_fn(params, x) -> (n, d)")
    try:
        out = jax.eval_shape(apply_fn, params, x if isinstance(x, jax.Array) else np.asarray(x))
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"apply_fn(params, {name}) failed on {name} of shape {tuple(np.shape(x))} — check that "
                         f"params fit {name} (number of features): {exc}") from exc
    if not hasattr(out, "shape") or len(out.shape) != 2 or out.shape[0] != np.shape(x)[0]:
        shape = tuple(out.shape) if hasattr(out, "shape") else type(out).__name__
        raise ValueError(f"apply_fn(params, {name}) must return an (n, d) array with n = {np.shape(x)[0]} rows, "
                         f"got {shape}")
    return out


def _run(loss_fn, params, data, *, lr, n_steps, record_steps, observers, project, optimizer, progress, desc,
         cache, what, pending):
    """GD on ``loss_fn(params, data)`` with observers ``fn(params, data)``; data and lr are arguments of the
    compiled programs, so with ``cache=True`` (hashable functions) a second run with the same functions and
    shapes reuses the compiled code."""
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
    _check_initial(loss_fn, params, data, observers, what, pending)

    key = (loss_fn, project, tuple(observers.items()), optimizer)
    advance, observe, step_one = cached(_programs, *key) if cache else _programs.__wrapped__(*key)
    lr_arg = np.float64(lr)  # an argument (float64[]), cast to each leaf's dtype in the step
    state = (params, () if optimizer is None else optimizer.init(params))
    recs = []
    iterator = range(len(record_steps))
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=desc, leave=False)
    current = 0
    for r in iterator:
        target = int(record_steps[r])
        good = state
        if target > current:
            state = advance(state, target - current, lr_arg, data)
        out, ok = observe(state[0], data)
        if not bool(ok):
            _raise_first_bad_step(lambda s: step_one(s, lr_arg, data), lambda q: observe(q, data), good, current,
                                  target)
        current = target
        recs.append(out)
    recs = jax.device_get(recs)
    records = {name: jax.tree_util.tree_map(lambda *xs: np.stack(xs), *(rec[name] for rec in recs))
               for name in recs[0]}
    history = History(step=record_steps.copy(), t=lr * record_steps.astype(float), records=records, lr=lr)
    return state[0], history


@functools.lru_cache(maxsize=64)
def _programs(loss_fn, project, observer_items, optimizer):
    """Compiled (advance, observe, step) for GD on ``loss_fn(params, data)``; cached on the functions.

    The carried state is (params, optimizer state); plain GD has the empty state ()."""
    observers = dict(observer_items)
    proj = project if project is not None else (lambda p: p)

    def one_step(state, lr, data):
        p, opt_state = state
        g = jax.grad(loss_fn)(p, data)
        if optimizer is None:  # the step size in each leaf's dtype: float32 parameters stay float32
            p = jax.tree_util.tree_map(lambda a, b: a - lr.astype(a.dtype) * b, p, g)
        else:
            updates, opt_state = optimizer.update(g, opt_state, p)
            p = jax.tree_util.tree_map(lambda a, u: (a + u).astype(a.dtype), p, updates)
        return proj(p), opt_state

    @jax.jit
    def advance(state, k, lr, data):
        return jax.lax.fori_loop(0, k, lambda i, s: one_step(s, lr, data), state)

    @jax.jit
    def observe(p, data):
        val = loss_fn(p, data)
        out = {name: fn(p, data) for name, fn in observers.items()}
        out["loss"] = val
        return out, _tree_finite(p) & jnp.isfinite(val)

    return advance, observe, jax.jit(one_step)


def _raise_first_bad_step(step_one, observe, state, start, stop):
    _, ok = observe(state[0])
    if not bool(ok):  # only when ``start`` was never recorded: the initial state (step 0)
        raise NonFiniteError(start, "loss or parameters")
    for s in range(start + 1, stop + 1):
        state = step_one(state)
        _, ok = observe(state[0])
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
    x, x_prime = check_pairs(x, x_prime)
    check_apply(apply_fn, params, x)
    obs = {"eigenvalues": cached(_barlow_eigenvalues, apply_fn)}
    obs.update(params_observers(observers))
    data = {"x": x, "xp": x_prime}
    return _train_model(cached(_barlow_loss, apply_fn), params, data, obs, ntk_fn, lr=lr, n_steps=n_steps,
                        record_steps=record_steps, n_records=n_records, project=project, progress=progress,
                        desc=desc)


def _train_model(loss_fn, params, data, obs, ntk_fn, *, lr, n_steps, record_steps, n_records, project, progress,
                 desc):
    """The part shared by the model trainers: NTK drift observer, record schedule, cached programs."""
    if ntk_fn is not None:
        obs["ntk_drift"], data["K0"] = _drift_observer(ntk_fn, params)
    if record_steps is None:
        record_steps = record_schedule(n_steps, n_records)
    return gradient_descent(loss_fn, params, data, lr=lr, n_steps=n_steps, record_steps=record_steps,
                            observers=obs, project=project, progress=progress, desc=desc)


def cached(builder, *fns):
    """``builder(*fns)`` from the builder's ``functools`` cache, or built afresh when a function is not hashable.

    The paper trainers build their losses and observers ``(params, data) -> ...`` with cached module-level
    builders keyed on the model functions: the same model gives the same loss object, and so the compiled
    programs of :func:`gradient_descent` are reused.
    """
    try:
        hash(fns)
    except TypeError:
        return builder.__wrapped__(*fns)
    return builder(*fns)


# Loss and observer builders keyed on apply_fn (and ntk_fn): a second run of the same model with data
# of the same shapes reuses the compiled programs of :func:`_run`.


@functools.lru_cache(maxsize=32)
def _barlow_loss(apply_fn):
    """‖C − I‖_F² of the embeddings of the pairs (S1–S2): :func:`dynamics.losses.barlow_twins`, symmetrised."""
    return lambda p, data: losses.barlow_twins(apply_fn(p, data["x"]), apply_fn(p, data["xp"]), symmetrize=True)


@functools.lru_cache(maxsize=32)
def _barlow_eigenvalues(apply_fn):
    """Eigenvalues, decreasing, of the symmetrised cross-correlation C = (Fᵀ F' + F'ᵀ F)/(2n) (S2)."""

    def eigenvalues(p, data):
        m = apply_fn(p, data["x"]).T @ apply_fn(p, data["xp"])
        return jnp.linalg.eigvalsh((m + m.T) / (2 * data["x"].shape[0]))[::-1]

    return eigenvalues


@functools.lru_cache(maxsize=32)
def _mse_loss(apply_fn):
    """(1/2n) Σ_i ‖f(x_i) − y_i‖²: :func:`dynamics.losses.mse`."""
    return lambda p, data: losses.mse(apply_fn(p, data["x"]), data["y"])


@functools.lru_cache(maxsize=64)
def _params_observer(fn):
    return lambda p, data: fn(p)


def params_observer(fn):
    """The observer ``(params, data) -> fn(params)`` of the data form of :func:`gradient_descent`, one object
    per ``fn`` (cached), so that a trainer taking observers of the parameters alone keeps its compiled
    programs from run to run."""
    check_callable(fn, "fn", "fn(params) -> array")
    return cached(_params_observer, fn)


def params_observers(observers):
    """:func:`params_observer` for each entry of a dict name -> ``fn(params)`` (None: no observers)."""
    if observers is not None and not isinstance(observers, dict):
        raise TypeError(f"observers must be a dict name -> callable(params), got {type(observers).__name__}")
    out = {}
    for name, fn in (observers or {}).items():
        check_callable(fn, f"observers[{name!r}]", "fn(params) -> array")
        out[name] = cached(_params_observer, fn)
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
    out = check_apply(apply_fn, params, x)
    if tuple(out.shape) != y.shape:
        raise ValueError(f"y must have the shape of the outputs apply_fn(params, x) {tuple(out.shape)}, got {y.shape}")
    data = {"x": x, "y": y}
    return _train_model(cached(_mse_loss, apply_fn), params, data, params_observers(observers), ntk_fn, lr=lr,
                        n_steps=n_steps, record_steps=record_steps, n_records=n_records, project=None,
                        progress=progress, desc="supervised MSE")


def _drift_observer(ntk_fn, params0):
    """(observer, K(0)): the observer reads K(0) from the run's data, so that it can be cached on ntk_fn."""
    check_callable(ntk_fn, "ntk_fn", "ntk_fn(params) -> K")
    return cached(_drift_from_data, ntk_fn), jnp.asarray(ntk_fn(params0))


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
    x, x_prime = check_pairs(x, x_prime)
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
    return train_barlow(_linear_apply, jax.device_put(W0), x, x_prime, lr=lr, n_steps=n_steps,
                        record_steps=record_steps, observers=observers, progress=progress,
                        desc="Barlow Twins (linear)")


def _linear_apply(W, inp):
    """f(x) = W x for the rows of inp (S §3)."""
    return inp @ W.T


def _identity(W):
    return W
