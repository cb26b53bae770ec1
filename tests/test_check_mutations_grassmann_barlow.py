"""Mutation tests: each check below, fed one deliberately wrong ingredient, must fail.

The registered check forwards its ingredients to the comparison; here the registry runs and judges it
(``get_check(name).evaluate(True, ingredient=...)``) with a wrong one (a critical time off by 10%, the
wrong initial singular values, a flow with a wrong step or init or term, a wrong activation or linear
comparison model) and must report ``passed = False``.  Fast mode / small sizes only.
"""

import numpy as np
import pytest

from dynamics import barlow, grassmann
from dynamics.theorems import barlow_checks as bc
from dynamics.theorems import get_check

S20 = get_check("s20_stepwise_loss")
FLOW_VS_GD = get_check("e_flow_vs_projected_gd_digits")
THEOREM2 = get_check("e_theorem2_width_independent_flow")
THEOREM1 = get_check("e_theorem1_nonlinear_vs_linear")

# ---------------------------------------------------------------------------- s20_stepwise_loss


def test_s20_right_ingredients_pass():
    res = S20.evaluate(True)
    assert res.passed and res.metric < res.tolerance


@pytest.mark.parametrize("mutation", ["tau_times_1.1", "tau_times_0.95", "s0_from_S21", "s0_times_2"])
def test_s20_wrong_critical_times_fail(mutation):
    kwargs = {
        "tau_times_1.1": {"critical_times": lambda g, s0: 1.1 * barlow.critical_times(g, s0)},
        "tau_times_0.95": {"critical_times": lambda g, s0: 0.95 * barlow.critical_times(g, s0)},
        "s0_from_S21": {"initial_values": lambda W0, Gamma, sigma: barlow.random_init_singular_values(bc.D, sigma)},
        "s0_times_2": {"initial_values": lambda W0, Gamma, sigma: 2.0 * barlow.effective_initial_singular_values(
            W0, Gamma)},
    }[mutation]
    res = S20.evaluate(True, **kwargs)
    assert not res.passed, (mutation, res.metric, res.details["max_relative_offset_to_half_level_times"])
    if mutation == "tau_times_1.1":  # the primary metric itself (S16 within 5%) catches it
        assert res.metric > res.tolerance


# ---------------------------------------------------------------------------- e_flow_vs_projected_gd_digits


def _flow_step_1_5(C, theta0, *, lr, **kwargs):
    return grassmann.discretised_flow(C, theta0, lr=1.5 * lr, **kwargs)


def _flow_unrelated_init(C, theta0, **kwargs):
    return grassmann.discretised_flow(C, grassmann.random_semi_orthogonal(*np.shape(theta0), 1), **kwargs)


def test_flow_vs_gd_right_flow_passes():
    res = FLOW_VS_GD.evaluate(True, timing=False)
    assert res.passed and res.metric < res.tolerance


@pytest.mark.parametrize("flow", [_flow_step_1_5, _flow_unrelated_init], ids=["step_1.5x", "unrelated_init"])
def test_flow_vs_gd_wrong_flow_fails(flow):
    res = FLOW_VS_GD.evaluate(True, flow=flow, timing=False)
    assert not res.passed and res.metric > res.tolerance, res.metric


# ---------------------------------------------------------------------------- e_theorem2_width_independent_flow
# widths 4 and 8 only (both < d = 16, the widths that test width independence): the flow is wrong for all


def _flow_without_projection(C, theta0, ts):  # drops the −Θ Θ^T C Θ term: Prop 1's unconstrained flow
    return grassmann.unconstrained_trajectory(C, theta0, ts)


def _flow_rate_off_5_percent(C, theta0, ts):
    return grassmann.trajectory(0.95 * np.asarray(C), theta0, ts)


def test_theorem2_right_flow_passes_on_small_widths():
    res = THEOREM2.evaluate(True, widths=[4, 8])
    assert res.passed and res.metric < res.tolerance


@pytest.mark.parametrize("flow", [_flow_without_projection, _flow_rate_off_5_percent],
                         ids=["no_projection_term", "rate_0.95"])
def test_theorem2_wrong_flow_fails(flow):
    res = THEOREM2.evaluate(True, flow=flow, widths=[4, 8])
    assert not res.passed and res.metric > res.tolerance, (res.metric, res.details["slope_range"])
    assert res.details["slope_range"][0] < 0.8  # the error no longer falls like lr


# ---------------------------------------------------------------------------- e_theorem1_nonlinear_vs_linear
# init gates only (train=False): the rate windows and the relu / sigmoid values at init


def _tanh_plus_square(params, X):  # φ(u) = tanh(u) + u²/2: φ(0) = 0, φ'(0) = 1, but φ''(0) ≠ 0 → slope −1
    import jax.numpy as jnp

    U = X @ params["V"].T  # V (h, d)
    return (jnp.tanh(U) + 0.5 * U**2) @ params["W"]


def _linear_times_0_95(params, X):
    return 0.95 * grassmann.network_apply("linear")(params, X)


def test_theorem1_right_models_pass_init_gates():
    res = THEOREM1.evaluate(True, train=False)
    assert res.passed and res.metric < res.tolerance


@pytest.mark.parametrize("apply_fns", [{"tanh": _tanh_plus_square}, {"tanh": grassmann.network_apply("relu")},
                                       {"linear": _linear_times_0_95}],
                         ids=["tanh_plus_u2_over_2", "relu_for_tanh", "linear_times_0.95"])
def test_theorem1_wrong_model_fails(apply_fns):
    res = THEOREM1.evaluate(True, apply_fns=apply_fns, train=False)
    assert not res.passed and res.metric > res.tolerance, res.details["rate_loo_slopes_at_init"]
