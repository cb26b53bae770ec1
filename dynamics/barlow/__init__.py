"""Barlow Twins on a linear model (S §3–4, App. C, F).

J. B. Simon, M. Knutins, L. Ziyin, D. Geisz, A. J. Fetterman, J. Albrecht, "On the Stepwise Nature of
Self-Supervised Learning", ICML 2023 (arXiv:2303.15438), "S"; equation numbers S1–S48 are the paper's.

Closed forms (S10, S13, S14, S16, S19–S21, S47–S48), the gradient flow S6
integrated numerically, and the sympy derivations they are verified against
(:mod:`dynamics.barlow.symbolic`).
"""

from ._closed_form import (
    aligned_loss,
    aligned_singular_values,
    aligned_trajectory,
    alignment_transform,
    appendix_c_rhs,
    appendix_c_solution,
    critical_times,
    effective_initial_singular_values,
    embedding_eigenvalues,
    log_aligned_singular_values,
    random_init_singular_values,
    singular_value_rhs,
    small_init_alignment,
    small_init_prediction,
    stepwise_loss,
)
from ._core import (
    cross_correlation,
    flow_rhs,
    loss,
    loss_from_embeddings,
    spectrum,
    top_spectral_solution,
)
from ._flow import appendix_c_flow, gradient_flow

__all__ = [
    "aligned_loss", "aligned_singular_values", "aligned_trajectory", "alignment_transform",
    "appendix_c_flow", "appendix_c_rhs", "appendix_c_solution", "critical_times", "cross_correlation",
    "effective_initial_singular_values", "embedding_eigenvalues", "flow_rhs", "gradient_flow",
    "log_aligned_singular_values", "loss", "loss_from_embeddings", "random_init_singular_values",
    "singular_value_rhs", "small_init_alignment", "small_init_prediction", "spectrum",
    "stepwise_loss", "top_spectral_solution",
]

from . import speedup  # noqa: E402  (S App. G: aligned-init theory of the speed-up proposals)
from .speedup import (  # noqa: E402
    escape_time,
    max_stable_lr,
    modified_aligned_singular_values,
    modified_modewise_rhs,
)

__all__ += ["escape_time", "max_stable_lr", "modified_aligned_singular_values", "modified_modewise_rhs", "speedup"]
