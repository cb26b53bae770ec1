"""Timing harness shared by the benchmarks: best-of-k wall times, machine description, table and JSON."""

from __future__ import annotations

import os
import platform
import resource
import time
from dataclasses import asdict, dataclass, field


@dataclass
class Row:
    """One benchmark row: a measured ratio (or value) against a target."""

    benchmark: str
    name: str
    value: float
    target: float | None
    unit: str = "x"
    sense: str = ">="
    details: dict = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.sense == ">=" else self.value <= self.target

    def to_json(self) -> dict:
        d = asdict(self)
        d["met"] = self.met
        return d


def best_time(fn, *, repeat: int = 3, number: int = 1) -> float:
    """Smallest wall time of ``repeat`` runs of ``number`` calls of ``fn`` (seconds per call)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            out = fn()
        _block(out)
        best = min(best, (time.perf_counter() - start) / number)
    return best


def timed(fn):
    """(result, seconds) of a single call."""
    start = time.perf_counter()
    out = fn()
    _block(out)
    return out, time.perf_counter() - start


def _block(out):
    try:
        import jax

        jax.block_until_ready(out)
    except Exception:  # noqa: BLE001 - non-JAX results need no blocking
        pass


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> dict:
    import jax
    import numpy as np
    import scipy

    try:
        import diffrax
        diffrax_version = diffrax.__version__
    except Exception:  # noqa: BLE001
        diffrax_version = "?"
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "diffrax": diffrax_version,
    }


def format_table(rows: list[Row], *, judge: bool = True) -> str:
    """Rows as a text table; ``judge=False`` (tiny smoke-test sizes) shows targets as "n/a" in the met column."""
    lines = [f"{'benchmark':<22} {'row':<52} {'value':>10} {'target':>10} {'met':>5}", "-" * 103]
    for r in rows:
        target = "" if r.target is None else f"{r.sense}{r.target:g}{r.unit}"
        met = "" if r.met is None else (("yes" if r.met else "NO") if judge else "n/a")
        lines.append(f"{r.benchmark:<22} {r.name[:52]:<52} {r.value:>9.3g}{r.unit:<1} {target:>10} {met:>5}")
    return "\n".join(lines)
