"""SSL speed-ups of Simon et al. (2023) App. G, measured: the speed-up table from one run.

For every setting of :mod:`dynamics.experiments.speedup` (linear model on digits, wide two-layer network, deep MLP)
and every (loss, modification) — S52 preconditioning, g_sqr, smooth_min, smooth_eps, quartic, hinge — the
largest stable learning rate of a geometric grid, the steps (and t = lr × step) to learn all d modes there,
the ratio to the same loss's baseline from this run, the fastest stable rate and its ratio, the final
linear-probe accuracy and the status (learned / not learned by step N / diverged).

    python -m benchmarks.ssl_speedup [--quick] [--full]      (from the repository root)

``--quick`` runs the linear setting only (fast sizes); the default runs the three settings at fast sizes,
``--full`` at full sizes.  Rows: value = speed-up at the largest stable rate (0 where it is undefined: the
baseline or the modification did not learn, or diverged; the status says which).
"""

from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dynamics.experiments import speedup  # noqa: E402

from benchmarks._harness import Row  # noqa: E402


def table(quick: bool = False, fast: bool = True) -> list[dict]:
    """The rows of :func:`dynamics.experiments.speedup.speedup_table` for the settings of this run."""
    settings = ("linear",) if quick else speedup.SETTINGS
    rows = []
    for s in settings:
        rows.extend(speedup.speedup_table(s, fast=fast or quick, progress=True))
    return rows


def run(quick: bool = False, fast: bool = True) -> list[Row]:
    rows = table(quick, fast)
    print(speedup.format_table(rows), flush=True)
    out = []
    for r in rows:
        details = {k: r[k] for k in ("best_lr", "steps_to_learn", "t_to_learn", "fastest_lr", "fastest_steps",
                                     "fastest_ratio", "probe", "status", "n_steps", "at_grid_edge")}
        out.append(Row("ssl_speedup", f"{r['setting']} {r['loss']} {r['modification']}",
                       float(r["ratio"]) if r["ratio"] is not None else 0.0, None, details=details))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the linear setting only, fast sizes")
    parser.add_argument("--full", action="store_true", help="full sizes (default: fast sizes)")
    args = parser.parse_args(argv)
    run(quick=args.quick, fast=not args.full)
    return 0


if __name__ == "__main__":
    sys.exit(main())
