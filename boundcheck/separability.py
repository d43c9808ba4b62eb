"""One-step adversarial noises and how linearly separable they are.

The phenomenon (Zhang, Yu, Lu, He, "Adversarial noises are linearly separable for (nearly) random neural
networks", AISTATS 2023, PMLR 206:2792-2804; arXiv 2206.04316): the noises that one-step gradient attacks
add to the inputs, paired with the labels used to craft them, are linearly separable for random and
lazily trained two-layer networks, and a linear classifier fit on the training noises classifies the test
noises. This module builds the noises and every measure of separability the studies need; the theory it is
checked against is derived in the module's Notes (the paper's own theorem statements were not available;
only its abstract is cited).

Noises
------
:func:`one_step_noise` ascends the loss by one step of size ``eps``:

* binary (a :class:`~boundcheck.network.Network`, labels in {-1, +1}, a decreasing margin loss
  ``l(y f(x))``): ``grad_x l = l'(y f) y grad f(x)`` with ``l' <= 0``, so
  ``delta = -eps y grad f / ||grad f||`` (``norm="l2"``, FGM) and ``delta = -eps y sign(grad f)``
  (``norm="linf"``, FGSM). The loss and ``f(x)`` drop out; they enter only where ``l'(y f) = 0``
  (squared hinge at margins >= 1), where the noise is 0.
* multi-class (a :class:`MulticlassNetwork`, labels in 0..C-1, cross-entropy):
  ``grad_x l = sum_k (p_k - 1[k = y]) grad f_k(x)``, then the same two normalizations.

Optionally the adversarial point is clipped to a box: ``delta = clip(x + delta, low, high) - x``.

Measures
--------
* :func:`zero_shot_directions`: ``v = -sum_s a_s w0_s`` (binary) or ``v_k = -sum_s A_ks w0_s`` per class:
  a data-free separator at initialization; predict ``sign <v, delta>`` or ``argmax_k <v_k, delta>``.
* :func:`signed_margins` / :func:`multiclass_margins`: normalized margins against given directions.
* :func:`hebbian_directions`: the label-signed mean (binary) or class means (multi-class) of a few noises.
* :func:`logistic_probe`: L2-regularized logistic / softmax regression on standardized features (train
  statistics), fit by L-BFGS with a bounded number of iterations, evaluated on held-out points.
* :func:`lp_separable`: exact separability by a max-margin linear program (HiGHS), refused where
  Cover's counting makes separability unremarkable (``n <= 2 (d + 1)``).
* :func:`arc_cosine_kernel`, :func:`signed_gram`, :func:`kernel_agreement`: the signed Gram matrix of the
  normalized noises against the order-0 arc-cosine kernel ``1 - theta / pi`` (FGM) and its FGSM image
  ``(2 / pi) arcsin(1 - theta / pi)``.
* :func:`train_gd`: full-batch gradient descent on the first layer (binary logistic or multi-class
  cross-entropy), optionally projected onto the lazy ball after every step.

Notes
-----
**The margin against the zero-shot direction, at initialization** (our derivation; ``w_s ~ N(0, I_d)``,
``a_s`` uniform signs; the scale of ``W`` and of ``x`` does not matter). Write ``u = sum_s a_s w_s`` and
``g = sqrt(m) grad f(x) = sum_s a_s h_s w_s`` with ``h_s = 1{w_s . x > 0}``. The distribution over the
init is the same for every fixed ``x``; take ``x = e_1``. Then ``h`` depends only on the first coordinates
``w_s1``, and given the ``a_s`` and ``h_s``, the coordinates ``j >= 2`` of ``(u, g)`` are **exactly**
i.i.d. bivariate normal with ``Var u_j = m``, ``Var g_j = Cov(u_j, g_j) = N = sum_s h_s``,
``N ~ Binomial(m, 1/2)``; the first coordinate has the same covariance and is normal up to the CLT in
``m``. This *reduced model* (:func:`reduced_margin_model`) gives the margin's distribution at finite
``d`` and ``m``:

* FGM: ``gamma = cos(u, g)`` is the uncentered sample correlation of ``d`` normal pairs with correlation
  ``rho = sqrt(N / m) -> 1/sqrt(2)``. Hence ``E gamma = (1/sqrt 2)(1 - 1/(4d) - 1/(8m)) + O(d^-2)``,
  ``Var gamma = 1/(4d) + 1/(8m)`` (of which ``1/(16d)`` is common to a net and ``3/(16d) + 1/(8m)``
  varies across inputs within a net), and exactly
  ``P(gamma <= 0) = E_N P(F_{d,d} <= (1 - rho) / (1 + rho))`` (``sum u_j g_j`` is a difference of two
  scaled chi-squares).
* FGSM: ``gamma = <u, sign g> / (||u|| sqrt d) -> sqrt(2/pi) rho = 1/sqrt(pi)``; the ``1/d`` terms of
  the mean cancel, ``E gamma = (1/sqrt pi)(1 - 1/(8m)) + O(d^-2)``, and
  ``Var gamma = (pi - 2)/(pi d) + 1/(4 pi m)`` (second-order delta method on ``sum_j u_j sign(g_j)``
  and ``||u||^2``).

The reduced model was checked against the real networks by the study ``noise_separability_synthetic``
(means, spreads and the fraction of non-positive margins, d from 4 to 784, m in {256, 2048}); the
closed forms agree with the reduced model to ``O(d^-2)`` in the mean and relative ``O(1/d)`` in the
spread (Hotelling's next term, ``11 rho^2 / (4 d)`` in the FGM sd).

**Kernel.** For ``w_s ~ N(0, sigma^2 I_d)``, ``E <grad f(x), grad f(x')> = sigma^2 d (pi - theta)/(2 pi)``
exactly (``theta`` the angle between ``x`` and ``x'``; ``(pi - theta)/(2 pi)`` for ``sigma^2 = 1/d``:
split ``w`` into its part in the plane of ``x, x'`` and the rest), so the cosine of two FGM
noises, signed by their labels, is ``1 - theta/pi`` up to a per-pair error of order ``d^{-1/2}`` that
does not vanish as ``m -> infinity``; for FGSM, ``(2/pi) arcsin(1 - theta/pi)`` (Sheppard's formula).

**Invariances (binary).** ReLU is positively homogeneous: scaling ``W`` or ``a`` by ``c > 0`` scales
``grad f`` by ``c``, scaling ``x`` leaves it unchanged, and ``l'(y f)`` keeps its sign, so neither noise
changes. The multi-class noise is *not* invariant: the softmax probabilities depend on the scale of the
logits.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np

from ._validate import as_float_array, check_choice, check_int, check_real, check_rng
from .network import Network, first_layer
from .ops import network_pass

__all__ = [
    "NORMS", "MARGIN_LOSSES",
    "MulticlassNetwork", "init_multiclass_network",
    "multiclass_forward", "multiclass_input_gradient", "cross_entropy_input_gradient",
    "one_step_noise", "one_step_noises", "random_labels",
    "zero_shot_directions", "signed_margins", "multiclass_margins", "hebbian_directions",
    "direction_accuracy",
    "ProbeResult", "logistic_probe",
    "LPResult", "lp_separable", "cover_capacity",
    "arc_cosine_kernel", "signed_gram", "KernelAgreement", "kernel_agreement",
    "MarginPrediction", "margin_limit", "margin_prediction", "reduced_margin_model",
    "GDResult", "train_gd",
]

NORMS = ("l2", "linf")
MARGIN_LOSSES = ("logistic", "exponential", "squared_hinge")

_CHUNK_BYTES = 32 * 2**20


# ==========================================================================================================
# The multi-class network
# ==========================================================================================================

@dataclass(frozen=True, eq=False)
class MulticlassNetwork:
    """K independent two-layer ReLU networks with C outputs (no biases).

    ``f_k(x; W) = (1/sqrt(m)) sum_s A_ks relu(w_s . x)``, ``k = 0..C-1``; the top layer ``A`` is fixed.

    Parameters
    ----------
    A : array_like, shape (K, C, m) or (C, m)
        Top layer (fixed). A 2-D array means K = 1.
    W0 : array_like, shape (K, m, d) or (m, d)
        First layer at initialization; row ``s`` is neuron ``w_s``.

    Notes
    -----
    Immutable; trained weights are passed separately (``W=``) as for :class:`~boundcheck.network.Network`.
    """

    A: np.ndarray
    W0: np.ndarray

    def __post_init__(self):
        W0 = first_layer(self.W0)
        K, m, d = W0.shape
        A = as_float_array(self.A, "A", ndim=(2, 3))
        if A.ndim == 2:
            A = A[None]
        if A.shape[0] != K or A.shape[2] != m or A.shape[1] < 2:
            raise ValueError(f"A must have shape (K, C, m) = ({K}, C, {m}) with C >= 2 classes to match W0, "
                             f"got {A.shape}")
        for arr in (A, W0):
            arr.setflags(write=False)
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "W0", W0)

    @property
    def n_inits(self) -> int:
        """K, the number of independent inits."""
        return self.W0.shape[0]

    @property
    def n_classes(self) -> int:
        """C, the number of outputs."""
        return self.A.shape[1]

    @property
    def width(self) -> int:
        """m, the number of hidden neurons."""
        return self.W0.shape[1]

    @property
    def dim(self) -> int:
        """d, the input dimension."""
        return self.W0.shape[2]

    def select(self, inits) -> "MulticlassNetwork":
        """Return the network made of the given init indices (an int or a sequence of ints)."""
        idx = np.atleast_1d(np.asarray(inits))
        if idx.dtype.kind not in "iu":
            raise TypeError(f"inits must be integer indices, got dtype {idx.dtype}")
        if idx.size and (idx.min() < -self.n_inits or idx.max() >= self.n_inits):
            raise ValueError(f"inits must be in [0, {self.n_inits}), got {idx.tolist()}")
        return MulticlassNetwork(A=self.A[idx], W0=self.W0[idx])

    def __repr__(self) -> str:
        return f"MulticlassNetwork(K={self.n_inits}, C={self.n_classes}, m={self.width}, d={self.dim})"


def init_multiclass_network(d: int, m: int, n_classes: int, n_inits: int = 1, *, init_scale: float = 1.0,
                            rng=None) -> MulticlassNetwork:
    """Draw ``n_inits`` random multi-class networks: ``A_ks ~ Unif{-1, +1}``, ``w_s ~ N(0, init_scale^2 I_d)``.

    Parameters
    ----------
    d, m : int
        Input dimension and width, >= 1.
    n_classes : int
        C >= 2.
    n_inits : int
        K >= 1. Init ``k`` is drawn from the ``k``-th stream spawned from ``rng`` (as
        :func:`~boundcheck.network.init_network`).
    init_scale : float
        Standard deviation of the first-layer entries (1 for the "theory" convention with unit-norm
        inputs; ``1/sqrt(d)`` for Bubeck et al.'s with inputs of norm ``sqrt(d)``; smaller for a
        "rich" small-initialization control).
    rng : None, int, SeedSequence or numpy.random.Generator

    Returns
    -------
    MulticlassNetwork
    """
    d = check_int(d, "d", minimum=1)
    m = check_int(m, "m", minimum=1)
    C = check_int(n_classes, "n_classes", minimum=2)
    K = check_int(n_inits, "n_inits", minimum=1)
    init_scale = check_real(init_scale, "init_scale", minimum=0.0, closed_min=False)
    streams = check_rng(rng).spawn(K)
    A = np.empty((K, C, m))
    W0 = np.empty((K, m, d))
    for k, gen in enumerate(streams):
        A[k] = np.where(gen.random((C, m)) < 0.5, -1.0, 1.0)
        W0[k] = gen.standard_normal((m, d)) * init_scale
    return MulticlassNetwork(A=A, W0=W0)


# ----------------------------------------------------------------------------------------------- checks

def _check_any_net(net):
    if not isinstance(net, (Network, MulticlassNetwork)):
        raise TypeError(f"net must be a boundcheck.Network (binary) or a MulticlassNetwork, "
                        f"got {type(net).__name__}")
    return net


def _check_mc_net(net) -> MulticlassNetwork:
    if not isinstance(net, MulticlassNetwork):
        raise TypeError(f"net must be a MulticlassNetwork, got {type(net).__name__}")
    return net


def _check_X(net, X, name: str = "X") -> np.ndarray:
    if np.ndim(X) != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n, {net.dim}), got shape {np.shape(X)}")
    X = as_float_array(X, name, ndim=2)
    if X.shape[1] != net.dim:
        raise ValueError(f"{name} must have shape (n, d) with d = {net.dim} (the network's input dimension), "
                         f"got {X.shape}")
    return X


def _check_W(net, W, name: str = "W") -> np.ndarray:
    if W is None:
        return net.W0
    W = as_float_array(W, name, ndim=3)
    if W.shape != net.W0.shape:
        raise ValueError(f"{name} must have the shape of the network's W0, (K, m, d) = {net.W0.shape}, "
                         f"got {W.shape}")
    return W


def _check_binary_labels(y, n: int, name: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape (n,) = ({n},), got {y.shape}")
    if y.dtype.kind not in "biuf" or not np.all((y == 1) | (y == -1)):
        raise ValueError(f"{name} must hold binary labels in {{-1, +1}}")
    return y.astype(np.float64)


def _check_class_labels(y, n: int, n_classes: int | None, name: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape (n,) = ({n},), got {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(f"{name} must hold integer class labels")
    elif y.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class labels 0..C-1, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"{name} must hold class labels >= 0, got {int(y.min())}")
    if n_classes is not None and y.size and y.max() >= n_classes:
        raise ValueError(f"{name} must hold class labels < {n_classes}, got {int(y.max())}")
    return y


def _check_batch(K: int, m: int, batch, n: int) -> int:
    if batch is None:
        return max(1, min(n, _CHUNK_BYTES // (8 * K * m))) if n else 1
    return check_int(batch, "batch", minimum=1)


# ------------------------------------------------------------------------------------ multi-class ops

def _mc_pre(X, W):
    """Pre-activations, shape (K, n, m): one BLAS product per init."""
    return np.matmul(X[None], W.transpose(0, 2, 1))


def _mc_logits(pre, A):
    """Logits (K, n, C) from pre-activations (K, n, m)."""
    return np.matmul(np.maximum(pre, 0.0), A.transpose(0, 2, 1)) / math.sqrt(A.shape[2])


def _weighted_gradient(pre, A, W, weights):
    """sum_c weights[k,i,c] grad f_c(x_i): ((weights @ A) * 1{pre > 0} / sqrt m) @ W, shape (K, n, d)."""
    coef = np.matmul(weights, A)
    coef *= (pre > 0)
    coef /= math.sqrt(A.shape[2])
    return np.matmul(coef, W)


def _softmax_minus_onehot(logits, y):
    """p - e_y, shape (K, n, C), with the y-entry computed as -sum_{c != y} p_c (no cancellation)."""
    z = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    idx = np.arange(logits.shape[1])
    p[:, idx, y] = 0.0
    p[:, idx, y] = -p.sum(axis=-1)
    return p


def multiclass_forward(net: MulticlassNetwork, X, W=None, *, batch: int | None = None) -> np.ndarray:
    """The logits ``f_k(x; W)``.

    Parameters
    ----------
    net : MulticlassNetwork
    X : array_like, shape (n, d)
    W : array_like, shape (K, m, d), optional
        First-layer weights (default ``net.W0``).
    batch : int, optional
        Points per chunk; memory O(batch * K * m).

    Returns
    -------
    ndarray, shape (K, n, C)
    """
    net = _check_mc_net(net)
    X = _check_X(net, X)
    W = _check_W(net, W)
    n = len(X)
    batch = _check_batch(net.n_inits, net.width, batch, n)
    out = np.empty((net.n_inits, n, net.n_classes))
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        out[:, lo:hi] = _mc_logits(_mc_pre(X[lo:hi], W), net.A)
    return out


def multiclass_input_gradient(net: MulticlassNetwork, X, weights, W=None, *,
                              batch: int | None = None) -> np.ndarray:
    """A weighted sum of the class gradients, ``sum_k weights[i, k] grad_x f_k(x_i; W)``.

    ``grad_x f_k(x) = (1/sqrt(m)) sum_s A_ks 1{w_s . x > 0} w_s`` (``relu'(0) = 0``). One-hot weights give
    one class's gradient; ``p - e_y`` gives the cross-entropy gradient.

    Parameters
    ----------
    net : MulticlassNetwork
    X : array_like, shape (n, d)
    weights : array_like, shape (n, C) or (K, n, C)
    W : array_like, shape (K, m, d), optional
    batch : int, optional
        Points per chunk; memory O(batch * K * m).

    Returns
    -------
    ndarray, shape (K, n, d)
    """
    net = _check_mc_net(net)
    X = _check_X(net, X)
    W = _check_W(net, W)
    n, K, C = len(X), net.n_inits, net.n_classes
    weights = as_float_array(weights, "weights", ndim=(2, 3))
    if weights.ndim == 2:
        weights = np.broadcast_to(weights, (K,) + weights.shape)
    if weights.shape != (K, n, C):
        raise ValueError(f"weights must have shape (n, C) = ({n}, {C}) or (K, n, C) = ({K}, {n}, {C}), "
                         f"got {weights.shape}")
    batch = _check_batch(K, net.width, batch, n)
    out = np.empty((K, n, net.dim))
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        out[:, lo:hi] = _weighted_gradient(_mc_pre(X[lo:hi], W), net.A, W, weights[:, lo:hi])
    return out


def cross_entropy_input_gradient(net: MulticlassNetwork, X, y, W=None, *, batch: int | None = None) -> np.ndarray:
    """``grad_x CE(softmax(f(x)), y) = sum_k (p_k - 1[k = y]) grad_x f_k(x)``.

    Parameters
    ----------
    net : MulticlassNetwork
    X : array_like, shape (n, d)
    y : array_like of int, shape (n,)
        Class labels in 0..C-1.
    W : array_like, shape (K, m, d), optional
    batch : int, optional

    Returns
    -------
    ndarray, shape (K, n, d)
    """
    net = _check_mc_net(net)
    X = _check_X(net, X)
    W = _check_W(net, W)
    y = _check_class_labels(y, len(X), net.n_classes)
    return _ce_gradient(net, X, y, W, batch)


def _ce_gradient(net, X, y, W, batch):
    n, K = len(X), net.n_inits
    batch = _check_batch(K, net.width, batch, n)
    out = np.empty((K, n, net.dim))
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        pre = _mc_pre(X[lo:hi], W)
        q = _softmax_minus_onehot(_mc_logits(pre, net.A), y[lo:hi])
        out[:, lo:hi] = _weighted_gradient(pre, net.A, W, q)
    return out


# ==========================================================================================================
# Noises
# ==========================================================================================================

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
    """eps * sign(G) or eps * G / ||G|| along the last axis (0 where G = 0)."""
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
        :class:`MulticlassNetwork` (cross-entropy, labels in 0..C-1).
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
    Binary: computed as ``eps sign(l'(y f)) y g / ||g||`` and ``eps sign(l'(y f)) y sign(g)`` with
    ``g = grad f(x)`` and the sign of ``l'`` known in closed form: this is the normalized loss gradient
    without rounding the product ``l' y g`` and without the underflow of ``l'`` at large margins
    (``exp(-z)`` is 0 in floating point beyond ``z ~ 745``), so the FGSM noise is exactly invariant to
    rescaling W, a or x. Multi-class: the cross-entropy gradient is normalized as computed (``p - e_y``
    with its y-entry summed from the other classes, so it vanishes only when every ``p_k``, ``k != y``,
    underflows).

    See Also
    --------
    one_step_noises : both norms from one gradient computation.
    """
    check_choice(norm, "norm", NORMS)
    return one_step_noises(net, X, y, eps=eps, norms=(norm,), loss=loss, W=W, b=b, clip=clip, batch=batch)[norm]


def one_step_noises(net, X, y, *, eps: float, norms=NORMS, loss: str | None = None, W=None, b=None, clip=None,
                    batch: int | None = None) -> dict:
    """The one-step noises of several norms from a single gradient computation.

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
    if isinstance(net, Network):
        loss = "logistic" if loss is None else loss
        check_choice(loss, "loss", MARGIN_LOSSES)
        yv = _check_binary_labels(y, len(X))
        res = network_pass(net, X, W, b, batch=batch)
        coef = _loss_derivative_sign(yv[None] * res.forward, loss) * yv[None]  # (K, n): -y or 0
        grad = res.input_gradient
    else:
        loss = "cross_entropy" if loss is None else loss
        check_choice(loss, "loss", ("cross_entropy",))
        if b is not None:
            raise ValueError("b was given but a MulticlassNetwork has no biases")
        Wv = _check_W(net, W)
        yv = _check_class_labels(y, len(X), net.n_classes)
        grad = _ce_gradient(net, X, yv, Wv, batch)
        coef = None
    out = {}
    for nm in norms:
        delta = _normalize_step(grad, eps, nm)
        if coef is not None:
            delta *= coef[..., None]
        if box is not None:
            adv = X[None] + delta
            outside = (adv < box[0]) | (adv > box[1])
            delta = np.where(outside, np.clip(adv, box[0], box[1]) - X[None], delta)
        out[nm] = delta
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


# ==========================================================================================================
# Directions, margins, accuracies
# ==========================================================================================================

def zero_shot_directions(net) -> np.ndarray:
    """The data-free separating directions at initialization.

    Binary: ``v = -sum_s a_s w0_s`` (predict ``sign <v, delta>``). Multi-class: ``v_k = -sum_s A_ks w0_s``
    (predict ``argmax_k <v_k, delta>``). The minus sign is the untargeted attack's: the noise moves
    against ``y grad f`` and ``grad f`` has mean ``u / (2 sqrt m)``, ``u = sum_s a_s w_s``.

    Returns
    -------
    ndarray, shape (K, d) (binary) or (K, C, d) (multi-class)
    """
    net = _check_any_net(net)
    if isinstance(net, Network):
        return -np.einsum("ks,ksd->kd", net.a, net.W0)
    return -np.matmul(net.A, net.W0)


def _unit_rows(V: np.ndarray) -> np.ndarray:
    nrm = np.sqrt(np.einsum("...d,...d->...", V, V))[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(nrm > 0, V / nrm, 0.0)


def _check_noises(noises, name: str = "noises") -> np.ndarray:
    return as_float_array(noises, name, ndim=(2, 3))


def signed_margins(noises, y, direction) -> np.ndarray:
    """Binary normalized margins ``gamma_i = y_i <v / ||v||, delta_i / ||delta_i||>``.

    Parameters
    ----------
    noises : array_like, shape (n, d) or (K, n, d)
    y : array_like, shape (n,)
        Labels in {-1, +1}.
    direction : array_like, shape (d,) or (K, d)
        One direction per net (broadcast against the noises).

    Returns
    -------
    ndarray, shape (n,) or (K, n)
        In [-1, 1]; 0 for a zero noise.
    """
    D = _check_noises(noises)
    n, d = D.shape[-2:]
    yv = _check_binary_labels(y, n)
    v = as_float_array(direction, "direction", ndim=(1, 2))
    if v.shape[-1] != d:
        raise ValueError(f"direction must have last dimension d = {d}, got shape {v.shape}")
    if D.ndim == 2 and v.ndim == 2:
        raise ValueError("direction must be 1-D (d,) for 2-D noises (n, d)")
    if D.ndim == 3 and v.ndim == 2 and v.shape[0] != D.shape[0]:
        raise ValueError(f"direction must have shape (K, d) = ({D.shape[0]}, {d}), got {v.shape}")
    vhat = _unit_rows(v)
    proj = np.einsum("...nd,...d->...n", _unit_rows(D), vhat)
    return yv * proj


def multiclass_margins(noises, y, directions) -> np.ndarray:
    """Multi-class normalized margins ``<v_y, delta> - max_{k != y} <v_k, delta>`` (unit ``v_k``, ``delta``).

    Parameters
    ----------
    noises : array_like, shape (n, d) or (K, n, d)
    y : array_like of int, shape (n,)
    directions : array_like, shape (C, d) or (K, C, d)

    Returns
    -------
    ndarray, shape (n,) or (K, n)
        Positive where the rule ``argmax_k <v_k, delta>`` is right.
    """
    D = _check_noises(noises)
    n, d = D.shape[-2:]
    V = as_float_array(directions, "directions", ndim=(2, 3))
    if V.shape[-1] != d:
        raise ValueError(f"directions must have last dimension d = {d}, got shape {V.shape}")
    if D.ndim == 2 and V.ndim == 3:
        raise ValueError("directions must be 2-D (C, d) for 2-D noises (n, d)")
    if D.ndim == 3 and V.ndim == 3 and V.shape[0] != D.shape[0]:
        raise ValueError(f"directions must have shape (K, C, d) with K = {D.shape[0]}, got {V.shape}")
    C = V.shape[-2]
    yv = _check_class_labels(y, n, C)
    scores = np.matmul(_unit_rows(D), np.swapaxes(_unit_rows(V), -1, -2))  # (..., n, C)
    idx = np.arange(n)
    own = scores[..., idx, yv]
    scores[..., idx, yv] = -np.inf
    return own - scores.max(axis=-1)


def hebbian_directions(noises, y, *, n_classes: int | None = None) -> np.ndarray:
    """Directions learned by averaging noises (no optimization).

    Binary (``n_classes=None``, labels in {-1, +1}): ``v = mean_i y_i delta_i / ||delta_i||``.
    Multi-class: ``v_k`` = the mean of the unit noises of class ``k`` (zero for a class with no noise).

    Parameters
    ----------
    noises : array_like, shape (n, d) or (K, n, d)
    y : array_like, shape (n,)
    n_classes : int, optional

    Returns
    -------
    ndarray, shape (d,) / (K, d) (binary) or (C, d) / (K, C, d) (multi-class)
    """
    D = _check_noises(noises)
    n = D.shape[-2]
    if n < 1:
        raise ValueError("noises must hold at least one noise")
    U = _unit_rows(D)
    if n_classes is None:
        yv = _check_binary_labels(y, n)
        return np.einsum("...nd,n->...d", U, yv) / n
    C = check_int(n_classes, "n_classes", minimum=2)
    yv = _check_class_labels(y, n, C)
    onehot = np.zeros((C, n))
    onehot[yv, np.arange(n)] = 1.0
    counts = np.maximum(onehot.sum(axis=1, keepdims=True), 1.0)
    return np.matmul(onehot / counts, U)


def direction_accuracy(noises, y, directions):
    """Accuracy of the linear rule given by fixed directions (no offset).

    Binary when ``directions`` has one dimension less than ``noises`` (``(d,)`` for ``(n, d)``,
    ``(K, d)`` for ``(K, n, d)``): predict ``sign <v, delta>``; multi-class otherwise
    (``(C, d)`` / ``(K, C, d)``): predict ``argmax_k <v_k, delta>``. Ties and zero scores count as errors.

    Returns
    -------
    float or ndarray of shape (K,)
    """
    D = _check_noises(noises)
    V = as_float_array(directions, "directions")
    if V.ndim == D.ndim - 1:
        acc = (signed_margins(D, y, V) > 0).mean(axis=-1)
    elif V.ndim == D.ndim:
        acc = (multiclass_margins(D, y, V) > 0).mean(axis=-1)
    else:
        raise ValueError(f"directions must have {D.ndim - 1} (binary) or {D.ndim} (multi-class) dimensions "
                         f"for noises of shape {D.shape}, got shape {V.shape}")
    return float(acc) if np.ndim(acc) == 0 else acc


# ==========================================================================================================
# The logistic-regression probe
# ==========================================================================================================

@dataclass(frozen=True, eq=False)
class ProbeResult:
    """A fitted linear probe (L2-regularized logistic or softmax regression) and its accuracies.

    Attributes
    ----------
    train_accuracy, test_accuracy : float
        Accuracies on the training and held-out points (``test_accuracy`` is NaN without a test set).
    n_classes : int
        2 for the binary probe (labels in {-1, +1}), else C.
    coef : ndarray, shape (d,) (binary) or (C, d)
        Weights on the *standardized* features.
    intercept : float or ndarray of shape (C,)
    mean, scale : ndarray, shape (d,)
        The training statistics used to standardize (``scale`` is 1 for constant features).
    lam : float
        The L2 penalty ``(lam / 2) ||coef||^2`` added to the mean loss.
    n_iter : int
        L-BFGS iterations used.
    converged : bool
        Whether L-BFGS met its tolerance within ``max_iter`` iterations.
    """

    train_accuracy: float
    test_accuracy: float
    n_classes: int
    coef: np.ndarray
    intercept: float | np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    lam: float
    n_iter: int
    converged: bool

    def decision_function(self, X) -> np.ndarray:
        """Scores, shape (n,) (binary) or (n, C)."""
        X = as_float_array(X, "X", ndim=2)
        if X.shape[1] != self.mean.shape[0]:
            raise ValueError(f"X must have {self.mean.shape[0]} features, got {X.shape[1]}")
        Z = (X - self.mean) / self.scale
        if self.n_classes == 2 and self.coef.ndim == 1:
            return Z @ self.coef + self.intercept
        return Z @ self.coef.T + self.intercept

    def predict(self, X) -> np.ndarray:
        """Labels in {-1, +1} (binary; a score of exactly 0 gives -1) or 0..C-1."""
        s = self.decision_function(X)
        if s.ndim == 1:
            return np.where(s > 0, 1, -1)
        return np.argmax(s, axis=1)


def _binary_objective(theta, Z, y, lam):
    w, c = theta[:-1], theta[-1]
    t = y * (Z @ w + c)
    n = len(y)
    loss = np.logaddexp(0.0, -t).mean() + 0.5 * lam * (w @ w)
    from scipy.special import expit
    r = -y * expit(-t) / n
    grad = np.empty_like(theta)
    grad[:-1] = Z.T @ r + lam * w
    grad[-1] = r.sum()
    return loss, grad


def _softmax_objective(theta, Z, Y, lam, C):
    d = Z.shape[1]
    V = theta[: C * d].reshape(C, d)
    c = theta[C * d:]
    L = Z @ V.T + c
    Lmax = L.max(axis=1, keepdims=True)
    E = np.exp(L - Lmax)
    S = E.sum(axis=1, keepdims=True)
    n = len(Z)
    loss = float((np.log(S[:, 0]) + Lmax[:, 0] - (L * Y).sum(axis=1)).mean()) + 0.5 * lam * float((V * V).sum())
    R = (E / S - Y) / n
    grad = np.empty_like(theta)
    grad[: C * d] = (R.T @ Z + lam * V).ravel()
    grad[C * d:] = R.sum(axis=0)
    return loss, grad


def logistic_probe(X_train, y_train, X_test=None, y_test=None, *, lam: float = 1e-3, max_iter: int = 300,
                   n_classes: int | None = None, tol: float = 1e-6, threads: int | None = 1) -> ProbeResult:
    """Fit an L2-regularized linear classifier on the training points; report train and test accuracy.

    Features are standardized with the **training** mean and standard deviation. The objective is the
    mean logistic (binary) or softmax cross-entropy (multi-class) loss plus ``(lam / 2) ||coef||^2``
    (the intercept is not penalized), minimized by L-BFGS (``scipy.optimize.minimize``) from zero for at
    most ``max_iter`` iterations: with ``lam > 0`` the problem is strongly convex, so the fit is unique
    and finite even on separable data.

    Parameters
    ----------
    X_train : array_like, shape (n, d)
    y_train : array_like, shape (n,)
        Binary labels in {-1, +1}, or integer classes 0..C-1 (then a softmax probe).
    X_test : array_like, shape (n_test, d), optional
    y_test : array_like, shape (n_test,), optional
    lam : float
        L2 penalty, > 0.
    max_iter : int
        Iteration cap of L-BFGS, >= 1.
    n_classes : int, optional
        C for integer labels (default ``max(y_train) + 1``).
    tol : float
        Gradient tolerance of L-BFGS (``pgtol``).
    threads : int or None
        BLAS threads during the fit (restored afterwards); None leaves the setting alone. The products
        are skinny (n x d by d x C): one thread was 14x faster than two for n = 500, d = 784, C = 10 on
        a shared 2-core machine.

    Returns
    -------
    ProbeResult
    """
    X = as_float_array(X_train, "X_train", ndim=2)
    n, d = X.shape
    if n < 2:
        raise ValueError(f"X_train must hold at least 2 points, got {n}")
    lam = check_real(lam, "lam", minimum=0.0, closed_min=False)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    tol = check_real(tol, "tol", minimum=0.0, closed_min=False)
    y_raw = np.asarray(y_train)
    binary = n_classes is None and y_raw.size > 0 and np.all(np.isin(y_raw, (-1, 1)))
    if binary:
        y = _check_binary_labels(y_raw, n, "y_train")
        C = 2
    else:
        yc = _check_class_labels(y_raw, n, n_classes, "y_train")
        C = check_int(n_classes, "n_classes", minimum=2) if n_classes is not None else max(int(yc.max()) + 1, 2)
    have_test = X_test is not None or y_test is not None
    if have_test:
        if X_test is None or y_test is None:
            raise ValueError("X_test and y_test must be given together")
        Xt = as_float_array(X_test, "X_test", ndim=2)
        if Xt.shape[1] != d:
            raise ValueError(f"X_test must have d = {d} columns like X_train, got {Xt.shape}")
        yt = (_check_binary_labels(y_test, len(Xt), "y_test") if binary
              else _check_class_labels(y_test, len(Xt), C, "y_test"))
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    Z = (X - mean) / scale
    options = {"maxiter": max_iter, "gtol": tol}
    if threads is not None:
        threads = check_int(threads, "threads", minimum=1)
        from threadpoolctl import threadpool_limits
        with threadpool_limits(threads, user_api="blas"):
            return _fit_probe(Z, X, y if binary else yc, binary, C, lam, options, mean, scale,
                              (Xt, yt) if have_test else None)
    return _fit_probe(Z, X, y if binary else yc, binary, C, lam, options, mean, scale,
                      (Xt, yt) if have_test else None)


def _fit_probe(Z, X, labels, binary, C, lam, options, mean, scale, test) -> ProbeResult:
    from scipy.optimize import minimize

    n, d = Z.shape
    if binary:
        y = labels
        res = minimize(_binary_objective, np.zeros(d + 1), args=(Z, y, lam), jac=True, method="L-BFGS-B",
                       options=options)
        coef, intercept = res.x[:-1].copy(), float(res.x[-1])
    else:
        yc = labels
        Y = np.zeros((n, C))
        Y[np.arange(n), yc] = 1.0
        res = minimize(_softmax_objective, np.zeros(C * (d + 1)), args=(Z, Y, lam, C), jac=True,
                       method="L-BFGS-B", options=options)
        coef, intercept = res.x[: C * d].reshape(C, d).copy(), res.x[C * d:].copy()
    probe = ProbeResult(train_accuracy=float("nan"), test_accuracy=float("nan"), n_classes=C, coef=coef,
                        intercept=intercept, mean=mean, scale=scale, lam=lam, n_iter=int(res.nit),
                        converged=bool(res.success))
    train_acc = float(np.mean(probe.predict(X) == labels))
    test_acc = float(np.mean(probe.predict(test[0]) == test[1])) if test is not None and len(test[0]) else float("nan")
    return dataclasses.replace(probe, train_accuracy=train_acc, test_accuracy=test_acc)


# ==========================================================================================================
# Exact separability by linear programming
# ==========================================================================================================

@dataclass(frozen=True, eq=False)
class LPResult:
    """Whether ``{(x_i, y_i)}`` is strictly linearly separable (with an offset).

    Attributes
    ----------
    separable : bool or None
        True: a separator was found and verified; False: the optimal margin of the LP is 0 (not strictly
        separable); None: the solver stopped without a decision (``status`` says why).
    status : str
        ``"separable"``, ``"not separable"`` or ``"undecided: ..."`` with the solver's message.
    direction : ndarray, shape (d,), or None
        ``v`` with ``y_i (v . x_i + offset) > 0`` for all i (in the original coordinates).
    offset : float or None
    min_margin : float
        ``min_i y_i (v . x_i + offset) / ||v||`` (NaN without a separator): the geometric margin of the
        separator found (a feasible one, not the maximum-margin one).
    n, d : int
    seconds : float
    """

    separable: bool | None
    status: str
    direction: np.ndarray | None
    offset: float | None
    min_margin: float
    n: int
    d: int
    seconds: float


def cover_capacity(d: int) -> int:
    """``2 (d + 1)``: below this many points, random labels are affinely separable with probability >= 1/2.

    Cover (1965): ``n`` points in general position in R^d admit
    ``2 sum_{k=0}^{d} binom(n - 1, k)`` of the ``2^n`` labelings as affine dichotomies; the fraction is 1
    for ``n <= d + 1`` and exactly 1/2 at ``n = 2 (d + 1)``.
    """
    return 2 * (check_int(d, "d", minimum=1) + 1)


def lp_separable(X, y, *, force: bool = False, time_limit: float = 120.0, tol: float = 1e-9) -> LPResult:
    """Decide whether the labelled points are strictly linearly separable (with an offset), by linear programming.

    Solve ``max t`` subject to ``y_i (v . z_i + c) >= t`` for all i, ``-1 <= v_j <= 1``, ``t <= 1``, on
    the standardized features ``z_i`` (an affine change of coordinates, which keeps affine separability
    and helps the solver), with HiGHS's dual simplex. The LP is always feasible and bounded; the set is
    strictly separable iff ``t* > 0``. A separator with ``t* > tol`` is mapped back and **verified** in
    the original coordinates; ``t* <= tol`` is reported as not separable (no separator with a margin above
    ``tol`` in these units exists, up to the solver's tolerances).

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
        Labels in {-1, +1}.
    force : bool
        Run even when ``n <= 2 (d + 1)`` (see Raises).
    time_limit : float
        Seconds allowed to HiGHS; when exceeded, ``separable`` is None.
    tol : float
        Smallest optimal ``t`` taken as separable.

    Returns
    -------
    LPResult

    Raises
    ------
    ValueError
        When ``n <= 2 (d + 1)`` and not ``force``: there, separability says little (Cover 1965: random
        labels on points in general position are separable with probability >= 1/2, and always when
        ``n <= d + 1``); judge such sets by held-out accuracy or a data-independent direction instead.

    Notes
    -----
    Measured (2 shared cores): n = 2000 noises in d = 256 / 784, separable, 0.5 s / 1.5 s; raw Gaussian
    points with random labels (not separable), 3 s / 24 s. The pure feasibility form
    ``y_i (v . x_i + c) >= 1`` left HiGHS undecided on the latter.
    """
    from scipy.optimize import linprog

    X = as_float_array(X, "X", ndim=2)
    n, d = X.shape
    if d < 1 or n < 1:
        raise ValueError(f"X must hold at least one point with at least one feature, got shape {X.shape}")
    yv = _check_binary_labels(y, n)
    time_limit = check_real(time_limit, "time_limit", minimum=0.0, closed_min=False)
    tol = check_real(tol, "tol", minimum=0.0)
    if n <= cover_capacity(d) and not force:
        raise ValueError(
            f"lp_separable refuses n = {n} points in d = {d} dimensions: with n <= 2 (d + 1) = {cover_capacity(d)}, "
            f"even random labels are linearly separable with probability >= 1/2 (Cover 1965; always when "
            f"n <= d + 1), so 'separable' would say nothing about the noises. Use more points than "
            f"2 (d + 1), judge by held-out accuracy, or pass force=True.")
    start = time.perf_counter()
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    Z = (X - mean) / scale
    A_ub = np.empty((n, d + 2))
    A_ub[:, :d] = -yv[:, None] * Z
    A_ub[:, d] = -yv
    A_ub[:, d + 1] = 1.0
    cost = np.zeros(d + 2)
    cost[-1] = -1.0
    bounds = [(-1.0, 1.0)] * d + [(None, None), (None, 1.0)]
    res = linprog(cost, A_ub=A_ub, b_ub=np.zeros(n), bounds=bounds, method="highs-ds",
                  options={"time_limit": time_limit})
    seconds = time.perf_counter() - start
    if res.status != 0 or res.x is None:
        return LPResult(None, f"undecided: {res.message}", None, None, float("nan"), n, d, seconds)
    t_star = -float(res.fun)
    if t_star <= tol:
        return LPResult(False, "not separable", None, None, float("nan"), n, d, seconds)
    v = res.x[:d] / scale
    c = float(res.x[d] - v @ mean)
    margins = yv * (X @ v + c)
    vn = float(np.linalg.norm(v))
    if not np.all(margins > 0) or vn == 0:
        return LPResult(None, "undecided: the LP separator does not verify in the original coordinates",
                        None, None, float("nan"), n, d, seconds)
    return LPResult(True, "separable", v, c, float(margins.min() / vn), n, d, seconds)


# ==========================================================================================================
# The arc-cosine kernel
# ==========================================================================================================

def arc_cosine_kernel(X, Z=None, *, norm: str = "l2") -> np.ndarray:
    """The predicted signed cosine of two noises: ``1 - theta/pi`` (FGM) or ``(2/pi) arcsin(1 - theta/pi)`` (FGSM).

    ``theta`` is the angle between the inputs. ``1 - theta/pi = E<grad f(x), grad f(x')> / E||grad f||^2``
    over the init (the order-0 arc-cosine kernel, normalized); the FGSM form is Sheppard's
    ``E sign(U) sign(V) = (2/pi) arcsin(rho)`` for normal coordinates with correlation ``rho``.

    Parameters
    ----------
    X : array_like, shape (n, d)
    Z : array_like, shape (n', d), optional
        Default ``X``.
    norm : {"l2", "linf"}

    Returns
    -------
    ndarray, shape (n, n')
    """
    check_choice(norm, "norm", NORMS)
    X = as_float_array(X, "X", ndim=2)
    Z = X if Z is None else as_float_array(Z, "Z", ndim=2)
    if Z.shape[1] != X.shape[1]:
        raise ValueError(f"Z must have d = {X.shape[1]} columns like X, got {Z.shape}")
    if np.any(np.linalg.norm(X, axis=1) == 0) or np.any(np.linalg.norm(Z, axis=1) == 0):
        raise ValueError("X and Z must have nonzero rows (the angle to 0 is undefined)")
    cos = np.clip(_unit_rows(X) @ _unit_rows(Z).T, -1.0, 1.0)
    kappa = 1.0 - np.arccos(cos) / np.pi
    if norm == "linf":
        return (2.0 / np.pi) * np.arcsin(kappa)
    return kappa


def signed_gram(noises, y) -> np.ndarray:
    """``y_i y_j cos(delta_i, delta_j)`` for binary labels, shape (n, n) (0 rows for zero noises)."""
    D = as_float_array(noises, "noises", ndim=2)
    yv = _check_binary_labels(y, len(D))
    U = _unit_rows(D) * yv[:, None]
    return U @ U.T


@dataclass(frozen=True)
class KernelAgreement:
    """Signed Gram of the normalized noises against the arc-cosine prediction, over pairs ``i < j``.

    Attributes
    ----------
    mean_deviation : float
        Mean of ``signed_gram - kernel``.
    mean_abs_deviation : float
    max_abs_deviation : float
    min_signed_gram : float
        The smallest signed cosine (> 0 means every pair lies on the same side: a strong form of
        separability through the origin).
    n_pairs : int
    """

    mean_deviation: float
    mean_abs_deviation: float
    max_abs_deviation: float
    min_signed_gram: float
    n_pairs: int


def kernel_agreement(noises, y, X, *, norm: str = "l2") -> KernelAgreement:
    """Compare the signed Gram of one net's noises with :func:`arc_cosine_kernel` of their inputs.

    Parameters
    ----------
    noises : array_like, shape (n, d)
    y : array_like, shape (n,)
        The labels the noises were crafted with, in {-1, +1}.
    X : array_like, shape (n, d)
        The inputs.
    norm : {"l2", "linf"}
        Which noise (selects the kernel's form).

    Returns
    -------
    KernelAgreement
    """
    D = as_float_array(noises, "noises", ndim=2)
    X = as_float_array(X, "X", ndim=2)
    if X.shape != D.shape:
        raise ValueError(f"X must have the shape of noises, {D.shape}, got {X.shape}")
    n = len(D)
    if n < 2:
        raise ValueError("kernel_agreement needs at least 2 points")
    G = signed_gram(D, y)
    Kp = arc_cosine_kernel(X, norm=norm)
    iu = np.triu_indices(n, 1)
    dev = G[iu] - Kp[iu]
    return KernelAgreement(mean_deviation=float(dev.mean()), mean_abs_deviation=float(np.abs(dev).mean()),
                           max_abs_deviation=float(np.abs(dev).max()), min_signed_gram=float(G[iu].min()),
                           n_pairs=int(dev.size))


# ==========================================================================================================
# Predictions for the margins at initialization
# ==========================================================================================================

@dataclass(frozen=True)
class MarginPrediction:
    """The derived statistics of the zero-shot margin at initialization (see the module Notes).

    Attributes
    ----------
    d, m : int
    norm : {"l2", "linf"}
    limit : float
        ``1/sqrt(2)`` (FGM) or ``1/sqrt(pi)`` (FGSM): the limit as d, m -> infinity.
    first_order_mean : float
        The limit with its first-order corrections in ``1/d`` and ``1/m``.
    sd_total : float
        The leading-order standard deviation over inits and inputs.
    sd_within : float
        The leading-order standard deviation across inputs within one net (FGM; NaN for FGSM).
    sd_net : float
        The leading-order standard deviation of a net's mean margin (FGM; NaN for FGSM).
    p_nonpositive : float
        ``P(gamma <= 0)`` exactly in the reduced model (FGM; NaN for FGSM, see
        :func:`reduced_margin_model`).
    """

    d: int
    m: int
    norm: str
    limit: float
    first_order_mean: float
    sd_total: float
    sd_within: float
    sd_net: float
    p_nonpositive: float


def margin_limit(norm: str) -> float:
    """``1/sqrt(2)`` for FGM (``"l2"``), ``1/sqrt(pi)`` for FGSM (``"linf"``)."""
    check_choice(norm, "norm", NORMS)
    return 1.0 / math.sqrt(2.0) if norm == "l2" else 1.0 / math.sqrt(math.pi)


def margin_prediction(d: int, m: int, norm: str) -> MarginPrediction:
    """The derived mean, spreads and (FGM) probability of a non-positive margin at initialization.

    Parameters
    ----------
    d, m : int
        Input dimension and width.
    norm : {"l2", "linf"}

    Returns
    -------
    MarginPrediction

    Notes
    -----
    FGM: mean ``(1/sqrt 2)(1 - 1/(4d) - 1/(8m))``, variance ``1/(4d) + 1/(8m)`` split into
    ``1/(16d)`` per net and ``3/(16d) + 1/(8m)`` within a net; ``P(gamma <= 0) =
    E_N F_{d,d}.cdf((1 - rho_N)/(1 + rho_N))``, ``rho_N = sqrt(N/m)``, ``N ~ Bin(m, 1/2)``.
    FGSM: mean ``(1/sqrt pi)(1 - 1/(8m))``, variance ``(pi - 2)/(pi d) + 1/(4 pi m)``.
    """
    from scipy import stats

    d = check_int(d, "d", minimum=1)
    m = check_int(m, "m", minimum=1)
    check_choice(norm, "norm", NORMS)
    limit = margin_limit(norm)
    if norm == "l2":
        N = np.arange(m + 1)
        w = stats.binom.pmf(N, m, 0.5)
        rho = np.sqrt(N / m)
        p = float(np.sum(w * stats.f.cdf((1.0 - rho) / (1.0 + rho), d, d)))
        return MarginPrediction(d, m, norm, limit, limit * (1 - 1 / (4 * d) - 1 / (8 * m)),
                                math.sqrt(1 / (4 * d) + 1 / (8 * m)), math.sqrt(3 / (16 * d) + 1 / (8 * m)),
                                math.sqrt(1 / (16 * d)), p)
    return MarginPrediction(d, m, norm, limit, limit * (1 - 1 / (8 * m)),
                            math.sqrt((math.pi - 2) / (math.pi * d) + 1 / (4 * math.pi * m)),
                            float("nan"), float("nan"), float("nan"))


def reduced_margin_model(d: int, m: int, norm: str, *, size: int, rng=None) -> np.ndarray:
    """Samples of the zero-shot margin at initialization from the reduced model (module Notes).

    ``N ~ Binomial(m, 1/2)``; ``d`` i.i.d. pairs ``g_j = sqrt(N) z_j``, ``u_j = g_j + sqrt(m - N) z'_j``;
    FGM ``gamma = <u, g> / (||u|| ||g||)``, FGSM ``gamma = <u, sign g> / (||u|| sqrt d)``. Exact for the
    ``d - 1`` coordinates orthogonal to ``x`` and normal up to the CLT in ``m`` for the last one.

    Parameters
    ----------
    d, m : int
    norm : {"l2", "linf"}
    size : int
        Number of samples; memory O(min(size, 2^22 / d) * d).
    rng : None, int, SeedSequence or numpy.random.Generator

    Returns
    -------
    ndarray, shape (size,)
    """
    d = check_int(d, "d", minimum=1)
    m = check_int(m, "m", minimum=1)
    check_choice(norm, "norm", NORMS)
    size = check_int(size, "size", minimum=1)
    gen = check_rng(rng)
    out = np.empty(size)
    chunk = max(1, 2**22 // d)
    for lo in range(0, size, chunk):
        hi = min(size, lo + chunk)
        N = gen.binomial(m, 0.5, size=hi - lo)[:, None].astype(float)
        g = np.sqrt(N) * gen.standard_normal((hi - lo, d))
        u = g + np.sqrt(m - N) * gen.standard_normal((hi - lo, d))
        un = np.linalg.norm(u, axis=1)
        if norm == "l2":
            gn = np.linalg.norm(g, axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[lo:hi] = np.where(gn > 0, np.einsum("ij,ij->i", u, g) / (un * gn), 0.0)
        else:
            out[lo:hi] = np.einsum("ij,ij->i", u, np.sign(g)) / (un * math.sqrt(d))
    return out


# ==========================================================================================================
# Full-batch gradient descent on the first layer
# ==========================================================================================================

@dataclass(frozen=True, eq=False)
class GDResult:
    """A full-batch gradient-descent run on the first layer of every init.

    Attributes
    ----------
    W : ndarray, shape (K, m, d)
        The trained first layers.
    steps : int
    lr : float
    radius : float or None
        The lazy-ball radius the run was projected onto after every step (None: unconstrained).
    loss_initial, loss_final : ndarray, shape (K,)
        Mean training loss (logistic or cross-entropy) before and after.
    train_accuracy : ndarray, shape (K,)
        After training.
    relative_movement : ndarray, shape (K,)
        ``||W - W0||_F / ||W0||_F``.
    max_row_movement : ndarray, shape (K,)
        ``max_s ||w_s - w0_s||``: the (2, inf) distance that defines the lazy ball.
    seconds : float
    """

    W: np.ndarray
    steps: int
    lr: float
    radius: float | None
    loss_initial: np.ndarray
    loss_final: np.ndarray
    train_accuracy: np.ndarray
    relative_movement: np.ndarray
    max_row_movement: np.ndarray
    seconds: float


def _gd_loss_grad(X, T, W, A, c, binary: bool, want_grad: bool = True):
    """Mean loss, accuracy and d loss / d W for one init. A: (C, m) (C = 1 binary); T: labels."""
    m = W.shape[0]
    pre = X @ W.T  # (n, m)
    act = np.maximum(pre, 0)
    out = act @ A.T / W.dtype.type(math.sqrt(m))  # (n, C)
    n = len(X)
    if binary:
        f = out[:, 0] + c
        t = T * f
        loss = float(np.logaddexp(0.0, -t).mean())
        acc = float(np.mean(t > 0))
        if not want_grad:
            return loss, acc, None
        from scipy.special import expit
        G = (-T * expit(-t) / n)[:, None].astype(W.dtype, copy=False)  # (n, 1)
    else:
        Lmax = out.max(axis=1, keepdims=True)
        E = np.exp(out - Lmax)
        S = E.sum(axis=1, keepdims=True)
        idx = np.arange(n)
        loss = float((np.log(S[:, 0]) + Lmax[:, 0] - out[idx, T]).mean())
        acc = float(np.mean(np.argmax(out, axis=1) == T))
        if not want_grad:
            return loss, acc, None
        G = E / S
        G[idx, T] -= 1.0
        G /= n
    coef = (G @ A) * (pre > 0) / W.dtype.type(math.sqrt(m))  # (n, m)
    return loss, acc, coef.T @ X


def train_gd(net, X, y, *, steps: int, lr: float, radius: float | None = None, W=None,
             dtype=np.float64) -> GDResult:
    """Full-batch gradient descent on the first layer; the top layer stays fixed.

    Loss: mean logistic loss ``log(1 + exp(-y f))`` for a binary :class:`~boundcheck.network.Network`
    (labels in {-1, +1}; no first-layer biases), mean cross-entropy for a :class:`MulticlassNetwork`
    (labels in 0..C-1). With ``radius``, every step is followed by the exact projection onto the lazy
    ball ``B_{2,inf}(W0, radius)`` (:func:`boundcheck.lazy.project_lazy`), so the run never leaves it.

    Parameters
    ----------
    net : Network or MulticlassNetwork
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    steps : int
        Number of GD steps, >= 0.
    lr : float
        Step size, > 0.
    radius : float, optional
        Lazy-ball radius ``C0 / sqrt(m)``; None for unconstrained training.
    W : array_like, shape (K, m, d), optional
        Starting weights (default ``net.W0``; the ball is always centred at ``net.W0``).
    dtype : {numpy.float64, numpy.float32}
        Working precision of the steps (float32 roughly halves the time). The projection is computed in
        float64 and, in float32, repeated once in float64 on the returned weights, so the returned ``W``
        lies in the ball exactly.

    Returns
    -------
    GDResult

    Notes
    -----
    Cost: three BLAS products of size n x m x d per step and init; memory O(n m).
    """
    from .lazy import project_lazy

    net = _check_any_net(net)
    X = _check_X(net, X)
    steps = check_int(steps, "steps", minimum=0)
    lr = check_real(lr, "lr", minimum=0.0, closed_min=False)
    if radius is not None:
        radius = check_real(radius, "radius", minimum=0.0)
    Wstart = _check_W(net, W)
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype must be float64 or float32, got {dt}")
    binary = isinstance(net, Network)
    if binary:
        if net.has_bias:
            raise ValueError("train_gd does not train first-layer biases; use a network without biases")
        T = _check_binary_labels(y, len(X))
        tops = net.a[:, None, :]  # (K, 1, m)
        cs = net.output_bias if net.output_bias is not None else np.zeros(net.n_inits)
    else:
        T = _check_class_labels(y, len(X), net.n_classes)
        tops = net.A
        cs = np.zeros(net.n_inits)
    start = time.perf_counter()
    K = net.n_inits
    W_out = np.empty_like(net.W0)
    loss0, loss1, acc1 = np.empty(K), np.empty(K), np.empty(K)
    Xd = X.astype(dt, copy=False)
    Td = T.astype(dt) if binary else T
    for k in range(K):
        W0k = net.W0[k]
        if steps == 0:
            W_out[k] = Wstart[k]
            loss0[k], acc1[k], _ = _gd_loss_grad(X, T, W_out[k], tops[k], cs[k], binary, want_grad=False)
            loss1[k] = loss0[k]
            continue
        Wk = np.array(Wstart[k], dtype=dt, copy=True)
        top = tops[k].astype(dt)
        for t in range(steps):
            loss, _, grad = _gd_loss_grad(Xd, Td, Wk, top, cs[k], binary)
            if t == 0:
                loss0[k] = loss
            Wk -= dt.type(lr) * grad
            if radius is not None:
                Wk = project_lazy(Wk, W0k, radius).astype(dt, copy=False)
        Wk = Wk.astype(np.float64)
        if radius is not None:
            Wk = project_lazy(Wk, W0k, radius)
        loss1[k], acc1[k], _ = _gd_loss_grad(X, T, Wk, tops[k], cs[k], binary, want_grad=False)
        W_out[k] = Wk
    diff = W_out - net.W0
    rel = np.sqrt(np.einsum("kmd,kmd->k", diff, diff)) / np.sqrt(np.einsum("kmd,kmd->k", net.W0, net.W0))
    rows = np.sqrt(np.einsum("kmd,kmd->km", diff, diff)).max(axis=1)
    return GDResult(W=W_out, steps=steps, lr=lr, radius=radius, loss_initial=loss0, loss_final=loss1,
                    train_accuracy=acc1, relative_movement=rel, max_row_movement=rows,
                    seconds=time.perf_counter() - start)
