"""One integrator configuration for every flow in the package.

``integrate(vector_field, y0, ts, args, t0=0.0)`` solves dy/dt = vector_field(t, y, args) from
y(t0) = y0 with adaptive steps and returns y at every requested time ``ts`` (t0 <= ts[0] <= … ; the
start need not be a save time).  The flows it integrates are those of the papers the package follows:
the Barlow Twins weight flow S6 and its modal form S45 (Simon et al. (2023), "On the Stepwise Nature
of Self-Supervised Learning", ICML 2023, arXiv:2303.15438), the Grassmannian flow of E Thm 2 (Esser,
Mukherjee, Ghoshdastidar (2023), "Representation Learning Dynamics of Self-Supervised Models"), and the
frozen-kernel function-space flows dF/dt = −K ∇_F L (S §5, A Lemma 9: Anil, Esser, Ghoshdastidar
(2024), "When can we Approximate Wide Contrastive Models with Neural Tangent Kernels and Principal
Component Analysis?").  The default backend is diffrax (compiled, differentiable, runs unchanged on
GPU); ``backend="scipy"`` runs the same problem through scipy's ``solve_ivp`` solvers as an independent
cross-check.

Defaults, in one place.  :class:`SolverConfig` holds them: diffrax ``Dopri8`` (:data:`DEFAULT_SOLVER`),
rtol = :data:`DEFAULT_RTOL` = 1e-10, a scale-aware atol, a budget of :data:`DEFAULT_MAX_STEPS` steps.
Every flow of the package defaults to these; a comparison that needs tighter tolerances states them as
a named constant next to it.  ``solver`` is a name ("dopri8", "tsit5", "dopri5", "kvaerno5"; a
``solve_ivp`` method with the scipy backend) or any diffrax solver object (``diffrax.Dopri8()``);
``controller`` is any diffrax step-size controller (``diffrax.PIDController(rtol=…, atol=…,
pcoeff=…)``, ``diffrax.ConstantStepSize()`` with ``dt0``), used exactly as given; without one a
``PIDController(rtol, atol)`` is built.  Tolerances enter the compiled solve as arrays, so a new atol
(the scale-aware one changes with every y0) reuses the compiled program instead of recompiling it.

Error control.  A step is accepted when the RMS over entries of error_i / (atol + rtol |y_i|) is
below 1.  With the default ``atol=None`` the absolute tolerance follows the size of the initial state,
atol = rtol · 1e-3 · max|y0| (:func:`scale_aware_atol`): an absolute tolerance fixed in advance (say
1e-14) is far above the state when the initialisation is small (1e-20 … 1e-150, the small-init regime
of S §4), and the controller then accepts steps whose error is larger than the state itself.

Failures.  The outcome is read from diffrax's result code (``Solution.result``, compared with
``diffrax.RESULTS``): both backends stop after ``max_steps`` steps and raise :class:`IntegrationError`
naming the budget and the time reached; a state or field that becomes NaN/inf is reported as such.
Explicit solvers near an attracting fixed point are limited by stability to steps of about
5/|largest rate|, so a horizon of t = 1e12 cannot be reached by stepping: the error says so quickly
instead of running for minutes (use a closed form, or an implicit solver such as ``solver="kvaerno5"``
for small stiff problems).
"""

from __future__ import annotations

import dataclasses
import functools
import numbers

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from ._validation import (
    as_array,
    as_times,
    check_callable,
    check_choice,
    check_positive,
    check_positive_int,
)

__all__ = [
    "ATOL_FRACTION", "DEFAULT_BACKEND", "DEFAULT_MAX_STEPS", "DEFAULT_RTOL", "DEFAULT_SOLVER", "IntegrationError",
    "SolverConfig", "integrate", "scale_aware_atol",
]

_DIFFRAX_SOLVERS = {
    "tsit5": diffrax.Tsit5,
    "dopri5": diffrax.Dopri5,
    "dopri8": diffrax.Dopri8,
    "kvaerno5": diffrax.Kvaerno5,
}
_SCIPY_METHODS = {"RK45", "DOP853", "LSODA", "Radau", "BDF", "RK23"}

#: Default solver: diffrax's 8th-order Dormand–Prince (``"dopri8"``; scipy's ``DOP853`` with the scipy backend).
DEFAULT_SOLVER = "dopri8"

#: Default backend.
DEFAULT_BACKEND = "diffrax"

#: Default relative tolerance of every flow in the package.
DEFAULT_RTOL = 1e-10

#: Default step budget: a few seconds of stepping for the package's flows, so a horizon that
#: cannot be reached fails fast (the package's own checks need at most a few thousand steps).
DEFAULT_MAX_STEPS = 100_000

#: With ``atol=None``: atol = rtol · ATOL_FRACTION · (scale of the state).
ATOL_FRACTION = 1e-3

_TINY = float(np.finfo(np.float64).tiny)


class IntegrationError(RuntimeError):
    """The solver did not reach the last requested time (step budget, stiffness or blow-up).

    Raised by the integrated flows of the package (S6, S45, E9, A Lemma 9) when the solve fails.
    """


def scale_aware_atol(rtol: float, scale: float) -> float:
    """Absolute tolerance rtol · 1e-3 · scale, floored at the smallest normal float (never 0: 0/0 in the norm).

    ``scale`` is the size of the state the tolerance must resolve (max|y0| by default in
    :func:`integrate`; the smallest singular value of W0 for the Barlow flow S6, whose modes
    are learned one after another from very different sizes)."""
    return max(float(rtol) * ATOL_FRACTION * float(scale), _TINY)


def _solver_label(solver) -> str:
    return solver if isinstance(solver, str) else type(solver).__name__


def _check_solver(solver, backend):
    if backend == "scipy":
        if not isinstance(solver, str):
            raise TypeError(f"solver must be a solve_ivp method name {sorted(_SCIPY_METHODS)} with backend='scipy', "
                            f"got a {type(solver).__name__} object")
        return check_choice("DOP853" if solver == DEFAULT_SOLVER else solver, "solver", _SCIPY_METHODS)
    if isinstance(solver, diffrax.AbstractSolver):
        return solver
    if not isinstance(solver, str):
        raise TypeError(f"solver must be a name {sorted(_DIFFRAX_SOLVERS)} or a diffrax solver object "
                        f"(e.g. diffrax.Dopri8()), got {type(solver).__name__}")
    return check_choice(solver, "solver", set(_DIFFRAX_SOLVERS))


@dataclasses.dataclass(frozen=True)
class SolverConfig:
    """How a flow is integrated: the defaults of every flow in the package, in one place.

    Used by every integrated flow of the package (S6, S45, E9, E10, A Lemma 9, S40–S42).

    Fields: ``solver`` (a name or a diffrax solver object), ``rtol`` (> 0), ``atol`` (>= 0, or None
    for the scale-aware rtol · 1e-3 · max|y0|), ``max_steps`` (>= 1), ``backend`` ("diffrax" or
    "scipy"), ``controller`` (a diffrax step-size controller used as given — its own tolerances then
    apply and ``rtol``/``atol`` are not used — or None for ``PIDController(rtol, atol)``), ``dt0``
    (initial step > 0, or None to let the controller choose).  Validated at construction;
    ``config.replace(rtol=1e-12)`` gives a modified copy.
    """

    solver: object = DEFAULT_SOLVER
    rtol: float = DEFAULT_RTOL
    atol: float | None = None
    max_steps: int = DEFAULT_MAX_STEPS
    backend: str = DEFAULT_BACKEND
    controller: object = None
    dt0: float | None = None

    def __post_init__(self):
        check_choice(self.backend, "backend", {"diffrax", "scipy"})
        _check_solver(self.solver, self.backend)
        object.__setattr__(self, "rtol", check_positive(self.rtol, "rtol"))
        if self.atol is not None:
            object.__setattr__(self, "atol", check_positive(self.atol, "atol", allow_zero=True))
        object.__setattr__(self, "max_steps", check_positive_int(self.max_steps, "max_steps"))
        if self.dt0 is not None:
            object.__setattr__(self, "dt0", check_positive(self.dt0, "dt0"))
        if self.controller is not None:
            if not isinstance(self.controller, diffrax.AbstractStepSizeController):
                raise TypeError("controller must be a diffrax step-size controller (e.g. diffrax.PIDController(rtol=..., "
                                f"atol=...)), got {type(self.controller).__name__}")
            if self.backend == "scipy":
                raise ValueError("controller is a diffrax step-size controller: it needs backend='diffrax' (scipy's "
                                 "solvers control their steps from rtol and atol)")
            if (not isinstance(self.controller, diffrax.AbstractAdaptiveStepSizeController)
                    and isinstance(self.controller, diffrax.ConstantStepSize) and self.dt0 is None):
                raise ValueError("dt0 must be given with controller=diffrax.ConstantStepSize() (the fixed step size)")

    def replace(self, **changes) -> SolverConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


#: The package's defaults (:class:`SolverConfig` with no arguments).
DEFAULT_CONFIG = SolverConfig()


def integrate(
    vector_field,
    y0,
    ts,
    args=None,
    *,
    t0: float = 0.0,
    config: SolverConfig | None = None,
    backend: str | None = None,
    solver=None,
    rtol: float | None = None,
    atol: float | None = None,
    max_steps: int | None = None,
    dt0: float | None = None,
    controller=None,
    batch: bool = False,
):
    r"""Integrate dy/dt = vector_field(t, y, args) from y(t0) = y0 and return y at the times ``ts``.

    The one solver behind the integrated flows of the package (S6, S45, E9, E10, A Lemma 9, S40–S42): $y(t) = y_0 + \int_{t_0}^{t} f(s, y(s))\,ds$.

    Parameters
    ----------
    vector_field : callable (t, y, args) -> dy/dt, written with ``jax.numpy``; it must return a real
        array of the shape of y (checked once, before solving, with ``jax.eval_shape``).
    y0 : initial state at time ``t0`` (real array, finite).  Subnormal entries (0 < |y| < 2.2e-308) are
        rejected: XLA flushes them to zero, so the flow would silently start from another state.
    ts : (T,) finite, non-decreasing save times with ts[0] >= t0 (t0 itself need not be one of them;
        where it is, the saved state is y0).
    t0 : start time (a finite real number, default 0: gradient-flow time starts at 0).
    config : a :class:`SolverConfig`; the keyword options below override its fields one by one
        (None: take the field from ``config``, whose defaults are the package's).
    backend : "diffrax" (default) or "scipy".
    solver : diffrax solver name ("dopri8" (default), "tsit5", "dopri5", "kvaerno5") or object
        (``diffrax.Dopri8()``, ``diffrax.Kvaerno5()`` ...); with backend="scipy", a ``solve_ivp`` method
        ("DOP853" (default), "RK45", "LSODA", ...).
    rtol : relative tolerance (default :data:`DEFAULT_RTOL`).
    atol : absolute tolerance; ``None`` (default) = rtol · 1e-3 · max|y0| (the scale of the
        initial state; rtol · 1e-3 if y0 = 0), see :func:`scale_aware_atol`.  ``0`` means purely
        relative control (floored at the smallest normal float).
    max_steps : step budget (both backends), an integer >= 1; exceeding it raises
        :class:`IntegrationError` with the time reached.
    dt0 : initial step (> 0; the step itself with ``diffrax.ConstantStepSize``), or None to let the
        controller choose.
    controller : a diffrax step-size controller, used exactly as given (its own rtol/atol then apply:
        giving ``rtol`` or ``atol`` as well is an error), or None for ``PIDController(rtol, atol)``.
        With ``batch`` a given controller's norm acts on the stacked state.
    batch : ``y0`` has a leading batch axis of independent initial conditions; with diffrax
        they are solved together as one stacked system with shared adaptive steps (the error
        norm is the largest per-member RMS, so every member meets the tolerance); scipy loops.

    Returns
    -------
    (T, *y0.shape) NumPy array, or (B, T, *y0.shape[1:]) with ``batch``.
    """
    check_callable(vector_field, "vector_field", "vector_field(t, y, args) -> dy/dt")
    if config is None:
        config = DEFAULT_CONFIG
    elif not isinstance(config, SolverConfig):
        raise TypeError(f"config must be a SolverConfig, got {type(config).__name__}")
    if controller is not None and (rtol is not None or atol is not None):
        raise ValueError("give the tolerances either in controller (a diffrax step-size controller, used as given) "
                         "or as rtol/atol, not both")
    changes = {k: v for k, v in (("backend", backend), ("solver", solver), ("rtol", rtol), ("atol", atol),
                                 ("max_steps", max_steps), ("dt0", dt0), ("controller", controller)) if v is not None}
    cfg = config.replace(**changes) if changes else config
    backend, rtol, atol, max_steps, dt0 = cfg.backend, cfg.rtol, cfg.atol, cfg.max_steps, cfg.dt0
    solver = _check_solver(cfg.solver, backend)
    t0 = _check_t0(t0)
    # Any finite non-decreasing times: a generic integrator may start before 0.
    ts = as_times(ts, "ts", nonnegative=False)
    if ts[0] < t0:
        raise ValueError(f"ts must be >= t0 = {t0:.6g} (the flow starts at t0), got ts[0] = {ts[0]:.6g}")
    y0_np = as_array(y0, "y0")
    _check_not_subnormal(y0_np)
    if batch and y0_np.ndim < 1:
        raise ValueError("y0 must have a leading batch axis when batch=True")
    if batch and y0_np.shape[0] == 0:
        raise ValueError("y0 must hold at least one initial condition when batch=True")
    y0 = jnp.asarray(y0_np)
    _check_field_output(vector_field, t0, y0[0] if batch else y0, args)
    if atol is None:
        scale = float(np.max(np.abs(y0_np))) if y0_np.size else 0.0
        atol = scale_aware_atol(rtol, scale if scale > 0 else 1.0)
    atol = max(atol, _TINY)
    if ts[-1] == t0:
        shape = (y0.shape[0], len(ts)) + y0.shape[1:] if batch else (len(ts),) + y0.shape
        return np.broadcast_to(np.expand_dims(y0_np, 1 if batch else 0), shape).copy()
    if backend == "scipy":
        if batch:
            return np.stack([_integrate_scipy(vector_field, y, t0, ts, args, solver, rtol, atol, max_steps, dt0)
                             for y in y0])
        return _integrate_scipy(vector_field, y0, t0, ts, args, solver, rtol, atol, max_steps, dt0)
    field = _stacked_field(vector_field) if batch else vector_field
    ctrl = cfg.controller if cfg.controller is not None else _pid(rtol, atol, batch, y0.dtype)
    sol = _diffeqsolve(field, solver, y0, t0, jnp.asarray(ts), args, ctrl, max_steps, dt0)
    ys = np.asarray(sol.ys)[:-1]  # the last save is the state where the solve stopped (SaveAt t1)
    _raise_on_failure(sol, ys, t0, ts, max_steps, _solver_label(solver), field, args)
    return np.moveaxis(ys, 0, 1) if batch else ys


def _check_t0(t0) -> float:
    """The start time: a finite real number (0-d real NumPy/JAX arrays accepted)."""
    numeric = isinstance(t0, numbers.Real) or (
        np.ndim(t0) == 0 and hasattr(t0, "dtype") and (np.issubdtype(np.dtype(t0.dtype), np.floating)
                                                       or np.issubdtype(np.dtype(t0.dtype), np.integer)))
    if not numeric or isinstance(t0, (bool, np.bool_)):
        raise TypeError(f"t0 must be a real number (the start time), got {type(t0).__name__}")
    t0 = float(t0)
    if not np.isfinite(t0):
        raise ValueError(f"t0 must be finite, got {t0}")
    return t0


def _check_not_subnormal(y0):
    sub = (y0 != 0) & (np.abs(y0) < _TINY)
    if np.any(sub):
        raise ValueError(
            f"y0 has {int(np.count_nonzero(sub))} subnormal entries (0 < |y0| < {_TINY:.3g}, smallest "
            f"{float(np.min(np.abs(y0[sub]))):.3g}): the compiled solver flushes subnormal numbers to zero, "
            "so the flow would start from a different state (a mode started there would never grow); "
            "rescale the problem or set those entries to 0")


def _check_field_output(vector_field, t0, y0, args):
    """Evaluate the field's output shape once (abstractly, no computation) and name a mismatch."""
    try:
        out = jax.eval_shape(vector_field, jnp.asarray(t0, y0.dtype), y0, args)
    except (ValueError, TypeError) as exc:
        # The field's own named errors (e.g. a shape check) are kept, prefixed with where they arose.
        cls = TypeError if isinstance(exc, TypeError) else ValueError
        raise cls(f"vector_field(t, y0, args) raised: {exc}") from exc
    if not isinstance(out, jax.ShapeDtypeStruct):
        got = type(out).__name__
        if isinstance(out, (list, tuple, dict)):
            got += f" of {len(out)} items"
        raise TypeError(f"vector_field must return a single array dy/dt of the shape of y, got {got}")
    if out.shape != y0.shape:
        raise ValueError(f"vector_field returned shape {tuple(out.shape)} but y0 has shape {tuple(y0.shape)} "
                         "(dy/dt must have the shape of y)")
    if not (jnp.issubdtype(out.dtype, jnp.floating) or jnp.issubdtype(out.dtype, jnp.integer)):
        raise TypeError(f"vector_field must return a real array, got dtype {out.dtype}")


def _raise_on_failure(sol, ys, t0, ts, max_steps, solver, field, args):
    ok = sol.result == diffrax.RESULTS.successful
    finite = bool(np.all(np.isfinite(ys)))
    if bool(ok) and finite:
        return
    # On a failure diffrax stores the saves made so far, then the state where it stopped (SaveAt t1).
    saved_t = np.asarray(sol.ts)
    finite_t = np.flatnonzero(np.isfinite(saved_t))
    t_reached = float(saved_t[finite_t[-1]]) if finite_t.size else float(t0)
    last = np.asarray(sol.ys)[finite_t[-1]] if finite_t.size else None
    n_done = int(np.count_nonzero(ts <= t_reached))
    where = f"at t = {t_reached:.6g} of t1 = {ts[-1]:.6g} ({n_done} of {len(ts)} requested times reached)"
    if last is not None and np.all(np.isfinite(last)):
        dy = np.asarray(field(jnp.asarray(t_reached), jnp.asarray(last), args))
        if not np.all(np.isfinite(dy)):
            raise IntegrationError(f"vector_field returned NaN/inf at the finite state {where}: the solver "
                                   "cannot step past it (a field undefined there, or an overflow inside it)")
    if bool(sol.result == diffrax.RESULTS.max_steps_reached):
        state = ""
        if last is not None and np.all(np.isfinite(last)):
            state = f"; max |y| there = {float(np.max(np.abs(last))):.3g}"
        raise IntegrationError(
            f"max_steps={max_steps} reached {where}{state}: more steps were needed (steps shrink at a finite-time "
            f"blow-up; near a stable fixed point the explicit solver {solver!r} is limited by stability to short "
            "steps). "
            "Raise max_steps, use a closed form, or an implicit solver (solver='kvaerno5') for a stiff problem")
    if not finite:
        raise IntegrationError(f"non-finite state (NaN or inf) {where}: the vector field returned NaN/inf "
                               "or the solution overflowed")
    raise IntegrationError(f"the solver stopped {where}: {sol.result}")


def _batch_max_rms(y):
    """Largest per-member RMS norm of a stacked state: every member of a batch meets the tolerance."""
    return jnp.max(jnp.sqrt(jnp.mean(jnp.reshape(y, (y.shape[0], -1)) ** 2, axis=1)))


def _pid(rtol, atol, batch, dtype):
    # Tolerances as arrays: diffeqsolve is compiled with Python floats as static values, so a float atol
    # (the scale-aware one differs for every y0) would recompile the whole solve on every call.
    atol = max(atol, float(jnp.finfo(dtype).tiny))  # never 0 in the state's precision (0/0 in the error norm)
    rtol, atol = jnp.asarray(rtol, dtype), jnp.asarray(atol, dtype)
    if batch:
        return diffrax.PIDController(rtol=rtol, atol=atol, norm=_batch_max_rms)
    return diffrax.PIDController(rtol=rtol, atol=atol)


def _diffeqsolve(vector_field, solver, y0, t0, ts, args, controller, max_steps, dt0):
    if isinstance(solver, str):
        solver = _DIFFRAX_SOLVERS[solver]()
    return diffrax.diffeqsolve(
        diffrax.ODETerm(vector_field),
        solver,
        t0=jnp.asarray(t0, ts.dtype),
        t1=ts[-1],
        dt0=None if dt0 is None else jnp.asarray(dt0, ts.dtype),
        y0=y0,
        args=args,
        # t1=True: one extra save, the state where the loop stopped (the time reached on a failure).
        saveat=diffrax.SaveAt(ts=ts, t1=True),
        stepsize_controller=controller,
        max_steps=max_steps,
        throw=False,
    )


@functools.lru_cache(maxsize=64)
def _stacked_field(vector_field):
    """One ODE for a stack of independent states: the field mapped over the leading axis."""
    # A single solve of the stacked system (shared adaptive steps, error controlled over the whole
    # batch) rather than a vmapped solve: on a CPU the per-step overhead, not the arithmetic,
    # dominates small problems, and lockstep vmapped while-loops pay it for every element.
    return lambda t, ys, args: jax.vmap(lambda y: vector_field(t, y, args))(ys)


class _NonFiniteField(ArithmeticError):
    def __init__(self, t, y):
        super().__init__(t)
        self.t, self.y = float(t), np.array(y)


def _scipy_solver(method):
    from scipy import integrate as si

    return {"RK45": si.RK45, "RK23": si.RK23, "DOP853": si.DOP853, "Radau": si.Radau, "BDF": si.BDF,
            "LSODA": si.LSODA}[method]


def _integrate_scipy(vector_field, y0, t0, ts, args, method, rtol, atol, max_steps, dt0):
    """``scipy.integrate`` step by step (the solvers behind ``solve_ivp``) from t0, so the step budget is enforced."""
    shape = y0.shape
    y0 = np.asarray(y0, dtype=np.float64)
    f = jax.jit(lambda t, y: vector_field(t, y.reshape(shape), args).reshape(-1))

    def fun(t, y):
        dy = np.asarray(f(t, jnp.asarray(y)), dtype=np.float64)
        if not np.all(np.isfinite(dy)):
            # scipy's step-size control loops on a NaN error estimate: stop here with the time.
            raise _NonFiniteField(t, y)
        return dy

    kw = {"first_step": dt0} if dt0 is not None else {}
    k = int(np.searchsorted(ts, t0, side="right"))  # save times equal to t0 hold y0

    def nonfinite(exc):
        size = float(np.max(np.abs(exc.y))) if np.all(np.isfinite(exc.y)) else np.inf
        return IntegrationError(f"vector_field returned NaN/inf at t = {exc.t:.6g} of t1 = {ts[-1]:.6g} ({k} of "
                                f"{len(ts)} requested times reached; scipy {method}), at a state with max |y| = "
                                f"{size:.3g}")

    try:
        ode = _scipy_solver(method)(fun, t0, y0.reshape(-1), float(ts[-1]), rtol=rtol, atol=atol, **kw)
    except _NonFiniteField as exc:
        raise nonfinite(exc) from None
    out = np.empty((len(ts), y0.size))
    out[:k] = y0.reshape(-1)
    steps = 0
    while ode.status == "running":
        if steps >= max_steps:
            raise IntegrationError(
                f"max_steps={max_steps} reached at t = {ode.t:.6g} of t1 = {ts[-1]:.6g} ({k} of {len(ts)} "
                f"requested times reached; scipy {method}): raise max_steps, use a closed form, or an "
                "implicit method (LSODA, Radau, BDF) for a stiff problem")
        try:
            message = ode.step()
        except _NonFiniteField as exc:
            raise nonfinite(exc) from None
        steps += 1
        if ode.status == "failed":
            raise IntegrationError(f"scipy {method} failed at t = {ode.t:.6g} of t1 = {ts[-1]:.6g}: {message}")
        if not np.all(np.isfinite(ode.y)):
            raise IntegrationError(f"non-finite state (NaN or inf) at t = {ode.t:.6g} of t1 = {ts[-1]:.6g} "
                                   f"(scipy {method})")
        j = int(np.searchsorted(ts, ode.t, side="right")) if ode.status == "running" else len(ts)
        if j > k:
            out[k:j] = np.atleast_2d(ode.dense_output()(ts[k:j]).T)
            k = j
    return out.reshape((len(ts),) + shape)
