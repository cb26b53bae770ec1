"""Generic function-space gradient flow with a frozen kernel: one flow for S §5, A Lemma 9, E Prop 1 and F.

For a loss L(F) of the outputs F ∈ R^{N×d} on the training inputs and a frozen
kernel K,

    dF/dt = −K ∇_F L(F),                                                  (scalar K: N×N)
    dF_{a i}/dt = −Σ_{b j} K[a, b, i, j] ∂L/∂F_{b j},                      (full K: N×N×d×d)

which is gradient descent of a network linearised around its initialisation
(the NTK regime) in continuous time.  With test kernel rows K_* (N*×N) the
test outputs move with the same right-hand side, so they are integrated
alongside.

It covers the kernelised Barlow Twins model of Simon et al. (2023), "On the Stepwise Nature of
Self-Supervised Learning", ICML 2023 (arXiv:2303.15438), §5 (S); the frozen-NTK dynamics of Lemma 9 in
Anil, Esser, Ghoshdastidar (2024), "When can we Approximate Wide Contrastive Models with Neural Tangent
Kernels and Principal Component Analysis?" (A); the unconstrained collapse of Prop 1 in Esser,
Mukherjee, Ghoshdastidar (2023), "Representation Learning Dynamics of Self-Supervised Models" (E); and
the infinite-width model of Fleissner, Anil, Ghoshdastidar (PMLR 2025), "Infinite Width Limits of Self
Supervised Neural Networks" (F).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ._integrate import DEFAULT_BACKEND, DEFAULT_MAX_STEPS, DEFAULT_RTOL, DEFAULT_SOLVER, integrate
from ._validation import (
    as_array,
    as_matrix,
    as_symmetric,
    as_times,
    check_callable,
)
from .linalg import check_psd
from .losses import barlow_twins_function_loss  # noqa: F401  (re-exported: flows.barlow_twins_function_loss)


@functools.lru_cache(maxsize=64)
def _field(loss_fn, n_train: int, full: bool):
    """Vector field for stacked outputs Y = [F_train; F_test]; cached so diffrax compiles once per problem."""
    grad = jax.grad(loss_fn)

    def field(_, y, K_rows):
        G = grad(y[:n_train])
        if full:
            return -jnp.einsum("abij,bj->ai", K_rows, G)
        return -K_rows @ G

    return field


def function_space_flow(K, F0, loss_fn, t, *, K_test=None, F_test0=None, rtol=DEFAULT_RTOL, atol=None,
                        backend=DEFAULT_BACKEND, solver=DEFAULT_SOLVER, max_steps=DEFAULT_MAX_STEPS):
    """Integrate dF/dt = −K ∇_F L(F) from F(0) = F0 and return F at the times ``t``.

    Parameters
    ----------
    K : (N, N) scalar kernel, or (N, N, d, d) full kernel of a d-output model.
    F0 : (N, d) initial outputs on the training inputs.
    loss_fn : callable F -> scalar, written with ``jax.numpy`` (reuse the same function object
        across calls, e.g. :func:`barlow_twins_function_loss`, to reuse the compiled solver).
    t : (T,) times (t = lr × step for a trainer); the flow starts at t = 0.
    K_test, F_test0 : optional (N*, N) (or (N*, N, d, d)) kernel between test and
        training inputs and the (N*, d) initial test outputs (default zero).
    rtol, atol : tolerances (rtol: the integrator's default, 1e-10); ``atol=None`` (default) follows the
        scale of the initial state, rtol · 1e-3 · max|F0| (:func:`dynamics._integrate.integrate`), so a
        small F0 is resolved.
    max_steps : step budget (an :class:`dynamics._integrate.IntegrationError` names it when exceeded).

    K must be symmetric and positive semi-definite (to 1e-8 relative, :func:`dynamics.linalg.check_psd`):
    a kernel with a negative eigenvalue would make the flow ascend the loss along it.

    Returns
    -------
    (T, N, d) array, or a pair (train, test) when ``K_test`` is given.
    """
    check_callable(loss_fn, "loss_fn", "loss_fn(F) -> scalar")
    K = as_array(K, "K", ndim=(2, 4))
    F0 = as_matrix(F0, "F0")
    N, d = F0.shape
    if K.shape[:2] != (N, N) or (K.ndim == 4 and K.shape[2:] != (d, d)):
        raise ValueError(f"K must have shape ({N}, {N}) or ({N}, {N}, {d}, {d}) to match F0 {F0.shape}, got {K.shape}")
    # A kernel is symmetric: K[a, b] = K[b, a] (scalar), K[a, b, i, j] = K[b, a, j, i] (full).  Checked only;
    # the flow uses K as given.
    if K.ndim == 2:
        check_psd(as_symmetric(K, "K"), "K")
    else:
        asym = float(np.max(np.abs(K - K.transpose(1, 0, 3, 2))))
        scale = max(float(np.max(np.abs(K))), np.finfo(float).tiny)
        if asym > 1e-8 * scale:
            raise ValueError(f"K must be symmetric, K[a, b, i, j] = K[b, a, j, i]: max |K - K^T| = {asym:.3g} "
                             f"exceeds 1e-08 x max|K| = {1e-8 * scale:.3g}")
        # The full kernel as the (N d, N d) matrix of the pairs (a, i), (b, j).
        Kmat = K.transpose(0, 2, 1, 3).reshape(N * d, N * d)
        check_psd(0.5 * (Kmat + Kmat.T), "K")
    if F_test0 is not None and K_test is None:
        raise ValueError("F_test0 needs K_test (the test-train kernel); give both or neither")
    t = as_times(t)
    K_rows, y0 = K, F0
    if K_test is not None:
        K_test = as_array(K_test, "K_test", ndim=K.ndim)
        n_test = K_test.shape[0]
        F_test0 = np.zeros((n_test, d)) if F_test0 is None else as_matrix(F_test0, "F_test0")
        if K_test.shape[1:] != K.shape[1:] or F_test0.shape != (n_test, d):
            raise ValueError(f"K_test must have shape (N*, {', '.join(map(str, K.shape[1:]))}) and F_test0 "
                             f"(N*, {d}); got {K_test.shape} and {F_test0.shape}")
        K_rows, y0 = np.concatenate([K, K_test]), np.concatenate([F0, F_test0])
    ys = integrate(_field(loss_fn, N, K.ndim == 4), jnp.asarray(y0), t, jnp.asarray(K_rows), rtol=rtol,
                   atol=atol, backend=backend, solver=solver, max_steps=max_steps)  # from F0 at t0 = 0
    if K_test is not None:
        return ys[:, :N], ys[:, N:]
    return ys
