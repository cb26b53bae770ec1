"""dynamics.losses: every loss against an independent formula, its gradient against finite differences.

The references are written independently of the package: explicit sums over i, j in NumPy loops, an
explicit loop over the 2N anchors of NT-Xent, and a literal NumPy transcription of the formulas of the
official Barlow Twins (Zbontar et al. 2021) and VICReg (Bardes et al. 2022) code.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynamics import barlow, contrastive, flows, losses

RNG = np.random.default_rng(12)


def _r(*shape, scale=1.0, seed=None):
    rng = RNG if seed is None else np.random.default_rng(seed)
    return scale * rng.standard_normal(shape)


# ---------------------------------------------------------------------------------------------
# independent references


def _bt_loops(za, zb, lambd=1.0, symmetrize=False):
    N, D = za.shape
    c = np.zeros((D, D))
    for i in range(D):
        for j in range(D):
            c[i, j] = sum(za[n, i] * zb[n, j] for n in range(N)) / N
    if symmetrize:
        c = np.array([[(c[i, j] + c[j, i]) / 2 for j in range(D)] for i in range(D)])
    on = sum((1 - c[i, i]) ** 2 for i in range(D))
    off = sum(c[i, j] ** 2 for i in range(D) for j in range(D) if i != j)
    return on + lambd * off


def _off_diagonal(x):
    """The official code's off_diagonal: all entries of a square matrix but the diagonal, flattened."""
    n, m = x.shape
    assert n == m
    return x.flatten()[:-1].reshape(n - 1, n + 1)[:, 1:].flatten()


def _bt_official(z1, z2, lambd):
    """Zbontar et al.'s BarlowTwins.forward in NumPy: bn (affine=False, training mode, eps 1e-5), c = bn(z1)ᵀ bn(z2) / N."""
    def bn(z):
        return (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-5)  # biased variance, as BatchNorm1d
    c = bn(z1).T @ bn(z2)
    c = c / z1.shape[0]
    on_diag = np.sum((np.diagonal(c) - 1) ** 2)
    off_diag = np.sum(_off_diagonal(c) ** 2)
    return on_diag + lambd * off_diag


def _vicreg_official(x, y, sim_coeff=25.0, std_coeff=25.0, cov_coeff=1.0, eps=1e-4):
    """Bardes et al.'s VICReg.forward in NumPy (one device: the gathered batch is the batch)."""
    batch_size, num_features = x.shape
    repr_loss = np.mean((x - y) ** 2)  # F.mse_loss
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    std_x = np.sqrt(x.var(axis=0, ddof=1) + eps)  # torch.var is unbiased
    std_y = np.sqrt(y.var(axis=0, ddof=1) + eps)
    std_loss = np.mean(np.maximum(1 - std_x, 0)) / 2 + np.mean(np.maximum(1 - std_y, 0)) / 2
    cov_x = (x.T @ x) / (batch_size - 1)
    cov_y = (y.T @ y) / (batch_size - 1)
    cov_loss = np.sum(_off_diagonal(cov_x) ** 2) / num_features + np.sum(_off_diagonal(cov_y) ** 2) / num_features
    return sim_coeff * repr_loss + std_coeff * std_loss + cov_coeff * cov_loss


def _vicreg_loops(za, zb, sim_coeff=25.0, std_coeff=25.0, cov_coeff=1.0, eps=1e-4):
    N, D = za.shape
    inv = sum((za[n, k] - zb[n, k]) ** 2 for n in range(N) for k in range(D)) / (N * D)
    var_terms, cov_terms = [], []
    for z in (za, zb):
        mean = [sum(z[n, k] for n in range(N)) / N for k in range(D)]
        zc = [[z[n, k] - mean[k] for k in range(D)] for n in range(N)]
        std = [np.sqrt(sum(zc[n][k] ** 2 for n in range(N)) / (N - 1) + eps) for k in range(D)]
        var_terms.append(sum(max(0.0, 1 - s) for s in std) / D)
        cov = [[sum(zc[n][i] * zc[n][j] for n in range(N)) / (N - 1) for j in range(D)] for i in range(D)]
        cov_terms.append(sum(cov[i][j] ** 2 for i in range(D) for j in range(D) if i != j) / D)
    return sim_coeff * inv + std_coeff * (var_terms[0] + var_terms[1]) / 2 + cov_coeff * (cov_terms[0] + cov_terms[1])


def _nt_xent_loops(za, zb, tau):
    N = za.shape[0]
    rows = [v / np.linalg.norm(v) for v in np.concatenate([za, zb])]
    total = 0.0
    for k in range(2 * N):
        partner = k + N if k < N else k - N
        sims = {l: float(rows[k] @ rows[l]) / tau for l in range(2 * N)}
        denom = sum(np.exp(sims[l]) for l in range(2 * N) if l != k)
        total += -np.log(np.exp(sims[partner]) / denom)
    return total / (2 * N)


def _triplet_loops(fa, fp, fn):
    n = fa.shape[0]
    return -sum(sum(fa[i, k] * (fp[i, k] - fn[i, k]) for k in range(fa.shape[1])) for i in range(n)) / n


def _mse_loops(out, y):
    n, d = out.shape
    return sum(sum((out[i, k] - y[i, k]) ** 2 for k in range(d)) for i in range(n)) / (2 * n)


# ---------------------------------------------------------------------------------------------
# values


@pytest.mark.parametrize("lambd", [1.0, 0.0051, 0.0])
@pytest.mark.parametrize("symmetrize", [False, True])
def test_barlow_twins_matches_loops(lambd, symmetrize):
    za, zb = _r(7, 4), _r(7, 4)
    got = float(losses.barlow_twins(za, zb, lambd=lambd, symmetrize=symmetrize))
    assert got == pytest.approx(_bt_loops(za, zb, lambd, symmetrize), rel=1e-12, abs=1e-10)


@pytest.mark.parametrize("lambd", [1.0, 0.0051])
def test_barlow_twins_batch_norm_matches_official_code(lambd):
    za, zb = _r(9, 5, scale=3.0) + 2.0, _r(9, 5)
    got = float(losses.barlow_twins(za, zb, lambd=lambd, batch_norm=True))
    assert abs(got - _bt_official(za, zb, lambd)) < 1e-10
    # and the official formula without batch norm is the loop formula
    assert float(losses.barlow_twins(za, zb, lambd=lambd)) == pytest.approx(_bt_loops(za, zb, lambd), rel=1e-12)


def test_barlow_twins_symmetrized_is_simon_loss_of_linear_model():
    """S1–S2 with λ = 1 equals barlow.loss(W, Γ) (S5) for z = x Wᵀ, Γ = barlow.cross_correlation(x, x') (S4)."""
    x, xp, W = _r(11, 6), _r(11, 6), _r(3, 6, scale=0.5)
    Gamma = barlow.cross_correlation(x, xp)
    got = float(losses.barlow_twins(x @ W.T, xp @ W.T, symmetrize=True))
    assert got == pytest.approx(barlow.loss(W, Gamma), rel=1e-12)
    assert barlow.loss_from_embeddings(x @ W.T, xp @ W.T) == pytest.approx(got, rel=1e-14)
    F = np.concatenate([x @ W.T, xp @ W.T])
    assert float(losses.barlow_twins_function_loss(11)(F)) == got
    # the unsymmetrised loss differs when c is not symmetric
    assert abs(float(losses.barlow_twins(x @ W.T, xp @ W.T)) - got) > 1e-6


@pytest.mark.parametrize("coeffs", [{}, {"sim_coeff": 1.0, "std_coeff": 3.0, "cov_coeff": 0.5, "eps": 0.0}])
def test_vicreg_matches_official_code_and_loops(coeffs):
    # columns with std below and above 1, so the hinge is active on some and not others
    za = _r(8, 4) * np.array([0.3, 2.0, 0.7, 1.5]) + 1.0
    zb = za + _r(8, 4, scale=0.2)
    got = float(losses.vicreg(za, zb, **coeffs))
    assert abs(got - _vicreg_official(za, zb, **coeffs)) < 1e-10
    assert abs(got - _vicreg_loops(za, zb, **coeffs)) < 1e-10


@pytest.mark.parametrize("tau", [0.5, 0.1, 2.0])
def test_nt_xent_matches_loop_over_anchors(tau):
    za, zb = _r(6, 3), _r(6, 3)
    got = float(losses.nt_xent(za, zb, temperature=tau))
    assert abs(got - _nt_xent_loops(za, zb, tau)) < 1e-10


def test_nt_xent_is_scale_invariant_and_handles_zero_rows():
    za, zb = _r(4, 3), _r(4, 3)
    ref = float(losses.nt_xent(za, zb))
    assert float(losses.nt_xent(1e-9 * za, 1e3 * zb)) == pytest.approx(ref, rel=1e-12)
    za0 = za.copy()
    za0[1] = 0.0
    val, g = jax.value_and_grad(losses.nt_xent)(jnp.asarray(za0), jnp.asarray(zb))
    assert np.isfinite(float(val)) and np.all(np.isfinite(np.asarray(g)))
    # two identical views: every positive similarity is 1/τ, the negatives are smaller
    assert float(losses.nt_xent(za, za)) < ref


@pytest.mark.parametrize("similarity,loss", [("dot", "linear"), ("cosine", "log_softmax")])
def test_contrastive_matches_loops(similarity, loss):
    N, Q, Z, alpha, delta, tau = 5, 3, 4, (1, -1, 1), 0.1, 0.7
    fa, fp = _r(N, Z), _r(Q, N, Z)
    total = 0.0
    for n in range(N):
        s = []
        for q in range(Q):
            dot = sum(fa[n, k] * fp[q, n, k] for k in range(Z))
            if similarity == "cosine":
                dot /= (np.linalg.norm(fa[n]) + delta) * (np.linalg.norm(fp[q, n]) + delta)
            s.append(dot)
        if loss == "linear":
            total += -sum(a * v for a, v in zip(alpha, s))
        else:
            z = np.array(s) / tau
            logp = z - np.log(np.sum(np.exp(z)))
            pos = [q for q in range(Q) if alpha[q] == 1]
            total += -sum(logp[q] for q in pos) / len(pos)
    got = float(losses.contrastive(fa, fp, alpha, similarity=similarity, loss=loss, delta=delta, temperature=tau))
    assert abs(got - total / N) < 1e-10
    F = np.concatenate([fa, fp.reshape(Q * N, Z)])
    fl = losses.contrastive_function_loss(N, alpha, similarity=similarity, loss=loss, delta=delta, temperature=tau)
    assert abs(float(fl(F)) - got) < 1e-14


def test_triplet_and_non_contrastive_are_a1_special_cases():
    fa, fp, fn = _r(6, 3), _r(6, 3), _r(6, 3)
    t = float(losses.triplet_contrastive(fa, fp, fn))
    assert abs(t - _triplet_loops(fa, fp, fn)) < 1e-10
    assert abs(t - float(losses.contrastive(fa, np.stack([fp, fn]), (1, -1), similarity="dot", loss="linear"))) < 1e-14
    nc = float(losses.non_contrastive(fa, fp))
    assert abs(nc - _triplet_loops(fa, fp, np.zeros_like(fn))) < 1e-10
    assert abs(nc - float(losses.contrastive(fa, fp[None], (1,)))) < 1e-14
    # E1 of the stacked outputs is A1's function loss with α = (+1, −1)
    F = np.concatenate([fa, fp, fn])
    assert abs(float(losses.contrastive_function_loss(6, (1, -1))(F)) - t) < 1e-14


def test_mse_matches_loops():
    out, y = _r(5, 3), _r(5, 3)
    assert abs(float(losses.mse(out, y)) - _mse_loops(out, y)) < 1e-12


def test_paper_names_are_the_same_objects():
    assert contrastive.contrastive_loss is losses.contrastive
    assert contrastive.function_loss is losses.contrastive_function_loss
    assert contrastive.similarity is losses.similarity
    assert contrastive.reduce_similarities is losses.reduce_similarities
    assert contrastive.safe_norm is losses.safe_norm
    assert contrastive.DEFAULT_DELTA == losses.DEFAULT_DELTA
    assert flows.barlow_twins_function_loss is losses.barlow_twins_function_loss
    assert losses.barlow_twins_function_loss(3) is losses.barlow_twins_function_loss(3)
    assert losses.contrastive_function_loss(2, [1, -1]) is losses.contrastive_function_loss(2, (1.0, -1.0))


# ---------------------------------------------------------------------------------------------
# gradients, jit, dtype

_LOSSES = {
    "barlow_twins": (lambda a, b: losses.barlow_twins(a, b, lambd=0.3), 2),
    "barlow_twins-bn": (lambda a, b: losses.barlow_twins(a, b, lambd=0.3, batch_norm=True), 2),
    "barlow_twins-sym": (lambda a, b: losses.barlow_twins(a, b, symmetrize=True), 2),
    "vicreg": (lambda a, b: losses.vicreg(a, b), 2),
    "nt_xent": (lambda a, b: losses.nt_xent(a, b, temperature=0.3), 2),
    "contrastive-cosine-log_softmax": (
        lambda a, b, c: losses.contrastive(a, jnp.stack([b, c]), (1, -1), similarity="cosine", loss="log_softmax",
                                           temperature=0.5), 3),
    "contrastive-cosine_bound": (
        lambda a, b, c: losses.contrastive(a, jnp.stack([b, c]), (1, -1), similarity="cosine_bound",
                                           anchor_norms=jnp.full(a.shape[0], 2.0),
                                           partner_norms=jnp.full((2, a.shape[0]), 3.0)), 3),
    "triplet_contrastive": (losses.triplet_contrastive, 3),
    "non_contrastive": (losses.non_contrastive, 2),
    "mse": (losses.mse, 2),
    "barlow_twins_function_loss": (lambda a, b: losses.barlow_twins_function_loss(a.shape[0])(jnp.concatenate([a, b])),
                                   2),
    "contrastive_function_loss": (
        lambda a, b, c: losses.contrastive_function_loss(a.shape[0], (1, -1), similarity="cosine")(
            jnp.concatenate([a, b, c])), 3),
}


def _inputs(k, N=5, D=3, seed=3):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((N, D)) * np.array([0.4, 1.3, 0.8]) + 0.5
    return [base + 0.5 * rng.standard_normal((N, D)) for _ in range(k)]


@pytest.mark.parametrize("name", list(_LOSSES))
def test_gradient_matches_central_differences(name):
    fn, k = _LOSSES[name]
    args = [jnp.asarray(a) for a in _inputs(k)]
    f = jax.jit(fn)
    grads = jax.grad(fn, argnums=tuple(range(k)))(*args)
    h = 1e-6
    for a_idx in range(k):
        fd = np.zeros(args[a_idx].shape)
        for idx in np.ndindex(*args[a_idx].shape):
            plus = [a.at[idx].add(h) if j == a_idx else a for j, a in enumerate(args)]
            minus = [a.at[idx].add(-h) if j == a_idx else a for j, a in enumerate(args)]
            fd[idx] = (float(f(*plus)) - float(f(*minus))) / (2 * h)
        g = np.asarray(grads[a_idx])
        scale = max(1.0, float(np.max(np.abs(fd))))
        assert np.max(np.abs(g - fd)) < 1e-7 * scale, (name, a_idx, np.max(np.abs(g - fd)))


@pytest.mark.parametrize("name", list(_LOSSES))
def test_jit_equals_eager_and_float32_stays_float32(name):
    fn, k = _LOSSES[name]
    args = _inputs(k)
    eager = fn(*[jnp.asarray(a) for a in args])
    assert eager.dtype == jnp.float64
    assert float(jax.jit(fn)(*args)) == pytest.approx(float(eager), rel=1e-13, abs=1e-14)
    args32 = [jnp.asarray(a, dtype=jnp.float32) for a in args]
    out32 = fn(*args32)
    assert out32.dtype == jnp.float32
    assert float(out32) == pytest.approx(float(eager), rel=1e-4, abs=1e-5)
    grads32 = jax.grad(fn, argnums=tuple(range(k)))(*args32)
    assert all(g.dtype == jnp.float32 for g in grads32)


def test_float32_without_x64_in_a_fresh_process():
    """Without float64 enabled (a user's float32 code), the losses return float32 and do not switch x64 on."""
    import subprocess
    import sys
    code = ("import jax, jax.numpy as jnp, numpy as np\n"
            "import dynamics\n"
            "from dynamics import losses\n"
            "z = jnp.asarray(np.random.default_rng(0).standard_normal((6, 3)), dtype=jnp.float32)\n"
            "outs = [losses.barlow_twins(z, z + 1, batch_norm=True), losses.vicreg(z, z), losses.nt_xent(z, -z),\n"
            "        losses.triplet_contrastive(z, z, z), losses.mse(z, z), losses.contrastive(z, z[None], (1,)),\n"
            "        losses.barlow_twins_function_loss(3)(z)]\n"
            "assert all(o.dtype == jnp.float32 for o in outs), [o.dtype for o in outs]\n"
            "assert not jax.config.jax_enable_x64\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_integer_input_is_promoted_to_float():
    za = np.arange(12).reshape(4, 3)
    assert losses.barlow_twins(za, za).dtype == jnp.float64
    assert float(losses.mse(za, za + 1)) == pytest.approx(1.5)


def test_hyperparameters_may_be_traced():
    za, zb = _inputs(2)
    g_l = jax.grad(lambda lam: losses.barlow_twins(za, zb, lambd=lam))(0.5)
    assert float(g_l) == pytest.approx(_bt_loops(za, zb, 1.0) - _bt_loops(za, zb, 0.0), rel=1e-10)
    g_t = jax.grad(lambda tau: losses.nt_xent(za, zb, temperature=tau))(0.5)
    h = 1e-6
    fd = (_nt_xent_loops(za, zb, 0.5 + h) - _nt_xent_loops(za, zb, 0.5 - h)) / (2 * h)
    assert float(g_t) == pytest.approx(fd, rel=1e-6)
    v = jax.jit(lambda e: losses.vicreg(za, zb, eps=e))(1e-4)
    assert float(v) == pytest.approx(_vicreg_official(za, zb), rel=1e-12)


def test_nan_inside_jit_propagates_instead_of_raising():
    za, zb = _inputs(2)
    za = za.copy()
    za[0, 0] = np.nan
    for fn in (losses.barlow_twins, losses.vicreg, losses.nt_xent, losses.mse):
        assert np.isnan(float(jax.jit(fn)(za, zb)))


# ---------------------------------------------------------------------------------------------
# bad input

_Z = _r(4, 3)
_NAN = _Z.copy()
_NAN[1, 2] = np.nan

BAD = [
    ("barlow_twins-shape", lambda: losses.barlow_twins(_Z, _r(4, 2)), ValueError, "z_a and z_b must have the same shape"),
    ("barlow_twins-1d", lambda: losses.barlow_twins(_Z[:, 0], _Z[:, 1]), ValueError, "z_a must be 2-D"),
    ("barlow_twins-nan", lambda: losses.barlow_twins(_Z, _NAN), ValueError, "z_b must be finite"),
    ("barlow_twins-lambd", lambda: losses.barlow_twins(_Z, _Z, lambd=-1.0), ValueError, "lambd must be"),
    ("barlow_twins-lambd_nan", lambda: losses.barlow_twins(_Z, _Z, lambd=np.nan), ValueError, "lambd must be"),
    ("barlow_twins-bn_one_row", lambda: losses.barlow_twins(_Z[:1], _Z[:1], batch_norm=True), ValueError,
     "z_a must have at least 2"),
    ("barlow_twins-batch_norm_type", lambda: losses.barlow_twins(_Z, _Z, batch_norm="yes"), TypeError,
     "batch_norm must be True or False"),
    ("barlow_twins-symmetrize_type", lambda: losses.barlow_twins(_Z, _Z, symmetrize=1), TypeError,
     "symmetrize must be True or False"),
    ("barlow_twins-complex", lambda: losses.barlow_twins(_Z * 1j, _Z), TypeError, "z_a must be a real"),
    ("barlow_twins-strings", lambda: losses.barlow_twins([["a", "b"]], [["a", "b"]]), TypeError, "z_a must be a real"),
    ("barlow_twins-empty", lambda: losses.barlow_twins(np.zeros((0, 3)), np.zeros((0, 3))), ValueError,
     "z_a must have at least 1"),
    ("vicreg-one_row", lambda: losses.vicreg(_Z[:1], _Z[:1]), ValueError, "z_a must have at least 2"),
    ("vicreg-eps", lambda: losses.vicreg(_Z, _Z, eps=-1e-4), ValueError, "eps must be"),
    ("vicreg-sim_coeff", lambda: losses.vicreg(_Z, _Z, sim_coeff=np.nan), ValueError, "sim_coeff must be"),
    ("vicreg-std_coeff", lambda: losses.vicreg(_Z, _Z, std_coeff=-1), ValueError, "std_coeff must be"),
    ("vicreg-cov_coeff", lambda: losses.vicreg(_Z, _Z, cov_coeff="1"), TypeError, "cov_coeff must be"),
    ("vicreg-shape", lambda: losses.vicreg(_Z, _r(5, 3)), ValueError, "z_a and z_b must have the same shape"),
    ("vicreg-nan", lambda: losses.vicreg(_NAN, _Z), ValueError, "z_a must be finite"),
    ("nt_xent-temperature0", lambda: losses.nt_xent(_Z, _Z, temperature=0.0), ValueError, "temperature must be"),
    ("nt_xent-temperature_neg", lambda: losses.nt_xent(_Z, _Z, temperature=-0.5), ValueError, "temperature must be"),
    ("nt_xent-one_pair", lambda: losses.nt_xent(_Z[:1], _Z[:1]), ValueError, "z_a must have at least 2"),
    ("nt_xent-1d", lambda: losses.nt_xent(_Z, _Z[0]), ValueError, "z_b must be 2-D"),
    ("nt_xent-nan", lambda: losses.nt_xent(_Z, _NAN), ValueError, "z_b must be finite"),
    ("contrastive-similarity", lambda: losses.contrastive(_Z, _Z[None], (1,), similarity="euclid"), ValueError,
     "similarity must be one of"),
    ("contrastive-loss", lambda: losses.contrastive(_Z, _Z[None], (1,), loss="hinge"), ValueError,
     "loss must be one of"),
    ("contrastive-temperature", lambda: losses.contrastive(_Z, _Z[None], (1,), loss="log_softmax", temperature=0),
     ValueError, "temperature must be"),
    ("contrastive-delta", lambda: losses.contrastive(_Z, _Z[None], (1,), similarity="cosine", delta=-1.0), ValueError,
     "delta must be"),
    ("contrastive-alpha", lambda: losses.contrastive(_Z, _Z[None], (2,)), ValueError, "alpha must be"),
    ("contrastive-shape", lambda: losses.contrastive(_Z, _Z[None], (1, -1)), ValueError, "f_partners"),
    ("contrastive-nan", lambda: losses.contrastive(_NAN, _Z[None], (1,)), ValueError, "f_anchor must be finite"),
    ("contrastive-norms", lambda: losses.contrastive(_Z, _Z[None], (1,), similarity="cosine_bound"), ValueError,
     "needs anchor_norms"),
    ("contrastive_function_loss-n_anchors", lambda: losses.contrastive_function_loss(0, (1, -1)), ValueError,
     "n_anchors must be >= 1"),
    ("contrastive_function_loss-similarity", lambda: losses.contrastive_function_loss(2, (1, -1), similarity="l2"),
     ValueError, "similarity must be one of"),
    ("contrastive_function_loss-F", lambda: losses.contrastive_function_loss(2, (1, -1))(_Z), ValueError,
     r"F must be \(N\(1\+Q\), Z\)"),
    ("triplet_contrastive-shape", lambda: losses.triplet_contrastive(_Z, _Z, _r(3, 3)), ValueError,
     "f_negative must have the shape of f_anchor"),
    ("triplet_contrastive-1d", lambda: losses.triplet_contrastive(_Z[0], _Z[0], _Z[0]), ValueError,
     "f_anchor must be 2-D"),
    ("triplet_contrastive-nan", lambda: losses.triplet_contrastive(_Z, _NAN, _Z), ValueError,
     "f_positive must be finite"),
    ("non_contrastive-shape", lambda: losses.non_contrastive(_Z, _r(4, 2)), ValueError,
     "f_positive must have the shape of f_anchor"),
    ("mse-shape", lambda: losses.mse(_Z, _r(4, 2)), ValueError, "targets must have the shape of outputs"),
    ("mse-1d", lambda: losses.mse(_Z[:, 0], _Z[:, 1]), ValueError, "outputs must be 2-D"),
    ("mse-nan", lambda: losses.mse(_Z, _NAN), ValueError, "targets must be finite"),
    ("barlow_twins_function_loss-n", lambda: losses.barlow_twins_function_loss(0), ValueError, "n must be >= 1"),
    ("barlow_twins_function_loss-n_bool", lambda: losses.barlow_twins_function_loss(True), TypeError,
     "n must be an integer"),
    ("barlow_twins_function_loss-F", lambda: losses.barlow_twins_function_loss(3)(_Z), ValueError,
     r"F must be \(2n, d\)"),
    ("barlow_twins_function_loss-nan", lambda: losses.barlow_twins_function_loss(2)(_NAN), ValueError,
     "F must be finite"),
    ("safe_norm-nan", lambda: losses.safe_norm(_NAN), ValueError, "f must be finite"),
    ("check_alpha-empty", lambda: losses.check_alpha(()), ValueError, "alpha must be a non-empty"),
    ("check_alpha-strings", lambda: losses.check_alpha(("a",)), ValueError, "alpha must be a non-empty"),
    ("modified_barlow_twins-modification", lambda: losses.modified_barlow_twins(_Z, _Z, modification="cube"),
     ValueError, "modification must be one of"),
    ("modified_barlow_twins-shape", lambda: losses.modified_barlow_twins(_Z, _r(4, 2)), ValueError,
     "z_a and z_b must have the same shape"),
    ("modified_barlow_twins-nan", lambda: losses.modified_barlow_twins(_Z, _NAN), ValueError, "must be finite"),
    ("preconditioned-alpha", lambda: losses.preconditioned(losses.barlow_twins, -1.0), ValueError,
     "alpha must be finite and > 0"),
    ("preconditioned-loss_fn", lambda: losses.preconditioned("barlow_twins", 1.0), TypeError,
     "loss_fn must be callable"),
]


@pytest.mark.parametrize("fn,exc,match", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_names_the_argument(fn, exc, match):
    with pytest.raises(exc, match=match):
        fn()


def test_every_public_loss_has_a_bad_input_case():
    covered = {c[0].split("-")[0] for c in BAD}
    public = {n for n in losses.__all__ if callable(getattr(losses, n)) and n not in ("similarity", "reduce_similarities")}
    # similarity / reduce_similarities are covered in tests/test_validation.py and test_robust_validation.py
    assert public <= covered, public - covered


def test_shape_errors_also_under_jit():
    with pytest.raises(ValueError, match="z_a and z_b must have the same shape"):
        jax.jit(losses.vicreg)(_Z, _r(4, 2))
    with pytest.raises(ValueError, match="z_a must have at least 2"):
        jax.jit(losses.nt_xent)(_Z[:1], _Z[:1])
