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

@nb.njit(**_OPTS)
def pgd_step(D, g, X, y, alpha, eps, low, high, has_box, l2, Xq):
    """One PGD step on every row, in place: ascent, box clip, projection onto the eps ball; Xq = X + D.

    D, g, Xq: (K, E, n, d); X: (n, d); y: (n,); alpha, eps: (E,); low, high: (d,). The ascent direction is
    ``-y g / ||g||`` (l2; a zero gradient does not move) or ``-y sign(g)`` (linf)."""
    K, E, n, d = D.shape
    for k in range(K):
        for e in range(E):
            for i in range(n):
                step = -y[i] * alpha[e]
                if l2:
                    t = 0.0
                    for j in range(d):
                        t += g[k, e, i, j] * g[k, e, i, j]
                    gn = np.sqrt(t)
                    fac = step / gn if gn > 0.0 else 0.0
                    for j in range(d):
                        D[k, e, i, j] = D[k, e, i, j] + fac * g[k, e, i, j]
                else:
                    for j in range(d):
                        v = g[k, e, i, j]
                        sg = 1.0 if v > 0.0 else (-1.0 if v < 0.0 else 0.0)
                        D[k, e, i, j] = D[k, e, i, j] + step * sg
                if has_box:
                    for j in range(d):
                        x = X[i, j]
                        v = x + D[k, e, i, j]
                        v = low[j] if v < low[j] else (high[j] if v > high[j] else v)
                        D[k, e, i, j] = v - x
                r = eps[e]
                if l2:
                    t = 0.0
                    for j in range(d):
                        t += D[k, e, i, j] * D[k, e, i, j]
                    dn = np.sqrt(t)
                    if dn > r:
                        fac = r / dn
                        for j in range(d):
                            D[k, e, i, j] = D[k, e, i, j] * fac
                else:
                    for j in range(d):
                        v = D[k, e, i, j]
                        D[k, e, i, j] = -r if v < -r else (r if v > r else v)
                for j in range(d):
                    Xq[k, e, i, j] = X[i, j] + D[k, e, i, j]


@nb.njit(**_OPTS)
def pgd_keep_best(f, y, D, best_margin, best_f, best_D):
    """Rows whose margin y f dropped below the best so far: copy f and D into the best (touches only them)."""
    K, E, n, d = D.shape
    for k in range(K):
        for e in range(E):
            for i in range(n):
                mg = y[i] * f[k, e, i]
                if mg < best_margin[k, e, i]:
                    best_margin[k, e, i] = mg
                    best_f[k, e, i] = f[k, e, i]
                    for j in range(d):
                        best_D[k, e, i, j] = D[k, e, i, j]


@nb.njit(**_OPTS)
def pgd_forward(pre, b, a, out_bias, scale, f_out, need_coef):
    """Serial and branch-free, for PGD's inner loop: pre[k, j] += b[k] (pass zeros without biases);
    f_out[k, j] = scale * sum_s a[k, s] relu(pre[k, j, s]) + out_bias[k] (four fixed partial sums); with
    need_coef, the gradient coefficients ``scale a[k, s] 1{pre > 0}`` are written **over** pre."""
    K, N, m = pre.shape
    for k in range(K):
        for j in range(N):
            t0 = 0.0
            t1 = 0.0
            t2 = 0.0
            t3 = 0.0
            s = 0
            while s + 4 <= m:
                z0 = pre[k, j, s] + b[k, s]
                z1 = pre[k, j, s + 1] + b[k, s + 1]
                z2 = pre[k, j, s + 2] + b[k, s + 2]
                z3 = pre[k, j, s + 3] + b[k, s + 3]
                t0 += a[k, s] * (z0 if z0 > 0.0 else 0.0)
                t1 += a[k, s + 1] * (z1 if z1 > 0.0 else 0.0)
                t2 += a[k, s + 2] * (z2 if z2 > 0.0 else 0.0)
                t3 += a[k, s + 3] * (z3 if z3 > 0.0 else 0.0)
                if need_coef:
                    pre[k, j, s] = scale * a[k, s] if z0 > 0.0 else 0.0
                    pre[k, j, s + 1] = scale * a[k, s + 1] if z1 > 0.0 else 0.0
                    pre[k, j, s + 2] = scale * a[k, s + 2] if z2 > 0.0 else 0.0
                    pre[k, j, s + 3] = scale * a[k, s + 3] if z3 > 0.0 else 0.0
                s += 4
            while s < m:
                z0 = pre[k, j, s] + b[k, s]
                t0 += a[k, s] * (z0 if z0 > 0.0 else 0.0)
                if need_coef:
                    pre[k, j, s] = scale * a[k, s] if z0 > 0.0 else 0.0
                s += 1
            f_out[k, j] = scale * ((t0 + t1) + (t2 + t3)) + out_bias[k]
