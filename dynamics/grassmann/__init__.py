"""Orthogonality-constrained SSL and its Grassmannian dynamics.

P. Esser, S. Mukherjee, D. Ghoshdastidar, "Representation Learning Dynamics of Self-Supervised Models"
(2023), "E"; the formulas are re-derived in :mod:`dynamics.grassmann.symbolic`.

Layout: the two-layer network is the one of :mod:`dynamics.networks`, f(x) = Wᵀ φ(V x) with
V ∈ R^{h×d}, W ∈ R^{h×z}, no width factor and φ scaled to φ'(0) = 1 (:func:`network_apply`).  E writes
Ṽ = Vᵀ ∈ R^{d×h}; the linear network is f(x) = Θᵀ x with Θ = Vᵀ W = Ṽ W (:func:`network_theta`).

* The losses E1 and E2 are A1's special cases in :mod:`dynamics.losses` (``triplet_contrastive``,
  ``non_contrastive``) of a model's outputs; the trace form: :func:`data_matrix` (E7, Def 1:
  L = Tr(Θᵀ C Θ)), :func:`trace_loss` (E8), :func:`expected_data_matrix` (E[C] = −Σ).
* Dimension collapse: :func:`unconstrained_trajectory` (Prop 1, linear, closed form), :func:`kernel_flow`
  and :func:`kernel_flow_closed_form` (Lemma 1 / Prop 1, kernel), :func:`fixed_projector_trajectory`
  (Remark 3), :func:`collapse_ratio`, :func:`frobenius_optimum` (Prop 2), :func:`operator_optimum` (Prop 3).
* Thm 2: :func:`trajectory` integrates dΘ/dt = −2 (I − ΘΘᵀ) C Θ (E9), width independent;
  :func:`riccati_trajectory` for P = ΘΘᵀ; :func:`ball_trajectory` for wide networks (h >= d) / the
  operator-norm ball; :func:`outputs` = X Θ on training or new points.
* Thm 3 (z = 1): :func:`eigen_flow` (form "sphere" = E10, form "ball" = relaxed).
* Reference trainer: :func:`train_projected` (E11, any model), :func:`train_trace` (E8 with
  Stiefel / Frobenius / no constraint), :func:`discretised_flow` (E12), :func:`init_network`; the
  geometry (:func:`tangent_project`, :func:`horizontal`, :func:`retract`) is :mod:`dynamics.stiefel`'s.

What the derivations add to the paper (*derived here*, see :mod:`~dynamics.grassmann.symbolic`; in E's
notation Ṽ = Vᵀ):

* Thm 2 holds with constant 2 exactly.  For a tall Ṽ (h <= d) the flow of Θ = Ṽ W is
  E9 − 2 (I − Ṽ Ṽᵀ) C Θ (WᵀW − I): only WᵀW = I_z is needed (not W Wᵀ = I, so any h >= z);
  ṼᵀṼ = I_h is what keeps ΘᵀΘ = I.  For a wide Ṽ (h >= d, Ṽ Ṽᵀ = I_d, the setting of Thm 1) the
  flow of Θ is :func:`ball_field` = E9 − 2 C Θ (I − ΘᵀΘ), equal to E9 when Θ(0)ᵀ Θ(0) = I.  Either
  way the hidden width h never enters.
* The width-free flow is that of the *Grassmannian* gradient ((I − Ṽ Ṽᵀ) ∇_Ṽ, ...).  "A free GD step,
  then re-orthonormalise" (the literal reading of E11, ``tangent="free"``) follows a different flow,
  with the extra term −Ṽ (I − W Wᵀ) Ṽᵀ C Θ (polar retraction; QR adds another), which depends on h.
* Thm 3's "all eigenvalues positive ⇒ 0" needs the ball form; on the sphere the flow always ends at
  ± the eigenvector of the smallest eigenvalue.
* Numerically, E9 and the Riccati equation are integrated in forms that agree with the literal ones on
  the manifold but keep ΘᵀΘ (resp. the spectrum of P) invariant: the literal forms are transversally
  unstable where Θᵀ C Θ ≻ 0 (:func:`stiefel_field`, :func:`riccati_field`).
"""

from ._core import (
    ACTIVATION_SCALES,
    check_triplets,
    data_matrix,
    expected_data_matrix,
    network_apply,
    network_theta,
    outputs,
    random_semi_orthogonal,
    scaled_activation,
    scaled_loss,
    subspace_alignment,
    trace_loss,
)
from ._flow import (
    ball_field,
    ball_trajectory,
    collapse_ratio,
    contrastive_function_hessian,
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
    "contrastive_function_hessian", "data_matrix",
    "discretised_flow", "eigen_flow", "expected_data_matrix", "fixed_projector_trajectory", "frobenius_ball",
    "frobenius_optimum", "horizontal", "init_network", "kernel_flow", "kernel_flow_closed_form",
    "network_apply", "network_theta", "operator_ball", "operator_optimum", "outputs",
    "project_params", "random_semi_orthogonal", "retract", "riccati_field", "riccati_trajectory",
    "scaled_activation", "scaled_loss", "sphere_field", "stack_params", "stiefel_field", "subspace_alignment",
    "tangent_project", "time_per_step", "trace_loss", "train_projected", "train_trace", "trajectory",
    "unconstrained_trajectory",
]
