"""Devices: the NTKs and the batched trainer with ``sharding=`` on 4 CPU devices equal the one-device results.

The 4 devices exist only in a fresh process (``XLA_FLAGS=--xla_force_host_platform_device_count=4``,
``JAX_PLATFORMS=cpu``), so the comparisons run in a subprocess that prints its measurements as JSON: for each
function the largest difference from the same call without ``sharding`` (the default device, an independently
compiled program), and where the split axis is a multiple of 4 the devices holding the result's shards and the
shape of one shard.  Non-divisible axes (padding stripped) are checked for their numbers.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(r"""
    import json
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    from jax.sharding import Mesh, NamedSharding, PartitionSpec
    from dynamics import losses, networks, ntk, parallel, trainer

    assert len(jax.devices()) == 4, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("x",))
    mesh2 = Mesh(np.array(jax.devices()).reshape(2, 2), ("a", "b"))
    rng = np.random.default_rng(0)
    out = {}

    def diff(a, b):
        return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))

    def layout(a):
        return {"devices": sorted(s.device.id for s in a.addressable_shards),
                "shard_rows": sorted({s.data.shape[0] for s in a.addressable_shards}), "rows": a.shape[0]}

    apply = lambda p, x: networks.two_layer_apply(p, x, "relu")
    p = networks.init_two_layer(5, 24, 2, seed=0)
    x2 = rng.standard_normal((6, 5))
    for n1 in (8, 7):
        x1 = rng.standard_normal((n1, 5))
        for output in ("full", "trace", "scalar"):
            ref = ntk.two_layer_ntk(p, x1, x2, output=output)
            got = ntk.two_layer_ntk(p, x1, x2, output=output, sharding=mesh)
            out[f"two_layer_{output}_{n1}"] = {"err": diff(got, ref), **layout(got)}
        got = ntk.two_layer_ntk(p, x1, x2, output="trace", block_size=3, sharding=(mesh2, ("a", "b")))
        out[f"two_layer_blocks_{n1}"] = {"err": diff(got, ntk.two_layer_ntk(p, x1, x2, output="trace"))}
        got = ntk.empirical_ntk(apply, p, x1, x2, sharding=NamedSharding(mesh, PartitionSpec("x")))
        out[f"empirical_{n1}"] = {"err": diff(got, ntk.empirical_ntk(apply, p, x1, x2)), **layout(got)}
        got = ntk.scalar_ntk(apply, p, x1, sharding=mesh)
        ref = ntk.scalar_ntk(apply, p, x1)
        out[f"scalar_gram_{n1}"] = {"err": diff(got, ref), "asym": float(jnp.max(jnp.abs(got - got.T))), **layout(got)}
        got = ntk.scalar_ntk(apply, p, x1, x2, block_size=1, sharding=mesh)
        out[f"scalar_{n1}"] = {"err": diff(got, ntk.scalar_ntk(apply, p, x1, x2)), **layout(got)}

    # batched training: B runs split over the 4 devices, against the loop of single runs on the default device
    x, xp = rng.standard_normal((20, 5)), rng.standard_normal((20, 5))
    for B in (8, 6):
        seeds = list(range(B))
        lrs = np.linspace(0.05, 0.1, B)
        pb = parallel.init_two_layer_batch(5, 24, 2, seeds, readout_scale=0.2)
        final, hist = trainer.train_barlow_batched(apply, pb, x, xp, lr=lrs, n_steps=60, n_records=6, sharding=mesh)
        err = 0.0
        for b in range(B):
            f1, h1 = trainer.train_barlow(apply, networks.init_two_layer(5, 24, 2, seed=b, readout_scale=0.2), x, xp,
                                          lr=float(lrs[b]), n_steps=60, n_records=6)
            err = max(err, diff(hist.loss[b], h1.loss), diff(hist["eigenvalues"][b], h1["eigenvalues"]),
                      diff(final["V"][b], f1["V"]), diff(final["W"][b], f1["W"]))
        out[f"batched_{B}"] = {"err": err, **layout(final["V"])}

    # batched frozen-kernel flows (gradient-descent mode): members split over the devices
    from dynamics import flows
    X = np.concatenate([x, xp])
    K = np.asarray(ntk.two_layer_ntk(p, X, X, output="trace"))
    loss = lambda F: losses.barlow_twins(F[:20], F[20:], symmetrize=True)
    predict = flows.predictor(loss, K)
    for B in (4, 3):
        F0 = 0.01 * rng.standard_normal((B, 40, 2))
        t = 0.05 * np.array([0, 10, 50])
        got = predict.batch(t, F0, lr=0.05, sharding=mesh)
        err = max(diff(got[b], predict(t, F0[b], lr=0.05)) for b in range(B))
        out[f"flow_batch_{B}"] = {"err": err, **layout(got)}

    errors = {}
    for name, bad in (("no_axes", Mesh(np.array(jax.devices()[0]), ())), ("unknown_axis", (mesh, "y"))):
        try:
            ntk.two_layer_ntk(p, x2, x2, sharding=bad)
        except ValueError as exc:
            errors[name] = str(exc)
    out["errors"] = errors
    print("RESULT " + json.dumps(out))
""")


@pytest.fixture(scope="module")
def measured():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert done.returncode == 0, done.stderr[-3000:]
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_sharded_ntks_equal_one_device(measured):
    names = [k for k in measured if k != "errors" and not k.startswith(("batched", "flow"))]
    assert len(names) == 2 * 7
    for name in names:
        assert measured[name]["err"] < 1e-12, (name, measured[name])
    assert measured["scalar_gram_8"]["asym"] == 0.0 and measured["scalar_gram_7"]["asym"] == 0.0


def test_sharded_outputs_are_split_over_four_devices(measured):
    for name in ("two_layer_full_8", "two_layer_trace_8", "two_layer_scalar_8", "empirical_8", "scalar_gram_8",
                 "scalar_8"):
        assert measured[name]["devices"] == [0, 1, 2, 3], (name, measured[name])
        assert measured[name]["shard_rows"] == [2] and measured[name]["rows"] == 8, (name, measured[name])
    assert measured["batched_8"]["devices"] == [0, 1, 2, 3] and measured["batched_8"]["shard_rows"] == [2]
    # padded axes come back with the padding stripped
    assert measured["two_layer_full_7"]["rows"] == 7 and measured["batched_6"]["rows"] == 6


def test_sharded_batched_training_and_flows_equal_loop(measured):
    for name in ("batched_8", "batched_6", "flow_batch_4", "flow_batch_3"):
        assert measured[name]["err"] < 1e-12, (name, measured[name])
    assert measured["flow_batch_4"]["devices"] == [0, 1, 2, 3] and measured["flow_batch_4"]["shard_rows"] == [1]
    assert measured["flow_batch_3"]["rows"] == 3


def test_bad_mesh_errors_name_sharding(measured):
    assert "sharding must be a mesh with at least one named axis" in measured["errors"]["no_axes"]
    assert "sharding names the axis 'y', which is not in the mesh" in measured["errors"]["unknown_axis"]
