"""Command line: ``python -m dynamics verify`` and ``python -m dynamics figures``.

Both take ``--workers N`` (the width × seed grid points on N local processes) or ``--dask
tcp://host:port`` (on a Dask cluster); without either, the environment variable
``DYNAMICS_EXECUTOR`` (``processes:N``, ``dask:tcp://host:port``) decides, and by default the points
run in this process (see :func:`dynamics.experiments.use_executor`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys


def _fmt(x: float) -> str:
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def _executor_spec(args):
    """The executor spec of ``--workers`` / ``--dask``, or ``None`` (the environment decides)."""
    if args.workers is not None:
        return f"processes:{args.workers}"
    if args.dask is not None:
        return f"dask:{args.dask}"
    return None


def _on_executor(args):
    from .experiments import use_executor

    spec = _executor_spec(args)
    return contextlib.nullcontext() if spec is None else use_executor(spec)


def _verify(args) -> int:
    from .theorems import checks_table, list_checks, run_checks

    if args.list:
        print(checks_table(markdown=args.markdown), end="")
        return 0
    if args.markdown:
        print("--markdown goes with --list", file=sys.stderr)
        return 2

    known = {c.name for c in list_checks()}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        print(f"unknown check(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}", file=sys.stderr)
        return 2
    width = max([len(n) for n in (args.names or known)] + [5])
    header = (f"{'check':<{width}} {'paper':<5} {'reference':<34} {'metric':>10} {'tolerance':>11} "
              f"{'pass':>5} {'s':>6}")

    def show(res):
        if not args.json:
            tol = f"{res.sense} {_fmt(float(res.tolerance))}"
            print(f"{res.name:<{width}} {res.paper:<5} {res.reference[:34]:<34} {_fmt(float(res.metric)):>10} "
                  f"{tol:>11} {'yes' if res.passed else 'NO':>5} {res.seconds:6.1f}", flush=True)
            if "error" in res.details:
                print(f"  error: {res.details['error']}", flush=True)
            failed = [k for k, ok in res.conditions.items() if not ok]
            if failed:
                print(f"  conditions not met: {', '.join(failed)}", flush=True)

    if not args.json:
        print(header)
        print("-" * len(header))
    with _on_executor(args):
        results = run_checks(args.names, fast=args.fast, on_result=show)
    n_fail = sum(not r.passed for r in results)
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2, allow_nan=False))
    else:
        print("-" * len(header))
        print(f"{len(results) - n_fail} passed, {n_fail} failed ({'fast' if args.fast else 'full'} mode)")
    return 1 if n_fail else 0


def _figures(args) -> int:
    from .figures import FIGURES, make_all

    unknown = [n for n in args.names if n not in FIGURES]
    if unknown:
        print(f"unknown figure(s): {', '.join(unknown)}; known: {', '.join(FIGURES)}", file=sys.stderr)
        return 2
    with _on_executor(args):
        paths = make_all(args.out, fast=args.fast, names=args.names or None)
    for p in paths:
        print(p)
    return 0


def _positive_int(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"--workers must be a positive integer, got {text!r}")
    return n


def _dask_address(text):
    if "://" not in text:
        raise argparse.ArgumentTypeError(f"--dask must be a scheduler address like tcp://host:8786, got {text!r}")
    return text


def _add_executor_options(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=_positive_int, metavar="N",
                   help="run the grid points on N local processes (default: $DYNAMICS_EXECUTOR, else in-process)")
    g.add_argument("--dask", type=_dask_address, metavar="ADDRESS",
                   help="run the grid points on the Dask cluster at ADDRESS (tcp://host:port)")


def main(argv=None) -> int:
    """Run ``python -m dynamics verify`` or ``python -m dynamics figures`` with the arguments ``argv``.

    ``verify`` runs the registered checks of the four papers (S, E, A and F; each names the equation it
    tests, e.g. S10, E Thm 2, A Lemma 9, F Thm 1) and prints a table; ``figures`` regenerates the figures
    (S Figs 1–8, E Figs 1–4, A Figs 1–5, the F NTK-drift and alignment figures, S App. G).  Returns the exit
    status.
    """
    parser = argparse.ArgumentParser(prog="python -m dynamics", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="run the registered theorem checks and print a table")
    v.add_argument("names", nargs="*", help="checks to run (default: all)")
    v.add_argument("--fast", action="store_true", help="smaller variants of every check (minutes, not hours)")
    v.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    v.add_argument("--list", action="store_true",
                   help="print the declared checks (what each compares, tolerance, pass rule) without running them")
    v.add_argument("--markdown", action="store_true", help="with --list: the Markdown table of the README")
    _add_executor_options(v)
    v.set_defaults(func=_verify)
    f = sub.add_parser("figures", help="regenerate the paper figures (PNG and PDF)")
    f.add_argument("names", nargs="*", help="figures to make (default: all)")
    f.add_argument("--out", default="paper_figures", help="output folder (default: paper_figures)")
    f.add_argument("--fast", action="store_true", help="smaller runs, for tests")
    _add_executor_options(f)
    f.set_defaults(func=_figures)
    args = parser.parse_args(argv)
    return args.func(args)
