"""Numba kernels: the element-wise work after the BLAS products. Private: no validation, no I/O.

Every kernel reads pre-activations laid out as ``pre[i, k, s]`` (point i, init k, neuron s), which is the
layout of ``X @ W.reshape(K*m, d).T`` reshaped to ``(n, K, m)``: one BLAS product serves all K inits.

The exact sampler at init (:mod:`boundcheck.fastpath`) draws ``g[i, s] = w_s . x`` directly, one init per
row, and reduces it here too (:func:`reduce_init_draws`). The kernels of the other modules live beside this
one (``boundcheck/_<topic>_kernels.py``) and share its options, :data:`NJIT_OPTIONS`.

Each output entry is computed by one thread with a sequential sum over neurons, so results do not depend on
the number of threads. Convention: a neuron is active iff its pre-activation is strictly positive
(``relu'(0) = 0``).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

#: The Numba options of every compiled kernel of the package (the other kernel modules import them): the
#: GIL released, compiled once and cached on disk, IEEE arithmetic (no fastmath: the numbers must not depend
#: on how the compiler reorders sums), no bounds checks (the public callers validate shapes first).
NJIT_OPTIONS = dict(nogil=True, cache=True, fastmath=False, boundscheck=False)


@nb.njit(parallel=True, **NJIT_OPTIONS)
def forward_from_pre(pre, a, out_bias, scale, out, offset):
    """out[k, offset + i] = scale * sum_s a[k, s] relu(pre[i, k, s]) + out_bias[k]."""
    n, K, m = pre.shape
    for i in nb.prange(n):
        for k in range(K):
            total = 0.0
            for s in range(m):
                total += a[k, s] * max(pre[i, k, s], 0.0)
            out[k, offset + i] = scale * total + out_bias[k]


@nb.njit(parallel=True, **NJIT_OPTIONS)
def gradient_coefficients(pre, a, scale, coef):
    """coef[k, i, s] = scale * a[k, s] * 1{pre[i, k, s] > 0}; then grad = coef[k] @ W[k]."""
    n, K, m = pre.shape
    for i in nb.prange(n):
        for k in range(K):
            for s in range(m):
                coef[k, i, s] = scale * a[k, s] * (pre[i, k, s] > 0.0)


@nb.njit(parallel=True, **NJIT_OPTIONS)
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


@nb.njit(parallel=True, **NJIT_OPTIONS)
def count_active(pre, out, offset):
    """out[k, offset + i] = #{s : pre[i, k, s] > 0}."""
    n, K, m = pre.shape
    for i in nb.prange(n):
        for k in range(K):
            c = 0
            for s in range(m):
                c += pre[i, k, s] > 0.0
            out[k, offset + i] = c


@nb.njit(parallel=True, **NJIT_OPTIONS)
def count_flips(pre, pre0, out, offset):
    """out[k, offset + i] = #{s : 1{pre > 0} != 1{pre0 > 0}}."""
    n, K, m = pre.shape
    for i in nb.prange(n):
        for k in range(K):
            c = 0
            for s in range(m):
                c += (pre[i, k, s] > 0.0) != (pre0[i, k, s] > 0.0)
            out[k, offset + i] = c


@nb.njit(parallel=True, **NJIT_OPTIONS)
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
                vu = a[k, s] * max(z + t, 0.0)
                vd = a[k, s] * max(z - t, 0.0)
                hi += max(vu, vd)
                lo += min(vu, vd)
            lower[k, offset + i] = scale * lo + out_bias[k]
            upper[k, offset + i] = scale * hi + out_bias[k]


@nb.njit(parallel=True, **NJIT_OPTIONS)
def count_reachable_flips(pre0, reach, out, offset):
    """out[k, offset + i] = #{s : -reach_i < pre0 <= reach_i}: neurons the lazy ball can flip."""
    n, K, m = pre0.shape
    for i in nb.prange(n):
        t = reach[i]
        for k in range(K):
            c = 0
            for s in range(m):
                z = pre0[i, k, s]
                c += (z > -t) & (z <= t)  # active ones reach 0, inactive ones pass it
            out[k, offset + i] = c


@nb.njit(**NJIT_OPTIONS)
def ball_slack(p):
    """Relative margin below R at which a row is surely in the ball: ``(p + 8) 2**-53`` for rows of length p.

    :func:`row_deviation` measures ``||w - w0||`` with relative error at most ``((p + 3)/2 + 1) 2**-53`` (plus
    terms below ``p 2**-1070``): the rounding of the p differences, of their squares, of the sequential sum
    and of the square root; the power-of-two scaling is exact. A row measured at most ``R (1 - slack)`` is
    therefore within R exactly, and within R by any other measurement of the same error.
    """
    return (p + 8.0) * 2.0 ** -53


#: Below this sum of squares (or if it is not finite) :func:`row_deviation` rescales: a square that underflows
#: then weighs more than ``2**-100`` of the sum.
_SQ_SAFE_MIN = 2.0 ** -900


@nb.njit(**NJIT_OPTIONS)
def row_deviation(W, W0, r):
    """``(s, e, h)`` with ``||W[r] - W0[r]|| ~= s * 2**e / h`` (``e = 0, h = 1`` in the common case).

    One pass sums the squared differences in order. When that sum is not finite or is below
    ``_SQ_SAFE_MIN`` (a square under- or overflowed), a second pass scales the differences by the power of
    two ``2**-e`` that brings the largest into [0.5, 1) before squaring (``h = 0.5`` when a difference itself
    overflows: both rows are halved first, exactly). Either way the relative error is within
    :func:`ball_slack` / 2.
    """
    p = W.shape[1]
    sq = 0.0
    for j in range(p):
        c = W[r, j] - W0[r, j]
        sq += c * c
    if sq >= _SQ_SAFE_MIN and sq < np.inf:
        return math.sqrt(sq), 0, 1.0
    h = 1.0
    top = 0.0
    for j in range(p):
        top = max(top, abs(W[r, j] - W0[r, j]))
    if top == np.inf:
        h = 0.5
        top = 0.0
        for j in range(p):
            top = max(top, abs(h * W[r, j] - h * W0[r, j]))
    if top == 0.0:
        return 0.0, 0, 1.0
    e = math.frexp(top)[1]
    sq = 0.0
    for j in range(p):
        c = math.ldexp(h * W[r, j] - h * W0[r, j], -e)
        sq += c * c
    return math.sqrt(sq), e, h


@nb.njit(parallel=True, **NJIT_OPTIONS)
def row_deviations(W, W0, out):
    """out[r] = ||W[r] - W0[r]|| as :func:`row_deviation` measures it, for every row of W (rows, p)."""
    for r in nb.prange(W.shape[0]):
        s, e, h = row_deviation(W, W0, r)
        out[r] = s if e == 0 else math.ldexp(s, e) / h


@nb.njit(**NJIT_OPTIONS)
def _within(s, e, h, limit):
    """Whether the measured deviation ``s 2**e / h`` is at most ``limit``, decided without rounding."""
    if s == 0.0:
        return True
    if e == 0 and h == 1.0:
        return s <= limit
    return s <= math.ldexp(limit * h, -e)


@nb.njit(**NJIT_OPTIONS)
def _land_row(W, W0, r, target, out):
    """out[r] = W0[r] + (W[r] - W0[r]) f with the largest f tried whose stored row measures <= target.

    The first try aims a further ``ball_slack(p)`` below ``target`` (so that the rounding of the measurement
    rarely sends it back); when the stored row overshoots (forming ``w0 + delta f`` rounds each
    coordinate to ``ulp(w0)``, which does not shrink with R), the aim is lowered by twice the overshoot, then
    by four times, ...; once the aim reaches 0 the row is ``W0[r]`` (deviation 0).
    """
    p = W.shape[1]
    s, e, h = row_deviation(W, W0, r)
    row = W[r].copy()  # out may be W itself
    aim = target * (1.0 - ball_slack(p))
    for k in range(80):
        # f multiplies h (W[r] - W0[r]), whose measured norm is s 2**e: the row lands at ``aim``
        if aim <= 0.0 or s == 0.0:
            f = 0.0
        elif e == 0:
            f = aim / s
        else:
            f = math.ldexp(aim / s, -e)
        for j in range(p):
            out[r, j] = W0[r, j] + (h * row[j] - h * W0[r, j]) * f
        s2, e2, h2 = row_deviation(out, W0, r)
        if _within(s2, e2, h2, target):
            return
        over = (s2 if e2 == 0 else math.ldexp(s2, e2) / h2) - target
        aim = target - 2.0 ** (k + 1) * max(over, target * 2.0 ** -52)
    for j in range(p):
        out[r, j] = W0[r, j]


@nb.njit(**NJIT_OPTIONS)
def _two_sum(a, b):
    """Error-free sum (Knuth): ``a + b == s + err`` exactly (no overflow)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@nb.njit(**NJIT_OPTIONS)
def _two_prod(a, b):
    """Error-free product (Dekker/Veltkamp): ``a * b == hi + lo`` exactly (|a|, |b| <= 1, no underflow)."""
    split = 134217729.0  # 2^27 + 1
    ca = split * a
    ah = ca - (ca - a)
    al = a - ah
    cb = split * b
    bh = cb - (cb - b)
    bl = b - bh
    hi = a * b
    return hi, ((ah * bh - hi) + ah * bl + al * bh) + al * bl


@nb.njit(**NJIT_OPTIONS)
def ball_verdict(W, W0, r, radius):
    """+1 if ``||W[r] - W0[r]|| <= radius`` exactly (real arithmetic on the stored floats), -1 if not, 0 if
    this test cannot tell (the two within about ``(4p)^2 2**-106`` relative: decide in rationals).

    The differences are split exactly (``w - w0 = d + t``), scaled by a power of two, squared into exact pairs,
    and ``sum (d + t)^2 - radius^2`` is summed with Sum2 (Ogita, Rump and Oishi 2005), whose error bound
    ``u |S| + gamma_N^2 sum |x_i|`` (plus the rounding of the small cross terms and any underflow) decides.
    """
    p = W.shape[1]
    top = radius
    for j in range(p):
        top = max(top, abs(W[r, j] - W0[r, j]))
    if top == 0.0:
        return 1
    if top == np.inf:
        return -1
    e = math.frexp(top)[1]
    sc = math.ldexp(1.0, -e) if e > -1000 else 0.0  # a power of two: products by it round as ldexp does
    s = 0.0
    sigma = 0.0
    mass = 0.0
    for j in range(p):
        d, t = _two_sum(W[r, j], -W0[r, j])
        if e > -1000:
            d *= sc
            t *= sc
        else:
            d = math.ldexp(d, -e)
            t = math.ldexp(t, -e)
        hi, lo = _two_prod(d, d)
        cross = 2.0 * (d * t)
        tt = t * t
        s, err = _two_sum(s, hi)
        sigma += err
        s, err = _two_sum(s, lo)
        sigma += err
        s, err = _two_sum(s, cross)
        sigma += err
        s, err = _two_sum(s, tt)
        sigma += err
        mass += abs(hi) + abs(lo) + abs(cross) + tt
    rr = math.ldexp(radius, -e)
    hi, lo = _two_prod(rr, rr)
    s, err = _two_sum(s, -hi)
    sigma += err
    s, err = _two_sum(s, -lo)
    sigma += err
    mass += abs(hi) + abs(lo)
    total = s + sigma
    u = 2.0 ** -53
    n = 4.0 * p + 2.0
    g = n * u / (1.0 - n * u)
    bound = 2.0 * (2.0 * u * abs(total) + (g * g + 3.0 * u * u) * mass * (1.0 + 2.0 * n * u) + (p + 1.0) * 2.0 ** -1060)
    if total > bound:
        return -1
    if total < -bound:
        return 1
    return 0


@nb.njit(parallel=True, **NJIT_OPTIONS)
def ball_verdicts(W, W0, radius, rows, out):
    """out[j] = :func:`ball_verdict` of row ``rows[j]``."""
    for j in nb.prange(rows.shape[0]):
        out[j] = ball_verdict(W, W0, rows[j], radius)


@nb.njit(parallel=True, **NJIT_OPTIONS)
def project_rows(W, W0, radius, out, band, force, copy):
    """Row-wise projection of W (rows, p) onto the balls of radius ``radius`` around the rows of W0.

    A row measured (:func:`row_deviation`) at most ``radius (1 - ball_slack(p))`` is copied: it is in the
    ball exactly. A row measured above ``radius`` is moved along ``W[r] - W0[r]`` until its *stored* value
    measures at most ``radius (1 - ball_slack(p))`` (:func:`_land_row`), so it is in the ball exactly and by
    this measurement. A row in between is copied and flagged in ``band`` (bool, (rows,)): only exact
    arithmetic can tell whether it is in the ball (the caller decides, then lands those that are not with
    ``force=True``, which lands every row given). ``out`` may be ``W`` itself, with ``copy=False`` (then the
    rows that stay are not written).
    """
    rows, p = W.shape
    target = radius * (1.0 - ball_slack(p))
    for r in nb.prange(rows):
        band[r] = False
        if not force:
            s, e, h = row_deviation(W, W0, r)
            if _within(s, e, h, radius):
                if copy:
                    for j in range(p):
                        out[r, j] = W[r, j]
                band[r] = not _within(s, e, h, target)
                continue
        _land_row(W, W0, r, target, out)


@nb.njit(parallel=True, **NJIT_OPTIONS)
def fused_pass(pre, pre0, a, out_bias, scale, reach, with_flips, with_radius,
               f, active, flips, lower, upper, reach_flips, coef, offset):
    """All the element-wise work of one network pass, reading each pre-activation once.

    Writes f, the active count, the flip count (if ``with_flips``), the exact f range and max flips over
    the lazy ball (if ``with_radius``; from ``pre0``) and the gradient coefficients ``coef[k, i, s]``.
    The loop body is branch-free (max/min and comparisons as numbers): whether a neuron is active is a coin
    flip, which a branch would mispredict half the time.
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
            if with_radius:
                for s in range(m):
                    z = pre[i, k, s]
                    ask = a[k, s]
                    pos = z > 0.0
                    tot += ask * max(z, 0.0)
                    cnt += pos
                    coef[k, i, s] = scale * ask * pos
                    z0 = pre0[i, k, s]
                    fl += pos != (z0 > 0.0)
                    vu = ask * max(z0 + t, 0.0)
                    vd = ask * max(z0 - t, 0.0)
                    hi += max(vu, vd)
                    lo += min(vu, vd)
                    rf += (z0 > -t) & (z0 <= t)
            else:
                for s in range(m):
                    z = pre[i, k, s]
                    ask = a[k, s]
                    pos = z > 0.0
                    tot += ask * max(z, 0.0)
                    cnt += pos
                    coef[k, i, s] = scale * ask * pos
                    fl += pos != (pre0[i, k, s] > 0.0)
            f[k, offset + i] = scale * tot + out_bias[k]
            active[k, offset + i] = cnt
            if with_flips:
                flips[k, offset + i] = fl
            if with_radius:
                lower[k, offset + i] = scale * lo + out_bias[k]
                upper[k, offset + i] = scale * hi + out_bias[k]
                reach_flips[k, offset + i] = rf


@nb.njit(**NJIT_OPTIONS)
def _dist_to_wedge(p1, p2, c11, c12, c22):
    """Squared distance from p to the closed cone {w : w.c1 >= 0, w.c2 >= 0}.

    Only inner products are needed: ``p1 = p.c1``, ``p2 = p.c2``, ``c11 = c1.c1``, ``c12 = c1.c2``,
    ``c22 = c2.c2``. The projection onto a cone cut by two half-spaces is p itself, its projection onto one
    face, or its projection onto the apex subspace {w.c1 = w.c2 = 0}; the distance is the least over the
    feasible candidates.
    """
    if p1 >= 0.0 and p2 >= 0.0:
        return 0.0
    best = np.inf
    # face c1: remove the c1 component; feasible if the result still has w.c2 >= 0
    if p1 < 0.0:
        r2 = p2 - p1 * c12 / c11
        if r2 >= 0.0:
            best = min(best, p1 * p1 / c11)
    if p2 < 0.0:
        r1 = p1 - p2 * c12 / c22
        if r1 >= 0.0:
            best = min(best, p2 * p2 / c22)
    # apex of the wedge: remove the whole span(c1, c2) component
    det = c11 * c22 - c12 * c12
    if det > 0.0:
        # squared norm of the projection onto span(c1, c2) = [p1 p2] G^{-1} [p1 p2]^T
        apex = (c22 * p1 * p1 - 2.0 * c12 * p1 * p2 + c11 * p2 * p2) / det
        best = min(best, apex)
    return best


@nb.njit(parallel=True, **NJIT_OPTIONS)
def count_reachable_pair_flips(pre0_x, pre0_y, gram_xx, gram_xy, gram_yy, radius, out, offset):
    """out[k, offset+i] = #{s : some w in B(w0_s, R) has 1{w.x > 0} != 1{w.y > 0}}.

    Works in the plane of (x~, y~): with u = x~, v = y~, the neuron is flippable iff the distance from w0_s
    to the closed wedge {w.u >= 0, w.v <= 0} or to {w.u <= 0, w.v >= 0} is <= R. The inputs must be
    non-degenerate (u, v non-zero and not parallel); the caller treats degenerate pairs.
    """
    n, K, m = pre0_x.shape
    r2 = radius * radius
    for i in nb.prange(n):
        uu = gram_xx[i]
        uv = gram_xy[i]
        vv = gram_yy[i]
        for k in range(K):
            c = 0
            for s in range(m):
                px = pre0_x[i, k, s]
                py = pre0_y[i, k, s]
                # wedge A: w.u >= 0 and w.(-v) >= 0
                dA = _dist_to_wedge(px, -py, uu, -uv, vv)
                # wedge B: w.(-u) >= 0 and w.v >= 0
                dB = _dist_to_wedge(-px, py, uu, -uv, vv)
                if min(dA, dB) <= r2:
                    c += 1
            out[k, offset + i] = c


@nb.njit(parallel=True, **NJIT_OPTIONS)
def reduce_init_draws(g, a_positive, radius, scale, f, lower, upper, active, flips, offset):
    """f, the exact f range over the lazy ball, N_+ and the max flips from draws at init (:mod:`boundcheck.fastpath`).

    ``g[i, s] = w_s . x`` and ``a_s = +1`` iff ``a_positive[i, s]``, one independent init per row i; writes
    entries ``offset + i`` of ``f``, ``lower``, ``upper`` (scaled by ``scale``), ``active`` and ``flips``.
    """
    n, m = g.shape
    for i in nb.prange(n):
        tot = 0.0
        lo = 0.0
        hi = 0.0
        cnt = 0
        fl = 0
        for s in range(m):  # branch-free: the signs are coin flips a branch would mispredict
            z = g[i, s]
            sign = 2.0 * a_positive[i, s] - 1.0
            tot += sign * max(z, 0.0)
            cnt += z > 0.0
            fl += (z > -radius) & (z <= radius)
            vu = sign * max(z + radius, 0.0)
            vd = sign * max(z - radius, 0.0)
            hi += max(vu, vd)
            lo += min(vu, vd)
        f[offset + i] = scale * tot
        lower[offset + i] = scale * lo
        upper[offset + i] = scale * hi
        active[offset + i] = cnt
        flips[offset + i] = fl
