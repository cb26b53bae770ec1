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

Deep networks (Simon et al. §6 and App. D), as plain dicts of arrays (JAX pytrees) computing in the dtype of
their parameters and inputs:

* :func:`init_mlp` / :func:`mlp_apply`: the one-hidden-layer MLP of S App. D.1 in standard parametrisation,
  f(x) = φ(x W1 + b1) W2 + b2, weights α·N(0, σ²/fan_in), biases zero;
* :func:`init_resnet` / :func:`resnet_apply`: a small residual convolutional network (stem, residual stages
  with stride-2 projections between them, global average pooling, an MLP projection head), no batch norm in
  the backbone, optionally a batch norm in the head (``head_norm=True``; :func:`head_norm_statistics` for its
  evaluation mode).

``alpha`` multiplies every initial weight (the small initialisation of S App. D.2); both applies return the
hidden representation before the head with ``return_hidden=True`` (S App. D.4).  :func:`check_weights`,
:func:`check_mlp` and :func:`check_resnet` validate (shapes always, values only for concrete arrays).
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
    """(φ, φ') for a named activation: one of ``ACTIVATIONS`` ("relu", "erf", "tanh", "linear", "sigmoid"). φ of A2 and its derivative."""
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
    The network of A2.

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
    The network of A2.

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
    The network of A2.

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
    :func:`two_layer_apply`). The hidden layer of A2."""
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


# ---------------------------------------------------------------------------------------------
# deep networks: one-hidden-layer MLP and a small residual network (Simon et al. §6, App. D)

#: initial weight variance σ²/fan_in: "lecun" σ² = 1 (N(0, 1/fan_in)), "he" σ² = 2 (N(0, 2/fan_in), which keeps
#: the second moment of ReLU pre-activations constant through depth)
INITS = {"lecun": 1.0, "he": 2.0}

#: the padding of every 3×3 convolution (one pixel on each side, as PyTorch's padding=1) and of the 1×1 projection
_PAD3 = ((1, 1), (1, 1))
_PAD1 = ((0, 0), (0, 0))


def _check_float_dtype(dtype, name="dtype"):
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name} must be a floating dtype such as jnp.float32 or jnp.float64, got {dtype!r}") from exc
    if dt.kind != "f":
        raise TypeError(f"{name} must be a floating dtype such as jnp.float32 or jnp.float64, got {dt}")
    return dt


def _init_args(seed, alpha, init, dtype):
    seed = check_positive_int(seed, "seed", minimum=0)
    alpha = check_positive(alpha, "alpha")
    check_choice(init, "init", set(INITS))
    return np.random.default_rng(seed), alpha, INITS[init], _check_float_dtype(dtype)


def _draw(rng, shape, fan_in, gain, alpha, dtype):
    """alpha · N(0, gain/fan_in) entries of the given shape, drawn in float64 by NumPy then cast (the same draw on
    CPU and GPU and for every dtype)."""
    w = alpha * np.sqrt(gain / fan_in) * rng.standard_normal(shape)
    return jnp.asarray(w.astype(dtype))


def _shape_of(a):
    return tuple(jnp.shape(a))


def _check_array(a, name, ndim, shape=None):
    """``a`` is an array of ``ndim`` dimensions (matching ``shape`` where an entry is not None), finite if
    concrete."""
    if not (hasattr(a, "shape") and hasattr(a, "dtype")):
        a = np.asarray(a)
    if jnp.ndim(a) != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {_shape_of(a)}")
    if shape is not None and any(s is not None and s != g for s, g in zip(shape, jnp.shape(a))):
        want = "(" + ", ".join("·" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {_shape_of(a)}")
    check_finite_if_concrete(a, name)
    return a


def _entries(params, keys, model, name="params"):
    if not isinstance(params, Mapping) or not set(keys) <= set(params):
        got = sorted(params) if isinstance(params, Mapping) else type(params).__name__
        raise ValueError(f"{name} must be a dict with {', '.join(map(repr, keys))} (the {model}), got {got}")
    return [params[k] for k in keys]


def init_mlp(D: int, M: int, d: int, *, seed: int = 0, alpha: float = 1.0, init: str = "lecun",
             dtype=jnp.float64) -> dict:
    """Parameters of the one-hidden-layer MLP of Simon et al. (2023), App. D.1, in standard parametrisation.

    f(x) = φ(x W1 + b1) W2 + b2 for rows x (n, D) (:func:`mlp_apply`), with no width factor: the initial weights
    are W1 ~ α·N(0, σ²/D) and W2 ~ α·N(0, σ²/M) entrywise (σ² = 1 "lecun", the default, or 2 "he"; :data:`INITS`),
    the biases b1, b2 zero.  ``alpha`` < 1 is the small initialisation of Simon et al. (2023), App. D.2: every
    initial weight is multiplied by α, so with zero biases and a positively homogeneous φ (ReLU, linear) the
    initial output is exactly α² times that of ``alpha=1`` (two weight layers on every path).

    Parameters
    ----------
    D, M, d : input dimension, hidden width, embedding dimension.
    seed : NumPy seed (CPU and GPU give the same parameters; W1 is drawn before W2).
    alpha : multiplier of every initial weight (> 0).
    init : "lecun" (N(0, 1/fan_in)) or "he" (N(0, 2/fan_in)).
    dtype : floating dtype of the parameters (float64 by default; float32 for a float32 model).

    Returns
    -------
    dict {"W1": (D, M), "b1": (M,), "W2": (M, d), "b2": (d,)} of JAX arrays of ``dtype``.
    """
    D = check_positive_int(D, "D")
    M = check_positive_int(M, "M")
    d = check_positive_int(d, "d")
    rng, alpha, gain, dt = _init_args(seed, alpha, init, dtype)
    W1 = _draw(rng, (D, M), D, gain, alpha, dt)
    W2 = _draw(rng, (M, d), M, gain, alpha, dt)
    return {"W1": W1, "b1": jnp.zeros((M,), dt), "W2": W2, "b2": jnp.zeros((d,), dt)}


def check_mlp(params, x=None, *, x_name="x"):
    """(W1, b1, W2, b2) of the MLP of :func:`init_mlp`: W1 (D, M), b1 (M,), W2 (M, d), b2 (d,).
    The MLP of S App. D.1.

    With ``x``, its last axis must have D features.  JAX-traceable: shapes always, values (finite, real) only
    for concrete arrays.
    """
    W1, b1, W2, b2 = _entries(params, ("W1", "b1", "W2", "b2"), "MLP")
    W1 = _check_array(W1, "params['W1']", 2)
    D, M = jnp.shape(W1)
    W2 = _check_array(W2, "params['W2']", 2, (M, None))
    b1 = _check_array(b1, "params['b1']", 1, (M,))
    b2 = _check_array(b2, "params['b2']", 1, (jnp.shape(W2)[1],))
    if x is not None:
        if jnp.ndim(x) == 0 or jnp.shape(x)[-1] != D:
            raise ValueError(f"{x_name} must have {D} features (columns) to match params['W1'] of shape "
                             f"{_shape_of(W1)}, got shape {_shape_of(x)}")
        check_finite_if_concrete(x, x_name)
    return W1, b1, W2, b2


def mlp_apply(params, x, activation="relu", return_hidden=False):
    """The one-hidden-layer MLP of Simon et al. (2023), App. D.1: h = φ(x W1 + b1) (n, M), f = h W2 + b2 (n, d).

    Standard parametrisation (no 1/√M factor; the scale sits in the initial weights, :func:`init_mlp`).
    ``x``: rows (n, D) (any leading axes).  ``return_hidden=True`` returns (f, h), the embeddings and the hidden
    representation (Simon et al. (2023), App. D.4 record the spectra of both).  Computes in the dtype of the
    parameters and inputs (JAX promotion); JAX-traceable.
    """
    phi = _phi(activation, False)
    W1, b1, W2, b2 = check_mlp(params, x)
    h = phi(x @ W1 + b1)
    f = h @ W2 + b2
    return (f, h) if return_hidden else f


#: Which initial weights of :func:`init_resnet` ``alpha`` multiplies.
ALPHA_SCOPES = ("all", "last")


def init_resnet(image_shape, d: int, *, widths=(16, 32, 64), blocks_per_stage: int = 1, head_width=None,
                seed: int = 0, alpha: float = 1.0, init: str = "he", alpha_scope: str = "all",
                head_norm: bool = False, dtype=jnp.float64) -> dict:
    r"""Parameters of a small residual convolutional network for images (n, H, W, C) (:func:`resnet_apply`).

    The architecture is a small version of the ResNet encoders with an MLP projection head that Simon et al.
    (2023), §6 and App. D train with Barlow Twins, SimCLR and VICReg, without batch normalisation (so that the
    network is a pure function of its parameters):

    * stem: 3×3 convolution C -> widths[0], stride 1, then ReLU;
    * stage s = 0, 1, ...: ``blocks_per_stage`` residual blocks
      y = ReLU(P x + conv₂(ReLU(conv₁(x)))) with 3×3 convolutions; the first block of every stage s > 0 has
      stride 2 (in conv₁) and a 1×1 stride-2 projection P (no bias) from widths[s-1] to widths[s] channels,
      every other block has the identity shortcut P = I;
    * global average pooling over H, W: the hidden representation (n, widths[-1]);
    * projection head: Linear(widths[-1] -> head_width), ReLU, Linear(head_width -> d): the embeddings (n, d);
      with ``head_norm=True`` a batch normalisation between the first linear layer and the ReLU,
      Linear -> BN -> ReLU -> Linear, the projector of SimCLR (arXiv:2002.05709) and Barlow Twins
      (arXiv:2103.03230) that S App. D.2 keeps (:func:`resnet_apply`).

    Initial weights α·N(0, σ²/fan_in) (fan_in = k·k·C_in for a k×k convolution; σ² = 2 "he", the default, or 1
    "lecun"; :data:`INITS`), biases zero.  ``alpha`` < 1 is the small initialisation of Simon et al. (2023),
    App. D.2.  A residual network is not homogeneous in α (paths through a block have different numbers of
    weight layers), but with zero biases the output is α^L times a function of α that has a finite limit as
    α -> 0, L = len(widths) + 2 the number of weight layers on the shortest path (stem, one projection per stage
    s > 0, the two head layers).

    ``alpha_scope="last"`` multiplies only the last weight matrix W2 of the head by α (every other weight is drawn
    at scale 1).  This is what "every initial weight × α" amounts to in the paper's networks, which have a batch
    norm after every convolution and after every head layer but the last (S App. D.1–D.2): batch norm makes a
    layer's output invariant to the scale of the weights before it, $\mathrm{BN}(\alpha W x) = \mathrm{BN}(W x)$,
    so only the un-normalised last layer keeps its factor, $f = \alpha\, W_2^\top g(x)$ with $g$ of order one.
    Without batch norm, scaling every layer (``"all"``) makes the output of order $\alpha^L$ and the escape from
    the saddle at 0 take a time growing like $\alpha^{-(L-2)}$ rather than $\log(1/\alpha)$.

    ``head_norm=True`` adds the head's batch normalisation, ``head["norm"] = {"scale": 1, "offset": 0}``
    (head_width,) (not multiplied by α).  It matters for the spectrum the losses see at init: global average
    pooling of ReLU features gives hidden representations with a large common mean, so that without it the
    second moment of the head's features has one eigenvalue 50-100 times the next (a kernel of nearly rank
    one); the normalisation centres the head's pre-activations over the batch, as in the paper's network, and
    the next eigenvalues are then a few tenths of the first.

    Parameters
    ----------
    image_shape : (H, W, C) of one image.
    d : embedding dimension.
    widths : channels of each stage (positive integers; one stage per entry).
    blocks_per_stage : residual blocks per stage (>= 1).
    head_width : hidden width of the projection head (default widths[-1]).
    seed, alpha, init, dtype : as :func:`init_mlp`.
    alpha_scope : "all" (every weight × α, the default) or "last" (only the head's W2 × α; :data:`ALPHA_SCOPES`).

    Returns
    -------
    dict {"stem": {"w", "b"}, "stages": [[block, ...], ...], "head": {"W1", "b1", "W2", "b2"}}, a block being
    {"conv1": {"w", "b"}, "conv2": {"w", "b"}} plus "proj": {"w"} where it has a projection; convolution
    kernels in HWIO layout (k, k, C_in, C_out).
    """
    if isinstance(image_shape, (str, bytes)) or not hasattr(image_shape, "__len__") or len(image_shape) != 3:
        raise ValueError(f"image_shape must be (H, W, C), got {image_shape!r}")
    H, W_, C = (check_positive_int(s, f"image_shape[{i}]") for i, s in enumerate(image_shape))
    d = check_positive_int(d, "d")
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__") or len(widths) == 0:
        raise ValueError(f"widths must be a non-empty sequence of positive integers, got {widths!r}")
    widths = tuple(check_positive_int(w, f"widths[{i}]") for i, w in enumerate(widths))
    blocks_per_stage = check_positive_int(blocks_per_stage, "blocks_per_stage")
    head_width = widths[-1] if head_width is None else check_positive_int(head_width, "head_width")
    rng, alpha, gain, dt = _init_args(seed, alpha, init, dtype)
    check_choice(alpha_scope, "alpha_scope", set(ALPHA_SCOPES))
    alpha_last = alpha
    if alpha_scope == "last":
        alpha = 1.0

    def conv(k, cin, cout, bias=True):
        out = {"w": _draw(rng, (k, k, cin, cout), k * k * cin, gain, alpha, dt)}
        if bias:
            out["b"] = jnp.zeros((cout,), dt)
        return out

    stem = conv(3, C, widths[0])
    stages = []
    for s, w in enumerate(widths):
        blocks = []
        for b in range(blocks_per_stage):
            cin = widths[s - 1] if (s > 0 and b == 0) else w
            block = {"conv1": conv(3, cin, w), "conv2": conv(3, w, w)}
            if s > 0 and b == 0:
                block["proj"] = conv(1, cin, w, bias=False)
            blocks.append(block)
        stages.append(blocks)
    head = {"W1": _draw(rng, (widths[-1], head_width), widths[-1], gain, alpha, dt),
            "b1": jnp.zeros((head_width,), dt),
            "W2": _draw(rng, (head_width, d), head_width, gain, alpha_last, dt),
            "b2": jnp.zeros((d,), dt)}
    if bool(head_norm):
        head["norm"] = {"scale": jnp.ones((head_width,), dt), "offset": jnp.zeros((head_width,), dt)}
    return {"stem": stem, "stages": stages, "head": head}


def _check_conv(p, name, k, cin, bias=True):
    """The kernel (k, k, cin, ·) (and bias) of one convolution; returns its output channels."""
    keys = ("w", "b") if bias else ("w",)
    entries = _entries(p, keys, "convolution", name)
    w = _check_array(entries[0], f"{name}['w']", 4, (k, k, cin, None))
    cout = jnp.shape(w)[3]
    if bias:
        _check_array(entries[1], f"{name}['b']", 1, (cout,))
    return cout


def check_resnet(params, images=None, *, images_name="images"):
    """Validate the parameters of :func:`init_resnet` (and ``images`` (n, H, W, C) against them).
    The residual network of S §6 at CPU scale.

    Checks the structure (stem, stages of blocks, head), the kernel shapes and the chain of channels (a block
    without "proj" must keep its channels; the first block of a stage s > 0 must have "proj", it downsamples)
    and, for concrete arrays, finite real values.  JAX-traceable.  Returns the number of channels C.
    """
    stem, stages, head = _entries(params, ("stem", "stages", "head"), "residual network")
    w_stem = _entries(stem, ("w",), "convolution", "params['stem']")[0]
    w_stem = _check_array(w_stem, "params['stem']['w']", 4, (3, 3, None, None))
    C = jnp.shape(w_stem)[2]
    c = _check_conv(stem, "params['stem']", 3, C)
    if not isinstance(stages, (list, tuple)) or len(stages) == 0:
        raise ValueError(f"params['stages'] must be a non-empty list of stages, got {type(stages).__name__}")
    for s, blocks in enumerate(stages):
        if not isinstance(blocks, (list, tuple)) or len(blocks) == 0:
            raise ValueError(f"params['stages'][{s}] must be a non-empty list of residual blocks")
        for b, block in enumerate(blocks):
            name = f"params['stages'][{s}][{b}]"
            conv1, conv2 = _entries(block, ("conv1", "conv2"), "residual block", name)
            cout = _check_conv(conv1, f"{name}['conv1']", 3, c)
            if _check_conv(conv2, f"{name}['conv2']", 3, cout) != cout:
                raise ValueError(f"{name}['conv2'] must have {cout} output channels like its conv1")
            downsample = s > 0 and b == 0
            if downsample != ("proj" in block):
                why = "must have" if downsample else "must not have"
                raise ValueError(f"{name} {why} a 'proj' shortcut (the first block of every stage after the first "
                                 "downsamples with a 1x1 stride-2 projection; the others are identity shortcuts)")
            if downsample and _check_conv(block["proj"], f"{name}['proj']", 1, c, bias=False) != cout:
                raise ValueError(f"{name}['proj'] must have {cout} output channels like its conv2")
            if not downsample and cout != c:
                raise ValueError(f"{name} has an identity shortcut, so it must keep its {c} channels, got {cout}")
            c = cout
    W1, b1, W2, b2 = _entries(head, ("W1", "b1", "W2", "b2"), "projection head", "params['head']")
    W1 = _check_array(W1, "params['head']['W1']", 2, (c, None))
    hw = jnp.shape(W1)[1]
    _check_array(b1, "params['head']['b1']", 1, (hw,))
    W2 = _check_array(W2, "params['head']['W2']", 2, (hw, None))
    _check_array(b2, "params['head']['b2']", 1, (jnp.shape(W2)[1],))
    if "norm" in head:
        scale, offset = _entries(head["norm"], ("scale", "offset"), "head batch norm", "params['head']['norm']")
        _check_array(scale, "params['head']['norm']['scale']", 1, (hw,))
        _check_array(offset, "params['head']['norm']['offset']", 1, (hw,))
    if images is not None:
        if jnp.ndim(images) != 4 or jnp.shape(images)[-1] != C:
            raise ValueError(f"{images_name} must be 4-D (n, H, W, C) with C = {C} channels to match "
                             f"params['stem']['w'] of shape {_shape_of(w_stem)}, got shape {_shape_of(images)}")
        if min(jnp.shape(images)[1:3]) < 1:
            raise ValueError(f"{images_name} must have H, W >= 1, got shape {_shape_of(images)}")
        check_finite_if_concrete(images, images_name)
    return C


def _conv(x, p, stride, padding):
    out = jax.lax.conv_general_dilated(x, p["w"].astype(x.dtype), (stride, stride), padding,
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return out + p["b"].astype(x.dtype) if "b" in p else out


#: ε of the head's batch normalisation (PyTorch's BatchNorm1d default).
HEAD_NORM_EPS = 1e-5


def head_norm_statistics(params, images):
    """The mean and variance over the rows of the head's pre-normalisation activations u = h W1 + b1 on
    ``images``: the fixed statistics ``norm_stats`` of :func:`resnet_apply` (batch norm in evaluation mode, whose
    rows are independent, as the empirical NTK of Simon et al. (2023), App. D.5 needs)."""
    check_resnet(params, images)
    if "norm" not in params["head"]:
        raise ValueError("params['head'] has no 'norm' entry: the network was built with head_norm=False, so it "
                         "has no batch statistics")
    _, h = resnet_apply(params, images, return_hidden=True)
    u = h @ params["head"]["W1"].astype(h.dtype) + params["head"]["b1"].astype(h.dtype)
    return jnp.mean(u, axis=0), jnp.var(u, axis=0)


def resnet_apply(params, images, return_hidden=False, *, activation="relu", norm_stats=None):
    r"""The small residual network of :func:`init_resnet` on images (n, H, W, C) (NHWC): embeddings (n, d).

    stem -> residual stages (y = φ(P x + conv₂(φ(conv₁ x))), stride 2 and a 1×1 projection P entering every stage
    after the first) -> global average pooling (the hidden representation h, (n, widths[-1])) -> projection head
    f = φ(h W1 + b1) W2 + b2, with φ = ReLU by default.  Without a head normalisation (``head_norm=False``, the
    default of :func:`init_resnet`) it is a pure function of ``params`` and the rows are independent.

    With the head's batch normalisation (``params["head"]["norm"]``) the head is
    $f = arphiig(\gamma \odot (u - \mu)/\sqrt{\sigma^2 + \epsilon} + etaig) W_2 + b_2$, $u = h W_1 + b_1$,
    with $\mu, \sigma^2$ the mean and (biased) variance of u over the rows of this call (training mode: the rows
    are coupled, as in the projectors of SimCLR and Barlow Twins), or the fixed ``norm_stats = (μ, σ²)``
    (evaluation mode, e.g. :func:`head_norm_statistics` of a reference batch: the rows are independent, which the
    empirical NTK of S App. D.5 needs).  ε = :data:`HEAD_NORM_EPS`.
    ``return_hidden=True`` returns (f, h) (Simon et al. (2023), App. D.4 record the spectra of both; §6, Fig 5).
    Integer images (uint8) are converted to the parameters' floating dtype; otherwise it computes in the
    promoted dtype of the parameters and images.  JAX-traceable (``jit``, ``grad``, ``vmap``).
    """
    phi = _phi(activation, False)
    check_resnet(params, images)
    dt = jnp.result_type(params["stem"]["w"], images)
    x = jnp.asarray(images).astype(dt)
    x = phi(_conv(x, params["stem"], 1, _PAD3))
    for s, blocks in enumerate(params["stages"]):
        for b, block in enumerate(blocks):
            stride = 2 if "proj" in block else 1
            y = phi(_conv(x, block["conv1"], stride, _PAD3))
            y = _conv(y, block["conv2"], 1, _PAD3)
            shortcut = _conv(x, block["proj"], stride, _PAD1) if "proj" in block else x
            x = phi(shortcut + y)
    h = jnp.mean(x, axis=(1, 2))
    head = params["head"]
    u = h @ head["W1"].astype(dt) + head["b1"].astype(dt)
    if "norm" in head:
        if norm_stats is None:
            mu, var = jnp.mean(u, axis=0), jnp.var(u, axis=0)
        else:
            if not isinstance(norm_stats, (tuple, list)) or len(norm_stats) != 2:
                raise ValueError("norm_stats must be a (mean, variance) pair of the head's batch statistics, got "
                                 f"{type(norm_stats).__name__}")
            hw = jnp.shape(u)[1]
            mu = _check_array(norm_stats[0], "norm_stats[0] (the mean)", 1, (hw,))
            var = _check_array(norm_stats[1], "norm_stats[1] (the variance)", 1, (hw,))
            if not is_traced(var) and bool(np.any(np.asarray(var) < 0)):
                raise ValueError("norm_stats[1] (the variance) must be >= 0, got a negative entry")
            mu, var = jnp.asarray(mu).astype(dt), jnp.asarray(var).astype(dt)
        u = (u - mu) * jax.lax.rsqrt(var + HEAD_NORM_EPS) * head["norm"]["scale"].astype(dt) \
            + head["norm"]["offset"].astype(dt)
    elif norm_stats is not None:
        raise ValueError("norm_stats was given but params['head'] has no 'norm' entry (head_norm=False)")
    f = phi(u) @ head["W2"].astype(dt) + head["b2"].astype(dt)
    return (f, h) if return_hidden else f


@functools.lru_cache(maxsize=None)
def make_apply(name: str, activation: str = "relu", *, parametrization: str = "ntk", scaled: bool = False):
    """``apply(params, x)`` for a named model: "two_layer" (:func:`two_layer_apply` with the given
    activation, parametrisation and scaling), "linear" (:func:`linear_apply`), "mlp" (:func:`mlp_apply`
    with the given activation) or "resnet" (:func:`resnet_apply` with the given activation; x are images).

    ``parametrization`` and ``scaled`` belong to the two-layer network; the MLP and the ResNet are in
    standard parametrisation and require them at their defaults.  The same arguments return the same
    function object (cached), so trainers that cache compiled programs on the model function reuse them.
    """
    check_choice(name, "model", {"two_layer", "linear", "mlp", "resnet"})
    if name == "linear":
        return linear_apply
    check_choice(activation, "activation", set(ACTIVATIONS))
    check_choice(parametrization, "parametrization", set(PARAMETRIZATIONS))
    if not isinstance(scaled, bool):
        raise TypeError(f"scaled must be True or False, got {scaled!r}")
    if name in ("mlp", "resnet"):
        if parametrization != "ntk" or scaled:
            raise ValueError(f"parametrization and scaled apply to the two-layer network only; the {name} is in "
                             "standard parametrisation (leave them at their defaults)")
        fn = mlp_apply if name == "mlp" else resnet_apply
        return functools.partial(fn, activation=activation)
    return functools.partial(two_layer_apply, activation=activation, parametrization=parametrization,
                             scaled=scaled)
