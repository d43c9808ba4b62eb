"""Rounding at the edge of the lazy ball: every W that a function returns as "in the ball" is in it exactly.

When R is far below ``||w0_s||``, forming ``w0_s + delta`` rounds each coordinate to a multiple of
``ulp(w0_s)``, an error that does not shrink with R. A row computed to lie at distance R (a projection, a
witness, a random lazy W) can then be stored outside the ball (e.g. R = 2**-24, w0_s = (0, 0, 1)). These tests
measure the deviation of the stored rows in exact rational arithmetic (:class:`fractions.Fraction` holds every
float exactly), and with :func:`boundcheck.lazy_distance`.
"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st
from hypothesis.extra.numpy import arrays

import boundcheck as bc
from boundcheck import _numeric
from boundcheck import deep_lazy as DL
from boundcheck.deep import DeepNetwork
from boundcheck.robust_lazy import random_lazy_weights, robust_lazy_weights

#: Kernel tests run twice, on the compiled kernels and on their Python functions (fixture in conftest.py).
KERNELS = pytest.mark.usefixtures("kernels")


def exact_sq(row, center) -> Fraction:
    """``||row - center||^2`` of the stored floats, exactly."""
    return sum(((Fraction(a) - Fraction(c)) ** 2 for a, c in zip(row.tolist(), center.tolist())), Fraction(0))


def rows_of(W, b=None):
    """Lazy-ball rows ``[w_s, b_s]`` over the last axis, flattened to (rows, p)."""
    R = W if b is None else np.concatenate([W, np.asarray(b)[..., None]], axis=-1)
    return R.reshape(-1, R.shape[-1])


def exactly_inside(W, W0, R, b=None, b0=None) -> np.ndarray:
    rows, centers = rows_of(W, b), rows_of(W0, b0)
    R2 = Fraction(R) ** 2
    return np.array([exact_sq(r, c) <= R2 for r, c in zip(rows, centers)])


def measured_per_row(W, W0, b=None, b0=None) -> np.ndarray:
    """:func:`boundcheck.lazy_distance` of every row on its own, (K * m,)."""
    K, m, _ = W.shape
    out = []
    for k in range(K):
        for s in range(m):
            if b is None:
                out.append(bc.lazy_distance(W[k:k + 1, s:s + 1], W0[k:k + 1, s:s + 1])[0])
            else:
                out.append(bc.lazy_distance(W[k:k + 1, s:s + 1], W0[k:k + 1, s:s + 1],
                                            b=b[k:k + 1, s:s + 1], b0=b0[k:k + 1, s:s + 1])[0])
    return np.array(out)


# ------------------------------------------------------------------------------------------ strategies

#: Radii far below the row norms (the failing regime), and ordinary ones.
RADII = st.one_of(st.integers(0, 60).map(lambda k: 2.0 ** -k),
                  st.floats(1e-30, 10.0, allow_nan=False, allow_infinity=False),
                  st.just(0.0))
#: Coordinates of the centres: zeros, exact powers of two, and arbitrary magnitudes up to 1e6.
COORD = st.one_of(st.just(0.0), st.integers(-10, 20).map(lambda e: 2.0 ** e),
                  st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False))


@st.composite
def ball_problems(draw, bias=None):
    """(W, W0, R, b, b0): rows inside, on and outside the ball, at every scale of R against ||w0||."""
    K = draw(st.integers(1, 2))
    m = draw(st.integers(1, 4))
    d = draw(st.integers(1, 5))
    W0 = draw(arrays(np.float64, (K, m, d), elements=COORD))
    R = draw(RADII)
    with_bias = draw(st.booleans()) if bias is None else bias
    b0 = draw(arrays(np.float64, (K, m), elements=COORD)) if with_bias else None
    p = d + with_bias
    U = draw(arrays(np.float64, (K, m, p), elements=st.floats(-1.0, 1.0, allow_nan=False, allow_subnormal=False)))
    norms = np.linalg.norm(U, axis=-1, keepdims=True)
    U = np.where(norms > 0, U / np.where(norms > 0, norms, 1.0), 0.0)
    # distance of each row in units of R: inside, on (to rounding), just outside, far outside
    t = draw(arrays(np.float64, (K, m, 1), elements=st.sampled_from([0.0, 0.5, 1.0, 1.0 + 2.0 ** -40, 3.0, 1e6])))
    step = U * t * (R if R > 0 else 1.0)
    W = W0 + step[..., :d]
    b = (b0 + step[..., d]) if with_bias else None
    return W, W0, R, b, b0


# ------------------------------------------------------------------------------------------ the projection

def check_projection(W, W0, R, b, b0):
    if b is None:
        P, Pb = bc.project_lazy(W, W0, R), None
    else:
        P, Pb = bc.project_lazy(W, W0, R, b=b, b0=b0)
    # every returned row is in the ball: exactly, and as lazy_distance measures it
    assert exactly_inside(P, W0, R, Pb, b0).all()
    assert (measured_per_row(P, W0, Pb, b0) <= R).all()
    assert (bc.lazy_distance(P, W0, b=Pb, b0=b0) <= R).all()
    # rows already inside (both ways) are returned bitwise unchanged
    keep = exactly_inside(W, W0, R, b, b0) & (measured_per_row(W, W0, b, b0) <= R)
    np.testing.assert_array_equal(rows_of(P, Pb)[keep], rows_of(W, b)[keep])
    # idempotent, bitwise
    again = bc.project_lazy(P, W0, R) if b is None else bc.project_lazy(P, W0, R, b=Pb, b0=b0)
    np.testing.assert_array_equal(rows_of(*((again,) if b is None else again)), rows_of(P, Pb))
    return P, Pb


@KERNELS
@settings(max_examples=300, deadline=None)
@given(ball_problems())
@example((np.array([[[0.0, 0.0, 1.0]]]) + 2.0 ** -24 * np.array([[[0.6, 0.0, 0.8]]]), np.array([[[0.0, 0.0, 1.0]]]),
          2.0 ** -24, None, None))
@example((np.array([[[0.0, 0.0]]]) + 2.0 ** -24 * np.array([[[0.6, 0.0]]]), np.array([[[0.0, 0.0]]]),
          2.0 ** -24, np.array([[1.0 + 2.0 ** -24 * 0.8]]), np.array([[1.0]])))
def test_projection_is_in_the_ball_exactly(problem):
    check_projection(*problem)


def test_projection_tiny_radius_large_centre():
    """The case of the closing note: R = 2**-24, w0 = (0, 0, 1), a row far outside along (1, 1, 1)."""
    W0 = np.array([[[0.0, 0.0, 1.0]]])
    W = W0 + 3.0 * 2.0 ** -24 * np.ones(3) / np.sqrt(3.0)
    P, _ = check_projection(W, W0, 2.0 ** -24, None, None)
    # still a projection: along the row's direction, at the radius up to the rounding of w0 + delta
    delta = (P - W0)[0, 0]
    assert np.linalg.norm(delta) >= 2.0 ** -24 - 4 * np.spacing(1.0)
    assert np.all(delta > 0)


@settings(max_examples=100, deadline=None)
@given(ball_problems(bias=False))
def test_shared_into_ball_matches_plain_numpy_reference(problem):
    """The compiled rows kernel against the plain-numpy reference of the same rule."""
    W, W0, R, _, _ = problem
    got = _numeric.into_ball(W, W0, R)
    want = _numeric.into_ball_reference(W, W0, R)
    assert exactly_inside(want, W0, R).all()
    # the same rows stay, and the moved ones agree to the rounding of w0 + delta (both land at R (1 - slack))
    stay = (got == W).all(-1)
    np.testing.assert_array_equal(stay, (want == W).all(-1))
    tol = 8 * (np.spacing(np.abs(W0).max(-1)) + R * _numeric.ball_slack(W.shape[-1]))
    assert (np.abs(got - want).max(-1) <= tol).all()


# ------------------------------------------------------------------------------------------ witnesses

@st.composite
def large_centre_networks(draw):
    """Networks whose rows are far longer than the radius drawn with them."""
    K, m, d = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    W0 = draw(arrays(np.float64, (K, m, d), elements=COORD))
    a = draw(arrays(np.float64, (K, m), elements=st.sampled_from([-1.0, 1.0])))
    bias = draw(st.booleans())
    b0 = draw(arrays(np.float64, (K, m), elements=COORD)) if bias else None
    X = draw(arrays(np.float64, (draw(st.integers(1, 3)), d),
                    elements=st.floats(-2.0, 2.0, allow_nan=False, allow_subnormal=False)))
    return bc.Network(a=a, W0=W0, b0=b0), X, draw(RADII.filter(lambda r: r > 0))


@settings(max_examples=150, deadline=None)
@given(large_centre_networks())
@example((bc.Network(a=np.array([1.0]), W0=np.array([[0.0, 0.0, 1.0]])), np.array([[1.0, 1.0, 1.0]]), 2.0 ** -24))
def test_exact_worst_case_witnesses_are_in_the_ball(problem):
    net, X, R = problem
    fr = bc.f_range(net, X, R)
    flips = bc.max_sign_flips(net, X, R)
    for wc in (fr.lower, fr.upper, flips):
        for i in range(len(X)):
            W, b = wc.witness(i)
            assert exactly_inside(W, net.W0, R, b, net.b0).all()
            assert (bc.lazy_distance(W, net.W0, b=b, b0=net.b0) <= R).all()


@settings(max_examples=60, deadline=None)
@given(large_centre_networks().filter(lambda p: not p[0].has_bias))
@example((bc.Network(a=np.array([1.0]), W0=np.array([[0.0, 0.0, 1.0]])), np.array([[1.0, 1.0, 1.0]]), 2.0 ** -24))
def test_robust_lazy_weights_are_in_the_ball(problem):
    net, X, R = problem
    W = random_lazy_weights(net, R, rng=0)
    assert exactly_inside(W, net.W0, R).all()
    res = robust_lazy_weights(net, X, np.ones(len(X)), R, 0.1, steps=3, rng=1)
    for i in range(len(X)):
        assert exactly_inside(res.witness(i), net.W0, R).all()


def test_deep_lazy_projection_and_last_layer_witness_in_the_ball():
    rng = np.random.default_rng(0)
    d, m = 3, 4
    W1 = np.zeros((1, m, d))
    W1[..., -1] = 1.0                                   # rows (0, 0, 1): the failing case
    W2 = np.full((1, m, m), 1.0)
    net = DeepNetwork(weights=[W1, W2], a=np.ones((1, m)), activation="relu")
    R = (2.0 ** -24, 2.0 ** -30)
    Ws = [W + 3 * r * rng.standard_normal(W.shape) for W, r in zip(net.weights, R)]
    P = DL.project_deep_lazy(net, Ws, R)
    for Pl, W0, r in zip(P, net.weights, R):
        assert exactly_inside(Pl, W0, r).all()
    X = rng.standard_normal((3, d))
    for wc in DL.deep_f_range_last_layer(net, X, R[-1]):
        for i in range(len(X)):
            Wit, _ = wc.witness(i)
            assert exactly_inside(Wit[-1], net.weights[-1], R[-1]).all()


# ------------------------------------------------------------------------------------------ the kernels

#: Coordinates across the whole float range, so the rescaled paths (squares that under- or overflow) run.
WIDE = st.one_of(COORD, st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False),
                 st.floats(-1e-300, 1e-300, allow_nan=False, allow_infinity=False))


@st.composite
def wide_rows(draw):
    p = draw(st.integers(1, 6))
    n = draw(st.integers(1, 4))
    W0 = draw(arrays(np.float64, (n, p), elements=WIDE))
    W = np.where(draw(arrays(np.bool_, (n, p))), W0, draw(arrays(np.float64, (n, p), elements=WIDE)))
    return W, W0


@KERNELS
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the Python functions, on purpose
@settings(max_examples=150, deadline=None)
@given(wide_rows(), st.data())
def test_measured_deviation_within_half_the_slack(rows, data):
    """:func:`ball_deviations` is within a relative ``ball_slack(p) / 2`` of the exact deviation."""
    W, W0 = rows
    got = _numeric.ball_deviations(W, W0)
    half = _numeric.ball_slack(W.shape[-1]) / 2
    for g, w, c in zip(got.tolist(), W, W0):
        exact = exact_sq(w, c)
        if g == np.inf:  # only when the deviation exceeds the largest float
            assert exact > Fraction(np.finfo(float).max) ** 2
            continue
        assert Fraction(g) ** 2 * (1 - Fraction(half)) ** 2 <= exact * (1 + Fraction(2.0 ** -1000))
        assert exact <= Fraction(g) ** 2 / (1 - Fraction(half)) ** 2 + Fraction(2.0 ** -1000) * Fraction(g) ** 2 \
            or g == 0 and exact == 0


@KERNELS
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the Python functions, on purpose
@settings(max_examples=150, deadline=None)
@given(wide_rows(), st.data())
def test_ball_verdict_agrees_with_rational_arithmetic(rows, data):
    """The float verdict is +1 (inside) / -1 (outside) as exact arithmetic says, or 0 (undecided) on a tie."""
    from boundcheck import _kernels

    W, W0 = rows
    exact = [exact_sq(w, c) for w, c in zip(W, W0)]
    # radii at the exact deviation (rounded either way) and away from it
    j = data.draw(st.integers(0, len(W) - 1))
    dev = float(np.sqrt(float(exact[j]))) if exact[j] < Fraction(np.finfo(float).max) else 1.0
    R = data.draw(st.sampled_from([dev, np.nextafter(dev, 0.0), np.nextafter(dev, np.inf), 0.5 * dev, 2.0 * dev]))
    if not np.isfinite(R):
        R = dev
    verdict = np.empty(len(W), dtype=np.int64)
    _kernels.ball_verdicts(np.ascontiguousarray(W), np.ascontiguousarray(W0), R, np.arange(len(W)), verdict)
    R2 = Fraction(R) ** 2
    for v, e in zip(verdict.tolist(), exact):
        if v == 1:
            assert e <= R2
        elif v == -1:
            assert e > R2
        else:  # undecided only where the two agree to far below the measurement's rounding
            assert abs(e - R2) <= Fraction(2.0 ** -80) * max(e, R2)


@settings(max_examples=100, deadline=None)
@given(ball_problems(bias=False))
def test_into_ball_in_place_equals_the_copy(problem):
    W, W0, R, _, _ = problem
    want = _numeric.into_ball(W, W0, R)
    work = np.array(W, copy=True)
    got = _numeric.into_ball(work, W0, R, out=work)
    assert got is work
    np.testing.assert_array_equal(work, want)


def test_exact_ties_are_decided_in_rationals():
    """A row exactly on the sphere (3-4-5) is inside: kept bitwise; one ulp less of radius moves it inside."""
    W0 = np.zeros((1, 2))
    W = np.array([[3.0, 4.0]])
    np.testing.assert_array_equal(_numeric.into_ball(W, W0, 5.0), W)
    R = float(np.nextafter(5.0, 0.0))
    P = _numeric.into_ball(W, W0, R)
    assert (P != W).any() and exactly_inside(P[None], W0[None], R).all()
