"""One integrator wrapper for every flow in the package.

``integrate(vector_field, y0, ts, args)`` solves dy/dt = vector_field(t, y, args)
from ts[0] with adaptive steps and returns y at every requested time.  The
default backend is diffrax (compiled, differentiable, runs unchanged on GPU);
``backend="scipy"`` runs the same problem through scipy's ``solve_ivp`` solvers
as an independent cross-check.

Error control.  A step is accepted when the RMS over entries of
error_i / (atol + rtol |y_i|) is below 1.  With the default ``atol=None`` the
absolute tolerance follows the size of the initial state,
atol = rtol · 1e-3 · max|y0| (:func:`scale_aware_atol`): an absolute tolerance
fixed in advance (say 1e-14) is far above the state when the initialisation is
small (1e-20 … 1e-150, the small-init regime of S §4), and the controller then
accepts steps whose error is larger than the state itself.

Step budget.  Both backends stop after ``max_steps`` steps and raise
:class:`IntegrationError` naming the budget and the time reached; a state that
becomes NaN/inf is reported as such.  Explicit solvers near an attracting fixed
point are limited by stability to steps of about 5/|largest rate|, so a horizon of
t = 1e12 cannot be reached by stepping: the error says so quickly instead of
running for minutes (use a closed form, or an implicit solver such as
``solver="kvaerno5"`` for small stiff problems).
"""

from __future__ import annotations

import functools

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

_DIFFRAX_SOLVERS = {
    "tsit5": diffrax.Tsit5,
    "dopri5": diffrax.Dopri5,
    "dopri8": diffrax.Dopri8,
    "kvaerno5": diffrax.Kvaerno5,
}
_SCIPY_METHODS = {"RK45", "DOP853", "LSODA", "Radau", "BDF", "RK23"}

#: Default step budget: a few seconds of stepping for the package's flows, so a horizon that
#: cannot be reached fails fast (the package's own checks need at most a few thousand steps).
DEFAULT_MAX_STEPS = 100_000

#: With ``atol=None``: atol = rtol · ATOL_FRACTION · (scale of the state).
ATOL_FRACTION = 1e-3

_TINY = float(np.finfo(np.float64).tiny)


class IntegrationError(RuntimeError):
    """The solver did not reach the last requested time (step budget, stiffness or blow-up)."""


def scale_aware_atol(rtol: float, scale: float) -> float:
    """Absolute tolerance rtol · 1e-3 · scale, floored at the smallest normal float (never 0: 0/0 in the norm).

    ``scale`` is the size of the state the tolerance must resolve (max|y0| by default in
    :func:`integrate`; the smallest singular value of W0 for the Barlow flow S6, whose modes
    are learned one after another from very different sizes)."""
    return max(float(rtol) * ATOL_FRACTION * float(scale), _TINY)


def integrate(
    vector_field,
    y0,
    ts,
    args=None,
    *,
    backend: str = "diffrax",
    solver: str = "dopri8",
    rtol: float = 1e-10,
    atol: float | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    dt0: float | None = None,
    batch: bool = False,
):
    """Integrate dy/dt = vector_field(t, y, args) and return y at the times ``ts``.

    Parameters
    ----------
    vector_field : callable (t, y, args) -> dy/dt, written with ``jax.numpy``; it must return a real
        array of the shape of y (checked once, before solving, with ``jax.eval_shape``).
    y0 : initial state (real array, finite).  Subnormal entries (0 < |y| < 2.2e-308) are rejected:
        XLA flushes them to zero, so the flow would silently start from another state.
    ts : (T,) finite, non-decreasing times; integration starts at ts[0].
    backend : "diffrax" (default) or "scipy".
    solver : diffrax solver ("dopri8", "tsit5", "dopri5", "kvaerno5") or, with
        backend="scipy", a ``solve_ivp`` method ("DOP853", "RK45", "LSODA", ...).
    rtol : relative tolerance.
    atol : absolute tolerance; ``None`` (default) = rtol · 1e-3 · max|y0| (the scale of the
        initial state; rtol · 1e-3 if y0 = 0), see :func:`scale_aware_atol`.  ``0`` means purely
        relative control (floored at the smallest normal float).
    max_steps : step budget (both backends), an integer >= 1; exceeding it raises
        :class:`IntegrationError` with the time reached.
    dt0 : initial step (> 0), or None to let the controller choose.
    batch : ``y0`` has a leading batch axis of independent initial conditions; with diffrax
        they are solved together as one stacked system with shared adaptive steps (the error
        norm is the largest per-member RMS, so every member meets the tolerance); scipy loops.

    Returns
    -------
    (T, *y0.shape) NumPy array, or (B, T, *y0.shape[1:]) with ``batch``.
    """
    check_callable(vector_field, "vector_field", "vector_field(t, y, args) -> dy/dt")
    check_choice(backend, "backend", {"diffrax", "scipy"})
    rtol = check_positive(rtol, "rtol")
    if atol is not None:
        atol = check_positive(atol, "atol", allow_zero=True)
    max_steps = check_positive_int(max_steps, "max_steps")
    if dt0 is not None:
        dt0 = check_positive(dt0, "dt0")
    # Any finite non-decreasing times: a generic integrator may start before 0.
    ts = as_times(ts, "ts", nonnegative=False)
    y0_np = as_array(y0, "y0")
    _check_not_subnormal(y0_np)
    if batch and y0_np.ndim < 1:
        raise ValueError("y0 must have a leading batch axis when batch=True")
    if batch and y0_np.shape[0] == 0:
        raise ValueError("y0 must hold at least one initial condition when batch=True")
    y0 = jnp.asarray(y0_np)
    _check_field_output(vector_field, ts[0], y0[0] if batch else y0, args)
    if atol is None:
        scale = float(np.max(np.abs(y0_np))) if y0_np.size else 0.0
        atol = scale_aware_atol(rtol, scale if scale > 0 else 1.0)
    atol = max(atol, _TINY)
    if backend == "scipy":
        if solver == "dopri8":
            solver = "DOP853"
        check_choice(solver, "solver", _SCIPY_METHODS)
        if batch:
            return np.stack([_integrate_scipy(vector_field, y, ts, args, solver, rtol, atol, max_steps, dt0)
                             for y in y0])
        return _integrate_scipy(vector_field, y0, ts, args, solver, rtol, atol, max_steps, dt0)
    check_choice(solver, "solver", set(_DIFFRAX_SOLVERS))
    if ts[-1] == ts[0]:
        shape = (y0.shape[0], len(ts)) + y0.shape[1:] if batch else (len(ts),) + y0.shape
        return np.broadcast_to(np.expand_dims(y0_np, 1 if batch else 0), shape).copy()
    if batch:
        sol = _diffeqsolve(_stacked_field(vector_field), solver, y0, jnp.asarray(ts), args, rtol, atol, max_steps,
                           dt0, norm=_batch_max_rms)
    else:
        sol = _diffeqsolve(vector_field, solver, y0, jnp.asarray(ts), args, rtol, atol, max_steps, dt0)
    ys = np.asarray(sol.ys)[:-1]  # the last save is the state where the solve stopped (SaveAt t1)
    _raise_on_failure(sol, ys, ts, max_steps, solver, batch, vector_field, args)
    return np.moveaxis(ys, 0, 1) if batch else ys


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


def _raise_on_failure(sol, ys, ts, max_steps, solver, batch, vector_field, args):
    ok = sol.result == diffrax.RESULTS.successful
    finite = bool(np.all(np.isfinite(ys)))
    if bool(ok) and finite:
        return
    # On a failure diffrax stores the saves made so far, then the state where it stopped (SaveAt t1).
    saved_t = np.asarray(sol.ts)
    finite_t = np.flatnonzero(np.isfinite(saved_t))
    t_reached = float(saved_t[finite_t[-1]]) if finite_t.size else float(ts[0])
    last = np.asarray(sol.ys)[finite_t[-1]] if finite_t.size else None
    n_done = int(np.count_nonzero(ts <= t_reached))
    where = f"at t = {t_reached:.6g} of t1 = {ts[-1]:.6g} ({n_done} of {len(ts)} requested times reached)"
    if last is not None and np.all(np.isfinite(last)):
        field = _stacked_field(vector_field) if batch else vector_field
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


def _diffeqsolve(vector_field, solver_name, y0, ts, args, rtol, atol, max_steps, dt0, norm=None):
    term = diffrax.ODETerm(vector_field)
    solver = _DIFFRAX_SOLVERS[solver_name]()
    controller = (diffrax.PIDController(rtol=rtol, atol=atol) if norm is None
                  else diffrax.PIDController(rtol=rtol, atol=atol, norm=norm))
    return diffrax.diffeqsolve(
        term,
        solver,
        t0=ts[0],
        t1=ts[-1],
        dt0=dt0,
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


def _integrate_scipy(vector_field, y0, ts, args, method, rtol, atol, max_steps, dt0):
    """``scipy.integrate`` step by step (the solvers behind ``solve_ivp``), so the step budget is enforced."""
    shape = y0.shape
    y0 = np.asarray(y0, dtype=np.float64)
    if ts[-1] == ts[0]:
        return np.broadcast_to(y0, (len(ts),) + shape).copy()
    f = jax.jit(lambda t, y: vector_field(t, y.reshape(shape), args).reshape(-1))

    def fun(t, y):
        dy = np.asarray(f(t, jnp.asarray(y)), dtype=np.float64)
        if not np.all(np.isfinite(dy)):
            # scipy's step-size control loops on a NaN error estimate: stop here with the time.
            raise _NonFiniteField(t, y)
        return dy

    kw = {"first_step": dt0} if dt0 is not None else {}
    k = int(np.searchsorted(ts, ts[0], side="right"))

    def nonfinite(exc):
        size = float(np.max(np.abs(exc.y))) if np.all(np.isfinite(exc.y)) else np.inf
        return IntegrationError(f"vector_field returned NaN/inf at t = {exc.t:.6g} of t1 = {ts[-1]:.6g} ({k} of "
                                f"{len(ts)} requested times reached; scipy {method}), at a state with max |y| = "
                                f"{size:.3g}")

    try:
        ode = _scipy_solver(method)(fun, float(ts[0]), y0.reshape(-1), float(ts[-1]), rtol=rtol, atol=atol, **kw)
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
