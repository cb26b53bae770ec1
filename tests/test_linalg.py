"""dynamics.linalg against independent NumPy/SciPy computations, and its bad-input errors.

Spectra against ``scipy.linalg.eigh``, PSD roots against ``scipy.linalg.sqrtm`` and ``numpy.linalg.pinv``,
the subspace alignment against principal angles (``scipy.linalg.subspace_angles``: a = mean cos² θ_i),
slopes against ``numpy.polyfit``.  Each bad input must raise naming the argument.
"""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sla

from dynamics import grassmann, kernel, linalg


def _sym(n, seed=0, shift=0.0):
    a = np.random.default_rng(seed).standard_normal((n, n))
    return a + a.T + shift * np.eye(n)


def _psd(n, rank, seed=0):
    v = np.random.default_rng(seed).standard_normal((n, rank))
    return v @ v.T


# ------------------------------------------------------------------------------------------ spectra


def test_eigh_descending_matches_scipy():
    S = _sym(7, seed=1)
    lam, V = linalg.eigh_descending(S)
    ref = sla.eigh(S, eigvals_only=True)[::-1]
    np.testing.assert_allclose(lam, ref, rtol=0, atol=1e-12)
    assert np.all(np.diff(lam) <= 0)
    np.testing.assert_allclose(V.T @ V, np.eye(7), atol=1e-12)  # eigenvectors are the columns
    np.testing.assert_allclose(S @ V, V * lam, atol=1e-12)


def test_eigh_descending_keeps_float32_and_accepts_jax():
    S = _sym(5, seed=2).astype(np.float32)
    lam, V = linalg.eigh_descending(S)
    assert lam.dtype == np.float32 and V.dtype == np.float32
    lam64, _ = linalg.eigh_descending(jnp.asarray(_sym(5, seed=2)))
    np.testing.assert_allclose(lam, lam64, rtol=1e-5, atol=1e-5)
    assert linalg.eigh_descending(np.eye(3, dtype=int))[0].dtype == np.float64


@pytest.mark.parametrize("S, match", [
    pytest.param(np.triu(np.ones((3, 3))), "S must be symmetric", id="nonsym"),
    pytest.param(np.ones((2, 3)), "S must be square", id="nonsquare"),
    pytest.param(np.diag([1.0, np.nan]), "S must be finite", id="nan"),
    pytest.param(np.ones(3), "S must be 2-D", id="1d"),
])
def test_eigh_descending_bad_input(S, match):
    with pytest.raises(ValueError, match=match):
        linalg.eigh_descending(S)


def test_eigh_descending_rejects_complex():
    with pytest.raises(TypeError, match="S must be a real"):
        linalg.eigh_descending(np.eye(2) * 1j)


# ------------------------------------------------------------------------------------------ PSD


def test_sqrt_psd_matches_scipy_sqrtm_on_a_full_rank_matrix():
    K = _psd(6, 6, seed=3) + 0.1 * np.eye(6)
    S = linalg.sqrt_psd(K)
    np.testing.assert_allclose(S, np.real(sla.sqrtm(K)), atol=1e-10)
    np.testing.assert_allclose(linalg.inv_sqrt_psd(K), np.linalg.inv(np.real(sla.sqrtm(K))), atol=1e-9)


def test_psd_roots_on_a_singular_matrix_are_the_pseudo_inverse_roots():
    K = _psd(8, 3, seed=4)  # rank 3
    lam, V, lam_max = linalg.psd_spectrum(K)
    assert lam.shape == (3,) and V.shape == (8, 3) and np.all(np.diff(lam) <= 0)
    np.testing.assert_allclose(lam, np.linalg.eigvalsh(K)[::-1][:3], rtol=1e-12)
    assert lam_max == pytest.approx(lam[0])
    R, S = linalg.inv_sqrt_psd(K), linalg.sqrt_psd(K)
    np.testing.assert_allclose(R @ R, np.linalg.pinv(K, rcond=1e-10), atol=1e-10)
    np.testing.assert_allclose(S @ S, K, atol=1e-10)


def test_kernel_reexports_linalg_objects():
    assert kernel.sqrt_psd is linalg.sqrt_psd
    assert kernel.inv_sqrt_psd is linalg.inv_sqrt_psd
    assert kernel.subspace_alignment is linalg.subspace_alignment


def test_psd_spectrum_keeps_float32():
    lam, V, _ = linalg.psd_spectrum(_psd(4, 4, seed=5).astype(np.float32))
    assert lam.dtype == np.float32 and V.dtype == np.float32
    assert linalg.sqrt_psd(_psd(4, 4, seed=5).astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("K, kw, err, match", [
    pytest.param(np.diag([1.0, -0.5]), {}, ValueError, "K must be positive semi-definite", id="negative"),
    pytest.param(-np.eye(2), {}, ValueError, "K must be positive semi-definite with a positive eigenvalue",
                 id="no_positive"),
    pytest.param(np.triu(np.ones((3, 3))), {}, ValueError, "K must be symmetric", id="nonsym"),
    pytest.param(np.full((2, 2), np.inf), {}, ValueError, "K must be finite", id="inf"),
    pytest.param(np.ones((2, 3)), {}, ValueError, "K must be square", id="nonsquare"),
    pytest.param(np.eye(2), {"rtol": 2.0}, ValueError, r"rtol must be a number in \(0, 1\)", id="rtol"),
    pytest.param(np.eye(2), {"rtol": "x"}, ValueError, "rtol must be a number", id="rtol_str"),
])
def test_psd_roots_bad_input(K, kw, err, match):
    for fn in (linalg.sqrt_psd, linalg.inv_sqrt_psd):
        with pytest.raises(err, match=match):
            fn(K, **kw)


def test_psd_roots_name_the_argument():
    with pytest.raises(ValueError, match="K_tilde must be positive semi-definite"):
        linalg.psd_spectrum(np.diag([1.0, -1.0]), "K_tilde")


def test_check_psd():
    linalg.check_psd(_psd(5, 2, seed=6))  # singular PSD passes
    linalg.check_psd(np.zeros((3, 3)))
    linalg.check_psd(_psd(30, 3, seed=7))  # a rank-3 Gram matrix: round-off eigenvalues of either sign pass
    with pytest.raises(ValueError, match="Kx must be positive semi-definite.*smallest eigenvalue is -1"):
        linalg.check_psd(np.diag([1.0, -1.0]), "Kx")
    with pytest.raises(ValueError, match="K must be positive semi-definite.*diagonal is 0"):
        linalg.check_psd(np.array([[0.0, 1.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="K must be symmetric"):
        linalg.check_psd(np.triu(np.ones((3, 3))))
    with pytest.raises(ValueError, match="K must be finite"):
        linalg.check_psd(np.diag([1.0, np.nan]))


# ------------------------------------------------------------------------------------------ alignment


def test_subspace_alignment_equals_mean_squared_cosine_of_principal_angles():
    rng = np.random.default_rng(8)
    A, B = rng.standard_normal((12, 4)), rng.standard_normal((12, 4))
    ref = float(np.mean(np.cos(sla.subspace_angles(A, B)) ** 2))
    assert linalg.subspace_alignment(A, B) == pytest.approx(ref, abs=1e-12)
    assert linalg.subspace_alignment(A, A @ rng.standard_normal((4, 4))) == pytest.approx(1.0, abs=1e-12)
    Q = np.linalg.qr(rng.standard_normal((12, 8)))[0]
    assert linalg.subspace_alignment(Q[:, :4], Q[:, 4:]) == pytest.approx(0.0, abs=1e-12)


def test_subspace_alignment_is_one_object():
    assert kernel.subspace_alignment is linalg.subspace_alignment
    assert grassmann.subspace_alignment is linalg.subspace_alignment


@pytest.mark.parametrize("A, B, err, match", [
    pytest.param(np.eye(4)[:, :2], np.eye(3)[:, :2], ValueError, "A and B must have the same shape", id="shape"),
    pytest.param(np.eye(2, 3), np.eye(2, 3), ValueError, r"A must have shape \(d, z\) with 1 <= z <= d", id="wide"),
    pytest.param(np.zeros((4, 2)), np.eye(4)[:, :2], ValueError, "A must have full column rank", id="rank_A_zero"),
    pytest.param(np.eye(4)[:, :2], np.ones((4, 2)), ValueError, "B must have full column rank", id="rank_B"),
    pytest.param(np.full((4, 2), np.nan), np.eye(4)[:, :2], ValueError, "A must be finite", id="nan_A"),
    pytest.param(np.eye(4)[:, :2], np.eye(4)[:, :2] * 1j, TypeError, "B must be a real", id="complex_B"),
    pytest.param(np.eye(4)[:, :2], [1.0, 2.0], ValueError, "B must be 2-D", id="1d_B"),
])
def test_subspace_alignment_bad_input(A, B, err, match):
    with pytest.raises(err, match=match):
        linalg.subspace_alignment(A, B)


# ------------------------------------------------------------------------------------------ slopes


def test_loglog_slope_matches_polyfit_and_recovers_a_power_law():
    x = np.array([64.0, 128.0, 256.0, 512.0, 1024.0])
    y = 3.0 * x ** -0.5 * np.exp(np.random.default_rng(9).normal(0, 0.05, 5))
    ref = np.polyfit(np.log(x), np.log(y), 1)[0]
    assert linalg.loglog_slope(x, y) == pytest.approx(ref, abs=1e-12)
    assert linalg.loglog_slope(x, 2.0 * x ** 1.5) == pytest.approx(1.5, abs=1e-12)
    ref_lin = np.polyfit(np.log(x), y, 1)[0]
    assert linalg.loglog_slope(x, y, log_y=False) == pytest.approx(ref_lin, abs=1e-12)
    np.testing.assert_allclose(linalg.loglog_fit(x, y), np.polyfit(np.log(x), np.log(y), 1), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="y must be positive"):
        linalg.loglog_fit(x, -y)


def test_loo_slopes_match_polyfit_with_each_point_left_out():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    y = np.array([1.0, 0.6, 0.26, 0.13])
    lx, ly = np.log(x), np.log(y)
    ref = [np.polyfit(np.delete(lx, i), np.delete(ly, i), 1)[0] for i in range(4)]
    np.testing.assert_allclose(linalg.loo_slopes(x, y), ref, atol=1e-12)
    ref_lin = [np.polyfit(np.delete(lx, i), np.delete(y, i), 1)[0] for i in range(4)]
    np.testing.assert_allclose(linalg.loo_slopes(x, y, log_y=False), ref_lin, atol=1e-12)
    # one outlier moves the slopes that keep it, not the one that drops it
    y_out = 1.0 / x
    y_out[-1] = 1.0
    loo = linalg.loo_slopes(x, y_out)
    assert loo[-1] == pytest.approx(-1.0, abs=1e-12) and max(loo[:-1]) > -0.9


@pytest.mark.parametrize("fn, x, y, match", [
    pytest.param(linalg.loglog_slope, [1.0, 2.0], [1.0, 0.0], "y must be positive", id="y_zero"),
    pytest.param(linalg.loglog_slope, [0.0, 2.0], [1.0, 2.0], "x must be positive", id="x_zero"),
    pytest.param(linalg.loglog_slope, [1.0, 2.0], [1.0, np.nan], "y must be finite", id="y_nan"),
    pytest.param(linalg.loglog_slope, [1.0, 2.0, 3.0], [1.0, 2.0], "x and y must have the same length", id="len"),
    pytest.param(linalg.loglog_slope, [2.0, 2.0], [1.0, 2.0], "two distinct values", id="one_x"),
    pytest.param(linalg.loglog_slope, [2.0], [1.0], "at least 2 points", id="one_point"),
    pytest.param(linalg.loglog_slope, np.ones((2, 2)), np.ones((2, 2)), "x must be 1-D", id="2d"),
    pytest.param(linalg.loo_slopes, [1.0, 2.0], [1.0, 2.0], "at least 3 points", id="loo_two"),
    pytest.param(linalg.loo_slopes, [1.0, 1.0, 2.0], [1.0, 2.0, 3.0], "without point 2", id="loo_degenerate"),
])
def test_slopes_bad_input(fn, x, y, match):
    with pytest.raises(ValueError, match=match):
        fn(x, y)


def test_slopes_allow_nonpositive_y_without_logs():
    assert linalg.loglog_slope([1.0, np.e], [-1.0, 0.0], log_y=False) == pytest.approx(1.0)
