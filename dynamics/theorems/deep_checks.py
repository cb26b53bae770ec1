"""Checks for Barlow Twins, SimCLR and VICReg trained as practitioners do (Simon et al. 2023, "S", §6 and
App. D–E).

The runs are those of :mod:`dynamics.experiments.deep` (shared with the figures): in fast mode the
one-hidden-layer MLP of S App. D.1, in full mode (``-m slow``, ``verify`` without ``--fast``) a small residual
network with a batch-normalised projection head, on random 6 × 6 crops of standardised digits, d = 4,
mini-batches of 256 fresh views, SGD with momentum (:func:`dynamics.ssl.train_ssl`).  Each check is a private function whose keyword arguments are its
ingredients (the eigenvalue records, the hidden records, the kernel); the registered check forwards them and
``tests/test_check_mutations_deep.py`` passes wrong ones.

What these checks can and cannot show: stepwise learning is checked with a measure that can fail
(:func:`dynamics.experiments.deep.stepwise_score`, the fraction of eigenvalues that take a step separated by
plateaus from their neighbours') and as a trend over the init scale α, on one seed, one small data set, a
small network and d = 4 — not the paper's ResNet-50 on STL-10 with d = 512 / 128 / 50.  Which losses a check
gates depends on the mode (:func:`gated_losses`); the others are reported in the details.  S Table 1 is
checked as alignment far above chance, not against the paper's values (different network and data).
"""

from __future__ import annotations

import numpy as np

from ..experiments import deep
from ._registry import Outcome, register


def _identity_records(t, eigenvalues):
    return t, eigenvalues


def _identity_kernel(K):
    return K


# ---------------------------------------------------------------------------- steps from small init

#: The losses whose stepwise behaviour is gated on the MLP (fast mode): all three (with mini-batches of 256;
#: with 64 the SGD noise hid the steps of SimCLR and VICReg).
GATED_LOSSES = deep.DEEP_LOSSES
#: The losses gated on the residual network (full mode): all three.
GATED_LOSSES_RESNET = deep.DEEP_LOSSES


#: The losses the hidden-step check gates on the residual network: Barlow Twins and SimCLR.  VICReg's hidden
#: representation goes through a transient in its first steps (its top eigenvalue rises some hundredfold and
#: falls back) and shows no later steps at the times of the embedding's; reported, not gated.
GATED_HIDDEN_RESNET = ("barlow_twins", "simclr")


def gated_losses(fast: bool, hidden: bool = False) -> tuple:
    """The losses whose stepwise checks gate in this mode: :data:`GATED_LOSSES` on the MLP (fast),
    :data:`GATED_LOSSES_RESNET` on the residual network (full). S Fig 1 C–D, Fig 2 C–F."""
    if deep.deep_setup(fast)["network"] == "mlp":
        return GATED_LOSSES
    return GATED_HIDDEN_RESNET if hidden else GATED_LOSSES_RESNET
#: The smallest stepwise score each gated loss must reach from small init: at least one of the d = 4
#: directions learned in a step isolated by plateaus (standard init: none).  At this scale consecutive steps
#: often crowd (their rates are close), so not every step is separated.
SMALL_INIT_MIN_SCORE = 0.2  # scores are multiples of 1/d = 0.25: >= 0.2 is one step or more


def _small_init_spectra(fast, losses, records=_identity_records):
    """``{loss: (run, t, eigenvalues)}``: the small-init run of each loss and its embedding records, passed
    through ``records`` (the ingredient the mutation tests replace)."""
    out = {}
    for loss in losses:
        run = deep.deep_run(loss, "small", fast=fast)
        t, lam = records(np.asarray(run.t), np.asarray(run.eigenvalues))
        out[loss] = (run, t, lam)
    return out


def _outcome(metric, fast, details, conditions=None, gated=None) -> Outcome:
    """The :class:`Outcome` of a deep check: ``details`` with the ``gated`` losses (those the metric is the
    minimum over) and the settings of the runs."""
    gated = gated_losses(fast) if gated is None else gated
    return Outcome(float(metric), conditions=dict(conditions or {}),
                   details={"gated_losses": tuple(gated), **details, "setup": deep.deep_setup(fast)})


def _check_small_init_steps(fast, *, records=_identity_records) -> Outcome:
    spectra = _small_init_spectra(fast, deep.DEEP_LOSSES, records)
    scores = {loss: deep.stepwise_score(t, lam) for loss, (_, t, lam) in spectra.items()}
    separated = {loss: deep.separated_steps(t, lam).tolist() for loss, (_, t, lam) in spectra.items()}
    loss_drop = {loss: [float(run.loss[0]), float(run.loss[-1])] for loss, (run, _, _) in spectra.items()}
    details = {"stepwise_score": scores, "separated_steps": separated, "loss_first_last": loss_drop,
               "min_score": SMALL_INIT_MIN_SCORE}
    conditions = {"loss_decreases_for_every_loss": all(b < a for a, b in loss_drop.values())}
    return _outcome(min(scores[l] for l in gated_losses(fast)), fast, details, conditions)


@register("deep_small_init_steps", paper="S", reference="S Fig 1 C–D, Fig 2 C–F, App. D.2",
          description="small-init networks learn their embedding directions in separated steps (BT, SimCLR, VICReg)",
          compares="the recorded embedding eigenvalues of each small-init run vs the definition of a separated "
                   "step (start below 0.1 of its plateau level, rise above 0.5 of it and stay; neighbours grown before / after)",
          tolerance=SMALL_INIT_MIN_SCORE, sense=">=",
          gate="stepwise score >= 0.2 (a multiple of 1/4: one separated step of four or more) for BT, SimCLR and VICReg; the loss "
               "falls for all three (loss_decreases_for_every_loss)")
def check_small_init_steps(fast: bool = True, **ingredients) -> Outcome:
    """Stepwise score (:func:`dynamics.experiments.deep.stepwise_score`) of each loss from small init.
    S Fig 1 C–D, Fig 2 C–F.

    Metric: min over the three losses of the score (a multiple of 1/4); passes if >= 0.2 and the loss decreased.  Can detect:
    eigenvalues that rise together or start grown, a time axis scrambled (records shuffled in time).
    Cannot detect: steps finer than the record spacing; the paper's larger d.
    """
    return _check_small_init_steps(fast, **ingredients)


# ---------------------------------------------------------------------------- trend with α

TREND_MIN_GAP = 0.2  # scores are multiples of 0.25: a gap >= 0.2 is one step or more


def _check_alpha_trend(fast, *, records=_identity_records) -> Outcome:
    s = deep.deep_setup(fast)
    alphas = sorted(set(s["alphas"]) | {s["alpha_standard"]} | set(s["alpha_small"].values()))
    scores, gaps, monotone = {}, {}, {}
    for loss in deep.DEEP_LOSSES:
        row = []
        for a in alphas:
            run = deep.alpha_run(loss, a, fast=fast)
            row.append(deep.stepwise_score(*records(np.asarray(run.t), np.asarray(run.eigenvalues))))
        scores[loss] = dict(zip([float(a) for a in alphas], row))
        small = scores[loss][float(s["alpha_small"][loss])]
        gaps[loss] = small - scores[loss][float(s["alpha_standard"])]
        sweep = [scores[loss][float(a)] for a in alphas if a >= s["alpha_small"][loss]]
        monotone[loss] = bool(np.all(np.diff(sweep) <= 0))
    details = {"alphas": [float(a) for a in alphas], "stepwise_score": scores, "small_minus_standard": gaps,
               "monotone_nonincreasing": monotone, "min_gap": TREND_MIN_GAP}
    conditions = {"barlow_twins_score_nonincreasing_in_alpha": monotone["barlow_twins"]}
    return _outcome(min(gaps[l] for l in gated_losses(fast)), fast, details, conditions)


@register("deep_stepwise_trend_alpha", paper="S", reference="S Fig 2–3, App. D.2 (small vs standard init)",
          description="the smaller the init, the more stepwise: small init beats standard init (BT, SimCLR, VICReg)",
          compares="stepwise score of runs from α = 0.1, 0.3, 1 (MLP) or 0.02, 0.1, 1 (ResNet), same data, network and batches, Barlow Twins, SimCLR and VICReg",
          tolerance=TREND_MIN_GAP, sense=">=",
          gate="score(small) − score(standard) >= 0.2 (one step of four or more) for the gated losses (as deep_small_init_steps); BT's score does not increase with α "
               "(barlow_twins_score_nonincreasing_in_alpha; the others' reported)")
def check_alpha_trend(fast: bool = True, **ingredients) -> Outcome:
    """Stepwise score vs the init scale α for each loss.
    S Figs 1–4.

    Metric: min over the three losses of score(α_small) − score(α = 1); passes if >= 0.2 and the score is
    non-increasing in α from α_small up.  Can detect: a measure that does not see the init scale, runs that
    are equally stepwise at every α.  Cannot detect: non-monotonicity between the swept α.
    """
    return _check_alpha_trend(fast, **ingredients)


# ---------------------------------------------------------------------------- hidden steps (S Fig 5)

HIDDEN_LOG_TIME_TOL = 0.5
HIDDEN_MIN_FRACTION = 0.4  # fractions of d = 4 steps: >= 0.4 is at least two of four


def _check_hidden_steps(fast, *, hidden_records=_identity_records) -> Outcome:
    fractions, times = {}, {}
    for loss, (run, t, lam) in _small_init_spectra(fast, deep.DEEP_LOSSES).items():
        _, hid = hidden_records(t, np.asarray(run.hidden_eigenvalues))
        _, t_e, t_h = deep.step_time_mismatch(t, lam, hid)
        if t_e.size == 0 or t_h.size == 0:
            fractions[loss] = 0.0
        else:
            dist = np.abs(np.log(t_e)[:, None] - np.log(t_h)[None, :]).min(axis=1)
            fractions[loss] = float(np.mean(dist <= HIDDEN_LOG_TIME_TOL))
        times[loss] = {"embedding_steps": t_e.tolist(), "hidden_steps": t_h.tolist()}
    details = {"matched_fraction": fractions, "step_times": times, "log_time_tolerance": HIDDEN_LOG_TIME_TOL}
    gated = gated_losses(fast, hidden=True)
    return _outcome(min(fractions[l] for l in gated), fast, details, gated=gated)


@register("deep_hidden_steps", paper="S", reference="S Fig 5, App. D.4",
          description="steps of the hidden representation coincide with the embedding steps",
          compares="times of the embedding steps vs the step times of the top-d eigenvalues of the hidden "
                   "representation's covariance, same small-init runs (BT, SimCLR, VICReg)",
          tolerance=HIDDEN_MIN_FRACTION, sense=">=",
          gate="for BT, SimCLR and VICReg (fast, MLP) or BT and SimCLR (full, ResNet) at least two of the four embedding steps (fraction >= 0.4) have a hidden step within a "
               "factor e^0.5 in t")
def check_hidden_steps(fast: bool = True, **ingredients) -> Outcome:
    """Fraction of embedding steps (time at half their final value) with a hidden step within |Δ log t| <= 0.5.
    S Fig 5.

    Metric: min over the three losses; passes if >= 0.4 (two of four).  Barlow Twins' first step (the mean of the embeddings,
    learned through the output bias) leaves the hidden layer unchanged and has no hidden counterpart.
    Can detect: hidden records from another time (time-reversed), hidden spectra without steps.
    """
    return _check_hidden_steps(fast, **ingredients)


# ---------------------------------------------------------------------------- S Table 1

TABLE1_MIN_RATIO = 5.0


def _check_table1(fast, *, kernel_fn=_identity_kernel) -> Outcome:
    recs = deep.table_records(fast)
    recs = {loss: {"embeddings": r["embeddings"], "kernel": kernel_fn(np.asarray(r["kernel"]))}
            for loss, r in recs.items()}
    tables = deep.alignment_tables(fast, records=recs)
    chance = tables["chance"]
    ratios = {loss: row["a_exp_th"] / chance for loss, row in tables["table1"].items()}
    ntk_ratios = {loss: row["a_exp_ntk"] / chance for loss, row in tables["table1"].items()}
    details = {"table1": tables["table1"], "table2": {f"{a}/{b}": v for (a, b), v in tables["table2"].items()},
               "chance": chance, "a_exp_th_over_chance": ratios, "a_exp_ntk_over_chance": ntk_ratios,
               "paper_table1": deep.PAPER_TABLE1}
    conditions = {"ntk_alignment_above_twice_chance": min(ntk_ratios.values()) >= 2.0}
    return _outcome(min(ratios.values()), fast, details, conditions, gated=deep.DEEP_LOSSES)


@register("deep_table1_alignment", paper="S", reference="S Table 1, App. E (S49), App. D.5",
          description="embeddings after training align with the kernel prediction from their own eNTK, far above chance",
          compares="a(P_exp, P_th): the trained networks' embeddings on 2n views vs S49 with the scalar eNTK after "
                   "training; chance d/(2n)",
          tolerance=TABLE1_MIN_RATIO, sense=">=",
          gate="a(P_exp, P_th) >= 5 × chance for every loss; a(P_exp, P_NTK) >= 2 × chance "
               "(ntk_alignment_above_twice_chance)")
def check_table1(fast: bool = True, **ingredients) -> Outcome:
    """S Table 1 at this scale.  Metric: min over losses of a(P_exp, P_th) / (d / 2n); passes if >= 5.

    Can detect: a kernel unrelated to the network (a random PSD kernel gives about chance), embeddings from
    another network.  Cannot detect: the gap to the paper's numbers (other network, data, d, n).
    """
    return _check_table1(fast, **ingredients)
