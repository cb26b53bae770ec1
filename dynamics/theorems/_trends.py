"""Trend fits shared by the checks: log–log slopes over a sweep, and the same slope with each point
left out in turn (a trend gate on leave-one-out slopes fails when the trend rests on one point)."""

from __future__ import annotations

import numpy as np


def fit_slope(x, y) -> float:
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


def loo_slopes(x, y, log_y: bool = True) -> list[float]:
    """Slopes of log y (or y, with ``log_y=False``) against log x, fitted with each point left out in turn."""
    lx, v = np.log(np.asarray(x, float)), np.asarray(y, float)
    if log_y:
        v = np.log(v)
    return [float(np.polyfit(np.delete(lx, i), np.delete(v, i), 1)[0]) for i in range(len(lx))]
