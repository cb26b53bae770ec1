"""Run every benchmark and print one table of ratios measured in this run.

    python -m benchmarks [--quick] [--json FILE] [NAME ...]      (from the repository root)
    python path/to/repo/benchmarks [--quick] [--json FILE] [NAME ...]   (from any directory)

NAME is one of: theory_vs_training, integrator, ntk, kernel_fit, grassmann, deep_entk, vmap_seeds,
sweep_executors, ssl_speedup.

The benchmarks live at the repository root, not in the installed ``dynamics`` package, so
``python -m benchmarks`` finds them only when the current directory is the repository root
(elsewhere Python answers "No module named benchmarks"); giving the folder's path works anywhere.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

if __package__ in (None, ""):
    # Run as a script (``python path/to/benchmarks``): sys.path[0] is this folder, so put the repository
    # root first instead; the imports below then do not depend on the current directory.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
    sys.path.insert(0, os.path.dirname(_here))

import dynamics  # noqa: E402,F401  (float64)

from benchmarks._harness import format_table, machine  # noqa: E402

BENCHMARKS = {
    "theory_vs_training": "benchmarks.theory_vs_training",
    "integrator": "benchmarks.integrator",
    "ntk": "benchmarks.ntk_speed",
    "kernel_fit": "benchmarks.kernel_fit",
    "grassmann": "benchmarks.grassmann_flow",
    "deep_entk": "benchmarks.deep_entk",
    "vmap_seeds": "benchmarks.vmap_seeds",
    "sweep_executors": "benchmarks.sweep_executors",
    "ssl_speedup": "benchmarks.ssl_speedup",
}


def main(argv=None) -> int:
    prog = "python -m benchmarks" if __package__ else f"python {os.path.dirname(os.path.abspath(__file__))}"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test), ratios not meaningful")
    parser.add_argument("--json", metavar="FILE", help="also write the rows and the machine to FILE as JSON")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    info = machine()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    rows = []
    for name in args.names or list(BENCHMARKS):
        try:
            module = importlib.import_module(BENCHMARKS[name])
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] in ("benchmarks", "dynamics"):
                raise  # a broken checkout, not a missing optional dependency
            print(f"{name}: skipped (optional dependency missing: {exc})", file=sys.stderr)
            continue
        new = module.run(quick=args.quick)
        rows.extend(new)
        print(format_table(new, judge=not args.quick).split("\n", 2)[-1], flush=True)
    print()
    if args.quick:
        print("quick mode: tiny sizes to check that every benchmark runs; the ratios are not meaningful "
              "and targets are not judged")
    print(format_table(rows, judge=not args.quick))
    if args.json:
        with open(args.json, "w") as f:
            out = [dict(r.to_json(), met=None) if args.quick else r.to_json() for r in rows]
            json.dump({"machine": info, "quick": args.quick, "rows": out}, f, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
