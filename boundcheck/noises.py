"""One-step adversarial noises (FGM, FGSM) of binary and multi-class two-layer networks.

:func:`one_step_noise` ascends the loss by one step of size ``eps``:

* binary (a :class:`~boundcheck.network.Network`, labels in {-1, +1}, a decreasing margin loss
  ``l(y f(x))``): ``grad_x l = l'(y f) y grad f(x)`` with ``l' <= 0``, so the step is
  ``delta = -eps y grad f / ||grad f||`` (``norm="l2"``, :func:`boundcheck.attacks.fgm`) or
  ``delta = -eps y sign(grad f)`` (``norm="linf"``, :func:`boundcheck.attacks.fgsm`): the noises *are*
  the attacks' steps. The loss and ``f(x)`` drop out; they enter only where ``l'(y f) = 0`` (squared
  hinge at margins >= 1), where the noise is 0.
* multi-class (a :class:`~boundcheck.multiclass.MulticlassNetwork`, labels in 0..C-1, cross-entropy):
  ``grad_x l = sum_k (p_k - 1[k = y]) grad f_k(x)``, then the same two normalizations.

Optionally the adversarial point is clipped to a box: ``delta = clip(x + delta, low, high) - x``.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_choice, check_int, check_real, check_rng
from .attacks import fgm, fgsm
from .multiclass import (_ce_gradient, _check_any_net, _check_binary_labels, _check_class_labels, _check_W,
                         _check_X)
from .network import Network
from .ops import forward

__all__ = ["NORMS", "MARGIN_LOSSES", "one_step_noise", "one_step_noises", "random_labels"]

NORMS = ("l2", "linf")
MARGIN_LOSSES = ("logistic", "exponential", "squared_hinge")
_BINARY_ATTACKS = {"l2": fgm, "linf": fgsm}


def _loss_derivative_sign(z: np.ndarray, loss: str) -> np.ndarray:
    """sign(l'(z)) for the margin losses, exactly (no underflow of exp at large margins).

    logistic ``log(1 + e^-z)`` and exponential ``e^-z`` are strictly decreasing: -1 everywhere;
    squared hinge ``max(0, 1 - z)^2``: -1 for z < 1, 0 for z >= 1.
    """
    if loss == "squared_hinge":
        return -(z < 1.0).astype(np.float64)
    return -np.ones_like(z)


def _check_clip(clip, X):
    if clip is None:
        return None
    try:
        low, high = clip
    except (TypeError, ValueError):
        raise TypeError(f"clip must be None or a pair (low, high), got {clip!r}") from None
    low = check_real(low, "clip[0]")
    high = check_real(high, "clip[1]")
    if not low < high:
        raise ValueError(f"clip must have low < high, got ({low}, {high})")
    if X.size and (X.min() < low or X.max() > high):
        raise ValueError(f"X must lie in the clip box [{low}, {high}] (found values in "
                         f"[{X.min():.6g}, {X.max():.6g}]); the clipped noise is clip(x + delta) - x")
    return low, high


def _normalize_step(G: np.ndarray, eps: float, norm: str) -> np.ndarray:
    """eps * sign(G) or eps * G / ||G|| along the last axis (0 where G = 0): the multi-class step.

    (The binary steps are :func:`boundcheck.attacks.fgm` / :func:`~boundcheck.attacks.fgsm` themselves.)
    """
    if norm == "linf":
        return eps * np.sign(G)
    nrm = np.sqrt(np.einsum("...d,...d->...", G, G))[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(nrm > 0, G / nrm, 0.0)
    return eps * out


def one_step_noise(net, X, y, *, eps: float, norm: str = "l2", loss: str | None = None, W=None, b=None,
                   clip=None, batch: int | None = None) -> np.ndarray:
    """One-step adversarial noise: FGM (``norm="l2"``) or FGSM (``norm="linf"``).

    Parameters
    ----------
    net : Network or MulticlassNetwork
        A binary :class:`~boundcheck.network.Network` (margin loss, labels in {-1, +1}) or a
        :class:`~boundcheck.multiclass.MulticlassNetwork` (cross-entropy, labels in 0..C-1).
    X : array_like, shape (n, d)
        Inputs.
    y : array_like, shape (n,)
        The labels the noise is crafted with (true or random labels: any labels are accepted).
    eps : float
        Step size, > 0: ``||delta||_2 = eps`` (FGM) or ``||delta||_inf = eps`` (FGSM) before clipping.
    norm : {"l2", "linf"}
    loss : str, optional
        Binary: one of ``MARGIN_LOSSES`` (default ``"logistic"``); the noise depends on it only through
        the sign of ``l'(y f(x))`` (zero for the squared hinge at margins ``y f >= 1``).
        Multi-class: only ``"cross_entropy"`` (the default).
    W : array_like, shape (K, m, d), optional
        First-layer weights (default ``net.W0``): trained or lazy weights.
    b : array_like, shape (K, m), optional
        First-layer biases (binary networks with biases only).
    clip : (float, float), optional
        A box ``[low, high]`` holding ``X``; the noise becomes ``clip(x + delta, low, high) - x`` in the
        coordinates where ``x + delta`` leaves the box (there ``x + delta`` is on the box's face up to one
        rounding) and stays ``delta`` exactly elsewhere.
    batch : int, optional
        Points per chunk; memory O(batch * K * m) besides the (K, n, d) output.

    Returns
    -------
    ndarray, shape (K, n, d)
        The noises ``delta``; 0 for a point whose loss gradient is exactly 0 (all neurons inactive, or
        ``l' = 0``).

    Notes
    -----
    Binary: the steps of :func:`boundcheck.attacks.fgm` / :func:`~boundcheck.attacks.fgsm`,
    ``-eps y g / ||g||`` and ``-eps y sign(g)`` with ``g = grad f(x)``, set to 0 where the sign of ``l'``
    (known in closed form) is 0: this is the normalized loss gradient without rounding the product
    ``l' y g`` and without the underflow of ``l'`` at large margins (``exp(-z)`` is 0 in floating point
    beyond ``z ~ 745``), so the FGSM noise is exactly invariant to rescaling W, a or x. Multi-class: the
    cross-entropy gradient is normalized as computed (``p - e_y`` with its y-entry summed from the other
    classes, so it vanishes only when every ``p_k``, ``k != y``, underflows).

    See Also
    --------
    one_step_noises : several norms at once.
    """
    check_choice(norm, "norm", NORMS)
    return one_step_noises(net, X, y, eps=eps, norms=(norm,), loss=loss, W=W, b=b, clip=clip, batch=batch)[norm]


def one_step_noises(net, X, y, *, eps: float, norms=NORMS, loss: str | None = None, W=None, b=None, clip=None,
                    batch: int | None = None) -> dict:
    """The one-step noises of several norms (multi-class: from a single gradient computation).

    Parameters are those of :func:`one_step_noise`, with ``norms`` a sequence of ``"l2"`` / ``"linf"``.

    Returns
    -------
    dict of str to ndarray of shape (K, n, d)
        ``{norm: delta}``, equal to ``one_step_noise(..., norm=norm)`` for each norm.
    """
    net = _check_any_net(net)
    X = _check_X(net, X)
    eps = check_real(eps, "eps", minimum=0.0, closed_min=False)
    if isinstance(norms, str) or not len(norms):
        raise ValueError(f"norms must be a non-empty sequence of {NORMS}, got {norms!r}")
    for nm in norms:
        check_choice(nm, "norms", NORMS)
    box = _check_clip(clip, X)
    out = {}
    if isinstance(net, Network):
        loss = "logistic" if loss is None else loss
        check_choice(loss, "loss", MARGIN_LOSSES)
        yv = _check_binary_labels(y, len(X))
        keep = None
        if loss == "squared_hinge":  # l'(y f) = 0 at margins y f >= 1: no noise there
            keep = (yv[None] * forward(net, X, W, b, batch=batch) < 1.0)[..., None]
        for nm in norms:
            delta = _BINARY_ATTACKS[nm](net, X, yv, eps, W, b, batch=batch)
            out[nm] = delta if keep is None else np.where(keep, delta, 0.0)
    else:
        loss = "cross_entropy" if loss is None else loss
        check_choice(loss, "loss", ("cross_entropy",))
        if b is not None:
            raise ValueError("b was given but a MulticlassNetwork has no biases")
        Wv = _check_W(net, W)
        yv = _check_class_labels(y, len(X), net.n_classes)
        grad = _ce_gradient(net, X, yv, Wv, batch)
        for nm in norms:
            out[nm] = _normalize_step(grad, eps, nm)
    if box is not None:
        for nm, delta in out.items():
            adv = X[None] + delta
            outside = (adv < box[0]) | (adv > box[1])
            out[nm] = np.where(outside, np.clip(adv, box[0], box[1]) - X[None], delta)
    return out


def random_labels(n: int, *, n_classes: int | None = None, rng=None) -> np.ndarray:
    """Labels independent of everything: uniform in {-1, +1} (``n_classes=None``) or in 0..C-1.

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    n = check_int(n, "n", minimum=0)
    gen = check_rng(rng)
    if n_classes is None:
        return np.where(gen.random(n) < 0.5, -1, 1).astype(np.int64)
    C = check_int(n_classes, "n_classes", minimum=2)
    return gen.integers(0, C, size=n).astype(np.int64)
