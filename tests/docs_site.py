"""The documentation site, built once per test run and shared by tests/test_docs.py and tests/test_notebooks.py.

The strict ``mkdocs build`` is where the notebooks are executed (mkdocs-jupyter, ``allow_errors: false``,
fast mode): the tests read the executed notebooks from the built pages instead of running them a second
time.  The build is cached in this module (one per process), so both test files see the same build.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.ipynb"))


@dataclasses.dataclass
class Build:
    site: pathlib.Path
    returncode: int
    log: str
    seconds: float
    paper_figures_before: dict
    paper_figures_after: dict

    def page(self, rel: str) -> pathlib.Path:
        """The built HTML file of a docs page given as its source path (``api/kernel.md``, ``notebooks/x.ipynb``)."""
        stem = rel.rsplit(".", 1)[0]
        if rel.startswith("notebooks/"):
            stem = "notebooks/" + pathlib.Path(stem).name
        if stem == "index" or stem.endswith("/index"):
            return self.site / f"{stem}.html"
        return self.site / f"{stem}/index.html"


_BUILDS: list[Build] = []


def _snapshot(folder: pathlib.Path) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*")} if folder.exists() else {}


def build_site() -> Build:
    """Build the site once (strict, fast mode) into a temporary folder and return the result."""
    if _BUILDS:
        return _BUILDS[0]
    prebuilt = os.environ.get("DYNAMICS_DOCS_PREBUILT")
    if prebuilt:  # development only: a site built by `make docs`, its log beside it as <site>.log
        site = pathlib.Path(prebuilt)
        log = pathlib.Path(f"{prebuilt}.log").read_text(encoding="utf-8")
        snap = _snapshot(ROOT / "paper_figures")
        _BUILDS.append(Build(site, 0 if "Documentation built" in log else 1, log, float("nan"), snap, snap))
        return _BUILDS[0]
    out = pathlib.Path(tempfile.mkdtemp(prefix="dynamics-docs-"))
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_ENABLE_X64", "DYNAMICS_DOCS_EXECUTE")}
    env.update(DYNAMICS_FAST="1", MPLBACKEND="Agg")
    before = _snapshot(ROOT / "paper_figures")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    build = Build(out / "site", proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - start, before,
                  _snapshot(ROOT / "paper_figures"))
    _BUILDS.append(build)
    return build


def builds_run() -> int:
    """How many times this process built the site (the notebooks must be executed once per test run)."""
    return len(_BUILDS)


@atexit.register
def _cleanup():
    """Remove the temporary build folders of this process (a prebuilt site is left alone)."""
    for b in _BUILDS:
        if b.site.parent.name.startswith("dynamics-docs-"):
            shutil.rmtree(b.site.parent, ignore_errors=True)
