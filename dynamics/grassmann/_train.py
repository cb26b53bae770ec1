"""Reference trainer of E: projected gradient descent (E11) and the discretised flow (E12).

Both run through :func:`dynamics.trainer.gradient_descent` (``project=`` re-orthonormalises after each
step), so they share its recorder, time units (t = lr × step) and non-finite detection.

The gradient step uses the *Grassmannian* gradient of E / Edelman–Arias–Smith: the free gradient
left-multiplied by (I − V V^T) (resp. right-multiplied by (I − V^T V) when V has orthonormal rows).
It is implemented as an identity map whose VJP projects the cotangent (:func:`horizontal`), so
``jax.grad`` of any loss of any model returns the projected gradient.  This matters: a *free* step
followed by re-orthonormalisation (``tangent="free"``) discretises a different flow — to first order
the retraction keeps G − V sym(V^T G), not (I − V V^T) G — whose Θ = V W dynamics gains the term
−V (I − W W^T) V^T C Θ and therefore depends on the width h (see the Thm 2 check).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from .. import trainer
from .._validation import (
    as_matrix,
    check_callable,
    check_choice,
    check_finite_if_concrete,
    check_positive,
    check_positive_if_concrete,
    check_positive_int,
    check_tree_finite_if_concrete,
    is_traced,
)
from ._core import (
    check_data_matrix,
    check_theta,
    check_triplets,
    contrastive_loss,
    non_contrastive_loss,
    random_semi_orthogonal,
    trace_loss,
)

# ---------------------------------------------------------------------------------------------
# manifold pieces (traceable)


def tangent_project(M, G):
    """Grassmannian projection of a free gradient G at a semi-orthogonal M (E, Edelman et al. 1998).

    Tall M (orthonormal columns): (I − M M^T) G.  Wide M (orthonormal rows): G (I − M^T M).
    Square orthogonal M: 0 (M cannot move).
    """
    if jnp.ndim(M) != 2 or jnp.shape(G) != jnp.shape(M):
        raise ValueError(f"M must be 2-D and G of the same shape, got M {tuple(jnp.shape(M))} and G {tuple(jnp.shape(G))}")
    check_finite_if_concrete(M, "M")
    check_finite_if_concrete(G, "G")
    if M.shape[0] >= M.shape[1]:
        return G - M @ (M.T @ G)
    return G - (G @ M.T) @ M


@jax.custom_vjp
def horizontal(M):
    """Identity whose gradient is projected by :func:`tangent_project` (Grassmannian gradient via ``jax.grad``)."""
    return M


def _horizontal_fwd(M):
    return M, M


def _horizontal_bwd(M, g):
    return (tangent_project(M, g),)


horizontal.defvjp(_horizontal_fwd, _horizontal_bwd)


def retract(M, method="polar"):
    """Back onto the constraint: nearest semi-orthogonal matrix (polar factor) or QR with sign fix.

    Orthonormalises columns of a tall M and rows of a wide M.  For a step M − η H with H tangent
    (M^T H = 0), both give M − η H + O(η²), so either discretises the same flow.

    Both are computed from the small k×k Gram matrix G = M^T M (k = min of the two sides), which
    costs matrix products only — no SVD or QR of the big side, which XLA on CPU runs slowly inside
    compiled loops:  polar  M G^{-1/2} (= U V^T of the thin SVD);  QR  M R^{-1} with R^T R = G the
    Cholesky factor (= Q of the QR with positive diag R, i.e. QR with the sign fix), applied twice
    ("CholeskyQR2") so orthonormality holds to round-off.  Assumes M has full rank k (true after a
    small step from the manifold).  Outside jit, a non-finite or rank-deficient M raises ``ValueError``.
    """
    check_choice(method, "method", {"polar", "qr"})
    if jnp.ndim(M) != 2:
        raise ValueError(f"M must be 2-D, got shape {tuple(jnp.shape(M))}")
    check_finite_if_concrete(M, "M")
    if is_traced(M):
        return _retract(M, method)
    out = _retract(M, method)
    if not np.all(np.isfinite(np.asarray(out))):
        raise ValueError(f"M must have full rank min{tuple(M.shape)} = {min(M.shape)} to be retracted onto the "
                         "Stiefel manifold (M^T M or M M^T is singular)")
    return out


def _retract(M, method):
    if M.shape[0] < M.shape[1]:
        return _retract(M.T, method).T
    if method == "qr":
        for _ in range(2):
            R = jnp.linalg.cholesky(M.T @ M).T
            M = M @ jax.scipy.linalg.solve_triangular(R, jnp.eye(R.shape[0], dtype=R.dtype), lower=False)
        return M
    w, U = jnp.linalg.eigh(M.T @ M)
    return M @ ((U / jnp.sqrt(w)) @ U.T)


def project_params(params, method="polar"):
    """Retract every weight matrix of a {"V", "W"} (or {"theta"}) dict onto its Stiefel manifold."""
    check_choice(method, "method", {"polar", "qr"})
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of weight matrices, got {type(params).__name__}")
    return {k: retract(v, method) for k, v in params.items()}


def frobenius_ball(params, radius=1.0):
    """Projection onto ‖V‖_F <= radius, ‖W‖_F <= radius (Prop 2's constraint set)."""
    _check_radius(radius)
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of weight matrices, got {type(params).__name__}")
    check_tree_finite_if_concrete(params, "params")
    return {k: v * jnp.minimum(1.0, radius / jnp.linalg.norm(v)) for k, v in params.items()}


def operator_ball(theta, radius=1.0):
    """Projection of Θ onto ‖Θ‖_op <= radius (clip the singular values; Prop 3's ball).

    Θ (d, z) = U Σ Q^T: with Θ^T Θ = Q Σ² Q^T (z×z eigh), the projection is Θ Q diag(min(1, r/σ)) Q^T.
    """
    _check_radius(radius)
    if jnp.ndim(theta) != 2:
        raise ValueError(f"theta must be 2-D (d, z), got shape {tuple(jnp.shape(theta))}")
    check_finite_if_concrete(theta, "theta")
    w, Q = jnp.linalg.eigh(theta.T @ theta)
    scale = jnp.minimum(1.0, radius / jnp.sqrt(jnp.maximum(w, 1e-300)))
    return theta @ ((Q * scale) @ Q.T)


def _check_radius(radius):
    """A finite radius > 0 (a Python or 0-d array number; not checked inside jit)."""
    check_positive_if_concrete(radius, "radius")


# ---------------------------------------------------------------------------------------------
# initialisation


def init_network(d: int, h: int, z: int, *, theta0=None, seed=0) -> dict:
    """Semi-orthogonal (V, W) with V ∈ R^{d×h}, W ∈ R^{h×z}, uniformly random (QR of Gaussians, E Thm 1).

    V has orthonormal columns when h <= d (the Thm 2 setting, V^T V = I_h) and orthonormal rows when
    h > d (V V^T = I_d, the wide setting of Thm 1).  W^T W = I_z (z <= h).

    With ``theta0`` (d, z, orthonormal columns) the pair satisfies V W = Θ0 exactly: for h < d, V is a
    uniformly rotated orthonormal basis of a random h-dimensional space containing span Θ0; W = V^T Θ0.
    This is how networks of different widths are started from the same Θ(0).
    """
    d = check_positive_int(d, "d")
    h = check_positive_int(h, "h")
    z = check_positive_int(z, "z")
    seed = check_positive_int(seed, "seed", minimum=0)
    if z > h:
        raise ValueError(f"z must be <= h for W^T W = I_z, got z = {z}, h = {h}")
    rng = np.random.default_rng(seed)
    if theta0 is None:
        V = random_semi_orthogonal(d, h, rng)
        W = random_semi_orthogonal(h, z, rng)
        return {"V": jnp.asarray(V), "W": jnp.asarray(W)}
    theta0 = as_matrix(theta0, "theta0")
    if theta0.shape != (d, z):
        raise ValueError(f"theta0 must have shape (d, z) = ({d}, {z}), got {theta0.shape}")
    check_theta(theta0, d, "theta0")
    if h >= d:
        V = random_semi_orthogonal(d, h, rng)
    else:
        basis = np.linalg.qr(np.concatenate([theta0, rng.standard_normal((d, h - z))], axis=1))[0]
        V = basis @ random_semi_orthogonal(h, h, rng)
    W = V.T @ theta0
    return {"V": jnp.asarray(V), "W": jnp.asarray(W)}


# ---------------------------------------------------------------------------------------------
# trainers


def stack_params(param_list) -> dict:
    """Stack a list of {"V", "W"} dicts into one batch (leading axis B) for the trainers below."""
    param_list = list(param_list)
    if not param_list:
        raise ValueError("param_list must contain at least one parameter dict")
    first = jax.tree_util.tree_map(jnp.shape, param_list[0])
    for i, p in enumerate(param_list[1:], 1):
        if jax.tree_util.tree_map(jnp.shape, p) != first:
            raise ValueError(f"param_list[{i}] must have the structure and shapes of param_list[0] {first}, "
                             f"got {jax.tree_util.tree_map(jnp.shape, p)}")
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *param_list)


def _is_batched(params) -> bool:
    return all(jnp.ndim(v) == 3 for v in params.values())


def _batch(loss_single, project, batched):
    """A batch of B independent nets trained together: the loss is the sum of their losses (so each gets
    exactly its own gradient) and the projection is applied to each."""
    if not batched:
        return loss_single, project
    proj = None if project is None else jax.vmap(project)
    return (lambda q: jnp.sum(jax.vmap(loss_single)(q))), proj


def _step_options(tangent, retraction):
    check_choice(tangent, "tangent", {"grassmann", "free"})
    check_choice(retraction, "retraction", {"polar", "qr"})
    wrap = horizontal if tangent == "grassmann" else (lambda m: m)
    return wrap, (lambda p: project_params(p, retraction))


def train_projected(apply_fn, params, anchors, positives, negatives=None, *, lr, n_steps, record_steps=None,
                    observers=None, tangent="grassmann", retraction="polar", progress=False):
    """E11: projected gradient descent on the SSL loss of any model, keeping V, W semi-orthogonal.

    Each step: V ← R(V − lr ∇̃_V L), W ← R(W − lr ∇̃_W L) with ∇̃ the Grassmannian gradient
    (``tangent="grassmann"``; ``"free"`` uses the Euclidean gradient, the literal "GD step, then project")
    and R the retraction (polar or QR).  The loss is E1 computed from the model's outputs (E2 when
    ``negatives`` is None) — the trainer never sees C.

    Parameters
    ----------
    apply_fn : ``apply(params, X) -> (N, z)`` with params {"V", "W"} (:func:`linear_apply`,
        :func:`two_layer_apply`, :func:`make_apply`).
    params : initial {"V", "W"} (e.g. :func:`init_network`), or a batch of independent nets with a leading
        axis B on every leaf (:func:`stack_params`); the recorded "loss" is then the sum over the batch.
    anchors, positives, negatives : (n, d) triplets.
    lr, n_steps, record_steps, observers, progress : as :func:`dynamics.trainer.gradient_descent`.

    Returns
    -------
    (final params, History); records "loss" and whatever ``observers`` ask for.
    """
    anchors, positives, negatives = check_triplets(anchors, positives, negatives)
    wrap, project = _step_options(tangent, retraction)
    from ..trainer import _check_apply

    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of weight matrices (e.g. init_network), got {type(params).__name__}")
    single = jax.tree_util.tree_map(lambda v: v[0], params) if _is_batched(params) else params
    _check_apply(apply_fn, single, anchors, "anchors")
    a, p = jnp.asarray(anchors), jnp.asarray(positives)
    if negatives is None:
        def loss_fn(q):
            return non_contrastive_loss(apply_fn, {k: wrap(v) for k, v in q.items()}, a, p)
    else:
        ng = jnp.asarray(negatives)

        def loss_fn(q):
            return contrastive_loss(apply_fn, {k: wrap(v) for k, v in q.items()}, a, p, ng)

    loss_fn, project = _batch(loss_fn, project, _is_batched(params))
    return trainer.gradient_descent(loss_fn, params, lr=lr, n_steps=n_steps, record_steps=record_steps,
                                    observers=observers, project=project, progress=progress, desc="E11 projected GD")


def train_trace(C, params, *, lr, n_steps, record_steps=None, observers=None, constraint="stiefel",
                tangent="grassmann", retraction="polar", progress=False):
    """Gradient descent on the trace form L = Tr(W^T V^T C V W) (E8) of the two-layer linear network.

    constraint="stiefel": E11 (Grassmannian gradient, then retraction);  "frobenius": projection onto
    ‖V‖_F, ‖W‖_F <= 1 (Prop 2);  "none": plain GD (Prop 1 / Example 1, diverges when C has a negative
    eigenvalue).  Always records "theta" = V W besides "loss".  ``params`` may be a batch
    (:func:`stack_params`), as in :func:`train_projected`.
    """
    C = jnp.asarray(check_data_matrix(C))
    check_choice(constraint, "constraint", {"stiefel", "frobenius", "none"})
    _check_trace_params(params, C.shape[0])
    if constraint == "stiefel":
        wrap, project = _step_options(tangent, retraction)
    else:
        wrap = lambda m: m
        project = frobenius_ball if constraint == "frobenius" else None

    def loss_fn(q):
        return trace_loss(C, wrap(q["V"]) @ wrap(q["W"]))

    obs = {"theta": lambda q: q["V"] @ q["W"]}
    obs.update(observers or {})
    loss_fn, project = _batch(loss_fn, project, _is_batched(params))
    return trainer.gradient_descent(loss_fn, params, lr=lr, n_steps=n_steps, record_steps=record_steps,
                                    observers=obs, project=project, progress=progress, desc="E8 trace GD")


def _check_trace_params(params, d):
    if not isinstance(params, dict) or not {"V", "W"} <= set(params):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"params must be a dict with 'V' (d, h) and 'W' (h, z) (or a batch, see stack_params), "
                         f"got {got}")
    V, W = params["V"], params["W"]
    if jnp.ndim(V) != jnp.ndim(W) or jnp.ndim(V) not in (2, 3) or jnp.shape(V)[-2] != d \
            or jnp.shape(V)[-1] != jnp.shape(W)[-2]:
        raise ValueError(f"params['V'] must be (d, h) with d = {d} (the size of C) and params['W'] (h, z), optionally "
                         f"with a leading batch axis, got shapes {tuple(jnp.shape(V))} and {tuple(jnp.shape(W))}")


def discretised_flow(C, theta0, *, lr, n_steps, record_steps=None, observers=None, retraction="polar",
                     progress=False):
    """E12: Θ_{k+1} = R(Θ_k − lr · 2 (I − Θ_k Θ_k^T) C Θ_k), the Euler discretisation of E9 + retraction R.

    Run through :func:`dynamics.trainer.gradient_descent` on the loss Tr(Θ^T C Θ) with the Grassmannian
    gradient (I − ΘΘ^T) ∇_Θ = 2 (I − ΘΘ^T) C Θ.  Its cost per step is that of C Θ, O(d² z) — no hidden
    width anywhere.  Records "theta".
    """
    C = check_data_matrix(C)
    theta0 = check_theta(theta0, C.shape[0], "theta0")
    Cj = jnp.asarray(C)
    check_choice(retraction, "retraction", {"polar", "qr"})

    def loss_fn(q):
        return trace_loss(Cj, horizontal(q["theta"]))

    obs = {"theta": lambda q: q["theta"]}
    obs.update(observers or {})
    params, hist = trainer.gradient_descent(loss_fn, {"theta": jnp.asarray(theta0)}, lr=lr, n_steps=n_steps,
                                            record_steps=record_steps, observers=obs,
                                            project=lambda p: project_params(p, retraction), progress=progress,
                                            desc="E12 discretised flow")
    return params["theta"], hist


def time_per_step(loss_fn, params, *, lr, project=None, n_steps=10, repeats=3) -> float:
    """Seconds per gradient step ``params ← project(params − lr ∇L)`` — the step of
    :func:`dynamics.trainer.gradient_descent` — compiled once, median over ``repeats`` runs of ``n_steps``."""
    check_callable(loss_fn, "loss_fn", "loss_fn(params) -> scalar")
    lr = check_positive(lr, "lr")
    n_steps = check_positive_int(n_steps, "n_steps")
    repeats = check_positive_int(repeats, "repeats")
    if project is not None:
        check_callable(project, "project", "project(params) -> params")
    proj = project if project is not None else (lambda p: p)

    @jax.jit
    def run(p):
        def body(_, q):
            g = jax.grad(loss_fn)(q)
            return proj(jax.tree_util.tree_map(lambda a, b: a - lr * b, q, g))

        return jax.lax.fori_loop(0, n_steps, body, p)

    jax.block_until_ready(run(params))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run(params))
        times.append(time.perf_counter() - start)
    return float(np.median(times)) / n_steps
