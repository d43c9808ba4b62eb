"""Numba kernels of :mod:`boundcheck.train`: the element-wise work of one SGD step. Private: no validation.

One step of lazy SGD on a minibatch ``X_B`` (B, d) is two BLAS products, ``Z = X_B W^T`` (B, m) and the
in-place rank-B update ``W += -lr G^T X_B``; everything else is O(B m) and done here in a few passes over
(B, m) arrays:

:func:`forward_rows`
    adds the biases to ``Z`` and computes the outputs f.
:func:`gradient_rows`
    the gradient coefficients ``G[i, s] = g_i a_s 1{Z_is > 0}``, the bias gradient, and what the lazy
    check needs: ``inc_s = sum_i G_is (Z_is - Z0_is)`` (``Z - Z0`` is ``D_s . x_i`` for the augmented
    deviation ``D_s = [w_s - w0_s, b_s - b0_s]`` and ``x_i = [x_i, 1]``) and ``A_s = sum_i |G_is| ||x_i||``.
:func:`track_rows`
    the squared row deviations after the step from the ones before it,
    ``||D_s - lr G_s^T X||^2 = ||D_s||^2 - 2 lr inc_s + lr^2 G_s^T K G_s`` (K the batch's Gram matrix), with a
    rigorous bound on the rounding error accumulated since the last exact computation; flags the rows that
    might cross a threshold.
:func:`row_sq_deviation`, :func:`project_rows`
    the exact squared deviation of chosen rows (four fixed partial sums in float64, so a row's value does
    not depend on which other rows are computed: the fast trainer and the reference agree bit for bit), and
    the projection of chosen rows onto the ball.

Every sum is accumulated in float64 in a fixed order (no fastmath): results do not depend on threads.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ._kernels import NJIT_OPTIONS


@nb.njit(**NJIT_OPTIONS)
def forward_rows(Z, b, a, c, f):
    """Z[i] += b (pass zeros for a network without biases); f[i] = c + sum_s a[s] relu(Z[i, s]) (float64, eight
    fixed partial sums). Row by row: the terms go into a float64 row buffer in one element-wise loop (which
    the compiler vectorizes), then are summed in a fixed order."""
    n, m = Z.shape
    H = np.empty(m)
    for i in range(n):
        Zi = Z[i]
        for s in range(m):
            z = Zi[s] + b[s]
            Zi[s] = z
            H[s] = np.float64(a[s]) * max(np.float64(z), 0.0)
        t0 = 0.0
        t1 = 0.0
        t2 = 0.0
        t3 = 0.0
        t4 = 0.0
        t5 = 0.0
        t6 = 0.0
        t7 = 0.0
        s = 0
        while s + 8 <= m:
            t0 += H[s]
            t1 += H[s + 1]
            t2 += H[s + 2]
            t3 += H[s + 3]
            t4 += H[s + 4]
            t5 += H[s + 5]
            t6 += H[s + 6]
            t7 += H[s + 7]
            s += 8
        while s < m:
            t0 += H[s]
            s += 1
        f[i] = c + (((t0 + t1) + (t2 + t3)) + ((t4 + t5) + (t6 + t7)))


@nb.njit(**NJIT_OPTIONS)
def gradient_rows(Z, Z0, track, g, a, xnorm, G, gb, inc, A):
    """G[i, s] = g[i] a[s] 1{Z[i, s] > 0} (working dtype); gb[s] = sum_i G[i, s];
    if track: inc[s] = sum_i G[i, s] (Z[i, s] - Z0[i, s]) and A[s] = sum_i |G[i, s]| xnorm[i] (float64)."""
    n, m = Z.shape
    for s in range(m):
        gb[s] = 0.0
        inc[s] = 0.0
        A[s] = 0.0
    for i in range(n):
        gi = g[i]
        xi = xnorm[i]
        if track:
            for s in range(m):
                z = Z[i, s]
                v = gi * a[s] if z > 0 else 0.0
                G[i, s] = v
                v64 = np.float64(v)
                gb[s] += v64
                inc[s] += v64 * (np.float64(z) - np.float64(Z0[i, s]))
                A[s] += abs(v64) * xi
        else:  # two loops over the row (the coefficients, then their sums): both vectorize
            Zi = Z[i]
            Gi = G[i]
            for s in range(m):
                Gi[s] = gi * a[s] if Zi[s] > 0 else 0.0
            for s in range(m):
                gb[s] += np.float64(Gi[s])


@nb.njit(**NJIT_OPTIONS)
def quad_from_KG(G, KG, q):
    """q[s] = sum_i G[i, s] KG[i, s] = G_s^T K G_s (float64)."""
    n, m = G.shape
    for s in range(m):
        q[s] = 0.0
    for i in range(n):
        for s in range(m):
            q[s] += np.float64(G[i, s]) * np.float64(KG[i, s])


@nb.njit(**NJIT_OPTIONS)
def quad_from_U(U, gb, has_bias, q):
    """q[s] = ||[U[s], gb[s]]||^2 with U = G^T X_B (the same G_s^T K G_s, cheaper when d + 1 < batch)."""
    m, d = U.shape
    for s in range(m):
        t0 = 0.0
        t1 = 0.0
        k = 0
        while k + 2 <= d:
            v0 = np.float64(U[s, k])
            v1 = np.float64(U[s, k + 1])
            t0 += v0 * v0
            t1 += v1 * v1
            k += 2
        if k < d:
            v0 = np.float64(U[s, k])
            t0 += v0 * v0
        q[s] = t0 + t1 + (gb[s] * gb[s] if has_bias else 0.0)


@nb.njit(**NJIT_OPTIONS)
def track_rows(q, inc, A, p, e, w0norm, lr, gam_dot, gam_quad, gam_upd, gam_exact, thr2, p_new, e_new, flag):
    """Predicted squared deviations after the step and their error bounds; flags rows that may exceed thr2.

    ``p_new = p - 2 lr inc + lr^2 q`` with ``q_s = G_s^T K G_s`` (:func:`quad_from_KG` or :func:`quad_from_U`). ``e_new`` bounds
    ``|p_new - ||D_s^new||^2|`` where ``D_s^new`` is the row as the BLAS update will actually round it:

    * the pre-activations ``Z`` and ``Z0`` that give ``D_s . x_i``: ``gam_dot (||w_s|| + ||w0_s||) A_s``;
    * the Gram matrix and ``K G`` (or ``U = G^T X_B``): ``gam_quad A_s^2`` (``|K_ij| <= ||x_i|| ||x_j||``);
    * the update's own rounding ``r_s`` (``||r_s|| <= gam_upd (||w_s|| + lr A_s)``), which moves the squared
      norm by at most ``2 ||D + u|| ||r|| + ||r||^2``;
    * float64 arithmetic of the recursion itself;

    all doubled for safety. A row is flagged when ``(p_new + e_new) (1 + gam_exact) > thr2`` (gam_exact: the
    rounding of the exact kernel the decisions are made with). Returns the number of flagged rows.
    """
    m = p.shape[0]
    u64 = 2.0 ** -53
    count = 0
    for s in range(m):
        ps = p[s]
        es = e[s]
        pn = ps - 2.0 * lr * inc[s] + lr * lr * q[s]
        dn = math.sqrt(max(ps, 0.0) + es)
        wn = (w0norm[s] + dn) * (1.0 + 1e-12)
        t1 = 2.0 * lr * gam_dot * (wn + w0norm[s]) * A[s]
        t2 = lr * lr * gam_quad * A[s] * A[s]
        rho = gam_upd * (wn + lr * A[s])
        t3 = 2.0 * math.sqrt(max(pn, 0.0) + es + t1 + t2) * rho + rho * rho
        t4 = 4.0 * u64 * (abs(ps) + 2.0 * lr * abs(inc[s]) + lr * lr * abs(q[s]))
        en = es + 2.0 * (t1 + t2 + t3 + t4)
        p_new[s] = pn
        e_new[s] = en
        hit = (pn + en) * (1.0 + gam_exact) > thr2
        flag[s] = hit
        if hit:
            count += 1
    return count


@nb.njit(**NJIT_OPTIONS)
def update_rows(W, U, lr):
    """W[s, j] -= lr U[s, j] (float64 arithmetic, stored in W's dtype): the update when it was formed apart."""
    m, d = W.shape
    for s in range(m):
        for j in range(d):
            W[s, j] = np.float64(W[s, j]) - lr * np.float64(U[s, j])


@nb.njit(**NJIT_OPTIONS)
def _row_sq_one(W, W0, b, b0, has_bias, r):
    """||[W[r], b[r]] - [W0[r], b0[r]]||^2 in float64 with four fixed partial sums: the exact kernel."""
    d = W.shape[1]
    Wr = W[r]
    W0r = W0[r]
    t0 = 0.0
    t1 = 0.0
    t2 = 0.0
    t3 = 0.0
    k = 0
    while k + 4 <= d:
        v0 = np.float64(Wr[k]) - np.float64(W0r[k])
        v1 = np.float64(Wr[k + 1]) - np.float64(W0r[k + 1])
        v2 = np.float64(Wr[k + 2]) - np.float64(W0r[k + 2])
        v3 = np.float64(Wr[k + 3]) - np.float64(W0r[k + 3])
        t0 += v0 * v0
        t1 += v1 * v1
        t2 += v2 * v2
        t3 += v3 * v3
        k += 4
    while k < d:
        v0 = np.float64(Wr[k]) - np.float64(W0r[k])
        t0 += v0 * v0
        k += 1
    total = (t0 + t1) + (t2 + t3)
    if has_bias:
        v0 = np.float64(b[r]) - np.float64(b0[r])
        total += v0 * v0
    return total


@nb.njit(**NJIT_OPTIONS)
def row_sq_deviation(W, W0, b, b0, has_bias, rows, out):
    """out[j] = ||[W[r], b[r]] - [W0[r], b0[r]]||^2 for r = rows[j], in float64 with four fixed partial sums
    (the same number for a row whichever rows are computed with it)."""
    for j in range(rows.shape[0]):
        out[j] = _row_sq_one(W, W0, b, b0, has_bias, rows[j])


@nb.njit(**NJIT_OPTIONS)
def _scale_row(W, W0, b, b0, has_bias, r, src, src_b, scale):
    """Row r <- W0[r] + (src - W0[r]) * scale (float64 arithmetic, stored in the working dtype)."""
    d = W.shape[1]
    for k in range(d):
        w0 = np.float64(W0[r, k])
        W[r, k] = w0 + (np.float64(src[k]) - w0) * scale
    if has_bias:
        w0 = np.float64(b0[r])
        b[r] = w0 + (np.float64(src_b) - w0) * scale


@nb.njit(**NJIT_OPTIONS)
def project_rows(W, W0, b, b0, has_bias, rows, sq, radius):
    """Project the rows r = rows[j] with sqrt(sq[j]) > radius onto the ball of ``radius`` around row r of W0;
    sq[j] gets the projected row's squared deviation. Returns the number of rows projected.

    The row becomes ``W0[r] + (row - W0[r]) f`` with ``f = radius / sqrt(sq[j])`` (float64 arithmetic,
    stored in the working dtype). Storing rounds every coordinate to a multiple of ``ulp(W0[r, k])``: when
    the radius is far below ``||W0[r]||`` that can leave the stored row outside. So the stored row is
    measured with the exact kernel (:func:`_row_sq_one`, the one every decision uses), and while it measures
    outside, f is lowered by a margin that doubles each pass (``2^i sqrt(d + 1) u (||W0[r]|| + dev)``, u the
    working dtype's unit roundoff); at the latest when the margin exceeds the radius, f = 0 and the row is
    ``W0[r]`` itself (deviation 0). Rows the plain projection leaves inside are as before this check.
    """
    m, d = W.shape
    u = 2.0 ** -53 if W.itemsize == 8 else 2.0 ** -24
    src = np.empty(d)
    count = 0
    for j in range(rows.shape[0]):
        dev = math.sqrt(sq[j])
        if dev > radius:
            r = rows[j]
            for k in range(d):
                src[k] = np.float64(W[r, k])
            src_b = np.float64(b[r]) if has_bias else 0.0
            w0sq = 0.0
            for k in range(d):
                w0sq += np.float64(W0[r, k]) * np.float64(W0[r, k])
            if has_bias:
                w0sq += np.float64(b0[r]) * np.float64(b0[r])
            unit = math.sqrt(d + 1.0) * u * (math.sqrt(w0sq) + dev)
            margin = 0.0
            while True:
                target = radius - margin
                scale = target / dev if target > 0.0 else 0.0
                _scale_row(W, W0, b, b0, has_bias, r, src, src_b, scale)
                new = _row_sq_one(W, W0, b, b0, has_bias, r)
                if math.sqrt(new) <= radius or scale == 0.0:
                    break
                margin = unit if margin == 0.0 else 2.0 * margin
            sq[j] = new
            count += 1
    return count
