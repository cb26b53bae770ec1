"""No silent wrong answer (issue #10): NaN/inf, complex input and 0-d scalars at the public API.

* The jit-able model and loss functions reject NaN/inf in concrete input with a ``ValueError`` naming
  the argument, and still run under ``jax.jit``/``jax.grad``/``jax.vmap`` with the same values.
* Complex arrays (and lists of complex numbers) raise a ``TypeError`` naming the argument instead of
  being truncated to their real part.
* 0-d NumPy/JAX numbers are accepted for ``lr``, ``radius``, ``delta``, ``temperature``; NaN, negative,
  bool and complex values are still rejected.
* ``grassmann.subspace_alignment`` names ``A``/``B`` in its errors; ``benchmarks`` runs from any directory.
"""

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynamics  # noqa: F401  (float64)
from dynamics import barlow, grassmann, kernel, losses, networks, ntk, trainer
from dynamics import contrastive as ctr

ROOT = Path(__file__).resolve().parent.parent
RNG = np.random.default_rng(0)


def _r(*shape):
    return RNG.standard_normal(shape)


# ---------------------------------------------------------------------------------------------
# 1. NaN/inf rejected eagerly, jit/grad unchanged
#
# Each case: (id, fn(*args) -> array, args (a list of pytrees of arrays), the argument to poison as
# (index into args, key path inside it or ()), the name the error must give).

_P2 = {"V": _r(5, 3), "W": _r(5, 2)}  # networks: V (M, D), W (M, Z)
_PE = {"V": _r(4, 3), "W": _r(4, 2)}  # grassmann (networks layout): V (h, d), W (h, z)
_X = _r(4, 3)
_C = (lambda a: a + a.T)(_r(3, 3))
_PD = ctr.init_deep(3, 5, 2, depth=2, seed=0)
_PD = {"V": tuple(np.asarray(v) for v in _PD["V"]), "W": np.asarray(_PD["W"])}
_F = _r(6, 2)
_NORMS = np.abs(_r(6)) + 0.5

CASES = [
    ("networks.two_layer_apply", lambda p, x: networks.two_layer_apply(p, x, "tanh"), [_P2, _X],
     [((1,), r"^x must be finite"), ((0, "V"), r"^params\['V'\] must be finite"),
      ((0, "W"), r"^params\['W'\] must be finite")]),
    ("networks.linear_apply", networks.linear_apply, [{"W": _r(2, 3)}, _X],
     [((1,), r"^x must be finite"), ((0, "W"), r"^params\['W'\] must be finite")]),
    ("networks.hidden_features", lambda p, x: networks.hidden_features(p, x, "erf"), [{"V": _P2["V"]}, _X],
     [((1,), r"^x must be finite"), ((0, "V"), r"^params\['V'\] must be finite")]),
    ("grassmann.network_apply-linear", grassmann.network_apply("linear"), [_PE, _X],
     [((1,), r"^x must be finite"), ((0, "V"), r"^params\['V'\] must be finite"),
      ((0, "W"), r"^params\['W'\] must be finite")]),
    ("grassmann.network_apply-tanh", grassmann.network_apply("tanh"), [_PE, _X],
     [((1,), r"^x must be finite"), ((0, "W"), r"^params\['W'\] must be finite")]),
    ("grassmann.trace_loss", grassmann.trace_loss, [_C, _r(3, 2)],
     [((0,), r"^C must be finite"), ((1,), r"^theta must be finite")]),
    ("grassmann.scaled_loss", grassmann.scaled_loss, [_C, _r(3, 2)],
     [((0,), r"^C must be finite"), ((1,), r"^theta must be finite")]),
    ("grassmann.operator_ball", grassmann.operator_ball, [_r(3, 2)], [((0,), r"^theta must be finite")]),
    ("grassmann.tangent_project", grassmann.tangent_project, [np.linalg.qr(_r(4, 2))[0], _r(4, 2)],
     [((0,), r"^M must be finite"), ((1,), r"^G must be finite")]),
    ("grassmann.network_apply-E1",
     lambda p, a, b, c: losses.triplet_contrastive(*(grassmann.network_apply("linear")(p, x) for x in (a, b, c))),
     [_PE, _X, _r(4, 3), _r(4, 3)],
     [((1,), r"^x must be finite"), ((3,), r"^x must be finite"), ((0, "V"), r"^params\['V'\] must be finite")]),
    ("contrastive.similarity-dot", lambda f, g: ctr.similarity(f, g), [_r(4, 2), _r(4, 2)],
     [((0,), r"^f must be finite"), ((1,), r"^g must be finite")]),
    ("contrastive.similarity-cosine", lambda f, g: ctr.similarity(f, g, "cosine"), [_r(4, 2), _r(4, 2)],
     [((0,), r"^f must be finite"), ((1,), r"^g must be finite")]),
    ("contrastive.similarity-cosine_bound",
     lambda f, g, n1, n2: ctr.similarity(f, g, "cosine_bound", norms=(n1, n2)),
     [_r(4, 2), _r(4, 2), _NORMS[:4], _NORMS[2:]],
     [((0,), r"^f must be finite"), ((2,), r"^norms\[0\] must be finite"), ((3,), r"^norms\[1\] must be finite")]),
    ("contrastive.reduce_similarities-linear", lambda S: ctr.reduce_similarities(S, (1, -1)), [_r(2, 4)],
     [((0,), r"^S must be finite")]),
    ("contrastive.reduce_similarities-log_softmax",
     lambda S: ctr.reduce_similarities(S, (1, -1, -1), "log_softmax", temperature=0.5), [_r(3, 4)],
     [((0,), r"^S must be finite")]),
    ("contrastive.contrastive_loss", lambda fa, fp: ctr.contrastive_loss(fa, fp, (1, -1), similarity="cosine"),
     [_r(3, 2), _r(2, 3, 2)], [((0,), r"^f_anchor must be finite"), ((1,), r"^f_partners must be finite")]),
    ("contrastive.deep_apply", ctr.deep_apply, [_PD, _X],
     [((1,), r"^x must be finite"), ((0, "V", 1), r"^params must be finite.*params\['V'\]\[1\]"),
      ((0, "W"), r"^params must be finite.*params\['W'\]")]),
    ("contrastive.function_loss-cosine", lambda F: ctr.function_loss(2, (1, -1), similarity="cosine")(F), [_F],
     [((0,), r"^F must be finite")]),
    ("contrastive.function_loss-cosine_bound",
     lambda F, n: ctr.function_loss(2, (1, -1), similarity="cosine_bound", loss="log_softmax")(F, n),
     [_F, _NORMS], [((0,), r"^F must be finite"), ((1,), r"^norms must be finite")]),
    ("contrastive.safe_norm", ctr.safe_norm, [_r(4, 3)], [((0,), r"^f must be finite")]),
    ("contrastive.cv_factors_from_features",
     lambda a, p: ctr.cv_factors_from_features(a, p, (1, -1), "cosine_bound")[1], [_r(3, 5), _r(2, 3, 5)],
     [((0,), r"^phi_anchor must be finite"), ((1,), r"^phi_partners must be finite")]),
    ("contrastive.cv_matrix", lambda a, b: ctr.cv_matrix((a, b)), [_r(3, 5), _r(3, 5)],
     [((0,), r"^factors must be finite.*factors\[0\]"), ((1,), r"^factors must be finite.*factors\[1\]")]),
    ("contrastive.cv_frobenius_norm", lambda a, b: ctr.cv_frobenius_norm((a, b)), [_r(2, 9), _r(2, 9)],
     [((0,), r"^factors must be finite")]),
]


def _poison(args, where, value):
    """A deep copy of ``args`` with ``value`` written into one entry of the leaf at ``where``."""
    args = jax.tree_util.tree_map(lambda a: np.array(a, dtype=float), list(args))
    *path, last = where
    holder = args
    for k in path:
        holder = holder[k]
    leaf = holder[last]
    if isinstance(holder, tuple):  # tuples of layers (deep network) are immutable: rebuild
        raise AssertionError("poison a leaf inside a tuple through its parent list/dict")
    leaf.flat[leaf.size // 2] = value
    return args


def _poison_any(args, where, value):
    if len(where) == 3 and where[1] == "V":  # params["V"] is a tuple of layer matrices
        i, key, layer = where
        args = jax.tree_util.tree_map(lambda a: np.array(a, dtype=float), list(args))
        layers = list(args[i][key])
        layers[layer].flat[0] = value
        args[i] = dict(args[i], V=tuple(layers))
        return args
    return _poison(args, where, value)


_BAD = [pytest.param(fn, args, where, match, bad, id=f"{name}-{'.'.join(map(str, where))}-{bad}")
        for name, fn, args, wheres in CASES for where, match in wheres for bad in ("nan", "inf")]


@pytest.mark.parametrize("fn, args, where, match, bad", _BAD)
def test_non_finite_concrete_input_is_rejected_by_name(fn, args, where, match, bad):
    poisoned = _poison_any(args, where, float(bad))
    with pytest.raises(ValueError, match=match):
        fn(*poisoned)
    # JAX arrays are concrete too (not only NumPy input)
    with pytest.raises(ValueError, match=match):
        fn(*jax.tree_util.tree_map(jnp.asarray, poisoned))


VMAP_CASES = {"networks.two_layer_apply", "grassmann.network_apply-linear", "grassmann.trace_loss",
              "contrastive.deep_apply",
              "contrastive.function_loss-cosine_bound", "contrastive.similarity-cosine"}


@pytest.mark.parametrize("name, fn, args", [pytest.param(n, f, a, id=n) for n, f, a, _ in CASES])
def test_jit_grad_and_vmap_give_the_eager_values(name, fn, args):
    args = [jax.tree_util.tree_map(jnp.asarray, a) for a in args]
    eager = fn(*args)
    assert np.all(np.isfinite(np.asarray(eager)))
    np.testing.assert_allclose(jax.jit(fn)(*args), eager, rtol=1e-12, atol=1e-12)

    # gradient of a scalar summary w.r.t. the first argument: traced by grad, checked against a
    # central difference along a random direction
    def scalar(first):
        return jnp.sum(jnp.sin(fn(first, *args[1:])))

    g = jax.grad(scalar)(args[0])
    g_jit = jax.jit(jax.grad(scalar))(args[0])
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12), g, g_jit)
    direction = jax.tree_util.tree_map(lambda a: jnp.asarray(np.random.default_rng(1).standard_normal(a.shape)),
                                       args[0])
    h = 1e-6
    shifted = [jax.tree_util.tree_map(lambda a, d, s=s: a + s * h * d, args[0], direction) for s in (1, -1)]
    fd = (scalar(shifted[0]) - scalar(shifted[1])) / (2 * h)
    dd = sum(jnp.sum(a * d) for a, d in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(direction)))
    np.testing.assert_allclose(dd, fd, rtol=1e-5, atol=1e-7)

    # vmap over a leading copy axis of the first argument (a few cases: eager vmap is slow to dispatch)
    if name not in VMAP_CASES:
        return
    batched = jax.tree_util.tree_map(lambda a: jnp.stack([a, a]), args[0])
    out = jax.vmap(lambda first: fn(first, *args[1:]))(batched)
    np.testing.assert_allclose(out[1], eager, rtol=1e-12, atol=1e-12)


def test_safe_norm_no_longer_maps_nan_to_zero():
    f = np.array([[np.nan, 1.0], [0.0, 0.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="^f must be finite"):
        ctr.safe_norm(f)
    # inside jit the value is unknown at trace time: the NaN propagates (the trainer's check sees it)
    out = np.asarray(jax.jit(ctr.safe_norm)(f))
    assert np.isnan(out[0]) and out[1] == 0.0 and out[2] == 5.0
    # and the subgradient at f = 0 is still 0, not NaN
    g = jax.grad(lambda v: jnp.sum(ctr.safe_norm(v)))(jnp.zeros((2, 3)))
    assert np.all(np.asarray(g) == 0.0)


def test_trainers_still_reject_nonfinite_after_jit():
    """The checks above pass tracers through; a run that blows up still stops with NonFiniteError."""
    d = ctr.prop10_data(C=4.0, n=4)
    p0 = networks.init_two_layer(1, 8, 1, seed=0)
    with pytest.raises(trainer.NonFiniteError):
        ctr.train_contrastive(p0, d, lr=5.0, n_steps=400, similarity="dot", record_steps=[400])


# ---------------------------------------------------------------------------------------------
# 2. complex input: TypeError naming the argument, never its real part


def _x():
    return np.random.default_rng(2).standard_normal((12, 3))


COMPLEX_CASES = [
    ("barlow.cross_correlation", lambda z: barlow.cross_correlation(1j * z, 1j * z), "x"),
    ("barlow.cross_correlation-x_prime", lambda z: barlow.cross_correlation(z, z + 1e-3j), "x_prime"),
    ("barlow.cross_correlation-list", lambda z: barlow.cross_correlation([[1.0, 2j], [3.0, 4.0]], z[:2, :2]), "x"),
    ("kernel.KernelBarlowTwins.fit", lambda z: kernel.KernelBarlowTwins(n_components=2).fit(z * (1 + 1j), z), "x"),
    ("trainer.train_barlow_linear", lambda z: trainer.train_barlow_linear(z, 1j * z, lr=0.1, n_steps=2), "x_prime"),
    ("ntk.analytic_ntk", lambda z: ntk.analytic_ntk(z.astype(complex), z), "x1"),
    ("ntk.analytic_ntk-list", lambda z: ntk.analytic_ntk(z, [[1j, 0.0, 0.0]]), "x2"),
    ("grassmann.trajectory", lambda z: grassmann.trajectory(-np.eye(3) * (1 + 0j), np.eye(3)[:, :1], [0.0, 1.0]),
     "C"),
    ("grassmann.trace_loss", lambda z: grassmann.trace_loss(jnp.eye(3) * 1j, jnp.eye(3)[:, :1]), "C"),
    ("grassmann.network_apply", lambda z: grassmann.network_apply("linear")(grassmann.init_network(3, 2, 1), z + 0j),
     "x"),
    ("grassmann.train_projected",
     lambda z: grassmann.train_projected(grassmann.network_apply("linear"), grassmann.init_network(3, 2, 1), z, z * 1j,
                                         z, lr=0.1, n_steps=1),
     "positives"),
    ("grassmann.operator_ball", lambda z: grassmann.operator_ball(z[:3, :2] * 1j), "theta"),
    ("grassmann.retract", lambda z: grassmann.retract(z[:3, :2] + 0j), "M"),
    ("grassmann.subspace_alignment", lambda z: grassmann.subspace_alignment(z[:, :2], z[:, :2] * 1j), "B"),
    ("networks.two_layer_apply", lambda z: networks.two_layer_apply(networks.init_two_layer(3, 4, 2), 1j * z), "x"),
    ("networks.linear_apply", lambda z: networks.linear_apply({"W": z[:2] * 1j}, z), r"params\['W'\]"),
    ("contrastive.contrastive_loss", lambda z: ctr.contrastive_loss(z * 1j, np.stack([z, z]), (1, -1)), "f_anchor"),
    ("contrastive.similarity", lambda z: ctr.similarity(z, jnp.asarray(z * 1j)), "g"),
    ("contrastive.safe_norm", lambda z: ctr.safe_norm(jnp.asarray(z) + 0j), "f"),
    ("contrastive.function_loss", lambda z: ctr.function_loss(4, (1, -1))(z * 1j), "F"),
    ("contrastive.deep_apply", lambda z: ctr.deep_apply(ctr.init_deep(3, 4, 2, depth=2), z * 1j), "x"),
    ("contrastive.deep_ntk",
     lambda z: ctr.deep_ntk({**ctr.init_deep(3, 4, 2), "W": jnp.ones((4, 2)) * 1j}, z[:2], z[:2]), "params"),
    ("contrastive.cv_eigh", lambda z: ctr.cv_eigh((z * 1j, z)), "factors"),
    ("contrastive.orthonormalize_readout", lambda z: ctr.orthonormalize_readout({"W": z[:, :2] * 1j}),
     r"params\['W'\]"),
    ("contrastive.ContrastiveData", lambda z: ctr.ContrastiveData(z * 1j, np.stack([z, z]), (1, -1)), "anchors"),
    ("contrastive.ContrastiveData-labels",
     lambda z: ctr.ContrastiveData(z, np.stack([z, z]), (1, -1), labels=np.arange(12) * 1j), "labels"),
    ("contrastive.cv_factors",
     lambda z: ctr.cv_factors({"V": jnp.ones((4, 3)) * 1j, "W": jnp.ones((4, 2))},
                              ctr.ContrastiveData(z, np.stack([z, z]), (1, -1))), r"params\['V'\]"),
    ("contrastive.downstream_accuracy",
     lambda z: ctr.downstream_accuracy(z, np.arange(12) % 2 * 1j, z, np.arange(12) % 2), "train_labels"),
]


@pytest.mark.parametrize("fn, name", [pytest.param(f, n, id=i) for i, f, n in COMPLEX_CASES])
def test_complex_input_is_a_named_type_error(fn, name):
    with pytest.raises(TypeError, match=rf"^{name} .*(real|complex)"):
        fn(_x())


def test_complex_tracer_is_rejected_inside_jit_too():
    """The dtype is static: a complex array traced by jit is refused at trace time."""
    x = jnp.asarray(_x())
    p = networks.init_two_layer(3, 4, 2)
    with pytest.raises(TypeError, match="^x must be a real"):
        jax.jit(networks.two_layer_apply)(p, x * 1j)
    with pytest.raises(TypeError, match="^S must be a real"):
        jax.jit(lambda S: ctr.reduce_similarities(S, (1, -1)))(jnp.ones((2, 3)) * 1j)


def test_cross_correlation_of_imaginary_views_is_not_zeros():
    """Before: ``cross_correlation(1j*x, 1j*xp)`` silently returned the zero matrix (real part only)."""
    x = _x()
    with pytest.raises(TypeError, match="^x must be a real numeric array"):
        barlow.cross_correlation(1j * x, 1j * x[::-1])


# ---------------------------------------------------------------------------------------------
# 3. 0-d NumPy/JAX numbers for lr, radius, delta, temperature

NUMBERS = [pytest.param(jnp.asarray(0.1), id="jax0d"), pytest.param(np.float64(0.1), id="np_float64"),
           pytest.param(np.asarray(0.1), id="np0d")]
BAD_NUMBERS = [
    pytest.param(float("nan"), ValueError, id="nan"), pytest.param(jnp.asarray(np.nan), ValueError, id="jax_nan"),
    pytest.param(-0.1, ValueError, id="negative"), pytest.param(jnp.asarray(-0.1), ValueError, id="jax_negative"),
    pytest.param(True, TypeError, id="bool"), pytest.param(jnp.asarray(True), TypeError, id="jax_bool"),
    pytest.param(0.1 + 0j, TypeError, id="complex"), pytest.param(jnp.asarray(0.1 + 1j), TypeError, id="jax_complex"),
]


def _tiny_data():
    return ctr.contrastive_digits(20)


def _two_layer(d):
    return networks.init_two_layer(d.dim, 8, 3, seed=0)


def _grassmann_problem():
    rng = np.random.default_rng(3)
    X, Xp, Xn = (rng.standard_normal((10, 4)) for _ in range(3))
    return X, Xp, Xn, grassmann.init_network(4, 3, 2, seed=0), grassmann.data_matrix(X, Xp, Xn)


def _call_grassmann(fn_name, value):
    X, Xp, Xn, p, C = _grassmann_problem()
    if fn_name == "frobenius_ball":
        return grassmann.frobenius_ball(p, value)
    if fn_name == "operator_ball":
        return grassmann.operator_ball(grassmann.network_theta(p) * 3.0, radius=value)
    if fn_name == "train_projected":
        return grassmann.train_projected(grassmann.network_apply("linear"), p, X, Xp, Xn, lr=value, n_steps=3)
    if fn_name == "train_trace":
        return grassmann.train_trace(C, p, lr=value, n_steps=3)
    if fn_name == "discretised_flow":
        return grassmann.discretised_flow(C, np.asarray(grassmann.network_theta(p)), lr=value, n_steps=3)
    if fn_name == "time_per_step":
        return grassmann.time_per_step(lambda q: grassmann.trace_loss(jnp.asarray(C), q), grassmann.network_theta(p),
                                       lr=value, n_steps=2, repeats=1)
    raise AssertionError(fn_name)


def _call_contrastive(fn_name, value):
    rng = np.random.default_rng(4)  # the same inputs on every call (results are compared between calls)
    f, g, S, F6, phi_a, phi_p = (rng.standard_normal(s) for s in ((4, 3), (4, 3), (2, 4), (6, 3), (3, 5), (2, 3, 5)))
    if fn_name == "similarity-delta":
        return ctr.similarity(f, g, "cosine", delta=value)
    if fn_name == "reduce_similarities-temperature":
        return ctr.reduce_similarities(S, (1, -1), "log_softmax", temperature=value)
    if fn_name == "contrastive_loss-delta":
        return ctr.contrastive_loss(f, np.stack([g, f]), (1, -1), similarity="cosine", delta=value)
    if fn_name == "contrastive_loss-temperature":
        return ctr.contrastive_loss(f, np.stack([g, f]), (1, -1), loss="log_softmax", temperature=value)
    if fn_name == "function_loss-delta":
        return ctr.function_loss(2, (1, -1), similarity="cosine", delta=value)(F6)
    if fn_name == "function_loss-temperature":
        return ctr.function_loss(2, (1, -1), loss="log_softmax", temperature=value)(F6)
    if fn_name == "cv_factors_from_features-delta":
        return ctr.cv_factors_from_features(phi_a, phi_p, (1, -1), "cosine_bound", delta=value)
    d = _tiny_data()
    p = _two_layer(d)
    if fn_name == "cv_factors-delta":
        return ctr.cv_factors(p, d, "cosine_bound", delta=value)
    if fn_name == "cv_trace_loss-delta":
        return ctr.cv_trace_loss(p, d, "cosine_bound", delta=value)
    if fn_name == "pca_readout-delta":
        return ctr.pca_readout(p, d, 2, delta=value)
    if fn_name == "iterative_pca-lr":
        return ctr.iterative_pca(p, d, 1, value)
    if fn_name == "iterative_pca-delta":
        return ctr.iterative_pca(p, d, 1, 0.1, delta=value)
    if fn_name == "make_loss-delta":
        return ctr.make_loss(d, delta=value)(p)
    if fn_name == "make_loss-temperature":
        return ctr.make_loss(d, loss="log_softmax", temperature=value)(p)
    if fn_name == "train_contrastive-lr":
        return ctr.train_contrastive(p, d, lr=value, n_steps=2, record_outputs=False)
    if fn_name == "train_contrastive-delta":
        return ctr.train_contrastive(p, d, lr=0.01, n_steps=2, delta=value, record_outputs=False)
    if fn_name == "train_contrastive-temperature":
        return ctr.train_contrastive(p, d, lr=0.01, n_steps=2, loss="log_softmax", temperature=value,
                                     record_outputs=False)
    raise AssertionError(fn_name)


GRASSMANN_NUMBERS = ["frobenius_ball", "operator_ball", "train_projected", "train_trace", "discretised_flow",
                     "time_per_step"]
CONTRASTIVE_NUMBERS = ["similarity-delta", "reduce_similarities-temperature", "contrastive_loss-delta",
                       "contrastive_loss-temperature", "function_loss-delta", "function_loss-temperature",
                       "cv_factors_from_features-delta", "cv_factors-delta", "cv_trace_loss-delta", "pca_readout-delta",
                       "iterative_pca-lr", "iterative_pca-delta", "make_loss-delta", "make_loss-temperature",
                       "train_contrastive-lr"]  # train_contrastive passes delta, temperature to make_loss
NUMBER_CALLS = ([pytest.param(_call_grassmann, n, id=f"grassmann.{n}") for n in GRASSMANN_NUMBERS]
                + [pytest.param(_call_contrastive, n, id=f"contrastive.{n}") for n in CONTRASTIVE_NUMBERS])


@functools.lru_cache(maxsize=None)
def _reference(call, fn_name):
    """The result for the plain float 0.1, computed once per function."""
    return call(fn_name, 0.1)


def _arg_name(fn_name):
    if "-" in fn_name:
        return fn_name.split("-")[1]
    return "radius" if fn_name.endswith("_ball") else "lr"


@pytest.mark.parametrize("value", NUMBERS)
@pytest.mark.parametrize("call, fn_name", NUMBER_CALLS)
def test_zero_d_numbers_are_accepted_and_give_the_float_result(call, fn_name, value):
    got = call(fn_name, value)
    want = _reference(call, fn_name)
    if fn_name == "time_per_step":
        assert got > 0
        return
    got_leaves = jax.tree_util.tree_leaves(got, is_leaf=lambda v: isinstance(v, trainer.History))
    want_leaves = jax.tree_util.tree_leaves(want, is_leaf=lambda v: isinstance(v, trainer.History))
    for a, b in zip(got_leaves, want_leaves):
        if isinstance(a, trainer.History):
            np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-12)
            np.testing.assert_allclose(a.t, b.t, rtol=1e-12)
        else:
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("bad, exc", BAD_NUMBERS)
@pytest.mark.parametrize("call, fn_name", NUMBER_CALLS)
def test_bad_numbers_are_still_rejected_by_name(call, fn_name, bad, exc):
    with pytest.raises(exc, match=rf"^{_arg_name(fn_name)} must"):
        call(fn_name, bad)


def test_traced_delta_and_temperature_work_under_jit():
    f, g = jnp.asarray(_r(4, 3)), jnp.asarray(_r(4, 3))
    eager = ctr.contrastive_loss(f, jnp.stack([g, f]), (1, -1), similarity="cosine", loss="log_softmax",
                                 delta=0.2, temperature=0.5)
    jitted = jax.jit(lambda dl, tau: ctr.contrastive_loss(f, jnp.stack([g, f]), (1, -1), similarity="cosine",
                                                          loss="log_softmax", delta=dl, temperature=tau))
    np.testing.assert_allclose(jitted(0.2, 0.5), eager, rtol=1e-12)
    np.testing.assert_allclose(jax.jit(lambda r: grassmann.operator_ball(3 * jnp.eye(3)[:, :2], r))(0.5),
                               0.5 * jnp.eye(3)[:, :2], rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# 4. subspace_alignment names the argument at fault


@pytest.mark.parametrize("A, B, match", [
    pytest.param(np.eye(4)[:, :2], np.eye(3)[:, :2], r"^A and B must have the same shape", id="rows"),
    pytest.param(np.eye(4)[:, :2], np.eye(4)[:, :3], r"^A and B must have the same shape", id="cols"),
    pytest.param(np.eye(2, 3), np.eye(2, 3), r"^A must have shape \(d, z\) with 1 <= z <= d", id="wide"),
    pytest.param(np.zeros((3, 0)), np.zeros((3, 0)), r"^A must have shape \(d, z\)", id="empty"),
    pytest.param(np.eye(4)[:, :2], np.ones((4, 2)), r"^B must have full column rank", id="rank_B"),
    pytest.param(np.zeros((4, 2)), np.eye(4)[:, :2], r"^A must have full column rank", id="rank_A"),
    pytest.param(np.full((4, 2), np.nan), np.eye(4)[:, :2], r"^A must be finite", id="nan_A"),
    pytest.param(np.eye(4)[:, :2], [1.0, 2.0], r"^B must be 2-D", id="1d_B"),
])
def test_subspace_alignment_errors_name_the_argument(A, B, match):
    with pytest.raises(ValueError, match=match) as err:
        grassmann.subspace_alignment(A, B)
    assert "F1" not in str(err.value) and "F2" not in str(err.value)


def test_subspace_alignment_value_unchanged():
    A = np.linalg.qr(_r(5, 2))[0]
    assert grassmann.subspace_alignment(A, A @ np.array([[2.0, 1.0], [0.0, 3.0]])) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# 5. the benchmark suite from another directory


def _run_outside(args, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


def test_benchmarks_run_by_path_from_any_directory(tmp_path):
    """``python path/to/benchmarks`` works from another directory (``python -m benchmarks`` cannot: the
    folder is not part of the installed package, so it is found only from the repository root)."""
    report = tmp_path / "b.json"
    out = _run_outside([str(ROOT / "benchmarks"), "--quick", "--json", str(report), "kernel_fit"], tmp_path)
    assert out.returncode == 0, out.stderr
    rows = json.loads(report.read_text())["rows"]
    assert rows and {r["benchmark"] for r in rows} == {"kernel_fit"}
    from benchmarks import __main__ as benchmarks_main

    assert "from any directory" in benchmarks_main.__doc__
