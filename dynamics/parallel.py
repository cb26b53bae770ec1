"""Splitting a leading axis across devices (``jax.sharding``), and stacks of runs for ``jax.vmap``.

Two levels of parallelism below a sweep engine:

* **runs in one program** — sweep points that share their shapes (seeds, learning rates, init scales)
  are stacked along a leading axis B and trained together by ``jax.vmap`` in one compiled program
  (:func:`dynamics.trainer.gradient_descent_batched`, :func:`dynamics.trainer.train_barlow_batched`);
  :func:`stack_runs`, :func:`unstack_runs` and :func:`init_two_layer_batch` build and split such stacks;
* **devices** — the leading axis (the runs of a batched training, the rows of x1 of an NTK) is split
  across the devices of a ``jax.sharding.Mesh``: :func:`leading_axis` turns the ``sharding=`` argument of
  those functions into a :class:`LeadingAxis`, which pads the axis to a multiple of the number of shards,
  puts the pieces on their devices and strips the padding from the results.

Padding.  An axis of length n is split into S shards of ⌈n/S⌉ entries; the n_pad = S ⌈n/S⌉ − n extra
entries are copies of entry 0 (finite, so no NaN can appear in the padded work: $x_{n+k} = x_0$ for
$0 \\le k < n_{pad}$), and every result is cut back to its first n entries along that axis.  Each entry of
the axis is computed independently of the others (a run of gradient descent, a row of K(x1, x2)), so the
padding changes no number of the result.

Multi-host.  After ``jax.distributed.initialize()`` in every process, a ``Mesh`` over ``jax.devices()`` spans
all hosts; every process passes the same host arrays, :meth:`LeadingAxis.put` places on each process only its
addressable shards (``jax.make_array_from_callback``) and :func:`to_host` gathers a result that is not fully
addressable (``multihost_utils.process_allgather``).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from . import networks
from ._validation import check_positive_int

__all__ = ["LeadingAxis", "leading_axis", "stack_runs", "unstack_runs", "init_two_layer_batch", "to_host",
           "batch_size"]


@dataclass(frozen=True)
class LeadingAxis:
    r"""The leading axis of some arrays split over the mesh axes ``axes`` of ``mesh`` (``size`` shards).

    The padding is $x_{n+k} = x_0$ for $0 \le k < S\lceil n/S\rceil - n$, cut off again from the results; the
    axis is one of the rows of the NTKs (Jacot et al. 2018, arXiv:1806.07572), the members of a batched kernel
    flow (S40–S42) and the runs of the batched trainer (the wide Barlow Twins runs of S §6 / App. D.1).

    Built by :func:`leading_axis` from the ``sharding=`` argument of the NTKs and the batched trainer.
    """

    mesh: Mesh
    axes: tuple

    @property
    def size(self) -> int:
        """Number of shards S = ∏ of the mesh sizes along ``axes``."""
        return int(np.prod([self.mesh.shape[a] for a in self.axes]))

    @property
    def split(self) -> NamedSharding:
        """The sharding that splits axis 0 over ``axes`` (PartitionSpec(axes)) and keeps the others whole."""
        return NamedSharding(self.mesh, PartitionSpec(self.axes))

    @property
    def replicated(self) -> NamedSharding:
        """The sharding that keeps a whole copy on every device of the mesh (PartitionSpec())."""
        return NamedSharding(self.mesh, PartitionSpec())

    @property
    def spec(self) -> PartitionSpec:
        """PartitionSpec(axes): axis 0 split over the mesh axes (the ``in_specs``/``out_specs`` of ``shard_map``)."""
        return PartitionSpec(self.axes)

    def padded_length(self, n: int) -> int:
        """S ⌈n / S⌉: the smallest multiple of the number of shards that holds n entries."""
        return -(-int(n) // self.size) * self.size

    def pad(self, tree, n: int | None = None):
        """Every leaf of ``tree`` padded along axis 0 to :meth:`padded_length` (of ``n``, default its length)
        with copies of entry 0 (finite padding; see the module docstring)."""
        def one(a):
            length = np.shape(a)[0]
            total = self.padded_length(length if n is None else n)
            if total == length:
                return a
            extra = (total - length,) + tuple(np.shape(a)[1:])
            if isinstance(a, jax.Array):
                return jnp.concatenate([a, jnp.broadcast_to(a[:1], extra)], axis=0)
            a = np.asarray(a)
            return np.concatenate([a, np.broadcast_to(a[:1], extra)], axis=0)

        return jax.tree_util.tree_map(one, tree)

    def put(self, tree):
        """Leaves of ``tree`` (axis 0 already a multiple of S, see :meth:`pad`) placed with axis 0 split over
        the mesh: each process builds only its addressable shards from the host array."""
        return jax.tree_util.tree_map(lambda a: _place(a, self.split), tree)

    def put_replicated(self, tree):
        """Leaves of ``tree`` with a whole copy on every device of the mesh."""
        return jax.tree_util.tree_map(lambda a: _place(a, self.replicated), tree)

    def strip(self, tree, n: int):
        """Every leaf cut back to its first ``n`` entries along axis 0 (the padding removed)."""
        return jax.tree_util.tree_map(lambda a: a if np.shape(a)[0] == n else a[:n], tree)


def _place(a, sharding):
    """``a`` as a global array with ``sharding``: a JAX array is resharded (``device_put``), a host array is cut
    into the addressable shards of this process (multi-host safe)."""
    if isinstance(a, jax.Array):
        return jax.device_put(a, sharding)
    a = np.asarray(a)
    return jax.make_array_from_callback(a.shape, sharding, lambda index: a[index])


def leading_axis(sharding, name: str = "sharding"):
    """The :class:`LeadingAxis` described by a ``sharding=`` argument, or None for None (one device, as before).

    Used for the rows of the NTKs (Jacot et al. 2018, arXiv:1806.07572), the members of a batched kernel flow
    (S40–S42) and the runs of the batched trainer (the wide Barlow Twins runs of S §6 / App. D.1).

    Accepted forms:

    * a ``jax.sharding.Mesh``: axis 0 split over all the mesh's axes (S = number of devices of the mesh);
    * a ``(mesh, axis_name)`` pair, ``axis_name`` a name of the mesh or a tuple of names: split over those;
    * a ``jax.sharding.NamedSharding`` whose PartitionSpec splits axis 0 only, e.g.
      ``NamedSharding(mesh, PartitionSpec("runs"))``.

    A mesh with no axes, an axis name not in the mesh, a spec that does not split axis 0 (or splits another
    axis) or any other object raise an error naming ``name``.
    """
    if sharding is None:
        return None
    if isinstance(sharding, NamedSharding):
        mesh, spec = sharding.mesh, tuple(sharding.spec)
        if not spec or spec[0] is None:
            raise ValueError(f"{name} must split the leading axis: the PartitionSpec of the NamedSharding has no "
                             f"entry for axis 0, got {sharding.spec}")
        if any(s is not None for s in spec[1:]):
            raise ValueError(f"{name} may split the leading axis only (axis 0); its PartitionSpec {sharding.spec} "
                             f"also splits axes 1 and beyond")
        axes = spec[0] if isinstance(spec[0], tuple) else (spec[0],)
        return _checked(mesh, axes, name)
    if isinstance(sharding, Mesh):
        return _checked(sharding, tuple(sharding.axis_names), name)
    if isinstance(sharding, tuple) and len(sharding) == 2 and isinstance(sharding[0], Mesh):
        mesh, axes = sharding
        axes = (axes,) if isinstance(axes, str) else axes
        if not isinstance(axes, tuple) or not all(isinstance(a, str) for a in axes):
            raise TypeError(f"{name} as a pair (mesh, axis_name) needs an axis name (str) or a tuple of names, got "
                            f"{sharding[1]!r}")
        return _checked(mesh, axes, name)
    raise TypeError(f"{name} must be None, a jax.sharding.Mesh, a (Mesh, axis_name) pair or a NamedSharding, got "
                    f"{type(sharding).__name__}")


def _checked(mesh, axes, name):
    names = tuple(mesh.axis_names)
    if not names or mesh.devices.size == 0:
        raise ValueError(f"{name} must be a mesh with at least one named axis (e.g. Mesh(jax.devices(), ('x',))), "
                         f"got a mesh with no axes")
    if not axes:
        raise ValueError(f"{name} must name at least one mesh axis to split the leading axis over")
    missing = [a for a in axes if a not in names]
    if missing:
        raise ValueError(f"{name} names the axis {missing[0]!r}, which is not in the mesh (axes {names})")
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name} names a mesh axis twice: {axes}")
    return LeadingAxis(mesh, tuple(axes))


def batch_size(tree, name: str = "params_batch") -> int:
    """The common length B >= 1 of axis 0 of every leaf of ``tree`` (a stack of runs); errors name ``name``
    and the first leaf that disagrees.

    B is the number of runs of a stack (e.g. seeds of the wide Barlow Twins runs of S §6 / App. D.1)."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    if not leaves:
        raise ValueError(f"{name} must contain at least one array")
    sizes = []
    for path, leaf in leaves:
        where = name + jax.tree_util.keystr(path)
        shape = np.shape(leaf)
        if len(shape) == 0:
            raise ValueError(f"{name} must have a leading axis of runs on every leaf, got a scalar at {where}")
        sizes.append((where, shape[0]))
    first_where, B = sizes[0]
    for where, b in sizes[1:]:
        if b != B:
            raise ValueError(f"{name} must have the same leading axis (number of runs) on every leaf, got {B} at "
                             f"{first_where} and {b} at {where}")
    if B == 0:
        raise ValueError(f"{name} must hold at least one run: the leading axis is empty (length 0)")
    return int(B)


def stack_runs(runs):
    """A list of B pytrees of equal structure and shapes -> one pytree with a leading axis B (``np.stack`` for NumPy
    leaves, which keeps their float64 dtype, ``jnp.stack`` for JAX arrays).

    The stacks hold the seeds (or learning rates) of runs trained together by ``jax.vmap``, e.g. the wide Barlow
    Twins runs of S §6 / App. D.1."""
    runs = list(runs)
    if not runs:
        raise ValueError("runs must hold at least one pytree (an empty list of runs)")
    treedef = jax.tree_util.tree_structure(runs[0])
    for i, r in enumerate(runs[1:], 1):
        if jax.tree_util.tree_structure(r) != treedef:
            raise ValueError(f"runs must share one pytree structure: runs[{i}] differs from runs[0]")
        for a, b in zip(jax.tree_util.tree_leaves(runs[0]), jax.tree_util.tree_leaves(r)):
            if np.shape(a) != np.shape(b):
                raise ValueError(f"runs must share their shapes: runs[{i}] has a leaf of shape {np.shape(b)} "
                                 f"where runs[0] has {np.shape(a)}")
    # NumPy leaves stay NumPy (np.stack keeps float64 even where JAX's float64 is off); JAX leaves use jnp.stack.
    return jax.tree_util.tree_map(
        lambda *xs: jnp.stack(xs) if any(isinstance(a, jax.Array) for a in xs) else np.stack(xs), *runs)


def unstack_runs(tree):
    """The inverse of :func:`stack_runs`: a pytree with a leading axis B -> a list of B pytrees.

    (the stacked runs of the batched trainer, e.g. the wide Barlow Twins runs of S §6 / App. D.1)."""
    B = batch_size(tree, "tree")
    return [jax.tree_util.tree_map(lambda a, b=b: a[b], tree) for b in range(B)]


def init_two_layer_batch(D: int, M: int, Z: int, seeds, *, hidden_scale=1.0, readout_scale=1.0):
    """B stacked two-layer networks (A2), run b initialised as ``networks.init_two_layer(D, M, Z, seed=seeds[b],
    ...)``: V (B, M, D), W (B, M, Z).

    The initial parameters of run b are exactly those of the single run with that seed (NumPy's generator, the
    same on CPU and GPU), so a batched training can be compared with the loop of single runs entry by entry.
    ``hidden_scale`` and ``readout_scale`` may be numbers or length-B sequences (an init-scale sweep).
    """
    seeds = [check_positive_int(s, "seeds", minimum=0) for s in np.atleast_1d(np.asarray(seeds, dtype=object))]
    if not seeds:
        raise ValueError("seeds must hold at least one seed (an empty batch)")
    B = len(seeds)

    def per_run(v, what):
        arr = np.atleast_1d(np.asarray(v, dtype=float))
        if arr.ndim != 1 or arr.size not in (1, B):
            raise ValueError(f"{what} must be a number or one value per seed ({B}), got shape {np.shape(v)}")
        return np.broadcast_to(arr, (B,))

    hs, rs = per_run(hidden_scale, "hidden_scale"), per_run(readout_scale, "readout_scale")
    runs = [networks.init_two_layer(D, M, Z, seed=s, hidden_scale=float(h), readout_scale=float(r))
            for s, h, r in zip(seeds, hs, rs)]
    stacked = stack_runs([(np.asarray(p["V"]), np.asarray(p["W"])) for p in runs])  # float64 host arrays
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(runs[0]), list(stacked))


def to_host(tree):
    """Every JAX array of ``tree`` as a NumPy array; arrays spread over several hosts are gathered first
    (``jax.experimental.multihost_utils.process_allgather``).

    Used for the sharded results of the rows of the NTKs (Jacot et al. 2018, arXiv:1806.07572), the members of a
    batched kernel flow (S40–S42) and the runs of the batched trainer (the wide Barlow Twins runs of S §6 / App.
    D.1)."""
    def one(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(a, tiled=True))
        return np.asarray(a)

    return jax.tree_util.tree_map(one, tree)
