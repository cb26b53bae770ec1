"""Wide contrastive networks: NTK under dot product vs cosine similarity, and the road to PCA.

G. G. Anil, P. Esser, D. Ghoshdastidar, "When can we Approximate Wide Contrastive Models with Neural Tangent
Kernels and Principal Component Analysis?" (2024), "A"; equation numbers A1–A10 and the lemma numbers are the paper's.

* Loss (A1) with l linear or log-softmax and dot / cosine similarity, as a function of the outputs
  (:func:`contrastive_loss`, :func:`function_loss`), shared by the trainer and the flows.
* Lemma 9: function-space dynamics with the NTK frozen at init (:func:`lemma9_flow`).
* Prop 10: NTK blow-up of a linear network under the dot product (:func:`blowup_time`,
  :func:`prop10_P`; derivation in :mod:`dynamics.contrastive.symbolic`).
* Trace forms (A5, A8, A10): the loss −Tr(Wᵀ C_V W) (:func:`cv_trace_loss`), PCA of C_V and the
  iterative scheme (:func:`cv_factors`, :func:`pca_readout`, :func:`iterative_pca`).
* Reference trainer: GD and Grassmannian GD on W with recorded outputs, NTK change, C_V and W change
  (:func:`train_contrastive`); a deep network for Fig 5 (:func:`deep_apply`, :func:`deep_ntk`).
* :func:`ntk_drift_by_loss`: NTK drift of one network over time under supervised MSE, Barlow Twins,
  SimCLR, VICReg and the two contrastive similarities (``DRIFT_LOSSES``).

The sympy module is not imported eagerly: ``from dynamics.contrastive import symbolic``.
"""

from ._blowup import (
    blowup_time,
    prop10_alpha,
    prop10_invariants,
    prop10_P,
    prop10_rhs,
    prop10_S,
)
from ._data import ContrastiveData, contrastive_digits, data_constant, prop10_data
from ._deep import deep_apply, deep_ntk, deep_ntk_fn, init_deep
from ._loss import (
    DEFAULT_DELTA,
    REDUCTIONS,
    SIMILARITIES,
    contrastive_loss,
    function_loss,
    reduce_similarities,
    safe_norm,
    similarity,
)
from ._trace import (
    cv_eigh,
    cv_factors,
    cv_factors_from_features,
    cv_frobenius_distance,
    cv_frobenius_norm,
    cv_matrix,
    cv_trace_loss,
    iterative_pca,
    orthonormalize_readout,
    pca_readout,
)
from ._train import (
    DRIFT_LOSSES,
    downstream_accuracy,
    hidden_norms,
    lemma9_flow,
    make_loss,
    ntk_drift_by_loss,
    train_contrastive,
)

__all__ = [
    "DEFAULT_DELTA",
    "DRIFT_LOSSES",
    "REDUCTIONS",
    "SIMILARITIES",
    "ContrastiveData",
    "blowup_time",
    "contrastive_digits",
    "contrastive_loss",
    "cv_eigh",
    "cv_factors",
    "cv_factors_from_features",
    "cv_frobenius_distance",
    "cv_frobenius_norm",
    "cv_matrix",
    "cv_trace_loss",
    "data_constant",
    "deep_apply",
    "deep_ntk",
    "deep_ntk_fn",
    "downstream_accuracy",
    "function_loss",
    "hidden_norms",
    "init_deep",
    "iterative_pca",
    "lemma9_flow",
    "make_loss",
    "ntk_drift_by_loss",
    "orthonormalize_readout",
    "pca_readout",
    "prop10_P",
    "prop10_S",
    "prop10_alpha",
    "prop10_data",
    "prop10_invariants",
    "prop10_rhs",
    "reduce_similarities",
    "safe_norm",
    "similarity",
    "train_contrastive",
]
