"""Numeric helpers shared by the operations on networks. Internal: no validation, no I/O.

The public functions (:mod:`boundcheck.ops`, :mod:`boundcheck.lazy`, :mod:`boundcheck.attacks`,
:mod:`boundcheck.robust_lazy`, ...) check their arguments first (:mod:`boundcheck._validate`) and then
build on these pieces:

* the memory budget of a chunk of points (:data:`CHUNK_BYTES`) and the chunks themselves (:func:`chunks`);
* the pre-activations of all K inits in one BLAS product (:func:`stacked_preactivations`), laid out as the
  compiled kernels read them, ``pre[i, k, s]`` (point i, init k, neuron s);
* a network's output scale ``1/sqrt(m)`` and output biases (:func:`output_scale`, :func:`output_bias`);
* Euclidean norms of rows that neither under- nor overflow (:func:`row_norms`, :func:`unit_rows`,
  :func:`augmented_norms`);
* rows in a ball, exactly: :func:`into_ball` (the projection of :func:`boundcheck.lazy.project_lazy` and the
  last step of every witness), :func:`ball_deviations` (the measurement :func:`boundcheck.lazy.lazy_distance`
  reports) and :func:`outside_ball`, with the plain-numpy reference :func:`into_ball_reference`.

A "network" here is anything with the attributes of :class:`boundcheck.network.Network` that a helper
reads (``width``, ``n_inits``, ``output_bias``, ``has_bias``).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np

from . import _kernels

__all__ = ["CHUNK_BYTES", "chunks", "stacked_preactivations", "output_scale", "output_bias", "row_norms",
           "unit_rows", "augmented_norms", "into_ball", "outside_ball", "ball_deviations", "ball_slack",
           "into_ball_reference"]

#: The default chunk of points holds at most this many bytes in each of its work arrays (32 MiB).
CHUNK_BYTES = 32 * 2**20


def chunks(n: int, batch: int):
    """Yield ``(lo, hi)``: consecutive ranges of at most ``batch`` of the indices ``0..n-1``."""
    for start in range(0, n, batch):
        yield start, min(n, start + batch)


def stacked_preactivations(X: np.ndarray, W: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """Pre-activations ``w_s . x_i + b_s`` of all K inits in one BLAS product.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    W : ndarray, shape (K, m, d)
    b : ndarray, shape (K, m), or None

    Returns
    -------
    ndarray, shape (n, K, m)
        ``X @ W.reshape(K*m, d).T`` reshaped, plus the biases.
    """
    K, m, d = W.shape
    pre = (X @ W.reshape(K * m, d).T).reshape(len(X), K, m)
    if b is not None:
        pre += b[None]
    return pre


def output_scale(net) -> float:
    """The output layer's scale ``1/sqrt(m)``."""
    return 1.0 / np.sqrt(net.width)


def output_bias(net) -> np.ndarray:
    """The output biases, shape (K,): ``net.output_bias``, or zeros for a network without them."""
    return net.output_bias if net.output_bias is not None else np.zeros(net.n_inits)


def row_norms(V: np.ndarray) -> np.ndarray:
    """Euclidean norms over the last axis, shape ``V.shape[:-1]``.

    Each row is divided by its largest entry before squaring, so that tiny or huge vectors keep full
    relative precision (their squares would under- or overflow).
    """
    if V.shape[-1] == 0:
        return np.zeros(V.shape[:-1])
    big = np.abs(V).max(axis=-1)
    safe = np.where(big > 0, big, 1.0)
    U = V / safe[..., None]
    return big * np.sqrt(np.einsum("...d,...d->...", U, U))


def unit_rows(V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of V (over the last axis) divided by their norms, and the norms (:func:`row_norms`).

    Zero rows stay zero.
    """
    norms = row_norms(V)
    safe = np.where(norms > 0, norms, 1.0)
    return V / safe[..., None], norms


def augmented_norms(net, X: np.ndarray) -> np.ndarray:
    """``||x~||`` per row of X, with ``x~ = (x, 1)`` for networks with first-layer biases (the lazy ball's
    row is then ``[w_s, b_s]``), else ``||x||``; shape (n,). Without under- or overflow (:func:`row_norms`).
    """
    Xa = np.concatenate([X, np.ones((len(X), 1))], axis=1) if net.has_bias else X
    return row_norms(Xa)


# --------------------------------------------------------------------------------------------------------
# Rows in a ball, exactly
#
# A row is "in the ball" of radius R around its centre when its deviation is at most R both exactly (in real
# arithmetic, of the stored floats) and as measured by :func:`ball_deviations`. Moving a row onto the sphere
# by ``w0 + delta * R / ||delta||`` does not ensure it: each coordinate is rounded to a multiple of
# ``ulp(w0)``, an error that does not shrink with R (R = 2**-24 and w0 = (0, 0, 1) leave the row outside).
# :func:`into_ball` measures the *stored* row and lowers its aim until it is surely inside.
# --------------------------------------------------------------------------------------------------------

def ball_slack(p: int) -> float:
    """Relative margin below R at which a measured row of length p is surely inside: ``(p + 8) 2**-53``."""
    return float(_kernels.ball_slack(p))


def _flat_rows(W: np.ndarray, W0: np.ndarray):
    p = W.shape[-1]
    return (np.ascontiguousarray(W, dtype=np.float64).reshape(-1, p),
            np.ascontiguousarray(W0, dtype=np.float64).reshape(-1, p))


def _exact_sq(row: np.ndarray, centre: np.ndarray) -> Fraction:
    """``||row - centre||^2`` of the stored floats in exact rational arithmetic."""
    return sum(((Fraction(a) - Fraction(c)) ** 2 for a, c in zip(row.tolist(), centre.tolist())), Fraction(0))


def into_ball(W: np.ndarray, W0: np.ndarray, R: float, out: np.ndarray | None = None) -> np.ndarray:
    """The rows of W (over the last axis) moved into the balls of radius R around the rows of W0.

    A row in the ball (exactly and as :func:`ball_deviations` measures it) is returned unchanged, bitwise.
    Any other row is moved along ``w - w0`` towards its centre until its stored value is measured at most
    ``R (1 - ball_slack(p))``: it is then in the ball exactly, and by any measurement of the same accuracy.
    That is the Euclidean projection up to a relative ``2 ball_slack(p)`` of R and the rounding of
    ``w0 + delta`` (when R is below about ``p 2**-52 ||w0||`` the nearest stored row may be ``w0`` itself).
    A row measured within R but not surely (within ``ball_slack(p)`` of it) is decided exactly: by
    error-free float arithmetic (:func:`boundcheck._kernels.ball_verdict`), and in rationals where that
    cannot tell (exact ties).

    Parameters
    ----------
    W, W0 : ndarray, shape (..., p)
        Finite rows and their centres (same shape).
    R : float
        The radius, >= 0.
    out : ndarray, optional
        C-contiguous float64 array of W's shape to write to; may be W itself (then only the moved rows are
        written).

    Returns
    -------
    ndarray, shape of W (``out``, or a new array)
    """
    shape = np.shape(W)
    if W0.shape != shape:
        raise ValueError(f"W must have the shape of W0, {W0.shape}, got {shape}")
    p = shape[-1] if len(shape) else 0
    if out is None:
        out = np.empty(shape)
    elif out.shape != shape or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float64 array of shape {shape}")
    elif out is not W and np.may_share_memory(out, W):
        raise ValueError("out must be W itself or not overlap it")
    copy = out is not W
    if p == 0 or W.size == 0:
        out[...] = W
        return out
    result = out
    rows, centres = _flat_rows(W, W0)
    out = out.reshape(-1, p)
    band = np.empty(len(rows), dtype=np.bool_)
    _kernels.project_rows(rows, centres, float(R), out, band, False, copy)
    if band.any():  # measured within R but not surely: decide exactly (in rationals when floats cannot tell)
        cand = np.flatnonzero(band)
        verdict = np.empty(len(cand), dtype=np.int64)
        _kernels.ball_verdicts(rows, centres, float(R), cand, verdict)
        R2 = Fraction(float(R)) ** 2
        idx = np.array([r for r, v in zip(cand.tolist(), verdict.tolist())
                        if v < 0 or (v == 0 and _exact_sq(rows[r], centres[r]) > R2)], dtype=np.int64)
        if len(idx):
            sub = np.empty((len(idx), p))
            _kernels.project_rows(rows[idx], centres[idx], float(R), sub, np.empty(len(idx), np.bool_), True, True)
            out[idx] = sub
    return result


def outside_ball(W: np.ndarray, W0: np.ndarray, R: float) -> np.ndarray:
    """Which rows :func:`into_ball` would move: bool, shape ``W.shape[:-1]``."""
    moved = into_ball(W, W0, R)
    return ~(moved == np.asarray(W, dtype=np.float64)).all(axis=-1)


def ball_deviations(W: np.ndarray, W0: np.ndarray) -> np.ndarray:
    """``||w - w0||`` per row (over the last axis), as :func:`into_ball` measures it; shape ``W.shape[:-1]``.

    The squared differences are summed in order (rescaled by a power of two where a square would under- or
    overflow); the relative error is at most ``ball_slack(p) / 2``.
    """
    shape = np.shape(W)
    p = shape[-1]
    out = np.zeros(int(np.prod(shape[:-1], dtype=np.int64)))
    if p and out.size:
        rows, centres = _flat_rows(W, W0)
        _kernels.row_deviations(rows, centres, out)
    return out.reshape(shape[:-1])


def into_ball_reference(W: np.ndarray, W0: np.ndarray, R: float) -> np.ndarray:
    """Plain-numpy (and exact-rational) reference of :func:`into_ball`, row by row.

    The decision "in the ball" is made with exact rational arithmetic and a plain Python measurement
    (scaled, summed in order: the same numbers as :func:`ball_deviations`); a moved row aims at
    ``R (1 - slack)`` and lowers the aim by bisection on the factor until the stored row passes the same test.
    """
    W = np.array(W, dtype=np.float64)
    p = W.shape[-1]
    rows, centres = W.reshape(-1, p), np.asarray(W0, dtype=np.float64).reshape(-1, p)
    out = rows.copy()
    target = R * (1.0 - ball_slack(p))

    def measured(row, centre):
        diff = [a - c for a, c in zip(row.tolist(), centre.tolist())]
        if not all(map(math.isfinite, diff)):
            diff = [0.5 * a - 0.5 * c for a, c in zip(row.tolist(), centre.tolist())]
            half = 0.5
        else:
            half = 1.0
        top = max((abs(v) for v in diff), default=0.0)
        if top == 0.0:
            return 0.0
        e = math.frexp(top)[1]
        sq = 0.0
        for v in diff:
            c = math.ldexp(v, -e)
            sq += c * c
        return math.ldexp(math.sqrt(sq), e) / half

    R2 = Fraction(float(R)) ** 2
    T2 = Fraction(float(target)) ** 2
    for r in range(len(rows)):
        if measured(rows[r], centres[r]) <= R and _exact_sq(rows[r], centres[r]) <= R2:
            continue
        delta = rows[r] - centres[r]

        def passes(f):
            cand = centres[r] + delta * f
            return measured(cand, centres[r]) <= target and _exact_sq(cand, centres[r]) <= T2, cand

        hi = target / measured(rows[r], centres[r])
        ok, cand = passes(hi)
        if not ok:
            lo = 0.0
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                if mid in (lo, hi):
                    break
                good, c = passes(mid)
                if good:
                    lo, cand = mid, c
                else:
                    hi = mid
            if lo == 0.0:
                cand = centres[r].copy()
        out[r] = cand
    return out.reshape(W.shape)


_THREADPOOLS: list = []  # the threadpoolctl controller, made on first use


def one_blas_thread(fn):
    """Decorator: run ``fn`` with one BLAS thread (threadpoolctl; the previous limits are restored afterwards).

    OpenBLAS splits a product over its threads by blocks of rows and columns, and the entries at block edges
    go through edge kernels that sum in another order: with two threads ``X_B W^T`` differs in the last bit
    from one thread's (measured at 64 x 784 x 1000). The trainers and PGD therefore run their products on
    one thread, so that the same seed gives the same numbers whatever the thread count (tested in processes
    with 1 and 2 threads). Their element-wise kernels are serial."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not _THREADPOOLS:
            from threadpoolctl import ThreadpoolController
            _THREADPOOLS.append(ThreadpoolController())
        with _THREADPOOLS[0].limit(limits=1, user_api="blas"):
            return fn(*args, **kwargs)
    return wrapper
