"""Small networks shared by the trainers, the NTK module and the theory: one model, many uses.

Two-layer network, one layout for every paper (inputs are rows, ``apply`` maps (n, D) to (n, Z)):

    f(x) = c_M Wᵀ φ(V x),   V ∈ R^{M×D},  W ∈ R^{M×Z},  parameters ``{"V": (M, D), "W": (M, Z)}``,

with the parametrisation as an option (``parametrization=``):

* ``"ntk"`` (default): c_M = 1/√M, entries of V and W drawn N(0, 1) — the NTK parametrisation of
  G. G. Anil, P. Esser, D. Ghoshdastidar, "When can we Approximate Wide Contrastive Models with Neural
  Tangent Kernels and Principal Component Analysis?" (2024), eq. A2, and of J. B. Simon et al., "On the
  Stepwise Nature of Self-Supervised Learning", ICML 2023 (arXiv:2303.15438), App. D.1 (``readout_scale``
  < 1 in :func:`init_two_layer` gives the small-initialisation regime of Simon et al. §6, f(x, 0) ≈ 0);
* ``"standard"``: c_M = 1, no width factor — the network of P. Esser, S. Mukherjee, D. Ghoshdastidar,
  "Representation Learning Dynamics of Self-Supervised Models" (2023), which keeps V and W
  semi-orthogonal instead.  Esser et al. write f(x) = Wᵀ φ(Ṽᵀ x) with Ṽ = Vᵀ ∈ R^{D×M}: their V is the
  transpose of the V here, and the linear network (φ = identity) is f(x) = Θᵀ x with Θ = Vᵀ W ∈ R^{D×Z}
  (their Θ = Ṽ W).  Their activations are scaled to φ'(0) = 1 (E Thm 1, ``scaled=True``,
  :data:`ACTIVATION_SCALES`).

Parameters are a :class:`TwoLayerParams` (``init_two_layer``, ``TwoLayerParams.create``) — a read-only
dict ``{"V", "W"}`` registered as a JAX pytree and validated once when it is built — or any plain dict
with the same two entries; :func:`check_two_layer` is the one validator of both.  The single-layer linear
model of Simon et al. §3, f(x) = W x with W ∈ R^{d×m}, is ``{"W": (d, m)}`` with :func:`linear_apply`.

Deeper networks (an MLP, a small ResNet) will be further parameter types next to :class:`TwoLayerParams`;
:func:`check_weights` already validates any named set of weight matrices.
"""

from __future__ import annotations

import functools
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
    is_traced,
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

#: φ ↦ c·φ with c = 1/φ'(0) so that φ'(0) = 1 (Esser et al., Thm 1 "after scaling"); ReLU uses its right
#: derivative 1.  φ(0) is *not* shifted: the sigmoid keeps φ(0) = 4·σ(0) = 2 ≠ 0, which is exactly the
#: hypothesis of E Thm 1 that it violates.
ACTIVATION_SCALES = {"tanh": 1.0, "relu": 1.0, "sigmoid": 4.0, "erf": float(np.sqrt(np.pi) / 2.0), "linear": 1.0}

#: width factor c_M of f(x) = c_M Wᵀ φ(V x): "ntk" 1/√M (A2, S App. D.1), "standard" 1 (Esser et al.)
PARAMETRIZATIONS = ("ntk", "standard")


def activation(name: str):
    """(φ, φ') for a named activation: one of ``ACTIVATIONS`` ("relu", "erf", "tanh", "linear", "sigmoid")."""
    check_choice(name, "activation", set(ACTIVATIONS))
    return ACTIVATIONS[name]


def scaled_activation(name: str):
    """φ with φ'(0) = 1 (Esser et al., Thm 1 "after scaling"): tanh, relu (right derivative), 4·sigmoid,
    (√π/2)·erf, linear — c·φ with c = :data:`ACTIVATION_SCALES`\\[name\\]."""
    phi, _ = activation(name)
    c = ACTIVATION_SCALES[name]
    if c == 1.0:
        return phi
    return lambda u: c * phi(u)


# ---------------------------------------------------------------------------------------------
# validation


def _as_leaf(a):
    """An array-like as is (NumPy, JAX, tracer, shape struct); anything else (lists) as a NumPy array."""
    return a if hasattr(a, "shape") and hasattr(a, "dtype") else np.asarray(a)


def check_weights(params, keys, x=None, *, x_name="x", model="two-layer network", in_key="V", in_axis=1,
                  batch_ndim=0):
    """The weight matrices ``keys`` of ``params`` (a dict or :class:`TwoLayerParams`), in the order of ``keys``.

    Each must be 2-D after ``batch_ndim`` leading batch axes (a stack of independent networks); with ``x``,
    its last axis must match ``params[in_key].shape[batch_ndim + in_axis]`` (the input dimension).
    JAX-traceable: shapes are checked always, values (finite, real) only for concrete arrays.  A
    :class:`TwoLayerParams` built by its constructor was checked then and is not checked again.
    """
    if not isinstance(params, Mapping) or not set(keys) <= set(params):
        got = sorted(params) if isinstance(params, Mapping) else type(params).__name__
        raise ValueError(f"params must be a dict with {', '.join(map(repr, keys))} (the {model}), got {got}")
    checked = isinstance(params, TwoLayerParams) and params._checked
    mats = [params[k] for k in keys]
    for k, m in zip(keys, mats):
        if jnp.ndim(m) != 2 + batch_ndim:
            want = "2-D" if not batch_ndim else f"{2 + batch_ndim}-D ({batch_ndim} batch axes, then a matrix)"
            raise ValueError(f"params[{k!r}] must be {want}, got shape {tuple(jnp.shape(m))}")
        if not checked:
            check_finite_if_concrete(m, f"params[{k!r}]")
    if x is not None:
        dim = jnp.shape(params[in_key])[batch_ndim + in_axis]
        if jnp.ndim(x) == 0 or jnp.shape(x)[-1] != dim:
            raise ValueError(f"{x_name} must have {dim} features (columns) to match params[{in_key!r}] of shape "
                             f"{tuple(jnp.shape(params[in_key]))}, got shape {tuple(jnp.shape(x))}")
        check_finite_if_concrete(x, x_name)
    return mats


def check_two_layer(params, x=None, *, x_name="x", batch_ndim=0):
    """(V, W) of the two-layer network: V (M, D), W (M, Z) sharing the width M (the one validator).

    ``params``: a :class:`TwoLayerParams` or a dict with "V" and "W" (extra entries are ignored).  With
    ``x``, its last axis must have D features.  ``batch_ndim`` leading axes (equal on V and W) allow a stack
    of independent networks.  JAX-traceable: shapes always, values (finite, real) for concrete arrays only.
    """
    V, W = check_weights(params, ("V", "W"), x, x_name=x_name, batch_ndim=batch_ndim)
    sv, sw = tuple(jnp.shape(V)), tuple(jnp.shape(W))
    if sv[:batch_ndim + 1] != sw[:batch_ndim + 1]:
        what = "the width M" if not batch_ndim else "the batch axes and the width M"
        raise ValueError(f"params['V'] (M, D) and params['W'] (M, Z) must share {what}, got {sv} and {sw}")
    return V, W


# ---------------------------------------------------------------------------------------------
# parameter type


@jax.tree_util.register_pytree_with_keys_class
class TwoLayerParams(dict):
    """Parameters {"V": (M, D), "W": (M, Z)} of the two-layer network, validated once when built.

    A read-only ``dict`` (so ``params["V"]``, ``dict(params, W=W1)``, ``{**params}`` and code written for
    plain dicts keep working) registered as a JAX pytree with the leaves V, W.  ``TwoLayerParams(V, W)`` and
    :meth:`create` check the shapes (2-D, one width M) and, for concrete arrays, finite real values; the
    instances JAX builds while transforming a function (``jit``, ``grad``, ``vmap``, ``tree_map``, a
    gradient step) are not checked — JAX unflattens with placeholder and traced leaves.  A stack of B
    networks (leading axis B on V and W, e.g. ``tree_map(jnp.stack, ...)``) is such an instance.
    Attributes ``V``, ``W``, ``width`` (M), ``in_features`` (D), ``out_features`` (Z).
    """

    __slots__ = ("_checked",)

    def __init__(self, V, W):
        V, W = _as_leaf(V), _as_leaf(W)
        check_two_layer({"V": V, "W": W})
        dict.__init__(self, V=V, W=W)
        self._checked = not is_traced(V, W)

    @classmethod
    def create(cls, V, W) -> TwoLayerParams:
        """Validated parameters from V (M, D) and W (M, Z) (the same as ``TwoLayerParams(V, W)``)."""
        return cls(V, W)

    @classmethod
    def tree_unflatten(cls, aux, children) -> TwoLayerParams:
        """JAX's constructor: no validation (the leaves may be placeholders or tracers)."""
        obj = dict.__new__(cls)
        V, W = children
        dict.__init__(obj, V=V, W=W)
        obj._checked = False
        return obj

    def tree_flatten(self):
        return (self["V"], self["W"]), None

    def tree_flatten_with_keys(self):
        return ((jax.tree_util.DictKey("V"), self["V"]), (jax.tree_util.DictKey("W"), self["W"])), None

    @property
    def V(self):
        return self["V"]

    @property
    def W(self):
        return self["W"]

    @property
    def width(self) -> int:
        return int(jnp.shape(self["V"])[-2])

    @property
    def in_features(self) -> int:
        return int(jnp.shape(self["V"])[-1])

    @property
    def out_features(self) -> int:
        return int(jnp.shape(self["W"])[-1])

    def _read_only(self, *args, **kwargs):
        raise TypeError("TwoLayerParams is read-only: build a new one, e.g. TwoLayerParams(V, W_new) or "
                        "dict(params, W=W_new)")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _read_only

    def __reduce__(self):
        return (type(self), (self["V"], self["W"]))

    def __copy__(self):
        return self

    def __repr__(self):
        return (f"TwoLayerParams(V: {tuple(jnp.shape(self['V']))}, W: {tuple(jnp.shape(self['W']))}, "
                f"dtype {getattr(self['V'], 'dtype', None)})")


def init_two_layer(D: int, M: int, Z: int, *, seed: int = 0, hidden_scale: float = 1.0,
                   readout_scale: float = 1.0) -> TwoLayerParams:
    """Parameters of the two-layer network (A2): V ~ hidden_scale·N(0, 1), W ~ readout_scale·N(0, 1).

    Parameters
    ----------
    D, M, Z : input dimension, width, output dimension.
    seed : NumPy seed (CPU and GPU give the same initial parameters).
    hidden_scale, readout_scale : multipliers of the N(0, 1) entries of V and W.

    Returns
    -------
    :class:`TwoLayerParams` with "V" (M, D) and "W" (M, Z), float64 JAX arrays.
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
    return TwoLayerParams(jnp.asarray(V), jnp.asarray(W))


# ---------------------------------------------------------------------------------------------
# models


def _phi(name, scaled):
    return scaled_activation(name) if scaled else activation(name)[0]


def two_layer_apply(params, x, activation="relu", *, parametrization="ntk", scaled=False):
    """f(x) = c_M Wᵀ φ(V x) for rows x (n, D) -> (n, Z), i.e. c_M φ(x Vᵀ) W.

    ``parametrization="ntk"``: c_M = 1/√M (Anil et al. A2, Simon et al. App. D.1); ``"standard"``: c_M = 1
    (Esser et al., whose V is the transpose of this V).  ``scaled=True`` uses c·φ with φ'(0) = 1
    (:func:`scaled_activation`, E Thm 1).  params: {"V": (M, D), "W": (M, Z)}.  Computes in the dtype of
    its inputs; JAX-traceable.
    """
    check_choice(parametrization, "parametrization", set(PARAMETRIZATIONS))
    phi = _phi(activation, scaled)
    V, W = check_two_layer(params, x)
    out = phi(x @ V.T) @ W
    if parametrization == "ntk":
        return out / jnp.sqrt(V.shape[0])
    return out


def hidden_features(params, x, activation="relu", *, parametrization="ntk", scaled=False):
    """Hidden representation c_M φ(x Vᵀ), (n, M): the random features of the readout (c_M as in
    :func:`two_layer_apply`)."""
    check_choice(parametrization, "parametrization", set(PARAMETRIZATIONS))
    phi = _phi(activation, scaled)
    (V,) = check_weights(params, ("V",), x)
    out = phi(x @ V.T)
    if parametrization == "ntk":
        return out / jnp.sqrt(V.shape[0])
    return out


def linear_apply(params, x):
    """f(x) = W x for rows x (n, m) -> (n, d), W (d, m): the linear model of Simon et al. §3."""
    (W,) = check_weights(params, ("W",), x, model="linear model", in_key="W")
    return x @ W.T


@functools.lru_cache(maxsize=None)
def make_apply(name: str, activation: str = "relu", *, parametrization: str = "ntk", scaled: bool = False):
    """``apply(params, x)`` for a named model: "two_layer" (:func:`two_layer_apply` with the given
    activation, parametrisation and scaling) or "linear" (:func:`linear_apply`).

    The same arguments return the same function object (cached), so trainers that cache compiled
    programs on the model function reuse them.
    """
    check_choice(name, "model", {"two_layer", "linear"})
    if name == "linear":
        return linear_apply
    check_choice(activation, "activation", set(ACTIVATIONS))
    check_choice(parametrization, "parametrization", set(PARAMETRIZATIONS))
    if not isinstance(scaled, bool):
        raise TypeError(f"scaled must be True or False, got {scaled!r}")
    return functools.partial(two_layer_apply, activation=activation, parametrization=parametrization,
                             scaled=scaled)
