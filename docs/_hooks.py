"""mkdocs hooks of the documentation site: everything the site shows that is generated, not written.

* ``on_config``: fast mode for the notebooks (``DYNAMICS_FAST=1`` unless set), and the navigation,
  built from the API layers below and the notebooks found in ``notebooks/``.
* ``on_files``: the API reference pages (one per module, from the docstrings through mkdocstrings),
  the notebooks of ``notebooks/`` (the single source: executed and rendered by mkdocs-jupyter), and
  MathJax, copied from the MathJax distribution shipped by the ``django-static-mathjax`` wheel, so the
  site renders maths without contacting any server.
* ``on_page_markdown``: placeholders replaced by generated text: ``<!-- readme:SECTION -->`` (a
  section of README.md, so the README stays the one source of its tables), ``<!-- checks:PAPER -->``
  (the declared checks of one paper, from ``dynamics.theorems.checks_table()`` and the check
  functions' docstrings) and ``<!-- readme-notes:PAPER -->`` (the README's notes on that paper).
* ``on_page_content``: Sphinx roles that mkdocstrings shows literally (``:func:`x```) become code.
* ``on_post_page``: scripts that notebook pages would load from a CDN (the nbconvert MathJax 2 and
  mermaid loaders) are removed; the site's own MathJax typesets notebook maths too.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import pathlib
import posixpath
import re

from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.dynamics")

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: The API reference, grouped by layer: (section, [(module, members or None), ...]).
#: ``members=None`` documents the module's public names (its ``__all__``).
API_LAYERS = [
    ("Core", [
        ("dynamics.losses", None), ("dynamics.networks", None), ("dynamics.stiefel", None),
        ("dynamics.linalg", None), ("dynamics.flows", None), ("dynamics.ntk", None),
        ("dynamics.trainer", None), ("dynamics.data", None), ("dynamics.augment", None),
        ("dynamics.ssl", None), ("dynamics.sweep", None), ("dynamics.parallel", None),
        ("dynamics._integrate", None),
    ]),
    ("Papers", [
        ("dynamics.barlow", None), ("dynamics.barlow.symbolic", None), ("dynamics.barlow.speedup", None),
        ("dynamics.kernel", None),
        ("dynamics.grassmann", None), ("dynamics.grassmann.symbolic", None),
        ("dynamics.contrastive", None), ("dynamics.contrastive.symbolic", None),
    ]),
    ("Experiments", [("dynamics.experiments", None)]),   # + every public module of the package, found below
    ("Theorems", [("dynamics.theorems", None)]),         # + every check module (*_checks.py)
    ("Figures", [("dynamics.figures", None)]),
    ("Command line", [("dynamics.cli", None)]),
]


def _discover(package: str):
    """The public modules of a sub-package (files not starting with an underscore), sorted."""
    folder = ROOT / pathlib.Path(*package.split("."))
    return [(f"{package}.{p.stem}", None) for p in sorted(folder.glob("*.py")) if not p.stem.startswith("_")]


for _section, _mods in API_LAYERS:
    if _section == "Experiments":
        _mods += _discover("dynamics.experiments")
    elif _section == "Theorems":
        _mods += _discover("dynamics.theorems")

PAPERS = {"S": "simon", "E": "esser", "A": "anil", "F": "fleissner"}


def module_exists(name: str) -> bool:
    """Whether ``name`` is a module of this checkout (optional modules appear when they are written)."""
    rel = pathlib.Path(*name.split("."))
    return (ROOT / rel).with_suffix(".py").exists() or (ROOT / rel / "__init__.py").exists()


def api_modules():
    """[(section, module, members)] of the modules present in this checkout, in reference order."""
    return [(section, mod, members) for section, mods in API_LAYERS for mod, members in mods if module_exists(mod)]


def api_page(module: str) -> str:
    """The docs path of a module's API page."""
    return f"api/{module.replace('dynamics.', '', 1).replace('_integrate', 'integrate')}.md"


def notebooks():
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


def notebook_title(path: pathlib.Path) -> str:
    import json

    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


# ------------------------------------------------------------------------- known docstring issues

#: Docstrings whose numpy sections griffe cannot parse, in modules maintained separately: their
#: warnings are reported at INFO level instead of failing the strict build.  Every other module's
#: docstring warnings fail it.  tests/test_docs.py checks that each entry still has an issue (a fixed
#: docstring must be removed from here).
KNOWN_DOCSTRING_ISSUES: dict[str, str] = {}

#: The griffe messages demoted by :data:`KNOWN_DOCSTRING_ISSUES`, with their file (the test reads them).
DEMOTED: list[str] = []


class _KnownIssues(logging.Filter):
    def filter(self, record):
        msg = record.getMessage()
        if record.levelno == logging.WARNING and any(msg.startswith(f"griffe: {f}:") or f"from {ROOT / f}:" in msg
                                                     for f in KNOWN_DOCSTRING_ISSUES):
            DEMOTED.append(msg)
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _install_filter():
    for name in ("mkdocs.plugins.griffe", "griffe", "mkdocs.plugins.mkdocstrings", "mkdocs.plugins.mkdocs_autorefs"):
        lg = logging.getLogger(name)
        if not any(isinstance(f, _KnownIssues) for f in lg.filters):
            lg.addFilter(_KnownIssues())


# ---------------------------------------------------------------------------------------- config


def on_config(config):
    _install_filter()
    os.environ.setdefault("DYNAMICS_FAST", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    api_nav = []
    for section, mods in API_LAYERS:
        entries = [{mod: api_page(mod)} for mod, _ in mods if module_exists(mod)]
        if entries:
            api_nav.append({section: entries})
    config["nav"] = [
        {"Home": "index.md"},
        {"Getting started": "getting-started.md"},
        {"Tutorials": ["tutorials/index.md", "tutorials/own-pairs.ipynb", "tutorials/own-network.ipynb",
                       "tutorials/make-a-figure.ipynb"]},
        {"The theory": ["theory/index.md"] + [f"theory/{slug}.md" for slug in PAPERS.values()]},
        {"Notebooks": ["notebooks.md"] + [f"notebooks/{p.name}" for p in notebooks()]},
        {"API reference": ["api/index.md"] + api_nav},
        {"Performance": "performance.md"},
        {"Scaling out": "scaling-out.md"},
        {"References": "references.md"},
    ]
    return config


# ----------------------------------------------------------------------------------------- files


def _api_markdown(module: str, members) -> str:
    lines = [f"# `{module}`", ""]
    if module == "dynamics._integrate":
        lines += ["The one ODE solver configuration shared by every integrated flow of the package. The module "
                  "is private (imported by the flows), its public objects (`__all__`) are documented here.", ""]
    lines += [f"::: {module}", "    options:", "      show_root_heading: false", "      show_root_toc_entry: false"]
    if members is not None:
        lines.append(f"      members: {members!r}")
    return "\n".join(lines) + "\n"


def on_files(files, config):
    site_dir = config["site_dir"]
    udu = config["use_directory_urls"]
    for _, module, members in api_modules():
        files.append(File.generated(config, api_page(module), content=_api_markdown(module, members)))
    for nb in notebooks():
        files.append(File(f"notebooks/{nb.name}", str(ROOT), site_dir, udu))
    try:
        import mathjax  # the django-static-mathjax wheel: MathJax 3 as static files, no Django needed
    except ImportError:
        log.info("django-static-mathjax is not installed: the site is built without MathJax (maths stays TeX)")
        return files
    es5 = pathlib.Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    # SVG output: glyphs are drawn as paths, so no web font has to load (CHTML's fonts are fetched lazily
    # and a page can be painted before they arrive)
    wanted = [es5 / "tex-svg.js"] + sorted((es5 / "input" / "tex" / "extensions").rglob("*.js"))
    for path in wanted:
        rel = path.relative_to(es5).as_posix()
        f = File(rel, str(es5), site_dir, udu, dest_uri=f"assets/mathjax/{rel}")
        files.append(f)
    files.append(File("LICENSE", str(es5.parent), site_dir, udu, dest_uri="assets/mathjax/LICENSE"))
    return files


# decorate after definition so mkdocs-jupyter (priority 0) sees the notebooks this adds
try:
    from mkdocs.plugins import event_priority

    on_files = event_priority(50)(on_files)
except ImportError:  # pragma: no cover - mkdocs < 1.4
    pass


# -------------------------------------------------------------------------------------- markdown


def readme_section(title: str) -> str | None:
    """The body of the README section ``## title`` (up to the next ``## `` heading), or None."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(title)}[^\n]*\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if not m:
        return None
    body = m.group(1).strip("\n")
    return body


def _readme_notes():
    """The README's 'Notes on what the checks show' bullets, keyed by paper."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"^Notes on what the checks show:\n(.*?)(?=\n\n|\Z)", text, flags=re.M | re.S)
    notes = {p: [] for p in PAPERS}
    if not m:
        return notes
    for bullet in re.split(r"\n(?=- )", m.group(1).strip()):
        head = bullet[:60]
        paper = "F" if "Fleissner" in head else "E" if "Esser" in head else "A" if "Anil" in head else "S"
        notes[paper].append(bullet)
    return notes


def _checks_markdown(paper: str) -> str:
    from dynamics import theorems

    table = theorems.checks_table(markdown=True).strip().splitlines()
    header, rule, rows = table[0], table[1], table[2:]
    mine = [r for r in rows if re.split(r"(?<!\\)\|", r)[2].strip() == paper]
    out = [header, rule, *mine, ""]
    checks = [c for c in theorems.list_checks() if c.paper == paper]
    out.append("What each check can and cannot detect (from the check's docstring):")
    out.append("")
    for c in checks:
        doc = inspect.cleandoc(c.func.__doc__ or "")
        detect = doc[doc.find("Can detect"):] if "Can detect" in doc else ""
        detect = " ".join(detect.split())
        text = detect if detect else " ".join(doc.split())
        out.append(f"- `{c.name}` ({c.reference}): {text}".replace("*", "\\*"))
    return "\n".join(out) + "\n"


def _slug(title: str) -> str:
    """GitHub's anchor of a README heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def _readme_section_pages() -> dict:
    """Anchor of each README section included in a docs page -> that page (relative to docs/)."""
    pages = {}
    for path in sorted((ROOT / "docs").rglob("*.md")):
        for title in re.findall(r"<!-- readme:(.+?) -->", path.read_text(encoding="utf-8")):
            pages.setdefault(_slug(title), path.relative_to(ROOT / "docs").as_posix())
    return pages


def _readme_links(body: str, src_path: str) -> str:
    """README links to its own sections (``](#scaling-out)``) point to the page that includes the section,
    when that is another page (on the including page itself the section's heading is not carried over)."""
    pages = _readme_section_pages()
    here = posixpath.dirname(src_path)

    def repl(m):
        target = pages.get(m.group(1))
        if target is None or target == src_path:
            return m.group(0)
        return f"]({posixpath.relpath(target, here or '.')})"

    return re.sub(r"\]\(#([\w\-]+)\)", repl, body)


def on_page_markdown(markdown, page, config, files):
    def readme(m):
        body = readme_section(m.group(1))
        if body is None:
            log.info("README.md has no section %r (yet)", m.group(1))
            return f"*The README has no section \u201c{m.group(1)}\u201d yet.*"
        return _readme_links(body, page.file.src_path)

    markdown = re.sub(r"<!-- readme:(.+?) -->", readme, markdown)
    markdown = re.sub(r"<!-- checks:([SEAF]) -->", lambda m: _checks_markdown(m.group(1)), markdown)
    if "<!-- readme-notes:" in markdown:
        notes = _readme_notes()
        markdown = re.sub(r"<!-- readme-notes:([SEAF]) -->",
                          lambda m: "\n".join(notes[m.group(1)]) or "*No notes for this paper.*", markdown)
    return markdown


# --------------------------------------------------------------------------------------- content

_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc):(<code>)")
_ROLE_TEXT = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc):`([^`]+)`")


def on_page_content(html, page, config, files):
    html = _ROLE.sub(r"\1", html)
    return _ROLE_TEXT.sub(r"<code>\1</code>", html)


_CDN_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>", re.S)
_CDN_MODULE = re.compile(r"<script type=\"module\">[^<]*https?://[^<]*</script>", re.S)
_MATHJAX2_CONFIG = re.compile(r"<script type=\"text/x-mathjax-config\">.*?</script>", re.S)


def on_post_page(output, page, config):
    output = _CDN_SCRIPT.sub("", output)
    output = _CDN_MODULE.sub("", output)
    return _MATHJAX2_CONFIG.sub("", output)
