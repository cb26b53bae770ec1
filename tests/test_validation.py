"""Input validation of the public API: bad input raises an error that names the argument.

Project standard: wrong shapes, non-symmetric or non-finite
matrices, negative or non-integer sizes and unknown names get a ``ValueError``/``TypeError`` whose
message names the argument and says what was expected — never a NaN returned silently, never a
low-level JAX/NumPy error.  Each case below is one bad input of one public function; the module's
own test file holds further cases (``EXISTING`` lists where), and :func:`test_every_public_function_is_covered`
keeps the two together in step with ``__all__``.

Everything is tiny: no case compiles a training loop or integrates an ODE.
"""

from __future__ import annotations

import re

import jax.numpy as jnp
import numpy as np
import pytest

import dynamics
from dynamics import (
    barlow,
    data,
    flows,
    grassmann,
    kernel,
    networks,
    ntk,
    sweep,
    theorems,
    trainer,
)
from dynamics import contrastive as ctr
from dynamics._integrate import integrate
from dynamics.barlow import symbolic as bsym
from dynamics.contrastive import symbolic as csym
from dynamics.grassmann import symbolic as gsym

NAN = np.nan
I3 = np.eye(3)
NONSYM = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
W23 = 0.1 * np.ones((2, 3))
X = np.random.default_rng(0).standard_normal((4, 3))
XP = X + 0.1
X_NAN = X.copy()
X_NAN[0, 0] = NAN
C_DIAG = np.diag([-1.0, 0.5, 2.0])
THETA0 = np.eye(3)[:, :1]


def _nan(shape):
    return np.full(shape, NAN)


def _field(t, y, args):
    return -y


def _quadratic(p):
    return jnp.sum(p**2)


def _two_layer(D=1, M=5, Z=2):
    return networks.init_two_layer(D, M, Z)


def _scalar_data():
    return ctr.prop10_data(1.0, 4)  # D = 1, N = 4, Q = 2


def _predictor():
    K = kernel.joint_kernel(X @ X.T, X @ XP.T, XP @ XP.T)
    return kernel.barlow_twins_predict(K, n_components=1)


V_ERR, T_ERR = ValueError, TypeError


def case(name, fn, exc, match):
    return pytest.param(fn, exc, match, id=name)


CASES = [
    # ------------------------------------------------------------------ dynamics._integrate
    case("_integrate.integrate-vector_field", lambda: integrate(3, jnp.ones(2), [0.0, 1.0]), T_ERR, "vector_field"),
    case("_integrate.integrate-ts_nan", lambda: integrate(_field, jnp.ones(2), [0.0, NAN]), V_ERR, "ts must be finite"),
    case("_integrate.integrate-ts_unsorted", lambda: integrate(_field, jnp.ones(2), [0.0, -1.0]), V_ERR,
         "ts must be non-decreasing"),
    case("_integrate.integrate-ts_2d", lambda: integrate(_field, jnp.ones(2), np.ones((2, 2))), V_ERR, "ts must be"),
    case("_integrate.integrate-y0_nan", lambda: integrate(_field, jnp.array([NAN, 1.0]), [0.0, 1.0]), V_ERR,
         "y0 must be finite"),
    case("_integrate.integrate-max_steps", lambda: integrate(_field, jnp.ones(2), [0.0, 1.0], max_steps=0), V_ERR,
         "max_steps must be >= 1"),
    case("_integrate.integrate-max_steps_float", lambda: integrate(_field, jnp.ones(2), [0.0, 1.0], max_steps=1.5),
         T_ERR, "max_steps must be an integer"),
    case("_integrate.integrate-dt0", lambda: integrate(_field, jnp.ones(2), [0.0, 1.0], dt0=-0.1), V_ERR, "dt0"),
    case("_integrate.integrate-solver", lambda: integrate(_field, jnp.ones(2), [0.0, 1.0], solver="euler"), V_ERR,
         "solver must be one of"),
    case("_integrate.integrate-scipy_solver",
         lambda: integrate(_field, jnp.ones(2), [0.0, 1.0], backend="scipy", solver="tsit5"), V_ERR, "solver"),
    case("_integrate.integrate-rtol", lambda: integrate(_field, jnp.ones(2), [0.0, 1.0], rtol=0.0), V_ERR, "rtol"),
    case("_integrate.integrate-batch", lambda: integrate(_field, 1.0, [0.0, 1.0], batch=True), V_ERR, "y0"),
    # ------------------------------------------------------------------ dynamics.barlow
    case("barlow.loss_from_embeddings-shape", lambda: barlow.loss_from_embeddings(np.ones((3, 2)), np.ones((3, 3))),
         V_ERR, "f and f_prime must have the same shape"),
    case("barlow.loss_from_embeddings-nan", lambda: barlow.loss_from_embeddings(X_NAN, XP), V_ERR, "f must be finite"),
    case("barlow.flow_rhs-nonsym", lambda: barlow.flow_rhs(W23, NONSYM), V_ERR, "Gamma must be symmetric"),
    case("barlow.flow_rhs-ndim", lambda: barlow.flow_rhs(np.ones((1, 2, 3)), I3), V_ERR, "W must be 2-D"),
    case("barlow.spectrum-nonsym", lambda: barlow.spectrum(NONSYM), V_ERR, "Gamma must be symmetric"),
    case("barlow.spectrum-nonsquare", lambda: barlow.spectrum(np.ones((3, 2))), V_ERR, "Gamma must be square"),
    case("barlow.spectrum-nan", lambda: barlow.spectrum(_nan((2, 2))), V_ERR, "Gamma must be finite"),
    case("barlow.top_spectral_solution-d_float", lambda: barlow.top_spectral_solution(I3, 2.0), T_ERR,
         "d must be an integer"),
    case("barlow.top_spectral_solution-U_shape", lambda: barlow.top_spectral_solution(I3, 2, U=I3), V_ERR,
         r"U must be an orthogonal \(2, 2\) matrix, got shape \(3, 3\)"),
    case("barlow.top_spectral_solution-U_nan", lambda: barlow.top_spectral_solution(I3, 2, U=_nan((2, 2))), V_ERR,
         "U must be finite"),
    case("barlow.aligned_singular_values-gammas_empty", lambda: barlow.aligned_singular_values([1.0], [], []), V_ERR,
         "gammas must contain at least one"),
    case("barlow.aligned_singular_values-t_2d", lambda: barlow.aligned_singular_values(np.ones((2, 2)), [1.0], [1.0]),
         V_ERR, "t must be 0-D or 1-D"),
    case("barlow.aligned_singular_values-s0_nan", lambda: barlow.aligned_singular_values([1.0], [1.0], [NAN]), V_ERR,
         "s0 must be finite"),
    case("barlow.log_aligned_singular_values-t_neg", lambda: barlow.log_aligned_singular_values([-1.0], [1.0], [1.0]),
         V_ERR, "t must be non-negative"),
    case("barlow.log_aligned_singular_values-s0_len",
         lambda: barlow.log_aligned_singular_values([1.0], [1.0, 2.0], [1.0, 2.0, 3.0]), V_ERR, "s0 must have the same"),
    case("barlow.singular_value_rhs-shape", lambda: barlow.singular_value_rhs([1.0, 2.0], [1.0, 2.0, 3.0]), V_ERR,
         "s and gammas must have the same shape"),
    case("barlow.singular_value_rhs-nan", lambda: barlow.singular_value_rhs([NAN], [1.0]), V_ERR, "s must be finite"),
    case("barlow.embedding_eigenvalues-nan", lambda: barlow.embedding_eigenvalues([1.0], [NAN], [1.0]), V_ERR,
         "gammas must be finite"),
    case("barlow.aligned_loss-s0_len", lambda: barlow.aligned_loss([1.0], [1.0, 2.0], [1.0, 2.0, 3.0]), V_ERR,
         "s0 must have the same length"),
    case("barlow.critical_times-ndim", lambda: barlow.critical_times([1.0], np.ones((2, 2))), V_ERR,
         "s0 must be 0-D or 1-D"),
    case("barlow.stepwise_loss-t_unsorted", lambda: barlow.stepwise_loss([2.0, 1.0], [1.0], [1.0]), V_ERR,
         "t must be non-decreasing"),
    case("barlow.random_init_singular_values-d", lambda: barlow.random_init_singular_values(0, 1.0), V_ERR,
         "d must be >= 1"),
    case("barlow.random_init_singular_values-sigma", lambda: barlow.random_init_singular_values(2, NAN), V_ERR,
         "sigma must be finite"),
    case("barlow.alignment_transform-empty", lambda: barlow.alignment_transform(np.ones((0, 3))), V_ERR,
         "M must have at least one row"),
    case("barlow.alignment_transform-nan", lambda: barlow.alignment_transform(_nan((2, 3))), V_ERR, "M must be finite"),
    case("barlow.effective_initial_singular_values-shape",
         lambda: barlow.effective_initial_singular_values(np.ones((2, 4)), I3), V_ERR, "W has 4 columns"),
    case("barlow.small_init_alignment-d_gt_m", lambda: barlow.small_init_alignment(np.ones((4, 3)), I3), V_ERR,
         "W0 must have d <= m"),
    case("barlow.small_init_alignment-rank", lambda: barlow.small_init_alignment(np.zeros((2, 3)), I3), V_ERR,
         "rank deficient"),
    case("barlow.small_init_prediction-nonsym", lambda: barlow.small_init_prediction(W23, NONSYM, [1.0]), V_ERR,
         "Gamma must be symmetric"),
    case("barlow.small_init_prediction-t_neg", lambda: barlow.small_init_prediction(W23, I3, [-1.0]), V_ERR,
         "t must be non-negative"),
    case("barlow.aligned_trajectory-U_shape",
         lambda: barlow.aligned_trajectory(I3, [1.0, 1.0], [1.0, 0.5], np.eye(2, 3), [1.0]), V_ERR,
         r"U must be \(2, 2\)"),
    case("barlow.aligned_trajectory-V_shape",
         lambda: barlow.aligned_trajectory(np.eye(2), [1.0, 1.0], [1.0, 0.5], I3, [1.0]), V_ERR, "V must have d = 2"),
    case("barlow.appendix_c_rhs-gammas_len", lambda: barlow.appendix_c_rhs(W23, [1.0]), V_ERR,
         "gammas must have length m = 3"),
    case("barlow.appendix_c_rhs-nan", lambda: barlow.appendix_c_rhs(_nan((2, 3)), [1.0, 1.0, 1.0]), V_ERR,
         "A must be finite"),
    case("barlow.appendix_c_solution-d_gt_m", lambda: barlow.appendix_c_solution(np.triu(np.ones((3, 2))), [1.0, 0.5],
                                                                                 [1.0]), V_ERR, "A0 must have d <= m"),
    case("barlow.gradient_flow-W0_ndim", lambda: barlow.gradient_flow(np.ones((1, 1, 2, 3)), I3, [1.0]), V_ERR,
         "W0 must be 2-D or 3-D"),
    case("barlow.gradient_flow-nonsym", lambda: barlow.gradient_flow(W23, NONSYM, [1.0]), V_ERR,
         "Gamma must be symmetric"),
    case("barlow.gradient_flow-batch_nan", lambda: barlow.gradient_flow(np.stack([W23, _nan((2, 3))]), I3, [1.0]),
         V_ERR, "W0 must be finite"),
    case("barlow.gradient_flow-max_steps", lambda: barlow.gradient_flow(W23, I3, [1.0], max_steps=-1), V_ERR,
         "max_steps must be >= 1"),
    case("barlow.gradient_flow-solver", lambda: barlow.gradient_flow(W23, I3, [1.0], solver="euler"), V_ERR,
         "solver must be one of"),
    case("barlow.appendix_c_flow-gammas_len", lambda: barlow.appendix_c_flow(W23, [1.0], [1.0]), V_ERR,
         "gammas must have length m = 3"),
    case("barlow.appendix_c_flow-t_neg", lambda: barlow.appendix_c_flow(W23, [1.0, 1.0, 1.0], [-1.0]), V_ERR,
         "t must be non-negative"),
    # ------------------------------------------------------------------ dynamics.flows
    case("flows.function_space_flow-K_nonsym",
         lambda: flows.function_space_flow(np.triu(np.ones((4, 4))), np.ones((4, 2)),
                                           flows.barlow_twins_function_loss(2), [1.0]), V_ERR, "K must be symmetric"),
    case("flows.function_space_flow-K4_nonsym",
         lambda: flows.function_space_flow(np.random.default_rng(0).standard_normal((4, 4, 2, 2)), np.ones((4, 2)),
                                           flows.barlow_twins_function_loss(2), [0.0]), V_ERR, "K must be symmetric"),
    case("flows.function_space_flow-K_shape",
         lambda: flows.function_space_flow(I3, np.ones((4, 2)), flows.barlow_twins_function_loss(2), [1.0]), V_ERR,
         r"K must have shape \(4, 4\)"),
    case("flows.function_space_flow-loss_fn", lambda: flows.function_space_flow(np.eye(4), np.ones((4, 2)), 3, [1.0]),
         T_ERR, "loss_fn must be callable"),
    case("flows.function_space_flow-F0_nan",
         lambda: flows.function_space_flow(np.eye(4), _nan((4, 2)), flows.barlow_twins_function_loss(2), [1.0]),
         V_ERR, "F0 must be finite"),
    case("flows.function_space_flow-F_test0_alone",
         lambda: flows.function_space_flow(np.eye(4), np.ones((4, 2)), flows.barlow_twins_function_loss(2), [0.0],
                                           F_test0=np.ones((2, 2))), V_ERR, "F_test0 needs K_test"),
    case("flows.function_space_flow-K_test_nan",
         lambda: flows.function_space_flow(np.eye(4), np.ones((4, 2)), flows.barlow_twins_function_loss(2), [1.0],
                                           K_test=_nan((2, 4))), V_ERR, "K_test must be finite"),
    case("flows.barlow_twins_function_loss-n", lambda: flows.barlow_twins_function_loss(0), V_ERR, "n must be >= 1"),
    case("flows.barlow_twins_function_loss-n_float", lambda: flows.barlow_twins_function_loss(2.5), T_ERR,
         "n must be an integer"),
    case("flows.barlow_twins_function_loss-F_shape", lambda: flows.barlow_twins_function_loss(2)(jnp.ones((3, 2))),
         V_ERR, r"F must be \(2n, d\)"),
    # ------------------------------------------------------------------ dynamics.networks
    case("networks.activation-name", lambda: networks.activation("gelu"), V_ERR, "activation must be one of"),
    case("networks.init_two_layer-M_float", lambda: networks.init_two_layer(3, 3.5, 2), T_ERR, "M must be an integer"),
    case("networks.init_two_layer-seed", lambda: networks.init_two_layer(3, 3, 2, seed=-1), V_ERR, "seed must be >= 0"),
    case("networks.init_two_layer-scale", lambda: networks.init_two_layer(3, 3, 2, hidden_scale=NAN), V_ERR,
         "hidden_scale"),
    case("networks.two_layer_apply-activation", lambda: networks.two_layer_apply(_two_layer(3), X, "gelu"), V_ERR,
         "activation must be one of"),
    case("networks.two_layer_apply-x_shape", lambda: networks.two_layer_apply(_two_layer(3), np.ones((4, 5))), V_ERR,
         "x must have 3 features"),
    case("networks.two_layer_apply-params", lambda: networks.two_layer_apply({"V": np.ones((5, 3))}, X), V_ERR,
         "params must be a dict with 'V', 'W'"),
    case("networks.hidden_features-activation", lambda: networks.hidden_features(_two_layer(3), X, "gelu"), V_ERR,
         "activation must be one of"),
    case("networks.hidden_features-x_shape", lambda: networks.hidden_features(_two_layer(3), np.ones((4, 5))), V_ERR,
         "x must have 3 features"),
    case("networks.linear_apply-x_shape", lambda: networks.linear_apply({"W": W23}, np.ones((4, 5))), V_ERR,
         "x must have 3 features"),
    case("networks.linear_apply-params", lambda: networks.linear_apply({"V": W23}, X), V_ERR,
         "params must be a dict with 'W'"),
    case("networks.make_apply-name", lambda: networks.make_apply("deep"), V_ERR, "model must be one of"),
    case("networks.make_apply-activation", lambda: networks.make_apply("two_layer", "gelu"), V_ERR,
         "activation must be one of"),
    # ------------------------------------------------------------------ dynamics.ntk
    case("ntk.analytic_nngp-shape", lambda: ntk.analytic_nngp(X, np.ones((2, 4))), V_ERR, "x1 and x2"),
    case("ntk.analytic_nngp-activation", lambda: ntk.analytic_nngp(X, X, "gelu"), V_ERR, "activation"),
    case("ntk.analytic_ntk-inf", lambda: ntk.analytic_ntk(np.full((2, 3), np.inf), X), V_ERR, "x1 must be finite"),
    case("ntk.empirical_ntk-params_fit_x",
         lambda: ntk.empirical_ntk(networks.two_layer_apply, _two_layer(3), np.ones((2, 4)), np.ones((2, 4))), V_ERR,
         r"apply_fn\(params, x1\) failed"),
    case("ntk.scalar_ntk-x_nan", lambda: ntk.scalar_ntk(networks.two_layer_apply, _two_layer(3), X_NAN, X), V_ERR,
         "x1 must be finite"),
    case("ntk.two_layer_ntk-x_shape", lambda: ntk.two_layer_ntk(_two_layer(3), np.ones((2, 4)), np.ones((2, 4))),
         V_ERR, "x1 and x2 must have"),
    case("ntk.two_layer_ntk_fn-x_nan", lambda: ntk.two_layer_ntk_fn(X_NAN, X), V_ERR, "x1 must be finite"),
    case("ntk.two_layer_ntk_fn-output", lambda: ntk.two_layer_ntk_fn(X, X, output="diag"), V_ERR,
         "output must be one of"),
    case("ntk.max_entry_change-nan", lambda: ntk.max_entry_change(np.eye(2), _nan((2, 2))), V_ERR,
         "K_0 must be finite"),
    # ------------------------------------------------------------------ dynamics.data
    case("data.random_crops-rng", lambda: data.random_crops(np.ones((3, 8, 8)), 3, 0), T_ERR,
         "rng must be a numpy.random.Generator"),
    case("data.random_crops-nan", lambda: data.random_crops(_nan((3, 8, 8)), 3, np.random.default_rng(0)), V_ERR,
         "images must be finite"),
    case("data.random_crops-ndim", lambda: data.random_crops(np.ones((8, 8)), 3, np.random.default_rng(0)), V_ERR,
         "images must have shape"),
    case("data.random_crops-crop_size", lambda: data.random_crops(np.ones((3, 8, 8)), 9, np.random.default_rng(0)),
         V_ERR, "crop_size must be <= 8"),
    case("data.random_shifts-rng", lambda: data.random_shifts(np.ones((3, 8, 8)), 1, None), T_ERR,
         "rng must be a numpy.random.Generator"),
    case("data.random_shifts-max_shift", lambda: data.random_shifts(np.ones((3, 8, 8)), -1, np.random.default_rng(0)),
         V_ERR, "max_shift must be >= 0"),
    case("data.random_shifts-square", lambda: data.random_shifts(np.ones((3, 8, 7)), 1, np.random.default_rng(0)),
         V_ERR, "images must be square"),
    case("data.center_pairs-shape", lambda: data.center_pairs(np.ones((3, 2)), np.ones((3, 3))), V_ERR,
         "x and x_prime must have the same shape"),
    case("data.center_pairs-nan", lambda: data.center_pairs(X_NAN, XP), V_ERR, "x must be finite"),
    case("data.gaussian_pairs-seed", lambda: data.gaussian_pairs(3, 2, seed=1.5), T_ERR, "seed must be an integer"),
    case("data.natural_image_crops-size", lambda: data.natural_image_crops(2, 428), V_ERR, "size must be <= 427"),
    case("data.load_stl10_binary-images_path", lambda: data.load_stl10_binary("/nonexistent/train_X.bin"),
         FileNotFoundError, "images_path"),
    case("data.write_stl10_binary-images", lambda: data.write_stl10_binary("/tmp/unused.bin", np.ones((2, 32, 32, 3))),
         V_ERR, "images must have shape"),
    case("data.load_images-name", lambda: data.load_images("imagenet"), V_ERR, "name must be one of"),
    # ------------------------------------------------------------------ dynamics.trainer
    case("trainer.record_schedule-n_steps", lambda: trainer.record_schedule(0), V_ERR, "n_steps must be >= 1"),
    case("trainer.record_schedule-n_records", lambda: trainer.record_schedule(10, 1), V_ERR, "n_records must be >= 2"),
    case("trainer.gradient_descent-loss_fn", lambda: trainer.gradient_descent(3, jnp.ones(2), lr=0.1, n_steps=3),
         T_ERR, "loss_fn must be callable"),
    case("trainer.gradient_descent-params_nan",
         lambda: trainer.gradient_descent(_quadratic, jnp.array([NAN, 1.0]), lr=0.1, n_steps=3), V_ERR,
         "params must be finite"),
    case("trainer.gradient_descent-loss_not_scalar",
         lambda: trainer.gradient_descent(lambda p: p**2, jnp.ones(2), lr=0.1, n_steps=3), V_ERR,
         r"loss_fn\(params\) must return a scalar"),
    case("trainer.gradient_descent-n_steps", lambda: trainer.gradient_descent(_quadratic, jnp.ones(2), lr=0.1,
                                                                               n_steps=3.5), T_ERR,
         "n_steps must be an integer"),
    case("trainer.gradient_descent-record_float",
         lambda: trainer.gradient_descent(_quadratic, jnp.ones(2), lr=0.1, record_steps=[0, 1.5, 3]), V_ERR,
         "record_steps must be integers"),
    case("trainer.gradient_descent-record_nan",
         lambda: trainer.gradient_descent(_quadratic, jnp.ones(2), lr=0.1, record_steps=[0, NAN]), V_ERR,
         "record_steps must be integers"),
    case("trainer.gradient_descent-observer",
         lambda: trainer.gradient_descent(_quadratic, jnp.ones(2), lr=0.1, n_steps=2, observers={"a": 3}), T_ERR,
         r"observers\['a'\] must be callable"),
    case("trainer.gradient_descent-observers_type",
         lambda: trainer.gradient_descent(_quadratic, jnp.ones(2), lr=0.1, n_steps=2, observers=[_quadratic]), T_ERR,
         "observers must be a dict"),
    case("trainer.gradient_descent-project",
         lambda: trainer.gradient_descent(_quadratic, jnp.ones(2), lr=0.1, n_steps=2, project=3), T_ERR,
         "project must be callable"),
    case("trainer.gradient_descent-lr", lambda: trainer.gradient_descent(_quadratic, jnp.ones(2), lr=0.0, n_steps=2),
         V_ERR, "lr must be finite and > 0"),
    case("trainer.init_linear-seed", lambda: trainer.init_linear(2, 3, 1e-3, seed=-1), V_ERR, "seed must be >= 0"),
    case("trainer.init_linear-scale", lambda: trainer.init_linear(2, 3, -1e-3), V_ERR, "scale must be finite"),
    case("trainer.train_barlow-apply_fn", lambda: trainer.train_barlow(3, jnp.ones((2, 3)), X, XP, lr=0.1, n_steps=2),
         T_ERR, "apply_fn must be callable"),
    case("trainer.train_barlow-params_fit_x",
         lambda: trainer.train_barlow(lambda W, x: x @ W.T, jnp.ones((2, 4)), X, XP, lr=0.1, n_steps=2), V_ERR,
         r"apply_fn\(params, x\) failed"),
    case("trainer.train_barlow-output_shape",
         lambda: trainer.train_barlow(lambda W, x: x @ W, jnp.ones(3), X, XP, lr=0.1, n_steps=2), V_ERR,
         r"apply_fn\(params, x\) must return an \(n, d\) array"),
    case("trainer.train_barlow-ntk_fn",
         lambda: trainer.train_barlow(lambda W, x: x @ W.T, jnp.ones((2, 3)), X, XP, lr=0.1, n_steps=2, ntk_fn=3),
         T_ERR, "ntk_fn must be callable"),
    case("trainer.train_barlow-x_nan",
         lambda: trainer.train_barlow(lambda W, x: x @ W.T, jnp.ones((2, 3)), X_NAN, XP, lr=0.1, n_steps=2), V_ERR,
         "x must be finite"),
    case("trainer.train_supervised-y_shape",
         lambda: trainer.train_supervised(lambda W, x: x @ W.T, jnp.ones((2, 3)), X, np.ones((4, 3)), lr=0.1,
                                          n_steps=2), V_ERR, "y must have the shape of the outputs"),
    case("trainer.train_supervised-y_nan",
         lambda: trainer.train_supervised(lambda W, x: x @ W.T, jnp.ones((2, 3)), X, _nan((4, 2)), lr=0.1, n_steps=2),
         V_ERR, "y must be finite"),
    case("trainer.train_barlow_linear-W0_nan",
         lambda: trainer.train_barlow_linear(X, XP, W0=_nan((2, 3)), lr=0.1, n_steps=2), V_ERR, "W0 must be finite"),
    # ------------------------------------------------------------------ dynamics.sweep
    case("sweep.point_key-json", lambda: sweep.point_key({"a": object()}), T_ERR, "JSON-serialisable"),
    case("sweep.run_sweep-fn", lambda: sweep.run_sweep(3, [{"a": 1}], "unused", progress=False), T_ERR,
         "fn must be callable"),
    case("sweep.run_sweep-points", lambda: sweep.run_sweep(lambda a: {"r": a}, "abc", "unused", progress=False),
         T_ERR, "points must be a list of dicts"),
    case("sweep.validate_result-not_a_dict", lambda: sweep.validate_result([1.0], {"a": 1}), T_ERR,
         "must return a dict of arrays"),
    # ------------------------------------------------------------------ dynamics.grassmann
    case("grassmann.check_triplets-shape", lambda: grassmann.check_triplets(X, np.ones((4, 2))), V_ERR,
         "positives must have the shape of anchors"),
    case("grassmann.train_projected-negatives_shape",
         lambda: grassmann.train_projected(grassmann.network_apply("linear"), {"V": I3, "W": np.ones((3, 1))}, X, X,
                                           np.ones((4, 2)), lr=0.1, n_steps=1), V_ERR,
         "negatives must have the shape of anchors"),
    case("grassmann.train_projected-anchors_nan",
         lambda: grassmann.train_projected(grassmann.network_apply("linear"), {"V": I3, "W": np.ones((3, 1))}, X_NAN,
                                           X, X, lr=0.1, n_steps=1), V_ERR, "anchors must be finite"),
    case("grassmann.train_projected-positives_nan",
         lambda: grassmann.train_projected(grassmann.network_apply("linear"), {"V": I3, "W": np.ones((3, 1))}, X,
                                           X_NAN, lr=0.1, n_steps=1), V_ERR, "positives must be finite"),
    case("grassmann.data_matrix-nan", lambda: grassmann.data_matrix(X, X_NAN), V_ERR, "positives must be finite"),
    case("grassmann.expected_data_matrix-kind", lambda: grassmann.expected_data_matrix(np.eye(2), kind="x"), V_ERR,
         "kind must be one of"),
    case("grassmann.expected_data_matrix-mean", lambda: grassmann.expected_data_matrix(np.eye(2), np.ones(3)), V_ERR,
         "mean must have shape"),
    case("grassmann.scaled_activation-name", lambda: grassmann.scaled_activation("gelu"), V_ERR,
         "activation must be one of"),
    case("grassmann.network_apply-x_shape",
         lambda: grassmann.network_apply("linear")({"V": I3, "W": np.ones((3, 1))}, np.ones((4, 2))), V_ERR,
         "x must have 3 features"),
    case("grassmann.network_apply-params", lambda: grassmann.network_apply("linear")({"theta": I3}, X), V_ERR,
         "params must be a dict with 'V'"),
    case("grassmann.network_apply-activation", lambda: grassmann.network_apply("gelu"), V_ERR,
         "activation must be one of"),
    case("grassmann.network_theta-width", lambda: grassmann.network_theta({"V": I3, "W": np.ones((2, 1))}), V_ERR,
         "must share the width M"),
    case("grassmann.outputs-shape", lambda: grassmann.outputs(X, np.ones((2, 1))), V_ERR, "theta must have d = 3 rows"),
    case("grassmann.random_semi_orthogonal-rows", lambda: grassmann.random_semi_orthogonal(0, 2, 0), V_ERR,
         "rows must be >= 1"),
    case("grassmann.random_semi_orthogonal-rng", lambda: grassmann.random_semi_orthogonal(3, 2, "x"), T_ERR,
         "rng must be a numpy.random.Generator"),
    case("grassmann.subspace_alignment-rank", lambda: grassmann.subspace_alignment(np.ones((3, 2)), np.eye(3, 2)),
         V_ERR, "A must have full column rank"),
    case("grassmann.trace_loss-shape", lambda: grassmann.trace_loss(C_DIAG, np.ones((2, 1))), V_ERR,
         r"theta must be \(d, z\) with d = 3"),
    case("grassmann.scaled_loss-shape", lambda: grassmann.scaled_loss(C_DIAG, np.ones((2, 1))), V_ERR,
         r"theta must be \(d, z\) with d = 3"),
    case("grassmann.stiefel_field-shape", lambda: grassmann.stiefel_field(0.0, np.ones((2, 1)), C_DIAG), V_ERR,
         "theta must be"),
    case("grassmann.ball_field-shape", lambda: grassmann.ball_field(0.0, np.ones((2, 1)), C_DIAG), V_ERR,
         "theta must be"),
    case("grassmann.riccati_field-shape", lambda: grassmann.riccati_field(0.0, np.eye(2), C_DIAG), V_ERR,
         "P and C must be square"),
    case("grassmann.sphere_field-shape", lambda: grassmann.sphere_field(0.0, np.ones(3), np.ones(2)), V_ERR,
         "z must be"),
    case("grassmann.trajectory-t_unsorted", lambda: grassmann.trajectory(C_DIAG, THETA0, [2.0, 1.0]), V_ERR,
         "t must be non-decreasing"),
    case("grassmann.trajectory-backend", lambda: grassmann.trajectory(C_DIAG, THETA0, [1.0], backend="x"), V_ERR,
         "backend must be one of"),
    case("grassmann.ball_trajectory-nonsym", lambda: grassmann.ball_trajectory(NONSYM, 0.5 * THETA0, [1.0]), V_ERR,
         "C must be symmetric"),
    case("grassmann.riccati_trajectory-P0_shape", lambda: grassmann.riccati_trajectory(C_DIAG, np.eye(2), [1.0]),
         V_ERR, "P0 must have the shape of C"),
    case("grassmann.riccati_trajectory-P0_nonsym", lambda: grassmann.riccati_trajectory(C_DIAG, NONSYM, [1.0]),
         V_ERR, "P0 must be symmetric"),
    case("grassmann.eigen_flow-form", lambda: grassmann.eigen_flow([1.0, 2.0], [1.0, 0.0], [1.0], form="x"), V_ERR,
         "form must be one of"),
    case("grassmann.eigen_flow-z0_shape", lambda: grassmann.eigen_flow([1.0, 2.0], [1.0, 0.0, 0.0], [1.0]), V_ERR,
         "z0 must have shape"),
    case("grassmann.eigen_flow-nan", lambda: grassmann.eigen_flow([NAN, 2.0], [1.0, 0.0], [1.0]), V_ERR,
         "eigenvalues must be finite"),
    case("grassmann.unconstrained_trajectory-shape",
         lambda: grassmann.unconstrained_trajectory(C_DIAG, np.ones((2, 1)), [1.0]), V_ERR, "theta0 must have d = 3"),
    case("grassmann.fixed_projector_trajectory-shape",
         lambda: grassmann.fixed_projector_trajectory(C_DIAG, np.ones((3, 2)), np.ones((1, 3)), [1.0]), V_ERR,
         "W0 must be"),
    case("grassmann.fixed_projector_trajectory-nan",
         lambda: grassmann.fixed_projector_trajectory(C_DIAG, np.ones((3, 2)), _nan((1, 2)), [1.0]), V_ERR,
         "P must be finite"),
    case("grassmann.collapse_ratio-zero", lambda: grassmann.collapse_ratio(np.zeros((3, 2))), V_ERR,
         "F must be non-zero"),
    case("grassmann.collapse_ratio-columns", lambda: grassmann.collapse_ratio(np.ones((3, 1))), V_ERR,
         "F must have at least two output columns"),
    case("grassmann.contrastive_function_hessian-n", lambda: grassmann.contrastive_function_hessian(-1), V_ERR,
         "n must be >= 1"),
    case("grassmann.kernel_flow-F0_rows", lambda: grassmann.kernel_flow(np.eye(4), np.ones((4, 1)), [1.0]), V_ERR,
         r"F0 must stack anchors, positives and negatives \(3n rows\)"),
    case("grassmann.kernel_flow-K_nonsym",
         lambda: grassmann.kernel_flow(np.triu(np.ones((3, 3))), np.ones((3, 1)), [1.0]), V_ERR, "K must be symmetric"),
    case("grassmann.kernel_flow_closed_form-F0_rows",
         lambda: grassmann.kernel_flow_closed_form(I3, np.ones((4, 1)), [1.0]), V_ERR, "F0 must have 3n rows"),
    case("grassmann.frobenius_optimum-z", lambda: grassmann.frobenius_optimum(C_DIAG, 0), V_ERR, "z must be >= 1"),
    case("grassmann.operator_optimum-z_float", lambda: grassmann.operator_optimum(np.diag([-1.0, -2.0, 3.0]), 1.5),
         T_ERR, "z must be an integer"),
    case("grassmann.tangent_project-shape", lambda: grassmann.tangent_project(np.eye(3, 2), np.ones((2, 2))), V_ERR,
         "M must be 2-D and G of the same shape"),
    case("grassmann.retract-method", lambda: grassmann.retract(np.eye(3, 2), "svd"), V_ERR, "method must be one of"),
    case("grassmann.retract-nan", lambda: grassmann.retract(_nan((3, 2))), V_ERR, "M must be finite"),
    case("grassmann.retract-rank", lambda: grassmann.retract(np.zeros((3, 2))), V_ERR, "M must have full rank"),
    case("grassmann.project_params-method", lambda: grassmann.project_params({"V": np.eye(3, 2)}, "svd"), V_ERR,
         "method must be one of"),
    case("grassmann.frobenius_ball-radius", lambda: grassmann.frobenius_ball({"V": np.eye(3, 2)}, -1.0), V_ERR,
         "radius must be finite and > 0"),
    case("grassmann.operator_ball-radius", lambda: grassmann.operator_ball(np.eye(3, 2), 0.0), V_ERR,
         "radius must be finite and > 0"),
    case("grassmann.operator_ball-nan", lambda: grassmann.operator_ball(_nan((3, 2))), V_ERR, "theta must be finite"),
    case("grassmann.init_network-seed", lambda: grassmann.init_network(3, 2, 1, seed=-1), V_ERR, "seed must be >= 0"),
    case("grassmann.init_network-theta0", lambda: grassmann.init_network(3, 2, 1, theta0=np.ones((3, 2))), V_ERR,
         r"theta0 must have shape \(d, z\)"),
    case("grassmann.stack_params-empty", lambda: grassmann.stack_params([]), V_ERR, "param_list must contain"),
    case("grassmann.stack_params-shapes", lambda: grassmann.stack_params([{"V": np.eye(2)}, {"V": I3}]), V_ERR,
         r"param_list\[1\] must have the structure and shapes"),
    case("grassmann.train_projected-params_fit_anchors",
         lambda: grassmann.train_projected(grassmann.network_apply("linear"), grassmann.init_network(3, 2, 1), np.ones((4, 5)),
                                           np.ones((4, 5)), lr=0.1, n_steps=2), V_ERR,
         r"apply_fn\(params, anchors\) failed"),
    case("grassmann.train_projected-apply_fn",
         lambda: grassmann.train_projected(3, grassmann.init_network(3, 2, 1), X, X, lr=0.1, n_steps=2), T_ERR,
         "apply_fn must be callable"),
    case("grassmann.train_projected-retraction",
         lambda: grassmann.train_projected(grassmann.network_apply("linear"), grassmann.init_network(3, 2, 1), X, X, lr=0.1,
                                           n_steps=2, retraction="svd"), V_ERR, "retraction must be one of"),
    case("grassmann.train_trace-params", lambda: grassmann.train_trace(C_DIAG, {"theta": THETA0}, lr=0.1, n_steps=2),
         V_ERR, "params must be a dict with 'V'"),
    case("grassmann.train_trace-params_shape",
         lambda: grassmann.train_trace(np.eye(4), grassmann.init_network(3, 2, 1), lr=0.1, n_steps=2), V_ERR,
         r"params\['V'\] must be \(h, d\) with d = 4"),
    case("grassmann.train_trace-constraint",
         lambda: grassmann.train_trace(C_DIAG, grassmann.init_network(3, 2, 1), lr=0.1, n_steps=2, constraint="x"),
         V_ERR, "constraint must be one of"),
    case("grassmann.discretised_flow-retraction",
         lambda: grassmann.discretised_flow(C_DIAG, THETA0, lr=0.1, n_steps=2, retraction="x"), V_ERR,
         "retraction must be one of"),
    case("grassmann.discretised_flow-lr", lambda: grassmann.discretised_flow(C_DIAG, THETA0, lr=NAN, n_steps=2), V_ERR,
         "lr must be finite"),
    case("grassmann.time_per_step-n_steps", lambda: grassmann.time_per_step(_quadratic, jnp.ones(2), lr=0.1, n_steps=0),
         V_ERR, "n_steps must be >= 1"),
    case("grassmann.time_per_step-repeats", lambda: grassmann.time_per_step(_quadratic, jnp.ones(2), lr=0.1, repeats=0),
         V_ERR, "repeats must be >= 1"),
    case("grassmann.time_per_step-loss_fn", lambda: grassmann.time_per_step(3, jnp.ones(2), lr=0.1), T_ERR,
         "loss_fn must be callable"),
    # ------------------------------------------------------------------ dynamics.contrastive
    case("contrastive.prop10_invariants-nan", lambda: ctr.prop10_invariants([NAN, 1.0], [1.0, 1.0]), V_ERR,
         "v must be finite"),
    case("contrastive.prop10_invariants-size", lambda: ctr.prop10_invariants([1.0, 1.0], [1.0]), V_ERR,
         "v and w must be non-empty with the same number"),
    case("contrastive.prop10_alpha-P0", lambda: ctr.prop10_alpha(-1.0, 0.0), V_ERR, "P0"),
    case("contrastive.prop10_P-t", lambda: ctr.prop10_P([-1.0], 1.0, 0.1, 1.0), V_ERR, "t must be non-negative"),
    case("contrastive.prop10_S-C", lambda: ctr.prop10_S([1.0], 1.0, 0.1, NAN), V_ERR, "C must be finite"),
    case("contrastive.prop10_rhs-y", lambda: ctr.prop10_rhs(0.0, jnp.ones(3), 1.0), V_ERR, r"y must be the state"),
    case("contrastive.ContrastiveData-labels",
         lambda: ctr.ContrastiveData(np.ones((3, 1)), np.ones((2, 3, 1)), (1, -1), labels=np.ones(5)), V_ERR,
         "labels must have one label per row of anchors"),
    case("contrastive.ContrastiveData-heldout_nan",
         lambda: ctr.ContrastiveData(np.ones((3, 1)), np.ones((2, 3, 1)), (1, -1), heldout=_nan((2, 1))), V_ERR,
         "heldout must be finite"),
    case("contrastive.ContrastiveData-heldout_dim",
         lambda: ctr.ContrastiveData(np.ones((3, 1)), np.ones((2, 3, 1)), (1, -1), heldout=np.ones((2, 4))), V_ERR,
         "heldout must have D = 1 features"),
    case("contrastive.ContrastiveData-heldout_labels",
         lambda: ctr.ContrastiveData(np.ones((3, 1)), np.ones((2, 3, 1)), (1, -1), heldout=np.ones((2, 1)),
                                     heldout_labels=np.ones(3)), V_ERR, "heldout_labels must have one label per row"),
    case("contrastive.ContrastiveData-empty",
         lambda: ctr.ContrastiveData(np.ones((0, 1)), np.ones((2, 0, 1)), (1, -1)), V_ERR,
         "anchors must have at least one row"),
    case("contrastive.ContrastiveData-alpha",
         lambda: ctr.ContrastiveData(np.ones((3, 1)), np.ones((2, 3, 1)), (1, 2)), V_ERR, "alpha must be"),
    case("contrastive.prop10_data-seed", lambda: ctr.prop10_data(1.0, seed=-1), V_ERR, "seed must be >= 0"),
    case("contrastive.prop10_data-C", lambda: ctr.prop10_data(-1.0), V_ERR, "C must be finite and > 0"),
    case("contrastive.data_constant-type", lambda: ctr.data_constant(3), T_ERR, "d must be a ContrastiveData"),
    case("contrastive.data_constant-dim",
         lambda: ctr.data_constant(ctr.ContrastiveData(np.ones((3, 2)), np.ones((2, 3, 2)), (1, -1))), V_ERR,
         r"scalar inputs \(D = 1\)"),
    case("contrastive.init_deep-depth", lambda: ctr.init_deep(2, 3, 2, depth=0), V_ERR, "depth must be >= 1"),
    case("contrastive.init_deep-seed", lambda: ctr.init_deep(2, 3, 2, seed=-1), V_ERR, "seed must be >= 0"),
    case("contrastive.deep_apply-activation", lambda: ctr.deep_apply(ctr.init_deep(3, 4, 2, depth=2), X, "gelu"),
         V_ERR, "activation must be one of"),
    case("contrastive.deep_apply-x_shape", lambda: ctr.deep_apply(ctr.init_deep(3, 4, 2, depth=2), np.ones((2, 5))),
         V_ERR, "x must have D = 3 features"),
    case("contrastive.deep_ntk-x_nan", lambda: ctr.deep_ntk(ctr.init_deep(3, 4, 2, depth=2), X_NAN, X), V_ERR,
         "x1 must be finite"),
    case("contrastive.deep_ntk-x_shape",
         lambda: ctr.deep_ntk(ctr.init_deep(3, 4, 2, depth=2), np.ones((2, 5)), np.ones((2, 5))), V_ERR,
         "x1 must have D = 3 features"),
    case("contrastive.deep_ntk-params_nan",
         lambda: ctr.deep_ntk({"V": (_nan((4, 3)),), "W": np.ones((4, 2))}, X, X), V_ERR, "params must be finite"),
    case("contrastive.deep_ntk-params", lambda: ctr.deep_ntk({"V": (np.ones((4, 3)),)}, X, X), V_ERR,
         "params must be a dict with 'V'"),
    case("contrastive.deep_ntk-output", lambda: ctr.deep_ntk(ctr.init_deep(3, 4, 2, depth=2), X, X, output="scalar"),
         V_ERR, "output must be one of"),
    case("contrastive.deep_ntk_fn-x_nan", lambda: ctr.deep_ntk_fn(X_NAN, X), V_ERR, "x1 must be finite"),
    case("contrastive.deep_ntk_fn-x_shape", lambda: ctr.deep_ntk_fn(X, np.ones((2, 4))), V_ERR, "x1 and x2 must have"),
    case("contrastive.safe_norm-nan", lambda: ctr.safe_norm(np.array([[np.nan, 1.0]])), V_ERR,
         "f must be finite"),
    case("contrastive.similarity-kind", lambda: ctr.similarity(jnp.ones((2, 3)), jnp.ones((2, 3)), "x"), V_ERR,
         r"kind must be one of .* \(the similarity\)"),
    case("contrastive.similarity-shape", lambda: ctr.similarity(jnp.ones((2, 3)), jnp.ones((2, 4))), V_ERR,
         "f and g must have the same shape"),
    case("contrastive.similarity-delta",
         lambda: ctr.similarity(jnp.ones((2, 3)), jnp.ones((2, 3)), "cosine", delta=-1.0), V_ERR,
         "delta must be finite and > 0"),
    case("contrastive.reduce_similarities-alpha", lambda: ctr.reduce_similarities(jnp.ones((2, 3)), (1, 2)), V_ERR,
         "alpha must be"),
    case("contrastive.reduce_similarities-shape", lambda: ctr.reduce_similarities(jnp.ones((2, 3)), (1, -1, 1)),
         V_ERR, r"S must be \(Q, N\) with Q = len\(alpha\) = 3"),
    case("contrastive.reduce_similarities-temperature",
         lambda: ctr.reduce_similarities(jnp.ones((2, 3)), (1, -1), "log_softmax", temperature=0.0), V_ERR,
         "temperature must be finite and > 0"),
    case("contrastive.reduce_similarities-loss", lambda: ctr.reduce_similarities(jnp.ones((2, 3)), (1, -1), "x"),
         V_ERR, "loss must be one of"),
    case("contrastive.contrastive_loss-nan", lambda: ctr.contrastive_loss(_nan((3, 2)), np.ones((2, 3, 2)), (1, -1)),
         V_ERR, "f_anchor must be finite"),
    case("contrastive.contrastive_loss-norms",
         lambda: ctr.contrastive_loss(np.ones((3, 2)), np.ones((2, 3, 2)), (1, -1), similarity="cosine_bound",
                                      anchor_norms=np.ones(4), partner_norms=np.ones((2, 3))), V_ERR,
         r"anchor_norms must be \(3,\)"),
    case("contrastive.function_loss-n_anchors", lambda: ctr.function_loss(0, (1, -1)), V_ERR,
         "n_anchors must be >= 1"),
    case("contrastive.function_loss-F_shape", lambda: ctr.function_loss(2, (1, -1))(jnp.ones((5, 2))), V_ERR,
         r"F must be \(N\(1\+Q\), Z\) = \(6, Z\)"),
    case("contrastive.function_loss-norms",
         lambda: ctr.function_loss(2, (1, -1), similarity="cosine_bound")(jnp.ones((6, 2))), V_ERR, "needs norms"),
    case("contrastive.cv_factors_from_features-shape",
         lambda: ctr.cv_factors_from_features(jnp.ones((3, 4)), jnp.ones((2, 3, 5)), (1, -1)), V_ERR,
         r"phi_partners \(Q, N, M\)"),
    case("contrastive.cv_factors_from_features-similarity",
         lambda: ctr.cv_factors_from_features(jnp.ones((3, 4)), jnp.ones((2, 3, 4)), (1, -1), "cosine"), V_ERR,
         "similarity must be one of"),
    case("contrastive.cv_factors-data", lambda: ctr.cv_factors(_two_layer(), 3), T_ERR, "data must be a ContrastiveData"),
    case("contrastive.cv_factors-params_fit_data", lambda: ctr.cv_factors(_two_layer(3), _scalar_data()), V_ERR,
         r"params\['V'\] must have D = 1 columns"),
    case("contrastive.cv_factors-params_nan",
         lambda: ctr.cv_factors({"V": _nan((5, 1)), "W": np.ones((5, 2))}, _scalar_data()), V_ERR,
         r"params\['V'\] must be finite"),
    case("contrastive.cv_matrix-shape", lambda: ctr.cv_matrix((jnp.ones((3, 4)), jnp.ones((3, 5)))), V_ERR,
         r"factors must be a pair \(A, B\)"),
    case("contrastive.cv_frobenius_distance-shape",
         lambda: ctr.cv_frobenius_distance((jnp.ones((3, 4)),) * 2, (jnp.ones((3, 5)),) * 2), V_ERR,
         "factors_1 and factors_2 must have the same shape"),
    case("contrastive.cv_frobenius_norm-type", lambda: ctr.cv_frobenius_norm(jnp.ones((3, 4))), V_ERR,
         r"factors must be a pair \(A, B\)"),
    case("contrastive.cv_eigh-nan", lambda: ctr.cv_eigh((_nan((3, 4)), np.ones((3, 4)))), V_ERR,
         "factors must be finite"),
    case("contrastive.pca_readout-n_components", lambda: ctr.pca_readout(_two_layer(), _scalar_data(), 0), V_ERR,
         "n_components must be >= 1"),
    case("contrastive.cv_trace_loss-data", lambda: ctr.cv_trace_loss(_two_layer(), 3), T_ERR, "data must be a ContrastiveData"),
    case("contrastive.cv_trace_loss-W_shape",
         lambda: ctr.cv_trace_loss({"V": _two_layer()["V"], "W": jnp.ones((4, 2))}, _scalar_data()), V_ERR,
         "must share the width M"),
    case("contrastive.orthonormalize_readout-rank",
         lambda: ctr.orthonormalize_readout({"V": np.ones((5, 1)), "W": np.zeros((5, 2))}), V_ERR,
         r"params\['W'\] must have full column rank"),
    case("contrastive.orthonormalize_readout-nan",
         lambda: ctr.orthonormalize_readout({"V": np.ones((5, 1)), "W": _nan((5, 2))}), V_ERR,
         r"params\['W'\] must be finite"),
    case("contrastive.orthonormalize_readout-params", lambda: ctr.orthonormalize_readout({"V": np.ones((5, 1))}),
         V_ERR, "params must be a dict with the readout 'W'"),
    case("contrastive.iterative_pca-data", lambda: ctr.iterative_pca(_two_layer(), 3, 1, 0.1), T_ERR,
         "data must be a ContrastiveData"),
    case("contrastive.iterative_pca-n_updates", lambda: ctr.iterative_pca(_two_layer(), _scalar_data(), 0, 0.1), V_ERR,
         "n_updates must be >= 1"),
    case("contrastive.iterative_pca-activation",
         lambda: ctr.iterative_pca(_two_layer(), _scalar_data(), 1, 0.1, activation="gelu"), V_ERR, "activation"),
    case("contrastive.hidden_norms-activation", lambda: ctr.hidden_norms(_two_layer(), np.ones((2, 1)), "gelu"), V_ERR,
         "activation must be one of"),
    case("contrastive.make_loss-apply_fn", lambda: ctr.make_loss(_scalar_data(), apply_fn=3), T_ERR,
         "apply_fn must be callable"),
    case("contrastive.make_loss-activation", lambda: ctr.make_loss(_scalar_data(), activation="gelu"), V_ERR,
         "activation must be one of"),
    case("contrastive.train_contrastive-params_fit_data",
         lambda: ctr.train_contrastive(_two_layer(3), _scalar_data(), lr=0.1, n_steps=2), V_ERR,
         r"params\['V'\] must have D = 1 columns"),
    case("contrastive.train_contrastive-params_nan",
         lambda: ctr.train_contrastive({"V": _nan((5, 1)), "W": np.ones((5, 2))}, _scalar_data(), lr=0.1, n_steps=2),
         V_ERR, r"params\['V'\] must be finite"),
    case("contrastive.train_contrastive-ntk_fn",
         lambda: ctr.train_contrastive(_two_layer(), _scalar_data(), lr=0.1, n_steps=2, ntk_fn=3), T_ERR,
         "ntk_fn must be callable"),
    case("contrastive.train_contrastive-n_steps",
         lambda: ctr.train_contrastive(_two_layer(), _scalar_data(), lr=0.1, n_steps=0), V_ERR, "n_steps must be >= 1"),
    case("contrastive.lemma9_flow-params_fit_data", lambda: ctr.lemma9_flow(_two_layer(3), _scalar_data(), [1.0]),
         V_ERR, r"params\['V'\] must have D = 1 columns"),
    case("contrastive.lemma9_flow-params", lambda: ctr.lemma9_flow({"W": np.ones((5, 2))}, _scalar_data(), [1.0]),
         V_ERR, "params must be a dict with 'V'"),
    case("contrastive.lemma9_flow-t", lambda: ctr.lemma9_flow(_two_layer(), _scalar_data(), [-1.0]), V_ERR,
         "t must be non-negative"),
    case("contrastive.ntk_drift_by_loss-widths_type", lambda: ctr.ntk_drift_by_loss(5), T_ERR,
         "widths must be a list"),
    case("contrastive.ntk_drift_by_loss-Z", lambda: ctr.ntk_drift_by_loss([4], Z=0), V_ERR, "Z must be >= 1"),
    case("contrastive.ntk_drift_by_loss-n_ntk", lambda: ctr.ntk_drift_by_loss([4], n_ntk=0), V_ERR,
         "n_ntk must be >= 1"),
    case("contrastive.ntk_drift_by_loss-seeds", lambda: ctr.ntk_drift_by_loss([4], seeds=()), V_ERR,
         "seeds must contain at least one seed"),
    case("contrastive.ntk_drift_by_loss-activation", lambda: ctr.ntk_drift_by_loss([4], activation="gelu"), V_ERR,
         "activation must be one of"),
    case("contrastive.downstream_accuracy-nan",
         lambda: ctr.downstream_accuracy(_nan((4, 2)), np.array([0, 1, 0, 1]), np.ones((2, 2)), np.array([0, 1])),
         V_ERR, "train_repr must be finite"),
    case("contrastive.downstream_accuracy-max_iter",
         lambda: ctr.downstream_accuracy(X, np.array([0, 1, 0, 1]), X[:2], np.array([0, 1]), max_iter=0), V_ERR,
         "max_iter must be >= 1"),
    # ------------------------------------------------------------------ dynamics.kernel (validation only)
    case("kernel.linear_kernel-shape", lambda: kernel.linear_kernel(np.ones((2, 3)), np.ones((2, 4))), V_ERR,
         "a and b must have the same number of features"),
    case("kernel.rbf_kernel-nan", lambda: kernel.rbf_kernel(X_NAN, X), V_ERR, "a must be finite"),
    case("kernel.z_matrix-nan", lambda: kernel.z_matrix(np.eye(2), _nan((2, 2)), np.eye(2)), V_ERR,
         "K_xxp must be finite"),
    case("kernel.joint_kernel-shape", lambda: kernel.joint_kernel(np.eye(2), I3, np.eye(2)), V_ERR,
         "K_xx, K_xxp and K_xpxp must all be"),
    case("kernel.sqrt_psd-not_psd", lambda: kernel.sqrt_psd(np.diag([1.0, -1.0])), V_ERR,
         "K must be positive semi-definite"),
    case("kernel.kernel_gamma-Z_shape", lambda: kernel.kernel_gamma(np.eye(4), I3), V_ERR,
         "Z must have the shape of K_tilde"),
    case("kernel.kernel_gamma-Z_nonsym", lambda: kernel.kernel_gamma(I3, NONSYM), V_ERR, "Z must be symmetric"),
    case("kernel.KernelBarlowTwins-kernel_nonsym",
         lambda: kernel.KernelBarlowTwins(1, lambda a, b: a @ b.T + np.triu(np.ones((len(a), len(b))))).fit(X, XP),
         V_ERR, "K_tilde must be symmetric"),
    case("kernel.KernelBarlowTwins-kernel_nan",
         lambda: kernel.KernelBarlowTwins(1, lambda a, b: NAN * (a @ b.T)).fit(X, XP), V_ERR, "K_tilde must be finite"),
    case("kernel.KernelBarlowTwins-rbf_gamma", lambda: kernel.KernelBarlowTwins(1, "rbf", gamma=-1.0).fit(X, XP),
         V_ERR, "gamma must be a finite number > 0"),
    case("kernel.KernelBarlowTwins-transform_nan", lambda: kernel.KernelBarlowTwins(1).fit(X, XP).transform(X_NAN),
         V_ERR, "x_new must be finite"),
    case("kernel.barlow_twins_predict-K_nonsym",
         lambda: kernel.barlow_twins_predict(np.triu(np.ones((4, 4))), n_components=1), V_ERR,
         "K_tilde must be symmetric"),
    case("kernel.barlow_twins_predict-K_odd", lambda: kernel.barlow_twins_predict(I3, n_components=1), V_ERR,
         r"K_tilde must be \(2n, 2n\)"),
    case("kernel.barlow_twins_predict-K_nan", lambda: kernel.barlow_twins_predict(_nan((4, 4)), n_components=1),
         V_ERR, "K_tilde must be finite"),
    case("kernel.BarlowTwinsPredictor-t", lambda: _predictor()([-1.0], 1e-3 * np.ones((8, 1))), V_ERR,
         "t must be non-negative"),
    case("kernel.BarlowTwinsPredictor-f_train_0_nan", lambda: _predictor().loss([1.0], _nan((8, 1))), V_ERR,
         "f_train_0 must be finite"),
    case("kernel.barlow_twins_flow-K_nonsym",
         lambda: kernel.barlow_twins_flow(np.triu(np.ones((4, 4))), np.ones((4, 1)), [1.0]), V_ERR,
         "K_train must be symmetric"),
    case("kernel.barlow_twins_flow-f_train_0_rows",
         lambda: kernel.barlow_twins_flow(np.eye(4), np.ones((3, 1)), [1.0]), V_ERR, "f_train_0 must have 2n = 4"),
    case("kernel.subspace_alignment-nan", lambda: kernel.subspace_alignment(_nan((3, 1)), np.ones((3, 1))), V_ERR,
         "A must be finite"),
    # ------------------------------------------------------------------ symbolic modules (sizes and names)
    case("barlow.symbolic.weight_matrix-d", lambda: bsym.weight_matrix(0, 2), V_ERR, "d must be >= 1"),
    case("barlow.symbolic.weight_matrix-float", lambda: bsym.weight_matrix(1.5, 2), T_ERR, "d must be an integer"),
    case("barlow.symbolic.feature_correlation_matrix-m", lambda: bsym.feature_correlation_matrix(-1), V_ERR,
         "m must be >= 1"),
    case("barlow.symbolic.matrix_gradient-d", lambda: bsym.matrix_gradient(0, 2), V_ERR, "d must be >= 1"),
    case("barlow.symbolic.verify_matrix_gradient-d", lambda: bsym.verify_matrix_gradient(1.5, 2), T_ERR,
         "d must be an integer"),
    case("barlow.symbolic.coefficient_matrix-d", lambda: bsym.coefficient_matrix(-1, 2), V_ERR, "d must be >= 1"),
    case("barlow.symbolic.eigenvalue_symbols-m", lambda: bsym.eigenvalue_symbols(0), V_ERR, "m must be >= 1"),
    case("barlow.symbolic.appendix_c_system-d", lambda: bsym.appendix_c_system(0, 2), V_ERR, "d must be >= 1"),
    case("barlow.symbolic.verify_appendix_c_system-m", lambda: bsym.verify_appendix_c_system(1, 0), V_ERR,
         "m must be >= 1"),
    case("barlow.symbolic.appendix_c_approximate_rhs-d_gt_m", lambda: bsym.appendix_c_approximate_rhs(3, 2), V_ERR,
         "d must be <= m"),
    case("barlow.symbolic.appendix_c_first_order_remainder-d", lambda: bsym.appendix_c_first_order_remainder(-1, 2),
         V_ERR, "d must be >= 1"),
    case("barlow.symbolic.lambdified_flow_rhs-d", lambda: bsym.lambdified_flow_rhs(0, 2), V_ERR, "d must be >= 1"),
    case("barlow.symbolic.lambdified_flow_rhs-Gamma_nonsym",
         lambda: bsym.lambdified_flow_rhs(1, 2)(np.ones((1, 2)), np.array([[1.0, 2.0], [0.0, 1.0]])), V_ERR,
         "Gamma must be symmetric"),
    case("barlow.symbolic.lambdified_appendix_c_rhs-shape",
         lambda: bsym.lambdified_appendix_c_rhs(1, 2)(np.ones((1, 2)), [1.0]), V_ERR, r"expected A \(1, 2\) and gammas"),
    case("barlow.symbolic.lambdified_appendix_c_solution-A0",
         lambda: bsym.lambdified_appendix_c_solution()(np.ones(2), [1.0, 1.0], [1.0]), V_ERR, "A0 must be 2-D"),
    case("grassmann.symbolic.trace_form-kind", lambda: gsym.trace_form(1, 1, 1, kind="x"), V_ERR,
         "kind must be one of"),
    case("grassmann.symbolic.trace_form-n", lambda: gsym.trace_form(0, 1, 1), V_ERR, "n must be >= 1"),
    case("grassmann.symbolic.free_gradients-d", lambda: gsym.free_gradients(0, 1, 1), V_ERR, "d must be >= 1"),
    case("grassmann.symbolic.theta_flow-h", lambda: gsym.theta_flow(3, 0, 1), V_ERR, "h must be >= 1"),
    case("grassmann.symbolic.riccati-z_gt_d", lambda: gsym.riccati(2, 3), V_ERR, "z must be <= d"),
    case("grassmann.symbolic.theorem3-d", lambda: gsym.theorem3(0), V_ERR, "d must be >= 1"),
    case("grassmann.symbolic.expected_data_matrix-d", lambda: gsym.expected_data_matrix(0), V_ERR, "d must be >= 1"),
    case("grassmann.symbolic.stiefel_point-rows", lambda: gsym.stiefel_point(0, 2), V_ERR, "rows must be >= 1"),
    case("grassmann.symbolic.symmetric_matrix-d", lambda: gsym.symmetric_matrix("c", -1), V_ERR, "d must be >= 1"),
    case("contrastive.symbolic.weights-M", lambda: csym.weights(0), V_ERR, "M must be >= 1"),
    case("contrastive.symbolic.network-M", lambda: csym.network(0, 1), V_ERR, "M must be >= 1"),
    case("contrastive.symbolic.p_and_s-M", lambda: csym.p_and_s(1.5), T_ERR, "M must be an integer"),
    case("contrastive.symbolic.triplet_loss_reduction-N", lambda: csym.triplet_loss_reduction(0, 1), V_ERR,
         "N must be >= 1"),
    case("contrastive.symbolic.linear_network_ntk-M", lambda: csym.linear_network_ntk(-1), V_ERR, "M must be >= 1"),
    case("contrastive.symbolic.weight_flow-M", lambda: csym.weight_flow(0), V_ERR, "M must be >= 1"),
    case("contrastive.symbolic.ps_system-M", lambda: csym.ps_system(0), V_ERR, "M must be >= 1"),
    case("contrastive.symbolic.verify_weight_level-M", lambda: csym.verify_weight_level(0), V_ERR, "M must be >= 1"),
    # ------------------------------------------------------------------ names: theorem registry
    case("theorems.get_check-unknown", lambda: theorems.get_check("nope"), KeyError,
         "unknown check 'nope'; known checks: .*prop_4_1_aligned_flow"),
    case("theorems.run_checks-unknown_str", lambda: theorems.run_checks("nope"), KeyError, "unknown check 'nope'"),
    # ------------------------------------------------------------------ dynamics.barlow.speedup (S App. G)
    case("barlow.escape_time-modification", lambda: barlow.escape_time(np.array([1.0]), np.array([0.1]), "cube"),
         V_ERR, "modification must be one of"),
    case("barlow.escape_time-gammas_nan", lambda: barlow.escape_time(np.array([NAN]), np.array([0.1]), "sqr"),
         V_ERR, "gammas must be finite"),
    case("barlow.max_stable_lr-modification", lambda: barlow.max_stable_lr(np.array([1.0]), "cube"), V_ERR,
         "modification must be one of"),
    case("barlow.modified_aligned_singular_values-quartic",
         lambda: barlow.modified_aligned_singular_values(np.array([0.0, 1.0]), np.array([1.0]), np.array([0.1]),
                                                         "quartic"), NotImplementedError, "modification 'quartic'"),
    case("barlow.modified_aligned_singular_values-gammas_nan",
         lambda: barlow.modified_aligned_singular_values(np.array([0.0, 1.0]), np.array([NAN]), np.array([0.1]), "sqr"),
         V_ERR, "gammas must be finite"),
    case("barlow.modified_modewise_rhs-modification",
         lambda: barlow.modified_modewise_rhs(np.array([0.1]), np.array([1.0]), "cube"), V_ERR,
         "modification must be one of"),
    case("barlow.modified_modewise_rhs-shapes",
         lambda: barlow.modified_modewise_rhs(np.ones(3), np.ones(2), "sqr"), V_ERR, "s and gammas must broadcast"),
    # ------------------------------------------------------------------ batched runs (jax.vmap) and sweeps
    case("trainer.gradient_descent_batched-empty",
         lambda: trainer.gradient_descent_batched(lambda p, d: (p ** 2).sum(), np.zeros((0, 2)), {"x": np.zeros(2)},
                                                  lr=0.1, n_steps=2), V_ERR, "params_batch must hold at least one run"),
    case("trainer.gradient_descent_batched-lr",
         lambda: trainer.gradient_descent_batched(lambda p, d: (p ** 2).sum(), np.zeros((3, 2)), {"x": np.zeros(2)},
                                                  lr=np.ones(2), n_steps=2), V_ERR, "lr must be a number or one"),
    case("trainer.train_barlow_batched-shapes",
         lambda: trainer.train_barlow_batched(lambda p, x: x, {"V": np.zeros((2, 3, 4))}, np.zeros((5, 4)),
                                              np.zeros((4, 4)), lr=0.1, n_steps=2), V_ERR,
         "x and x_prime must have the same shape"),
    case("sweep.compute_point-result", lambda: sweep.compute_point(lambda: None, {}, "/nonexistent/dir/p.npz"),
         T_ERR, "fn must return a dict"),
]


@pytest.mark.parametrize("call, exc, match", CASES)
def test_bad_input_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_cli_unknown_figure_is_named(capsys):
    from dynamics import cli

    assert cli.main(["figures", "no_such_figure", "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert "unknown figure(s): no_such_figure" in err and "s_fig1_stepwise" in err


def test_valid_input_still_accepted():
    """The new checks accept what the package itself passes: integral float record steps, NumPy integer
    seeds and sizes, scalar times, a generator as ``rng``, 0-d array radii, tall and wide retractions."""
    _, hist = trainer.gradient_descent(_quadratic, jnp.ones(2), lr=0.1, record_steps=np.array([0.0, 2.0, 5.0]))
    assert list(hist.step) == [0, 2, 5]
    assert networks.init_two_layer(np.int64(2), 3, 1, seed=np.int64(4))["V"].shape == (3, 2)
    assert barlow.aligned_singular_values(1.0, 1.0, 0.5).shape == (1, 1)
    assert grassmann.random_semi_orthogonal(3, 2, np.random.default_rng(0)).shape == (3, 2)
    assert np.allclose(grassmann.operator_ball(2.0 * np.eye(3, 2), jnp.asarray(1.0)), np.eye(3, 2))
    wide = grassmann.retract(np.eye(2, 3) + 0.01)
    assert np.allclose(wide @ wide.T, np.eye(2))
    assert data.random_crops(np.arange(2 * 16, dtype=np.uint8).reshape(2, 4, 4), 2, np.random.default_rng(0)).dtype \
        == np.uint8
    ys = integrate(_field, jnp.ones(1), np.array([-1.0, 0.0]), rtol=1e-8, atol=1e-10, t0=-1.0)  # may start < 0
    assert np.allclose(ys[-1], np.exp(-1.0), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Every public function has a bad-input case: here, in its module's own tests, or a stated exemption.

#: Covered by the bad-input tests of the module's own test file.
EXISTING = {
    "barlow": {"cross_correlation": "test_barlow", "loss": "test_barlow", "critical_times": "test_barlow"},
    "data": {"digits_pairs": "test_data", "load_cifar10_batch": "test_data", "write_cifar10_batch": "test_data",
             "cifar10_pairs": "test_data", "ContrastiveData": "test_data"},
    "trainer": {"check_apply": "test_trainer", "cached": "test_trainer", "params_observer": "test_trainer",
                "params_observers": "test_trainer"},
    "sweep": {"grid": "test_sweep"},
    "flows": {"predictor": "test_predictor"},
    "ntk": {"analytic_ntk": "test_ntk", "empirical_ntk": "test_ntk", "two_layer_ntk": "test_ntk",
            "ntk_drift": "test_ntk"},
    "kernel": {"inv_sqrt_psd": "test_kernel", "resolve_kernel": "test_kernel"},
    "contrastive": {"blowup_time": "test_contrastive", "contrastive_digits": "test_contrastive"},
    "grassmann": {},
    "networks": {"TwoLayerParams": "test_networks", "check_weights": "test_networks",
                 "check_two_layer": "test_networks", "scaled_activation": "test_networks",
                 "init_mlp": "test_deep_networks", "mlp_apply": "test_deep_networks", "check_mlp": "test_deep_networks",
                 "init_resnet": "test_deep_networks", "resnet_apply": "test_deep_networks",
                 "check_resnet": "test_deep_networks", "head_norm_statistics": "test_deep_networks"},
}

#: Not validated on purpose: constants, result containers, and identity/utility maps used inside jit whose
#: every input is valid.
EXEMPT = {
    "trainer": {"History", "BatchedHistory", "NonFiniteError"},
    "data": {"digits_images", "sample_images"},  # take no arguments
    "sweep": {"SweepCacheWarning"},
    "ntk": {"CLOSED_FORMS"},
    "kernel": {"KERNEL_NAMES", "PSD_TOL"},
    "contrastive": {"DEFAULT_DELTA", "REDUCTIONS", "SIMILARITIES"},
    "grassmann": {"ACTIVATION_SCALES", "horizontal"},
    "networks": {"ACTIVATIONS"},
}


def _public(module):
    """Callables in ``__all__``, plus (with or without ``__all__``) those defined in the module under a public name."""
    own = [n for n, obj in vars(module).items()
           if not n.startswith("_") and getattr(obj, "__module__", None) == module.__name__]
    out = []
    for n in dict.fromkeys(list(getattr(module, "__all__", [])) + own):
        obj = getattr(module, n)
        if callable(obj) and getattr(obj, "__module__", "").split(".")[0] == "dynamics":
            out.append(n)
    return out


def test_every_public_function_is_covered():
    covered = {p.id.split("-")[0] for p in CASES}
    modules = {"barlow": barlow, "flows": flows, "networks": networks, "ntk": ntk, "data": data, "trainer": trainer,
               "sweep": sweep, "grassmann": grassmann, "contrastive": ctr, "kernel": kernel}
    missing = []
    for key, module in modules.items():
        for name in _public(module):
            if name in EXEMPT.get(key, set()) or name in EXISTING.get(key, {}):
                continue
            if f"{key}.{name}" not in covered:
                missing.append(f"{key}.{name}")
    assert not missing, f"public functions without a bad-input case: {missing}"
    assert "_integrate.integrate" in covered
    assert dynamics.__version__  # the package itself imports cleanly


def test_case_ids_name_real_functions():
    """Each case id "module.function-what" names a public function (so the coverage test cannot be fooled)."""
    roots = {"_integrate": dynamics._integrate, "barlow": barlow, "flows": flows, "networks": networks, "ntk": ntk,
             "data": data, "trainer": trainer, "sweep": sweep, "grassmann": grassmann, "contrastive": ctr,
             "kernel": kernel, "theorems": theorems, "barlow.symbolic": bsym, "grassmann.symbolic": gsym,
             "contrastive.symbolic": csym}
    for p in CASES:
        qual = p.id.split("-")[0]
        mod, _, name = qual.rpartition(".")
        assert mod in roots and callable(getattr(roots[mod], name, None)), qual
        assert re.fullmatch(r"[\w.]+-\w+", p.id), p.id
