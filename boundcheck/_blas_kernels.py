"""BLAS ``?gemm`` callable from compiled (Numba) code, for row-major (C-ordered) arrays.

Loops that call a matrix product at every step (an SGD epoch, PGD's iterations) pay the interpreter for
every call when they are written in Python; at small sizes that overhead is comparable to the products.
:func:`gemm` lets such a loop live in one compiled function. It calls SciPy's BLAS
(``scipy.linalg.cython_blas``, the library that :mod:`scipy.linalg.blas` wraps) through its C function
pointers, so there is no copy and ``beta = 1`` updates an array in place.

Row-major ``C = alpha op(A) op(B) + beta C`` is column-major ``C^T = alpha op(B)^T op(A)^T + beta C^T``,
which is the call made (no transposes are materialized). Arrays must have unit stride along their last
axis (C-ordered, or row slices of C-ordered arrays); the leading dimensions are read from the strides.
``tests/test_blas.py`` compares every transpose combination, both precisions and the empty and
``k = 0`` cases with numpy.
"""

from __future__ import annotations

import llvmlite.binding as llvm
import numba as nb
import numpy as np
from numba import types
from numba.extending import get_cython_function_address

from ._kernels import NJIT_OPTIONS

__all__ = ["gemm"]

# The Fortran routines take every argument by address; addresses are passed as intp (the same register on
# every platform Numba supports). Registered by name, so that the compiled callers can be cached on disk
# (a ctypes function pointer would be a "dynamic global" and disable the cache).
llvm.add_symbol("boundcheck_dgemm", get_cython_function_address("scipy.linalg.cython_blas", "dgemm"))
llvm.add_symbol("boundcheck_sgemm", get_cython_function_address("scipy.linalg.cython_blas", "sgemm"))
_GEMM_SIGNATURE = types.void(*([types.intp] * 13))
_dgemm = types.ExternalFunction("boundcheck_dgemm", _GEMM_SIGNATURE)
_sgemm = types.ExternalFunction("boundcheck_sgemm", _GEMM_SIGNATURE)

_N = 78  # ord("N")
_T = 84  # ord("T")


@nb.njit(**NJIT_OPTIONS)
def _leading(A):
    """Row stride of a 2-D array with unit stride along its last axis (at least 1, as BLAS requires)."""
    if A.shape[1] > 1 and A.strides[1] != A.itemsize:
        raise ValueError("gemm: arrays must have unit stride along their last axis")
    return max(1, A.strides[0] // A.itemsize, A.shape[1])


@nb.njit(**NJIT_OPTIONS)
def gemm(trans_a, trans_b, alpha, A, B, beta, C):
    """``C <- alpha op(A) op(B) + beta C`` in place; ``op(X)`` is ``X.T`` when ``trans_X`` else ``X``.

    The return value is meaningless (it keeps the work buffers alive across the call).

    Parameters
    ----------
    trans_a, trans_b : bool
    alpha, beta : float
    A : ndarray, shape (M, K), or (K, M) when trans_a
    B : ndarray, shape (K, N), or (N, K) when trans_b
    C : ndarray, shape (M, N)
        All three of one dtype, float64 or float32, unit stride along the last axis. C is written.
    """
    M, N = C.shape
    K = A.shape[0] if trans_a else A.shape[1]
    if (A.shape[1] if trans_a else A.shape[0]) != M or (B.shape[1] if trans_b else B.shape[0]) != K \
            or (B.shape[0] if trans_b else B.shape[1]) != N:
        raise ValueError("gemm: shapes do not match")
    if M == 0 or N == 0:
        return
    if K == 0:  # BLAS would be asked for a zero leading dimension; the product is empty
        for i in range(M):
            for j in range(N):
                C[i, j] = 0.0 if beta == 0.0 else beta * C[i, j]
        return
    dims = np.empty(6, np.int32)
    dims[0] = N
    dims[1] = M
    dims[2] = K
    dims[3] = _leading(B)
    dims[4] = _leading(A)
    dims[5] = _leading(C)
    flags = np.empty(2, np.uint8)
    flags[0] = _T if trans_b else _N
    flags[1] = _T if trans_a else _N
    if A.itemsize != C.itemsize or B.itemsize != C.itemsize:
        raise ValueError("gemm: A, B and C must have one dtype")
    dp = dims.ctypes.data
    fp = flags.ctypes.data
    if C.itemsize == 8:
        scalars = np.empty(2, np.float64)
        scalars[0] = alpha
        scalars[1] = beta
        sp = scalars.ctypes.data
        _dgemm(fp, fp + 1, dp, dp + 4, dp + 8, sp, B.ctypes.data, dp + 12, A.ctypes.data, dp + 16, sp + 8,
               C.ctypes.data, dp + 20)
        keep = scalars[0]
    else:
        scalars32 = np.empty(2, np.float32)
        scalars32[0] = alpha
        scalars32[1] = beta
        sp = scalars32.ctypes.data
        _sgemm(fp, fp + 1, dp, dp + 4, dp + 8, sp, B.ctypes.data, dp + 12, A.ctypes.data, dp + 16, sp + 4,
               C.ctypes.data, dp + 20)
        keep = scalars32[0]
    # Reading the buffers after the call keeps them alive across it (Numba frees an array after its last use).
    return keep + dims[0] + flags[0]
