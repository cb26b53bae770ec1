"""s_predictor_simclr_vicreg_width: flows.predictor with the initial NTK vs SimCLR and VICReg training of a
small-init wide network — the registered check passes, and fails with a wrong kernel or the losses swapped
(the network runs are cached, so the mutations redo only the predictions)."""

import numpy as np
import pytest

from dynamics import ntk
from dynamics.experiments import wide
from dynamics.theorems import get_check

CHECK = get_check("s_predictor_simclr_vicreg_width")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _infinite_width_ntk(params, X):
    """Θ of ``analytic_ntk``: right for O(1) readout weights, wrong for a small readout (x·x' term)."""
    return ntk.analytic_ntk(X, X, "relu")


def test_check_passes_and_error_falls_with_width():
    res = CHECK.evaluate(True)
    assert res.passed, (res.metric, res.conditions)
    for name in wide.PREDICTOR_LOSSES:
        err = res.details[f"{name}_sup_relative_error"]
        assert all(b < a for a, b in zip(err, err[1:])), (name, err)
        # the error is independent of the recorded history: recompute one width directly
        r = wide.predictor_run(name, res.details["widths"][-1])
        assert np.isclose(np.max(r["relative_error"]), err[-1], rtol=1e-12)


def test_wrong_kernel_fails():
    res = CHECK.evaluate(True, kernel_fn=_infinite_width_ntk)
    assert not res.passed
    assert not all(v for k, v in res.conditions.items() if k.endswith("widest_error_below_gate"))


def test_swapped_losses_fail():
    res = CHECK.evaluate(True, swap_losses=True)
    assert not res.passed


def test_bad_loss_name():
    with pytest.raises(ValueError, match="loss"):
        wide.predictor_run("barlow", 128)
    with pytest.raises(ValueError, match="predict_loss"):
        wide.predictor_run("simclr", 128, predict_loss="bt")
