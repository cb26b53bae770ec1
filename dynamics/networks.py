"""Small networks shared by the trainers, the NTK module and the theory (DESIGN: one model, many uses).

Two-layer network in NTK parametrisation (A2; S App. D.1 analogue):

    f(x) = (1/√M) W^T φ(V x),   V ∈ R^{M×D}, W ∈ R^{M×Z},

entries of V and W drawn N(0, 1) (optionally rescaled: ``readout_scale`` < 1
gives the small-initialisation regime of S §6, f(x, 0) ≈ 0).  Parameters are a
dict ``{"V": (M, D), "W": (M, Z)}``; inputs are rows, ``apply`` maps (n, D) to
(n, Z).  Linear model f(x) = W x (S §3) is ``{"W": (d, m)}`` with
:func:`linear_apply`.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np

from ._validation import (
    check_choice,
    check_finite_if_concrete,
    check_positive,
    check_positive_int,
)


def _relu(u):
    return jnp.maximum(u, 0.0)


def _relu_prime(u):
    return (u > 0).astype(u.dtype)


def _erf_prime(u):
    return 2.0 / jnp.sqrt(jnp.pi) * jnp.exp(-(u**2))


def _tanh_prime(u):
    return 1.0 - jnp.tanh(u) ** 2


def _sigmoid_prime(u):
    s = jax.nn.sigmoid(u)
    return s * (1.0 - s)


ACTIVATIONS = {
    "relu": (_relu, _relu_prime),
    "erf": (jsp.erf, _erf_prime),
    "tanh": (jnp.tanh, _tanh_prime),
    "linear": (lambda u: u, jnp.ones_like),
    "sigmoid": (jax.nn.sigmoid, _sigmoid_prime),
}


def activation(name: str):
    """(φ, φ') for a named activation: one of ``ACTIVATIONS`` ("relu", "erf", "tanh", "linear", "sigmoid")."""
    check_choice(name, "activation", set(ACTIVATIONS))
    return ACTIVATIONS[name]


def init_two_layer(D: int, M: int, Z: int, *, seed: int = 0, hidden_scale: float = 1.0,
                   readout_scale: float = 1.0) -> dict:
    """Parameters of the two-layer network (A2): V ~ hidden_scale·N(0, 1), W ~ readout_scale·N(0, 1).

    Parameters
    ----------
    D, M, Z : input dimension, width, output dimension.
    seed : NumPy seed (CPU and GPU give the same initial parameters).
    hidden_scale, readout_scale : multipliers of the N(0, 1) entries of V and W.

    Returns
    -------
    dict with "V" (M, D) and "W" (M, Z), float64 JAX arrays.
    """
    D = check_positive_int(D, "D")
    M = check_positive_int(M, "M")
    Z = check_positive_int(Z, "Z")
    seed = check_positive_int(seed, "seed", minimum=0)
    hidden_scale = check_positive(hidden_scale, "hidden_scale")
    readout_scale = check_positive(readout_scale, "readout_scale")
    rng = np.random.default_rng(seed)
    V = hidden_scale * rng.standard_normal((M, D))
    W = readout_scale * rng.standard_normal((M, Z))
    return {"V": jnp.asarray(V), "W": jnp.asarray(W)}


def _check_weights(params, keys, x=None, *, x_name="x", model="two-layer network", in_key="V", in_axis=1):
    """The weight matrices ``keys`` of ``params`` (a dict), each 2-D; with ``x``, its last axis must match
    ``params[in_key].shape[in_axis]`` (the input dimension).  JAX-traceable: shapes always, values (finite,
    real) only for concrete arrays (:func:`check_finite_if_concrete`)."""
    if not isinstance(params, Mapping) or not set(keys) <= set(params):
        got = sorted(params) if isinstance(params, Mapping) else type(params).__name__
        raise ValueError(f"params must be a dict with {', '.join(map(repr, keys))} (the {model}), got {got}")
    mats = [params[k] for k in keys]
    for k, m in zip(keys, mats):
        if jnp.ndim(m) != 2:
            raise ValueError(f"params[{k!r}] must be 2-D, got shape {tuple(jnp.shape(m))}")
        check_finite_if_concrete(m, f"params[{k!r}]")
    if x is not None:
        dim = jnp.shape(params[in_key])[in_axis]
        if jnp.ndim(x) == 0 or jnp.shape(x)[-1] != dim:
            raise ValueError(f"{x_name} must have {dim} features (columns) to match params[{in_key!r}] of shape "
                             f"{tuple(jnp.shape(params[in_key]))}, got shape {tuple(jnp.shape(x))}")
        check_finite_if_concrete(x, x_name)
    return mats


def two_layer_apply(params, x, activation_name: str = "relu"):
    """f(x) = (1/√M) φ(x V^T) W for rows x (n, D) -> (n, Z) (A2, NTK parametrisation)."""
    phi, _ = activation(activation_name)
    V, W = _check_weights(params, ("V", "W"), x)
    if V.shape[0] != W.shape[0]:
        raise ValueError(f"params['V'] (M, D) and params['W'] (M, Z) must share the width M, got {tuple(V.shape)} "
                         f"and {tuple(W.shape)}")
    return phi(x @ V.T) @ W / jnp.sqrt(V.shape[0])


def hidden_features(params, x, activation_name: str = "relu"):
    """Hidden representation φ(x V^T) / √M, (n, M): the random features of the readout."""
    phi, _ = activation(activation_name)
    (V,) = _check_weights(params, ("V",), x)
    return phi(x @ V.T) / jnp.sqrt(V.shape[0])


def linear_apply(params, x):
    """f(x) = W x for rows x (n, m) -> (n, d) (S §3)."""
    (W,) = _check_weights(params, ("W",), x, model="linear model", in_key="W")
    return x @ W.T


def make_apply(name: str, activation_name: str = "relu"):
    """``apply(params, x)`` for a named model: "two_layer" or "linear"."""
    check_choice(name, "model", {"two_layer", "linear"})
    if name == "linear":
        return linear_apply
    check_choice(activation_name, "activation", set(ACTIVATIONS))
    return lambda params, x: two_layer_apply(params, x, activation_name)
