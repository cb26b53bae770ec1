"""A deep fully connected network in NTK parametrisation and its structured empirical NTK (A Fig 5).

G. G. Anil, P. Esser, D. Ghoshdastidar, "When can we Approximate Wide Contrastive Models with Neural
Tangent Kernels and Principal Component Analysis?" (2024), "A", Fig 5:

    h_1 = φ(V_1 x),   h_l = φ(V_l h_{l−1} / √M) (l = 2..L),   f(x) = (1/√M) Wᵀ h_L,

V_1 ∈ R^{M×D}, V_l ∈ R^{M×M}, W ∈ R^{M×Z}, all entries N(0, 1).  With L = 1 this is the two-layer
network A2 of :mod:`dynamics.networks` (same activations, same scaling).  A's Fig 5 uses L = 3
hidden layers.

Empirical NTK without per-parameter Jacobians (*derived here*, checked against
:func:`dynamics.ntk.empirical_ntk` in the tests): with pre-activations u_l, layer inputs
a_1 = x, a_l = h_{l−1}/√M, and back-propagated vectors g_{L,i} = φ'(u_L) ⊙ W_{:,i}/√M,
g_{l−1,i} = φ'(u_{l−1}) ⊙ (V_lᵀ g_{l,i}) / √M,

    K_ij(x, x̃) = δ_ij h_L(x)·h_L(x̃)/M + Σ_l (g_{l,i}(x)·g_{l,j}(x̃)) (a_l(x)·a_l(x̃)).
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from .. import networks
from .._validation import (
    as_matrix,
    check_choice,
    check_finite_if_concrete,
    check_positive_int,
    check_tree_finite_if_concrete,
)


def init_deep(D: int, M: int, Z: int, *, depth: int = 3, seed: int = 0) -> dict:
    """Parameters {"V": (V_1 (M, D), V_2 (M, M), …), "W": (M, Z)}, entries N(0, 1), ``depth`` hidden layers.

    The deep network of A Fig 5 (A §5).
    """
    D = check_positive_int(D, "D")
    M = check_positive_int(M, "M")
    Z = check_positive_int(Z, "Z")
    depth = check_positive_int(depth, "depth")
    seed = check_positive_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    Vs = [rng.standard_normal((M, D))] + [rng.standard_normal((M, M)) for _ in range(depth - 1)]
    W = rng.standard_normal((M, Z))
    return {"V": tuple(jax.device_put(V) for V in Vs), "W": jax.device_put(W)}


def _check_deep_params(params, x=None, x_name="x"):
    """{"V": (V_1 (M, D), V_2 (M, M), …), "W": (M, Z)} fitting rows x (…, D).  JAX-traceable: shapes always,
    finite real entries for concrete arrays; each matrix through :func:`dynamics.networks.check_weights`."""
    if not isinstance(params, Mapping) or not {"V", "W"} <= set(params):
        got = sorted(params) if isinstance(params, Mapping) else type(params).__name__
        raise ValueError(f"params must be a dict with 'V' (a sequence of layer matrices) and 'W' (M, Z), got {got}")
    Vs = params["V"]
    if not isinstance(Vs, (tuple, list)) or len(Vs) == 0:
        raise ValueError(f"params['V'] must be a non-empty sequence (V_1 (M, D), V_2 (M, M), ...), got "
                         f"{type(Vs).__name__}")
    check_tree_finite_if_concrete({"V": Vs, "W": params["W"]}, "params")  # names the leaf: params['V'][0]
    layers = {f"V_{l}": V for l, V in enumerate(Vs, 1)}
    layers["W"] = params["W"]
    networks.check_weights(layers, tuple(layers), model="deep network")  # each a 2-D matrix
    shapes = [tuple(jnp.shape(V)) for V in Vs]
    M = shapes[0][0]
    if any(s != (M, M) for s in shapes[1:]) or jnp.shape(params["W"])[0] != M:
        raise ValueError(f"params must have V_1 (M, D), V_l (M, M) and W (M, Z) with one width M, got V shapes "
                         f"{shapes} and W {tuple(jnp.shape(params['W']))}")
    if x is not None and (jnp.ndim(x) == 0 or jnp.shape(x)[-1] != shapes[0][1]):
        raise ValueError(f"{x_name} must have D = {shapes[0][1]} features (columns) to match params['V'][0] "
                         f"{shapes[0]}, got shape {tuple(jnp.shape(x))}")


def _forward(params, x, activation):
    phi, _ = networks.ACTIVATIONS[activation]
    Vs = params["V"]
    M = Vs[0].shape[0]
    inputs, pres = [], []
    a = x
    for l, V in enumerate(Vs):
        inputs.append(a)
        u = a @ V.T
        pres.append(u)
        a = phi(u) / jnp.sqrt(M)  # next layer's input a_{l+1} = h_l / √M
    h_last = phi(pres[-1])
    return inputs, pres, h_last


def deep_apply(params, x, activation: str = "relu"):
    r"""f(x) = (1/√M) Wᵀ h_L(x) for rows x (n, D) -> (n, Z).

    The deep network of A Fig 5 (A §5): $f(x) = \frac{1}{\sqrt M} W^\top h_L(x)$.
    """
    check_choice(activation, "activation", set(networks.ACTIVATIONS))
    _check_deep_params(params, x)
    check_finite_if_concrete(x, "x")
    _, _, h = _forward(params, x, activation)
    W = params["W"]
    return h @ W / jnp.sqrt(W.shape[0])


def _backprop(params, x, activation):
    """Layer inputs a_l (n, ·), back-propagated g_l (n, M, Z) and h_L (n, M)."""
    _, dphi = networks.ACTIVATIONS[activation]
    inputs, pres, h = _forward(params, x, activation)
    Vs, W = params["V"], params["W"]
    M = W.shape[0]
    g = dphi(pres[-1])[:, :, None] * W[None] / jnp.sqrt(M)
    gs = [g]
    for l in range(len(Vs) - 1, 0, -1):
        g = dphi(pres[l - 1])[:, :, None] * jnp.einsum("km,nkz->nmz", Vs[l], g) / jnp.sqrt(M)
        gs.append(g)
    return inputs, gs[::-1], h


@functools.cache
def _deep_ntk_jit(activation, output):
    def fn(params, x1, x2):
        in1, g1, h1 = _backprop(params, x1, activation)
        in2, g2, h2 = _backprop(params, x2, activation)
        M, Z = params["W"].shape
        nngp = h1 @ h2.T / M
        if output == "full":
            K = nngp[:, :, None, None] * jnp.eye(Z)
            for a1, a2, ga, gb in zip(in1, in2, g1, g2):
                K = K + (a1 @ a2.T)[:, :, None, None] * jnp.einsum("ami,bmj->abij", ga, gb)
            return K
        K = nngp
        for a1, a2, ga, gb in zip(in1, in2, g1, g2):
            K = K + (a1 @ a2.T) * jnp.einsum("ami,bmi->ab", ga, gb) / Z
        return K

    return jax.jit(fn)


def deep_ntk(params, x1, x2, activation: str = "relu", *, output: str = "trace"):
    r"""Empirical NTK of :func:`deep_apply`: "full" (n1, n2, Z, Z) or "trace" (1/Z) Σ_i K_ii (n1, n2).

    The NTK of the deep network of A Fig 5 (A §5), $K(x, x') = \sum_\theta \partial_\theta f(x)\,\partial_\theta f(x')^\top$.
    """
    check_choice(activation, "activation", set(networks.ACTIVATIONS))
    check_choice(output, "output", {"full", "trace"})
    x1, x2 = _check_inputs(x1, x2)
    _check_deep_params(params, x1, "x1")
    return _deep_ntk_jit(activation, output)(params, x1, x2)  # NumPy inputs go straight to the compiled function


def _check_inputs(x1, x2):
    x1, x2 = as_matrix(x1, "x1"), as_matrix(x2, "x2")
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"x1 and x2 must have the same number of features (columns), got x1 {x1.shape} and "
                         f"x2 {x2.shape}")
    return x1, x2


def deep_ntk_fn(x1, x2, activation: str = "relu", *, output: str = "trace"):
    """``params -> K`` for fixed inputs (jit-traceable, for recording inside the trainer).

    Records the NTK change of the deep network of A Fig 5 (A §5) during training.

    Equal inputs (same shapes, dtype and bytes), activation and output give the same function object, so
    a trainer that caches its compiled programs on the NTK function (:func:`dynamics.contrastive.train_contrastive`)
    reuses them from run to run.
    """
    check_choice(activation, "activation", set(networks.ACTIVATIONS))
    check_choice(output, "output", {"full", "trace"})
    x1, x2 = _check_inputs(x1, x2)
    key = (activation, output, _fingerprint(x1), _fingerprint(x2))
    fn = _NTK_FNS.get(key)
    if fn is None:
        x1j, x2j = jax.device_put(x1), jax.device_put(x2)
        inner = _deep_ntk_jit(activation, output)

        def fn(params):
            return inner(params, x1j, x2j)

        _NTK_FNS[key] = fn
        while len(_NTK_FNS) > 32:
            _NTK_FNS.popitem(last=False)
    else:
        _NTK_FNS.move_to_end(key)
    return fn


_NTK_FNS: OrderedDict = OrderedDict()  # LRU cache of the functions deep_ntk_fn returned


def _fingerprint(x):
    arr = np.ascontiguousarray(x)
    return arr.shape, arr.dtype.str, hashlib.blake2b(arr.tobytes(), digest_size=16).digest()
