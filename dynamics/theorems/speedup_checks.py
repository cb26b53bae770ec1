"""Checks of Simon et al.'s App. G speed-up proposals (S App. G, S52, S Fig 9): modified modewise
losses, their aligned-init dynamics and their stable learning rates, each compared with an
independently integrated ODE or with gradient descent."""
