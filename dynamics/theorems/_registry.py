"""Registry of theorem checks: each compares two independently computed things.

A check is a function ``check(fast: bool) -> CheckResult`` registered with
:func:`register`.  ``fast=True`` runs a smaller variant that still compares the
same two things; ``python -m dynamics verify`` and the test suite run them.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Callable


@dataclass
class CheckResult:
    """Outcome of one comparison: a single metric against a single tolerance.

    ``passed`` is decided by the check itself (some checks combine the metric
    with a trend condition, stated in ``details``).  ``sense`` says how the
    metric is compared with the tolerance: "<" (an error below a bound, the
    default), "<=" or ">=" (e.g. a fitted slope at most −0.35, an alignment
    at least 0.9).
    """

    metric: float
    tolerance: float
    passed: bool
    details: dict = field(default_factory=dict)
    sense: str = "<"
    name: str = ""
    paper: str = ""
    reference: str = ""
    description: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict:
        """A dict that ``json.dumps(..., allow_nan=False)`` accepts: NaN and inf become ``None``."""
        d = asdict(self)
        d["metric"] = _jsonable(float(self.metric))
        d["tolerance"] = _jsonable(float(self.tolerance))
        d["passed"] = bool(self.passed)
        d["details"] = _jsonable(self.details)
        return d


def _jsonable(obj):
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


@dataclass(frozen=True)
class TheoremCheck:
    name: str
    paper: str
    reference: str
    description: str
    func: Callable
    slow_only: bool = False

    def run(self, fast: bool = True) -> CheckResult:
        """Run the check in isolation: an exception (or a result that is not a :class:`CheckResult`)
        becomes a failed result whose ``details["error"]`` holds the message, so one crashing check
        never hides the others' results."""
        start = time.perf_counter()
        try:
            res = self.func(fast=fast)
            if not isinstance(res, CheckResult):
                raise TypeError(f"check returned {type(res).__name__}, not a CheckResult")
        except Exception as exc:  # noqa: BLE001 - every failure of a check is reported, not raised
            res = CheckResult(float("nan"), float("nan"), False,
                              {"error": f"{type(exc).__name__}: {exc}",
                               "traceback": traceback.format_exc(limit=8)})
        res.seconds = time.perf_counter() - start
        res.name, res.paper, res.reference, res.description = self.name, self.paper, self.reference, self.description
        return res


REGISTRY: dict[str, TheoremCheck] = {}


def register(name: str, *, paper: str, reference: str, description: str = "", slow_only: bool = False):
    """Decorator registering ``func(fast) -> CheckResult`` under ``name``."""

    def deco(func):
        if name in REGISTRY:
            raise ValueError(f"a check named {name!r} is already registered")
        REGISTRY[name] = TheoremCheck(name, paper, reference, description or (func.__doc__ or "").strip().split("\n")[0],
                                      func, slow_only)
        return func

    return deco


def get_check(name: str) -> TheoremCheck:
    _load_all()
    if name not in REGISTRY:
        raise KeyError(f"unknown check {name!r}; known checks: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def list_checks() -> list[TheoremCheck]:
    _load_all()
    return list(REGISTRY.values())


def run_checks(names=None, *, fast: bool = True, on_result=None) -> list[CheckResult]:
    """Run the named checks (all when ``names`` is empty) and return their results in order.

    ``names``: a check name or a list of them; an unknown name raises ``KeyError`` listing the known ones.
    """
    if isinstance(names, str):
        names = [names]
    checks = [get_check(n) for n in names] if names else [c for c in list_checks() if not (fast and c.slow_only)]
    results = []
    for check in checks:
        res = check.run(fast=fast)
        results.append(res)
        if on_result is not None:
            on_result(res)
    return results


CHECK_MODULES = ("barlow_checks", "ntk_checks", "kernel_checks", "wide_checks", "grassmann_checks", "contrastive_checks")


def _load_all():
    import importlib

    for mod in CHECK_MODULES:
        importlib.import_module(f"{__package__}.{mod}")
