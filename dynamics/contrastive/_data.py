"""Contrastive data sets: anchors with positive and negative partners (A §3 "Numerical simulation").

The paper's setup: 1000 MNIST points, one positive per point (a random resized crop of the same
image) and one negative (a random other point).  Here the images are scikit-learn's bundled
8×8 digits (:func:`dynamics.data.digits_pairs`, no download): the anchor is one random crop, the
positive a second random crop of the same image, the negative a crop of a different, randomly
chosen image.  Images not used as anchors are held out for downstream classification (A Fig 5).
"""

from __future__ import annotations

import functools

import numpy as np

from .. import data as _data
from ..data import ContrastiveData
from .._validation import check_positive_int


@functools.lru_cache(maxsize=16)
def contrastive_digits(n: int = 1000, *, crop_size: int = 6, seed: int = 0) -> ContrastiveData:
    """Triplets (anchor, positive, negative) from the digits, α = (+1, −1) (A §3 setup, MNIST → 8×8 digits).

    All 1797 images are permuted by ``seed``; the first ``n`` are anchors (first random crop), their
    positives the second random crop of the same image, their negatives the second crop of another
    anchor image chosen uniformly at random (never the anchor's own image).  The remaining images
    (first crop) are held out with their labels.  Inputs are centred by the mean of the anchors and
    positives and scaled so that their mean squared norm is 1 (NTK entries O(1)).

    Cached: the same arguments return the same (read-only) object.
    """
    n = check_positive_int(n, "n")
    if n >= 1797:
        raise ValueError(f"n must be < 1797 (the number of digit images, some kept for held-out data), got {n}")
    x, xp, labels = _data.digits_pairs(n=None, crop_size=crop_size, seed=seed, return_labels=True)
    rng = np.random.default_rng([seed, 1])
    shift = rng.integers(1, n, size=n)  # j = (i + shift) mod n != i
    neg = (np.arange(n) + shift) % n
    anchors, pos, negatives = x[:n], xp[:n], xp[:n][neg]
    mu = 0.5 * (anchors.mean(axis=0) + pos.mean(axis=0))
    scale = np.sqrt(np.mean(np.sum(np.concatenate([anchors - mu, pos - mu]) ** 2, axis=1)))

    def tf(a):
        out = (a - mu) / scale
        out.setflags(write=False)
        return out

    return ContrastiveData(tf(anchors), np.stack([tf(pos), tf(negatives)]), (1, -1), labels[:n].copy(),
                           tf(x[n:]), labels[n:].copy())


def prop10_data(C: float = 1.0, n: int = 4, seed: int = 0) -> ContrastiveData:
    """Scalar triplets (D = 1) whose data constant C = (1/N) Σ_n x_n (x_n⁺ − x_n⁻) equals ``C`` (A Prop 10).

    x_n are random scalars, x_n⁺ = x_n (a perfect positive) and x_n⁻ = −x_n; then C = (2/N) Σ x_n²,
    and the x_n are rescaled to give the requested C > 0.  (Prop 10 only needs C > 0 large enough:
    the data set "exists"; this is one such set.)
    """
    from .._validation import check_positive

    C = check_positive(C, "C")
    n = check_positive_int(n, "n")
    seed = check_positive_int(seed, "seed", minimum=0)
    x = np.random.default_rng(seed).standard_normal(n) + 0.5
    x = x * np.sqrt(C / (2.0 * np.mean(x**2)))
    return ContrastiveData(x[:, None], np.stack([x[:, None], -x[:, None]]), (1, -1))


def data_constant(d: ContrastiveData) -> float:
    """C = (1/N) Σ_n Σ_q α_q x_n x_{n,q} for scalar inputs (D = 1): the linear loss is −C M S² (A Prop 10)."""
    if not isinstance(d, ContrastiveData):
        raise TypeError(f"d must be a ContrastiveData (e.g. prop10_data()), got {type(d).__name__}")
    if d.dim != 1:
        raise ValueError(f"data_constant needs scalar inputs (D = 1), got D = {d.dim}")
    a = np.asarray(d.alpha, float)[:, None]
    return float(np.mean(np.sum(a * d.partners[:, :, 0] * d.anchors[None, :, 0], axis=0)))
