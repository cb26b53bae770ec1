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

from . import losses, parallel
from ._validation import as_matrix, check_callable, check_pairs, check_positive, check_positive_int


class NonFiniteError(FloatingPointError):
    """Training produced a non-finite loss or parameter; ``step`` is the first bad step.

    The guard of every gradient-descent result (S5, A1, ...): an overflow stops the run instead of filling the
    records with NaN; the overflow time of the dot-product blow-up (A Prop 10) is the ``step`` it reports."""

    def __init__(self, step: int, what: str, run: int | None = None):
        self.step = step
        self.run = run
        where = "" if run is None else f" in run {run}"
        if step == 0:
            msg = (f"non-finite {what} at step 0{where}, at initialisation (before any gradient step): the model "
                   f"output or the loss is NaN/inf at the initial parameters on this data — check the model, the "
                   f"loss and the data; the learning rate plays no part yet")
        else:
            msg = f"non-finite {what} at step {step}{where}: reduce the learning rate or the init scale"
        super().__init__(msg)


@dataclass
class History:
    r"""What a training run recorded.

    Time is gradient-flow time $t = \eta \cdot \text{step}$ (S §4: gradient descent with step $\eta$ follows the
    flow $\dot W = -\nabla_W L$ as $\eta \to 0$), the axis on which runs are compared with S10 and the kernel
    flows.

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
    r"""Steps at which to record: 0, n_steps and ``n_records`` points log- (or linearly) spaced between.

    Recorded steps become gradient-flow times $t = \eta \cdot \text{step}$ (S §4); log spacing resolves both the
    plateaus and the fast drops of the stepwise loss (S20)."""
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
    loss_fn, data, observers, optimizer, cache, what, pending = _check_run_arguments(loss_fn, data, observers, project,
                                                                                   optimizer)
    return _run(loss_fn, params, data, lr=lr, n_steps=n_steps, record_steps=record_steps, observers=observers,
                project=project, optimizer=optimizer, progress=progress, desc=desc, cache=cache, what=what,
                pending=pending)


def _check_run_arguments(loss_fn, data, observers, project, optimizer):
    """The validated arguments shared by :func:`gradient_descent` and :func:`gradient_descent_batched`; a loss
    without data is closed over (``loss_fn(params)``), one with data is cached by the trainer."""
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
    return loss_fn, data, observers, optimizer, cache, what, pending


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
    struct.  Errors name ``apply_fn`` and the inputs ``name``; used by every model trainer.

    It serves the trainers of the gradient-descent results (S5, A1, F Thm 1, ...)."""
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
    one_step, observe_one = _step_and_observe(loss_fn, project, observer_items, optimizer)

    @jax.jit
    def advance(state, k, lr, data):
        return jax.lax.fori_loop(0, k, lambda i, s: one_step(s, lr, data), state)

    return advance, jax.jit(observe_one), jax.jit(one_step)


def _step_and_observe(loss_fn, project, observer_items, optimizer):
    """The un-jitted step (params, opt state) -> next and the observation (records, all finite) of one run,
    shared by :func:`_programs` and the vmapped :func:`_batched_programs`."""
    observers = dict(observer_items)
    proj = project if project is not None else (lambda p: p)

    def update(state, g, lr):
        p, opt_state = state
        if optimizer is None:  # the step size in each leaf's dtype: float32 parameters stay float32
            p = jax.tree_util.tree_map(lambda a, b: a - lr.astype(a.dtype) * b, p, g)
        else:
            updates, opt_state = optimizer.update(g, opt_state, p)
            p = jax.tree_util.tree_map(lambda a, u: (a + u).astype(a.dtype), p, updates)
        return proj(p), opt_state

    def one_step(state, lr, data):
        return update(state, jax.grad(loss_fn)(state[0], data), lr)

    def observe(p, data):
        val = loss_fn(p, data)
        out = {name: fn(p, data) for name, fn in observers.items()}
        out["loss"] = val
        return out, _tree_finite(p) & jnp.isfinite(val)

    one_step.update = update  # the step from a given gradient, for the batched programs
    return one_step, observe


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
# Runs in one program: B runs of the same shapes stacked along a leading axis and trained by jax.vmap


@dataclass
class BatchedHistory:
    r"""What B runs trained together recorded (:func:`gradient_descent_batched`); run b is :meth:`run` (b).

    Times follow S §4's convention, $t_b = \eta_b \cdot \text{step}$ for run b.

    Attributes
    ----------
    step : (R,) int array of recorded steps, shared by the runs (0 is the initial state).
    t : (B, R) gradient-flow times lr_b × step of each run.
    records : mapping name -> (B, R, ...) array (each leaf of a pytree observer likewise); always "loss".
    lr : (B,) learning rates.
    """

    step: np.ndarray
    t: np.ndarray
    records: dict = field(default_factory=dict)
    lr: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self):
        return int(self.lr.shape[0])

    def __getitem__(self, name):
        return self.records[name]

    def __contains__(self, name):
        return name in self.records

    @property
    def loss(self) -> np.ndarray:
        return self.records["loss"]

    def run(self, b: int) -> History:
        """The :class:`History` of run ``b`` alone (what :func:`gradient_descent` records for it)."""
        b = check_positive_int(b, "b", minimum=0)
        if b >= len(self):
            raise ValueError(f"b must be a run index below {len(self)}, got {b}")
        records = {k: jax.tree_util.tree_map(lambda a: a[b], v) for k, v in self.records.items()}
        return History(step=self.step.copy(), t=self.t[b].copy(), records=records, lr=float(self.lr[b]))


def _check_batched_lr(lr, B):
    """(B,) float64 learning rates from a number or a length-B vector, each finite and > 0."""
    if np.ndim(lr) == 0:
        return np.full(B, check_positive(lr, "lr"))
    raw = np.asarray(lr)
    if raw.dtype == np.bool_ or not np.issubdtype(raw.dtype, np.number) or np.iscomplexobj(raw):
        raise TypeError(f"lr must be a real number or a vector of one learning rate per run, got dtype {raw.dtype}")
    if raw.ndim != 1 or raw.shape[0] != B:
        raise ValueError(f"lr must be a number or one learning rate per run, shape ({B},), got shape {raw.shape}")
    raw = raw.astype(np.float64)
    bad = ~np.isfinite(raw) | (raw <= 0)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ValueError(f"lr must be finite and > 0 for every run, got {raw[i]} for run {i}")
    return raw


@jax.jit
def _runs_finite(leaves):
    """(B,) flags: is run b of every leaf finite (non-float leaves always are)."""
    flags = [jnp.all(jnp.isfinite(a).reshape(a.shape[0], -1), axis=1) for a in leaves
             if jnp.issubdtype(a.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(flags), axis=0) if flags else jnp.ones(leaves[0].shape[0], bool)


def gradient_descent_batched(loss_fn, params_batch, data=None, *, lr, n_steps=None, record_steps=None,
                             observers=None, project=None, optimizer=None, batch_data=False, sharding=None,
                             progress=False, desc="training (batched)") -> tuple[object, BatchedHistory]:
    """B runs of :func:`gradient_descent` trained together, ``jax.vmap`` over a leading axis, in one compiled program.

    Run b takes the steps of :func:`gradient_descent` from its own initial parameters ``params_batch[b]``,

        $\\theta^{(b)}_{k+1} = P\\big(\\theta^{(b)}_k - \\mathrm{lr}_b\\, \\nabla_\\theta L(\\theta^{(b)}_k)\\big)$,
        $t^{(b)}_k = \\mathrm{lr}_b\\, k$,

    the explicit Euler steps of the gradient flow dθ/dt = −∇L (S6; projected GD with P a retraction, E11,
    A Lemma 16), with its own learning rate lr_b.  The runs share the loss, the observers, the projection, the
    record steps and (unless ``batch_data``) the data; they must share their shapes, which is what the points of a
    sweep over seeds, learning rates or init scales do.  The loop of :func:`gradient_descent` over the runs
    computes the same numbers (the tests compare them to 1e-12 in float64, run by run); here the steps of all runs
    are one ``vmap`` inside one ``lax.fori_loop`` between records, compiled once and cached on the functions as in
    :func:`gradient_descent`.

    Parameters
    ----------
    loss_fn : ``loss_fn(params, data)`` -> real scalar for one run (``loss_fn(params)`` when ``data`` is None).
    params_batch : pytree whose every leaf has a leading axis of B >= 1 runs (:func:`dynamics.parallel.stack_runs`,
        :func:`dynamics.parallel.init_two_layer_batch`).
    data : pytree of arrays shared by the runs, or with ``batch_data`` one entry per run along axis 0.
    lr : a number, or a (B,) vector of per-run learning rates (each > 0).
    n_steps, record_steps, observers, project, optimizer, progress : as in :func:`gradient_descent`, for every
        run (an optax optimizer carries its own rate; ``lr`` is then only each run's clock).
    batch_data : the data leaves carry a leading axis of B runs (one data set per run).
    sharding : None (default device), or a ``jax.sharding.Mesh``, a ``(mesh, axis_name)`` pair or a
        ``NamedSharding`` splitting axis 0 (:func:`dynamics.parallel.leading_axis`): the runs are split across
        the devices of the mesh (B padded to a multiple of the number of shards with copies of run 0, the
        padding stripped from the results); the data are replicated (split with the runs if ``batch_data``).

    Returns
    -------
    (final params_batch, :class:`BatchedHistory`) — the final parameters keep the leading axis B (split across
    the devices with ``sharding``).

    Raises
    ------
    NonFiniteError
        naming the first step whose loss or parameters are not finite, and the run (``.run``) where it happened.
    """
    loss_fn, data, observers, optimizer, cache, what, pending = _check_run_arguments(loss_fn, data, observers, project,
                                                                                   optimizer)
    B = parallel.batch_size(params_batch, "params_batch")
    if batch_data:
        if data is None:
            raise ValueError("batch_data=True needs data (one data set per run along axis 0)")
        nb = parallel.batch_size(data, "data")
        if nb != B:
            raise ValueError(f"data must have one entry per run along axis 0 with batch_data=True: params_batch has "
                             f"B = {B} runs, data has {nb}")
    lrs = _check_batched_lr(lr, B)
    if n_steps is not None:
        n_steps = check_positive_int(n_steps, "n_steps")
    if record_steps is None:
        if n_steps is None:
            raise ValueError("give n_steps or record_steps")
        record_steps = record_schedule(n_steps)
    record_steps = _check_record_steps(record_steps)
    if n_steps is not None and record_steps[-1] != n_steps:
        raise ValueError(f"record_steps must end at n_steps={n_steps}, ends at {record_steps[-1]}")
    split = parallel.leading_axis(sharding, "sharding")

    # Shapes and types from run 0 (the runs share them); finiteness of every run.
    first = jax.tree_util.tree_map(lambda a: a[0], params_batch)
    data0 = jax.tree_util.tree_map(lambda a: a[0], data) if batch_data else data
    _check_initial(loss_fn, first, data0, observers, what, pending)
    ok = np.asarray(_runs_finite(jax.tree_util.tree_leaves(params_batch)))
    if not ok.all():
        raise ValueError(f"params_batch must be finite at step 0: run {int(np.argmin(ok))} contains NaN or inf")

    key = (loss_fn, project, tuple(observers.items()), optimizer, bool(batch_data))
    advance, observe, step_one = cached(_batched_programs, *key) if cache else _batched_programs.__wrapped__(*key)
    params_batch = jax.tree_util.tree_map(jnp.asarray, params_batch)
    lr_arg = lrs
    if split is not None:
        params_batch, lr_arg = split.put(split.pad((params_batch, lrs)))
        if data is not None:
            data = split.put(split.pad(data)) if batch_data else split.put_replicated(data)
    opt_state = () if optimizer is None else jax.vmap(optimizer.init)(params_batch)
    state = (params_batch, opt_state)
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
        if not bool(jnp.all(ok)):
            _raise_first_bad_batched(lambda s: step_one(s, lr_arg, data), lambda q: observe(q, data), good, current,
                                     target, B)
        current = target
        recs.append(out)
    recs = parallel.to_host(recs)
    records = {name: jax.tree_util.tree_map(lambda *xs: np.stack(xs, axis=1)[:B], *(rec[name] for rec in recs))
               for name in recs[0]}
    final = state[0] if split is None else split.strip(state[0], B)
    history = BatchedHistory(step=record_steps.copy(), t=lrs[:, None] * record_steps.astype(float)[None, :],
                             records=records, lr=lrs)
    return final, history


@functools.lru_cache(maxsize=64)
def _batched_programs(loss_fn, project, observer_items, optimizer, batch_data):
    """Compiled (advance, observe, step) of :func:`_programs`, each ``vmap``-ped over the leading axis of runs
    (and of the data with ``batch_data``); lr is a (B,) vector.  Cached on the functions."""
    one_step, observe_one = _step_and_observe(loss_fn, project, observer_items, optimizer)
    data_axis = 0 if batch_data else None
    losses_all = jax.vmap(loss_fn, in_axes=(0, data_axis))
    update_all = jax.vmap(one_step.update, in_axes=(0, 0, 0))

    def step_all(state, lr, data):
        # ∇ of Σ_b L(θ_b) is ∇L(θ_b) in block b (the runs are independent): the same gradients as vmap(grad),
        # and XLA:CPU runs this form as fast as the loop of single runs (vmap(grad) measured 4x slower there)
        g = jax.grad(lambda p: jnp.sum(losses_all(p, data)))(state[0])
        return update_all(state, g, lr)

    @jax.jit
    def advance(state, k, lr, data):
        return jax.lax.fori_loop(0, k, lambda i, s: step_all(s, lr, data), state)

    return advance, jax.jit(jax.vmap(observe_one, in_axes=(0, data_axis))), jax.jit(step_all)


def _raise_first_bad_batched(step_all, observe, state, start, stop, B):
    """Replay the runs step by step from ``state`` (at ``start``) and raise at the first step where a run (of the
    first B, the rest is padding) turns non-finite, naming the lowest such run."""
    def first_bad(ok):
        bad = ~np.asarray(ok)[:B]
        return int(np.argmax(bad)) if bad.any() else None

    run = first_bad(observe(state[0])[1])
    if run is not None:  # only when ``start`` was never recorded: the initial state (step 0)
        raise NonFiniteError(start, "loss or parameters", run=run)
    for s in range(start + 1, stop + 1):
        state = step_all(state)
        run = first_bad(observe(state[0])[1])
        if run is not None:
            raise NonFiniteError(s, "loss or parameters", run=run)
    raise NonFiniteError(stop, "loss or parameters")  # pragma: no cover - the records said a run was bad


def train_barlow_batched(apply_fn, params_batch, x, x_prime, *, lr, n_steps, record_steps=None, n_records=200,
                         observers=None, project=None, sharding=None, progress=False,
                         desc="Barlow Twins (batched)"):
    """B runs of :func:`train_barlow` (seeds, learning rates, init scales of one model) in one compiled program.

    Each run minimises the Barlow Twins loss of its embeddings, $L = \\|C - I_d\\|_F^2$ with
    $C = \\frac{1}{2n}(F^\\top F' + F'^\\top F)$ (S1–S2), by full-batch GD (S6 discretised) on the shared pairs,
    and records "loss" and "eigenvalues" of C (decreasing), exactly as :func:`train_barlow` does for one run
    (the same cached loss and observer objects, ``jax.vmap`` over the runs: :func:`gradient_descent_batched`).
    The NTK-drift observer ``ntk_fn`` of :func:`train_barlow` is not offered here (K(0) differs from run to run).

    Parameters
    ----------
    apply_fn : ``apply_fn(params, x) -> (n, d)`` for one run.
    params_batch : stacked initial parameters, leading axis B (e.g. :func:`dynamics.parallel.init_two_layer_batch`).
    x, x_prime : (n, m) positive pairs, shared by the runs.
    lr : a number or a (B,) vector;  n_steps, record_steps, n_records, observers (``fn(params)``), project,
        progress : as in :func:`train_barlow`;  sharding : as in :func:`gradient_descent_batched`.

    Returns
    -------
    (final params_batch, :class:`BatchedHistory`)
    """
    x, x_prime = check_pairs(x, x_prime)
    parallel.batch_size(params_batch, "params_batch")
    check_apply(apply_fn, jax.tree_util.tree_map(lambda a: a[0], params_batch), x)
    obs = {"eigenvalues": cached(_barlow_eigenvalues, apply_fn)}
    obs.update(params_observers(observers))
    if record_steps is None:
        record_steps = record_schedule(n_steps, n_records)
    return gradient_descent_batched(cached(_barlow_loss, apply_fn), params_batch, {"x": x, "xp": x_prime}, lr=lr,
                                    n_steps=n_steps, record_steps=record_steps, observers=obs, project=project,
                                    sharding=sharding, progress=progress, desc=desc)


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

    An engineering helper with no equation of its own: it serves the repeated runs of the width × seed sweeps (A
    Lemma 9, F Thm 1, S Fig 2).

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
    programs from run to run.

    Used for the observers of the contrastive trainer (A1) and the Grassmannian one (E11)."""
    check_callable(fn, "fn", "fn(params) -> array")
    return cached(_params_observer, fn)


def params_observers(observers):
    """:func:`params_observer` for each entry of a dict name -> ``fn(params)`` (None: no observers).

    Used by the contrastive (A1) and Grassmannian (E11) trainers."""
    if observers is not None and not isinstance(observers, dict):
        raise TypeError(f"observers must be a dict name -> callable(params), got {type(observers).__name__}")
    out = {}
    for name, fn in (observers or {}).items():
        check_callable(fn, f"observers[{name!r}]", "fn(params) -> array")
        out[name] = cached(_params_observer, fn)
    return out


def train_supervised(apply_fn, params, x, y, *, lr, n_steps, record_steps=None, n_records=200, observers=None,
                     ntk_fn=None, progress=False):
    r"""Supervised baseline: GD on the squared loss (1/2n) Σ_i ||f(x_i) − y_i||², same recorder as :func:`train_barlow`.

    $L = \frac{1}{2n}\sum_i \lVert f(x_i) - y_i\rVert^2$, the baseline of F's NTK-drift comparison (Fleissner et
    al. 2025: the NTK stays constant under Barlow Twins as it does under the squared loss)."""
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
