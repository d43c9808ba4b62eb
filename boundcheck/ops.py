"""Operations on a :class:`~boundcheck.network.Network`, batched over K inits and n points.

Each function validates its arguments, then works in chunks of points: one BLAS product
``X_chunk @ W.reshape(K*m, d).T`` gives the pre-activations of all K inits at once, and a compiled kernel
(:mod:`boundcheck._kernels`) does the element-wise work. The chunk size ``batch`` bounds memory: a chunk
holds ``batch * K * m`` pre-activations (8 bytes each; twice that when W0's are needed too) and, for
gradients, ``batch * K * m`` coefficients. The default picks ``batch`` so that one such array stays
under 32 MiB.

Conventions: ``relu'(0) = 0``, i.e. a neuron is active iff ``w_s . x + b_s > 0`` strictly; the input
gradient is ``(1/sqrt(m)) sum_s a_s 1{w_s . x + b_s > 0} w_s``. Results are deterministic whatever the
number of threads (each output is summed sequentially by one thread).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _kernels
from ._numeric import augmented_norms, chunks, output_bias, output_scale, stacked_preactivations
from ._validate import check_real
from ._validate_network import (check_batch, check_biases, check_network, check_network_inputs, check_points,
                                check_weights)
from .network import Network

__all__ = ["forward", "input_gradient", "activation_counts", "sign_flips", "gradient_difference",
           "network_pass", "NetworkPass", "preactivations"]


# --------------------------------------------------------------------------- public operations

def preactivations(net: Network, X, W=None, b=None) -> np.ndarray:
    """Pre-activations ``w_s . x + b_s``, shape (n, K, m), in one BLAS product.

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    W : array_like, shape (K, m, d), optional
        Lazy weights (default ``net.W0``).
    b : array_like, shape (K, m), optional
        First-layer biases (default ``net.b0``).
    """
    net, X, W, b = check_network_inputs(net, X, W, b)
    return stacked_preactivations(X, W, b)


def _per_point(net: Network, X: np.ndarray, batch, dtype, work) -> np.ndarray:
    """One value per init and point, shape (K, n): ``work(X_chunk, out, lo)`` fills the chunk's columns."""
    n = len(X)
    batch = check_batch(net, batch, n)
    out = np.empty((net.n_inits, n), dtype=dtype)
    for lo, hi in chunks(n, batch):
        work(X[lo:hi], out, lo)
    return out


def forward(net: Network, X, W=None, b=None, *, batch: int | None = None) -> np.ndarray:
    """The network's output f(x; W).

    Parameters
    ----------
    net : Network
        K inits of width m on R^d.
    X : array_like, shape (n, d)
        Inputs (any real vectors; nothing here assumes the sphere).
    W : array_like, shape (K, m, d), optional
        First-layer weights (default ``net.W0``).
    b : array_like, shape (K, m), optional
        First-layer biases (default ``net.b0``; only for networks with biases).
    batch : int, optional
        Points per chunk; memory O(batch * K * m).

    Returns
    -------
    ndarray, shape (K, n)

    Notes
    -----
    Calling :func:`forward`, :func:`input_gradient`, :func:`sign_flips` and :func:`~boundcheck.lazy.f_range`
    one after the other on the same points costs about 2.3x one fused :func:`network_pass`, which shares
    the BLAS products among them (``benchmarks/bench_kernels.py``); use it when you need several.

    Examples
    --------
    >>> from boundcheck import init_network, sample_sphere, forward
    >>> net = init_network(5, 50, n_inits=2, parametrization="theory", rng=0)
    >>> forward(net, sample_sphere(3, 5, rng=1)).shape
    (2, 3)
    """
    net, X, W, b = check_network_inputs(net, X, W, b)

    def work(Xc, out, lo):
        _kernels.forward_from_pre(stacked_preactivations(Xc, W, b), net.a, output_bias(net), output_scale(net), out, lo)

    return _per_point(net, X, batch, np.float64, work)


def input_gradient(net: Network, X, W=None, b=None, *, batch: int | None = None) -> np.ndarray:
    """The input gradient grad_x f(x; W), with relu'(0) = 0.

    ``grad_x f(x; W) = (1/sqrt(m)) sum_s a_s 1{w_s . x + b_s > 0} w_s``. A neuron exactly at its kink
    (pre-activation 0) counts as inactive, as in PyTorch.

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    W : array_like, shape (K, m, d), optional
    b : array_like, shape (K, m), optional
    batch : int, optional
        Points per chunk; memory O(batch * K * m) for the coefficients plus the (K, n, d) output.

    Returns
    -------
    ndarray, shape (K, n, d)

    Notes
    -----
    Calling :func:`forward`, :func:`input_gradient`, :func:`sign_flips` and :func:`~boundcheck.lazy.f_range`
    one after the other on the same points costs about 2.3x one fused :func:`network_pass`, which shares
    the BLAS products among them (``benchmarks/bench_kernels.py``); use it when you need several.
    """
    net, X, W, b = check_network_inputs(net, X, W, b)
    n = len(X)
    batch = check_batch(net, batch, n)
    K, m, d = W.shape
    out = np.empty((K, n, d))
    for lo, hi in chunks(n, batch):
        coef = np.empty((K, hi - lo, m))
        _kernels.gradient_coefficients(stacked_preactivations(X[lo:hi], W, b), net.a, output_scale(net), coef)
        np.matmul(coef, W, out=out[:, lo:hi])
    return out


def activation_counts(net: Network, X, W=None, b=None, *, batch: int | None = None) -> np.ndarray:
    """Number of active neurons (pre-activation > 0), shape (K, n), int64."""
    net, X, W, b = check_network_inputs(net, X, W, b)

    def work(Xc, out, lo):
        _kernels.count_active(stacked_preactivations(Xc, W, b), out, lo)

    return _per_point(net, X, batch, np.int64, work)


def sign_flips(net: Network, X, W=None, b=None, *, batch: int | None = None) -> np.ndarray:
    """Number of neurons s with 1{w_s . x + b_s > 0} != 1{w0_s . x + b0_s > 0}, shape (K, n), int64.

    Notes
    -----
    Calling :func:`forward`, :func:`input_gradient`, :func:`sign_flips` and :func:`~boundcheck.lazy.f_range`
    one after the other on the same points costs about 2.3x one fused :func:`network_pass`, which shares
    the BLAS products among them (``benchmarks/bench_kernels.py``); use it when you need several.
    """
    net, X, W, b = check_network_inputs(net, X, W, b)

    def work(Xc, out, lo):
        _kernels.count_flips(stacked_preactivations(Xc, W, b), stacked_preactivations(Xc, net.W0, net.b0), out, lo)

    return _per_point(net, X, batch, np.int64, work)


def gradient_difference(net: Network, X, Z, W=None, W_prime=None, b=None, b_prime=None, *,
                        batch: int | None = None) -> np.ndarray:
    """||grad f(z_i; W') - grad f(x_i; W)|| for paired points and weights.

    Parameters
    ----------
    net : Network
    X, Z : array_like, shape (n, d)
        Paired points x_i and z_i.
    W, W_prime : array_like, shape (K, m, d), optional
        Weights at x and at z (defaults: ``net.W0``; ``W_prime`` defaults to ``W``).
    b, b_prime : array_like, shape (K, m), optional
        Biases at x and at z (defaults as for the weights).
    batch : int, optional
        Points per chunk; memory O(batch * K * (m + d)).

    Returns
    -------
    ndarray, shape (K, n)

    Notes
    -----
    With the same weights at both points the difference is
    ``(1/sqrt(m)) sum_s a_s (1{w_s.z > 0} - 1{w_s.x > 0}) w_s``: only flipped neurons contribute, and one
    product does it.
    """
    net = check_network(net)
    X = check_points(net, X, "X")
    Z = check_points(net, Z, "Z")
    if Z.shape != X.shape:
        raise ValueError(f"Z must have the shape of X, {X.shape}, got {Z.shape}")
    W, b = check_weights(net, W, "W"), check_biases(net, b, "b")
    same = W_prime is None and b_prime is None
    Wp = W if W_prime is None else check_weights(net, W_prime, "W_prime")
    bp = b if b_prime is None else check_biases(net, b_prime, "b_prime")
    n = len(X)
    batch = check_batch(net, batch, n)
    K, m, d = W.shape
    out = np.empty((K, n))
    scale = output_scale(net)
    for lo, hi in chunks(n, batch):
        pre_x = stacked_preactivations(X[lo:hi], W, b)
        pre_z = stacked_preactivations(Z[lo:hi], Wp, bp)
        coef = np.empty((K, hi - lo, m))
        if same:
            _kernels.difference_coefficients(pre_z, pre_x, net.a, scale, coef)
            diff = coef @ W
        else:
            coef_z = np.empty_like(coef)
            _kernels.gradient_coefficients(pre_x, net.a, scale, coef)
            _kernels.gradient_coefficients(pre_z, net.a, scale, coef_z)
            diff = coef_z @ Wp - coef @ W
        out[:, lo:hi] = np.sqrt(np.einsum("kid,kid->ki", diff, diff))
    return out


@dataclass(frozen=True)
class NetworkPass:
    """Everything one pass over the points computes (see :func:`network_pass`).

    Attributes
    ----------
    forward : ndarray, shape (K, n)
    input_gradient : ndarray, shape (K, n, d)
    activation_counts : ndarray, shape (K, n)
    sign_flips : ndarray, shape (K, n)
        Flips of W relative to W0 (zero when W is W0).
    f_lower, f_upper : ndarray, shape (K, n) or None
        Exact inf / sup of f over the lazy ball of ``radius`` around W0 (None without a radius).
    max_sign_flips : ndarray, shape (K, n) or None
        Exact max over the lazy ball of the number of flipped neurons (None without a radius).
    """

    forward: np.ndarray
    input_gradient: np.ndarray
    activation_counts: np.ndarray
    sign_flips: np.ndarray
    f_lower: np.ndarray | None
    f_upper: np.ndarray | None
    max_sign_flips: np.ndarray | None


def network_pass(net: Network, X, W=None, b=None, *, radius: float | None = None,
                 batch: int | None = None) -> NetworkPass:
    """Forward, input gradient, counts and the lazy-ball worst cases, sharing the BLAS products.

    Three products per chunk at most: ``X @ W.T``, ``X @ W0.T`` (only when W is not W0) and the gradient
    ``coef @ W``; everything else is element-wise work in compiled kernels.

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    W : array_like, shape (K, m, d), optional
    b : array_like, shape (K, m), optional
    radius : float, optional
        Lazy-ball radius R for the exact worst cases (``f_range``, ``max_sign_flips`` around W0).
    batch : int, optional
        Points per chunk; memory O(batch * K * m) for each of up to three work arrays.

    Returns
    -------
    NetworkPass
    """
    at_init = W is None and b is None
    net, X, W, b = check_network_inputs(net, X, W, b)
    if radius is not None:
        radius = check_real(radius, "radius", minimum=0.0)
    n = len(X)
    batch = check_batch(net, batch, n)
    K, m, d = W.shape
    scale, c = output_scale(net), output_bias(net)
    f = np.empty((K, n))
    grad = np.empty((K, n, d))
    active = np.empty((K, n), dtype=np.int64)
    flips = np.zeros((K, n), dtype=np.int64)
    with_radius = radius is not None
    if with_radius:
        lower, upper = np.empty((K, n)), np.empty((K, n))
        reach_flips = np.empty((K, n), dtype=np.int64)
        reach = radius * augmented_norms(net, X)
    else:  # placeholders the kernel never touches
        lower = upper = np.empty((K, 0))
        reach_flips = np.empty((K, 0), dtype=np.int64)
        reach = np.empty(0)
    for lo, hi in chunks(n, batch):
        Xc = X[lo:hi]
        pre = stacked_preactivations(Xc, W, b)
        pre0 = pre if at_init else stacked_preactivations(Xc, net.W0, net.b0)
        coef = np.empty((K, hi - lo, m))
        _kernels.fused_pass(pre, pre0, net.a, c, scale, reach[lo:hi] if with_radius else reach,
                            not at_init, with_radius, f, active, flips, lower, upper, reach_flips, coef, lo)
        np.matmul(coef, W, out=grad[:, lo:hi])
    if not with_radius:
        lower = upper = reach_flips = None
    return NetworkPass(forward=f, input_gradient=grad, activation_counts=active, sign_flips=flips,
                       f_lower=lower, f_upper=upper, max_sign_flips=reach_flips)
