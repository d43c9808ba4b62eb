"""Hypothesis strategies for networks, inputs and lazy perturbations, for users and for our own tests.

A researcher can property-test a lemma of their own::

    from hypothesis import given
    from boundcheck.testing import networks, inputs_for, lazy_weights_for
    import hypothesis.strategies as st

    @given(st.data())
    def test_my_lemma(data):
        net = data.draw(networks(parametrization="theory"))
        X = data.draw(inputs_for(net, on_sphere=True))
        ...

Networks come in two flavours: Gaussian inits drawn by :func:`boundcheck.init_network` from a drawn seed,
and small-integer weights (``integer=True``), whose pre-activations on integer inputs are exact and hit the
kink ``w . x = 0`` exactly, so that tie conventions get exercised.

Call :func:`register_profiles` (our ``tests/conftest.py`` does) to get the ``"boundcheck"`` profile: no
per-example deadline, since the first call of each compiled kernel includes its JIT compilation.
"""

from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

from .network import PARAMETRIZATIONS, Network, init_network

__all__ = ["networks", "inputs_for", "lazy_weights_for", "radii", "seeds", "register_profiles"]


def register_profiles() -> None:
    """Register and load the ``"boundcheck"`` Hypothesis profile (no deadline: JIT warm-up).

    Also registers ``"boundcheck-ci"``: fewer examples, derandomized (fixed examples, reproducible runs).
    Our ``tests/conftest.py`` loads it when the environment variable ``CI`` is set, as ``.ci/run`` does.
    """
    settings.register_profile("boundcheck", deadline=None, max_examples=60, print_blob=True)
    # CI: derandomized, so a run is reproducible and a red CI is a real regression, not a newly drawn example
    settings.register_profile("boundcheck-ci", deadline=None, max_examples=30, print_blob=True, derandomize=True,
                              database=None)
    settings.load_profile("boundcheck")


def seeds() -> st.SearchStrategy[int]:
    """Integer seeds for ``numpy.random.default_rng``."""
    return st.integers(min_value=0, max_value=2**32 - 1)


def radii(max_radius: float = 2.0) -> st.SearchStrategy[float]:
    """Lazy-ball radii in [0, max_radius], including 0 and max_radius."""
    return st.one_of(st.just(0.0), st.just(float(max_radius)),
                     st.floats(0.0, max_radius, allow_nan=False, allow_infinity=False))


@st.composite
def networks(draw, *, parametrization=None, max_inits: int = 3, max_width: int = 8, max_dim: int = 5,
             integer: bool | None = None, bias: bool | None = None) -> Network:
    """Small networks: any parametrization, shapes from 1 up to the given maxima.

    Parameters
    ----------
    parametrization : str, optional
        One of ``PARAMETRIZATIONS``; drawn when None. Ignored for integer networks (``"custom"``).
    max_inits, max_width, max_dim : int
        Largest K, m, d drawn (each >= 1).
    integer : bool, optional
        Small-integer weights (exact ties); drawn when None.
    bias : bool, optional
        Only for integer networks: whether to add first-layer biases; when None, follows
        ``parametrization`` if given (biases only for ``"paper_code"``), else drawn.
    """
    K = draw(st.integers(1, max_inits))
    m = draw(st.integers(1, max_width))
    d = draw(st.integers(1, max_dim))
    if integer is None:
        integer = draw(st.booleans())
    if not integer:
        par = parametrization or draw(st.sampled_from(PARAMETRIZATIONS))
        return init_network(d, m, n_inits=K, parametrization=par, rng=draw(seeds()))
    ints = st.integers(-2, 2)
    W0 = np.array(draw(st.lists(ints, min_size=K * m * d, max_size=K * m * d)), float).reshape(K, m, d)
    a = np.array(draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=K * m, max_size=K * m))).reshape(K, m)
    if bias is None and parametrization is not None:
        bias = parametrization == "paper_code"  # integer weights, but the parametrization's bias convention
    with_bias = draw(st.booleans()) if bias is None else bias
    b0 = (np.array(draw(st.lists(ints, min_size=K * m, max_size=K * m)), float).reshape(K, m)
          if with_bias else None)
    return Network(a=a, W0=W0, b0=b0)


@st.composite
def inputs_for(draw, net: Network, *, max_points: int = 4, on_sphere: bool | None = None,
               radius: float | None = None, integer: bool | None = None) -> np.ndarray:
    """Inputs (n, d) for ``net``: on or off the sphere, including zero rows and integer rows (exact ties).

    Parameters
    ----------
    net : Network
    max_points : int
        Largest n drawn.
    on_sphere : bool, optional
        Rows of norm ``radius`` (default: the parametrization's input radius, else 1). Drawn when None.
    integer : bool, optional
        Small-integer rows, which meet integer weights exactly at the kink; drawn when None (off-sphere).
    """
    n = draw(st.integers(1, max_points))
    d = net.dim
    if on_sphere is None:
        on_sphere = draw(st.booleans())
    if radius is None:
        radius = net.input_radius or 1.0
    if on_sphere:
        rng = np.random.default_rng(draw(seeds()))
        X = rng.standard_normal((n, d))
        return radius * X / np.linalg.norm(X, axis=1, keepdims=True)
    if integer is None:
        integer = draw(st.booleans())
    if integer:
        vals = draw(st.lists(st.integers(-2, 2), min_size=n * d, max_size=n * d))
        return np.array(vals, float).reshape(n, d)
    vals = draw(st.lists(st.floats(-3, 3, allow_nan=False, allow_infinity=False, width=64),
                         min_size=n * d, max_size=n * d))
    return np.array(vals, float).reshape(n, d)


@st.composite
def lazy_weights_for(draw, net: Network, radius: float, *, where: str | None = None):
    """Weights W (K, m, d) (and biases b, or None) relative to the lazy ball of ``radius`` around W0.

    Parameters
    ----------
    where : {"inside", "on", "outside"}, optional
        ``"inside"``: every row within the ball; ``"on"``: every row exactly at distance ``radius`` (to
        rounding); ``"outside"``: at least one row at distance > ``radius``. Drawn when None.

    Returns
    -------
    tuple
        ``(W, b, where)`` with ``b`` None for networks without biases.
    """
    if where is None:
        where = draw(st.sampled_from(["inside", "on", "outside"]))
    rng = np.random.default_rng(draw(seeds()))
    K, m, d = net.W0.shape
    p = d + (1 if net.has_bias else 0)
    D = rng.standard_normal((K, m, p))
    norms = np.linalg.norm(D, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    U = D / norms
    if where == "inside":
        lengths = radius * rng.random((K, m, 1))
    elif where == "on":
        lengths = np.full((K, m, 1), radius)
    elif where == "outside":
        lengths = radius * rng.random((K, m, 1))
        k, s = rng.integers(K), rng.integers(m)
        lengths[k, s, 0] = radius * (1.0 + rng.random()) + 1e-3
    else:
        raise ValueError(f"where must be 'inside', 'on' or 'outside', got {where!r}")
    D = U * lengths
    W = net.W0 + D[..., :d]
    b = (net.b0 + D[..., d]) if net.has_bias else None
    if where == "inside":  # w0 + delta rounds: make "inside" hold exactly, not only before rounding
        from ._numeric import into_ball

        if net.has_bias:
            rows = into_ball(np.concatenate([W, b[..., None]], axis=-1),
                             np.concatenate([net.W0, net.b0[..., None]], axis=-1), radius)
            W, b = np.ascontiguousarray(rows[..., :d]), np.ascontiguousarray(rows[..., d])
        else:
            W = into_ball(W, net.W0, radius)
    return W, b, where
