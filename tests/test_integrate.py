"""dynamics._integrate: the start time t0 apart from the save times, solver and controller objects,
one configuration of defaults, failures read from diffrax's result code.

Reference solutions are closed forms (y' = −a y, y' = y²) evaluated independently of the solver.
"""

import dataclasses

import diffrax
import jax.numpy as jnp
import numpy as np
import pytest

from dynamics import _integrate
from dynamics._integrate import IntegrationError, SolverConfig, integrate


def _decay(t, y, a):
    return -a * y


def _exact(t, t0=0.0, a=2.0, y0=1.0):
    return y0 * np.exp(-a * (np.asarray(t) - t0))


@pytest.mark.parametrize("backend", ["diffrax", "scipy"])
@pytest.mark.parametrize("t0, ts", [
    pytest.param(0.0, [0.3, 0.7, 1.0], id="ts0_after_t0"),
    pytest.param(0.0, [0.0, 0.5, 1.0], id="ts0_equals_t0"),
    pytest.param(1.5, [1.5, 2.0, 2.5], id="t0_nonzero_equal"),
    pytest.param(-1.0, [-0.5, 0.0, 0.25], id="t0_negative_after"),
    pytest.param(2.0, [2.0, 2.0, 3.0], id="repeated_t0"),
])
def test_t0_apart_from_the_save_times(backend, t0, ts):
    ys = integrate(_decay, jnp.ones(3), ts, jnp.asarray(2.0), t0=t0, backend=backend, rtol=1e-11)
    assert ys.shape == (3, 3)
    np.testing.assert_allclose(ys[:, 0], _exact(ts, t0), rtol=1e-8, atol=0)
    # a save time equal to t0 holds y0 exactly
    for k in np.flatnonzero(np.asarray(ts) == t0):
        assert np.all(ys[k] == 1.0)


def test_all_save_times_at_t0_return_y0():
    ys = integrate(_decay, jnp.arange(1.0, 4.0), [1.0, 1.0], jnp.asarray(2.0), t0=1.0)
    np.testing.assert_array_equal(ys, np.tile(np.arange(1.0, 4.0), (2, 1)))


def test_t0_default_is_zero_and_ts_before_t0_is_rejected():
    ys = integrate(_decay, jnp.ones(1), [1.0], jnp.asarray(2.0))
    np.testing.assert_allclose(ys[0, 0], np.exp(-2.0), rtol=1e-9)
    with pytest.raises(ValueError, match=r"ts must be >= t0 = 1"):
        integrate(_decay, jnp.ones(1), [0.5, 2.0], jnp.asarray(2.0), t0=1.0)
    with pytest.raises(ValueError, match="t0 must be finite"):
        integrate(_decay, jnp.ones(1), [0.5], jnp.asarray(2.0), t0=float("nan"))
    with pytest.raises(TypeError, match="t0 must be a real number"):
        integrate(_decay, jnp.ones(1), [0.5], jnp.asarray(2.0), t0=[0.0])
    with pytest.raises(TypeError, match="t0 must be a real number"):
        integrate(_decay, jnp.ones(1), [0.5], jnp.asarray(2.0), t0="0")


def test_batch_with_t0():
    y0 = np.array([[1.0, 2.0], [3.0, 4.0]])
    ys = integrate(_decay, y0, [1.0, 1.5], jnp.asarray(2.0), t0=0.5, batch=True, rtol=1e-11)
    assert ys.shape == (2, 2, 2)
    np.testing.assert_allclose(ys, y0[:, None, :] * _exact([1.0, 1.5], 0.5)[None, :, None], rtol=1e-8)


@pytest.mark.parametrize("solver", [diffrax.Dopri8(), diffrax.Tsit5(), diffrax.Kvaerno5()],
                         ids=["Dopri8", "Tsit5", "Kvaerno5"])
def test_solver_objects(solver):
    ys = integrate(_decay, jnp.ones(2), [0.5, 1.0], jnp.asarray(2.0), solver=solver, rtol=1e-9)
    np.testing.assert_allclose(ys[:, 0], _exact([0.5, 1.0]), rtol=1e-6)


def test_solver_object_equals_its_name():
    a = integrate(_decay, jnp.ones(2), [0.5, 1.0], jnp.asarray(2.0), solver=diffrax.Dopri8())
    b = integrate(_decay, jnp.ones(2), [0.5, 1.0], jnp.asarray(2.0), solver="dopri8")
    np.testing.assert_array_equal(a, b)


def test_controller_objects():
    pid = diffrax.PIDController(rtol=1e-9, atol=1e-12, pcoeff=0.3, icoeff=0.4)
    ys = integrate(_decay, jnp.ones(2), [0.5, 1.0], jnp.asarray(2.0), controller=pid)
    np.testing.assert_allclose(ys[:, 0], _exact([0.5, 1.0]), rtol=1e-7)
    # a fixed step: dopri8 with dt0 = 0.01 on y' = −2y is accurate to far below 1e-10
    ys = integrate(_decay, jnp.ones(2), [0.5, 1.0], jnp.asarray(2.0), controller=diffrax.ConstantStepSize(), dt0=0.01)
    np.testing.assert_allclose(ys[:, 0], _exact([0.5, 1.0]), rtol=1e-10)
    # a loose controller is used as given: its error is larger than the package default's
    loose = integrate(_decay, jnp.ones(1), [1.0], jnp.asarray(2.0), controller=diffrax.PIDController(rtol=1e-3, atol=1e-6))
    tight = integrate(_decay, jnp.ones(1), [1.0], jnp.asarray(2.0))
    assert abs(loose[0, 0] - np.exp(-2.0)) > 100 * abs(tight[0, 0] - np.exp(-2.0))


def test_controller_bad_input():
    with pytest.raises(ValueError, match="either in controller .* or as rtol/atol"):
        integrate(_decay, jnp.ones(1), [1.0], jnp.asarray(2.0), controller=diffrax.PIDController(rtol=1e-8, atol=1e-8),
                  rtol=1e-9)
    with pytest.raises(TypeError, match="controller must be a diffrax step-size controller"):
        integrate(_decay, jnp.ones(1), [1.0], jnp.asarray(2.0), controller="pid")
    with pytest.raises(ValueError, match="controller .* needs backend='diffrax'"):
        integrate(_decay, jnp.ones(1), [1.0], jnp.asarray(2.0), controller=diffrax.PIDController(rtol=1e-8, atol=1e-8),
                  backend="scipy")
    with pytest.raises(ValueError, match="dt0 must be given"):
        integrate(_decay, jnp.ones(1), [1.0], jnp.asarray(2.0), controller=diffrax.ConstantStepSize())


def test_solver_bad_input():
    with pytest.raises(TypeError, match="solver must be a name .* or a diffrax solver object"):
        integrate(_decay, jnp.ones(1), [1.0], jnp.asarray(2.0), solver=3)
    with pytest.raises(TypeError, match="solver must be a solve_ivp method name"):
        integrate(_decay, jnp.ones(1), [1.0], jnp.asarray(2.0), solver=diffrax.Dopri8(), backend="scipy")
    with pytest.raises(ValueError, match="solver must be one of"):
        integrate(_decay, jnp.ones(1), [1.0], jnp.asarray(2.0), solver="euler")


@pytest.mark.parametrize("backend", ["diffrax", "scipy"])
def test_max_steps_failure_names_the_budget_and_the_time_reached(backend):
    with pytest.raises(IntegrationError, match=r"max_steps=20 reached at t = [0-9.e+-]+ of t1 = 1e\+06") as err:
        integrate(_decay, jnp.ones(3), [1.0, 1e6], jnp.asarray(2.0), t0=0.5, backend=backend, max_steps=20)
    reached = float(str(err.value).split("at t = ")[1].split()[0])
    assert 0.5 < reached < 1e6


def test_failure_is_read_from_diffrax_result_code(monkeypatch):
    """A solve that stops for a reason other than the budget is reported with diffrax's own message."""
    real = _integrate.diffrax.diffeqsolve

    def failing(*args, **kwargs):
        sol = real(*args, **kwargs)
        return dataclasses.replace(sol, result=diffrax.RESULTS.singular) if hasattr(diffrax.RESULTS, "singular") \
            else sol

    if not hasattr(diffrax.RESULTS, "singular"):
        pytest.skip("this diffrax has no RESULTS.singular")
    monkeypatch.setattr(_integrate.diffrax, "diffeqsolve", failing)
    with pytest.raises(IntegrationError, match="the solver stopped"):
        integrate(_decay, jnp.ones(1), [1.0], jnp.asarray(2.0))


def test_blow_up_is_a_named_failure():
    # y' = y², y(0) = 1 blows up at t = 1
    with pytest.raises(IntegrationError, match="max_steps|non-finite"):
        integrate(lambda t, y, a: y**2, jnp.ones(1), [0.5, 2.0], max_steps=2000)


def test_solver_config_holds_the_defaults_in_one_place():
    cfg = SolverConfig()
    assert (cfg.solver, cfg.rtol, cfg.atol, cfg.max_steps, cfg.backend, cfg.controller) == (
        _integrate.DEFAULT_SOLVER, _integrate.DEFAULT_RTOL, None, _integrate.DEFAULT_MAX_STEPS,
        _integrate.DEFAULT_BACKEND, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.rtol = 1.0
    tight = cfg.replace(rtol=1e-12, atol=1e-20)
    assert tight.rtol == 1e-12 and cfg.rtol == _integrate.DEFAULT_RTOL
    a = integrate(_decay, jnp.ones(1), [1.0], jnp.asarray(2.0), config=tight)
    b = integrate(_decay, jnp.ones(1), [1.0], jnp.asarray(2.0), rtol=1e-12, atol=1e-20)
    np.testing.assert_array_equal(a, b)
    # a keyword overrides the config's field
    c = integrate(_decay, jnp.ones(1), [1.0], jnp.asarray(2.0), config=tight, backend="scipy", solver="DOP853")
    np.testing.assert_allclose(c, a, rtol=1e-10)
    scipy_cfg = SolverConfig(backend="scipy", solver="DOP853", rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(integrate(_decay, jnp.ones(1), [1.0], jnp.asarray(2.0), config=scipy_cfg)[0, 0],
                               np.exp(-2.0), rtol=1e-9)


@pytest.mark.parametrize("kw, err, match", [
    pytest.param({"rtol": 0.0}, ValueError, "rtol", id="rtol"),
    pytest.param({"atol": -1.0}, ValueError, "atol", id="atol"),
    pytest.param({"max_steps": 0}, ValueError, "max_steps", id="max_steps"),
    pytest.param({"backend": "torch"}, ValueError, "backend", id="backend"),
    pytest.param({"dt0": 0.0}, ValueError, "dt0", id="dt0"),
    pytest.param({"solver": "RK45"}, ValueError, "solver", id="solver_for_diffrax"),
    pytest.param({"controller": 1e-8}, TypeError, "controller", id="controller"),
])
def test_solver_config_validates_at_construction(kw, err, match):
    with pytest.raises(err, match=match):
        SolverConfig(**kw)


def test_config_must_be_a_solver_config():
    with pytest.raises(TypeError, match="config must be a SolverConfig"):
        integrate(_decay, jnp.ones(1), [1.0], jnp.asarray(2.0), config={"rtol": 1e-8})


def test_a_new_atol_reuses_the_compiled_solve():
    """Tolerances enter the compiled program as arrays: inits of different scales (each with its own
    scale-aware atol) do not recompile — the second and third calls are much faster than a compile."""
    import time

    field = lambda t, y, a: -a * y + 0.0 * y**3  # noqa: E731 - a fresh field: the first call compiles
    integrate(field, 1e-3 * jnp.ones(4), [0.5, 1.0], jnp.asarray(2.0))
    t = time.perf_counter()
    for scale in (1e-5, 1e-7, 3e-9):
        ys = integrate(field, scale * jnp.ones(4), [0.5, 1.0], jnp.asarray(2.0))
        np.testing.assert_allclose(ys[:, 0], scale * _exact([0.5, 1.0]), rtol=1e-8)
    assert time.perf_counter() - t < 1.0
