"""Orthogonality-constrained SSL and its Grassmannian dynamics: Esser, Mukherjee, Ghoshdastidar (E).

The copy of E in ``shared/seeds`` lost its formulas; what is implemented here follows the
reconstruction in ``theory.md`` §3 and is re-derived in :mod:`dynamics.grassmann.symbolic`.

* Losses and the trace form: :func:`contrastive_loss` (E1), :func:`non_contrastive_loss` (E2),
  :func:`data_matrix` (E7, Def 1: L = Tr(W^T V^T C V W)), :func:`expected_data_matrix` (E[C] = −Σ).
* Dimension collapse: :func:`unconstrained_trajectory` (Prop 1, linear, closed form), :func:`kernel_flow`
  and :func:`kernel_flow_closed_form` (Lemma 1 / Prop 1, kernel), :func:`fixed_projector_trajectory`
  (Remark 3), :func:`collapse_ratio`, :func:`frobenius_optimum` (Prop 2), :func:`operator_optimum` (Prop 3).
* Thm 2: :func:`trajectory` integrates dΘ/dt = −2 (I − ΘΘ^T) C Θ (E9) for Θ = V W, width independent;
  :func:`riccati_trajectory` for P = ΘΘ^T; :func:`ball_trajectory` for wide networks (h >= d) / the
  operator-norm ball; :func:`outputs` = X Θ on training or new points.
* Thm 3 (z = 1): :func:`eigen_flow` (form "sphere" = E10, form "ball" = relaxed).
* Reference trainer: :func:`train_projected` (E11, any model), :func:`train_trace` (E8 with
  Stiefel / Frobenius / no constraint), :func:`discretised_flow` (E12), :func:`init_network`.

What the derivations add to ``theory.md`` (*derived here*, see :mod:`~dynamics.grassmann.symbolic`):

* Thm 2 holds with constant 2 exactly.  For a tall V (h <= d) the flow of Θ = V W is
  E9 − 2 (I − V V^T) C Θ (W^T W − I): only W^T W = I_z is needed (not W W^T = I, so any h >= z);
  V^T V = I_h is what keeps Θ^T Θ = I.  For a wide V (h >= d, V V^T = I_d, the setting of Thm 1) the
  flow of Θ is :func:`ball_field` = E9 − 2 C Θ (I − Θ^T Θ), equal to E9 when Θ(0)^T Θ(0) = I.  Either
  way the hidden width h never enters.
* The width-free flow is that of the *Grassmannian* gradient ((I − V V^T) ∇_V, ...).  "A free GD step,
  then re-orthonormalise" (the literal reading of E11, ``tangent="free"``) follows a different flow,
  with the extra term −V (I − W W^T) V^T C Θ (polar retraction; QR adds another), which depends on h.
* Thm 3's "all eigenvalues positive ⇒ 0" needs the ball form; on the sphere the flow always ends at
  ± the eigenvector of the smallest eigenvalue.
* Numerically, E9 and the Riccati equation are integrated in forms that agree with the literal ones on
  the manifold but keep Θ^T Θ (resp. the spectrum of P) invariant: the literal forms are transversally
  unstable where Θ^T C Θ ≻ 0 (:func:`stiefel_field`, :func:`riccati_field`).
"""

from ._core import (
    ACTIVATION_SCALES,
    check_triplets,
    contrastive_loss,
    data_matrix,
    expected_data_matrix,
    linear_apply,
    make_apply,
    non_contrastive_loss,
    outputs,
    random_semi_orthogonal,
    scaled_activation,
    scaled_loss,
    subspace_alignment,
    trace_loss,
    two_layer_apply,
)
from ._flow import (
    ball_field,
    ball_trajectory,
    collapse_ratio,
    contrastive_function_hessian,
    contrastive_function_loss,
    eigen_flow,
    fixed_projector_trajectory,
    frobenius_optimum,
    kernel_flow,
    kernel_flow_closed_form,
    operator_optimum,
    riccati_field,
    riccati_trajectory,
    sphere_field,
    stiefel_field,
    trajectory,
    unconstrained_trajectory,
)
from ._train import (
    discretised_flow,
    frobenius_ball,
    horizontal,
    init_network,
    operator_ball,
    project_params,
    retract,
    stack_params,
    tangent_project,
    time_per_step,
    train_projected,
    train_trace,
)

__all__ = [
    "ACTIVATION_SCALES", "ball_field", "ball_trajectory", "check_triplets", "collapse_ratio",
    "contrastive_function_hessian", "contrastive_function_loss", "contrastive_loss", "data_matrix",
    "discretised_flow", "eigen_flow", "expected_data_matrix", "fixed_projector_trajectory", "frobenius_ball",
    "frobenius_optimum", "horizontal", "init_network", "kernel_flow", "kernel_flow_closed_form",
    "linear_apply", "make_apply", "non_contrastive_loss", "operator_ball", "operator_optimum", "outputs",
    "project_params", "random_semi_orthogonal", "retract", "riccati_field", "riccati_trajectory",
    "scaled_activation", "scaled_loss", "sphere_field", "stack_params", "stiefel_field", "subspace_alignment",
    "tangent_project", "time_per_step", "trace_loss", "train_projected", "train_trace", "trajectory",
    "two_layer_apply", "unconstrained_trajectory",
]
