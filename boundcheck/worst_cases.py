"""The two hard worst cases over the lazy ball: the smallest input gradient and the largest gradient change.

Wang et al. 2022 need, for every W in the lazy ball ``B_{2,inf}(W0, R)``, a lower bound on
``||grad_x f(x; W)||`` (Lemma 4.2 / B.7) and an upper bound on ``||grad_x f(z; W) - grad_x f(x; W)||`` for
``z`` in ``B(x, r)`` (Lemmas 4.4 / B.8 / B.9). Neither worst case has a closed form, so each is
**sandwiched**, per sample (init, point), between

``certified``
    a proven bound valid for every W in the ball (and every z), computed exactly from the sample;
``heuristic``
    the best value an optimizer finds, with a witness W (and z) that attains it.

For the infimum, ``certified <= inf_W ||grad f(x; W)|| <= heuristic``; for the supremum,
``heuristic <= sup ||grad f(z; W) - grad f(x; W)|| <= certified``. The width of the sandwich says how much
the table can be trusted.

The functions:

:func:`grad_norm_lower`
    inf over the ball of ``||grad f(x; W)||``: certified (the lemma's decomposition per sample, with the
    Euler identity, and a convex-duality certificate) and heuristic (exact per activation pattern, greedy
    and, for few flexible neurons, exhaustive over patterns).
:func:`grad_norm_upper`
    sup over the ball of ``||grad f(x; W)||``: heuristic (alternating best responses).
:func:`grad_difference_upper`
    sup over ``z`` in ``B(x, r)`` and W in the ball of the gradient difference: certified (the flip-set
    bound) and heuristic (alternating best responses over W, several directions for z), plus the same at
    one fixed random ``z`` and the exact count reference ``E|F| = m arctan(r) / pi``.
:func:`grad_difference_per_sample_bound`
    the deterministic bound of the registry entry ``lemma_B9_grad_difference_per_sample`` at given
    ``(x, z, W)``.

All of them take the theory setting: no first-layer biases and ``a_s`` in {-1, +1} (an output bias is
allowed; it does not change gradients). Networks with first-layer biases are refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh  # imported here, not lazily: thread limits apply to libraries loaded before them

from . import _worst_case_kernels
from ._numeric import into_ball
from ._validate import as_float_array, check_int, check_real, check_rng, check_unit_sphere
from .lazy import WorstCase
from .network import Network
from ._validate_network import check_network, check_points
from .ops import gradient_difference, input_gradient

__all__ = ["GradNormWorstCase", "GradDiffWorstCase", "grad_norm_lower", "grad_norm_upper",
           "grad_difference_upper", "grad_difference_per_sample_bound", "expected_crossings",
           "flip_set_certificate"]


# ======================================================================================================
# Validation
# ======================================================================================================

def _check_theory_net(net) -> Network:
    net = check_network(net)
    if net.has_bias:
        raise ValueError(
            "net has first-layer biases (net.b0 is not None), but Lemmas B.7 and B.9 of Wang et al. 2022 are "
            "stated for the theory parametrization without biases; use init_network(..., "
            "parametrization='theory') or a Network with b0=None")
    if not np.all(np.abs(net.a) == 1.0):
        raise ValueError("net.a must have entries in {-1, +1} (the theory's top layer, a_s ~ Unif{-1, +1}); "
                         f"found an entry {net.a[np.abs(net.a) != 1.0].flat[0]!r}")
    return net


def _check_nonzero_rows(X: np.ndarray, name: str = "X") -> np.ndarray:
    top = np.abs(X).max(axis=1) if X.shape[1] else np.zeros(len(X))
    if np.any(top == 0):
        i = int(np.flatnonzero(top == 0)[0])
        raise ValueError(f"{name} must have nonzero rows (the gradient's decomposition projects out x); "
                         f"row {i} is zero")
    return np.linalg.norm(X, axis=1)


# ======================================================================================================
# Results
# ======================================================================================================

@dataclass(frozen=True, eq=False)
class GradNormWorstCase:
    """The infimum over the lazy ball of ``||grad_x f(x; W)||``, sandwiched (see :func:`grad_norm_lower`).

    Attributes
    ----------
    certified : WorstCase
        ``kind="certified"``, ``sense="min"``: a lower bound valid for every W in the ball,
        ``max(euler, dual)`` (both >= 0).
    heuristic : WorstCase
        ``kind="heuristic"``, ``sense="min"``: the smallest ``||grad f(x; W)||`` found, attained by
        ``heuristic.witness(i)``.
    at_init : ndarray, shape (K, n)
        ``||grad f(x; W0)||``.
    decomposition : ndarray, shape (K, n)
        The registry's per-sample bound (``lemma_B7_grad_lower_per_sample`` via
        :func:`boundcheck.bounds.grad_norm_lower_certified`): ``||P grad f(W0)|| - T1 - T2`` with the exact
        operator norm; may be negative (vacuous).
    euler : ndarray, shape (K, n)
        ``sqrt(min_W (x.grad f / ||x||)^2 + max(decomposition, 0)^2)``: the decomposition bounds the part
        orthogonal to x, the exact range of f bounds the part along x (Euler: ``x . grad f = f``).
    dual : ndarray, shape (K, n)
        The support-function (convex-duality) certificate, see :func:`grad_norm_lower` Notes.
    S_x_count : ndarray of int64, shape (K, n)
        ``|S_x| = #{s : |w0_s . x| <= R ||x||}``.
    n_flexible : ndarray of int64, shape (K, n)
        Neurons whose activation a lazy W can choose (``-R||x|| < w0_s . x <= R||x||``).
    exhaustive : ndarray of bool, shape (K, n)
        True where every activation pattern was tried: then ``heuristic`` is the exact infimum up to the
        1-D line search's tolerance (relative ~1e-9) and the strict-inequality margin.
    radius : float
    """

    certified: WorstCase
    heuristic: WorstCase
    at_init: np.ndarray
    decomposition: np.ndarray
    euler: np.ndarray
    dual: np.ndarray
    S_x_count: np.ndarray
    n_flexible: np.ndarray
    exhaustive: np.ndarray
    radius: float

    @property
    def gap(self) -> np.ndarray:
        """``heuristic - certified`` (>= 0): how far apart the two sides of the sandwich are, shape (K, n)."""
        return self.heuristic.value - self.certified.value


@dataclass(frozen=True, eq=False)
class GradDiffWorstCase:
    """The supremum of ``||grad f(z; W) - grad f(x; W)||`` (see :func:`grad_difference_upper`).

    Attributes
    ----------
    certified : WorstCase
        ``kind="certified"``, ``sense="max"``: an upper bound valid for every z in ``B(x, r)`` and every W
        in the ball (the flip-set bound).
    heuristic : WorstCase
        ``kind="heuristic"``, ``sense="max"``: the largest difference found over z and W. Its witness
        ``(W, None)`` is the W of each init; the z of each init is ``heuristic_Z[:, i]``.
    heuristic_Z : ndarray, shape (K, n, d)
        The maximizing z per init and point (``||z - x|| <= r``).
    fixed_Z : ndarray, shape (n, d)
        One fixed z per point, ``x + r u`` with u a uniformly random unit vector orthogonal to x, drawn
        independently of the network (the "fixed z" of ``lemma_B9_grad_difference_hp``).
    fixed_at_init : ndarray, shape (K, n)
        ``||grad f(z; W0) - grad f(x; W0)||`` at the fixed z.
    fixed_flips_at_init : ndarray of int64, shape (K, n)
        ``|F|`` at W0 for the fixed z; ``E|F| = m arctan(r) / pi`` exactly (:func:`expected_crossings`).
    fixed_heuristic : WorstCase
        The largest difference found over W at the fixed z (witness W per init).
    fixed_certified : WorstCase
        The flip-set bound for the fixed z (valid for every W in the ball).
    reachable_count : ndarray of int64, shape (K, n)
        ``|F_cert|``, the neurons that could flip between x and some z of ``B(x, r)`` for some lazy W
        (a superset, see :func:`flip_set_certificate`).
    grad_norm : ndarray, shape (K, n)
        ``||grad f(x; W0)||``.
    reference : ndarray, shape (K, n)
        ``sqrt(2r/pi) ||grad f(x; W0)||``, the expected scale at a fixed z
        (:func:`boundcheck.bounds.lemma_B9_reference`; not a bound).
    r, radius : float
    """

    certified: WorstCase
    heuristic: WorstCase
    heuristic_Z: np.ndarray
    fixed_Z: np.ndarray
    fixed_at_init: np.ndarray
    fixed_flips_at_init: np.ndarray
    fixed_heuristic: WorstCase
    fixed_certified: WorstCase
    reachable_count: np.ndarray
    grad_norm: np.ndarray
    reference: np.ndarray
    r: float
    radius: float


# ======================================================================================================
# Shared small pieces
# ======================================================================================================

def _grad(a: np.ndarray, W: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``m^{-1/2} sum_s a_s 1{w_s . x > 0} w_s`` for one init and one point (relu'(0) = 0)."""
    return ((a * (W @ x > 0)) @ W) / math.sqrt(len(a))


def _top_singular(M: np.ndarray) -> float:
    """``||M||_op`` exactly (largest eigenvalue of the smaller Gram), inflated by 1e-12 relative so that a
    certificate built on it stays valid after rounding."""
    if M.size == 0:
        return 0.0
    n, d = M.shape
    G = M @ M.T if n <= d else M.T @ M
    if len(G) == 1:
        lam = float(G[0, 0])
    else:
        lam = float(eigh(G, eigvals_only=True, subset_by_index=[len(G) - 1, len(G) - 1], driver="evr")[0])
    return math.sqrt(max(lam, 0.0)) * (1.0 + 1e-12)


def flip_set_certificate(rows: np.ndarray, radius: float) -> float:
    """``m``-free core of the flip-set bound: ``sqrt(|F|) (||W0_F||_op + R sqrt|F|)`` and its row-sum form.

    For a set F of neurons given by their initial rows ``W0_F`` (shape ``(|F|, d)``), returns
    ``min(sqrt(|F|) (||W0_F||_op + R sqrt(|F|)), sum_{s in F} (||w0_s|| + R))``. Dividing by ``sqrt(m)``
    bounds ``||grad f(z; W) - grad f(x; W)||`` for every lazy W whose flipped set between x and z lies in F
    (see :func:`grad_difference_upper`, Notes).

    Parameters
    ----------
    rows : array_like, shape (k, d)
    radius : float
        R >= 0.

    Returns
    -------
    float
    """
    rows = as_float_array(rows, "rows", ndim=2)
    radius = check_real(radius, "radius", minimum=0.0)
    return _flip_cert(rows, radius)


def _flip_cert(rows: np.ndarray, R: float) -> float:
    k = len(rows)
    if k == 0:
        return 0.0
    op = _top_singular(rows)
    by_op = math.sqrt(k) * (op + R * math.sqrt(k))
    by_sum = float(np.linalg.norm(rows, axis=1).sum()) + k * R
    return min(by_op, by_sum * (1.0 + 1e-12))


def expected_crossings(m, r) -> np.ndarray:
    """``E|F| = m arctan(r) / pi``: neurons of W0 whose activation differs between x and z = x + r u.

    For ``||x|| = 1``, ``u`` a unit vector orthogonal to x and ``w ~ N(0, I_d)``, the angle between x and z is
    ``arctan(r)`` and ``P(sign(w . x) != sign(w . z)) = arctan(r) / pi`` (theory section 5.5; Lemma B.6 eq. (3)
    with the exact angle), independently over neurons: ``|F| ~ Binomial(m, arctan(r) / pi)``.

    Parameters
    ----------
    m : array_like of int, >= 1
    r : array_like of float, >= 0

    Returns
    -------
    ndarray of float, broadcast shape
    """
    m_arr = as_float_array(m, "m").reshape(np.shape(m))
    r_arr = as_float_array(r, "r").reshape(np.shape(r))
    if np.any(m_arr < 1) or np.any(m_arr != np.round(m_arr)):
        raise ValueError("m must contain integers >= 1")
    if np.any(r_arr < 0):
        raise ValueError("r must be >= 0")
    return np.asarray(m_arr * np.arctan(r_arr) / np.pi, dtype=float)


#: Witness moves are scaled by this factor, so that rows stay inside the ball after rounding.
_SAFE = 1.0 - 1e-12


def _into_ball(W: np.ndarray, W0: np.ndarray, R: float) -> np.ndarray:
    """``W`` with each row that is not in the ball (exactly and as measured) moved towards its centre until it is.

    ``_SAFE`` only covers rounding relative to R, but forming ``w0_s + delta`` rounds each coordinate to a
    multiple of ``ulp(w0_s)``: when R is far below ``||w0_s||`` that error (``~ eps ||w0_s||``) can exceed
    ``(1 - _SAFE) R`` and leave the stored row outside the ball (e.g. R = 2**-24, w0_s = (0, 0, 1)). The rule
    is :func:`boundcheck._numeric.into_ball`, shared with :func:`boundcheck.lazy.project_lazy`; the rows that
    are already in the ball are returned unchanged.
    """
    return into_ball(np.asarray(W, dtype=float), np.asarray(W0, dtype=float), R)


def _margin(R: float, row_norms: np.ndarray) -> np.ndarray:
    """Strictness margin for "active" (``w . x_hat >= margin`` rather than ``> 0``), per neuron."""
    return 1e-9 * R + 1e-12 * row_norms


# ======================================================================================================
# grad_norm_lower
# ======================================================================================================

@dataclass
class _GNPoint:
    value: float
    spec: tuple
    at_init: float
    P_grad: float
    S_count: int
    op_norm: float
    max_Pw: float
    n_plus: int
    x_min: float
    dual: float
    n_flex: int
    exhaustive: bool


class _GNGeometry:
    """Per (init, point) quantities shared by the optimizer, the witnesses and the certificates."""

    def __init__(self, a, W0, x, R):
        # Only the direction of x matters (grad f is 0-homogeneous in x, and every set is defined through
        # w . x / ||x||): work with x_hat, formed without underflow for tiny inputs.
        xs = x / np.abs(x).max()
        self.xh = xs / np.linalg.norm(xs)
        self.a, self.W0, self.x, self.R = a, W0, self.xh, R
        m, d = W0.shape
        self.m, self.d = m, d
        pre = W0 @ self.xh
        self.g = pre
        self.row_norms = np.linalg.norm(W0, axis=1)
        self.mu = _margin(R, self.row_norms)
        g = self.g
        self.ra = g > R
        self.flex = (g > -R) & (g <= R)
        self.can_on = g >= -R + self.mu
        self.grad0 = ((a * (pre > 0)) @ W0) / math.sqrt(m)
        # g is w0 . x_hat after rounding (of x_hat and of the product): within `band` of the exact value, and a
        # neuron within d eps ||w0_s|| of its kink may also be on either side in the network's own evaluation
        # at x (e.g. w0 . x = 0 exactly, g = +1e-17). The certificates treat every neuron within the band of
        # a boundary as flexible, so they hold whatever side rounding puts it on.
        self.band = 8.0 * (d + 2) * np.finfo(float).eps * self.row_norms
        self.ra_c = g > R + self.band
        self.flex_c = (g > -R - self.band) & ~self.ra_c
        # x scaled by a power of two: the network's pre-activations there are exactly those at x, scaled,
        # so the activation pattern is the network's own at x (x_hat's can differ at a tie)
        top = float(np.abs(x).max())
        self.x_eval = np.ldexp(x, -int(np.frexp(top)[1]))

    def on_bounds(self, idx):
        """Bounds of y_s = a_s alpha_s for active neurons ``idx``."""
        R = self.R
        l = np.where(self.ra[idx], -R, np.maximum(-R, -self.g[idx] + self.mu[idx]))
        l = np.minimum(l, R)
        a = self.a[idx]
        lo = np.where(a > 0, l, -R)
        hi = np.where(a > 0, R, -l)
        return lo, hi

    def build(self, active, tau):
        """W for an activation pattern ``active`` (bool (m,)) and a tau (see :mod:`boundcheck._worst_case_kernels`)."""
        W0, a, R, xh, g = self.W0, self.a, self.R, self.xh, self.g
        W = W0.copy()
        off_flex = self.flex & ~active & (g > 0)
        W[off_flex] -= _SAFE * R * xh
        idx = np.flatnonzero(active)
        if len(idx) == 0 or R == 0:
            return W
        lo, hi = self.on_bounds(idx)
        y = np.clip(R * tau, lo, hi)
        alpha = a[idx] * y
        rho_s = np.sqrt(np.maximum(R * R - alpha * alpha, 0.0))
        u = a[idx] @ W0[idx]
        bP = u - (u @ xh) * xh
        B = float(np.linalg.norm(bP))
        rho = float(rho_s.sum())
        kappa = min(1.0, B / rho) if rho > 0 else 0.0
        bh = bP / B if B > 0 else np.zeros_like(bP)
        W[idx] += _SAFE * (alpha[:, None] * xh[None, :] - (a[idx] * kappa * rho_s)[:, None] * bh[None, :])
        return W

    def pattern_norm(self, active, tau):
        """``||grad f(x; W)||`` for ``W = build(active, tau)``, from the pattern's sums (no copy of W)."""
        W0, a, R, xh = self.W0, self.a, self.R, self.xh
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            return 0.0
        u = a[idx] @ W0[idx]
        c = float(u @ xh)
        B = float(np.linalg.norm(u - c * xh))
        lo, hi = self.on_bounds(idx)
        y = np.clip(R * tau, lo, hi)
        rho = float(np.sqrt(np.maximum(R * R - y * y, 0.0)).sum())
        Y = float(y.sum())
        return math.hypot(c + _SAFE * Y, B - _SAFE * min(rho, B)) / math.sqrt(self.m)

    def _shrink_direction(self):
        gr = self.grad0
        Pg = gr - (gr @ self.xh) * self.xh
        nP = float(np.linalg.norm(Pg))
        return Pg / nP if nP > 0 and self.R > 0 else None

    def candidate(self, name):
        """The structured candidates of theory section 5.4, by name: "W0", "flip", "shrink", "shrink_flip"."""
        W0, a, R, xh, g = self.W0, self.a, self.R, self.xh, self.g
        W = W0.copy()
        if name in ("flip", "shrink_flip"):
            sign_plus = np.where(g > 0, 1.0, -1.0)
            W[self.flex] -= (_SAFE * R * sign_plus[self.flex])[:, None] * xh[None, :]
        u = self._shrink_direction()
        if name == "shrink" and u is not None:
            on0 = g > 0
            W[on0] -= (_SAFE * R * a[on0])[:, None] * u[None, :]
        if name == "shrink_flip" and u is not None:
            W[self.ra] -= (_SAFE * R * a[self.ra])[:, None] * u[None, :]
        return W

    def candidate_norms(self):
        """``||grad f(x; W)||`` of each structured candidate, computed from the rows that move only."""
        a, W0, R, xh, g, x = self.a, self.W0, self.R, self.xh, self.g, self.x
        sq = math.sqrt(self.m)
        base = self.grad0 * sq
        out = {"W0": float(np.linalg.norm(self.grad0))}
        if R == 0:
            return out
        fl = np.flatnonzero(self.flex)
        sign_plus = np.where(g[fl] > 0, 1.0, -1.0)
        rows = W0[fl] - (_SAFE * R * sign_plus)[:, None] * xh[None, :]
        flip_change = (a[fl] * (rows @ x > 0)) @ rows - (a[fl] * (g[fl] > 0)) @ W0[fl]
        out["flip"] = float(np.linalg.norm(base + flip_change)) / sq
        u = self._shrink_direction()
        if u is not None:
            n_on = float((g > 0).sum())
            out["shrink"] = float(np.linalg.norm(base - _SAFE * R * n_on * u)) / sq
            n_ra = float(self.ra.sum())
            out["shrink_flip"] = float(np.linalg.norm(base + flip_change - _SAFE * R * n_ra * u)) / sq
        return out


_N_GRID = 33
_N_GOLDEN = 40


def _gn_optimize(geo: _GNGeometry, gen, steps, restarts, exhaustive_max):
    """Best (active pattern, tau, h) over starts; returns (active (m,), tau, exhaustive?)."""
    a, W0, R = geo.a, geo.W0, geo.R
    g, xh = geo.g, geo.xh
    ra_idx = np.flatnonzero(geo.ra)
    fl = np.flatnonzero(geo.flex)
    n_ra = float(len(ra_idx))
    u_ra = a[ra_idx] @ W0[ra_idx] if len(ra_idx) else np.zeros(geo.d)
    c_ra = float(u_ra @ xh)
    u0 = u_ra - c_ra * xh
    h0 = float(u0 @ u0)
    nf = len(fl)
    if nf:
        Pw = W0[fl] - np.outer(g[fl], xh)
        af = a[fl]
        G = np.ascontiguousarray((af[:, None] * af[None, :]) * (Pw @ Pw.T))
        v = af * (Pw @ u0)
        cg = af * g[fl]
        lo, hi = geo.on_bounds(fl)
    else:
        G = np.zeros((0, 0))
        v = cg = lo = hi = np.zeros(0)
    can_on = geo.can_on[fl]
    free = np.flatnonzero(can_on)
    active = geo.ra.copy()
    if len(free) <= exhaustive_max:
        z, tau, h = _worst_case_kernels.exhaustive_patterns(free.astype(np.int64), nf, cg, v, G, h0, c_ra, n_ra, R,
                                                            lo, hi, _N_GRID, _N_GOLDEN)
        active[fl] = z
        return active, tau, True
    starts = [g[fl] > 0, (g[fl] <= 0) & can_on, can_on.copy(), np.zeros(nf, dtype=bool)]
    for _ in range(restarts):
        starts.append((gen.random(nf) < 0.5) & can_on)
    best = (np.inf, None, 0.0)
    for z0 in starts:
        z, tau, h = _worst_case_kernels.greedy_patterns(z0, can_on, cg, v, G, h0, c_ra, n_ra, R, lo, hi, steps,
                                                        _N_GRID, _N_GOLDEN)
        if h < best[0]:
            best = (h, z.copy(), tau)
    active[fl] = best[1]
    return active, best[2], False


def _support_lower(geo: _GNGeometry, e: np.ndarray):
    """``min over K of e . v`` (K = sum_s conv C_s, times sqrt(m)) and the minimizing point of K."""
    a, W0, R, g, xh = geo.a, geo.W0, geo.R, geo.g, geo.xh
    t = W0 @ e
    ex = float(e @ xh)
    pe = math.sqrt(max(1.0 - ex * ex, 0.0))
    Pe_h = (e - ex * xh) / pe if pe > 1e-15 else np.zeros_like(e)
    unc = a * t - R                                   # value of the unconstrained minimizer w0 - R a e
    # the sets with rounding margins (ra_c, flex_c): a neuron within rounding of a boundary is flexible
    unc_ok = geo.ra_c | (geo.flex_c & (g - R * a * ex >= 0))
    r0 = np.sqrt(np.maximum(R * R - g * g, 0.0))
    plane = a * t - a * g * ex - r0 * pe              # on the plane w . x_hat = 0
    val = np.where(unc_ok, unc, plane)
    use = geo.ra_c | (geo.flex_c & (val < 0))
    val = np.where(use, val, 0.0)
    L = float(val.sum())
    use_unc = use & unc_ok
    use_pl = use & ~unc_ok
    coef = np.where(use, a, 0.0)
    point = (coef @ W0) - R * use_unc.sum() * e - float((a * g)[use_pl].sum()) * xh - float(r0[use_pl].sum()) * Pe_h
    return L, point


def _dual_certificate(geo: _GNGeometry, grad_best: np.ndarray, fw_steps: int) -> float:
    """Frank-Wolfe on min ||v||^2 / 2 over K, from the best attained gradient; the best support bound."""
    v = math.sqrt(geo.m) * grad_best
    best = 0.0
    for _ in range(fw_steps + 1):
        nv = float(np.linalg.norm(v))
        if nv == 0:
            break
        L, s = _support_lower(geo, v / nv)
        best = max(best, L)
        dvec = s - v
        dd = float(dvec @ dvec)
        if dd == 0:
            break
        gamma = min(1.0, max(0.0, -float(v @ dvec) / dd))
        if gamma == 0:
            break
        v = v + gamma * dvec
    return best / math.sqrt(geo.m)


def _gn_point(a, W0, x, R, gen, steps, restarts, exhaustive_max) -> tuple[_GNPoint, _GNGeometry]:
    geo = _GNGeometry(a, W0, x, R)
    m = geo.m
    g, xh = geo.g, geo.xh
    grad0 = geo.grad0
    at_init = float(np.linalg.norm(grad0))
    P_grad = float(np.linalg.norm(grad0 - (grad0 @ xh) * xh))
    S = np.abs(g) <= R + geo.band          # with the rounding band: every neuron that may change state
    PwS = W0[S] - np.outer(g[S], xh)
    op = _top_singular(PwS)
    max_Pw = float(np.linalg.norm(PwS, axis=1).max()) * (1 + 1e-12) if PwS.size else 0.0
    # exact range of the x-component x_hat . grad f = (f - c_out) / ||x|| over the ball
    lo_s = a * np.maximum(g - R - geo.band, 0.0)
    hi_s = a * np.maximum(g + R + geo.band, 0.0)
    x_lo = float(np.minimum(lo_s, hi_s).sum()) / math.sqrt(m)
    x_hi = float(np.maximum(lo_s, hi_s).sum()) / math.sqrt(m)
    x_min = 0.0 if x_lo <= 0.0 <= x_hi else min(abs(x_lo), abs(x_hi)) * (1 - 1e-12)

    # heuristic: the structured candidates, then the pattern search with the exact inner solve
    best_val, best_spec = np.inf, None
    for name, val in geo.candidate_norms().items():
        if val < best_val:
            best_val, best_spec = val, ("candidate", name)
    exhaustive = R == 0
    if R > 0:
        active, tau, exhaustive = _gn_optimize(geo, gen, steps, restarts, exhaustive_max)
        val = geo.pattern_norm(active, tau)
        if val < best_val:
            best_val, best_spec = val, ("pattern", active, tau)
    return _GNPoint(value=best_val, spec=best_spec, at_init=at_init, P_grad=P_grad, S_count=int(S.sum()),
                    op_norm=op, max_Pw=max_Pw, n_plus=int((g > 0).sum()), x_min=x_min, dual=np.nan,
                    n_flex=int(geo.flex.sum()), exhaustive=bool(exhaustive)), geo


def _gn_rebuild(geo: _GNGeometry, spec) -> np.ndarray:
    W = geo.candidate(spec[1]) if spec[0] == "candidate" else geo.build(spec[1], spec[2])
    return _into_ball(W, geo.W0, geo.R)


def grad_norm_lower(net: Network, X, radius: float, *, steps: int = 400, restarts: int = 1,
                    exhaustive_max: int = 10, fw_steps: int = 10, rng=None) -> GradNormWorstCase:
    """Sandwich ``inf over W in B_{2,inf}(W0, R) of ||grad_x f(x; W)||`` per init and point.

    Parameters
    ----------
    net : Network
        K inits, theory setting: no first-layer biases, ``a_s`` in {-1, +1}.
    X : array_like, shape (n, d)
        Nonzero inputs (the bounds do not need the unit sphere; Lemma B.7's population form does).
    radius : float
        R >= 0, usually ``C0 / sqrt(m)``.
    steps : int
        Maximal number of accepted pattern moves per start of the local search.
    restarts : int
        Random starting patterns, beyond the four structured ones.
    exhaustive_max : int
        With at most this many neurons whose activation can be chosen, every pattern is tried
        (``2**exhaustive_max`` inner solves): the heuristic is then the exact infimum.
    fw_steps : int
        Frank-Wolfe steps of the duality certificate (each one O(m d)).
    rng : None, int, SeedSequence or Generator
        For the random restarts.

    Returns
    -------
    GradNormWorstCase
        ``certified.value <= inf_W ||grad f(x; W)|| <= heuristic.value``, each of shape (K, n).

    Notes
    -----
    Notation: ``x_hat = x/||x||``, ``g_s = w0_s . x_hat``, ``P = I - x_hat x_hat^T``, ``grad f(W) =
    m^{-1/2} sum_s a_s 1{w_s . x > 0} w_s``. A neuron can be active for some lazy W iff ``g_s > -R``,
    inactive iff ``g_s <= R``: **robustly active** if ``g_s > R``, **robustly inactive** if ``g_s <= -R``,
    **flexible** otherwise.

    *Heuristic (exact per pattern).* Fix which flexible neurons are active. Writing ``w_s = w0_s +
    alpha_s x_hat + q_s`` (``q_s`` orthogonal to x, ``alpha_s^2 + ||q_s||^2 <= R^2``, and ``g_s + alpha_s >
    0`` for active s), ``sqrt(m) grad f = (c + sum a_s alpha_s) x_hat + (b_P + sum a_s q_s)`` with
    ``c = sum_active a_s g_s`` and ``b_P = P sum_active a_s w0_s``. Given the alphas, the best q's all point
    along ``-a_s b_P`` (a Minkowski sum of centred balls is a ball), leaving ``(||b_P|| - rho)_+`` with
    ``rho = sum sqrt(R^2 - alpha_s^2)``. Given ``Y = sum a_s alpha_s``, rho is maximal at
    ``a_s alpha_s = clip(R tau, lo_s, hi_s)`` for a common tau (the KKT conditions of a separable concave
    maximization under a box). So the per-pattern infimum is ``min over tau in [-1, 1] of
    sqrt((c + Y(tau))^2 + (||b_P|| - rho(tau))_+^2) / sqrt(m)``, a quasi-convex 1-D problem (grid, then
    golden section). This replaces the projected gradient steps of theory section 5.4, which can only approach this
    per-pattern optimum (a gradient step never activates an inactive neuron). Patterns are searched by a
    greedy local search over single toggles (from the W0 pattern, the all-flipped pattern, all-on,
    all-off and random patterns), or exhaustively when few neurons are flexible. The structured candidates
    of theory section 5.4 (W0; ``W_flip``; the shrink candidate ``w0_s - R a_s 1{g_s > 0} u`` with ``u = P grad
    f(W0) / ||P grad f(W0)||``; shrink on robust neurons with flip on flexible ones) are evaluated too, and
    the reported value is the smallest actually attained, recomputed from the witness.

    *Certified, decomposition.* The registry's per-sample Lemma B.7 bound
    (:func:`boundcheck.bounds.grad_norm_lower_certified`) with the exact operator norm of
    ``[P w0_s]_{s in S_x}`` (largest eigenvalue of the small Gram matrix) bounds ``||P grad f(W)||``; the
    part along x is exactly ``(f(x; W) - c_out) / ||x||`` (Euler), whose range over the ball is known
    exactly (each ``a_s relu`` is monotone in its pre-activation). Since ``||grad f||^2 = (x_hat . grad
    f)^2 + ||P grad f||^2``, ``euler = sqrt(x_min^2 + max(decomposition, 0)^2)``.

    *Certified, duality.* The set of attainable ``sqrt(m) grad f`` is contained in ``K = sum_s conv(C_s)``
    with ``C_s = {0}`` (robustly inactive), ``a_s B(w0_s, R)`` (robustly active) or
    ``{0} U a_s (B(w0_s, R) and {w . x >= 0})`` (flexible). For every unit e, ``||v|| >= e . v >=
    min_{K} e . v = sum_s min_{C_s} e . c``, a sum of closed forms (a ball, or a ball cut by a half-space).
    The bound uses the best e among Frank-Wolfe iterates on ``min ||v||^2`` over K started from the best
    attained gradient. It is sharp when the convex relaxation is (the gap is then only the integrality of
    the activation pattern).

    ``certified = max(euler, dual)``. Every step holds for every W in the ball, surely: the certified
    value can never exceed the heuristic one (tested).

    Examples
    --------
    >>> import boundcheck as bc
    >>> net = bc.init_network(20, 200, parametrization="theory", rng=0)
    >>> x = bc.sample_sphere(1, 20, rng=1)
    >>> res = grad_norm_lower(net, x, bc.lazy_radius(1.0, 200), rng=2)
    >>> bool(res.certified.value[0, 0] <= res.heuristic.value[0, 0] <= res.at_init[0, 0])
    True
    """
    net = _check_theory_net(net)
    X = check_points(net, X)
    _check_nonzero_rows(X)
    R = check_real(radius, "radius", minimum=0.0)
    steps = check_int(steps, "steps", minimum=0)
    restarts = check_int(restarts, "restarts", minimum=0)
    exhaustive_max = check_int(exhaustive_max, "exhaustive_max", minimum=0, maximum=20)
    fw_steps = check_int(fw_steps, "fw_steps", minimum=0)
    gen = check_rng(rng)
    K, n = net.n_inits, len(X)
    pts = [[None] * n for _ in range(K)]
    for k in range(K):
        net_k = net.select([k])
        for i in range(n):
            pt, geo = _gn_point(net.a[k], net.W0[k], X[i], R, gen, steps, restarts, exhaustive_max)
            # the reported values are recomputed with the core operation, at x (scaled by a power of two)
            W = _gn_rebuild(geo, pt.spec)
            grad = input_gradient(net_k, geo.x_eval[None], W[None])[0, 0]
            pt.value = float(np.linalg.norm(grad))
            pt.at_init = float(np.linalg.norm(input_gradient(net_k, geo.x_eval[None])[0, 0]))
            if pt.at_init < pt.value:    # at a tie W0 can beat what the geometry predicted for the witness
                pt.spec, pt.value = ("candidate", "W0"), pt.at_init
                grad = input_gradient(net_k, geo.x_eval[None])[0, 0]
            # R = 0: the ball is {W0}, whose value the network gives (W is then W0)
            pt.dual = _dual_certificate(geo, grad, fw_steps) if R > 0 else pt.value
            pts[k][i] = pt

    def arr(attr, dtype=float):
        return np.array([[getattr(pts[k][i], attr) for i in range(n)] for k in range(K)], dtype=dtype).reshape(K, n)

    from .bounds import grad_norm_lower_certified

    m = net.width
    decomposition = grad_norm_lower_certified(arr("P_grad"), arr("S_count", np.int64), m, R * math.sqrt(m),
                                              op_norm=arr("op_norm"), max_P_w_norm=arr("max_Pw"),
                                              n_active_W0=arr("n_plus", np.int64))
    decomposition = np.asarray(decomposition, dtype=float).reshape(K, n)
    euler = np.sqrt(arr("x_min") ** 2 + np.maximum(decomposition, 0.0) ** 2)
    dual = arr("dual")
    certified = np.maximum(euler, dual)
    specs = [[pts[k][i].spec for i in range(n)] for k in range(K)]
    a_all, W0_all = net.a, net.W0

    def witness(i):
        W = np.stack([_gn_rebuild(_GNGeometry(a_all[k], W0_all[k], X[i], R), specs[k][i]) for k in range(K)])
        return W, None

    return GradNormWorstCase(
        certified=WorstCase(certified, "certified", "grad_norm", "min", R),
        heuristic=WorstCase(arr("value"), "heuristic", "grad_norm", "min", R, witness),
        at_init=arr("at_init"), decomposition=decomposition, euler=euler, dual=dual,
        S_x_count=arr("S_count", np.int64), n_flexible=arr("n_flex", np.int64),
        exhaustive=arr("exhaustive", bool), radius=R)


# ======================================================================================================
# grad_norm_upper
# ======================================================================================================

def _best_response_up(geo: _GNGeometry, e: np.ndarray, build: bool = False):
    """The W maximizing ``e . grad f(x; W)``, neuron by neuron (an active neuron keeps ``w . x_hat >= margin``).

    Returns the gradient at that W (computed from the moves, without forming W), or W itself with
    ``build=True``.
    """
    a, W0, R, g, xh, mu = geo.a, geo.W0, geo.R, geo.g, geo.xh, geo.mu
    t = W0 @ e
    ex = float(e @ xh)
    pe = math.sqrt(max(1.0 - ex * ex, 0.0))
    Pe_h = (e - ex * xh) / pe if pe > 1e-15 else np.zeros_like(e)
    unc_val = a * t + R
    unc_ok = geo.ra | (g + R * a * ex >= mu)
    # on the face w . x_hat = mu: centre w0 + (mu - g) x_hat, radius sqrt(R^2 - (mu - g)^2)
    r0 = np.sqrt(np.maximum(R * R - (mu - g) ** 2, 0.0))
    pl_val = a * t + a * (mu - g) * ex + r0 * pe
    on_val = np.where(unc_ok, unc_val, pl_val)
    can_on = geo.ra | (geo.flex & geo.can_on)
    use_on = geo.ra | (can_on & (on_val > 0))
    u_idx = np.flatnonzero(use_on & unc_ok)
    p_idx = np.flatnonzero(use_on & ~unc_ok)
    if build:
        W = W0.copy()
        off = geo.flex & ~use_on & (g > 0)
        W[off] -= _SAFE * R * xh
        W[u_idx] += (_SAFE * R * a[u_idx])[:, None] * e[None, :]
        W[p_idx] += _SAFE * (((mu - g)[p_idx])[:, None] * xh[None, :]
                             + (r0[p_idx] * a[p_idx])[:, None] * Pe_h[None, :])
        return W
    coef = np.where(use_on, a, 0.0)
    v = (coef @ W0) + _SAFE * (R * len(u_idx) * e + float((a * (mu - g))[p_idx].sum()) * xh
                               + float(r0[p_idx].sum()) * Pe_h)
    return v / math.sqrt(geo.m)


def _alternate(respond, e, steps: int, best: float):
    """Alternating best responses from the unit vector ``e``, at most ``steps`` of them.

    ``respond(e)`` is the vector (a gradient, or a gradient difference) at the W that maximizes its inner
    product with ``e``; the next ``e`` is that vector's direction. Stops at a zero vector or a fixed point
    (to 1e-13). Returns the largest norm seen if it beats ``best``, with the ``e`` that gave it, else
    ``(best, None)``.
    """
    e_best = None
    for _ in range(steps):
        v = respond(e)
        nv = float(np.linalg.norm(v))
        if nv > best:
            best, e_best = nv, e.copy()
        if nv == 0:
            break
        e_new = v / nv
        if np.allclose(e_new, e, rtol=0, atol=1e-13):
            break
        e = e_new
    return best, e_best


def _gn_upper_point(a, W0, x, R, steps):
    """Largest ||grad f|| found: returns (value, spec) with spec ("candidate", name) or ("e", e)."""
    geo = _GNGeometry(a, W0, x, R)
    norms = geo.candidate_norms()
    name = max(("W0", "flip"), key=lambda k: norms.get(k, -np.inf))
    best_val, best_spec = norms[name], ("candidate", name)
    if R == 0:
        return best_val, best_spec
    starts = [geo.grad0]
    if "flip" in norms:
        starts.append(_grad(a, geo.candidate("flip"), geo.x))
    for gr in starts:
        nv = float(np.linalg.norm(gr))
        if nv == 0:
            continue
        best_val, e_best = _alternate(lambda e: _best_response_up(geo, e), gr / nv, steps, best_val)
        if e_best is not None:
            best_spec = ("e", e_best)
    return best_val, best_spec


def grad_norm_upper(net: Network, X, radius: float, *, steps: int = 8) -> WorstCase:
    """The largest ``||grad_x f(x; W)||`` found over the lazy ball (a heuristic lower estimate of the sup).

    Alternating best responses: for a unit direction e, the W maximizing ``e . grad f(x; W)`` is found
    neuron by neuron in closed form (a neuron's best row is ``w0_s + R a_s e``, or on the face
    ``w . x_hat = margin`` of the ball cut by its activation half-space, or the neuron is switched off);
    then e becomes the new gradient's direction. Each round cannot decrease ``||grad f||``. Started from
    the gradient directions at W0 and at ``W_flip``; those two are candidates too.

    Parameters
    ----------
    net : Network
        Theory setting (no first-layer biases, ``a_s`` in {-1, +1}).
    X : array_like, shape (n, d)
        Nonzero inputs.
    radius : float
        R >= 0.
    steps : int
        Best-response rounds per start.

    Returns
    -------
    WorstCase
        ``kind="heuristic"``, ``quantity="grad_norm"``, ``sense="max"``, values (K, n), with witnesses.
    """
    net = _check_theory_net(net)
    X = check_points(net, X)
    _check_nonzero_rows(X)
    R = check_real(radius, "radius", minimum=0.0)
    steps = check_int(steps, "steps", minimum=0)
    K, n = net.n_inits, len(X)
    vals = np.empty((K, n))
    specs = [[None] * n for _ in range(K)]

    def rebuild(k, i, spec):
        geo = _GNGeometry(net.a[k], net.W0[k], X[i], R)
        W = geo.candidate(spec[1]) if spec[0] == "candidate" else _best_response_up(geo, spec[1], build=True)
        return _into_ball(W, geo.W0, R)

    for k in range(K):
        net_k = net.select([k])
        for i in range(n):
            _, specs[k][i] = _gn_upper_point(net.a[k], net.W0[k], X[i], R, steps)
            W = rebuild(k, i, specs[k][i])
            x_eval = np.ldexp(X[i], -int(np.frexp(float(np.abs(X[i]).max()))[1]))   # x's own activation pattern
            vals[k, i] = float(np.linalg.norm(input_gradient(net_k, x_eval[None], W[None])[0, 0]))

    def witness(i):
        return np.stack([rebuild(k, i, specs[k][i]) for k in range(K)]), None

    return WorstCase(vals, "heuristic", "grad_norm", "max", R, witness)


# ======================================================================================================
# grad_difference_upper
# ======================================================================================================

class _GDGeometry:
    def __init__(self, a, W0, x, R, r):
        self.a, self.W0, self.x, self.R, self.r = a, W0, x, R, r
        self.m, self.d = W0.shape
        self.g = W0 @ x                       # ||x|| = 1
        self.row_norms = np.linalg.norm(W0, axis=1)
        self.grad0 = _grad(a, W0, x)
        self.f0 = float((a * np.maximum(self.g, 0.0)).sum()) / math.sqrt(self.m)

    def candidates_for(self, z):
        """Neurons that can flip between x and z for some lazy W (a superset: ``|g| <= R(1 + r) + |h|``,
        ``h = w0 . (z - x)``), and the difference at W0 (only neurons flipped at W0 contribute)."""
        h = self.W0 @ (z - self.x)
        cand = np.flatnonzero(np.abs(self.g) <= self.R * (1.0 + self.r) + np.abs(h) + 1e-12 * self.row_norms)
        pre_z = self.W0[cand] @ z
        coef = self.a[cand] * ((pre_z > 0).astype(float) - (self.g[cand] > 0).astype(float))
        nz = np.flatnonzero(coef)
        diff0 = (coef[nz] @ self.W0[cand[nz]]) / math.sqrt(self.m)
        return cand, diff0

    def best_response(self, z, e, cand, build: bool = False):
        """The W maximizing ``e . (grad f(z; W) - grad f(x; W))`` over the ball (only ``cand`` move).

        Returns the difference vector at that W (from the moved rows only), or W with ``build=True``.
        """
        W0, a, R = self.W0, self.a, self.R
        if len(cand) == 0 or R == 0:
            return W0.copy() if build else self.diff(W0, z)
        # an orthonormal basis of span(x, z, e), padded with zero columns when d < 3 (the kernel's moves
        # along a padding coordinate are dropped by Q, which keeps them feasible and as good)
        Q = np.zeros((self.d, 3))
        Qr, _ = np.linalg.qr(np.stack([self.x, z, e], axis=1))
        Q[:, :Qr.shape[1]] = Qr
        xt = Q.T @ self.x
        xt /= np.linalg.norm(xt)
        zt = Q.T @ z
        zt /= np.linalg.norm(zt)
        et = Q.T @ e
        Wc = W0[cand]
        P = np.ascontiguousarray(Wc @ Q)
        mu = 1e-9 * R + 1e-12 * float(self.row_norms[cand].max())
        coef, D = _worst_case_kernels.diff_best_response(P, a[cand], et, xt, zt, R, mu)
        moves = _SAFE * (D @ Q.T)
        if build:
            W = W0.copy()
            W[cand] += moves
            return W
        return (coef @ Wc + coef @ moves) / math.sqrt(self.m)

    def diff(self, W, z):
        pre_x = W @ self.x
        pre_z = W @ z
        coef = self.a * ((pre_z > 0).astype(float) - (pre_x > 0).astype(float))
        return (coef @ W) / math.sqrt(self.m)

    def ascend(self, z, e0, steps):
        """Alternating best responses at a fixed z; returns (value, e of the best W or None for W0)."""
        cand, dv = self.candidates_for(z)
        nv = float(np.linalg.norm(dv))
        best = (nv, None)
        e = dv / nv if nv > 0 else e0
        if self.R == 0:
            return best
        value, e_best = _alternate(lambda e: self.best_response(z, e, cand), e, steps, nv)
        return best if e_best is None else (value, e_best)


def _tangent_point(x, u, r):
    """z on the sphere |z - x| = r in the plane of (x, u) at the largest angle from x (||x|| = 1)."""
    pu = u - (u @ x) * x
    nu = np.linalg.norm(pu)
    if nu == 0:
        return x + r * u
    pu = pu / nu
    if r >= 1:
        return x + r * pu
    return x * (1.0 - r * r) + r * math.sqrt(1.0 - r * r) * pu


def _kink_direction(geo: _GDGeometry, e, W):
    """A direction that pushes towards the kink the neurons whose flip would add to e . diff."""
    a, R, r, x = geo.a, geo.R, geo.r, geo.x
    t = W @ e
    pre_x = W @ x
    near = np.abs(geo.g) <= R + (geo.row_norms + R) * r
    idx = np.flatnonzero(near)
    if len(idx) == 0:
        return None
    Pw = W[idx] - np.outer(pre_x[idx], x)
    pn = np.linalg.norm(Pw, axis=1)
    pn[pn == 0] = 1.0
    sig = np.sign(a[idx] * t[idx])
    slack = np.maximum(np.abs(pre_x[idx]) - R, 0.0) / (r * pn) if r > 0 else np.zeros(len(idx))
    weight = np.abs(t[idx]) * np.maximum(0.0, 1.0 - slack)
    u = (sig * weight / pn) @ Pw
    u -= (u @ x) * x
    nu = np.linalg.norm(u)
    return u / nu if nu > 0 else None


def _gd_point(a, W0, x, r, R, U_rand, u_fixed, steps, rounds):
    geo = _GDGeometry(a, W0, x, R, r)
    m = geo.m
    sq = math.sqrt(m)
    g = geo.g
    gn = float(np.linalg.norm(geo.grad0))
    # certified over all z in B(x, r)
    Fc = np.flatnonzero(np.abs(g) <= R + (geo.row_norms + R) * r)
    cert = _flip_cert(W0[Fc], R) / sq
    # fixed z
    zf = x + r * u_fixed
    pre_zf = W0 @ zf
    flips_f = int(((pre_zf > 0) != (g > 0)).sum())
    diff_f0 = float(np.linalg.norm(geo.diff(W0, zf)))
    hf = pre_zf - g
    Fz = np.flatnonzero(np.abs(g) <= R * (1.0 + r) + np.abs(hf))
    cert_f = _flip_cert(W0[Fz], R) / sq
    e0 = geo.grad0 / gn if gn > 0 else u_fixed
    val_f, e_f = geo.ascend(zf, e0, steps)
    # sup over z
    dirs = []
    if gn > 0:
        dirs.append(x + r * (-np.sign(geo.f0 or 1.0)) * geo.grad0 / gn)   # the attack point itself
        dirs.append(_tangent_point(x, geo.grad0, r))
        dirs.append(_tangent_point(x, -geo.grad0, r))
    for u in U_rand:
        dirs.append(_tangent_point(x, u, r))
    dirs.append(zf)
    best = (val_f, e_f, zf)
    for z in dirs:
        val, e = geo.ascend(z, e0, steps)
        if val > best[0]:
            best = (val, e, z)
    for _ in range(rounds):
        z_b, e_b = best[2], best[1]
        W_b = geo.W0 if e_b is None else geo.best_response(z_b, e_b, geo.candidates_for(z_b)[0], build=True)
        dv = geo.diff(W_b, z_b)
        if np.linalg.norm(dv) == 0:
            break
        u_new = _kink_direction(geo, dv / np.linalg.norm(dv), W_b)
        if u_new is None:
            break
        u_b = z_b - x
        u_b = u_b - (u_b @ x) * x
        improved = False
        for u in (u_new, u_new + u_b / max(np.linalg.norm(u_b), 1e-300)):
            if np.linalg.norm(u) == 0:
                continue
            z = _tangent_point(x, u, r)
            val, e = geo.ascend(z, dv / np.linalg.norm(dv), steps)
            if val > best[0] * (1 + 1e-12):
                best = (val, e, z)
                improved = True
        if not improved:
            break
    return dict(cert=cert, cert_f=cert_f, flips_f=flips_f, diff_f0=diff_f0, val_f=val_f, e_f=e_f,
                val=best[0], e=best[1], z=best[2], n_Fc=len(Fc), grad_norm=gn)


def _gd_rebuild(a, W0, x, r, R, z, e):
    geo = _GDGeometry(a, W0, x, R, r)
    if e is None:
        return W0.copy()
    return _into_ball(geo.best_response(z, e, geo.candidates_for(z)[0], build=True), W0, R)


def grad_difference_upper(net: Network, X, r: float, radius: float, *, n_directions: int = 2,
                          steps: int = 5, rounds: int = 4, rng=None) -> GradDiffWorstCase:
    """Sandwich ``sup over z in B(x, r), W in B_{2,inf}(W0, R) of ||grad f(z; W) - grad f(x; W)||``.

    The same W at both points, as in Lemma B.9. Also the same at one fixed random z (the form of
    ``lemma_B9_grad_difference_hp``) and the count ``|F|`` at W0 behind ``E|F| = m arctan(r)/pi``.

    Parameters
    ----------
    net : Network
        Theory setting (no first-layer biases, ``a_s`` in {-1, +1}).
    X : array_like, shape (n, d)
        Points on the unit sphere (``r`` is measured relative to ``||x|| = 1``).
    r : float
        Radius of the input ball, in [0, 1].
    radius : float
        Lazy-ball radius R >= 0.
    n_directions : int
        Random directions for z, beyond the structured ones.
    steps : int
        Best-response rounds per direction.
    rounds : int
        Rounds of the kink-seeking direction update.
    rng : None, int, SeedSequence or Generator
        For the random directions and the fixed z (drawn independently of the network).

    Returns
    -------
    GradDiffWorstCase

    Notes
    -----
    *Certified.* Let ``F = {s : 1{w_s . z > 0} != 1{w_s . x > 0}}`` for some z in ``B(x, r)`` and W in the
    ball, ``Delta_s = w_s - w0_s``. If s is in F, ``w_s . x`` and ``w_s . z`` lie on different sides of 0
    (one > 0, the other <= 0), so ``|w_s . x| <= |w_s . (z - x)| <= ||w_s|| r <= (||w0_s|| + R) r``; then
    ``|w0_s . x| <= |w_s . x| + |Delta_s . x| <= R ||x|| + (||w0_s|| + R) r``. Hence F is contained in
    ``F_cert = {s : |w0_s . x| <= R||x|| + (||w0_s|| + R) r}``, whatever z and W. Next,
    ``grad f(z; W) - grad f(x; W) = m^{-1/2} W_F^T c`` with ``c_s = a_s (1{w_s.z > 0} - 1{w_s.x > 0})`` in
    {-1, +1}, so its norm is at most ``m^{-1/2} ||W_F||_op ||c|| = m^{-1/2} sqrt(|F|) ||W_F||_op``, and
    ``||W_F||_op <= ||W0_F||_op + ||Delta_F||_op <= ||W0_F||_op + ||Delta_F||_Frobenius <= ||W0_F||_op +
    R sqrt(|F|)``. A submatrix has a smaller operator norm and ``|F| <= |F_cert|``, so
    ``sup ||grad f(z; W) - grad f(x; W)|| <= m^{-1/2} sqrt(|F_cert|) (||W0_{F_cert}||_op + R sqrt(|F_cert|))``,
    also ``<= m^{-1/2} sum_{F_cert} (||w0_s|| + R)`` (triangle inequality); the smaller of the two is
    reported. ``||W0_F||_op`` is computed exactly (largest eigenvalue of the smaller Gram matrix). For a
    fixed z the same argument with ``|w_s . (z - x)| <= |w0_s . (z - x)| + R r`` gives the smaller set
    ``{s : |w0_s . x| <= R (1 + r) + |w0_s . (z - x)|}`` (``fixed_certified``). At ``r = c / sqrt(d)``,
    ``(||w0_s|| + R) r`` is of order c, so ``F_cert`` holds a constant fraction of the neurons and the
    certificate is of order ``sqrt(d) + sqrt(m)``: vacuous, as theory section 5.5 warns (the union over z is what the
    paper's epsilon-net argument avoids).

    *Heuristic.* For fixed z and a unit direction e, the W maximizing ``e . (grad f(z; W) - grad f(x; W))``
    is found neuron by neuron: the neuron's options are "on at z only" (coefficient ``+a_s``), "on at x
    only" (``-a_s``) or "same side at both" (0), and for each the best row in the ball cut by the two
    half-spaces is a 3-D problem in ``span(x, z, e)`` solved exactly. Only neurons with ``|w0_s . x| <=
    R (1 + r) + |w0_s . (z - x)|`` can flip; the others keep ``w0_s``. Alternating e = the new
    difference's direction cannot decrease the norm. The directions for z: the attack point
    ``x - r sign(f) grad f / ||grad f||``, the points of ``B(x, r)`` at the largest angle from x in the
    directions of ``+-P grad f`` and of random directions, the fixed z, then rounds of a kink-seeking
    direction (``P sum_s sign(a_s e . w_s) weight_s P w_s`` over neurons near their kink). The value is
    recomputed by :func:`boundcheck.gradient_difference` at the witness.

    Examples
    --------
    >>> import boundcheck as bc
    >>> net = bc.init_network(16, 200, parametrization="theory", rng=0)
    >>> x = bc.sample_sphere(1, 16, rng=1)
    >>> res = grad_difference_upper(net, x, 0.25, bc.lazy_radius(1.0, 200), rng=2)
    >>> bool(res.heuristic.value[0, 0] <= res.certified.value[0, 0])
    True
    """
    net = _check_theory_net(net)
    if net.dim < 2:
        raise ValueError(f"net.dim must be >= 2 for grad_difference_upper (z = x + r u needs a direction u "
                         f"orthogonal to x), got d = {net.dim}")
    X = check_points(net, X)
    check_unit_sphere(X, "X")
    r = check_real(r, "r", minimum=0.0, maximum=1.0)
    R = check_real(radius, "radius", minimum=0.0)
    n_directions = check_int(n_directions, "n_directions", minimum=0)
    steps = check_int(steps, "steps", minimum=0)
    rounds = check_int(rounds, "rounds", minimum=0)
    gen = check_rng(rng)
    K, n, d = net.n_inits, len(X), net.dim
    # the fixed z of each point: x + r u, u uniform on the unit sphere of x's orthogonal complement
    fixed_Z = np.empty((n, d))
    U_rand = []
    for i in range(n):
        x = X[i]
        while True:     # a draw (nearly) parallel to x is redrawn: u must be orthogonal to x
            u = gen.standard_normal(d)
            u -= (u @ x) * x
            u -= (u @ x) * x
            nu = np.linalg.norm(u)
            if nu > 1e-6:
                break
        fixed_Z[i] = x + r * (u / nu)
        U_rand.append(gen.standard_normal((n_directions, d)))
    res = [[None] * n for _ in range(K)]
    for k in range(K):
        for i in range(n):
            u_fixed = (fixed_Z[i] - X[i]) / r if r > 0 else np.zeros(d)
            res[k][i] = _gd_point(net.a[k], net.W0[k], X[i], r, R, U_rand[i], u_fixed, steps, rounds)

    def arr(key, dtype=float):
        return np.array([[res[k][i][key] for i in range(n)] for k in range(K)], dtype=dtype).reshape(K, n)

    a_all, W0_all = net.a, net.W0
    heuristic_Z = np.stack([np.stack([res[k][i]["z"] for i in range(n)]) for k in range(K)])
    # recompute the values at the witnesses with the core operation
    vals, vals_f = np.empty((K, n)), np.empty((K, n))
    for k in range(K):
        net_k = net.select([k])
        for i in range(n):
            W = _gd_rebuild(a_all[k], W0_all[k], X[i], r, R, res[k][i]["z"], res[k][i]["e"])
            vals[k, i] = gradient_difference(net_k, X[i:i + 1], heuristic_Z[k, i][None], W[None])[0, 0]
            W = _gd_rebuild(a_all[k], W0_all[k], X[i], r, R, fixed_Z[i], res[k][i]["e_f"])
            vals_f[k, i] = gradient_difference(net_k, X[i:i + 1], fixed_Z[i][None], W[None])[0, 0]

    def witness(i):
        return np.stack([_gd_rebuild(a_all[k], W0_all[k], X[i], r, R, res[k][i]["z"], res[k][i]["e"])
                         for k in range(K)]), None

    def witness_f(i):
        return np.stack([_gd_rebuild(a_all[k], W0_all[k], X[i], r, R, fixed_Z[i], res[k][i]["e_f"])
                         for k in range(K)]), None

    from .bounds import lemma_B9_reference

    gn = arr("grad_norm")
    return GradDiffWorstCase(
        certified=WorstCase(arr("cert"), "certified", "grad_difference", "max", R),
        heuristic=WorstCase(vals, "heuristic", "grad_difference", "max", R, witness),
        heuristic_Z=heuristic_Z, fixed_Z=fixed_Z, fixed_at_init=arr("diff_f0"),
        fixed_flips_at_init=arr("flips_f", np.int64),
        fixed_heuristic=WorstCase(vals_f, "heuristic", "grad_difference_fixed_z", "max", R, witness_f),
        fixed_certified=WorstCase(arr("cert_f"), "certified", "grad_difference_fixed_z", "max", R),
        reachable_count=arr("n_Fc", np.int64), grad_norm=gn,
        reference=np.asarray(lemma_B9_reference(r, gn), dtype=float).reshape(K, n), r=r, radius=R)


def grad_difference_per_sample_bound(net: Network, X, Z, W=None) -> np.ndarray:
    """The deterministic bound ``lemma_B9_grad_difference_per_sample`` at given points and weights.

    ``min(m^{-1/2} sqrt(|F|) ||W_F||_op, m^{-1/2} |F| max_{s in F} ||w_s||)`` with ``F`` the neurons whose
    activation differs between x and z under W (relu'(0) = 0), ``||W_F||_op`` exact.

    Parameters
    ----------
    net : Network
        Theory setting (no first-layer biases, ``a_s`` in {-1, +1}).
    X, Z : array_like, shape (n, d)
        Paired points.
    W : array_like, shape (K, m, d), optional
        Weights (default ``net.W0``), the same at x and z.

    Returns
    -------
    ndarray, shape (K, n)
        Never below ``gradient_difference(net, X, Z, W)`` (a sure bound).
    """
    from .bounds import get

    net = _check_theory_net(net)
    X = check_points(net, X, "X")
    Z = check_points(net, Z, "Z")
    if Z.shape != X.shape:
        raise ValueError(f"Z must have the shape of X, {X.shape}, got {Z.shape}")
    if W is None:
        W = net.W0
    else:
        W = as_float_array(W, "W", shape=net.W0.shape)
    K, n = net.n_inits, len(X)
    F_count = np.zeros((K, n), dtype=np.int64)
    op = np.zeros((K, n))
    mx = np.zeros((K, n))
    for k in range(K):
        pre_x = X @ W[k].T
        pre_z = Z @ W[k].T
        flip = (pre_x > 0) != (pre_z > 0)
        for i in range(n):
            rows = W[k][flip[i]]
            F_count[k, i] = len(rows)
            op[k, i] = _top_singular(rows)
            mx[k, i] = float(np.linalg.norm(rows, axis=1).max()) * (1 + 1e-12) if len(rows) else 0.0
    bound = get("lemma_B9_grad_difference_per_sample")
    return np.asarray(bound.evaluate(F_count=F_count, m=net.width, op_norm=op, max_row_norm=mx),
                      dtype=float).reshape(K, n)
