"""Transitional name of :mod:`boundcheck._blas_kernels` (compiled code lives in ``_*kernels.py`` modules)."""

from ._blas_kernels import gemm

__all__ = ["gemm"]
