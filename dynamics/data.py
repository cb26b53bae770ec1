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
    int64)``, read-only arrays, loaded once per process."""
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
    """Positive pairs from scikit-learn's handwritten digits (1797 images, 8x8, values 0..16).

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
    """Synthetic pairs sharing a Gaussian latent: x = z + noise·ε, x' = z + noise·ε'.

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
