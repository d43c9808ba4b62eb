"""Tests of boundcheck.worst_cases: both sides of the two sandwiches, their witnesses, exact small cases,
the exact count E|F|, validation, and the two lemma studies end to end (quick mode).

Every "never beaten" test compares a certified bound with values *attained* by some W (and z): random
lazy weights, the structured candidates of theory section 5.4, a plain projected-subgradient reference, dense grids
of tiny balls, and the heuristic's own witnesses. Tolerances there are rounding only (1e-9 relative).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import boundcheck as bc
from boundcheck.testing import inputs_for, networks, radii, seeds
from boundcheck.worst_cases import (expected_crossings, flip_set_certificate, grad_difference_per_sample_bound,
                                    grad_difference_upper, grad_norm_lower, grad_norm_upper)

TOL = 1e-9
#: Kernel tests run twice, on the compiled kernels and on their Python functions (fixture in conftest.py).
KERNELS = pytest.mark.usefixtures("kernels")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One BLAS thread: the machine is shared, and the results must not depend on it."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


# --------------------------------------------------------------------------------------------------------
# helpers: attained values, independent of the module under test
# --------------------------------------------------------------------------------------------------------

def grad_norms(net, X, Ws):
    """||grad f(x_i; W)|| for a batch of weights Ws (N, K, m, d): (N, K, n)."""
    return np.stack([np.linalg.norm(bc.input_gradient(net, X, W), axis=-1) for W in Ws])


def random_lazy(net, R, N, gen):
    """N random W in the ball: rows on the sphere of radius R, inside it, or moved along +-x-like axes."""
    K, m, d = net.W0.shape
    D = gen.standard_normal((N, K, m, d))
    D /= np.maximum(np.linalg.norm(D, axis=-1, keepdims=True), 1e-300)
    lengths = np.where(gen.random((N, K, m, 1)) < 0.5, 1.0, gen.random((N, K, m, 1)))
    return net.W0[None] + R * (1 - 1e-12) * lengths * D


def in_ball(W, net, R):
    return bool(np.all(bc.lazy_distance(W, net.W0) <= R))  # witnesses pass through _into_ball: no allowance


def pgd_min_grad_norm(net, x, R, W_start, steps=150):
    """Plain projected subgradient descent on ||grad f(x; W)||^2 (one init, one point): the slow reference.

    d/dw_s ||grad f||^2 = (2/sqrt(m)) a_s 1{w_s . x > 0} grad f. Returns the smallest norm visited.
    """
    a, m = net.a[0], net.width
    W = W_start.copy()
    best = np.inf
    for t in range(steps):
        g = bc.input_gradient(net, x[None], W[None])[0, 0]
        best = min(best, float(np.linalg.norm(g)))
        act = (W @ x > 0).astype(float)
        G = (2.0 / math.sqrt(m)) * (a * act)[:, None] * g[None, :]
        W = bc.project_lazy(W - (R / (1 + t) ** 0.5) * G / max(np.abs(G).max(), 1e-300), net.W0[0], R)
    return best


def shrink_candidate(net, x, R):
    """w_s = w0_s - R a_s 1{g_s > 0} u, u = P grad f(W0) / ||P grad f(W0)|| (theory section 5.4), one init."""
    a, W0 = net.a[0], net.W0[0]
    xh = x / np.abs(x).max()        # scaled first: tiny inputs must not underflow
    xh /= np.linalg.norm(xh)
    g = bc.input_gradient(net, x[None])[0, 0]
    Pg = g - (g @ xh) * xh
    if np.linalg.norm(Pg) == 0:
        return W0.copy()
    u = Pg / np.linalg.norm(Pg)
    return W0 - (R * (1 - 1e-12) * a * (W0 @ xh > 0))[:, None] * u[None, :]


# --------------------------------------------------------------------------------------------------------
# grad_norm_lower
# --------------------------------------------------------------------------------------------------------

@KERNELS
@settings(max_examples=40)
@given(data=st.data(), R=radii(3.0), seed=seeds())
def test_grad_norm_sandwich_never_beaten(data, R, seed):
    """certified <= every attained norm (random W, candidates, witness) and heuristic <= candidates."""
    net = data.draw(networks(parametrization="theory", max_width=8, max_dim=5, max_inits=2))
    X = data.draw(inputs_for(net, max_points=2))
    assume(np.all(np.abs(X).max(axis=1) > 0))
    res = grad_norm_lower(net, X, R, rng=seed)
    scale = 1.0 + res.at_init
    cert, heur = res.certified.value, res.heuristic.value
    assert np.all(cert <= heur + TOL * scale)
    assert np.all(res.decomposition <= heur + TOL * scale)
    assert np.all(heur <= res.at_init + TOL * scale)
    gen = np.random.default_rng(seed)
    Ws = random_lazy(net, R, 60, gen)
    assert np.all(grad_norms(net, X, Ws).min(axis=0) >= cert - TOL * scale)
    flips = bc.max_sign_flips(net, X, R)
    for i in range(len(X)):
        W, b = res.heuristic.witness(i)
        assert b is None and in_ball(W, net, R)
        attained = np.linalg.norm(bc.input_gradient(net, X[i:i + 1], W)[:, 0], axis=-1)
        np.testing.assert_allclose(attained, heur[:, i], rtol=1e-9, atol=1e-12)
        W_flip, _ = flips.witness(i)            # theory section 5.2's W_flip, from the core
        flip_norm = np.linalg.norm(bc.input_gradient(net, X[i:i + 1], W_flip)[:, 0], axis=-1)
        assert np.all(heur[:, i] <= flip_norm + TOL * scale[:, i])
        assert np.all(cert[:, i] <= flip_norm + TOL * scale[:, i])
        for k in range(net.n_inits):
            sub = net.select([k])
            Ws = shrink_candidate(sub, X[i], R)
            val = np.linalg.norm(bc.input_gradient(sub, X[i:i + 1], Ws[None])[0, 0])
            assert heur[k, i] <= val + TOL * scale[k, i]


@KERNELS
@pytest.mark.parametrize("seed", range(6))
def test_grad_norm_exact_on_tiny_balls(seed):
    """d = 2, m <= 3: every pattern is tried, so the heuristic is the infimum; a dense grid of the ball
    (the product of the rows' disks) never goes below it, nor below the certificate."""
    gen = np.random.default_rng(seed)
    m = 1 + seed % 3
    net = bc.init_network(2, m, parametrization="theory", rng=gen)
    x = bc.sample_sphere(1, 2, rng=gen)
    R = float(gen.choice([0.3, 1.0, 2.5]))
    res = grad_norm_lower(net, x, R, rng=0)
    assert res.exhaustive.all()
    # the disk of each row: 32 angles x 4 radii + centre; all combinations over the rows
    ang = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    rad = R * (1 - 1e-12) * np.array([0.25, 0.5, 0.75, 1.0])
    offs = np.concatenate([[[0.0, 0.0]], (rad[:, None, None] * np.stack([np.cos(ang), np.sin(ang)], -1)).reshape(-1, 2)])
    rows = net.W0[0][:, None, :] + offs[None]                       # (m, P, 2)
    combos = np.stack(np.meshgrid(*[np.arange(len(offs))] * m, indexing="ij"), -1).reshape(-1, m)
    W = rows[np.arange(m)[None, :], combos]                         # (N, m, 2)
    act = (W @ x[0] > 0)
    grads = np.einsum("nm,nmd->nd", net.a[0] * act, W) / math.sqrt(m)
    brute = np.linalg.norm(grads, axis=1).min()
    assert res.heuristic.value[0, 0] <= brute + TOL
    assert res.certified.value[0, 0] <= brute + TOL
    assert res.certified.value[0, 0] <= res.heuristic.value[0, 0] + TOL


@pytest.mark.parametrize("C0", [0.5, 2.0, 6.0])
def test_grad_norm_heuristic_beats_random_and_pgd(C0):
    """On a realistic network the heuristic is below random lazy W and below projected subgradient descent
    started from W0 and from W_flip; the certificate is below all of them."""
    d, m = 20, 120
    net = bc.init_network(d, m, n_inits=1, parametrization="theory", rng=3)
    X = bc.sample_sphere(2, d, rng=4)
    R = bc.lazy_radius(C0, m)
    res = grad_norm_lower(net, X, R, rng=5)
    rand = grad_norms(net, X, random_lazy(net, R, 300, np.random.default_rng(6))).min(axis=0)[0]
    flips = bc.max_sign_flips(net, X, R)
    for i in range(2):
        pgd = min(pgd_min_grad_norm(net, X[i], R, net.W0[0]), pgd_min_grad_norm(net, X[i], R, flips.witness(i)[0][0]))
        assert res.heuristic.value[0, i] <= min(pgd, rand[i]) + TOL
        assert res.certified.value[0, i] <= min(pgd, rand[i], res.heuristic.value[0, i]) + TOL
    # the parts: certified = max(euler, dual), euler dominates the registry's decomposition
    np.testing.assert_array_equal(res.certified.value, np.maximum(res.euler, res.dual))
    assert np.all(res.euler >= np.maximum(res.decomposition, 0.0))


def test_grad_norm_decomposition_is_the_registry_formula():
    """decomposition = the registry's per-sample entry, fed with quantities recomputed here from scratch."""
    from boundcheck.bounds import get

    d, m, C0 = 30, 200, 1.0
    net = bc.init_network(d, m, parametrization="theory", rng=11)
    x = bc.sample_sphere(1, d, rng=12)
    R = bc.lazy_radius(C0, m)
    res = grad_norm_lower(net, x, R, rng=0)
    W0, g = net.W0[0], net.W0[0] @ x[0]
    grad0 = bc.input_gradient(net, x)[0, 0]
    P = np.eye(d) - np.outer(x[0], x[0])
    S = np.abs(g) <= R
    V = W0[S] @ P
    expected = get("lemma_B7_grad_lower_per_sample").evaluate(
        P_grad_norm_W0=np.linalg.norm(P @ grad0), S_x_count=int(S.sum()), m=m, C0=C0,
        op_norm=np.linalg.norm(V, 2), max_P_w_norm=np.linalg.norm(V, axis=1).max(), n_active_W0=int((g > 0).sum()))
    np.testing.assert_allclose(res.decomposition[0, 0], expected, rtol=1e-9)
    assert res.S_x_count[0, 0] == S.sum()


@KERNELS
def test_grad_norm_lower_edge_cases():
    net = bc.init_network(6, 10, n_inits=2, parametrization="theory", rng=0)
    X = bc.sample_sphere(3, 6, rng=1)
    res = grad_norm_lower(net, X, 0.0)        # R = 0: everything is the value at W0
    np.testing.assert_allclose(res.heuristic.value, res.at_init, rtol=1e-12)
    np.testing.assert_allclose(res.certified.value, res.at_init, rtol=1e-9)
    assert res.exhaustive.all() and res.heuristic.kind == "heuristic" and res.certified.kind == "certified"
    big = grad_norm_lower(net, 5.0 * X, 0.3, rng=0)          # not on the sphere: allowed, scale-covariant
    same = grad_norm_lower(net, X, 0.3, rng=0)
    np.testing.assert_allclose(big.at_init, same.at_init, rtol=1e-12)
    a = grad_norm_lower(net, X, 0.3, rng=7)
    b = grad_norm_lower(net, X, 0.3, rng=7)
    np.testing.assert_array_equal(a.heuristic.value, b.heuristic.value)


@KERNELS
def test_grad_norm_lower_at_an_exact_kink():
    """w0 . x = 0 exactly (integer products), while w0 . x_hat rounds to a tiny nonzero: the neuron is off at
    x (relu'(0) = 0), so at R = 0 the gradient is 0, and the certificate must not exceed it; for R > 0 the
    neuron can be switched off, so the infimum is 0 too."""
    net = bc.Network(a=np.array([[1.0]]), W0=np.array([[[-2.0, -1.0, 0.0, 2.0, 1.0]]]), parametrization="theory")
    x = np.array([[-1.5, 2.0, 0.0, -1.5, 2.0]])
    assert net.W0[0, 0] @ x[0] == 0.0
    for R in (0.0, 1e-3, 0.5):
        res = grad_norm_lower(net, x, R, rng=0)
        assert res.at_init[0, 0] == 0.0 == np.linalg.norm(bc.input_gradient(net, x))
        assert res.certified.value[0, 0] <= 0.0 and res.heuristic.value[0, 0] == 0.0


def test_grad_norm_upper_is_attained_and_beats_random():
    d, m = 15, 80
    net = bc.init_network(d, m, n_inits=2, parametrization="theory", rng=21)
    X = bc.sample_sphere(2, d, rng=22)
    R = bc.lazy_radius(2.0, m)
    up = grad_norm_upper(net, X, R)
    assert up.kind == "heuristic" and up.sense == "max"
    at0 = np.linalg.norm(bc.input_gradient(net, X), axis=-1)
    assert np.all(up.value >= at0 - TOL)
    rand = grad_norms(net, X, random_lazy(net, R, 300, np.random.default_rng(23))).max(axis=0)
    assert np.all(up.value >= rand - TOL)
    for i in range(2):
        W, _ = up.witness(i)
        assert in_ball(W, net, R)
        np.testing.assert_allclose(np.linalg.norm(bc.input_gradient(net, X[i:i + 1], W)[:, 0], axis=-1),
                                   up.value[:, i], rtol=1e-9)


# --------------------------------------------------------------------------------------------------------
# grad_difference_upper
# --------------------------------------------------------------------------------------------------------

def random_z(x, r, N, gen):
    U = gen.standard_normal((N, len(x)))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    return x[None] + r * (1 - 1e-12) * gen.random((N, 1)) ** 0.2 * U


@KERNELS
@settings(max_examples=25)
@given(data=st.data(), R=radii(1.5), r=st.floats(0.0, 1.0), seed=seeds())
def test_grad_difference_sandwich_never_beaten(data, R, r, seed):
    net = data.draw(networks(parametrization="theory", max_width=8, max_dim=4, max_inits=2, integer=False))
    assume(net.dim >= 2)
    X = data.draw(inputs_for(net, max_points=2, on_sphere=True))
    res = grad_difference_upper(net, X, r, R, n_directions=1, steps=3, rounds=1, rng=seed)
    scale = 1.0 + res.grad_norm
    assert np.all(res.heuristic.value <= res.certified.value + TOL * scale)
    assert np.all(res.fixed_heuristic.value <= res.fixed_certified.value + TOL * scale)
    assert np.all(res.fixed_at_init <= res.fixed_heuristic.value + TOL * scale)
    assert np.all(res.fixed_certified.value <= res.certified.value + TOL * scale)
    np.testing.assert_allclose(np.linalg.norm(res.fixed_Z - X, axis=1), r, atol=1e-12)
    gen = np.random.default_rng(seed)
    Ws = random_lazy(net, R, 25, gen)
    for i in range(len(X)):
        # witnesses: in the ball, z within r, the value attained (core operation)
        W, _ = res.heuristic.witness(i)
        assert in_ball(W, net, R)
        for k in range(net.n_inits):
            z = res.heuristic_Z[k, i]
            assert np.linalg.norm(z - X[i]) <= r * (1 + 1e-12) + 1e-15
            sub = net.select([k])
            val = bc.gradient_difference(sub, X[i:i + 1], z[None], W[k:k + 1])[0, 0]
            np.testing.assert_allclose(val, res.heuristic.value[k, i], rtol=1e-9, atol=1e-12)
            assert grad_difference_per_sample_bound(sub, X[i:i + 1], z[None], W[k:k + 1])[0, 0] >= val - TOL
        Wf, _ = res.fixed_heuristic.witness(i)
        assert in_ball(Wf, net, R)
        valf = bc.gradient_difference(net, X[i:i + 1], res.fixed_Z[i:i + 1], Wf)[:, 0]
        np.testing.assert_allclose(valf, res.fixed_heuristic.value[:, i], rtol=1e-9, atol=1e-12)
        # random (z, W): never above the certificates
        Z = random_z(X[i], r, 25, gen)
        Xrep = np.repeat(X[i:i + 1], len(Z), 0)
        for W_r in Ws:
            D = bc.gradient_difference(net, Xrep, Z, W_r).max(axis=-1)                   # (K,)
            assert np.all(D <= res.certified.value[:, i] + TOL * scale[:, i])
            Df = bc.gradient_difference(net, X[i:i + 1], res.fixed_Z[i:i + 1], W_r)[:, 0]
            assert np.all(Df <= res.fixed_certified.value[:, i] + TOL * scale[:, i])


def test_grad_difference_heuristic_beats_random_search():
    d, m = 16, 150
    net = bc.init_network(d, m, parametrization="theory", rng=31)
    X = bc.sample_sphere(2, d, rng=32)
    r, R = 1.0 / math.sqrt(d), bc.lazy_radius(1.0, m)
    res = grad_difference_upper(net, X, r, R, rng=33)
    gen = np.random.default_rng(34)
    Ws = random_lazy(net, R, 40, gen)
    for i in range(2):
        Z = random_z(X[i], r, 200, gen)
        best = max(bc.gradient_difference(net, np.repeat(X[i:i + 1], len(Z), 0), Z, W).max() for W in Ws)
        assert res.heuristic.value[0, i] >= best - TOL
        assert res.heuristic.value[0, i] <= res.certified.value[0, i]


def test_expected_crossings_is_the_law_of_F_at_init():
    """|F| at W0 for z = x + r u (u orthogonal to x) is Binomial(m, arctan(r)/pi), independently per init.

    Tolerance: the total count over K inits is Binomial(K m, p); the test accepts it inside the central
    1 - 1e-6 interval of that law (exact binomial quantiles), so a correct implementation fails with
    probability 1e-6 per seed, while a wrong p (e.g. arcsin(r)/pi or r/pi, 3-4 sd away here) fails."""
    from scipy import stats

    d, m, K, r = 30, 3000, 12, 0.3
    net = bc.init_network(d, m, n_inits=K, parametrization="theory", rng=41)
    X = bc.sample_sphere(1, d, rng=42)
    res = grad_difference_upper(net, X, r, 0.0, n_directions=0, steps=0, rounds=0, rng=43)
    u = (res.fixed_Z[0] - X[0]) / r
    assert abs(u @ X[0]) < 1e-12 and abs(np.linalg.norm(u) - 1) < 1e-12
    total = int(res.fixed_flips_at_init.sum())
    p = math.atan(r) / math.pi
    lo, hi = stats.binom.ppf(0.5e-6, K * m, p), stats.binom.isf(0.5e-6, K * m, p)
    assert lo <= total <= hi
    np.testing.assert_allclose(expected_crossings(m, r), m * p)
    np.testing.assert_allclose(expected_crossings([10, 20], [0.0, 1.0]), [0.0, 20 * 0.25])
    # the count is the one the core sees
    flips = (np.sign(net.W0 @ res.fixed_Z[0]) > 0) != (net.W0 @ X[0] > 0)
    np.testing.assert_array_equal(res.fixed_flips_at_init[:, 0], flips.sum(-1))


@KERNELS
def test_grad_difference_reference_and_certificate_formula():
    from boundcheck.bounds import lemma_B9_reference

    d, m = 25, 300
    net = bc.init_network(d, m, parametrization="theory", rng=51)
    X = bc.sample_sphere(1, d, rng=52)
    r, R = 0.2, bc.lazy_radius(1.0, m)
    res = grad_difference_upper(net, X, r, R, n_directions=0, steps=1, rounds=0, rng=53)
    np.testing.assert_allclose(res.reference, lemma_B9_reference(r, res.grad_norm))
    W0, g = net.W0[0], net.W0[0] @ X[0]
    Fc = np.abs(g) <= R + (np.linalg.norm(W0, axis=1) + R) * r
    assert res.reachable_count[0, 0] == Fc.sum()
    n = Fc.sum()
    by_op = math.sqrt(n) * (np.linalg.norm(W0[Fc], 2) + R * math.sqrt(n)) / math.sqrt(m)
    by_sum = (np.linalg.norm(W0[Fc], axis=1) + R).sum() / math.sqrt(m)
    np.testing.assert_allclose(res.certified.value[0, 0], min(by_op, by_sum), rtol=1e-9)
    np.testing.assert_allclose(flip_set_certificate(W0[Fc], R) / math.sqrt(m), min(by_op, by_sum), rtol=1e-9)
    # the registry's per-sample bound at W0 agrees with a direct computation
    Z = res.fixed_Z
    F = (W0 @ Z[0] > 0) != (g > 0)
    direct = min(math.sqrt(F.sum() / m) * np.linalg.norm(W0[F], 2),
                 F.sum() / math.sqrt(m) * np.linalg.norm(W0[F], axis=1).max()) if F.any() else 0.0
    np.testing.assert_allclose(grad_difference_per_sample_bound(net, X, Z)[0, 0], direct, rtol=1e-9)


# --------------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------------

def test_validation_messages():
    net = bc.init_network(4, 5, parametrization="theory", rng=0)
    X = bc.sample_sphere(2, 4, rng=1)
    biased = bc.init_network(4, 5, parametrization="paper_code", rng=0)
    with pytest.raises(ValueError, match="biases"):
        grad_norm_lower(biased, X, 0.1)
    with pytest.raises(ValueError, match="biases"):
        grad_difference_upper(biased, X, 0.1, 0.1)
    odd = bc.Network(a=np.full((1, 5), 0.5), W0=net.W0)
    with pytest.raises(ValueError, match=r"net\.a"):
        grad_norm_lower(odd, X, 0.1)
    with pytest.raises(ValueError, match="nonzero"):
        grad_norm_lower(net, np.zeros((1, 4)), 0.1)
    with pytest.raises(ValueError, match="sphere"):
        grad_difference_upper(net, 2 * X, 0.1, 0.1)
    with pytest.raises(ValueError, match="net.dim must be >= 2"):
        grad_difference_upper(bc.init_network(1, 3, parametrization="theory", rng=0), np.ones((1, 1)), 0.1, 0.1)
    with pytest.raises(ValueError, match="r must be <= 1"):
        grad_difference_upper(net, X, 1.5, 0.1)
    with pytest.raises(ValueError, match="radius"):
        grad_norm_lower(net, X, -1.0)
    with pytest.raises(ValueError, match="steps"):
        grad_norm_lower(net, X, 0.1, steps=-1)
    with pytest.raises(TypeError, match="n_directions"):
        grad_difference_upper(net, X, 0.1, 0.1, n_directions=1.5)
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        grad_norm_upper(net, np.ones((2, 3)), 0.1)
    with pytest.raises(ValueError, match="Z must have the shape"):
        grad_difference_per_sample_bound(net, X, X[:1])
    with pytest.raises(ValueError, match="r must be >= 0"):
        expected_crossings(10, -0.1)
    with pytest.raises(TypeError, match="net must be"):
        grad_norm_lower("net", X, 0.1)


# --------------------------------------------------------------------------------------------------------
# the studies, end to end in quick mode
# --------------------------------------------------------------------------------------------------------

COLUMNS = ["bound_id", "kind", "n", "mean", "q05", "q50", "q95", "bound", "violations", "rate", "ci_low", "ci_high",
           "tightness", "vacuous", "verdict"]


@pytest.mark.parametrize("name", ["lemma_gradient_lower", "lemma_gradient_difference"])
def test_study_quick_end_to_end(name, tmp_path):
    from boundcheck.cli import load_study, run_study

    result, out = run_study(name, quick=True, out=tmp_path / name, quiet=True)
    table = result.table
    assert set(COLUMNS) <= set(table.columns)
    assert len(table) and set(table["verdict"]) <= {"holds", "violated", "vacuous", "undecided", "outside hypothesis",
                                                    "no power"}
    module = load_study(name)
    assert set(table["bound_id"]) == set(module.BOUNDS)
    # sure per-sample bounds are never violated by attained values
    sure = table[table["failure_probability"] == 0]
    assert len(sure) and (sure["violations"] == 0).all()
    assert result.verdicts and all(isinstance(v, str) for v in result.verdicts)
    for f in ("summary.txt", f"{name}.csv", f"{name}.md", f"{name}_exponents.csv"):
        assert (out / f).is_file(), f
    assert any(p.suffix == ".png" for p in out.iterdir())
    rebuilt = module.report(out)
    pd.testing.assert_frame_equal(rebuilt.table, table)
