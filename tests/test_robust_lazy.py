"""Tests of boundcheck.robust_lazy: the exact segment deviation, the sufficient step, the margin gradient and
the adversary over W; and the two studies (Theorem 3.1, Corollary 3.2) end to end in quick mode."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundcheck as bc
from boundcheck import reference
from boundcheck.lazy import f_range, lazy_distance
from boundcheck.network import Network
from boundcheck.robust_lazy import (CANDIDATES, certify_step, random_lazy_weights, robust_lazy_weights,
                                    segment_gradient_deviation, step_margin, sufficient_step)
from boundcheck.testing import inputs_for, networks, seeds

#: Kernel tests run twice, on the compiled kernels and on their Python functions (fixture in conftest.py).
KERNELS = pytest.mark.usefixtures("kernels")


# --------------------------------------------------------------------------- an independent reference

def _ray(net, X, W, b, k, i):
    """x, g = grad f(x), f(x) and s = sign f (sign(0) = +1) from the plain-numpy reference."""
    g = reference.input_gradient(net, X[i:i + 1], W, b)[k, 0]
    f = reference.forward(net, X[i:i + 1], W, b)[k, 0]
    return X[i], g, f, (1.0 if f >= 0 else -1.0)


def _deviation_at(net, W, b, k, x, g, s, t):
    gz = reference.input_gradient(net, (x - t * s * g)[None], W, b)[k, 0]
    return float(np.linalg.norm(gz - g))


def _dseg_reference(net, X, W, b, eta, k, i):
    """max over [0, eta] of the gradient change, walking the ray in exact rational arithmetic.

    The pre-activation of neuron s along ``x - t s g`` is ``z_s + t c_s``, with ``z_s`` and ``c_s`` formed as
    exact fractions of the stored floats; the activation pattern (``> 0``, relu'(0) = 0) is then evaluated
    exactly at 0, eta, every breakpoint ``-z_s / c_s`` in [0, eta] and the midpoints of the pieces between
    them: the pattern is constant on each open piece, so this sees every state the segment reaches, exact
    ties included (e.g. a bias-free ray through the origin, where every neuron is at its kink at once and
    the gradient is 0; evaluating the network at the rounded float point misses that state)."""
    from fractions import Fraction

    x, g, f, s = _ray(net, X, W, b, k, i)
    Wk = (net.W0 if W is None else W)[k]
    bk = net.b0 if b is None else b
    m = Wk.shape[0]
    z = [sum((Fraction(float(w)) * Fraction(float(xj)) for w, xj in zip(Wk[q], x)), Fraction(0))
         + (Fraction(0) if bk is None else Fraction(float(bk[k, q]))) for q in range(m)]
    c = [-Fraction(int(s)) * sum((Fraction(float(w)) * Fraction(float(gj)) for w, gj in zip(Wk[q], g)), Fraction(0))
         for q in range(m)]
    end = Fraction(float(eta))
    T = sorted({-z[q] / c[q] for q in range(m) if c[q] != 0 and 0 <= -z[q] / c[q] <= end})
    edges = [Fraction(0)] + T + [end]
    points = [Fraction(0), end] + T + [(lo + hi) / 2 for lo, hi in zip(edges[:-1], edges[1:])]
    best = 0.0
    for t in points:
        grad = np.zeros(Wk.shape[1])
        for q in range(m):                      # the sum of reference.input_gradient, in its order
            if z[q] + t * c[q] > 0:
                grad += net.a[k, q] * Wk[q]
        grad /= math.sqrt(m)
        best = max(best, float(np.linalg.norm(grad - g)))
    return best


def _gaussian_nets(**kw):
    return networks(integer=False, max_inits=2, max_width=8, max_dim=4, **kw)


def _scale_of(net, X, W=None):
    """A magnitude for rounding tolerances: sum_s |a_s| ||w_s|| (||x|| + 1) / sqrt(m)."""
    W = net.W0 if W is None else W
    xn = np.linalg.norm(X, axis=1).max() if len(X) else 1.0
    return float((np.abs(net.a)[..., None] * np.linalg.norm(W, axis=-1)[..., None]).sum() * (xn + 1)
                 / math.sqrt(net.width)) + 1.0


# --------------------------------------------------------------------------- D_seg

@KERNELS
@given(st.data())
def test_segment_deviation_matches_reference(data):
    net = data.draw(_gaussian_nets())
    X = data.draw(inputs_for(net, max_points=3, on_sphere=True))
    eta = data.draw(st.floats(0.0, 3.0))
    D = segment_gradient_deviation(net, X, eta=eta)
    tol = 1e-9 * _scale_of(net, X) ** 2
    for k in range(net.n_inits):
        for i in range(len(X)):
            assert D[k, i] == pytest.approx(_dseg_reference(net, X, None, None, eta, k, i), abs=tol)


@KERNELS
@given(st.data())
def test_segment_deviation_dominates_dense_sampling(data):
    """The exact maximum is >= the gradient change at every one of 401 sampled points of [0, eta], and is
    monotone in eta (the segment grows)."""
    net = data.draw(_gaussian_nets(parametrization="theory"))
    X = data.draw(inputs_for(net, max_points=2, on_sphere=True))
    eta = data.draw(st.floats(0.01, 2.0))
    D = segment_gradient_deviation(net, X, eta=eta)
    D_half = segment_gradient_deviation(net, X, eta=eta / 2)
    assert np.all(D_half <= D + 1e-12)
    tol = 1e-9 * _scale_of(net, X) ** 2
    for k in range(net.n_inits):
        for i in range(len(X)):
            x, g, f, s = _ray(net, X, None, None, k, i)
            dense = max(_deviation_at(net, None, None, k, x, g, s, t) for t in np.linspace(0, eta, 401))
            assert dense <= D[k, i] + tol


@KERNELS
def test_segment_deviation_tie_conventions():
    """An active neuron turns off exactly at its breakpoint, which the closed segment [0, eta] includes; a
    neuron exactly at its kink (inactive, relu'(0) = 0) with a positive slope turns on for every t > 0."""
    # x = e1, w1 = e1, w2 = e2, a = (1, 1): f = 1/sqrt 2, grad f = e1/sqrt 2; neuron 1's pre-activation along
    # x - t grad f is 1 - t/sqrt 2 (off from T = sqrt 2 on), neuron 2's stays 0 (slope 0: never on)
    net = Network(a=np.array([1.0, 1.0]), W0=np.array([[1.0, 0.0], [0.0, 1.0]]))
    X = np.array([[1.0, 0.0]])
    T = -1.0 / -(1.0 / math.sqrt(2.0))          # the breakpoint as the scan computes it, -z / slope
    assert segment_gradient_deviation(net, X, eta=np.nextafter(T, 0.0))[0, 0] == 0.0
    assert segment_gradient_deviation(net, X, eta=T)[0, 0] == pytest.approx(1 / math.sqrt(2), rel=1e-15)
    assert segment_gradient_deviation(net, X, eta=np.inf)[0, 0] == pytest.approx(1 / math.sqrt(2), rel=1e-15)
    # x = e2, w1 = (1, 1), w2 = (-1, 0), a = (1, 1): z = (1, 0), grad f = w1/sqrt 2; neuron 2's pre-activation
    # is t/sqrt 2 > 0 for t > 0, so it is on at once: the change is ||w2|| / sqrt 2
    net2 = Network(a=np.array([1.0, 1.0]), W0=np.array([[1.0, 1.0], [-1.0, 0.0]]))
    X2 = np.array([[0.0, 1.0]])
    assert segment_gradient_deviation(net2, X2, eta=1e-9)[0, 0] == pytest.approx(1 / math.sqrt(2), rel=1e-15)
    assert segment_gradient_deviation(net2, X2, eta=0.0)[0, 0] == 0.0


# --------------------------------------------------------------------------- eta_suff

def _exact_margin_after(net, X, eta, W, b, k, i):
    """``s f(x')`` at ``x' = x - eta s g`` (g the float gradient the step uses), in exact rational arithmetic
    on the stored floats (the output scale ``1/sqrt(m)`` as its float)."""
    from fractions import Fraction

    W = net.W0 if W is None else W
    b = net.b0 if b is None else b
    f = float(bc.forward(net, X[i:i + 1], W, b)[k, 0])
    s = 1 if f >= 0 else -1
    g = bc.input_gradient(net, X[i:i + 1], W, b)[k, 0]
    xp = [Fraction(xj) - Fraction(float(eta)) * s * Fraction(gj) for xj, gj in zip(X[i].tolist(), g.tolist())]
    total = Fraction(0)
    for srow in range(W.shape[1]):
        pre = sum((Fraction(w) * xj for w, xj in zip(W[k, srow].tolist(), xp)), Fraction(0))
        if b is not None:
            pre += Fraction(float(b[k, srow]))
        total += Fraction(float(net.a[k, srow])) * max(pre, Fraction(0))
    value = Fraction(1.0 / math.sqrt(W.shape[1])) * total
    if net.output_bias is not None:
        value += Fraction(float(net.output_bias[k]))
    return s * value


def _check_sufficient(net, X, W=None, b=None):
    suff = sufficient_step(net, X, W, b)
    flip = bc.min_flip_step(net, X, W, b)
    scale = _scale_of(net, X, W)
    # eta_suff >= eta*: the certificate implies a flip. Rounding: both are roots of piecewise-linear
    # functions computed in float64; 1e-9 relative covers their few-ulp differences.
    ok = suff.certifiable
    assert np.all(suff.eta[ok] >= flip.eta[ok] * (1 - 1e-9) - 1e-12)
    # where a step is certified, the step at eta_suff flips: f never needs more than eta_suff
    assert np.all(flip.flipped[ok])
    # just above eta_suff (inside the certified piece) the registry certifies and the step flips; just
    # below, it does not certify (eta_suff is the smallest)
    # (only on pieces wider than rounding: e.g. a one-neuron network reaches f = 0 exactly at its kink, and
    # the certified piece is then a few ulps wide)
    with np.errstate(invalid="ignore"):
        wide = ok & (suff.piece_end - suff.eta > 1e-6 * suff.eta) & (suff.eta > 0)
    if wide.any():
        with np.errstate(invalid="ignore"):
            up = np.where(wide, suff.eta + np.minimum(0.5 * (suff.piece_end - suff.eta), 1e-7 * suff.eta), 0.0)
        cert = certify_step(net, X, up, W, b)
        assert np.all(cert.certified[wide])
        # the step flips: judged in exact arithmetic, since f(x') in floats can round a tiny f to the wrong side
        # (x = (0, -2.5e-46, 0) next to biases of 1: f(x') ~ 1e-46, while its float error is ~ 1e-16)
        for k, i in zip(*np.nonzero(wide)):
            assert _exact_margin_after(net, X, up[k, i], W, b, k, i) <= 0, (k, i)
        lo = np.where(wide, suff.eta * (1 - 1e-7), 0.0)
        below = certify_step(net, X, lo, W, b)
        assert not np.any(below.certified[wide])
    # never certified anywhere on a grid where eta_suff is infinite
    for eta in np.geomspace(1e-4, 1e3, 25):
        cert = certify_step(net, X, eta, W, b)
        assert not np.any(cert.certified & ~ok)
        assert np.all(eta >= suff.eta[cert.certified] * (1 - 1e-9))
    return suff, flip, scale


@KERNELS
@given(st.data())
def test_sufficient_step_dominates_min_flip_step(data):
    net = data.draw(networks(max_inits=2, max_width=8, max_dim=4))
    X = data.draw(inputs_for(net, max_points=3))
    _check_sufficient(net, X)


@KERNELS
@given(st.data())
@settings(max_examples=20)
def test_sufficient_step_at_lazy_weights(data):
    net = data.draw(_gaussian_nets(parametrization="theory"))
    X = data.draw(inputs_for(net, max_points=3, on_sphere=True))
    radius = data.draw(st.floats(0.0, 1.0))
    W = random_lazy_weights(net, radius, rng=data.draw(seeds()))
    _check_sufficient(net, X, W)


def test_sufficient_step_theory_network():
    """d = 20, m = 200: eta_suff >= eta* for every draw, and the certificate is often informative."""
    net = bc.init_network(20, 200, n_inits=4, parametrization="theory", rng=3)
    X = bc.sample_sphere(40, 20, rng=4)
    suff, flip, _ = _check_sufficient(net, X)
    assert suff.certifiable.mean() > 0.3  # at d = 20, eta_suff is finite in most draws (theory section 3)
    ratio = suff.eta[suff.certifiable] / flip.eta[suff.certifiable]
    assert np.all(ratio >= 1 - 1e-9)
    # D_seg reported for the certified piece: recompute at a step inside it
    ok = suff.certifiable
    with np.errstate(invalid="ignore"):
        mid = np.where(ok, suff.eta + 0.5 * np.minimum(suff.piece_end - suff.eta, suff.eta), 0.0)
    D = segment_gradient_deviation(net, X, eta=mid)
    assert np.allclose(D[ok], suff.D_seg[ok], rtol=1e-12, atol=1e-12)


@KERNELS
def test_sufficient_step_zero_output_and_zero_gradient():
    # f = 0 and grad f = 0 (the only neuron is off): the step never moves, nothing is ever certified
    net0 = Network(a=np.array([1.0]), W0=np.array([[1.0, 0.0]]))
    s0 = sufficient_step(net0, np.array([[-1.0, 0.0]]), sign_zero_positive=True)
    assert np.isinf(s0.eta).all() and not s0.certifiable.any()
    # f = 0 with grad f = (0, sqrt 2): along x - t grad f, f(t) = -2t < 0, a flip at once under sign(0) := +1
    net = Network(a=np.array([1.0, -1.0]), W0=np.array([[1.0, 1.0], [1.0, -1.0]]))
    X = np.array([[1.0, 0.0]])
    assert bc.forward(net, X)[0, 0] == 0.0
    assert np.isinf(sufficient_step(net, X).eta).all()          # the registry's condition needs f != 0
    s = sufficient_step(net, X, sign_zero_positive=True)
    assert s.eta[0, 0] == 0.0 and s.certifiable.all()
    assert certify_step(net, X, 1e-3).flipped.all()
    with pytest.raises(TypeError, match="sign_zero_positive"):
        sufficient_step(net, X, sign_zero_positive=1)


# --------------------------------------------------------------------------- the margin gradient

@given(st.data())
@settings(max_examples=30)
def test_margin_gradient_matches_finite_differences(data):
    """Central differences along a random direction; with the patterns fixed the margin is a quadratic in
    W, so the central difference is exact up to rounding (tolerance: a few ulps of the margin over h)."""
    seed = data.draw(seeds())
    gen = np.random.default_rng(seed)
    K, m, d, n = 2, data.draw(st.integers(1, 12)), data.draw(st.integers(1, 6)), data.draw(st.integers(1, 4))
    net = bc.init_network(d, m, n_inits=K, parametrization="theory", rng=gen)
    if data.draw(st.booleans()):
        net = Network(a=net.a, W0=net.W0, output_bias=gen.standard_normal(K))
    X = bc.sample_sphere(n, d, rng=gen)
    W = random_lazy_weights(net, 0.3, rng=gen)
    eta = data.draw(st.floats(0.0, 0.5))
    labels = "sign" if data.draw(st.booleans()) else np.where(gen.random(n) < 0.5, -1.0, 1.0)
    weights = gen.random((K, n))
    sm = step_margin(net, X, eta, W, y_or_sign=labels, weights=weights)
    V = gen.standard_normal(W.shape)
    h = 1e-6
    plus = step_margin(net, X, eta, W + h * V, y_or_sign=labels, need_grad=False)
    minus = step_margin(net, X, eta, W - h * V, y_or_sign=labels, need_grad=False)
    # skip draws where a pattern or a sign changes within +-h (the margin is only piecewise smooth)
    same = np.all(plus.s == minus.s) and np.all(plus.s == sm.s)
    pre = np.matmul(X, W.transpose(0, 2, 1))
    near_kink = np.abs(pre).min() < 1e-4
    if not same or near_kink:
        return
    fd = ((plus.margin - minus.margin) * weights).sum(axis=1) / (2 * h)
    analytic = np.einsum("kmd,kmd->k", sm.grad, V)
    tol = 1e-6 * (1 + np.abs(analytic)) * (1 + np.linalg.norm(V))
    assert np.all(np.abs(fd - analytic) <= tol)


def test_margin_gradient_fixed_example():
    """A generic draw (no kink within 1e-3) checked coordinate by coordinate."""
    net = bc.init_network(5, 7, n_inits=1, parametrization="theory", rng=11)
    X = bc.sample_sphere(2, 5, rng=12)
    W = random_lazy_weights(net, 0.2, rng=13)
    eta = 0.2
    sm = step_margin(net, X, eta, W)
    h = 1e-6
    fd = np.empty_like(W)
    for s in range(7):
        for r in range(5):
            E = np.zeros_like(W)
            E[0, s, r] = h
            fd[0, s, r] = (step_margin(net, X, eta, W + E, need_grad=False).margin.sum()
                           - step_margin(net, X, eta, W - E, need_grad=False).margin.sum()) / (2 * h)
    assert np.allclose(fd, sm.grad, rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------- the adversary

@KERNELS
@pytest.mark.parametrize("per_point", [True, False])
def test_adversary_witness_in_ball_never_worse_and_recomputes(per_point):
    d, m, C0 = 20, 60, 2.0
    net = bc.init_network(d, m, n_inits=3, parametrization="theory", rng=5)
    X = bc.sample_sphere(3, d, rng=6)
    R = bc.lazy_radius(C0, m)
    eta = 2.0 / d
    res = robust_lazy_weights(net, X, "sign", R, eta, steps=15, rng=7, per_point=per_point, batch=2)
    assert res.kind == "heuristic" and set(res.candidate_values) == set(CANDIDATES)
    for i in range(len(X)):
        W = res.witness(i) if per_point else res.witness()
        # in the ball, with no rounding allowance (every iterate passes through _numeric.into_ball)
        assert np.all(lazy_distance(W, net.W0) <= R)
        cert = certify_step(net, X[i:i + 1], eta, W)
        assert np.allclose(cert.margin_after[:, 0], res.value[:, i], rtol=1e-9, atol=1e-12)
        assert np.array_equal(~cert.flipped[:, 0], res.robust[:, i])
    if per_point:
        for name, values in res.candidate_values.items():
            assert np.all(res.value >= values), name
        wc = res.worst_case()
        assert wc.kind == "heuristic" and wc.sense == "max"
        assert np.array_equal(wc.witness(1)[0], res.witness(1))
    else:
        for name, rob in res.candidate_robust.items():
            assert np.all(res.n_robust >= rob.sum(axis=1)), name
        with pytest.raises(ValueError, match="per_point"):
            res.worst_case()
    # the ascent is deterministic, and does not depend on the chunking of the inits
    again = robust_lazy_weights(net, X, "sign", R, eta, steps=15, rng=7, per_point=per_point, batch=3)
    assert np.allclose(again.value, res.value, rtol=1e-12, atol=1e-14)


@KERNELS
def test_adversary_candidates_are_the_structured_points():
    """At eta = 0 the margin is s f(x; W): the f_push candidate attains the exact f-range on f's side, the
    init candidate f(x; W0)'s absolute value; with R = 0 everything is W0."""
    net = bc.init_network(10, 40, n_inits=4, parametrization="theory", rng=1)
    X = bc.sample_sphere(2, 10, rng=2)
    R = bc.lazy_radius(1.5, 40)
    res = robust_lazy_weights(net, X, "sign", R, 0.0, steps=0, rng=3)
    f0 = bc.forward(net, X)
    fr = f_range(net, X, R)
    expect = np.where(f0 >= 0, fr.upper.value, -fr.lower.value)
    assert np.allclose(res.candidate_values["f_push"], expect, rtol=1e-12, atol=1e-12)
    assert np.allclose(res.candidate_values["init"], np.abs(f0), rtol=1e-12, atol=1e-15)
    assert np.allclose(res.value, expect, rtol=1e-12, atol=1e-12)  # f_push is the exact maximum at eta = 0
    zero = robust_lazy_weights(net, X, "sign", 0.0, 0.1, steps=5, rng=3)
    assert set(zero.candidate_values) == {"init"}
    assert np.array_equal(zero.witness(0), net.W0)
    cert = certify_step(net, X, 0.1)
    assert np.allclose(zero.value, cert.margin_after, rtol=1e-12, atol=1e-14)


@KERNELS
def test_adversary_with_labels_and_validation():
    net = bc.init_network(8, 30, n_inits=2, parametrization="theory", rng=4)
    X = bc.sample_sphere(4, 8, rng=5)
    y = np.array([1.0, -1.0, 1.0, -1.0])
    R = bc.lazy_radius(3.0, 30)
    res = robust_lazy_weights(net, X, y, R, 0.2, steps=10, rng=0, per_point=False, surrogate="softplus")
    W = res.witness()
    f_after = step_margin(net, X, 0.2, W, y_or_sign=y, need_grad=False)
    assert np.allclose(f_after.margin, res.value, rtol=1e-12, atol=1e-14)
    assert np.array_equal(res.robust, res.value > 0)
    for name, rob in res.candidate_robust.items():
        assert np.all(res.n_robust >= rob.sum(axis=1)), name
    with pytest.raises(ValueError, match="y_or_sign"):
        robust_lazy_weights(net, X, np.ones(3), R, 0.1)
    with pytest.raises(ValueError, match="y_or_sign"):
        robust_lazy_weights(net, X, "labels", R, 0.1)
    with pytest.raises(ValueError, match="radius"):
        robust_lazy_weights(net, X, "sign", -1.0, 0.1)
    with pytest.raises(ValueError, match="surrogate"):
        robust_lazy_weights(net, X, "sign", R, 0.1, surrogate="hinge")
    with pytest.raises(ValueError, match="temperature"):
        robust_lazy_weights(net, X, "sign", R, 0.1, temperature=0.0)
    biased = bc.init_network(8, 30, parametrization="paper_code", rng=1)
    with pytest.raises(ValueError, match="biases"):
        robust_lazy_weights(biased, X, "sign", R, 0.1)
    with pytest.raises(ValueError, match="eta"):
        segment_gradient_deviation(net, X, eta=-1.0)
    with pytest.raises(ValueError, match="eta"):
        certify_step(net, X, np.inf)
    with pytest.raises(ValueError, match="broadcast"):
        segment_gradient_deviation(net, X, eta=np.ones(3))


def test_adversary_defeats_the_step_at_large_C0():
    """A deterministic check of the study's headline: with C0 = 5 and eta = 1/d, the adversary finds, for
    every one of 6 draws, a lazy W that the step does not flip (the f-push alone raises abs(f) by about
    C0/2, far above the eta G^2 ~ 1/2 that the step removes)."""
    d, m = 50, 200
    net = bc.init_network(d, m, n_inits=6, parametrization="theory", rng=21)
    X = bc.sample_sphere(1, d, rng=22)
    res = robust_lazy_weights(net, X, "sign", bc.lazy_radius(5.0, m), 1.0 / d, steps=5, rng=0)
    assert res.robust.all()
    assert not certify_step(net, X, 1.0 / d, res.witness(0)).flipped.any()


# --------------------------------------------------------------------------- the studies

@pytest.mark.parametrize("name, columns", [
    ("theorem_one_step", ["w_kind", "c", "eta", "n", "flip_rate", "flip_ci_low", "flip_ci_high", "certified_rate",
                          "eta_star_d_mean", "eta_star_d_ci_low", "eta_star_d_ci_high", "delta_star_sqrt_d_mean",
                          "eta_prediction", "delta_prediction", "suff_ratio_q50", "in_regime", "eta_min_d"]),
    ("corollary_robust_error", ["w_kind", "labels", "eps_factor", "eps", "in_hypothesis", "bound_id", "n", "mean",
                                "bound", "violations", "rate", "ci_low", "ci_high", "verdict",
                                "robust_error_pgd", "robust_error_onestep", "clean_error"]),
])
def test_study_quick_end_to_end(name, columns, tmp_path):
    from boundcheck.cli import run_study

    result, out = run_study(name, quick=True, out=tmp_path / name, quiet=True)
    for ext in ("csv", "md"):
        assert (out / f"{name}.{ext}").is_file()
    table = pd.read_csv(out / f"{name}.csv")
    for col in columns:
        assert col in table.columns, col
    assert result.verdicts and (out / "summary.txt").is_file()
    if name == "theorem_one_step":
        assert set(table.w_kind) == {"init", "random", "adversarial", "adversarial_sample"}
        assert (table.certified_not_flipped == 0).all()      # the certificate is sound
        assert (table.suff_below_star == 0).all()
        for fig in ("theorem_one_step_distributions", "theorem_one_step_phase"):
            assert (out / f"{fig}.png").is_file()
        # at C0 = 5 the adversary's W resists the step at eta = 1/d in every draw (see the test above)
        adv = table[(table.w_kind == "adversarial") & (table.C0 == 5.0) & (table.c == 1.0)]
        assert (adv.flips == 0).all()
    else:
        assert set(table.labels) == {"teacher", "own"}
        assert (table[table.labels == "own"].clean_error == 0).all()
        assert (table["mean"] >= table.robust_error_pgd - 1e-12).all()
        assert (table["mean"] >= table.robust_error_onestep - 1e-12).all()
        assert (out / f"{name}.png").is_file()
    # the report rebuilds from the store without recomputing
    from boundcheck.cli import load_study

    again = load_study(name).report(out)      # the module the CLI ran (studies/ need not be on sys.path)
    pd.testing.assert_frame_equal(again.table, result.table)
