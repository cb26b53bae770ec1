"""Reference trainer for contrastive losses, the frozen-NTK flow of Lemma 9, and NTK drift across losses.

G. G. Anil, P. Esser, D. Ghoshdastidar, "When can we Approximate Wide Contrastive Models with Neural
Tangent Kernels and Principal Component Analysis?" (2024), "A".

The trainer is :func:`dynamics.trainer.gradient_descent` (full-batch GD, optional projection) with the
loss (A1) of :mod:`dynamics.losses` evaluated on the network's outputs; the observers record the outputs,
the NTK change (``dynamics.ntk``), ‖C_V(t) − C_V(0)‖_F (:mod:`._trace`) and ‖W(t) − W(0)‖_F.
:func:`ntk_drift_by_loss` records the NTK drift of one network over time under six losses (supervised MSE,
Barlow Twins, SimCLR, VICReg and A1 with the dot product and the cosine similarity).  Time is
t = lr × step.  Losses and observers are functions ``(params, data)`` built once per model (cached
module-level builders) with the inputs, K(0), C_V(0) and W(0) passed as the run's data, so repeated runs
(seeds, learning rates, widths of equal shapes) reuse the compiled programs.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import flows, networks, ntk, trainer
from .._validation import (
    as_matrix,
    as_times,
    check_callable,
    check_choice,
    check_positive,
    check_positive_int,
)
from ..losses import DEFAULT_DELTA, contrastive_function_loss, nt_xent, safe_norm, vicreg
from ._data import contrastive_digits
from ._trace import (
    check_contrastive_data,
    check_two_layer_params,
    cv_factors,
    cv_factors_from_features,
    cv_frobenius_distance,
    cv_frobenius_norm,
    orthonormalize_readout,
)


def hidden_norms(params, x, activation="relu"):
    """‖h(x)‖ = ‖φ(V x)‖/√M per row (the norms of the cosine lower bound A9); JAX-traceable."""
    return safe_norm(networks.hidden_features(params, x, activation), check=False)  # checked by hidden_features


@functools.cache
def _two_layer(activation):
    """The two-layer network (A2) with ``activation`` as one object per activation (a cache key)."""

    def apply(p, x):
        return networks.two_layer_apply(p, x, activation)

    return apply


@functools.lru_cache(maxsize=64)
def _output_loss(fl, apply_fn, bound_activation):
    """``loss(params, data)`` = fl(apply_fn(params, data["X"])) — with the hidden norms of the two-layer
    network for the cosine lower bound (A9) when ``bound_activation`` is given."""
    if bound_activation is None:
        return lambda p, data: fl(apply_fn(p, data["X"]))
    return lambda p, data: fl(apply_fn(p, data["X"]), hidden_norms(p, data["X"], bound_activation))


def _contrastive_objective(data, similarity, loss, delta, temperature, activation, apply_fn):
    """(``loss(params, data)``, the model ``apply``) of :func:`make_loss` / :func:`train_contrastive`."""
    fl = contrastive_function_loss(data.n_anchors, data.alpha, similarity=similarity, loss=loss, delta=delta,
                                   temperature=temperature)
    if apply_fn is None:
        check_choice(activation, "activation", set(networks.ACTIVATIONS))
        apply_fn = _two_layer(activation)
        bound = activation if similarity == "cosine_bound" else None
    else:
        check_callable(apply_fn, "apply_fn", "apply_fn(params, x) -> (n, Z)")
        if similarity == "cosine_bound":
            raise ValueError("similarity 'cosine_bound' is defined for the two-layer network only "
                             "(leave apply_fn=None)")
        bound = None
    return trainer.cached(_output_loss, fl, apply_fn, bound), apply_fn


def make_loss(data, *, similarity="cosine", loss="linear", delta=DEFAULT_DELTA, temperature=1.0,
              activation="relu", apply_fn=None):
    """``loss_fn(params)``: the loss (A1) of the network outputs on ``data`` (the trainer's objective).

    ``apply_fn(params, x) -> (n, Z)`` defaults to the two-layer network (A2) with ``activation``;
    "cosine_bound" needs the two-layer network (hidden norms of A9).
    """
    data = check_contrastive_data(data)
    loss_fn, _ = _contrastive_objective(data, similarity, loss, delta, temperature, activation, apply_fn)
    inputs = {"X": jax.device_put(data.inputs)}
    return lambda p: loss_fn(p, inputs)


@functools.lru_cache(maxsize=64)
def _outputs_observer(apply_fn):
    return lambda p, data: apply_fn(p, data["X"])


@functools.lru_cache(maxsize=64)
def _ntk_change_observer(ntk_fn):
    """{"ntk_max_change": max |K(t) − K(0)| (A Thm 13), "ntk_drift": ‖K(t) − K(0)‖_F/‖K(0)‖_F} with K(0) the
    run's data["K0"]; K(t) evaluated once for both."""

    def observe(p, data):
        K = ntk_fn(p)
        return {"ntk_max_change": ntk.max_entry_change(K, data["K0"]), "ntk_drift": ntk.ntk_drift(K, data["K0"])}

    return observe


@functools.lru_cache(maxsize=64)
def _cv_change_observer(alpha, kind, delta, activation):
    """‖C_V(t) − C_V(0)‖_F (C_V of A8 or A10, from factors) and ‖W(t) − W(0)‖_F, absolute and relative
    (A Lemma 16), against the run's data["F0"], ["c0"], ["W0"], ["w0"]; the factors once for both."""
    phi = networks.activation(activation)[0]

    def observe(p, data):
        V = p["V"]
        F = cv_factors_from_features(phi(data["anchors"] @ V.T), phi(data["partners"] @ V.T), alpha, kind,
                                     delta=delta)
        dc = cv_frobenius_distance(F, data["F0"])
        dw = jnp.linalg.norm(p["W"] - data["W0"])
        return {"cv_change": dc, "cv_relative_change": dc / data["c0"], "w_change": dw,
                "w_relative_change": dw / data["w0"]}

    return observe


def train_contrastive(params, data, *, lr, n_steps, similarity="cosine", loss="linear", delta=DEFAULT_DELTA,
                      temperature=1.0, activation="relu", apply_fn=None, grassmann=False, record_steps=None,
                      n_records=50, record_outputs=True, ntk_fn=None, ntk_inputs=None, ntk_output="full",
                      record_cv=False, observers=None, progress=False):
    """Full-batch GD (or Grassmannian GD on W) on the contrastive loss (A1) of a network; recorded history.

    Parameters
    ----------
    params : network parameters ({"V", "W"} for the two-layer network A2).
    data : :class:`ContrastiveData`.
    lr, n_steps : learning rate and number of steps; times t = lr × step.
    similarity, loss, delta, temperature : the loss (A1), see :func:`dynamics.contrastive.contrastive_loss`.
    activation : of the default two-layer network; ``apply_fn(params, x)`` replaces the network.
    grassmann : after each step project W back to WᵀW = I (:func:`orthonormalize_readout`, A Lemma 16);
        ``params`` are projected once before training.
    record_steps, n_records : steps to record (default log-spaced, ``n_records`` points).
    record_outputs : record "outputs", the network on ``data.inputs`` (R, N(1+Q), Z).
    ntk_fn : ``params -> K`` (e.g. :func:`dynamics.ntk.two_layer_ntk_fn`); or give ``ntk_inputs`` (n, D) to
        use the two-layer NTK on those inputs with ``ntk_output`` ("full" or "trace").  Records
        "ntk_max_change" = max |K(t) − K(0)| (A Thm 13, Figs 2–3) and "ntk_drift" = ‖K(t) − K(0)‖_F/‖K(0)‖_F.
        The compiled programs are cached on ``ntk_fn``: pass the same function to repeated runs to reuse
        them (``ntk_inputs`` builds a new one per call).
    record_cv : record "cv_change" = ‖C_V(t) − C_V(0)‖_F (C_V of A8 for "dot", A10 otherwise),
        "w_change" = ‖W(t) − W(0)‖_F and their relative versions "cv_relative_change", "w_relative_change"
        (A Lemma 16, Fig 4).  Two-layer network only.
    observers : more ``name -> callable(params)`` to record (arrays or pytrees of arrays).

    Returns
    -------
    (final params, :class:`dynamics.trainer.History`)
    """
    data = check_contrastive_data(data)
    lr = check_positive(lr, "lr")
    n_steps = check_positive_int(n_steps, "n_steps")
    if apply_fn is None:
        check_two_layer_params(params, data.dim)
    else:
        trainer.check_apply(apply_fn, params, data.anchors, "data.anchors")
    if ntk_fn is not None:
        check_callable(ntk_fn, "ntk_fn", "ntk_fn(params) -> K")
    if record_cv and apply_fn is not None:
        raise ValueError("record_cv needs the two-layer network (leave apply_fn=None)")
    if grassmann:
        params = orthonormalize_readout(params)
    loss_fn, apply = _contrastive_objective(data, similarity, loss, delta, temperature, activation, apply_fn)
    run_data = {"X": data.inputs}  # NumPy: the trainer checks it and moves it to the device once
    obs = trainer.params_observers(observers)
    if record_outputs:
        obs["outputs"] = trainer.cached(_outputs_observer, apply)
    if ntk_fn is None and ntk_inputs is not None:
        ntk_fn = ntk.two_layer_ntk_fn(ntk_inputs, ntk_inputs, activation, output=ntk_output)
    grouped = []  # observers returning a dict of records, flattened into the history after the run
    if ntk_fn is not None:
        run_data["K0"] = jnp.asarray(ntk_fn(params))
        obs["_ntk"] = trainer.cached(_ntk_change_observer, ntk_fn)
        grouped.append("_ntk")
    if record_cv:
        kind = "dot" if similarity == "dot" else "cosine_bound"
        F0 = cv_factors(params, data, kind, delta=delta, activation=activation)
        c0, w0 = _cv_reference(F0, params["W"])
        run_data.update(anchors=data.anchors, partners=data.partners, F0=F0, c0=c0, W0=params["W"], w0=w0)
        obs["_cv"] = _cv_change_observer(data.alpha, kind, float(delta), activation)
        grouped.append("_cv")
    if record_steps is None:
        record_steps = trainer.record_schedule(n_steps, n_records)
    final, hist = trainer.gradient_descent(loss_fn, params, run_data, lr=lr, n_steps=n_steps,
                                           record_steps=record_steps, observers=obs,
                                           project=orthonormalize_readout if grassmann else None,
                                           progress=progress, desc=f"contrastive ({similarity})")
    for name in grouped:
        hist.records.update(hist.records.pop(name))
    return final, hist


@jax.jit
def _cv_reference(F0, W0):
    """(‖C_V(0)‖_F, ‖W(0)‖_F), one compiled program instead of one per eager primitive."""
    return cv_frobenius_norm(F0), jnp.linalg.norm(W0)


@functools.cache
def _jit_apply(activation):
    return jax.jit(lambda p, x: networks.two_layer_apply(p, x, activation))


def lemma9_flow(params, data, t, *, similarity="cosine", loss="linear", delta=DEFAULT_DELTA, temperature=1.0,
                activation="relu", rtol=1e-9, atol=1e-12):
    """Outputs under the function-space dynamics of A Lemma 9 with the NTK frozen at initialisation.

        df_z(x̃)/dt = −(1/N) Σ_n Σ_q ∂l/∂s_nq Σ_i [K_zi(x̃, x_n) g_i(x_n, x_nq) + K_zi(x̃, x_nq) g_i(x_nq, x_n)]

    is dF/dt = −K ∇_F L(F) on the stacked outputs F of all anchors and partners, with K the full
    (N(1+Q), N(1+Q), Z, Z) empirical NTK at init (:func:`dynamics.ntk.two_layer_ntk`, output="full") and
    L the loss (A1) of :func:`dynamics.losses.contrastive_function_loss` — the chain rule
    ∂L/∂f(x_n) = (1/N) Σ_q ∂l/∂s_nq g(x_n, x_nq)
    gives Lemma 9's sum.  Integrated by :func:`dynamics.flows.function_space_flow`.

    Returns
    -------
    (T, N(1+Q), Z) outputs at the times ``t``.
    """
    data = check_contrastive_data(data)
    if similarity == "cosine_bound":
        raise ValueError("lemma9_flow needs a similarity of the outputs alone: 'dot' or 'cosine'")
    t = as_times(t)
    X = data.inputs
    check_two_layer_params(params, data.dim)
    K = np.asarray(ntk.two_layer_ntk_fn(X, X, activation, output="full")(params))
    F0 = np.asarray(_jit_apply(activation)(params, X))
    fl = contrastive_function_loss(data.n_anchors, data.alpha, similarity=similarity, loss=loss, delta=delta,
                       temperature=temperature)
    return flows.function_space_flow(K, F0, fl, t, rtol=rtol, atol=atol)


DRIFT_LOSSES = ("supervised_mse", "barlow_twins", "simclr", "vicreg", "contrastive_dot", "contrastive_cosine")


@functools.lru_cache(maxsize=64)
def _pair_loss(name, apply_fn, temperature):
    """``loss(params, data)`` of the two views f(data["x"]), f(data["xp"]): NT-Xent (SimCLR, Chen et al.
    eq. 1, temperature τ) or VICReg (Bardes et al. eqs. 1–6, the official coefficients 25, 25, 1)."""
    if name == "simclr":
        return lambda p, data: nt_xent(apply_fn(p, data["x"]), apply_fn(p, data["xp"]), temperature=temperature)
    return lambda p, data: vicreg(apply_fn(p, data["x"]), apply_fn(p, data["xp"]))


def _drift_run(name, p0, *, d, x, xp, y, lr, steps, ntk_fn, activation, delta, temperature, apply):
    """(steps, drift) of one GD run of loss ``name`` recording ‖K(t) − K(0)‖_F/‖K(0)‖_F at ``steps``."""
    n_steps = int(steps[-1])
    if name == "supervised_mse":
        _, hist = trainer.train_supervised(apply, p0, x, y, lr=lr, n_steps=n_steps, record_steps=steps,
                                           ntk_fn=ntk_fn)
        return hist.step, np.asarray(hist["ntk_drift"])
    if name == "barlow_twins":
        _, hist = trainer.train_barlow(apply, p0, x, xp, lr=lr, n_steps=n_steps, record_steps=steps, ntk_fn=ntk_fn)
        return hist.step, np.asarray(hist["ntk_drift"])
    if name in ("simclr", "vicreg"):
        data = {"x": x, "xp": xp, "K0": jnp.asarray(ntk_fn(p0))}
        _, hist = trainer.gradient_descent(_pair_loss(name, apply, float(temperature)), p0, data, lr=lr,
                                           n_steps=n_steps, record_steps=steps,
                                           observers={"ntk": _ntk_change_observer(ntk_fn)}, desc=name)
        return hist.step, np.asarray(hist["ntk"]["ntk_drift"])
    _, hist = train_contrastive(p0, d, lr=lr, n_steps=n_steps, similarity=name.removeprefix("contrastive_"),
                                activation=activation, record_steps=steps, record_outputs=False, ntk_fn=ntk_fn,
                                delta=delta)
    return hist.step, np.asarray(hist["ntk_drift"])


def ntk_drift_by_loss(widths, *, T=2.0, lr=0.01, n=100, Z=10, n_ntk=40, seeds=(0,), activation="relu",
                      delta=DEFAULT_DELTA, temperature=0.5, n_records=2, losses=None, data=None):
    """NTK drift ‖K(t) − K(0)‖_F / ‖K(0)‖_F ("trace" NTK) of one two-layer network under six losses, over time.

    Same network (A2, N(0, 1) init, ``activation``), same data (anchors x_n and positives x_n⁺ of
    :func:`contrastive_digits` ``(n)``, negatives for the contrastive losses, digit labels for the
    supervised loss), same lr, same record times, same NTK inputs (the first ``n_ntk`` anchors and positives):

    * "supervised_mse": (1/2n) Σ ‖f(x_n) − y_n‖², y_n one-hot labels (first Z classes; ``trainer.train_supervised``);
    * "barlow_twins":   ‖C − I‖_F² of the pairs (x_n, x_n⁺) (S1–S2; ``trainer.train_barlow``);
    * "simclr":         NT-Xent of the pairs (Chen et al. 2020, eq. 1; :func:`dynamics.losses.nt_xent`,
      temperature τ = ``temperature``);
    * "vicreg":         VICReg of the pairs (Bardes et al. 2022, eqs. 1–6; :func:`dynamics.losses.vicreg`,
      coefficients 25, 25, 1);
    * "contrastive_dot", "contrastive_cosine": the linear contrastive loss (A1, A6) with the dot product /
      cosine similarity (δ = ``delta``) on the triplets (:func:`train_contrastive`).

    Full-batch GD at ``lr`` for round(T/lr) steps, t = lr × step, the drift recorded at ``n_records`` evenly
    spaced steps from 0 to the last (``n_records=2``: t = 0 and T only).  Under the dot product the NTK can
    blow up in finite time (A Prop 10: P(t) ∝ (1 + β e^{8C√α t})/(1 − β e^{8C√α t}) diverges at
    t̄ = log(1/β)/(8C√α)); such a run stops at the first step whose weights or loss are not finite
    (``dynamics.trainer.NonFiniteError``): its drift is NaN from then on, and the run is replayed to
    record the drift at the last steps before that ("last_t", "last_drift").

    Parameters
    ----------
    widths : list of hidden widths M.
    T, lr : final time and learning rate.
    n, Z, n_ntk : anchors, outputs, NTK inputs per view (2 ``n_ntk`` NTK inputs).
    seeds : initialisation seeds (one network per width and seed, shared by the losses).
    activation, delta, temperature : of the network, of the cosine similarity, of NT-Xent.
    n_records : record points (>= 2).
    losses : names to run (default all of ``DRIFT_LOSSES``).
    data : a :class:`ContrastiveData` with labels instead of ``contrastive_digits(n)``.

    Returns
    -------
    dict with "widths" (W,), "seeds", "T", "lr", "losses" (the names run), "t" (R,) record times, and per
    loss name:

    * ``out[name]``: (W,) seed-mean drift at T (``inf`` where a seed stopped before T);
    * ``out["curves"][name]``: (W, S, R) drift at the record times, NaN from a run's first non-finite step on
        (0 at t = 0);
    * ``out["t_diverge"][name]``: (W, S) time of the first non-finite step (``inf`` if none by T);
    * ``out["last_t"][name]``, ``out["last_drift"][name]``: (W, S) the last time with a finite drift and that
        drift (the replayed steps just before divergence included; the final record otherwise).
    """
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
        raise TypeError(f"widths must be a list of widths (integers >= 1), got {type(widths).__name__}")
    widths = [check_positive_int(M, "widths") for M in widths]
    if len(widths) == 0:
        raise ValueError("widths must contain at least one width")
    T, lr = check_positive(T, "T"), check_positive(lr, "lr")
    Z = check_positive_int(Z, "Z")
    n_ntk = check_positive_int(n_ntk, "n_ntk")
    n_records = check_positive_int(n_records, "n_records", minimum=2)
    temperature = check_positive(temperature, "temperature")
    check_choice(activation, "activation", set(networks.ACTIVATIONS))
    seeds = [check_positive_int(s, "seeds", minimum=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must contain at least one seed")
    if losses is None:
        names = DRIFT_LOSSES
    else:
        if isinstance(losses, str):
            losses = [losses]
        names = tuple(check_choice(name, "losses", set(DRIFT_LOSSES)) for name in losses)
        if not names:
            raise ValueError("losses must name at least one loss")
    n_steps = max(1, round(T / lr))
    d = contrastive_digits(n) if data is None else check_contrastive_data(data)
    x, xp = d.anchors, d.partners[0]
    if d.labels is None:
        raise ValueError("data must carry labels for the supervised baseline")
    y = np.eye(max(Z, int(d.labels.max()) + 1))[d.labels][:, :Z]
    Xn = np.concatenate([x[:n_ntk], xp[:n_ntk]])
    ntk_fn = ntk.two_layer_ntk_fn(Xn, Xn, activation, output="trace")
    steps = np.unique(np.linspace(0, n_steps, n_records).round().astype(np.int64))
    t = lr * steps.astype(float)
    apply = _two_layer(activation)  # one object: every width, seed and call shares the compiled programs
    run_kw = dict(d=d, x=x, xp=xp, y=y, lr=lr, ntk_fn=ntk_fn, activation=activation, delta=delta,
                  temperature=temperature, apply=apply)

    W, S, R = len(widths), len(seeds), len(steps)
    curves = {k: np.full((W, S, R), np.nan) for k in names}
    t_div = {k: np.full((W, S), np.inf) for k in names}
    last_t = {k: np.full((W, S), np.nan) for k in names}
    last_drift = {k: np.full((W, S), np.nan) for k in names}
    for i, M in enumerate(widths):
        for j, s in enumerate(seeds):
            p0 = networks.init_two_layer(x.shape[1], M, Z, seed=int(s))
            for name in names:
                try:
                    rec_steps, drift = _drift_run(name, p0, steps=steps, **run_kw)
                except trainer.NonFiniteError as err:
                    t_div[name][i, j] = err.step * lr
                    # replay to the last finite step, recording the common steps before it and the steps just before
                    replay = np.union1d(steps[steps < err.step], np.arange(max(0, err.step - 5), err.step))
                    rec_steps, drift = _drift_run(name, p0, steps=replay, **run_kw)
                bad = ~np.isfinite(drift)
                if bad.any():  # the NTK (quadratic in the weights) can overflow before the weights do
                    rec_steps, drift = rec_steps[: int(np.argmax(bad))], drift[: int(np.argmax(bad))]
                on_grid = np.isin(steps, rec_steps)
                curves[name][i, j, on_grid] = drift[np.isin(rec_steps, steps)]
                if rec_steps.size:
                    last_t[name][i, j], last_drift[name][i, j] = lr * rec_steps[-1], drift[-1]
    final = {k: curves[k][:, :, -1].mean(axis=1) for k in names}  # NaN where a seed stopped before T
    at_T = {k: np.where(np.isfinite(v), v, np.inf) for k, v in final.items()}
    return {"widths": np.asarray(widths), "seeds": list(seeds), "T": T, "lr": lr, "losses": names, "t": t,
            **at_T, "curves": curves, "t_diverge": t_div, "last_t": last_t, "last_drift": last_drift}


def downstream_accuracy(train_repr, train_labels, test_repr, test_labels, *, C=1.0, max_iter=2000):
    """Test accuracy of a linear classifier (multinomial logistic regression) on representations (A Fig 5 right).

    Representations are standardised with the training statistics first (the scale of f differs by
    orders of magnitude between PCA readouts and trained networks).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    Xtr, Xte = as_matrix(train_repr, "train_repr"), as_matrix(test_repr, "test_repr")
    check_positive(C, "C")
    max_iter = check_positive_int(max_iter, "max_iter")
    if Xtr.ndim != 2 or Xte.ndim != 2 or Xtr.shape[1] != Xte.shape[1]:
        raise ValueError(f"train_repr and test_repr must be (n, Z) with the same Z, got {Xtr.shape} and {Xte.shape}")
    ytr, yte = np.asarray(train_labels), np.asarray(test_labels)
    for name, y in (("train_labels", ytr), ("test_labels", yte)):
        if np.iscomplexobj(y):
            raise TypeError(f"{name} must be real class labels, got a complex array")
    if ytr.shape != (Xtr.shape[0],) or yte.shape != (Xte.shape[0],):
        raise ValueError("train_labels and test_labels must have one label per row of the representations")
    scaler = StandardScaler().fit(Xtr)
    clf = LogisticRegression(C=C, max_iter=max_iter).fit(scaler.transform(Xtr), ytr)
    return float(clf.score(scaler.transform(Xte), yte))
