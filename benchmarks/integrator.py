"""2. Integrator: ``gradient_flow`` (diffrax, compiled) vs scipy ``solve_ivp`` (RK45, LSODA) on S6.

Same tolerances, m from 64 to 1024, d = 10; and a batch of 64 initial conditions
solved together (one stacked solve) vs looped.  Targets: >= 10x faster than the best
scipy method after compilation; batch >= 5x faster than the loop.  Compile time
reported separately.

A last row measures why the batch target is out of reach on a CPU: the Runge–Kutta
arithmetic itself (Dopri8, 13 stages, a fixed number of steps, a trivial field dy/dt = −y)
costs the same per member whether members are solved one at a time or 64 together, i.e.
a single solve is not dominated by per-step overhead that batching could amortise.
"""

from __future__ import annotations

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from dynamics import barlow

from ._harness import Row, best_time, timed

RTOL, ATOL = 1e-8, 1e-12


def _problem(m, d=10, seed=0):
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((m, m)))[0]
    gammas = np.geomspace(1.0, 1e-2, m)
    Gamma = (Q * gammas) @ Q.T
    W0 = 1e-3 * rng.standard_normal((d, m))
    t = np.linspace(0.0, 200.0, 50)
    return W0, Gamma, t


def run(quick: bool = False) -> list[Row]:
    rows = []
    for m in ([32] if quick else [64, 256, 1024]):
        W0, Gamma, t = _problem(m)
        _, t_first = timed(lambda: barlow.gradient_flow(W0, Gamma, t, rtol=RTOL, atol=ATOL))
        t_dx = best_time(lambda: barlow.gradient_flow(W0, Gamma, t, rtol=RTOL, atol=ATOL))
        times = {}
        for method in ("RK45", "LSODA"):
            times[method] = best_time(lambda: barlow.gradient_flow(W0, Gamma, t, backend="scipy", solver=method,
                                                                   rtol=RTOL, atol=ATOL), repeat=1)
        best = min(times, key=times.get)
        rows.append(Row("integrator", f"diffrax vs best scipy ({best}), m={m}", times[best] / t_dx, 10.0,
                        details={"m": m, "seconds_diffrax": t_dx, "seconds_compile": t_first - t_dx,
                                 **{f"seconds_scipy_{k}": v for k, v in times.items()}}))
    W0, Gamma, t = _problem(64)
    B = 8 if quick else 64
    W0s = np.stack([1e-3 * np.random.default_rng(s).standard_normal(W0.shape) for s in range(B)])
    _, t_first = timed(lambda: barlow.gradient_flow(W0s, Gamma, t, rtol=RTOL, atol=ATOL))
    t_batch = best_time(lambda: barlow.gradient_flow(W0s, Gamma, t, rtol=RTOL, atol=ATOL))
    t_loop = best_time(lambda: [barlow.gradient_flow(w, Gamma, t, rtol=RTOL, atol=ATOL) for w in W0s], repeat=1)
    rows.append(Row("integrator", f"batch of {B} inits stacked vs looped (m=64)", t_loop / t_batch, 5.0,
                    details={"seconds_batch": t_batch, "seconds_loop": t_loop, "seconds_compile": t_first - t_batch}))
    rows.append(_rk_arithmetic_row(W0s, n_steps=100 if quick else 450))
    return rows


def _rk_arithmetic_row(W0s, n_steps):
    """Per-member cost of n_steps fixed Dopri8 steps on dy/dt = −y: batch of B vs one member."""
    @jax.jit
    def solve(y0):
        return diffrax.diffeqsolve(diffrax.ODETerm(lambda t, y, args: -y), diffrax.Dopri8(), t0=0.0, t1=1.0,
                                   dt0=1.0 / n_steps, y0=y0, saveat=diffrax.SaveAt(t1=True),
                                   stepsize_controller=diffrax.ConstantStepSize(), max_steps=n_steps + 5).ys

    B = W0s.shape[0]
    one, batch = jnp.asarray(W0s[:1]), jnp.asarray(W0s)
    solve(one), solve(batch)  # compile both shapes
    t_one = best_time(lambda: solve(one), repeat=5)
    t_batch = best_time(lambda: solve(batch), repeat=3)
    return Row("integrator", f"RK arithmetic per member: 1 alone / {B} stacked", t_one / (t_batch / B), None,
               details={"seconds_one_member": t_one, "seconds_batch": t_batch, "batch": B, "n_steps": n_steps,
                        "state_per_member": int(np.prod(W0s.shape[1:])),
                        "ns_per_state_entry_per_step": t_batch / (n_steps * W0s.size) * 1e9})
