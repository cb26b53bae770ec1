"""1. Theory vs training on the S linear model (digits pairs, d = 10).

Time to predict the whole trajectory with ``small_init_prediction`` (closed form)
and with ``gradient_flow`` (integrated S6), against the reference trainer
reaching the same time t = 1.5 τ_d at the agreement the ``result_4_6_small_init``
check accepts.  Targets: closed form >= 1000x, flow >= 20x faster than training.  Data, σ, lr, seed
and length are those of the check's run (:mod:`dynamics.experiments.stepwise`, Simon et al. 2023 §4.4).
"""

from __future__ import annotations

import numpy as np

from dynamics import barlow, trainer
from dynamics.experiments.stepwise import (
    D,
    SMALL_INIT_LR,
    SMALL_INIT_RECORDS,
    SMALL_INIT_SEED,
    STEPWISE_SIGMA,
    digits_setup,
    small_init_steps,
)

from ._harness import Row, best_time, timed


def run(quick: bool = False) -> list[Row]:
    x, xp, Gamma = digits_setup()
    sigma, lr = STEPWISE_SIGMA, SMALL_INIT_LR
    W0 = trainer.init_linear(D, x.shape[1], sigma, seed=SMALL_INIT_SEED)
    n_steps = 1000 if quick else small_init_steps(sigma, lr)
    # timed here (the cached ``digits_small_init_run`` would not be): the same run as the check's
    (_, hist), t_train = timed(lambda: trainer.train_barlow_linear(x, xp, W0=W0, lr=lr, n_steps=n_steps,
                                                                     n_records=SMALL_INIT_RECORDS,
                                                                     record_weights=True))
    t = hist.t
    t_closed = best_time(lambda: barlow.small_init_prediction(W0, Gamma, t), repeat=5)
    barlow.gradient_flow(W0, Gamma, t, rtol=1e-8, atol=1e-14)  # compile
    t_flow = best_time(lambda: barlow.gradient_flow(W0, Gamma, t, rtol=1e-8, atol=1e-14), repeat=3)
    W_pred = barlow.small_init_prediction(W0, Gamma, t)
    W_flow = barlow.gradient_flow(W0, Gamma, t, rtol=1e-8, atol=1e-14)
    scale = np.linalg.norm(barlow.top_spectral_solution(Gamma, D))
    agree_train = np.linalg.norm(hist["W"] - W_pred, axis=(1, 2)).max() / scale
    agree_flow = np.linalg.norm(W_flow - W_pred, axis=(1, 2)).max() / scale
    details = {"n_steps": n_steps, "t_end": float(t[-1]), "seconds_train": t_train, "seconds_closed_form": t_closed,
               "seconds_flow": t_flow, "sup_err_train_vs_theory": agree_train, "sup_err_flow_vs_theory": agree_flow,
               "n": x.shape[0], "m": x.shape[1], "d": D}
    return [
        Row("theory_vs_training", f"closed form vs trainer ({n_steps} steps, n={x.shape[0]}, m={x.shape[1]})",
            t_train / t_closed, 1000.0, details=details),
        Row("theory_vs_training", "gradient_flow (diffrax, compiled) vs trainer", t_train / t_flow, 20.0,
            details=details),
    ]
