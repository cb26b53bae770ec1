"""Generic function-space gradient flow with a frozen kernel: one flow for S §5, A Lemma 9, E Prop 1 and F.

For a loss L(F) of the outputs F ∈ R^{N×d} on the training inputs and a frozen
kernel K,

    dF/dt = −K ∇_F L(F),                                                  (scalar K: N×N)
    dF_{a i}/dt = −Σ_{b j} K[a, b, i, j] ∂L/∂F_{b j},                      (full K: N×N×d×d)

which is gradient descent of a network linearised around its initialisation
(the NTK regime) in continuous time.  With test kernel rows K_* (N*×N) the
test outputs move with the same right-hand side, dF_*/dt = −K_* ∇_F L(F), so they
are integrated alongside.

Two entry points share one implementation:

* :func:`predictor` ``(loss_fn, K_train)`` — in the style of neural-tangents'
  ``predict.gradient_descent``: validates the kernel once, puts it on the device and
  returns ``predict_fn(t, f_train_0, *, k_test_train=None, f_test_0=None, lr=None)``;
* :func:`function_space_flow` ``(K, F0, loss_fn, t)`` — one call of the same predictor.

With ``lr`` the predictor takes the gradient-descent steps themselves,
F_{k+1} = F_k − lr K ∇_F L(F_k), saved at the steps k = t / lr: the discrete dynamics whose
continuous-time limit the flow is (t = lr × step).  For a loss with a kink (VICReg's hinge
relu(1 − std)) an adaptive solver crawls along the kink; the step mode costs exactly t/lr
field evaluations, whatever the loss.

It covers the kernelised Barlow Twins model of Simon et al. (2023), "On the Stepwise Nature of
Self-Supervised Learning", ICML 2023 (arXiv:2303.15438), §5 and its prediction for wide networks
S40–S42 (S); the frozen-NTK dynamics of Lemma 9 in Anil, Esser, Ghoshdastidar (2024), "When can we
Approximate Wide Contrastive Models with Neural Tangent Kernels and Principal Component Analysis?" (A);
the unconstrained collapse of Prop 1 in Esser, Mukherjee, Ghoshdastidar (2023), "Representation Learning
Dynamics of Self-Supervised Models" (E); and the infinite-width model of Fleissner, Anil, Ghoshdastidar
(PMLR 2025), "Infinite Width Limits of Self Supervised Neural Networks" (F).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ._integrate import (
    DEFAULT_BACKEND,
    DEFAULT_MAX_STEPS,
    DEFAULT_RTOL,
    DEFAULT_SOLVER,
    IntegrationError,
    SolverConfig,
    integrate,
)
from ._validation import (
    as_array,
    as_matrix,
    as_symmetric,
    as_times,
    check_callable,
    check_positive,
)
from ._x64 import float64
from .linalg import check_psd
from .losses import barlow_twins_function_loss  # noqa: F401  (re-exported: flows.barlow_twins_function_loss)

#: t must be a multiple of lr to this relative tolerance in the gradient-descent mode of :func:`predictor`.
STEP_RTOL = 1e-9


@functools.lru_cache(maxsize=64)
def _field(loss_fn, full: bool):
    """Vector field of the stacked outputs Y = [F_train; F_test] with args (K, K_*) (K_* may be None):
    dF/dt = −K ∇L(F), dF_*/dt = −K_* ∇L(F).  Cached so diffrax and the step loop compile once per problem."""
    grad = jax.grad(loss_fn)

    def field(_, y, kernels):
        K, K_star = kernels
        G = grad(y[:K.shape[0]])

        def apply(rows):
            return -jnp.einsum("abij,bj->ai", rows, G) if full else -rows @ G

        # The test rows are applied apart: concatenating [K; K_*] in the field would copy them every step.
        return apply(K) if K_star is None else jnp.concatenate([apply(K), apply(K_star)])

    return field


@functools.lru_cache(maxsize=64)
def _gd_program(loss_fn, full: bool):
    """Compiled gradient descent Y_{k+1} = Y_k + lr · field(Y_k), saved after each segment of ``seg[i]`` steps."""
    field = _field(loss_fn, full)

    @jax.jit
    def run(y0, kernels, lr, seg):
        def step(_, y):
            return y + lr * field(0.0, y, kernels)

        def segment(y, k):
            y = jax.lax.fori_loop(0, k, step, y)
            return y, y

        return jax.lax.scan(segment, y0, seg)[1]

    return run


@functools.lru_cache(maxsize=64)
def _gd_batched_program(loss_fn, full: bool):
    """:func:`_gd_program` ``vmap``-ped over a leading axis of initial states (the kernels, lr and segments shared)."""
    run = _gd_program(loss_fn, full)
    return jax.jit(jax.vmap(run, in_axes=(0, None, None, None)))


def _check_kernel(K, name):
    """K symmetric, K[a, b] = K[b, a] (scalar) or K[a, b, i, j] = K[b, a, j, i] (full), and PSD (to 1e-8
    relative, :func:`dynamics.linalg.check_psd`): along a negative eigenvalue the flow would ascend the loss.
    Checked only; the flow uses K as given."""
    if K.shape[0] != K.shape[1] or (K.ndim == 4 and K.shape[2] != K.shape[3]):
        want = "(N, N)" if K.ndim == 2 else "(N, N, d, d)"
        raise ValueError(f"{name} must have shape {want}, got {K.shape}")
    if K.ndim == 2:
        check_psd(as_symmetric(K, name), name)
        return
    N, d = K.shape[0], K.shape[2]
    asym = float(np.max(np.abs(K - K.transpose(1, 0, 3, 2)))) if K.size else 0.0
    scale = max(float(np.max(np.abs(K))) if K.size else 0.0, np.finfo(float).tiny)
    if asym > 1e-8 * scale:
        raise ValueError(f"{name} must be symmetric, {name}[a, b, i, j] = {name}[b, a, j, i]: max |{name} - "
                         f"{name}^T| = {asym:.3g} exceeds 1e-08 x max|{name}| = {1e-8 * scale:.3g}")
    # The full kernel as the (N d, N d) matrix of the pairs (a, i), (b, j).
    Kmat = K.transpose(0, 2, 1, 3).reshape(N * d, N * d)
    check_psd(0.5 * (Kmat + Kmat.T), name)


class _PredictFn:
    """``predict_fn(t, f_train_0, *, k_test_train=None, f_test_0=None, lr=None)`` of :func:`predictor`."""

    def __init__(self, loss_fn, K, config, names):
        self._loss_fn = loss_fn
        self._full = K.ndim == 4
        self._shape = K.shape
        self._K = jax.device_put(jnp.asarray(K))
        self._config = config
        self._names = names  # (kernel, initial outputs, test kernel, initial test outputs)

    def __repr__(self):
        kind = "full (N, N, d, d)" if self._full else "scalar (N, N)"
        return f"predict_fn(loss_fn={getattr(self._loss_fn, '__name__', self._loss_fn)!r}, {kind} kernel {self._shape})"

    @float64
    def __call__(self, t, f_train_0, *, k_test_train=None, f_test_0=None, lr=None):
        """Outputs F(t) of dF/dt = −K ∇_F L(F) from F(0) = ``f_train_0`` (see :func:`predictor`)."""
        return self._predict(t, f_train_0, k_test_train, f_test_0, lr)

    @float64
    def batch(self, t, f_train_0, *, k_test_train=None, f_test_0=None, lr=None, sharding=None):
        """Outputs of B flows at once, one per initial state ``f_train_0[b]`` (B, N, d): (B, T, N, d).

        Each member b follows dF/dt = −K ∇_F L(F) from its own F(0) (S40–S42, A Lemma 9) with the kernel of the
        predictor; ``f_test_0`` (B, N*, d) (default zeros) gives each member its test outputs.  With ``lr`` the
        gradient-descent steps $F_{k+1} = F_k - \\mathrm{lr}\\, K \\nabla_F L(F_k)$ of all members are one
        ``jax.vmap`` in one compiled program, equal member by member to the calls of ``predict_fn``; without
        ``lr`` the adaptive solver integrates the B members as one stacked system with shared steps (every member
        meets the tolerance, so they agree with single calls to the solver's tolerance, not to the bit).
        ``sharding`` (gradient-descent mode only; :func:`dynamics.parallel.leading_axis`) splits the members
        across the devices of a mesh (padded with copies of member 0, the padding stripped).

        Returns (B, T, N, d), or a pair (train (B, T, N, d), test (B, T, N*, d)) with ``k_test_train``.
        """
        from . import parallel

        k_name, f_name, kt_name, ft_name = self._names
        N = self._shape[0]
        F0 = as_array(f_train_0, f_name, ndim=3)
        B, _, d = F0.shape
        if B == 0:
            raise ValueError(f"{f_name} must hold at least one initial state along axis 0 (an empty batch)")
        if F0.shape[1] != N or (self._full and self._shape[2:] != (d, d)):
            want = f"(B, {N}, {self._shape[2]})" if self._full else f"(B, {N}, d)"
            raise ValueError(f"{f_name} must have shape {want} to match {k_name} {self._shape}, got {F0.shape}")
        if f_test_0 is not None and k_test_train is None:
            raise ValueError(f"{ft_name} needs {kt_name} (the test-train kernel); give both or neither")
        split = parallel.leading_axis(sharding, "sharding")
        if split is not None and lr is None:
            raise ValueError("sharding splits the members of the gradient-descent mode: give lr (the adaptive "
                             "solver integrates the batch as one stacked system)")
        if lr is not None:
            lr = check_positive(lr, "lr")
        t = as_times(t)
        kernels, y0 = (self._K, None), F0
        if k_test_train is not None:
            K_test = as_array(k_test_train, kt_name, ndim=len(self._shape))
            n_test = K_test.shape[0]
            F_test0 = np.zeros((B, n_test, d)) if f_test_0 is None else as_array(f_test_0, ft_name, ndim=3)
            if K_test.shape[1:] != self._shape[1:] or F_test0.shape != (B, n_test, d):
                raise ValueError(f"{kt_name} must have shape (N*, {', '.join(map(str, self._shape[1:]))}) and "
                                 f"{ft_name} ({B}, N*, {d}); got {K_test.shape} and {F_test0.shape}")
            kernels, y0 = (self._K, jax.device_put(jnp.asarray(K_test))), np.concatenate([F0, F_test0], axis=1)
        if lr is None:
            ys = integrate(_field(self._loss_fn, self._full), jnp.asarray(y0), t, kernels, config=self._config,
                           batch=True)
        else:
            k = self._steps(t, lr)
            seg = jnp.asarray(np.diff(k, prepend=0))
            run = _gd_batched_program(self._loss_fn, self._full)
            y0 = jnp.asarray(y0)
            if split is not None:
                y0 = split.put(split.pad(y0))
                kernels = split.put_replicated(kernels)
            ys = run(y0, kernels, jnp.asarray(lr, y0.dtype), seg)
            finite = np.asarray(jnp.all(jnp.isfinite(ys.reshape(ys.shape[0], len(t), -1)), axis=2))[:B]
            if not finite.all():
                b, i = (int(v[0]) for v in np.nonzero(~finite))
                raise IntegrationError(f"non-finite outputs (NaN or inf) in member {b} by t = {t[i]:.6g} (step "
                                       f"{int(k[i])}) of gradient descent with lr = {lr:.6g}: the steps diverged (lr "
                                       "too large for the kernel's largest eigenvalue?) or the loss's gradient is "
                                       "NaN/inf there")
            ys = ys if split is None else split.strip(ys, B)
        if k_test_train is not None:
            return ys[:, :, :N], ys[:, :, N:]
        return ys

    def _steps(self, t, lr):
        """The integer steps k = t / lr (to :data:`STEP_RTOL`), at most ``max_steps`` of them."""
        steps = t / lr
        k = np.rint(steps)
        off = np.abs(steps - k) > STEP_RTOL * np.maximum(k, 1.0)
        if np.any(off):
            i = int(np.flatnonzero(off)[0])
            raise ValueError(f"t must be multiples of lr = {lr:.6g} (the gradient-descent steps t / lr, to "
                             f"{STEP_RTOL:g} relative): t[{i}] = {t[i]:.6g} is {steps[i]:.10g} steps")
        max_steps = self._config.max_steps
        if k[-1] > max_steps:
            raise IntegrationError(f"max_steps={max_steps} is fewer than the {int(k[-1])} gradient-descent steps "
                                   f"t[-1] / lr = {t[-1]:.6g} / {lr:.6g}: raise max_steps or lr")
        return k.astype(np.int64)

    def _predict(self, t, F0, K_test, F_test0, lr):
        k_name, f_name, kt_name, ft_name = self._names
        N = self._shape[0]
        F0 = as_matrix(F0, f_name)
        d = F0.shape[1]
        if F0.shape[0] != N or (self._full and self._shape[2:] != (d, d)):
            want = f"({N}, {self._shape[2]})" if self._full else f"({N}, d)"
            raise ValueError(f"{f_name} must have shape {want} to match {k_name} {self._shape}, got {F0.shape}")
        if F_test0 is not None and K_test is None:
            raise ValueError(f"{ft_name} needs {kt_name} (the test-train kernel); give both or neither")
        if lr is not None:
            lr = check_positive(lr, "lr")
        t = as_times(t)
        kernels, y0 = (self._K, None), F0
        if K_test is not None:
            K_test = as_array(K_test, kt_name, ndim=len(self._shape))
            n_test = K_test.shape[0]
            F_test0 = np.zeros((n_test, d)) if F_test0 is None else as_matrix(F_test0, ft_name)
            if K_test.shape[1:] != self._shape[1:] or F_test0.shape != (n_test, d):
                raise ValueError(f"{kt_name} must have shape (N*, {', '.join(map(str, self._shape[1:]))}) and "
                                 f"{ft_name} (N*, {d}); got {K_test.shape} and {F_test0.shape}")
            kernels, y0 = (self._K, jax.device_put(jnp.asarray(K_test))), np.concatenate([F0, F_test0])
        if lr is None:
            cfg = self._config
            ys = integrate(_field(self._loss_fn, self._full), jnp.asarray(y0), t, kernels, config=cfg)
        else:
            ys = self._descend(y0, t, kernels, lr)
        if K_test is not None:
            return ys[:, :N], ys[:, N:]
        return ys

    def _descend(self, y0, t, kernels, lr):
        """F_{k+1} = F_k − lr K ∇L(F_k) (test rows likewise), saved at the steps k = t / lr."""
        k = self._steps(t, lr)
        seg = np.diff(k, prepend=0)
        y0 = jnp.asarray(y0)
        run = _gd_program(self._loss_fn, self._full)
        ys = np.asarray(run(y0, kernels, jnp.asarray(lr, y0.dtype), jnp.asarray(seg)))
        finite = np.all(np.isfinite(ys.reshape(len(t), -1)), axis=1)
        if not np.all(finite):
            i = int(np.flatnonzero(~finite)[0])
            raise IntegrationError(f"non-finite outputs (NaN or inf) by t = {t[i]:.6g} (step {int(k[i])}) of gradient "
                                   f"descent with lr = {lr:.6g} ({i} of {len(t)} requested times reached): the steps "
                                   "diverged (lr too large for the kernel's largest eigenvalue?) or the loss's "
                                   "gradient is NaN/inf there")
        return ys


def predictor(loss_fn, K_train, *, rtol=DEFAULT_RTOL, atol=None, backend=DEFAULT_BACKEND, solver=DEFAULT_SOLVER,
              max_steps=DEFAULT_MAX_STEPS):
    """A predictor of frozen-kernel training for any loss of the outputs (S40–S42, A Lemma 9).

    In the style of neural-tangents' ``predict.gradient_descent``: everything that does not depend on
    the times or the initial outputs is done once here — K_train is validated (finite, symmetric,
    positive semi-definite to 1e-8 relative, :func:`dynamics.linalg.check_psd`) and put on the
    device, the solver options are validated, and the vector field is the cached one of ``loss_fn``,
    so repeated calls with equal shapes reuse the compiled solve.

    The returned ``predict_fn(t, f_train_0, *, k_test_train=None, f_test_0=None, lr=None)`` gives
    the outputs of

        dF/dt = −K ∇_F L(F),        dF_*/dt = −K_* ∇_F L(F),

    the gradient flow of a network linearised around its initialisation (A Lemma 9; S40–S42 for the
    Barlow Twins loss of Simon et al. 2023, where F(0) is the network's initial output and K its
    NTK), from F(0) = ``f_train_0`` (N, d) and F_*(0) = ``f_test_0`` (N*, d; default zeros) with test
    kernel rows K_* = ``k_test_train`` (N*, N), or (N*, N, d, d) for a full kernel.  ``t`` (T,)
    are flow times t = lr × step, from 0.

    * ``lr=None`` (default): adaptive integration (:func:`dynamics._integrate.integrate` with
      ``rtol``, ``atol``, ``backend``, ``solver``, ``max_steps``); an
      :class:`~dynamics._integrate.IntegrationError` names ``max_steps`` when the budget is spent.
    * ``lr`` > 0: gradient descent at that learning rate, F_{k+1} = F_k − lr K ∇_F L(F_k) (the test
      rows move with the same right-hand side), evaluated at the steps k = t / lr, which must be
      integers to 1e-9 relative (:data:`STEP_RTOL`).  This is the mode for a non-smooth loss such as
      VICReg's hinge, where an adaptive solver crawls along the kink: it costs exactly t[-1] / lr
      field evaluations and refuses, before stepping, more than ``max_steps`` of them.

    ``predict_fn.batch(t, f_train_0, ..., sharding=None)`` runs B initial states (B, N, d) at once (one
    ``vmap``-ped program in the gradient-descent mode, splittable across devices with ``sharding``).

    Parameters
    ----------
    loss_fn : callable F -> scalar, written with ``jax.numpy`` (reuse the same function object, e.g.
        :func:`barlow_twins_function_loss`, to reuse the compiled program).
    K_train : (N, N) scalar kernel, or (N, N, d, d) full kernel of a d-output model.
    rtol, atol, backend, solver, max_steps : integrator options as in :func:`function_space_flow`.

    Returns
    -------
    predict_fn : callable returning a (T, N, d) array, or a pair (train (T, N, d), test (T, N*, d))
        when ``k_test_train`` is given.  Computed in float64.
    """
    return _build(loss_fn, K_train, ("K_train", "f_train_0", "k_test_train", "f_test_0"), rtol=rtol, atol=atol,
                  backend=backend, solver=solver, max_steps=max_steps)


def _build(loss_fn, K, names, **options):
    check_callable(loss_fn, "loss_fn", "loss_fn(F) -> scalar")
    K = as_array(K, names[0], ndim=(2, 4))
    config = SolverConfig(**options)  # validated once, before any call
    _check_kernel(K, names[0])
    return _PredictFn(loss_fn, K, config, names)


def function_space_flow(K, F0, loss_fn, t, *, K_test=None, F_test0=None, rtol=DEFAULT_RTOL, atol=None,
                        backend=DEFAULT_BACKEND, solver=DEFAULT_SOLVER, max_steps=DEFAULT_MAX_STEPS):
    """Integrate dF/dt = −K ∇_F L(F) from F(0) = F0 and return F at the times ``t``.

    One call of the :func:`predictor` of ``loss_fn`` and ``K`` (the same validation, field and compiled
    solve): ``predictor(loss_fn, K, ...)(t, F0, k_test_train=K_test, f_test_0=F_test0)``.

    K must be symmetric and positive semi-definite (to 1e-8 relative, :func:`dynamics.linalg.check_psd`):
    a kernel with a negative eigenvalue would make the flow ascend the loss along it.

    Parameters
    ----------
    K : (N, N) scalar kernel, or (N, N, d, d) full kernel of a d-output model.
    F0 : (N, d) initial outputs on the training inputs.
    loss_fn : callable F -> scalar, written with ``jax.numpy`` (reuse the same function object
        across calls, e.g. :func:`barlow_twins_function_loss`, to reuse the compiled solver).
    t : (T,) times (t = lr × step for a trainer); the flow starts at t = 0.
    K_test, F_test0 : optional (N*, N) (or (N*, N, d, d)) kernel between test and
        training inputs and the (N*, d) initial test outputs (default zero).
    rtol, atol : tolerances (rtol: the integrator's default, 1e-10); ``atol=None`` (default) follows the
        scale of the initial state, rtol · 1e-3 · max|F0| (:func:`dynamics._integrate.integrate`), so a
        small F0 is resolved.
    max_steps : step budget (an :class:`dynamics._integrate.IntegrationError` names it when exceeded).

    Returns
    -------
    (T, N, d) array, or a pair (train, test) when ``K_test`` is given.
    """
    check_callable(loss_fn, "loss_fn", "loss_fn(F) -> scalar")
    K = as_array(K, "K", ndim=(2, 4))
    F0 = as_matrix(F0, "F0")
    N, d = F0.shape
    if K.shape[:2] != (N, N) or (K.ndim == 4 and K.shape[2:] != (d, d)):
        raise ValueError(f"K must have shape ({N}, {N}) or ({N}, {N}, {d}, {d}) to match F0 {F0.shape}, got {K.shape}")
    predict = _build(loss_fn, K, ("K", "F0", "K_test", "F_test0"), rtol=rtol, atol=atol, backend=backend,
                     solver=solver, max_steps=max_steps)
    return predict._predict(t, F0, K_test, F_test0, None)
