r"""Aligned-init theory of Simon et al.'s speed-up proposals (S App. G, S Fig 9).

For the linear model from an aligned initialisation $W = U\,\mathrm{diag}(s)\,\Gamma^{(\le d)}$ the
embedding cross-correlation is $C = U \mathrm{diag}(\lambda) U^\top$ with $\lambda_j = \gamma_j s_j^2$, so
every spectral loss $L = \sum_j \ell(\lambda_j)$ of :func:`dynamics.losses.modified_barlow_twins` decouples
into modes (S14, S App. F).  Gradient flow on W is then gradient flow on each $s_j$,

$$\dot s_j = -\partial_{s_j}\,\ell(\gamma_j s_j^2) = -2\gamma_j s_j\,\ell'(\gamma_j s_j^2),$$

and gradient descent with step η (the trainer's ``lr``; flow time $t = \eta \times$ step) is
$s_j \leftarrow s_j - \eta\,\partial_{s_j}\ell$.  In the rescaled singular value
$\bar s_j = \gamma_j^{1/2} s_j$ of S App. F (S50) a mode sees the landscape $\bar\ell(\bar s) = \ell(\bar s^2)$
of S Fig 9 A–D and takes steps $\bar s \leftarrow \bar s - h\,\bar\ell'(\bar s)$ with $h = \eta\gamma_j$.

Modewise losses $\ell(\lambda)$ (``modification``, as in :data:`dynamics.losses.MODIFICATIONS`):
``"none"`` $(1-\lambda)^2$ (S14); ``"sqr"`` $(g_{\rm sqr}(\lambda) - 1)^2$, $\bar\ell = (|\bar s| - 1)^2$ (S App. G.2);
``"smooth_min"`` $(\min(\lambda,1) - 1)^2$; ``"smooth_eps"`` $(\min(\lambda, 1+\varepsilon(1-\lambda)) - 1)^2$;
``"quartic"`` $(1-\lambda)^4$; ``"hinge"`` $\max(|1-\lambda| - w, 0)^2$ (S App. G.3).

The derivations (sympy) are in :mod:`dynamics.barlow.symbolic` (``modified_*`` functions); the functions
here are their numerically stable forms.
"""

from __future__ import annotations

import numpy as np

from .. import losses
from .._validation import as_array, as_times, check_choice, check_positive, check_positive_int
from ._closed_form import aligned_singular_values

MODIFICATIONS = losses.MODIFICATIONS

#: One-sided curvatures $\bar\ell''(1^-), \bar\ell''(1^+)$ of the modewise landscape at $\bar s = 1$
#: ($= 4\ell''(1^\mp)$ since $\ell'(1) = 0$); ``"smooth_eps"``'s right side is $8\varepsilon^2$.
_CURVATURES = {"none": (8.0, 8.0), "sqr": (2.0, 2.0), "smooth_min": (8.0, 0.0), "smooth_eps": (8.0, None),
               "quartic": (0.0, 0.0), "hinge": (0.0, 0.0)}


def _check_modification(modification):
    return check_choice(modification, "modification", set(MODIFICATIONS))


def _check_eps_width(eps, width):
    eps = check_positive(eps, "eps", allow_zero=True)
    width = check_positive(width, "width", allow_zero=True)
    return eps, width


def modewise_loss(sbar, modification="none", *, eps=0.1, width=0.25) -> np.ndarray:
    r"""The modewise landscape $\bar\ell(\bar s) = \ell(\bar s^2)$ of S Fig 9 A–D (S50, S App. G), elementwise.

    ``"none"``: $(1 - \bar s^2)^2$ (S Fig 9A, S50); ``"sqr"``: $(|\bar s| - 1)^2$ (S Fig 9B);
    ``"smooth_min"``: $(\min(\bar s^2, 1) - 1)^2$; ``"smooth_eps"``: $(1 - \bar s^2)^2$ for $\bar s^2 \le 1$ and
    $\varepsilon^2(\bar s^2 - 1)^2$ above (S Fig 9 C–D); ``"quartic"``: $(1 - \bar s^2)^4$;
    ``"hinge"``: $\max(|1 - \bar s^2| - w, 0)^2$.
    """
    modification = _check_modification(modification)
    eps, width = _check_eps_width(eps, width)
    sbar = as_array(sbar, "sbar")
    lam = sbar**2
    if modification == "none":
        return (1 - lam) ** 2
    if modification == "sqr":
        return (np.abs(sbar) - 1) ** 2
    if modification == "smooth_min":
        return np.minimum(lam - 1, 0) ** 2
    if modification == "smooth_eps":
        return np.minimum(lam - 1, -eps * (lam - 1)) ** 2
    if modification == "quartic":
        return (1 - lam) ** 4
    return np.maximum(np.abs(1 - lam) - width, 0) ** 2


def _rhs(s, gammas, modification, eps, width):
    lam = gammas * s**2
    if modification == "none":
        return 4 * gammas * s * (1 - lam)
    if modification == "sqr":
        # −2γ s ℓ'(γ s²) with ℓ'(λ) = (sign(λ)|λ|^{1/2} − 1)/|λ|^{1/2}: 2 sign(γ)|γ|^{1/2} sign(s) − 2|γ| s
        return 2 * np.sign(gammas) * np.sqrt(np.abs(gammas)) * np.sign(s) - 2 * np.abs(gammas) * s
    if modification == "smooth_min":
        return 4 * gammas * s * np.maximum(1 - lam, 0)
    if modification == "smooth_eps":
        return 4 * gammas * s * (1 - lam) * np.where(lam < 1, 1.0, eps**2)
    if modification == "quartic":
        return 8 * gammas * s * (1 - lam) ** 3
    return -4 * gammas * s * np.maximum(np.abs(lam - 1) - width, 0) * np.sign(lam - 1)


def modified_modewise_rhs(s, gammas, modification="none", *, eps=0.1, width=0.25) -> np.ndarray:
    r"""Aligned-init modewise ODE $\dot s_j = -2\gamma_j s_j\,\ell'(\gamma_j s_j^2)$ of a modified loss (S12, S App. G).

    * ``"none"``: $4\gamma s(1 - \gamma s^2)$ (S12);
    * ``"sqr"``: $2\,\mathrm{sign}(\gamma)|\gamma|^{1/2}\mathrm{sign}(s) - 2|\gamma| s$ — for γ > 0 a Θ(1) push
      $2\gamma^{1/2}$ away from s = 0 (S App. G.2);
    * ``"smooth_min"``: $4\gamma s \max(1 - \gamma s^2, 0)$; ``"smooth_eps"``: $4\gamma s(1 - \gamma s^2)$ below
      λ = 1, $4\varepsilon^2\gamma s(1 - \gamma s^2)$ above;
    * ``"quartic"``: $8\gamma s (1 - \gamma s^2)^3$; ``"hinge"``: $-4\gamma s\max(|\lambda - 1| - w, 0)\,\mathrm{sign}(\lambda - 1)$.

    ``s`` and ``gammas`` broadcast.
    """
    modification = _check_modification(modification)
    eps, width = _check_eps_width(eps, width)
    s = as_array(s, "s")
    gammas = as_array(gammas, "gammas")
    try:
        np.broadcast_shapes(s.shape, gammas.shape)
    except ValueError:
        raise ValueError(f"s and gammas must broadcast, got shapes {s.shape} and {gammas.shape}") from None
    return _rhs(s, gammas, modification, eps, width)


def _modes(gammas, s0):
    gammas = np.atleast_1d(as_array(gammas, "gammas", ndim=(0, 1)))
    s0 = np.atleast_1d(as_array(s0, "s0", ndim=(0, 1)))
    if gammas.size == 0:
        raise ValueError("gammas must contain at least one eigenvalue (one mode), got an empty array")
    if s0.shape != gammas.shape:
        if s0.size != 1:
            raise ValueError(f"s0 must have the same length as gammas ({gammas.size}), got {s0.size}")
        s0 = np.full_like(gammas, s0.item())
    return gammas, s0


def _sqr_solution(t, gammas, s0):
    r"""Exact g_sqr trajectories (T, d): γ > 0: $\bar s = 1 - (1 - \bar s_0)e^{-2\gamma t}$; γ < 0: the modulus
    $\sigma = |\gamma|^{1/2}|s|$ follows $\sigma = (\sigma_0 + 1)e^{-2|\gamma|t} - 1$ until it reaches 0 and stays."""
    t = t[:, None]
    g = gammas[None, :]
    sign = np.sign(s0)[None, :]
    root = np.sqrt(np.abs(g))
    sig0 = root * np.abs(s0)[None, :]
    x = 2 * np.abs(g) * t
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = (-np.expm1(-x) + sig0 * np.exp(-x)) / np.where(g > 0, root, 1.0)
        neg = np.maximum((sig0 + 1) * np.exp(-x) - 1, 0.0) / np.where(g < 0, root, 1.0)
    out = np.where(g > 0, pos, np.where(g < 0, neg, np.abs(s0)[None, :]))
    return np.where(sign == 0, 0.0, sign * out)


def _rescaled_s10(t, gammas, s0, target, speed=1.0):
    r"""Solution of $\dot s = 4\,\mathrm{speed}\,\gamma s(\mathrm{target} - \gamma s^2)$: with $s = a^{1/2}\sigma$,
    $\sigma$ follows S10 at time $\mathrm{speed}\cdot a\,t$ (a = target > 0)."""
    return np.sqrt(target) * aligned_singular_values(speed * target * t, gammas, s0 / np.sqrt(target))


def modified_aligned_singular_values(t, gammas, s0, modification="sqr", *, eps=0.1, width=0.25) -> np.ndarray:
    r"""Exact aligned-init singular values $s_j(t)$ under a modified loss (S10 analogue, S App. G footnote 26).

    * ``"sqr"`` (S App. G.2): the modewise ODE is linear in $\bar s$, $\dot{\bar s} = 2\gamma(1 - \bar s)$
      for $\bar s > 0$, so $\bar s(t) = 1 - (1 - \bar s_0)\,e^{-2\gamma t}$,
      $$s(t) = \gamma^{-1/2} - (\gamma^{-1/2} - s_0)\,e^{-2\gamma t}\qquad(\gamma > 0,\ s_0 > 0;$$
      $s_0 < 0$ mirrored).  For γ < 0 the modulus falls linearly in $e^{-2|\gamma|t}$ and reaches 0 at
      $t = \log(1 + |\gamma|^{1/2}|s_0|)/(2|\gamma|)$, where it stays; γ = 0 or $s_0 = 0$: constant.
    * ``"none"``: S10 (:func:`dynamics.barlow.aligned_singular_values`).
    * ``"smooth_min"``, ``"smooth_eps"``: a trajectory never crosses λ = 1, so below it is S10 and above it
      is constant (smooth_min) or S10 at time $\varepsilon^2 t$ (smooth_eps).
    * ``"hinge"`` (w < 1): below the basin, $\dot s = 4\gamma s(a - \gamma s^2)$ with $a = 1 - w$, solved by
      $s = a^{1/2}\,s_{\rm S10}(a t;\ \gamma, s_0 a^{-1/2})$; above it the same with $a = 1 + w$; inside, constant.
    * ``"quartic"``: no closed form (the ODE separates but $t(s)$ does not invert): NotImplementedError.

    Parameters
    ----------
    t : (T,) non-negative, non-decreasing flow times (t = lr × step).
    gammas : (d,) eigenvalues γ_j; s0 : (d,) initial singular values (a scalar is broadcast).

    Returns
    -------
    (T, d) array.
    """
    modification = _check_modification(modification)
    eps, width = _check_eps_width(eps, width)
    t = as_times(t)
    gammas, s0 = _modes(gammas, s0)
    if modification == "quartic":
        raise NotImplementedError("modification 'quartic' has no closed-form aligned trajectory; integrate "
                                  "modified_modewise_rhs instead")
    if modification == "none":
        return aligned_singular_values(t, gammas, s0)
    if modification == "sqr":
        return _sqr_solution(t, gammas, s0)
    lam0 = gammas * s0**2
    out = np.empty((t.size, gammas.size))
    for j in range(gammas.size):
        g, s, l0 = gammas[j:j + 1], s0[j:j + 1], lam0[j]
        if modification in ("smooth_min", "smooth_eps"):
            if l0 <= 1:
                col = aligned_singular_values(t, g, s)
            elif modification == "smooth_min":
                col = np.full((t.size, 1), s[0])
            else:
                col = aligned_singular_values(eps**2 * t, g, s)
        else:  # hinge
            if width >= 1:
                raise ValueError(f"width must be < 1 for the hinge closed form (basin [1 - w, 1 + w] in λ), "
                                 f"got {width}")
            if l0 < 1 - width:
                col = _rescaled_s10(t, g, s, 1 - width)
            elif l0 > 1 + width:
                col = _rescaled_s10(t, g, s, 1 + width)
            else:
                col = np.full((t.size, 1), s[0])
        out[:, j] = col[:, 0]
    return out


def escape_time(gammas, s0, modification="none", threshold=0.5, *, eps=0.1, width=0.25) -> np.ndarray:
    r"""Flow time for an aligned mode to grow from $\lambda_0 = \gamma s_0^2$ to $\lambda = \theta$ (``threshold``).

    With $\dot\lambda = 2\gamma s\dot s$ the time is $T = \int_{\lambda_0}^{\theta} d\lambda / (-4\gamma\lambda\ell'(\lambda))$:

    * ``"none"``, ``"smooth_min"``, ``"smooth_eps"`` (identical below λ = 1):
      $T = \frac{1}{8\gamma}\left[\log\frac{\theta}{1-\theta} - \log\frac{\lambda_0}{1-\lambda_0}\right]$,
      $\approx \log(1/\bar s_0)/(4\gamma)$ as $s_0 \to 0$ (S16, S App. F's $\tau_j$) — unbounded;
    * ``"sqr"``: $T = \frac{1}{2\gamma}\log\frac{1-\lambda_0^{1/2}}{1-\theta^{1/2}}$, bounded by
      $\log(1/(1-\theta^{1/2}))/(2\gamma)$ as $s_0 \to 0$ (S App. G.2);
    * ``"quartic"``: $T = \frac{1}{16\gamma}[F(\theta) - F(\lambda_0)]$,
      $F(\lambda) = \log\frac{\lambda}{1-\lambda} + \frac{1}{1-\lambda} + \frac{1}{2(1-\lambda)^2}$ (≈ log(1/s̄0)/(8γ));
    * ``"hinge"`` (θ < 1 − w = a): $T = \frac{1}{8\gamma a}\left[\log\frac{\theta}{a-\theta} - \log\frac{\lambda_0}{a-\lambda_0}\right]$.

    A mode that starts at or above θ has T = 0.  Needs γ_j > 0, s0_j ≠ 0, 0 < θ < 1 (θ < 1 − w for the hinge).

    Returns
    -------
    (d,) array of times (flow time t = lr × step).
    """
    modification = _check_modification(modification)
    eps, width = _check_eps_width(eps, width)
    gammas, s0 = _modes(gammas, s0)
    theta = check_positive(threshold, "threshold")
    top = 1 - width if modification == "hinge" else 1.0
    if not theta < top:
        raise ValueError(f"threshold must be in (0, {top:g}) (below the minimum of the '{modification}' loss), "
                         f"got {theta}")
    if np.any(gammas <= 0):
        raise ValueError("gammas must be > 0 (a mode with γ <= 0 never grows)")
    if np.any(s0 == 0):
        raise ValueError("s0 must be non-zero (s = 0 is a fixed point)")
    lam0 = gammas * s0**2
    lam = np.minimum(lam0, theta)
    # log λ from log γ + 2 log|s0|: γ s0² underflows to 0 for tiny inits (s0 = 1e-300), log λ does not
    log_lam = np.minimum(np.log(gammas) + 2 * np.log(np.abs(s0)), np.log(theta))

    def logit(x, a=1.0):
        log_x = log_lam if x is lam else np.log(x)
        return log_x - np.log(a - x)

    if modification in ("none", "smooth_min", "smooth_eps"):
        T = (logit(theta) - logit(lam)) / (8 * gammas)
    elif modification == "sqr":
        T = (np.log1p(-np.sqrt(lam)) - np.log1p(-np.sqrt(theta))) / (2 * gammas)
    elif modification == "quartic":
        def F(x):
            return logit(x) + 1 / (1 - x) + 1 / (2 * (1 - x) ** 2)
        T = (F(theta) - F(lam)) / (16 * gammas)
    else:
        a = 1 - width
        T = (logit(theta, a) - logit(lam, a)) / (8 * gammas * a)
    return np.where(lam0 >= theta, 0.0, T)


def local_stable_step(modification="none", *, eps=0.1) -> float:
    r"""Largest $h = \eta\gamma$ for which gradient descent is stable at the minimum $\bar s = 1$ (S App. G.3).

    Near the minimum the step map $\bar s \leftarrow \bar s - h\bar\ell'(\bar s)$ is piecewise linear with the
    one-sided curvatures $k_\mp = \bar\ell''(1^\mp)$.  A step from one side lands on the other when
    $h k > 1$; the two-step multiplier is $(1 - h k_-)(1 - h k_+)$, and $|\cdot| < 1$ gives

    $$h^* = \frac{1}{k_-} + \frac{1}{k_+} = \frac{2}{\mathrm{H}(k_-, k_+)}$$

    (H the harmonic mean; for a smooth minimum $k_- = k_+ = k$ and $h^* = 2/k$, the usual $\eta < 2/\ell''$).
    ``"none"``: $k = 8$, $h^* = 1/4$ — with γ = 1 the η < 1/4 of S App. G.3's example
    $L = (1 - s_1^2)^2 + (1 - 10^{-6}s_2^2)^2$; ``"sqr"``: $k = 2$, $h^* = 1$ (4× larger);
    ``"smooth_eps"``: $k_- = 8$, $k_+ = 8\varepsilon^2$, $h^* = (1 + \varepsilon^{-2})/8$;
    ``"smooth_min"``, ``"quartic"``, ``"hinge"``: a zero curvature, $h^* = \infty$ — their step is bounded by the
    landscape away from the minimum instead (:func:`max_stable_lr` with ``s0``).
    """
    modification = _check_modification(modification)
    eps = check_positive(eps, "eps", allow_zero=True)
    k_minus, k_plus = _CURVATURES[modification]
    if k_plus is None:
        k_plus = 8.0 * eps**2
    if k_minus == 0 or k_plus == 0:
        return float("inf")
    return 1.0 / k_minus + 1.0 / k_plus


def _distance_to_minima(sbar, modification, width):
    lam = sbar**2
    if modification == "smooth_min":
        return np.maximum(1 - lam, 0)
    if modification == "hinge":
        return np.maximum(np.abs(lam - 1) - width, 0)
    return np.abs(lam - 1)


def modewise_gd(sbar0, h, modification="none", n_steps=2000, *, eps=0.1, width=0.25) -> np.ndarray:
    r"""Gradient descent $\bar s \leftarrow \bar s - h\,\bar\ell'(\bar s)$ on the modewise landscape (S App. F–G).

    ``sbar0`` and ``h`` broadcast; returns the iterates (n_steps + 1, ...).  Iterates that leave
    $|\bar s| \le 10^{8}$ are set to inf (diverged) instead of overflowing.
    """
    modification = _check_modification(modification)
    eps, width = _check_eps_width(eps, width)
    n_steps = check_positive_int(n_steps, "n_steps")
    x = np.asarray(np.broadcast_arrays(as_array(sbar0, "sbar0"), as_array(h, "h"))[0], dtype=float).copy()
    h = np.broadcast_to(as_array(h, "h"), x.shape)
    out = np.empty((n_steps + 1,) + x.shape)
    out[0] = x
    one = np.ones_like(x)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(n_steps):
            x = np.where(np.abs(x) <= 1e8, x + h * _rhs(x, one, modification, eps, width), np.inf)
            x = np.where(np.isfinite(x), x, np.inf)
            out[k + 1] = x
    return out


def stable_trajectory(dist, axis=0) -> np.ndarray:
    r"""Whether a gradient-descent run is stable, from its distances to the set of minima (recorded in order).

    Stable: finite throughout, and either never moving away from the minima (a slow mode still approaching),
    or at round-off (< 1e-12) at the end, or shrinking — the largest distance over the last quarter of the
    records below 0.9 × the largest over the second quarter.  A run that diverges, settles on a cycle
    (S App. G.3's oscillation above the stable learning rate) or wanders chaotically is unstable.  The rule
    does not depend on how fast a run converges, so the sub-linear convergence of the flat minima
    (quartic: distance ∝ step^{-1/2}) counts as stable.
    """
    dist = np.moveaxis(np.asarray(dist, dtype=float), axis, 0)
    n = dist.shape[0]
    if n < 4:
        raise ValueError(f"dist must hold at least 4 records along axis {axis}, got {n}")
    with np.errstate(invalid="ignore"):
        finite = np.all(np.isfinite(dist), axis=0)
        approaching = np.all(np.diff(dist, axis=0) <= 0, axis=0)
        late = np.max(dist[3 * n // 4:], axis=0)
        early = np.max(dist[n // 4: n // 2], axis=0)
        shrinking = (dist[-1] < 1e-12) | (late < 0.9 * early)
    return finite & (approaching | shrinking)


def _stable(traj, modification, width):
    return stable_trajectory(_distance_to_minima(traj, modification, width))


def distance_to_minima(sbar, modification="none", *, width=0.25) -> np.ndarray:
    r"""Distance of $\lambda = \bar s^2$ to the set of minima of ℓ: $|\lambda - 1|$; ``"smooth_min"``
    $\max(1 - \lambda, 0)$ (every λ >= 1 is a minimum); ``"hinge"`` $\max(|\lambda - 1| - w, 0)$.

    The stability criterion of the learning rates of S App. G.3 (S Fig 9 C–D) is read from it
    (:func:`stable_trajectory` judges a run from these distances)."""
    modification = _check_modification(modification)
    width = check_positive(width, "width", allow_zero=True)
    return _distance_to_minima(as_array(sbar, "sbar", finite=False), modification, width)


def _global_stable_step(sbar0, modification, eps, width, n_steps):
    """Smallest h on a geometric grid at which GD from sbar0 fails (:func:`_stable`), refined by bisection."""
    grid = np.geomspace(1e-3, 1e3, 241)
    ok = _stable(modewise_gd(sbar0, grid, modification, n_steps, eps=eps, width=width), modification, width)
    if ok.all():
        return float("inf")
    first_bad = int(np.argmin(ok))
    if first_bad == 0:
        return 0.0
    lo, hi = grid[first_bad - 1], grid[first_bad]
    for _ in range(30):
        mid = np.sqrt(lo * hi)
        if _stable(modewise_gd(sbar0, mid, modification, n_steps, eps=eps, width=width), modification, width):
            lo = mid
        else:
            hi = mid
    return float(lo)


def max_stable_lr(gammas, modification="none", *, eps=0.1, width=0.25, s0=None, n_steps=3000) -> float:
    r"""Largest stable learning rate η of gradient descent $W \leftarrow W - \eta\nabla_W L$ (S App. G.3).

    * ``s0=None``: stability at the minimum.  Mode j has $h = \eta\gamma_j$, so
      $\eta^* = h^*/\gamma_{\max}$ with $h^*$ of :func:`local_stable_step`: ``"none"`` $1/(4\gamma_1)$ (the η < 1/4 of
      S App. G.3 for γ_1 = 1), ``"sqr"`` $1/\gamma_1$, ``"smooth_eps"`` $(1 + \varepsilon^{-2})/(8\gamma_1)$, and
      ∞ for the losses with a zero curvature (``"smooth_min"``, ``"quartic"``, ``"hinge"``).
    * ``s0`` given (initial singular values of the aligned modes): the largest η below which gradient
      descent of every mode from $\bar s_j(0) = \gamma_j^{1/2}s_{0,j}$ over ``n_steps`` steps is stable in the
      sense of :func:`stable_trajectory` (:func:`modewise_gd`; η scanned on a geometric grid of
      $h = \eta\gamma_j$, 1e-3 … 1e3, and refined by bisection: numerical, exact up to the scan).  This is
      what bounds the flat-minimum losses: from the growth side
      ($\bar s < 1$) a large step overshoots into the far wall, whose curvature grows away from the
      minimum ($\bar\ell'' = 56\bar s^6 + \dots$ for the quartic; $8(1 + w)$ at the hinge's far edge).
    For a general (non-aligned) W near the minimum the bound is not derived here; the spectral smoothing
    leaves the off-diagonal directions of W coupled to the eigenvalues through the kink of ℓ at λ = 1.

    Returns
    -------
    float (inf when no bound applies).
    """
    modification = _check_modification(modification)
    eps, width = _check_eps_width(eps, width)
    gammas = np.atleast_1d(as_array(gammas, "gammas", ndim=(0, 1)))
    if gammas.size == 0 or np.any(gammas <= 0):
        raise ValueError("gammas must be a non-empty array of eigenvalues > 0")
    if s0 is None:
        eta = local_stable_step(modification, eps=eps) / float(np.max(gammas))
    else:
        gammas, s0 = _modes(gammas, s0)
        eta = min(_global_stable_step(np.sqrt(g) * abs(s), modification, eps, width, n_steps) / g
                  for g, s in zip(gammas, s0))
    return float(eta)


__all__ = ["MODIFICATIONS", "distance_to_minima", "escape_time", "local_stable_step", "max_stable_lr", "modewise_gd", "modewise_loss",
           "modified_aligned_singular_values", "modified_modewise_rhs", "stable_trajectory"]
