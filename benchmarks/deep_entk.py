"""6. Deep eNTK: the scalar empirical NTK of a residual network on 2n inputs, seconds and peak memory.

The kernel of Simon et al. (ICML 2023, arXiv:2303.15438), App. D.5: g(x) = √d · mean_i f_i(x) and
K[a, b] = ⟨∂g(x_a)/∂θ, ∂g(x_b)/∂θ⟩ on 2n inputs (n pairs of views), by :func:`dynamics.ntk.scalar_ntk` with
``max_memory`` set.  The network is the small residual CNN of :func:`dynamics.networks.init_resnet` on 16×16×3
images, widths (16, 32, 64), d = 16, float32: P = 82 160 parameters (the paper's anchor, a ResNet-50 with
~25M parameters, takes about one minute for 1000 pairs on one consumer GPU).  Rows: seconds for n = 500 and
1000 pairs with the Jacobians kept (max_memory 1 GB), and n = 1000 with max_memory = 256 MB (streamed row
blocks: bounded memory, Jacobians recomputed).  Each measurement runs in a fresh process, so the peak resident
memory it reports is its own (on GPU also the device's peak_bytes_in_use).

Side by side with neural-tangents (on request only, never in tests or default runs)::

    python -m benchmarks.deep_entk --with-neural-tangents        # or
    DYNAMICS_BENCH_NEURAL_TANGENTS=1 python -m benchmarks deep_entk

neural-tangents needs jax 0.4.23, so a separate environment is built once in benchmarks/nt_env/.venv
(git-ignored; ``pip install -r benchmarks/nt_env/requirements.txt``, about 2.4 GB with tensorflow, which
neural-tangents imports).  The parameters and inputs go to an .npz; ``benchmarks/nt_env/nt_entk.py`` defines
the same forward pass in plain JAX and times ``nt.empirical_ntk_fn`` (jitted, ``vmap_axes=0``, x2 = None) with
JACOBIAN_CONTRACTION, NTK_VECTOR_PRODUCTS and STRUCTURED_DERIVATIVES.  The row "ours / neural-tangents best"
(target <= 1) divides our seconds by the fastest of them; every kernel is compared with ours (max relative
difference in the details).
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from ._harness import Row, peak_rss_mb

ENV_FLAG = "DYNAMICS_BENCH_NEURAL_TANGENTS"
NT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nt_env")
NT_VENV = os.path.join(NT_DIR, ".venv")
NT_IMPLEMENTATIONS = {1: "JACOBIAN_CONTRACTION", 2: "NTK_VECTOR_PRODUCTS", 3: "STRUCTURED_DERIVATIVES"}
MB = 2**20


def network(quick: bool = False):
    """(params float32, image shape, P): the residual network of the rows (a tiny one in quick mode)."""
    import jax
    import jax.numpy as jnp

    from dynamics import networks

    if quick:
        shape, params = (8, 8, 1), networks.init_resnet((8, 8, 1), d=3, widths=(4, 8), seed=0, dtype=jnp.float32)
    else:
        shape = (16, 16, 3)
        params = networks.init_resnet(shape, d=16, widths=(16, 32, 64), seed=0, dtype=jnp.float32)
    return params, shape, int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(params)))


def inputs(n_inputs: int, shape, seed: int = 0) -> np.ndarray:
    """Images (n_inputs, H, W, C) in [0, 1), float32 (the kernel's cost does not depend on the content)."""
    return np.random.default_rng(seed).random((n_inputs,) + tuple(shape)).astype(np.float32)


def write_npz(path, params, x):
    """Parameters under flat "stem/w", "stages/s/b/conv1/w", "head/W1" ... keys, and the inputs "x"."""
    flat = {f"stem/{k}": np.asarray(v) for k, v in params["stem"].items()}
    for s, blocks in enumerate(params["stages"]):
        for b, block in enumerate(blocks):
            for layer, leaves in block.items():
                flat.update({f"stages/{s}/{b}/{layer}/{k}": np.asarray(v) for k, v in leaves.items()})
    flat.update({f"head/{k}": np.asarray(v) for k, v in params["head"].items()})
    np.savez(path, x=np.asarray(x), **flat)


def measure(n_inputs: int, max_memory, quick: bool = False, repeat: int = 1) -> dict:
    """Seconds (compilation and one run; best of ``repeat`` further runs) and peak memory of our kernel."""
    import jax

    from dynamics import networks, ntk

    params, shape, P = network(quick)
    x = jax.device_put(inputs(n_inputs, shape))
    apply = networks.resnet_apply
    base = peak_rss_mb()
    start = time.perf_counter()
    K = jax.block_until_ready(ntk.scalar_ntk(apply, params, x, max_memory=max_memory))
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        K = jax.block_until_ready(ntk.scalar_ntk(apply, params, x, max_memory=max_memory))
        best = min(best, time.perf_counter() - start)
    row_bytes = P * np.dtype(np.float32).itemsize
    mode = ntk._scalar_ntk_plan(n_inputs, n_inputs, True, row_bytes, None, int(max_memory))[0]
    out = {"n_inputs": n_inputs, "P": P, "seconds": best, "seconds_first": first, "max_memory_mb": max_memory / MB,
           "mode": mode, "jacobian_mb": n_inputs * row_bytes / MB, "baseline_rss_mb": base,
           "peak_rss_mb": peak_rss_mb(), "device": str(jax.devices()[0]), "load_average": os.getloadavg(),
           "K": np.asarray(K)}
    stats = getattr(jax.devices()[0], "memory_stats", lambda: None)() or {}
    if "peak_bytes_in_use" in stats:
        out["peak_device_mb"] = stats["peak_bytes_in_use"] / MB
    return out


def _measure_in_fresh_process(*args) -> dict:
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(measure, *args).result()


def neural_tangents_python(build: bool = True, timeout: float = 1800):
    """(path of the python of the neural-tangents environment, None) or (None, why it is unavailable)."""
    python = os.path.join(NT_VENV, "bin", "python")
    check = [python, "-c", "import neural_tangents, jax; print(jax.__version__)"]
    if os.path.exists(python) and subprocess.run(check, capture_output=True, timeout=600).returncode == 0:
        return python, None
    if not build:
        return None, f"no neural-tangents environment in {NT_VENV}"
    print(f"building the neural-tangents environment in {NT_VENV} (once; jax 0.4.23, ~2.4 GB) ...",
          file=sys.stderr, flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", NT_VENV], check=True, capture_output=True, timeout=600)
        done = subprocess.run([python, "-m", "pip", "install", "-q", "-r", os.path.join(NT_DIR, "requirements.txt")],
                              capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not build the environment: {exc}"
    if done.returncode != 0:
        return None, "pip install failed: " + (done.stderr or done.stdout).strip().splitlines()[-1]
    result = subprocess.run(check, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        return None, "neural-tangents does not import: " + result.stderr.strip().splitlines()[-1]
    return python, None


def run_neural_tangents(python, data_path, implementation, repeat=1, timeout=900):
    """One implementation in the separate environment: (info dict with "K", None) or (None, error)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "nt.npz")
        cmd = [python, os.path.join(NT_DIR, "nt_entk.py"), data_path, out, str(implementation), "--repeat", str(repeat)]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return None, f"timed out after {timeout} s"
        if done.returncode != 0 or not os.path.exists(out):
            lines = (done.stderr or done.stdout).strip().splitlines()
            errors = [ln for ln in lines if "Error" in ln or "error" in ln] or lines
            return None, f"failed (exit {done.returncode}): {errors[-1] if errors else ''}"
        with np.load(out) as data:
            info = {k: (data[k] if k == "K" else data[k].item()) for k in data.files}
    return info, None


def _rel_diff(K, K_ref):
    return float(np.abs(K - K_ref).max() / np.abs(K_ref).max())


def run(quick: bool = False, with_neural_tangents: bool | None = None) -> list[Row]:
    if with_neural_tangents is None:
        with_neural_tangents = os.environ.get(ENV_FLAG, "") not in ("", "0")
    if quick:  # tiny ResNet, in this process; the neural-tangents comparison only when asked
        cases = [(6, 2 ** 20, "keep"), (6, 3 * 4 * 1347, "stream")]
    else:
        cases = [(500, 2 ** 30, "keep"), (1000, 2 ** 30, "keep"), (1000, 2 ** 28, "stream")]
    python, why = (None, "not requested (--with-neural-tangents or DYNAMICS_BENCH_NEURAL_TANGENTS=1)")
    if with_neural_tangents:
        python, why = neural_tangents_python()
        if python is None:
            print(f"deep_entk: neural-tangents comparison unavailable: {why}", file=sys.stderr, flush=True)
    rows, nt_done = [], {}
    for n, max_memory, _ in cases:
        res = measure(2 * n, max_memory, True) if quick else _measure_in_fresh_process(2 * n, max_memory, False, 1)
        K = res.pop("K")
        details = dict(res, n_pairs=n)
        if python is not None and n not in nt_done:
            params, shape, _ = network(quick)
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "data.npz")
                write_npz(path, params, inputs(2 * n, shape))
                nt = {}
                for impl, name in NT_IMPLEMENTATIONS.items():
                    info, err = run_neural_tangents(python, path, impl)
                    if err is None:
                        nt[name] = {"seconds": info["seconds"], "seconds_first": info["seconds_first"],
                                    "peak_rss_mb": info["peak_rss_mb"], "max_rel_diff": _rel_diff(info["K"], K),
                                    "load_average": os.getloadavg()}
                        if "peak_device_mb" in info:
                            nt[name]["peak_device_mb"] = info["peak_device_mb"]
                    else:
                        nt[name] = {"error": err}
                    print(f"deep_entk: neural-tangents {name}, n={n} pairs: {nt[name]}", file=sys.stderr, flush=True)
            nt_done[n] = nt
        details["neural_tangents"] = nt_done.get(n, why)
        label = f"ResNet P={res['P']}, 2n={2 * n}, {res['mode']}, {max_memory / MB:.4g} MB"
        rows.append(Row("deep_entk", f"scalar eNTK seconds, {label}", res["seconds"], None, unit="s", sense="<=",
                        details=details))
        rows.append(Row("deep_entk", f"peak RSS MB, {label}", res["peak_rss_mb"], None, unit="", sense="<=",
                        details={"n_pairs": n, "baseline_rss_mb": res["baseline_rss_mb"],
                                 "jacobian_mb": res["jacobian_mb"]}))
        ok = {k: v for k, v in nt_done.get(n, {}).items() if "seconds" in v}
        if ok and res["mode"] == "keep":
            best = min(ok, key=lambda k: ok[k]["seconds"])
            rows.append(Row("deep_entk", f"ours / neural-tangents best ({best[:10]}), 2n={2 * n}",
                            res["seconds"] / ok[best]["seconds"], 1.0, sense="<=",
                            details={"n_pairs": n, "ours_seconds": res["seconds"], "nt_best": best,
                                     "nt_seconds": ok[best]["seconds"], "neural_tangents": nt_done[n],
                                     "max_rel_diff": ok[best]["max_rel_diff"]}))
    return rows


def main(argv=None) -> int:
    from ._harness import format_table, machine

    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    info = machine()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    rows = run(quick=quick, with_neural_tangents="--with-neural-tangents" in argv)
    print(format_table(rows, judge=not quick))
    if "--json" in argv:
        with open(argv[argv.index("--json") + 1], "w") as f:
            json.dump({"machine": info, "quick": quick, "rows": [r.to_json() for r in rows]}, f, indent=2,
                      default=float)
    return 0


if __name__ == "__main__":
    import dynamics  # noqa: F401

    sys.exit(main())
