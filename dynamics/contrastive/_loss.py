"""The contrastive loss (A1) of Anil et al. under its paper names: the same objects as in :mod:`dynamics.losses`.

``contrastive_loss`` is :func:`dynamics.losses.contrastive` and ``function_loss`` is
:func:`dynamics.losses.contrastive_function_loss` (A1 of the stacked outputs), so the trainer and the
function-space flow of Lemma 9 share one definition with every other loss of the package.
"""

from __future__ import annotations

from ..losses import (
    DEFAULT_DELTA,
    REDUCTIONS,
    SIMILARITIES,
    check_alpha,
    reduce_similarities,
    safe_norm,
    similarity,
)
from ..losses import contrastive as contrastive_loss
from ..losses import contrastive_function_loss as function_loss


def _norm(f, axis=-1):
    """:func:`safe_norm` without the input check (for callers in this package that have checked ``f``)."""
    return safe_norm(f, axis, check=False)


__all__ = ["DEFAULT_DELTA", "REDUCTIONS", "SIMILARITIES", "check_alpha", "contrastive_loss", "function_loss",
           "reduce_similarities", "safe_norm", "similarity"]
