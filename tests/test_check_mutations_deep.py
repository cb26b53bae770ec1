"""Mutation tests of the deep-network checks: fed a deliberately wrong ingredient, each must fail.

The registry runs and judges each check (``get_check(name).evaluate(True, ingredient=...)``) with the right
ingredient and with a wrong one: eigenvalue records shuffled in time, hidden records time-reversed, the eNTK
replaced by a random PSD kernel.  The training runs are cached in the process, so the checks share them.
"""

import numpy as np
import pytest

from dynamics.theorems import get_check

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _shuffled_in_time(t, eigenvalues):
    """The records in a random order (fixed seed): the same values, no time course."""
    perm = np.random.default_rng(0).permutation(len(t))
    return t, np.asarray(eigenvalues)[perm]


def _time_reversed(t, eigenvalues):
    return t, np.asarray(eigenvalues)[::-1]


def _random_psd(K):
    """A random PSD kernel of the same size and trace, unrelated to the network."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(K.shape[0], K.shape[0]))
    R = A @ A.T
    return R * (np.trace(K) / np.trace(R))


@pytest.mark.parametrize("name, ingredients", [
    ("deep_small_init_steps", {"records": _shuffled_in_time}),
    ("deep_stepwise_trend_alpha", {"records": _shuffled_in_time}),
    ("deep_hidden_steps", {"hidden_records": _time_reversed}),
    ("deep_table1_alignment", {"kernel_fn": _random_psd}),
])
def test_wrong_ingredient_fails(name, ingredients):
    check = get_check(name)
    assert check.evaluate(True).passed, f"{name} fails with the right ingredients"
    res = check.evaluate(True, **ingredients)
    assert not res.passed, f"{name} passed with a wrong ingredient: metric {res.metric}, {res.details}"
