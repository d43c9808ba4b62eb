"""Numba kernels: the element-wise work after the BLAS products. Private: no validation, no I/O.

Every kernel reads pre-activations laid out as ``pre[i, k, s]`` (point i, init k, neuron s), which is the
layout of ``X @ W.reshape(K*m, d).T`` reshaped to ``(n, K, m)``: one BLAS product serves all K inits.

Each output entry is computed by one thread with a sequential sum over neurons, so results do not depend on
the number of threads. Convention: a neuron is active iff its pre-activation is strictly positive
(``relu'(0) = 0``).
"""

from __future__ import annotations

import numba as nb
import numpy as np

_OPTS = dict(nogil=True, cache=True, fastmath=False, boundscheck=False)


@nb.njit(parallel=True, **_OPTS)
def forward_from_pre(pre, a, out_bias, scale, out, offset):
    """out[k, offset + i] = scale * sum_s a[k, s] relu(pre[i, k, s]) + out_bias[k]."""
    n, K, m = pre.shape
    for i in nb.prange(n):
        for k in range(K):
            total = 0.0
            for s in range(m):
                z = pre[i, k, s]
                if z > 0.0:
                    total += a[k, s] * z
            out[k, offset + i] = scale * total + out_bias[k]


@nb.njit(parallel=True, **_OPTS)
def gradient_coefficients(pre, a, scale, coef):
    """coef[k, i, s] = scale * a[k, s] * 1{pre[i, k, s] > 0}; then grad = coef[k] @ W[k]."""
    n, K, m = pre.shape
    for i in nb.prange(n):
        for k in range(K):
            for s in range(m):
                coef[k, i, s] = scale * a[k, s] if pre[i, k, s] > 0.0 else 0.0


@nb.njit(parallel=True, **_OPTS)
def difference_coefficients(pre_z, pre_x, a, scale, coef):
    """coef[k, i, s] = scale * a[k, s] * (1{pre_z > 0} - 1{pre_x > 0}) (same weights at z and x)."""
    n, K, m = pre_x.shape
    for i in nb.prange(n):
        for k in range(K):
            for s in range(m):
                az = pre_z[i, k, s] > 0.0
                ax = pre_x[i, k, s] > 0.0
                if az == ax:
                    coef[k, i, s] = 0.0
                elif az:
                    coef[k, i, s] = scale * a[k, s]
                else:
                    coef[k, i, s] = -scale * a[k, s]


@nb.njit(parallel=True, **_OPTS)
def count_active(pre, out, offset):
    """out[k, offset + i] = #{s : pre[i, k, s] > 0}."""
    n, K, m = pre.shape
    for i in nb.prange(n):
        for k in range(K):
            c = 0
            for s in range(m):
                if pre[i, k, s] > 0.0:
                    c += 1
            out[k, offset + i] = c


@nb.njit(parallel=True, **_OPTS)
def count_flips(pre, pre0, out, offset):
    """out[k, offset + i] = #{s : 1{pre > 0} != 1{pre0 > 0}}."""
    n, K, m = pre.shape
    for i in nb.prange(n):
        for k in range(K):
            c = 0
            for s in range(m):
                if (pre[i, k, s] > 0.0) != (pre0[i, k, s] > 0.0):
                    c += 1
            out[k, offset + i] = c


@nb.njit(parallel=True, **_OPTS)
def f_range_from_pre(pre0, a, out_bias, scale, reach, lower, upper, offset):
    """Exact inf and sup of f over the lazy ball, neuron by neuron.

    ``reach[i] = R * ||x_i~||`` is how far each pre-activation can move; ``a_s relu(z)`` is monotone in z,
    so the sup takes ``z0 + sign(a_s) reach`` and the inf ``z0 - sign(a_s) reach``.
    """
    n, K, m = pre0.shape
    for i in nb.prange(n):
        t = reach[i]
        for k in range(K):
            lo = 0.0
            hi = 0.0
            for s in range(m):
                z = pre0[i, k, s]
                up = z + t
                dn = z - t
                vu = a[k, s] * up if up > 0.0 else 0.0
                vd = a[k, s] * dn if dn > 0.0 else 0.0
                if vu >= vd:
                    hi += vu
                    lo += vd
                else:
                    hi += vd
                    lo += vu
            lower[k, offset + i] = scale * lo + out_bias[k]
            upper[k, offset + i] = scale * hi + out_bias[k]


@nb.njit(parallel=True, **_OPTS)
def count_reachable_flips(pre0, reach, out, offset):
    """out[k, offset + i] = #{s : -reach_i < pre0 <= reach_i}: neurons the lazy ball can flip."""
    n, K, m = pre0.shape
    for i in nb.prange(n):
        t = reach[i]
        for k in range(K):
            c = 0
            for s in range(m):
                z = pre0[i, k, s]
                if z > 0.0:
                    if z <= t:
                        c += 1
                elif z > -t:
                    c += 1
            out[k, offset + i] = c


@nb.njit(parallel=True, **_OPTS)
def project_rows(W, W0, radius, out):
    """Row-wise projection of W (rows, p) onto the balls of radius ``radius`` around the rows of W0."""
    rows, p = W.shape
    for r in nb.prange(rows):
        sq = 0.0
        for j in range(p):
            dlt = W[r, j] - W0[r, j]
            sq += dlt * dlt
        norm = np.sqrt(sq)
        if norm > radius:
            f = radius / norm
            for j in range(p):
                out[r, j] = W0[r, j] + (W[r, j] - W0[r, j]) * f
        else:
            for j in range(p):
                out[r, j] = W[r, j]


@nb.njit(parallel=True, **_OPTS)
def fused_pass(pre, pre0, a, out_bias, scale, reach, with_flips, with_radius,
               f, active, flips, lower, upper, reach_flips, coef, offset):
    """All the element-wise work of one network pass, reading each pre-activation once.

    Writes f, the active count, the flip count (if ``with_flips``), the exact f range and max flips over
    the lazy ball (if ``with_radius``; from ``pre0``) and the gradient coefficients ``coef[k, i, s]``.
    """
    n, K, m = pre.shape
    for i in nb.prange(n):
        t = reach[i] if with_radius else 0.0
        for k in range(K):
            tot = 0.0
            cnt = 0
            fl = 0
            lo = 0.0
            hi = 0.0
            rf = 0
            for s in range(m):
                z = pre[i, k, s]
                ask = a[k, s]
                if z > 0.0:
                    tot += ask * z
                    cnt += 1
                    coef[k, i, s] = scale * ask
                else:
                    coef[k, i, s] = 0.0
                if with_flips:
                    if (z > 0.0) != (pre0[i, k, s] > 0.0):
                        fl += 1
                if with_radius:
                    z0 = pre0[i, k, s]
                    up = z0 + t
                    dn = z0 - t
                    vu = ask * up if up > 0.0 else 0.0
                    vd = ask * dn if dn > 0.0 else 0.0
                    if vu >= vd:
                        hi += vu
                        lo += vd
                    else:
                        hi += vd
                        lo += vu
                    if z0 > 0.0:
                        if z0 <= t:
                            rf += 1
                    elif z0 > -t:
                        rf += 1
            f[k, offset + i] = scale * tot + out_bias[k]
            active[k, offset + i] = cnt
            if with_flips:
                flips[k, offset + i] = fl
            if with_radius:
                lower[k, offset + i] = scale * lo + out_bias[k]
                upper[k, offset + i] = scale * hi + out_bias[k]
                reach_flips[k, offset + i] = rf
