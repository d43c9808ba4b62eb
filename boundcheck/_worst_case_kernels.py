"""Numba kernels for :mod:`boundcheck.worst_cases`. Private: no validation, no I/O.

Two exact inner problems of the lazy-ball worst cases, solved per (init, point) by the caller's loop:

* the infimum of ``||grad f||`` for fixed activation patterns, and the searches over patterns (greedy, and
  exhaustive for few flexible neurons) of :func:`boundcheck.worst_cases.grad_norm_lower`;
* the best response of one neuron, in the 3-D span of ``(x, z, e)``, of
  :func:`boundcheck.worst_cases.grad_difference_upper`.

They run sequentially (one call per sample); the numbers do not depend on the thread count.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ._kernels import NJIT_OPTIONS

__all__ = ["greedy_patterns", "exhaustive_patterns", "diff_best_response"]


# ======================================================================================================
# Compiled kernels: the exact per-pattern problem of the gradient-norm infimum
# ======================================================================================================
#
# For a fixed activation pattern the infimum of ||grad f|| over the ball is a convex problem, and it reduces
# to one variable (see :func:`boundcheck.worst_cases.grad_norm_lower`, Notes): with y_s = a_s alpha_s
# (alpha_s the move of neuron s along x_hat), the best y_s given a common tau in [-1, 1] is clip(R tau, lo_s, hi_s), and
#     h(tau) = (c + Y(tau))^2 + (B - rho(tau))_+^2,
#     Y = n_ra R tau + sum_on clip(R tau, lo, hi),  rho = n_ra R sqrt(1 - tau^2) + sum_on sqrt(R^2 - y^2)
# (n_ra robustly active neurons, which never clip). h is quasi-convex in tau (convex in Y, Y monotone).


@nb.njit(**NJIT_OPTIONS)
def _h_tau(tau, c, B, n_ra, R, lo, hi, on):
    Y = n_ra * R * tau
    rho = n_ra * R * math.sqrt(max(1.0 - tau * tau, 0.0))
    for s in range(lo.shape[0]):
        if on[s]:
            y = min(max(R * tau, lo[s]), hi[s])
            Y += y
            rho += math.sqrt(max(R * R - y * y, 0.0))
    F = c + Y
    Pp = B - rho
    return F * F + (Pp * Pp if Pp > 0.0 else 0.0)


@nb.njit(**NJIT_OPTIONS)
def _solve_tau(c, B, n_ra, R, lo, hi, on, n_grid, n_golden):
    """Minimize h over tau in [-1, 1]: a grid, then golden section around the best grid point."""
    best_t = -1.0
    best_h = np.inf
    step = 2.0 / (n_grid - 1)
    for j in range(n_grid):
        t = -1.0 + j * step
        h = _h_tau(t, c, B, n_ra, R, lo, hi, on)
        if h < best_h:
            best_h = h
            best_t = t
    a = max(-1.0, best_t - step)
    b = min(1.0, best_t + step)
    gr = 0.6180339887498949
    t1 = b - gr * (b - a)
    t2 = a + gr * (b - a)
    h1 = _h_tau(t1, c, B, n_ra, R, lo, hi, on)
    h2 = _h_tau(t2, c, B, n_ra, R, lo, hi, on)
    for _ in range(n_golden):
        if h1 <= h2:
            b = t2
            t2 = t1
            h2 = h1
            t1 = b - gr * (b - a)
            h1 = _h_tau(t1, c, B, n_ra, R, lo, hi, on)
        else:
            a = t1
            t1 = t2
            h1 = h2
            t2 = a + gr * (b - a)
            h2 = _h_tau(t2, c, B, n_ra, R, lo, hi, on)
    for t, h in ((t1, h1), (t2, h2)):
        if h < best_h:
            best_h = h
            best_t = t
    return best_t, best_h


@nb.njit(**NJIT_OPTIONS)
def _pattern_state(z, cg, v, G, h0, c_ra):
    n = z.shape[0]
    c = c_ra
    B2 = h0
    for s in range(n):
        if z[s]:
            c += cg[s]
            B2 += 2.0 * v[s]
            for t in range(n):
                if z[t]:
                    B2 += G[s, t]
    return c, math.sqrt(max(B2, 0.0))


@nb.njit(**NJIT_OPTIONS)
def greedy_patterns(z0, can_on, cg, v, G, h0, c_ra, n_ra, R, lo, hi, max_moves, n_grid, n_golden):
    """Local search over activation patterns (toggle one flexible neuron at a time), exact inner solve.

    A toggle is first scored at the current tau (a feasible point of the new pattern, hence an upper bound
    on its optimum); the best scored toggle is accepted if it improves. When none does, every toggle is
    solved exactly and the best is accepted if it improves; otherwise the search stops (a 1-flip local
    optimum). Returns the pattern, its tau and h.
    """
    n = z0.shape[0]
    z = z0.copy()
    Gz = np.zeros(n)
    for s in range(n):
        if z[s]:
            for t in range(n):
                Gz[t] += G[t, s]
    c, B = _pattern_state(z, cg, v, G, h0, c_ra)
    tau, h = _solve_tau(c, B, n_ra, R, lo, hi, z, n_grid, n_golden)
    B2 = B * B
    yon = np.empty(n)
    ron = np.empty(n)
    for _ in range(max_moves):
        Y = n_ra * R * tau
        rho = n_ra * R * math.sqrt(max(1.0 - tau * tau, 0.0))
        for s in range(n):
            y = min(max(R * tau, lo[s]), hi[s])
            yon[s] = y
            ron[s] = math.sqrt(max(R * R - y * y, 0.0))
            if z[s]:
                Y += y
                rho += ron[s]
        best_s = -1
        best_score = h - 1e-12 * h - 1e-300
        for s in range(n):
            if not z[s] and not can_on[s]:
                continue
            dl = 1.0 - 2.0 * z[s]
            Y2 = Y + dl * yon[s]
            rho2 = rho + dl * ron[s]
            c2 = c + dl * cg[s]
            B2n = B2 + 2.0 * dl * (v[s] + Gz[s]) + G[s, s]
            F = c2 + Y2
            Pp = math.sqrt(max(B2n, 0.0)) - rho2
            score = F * F + (Pp * Pp if Pp > 0.0 else 0.0)
            if score < best_score:
                best_score = score
                best_s = s
        exact = False
        if best_s < 0:
            # exact check of every toggle
            exact = True
            for s in range(n):
                if not z[s] and not can_on[s]:
                    continue
                dl = 1.0 - 2.0 * z[s]
                c2 = c + dl * cg[s]
                B2n = B2 + 2.0 * dl * (v[s] + Gz[s]) + G[s, s]
                z[s] = not z[s]
                t2, h2 = _solve_tau(c2, math.sqrt(max(B2n, 0.0)), n_ra, R, lo, hi, z, n_grid, n_golden)
                z[s] = not z[s]
                if h2 < best_score:
                    best_score = h2
                    best_s = s
            if best_s < 0:
                break
        # accept best_s
        s = best_s
        z[s] = not z[s]
        dl = 1.0 if z[s] else -1.0
        for t in range(n):
            Gz[t] += dl * G[t, s]
        c, B = _pattern_state(z, cg, v, G, h0, c_ra)
        B2 = B * B
        t_new, h_new = _solve_tau(c, B, n_ra, R, lo, hi, z, n_grid, n_golden)
        h_old_tau = _h_tau(tau, c, B, n_ra, R, lo, hi, z)
        if h_old_tau < h_new:
            t_new, h_new = tau, h_old_tau
        if not exact and h_new >= h:
            # scoring was only approximate in B2 rounding: stop rather than cycle
            z[s] = not z[s]
            for t in range(n):
                Gz[t] -= dl * G[t, s]
            c, B = _pattern_state(z, cg, v, G, h0, c_ra)
            B2 = B * B
            break
        tau, h = t_new, h_new
    return z, tau, h


@nb.njit(**NJIT_OPTIONS)
def exhaustive_patterns(idx_free, n, cg, v, G, h0, c_ra, n_ra, R, lo, hi, n_grid, n_golden):
    """Try every pattern of the neurons ``idx_free`` (the others off); return the best (z, tau, h)."""
    k = idx_free.shape[0]
    best_h = np.inf
    best_t = 0.0
    best_z = np.zeros(n, dtype=np.bool_)
    z = np.zeros(n, dtype=np.bool_)
    for code in range(1 << k):
        for j in range(k):
            z[idx_free[j]] = (code >> j) & 1
        c, B = _pattern_state(z, cg, v, G, h0, c_ra)
        t, h = _solve_tau(c, B, n_ra, R, lo, hi, z, n_grid, n_golden)
        if h < best_h:
            best_h = h
            best_t = t
            best_z[:] = z
    return best_z, best_t, best_h


# ======================================================================================================
# Compiled kernel: best response of one neuron for the gradient difference (3-D geometry)
# ======================================================================================================

@nb.njit(**NJIT_OPTIONS)
def _lin_ball2(v0, v1, v2, n1, b1, n2, b2, R):
    """max v . delta over ||delta|| <= R, n1 . delta >= b1, n2 . delta >= b2 in R^3 (n1, n2 unit vectors).

    Returns (value, d0, d1, d2); value is -inf when the set is empty. Exact: the optimum is the
    maximizer of one of the four problems with a subset of the constraints as equalities (none, 1, 2,
    both), and the largest feasible one among those is optimal. With v = 0 it finds a feasible point
    (the candidates are then the projections of 0).
    """
    tol = 1e-12 * (R + abs(b1) + abs(b2)) + 1e-300
    best = -np.inf
    bd0 = 0.0
    bd1 = 0.0
    bd2 = 0.0
    vn = math.sqrt(v0 * v0 + v1 * v1 + v2 * v2)
    # case 0
    if vn > 0:
        c0, c1, c2 = R * v0 / vn, R * v1 / vn, R * v2 / vn
    else:
        c0, c1, c2 = 0.0, 0.0, 0.0
    if c0 * n1[0] + c1 * n1[1] + c2 * n1[2] >= b1 - tol and c0 * n2[0] + c1 * n2[1] + c2 * n2[2] >= b2 - tol:
        val = v0 * c0 + v1 * c1 + v2 * c2
        if val > best:
            best, bd0, bd1, bd2 = val, c0, c1, c2
    # cases 1 and 2: one plane
    for which in range(2):
        if which == 0:
            na, ba, nb_, bb = n1, b1, n2, b2
        else:
            na, ba, nb_, bb = n2, b2, n1, b1
        rr = R * R - ba * ba
        if rr < -tol * R:
            continue
        rr = max(rr, 0.0)
        vp = v0 * na[0] + v1 * na[1] + v2 * na[2]
        p0, p1, p2 = v0 - vp * na[0], v1 - vp * na[1], v2 - vp * na[2]
        pn = math.sqrt(p0 * p0 + p1 * p1 + p2 * p2)
        s = math.sqrt(rr) / pn if pn > 1e-300 else 0.0
        c0, c1, c2 = ba * na[0] + s * p0, ba * na[1] + s * p1, ba * na[2] + s * p2
        if c0 * nb_[0] + c1 * nb_[1] + c2 * nb_[2] >= bb - tol:
            val = v0 * c0 + v1 * c1 + v2 * c2
            if val > best:
                best, bd0, bd1, bd2 = val, c0, c1, c2
    # case 12: the line of both planes
    c12 = n1[0] * n2[0] + n1[1] * n2[1] + n1[2] * n2[2]
    det = 1.0 - c12 * c12
    if det > 1e-14:
        l1 = (b1 - c12 * b2) / det
        l2 = (b2 - c12 * b1) / det
        d0 = l1 * n1[0] + l2 * n2[0]
        d1 = l1 * n1[1] + l2 * n2[1]
        d2 = l1 * n1[2] + l2 * n2[2]
        rr = R * R - (d0 * d0 + d1 * d1 + d2 * d2)
        if rr >= -tol * R:
            rr = max(rr, 0.0)
            q0 = n1[1] * n2[2] - n1[2] * n2[1]
            q1 = n1[2] * n2[0] - n1[0] * n2[2]
            q2 = n1[0] * n2[1] - n1[1] * n2[0]
            qn = math.sqrt(q0 * q0 + q1 * q1 + q2 * q2)
            vq = (v0 * q0 + v1 * q1 + v2 * q2) / qn
            sgn = 1.0 if vq > 0 else (-1.0 if vq < 0 else 0.0)
            s = sgn * math.sqrt(rr) / qn
            c0, c1, c2 = d0 + s * q0, d1 + s * q1, d2 + s * q2
            val = v0 * c0 + v1 * c1 + v2 * c2
            if val > best:
                best, bd0, bd1, bd2 = val, c0, c1, c2
    return best, bd0, bd1, bd2


@nb.njit(**NJIT_OPTIONS)
def diff_best_response(P, a, et, xt, zt, R, mu):
    """Per neuron (rows of P = W0_C Q, coordinates in an orthonormal basis Q of span(x, z, e)): the move
    delta (||delta|| <= R) and coefficient c in {-a, 0, +a} maximizing c * et . (p + delta), where c = +a
    needs w . z >= mu, w . x <= -mu (on at z only), c = -a needs w . x >= mu, w . z <= -mu (on at x only),
    and c = 0 needs both on or both off. xt, zt are unit vectors (coordinates of x_hat, z_hat)."""
    N = P.shape[0]
    coef = np.zeros(N)
    D = np.zeros((N, 3))
    nx_pos = xt
    nx_neg = -xt
    nz_pos = zt
    nz_neg = -zt
    for s in range(N):
        p0, p1, p2 = P[s, 0], P[s, 1], P[s, 2]
        px = p0 * xt[0] + p1 * xt[1] + p2 * xt[2]
        pz = p0 * zt[0] + p1 * zt[1] + p2 * zt[2]
        pe = p0 * et[0] + p1 * et[1] + p2 * et[2]
        best = -np.inf
        bc = 0.0
        b0 = 0.0
        b1 = 0.0
        b2 = 0.0
        for opt in range(4):
            if opt == 0:      # on at z, off at x: c = +a
                c = a[s]
                na, ba, nb_, bb = nz_pos, mu - pz, nx_neg, mu + px
            elif opt == 1:    # on at x, off at z: c = -a
                c = -a[s]
                na, ba, nb_, bb = nx_pos, mu - px, nz_neg, mu + pz
            elif opt == 2:    # both off
                c = 0.0
                na, ba, nb_, bb = nx_neg, mu + px, nz_neg, mu + pz
            else:             # both on
                c = 0.0
                na, ba, nb_, bb = nx_pos, mu - px, nz_pos, mu - pz
            val, d0, d1, d2 = _lin_ball2(c * et[0], c * et[1], c * et[2], na, ba, nb_, bb, R)
            if val == -np.inf:
                continue
            total = c * pe + val
            if total > best:
                best, bc, b0, b1, b2 = total, c, d0, d1, d2
        if best == -np.inf:   # no option with the margins: keep w0 as it is
            on_x = px > 0
            on_z = pz > 0
            bc = (a[s] if on_z else 0.0) - (a[s] if on_x else 0.0)
            b0 = b1 = b2 = 0.0
        coef[s] = bc
        D[s, 0] = b0
        D[s, 1] = b1
        D[s, 2] = b2
    return coef, D
