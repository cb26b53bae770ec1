"""Resumable sweeps over a grid of settings (widths × seeds × ...), on any executor, with progress.

Each grid point's result is stored on disk as soon as it is computed (one ``.npz`` file per point,
named by a hash of its settings, written atomically through a uniquely named temporary file and
``os.replace``), so an interrupted sweep picks up where it stopped: finished points are loaded, not
recomputed.

    >>> from dynamics.sweep import grid, run_sweep
    >>> results = run_sweep(measure, grid(width=[128, 256], seed=[0, 1]), cache_dir="runs/drift")

``measure(**point)`` returns a mapping of names to numbers or real/integer/bool arrays.

Where the points run
--------------------
``executor=None`` computes the points one after the other in the calling process.  Any
:class:`concurrent.futures.Executor` spreads them: a :class:`~concurrent.futures.ProcessPoolExecutor`
over the local cores (use a ``"spawn"`` or ``"forkserver"`` context: JAX does not survive ``fork``),
or a Dask cluster through ``distributed.Client(address).get_executor()`` (Dask distributed is the
supported engine for clusters, ``pip install dynamics[distributed]``).  The executor is only used,
never shut down.  Results do not depend on it: a point's numbers are those ``fn(**point)`` computes,
read back from the stored file.

Who writes the results
----------------------
The worker that computed a point writes its file (validated first, atomically), so a killed driver
loses only the points in flight: every finished point is already on disk.  The worker also sends
the result back; when the worker cannot see ``cache_dir`` (a remote Dask worker without the shared
file system: the folder does not exist there, and a worker never creates it) the driver writes the
file from the returned result.  Either way the driver reads every result back from its file and
checks it, so a fresh, a resumed and a distributed run return the same values.

Faults
------
- A killed worker costs only the point it was computing: the points other workers finished are
  stored (Dask reschedules the lost point on another worker; a broken process pool raises, and a
  rerun computes only the missing points).
- A killed driver leaves only complete files (a half-written one is a temporary file, never read)
  and at most a stray ``*.tmp``; a rerun loads the finished points and computes the rest.
- A file that cannot be read (truncated, corrupted, another point's, written by another program) is
  recomputed, with a :class:`SweepCacheWarning` naming the file and the reason.
- Two drivers on one cache directory never corrupt each other: temporary names are unique, the
  replace is atomic, and a worker that finds a valid file for its point (finished meanwhile by the
  other driver) uses it instead of computing it again.  There is no lock: two drivers that start
  the same point at the same moment both compute it, and the last finished write wins (identical
  numbers from a deterministic ``fn``).

What a stored file guarantees
-----------------------------
- A result is validated *before* it is written: ``fn`` must return a mapping of string names to
  numbers or numeric arrays; anything else (``None``, objects, strings) raises ``TypeError`` naming
  the point, and nothing is stored, so a fixed ``fn`` is not served a poisoned file.
- Each file records the point it belongs to; on load the stored point is compared with the
  requested one, so a file copied or renamed into the wrong place is never returned for another
  point.
"""

from __future__ import annotations

import collections.abc
import concurrent.futures as cf
import hashlib
import itertools
import json
import numbers
import os
import pickle
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np


class SweepCacheWarning(UserWarning):
    """A stored result could not be used and is being recomputed.

    Raised while resuming a sweep, e.g. one of the width × seed sweeps of A Lemma 9 (Fig 1), A Figs 2–5, E Figs
    3–4, S Fig 2 and F Thm 1."""


def grid(**axes) -> list[dict]:
    """Cartesian product of named axes (any finite iterables: lists, ranges, generators), as a list of
    dicts in row-major order: $\\{(a_1, \\dots, a_k) : a_i \\in A_i\\} = A_1 \\times \\dots \\times A_k$.

    The grids of the width × seed sweeps of A Lemma 9 (Fig 1), A Figs 2–5, E Figs 3–4, S Fig 2 and F Thm 1 are
    built with it (e.g. widths × seeds)."""
    materialised = {}
    for name, values in axes.items():
        if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
            raise TypeError(f"axis {name!r} must be an iterable of values, got {type(values).__name__}")
        values = list(values)  # a generator can be read only once
        if len(values) == 0:
            raise ValueError(f"axis {name!r} must not be empty")
        materialised[name] = values
    names = list(materialised)
    return [dict(zip(names, combo)) for combo in itertools.product(*(materialised[n] for n in names))]


def _point_json(point: dict) -> str:
    try:
        return json.dumps(point, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"grid point values must be JSON-serialisable (and finite), got {point!r}") from exc


def point_key(point: dict) -> str:
    """Stable file stem of a grid point: readable settings plus a short hash of their JSON.

    It names the stored points of the width × seed sweeps of A Lemma 9 (Fig 1), A Figs 2–5, E Figs 3–4, S Fig 2
    and F Thm 1."""
    digest = hashlib.sha1(_point_json(point).encode()).hexdigest()[:10]
    readable = "_".join(f"{k}-{v}" for k, v in sorted(point.items()))
    readable = "".join(c if c.isalnum() or c in "-_." else "" for c in readable)[:80]
    return f"{readable}_{digest}"


def validate_result(result, point: dict) -> dict:
    """Numeric arrays only: what ``np.load(allow_pickle=False)`` can read back exactly.

    Every per-point measurement of the width × seed sweeps of A Lemma 9 (Fig 1), A Figs 2–5, E Figs 3–4, S Fig 2
    and F Thm 1 passes through it, so a stored number reads back bit for bit."""
    if not isinstance(result, collections.abc.Mapping):
        raise TypeError(f"fn must return a dict of arrays, got {type(result).__name__} at point {point!r}")
    out = {}
    for k, v in result.items():
        if not isinstance(k, str) or not k or k == "__point__":
            raise TypeError(f"fn's result keys must be non-empty strings other than '__point__', got {k!r} "
                            f"at point {point!r}")
        if isinstance(v, (numbers.Number, np.generic)) or hasattr(v, "__array__") or isinstance(v, (list, tuple)):
            try:
                arr = np.asarray(v)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"fn's result {k!r} is not an array at point {point!r}: {exc}") from exc
            if arr.dtype.kind in "biufc":
                out[k] = arr
                continue
        raise TypeError(f"fn's result {k!r} must be a number or a numeric array, got {type(v).__name__} "
                        f"at point {point!r}")
    return out


def _save(path: Path, point: dict, result: dict):
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __point__=np.asarray(_point_json(point)), **result)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _unpack(arr):
    return arr.item() if arr.ndim == 0 else arr


def _load(path: Path, point: dict) -> dict:
    """The stored result of ``point``; ``ValueError`` if the file is unreadable or holds another point."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "__point__" not in z.files:
                raise ValueError("it records no grid point")
            stored = str(z["__point__"])
            if stored != _point_json(point):
                raise ValueError(f"it holds point {stored}, not {_point_json(point)}")
            return {k: _unpack(z[k]) for k in z.files if k != "__point__"}
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from exc


def compute_point(fn, point: dict, path: str, recompute: bool = False):
    """Compute one grid point where it runs (in the driver or on a worker) and store it.

    One grid point of the width × seed sweeps of A Lemma 9 (Fig 1), A Figs 2–5, E Figs 3–4, S Fig 2 and F Thm 1.

    Returns ``(result, written)``: the validated result (a dict of NumPy arrays) and whether this
    call wrote (or found) a valid file at ``path``.  Unless ``recompute``, a valid file already at
    ``path`` (finished meanwhile by another driver) is returned without calling ``fn``.  The file
    is written only when its folder exists here, so a worker without the driver's file system
    writes nothing and the driver stores the returned result.
    """
    target = Path(path)
    if not recompute and target.exists():
        try:
            return _load(target, point), True
        except ValueError:
            pass  # damaged: the driver has warned about it; computed again below
    result = validate_result(fn(**point), point)
    if not target.parent.is_dir():
        return result, False
    _save(target, point, result)
    return result, True


def _check_executor(executor):
    if executor is not None and not isinstance(executor, cf.Executor):
        raise TypeError("executor must be None (in-process) or a concurrent.futures.Executor "
                        "(ProcessPoolExecutor, distributed.Client(...).get_executor()), "
                        f"got {type(executor).__name__}")


def _check_picklable(fn, executor):
    """``fn`` must travel to the workers of a process or cluster executor (not to threads)."""
    if executor is None or isinstance(executor, cf.ThreadPoolExecutor):
        return
    try:
        pickle.dumps(fn)
        return
    except Exception as exc:  # noqa: BLE001 - any pickling failure is reported the same way
        error = exc
    if not isinstance(executor, cf.ProcessPoolExecutor):
        try:  # Dask sends functions with cloudpickle, which also takes lambdas and closures
            import cloudpickle

            cloudpickle.dumps(fn)
            return
        except ImportError:
            pass
        except Exception as exc:  # noqa: BLE001
            error = exc
    raise TypeError(f"fn must be picklable to run on {type(executor).__name__} (a module-level function, "
                    f"not a lambda or a local function), but pickling {fn!r} failed: {error}") from error


def _check_cache_dir(cache_dir) -> Path:
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir must be a path (str or os.PathLike), got {type(cache_dir).__name__}")
    cache = Path(cache_dir)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cache_dir {str(cache)!r} cannot be created: {exc}") from exc
    try:  # a real write, not os.access: read-only mounts, ACLs and quotas show up only here
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", suffix=".tmp", dir=cache)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"cache_dir {str(cache)!r} is not writable: {exc}") from exc
    return cache


def run_sweep(fn, points, cache_dir, *, executor=None, progress: bool = True, desc: str = "sweep",
              recompute: bool = False):
    """Evaluate $r_p = \\mathrm{fn}(**p)$ for every grid point $p$, storing each result in ``cache_dir``.

    The engine under :func:`dynamics.experiments.run_grid`, i.e. under the width × seed sweeps of A Lemma 9 (Fig
    1), A Figs 2–5, E Figs 3–4, S Fig 2 and F Thm 1.

    Parameters
    ----------
    fn : callable returning a mapping name -> number or numeric array; picklable (a module-level
        function) when ``executor`` runs in other processes.
    points : iterable of dicts (see :func:`grid`) with JSON-serialisable values; a point listed
        twice is computed once.
    cache_dir : folder for the per-point files (created if missing; must be writable).
    executor : ``None`` (in this process) or any :class:`concurrent.futures.Executor`
        (``ProcessPoolExecutor``, Dask's ``Client.get_executor()``); used, never shut down.
    progress : show a tqdm progress bar of finished points, stored ones included.
    desc : the progress bar's label.
    recompute : ignore stored results (they are overwritten).

    Returns
    -------
    list of (point, result) pairs in the order of ``points``; results are read back from the stored
    files, so a fresh run, a resumed run and a run on any executor return the same values.

    Raises
    ------
    TypeError / ValueError before any work starts for a bad ``fn``, ``points``, ``executor`` or
    ``cache_dir``; ``TypeError`` naming the point when ``fn`` returns something other than a mapping
    of arrays (nothing is stored for it; the points finished before stay stored).  A point whose
    ``fn`` raises (or whose worker is lost for good) re-raises that error after the points already
    finished are stored; points not yet started are cancelled.

    Who writes the files and what a killed worker or driver costs: see :mod:`dynamics.sweep`.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable fn(**point) -> dict of arrays, got {type(fn).__name__}")
    if isinstance(points, (str, bytes, dict)) or not hasattr(points, "__iter__"):
        raise TypeError(f"points must be a list of dicts (see grid), got {type(points).__name__}")
    points = list(points)
    for point in points:  # every point is checked before any work starts
        if not isinstance(point, dict):
            raise TypeError(f"each grid point must be a dict, got {type(point).__name__}")
        point_key(point)
    _check_executor(executor)
    if not isinstance(recompute, bool):
        raise TypeError(f"recompute must be a bool, got {type(recompute).__name__}")
    cache = _check_cache_dir(cache_dir)
    _check_picklable(fn, executor)

    keys = [point_key(p) for p in points]
    unique = dict(zip(keys, points))  # key -> point, first occurrence order
    done: dict[str, dict] = {}
    todo = []
    for key, point in unique.items():
        path = cache / f"{key}.npz"
        if path.exists() and not recompute:
            try:
                done[key] = _load(path, point)
                continue
            except ValueError as exc:
                warnings.warn(f"sweep cache file {path} cannot be used ({exc}); recomputing point {point!r}",
                              SweepCacheWarning, stacklevel=2)
        todo.append(key)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(unique), initial=len(done), desc=desc)

    def finish(key, result, written):
        path = cache / f"{key}.npz"
        if written:
            try:
                done[key] = _load(path, unique[key])
            except ValueError:
                written = False  # not visible here (another machine's folder of that name)
        if not written:
            _save(path, unique[key], result)
            done[key] = _load(path, unique[key])
        if bar is not None:
            bar.update(1)

    try:
        if executor is None:
            for key in todo:
                finish(key, *compute_point(fn, unique[key], str(cache / f"{key}.npz"), recompute))
        elif todo:
            futures = {executor.submit(compute_point, fn, unique[key], str(cache / f"{key}.npz"), recompute): key
                       for key in todo}
            try:
                for future in cf.as_completed(futures):
                    finish(futures[future], *future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                # store what the other workers finish meanwhile is their own business: they write
                # their files themselves; nothing more is awaited here
                raise
    finally:
        if bar is not None:
            bar.close()
    return [(point, done[key]) for point, key in zip(points, keys)]
