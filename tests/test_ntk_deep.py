"""Scalar eNTK of deep networks (S App. D.5): g(x) = √d · mean_i f_i(x), K = J Jᵀ, computed in chunks.

References are computed independently of :func:`dynamics.ntk.scalar_ntk`: the (n, n, d, d) kernel of
:func:`dynamics.ntk.empirical_ntk` (``jax.jacrev`` of the full output, contracted per leaf) reduced by
(1/d) Σ_ij, central finite differences of g in every parameter (no autodiff), and the MLP's gradient written
out by hand in NumPy.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from dynamics import networks, ntk

IMAGE = (8, 8, 1)


@pytest.fixture(scope="module")
def tiny_resnet():
    params = networks.init_resnet(IMAGE, d=3, widths=(4, 8), seed=1)
    rng = np.random.default_rng(0)
    x1, x2 = rng.random((9,) + IMAGE), rng.random((5,) + IMAGE)
    return params, x1, x2


def _row_bytes(params):
    return sum(leaf.size for leaf in jax.tree_util.tree_leaves(params)) * 8  # float64 Jacobian rows


def _mean_reduced_empirical(params, x1, x2):
    """(1/d) Σ_ij K_ij of empirical_ntk, on the images flattened to rows (it takes (n, D) inputs)."""
    def flat_apply(p, x):
        return networks.resnet_apply(p, x.reshape((-1,) + IMAGE))

    K = np.asarray(ntk.empirical_ntk(flat_apply, params, x1.reshape(len(x1), -1), x2.reshape(len(x2), -1)))
    return K.sum(axis=(2, 3)) / K.shape[2]


def test_resnet_kernel_equals_the_mean_reduction_and_finite_differences(tiny_resnet):
    params, x1, x2 = tiny_resnet
    K = np.asarray(ntk.scalar_ntk(networks.resnet_apply, params, x1, x2))
    assert K.shape == (9, 5)
    assert np.abs(K - _mean_reduced_empirical(params, x1, x2)).max() < 1e-10 * np.abs(K).max()

    # Central differences of g(x) = (1/√d) Σ_i f_i(x) along every parameter coordinate, 128 at a time.
    flat, unravel = ravel_pytree(params)
    x = jnp.asarray(np.concatenate([x1, x2]))
    h = 1e-6

    def g(v):
        f = networks.resnet_apply(unravel(v), x)
        return jnp.sum(f, axis=1) / np.sqrt(f.shape[1])

    fd = jax.jit(lambda E: jax.lax.map(lambda e: (g(flat + e) - g(flat - e)) / (2 * h), E, batch_size=128))
    G = np.asarray(fd(h * jnp.eye(flat.size)))  # (P, n): ∂g(x_a)/∂θ_k
    K_fd = G[:, :9].T @ G[:, 9:]
    assert np.abs(K - K_fd).max() < 1e-6 * np.abs(K).max()


def test_mlp_kernel_equals_the_hand_written_gradient():
    """f = φ(x W1 + b1) W2 + b2 (S App. D.1): ∂g/∂h_m = w_m = Σ_i W2_mi / √d, so
    K(x, x') = h·h' + 1 + (x·x' + 1) Σ_m φ'(u_m) φ'(u'_m) w_m²  (ReLU, biases included)."""
    params = networks.init_mlp(5, 16, 3, seed=2)
    params = dict(params, b1=jnp.asarray(np.random.default_rng(3).standard_normal(16) * 0.3))
    rng = np.random.default_rng(4)
    x1, x2 = rng.standard_normal((7, 5)), rng.standard_normal((4, 5))
    W1, b1, W2 = (np.asarray(params[k]) for k in ("W1", "b1", "W2"))
    w = W2.sum(axis=1) / np.sqrt(3)

    def parts(x):
        u = x @ W1 + b1
        return np.maximum(u, 0), (u > 0).astype(float)

    (h1, s1), (h2, s2) = parts(x1), parts(x2)
    by_hand = h1 @ h2.T + 1.0 + (x1 @ x2.T + 1.0) * ((s1 * w**2) @ s2.T)
    K = np.asarray(ntk.scalar_ntk(networks.mlp_apply, params, x1, x2))
    assert np.abs(K - by_hand).max() < 1e-12 * np.abs(by_hand).max()
    K_emp = np.asarray(ntk.empirical_ntk(networks.mlp_apply, params, x1, x2)).sum(axis=(2, 3)) / 3
    assert np.abs(K - K_emp).max() < 1e-12 * np.abs(by_hand).max()


# (Jacobian rows allowed by max_memory, block_size): 2 rows is the minimum (row blocks of 1 against chunks of 1);
# 7 and 10 stream row blocks of several rows; 40 keeps every Jacobian (one product); None: no bound.
@pytest.mark.parametrize("rows, block_size", [(2, None), (7, 1), (10, None), (11, 3), (40, 3), (None, None)])
def test_chunked_equals_unchunked(tiny_resnet, rows, block_size):
    params, x1, x2 = tiny_resnet
    apply = networks.resnet_apply
    memory = None if rows is None else rows * _row_bytes(params)
    ref_sym = np.asarray(ntk.scalar_ntk(apply, params, x1))
    ref = np.asarray(ntk.scalar_ntk(apply, params, x1, x2))
    K_sym = np.asarray(ntk.scalar_ntk(apply, params, x1, max_memory=memory, block_size=block_size))
    K = np.asarray(ntk.scalar_ntk(apply, params, x1, x2, max_memory=memory, block_size=block_size))
    scale = np.abs(ref_sym).max()
    assert np.abs(K_sym - ref_sym).max() < 1e-12 * scale
    assert np.abs(K - ref).max() < 1e-12 * scale
    assert np.array_equal(K_sym, K_sym.T)
    # x2 equal to x1 (another array with the same values) takes the symmetric route too
    K_same = np.asarray(ntk.scalar_ntk(apply, params, x1, x1.copy(), max_memory=memory, block_size=block_size))
    assert np.abs(K_same - ref_sym).max() < 1e-12 * scale


# (_MAX_UNROLL, _TRIANGLE_MIN_ROWS): the default one-program route with 1 or several triangle blocks, and the
# route for more chunks than one program writes out (Jacobian rows filled a few chunks per call, then the product).
@pytest.mark.parametrize("unroll, min_rows", [(32, 128), (32, 2), (2, 2), (1, 3)])
def test_every_route_equals_the_mean_reduction(tiny_resnet, monkeypatch, unroll, min_rows):
    """Each route of scalar_ntk against (1/d) Σ_ij K_ij of empirical_ntk (jacrev of the whole output, another code
    path): the kept Jacobians in one program (per-leaf upper block triangle, or J1 J2ᵀ by row chunks), the
    in-place filled Jacobians with the separate products, and the streamed row blocks."""
    params, x1, x2 = tiny_resnet
    monkeypatch.setattr(ntk, "_MAX_UNROLL", unroll)
    monkeypatch.setattr(ntk, "_TRIANGLE_MIN_ROWS", min_rows)
    ref_sym, ref = _mean_reduced_empirical(params, x1, x1), _mean_reduced_empirical(params, x1, x2)
    scale = np.abs(ref_sym).max()
    for block_size, rows in [(None, None), (2, None), (2, 40), (3, 19), (1, 7)]:
        memory = None if rows is None else rows * _row_bytes(params)
        K_sym = np.asarray(ntk.scalar_ntk(networks.resnet_apply, params, x1, block_size=block_size, max_memory=memory))
        K = np.asarray(ntk.scalar_ntk(networks.resnet_apply, params, x1, x2, block_size=block_size, max_memory=memory))
        assert np.abs(K_sym - ref_sym).max() < 1e-10 * scale, (block_size, rows)
        assert np.abs(K - ref).max() < 1e-10 * scale, (block_size, rows)
        assert np.array_equal(K_sym, K_sym.T)


def test_float32_routes_agree_with_float64(tiny_resnet, monkeypatch):
    """float32 in, float32 out on every route (one program, filled in place, streamed), within float32 rounding of
    the float64 kernel."""
    params, x1, x2 = tiny_resnet
    ref_sym = np.asarray(ntk.scalar_ntk(networks.resnet_apply, params, x1))
    ref = np.asarray(ntk.scalar_ntk(networks.resnet_apply, params, x1, x2))
    p32 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), params)
    a32, b32 = x1.astype(np.float32), x2.astype(np.float32)
    row32 = _row_bytes(params) // 2
    for unroll, block_size, rows in [(32, 2, None), (2, 2, None), (32, 1, 7)]:
        monkeypatch.setattr(ntk, "_MAX_UNROLL", unroll)
        monkeypatch.setattr(ntk, "_TRIANGLE_MIN_ROWS", 2)
        memory = None if rows is None else rows * row32
        K_sym = ntk.scalar_ntk(networks.resnet_apply, p32, a32, block_size=block_size, max_memory=memory)
        K = ntk.scalar_ntk(networks.resnet_apply, p32, a32, b32, block_size=block_size, max_memory=memory)
        assert K_sym.dtype == np.float32 and K.dtype == np.float32
        assert np.abs(np.asarray(K_sym) - ref_sym).max() < 1e-4 * np.abs(ref_sym).max()
        assert np.abs(np.asarray(K) - ref).max() < 1e-4 * np.abs(ref_sym).max()


def test_memory_plan_bounds_the_rows_held():
    """The plan keeps every Jacobian only when they fit; otherwise row block + chunk <= the rows allowed."""
    for n1, n2, same in [(9, 9, True), (9, 5, False), (1000, 1000, True), (700, 300, False)]:
        for rows in [2, 3, 5, 10, 17, 64, 257, 5000]:
            mode, cc, ca = ntk._scalar_ntk_plan(n1, n2, same, 100, None, rows * 100)
            if mode == "stream":
                assert ca % cc == 0 and ca + cc <= rows, (n1, n2, rows, cc, ca)
            else:
                chunks = [-(-n // ntk._even_chunk(n, cc)) * ntk._even_chunk(n, cc) for n in (n1, n2)]
                assert chunks[0] + (0 if same else chunks[1]) + cc <= rows


def test_gram_matrix_is_symmetric_psd_and_float32_is_kept(tiny_resnet):
    params, x1, _ = tiny_resnet
    K = np.asarray(ntk.scalar_ntk(networks.resnet_apply, params, x1))
    assert np.array_equal(K, K.T)
    eig = np.linalg.eigvalsh(K)
    assert eig.min() > -1e-12 * eig.max() and eig.max() > 0
    p32 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), params)
    K32 = ntk.scalar_ntk(networks.resnet_apply, p32, x1.astype(np.float32), max_memory=4 * _row_bytes(params))
    assert K32.dtype == np.float32
    assert np.abs(np.asarray(K32) - K).max() < 1e-4 * np.abs(K).max()


def test_compiled_programs_are_reused(tiny_resnet):
    params, x1, x2 = tiny_resnet
    programs = ntk._scalar_ntk_programs(networks.resnet_apply)[1:]
    for kwargs in ({"block_size": 2}, {"block_size": 2, "max_memory": 7 * _row_bytes(params)}):
        ntk.scalar_ntk(networks.resnet_apply, params, x1, x2, **kwargs)
        ntk.scalar_ntk(networks.resnet_apply, params, x1, **kwargs)
        sizes = [f._cache_size() for f in programs]
        ntk.scalar_ntk(networks.resnet_apply, params, x1 + 0.5, x2 * 0.5, **kwargs)
        ntk.scalar_ntk(networks.resnet_apply, params, x1 * 0.5, **kwargs)
        assert [f._cache_size() for f in programs] == sizes


def test_bad_input_is_named(tiny_resnet):
    params, x1, x2 = tiny_resnet
    apply = networks.resnet_apply
    minimum = 2 * _row_bytes(params)
    with pytest.raises(ValueError, match=f"max_memory must be at least {minimum} bytes"):
        ntk.scalar_ntk(apply, params, x1, max_memory=minimum - 1)
    for bad in (0, -5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="max_memory must be a positive"):
            ntk.scalar_ntk(apply, params, x1, max_memory=bad)
    with pytest.raises(TypeError, match="max_memory"):
        ntk.scalar_ntk(apply, params, x1, max_memory="1GB")
    with pytest.raises(ValueError, match="x1 and x2 must have the same shape"):
        ntk.scalar_ntk(apply, params, x1, np.ones((3, 8, 7, 1)))
    with pytest.raises(ValueError, match="x2 must be finite"):
        ntk.scalar_ntk(apply, params, x1, np.full((2,) + IMAGE, np.nan))
    with pytest.raises(ValueError, match="x1 must have at least one row"):
        ntk.scalar_ntk(apply, params, np.ones((0,) + IMAGE))
    bad_params = jax.tree_util.tree_map(lambda a: a, params)
    bad_params["head"] = dict(params["head"], b2=jnp.full(3, jnp.inf))
    with pytest.raises(ValueError, match=r"params must be finite.*\['head'\]\['b2'\]"):
        ntk.scalar_ntk(apply, bad_params, x1)
    with pytest.raises(ValueError, match="block_size"):
        ntk.scalar_ntk(apply, params, x1, block_size=0)
    with pytest.raises(ValueError, match=r"apply_fn\(params, x1\) failed"):
        ntk.scalar_ntk(apply, params, np.ones((2, 8, 8, 3)))
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        ntk.scalar_ntk(lambda p, x: jnp.sum(apply(p, x)), params, x1)
    with pytest.raises(TypeError, match="apply_fn"):
        ntk.scalar_ntk("resnet", params, x1)


def test_neural_tangents_script_defines_the_same_network(tmp_path):
    """benchmarks/nt_env/nt_entk.py (run under neural-tangents' jax) rebuilds the parameters from the benchmark's
    .npz and recomputes the forward pass in plain JAX: it must equal networks.resnet_apply."""
    import importlib.util
    import pathlib

    from benchmarks import deep_entk

    script = pathlib.Path(deep_entk.NT_DIR) / "nt_entk.py"
    spec = importlib.util.spec_from_file_location("nt_entk", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # neural_tangents itself is imported only by its main()
    params = networks.init_resnet((8, 8, 2), d=3, widths=(4, 8, 8), blocks_per_stage=2, seed=5)
    x = np.random.default_rng(6).random((4, 8, 8, 2))
    deep_entk.write_npz(tmp_path / "data.npz", params, x)
    with np.load(tmp_path / "data.npz") as data:
        rebuilt = module.load_params(data)
        f = np.asarray(module.resnet(rebuilt, jnp.asarray(data["x"])))
        g = np.asarray(module.scalar(rebuilt, jnp.asarray(data["x"])))
    ref = np.asarray(networks.resnet_apply(params, x))
    assert np.abs(f - ref).max() < 1e-12 * np.abs(ref).max()
    assert np.allclose(g[:, 0], ref.sum(axis=1) / np.sqrt(3), rtol=1e-12)


def test_benchmark_quick_mode_runs_without_neural_tangents(monkeypatch):
    from benchmarks import deep_entk

    monkeypatch.delenv(deep_entk.ENV_FLAG, raising=False)
    rows = deep_entk.run(quick=True)
    assert {r.details["mode"] for r in rows if "mode" in r.details} == {"keep", "stream"}
    assert all(np.isfinite(r.value) and r.value > 0 for r in rows)
    assert all(isinstance(r.details.get("neural_tangents", ""), str) for r in rows)  # not requested
    assert not any("neural-tangents best" in r.name for r in rows)
