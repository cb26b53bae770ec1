"""Mutation tests: each S App. G check, fed one deliberately wrong ingredient, must fail.

``get_check(name).evaluate(True, ingredient=wrong)``: a closed form with the wrong rate (e^{−γt} for
e^{−2γt}), an ODE with the wrong exponent ((1 − λ)⁵ for the quartic's (1 − λ)³) or factor, a stable learning
rate off by 10 %, an escape time with the wrong factor, a numerical module with a wrong stable step.
"""

import types

import numpy as np
import pytest

from dynamics.barlow import speedup
from dynamics.theorems import get_check
from dynamics.theorems import speedup_checks as sc

SQR = get_check("s_g2_sqr_closed_form")
ODES = get_check("s_g_modified_aligned_odes")
LR = get_check("s_g3_stable_lr")
ESCAPE = get_check("s_g_escape_time")
SYMBOLIC = get_check("s_g_symbolic_derivations")


def _sqr_half_rate(t, gammas, s0, modification):
    return speedup.modified_aligned_singular_values(np.asarray(t) / 2, gammas, s0, modification)


def test_sqr_closed_form_right_passes_wrong_rate_fails():
    assert SQR.evaluate(True).passed
    res = SQR.evaluate(True, closed_form=_sqr_half_rate)
    assert not res.passed and res.metric > res.tolerance


def _rhs_wrong_exponent(mod):
    right = sc._derived_rhs(mod)
    if mod != "quartic":
        return right
    return lambda s, g: 8 * g * s * (1 - g * s**2) ** 5


def _rhs_wrong_factor(mod):
    right = sc._derived_rhs(mod)
    return (lambda s, g: 0.9 * right(s, g)) if mod == "hinge" else right


@pytest.mark.parametrize("rhs_for", [_rhs_wrong_exponent, _rhs_wrong_factor], ids=["quartic_exponent_5", "hinge_x0.9"])
def test_modified_odes_wrong_rhs_fails(rhs_for):
    res = ODES.evaluate(True, rhs_for=rhs_for)
    assert not res.passed and res.metric > res.tolerance


@pytest.mark.parametrize("factor", [1.1, 0.9])
def test_stable_lr_off_by_10_percent_fails(factor):
    def wrong(*args, **kwargs):
        return factor * speedup.max_stable_lr(*args, **kwargs)

    res = LR.evaluate(True, stable_lr=wrong)
    assert not res.passed and res.metric >= 1


def test_escape_time_wrong_factor_fails():
    def wrong(gammas, s0, modification, threshold):
        T = speedup.escape_time(gammas, s0, modification, threshold)
        return 2 * T if modification == "none" else T  # 1/(4γ) for S16's 1/(8γ)

    res = ESCAPE.evaluate(True, escape_time=wrong)
    assert not res.passed and res.metric > res.tolerance


def test_symbolic_check_catches_a_wrong_stable_step():
    wrong = types.SimpleNamespace(**{name: getattr(speedup, name) for name in speedup.__all__})
    wrong.local_stable_step = lambda mod, eps=0.1: 1.05 * speedup.local_stable_step(mod, eps=eps)
    res = SYMBOLIC.evaluate(True, numeric=wrong)
    assert not res.passed and res.metric > res.tolerance
