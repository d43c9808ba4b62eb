"""Slow, obviously correct plain-numpy references for every kernel.

Each function loops over inits, points and neurons in Python and follows the definitions literally. They
exist to be compared against the compiled kernels of :mod:`boundcheck.ops` and :mod:`boundcheck.lazy` (the
test suite does so on Hypothesis-generated shapes); use them only on small problems.

Conventions, shared with the fast versions: ``relu'(0) = 0`` (a neuron is active iff its pre-activation is
strictly positive), rows of ``W`` are neurons, and with biases the lazy-ball row is ``[w_s, b_s]``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["forward", "input_gradient", "activation_counts", "sign_flips", "gradient_difference",
           "f_range", "max_sign_flips", "project_lazy"]


def _weights(net, W, b):
    W = net.W0 if W is None else np.asarray(W, dtype=float)
    if b is None:
        b = net.b0
    return W, b


def _pre(net, W, b, k, s, x):
    z = float(np.dot(W[k, s], x))
    if b is not None:
        z += float(b[k, s])
    return z


def forward(net, X, W=None, b=None):
    """f(x; W) for every init and point, shape (K, n)."""
    W, b = _weights(net, W, b)
    K, m, _ = net.W0.shape
    out = np.zeros((K, len(X)))
    for k in range(K):
        for i, x in enumerate(X):
            total = 0.0
            for s in range(m):
                total += net.a[k, s] * max(_pre(net, W, b, k, s, x), 0.0)
            out[k, i] = total / math.sqrt(m)
            if net.output_bias is not None:
                out[k, i] += net.output_bias[k]
    return out


def input_gradient(net, X, W=None, b=None):
    """grad_x f(x; W), shape (K, n, d), with relu'(0) = 0."""
    W, b = _weights(net, W, b)
    K, m, d = net.W0.shape
    out = np.zeros((K, len(X), d))
    for k in range(K):
        for i, x in enumerate(X):
            for s in range(m):
                if _pre(net, W, b, k, s, x) > 0:
                    out[k, i] += net.a[k, s] * W[k, s]
            out[k, i] /= math.sqrt(m)
    return out


def activation_counts(net, X, W=None, b=None):
    """Number of neurons with strictly positive pre-activation, shape (K, n)."""
    W, b = _weights(net, W, b)
    K, m, _ = net.W0.shape
    out = np.zeros((K, len(X)), dtype=np.int64)
    for k in range(K):
        for i, x in enumerate(X):
            out[k, i] = sum(_pre(net, W, b, k, s, x) > 0 for s in range(m))
    return out


def sign_flips(net, X, W=None, b=None):
    """Number of neurons whose activation at W differs from that at W0, shape (K, n)."""
    W, b = _weights(net, W, b)
    K, m, _ = net.W0.shape
    out = np.zeros((K, len(X)), dtype=np.int64)
    for k in range(K):
        for i, x in enumerate(X):
            out[k, i] = sum((_pre(net, W, b, k, s, x) > 0) != (_pre(net, net.W0, net.b0, k, s, x) > 0)
                            for s in range(m))
    return out


def gradient_difference(net, X, Z, W=None, W_prime=None, b=None, b_prime=None):
    """||grad f(z_i; W') - grad f(x_i; W)||, shape (K, n)."""
    W, b = _weights(net, W, b)
    W_prime = W if W_prime is None else W_prime
    b_prime = b if b_prime is None else b_prime
    gx = input_gradient(net, X, W, b)
    gz = input_gradient(net, Z, W_prime, b_prime)
    return np.sqrt(((gz - gx) ** 2).sum(axis=-1))


def f_range(net, X, radius):
    """Exact (inf, sup) of f(x; W) over the lazy ball, by optimizing each neuron separately.

    Each neuron's pre-activation ranges over [z0 - R rho, z0 + R rho] with rho = ||(x, 1)|| (or ||x||
    without biases), and ``a_s relu(.)`` is monotone in it, so the sup takes the end that ``sign(a_s)``
    points to and the inf the other end.
    """
    K, m, _ = net.W0.shape
    lower = np.zeros((K, len(X)))
    upper = np.zeros((K, len(X)))
    for k in range(K):
        for i, x in enumerate(X):
            rho = math.hypot(*x, *([1.0] if net.b0 is not None else []))
            lo = hi = 0.0
            for s in range(m):
                z0 = _pre(net, net.W0, net.b0, k, s, x)
                ends = [net.a[k, s] * max(z0 - radius * rho, 0.0), net.a[k, s] * max(z0 + radius * rho, 0.0)]
                lo += min(ends)
                hi += max(ends)
            c = net.output_bias[k] if net.output_bias is not None else 0.0
            lower[k, i] = lo / math.sqrt(m) + c
            upper[k, i] = hi / math.sqrt(m) + c
    return lower, upper


def max_sign_flips(net, X, radius):
    """Exact max over the lazy ball of the number of flipped neurons: #{s : -R rho < z0_s <= R rho}."""
    K, m, _ = net.W0.shape
    out = np.zeros((K, len(X)), dtype=np.int64)
    for k in range(K):
        for i, x in enumerate(X):
            rho = math.hypot(*x, *([1.0] if net.b0 is not None else []))
            for s in range(m):
                z0 = _pre(net, net.W0, net.b0, k, s, x)
                if z0 > 0:
                    out[k, i] += z0 - radius * rho <= 0
                else:
                    out[k, i] += z0 + radius * rho > 0
    return out


def project_lazy(W, W0, radius):
    """Row-wise projection onto {W : max_s ||w_s - w0_s|| <= radius}, looping over rows."""
    W = np.array(W, dtype=float)
    W0 = np.asarray(W0, dtype=float)
    out = W.copy().reshape(-1, W.shape[-1])
    centers = W0.reshape(-1, W.shape[-1])
    for r in range(out.shape[0]):
        delta = out[r] - centers[r]
        norm = math.sqrt(float(np.dot(delta, delta)))
        if norm > radius:
            out[r] = centers[r] + delta * (radius / norm)
    return out.reshape(W.shape)
