"""Kernelised Barlow Twins (S §5, App. B, App. E).

J. B. Simon, M. Knutins, L. Ziyin, D. Geisz, A. J. Fetterman, J. Albrecht, "On the Stepwise Nature of
Self-Supervised Learning", ICML 2023 (arXiv:2303.15438), "S"; equation numbers S1–S48 are the paper's.

A model that is linear in fixed features φ(x) — a kernel machine, a random-feature model, an
infinite-width network under its NTK — is the linear model of S §3–4 with x replaced by φ(x).
Everything the linear theory needs can be written with kernel values 𝒦(a, b) = φ(a)^T φ(b) only.

Notation (rows of data matrices are points; Φ = [X; X'] stacks the features of both views):

    K̃   = [[K_𝒳𝒳, K_𝒳𝒳'], [K_𝒳'𝒳, K_𝒳'𝒳']] = Φ Φ^T                    (2n x 2n, S22)
    Z   = (1/2n) (B + B^T),  B = [K_𝒳𝒳'; K_𝒳'𝒳'] [K_𝒳𝒳, K_𝒳𝒳'] = Φ Γ Φ^T    (S23)
    K_Γ = K̃^{-1/2} Z K̃^{-1/2}, eigenpairs (γ_j, b_j), γ_1 >= γ_2 >= ...   (S §5.1)
    f(x) = U S̃ [b_1 … b_d]^T K̃^{-1/2} [K_{x𝒳}, K_{x𝒳'}]^T,  S̃ = diag(γ_j^{-1/2})   (S24)

Numerically stable forms used internally (*derived here*, checked in the tests against the
literal ones).  With J = [[0, I_n], [I_n, 0]] the swap of the two views, Γ = Φ^T J Φ / 2n, so

    Z   = K̃ J K̃ / 2n                      and   K_Γ = K̃^{1/2} J K̃^{1/2} / 2n,

which needs no inverse of K̃ (kernels such as the RBF have eigenvalues down to round-off, and
K̃^{-1/2} would amplify that round-off).  From K_Γ b_j = γ_j b_j it follows that
K̃^{-1/2} b_j = J K̃^{1/2} b_j / (2n γ_j), hence the inverse-free form of S24

    f(x) = U S̃³ [b_1 … b_d]^T K̃^{1/2} J [K_{x𝒳}, K_{x𝒳'}]^T / 2n,

which equals S24 exactly for explicit features (it is f(x) = U S̃ Λ^{-1} G_d^T Γ φ(x) with
G_d = [g_1 … g_d] the eigenvectors of Γ).  The dual eigenvectors satisfy g_j = Φ^T K̃^{-1/2} b_j
(S33), so everything about a W whose rows are combinations of the g_j is visible in kernel values;
in particular the small-init prediction (S40–S42) needs only W(0) g_j = F(0)^T K̃^{-1/2} b_j,
F(0) = Φ W(0)^T, which holds for *any* W(0) (not only W(0) in the span of the data) because each
g_j with γ_j ≠ 0 lies in the row space of Φ.

Public pieces:

* kernel matrices: :func:`joint_kernel` (S22), :func:`z_matrix` (S23), :func:`kernel_gamma` (K_Γ),
  :func:`resolve_kernel` (named kernels or a callable); the PSD roots :func:`sqrt_psd` and
  :func:`inv_sqrt_psd` are :mod:`dynamics.linalg`'s, re-exported here;
* :class:`KernelBarlowTwins`: scikit-learn style estimator for the top-spectral solution (S24, S49);
* :func:`barlow_twins_predict`: neural-tangents style factory for the small-init trajectory
  (S40–S42), eigendecomposition cached once;
* :func:`barlow_twins_flow`: the kernel gradient flow dF/dt = −K̃ ∇_F L of the Barlow Twins loss
  integrated numerically (the exact dynamics that S40–S42 approximate from small init), a call of the
  generic :func:`dynamics.flows.function_space_flow`;
* :func:`subspace_alignment` (App. E), :mod:`dynamics.linalg`'s, re-exported here.

Simon et al. (2023), "On the Stepwise Nature of Self-Supervised Learning", ICML 2023
(arXiv:2303.15438); the equation numbers S22–S49 are theirs.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from . import flows
from ._integrate import DEFAULT_BACKEND, DEFAULT_MAX_STEPS, DEFAULT_RTOL, DEFAULT_SOLVER
from ._validation import (as_array, as_matrix, as_symmetric, as_times, check_choice, check_pairs, check_positive,
                          check_positive_int)
from .linalg import PSD_TOL, check_cutoff, eigh_descending, inv_sqrt_psd, psd_spectrum, sqrt_psd, subspace_alignment

__all__ = [
    "KERNEL_NAMES", "BarlowTwinsPredictor", "KernelBarlowTwins", "barlow_twins_flow", "barlow_twins_predict",
    "inv_sqrt_psd", "joint_kernel", "kernel_gamma", "linear_kernel", "rbf_kernel", "resolve_kernel",
    "sqrt_psd", "subspace_alignment", "z_matrix",
]

# eigen_solver choices; "auto" uses "top" above this many training points (2n) when d < 2n / 10.
EIGEN_SOLVERS = ("auto", "dense", "top")
AUTO_TOP_MIN_SIZE = 1000


# ---------------------------------------------------------------------------------------------
# Kernel functions


def linear_kernel(a, b) -> np.ndarray:
    """𝒦(a, b) = a · b, the kernel of the explicit linear model (S §3).  a: (N1, m), b: (N2, m)."""
    a, b = _check_kernel_inputs(a, b)
    return a @ b.T


def rbf_kernel(a, b, gamma=None) -> np.ndarray:
    r"""𝒦(a, b) = exp(−γ ‖a − b‖²); ``gamma`` defaults to 1 / m (scikit-learn's default).

    One of the kernels 𝒦 of kernel Barlow Twins (S §5, S22): $\mathcal{K}(a, b) = e^{-\gamma \|a - b\|^2}$.
    """
    a, b = _check_kernel_inputs(a, b)
    if gamma is None:
        gamma = 1.0 / a.shape[1]
    try:
        gamma = check_positive(gamma, "gamma")  # also a 0-d NumPy/JAX array
    except (TypeError, ValueError):
        raise ValueError(f"gamma must be a finite number > 0 (or None for 1/m), got {gamma!r}") from None
    K = a @ b.T  # ‖a − b‖² = ‖a‖² + ‖b‖² − 2 a·b, then exp, all in place (large Gram matrices)
    K *= -2.0
    K += np.einsum("ij,ij->i", a, a)[:, None]
    K += np.einsum("ij,ij->i", b, b)[None, :]
    np.maximum(K, 0.0, out=K)
    K *= -float(gamma)
    return np.exp(K, out=K)


def _check_kernel_inputs(a, b):
    a = as_matrix(a, "a")
    b = as_matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same number of features, got {a.shape[1]} and {b.shape[1]}")
    return a, b


def _ntk(activation):
    def kernel(a, b):
        try:
            ntk = importlib.import_module("dynamics.ntk")
        except ImportError as exc:  # pragma: no cover - depends on the installed package
            raise ImportError(f"kernel 'ntk-{activation}' needs dynamics.ntk.analytic_ntk, which is not "
                              "available") from exc
        return np.asarray(ntk.analytic_ntk(a, b, activation), dtype=np.float64)

    kernel.__name__ = f"ntk_{activation}"
    kernel.__doc__ = f"Infinite-width NTK of the two-layer {activation} network (dynamics.ntk.analytic_ntk)."
    return kernel


_NAMED = {
    "linear": lambda **kw: _with_params(linear_kernel, kw, allowed=()),
    "rbf": lambda **kw: _with_params(rbf_kernel, kw, allowed=("gamma",)),
    "ntk-relu": lambda **kw: _with_params(_ntk("relu"), kw, allowed=()),
    "ntk-erf": lambda **kw: _with_params(_ntk("erf"), kw, allowed=()),
    "ntk-tanh": lambda **kw: _with_params(_ntk("tanh"), kw, allowed=()),
    "ntk-linear": lambda **kw: _with_params(_ntk("linear"), kw, allowed=()),
}
KERNEL_NAMES = tuple(_NAMED)


def _with_params(func, params, allowed):
    params = {k: v for k, v in params.items() if v is not None}
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"kernel {func.__name__!r} takes parameters {list(allowed)}, got unexpected {unknown}")
    if not params:
        return func
    return lambda a, b: func(a, b, **params)


def resolve_kernel(kernel, **params):
    """A callable k(a, b) -> (N1, N2) Gram matrix for ``kernel``.

    The kernel 𝒦 of kernel Barlow Twins (S §5, S22–S23).

    ``kernel`` is one of :data:`KERNEL_NAMES` ("linear", "rbf" with parameter ``gamma``,
    "ntk-relu", "ntk-erf", "ntk-tanh", "ntk-linear" — the NTKs come from
    ``dynamics.ntk.analytic_ntk``, imported only when used) or any callable k(a, b); keyword
    parameters are bound to it.  Parameters set to None are ignored.
    """
    if callable(kernel):
        params = {k: v for k, v in params.items() if v is not None}
        return (lambda a, b: kernel(a, b, **params)) if params else kernel
    if not isinstance(kernel, str):
        raise TypeError(f"kernel must be a name or a callable k(a, b), got {type(kernel).__name__}")
    if kernel not in _NAMED:
        raise ValueError(f"kernel must be one of {list(KERNEL_NAMES)} or a callable k(a, b), got {kernel!r}")
    if kernel.startswith("ntk-"):
        try:
            importlib.import_module("dynamics.ntk")
        except ImportError as exc:
            raise ImportError(f"kernel {kernel!r} needs dynamics.ntk.analytic_ntk, which could not be "
                              "imported") from exc
    return _NAMED[kernel](**params)


def _gram(kernel_fn, a, b, name):
    K = kernel_fn(a, b)
    K = as_array(K, name, ndim=2)
    if K.shape != (a.shape[0], b.shape[0]):
        raise ValueError(f"kernel returned {name} of shape {K.shape}, expected ({a.shape[0]}, {b.shape[0]})")
    return K


# ---------------------------------------------------------------------------------------------
# Kernel matrices (S22, S23, K_Γ)


def _check_blocks(K_xx, K_xxp, K_xpxp):
    K_xx = as_symmetric(K_xx, "K_xx")
    K_xpxp = as_symmetric(K_xpxp, "K_xpxp")
    K_xxp = as_matrix(K_xxp, "K_xxp")
    n = K_xx.shape[0]
    if K_xpxp.shape != (n, n) or K_xxp.shape != (n, n):
        raise ValueError(f"K_xx, K_xxp and K_xpxp must all be (n, n); got {K_xx.shape}, {K_xxp.shape}, {K_xpxp.shape}")
    return K_xx, K_xxp, K_xpxp


def joint_kernel(K_xx, K_xxp, K_xpxp) -> np.ndarray:
    r"""K̃ = [[K_𝒳𝒳, K_𝒳𝒳'], [K_𝒳'𝒳, K_𝒳'𝒳']], the kernel on the combined data 𝒳 ∪ 𝒳' (S22).

    S22: $\tilde K = \begin{pmatrix} K_{\mathcal{X}\mathcal{X}} & K_{\mathcal{X}\mathcal{X}'} \\ K_{\mathcal{X}'\mathcal{X}} & K_{\mathcal{X}'\mathcal{X}'} \end{pmatrix}$.

    ``K_xxp[i, j] = 𝒦(x_i, x'_j)``; the lower-left block is its transpose.  Returns (2n, 2n).
    """
    K_xx, K_xxp, K_xpxp = _check_blocks(K_xx, K_xxp, K_xpxp)
    return np.block([[K_xx, K_xxp], [K_xxp.T, K_xpxp]])


def z_matrix(K_xx, K_xxp, K_xpxp) -> np.ndarray:
    r"""Z = (1/2n) ``[[K_𝒳𝒳' K_𝒳𝒳, K_𝒳𝒳'²], [K_𝒳'𝒳' K_𝒳𝒳, K_𝒳'𝒳' K_𝒳𝒳']]`` + transpose (S23).

    S23:

    $$Z = \frac{1}{2n}\begin{pmatrix} K_{\mathcal{X}\mathcal{X}'} K_{\mathcal{X}\mathcal{X}} & K_{\mathcal{X}\mathcal{X}'}^2 \\
    K_{\mathcal{X}'\mathcal{X}'} K_{\mathcal{X}\mathcal{X}} & K_{\mathcal{X}'\mathcal{X}'} K_{\mathcal{X}\mathcal{X}'} \end{pmatrix} + (\cdot)^\top$$

    Written literally as in the paper.  For explicit features Z = Φ Γ Φ^T with Φ = [X; X']
    (S37), i.e. the block matrix is ``B = [K_𝒳𝒳'; K_𝒳'𝒳'] [K_𝒳𝒳, K_𝒳𝒳']``.  Returns (2n, 2n).
    """
    K_xx, K_xxp, K_xpxp = _check_blocks(K_xx, K_xxp, K_xpxp)
    n = K_xx.shape[0]
    B = np.block([[K_xxp @ K_xx, K_xxp @ K_xxp], [K_xpxp @ K_xx, K_xpxp @ K_xxp]])
    return (B + B.T) / (2 * n)


def kernel_gamma(K_tilde, Z, rtol: float = 1e-10) -> np.ndarray:
    r"""K_Γ = K̃^{-1/2} Z K̃^{-1/2}, the kernelised feature cross-correlation (S §5.1).

    S §5.1: $K_\Gamma = \tilde K^{-1/2}\, Z\, \tilde K^{-1/2}$.

    The literal form, with the pseudo-inverse square root of :func:`inv_sqrt_psd`.  Its non-zero
    eigenvalues are those of Γ (Prop 5.1a).  :class:`KernelBarlowTwins` uses the equivalent
    inverse-free form K̃^{1/2} J K̃^{1/2} / 2n (module docstring).  Returns (2n, 2n).
    """
    K_inv_sqrt = inv_sqrt_psd(K_tilde, rtol)
    Z = as_symmetric(Z, "Z")
    if Z.shape != K_inv_sqrt.shape:
        raise ValueError(f"Z must have the shape of K_tilde {K_inv_sqrt.shape}, got {Z.shape}")
    KG = K_inv_sqrt @ Z @ K_inv_sqrt
    return 0.5 * (KG + KG.T)


def _swap_views(M):
    """J M with J = [[0, I], [I, 0]]: exchanges the 𝒳 and 𝒳' halves of the rows of M."""
    n = M.shape[0] // 2
    return np.concatenate([M[n:], M[:n]], axis=0)


def _check_joint(K_tilde, name="K_tilde"):
    K_tilde = as_symmetric(K_tilde, name)
    if K_tilde.shape[0] % 2 or K_tilde.shape[0] == 0:
        raise ValueError(f"{name} must be (2n, 2n) with rows ordered [𝒳; 𝒳'], got shape {K_tilde.shape}")
    return K_tilde


class _JointSpectrum:
    """Everything S §5 derives from K̃ and d: the top eigenpairs (γ_j, b_j) of K_Γ and the maps built on them.

    Two solvers give the same quantities:

    * ``"dense"``: one eigendecomposition of K̃ gives K̃^{±1/2}; K_Γ = K̃^{1/2} J K̃^{1/2} / 2n is then
      diagonalised fully (all 2n eigenvalues, ``n_positive``).  O((2n)³) with a large constant.
    * ``"top"``: block Lanczos for the top d eigenpairs without any factorisation of K̃
      (:func:`_top_eigenpairs`).  Substituting b = K̃^{1/2} v in K_Γ b = γ b gives the eigenproblem
      J K̃ v = 2n γ v, and J K̃ is self-adjoint in the K̃ inner product ⟨u, v⟩_K̃ = u^T K̃ v (since
      K̃ J K̃ is symmetric).  Each iteration costs one product K̃ V with a block V of vectors.  With
      ‖v‖_K̃ = 1 (i.e. ‖b‖ = 1) the train embeddings per unit s_j are K̃^{1/2} b_j = K̃ v_j.

    Either way ``K_sqrt_B`` = K̃^{1/2} B (S49) and ``test_map`` = J K̃^{1/2} B / (2n γ) (= K̃^{-1/2} B,
    module docstring) are computed at construction; K̃^{±1/2}, K_Γ, B itself and the literal S42
    map K̃^{-1/2} B are computed on first use (for ``"top"`` that costs one eigendecomposition of K̃).
    """

    def __init__(self, K_tilde, n_components, rtol, eigen_solver="dense"):
        self.K_tilde = K_tilde = _check_joint(K_tilde)
        two_n = K_tilde.shape[0]
        self.n = two_n // 2
        self.rtol = rtol
        d = check_positive_int(n_components, "n_components")
        if d > two_n:
            raise ValueError(f"n_components must be <= 2n = {two_n} (number of training points), got {d}")
        self.eigen_solver = eigen_solver = _resolve_solver(eigen_solver, two_n, d)
        if eigen_solver == "dense":
            self._decompose_k_tilde()
            KG = self.K_sqrt @ _swap_views(self.K_sqrt) / two_n
            self.K_gamma = KG = 0.5 * (KG + KG.T)
            lam_max = self._lam_max
            g, b = eigh_descending(KG, "K_gamma")
            self.eigenvalues = g
            # ‖K_Γ‖ <= λ_max(K̃) / 2n since ‖J‖ = 1: the scale below which an eigenvalue of K_Γ is round-off.
            self.zero_cutoff = rtol * lam_max / two_n
            self.n_positive = int(np.sum(g > self.zero_cutoff))
            self._check_positive(g, d)
            b_d = b[:, :d]
            K_sqrt_B = self.K_sqrt @ b_d
        else:
            found = _top_eigenpairs(K_tilde, d, rtol)
            if found is None:
                warnings.warn("eigen_solver='top' did not converge; falling back to 'dense'", RuntimeWarning,
                              stacklevel=3)
                self.eigen_solver = "dense"
                self.__init__(K_tilde, d, rtol, "dense")
                return
            g, K_sqrt_B, lam_max = found
            self.eigenvalues = g
            self.n_positive = None
            self.zero_cutoff = rtol * lam_max / two_n
            self._check_positive(g, d)
        self.d = d
        self.gammas = g[:d].copy()
        # Fix the sign of each component (largest train embedding positive) so that repeated fits, and
        # the two solvers, give identical output.
        flip = np.where(K_sqrt_B[np.argmax(np.abs(K_sqrt_B), 0), np.arange(d)] < 0, -1.0, 1.0)
        self.K_sqrt_B = K_sqrt_B * flip  # Φ g_j = K̃^{1/2} b_j: train embeddings per unit s_j (S49)
        if eigen_solver == "dense":
            self.B = b_d * flip
        # K̃^{-1/2} b_j = J K̃^{1/2} b_j / (2n γ_j): maps K(x, data) to G_d^T φ(x) without an inverse.
        self.test_map = _swap_views(self.K_sqrt_B) / (two_n * self.gammas[None, :])

    def _check_positive(self, g, d):
        if g[d - 1] <= self.zero_cutoff:
            count = self.n_positive if self.n_positive is not None else int(np.sum(g > self.zero_cutoff))
            raise ValueError(
                f"n_components={d} exceeds the number of positive eigenvalues of K_Γ ({count}, above the "
                f"cutoff {self.zero_cutoff:.3g}); the top-spectral solution needs γ_1..γ_d > 0 (S Def 4.2)"
            )

    def _decompose_k_tilde(self):
        if "K_sqrt" in self.__dict__:
            return
        lam, V, self._lam_max = psd_spectrum(self.K_tilde, "K_tilde", rtol=self.rtol)
        self.K_sqrt = (V * np.sqrt(lam)) @ V.T
        self.K_inv_sqrt = (V / np.sqrt(lam)) @ V.T

    def __getattr__(self, name):
        # Lazily computed pieces (only reached when the attribute is not set yet).
        if name in ("K_sqrt", "K_inv_sqrt"):
            self._decompose_k_tilde()
            return self.__dict__[name]
        if name == "K_gamma":
            KG = self.K_sqrt @ _swap_views(self.K_sqrt) / (2 * self.n)
            self.K_gamma = 0.5 * (KG + KG.T)
            return self.K_gamma
        if name == "B":
            # b_j = K̃^{1/2} v_j, and K̃^{1/2} (J K̃^{1/2} b_j / 2nγ_j) = K_Γ b_j / γ_j = b_j.
            self.B = self.K_sqrt @ self.test_map
            return self.B
        if name == "init_map":
            self.init_map = self.K_inv_sqrt @ self.B  # K̃^{-1/2} B, as S42 writes it
            return self.init_map
        raise AttributeError(name)


def _resolve_solver(eigen_solver, two_n, d):
    """"auto" picks "top" for large problems with few components (as scikit-learn's KernelPCA does)."""
    check_choice(eigen_solver, "eigen_solver", set(EIGEN_SOLVERS))
    if eigen_solver == "auto":
        return "top" if two_n > AUTO_TOP_MIN_SIZE and d < two_n // 10 else "dense"
    return eigen_solver


def _top_eigenpairs(K_tilde, d, rtol, *, tol=1e-12, max_dim=None, seed=0):
    """Top d eigenpairs of K_Γ from block Lanczos on J K̃ in the K̃ inner product (no factorisation of K̃).

    Builds a K̃-orthonormal basis V of the block Krylov space of J K̃ (U = K̃ V kept alongside, full
    re-orthogonalisation, two passes), takes Ritz pairs of the symmetric projection
    H = V^T K̃ (J K̃) V / 2n = U^T J U / 2n, and stops when every top-d Ritz pair (γ, v) has residual
    ‖J K̃ v / 2n − γ v‖_K̃ <= tol · γ_1.  Directions whose K̃-norm² is below rtol · λ_max(K̃) per unit
    length (the null space of a singular K̃, as the dense path drops them) are discarded; a clearly
    negative K̃-norm² means K̃ is not positive semi-definite.

    Returns (γ (d,), K̃ v (2n, d) — that is K̃^{1/2} b_j —, λ_max(K̃) estimate from the Krylov
    space), or None if the Krylov space reached ``max_dim`` without convergence.
    """
    two_n = K_tilde.shape[0]
    p = min(max(d + 6, 8), two_n)
    max_dim = min(two_n, max_dim or max(60 * p, 600))
    W = np.random.default_rng(seed).standard_normal((two_n, p))
    KW = K_tilde @ W
    # λ_max(K̃) estimate: the largest Rayleigh quotient u^T K̃ u / |u|^2 seen (a lower bound that the
    # Krylov space sharpens); only thresholds at the rtol level depend on it.
    lam_max = float(np.max(np.sum(W * KW, axis=0) / np.sum(W * W, axis=0)))
    if lam_max <= 0:
        raise ValueError(f"K_tilde must be positive semi-definite with a positive eigenvalue, got Rayleigh "
                         f"quotient {lam_max:.3g}")
    Vs, Us, Ps = [], [], []  # blocks of V, U = K̃ V and P = K̃ J U (the last gives the residuals)
    while True:
        for _ in range(2):  # classical Gram-Schmidt, twice, in the K̃ inner product
            for V, U in zip(Vs, Us):
                C = V.T @ KW
                W -= V @ C
                KW -= U @ C
        s, Q = np.linalg.eigh(0.5 * (W.T @ KW + KW.T @ W))
        scale = lam_max * float(np.max(np.sum(W * W, axis=0)))
        if s[0] < -PSD_TOL * scale:
            raise ValueError(f"K_tilde must be positive semi-definite: found u with u^T K_tilde u = {s[0]:.3g}, "
                             f"below -{PSD_TOL:g} x largest eigenvalue x |u|^2 = {-PSD_TOL * scale:.3g}")
        keep = s > rtol * scale
        if keep.any():
            Qk = Q[:, keep] / np.sqrt(s[keep])
            Vs.append(W @ Qk)
            Us.append(KW @ Qk)
            Ps.append(K_tilde @ _swap_views(Us[-1]))
        U, V, P = (np.concatenate(b, axis=1) for b in (Us, Vs, Ps))
        # max over span(V) of u^T K̃ u / |u|^2 = 1 / λ_min(V^T V), since V^T K̃ V = I
        lam_max = max(lam_max, 1.0 / float(np.linalg.eigvalsh(V.T @ V)[0]))
        gam, Y = eigh_descending(U.T @ _swap_views(U) / two_n, "U^T J U / 2n")
        k = min(d, gam.size)
        gam, Y = gam[:k], Y[:, :k]
        if not keep.any():  # the Krylov space is invariant under J K̃: the Ritz pairs are exact
            if k < d:  # K̃ has rank < d: pad with zero eigenvalues (rejected by the caller)
                gam = np.concatenate([gam, np.zeros(d - k)])
                Y = np.concatenate([Y, np.zeros((Y.shape[0], d - k))], axis=1)
            return gam, U @ Y, lam_max
        if k == d:
            R = _swap_views(U @ Y) / two_n - (V @ Y) * gam  # J K̃ v / 2n − γ v
            KR = P @ Y / two_n - (U @ Y) * gam  # K̃ R
            res = np.sqrt(np.maximum(np.sum(R * KR, axis=0), 0.0))
            if np.all(res <= tol * max(gam[0], 1e-300)):
                return gam, U @ Y, lam_max
        if U.shape[1] >= max_dim:
            return None
        W = _swap_views(Us[-1])  # J K̃ V_last: the next block of the Krylov space
        KW = Ps[-1].copy()


# ---------------------------------------------------------------------------------------------
# Estimator


class KernelBarlowTwins(BaseEstimator):
    """Top-spectral Barlow Twins embeddings of a kernel machine (S Prop 5.1, S24, S49).

    Fitting computes the joint kernel K̃ on [𝒳; 𝒳'] (S22), K_Γ (S §5.1, inverse-free form, see the
    module docstring) and its top ``n_components`` eigenpairs (γ_j, b_j); ``transform`` evaluates
    S24 with U = I,

        f(x) = S̃ [b_1 … b_d]^T K̃^{-1/2} [K_{x𝒳}, K_{x𝒳'}]^T,   S̃ = diag(γ_j^{-1/2}).

    These are the embeddings of minimal RKHS norm with zero Barlow Twins loss (Prop 5.1c), and the
    t → ∞ limit of training from small initialisation (up to the rotation U).

    Parameters
    ----------
    n_components : int
        Embedding dimension d; needs γ_d > 0.
    kernel : str or callable, default "linear"
        One of :data:`KERNEL_NAMES` or a callable k(a, b) -> (len(a), len(b)) Gram matrix.
    gamma : float or None
        Width of the "rbf" kernel (None: 1 / m).
    kernel_params : dict or None
        Further keyword arguments for the kernel (callables included).
    rtol : float, default 1e-10
        Relative cutoff: eigenvalues of K̃ below rtol · λ_max are treated as zero (pseudo-inverse of
        S §5.1), and eigenvalues of K_Γ below rtol · λ_max(K̃) / 2n count as non-positive.
    eigen_solver : {"auto", "dense", "top"}, default "auto"
        "dense" diagonalises K̃ and K_Γ fully (``eigenvalues_`` holds the whole spectrum of K_Γ);
        "top" finds only the top ``n_components`` eigenpairs by block Lanczos on J K̃ in the K̃
        inner product, with no factorisation of K̃ (``eigenvalues_`` then holds just those,
        ``n_positive_`` is None; K̃^{-1/2}, K_Γ and the b_j are computed on first access).  "auto":
        "top" when 2n > 1000 and n_components < 2n / 10, else "dense" (as KernelPCA chooses arpack).

    Attributes
    ----------
    X_fit_, Xp_fit_ : (n, m) training views.      n_features_in_ : m.
    K_tilde_ : (2n, 2n) joint kernel K̃ (S22).     K_tilde_inv_sqrt_ : (2n, 2n) pseudo-inverse root.
    K_gamma_ : (2n, 2n) K_Γ.                      eigenvalues_ : eigenvalues of K_Γ, descending.
    gammas_ : (d,) γ_1 >= … >= γ_d > 0.           eigenvectors_ : (2n, d) [b_1 … b_d] (S's b_j).
    n_positive_ : number of eigenvalues of K_Γ above the cutoff (None when the "top" solver ran).
    dual_coef_ : (2n, d) with f(x) = K(x, [𝒳; 𝒳']) @ dual_coef_, i.e. K̃^{-1/2} B S̃.
    train_embeddings_ : (2n, d) f on [𝒳; 𝒳'], = K̃^{1/2} B S̃ (S49, transposed: rows are points).
    """

    def __init__(self, n_components, kernel="linear", *, gamma=None, kernel_params=None, rtol=1e-10,
                 eigen_solver="auto"):
        self.n_components = n_components
        self.kernel = kernel
        self.gamma = gamma
        self.kernel_params = kernel_params
        self.rtol = rtol
        self.eigen_solver = eigen_solver

    def _kernel_fn(self):
        params = dict(self.kernel_params or {})
        if self.gamma is not None:
            params["gamma"] = self.gamma
        return resolve_kernel(self.kernel, **params)

    def fit(self, x, x_prime):
        """Fit on n positive pairs: ``x[i]`` and ``x_prime[i]`` are the two views of pair i.  Returns self."""
        check_positive_int(self.n_components, "n_components")
        check_choice(self.eigen_solver, "eigen_solver", set(EIGEN_SOLVERS))
        check_cutoff(self.rtol, "rtol")
        x, x_prime = check_pairs(x, x_prime)
        kernel_fn = self._kernel_fn()
        both = np.concatenate([x, x_prime], axis=0)
        K_tilde = _gram(kernel_fn, both, both, "K_tilde")
        spec = _JointSpectrum(K_tilde, self.n_components, self.rtol, self.eigen_solver)
        self._set_fitted(spec, x, x_prime, kernel_fn)
        return self

    def _set_fitted(self, spec, x, x_prime, kernel_fn):
        s_tilde = spec.gammas ** -0.5
        self.X_fit_, self.Xp_fit_ = x, x_prime
        self.n_features_in_ = x.shape[1]
        self.K_tilde_ = spec.K_tilde
        self.eigenvalues_ = spec.eigenvalues
        self.n_positive_ = spec.n_positive
        self.gammas_ = spec.gammas
        self.dual_coef_ = spec.test_map * s_tilde[None, :]
        self.train_embeddings_ = spec.K_sqrt_B * s_tilde[None, :]
        self._spectrum = spec
        self._kernel_fn_ = kernel_fn

    # Pieces that the "top" solver does not need are computed on first access.
    @property
    def K_tilde_inv_sqrt_(self) -> np.ndarray:
        """(2n, 2n) pseudo-inverse square root of K̃ (S §5.1)."""
        self._check_fitted()
        return self._spectrum.K_inv_sqrt

    @property
    def K_gamma_(self) -> np.ndarray:
        """(2n, 2n) K_Γ = K̃^{1/2} J K̃^{1/2} / 2n."""
        self._check_fitted()
        return self._spectrum.K_gamma

    @property
    def eigenvectors_(self) -> np.ndarray:
        """(2n, d) [b_1 … b_d], the top eigenvectors of K_Γ (S's b_j)."""
        self._check_fitted()
        return self._spectrum.B

    def _check_fitted(self):
        if "dual_coef_" not in self.__dict__:
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(x, x_prime) before using it"
            )

    def kernel_to_train(self, x_new) -> np.ndarray:
        """K(x_new, [𝒳; 𝒳']) of shape (N, 2n): the k_test_train argument of :func:`barlow_twins_predict`."""
        self._check_fitted()
        x_new = as_matrix(x_new, "x_new")
        if x_new.shape[1] != self.n_features_in_:
            raise ValueError(f"x_new has {x_new.shape[1]} features, but {type(self).__name__} was fitted with "
                             f"{self.n_features_in_}")
        both = np.concatenate([self.X_fit_, self.Xp_fit_], axis=0)
        return _gram(self._kernel_fn_, x_new, both, "K(x_new, train)")

    def transform(self, x_new) -> np.ndarray:
        """Top-spectral embeddings f(x) of S24 (U = I) for each row of ``x_new``: (N, d)."""
        return self.kernel_to_train(x_new) @ self.dual_coef_

    def fit_transform(self, x, x_prime) -> np.ndarray:
        """``fit(x, x_prime).transform(x)``: the (n, d) embeddings of the first view (both: ``train_embeddings_``)."""
        self.fit(x, x_prime)
        return self.train_embeddings_[: self.X_fit_.shape[0]].copy()

    def rkhs_norm2(self) -> float:
        """‖f‖²_𝒦 of the fitted embeddings, Σ_j ‖f_j‖² = Tr(A K̃ A^T) with A = dual_coef_^T (= Σ_j 1/γ_j)."""
        self._check_fitted()
        return float(np.trace(self.dual_coef_.T @ self.K_tilde_ @ self.dual_coef_))


# ---------------------------------------------------------------------------------------------
# Small-init dynamics (S40–S42): neural-tangents style factory


class BarlowTwinsPredictor:
    """Closed-form kernelised Barlow Twins trajectory from small initialisation (S40–S42).

    Built by :func:`barlow_twins_predict`; holds the cached eigendecomposition.  Calling it is cheap:

        predictor(t, f_train_0) -> (T, 2n, d)
        predictor(t, f_train_0, k_test_train) -> ((T, 2n, d), (T, N, d))

    with, for rows = points and B = [b_1 … b_d],

        U S̃(0) = 𝒜(F(0)^T K̃^{-1/2} B)        (S42, 𝒜 the alignment transform of Def 4.5)
        F(t)   = K̃^{1/2} B S̃(t) U^T            (S40 on the training points, cf. S49)
        f(x,t) = U S̃(t) B^T K̃^{-1/2} k_x       (S40), k_x = [K_{x𝒳}, K_{x𝒳'}]^T

    and S̃(t) = diag(s_j(t)) from Prop 4.1 (S10).  For the linear kernel this is exactly
    ``dynamics.barlow.small_init_prediction`` applied to the data.  A scalar ``t`` drops the time axis.
    """

    def __init__(self, spectrum: _JointSpectrum, n_components: int):
        self._spec = spectrum
        self.n_components = n_components
        self.gammas = spectrum.gammas[:n_components].copy()
        self._K_sqrt_B = spectrum.K_sqrt_B[:, :n_components]
        self._test_map = spectrum.test_map[:, :n_components]

    @property
    def eigenvectors(self) -> np.ndarray:
        """(2n, d) [b_1 … b_d], the top eigenvectors of K_Γ."""
        return self._spec.B[:, : self.n_components]

    @property
    def _init_map(self) -> np.ndarray:
        return self._spec.init_map[:, : self.n_components]  # K̃^{-1/2} B, as S42 writes it

    @property
    def n_train(self) -> int:
        """2n, the number of training points [𝒳; 𝒳']."""
        return self._spec.K_tilde.shape[0]

    def _check_f0(self, f_train_0):
        f0 = as_matrix(f_train_0, "f_train_0")
        if f0.shape != (self.n_train, self.n_components):
            raise ValueError(f"f_train_0 must have shape (2n, d) = ({self.n_train}, {self.n_components}) — rows "
                             f"f(x_1..x_n), f(x'_1..x'_n) — got {f0.shape}")
        return f0

    def aligned_init(self, f_train_0):
        """(U, s(0)) with U s(0) = 𝒜(F(0)^T K̃^{-1/2} [b_1 … b_d]) (S42): U orthogonal (d, d), s(0) > 0 (d,)."""
        from .barlow import alignment_transform

        f0 = self._check_f0(f_train_0)
        M = f0.T @ self._init_map
        # 𝒜(cM) = c 𝒜(M) for c > 0: factorising M / max|M| keeps a tiny but valid F(0) (1e-300) at full
        # precision, and the rank test is relative to ‖M‖₂ (NumPy's matrix_rank cut-off), not absolute.
        c = float(np.max(np.abs(M)))
        if c == 0.0:
            raise ValueError("F(0)^T K̃^{-1/2} [b_1 … b_d] is rank deficient (it is 0): S42 (Result 4.6) needs it "
                             "full rank")
        US0 = alignment_transform(M / c)
        norms = np.linalg.norm(US0, axis=0)  # s_j(0) / c, entries of order 1
        cutoff = max(M.shape) * np.finfo(float).eps * float(np.linalg.norm(M / c, 2))
        if np.any(norms <= cutoff):
            raise ValueError(f"F(0)^T K̃^{{-1/2}} [b_1 … b_d] is rank deficient: S42 (Result 4.6) needs it full rank, "
                             f"got a residual {norms.min():.3g} x max|entry| at or below the round-off level "
                             f"{cutoff:.3g} (max(shape) · eps · ‖·‖₂)")
        s0 = norms * c
        if np.any(s0 == 0):
            raise ValueError("the effective initial singular values s_j(0) of S42 underflow float64 (below "
                             f"{np.finfo(float).smallest_subnormal:.3g}): scale f_train_0 up")
        return US0 / norms[None, :], s0

    def singular_values(self, t, f_train_0) -> np.ndarray:
        """s_j(t) of Prop 4.1 (S10) from the effective initial values of S42: (T, d)."""
        from .barlow import aligned_singular_values

        _, s0 = self.aligned_init(f_train_0)
        return aligned_singular_values(as_times(t), self.gammas, s0)

    def predicted_eigenvalues(self, t, f_train_0) -> np.ndarray:
        """Eigenvalues of the embedding cross-correlation C over time, λ_j(t) = γ_j s_j(t)² (S §4.2): (T, d)."""
        return self.gammas[None, :] * self.singular_values(t, f_train_0) ** 2

    def loss(self, t, f_train_0) -> np.ndarray:
        """Predicted loss Σ_j (1 − γ_j s_j(t)²)² (S14): (T,)."""
        return np.sum((1.0 - self.predicted_eigenvalues(t, f_train_0)) ** 2, axis=1)

    def critical_times(self, f_train_0) -> np.ndarray:
        """τ_j = −log(s_j(0)² γ_j) / (8 γ_j) (S16) with s_j(0) from S42: (d,)."""
        from .barlow import critical_times

        _, s0 = self.aligned_init(f_train_0)
        return critical_times(self.gammas, s0)

    def __call__(self, t, f_train_0, k_test_train=None):
        from .barlow import aligned_singular_values

        scalar = np.ndim(t) == 0
        times = as_times(t)
        U, s0 = self.aligned_init(f_train_0)
        s = aligned_singular_values(times, self.gammas, s0)
        f_train = np.einsum("ij,tj,kj->tik", self._K_sqrt_B, s, U)
        if scalar:
            f_train = f_train[0]
        if k_test_train is None:
            return f_train
        k = as_matrix(k_test_train, "k_test_train")
        if k.shape[1] != self.n_train:
            raise ValueError(f"k_test_train must have shape (N, 2n) with 2n = {self.n_train}, got {k.shape}")
        f_test = np.einsum("ij,tj,kj->tik", k @ self._test_map, s, U)
        return f_train, (f_test[0] if scalar else f_test)


def _spectrum_from(K_train, n_components, rtol, eigen_solver):
    if isinstance(K_train, KernelBarlowTwins):
        K_train._check_fitted()
        spec = K_train._spectrum
        d = spec.d if n_components is None else check_positive_int(n_components, "n_components")
        if d > spec.d:
            raise ValueError(f"n_components must be <= the estimator's n_components = {spec.d}, got {d}")
        return spec, d
    if n_components is None:
        raise ValueError("n_components is required unless K_train is a fitted KernelBarlowTwins")
    if isinstance(K_train, (tuple, list)):
        if len(K_train) != 3:
            raise ValueError("K_train given as blocks must be (K_xx, K_xxp, K_xpxp)")
        K_train = joint_kernel(*K_train)
    spec = _JointSpectrum(K_train, n_components, rtol, eigen_solver)
    return spec, spec.d


def barlow_twins_predict(K_train, *, n_components=None, rtol: float = 1e-10, eigen_solver: str = "auto"):
    """Factory for the kernelised small-init Barlow Twins trajectory (S40–S42), after neural-tangents'
    ``predict.gradient_descent_mse``: the kernel is diagonalised once, the returned predictor is cheap.

    Parameters
    ----------
    K_train : (2n, 2n) joint kernel K̃ with rows ordered [𝒳; 𝒳'] (S22); or the blocks
        ``(K_xx, K_xxp, K_xpxp)``; or a fitted :class:`KernelBarlowTwins` (its decomposition is reused).
    n_components : int
        Embedding dimension d (optional with a fitted estimator: defaults to its n_components).
    rtol, eigen_solver : as in :class:`KernelBarlowTwins`.

    Returns
    -------
    :class:`BarlowTwinsPredictor` ``predict_fn`` with ``predict_fn(t, f_train_0, k_test_train=None)``,
    where ``f_train_0`` is the (2n, d) matrix of initial embeddings on [𝒳; 𝒳'] (rows) and
    ``k_test_train`` the (N, 2n) kernel between test and training points; also
    ``predict_fn.predicted_eigenvalues(t, f_train_0)``, ``.loss``, ``.critical_times``, ``.aligned_init``.
    """
    check_choice(eigen_solver, "eigen_solver", set(EIGEN_SOLVERS))
    spec, d = _spectrum_from(K_train, n_components, rtol, eigen_solver)
    return BarlowTwinsPredictor(spec, d)


# ---------------------------------------------------------------------------------------------
# The exact kernel gradient flow (integrated)


def barlow_twins_flow(K_train, f_train_0, t, *, k_test_train=None, f_test_0=None, backend=DEFAULT_BACKEND,
                      solver=DEFAULT_SOLVER, rtol=DEFAULT_RTOL, atol=None, max_steps=DEFAULT_MAX_STEPS):
    """Integrate the kernel gradient flow of Barlow Twins, dF/dt = −K̃ ∇_F L(F) (S §5, exact dynamics).

    For a model linear in features, f(x) = W φ(x) with dW/dt = −∇_W L (S6), the embeddings on the
    training points F = [f(𝒳); f(𝒳')] obey dF/dt = −(2/n) K̃ J F (F^T J F / 2n − I) — a closed ODE
    in F that needs only kernel values; a test point follows df(x)/dt = −K(x, data) ∇_F L.  This is
    what S40–S42 (:func:`barlow_twins_predict`) approximate from small initialisation.

    It is :func:`dynamics.flows.function_space_flow` with the Barlow Twins loss of the outputs
    (``flows.barlow_twins_function_loss(n)``, S1–S2), in this module's kernel notation.

    Parameters
    ----------
    K_train : (2n, 2n) joint kernel K̃ (rows [𝒳; 𝒳']).
    f_train_0 : (2n, d) initial embeddings of the training points.
    t : (T,) times; the flow starts at time 0.
    k_test_train : (N, 2n) optional test–train kernel; f_test_0 : (N, d) their initial embeddings
        (default zero).
    backend, solver, rtol, atol, max_steps : as in :func:`dynamics._integrate.integrate`; ``atol=None``
        follows the scale of ``f_train_0``, so small initialisations are resolved.

    Returns
    -------
    (T, 2n, d), or ((T, 2n, d), (T, N, d)) when ``k_test_train`` is given.
    """
    K_tilde = _check_joint(K_train, "K_train")
    two_n = K_tilde.shape[0]
    f0 = as_matrix(f_train_0, "f_train_0")
    if f0.shape[0] != two_n:
        raise ValueError(f"f_train_0 must have 2n = {two_n} rows, got shape {f0.shape}")
    if f_test_0 is not None and k_test_train is None:
        raise ValueError("f_test_0 needs k_test_train (the test points' kernel against the training points)")
    if k_test_train is not None:
        k_test_train = as_matrix(k_test_train, "k_test_train")
        if k_test_train.shape[1] != two_n:
            raise ValueError(f"k_test_train must have shape (N, 2n) with 2n = {two_n}, got {k_test_train.shape}")
        if f_test_0 is not None:
            f_test_0 = as_matrix(f_test_0, "f_test_0")
            if f_test_0.shape != (k_test_train.shape[0], f0.shape[1]):
                raise ValueError(f"f_test_0 must have shape (N, d) = ({k_test_train.shape[0]}, {f0.shape[1]}), "
                                 f"got {f_test_0.shape}")
    return flows.function_space_flow(K_tilde, f0, flows.barlow_twins_function_loss(two_n // 2), t,
                                     K_test=k_test_train, F_test0=f_test_0, backend=backend, solver=solver, rtol=rtol,
                                     atol=atol, max_steps=max_steps)
