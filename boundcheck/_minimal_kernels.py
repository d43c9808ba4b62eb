"""Numba kernels for :mod:`boundcheck.minimal`. Private: no validation, no I/O.

Both kernels read pre-activations laid out ``pre[i, k, s]`` (point i, init k, neuron s; the layout of
:func:`boundcheck._numeric.stacked_preactivations`) and work per (init, point), one thread per point, sequentially over neurons,
so results do not depend on the number of threads.

``lipschitz_scan``
    The certified Lipschitz lower bound on the minimal perturbation (an exact scan over the radii at which
    neurons can start to flip; see :func:`boundcheck.minimal.lipschitz_lower`).
``relaxation_coefficients``
    The per-neuron linear relaxation of ``s * a_s * relu`` on a ball of radius r (CROWN-style); the
    caller does the product ``coef @ W`` with BLAS.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._kernels import NJIT_OPTIONS


@nb.njit(parallel=True, **NJIT_OPTIONS)
def lipschitz_scan(pre, W, wnorm, a, scale, f, grad, out):
    """``out[k, i]`` = sup over r of ``min(r, |f| / L(r))`` (the certified Lipschitz bound).

    On the ball B(x, r) a neuron with ``|z_s| > r ||w_s||`` keeps its activation; every neuron satisfies
    ``relu(z_s + u) - relu(z_s) = theta_s u`` with ``theta_s`` in [0, 1]. So
    ``f(x + delta) - f(x) = (c + sum_{s in S_r} (theta_s - 1/2) v_s) . delta`` with ``v_s = scale a_s w_s``,
    ``c = sum_{s not in S_r, active} v_s + sum_{s in S_r} v_s / 2``, and
    ``|f(x + delta) - f(x)| <= (||c|| + sum_{S_r} ||v_s|| / 2) ||delta|| = L(r) ||delta||``.
    ``L`` is constant between consecutive radii ``rho_s = |z_s| / ||w_s||`` (sorted) and nondecreasing,
    so the sup over each interval ``[rho_(j), rho_(j+1))`` is ``min(rho_(j+1), |f| / L_j)``.

    ``grad[k, i]`` is the input gradient (sum of ``v_s`` over the active neurons, relu'(0) = 0).
    """
    n, K, m = pre.shape
    d = W.shape[2]
    for i in nb.prange(n):
        rho = np.empty(m)
        c = np.empty(d)
        for k in range(K):
            absf = abs(f[k, i])
            for s in range(m):
                if wnorm[k, s] > 0.0:
                    rho[s] = abs(pre[i, k, s]) / wnorm[k, s]
                else:
                    rho[s] = np.inf  # a constant neuron never flips
            order = np.argsort(rho)
            for q in range(d):
                c[q] = grad[k, i, q]
            half_sum = 0.0
            cn = 0.0
            for q in range(d):
                cn += c[q] * c[q]
            L = np.sqrt(cn)
            best = rho[order[0]] if L == 0.0 else min(rho[order[0]], absf / L)
            for j in range(m):
                s = order[j]
                if rho[s] == np.inf:
                    break
                v = scale * a[k, s]
                active = pre[i, k, s] > 0.0
                coefc = -0.5 * v if active else 0.5 * v
                for q in range(d):
                    c[q] += coefc * W[k, s, q]
                half_sum += 0.5 * abs(v) * wnorm[k, s]
                cn = 0.0
                for q in range(d):
                    cn += c[q] * c[q]
                L = np.sqrt(cn) + half_sum
                hi = rho[order[j + 1]] if j + 1 < m else np.inf
                cand = hi if L == 0.0 else min(hi, absf / L)
                if cand > best:
                    best = cand
                if L > 0.0 and absf / L <= rho[s]:
                    break  # L never decreases: no later interval does better
            out[k, i] = best


@nb.njit(parallel=True, **NJIT_OPTIONS)
def relaxation_coefficients(pre, wnorm, a, sign, scale, out_bias, r, coef, const, slack):
    """Linear lower bound of ``sign * f(x + delta)`` on the ball ``||delta|| <= r[k, i]``.

    ``sign * f(x + delta) >= const[k, i] + (coef[k, i] @ W[k]) . delta`` for every delta in the ball. Per
    neuron, with ``alpha_s = sign scale a_s`` and the pre-activation range ``[l, u] = z_s -+ r ||w_s||``:
    a stable neuron is exact; for an unstable one, ``alpha_s > 0`` takes the lower relaxation ``lam z`` with
    ``lam = 1{u >= -l}`` and ``alpha_s < 0`` the chord ``u (z - l) / (u - l)``. ``slack[k, i]`` is a bound
    on the rounding of ``const`` (sums of absolute terms times a few ulps per term).
    """
    n, K, m = pre.shape
    for i in nb.prange(n):
        for k in range(K):
            sg = sign[k, i]
            rr = r[k, i]
            total = 0.0
            mag = abs(out_bias[k])
            for s in range(m):
                z = pre[i, k, s]
                alpha = sg * scale * a[k, s]
                lo = z - rr * wnorm[k, s]
                up = z + rr * wnorm[k, s]
                slope = 0.0
                icpt = 0.0
                if lo >= 0.0:
                    slope = 1.0
                elif up <= 0.0:
                    slope = 0.0
                elif alpha > 0.0:
                    slope = 1.0 if up >= -lo else 0.0
                else:
                    slope = up / (up - lo)
                    icpt = -slope * lo
                coef[k, i, s] = alpha * slope
                total += alpha * (slope * z + icpt)
                mag += abs(alpha) * (abs(z) + rr * wnorm[k, s] + abs(icpt))
            const[k, i] = total + sg * out_bias[k]
            slack[k, i] = 4.0 * (m + 2) * 2.220446049250313e-16 * mag
