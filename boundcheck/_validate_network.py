"""Argument checks of the functions that take a network: the network itself, points, weights, biases, batch.

The generic checks live in :mod:`boundcheck._validate`; these are the ones tied to a
:class:`~boundcheck.network.Network` and its shapes. They sit in a module of their own because
:mod:`boundcheck.network` itself validates with :mod:`boundcheck._validate`: a type check of ``Network``
there would make the two modules import each other.

Like the generic checks, each either returns a standardized value (a C-contiguous float64 array, an int)
or raises ``TypeError`` / ``ValueError`` with a message that names the parameter and what was expected.
:func:`check_points`, :func:`check_weights` and :func:`check_batch` read only ``net.dim``, ``net.W0``,
``net.n_inits`` and ``net.width``, so they serve the multi-class networks too.
"""

from __future__ import annotations

import numpy as np

from ._numeric import CHUNK_BYTES
from ._validate import as_float_array, check_int
from .network import Network

__all__ = ["check_network", "check_points", "check_weights", "check_biases", "check_batch",
           "check_network_inputs"]


def check_network(net, name: str = "net") -> Network:
    """Return ``net`` if it is a :class:`~boundcheck.network.Network`, else raise ``TypeError``."""
    if not isinstance(net, Network):
        raise TypeError(f"{name} must be a boundcheck.Network, got {type(net).__name__}")
    return net


def check_points(net, X, name: str = "X") -> np.ndarray:
    """Points of the network's input space: ``X`` as a float64 array of shape (n, d), ``d = net.dim``."""
    if np.ndim(X) != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n, {net.dim}), got shape {np.shape(X)}; "
                         f"for one point use {name}[None, :]")
    X = as_float_array(X, name, ndim=2)
    if X.shape[1] != net.dim:
        raise ValueError(f"{name} must have shape (n, d) with d = {net.dim} (the network's input dimension), "
                         f"got {X.shape}")
    return X


def check_weights(net, W, name: str = "W") -> np.ndarray:
    """First-layer weights of the shape of ``net.W0``, (K, m, d); ``None`` gives ``net.W0``."""
    if W is None:
        return net.W0
    W = as_float_array(W, name, ndim=3)
    if W.shape != net.W0.shape:
        raise ValueError(f"{name} must have the shape of the network's W0, (K, m, d) = {net.W0.shape}, "
                         f"got {W.shape}")
    return W


def check_biases(net, b, name: str = "b") -> np.ndarray | None:
    """First-layer biases of the shape of ``net.b0``, (K, m); ``None`` gives ``net.b0`` (None without biases)."""
    if b is None:
        return net.b0
    if net.b0 is None:
        raise ValueError(f"{name} was given but the network has no biases (net.b0 is None)")
    b = as_float_array(b, name, ndim=2)
    if b.shape != net.b0.shape:
        raise ValueError(f"{name} must have shape (K, m) = {net.b0.shape}, got {b.shape}")
    return b


def check_batch(net, batch, n: int) -> int:
    """Points per chunk: ``batch`` if given (an int >= 1), else as many as keep one (batch, K, m) float64
    array under :data:`boundcheck._numeric.CHUNK_BYTES`."""
    if batch is None:
        per_point = 8 * net.n_inits * net.width
        return max(1, min(n, CHUNK_BYTES // per_point)) if n else 1
    return check_int(batch, "batch", minimum=1)


def check_network_inputs(net, X, W=None, b=None) -> tuple[Network, np.ndarray, np.ndarray, np.ndarray | None]:
    """The usual arguments of an operation on a network, checked in this order: ``net``, ``X``, ``W``, ``b``.

    Returns ``(net, X, W, b)`` with the defaults ``net.W0`` and ``net.b0`` filled in.
    """
    net = check_network(net)
    X = check_points(net, X)
    return net, X, check_weights(net, W), check_biases(net, b)
