"""Numeric helpers shared by the operations on networks. Internal: no validation, no I/O.

The public functions (:mod:`boundcheck.ops`, :mod:`boundcheck.lazy`, :mod:`boundcheck.attacks`,
:mod:`boundcheck.robust_lazy`, ...) check their arguments first (:mod:`boundcheck._validate`) and then
build on these pieces:

* the memory budget of a chunk of points (:data:`CHUNK_BYTES`) and the chunks themselves (:func:`chunks`);
* the pre-activations of all K inits in one BLAS product (:func:`stacked_preactivations`), laid out as the
  compiled kernels read them, ``pre[i, k, s]`` (point i, init k, neuron s);
* a network's output scale ``1/sqrt(m)`` and output biases (:func:`output_scale`, :func:`output_bias`);
* Euclidean norms of rows that neither under- nor overflow (:func:`row_norms`, :func:`unit_rows`,
  :func:`augmented_norms`).

A "network" here is anything with the attributes of :class:`boundcheck.network.Network` that a helper
reads (``width``, ``n_inits``, ``output_bias``, ``has_bias``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CHUNK_BYTES", "chunks", "stacked_preactivations", "output_scale", "output_bias", "row_norms",
           "unit_rows", "augmented_norms"]

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
