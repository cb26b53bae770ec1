"""dynamics.barlow.speedup and the S App. G derivations of dynamics.barlow.symbolic.

Independent references: the modewise landscape against losses.modified_barlow_twins of one-column
embeddings, closed forms against scipy's solve_ivp of the rhs, escape times against scipy quadrature,
stable steps against a brute-force scan of the step map, and the sympy verifications.
"""

import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp

from dynamics import losses
from dynamics.barlow import speedup
from dynamics.barlow import symbolic as sym

MODS = speedup.MODIFICATIONS


@pytest.mark.parametrize("mod", MODS)
def test_modewise_landscape_is_the_loss_of_one_mode(mod):
    """ℓ̄(s̄) equals modified_barlow_twins of one-column embeddings with C = s̄² (N = 1, z_a = z_b = s̄)."""
    sbar = np.array([0.05, 0.4, 0.8, 0.95, 1.05, 1.2, 1.6])
    ref = [float(losses.modified_barlow_twins(np.array([[x]]), np.array([[x]]), modification=mod)) for x in sbar]
    np.testing.assert_allclose(speedup.modewise_loss(sbar, mod), ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("mod", ["sqr", "none", "smooth_min", "smooth_eps", "hinge"])
def test_closed_forms_solve_the_ode(mod):
    g = np.array([2.0, 0.5, 0.01, 0.3])
    s0 = np.array([1e-3, 1e-2, 3.0, 2.5])  # λ0 = 2e-6, 5e-5, 0.09, 1.875 (above the minimum)
    t = np.linspace(0, 15, 31)
    cf = speedup.modified_aligned_singular_values(t, g, s0, mod)
    sol = solve_ivp(lambda _, y: speedup.modified_modewise_rhs(y, g, mod), (0, 15), s0, t_eval=t, method="DOP853",
                    rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cf, sol.y.T, rtol=1e-6)


def test_sqr_negative_gamma_and_mirror():
    t = np.linspace(0, 3, 13)
    s = speedup.modified_aligned_singular_values(t, [-1.0, 2.0, 0.0], [0.5, -0.2, 0.7], "sqr")
    sol = solve_ivp(lambda _, y: speedup.modified_modewise_rhs(y, -1.0, "sqr"), (0, 0.2), [0.5], t_eval=t[t <= 0.2],
                    rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(s[: sol.y.shape[1], 0], sol.y[0], rtol=1e-8, atol=1e-12)
    assert s[-1, 0] == 0.0  # reaches 0 at t = log(1.5)/2 and stays
    np.testing.assert_allclose(s[:, 1], -speedup.modified_aligned_singular_values(t, [2.0], [0.2], "sqr")[:, 0])
    np.testing.assert_allclose(s[:, 2], 0.7)


def test_quartic_has_no_closed_form():
    with pytest.raises(NotImplementedError, match="quartic"):
        speedup.modified_aligned_singular_values([0.0, 1.0], [1.0], [0.1], "quartic")


@pytest.mark.parametrize("mod", ["none", "sqr", "smooth_eps", "quartic", "hinge"])
def test_escape_time_vs_quadrature(mod):
    g = 0.7
    for lam0 in (1e-8, 1e-3, 0.3):
        s0 = np.sqrt(lam0 / g)
        T = speedup.escape_time([g], [s0], mod, 0.5)[0]
        # dt = ds / rhs(s) from s0 to the s with γ s² = 1/2
        ref, _ = quad(lambda s: 1 / speedup.modified_modewise_rhs(s, g, mod), s0, np.sqrt(0.5 / g), epsabs=0,
                      epsrel=1e-12, limit=200)
        assert T == pytest.approx(ref, rel=1e-9)


def test_escape_time_trend_in_s0():
    g = 0.4
    sbar0 = np.geomspace(1e-2, 1e-10, 9)
    T_none = speedup.escape_time(np.full(9, g), sbar0 / np.sqrt(g), "none")
    T_sqr = speedup.escape_time(np.full(9, g), sbar0 / np.sqrt(g), "sqr")
    slope = np.polyfit(np.log(1 / sbar0), T_none, 1)[0]
    assert slope == pytest.approx(1 / (4 * g), rel=1e-3)  # S16
    assert np.ptp(T_sqr) < 0.02 * T_sqr[0]
    assert T_sqr[-1] < np.log(1 / (1 - np.sqrt(0.5))) / (2 * g)


@pytest.mark.parametrize("mod", ["none", "sqr", "smooth_eps"])
def test_local_stable_step_vs_brute_force_map(mod):
    """From s̄ = 1 − 1e-7 the step map is stable just below h* and not just above."""
    h_star = speedup.local_stable_step(mod)
    for f, expected in ((0.99, True), (1.01, False)):
        traj = speedup.modewise_gd(1 - 1e-7, f * h_star, mod, 4000)
        assert bool(speedup.stable_trajectory(speedup.distance_to_minima(traj, mod))) is expected, (mod, f)


def test_stable_lr_values_and_example():
    assert speedup.max_stable_lr([1.0, 1e-6], "none") == 0.25  # S App. G.3
    assert sym.appendix_g3_example_lr() == sym.sp.Rational(1, 4)
    assert speedup.max_stable_lr([2.0], "sqr") == pytest.approx(0.5)
    assert speedup.local_stable_step("smooth_eps", eps=0.5) == pytest.approx((1 + 4) / 8)
    for mod in ("smooth_min", "quartic", "hinge"):
        assert speedup.local_stable_step(mod) == float("inf")
    # from small init the flat-minimum losses have a finite bound, larger than the original's
    h = {m: speedup.max_stable_lr([1.0], m, s0=[1e-2]) for m in ("none", "quartic", "hinge")}
    assert h["none"] == pytest.approx(0.25, rel=2e-3)
    assert h["none"] < h["quartic"] < np.inf and h["none"] < h["hinge"] < np.inf


def test_stable_trajectory_rule():
    n = np.arange(1, 401)
    assert speedup.stable_trajectory(0.5 ** n)                       # geometric convergence
    assert speedup.stable_trajectory(1 / np.sqrt(n))                  # sub-linear (quartic)
    assert not speedup.stable_trajectory(0.1 + 0.05 * (-1.0) ** n)    # a 2-cycle
    assert not speedup.stable_trajectory(np.r_[0.5 ** n[:200], np.full(200, np.inf)])
    with pytest.raises(ValueError, match="dist"):
        speedup.stable_trajectory([1.0, 0.5])


def test_symbolic_derivations():
    assert sym.verify_modified_sqr_solution()
    assert sym.modified_local_stable_step("none") == sym.sp.Rational(1, 4)
    assert sym.modified_local_stable_step("sqr") == 1
    assert sym.modified_curvatures("smooth_eps") == (8, 8 * sym.epsilon**2)
    for mod, region in (("none", "all"), ("sqr", "positive"), ("hinge", "below"), ("smooth_min", "above")):
        assert sym.verify_modified_matrix_gradient(mod, region, d=2, m=2)
    branches = sym.modified_loss_branches("smooth_eps")
    assert sym.sp.simplify(branches["above"] - sym.epsilon**2 * (sym.lam - 1) ** 2) == 0
    with pytest.raises(ValueError, match="modification"):
        sym.modified_spectral_loss("sqrt")


def test_bad_input():
    with pytest.raises(ValueError, match="modification"):
        speedup.modified_modewise_rhs(0.1, 1.0, "sharp")
    with pytest.raises(ValueError, match="gammas"):
        speedup.escape_time([-1.0], [0.1], "none")
    with pytest.raises(ValueError, match="threshold"):
        speedup.escape_time([1.0], [0.1], "hinge", threshold=0.8)
    with pytest.raises(ValueError, match="s0"):
        speedup.escape_time([1.0], [0.0], "none")
    with pytest.raises(ValueError, match="s0"):
        speedup.modified_aligned_singular_values([0.0], [1.0, 2.0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="t"):
        speedup.modified_aligned_singular_values([1.0, 0.0], [1.0], [0.1])
    with pytest.raises(ValueError, match="eps"):
        speedup.max_stable_lr([1.0], "smooth_eps", eps=-1.0)
    with pytest.raises(ValueError, match="gammas"):
        speedup.max_stable_lr([0.0], "none")
    with pytest.raises(ValueError, match="s and gammas"):
        speedup.modified_modewise_rhs(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="sbar"):
        speedup.modewise_loss([np.nan])
    with pytest.raises(ValueError, match="width"):
        speedup.modified_aligned_singular_values([0.0, 1.0], [1.0], [0.1], "hinge", width=1.5)
    with pytest.raises(ValueError, match="n_steps"):
        speedup.modewise_gd(0.1, 0.1, "none", 0)
