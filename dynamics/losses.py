"""Self-supervised (and the supervised) losses as functions of the model outputs.

Every loss here takes outputs z = f(x) — never weights — so that one definition serves the reference
trainer (outputs of a network, differentiated through the network) and the function-space flows
dF/dt = −K ∇_F L(F) (outputs as the state of an ODE).  Each function is traceable by JAX (shapes are
checked always, values only when the input is concrete), computes in the dtype of its inputs (float32 in,
float32 out; integer input is promoted to the default float), and rejects bad input with an error naming
the argument.

Papers:

* Barlow Twins — J. Zbontar, L. Jing, I. Misra, Y. LeCun, S. Deny, "Barlow Twins: Self-Supervised Learning
  via Redundancy Reduction", ICML 2021 (arXiv:2103.03230);
* S — J. B. Simon, M. Knutins, L. Ziyin, D. Geisz, A. J. Fetterman, J. Albrecht, "On the Stepwise Nature of
  Self-Supervised Learning", ICML 2023 (arXiv:2303.15438);
* VICReg — A. Bardes, J. Ponce, Y. LeCun, "VICReg: Variance-Invariance-Covariance Regularization for
  Self-Supervised Learning", ICLR 2022 (arXiv:2105.04906);
* SimCLR — T. Chen, S. Kornblith, M. Norouzi, G. Hinton, "A Simple Framework for Contrastive Learning of
  Visual Representations", ICML 2020 (arXiv:2002.05709);
* A — G. G. Anil, P. Esser, D. Ghoshdastidar, "When can we Approximate Wide Contrastive Models with Neural
  Tangent Kernels and Principal Component Analysis?" (2024);
* E — P. Esser, S. Mukherjee, D. Ghoshdastidar, "Representation Learning Dynamics of Self-Supervised
  Models" (2023).

Losses of two views z_a = f(x), z_b = f(x') (both (N, D), row i the two views of pair i):

* :func:`barlow_twins` (Zbontar et al. eq. 1; S1–S2 with ``symmetrize=True``):
  c = z_aᵀ z_b / N,  L = Σ_i (1 − c_ii)² + λ Σ_{i≠j} c_ij².
* :func:`vicreg` (Bardes et al. eqs. 1–6, as in their official code): invariance, variance and covariance
  terms, see the function.
* :func:`nt_xent` (Chen et al. eq. 1, the NT-Xent loss of SimCLR): cross-entropy over 2N anchors of the
  cosine similarities divided by a temperature.

The modifications of S App. G for speeding SSL up:

* :func:`modified_barlow_twins` — spectral losses Σ_j ℓ(λ_j) of the eigenvalues of the symmetrised C
  (S App. G.2 sharpening g_sqr, S App. G.3 smoothing g_smooth, (1 − λ)⁴, a hinge basin);
* :func:`preconditioned` — any loss with its output gradient replaced by ∇_F L (FᵀF + αI)^{-1} (S52).

Contrastive losses of anchors and partners (A1), with E1 and E2 as its special cases:

* :func:`contrastive` — A1, L = (1/N) Σ_n l({s(x_n, x_{n,q})}_q), similarity s "dot", "cosine" or
  "cosine_bound" (A9), reduction l "linear" (A6) or "log_softmax" (InfoNCE);
* :func:`triplet_contrastive` — E1, A1 with α = (+1, −1), dot product and l linear;
* :func:`non_contrastive` — E2, A1 with α = (+1,);
* :func:`contrastive_function_loss` — A1 of the stacked outputs [f(anchors); f(partners_1); …], cached.

And :func:`mse`, the supervised squared loss (1/2n) Σ_i ‖f(x_i) − y_i‖², and
:func:`barlow_twins_function_loss`, S1–S2 of the stacked outputs [f(x); f(x')], cached.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ._validation import (
    check_choice,
    check_finite_if_concrete,
    check_positive,
    check_positive_if_concrete,
    check_positive_int,
    is_traced,
)

__all__ = [
    "BATCH_NORM_EPS",
    "DEFAULT_DELTA",
    "MODIFICATIONS",
    "REDUCTIONS",
    "SIMILARITIES",
    "SQR_FLOOR",
    "barlow_twins",
    "barlow_twins_function_loss",
    "check_alpha",
    "contrastive",
    "contrastive_function_loss",
    "modified_barlow_twins",
    "mse",
    "non_contrastive",
    "nt_xent",
    "preconditioned",
    "reduce_similarities",
    "safe_norm",
    "similarity",
    "triplet_contrastive",
    "vicreg",
]

SIMILARITIES = ("dot", "cosine", "cosine_bound")
REDUCTIONS = ("linear", "log_softmax")

#: Default δ of the cosine similarity (A Assumption 1: a small strictly positive constant).
DEFAULT_DELTA = 1e-2

#: ε of the batch normalisation in Zbontar et al.'s official code (``nn.BatchNorm1d``'s default).
BATCH_NORM_EPS = 1e-5


# ---------------------------------------------------------------------------------------------
# input checks (shapes always, values when concrete; the dtype of the input is kept)


def _as_float(z, name):
    """``z`` as a JAX array of a real floating dtype: float inputs keep their dtype, integers are promoted
    to the default float; complex, boolean and non-numeric input raise ``TypeError`` naming ``name``."""
    check_finite_if_concrete(z, name)  # rejects complex input, also inside a trace
    if not is_traced(z):
        if not isinstance(z, jax.Array) and np.asarray(z).dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a real numeric array, got dtype {np.asarray(z).dtype}")
        try:
            z = jnp.asarray(z)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a real numeric array, got {type(z).__name__}") from exc
    kind = np.dtype(z.dtype).kind
    if kind == "b" or kind not in "fiu":
        raise TypeError(f"{name} must be a real numeric array, got dtype {z.dtype}")
    if kind in "iu":
        z = z.astype(jnp.result_type(float))
    return z


def _outputs(z, name, *, min_rows=1, what="pairs"):
    """A 2-D (N, D) output matrix with N >= ``min_rows`` and D >= 1."""
    if np.ndim(z) != 2:
        raise ValueError(f"{name} must be 2-D (N, D), one row per sample, got {np.ndim(z)}-D array with shape "
                         f"{tuple(np.shape(z))}")
    n, d = np.shape(z)
    if n < min_rows or d < 1:
        raise ValueError(f"{name} must have at least {min_rows} {what} (rows) and one output (column), got shape "
                         f"{(n, d)}")
    return _as_float(z, name)


def _two_views(z_a, z_b, names=("z_a", "z_b"), *, min_rows=1, why=""):
    """Two views (N, D) of the same N samples: equal shapes, N >= ``min_rows``."""
    if np.ndim(z_a) == 2 and np.ndim(z_b) == 2 and np.shape(z_a) != np.shape(z_b):
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape (N, D), got {tuple(np.shape(z_a))} "
                         f"and {tuple(np.shape(z_b))}")
    what = f"pairs{why}"
    z_a = _outputs(z_a, names[0], min_rows=min_rows, what=what)
    z_b = _outputs(z_b, names[1], min_rows=min_rows, what=what)
    dtype = jnp.result_type(z_a.dtype, z_b.dtype)
    return z_a.astype(dtype), z_b.astype(dtype)


def _hyperparameter(x, name, *, allow_zero=False):
    """A real number > 0 (>= 0 with ``allow_zero``), or a JAX tracer (checked only when concrete)."""
    if isinstance(x, (str, bytes)) or (hasattr(x, "dtype") and np.dtype(x.dtype).kind not in "fiu"):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    return check_positive_if_concrete(x, name, allow_zero=allow_zero)


def _check_flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def _off_diagonal_mask(d, dtype):
    eye = jnp.eye(d, dtype=dtype)
    return eye, 1 - eye


# ---------------------------------------------------------------------------------------------
# Barlow Twins, VICReg, SimCLR


def _batch_norm(z, eps=BATCH_NORM_EPS):
    """(z − mean) / sqrt(var + ε) per column over the batch, biased variance, no affine (``nn.BatchNorm1d``
    with ``affine=False`` in training mode, as in Zbontar et al.'s official code)."""
    mean = jnp.mean(z, axis=0)
    var = jnp.mean((z - mean) ** 2, axis=0)
    return (z - mean) / jnp.sqrt(var + eps)


def barlow_twins(z_a, z_b, *, lambd=1.0, batch_norm=False, symmetrize=False):
    """Barlow Twins loss of two views (Zbontar et al. 2021, eq. 1; Simon et al. 2023, S1–S2).

    With the cross-correlation c = z_aᵀ z_b / N (D, D) of the embeddings z_a = f(x), z_b = f(x'),

        L = Σ_i (1 − c_ii)² + λ Σ_{i≠j} c_ij².

    ``batch_norm=True`` first standardises each column of z_a and z_b over the batch,
    (z − mean) / sqrt(var + 1e-5) with the biased variance and no affine parameters, as the official
    code does (``bn(z1).T @ bn(z2) / N``).  ``symmetrize=True`` replaces c by (c + cᵀ)/2, which with
    λ = 1 and no batch norm is Simon et al.'s loss ‖C − I‖_F² with the symmetrised C of S2 (S1); for a
    linear model z = x Wᵀ it equals :func:`dynamics.barlow.loss` (W, Γ) with Γ of S4 (S5).

    Parameters
    ----------
    z_a, z_b : (N, D) embeddings of the two views, row i for pair i (N >= 2 with ``batch_norm``).
    lambd : λ >= 0, the weight of the redundancy-reduction (off-diagonal) term (may be traced).
    batch_norm, symmetrize : bool.

    Returns
    -------
    scalar JAX array in the dtype of the inputs.
    """
    batch_norm = _check_flag(batch_norm, "batch_norm")
    symmetrize = _check_flag(symmetrize, "symmetrize")
    z_a, z_b = _two_views(z_a, z_b, min_rows=2 if batch_norm else 1,
                          why=" (the batch variance needs two)" if batch_norm else "")
    lambd = _hyperparameter(lambd, "lambd", allow_zero=True)
    if batch_norm:
        z_a, z_b = _batch_norm(z_a), _batch_norm(z_b)
    n = z_a.shape[0]
    m = z_a.T @ z_b
    c = (m + m.T) / (2 * n) if symmetrize else m / n
    eye, off = _off_diagonal_mask(c.shape[0], c.dtype)
    if not is_traced(lambd) and float(lambd) == 1.0:
        return jnp.sum((c - eye) ** 2)  # ‖c − I‖_F², summed as S1 is (the same round-off as before the weights)
    return jnp.sum((eye + lambd * off) * (c - eye) ** 2)


def vicreg(z_a, z_b, *, sim_coeff=25.0, std_coeff=25.0, cov_coeff=1.0, eps=1e-4, sqrt=True):
    r"""VICReg loss of two views (Bardes et al. 2022, eqs. 1–6, as in their official code).

    For z_a, z_b (N, D):

    * invariance s = (1/(N D)) Σ_{n,k} (z_a − z_b)_{nk}²   (mean squared difference);
    * each branch z is centred, z̄ = z − mean_n z, and
      std_k = sqrt(Σ_n z̄_{nk}² / (N − 1) + ε)   (unbiased variance),
      cov = z̄ᵀ z̄ / (N − 1);
    * variance v = [mean_k relu(1 − std_k(z_a)) + mean_k relu(1 − std_k(z_b))] / 2;
    * covariance c = Σ_{i≠j} cov_ij(z_a)² / D + Σ_{i≠j} cov_ij(z_b)² / D;

    L = sim_coeff · s + std_coeff · v + cov_coeff · c.

    ``sqrt=False`` is the ablation of S App. G.3's conjecture that VICReg's square root acts like the
    sharpening g_sqr of Barlow Twins: the hinge acts on the variance itself,
    $v = \tfrac12[\mathrm{mean}_k \max(0, 1 - \mathrm{var}_k(z_a)) + \mathrm{mean}_k \max(0, 1 - \mathrm{var}_k(z_b))]$
    instead of on $\mathrm{std}_k = \sqrt{\mathrm{var}_k + \varepsilon}$ (ε is then unused).  Near a collapsed
    column, $\partial_{\mathrm{var}} \sqrt{\mathrm{var} + \varepsilon} = 1/(2\sqrt{\mathrm{var} + \varepsilon})$ is large
    while $\partial_{\mathrm{var}}\,\mathrm{var} = 1$: the square root is a kink at zero like g_sqr's.

    Parameters
    ----------
    z_a, z_b : (N, D) embeddings of the two views, N >= 2 (the unbiased variance needs two rows).
    sim_coeff, std_coeff, cov_coeff : weights >= 0 (the official defaults 25, 25, 1; may be traced).
    eps : ε >= 0 inside the square root of the variance (may be traced).
    sqrt : bool, default True (the official loss); False hinges the variance instead of the std.

    Returns
    -------
    scalar JAX array in the dtype of the inputs.
    """
    sqrt = _check_flag(sqrt, "sqrt")
    z_a, z_b = _two_views(z_a, z_b, min_rows=2, why=" (the unbiased variance needs two)")
    sim_coeff = _hyperparameter(sim_coeff, "sim_coeff", allow_zero=True)
    std_coeff = _hyperparameter(std_coeff, "std_coeff", allow_zero=True)
    cov_coeff = _hyperparameter(cov_coeff, "cov_coeff", allow_zero=True)
    eps = _hyperparameter(eps, "eps", allow_zero=True)
    n, d = z_a.shape
    _, off = _off_diagonal_mask(d, z_a.dtype)

    def variance_covariance(z):
        z = z - jnp.mean(z, axis=0)
        var = jnp.var(z, axis=0, ddof=1)
        std = jnp.sqrt(var + eps) if sqrt else var
        cov = z.T @ z / (n - 1)
        return jnp.mean(jax.nn.relu(1 - std)), jnp.sum((off * cov) ** 2) / d

    invariance = jnp.mean((z_a - z_b) ** 2)
    var_a, cov_a = variance_covariance(z_a)
    var_b, cov_b = variance_covariance(z_b)
    return sim_coeff * invariance + std_coeff * (var_a + var_b) / 2 + cov_coeff * (cov_a + cov_b)


def nt_xent(z_a, z_b, *, temperature=0.5):
    """NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al. 2020, eq. 1).

    The 2N rows u_k of [z_a; z_b] are L2-normalised (a zero row stays zero), s_kl = u_kᵀ u_l / τ.  Anchor k
    has its partner p(k) (row i of z_a pairs with row i of z_b) as the positive and the other 2N − 2 rows as
    negatives; the anchor itself is excluded:

        ℓ_k = −log [ exp(s_{k,p(k)}) / Σ_{l≠k} exp(s_kl) ],    L = (1/2N) Σ_k ℓ_k.

    Parameters
    ----------
    z_a, z_b : (N, D) projections of the two views, N >= 2 (each anchor needs a negative).
    temperature : τ > 0 (may be traced).

    Returns
    -------
    scalar JAX array in the dtype of the inputs.
    """
    z_a, z_b = _two_views(z_a, z_b, min_rows=2, why=" (each anchor needs a negative)")
    temperature = _hyperparameter(temperature, "temperature")
    n = z_a.shape[0]
    z = jnp.concatenate([z_a, z_b])
    norm = _norm(z)
    u = z / jnp.where(norm > 0, norm, 1)[:, None]
    s = u @ u.T / temperature
    k = jnp.arange(2 * n)
    positive = s[k, (k + n) % (2 * n)]
    logits = jnp.where(jnp.eye(2 * n, dtype=bool), -jnp.inf, s)
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - positive)


# ---------------------------------------------------------------------------------------------
# S App. G: spectral modifications of Barlow Twins, and the S52 preconditioning

#: The modewise losses ℓ(λ) of :func:`modified_barlow_twins` (S App. G.2–G.3).
MODIFICATIONS = ("none", "sqr", "smooth_min", "smooth_eps", "quartic", "hinge")

#: Default floor of |λ| in the derivative of the g_sqr loss (see :func:`modified_barlow_twins`).
SQR_FLOOR = 1e-12


def _spectral_ell(kind, lam, eps, width, floor):
    """ℓ(λ) and ℓ'(λ) of the spectral modifications, elementwise (dtype of ``lam``)."""
    one = jnp.ones_like(lam)
    if kind == "sqr":
        root = jnp.sqrt(jnp.abs(lam))
        g = jnp.sign(lam) * root
        # ℓ' = 2 (g − 1) g', g' = 1 / (2 sqrt|λ|): |λ| floored, so ℓ'(0) = −floor^{-1/2} instead of −∞
        return (g - 1) ** 2, (g - 1) / jnp.sqrt(jnp.maximum(jnp.abs(lam), floor))
    if kind == "smooth_min":
        gm1 = jnp.minimum(lam - 1, 0)
        return gm1**2, 2 * gm1
    if kind == "smooth_eps":
        gm1 = jnp.minimum(lam - 1, -eps * (lam - 1))
        return gm1**2, 2 * gm1 * jnp.where(lam < 1, one, -eps * one)
    if kind == "hinge":
        excess = jnp.maximum(jnp.abs(lam - 1) - width, 0)
        return excess**2, 2 * excess * jnp.sign(lam - 1)
    raise ValueError(f"modification must be one of {list(MODIFICATIONS)}, got {kind!r}")  # pragma: no cover


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _spectral_sum(kind, C, eps, width, floor):
    """Σ_j ℓ(λ_j(C)) of a symmetric C; derivative U diag(ℓ'(λ)) Uᵀ (see the jvp below)."""
    lam = jnp.linalg.eigvalsh(C)
    return jnp.sum(_spectral_ell(kind, lam, eps, width, floor)[0])


@_spectral_sum.defjvp
def _spectral_sum_jvp(kind, primals, tangents):
    # d Σ ℓ(λ_j) = tr(U diag(ℓ'(λ)) Uᵀ dC): the same matrix for any orthonormal basis of a degenerate
    # eigenspace (ℓ' takes one value there), so the derivative is defined for repeated eigenvalues too.
    C, eps, width, floor = primals
    dC, deps, dwidth, dfloor = tangents
    lam, U = jnp.linalg.eigh(C)
    value, dell = _spectral_ell(kind, lam, eps, width, floor)
    G = (U * dell[None, :]) @ U.T
    _, dparams = jax.jvp(lambda e, w, f: jnp.sum(_spectral_ell(kind, lam, e, w, f)[0]),
                         (eps, width, floor), (deps, dwidth, dfloor))
    return jnp.sum(value), jnp.sum(G * dC) + dparams


def modified_barlow_twins(z_a, z_b, *, modification="none", eps=0.1, width=0.25, batch_norm=False,
                          floor=SQR_FLOOR):
    r"""Barlow Twins with the spectral modifications of S App. G.2–G.3, L = Σ_j ℓ(λ_j).

    With the symmetrised cross-correlation of S1–S2, $C = (z_a^\top z_b + z_b^\top z_a)/(2N)$ (D, D), and
    its eigenvalues λ_j, the loss is $L = \sum_j \ell(\lambda_j) = \|g(C) - I\|_F^2$ for a function g acting
    on the eigenvalues (S App. G):

    * ``"none"``: $\ell = (1 - \lambda)^2$, i.e. $\|C - I\|_F^2$ (S1; equals
      ``barlow_twins(z_a, z_b, lambd=1, symmetrize=True)``);
    * ``"sqr"`` (S App. G.2, sharpening at zero): $g_{\rm sqr}(\lambda) = \mathrm{sign}(\lambda)|\lambda|^{1/2}$,
      $\ell = (g_{\rm sqr}(\lambda) - 1)^2$ — in the rescaled singular value $\bar s = \lambda^{1/2}$ of an
      aligned mode, $(|\bar s| - 1)^2$, a kink at 0;
    * ``"smooth_min"`` (S App. G.3): $g = \min(\lambda, 1)$, $\ell = (\min(\lambda, 1) - 1)^2$, flat for λ >= 1;
    * ``"smooth_eps"`` (S App. G.3): $g = \min(\lambda, 1 + \varepsilon(1 - \lambda))$, so
      $\ell = (1 - \lambda)^2$ below 1 and $\varepsilon^2(\lambda - 1)^2$ above;
    * ``"quartic"`` (S App. G.3): $\ell = (1 - \lambda)^4$, i.e. $\mathrm{tr}\,(C - I)^4$ — no curvature at the minimum;
    * ``"hinge"`` (S App. G.3, a flat basin of finite width w): $\ell = \max(|1 - \lambda| - w, 0)^2$.

    S App. G writes $\|g(C) - I\|_F$; the square is used here, so that ``"none"`` is the Barlow Twins loss.

    Gradient.  ``"none"`` and ``"quartic"`` are polynomials in C and differentiated as such.  The others
    go through :func:`jax.numpy.linalg.eigh` with a custom derivative,
    $\partial L / \partial C = U\,\mathrm{diag}(\ell'(\lambda))\,U^\top$ ($C = U \mathrm{diag}(\lambda) U^\top$), which
    is the same matrix for any eigenbasis of a repeated eigenvalue, so it is defined for degenerate C
    (only first derivatives are provided).  For ``"sqr"``, $\ell'(\lambda) = (g_{\rm sqr}(\lambda) - 1)/|\lambda|^{1/2}$
    tends to −∞ as λ → 0; the regularisation used is $|\lambda|$ floored at ``floor`` in that denominator,
    $\ell'(\lambda) = (g_{\rm sqr}(\lambda) - 1)/\max(|\lambda|, \text{floor})^{1/2}$, so $|\ell'| <= 1 + \text{floor}^{-1/2}$
    (10⁶ + 1 by default).  For a linear model the weight gradient $2\,U\mathrm{diag}(\ell')U^\top W\Gamma$ stays
    bounded as λ → 0 even without the floor (the factor $W\Gamma$ along an eigenvector is O(λ^{1/2})).
    At λ = 1 the one-sided derivatives of ``"smooth_min"``, ``"smooth_eps"`` agree (ℓ' = 0); ℓ'' jumps there.

    Parameters
    ----------
    z_a, z_b : (N, D) embeddings of the two views (N >= 2 with ``batch_norm``).
    modification : one of :data:`MODIFICATIONS`.
    eps : ε >= 0 of ``"smooth_eps"`` (may be traced).
    width : half-width w >= 0 of the ``"hinge"`` basin in λ (may be traced).
    batch_norm : standardise each column first, as :func:`barlow_twins` does.
    floor : > 0, the floor of |λ| in the ``"sqr"`` derivative.

    Returns
    -------
    scalar JAX array in the dtype of the inputs.
    """
    check_choice(modification, "modification", set(MODIFICATIONS))
    batch_norm = _check_flag(batch_norm, "batch_norm")
    z_a, z_b = _two_views(z_a, z_b, min_rows=2 if batch_norm else 1,
                          why=" (the batch variance needs two)" if batch_norm else "")
    eps = _hyperparameter(eps, "eps", allow_zero=True)
    width = _hyperparameter(width, "width", allow_zero=True)
    floor = _hyperparameter(floor, "floor")
    if batch_norm:
        z_a, z_b = _batch_norm(z_a), _batch_norm(z_b)
    n = z_a.shape[0]
    m = z_a.T @ z_b
    c = (m + m.T) / (2 * n)
    eye = jnp.eye(c.shape[0], dtype=c.dtype)
    if modification == "none":
        return jnp.sum((c - eye) ** 2)
    if modification == "quartic":
        e = c - eye
        return jnp.sum((e @ e) ** 2)  # tr (C − I)^4 = ‖(C − I)²‖_F² for symmetric C
    dtype = c.dtype
    return _spectral_sum(modification, c, jnp.asarray(eps, dtype), jnp.asarray(width, dtype),
                         jnp.asarray(floor, dtype))


def preconditioned(loss_fn, alpha):
    r"""The loss ``loss_fn`` with its output gradient preconditioned towards small PCA directions (S52).

    Returns ``L(z_a, z_b, **kw)`` whose value is ``loss_fn(z_a, z_b, **kw)`` and whose gradient with
    respect to the stacked outputs $F = [z_a; z_b]$ (2N, d) is replaced by (S App. G.1, S52)

    $$\nabla_F L \;\longrightarrow\; \nabla_F L\,(F^\top F + \alpha I_d)^{-1}, \qquad \alpha > 0,$$

    which shrinks the pull along directions of large variance of the embeddings and enlarges it along
    directions of small variance.  Backpropagation through a network then uses the transformed output
    gradient, $\nabla_\theta = \mathrm{Tr}[(\nabla_\theta F)^\top \nabla_F L\,(F^\top F + \alpha I)^{-1}]$.
    The matrix is treated as a constant (no derivative through it: the result is a substitution rule, not the
    gradient of another loss); only first derivatives are defined.  Keyword arguments are passed to
    ``loss_fn`` and treated as constants.  Works for any loss of two views (N, d), e.g. :func:`barlow_twins`,
    :func:`vicreg`, :func:`nt_xent`, :func:`modified_barlow_twins`.

    Parameters
    ----------
    loss_fn : callable ``(z_a, z_b, **kw) -> scalar``.
    alpha : α > 0, the ridge of the preconditioner.
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (z_a, z_b, **kw) -> scalar, got {type(loss_fn).__name__}")
    if isinstance(alpha, (str, bytes)) or isinstance(alpha, (bool, np.bool_)):
        raise TypeError(f"alpha must be a real number > 0, got {type(alpha).__name__}")
    alpha = check_positive(alpha, "alpha")

    def loss(z_a, z_b, **kw):
        z_a, z_b = _two_views(z_a, z_b)

        @jax.custom_vjp
        def value(za, zb):
            return loss_fn(za, zb, **kw)

        def fwd(za, zb):
            out, vjp = jax.vjp(lambda a, b: loss_fn(a, b, **kw), za, zb)
            return out, (za, zb, vjp)

        def bwd(res, ct):
            za, zb, vjp = res
            ga, gb = vjp(ct)
            F = jnp.concatenate([za, zb])
            G = jnp.concatenate([ga, gb])
            P = F.T @ F + alpha * jnp.eye(F.shape[1], dtype=F.dtype)
            # G P^{-1}: solve against the d x d identity (P symmetric), not the (2N, d) right-hand side
            GP = G @ jnp.linalg.solve(P, jnp.eye(F.shape[1], dtype=P.dtype))
            n = za.shape[0]
            return GP[:n].astype(za.dtype), GP[n:].astype(zb.dtype)

        value.defvjp(fwd, bwd)
        return value(z_a, z_b)

    loss.__name__ = f"preconditioned_{getattr(loss_fn, '__name__', 'loss')}"
    loss.__doc__ = f"{getattr(loss_fn, '__name__', 'loss')} with the S52 output-gradient preconditioning, alpha = {alpha}."
    return loss


# ---------------------------------------------------------------------------------------------
# the general contrastive loss (A1)


def safe_norm(f, axis=-1, *, check=True):
    r"""‖f‖ along ``axis`` with gradient 0 (a subgradient) at f = 0 instead of NaN.

    It is the norm of the cosine similarity $\mathrm{sim}(f, f') = \langle f, f'\rangle / (\lVert
    f\rVert\,\lVert f'\rVert)$ in A's contrastive loss A1 (and in SimCLR, arXiv:2002.05709), $\lVert f\rVert =
    (\sum_k f_k^2)^{1/2}$.

    With ``check`` (default) a concrete ``f`` with a NaN or inf entry raises ``ValueError``; inside jit a
    NaN propagates to the norm (it is not mapped to 0), so the trainer's non-finite check still sees it.
    ``check=False`` skips the input check, for callers that have checked ``f`` already.
    """
    if check:
        check_finite_if_concrete(f, "f")
    return _norm(f, axis)


def _norm(f, axis=-1):
    sq = jnp.sum(f * f, axis=axis)
    nonzero = sq != 0  # NaN != 0: a NaN row keeps its NaN norm
    return jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sq, 1.0)), 0.0)


def check_alpha(alpha) -> tuple:
    """Partner signs α_q ∈ {+1, −1} (A1) as a tuple of ints (hashable, for cached losses)."""
    try:
        arr = np.asarray(alpha, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a non-empty sequence of +1 (positive pair) and -1 (negative pair), "
                         f"got {alpha!r}") from None
    if arr.size == 0 or not np.all(np.isin(arr, (-1.0, 1.0))):
        raise ValueError(f"alpha must be a non-empty sequence of +1 (positive pair) and -1 (negative pair), "
                         f"got {np.asarray(alpha).tolist()}")
    return tuple(int(a) for a in arr)


def _check_options(similarity, loss, delta, temperature, *, traceable=False):
    """Names and δ, τ > 0; ``traceable``: δ, τ may be JAX tracers (checked only when concrete, kept as given)."""
    check_choice(similarity, "similarity", set(SIMILARITIES))
    check_choice(loss, "loss", set(REDUCTIONS))
    if traceable:
        return _hyperparameter(delta, "delta"), _hyperparameter(temperature, "temperature")
    delta = check_positive(delta, "delta")
    temperature = check_positive(temperature, "temperature")
    return delta, temperature


def _broadcast(f, g, names=("f", "g")):
    try:
        return jnp.broadcast_shapes(np.shape(f), np.shape(g))
    except ValueError:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape (..., Z) (or broadcast), got "
                         f"{tuple(np.shape(f))} and {tuple(np.shape(g))}") from None


def similarity(f, g, kind="dot", *, delta=DEFAULT_DELTA, norms=None):
    """Row-wise similarity s(x, x̃) of representations f = f(x), g = f(x̃), shapes (..., Z) -> (...) (A1).

    * "dot":    s = f(x)ᵀ f(x̃);
    * "cosine": s = f(x)ᵀ f(x̃) / ((‖f(x)‖ + δ)(‖f(x̃)‖ + δ)), δ > 0 (A Assumption 1);
    * "cosine_bound": the lower bound (A9) of the cosine similarity under WᵀW = I,
      s̃ = f(x)ᵀ f(x̃) / ((‖h(x)‖ + δ)(‖h(x̃)‖ + δ)) with h the hidden features; needs
      ``norms = (‖h(x)‖, ‖h(x̃)‖)``, each of shape (...).
    """
    shape = _broadcast(f, g)
    check_finite_if_concrete(f, "f")
    check_finite_if_concrete(g, "g")
    if kind in ("cosine", "cosine_bound"):
        _hyperparameter(delta, "delta")
    if kind == "cosine_bound" and norms is not None:
        if not isinstance(norms, (tuple, list)) or len(norms) != 2:
            raise ValueError("norms must be a pair (|h(x)|, |h(x~)|) of hidden-feature norms")
        for k, nrm in enumerate(norms):
            try:
                jnp.broadcast_shapes(np.shape(nrm), shape[:-1])
            except ValueError:
                raise ValueError(f"norms[{k}] must have the shape of the similarities {shape[:-1]}, got "
                                 f"{tuple(np.shape(nrm))}") from None
            check_finite_if_concrete(nrm, f"norms[{k}]")
    if kind == "dot":
        return jnp.sum(f * g, axis=-1)
    if kind == "cosine":
        return jnp.sum(f * g, axis=-1) / ((_norm(f) + delta) * (_norm(g) + delta))
    if kind == "cosine_bound":
        if norms is None:
            raise ValueError("similarity 'cosine_bound' needs norms = (|h(x)|, |h(x~)|) of the hidden features")
        nf, ng = norms
        return jnp.sum(f * g, axis=-1) / ((nf + delta) * (ng + delta))
    raise ValueError(f"kind must be one of {list(SIMILARITIES)} (the similarity), got {kind!r}")


_similarity = similarity  # the function, for code whose arguments are named ``similarity``


def reduce_similarities(S, alpha, loss="linear", *, temperature=1.0):
    """(1/N) Σ_n l(s_n) for similarities S (Q, N): the outer sum of (A1).

    * "linear": l(s) = −Σ_q α_q s_q (A6);
    * "log_softmax": l(s) = −(1/|P|) Σ_{q ∈ P} log softmax(s/τ)_q over the positives P = {q : α_q = +1}
      (InfoNCE with temperature τ).
    """
    alpha = check_alpha(alpha)
    if np.ndim(S) != 2 or np.shape(S)[0] != len(alpha):
        raise ValueError(f"S must be (Q, N) with Q = len(alpha) = {len(alpha)}, got shape {tuple(np.shape(S))}")
    check_finite_if_concrete(S, "S")
    S = jnp.asarray(S)
    if loss == "log_softmax":
        _hyperparameter(temperature, "temperature")
    a = jnp.asarray(alpha, dtype=S.dtype)[:, None]
    if loss == "linear":
        return -jnp.mean(jnp.sum(a * S, axis=0))
    if loss == "log_softmax":
        logp = jax.nn.log_softmax(S / temperature, axis=0)
        pos = (a > 0).astype(S.dtype)
        return -jnp.mean(jnp.sum(pos * logp, axis=0)) / jnp.sum(pos)
    raise ValueError(f"loss must be one of {list(REDUCTIONS)}, got {loss!r}")


def contrastive(f_anchor, f_partners, alpha, *, similarity="dot", loss="linear", delta=DEFAULT_DELTA,
                temperature=1.0, anchor_norms=None, partner_norms=None):
    """The general contrastive loss (A1) from representations: f_anchor (N, Z), f_partners (Q, N, Z).

    N anchors x_n, each with Q partners x_{n,q}; partner q is a positive (α_q = +1) or a negative
    (α_q = −1) for every anchor, and

        L = (1/N) Σ_n l({s(x_n, x_{n,q})}_{q=1..Q})

    with the similarity s of :func:`similarity` and the reduction l of :func:`reduce_similarities`.
    Esser et al.'s E1 and E2 are the cases α = (+1, −1) and α = (+1,) with s "dot" and l "linear"
    (:func:`triplet_contrastive`, :func:`non_contrastive`).

    Parameters
    ----------
    f_anchor : (N, Z) representations f(x_n) of the anchors.
    f_partners : (Q, N, Z) representations f(x_{n,q}) of the partners.
    alpha : (Q,) signs, +1 for a positive pair and −1 for a negative pair.
    similarity : "dot", "cosine" (δ > 0) or "cosine_bound" (A9; give the hidden norms).
    loss : reduction l, "linear" (A6) or "log_softmax" (InfoNCE, temperature τ).
    anchor_norms, partner_norms : (N,), (Q, N) hidden-feature norms ‖h‖ for "cosine_bound".

    Returns
    -------
    scalar JAX array.
    """
    alpha = check_alpha(alpha)
    delta, temperature = _check_options(similarity, loss, delta, temperature, traceable=True)
    if np.ndim(f_anchor) != 2 or np.ndim(f_partners) != 3 or np.shape(f_partners)[1:] != np.shape(f_anchor) \
            or np.shape(f_partners)[0] != len(alpha):
        raise ValueError(f"f_anchor must be (N, Z) and f_partners (Q, N, Z) with Q = len(alpha) = {len(alpha)}, "
                         f"got {tuple(np.shape(f_anchor))} and {tuple(np.shape(f_partners))}")
    f_anchor = _as_float(f_anchor, "f_anchor")
    f_partners = _as_float(f_partners, "f_partners")
    norms = None
    if similarity == "cosine_bound":
        if anchor_norms is None or partner_norms is None:
            raise ValueError("similarity 'cosine_bound' needs anchor_norms (N,) and partner_norms (Q, N)")
        anchor_norms = _as_float(anchor_norms, "anchor_norms")
        partner_norms = _as_float(partner_norms, "partner_norms")
        N, Q = f_anchor.shape[0], len(alpha)
        if anchor_norms.shape != (N,) or partner_norms.shape != (Q, N):
            raise ValueError(f"anchor_norms must be ({N},) and partner_norms ({Q}, {N}), got "
                             f"{tuple(anchor_norms.shape)} and {tuple(partner_norms.shape)}")
        norms = (anchor_norms[None, :], partner_norms)
    S = _similarity(f_anchor[None], f_partners, similarity, delta=delta, norms=norms)
    return reduce_similarities(S, alpha, loss, temperature=temperature)


def _same_outputs(named):
    """(n, z) output matrices of equal shape, each named in its error."""
    (first, z0), *rest = named.items()
    for name, z in rest:
        if np.ndim(z0) == 2 and np.ndim(z) == 2 and np.shape(z) != np.shape(z0):
            raise ValueError(f"{name} must have the shape of {first} {tuple(np.shape(z0))} (one row per anchor), "
                             f"got {tuple(np.shape(z))}")
    return [_outputs(z, name, what="anchors") for name, z in named.items()]


def triplet_contrastive(f_anchor, f_positive, f_negative):
    """Esser et al.'s contrastive loss E1 of the outputs on anchors, positives and negatives (n, z) each:

        L = −(1/n) Σ_i f(x_i)ᵀ (f(x_i⁺) − f(x_i⁻)),

    i.e. A1 (:func:`contrastive`) with α = (+1, −1), dot-product similarity and l linear.
    """
    fa, fp, fn = _same_outputs({"f_anchor": f_anchor, "f_positive": f_positive, "f_negative": f_negative})
    return contrastive(fa, jnp.stack([fp, fn]), (1, -1))


def non_contrastive(f_anchor, f_positive):
    """Esser et al.'s non-contrastive loss E2 of the outputs on anchors and positives (n, z) each:

        L = −(1/n) Σ_i f(x_i)ᵀ f(x_i⁺),

    i.e. A1 (:func:`contrastive`) with α = (+1,), dot-product similarity and l linear.
    """
    fa, fp = _same_outputs({"f_anchor": f_anchor, "f_positive": f_positive})
    return contrastive(fa, fp[None], (1,))


def _split(F, n_anchors, Q):
    return F[:n_anchors], F[n_anchors:].reshape(Q, n_anchors, F.shape[-1])


@functools.lru_cache(maxsize=128)
def _contrastive_function_loss(n_anchors, alpha, similarity, loss, delta, temperature):
    Q = len(alpha)

    def fn(F, norms=None):
        rows = n_anchors * (1 + Q)
        if np.ndim(F) != 2 or np.shape(F)[0] != rows:
            raise ValueError(f"F must be (N(1+Q), Z) = ({rows}, Z), the stacked outputs [anchors; partners_1; ...], "
                             f"got shape {tuple(np.shape(F))}")
        F = _as_float(F, "F")
        fa, fp = _split(F, n_anchors, Q)
        nrm = None
        if similarity == "cosine_bound":
            if norms is None or np.shape(norms) != (rows,):
                raise ValueError(f"similarity 'cosine_bound' needs norms, the stacked hidden norms ({rows},), got "
                                 f"{None if norms is None else tuple(np.shape(norms))}")
            norms = _as_float(norms, "norms")
            na, npart = norms[:n_anchors], norms[n_anchors:].reshape(Q, n_anchors)
            nrm = (na[None, :], npart)
        S = _similarity(fa[None], fp, similarity, delta=delta, norms=nrm)
        return reduce_similarities(S, alpha, loss, temperature=temperature)

    return fn


def contrastive_function_loss(n_anchors, alpha, *, similarity="dot", loss="linear", delta=DEFAULT_DELTA,
                              temperature=1.0):
    """L(F) (A1) of the stacked outputs F = [f(x_1..x_N); f(x_{1,1}..x_{N,1}); …; f(x_{1,Q}..x_{N,Q})], (N(1+Q), Z).

    Cached per arguments: the same function object is returned for the same problem, so the
    trainer and :func:`dynamics.flows.function_space_flow` compile once.  For "cosine_bound"
    the returned callable takes a second argument, the stacked hidden norms (N(1+Q),).
    """
    n_anchors = check_positive_int(n_anchors, "n_anchors")
    alpha = check_alpha(alpha)
    delta, temperature = _check_options(similarity, loss, delta, temperature)
    return _contrastive_function_loss(n_anchors, alpha, similarity, loss, delta, temperature)


# ---------------------------------------------------------------------------------------------
# supervised; Barlow Twins of stacked outputs


def mse(outputs, targets):
    r"""Supervised squared loss L = (1/2n) Σ_i ‖f(x_i) − y_i‖² of outputs f(x_i) and targets y_i, (n, d) each.

    $L = \frac{1}{2n}\sum_{i=1}^n \lVert f(x_i) - y_i\rVert^2$: the supervised baseline of F's NTK-drift
    comparison (Fleissner et al. 2025; :func:`dynamics.trainer.train_supervised`)."""
    if np.ndim(outputs) == 2 and np.ndim(targets) == 2 and np.shape(outputs) != np.shape(targets):
        raise ValueError(f"targets must have the shape of outputs {tuple(np.shape(outputs))}, got "
                         f"{tuple(np.shape(targets))}")
    outputs = _outputs(outputs, "outputs", what="samples")
    targets = _outputs(targets, "targets", what="samples")
    return 0.5 * jnp.mean(jnp.sum((outputs - targets) ** 2, axis=1))


@functools.lru_cache(maxsize=None)
def _barlow_twins_function_loss(n: int):
    def loss(F):
        if np.ndim(F) != 2 or np.shape(F)[0] != 2 * n:
            raise ValueError(f"F must be (2n, d) = ({2 * n}, d), the outputs on [x_1..x_n; x'_1..x'_n], "
                             f"got shape {tuple(np.shape(F))}")
        F = _as_float(F, "F")  # values checked outside jit/grad only
        return barlow_twins(F[:n], F[n:], symmetrize=True)

    return loss


def barlow_twins_function_loss(n: int):
    """L(F) for stacked outputs F = [f(x_1..x_n); f(x'_1..x'_n)] (2n, d): ‖C − I‖_F² (S1–S2), i.e.
    ``barlow_twins(F[:n], F[n:], symmetrize=True)``.

    Cached per n: the same function object is returned, so compiled flows are reused.
    """
    return _barlow_twins_function_loss(check_positive_int(n, "n"))
