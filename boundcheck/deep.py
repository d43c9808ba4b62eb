"""Deep fully connected networks, K inits at once: forward, input gradient, patterns, the exact one-step flip.

The network with ``L`` layers (``L - 1`` hidden layers of widths ``m_1, ..., m_{L-1}``, then a fixed top
layer ``a``) is

``z_1 = alpha_1 W_1 x + b_1``,  ``z_l = alpha_l W_l phi(z_{l-1}) + b_l`` (l = 2 .. L-1),
``f(x) = s * sum_j a_j phi(z_{L-1, j}) + c``,  ``s = 1 / sqrt(m_{L-1})`` by default,

with ``W_l`` of shape ``(m_l, m_{l-1})`` (``m_0 = d``; rows are neurons), optional biases ``b_l``, an
optional output bias ``c`` and a layer multiplier ``alpha_l``. ``L = 2`` is the two-layer
:class:`~boundcheck.network.Network` (``z_1 = W x + b``, ``f = m^{-1/2} sum_s a_s relu(z_s) + c``):
:func:`from_network` turns one into the other, and every number (f, the input gradient, eta*) is then
bitwise the same (tested).

Activations (``ACTIVATIONS``), each with its derivative: ``"relu"`` (``relu'(0) = 0``), ``"softplus"``
``log(1 + e^z)``, ``"tanh"``, ``"gelu"`` ``z Phi(z)`` (the exact, erf form).

Parametrizations (one must be chosen explicitly for random inits)
------------------------------------------------------------------
Both keep every pre-activation of order 1 for inputs on the sphere of radius ``sqrt(d)``: with
``q = E phi(G)^2`` (``G ~ N(0, 1)``; 1/2 for ReLU) and gains ``g_1 = 1``, ``g_l = 1 / q`` (l >= 2), the
pre-activation ``z_{l, j}`` given the layer below is ``N(0, g_l ||phi(z_{l-1})||^2 / m_{l-1})``, whose
variance is 1 for ``l = 1`` and tends to 1 at every layer as the widths grow (the fixed point of the
infinite-width recursion; the He init for ReLU). The top layer is ``a_j ~ Unif{-1, +1}`` and ``s =
m_{L-1}^{-1/2}``, so ``f(x)`` is close to ``N(0, q)`` (Bubeck et al. 2021: ``N(0, E psi(G)^2)``).

``"bubeck"``
    The variance lives in the weights, the multipliers are 1: ``W_l ~ N(0, g_l / m_{l-1})`` entrywise,
    ``alpha_l = 1``. At ``L = 2`` with ReLU this is Bubeck et al. 2021 and the two-layer
    ``init_network(..., parametrization="bubeck")``, draw for draw (same ``rng``, same numbers).
``"ntk"``
    The NTK parametrization (Jacot et al. 2018): standard normal weights ``W_l ~ N(0, 1)``, the scale in
    the multiplier ``alpha_l = sqrt(g_l / m_{l-1})``. The function at init has the same law as under
    ``"bubeck"``; what differs is the geometry of weight space (a ball of radius R around ``W_l`` is a
    ball of radius ``alpha_l R`` in the Bubeck weights).

With ``bias=True`` the biases take a fraction ``bias_variance`` of each pre-activation's variance:
``b_l ~ N(0, bias_variance)`` and the weight variance (or multiplier squared) is multiplied by
``1 - bias_variance``. The draw order of init ``k`` (its own stream spawned from ``rng``) is ``a``, then
``W_1, ..., W_{L-1}``, then the biases; so ``L = 2`` without biases matches :func:`init_network`.

Memory: a chunk of ``batch`` points holds ``3 * batch * K * sum_l m_l`` floats (pre-activations,
activations, backward deltas); the default keeps that under 96 MiB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import _attack_kernels
from . import _deep_kernels as _dk
from ._numeric import unit_rows
from ._validate import as_float_array, check_choice, check_int, check_real, check_rng
from ._validate_network import check_points
from .attacks import FlipStep
from .network import Network

__all__ = ["DeepNetwork", "init_deep_network", "from_network", "deep_forward", "deep_input_gradient",
           "deep_pass", "DeepPass", "activation_patterns", "deep_min_flip_step", "DeepFlipStep",
           "ACTIVATIONS", "DEEP_PARAMETRIZATIONS", "activation_second_moment"]

ACTIVATIONS = ("relu", "softplus", "tanh", "gelu")
DEEP_PARAMETRIZATIONS = ("bubeck", "ntk")
_ACT_ID = {"relu": _dk.RELU, "softplus": _dk.SOFTPLUS, "tanh": _dk.TANH, "gelu": _dk.GELU}
_CHUNK_BYTES = 32 * 2**20
_NO_BIAS = np.zeros((1, 1))


# --------------------------------------------------------------------------------------------------------
# Activations in plain numpy (the reference, and the moments)
# --------------------------------------------------------------------------------------------------------

def _np_phi(z, activation: str):
    from scipy.special import ndtr
    z = np.asarray(z, dtype=float)
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "softplus":
        return np.logaddexp(0.0, z)
    if activation == "tanh":
        return np.tanh(z)
    return z * ndtr(z)


def _np_dphi(z, activation: str):
    from scipy.special import expit, ndtr
    z = np.asarray(z, dtype=float)
    if activation == "relu":
        return (z > 0).astype(float)
    if activation == "softplus":
        return expit(z)
    if activation == "tanh":
        return 1.0 / np.cosh(z) ** 2
    return ndtr(z) + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


@lru_cache(maxsize=None)
def activation_second_moment(activation: str) -> float:
    """``q = E phi(G)^2`` for ``G ~ N(0, 1)`` (1/2 for ReLU, exactly; by quadrature otherwise).

    ``f(x)`` at a random init is close to ``N(0, q)``, and ``1/q`` is the gain that keeps deep
    pre-activations of variance 1 (module docstring).
    """
    check_choice(activation, "activation", ACTIVATIONS)
    if activation == "relu":
        return 0.5
    from scipy.integrate import quad
    val, _ = quad(lambda z: float(_np_phi(z, activation)) ** 2 * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi),
                  -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13, limit=200)
    return float(val)


# --------------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------------

def _as_layer_list(value, name: str) -> list:
    if isinstance(value, np.ndarray) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple of arrays, one per hidden layer")
    if len(value) < 1:
        raise ValueError(f"{name} must hold at least one layer")
    return list(value)


def _per_init(arr, name, shape_wo_k, K=None):
    """Standardize an array with a leading init axis (added when missing)."""
    arr = as_float_array(arr, name, ndim=(len(shape_wo_k), len(shape_wo_k) + 1))
    if arr.ndim == len(shape_wo_k):
        arr = arr[None]
    if K is not None and arr.shape[0] != K:
        raise ValueError(f"{name} must have K = {K} inits on its first axis, got shape {arr.shape}")
    want = tuple(arr.shape[:1]) + tuple(shape_wo_k)
    if any(s is not None and s != t for s, t in zip(want, arr.shape)):
        pretty = "(K, " + ", ".join(str(s) for s in shape_wo_k) + ")"
        raise ValueError(f"{name} must have shape {pretty}, got {arr.shape}")
    return arr


@dataclass(frozen=True, eq=False)
class DeepNetwork:
    """K independent deep fully connected networks of the same shape (see the module docstring).

    Parameters
    ----------
    weights : list of array_like
        ``W_1 (K, m_1, d)``, ``W_l (K, m_l, m_{l-1})``; a 2-D array for each means K = 1. At least one.
    a : array_like, shape (K, m_{L-1}) or (m_{L-1},)
        The fixed top layer.
    biases : list of array_like, shape (K, m_l) each, optional
        Hidden-layer biases (all layers or none).
    output_bias : array_like, shape (K,) or scalar, optional
    activation : {"relu", "softplus", "tanh", "gelu"}
    multipliers : sequence of float, optional
        ``alpha_l`` per hidden layer (default all 1).
    output_scale : float, optional
        ``s`` (default ``1 / sqrt(m_{L-1})``).
    parametrization : {"bubeck", "ntk", "custom"}
        A label (``"custom"`` for user arrays).

    Notes
    -----
    Immutable; arrays are C-contiguous float64. Weights that move (training, the lazy ball) are passed to
    the operations separately (``weights=``, ``biases=``); these arrays are the initialization.
    """

    weights: tuple
    a: np.ndarray
    biases: tuple | None = None
    output_bias: np.ndarray | None = None
    activation: str = "relu"
    multipliers: tuple | None = None
    output_scale: float | None = None
    parametrization: str = "custom"

    def __post_init__(self):
        check_choice(self.activation, "activation", ACTIVATIONS)
        check_choice(self.parametrization, "parametrization", DEEP_PARAMETRIZATIONS + ("custom",))
        Ws = _as_layer_list(self.weights, "weights")
        W1 = _per_init(Ws[0], "weights[0]", (None, None))
        K, m1, d = W1.shape
        if min(K, m1, d) < 1:
            raise ValueError(f"weights[0] must have K >= 1, m_1 >= 1 and d >= 1, got shape {W1.shape}")
        out = [W1]
        for l in range(1, len(Ws)):
            prev = out[-1].shape[1]
            W = _per_init(Ws[l], f"weights[{l}]", (None, prev), K)
            if W.shape[1] < 1:
                raise ValueError(f"weights[{l}] must have at least one neuron, got shape {W.shape}")
            out.append(W)
        widths = tuple(W.shape[1] for W in out)
        a = _per_init(self.a, "a", (widths[-1],), K)
        bs = None
        if self.biases is not None:
            bl = _as_layer_list(self.biases, "biases")
            if len(bl) != len(out):
                raise ValueError(f"biases must hold one array per hidden layer ({len(out)}), got {len(bl)}")
            bs = tuple(_per_init(b, f"biases[{l}]", (widths[l],), K) for l, b in enumerate(bl))
        c = self.output_bias
        if c is not None:
            c = as_float_array(c, "output_bias", ndim=(0, 1)).reshape(-1)
            if c.shape == (1,) and K > 1:
                c = np.repeat(c, K)
            if c.shape != (K,):
                raise ValueError(f"output_bias must be a scalar or have shape (K,) = ({K},), got {c.shape}")
        if self.multipliers is None:
            mult = (1.0,) * len(out)
        else:
            mult = tuple(check_real(v, f"multipliers[{j}]", minimum=0.0, closed_min=False)
                         for j, v in enumerate(self.multipliers))
            if len(mult) != len(out):
                raise ValueError(f"multipliers must hold one value per hidden layer ({len(out)}), got {len(mult)}")
        scale = (1.0 / np.sqrt(widths[-1]) if self.output_scale is None
                 else check_real(self.output_scale, "output_scale"))
        for arr in [*out, a, *(bs or ()), c]:
            if arr is not None:
                arr.setflags(write=False)
        object.__setattr__(self, "weights", tuple(out))
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "biases", bs)
        object.__setattr__(self, "output_bias", c)
        object.__setattr__(self, "multipliers", mult)
        object.__setattr__(self, "output_scale", float(scale))

    # -- shape ---------------------------------------------------------------------------------------
    @property
    def n_inits(self) -> int:
        """K, the number of independent inits."""
        return self.weights[0].shape[0]

    @property
    def dim(self) -> int:
        """d, the input dimension."""
        return self.weights[0].shape[2]

    @property
    def widths(self) -> tuple[int, ...]:
        """``(m_1, ..., m_{L-1})``, the hidden widths."""
        return tuple(W.shape[1] for W in self.weights)

    @property
    def depth(self) -> int:
        """L, the number of weight layers including the top one (2 for the two-layer network)."""
        return len(self.weights) + 1

    @property
    def has_bias(self) -> bool:
        """Whether the hidden layers have biases."""
        return self.biases is not None

    @property
    def input_radius(self) -> float | None:
        """The input norm the parametrization assumes (``sqrt(d)``), or None for custom networks."""
        return float(np.sqrt(self.dim)) if self.parametrization in DEEP_PARAMETRIZATIONS else None

    def select(self, inits) -> "DeepNetwork":
        """The network made of the given init indices (an int or a sequence of ints)."""
        idx = np.atleast_1d(np.asarray(inits))
        if idx.dtype.kind not in "iu":
            raise TypeError(f"inits must be integer indices, got dtype {idx.dtype}")
        if idx.size and (idx.min() < -self.n_inits or idx.max() >= self.n_inits):
            raise ValueError(f"inits must be in [0, {self.n_inits}), got {idx.tolist()}")
        return DeepNetwork(
            weights=[W[idx] for W in self.weights], a=self.a[idx],
            biases=None if self.biases is None else [b[idx] for b in self.biases],
            output_bias=None if self.output_bias is None else self.output_bias[idx],
            activation=self.activation, multipliers=self.multipliers, output_scale=self.output_scale,
            parametrization=self.parametrization)

    def __repr__(self) -> str:
        return (f"DeepNetwork(K={self.n_inits}, d={self.dim}, widths={self.widths}, "
                f"activation={self.activation!r}, parametrization={self.parametrization!r}, bias={self.has_bias})")


def from_network(net: Network) -> DeepNetwork:
    """The two-layer :class:`~boundcheck.network.Network` as a :class:`DeepNetwork` with ``L = 2``, ReLU.

    The same arrays (``W0``, ``a``, ``b0``, ``output_bias``), multiplier 1, output scale ``1/sqrt(m)``:
    forward, input gradient and eta* are bitwise those of :mod:`boundcheck.ops` and
    :func:`boundcheck.min_flip_step`.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a boundcheck.Network, got {type(net).__name__}")
    return DeepNetwork(weights=[net.W0], a=net.a, biases=None if net.b0 is None else [net.b0],
                       output_bias=net.output_bias, activation="relu", parametrization="custom")


def from_arrays(weights, a, *, biases=None, output_bias=None, activation: str = "relu", multipliers=None,
                output_scale=None) -> DeepNetwork:
    """A :class:`DeepNetwork` from a user's arrays (parametrization ``"custom"``); see the class."""
    return DeepNetwork(weights=weights, a=a, biases=biases, output_bias=output_bias, activation=activation,
                       multipliers=multipliers, output_scale=output_scale, parametrization="custom")


def init_deep_network(d: int, widths, n_inits: int = 1, *, parametrization: str, activation: str = "relu",
                      bias: bool = False, bias_variance: float = 0.5, rng=None) -> DeepNetwork:
    """Draw ``n_inits`` independent random inits of a deep network.

    Parameters
    ----------
    d : int
        Input dimension, >= 1.
    widths : int or sequence of int
        Hidden widths ``(m_1, ..., m_{L-1})``; an int means one hidden layer (L = 2).
    n_inits : int
        K >= 1.
    parametrization : {"bubeck", "ntk"}
        Required (module docstring).
    activation : {"relu", "softplus", "tanh", "gelu"}
    bias : bool
        Draw hidden-layer biases ``N(0, bias_variance)`` (and shrink the weights' variance by
        ``1 - bias_variance``).
    bias_variance : float
        In (0, 1), used only with ``bias=True``.
    rng : None, int, SeedSequence or numpy.random.Generator
        Init k is drawn from the k-th stream spawned from ``rng`` (same whether drawn alone or among many).

    Returns
    -------
    DeepNetwork

    Examples
    --------
    >>> net = init_deep_network(10, [50, 30], n_inits=3, parametrization="bubeck", rng=0)
    >>> net.depth, net.widths, net.weights[1].shape
    (3, (50, 30), (3, 30, 50))
    """
    d = check_int(d, "d", minimum=1)
    if isinstance(widths, (int, np.integer)) and not isinstance(widths, bool):
        widths = [widths]
    if not isinstance(widths, (list, tuple, np.ndarray)) or len(widths) < 1:
        raise TypeError(f"widths must be an int or a non-empty sequence of ints, got {widths!r}")
    widths = tuple(check_int(m, f"widths[{j}]", minimum=1) for j, m in enumerate(widths))
    K = check_int(n_inits, "n_inits", minimum=1)
    check_choice(parametrization, "parametrization", DEEP_PARAMETRIZATIONS)
    check_choice(activation, "activation", ACTIVATIONS)
    if not isinstance(bias, (bool, np.bool_)):
        raise TypeError(f"bias must be a bool, got {bias!r}")
    if bias:
        bias_variance = check_real(bias_variance, "bias_variance", minimum=0.0, maximum=1.0, closed_min=False,
                                   closed_max=False)
    q = activation_second_moment(activation)
    H = len(widths)
    fan_in = (d,) + widths[:-1]
    gains = [1.0] + [1.0 / q] * (H - 1)
    if bias:
        gains = [g * (1.0 - bias_variance) for g in gains]
    streams = check_rng(rng).spawn(K)
    a = np.empty((K, widths[-1]))
    Ws = [np.empty((K, widths[l], fan_in[l])) for l in range(H)]
    bs = [np.empty((K, widths[l])) for l in range(H)] if bias else None
    ntk = parametrization == "ntk"
    for k, gen in enumerate(streams):
        a[k] = np.where(gen.random(widths[-1]) < 0.5, -1.0, 1.0)
        for l in range(H):
            G = gen.standard_normal((widths[l], fan_in[l]))
            Ws[l][k] = G if ntk else G * (np.sqrt(gains[l]) / np.sqrt(fan_in[l]))
        if bias:
            for l in range(H):
                bs[l][k] = gen.standard_normal(widths[l]) * np.sqrt(bias_variance)
    mult = tuple(float(np.sqrt(gains[l]) / np.sqrt(fan_in[l])) for l in range(H)) if ntk else None
    return DeepNetwork(weights=Ws, a=a, biases=bs, activation=activation, multipliers=mult,
                       parametrization=parametrization)


# --------------------------------------------------------------------------------------------------------
# Kernel dispatch: one thread for small work (same numbers either way)
# --------------------------------------------------------------------------------------------------------

def _activate(P, alpha, bias, with_bias, act, Z, H):
    _dk.pick(_dk.activate, _dk.activate_serial, Z.size)(P, alpha, bias, with_bias, act, Z, H)


def _output(H, a, scale, out_bias, f, offset):
    _dk.pick(_dk.output, _dk.output_serial, H.size)(H, a, scale, out_bias, f, offset)


def _top_delta(Z, a, scale, act, D):
    _dk.pick(_dk.top_delta, _dk.top_delta_serial, Z.size)(Z, a, scale, act, D)


def _mul_dphi(G, Z, alpha, act):
    _dk.pick(_dk.mul_dphi, _dk.mul_dphi_serial, G.size)(G, Z, alpha, act)


# --------------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------------

def _check_net(net) -> DeepNetwork:
    if isinstance(net, Network):
        raise TypeError("net must be a boundcheck.deep.DeepNetwork; convert a two-layer Network with "
                        "boundcheck.deep.from_network(net)")
    if not isinstance(net, DeepNetwork):
        raise TypeError(f"net must be a boundcheck.deep.DeepNetwork, got {type(net).__name__}")
    return net


# Points are checked as for a two-layer network (the shared check reads only net.dim).
_check_X = check_points


def _check_weights(net: DeepNetwork, weights, biases):
    if weights is None:
        Ws = net.weights
    else:
        wl = _as_layer_list(weights, "weights")
        if len(wl) != len(net.weights):
            raise ValueError(f"weights must hold one array per hidden layer ({len(net.weights)}), got {len(wl)}")
        Ws = []
        for l, (W, W0) in enumerate(zip(wl, net.weights)):
            W = as_float_array(W, f"weights[{l}]", ndim=3)
            if W.shape != W0.shape:
                raise ValueError(f"weights[{l}] must have the shape of the network's layer, {W0.shape}, got {W.shape}")
            Ws.append(W)
        Ws = tuple(Ws)
    if biases is None:
        bs = net.biases
    else:
        if net.biases is None:
            raise ValueError("biases were given but the network has no biases (net.biases is None)")
        bl = _as_layer_list(biases, "biases")
        if len(bl) != len(net.biases):
            raise ValueError(f"biases must hold one array per hidden layer ({len(net.biases)}), got {len(bl)}")
        bs = []
        for l, (b, b0) in enumerate(zip(bl, net.biases)):
            b = as_float_array(b, f"biases[{l}]", ndim=2)
            if b.shape != b0.shape:
                raise ValueError(f"biases[{l}] must have shape {b0.shape}, got {b.shape}")
            bs.append(b)
        bs = tuple(bs)
    return Ws, bs


def _check_batch(net: DeepNetwork, batch, n: int) -> int:
    if batch is None:
        per_point = 8 * net.n_inits * max(sum(net.widths), net.dim)
        return max(1, min(n, _CHUNK_BYTES // per_point)) if n else 1
    return check_int(batch, "batch", minimum=1)


def _chunks(n: int, batch: int):
    for start in range(0, n, batch):
        yield start, min(n, start + batch)


def _out_bias(net: DeepNetwork) -> np.ndarray:
    return net.output_bias if net.output_bias is not None else np.zeros(net.n_inits)


# --------------------------------------------------------------------------------------------------------
# The passes (BLAS products, compiled element-wise work)
# --------------------------------------------------------------------------------------------------------

def _layers(net: DeepNetwork, Xq: np.ndarray, Ws, bs):
    """Pre-activations Z_l and activations H_l, each (K, N, m_l).

    ``Xq`` is (N, d), shared by all inits (one stacked product for the first layer), or (K, N, d) with
    per-init points (a batched product).
    """
    act = _ACT_ID[net.activation]
    W1 = Ws[0]
    K, m1, d = W1.shape
    if Xq.ndim == 2:
        N = len(Xq)
        P = (Xq @ W1.reshape(K * m1, d).T).reshape(N, K, m1).transpose(1, 0, 2)
    else:
        N = Xq.shape[1]
        P = np.matmul(Xq, W1.transpose(0, 2, 1))
    Zs, Hs = [], []
    for l in range(len(Ws)):
        if l > 0:
            P = np.matmul(Hs[-1], Ws[l].transpose(0, 2, 1))
        m = Ws[l].shape[1]
        Z = np.empty((K, N, m))
        Hh = np.empty((K, N, m))
        _activate(P, net.multipliers[l], _NO_BIAS if bs is None else bs[l], bs is not None, act, Z, Hh)
        Zs.append(Z)
        Hs.append(Hh)
    return Zs, Hs


def _backward(net: DeepNetwork, Ws, Zs):
    """The input gradient (K, N, d) from the stored pre-activations (reverse mode, BLAS products)."""
    act = _ACT_ID[net.activation]
    D = np.empty_like(Zs[-1])
    _top_delta(Zs[-1], net.a, net.output_scale, act, D)
    for l in range(len(Ws) - 1, 0, -1):
        G = np.matmul(D, Ws[l])
        _mul_dphi(G, Zs[l - 1], net.multipliers[l], act)
        D = G
    g = np.matmul(D, Ws[0])
    if net.multipliers[0] != 1.0:
        g *= net.multipliers[0]
    return g


@dataclass(frozen=True, eq=False)
class DeepPass:
    """Forward and input gradient of one pass, and the activation patterns if asked.

    Attributes
    ----------
    forward : ndarray, shape (K, n)
    input_gradient : ndarray, shape (K, n, d)
    patterns : list of ndarray of bool, shape (K, n, m_l), or None
        ``z_l > 0`` per hidden layer (ReLU: the active neurons).
    active_counts : list of ndarray of int64, shape (K, n), or None
        Active neurons per hidden layer.
    """

    forward: np.ndarray
    input_gradient: np.ndarray
    patterns: list | None = None
    active_counts: list | None = None


def deep_pass(net: DeepNetwork, X, weights=None, biases=None, *, patterns: bool = False,
              batch: int | None = None) -> DeepPass:
    """f, grad_x f (and optionally the activation patterns) at every point, for every init.

    Parameters
    ----------
    net : DeepNetwork
    X : array_like, shape (n, d)
    weights : list of array_like, optional
        Weights to use instead of the init (same shapes as ``net.weights``).
    biases : list of array_like, optional
        Biases to use instead of the init's (networks with biases only).
    patterns : bool
        Also return ``z_l > 0`` per layer (memory ``K n sum m_l`` booleans).
    batch : int, optional
        Points per chunk; memory O(3 batch K sum_l m_l) floats.

    Returns
    -------
    DeepPass
    """
    net = _check_net(net)
    X = _check_X(net, X)
    Ws, bs = _check_weights(net, weights, biases)
    if not isinstance(patterns, (bool, np.bool_)):
        raise TypeError(f"patterns must be a bool, got {patterns!r}")
    n = len(X)
    batch = _check_batch(net, batch, n)
    K = net.n_inits
    f = np.empty((K, n))
    grad = np.empty((K, n, net.dim))
    pats = [np.empty((K, n, m), dtype=bool) for m in net.widths] if patterns else None
    for lo, hi in _chunks(n, batch):
        Zs, Hs = _layers(net, X[lo:hi], Ws, bs)
        _output(Hs[-1], net.a, net.output_scale, _out_bias(net), f, lo)
        grad[:, lo:hi] = _backward(net, Ws, Zs)
        if patterns:
            for l, Z in enumerate(Zs):
                pats[l][:, lo:hi] = Z > 0
    counts = [p.sum(axis=-1) for p in pats] if patterns else None
    return DeepPass(forward=f, input_gradient=grad, patterns=pats, active_counts=counts)


def deep_forward(net: DeepNetwork, X, weights=None, biases=None, *, batch: int | None = None) -> np.ndarray:
    """The network's output f(x), shape (K, n). See :func:`deep_pass` for the parameters.

    Examples
    --------
    >>> net = init_deep_network(5, [20, 20], n_inits=2, parametrization="ntk", activation="tanh", rng=0)
    >>> deep_forward(net, np.ones((3, 5))).shape
    (2, 3)
    """
    net = _check_net(net)
    X = _check_X(net, X)
    Ws, bs = _check_weights(net, weights, biases)
    n = len(X)
    batch = _check_batch(net, batch, n)
    f = np.empty((net.n_inits, n))
    for lo, hi in _chunks(n, batch):
        _, Hs = _layers(net, X[lo:hi], Ws, bs)
        _output(Hs[-1], net.a, net.output_scale, _out_bias(net), f, lo)
    return f


def deep_input_gradient(net: DeepNetwork, X, weights=None, biases=None, *, batch: int | None = None) -> np.ndarray:
    """The input gradient grad_x f(x), shape (K, n, d), by reverse mode (``relu'(0) = 0``)."""
    return deep_pass(net, X, weights, biases, batch=batch).input_gradient


def activation_patterns(net: DeepNetwork, X, weights=None, biases=None, *, batch: int | None = None) -> list:
    """Per hidden layer, ``z_l > 0`` as a bool array (K, n, m_l) (for ReLU: which neurons are active)."""
    return deep_pass(net, X, weights, biases, patterns=True, batch=batch).patterns


def _forward_points(net: DeepNetwork, Xq: np.ndarray, Ws, bs) -> np.ndarray:
    """f at per-init points Xq (K, N, d) -> (K, N)."""
    _, Hs = _layers(net, Xq, Ws, bs)
    f = np.empty(Xq.shape[:2])
    _output(Hs[-1], net.a, net.output_scale, _out_bias(net), f, 0)
    return f


# --------------------------------------------------------------------------------------------------------
# The minimal one-step flip
# --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class DeepFlipStep(FlipStep):
    """:class:`~boundcheck.attacks.FlipStep` for deep networks, with how the search went.

    Extra attributes
    ----------------
    pieces : ndarray of int64, shape (K, n), or None
        ReLU: the number of breakpoints (linear pieces) the walk crossed before the flip.
    max_delta : float or None
        Smooth activations: the search range in perturbation norm; ``delta = inf`` (``flipped = False``)
        means no sign change on the grid up to ``max_delta``, not that none exists.
    """

    pieces: np.ndarray | None = None
    max_delta: np.ndarray | None = None


def _flat_upper(Ws, bs, widths):
    K = Ws[0].shape[0]
    u_off = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
    w_off = np.zeros(len(widths), dtype=np.int64)
    parts = []
    pos = 0
    for l in range(1, len(Ws)):
        w_off[l] = pos
        parts.append(Ws[l].reshape(K, -1))
        pos += parts[-1].shape[1]
    Wflat = np.ascontiguousarray(np.concatenate(parts, axis=1)) if parts else np.zeros((K, 1))
    bflat = np.ascontiguousarray(np.concatenate(bs, axis=1)) if bs is not None else np.zeros((K, 1))
    return Wflat, w_off, bflat, u_off


def deep_min_flip_step(net: DeepNetwork, X, weights=None, biases=None, *, walk: str = "auto",
                       max_pieces: int | None = None, resolution: int = 16, max_delta: float | None = None,
                       max_grid: int = 4096, batch: int | None = None) -> DeepFlipStep:
    """Smallest eta* of ``x' = x - eta sign(f(x)) grad_x f(x)`` that flips the sign of f (sign(0) := +1).

    The ray is ``x + t u``, ``u = -sign(f(x)) grad f / ||grad f||``, ``t = eta ||grad f||`` (the
    perturbation norm), exactly as :func:`boundcheck.min_flip_step`: for ``f(x) < 0`` the minimal flip is
    where f reaches 0, for ``f(x) >= 0`` the infimum of the steps with ``f < 0``.

    ReLU (exact): f is piecewise linear along the ray. The walk goes from breakpoint to breakpoint, a
    breakpoint being any pre-activation of any layer crossing zero; on each piece the pre-activations of
    every layer are recomputed as affine functions of t under the fixed patterns, and the first piece on
    which f changes sign gives eta* in closed form (``+inf`` if none; NaN only past ``max_pieces``).
    With ``L = 2`` the default walk is the two-layer scan of :func:`boundcheck.min_flip_step` (sorted
    breakpoints, O(m log m)), so the numbers are bitwise the same; ``walk="layers"`` forces the general
    walk.

    Smooth activations (bracketed root): f is evaluated along the ray on a grid of spacing
    ``h = max(t_lin / resolution, max_delta / max_grid)`` (``t_lin = |f| / ||grad f||``, the linearized
    root) up to ``max_delta``, which is a grid point too; the first grid cell where the sign changes is
    refined by a safeguarded regula falsi (Illinois, with a bisection every third step) until the bracket
    is two adjacent floats.
    The result is the first sign change on the grid, to machine precision; two crossings closer than h
    would be missed (then the result is a larger flipping step, never a non-flipping one).

    Parameters
    ----------
    net : DeepNetwork
    X : array_like, shape (n, d)
    weights, biases : list of array_like, optional
        Weights and biases instead of the init's.
    walk : {"auto", "layers"}
        ReLU only: ``"auto"`` uses the two-layer scan when L = 2, ``"layers"`` always the layer walk.
    max_pieces : int, optional
        ReLU: cap on the pieces walked per point (default ``1000 * (sum m_l + 10)``).
    resolution : int
        Smooth: grid points per linearized root.
    max_delta : float, optional
        Smooth: search range in perturbation norm (default ``4 ||x|| + 4 t_lin`` per point).
    max_grid : int
        Smooth: most grid points per point.
    batch : int, optional
        Points per chunk (memory O(batch K (sum m_l + d))).

    Returns
    -------
    DeepFlipStep
        ``eta``, ``delta``, ``grad_norm``, ``f``, ``flipped`` (K, n), ``direction`` (K, n, d),
        ``method`` ``"exact"`` (ReLU) or ``"root"`` (smooth), ``pieces`` (ReLU), ``max_delta`` (smooth).

    Examples
    --------
    >>> net = init_deep_network(20, [100, 100], parametrization="bubeck", rng=0)
    >>> X = np.sqrt(20) * np.eye(20)[:3]
    >>> res = deep_min_flip_step(net, X)
    >>> res.eta.shape, bool(res.flipped.all())
    ((1, 3), True)
    """
    net = _check_net(net)
    X = _check_X(net, X)
    Ws, bs = _check_weights(net, weights, biases)
    check_choice(walk, "walk", ("auto", "layers"))
    M = sum(net.widths)
    max_pieces = 1000 * (M + 10) if max_pieces is None else check_int(max_pieces, "max_pieces", minimum=1)
    resolution = check_int(resolution, "resolution", minimum=1)
    max_grid = check_int(max_grid, "max_grid", minimum=2)
    if max_delta is not None:
        max_delta = check_real(max_delta, "max_delta", minimum=0.0, closed_min=False)
    n = len(X)
    K, d = net.n_inits, net.dim
    if batch is None:
        batch = max(1, min(n, _CHUNK_BYTES // (8 * K * (3 * M + 2 * d)))) if n else 1
    else:
        batch = check_int(batch, "batch", minimum=1)
    relu = net.activation == "relu"
    f = np.empty((K, n))
    gnorm = np.empty((K, n))
    U = np.empty((K, n, d))
    t = np.empty((K, n))
    pieces = np.zeros((K, n), dtype=np.int64)
    c = _out_bias(net)
    if relu:
        Wflat, w_off, bflat, u_off = _flat_upper(Ws, bs, net.widths)
        alphas = np.asarray(net.multipliers, dtype=float)
    for lo, hi in _chunks(n, batch):
        Xc = X[lo:hi]
        Zs, Hs = _layers(net, Xc, Ws, bs)
        _output(Hs[-1], net.a, net.output_scale, c, f, lo)
        g = _backward(net, Ws, Zs)
        unit, gnorm[:, lo:hi] = unit_rows(g)
        sgn = np.where(f[:, lo:hi] >= 0, -1.0, 1.0)
        U[:, lo:hi] = sgn[..., None] * unit
        if not relu:
            continue
        slope = np.matmul(U[:, lo:hi], Ws[0].transpose(0, 2, 1))
        if net.multipliers[0] != 1.0:
            slope *= net.multipliers[0]
        if len(Ws) == 1 and walk == "auto":
            f_again = np.empty((K, n))
            _attack_kernels.ray_first_flip(Zs[0].transpose(1, 0, 2), slope, net.a, c, net.output_scale, t,
                                           f_again, lo)
        else:
            t_c = np.empty((K, hi - lo))
            p_c = np.empty((K, hi - lo), dtype=np.int64)
            _dk.ray_walk(Zs[0], slope, Wflat, w_off, bflat, bs is not None, alphas, u_off, net.a, c,
                         net.output_scale, np.ascontiguousarray(f[:, lo:hi]), max_pieces, t_c, p_c)
            t[:, lo:hi] = t_c
            pieces[:, lo:hi] = p_c
    md = None
    if not relu:
        xnorm = unit_rows(X)[1]
        t, md = _smooth_search(net, X, Ws, bs, U, f, gnorm, xnorm, resolution, max_delta, max_grid)
    delta = t
    flipped = np.isfinite(t)
    safe = np.where(gnorm > 0, gnorm, 1.0)
    eta = np.where(delta == 0, 0.0, np.where(gnorm > 0, delta / safe, np.inf))
    return DeepFlipStep(eta=eta, delta=delta, grad_norm=gnorm, f=f, flipped=flipped, direction=U,
                        method="exact" if relu else "root", searched=np.ones((K, n), dtype=bool),
                        pieces=pieces if relu else None, max_delta=md)


def _smooth_search(net, X, Ws, bs, U, f0, gnorm, xnorm, resolution, max_delta, max_grid, block: int = 16):
    """First sign change of f along x + t u on a grid, refined to adjacent floats (see deep_min_flip_step).

    Vectorized over all (init, point) pairs: each grid block and each refinement step is one forward pass of
    the K inits on their own points (a batched product per layer).
    """
    K, n, d = U.shape
    t_lin = np.where(gnorm > 0, np.abs(f0) / np.where(gnorm > 0, gnorm, 1.0), np.inf)
    if max_delta is None:
        md = 4.0 * xnorm[None, :] + 4.0 * np.where(np.isfinite(t_lin), t_lin, 0.0)
    else:
        md = np.full((K, n), max_delta)
    h = np.maximum(np.where(np.isfinite(t_lin), t_lin, 0.0) / resolution, md / max_grid)
    out = np.full((K, n), np.inf)
    positive = f0 >= 0
    out[(gnorm > 0) & (f0 == 0)] = 0.0  # f = 0, the ray heads down at once: every t > 0 flips
    todo = (gnorm > 0) & (f0 != 0)
    lo_t = np.zeros((K, n))
    hi_t = np.full((K, n), np.inf)

    def fk(ts):  # ts (K, n, B) -> f (K, n, B) at x_i + t u_{k,i}
        B = ts.shape[-1]
        pts = X[None, :, None, :] + ts[..., None] * U[:, :, None, :]
        return _forward_points(net, pts.reshape(K, n * B, d), Ws, bs).reshape(K, n, B)

    def fk_rows(rows, ts):  # rows (K, r) point indices per init, ts (K, r, B) -> f (K, r, B)
        r, B = ts.shape[1:]
        Xr = X[rows]                                                    # (K, r, d)
        Ur = np.take_along_axis(U, rows[..., None], 1)
        pts = Xr[:, :, None, :] + ts[..., None] * Ur[:, :, None, :]
        return _forward_points(net, pts.reshape(K, r * B, d), Ws, bs).reshape(K, r, B)

    j0 = 0
    searching = todo.copy()
    while searching.any():
        # only the pairs still searching are evaluated (padded per init to the largest count)
        counts = searching.sum(axis=1)
        r = int(counts.max())
        rows = np.zeros((K, r), dtype=np.int64)
        valid = np.zeros((K, r), dtype=bool)
        for k in range(K):
            idx = np.flatnonzero(searching[k])
            rows[k, :idx.size] = idx
            valid[k, :idx.size] = True
        J = np.arange(j0 + 1, j0 + block + 1, dtype=float)
        hk = np.take_along_axis(h, rows, 1)
        mdk = np.take_along_axis(md, rows, 1)[..., None]
        raw = hk[..., None] * J                                         # (K, r, B)
        # the grid is h, 2h, ... and max_delta itself: the last cell is cut at max_delta, so a crossing
        # in [0, max_delta] is never skipped because h > max_delta (e.g. t_lin / resolution >> max_delta
        # where f saturates, as tanh does)
        ts = np.minimum(raw, mdk)
        inside = raw - hk[..., None] < mdk
        fv = fk_rows(rows, ts)
        pos = np.take_along_axis(positive, rows, 1)
        hit = np.where(pos[..., None], fv < 0, fv >= 0) & inside & valid[..., None]
        any_hit = hit.any(axis=-1)
        first = np.argmax(hit, axis=-1)
        t_hit = np.take_along_axis(ts, first[..., None], -1)[..., 0]
        kk, jj = np.nonzero(any_hit)
        ii = rows[kk, jj]
        hi_t[kk, ii] = t_hit[kk, jj]
        raw_hit = np.take_along_axis(raw, first[..., None], -1)[..., 0]
        lo_t[kk, ii] = np.maximum(raw_hit[kk, jj] - hk[kk, jj], 0.0)    # the previous grid point
        searching[kk, ii] = False
        kk, jj = np.nonzero(valid & ~any_hit & ~inside[..., -1])          # searched up to max_delta: none
        searching[kk, rows[kk, jj]] = False
        j0 += block
    found = np.isfinite(hi_t)
    if found.any():
        out = np.where(found, _refine(fk, lo_t, np.where(found, hi_t, 1.0), positive, found), out)
    return out, md


def _refine(fk, lo, hi, positive, active0, max_iter: int = 400):
    """Shrink brackets [lo, hi] (f(lo) unflipped, f(hi) flipped) to adjacent floats; returns hi.

    Works on ``g = f`` (f(x) >= 0: flipped iff g < 0) or ``g = -f`` (f(x) < 0: flipped iff g <= 0), so
    ``g(lo) >= 0 >= g(hi)``. Illinois regula falsi (the stale end's value is halved when the same end
    moves twice), with a bisection every third step: the bracket halves at least every three steps.
    Arrays are (K, n); ``active0`` marks the pairs to refine.
    """
    lo = lo.copy()
    hi = hi.copy()

    def g(ts):
        v = fk(ts[..., None])[..., 0]
        return np.where(positive, v, -v)

    glo = g(lo)
    ghi = g(hi)
    last = np.zeros(lo.shape, dtype=np.int64)
    for it in range(max_iter):
        active = active0 & (np.nextafter(lo, np.inf) < hi)
        if not active.any():
            break
        den = glo - ghi
        mid = np.where(den > 0, lo + (hi - lo) * (glo / np.where(den > 0, den, 1.0)), 0.5 * (lo + hi))
        if it % 3 == 2:
            mid = 0.5 * (lo + hi)
        mid = np.where((mid > lo) & (mid < hi), mid, 0.5 * (lo + hi))
        mid = np.where(active, mid, lo)
        gm = g(mid)
        flipped = np.where(positive, gm < 0, gm <= 0)
        upd_hi = active & flipped
        upd_lo = active & ~flipped
        glo = np.where(upd_hi & (last == 1), 0.5 * glo, glo)
        ghi = np.where(upd_lo & (last == -1), 0.5 * ghi, ghi)
        hi = np.where(upd_hi, mid, hi)
        ghi = np.where(upd_hi, gm, ghi)
        lo = np.where(upd_lo, mid, lo)
        glo = np.where(upd_lo, gm, glo)
        last = np.where(upd_hi, 1, np.where(upd_lo, -1, last))
    return hi


# --------------------------------------------------------------------------------------------------------
# Plain-numpy references (slow, obviously correct; for the tests)
# --------------------------------------------------------------------------------------------------------

def _reference_forward(net: DeepNetwork, X, weights=None, biases=None) -> np.ndarray:
    """f(x) by loops over inits and points, layer by layer, with numpy/scipy activations. Shape (K, n)."""
    Ws = net.weights if weights is None else weights
    bs = net.biases if biases is None else biases
    K = net.n_inits
    out = np.zeros((K, len(X)))
    for k in range(K):
        for i, x in enumerate(np.asarray(X, float)):
            h = x
            for l, W in enumerate(Ws):
                z = net.multipliers[l] * (np.asarray(W[k]) @ h)
                if bs is not None:
                    z = z + bs[l][k]
                h = _np_phi(z, net.activation)
            out[k, i] = net.output_scale * float(np.dot(net.a[k], h))
            if net.output_bias is not None:
                out[k, i] += net.output_bias[k]
    return out


def _reference_input_gradient(net: DeepNetwork, X, weights=None, biases=None) -> np.ndarray:
    """grad_x f by forward-mode Jacobians: ``J_1 = alpha_1 W_1``, ``J_l = alpha_l W_l diag(phi'(z_{l-1})) J_{l-1}``,
    ``grad = s a diag(phi'(z_{L-1})) J_{L-1}`` (a different algorithm from the reverse mode). (K, n, d)."""
    Ws = net.weights if weights is None else weights
    bs = net.biases if biases is None else biases
    K, d = net.n_inits, net.dim
    out = np.zeros((K, len(X), d))
    for k in range(K):
        for i, x in enumerate(np.asarray(X, float)):
            h = x
            J = np.eye(d)
            for l, W in enumerate(Ws):
                Wk = np.asarray(W[k])
                if l > 0:
                    J = np.diag(_np_dphi(z, net.activation)) @ J  # noqa: F821 (z of the layer below)
                J = net.multipliers[l] * (Wk @ J)
                z = net.multipliers[l] * (Wk @ h)
                if bs is not None:
                    z = z + bs[l][k]
                h = _np_phi(z, net.activation)
            out[k, i] = net.output_scale * ((net.a[k] * _np_dphi(z, net.activation)) @ J)
    return out
