"""Theorem 3.1 of Wang et al. 2022 point by point: the sufficient step, and an adversary over W.

Theorem 3.1 (theory section 3) says that, for a fixed x on the sphere and with high probability over the
init, **every** W in the lazy ball ``B_{2,inf}(W0, R)`` is defeated by one gradient step::

    x' = x - eta s grad_x f(x; W),   s = sign f(x; W)  (sign(0) := +1),   eta = Theta(1/d).

This module supplies the two per-sample pieces a Monte Carlo check of that statement needs.

**The per-sample sufficient condition** (registry entry ``theorem_3_1_sufficient_step``). With
``G = ||grad f(x; W)||`` and the gradient's largest deviation along the step's segment::

    D_seg(eta) = max_{t in [0, eta]} ||grad f(x - t s grad f(x; W); W) - grad f(x; W)||,

the flip is certified when ``eta G (G - D_seg(eta)) > abs(f(x; W))`` (and ``f != 0``).
:func:`segment_gradient_deviation` computes ``D_seg`` exactly: along the ray every pre-activation
``z_s + t c_s`` is linear in t, so the gradient is piecewise constant, and the deviation at t is
``scale * || sum_{s in F(t)} (+-a_s) w_s ||`` over the set ``F(t)`` of neurons that switched between 0
and t. That set only grows (a neuron crosses its kink at most once on a ray), so the maximum over the
segment is the maximum over the states the walk through the sorted breakpoints reaches before eta.
:func:`sufficient_step` walks the same pieces to find ``eta_suff``, the smallest step the condition
certifies: on each piece ``D_seg`` is the running maximum, a constant, and the condition is linear in
eta. Since the certificate implies a flip, ``eta_suff >= eta*``, the exact minimal flipping step of
:func:`boundcheck.attacks.min_flip_step`. :func:`certify_step` evaluates everything at a given eta and
labels the samples with the registry's :func:`~boundcheck.bounds.theorem_3_1_certified`.

**The adversary over W** (:func:`robust_lazy_weights`). The theorem quantifies over all lazy W; the most
robust W the optimizer can find is the strongest test of it. The objective is the margin left after the
step, ``phi(W) = s f(x'; W)`` (positive: not flipped). With the activation patterns ``A_s = 1{w_s.x > 0}``
at x and ``B_s = 1{w_s.x' > 0}`` at x' held fixed, f is linear in each row and x' depends on W through
``grad f(x; W)``, which gives (theory section 3's notation, ``h = grad f(x'; W)``)::

    d phi / d w_s = (1/sqrt m) a_s (s B_s x' - eta A_s h).

(:func:`step_margin` returns it; the tests check it against finite differences.) The adversary runs
projected gradient ascent with row-normalized steps (the steepest ascent of the (2, inf) geometry) from
structured candidates, keeping the best W it evaluates, so it is never worse than a candidate:

``"init"``
    W0;
``"f_push"``
    every row moved by R along ``sign(a_s) s x/||x||``: the exact maximizer of ``s f(x; W)`` over the ball
    (the f-range witness of :func:`boundcheck.f_range` on the side of f's sign), which maximizes
    ``abs(f)``, the margin the step has to cross; for a sample, ``x/||x||`` becomes the normalized
    ``sum_i s_i x_i/||x_i||``;
``"grad_shrink"``
    the rows of active neurons moved by R along ``-a_s u`` with ``u = P grad f(x; W0)/||P grad f(x; W0)||``
    (theory section 5.4), which shrinks ``||grad f||`` and so the distance one step travels; for a sample,
    row s moves along the normalized ``-a_s sum_i A_is u_i``;
``"combined"``
    each row along the normalized sum of the two unit directions above;
``"random"``
    every row moved by R in a uniformly random direction.

For a whole sample (``per_point=False``) one W per init must serve all points; the objective is then the
number of points the step does not flip, optimized through the smooth surrogate
``mean_i sigmoid(phi_i / tau)`` and judged by the true count.

Conventions as in :mod:`boundcheck.attacks`: ``relu'(0) = 0``; ``sign(0) := +1`` in the update and in
the flip test (a point with ``f(x) >= 0`` flips when ``f(x') < 0``, one with ``f(x) < 0`` when
``f(x') >= 0``). The adversary takes the theory setting without first-layer biases (an output bias is
allowed); the exact scans accept biases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import _attack_kernels, _kernels, _robust_lazy_kernels
from ._validate import as_float_array, check_choice, check_int, check_real, check_rng
from .bounds.wang2022 import theorem_3_1_certified, theorem_3_1_sufficient_step
from .lazy import WorstCase
from .network import Network
from ._numeric import (CHUNK_BYTES, ball_slack, chunks, into_ball, output_bias, output_scale, row_norms,
                       stacked_preactivations, unit_rows)
from ._validate_network import check_network, check_network_inputs, check_points, check_weights

__all__ = ["segment_gradient_deviation", "sufficient_step", "SufficientStep", "certify_step", "StepCertificate",
           "step_margin", "StepMargin", "random_lazy_weights", "robust_lazy_weights", "RobustLazyResult",
           "CANDIDATES", "SURROGATES"]

#: The structured starting points of the adversary, in the order they are tried.
CANDIDATES = ("init", "f_push", "grad_shrink", "combined", "random")
#: Smooth surrogates of the count of unflipped points (``per_point=False``).
SURROGATES = ("sigmoid", "softplus")

#: Up to this many points the ascent forms the W-gradient row by row inside the step kernel (one pass over
#: W); beyond, with BLAS products.
_LOWRANK_MAX_POINTS = 4


# ======================================================================================================
# Shared pieces
# ======================================================================================================

def _ray_batch(net: Network, n: int, batch) -> int:
    if batch is None:
        K, m, d = net.W0.shape
        return max(1, min(n, CHUNK_BYTES // (8 * K * (2 * m + 2 * d)))) if n else 1
    return check_int(batch, "batch", minimum=1)


def _ray_chunk(net: Network, Xc: np.ndarray, W: np.ndarray, b):
    """f, the gradient, its norm, the step's sign and the pre-activations' slopes along the step.

    Returns ``pre (nc, K, m)``, ``f (K, nc)``, ``g (K, nc, d)``, ``G (K, nc)``, ``s (K, nc)`` and
    ``slope (K, nc, m)`` with ``slope[k, i, s] = -s_ki w_s . g_ki``, the derivative in eta of the
    pre-activation along ``x - eta s grad f(x; W)``.
    """
    K, m, _ = W.shape
    nc = len(Xc)
    pre = stacked_preactivations(Xc, W, b)
    f = np.empty((K, nc))
    _kernels.forward_from_pre(pre, net.a, output_bias(net), output_scale(net), f, 0)
    coef = np.empty((K, nc, m))
    _kernels.gradient_coefficients(pre, net.a, output_scale(net), coef)
    g = coef @ W
    s = np.where(f >= 0, 1.0, -1.0)
    slope = np.matmul(g, W.transpose(0, 2, 1))
    slope *= -s[..., None]
    return pre, f, g, row_norms(g), s, slope


def _norm_tolerance(net: Network, W: np.ndarray) -> np.ndarray:
    """Per init, a bound on the rounding of gradient norms and deviations: ``64 eps (m + d) scale sum_s
    abs(a_s) ||w_s||`` (each is a sum of at most m rows of W, each with d terms)."""
    K, m, d = W.shape
    mass = np.einsum("km,km->k", np.abs(net.a), row_norms(W))
    return 64.0 * np.finfo(np.float64).eps * (m + d) * output_scale(net) * mass


def _check_eta_array(eta, K: int, n: int, *, allow_inf: bool) -> np.ndarray:
    arr = as_float_array(eta, "eta", allow_nonfinite=True)
    if np.isnan(arr).any():
        raise ValueError("eta must not contain NaN")
    if not allow_inf and np.isinf(arr).any():
        raise ValueError("eta must be finite")
    if (arr < 0).any():
        raise ValueError(f"eta must be >= 0, got {arr[arr < 0].flat[0]!r}")
    try:
        return np.ascontiguousarray(np.broadcast_to(arr, (K, n)), dtype=float)
    except ValueError:
        raise ValueError(f"eta of shape {arr.shape} does not broadcast to (K, n) = ({K}, {n})") from None


# ======================================================================================================
# The per-sample sufficient condition
# ======================================================================================================

def segment_gradient_deviation(net: Network, X, W=None, b=None, *, eta, batch: int | None = None) -> np.ndarray:
    """Exact ``D_seg(eta) = max_{t in [0, eta]} ||grad f(x - t s grad f(x;W); W) - grad f(x;W)||``.

    ``s = sign f(x; W)`` with ``sign(0) := +1``. Exact by walking the ray's breakpoints (see the module
    docstring); no sampling of the segment.

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    W : array_like, shape (K, m, d), optional
        Lazy weights (default ``net.W0``).
    b : array_like, shape (K, m), optional
        First-layer biases (default ``net.b0``).
    eta : float or array_like broadcastable to (K, n)
        Step sizes >= 0 (``inf``: the whole ray).
    batch : int, optional
        Points per chunk; memory O(batch * K * (m + d)).

    Returns
    -------
    ndarray, shape (K, n)
        0 where the gradient vanishes (the step does not move) or eta = 0.

    Examples
    --------
    >>> from boundcheck import init_network, sample_sphere
    >>> net = init_network(20, 200, parametrization="theory", rng=0)
    >>> segment_gradient_deviation(net, sample_sphere(3, 20, rng=1), eta=0.05).shape
    (1, 3)
    """
    net, X, W, b = check_network_inputs(net, X, W, b)
    K, m, d = W.shape
    n = len(X)
    etas = _check_eta_array(eta, K, n, allow_inf=True)
    batch = _ray_batch(net, n, batch)
    tol = _norm_tolerance(net, W)
    out = np.empty((K, n))
    junk1, junk2 = np.empty((K, n)), np.empty((K, n))
    for lo, hi in chunks(n, batch):
        pre, f, g, G, s, slope = _ray_chunk(net, X[lo:hi], W, b)
        _robust_lazy_kernels.scan_all(pre, slope, net.a, W, output_scale(net), np.abs(f), G,
                                      np.ascontiguousarray(etas[:, lo:hi]), 0, tol, out, junk1, junk2, lo)
    return out


@dataclass(frozen=True, eq=False)
class SufficientStep:
    """The smallest step that the per-sample sufficient condition of Theorem 3.1 certifies.

    Attributes
    ----------
    eta : ndarray, shape (K, n)
        ``eta_suff = inf {eta : eta G (G - D_seg(eta)) > abs(f)}`` (+inf where no step is certified, e.g.
        a vanishing gradient, or ``f = 0`` unless ``sign_zero_positive``). Every step in the open
        interval ``(eta, piece_end)`` is certified.
    piece_end : ndarray, shape (K, n)
        The end of the ray's piece on which ``eta`` lies (the next breakpoint, or +inf).
    D_seg : ndarray, shape (K, n)
        ``D_seg`` on that piece (the running maximum; constant there).
    delta : ndarray, shape (K, n)
        The perturbation norm ``eta * grad_norm``.
    grad_norm : ndarray, shape (K, n)
        ``G = ||grad_x f(x; W)||``.
    f : ndarray, shape (K, n)
        ``f(x; W)``.
    certifiable : ndarray of bool, shape (K, n)
        Whether some step is certified (``eta`` finite).
    """

    eta: np.ndarray
    piece_end: np.ndarray
    D_seg: np.ndarray
    delta: np.ndarray
    grad_norm: np.ndarray
    f: np.ndarray
    certifiable: np.ndarray


def sufficient_step(net: Network, X, W=None, b=None, *, sign_zero_positive: bool = False,
                    batch: int | None = None) -> SufficientStep:
    """The smallest step ``eta_suff`` certified by ``eta G (G - D_seg(eta)) > abs(f(x; W))``.

    Exact: on each piece of the ray between consecutive breakpoints ``D_seg`` is constant (the running
    maximum of the gradient change), so the condition ``eta > abs(f) / (G (G - D))`` is linear there; the
    walk stops on the first piece where it holds (theory section 3, "Per-sample sufficient condition").
    Because the certificate implies a flip, ``eta_suff >= eta*`` (:func:`boundcheck.min_flip_step`).

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    W, b : array_like, optional
        Lazy weights (K, m, d) and biases (K, m) (defaults ``net.W0``, ``net.b0``).
    sign_zero_positive : bool
        Read ``sign(0) := +1`` in the conclusion too, so that points with ``f(x; W) = 0`` can be certified
        (theory section 3, "Ties"); by default they are not (``eta = +inf``), as the registry's
        :func:`~boundcheck.bounds.theorem_3_1_certified` requires ``f != 0``.
    batch : int, optional
        Points per chunk; memory O(batch * K * (m + d)).

    Returns
    -------
    SufficientStep

    Examples
    --------
    >>> from boundcheck import init_network, sample_sphere, min_flip_step
    >>> net = init_network(20, 200, parametrization="theory", rng=0)
    >>> X = sample_sphere(5, 20, rng=1)
    >>> bool((sufficient_step(net, X).eta >= min_flip_step(net, X).eta).all())
    True
    """
    net, X, W, b = check_network_inputs(net, X, W, b)
    if not isinstance(sign_zero_positive, (bool, np.bool_)):
        raise TypeError(f"sign_zero_positive must be a bool, got {sign_zero_positive!r}")
    K, m, d = W.shape
    n = len(X)
    batch = _ray_batch(net, n, batch)
    tol = _norm_tolerance(net, W)
    eta, end, D = np.empty((K, n)), np.empty((K, n)), np.empty((K, n))
    f_all, G_all = np.empty((K, n)), np.empty((K, n))
    for lo, hi in chunks(n, batch):
        pre, f, g, G, s, slope = _ray_chunk(net, X[lo:hi], W, b)
        f_all[:, lo:hi], G_all[:, lo:hi] = f, G
        _robust_lazy_kernels.scan_all(pre, slope, net.a, W, output_scale(net), np.abs(f), G, np.zeros_like(f), 1,
                                      tol, eta, end, D, lo)
    if not sign_zero_positive:
        zero = f_all == 0
        eta[zero], end[zero] = np.inf, np.inf
    certifiable = np.isfinite(eta)
    with np.errstate(invalid="ignore"):
        delta = np.where(certifiable, eta * G_all, np.inf)
    return SufficientStep(eta=eta, piece_end=end, D_seg=D, delta=delta, grad_norm=G_all, f=f_all,
                          certifiable=certifiable)


@dataclass(frozen=True, eq=False)
class StepCertificate:
    """One gradient step of size eta, what it does and what Theorem 3.1's condition certifies.

    Attributes
    ----------
    eta : ndarray, shape (K, n)
    f : ndarray, shape (K, n)
        ``f(x; W)``.
    grad_norm : ndarray, shape (K, n)
        ``G``.
    D_seg : ndarray, shape (K, n)
        ``D_seg(eta)`` (exact).
    bound_margin : ndarray, shape (K, n)
        ``eta G (G - D_seg) - abs(f)``, the registry's ``theorem_3_1_sufficient_step``: a lower bound on
        ``-s f(x')``.
    certified : ndarray of bool, shape (K, n)
        ``theorem_3_1_certified(eta, G, D_seg, f)``: ``bound_margin > 0`` and ``f != 0``.
    f_after : ndarray, shape (K, n)
        ``f(x'; W)`` at ``x' = x - eta s grad f(x; W)``.
    margin_after : ndarray, shape (K, n)
        ``s f(x'; W)`` (the adversary's objective; > 0 means not flipped, 0 is a tie).
    flipped : ndarray of bool, shape (K, n)
        Whether the step flips the sign (sign(0) := +1).
    """

    eta: np.ndarray
    f: np.ndarray
    grad_norm: np.ndarray
    D_seg: np.ndarray
    bound_margin: np.ndarray
    certified: np.ndarray
    f_after: np.ndarray
    margin_after: np.ndarray
    flipped: np.ndarray


def certify_step(net: Network, X, eta, W=None, b=None, *, batch: int | None = None) -> StepCertificate:
    """Take the step ``x' = x - eta s grad f(x; W)`` and check Theorem 3.1's per-sample condition at eta.

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    eta : float or array_like broadcastable to (K, n)
        Step sizes >= 0, finite.
    W, b : array_like, optional
        Lazy weights (K, m, d) and biases (K, m).
    batch : int, optional
        Points per chunk; memory O(batch * K * (m + d)).

    Returns
    -------
    StepCertificate
        The label ``certified`` comes from the registry (:func:`~boundcheck.bounds.theorem_3_1_certified`);
        wherever it is True, ``flipped`` is True too (the theorem's proof), up to rounding at ties.
    """
    net, X, W, b = check_network_inputs(net, X, W, b)
    K, m, d = W.shape
    n = len(X)
    etas = _check_eta_array(eta, K, n, allow_inf=False)
    batch = _ray_batch(net, n, batch)
    tol = _norm_tolerance(net, W)
    f_all, G_all, D = np.empty((K, n)), np.empty((K, n)), np.empty((K, n))
    f_after = np.empty((K, n))
    s_all = np.empty((K, n))
    junk1, junk2 = np.empty((K, n)), np.empty((K, n))
    for lo, hi in chunks(n, batch):
        pre, f, g, G, s, slope = _ray_chunk(net, X[lo:hi], W, b)
        f_all[:, lo:hi], G_all[:, lo:hi], s_all[:, lo:hi] = f, G, s
        e = np.ascontiguousarray(etas[:, lo:hi])
        _robust_lazy_kernels.scan_all(pre, slope, net.a, W, output_scale(net), np.abs(f), G, e, 0, tol, D, junk1, junk2, lo)
        Xp = X[lo:hi][None] - (e * s)[..., None] * g
        pre_p = np.matmul(Xp, W.transpose(0, 2, 1))
        if b is not None:
            pre_p += b[:, None, :]
        fp = np.empty((K, hi - lo))
        _attack_kernels.forward_per_init(pre_p, net.a, output_bias(net), output_scale(net), fp)
        f_after[:, lo:hi] = fp
    bound_margin = np.asarray(theorem_3_1_sufficient_step.evaluate(eta=etas, G=G_all, D_seg=D, f=f_all), float)
    certified = np.asarray(theorem_3_1_certified(etas, G_all, D, f_all), bool)
    # G - D within rounding of 0 certifies nothing: D is a computed norm, and a gradient that vanishes along
    # the segment (D = G exactly) can come out a few ulps below G (as sufficient_step also refuses)
    certified &= (G_all - D) > 64 * np.finfo(float).eps * G_all
    flipped = np.where(s_all > 0, f_after < 0, f_after >= 0)
    return StepCertificate(eta=etas, f=f_all, grad_norm=G_all, D_seg=D, bound_margin=bound_margin,
                           certified=certified, f_after=f_after, margin_after=s_all * f_after, flipped=flipped)


# ======================================================================================================
# The margin after the step and its gradient in W
# ======================================================================================================

@dataclass(frozen=True, eq=False)
class StepMargin:
    """The margin left after one step, per init and point, and its gradient in W.

    Attributes
    ----------
    margin : ndarray, shape (K, n)
        ``phi = s f(x'; W)`` with ``x' = x - eta s grad f(x; W)``; ``s = sign f(x; W)`` (sign(0) := +1), or
        the label y when labels are given.
    robust : ndarray of bool, shape (K, n)
        The step does not flip the sign (labels: ``y f(x') > 0``).
    s : ndarray, shape (K, n)
        The signs used.
    f : ndarray, shape (K, n)
        ``f(x; W)``.
    grad : ndarray, shape (K, m, d), or None
        ``d/dW sum_i weights_i phi_i`` with the activation patterns at x and x' held fixed (the gradient
        wherever no pre-activation is exactly 0 and, in sign mode, f(x) != 0).
    """

    margin: np.ndarray
    robust: np.ndarray
    s: np.ndarray
    f: np.ndarray
    grad: np.ndarray | None


def _margin_forward(a, c0, scale, W, X, eta, labels):
    """The step and the margin for K inits sharing the points X (n, d); labels None (sign mode) or (n,).

    Returns ``(phi, robust, state)`` with ``phi`` and ``robust`` of shape (K, n) and ``state`` what
    :func:`_margin_grad` needs: ``(s, f, A, B, Xp)``.
    """
    Wt = W.transpose(0, 2, 1)
    pre = np.matmul(X, Wt)                                  # (K, n, m)
    A = pre > 0
    f = scale * np.einsum("km,knm->kn", a, np.maximum(pre, 0.0)) + c0[:, None]
    g = scale * np.matmul(a[:, None, :] * A, W)             # grad f(x; W), (K, n, d)
    if labels is None:
        s = np.where(f >= 0, 1.0, -1.0)
    else:
        s = np.broadcast_to(labels[None, :], f.shape).astype(float)
    Xp = X[None] - (eta * s)[..., None] * g
    pre_p = np.matmul(Xp, Wt)
    B = pre_p > 0
    fp = scale * np.einsum("km,knm->kn", a, np.maximum(pre_p, 0.0)) + c0[:, None]
    phi = s * fp
    robust = np.where(s > 0, fp >= 0, fp < 0) if labels is None else phi > 0
    return phi, robust, (s, f, A, B, Xp)


def _grad_factors(a, scale, W, state, weights=None):
    """``cb = w s B``, ``ca = w A`` (K, n, m) and ``h = grad f(x'; W)`` (K, n, d): the W-gradient of
    ``sum_i w_i phi_i`` is ``scale a_s sum_i (cb_is x'_i - eta ca_is h_i)`` per row s."""
    s, _, A, B, Xp = state
    wgt = np.ones(s.shape) if weights is None else weights
    h = scale * np.matmul(a[:, None, :] * B, W)
    return (wgt * s)[..., None] * B, wgt[..., None] * A, h


def _margin_grad(a, scale, W, eta, state, weights=None):
    """d/dW sum_i weights[k, i] phi[k, i], shape (K, m, d), with the activation patterns held fixed:
    ``d phi / d w_s = scale a_s (s B_s x' - eta A_s h)``, ``h = grad f(x'; W)``."""
    cb, ca, h = _grad_factors(a, scale, W, state, weights)
    Xp = state[4]
    grad = np.matmul(cb.transpose(0, 2, 1), Xp)
    grad -= eta * np.matmul(ca.transpose(0, 2, 1), h)
    grad *= scale * a[..., None]
    return grad


def _check_labels_or_sign(y_or_sign, n: int):
    if isinstance(y_or_sign, str):
        check_choice(y_or_sign, "y_or_sign", ("sign",))
        return None
    if y_or_sign is None:
        return None
    y = as_float_array(y_or_sign, "y_or_sign", ndim=1)
    if y.shape != (n,):
        raise ValueError(f"y_or_sign must be 'sign' or labels of shape (n,) = ({n},), got shape {y.shape}")
    if not np.isin(y, (-1.0, 1.0)).all():
        raise ValueError("y_or_sign labels must be -1 or +1")
    return y


def _check_theory_net(net) -> Network:
    net = check_network(net)
    if net.has_bias:
        raise ValueError("net has first-layer biases (net.b0 is not None); the adversary over W takes the theory "
                         "setting without them (use init_network(..., parametrization='theory') or b0=None)")
    return net


def step_margin(net: Network, X, eta: float, W=None, *, y_or_sign="sign", weights=None,
                need_grad: bool = True) -> StepMargin:
    """The margin ``s f(x'; W)`` after the step ``x' = x - eta s grad f(x; W)``, and its gradient in W.

    With the activation patterns ``A`` at x and ``B`` at x' fixed (theory section 3 notation,
    ``h = grad f(x'; W)``), ``d phi / d w_s = (1/sqrt m) a_s (s B_s x' - eta A_s h)``: the direct
    dependence of ``f(x'; W)`` on the row, plus the dependence through ``x'``, which moves with
    ``grad f(x; W)``. The sign s is held fixed (it changes only where f(x; W) crosses 0).

    Parameters
    ----------
    net : Network
        Without first-layer biases (an output bias is fine).
    X : array_like, shape (n, d)
    eta : float
        Step size >= 0.
    W : array_like, shape (K, m, d), optional
    y_or_sign : "sign" or array_like, shape (n,)
        ``"sign"``: the theorem's attack, ``s = sign f(x; W)``. Labels y in {-1, +1}: ``s = y`` (gradient
        ascent on the logistic loss), and a point is robust iff ``y f(x') > 0``.
    weights : array_like, shape (K, n), optional
        Weights of the margins in the gradient (default all 1).
    need_grad : bool

    Returns
    -------
    StepMargin
    """
    net = _check_theory_net(net)
    X = check_points(net, X)
    W = check_weights(net, W)
    eta = check_real(eta, "eta", minimum=0.0)
    labels = _check_labels_or_sign(y_or_sign, len(X))
    if weights is not None:
        weights = as_float_array(weights, "weights", shape=(net.n_inits, len(X)))
    phi, robust, state = _margin_forward(net.a, output_bias(net), output_scale(net), W, X, eta, labels)
    grad = _margin_grad(net.a, output_scale(net), W, eta, state, weights) if need_grad else None
    return StepMargin(margin=phi, robust=robust, s=state[0], f=state[1], grad=grad)


# ======================================================================================================
# The adversary over W
# ======================================================================================================

def random_lazy_weights(net: Network, radius: float, *, rng=None) -> np.ndarray:
    """``W0 + R * U`` with every row of U uniform on the unit sphere: each neuron moved by R.

    Moved by R up to rounding, and never outside the ball: a stored row that rounds outside (forming
    ``w0 + delta`` rounds to ``ulp(w0)``, which matters when R is far below ``||w0||``) is pulled back in
    (:func:`boundcheck._numeric.into_ball`), so ``lazy_distance(W, W0) <= R`` exactly.

    Parameters
    ----------
    net : Network
    radius : float
        R >= 0.
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    ndarray, shape (K, m, d)
    """
    net = check_network(net)
    radius = check_real(radius, "radius", minimum=0.0)
    gen = check_rng(rng)
    D = gen.standard_normal(net.W0.shape)
    norms = row_norms(D)
    norms[norms == 0] = 1.0
    return into_ball(net.W0 + radius * D / norms[..., None], net.W0, radius)


def _candidates(a, c0, scale, W0, X, labels, R, streams):
    """Yield the structured starting points ``(name, W (K, m, d))`` in the order of ``CANDIDATES``."""
    K, m, d = W0.shape
    yield "init", W0
    if R == 0:
        return
    Xhat, _ = unit_rows(X)
    pre = np.matmul(X, W0.transpose(0, 2, 1))                # (K, n, m)
    A = pre > 0
    f = scale * np.einsum("km,knm->kn", a, np.maximum(pre, 0.0)) + c0[:, None]
    s = np.where(f >= 0, 1.0, -1.0) if labels is None else np.broadcast_to(labels[None], f.shape)
    # f_push: sign(a_s) times the normalized sum_i s_i xhat_i (for one point: the f-range witness)
    v, _ = unit_rows(np.einsum("kn,nd->kd", s, Xhat))   # (K, d)
    push = np.sign(a)[..., None] * v[:, None, :]             # (K, m, d), unit rows (or 0)
    yield "f_push", into_ball(W0 + R * push, W0, R)
    # grad_shrink: -a_s sum_i A_is u_i, u_i = P_i g_i / ||P_i g_i|| (theory section 5.4)
    g = scale * np.matmul(a[:, None, :] * A, W0)             # (K, n, d)
    u, _ = unit_rows(g - np.einsum("knd,nd->kn", g, Xhat)[..., None] * Xhat[None])
    shrink, _ = unit_rows(-a[..., None] * np.matmul(A.transpose(0, 2, 1).astype(float), u))
    yield "grad_shrink", into_ball(W0 + R * shrink, W0, R)
    both = push
    both += shrink
    yield "combined", into_ball(W0 + R * unit_rows(both)[0], W0, R)
    del push, shrink, both
    rand = np.empty_like(W0)
    for k, gen in enumerate(streams):
        rand[k] = gen.standard_normal((m, d))
    yield "random", into_ball(W0 + R * unit_rows(rand)[0], W0, R)


def _score(phi, robust, per_point, tau):
    """Per point: the margin (K, n). Sample: robust count + mean sigmoid(phi/tau) in [0, 1) (K,)."""
    if per_point:
        return phi
    z = phi / tau[:, None]
    tie = np.mean(0.5 * (1.0 + np.tanh(0.5 * z)), axis=1)  # sigmoid, overflow-free
    return robust.sum(axis=1) + np.minimum(tie, 1.0 - 1e-12)


def _surrogate_weights(phi, tau, surrogate):
    """d/dphi of the mean surrogate, (K, n)."""
    n = phi.shape[1]
    z = phi / tau[:, None]
    sig = 0.5 * (1.0 + np.tanh(0.5 * z))
    if surrogate == "sigmoid":
        return sig * (1.0 - sig) / (tau[:, None] * n)
    return (1.0 - sig) / n                               # d/dphi of -tau softplus(-phi/tau), mean


class _Best:
    """The best W evaluated so far per init (per point: by margin; sample: by count, then surrogate)."""

    def __init__(self, per_point):
        self.per_point = per_point
        self.score = None

    def offer(self, W, phi, robust, tau, index=None):
        score = _score(phi, robust, self.per_point, tau)
        if self.score is None:
            self.score, self.W = np.array(score, copy=True), W.copy()
            self.phi, self.robust = phi.copy(), robust.copy()
            self.start = np.full(len(W), 0 if index is None else index, dtype=np.int64)
            return
        better = score[:, 0] > self.score[:, 0] if self.per_point else score > self.score
        for k in np.flatnonzero(better):
            self.score[k] = score[k]
            self.W[k] = W[k]
            self.phi[k], self.robust[k] = phi[k], robust[k]
            if index is not None:
                self.start[k] = index

    def rescore(self, tau):
        self.score = _score(self.phi, self.robust, self.per_point, tau)


def _adversary(a, c0, scale, W0, X, labels, R, eta, steps, streams, per_point, surrogate, temperature,
               alpha0, alpha1):
    """The adversary on one chunk of inits: returns the best W, its phi and robust, candidate values, start."""
    cand_phi, cand_robust = {}, {}
    best = _Best(per_point)
    tau = None
    for name, Wc in _candidates(a, c0, scale, W0, X, labels, R, streams):
        phi, robust, _ = _margin_forward(a, c0, scale, Wc, X, eta, labels)
        cand_phi[name], cand_robust[name] = phi, robust
        if tau is None:
            tau = _temperature(phi, temperature)
        best.offer(Wc, phi, robust, tau, CANDIDATES.index(name))
    start = best.start.copy()
    if R > 0 and steps > 0:
        # the kernels project onto a ball smaller by twice the measurement slack, so that their rows are
        # surely inside and the exact pass below (into_ball) has rarely anything to decide or move
        R_in = R * (1.0 - 2.0 * ball_slack(W0.shape[-1]))
        tau = _temperature(best.phi, temperature)
        best.rescore(tau)
        W = best.W.copy()
        W_next = np.empty_like(W)
        n = X.shape[0]
        for t in range(steps + 1):
            phi, robust, state = _margin_forward(a, c0, scale, W, X, eta, labels)
            best.offer(W, phi, robust, tau)
            if t == steps:
                break
            weights = None if per_point else _surrogate_weights(phi, tau, surrogate)
            alpha = alpha0 if steps == 1 else alpha0 * (alpha1 / alpha0) ** (t / (steps - 1))
            if n <= _LOWRANK_MAX_POINTS:
                cb, ca, h = _grad_factors(a, scale, W, state, weights)
                _robust_lazy_kernels.ascent_step_lowrank(W, W0, a, np.ascontiguousarray(cb, dtype=float),
                                                         np.ascontiguousarray(ca, dtype=float),
                                                         np.ascontiguousarray(state[4]), h, scale, eta, alpha * R, R_in,
                                                         W_next)
            else:
                _robust_lazy_kernels.ascent_step_dense(W, W0, _margin_grad(a, scale, W, eta, state, weights),
                                                       alpha * R, R_in, W_next)
            # the kernels project with R / ||delta||, which can round outside when R << ||w0||
            into_ball(W_next, W0, R, out=W_next)
            W, W_next = W_next, W
    return best.W, best.phi, best.robust, cand_phi, cand_robust, start


def _temperature(phi, temperature):
    if temperature is not None:
        return np.full(phi.shape[0], temperature)
    med = np.median(np.abs(phi), axis=1)
    floor = 1e-9 * (1.0 + np.abs(phi).max(axis=1))
    return np.maximum(0.5 * med, floor)


@dataclass(frozen=True, eq=False)
class RobustLazyResult:
    """The most robust lazy W the adversary found against the one-step attack (kind ``"heuristic"``).

    Attributes
    ----------
    value : ndarray, shape (K, n)
        The margin ``phi = s f(x'; W)`` after the step at the witness: per point, each point's own witness
        (the best margin found for that point); for a sample, the one witness of the init.
    robust : ndarray of bool, shape (K, n)
        The step does not flip the sign at the witness (labels: ``y f(x') > 0``).
    n_robust : ndarray of int, shape (K,)
        ``robust.sum(axis=1)``.
    candidate_values : dict of str to ndarray (K, n)
        The margins at each structured candidate (``CANDIDATES``; only ``"init"`` when R = 0).
    candidate_robust : dict of str to ndarray of bool (K, n)
    start : ndarray of int, shape (K, n) or (K,)
        Index into ``CANDIDATES`` of the best candidate, where the ascent started.
    eta : float
    radius : float
    per_point : bool
    labels : ndarray or None
        The labels when given (else the sign mode of Theorem 3.1).
    steps : int
    kind : str
        ``"heuristic"``: a value attained by the witness, maybe not the optimum.
    quantity : str
        ``"margin_after_step"``.
    sense : str
        ``"max"``.
    """

    value: np.ndarray
    robust: np.ndarray
    n_robust: np.ndarray
    candidate_values: dict
    candidate_robust: dict
    start: np.ndarray
    eta: float
    radius: float
    per_point: bool
    labels: np.ndarray | None
    steps: int
    kind: str = "heuristic"
    quantity: str = "margin_after_step"
    sense: str = "max"
    _witnesses: list | None = field(default=None, repr=False)

    @property
    def has_witness(self) -> bool:
        return self._witnesses is not None

    def witness(self, i: int | None = None) -> np.ndarray:
        """The witness W (K, m, d): per point, the one of point ``i``; for a sample, the shared one."""
        if self._witnesses is None:
            raise ValueError("the witnesses were not kept (keep_witness=False)")
        if not self.per_point:
            return self._witnesses[0]
        n = self.value.shape[1]
        if i is None:
            if n != 1:
                raise ValueError(f"give the point index i (per-point witnesses, n = {n})")
            i = 0
        i = check_int(i, "i", minimum=0, maximum=n - 1)
        return self._witnesses[i]

    def worst_case(self) -> WorstCase:
        """The per-point result as a :class:`boundcheck.lazy.WorstCase` (``kind="heuristic"``)."""
        if not self.per_point:
            raise ValueError("worst_case() is for per_point=True; a sample witness is shared by all points")
        witnesses = self._witnesses
        build: Callable | None = None if witnesses is None else (lambda i: (witnesses[i], None))
        return WorstCase(self.value, "heuristic", self.quantity, "max", self.radius, build)


def robust_lazy_weights(net: Network, X, y_or_sign, radius: float, eta: float, *, steps: int = 40, rng=None,
                        per_point: bool = True, surrogate: str = "sigmoid", temperature: float | None = None,
                        step_size: float = 0.5, final_step_size: float = 0.02, keep_witness: bool = True,
                        batch: int | None = None) -> RobustLazyResult:
    """The most robust W in the lazy ball against the one-step attack ``x' = x - eta s grad f(x; W)``.

    Maximizes the margin left after the step, ``phi(W) = s f(x'; W)`` (per point), or the number of points
    the step does not flip (``per_point=False``, one W per init for the whole sample), by projected
    gradient ascent with row-normalized steps of ``alpha_t * R`` (``alpha_t`` decaying geometrically from
    ``step_size`` to ``final_step_size``) and a projection onto the ball after every step, started from the
    best of the structured candidates ``CANDIDATES`` (see the module docstring). The best W evaluated is
    kept, so the result is never worse than any candidate: per point ``value >= candidate_values[name]``;
    for a sample ``n_robust`` is at least each candidate's count.

    Parameters
    ----------
    net : Network
        Without first-layer biases (the theory setting; an output bias is fine).
    X : array_like, shape (n, d)
        The points (shared by the K inits).
    y_or_sign : "sign" or array_like, shape (n,)
        ``"sign"``: Theorem 3.1's attack, ``s = sign f(x; W)`` (sign(0) := +1), robust = not flipped.
        Labels in {-1, +1}: ``s = y``, robust iff ``y f(x') > 0``.
    radius : float
        R >= 0 (``C0 / sqrt(m)``). With R = 0 the ball is {W0}.
    eta : float
        Step size >= 0 (Theorem 3.1: ``c / d``).
    steps : int
        Ascent steps (0: the best candidate).
    rng : None, int, SeedSequence or Generator
        For the ``"random"`` candidate: one stream per (point, init) (per point) or per init (sample), so
        the result does not depend on ``batch``.
    per_point : bool
        One W per point (Theorem 3.1's quantifier: for each x, all W) or one W per init for the sample.
    surrogate : {"sigmoid", "softplus"}
        Sample objective: ``mean sigmoid(phi/tau)`` (a smooth count) or ``mean -tau softplus(-phi/tau)``.
    temperature : float, optional
        tau > 0; default half the median ``abs(phi)`` at the start, per init.
    step_size, final_step_size : float
        First and last ascent step, in units of R (> 0).
    keep_witness : bool
        Keep the witnesses; memory ``n * K * m * d`` floats per point (per point) or ``K * m * d``.
    batch : int, optional
        Inits per chunk; memory O(batch * m * (d + n)) per work array (about ten of them).

    Returns
    -------
    RobustLazyResult
        ``kind="heuristic"``.

    Notes
    -----
    Cost per ascent step and init: four products of size ``n m d`` (pre-activations at x and x', the two
    input gradients) and two for the W-gradient, plus the row normalization and projection (O(m d)).
    """
    net = _check_theory_net(net)
    X = check_points(net, X)
    n = len(X)
    labels = _check_labels_or_sign(y_or_sign, n)
    radius = check_real(radius, "radius", minimum=0.0)
    eta = check_real(eta, "eta", minimum=0.0)
    steps = check_int(steps, "steps", minimum=0)
    if not isinstance(per_point, (bool, np.bool_)):
        raise TypeError(f"per_point must be a bool, got {per_point!r}")
    if not isinstance(keep_witness, (bool, np.bool_)):
        raise TypeError(f"keep_witness must be a bool, got {keep_witness!r}")
    surrogate = check_choice(surrogate, "surrogate", SURROGATES)
    if temperature is not None:
        temperature = check_real(temperature, "temperature", minimum=0.0, closed_min=False)
    alpha0 = check_real(step_size, "step_size", minimum=0.0, closed_min=False)
    alpha1 = check_real(final_step_size, "final_step_size", minimum=0.0, closed_min=False)
    K, m, d = net.W0.shape
    if batch is None:
        per_init = 8 * m * (d + (1 if per_point else n))
        batch = max(1, min(K, CHUNK_BYTES // per_init))
    else:
        batch = check_int(batch, "batch", minimum=1)
    gen = check_rng(rng)
    a, c0, scale = net.a, output_bias(net), output_scale(net)

    if per_point:
        streams = gen.spawn(n * K)
        value, robust = np.empty((K, n)), np.empty((K, n), dtype=bool)
        start = np.empty((K, n), dtype=np.int64)
        cand_v, cand_r = {}, {}
        witnesses = [np.empty((K, m, d)) for _ in range(n)] if keep_witness else None
        for i in range(n):
            xi = X[i:i + 1]
            for lo, hi in chunks(K, batch):
                Wb, phi, rob, cphi, crob, st = _adversary(
                    a[lo:hi], c0[lo:hi], scale, net.W0[lo:hi], xi, labels if labels is None else labels[i:i + 1],
                    radius, eta, steps, streams[i * K + lo:i * K + hi], True, surrogate, temperature, alpha0,
                    alpha1)
                value[lo:hi, i], robust[lo:hi, i], start[lo:hi, i] = phi[:, 0], rob[:, 0], st
                for name in cphi:
                    cand_v.setdefault(name, np.empty((K, n)))[lo:hi, i] = cphi[name][:, 0]
                    cand_r.setdefault(name, np.empty((K, n), dtype=bool))[lo:hi, i] = crob[name][:, 0]
                if keep_witness:
                    witnesses[i][lo:hi] = Wb
    else:
        streams = gen.spawn(K)
        value, robust = np.empty((K, n)), np.empty((K, n), dtype=bool)
        start = np.empty(K, dtype=np.int64)
        cand_v, cand_r = {}, {}
        witness = np.empty((K, m, d)) if keep_witness else None
        for lo, hi in chunks(K, batch):
            Wb, phi, rob, cphi, crob, st = _adversary(
                a[lo:hi], c0[lo:hi], scale, net.W0[lo:hi], X, labels, radius, eta, steps, streams[lo:hi], False,
                surrogate, temperature, alpha0, alpha1)
            value[lo:hi], robust[lo:hi], start[lo:hi] = phi, rob, st
            for name in cphi:
                cand_v.setdefault(name, np.empty((K, n)))[lo:hi] = cphi[name]
                cand_r.setdefault(name, np.empty((K, n), dtype=bool))[lo:hi] = crob[name]
            if keep_witness:
                witness[lo:hi] = Wb
        witnesses = [witness] if keep_witness else None
    return RobustLazyResult(value=value, robust=robust, n_robust=robust.sum(axis=1), candidate_values=cand_v,
                            candidate_robust=cand_r, start=start, eta=eta, radius=radius, per_point=bool(per_point),
                            labels=labels, steps=steps, _witnesses=witnesses)
