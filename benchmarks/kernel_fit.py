"""5. ``KernelBarlowTwins.fit`` vs scikit-learn ``KernelPCA.fit`` on a kernel of the same size (2n).

Both get the same problem: an RBF kernel on 2n digit-crop rows, d = 10 components; both times
include computing the kernel.  KernelPCA uses ARPACK (Lanczos on K).  KernelBarlowTwins runs
with eigen_solver="top" (block Lanczos on J K̃ in the K̃ inner product, the default "auto" choice
above 2n = 1000) and "dense" (full eigendecompositions of K̃ and K_Γ).  Target: "top" within 1.5x
of KernelPCA at n = 2000 pairs; n = 500 ... 2000 reported, with the agreement of the two solvers.
"""

from __future__ import annotations

import numpy as np

from dynamics import data, kernel

from ._harness import Row, best_time


def _pairs(n):
    x, xp = data.digits_pairs(n=min(n, 1797), augmentation="shift", seed=0)
    if n > 1797:  # more pairs than images: a second set of shifts
        x2, xp2 = data.digits_pairs(n=n - 1797, augmentation="shift", seed=1)
        x, xp = np.concatenate([x, x2]), np.concatenate([xp, xp2])
    return x, xp


def run(quick: bool = False) -> list[Row]:
    from sklearn.decomposition import KernelPCA

    rows = []
    d = 10
    for n in ([60] if quick else [500, 1000, 2000]):
        x, xp = _pairs(n)
        X = np.concatenate([x, xp])
        gamma = 1.0 / x.shape[1]
        t_pca = best_time(lambda: KernelPCA(n_components=d, kernel="rbf", gamma=gamma, eigen_solver="arpack",
                                            random_state=0).fit(X), repeat=3)
        fits = {}
        for solver in ("top", "dense"):
            est = kernel.KernelBarlowTwins(d, "rbf", gamma=gamma, eigen_solver=solver)
            t_bt = best_time(lambda: est.fit(x, xp), repeat=3 if solver == "top" else 1)
            fits[solver] = (est, t_bt)
        top, dense = fits["top"][0], fits["dense"][0]
        agree = {"max_rel_err_gammas_top_vs_dense": float(np.max(np.abs(top.gammas_ / dense.gammas_ - 1))),
                 "max_err_embeddings_top_vs_dense": float(np.max(np.abs(top.train_embeddings_
                                                                           - dense.train_embeddings_))
                                                          / np.max(np.abs(dense.train_embeddings_)))}
        for solver, (_, t_bt) in fits.items():
            rows.append(Row("kernel_fit", f"KernelBarlowTwins({solver}) / KernelPCA, n={n} pairs",
                            t_bt / t_pca, 1.5 if (n == 2000 and solver == "top") else None, sense="<=",
                            details={"n_pairs": n, "kernel_size": 2 * n, "seconds_kbt": t_bt,
                                     "seconds_kpca": t_pca, **agree}))
    return rows
