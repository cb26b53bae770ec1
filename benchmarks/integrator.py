"""2. Integrator: ``gradient_flow`` (diffrax, compiled) vs scipy ``solve_ivp`` (RK45, LSODA) on S6.

Same tolerances, m from 64 to 1024, d = 10; and a batch of 64 initial conditions
vmapped vs looped.  Targets: >= 10x faster than the best scipy method after
compilation; batch >= 5x faster than the loop.  Compile time reported separately.
"""

from __future__ import annotations

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
    for m in ([64, 256] if quick else [64, 256, 1024]):
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
    B = 16 if quick else 64
    W0s = np.stack([1e-3 * np.random.default_rng(s).standard_normal(W0.shape) for s in range(B)])
    _, t_first = timed(lambda: barlow.gradient_flow(W0s, Gamma, t, rtol=RTOL, atol=ATOL))
    t_batch = best_time(lambda: barlow.gradient_flow(W0s, Gamma, t, rtol=RTOL, atol=ATOL))
    t_loop = best_time(lambda: [barlow.gradient_flow(w, Gamma, t, rtol=RTOL, atol=ATOL) for w in W0s], repeat=1)
    rows.append(Row("integrator", f"batch of {B} inits vmapped vs looped (m=64)", t_loop / t_batch, 5.0,
                    details={"seconds_batch": t_batch, "seconds_loop": t_loop, "seconds_compile": t_first - t_batch}))
    return rows
