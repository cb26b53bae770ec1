"""Width × seed grids of runs, shared by checks and figures, resumable and spread through :mod:`dynamics.sweep`.

A run is a function ``fn(**point) -> {name: number or array}`` of one grid point (a width, a seed,
...).  :func:`run_grid` evaluates it over a grid: in memory (each point computed once per process,
so a check and the figure that illustrates it share the runs), and, when a cache directory is set,
stored on disk point by point with :func:`dynamics.sweep.run_sweep`, so an interrupted long run
(``python -m dynamics figures`` at full size) resumes where it stopped.

The cache directory is ``None`` by default (nothing is written: tests and ``verify`` leave no
files); set it for a block of work with :func:`cache_dir`, or with the environment variable
``DYNAMICS_CACHE_DIR``.

Where the points run: in this process by default; on any :class:`concurrent.futures.Executor` set
for a block of work with :func:`use_executor` (an executor object, or a spec string), or for the
whole process with the environment variable ``DYNAMICS_EXECUTOR``:

* ``"processes:N"`` — a local :class:`~concurrent.futures.ProcessPoolExecutor` of N ``spawn``-ed
  processes (``python -m dynamics verify --workers N``);
* ``"dask:tcp://host:port"`` — the Dask cluster whose scheduler listens there,
  ``distributed.Client(address).get_executor()`` (``--dask tcp://host:port``);
* ``""`` or ``"none"`` — in this process.

Each point then runs on a worker under the driver's float64 setting (``jax_enable_x64``) and with
nested grids computed in the worker itself; without a cache directory the points travel through a
temporary folder that is removed afterwards.  Results do not depend on the executor.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import tempfile
import threading
from pathlib import Path

from .. import sweep

_STATE = threading.local()
_MEMORY: dict = {}
_UNSET = object()  # no block active: the environment variable decides
_FROM_ENV: dict = {}  # spec string of DYNAMICS_EXECUTOR -> the executor made for it (one per process)


def current_cache_dir():
    """The folder runs are stored in, or ``None`` (in memory only).

    Where the points of the width × seed sweeps of A Lemma 9 (Fig 1), A Figs 2–5, E Figs 3–4, S Fig 2 and F Thm
    1 are stored."""
    value = getattr(_STATE, "cache_dir", _UNSET)
    if value is _UNSET:
        value = os.environ.get("DYNAMICS_CACHE_DIR") or None
    return None if value is None else Path(value)


@contextlib.contextmanager
def cache_dir(path):
    """Store the grid runs made inside the ``with`` block under ``path`` (one sub-folder per run
    function); ``None`` turns storing off inside the block.

    Used to resume the width × seed sweeps of A Lemma 9 (Fig 1), A Figs 2–5, E Figs 3–4, S Fig 2 and F Thm 1."""
    old = getattr(_STATE, "cache_dir", _UNSET)
    _STATE.cache_dir = None if path is None else str(Path(path))
    try:
        yield
    finally:
        _STATE.cache_dir = old


def parse_executor_spec(spec: str):
    """``(kind, argument)`` of an executor spec: ``("none", None)``, ``("processes", N)`` or
    ``("dask", address)``; ``ValueError`` naming the spec otherwise (checked before anything starts).

    The executors run the width × seed sweeps of A Lemma 9 (Fig 1), A Figs 2–5, E Figs 3–4, S Fig 2 and F Thm 1."""
    if not isinstance(spec, str):
        raise TypeError(f"executor spec must be a string, got {type(spec).__name__}")
    text = spec.strip()
    if text.lower() in ("", "none", "serial", "in-process"):
        return "none", None
    kind, sep, arg = text.partition(":")
    kind = kind.lower()
    if kind == "processes" and sep:
        try:
            n = int(arg)
        except ValueError:
            n = 0
        if n < 1 or str(n) != arg.strip():
            raise ValueError(f"executor spec {spec!r}: 'processes:N' needs a positive integer N")
        return "processes", n
    if kind == "dask" and sep and "://" in arg:
        return "dask", arg.strip()
    raise ValueError(f"executor spec {spec!r} is not understood; use 'processes:N', 'dask:tcp://host:port' or 'none'")


def make_executor(spec: str):
    """A new executor for ``spec`` (see :func:`parse_executor_spec`), ``None`` for in-process.

    The executors run the width × seed sweeps of A Lemma 9 (Fig 1), A Figs 2–5, E Figs 3–4, S Fig 2 and F Thm 1.

    ``processes:N`` gives ``ProcessPoolExecutor(N)`` with the ``spawn`` start method (a forked JAX
    process can deadlock); ``dask:ADDRESS`` connects ``distributed.Client(ADDRESS)`` and returns its
    ``get_executor()`` (the client is closed with :func:`close_executor`).
    """
    kind, arg = parse_executor_spec(spec)
    if kind == "none":
        return None
    if kind == "processes":
        return cf.ProcessPoolExecutor(max_workers=arg, mp_context=multiprocessing.get_context("spawn"))
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - the extra is part of the test set-up
        raise ImportError("a Dask executor needs the 'distributed' extra: pip install 'dynamics[distributed]'") from exc
    client = Client(arg)
    executor = client.get_executor()
    executor._dynamics_client = client  # closed with the executor
    return executor


def close_executor(executor):
    """Shut down an executor made by :func:`make_executor` (and its Dask client).

    The executors run the width × seed sweeps of A Lemma 9 (Fig 1), A Figs 2–5, E Figs 3–4, S Fig 2 and F Thm 1."""
    if executor is None:
        return
    executor.shutdown(wait=True)
    client = getattr(executor, "_dynamics_client", None)
    if client is not None:
        client.close()


def current_executor():
    """The executor grid points run on now: the innermost :func:`use_executor` block's, else the one
    made (once per process) for ``DYNAMICS_EXECUTOR``, else ``None`` (in this process).

    The executor of the width × seed sweeps of A Lemma 9 (Fig 1), A Figs 2–5, E Figs 3–4, S Fig 2 and F Thm 1."""
    value = getattr(_STATE, "executor", _UNSET)
    if value is not _UNSET:
        return value
    spec = os.environ.get("DYNAMICS_EXECUTOR", "")
    if parse_executor_spec(spec)[0] == "none":
        return None
    if spec not in _FROM_ENV:
        _FROM_ENV[spec] = make_executor(spec)
        atexit.register(close_executor, _FROM_ENV[spec])
    return _FROM_ENV[spec]


@contextlib.contextmanager
def use_executor(executor):
    """Run the grid points of the ``with`` block on ``executor``.

    The executors run the width × seed sweeps of A Lemma 9 (Fig 1), A Figs 2–5, E Figs 3–4, S Fig 2 and F Thm 1.

    ``executor``: a :class:`concurrent.futures.Executor` (used, not shut down), ``None`` (in this
    process, whatever ``DYNAMICS_EXECUTOR`` says), or a spec string (``"processes:2"``,
    ``"dask:tcp://host:8786"``: made on entry, shut down on exit).  Yields the executor.
    """
    owned = isinstance(executor, str)
    if owned:
        executor = make_executor(executor)
    elif executor is not None and not isinstance(executor, cf.Executor):
        raise TypeError("executor must be None, a concurrent.futures.Executor or a spec string "
                        f"('processes:N', 'dask:tcp://host:port'), got {type(executor).__name__}")
    old = getattr(_STATE, "executor", _UNSET)
    _STATE.executor = executor
    try:
        yield executor
    finally:
        _STATE.executor = old
        if owned:
            close_executor(executor)


class _OnWorker:
    """``fn`` as run on a worker: under the driver's float64 setting, nested grids in the worker.

    Picklable whenever ``fn`` is (a module-level function)."""

    def __init__(self, fn, x64: bool):
        self.fn, self.x64 = fn, bool(x64)

    def __repr__(self):
        return f"{getattr(self.fn, '__qualname__', self.fn)!r} (float64 {'on' if self.x64 else 'off'})"

    def __call__(self, **point):
        import jax

        with jax.enable_x64(self.x64), use_executor(None):
            return self.fn(**point)


def clear_memory(name=None) -> int:
    """Forget the in-memory results of the run ``name`` (a run function or its name; ``None``: all
    runs), so the next :func:`run_grid` computes (or reads from disk) them again.  Returns how many
    points were forgotten.

    The in-memory results are the points of the width × seed sweeps of A Lemma 9 (Fig 1), A Figs 2–5, E Figs
    3–4, S Fig 2 and F Thm 1."""
    if name is not None and not isinstance(name, str):
        if not callable(name):
            raise TypeError(f"name must be a run name, a run function or None, got {type(name).__name__}")
        name = f"{name.__module__}.{name.__qualname__}"
    gone = [k for k in _MEMORY if name is None or k[0] == name]
    for k in gone:
        del _MEMORY[k]
    return len(gone)


def run_grid(fn, points, *, name=None, progress=False, desc=None):
    """``[fn(**point) for point in points]`` as a list of result dicts, each point computed once.

    It runs the width × seed sweeps of A Lemma 9 (Fig 1), A Figs 2–5, E Figs 3–4, S Fig 2 and F Thm 1.

    The points missing from memory are computed with :func:`dynamics.sweep.run_sweep` on
    :func:`current_executor` (stored under :func:`current_cache_dir` ``/ name`` when one is set), or
    one after the other in this process when neither is set.  Results are the same whether
    computed here or on a worker, taken from memory or read back from disk (arrays of the stored
    dtype; a stored number comes back as a Python number).

    Parameters
    ----------
    fn : module-level function ``fn(**point) -> {name: number or array}``.
    points : list of dicts (e.g. :func:`dynamics.sweep.grid` of widths and seeds).
    name : the run's name, the sub-folder of the cache directory (default: ``fn``'s qualified name).
    progress, desc : tqdm progress bar over the points.
    """
    name = name or f"{fn.__module__}.{fn.__qualname__}"
    points = list(points)
    for p in points:
        sweep.point_key(p)  # JSON-serialisable settings, checked before any work
    todo = [p for p in points if (name, sweep.point_key(p)) not in _MEMORY]
    if todo:
        root = current_cache_dir()
        executor = current_executor()
        if root is None and executor is None:
            iterator = todo
            if progress:
                from tqdm.auto import tqdm

                iterator = tqdm(todo, desc=desc or name, leave=False)
            for p in iterator:
                key = (name, sweep.point_key(p))
                if key not in _MEMORY:
                    _MEMORY[key] = sweep.validate_result(fn(**p), p)
        else:
            run = fn
            if executor is not None:
                import jax

                run = _OnWorker(fn, jax.config.jax_enable_x64)
            with (tempfile.TemporaryDirectory(prefix="dynamics-grid-") if root is None
                  else contextlib.nullcontext(root)) as where:
                for p, res in sweep.run_sweep(run, todo, Path(where) / name, executor=executor,
                                              progress=progress, desc=desc or name):
                    _MEMORY[name, sweep.point_key(p)] = res
    return [_MEMORY[name, sweep.point_key(p)] for p in points]
