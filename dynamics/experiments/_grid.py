"""Width × seed grids of runs, shared by checks and figures, resumable through :mod:`dynamics.sweep`.

A run is a function ``fn(**point) -> {name: number or array}`` of one grid point (a width, a seed,
...).  :func:`run_grid` evaluates it over a grid: in memory (each point computed once per process,
so a check and the figure that illustrates it share the runs), and, when a cache directory is set,
stored on disk point by point with :func:`dynamics.sweep.run_sweep`, so an interrupted long run
(``python -m dynamics figures`` at full size) resumes where it stopped.

The cache directory is ``None`` by default (nothing is written: tests and ``verify`` leave no
files); set it for a block of work with :func:`cache_dir`, or with the environment variable
``DYNAMICS_CACHE_DIR``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from .. import sweep

_STATE = threading.local()
_MEMORY: dict = {}
_UNSET = object()  # no cache_dir block active: the environment variable decides


def current_cache_dir():
    """The folder runs are stored in, or ``None`` (in memory only)."""
    value = getattr(_STATE, "cache_dir", _UNSET)
    if value is _UNSET:
        value = os.environ.get("DYNAMICS_CACHE_DIR") or None
    return None if value is None else Path(value)


@contextlib.contextmanager
def cache_dir(path):
    """Store the grid runs made inside the ``with`` block under ``path`` (one sub-folder per run
    function); ``None`` turns storing off inside the block."""
    old = getattr(_STATE, "cache_dir", _UNSET)
    _STATE.cache_dir = None if path is None else str(Path(path))
    try:
        yield
    finally:
        _STATE.cache_dir = old


def run_grid(fn, points, *, name=None, progress=False, desc=None):
    """``[fn(**point) for point in points]`` as a list of result dicts, each point computed once.

    Parameters
    ----------
    fn : module-level function ``fn(**point) -> {name: number or array}``.
    points : list of dicts (e.g. :func:`dynamics.sweep.grid` of widths and seeds).
    name : the run's name, the sub-folder of the cache directory (default: ``fn``'s qualified name).
    progress, desc : tqdm progress bar over the points.

    Results are the same whether computed, taken from memory or read back from disk (arrays of the
    stored dtype; a stored number comes back as a 0-d array).
    """
    name = name or f"{fn.__module__}.{fn.__qualname__}"
    points = list(points)
    for p in points:
        sweep.point_key(p)  # JSON-serialisable settings, checked before any work
    todo = [p for p in points if (name, sweep.point_key(p)) not in _MEMORY]
    if todo:
        root = current_cache_dir()
        if root is None:
            iterator = todo
            if progress:
                from tqdm.auto import tqdm

                iterator = tqdm(todo, desc=desc or name, leave=False)
            for p in iterator:
                _MEMORY[name, sweep.point_key(p)] = sweep.validate_result(fn(**p), p)
        else:
            for p, res in sweep.run_sweep(fn, todo, root / name, progress=progress, desc=desc or name):
                _MEMORY[name, sweep.point_key(p)] = res
    return [_MEMORY[name, sweep.point_key(p)] for p in points]
