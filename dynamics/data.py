"""Positive pairs (x_i, x'_i) for Barlow Twins: augmented images and synthetic Gaussians.

Every builder returns two float64 arrays ``x, x_prime`` of shape (n, m), row i
holding the two views of pair i, ready for :func:`dynamics.barlow.cross_correlation`.
All randomness comes from ``np.random.default_rng(seed)``, so the same seed
gives bit-identical arrays.

* :func:`digits_pairs` -- scikit-learn's bundled 8x8 digits (no download),
  two random crops or two random shifts of each image.
* :func:`gaussian_pairs` -- a shared Gaussian latent plus independent noise
  per view, whose cross-correlation Γ has the known mean diag(spectrum).
* :func:`cifar10_pairs` -- two random crops of CIFAR-10 images read from local
  "python version" batch files (:func:`load_cifar10_batch`); nothing is
  downloaded, :func:`write_cifar10_batch` writes small files of that format.
* :func:`random_crops`, :func:`random_shifts` -- the augmentations themselves.

Image batches (n, H, W, C) in [0, 1] for the augmented deep-network runs (S §5, S App. D), whose
views :mod:`dynamics.augment` makes:

* :func:`load_images` -- ``"digits"``, ``"natural"``, ``"cifar10"`` or ``"stl10"`` by name.
* :func:`sample_images`, :func:`natural_image_crops` -- the two photographs bundled with
  scikit-learn and random crops of them (no download).
* :func:`load_stl10_binary`, :func:`write_stl10_binary` -- the STL-10 binary format.
"""

from __future__ import annotations

import functools
import os
import pickle
from dataclasses import dataclass

import numpy as np

from ._validation import (
    as_array,
    as_matrix,
    check_choice,
    check_pairs,
    check_positive,
    check_positive_int,
)
from .losses import check_alpha

__all__ = [
    "ContrastiveData",
    "random_crops",
    "random_shifts",
    "digits_images",
    "digits_pairs",
    "gaussian_pairs",
    "load_cifar10_batch",
    "write_cifar10_batch",
    "cifar10_pairs",
    "sample_images",
    "natural_image_crops",
    "load_stl10_binary",
    "write_stl10_binary",
    "load_images",
]


@dataclass(frozen=True)
class ContrastiveData:
    """The one data type of paired and contrastive SSL: anchors, each with Q partners and their signs.

    Positive pairs (x_i, x'_i) of Barlow Twins / SimCLR / VICReg are the case Q = 1, alpha = (+1,)
    (:meth:`pairs`); Esser et al.'s triplets (x, x⁺, x⁻) are Q = 2, alpha = (+1, −1) (:meth:`triplets`);
    Anil et al.'s general loss (A1) takes any Q.

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

    @classmethod
    def pairs(cls, x, x_prime, labels=None) -> "ContrastiveData":
        """Positive pairs: anchors ``x`` (N, D), each with its one positive ``x_prime`` (N, D)."""
        x = as_matrix(x, "x")
        x_prime = as_matrix(x_prime, "x_prime")
        if x_prime.shape != x.shape:
            raise ValueError(f"x_prime must have the shape of x {x.shape}, got {x_prime.shape}")
        return cls(x, x_prime[None], (1,), labels)

    @classmethod
    def triplets(cls, anchors, positives, negatives, labels=None) -> "ContrastiveData":
        """Triplets (x, x⁺, x⁻) of Esser et al. (E1): partners (positives, negatives), alpha = (+1, −1)."""
        arrays = [as_matrix(a, n) for a, n in ((anchors, "anchors"), (positives, "positives"), (negatives, "negatives"))]
        for a, n in zip(arrays[1:], ("positives", "negatives")):
            if a.shape != arrays[0].shape:
                raise ValueError(f"{n} must have the shape of anchors {arrays[0].shape}, got {a.shape}")
        return cls(arrays[0], np.stack(arrays[1:]), (1, -1), labels)

    @property
    def positives(self) -> np.ndarray:
        """The partners with alpha = +1, (Q₊, N, D)."""
        return self.partners[np.asarray(self.alpha) > 0]

    @property
    def negatives(self) -> np.ndarray:
        """The partners with alpha = −1, (Q₋, N, D)."""
        return self.partners[np.asarray(self.alpha) < 0]

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
        """Stacked inputs [anchors; partners_1; …; partners_Q], (N(1+Q), D): the order of :func:`dynamics.losses.contrastive_function_loss`."""
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

_CIFAR_SIDE = 32
_CIFAR_WIDTH = 3 * _CIFAR_SIDE * _CIFAR_SIDE  # 3072 bytes per image: R, G, B planes
_CIFAR_TRAIN_FILES = tuple(f"data_batch_{k}" for k in range(1, 6))


# ----------------------------------------------------------------------------- augmentations


def _check_images(images, name="images"):
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(
            f"{name} must have shape (N, H, W) or (N, H, W, C), got shape {images.shape}"
        )
    if not (np.issubdtype(images.dtype, np.number) or images.dtype == np.bool_):
        raise TypeError(f"{name} must be a numeric array, got dtype {images.dtype}")
    if np.issubdtype(images.dtype, np.inexact) and not np.all(np.isfinite(images)):
        bad = int(images.size - np.count_nonzero(np.isfinite(images)))
        raise ValueError(f"{name} must be finite, got {bad} non-finite entries (NaN or inf)")
    return images


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (e.g. np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    return rng


def _random_windows(images, size, rng):
    """One size x size window per image, top-left corner uniform over all valid positions."""
    n, h, w = images.shape[:3]
    top = rng.integers(0, h - size + 1, size=n)
    left = rng.integers(0, w - size + 1, size=n)
    offsets = np.arange(size)
    rows = (top[:, None] + offsets)[:, :, None]  # (n, size, 1)
    cols = (left[:, None] + offsets)[:, None, :]  # (n, 1, size)
    return images[np.arange(n)[:, None, None], rows, cols]


def random_crops(images, crop_size, rng):
    """One random square crop of each image.

    Random crops are the augmentation of S §4.4 and S App. D.1 (random 20 × 20 crops of CIFAR-10 images there).

    Parameters
    ----------
    images : (N, H, W) or (N, H, W, C) array
        Kept in its own dtype (no conversion).
    crop_size : int
        Side of the window, 1 <= crop_size <= min(H, W).
    rng : numpy.random.Generator
        Draws the top-left corner of each window uniformly among the
        (H - crop_size + 1) x (W - crop_size + 1) positions, independently per image.

    Returns
    -------
    (N, crop_size, crop_size) or (N, crop_size, crop_size, C) array, a copy.
    """
    images = _check_images(images)
    rng = _check_rng(rng)
    crop_size = check_positive_int(crop_size, "crop_size")
    limit = min(images.shape[1:3])
    if crop_size > limit:
        raise ValueError(f"crop_size must be <= {limit} (the image side), got {crop_size}")
    return _random_windows(images, crop_size, rng)


def random_shifts(images, max_shift, rng):
    """One random integer translation of each image, with zero fill.

    An alternative augmentation for the positive pairs whose cross-correlation is Γ (S4).

    The shift (dy, dx) of each image is uniform on {-max_shift, ..., max_shift}^2;
    pixels moved outside the frame are lost and vacated pixels are 0.  It is
    implemented as a same-size crop of the zero-padded image.

    Parameters
    ----------
    images : (N, H, W) or (N, H, W, C) array
    max_shift : int
        Largest shift along each axis, 0 <= max_shift < H (0 returns copies; a shift by H or
        more would leave a blank image, so it is rejected).
    rng : numpy.random.Generator

    Returns
    -------
    Array of the shape and dtype of ``images``.
    """
    images = _check_images(images)
    rng = _check_rng(rng)
    max_shift = check_positive_int(max_shift, "max_shift", minimum=0)
    h, w = images.shape[1:3]
    if h != w:
        raise ValueError(f"images must be square to shift, got H={h}, W={w}")
    if max_shift >= h:
        raise ValueError(f"max_shift must be < {h} (the image side): a shift by the whole side or more moves "
                         f"every pixel out of the frame and leaves a blank image, got {max_shift}")
    pad = [(0, 0), (max_shift, max_shift), (max_shift, max_shift)] + [(0, 0)] * (images.ndim - 3)
    return _random_windows(np.pad(images, pad), h, rng)


def _two_views(images, n, seed, augment, divisor):
    """Seeded choice of n images, two independent augmentations, flattened to float64 (n, m).

    Returns ``x, x_prime, order`` with ``order`` the indices of the chosen images.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(images.shape[0])[:n]
    chosen = images[order]
    x = augment(chosen, rng).reshape(n, -1).astype(np.float64)
    x_prime = augment(chosen, rng).reshape(n, -1).astype(np.float64)
    return x / divisor, x_prime / divisor, order


def center_pairs(x, x_prime):
    """Subtract the per-feature mean of all 2n views from both views.

    Without centring, the mean image dominates Γ as one huge eigenvalue, which
    forces a tiny learning rate for the remaining modes.  ``x, x_prime``: (n, m) views.
    """
    x, x_prime = check_pairs(x, x_prime)
    mu = 0.5 * (x.mean(axis=0) + x_prime.mean(axis=0))
    return x - mu, x_prime - mu


def _check_n(n, available, what):
    if n is None:
        return available
    n = check_positive_int(n, "n")
    if n > available:
        raise ValueError(f"n must be <= {available} (the number of {what}), got {n}")
    return n


# ----------------------------------------------------------------------------- digits


#: Largest shift of :func:`digits_pairs` (half the side of the 8 x 8 images).
_DIGITS_MAX_SHIFT = 4


@functools.lru_cache(maxsize=1)
def digits_images():
    """scikit-learn's bundled 8×8 digits (no download): ``(images (1797, 8, 8) float64, labels (1797,)
    int64)``, read-only arrays, loaded once per process.

    The images behind the built-in positive pairs (:func:`digits_pairs`, whose cross-correlation is Γ of S4).
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float64)
    labels = np.asarray(bunch.target, dtype=np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def digits_pairs(
    n=None,
    *,
    augmentation="crop",
    crop_size=6,
    max_shift=1,
    seed=0,
    scale=True,
    center=False,
    return_labels=False,
):
    r"""Positive pairs from scikit-learn's handwritten digits (1797 images, 8x8, values 0..16).

    The built-in stand-in for the CIFAR-10 pairs of S §4.4 (S Fig 1 A–B): their cross-correlation is $\Gamma = \frac{1}{2n}\sum_i (x_i x_i'^\top + x_i' x_i^\top)$ (S4).

    The data ship with scikit-learn (``sklearn.datasets.load_digits``), so
    nothing is downloaded.  ``n`` images are drawn without replacement by a
    seeded permutation, and each gives two views by independent augmentations:

    * ``"crop"``: a random ``crop_size`` x ``crop_size`` window, m = crop_size**2.
    * ``"shift"``: a random translation by (dy, dx) in [-max_shift, max_shift]^2
      with zero fill, m = 64.

    Parameters
    ----------
    n : int or None, default None
        Number of pairs, 1 <= n <= 1797; None takes all 1797 images.
    augmentation : {"crop", "shift"}, default "crop"
    crop_size : int, default 6
        Crop side, 1..8 (used by "crop" only).  The default gives m = 36.
    max_shift : int, default 1
        Largest shift per axis, 0..4 (used by "shift" only).  At most half the 8-pixel side: the
        digits fill the middle of the frame, and larger shifts move whole digits out of it
        (blank views: 0.5% of them at 5, 38% at 8), so they are rejected.
    seed : int, default 0
        Seed of ``np.random.default_rng``; the same seed gives bit-identical output.
    scale : bool, default True
        Divide pixel values by 16, mapping them to [0, 1].
    center : bool, default False
        Subtract the mean of all 2n views per feature (:func:`center_pairs`).
    return_labels : bool, default False
        Also return the digit (0..9) of each pair.

    Returns
    -------
    x, x_prime : (n, m) float64 arrays
    labels : (n,) int64 array, only if ``return_labels``
    """
    images, labels = digits_images()
    n = _check_n(n, images.shape[0], "digit images")
    check_choice(augmentation, "augmentation", {"crop", "shift"})
    seed = check_positive_int(seed, "seed", minimum=0)
    if augmentation == "crop":
        crop_size = check_positive_int(crop_size, "crop_size")
        if crop_size > 8:
            raise ValueError(f"crop_size must be <= 8 (the digit image side), got {crop_size}")

        def augment(imgs, rng):
            return random_crops(imgs, crop_size, rng)

    else:
        max_shift = check_positive_int(max_shift, "max_shift", minimum=0)
        if max_shift > _DIGITS_MAX_SHIFT:
            raise ValueError(f"max_shift must be <= {_DIGITS_MAX_SHIFT} (half the 8-pixel digit side): larger "
                             f"shifts move whole digits out of the frame and give blank views, got {max_shift}")

        def augment(imgs, rng):
            return random_shifts(imgs, max_shift, rng)

    x, x_prime, order = _two_views(images, n, seed, augment, 16.0 if scale else 1.0)
    if center:
        x, x_prime = center_pairs(x, x_prime)
    if return_labels:
        return x, x_prime, labels[order].copy()
    return x, x_prime


# ----------------------------------------------------------------------------- Gaussian


def gaussian_pairs(n, m, *, spectrum=None, noise=0.1, seed=0):
    r"""Synthetic pairs sharing a Gaussian latent: x = z + noise·ε, x' = z + noise·ε'.

    Pairs with a known cross-correlation (S4): $\mathbb{E}[\Gamma] = \operatorname{diag}(\text{spectrum})$.

    z_i ~ N(0, diag(spectrum)) in R^m is common to both views; ε_i, ε'_i ~ N(0, I_m)
    are independent.  The noise is uncorrelated across views, so the expected
    cross-correlation is E[Γ] = E[(xᵀx' + x'ᵀx) / 2n] = diag(spectrum), with
    fluctuations of order 1/sqrt(n).

    Parameters
    ----------
    n : int
        Number of pairs, >= 1.
    m : int
        Dimension, >= 1.
    spectrum : (m,) array of non-negative finite numbers, optional
        Latent variances, i.e. the eigenvalues of E[Γ].  Default: geometric
        decay ``2.0 ** -np.arange(m)`` = (1, 1/2, 1/4, ...), so the modes are
        learned on well-separated time scales.
    noise : float, default 0.1
        Standard deviation of the per-view noise, >= 0.
    seed : int, default 0
        Seed of ``np.random.default_rng``.

    Returns
    -------
    x, x_prime : (n, m) float64 arrays
    """
    n = check_positive_int(n, "n")
    m = check_positive_int(m, "m")
    noise = check_positive(noise, "noise", allow_zero=True)
    seed = check_positive_int(seed, "seed", minimum=0)
    if spectrum is None:
        spectrum = 2.0 ** -np.arange(m)
    spectrum = as_array(spectrum, "spectrum", ndim=1)
    if spectrum.shape[0] != m:
        raise ValueError(f"spectrum must have length m = {m}, got length {spectrum.shape[0]}")
    if np.any(spectrum < 0):
        raise ValueError(f"spectrum must be non-negative (variances), got min {spectrum.min():.3g}")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, m)) * np.sqrt(spectrum)
    x = z + noise * rng.standard_normal((n, m))
    x_prime = z + noise * rng.standard_normal((n, m))
    return x, x_prime


# ----------------------------------------------------------------------------- CIFAR-10


class _CifarFileError(ValueError, pickle.UnpicklingError):
    """A file that is not a readable CIFAR-10 batch: a ValueError (bad input), also an UnpicklingError."""


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds NumPy arrays, so a batch file cannot run arbitrary code."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise _CifarFileError(
                f"refusing to load {module}.{name}: a CIFAR-10 batch holds only arrays, lists and bytes"
            )
        return super().find_class(module, name)


def load_cifar10_batch(path):
    """Read one CIFAR-10 "python version" batch file (e.g. ``data_batch_1``).

    CIFAR-10 is the data of S §4.4 (S Fig 1 A–B) and S App. D.1.

    The file is a Python-2 pickle of a dict whose ``b"data"`` is a uint8 array
    (N, 3072) -- per image the 1024 red, then green, then blue values, each a
    32x32 image in row-major order -- and whose ``b"labels"`` is a list of N
    ints in 0..9.  Only NumPy arrays and builtin containers are unpickled;
    any other object in the file, and a file that is not a pickle at all (garbage,
    truncated), raises a ``ValueError`` naming the file (it is also a
    ``pickle.UnpicklingError``).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    images : (N, 32, 32, 3) uint8 array, channels last (R, G, B)
    labels : (N,) int64 array
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"CIFAR-10 batch file not found: {path!r}")
    with open(path, "rb") as f:
        try:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        except _CifarFileError as exc:
            raise _CifarFileError(f"{path!r}: {exc}") from None
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError,
                KeyError, UnicodeDecodeError, OverflowError) as exc:  # garbage/truncated files fail anywhere
            raise _CifarFileError(
                f"{path!r} is not a CIFAR-10 batch file (a Python pickle): {type(exc).__name__}: {exc}"
            ) from exc
    if not isinstance(batch, dict) or not {b"data", b"labels"} <= batch.keys():
        found = sorted(batch.keys(), key=repr) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(
            f"{path!r} is not a CIFAR-10 batch: expected a dict with keys b'data' and b'labels', got {found}"
        )
    data = np.asarray(batch[b"data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _CIFAR_WIDTH:
        raise ValueError(
            f"{path!r}: expected b'data' to be a uint8 array of shape (N, {_CIFAR_WIDTH}), "
            f"got {data.dtype} array of shape {data.shape}"
        )
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if labels.shape != (data.shape[0],):
        raise ValueError(
            f"{path!r}: expected b'labels' to hold {data.shape[0]} labels (one per image), "
            f"got shape {labels.shape}"
        )
    images = data.reshape(-1, 3, _CIFAR_SIDE, _CIFAR_SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def write_cifar10_batch(path, images, labels):
    """Write images and labels as a CIFAR-10 "python version" batch file.

    CIFAR-10 is the data of S §4.4 (S Fig 1 A–B) and S App. D.1; this writer makes small files in its format for tests.

    The inverse of :func:`load_cifar10_batch` (round trips are bit-identical),
    meant for making small test files in the real format: a protocol-2 pickle
    of ``{b"batch_label", b"labels", b"data", b"filenames"}`` with ``b"data"``
    a uint8 (N, 3072) array in channel-major order.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; overwritten if it exists.
    images : (N, 32, 32, 3) array of integers in 0..255, channels last (R, G, B)
    labels : (N,) array of integers
    """
    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[1:] != (_CIFAR_SIDE, _CIFAR_SIDE, 3):
        raise ValueError(f"images must have shape (N, 32, 32, 3), got shape {arr.shape}")
    if arr.size and (np.any(arr != np.round(arr)) or arr.min() < 0 or arr.max() > 255):
        raise ValueError("images must hold integers in 0..255")
    lab = np.asarray(labels)
    if lab.shape != (arr.shape[0],) or (lab.size and not np.issubdtype(lab.dtype, np.integer)):
        raise ValueError(
            f"labels must be {arr.shape[0]} integers (one per image), got {lab.dtype} array of shape {lab.shape}"
        )
    data = np.ascontiguousarray(arr.astype(np.uint8).transpose(0, 3, 1, 2).reshape(-1, _CIFAR_WIDTH))
    batch = {
        b"batch_label": b"written by dynamics.data.write_cifar10_batch",
        b"labels": [int(v) for v in lab],
        b"data": data,
        b"filenames": [f"image_{i}.png".encode() for i in range(arr.shape[0])],
    }
    with open(os.fspath(path), "wb") as f:
        pickle.dump(batch, f, protocol=2)


def _load_cifar10(path):
    """All images and labels at ``path``: one batch file, or data_batch_1..5 in a directory."""
    path = os.fspath(path)
    if os.path.isdir(path):
        files = [os.path.join(path, name) for name in _CIFAR_TRAIN_FILES]
        files = [f for f in files if os.path.isfile(f)]
        if not files:
            raise FileNotFoundError(
                f"no CIFAR-10 batch files (data_batch_1 .. data_batch_5) in directory {path!r}"
            )
    else:
        files = [path]
    parts = [load_cifar10_batch(f) for f in files]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def cifar10_pairs(path, n=500, *, crop_size=20, seed=0, scale=True, return_labels=False):
    """Positive pairs from local CIFAR-10 files: two random crops of each image.

    The pairs of S §4.4 (S Fig 1 A–B: n = 500 CIFAR-10 pairs) from local files; their cross-correlation is Γ (S4).

    ``n`` images are drawn without replacement by a seeded permutation; each
    gives two independent random ``crop_size`` x ``crop_size`` x 3 crops,
    flattened pixel-major with channels last, so m = 3 * crop_size**2.

    Parameters
    ----------
    path : str or os.PathLike
        A batch file (see :func:`load_cifar10_batch`), or a directory holding
        any of ``data_batch_1`` .. ``data_batch_5``, which are concatenated in
        that order.  Nothing is downloaded.
    n : int or None, default 500
        Number of pairs, at most the number of images; None takes all.
    crop_size : int, default 20
        Crop side, 1..32.  The default gives m = 1200.
    seed : int, default 0
        Seed of ``np.random.default_rng``; the same seed gives bit-identical output.
    scale : bool, default True
        Divide pixel values by 255, mapping them to [0, 1].
    return_labels : bool, default False
        Also return the class (0..9) of each pair.

    Returns
    -------
    x, x_prime : (n, 3 * crop_size**2) float64 arrays
    labels : (n,) int64 array, only if ``return_labels``
    """
    crop_size = check_positive_int(crop_size, "crop_size")
    if crop_size > _CIFAR_SIDE:
        raise ValueError(f"crop_size must be <= {_CIFAR_SIDE} (the CIFAR-10 image side), got {crop_size}")
    seed = check_positive_int(seed, "seed", minimum=0)
    if n is not None:
        n = check_positive_int(n, "n")
    images, labels = _load_cifar10(path)
    n = _check_n(n, images.shape[0], f"images at {os.fspath(path)!r}")

    def augment(imgs, rng):
        return random_crops(imgs, crop_size, rng)

    x, x_prime, order = _two_views(images, n, seed, augment, 255.0 if scale else 1.0)
    if return_labels:
        return x, x_prime, labels[order].copy()
    return x, x_prime


# ----------------------------------------------------------------------------- image batches (n, H, W, C)


#: Side of an STL-10 image and bytes per image in its binary files (3 x 96 x 96 uint8).
_STL_SIDE = 96
_STL_BYTES = 3 * _STL_SIDE * _STL_SIDE  # 27648
#: Number of crops :func:`load_images` takes from the sample photographs when ``n`` is None.
_NATURAL_DEFAULT_N = 1024
_IMAGE_DATASETS = ("digits", "natural", "cifar10", "stl10")


@functools.lru_cache(maxsize=1)
def sample_images():
    """The two photographs shipped with scikit-learn (``sklearn.datasets.load_sample_images``:
    china.jpg and flower.jpg, decoded by Pillow; nothing is downloaded).

    Natural photographs for the augmentation pipeline of S §6 and App. D (a small stand-in for STL-10).

    Returns a read-only float64 array (2, 427, 640, 3) with values in [0, 1] (uint8 / 255), loaded
    once per process.
    """
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    images = np.stack([np.asarray(p, dtype=np.float64) for p in photos]) / 255.0
    images.setflags(write=False)
    return images


def natural_image_crops(n, size=32, *, seed=0, return_labels=False, downsample=1):
    """``n`` random ``size x size`` crops of the photographs of :func:`sample_images`.

    A natural-image data set that needs no download, for the deep-network runs when STL-10
    (S §5, S App. D) is not on disk.  With ``rng = np.random.default_rng(seed)`` each crop draws its
    photograph ``rng.integers(0, 2, n)``, then its top row and left column uniformly among the valid
    positions (in that order, vectorised over the n crops); the same seed gives the same crops.

    Parameters
    ----------
    n : int, >= 1
    size : int, default 32
        Crop side, 1 <= size <= 427 // downsample.
    seed : int, default 0
    return_labels : bool, default False
        Also return the index (0: china.jpg, 1: flower.jpg) of each crop's photograph.
    downsample : int, default 1
        Average the photographs over ``downsample x downsample`` blocks first, so a crop covers a
        ``downsample`` times larger part of the scene.

    Returns
    -------
    crops : (n, size, size, 3) float64 array in [0, 1]
    labels : (n,) int64 array, only if ``return_labels``
    """
    n = check_positive_int(n, "n")
    size = check_positive_int(size, "size")
    seed = check_positive_int(seed, "seed", minimum=0)
    downsample = check_positive_int(downsample, "downsample")
    photos = sample_images()
    if downsample > 1:
        k, h, w, c = photos.shape
        hh, ww = h // downsample, w // downsample
        photos = photos[:, :hh * downsample, :ww * downsample].reshape(
            k, hh, downsample, ww, downsample, c).mean(axis=(2, 4))
    h, w = photos.shape[1:3]
    if size > min(h, w):
        raise ValueError(f"size must be <= {min(h, w)} (the side of the sample photographs, 427 // downsample), "
                         f"got {size}")
    rng = np.random.default_rng(seed)
    source = rng.integers(0, photos.shape[0], size=n)
    top = rng.integers(0, h - size + 1, size=n)
    left = rng.integers(0, w - size + 1, size=n)
    offsets = np.arange(size)
    rows = (top[:, None] + offsets)[:, :, None]
    cols = (left[:, None] + offsets)[:, None, :]
    crops = photos[source[:, None, None], rows, cols]
    if return_labels:
        return crops, source.astype(np.int64)
    return crops


def _check_file(path, name):
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(path).__name__}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{name}: file not found: {path!r}")
    return path


def _stl10_count(images_path):
    nbytes = os.path.getsize(images_path)
    if nbytes == 0 or nbytes % _STL_BYTES:
        raise ValueError(f"images_path {images_path!r} is not an STL-10 binary images file: its size "
                         f"{nbytes} bytes is not a positive multiple of {_STL_BYTES} (3 x 96 x 96 bytes per image)")
    return nbytes // _STL_BYTES


def load_stl10_binary(images_path, labels_path=None, *, indices=None):
    """Read STL-10 images (and labels) from the binary files of Coates et al. (``train_X.bin``,
    ``train_y.bin``, ``test_X.bin``, ``unlabeled_X.bin``, ...), the data of S §5 / S App. D.

    The images file is uint8, 3 x 96 x 96 bytes per image: per image the red, green and blue planes,
    each stored column-major (the row index varies fastest), so the file reshapes to (n, 3, 96, 96)
    and ``transpose(0, 3, 2, 1)`` gives (n, H, W, C).  The labels file holds one uint8 in 1..10 per
    image, returned as 0..9.  The file is read through a memory map: with ``indices`` only those
    images are read (the 100 000 unlabelled images take 2.8 GB).

    Parameters
    ----------
    images_path : str or os.PathLike
        Its size must be a positive multiple of 27648 bytes.
    labels_path : str or os.PathLike, optional
        One byte per image, values 1..10.
    indices : sequence of int, optional
        Which images to read (in that order); default all.

    Returns
    -------
    images : (n, 96, 96, 3) uint8 array
    labels : (n,) int64 array in 0..9, only if ``labels_path`` is given
    """
    images_path = _check_file(images_path, "images_path")
    count = _stl10_count(images_path)
    raw = np.memmap(images_path, dtype=np.uint8, mode="r", shape=(count, 3, _STL_SIDE, _STL_SIDE))
    if indices is None:
        idx = np.arange(count)
    else:
        idx = np.asarray(indices)
        if idx.ndim != 1 or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
            raise TypeError(f"indices must be a 1-D sequence of integers, got {idx.dtype} array of shape {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= count):
            raise ValueError(f"indices must lie in 0..{count - 1} (the images in images_path), got "
                             f"{idx.min()}..{idx.max()}")
    images = np.ascontiguousarray(np.asarray(raw[idx]).transpose(0, 3, 2, 1))
    del raw
    if labels_path is None:
        return images
    labels_path = _check_file(labels_path, "labels_path")
    labels = np.fromfile(labels_path, dtype=np.uint8)
    if labels.shape[0] != count:
        raise ValueError(f"labels_path {labels_path!r} holds {labels.shape[0]} labels, but images_path holds "
                         f"{count} images (one uint8 label per image)")
    if labels.size and (labels.min() < 1 or labels.max() > 10):
        raise ValueError(f"labels_path {labels_path!r} must hold STL-10 labels in 1..10, got "
                         f"{labels.min()}..{labels.max()}")
    return images, labels[idx].astype(np.int64) - 1


def write_stl10_binary(images_path, images, labels_path=None, labels=None):
    """Write images (and labels) in the STL-10 binary format read by :func:`load_stl10_binary`
    (round trips are bit-identical); meant for small test files.

    STL-10 is the data set of S §6 and App. D; this writer makes small files in its format for tests.

    Parameters
    ----------
    images_path : str or os.PathLike
        Destination of the images (overwritten).
    images : (n, 96, 96, 3) array of integers in 0..255, channels last
    labels_path : str or os.PathLike, optional
        Destination of the labels; needed when ``labels`` is given.
    labels : (n,) integers in 0..9, optional
        Written as uint8 1..10.
    """
    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[1:] != (_STL_SIDE, _STL_SIDE, 3) or arr.shape[0] < 1:
        raise ValueError(f"images must have shape (n, 96, 96, 3) with n >= 1, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)) \
            or np.any(arr != np.round(arr)) or arr.min() < 0 or arr.max() > 255:
        raise ValueError("images must hold integers in 0..255")
    if (labels is None) != (labels_path is None):
        raise ValueError("labels and labels_path go together: give both or neither")
    if labels is not None:
        lab = np.asarray(labels)
        if lab.shape != (arr.shape[0],) or not np.issubdtype(lab.dtype, np.integer) \
                or lab.min() < 0 or lab.max() > 9:
            raise ValueError(f"labels must be {arr.shape[0]} integers in 0..9 (one per image), got {lab.dtype} "
                             f"array of shape {lab.shape}")
    np.ascontiguousarray(arr.astype(np.uint8).transpose(0, 3, 2, 1)).tofile(os.fspath(images_path))
    if labels is not None:
        (lab + 1).astype(np.uint8).tofile(os.fspath(labels_path))


def _stl10_files(path, labels_path):
    """The images file and labels file (or None) of :func:`load_images` ``("stl10", path=...)``."""
    if isinstance(path, (str, bytes, os.PathLike)) and os.path.isdir(os.fspath(path)):
        directory = os.fspath(path)
        path = os.path.join(directory, "train_X.bin")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"path: no STL-10 file train_X.bin in directory {directory!r}")
        if labels_path is None and os.path.isfile(os.path.join(directory, "train_y.bin")):
            labels_path = os.path.join(directory, "train_y.bin")
    path = _check_file(path, "path")
    if labels_path is None:
        head, tail = os.path.split(path)
        if tail.endswith("_X.bin") and os.path.isfile(os.path.join(head, tail[:-6] + "_y.bin")):
            labels_path = os.path.join(head, tail[:-6] + "_y.bin")
    return path, labels_path


def _resize_images(images, size, batch=512):
    """Antialiased bilinear resize of (n, H, W, C) to (n, size, size, C): the whole image as the box of
    :func:`dynamics.augment.crop_and_resize`, in batches."""
    from .augment import crop_and_resize

    n, h, w = images.shape[:3]
    out = []
    for start in range(0, n, batch):
        chunk = images[start:start + batch]
        m = chunk.shape[0]
        boxes = (np.zeros(m), np.zeros(m), np.full(m, float(h)), np.full(m, float(w)))
        out.append(np.asarray(crop_and_resize(chunk, boxes, size)))
    return np.concatenate(out)


def load_images(name, *, n=None, size=None, seed=0, path=None, labels_path=None, dtype=np.float64,
                downsample=1):
    """An image batch (n, H, W, C) in [0, 1] with labels, for the augmented deep-network runs (S §5).

    * ``"digits"``: scikit-learn's 8x8 digits (:func:`digits_images`) / 16, C = 1, labels 0..9.
    * ``"natural"``: crops of side ``size`` (default 32) of the two sample photographs
      (:func:`natural_image_crops`, ``downsample`` passed on), C = 3, label = photograph; ``n``
      defaults to 1024.
    * ``"cifar10"``: CIFAR-10 "python version" batches at ``path`` (a file, or a directory of
      data_batch_1..5; :func:`load_cifar10_batch`) / 255, labels 0..9.
    * ``"stl10"``: STL-10 binary files (:func:`load_stl10_binary`) / 255: ``path`` is the images file
      or a directory holding train_X.bin (and train_y.bin); ``labels_path`` defaults to the
      ``*_y.bin`` beside a ``*_X.bin``; without labels (unlabeled_X.bin) the labels are -1.

    For the file and digit sets, ``n`` images (default all) are chosen by
    ``np.random.default_rng(seed).permutation``; ``size`` (default the native side) resizes them with an
    antialiased bilinear kernel (:func:`dynamics.augment.crop_and_resize` of the whole image).

    Returns
    -------
    images : (n, H, W, C) array of ``dtype`` (float64 or float32) in [0, 1]
    labels : (n,) int64 array
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {list(_IMAGE_DATASETS)}, got {type(name).__name__}")
    check_choice(name, "name", _IMAGE_DATASETS)
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    seed = check_positive_int(seed, "seed", minimum=0)
    if n is not None:
        n = check_positive_int(n, "n")
    if size is not None:
        size = check_positive_int(size, "size")
    if name != "natural" and downsample != 1:
        raise ValueError(f"downsample applies to name='natural' only, got {downsample!r} for {name!r}")
    if name in ("cifar10", "stl10") and path is None:
        raise ValueError(f"path is needed for name={name!r}: the local data files (nothing is downloaded)")
    if name != "stl10" and labels_path is not None:
        raise ValueError(f"labels_path applies to name='stl10' only, got it for {name!r}")

    if name == "natural":
        images, labels = natural_image_crops(_NATURAL_DEFAULT_N if n is None else n, 32 if size is None else size,
                                             seed=seed, return_labels=True, downsample=downsample)
        return _checked_images(images.astype(dtype, copy=False)), labels

    rng = np.random.default_rng(seed)
    if name == "digits":
        digits, labels = digits_images()
        order = rng.permutation(digits.shape[0])[:_check_n(n, digits.shape[0], "digit images")]
        images, labels = digits[order][..., None] / 16.0, labels[order].copy()
    elif name == "cifar10":
        raw, labels = _load_cifar10(path)
        order = rng.permutation(raw.shape[0])[:_check_n(n, raw.shape[0], f"images at {os.fspath(path)!r}")]
        images, labels = raw[order] / 255.0, labels[order]
    else:
        images_path, labels_path = _stl10_files(path, labels_path)
        count = _stl10_count(images_path)
        order = rng.permutation(count)[:_check_n(n, count, f"images in {images_path!r}")]
        if labels_path is None:
            raw, labels = load_stl10_binary(images_path, indices=order), np.full(order.shape[0], -1, np.int64)
        else:
            raw, labels = load_stl10_binary(images_path, labels_path, indices=order)
        images = raw / 255.0
    if size is not None and size != images.shape[1]:
        images = _resize_images(images, size)
    return _checked_images(images.astype(dtype, copy=False)), labels


def _checked_images(images, name="images"):
    """A finite 4-D batch with values in [0, 1] (round-off of the resize clipped)."""
    images = _check_images(images, name)
    if images.ndim != 4:
        raise ValueError(f"{name} must have shape (n, H, W, C), got shape {images.shape}")
    return np.clip(images, 0.0, 1.0)
