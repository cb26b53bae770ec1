"""Tests of dynamics.data: pair builders, augmentations and the CIFAR-10 file format."""

import pickle

import numpy as np
import pytest

from dynamics import data

N_DIGITS = 1797


def _digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images / 16.0, bunch.target


def _crop_sources(crop, images):
    """Boolean (N,): which images (N, H, W[, C]) contain ``crop`` (s, s[, C]) at some offset."""
    s = crop.shape[0]
    windows = np.lib.stride_tricks.sliding_window_view(images, (s, s), axis=(1, 2))
    target = np.moveaxis(crop, (0, 1), (-2, -1))  # windows put the (s, s) axes last
    return np.all(windows == target, axis=tuple(range(3, windows.ndim))).any(axis=(1, 2))


def _translate(images, dy, dx):
    """images (..., H, W) shifted down by dy and right by dx, zero fill."""
    out = np.zeros_like(images)
    h, w = images.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        ..., max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def _shift_sources(view, translates):
    """Boolean (N,): which images have a translate (in ``translates``, (S, N, H, W)) equal to ``view``."""
    return np.all(translates == view, axis=(2, 3)).any(axis=0)


# ----------------------------------------------------------------------------- digits


@pytest.mark.parametrize(
    "kwargs, m",
    [
        ({}, 36),
        ({"augmentation": "crop", "crop_size": 4}, 16),
        ({"augmentation": "crop", "crop_size": 8}, 64),
        ({"augmentation": "shift", "max_shift": 2}, 64),
    ],
)
def test_digits_shapes(kwargs, m):
    x, x_prime, labels = data.digits_pairs(50, return_labels=True, **kwargs)
    assert x.shape == x_prime.shape == (50, m)
    assert x.dtype == x_prime.dtype == np.float64
    assert labels.shape == (50,) and labels.dtype == np.int64
    assert x.min() >= 0 and x.max() <= 1


def test_digits_default_takes_all_images_unscaled():
    x, x_prime = data.digits_pairs(scale=False)
    assert x.shape == (N_DIGITS, 36)
    assert x.max() == 16 and np.array_equal(x, np.round(x))


@pytest.mark.parametrize("augmentation", ["crop", "shift"])
def test_digits_deterministic_and_seed_dependent(augmentation):
    a = data.digits_pairs(100, augmentation=augmentation, seed=3)
    b = data.digits_pairs(100, augmentation=augmentation, seed=3)
    c = data.digits_pairs(100, augmentation=augmentation, seed=4)
    for u, v in zip(a, b):
        assert np.array_equal(u, v)
    assert not np.array_equal(a[0], c[0])
    # the two views are independent augmentations, not copies
    assert not np.array_equal(a[0], a[1])


def test_digits_crops_are_windows_of_the_labelled_image():
    images, target = _digits()
    x, x_prime, labels = data.digits_pairs(60, crop_size=5, seed=1, return_labels=True)
    for k in range(60):
        both = _crop_sources(x[k].reshape(5, 5), images) & _crop_sources(x_prime[k].reshape(5, 5), images)
        assert both.any()  # one image holds both crops
        assert labels[k] in target[both]


def test_digits_shift_is_a_translated_copy():
    images, _ = _digits()
    shifts = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]
    translates = np.stack([_translate(images, *sh) for sh in shifts])  # (25, N, 8, 8)
    x, x_prime = data.digits_pairs(60, augmentation="shift", max_shift=2, seed=2)
    for k in range(60):
        views = x[k].reshape(8, 8), x_prime[k].reshape(8, 8)
        both = _shift_sources(views[0], translates) & _shift_sources(views[1], translates)
        assert both.any()  # both views are shifts of one image
        # zero fill can only lose pixel mass
        source_mass = images[both].sum(axis=(1, 2)).max()
        assert views[0].sum() <= source_mass + 1e-12 and views[1].sum() <= source_mass + 1e-12


def test_shift_zero_is_identity_and_shifts_cover_the_range():
    images = np.arange(2 * 5 * 5, dtype=float).reshape(2, 5, 5) + 1
    rng = np.random.default_rng(0)
    assert np.array_equal(data.random_shifts(images, 0, rng), images)
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    translates = np.stack([_translate(images[0], *sh) for sh in shifts])
    outs = data.random_shifts(np.repeat(images[:1], 400, axis=0), 1, rng)
    hits = np.all(outs[:, None] == translates[None], axis=(2, 3))  # (400, 9)
    assert np.all(hits.sum(axis=1) == 1)  # every output is exactly one of the 9 shifts
    assert np.all(hits.any(axis=0))  # and all 9 occur


def test_random_crops_keeps_channels_and_dtype():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 10, 10, 3), dtype=np.uint8)
    crops = data.random_crops(images, 4, rng)
    assert crops.shape == (6, 4, 4, 3) and crops.dtype == np.uint8
    for k, crop in enumerate(crops):
        assert _crop_sources(crop, images)[k]


# ----------------------------------------------------------------------------- Gaussian


def test_gaussian_shapes_and_determinism():
    x, x_prime = data.gaussian_pairs(30, 4, seed=5)
    assert x.shape == x_prime.shape == (30, 4) and x.dtype == np.float64
    again = data.gaussian_pairs(30, 4, seed=5)
    assert np.array_equal(x, again[0]) and np.array_equal(x_prime, again[1])
    assert not np.array_equal(x, data.gaussian_pairs(30, 4, seed=6)[0])


@pytest.mark.parametrize("spectrum", [None, [3.0, 1.0, 0.5, 0.0, 0.25]])
def test_gaussian_cross_correlation_approaches_spectrum(spectrum):
    n, m, noise = 20000, 5, 0.3
    x, x_prime = data.gaussian_pairs(n, m, spectrum=spectrum, noise=noise, seed=0)
    gamma = (x.T @ x_prime + x_prime.T @ x) / (2 * n)
    s = 2.0 ** -np.arange(m) if spectrum is None else np.asarray(spectrum)
    # Γ_jk is a mean of n iid terms whose variance is exactly
    #   2 s_j² + 2 σ² s_j + σ⁴                         (j = k)
    #   s_j s_k + σ² (s_j + s_k) / 2 + σ⁴ / 2          (j ≠ k),  σ = noise,
    # so its standard error is O(1/sqrt(n)).  Five standard errors: a false
    # failure has probability < 1e-5 over the 15 distinct entries.
    var = np.outer(s, s) + noise**2 * (s[:, None] + s[None, :]) / 2 + noise**4 / 2
    var[np.diag_indices(m)] = 2 * s**2 + 2 * noise**2 * s + noise**4
    tol = 5 * np.sqrt(var / n)
    assert np.all(np.abs(gamma - np.diag(s)) <= tol)
    assert tol.max() < 0.1 * s.max()  # tight enough to catch e.g. variances s² in place of s


def test_gaussian_zero_noise_gives_identical_views():
    x, x_prime = data.gaussian_pairs(10, 3, noise=0.0)
    assert np.array_equal(x, x_prime)


# ----------------------------------------------------------------------------- CIFAR-10


def _tiny_cifar(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, size=n)


def test_cifar_round_trip(tmp_path):
    images, labels = _tiny_cifar(7, 0)
    path = tmp_path / "data_batch_1"
    data.write_cifar10_batch(path, images, labels)
    got_images, got_labels = data.load_cifar10_batch(path)
    assert got_images.dtype == np.uint8 and got_images.shape == (7, 32, 32, 3)
    assert got_labels.dtype == np.int64
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)


def test_cifar_file_layout_is_channel_major(tmp_path):
    image = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 1, 2, 3
    image[0, 0, 1, 0] = 9  # red pixel at row 0, column 1
    path = tmp_path / "batch"
    data.write_cifar10_batch(path, image, [4])
    with open(path, "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    row = raw[b"data"][0]
    assert raw[b"data"].dtype == np.uint8 and raw[b"data"].shape == (1, 3072)
    assert raw[b"labels"] == [4]
    assert row[1] == 9 and np.all(row[2:1024] == 1) and np.all(row[1024:2048] == 2) and np.all(row[2048:] == 3)
    # and a file written by hand in that layout is read with R, G, B last
    flat = np.concatenate([np.full(1024, c, dtype=np.uint8) for c in (1, 2, 3)])[None]
    with open(path, "wb") as f:
        pickle.dump({b"data": flat, b"labels": [0]}, f, protocol=2)
    images, _ = data.load_cifar10_batch(path)
    assert np.array_equal(images[0, 5, 7], [1, 2, 3])
    assert np.all(images[..., 0] == 1) and np.all(images[..., 1] == 2) and np.all(images[..., 2] == 3)


def test_cifar_pairs_from_directory(tmp_path):
    first, second = _tiny_cifar(4, 1), _tiny_cifar(3, 2)
    data.write_cifar10_batch(tmp_path / "data_batch_1", *first)
    data.write_cifar10_batch(tmp_path / "data_batch_3", *second)
    all_images = np.concatenate([first[0], second[0]])
    x, x_prime, labels = data.cifar10_pairs(tmp_path, n=None, crop_size=6, seed=0, return_labels=True)
    assert x.shape == x_prime.shape == (7, 6 * 6 * 3) and x.dtype == np.float64
    assert sorted(labels) == sorted(np.concatenate([first[1], second[1]]))
    assert 0 <= x.min() and x.max() <= 1
    for k in range(7):
        crop = np.round(x[k].reshape(6, 6, 3) * 255).astype(np.uint8)
        assert _crop_sources(crop, all_images).any()
    again = data.cifar10_pairs(tmp_path, n=5, crop_size=6, seed=0)
    assert again[0].shape == (5, 108)
    assert not np.array_equal(again[0], data.cifar10_pairs(tmp_path, n=5, crop_size=6, seed=1)[0])
    # a single file works too; the default crop gives m = 1200
    x, _ = data.cifar10_pairs(tmp_path / "data_batch_1", n=4)
    assert x.shape == (4, 1200)


def test_cifar_pairs_deterministic(tmp_path):
    data.write_cifar10_batch(tmp_path / "b", *_tiny_cifar(5, 3))
    a = data.cifar10_pairs(tmp_path / "b", n=5, seed=7, scale=False)
    b = data.cifar10_pairs(tmp_path / "b", n=5, seed=7, scale=False)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[0].max() > 1  # unscaled


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n": N_DIGITS + 1}, ValueError, r"n must be <= 1797"),
        ({"n": 0}, ValueError, r"n must be >= 1"),
        ({"n": 2.5}, TypeError, r"n must be an integer"),
        ({"crop_size": 0}, ValueError, r"crop_size must be >= 1"),
        ({"crop_size": 9}, ValueError, r"crop_size must be <= 8"),
        ({"augmentation": "rotate"}, ValueError, r"augmentation must be one of"),
        ({"augmentation": "shift", "max_shift": -1}, ValueError, r"max_shift must be >= 0"),
        ({"seed": -1}, ValueError, r"seed must be >= 0"),
    ],
)
def test_digits_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        data.digits_pairs(**kwargs)


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((10, 3), {"noise": -0.1}, ValueError, r"noise must be finite and >= 0"),
        ((10, 3), {"spectrum": [1.0, 0.5]}, ValueError, r"spectrum must have length m = 3"),
        ((10, 3), {"spectrum": [1.0, np.nan, 0.5]}, ValueError, r"spectrum must be finite"),
        ((10, 3), {"spectrum": [1.0, np.inf, 0.5]}, ValueError, r"spectrum must be finite"),
        ((10, 3), {"spectrum": [1.0, -0.5, 0.5]}, ValueError, r"spectrum must be non-negative"),
        ((10, 3), {"spectrum": np.eye(3)}, ValueError, r"spectrum must be 1-D"),
        ((0, 3), {}, ValueError, r"n must be >= 1"),
        ((10, 0), {}, ValueError, r"m must be >= 1"),
    ],
)
def test_gaussian_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        data.gaussian_pairs(*args, **kwargs)


def test_cifar_bad_input(tmp_path):
    missing = tmp_path / "data_batch_9"
    with pytest.raises(FileNotFoundError, match="data_batch_9"):
        data.load_cifar10_batch(missing)
    with pytest.raises(FileNotFoundError, match=r"data_batch_1 \.\. data_batch_5"):
        data.cifar10_pairs(tmp_path)

    path = tmp_path / "batch"
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8)}, f)
    with pytest.raises(ValueError, match="expected a dict with keys b'data' and b'labels'"):
        data.load_cifar10_batch(path)
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ValueError, match=r"uint8 array of shape \(N, 3072\)"):
        data.load_cifar10_batch(path)
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, f)
    with pytest.raises(ValueError, match="expected b'labels' to hold 2 labels"):
        data.load_cifar10_batch(path)

    data.write_cifar10_batch(path, *_tiny_cifar(3, 0))
    with pytest.raises(ValueError, match=r"n must be <= 3"):
        data.cifar10_pairs(path, n=4)
    with pytest.raises(ValueError, match=r"crop_size must be <= 32"):
        data.cifar10_pairs(path, crop_size=33)
    with pytest.raises(ValueError, match=r"images must have shape \(N, 32, 32, 3\)"):
        data.write_cifar10_batch(path, np.zeros((2, 32, 32)), [0, 1])
    with pytest.raises(ValueError, match=r"images must hold integers in 0..255"):
        data.write_cifar10_batch(path, np.full((1, 32, 32, 3), 256), [0])
    with pytest.raises(ValueError, match=r"labels must be 1 integers"):
        data.write_cifar10_batch(path, np.zeros((1, 32, 32, 3)), [0, 1])


def test_cifar_loader_refuses_arbitrary_objects(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("should not run",))

    path = tmp_path / "evil"
    with open(path, "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load builtins.print"):
        data.load_cifar10_batch(path)


def test_cifar_loader_reads_other_pickle_protocols(tmp_path):
    images, labels = _tiny_cifar(2, 4)
    flat = images.transpose(0, 3, 1, 2).reshape(2, 3072)
    path = tmp_path / "batch"
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        with open(path, "wb") as f:
            pickle.dump({b"data": flat, b"labels": list(map(int, labels))}, f, protocol=protocol)
        got, got_labels = data.load_cifar10_batch(path)
        assert np.array_equal(got, images) and np.array_equal(got_labels, labels)


def test_contrastive_data_is_the_one_pairs_and_triplets_type():
    from dynamics import contrastive, data

    rng = np.random.default_rng(0)
    x, xp, xn = rng.standard_normal((3, 5, 4))
    assert contrastive.ContrastiveData is data.ContrastiveData
    pairs = data.ContrastiveData.pairs(x, xp)
    assert pairs.alpha == (1,) and np.array_equal(pairs.partners[0], xp) and pairs.negatives.shape == (0, 5, 4)
    trip = data.ContrastiveData.triplets(x, xp, xn)
    assert trip.alpha == (1, -1)
    assert np.array_equal(trip.positives[0], xp) and np.array_equal(trip.negatives[0], xn)
    assert np.array_equal(trip.inputs, np.concatenate([x, xp, xn]))
    # E1 on the triplets' stacked outputs equals the A1 loss with alpha = (+1, -1) on the same data
    from dynamics import losses

    W = rng.standard_normal((4, 3))
    F = trip.inputs @ W
    e1 = losses.triplet_contrastive(x @ W, xp @ W, xn @ W)
    assert abs(float(losses.contrastive_function_loss(5, trip.alpha)(F)) - float(e1)) < 1e-12


@pytest.mark.parametrize("make, match", [
    (lambda x: data.ContrastiveData.pairs(x, x[:3]), "x_prime must have the shape of x"),
    (lambda x: data.ContrastiveData.triplets(x, x, x[:, :2]), "negatives must have the shape of anchors"),
    (lambda x: data.ContrastiveData.pairs(x * np.nan, x), "x must be finite"),
])
def test_contrastive_data_constructors_reject_bad_input(make, match):
    with pytest.raises(ValueError, match=match):
        make(np.ones((5, 4)))


# ----------------------------------------------------------------------------- image batches


def _tiny_stl(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 96, 96, 3), dtype=np.uint8), rng.integers(0, 10, size=n)


def _numpy_stl_bytes(images):
    """STL-10 layout written independently: per image the R, G, B planes, each column-major."""
    return b"".join(np.ascontiguousarray(img[:, :, c].ravel(order="F")).tobytes()
                    for img in images for c in range(3))


def test_stl10_round_trip_and_independent_layout(tmp_path):
    images, labels = _tiny_stl(3, 0)
    images[0, :, :, 0] = np.arange(96)[:, None]  # row index in the red plane of image 0: transposition shows
    x_path, y_path = tmp_path / "train_X.bin", tmp_path / "train_y.bin"
    data.write_stl10_binary(x_path, images, y_path, labels)
    assert x_path.read_bytes() == _numpy_stl_bytes(images)
    assert list(y_path.read_bytes()) == list(labels + 1)  # stored 1..10
    got, got_labels = data.load_stl10_binary(x_path, y_path)
    assert got.dtype == np.uint8 and got.shape == (3, 96, 96, 3)
    assert np.array_equal(got, images) and np.array_equal(got_labels, labels)
    # a file written by the independent writer reads back to the images
    other = tmp_path / "other_X.bin"
    other.write_bytes(_numpy_stl_bytes(images[::-1]))
    assert np.array_equal(data.load_stl10_binary(other), images[::-1])
    sub, sub_labels = data.load_stl10_binary(x_path, y_path, indices=[2, 0])
    assert np.array_equal(sub, images[[2, 0]]) and np.array_equal(sub_labels, labels[[2, 0]])


def test_stl10_bad_files_name_the_path_argument(tmp_path):
    images, labels = _tiny_stl(2, 1)
    x_path, y_path = tmp_path / "x.bin", tmp_path / "y.bin"
    data.write_stl10_binary(x_path, images, y_path, labels)
    with pytest.raises(FileNotFoundError, match="images_path"):
        data.load_stl10_binary(tmp_path / "missing.bin")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\0" * 27649)
    with pytest.raises(ValueError, match="images_path.*27648"):
        data.load_stl10_binary(bad)
    short = tmp_path / "short_y.bin"
    short.write_bytes(bytes([1]))
    with pytest.raises(ValueError, match="labels_path.*1 labels.*2 images"):
        data.load_stl10_binary(x_path, short)
    zero = tmp_path / "zero_y.bin"
    zero.write_bytes(bytes([0, 3]))
    with pytest.raises(ValueError, match="labels_path.*1..10"):
        data.load_stl10_binary(x_path, zero)
    with pytest.raises(ValueError, match="indices"):
        data.load_stl10_binary(x_path, indices=[2])
    with pytest.raises(ValueError, match="images must have shape"):
        data.write_stl10_binary(tmp_path / "w.bin", images[:, :32])
    with pytest.raises(ValueError, match="labels and labels_path"):
        data.write_stl10_binary(tmp_path / "w.bin", images, labels=labels)


def test_sample_images_and_natural_crops():
    photos = data.sample_images()
    assert photos.shape == (2, 427, 640, 3) and photos.dtype == np.float64 and not photos.flags.writeable
    assert photos.min() >= 0 and photos.max() <= 1 and photos.std() > 0.1
    crops, labels = data.natural_image_crops(4, 8, seed=3, return_labels=True)
    assert crops.shape == (4, 8, 8, 3) and labels.shape == (4,) and set(labels) <= {0, 1}
    for crop, label in zip(crops, labels):
        assert _crop_sources(crop, photos[[label]])[0]  # a sub-window of its labelled photograph
    again = data.natural_image_crops(4, 8, seed=3)
    assert np.array_equal(crops, again)
    assert not np.array_equal(crops, data.natural_image_crops(4, 8, seed=4))
    coarse = data.natural_image_crops(3, 16, seed=0, downsample=4)
    assert coarse.shape == (3, 16, 16, 3) and 0 <= coarse.min() and coarse.max() <= 1
    with pytest.raises(ValueError, match="size must be <= 427"):
        data.natural_image_crops(2, 428)
    with pytest.raises(ValueError, match="n must be"):
        data.natural_image_crops(0)


def test_load_images_by_name(tmp_path):
    digits, digit_labels = data.digits_images()
    x, y = data.load_images("digits", n=20, seed=2)
    assert x.shape == (20, 8, 8, 1) and x.dtype == np.float64 and y.shape == (20,)
    order = np.random.default_rng(2).permutation(len(digits))[:20]
    assert np.array_equal(x[..., 0], digits[order] / 16) and np.array_equal(y, digit_labels[order])

    x, y = data.load_images("natural", n=6, size=12, seed=1, dtype=np.float32)
    assert x.shape == (6, 12, 12, 3) and x.dtype == np.float32
    assert np.allclose(x, data.natural_image_crops(6, 12, seed=1))

    cifar, cifar_labels = _tiny_cifar(5, 0)
    data.write_cifar10_batch(tmp_path / "data_batch_1", cifar, cifar_labels)
    x, y = data.load_images("cifar10", path=tmp_path / "data_batch_1")
    order = np.random.default_rng(0).permutation(5)
    assert x.shape == (5, 32, 32, 3) and np.allclose(x, cifar[order] / 255) and np.array_equal(y, cifar_labels[order])

    stl, stl_labels = _tiny_stl(4, 2)
    data.write_stl10_binary(tmp_path / "train_X.bin", stl, tmp_path / "train_y.bin", stl_labels)
    order = np.random.default_rng(5).permutation(4)[:3]
    for path in (tmp_path / "train_X.bin", tmp_path):  # the file (labels found beside it) or its directory
        x, y = data.load_images("stl10", path=path, n=3, seed=5)
        assert np.allclose(x, stl[order] / 255) and np.array_equal(y, stl_labels[order])
    data.write_stl10_binary(tmp_path / "unlabeled_X.bin", stl)
    x, y = data.load_images("stl10", path=tmp_path / "unlabeled_X.bin", size=32)
    assert x.shape == (4, 32, 32, 3) and np.all(y == -1) and 0 <= x.min() and x.max() <= 1
    # downsampling by 3 averages each 3x3 block's neighbourhood: the batch mean is kept to round-off
    assert abs(x.mean() - (stl / 255).mean()) < 1e-2


@pytest.mark.parametrize("kwargs, error, match", [
    ({"name": "imagenet"}, ValueError, "name"),
    ({"name": 3}, TypeError, "name"),
    ({"name": "cifar10"}, ValueError, "path"),
    ({"name": "stl10", "path": "/nonexistent/train_X.bin"}, FileNotFoundError, "path"),
    ({"name": "digits", "n": 5000}, ValueError, "n must be <= 1797"),
    ({"name": "digits", "n": -1}, ValueError, "n must be"),
    ({"name": "natural", "size": 0}, ValueError, "size"),
    ({"name": "digits", "dtype": np.int32}, TypeError, "dtype"),
    ({"name": "digits", "labels_path": "y.bin"}, ValueError, "labels_path"),
])
def test_load_images_bad_input(kwargs, error, match):
    name = kwargs.pop("name")
    with pytest.raises(error, match=match):
        data.load_images(name, **kwargs)
