"""The S App. G losses of dynamics.losses: modified_barlow_twins, preconditioned, vicreg(sqrt=False).

References are independent: the spectral losses from NumPy's eigvalsh of an explicitly looped C, gradients
from central differences, the S52 gradient from jax.grad of the plain loss multiplied by (FᵀF + αI)^{-1}
in NumPy.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynamics import losses

RNG = np.random.default_rng(15)
EPS, WIDTH = 0.1, 0.25


def _r(*shape, scale=1.0):
    return scale * RNG.standard_normal(shape)


def _C_loops(za, zb):
    N, D = za.shape
    C = np.zeros((D, D))
    for i in range(D):
        for j in range(D):
            C[i, j] = sum(za[n, i] * zb[n, j] + zb[n, i] * za[n, j] for n in range(N)) / (2 * N)
    return C


def _ell_numpy(kind, lam):
    if kind == "none":
        return (1 - lam) ** 2
    if kind == "sqr":
        return (np.sign(lam) * np.sqrt(np.abs(lam)) - 1) ** 2
    if kind == "smooth_min":
        return (np.minimum(lam, 1) - 1) ** 2
    if kind == "smooth_eps":
        return (np.minimum(lam, 1 + EPS * (1 - lam)) - 1) ** 2
    if kind == "quartic":
        return (1 - lam) ** 4
    if kind == "hinge":
        return np.maximum(np.abs(1 - lam) - WIDTH, 0) ** 2
    raise AssertionError(kind)


def _loss(kind, za, zb, **kw):
    return losses.modified_barlow_twins(za, zb, modification=kind, eps=EPS, width=WIDTH, **kw)


def _pairs(N=9, D=4, scale=0.6):
    """Pairs whose C has eigenvalues on both sides of 1 and of 0 (every branch of each ℓ is visited)."""
    za = _r(N, D, scale=scale)
    zb = za + _r(N, D, scale=0.5 * scale)
    za[:, 0] *= 2.2
    zb[:, 0] *= 2.2
    return za, zb


def test_none_equals_barlow_twins():
    za, zb = _pairs()
    for bn in (False, True):
        a = losses.modified_barlow_twins(za, zb, modification="none", batch_norm=bn)
        b = losses.barlow_twins(za, zb, lambd=1.0, symmetrize=True, batch_norm=bn)
        assert abs(float(a) - float(b)) < 1e-12


@pytest.mark.parametrize("kind", losses.MODIFICATIONS)
def test_spectral_loss_equals_numpy_eigvalsh(kind):
    za, zb = _pairs()
    lam = np.linalg.eigvalsh(_C_loops(za, zb))
    assert lam.min() < 1 < lam.max()
    ref = float(np.sum(_ell_numpy(kind, lam)))
    assert float(_loss(kind, za, zb)) == pytest.approx(ref, rel=1e-12, abs=1e-13)


def test_sqr_sees_negative_eigenvalues():
    za = _r(8, 3)
    zb = -za + _r(8, 3, scale=0.1)  # anti-correlated views: C negative definite
    lam = np.linalg.eigvalsh(_C_loops(za, zb))
    assert lam.max() < 0
    assert float(_loss("sqr", za, zb)) == pytest.approx(np.sum((np.sqrt(-lam) + 1) ** 2), rel=1e-12)


def _central_difference(f, z, h=1e-6):
    g = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        g[idx] = (float(f(zp)) - float(f(zm))) / (2 * h)
    return g


@pytest.mark.parametrize("kind", losses.MODIFICATIONS)
def test_gradient_vs_central_differences(kind):
    za, zb = _pairs(N=7, D=3)
    lam = np.linalg.eigvalsh(_C_loops(za, zb))
    assert np.min(np.abs(lam - 1)) > 1e-2 and np.min(np.abs(np.abs(lam - 1) - WIDTH)) > 1e-2  # away from kinks
    ga, gb = jax.grad(lambda a, b: _loss(kind, a, b), argnums=(0, 1))(za, zb)
    fd_a = _central_difference(lambda a: _loss(kind, a, zb), za)
    fd_b = _central_difference(lambda b: _loss(kind, za, b), zb)
    np.testing.assert_allclose(ga, fd_a, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gb, fd_b, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kind", ["sqr", "smooth_eps", "hinge"])
def test_gradient_at_a_degenerate_C(kind):
    """C = c I + (rank-one bump): two equal eigenvalues; the derivative U diag(ℓ') Uᵀ is finite and matches
    central differences of the loss in z_a (NumPy eigvalsh of the perturbed C)."""
    N, D = 6, 3
    Q, _ = np.linalg.qr(_r(N, D))
    za = np.sqrt(N) * Q * np.array([0.5, 0.5, 1.3])  # zaᵀza / N = diag(0.25, 0.25, 1.69)
    zb = za.copy()
    lam = np.linalg.eigvalsh(_C_loops(za, zb))
    assert abs(lam[0] - lam[1]) < 1e-12
    grad = jax.grad(lambda a: _loss(kind, a, zb))(za)
    assert np.all(np.isfinite(grad))

    def numpy_loss(a):
        return np.sum(_ell_numpy(kind, np.linalg.eigvalsh(_C_loops(a, zb))))

    np.testing.assert_allclose(grad, _central_difference(numpy_loss, za), rtol=1e-6, atol=1e-8)


def test_sqr_gradient_floor_at_zero_eigenvalue():
    """At λ = 0 the g_sqr derivative is −floor^{-1/2} (the stated regularisation), finite:
    with C = diag(0, 0.49), ∂L/∂z_a = z_b diag(ℓ'(λ)) / N."""
    N = 4
    Q, _ = np.linalg.qr(_r(N, 2))
    za = np.sqrt(N) * Q * np.array([0.0, 0.7])
    zb = np.sqrt(N) * Q * np.array([1.0, 0.7])  # column 0: za ⟂ nothing, C_00 = 0; C = diag(0, 0.49)
    np.testing.assert_allclose(_C_loops(za, zb), np.diag([0.0, 0.49]), atol=1e-14)
    for floor in (1e-12, 1e-6):
        g = jax.grad(lambda a: losses.modified_barlow_twins(a, zb, modification="sqr", floor=floor))(za)
        dell = np.array([-floor ** -0.5, (0.7 - 1) / 0.7])
        np.testing.assert_allclose(g, zb * dell / N, rtol=1e-10, atol=1e-12 * floor ** -0.5)


@pytest.mark.parametrize("kind", losses.MODIFICATIONS)
def test_float32_jit_and_traced_hyperparameters(kind):
    za, zb = _pairs()
    za32, zb32 = jnp.asarray(za, jnp.float32), jnp.asarray(zb, jnp.float32)
    eager = _loss(kind, za32, zb32)
    assert eager.dtype == jnp.float32
    g = jax.grad(lambda a: _loss(kind, a, zb32))(za32)
    assert g.dtype == jnp.float32
    jitted = jax.jit(lambda a, b, e, w: losses.modified_barlow_twins(a, b, modification=kind, eps=e, width=w))
    assert float(jitted(za, zb, EPS, WIDTH)) == pytest.approx(float(_loss(kind, za, zb)), rel=1e-13)
    assert float(eager) == pytest.approx(float(_loss(kind, za, zb)), rel=1e-5)


def test_modified_barlow_twins_bad_input():
    za, zb = _pairs()
    with pytest.raises(ValueError, match="modification"):
        losses.modified_barlow_twins(za, zb, modification="sqrt")
    with pytest.raises(ValueError, match="eps"):
        losses.modified_barlow_twins(za, zb, modification="smooth_eps", eps=-0.1)
    with pytest.raises(ValueError, match="width"):
        losses.modified_barlow_twins(za, zb, modification="hinge", width=float("nan"))
    with pytest.raises(ValueError, match="floor"):
        losses.modified_barlow_twins(za, zb, modification="sqr", floor=0.0)
    with pytest.raises(TypeError, match="eps"):
        losses.modified_barlow_twins(za, zb, eps="0.1")
    with pytest.raises(ValueError, match="z_a and z_b"):
        losses.modified_barlow_twins(za, zb[:, :2])
    bad = za.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="z_a"):
        losses.modified_barlow_twins(bad, zb, modification="sqr")
    with pytest.raises(TypeError, match="batch_norm"):
        losses.modified_barlow_twins(za, zb, batch_norm="yes")


# ---------------------------------------------------------------------------------------------
# preconditioned (S52)

CASES = [
    ("barlow_twins", losses.barlow_twins, {"lambd": 0.5}),
    ("vicreg", losses.vicreg, {}),
    ("nt_xent", losses.nt_xent, {"temperature": 0.3}),
    ("modified_sqr", losses.modified_barlow_twins, {"modification": "sqr"}),
]


@pytest.mark.parametrize("name,fn,kw", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("alpha", [1e-3, 2.0])
def test_preconditioned_gradient(name, fn, kw, alpha):
    za, zb = _pairs(N=8, D=3)
    pre = losses.preconditioned(fn, alpha)
    assert float(pre(za, zb, **kw)) == float(fn(za, zb, **kw))
    ga, gb = jax.grad(lambda a, b: fn(a, b, **kw), argnums=(0, 1))(za, zb)
    F = np.vstack([za, zb])
    G = np.vstack([np.asarray(ga), np.asarray(gb)])
    expected = G @ np.linalg.inv(F.T @ F + alpha * np.eye(3))
    pa, pb = jax.grad(lambda a, b: pre(a, b, **kw), argnums=(0, 1))(za, zb)
    np.testing.assert_allclose(np.vstack([pa, pb]), expected, rtol=1e-9, atol=1e-12)
    ja, jb = jax.jit(jax.grad(lambda a, b: pre(a, b, **kw), argnums=(0, 1)))(za, zb)
    np.testing.assert_allclose(np.vstack([ja, jb]), expected, rtol=1e-9, atol=1e-12)
    # the transform differs from the plain gradient (it is not the identity)
    assert np.max(np.abs(expected - G)) > 1e-3 * np.max(np.abs(G))


def test_preconditioned_float32_and_through_a_model():
    za, zb = _pairs(N=8, D=3)
    W = jnp.asarray(_r(3, 3), jnp.float32)
    x, xp = jnp.asarray(za, jnp.float32), jnp.asarray(zb, jnp.float32)
    pre = losses.preconditioned(losses.barlow_twins, 0.1)
    g = jax.grad(lambda w: pre(x @ w, xp @ w))(W)
    assert g.dtype == jnp.float32
    # chain rule: ∇_W = xᵀ (∇_{z_a} P) + x'ᵀ (∇_{z_b} P) with the preconditioned output gradient
    xa, xb = np.asarray(x, np.float64), np.asarray(xp, np.float64)
    W64 = np.asarray(W, np.float64)
    ga, gb = jax.grad(lambda a, b: losses.barlow_twins(a, b), argnums=(0, 1))(xa @ W64, xb @ W64)
    F = np.vstack([xa @ W64, xb @ W64])
    P = np.linalg.inv(F.T @ F + 0.1 * np.eye(3))
    ref = xa.T @ (np.asarray(ga) @ P) + xb.T @ (np.asarray(gb) @ P)
    np.testing.assert_allclose(g, ref, rtol=2e-4, atol=1e-5)


def test_preconditioned_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        losses.preconditioned(losses.barlow_twins, 0.0)
    with pytest.raises(ValueError, match="alpha"):
        losses.preconditioned(losses.barlow_twins, float("inf"))
    with pytest.raises(TypeError, match="alpha"):
        losses.preconditioned(losses.barlow_twins, "1")
    with pytest.raises(TypeError, match="loss_fn"):
        losses.preconditioned("barlow_twins", 1.0)
    pre = losses.preconditioned(losses.barlow_twins, 1.0)
    with pytest.raises(ValueError, match="z_a and z_b"):
        pre(np.ones((4, 3)), np.ones((4, 2)))


# ---------------------------------------------------------------------------------------------
# vicreg(sqrt=False)


def test_vicreg_without_sqrt():
    za, zb = _pairs(N=10, D=3, scale=0.4)
    def variance_term(z, sqrt):
        v = z.var(axis=0, ddof=1)
        s = np.sqrt(v + 1e-4) if sqrt else v
        return np.mean(np.maximum(0, 1 - s))
    for sqrt in (True, False):
        full = float(losses.vicreg(za, zb, sqrt=sqrt))
        only_var = float(losses.vicreg(za, zb, sim_coeff=0.0, cov_coeff=0.0, std_coeff=1.0, sqrt=sqrt))
        assert only_var == pytest.approx((variance_term(za, sqrt) + variance_term(zb, sqrt)) / 2, rel=1e-12)
        rest = float(losses.vicreg(za, zb, std_coeff=0.0, sqrt=sqrt))
        assert full == pytest.approx(rest + 25 * only_var, rel=1e-12)
    assert float(losses.vicreg(za, zb)) == float(losses.vicreg(za, zb, sqrt=True))
    assert float(losses.vicreg(za, zb, sqrt=False)) != float(losses.vicreg(za, zb))
    with pytest.raises(TypeError, match="sqrt"):
        losses.vicreg(za, zb, sqrt=1)
