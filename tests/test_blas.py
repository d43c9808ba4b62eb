"""The BLAS product callable from compiled code (boundcheck._blas_kernels) against numpy."""

import numba as nb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boundcheck._blas_kernels import gemm

DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-12, np.float32: 1e-5}


def _operands(rng, M, N, K, ta, tb, dtype):
    A = rng.standard_normal((K, M) if ta else (M, K)).astype(dtype)
    B = rng.standard_normal((N, K) if tb else (K, N)).astype(dtype)
    C = rng.standard_normal((M, N)).astype(dtype)
    return A, B, C


def _expected(A, B, C, ta, tb, alpha, beta):
    A64, B64, C64 = (x.astype(np.float64) for x in (A, B, C))
    return alpha * ((A64.T if ta else A64) @ (B64.T if tb else B64)) + beta * C64


@settings(max_examples=60, deadline=None)
@given(M=st.integers(0, 9), N=st.integers(0, 9), K=st.integers(0, 9), ta=st.booleans(), tb=st.booleans(),
       alpha=st.sampled_from([1.0, -0.5, 0.0]), beta=st.sampled_from([0.0, 1.0, 2.5]),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_gemm_matches_numpy(M, N, K, ta, tb, alpha, beta, dtype, seed):
    A, B, C = _operands(np.random.default_rng(seed), M, N, K, ta, tb, dtype)
    expected = _expected(A, B, C, ta, tb, alpha, beta)
    gemm(ta, tb, alpha, A, B, beta, C)
    scale = 1.0 + np.abs(expected).max(initial=0.0) * max(K, 1)
    np.testing.assert_allclose(C, expected, rtol=0, atol=TOL[dtype] * scale)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_in_place_update_of_row_slices(dtype):
    """beta = 1 on a row slice of a larger array writes that slice only (the SGD update's use)."""
    rng = np.random.default_rng(1)
    W = rng.standard_normal((10, 4)).astype(dtype)
    X = rng.standard_normal((6, 4)).astype(dtype)
    G = rng.standard_normal((6, 10)).astype(dtype)
    before = W.copy()
    gemm(True, False, -0.1, G[1:5, 2:8], X[1:5], 1.0, W[2:8])  # G's block has leading dimension 10
    ref = before.astype(np.float64).copy()
    ref[2:8] = before[2:8] - 0.1 * (G[1:5, 2:8].T.astype(np.float64) @ X[1:5].astype(np.float64))
    np.testing.assert_allclose(W, ref, rtol=0, atol=TOL[dtype] * 10)
    np.testing.assert_array_equal(W[:2], before[:2])
    np.testing.assert_array_equal(W[8:], before[8:])


def test_gemm_float64_is_bitwise_numpy():
    """Same BLAS kernels: the compiled call gives numpy's matmul bit for bit on this layout."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((64, 25))
    W = rng.standard_normal((300, 25))
    Z = np.empty((64, 300))
    gemm(False, True, 1.0, X, W, 0.0, Z)
    np.testing.assert_allclose(Z, X @ W.T, rtol=1e-14, atol=0)


def test_gemm_rejects_mismatched_shapes_and_strides():
    A = np.zeros((3, 4))
    with pytest.raises(ValueError, match="shapes"):
        gemm(False, False, 1.0, A, np.zeros((5, 2)), 0.0, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="one dtype"):
        gemm(False, False, 1.0, A, np.zeros((4, 2), np.float32), 0.0, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="unit stride"):
        gemm(False, False, 1.0, np.zeros((3, 8))[:, ::2], np.zeros((4, 2)), 0.0, np.zeros((3, 2)))


def test_gemm_callable_inside_a_compiled_loop():
    @nb.njit
    def repeated(X, W, Z, times):
        for _ in range(times):
            gemm(False, True, 1.0, X, W, 1.0, Z)

    rng = np.random.default_rng(3)
    X, W = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    Z = np.zeros((5, 4))
    repeated(X, W, Z, 3)
    np.testing.assert_allclose(Z, 3 * X @ W.T, rtol=1e-13)
