"""One integrator wrapper for every flow in the package.

``integrate(vector_field, y0, ts, args)`` solves dy/dt = vector_field(t, y, args)
from ts[0] with adaptive steps and returns y at every requested time.  The
default backend is diffrax (compiled, differentiable, runs unchanged on GPU);
``backend="scipy"`` runs the same problem through ``scipy.integrate.solve_ivp``
as an independent cross-check.
"""

from __future__ import annotations

import functools

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from ._validation import (
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


class IntegrationError(RuntimeError):
    """The solver did not reach the last requested time (step budget, stiffness or blow-up)."""


def integrate(
    vector_field,
    y0,
    ts,
    args=None,
    *,
    backend: str = "diffrax",
    solver: str = "dopri8",
    rtol: float = 1e-10,
    atol: float = 1e-14,
    max_steps: int = 1_000_000,
    dt0: float | None = None,
    batch: bool = False,
):
    """Integrate dy/dt = vector_field(t, y, args) and return y at the times ``ts``.

    Parameters
    ----------
    vector_field : callable (t, y, args) -> dy/dt, written with ``jax.numpy``.
    y0 : initial state (array).
    ts : (T,) finite, non-decreasing times; integration starts at ts[0].
    backend : "diffrax" (default) or "scipy".
    solver : diffrax solver ("dopri8", "tsit5", "dopri5", "kvaerno5") or, with
        backend="scipy", a ``solve_ivp`` method ("DOP853", "RK45", "LSODA", ...).
    rtol, atol : step-size controller tolerances.
    max_steps : step budget (diffrax), an integer >= 1.
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
    atol = check_positive(atol, "atol", allow_zero=True)
    max_steps = check_positive_int(max_steps, "max_steps")
    if dt0 is not None:
        dt0 = check_positive(dt0, "dt0")
    # Any finite non-decreasing times: a generic integrator may start before 0.
    ts = as_times(ts, "ts", nonnegative=False)
    y0 = jnp.asarray(y0)
    if not bool(jnp.all(jnp.isfinite(y0))):
        raise ValueError(f"y0 must be finite, got {int(jnp.size(y0) - jnp.count_nonzero(jnp.isfinite(y0)))} "
                         "non-finite entries (NaN or inf)")
    if batch and y0.ndim < 1:
        raise ValueError("y0 must have a leading batch axis when batch=True")
    if backend == "scipy":
        if solver == "dopri8":
            solver = "DOP853"
        check_choice(solver, "solver", _SCIPY_METHODS)
        if batch:
            return np.stack([_integrate_scipy(vector_field, y, ts, args, solver, rtol, atol) for y in y0])
        return _integrate_scipy(vector_field, y0, ts, args, solver, rtol, atol)
    check_choice(solver, "solver", set(_DIFFRAX_SOLVERS))
    if ts[-1] == ts[0]:
        shape = (y0.shape[0], len(ts)) + y0.shape[1:] if batch else (len(ts),) + y0.shape
        return np.broadcast_to(np.expand_dims(np.asarray(y0), 1 if batch else 0), shape).copy()
    if batch:
        sol = _solve_batch(vector_field, solver, y0, jnp.asarray(ts), args, rtol, atol, max_steps, dt0)
    else:
        sol = _diffeqsolve(vector_field, solver, y0, jnp.asarray(ts), args, rtol, atol, max_steps, dt0)
    if not bool(jnp.all(jnp.isfinite(sol))):
        raise IntegrationError(
            "integration did not reach the last requested time (step budget max_steps="
            f"{max_steps} exhausted, or the solution blew up)"
        )
    return np.asarray(sol)


def _batch_max_rms(y):
    """Largest per-member RMS norm of a stacked state: every member of a batch meets the tolerance."""
    return jnp.max(jnp.sqrt(jnp.mean(jnp.reshape(y, (y.shape[0], -1)) ** 2, axis=1)))


def _diffeqsolve(vector_field, solver_name, y0, ts, args, rtol, atol, max_steps, dt0, norm=None):
    term = diffrax.ODETerm(vector_field)
    solver = _DIFFRAX_SOLVERS[solver_name]()
    controller = (diffrax.PIDController(rtol=rtol, atol=atol) if norm is None
                  else diffrax.PIDController(rtol=rtol, atol=atol, norm=norm))
    sol = diffrax.diffeqsolve(
        term,
        solver,
        t0=ts[0],
        t1=ts[-1],
        dt0=dt0,
        y0=y0,
        args=args,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=controller,
        max_steps=max_steps,
        throw=False,
    )
    return sol.ys


@functools.lru_cache(maxsize=64)
def _stacked_field(vector_field):
    """One ODE for a stack of independent states: the field mapped over the leading axis."""
    return lambda t, ys, args: jax.vmap(lambda y: vector_field(t, y, args))(ys)


def _solve_batch(vector_field, solver_name, y0s, ts, args, rtol, atol, max_steps, dt0):
    # A single solve of the stacked system (shared adaptive steps, error controlled over the whole
    # batch) rather than a vmapped solve: on a CPU the per-step overhead, not the arithmetic,
    # dominates small problems, and lockstep vmapped while-loops pay it for every element.
    ys = _diffeqsolve(_stacked_field(vector_field), solver_name, y0s, ts, args, rtol, atol, max_steps, dt0,
                      norm=_batch_max_rms)
    return jnp.moveaxis(ys, 0, 1)


def _integrate_scipy(vector_field, y0, ts, args, method, rtol, atol):
    from scipy.integrate import solve_ivp

    shape = y0.shape
    f = jax.jit(lambda t, y: vector_field(t, y.reshape(shape), args).reshape(-1))

    def fun(t, y):
        return np.asarray(f(t, jnp.asarray(y)))

    if ts[-1] == ts[0]:
        return np.broadcast_to(np.asarray(y0), (len(ts),) + shape).copy()
    res = solve_ivp(
        fun, (float(ts[0]), float(ts[-1])), np.asarray(y0).reshape(-1), method=method,
        t_eval=np.asarray(ts), rtol=rtol, atol=atol,
    )
    if not res.success:
        raise IntegrationError(f"solve_ivp({method}) failed: {res.message}")
    return res.y.T.reshape((len(ts),) + shape)
