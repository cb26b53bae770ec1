"""Registry of theorem checks: each compares two independently computed things.

A check is declared once, with everything that decides it::

    @register("s20_stepwise_loss", paper="S", reference="S16, S19, S20",
              compares="trainer loss drops vs the critical times τ_j of S16", tolerance=0.05, sense="<",
              gate="every drop within 5 % of τ_j; initial loss within 1e-3 of d (initial_loss_is_d)")
    def check_stepwise(fast=True, **ingredients):
        return _check_stepwise(fast, **ingredients)

    def _check_stepwise(fast, *, critical_times=barlow.critical_times):
        ...
        return Outcome(metric, conditions={"initial_loss_is_d": abs(L[0] - d) < 1e-3}, details={...})

The check computes and returns an :class:`Outcome` — its metric, any extra named conditions (each a
bool that must hold, named for what it says, e.g. "monotone_in_sigma") and details to report; the
registry decides ``passed = (metric <sense> tolerance) and all(conditions)``, and a metric that is NaN
or infinite always fails.  ``tolerance`` is a number or ``{"fast": a, "full": b}`` when the smaller
fast variant is gated differently.  ``fast=True`` runs a smaller variant that still compares the same
two things; ``python -m dynamics verify`` and the test suite run them, and ``python -m dynamics verify
--list`` prints the declarations as a table (the README's table of checks is generated from it:
:func:`checks_table`).

*Ingredients.*  A check whose comparison is worth attacking keeps it in a private function whose
keyword arguments are its ingredients (the kernel, the critical times, the flow, ...), and the
registered function forwards ``**ingredients`` to it.  The mutation tests
(``tests/test_check_mutations_*.py``) call ``get_check(name).evaluate(True, kernel_fn=wrong)`` with a
deliberately wrong ingredient and require the registry's verdict to be a failure.
"""

from __future__ import annotations

import math
import operator
import time
import traceback
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Callable

SENSES = {"<": operator.lt, "<=": operator.le, ">=": operator.ge, ">": operator.gt}


@dataclass
class Outcome:
    """What a check computed: its ``metric``, extra ``conditions`` (name -> bool, all must hold) and
    ``details`` (anything worth reporting).  The registry compares the metric with the declared
    tolerance and turns the outcome into a :class:`CheckResult`.

    Returned by the checks of the four papers (Simon et al. 2023, Esser et al. 2023, Anil et al. 2024, Fleissner et al. 2025).
    """

    metric: float
    conditions: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)


@dataclass
class CheckResult:
    """Outcome of one comparison as decided by the registry: a single metric against a single
    tolerance (``sense`` "<", "<=", ">=" or ">"), plus the named ``conditions`` the check declared.
    ``passed`` is true iff the metric satisfies the tolerance and every condition holds.

    One row of ``python -m dynamics verify`` for a check of one of the four papers (Simon et al. 2023, Esser et al. 2023, Anil et al. 2024, Fleissner et al. 2025).
    """

    metric: float
    tolerance: float
    passed: bool
    details: dict = field(default_factory=dict)
    sense: str = "<"
    conditions: dict = field(default_factory=dict)
    name: str = ""
    paper: str = ""
    reference: str = ""
    description: str = ""
    compares: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict:
        """A dict that ``json.dumps(..., allow_nan=False)`` accepts: NaN and inf become ``None``."""
        d = asdict(self)
        d["metric"] = _jsonable(float(self.metric))
        d["tolerance"] = _jsonable(float(self.tolerance))
        d["passed"] = bool(self.passed)
        d["details"] = _jsonable(self.details)
        d["conditions"] = {str(k): bool(v) for k, v in self.conditions.items()}
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


def _check_tolerance(tolerance, name):
    if isinstance(tolerance, Mapping):
        if set(tolerance) != {"fast", "full"}:
            raise ValueError(f"check {name!r}: tolerance must be a number or {{'fast': a, 'full': b}}, got keys "
                             f"{sorted(tolerance)}")
        return {k: _check_tolerance(v, name) for k, v in tolerance.items()}
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not math.isfinite(tolerance):
        raise ValueError(f"check {name!r}: tolerance must be a finite number, got {tolerance!r}")
    return float(tolerance)


@dataclass(frozen=True)
class TheoremCheck:
    """A registered check: the comparison function and its declaration (what it compares, the
    tolerance and sense that decide it, and ``gate``, the whole pass rule in words).

    The declaration of a check of a result of Simon et al. (S), Esser et al. (E), Anil et al. (A) or Fleissner et al. (F).
    """

    name: str
    paper: str
    reference: str
    description: str
    func: Callable
    tolerance: object
    sense: str = "<"
    compares: str = ""
    gate: str = ""
    slow_only: bool = False

    def __post_init__(self):
        if self.sense not in SENSES:
            raise ValueError(f"check {self.name!r}: sense must be one of {list(SENSES)}, got {self.sense!r}")
        object.__setattr__(self, "tolerance", _check_tolerance(self.tolerance, self.name))

    def tolerance_for(self, fast: bool) -> float:
        """The declared tolerance of the fast or the full variant."""
        if isinstance(self.tolerance, Mapping):
            return self.tolerance["fast" if fast else "full"]
        return self.tolerance

    def judge(self, outcome: Outcome, fast: bool = True) -> CheckResult:
        """The registry's decision on an outcome: a finite metric <sense> tolerance, and every condition."""
        import numpy as np

        if not isinstance(outcome, Outcome):
            raise TypeError(f"check {self.name!r} returned {type(outcome).__name__}, not an Outcome")
        metric = float(outcome.metric)
        tol = self.tolerance_for(fast)
        for k, v in outcome.conditions.items():
            if not isinstance(v, (bool, np.bool_)):  # a float condition would pass when NaN (bool(nan) is True)
                raise TypeError(f"check {self.name!r}: condition {k!r} must be a bool, got {type(v).__name__}")
        conditions = {str(k): bool(v) for k, v in outcome.conditions.items()}
        passed = bool(math.isfinite(metric) and SENSES[self.sense](metric, tol) and all(conditions.values()))
        return CheckResult(metric, tol, passed, dict(outcome.details), self.sense, conditions, self.name,
                           self.paper, self.reference, self.description, self.compares)

    def evaluate(self, fast: bool = True, **ingredients) -> CheckResult:
        """Run the comparison and judge it; exceptions propagate.  ``ingredients`` are passed to the
        check function (the mutation tests replace a kernel, a rate or an init with a wrong one)."""
        import jax

        start = time.perf_counter()
        with jax.enable_x64(True):  # the checks compare to 1e-8 and better; the caller's setting is left alone
            outcome = self.func(fast=fast, **ingredients)
        res = self.judge(outcome, fast)
        res.seconds = time.perf_counter() - start
        return res

    def run(self, fast: bool = True) -> CheckResult:
        """Run the check in isolation: an exception becomes a failed result whose ``details["error"]``
        holds the message, so one crashing check never hides the others' results."""
        start = time.perf_counter()
        try:
            res = self.evaluate(fast=fast)
        except Exception as exc:  # noqa: BLE001 - every failure of a check is reported, not raised
            res = CheckResult(float("nan"), self.tolerance_for(fast), False,
                              {"error": f"{type(exc).__name__}: {exc}",
                               "traceback": traceback.format_exc(limit=8)},
                              self.sense, {}, self.name, self.paper, self.reference, self.description, self.compares)
        res.seconds = time.perf_counter() - start
        return res


REGISTRY: dict[str, TheoremCheck] = {}


def register(name: str, *, paper: str, reference: str, tolerance, compares: str, gate: str, sense: str = "<",
             description: str = "", slow_only: bool = False):
    """Decorator declaring ``func(fast, **ingredients) -> Outcome`` as the check ``name``.

    Declares the checks of the results of Simon et al. (S), Esser et al. (E), Anil et al. (A) and Fleissner et al. (F).

    Parameters
    ----------
    paper, reference : the paper ("S", "E", "A", "F") and the equation / figure checked.
    tolerance : number, or ``{"fast": a, "full": b}``.
    compares : the two independently computed things, in words (README table, ``verify --list``).
    gate : the whole pass rule in words, naming the conditions the check returns.
    sense : how the metric is compared with the tolerance: "<" (an error below a bound), "<=", ">=", ">".
    description : one line; default the first line of the docstring.
    """
    if sense not in SENSES:
        raise ValueError(f"check {name!r}: sense must be one of {list(SENSES)}, got {sense!r}")
    tolerance = _check_tolerance(tolerance, name)
    for arg, text in (("compares", compares), ("gate", gate)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"check {name!r}: {arg} must be a non-empty string, got {text!r}")

    def deco(func):
        if name in REGISTRY:
            raise ValueError(f"a check named {name!r} is already registered")
        desc = description or (func.__doc__ or "").strip().split("\n")[0]
        REGISTRY[name] = TheoremCheck(name, paper, reference, desc, func, tolerance, sense, compares, gate, slow_only)
        return func

    return deco


def get_check(name: str) -> TheoremCheck:
    """The registered check ``name`` (a result of Simon et al., Esser et al., Anil et al. or Fleissner et al.); an unknown name raises ``KeyError`` listing the known ones."""
    _load_all()
    if name not in REGISTRY:
        raise KeyError(f"unknown check {name!r}; known checks: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def list_checks() -> list[TheoremCheck]:
    """All checks, in a fixed order: by module (:data:`CHECK_MODULES`), then in the order each module
    defines them — whichever check module happened to be imported first.

    The checks of the results of Simon et al. (S), Esser et al. (E), Anil et al. (A) and Fleissner et al. (F).
    """
    _load_all()
    order = {f"{__package__}.{m}": i for i, m in enumerate(CHECK_MODULES)}
    position = {name: i for i, name in enumerate(REGISTRY)}
    return sorted(REGISTRY.values(),
                  key=lambda c: (order.get(getattr(c.func, "__module__", ""), len(order)), position[c.name]))


def run_checks(names=None, *, fast: bool = True, on_result=None) -> list[CheckResult]:
    """Run the named checks (all when ``names`` is empty) and return their results in order.

    Runs the checks of the results of Simon et al. (S), Esser et al. (E), Anil et al. (A) and Fleissner et al. (F).

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


def _fmt_number(x: float) -> str:
    """``1e-08`` -> ``1e-8``; other numbers as ``:g`` writes them."""
    import re

    return re.sub(r"e([+-])0*(\d)", lambda m: "e" + ("-" if m.group(1) == "-" else "") + m.group(2), f"{x:g}")


def _fmt_tol(tol) -> str:
    if isinstance(tol, Mapping):
        return f"{_fmt_number(tol['fast'])} (full {_fmt_number(tol['full'])})"
    return _fmt_number(tol)


def checks_table(markdown: bool = True) -> str:
    """The declarations of all checks as a table: name, paper, reference, what it compares, the metric's
    gate (sense and tolerance) and the whole pass rule.  ``markdown=True`` gives the README's table
    (generated, never copied by hand; ``python -m dynamics verify --list --markdown``).

    One row per check of a result of Simon et al. (S), Esser et al. (E), Anil et al. (A) or Fleissner et al. (F).
    """
    checks = list_checks()
    if markdown:
        lines = ["| check | paper | reference | compares | metric | pass rule |", "|---|---|---|---|---|---|"]
        for c in checks:
            cells = [f"`{c.name}`", c.paper, c.reference, c.compares, f"{c.sense} {_fmt_tol(c.tolerance)}", c.gate]
            # "|" would end the cell and "*" (W*, the wildcard condition names) start an emphasis
            lines.append("| " + " | ".join(s.replace("|", "\\|").replace("*", "\\*") for s in cells) + " |")
        return "\n".join(lines) + "\n"
    width = max(len(c.name) for c in checks)
    lines = [f"{'check':<{width}}  paper  {'tolerance':<22}  compares / pass rule"]
    for c in checks:
        lines.append(f"{c.name:<{width}}  {c.paper:<5}  {c.sense + ' ' + _fmt_tol(c.tolerance):<22}  {c.compares}")
        lines.append(f"{'':<{width}}  {'':<5}  {'':<22}  pass: {c.gate}")
    return "\n".join(lines) + "\n"


CHECK_MODULES = ("barlow_checks", "ntk_checks", "kernel_checks", "wide_checks", "grassmann_checks", "contrastive_checks",
                 "deep_checks", "speedup_checks")


def _load_all():
    import importlib

    for mod in CHECK_MODULES:
        importlib.import_module(f"{__package__}.{mod}")
