"""The lazy ball of a deep network, its exact projection, lazy SGD and worst cases over the ball.

The ball (the deep analogue of Wang et al. 2022, Def. 2.1) is a product of per-layer balls: every hidden
layer's rows (neurons; ``[w, b]`` with biases) stay within ``R_l`` of their initialization,

``B = {W : max_j ||[W_l, b_l]_j - [W_l0, b_l0]_j|| <= R_l for every hidden layer l}``;

the top layer ``a`` stays fixed. The projection onto it is exact (a product of Euclidean balls: each row is
pulled back radially, :func:`boundcheck.lazy.project_lazy` per layer).

:func:`deep_lazy_radii` gives the radii of the constant ``C0`` for the ``"bubeck"`` and ``"ntk"``
parametrizations: ``alpha_l R_l = C0 / sqrt(m_l * m_{l-1})``, so that every pre-activation moves by at most
``C0 / sqrt(m_l)`` times the RMS entry ``||h_{l-1}|| / sqrt(m_{l-1})`` of its input, as the two-layer ball
``C0 / sqrt(m)`` does for unit inputs (for ``"ntk"``, whose weights are standard normal, this is
``R_l = C0 / sqrt(m_l) / sqrt(g_l)`` with the gain ``g_l``; at ``L = 2``, ``R_1 = C0 / sqrt(m_1 d)`` in the
Bubeck weights, which is ``C0 / sqrt(m)`` in the Wang weights ``sqrt(d) W``). Custom networks take explicit radii.

Worst cases over the ball are :class:`boundcheck.lazy.WorstCase` records labelled as for two layers:

``"exact"``
    :func:`deep_f_range_last_layer`: the range of f when only the **last hidden layer** moves in its ball
    (the lower layers frozen at the given weights): given the frozen features, this is the two-layer
    problem, solved neuron by neuron in closed form for every activation (monotone ones at an end of the
    pre-activation interval; GELU also at its minimum, ``z* = -0.7518``), with a witness.
``"certified"``
    :func:`deep_f_range_certified`: interval bounds that hold for every W in the full ball (all layers
    moving): each row's move changes its pre-activation by at most ``alpha_l R_l ||h~||``, propagated
    through the layers as intervals. Sound, loose.
``"heuristic"``
    :func:`deep_f_range_heuristic`: projected gradient ascent / descent of f over the full ball, from W0;
    values attained by witnesses in the ball (so they bound the true sup from below and the inf from above).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._validate import as_float_array, check_choice, check_int, check_real, check_rng
from .deep import (DeepNetwork, _ACT_ID, _check_net, _check_weights, _check_X, _layers, _mul_dphi, _np_phi, _out_bias,
                   _output, _top_delta)
from ._numeric import ball_deviations, outside_ball
from .lazy import WorstCase, _rows_in_ball, project_lazy

__all__ = ["deep_lazy_radii", "project_deep_lazy", "deep_lazy_distance", "deep_f_range_last_layer",
           "deep_f_range_certified", "deep_f_range_heuristic", "deep_loss_and_gradient", "train_deep_lazy_sgd",
           "DeepTrainResult", "GELU_ARGMIN"]

#: The minimizer of GELU z Phi(z) (where Phi(z) + z phi(z) = 0).
GELU_ARGMIN = -0.7517915241


# --------------------------------------------------------------------------------------------------------
# The ball
# --------------------------------------------------------------------------------------------------------

def deep_lazy_radii(net: DeepNetwork, C0: float) -> tuple[float, ...]:
    """Per-layer radii of the lazy ball of constant ``C0`` (module docstring), for "bubeck" and "ntk" nets."""
    net = _check_net(net)
    C0 = check_real(C0, "C0", minimum=0.0)
    if net.parametrization not in ("bubeck", "ntk"):
        raise ValueError("deep_lazy_radii needs a 'bubeck' or 'ntk' network; for a custom network give the "
                         "radii per layer explicitly")
    fan = (net.dim,) + net.widths[:-1]
    return tuple(C0 / math.sqrt(m * p) / a for m, p, a in zip(net.widths, fan, net.multipliers))


def _check_radii(net: DeepNetwork, radii) -> tuple[float, ...]:
    if isinstance(radii, (int, float)) and not isinstance(radii, bool):
        radii = (radii,) * len(net.widths)
    if not isinstance(radii, (list, tuple, np.ndarray)) or len(radii) != len(net.widths):
        raise ValueError(f"radii must hold one radius per hidden layer ({len(net.widths)}), got {radii!r}")
    return tuple(check_real(r, f"radii[{j}]", minimum=0.0) for j, r in enumerate(radii))


def project_deep_lazy(net: DeepNetwork, weights, radii, biases=None):
    """Exact Euclidean projection of (weights, biases) onto the deep lazy ball around the init.

    Returns
    -------
    list of ndarray (the weights), or a tuple (weights, biases) for networks with biases
    """
    net = _check_net(net)
    Ws, bs = _check_weights(net, weights, biases)
    radii = _check_radii(net, radii)
    outW, outb = [], []
    for l, R in enumerate(radii):
        if net.biases is None:
            outW.append(project_lazy(Ws[l], net.weights[l], R))
        else:
            W, b = project_lazy(Ws[l], net.weights[l], R, b=bs[l], b0=net.biases[l])
            outW.append(W)
            outb.append(b)
    return outW if net.biases is None else (outW, outb)


def deep_lazy_distance(net: DeepNetwork, weights, biases=None) -> np.ndarray:
    """``max_j ||[W_l, b_l]_j - [W_l0, b_l0]_j||`` per init and layer, shape (K, L-1).

    Measured as :func:`boundcheck.lazy.lazy_distance` measures it (so a row :func:`project_deep_lazy` returns
    reads at most its layer's radius).
    """
    net = _check_net(net)
    Ws, bs = _check_weights(net, weights, biases)
    out = np.empty((net.n_inits, len(Ws)))
    for l, (W, W0) in enumerate(zip(Ws, net.weights)):
        out[:, l] = _row_devs(W, W0, None if bs is None else bs[l], None if bs is None else net.biases[l]).max(-1)
    return out


# --------------------------------------------------------------------------------------------------------
# Worst cases of f over the ball
# --------------------------------------------------------------------------------------------------------

def _phi_interval(lo, hi, activation):
    """Exact range of phi over [lo, hi] (elementwise)."""
    plo, phi_ = _np_phi(lo, activation), _np_phi(hi, activation)
    low, high = np.minimum(plo, phi_), np.maximum(plo, phi_)
    if activation == "gelu":
        inside = (lo < GELU_ARGMIN) & (hi > GELU_ARGMIN)
        low = np.where(inside, _np_phi(GELU_ARGMIN, "gelu"), low)
    return low, high


def _augmented_norm(H, with_bias):
    sq = np.einsum("...m,...m->...", H, H)
    return np.sqrt(sq + 1.0) if with_bias else np.sqrt(sq)


def deep_f_range_last_layer(net: DeepNetwork, X, radius: float, weights=None, biases=None):
    """Exact inf and sup of f over the ball of the last hidden layer (lower layers frozen at ``weights``).

    Parameters
    ----------
    net : DeepNetwork
    X : array_like, shape (n, d)
    radius : float
        The last hidden layer's radius ``R_{L-1}`` (around ``net.weights[-1]``).
    weights, biases : optional
        The frozen lower layers (and the center of nothing else: the last layer's ball is around the init).

    Returns
    -------
    (WorstCase, WorstCase)
        ``(lower, upper)``, kind ``"exact"``, values (K, n), with witnesses.
    """
    net = _check_net(net)
    X = _check_X(net, X)
    radius = check_real(radius, "radius", minimum=0.0)
    Ws, bs = _check_weights(net, weights, biases)
    Ws = list(Ws[:-1]) + [net.weights[-1]]
    if bs is not None:
        bs = list(bs[:-1]) + [net.biases[-1]]
    Zs, Hs = _layers(net, X, Ws, bs)
    Z0 = Zs[-1]                                                      # (K, n, m) at the last layer's init
    Hin = X[None].repeat(net.n_inits, 0) if len(Ws) == 1 else Hs[-2]  # its input
    alpha = net.multipliers[-1]
    t = alpha * radius * _augmented_norm(Hin, bs is not None)        # (K, n): how far each z can move
    lo, hi = Z0 - t[..., None], Z0 + t[..., None]
    plo, phi_ = _phi_interval(lo, hi, net.activation)
    a = net.a[:, None, :]
    c = _out_bias(net)[:, None]
    s = net.output_scale
    upper = s * np.where(a > 0, a * phi_, a * plo).sum(-1) + c
    lower = s * np.where(a > 0, a * plo, a * phi_).sum(-1) + c

    def target(i, sense):
        """The pre-activation each neuron of the last layer takes at the optimum, (K, m)."""
        want_high = (net.a > 0) if sense == "max" else (net.a < 0)
        z_hi, z_lo = hi[:, i], lo[:, i]
        if net.activation == "gelu":
            # the argmin of phi on [lo, hi] (GELU is decreasing then increasing), argmax at an end
            argmin = np.clip(GELU_ARGMIN, z_lo, z_hi)
            amax = np.where(_np_phi(z_hi, "gelu") >= _np_phi(z_lo, "gelu"), z_hi, z_lo)
            return np.where(want_high, amax, argmin)
        return np.where(want_high, z_hi, z_lo)

    def builder(sense):
        def build(i):
            z_star = target(i, sense)                                   # (K, m)
            h = Hin[:, i]                                               # (K, p)
            with_b = bs is not None
            ha = np.concatenate([h, np.ones((len(h), 1))], axis=1) if with_b else h
            nrm = np.linalg.norm(ha, axis=1)
            unit = ha / np.where(nrm > 0, nrm, 1.0)[:, None]
            # move each row along h~: z = z0 + alpha * step * ||h~||, |step| <= R
            step = np.where(nrm[:, None] > 0, (z_star - Z0[:, i]) / (alpha * np.where(nrm > 0, nrm, 1.0)[:, None]), 0.0)
            step = np.clip(step, -radius, radius)
            Wl = net.weights[-1] + step[..., None] * unit[:, None, :h.shape[1]]
            bl = net.biases[-1] + step * unit[:, None, -1] if with_b else None
            # w0 + delta can round outside the ball when R is far below ||w0||: pull such rows back in
            Wl, bl = _rows_in_ball(Wl, net.weights[-1], radius, bl, net.biases[-1] if with_b else None)
            new_W = list(Ws[:-1]) + [Wl]
            new_b = list(bs[:-1]) + [bl] if with_b else None
            return new_W, new_b
        return build

    return (WorstCase(lower, "exact", "f (last hidden layer moving)", "min", radius, builder("min")),
            WorstCase(upper, "exact", "f (last hidden layer moving)", "max", radius, builder("max")))


def deep_f_range_certified(net: DeepNetwork, X, radii):
    """Certified (sound) bounds on inf and sup of f over the full deep lazy ball, by interval propagation.

    Layer l's pre-activation over the ball lies in ``alpha_l (W_l0 [lo, hi] interval) + b +- alpha_l R_l
    max ||h~||`` (center-radius interval arithmetic for the fixed part; Cauchy-Schwarz for the row moves).

    Returns
    -------
    (WorstCase, WorstCase)
        ``(lower, upper)``, kind ``"certified"`` (no witness).
    """
    net = _check_net(net)
    X = _check_X(net, X)
    radii = _check_radii(net, radii)
    K = net.n_inits
    with_b = net.biases is not None
    lo_h = hi_h = np.broadcast_to(X[None], (K,) + X.shape)
    for l, W0 in enumerate(net.weights):
        alpha = net.multipliers[l]
        c = 0.5 * (lo_h + hi_h)
        r = 0.5 * (hi_h - lo_h)
        zc = alpha * np.matmul(c, W0.transpose(0, 2, 1))
        zr = alpha * np.matmul(r, np.abs(W0).transpose(0, 2, 1))
        if with_b:
            zc = zc + net.biases[l][:, None, :]
        big = np.maximum(np.abs(lo_h), np.abs(hi_h))
        move = alpha * radii[l] * _augmented_norm(big, with_b)[..., None]
        zr = zr + move
        # rounding margin: the interval arithmetic is done in floats
        zr = zr * (1 + 1e-12) + 1e-300
        lo_h, hi_h = _phi_interval(zc - zr, zc + zr, net.activation)
    a = net.a[:, None, :]
    s = net.output_scale
    cst = _out_bias(net)[:, None]
    upper = s * np.where(a > 0, a * hi_h, a * lo_h).sum(-1) + cst
    lower = s * np.where(a > 0, a * lo_h, a * hi_h).sum(-1) + cst
    R = float(max(radii)) if radii else 0.0
    return (WorstCase(lower, "certified", "f (all layers moving)", "min", R),
            WorstCase(upper, "certified", "f (all layers moving)", "max", R))


def _weight_grads_of_f(net, X, Ws, bs):
    """d f / d W_l and d f / d b_l for every init and point: lists of (K, n, m_l, m_{l-1}) and (K, n, m_l)."""
    act = _ACT_ID[net.activation]
    Zs, Hs = _layers(net, X, Ws, bs)
    K, n = Zs[0].shape[:2]
    D = np.empty_like(Zs[-1])
    _top_delta(Zs[-1], net.a, net.output_scale, act, D)
    gW, gb = [None] * len(Ws), [None] * len(Ws)
    for l in range(len(Ws) - 1, -1, -1):
        Hin = np.broadcast_to(X[None], (K,) + X.shape) if l == 0 else Hs[l - 1]
        gW[l] = net.multipliers[l] * D[..., :, None] * Hin[..., None, :]
        gb[l] = D
        if l > 0:
            G = np.matmul(D, Ws[l])
            _mul_dphi(G, Zs[l - 1], net.multipliers[l], act)
            D = G
    f = np.empty((K, n))
    _output(Hs[-1], net.a, net.output_scale, _out_bias(net), f, 0)
    return f, gW, gb


def deep_f_range_heuristic(net: DeepNetwork, X, radii, *, steps: int = 50, step_size: float | None = None):
    """Projected gradient ascent / descent of f over the full deep lazy ball, per init and point.

    Each point gets its own weights (the sup is pointwise). Start: the init; step: each row moves by
    ``step_size * R_l`` along its normalized gradient, then the exact projection. The best value seen is
    kept (attained by a witness in the ball). Memory O(K n sum_l m_l m_{l-1}): small problems only.

    Returns
    -------
    (WorstCase, WorstCase)
        ``(lower, upper)``, kind ``"heuristic"``, with witnesses.
    """
    net = _check_net(net)
    X = _check_X(net, X)
    radii = _check_radii(net, radii)
    steps = check_int(steps, "steps", minimum=0)
    step_size = 0.25 if step_size is None else check_real(step_size, "step_size", minimum=0.0)
    K, n = net.n_inits, len(X)
    out = {}
    for sense, sgn in (("max", 1.0), ("min", -1.0)):
        best = np.full((K, n), -np.inf if sense == "max" else np.inf)
        best_W = [None] * n
        for i in range(n):
            x = X[i:i + 1]
            Ws = [W.copy() for W in net.weights]
            bs = None if net.biases is None else [b.copy() for b in net.biases]
            bW = [W.copy() for W in Ws]
            bb = None if bs is None else [b.copy() for b in bs]
            for it in range(steps + 1):
                f, gW, gb = _weight_grads_of_f(net, x, Ws, bs)
                val = f[:, 0]
                better = (val > best[:, i]) if sense == "max" else (val < best[:, i])
                if better.any():
                    best[:, i] = np.where(better, val, best[:, i])
                    for l in range(len(Ws)):
                        bW[l][better] = Ws[l][better]
                        if bs is not None:
                            bb[l][better] = bs[l][better]
                if it == steps:
                    break
                for l in range(len(Ws)):
                    g = gW[l][:, 0]
                    if bs is not None:
                        g = np.concatenate([g, gb[l][:, 0][..., None]], axis=-1)
                    nrm = np.linalg.norm(g, axis=-1, keepdims=True)
                    g = g / np.where(nrm > 0, nrm, 1.0)
                    Ws[l] = Ws[l] + sgn * step_size * radii[l] * g[..., :Ws[l].shape[-1]]
                    if bs is not None:
                        bs[l] = bs[l] + sgn * step_size * radii[l] * g[..., -1]
                proj = project_deep_lazy(net, Ws, radii, bs)
                Ws, bs = (proj, None) if net.biases is None else proj
                Ws = list(Ws)
            best_W[i] = (bW, bb)
        out[sense] = WorstCase(best, "heuristic", "f (all layers moving)", sense, float(max(radii)),
                               (lambda i, store=best_W: store[i]))
    return out["min"], out["max"]


# --------------------------------------------------------------------------------------------------------
# Lazy SGD
# --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class DeepTrainResult:
    """A finished lazy-SGD run of one init of a deep network.

    Attributes
    ----------
    weights : list of ndarray, shape (m_l, m_{l-1})
    biases : list of ndarray, shape (m_l,), or None
    history : pandas.DataFrame
        One row per evaluation (epoch 0 = init): ``epoch, steps, loss, train_acc, test_acc``, the per-layer
        ``max_deviation_l`` and ``deviation_over_radius`` (the largest ratio over layers), ``seconds``.
    stopped_reason : {"left_ball", "epochs", "target_loss"}
    steps : int
    radii : tuple of float
    mode : {"stop", "project"}
    """

    weights: list
    biases: list | None
    history: pd.DataFrame
    stopped_reason: str
    steps: int
    radii: tuple
    mode: str
    seconds: float = field(default=0.0)

    def stacked(self):
        """``(weights, biases)`` with a leading init axis of 1, for the operations of :mod:`boundcheck.deep`."""
        return [W[None] for W in self.weights], None if self.biases is None else [b[None] for b in self.biases]


def deep_loss_and_gradient(net: DeepNetwork, X, y, weights=None, biases=None):
    """Mean logistic loss ``log(1 + exp(-y f))`` of one init and its gradient in every hidden layer.

    Returns
    -------
    (loss, grads_W, grads_b, f)
        ``grads_W[l]`` of shape (m_l, m_{l-1}), ``grads_b[l]`` (m_l,) or None, ``f`` (n,).
    """
    net = _check_net(net)
    if net.n_inits != 1:
        raise ValueError(f"one init at a time, but net has K = {net.n_inits}; pick one with net.select(k)")
    X = _check_X(net, X)
    y = as_float_array(y, "y", ndim=1)
    if y.shape != (len(X),) or not np.isin(y, (-1.0, 1.0)).all():
        raise ValueError(f"y must hold one label in {{-1, +1}} per row of X ({len(X)})")
    Ws, bs = _check_weights(net, weights, biases)
    return _loss_grad(net, X, y, Ws, bs)


def _loss_grad(net, X, y, Ws, bs):
    act = _ACT_ID[net.activation]
    Zs, Hs = _layers(net, X, Ws, bs)
    n = len(X)
    f = np.empty((1, n))
    _output(Hs[-1], net.a, net.output_scale, _out_bias(net), f, 0)
    f = f[0]
    margin = y * f
    loss = float(np.mean(np.logaddexp(0, -margin)))
    g = -y * np.exp(-np.logaddexp(0, margin)) / n                    # d loss / d f_i
    D = np.empty_like(Zs[-1])
    _top_delta(Zs[-1], net.a, net.output_scale, act, D)
    D = D[0] * g[:, None]                                             # (n, m_{L-1})
    gW, gb = [None] * len(Ws), [None] * len(Ws)
    for l in range(len(Ws) - 1, -1, -1):
        Hin = X if l == 0 else Hs[l - 1][0]
        gW[l] = net.multipliers[l] * (D.T @ Hin)
        gb[l] = D.sum(axis=0) if bs is not None else None
        if l > 0:
            G = (D @ Ws[l][0])[None]
            _mul_dphi(G, Zs[l - 1], net.multipliers[l], act)
            D = G[0]
    return loss, gW, gb, f


def _evaluate(net, X, y, Ws, bs, chunk=4096):
    loss, correct = 0.0, 0
    for lo in range(0, len(X), chunk):
        Xc = X[lo:lo + chunk]
        _, Hs = _layers(net, Xc, Ws, bs)
        f = np.empty((1, len(Xc)))
        _output(Hs[-1], net.a, net.output_scale, _out_bias(net), f, 0)
        margin = y[lo:lo + chunk] * f[0]
        loss += float(np.sum(np.logaddexp(0, -margin)))
        correct += int(np.count_nonzero(margin > 0))
    return loss / len(X), correct / len(X)


def _augmented_rows(W, W0, b, b0):
    if b is None:
        return W, W0
    return np.concatenate([W, b[..., None]], axis=-1), np.concatenate([W0, b0[..., None]], axis=-1)


def _row_devs(W, W0, b, b0):
    """The deviation of every row ``[w_j, b_j]`` from its init, as :func:`boundcheck.lazy.lazy_distance` measures."""
    return ball_deviations(*_augmented_rows(W, W0, b, b0))


def _row_dev(W, W0, b, b0):
    return float(_row_devs(W, W0, b, b0).max(initial=0.0))


def _leaves_ball(W, W0, b, b0, radius):
    """Whether some row is outside the ball, exactly or as measured (:func:`boundcheck._numeric.outside_ball`)."""
    return bool(outside_ball(*_augmented_rows(W, W0, b, b0), radius).any())


def train_deep_lazy_sgd(net: DeepNetwork, X, y, *, radii, lr: float = 0.1, batch_size: int = 64, epochs: int = 100,
                        mode: str = "stop", X_test=None, y_test=None, rng=None, target_loss: float | None = None,
                        progress: bool = False, on_step=None) -> DeepTrainResult:
    """Minibatch SGD on the logistic loss inside the deep lazy ball (every hidden layer trained, ``a`` fixed).

    The rules of :func:`boundcheck.train_lazy_sgd`: the training set is shuffled once with ``rng`` and visited
    in that order every epoch; ``mode="stop"`` checks before every update whether it would take any layer
    out of its ball and stops without applying it (``stopped_reason="left_ball"``, the returned weights are
    inside); ``mode="project"`` applies every update and projects each layer back (exact projection).

    Parameters
    ----------
    net : DeepNetwork
        One init (K = 1).
    X : array_like, shape (n, d); y : array_like, shape (n,), labels in {-1, +1}
    radii : float or sequence of float
        Per hidden layer (e.g. :func:`deep_lazy_radii`).
    lr, batch_size, epochs, mode, X_test, y_test, rng, target_loss, progress
        As in :func:`boundcheck.train_lazy_sgd`.
    on_step : callable, optional
        ``on_step(step, weights, biases)`` after every applied update (copies; for tests).

    Returns
    -------
    DeepTrainResult
    """
    net = _check_net(net)
    if net.n_inits != 1:
        raise ValueError(f"the trainer works on one init at a time, but net has K = {net.n_inits}; pick one with "
                         "net.select(k)")
    X = _check_X(net, X)
    y = as_float_array(y, "y", ndim=1)
    if y.shape != (len(X),) or not np.isin(y, (-1.0, 1.0)).all():
        raise ValueError(f"y must hold one label in {{-1, +1}} per row of X ({len(X)})")
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together (or neither)")
    if X_test is not None:
        X_test = _check_X(net, X_test, "X_test")
        y_test = as_float_array(y_test, "y_test", ndim=1)
    radii = _check_radii(net, radii)
    lr = check_real(lr, "lr", minimum=0.0, closed_min=False)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    epochs = check_int(epochs, "epochs", minimum=0)
    check_choice(mode, "mode", ("stop", "project"))
    if target_loss is not None:
        target_loss = check_real(target_loss, "target_loss", minimum=0.0)
    gen = check_rng(rng)
    t_start = time.perf_counter()
    W0 = [W[0] for W in net.weights]
    b0 = None if net.biases is None else [b[0] for b in net.biases]
    Ws = [W.copy() for W in W0]
    bs = None if b0 is None else [b.copy() for b in b0]
    n = len(X)
    order = gen.permutation(n)
    Xs, ys = X[order], y[order]
    batches = [(lo, min(n, lo + batch_size)) for lo in range(0, n, batch_size)]
    rows = []

    def stacked(Ws, bs):
        return [W[None] for W in Ws], None if bs is None else [b[None] for b in bs]

    def record(epoch, steps, seconds):
        sW, sb = stacked(Ws, bs)
        loss, acc = _evaluate(net, X, y, sW, sb)
        test_acc = _evaluate(net, X_test, y_test, sW, sb)[1] if X_test is not None else float("nan")
        devs = [_row_dev(Ws[l], W0[l], None if bs is None else bs[l], None if b0 is None else b0[l])
                for l in range(len(Ws))]
        ratio = max((dv / R if R > 0 else (0.0 if dv == 0 else np.inf)) for dv, R in zip(devs, radii))
        row = dict(epoch=epoch, steps=steps, loss=loss, train_acc=acc, test_acc=test_acc,
                   deviation_over_radius=ratio, seconds=seconds)
        row.update({f"max_deviation_{l + 1}": dv for l, dv in enumerate(devs)})
        rows.append(row)
        if progress:
            print(f"epoch {epoch:4d} steps {steps:6d} loss {loss:.4g} train_acc {acc:.4f} test_acc {test_acc:.4f} "
                  f"dev/R {ratio:.3f}", file=sys.stderr, flush=True)

    record(0, 0, 0.0)
    steps, reason = 0, "epochs"
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        stopped = False
        for lo, hi in batches:
            sW, sb = stacked(Ws, bs)
            _, gW, gb, _ = _loss_grad(net, Xs[lo:hi], ys[lo:hi], sW, sb)
            newW = [W - lr * g for W, g in zip(Ws, gW)]
            newb = None if bs is None else [b - lr * g for b, g in zip(bs, gb)]
            if mode == "stop":
                if any(_leaves_ball(newW[l], W0[l], None if newb is None else newb[l], None if b0 is None else b0[l],
                                    radii[l]) for l in range(len(Ws))):
                    stopped = True
                    break
                Ws, bs = newW, newb
            else:
                proj = project_deep_lazy(net.select(0), [W[None] for W in newW], radii,
                                         None if newb is None else [b[None] for b in newb])
                if newb is None:
                    Ws = [W[0] for W in proj]
                else:
                    Ws, bs = [W[0] for W in proj[0]], [b[0] for b in proj[1]]
            steps += 1
            if on_step is not None:
                on_step(steps, [W.copy() for W in Ws], None if bs is None else [b.copy() for b in bs])
        if stopped:
            reason = "left_ball"
            record(epoch, steps, time.perf_counter() - t0)
            break
        record(epoch, steps, time.perf_counter() - t0)
        if target_loss is not None and rows[-1]["loss"] <= target_loss:
            reason = "target_loss"
            break
    return DeepTrainResult(weights=Ws, biases=bs, history=pd.DataFrame(rows), stopped_reason=reason, steps=steps,
                           radii=radii, mode=mode, seconds=time.perf_counter() - t_start)

