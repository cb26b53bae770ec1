"""Contrastive data sets: anchors with positive and negative partners (A §3 "Numerical simulation").

The paper's setup: 1000 MNIST points, one positive per point (a random resized crop of the same
image) and one negative (a random other point).  Here the images are scikit-learn's bundled
8×8 digits (:func:`dynamics.data.digits_pairs`, no download): the anchor is one random crop, the
positive a second random crop of the same image, the negative a crop of a different, randomly
chosen image.  Images not used as anchors are held out for downstream classification (A Fig 5).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .. import data as _data
from .._validation import as_array, as_matrix, check_positive_int
from ._loss import check_alpha


@dataclass(frozen=True)
class ContrastiveData:
    """Anchors and partners for the loss (A1).

    Attributes
    ----------
    anchors : (N, D) inputs x_n.
    partners : (Q, N, D) inputs x_{n,q}.
    alpha : tuple of Q signs, +1 positive pair, −1 negative pair.
    labels : (N,) digit labels of the anchors (or None).
    heldout, heldout_labels : held-out inputs (N', D) and labels for downstream tasks (or None).
    """

    anchors: np.ndarray
    partners: np.ndarray
    alpha: tuple
    labels: np.ndarray | None = None
    heldout: np.ndarray | None = None
    heldout_labels: np.ndarray | None = None

    def __post_init__(self):
        a = as_array(self.anchors, "anchors", ndim=2)
        p = as_array(self.partners, "partners", ndim=3)
        alpha = check_alpha(self.alpha)
        if a.shape[0] == 0 or a.shape[1] == 0:
            raise ValueError(f"anchors must have at least one row and one feature (N, D >= 1), got shape {a.shape}")
        if p.shape[1:] != a.shape or p.shape[0] != len(alpha):
            raise ValueError(f"partners must have shape (Q, N, D) = ({len(alpha)}, {a.shape[0]}, {a.shape[1]}) to "
                             f"match anchors {a.shape} and alpha (Q = {len(alpha)}), got {p.shape}")
        _check_labels(self.labels, a.shape[0], "labels", "anchors")
        if self.heldout is not None:
            h = as_matrix(self.heldout, "heldout")
            if h.shape[1] != a.shape[1]:
                raise ValueError(f"heldout must have D = {a.shape[1]} features like anchors, got shape {h.shape}")
            _check_labels(self.heldout_labels, h.shape[0], "heldout_labels", "heldout")
            object.__setattr__(self, "heldout", h)
        elif self.heldout_labels is not None:
            raise ValueError("heldout_labels needs heldout (the held-out inputs); give both or neither")
        object.__setattr__(self, "anchors", a)
        object.__setattr__(self, "partners", p)
        object.__setattr__(self, "alpha", alpha)

    @property
    def n_anchors(self) -> int:
        return self.anchors.shape[0]

    @property
    def n_partners(self) -> int:
        return len(self.alpha)

    @property
    def dim(self) -> int:
        return self.anchors.shape[1]

    @property
    def inputs(self) -> np.ndarray:
        """Stacked inputs [anchors; partners_1; …; partners_Q], (N(1+Q), D): the order of :func:`function_loss`."""
        return np.concatenate([self.anchors, self.partners.reshape(-1, self.dim)])

    def subset(self, n: int) -> ContrastiveData:
        """The first ``n`` anchors with their partners (held-out data kept)."""
        n = check_positive_int(n, "n")
        if n > self.n_anchors:
            raise ValueError(f"n must be <= {self.n_anchors} (the number of anchors), got {n}")
        labels = None if self.labels is None else self.labels[:n]
        return ContrastiveData(self.anchors[:n], self.partners[:, :n], self.alpha, labels, self.heldout,
                               self.heldout_labels)


def _check_labels(labels, n, name, rows):
    if labels is None:
        return
    if np.shape(labels) != (n,):
        raise ValueError(f"{name} must have one label per row of {rows}, shape ({n},), got shape {np.shape(labels)}")
    arr = np.asarray(labels)
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real class labels, got a complex array")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got NaN or inf")


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
