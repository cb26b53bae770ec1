"""Kernelised Barlow Twins (S §5, App. B, App. E): kernel matrices, estimator, predictor, checks."""

import importlib.util

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from dynamics import barlow, kernel
from dynamics.theorems import list_checks

KERNEL_CHECKS = ["prop_5_1a_spectrum", "prop_5_1b_linear_equivalence", "prop_5_1c_rkhs_minimal",
                 "kernel_pca_special_case", "kernel_small_init_dynamics"]


def pairs(n=30, m=8, seed=0, noise=0.5):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, m)) * np.linspace(2.0, 0.5, m)
    return x, x + noise * rng.standard_normal((n, m))


def blocks(x, xp):
    return x @ x.T, x @ xp.T, xp @ xp.T


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# ------------------------------------------------------------------------------------ kernel matrices


def test_joint_kernel_is_gram_of_stacked_features():
    x, xp = pairs(n=6, m=4)
    Phi = np.concatenate([x, xp])
    K = kernel.joint_kernel(*blocks(x, xp))
    assert K.shape == (12, 12)
    np.testing.assert_allclose(K, Phi @ Phi.T, rtol=0, atol=1e-13)


@pytest.mark.parametrize("n,m", [(7, 5), (4, 12)])
def test_z_matrix_two_forms_agree(n, m):
    """S23 written literally equals Φ Γ Φ^T (S37) and the inverse-free K̃ J K̃ / 2n."""
    x, xp = pairs(n=n, m=m, seed=1)
    Phi = np.concatenate([x, xp])
    Z = kernel.z_matrix(*blocks(x, xp))
    Gamma = barlow.cross_correlation(x, xp)
    assert rel(Z, Phi @ Gamma @ Phi.T) < 1e-13
    K = Phi @ Phi.T
    J = np.block([[np.zeros((n, n)), np.eye(n)], [np.eye(n), np.zeros((n, n))]])
    assert rel(Z, K @ J @ K / (2 * n)) < 1e-13
    assert np.array_equal(Z, Z.T)


def test_blocks_validation_names_argument():
    x, xp = pairs(n=5, m=3)
    K_xx, K_xxp, K_xpxp = blocks(x, xp)
    with pytest.raises(ValueError, match="K_xxp"):
        kernel.joint_kernel(K_xx, K_xxp[:, :4], K_xpxp)
    with pytest.raises(ValueError, match="K_xx must be symmetric"):
        kernel.z_matrix(K_xxp, K_xxp, K_xpxp)
    with pytest.raises(ValueError, match="finite"):
        kernel.joint_kernel(np.full((5, 5), np.nan), K_xxp, K_xpxp)


def test_inv_sqrt_psd_on_singular_matrix():
    rng = np.random.default_rng(2)
    V = rng.standard_normal((6, 2))
    K = V @ V.T  # rank 2
    R = kernel.inv_sqrt_psd(K)
    S = kernel.sqrt_psd(K)
    P = V @ np.linalg.pinv(V)  # projector onto the range
    np.testing.assert_allclose(R, R.T, atol=1e-12)
    np.testing.assert_allclose(R @ K @ R, P, atol=1e-10)
    np.testing.assert_allclose(R @ R, np.linalg.pinv(K, rcond=1e-10), atol=1e-10)
    np.testing.assert_allclose(S @ S, K, atol=1e-10)
    np.testing.assert_allclose(S @ R, P, atol=1e-10)
    assert np.all(np.isfinite(R))


def test_inv_sqrt_psd_rejects_bad_input():
    with pytest.raises(ValueError, match="positive semi-definite"):
        kernel.inv_sqrt_psd(np.diag([1.0, -0.5]))
    with pytest.raises(ValueError, match="K must be square"):
        kernel.inv_sqrt_psd(np.ones((2, 3)))
    with pytest.raises(ValueError, match="rtol"):
        kernel.inv_sqrt_psd(np.eye(2), rtol=2.0)


def test_kernel_gamma_literal_equals_inverse_free_form_and_spectrum_of_gamma():
    x, xp = pairs(n=10, m=6, seed=3)  # K̃ is 20x20 of rank 6: the pseudo-inverse matters
    K_xx, K_xxp, K_xpxp = blocks(x, xp)
    KG = kernel.kernel_gamma(kernel.joint_kernel(K_xx, K_xxp, K_xpxp), kernel.z_matrix(K_xx, K_xxp, K_xpxp))
    est = kernel.KernelBarlowTwins(2, "linear").fit(x, xp)
    assert rel(KG, est.K_gamma_) < 1e-12
    g = np.sort(np.linalg.eigvalsh(barlow.cross_correlation(x, xp)))
    ev = np.sort(est.eigenvalues_[np.abs(est.eigenvalues_) > 1e-10 * np.abs(g).max()])
    np.testing.assert_allclose(ev, g, rtol=1e-10)


# ------------------------------------------------------------------------------------ named kernels


def test_resolve_kernel_names_and_callables():
    from sklearn.metrics.pairwise import rbf_kernel

    a, b = pairs(n=5, m=3)
    np.testing.assert_allclose(kernel.resolve_kernel("linear")(a, b), a @ b.T)
    np.testing.assert_allclose(kernel.resolve_kernel("rbf", gamma=0.3)(a, b), rbf_kernel(a, b, gamma=0.3), atol=1e-14)
    np.testing.assert_allclose(kernel.resolve_kernel("rbf")(a, b), rbf_kernel(a, b), atol=1e-14)
    f = lambda u, v, c=1.0: (u @ v.T + c) ** 2  # noqa: E731
    assert kernel.resolve_kernel(f) is f
    np.testing.assert_allclose(kernel.resolve_kernel(f, c=2.0)(a, b), (a @ b.T + 2.0) ** 2)
    with pytest.raises(ValueError, match="ntk-relu"):
        kernel.resolve_kernel("polynomial")
    with pytest.raises(TypeError, match="kernel"):
        kernel.resolve_kernel(3)
    with pytest.raises(ValueError, match="gamma"):
        kernel.resolve_kernel("linear", gamma=1.0)
    with pytest.raises(ValueError, match="gamma"):
        kernel.rbf_kernel(a, b, gamma=-1.0)


@pytest.mark.skipif(importlib.util.find_spec("dynamics.ntk") is None, reason="dynamics.ntk not available")
def test_ntk_relu_kernel_uses_analytic_ntk():
    from dynamics.ntk import analytic_ntk

    x, xp = pairs(n=12, m=4, seed=4)
    est = kernel.KernelBarlowTwins(3, "ntk-relu").fit(x, xp)
    both = np.concatenate([x, xp])
    np.testing.assert_allclose(est.K_tilde_, analytic_ntk(both, both, "relu"), rtol=1e-12, atol=1e-12)
    F = est.train_embeddings_
    assert np.all(np.isfinite(F)) and barlow.loss_from_embeddings(F[:12], F[12:]) < 1e-10


# ------------------------------------------------------------------------------------ estimator


def test_estimator_api():
    x, xp = pairs()
    est = kernel.KernelBarlowTwins(3, "rbf", gamma=0.1)
    before = set(vars(est))
    assert est.fit(x, xp) is est
    learned = set(vars(est)) - before
    assert learned and all(k.endswith("_") for k in learned if not k.startswith("_"))
    assert est.train_embeddings_.shape == (60, 3) and est.dual_coef_.shape == (60, 3)
    assert est.eigenvectors_.shape == (60, 3) and est.gammas_.shape == (3,) and est.eigenvalues_.shape == (60,)
    assert est.n_features_in_ == 8 and est.K_tilde_inv_sqrt_.shape == (60, 60)
    assert np.all(np.diff(est.eigenvalues_) <= 0) and np.all(est.gammas_ > 0)
    assert est.get_params()["gamma"] == 0.1
    c = clone(est)
    assert not hasattr(c, "dual_coef_") and c.get_params() == est.get_params()
    np.testing.assert_allclose(est.fit_transform(x, xp), est.transform(x), atol=1e-12)
    np.testing.assert_allclose(est.fit_transform(x, xp), est.train_embeddings_[:30])
    np.testing.assert_allclose(est.transform(xp), est.train_embeddings_[30:], atol=1e-10)


def test_not_fitted_error():
    est = kernel.KernelBarlowTwins(2)
    with pytest.raises(NotFittedError, match="fit"):
        est.transform(np.ones((3, 4)))
    with pytest.raises(NotFittedError):
        kernel.barlow_twins_predict(est)


def test_bad_input_names_argument():
    x, xp = pairs(n=10, m=4)
    est = kernel.KernelBarlowTwins(2)
    with pytest.raises(ValueError, match="x must be 2-D"):
        est.fit(x[0], xp)
    with pytest.raises(ValueError, match="x_prime"):
        est.fit(x, xp[:, :3])
    bad = xp.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="x_prime must be finite"):
        est.fit(x, bad)
    est.fit(x, xp)
    with pytest.raises(ValueError, match="x_new has 3 features"):
        est.transform(x[:, :3])
    with pytest.raises(ValueError, match="n_components must be >= 1"):
        kernel.KernelBarlowTwins(0).fit(x, xp)
    with pytest.raises(TypeError, match="n_components"):
        kernel.KernelBarlowTwins(2.5).fit(x, xp)
    with pytest.raises(ValueError, match="eigen_solver"):
        kernel.KernelBarlowTwins(2, eigen_solver="arpack").fit(x, xp)
    with pytest.raises(ValueError, match="kernel must be one of"):
        kernel.KernelBarlowTwins(2, "cosine").fit(x, xp)
    with pytest.raises(ValueError, match="shape"):
        kernel.KernelBarlowTwins(2, lambda a, b: np.ones((2, 2))).fit(x, xp)


def test_too_few_positive_eigenvalues():
    x, xp = pairs(n=10, m=4, seed=5)  # Γ has 4 eigenvalues, at most 4 positive
    n_pos = kernel.KernelBarlowTwins(1).fit(x, xp).n_positive_
    assert n_pos == int(np.sum(np.linalg.eigvalsh(barlow.cross_correlation(x, xp)) > 0))
    with pytest.raises(ValueError, match=f"positive eigenvalues of K_Γ \\({n_pos}"):
        kernel.KernelBarlowTwins(n_pos + 1).fit(x, xp)
    with pytest.raises(ValueError, match="positive eigenvalues"):
        kernel.KernelBarlowTwins(n_pos + 1, eigen_solver="top").fit(x, xp)


def test_top_eigen_solver_agrees_with_dense():
    x, xp = pairs(n=40, m=10, seed=6)
    a = kernel.KernelBarlowTwins(4, "rbf").fit(x, xp)
    b = kernel.KernelBarlowTwins(4, "rbf", eigen_solver="top").fit(x, xp)
    np.testing.assert_allclose(a.gammas_, b.gammas_, rtol=1e-12)
    np.testing.assert_allclose(a.train_embeddings_, b.train_embeddings_, atol=1e-9)
    assert b.n_positive_ is None and b.eigenvalues_.shape == (4,)


def test_top_solver_matches_dense_on_singular_kernel_and_lazy_attributes():
    # Centred data under the linear kernel: K̃ has rank m << 2n (and K̃ 1 = 0), the case where the
    # Lanczos basis must drop null-space directions.
    x, xp = pairs(n=150, m=12, seed=11)
    mean = np.concatenate([x, xp]).mean(0)
    x, xp = x - mean, xp - mean
    x_new = pairs(n=7, m=12, seed=12)[0]
    for kern in ("linear", "rbf"):
        a = kernel.KernelBarlowTwins(5, kern, eigen_solver="dense").fit(x, xp)
        b = kernel.KernelBarlowTwins(5, kern, eigen_solver="top").fit(x, xp)
        np.testing.assert_allclose(b.gammas_, a.gammas_, rtol=1e-10)
        assert rel(b.train_embeddings_, a.train_embeddings_) < 1e-8
        assert rel(b.transform(x_new), a.transform(x_new)) < 1e-8
        assert rel(b.eigenvectors_, a.eigenvectors_) < 1e-8  # computed on first access
        assert rel(b.K_gamma_, a.K_gamma_) < 1e-12 and rel(b.K_tilde_inv_sqrt_, a.K_tilde_inv_sqrt_) < 1e-12
        f0 = 1e-3 * np.random.default_rng(0).standard_normal((300, 5))
        t = np.array([0.0, 10.0, 1e3])
        pa, pb = kernel.barlow_twins_predict(a), kernel.barlow_twins_predict(b)
        assert rel(pb(t, f0), pa(t, f0)) < 1e-8


def test_auto_solver_choice_and_top_fallback(monkeypatch):
    x, xp = pairs(n=30, m=6, seed=13)
    assert kernel.KernelBarlowTwins(3, "rbf").fit(x, xp).n_positive_ is not None  # 2n = 60: dense
    xl, xpl = pairs(n=520, m=6, seed=14)
    big = kernel.KernelBarlowTwins(3, "rbf").fit(xl, xpl)  # 2n = 1040 > 1000 and d < 2n / 10: top
    assert big.n_positive_ is None and big.eigenvalues_.shape == (3,)
    # A Krylov space too small to converge: None, and the estimator falls back to dense with a warning.
    K = kernel.joint_kernel(kernel.rbf_kernel(x, x), kernel.rbf_kernel(x, xp), kernel.rbf_kernel(xp, xp))
    assert kernel._top_eigenpairs(K, 3, 1e-10, max_dim=9) is None
    monkeypatch.setattr(kernel, "_top_eigenpairs", lambda *a, **k: None)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        est = kernel.KernelBarlowTwins(3, "rbf", eigen_solver="top").fit(x, xp)
    assert est.n_positive_ is not None


@settings(max_examples=25, deadline=None)
@given(n=st.integers(8, 60), m=st.integers(2, 9), d=st.integers(1, 4), kern=st.sampled_from(["linear", "rbf"]),
       seed=st.integers(0, 10_000))
def test_top_solver_agrees_with_dense_property(n, m, d, kern, seed):
    x, xp = pairs(n=n, m=m, seed=seed)
    try:
        dense = kernel.KernelBarlowTwins(d, kern, eigen_solver="dense").fit(x, xp)
    except ValueError as exc:  # fewer than d positive γ: the top solver must refuse too
        assert "positive eigenvalues" in str(exc)
        with pytest.raises(ValueError, match="positive eigenvalues"):
            kernel.KernelBarlowTwins(d, kern, eigen_solver="top").fit(x, xp)
        return
    g = dense.eigenvalues_
    assume(g[d - 1] - g[d] > 1e-3 * g[0] if g.size > d else True)  # a well-defined top-d subspace
    top = kernel.KernelBarlowTwins(d, kern, eigen_solver="top").fit(x, xp)
    np.testing.assert_allclose(top.gammas_, dense.gammas_, rtol=1e-8, atol=1e-12 * g[0])
    assert kernel.subspace_alignment(top.train_embeddings_, dense.train_embeddings_) > 1 - 1e-8


def test_top_solver_rejects_indefinite_kernel():
    rng = np.random.default_rng(15)
    A = rng.standard_normal((40, 40))
    with pytest.raises(ValueError, match="K_tilde must be positive semi-definite"):
        kernel.barlow_twins_predict(A + A.T, n_components=2, eigen_solver="top")


def test_transform_is_literal_S24_and_train_is_S49():
    x, xp = pairs(n=25, m=6, seed=7)
    x_new = pairs(n=9, m=6, seed=8)[0]
    est = kernel.KernelBarlowTwins(3, "rbf", gamma=0.05).fit(x, xp)
    both = np.concatenate([x, xp])
    S = est.gammas_ ** -0.5
    literal = kernel.rbf_kernel(x_new, both, 0.05) @ est.K_tilde_inv_sqrt_ @ est.eigenvectors_ * S
    assert rel(est.transform(x_new), literal) < 1e-8
    S49 = kernel.sqrt_psd(est.K_tilde_) @ est.eigenvectors_ * S
    assert rel(est.train_embeddings_, S49) < 1e-10
    F = est.train_embeddings_
    assert barlow.loss_from_embeddings(F[:25], F[25:]) < 1e-12
    assert est.rkhs_norm2() == pytest.approx(np.sum(1 / est.gammas_), rel=1e-10)


def test_linear_kernel_equals_top_spectral_solution_up_to_rotation():
    x, xp = pairs(n=30, m=8, seed=9)
    x_new = pairs(n=11, m=8, seed=10)[0]
    d = 4
    est = kernel.KernelBarlowTwins(d).fit(x, xp)
    W = barlow.top_spectral_solution(barlow.cross_correlation(x, xp), d)
    F_k = np.concatenate([est.train_embeddings_, est.transform(x_new)])
    F_x = np.concatenate([x, xp, x_new]) @ W.T
    assert rel(F_k @ F_k.T, F_x @ F_x.T) < 1e-10


# ------------------------------------------------------------------------------------ predictor


def _linear_case(n, m, d, seed, sigma=1e-5):
    x, xp = pairs(n=n, m=m, seed=seed)
    rng = np.random.default_rng(seed + 100)
    return x, xp, sigma * rng.standard_normal((d, m)), rng.standard_normal((5, m))


@pytest.mark.parametrize("n,m,d", [(30, 8, 4), (6, 40, 3)])  # m <= 2n and m > 2n
def test_predict_reproduces_small_init_prediction(n, m, d):
    """The kernelisation of Result 4.6 (S40–S42) is exact for the linear kernel: the key check."""
    x, xp, W0, x_test = _linear_case(n, m, d, seed=11)
    Gamma = barlow.cross_correlation(x, xp)
    Phi = np.concatenate([x, xp])
    predict_fn = kernel.barlow_twins_predict(blocks(x, xp), n_components=d)
    f0 = Phi @ W0.T
    t = np.concatenate([[0.0], np.geomspace(1e-3, 3 * predict_fn.critical_times(f0).max(), 25)])
    F_train, F_test = predict_fn(t, f0, x_test @ Phi.T)
    W = barlow.small_init_prediction(W0, Gamma, t)
    assert F_train.shape == (len(t), 2 * n, d) and F_test.shape == (len(t), 5, d)
    for F, data in ((F_train, Phi), (F_test, x_test)):
        expected = np.einsum("im,tdm->tid", data, W)
        err = np.linalg.norm(F - expected, axis=(1, 2)) / np.linalg.norm(expected, axis=(1, 2))
        assert err.max() < 1e-8
    g = barlow.spectrum(Gamma)[0][:d]
    s0 = barlow.effective_initial_singular_values(W0, Gamma)
    np.testing.assert_allclose(predict_fn.predicted_eigenvalues(t, f0), barlow.embedding_eigenvalues(t, g, s0),
                               rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(predict_fn.loss(t, f0), barlow.aligned_loss(t, g, s0), rtol=1e-8, atol=1e-14)


def test_predictor_from_estimator_and_call_conventions():
    x, xp, W0, x_test = _linear_case(20, 6, 3, seed=12)
    Phi = np.concatenate([x, xp])
    est = kernel.KernelBarlowTwins(3).fit(x, xp)
    p1 = kernel.barlow_twins_predict(est)
    p2 = kernel.barlow_twins_predict(est.K_tilde_, n_components=3)
    f0 = Phi @ W0.T
    t = [0.0, 10.0, 1e4]
    np.testing.assert_allclose(p1(t, f0), p2(t, f0), atol=1e-12)
    single = p1(10.0, f0)
    assert single.shape == (40, 3)
    np.testing.assert_allclose(single, p1(t, f0)[1])
    # t → ∞ reaches the KernelBarlowTwins solution up to the rotation U
    F_inf = p1([1e6], f0)[0]
    assert kernel.subspace_alignment(F_inf, est.train_embeddings_) == pytest.approx(1.0, abs=1e-10)
    assert rel(F_inf @ F_inf.T, est.train_embeddings_ @ est.train_embeddings_.T) < 1e-10
    U, s0 = p1.aligned_init(f0)
    np.testing.assert_allclose(U @ U.T, np.eye(3), atol=1e-12)
    with pytest.raises(ValueError, match="f_train_0"):
        p1(t, f0[:5])
    with pytest.raises(ValueError, match="k_test_train"):
        p1(t, f0, np.ones((2, 7)))
    with pytest.raises(ValueError, match="n_components is required"):
        kernel.barlow_twins_predict(est.K_tilde_)
    with pytest.raises(ValueError, match="n_components must be <="):
        kernel.barlow_twins_predict(est, n_components=4)
    with pytest.raises(ValueError, match="rank deficient"):
        p1(t, np.zeros_like(f0))


def test_barlow_twins_flow_equals_linear_gradient_flow():
    """dF/dt = −K̃ ∇_F L (kernel values only) is S6 seen on the data, train and test points alike."""
    x, xp, W0, x_test = _linear_case(5, 12, 2, seed=13, sigma=0.3)
    Phi = np.concatenate([x, xp])
    t = np.linspace(0.0, 1.0, 6)
    W = barlow.gradient_flow(W0, barlow.cross_correlation(x, xp), t)
    F, Ft = kernel.barlow_twins_flow(Phi @ Phi.T, Phi @ W0.T, t, k_test_train=x_test @ Phi.T,
                                       f_test_0=x_test @ W0.T)
    np.testing.assert_allclose(F, np.einsum("im,tdm->tid", Phi, W), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(Ft, np.einsum("im,tdm->tid", x_test, W), rtol=1e-7, atol=1e-9)


def test_full_kernel_flow_equals_scalar_kernel_flow():
    """The (N, N, d, d) einsum path of the generic flow with K ⊗ I_d equals the scalar-kernel path."""
    from dynamics import flows

    x, xp = pairs(n=15, m=5, seed=15)
    K = kernel.rbf_kernel(np.concatenate([x, xp]), np.concatenate([x, xp]), 0.2)
    F0 = 0.1 * np.random.default_rng(16).standard_normal((30, 2))
    t = np.linspace(0.0, 2.0, 5)
    scalar = kernel.barlow_twins_flow(K, F0, t)
    K_full = np.einsum("ab,ij->abij", K, np.eye(2))
    full = flows.function_space_flow(K_full, F0, flows.barlow_twins_function_loss(15), t, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(full, scalar, rtol=1e-7, atol=1e-10)


# ------------------------------------------------------------------------------------ alignment


def test_kernel_flow_and_alignment_bad_input_named():
    F = np.random.default_rng(0).standard_normal((6, 2))
    with pytest.raises(ValueError, match="B must have full column rank"):
        kernel.subspace_alignment(F, np.column_stack([F[:, 0], 2 * F[:, 0]]))
    with pytest.raises(ValueError, match="A must have full column rank"):
        kernel.subspace_alignment(np.zeros((6, 2)), F)
    K = np.eye(4)
    f0 = np.ones((4, 2))
    with pytest.raises(ValueError, match="f_test_0 needs k_test_train"):
        kernel.barlow_twins_flow(K, f0, [0.0, 1.0], f_test_0=np.ones((3, 2)))
    with pytest.raises(ValueError, match="k_test_train must have shape"):
        kernel.barlow_twins_flow(K, f0, [0.0, 1.0], k_test_train=np.ones((3, 5)))
    with pytest.raises(ValueError, match="f_test_0 must have shape"):
        kernel.barlow_twins_flow(K, f0, [0.0, 1.0], k_test_train=np.ones((3, 4)), f_test_0=np.ones((3, 3)))


def test_subspace_alignment():
    rng = np.random.default_rng(14)
    N, d = 400, 5
    F = rng.standard_normal((N, d))
    assert kernel.subspace_alignment(F, F @ rng.standard_normal((d, d))) == pytest.approx(1.0, abs=1e-12)
    Q = np.linalg.qr(rng.standard_normal((N, 2 * d)))[0]
    assert kernel.subspace_alignment(Q[:, :d], Q[:, d:]) == pytest.approx(0.0, abs=1e-12)
    chance = np.mean([kernel.subspace_alignment(F, rng.standard_normal((N, d))) for _ in range(50)])
    assert 0.7 * d / N < chance < 1.3 * d / N
    with pytest.raises(ValueError, match="A and B must have the same shape"):
        kernel.subspace_alignment(F, F[:, :3])


# ------------------------------------------------------------------------------------ registered checks


def test_kernel_checks_registered():
    checks = {c.name: c for c in list_checks()}
    for name in KERNEL_CHECKS:
        assert name in checks and checks[name].paper == "S" and not checks[name].slow_only

