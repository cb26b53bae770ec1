"""Linear algebra shared by the theory, the checks and the figures: one copy of each.

* **Spectra.**  :func:`eigh_descending` — eigenvalues of a symmetric matrix in descending order,
  eigenvectors as columns (the package's convention): Γ = Σ_j γ_j g_j g_j^T with γ_1 >= γ_2 >= …
  is how Simon et al. (2023) order the eigenpairs of the feature cross-correlation (S §4, the
  top-spectral solution of S Def 4.2) and of K_Γ (S §5.1).
* **Positive semi-definite matrices.**  :func:`check_psd` (a frozen kernel K of the
  function-space flow dF/dt = −K ∇_F L must be PSD, otherwise the flow ascends the loss along a
  negative eigenvector — Anil et al. (2024), Lemma 9; Esser et al. (2023), Prop 1; Simon et al.
  (2023), §5), :func:`psd_spectrum` (the retained spectrum of a PSD matrix), :func:`sqrt_psd`
  and :func:`inv_sqrt_psd` (K̃^{1/2} and the pseudo-inverse root (K̃^+)^{1/2} of S §5.1, S24,
  S42, S49).
* **Subspace alignment.**  :func:`subspace_alignment` a(A, B) = (1/z) ‖Q_A^T Q_B‖²_F between two
  column spans (S App. E; Esser et al. (2023) compare learned spans with eigenvector spans the same
  way).
* **Trend fits.**  :func:`loglog_slope` (:func:`loglog_fit` with the intercept) and :func:`loo_slopes`: where a theorem holds only
  asymptotically (width → ∞ in Anil et al. (2024) and Fleissner et al. (2025), ε → 0 in S Prop
  5.1c), a check gates the slope of log(error) against log(width) over a sweep, and the same slope
  with each point left out in turn (so that a trend cannot rest on one point).

Papers: J. B. Simon et al., "On the Stepwise Nature of Self-Supervised Learning", ICML 2023
(arXiv:2303.15438) (S); P. Esser, S. Mukherjee, D. Ghoshdastidar, "Representation Learning Dynamics of
Self-Supervised Models" (2023) (E); G. G. Anil, P. Esser, D. Ghoshdastidar, "When can we Approximate
Wide Contrastive Models with Neural Tangent Kernels and Principal Component Analysis?" (2024) (A);
M. Fleissner, G. G. Anil, D. Ghoshdastidar, "Infinite Width Limits of Self Supervised Neural Networks"
(PMLR 2025) (F).

All functions take NumPy or JAX arrays, validate them (a clear ``ValueError``/``TypeError`` naming the
argument: shape, symmetry, finiteness, rank, positivity) and return NumPy arrays.  Spectra and roots are
computed in the floating dtype of the input (float32 in → float32 out; integers → float64).
"""

from __future__ import annotations

import numpy as np

from ._validation import as_array, as_matrix, as_symmetric

__all__ = [
    "PSD_TOL", "check_cutoff", "check_psd", "eigh_descending", "inv_sqrt_psd", "loglog_fit", "loglog_slope", "loo_slopes",
    "psd_spectrum", "sqrt_psd", "subspace_alignment",
]

#: :func:`psd_spectrum`: an eigenvalue below −PSD_TOL · λ_max means the matrix is not positive
#: semi-definite; anything between that and the cut-off ``rtol`` · λ_max is round-off, treated as zero.
PSD_TOL = 1e-6


def _float_dtype(x):
    """The floating dtype of ``x`` (float32 stays float32); float64 for integers, lists and the rest."""
    dt = getattr(x, "dtype", None)
    if dt is not None and np.issubdtype(np.dtype(dt), np.floating) and np.dtype(dt).itemsize >= 4:
        return np.dtype(dt)
    return np.dtype(np.float64)


def _symmetric_in_dtype(S, name):
    dtype = _float_dtype(S)
    return as_symmetric(S, name).astype(dtype, copy=False), dtype


def check_cutoff(rtol, name: str = "rtol") -> float:
    r"""A relative eigenvalue cut-off: a real number in (0, 1) (0-d NumPy/JAX arrays accepted).

    The cut-off of the retained spectrum of a PSD matrix such as K̃ (S §5.1, S24, S42): eigenvalues below $\mathrm{rtol}\cdot\lambda_{\max}$ count as zero.
    """
    value = None
    if not isinstance(rtol, (bool, np.bool_)):
        try:
            value = float(np.asarray(rtol).item()) if np.ndim(rtol) == 0 else None
        except (TypeError, ValueError):
            value = None
    if value is None or not np.isfinite(value) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number in (0, 1), got {rtol!r}")
    return value


# ---------------------------------------------------------------------------------------------
# Spectra


def eigh_descending(S, name: str = "S"):
    """Eigen-decomposition S = Σ_j λ_j v_j v_j^T of a symmetric matrix, eigenvalues descending.

    The order of S Def 4.2 (γ_1 >= γ_2 >= … for Γ, and for K_Γ in S §5.1).  ``S`` must be square,
    finite and symmetric to 1e-8 relative (it is symmetrised before ``numpy.linalg.eigh``).

    Returns
    -------
    (eigenvalues (n,) descending, eigenvectors (n, n) with v_j in column j), in the dtype of ``S``.
    """
    S, _ = _symmetric_in_dtype(S, name)
    lam, V = np.linalg.eigh(S)
    return lam[::-1].copy(), V[:, ::-1].copy()


# ---------------------------------------------------------------------------------------------
# Positive semi-definite matrices


def check_psd(K, name: str = "K", *, rtol: float = 1e-8) -> None:
    """Raise ``ValueError`` naming ``name`` unless the symmetric matrix K (n, n) is positive semi-definite
    up to ``rtol`` · λ_max.

    A frozen kernel must be PSD for dF/dt = −K ∇_F L (S §5; A Lemma 9; E Prop 1) to descend the loss: along
    an eigenvector with a negative eigenvalue the flow ascends it.  A Gram matrix computed in float64 has
    eigenvalues down to about −n·eps·λ_max, far inside the default tolerance.  ``K`` must be square, finite
    and symmetric (to 1e-8 relative).  The test is a Cholesky factorisation of K + rtol·max|diag K|·I,
    which succeeds for every PSD K (n³/3 work); the eigenvalues are computed only to report a failure.
    """
    K = as_symmetric(K, name)
    rtol = float(rtol)
    scale = float(np.max(np.abs(np.diag(K)))) if K.size else 0.0
    if scale == 0.0:
        if np.any(K):
            raise ValueError(f"{name} must be positive semi-definite (a kernel Gram matrix), but its diagonal is 0 "
                             "while it has non-zero entries")
        return
    try:
        np.linalg.cholesky(K + rtol * scale * np.eye(K.shape[0]))
        return
    except np.linalg.LinAlgError:
        pass
    ev = np.linalg.eigvalsh(K)
    if ev[0] < -rtol * max(float(ev[-1]), scale):
        raise ValueError(f"{name} must be positive semi-definite (a kernel Gram matrix): its smallest eigenvalue is "
                         f"{ev[0]:.3g} (largest {ev[-1]:.3g}); the flow dF/dt = −K ∇L would ascend the loss there")


def psd_spectrum(K, name: str = "K", *, rtol: float = 1e-10):
    """The retained spectrum of a positive semi-definite matrix, K ≈ V diag(λ) V^T.

    Eigenvalues λ <= ``rtol`` · λ_max (round-off, or the exact zeros of a singular K̃ as S §5.1 treats
    them) are dropped; an eigenvalue below −:data:`PSD_TOL` · λ_max means K is not PSD and raises, and so
    does a K without a positive eigenvalue.  ``K``: square, finite, symmetric to 1e-8 relative.

    Returns
    -------
    (λ (r,) retained eigenvalues, descending; V (n, r) their eigenvectors as columns; λ_max), in the dtype
    of ``K``.
    """
    rtol = check_cutoff(rtol, "rtol")
    K, _ = _symmetric_in_dtype(K, name)
    lam, V = np.linalg.eigh(K)
    lam_max = float(lam[-1]) if lam.size else 0.0
    if not lam_max > 0:
        raise ValueError(f"{name} must be positive semi-definite with a positive eigenvalue, got largest "
                         f"eigenvalue {lam_max:.3g}")
    if lam[0] < -PSD_TOL * lam_max:
        raise ValueError(f"{name} must be positive semi-definite: smallest eigenvalue {lam[0]:.3g} is below "
                         f"-{PSD_TOL:g} x largest ({lam_max:.3g})")
    keep = lam > rtol * lam_max
    return lam[keep][::-1].copy(), V[:, keep][:, ::-1].copy(), lam_max


def sqrt_psd(K, rtol: float = 1e-10, *, name: str = "K") -> np.ndarray:
    """K^{1/2} = V diag(λ^{1/2}) V^T of a PSD matrix on the eigenspace retained by :func:`psd_spectrum`
    (K̃^{1/2} of S §5.1 and S49).  Raises unless K is PSD (eigenvalues >= −1e-6 λ_max)."""
    lam, V, _ = psd_spectrum(K, name, rtol=rtol)
    return (V * np.sqrt(lam)) @ V.T


def inv_sqrt_psd(K, rtol: float = 1e-10, *, name: str = "K") -> np.ndarray:
    """Pseudo-inverse square root (K^+)^{1/2} = V diag(λ^{-1/2}) V^T of a PSD matrix, as S §5.1 uses for a
    singular K̃ (S24, S42): eigenvalues λ <= rtol · λ_max are dropped (:func:`psd_spectrum`)."""
    lam, V, _ = psd_spectrum(K, name, rtol=rtol)
    return (V / np.sqrt(lam)) @ V.T


# ---------------------------------------------------------------------------------------------
# Subspace alignment


def subspace_alignment(A, B) -> float:
    """a(A, B) = (1/z) ‖Q_A^T Q_B‖²_F between the column spans of A and B (S App. E).

    ``A``, ``B``: real (d, z) matrices of one shape with 1 <= z <= d and full column rank (their column
    spans are what is compared — embeddings with rows = points, or bases Θ of E Thm 2).  Q_A, Q_B are
    orthonormal bases of those spans (left singular vectors).  S App. E writes the same quantity for the
    (d, N) row bases P, P' as (1/d) ‖P P'^T‖²_F.  The result lies in [0, 1]: 1 when the spans coincide,
    about z / d for unrelated random spans; it is invariant under any invertible z × z mixing of the
    columns (the rotation U of S24 in particular).  Rank is tested against NumPy's ``matrix_rank`` cut-off
    σ_min <= max(d, z) · eps · σ_max.
    """
    A, B = as_matrix(A, "A"), as_matrix(B, "B")
    if A.shape != B.shape:
        raise ValueError(f"A and B must have the same shape (d, z), got A {A.shape} and B {B.shape}")
    d, z = A.shape
    if not 1 <= z <= d:
        raise ValueError(f"A must have shape (d, z) with 1 <= z <= d (z columns spanning a subspace of R^d), "
                         f"got {A.shape}")
    bases = []
    for name, M in (("A", A), ("B", B)):
        U, s, _ = np.linalg.svd(M, full_matrices=False)
        if not s[0] > 0 or s[-1] <= max(M.shape) * np.finfo(float).eps * s[0]:
            raise ValueError(f"{name} must have full column rank (its column span is compared), got shape {M.shape} "
                             f"with singular values {np.array2string(s, precision=3)}")
        bases.append(U)
    QA, QB = bases
    return float(np.sum((QA.T @ QB) ** 2) / z)


# ---------------------------------------------------------------------------------------------
# Trend fits


def _trend_data(x, y, log_y, min_points):
    x = as_array(x, "x", ndim=1)
    y = as_array(y, "y", ndim=1)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.shape[0]} and {y.shape[0]}")
    if x.size < min_points:
        raise ValueError(f"x must hold at least {min_points} points for this fit, got {x.size}")
    if np.any(x <= 0):
        raise ValueError(f"x must be positive (its logarithm is fitted), got min {x.min():.3g}")
    if log_y and np.any(y <= 0):
        raise ValueError(f"y must be positive (its logarithm is fitted), got min {y.min():.3g}")
    lx = np.log(x)
    if np.ptp(lx) == 0:
        raise ValueError("x must hold at least two distinct values (a slope needs a spread in x)")
    return lx, np.log(y) if log_y else y


def _slope(lx, v):
    lx = lx - lx.mean()
    return float(np.dot(lx, v - v.mean()) / np.dot(lx, lx))


def loglog_fit(x, y, *, log_y: bool = True) -> tuple[float, float]:
    r"""Least-squares line log y = a + b log x (or y = a + b log x with ``log_y=False``): returns (b, a).

    The trend fits of the width sweeps (A Thm 13, A Lemma 16, F Thm 1): $\log y = a + b \log x$ by least squares.

    The fitted line of a figure's trend panel, y = e^a x^b; :func:`loglog_slope` returns b alone.
    ``x``, ``y`` as there.
    """
    lx, v = _trend_data(x, y, log_y, 2)
    b = _slope(lx, v)
    return b, float(v.mean() - b * lx.mean())


def loglog_slope(x, y, *, log_y: bool = True) -> float:
    """Least-squares slope b of log y = a + b log x (or of y = a + b log x with ``log_y=False``).

    The rate of an asymptotic statement: an error O(M^{-1/2}) in the width M has slope −1/2 (A Thm 1,
    F), a distance O(ε) has slope 1 (S Prop 5.1c).  ``x`` (k,) positive, at least two distinct values;
    ``y`` (k,) positive when its logarithm is taken; both finite.
    """
    lx, v = _trend_data(x, y, log_y, 2)
    return _slope(lx, v)


def loo_slopes(x, y, log_y: bool = True) -> list[float]:
    r"""The :func:`loglog_slope` of the k − 1 remaining points with each point left out in turn: (k,) slopes.

    The leave-one-out gates of the asymptotic checks (A Lemma 9, A Lemma 17, S Fig 2): slope $b_{-i}$ of $\log y$ on $\log x$ without point $i$.

    A trend gate on every leave-one-out slope fails when the fitted rate rests on a single point of the
    sweep.  ``x``, ``y`` as in :func:`loglog_slope`, at least three points.
    """
    lx, v = _trend_data(x, y, log_y, 3)
    out = []
    for i in range(lx.size):
        lxi, vi = np.delete(lx, i), np.delete(v, i)
        if np.ptp(lxi) == 0:
            raise ValueError(f"x without point {i} has a single distinct value: its leave-one-out slope is undefined")
        out.append(_slope(lxi, vi))
    return out
