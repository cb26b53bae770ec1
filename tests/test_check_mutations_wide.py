"""Mutation tests of the wide-network, NTK and RKHS checks: fed a deliberately wrong ingredient, each must fail.

Each registered check forwards its ingredients to the comparison; here the registry runs and judges it
(``get_check(name).evaluate(True, ingredient=...)``) with a wrong one (a wrong kernel, the wrong clock, a
non-minimal solution, a closed form 5 % off) in fast mode.  The right ingredient is run too, so that each test shows the same check
passing and failing; the training runs are cached, so tests/test_theorems.py reuses them.
"""

import numpy as np
import pytest

from dynamics import kernel, ntk
from dynamics.theorems import get_check, wide_checks

STEPWISE = get_check("wide_stepwise_kernel_prediction")
KERNEL_LIMIT = get_check("fleissner_kernel_limit")
RKHS_MINIMAL = get_check("prop_5_1c_rkhs_minimal")
NTK_INIT = get_check("ntk_init_convergence")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# ---------------------------------------------------------------------------- wrong ingredients
# (module-level functions: the checks' predictions are cached on them)


def _infinite_width_ntk(params, X):
    """Θ of ``analytic_ntk``: right for O(1) readout weights, wrong for the readout-1e-5 network."""
    return ntk.analytic_ntk(X, X, "relu")


def _own_ntk_times_1_05(params, X):
    """The network's own initial NTK, 5 % too large (all rates 5 % fast)."""
    return 1.05 * wide_checks.own_initial_ntk(params, X)


def _relu_nngp(X):
    """The ReLU NNGP kernel alone: Θ without its (x·x') E[φ'φ'] term."""
    return ntk.analytic_nngp(X, X, "relu")


def _analytic_ntk_times_1_05(x1, x2, activation):
    return 1.05 * ntk.analytic_ntk(x1, x2, activation)


def _erf_blind_to_norms(x1, x2, activation):
    """The closed form evaluated on the directions only, rescaled by the norms (right for relu only)."""
    n1, n2 = np.linalg.norm(x1, axis=1), np.linalg.norm(x2, axis=1)
    return ntk.analytic_ntk(x1 / n1[:, None], x2 / n2[:, None], activation) * np.outer(n1, n2)


def _non_minimal_solution(est):
    """A zero-loss solution that is not S24: the aligned modes 1..d−1 and d+1."""
    d = est.n_components
    wider = kernel.KernelBarlowTwins(d + 1, "rbf").fit(est.X_fit_, est.Xp_fit_)
    return wider.dual_coef_[:, list(range(d - 1)) + [d]]


# ---------------------------------------------------------------------------- wide_stepwise_kernel_prediction


def test_stepwise_right_ingredients_pass():
    res = STEPWISE.evaluate(True)
    assert res.passed, res.details
    assert max(res.details["leave_one_out_slopes"]) <= wide_checks.STEPWISE_MAX_SLOPE


@pytest.mark.parametrize("kwargs", [{"kernel_fn": _infinite_width_ntk}, {"kernel_fn": _own_ntk_times_1_05},
                                    {"time_map": "flow"}], ids=["infinite_width_ntk", "ntk_x1.05", "flow_clock"])
def test_stepwise_wrong_ingredient_fails(kwargs):
    res = STEPWISE.evaluate(True, **kwargs)
    assert not res.passed, res.details
    assert res.metric >= res.tolerance  # the widest-width error itself gives it away


def test_stepwise_flow_clock_plateaus():
    """S10 at t = lr × step: the error stops falling with width (the step-size artefact of issue #11)."""
    res = STEPWISE.evaluate(True, time_map="flow")
    err = res.details["sup_eigenvalue_error"]
    assert err[-1] > 0.05 and err[-1] > 0.9 * err[-2]


# ---------------------------------------------------------------------------- fleissner_kernel_limit


@pytest.mark.slow  # about 25 s; the pass itself is also checked by tests/test_theorems.py::test_check_passes_fast
def test_kernel_limit_right_kernel_passes():
    res = KERNEL_LIMIT.evaluate(True)
    assert res.passed, res.details
    assert len(res.details["seeds"]) >= 3 and len(res.details["widths"]) >= 4


def test_kernel_limit_nngp_alone_fails():
    res = KERNEL_LIMIT.evaluate(True, theta_fn=_relu_nngp)
    assert not res.passed, res.details
    assert res.details["loss_curve_gap"][-1] > 0.3  # far above the 0.1 gate
    assert max(res.details["leave_one_out_slopes_loss_curve_gap"]) > -0.2
    assert res.details["alignment"][-1] > 0.99  # what the old alignment-only gate could not tell apart


# ---------------------------------------------------------------------------- prop_5_1c_rkhs_minimal


def test_rkhs_minimal_right_solution_passes():
    res = RKHS_MINIMAL.evaluate(True)
    assert res.passed, res.details
    assert res.details["regularised_rel_dist_FFt"][-1] < 1e-2


def test_rkhs_minimal_non_minimal_solution_fails():
    res = RKHS_MINIMAL.evaluate(True, solution_fn=_non_minimal_solution)
    assert not res.passed, res.details
    assert res.details["max_loss_compared"] < 1e-10  # it is a zero-loss solution ...
    assert res.details["min_relative_excess_norm2"] < 0  # ... with a larger norm than S24 ...
    assert res.details["regularised_rel_dist_FFt"][-1] > 0.1  # ... and not where L + ε‖f‖² goes as ε → 0


# ---------------------------------------------------------------------------- ntk_init_convergence


def test_ntk_init_right_closed_form_passes():
    res = NTK_INIT.evaluate(True)
    assert res.passed, res.details


@pytest.mark.parametrize("analytic_fn", [_analytic_ntk_times_1_05, _erf_blind_to_norms],
                         ids=["analytic_x1.05", "erf_blind_to_norms"])
def test_ntk_init_wrong_closed_form_fails(analytic_fn):
    res = NTK_INIT.evaluate(True, analytic_fn=analytic_fn)
    assert not res.passed, res.details
    assert res.metric > res.tolerance
