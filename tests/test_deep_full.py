"""The deep-network checks in full mode: the residual network of dynamics.experiments.deep (about 15 minutes of
training on a 2-core CPU), the runs of ``make figures``.  Slow: run with ``-m slow``.

Each check must pass with its real ingredients and fail with a wrong one (records shuffled in time, a random PSD
kernel), as the fast-mode mutation tests do on the MLP."""

import numpy as np
import pytest

from dynamics.experiments import deep
from dynamics.theorems import get_check

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]


def _shuffled_in_time(t, eigenvalues):
    perm = np.random.default_rng(0).permutation(len(t))
    return t, np.asarray(eigenvalues)[perm]


def _random_psd(K):
    A = np.random.default_rng(0).normal(size=K.shape)
    R = A @ A.T
    return R * (np.trace(K) / np.trace(R))


def test_full_mode_trains_the_residual_network():
    s = deep.deep_setup(False)
    assert s["network"] == "resnet" and s["head_norm"] and s["alpha_scope"] == "last"
    run = deep.deep_run("barlow_twins", "small", fast=False)
    assert "head" in run.params and "norm" in run.params["head"]


@pytest.mark.parametrize("name, wrong", [
    ("deep_small_init_steps", {"records": _shuffled_in_time}),
    ("deep_stepwise_trend_alpha", {"records": _shuffled_in_time}),
    ("deep_hidden_steps", {"hidden_records": lambda t, h: (t, np.asarray(h)[::-1])}),
    ("deep_table1_alignment", {"kernel_fn": _random_psd}),
])
def test_full_deep_check_passes_and_fails_with_a_wrong_ingredient(name, wrong):
    check = get_check(name)
    res = check.evaluate(False)
    assert res.passed, f"{name} fails in full mode: metric {res.metric}, {res.details}"
    bad = check.evaluate(False, **wrong)
    assert not bad.passed, f"{name} passes in full mode with a wrong ingredient: metric {bad.metric}"
