"""Generic function-space gradient flow with a frozen kernel (DESIGN: one flow for S §5, A Lemma 9, E Prop 1, F).

For a loss L(F) of the outputs F ∈ R^{N×d} on the training inputs and a frozen
kernel K,

    dF/dt = −K ∇_F L(F),                                                  (scalar K: N×N)
    dF_{a i}/dt = −Σ_{b j} K[a, b, i, j] ∂L/∂F_{b j},                      (full K: N×N×d×d)

which is gradient descent of a network linearised around its initialisation
(the NTK regime) in continuous time.  With test kernel rows K_* (N*×N) the
test outputs move with the same right-hand side, so they are integrated
alongside.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._integrate import integrate
from ._validation import as_array, as_matrix, as_times
from .barlow._core import _embedding_loss


def _apply_kernel(K, G):
    if K.ndim == 2:
        return K @ G
    return jnp.einsum("abij,bj->ai", K, G)


def function_space_flow(K, F0, loss_fn, t, *, K_test=None, F_test0=None, rtol=1e-8, atol=1e-12,
                        backend="diffrax", solver="dopri8"):
    """Integrate dF/dt = −K ∇_F L(F) from F(0) = F0 and return F at the times ``t``.

    Parameters
    ----------
    K : (N, N) scalar kernel, or (N, N, d, d) full kernel of a d-output model.
    F0 : (N, d) initial outputs on the training inputs.
    loss_fn : callable F -> scalar, written with ``jax.numpy``.
    t : (T,) times (t = lr × step for a trainer); the flow starts at t = 0.
    K_test, F_test0 : optional (N*, N) (or (N*, N, d, d)) kernel between test and
        training inputs and the (N*, d) initial test outputs.

    Returns
    -------
    (T, N, d) array, or a pair (train, test) when ``K_test`` is given.
    """
    K = as_array(K, "K", ndim=(2, 4))
    F0 = as_matrix(F0, "F0")
    N, d = F0.shape
    if K.shape[:2] != (N, N) or (K.ndim == 4 and K.shape[2:] != (d, d)):
        raise ValueError(f"K must have shape ({N}, {N}) or ({N}, {N}, {d}, {d}) to match F0 {F0.shape}, got {K.shape}")
    if K.ndim == 2 and not np.allclose(K, K.T, rtol=1e-8, atol=1e-12 * np.abs(K).max()):
        raise ValueError("K must be symmetric")
    t = as_times(t)
    grad = jax.grad(loss_fn)
    has_test = K_test is not None
    if has_test:
        K_test = as_array(K_test, "K_test", ndim=K.ndim)
        F_test0 = as_matrix(F_test0, "F_test0")
        if K_test.shape[1] != N or F_test0.shape != (K_test.shape[0], d):
            raise ValueError(f"K_test must be ({F_test0.shape[0]}, {N}{'' if K.ndim == 2 else f', {d}, {d}'}) and "
                             f"F_test0 ({K_test.shape[0]}, {d})")

    def field(_, y, args):
        Kj, Ktj = args
        F = y[:N]
        G = grad(F)
        dF = -_apply_kernel(Kj, G)
        if Ktj is None:
            return dF
        return jnp.concatenate([dF, -_apply_kernel(Ktj, G)])

    y0 = jnp.asarray(F0) if not has_test else jnp.concatenate([jnp.asarray(F0), jnp.asarray(F_test0)])
    ts = np.concatenate([[0.0], t]) if t[0] > 0 else t
    args = (jnp.asarray(K), jnp.asarray(K_test) if has_test else None)
    ys = integrate(field, y0, ts, args, rtol=rtol, atol=atol, backend=backend, solver=solver)
    ys = ys[1:] if t[0] > 0 else ys
    if has_test:
        return ys[:, :N], ys[:, N:]
    return ys


def barlow_twins_function_loss(n: int):
    """L(F) for stacked outputs F = [f(x_1..x_n); f(x'_1..x'_n)] (2n, d): ||C − I||_F² (S1–S2)."""

    def loss(F):
        return _embedding_loss(F[:n], F[n:])

    return loss
