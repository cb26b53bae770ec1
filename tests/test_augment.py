"""Tests of dynamics.augment against NumPy slicing, flipping and colour formulas with the same draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynamics import augment as A

KEY = jax.random.PRNGKey(7)


def _images(n=8, h=16, w=16, c=3, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).random((n, h, w, c)).astype(dtype)


def _is_window(crop, image):
    """Whether ``crop`` (s, s, C) equals image[t:t+s, l:l+s] for some (t, l)."""
    s = crop.shape[0]
    windows = np.lib.stride_tricks.sliding_window_view(image, (s, s), axis=(0, 1))  # (., ., C, s, s)
    return bool(np.any(np.all(windows == np.moveaxis(crop, 2, 0), axis=(2, 3, 4))))


def _np_weights(start, extent, size, length):
    """Antialiased bilinear weights (length, size): output i centred at start + (i + 1/2) extent/size - 1/2,
    triangle of half-width max(extent/size, 1), normalised over the `length` input pixels."""
    out = np.zeros((length, size))
    width = max(extent / size, 1.0)
    for i in range(size):
        centre = start + (i + 0.5) * extent / size - 0.5
        for j in range(length):
            out[j, i] = max(0.0, 1.0 - abs(centre - j) / width)
        out[:, i] /= out[:, i].sum()
    return out


def _np_crop_and_resize(images, boxes, size):
    out = np.empty((images.shape[0], size, size, images.shape[3]))
    for k, (t, l, h, w) in enumerate(zip(*[np.asarray(b) for b in boxes])):
        wr = _np_weights(float(t), float(h), size, images.shape[1])
        wc = _np_weights(float(l), float(w), size, images.shape[2])
        out[k] = np.einsum("hi,hwc,wj->ijc", wr, images[k], wc)
    return out


# ----------------------------------------------------------------------------- crops


def test_random_crop_is_the_numpy_slice_at_its_positions():
    images = _images(h=10, w=14)
    crops = np.asarray(A.random_crop(KEY, images, 6))
    top, left = (np.asarray(v) for v in A.crop_positions(KEY, 8, 10, 14, 6))
    assert crops.shape == (8, 6, 6, 3)
    assert top.min() >= 0 and top.max() <= 4 and left.min() >= 0 and left.max() <= 8
    assert len(set(zip(top, left))) > 3  # independent positions per image
    for i in range(8):
        assert np.array_equal(crops[i], images[i, top[i]:top[i] + 6, left[i]:left[i] + 6])
        assert _is_window(crops[i], images[i])  # independent of the positions


def test_crop_and_resize_matches_a_numpy_resampler():
    images = _images(w=20)
    boxes = A.resized_crop_boxes(KEY, 8, 16, 20, scale=(0.1, 1.0))
    for size in (7, 24):  # down- and upsampling
        got = np.asarray(A.crop_and_resize(images, boxes, size))
        assert np.allclose(got, _np_crop_and_resize(images, boxes, size), atol=1e-12)
    got = np.asarray(A.random_resized_crop(KEY, images, 7, scale=(0.1, 1.0)))
    assert np.allclose(got, _np_crop_and_resize(images, boxes, 7), atol=1e-12)


def test_crop_and_resize_of_a_box_of_side_size_is_the_sub_window():
    images = _images(w=20)
    boxes = (np.arange(8), np.arange(8)[::-1] + 5, np.full(8, 7), np.full(8, 7))
    got = np.asarray(A.crop_and_resize(images, boxes, 7))
    for k in range(8):
        t, l = boxes[0][k], boxes[1][k]
        assert np.allclose(got[k], images[k, t:t + 7, l:l + 7], atol=1e-12)


def test_resized_crop_of_the_whole_image_is_the_identity():
    images = _images()
    out = np.asarray(A.random_resized_crop(KEY, images, 16, scale=(1.0, 1.0), ratio=(1.0, 1.0)))
    assert np.allclose(out, images, atol=1e-12)


def test_resized_crop_boxes_follow_scale_and_ratio():
    h, w, n = 64, 80, 2000
    top, left, bh, bw = (np.asarray(v) for v in A.resized_crop_boxes(KEY, n, h, w, scale=(0.3, 0.6),
                                                                     ratio=(0.8, 1.25)))
    assert np.all(top >= 0) and np.all(top + bh <= h) and np.all(left >= 0) and np.all(left + bw <= w)
    frac = bh * bw / (h * w)
    aspect = bw / bh
    # rounding the sides to integers moves the area fraction and aspect by a few percent at most
    assert frac.min() > 0.3 * 0.95 and frac.max() < 0.6 * 1.05
    assert aspect.min() > 0.8 * 0.95 and aspect.max() < 1.25 * 1.05
    assert frac.std() > 0.05 and len(np.unique(top)) > 10  # spread, not a constant box


def test_resized_crop_falls_back_to_the_central_crop():
    # aspect ratios in [3, 4] never fit a square image at full area: the whole width, h = round(W / 3)
    top, left, bh, bw = (np.asarray(v) for v in A.resized_crop_boxes(KEY, 8, 16, 16, scale=(1.0, 1.0),
                                                                     ratio=(3.0, 4.0)))
    assert np.all(bw == 16) and np.all(bh == 5) and np.all(top == 5) and np.all(left == 0)


# ----------------------------------------------------------------------------- flips and colour


def test_random_flip_equals_numpy_reversal_where_the_mask_says():
    images = _images()
    out = np.asarray(A.random_flip(KEY, images))
    mask = np.asarray(A.flip_mask(KEY, 8, 0.5))
    assert 0 < mask.sum() < 8
    for i in range(8):
        assert np.array_equal(out[i], images[i, :, ::-1] if mask[i] else images[i])
    assert np.array_equal(np.asarray(A.random_flip(KEY, images, p=1.0)), images[:, :, ::-1])
    assert np.array_equal(np.asarray(A.random_flip(KEY, images, p=0.0)), images)


def _np_luma(x):
    return x if x.shape[-1] == 1 else (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2])[..., None]


@pytest.mark.parametrize("channels", [3, 1])
def test_color_jitter_matches_numpy_formulas(channels):
    images = _images(c=channels)
    kw = dict(brightness=0.5, contrast=0.3, saturation=0.6)
    out = np.asarray(A.color_jitter(KEY, images, **kw))
    b, c, s = (np.asarray(v) for v in A.jitter_factors(KEY, 8, dtype=jnp.float64, **kw))
    assert np.all((b >= 0.5) & (b <= 1.5)) and np.all((c >= 0.7) & (c <= 1.3)) and np.all((s >= 0.4) & (s <= 1.6))
    ref = np.empty_like(images)
    for i in range(8):
        x = np.clip(b[i] * images[i], 0, 1)
        x = np.clip(c[i] * x + (1 - c[i]) * _np_luma(x).mean(), 0, 1)
        if channels == 3:
            x = np.clip(s[i] * x + (1 - s[i]) * _np_luma(x), 0, 1)
        ref[i] = x
    assert np.allclose(out, ref, atol=1e-12)
    assert out.min() >= 0 and out.max() <= 1


def test_zero_strengths_and_random_grayscale():
    images = _images()
    assert np.array_equal(np.asarray(A.color_jitter(KEY, images, brightness=0, contrast=0, saturation=0)), images)
    out = np.asarray(A.random_grayscale(KEY, images, p=0.5))
    mask = np.asarray(A.flip_mask(KEY, 8, 0.5))
    for i in range(8):
        want = np.repeat(_np_luma(images[i]), 3, axis=-1) if mask[i] else images[i]
        assert np.allclose(out[i], want, atol=1e-12)


# ----------------------------------------------------------------------------- pipeline


def test_augment_is_the_composition_of_its_stages():
    images = _images()
    aug = A.Augment(size=10, brightness=0.4, contrast=0.4, saturation=0.4)
    k_crop, k_flip, k_jitter, _ = jax.random.split(KEY, 4)
    ref = A.random_resized_crop(k_crop, images, 10, scale=aug.scale, ratio=aug.ratio)
    ref = A.random_flip(k_flip, ref)
    ref = A.color_jitter(jax.random.split(k_jitter)[1], ref, brightness=0.4, contrast=0.4, saturation=0.4)
    out = aug(KEY, images)
    assert out.dtype == jnp.float64 and np.allclose(np.asarray(out), np.asarray(ref), atol=1e-12)
    # size None keeps the side H: a plain crop of a square image is the image itself
    plain = A.Augment(size=None, resized=False, flip=False, brightness=0, contrast=0, saturation=0)
    assert np.array_equal(np.asarray(plain(KEY, images)), images)
    plain = A.Augment(size=10, resized=False, flip=False, brightness=0, contrast=0, saturation=0)
    assert np.array_equal(np.asarray(plain(KEY, images)), np.asarray(A.random_crop(k_crop, images, 10)))


def test_augment_hashable_static_jit_vmap_and_dtype():
    a, b = A.Augment(size=8), A.make_augment(8)
    assert a == b and hash(a) == hash(b) and {a: 1}[b] == 1
    assert A.Augment(scale=[0.25, 1]) == A.Augment()  # lists normalised to tuples
    traces = []

    def f(key, x, aug):
        traces.append(1)
        return aug(key, x)

    g = jax.jit(f, static_argnums=2)
    x32 = jnp.asarray(_images(), jnp.float32)
    keys = jax.random.split(KEY, 3)
    out = g(keys[0], x32, a)
    again = g(keys[1], x32, b)  # equal static argument: no retrace
    assert len(traces) == 1
    assert out.shape == (8, 8, 8, 3) and out.dtype == jnp.float32  # float32 kept with x64 enabled
    assert A.random_crop(KEY, x32, 5).dtype == jnp.float32
    batched = jax.vmap(a, in_axes=(0, None))(keys, x32)  # one batch of views per key
    assert batched.shape == (3, 8, 8, 8, 3) and batched.dtype == jnp.float32
    assert np.allclose(np.asarray(batched[0]), np.asarray(out), atol=1e-6)
    assert np.allclose(np.asarray(batched[1]), np.asarray(again), atol=1e-6)
    assert not np.allclose(np.asarray(batched[1]), np.asarray(batched[2]))
    assert a.output_shape((12, 12, 3)) == (8, 8, 3) and A.Augment().output_shape((5, 12, 12, 1)) == (12, 12, 1)


def test_two_views_uses_split_keys():
    images = _images()
    aug = A.Augment(size=10)  # the pipeline of the composition test: compiled once
    va, vb = A.two_views(KEY, images, aug)
    ka, kb = jax.random.split(KEY)
    assert np.array_equal(np.asarray(va), np.asarray(aug(ka, images)))
    assert np.array_equal(np.asarray(vb), np.asarray(aug(kb, images)))
    assert not np.allclose(np.asarray(va), np.asarray(vb))
    va, vb = A.two_views(KEY, images, lambda k, x: x)  # any callable
    assert np.array_equal(np.asarray(va), images)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, exc, name", [
    (lambda x: A.random_crop(KEY, x[0], 4), ValueError, "images"),  # rank 3
    (lambda x: A.random_crop(KEY, np.where(x > 0.5, np.nan, x), 4), ValueError, "images"),
    (lambda x: A.random_crop(KEY, (x * 255).astype(np.uint8), 4), TypeError, "images"),
    (lambda x: A.random_crop(KEY, x, 17), ValueError, "size"),
    (lambda x: A.random_crop(KEY, x, 0), ValueError, "size"),
    (lambda x: A.random_crop(3, x, 4), TypeError, "key"),
    (lambda x: A.random_resized_crop(KEY, x, 4, scale=(0.5, 0.2)), ValueError, "scale"),
    (lambda x: A.random_resized_crop(KEY, x, 4, ratio=(0.0, 1.0)), ValueError, "ratio"),
    (lambda x: A.random_flip(KEY, x, p=1.5), ValueError, "p"),
    (lambda x: A.color_jitter(KEY, x, brightness=-0.1), ValueError, "brightness"),
    (lambda x: A.color_jitter(KEY, x, saturation=np.inf), ValueError, "saturation"),
    (lambda x: A.color_jitter(KEY, np.concatenate([x, x[..., :1]], -1)), ValueError, "C = 1 or 3"),
    (lambda x: A.Augment(contrast=-1), ValueError, "contrast"),
    (lambda x: A.Augment(size=-2), ValueError, "size"),
    (lambda x: A.Augment(size=20, resized=False)(KEY, x), ValueError, "size"),
    (lambda x: A.make_augment(8, blur=1.0), TypeError, "blur"),
    (lambda x: A.two_views(KEY, x, "crop"), TypeError, "augment"),
])
def test_bad_input_names_the_argument(call, exc, name):
    with pytest.raises(exc, match=name):
        call(_images(n=2))
