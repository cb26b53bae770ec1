"""Importing dynamics leaves JAX's configuration alone; the package still computes in float64.

Each test starts a fresh Python process with JAX's default configuration (float64 off), since
this test process itself runs with float64 on (tests/conftest.py).
"""

import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dynamics

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(code: str, tmp_path=None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("JAX_PLATFORMS", "cpu")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                         cwd=tmp_path or ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_user_float32_code_stays_float32_after_import():
    out = _run("""
        import jax, jax.numpy as jnp
        def user_model(w, x):
            return jnp.tanh(x @ w).sum()
        w = jnp.ones((3, 2), jnp.float32); x = jnp.linspace(0, 1, 6, dtype=jnp.float32).reshape(2, 3)
        before = (jax.config.jax_enable_x64, jnp.ones(3).dtype, jax.jit(jax.grad(user_model))(w, x).dtype,
                  (jnp.asarray(0.1) * w).dtype)
        import dynamics, dynamics.theorems
        import numpy as np
        dynamics.barlow.aligned_singular_values(np.linspace(0, 5, 4), np.array([1.0, 0.5]), np.array([1e-6, 1e-7]))
        after = (jax.config.jax_enable_x64, jnp.ones(3).dtype, jax.jit(jax.grad(user_model))(w, x).dtype,
                 (jnp.asarray(0.1) * w).dtype)
        print(before); print(after)
    """)
    before, after = out.strip().splitlines()
    assert before == after == "(False, dtype('float32'), dtype('float32'), dtype('float32'))"


def test_losses_and_networks_keep_the_callers_precision():
    out = _run("""
        import jax, jax.numpy as jnp, dynamics
        z = jnp.linspace(-1, 1, 24, dtype=jnp.float32).reshape(6, 4)
        params = dynamics.networks.init_two_layer(4, 8, 3, seed=0)
        p32 = {k: jnp.asarray(params[k], jnp.float32) for k in ("V", "W")}
        f = jax.jit(dynamics.networks.two_layer_apply)(p32, z)
        g = jax.grad(lambda p: dynamics.networks.two_layer_apply(p, z).sum())(p32)
        print(f.dtype, g["V"].dtype, g["W"].dtype)
    """)
    assert out.split() == ["float32"] * 3


SCRIPT = """
    import numpy as np, dynamics
    rng = np.random.default_rng(0)
    gammas, s0 = np.array([1.0, 0.4, 0.1]), np.array([1e-6, 3e-7, 1e-7])
    t = np.geomspace(1e-2, 60.0, 7)
    x = rng.standard_normal((40, 6)); xp = x + 0.3 * rng.standard_normal((40, 6))
    Gamma = dynamics.barlow.cross_correlation(x, xp)
    W0 = 1e-3 * rng.standard_normal((2, 6))
    C = -Gamma
    theta0 = np.linalg.qr(rng.standard_normal((6, 2)))[0]
    est = dynamics.kernel.KernelBarlowTwins(2, "rbf").fit(x, xp)
    W_final, hist = dynamics.trainer.train_barlow_linear(x, xp, d=2, init_scale=1e-3, lr=0.05, n_steps=200)
    res = {
        "s10": dynamics.barlow.aligned_singular_values(t, gammas, s0),
        "tau": dynamics.barlow.critical_times(gammas, s0),
        "flow": dynamics.barlow.gradient_flow(W0, Gamma, t),
        "ntk": dynamics.ntk.analytic_ntk(x[:5], x[:7], "erf"),
        "theta": dynamics.grassmann.trajectory(C, theta0, t),
        "kbt": est.transform(x[:9]),
        "blowup": np.array(dynamics.contrastive.blowup_time(0.5, 0.2, 1.3)),
        "trained": W_final, "trained_loss": hist.loss,
    }
    types = sorted({f"{type(v).__module__}.{type(v).__name__}:{np.asarray(v).dtype}" for v in res.values()})
    np.savez(OUT, **{k: np.asarray(v) for k, v in res.items()})
    print(";".join(types))
"""


def test_public_functions_compute_in_float64_with_x64_off(tmp_path):
    out_off = tmp_path / "off.npz"
    printed = _run(f"OUT = {str(out_off)!r}\n" + textwrap.dedent(SCRIPT), tmp_path)
    # every result is a float64 NumPy array even though the process never enabled float64
    assert printed.strip() == "numpy.ndarray:float64", printed
    # and equals the same computation in a process with float64 on
    out_on = tmp_path / "on.npz"
    _run("import jax; jax.config.update('jax_enable_x64', True)\n" + f"OUT = {str(out_on)!r}\n"
         + textwrap.dedent(SCRIPT), tmp_path)
    off, on = np.load(out_off), np.load(out_on)
    for key in on.files:
        np.testing.assert_allclose(off[key], on[key], rtol=1e-12, atol=0, err_msg=key)


def test_verify_runs_in_float64_with_x64_off():
    out = _run("""
        import jax
        from dynamics.theorems import get_check
        res = get_check("prop_4_1_aligned_flow").run(fast=True)
        print(res.passed, res.metric < 1e-8, jax.config.jax_enable_x64)
    """)
    assert out.split() == ["True", "True", "False"]


def test_scoped_wrapper_is_the_identity_when_x64_is_on():
    # this process runs with float64 on: the scoped functions return JAX arrays unchanged (no copy)
    import jax

    assert jax.config.jax_enable_x64
    s = dynamics.barlow.aligned_singular_values(np.array([0.0, 1.0]), np.array([1.0]), np.array([1e-3]))
    assert s.dtype == np.float64


@pytest.mark.parametrize("name", ["aligned_singular_values", "gradient_flow", "critical_times"])
def test_scoped_functions_keep_their_docstrings(name):
    fn = getattr(dynamics.barlow, name)
    assert fn.__doc__ and fn.__name__ == name


def test_returned_functions_are_scoped_and_freed():
    out = _run("""
        import gc, weakref
        import numpy as np, dynamics
        X = np.random.default_rng(0).standard_normal((4, 3))
        params = dynamics.networks.init_two_layer(3, 16, 2, seed=0)
        fn = dynamics.ntk.two_layer_ntk_fn(X, X)            # a closure, scoped when float64 is off
        K = fn(params)
        ref = weakref.ref(fn)
        del fn
        gc.collect()
        print(type(K).__name__, K.dtype, ref() is None)
    """)
    assert out.split() == ["ndarray", "float64", "True"]
