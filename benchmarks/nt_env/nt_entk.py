"""Time neural-tangents' empirical NTK of the residual network of ``dynamics.networks.resnet_apply``.

Runs in the separate environment of ``requirements.txt`` (jax 0.4.23 + neural-tangents 0.6.5), so it imports
nothing from ``dynamics``: the forward pass is written again here in plain JAX with the same layout and the same
operations (NHWC images, HWIO kernels, ``lax.conv_general_dilated``, 3x3 convolutions padded by 1, stride-2
first block with a 1x1 stride-2 projection in every stage after the first, ReLU, global average pooling, a
two-layer ReLU head), and the kernel is the one of the scalar g(x) = √d · mean_i f_i(x) (Simon et al., ICML
2023, arXiv:2303.15438, App. D.5).  The caller compares the kernel with its own.

    python nt_entk.py DATA.npz OUT.npz IMPLEMENTATION [--repeat K]

DATA.npz holds the parameters as "stem/w", "stem/b", "stages/s/b/conv1/w", ..., "head/W1", ... and the inputs
"x" (n, H, W, C).  IMPLEMENTATION is 1 (JACOBIAN_CONTRACTION), 2 (NTK_VECTOR_PRODUCTS) or 3
(STRUCTURED_DERIVATIVES).  OUT.npz receives the kernel "K" (n, n), "seconds_first" (compilation and one run),
"seconds" (best of K further runs) and the versions; one JSON line with the timings is printed.
"""

import json
import math
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

PAD3 = ((1, 1), (1, 1))
PAD1 = ((0, 0), (0, 0))


def load_params(data):
    """The nested parameter dict of ``init_resnet`` from its flat "a/b/c" keys."""
    stem = {"w": jnp.asarray(data["stem/w"]), "b": jnp.asarray(data["stem/b"])}
    head = {k: jnp.asarray(data[f"head/{k}"]) for k in ("W1", "b1", "W2", "b2")}
    stages = {}
    for key in data.files:
        parts = key.split("/")
        if parts[0] != "stages":
            continue
        s, b, layer, leaf = int(parts[1]), int(parts[2]), parts[3], parts[4]
        stages.setdefault(s, {}).setdefault(b, {}).setdefault(layer, {})[leaf] = jnp.asarray(data[key])
    stages = [[stages[s][b] for b in sorted(stages[s])] for s in sorted(stages)]
    return {"stem": stem, "stages": stages, "head": head}


def conv(x, p, stride, padding):
    out = jax.lax.conv_general_dilated(x, p["w"], (stride, stride), padding,
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return out + p["b"] if "b" in p else out


def relu(u):
    """max(u, 0) as in dynamics.networks (its derivative at u = 0 is 1/2, where jax.nn.relu's is 0: with zero
    biases, dead regions give exact zeros, so the two kernels would differ)."""
    return jnp.maximum(u, 0.0)


def resnet(params, x):
    x = relu(conv(x, params["stem"], 1, PAD3))
    for blocks in params["stages"]:
        for block in blocks:
            stride = 2 if "proj" in block else 1
            y = relu(conv(x, block["conv1"], stride, PAD3))
            y = conv(y, block["conv2"], 1, PAD3)
            shortcut = conv(x, block["proj"], stride, PAD1) if "proj" in block else x
            x = relu(shortcut + y)
    h = jnp.mean(x, axis=(1, 2))
    head = params["head"]
    return relu(h @ head["W1"] + head["b1"]) @ head["W2"] + head["b2"]


def scalar(params, x):
    """g(x) = √d · mean_i f_i(x) = (1/√d) Σ_i f_i(x), shape (n, 1)."""
    f = resnet(params, x)
    return jnp.sum(f, axis=1, keepdims=True) / math.sqrt(f.shape[1])


def main(argv):
    import neural_tangents as nt  # only here: the forward pass above also imports under the package's jax

    data_path, out_path, implementation = argv[0], argv[1], int(argv[2])
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 2
    data = np.load(data_path)
    params = load_params(data)
    x = jnp.asarray(data["x"])
    kernel_fn = jax.jit(nt.empirical_ntk_fn(scalar, trace_axes=(-1,), vmap_axes=0,
                                            implementation=implementation))
    start = time.perf_counter()
    K = jax.block_until_ready(kernel_fn(x, None, params))
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        K = jax.block_until_ready(kernel_fn(x, None, params))
        best = min(best, time.perf_counter() - start)
    K = np.asarray(K).reshape(x.shape[0], x.shape[0])
    info = {"implementation": implementation, "seconds_first": first, "seconds": best,
            "jax": jax.__version__, "neural_tangents": nt.__version__, "device": str(jax.devices()[0]),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    stats = getattr(jax.devices()[0], "memory_stats", lambda: None)() or {}
    if "peak_bytes_in_use" in stats:
        info["peak_device_mb"] = stats["peak_bytes_in_use"] / 2**20
    np.savez(out_path, K=K, **{k: np.asarray(v) for k, v in info.items()})
    print(json.dumps(info), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
