"""Neural tangent kernels: infinite-width closed forms, the generic empirical NTK, and the two-layer fast path.

One NTK module for the kernel theory (S §5) and for the NTK-drift measurements of the trainers
(A Thm 13, F).  References: Jacot, Gabriel, Hongler, "Neural Tangent Kernel", NeurIPS 2018
(arXiv:1806.07572); S = Simon et al., ICML 2023 (arXiv:2303.15438); A = Anil, Esser, Ghoshdastidar (2024);
F = Fleissner, Anil, Ghoshdastidar, "Infinite Width Limits of Self Supervised Neural Networks" (2025).

Two-layer network (A2, :mod:`dynamics.networks`), NTK parametrisation, no biases:

    f(x) = (1/√M) W^T φ(V x),   V ∈ R^{M×D}, W ∈ R^{M×Z}, entries N(0, 1).

* Empirical NTK (*derived here* from A2 by the chain rule)::

      K_ij(x, x̃) = (1/M) Σ_m [W_mi W_mj φ'(v_m·x) φ'(v_m·x̃) (x·x̃) + δ_ij φ(v_m·x) φ(v_m·x̃)].

* Infinite width (Jacot et al. 2018): K_ij → δ_ij Θ(x, x̃) with::

      Θ(x, x̃) = Σ(x, x̃) + (x·x̃) E_v[φ'(v·x) φ'(v·x̃)],   Σ(x, x̃) = E_v[φ(v·x) φ(v·x̃)],

  v ~ N(0, I_D), i.e. (u, ũ) = (v·x, v·x̃) is a centred Gaussian pair with covariance
  [[|x|², x·x̃], [x·x̃, |x̃|²]].  Σ is the NNGP kernel.

* Scalar reduction (S App. D.5): the NTK of g(x) = √Z · mean_i f_i(x) = (1/√Z) Σ_i f_i(x)
  is K_scalar = (1/Z) Σ_ij K_ij.

Functions
---------
analytic_ntk, analytic_nngp
    Θ and Σ in closed form (relu, erf, linear) or by polar Gauss quadrature
    (tanh, sigmoid, any pair of callables (φ, φ')).
empirical_ntk, scalar_ntk
    Generic: any JAX ``apply_fn(params, x) -> (n, d)``, by Jacobians of the flattened parameters.
two_layer_ntk
    Structured: the two-layer network with matrix products only, O(n M) memory for "trace"/"scalar".
ntk_drift, max_entry_change
    ‖K(t) − K(0)‖_F / ‖K(0)‖_F and max |K(t) − K(0)| (A Fig 3, F).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ._validation import (
    as_array,
    as_matrix,
    check_choice,
    check_finite_if_concrete,
    check_positive_int,
    check_tree_finite_if_concrete,
)
from . import parallel
from .networks import ACTIVATIONS, check_two_layer

__all__ = [
    "analytic_ntk",
    "analytic_nngp",
    "empirical_ntk",
    "scalar_ntk",
    "two_layer_ntk",
    "ntk_drift",
    "max_entry_change",
    "CLOSED_FORMS",
]

#: Activations with a closed-form infinite-width kernel; the others use quadrature.
CLOSED_FORMS = ("relu", "erf", "linear")

_TWO_PI = 2.0 * np.pi


# ----------------------------------------------------------------------------- validation


def _check_inputs(x1, x2, *, dim=None, dim_name="D"):
    """Two finite 2-D arrays with the same number of columns (and ``dim`` columns when given)."""
    x1 = as_matrix(x1, "x1")
    x2 = as_matrix(x2, "x2")
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(
            f"x1 and x2 must have the same number of features (columns), got x1 {x1.shape} and x2 {x2.shape}"
        )
    if dim is not None and x1.shape[1] != dim:
        raise ValueError(f"x1 and x2 must have {dim_name} = {dim} columns, got {x1.shape[1]}")
    for name, x in (("x1", x1), ("x2", x2)):
        if x.shape[0] == 0:
            raise ValueError(f"{name} must have at least one row (input point), got shape {x.shape}")
    return x1, x2


def _resolve_activation(activation):
    """(name or None, φ, φ') from a name in ``networks.ACTIVATIONS`` or a pair of callables."""
    if isinstance(activation, str):
        check_choice(activation, "activation", set(ACTIVATIONS))
        phi, dphi = ACTIVATIONS[activation]
        return activation, phi, dphi
    if (isinstance(activation, (tuple, list)) and len(activation) == 2
            and all(callable(f) for f in activation)):
        return None, activation[0], activation[1]
    raise ValueError(
        f"activation must be one of {sorted(ACTIVATIONS)} or a pair of callables (phi, dphi), got {activation!r}"
    )


def _check_params(params):
    """The two-layer parameters {"V": (M, D), "W": (M, Z)} (finite), as JAX arrays: :func:`networks.check_two_layer`."""
    V, W = check_two_layer(params)
    return jnp.asarray(V), jnp.asarray(W)


def _check_block_size(block_size, n):
    if block_size is None:
        return n
    return check_positive_int(block_size, "block_size")


# ----------------------------------------------------------------------------- infinite width


def _row_norms(x):
    """|x_i| for every row without squaring the entries first (rows scaled by their max |entry|)."""
    c = np.max(np.abs(x), axis=1) if x.shape[1] else np.zeros(x.shape[0])
    safe = np.where(c > 0, c, 1.0)
    return c * np.linalg.norm(x / safe[:, None], axis=1)


#: Row norms outside this range take the scaled path of :func:`_pair_geometry` (|x|² or x·x̃ would
#: under- or overflow); inside it the direct formulas are used, unchanged.
_NORM_RANGE = (1e-100, 1e100)


def _pair_geometry(x1, x2, chunk_elements=4_000_000):
    """|x| (n1, 1), |x̃| (1, n2), x·x̃, cos θ (clipped) and θ for every pair.

    arccos loses half the digits near cos θ = ±1 (θ error ~ ε/sin θ ~ 1e-8), which the
    relu kernel — linear in θ at θ = 0 — passes straight on (duplicate inputs would
    give an indefinite Gram matrix at the 1e-8 level).  Where |cos θ| > 1/2, θ is
    recomputed as 2 atan2(|x̂ − x̃̂|, |x̂ + x̃̂|) from the unit vectors, accurate to
    rounding.  Where a norm vanishes, cos θ = 1 and θ = 0 (every term then carries
    a factor |x| or x·x̃ = 0, or φ(0)).

    If a row norm lies outside 1e±100, the norms are computed from rows scaled by their
    largest entry and cos θ from the unit vectors (x·x̃ = |x||x̃| cos θ, inf only if it
    overflows), so that |x|² and x·x̃ never under- or overflow on the way to cos θ.
    """
    with np.errstate(over="ignore", under="ignore"):
        n1 = np.linalg.norm(x1, axis=1)[:, None]
        n2 = np.linalg.norm(x2, axis=1)[None, :]
    lo, hi = _NORM_RANGE
    ordinary = all(np.all((n == 0) | ((n >= lo) & (n <= hi))) for n in (n1, n2))
    if ordinary:
        dot = x1 @ x2.T
        denom = n1 * n2
        safe = denom > 0
        cos = np.ones_like(dot)
        np.divide(dot, denom, out=cos, where=safe)
    else:
        n1, n2 = _row_norms(x1)[:, None], _row_norms(x2)[None, :]
        u1 = x1 / np.where(n1 > 0, n1, 1.0)
        u2 = x2 / np.where(n2.T > 0, n2.T, 1.0)
        safe = (n1 > 0) & (n2 > 0)
        cos = np.where(safe, u1 @ u2.T, 1.0)
        with np.errstate(over="ignore"):
            dot = n1 * n2 * np.where(safe, cos, 0.0)
    cos = np.clip(cos, -1.0, 1.0)
    theta = np.arccos(cos)
    ia, ib = np.nonzero(safe & (np.abs(cos) > 0.5))
    if ia.size:
        u1 = x1 / np.where(n1 > 0, n1, 1.0)
        u2 = x2 / np.where(n2.T > 0, n2.T, 1.0)
        step = max(1, chunk_elements // x1.shape[1])
        for s in range(0, ia.size, step):
            a, b = ia[s:s + step], ib[s:s + step]
            diff = np.linalg.norm(u1[a] - u2[b], axis=1)
            summ = np.linalg.norm(u1[a] + u2[b], axis=1)
            theta[a, b] = 2.0 * np.arctan2(diff, summ)
    return n1, n2, dot, cos, theta


def _sin_theta(theta):
    """sin θ for θ ∈ [0, π], exactly 0 at θ = 0 and at θ = π (float): np.sin(np.pi) = 1.2e-16 would stand
    for the exact 0 of antiparallel inputs, and the erf kernel multiplies sin θ by |x||x̃|."""
    return np.where(theta > 0.5 * np.pi, np.sin(np.pi - theta), np.sin(theta))


def _closed_form(name, x1, x2):
    """(Σ, E[φ'φ'], (x·x̃) E[φ'φ']) in closed form for relu, erf and linear, each (n1, n2)."""
    n1, n2, dot, cos, theta = _pair_geometry(x1, x2)
    if name == "relu":
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by analytic_ntk/nngp
            return _relu_closed_form(n1, n2, dot, cos, theta)
    if name == "erf":
        return _erf_closed_form(n1, n2, cos, theta)
    if name == "linear":
        return dot, np.ones_like(dot), dot
    raise ValueError(f"no closed form for activation {name!r}")  # pragma: no cover - guarded by the caller


def _relu_closed_form(n1, n2, dot, cos, theta):
    """Arc-cosine kernels of degree 1 and 0 (Cho & Saul 2009)."""
    sin = _sin_theta(theta)
    nngp = n1 * n2 * (sin + (np.pi - theta) * cos) / _TWO_PI
    deriv = (np.pi - theta) / _TWO_PI
    # φ'(0) = 0 (networks._relu_prime): a zero input gives E[φ'φ'] = 0 exactly.
    deriv = np.where((n1 > 0) & (n2 > 0), deriv, 0.0)
    return nngp, deriv, dot * deriv


def _erf_closed_form(n1, n2, cos, theta):
    """Williams (1997) for erf, in a form that neither over- nor underflows for any finite input.

    With a = 1 + 2|x|², b = 1 + 2|x̃|² and D = det(I + 2C) = a b − 4(x·x̃)²
    = 1 + 2|x|² + 2|x̃|² + 4|x|²|x̃|² sin²θ >= 1,

        E[erf erf]   = (2/π) arcsin(2 x·x̃ / √(ab)) = (2/π) atan2(2 x·x̃, √D),
        E[erf' erf'] = (4/π) / √D,

    (the atan2 form follows from 1 − 4(x·x̃)²/(ab) = D/(ab); it is also accurate where the arcsin
    argument is near ±1).  Everything is divided by w w̃ with w = √(1 + |x|²):
    √D / (w w̃) = ‖(1/(w w̃), √2 ρ/w̃, √2 ρ̃/w, 2 ρ ρ̃ sin θ)‖ with ρ = |x|/w ∈ [0, 1) — a norm of
    bounded terms, taken with hypot (no squares).  Literally, |x|²|x̃|² overflows for |x| > 1e77
    and the kernel came out NaN although it is bounded (Σ ∈ [−1, 1], the NTK grows like |x|).
    """
    w1, w2 = np.hypot(1.0, n1), np.hypot(1.0, n2)
    r1, r2 = n1 / w1, n2 / w2  # |x|/w ∈ [0, 1)
    i1, i2 = 1.0 / w1, 1.0 / w2
    sqrt2 = np.sqrt(2.0)
    root = np.hypot(np.hypot(i1 * i2, sqrt2 * r1 * i2), np.hypot(sqrt2 * r2 * i1, 2.0 * r1 * r2 * _sin_theta(theta)))
    rr_cos = r1 * r2 * cos  # x·x̃ / (w w̃)
    nngp = (2.0 / np.pi) * np.arctan2(2.0 * rr_cos, root)
    with np.errstate(under="ignore"):
        deriv = (4.0 / np.pi) * (i1 * i2) / root
    with np.errstate(over="ignore"):
        dot_deriv = (4.0 / np.pi) * rr_cos / root  # (x·x̃) E[erf' erf']
    return nngp, deriv, dot_deriv


#: Radial panel edges on [0, 9]: graded near 0, where φ(|x| r cos ψ) turns over for large |x|,
#: then unit panels; the tail beyond r = 9 is ~ r³ e^{-r²/2} < 1e-14 for φ growing at most linearly.
_RADIAL_EDGES = (0.0, 0.125, 0.25, 0.5) + tuple(float(k) for k in range(1, 10))


@functools.lru_cache(maxsize=None)
def _quadrature_rule(n_angle, n_per_panel):
    """Gauss–Legendre nodes on [−1, 1] (angle) and composite Gauss–Legendre on the radial panels."""
    t, wt = np.polynomial.legendre.leggauss(n_angle)
    g, wg = np.polynomial.legendre.leggauss(n_per_panel)
    edges = np.asarray(_RADIAL_EDGES)
    h = np.diff(edges)[:, None]
    r = (edges[:-1, None] + 0.5 * h * (g + 1.0)).ravel()
    wr = (0.5 * h * wg).ravel() * r * np.exp(-0.5 * r**2) / _TWO_PI
    return t, wt, r, wr


def _quadrature_chunk(phi, dphi, a, b, theta, t, wt, r, wr, xp):
    """Σ and E[φ'φ'] for a chunk of pairs (|x|, |x̃|, θ), with array module ``xp`` (jnp or np)."""
    # Pieces of [0, π] between the kink angles π/2 (u = 0) and θ + π/2 mod π (ũ = 0).
    k1 = xp.full_like(theta, np.pi / 2)
    k2 = xp.mod(theta + np.pi / 2, np.pi)
    edges = xp.stack([xp.zeros_like(theta), xp.minimum(k1, k2), xp.maximum(k1, k2),
                      xp.full_like(theta, np.pi)], axis=1)  # (p, 4)
    half = 0.5 * (edges[:, 1:] - edges[:, :-1])  # (p, 3)
    mid = 0.5 * (edges[:, 1:] + edges[:, :-1])
    psi = (mid[:, :, None] + half[:, :, None] * t).reshape(theta.shape[0], -1)  # (p, 3 n_angle)
    w_psi = (half[:, :, None] * wt).reshape(theta.shape[0], -1)
    cu = (a[:, None] * xp.cos(psi))[:, :, None] * r  # u at every node, (p, 3 n_angle, n_r)
    cv = (b[:, None] * xp.cos(psi - theta[:, None]))[:, :, None] * r
    weights = w_psi[:, :, None] * wr
    out = []
    for f in (phi, dphi):
        val = xp.asarray(f(cu)) * xp.asarray(f(cv)) + xp.asarray(f(-cu)) * xp.asarray(f(-cv))
        out.append(xp.sum(weights * val, axis=(1, 2)))
    return out


@functools.lru_cache(maxsize=64)
def _jitted_chunk(phi, dphi):
    return jax.jit(lambda a, b, th, t, wt, r, wr: _quadrature_chunk(phi, dphi, a, b, th, t, wt, r, wr, jnp))


def _quadrature(phi, dphi, x1, x2, *, symmetric=False, n_angle=None, n_per_panel=8, chunk_elements=2_000_000):
    """(Σ, E[φ'φ']) by Gauss quadrature in polar coordinates, each (n1, n2).

    With (u, ũ) = (|x| r cos ψ, |x̃| r cos(ψ − θ)) — the Cholesky factor of the 2×2
    covariance written in polar form, z = r (cos ψ, sin ψ) ~ N(0, I_2) —

        E[F(u, ũ)] = (1/2π) ∫_0^π dψ ∫_0^∞ [F(r e_ψ) + F(−r e_ψ)] r e^{−r²/2} dr.

    The ψ range is split at the two angles where u = 0 or ũ = 0 (Gauss–Legendre,
    ``n_angle`` nodes per piece), so activations with a kink at 0 (relu and its step
    derivative) are integrated piecewise-analytically; on a Cartesian Gauss–Hermite
    grid the relu kink leaves an error ~1e-3 even at 64×64 nodes.  The radius uses
    composite Gauss–Legendre on graded panels of [0, 9] (the weight r e^{−r²/2} is
    analytic there): Gauss–Laguerre or Gauss–Hermite radii are limited by the complex
    poles of tanh/sigmoid (~1e-3 at |x| ≈ 2 with 48–64 nodes), short panels are not.

    φ(|x| r cos ψ) turns over on an angular scale ~1/|x|, so by default ``n_angle``
    grows with the largest input norm: max(24, 8 ⌈max|x|⌉), at most 128.  Measured
    against the erf closed form and a 64-node reference for tanh/sigmoid: relative
    error <= 1e-10 for norms up to ~10 (1e-13 for unit norms).  ``symmetric`` (x1 is x2) evaluates only the
    upper triangle.  Named activations and JAX-traceable callables run jitted in
    fixed-size chunks of pairs; other callables (NumPy-only) run eagerly.
    """
    n1, n2, dot, _, theta = _pair_geometry(x1, x2)
    if n_angle is None:
        biggest = max(float(n1.max(initial=0.0)), float(n2.max(initial=0.0)))
        n_angle = int(min(max(24, 8 * np.ceil(biggest)), 128))  # a multiple of 8: few cached rules
    t, wt, r, wr = _quadrature_rule(n_angle, n_per_panel)
    shape = dot.shape
    if symmetric:
        ia, ib = np.triu_indices(shape[0])
    else:
        ia, ib = (k.ravel() for k in np.indices(shape))
    a, b, theta = n1[ia, 0], n2[0, ib], theta[ia, ib]
    n_pairs = a.size
    step = max(1, min(n_pairs, chunk_elements // (3 * n_angle * r.size)))
    pad = (-n_pairs) % step
    a, b, theta = (np.concatenate([v, np.ones(pad)]) for v in (a, b, theta))
    try:
        fn = _jitted_chunk(phi, dphi)
        parts = [fn(a[s:s + step], b[s:s + step], theta[s:s + step], t, wt, r, wr)
                 for s in range(0, a.size, step)]
    except (jax.errors.JAXTypeError, TypeError):  # a NumPy-only callable: evaluate eagerly
        parts = [_quadrature_chunk(phi, dphi, a[s:s + step], b[s:s + step], theta[s:s + step], t, wt, r, wr, np)
                 for s in range(0, a.size, step)]
    out = []
    for k in range(2):
        vals = np.concatenate([np.asarray(p[k]) for p in parts])[:n_pairs]
        full = np.empty(shape)
        full[ia, ib] = vals
        if symmetric:
            full[ib, ia] = vals
        out.append(full)
    return out[0], out[1]


def _kernel_parts(x1, x2, activation, method):
    x1, x2 = _check_inputs(x1, x2)
    name, phi, dphi = _resolve_activation(activation)
    check_choice(method, "method", {"auto", "closed", "quadrature"})
    if method == "closed" and name not in CLOSED_FORMS:
        raise ValueError(f"method='closed' needs activation in {list(CLOSED_FORMS)}, got {activation!r}")
    if method != "quadrature" and name in CLOSED_FORMS:
        return _closed_form(name, x1, x2)
    # A Gram matrix (x1 = x2): only the upper triangle, mirrored — exactly symmetric, half the cost.
    nngp, deriv = _quadrature(phi, dphi, x1, x2, symmetric=x1.shape == x2.shape and np.array_equal(x1, x2))
    return nngp, deriv, (x1 @ x2.T) * deriv


def _check_finite_kernel(K, name):
    if not np.all(np.isfinite(K)):
        bad = int(K.size - np.count_nonzero(np.isfinite(K)))
        raise ValueError(f"{name} has {bad} non-finite entries: its value overflows float64 for these x1, x2 "
                         f"(input norms too large for this activation's kernel)")
    return K


def analytic_ntk(x1, x2, activation="relu", *, return_nngp=False, method="auto"):
    """Infinite-width NTK Θ(x, x̃) of the scalar two-layer network (A2; Jacot et al. 2018).

        Θ(x, x̃) = E_v[φ(v·x) φ(v·x̃)] + (x·x̃) E_v[φ'(v·x) φ'(v·x̃)],   v ~ N(0, I_D),

    for f(x) = (1/√M) w^T φ(V x) with all entries N(0, 1), no biases, M → ∞.  The
    Z-output network has NTK Θ ⊗ I_Z.

    Closed forms (``method="auto"`` or ``"closed"``), θ the angle between x and x̃:

    * relu:   Σ = |x||x̃| (sin θ + (π − θ) cos θ)/(2π),   E[φ'φ'] = (π − θ)/(2π)
    * erf:    Σ = (2/π) arcsin(2x·x̃/√((1+2|x|²)(1+2|x̃|²))),
              E[φ'φ'] = (4/π) / √((1+2|x|²)(1+2|x̃|²) − 4(x·x̃)²)
    * linear: Θ = 2 x·x̃

    Other activations ("tanh", "sigmoid", or a pair of callables ``(φ, φ')`` acting
    elementwise on NumPy arrays) and ``method="quadrature"`` use Gauss quadrature over
    the 2-D Gaussian (polar form, split at the kinks of relu-like activations).

    Parameters
    ----------
    x1 : (n1, D) array;  x2 : (n2, D) array
    activation : name in ``networks.ACTIVATIONS`` or a pair of callables (φ, φ').
    return_nngp : also return the NNGP kernel Σ = E[φφ].
    method : "auto" (closed form where known), "closed" or "quadrature".

    Returns
    -------
    Θ : (n1, n2) float64 array, and Σ : (n1, n2) if ``return_nngp``.
    """
    nngp, _, dot_deriv = _kernel_parts(x1, x2, activation, method)
    with np.errstate(over="ignore", invalid="ignore"):
        ntk = _check_finite_kernel(nngp + dot_deriv, "the NTK")
    _check_finite_kernel(nngp, "the NNGP kernel")
    return (ntk, nngp) if return_nngp else ntk


def analytic_nngp(x1, x2, activation="relu", *, method="auto"):
    r"""NNGP kernel Σ(x, x̃) = E_v[φ(v·x) φ(v·x̃)], v ~ N(0, I_D), (n1, n2).

    $\Sigma(x, \tilde x) = \mathbb{E}_{v \sim N(0, I_D)}[\varphi(v^\top x)\,\varphi(v^\top \tilde x)]$ (Jacot et
    al. 2018, arXiv:1806.07572), the NNGP part of $\Theta$ for the network A2.

    The first term Σ of Θ above (module docstring); same arguments as :func:`analytic_ntk`.
    """
    nngp, _, _ = _kernel_parts(x1, x2, activation, method)
    return _check_finite_kernel(nngp, "the NNGP kernel")


# ----------------------------------------------------------------------------- generic empirical NTK


def _apply_output(apply_fn, params, x, name):
    try:
        out = jnp.asarray(apply_fn(params, x))
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"apply_fn(params, {name}) failed on {name} of shape {tuple(x.shape)} — check that params "
                         f"fit {name} (number of features) and the model: {exc}") from exc
    if out.ndim != 2 or out.shape[0] != x.shape[0]:
        raise ValueError(f"apply_fn(params, {name}) must return an (n, d) array with n = {x.shape[0]} rows, "
                         f"got shape {tuple(out.shape)}")
    return out


@functools.partial(jax.jit, static_argnums=0)
def _row_jacobians(apply_fn, params, x):
    """Per-leaf Jacobians (n, d, P_leaf) of ``apply_fn`` at the rows of x; jitted once per ``apply_fn``.

    Row by row (``vmap`` of ``jacrev`` on one-row inputs): a ``jacrev`` of the whole batch would
    back-propagate every one of the n·d outputs through all n rows, O(n² d M) memory for a
    width-M layer, most of it the zero cross-row derivatives.
    """
    def row_jac(xi):
        return jax.jacrev(lambda p: apply_fn(p, xi[None, :])[0])(params)

    leaves = jax.tree_util.tree_leaves(jax.vmap(row_jac)(x))
    return [leaf.reshape(leaf.shape[0], leaf.shape[1], -1) for leaf in leaves]


@jax.jit
def _contract_jacobians(j1s, j2s):
    """Σ over parameter leaves of J1 · J2: (n1, n2, d, d)."""
    return sum(jnp.einsum("aip,bjp->abij", j1, j2) for j1, j2 in zip(j1s, j2s))


def empirical_ntk(apply_fn, params, x1, x2, *, block_size=None, sharding=None):
    """Empirical NTK of any JAX model: K[a, b, i, j] = Σ_θ ∂f_i(x1_a)/∂θ · ∂f_j(x2_b)/∂θ (Jacot et al. 2018).

    Jacobians with respect to every parameter leaf come from ``jax.jacrev``, each leaf
    flattened to (n, d, P_leaf) and contracted with one einsum; the result is the sum
    over leaves (= the contraction over the flattened parameter vector).  Jacobians are taken
    row by row (vmapped), so ``apply_fn`` must treat the rows of x independently (no batch
    statistics).  Memory is O((b + n2) d P) for P parameters and a block of b rows of ``x1``
    (``block_size``, default all rows).  Compiled once per ``apply_fn`` object and input shapes, so
    pass the same function on repeated calls (e.g. an NTK-drift observer).

    Parameters
    ----------
    apply_fn : callable ``apply_fn(params, x) -> (n, d)``, differentiable by JAX.
    params : pytree of arrays.
    x1 : (n1, D) array;  x2 : (n2, D) array.
    block_size : rows of ``x1`` per Jacobian, or None for all at once.
    sharding : None (the default device), or a ``jax.sharding.Mesh``, a ``(mesh, axis_name)`` pair or a
        ``NamedSharding`` of axis 0 (:func:`dynamics.parallel.leading_axis`): the rows of ``x1`` (of each block)
        and of ``x2`` are split across the devices for their Jacobians (padded with copies of row 0, the padding
        stripped), the Jacobians of ``x2`` are then gathered whole onto every device and contracted with the
        local rows of ``x1``; the result is split by rows when n1 (the block) is a multiple of the shards.

    Returns
    -------
    (n1, n2, d, d) JAX array.
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable apply_fn(params, x) -> (n, d), got {type(apply_fn).__name__}")
    x1, x2 = _check_inputs(x1, x2)
    block = _check_block_size(block_size, x1.shape[0])
    flat, _ = ravel_pytree(params)
    if not bool(jnp.all(jnp.isfinite(flat))):
        raise ValueError("params must be finite, got NaN or inf")
    x1j, x2j = jnp.asarray(x1), jnp.asarray(x2)
    _apply_output(apply_fn, params, x1j[:1], "x1")
    split = parallel.leading_axis(sharding, "sharding")
    if split is not None:
        params = split.put_replicated(jax.tree_util.tree_map(jnp.asarray, params))
        j2 = split.strip(_row_jacobians(apply_fn, params, split.put(split.pad(x2))), x2.shape[0])
        j2 = split.put_replicated(j2)  # whole on every device, as the contraction with local rows needs

        def block_of(s):
            xb = x1[s:s + block]
            j1 = _row_jacobians(apply_fn, params, split.put(split.pad(xb)))
            return split.strip(_contract_jacobians(j1, j2), xb.shape[0])

        blocks = [block_of(s) for s in range(0, x1.shape[0], block)]
        return blocks[0] if len(blocks) == 1 else jnp.concatenate(blocks, axis=0)
    j2 = _row_jacobians(apply_fn, params, x2j)  # once, reused by every block of x1
    same = x1.shape == x2.shape and block >= x1.shape[0] and bool(jnp.all(x1j == x2j))
    blocks = [_contract_jacobians(j2 if same else _row_jacobians(apply_fn, params, x1j[s:s + block]), j2)
              for s in range(0, x1.shape[0], block)]
    return blocks[0] if len(blocks) == 1 else jnp.concatenate(blocks, axis=0)


# ----------------------------------------------------------------------------- scalar NTK of deep networks

#: Rows per vectorised Jacobian evaluation when neither ``block_size`` nor ``max_memory`` sets it.
_DEFAULT_CHUNK = 64
#: Most diagonal blocks in the symmetric Gram product J Jᵀ (only the upper triangle is multiplied) ...
_TRIANGLE_BLOCKS = 8
#: ... and the fewest rows per block (smaller Gram matrices are one product).
_TRIANGLE_MIN_ROWS = 128
#: Most chunks of Jacobian rows written out (unrolled) in one compiled program; more chunks take several calls.
_MAX_UNROLL = 32


def _hp_gram(a, b):
    """a bᵀ at full float32 precision on accelerators (``Precision.HIGHEST``)."""
    return jnp.matmul(a, b.T, precision=jax.lax.Precision.HIGHEST)


def _triangle(blocks):
    r"""$J J^\top$ from row blocks $J_i$ given per parameter leaf (``blocks[i][l]`` = rows of block i, leaf l):
    $U_{ij} = \sum_l J_{il} J_{jl}^\top$ for $j \ge i$ only, $U_{ii}$ symmetrised, the lower blocks mirrored."""
    up = {}
    for i, a in enumerate(blocks):
        for j in range(i, len(blocks)):
            up[i, j] = functools.reduce(jnp.add, [_hp_gram(u, v) for u, v in zip(a, blocks[j])])
        up[i, i] = 0.5 * (up[i, i] + up[i, i].T)  # exactly symmetric
    m = len(blocks)
    return jnp.block([[up[i, j] if j >= i else up[j, i].T for j in range(m)] for i in range(m)])


@functools.lru_cache(maxsize=64)
def _scalar_ntk_programs(apply_fn):
    r"""Compiled pieces of :func:`scalar_ntk` for one ``apply_fn`` (cached: repeated calls reuse the compilation).

    The rows are $J[a] = \partial g(x_a)/\partial\theta$ of $g(x) = \sqrt{d}\,\overline{f}(x)$ (S App. D.5), c at
    a time from a ``vmap`` of ``grad`` of the scalar g on one example.  The m chunks of a call are written out one
    after the other in the compiled program (unrolled, m <= :data:`_MAX_UNROLL`): on the CPU a ``lax.map`` over the
    chunks (an XLA while loop) ran the same chunks 2-3 times slower.

    * ``rows(params, xc)``: xc (c, ...) -> (c, P), all parameter leaves flattened and concatenated;
    * ``kept_sym(params, xs, groups)``: xs (m, c, ...) -> K = J Jᵀ (m c, m c) in one program, J kept per parameter
      leaf (no (n, P) concatenation), the chunks grouped into the row blocks ``groups`` (static (start, stop)
      chunk ranges) and only the upper block triangle multiplied (:func:`_triangle`);
    * ``kept_pair(params, xs1, xs2)``: K = J1 J2ᵀ = Σ_l J1_l J2_lᵀ in one program, J2 per leaf, row chunk by row
      chunk of J1;
    * ``fill(J, params, xs, start)``: J with the rows of the m chunks xs written at row ``start`` (J donated, so
      updated in place); the rows of all m chunks are in flight together (the compiled program does not reuse
      their buffers), so :func:`scalar_ntk` passes as many chunks per call as ``max_memory`` leaves room for;
    * ``gram(J1, J2)`` = J1 J2ᵀ and ``sym_gram(J, edges)`` = J Jᵀ from the upper triangle of its row blocks;
    * ``cross(J1, params, xc)`` = J1 J(xc)ᵀ, the rows of one chunk computed and multiplied in one program.
    """
    def g(p, xi):
        out = apply_fn(p, xi[None])
        return jnp.sum(out[0]) / math.sqrt(out.shape[1])  # √d · mean_i f_i = (1/√d) Σ_i f_i

    grad_g = jax.grad(g)

    def leaves(p, xc):
        return [leaf.reshape(leaf.shape[0], -1)
                for leaf in jax.tree_util.tree_leaves(jax.vmap(grad_g, in_axes=(None, 0))(p, xc))]

    def rows(p, xc):
        return jnp.concatenate(leaves(p, xc), axis=1)

    def concat(parts):
        return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=0)

    def leaf_blocks(p, xs, groups):
        chunks = [leaves(p, xs[k]) for k in range(xs.shape[0])]
        return [[concat(list(ls)) for ls in zip(*chunks[s:e])] for s, e in groups]

    @functools.partial(jax.jit, static_argnums=2)
    def kept_sym(p, xs, groups):
        return _triangle(leaf_blocks(p, xs, groups))

    @jax.jit
    def kept_pair(p, xs1, xs2):
        L2 = leaf_blocks(p, xs2, ((0, xs2.shape[0]),))[0]
        return concat([functools.reduce(jnp.add, [_hp_gram(a, b) for a, b in zip(leaves(p, xs1[k]), L2)])
                       for k in range(xs1.shape[0])])

    @functools.partial(jax.jit, donate_argnums=0)
    def fill(J, p, xs, start):
        c = xs.shape[1]
        for k in range(xs.shape[0]):
            J = jax.lax.dynamic_update_slice(J, rows(p, xs[k]).astype(J.dtype), (start + k * c, 0))
        return J

    @jax.jit
    def gram(J1, J2):
        return _hp_gram(J1, J2)

    @jax.jit
    def cross(J1, p, xc):
        return _hp_gram(J1, rows(p, xc).astype(J1.dtype))

    @functools.partial(jax.jit, static_argnums=1)
    def sym_gram(J, edges):
        return _triangle([[J[s:e]] for s, e in zip(edges[:-1], edges[1:])])

    return rows, kept_sym, kept_pair, fill, gram, sym_gram, cross


def _check_rows(x, name):
    """A JAX array (n, ...) with n >= 1 rows, real and finite (dtype kept: float32 stays float32)."""
    if isinstance(x, jax.core.Tracer):
        raise TypeError(f"{name} must be a concrete array (scalar_ntk plans its chunks on the host; call it "
                        "outside jit)")
    check_finite_if_concrete(x, name)
    try:
        x = jnp.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real numeric array, got {type(x).__name__}") from exc
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row (input point) along its first axis, got shape "
                         f"{tuple(x.shape)}")
    return x


def _pad_rows(x, total):
    """``x`` with its first row repeated up to ``total`` rows (finite padding; the extra rows are sliced off)."""
    if x.shape[0] == total:
        return x
    return jnp.concatenate([x, jnp.broadcast_to(x[:1], (total - x.shape[0],) + x.shape[1:])], axis=0)


def _even_chunk(n, c):
    """The chunk size <= c that splits n rows into ceil(n / c) chunks with the least padding."""
    return -(-n // -(-n // c))


def _scalar_ntk_plan(n1, n2, same, row_bytes, block_size, max_memory):
    """(mode, cc, ca): "keep" (all Jacobians held, one Gram product) or "stream" (row blocks of ca rows against
    column chunks of cc rows, the column Jacobians recomputed for every row block); cc = rows per vectorised
    Jacobian evaluation."""
    cap = _DEFAULT_CHUNK if block_size is None else block_size
    if max_memory is None:
        return "keep", min(cap, max(n1, n2)), None
    R = max_memory // row_bytes  # Jacobian rows that fit
    cc = max(1, min(cap, R // 4, max(n1, n2)))
    c1, c2 = _even_chunk(n1, cc), _even_chunk(n2, cc)
    kept = -(-n1 // c1) * c1 + (0 if same else -(-n2 // c2) * c2)
    if kept + cc <= R:  # every Jacobian and one chunk in flight
        return "keep", cc, None
    ca = max(cc, (R - cc) // cc * cc)  # the row block held while the column chunks stream past
    return "stream", cc, min(ca, -(-n1 // cc) * cc)


@functools.lru_cache(maxsize=32)
def _scalar_ntk_sharded(apply_fn, split, c, same):
    """``K(params, x1[, x2])`` of :func:`scalar_ntk` with the rows split over ``split`` (a
    :class:`dynamics.parallel.LeadingAxis`): on each device the Jacobian rows of its local inputs, c at a time
    (a ``lax.map`` of the vmapped per-example gradient), the Jacobians of x2 (of x1 when
    ``same``) gathered whole (``all_gather``) and K_local = J1_local J2ᵀ; for ``same`` K is symmetrised,
    (K + Kᵀ)/2, so that it is exactly symmetric as on one device.  Cached on (apply_fn, split, c, same)."""
    rows = _scalar_ntk_programs(apply_fn)[0]
    P, spec = jax.sharding.PartitionSpec, split.spec

    def local_jacobian(p, x):
        # The parameters as device-varying values: the gradient of a device-varying g with respect to an
        # invariant (replicated) input would be summed over the devices by the transpose rule of shard_map.
        p = jax.tree_util.tree_map(lambda a: jax.lax.pcast(a, split.axes, to="varying"), p)
        J = jax.lax.map(lambda xc: rows(p, xc), x.reshape((-1, c) + x.shape[1:]))
        return J.reshape(-1, J.shape[-1])

    def gathered(J):
        return jax.lax.all_gather(J, split.axes, tiled=True)

    def hp(a, b):
        return jnp.matmul(a, b.T, precision=jax.lax.Precision.HIGHEST)

    if same:
        def body(p, x1):
            J1 = local_jacobian(p, x1)
            return hp(J1, gathered(J1))

        kernel = jax.shard_map(body, mesh=split.mesh, in_specs=(P(), spec), out_specs=spec)
        return jax.jit(lambda p, x1: 0.5 * (kernel(p, x1) + kernel(p, x1).T), out_shardings=split.split)

    def body2(p, x1, x2):
        return hp(local_jacobian(p, x1), gathered(local_jacobian(p, x2)))

    return jax.jit(jax.shard_map(body2, mesh=split.mesh, in_specs=(P(), spec, spec), out_specs=spec))


def scalar_ntk(apply_fn, params, x1, x2=None, *, block_size=None, max_memory=None, sharding=None):
    """Empirical NTK of the scalar g(x) = √d · mean_i f_i(x) (S App. D.5): K[a, b] = ⟨∂g(x1_a)/∂θ, ∂g(x2_b)/∂θ⟩.

    Since ∂g = (1/√d) Σ_i ∂f_i, this equals (1/d) Σ_ij K_ij of :func:`empirical_ntk` (Jacot et al. 2018); here
    it is computed from the gradient of g itself, one row J[a] = ∂g(x_a)/∂θ ∈ R^P per input (all P parameters
    of the pytree, flattened), and K = J1 J2ᵀ.  Simon et al. compute this kernel of a ResNet on 2n augmented
    inputs after training to predict the learned embeddings (S App. D.5, Table 1).

    Inputs may have any shape (n, ...): rows of features (n, D) for an MLP, images (n, H, W, C) for
    :func:`dynamics.networks.resnet_apply`; ``apply_fn(params, x)`` must return (n, d) and treat the rows
    independently (no batch statistics).  The dtype is kept (float32 parameters and inputs give a float32
    kernel); the Gram products run at full float32 precision on accelerators (``Precision.HIGHEST``).

    Computation, in chunks:

    * Jacobian rows come c at a time from a ``vmap`` of ``grad`` of g on one example (c = ``block_size``,
      default 64, smaller if ``max_memory`` demands), the chunks written out one after the other in one compiled
      program (up to 32 chunks per program; a ``lax.map`` over them ran 2-3 times slower on the CPU);
    * if all Jacobians fit in ``max_memory`` (or it is None): J1 (and J2 unless x2 is x1) are computed once
      and K = J1 J2ᵀ = Σ_l J1_l J2_lᵀ; with at most 32 chunks (and room in ``max_memory`` for one row block
      more) the Jacobians and the product are one program and J is kept per parameter leaf l (no (n, P)
      concatenation), otherwise J is filled in place and multiplied after.  For x2 = x1 only the upper
      triangle of J Jᵀ is multiplied, in up to 8 × 8 row blocks of at least 128 rows (about 56% of the flops),
      and mirrored — K is exactly symmetric;
    * otherwise J1 is taken in row blocks of ``ca`` rows, held while the Jacobians of x2 are recomputed in
      chunks of c rows and multiplied against it (for x2 = x1 only the chunks at or right of the diagonal).
      At most ca + c Jacobian rows, (ca + c) P · itemsize bytes <= ``max_memory``, are held at once; the cost
      is n1 + ⌈n1/ca⌉ · n2 Jacobian rows instead of n1 + n2 (about half the second term for x2 = x1).

    The compiled programs are cached on ``apply_fn`` (pass the same function object to reuse them) and on the
    chunk shapes; everything runs on the default device (CPU or GPU) with no host transfer in between.

    Parameters
    ----------
    apply_fn : callable ``apply_fn(params, x) -> (n, d)``, differentiable by JAX.
    params : pytree of arrays (finite).
    x1 : (n1, ...) array;  x2 : (n2, ...) array with the same trailing shape, or None for x1 (a Gram matrix).
    block_size : rows per vectorised Jacobian evaluation (an upper bound when ``max_memory`` is set).
    max_memory : bytes for the Jacobian rows held at once (int or float, e.g. ``2e9``), or None for no bound.
        It bounds the Jacobians, P · itemsize bytes per row; the kernel itself (n1 · n2 entries) and the
        network's activations for one chunk come on top.  At least two rows (2 P · itemsize) are needed.
        With ``sharding`` it bounds the rows held on each device (its ⌈n1/S⌉ rows and all n2 gathered ones);
        the streamed mode is not available there, so a bound below that is an error.
    sharding : None (the default device), or a ``jax.sharding.Mesh``, a ``(mesh, axis_name)`` pair or a
        ``NamedSharding`` of axis 0 (:func:`dynamics.parallel.leading_axis`): the rows of ``x1`` and ``x2`` are
        split across the S devices of the mesh (padded with copies of row 0 to S · c · ⌈·⌉ rows, the padding
        stripped); each device computes the Jacobian rows of its inputs, the Jacobians of x2 are gathered whole
        onto every device (``jax.lax.all_gather`` inside ``jax.shard_map``) and each device multiplies them with
        its rows of J1.  K comes back split by rows when n1 is a multiple of S · c (c the rows per chunk).

    Returns
    -------
    (n1, n2) JAX array.
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable apply_fn(params, x) -> (n, d), got {type(apply_fn).__name__}")
    check_tree_finite_if_concrete(params, "params")
    x1 = _check_rows(x1, "x1")
    same = x2 is None or x2 is x1
    x2 = x1 if same else _check_rows(x2, "x2")
    if x1.shape[1:] != x2.shape[1:]:
        raise ValueError(f"x1 and x2 must have the same shape apart from the number of rows (first axis), got x1 "
                         f"{tuple(x1.shape)} and x2 {tuple(x2.shape)}")
    if block_size is not None:
        block_size = check_positive_int(block_size, "block_size")
    if max_memory is not None:
        if isinstance(max_memory, bool) or not isinstance(max_memory, (int, float, np.integer, np.floating)):
            raise TypeError(f"max_memory must be a number of bytes, got {type(max_memory).__name__}")
        if not np.isfinite(max_memory) or max_memory <= 0:
            raise ValueError(f"max_memory must be a positive finite number of bytes, got {max_memory!r}")
        max_memory = int(max_memory)
    rows, kept_sym, kept_pair, fill, gram, sym_gram, cross = _scalar_ntk_programs(apply_fn)
    try:
        out = jax.eval_shape(apply_fn, params, x1[:1])
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"apply_fn(params, x1) failed on x1 of shape {tuple(x1.shape)} — check that params fit "
                         f"the inputs and the model: {exc}") from exc
    if len(getattr(out, "shape", ())) != 2 or out.shape[0] != 1:
        raise ValueError(f"apply_fn(params, x) must return an (n, d) array (n rows for n inputs), got shape "
                         f"{tuple(getattr(out, 'shape', ()))} for one input")
    row = jax.eval_shape(rows, params, x1[:1])
    row_bytes = row.shape[1] * np.dtype(row.dtype).itemsize
    if max_memory is not None and max_memory < 2 * row_bytes:
        raise ValueError(f"max_memory must be at least {2 * row_bytes} bytes (two Jacobian rows of P = "
                         f"{row.shape[1]} parameters in {np.dtype(row.dtype).name}), got {max_memory}")
    if not same and x1.shape == x2.shape and bool(jnp.all(x1 == x2)):
        same = True
    n1, n2 = x1.shape[0], x2.shape[0]
    split = parallel.leading_axis(sharding, "sharding")
    if split is not None:
        local = -(-n1 // split.size)
        c = _even_chunk(local, min(_DEFAULT_CHUNK if block_size is None else block_size, local))
        n1p = split.size * (-(-local // c) * c)
        n2p = n1p if same else split.size * (-(-(-(-n2 // split.size)) // c) * c)
        held = (n1p // split.size + n2p) * row_bytes
        if max_memory is not None and held > max_memory:
            raise ValueError(f"max_memory = {max_memory} bytes is below the {held} bytes of Jacobian rows each device "
                             f"holds with sharding ({n1p // split.size} local rows and {n2p} gathered ones of P = "
                             f"{row.shape[1]} parameters); the streamed mode is not available with sharding")
        program = _scalar_ntk_sharded(apply_fn, split, c, same)
        params = split.put_replicated(jax.tree_util.tree_map(jnp.asarray, params))
        x1s = split.put(_pad_rows(x1, n1p))
        if same:
            K = program(params, x1s)
        else:
            K = program(params, x1s, split.put(_pad_rows(x2, n2p)))
        return K if K.shape == (n1, n2) else K[:n1, :n2]
    mode, cc, ca = _scalar_ntk_plan(n1, n2, same, row_bytes, block_size, max_memory)

    def chunked(x, c):
        m = -(-x.shape[0] // c)
        return _pad_rows(x, m * c).reshape((m, c) + x.shape[1:])

    budget = None if max_memory is None else max_memory // row_bytes  # Jacobian rows allowed at once

    def jac(x, c, held=0):  # J (m c, P) written in place, g chunks per call: their rows are in flight together
        xs = chunked(x, c)
        m = xs.shape[0]
        g = m if budget is None else (budget - held - m * c) // c
        g = max(1, min(g, m, _MAX_UNROLL))
        J = jnp.zeros((m * c, row.shape[1]), row.dtype)
        for s in range(0, m, g):
            J = fill(J, params, xs[s:s + g], s * c)
        return J

    if mode == "keep":
        c1 = _even_chunk(n1, cc)
        xs1 = chunked(x1, c1)
        m1 = xs1.shape[0]
        if same:
            t = min(_TRIANGLE_BLOCKS, max(1, n1 // _TRIANGLE_MIN_ROWS), m1)
            bounds = [round(k * m1 / t) for k in range(t + 1)]
            groups = tuple((s, e) for s, e in zip(bounds[:-1], bounds[1:]))
            held = (m1 + max(e - s for s, e in groups)) * c1  # every row, and one row block being concatenated
            if m1 <= _MAX_UNROLL and (max_memory is None or held * row_bytes <= max_memory):
                return kept_sym(params, xs1, groups)[:n1, :n1]
            J1 = jac(x1, c1)
            edges = (0,) + tuple(e * c1 for _, e in groups)
            return sym_gram(J1, edges)[:n1, :n1]
        xs2 = chunked(x2, _even_chunk(n2, cc))
        held = (xs1.shape[0] * xs1.shape[1] + 2 * xs2.shape[0] * xs2.shape[1])  # x2's rows, per leaf, concatenated
        if m1 + xs2.shape[0] <= _MAX_UNROLL and (max_memory is None or held * row_bytes <= max_memory):
            return kept_pair(params, xs1, xs2)[:n1, :n2]
        J1 = jac(x1, c1)
        return gram(J1, jac(x2, xs2.shape[1], held=J1.shape[0]))[:n1, :n2]
    # Stream: row blocks of ca rows (ca a multiple of cc) against column chunks of cc rows, fixed shapes throughout.
    if same:
        n_pad = -(-n1 // ca) * ca
        x1p = _pad_rows(x1, n_pad)
        panels = []
        for s in range(0, n_pad, ca):  # upper block triangle: the diagonal block from J_a, the rest streamed
            Ja = None  # the previous row block is released before the next is computed
            Ja = jac(x1p[s:s + ca], cc)
            diag = gram(Ja, Ja)
            pieces = [jnp.zeros((ca, s), diag.dtype), 0.5 * (diag + diag.T)]
            pieces += [cross(Ja, params, x1p[t:t + cc]) for t in range(s + ca, n_pad, cc)]
            panels.append(jnp.concatenate(pieces, axis=1))
        U = jnp.concatenate(panels, axis=0)
        blk = jnp.arange(n_pad) // ca
        return jnp.where(blk[:, None] > blk[None, :], U.T, U)[:n1, :n1]
    x1p, x2p = _pad_rows(x1, -(-n1 // ca) * ca), _pad_rows(x2, -(-n2 // cc) * cc)
    panels = []
    for s in range(0, x1p.shape[0], ca):
        Ja = None
        Ja = jac(x1p[s:s + ca], cc)
        panels.append(jnp.concatenate([cross(Ja, params, x2p[t:t + cc]) for t in range(0, x2p.shape[0], cc)],
                                      axis=1))
    return jnp.concatenate(panels, axis=0)[:n1, :n2]


# ----------------------------------------------------------------------------- two-layer fast path


@functools.lru_cache(maxsize=None)
def _two_layer_block_fn(activation, output):
    """Jitted K block for rows x1b against precomputed features of x2 (cached per activation/output)."""
    _, phi, dphi = _resolve_activation(activation)

    def block(V, W, x1b, x2, A2, B2):
        M = V.shape[0]
        pre = x1b @ V.T
        A1, B1 = phi(pre), dphi(pre)
        gram = x1b @ x2.T
        nngp = A1 @ A2.T / M
        if output == "full":
            C1 = B1[:, :, None] * W[None]  # (b, M, Z)
            C2 = B2[:, :, None] * W[None]
            deriv = jnp.einsum("ami,bmj->abij", C1, C2) / M
            eye = jnp.eye(W.shape[1], dtype=nngp.dtype)
            return gram[:, :, None, None] * deriv + nngp[:, :, None, None] * eye
        if output == "trace":
            r = jnp.sum(W**2, axis=1) / W.shape[1]  # (1/Z) Σ_i W_mi²
            return gram * ((B1 * r) @ B2.T) / M + nngp
        r = jnp.sum(W, axis=1) ** 2 / W.shape[1]  # (1/Z) (Σ_i W_mi)²; the δ_ij term sums to Z·Σ
        return gram * ((B1 * r) @ B2.T) / M + nngp

    return jax.jit(block)


@functools.lru_cache(maxsize=None)
def _features_fn(activation):
    _, phi, dphi = _resolve_activation(activation)

    def feats(V, x):
        pre = x @ V.T
        return phi(pre), dphi(pre)

    return jax.jit(feats)


def two_layer_ntk(params, x1, x2, activation="relu", *, output="full", block_size=None, sharding=None):
    """Empirical NTK of the two-layer network f(x) = (1/√M) W^T φ(V x) by matrix products (A2; the empirical NTK of the module docstring).

        K_ij(x, x̃) = (1/M) Σ_m [W_mi W_mj φ'(v_m·x) φ'(v_m·x̃) (x·x̃) + δ_ij φ(v_m·x) φ(v_m·x̃)]

    No per-parameter Jacobians: with A = φ(x V^T), B = φ'(x V^T) (n, M) and G = x1 x2^T,

    * "full":   K[a, b, i, j] = G_ab (1/M) Σ_m B1_am W_mi B2_bm W_mj + δ_ij (A1 A2^T)_ab / M, (n1, n2, Z, Z);
    * "trace":  (1/Z) Σ_i K_ii = G ⊙ (B1 diag(‖W_m‖²/Z) B2^T)/M + A1 A2^T/M, (n1, n2) —
      at infinite width this is Θ of :func:`analytic_ntk`;
    * "scalar": (1/Z) Σ_ij K_ij, the NTK of √Z · mean_i f_i (S App. D.5)
      = G ⊙ (B1 diag((Σ_i W_mi)²/Z) B2^T)/M + A1 A2^T/M, (n1, n2).

    Parameters
    ----------
    params : {"V": (M, D), "W": (M, Z)}
    x1 : (n1, D) array;  x2 : (n2, D) array
    activation : name in ``networks.ACTIVATIONS`` or a pair of JAX callables (φ, φ').
    output : "full", "trace" or "scalar".
    block_size : rows of ``x1`` per block (bounds intermediates to (block, M) for "trace"/"scalar",
        (block, M, Z) for "full"), or None for all rows at once.
    sharding : None (the default device), or a ``jax.sharding.Mesh``, a ``(mesh, axis_name)`` pair or a
        ``NamedSharding`` of axis 0 (:func:`dynamics.parallel.leading_axis`): the rows of ``x1`` (of each block)
        are split across the devices of the mesh, padded to a multiple of the number of shards with copies of
        row 0 and the padding stripped; ``params`` and ``x2`` are replicated.  Each row of K is computed as on
        one device; the result is split by rows over the mesh when n1 (the block) is a multiple of the shards.

    Returns
    -------
    JAX array, (n1, n2, Z, Z) or (n1, n2).
    """
    V, W = _check_params(params)
    x1, x2 = _check_inputs(x1, x2, dim=V.shape[1], dim_name="params['V'].shape[1]")
    _resolve_activation(activation)
    if not isinstance(activation, str):
        activation = tuple(activation)
    check_choice(output, "output", {"full", "trace", "scalar"})
    block = _check_block_size(block_size, x1.shape[0])
    split = parallel.leading_axis(sharding, "sharding")
    fn = _two_layer_block_fn(activation, output)
    if split is not None:  # rows of x1 split over the mesh; everything else whole on every device
        x1 = np.asarray(x1, dtype=V.dtype)
        V, W, x2j = split.put_replicated((V, W, np.asarray(x2, dtype=V.dtype)))
        A2, B2 = _features_fn(activation)(V, x2j)
        blocks = [split.strip(fn(V, W, split.put(split.pad(x1[s:s + block])), x2j, A2, B2), min(block, len(x1) - s))
                  for s in range(0, x1.shape[0], block)]
        return blocks[0] if len(blocks) == 1 else jnp.concatenate(blocks, axis=0)
    x1j = jnp.asarray(x1, dtype=V.dtype)
    x2j = jnp.asarray(x2, dtype=V.dtype)
    A2, B2 = _features_fn(activation)(V, x2j)
    blocks = [fn(V, W, x1j[s:s + block], x2j, A2, B2) for s in range(0, x1.shape[0], block)]
    return blocks[0] if len(blocks) == 1 else jnp.concatenate(blocks, axis=0)


def two_layer_ntk_fn(x1, x2, activation="relu", *, output="trace"):
    """``params -> K`` for fixed inputs: the structured two-layer NTK as a pure, jit-traceable function.

    Inputs are validated once here; the returned function does no host-side checks, so a trainer can
    record the NTK inside its compiled loop (e.g. ``train_barlow(..., ntk_fn=two_layer_ntk_fn(X, X))``).
    """
    x1, x2 = _check_inputs(x1, x2)
    _resolve_activation(activation)
    if not isinstance(activation, str):
        activation = tuple(activation)
    check_choice(output, "output", {"full", "trace", "scalar"})
    x1j, x2j = jnp.asarray(x1), jnp.asarray(x2)
    feats, block = _features_fn(activation), _two_layer_block_fn(activation, output)

    def fn(params):
        A2, B2 = feats(params["V"], x2j)
        return block(params["V"], params["W"], x1j, x2j, A2, B2)

    return fn


# ----------------------------------------------------------------------------- drift


def _check_kernel_pair(K_t, K_0):
    if isinstance(K_t, jax.core.Tracer) or isinstance(K_0, jax.core.Tracer):
        K_t, K_0 = jnp.asarray(K_t), jnp.asarray(K_0)  # inside jit: shapes only
    else:
        K_t = jnp.asarray(as_array(K_t, "K_t"))
        K_0 = jnp.asarray(as_array(K_0, "K_0"))
    if K_t.shape != K_0.shape:
        raise ValueError(f"K_t and K_0 must have the same shape, got {K_t.shape} and {K_0.shape}")
    return K_t, K_0


def ntk_drift(K_t, K_0):
    """Relative NTK change ‖K(t) − K(0)‖_F / ‖K(0)‖_F (Frobenius over all axes; A Fig 3, F).

    Raises ValueError if ‖K_0‖_F = 0 (outside jit).
    """
    K_t, K_0 = _check_kernel_pair(K_t, K_0)
    norm0 = jnp.linalg.norm(K_0.ravel())
    if not isinstance(norm0, jax.core.Tracer) and float(norm0) == 0.0:
        raise ValueError("K_0 must have a non-zero Frobenius norm to measure a relative drift")
    return jnp.linalg.norm((K_t - K_0).ravel()) / norm0


def max_entry_change(K_t, K_0):
    """Largest entrywise NTK change max |K(t) − K(0)| (A Thm 13)."""
    K_t, K_0 = _check_kernel_pair(K_t, K_0)
    return jnp.max(jnp.abs(K_t - K_0))
