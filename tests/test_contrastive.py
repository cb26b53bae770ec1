"""dynamics.contrastive (Anil et al., "A"): losses, Prop 10, trace forms, trainer, deep NTK, and the A checks.

Each test compares two independent computations: a loss against a hand-written loop, the sympy
derivation against the closed form and against an integrated ODE, the low-rank C_V against the
dense sum of A8/A10, the structured deep NTK against Jacobians, the trainer against exact equality.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

from dynamics import contrastive as ctr
from dynamics import networks, ntk
from dynamics._integrate import integrate
from dynamics.contrastive import symbolic as sym
from dynamics.theorems import list_checks


def _rng(seed=0):
    return np.random.default_rng(seed)


def _tiny_data(N=4, Q=2, D=3, seed=0, alpha=(1, -1)):
    rng = _rng(seed)
    return ctr.ContrastiveData(rng.standard_normal((N, D)), rng.standard_normal((Q, N, D)), alpha)


# ---------------------------------------------------------------------------- loss (A1)


def _hand_loss(fa, fp, alpha, sim, l, delta=0.0, tau=1.0, na=None, npart=None):
    N, Q = fa.shape[0], len(alpha)
    total = 0.0
    for n in range(N):
        s = []
        for q in range(Q):
            dot = float(fa[n] @ fp[q, n])
            if sim == "dot":
                s.append(dot)
            elif sim == "cosine":
                s.append(dot / ((np.linalg.norm(fa[n]) + delta) * (np.linalg.norm(fp[q, n]) + delta)))
            else:
                s.append(dot / ((na[n] + delta) * (npart[q, n] + delta)))
        if l == "linear":
            total += -sum(a * v for a, v in zip(alpha, s))
        else:
            z = np.array(s) / tau
            logp = z - np.log(np.sum(np.exp(z)))
            pos = [q for q in range(Q) if alpha[q] == 1]
            total += -sum(logp[q] for q in pos) / len(pos)
    return total / N


@pytest.mark.parametrize("sim", ["dot", "cosine", "cosine_bound"])
@pytest.mark.parametrize("l", ["linear", "log_softmax"])
def test_loss_matches_hand_computation(sim, l):
    rng = _rng(1)
    N, Q, Z = 5, 3, 4
    alpha = (1, -1, -1)
    fa, fp = rng.standard_normal((N, Z)), rng.standard_normal((Q, N, Z))
    na, npart = rng.uniform(1, 2, N), rng.uniform(1, 2, (Q, N))
    kw = {"anchor_norms": na, "partner_norms": npart} if sim == "cosine_bound" else {}
    got = float(ctr.contrastive_loss(fa, fp, alpha, similarity=sim, loss=l, delta=0.1, temperature=0.5, **kw))
    want = _hand_loss(fa, fp, alpha, sim, l, delta=0.1, tau=0.5, na=na, npart=npart)
    assert got == pytest.approx(want, rel=1e-13)


def test_triplet_numbers_by_hand():
    # one anchor, f = (1, 0), positive (2, 0), negative (0, 3): dot s = (2, 0), linear l = −(2 − 0)
    fa, fp = np.array([[1.0, 0.0]]), np.array([[[2.0, 0.0]], [[0.0, 3.0]]])
    assert float(ctr.contrastive_loss(fa, fp, (1, -1))) == -2.0
    # cosine with δ: s+ = 2/((1 + δ)(2 + δ)), s− = 0
    d = 0.5
    assert float(ctr.contrastive_loss(fa, fp, (1, -1), similarity="cosine", delta=d)) == pytest.approx(
        -2 / (1.5 * 2.5), rel=1e-15)
    # log-softmax: −log(e^2 / (e^2 + e^0))
    assert float(ctr.contrastive_loss(fa, fp, (1, -1), loss="log_softmax")) == pytest.approx(
        np.log1p(np.exp(-2.0)), rel=1e-14)


def test_function_loss_is_the_stacked_loss_and_cached():
    d = _tiny_data()
    rng = _rng(2)
    F = rng.standard_normal((d.inputs.shape[0], 3))
    fl = ctr.function_loss(d.n_anchors, d.alpha, similarity="cosine")
    assert fl is ctr.function_loss(d.n_anchors, list(d.alpha), similarity="cosine")
    fa, fp = F[:4], F[4:].reshape(2, 4, 3)
    assert float(fl(F)) == pytest.approx(float(ctr.contrastive_loss(fa, fp, d.alpha, similarity="cosine")),
                                         rel=1e-15)


def test_cosine_gradient_is_finite_at_zero_output():
    delta = 0.1
    g = np.array([0.3, -0.4])
    grad = jax.grad(lambda f: ctr.similarity(f, jnp.asarray(g), "cosine", delta=delta))(jnp.zeros(2))
    assert np.allclose(grad, g / (delta * (np.linalg.norm(g) + delta)), rtol=1e-14)


# ---------------------------------------------------------------------------- Prop 10, symbolic


@pytest.mark.parametrize("M", [1, 2, 3])
def test_prop10_weight_level_derivation(M):
    assert all(sym.verify_weight_level(M).values()), sym.verify_weight_level(M)


def test_prop10_ps_system_invariant_and_closed_form():
    assert sym.invariant_rate() == 0
    assert sp.simplify(sym.p_ode() - 2 * sym.C * (sym.P**2 - 4 * sym.alpha)) == 0
    assert all(sym.verify_closed_form().values())
    assert sym.verify_blowup_time() and sym.verify_stable_blowup_form()


def test_blowup_time_matches_symbolic_and_literal_formula():
    t_sym = sym.lambdified_blowup_time()
    for P0, S0, C in [(2.0, 0.3, 1.0), (1.2, -0.05, 0.3), (3.0, 1.4, 2.0)]:
        alpha = P0**2 / 4 - S0**2
        beta = (P0 - 2 * np.sqrt(alpha)) / (P0 + 2 * np.sqrt(alpha))
        tb = ctr.blowup_time(P0, S0, C)
        assert tb == pytest.approx(np.log(1 / beta) / (8 * C * np.sqrt(alpha)), rel=1e-12)
        assert tb == pytest.approx(float(t_sym(C, alpha, P0)), rel=1e-12)
        t = np.linspace(0, 0.99 * tb, 20)
        lit = sym.lambdified_closed_form()(t, C, alpha, P0)
        assert np.allclose(ctr.prop10_P(t, P0, S0, C), lit, rtol=1e-9)


def test_blowup_time_vs_integrated_ps_system():
    P0, S0, C = 1.9, 0.12, 1.5
    tb = ctr.blowup_time(P0, S0, C)
    t = np.linspace(0, 0.999 * tb, 40)
    ys = integrate(lambda _, y, c: ctr.prop10_rhs(_, y, c), jnp.array([P0, S0]), t, C, rtol=1e-12, atol=1e-12)
    assert np.allclose(ys[:, 0], ctr.prop10_P(t, P0, S0, C), rtol=1e-8)
    assert np.allclose(ys[:, 1], ctr.prop10_S(t, P0, S0, C), rtol=1e-8)
    assert np.allclose(ys[:, 0] ** 2 - 4 * ys[:, 1] ** 2, 4 * ctr.prop10_alpha(P0, S0), rtol=1e-9)
    assert ys[-1, 0] > 100 * P0  # P is blowing up just before t̄


def test_blowup_time_limits_and_no_blowup_cases():
    # α → 0 (v = ±w): t̄ → 1/(2 C P0), the blow-up of dP/dt = 2CP²
    assert ctr.blowup_time(2.0, 1.0, 3.0) == pytest.approx(1 / 12, rel=1e-15)
    assert ctr.blowup_time(2.0, 1.0 - 1e-12, 3.0) == pytest.approx(1 / 12, rel=1e-9)
    assert ctr.blowup_time(2.0, 0.3, 1.0) == ctr.blowup_time(2.0, -0.3, 1.0)
    assert ctr.blowup_time(2.0, 0.0, 1.0) == np.inf
    assert ctr.blowup_time(2.0, 0.3, -1.0) == np.inf and ctr.blowup_time(2.0, 0.3, 0.0) == np.inf
    # C < 0: P decreases to 2√α
    P = ctr.prop10_P([0.0, 100.0], 2.0, 0.3, -1.0)
    assert P[0] == 2.0 and P[1] == pytest.approx(2 * np.sqrt(ctr.prop10_alpha(2.0, 0.3)), rel=1e-12)
    tb = ctr.blowup_time(2.0, 0.3, 1.0)
    assert np.all(np.isinf(ctr.prop10_P([tb, 2 * tb], 2.0, 0.3, 1.0)))


@pytest.mark.parametrize("args, name, exc", [
    ((0.0, 0.0, 1.0), "P0", ValueError),
    ((-1.0, 0.0, 1.0), "P0", ValueError),
    ((1.0, 0.6, 1.0), "P0 >= 2|S0|", ValueError),
    ((1.0, 0.1, np.nan), "C", ValueError),
    ((1.0, np.inf, 1.0), "S0", ValueError),
    ((True, 0.1, 1.0), "P0", TypeError),
    ((1.0, "x", 1.0), "S0", TypeError),
])
def test_blowup_time_bad_inputs_named(args, name, exc):
    with pytest.raises(exc, match=name.replace("|", r"\|")):
        ctr.blowup_time(*args)


def test_gd_on_linear_network_has_loss_minus_c_m_s2():
    d = ctr.prop10_data(2.0)
    assert ctr.data_constant(d) == pytest.approx(2.0, rel=1e-14)
    p = networks.init_two_layer(1, 50, 1, seed=3)
    P, S = ctr.prop10_invariants(p["V"], p["W"])
    L = float(ctr.make_loss(d, similarity="dot", activation="linear")(p))
    assert L == pytest.approx(-2.0 * 50 * S**2, rel=1e-12)
    K = np.asarray(ntk.two_layer_ntk(p, [[0.7]], [[-1.3]], "linear", output="trace"))
    assert K[0, 0] == pytest.approx(P * 0.7 * -1.3, rel=1e-12)


# ---------------------------------------------------------------------------- trace forms (A5, A8, A10)


def _dense_cv(params, d, kind, delta):
    """A8 / A10 written as the double sum over anchors and partners."""
    V = np.asarray(params["V"])
    M = V.shape[0]
    phi = lambda x: np.maximum(x @ V.T, 0.0)
    C = np.zeros((M, M))
    for n in range(d.n_anchors):
        pa = phi(d.anchors[n])
        for q, a in enumerate(d.alpha):
            pq = phi(d.partners[q, n])
            term = a * (np.outer(pq, pa) + np.outer(pa, pq))
            if kind == "dot":
                C += term / (2 * d.n_anchors * M)
            else:
                dp = np.sqrt(M) * delta
                C += term / ((np.linalg.norm(pq) + dp) * (np.linalg.norm(pa) + dp)) / (2 * d.n_anchors)
    return C


@pytest.mark.parametrize("kind", ["dot", "cosine_bound"])
def test_linear_loss_is_minus_trace_form(kind):
    d = _tiny_data(N=6, D=5, seed=3)
    p = networks.init_two_layer(5, 40, 3, seed=4)
    C = _dense_cv(p, d, kind, 0.05)
    W = np.asarray(p["W"])
    L = float(ctr.make_loss(d, similarity=kind, delta=0.05)(p))
    # constant of the identity: L = −1 · Tr(Wᵀ C_V W) with the prefactors of A8 / A10
    assert L == pytest.approx(-np.trace(W.T @ C @ W), rel=1e-12)
    assert float(ctr.cv_trace_loss(p, d, kind, delta=0.05)) == pytest.approx(L, rel=1e-12)
    assert np.allclose(ctr.cv_matrix(ctr.cv_factors(p, d, kind, delta=0.05)), C, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("M", [10, 200])  # dense path (M <= 4N) and Gram path
def test_cv_distance_and_eigh_from_factors(M):
    d = _tiny_data(N=8, D=5, seed=5)
    p = networks.init_two_layer(5, M, 2, seed=6)
    q = {"V": p["V"] + 1e-7 * _rng(7).standard_normal(p["V"].shape), "W": p["W"]}
    f1, f2 = ctr.cv_factors(p, d, "cosine_bound"), ctr.cv_factors(q, d, "cosine_bound")
    C1, C2 = _dense_cv(p, d, "cosine_bound", ctr.DEFAULT_DELTA), _dense_cv(q, d, "cosine_bound", ctr.DEFAULT_DELTA)
    dist = np.linalg.norm(C1 - C2)
    assert float(ctr.cv_frobenius_distance(f1, f2)) == pytest.approx(dist, rel=1e-6)  # small distance, relative
    assert float(ctr.cv_frobenius_norm(f1)) == pytest.approx(np.linalg.norm(C1), rel=1e-12)
    lam, U = ctr.cv_eigh(f1, 3)
    ref = np.linalg.eigvalsh(C1)[::-1][:3]
    assert np.allclose(lam, ref, rtol=1e-10, atol=1e-14)
    assert np.allclose(C1 @ U, U * lam, atol=1e-12)


def test_pca_readout_maximises_the_trace():
    d = ctr.contrastive_digits(60)
    p = networks.init_two_layer(d.dim, 300, 4, seed=0)
    W, lam = ctr.pca_readout(p, d, 4)
    C = np.asarray(ctr.cv_matrix(ctr.cv_factors(p, d, "cosine_bound")))
    W = np.asarray(W)
    assert np.allclose(W.T @ W, np.eye(4), atol=1e-12)
    best = np.trace(W.T @ C @ W)
    assert best == pytest.approx(lam[:4].sum(), rel=1e-10)
    for s in range(3):
        Q, _ = np.linalg.qr(_rng(s).standard_normal((300, 4)))
        assert np.trace(Q.T @ C @ Q) < best


def test_iterative_scheme_and_grassmann_projection():
    d = ctr.contrastive_digits(20)
    p = networks.init_two_layer(d.dim, 64, 3, seed=1)
    final, hist = ctr.iterative_pca(p, d, 2, lr=0.5)
    assert len(hist) == 2
    W = np.asarray(final["W"])
    assert np.allclose(W.T @ W, np.eye(3), atol=1e-12)
    assert not np.array_equal(np.asarray(final["V"]), np.asarray(p["V"]))
    pT, h = ctr.train_contrastive(p, d, lr=0.05, n_steps=10, grassmann=True, record_steps=[0, 10], record_cv=True)
    W = np.asarray(pT["W"])
    assert np.allclose(W.T @ W, np.eye(3), atol=1e-12)
    assert h["cv_change"][0] <= 1e-14 and h["w_change"][0] == 0.0 and h["cv_change"][-1] > 1e-8


# ---------------------------------------------------------------------------- trainer, Prop 18, Lemma 9


@pytest.mark.parametrize("sim", ["dot", "cosine"])
def test_prop18_identical_columns_bit_identical(sim):
    d = ctr.contrastive_digits(30)
    p = networks.init_two_layer(d.dim, 64, 3, seed=2)
    W = np.array(p["W"])
    W[:, 1] = W[:, 0]
    _, h = ctr.train_contrastive({"V": p["V"], "W": jnp.asarray(W)}, d, lr=0.05, n_steps=60, similarity=sim,
                                 n_records=10)
    F = h["outputs"]
    assert np.array_equal(F[:, :, 0], F[:, :, 1])
    assert np.abs(F[-1] - F[0]).max() > 1e-3 and np.abs(F[:, :, 0] - F[:, :, 2]).max() > 1e-3


def test_trainer_records_ntk_change_consistently():
    d = ctr.contrastive_digits(30)
    p = networks.init_two_layer(d.dim, 64, 2, seed=3)
    X = d.inputs[:7]
    pT, h = ctr.train_contrastive(p, d, lr=0.1, n_steps=20, similarity="cosine", record_steps=[0, 20], ntk_inputs=X)
    K0, KT = ntk.two_layer_ntk(p, X, X), ntk.two_layer_ntk(pT, X, X)
    assert h["ntk_max_change"][0] <= 1e-14  # K(0) inside the compiled recorder vs outside: rounding only
    assert h["ntk_max_change"][-1] == pytest.approx(float(np.abs(KT - K0).max()), rel=1e-12)
    assert h["ntk_drift"][-1] == pytest.approx(float(np.linalg.norm(KT - K0) / np.linalg.norm(K0)), rel=1e-12)
    assert np.allclose(h["outputs"][-1], networks.two_layer_apply(pT, jnp.asarray(d.inputs)), rtol=0, atol=0)


def test_lemma9_right_hand_side_is_the_papers_sum():
    """−K ∇_F L (the field lemma9_flow integrates, with the same K and loss) equals Lemma 9's explicit sum
    over anchors, partners and output coordinates.  lemma9_flow itself is exercised end to end by the
    a_lemma9_ntk_dynamics check (its GD-vs-flow difference falls with width)."""
    d = _tiny_data(N=3, D=4, seed=8)
    p = networks.init_two_layer(4, 30, 2, seed=9)
    delta, N = 0.1, 3
    X = d.inputs
    K = np.asarray(ntk.two_layer_ntk(p, X, X, output="full"))
    F0 = np.asarray(networks.two_layer_apply(p, jnp.asarray(X)))
    s = lambda a, b: ctr.similarity(a, b, "cosine", delta=delta)
    g = jax.grad(s, argnums=0)  # g_i(x, y) = ∂s(x, y)/∂f_i(x)
    rhs = np.zeros_like(F0)
    for n in range(N):
        for q, a in enumerate(d.alpha):
            j = N * (1 + q) + n  # row of x_{n,q} in the stacked inputs
            dl = -a  # ∂l/∂s for the linear l
            g_anchor, g_partner = np.asarray(g(F0[n], F0[j])), np.asarray(g(F0[j], F0[n]))
            rhs -= dl / N * (np.einsum("xzi,i->xz", K[:, n], g_anchor) + np.einsum("xzi,i->xz", K[:, j], g_partner))
    fl = ctr.function_loss(N, d.alpha, similarity="cosine", delta=delta)
    field = -np.einsum("abij,bj->ai", K, np.asarray(jax.grad(fl)(jnp.asarray(F0))))
    assert np.allclose(field, rhs, rtol=1e-12, atol=1e-14 * np.abs(rhs).max())


# ---------------------------------------------------------------------------- deep network (Fig 5)


def test_deep_ntk_matches_jacobians():
    d = _tiny_data(N=3, D=4, seed=10)
    p = ctr.init_deep(4, 12, 3, depth=3, seed=1)
    x1, x2 = d.anchors, d.partners[0, :2]
    K = np.asarray(ntk.empirical_ntk(ctr.deep_apply, p, x1, x2))
    assert np.allclose(ctr.deep_ntk(p, x1, x2, output="full"), K, rtol=1e-12, atol=1e-14)
    assert np.allclose(ctr.deep_ntk(p, x1, x2, output="trace"), np.einsum("abii->ab", K) / 3, rtol=1e-12, atol=1e-14)
    one = {"V": (p["V"][0],), "W": p["W"]}
    two = {"V": p["V"][0], "W": p["W"]}
    assert np.allclose(ctr.deep_apply(one, x1), networks.two_layer_apply(two, x1), rtol=1e-14)
    assert np.allclose(ctr.deep_ntk(one, x1, x2, output="full"), ntk.two_layer_ntk(two, x1, x2), rtol=1e-13)


# ---------------------------------------------------------------------------- data, cross-paper drift


def test_contrastive_digits_layout():
    d = ctr.contrastive_digits(50)
    assert d.anchors.shape == (50, 36) and d.partners.shape == (2, 50, 36) and d.alpha == (1, -1)
    assert d.inputs.shape == (150, 36) and d.heldout.shape == (1747, 36)
    # the negative of anchor n is the positive of another anchor, never its own
    neg, pos = d.partners[1], d.partners[0]
    idx = [int(np.flatnonzero(np.all(pos == row, axis=1))[0]) for row in neg]
    assert all(i != n for n, i in enumerate(idx))
    assert np.mean(np.sum(np.concatenate([d.anchors, pos]) ** 2, axis=1)) == pytest.approx(1.0)


def test_ntk_drift_by_loss_runs_all_four_losses():
    out = ctr.ntk_drift_by_loss([16], T=0.5, lr=0.05, n=20, n_ntk=10)
    for k in ("supervised_mse", "barlow_twins", "contrastive_dot", "contrastive_cosine"):
        assert out[k].shape == (1,) and np.all(np.isfinite(out[k])) and np.all(out[k] > 0)
    assert list(out["widths"]) == [16]


# ---------------------------------------------------------------------------- bad inputs


def test_bad_inputs_are_named():
    fa, fp = np.zeros((3, 2)), np.zeros((2, 3, 2))
    with pytest.raises(ValueError, match="alpha"):
        ctr.contrastive_loss(fa, fp, (1, 0))
    with pytest.raises(ValueError, match="f_partners"):
        ctr.contrastive_loss(fa, np.zeros((3, 3, 2)), (1, -1))
    with pytest.raises(ValueError, match="similarity"):
        ctr.contrastive_loss(fa, fp, (1, -1), similarity="euclid")
    with pytest.raises(ValueError, match="loss"):
        ctr.contrastive_loss(fa, fp, (1, -1), loss="hinge")
    with pytest.raises(ValueError, match="delta"):
        ctr.contrastive_loss(fa, fp, (1, -1), similarity="cosine", delta=0.0)
    with pytest.raises(ValueError, match="anchor_norms"):
        ctr.contrastive_loss(fa, fp, (1, -1), similarity="cosine_bound")
    with pytest.raises(ValueError, match="partners"):
        ctr.ContrastiveData(np.zeros((3, 2)), np.zeros((1, 3, 2)), (1, -1))
    with pytest.raises(ValueError, match="anchors"):
        ctr.ContrastiveData(np.full((3, 2), np.nan), np.zeros((2, 3, 2)), (1, -1))
    with pytest.raises(ValueError, match="n must be < 1797"):
        ctr.contrastive_digits(1797)
    with pytest.raises(TypeError, match="data"):
        ctr.train_contrastive({"V": np.zeros((2, 2)), "W": np.zeros((2, 1))}, np.zeros((3, 2)), lr=0.1, n_steps=1)
    d = _tiny_data()
    p = networks.init_two_layer(3, 8, 2)
    with pytest.raises(ValueError, match="lr"):
        ctr.train_contrastive(p, d, lr=-1.0, n_steps=1)
    with pytest.raises(ValueError, match="similarity"):
        ctr.lemma9_flow(p, d, [1.0], similarity="cosine_bound")
    with pytest.raises(ValueError, match="n_components"):
        ctr.cv_eigh(ctr.cv_factors(p, d, "dot"), 100)
    with pytest.raises(ValueError, match="similarity"):
        ctr.cv_factors(p, d, "cosine")
    with pytest.raises(ValueError, match="widths"):
        ctr.ntk_drift_by_loss([])
    with pytest.raises(ValueError, match="test_repr"):
        ctr.downstream_accuracy(np.zeros((4, 2)), np.zeros(4), np.zeros((4, 3)), np.zeros(4))


# ---------------------------------------------------------------------------- registered checks (fast)

A_CHECKS = [c.name for c in list_checks() if c.paper == "A" and c.func.__module__.endswith("contrastive_checks")]


def test_all_eight_checks_registered():
    assert set(A_CHECKS) == {"a_lemma9_ntk_dynamics", "a_prop10_blowup", "a_dot_product_ntk_diverges",
                             "a_theorem13_cosine_ntk", "a_lemma16_cv_drift", "a_lemma17_pca_stability",
                             "a_prop18_identical_columns", "a_fig5_deep_and_downstream"}
