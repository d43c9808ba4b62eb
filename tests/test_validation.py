"""One test per bad parameter of each public function of the core, each asserting its message.

Also: non-finite inputs are refused everywhere, and the degenerate cases (a zero gradient, an all-inactive
layer, d = 1, the zero input, radius 0, no points) give finite answers of the right shapes.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import boundcheck as bc
from boundcheck.lazy import WorstCase

NET = bc.init_network(3, 4, 2, parametrization="theory", rng=0)         # K=2, m=4, d=3, no biases
NETB = bc.init_network(3, 4, 2, parametrization="paper_code", rng=0)    # with biases
X = bc.sample_sphere(5, 3, rng=1)
W = NET.W0 + 0.1
B = NETB.b0 + 0.1


def with_value(arr, index, value):
    out = np.array(arr, dtype=float)
    out[index] = value
    return out


NAN_X, INF_X = with_value(X, (0, 0), np.nan), with_value(X, (1, 2), -np.inf)
NAN_W, INF_W = with_value(W, (0, 1, 2), np.nan), with_value(W, (1, 0, 0), np.inf)
NAN_B = with_value(B, (0, 0), np.nan)

FINITE = "must contain only finite values (found NaN or inf)"
RNG_TYPE = "rng must be None, an int seed, a SeedSequence or a numpy Generator, got"


def case(label, call, exc, message):
    """A bad call, the exception it must raise and a substring of its message."""
    return pytest.param(call, exc, message, id=label)


def named(prefix, cases):
    """The cases with the function's name in their test ids."""
    return [pytest.param(*c.values, id=f"{prefix}: {c.id}") for c in cases]


def check(call, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        call()


# ------------------------------------------------------------------------------------------ network.py

INIT_NETWORK = [
    case("d=0", lambda: bc.init_network(0, 4, parametrization="theory"), ValueError, "d must be >= 1, got 0"),
    case("d=-2", lambda: bc.init_network(-2, 4, parametrization="theory"), ValueError, "d must be >= 1, got -2"),
    case("d float", lambda: bc.init_network(3.0, 4, parametrization="theory"), TypeError,
         "d must be an integer, got 3.0 of type float"),
    case("d str", lambda: bc.init_network("3", 4, parametrization="theory"), TypeError,
         "d must be an integer, got '3' of type str"),
    case("d bool", lambda: bc.init_network(True, 4, parametrization="theory"), TypeError,
         "d must be an integer, got True of type bool"),
    case("m=0", lambda: bc.init_network(3, 0, parametrization="theory"), ValueError, "m must be >= 1, got 0"),
    case("m None", lambda: bc.init_network(3, None, parametrization="theory"), TypeError,
         "m must be an integer, got None of type NoneType"),
    case("n_inits=0", lambda: bc.init_network(3, 4, 0, parametrization="theory"), ValueError,
         "n_inits must be >= 1, got 0"),
    case("n_inits float", lambda: bc.init_network(3, 4, 2.5, parametrization="theory"), TypeError,
         "n_inits must be an integer, got 2.5"),
    case("parametrization missing", lambda: bc.init_network(3, 4), TypeError,
         "missing 1 required keyword-only argument: 'parametrization'"),
    case("parametrization unknown", lambda: bc.init_network(3, 4, parametrization="ntk"), ValueError,
         "parametrization must be one of 'theory', 'bubeck', 'paper_code', got 'ntk'"),
    case("parametrization custom", lambda: bc.init_network(3, 4, parametrization="custom"), ValueError,
         "parametrization must be one of 'theory', 'bubeck', 'paper_code', got 'custom'"),
    case("rng negative", lambda: bc.init_network(3, 4, parametrization="theory", rng=-1), ValueError,
         "rng seed must be a non-negative integer, got -1"),
    case("rng str", lambda: bc.init_network(3, 4, parametrization="theory", rng="0"), TypeError, RNG_TYPE + " str"),
    case("rng float", lambda: bc.init_network(3, 4, parametrization="theory", rng=0.5), TypeError,
         RNG_TYPE + " float"),
    case("rng bool", lambda: bc.init_network(3, 4, parametrization="theory", rng=True), TypeError,
         RNG_TYPE + " a bool"),
]

A, W0 = NET.a, NET.W0
NETWORK = [
    case("W0 1-D", lambda: bc.Network(a=A[0], W0=W0[0, 0]), ValueError,
         "W0 must have 2 or 3 dimension(s), got shape (3,)"),
    case("W0 4-D", lambda: bc.Network(a=A, W0=W0[None]), ValueError,
         "W0 must have 2 or 3 dimension(s), got shape (1, 2, 4, 3)"),
    case("W0 no neurons", lambda: bc.Network(a=np.ones((1, 0)), W0=np.ones((1, 0, 3))), ValueError,
         "W0 must have K >= 1 inits, m >= 1 neurons and d >= 1 inputs, got shape (1, 0, 3)"),
    case("W0 no inputs", lambda: bc.Network(a=np.ones(4), W0=np.ones((4, 0))), ValueError,
         "W0 must have K >= 1 inits, m >= 1 neurons and d >= 1 inputs, got shape (1, 4, 0)"),
    case("W0 NaN", lambda: bc.Network(a=A, W0=with_value(W0, (0, 0, 0), np.nan)), ValueError, "W0 " + FINITE),
    case("W0 inf", lambda: bc.Network(a=A, W0=with_value(W0, (1, 3, 2), np.inf)), ValueError, "W0 " + FINITE),
    case("W0 str", lambda: bc.Network(a=A, W0=W0.astype(str)), TypeError,
         "W0 must be an array of real numbers, got dtype <U"),
    case("W0 complex", lambda: bc.Network(a=A, W0=W0 + 0j), TypeError,
         "W0 must be an array of real numbers, got dtype complex128"),
    case("W0 None", lambda: bc.Network(a=A, W0=None), TypeError,
         "W0 must be an array of real numbers, got dtype object"),
    case("a shape", lambda: bc.Network(a=np.ones((2, 5)), W0=W0), ValueError,
         "a must have shape (K, m) = (2, 4) to match W0, got (2, 5)"),
    case("a 3-D", lambda: bc.Network(a=A[None], W0=W0), ValueError,
         "a must have 1 or 2 dimension(s), got shape (1, 2, 4)"),
    case("a NaN", lambda: bc.Network(a=with_value(A, (0, 1), np.nan), W0=W0), ValueError, "a " + FINITE),
    case("a str", lambda: bc.Network(a=A.astype(str), W0=W0), TypeError,
         "a must be an array of real numbers, got dtype <U"),
    case("b0 shape", lambda: bc.Network(a=A, W0=W0, b0=np.ones((2, 3))), ValueError,
         "b0 must have shape (K, m) = (2, 4) to match W0, got (2, 3)"),
    case("b0 inf", lambda: bc.Network(a=A, W0=W0, b0=with_value(np.ones((2, 4)), (1, 1), -np.inf)), ValueError,
         "b0 " + FINITE),
    case("output_bias shape", lambda: bc.Network(a=A, W0=W0, output_bias=np.ones(3)), ValueError,
         "output_bias must be a scalar or have shape (K,) = (2,), got (3,)"),
    case("output_bias NaN", lambda: bc.Network(a=A, W0=W0, output_bias=np.nan), ValueError,
         "output_bias " + FINITE),
    case("parametrization", lambda: bc.Network(a=A, W0=W0, parametrization="ntk"), ValueError,
         "parametrization must be one of 'theory', 'bubeck', 'paper_code', 'custom', got 'ntk'"),
]

SELECT = [
    case("float index", lambda: NET.select(1.5), TypeError, "inits must be integer indices, got dtype float64"),
    case("bool index", lambda: NET.select(True), TypeError, "inits must be integer indices, got dtype bool"),
    case("index too large", lambda: NET.select(2), ValueError, "inits must be in [0, 2), got [2]"),
    case("index too small", lambda: NET.select([0, -3]), ValueError, "inits must be in [0, 2), got [0, -3]"),
]

SAMPLE_SPHERE = [
    case("n=0", lambda: bc.sample_sphere(0, 3), ValueError, "n must be >= 1, got 0"),
    case("n float", lambda: bc.sample_sphere(2.0, 3), TypeError, "n must be an integer, got 2.0"),
    case("d=0", lambda: bc.sample_sphere(2, 0), ValueError, "d must be >= 1, got 0"),
    case("radius<0", lambda: bc.sample_sphere(2, 3, radius=-1), ValueError, "radius must be >= 0.0, got -1.0"),
    case("radius NaN", lambda: bc.sample_sphere(2, 3, radius=np.nan), ValueError, "radius must be finite, got nan"),
    case("radius inf", lambda: bc.sample_sphere(2, 3, radius=np.inf), ValueError, "radius must be finite, got inf"),
    case("radius str", lambda: bc.sample_sphere(2, 3, radius="1"), TypeError,
         "radius must be a real number, got '1' of type str"),
    case("rng", lambda: bc.sample_sphere(2, 3, rng=[1, 2]), TypeError, RNG_TYPE + " list"),
]

LAZY_RADIUS = [
    case("C0<0", lambda: bc.lazy_radius(-1.0, 100), ValueError, "C0 must be >= 0.0, got -1.0"),
    case("C0 NaN", lambda: bc.lazy_radius(np.nan, 100), ValueError, "C0 must be finite, got nan"),
    case("C0 inf", lambda: bc.lazy_radius(np.inf, 100), ValueError, "C0 must be finite, got inf"),
    case("C0 str", lambda: bc.lazy_radius("1", 100), TypeError, "C0 must be a real number, got '1' of type str"),
    case("C0 array", lambda: bc.lazy_radius(np.array([1.0]), 100), TypeError,
         "C0 must be a real number, got array([1.]) of type ndarray"),
    case("m=0", lambda: bc.lazy_radius(1.0, 0), ValueError, "m must be >= 1, got 0"),
    case("m float", lambda: bc.lazy_radius(1.0, 100.0), TypeError, "m must be an integer, got 100.0 of type float"),
]


@pytest.mark.parametrize("call, exc, message", named("init_network", INIT_NETWORK) + named("Network", NETWORK)
                         + named("Network.select", SELECT) + named("sample_sphere", SAMPLE_SPHERE)
                         + named("lazy_radius", LAZY_RADIUS))
def test_network_module_rejects(call, exc, message):
    check(call, exc, message)


# ------------------------------------------------------------------------------------------ ops.py

# (net, X, W, b) operations; batch where the function has it
POINT_OPS = {
    "forward": bc.forward,
    "input_gradient": bc.input_gradient,
    "activation_counts": bc.activation_counts,
    "sign_flips": bc.sign_flips,
    "preactivations": bc.preactivations,
    "network_pass": bc.network_pass,
}
BATCHED = ("forward", "input_gradient", "activation_counts", "sign_flips", "network_pass")

POINT_OP_CASES = [
    ("net", lambda f: f("net", X), TypeError, "net must be a boundcheck.Network, got str"),
    ("net None", lambda f: f(None, X), TypeError, "net must be a boundcheck.Network, got NoneType"),
    ("X 1-D", lambda f: f(NET, X[0]), ValueError,
     "X must be a 2-D array of shape (n, 3), got shape (3,); for one point use X[None, :]"),
    ("X 3-D", lambda f: f(NET, X[None]), ValueError, "X must be a 2-D array of shape (n, 3), got shape (1, 5, 3)"),
    ("X wrong d", lambda f: f(NET, np.ones((5, 4))), ValueError,
     "X must have shape (n, d) with d = 3 (the network's input dimension), got (5, 4)"),
    ("X NaN", lambda f: f(NET, NAN_X), ValueError, "X " + FINITE),
    ("X inf", lambda f: f(NET, INF_X), ValueError, "X " + FINITE),
    ("X str", lambda f: f(NET, X.astype(str)), TypeError, "X must be an array of real numbers, got dtype <U"),
    ("X complex", lambda f: f(NET, X + 1j), TypeError, "X must be an array of real numbers, got dtype complex128"),
    ("W shape", lambda f: f(NET, X, W[..., :2]), ValueError,
     "W must have the shape of the network's W0, (K, m, d) = (2, 4, 3), got (2, 4, 2)"),
    ("W 2-D", lambda f: f(NET, X, W[0]), ValueError, "W must have 3 dimension(s), got shape (4, 3)"),
    ("W NaN", lambda f: f(NET, X, NAN_W), ValueError, "W " + FINITE),
    ("W inf", lambda f: f(NET, X, INF_W), ValueError, "W " + FINITE),
    ("b without biases", lambda f: f(NET, X, None, np.zeros((2, 4))), ValueError,
     "b was given but the network has no biases (net.b0 is None)"),
    ("b shape", lambda f: f(NETB, X, None, B[:, :3]), ValueError, "b must have shape (K, m) = (2, 4), got (2, 3)"),
    ("b NaN", lambda f: f(NETB, X, None, NAN_B), ValueError, "b " + FINITE),
]
BATCH_CASES = [
    ("batch=0", lambda f: f(NET, X, batch=0), ValueError, "batch must be >= 1, got 0"),
    ("batch float", lambda f: f(NET, X, batch=2.0), TypeError, "batch must be an integer, got 2.0 of type float"),
]


@pytest.mark.parametrize("name, call, exc, message", [
    pytest.param(name, call, exc, message, id=f"{name}-{label}")
    for name in POINT_OPS
    for label, call, exc, message in POINT_OP_CASES + (BATCH_CASES if name in BATCHED else [])])
def test_point_operations_reject(name, call, exc, message):
    check(lambda: call(POINT_OPS[name]), exc, message)


GRADIENT_DIFFERENCE = [
    case("net", lambda: bc.gradient_difference(NET.W0, X, X), TypeError, "net must be a boundcheck.Network, got ndarray"),
    case("X 1-D", lambda: bc.gradient_difference(NET, X[0], X), ValueError, "X must be a 2-D array of shape (n, 3)"),
    case("X NaN", lambda: bc.gradient_difference(NET, NAN_X, X), ValueError, "X " + FINITE),
    case("Z 1-D", lambda: bc.gradient_difference(NET, X, X[0]), ValueError,
         "Z must be a 2-D array of shape (n, 3), got shape (3,); for one point use Z[None, :]"),
    case("Z wrong d", lambda: bc.gradient_difference(NET, X, np.ones((5, 2))), ValueError,
         "Z must have shape (n, d) with d = 3 (the network's input dimension), got (5, 2)"),
    case("Z wrong n", lambda: bc.gradient_difference(NET, X, X[:4]), ValueError,
         "Z must have the shape of X, (5, 3), got (4, 3)"),
    case("Z NaN", lambda: bc.gradient_difference(NET, X, NAN_X), ValueError, "Z " + FINITE),
    case("Z inf", lambda: bc.gradient_difference(NET, X, INF_X), ValueError, "Z " + FINITE),
    case("W shape", lambda: bc.gradient_difference(NET, X, X, W[:1]), ValueError,
         "W must have the shape of the network's W0, (K, m, d) = (2, 4, 3), got (1, 4, 3)"),
    case("W NaN", lambda: bc.gradient_difference(NET, X, X, NAN_W), ValueError, "W " + FINITE),
    case("W_prime shape", lambda: bc.gradient_difference(NET, X, X, W, W[:, :3]), ValueError,
         "W_prime must have the shape of the network's W0, (K, m, d) = (2, 4, 3), got (2, 3, 3)"),
    case("W_prime NaN", lambda: bc.gradient_difference(NET, X, X, W, NAN_W), ValueError, "W_prime " + FINITE),
    case("b without biases", lambda: bc.gradient_difference(NET, X, X, b=np.zeros((2, 4))), ValueError,
         "b was given but the network has no biases (net.b0 is None)"),
    case("b_prime without biases", lambda: bc.gradient_difference(NET, X, X, b_prime=np.zeros((2, 4))), ValueError,
         "b_prime was given but the network has no biases (net.b0 is None)"),
    case("b shape", lambda: bc.gradient_difference(NETB, X, X, b=B[:1]), ValueError,
         "b must have shape (K, m) = (2, 4), got (1, 4)"),
    case("b_prime shape", lambda: bc.gradient_difference(NETB, X, X, b_prime=B.T), ValueError,
         "b_prime must have shape (K, m) = (2, 4), got (4, 2)"),
    case("b_prime NaN", lambda: bc.gradient_difference(NETB, X, X, b_prime=NAN_B), ValueError, "b_prime " + FINITE),
    case("batch=0", lambda: bc.gradient_difference(NET, X, X, batch=0), ValueError, "batch must be >= 1, got 0"),
]

NETWORK_PASS = [
    case("radius<0", lambda: bc.network_pass(NET, X, radius=-0.1), ValueError, "radius must be >= 0.0, got -0.1"),
    case("radius NaN", lambda: bc.network_pass(NET, X, radius=np.nan), ValueError, "radius must be finite, got nan"),
    case("radius inf", lambda: bc.network_pass(NET, X, radius=np.inf), ValueError, "radius must be finite, got inf"),
    case("radius str", lambda: bc.network_pass(NET, X, radius="0.1"), TypeError,
         "radius must be a real number, got '0.1' of type str"),
]


@pytest.mark.parametrize("call, exc, message", named("gradient_difference", GRADIENT_DIFFERENCE)
                         + named("network_pass", NETWORK_PASS))
def test_pairwise_operations_reject(call, exc, message):
    check(call, exc, message)


# ------------------------------------------------------------------------------------------ lazy.py

WORST_CASES = {"f_range": bc.f_range, "max_sign_flips": bc.max_sign_flips}
WORST_CASE_CASES = [
    ("net", lambda f: f("net", X, 0.1), TypeError, "net must be a boundcheck.Network, got str"),
    ("X 1-D", lambda f: f(NET, X[0], 0.1), ValueError, "X must be a 2-D array of shape (n, 3), got shape (3,)"),
    ("X wrong d", lambda f: f(NET, np.ones((2, 5)), 0.1), ValueError,
     "X must have shape (n, d) with d = 3 (the network's input dimension), got (2, 5)"),
    ("X NaN", lambda f: f(NET, NAN_X, 0.1), ValueError, "X " + FINITE),
    ("X inf", lambda f: f(NET, INF_X, 0.1), ValueError, "X " + FINITE),
    ("radius<0", lambda f: f(NET, X, -1.0), ValueError, "radius must be >= 0.0, got -1.0"),
    ("radius NaN", lambda f: f(NET, X, np.nan), ValueError, "radius must be finite, got nan"),
    ("radius inf", lambda f: f(NET, X, np.inf), ValueError, "radius must be finite, got inf"),
    ("radius None", lambda f: f(NET, X, None), TypeError, "radius must be a real number, got None of type NoneType"),
    ("radius bool", lambda f: f(NET, X, True), TypeError, "radius must be a real number, got True of type bool"),
    ("batch=0", lambda f: f(NET, X, 0.1, batch=0), ValueError, "batch must be >= 1, got 0"),
    ("batch float", lambda f: f(NET, X, 0.1, batch=1.5), TypeError, "batch must be an integer, got 1.5"),
]


@pytest.mark.parametrize("name, call, exc, message", [
    pytest.param(name, call, exc, message, id=f"{name}-{label}")
    for name in WORST_CASES for label, call, exc, message in WORST_CASE_CASES])
def test_lazy_worst_cases_reject(name, call, exc, message):
    check(lambda: call(WORST_CASES[name]), exc, message)


PROJECT_LAZY = [
    case("radius<0", lambda: bc.project_lazy(W, W0, -1.0), ValueError, "radius must be >= 0.0, got -1.0"),
    case("radius NaN", lambda: bc.project_lazy(W, W0, np.nan), ValueError, "radius must be finite, got nan"),
    case("radius str", lambda: bc.project_lazy(W, W0, "1"), TypeError, "radius must be a real number, got '1'"),
    case("W 1-D", lambda: bc.project_lazy(W[0, 0], W0[0, 0], 1.0), ValueError,
         "W must have at least 2 dimensions (..., m, p), got shape (3,)"),
    case("shapes differ", lambda: bc.project_lazy(W, W0[..., :2], 1.0), ValueError,
         "W must have the shape of W0, (2, 4, 2), got (2, 4, 3)"),
    case("W NaN", lambda: bc.project_lazy(NAN_W, W0, 1.0), ValueError, "W " + FINITE),
    case("W0 inf", lambda: bc.project_lazy(W, INF_W, 1.0), ValueError, "W0 " + FINITE),
    case("W str", lambda: bc.project_lazy(W.astype(str), W0, 1.0), TypeError,
         "W must be an array of real numbers, got dtype <U"),
    case("b without b0", lambda: bc.project_lazy(W, W0, 1.0, b=B), ValueError,
         "b and b0 must be given together (or neither)"),
    case("b0 without b", lambda: bc.project_lazy(W, W0, 1.0, b0=B), ValueError,
         "b and b0 must be given together (or neither)"),
    case("b shape", lambda: bc.project_lazy(W, W0, 1.0, b=B[:, :3], b0=B), ValueError,
         "b and b0 must have shape (2, 4) to match W, got (2, 3) and (2, 4)"),
    case("b NaN", lambda: bc.project_lazy(W, W0, 1.0, b=NAN_B, b0=B), ValueError, "b " + FINITE),
    case("b0 NaN", lambda: bc.project_lazy(W, W0, 1.0, b=B, b0=NAN_B), ValueError, "b0 " + FINITE),
]

LAZY_DISTANCE = [
    case("W 2-D", lambda: bc.lazy_distance(W[0], W0[0]), ValueError, "W must have 3 dimension(s), got shape (4, 3)"),
    case("W0 shape", lambda: bc.lazy_distance(W, W0[..., :2]), ValueError, "W0 must have shape (2, 4, 3), got (2, 4, 2)"),
    case("W NaN", lambda: bc.lazy_distance(NAN_W, W0), ValueError, "W " + FINITE),
    case("W0 inf", lambda: bc.lazy_distance(W, INF_W), ValueError, "W0 " + FINITE),
    case("b shape", lambda: bc.lazy_distance(W, W0, b=B[:, :3], b0=B), ValueError, "b must have shape (2, 4), got (2, 3)"),
    case("b NaN", lambda: bc.lazy_distance(W, W0, b=NAN_B, b0=B), ValueError, "b " + FINITE),
    case("b0 shape", lambda: bc.lazy_distance(W, W0, b=B, b0=B[:1]), ValueError, "b0 must have shape (2, 4), got (1, 4)"),
    case("b without b0", lambda: bc.lazy_distance(W, W0, b=B), ValueError,
         "b and b0 must be given together (or neither)"),
    case("b0 without b", lambda: bc.lazy_distance(W, W0, b0=B), ValueError,
         "b and b0 must be given together (or neither)"),
]

_UPPER = bc.f_range(NET, X, 0.1).upper
_CERTIFIED = WorstCase(np.zeros((2, 5)), "certified", "grad_norm", "min", 0.1)
WORST_CASE_RECORD = [
    case("witness i<0", lambda: _UPPER.witness(-1), ValueError, "i must be >= 0, got -1"),
    case("witness i>=n", lambda: _UPPER.witness(5), ValueError, "i must be <= 4, got 5"),
    case("witness i float", lambda: _UPPER.witness(1.0), TypeError, "i must be an integer, got 1.0 of type float"),
    case("witness i None", lambda: _UPPER.witness(None), TypeError, "i must be an integer, got None"),
    case("no witness", lambda: _CERTIFIED.witness(0), ValueError, "a certified worst case of grad_norm has no witness"),
    case("kind", lambda: WorstCase(np.zeros((1, 1)), "approx", "f", "max", 0.1), ValueError,
         "kind must be one of ('exact', 'certified', 'heuristic'), got 'approx'"),
    case("sense", lambda: WorstCase(np.zeros((1, 1)), "exact", "f", "up", 0.1), ValueError,
         "sense must be 'max' or 'min', got 'up'"),
]


@pytest.mark.parametrize("call, exc, message", named("project_lazy", PROJECT_LAZY)
                         + named("lazy_distance", LAZY_DISTANCE) + named("WorstCase", WORST_CASE_RECORD))
def test_lazy_module_rejects(call, exc, message):
    check(call, exc, message)


# ------------------------------------------------------------------------------------------ degenerate cases

def all_finite(*arrays) -> bool:
    return all(np.isfinite(np.asarray(a, dtype=float)).all() for a in arrays)


def every_output(net, X, W=None, b=None, radius=0.3):
    """Every core quantity at (X, W), with the shapes they must have."""
    K, n, d = net.n_inits, len(X), net.dim
    fr = bc.f_range(net, X, radius)
    flips = bc.max_sign_flips(net, X, radius)
    p = bc.network_pass(net, X, W, b, radius=radius)
    out = {
        "forward": (bc.forward(net, X, W, b), (K, n)),
        "input_gradient": (bc.input_gradient(net, X, W, b), (K, n, d)),
        "activation_counts": (bc.activation_counts(net, X, W, b), (K, n)),
        "sign_flips": (bc.sign_flips(net, X, W, b), (K, n)),
        "gradient_difference": (bc.gradient_difference(net, X, X[::-1], W), (K, n)),
        "f_lower": (fr.lower.value, (K, n)),
        "f_upper": (fr.upper.value, (K, n)),
        "max_sign_flips": (flips.value, (K, n)),
        "pass_forward": (p.forward, (K, n)),
        "pass_gradient": (p.input_gradient, (K, n, d)),
        "pass_f_upper": (p.f_upper, (K, n)),
    }
    if n:
        Wf, bf = fr.upper.witness(0)
        out["witness"] = (Wf, (K, net.width, d))
        out["witness_lazy_distance"] = (bc.lazy_distance(Wf, net.W0), (K,))
    for name, (value, shape) in out.items():
        assert value.shape == shape, name
        assert all_finite(value), name
    return {name: value for name, (value, _) in out.items()}


def test_zero_gradient_gives_finite_answers():
    # two copies of one neuron with opposite top weights: the network is identically 0, its gradient too
    w = np.array([[0.6, -0.8, 0.0]])
    net = bc.Network(a=[[1.0, -1.0]], W0=np.concatenate([w, w])[None])
    X = np.array([[0.6, -0.8, 0.0], [0.0, 0.0, 1.0], [-0.6, 0.8, 0.0]])
    out = every_output(net, X)
    # zero up to rounding: the two neurons cancel in a BLAS product (|error| ~ 1e-17 here)
    assert np.allclose(out["forward"], 0.0, rtol=0, atol=1e-15)
    assert np.allclose(out["input_gradient"], 0.0, rtol=0, atol=1e-15)
    assert np.allclose(out["gradient_difference"], 0.0, rtol=0, atol=1e-15)
    # the ball still moves f: each neuron moves on its own (Lemma B.5's worst case)
    assert (out["f_upper"] >= 0).all() and (out["f_lower"] <= 0).all()


def test_all_inactive_layer_gives_finite_answers():
    # every neuron points away from every input: all pre-activations < 0, nothing is active
    X = np.abs(bc.sample_sphere(6, 4, rng=2))
    W0 = -np.abs(np.random.default_rng(3).standard_normal((2, 5, 4)))
    net = bc.Network(a=np.ones((2, 5)), W0=W0)
    out = every_output(net, X, radius=0.0)
    assert np.array_equal(out["activation_counts"], np.zeros((2, 6)))
    assert np.array_equal(out["forward"], np.zeros((2, 6)))
    assert np.array_equal(out["input_gradient"], np.zeros((2, 6, 4)))
    assert np.array_equal(out["max_sign_flips"], np.zeros((2, 6)))  # radius 0: nothing can move
    assert np.array_equal(out["f_upper"], out["forward"]) and np.array_equal(out["f_lower"], out["forward"])


def test_all_inactive_layer_with_bias_and_radius():
    net = bc.Network(a=np.ones((1, 3)), W0=np.zeros((1, 3, 2)), b0=-np.ones((1, 3)), output_bias=0.5)
    X = np.array([[1.0, 0.0], [0.0, 0.0]])
    out = every_output(net, X, radius=0.5)
    assert np.array_equal(out["forward"], np.full((1, 2), 0.5))   # the output bias only
    assert np.array_equal(out["activation_counts"], np.zeros((1, 2)))
    assert np.array_equal(out["max_sign_flips"], np.zeros((1, 2)))  # -1 + 0.5 * ||(x, 1)|| < 0: none reachable


@pytest.mark.parametrize("parametrization", ["theory", "bubeck", "paper_code"])
def test_dimension_one(parametrization):
    net = bc.init_network(1, 7, 3, parametrization=parametrization, rng=4)
    X = bc.sample_sphere(4, 1, rng=5)
    assert set(np.abs(X).ravel()) == {1.0}
    W = bc.project_lazy(net.W0 + 1.0, net.W0, 0.2)
    b = None if net.b0 is None else net.b0 + 0.1
    every_output(net, X, W, b)
    assert all_finite(bc.lazy_distance(W, net.W0))
    assert np.allclose(bc.lazy_distance(W, net.W0), 0.2)


def test_zero_input_gives_finite_answers():
    # x = 0: no direction to move along; the worst cases are the values at W0 and nothing flips
    out = every_output(NET, np.zeros((2, 3)), radius=0.5)
    assert np.array_equal(out["f_upper"], out["forward"])
    assert np.array_equal(out["max_sign_flips"], np.zeros((2, 2)))


def test_no_points_gives_empty_answers():
    every_output(NET, np.zeros((0, 3)))
    every_output(NETB, np.zeros((0, 3)))


def test_single_neuron_single_init():
    net = bc.init_network(2, 1, parametrization="theory", rng=6)
    every_output(net, bc.sample_sphere(3, 2, rng=7))


def test_integer_inputs_are_exact_numbers_not_coerced_strings():
    # integer arrays are numbers (accepted as is); numeric strings are refused, never parsed
    Xi = np.array([[1, 0, 0], [0, 2, 0]])
    assert np.array_equal(bc.forward(NET, Xi), bc.forward(NET, Xi.astype(float)))
    with pytest.raises(TypeError, match=re.escape("X must be an array of real numbers, got dtype <U")):
        bc.forward(NET, [["1", "0", "0"]])
