"""The notebooks of notebooks/ and the tutorials of docs/tutorials/, as executed by the docs build.

The strict docs build (tests/docs_site.py, shared with tests/test_docs.py) is the one place where
the notebooks run (fast mode, DYNAMICS_FAST=1; mkdocs-jupyter with ``allow_errors: false``, so a cell
that raises fails the build).  Here: the sources are stored without outputs, every notebook has an
executed page without error outputs, the figures a notebook draws are on its page (decoded, not
blank), fast mode wrote nothing into paper_figures/, and the notebooks were executed once.
"""

from __future__ import annotations

import base64
import io
import re

import nbformat
import numpy as np
import pytest
from docs_site import NOTEBOOKS, ROOT, TUTORIALS, build_site, builds_run

ALL = NOTEBOOKS + TUTORIALS
IDS = [str(p.relative_to(ROOT)) for p in ALL]


@pytest.fixture(scope="module")
def site():
    b = build_site()
    assert b.returncode == 0, "mkdocs build --strict failed (a notebook raised?):\n" + b.log[-6000:]
    return b


def _page(site, path):
    rel = f"notebooks/{path.name}" if path in NOTEBOOKS else f"tutorials/{path.name}"
    return site.page(rel)


def test_notebooks_exist():
    assert len(NOTEBOOKS) >= 5, "no notebooks found in notebooks/"
    assert len(TUTORIALS) == 3


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code_cells), \
        "store notebooks without outputs: the docs build executes them"


def _images(html: str):
    from PIL import Image

    return [Image.open(io.BytesIO(base64.b64decode(d)))
            for d in re.findall(r'<img[^>]+src="data:image/png;base64,([^"]+)"', html)]


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_executed_page(site, path):
    html = _page(site, path).read_text(encoding="utf-8")
    nb = nbformat.read(path, as_version=4)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    prompts = set(int(n) for n in re.findall(r"In(?:&nbsp;|\s)\[(\d+)\]:", html))
    assert prompts == set(range(1, n_code + 1)), f"not every code cell was executed: {sorted(prompts)} of {n_code}"
    assert "Traceback (most recent call last)" not in html, "a cell raised"
    source = "".join(c.source for c in nb.cells if c.cell_type == "code")
    if "figures." in source or "plt." in source:  # figures are displayed as images on the page
        images = _images(html)
        assert images, "the notebook draws figures but its page shows none"
        for img in images:
            px = np.asarray(img.convert("L"), dtype=float)
            assert min(img.size) >= 50 and px.std() > 5, f"a blank figure ({img.size})"


def test_fast_mode_left_paper_figures_alone(site):
    assert site.paper_figures_after == site.paper_figures_before, "fast mode must not write into paper_figures/"


def test_notebooks_executed_once(site):
    assert builds_run() == 1
    assert site.log.count("Converting notebook (execute=True)") == len(ALL)
