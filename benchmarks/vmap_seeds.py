"""7. Seeds in one program: B seeds of a wide two-layer Barlow Twins run, vmapped vs the Python loop of runs.

The run is that of the wide-network experiments (S §6, App. D.1): the two-layer ReLU network in NTK
parametrisation on the built-in 7×7 digit pairs (``experiments.wide.wide_data``), d = 3, trained with the Barlow
Twins loss (S1–S2) by full-batch gradient descent, 20 records.  B = 8 seeds, width M = 512, 100 pairs,
500 steps (quick: 2 seeds, M = 32, 8 pairs, 20 steps).

* loop: :func:`dynamics.trainer.train_barlow` once per seed.  The first run compiles the programs (cached on
  the loss, so the other seeds compile nothing); "compile" is the first run's time minus a warm run's, "run" the
  loop of all B seeds with the programs compiled.
* vmapped: :func:`dynamics.trainer.train_barlow_batched` on the stacked inits
  (:func:`dynamics.parallel.init_two_layer_batch`, the same initial parameters seed by seed); "compile" is the
  first call minus the second, "run" the second.

Rows: the run-time ratio loop / vmapped (> 1: the vmapped program is faster) and the seconds of each part,
from one run of this script on this machine; the largest difference between the two (loss records, relative)
is in the details.  On a GPU the same script gives the GPU row.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from ._harness import Row, timed

B, WIDTH, PAIRS, STEPS, RECORDS, D_OUT = 8, 512, 100, 500, 20, 3
QUICK = (2, 32, 8, 20, 5, 3)


def run(quick: bool = False) -> list[Row]:
    import jax

    from dynamics import networks, parallel, trainer
    from dynamics.experiments import wide

    b, M, n, steps, records, d = QUICK if quick else (B, WIDTH, PAIRS, STEPS, RECORDS, D_OUT)
    x, xp, _ = wide.wide_data(n)
    apply = wide.relu_network_apply
    lr = 0.02
    seeds = list(range(1, b + 1))
    inits = [networks.init_two_layer(x.shape[1], M, d, seed=s, readout_scale=1e-2) for s in seeds]

    def one(p):
        return trainer.train_barlow(apply, p, x, xp, lr=lr, n_steps=steps, n_records=records)

    def loop():
        return [one(p) for p in inits]

    pb = parallel.init_two_layer_batch(x.shape[1], M, d, seeds, readout_scale=1e-2)

    def batched():
        return trainer.train_barlow_batched(apply, pb, x, xp, lr=lr, n_steps=steps, n_records=records)

    first_single, t_first_single = timed(lambda: one(inits[0]))
    _, t_warm_single = timed(lambda: one(inits[0]))
    loop_out, t_loop = timed(loop)
    batched_first, t_batched_first = timed(batched)
    batched_out, t_batched = timed(batched)
    err = max(float(np.max(np.abs(h.loss - batched_out[1].loss[i])) / np.max(np.abs(h.loss)))
              for i, (_, h) in enumerate(loop_out))
    details = {"seeds": b, "M": M, "pairs": n, "steps": steps, "records": records, "d": d, "lr": lr,
               "loop_compile_s": t_first_single - t_warm_single, "loop_run_s": t_loop,
               "vmapped_compile_s": t_batched_first - t_batched, "vmapped_run_s": t_batched,
               "max_rel_diff_loss": err, "device": str(jax.devices()[0])}
    label = f"{b} seeds, M={M}, {2 * n} inputs, {steps} steps"
    return [
        Row("vmap_seeds", f"loop / vmapped run time, {label}", t_loop / t_batched, None, details=details),
        Row("vmap_seeds", f"loop run seconds ({b} runs)", t_loop, None, unit="s", sense="<=", details=details),
        Row("vmap_seeds", "vmapped run seconds (one program)", t_batched, None, unit="s", sense="<=",
            details=details),
        Row("vmap_seeds", "loop compile seconds (first run - warm run)", max(t_first_single - t_warm_single, 1e-9),
            None, unit="s", sense="<=", details=details),
        Row("vmap_seeds", "vmapped compile seconds (first - second call)", max(t_batched_first - t_batched, 1e-9),
            None, unit="s", sense="<=", details=details),
    ]


def main(argv=None) -> int:
    import json

    from ._harness import format_table, machine

    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    info = machine()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    start = time.perf_counter()
    rows = run(quick=quick)
    print(format_table(rows, judge=not quick))
    print(f"({time.perf_counter() - start:.1f} s in all)")
    if "--json" in argv:
        with open(argv[argv.index("--json") + 1], "w") as f:
            json.dump({"machine": info, "quick": quick, "rows": [r.to_json() for r in rows]}, f, indent=2,
                      default=float)
    return 0


if __name__ == "__main__":
    import dynamics  # noqa: F401

    sys.exit(main())
