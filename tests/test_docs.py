"""The documentation site: a strict build (once per run, fast mode, shared with test_notebooks.py),
opened in a real headless browser (Debian's chromium), and checked against the package itself.

* The build succeeds in strict mode and has a page for every module of the API layers, every paper,
  notebook and tutorial.
* Every public name of every documented module appears in the API reference (the site's
  ``objects.inv`` compared with the modules' ``__all__`` or public definitions), and every public
  function and class cites an equation or a paper in its docstring.
* No docstring, notebook or page refers to a file outside the repository.
* The theory pages list exactly the registered checks of their paper; the Performance page carries
  the README's table (one source).
* In chromium: the home page, an API page whose maths MathJax has rendered (no raw TeX left) and a
  notebook page with a decoded figure; the screenshots are checked for content.
"""

from __future__ import annotations

import functools
import html
import http.server
import importlib
import importlib.util
import inspect
import io
import json
import pathlib
import re
import shutil
import subprocess
import threading
import types
import warnings
import zlib

import numpy as np
import pytest
from docs_site import NOTEBOOKS, ROOT, TUTORIALS, build_site

#: MathJax 3 comes from the django-static-mathjax wheel (static files only), copied into the site.
MATHJAX_INSTALLED = importlib.util.find_spec("mathjax") is not None
MATHJAX_MISSING = "install django-static-mathjax (MathJax served by the docs site) to check the rendered maths"
BROWSER_MISSING = "install Debian's chromium (apt-get install chromium) to run the browser test of the docs"


@functools.lru_cache(maxsize=None)
def hooks():
    spec = importlib.util.spec_from_file_location("dynamics_docs_hooks", ROOT / "docs" / "_hooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def site():
    b = build_site()
    assert b.returncode == 0, "mkdocs build --strict failed:\n" + b.log[-6000:]
    return b


# ------------------------------------------------------------------------------------ the build


def test_build_has_every_page(site):
    h = hooks()
    expected = ["index.md", "getting-started.md", "performance.md", "scaling-out.md", "references.md",
                "theory/index.md", "api/index.md", "notebooks.md", "tutorials/index.md"]
    expected += [f"theory/{slug}.md" for slug in h.PAPERS.values()]
    expected += [h.api_page(mod) for _, mod, _ in h.api_modules()]
    expected += [f"notebooks/{p.name}" for p in NOTEBOOKS] + [f"tutorials/{p.name}" for p in TUTORIALS]
    missing = [rel for rel in expected if not site.page(rel).is_file()]
    assert not missing, missing
    assert len(NOTEBOOKS) >= 5 and len(TUTORIALS) == 3
    if MATHJAX_INSTALLED:
        assert (site.site / "assets" / "mathjax" / "tex-svg.js").is_file(), "MathJax is served from the site"


def _package_modules():
    """Every public module of the package (no component starting with an underscore), from the files."""
    mods = []
    for path in sorted((ROOT / "dynamics").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") for p in parts):
            continue
        mods.append(".".join(parts))
    return mods


def test_every_public_module_has_an_api_page():
    documented = {mod for _, mod, _ in hooks().api_modules()}
    missing = [m for m in _package_modules() if m not in documented and m != "dynamics"]
    assert not missing, f"modules without an API page (add them to API_LAYERS in docs/_hooks.py): {missing}"


def _inventory(site_dir: pathlib.Path) -> set[str]:
    raw = (site_dir / "objects.inv").read_bytes()
    header_end = 0
    for _ in range(4):  # four header lines, then the zlib-compressed body
        header_end = raw.index(b"\n", header_end) + 1
    body = zlib.decompress(raw[header_end:]).decode("utf-8")
    return {line.split(" ", 1)[0] for line in body.splitlines() if line.strip()}


def _public_names(module: types.ModuleType) -> list[str]:
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [n for n, obj in vars(module).items() if not n.startswith("_")
            and (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module.__name__]


def _documented_objects():
    for _, mod_name, _ in hooks().api_modules():
        module = importlib.import_module(mod_name)
        for name in _public_names(module):
            yield mod_name, name, getattr(module, name)


def test_api_reference_lists_every_public_name(site):
    inv = _inventory(site.site)
    # functions and classes (re-exported constants of another module are not rendered by mkdocstrings)
    missing = [f"{mod}.{name}" for mod, name, obj in _documented_objects()
               if _needs_reference(obj) and f"{mod}.{name}" not in inv]
    assert not missing, f"public names missing from the API reference: {missing}"
    for _, mod, _ in hooks().api_modules():  # each page documents its own module's objects
        page = site.page(hooks().api_page(mod)).read_text(encoding="utf-8")
        assert f'id="{mod}.' in page, mod


#: An equation or paper reference: S10, S1–S6, S App. G, S §5, E Thm 2, A Prop 10, F Thm 1, Lemma 9,
#: arXiv ids, or a cited author.
EQUATION_REF = re.compile(
    r"\b[SEAF]\d+"
    r"|\b[SEAF] (?:App\.|Appendix|§|Thm|Theorem|Prop|Lemma|Def|Fig|Table|Tab|Result|Remark|Rem|Cor|Example|Conj|Eq)"
    r"|\b(?:Lemma|Prop|Proposition|Theorem|Thm|Result|Def|Definition|Remark|Example|Corollary|Conjecture|Fig|Figs|"
    r"Table|Tables|App\.|Appendix)\s*[A-Z]?\.?\s?\d"
    r"|§\s?\d|arXiv:\d{4}\.\d{4,5}"
    r"|\b(?:Simon|Esser|Anil|Fleissner|Zbontar|Bardes|Chen|Jacot|Oja|Absil|Edelman|Lanczos|Dormand|Hairer)\b")

#: Public functions and classes whose docstrings cite no equation or paper yet, in modules edited
#: separately (listed for their maintainers; an entry that gains a reference must be removed here).
KNOWN_MISSING_REFERENCES: set[str] = set()


def _needs_reference(obj) -> bool:
    return (inspect.isfunction(obj) or inspect.isclass(obj) or callable(obj)) and not isinstance(obj, types.ModuleType)


def test_public_docstrings_cite_an_equation_or_paper():
    missing, fixed = [], []
    for mod, name, obj in _documented_objects():
        if not _needs_reference(obj):
            continue
        doc = inspect.getdoc(obj) or ""
        key = f"{mod}.{name}"
        if EQUATION_REF.search(doc):
            if key in KNOWN_MISSING_REFERENCES:
                fixed.append(key)
        elif key not in KNOWN_MISSING_REFERENCES:
            missing.append(key)
    assert not missing, f"{len(missing)} public docstrings cite no equation or paper: {missing}"
    if fixed:  # not an error: the list shrinks as the modules' docstrings gain their references
        warnings.warn(f"these now cite a reference, remove them from KNOWN_MISSING_REFERENCES: {fixed}")


def test_equation_reference_pattern():
    for text in ["S10", "(S1–S6)", "S App. G", "E Thm 2", "A Prop 10", "F Thm 1", "Lemma 9", "S §5",
                 "Barlow Twins arXiv:2103.03230", "Simon et al. (2023)"]:
        assert EQUATION_REF.search(text), text
    for text in ["Return the sum of two arrays.", "A helper for the trainer.", "Shape (n, d)."]:
        assert not EQUATION_REF.search(text), text


def test_only_the_known_docstring_issues_are_demoted(site):
    """docs/_hooks.py demotes griffe's warnings to INFO only for the files in KNOWN_DOCSTRING_ISSUES
    (docstrings maintained separately); a warning from any other file fails the strict build."""
    known = set(hooks().KNOWN_DOCSTRING_ISSUES)
    demoted = set(re.findall(r"INFO\s+-\s+griffe: (\S+?\.py):\d+:", site.log))
    assert demoted <= known, f"griffe warnings demoted outside KNOWN_DOCSTRING_ISSUES: {demoted - known}"
    fixed = known - demoted
    if fixed:  # a warning, not an error: the list shrinks as those docstrings are fixed
        warnings.warn(f"these render cleanly now, remove them from KNOWN_DOCSTRING_ISSUES in docs/_hooks.py: {fixed}")


OUTSIDE = re.compile(r"\.\./shared|\bshared/|theory\.md|\bseeds/|/work/|DESIGN\.md")


def _outside_refs(text: str) -> list[str]:
    return sorted({m.group(0) for m in OUTSIDE.finditer(text)})


def test_no_reference_to_files_outside_the_repository(site):
    offenders = {}
    for mod_name in _package_modules() + ["dynamics._integrate"]:
        module = importlib.import_module(mod_name)
        for name, obj in [("(module)", module), *vars(module).items()]:
            doc = getattr(obj, "__doc__", None) if (obj is module or inspect.isfunction(obj)
                                                     or inspect.isclass(obj)) else None
            if isinstance(doc, str) and _outside_refs(doc):
                offenders[f"{mod_name}.{name}"] = _outside_refs(doc)
    sources = [*NOTEBOOKS, *sorted((ROOT / "docs").rglob("*.md")), *TUTORIALS, ROOT / "mkdocs.yml"]
    for path in sources:
        refs = _outside_refs(path.read_text(encoding="utf-8"))
        if refs:
            offenders[str(path.relative_to(ROOT))] = refs
    for page in site.site.rglob("*.html"):
        text = re.sub(r"<script.*?</script>", "", page.read_text(encoding="utf-8"), flags=re.S)
        refs = [r for r in _outside_refs(html.unescape(text)) if r != "/work/"]
        if refs:
            offenders[str(page.relative_to(site.site))] = refs
    assert not offenders, offenders
    assert _outside_refs("see ../shared/theory.md") and not _outside_refs("see notebooks/01.ipynb")


def test_no_page_loads_scripts_from_another_server(site):
    external = {}
    for page in site.site.rglob("*.html"):
        srcs = re.findall(r"<script[^>]*\bsrc=\"(https?://[^\"]+)\"", page.read_text(encoding="utf-8"))
        srcs += re.findall(r"import\s+\w+\s+from\s+['\"](https?://[^'\"]+)", page.read_text(encoding="utf-8"))
        if srcs:
            external[str(page.relative_to(site.site))] = srcs
    assert not external, external


def _visible_text(path: pathlib.Path) -> str:
    text = re.sub(r"<(script|style).*?</\1>", " ", path.read_text(encoding="utf-8"), flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", text))


def test_theory_pages_list_the_registered_checks(site):
    from dynamics import theorems

    checks = theorems.list_checks()
    for paper, slug in hooks().PAPERS.items():
        page = site.page(f"theory/{slug}.md").read_text(encoding="utf-8")
        listed = set(re.findall(r"<code>([a-z0-9_]+)</code>", page))
        own = {c.name for c in checks if c.paper == paper}
        others = {c.name for c in checks if c.paper != paper}
        assert own and own <= listed, (paper, own - listed)
        # the table rows hold only this paper's checks (other names may appear in prose, not as rows)
        rows = re.findall(r"<tr>\s*<td><code>([a-z0-9_]+)</code></td>\s*<td>([SEAF])</td>", page)
        assert rows and {name for name, _ in rows} == own and all(p == paper for _, p in rows), paper
        assert not ({name for name, _ in rows} & others)


def test_performance_page_carries_the_readme_table(site):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Performance", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) >= 5
    page = _visible_text(site.page("performance.md"))
    for row in rows:
        first_cell = re.sub(r"`", "", row.split("|")[1]).strip()
        words = first_cell.split()[:4]
        assert "".join(words) in "".join(page.split()), first_cell


# ----------------------------------------------------------------------------------- the browser


def _browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    path = _browser()
    if path is None:
        pytest.skip(BROWSER_MISSING)
    return path


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site.site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _chromium(browser, url, tmp_path, *, screenshot=None, size=(1280, 2000)):
    """Run headless chromium on ``url``: the DOM after scripts ran (virtual time), or a screenshot."""
    for attempt in range(2):  # a headless chromium that hangs at start-up is started once more, fresh profile
        args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                "--disable-extensions", f"--user-data-dir={tmp_path / f'profile{attempt}'}",
                f"--window-size={size[0]},{size[1]}", "--virtual-time-budget=20000", "--enable-logging=stderr", "--v=0"]
        args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
        try:
            proc = subprocess.run(args + [url], capture_output=True, text=True, timeout=180)
            break
        except subprocess.TimeoutExpired:
            if attempt:
                raise
    assert proc.returncode == 0, proc.stderr[-3000:]
    js_errors = [line for line in proc.stderr.splitlines() if "Uncaught" in line]
    assert not js_errors, js_errors
    return proc.stdout


def _image(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def _non_background(img) -> float:
    """Fraction of pixels that differ from the most common colour (the page background)."""
    flat = img.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    background = colours[np.argmax(counts)]
    return float(np.mean(np.abs(flat - background).sum(axis=1) > 30))


def _near(img, rgb, tol=12) -> int:
    return int(np.sum(np.all(np.abs(img - np.array(rgb)) <= tol, axis=-1)))


MPL_BLUE = (31, 119, 180)  # matplotlib's first colour, C0: present where a figure is drawn


def test_home_page_in_browser(site, server, browser, tmp_path):
    dom = _chromium(browser, f"{server}/", tmp_path)
    assert "Learning dynamics of self-supervised learning" in dom
    assert "<mjx-container" in dom or not MATHJAX_INSTALLED, "the maths of the home page was not rendered"
    shot = tmp_path / "home.png"
    _chromium(browser, f"{server}/", tmp_path, screenshot=shot, size=(1280, 1000))
    img = _image(shot)
    assert img.shape[:2] == (1000, 1280)
    assert 0.02 < _non_background(img) < 0.6, "the home page looks blank (or is a solid block)"
    assert _near(img, MPL_BLUE) < 50, "no figure on the home page"


def test_api_page_maths_rendered_in_browser(site, server, browser, tmp_path):
    if not MATHJAX_INSTALLED:
        pytest.skip(MATHJAX_MISSING)
    page = site.page("api/kernel.md").read_text(encoding="utf-8")
    n_maths = page.count('class="arithmatex"')
    assert n_maths >= 1, "the kernel API page should contain LaTeX (z_matrix, S23)"
    dom = _chromium(browser, f"{server}/api/kernel/", tmp_path)
    assert "dynamics.kernel.KernelBarlowTwins" in dom or "KernelBarlowTwins" in dom
    rendered = dom.count("<mjx-container")
    assert rendered >= n_maths, f"{rendered} of {n_maths} maths elements rendered by MathJax"
    assert "<mjx-merror" not in dom, "MathJax reported a TeX error"
    # SVG output: each formula is drawn as glyph paths (no web font has to arrive before the paint)
    containers = re.findall(r"<mjx-container.*?</mjx-container>", dom, flags=re.S)
    drawn = [c for c in containers if "<svg" in c and ("<path" in c or "<use" in c)]
    assert len(drawn) == len(containers) >= n_maths, f"{len(drawn)} of {len(containers)} formulas drawn"
    # no raw TeX is left in the rendered maths: every arithmatex element now holds a MathJax container
    raw = re.findall(r'class="arithmatex">\s*(\\\[|\\\(|\$\$)', dom)
    assert not raw, raw[:3]
    shot = tmp_path / "api.png"
    _chromium(browser, f"{server}/api/kernel/", tmp_path, screenshot=shot, size=(1280, 1400))
    img = _image(shot)
    assert 0.02 < _non_background(img) < 0.6


def _largest_png(dom: str):
    from PIL import Image
    import base64

    best = None
    for data in re.findall(r'<img[^>]+src="data:image/png;base64,([^"]+)"', dom):
        img = Image.open(io.BytesIO(base64.b64decode(data)))
        if best is None or img.size[0] * img.size[1] > best.size[0] * best.size[1]:
            best = img
    return best


def test_notebook_page_figure_in_browser(site, server, browser, tmp_path):
    nb = NOTEBOOKS[0]
    url = f"{server}/notebooks/{nb.stem}/"
    dom = _chromium(browser, url, tmp_path)
    if MATHJAX_INSTALLED:  # the notebook's markdown maths ($...$) is typeset by the site's MathJax too
        assert "<mjx-container" in dom and "<mjx-merror" not in dom
    img = _largest_png(dom)
    assert img is not None, "no figure on the notebook page"
    pixels = np.asarray(img.convert("RGB")).astype(int)
    assert min(img.size) >= 150, img.size
    assert 0.01 < _non_background(pixels) < 0.9, "the figure is blank"
    assert _near(pixels, MPL_BLUE) > 20, "the figure has no plotted (coloured) lines"
    # the screenshot of the page shows the figure: matplotlib's blue on screen
    shot = tmp_path / "notebook.png"
    _chromium(browser, url, tmp_path, screenshot=shot, size=(1280, 6000))
    page = _image(shot)
    assert 0.02 < _non_background(page) < 0.8
    assert _near(page, MPL_BLUE) > 50, "the figure is not visible in the screenshot of the notebook page"


def test_build_fits_the_ci_budget(site):
    """The docs build (which is where the notebooks run) must stay a small part of the CI run."""
    if site.seconds != site.seconds:
        pytest.skip("a prebuilt site (DYNAMICS_DOCS_PREBUILT): no build time measured")
    print(f"\nmkdocs build --strict, notebooks executed: {site.seconds:.0f} s")
    assert site.seconds < 1500
