"""Execute every notebook in notebooks/ in fast mode (DYNAMICS_FAST=1) and require no cell errors."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _snapshot(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*")} if folder.exists() else {}


def test_notebooks_exist():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("DYNAMICS_FAST", "1")  # the kernel inherits os.environ
    nb = nbformat.read(path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code_cells), \
        "store notebooks without outputs"
    before = _snapshot(ROOT / "paper_figures")
    client = NotebookClient(nb, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    assert _snapshot(ROOT / "paper_figures") == before, "fast mode must not write into paper_figures/"
    if "figures." in "".join(c.source for c in code_cells):  # figures are displayed as images
        assert any("image/png" in o.get("data", {}) for c in code_cells for o in c.outputs)
