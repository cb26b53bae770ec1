"""Image augmentations for joint-embedding SSL in pure JAX: crops, flips and colour jitter.

The views of SimCLR (arXiv:2002.05709, App. A), which Barlow Twins (arXiv:2103.03230) and VICReg
(arXiv:2105.04906) reuse and which S §5 / S App. D keep for the deep runs on STL-10:

* :func:`random_resized_crop` -- a box of random area fraction ``scale`` and aspect ratio ``ratio``
  (torchvision's ``RandomResizedCrop``: ten tries, then a central fallback), resampled to
  ``size x size`` with an antialiased bilinear kernel (``jax.image.scale_and_translate``).
* :func:`random_crop` -- a ``size x size`` window at a uniform position (S App. D.1: 20 x 20 crops).
* :func:`random_flip` -- horizontal flip with probability ``p``.
* :func:`color_jitter` -- brightness, contrast and saturation factors drawn uniformly in
  ``[max(0, 1 - s), 1 + s]`` and applied in the fixed order brightness -> contrast -> saturation,
  values clipped to [0, 1] after each (torchvision's ``ColorJitter`` formulas; its random order of the
  three and the hue jitter are not applied).  Grayscale images (C == 1) get brightness and contrast.
* :func:`random_grayscale` -- ITU-R 601 luma replicated over the channels, with probability ``p``.

Every function is pure and key-based: ``f(key, images, ...)`` with ``images`` a float batch
(n, H, W, C), one independent draw per image, jittable (sizes and strengths are static Python
numbers), vmappable, and in the dtype of ``images`` (float32 stays float32).  The random
quantities are public (:func:`crop_positions`, :func:`resized_crop_boxes`, :func:`flip_mask`,
:func:`jitter_factors`), so a view can be recomputed from its key.

:class:`Augment` bundles a pipeline (crop -> flip -> jitter -> grayscale) in a frozen, hashable
dataclass that can be a ``jax.jit`` static argument; :func:`two_views` draws the two views of a
positive pair from split keys.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ._validation import check_finite_if_concrete, check_positive, check_positive_int

__all__ = [
    "crop_positions",
    "random_crop",
    "resized_crop_boxes",
    "crop_and_resize",
    "random_resized_crop",
    "flip_mask",
    "random_flip",
    "jitter_factors",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
    "grayscale",
    "color_jitter",
    "random_grayscale",
    "Augment",
    "make_augment",
    "two_views",
]

#: ITU-R 601-2 luma weights (R, G, B), as torchvision's ``rgb_to_grayscale``.
LUMA = (0.299, 0.587, 0.114)
#: Tries of :func:`resized_crop_boxes` before the central fallback (torchvision's value).
_TRIES = 10


# ----------------------------------------------------------------------------- validation


def _check_key(key, name="key"):
    if isinstance(key, (numbers.Number, np.random.Generator)) or key is None:
        raise TypeError(f"{name} must be a JAX random key (jax.random.key(seed) or jax.random.PRNGKey(seed)), "
                        f"got {type(key).__name__}")
    return key


def _check_images(images, name="images"):
    """A float batch (n, H, W, C) with n, H, W, C >= 1 (finite when concrete)."""
    if not hasattr(images, "shape") or not hasattr(images, "dtype"):
        images = jnp.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"{name} must have shape (n, H, W, C), got {images.ndim}-D array with shape "
                         f"{tuple(images.shape)}")
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise TypeError(f"{name} must be a float array with values in [0, 1] (e.g. uint8 / 255), got dtype "
                        f"{images.dtype}")
    if min(images.shape) < 1:
        raise ValueError(f"{name} must have n, H, W, C >= 1, got shape {tuple(images.shape)}")
    check_finite_if_concrete(images, name)
    return jnp.asarray(images)


def _check_size(size, name="size"):
    return check_positive_int(size, name)


def _check_interval(value, name, *, lower_open=0.0, upper=None):
    """A pair (lo, hi) of finite numbers with lower_open < lo <= hi (<= upper)."""
    try:
        lo, hi = value
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (low, high) of numbers, got {value!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= lower_open or hi < lo \
            or (upper is not None and hi > upper):
        bound = f" <= {upper:g}" if upper is not None else ""
        raise ValueError(f"{name} must satisfy {lower_open:g} < low <= high{bound}, got {value!r}")
    return lo, hi


def _check_probability(p, name="p"):
    p = check_positive(p, name, allow_zero=True)
    if p > 1:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
    return p


def _check_strength(s, name):
    return check_positive(s, name, allow_zero=True)


def _check_shape(height, width):
    return check_positive_int(height, "height"), check_positive_int(width, "width")


# ----------------------------------------------------------------------------- crops


def crop_positions(key, n, height, width, size):
    """Top-left corners of n random ``size x size`` windows in a ``height x width`` image.

    The random crops of S App. D.1 (and SimCLR's pipeline, Chen et al., arXiv:2002.05709).

    ``top ~ U{0, ..., height - size}`` and ``left ~ U{0, ..., width - size}``, independent per
    image: ``top = floor(u_top (height - size + 1))``, ``left = floor(u_left (width - size + 1))`` with
    ``(u_top, u_left) = jax.random.uniform(key, (2, n), float32)`` (one draw, cheap to compile).

    Returns ``(top, left)``, two int32 arrays (n,).
    """
    _check_key(key)
    n = check_positive_int(n, "n")
    height, width = _check_shape(height, width)
    size = _check_size(size)
    if size > min(height, width):
        raise ValueError(f"size must be <= {min(height, width)} (the image side, H = {height}, W = {width}), "
                         f"got {size}")
    return _crop_positions(key, n, height, width, size)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _crop_positions(key, n, height, width, size):
    u_top, u_left = jax.random.uniform(key, (2, n), jnp.float32)
    return _uniform_index(u_top, height - size + 1), _uniform_index(u_left, width - size + 1)


def _uniform_index(u, count):
    """floor(u count) for u in [0, 1): uniform on {0, ..., count - 1} (clipped against round-off)."""
    return jnp.minimum(jnp.floor(u * count).astype(jnp.int32), count - 1)


def random_crop(key, images, size):
    """One random ``size x size`` window of each image, independent positions (:func:`crop_positions`).

    The random crops of S App. D.1 (20 × 20 crops of CIFAR-10 there).

    Parameters
    ----------
    key : JAX random key
    images : (n, H, W, C) float array
    size : int, 1 <= size <= min(H, W)

    Returns
    -------
    (n, size, size, C) array of the dtype of ``images``: ``images[i, top_i:top_i+size, left_i:left_i+size]``.
    """
    return _random_crop(key, _check_images(images), size)


@functools.partial(jax.jit, static_argnums=2)
def _random_crop(key, images, size):
    n, h, w, c = images.shape
    top, left = crop_positions(key, n, h, w, size)

    def one(img, t, l):
        return jax.lax.dynamic_slice(img, (t, l, jnp.zeros_like(t)), (size, size, c))

    return jax.vmap(one)(images, top, left)


def resized_crop_boxes(key, n, height, width, *, scale=(0.25, 1.0), ratio=(3 / 4, 4 / 3)):
    """Random crop boxes of SimCLR's random resized crop (torchvision ``RandomResizedCrop.get_params``).

    Part of the augmentations of S §6, App. D (SimCLR's pipeline, Chen et al., arXiv:2002.05709).

    For each image, up to ten candidates are drawn: an area fraction ``s ~ U(scale)`` and an aspect
    ratio ``r = exp(u)``, ``u ~ U(log ratio)``, giving ``w = round(sqrt(s H W r))`` and
    ``h = round(sqrt(s H W / r))``.  The first candidate that fits (1 <= h <= H, 1 <= w <= W) is
    kept and placed uniformly, ``top ~ U{0..H-h}``, ``left ~ U{0..W-w}``; when none fits, the
    central crop of the whole image with its aspect ratio clamped into ``ratio`` is used.
    All the random numbers are one draw ``jax.random.uniform(key, (n, 22), float32)`` (area fractions,
    log-ratios, then the two positions), whatever the image dtype, so a key gives the same boxes for
    float32 and float64 images.

    Returns ``(top, left, h, w)``, four int32 arrays (n,).
    """
    _check_key(key)
    n = check_positive_int(n, "n")
    height, width = _check_shape(height, width)
    lo, hi = _check_interval(scale, "scale", upper=1.0)
    r_lo, r_hi = _check_interval(ratio, "ratio")
    return _resized_crop_boxes(key, n, height, width, (lo, hi), (r_lo, r_hi))


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _resized_crop_boxes(key, n, height, width, scale, ratio):
    (lo, hi), (r_lo, r_hi) = scale, ratio
    u = jax.random.uniform(key, (n, 2 * _TRIES + 2), jnp.float32)
    area = float(height * width)
    frac = lo + (hi - lo) * u[:, :_TRIES]
    aspect = jnp.exp(math.log(r_lo) + (math.log(r_hi) - math.log(r_lo)) * u[:, _TRIES:2 * _TRIES])
    w = jnp.round(jnp.sqrt(area * frac * aspect)).astype(jnp.int32)
    h = jnp.round(jnp.sqrt(area * frac / aspect)).astype(jnp.int32)
    fits = (w >= 1) & (w <= width) & (h >= 1) & (h <= height)
    first = jnp.argmax(fits, axis=1)
    any_fits = jnp.any(fits, axis=1)
    # central fallback (static): the whole image, aspect ratio clamped into [r_lo, r_hi]
    in_ratio = width / height
    if in_ratio < r_lo:
        w_fb, h_fb = width, int(round(width / r_lo))
    elif in_ratio > r_hi:
        h_fb, w_fb = height, int(round(height * r_hi))
    else:
        w_fb, h_fb = width, height
    h_fb, w_fb = max(1, min(h_fb, height)), max(1, min(w_fb, width))
    rows = jnp.arange(n)
    h = jnp.where(any_fits, h[rows, first], h_fb)
    w = jnp.where(any_fits, w[rows, first], w_fb)
    top = _uniform_index(u[:, 2 * _TRIES], height - h + 1)
    left = _uniform_index(u[:, 2 * _TRIES + 1], width - w + 1)
    top = jnp.where(any_fits, top, (height - h_fb) // 2)
    left = jnp.where(any_fits, left, (width - w_fb) // 2)
    return top, left, h, w


def crop_and_resize(images, boxes, size):
    """Resample the box ``(top, left, h, w)`` of each image to ``size x size`` (bilinear, antialiased).

    Part of the augmentations of S §6, App. D (SimCLR's random resized crop, Chen et al., arXiv:2002.05709).

    Output pixel (i, j) of image k is centred at the input point
    ``(top_k + (i + 1/2) h_k / size - 1/2, left_k + (j + 1/2) w_k / size - 1/2)`` and is the
    average of the input pixels with the separable triangle weights
    ``max(0, 1 - |x - x_j| / max(h_k / size, 1))`` (the kernel widened when downsampling, i.e.
    antialiased), normalised over the pixels of the image: ``jax.image.scale_and_translate`` with
    ``method="linear"``, scale ``size / h`` and translation ``-top size / h`` per axis.  Edge samples
    therefore see the pixels just outside the box, as in TensorFlow's ``crop_and_resize``; a box of
    side ``size`` at integer position is the exact sub-window.

    Parameters
    ----------
    images : (n, H, W, C) float array
    boxes : tuple of four (n,) arrays ``(top, left, h, w)`` (integers or floats, h, w > 0)
    size : int, output side

    Returns
    -------
    (n, size, size, C) array of the dtype of ``images``.
    """
    return _crop_and_resize(_check_images(images), boxes, _check_size(size))


@functools.partial(jax.jit, static_argnums=2)
def _crop_and_resize(images, boxes, size):
    try:
        top, left, h, w = (jnp.asarray(b).astype(images.dtype) for b in boxes)
    except (TypeError, ValueError):
        raise TypeError("boxes must be a tuple of four (n,) arrays (top, left, h, w)") from None
    n, _, _, c = images.shape
    if any(b.shape != (n,) for b in (top, left, h, w)):
        raise ValueError(f"boxes must be four arrays of shape (n,) = ({n},), got shapes "
                         f"{[tuple(b.shape) for b in (top, left, h, w)]}")

    def one(img, t, l, hh, ww):
        scale = jnp.stack([size / hh, size / ww])
        translation = jnp.stack([-t * size / hh, -l * size / ww])
        return jax.image.scale_and_translate(img, (size, size, c), (0, 1), scale, translation,
                                             method="linear", antialias=True)

    return jax.vmap(one)(images, top, left, h, w)


def random_resized_crop(key, images, size, *, scale=(0.25, 1.0), ratio=(3 / 4, 4 / 3)):
    """SimCLR's random resized crop (arXiv:2002.05709, App. A): a random box of area fraction in
    ``scale`` and aspect ratio in ``ratio`` (:func:`resized_crop_boxes`), resampled to ``size x size``
    (:func:`crop_and_resize`).

    With ``scale=(1, 1)``, ``ratio=(1, 1)`` and a square image of side ``size`` the box is the whole
    image and the result is the image itself.

    Returns (n, size, size, C) in the dtype of ``images``.
    """
    return _random_resized_crop(key, _check_images(images), _check_size(size), scale, ratio)


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _random_resized_crop(key, images, size, scale, ratio):
    n, h, w, _ = images.shape
    boxes = resized_crop_boxes(key, n, h, w, scale=scale, ratio=ratio)
    return _crop_and_resize(images, boxes, size)


# ----------------------------------------------------------------------------- flips


def flip_mask(key, n, p=0.5):
    """Which of n images are flipped: ``jax.random.bernoulli(key, p, (n,))`` (bool (n,)).

    Part of the augmentations of S §6, App. D (SimCLR's pipeline, Chen et al., arXiv:2002.05709).
    """
    _check_key(key)
    n = check_positive_int(n, "n")
    return _flip_mask(key, n, _check_probability(p))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _flip_mask(key, n, p):
    return jax.random.bernoulli(key, p, (n,))


def random_flip(key, images, p=0.5):
    """Horizontal flip (``images[i, :, ::-1]``) of each image with probability ``p`` (:func:`flip_mask`).

    Part of the augmentations of S §6, App. D (SimCLR's pipeline, Chen et al., arXiv:2002.05709).

    Returns an array of the shape and dtype of ``images``.
    """
    return _random_flip(key, _check_images(images), p)


@functools.partial(jax.jit, static_argnums=2)
def _random_flip(key, images, p):
    mask = flip_mask(key, images.shape[0], p)
    return jnp.where(mask[:, None, None, None], images[:, :, ::-1], images)


# ----------------------------------------------------------------------------- colour


def jitter_factors(key, n, *, brightness=0.4, contrast=0.4, saturation=0.4, dtype=jnp.float32):
    """Colour-jitter factors of n images: ``(b, c, s)``, each (n,) of ``dtype``.

    Part of the augmentations of S §6, App. D (SimCLR's colour jitter, Chen et al., arXiv:2002.05709).

    A strength ``x`` gives factors uniform on ``[max(0, 1 - x), 1 + x]`` (torchvision's
    ``ColorJitter``); strength 0 gives factors exactly 1.  ``b, c, s`` are the affine images of the
    three rows of ``jax.random.uniform(key, (3, n), dtype)``.
    """
    _check_key(key)
    n = check_positive_int(n, "n")
    strengths = [_check_strength(brightness, "brightness"), _check_strength(contrast, "contrast"),
                 _check_strength(saturation, "saturation")]
    try:
        dtype = jnp.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a floating dtype such as jnp.float32, got {dtype!r}") from None
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a floating dtype such as jnp.float32, got {dtype}")
    return _jitter_factors(key, n, tuple(strengths), dtype)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _jitter_factors(key, n, strengths, dtype):
    u = jax.random.uniform(key, (3, n), dtype)
    out = []
    for row, s in zip(u, strengths):
        lo, hi = max(0.0, 1.0 - s), 1.0 + s
        out.append(jnp.ones((n,), dtype) if s == 0 else lo + (hi - lo) * row)
    return tuple(out)


def _factor(factor, images, name):
    f = jnp.asarray(factor, images.dtype)
    if f.ndim == 0:
        f = jnp.broadcast_to(f, images.shape[:1])
    if f.shape != images.shape[:1]:
        raise ValueError(f"{name} must be a number or one factor per image, shape ({images.shape[0]},), "
                         f"got shape {tuple(f.shape)}")
    check_finite_if_concrete(f, name)
    return f[:, None, None, None]


def grayscale(images):
    """Per-pixel luma (n, H, W, 1): ``0.299 R + 0.587 G + 0.114 B`` for C == 3, the image for C == 1.

    Used by the random grayscale of S §6, App. D (SimCLR, Chen et al., arXiv:2002.05709): $g = 0.299 R + 0.587 G + 0.114 B$.
    """
    images = _check_images(images)
    _check_color_channels(images, "grayscale")
    return _gray(images)


def _check_color_channels(images, what):
    c = images.shape[-1]
    if c not in (1, 3):
        raise ValueError(f"images must have C = 1 or 3 channels for {what}, got C = {c}")


def _gray(images):
    if images.shape[-1] == 1:
        return images
    return jnp.sum(images * jnp.asarray(LUMA, images.dtype), axis=-1, keepdims=True)


def adjust_brightness(images, factor):
    r"""``clip(b x, 0, 1)`` per image (``factor``: a number or (n,)).

    Colour jitter of S §6, App. D (SimCLR, Chen et al., arXiv:2002.05709): $x \mapsto \operatorname{clip}(b\,x, 0, 1)$.
    """
    images = _check_images(images)
    return _brightness(images, _factor(factor, images, "factor"))


def adjust_contrast(images, factor):
    r"""``clip(c x + (1 - c) m, 0, 1)`` with ``m`` the mean luma of each image (:func:`grayscale`).

    Colour jitter of S §6, App. D (SimCLR, Chen et al., arXiv:2002.05709): $x \mapsto \operatorname{clip}(c\,x + (1 - c)\,\bar m, 0, 1)$.
    """
    images = _check_images(images)
    _check_color_channels(images, "contrast")
    return _contrast(images, _factor(factor, images, "factor"))


def adjust_saturation(images, factor):
    r"""``clip(s x + (1 - s) g, 0, 1)`` with ``g`` the luma of each pixel; identity for C == 1.

    Colour jitter of S §6, App. D (SimCLR, Chen et al., arXiv:2002.05709): $x \mapsto \operatorname{clip}(s\,x + (1 - s)\,g, 0, 1)$.
    """
    images = _check_images(images)
    _check_color_channels(images, "saturation")
    return _saturation(images, _factor(factor, images, "factor"))


def _brightness(images, f):
    return jnp.clip(images * f, 0, 1)


def _contrast(images, f):
    mean = jnp.mean(_gray(images), axis=(1, 2, 3), keepdims=True)
    return jnp.clip(f * images + (1 - f) * mean, 0, 1)


def _saturation(images, f):
    if images.shape[-1] == 1:
        return images
    return jnp.clip(f * images + (1 - f) * _gray(images), 0, 1)


def color_jitter(key, images, *, brightness=0.4, contrast=0.4, saturation=0.4):
    """SimCLR's colour distortion without hue (arXiv:2002.05709, App. A; torchvision ``ColorJitter``).

    Factors ``(b, c, s)`` from :func:`jitter_factors`, applied in the fixed order
    brightness -> contrast -> saturation (:func:`adjust_brightness`, :func:`adjust_contrast`,
    :func:`adjust_saturation`), each clipped to [0, 1].  A strength of 0 skips that step; grayscale
    images (C == 1) get brightness and contrast only.  Contrast and saturation need C in {1, 3}.

    Returns an array of the shape and dtype of ``images``.
    """
    images = _check_images(images)
    strengths = (_check_strength(brightness, "brightness"), _check_strength(contrast, "contrast"),
                 _check_strength(saturation, "saturation"))
    if strengths[1] > 0 or strengths[2] > 0:
        _check_color_channels(images, "contrast/saturation jitter")
    return _color_jitter(key, images, *strengths)


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _color_jitter(key, images, brightness, contrast, saturation):
    b, c, s = jitter_factors(key, images.shape[0], brightness=brightness, contrast=contrast,
                             saturation=saturation, dtype=images.dtype)
    if brightness > 0:
        images = _brightness(images, b[:, None, None, None])
    if contrast > 0:
        images = _contrast(images, c[:, None, None, None])
    if saturation > 0:
        images = _saturation(images, s[:, None, None, None])
    return images


def random_grayscale(key, images, p=0.2):
    """SimCLR's random grayscale: each image replaced by its luma on every channel with probability
    ``p`` (mask :func:`flip_mask` ``(key, n, p)``); identity for C == 1.

    Part of the augmentations of S §6, App. D (Chen et al., arXiv:2002.05709).
    """
    images = _check_images(images)
    _check_color_channels(images, "grayscale")
    return _random_grayscale(key, images, p)


@functools.partial(jax.jit, static_argnums=2)
def _random_grayscale(key, images, p):
    mask = flip_mask(key, images.shape[0], p)
    if images.shape[-1] == 1:
        return images
    gray = jnp.broadcast_to(_gray(images), images.shape)
    return jnp.where(mask[:, None, None, None], gray, images)


def _random_apply(key, images, p, fn):
    """``fn(images)`` on each image with probability ``p``, the image unchanged otherwise."""
    if p >= 1:
        return fn(images)
    if p <= 0:
        return images
    mask = jax.random.bernoulli(key, p, images.shape[:1])
    return jnp.where(mask[:, None, None, None], fn(images), images)


# ----------------------------------------------------------------------------- pipeline


@dataclass(frozen=True)
class Augment:
    """A SimCLR-style augmentation pipeline (arXiv:2002.05709, App. A), hashable (a ``jax.jit`` static
    argument or dict key).

    ``Augment(...)(key, images)`` with ``images`` (n, H, W, C) float in [0, 1] returns views
    (n, size, size, C) in the dtype of ``images``.  The key is split in four, one per stage:

    1. crop: :func:`random_resized_crop` (``resized=True``; ``scale``, ``ratio``) or
       :func:`random_crop` (``resized=False``) to side ``size`` (None: the image height H);
    2. :func:`random_flip` with probability 1/2 if ``flip``;
    3. :func:`color_jitter` (``brightness``, ``contrast``, ``saturation``; 0 disables a step, all
       three 0 disables the stage), applied to each image with probability ``jitter_p``
       (SimCLR: 0.8);
    4. :func:`random_grayscale` with probability ``grayscale_p`` (SimCLR: 0.2; default 0, off).

    ``Augment(size=None, resized=False, flip=False, brightness=0, contrast=0, saturation=0)`` is a
    random crop of side H (the identity for square images).
    """

    size: int | None = None
    resized: bool = True
    scale: tuple = (0.25, 1.0)
    flip: bool = True
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    ratio: tuple = (3 / 4, 4 / 3)
    jitter_p: float = 1.0
    grayscale_p: float = 0.0

    def __post_init__(self):
        if self.size is not None:
            object.__setattr__(self, "size", check_positive_int(self.size, "size"))
        for name in ("resized", "flip"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool, got {type(getattr(self, name)).__name__}")
            object.__setattr__(self, name, bool(getattr(self, name)))
        object.__setattr__(self, "scale", _check_interval(self.scale, "scale", upper=1.0))
        object.__setattr__(self, "ratio", _check_interval(self.ratio, "ratio"))
        for name in ("brightness", "contrast", "saturation"):
            object.__setattr__(self, name, _check_strength(getattr(self, name), name))
        for name in ("jitter_p", "grayscale_p"):
            object.__setattr__(self, name, _check_probability(getattr(self, name), name))

    @property
    def jitters(self) -> bool:
        """Whether the colour-jitter stage does anything."""
        return self.jitter_p > 0 and (self.brightness > 0 or self.contrast > 0 or self.saturation > 0)

    def output_size(self, height: int) -> int:
        """The side of the views of images of height ``height``."""
        return self.size if self.size is not None else check_positive_int(height, "height")

    def output_shape(self, image_shape) -> tuple:
        """``(size, size, C)`` for images of shape (H, W, C) (or a batch shape (n, H, W, C))."""
        shape = tuple(int(s) for s in image_shape)
        if len(shape) not in (3, 4):
            raise ValueError(f"image_shape must be (H, W, C) or (n, H, W, C), got {shape}")
        h, w, c = shape[-3:]
        size = self.output_size(h)
        if not self.resized and size > min(h, w):
            raise ValueError(f"size must be <= {min(h, w)} (the image side) for plain crops (resized=False), "
                             f"got {size}")
        return (size, size, c)

    def __call__(self, key, images):
        _check_key(key)
        images = _check_images(images)
        self.output_shape(images.shape)  # validates size against the images
        if images.shape[-1] not in (1, 3) and (self.grayscale_p > 0 or (
                self.jitters and (self.contrast > 0 or self.saturation > 0))):
            _check_color_channels(images, "colour jitter / grayscale")
        return _augment(self, key, images)


@functools.partial(jax.jit, static_argnums=0)
def _augment(aug, key, images):
    """The stages of :class:`Augment` (validated inputs), compiled once per pipeline and image shape."""
    size = aug.output_size(images.shape[1])
    k_crop, k_flip, k_jitter, k_gray = jax.random.split(key, 4)
    if aug.resized:
        views = _random_resized_crop(k_crop, images, size, aug.scale, aug.ratio)
    else:
        views = _random_crop(k_crop, images, size)
    if aug.flip:
        views = _random_flip(k_flip, views, 0.5)
    if aug.jitters:
        k_apply, k_factors = jax.random.split(k_jitter)

        def jitter(v):
            return _color_jitter(k_factors, v, aug.brightness, aug.contrast, aug.saturation)

        views = _random_apply(k_apply, views, aug.jitter_p, jitter)
    if aug.grayscale_p > 0:
        views = _random_grayscale(k_gray, views, aug.grayscale_p)
    return views


def make_augment(size=None, **fields) -> Augment:
    """:class:`Augment` with the given output ``size`` and fields (unknown field -> TypeError naming it).

    The augmentation pipeline of S §6, App. D (SimCLR's, Chen et al., arXiv:2002.05709).
    """
    known = set(Augment.__dataclass_fields__) - {"size"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise TypeError(f"unknown Augment field(s) {unknown}; the fields are {sorted(known | {'size'})}")
    return Augment(size=size, **fields)


def two_views(key, images, augment):
    """The two views of a positive pair: ``augment(k_a, images), augment(k_b, images)`` with
    ``k_a, k_b = jax.random.split(key)`` (independent draws).  ``augment``: an :class:`Augment` or any
    callable ``(key, images) -> views``.

    The positive pairs $(x_i, x_i')$ of S §6, App. D: two independent augmentations of each image.
    """
    _check_key(key)
    if not callable(augment):
        raise TypeError(f"augment must be an Augment or a callable (key, images) -> views, got "
                        f"{type(augment).__name__}")
    k_a, k_b = jax.random.split(key)
    return augment(k_a, images), augment(k_b, images)
