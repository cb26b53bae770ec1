"""dynamics.stiefel: tangent projections and retractions against independent NumPy formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynamics  # noqa: F401
from dynamics import stiefel

SHAPES = [(9, 3), (3, 9), (4, 4), (5, 1)]


def _semi_orthogonal(shape, seed=0, noise=0.0):
    rng = np.random.default_rng(seed)
    n, k = max(shape), min(shape)
    q, r = np.linalg.qr(rng.standard_normal((n, k)))
    q = q * np.sign(np.diag(r))
    q = q if shape[0] >= shape[1] else q.T
    return q + noise * rng.standard_normal(shape)


@pytest.mark.parametrize("shape", SHAPES)
def test_projections_against_numpy(shape):
    M = _semi_orthogonal(shape, 1)
    G = np.random.default_rng(2).standard_normal(shape)
    tall = shape[0] >= shape[1]
    Mt, Gt = (M, G) if tall else (M.T, G.T)
    n = Mt.shape[0]
    horiz = (np.eye(n) - Mt @ Mt.T) @ Gt
    sym = 0.5 * (Mt.T @ Gt + Gt.T @ Mt)
    tang = Gt - Mt @ sym
    if not tall:
        horiz, tang = horiz.T, tang.T
    np.testing.assert_allclose(stiefel.project_horizontal(M, G), horiz, atol=1e-13)
    np.testing.assert_allclose(stiefel.project_tangent(M, G), tang, atol=1e-13)
    # tangency: M^T H + H^T M = 0 (columns) or H M^T + M H^T = 0 (rows)
    H = np.asarray(stiefel.project_tangent(M, G))
    skew = M.T @ H + H.T @ M if tall else H @ M.T + M @ H.T
    assert np.abs(skew).max() < 1e-13
    # the horizontal part is tangent too, and orthogonal to span(M)
    Hh = np.asarray(stiefel.project_horizontal(M, G))
    assert np.abs(M.T @ Hh if tall else Hh @ M.T).max() < 1e-13


@pytest.mark.parametrize("shape", SHAPES)
def test_retractions_against_numpy(shape):
    M = _semi_orthogonal(shape, 3, noise=0.05)
    u, _, vt = np.linalg.svd(M, full_matrices=False)
    np.testing.assert_allclose(stiefel.retract_polar(M), u @ vt, atol=1e-12)
    tall = M if shape[0] >= shape[1] else M.T
    q, r = np.linalg.qr(tall)
    q = q * np.sign(np.diag(r))
    q = q if shape[0] >= shape[1] else q.T
    np.testing.assert_allclose(stiefel.retract_qr(M), q, atol=1e-12)
    assert stiefel.retract(M, "qr") is not None
    np.testing.assert_array_equal(stiefel.retract(M), stiefel.retract_polar(M))
    np.testing.assert_array_equal(stiefel.retract(M, "qr"), stiefel.retract_qr(M))


def test_retractions_agree_to_first_order_along_a_tangent():
    M = _semi_orthogonal((8, 3), 4)
    H = np.asarray(stiefel.project_tangent(M, np.random.default_rng(5).standard_normal((8, 3))))
    for eta in (1e-3, 1e-4):
        for method in stiefel.RETRACTIONS:
            err = np.abs(np.asarray(stiefel.retract(M - eta * H, method)) - (M - eta * H)).max()
            assert err < 10 * eta**2 * np.abs(H).max() ** 2 + 1e-14, (method, eta, err)


def test_horizontal_gradient_is_projected():
    M = _semi_orthogonal((6, 2), 6)
    C = np.random.default_rng(7).standard_normal((6, 6))
    C = C + C.T
    free = jax.grad(lambda m: jnp.trace(m.T @ C @ m))(jnp.asarray(M))
    g = jax.grad(lambda m: jnp.trace(stiefel.horizontal(m).T @ C @ stiefel.horizontal(m)))(jnp.asarray(M))
    np.testing.assert_allclose(g, (np.eye(6) - M @ M.T) @ np.asarray(free), atol=1e-12)
    assert np.asarray(stiefel.horizontal(M)) is not None and np.allclose(stiefel.horizontal(M), M)


def test_float32_stays_float32_and_jit():
    M32 = jnp.asarray(_semi_orthogonal((7, 3), 8, noise=0.01), dtype=jnp.float32)
    G32 = jnp.ones((7, 3), jnp.float32)
    for out in (stiefel.project_tangent(M32, G32), stiefel.project_horizontal(M32, G32),
                stiefel.retract_polar(M32), stiefel.retract_qr(M32), stiefel.retract(M32.T, "qr"),
                jax.jit(stiefel.retract_polar)(M32), jax.jit(stiefel.project_tangent)(M32, G32)):
        assert out.dtype == jnp.float32
    g = jax.grad(lambda m: jnp.sum(stiefel.horizontal(m) ** 2))(M32)
    assert g.dtype == jnp.float32
    Q = np.asarray(stiefel.retract_qr(M32), dtype=np.float64)
    assert np.abs(Q.T @ Q - np.eye(3)).max() < 1e-5


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="M must be 2-D and G of the same shape"):
        stiefel.project_tangent(np.eye(3, 2), np.ones((2, 2)))
    with pytest.raises(ValueError, match="M must be 2-D and G of the same shape"):
        stiefel.project_horizontal(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="G must be finite"):
        stiefel.project_horizontal(np.eye(3, 2), np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="M must be finite"):
        stiefel.project_tangent(np.full((3, 2), np.inf), np.ones((3, 2)))
    with pytest.raises(ValueError, match="method must be one of"):
        stiefel.retract(np.eye(3, 2), "svd")
    with pytest.raises(ValueError, match="M must be 2-D"):
        stiefel.retract_qr(np.ones(3))
    with pytest.raises(ValueError, match="M must be finite"):
        stiefel.retract_polar(np.full((3, 2), np.nan))
    for fn in (stiefel.retract_polar, stiefel.retract_qr):
        with pytest.raises(ValueError, match="M must have full rank"):
            fn(np.zeros((3, 2)))
    with pytest.raises(TypeError, match="M must be a real"):
        stiefel.retract(np.eye(3, 2) + 0j)
    # inside jit: shapes are still checked, values are not (no error, no host sync)
    with pytest.raises(ValueError, match="M must be 2-D"):
        jax.jit(stiefel.retract_polar)(jnp.ones(3))
