"""Argument checks and standardization, in one place, with clear messages.

Every public function of boundcheck calls these helpers before any work is done. A helper either returns
a standardized value (a C-contiguous float64 array, a Python int, a ``numpy.random.Generator``) or raises
``ValueError`` / ``TypeError`` whose message names the parameter and what was expected. Nothing is
silently coerced: integer arrays are accepted as exact numbers, but strings, objects, complex numbers and
non-finite values are refused.

The checks of a network and of arrays shaped by it (points, weights, biases, batch) are in
:mod:`boundcheck._validate_network`, beside these (they need the ``Network`` class, which itself validates
with this module).
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "as_float_array",
    "check_int",
    "check_real",
    "check_rng",
    "check_choice",
    "check_unit_sphere",
    "check_float_dtype",
]


def as_float_array(value, name: str, *, ndim: int | tuple[int, ...] | None = None, shape=None,
                   allow_nonfinite: bool = False) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 array after checking it.

    Parameters
    ----------
    value : array_like
        Real numbers (bool, integer or floating dtype).
    name : str
        The parameter's name, used in error messages.
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    shape : tuple, optional
        Expected shape; ``None`` entries match any length.
    allow_nonfinite : bool
        Accept NaN and infinities (default False).
    """
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            expected = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {expected} dimension(s), got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, arr.shape)):
            pretty = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {pretty}, got {arr.shape}")
    arr = np.asarray(arr, dtype=np.float64, order="C")  # keeps 0-d arrays 0-d
    if not allow_nonfinite and arr.size and not np.isfinite(arr).all():
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return arr


def check_int(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Check that ``value`` is an integer in ``[minimum, maximum]`` and return it as ``int``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_real(value, name: str, *, minimum: float | None = None, maximum: float | None = None,
               closed_min: bool = True, closed_max: bool = True) -> float:
    """Check that ``value`` is a finite real number in the given interval and return it as ``float``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None:
        if (value < minimum) if closed_min else (value <= minimum):
            op = ">=" if closed_min else ">"
            raise ValueError(f"{name} must be {op} {minimum}, got {value}")
    if maximum is not None:
        if (value > maximum) if closed_max else (value >= maximum):
            op = "<=" if closed_max else "<"
            raise ValueError(f"{name} must be {op} {maximum}, got {value}")
    return value


def check_rng(rng) -> np.random.Generator:
    """Standardize ``rng`` as in SPEC 7: None, an int seed, a SeedSequence or a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (numbers.Integral, np.random.SeedSequence, np.random.BitGenerator)):
        if isinstance(rng, (bool, np.bool_)):
            raise TypeError("rng must be None, an int seed, a SeedSequence or a numpy Generator, got a bool")
        if isinstance(rng, numbers.Integral) and int(rng) < 0:
            raise ValueError(f"rng seed must be a non-negative integer, got {rng}")
        return np.random.default_rng(rng)
    raise TypeError(
        "rng must be None, an int seed, a SeedSequence or a numpy Generator, "
        f"got {type(rng).__name__}")


def check_choice(value, name: str, choices) -> str:
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def check_unit_sphere(X: np.ndarray, name: str = "X", *, radius: float = 1.0, atol: float = 1e-8) -> None:
    """Raise unless every row of ``X`` has Euclidean norm ``radius`` (to ``atol`` relative)."""
    norms = np.linalg.norm(X, axis=-1)
    bad = np.abs(norms - radius) > atol * max(radius, 1.0)
    if bad.any():
        worst = norms[bad].flat[0]
        raise ValueError(
            f"{name} must lie on the sphere of radius {radius:g} (this bound assumes it); "
            f"found a row of norm {worst:.6g}. Normalize with X / np.linalg.norm(X, axis=1, keepdims=True).")


def check_float_dtype(dtype, name: str = "dtype") -> np.dtype:
    """``numpy.dtype(dtype)`` if it is float64 or float32 (the working precisions), else a one-line error."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be numpy.float32 or numpy.float64, got {dtype!r}") from None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{name} must be numpy.float32 or numpy.float64, got {dt}")
    return dt
