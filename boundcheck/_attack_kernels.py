"""Numba kernels for :mod:`boundcheck.attacks`. Private: no validation, no I/O.

The ray scan works on two arrays that BLAS has already produced:

``pre[i, k, s]``
    the pre-activation ``z_s = w_s . x_i + b_s`` of neuron s of init k at point i (layout of
    :func:`boundcheck._numeric.stacked_preactivations`);
``slope[k, i, s]``
    the directional derivative ``c_s = w_s . u_{k,i}`` along the unit direction of init k at point i
    (one product ``U[k] @ W[k].T`` per init).

Along the ray ``x + t u`` each pre-activation ``z_s + t c_s`` is linear, so
``f(t) = scale * sum_s a_s relu(z_s + t c_s) + c`` is piecewise linear with breakpoints
``t_s = -z_s / c_s``. Each output entry is computed by one thread, sequentially over neurons, so results do
not depend on the number of threads.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._blas_kernels import gemm
from ._kernels import NJIT_OPTIONS as _OPTS  # the package's one set of Numba options


@nb.njit(**_OPTS)
def _is_flipped(v, positive):
    """The flip test with sign(0) := +1: f(0) >= 0 flips to f < 0, f(0) < 0 flips to f >= 0."""
    return v < 0.0 if positive else v >= 0.0


@nb.njit(**_OPTS)
def _piece_root(A, B, t_prev, t_next, positive):
    """First flip point on ``[t_prev, t_next]`` of the piece ``A + B t``, known to be flipped at t_next.

    For f(0) >= 0 this is the infimum of ``{t : A + B t < 0}``; for f(0) < 0 the first t with
    ``A + B t >= 0``. Clamped to the piece (rounding can put the line's root a few ulps outside it); a
    piece that does not move towards the flip (rounding again) gives ``t_next``.
    """
    if (positive and B < 0.0) or ((not positive) and B > 0.0):
        root = -A / B
        if root < t_prev:
            return t_prev
        if root > t_next:
            return t_next
        return root
    return t_next


@nb.njit(**_OPTS)
def _active_sums(pre, slope, a, i, k, active, ingroup):
    """From scratch, in one pass: the sums of a_s z_s and a_s c_s over the active neurons outside the group
    (KA, KB) and over all active neurons (OA, OB)."""
    KA = 0.0
    KB = 0.0
    GA = 0.0
    GB = 0.0
    for s in range(active.shape[0]):
        if active[s]:
            if ingroup[s]:
                GA += a[k, s] * pre[i, k, s]
                GB += a[k, s] * slope[k, i, s]
            else:
                KA += a[k, s] * pre[i, k, s]
                KB += a[k, s] * slope[k, i, s]
    return KA, KB, KA + GA, KB + GB


# breakpoints closer than this (relative) are one point: t_s = -z_s / c_s of neurons that vanish at the
# same point of the ray (e.g. all of them where a bias-free ray passes through the origin) differ by ulps
_TIE = 8.0 * np.finfo(np.float64).eps


@nb.njit(**_OPTS)
def _walk(bpv, whov, order, j, count, stop, pre, slope, a, i, k, scale, c0, positive, active, ingroup, grp,
          state):
    """Walk the breakpoints ``bpv[order[j:count]]`` (increasing) until a flip or a group reaching past ``stop``.

    ``state = [SA, SB, n_active, t_prev]`` is the walk's state, updated in place. Returns
    ``(next j, flip point or +inf, whether a flip was found)``.
    """
    SA = state[0]
    SB = state[1]
    n_active = int(state[2])
    t_prev = state[3]
    found = np.inf
    done = False
    while j < count:
        T = bpv[order[j]]
        lim = T + _TIE * T
        if lim > stop:
            break
        j2 = j + 1
        while j2 < count and bpv[order[j2]] <= lim:
            j2 += 1
        g = 0
        for q in range(j, j2):
            grp[g] = whov[order[q]]
            g += 1
        # sums over the neurons active on both sides of T (the group switches at T)
        MA = SA
        MB = SB
        n_keep = n_active
        for q in range(g):
            s = grp[q]
            ingroup[s] = True
            if active[s]:
                MA -= a[k, s] * pre[i, k, s]
                MB -= a[k, s] * slope[k, i, s]
                n_keep -= 1
        if n_keep == 0:
            MA = 0.0
            MB = 0.0
        if _is_flipped(scale * (MA + MB * T) + c0, positive):
            FA, FB, OA, OB = _active_sums(pre, slope, a, i, k, active, ingroup)
            if _is_flipped(scale * (FA + FB * T) + c0, positive):
                found = _piece_root(scale * OA + c0, scale * OB, t_prev, T, positive)
                done = True
            MA = FA
            MB = FB
        # cross T: the group's active neurons switch off, its inactive ones on
        SA = MA
        SB = MB
        n_active = n_keep
        for q in range(g):
            s = grp[q]
            ingroup[s] = False
            if active[s]:
                active[s] = False
            else:
                active[s] = True
                n_active += 1
                SA += a[k, s] * pre[i, k, s]
                SB += a[k, s] * slope[k, i, s]
        if done:
            break
        t_prev = T
        j = j2
    state[0] = SA
    state[1] = SB
    state[2] = n_active
    state[3] = t_prev
    return j, found, done


@nb.njit(parallel=True, **_OPTS)
def ray_first_flip(pre, slope, a, out_bias, scale, t_out, f_out, offset):
    """Smallest t >= 0 at which sign f(x + t u) differs from sign f(x) (sign(0) := +1); +inf if none.

    Writes ``t_out[k, offset + i]`` and ``f_out[k, offset + i] = f(x_i)`` (the same sum as
    :func:`boundcheck._kernels.forward_from_pre`).

    f is linear on each piece between consecutive breakpoints, so, f(t_prev) being unflipped, a flip occurs
    in ``(t_prev, t_next]`` iff f(t_next) is flipped; the walk tests f at each breakpoint and, at the first
    flipped one, solves the line of the piece before it. Beyond the last breakpoint f is linear: it flips
    iff its slope points towards the flip.

    The walk keeps the running sums ``SA = sum_active a_s z_s`` and ``SB = sum_active a_s c_s``, so that
    ``f(t) = scale (SA + t SB) + c`` on the current piece. At a breakpoint T the neurons that switch there
    (a group, when several breakpoints coincide to within a few ulps) have pre-activation 0, so
    ``f(T) = scale sum_{active, not switching} a_s (z_s + T c_s) + c`` is evaluated without them; when no
    other neuron is active this is exactly the output bias, which gets the structural ties right (f
    reaching exactly 0 where every neuron is off, or where a bias-free ray crosses the origin). Whenever the
    running sums report a flip, the sums are recomputed from scratch to confirm it and to solve the line
    without the rounding of the walk; if the fresh sums disagree, the walk resynchronizes on them.

    Only the breakpoints below ``tau = 4 x`` the root of the initial line are sorted at first (the flip is
    usually there, past a few percent of the breakpoints); if the walk gets past tau, the rest is sorted
    and the walk goes on, so the result does not depend on tau.
    """
    n, K, m = pre.shape
    for i in nb.prange(n):
        bp = np.empty(m)
        who = np.empty(m, dtype=np.int64)
        bp2 = np.empty(m)
        who2 = np.empty(m, dtype=np.int64)
        grp = np.empty(m, dtype=np.int64)
        active = np.empty(m, dtype=np.bool_)
        ingroup = np.zeros(m, dtype=np.bool_)
        state = np.empty(4)
        for k in range(K):
            c0 = out_bias[k]
            SA = 0.0
            SB = 0.0
            n_active = 0
            for s in range(m):
                z = pre[i, k, s]
                cs = slope[k, i, s]
                act = (z > 0.0) | ((z == 0.0) & (cs > 0.0))
                active[s] = act
                # z == 0 terms add +-0.0, so scale * SA + c is bitwise f(x) as forward_from_pre sums it
                SA += a[k, s] * z if act else 0.0
                SB += a[k, s] * cs if act else 0.0
                n_active += act
            f0 = scale * SA + c0
            f_out[k, offset + i] = f0
            positive = f0 >= 0.0
            B0 = scale * SB
            if (positive and B0 < 0.0) or ((not positive) and B0 > 0.0):
                tau = 4.0 * (-f0 / B0)
            else:
                tau = np.inf
            # breakpoints t_s = -z_s / c_s > 0 (z_s and c_s of opposite signs, both nonzero), split at tau
            # and compacted without branches (the signs are random: branches would mispredict)
            c1 = 0
            c2 = 0
            for s in range(m):
                cs = slope[k, i, s]
                t = -pre[i, k, s] / cs if cs != 0.0 else 0.0
                ok = (t > 0.0) & (t < np.inf)
                bp[c1] = t
                who[c1] = s
                c1 += ok & (t <= tau)
                bp2[c2] = t
                who2[c2] = s
                c2 += ok & (t > tau)
            state[0] = SA
            state[1] = SB
            state[2] = n_active
            state[3] = 0.0
            order = np.argsort(bp[:c1])
            j, found, done = _walk(bp, who, order, 0, c1, tau, pre, slope, a, i, k, scale, c0, positive,
                                   active, ingroup, grp, state)
            if not done and (j < c1 or c2 > 0):
                # past tau: merge what is left and walk on
                rest = c1 - j
                for q in range(rest):
                    bp2[c2 + q] = bp[order[j + q]]
                    who2[c2 + q] = who[order[j + q]]
                total = c2 + rest
                order2 = np.argsort(bp2[:total])
                j, found, done = _walk(bp2, who2, order2, 0, total, np.inf, pre, slope, a, i, k, scale, c0,
                                       positive, active, ingroup, grp, state)
            if not done:
                # the last piece [t_prev, inf): linear; flips iff it heads towards the flip
                _, _, FA, FB = _active_sums(pre, slope, a, i, k, active, ingroup)
                if (positive and FB < 0.0) or ((not positive) and FB > 0.0):
                    found = _piece_root(scale * FA + c0, scale * FB, state[3], np.inf, positive)
            t_out[k, offset + i] = found


@nb.njit(parallel=True, **_OPTS)
def forward_per_init(pre, a, out_bias, scale, f_out):
    """f_out[k, j] = scale * sum_s a[k, s] relu(pre[k, j, s]) + out_bias[k]; pre laid out (K, N, m)."""
    K, N, m = pre.shape
    for j in nb.prange(N):
        for k in range(K):
            total = 0.0
            for s in range(m):
                z = pre[k, j, s]
                if z > 0.0:
                    total += a[k, s] * z
            f_out[k, j] = scale * total + out_bias[k]


@nb.njit(parallel=True, **_OPTS)
def forward_and_coefficients_per_init(pre, a, out_bias, scale, f_out, coef):
    """f (as :func:`forward_per_init`) and gradient coefficients coef[k, j, s] = scale a 1{pre > 0}."""
    K, N, m = pre.shape
    for j in nb.prange(N):
        for k in range(K):
            total = 0.0
            for s in range(m):
                z = pre[k, j, s]
                if z > 0.0:
                    total += a[k, s] * z
                    coef[k, j, s] = scale * a[k, s]
                else:
                    coef[k, j, s] = 0.0
            f_out[k, j] = scale * total + out_bias[k]


# --------------------------------------------------------------------------- PGD

# Sums over a row (f over the m neurons, the squared norms over the d coordinates) run in LANES sequential
# partial sums (lane l takes the entries l, l + LANES, ...), combined by halving (lane l + h into lane l for
# h = LANES/2, ..., 1). Unlike one running sum, the lanes vectorize without reordering anything (no
# fastmath), and the order is fixed, so attacks._pgd_chunks_reference repeats it in numpy bit for bit.
LANES = 32


@nb.njit(**_OPTS)
def _halve(acc):
    h = LANES // 2
    while h >= 1:
        for q in range(h):
            acc[q] = acc[q] + acc[q + h]
        h //= 2
    return acc[0]


@nb.njit(**_OPTS)
def _lane_dot(u, v, acc):
    """sum_j u[j] v[j] in the lane order, in the dtype of the arrays (acc: scratch of LANES entries)."""
    n = u.shape[0]
    nq = n // LANES
    for q in range(LANES):
        acc[q] = 0
    for t in range(nq):
        base = t * LANES
        for q in range(LANES):
            acc[q] += u[base + q] * v[base + q]
    for j in range(nq * LANES, n):
        acc[j - nq * LANES] += u[j] * v[j]
    return _halve(acc)


@nb.njit(**_OPTS)
def _forward_row(z, bias, a, sa, acc, zero, need_coef):
    """``sum_s a_s relu(z_s + b_s)`` in the lane order; with need_coef, ``z_s <- sa_s 1{z_s + b_s > 0}``
    (the gradient coefficients, written over the pre-activations)."""
    m = z.shape[0]
    nq = m // LANES
    for q in range(LANES):
        acc[q] = 0
    for t in range(nq):
        base = t * LANES
        for q in range(LANES):
            v = z[base + q] + bias[base + q]
            on = v > zero
            acc[q] += a[base + q] * (v if on else zero)
            if need_coef:
                z[base + q] = sa[base + q] if on else zero
    for s in range(nq * LANES, m):
        v = z[s] + bias[s]
        on = v > zero
        acc[s - nq * LANES] += a[s] * (v if on else zero)
        if need_coef:
            z[s] = sa[s] if on else zero
    return _halve(acc)


@nb.njit(**_OPTS)
def _constrain_row(D, x, r, low, high, has_box, l2, acc):
    """Clip x + D to the box, then project D onto the ball of radius r (l2: rescale; linf: clip), in place."""
    d = D.shape[0]
    if has_box:
        for j in range(d):
            v = x[j] + D[j]
            v = low[j] if v < low[j] else (high[j] if v > high[j] else v)
            D[j] = v - x[j]
    if l2:
        dn = np.sqrt(_lane_dot(D, D, acc))
        if dn > r:
            fac = r / dn
            for j in range(d):
                D[j] = D[j] * fac
    else:
        for j in range(d):
            v = D[j]
            D[j] = -r if v < -r else (r if v > r else v)


@nb.njit(**_OPTS)
def pgd_run(X, y, W, b, a, sa, out_bias, scale, eps64, eps, alpha, start, use_start, low, high, has_box, l2,
            steps, batch, zero, delta_out, f_out):
    """The whole PGD loop, compiled: per chunk of ``batch`` points and per init, ``steps`` iterations of
    two BLAS products (:func:`boundcheck._blas_kernels.gemm`) and fused passes, all in the working dtype of X.

    Shapes: X (n, d); y (n,) float64; W (K, m, d); b, a, sa (K, m) (b zeros without biases; a the top
    layer and sa = scale * a, both in the working dtype); out_bias (K,) and scale float64; eps64 (E,)
    float64 and eps, alpha (E,) in the working dtype; start (K, n, d) float64, a point of the unit ball
    per init and point (read only when use_start); low, high (d,); delta_out (E, K, n, d) in the working
    dtype and f_out (E, K, n) float64 receive the best iterate (lowest margin y f, the start included) and
    its f.

    Rows of a chunk are (budget, point) pairs, budget-major, so each product is one GEMM of
    ``E * chunk`` rows per init: ``pre = Xq W^T``, then the forward pass writes the gradient
    coefficients over ``pre`` and ``g = coef W``. Per row, the step: ``D += (-y alpha / ||g||) g``
    (l2; a zero gradient does not move) or ``D += -y alpha sign(g)`` (linf), clip ``x + D`` to the box,
    project onto the ball, ``Xq = x + D``.
    """
    n, d = X.shape
    K, m, _ = W.shape
    E = eps.shape[0]
    dt = X.dtype
    acc = np.empty(LANES, dt)
    rows_max = E * min(batch, n)
    D = np.empty((rows_max, d), dt)
    Xq = np.empty((rows_max, d), dt)
    g = np.empty((rows_max, d), dt)
    best_D = np.empty((rows_max, d), dt)
    pre = np.empty((rows_max, m), dt)
    f = np.empty(rows_max)
    best_margin = np.empty(rows_max)
    best_f = np.empty(rows_max)
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        nc = hi - lo
        R = E * nc
        for k in range(K):
            Wk = W[k]
            for e in range(E):
                for i in range(nc):
                    r = e * nc + i
                    if use_start:
                        for j in range(d):
                            D[r, j] = eps64[e] * start[k, lo + i, j]
                    else:
                        for j in range(d):
                            D[r, j] = zero
                    _constrain_row(D[r], X[lo + i], eps[e], low, high, has_box, l2, acc)
                    for j in range(d):
                        Xq[r, j] = X[lo + i, j] + D[r, j]
            for it in range(steps + 1):
                need_grad = it < steps
                gemm(False, True, 1.0, Xq[:R], Wk, 0.0, pre[:R])
                for r in range(R):
                    f[r] = scale * _forward_row(pre[r], b[k], a[k], sa[k], acc, zero, need_grad) + out_bias[k]
                if need_grad:
                    gemm(False, False, 1.0, pre[:R], Wk, 0.0, g[:R])
                # the best iterate (the start at it = 0)
                for e in range(E):
                    for i in range(nc):
                        r = e * nc + i
                        mg = y[lo + i] * f[r]
                        if it == 0 or mg < best_margin[r]:
                            best_margin[r] = mg
                            best_f[r] = f[r]
                            for j in range(d):
                                best_D[r, j] = D[r, j]
                if not need_grad:
                    break
                for e in range(E):
                    for i in range(nc):
                        r = e * nc + i
                        step = -alpha[e] if y[lo + i] > 0 else alpha[e]
                        gr = g[r]
                        Dr = D[r]
                        if l2:
                            gn = np.sqrt(_lane_dot(gr, gr, acc))
                            if gn > zero:
                                fac = step / gn
                                for j in range(d):
                                    Dr[j] = Dr[j] + fac * gr[j]
                        else:
                            for j in range(d):
                                v = gr[j]
                                Dr[j] = Dr[j] + (step if v > zero else (-step if v < zero else zero))
                        _constrain_row(Dr, X[lo + i], eps[e], low, high, has_box, l2, acc)
                        for j in range(d):
                            Xq[r, j] = X[lo + i, j] + Dr[j]
            for e in range(E):
                for i in range(nc):
                    r = e * nc + i
                    f_out[e, k, lo + i] = best_f[r]
                    for j in range(d):
                        delta_out[e, k, lo + i, j] = best_D[r, j]
