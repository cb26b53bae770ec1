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

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np

from ._validation import check_choice, check_positive, check_positive_int


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
    hidden_scale = check_positive(hidden_scale, "hidden_scale")
    readout_scale = check_positive(readout_scale, "readout_scale")
    rng = np.random.default_rng(seed)
    V = hidden_scale * rng.standard_normal((M, D))
    W = readout_scale * rng.standard_normal((M, Z))
    return {"V": jnp.asarray(V), "W": jnp.asarray(W)}


def two_layer_apply(params, x, activation_name: str = "relu"):
    """f(x) = (1/√M) φ(x V^T) W for rows x (n, D) -> (n, Z) (A2, NTK parametrisation)."""
    phi, _ = ACTIVATIONS[activation_name]
    V, W = params["V"], params["W"]
    return phi(x @ V.T) @ W / jnp.sqrt(V.shape[0])


def hidden_features(params, x, activation_name: str = "relu"):
    """Hidden representation φ(x V^T) / √M, (n, M): the random features of the readout."""
    phi, _ = ACTIVATIONS[activation_name]
    return phi(x @ params["V"].T) / jnp.sqrt(params["V"].shape[0])


def linear_apply(params, x):
    """f(x) = W x for rows x (n, m) -> (n, d) (S §3)."""
    return x @ params["W"].T


def make_apply(name: str, activation_name: str = "relu"):
    """``apply(params, x)`` for a named model: "two_layer" or "linear"."""
    check_choice(name, "model", {"two_layer", "linear"})
    if name == "linear":
        return linear_apply
    check_choice(activation_name, "activation", set(ACTIVATIONS))
    return lambda params, x: two_layer_apply(params, x, activation_name)
