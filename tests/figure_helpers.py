"""Shared pieces of the figure tests: run make_all once while keeping the returned figures, read plotted lines."""

from dynamics import figures


def make_and_keep(out, names):
    """``make_all(out, fast=True, names)`` with the figure functions wrapped so their (fig, caption) are kept.

    Returns ``(out, paths, made)`` with ``made[name] = (fig, caption)``.
    """
    made, originals = {}, {n: figures.FIGURES[n] for n in names}

    def wrap(name):
        def f(*, fast=False):
            made[name] = originals[name](fast=fast)
            return made[name]
        return f

    try:
        for n in names:
            figures.FIGURES[n] = wrap(n)
        paths = figures.make_all(out, fast=True, names=names)
    finally:
        figures.FIGURES.update(originals)
    return out, paths, made


def plotted_lines(ax, style=None):
    """Lines with more than one point on ``ax``; ``style`` "solid" or "dashed" filters by line style."""
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1]
    if style == "solid":
        return [ln for ln in lines if ln.get_linestyle() == "-"]
    if style == "dashed":
        return [ln for ln in lines if ln.get_linestyle() == "--"]
    return lines


def assert_files_written(out, paths, names):
    """PNG and PDF of each figure exist, are listed in ``paths`` and start with the right magic bytes."""
    for n in names:
        for ext in ("png", "pdf"):
            p = out / f"{n}.{ext}"
            assert p in paths and p.stat().st_size > 10_000
        assert (out / f"{n}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / f"{n}.pdf").read_bytes()[:5] == b"%PDF-"
