"""Resumable sweeps over a grid of settings (widths × seeds × ...), with progress.

Each grid point's result is stored on disk as soon as it is computed (one
``.npz`` file per point, named by a hash of its settings, written atomically
through a uniquely named temporary file), so an interrupted sweep picks up where
it stopped: finished points are loaded, not recomputed.

    >>> from dynamics.sweep import grid, run_sweep
    >>> results = run_sweep(measure, grid(width=[128, 256], seed=[0, 1]), cache_dir="runs/drift")

``measure(**point)`` returns a mapping of names to numbers or real/integer/bool arrays.

What a stored file guarantees
-----------------------------
- A result is validated *before* it is written: ``fn`` must return a mapping of string names to
  numbers or numeric arrays; anything else (``None``, objects, strings) raises ``TypeError`` naming
  the point, and nothing is stored, so a fixed ``fn`` is not served a poisoned file.
- Each file records the point it belongs to; on load the stored point is compared with the
  requested one, so a file copied or renamed into the wrong place is never returned for another
  point.
- A file that cannot be read (truncated, corrupted, another point's, written by another program) is
  recomputed, with a :class:`SweepCacheWarning` naming the file and the reason.
- Temporary files have unique names, so two runs on one cache directory do not clobber each
  other's half-written files; the last finished write of a point wins (both computed the same
  point).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import numbers
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np


class SweepCacheWarning(UserWarning):
    """A stored result could not be used and is being recomputed."""


def grid(**axes) -> list[dict]:
    """Cartesian product of named axes (any finite iterables: lists, ranges, generators), as a list of
    dicts in row-major order."""
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
    """Stable file stem of a grid point: readable settings plus a short hash of their JSON."""
    digest = hashlib.sha1(_point_json(point).encode()).hexdigest()[:10]
    readable = "_".join(f"{k}-{v}" for k, v in sorted(point.items()))
    readable = "".join(c if c.isalnum() or c in "-_." else "" for c in readable)[:80]
    return f"{readable}_{digest}"


def validate_result(result, point: dict) -> dict:
    """Numeric arrays only: what ``np.load(allow_pickle=False)`` can read back exactly."""
    if not isinstance(result, dict):
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


def run_sweep(fn, points, cache_dir, *, progress: bool = True, desc: str = "sweep", recompute: bool = False):
    """Evaluate ``fn(**point)`` for every grid point, storing each result in ``cache_dir``.

    Parameters
    ----------
    fn : callable returning a mapping name -> number or numeric array.
    points : iterable of dicts (see :func:`grid`) with JSON-serialisable values.
    cache_dir : folder for the per-point files (created if missing).
    progress : show a tqdm progress bar.
    recompute : ignore stored results (they are overwritten).

    Returns
    -------
    list of (point, result) pairs in the order of ``points``; results are read back from the stored
    files, so a fresh run and a resumed run return the same values.
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
    cache = Path(cache_dir)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cache_dir {str(cache)!r} cannot be created: {exc}") from exc
    if not os.access(cache, os.W_OK):
        raise ValueError(f"cache_dir {str(cache)!r} is not writable")
    out = []
    iterator = points
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(points, desc=desc)
    for point in iterator:
        path = cache / f"{point_key(point)}.npz"
        result = None
        if path.exists() and not recompute:
            try:
                result = _load(path, point)
            except ValueError as exc:
                warnings.warn(f"sweep cache file {path} cannot be used ({exc}); recomputing point {point!r}",
                              SweepCacheWarning, stacklevel=2)
        if result is None:
            result = validate_result(fn(**point), point)
            _save(path, point, result)
            result = _load(path, point)
        out.append((point, result))
    return out
