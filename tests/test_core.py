"""The model, the kernels against their plain-numpy references, and the exact lazy-ball worst cases."""

import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy import stats

import boundcheck as bc
from boundcheck import reference as ref
from boundcheck.testing import inputs_for, lazy_weights_for, networks, radii

RTOL = 1e-10
#: Kernel tests run twice, on the compiled kernels and on their Python functions (fixture in conftest.py).
KERNELS = pytest.mark.usefixtures("kernels")


def close(a, b, rtol=RTOL):
    """Relative agreement, with an absolute floor at the scale of the entries (sums can cancel to 0)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = max(1.0, float(np.abs(b).max(initial=0.0)))
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


# --------------------------------------------------------------------------- kernels vs references

@KERNELS
@given(st.data())
def test_kernels_match_reference(data):
    net = data.draw(networks())
    X = data.draw(inputs_for(net))
    W, b, _ = data.draw(lazy_weights_for(net, data.draw(radii())))
    close(bc.forward(net, X, W, b), ref.forward(net, X, W, b))
    close(bc.input_gradient(net, X, W, b), ref.input_gradient(net, X, W, b))
    np.testing.assert_array_equal(bc.activation_counts(net, X, W, b), ref.activation_counts(net, X, W, b))
    np.testing.assert_array_equal(bc.sign_flips(net, X, W, b), ref.sign_flips(net, X, W, b))
    Z = data.draw(inputs_for(net, max_points=len(X), on_sphere=False).filter(lambda z: len(z) == len(X)))
    close(bc.gradient_difference(net, X, Z, W, None, b), ref.gradient_difference(net, X, Z, W, None, b))
    close(bc.gradient_difference(net, X, Z, W, net.W0, b, net.b0),
          ref.gradient_difference(net, X, Z, W, net.W0, b, net.b0))


@KERNELS
@given(st.data())
def test_batched_chunks_match_whole(data):
    net = data.draw(networks())
    X = data.draw(inputs_for(net, max_points=7))
    batch = data.draw(st.integers(1, 3))
    # BLAS may round a 1-row product differently from a many-row one: agreement is to rounding
    for fn in (bc.forward, bc.input_gradient):
        close(fn(net, X, batch=batch), fn(net, X), rtol=1e-13)
    whole = bc.network_pass(net, X, radius=0.3)
    part = bc.network_pass(net, X, radius=0.3, batch=batch)
    for field in ("forward", "input_gradient", "f_lower", "f_upper"):
        close(getattr(part, field), getattr(whole, field), rtol=1e-13)
    if not (np.abs(bc.preactivations(net, X)) < 1e-12).any():  # counts are exact away from kinks
        np.testing.assert_array_equal(bc.activation_counts(net, X, batch=batch), bc.activation_counts(net, X))
        np.testing.assert_array_equal(part.max_sign_flips, whole.max_sign_flips)


@KERNELS
@given(st.data())
def test_network_pass_matches_separate_calls(data):
    net = data.draw(networks())
    X = data.draw(inputs_for(net))
    R = data.draw(radii())
    W, b, _ = data.draw(lazy_weights_for(net, R))
    p = bc.network_pass(net, X, W, b, radius=R)
    close(p.forward, bc.forward(net, X, W, b))
    close(p.input_gradient, bc.input_gradient(net, X, W, b))
    np.testing.assert_array_equal(p.sign_flips, bc.sign_flips(net, X, W, b))
    np.testing.assert_array_equal(p.activation_counts, bc.activation_counts(net, X, W, b))
    fr = bc.f_range(net, X, R)
    close(p.f_lower, fr.lower.value)
    close(p.f_upper, fr.upper.value)
    np.testing.assert_array_equal(p.max_sign_flips, bc.max_sign_flips(net, X, R).value)


# --------------------------------------------------------------------------- analytic identities

@given(st.data())
def test_gradient_matches_central_differences(data):
    net = data.draw(networks(integer=False))
    X = data.draw(inputs_for(net, on_sphere=True))
    grad = bc.input_gradient(net, X)
    h = 1e-6
    pre = np.abs(bc.preactivations(net, X))  # (n, K, m)
    norms = np.linalg.norm(net.W0, axis=-1)  # (K, m)
    for j in range(net.dim):
        E = np.zeros_like(X)
        E[:, j] = h
        fd = (bc.forward(net, X + E) - bc.forward(net, X - E)) / (2 * h)
        # f is piecewise linear: the difference is exact unless a kink lies within h*||w_s|| of x.
        smooth = (pre > 2 * h * norms[None]).all(axis=-1).T  # (K, n)
        scale = np.abs(grad[..., j]).max(initial=1.0)
        np.testing.assert_allclose(fd[smooth], grad[..., j][smooth], rtol=0, atol=1e-7 * scale)


@given(st.data())
def test_euler_identity_without_bias(data):
    net = data.draw(networks(parametrization="theory"))
    X = data.draw(inputs_for(net))
    f = bc.forward(net, X)
    grad = bc.input_gradient(net, X)
    close(np.einsum("kid,id->ki", grad, X), f)


@given(st.data(), st.floats(0.01, 100))
def test_positive_homogeneity(data, c):
    net = data.draw(networks(parametrization="theory"))
    X = data.draw(inputs_for(net))
    close(bc.forward(net, X, c * net.W0), c * bc.forward(net, X))
    f, fc = bc.forward(net, X), bc.forward(net, X, c * net.W0)
    clear = np.abs(f) > 1e-9  # exact kinks may round either way once scaled
    np.testing.assert_array_equal(np.sign(fc[clear]), np.sign(f[clear]))


# --------------------------------------------------------------------------- lazy ball

@KERNELS
@given(st.data())
def test_projection_lands_in_ball_idempotent_nonexpansive(data):
    net = data.draw(networks())
    R = data.draw(radii())
    W, _, _ = data.draw(lazy_weights_for(net, R + 0.5))
    V, _, _ = data.draw(lazy_weights_for(net, R + 0.5))
    P = bc.project_lazy(W, net.W0, R)
    assert bc.lazy_distance(P, net.W0).max() <= R  # no rounding allowance: project_lazy guarantees it
    close(bc.project_lazy(P, net.W0, R), P, rtol=1e-14)  # idempotent to rounding
    close(P, ref.project_lazy(W, net.W0, R))
    # non-expansive, row by row (projection onto a convex set)
    Q = bc.project_lazy(V, net.W0, R)
    assert (np.linalg.norm(P - Q, axis=-1) <= np.linalg.norm(W - V, axis=-1) + 1e-12).all()


def test_projection_with_bias_projects_the_augmented_row():
    W0 = np.zeros((1, 1, 1))
    b0 = np.zeros((1, 1))
    W, b = bc.project_lazy(np.array([[[3.0]]]), W0, 1.0, b=np.array([[4.0]]), b0=b0)
    assert W[0, 0, 0] == pytest.approx(0.6) and b[0, 0] == pytest.approx(0.8)


@KERNELS
@given(st.data())
def test_f_range_matches_reference_and_witnesses(data):
    net = data.draw(networks())
    X = data.draw(inputs_for(net))
    R = data.draw(radii())
    fr = bc.f_range(net, X, R)
    lo, hi = ref.f_range(net, X, R)
    close(fr.lower.value, lo)
    close(fr.upper.value, hi)
    assert fr.upper.kind == fr.lower.kind == "exact"
    for i in range(len(X)):
        for wc in (fr.lower, fr.upper):
            W, b = wc.witness(i)
            assert bc.lazy_distance(W, net.W0, b=b, b0=net.b0).max() <= R  # witnesses are pulled inside
            close(bc.forward(net, X[i:i + 1], W, b)[:, 0], wc.value[:, i], rtol=1e-9)


@KERNELS
@given(st.data())
def test_max_sign_flips_matches_reference_and_witness(data):
    net = data.draw(networks())
    X = data.draw(inputs_for(net))
    R = data.draw(radii())
    wc = bc.max_sign_flips(net, X, R)
    np.testing.assert_array_equal(wc.value, ref.max_sign_flips(net, X, R))
    pre0 = bc.preactivations(net, X)
    rho = np.sqrt((X ** 2).sum(1) + net.has_bias)
    for i in range(len(X)):
        W, b = wc.witness(i)
        assert bc.lazy_distance(W, net.W0, b=b, b0=net.b0).max() <= R  # witnesses are pulled inside
        got = bc.sign_flips(net, X[i:i + 1], W, b)[:, 0]
        # exact unless a neuron sits within rounding of the boundary |z0| = R rho
        near = (np.abs(np.abs(pre0[i]) - R * rho[i]) <= 1e-12 * max(1.0, R * rho[i])).sum(axis=-1)
        assert (got <= wc.value[:, i]).all() and (got >= wc.value[:, i] - near).all()


@KERNELS
@given(st.data())
def test_random_search_never_beats_exact_worst_cases(data):
    net = data.draw(networks(max_width=5, max_dim=3))
    X = data.draw(inputs_for(net, max_points=2))
    R = data.draw(radii(1.0))
    fr = bc.f_range(net, X, R)
    flips = bc.max_sign_flips(net, X, R).value
    tol = 1e-12 * (1 + np.abs(fr.upper.value))
    for _ in range(20):
        W, b, _ = data.draw(lazy_weights_for(net, R, where=data.draw(st.sampled_from(["inside", "on"]))))
        f = bc.forward(net, X, W, b)
        assert (f <= fr.upper.value + tol).all() and (f >= fr.lower.value - tol).all()
        assert (bc.sign_flips(net, X, W, b) <= flips).all()


@KERNELS
def test_exact_ties_convention():
    # w0 . x = 0 exactly: inactive at W0 (relu'(0) = 0), gradient zero, one flip reachable for R > 0.
    net = bc.Network(a=np.array([[1.0]]), W0=np.array([[[1.0, -1.0]]]))
    X = np.array([[1.0, 1.0]])
    assert bc.forward(net, X)[0, 0] == 0.0
    np.testing.assert_array_equal(bc.input_gradient(net, X)[0, 0], [0.0, 0.0])
    assert bc.activation_counts(net, X)[0, 0] == 0
    assert bc.max_sign_flips(net, X, 0.1).value[0, 0] == 1
    assert bc.max_sign_flips(net, X, 0.0).value[0, 0] == 0
    assert bc.max_sign_flips(net, np.zeros((1, 2)), 5.0).value[0, 0] == 0


@KERNELS
def test_degenerate_shapes_give_finite_answers():
    net = bc.init_network(1, 1, parametrization="theory", rng=0)
    X = np.array([[0.0], [1.0], [-1.0]])
    p = bc.network_pass(net, X, radius=0.5)
    for arr in (p.forward, p.input_gradient, p.f_lower, p.f_upper):
        assert np.isfinite(arr).all()


# --------------------------------------------------------------------------- inits and randomness

def test_init_k_is_the_same_alone_or_among_many():
    many = bc.init_network(6, 10, n_inits=50, parametrization="paper_code", rng=123)
    few = bc.init_network(6, 10, n_inits=3, parametrization="paper_code", rng=123)
    np.testing.assert_array_equal(many.W0[:3], few.W0)
    np.testing.assert_array_equal(many.a[:3], few.a)
    np.testing.assert_array_equal(many.b0[:3], few.b0)
    gen = np.random.default_rng(5)
    other = bc.init_network(6, 10, n_inits=3, parametrization="paper_code", rng=gen)
    assert not np.array_equal(other.W0, few.W0)


def test_same_numbers_whatever_the_thread_count():
    import numba
    from threadpoolctl import threadpool_limits
    net = bc.init_network(30, 64, n_inits=8, parametrization="theory", rng=3)
    X = bc.sample_sphere(50, 30, rng=4)
    W = bc.project_lazy(net.W0 + 0.2 * np.random.default_rng(5).standard_normal(net.W0.shape), net.W0, 0.3)
    results = []
    saved = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            with threadpool_limits(limits=threads):
                p = bc.network_pass(net, X, W, radius=0.3)
                results.append((p.forward, p.input_gradient, p.sign_flips, p.f_upper, p.max_sign_flips))
    finally:
        numba.set_num_threads(saved)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


def test_parametrizations():
    th = bc.init_network(400, 500, parametrization="theory", rng=1)
    bu = bc.init_network(400, 500, parametrization="bubeck", rng=1)
    pc = bc.init_network(400, 500, parametrization="paper_code", rng=1)
    assert th.b0 is None and bu.b0 is None and pc.b0 is not None and pc.output_bias is not None
    assert set(np.unique(th.a)) == {-1.0, 1.0}
    # Var of entries: 1 (theory, paper_code) and 1/d (bubeck); 200k entries, sd of the sample var ~ sqrt(2/N)
    tol = 5 * np.sqrt(2 / th.W0.size)
    assert abs(th.W0.var() - 1) < tol and abs(bu.W0.var() * 400 - 1) < tol
    np.testing.assert_allclose(np.abs(pc.output_bias), 1 / np.sqrt(500))
    assert th.input_radius == 1.0 and bu.input_radius == pytest.approx(20.0) and pc.input_radius is None


def test_moments_at_init_theory():
    # E f = 0, Var f = 1/2, E ||grad f||^2 = d/2 (theory section 1 and 5.6), over independent (init, x).
    d, m, K = 20, 200, 4000
    net = bc.init_network(d, m, n_inits=K, parametrization="theory", rng=7)
    x = bc.sample_sphere(1, d, rng=8)
    p = bc.network_pass(net, x)
    f = p.forward[:, 0]
    g2 = (p.input_gradient[:, 0] ** 2).sum(-1)
    z = stats.norm.ppf(1 - 0.001 / 2)  # each check fails with probability 1e-3 under the exact law
    assert abs(f.mean()) < z * np.sqrt(0.5 / K)
    # Var of the sample variance ~ (mu4 - sigma^4)/K; mu4 of f estimated from the sample itself
    mu4 = ((f - f.mean()) ** 4).mean()
    assert abs(f.var(ddof=1) - 0.5) < z * np.sqrt((mu4 - 0.25) / K)
    assert abs(g2.mean() - d / 2) < z * g2.std(ddof=1) / np.sqrt(K)


# --------------------------------------------------------------------------- bad input

def test_bad_inputs_name_the_parameter():
    net = bc.init_network(3, 4, n_inits=2, parametrization="theory", rng=0)
    X = np.ones((2, 3))
    with pytest.raises(ValueError, match="X must have shape"):
        bc.forward(net, np.ones((2, 4)))
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        bc.forward(net, np.ones(3))
    with pytest.raises(ValueError, match="finite"):
        bc.forward(net, np.array([[np.nan, 0, 0]]))
    with pytest.raises(TypeError, match="X must be an array of real numbers"):
        bc.forward(net, np.array([["a", "b", "c"]]))
    with pytest.raises(ValueError, match="W must have the shape"):
        bc.forward(net, X, W=np.ones((2, 4, 2)))
    with pytest.raises(ValueError, match="b was given but the network has no biases"):
        bc.forward(net, X, b=np.ones((2, 4)))
    with pytest.raises(ValueError, match="radius must be >= 0"):
        bc.f_range(net, X, -1.0)
    with pytest.raises(ValueError, match="radius must be >= 0"):
        bc.max_sign_flips(net, X, -0.1)
    with pytest.raises(ValueError, match="W must have the shape of W0"):
        bc.project_lazy(np.ones((2, 4, 2)), net.W0, 1.0)
    with pytest.raises(ValueError, match="m must be >= 1"):
        bc.init_network(3, 0, parametrization="theory")
    with pytest.raises(ValueError, match="d must be >= 1"):
        bc.init_network(0, 3, parametrization="theory")
    with pytest.raises(TypeError, match="d must be an integer"):
        bc.init_network(3.5, 3, parametrization="theory")
    with pytest.raises(TypeError, match="parametrization"):
        bc.init_network(3, 3)
    with pytest.raises(ValueError, match="parametrization must be one of"):
        bc.init_network(3, 3, parametrization="ntk")
    with pytest.raises(ValueError, match="a must have shape"):
        bc.Network(a=np.ones((2, 5)), W0=net.W0)
    with pytest.raises(ValueError, match="batch must be >= 1"):
        bc.forward(net, X, batch=0)
    with pytest.raises(TypeError, match="net must be a boundcheck.Network"):
        bc.forward("net", X)
    with pytest.raises(TypeError, match="rng must be"):
        bc.init_network(3, 3, parametrization="theory", rng="seed")
    with pytest.raises(ValueError, match="Z must have the shape of X"):
        bc.gradient_difference(net, X, np.ones((3, 3)))


# --------------------------------------------------------------------------- pair flips (Lemma B.6)

@KERNELS
@given(st.data())
def test_max_pair_flips_never_beaten_and_exact_at_zero_radius(data):
    net = data.draw(networks(max_width=5, max_dim=3))
    X = data.draw(inputs_for(net, max_points=3))
    Y = data.draw(inputs_for(net, max_points=len(X), on_sphere=False).filter(lambda y: len(y) == len(X)))
    R = data.draw(radii(1.0))
    wc = bc.max_pair_flips(net, X, Y, R)

    def disagreements(W, b):
        zx = bc.preactivations(net, X, W, b)
        zy = bc.preactivations(net, Y, W, b)
        return ((zx > 0) != (zy > 0)).sum(-1).T  # (K, n)

    at_init = disagreements(None, None)
    assert (wc.value >= at_init).all()
    if R == 0:
        pre_x, pre_y = bc.preactivations(net, X), bc.preactivations(net, Y)
        # with R = 0 only neurons already split count (up to the measure-zero closure convention)
        clear = ((np.abs(pre_x) > 1e-12) & (np.abs(pre_y) > 1e-12)).all(axis=(1, 2))
        np.testing.assert_array_equal(bc.max_pair_flips(net, X[clear], Y[clear], 0.0).value, at_init[:, clear])
    for _ in range(20):
        W, b, _ = data.draw(lazy_weights_for(net, R, where="inside"))
        assert (disagreements(W, b) <= wc.value).all()


def test_max_pair_flips_tiny_angle_warning_claims_only_what_is_known():
    """A real tiny coordinate (x = (2, 3.56e-162), y = (1, 0)) is not rounding: the warning must not say the
    pair is parallel, only that the count is exact for the floats and what an intended exact multiple gives."""
    net = bc.Network(a=-np.ones((1, 2)), W0=np.array([[[0.0, 1.0], [1.0, 0.0]]]))
    with pytest.warns(RuntimeWarning) as record:
        bc.max_pair_flips(net, np.array([[2.0, 3.56e-162]]), np.array([[1.0, 0.0]]), 0.5)
    (message,) = [str(w.message) for w in record if "max_pair_flips" in str(w.message)]
    assert "are parallel" not in message and "not exact multiples" in message
    assert "count is exact for the floats given" in message and "cannot tell" in message


@pytest.mark.filterwarnings("ignore:max_pair_flips. x~ and y~ are not exact multiples:RuntimeWarning")
def test_max_pair_flips_tiny_angle_keeps_the_neurons_split_at_init():
    """A pair at an angle of ~1.8e-162 (x = (2, 3.56e-162), y = (1, 0)): the plane's second direction has
    entries ~4e-163, whose squares underflow. Neurons w0 = (0, 1) are split at W0 (w.x > 0 = w.y) and must
    count for every R; at R = 0 the count is the one at W0 exactly (the zero rows cannot split anything);
    for R > 0 every neuron can split the pair (the zero rows by w = t (0, 1), any t > 0)."""
    W0 = np.array([[[0.0, 0.0], [0.0, 1.0], [0.0, 1.0]], [[0.0, 0.0]] * 3])
    net = bc.Network(a=-np.ones((2, 3)), W0=W0)
    X, Y = np.array([[2.0, 3.56e-162]]), np.array([[1.0, 0.0]])
    assert bc.max_pair_flips(net, X, Y, 0.0).value[:, 0].tolist() == [2, 0]
    for R in (1e-300, 1e-170, 0.5):
        assert bc.max_pair_flips(net, X, Y, R).value[:, 0].tolist() == [3, 3]


@KERNELS
def test_max_pair_flips_matches_dense_search_in_the_plane():
    # d = 2, one neuron: scan the disc B(w0, R) on a fine polar grid; the exact count must agree unless the
    # flip set is within grid resolution of the disc's edge.
    rng = np.random.default_rng(0)
    for trial in range(60):
        w0 = rng.standard_normal(2)
        x, y = rng.standard_normal(2), rng.standard_normal(2)
        R = rng.uniform(0, 1.5)
        net = bc.Network(a=np.ones((1, 1)), W0=w0[None, None])
        exact = bc.max_pair_flips(net, x[None], y[None], R).value[0, 0]
        radii_, angles = np.meshgrid(np.linspace(0, R, 200), np.linspace(0, 2 * np.pi, 721))
        pts = w0 + np.stack([radii_ * np.cos(angles), radii_ * np.sin(angles)], -1).reshape(-1, 2)
        found = bool((((pts @ x) > 0) != ((pts @ y) > 0)).any())
        # distance from w0 to the flip set, by the exact formula; skip borderline cases (|dist - R| small)
        if found:
            assert exact == 1, trial
        else:
            shrunk = bc.max_pair_flips(net, x[None], y[None], R * 0.98).value[0, 0]
            assert shrunk == 0, trial


def test_kernels_fixture_runs_the_python_functions(kernels):
    """The fixture really swaps every compiled kernel for its Python function, and only in python mode."""
    from numba.core.registry import CPUDispatcher

    from boundcheck import _kernels, _robust_lazy_kernels, _worst_case_kernels
    for fn in (_kernels.forward_from_pre, _kernels._dist_to_wedge, _kernels.reduce_init_draws,
               _robust_lazy_kernels.scan_all, _worst_case_kernels._h_tau, _worst_case_kernels.diff_best_response):
        assert isinstance(fn, CPUDispatcher) == (kernels == "compiled"), fn
    net = bc.init_network(3, 4, n_inits=2, parametrization="paper_code", rng=0)
    X = np.ones((2, 3))
    close(bc.forward(net, X), ref.forward(net, X))


def test_shared_row_norms_neither_underflow_nor_overflow():
    from boundcheck._numeric import augmented_norms, row_norms, unit_rows
    V = np.array([[3.0, 4.0], [0.0, 0.0], [-1.0, 0.0]])
    for c in (1e-200, 1.0, 1e200):   # plain squares would give 0 or inf at the ends; relative checks only
        np.testing.assert_allclose(row_norms(c * V), c * np.array([5.0, 0.0, 1.0]), rtol=1e-15, atol=0)
        U, norms = unit_rows(c * V)
        np.testing.assert_allclose(U, [[0.6, 0.8], [0.0, 0.0], [-1.0, 0.0]], rtol=1e-15, atol=0)
        np.testing.assert_allclose(norms, c * np.array([5.0, 0.0, 1.0]), rtol=1e-15, atol=0)
    assert row_norms(np.zeros((2, 0))).tolist() == [0.0, 0.0]
    biased = bc.init_network(2, 3, parametrization="paper_code", rng=0)
    plain = bc.init_network(2, 3, parametrization="theory", rng=0)
    close(augmented_norms(biased, V), np.sqrt([26.0, 1.0, 2.0]), rtol=1e-15)
    close(augmented_norms(plain, V), [5.0, 0.0, 1.0], rtol=1e-15)


def test_compiled_kernels_live_only_in_kernel_modules_with_one_set_of_options():
    """Every @njit is in boundcheck/_kernels.py or boundcheck/_*_kernels.py, and only _kernels defines the options."""
    import ast
    from pathlib import Path

    root = Path(bc.__file__).resolve().parent
    kernel_files, options = [], []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_kernel_module = path.parent == root and (path.name == "_kernels.py" or
                                                   (path.name.startswith("_") and path.name.endswith("_kernels.py")))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for dec in node.decorator_list:
                    target = dec.func if isinstance(dec, ast.Call) else dec
                    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                    if name in ("njit", "jit", "vectorize", "guvectorize", "cfunc"):
                        assert is_kernel_module, f"compiled function {node.name} in {path.name}"
                        kernel_files.append(path.name)
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "dict" and \
                    {kw.arg for kw in node.keywords} >= {"nogil", "cache"}:
                options.append(path.name)
    assert "_kernels.py" in kernel_files and len(set(kernel_files)) >= 4
    assert options == ["_kernels.py"], options
