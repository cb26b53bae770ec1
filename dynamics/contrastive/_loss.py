"""The general contrastive loss (A1), written once as a function of the outputs.

A data set is N anchors x_n, each with Q partners x_{n,q}; partner q is a positive
(α_q = +1) or a negative (α_q = −1) for every anchor.  The loss (A1) is

    L = (1/N) Σ_n l({s(x_n, x_{n,q})}_{q=1..Q}),

with a similarity s of the representations f(x) ∈ R^Z and a reduction l:

* similarity "dot":    s(x, x̃) = f(x)ᵀ f(x̃);
* similarity "cosine": s(x, x̃) = f(x)ᵀ f(x̃) / ((‖f(x)‖ + δ)(‖f(x̃)‖ + δ)),  δ > 0 (A Assumption 1);
* similarity "cosine_bound": the lower bound (A9) of the cosine similarity under WᵀW = I,
  s̃(x, x̃) = f(x)ᵀ f(x̃) / ((‖h(x)‖ + δ)(‖h(x̃)‖ + δ)) with h(x) = φ(V x)/√M the hidden
  features (so ‖f‖ <= ‖h‖ when WᵀW = I).  Writing ‖φ‖ + √M δ = √M (‖h‖ + δ) recovers
  the paper's δ' = √M δ.  It needs the hidden norms, so it is a function of (f, ‖h‖);
* l "linear": l(s) = −Σ_q α_q s_q  (A6; Prop 10's triplet loss is the case Q = 2, α = (+1, −1));
* l "log_softmax": l(s) = −(1/|P|) Σ_{q ∈ P} log softmax(s/τ)_q over the positives P = {q : α_q = +1}
  (InfoNCE with temperature τ).

The same code serves the reference trainer (outputs of a network) and the function-space
flow of Lemma 9 (outputs as the state of an ODE): :func:`function_loss` returns the loss of
the stacked outputs [f(anchors); f(partners_1); …; f(partners_Q)] as one cached callable.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._validation import (
    check_choice,
    check_finite_if_concrete,
    check_positive,
    check_positive_if_concrete,
    check_positive_int,
)

SIMILARITIES = ("dot", "cosine", "cosine_bound")
REDUCTIONS = ("linear", "log_softmax")

#: Default δ of the cosine similarity (A Assumption 1: a small strictly positive constant).
DEFAULT_DELTA = 1e-2


def safe_norm(f, axis=-1):
    """‖f‖ along ``axis`` with gradient 0 (a subgradient) at f = 0 instead of NaN.

    A concrete ``f`` with a NaN or inf entry raises ``ValueError``; inside jit a NaN propagates to the
    norm (it is not mapped to 0), so the trainer's non-finite check still sees it.
    """
    check_finite_if_concrete(f, "f")
    return _norm(f, axis)


def _norm(f, axis=-1):
    """:func:`safe_norm` without the input check (for callers that have checked ``f``)."""
    sq = jnp.sum(f * f, axis=axis)
    nonzero = sq != 0  # NaN != 0: a NaN row keeps its NaN norm
    return jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sq, 1.0)), 0.0)


def check_alpha(alpha) -> tuple:
    """Partner signs α_q ∈ {+1, −1} as a tuple of ints (hashable, for cached losses)."""
    arr = np.asarray(alpha, dtype=float).ravel()
    if arr.size == 0 or not np.all(np.isin(arr, (-1.0, 1.0))):
        raise ValueError(f"alpha must be a non-empty sequence of +1 (positive pair) and -1 (negative pair), "
                         f"got {np.asarray(alpha).tolist()}")
    return tuple(int(a) for a in arr)


def _check_options(similarity, loss, delta, temperature, *, traceable=False):
    """Names and δ, τ > 0; ``traceable``: δ, τ may be JAX tracers (checked only when concrete, kept as given)."""
    check_choice(similarity, "similarity", set(SIMILARITIES))
    check_choice(loss, "loss", set(REDUCTIONS))
    if traceable:
        return check_positive_if_concrete(delta, "delta"), check_positive_if_concrete(temperature, "temperature")
    delta = check_positive(delta, "delta")
    temperature = check_positive(temperature, "temperature")
    return delta, temperature


def _broadcast(f, g, names=("f", "g")):
    try:
        return jnp.broadcast_shapes(jnp.shape(f), jnp.shape(g))
    except ValueError:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape (..., Z) (or broadcast), got "
                         f"{tuple(jnp.shape(f))} and {tuple(jnp.shape(g))}") from None


def similarity(f, g, kind="dot", *, delta=DEFAULT_DELTA, norms=None):
    """Row-wise similarity s(x, x̃) of representations f = f(x), g = f(x̃), shapes (..., Z) -> (...) (A1).

    ``kind``: "dot", "cosine" or "cosine_bound" (A9, needs ``norms = (‖h(x)‖, ‖h(x̃)‖)``, each (...)).
    """
    shape = _broadcast(f, g)
    check_finite_if_concrete(f, "f")
    check_finite_if_concrete(g, "g")
    if kind in ("cosine", "cosine_bound"):
        check_positive_if_concrete(delta, "delta")
    if kind == "cosine_bound" and norms is not None:
        if not isinstance(norms, (tuple, list)) or len(norms) != 2:
            raise ValueError("norms must be a pair (|h(x)|, |h(x~)|) of hidden-feature norms")
        for k, nrm in enumerate(norms):
            try:
                jnp.broadcast_shapes(jnp.shape(nrm), shape[:-1])
            except ValueError:
                raise ValueError(f"norms[{k}] must have the shape of the similarities {shape[:-1]}, got "
                                 f"{tuple(jnp.shape(nrm))}") from None
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
    """(1/N) Σ_n l(s_n) for similarities S (Q, N): the outer sum of (A1)."""
    alpha = check_alpha(alpha)
    if jnp.ndim(S) != 2 or jnp.shape(S)[0] != len(alpha):
        raise ValueError(f"S must be (Q, N) with Q = len(alpha) = {len(alpha)}, got shape {tuple(jnp.shape(S))}")
    check_finite_if_concrete(S, "S")
    S = jnp.asarray(S)
    if loss == "log_softmax":
        check_positive_if_concrete(temperature, "temperature")
    a = jnp.asarray(alpha, dtype=S.dtype)[:, None]
    if loss == "linear":
        return -jnp.mean(jnp.sum(a * S, axis=0))
    if loss == "log_softmax":
        logp = jax.nn.log_softmax(S / temperature, axis=0)
        pos = (a > 0).astype(S.dtype)
        return -jnp.mean(jnp.sum(pos * logp, axis=0)) / jnp.sum(pos)
    raise ValueError(f"loss must be one of {list(REDUCTIONS)}, got {loss!r}")


def contrastive_loss(f_anchor, f_partners, alpha, *, similarity="dot", loss="linear", delta=DEFAULT_DELTA,
                     temperature=1.0, anchor_norms=None, partner_norms=None):
    """Contrastive loss (A1) from representations: f_anchor (N, Z), f_partners (Q, N, Z).

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
    check_finite_if_concrete(f_anchor, "f_anchor")
    check_finite_if_concrete(f_partners, "f_partners")
    f_anchor = jnp.asarray(f_anchor)
    f_partners = jnp.asarray(f_partners)
    if f_anchor.ndim != 2 or f_partners.ndim != 3 or f_partners.shape[1:] != f_anchor.shape \
            or f_partners.shape[0] != len(alpha):
        raise ValueError(f"f_anchor must be (N, Z) and f_partners (Q, N, Z) with Q = len(alpha) = {len(alpha)}, "
                         f"got {tuple(f_anchor.shape)} and {tuple(f_partners.shape)}")
    norms = None
    if similarity == "cosine_bound":
        if anchor_norms is None or partner_norms is None:
            raise ValueError("similarity 'cosine_bound' needs anchor_norms (N,) and partner_norms (Q, N)")
        check_finite_if_concrete(anchor_norms, "anchor_norms")
        check_finite_if_concrete(partner_norms, "partner_norms")
        anchor_norms, partner_norms = jnp.asarray(anchor_norms), jnp.asarray(partner_norms)
        N, Q = f_anchor.shape[0], len(alpha)
        if anchor_norms.shape != (N,) or partner_norms.shape != (Q, N):
            raise ValueError(f"anchor_norms must be ({N},) and partner_norms ({Q}, {N}), got "
                             f"{tuple(anchor_norms.shape)} and {tuple(partner_norms.shape)}")
        norms = (anchor_norms[None, :], partner_norms)
    S = _similarity(f_anchor[None], f_partners, similarity, delta=delta, norms=norms)
    return reduce_similarities(S, alpha, loss, temperature=temperature)


def _split(F, n_anchors, Q):
    return F[:n_anchors], F[n_anchors:].reshape(Q, n_anchors, F.shape[-1])


@functools.lru_cache(maxsize=128)
def _function_loss(n_anchors, alpha, similarity, loss, delta, temperature):
    Q = len(alpha)

    def fn(F, norms=None):
        rows = n_anchors * (1 + Q)
        if jnp.ndim(F) != 2 or jnp.shape(F)[0] != rows:
            raise ValueError(f"F must be (N(1+Q), Z) = ({rows}, Z), the stacked outputs [anchors; partners_1; ...], "
                             f"got shape {tuple(jnp.shape(F))}")
        check_finite_if_concrete(F, "F")
        F = jnp.asarray(F)
        fa, fp = _split(F, n_anchors, Q)
        nrm = None
        if similarity == "cosine_bound":
            if norms is None or jnp.shape(norms) != (rows,):
                raise ValueError(f"similarity 'cosine_bound' needs norms, the stacked hidden norms ({rows},), got "
                                 f"{None if norms is None else tuple(jnp.shape(norms))}")
            check_finite_if_concrete(norms, "norms")
            norms = jnp.asarray(norms)
            na, npart = norms[:n_anchors], norms[n_anchors:].reshape(Q, n_anchors)
            nrm = (na[None, :], npart)
        S = _similarity(fa[None], fp, similarity, delta=delta, norms=nrm)
        return reduce_similarities(S, alpha, loss, temperature=temperature)

    return fn


def function_loss(n_anchors, alpha, *, similarity="dot", loss="linear", delta=DEFAULT_DELTA, temperature=1.0):
    """L(F) (A1) of the stacked outputs F = [f(x_1..x_N); f(x_{1,1}..x_{N,1}); …; f(x_{1,Q}..x_{N,Q})], (N(1+Q), Z).

    Cached per arguments: the same function object is returned for the same problem, so the
    trainer and :func:`dynamics.flows.function_space_flow` compile once.  For "cosine_bound"
    the returned callable takes a second argument, the stacked hidden norms (N(1+Q),).
    """
    n_anchors = check_positive_int(n_anchors, "n_anchors")
    alpha = check_alpha(alpha)
    delta, temperature = _check_options(similarity, loss, delta, temperature)
    return _function_loss(n_anchors, alpha, similarity, loss, delta, temperature)
