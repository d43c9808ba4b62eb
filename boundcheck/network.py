"""The two-layer ReLU network, holding K independent inits at once.

``f(x; W) = (1/sqrt(m)) * sum_s a_s * relu(w_s . x + b_s) + c``

where ``a`` is the fixed top layer (``(K, m)``), ``W`` the first layer (``(K, m, d)``, rows are neurons),
``b`` optional first-layer biases (``(K, m)``) and ``c`` an optional output bias (``(K,)``). The top layer
is never trained (Wang et al. 2022, Def. 2.1).

Three parametrizations are named, and one must always be chosen explicitly:

``"theory"``
    Wang et al. 2022, Def. 2.1: ``a_s ~ Unif{-1,+1}``, ``w_s ~ N(0, I_d)``, no biases; inputs on the unit
    sphere, so ``w_s . x ~ N(0, 1)``.
``"bubeck"``
    Bubeck et al. 2021: ``w_s ~ N(0, I_d / d)``, no biases; inputs on the sphere of radius ``sqrt(d)``.
``"paper_code"``
    The authors' public code: ``w_s ~ N(0, I_d)``, ``b_s ~ N(0, 1)``, output bias ``+-1/sqrt(m)`` (its
    own random sign), raw (unnormalized) inputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ._validate import as_float_array, check_choice, check_int, check_real, check_rng

__all__ = ["Network", "init_network", "PARAMETRIZATIONS", "sample_sphere", "lazy_radius"]

PARAMETRIZATIONS = ("theory", "bubeck", "paper_code")


def first_layer(W0) -> np.ndarray:
    """Standardize a first layer: float64 ``(K, m, d)`` (a 2-D ``(m, d)`` array means K = 1), all >= 1."""
    W0 = as_float_array(W0, "W0", ndim=(2, 3))
    if W0.ndim == 2:
        W0 = W0[None]
    if min(W0.shape) < 1:
        raise ValueError(f"W0 must have K >= 1 inits, m >= 1 neurons and d >= 1 inputs, got shape {W0.shape}")
    return W0


class FirstLayerShape:
    """The shape of a stacked first layer ``W0`` of shape (K, m, d), shared by the two-layer models."""

    @property
    def n_inits(self) -> int:
        """K, the number of independent inits."""
        return self.W0.shape[0]

    @property
    def width(self) -> int:
        """m, the number of hidden neurons."""
        return self.W0.shape[1]

    @property
    def dim(self) -> int:
        """d, the input dimension."""
        return self.W0.shape[2]


@dataclass(frozen=True, eq=False)
class Network(FirstLayerShape):
    """K independent two-layer ReLU networks of the same shape.

    Parameters
    ----------
    a : array_like, shape (K, m) or (m,)
        Top layer (fixed). Usually entries in {-1, +1}; any finite reals are accepted, so that any
        trained two-layer network can be checked. A 1-D array means K = 1.
    W0 : array_like, shape (K, m, d) or (m, d)
        First layer at initialization (the center of the lazy ball); row ``s`` is neuron ``w_s``.
    b0 : array_like, shape (K, m) or (m,), optional
        First-layer biases at initialization. ``None`` means no biases.
    output_bias : array_like, shape (K,) or scalar, optional
        Fixed output bias ``c``. ``None`` means none.
    parametrization : str
        A label: one of ``PARAMETRIZATIONS`` or ``"custom"`` (default) for user arrays.

    Notes
    -----
    Arrays are stored as C-contiguous float64. The network is immutable; weights that move during
    training or inside the lazy ball are passed separately to the operations (``W=``, ``b=``).
    """

    a: np.ndarray
    W0: np.ndarray
    b0: np.ndarray | None = None
    output_bias: np.ndarray | None = None
    parametrization: str = "custom"

    def __post_init__(self):
        W0 = first_layer(self.W0)
        K, m, d = W0.shape
        a = as_float_array(self.a, "a", ndim=(1, 2))
        if a.ndim == 1:
            a = a[None]
        if a.shape != (K, m):
            raise ValueError(f"a must have shape (K, m) = ({K}, {m}) to match W0, got {a.shape}")
        b0 = self.b0
        if b0 is not None:
            b0 = as_float_array(b0, "b0", ndim=(1, 2))
            if b0.ndim == 1:
                b0 = b0[None]
            if b0.shape != (K, m):
                raise ValueError(f"b0 must have shape (K, m) = ({K}, {m}) to match W0, got {b0.shape}")
        c = self.output_bias
        if c is not None:
            c = as_float_array(c, "output_bias", ndim=(0, 1)).reshape(-1)
            if c.shape == (1,) and K > 1:
                c = np.repeat(c, K)
            if c.shape != (K,):
                raise ValueError(f"output_bias must be a scalar or have shape (K,) = ({K},), got {c.shape}")
        check_choice(self.parametrization, "parametrization", PARAMETRIZATIONS + ("custom",))
        for arr in (a, W0, b0, c):
            if arr is not None:
                arr.setflags(write=False)
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "W0", W0)
        object.__setattr__(self, "b0", b0)
        object.__setattr__(self, "output_bias", c)

    @property
    def has_bias(self) -> bool:
        """Whether the first layer has biases (then lazy-ball rows are ``[w_s, b_s]``)."""
        return self.b0 is not None

    @property
    def input_radius(self) -> float | None:
        """The input norm the parametrization assumes (1, sqrt(d)), or None for raw inputs."""
        if self.parametrization == "theory":
            return 1.0
        if self.parametrization == "bubeck":
            return float(np.sqrt(self.dim))
        return None

    def select(self, inits) -> "Network":
        """Return the network made of the given init indices (an int or a sequence of ints)."""
        idx = np.atleast_1d(np.asarray(inits))
        if idx.dtype.kind not in "iu":
            raise TypeError(f"inits must be integer indices, got dtype {idx.dtype}")
        if idx.size and (idx.min() < -self.n_inits or idx.max() >= self.n_inits):
            raise ValueError(f"inits must be in [0, {self.n_inits}), got {idx.tolist()}")
        return Network(
            a=self.a[idx], W0=self.W0[idx],
            b0=None if self.b0 is None else self.b0[idx],
            output_bias=None if self.output_bias is None else self.output_bias[idx],
            parametrization=self.parametrization)

    def __repr__(self) -> str:
        return (f"Network(K={self.n_inits}, m={self.width}, d={self.dim}, "
                f"parametrization={self.parametrization!r}, bias={self.has_bias})")


#: Memory of one spawned random stream (a Generator, its bit generator and seed sequence), measured.
_STREAM_BYTES = 1024


def _available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux: MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _check_init_memory(d: int, m: int, K: int, with_bias: bool) -> None:
    """Refuse, before drawing anything, an init that cannot fit: its weights plus one stream per init."""
    need = 8 * K * m * (d + 1 + (1 if with_bias else 0)) + 8 * K + _STREAM_BYTES * K
    available = _available_memory()
    if available is not None and need > available:
        raise MemoryError(f"init_network(d={d}, m={m}, n_inits={K}) needs about {need / 2**30:.3g} GiB (the weights "
                          f"and one random stream per init), more than the {available / 2**30:.3g} GiB available; "
                          "draw fewer inits at a time")


def init_network(d: int, m: int, n_inits: int = 1, *, parametrization: str, rng=None) -> Network:
    """Draw ``n_inits`` independent random inits of a two-layer ReLU network.

    Parameters
    ----------
    d : int
        Input dimension, >= 1.
    m : int
        Width (number of hidden neurons), >= 1.
    n_inits : int
        K, the number of independent inits, >= 1.
    parametrization : {"theory", "bubeck", "paper_code"}
        Required, never implied (see the module docstring).
    rng : None, int, SeedSequence or numpy.random.Generator
        Source of randomness (SPEC 7). Init ``k`` is drawn from the ``k``-th stream spawned from ``rng``,
        so it is the same whether drawn alone or among many, and whatever the thread count.

    Returns
    -------
    Network
        With ``a`` (K, m), ``W0`` (K, m, d) and, for ``"paper_code"``, ``b0`` (K, m) and
        ``output_bias`` (K,).

    Examples
    --------
    >>> net = init_network(10, 100, n_inits=4, parametrization="theory", rng=0)
    >>> net.W0.shape
    (4, 100, 10)
    """
    d = check_int(d, "d", minimum=1)
    m = check_int(m, "m", minimum=1)
    K = check_int(n_inits, "n_inits", minimum=1)
    check_choice(parametrization, "parametrization", PARAMETRIZATIONS)
    _check_init_memory(d, m, K, parametrization == "paper_code")
    streams = check_rng(rng).spawn(K)
    a = np.empty((K, m))
    W0 = np.empty((K, m, d))
    with_bias = parametrization == "paper_code"
    b0 = np.empty((K, m)) if with_bias else None
    c = np.empty(K) if with_bias else None
    scale = 1.0 / np.sqrt(d) if parametrization == "bubeck" else 1.0
    for k, gen in enumerate(streams):
        a[k] = np.where(gen.random(m) < 0.5, -1.0, 1.0)
        W0[k] = gen.standard_normal((m, d)) * scale
        if with_bias:
            b0[k] = gen.standard_normal(m)
            c[k] = (1.0 if gen.random() < 0.5 else -1.0) / np.sqrt(m)
    return Network(a=a, W0=W0, b0=b0, output_bias=c, parametrization=parametrization)


def sample_sphere(n: int, d: int, *, radius: float = 1.0, rng=None) -> np.ndarray:
    """Draw ``n`` points uniformly on the sphere of the given radius in R^d.

    Returns
    -------
    ndarray, shape (n, d)
    """
    n = check_int(n, "n", minimum=1)
    d = check_int(d, "d", minimum=1)
    radius = check_real(radius, "radius", minimum=0.0)
    gen = check_rng(rng)
    X = gen.standard_normal((n, d))
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return radius * X / norms


def lazy_radius(C0: float, m: int) -> float:
    """The lazy-ball radius R = C0 / sqrt(m) of Wang et al. 2022, Def. 2.1."""
    C0 = check_real(C0, "C0", minimum=0.0)
    m = check_int(m, "m", minimum=1)
    return C0 / np.sqrt(m)
