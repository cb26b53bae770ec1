"""Resumable sweeps over a grid of settings (widths × seeds × ...), with progress.

Each grid point's result is stored on disk as soon as it is computed (one
``.npz`` file per point, named by a hash of its settings, written atomically),
so an interrupted sweep picks up where it stopped: finished points are loaded,
not recomputed.

    >>> from dynamics.sweep import grid, run_sweep
    >>> results = run_sweep(measure, grid(width=[128, 256], seed=[0, 1]), cache_dir="runs/drift")

``measure(**point)`` returns a mapping of names to arrays or numbers.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from pathlib import Path

import numpy as np


def grid(**axes) -> list[dict]:
    """Cartesian product of named axes, as a list of dicts in row-major order."""
    for name, values in axes.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"axis {name!r} must be a list of values, got {type(values).__name__}")
        if len(list(values)) == 0:
            raise ValueError(f"axis {name!r} must not be empty")
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(list(axes[n]) for n in names))]


def point_key(point: dict) -> str:
    """Stable file stem of a grid point: readable settings plus a short hash of their JSON."""
    try:
        text = json.dumps(point, sort_keys=True)
    except TypeError as exc:
        raise TypeError(f"grid point values must be JSON-serialisable, got {point!r}") from exc
    digest = hashlib.sha1(text.encode()).hexdigest()[:10]
    readable = "_".join(f"{k}-{v}" for k, v in sorted(point.items()))
    readable = "".join(c if c.isalnum() or c in "-_." else "" for c in readable)[:80]
    return f"{readable}_{digest}"


def _save(path: Path, point: dict, result: dict):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, __point__=json.dumps(point, sort_keys=True), **{k: np.asarray(v) for k, v in result.items()})
    os.replace(tmp, path)


def _load(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files if k != "__point__"}


def run_sweep(fn, points, cache_dir, *, progress: bool = True, desc: str = "sweep", recompute: bool = False):
    """Evaluate ``fn(**point)`` for every grid point, storing each result in ``cache_dir``.

    Parameters
    ----------
    fn : callable returning a mapping name -> array-like (numbers, arrays).
    points : list of dicts (see :func:`grid`).
    cache_dir : folder for the per-point files (created if missing).
    progress : show a tqdm progress bar.
    recompute : ignore stored results (they are overwritten).

    Returns
    -------
    list of (point, result) pairs in the order of ``points``.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable fn(**point) -> dict of arrays, got {type(fn).__name__}")
    if isinstance(points, (str, bytes, dict)) or not hasattr(points, "__iter__"):
        raise TypeError(f"points must be a list of dicts (see grid), got {type(points).__name__}")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    points = list(points)
    out = []
    iterator = points
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(points, desc=desc)
    for point in iterator:
        if not isinstance(point, dict):
            raise TypeError(f"each grid point must be a dict, got {type(point).__name__}")
        path = cache / f"{point_key(point)}.npz"
        if path.exists() and not recompute:
            result = _load(path)
        else:
            result = fn(**point)
            if not isinstance(result, dict):
                raise TypeError(f"fn must return a dict of arrays, got {type(result).__name__}")
            _save(path, point, result)
            result = _load(path)
        out.append((point, result))
    return out
