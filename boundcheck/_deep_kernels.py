"""Numba kernels for :mod:`boundcheck.deep`. Private: no validation, no I/O.

Layouts: every hidden layer's pre-activations and activations are ``(K, n, m_l)`` (init, point, neuron);
the first layer's BLAS product ``X @ W1.reshape(K*m1, d).T`` is ``(n, K, m1)`` and is read through a
transposed view, so one product serves all K inits. Each output entry is computed by one thread with a
sequential sum, so results do not depend on the number of threads.

Activations are coded by an int (``ACTIVATIONS`` in :mod:`boundcheck.deep`): 0 ReLU, 1 softplus, 2 tanh,
3 GELU. Convention: ``relu'(0) = 0``.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ._kernels import NJIT_OPTIONS as _OPTS  # the package's one set of Numba options

RELU, SOFTPLUS, TANH, GELU = 0, 1, 2, 3
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


@nb.njit(**_OPTS)
def phi(z, act):
    """The activation: relu, softplus ``log(1 + e^z)``, tanh, GELU ``z Phi(z)``."""
    if act == RELU:
        return max(z, 0.0)
    if act == SOFTPLUS:
        return max(z, 0.0) + math.log1p(math.exp(-abs(z)))
    if act == TANH:
        return math.tanh(z)
    return z * 0.5 * math.erfc(-z * _INV_SQRT2)


@nb.njit(**_OPTS)
def dphi(z, act):
    """The activation's derivative (``relu'(0) = 0``; sigmoid; ``1 - tanh^2``; ``Phi(z) + z phi(z)``)."""
    if act == RELU:
        return 1.0 if z > 0.0 else 0.0
    if act == SOFTPLUS:
        if z >= 0.0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)
    if act == TANH:
        t = math.tanh(z)
        return 1.0 - t * t
    return 0.5 * math.erfc(-z * _INV_SQRT2) + z * _INV_SQRT2PI * math.exp(-0.5 * z * z)


@nb.njit(**_OPTS)
def _activate_row(P, alpha, bias, with_bias, act, Z, H, i):
    K, n, m = Z.shape
    for k in range(K):
        for s in range(m):
            z = P[k, i, s] * alpha
            if with_bias:
                z += bias[k, s]
            Z[k, i, s] = z
            H[k, i, s] = phi(z, act)


@nb.njit(parallel=True, **_OPTS)
def activate(P, alpha, bias, with_bias, act, Z, H):
    """``Z = alpha * P + bias`` and ``H = phi(Z)``, all (K, n, m); P may be a transposed view."""
    for i in nb.prange(Z.shape[1]):
        _activate_row(P, alpha, bias, with_bias, act, Z, H, i)


@nb.njit(**_OPTS)
def activate_serial(P, alpha, bias, with_bias, act, Z, H):
    """:func:`activate` on one thread (small work: no thread dispatch; the same numbers)."""
    for i in range(Z.shape[1]):
        _activate_row(P, alpha, bias, with_bias, act, Z, H, i)


@nb.njit(**_OPTS)
def _output_row(H, a, scale, out_bias, f, offset, i):
    K, n, m = H.shape
    for k in range(K):
        total = 0.0
        for s in range(m):
            total += a[k, s] * H[k, i, s]
        f[k, offset + i] = scale * total + out_bias[k]


@nb.njit(parallel=True, **_OPTS)
def output(H, a, scale, out_bias, f, offset):
    """``f[k, offset + i] = scale * sum_s a[k, s] H[k, i, s] + out_bias[k]`` (sequential sum over s)."""
    for i in nb.prange(H.shape[1]):
        _output_row(H, a, scale, out_bias, f, offset, i)


@nb.njit(**_OPTS)
def output_serial(H, a, scale, out_bias, f, offset):
    """:func:`output` on one thread."""
    for i in range(H.shape[1]):
        _output_row(H, a, scale, out_bias, f, offset, i)


@nb.njit(**_OPTS)
def _top_delta_row(Z, a, scale, act, D, i):
    K, n, m = Z.shape
    for k in range(K):
        for s in range(m):
            D[k, i, s] = scale * a[k, s] * dphi(Z[k, i, s], act)


@nb.njit(parallel=True, **_OPTS)
def top_delta(Z, a, scale, act, D):
    """``D[k, i, s] = scale * a[k, s] * phi'(Z[k, i, s])``: d f / d z of the last hidden layer."""
    for i in nb.prange(Z.shape[1]):
        _top_delta_row(Z, a, scale, act, D, i)


@nb.njit(**_OPTS)
def top_delta_serial(Z, a, scale, act, D):
    """:func:`top_delta` on one thread."""
    for i in range(Z.shape[1]):
        _top_delta_row(Z, a, scale, act, D, i)


@nb.njit(**_OPTS)
def _mul_dphi_row(G, Z, alpha, act, i):
    K, n, m = Z.shape
    for k in range(K):
        for s in range(m):
            G[k, i, s] = G[k, i, s] * (alpha * dphi(Z[k, i, s], act))


@nb.njit(parallel=True, **_OPTS)
def mul_dphi(G, Z, alpha, act):
    """In place: ``G[k, i, s] *= alpha * phi'(Z[k, i, s])`` (one backward step through a layer)."""
    for i in nb.prange(Z.shape[1]):
        _mul_dphi_row(G, Z, alpha, act, i)


@nb.njit(**_OPTS)
def mul_dphi_serial(G, Z, alpha, act):
    """:func:`mul_dphi` on one thread."""
    for i in range(Z.shape[1]):
        _mul_dphi_row(G, Z, alpha, act, i)


#: Below this many elements a kernel runs on one thread (thread dispatch would cost more than the work).
SERIAL_BELOW = 1 << 16


def pick(parallel_kernel, serial_kernel, size):
    """The serial kernel for small work, the parallel one otherwise (both give the same numbers)."""
    return serial_kernel if size < SERIAL_BELOW else parallel_kernel


# --------------------------------------------------------------------------------------------------------
# The exact ray walk of a deep ReLU network
# --------------------------------------------------------------------------------------------------------

_TIE = 8.0 * np.finfo(np.float64).eps
#: The ray walk recomputes every form from scratch every this many pieces (in between, the layer above the
#: switching one is updated by rank-k updates, whose rounding would otherwise accumulate).
_REFRESH = 32


@nb.njit(**_OPTS)
def _is_flipped(v, positive):
    """sign(0) := +1: f(0) >= 0 flips to f < 0, f(0) < 0 flips to f >= 0."""
    return v < 0.0 if positive else v >= 0.0


@nb.njit(**_OPTS)
def _piece_root(A, B, t_prev, t_next, positive):
    """First flip point on ``[t_prev, t_next]`` of the piece ``A + B t`` (clamped to the piece)."""
    if (positive and B < 0.0) or ((not positive) and B > 0.0):
        root = -A / B
        if root < t_prev:
            return t_prev
        if root > t_next:
            return t_next
        return root
    return t_next


@nb.njit(**_OPTS)
def _crossing(A, B, act, t):
    """When the neuron with form ``A + B t`` and pattern ``act`` switches (>= t), or +inf if never."""
    if (act and B < 0.0) or ((not act) and B > 0.0):
        tc = -A / B
        return tc if tc > t else t
    return np.inf


@nb.njit(**_OPTS)
def _f_at(tn, A, B, act, grp, V, Wflat, w_off, bflat, with_bias, alphas, u_off, a, k, c, scale):
    """f at the breakpoint tn by a point evaluation layer by layer under the piece's patterns, the
    neurons switching at tn (``grp``) set to exactly 0."""
    H = u_off.shape[0] - 1
    for j in range(u_off[0], u_off[1]):
        V[j] = 0.0 if (grp[j] or not act[j]) else A[j] + tn * B[j]
    for l in range(1, H):
        lo = u_off[l]
        hi = u_off[l + 1]
        plo = u_off[l - 1]
        mp = lo - plo
        base = w_off[l]
        for j in range(hi - lo):
            if grp[lo + j] or not act[lo + j]:
                V[lo + j] = 0.0
                continue
            sa = 0.0
            row = base + j * mp
            for s in range(mp):
                sa += Wflat[k, row + s] * V[plo + s]
            z = alphas[l] * sa
            if with_bias:
                z += bflat[k, lo + j]
            V[lo + j] = z
    top = u_off[H - 1]
    tot = 0.0
    for s in range(u_off[H] - top):
        tot += a[k, s] * V[top + s]
    return scale * tot + c


@nb.njit(parallel=True, **_OPTS)
def ray_walk(Z1, C1, Wflat, w_off, bflat, with_bias, alphas, u_off, a, out_bias, scale, f0, max_pieces,
             t_out, pieces_out):
    """Smallest t >= 0 with sign f(x + t u) != sign f(x) (sign(0) := +1) for a deep ReLU network; +inf if none.

    Parameters (all float64 unless said)
    ----------
    Z1, C1 : (K, n, m1)
        First-layer pre-activations at x (multiplier and bias included) and their slopes along u.
    Wflat : (K, total)
        Hidden layers 2..H, flattened row-major one after the other; layer l starts at ``w_off[l]``
        (``w_off[0]`` unused), shape (m_l, m_{l-1}).
    bflat : (K, M)
        Biases of all hidden layers, layer l at ``u_off[l]:u_off[l+1]`` (unused without biases).
    alphas : (H,)
        Layer multipliers.
    u_off : int64 (H + 1,)
        Unit offsets: layer l holds units ``u_off[l]:u_off[l+1]``, ``M = u_off[H]``.
    a : (K, m_H); out_bias : (K,); scale : float; f0 : (K, n) f(x) as the forward pass computes it.
    max_pieces : int
        Safety cap on the number of linear pieces walked; past it the result is NaN (never a silent cap).
    t_out : (K, n) out; pieces_out : int64 (K, n) out, the number of breakpoints crossed.

    Notes
    -----
    On a piece of the ray all activation patterns are fixed, so every pre-activation is affine in t:
    ``z_l(t) = A_l + t B_l`` with ``A_l = alpha_l W_l (mask_{l-1} * A_{l-1}) + b_l`` and ``B_l = alpha_l
    W_l (mask_{l-1} * B_{l-1})``, and so is f. The piece ends at the first neuron of any layer whose form
    reaches zero against its pattern. At the start of a piece the patterns are the right limits, decided
    layer by layer: a neuron at its kink (one that defined the breakpoint, to within a few ulps, or whose
    value is exactly 0) is active iff its slope on the new piece is positive; any other iff its value is
    positive. Only the layers from the lowest switching one up are recomputed, and the one right above it
    by a rank-k update (the columns of the neurons that switched), with a full refresh every ``_REFRESH``
    pieces.
    """
    K, n, m1 = Z1.shape
    H = u_off.shape[0] - 1
    M = u_off[H]
    mH = u_off[H] - u_off[H - 1]
    for idx in nb.prange(K * n):
        k = idx // n
        i = idx % n
        A = np.empty(M)
        B = np.empty(M)
        act = np.zeros(M, dtype=np.bool_)
        grp = np.zeros(M, dtype=np.bool_)
        V = np.empty(M)
        MA = np.empty(M)
        MB = np.empty(M)
        OLD = np.zeros(M, dtype=np.bool_)
        for s in range(m1):
            A[s] = Z1[k, i, s]
            B[s] = C1[k, i, s]
        positive = f0[k, i] >= 0.0
        t = 0.0
        found = np.inf
        pieces = 0
        start = 0
        while True:
            # right-limit patterns at t, and the forms of the layers above the lowest switching one
            for l in range(start, H):
                lo = u_off[l]
                hi = u_off[l + 1]
                if l == start + 1 and pieces % _REFRESH != 0:
                    # only the pattern of layer `start` changed below: a rank-k update of this layer's
                    # forms by the columns of the neurons that switched (refreshed every _REFRESH pieces)
                    plo = u_off[l - 1]
                    mp = lo - plo
                    al = alphas[l]
                    base = w_off[l]
                    for s in range(mp):
                        if act[plo + s] != OLD[s]:
                            sg = al if act[plo + s] else -al
                            ca = sg * A[plo + s]
                            cb = sg * B[plo + s]
                            for j in range(hi - lo):
                                w = Wflat[k, base + j * mp + s]
                                A[lo + j] += w * ca
                                B[lo + j] += w * cb
                elif l > start:
                    plo = u_off[l - 1]
                    mp = lo - plo
                    al = alphas[l]
                    base = w_off[l]
                    # the layer below under its pattern, then branch-free dot products
                    for s in range(mp):
                        on = act[plo + s]
                        MA[s] = A[plo + s] if on else 0.0
                        MB[s] = B[plo + s] if on else 0.0
                    for j in range(hi - lo):
                        sa = 0.0
                        sb = 0.0
                        row = base + j * mp
                        for s in range(mp):
                            w = Wflat[k, row + s]
                            sa += w * MA[s]
                            sb += w * MB[s]
                        za = al * sa
                        if with_bias:
                            za += bflat[k, lo + j]
                        A[lo + j] = za
                        B[lo + j] = al * sb
                if l == start:
                    for j in range(lo, hi):
                        OLD[j - lo] = act[j]
                for j in range(lo, hi):
                    v = A[j] + t * B[j]
                    if grp[j] or v == 0.0:
                        act[j] = B[j] > 0.0
                    else:
                        act[j] = v > 0.0
                    grp[j] = False
            # f on this piece
            Af = 0.0
            Bf = 0.0
            top = u_off[H - 1]
            for s in range(mH):
                if act[top + s]:
                    Af += a[k, s] * A[top + s]
                    Bf += a[k, s] * B[top + s]
            Af = scale * Af + out_bias[k]
            Bf = scale * Bf
            # the end of the piece
            tn = np.inf
            for j in range(M):
                tc = _crossing(A[j], B[j], act[j], t)
                if tc < tn:
                    tn = tc
            Sf = 0.0
            if tn < np.inf:
                for s in range(mH):
                    if act[top + s]:
                        Sf += abs(a[k, s]) * (abs(A[top + s]) + tn * abs(B[top + s]))
                Sf *= scale
            if tn == np.inf:
                if (positive and Bf < 0.0) or ((not positive) and Bf > 0.0):
                    found = _piece_root(Af, Bf, t, np.inf, positive)
                break
            # the group switching at tn, and the lowest layer it touches
            lim = tn + _TIE * tn
            start = H
            for l in range(H):
                for j in range(u_off[l], u_off[l + 1]):
                    if _crossing(A[j], B[j], act[j], t) <= lim:
                        grp[j] = True
                        if l < start:
                            start = l
            vn = Af + tn * Bf
            if _is_flipped(vn, positive) or abs(vn) <= 1e-6 * (Sf + abs(out_bias[k])):
                # decide at tn itself, with the switching neurons at exactly 0 (structural ties: f
                # reaching exactly the output bias where every neuron of a layer is off)
                if _is_flipped(_f_at(tn, A, B, act, grp, V, Wflat, w_off, bflat, with_bias, alphas, u_off,
                                     a, k, out_bias[k], scale), positive):
                    found = _piece_root(Af, Bf, t, tn, positive)
                    break
            t = tn
            pieces += 1
            if pieces % _REFRESH == 0:
                start = 0   # recompute every form from scratch (no accumulated rounding)
            if pieces > max_pieces:
                found = np.nan
                break
        t_out[k, i] = found
        pieces_out[k, i] = pieces
