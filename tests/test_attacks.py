"""Tests of boundcheck.attacks: the exact minimal flip against bisection, the authors' grid, FGM/FGSM, PGD."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

import boundcheck as bc
from boundcheck import attacks
from boundcheck.attacks import (fgm, fgsm, min_flip_step, pgd, project_box, project_l2, project_linf,
                                robust_error)
from boundcheck.network import Network
from boundcheck.testing import inputs_for, networks

EPS64 = np.finfo(float).eps


# --------------------------------------------------------------------------- an independent reference

def _f_at(net, k, x, W=None, b=None):
    """f(x; W) for init k, straight from the definition (numpy on the input itself)."""
    W = net.W0 if W is None else W
    b = net.b0 if b is None else b
    z = W[k] @ x + (0.0 if b is None else b[k])
    c = 0.0 if net.output_bias is None else net.output_bias[k]
    return float(np.sum(net.a[k] * np.maximum(z, 0.0)) / math.sqrt(net.width) + c)


def _noise(net, k, x, W=None, b=None):
    """A bound on the rounding error of one evaluation of f(x) (dot products of length d, a sum over m)."""
    W = net.W0 if W is None else W
    b = net.b0 if b is None else b
    mag = np.linalg.norm(W[k], axis=1) * np.linalg.norm(x) + (0.0 if b is None else np.abs(b[k]))
    c = 0.0 if net.output_bias is None else abs(net.output_bias[k])
    relative = np.sum(np.abs(net.a[k]) * mag) / math.sqrt(net.width) + c
    # plus the absolute spacing of subnormals, 2^-1074 per operation (Hypothesis draws inputs like 1e-313)
    absolute = 2.0**-1074 * (np.sum(np.abs(net.a[k]) * (np.linalg.norm(W[k], axis=1) + 1)) + 1)
    return (net.dim + net.width + 4) * (EPS64 * relative + absolute)


def reference_flip(net, k, x, u, W=None, b=None):
    """First t >= 0 with sign f(x + t u) != sign f(x) (sign(0) = +1), by bisection on f itself.

    f is linear between consecutive breakpoints, so it flips inside [t_prev, t_j] iff it is flipped at an
    end: the first flipped breakpoint brackets the answer, and bisection on direct evaluations of f finds it.
    The midpoint of each piece is checked too: a piece where f is exactly 0 (no neuron active, no bias)
    evaluates to exactly 0 there, while its ends, where some neuron sits at its kink, carry rounding.
    Returns (t, slope of the linear piece holding t) or (inf, nan).
    """
    W = net.W0 if W is None else W
    b_ = net.b0 if b is None else b
    f = lambda t: _f_at(net, k, x + t * u, W, b_)  # noqa: E731
    positive = f(0.0) >= 0
    flipped = (lambda v: v < 0) if positive else (lambda v: v >= 0)
    z = W[k] @ x + (0.0 if b_ is None else b_[k])
    c = W[k] @ u
    with np.errstate(divide="ignore", invalid="ignore"):
        ts = -z / c
    bps = np.sort(ts[(c != 0) & np.isfinite(ts) & (ts > 0)])

    def bisect(lo, hi):
        for _ in range(2000):
            mid = 0.5 * (lo + hi)
            if not lo < mid < hi:
                break
            if flipped(f(mid)):
                hi = mid
            else:
                lo = mid
        return hi

    prev = 0.0
    for t in bps:
        mid = 0.5 * (prev + t)
        for end in (mid, t):
            if flipped(f(end)):
                return bisect(prev, end), (f(t) - f(prev)) / (t - prev)
        prev = t
    span = max(1.0, prev)
    v0, v1 = f(prev), f(prev + span)
    slope = (v1 - v0) / span
    if flipped(v1):
        return bisect(prev, prev + span), slope
    if (positive and slope < 0) or (not positive and slope > 0):
        hi = prev + span + 2 * abs(v1) / abs(slope) + 1.0
        if flipped(f(hi)):
            return bisect(prev + span, hi), slope
    return math.inf, math.nan


def _check_against_reference(net, X, res, W=None, b=None):
    for k in range(net.n_inits):
        for i in range(len(X)):
            u = res.direction[k, i]
            t_ref, slope = reference_flip(net, k, X[i], u, W, b)
            t = res.delta[k, i]
            if math.isinf(t_ref):
                assert math.isinf(t), (k, i, t)
                continue
            assert math.isfinite(t), (k, i, t_ref)
            # both roots carry the rounding of f (bounded by _noise) divided by the slope of the piece
            atol = 4 * _noise(net, k, X[i] + t_ref * u, W, b) / abs(slope) if slope else 0.0
            assert abs(t - t_ref) <= 1e-12 * t_ref + atol, (k, i, t, t_ref, atol)


# --------------------------------------------------------------------------- the exact minimal flip

@given(st.data())
def test_exact_flip_matches_bisection_small_networks(data):
    net = data.draw(networks(integer=False))
    X = data.draw(inputs_for(net, integer=False))
    # the rounding bound of _noise assumes no underflow: flush tiny inputs (Hypothesis draws 1e-309) to 0
    X[np.abs(X) < 1e-150] = 0.0
    res = min_flip_step(net, X)
    np.testing.assert_array_equal(res.f, bc.forward(net, X))
    np.testing.assert_allclose(res.grad_norm, np.linalg.norm(bc.input_gradient(net, X), axis=-1),
                               rtol=1e-13, atol=1e-300)
    _check_against_reference(net, X, res)


@given(st.data())
def test_exact_flip_is_well_formed_on_any_network(data):
    """Integer networks hit every tie (f = 0, z = 0, equal breakpoints): no NaN, consistent fields."""
    net = data.draw(networks())
    X = data.draw(inputs_for(net))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = min_flip_step(net, X)
    for arr in (res.eta, res.delta, res.grad_norm):
        assert not np.isnan(arr).any()
        assert (arr >= 0).all()
    np.testing.assert_array_equal(res.flipped, np.isfinite(res.delta))
    norms = np.linalg.norm(res.direction, axis=-1)
    assert np.all((np.abs(norms - 1) < 1e-12) | (norms == 0))
    assert np.all(np.isinf(res.delta[res.grad_norm == 0]))


def test_exact_flip_matches_bisection_theory_parametrization():
    net = bc.init_network(20, 200, n_inits=2, parametrization="theory", rng=3)
    X = bc.sample_sphere(12, 20, rng=4)
    res = min_flip_step(net, X)
    assert res.flipped.all()
    _check_against_reference(net, X, res)
    # on W in the lazy ball, with biases (paper_code)
    net = bc.init_network(20, 200, n_inits=2, parametrization="paper_code", rng=5)
    rng = np.random.default_rng(6)
    W = net.W0 + 0.05 * rng.standard_normal(net.W0.shape)
    b = net.b0 + 0.05 * rng.standard_normal(net.b0.shape)
    res = min_flip_step(net, X, W, b)
    _check_against_reference(net, X, res, W, b)


def test_exact_flip_past_the_first_sorting_threshold():
    """The kernel sorts first only the breakpoints below 4x the root of the initial line (tau), then the
    rest if the walk gets past tau. Random directions exercise both: flips past tau, and initial lines
    heading away from the flip (tau = inf)."""
    net = bc.init_network(20, 200, n_inits=2, parametrization="theory", rng=13)
    X = bc.sample_sphere(80, 20, rng=14)
    D = np.random.default_rng(15).standard_normal((2, 80, 20))
    res = min_flip_step(net, X, direction=D)
    _check_against_reference(net, X, res)
    z = np.einsum("kmd,id->kim", net.W0, X)
    c = np.einsum("kmd,kid->kim", net.W0, res.direction)
    slope0 = np.sum(net.a[:, None, :] * c * (z > 0), axis=-1) / math.sqrt(net.width)
    towards = np.where(res.f >= 0, slope0 < 0, slope0 > 0)
    tau = np.where(towards, 4 * np.abs(res.f) / np.abs(np.where(towards, slope0, 1.0)), np.inf)
    assert (res.flipped & towards & (res.delta > tau)).sum() >= 3
    assert (res.flipped & ~towards).sum() >= 3


def _assert_really_flips(net, X, res, W=None, b=None):
    g = bc.input_gradient(net, X, W, b)
    sgn = np.where(res.f >= 0, 1.0, -1.0)
    for factor, should_flip in ((1 + 1e-9, True), (1 - 1e-9, False)):
        for k in range(net.n_inits):
            Xp = X - (res.eta[k] * factor * sgn[k])[:, None] * g[k]
            fp = bc.forward(net, Xp, W, b)[k]
            flipped = np.where(res.f[k] >= 0, fp < 0, fp >= 0)
            assert (flipped == should_flip).all(), (factor, k, res.eta[k], fp)


def test_found_step_really_flips_theory():
    net = bc.init_network(20, 200, n_inits=2, parametrization="theory", rng=7)
    X = bc.sample_sphere(30, 20, rng=8)
    res = min_flip_step(net, X)
    # a large |f| can keep its sign along the whole ray (here one point of 60, f = 1.95): skip it
    keep = res.flipped.all(axis=0)
    assert keep.sum() >= 25 and (res.eta > 0).all()
    _assert_really_flips(net, X[keep], min_flip_step(net, X[keep]))


@given(st.data())
def test_found_step_really_flips_small_networks(data):
    net = data.draw(networks(integer=False, max_width=12))
    # in d = 1 every gradient ray of a bias-free network runs through the origin, where f = 0 exactly:
    # f < 0 can touch 0 there and turn back (a flip at a single point), a degenerate case excluded here
    assume(net.dim >= 2 or net.has_bias)
    X = data.draw(inputs_for(net, on_sphere=True))
    res = min_flip_step(net, X)
    keep = res.flipped.all(axis=0) & (res.eta > 0).all(axis=0) & (np.abs(res.f) > 1e-6).all(axis=0)
    assume(keep.any())
    X, sub = X[keep], min_flip_step(net, X[keep])
    # away from degenerate cases: the change of f over a 1e-9 relative step must dominate rounding
    g = bc.input_gradient(net, X)
    change = 1e-9 * sub.eta * np.einsum("kid,kid->ki", g, g)
    assume((change > 1e3 * EPS64 * (1 + np.abs(sub.f))).all())
    _assert_really_flips(net, X, sub)


def test_chunking_does_not_change_the_result():
    net = bc.init_network(10, 50, n_inits=3, parametrization="bubeck", rng=1)
    X = bc.sample_sphere(17, 10, radius=math.sqrt(10), rng=2)
    a, b = min_flip_step(net, X), min_flip_step(net, X, batch=4)
    # BLAS may round a 1-row chunk (gemv) differently from a many-row one (gemm): a few ulps
    np.testing.assert_allclose(a.delta, b.delta, rtol=1e-13)
    np.testing.assert_allclose(a.eta, b.eta, rtol=1e-13)
    np.testing.assert_array_equal(a.flipped, b.flipped)


def _linear_network(d, pairs, rng):
    """f(x) = (1/sqrt m) sum_pairs (relu(w.x) - relu(-w.x)) = (1/sqrt m) (sum w) . x: exactly linear."""
    Wh = np.random.default_rng(rng).standard_normal((pairs, d))
    W0 = np.concatenate([Wh, -Wh])
    a = np.concatenate([np.ones(pairs), -np.ones(pairs)])
    return Network(a=a, W0=W0)


def test_exact_flip_on_a_linear_network_is_the_closed_form():
    """f is linear along every ray (many breakpoints, no kink): delta* = |f|/||g||, eta* = |f|/||g||^2."""
    net = _linear_network(8, 30, 0)
    X = bc.sample_sphere(25, 8, rng=1)
    res = min_flip_step(net, X)
    g = np.linalg.norm(net.W0[0, :30].sum(axis=0)) / math.sqrt(net.width)
    np.testing.assert_allclose(res.delta, np.abs(res.f) / g, rtol=1e-12)
    np.testing.assert_allclose(res.eta, np.abs(res.f) / g**2, rtol=1e-12)


@given(st.data())
def test_lipschitz_lower_bound_and_linear_start(data):
    """delta* >= |f| / (scale sum_s |a_s||w_s.u|) (|slope| along the ray is at most that); and when no
    breakpoint comes before the linearized root |f|/||g||, delta* equals it (the initial slope is -||g||)."""
    net = data.draw(networks(integer=False, max_width=4))
    X = data.draw(inputs_for(net, on_sphere=True))
    res = min_flip_step(net, X)
    for k in range(net.n_inits):
        for i in range(len(X)):
            u = res.direction[k, i]
            c = net.W0[k] @ u
            lip = np.sum(np.abs(net.a[k] * c)) / math.sqrt(net.width)
            if lip == 0:
                continue
            assert res.delta[k, i] >= abs(res.f[k, i]) / lip * (1 - 1e-12)
            z = net.W0[k] @ X[i] + (0 if net.b0 is None else net.b0[k])
            with np.errstate(divide="ignore", invalid="ignore"):
                ts = -z / c
            first = ts[(ts > 0) & np.isfinite(ts)].min(initial=math.inf)
            t_lin = abs(res.f[k, i]) / res.grad_norm[k, i]
            if first > t_lin * (1 + 1e-9) and res.grad_norm[k, i] > 0:
                assert res.delta[k, i] == pytest.approx(t_lin, rel=1e-12)


def test_linear_start_case_is_exercised():
    """The equality case above must actually occur: count it on fixed seeds at m = 2."""
    hits = 0
    for seed in range(20):
        net = bc.init_network(3, 2, parametrization="theory", rng=seed)
        X = bc.sample_sphere(5, 3, rng=seed + 100)
        res = min_flip_step(net, X)
        for i in range(5):
            u = res.direction[0, i]
            c = net.W0[0] @ u
            with np.errstate(divide="ignore", invalid="ignore"):
                ts = -(net.W0[0] @ X[i]) / c
            first = ts[(ts > 0) & np.isfinite(ts)].min(initial=math.inf)
            if res.grad_norm[0, i] == 0:
                continue
            t_lin = abs(res.f[0, i]) / res.grad_norm[0, i]
            if first > t_lin * 1.01:
                hits += 1
                assert res.delta[0, i] == pytest.approx(t_lin, rel=1e-12)
    assert hits >= 5


def _same_sign_network(d=6, m=10, sign=1.0, output_bias=None, rng=0):
    W0 = np.random.default_rng(rng).standard_normal((m, d))
    return Network(a=np.full(m, sign), W0=W0, output_bias=output_bias)


def test_never_flipping_ray_gives_inf_and_grid_cap():
    """All a_s = +1 and no bias: f >= 0 everywhere, so a point with f > 0 never flips."""
    net = _same_sign_network()
    X = bc.sample_sphere(8, 6, rng=1)
    res = min_flip_step(net, X)
    assert (res.f > 0).all() and (res.grad_norm > 0).all()
    assert np.isinf(res.eta).all() and np.isinf(res.delta).all() and not res.flipped.any()
    grid = min_flip_step(net, X, method="grid")
    np.testing.assert_array_equal(grid.delta, 5.0)
    assert not grid.flipped.any()
    np.testing.assert_allclose(grid.eta, 5.0 / grid.grad_norm, rtol=1e-15)
    short = min_flip_step(net, X, method="grid", grid_step=0.01, max_steps=7)
    np.testing.assert_allclose(short.delta, 0.07, rtol=1e-15)


def test_all_negative_network_flips_only_where_every_neuron_is_off():
    """All a_s = -1: f <= 0, so f < 0 flips only by reaching exactly 0 (every neuron off; f = 0 counts as
    flipped under sign(0) = +1). That structural tie must be found, not lost to rounding."""
    net = _same_sign_network(sign=-1.0)
    X = bc.sample_sphere(40, 6, rng=2)
    res = min_flip_step(net, X)
    assert (res.f < 0).all() and 0 < res.flipped.sum() < 40
    _check_against_reference(net, X, res)
    fl = res.flipped[0]
    for factor, count in ((1 + 1e-9, 0), (1 - 1e-9, 1)):  # just past t*: all off; just before: one on
        Xp = X[fl] + (factor * res.delta[0, fl])[:, None] * res.direction[0, fl]
        assert (bc.activation_counts(net, Xp)[0] == count).all()


def test_zero_gradient_gives_inf_without_nan():
    """Every neuron inactive at x (w_s . x < 0): the gradient is zero, along with the direction."""
    d, m = 5, 7
    x = bc.sample_sphere(1, d, rng=0)[0]
    R = np.random.default_rng(1).standard_normal((m, d))
    W0 = R - (R @ x + 1.0)[:, None] * x[None, :]     # w_s . x = -1 for every s
    for c in (None, 0.5, -0.5):
        net = Network(a=np.ones(m), W0=W0, output_bias=c)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            res = min_flip_step(net, x[None])
            grid = min_flip_step(net, x[None], method="grid", max_steps=20)
        assert res.grad_norm[0, 0] == 0
        assert np.isinf(res.eta[0, 0]) and np.isinf(res.delta[0, 0]) and not res.flipped[0, 0]
        np.testing.assert_array_equal(res.direction, 0.0)
        assert grid.delta[0, 0] == pytest.approx(20e-3) and not grid.flipped[0, 0]
        assert np.isinf(grid.eta[0, 0])


def test_user_direction():
    net = bc.init_network(10, 60, n_inits=2, parametrization="theory", rng=0)
    X = bc.sample_sphere(6, 10, rng=1)
    base = min_flip_step(net, X)
    # the gradient step's own direction, rescaled, reproduces delta; eta is then delta itself
    res = min_flip_step(net, X, direction=3.0 * base.direction)
    np.testing.assert_allclose(res.delta, base.delta, rtol=1e-13)
    np.testing.assert_array_equal(res.eta, res.delta)
    np.testing.assert_allclose(res.grad_norm, base.grad_norm)
    # a shared (n, d) direction, checked against bisection along it
    D = np.random.default_rng(2).standard_normal((6, 10))
    res = min_flip_step(net, X, direction=D)
    np.testing.assert_allclose(res.direction[1], D / np.linalg.norm(D, axis=1, keepdims=True), rtol=1e-15)
    _check_against_reference(net, X, res)
    # a zero direction never flips
    D[0] = 0
    res = min_flip_step(net, X, direction=D)
    assert np.isinf(res.delta[:, 0]).all() and not res.flipped[:, 0].any()
    with pytest.raises(ValueError, match="direction"):
        min_flip_step(net, X, direction=np.ones((3, 10)))


# --------------------------------------------------------------------------- the authors' grid

def test_grid_agrees_with_exact_within_one_step():
    net = bc.init_network(20, 200, n_inits=2, parametrization="theory", rng=11)
    X = bc.sample_sphere(60, 20, rng=12)
    exact = min_flip_step(net, X)
    grid = min_flip_step(net, X, method="grid")
    assert exact.flipped.all() and grid.flipped.all()
    diff = grid.delta - exact.delta
    # the grid records the first grid point past the exact crossing: 0 <= diff <= one grid step
    assert (diff >= -1e-12).all() and (diff <= 1e-3 + 1e-12).all()
    np.testing.assert_allclose(grid.eta, grid.delta / grid.grad_norm, rtol=1e-15)
    np.testing.assert_allclose(grid.delta / 1e-3, np.round(grid.delta / 1e-3), atol=1e-9)
    # exact with a fine grid: still within one (finer) step
    fine = min_flip_step(net, X[:10], method="grid", grid_step=1e-5, max_steps=200_000)
    diff = fine.delta - exact.delta[:, :10]
    assert (diff >= -1e-12).all() and (diff <= 1e-5 + 1e-12).all()


@given(st.data())
def test_grid_point_is_the_first_flipping_grid_point(data):
    net = data.draw(networks(integer=False))
    X = data.draw(inputs_for(net, on_sphere=True))
    h = 0.01
    exact = min_flip_step(net, X)
    grid = min_flip_step(net, X, method="grid", grid_step=h, max_steps=300)
    for k in range(net.n_inits):
        for i in range(len(X)):
            u, x = grid.direction[k, i], X[i]
            pos = grid.f[k, i] >= 0
            flipped = lambda v: (v < 0) if pos else (v >= 0)  # noqa: E731
            j = round(grid.delta[k, i] / h)
            # the grid never finds a flip before the exact first flip
            assert grid.delta[k, i] >= exact.delta[k, i] - 1e-9 or not grid.flipped[k, i]
            if grid.flipped[k, i]:
                assert flipped(_f_at(net, k, x + j * h * u))
            if j > 1:
                assert not flipped(_f_at(net, k, x + (j - 1) * h * u))


def test_grid_authors_convention_with_labels():
    net = bc.init_network(20, 200, parametrization="theory", rng=2)
    X = bc.sample_sphere(40, 20, rng=3)
    f = bc.forward(net, X)[0]
    y = np.where(f >= 0, 1.0, -1.0)
    y[:10] *= -1                                   # ten misclassified points
    grid = min_flip_step(net, X, method="grid", y=y)
    np.testing.assert_array_equal(grid.correct[0], y * f > 0)
    np.testing.assert_array_equal(grid.searched[0], y * f > 0)
    np.testing.assert_array_equal(grid.delta[0, :10], 0.0)
    np.testing.assert_array_equal(grid.eta[0, :10], 0.0)
    assert not grid.flipped[0, :10].any()
    assert grid.flipped[0, 10:].all() and (grid.delta[0, 10:] > 0).all()
    # the exact method keeps exact semantics unless asked
    exact = min_flip_step(net, X, y=y)
    assert exact.searched.all() and exact.flipped.all()
    zeroed = min_flip_step(net, X, y=y, authors_convention=True)
    np.testing.assert_array_equal(zeroed.delta[0, :10], 0.0)
    np.testing.assert_array_equal(zeroed.delta[0, 10:], exact.delta[0, 10:])
    # no labels: every point is searched
    assert min_flip_step(net, X, method="grid").searched.all()


def test_min_flip_step_validation():
    net = bc.init_network(4, 5, parametrization="theory", rng=0)
    X = bc.sample_sphere(3, 4, rng=1)
    with pytest.raises(ValueError, match="method"):
        min_flip_step(net, X, method="bisect")
    with pytest.raises(ValueError, match="y"):
        min_flip_step(net, X, y=[1, 0, 1])
    with pytest.raises(ValueError, match="grid_step"):
        min_flip_step(net, X, method="grid", grid_step=0.0)
    with pytest.raises(ValueError, match="max_steps"):
        min_flip_step(net, X, method="grid", max_steps=0)
    with pytest.raises(TypeError, match="authors_convention"):
        min_flip_step(net, X, authors_convention="yes")


# --------------------------------------------------------------------------- Monte Carlo sanity at W0

def test_monte_carlo_eta_times_d_at_init():
    """Theory parametrization at W0, d = 100, m = 2000: eta* d against theory section 5.6 and the linearized law.

    Samples are K = 40 inits x 25 points. Points of one init share its random offset
    E_x f = (1/sqrt m) sum_s a_s E_x relu(w_s . x) (sd ~ 0.4 across inits), so they are not independent:
    standard errors come from the K per-init means, which are i.i.d.
    """
    d, m, K, n = 100, 2000, 40, 25
    net = bc.init_network(d, m, n_inits=K, parametrization="theory", rng=2022)
    X = bc.sample_sphere(n, d, rng=7)
    res = min_flip_step(net, X)
    assert res.flipped.mean() > 0.99

    def mean_se(v):
        per_init = v.mean(axis=1)
        return per_init.mean(), per_init.std(ddof=1) / math.sqrt(K)

    # theory section 5.6's 1.18-1.28 is a band of measured means (d in {25, 100, 400}): a 4-se interval around ours
    # (two-sided level ~6e-5 under the normal approximation of the mean of 40 i.i.d. init means) meets it
    mean, se = mean_se(np.where(res.flipped, res.eta, np.nan) * d)
    assert mean - 4 * se <= 1.28 and mean + 4 * se >= 1.18, (mean, se)
    # the linearized step |f| / ||grad f||^2 d. Its law is DERIVED: with ||x|| = 1, ||g||^2 = f^2 + ||P g||^2
    # (Euler), and given a and the pre-activations, P g ~ N(0, (N/m) P) with N active neurons, so
    # ||P g||^2 = (N/m) chi2_{d-1} independent of f. With f ~ N(0, 1/2) and N/m ~ 1/2 (CLT, errors
    # O(1/sqrt m)), E[d |F| / (F^2 + Q/2)] is computed below by a 4e6-draw Monte Carlo (se ~ 5e-4).
    gen = np.random.default_rng(0)
    F = gen.standard_normal(4_000_000) * math.sqrt(0.5)
    Q = gen.chisquare(d - 1, F.size)
    expected = np.mean(d * np.abs(F) / (F**2 + Q / 2))
    mean, se = mean_se(np.abs(res.f) / res.grad_norm**2 * d)
    assert abs(mean - expected) <= 4 * se + 0.01, (mean, expected, se)
    # ||grad f|| / sqrt(d) -> 1/sqrt(2) (theory section 5.6); the same 4-se rule, plus the O(1/d) finite-d bias
    mean, se = mean_se(res.grad_norm / math.sqrt(d))
    assert abs(mean - 1 / math.sqrt(2)) <= 4 * se + 0.01, (mean, se)


# --------------------------------------------------------------------------- projections

_vectors = hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
                      elements=st.floats(-10, 10, allow_nan=False, width=64))


# radii 0 or >= 1e-200: a subnormal radius cannot carry relative precision
_radii = st.one_of(st.just(0.0), st.floats(1e-200, 5))


@given(_vectors, _vectors, _radii)
def test_project_l2_properties(u, v, eps):
    v = v[: u.shape[0], : u.shape[1]] if v.shape[0] >= u.shape[0] and v.shape[1] >= u.shape[1] else u[::-1]
    pu, pv = project_l2(u, eps), project_l2(v, eps)
    norm = lambda w: np.hypot.reduce(w, axis=1)  # noqa: E731  (no under/overflow for tiny eps)
    assert (norm(pu) <= eps * (1 + 1e-14)).all()
    np.testing.assert_allclose(project_l2(pu, eps), pu, rtol=1e-14, atol=0)     # idempotent
    inside = norm(u) < eps * (1 - 1e-14)
    np.testing.assert_array_equal(pu[inside], u[inside])                        # identity inside
    gap = norm(pu - pv)
    assert (gap <= norm(u - v) + 1e-13 * (norm(u) + norm(v))).all()             # non-expansive


@given(_vectors, _vectors, _radii)
def test_project_linf_and_box_properties(u, v, eps):
    v = u[::-1] if v.shape != u.shape else v
    pu, pv = project_linf(u, eps), project_linf(v, eps)
    assert (np.abs(pu) <= eps).all()
    np.testing.assert_array_equal(project_linf(pu, eps), pu)
    assert (np.abs(pu - pv) <= np.abs(u - v)).all()
    bu, bv = project_box(u, -1.0, 2.0), project_box(v, -1.0, 2.0)
    assert ((bu >= -1) & (bu <= 2)).all()
    np.testing.assert_array_equal(project_box(bu, -1.0, 2.0), bu)
    assert (np.abs(bu - bv) <= np.abs(u - v)).all()


def test_projection_broadcasting_and_validation():
    D = np.random.default_rng(0).standard_normal((3, 4, 5))
    eps = np.array([0.1, 1.0, 10.0])[:, None]
    P = project_l2(D, eps)
    for e in range(3):
        np.testing.assert_array_equal(P[e], project_l2(D[e], eps[e, 0]))
    Q = project_linf(D, eps)
    assert (np.abs(Q[0]) <= 0.1).all()
    with pytest.raises(ValueError, match="eps"):
        project_l2(D, -1.0)
    with pytest.raises(ValueError, match="broadcast"):
        project_l2(D, np.ones(7))
    with pytest.raises(ValueError, match="low"):
        project_box(D, 1.0, 0.0)


# --------------------------------------------------------------------------- FGM / FGSM

def test_fgm_fgsm_on_a_linear_network_are_optimal():
    net = _linear_network(6, 10, 3)
    X = bc.sample_sphere(9, 6, rng=4)
    y = np.where(np.arange(9) % 2 == 0, 1.0, -1.0)
    g = net.W0[0, :10].sum(axis=0) / math.sqrt(net.width)
    f = bc.forward(net, X)[0]
    eps = 0.3
    D = fgm(net, X, y, eps)
    assert D.shape == (1, 9, 6)
    np.testing.assert_allclose(np.linalg.norm(D, axis=-1), eps, rtol=1e-14)
    np.testing.assert_allclose(y * bc.forward(net, X + D[0])[0], y * f - eps * np.linalg.norm(g), rtol=1e-12)
    S = fgsm(net, X, y, eps)
    np.testing.assert_allclose(np.abs(S), eps)
    np.testing.assert_allclose(y * bc.forward(net, X + S[0])[0], y * f - eps * np.abs(g).sum(), rtol=1e-12)


def test_fgm_zero_gradient_gives_zero_delta():
    d, m = 4, 3
    x = bc.sample_sphere(1, d, rng=0)[0]
    W0 = -np.tile(x, (m, 1))
    net = Network(a=np.ones(m), W0=W0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(fgm(net, x[None], [1], 0.5), 0.0)
        np.testing.assert_array_equal(fgsm(net, x[None], [1], 0.5), 0.0)
        res = pgd(net, x[None], [1], 0.5, steps=5)
    np.testing.assert_array_equal(res.delta, 0.0)


# --------------------------------------------------------------------------- PGD

def test_per_init_pass_matches_ops():
    net = bc.init_network(7, 30, n_inits=3, parametrization="paper_code", rng=0)
    X = np.random.default_rng(1).random((11, 7))
    f, g = attacks._per_init_pass(net, np.broadcast_to(X, (3, 11, 7)).copy(), net.W0, net.b0, True)
    np.testing.assert_allclose(f, bc.forward(net, X), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(g, bc.input_gradient(net, X), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_pgd_on_a_linear_network_reaches_the_optimum(norm):
    net = _linear_network(10, 20, 5)
    X = bc.sample_sphere(12, 10, rng=6)
    y = np.where(np.arange(12) < 6, 1.0, -1.0)
    g = net.W0[0, :20].sum(axis=0) / math.sqrt(net.width)
    f = bc.forward(net, X)[0]
    eps = np.array([0.05, 0.2])
    res = pgd(net, X, y, eps, norm=norm, steps=100)
    dual = np.linalg.norm(g) if norm == "l2" else np.abs(g).sum()
    for e in range(2):
        optimum = y * f - eps[e] * dual
        np.testing.assert_allclose(y * res.f_adv[e, 0], optimum, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(res.success, y * res.f_adv <= 0)
    np.testing.assert_allclose(res.loss, np.log1p(np.exp(-y * res.f_adv)), rtol=1e-12)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_pgd_never_worse_than_its_start_and_stays_feasible(norm):
    net = bc.init_network(16, 80, n_inits=2, parametrization="paper_code", rng=1)
    X = np.random.default_rng(2).random((20, 16))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.where(np.random.default_rng(3).random(20) < 0.5, 1.0, -1.0)
    eps = [0.0, 0.1, 0.4]
    kw = dict(norm=norm, random_start=True, box=(0.0, 1.0), rng=9)
    start = pgd(net, X, y, eps, steps=0, **kw)
    res = pgd(net, X, y, eps, steps=25, **kw)
    assert (res.loss >= start.loss).all()
    assert (res.X_adv >= 0).all() and (res.X_adv <= 1).all()
    size = (np.linalg.norm(res.delta, axis=-1) if norm == "l2" else np.abs(res.delta).max(axis=-1))
    assert (size <= np.array(eps)[:, None, None] * (1 + 1e-12) + 1e-15).all()
    np.testing.assert_array_equal(res.delta[0], 0.0)
    for e in range(3):
        for k in range(2):
            np.testing.assert_allclose(res.f_adv[e, k], bc.forward(net, res.X_adv[e, k])[k],
                                       rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_pgd_eps_array_equals_separate_calls_and_rng(norm):
    net = bc.init_network(8, 40, n_inits=2, parametrization="theory", rng=4)
    X = bc.sample_sphere(10, 8, rng=5)
    y = np.where(bc.forward(net, X)[0] > 0, 1.0, -1.0)
    eps = [0.05, 0.3]
    both = pgd(net, X, y, eps, norm=norm, steps=15, random_start=True, rng=1)
    for e, ep in enumerate(eps):
        one = pgd(net, X, y, ep, norm=norm, steps=15, random_start=True, rng=1, batch=3)
        np.testing.assert_allclose(one.delta[0], both.delta[e], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(one.f_adv[0], both.f_adv[e], rtol=1e-12, atol=1e-15)
    again = pgd(net, X, y, eps, norm=norm, steps=15, random_start=True, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(again.delta, both.delta)
    other = pgd(net, X, y, eps, norm=norm, steps=15, random_start=True, rng=2)
    assert not np.array_equal(other.delta, both.delta)


def test_random_start_l2_is_uniform_in_the_ball():
    d, n = 5, 3000
    net = bc.init_network(d, 4, parametrization="theory", rng=0)
    X = bc.sample_sphere(n, d, rng=1)
    res = pgd(net, X, np.ones(n), 2.0, steps=0, random_start=True, rng=2024)
    D = res.delta[0, 0]
    r = np.linalg.norm(D, axis=1) / 2.0
    # uniform in the ball: P(||delta|| / eps <= r) = r^d; KS test at level 1e-3 (fixed seed)
    assert stats.kstest(r, lambda t: np.clip(t, 0, 1) ** d).pvalue > 1e-3
    # the direction is uniform on the sphere: each coordinate of D/||D|| has mean 0 and variance 1/d,
    # so its sample mean has sd 1/sqrt(n d); allow 4.5 sd for each of the d coordinates
    U = D / np.linalg.norm(D, axis=1, keepdims=True)
    assert (np.abs(U.mean(axis=0)) <= 4.5 / math.sqrt(n * d)).all()


def test_random_start_linf_is_uniform_in_the_cube():
    d, n = 4, 1000
    net = bc.init_network(d, 4, parametrization="theory", rng=0)
    X = bc.sample_sphere(n, d, rng=1)
    res = pgd(net, X, np.ones(n), 0.5, norm="linf", steps=0, random_start=True, rng=7)
    coords = res.delta[0, 0].ravel()
    assert stats.kstest(coords, stats.uniform(loc=-0.5, scale=1.0).cdf).pvalue > 1e-3


def test_pgd_step_size_default_and_validation():
    net = bc.init_network(4, 6, parametrization="theory", rng=0)
    X = bc.sample_sphere(3, 4, rng=1)
    res = pgd(net, X, [1, -1, 1], [0.1, 0.2], steps=50)
    np.testing.assert_allclose(res.step_size, [0.005, 0.01])
    assert res.eps.shape == (2,) and res.delta.shape == (2, 1, 3, 4)
    assert pgd(net, X, [1, -1, 1], 0.1, steps=5).delta.shape == (1, 1, 3, 4)
    with pytest.raises(ValueError, match="eps"):
        pgd(net, X, [1, -1, 1], -0.1)
    with pytest.raises(ValueError, match="norm"):
        pgd(net, X, [1, -1, 1], 0.1, norm="l1")
    with pytest.raises(ValueError, match="step_size"):
        pgd(net, X, [1, -1, 1], [0.1, 0.2], step_size=[1, 2, 3])
    with pytest.raises(ValueError, match="y"):
        pgd(net, X, [1, 2, 1], 0.1)


def test_robust_error():
    net = _linear_network(10, 20, 5)
    X = bc.sample_sphere(50, 10, rng=6)
    f = bc.forward(net, X)[0]
    y = np.where(f > 0, 1.0, -1.0)
    y[:5] *= -1                                       # 5 clean errors
    g = np.linalg.norm(net.W0[0, :20].sum(axis=0)) / math.sqrt(net.width)
    eps = np.array([0.0, 0.1, 0.3])
    err = robust_error(net, X, y, eps, steps=100)
    # linear f: x is attacked iff y f(x) <= eps ||g||
    expected = [(y * f <= e * g).mean() for e in eps]
    np.testing.assert_allclose(err[:, 0], expected)
    assert err.shape == (3, 1)


def test_pgd_dtype_validation_and_float32_outputs():
    net = bc.init_network(6, 20, parametrization="paper_code", rng=0)
    X = np.random.default_rng(1).random((5, 6))
    y = np.array([1.0, -1.0, 1.0, 1.0, -1.0])
    with pytest.raises(ValueError, match="dtype"):
        pgd(net, X, y, 0.1, dtype=np.int32)
    with pytest.raises(TypeError, match="dtype"):
        pgd(net, X, y, 0.1, dtype="no such type")
    res = pgd(net, X, y, [0.1, 0.3], steps=10, box=(0.0, 1.0), random_start=True, rng=2, dtype=np.float32)
    assert res.delta.dtype == res.X_adv.dtype == np.float32
    assert res.f_adv.dtype == res.loss.dtype == np.float64
    assert (res.X_adv >= 0).all() and (res.X_adv <= 1).all()
    # the projection scales by eps / ||delta|| in float32: the norm exceeds eps by at most a few roundings
    u = np.finfo(np.float32).eps
    size = np.linalg.norm(res.delta.astype(np.float64), axis=-1)
    assert (size <= np.array([0.1, 0.3])[:, None, None] * (1 + 8 * u)).all()
    err = robust_error(net, X, y, [0.1, 0.3], steps=10, box=(0.0, 1.0), dtype=np.float32)
    assert err.shape == (2, 1)
