"""Theorem checks: the registry, three hops from a theorem to the code that tests it.

``REGISTRY`` maps a check name to its comparison function; each comparison
calls the theory functions (closed forms, integrated flows) and the reference
trainer, and reports one metric against one tolerance.
"""

from ._registry import REGISTRY, CheckResult, Outcome, TheoremCheck, checks_table, get_check, list_checks, register, run_checks

__all__ = ["REGISTRY", "CheckResult", "Outcome", "TheoremCheck", "checks_table", "get_check", "list_checks", "register", "run_checks"]
