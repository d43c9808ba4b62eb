"""Two-layer ReLU networks with C outputs (the multi-class model), and classification helpers.

``f_k(x; W) = (1/sqrt(m)) sum_s A_ks relu(w_s . x)``, ``k = 0..C-1``, the top layer ``A`` fixed, K
independent inits stacked like :class:`~boundcheck.network.Network`. Pieces:

* :class:`MulticlassNetwork`, :func:`init_multiclass_network`;
* :func:`multiclass_forward` (logits), :func:`multiclass_input_gradient` (a weighted sum of the class
  gradients) and :func:`cross_entropy_input_gradient`, one BLAS product per init and chunk;
* :func:`init_classifier` and :func:`classification_accuracy`: a binary
  :class:`~boundcheck.network.Network` or a :class:`MulticlassNetwork` for a task with ``C`` classes,
  and its accuracy, so that studies treat both kinds alike.

The argument checks at the end of the first section (``_check_any_net``, ``_check_X``, ``_check_W``,
``_check_binary_labels``, ``_check_class_labels``) are shared by :mod:`boundcheck.noises`,
:mod:`boundcheck.probes` and the first-layer trainer :func:`boundcheck.train.train_gd`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._validate import as_float_array, check_int, check_real, check_rng
from ._validate_network import check_points, check_weights
from .network import FirstLayerShape, Network, first_layer

__all__ = [
    "MulticlassNetwork", "init_multiclass_network",
    "multiclass_forward", "multiclass_input_gradient", "cross_entropy_input_gradient",
    "init_classifier", "classification_accuracy",
]

_CHUNK_BYTES = 32 * 2**20


@dataclass(frozen=True, eq=False)
class MulticlassNetwork(FirstLayerShape):
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
    def n_classes(self) -> int:
        """C, the number of outputs."""
        return self.A.shape[1]

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


# Points and weights are checked as for a binary network (the shared checks read only net.dim and net.W0).
_check_X = check_points
_check_W = check_weights


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
# Binary or multi-class, alike
# ==========================================================================================================

def init_classifier(d: int, m: int, n_classes: int | None = None, *, init_scale: float = 1.0, rng=None):
    """One random two-layer network for a classification task: binary or with ``n_classes`` outputs.

    Binary (``n_classes=None``): a :class:`~boundcheck.network.Network` with ``a_s ~ Unif{-1, +1}`` and
    ``w_s ~ N(0, init_scale^2 I_d)``, no biases, drawn from ``rng`` directly (signs first, then ``W0``).
    Multi-class: :func:`init_multiclass_network` with ``n_inits=1``.

    Parameters
    ----------
    d, m : int
        Input dimension and width, >= 1.
    n_classes : int, optional
        C >= 2 for a multi-class network; None for a binary one.
    init_scale : float
        Standard deviation of the first-layer entries, > 0 (``1/sqrt(d)`` for pre-activations ``N(0, 1)``
        on inputs of norm ``sqrt(d)``).
    rng : None, int, SeedSequence or numpy.random.Generator

    Returns
    -------
    Network or MulticlassNetwork
        With K = 1.
    """
    d = check_int(d, "d", minimum=1)
    m = check_int(m, "m", minimum=1)
    init_scale = check_real(init_scale, "init_scale", minimum=0.0, closed_min=False)
    if n_classes is not None:
        return init_multiclass_network(d, m, n_classes, init_scale=init_scale, rng=rng)
    gen = check_rng(rng)
    a = np.where(gen.random(m) < 0.5, -1.0, 1.0)
    W0 = gen.standard_normal((m, d)) * init_scale
    return Network(a=a, W0=W0)


def classification_accuracy(net, X, y, W=None) -> np.ndarray:
    """Accuracy of each init's classifier: ``sign f`` (binary, labels in {-1, +1}) or ``argmax_k f_k``.

    A binary score of exactly 0 counts as the label -1.

    Parameters
    ----------
    net : Network or MulticlassNetwork
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    W : array_like, shape (K, m, d), optional
        First-layer weights (default ``net.W0``).

    Returns
    -------
    ndarray, shape (K,)
    """
    from .ops import forward

    net = _check_any_net(net)
    X = _check_X(net, X)
    if isinstance(net, Network):
        yv = _check_binary_labels(y, len(X))
        return np.mean(np.where(forward(net, X, W) > 0, 1.0, -1.0) == yv[None], axis=1)
    yv = _check_class_labels(y, len(X), net.n_classes)
    return np.mean(np.argmax(multiclass_forward(net, X, W), axis=2) == yv[None], axis=1)
