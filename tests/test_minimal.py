"""The minimal perturbation sandwich (boundcheck.minimal) against independent slow brute-force minima."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundcheck as bc
from boundcheck import minimal as mn
from boundcheck._numeric import stacked_preactivations
from boundcheck.testing import inputs_for, networks

TOL = 1e-7


# ----------------------------------------------------------------------------------------- slow references

def _f_single(a, W, b, c, z):
    """f at the rows of z (N, d) for one init (plain numpy)."""
    pre = z @ W.T + (0.0 if b is None else b)
    return np.maximum(pre, 0.0) @ a / np.sqrt(len(a)) + c


def brute_exact(net, X, W=None, b=None):
    """delta_min by exhaustive enumeration of all 2^m activation patterns and, in each, of every active set of
    at most d constraints (the least-norm point of a polyhedron is the projection of the origin onto the
    affine hull of one of its faces). Independent of boundcheck.minimal; exponential, small m and d only.
    """
    W = net.W0 if W is None else W
    b = net.b0 if b is None else b
    K, m, d = W.shape
    c = np.zeros(K) if net.output_bias is None else net.output_bias
    out = np.full((K, len(X)), np.inf)
    for k in range(K):
        a, Wk = net.a[k], W[k]
        bk = None if b is None else b[k]
        for i, x in enumerate(X):
            z = Wk @ x + (0.0 if bk is None else bk)
            f0 = float(np.maximum(z, 0) @ a / np.sqrt(m) + c[k])
            if f0 == 0:
                out[k, i] = 0.0
                continue
            s = 1.0 if f0 > 0 else -1.0
            best = np.inf
            for pattern in itertools.product((0, 1), repeat=m):
                p = np.array(pattern, bool)
                # rows G delta >= h: neuron sides, then the target s (F + g . delta) <= 0
                G = np.where(p[:, None], Wk, -Wk)
                h = np.where(p, -z, z)
                g = (a * p) @ Wk / np.sqrt(m)
                F = float((a * p) @ z / np.sqrt(m) + c[k])
                G = np.vstack([G, -s * g])
                h = np.append(h, s * F)
                scale_rows = np.maximum(np.linalg.norm(G, axis=1), 1.0)
                for size in range(0, d + 1):
                    for S in itertools.combinations(range(m + 1), size):
                        S = list(S)
                        if size == 0:
                            delta = np.zeros(d)
                        else:
                            GS, hS = G[S], h[S]
                            delta, *_ = np.linalg.lstsq(GS, hS, rcond=None)
                            if np.abs(GS @ delta - hS).max() > 1e-9 * scale_rows[S].max():
                                continue
                        if (G @ delta - h >= -1e-9 * scale_rows).all():
                            best = min(best, float(np.linalg.norm(delta)))
            out[k, i] = best
    return out


def brute_dense_2d(net, X, n_angles=2000, r_max=4.0, n_radii=1000):
    """d = 2: for every direction on a fine circle, the first radius of a fine grid where the target is met,
    refined by bisection; the minimum over directions (an upper bound of delta_min, close to it)."""
    K = net.n_inits
    c = np.zeros(K) if net.output_bias is None else net.output_bias
    th = np.linspace(0, 2 * np.pi, n_angles, endpoint=False)
    U = np.stack([np.cos(th), np.sin(th)], 1)
    radii = np.linspace(0, r_max, n_radii + 1)[1:]
    out = np.full((K, len(X)), np.inf)
    for k in range(K):
        bk = None if net.b0 is None else net.b0[k]
        for i, x in enumerate(X):
            f0 = _f_single(net.a[k], net.W0[k], bk, c[k], x[None])[0]
            s = 1.0 if f0 >= 0 else -1.0
            Z = x[None, None] + radii[None, :, None] * U[:, None, :]
            fz = _f_single(net.a[k], net.W0[k], bk, c[k], Z.reshape(-1, 2)).reshape(n_angles, n_radii)
            hit = s * fz <= 0
            rows = np.flatnonzero(hit.any(1))
            if not rows.size:
                continue
            q = np.argmax(hit[rows], axis=1)
            lo = np.where(q > 0, radii[np.maximum(q - 1, 0)], 0.0)
            hi = radii[q]
            for _ in range(50):  # bisection on every direction at once
                mid = 0.5 * (lo + hi)
                fm = _f_single(net.a[k], net.W0[k], bk, c[k], x[None] + mid[:, None] * U[rows])
                reached = s * fm <= 0
                hi = np.where(reached, mid, hi)
                lo = np.where(reached, lo, mid)
            out[k, i] = hi.min()
    return out


def lipschitz_reference(net, X, W=None):
    """The Lipschitz bound by a direct loop over the radii at which neurons join S_r (plain numpy)."""
    W = net.W0 if W is None else W
    K, m, d = W.shape
    out = np.empty((K, len(X)))
    f = bc.forward(net, X, W)
    for k in range(K):
        V = net.a[k][:, None] * W[k] / np.sqrt(m)
        wn = np.linalg.norm(W[k], axis=1)
        for i, x in enumerate(X):
            z = W[k] @ x + (0.0 if net.b0 is None else net.b0[k])
            rho = np.where(wn > 0, np.abs(z) / np.where(wn > 0, wn, 1), np.inf)
            cuts = np.unique(rho[np.isfinite(rho)])
            # intervals [0, cuts[0]) with S empty, then [cuts[j], cuts[j+1]) with S = {rho <= cuts[j]}
            starts = [(-1.0, cuts[0] if len(cuts) else np.inf)]
            starts += [(v, cuts[j + 1] if j + 1 < len(cuts) else np.inf) for j, v in enumerate(cuts)]
            best = 0.0
            for v, hi in starts:
                S = rho <= v
                cvec = ((z > 0) & ~S) @ V + 0.5 * (S @ V)
                L = np.linalg.norm(cvec) + 0.5 * np.linalg.norm(V[S], axis=1).sum()
                best = max(best, hi if L == 0 else min(hi, abs(f[k, i]) / L))
            out[k, i] = best
    return out


def relaxation_reference(net, X, s, r, W=None):
    """const and G of the linear relaxation, plain numpy (same formulas, written out per neuron)."""
    W = net.W0 if W is None else W
    K, m, d = W.shape
    c = np.zeros(K) if net.output_bias is None else net.output_bias
    const = np.empty((K, len(X)))
    G = np.empty((K, len(X), d))
    for k in range(K):
        for i, x in enumerate(X):
            z = W[k] @ x + (0.0 if net.b0 is None else net.b0[k])
            wn = np.linalg.norm(W[k], axis=1)
            total, g = 0.0, np.zeros(d)
            for t in range(m):
                alpha = s[k, i] * net.a[k, t] / np.sqrt(m)
                lo, up = z[t] - r[k, i] * wn[t], z[t] + r[k, i] * wn[t]
                if lo >= 0:
                    sl, ic = 1.0, 0.0
                elif up <= 0:
                    sl, ic = 0.0, 0.0
                elif alpha > 0:
                    sl, ic = (1.0 if up >= -lo else 0.0), 0.0
                else:
                    sl = up / (up - lo)
                    ic = -sl * lo
                total += alpha * (sl * z[t] + ic)
                g += alpha * sl * W[k, t]
            const[k, i] = total + s[k, i] * c[k]
            G[k, i] = g
    return const, G


# ----------------------------------------------------------------------------------------- the brute force itself

def test_brute_forces_agree_in_2d():
    """The two independent slow minima agree (the dense search is an upper bound within its resolution)."""
    net = bc.init_network(2, 5, n_inits=2, parametrization="theory", rng=3)
    X = bc.sample_sphere(4, 2, rng=4)
    exact = brute_exact(net, X)
    dense = brute_dense_2d(net, X)
    assert np.all(dense >= exact - 1e-9)
    np.testing.assert_allclose(dense, exact, rtol=1e-2, atol=1e-6)


def test_brute_exact_on_a_known_case():
    """One neuron relu(x1) - 0.5/sqrt(1)...: f(x) = relu(x_1) + c with c = -0.25: the boundary is x_1 = 0.25."""
    net = bc.Network(a=np.array([1.0]), W0=np.array([[1.0, 0.0]]), output_bias=np.array([-0.25]))
    X = np.array([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0]])
    np.testing.assert_allclose(brute_exact(net, X)[0], [0.75, 0.35, 1.25])
    res = mn.minimal_perturbation(net, X, rng=0)
    np.testing.assert_allclose(res.upper[0], [0.75, 0.35, 1.25], rtol=1e-9)
    assert res.exact.all()


# ----------------------------------------------------------------------------------------- the sandwich

@pytest.mark.parametrize("seed,d,m,par", [(0, 2, 4, "theory"), (1, 3, 5, "theory"), (2, 2, 6, "paper_code"),
                                          (3, 3, 4, "bubeck"), (4, 4, 3, "theory")])
def test_sandwich_against_brute_force(seed, d, m, par):
    net = bc.init_network(d, m, n_inits=2, parametrization=par, rng=seed)
    X = bc.sample_sphere(5, d, radius=net.input_radius or 1.0, rng=seed + 100)
    res = mn.minimal_perturbation(net, X, rng=seed)
    truth = brute_exact(net, X)
    assert np.all(res.lower <= truth + TOL * (1 + truth))
    for name, bound in res.bounds.items():
        if bound.side == "lower":
            assert np.all(bound.value <= truth + TOL * (1 + truth)), name
        else:
            assert np.all(bound.value >= truth - TOL * (1 + truth)), name
    np.testing.assert_allclose(res.upper[res.exact], truth[res.exact], rtol=1e-5, atol=1e-9)
    # small m: the region enumeration closes the sandwich
    assert res.exact.mean() >= 0.9


def test_sandwich_against_dense_search_2d():
    net = bc.init_network(2, 8, n_inits=1, parametrization="theory", rng=11)
    X = bc.sample_sphere(6, 2, rng=12)
    res = mn.minimal_perturbation(net, X, rng=13)
    dense = brute_dense_2d(net, X)
    assert np.all(res.lower <= dense + 1e-9)
    # the dense search is within its resolution of the true minimum, which the attacks cannot beat
    assert np.all(res.upper >= dense * (1 - 1e-2) - 1e-9)


@settings(max_examples=25)
@given(st.data())
def test_sandwich_properties(data):
    net = data.draw(networks(max_inits=2, max_width=4, max_dim=3))
    X = data.draw(inputs_for(net, max_points=3))
    seed = data.draw(st.integers(0, 2**31))
    res = mn.minimal_perturbation(net, X, ddn_steps=30, restarts=2, pgd_steps=10, rng=seed)
    truth = brute_exact(net, X)
    fin = np.isfinite(truth)
    tol = 1e-6 * (1 + np.where(fin, truth, 0))
    assert np.all(res.lower <= np.where(fin, truth + tol, np.inf))
    assert np.all(res.upper >= np.where(fin, truth - tol, np.inf))
    assert np.all(res.lower <= res.upper)
    ex = res.exact & fin
    assert np.all(np.abs(res.upper[ex] - truth[ex]) <= 1e-5 * (1 + truth[ex]))


def test_attacks_are_attained():
    """Every upper bound's perturbation reaches the target (up to the rounding of the scan's root)."""
    net = bc.init_network(5, 30, n_inits=2, parametrization="theory", rng=5)
    X = bc.sample_sphere(6, 5, rng=6)
    res = mn.minimal_perturbation(net, X, rng=7)
    f0 = bc.forward(net, X)
    s = np.where(f0 >= 0, 1.0, -1.0)
    for name, bound in res.bounds.items():
        if bound.side != "upper":
            continue
        fin = np.isfinite(bound.value)
        np.testing.assert_allclose(np.linalg.norm(bound.delta, axis=-1)[fin], bound.value[fin], rtol=1e-9,
                                   atol=1e-12, err_msg=name)
        fz = np.stack([bc.forward(net.select(k), X + bound.delta[k])[0] for k in range(2)])
        slack = 1e-9 * (1 + np.abs(f0))
        assert np.all((s * fz <= slack)[fin]), name


def test_one_step_is_the_theorems_delta_and_gain_at_least_one():
    net = bc.init_network(10, 50, n_inits=2, parametrization="theory", rng=8)
    X = bc.sample_sphere(5, 10, rng=9)
    res = mn.minimal_perturbation(net, X, lower=("lipschitz",), rng=10)
    np.testing.assert_array_equal(res.one_step, bc.min_flip_step(net, X).delta)
    assert np.all(res.gain >= 1.0)
    assert np.all(res.upper <= res.one_step)


def test_wide_network_sandwich_is_consistent_and_ddn_reproducible():
    net = bc.init_network(20, 200, n_inits=2, parametrization="theory", rng=14)
    X = bc.sample_sphere(4, 20, rng=15)
    a = mn.minimal_perturbation(net, X, pgd_steps=0, rng=16)
    b = mn.minimal_perturbation(net, X, pgd_steps=0, rng=16)
    np.testing.assert_array_equal(a.upper, b.upper)
    assert np.all(a.lower > 0) and np.all(a.lower <= a.upper)
    # random search cannot beat the certified lower bound: sample the ball of the lower bound
    rng = np.random.default_rng(17)
    f0 = bc.forward(net, X)
    for k in range(2):
        for i in range(4):
            D = rng.standard_normal((2000, 20))
            D *= (a.lower[k, i] * rng.random(2000) ** (1 / 20) / np.linalg.norm(D, axis=1))[:, None]
            fz = bc.forward(net.select(k), X[i] + D)[0]
            assert np.all(np.sign(fz) == np.sign(f0[k, i]))


# ----------------------------------------------------------------------------------------- kernels vs references

@pytest.mark.parametrize("par", ["theory", "paper_code"])
def test_lipschitz_scan_matches_reference(par):
    net = bc.init_network(4, 9, n_inits=3, parametrization=par, rng=20)
    X = bc.sample_sphere(7, 4, rng=21)
    got = mn.lipschitz_lower(net, X).value
    ref = lipschitz_reference(net, X)
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-10)


def test_relaxation_coefficients_match_reference():
    from boundcheck import _minimal_kernels as mk

    net = bc.init_network(4, 9, n_inits=2, parametrization="paper_code", rng=22)
    X = bc.sample_sphere(5, 4, rng=23)
    f = bc.forward(net, X)
    s = np.where(f >= 0, 1.0, -1.0)
    r = np.random.default_rng(24).uniform(0.05, 1.0, (2, 5))
    pre = stacked_preactivations(X, net.W0, net.b0)
    wn = np.linalg.norm(net.W0, axis=-1)
    coef, const, slack = np.empty((2, 5, 9)), np.empty((2, 5)), np.empty((2, 5))
    mk.relaxation_coefficients(pre, wn, net.a, s, 1 / 3, net.output_bias, r, coef, const, slack)
    c_ref, G_ref = relaxation_reference(net, X, s, r)
    np.testing.assert_allclose(const, c_ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(coef @ net.W0, G_ref, rtol=1e-12, atol=1e-13)
    # the relaxation is a valid lower bound of s f on the ball
    rng = np.random.default_rng(25)
    for k in range(2):
        for i in range(5):
            D = rng.standard_normal((500, 4))
            D *= (r[k, i] * rng.random(500) ** 0.25 / np.linalg.norm(D, axis=1))[:, None]
            fz = bc.forward(net.select(k), X[i] + D)[0]
            assert np.all(s[k, i] * fz >= const[k, i] + D @ G_ref[k, i] - 1e-12)


def test_region_search_counts_and_completes():
    # biases: the boundary is not a cone through the origin (bias-free nets at small m often have the origin,
    # where f = 0 is touched but not crossed, as their nearest boundary point: attained only to rounding)
    net = bc.init_network(3, 6, n_inits=1, parametrization="paper_code", rng=31)  # a seed whose f flips
    X = bc.sample_sphere(3, 3, rng=31)
    rs = mn.region_search(net, X, upper=np.full((1, 3), np.inf))
    assert rs.complete.all()
    assert np.all(rs.ambiguous == 6)
    truth = brute_exact(net, X)
    np.testing.assert_allclose(rs.lower.value, truth, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(rs.upper.value, truth, rtol=1e-6, atol=1e-9)
    small = mn.region_search(net, X, upper=np.full((1, 3), np.inf), max_nodes=1)
    assert not small.complete.any() and np.all(small.lower.value == 0)


def test_boundary_point_and_cone():
    """f(x) = 0 gives 0; a positive rescaling of W scales f but leaves delta_min unchanged (the cone)."""
    net = bc.Network(a=np.array([1.0, -1.0]), W0=np.array([[1.0, 0.0], [1.0, 0.0]]))
    res = mn.minimal_perturbation(net, np.array([[1.0, 0.0]]), rng=0)
    assert res.upper[0, 0] == 0 and res.lower[0, 0] == 0 and res.exact[0, 0]
    net = bc.init_network(3, 6, parametrization="theory", rng=40)
    X = bc.sample_sphere(4, 3, rng=41)
    a = mn.minimal_perturbation(net, X, rng=42)
    b = mn.minimal_perturbation(net, X, W=3.0 * net.W0, rng=42)
    np.testing.assert_allclose(a.upper[a.exact & b.exact], b.upper[a.exact & b.exact], rtol=1e-6)


# ----------------------------------------------------------------------------------------- validation

def test_bad_arguments_are_named():
    net = bc.init_network(3, 4, parametrization="theory", rng=0)
    X = bc.sample_sphere(2, 3, rng=1)
    with pytest.raises(ValueError, match="attacks"):
        mn.minimal_perturbation(net, X, attacks=("cw",))
    with pytest.raises(ValueError, match="lower"):
        mn.minimal_perturbation(net, X, lower=("ibp",))
    with pytest.raises(ValueError, match="gamma"):
        mn.ddn_attack(net, X, gamma=1.5)
    with pytest.raises(ValueError, match="upper"):
        mn.relaxation_lower(net, X, upper=-np.ones((1, 2)))
    with pytest.raises(ValueError, match="X"):
        mn.lipschitz_lower(net, np.ones((2, 5)))
    with pytest.raises(TypeError, match="rng"):
        mn.ddn_attack(net, X, rng="seed")
    with pytest.raises(ValueError, match="kind"):
        mn.PerturbationBound(np.zeros((1, 1)), "guess", "lower", "x")


# ----------------------------------------------------------------------------------------- the two studies, tiny

def test_minimal_perturbation_study_tiny(tmp_path):
    from boundcheck.cli import load_study

    study = load_study("minimal_perturbation").STUDY
    cfg = study.Config(dims=(4, 8, 16), widths=(4,), C0s=(0.0, 1.0), n_inits=1, n_points=3,
                                         n_train=32, epochs=2, ddn_steps=20, restarts=1, pgd_steps=0)
    res = study.run(cfg, out_dir=tmp_path, progress=False)
    t = res.table
    assert set(t.weights) == {"init", "random", "trained"}
    assert (t.lower <= t.upper).all() and (t.upper <= t.one_step).all()
    assert t.exact.all()  # m = 4: the region enumeration closes every sandwich
    assert any("exponent in d" in line for line in res.verdicts)
    assert res.self_checks and all("holds" in line for line in res.self_checks)


def test_robust_beyond_lazy_study_tiny(tmp_path):
    from boundcheck.cli import load_study

    study = load_study("robust_beyond_lazy").STUDY
    cfg = study.Config(widths=(8, 16, 32), dims=(4,), radius_units=(0.5, 64.0), cone_scales=(10.0,),
                                         n_inits=1, n_train=32, n_test=10, epochs=2, train_pgd_steps=2,
                                         eval_pgd_steps=5, ddn_steps=10)
    res = study.run(cfg, out_dir=tmp_path, progress=False)
    t = res.table
    assert set(t.regime) == {"projected", "unconstrained", "cone"}
    proj = t[t.regime == "projected"]
    assert np.all(proj.deviation <= proj.c / np.sqrt(proj.m) * (1 + 1e-9))
    assert np.all(t.attack_error <= t.certified_error_upper + 1e-12)
    cone = t[t.regime == "cone"]
    assert np.all(cone.sign_agreement == 1.0) and np.all(cone.delta_star_rel_change < 1e-9)
    assert res.self_checks and all("holds" in line for line in res.self_checks)


def test_kernels_do_not_depend_on_the_thread_count():
    import numba

    net = bc.init_network(6, 40, n_inits=3, parametrization="paper_code", rng=50)
    X = bc.sample_sphere(9, 6, rng=51)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = (mn.lipschitz_lower(net, X).value, mn.relaxation_lower(net, X).value)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # as many as numba allows
        many = (mn.lipschitz_lower(net, X).value, mn.relaxation_lower(net, X).value)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, many):
        np.testing.assert_array_equal(a, b)
