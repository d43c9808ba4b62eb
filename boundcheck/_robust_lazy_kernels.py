"""Numba kernels for :mod:`boundcheck.robust_lazy`. Private: no validation, no I/O.

Two kinds of work after the BLAS products:

* the walk through the breakpoints of the ray ``x - t s grad f(x; W)``, for ``D_seg`` and the sufficient
  step (:func:`boundcheck.robust_lazy.segment_gradient_deviation`,
  :func:`~boundcheck.robust_lazy.sufficient_step`, :func:`~boundcheck.robust_lazy.certify_step`), from the
  pre-activations ``pre[i, k, s]`` (layout of
  :func:`boundcheck.ops.preactivations`) and their slopes along the step ``slope[k, i, s]``;
* the projected, row-normalized ascent steps of :func:`boundcheck.robust_lazy.robust_lazy_weights`.

Each output entry (a point, or a row of W) is computed by one thread, sequentially, so results do not depend
on the number of threads.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._kernels import NJIT_OPTIONS

__all__ = ["scan_all", "ascent_step_lowrank", "ascent_step_dense"]

#: Relative width below which breakpoints are merged and a certified piece is a rounding artifact.
_TIE = 16.0 * np.finfo(np.float64).eps


# ======================================================================================================
# The walk through the ray's breakpoints
# ======================================================================================================

@nb.njit(**NJIT_OPTIONS)
def _switch(order, j, j2, kinds, who, kind, a_row, Wk, v):
    """Apply the breakpoints ``order[j:j2]`` of one kind to the running gradient change v: a switch-off
    (kind 0) of neuron s subtracts ``a_s w_s``, a switch-on (kind 1) adds it. Returns whether any applied."""
    d = v.shape[0]
    changed = False
    for q in range(j, j2):
        idx = order[q]
        if kinds[idx] == kind:
            s = who[idx]
            if kind == 0:
                for r in range(d):
                    v[r] -= a_row[s] * Wk[s, r]
            else:
                for r in range(d):
                    v[r] += a_row[s] * Wk[s, r]
            changed = True
    return changed


@nb.njit(**NJIT_OPTIONS)
def _scaled_norm(v, scale):
    """``scale * ||v||``, summed in order."""
    acc = 0.0
    for r in range(v.shape[0]):
        acc += v[r] * v[r]
    return scale * np.sqrt(acc)


@nb.njit(**NJIT_OPTIONS)
def _scan_point(pre_row, slope_row, a_row, Wk, scale, absf, G, eta, mode, tol, times, kinds, who, v):
    """Walk the breakpoints of the ray ``x + t v_dir`` (t in step units) for one init and point.

    ``pre_row[s] = z_s`` and ``slope_row[s] = c_s`` (pre-activation ``z_s + t c_s``). A neuron active at 0
    (``z_s > 0``) with ``c_s < 0`` switches off **at** ``t_s = -z_s / c_s`` (pre-activation 0 counts as
    inactive); one inactive at 0 (``z_s <= 0``) with ``c_s > 0`` switches on **after** ``t_s``. So the
    state at a breakpoint T holds the switch-offs at T but not the switch-ons, and just after T both.

    mode 0: returns ``(D_seg(eta), nan, nan)``, the maximum over t in [0, eta] of the scaled norm of the
    gradient change. mode 1: returns ``(eta_suff, piece_end, D)``: the infimum of the steps certified by
    ``t G (G - D_seg(t)) > absf``, the end of the piece it lies on, and ``D_seg`` on that piece
    (``(inf, inf, D)`` when no step is certified). ``tol`` bounds the rounding of ``G`` and of the
    deviations: a piece with ``G - D <= tol`` certifies nothing (e.g. past a point where every neuron
    switches off, ``D = G`` exactly but not after rounding).
    """
    m = pre_row.shape[0]
    d = Wk.shape[1]
    cnt = 0
    for s in range(m):
        z = pre_row[s]
        c = slope_row[s]
        if z > 0.0 and c < 0.0:
            t = -z / c
            if t < np.inf:
                times[cnt] = t
                kinds[cnt] = 0
                who[cnt] = s
                cnt += 1
        elif z <= 0.0 and c > 0.0:
            t = -z / c
            if t < np.inf:
                times[cnt] = t if t > 0.0 else 0.0
                kinds[cnt] = 1
                who[cnt] = s
                cnt += 1
    order = np.argsort(times[:cnt])
    for q in range(d):
        v[q] = 0.0
    M = 0.0
    prev = 0.0
    j = 0
    while True:
        nextT = times[order[j]] if j < cnt else np.inf
        if mode == 1:
            # the open piece (prev, nextT), on which D_seg = M
            if G - M > tol:
                e = absf / (G * (G - M))
                cand = e if e > prev else prev
                # a piece shorter than rounding is not trusted: e.g. a network whose f reaches 0 exactly at
                # a kink, where e = nextT in exact arithmetic but e < nextT after rounding
                if cand < nextT and (nextT == np.inf or nextT - cand > _TIE * nextT):
                    return cand, nextT, M
            if j >= cnt:
                return np.inf, np.inf, M
        else:
            if j >= cnt or nextT > eta:
                return M, np.nan, np.nan
        # breakpoints within a few ulps are one point (e.g. all of them where a bias-free ray crosses the
        # origin): the states in between are artifacts of rounding
        lim = nextT + _TIE * nextT
        j2 = j + 1
        while j2 < cnt and times[order[j2]] <= lim:
            j2 += 1
        # the switch-offs at nextT count at nextT itself, the switch-ons only after it
        if _switch(order, j, j2, kinds, who, 0, a_row, Wk, v):
            nv = _scaled_norm(v, scale)
            if nv > M:
                M = nv
        if mode == 0 and not nextT < eta:
            return M, np.nan, np.nan
        if _switch(order, j, j2, kinds, who, 1, a_row, Wk, v):
            nv = _scaled_norm(v, scale)
            if nv > M:
                M = nv
        prev = nextT
        j = j2


@nb.njit(parallel=True, **NJIT_OPTIONS)
def scan_all(pre, slope, a, W, scale, absf, G, eta, mode, tol, out0, out1, out2, offset):
    """:func:`_scan_point` for every init and point of a chunk; pre (nc, K, m), slope (K, nc, m)."""
    nc, K, m = pre.shape
    d = W.shape[2]
    for i in nb.prange(nc):
        times = np.empty(m)
        kinds = np.empty(m, dtype=np.int8)
        who = np.empty(m, dtype=np.int64)
        v = np.empty(d)
        for k in range(K):
            r0, r1, r2 = _scan_point(pre[i, k], slope[k, i], a[k], W[k], scale, absf[k, i], G[k, i], eta[k, i],
                                     mode, tol[k], times, kinds, who, v)
            out0[k, offset + i] = r0
            out1[k, offset + i] = r1
            out2[k, offset + i] = r2


# ======================================================================================================
# The projected ascent steps of the adversary over W
# ======================================================================================================

@nb.njit(**NJIT_OPTIONS)
def _move_row(W, W0, k, s, gbuf, step, radius, out):
    """out[k, s] = the projection onto B(W0[k, s], radius) of W[k, s] + step * gbuf / ||gbuf||."""
    d = gbuf.shape[0]
    acc = 0.0
    for r in range(d):
        acc += gbuf[r] * gbuf[r]
    gn = np.sqrt(acc)
    factor = step / gn if gn > 0.0 else 0.0
    sq = 0.0
    for r in range(d):
        w = W[k, s, r] + factor * gbuf[r]
        gbuf[r] = w
        dlt = w - W0[k, s, r]
        sq += dlt * dlt
    norm = np.sqrt(sq)
    if norm > radius:
        f = radius / norm
        for r in range(d):
            out[k, s, r] = W0[k, s, r] + (gbuf[r] - W0[k, s, r]) * f
    else:
        for r in range(d):
            out[k, s, r] = gbuf[r]


@nb.njit(parallel=True, **NJIT_OPTIONS)
def ascent_step_lowrank(W, W0, a, cb, ca, Xp, H, scale, eta, step, radius, out):
    """One projected, row-normalized ascent step with the W-gradient formed row by row.

    Row s of init k moves along ``scale a_s sum_i (cb[k, i, s] Xp[k, i] - eta ca[k, i, s] H[k, i])`` by
    ``step`` and is projected onto the ball of ``radius`` around ``W0[k, s]``. One pass over W: for few
    points this beats forming the (K, m, d) gradient with BLAS and normalizing it in separate passes.
    """
    K, m, d = W.shape
    n = cb.shape[1]
    for ks in nb.prange(K * m):
        k = ks // m
        s = ks % m
        gbuf = np.zeros(d)
        for i in range(n):
            p = cb[k, i, s]
            q = eta * ca[k, i, s]
            if p != 0.0:
                for r in range(d):
                    gbuf[r] += p * Xp[k, i, r]
            if q != 0.0:
                for r in range(d):
                    gbuf[r] -= q * H[k, i, r]
        c = scale * a[k, s]
        for r in range(d):
            gbuf[r] *= c
        _move_row(W, W0, k, s, gbuf, step, radius, out)


@nb.njit(parallel=True, **NJIT_OPTIONS)
def ascent_step_dense(W, W0, G, step, radius, out):
    """One projected, row-normalized ascent step along a given gradient G (K, m, d)."""
    K, m, d = W.shape
    for ks in nb.prange(K * m):
        k = ks // m
        s = ks % m
        gbuf = np.empty(d)
        for r in range(d):
            gbuf[r] = G[k, s, r]
        _move_row(W, W0, k, s, gbuf, step, radius, out)
