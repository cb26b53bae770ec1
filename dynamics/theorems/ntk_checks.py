"""Checks for the neural tangent kernel module (theory.md §4, S App. D.5).

The comparison: the empirical NTK of randomly initialised two-layer networks
(:func:`dynamics.ntk.two_layer_ntk`, matrix products over sampled weights) against
the infinite-width kernel (:func:`dynamics.ntk.analytic_ntk`, closed forms with no
sampling).  At initialisation E[K_M] = Θ exactly and K_M is an average of M i.i.d.
terms, so the error should fall like M^{-1/2}; the check fits that slope.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import data, networks, ntk
from ._registry import CheckResult, register

Z_OUT = 10  # output dimension (embedding size of the S / A experiments)


@functools.lru_cache(maxsize=None)
def unit_norm_digits(n: int = 100, crop_size: int = 7, seed: int = 0) -> np.ndarray:
    """Centred 7×7 crops of scikit-learn digits (one view of each pair), rows scaled to unit norm."""
    x, _ = data.digits_pairs(n=n, crop_size=crop_size, center=True, seed=seed)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def width_errors(x, activation, widths, n_seeds, z_out=Z_OUT):
    """Mean over seeds of ‖K_M − Θ‖_F / ‖Θ‖_F for each width M ("trace" NTK, each seed a fresh network)."""
    K_inf = ntk.analytic_ntk(x, x, activation)
    norm_inf = np.linalg.norm(K_inf)
    errs = np.empty((len(widths), n_seeds))
    for i, M in enumerate(widths):
        for s in range(n_seeds):
            params = networks.init_two_layer(x.shape[1], M, z_out, seed=10_000 * s + M)
            K = np.asarray(ntk.two_layer_ntk(params, x, x, activation, output="trace"))
            errs[i, s] = np.linalg.norm(K - K_inf) / norm_inf
    return errs.mean(axis=1)


@register("ntk_init_convergence", paper="A", reference="theory.md §4 NTK; Jacot et al.",
          description="empirical NTK at init converges to the infinite-width NTK at rate M^-1/2 (relu, erf)")
def check_ntk_init_convergence(fast: bool = True) -> CheckResult:
    """Relative Frobenius error of the width-M two-layer NTK ("trace") vs ``analytic_ntk`` on 100 unit-norm
    digit crops (D = 49); log–log slope of the seed-averaged error over M must lie in [−0.65, −0.35] for
    relu and for erf.  Metric: max |slope + 0.5| over the two activations (tolerance 0.15)."""
    x = unit_norm_digits()
    if fast:
        widths, n_seeds = [64, 256, 1024, 4096], 5
    else:
        widths, n_seeds = [2**k for k in range(6, 15)], 20
    lo, hi = -0.65, -0.35
    details = {"widths": widths, "n_seeds": n_seeds, "n_inputs": x.shape[0], "D": x.shape[1], "Z": Z_OUT,
               "criterion": "pass iff lo <= slope <= hi for relu and for erf, i.e. |slope + 0.5| <= 0.15",
               "slope_window": [lo, hi]}
    slopes = {}
    for act in ("relu", "erf"):
        err = width_errors(x, act, widths, n_seeds)
        slope, intercept = np.polyfit(np.log(widths), np.log(err), 1)
        slopes[act] = slope
        details[f"slope_{act}"] = slope
        details[f"rel_err_{act}"] = err
        details[f"err_times_sqrtM_{act}"] = err * np.sqrt(widths)
    deviation = max(abs(s + 0.5) for s in slopes.values())
    passed = all(lo <= s <= hi for s in slopes.values())
    return CheckResult(deviation, 0.15, passed, details)
