"""4. Grassmannian flow vs projected GD per unit time as the hidden width h grows (E Fig 4 left).

Data: digits 3 vs 8 (170 each, d = 64 pixels / 16, positives = 1-pixel shifts + noise, random negatives:
``dynamics.experiments.grassmann.digits_two_classes``, the setup of the check
``e_flow_vs_projected_gd_digits``), z = 4, one Θ(0) (random semi-orthogonal,
seed 0).  For h = 64, 256, 1024, 4096, 8192 the two-layer linear net is started from V(0) W(0) = Θ(0)
(``init_network(theta0=...)``; h >= d, so V V^T = I_d) and trained by Grassmannian projected GD (E11,
the step of ``train_projected``: E1 loss of the outputs, polar retraction) with lr = 0.1/‖C‖ for
n_steps = T / lr steps, T = 10 (≈ 340 steps; the loss is then within 3% of its optimum).  The flow is
the width-free E9, ``grassmann.trajectory`` (diffrax dopri8, rtol 1e-10, atol 1e-12) from the same Θ(0)
to the same T, timed together with building C from the data (``data_matrix``).

Both are timed after compilation (compile seconds in details): the flow by ``best_time`` at every h
(it is the same computation each time, re-timed at each h under the same machine load); GD by a
compiled ``fori_loop`` of the ``train_projected`` step (AOT-compiled, so compilation is excluded
without a warm-up run; best of 3 runs for h <= 1024, one run above); at the smallest h the loop's result is checked against
``train_projected`` itself (max |ΔΘ| in details).  Agreement at T is reported per h: relative output
difference ‖XΘ_GD − XΘ_flow‖/‖XΘ_flow‖ (the measure of the E check), 1 − subspace alignment, relative
loss difference.  This is the Euler (lr) error of GD; the flow is integrated to 1e-10, so the ratio is
conservative (GD matched to the flow's accuracy would need smaller steps).

Rows: seconds_GD / seconds_flow per h (no target), then the issue's two claims:
(a) flow cost flat in h: max/min of the flow seconds over the sweep, target <= 2;
(b) ratio grows with h: ratio at h = 8192 / ratio at h = 64, target >= 10.  A GD step costs Θ(N d h)
flops (X V and its gradient, N = 3n rows) while the flow's cost has no h, so for h ≫ d the ratio grows
∝ h — 128x over the sweep; per-step overhead flattens the GD cost at small h, which is why the target is
well below 128 (on an accelerator, where all these GD steps may be latency bound, it may not be met).
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from dynamics import grassmann, losses
from dynamics.experiments.grassmann import DIGITS_Z, digits_two_classes

from ._harness import Row, best_time, timed

Z = DIGITS_Z  # 4
RTOL, ATOL = 1e-10, 1e-12


def _gd_runner(n_steps, lr):
    """Compiled E11: n_steps of the ``train_projected`` step (Grassmannian gradient of E1, polar retraction)."""

    apply = grassmann.network_apply("linear")

    def loss_fn(q, a, p, n):
        q = jax.tree_util.tree_map(grassmann.horizontal, q)
        return losses.triplet_contrastive(apply(q, a), apply(q, p), apply(q, n))

    def run(q, a, p, n):
        def body(_, s):
            g = jax.grad(loss_fn)(s, a, p, n)
            return grassmann.project_params(jax.tree_util.tree_map(lambda u, v: u - lr * v, s, g))

        return jax.lax.fori_loop(0, n_steps, body, q)

    return jax.jit(run)


def run(quick: bool = False) -> list[Row]:
    if quick:
        X, Xp, Xn, _ = digits_two_classes(per_class=30)
        widths, T = [16, 64], 2.0
    else:
        X, Xp, Xn, _ = digits_two_classes()
        widths, T = [64, 256, 1024, 4096, 8192], 10.0
    d = X.shape[1]
    C = grassmann.data_matrix(X, Xp, Xn)
    lr0 = 0.1 / np.linalg.norm(C, 2)
    n_steps = int(np.ceil(T / lr0))
    lr = T / n_steps  # so that n_steps × lr = T exactly
    theta0 = grassmann.random_semi_orthogonal(d, Z, 0)
    optimum = float(np.sum(np.linalg.eigvalsh(C)[:Z]))

    def flow():
        return grassmann.trajectory(grassmann.data_matrix(X, Xp, Xn), theta0, [T], rtol=RTOL, atol=ATOL)[-1]

    th_flow, t_first = timed(flow)
    t_flow0 = best_time(flow, repeat=5)
    compile_flow = t_first - t_flow0
    F_flow = X @ th_flow
    loss_flow = float(np.trace(th_flow.T @ C @ th_flow))

    data = tuple(jnp.asarray(a) for a in (X, Xp, Xn))
    runner = _gd_runner(n_steps, lr)
    rows, flow_secs, ratios = [], {}, {}
    for h in widths:
        params = grassmann.init_network(d, h, Z, theta0=theta0, seed=h)
        t_flow = best_time(flow, repeat=5)
        start = time.perf_counter()
        compiled = runner.lower(params, *data).compile()
        compile_gd = time.perf_counter() - start
        gd = functools.partial(compiled, params, *data)
        out, t_gd = timed(gd)
        if h <= 1024:
            t_gd = min(t_gd, best_time(gd, repeat=2))
        th_gd = np.asarray(grassmann.network_theta(out))
        F_gd = X @ th_gd
        loss_gd = float(np.trace(th_gd.T @ C @ th_gd))
        details = {"h": h, "d": d, "z": Z, "n": X.shape[0], "T": T, "lr": lr, "n_steps": n_steps,
                   "seconds_projected_gd": t_gd, "seconds_flow": t_flow, "seconds_compile_gd": compile_gd,
                   "rel_output_diff_at_T": float(np.linalg.norm(F_gd - F_flow) / np.linalg.norm(F_flow)),
                   "one_minus_subspace_alignment_at_T": 1.0 - grassmann.subspace_alignment(th_gd, th_flow),
                   "rel_loss_diff_at_T": abs(loss_gd - loss_flow) / abs(loss_flow),
                   "loss_flow_at_T": loss_flow, "loss_gd_at_T": loss_gd, "optimal_loss": optimum}
        if h == widths[0]:
            details["seconds_compile_flow"] = compile_flow
            (ref, _), t_ref = timed(functools.partial(
                grassmann.train_projected, grassmann.network_apply("linear"), params, X, Xp, Xn, lr=lr, n_steps=n_steps,
                record_steps=[0, n_steps]))
            details["max_abs_diff_theta_vs_train_projected"] = float(np.max(np.abs(
                np.asarray(grassmann.network_theta(ref)) - th_gd)))
            details["seconds_train_projected_incl_compile"] = t_ref
        flow_secs[h], ratios[h] = t_flow, t_gd / t_flow
        rows.append(Row("grassmann", f"projected GD / flow to T={T:g}, h={h}", ratios[h], None, details=details))

    lo, hi = widths[0], widths[-1]
    rows.append(Row("grassmann", f"flow cost flat in h: max/min seconds, h={lo}..{hi}",
                    max(flow_secs.values()) / min(flow_secs.values()), 2.0, sense="<=",
                    details={"seconds_flow_by_h": flow_secs, "seconds_flow_first_timing": t_flow0,
                             "seconds_compile_flow": compile_flow}))
    rows.append(Row("grassmann", f"ratio grows with h: ratio(h={hi}) / ratio(h={lo})", ratios[hi] / ratios[lo],
                    10.0, details={"ratio_by_h": ratios, "h_span": hi / lo}))
    return rows
