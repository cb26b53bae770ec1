"""dynamics.contrastive.ntk_drift_by_loss: NTK drift over time under six losses (A Prop 10, Fig 2; S1–S2;
SimCLR; VICReg) against an independent gradient-descent loop with the generic empirical NTK."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynamics import contrastive, losses, networks, ntk


def _reference_drift(loss, M, n, n_ntk, lr, n_steps, Z=10):
    """Plain GD in JAX on ``loss(f(x), f(x+))`` with ntk.empirical_ntk (jacrev of the network, not the
    structured two-layer kernel); the trace NTK Σ_z K_zz on the first n_ntk anchors and positives."""
    d = contrastive.contrastive_digits(n)
    x, xp = jnp.asarray(d.anchors), jnp.asarray(d.partners[0])
    Xn = jnp.concatenate([x[:n_ntk], xp[:n_ntk]])
    p = jax.tree_util.tree_map(jnp.asarray, networks.init_two_layer(d.dim, M, Z, seed=0))
    apply = networks.two_layer_apply

    def trace_ntk(q):
        K = ntk.empirical_ntk(apply, q, Xn, Xn)
        return jnp.einsum("abzz->ab", K)

    grad = jax.jit(jax.grad(lambda q: loss(apply(q, x), apply(q, xp))))
    K0 = np.asarray(trace_ntk(p))
    out = [0.0]
    for _ in range(n_steps):
        g = grad(p)
        p = jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g)
        out.append(np.linalg.norm(np.asarray(trace_ntk(p)) - K0) / np.linalg.norm(K0))
    return np.array(out)


@pytest.mark.parametrize("name,loss", [("simclr", lambda a, b: losses.nt_xent(a, b, temperature=0.5)),
                                       ("vicreg", losses.vicreg)])
def test_pair_losses_match_an_independent_gd_loop(name, loss):
    r = contrastive.ntk_drift_by_loss([16], T=0.4, lr=0.1, n=12, n_ntk=4, n_records=5, losses=[name])
    assert r["losses"] == (name,)
    np.testing.assert_allclose(r["t"], [0.0, 0.1, 0.2, 0.3, 0.4], atol=1e-15)
    curve = r["curves"][name][0, 0]
    ref = _reference_drift(loss, 16, 12, 4, 0.1, 4)
    assert abs(curve[0]) < 1e-12 and np.all(curve[1:] > 0)
    np.testing.assert_allclose(curve, ref, rtol=1e-8, atol=1e-13)
    assert r[name][0] == pytest.approx(curve[-1]) and np.isinf(r["t_diverge"][name][0, 0])


def test_dot_product_diverges_and_stops_while_cosine_stays_lazy():
    r = contrastive.ntk_drift_by_loss([64], T=16.0, lr=0.2, n=30, n_ntk=10, n_records=9,
                                      losses=["contrastive_dot", "contrastive_cosine"])
    dot, cos = r["curves"]["contrastive_dot"][0, 0], r["curves"]["contrastive_cosine"][0, 0]
    t_div = r["t_diverge"]["contrastive_dot"][0, 0]
    assert 0 < t_div < 16.0 and np.isinf(r["t_diverge"]["contrastive_cosine"][0, 0])
    # the curve stops at divergence: finite before the overflow time, NaN after
    assert np.all(np.isfinite(dot[r["t"] < t_div - 0.2])) and np.all(np.isnan(dot[r["t"] >= t_div]))
    assert np.isinf(r["contrastive_dot"][0]) and np.isfinite(r["contrastive_cosine"][0])
    # the replay records the last steps before the overflow: later than the last common record, and larger
    last_t, last = r["last_t"]["contrastive_dot"][0, 0], r["last_drift"]["contrastive_dot"][0, 0]
    k = int(np.flatnonzero(np.isfinite(dot))[-1])
    assert r["t"][k] <= last_t < t_div and last >= dot[k]
    # the dot-product NTK has blown up (A Prop 10) while the cosine one barely moved
    assert last > 1e3 and np.all(cos < 0.1) and dot[k] > 10 * cos[k]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="losses"):
        contrastive.ntk_drift_by_loss([4], losses=["hinge"])
    with pytest.raises(ValueError, match="losses"):
        contrastive.ntk_drift_by_loss([4], losses=[])
    with pytest.raises(ValueError, match="n_records"):
        contrastive.ntk_drift_by_loss([4], n_records=1)
    with pytest.raises(ValueError, match="temperature"):
        contrastive.ntk_drift_by_loss([4], temperature=0.0)
