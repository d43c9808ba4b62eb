"""The lazy ball B_{2,inf}(W0, R) = {W : max_s ||w_s - w0_s|| <= R} and worst cases over it.

Wang et al. 2022, Def. 2.1: the lazy regime is the ball of radius ``R = C0 / sqrt(m)`` around the
initialization in the (2, inf) norm, i.e. **per neuron** (rows of W). With first-layer biases (the
authors' code) the row is ``[w_s, b_s]`` and the input becomes ``x~ = (x, 1)``.

Every worst case is a :class:`WorstCase` labelled with how much it can be trusted:

``"exact"``
    the true optimum over the ball (closed form), with a witness W attaining it;
``"certified"``
    a proven bound that holds for every W in the ball (no witness);
``"heuristic"``
    the best value an optimizer found (a witness, but maybe not the optimum).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

from . import _kernels
from ._validate import as_float_array, check_int, check_real
from .network import Network
from ._numeric import (augmented_norms, ball_deviations, chunks, into_ball, output_bias, output_scale,
                       stacked_preactivations)
from ._validate_network import check_batch, check_network, check_points

__all__ = ["project_lazy", "f_range", "max_sign_flips", "max_pair_flips", "WorstCase", "FRange", "KINDS", "lazy_distance"]

KINDS = ("exact", "certified", "heuristic")


@dataclass(frozen=True, eq=False)
class WorstCase:
    """A worst case of a quantity over the lazy ball, per init and point.

    Attributes
    ----------
    value : ndarray, shape (K, n)
        The worst value (an exact optimum, a certified bound, or the best found).
    kind : {"exact", "certified", "heuristic"}
        How far the value can be trusted (see the module docstring).
    quantity : str
        What is optimized, e.g. ``"f"`` or ``"sign_flips"``.
    sense : {"max", "min"}
        Whether the worst case is a maximum or a minimum.
    radius : float
        The lazy-ball radius R.
    """

    value: np.ndarray
    kind: Literal["exact", "certified", "heuristic"]
    quantity: str
    sense: Literal["max", "min"]
    radius: float
    _witness: Callable[[int], tuple] | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.sense not in ("max", "min"):
            raise ValueError(f"sense must be 'max' or 'min', got {self.sense!r}")

    @property
    def has_witness(self) -> bool:
        """Whether a W attaining the value can be produced (exact and heuristic kinds)."""
        return self._witness is not None

    def witness(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The weights attaining ``value[:, i]`` for every init at point ``i``.

        Returns
        -------
        W : ndarray, shape (K, m, d)
        b : ndarray, shape (K, m), or None for networks without biases
        """
        if self._witness is None:
            raise ValueError(f"a {self.kind} worst case of {self.quantity} has no witness")
        n = self.value.shape[1]
        i = check_int(i, "i", minimum=0, maximum=n - 1)
        return self._witness(i)


@dataclass(frozen=True, eq=False)
class FRange:
    """The exact range of f(x; W) over the lazy ball: ``lower`` (inf) and ``upper`` (sup)."""

    lower: WorstCase
    upper: WorstCase


def project_lazy(W, W0, radius: float, *, b=None, b0=None):
    """Euclidean projection onto the lazy ball, row by row, that never leaves a stored row outside it.

    Each row ``w_s`` outside the ball is replaced by ``w0_s + (w_s - w0_s) f`` with ``f ~= R / ||w_s - w0_s||``,
    the nearest point of the ball (a product of Euclidean balls, one per row), aimed a relative
    ``2 (p + 8) 2**-53`` inside the sphere (twice the rounding allowance of the measurement) and lowered
    further while the stored row still measures outside ``R (1 - (p + 8) 2**-53)``.
    Forming ``w0_s + delta`` rounds each coordinate to a multiple of ``ulp(w0_s)``, an error that does not
    shrink with R; for R far below ``||w0_s||`` the returned row can thus lie well inside the sphere (at the
    limit, ``w0_s`` itself).

    Guarantee: every returned row's deviation is at most R both exactly (in real arithmetic, of the stored
    floats) and as :func:`lazy_distance` measures it. A row already in the ball in both senses is returned
    unchanged, bitwise; so the projection is idempotent, bitwise.

    Parameters
    ----------
    W, W0 : array_like, shape (..., m, p)
        Weights and the ball's center (same shape); rows are neurons.
    radius : float
        R >= 0.
    b, b0 : array_like, shape (..., m), optional
        First-layer biases and their centers; then the projected row is ``[w_s, b_s]``.

    Returns
    -------
    ndarray, shape (..., m, p)
        The projected W; or a tuple ``(W, b)`` when biases are given.
    """
    radius = check_real(radius, "radius", minimum=0.0)
    W = as_float_array(W, "W", allow_nonfinite=False)
    W0 = as_float_array(W0, "W0")
    if W.ndim < 2:
        raise ValueError(f"W must have at least 2 dimensions (..., m, p), got shape {W.shape}")
    if W.shape != W0.shape:
        raise ValueError(f"W must have the shape of W0, {W0.shape}, got {W.shape}")
    if (b is None) != (b0 is None):
        raise ValueError("b and b0 must be given together (or neither)")
    if b is not None:
        b = as_float_array(b, "b")
        b0 = as_float_array(b0, "b0")
        if b.shape != W.shape[:-1] or b0.shape != W.shape[:-1]:
            raise ValueError(f"b and b0 must have shape {W.shape[:-1]} to match W, got {b.shape} and {b0.shape}")
        rows = np.concatenate([W, b[..., None]], axis=-1)
        centers = np.concatenate([W0, b0[..., None]], axis=-1)
        out = _project(rows, centers, radius)
        return np.ascontiguousarray(out[..., :-1]), np.ascontiguousarray(out[..., -1])
    return _project(W, W0, radius)


def _project(W, W0, radius):
    return into_ball(W, W0, radius)


def _rows_in_ball(W, W0, radius, b=None, b0=None):
    """``(W, b)`` with every lazy-ball row ``[w_s, b_s]`` moved into the ball (:func:`_numeric.into_ball`)."""
    if b is None:
        return into_ball(W, W0, radius), None
    rows = into_ball(np.concatenate([W, b[..., None]], axis=-1), np.concatenate([W0, b0[..., None]], axis=-1), radius)
    return np.ascontiguousarray(rows[..., :-1]), np.ascontiguousarray(rows[..., -1])


def lazy_distance(W, W0, *, b=None, b0=None) -> np.ndarray:
    """``max_s ||[w_s, b_s] - [w0_s, b0_s]||`` over neurons, per init: the (2, inf) distance.

    Each row's norm is measured as :func:`project_lazy` measures it (the squared differences summed in
    order, rescaled by a power of two where a square would under- or overflow): relative error at most
    ``(p/2 + 3) 2**-53`` for rows of length p, and a row :func:`project_lazy` returns reads at most R.

    Parameters
    ----------
    W, W0 : array_like, shape (K, m, d)
    b, b0 : array_like, shape (K, m), optional

    Returns
    -------
    ndarray, shape (K,)
    """
    if (b is None) != (b0 is None):
        raise ValueError("b and b0 must be given together (or neither)")
    W = as_float_array(W, "W", ndim=3)
    W0 = as_float_array(W0, "W0", shape=W.shape)
    if b is not None:
        b = as_float_array(b, "b", shape=W.shape[:2])
        b0 = as_float_array(b0, "b0", shape=W.shape[:2])
        W, W0 = np.concatenate([W, b[..., None]], axis=-1), np.concatenate([W0, b0[..., None]], axis=-1)
    return ball_deviations(W, W0).max(axis=-1, initial=0.0)


def _unit_directions(net: Network, X: np.ndarray):
    """x~ / ||x~|| split into its weight part (n, d) and bias part (n,) (zero where x~ = 0)."""
    norms = augmented_norms(net, X)
    safe = np.where(norms > 0, norms, 1.0)
    ux = X / safe[:, None]
    ub = (1.0 / safe) if net.has_bias else None
    return ux, ub, norms


def _witness_builder(net: Network, X: np.ndarray, radius: float, direction_fn):
    """Witness W = W0 + R * direction[k, s] * x~_i / ||x~_i|| with direction in {-1, 0, +1}."""
    ux, ub, norms = _unit_directions(net, X)

    def build(i):
        pre0 = stacked_preactivations(X[i:i + 1], net.W0, net.b0)[0]  # (K, m)
        direction = direction_fn(pre0, norms[i])
        if norms[i] == 0:
            direction = np.zeros_like(direction)
        W = net.W0 + radius * direction[..., None] * ux[i][None, None, :]
        b = None if net.b0 is None else net.b0 + radius * direction * ub[i]
        return _rows_in_ball(W, net.W0, radius, b, net.b0)  # w0 + delta may round outside the ball

    return build


def f_range(net: Network, X, radius: float, *, batch: int | None = None) -> FRange:
    """Exact inf and sup of f(x; W) over W in the lazy ball B_{2,inf}(W0, radius).

    Each neuron moves on its own, and ``a_s relu(z_s)`` is monotone in the pre-activation ``z_s``, which
    ranges over ``[z0_s - R||x~||, z0_s + R||x~||]``. So the sup is attained by
    ``w_s = w0_s + sign(a_s) R x~/||x~||`` and the inf by the opposite sign (Wang et al. 2022, Lemma B.5;
    theory section 5.1)::

        sup_W f = (1/sqrt(m)) sum_s a_s relu(z0_s + sign(a_s) R ||x~||) (+ output bias)

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
        Any inputs (the closed form does not assume the sphere).
    radius : float
        R >= 0, usually ``C0 / sqrt(m)``.
    batch : int, optional
        Points per chunk; memory O(batch * K * m).

    Returns
    -------
    FRange
        ``lower`` and ``upper``, both ``kind="exact"`` with witnesses. A witness lies in the ball exactly (a
        row that rounds outside is pulled in by :func:`project_lazy`'s rule), so it attains the value up to
        rounding.

    Notes
    -----
    Calling :func:`~boundcheck.ops.forward`, :func:`~boundcheck.ops.input_gradient`,
    :func:`~boundcheck.ops.sign_flips` and this function one after the other on the same points costs about
    2.3x one fused :func:`~boundcheck.ops.network_pass` (``radius=`` gives the same f range), which shares the
    BLAS products among them (``benchmarks/bench_kernels.py``); use it when you need several.
    """
    net = check_network(net)
    X = check_points(net, X)
    radius = check_real(radius, "radius", minimum=0.0)
    n = len(X)
    batch = check_batch(net, batch, n)
    K = net.n_inits
    lower, upper = np.empty((K, n)), np.empty((K, n))
    reach = radius * augmented_norms(net, X)
    for lo, hi in chunks(n, batch):
        pre0 = stacked_preactivations(X[lo:hi], net.W0, net.b0)
        _kernels.f_range_from_pre(pre0, net.a, output_bias(net), output_scale(net), reach[lo:hi], lower, upper, lo)
    sign_a = np.sign(net.a)
    up = _witness_builder(net, X, radius, lambda pre0, rho: sign_a)
    down = _witness_builder(net, X, radius, lambda pre0, rho: -sign_a)
    return FRange(
        lower=WorstCase(lower, "exact", "f", "min", radius, down),
        upper=WorstCase(upper, "exact", "f", "max", radius, up))


def max_sign_flips(net: Network, X, radius: float, *, batch: int | None = None) -> WorstCase:
    """Exact maximum over the lazy ball of the number of neurons whose activation flips at x.

    A neuron can be moved to the other side of its kink iff its initial pre-activation ``z0_s`` satisfies
    ``-R||x~|| < z0_s <= R||x~||`` (Wang et al. 2022, Lemma B.4; theory section 5.2). The witness moves every
    such neuron by ``R x~/||x~||`` towards its kink and across it: ``w_s = w0_s - R sign+(z0_s) x~/||x~||``
    with ``sign+(z) = +1 if z > 0 else -1``.

    Ties: a neuron with ``z0_s = 0`` exactly is inactive at W0 (relu'(0) = 0) and is counted, since any
    R > 0 makes it active. A neuron with ``z0_s = R||x~||`` is counted: the witness puts it exactly at 0,
    which is inactive. A neuron with ``z0_s = -R||x~||`` is not: it can reach 0 but not pass it. With
    ``x~ = 0`` nothing can move and the count is 0. Witnesses lie in the ball exactly (a row that rounds
    outside is pulled in by :func:`project_lazy`'s rule) and attain the count up to rounding for neurons
    within rounding of these boundaries (of R and of ``w0_s + delta``, whose error is about ``eps ||w0_s||``).

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    radius : float
        R >= 0.
    batch : int, optional
        Points per chunk; memory O(batch * K * m).

    Returns
    -------
    WorstCase
        ``kind="exact"``, ``quantity="sign_flips"``, ``sense="max"``, values int64 (K, n).
    """
    net = check_network(net)
    X = check_points(net, X)
    radius = check_real(radius, "radius", minimum=0.0)
    n = len(X)
    batch = check_batch(net, batch, n)
    out = np.empty((net.n_inits, n), dtype=np.int64)
    reach = radius * augmented_norms(net, X)
    reach[reach == 0] = 0.0
    for lo, hi in chunks(n, batch):
        _kernels.count_reachable_flips(stacked_preactivations(X[lo:hi], net.W0, net.b0), reach[lo:hi], out, lo)

    def direction(pre0, rho):
        reachable = (pre0 > -radius * rho) & (pre0 <= radius * rho)
        return np.where(reachable, np.where(pre0 > 0, -1.0, 1.0), 0.0)

    return WorstCase(out, "exact", "sign_flips", "max", radius, _witness_builder(net, X, radius, direction))


def max_pair_flips(net: Network, X, Y, radius: float, *, batch: int | None = None) -> WorstCase:
    """Exact max over the lazy ball of #{s : 1{w_s . x > 0} != 1{w_s . y > 0}} for paired points.

    This is the count behind Lemma B.6, eq. (4) of Wang et al. 2022: neuron s counts iff some ``w_s`` with
    ``||w_s - w0_s|| <= R`` puts x and y on different sides of its kink. Neurons move independently, so the
    maximum is the number of neurons whose distance to the flip set is at most R. The flip set lives in the
    plane of ``(x~, y~)`` (two wedges), so the distance is exact from five inner products per neuron.

    Parameters
    ----------
    net : Network
    X, Y : array_like, shape (n, d)
        Paired points.
    radius : float
        R >= 0.
    batch : int, optional
        Points per chunk; memory O(batch * K * m).

    Returns
    -------
    WorstCase
        ``kind="exact"``, ``quantity="pair_flips"``, no witness.

    Notes
    -----
    The flip set is not closed (``w . x = 0`` counts as inactive); a neuron at distance exactly R > 0 from
    it is counted although the infimum may not be attained. This matters only on a set of measure zero. At
    ``R = 0`` the ball is ``{W0}`` and the count is the one at W0, exactly (from the pre-activations). A
    neuron already split at W0 is always counted, whatever the rounding of its distance (nearly parallel
    pairs, below).

    Nearly parallel pairs (``sin^2`` of the angle between ``x~`` and ``y~`` at most ``1e-4``) are computed
    apart, in an orthonormal basis of their plane built stably: the second direction comes from the
    difference ``y~ - x~`` (or ``y~ + x~``), which floating point forms exactly when the two are close, and
    the pre-activations along it are one BLAS product; the distance to each wedge is then that of a 2-D
    point to a thin 2-D cone. So a pair ``y = x + eps u`` gives the same count for every ``eps > 0`` down to
    rounding of the stored inputs (as the wedges close, the count tends to ``#{s : |w0_s . x^| <= R}``,
    not to 0). Exactly parallel pairs are recognized in exact arithmetic (error-free products): ``y~`` a
    positive multiple of ``x~`` never flips, a negative multiple flips every neuron once R > 0; and
    ``x~ = 0`` or ``y~ = 0`` are handled too. The result is exact except for neurons within rounding of
    the radius, and for pairs whose inputs have subnormal components (the exact parallelism test may then
    miss an exact multiple). A pair that is not an exact multiple but whose angle is at the scale of rounding
    (``sin`` of the angle at most ``16 p eps``) is counted for the floats given, exactly, and a
    ``RuntimeWarning`` says that the floats cannot tell a real tiny angle (e.g. ``x = (2, 3.56e-162)``,
    ``y = (1, 0)``) from an intended exact multiple lost to rounding (e.g. ``y = 3 * x`` computed in floating
    point), for which the count would be 0 or m instead of the nearly-parallel limit.
    """
    net = check_network(net)
    X = check_points(net, X, "X")
    Y = check_points(net, Y, "Y")
    if Y.shape != X.shape:
        raise ValueError(f"Y must have the shape of X, {X.shape}, got {Y.shape}")
    radius = check_real(radius, "radius", minimum=0.0)
    n = len(X)
    batch = check_batch(net, batch, n)
    extra = 1.0 if net.has_bias else 0.0
    X_in, Y_in = X, Y
    if not net.has_bias:  # without biases the flip set is invariant to rescaling x and y: avoid underflow
        X = X / np.where(np.abs(X).max(1) > 0, np.abs(X).max(1), 1.0)[:, None]
        Y = Y / np.where(np.abs(Y).max(1) > 0, np.abs(Y).max(1), 1.0)[:, None]
    gxx = np.einsum("ij,ij->i", X, X) + extra
    gyy = np.einsum("ij,ij->i", Y, Y) + extra
    gxy = np.einsum("ij,ij->i", X, Y) + extra
    det = gxx * gyy - gxy * gxy
    zero = (gxx == 0) | (gyy == 0)
    near = ~zero & (det <= _NEAR_PARALLEL * gxx * gyy)
    degenerate = zero | near
    safe_xx, safe_yy = np.where(degenerate, 1.0, gxx), np.where(degenerate, 1.0, gyy)
    safe_xy = np.where(degenerate, 0.0, gxy)
    out = np.empty((net.n_inits, n), dtype=np.int64)
    for lo, hi in chunks(n, batch):
        pre_x = stacked_preactivations(X[lo:hi], net.W0, net.b0)
        pre_y = stacked_preactivations(Y[lo:hi], net.W0, net.b0)
        if radius == 0:  # the ball is {W0}: the count at W0, exactly (no closure of the flip set)
            out[:, lo:hi] = ((pre_x > 0) != (pre_y > 0)).sum(-1).T
            continue
        _kernels.count_reachable_pair_flips(pre_x, pre_y, safe_xx[lo:hi], safe_xy[lo:hi], safe_yy[lo:hi],
                                            radius, out, lo)
        for j in np.flatnonzero(degenerate[lo:hi]):
            i = lo + j
            zx, zy = pre_x[j], pre_y[j]  # (K, m)
            if gxx[i] == 0 and gyy[i] == 0:
                out[:, i] = 0
            elif gxx[i] == 0:  # x~ = 0: never active at x; flips iff w.y > 0 is reachable
                out[:, i] = (zy + radius * np.sqrt(gyy[i]) > 0).sum(-1)
            elif gyy[i] == 0:
                out[:, i] = (zx + radius * np.sqrt(gxx[i]) > 0).sum(-1)
            else:
                u, v = _augment(X_in[i], net.has_bias), _augment(Y_in[i], net.has_bias)
                parallel = _exactly_parallel(u, v)
                if parallel > 0:  # same direction: both sides always agree
                    out[:, i] = 0
                elif parallel < 0:  # opposite directions: disagree unless exactly at the kink
                    out[:, i] = net.width
                else:  # the neurons split at W0 are in the flip set (distance 0) whatever the rounding
                    out[:, i] = (_near_parallel_pair_flips(net, u, v, radius) | ((zx > 0) != (zy > 0))).sum(-1)
    return WorstCase(out, "exact", "pair_flips", "max", radius, None)


#: sin^2 of the angle between x~ and y~ below which :func:`max_pair_flips` builds the plane stably in numpy
#: (the Gram-determinant route of the kernel loses about 1e-16 / sin^2 of relative accuracy).
_NEAR_PARALLEL = 1e-4


def _augment(x: np.ndarray, bias: bool) -> np.ndarray:
    return np.append(x, 1.0) if bias else np.asarray(x, dtype=np.float64)


def _pow2_scale(*vectors) -> list:
    """The vectors times one power of two that brings their largest entry into [0.5, 1) (exact)."""
    top = max(float(np.abs(v).max()) for v in vectors)
    e = np.frexp(top)[1] if top > 0 else 0
    return [np.ldexp(v, -e) for v in vectors]


def _two_product(a, b):
    """Error-free product (Dekker/Veltkamp): ``a * b == hi + lo`` exactly (no over/underflow assumed)."""
    split = 134217729.0  # 2^27 + 1
    ca, cb = split * a, split * b
    ah = ca - (ca - a)
    al = a - ah
    bh = cb - (cb - b)
    bl = b - bh
    hi = a * b
    lo = ((ah * bh - hi) + ah * bl + al * bh) + al * bl
    return hi, lo


def _exactly_parallel(u: np.ndarray, v: np.ndarray) -> int:
    """+1 if ``v = c u`` exactly with c > 0, -1 if c < 0, 0 if not parallel (u, v non-zero).

    ``v`` is a multiple of ``u`` iff ``u_p v_j = u_j v_p`` for every j, with p an index where ``u_p != 0``;
    each product is formed exactly as a double-double (after an exact power-of-two scaling).
    """
    u, v = _pow2_scale(u, v)
    p = int(np.argmax(np.abs(u)))
    h1, l1 = _two_product(np.full_like(v, u[p]), v)
    h2, l2 = _two_product(u, np.full_like(u, v[p]))
    if np.array_equal(h1, h2) and np.array_equal(l1, l2):
        return 1 if u[p] * v[p] > 0 else -1
    return 0


def _near_parallel_pair_flips(net: Network, u: np.ndarray, v: np.ndarray, radius: float) -> np.ndarray:
    """Which neurons can split a pair ``(u, v) = (x~, y~)`` that is nearly but not exactly parallel: bool (K, m).

    Orthonormal basis (e1, e2) of span(u, v): e1 = u / |u|, e2 from the component of the small difference
    ``v -+ u`` orthogonal to e1 (Gram-Schmidt twice). In these coordinates ``u ~ (1, 0)`` and
    ``v ~ (cos phi, sin phi)`` with ``sin phi > 0`` small, and a neuron ``w`` only matters through
    ``p = (w . e1, w . e2)``: it can separate the pair within R iff ``p`` is within R of the wedge
    ``A = {p1 >= 0, p . v^ <= 0}`` (between the rays ``(0, -1)`` and ``(sin phi, -cos phi)``) or of ``-A``.
    """
    us, vs = _pow2_scale(u, v)
    e1 = us / np.linalg.norm(us)
    diff = vs - us if us @ vs > 0 else vs + us
    D = diff if np.linalg.norm(diff) < np.linalg.norm(vs) else vs
    perp = D - (D @ e1) * e1
    perp = perp - (perp @ e1) * e1
    # the norm of a tiny perp (e.g. x = (2, 3.56e-162), y = (1, 0): entries ~ 4e-163) underflows when squared:
    # take it after an exact power-of-two scaling
    top = float(np.abs(perp).max())
    e = int(np.frexp(top)[1]) if top > 0 else 0
    sin_raw = float(np.ldexp(np.linalg.norm(np.ldexp(perp, -e)), e))
    W0 = net.W0
    a = W0 @ e1[:W0.shape[2]]
    if net.has_bias:
        a = a + net.b0 * e1[-1]
    if sin_raw == 0.0:  # the wedges have closed to half-lines of the hyperplane w . e1 = 0: distance |a|
        return np.abs(a) <= radius
    e2 = perp / sin_raw
    b = W0 @ e2[:W0.shape[2]]
    if net.has_bias:
        b = b + net.b0 * e2[-1]
    y1, y2 = float(vs @ e1), sin_raw        # v = y1 e1 + y2 e2 (its part orthogonal to e1 is perp)
    r = np.hypot(y1, y2)
    c, s = y1 / r, y2 / r
    if s <= 16 * len(us) * np.finfo(float).eps:
        import warnings

        warnings.warn(f"max_pair_flips: x~ and y~ are not exact multiples of each other, but their angle is at the "
                      f"scale of float rounding (sin angle = {s:.2g}). The count is exact for the floats given (the "
                      "nearly parallel limit, #{s : |w0_s . x^| <= R}). The floats cannot tell whether this angle is "
                      "real or the pair was meant to be parallel up to the rounding of the inputs (e.g. y = 3 * x "
                      "computed in floating point); an exact multiple would give 0 (same direction) or m (opposite)",
                      RuntimeWarning, stacklevel=3)

    def dist_to_A(p1, p2):
        inside = (p1 >= 0) & (p1 * c + p2 * s <= 0)
        norm = np.hypot(p1, p2)
        d1 = np.where(-p2 >= 0, np.abs(p1), norm)                     # ray (0, -1)
        t2 = p1 * s - p2 * c                                            # p . (sin phi, -cos phi)
        d2 = np.where(t2 >= 0, np.abs(p1 * c + p2 * s), norm)          # ray (sin phi, -cos phi)
        return np.where(inside, 0.0, np.minimum(d1, d2))

    dist = np.minimum(dist_to_A(a, b), dist_to_A(-a, -b))
    return dist <= radius
