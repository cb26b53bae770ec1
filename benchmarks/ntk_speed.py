"""3. NTK: structured two-layer empirical NTK vs the generic Jacobian contraction and the GEMM floor.

Scalar-output network (Z = 1, so the NTK is n x n), D = 49 (digit crops).  The
structured path needs two n x M x n products and the n x D x M pre-activations;
the "GEMM floor" is the measured time of exactly those products.  Targets:
>= 10x faster than ``jax.jacrev`` + einsum (``empirical_ntk``), within 2x of the
GEMM floor.  Peak memory of the process is reported.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dynamics import networks, ntk

from ._harness import Row, best_time, peak_rss_mb

D = 49


@jax.jit
def _gemm_floor(x1, x2, V):
    p1, p2 = x1 @ V.T, x2 @ V.T
    return p1 @ p2.T + (p1 * 0.5) @ p2.T


def run(quick: bool = False) -> list[Row]:
    rows = []
    sizes = [(60, 128)] if quick else [(500, 1024), (1000, 1024), (1000, 4096), (2000, 4096)]
    apply = lambda p, x: networks.two_layer_apply(p, x, "relu")  # noqa: E731
    for n, M in sizes:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, D)) / np.sqrt(D)
        params = networks.init_two_layer(D, M, 1, seed=0)
        fast = lambda: ntk.two_layer_ntk(params, x, x, "relu", output="trace")  # noqa: E731
        fast()
        t_fast = best_time(fast)
        xj, V = jnp.asarray(x), params["V"]
        _gemm_floor(xj, xj, V)
        t_floor = best_time(lambda: _gemm_floor(xj, xj, V))
        details = {"n": n, "M": M, "seconds_structured": t_fast, "seconds_gemm_floor": t_floor,
                   "peak_rss_mb": peak_rss_mb()}
        # The generic path materialises the n x P Jacobian and contracts it (n² P flops): measured up to
        # n x M = 1000 x 1024 (≈ 1.3 GB, 10^11 flops); the larger sizes would take minutes each.
        if n * M <= 1000 * 1024:
            generic = lambda: ntk.empirical_ntk(apply, params, x, x, block_size=50)  # noqa: E731
            K_gen = generic()
            t_gen = best_time(generic, repeat=1)
            err = float(jnp.abs(K_gen[:, :, 0, 0] - fast()).max())
            details.update(seconds_generic=t_gen, max_abs_diff_generic=err, peak_rss_mb=peak_rss_mb())
            rows.append(Row("ntk", f"structured vs generic jacrev+einsum, n={n}, M={M}", t_gen / t_fast, 10.0,
                            details=details))
        rows.append(Row("ntk", f"structured / GEMM floor, n={n}, M={M}", t_fast / t_floor, 2.0, sense="<=",
                        details=details))
    return rows
