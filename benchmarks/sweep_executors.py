"""One figure sweep on three executors: in-process, a local process pool, a local Dask cluster.

The sweep is the width × seed grid of A Lemma 9 / A Fig 1 (:func:`dynamics.experiments.contrastive.lemma9_differences`,
the fast size of the check ``a_lemma9_ntk_dynamics``: widths 64–4096, seeds 0, 1, 500 GD steps and
the frozen-NTK flow per point), run through :func:`dynamics.experiments.run_grid` three times from
an empty memory: in this process, on ``ProcessPoolExecutor(2)`` (``spawn``, as ``--workers 2``) and
on ``distributed.LocalCluster(n_workers=2, threads_per_worker=1)`` (as ``--dask``).  Wall times
include each worker's imports and JIT compilation (a fresh ``python -m dynamics figures`` pays
them too) but not the start of the pool or cluster, which is reported apart.  The rows are the
speed-ups over in-process; their details hold the wall times and the largest relative difference of
the results from the in-process ones (0.0: identical to the bit).

    python -m benchmarks.sweep_executors [--quick]
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import sys
import time

import numpy as np

from benchmarks._harness import Row, format_table

NAME = "sweep_executors"


def _sweep(widths, seeds, n_steps):
    from dynamics import experiments
    from dynamics.experiments import contrastive as ec

    experiments.clear_memory(ec.lemma9_point)
    start = time.perf_counter()
    runs = ec.lemma9_differences(widths, seeds, n_steps=n_steps)
    return np.array([runs[M, s] for M in widths for s in seeds]), time.perf_counter() - start


def measure(quick: bool = False) -> dict:
    """Wall times (s) and results of the sweep in-process, on a process pool and on a Dask cluster."""
    import jax

    from dynamics import experiments

    widths, seeds, n_steps = ([64, 128], (0,), 20) if quick else ([64, 256, 1024, 4096], (0, 1), 500)
    out = {"widths": widths, "seeds": list(seeds), "n_steps": n_steps, "n_points": len(widths) * len(seeds)}
    with jax.enable_x64(True), experiments.use_executor(None):
        out["in_process"], out["seconds_in_process"] = _sweep(widths, seeds, n_steps)
        start = time.perf_counter()
        with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(int, range(2)))
            out["seconds_start_processes"] = time.perf_counter() - start
            with experiments.use_executor(pool):
                out["processes"], out["seconds_processes"] = _sweep(widths, seeds, n_steps)
        try:
            import distributed
        except ImportError:  # the optional extra is missing: no cluster row
            return out
        start = time.perf_counter()
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                      silence_logs=40) as cluster, distributed.Client(cluster) as client:
            client.wait_for_workers(2)
            out["seconds_start_dask"] = time.perf_counter() - start
            with experiments.use_executor(client.get_executor()):
                out["dask"], out["seconds_dask"] = _sweep(widths, seeds, n_steps)
    return out


def run(quick: bool = False) -> list[Row]:
    m = measure(quick)
    base = m["seconds_in_process"]
    common = {"widths": m["widths"], "seeds": m["seeds"], "n_steps": m["n_steps"], "seconds_in_process": base}
    rows = []
    for kind, label in (("processes", "ProcessPool(2)"), ("dask", "Dask LocalCluster(2)")):
        if kind not in m:
            continue
        diff = float(np.max(np.abs(m[kind] - m["in_process"]) / np.abs(m["in_process"])))
        details = dict(common, **{f"seconds_{kind}": m[f"seconds_{kind}"],
                                  f"seconds_start_{kind}": m[f"seconds_start_{kind}"],
                                  "max_relative_difference": diff, "bit_identical": diff == 0.0})
        rows.append(Row(NAME, f"Lemma 9 sweep, {m['n_points']} pts: {label} speed-up", base / m[f"seconds_{kind}"],
                        None, details=details))
    return rows


if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    result = run(quick)
    print(format_table(result, judge=not quick))
    for r in result:
        print(r.name, {k: v for k, v in r.details.items() if k.startswith("seconds") or "diff" in k})
