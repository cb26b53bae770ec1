"""The S App. G speed-up figure: registered, and its caption numbers are those of the runs."""

import numpy as np
import pytest

from dynamics import figures
from dynamics.experiments import speedup as sp
from dynamics.figures import _speedup


def _row(setting, loss, mod, steps, lr, ratio, status="learned"):
    k = np.array([0, 10, 100])
    lam = np.array([[1e-6, 1e-7], [0.9, 0.1], [1.0, 0.9]])
    return {"setting": setting, "loss": loss, "modification": mod, "best_lr": lr, "steps_to_learn": steps,
            "ratio": ratio, "status": status, "run": {"steps": k, "eigenvalues": lam}}


def _conj():
    runs = {label: {"steps": np.arange(3), "eigenvalues": np.array([[1.0, 1e-6], [1.0, 2e-6], [1.0, 4e-6]])}
            for _, label, _, _ in sp.CONJECTURE_RUNS}
    return {"vicreg": {"with": 2.5, "without": -0.25, "ratio": float("nan"), "runs": runs},
            "barlow_twins": {"with": 3.0, "without": 1.5, "ratio": 2.0, "runs": runs}}


def test_registered():
    assert figures.FIGURES["s_app_g_speedup"] is figures.s_app_g_speedup
    assert "s_app_g_speedup" in figures.__all__


def test_caption_carries_the_rows_numbers(monkeypatch):
    tables = {"linear": [_row("linear", "barlow_twins", "baseline", 400, 0.64, 1.0),
                         _row("linear", "barlow_twins", "sqr", 8, 1.28, 50.0)],
              "wide": [_row("wide", "barlow_twins", "baseline", None, 1.6, None, "not learned by step 500")],
              "deep": [_row("deep", "vicreg", "precondition", None, None, None, "diverged")]}
    monkeypatch.setattr(sp, "speedup_tables", lambda fast: tables)
    monkeypatch.setattr(sp, "vicreg_conjecture", lambda fast: _conj())
    fig, caption = _speedup.s_app_g_speedup(fast=True)
    assert "sqr 8 steps at lr 1.28, 50.00x" in caption
    assert "baseline 400 steps at lr 0.64, 1.00x" in caption
    assert "baseline not learned by step 500" in caption
    assert "precondition diverged at every rate" in caption
    assert "barlow_twins: rate with 3, without 1.5, ratio 2" in caption
    assert "vicreg: rate with 2.5, without -0.25, ratio n/a" in caption
    # panel A holds one curve per Barlow Twins row, the smallest eigenvalue of its run
    lines = [ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith(("baseline", "sqr"))]
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0].get_ydata(), [1e-7, 0.1, 0.9])


@pytest.mark.slow
def test_caption_matches_the_fast_run():
    fig, caption = figures.s_app_g_speedup(fast=True)
    tables = sp.speedup_tables(True)
    for rows in tables.values():
        for r in rows:
            if r["steps_to_learn"] is not None:
                assert f"{r['modification']} {r['steps_to_learn']} steps at lr {r['best_lr']:.4g}" in caption
    conj = sp.vicreg_conjecture(True)
    assert f"rate with {conj['barlow_twins']['with']:.3g}" in caption
