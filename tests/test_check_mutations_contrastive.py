"""Mutation tests of the Anil et al. (A) checks: each check, fed a deliberately wrong ingredient, must fail.

Every check in ``dynamics.theorems.contrastive_checks`` forwards its ingredients to the comparison; here
the registry runs and judges it (``get_check(name).evaluate(True, ingredient=...)``) with a wrong one (a
wrong kernel, blow-up time, similarity, step size, PCA matrix or an untrained network) in fast mode.  The
right ingredient is run too (same cached runs that tests/test_theorems.py then reuses) so that each test
shows the same check passing and failing.
"""

import numpy as np
import pytest

from dynamics import contrastive, networks
from dynamics.experiments import contrastive as ex
from dynamics.theorems import contrastive_checks as cc
from dynamics.theorems import get_check

LEMMA9 = get_check("a_lemma9_ntk_dynamics")
PROP10 = get_check("a_prop10_blowup")
DOT = get_check("a_dot_product_ntk_diverges")
LEMMA16 = get_check("a_lemma16_cv_drift")
LEMMA17 = get_check("a_lemma17_pca_stability")
FIG5 = get_check("a_fig5_deep_and_downstream")

# ---------------------------------------------------------------------------- wrong ingredients
# (module-level functions: the checks' runs are cached on them)


def _ntk_times_1_1(params, X):
    """The NTK at init, 10 % too large."""
    return 1.1 * ex.two_layer_full_ntk(params, X)


def _ntk_of_width_64(params, X):
    """The NTK at init of a fixed width-64 network, whatever the width being checked."""
    return ex.two_layer_full_ntk(networks.init_two_layer(X.shape[1], 64, params["W"].shape[1], seed=0), X)


def _blowup_time_times(factor):
    def fn(P0, S0, C):
        return factor * contrastive.blowup_time(P0, S0, C)

    return fn


_BLOWUP_LATE, _BLOWUP_EARLY = _blowup_time_times(1.05), _blowup_time_times(0.95)


def _analytic_ntk_times_2(X):
    return 2.0 * cc.analytic_relu_ntk(X)


def _step_growing_like_sqrt_m(M):
    """A step size growing like √M (lr 0.01 at the smallest width, 256)."""
    return ex.GRASS_LR * np.sqrt(M / 256)


def _untrained(params, d, lr, n_steps):
    """The 'trained' network left at its initialisation (W orthonormalised as Grassmannian GD would)."""
    return contrastive.orthonormalize_readout(params)


# ---------------------------------------------------------------------------- Lemma 9


def test_lemma9_local_flow_is_lemma9_flow():
    """The mutation path (a frozen kernel given explicitly) with the NTK at init is contrastive.lemma9_flow."""
    d = contrastive.contrastive_digits(10)
    params = networks.init_two_layer(d.dim, 64, ex.Z_OUT, seed=0)
    t = np.array([5.0])
    ref = contrastive.lemma9_flow(params, d, t, similarity="cosine")
    got = ex.frozen_kernel_flow(ex.two_layer_full_ntk(params, d.inputs), params, d, t)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kernel_fn", [_ntk_times_1_1, _ntk_of_width_64], ids=["ntk_x1.1", "ntk_of_width_64"])
def test_lemma9_wrong_kernel_fails(kernel_fn):
    right = LEMMA9.evaluate(True)
    wrong = LEMMA9.evaluate(True, kernel_fn=kernel_fn)
    assert right.passed
    assert not wrong.passed
    # the difference stops shrinking: slopes leave the window
    assert max(wrong.details["leave_one_out_slopes"]) > cc.LEMMA9_SLOPE_WINDOW[1]


# ---------------------------------------------------------------------------- Prop 10


@pytest.mark.parametrize("blowup_time_fn", [_BLOWUP_LATE, _BLOWUP_EARLY], ids=["tbar_x1.05", "tbar_x0.95"])
def test_prop10_wrong_blowup_time_fails(blowup_time_fn):
    right = PROP10.evaluate(True)
    wrong = PROP10.evaluate(True, blowup_time_fn=blowup_time_fn)
    assert right.passed and right.details["blows_up_near_tbar"]
    assert not wrong.passed
    assert not wrong.details["blows_up_near_tbar"]


# ---------------------------------------------------------------------------- dot product diverges


def test_dot_diverges_cosine_swapped_in_fails():
    right = DOT.evaluate(True)
    wrong = DOT.evaluate(True, similarity="cosine")
    assert right.passed
    assert not wrong.passed
    assert all(not np.isfinite(t) for t in wrong.details["t_overflow_dot"])  # no divergence at all


def test_dot_diverges_wrong_kernel_rate_fails():
    """The same overflow times against the growth rate of a kernel twice too large: slope off by ~2."""
    wrong = DOT.evaluate(True, kernel_fn=_analytic_ntk_times_2)
    assert not wrong.passed
    assert all(t < ex.DOT_T_MAX for t in wrong.details["t_overflow_dot"])  # it fails on the rate alone
    assert wrong.metric > wrong.tolerance


# ---------------------------------------------------------------------------- Lemmas 16, 17


def test_lemma16_drift_not_shrinking_with_width_fails():
    right = LEMMA16.evaluate(True)
    wrong = LEMMA16.evaluate(True, lr_fn=_step_growing_like_sqrt_m)
    assert right.passed
    assert not wrong.passed
    assert wrong.metric > cc.LEMMA16_SLACK


def test_lemma17_pca_of_wrong_matrix_fails():
    right = LEMMA17.evaluate(True)
    wrong = LEMMA17.evaluate(True, similarity_t="dot")  # PCA of C_V of A8 at time t, of A10 at 0
    assert right.passed
    assert not wrong.passed


# ---------------------------------------------------------------------------- Fig 5


def test_fig5_untrained_network_fails():
    right = FIG5.evaluate(True)
    wrong = FIG5.evaluate(True, train_fn=_untrained)
    assert right.passed
    assert not wrong.passed
    assert wrong.details["margin_over_baseline"]["trained"] < cc.DOWNSTREAM_MARGIN
    # only the downstream part changed
    assert wrong.details["deep_cosine_leave_one_out_slopes"] == right.details["deep_cosine_leave_one_out_slopes"]
