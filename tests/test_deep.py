"""Deep networks (boundcheck.deep): kernels vs plain-numpy references, finite differences, the L = 2 case
against the two-layer model, and the exact one-step flip against a dense grid."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

import boundcheck as bc
from boundcheck import deep as D
from boundcheck.testing import inputs_for, networks, seeds

ACTS = list(D.ACTIVATIONS)


@st.composite
def deep_nets(draw, activation=None, max_depth=4, max_width=6, max_dim=4, integer=None):
    """Small deep networks: Gaussian inits (either parametrization, with or without biases) or small-integer
    weights (exact ties at the kinks)."""
    K = draw(st.integers(1, 2))
    d = draw(st.integers(1, max_dim))
    H = draw(st.integers(1, max_depth - 1))
    widths = [draw(st.integers(1, max_width)) for _ in range(H)]
    act = activation or draw(st.sampled_from(ACTS))
    if integer is None:
        integer = draw(st.booleans())
    if not integer:
        return D.init_deep_network(d, widths, K, parametrization=draw(st.sampled_from(D.DEEP_PARAMETRIZATIONS)),
                                   activation=act, bias=draw(st.booleans()), rng=draw(seeds()))
    ints = st.integers(-2, 2)
    fan = [d] + widths[:-1]
    Ws = [np.array(draw(st.lists(ints, min_size=K * m * p, max_size=K * m * p)), float).reshape(K, m, p)
          for m, p in zip(widths, fan)]
    a = np.array(draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=K * widths[-1], max_size=K * widths[-1])))
    bs = None
    if draw(st.booleans()):
        bs = [np.array(draw(st.lists(ints, min_size=K * m, max_size=K * m)), float).reshape(K, m) for m in widths]
    c = float(draw(ints)) if draw(st.booleans()) else None
    return D.from_arrays(Ws, a.reshape(K, -1), biases=bs, output_bias=c, activation=act)


def _points(draw, net, integer=None, max_points=3):
    n = draw(st.integers(1, max_points))
    if integer is None:
        integer = draw(st.booleans())
    if integer:
        return np.array(draw(st.lists(st.integers(-2, 2), min_size=n * net.dim, max_size=n * net.dim)),
                        float).reshape(n, net.dim)
    rng = np.random.default_rng(draw(seeds()))
    X = rng.standard_normal((n, net.dim))
    return np.sqrt(net.dim) * X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-300)


# ----------------------------------------------------------------------------------------------- model

def test_init_shapes_streams_and_parametrizations():
    net = D.init_deep_network(8, [30, 20, 10], n_inits=3, parametrization="ntk", activation="gelu", rng=1)
    assert net.depth == 4 and net.widths == (30, 20, 10) and net.n_inits == 3
    assert [W.shape for W in net.weights] == [(3, 30, 8), (3, 20, 30), (3, 10, 20)]
    q = D.activation_second_moment("gelu")
    assert net.multipliers[0] == pytest.approx(1 / np.sqrt(8)) and net.multipliers[1] == pytest.approx(
        np.sqrt(1 / q / 30))
    # one stream per init: init 1 drawn among three equals init 1 selected
    alone = net.select(1)
    X = np.random.default_rng(0).standard_normal((4, 8))
    assert np.array_equal(D.deep_forward(alone, X)[0], D.deep_forward(net, X)[1])
    # bubeck and ntk give the same function at init (same draws, scale in weights vs multiplier)
    nb_ = D.init_deep_network(8, [30, 20, 10], n_inits=3, parametrization="bubeck", activation="gelu", rng=1)
    np.testing.assert_allclose(D.deep_forward(nb_, X), D.deep_forward(net, X), rtol=1e-12, atol=1e-12)


def test_second_moments():
    from scipy.integrate import quad
    assert D.activation_second_moment("relu") == 0.5
    val = quad(lambda z: np.tanh(z) ** 2 * np.exp(-z * z / 2) / np.sqrt(2 * np.pi), -40, 40)[0]
    assert D.activation_second_moment("tanh") == pytest.approx(val, rel=1e-10)


def test_preactivations_of_order_one():
    """Each parametrization keeps the pre-activations of every layer of variance ~1 (module docstring)."""
    d, X = 200, None
    for act in ACTS:
        for par in D.DEEP_PARAMETRIZATIONS:
            net = D.init_deep_network(d, [400, 400, 400], 4, parametrization=par, activation=act, rng=3)
            X = bc.sample_sphere(50, d, radius=np.sqrt(d), rng=4)
            Zs, _ = D._layers(net, X, net.weights, None)
            for Z in Zs:
                # 4 * 50 points x 400 neurons; the width-400 recursion drifts by O(1/sqrt(m)) per layer
                assert 0.8 < np.mean(Z ** 2) < 1.25, (act, par, np.mean(Z ** 2))


def test_errors_name_the_parameter():
    with pytest.raises(ValueError, match="parametrization"):
        D.init_deep_network(3, [4], parametrization="theory")
    with pytest.raises(ValueError, match="activation"):
        D.init_deep_network(3, [4], parametrization="bubeck", activation="sigmoid")
    with pytest.raises(ValueError, match="widths"):
        D.init_deep_network(3, [4, 0], parametrization="bubeck")
    net = D.init_deep_network(3, [4, 5], parametrization="bubeck", rng=0)
    with pytest.raises(ValueError, match="X must have shape"):
        D.deep_forward(net, np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        D.deep_forward(net, np.ones((2, 3)), weights=[net.weights[0], np.ones((1, 4, 5))])
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        D.from_arrays([np.ones((4, 3)), np.ones((5, 3))], np.ones(5))
    with pytest.raises(TypeError, match="from_network"):
        D.deep_forward(bc.init_network(3, 4, parametrization="theory", rng=0), np.ones((1, 3)))
    with pytest.raises(ValueError, match="biases"):
        D.deep_forward(net, np.ones((1, 3)), biases=[np.ones((1, 4)), np.ones((1, 5))])


# ------------------------------------------------------------------------------------ kernels vs reference

@given(st.data())
def test_kernels_match_reference(data):
    net = data.draw(deep_nets())
    X = _points(data.draw, net)
    p = D.deep_pass(net, X, patterns=True)
    np.testing.assert_allclose(p.forward, D._reference_forward(net, X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(p.input_gradient, D._reference_input_gradient(net, X), rtol=1e-11, atol=1e-12)
    # patterns: z_l > 0 of the reference pre-activations (integer nets: exact)
    for k in range(net.n_inits):
        for i, x in enumerate(X):
            h = x
            for l, W in enumerate(net.weights):
                z = net.multipliers[l] * (W[k] @ h) + (0 if net.biases is None else net.biases[l][k])
                if not np.any(np.abs(z) < 1e-12 * (1 + np.abs(z).max())) or np.all(z == np.round(z)):
                    assert np.array_equal(p.patterns[l][k, i], z > 0)
                h = D._np_phi(z, net.activation)
    # batching changes at most the rounding (BLAS picks gemv or gemm by shape)
    np.testing.assert_allclose(D.deep_forward(net, X, batch=1), p.forward, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(D.deep_input_gradient(net, X, batch=1), p.input_gradient, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("act", ["softplus", "tanh", "gelu"])
def test_gradient_finite_differences_smooth(act):
    net = D.init_deep_network(6, [15, 10, 8], 2, parametrization="ntk", activation=act, bias=True, rng=7)
    X = bc.sample_sphere(4, 6, radius=np.sqrt(6), rng=8)
    g = D.deep_input_gradient(net, X)
    h = 1e-5
    fd = np.empty_like(g)
    for j in range(6):
        e = np.zeros(6)
        e[j] = h
        fd[..., j] = (D.deep_forward(net, X + e) - D.deep_forward(net, X - e)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-8)


def test_gradient_finite_differences_relu_away_from_kinks():
    net = D.init_deep_network(5, [12, 9, 7], 3, parametrization="bubeck", activation="relu", bias=True, rng=9)
    X = bc.sample_sphere(30, 5, radius=np.sqrt(5), rng=10)
    Zs, _ = D._layers(net, X, net.weights, net.biases)
    margin = np.min([np.abs(Z).min(axis=(0, 2)) for Z in Zs], axis=0)  # per point, over inits and layers
    X = X[margin > 1e-3]
    assert len(X) >= 5
    g = D.deep_input_gradient(net, X)
    h = 1e-7  # moves every pre-activation by far less than 1e-3: the pattern is fixed, f is linear
    fd = np.empty_like(g)
    for j in range(5):
        e = np.zeros(5)
        e[j] = h
        fd[..., j] = (D.deep_forward(net, X + e) - D.deep_forward(net, X - e)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def test_relu_euler_identity_without_biases():
    """A bias-free ReLU network is positively homogeneous: x . grad f(x) = f(x)."""
    net = D.init_deep_network(9, [20, 30, 10], 2, parametrization="ntk", rng=11)
    X = bc.sample_sphere(6, 9, radius=3.0, rng=12)
    p = D.deep_pass(net, X)
    np.testing.assert_allclose(np.einsum("knd,nd->kn", p.input_gradient, X), p.forward, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------------ L = 2 equals Network

@given(st.data())
def test_two_layers_equal_network(data):
    net = data.draw(networks())
    X = data.draw(inputs_for(net))
    dn = D.from_network(net)
    assert dn.depth == 2
    np.testing.assert_array_equal(D.deep_forward(dn, X), bc.forward(net, X))
    np.testing.assert_array_equal(D.deep_input_gradient(dn, X), bc.input_gradient(net, X))
    np.testing.assert_array_equal(D.activation_patterns(dn, X)[0],
                                  bc.preactivations(net, X).transpose(1, 0, 2) > 0)
    a = bc.min_flip_step(net, X)
    b = D.deep_min_flip_step(dn, X)
    for name in ("eta", "delta", "grad_norm", "f", "flipped", "direction"):
        np.testing.assert_array_equal(getattr(b, name), getattr(a, name), err_msg=name)


@given(seeds())
def test_init_bubeck_two_layers_is_init_network(seed):
    a = bc.init_network(5, 7, n_inits=3, parametrization="bubeck", rng=seed)
    b = D.init_deep_network(5, 7, n_inits=3, parametrization="bubeck", rng=seed)
    np.testing.assert_array_equal(b.weights[0], a.W0)
    np.testing.assert_array_equal(b.a, a.a)


@given(st.data())
def test_layer_walk_equals_two_layer_scan(data):
    """The general layer walk, run at L = 2, finds the two-layer scan's eta* (Gaussian nets: no ties)."""
    net = data.draw(networks(integer=False))
    X = data.draw(inputs_for(net, on_sphere=True))
    dn = D.from_network(net)
    a = D.deep_min_flip_step(dn, X)
    b = D.deep_min_flip_step(dn, X, walk="layers")
    np.testing.assert_array_equal(np.isfinite(a.delta), np.isfinite(b.delta))
    fin = np.isfinite(a.delta)
    np.testing.assert_allclose(b.delta[fin], a.delta[fin], rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------ exact flip, dense grid

def _grid_check_relu(net, X, res, n_grid=1500):
    """Dense-grid reference: no grid point before t* flips; f reaches 0 at t* and is flipped just past it."""
    K, n = res.delta.shape
    for k in range(K):
        sub = net.select(k)
        for i in range(n):
            x, u, t_star, f0 = X[i], res.direction[k, i], res.delta[k, i], res.f[k, i]
            positive = f0 >= 0
            scale = 1.0 + np.abs(np.concatenate([np.ravel(W[k]) for W in net.weights])).sum() * (1 + np.abs(x).sum())
            tol = 1e-9 * scale
            if not np.any(u):
                assert t_star == np.inf
                continue
            T = (2 * t_star + 1.0) if np.isfinite(t_star) else 20.0 * (1.0 + np.linalg.norm(x))
            ts = np.linspace(0.0, T, n_grid)
            fv = D.deep_forward(sub, x[None] + ts[:, None] * u[None])[0]  # kernels: checked against the reference
            flipped = fv < -tol if positive else fv > tol
            before = ts < (t_star - 1e-7 * (1 + t_star) if np.isfinite(t_star) else np.inf)
            assert not flipped[before].any(), (k, i, t_star, ts[flipped & before][:3])
            if np.isfinite(t_star):
                ft = D._reference_forward(sub, (x + t_star * u)[None])[0, 0]
                assert abs(ft) <= tol or t_star == 0.0, (ft, t_star)
                if positive:  # f(x) >= 0: t* is the infimum of the steps with f < 0, so f < 0 just past it
                    past = D._reference_forward(sub, (x + (t_star + 1e-6 * (1 + t_star)) * u)[None])[0, 0]
                    assert past < tol, (past, t_star)
                # f(x) < 0: reaching 0 is the flip (sign(0) = +1), checked above; f may touch 0 and go back
                # (e.g. a bias-free ray through the origin of a net whose a_s are all -1)
            else:
                assert not flipped.any()


@settings(max_examples=40)
@given(st.data())
def test_relu_walk_against_dense_grid(data):
    net = data.draw(deep_nets(activation="relu"))
    X = _points(data.draw, net)
    res = D.deep_min_flip_step(net, X, walk="layers")
    assert res.method == "exact"
    _grid_check_relu(net, X, res)
    # eta = delta / ||grad f|| and the direction is -sign(f) grad / ||grad||
    g = D.deep_input_gradient(net, X)
    fin = np.isfinite(res.delta) & (res.grad_norm > 0)
    np.testing.assert_allclose(res.eta[fin] * res.grad_norm[fin], res.delta[fin], rtol=1e-12)
    sgn = np.where(res.f >= 0, -1.0, 1.0)
    nz = res.grad_norm > 0
    np.testing.assert_allclose(res.direction[nz], (sgn[..., None] * g)[nz] / res.grad_norm[nz][:, None],
                               rtol=1e-12, atol=1e-15)


def test_relu_walk_zero_gradient_and_ties():
    # every first-layer neuron off at x: zero gradient, the ray does not move, nothing flips
    W1 = -np.ones((1, 3, 2))
    net = D.from_arrays([W1, np.ones((1, 2, 3))], np.array([[1.0, -1.0]]), output_bias=0.5)
    res = D.deep_min_flip_step(net, np.array([[1.0, 1.0]]))
    assert res.grad_norm[0, 0] == 0 and res.delta[0, 0] == np.inf and not res.flipped[0, 0]
    # f(x) = 0 exactly at a tie with a nonzero gradient heading down: t* = 0
    W1 = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    W2 = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    net = D.from_arrays([W1, W2], np.array([[1.0, -1.0]]))
    res = D.deep_min_flip_step(net, np.array([[1.0, 1.0]]))
    assert res.f[0, 0] == 0.0 and res.delta[0, 0] == 0.0 and res.flipped[0, 0]
    # a second-layer neuron exactly at its kink at x (integer weights): still exact against the grid
    W1 = np.array([[[1.0, -1.0], [2.0, 1.0], [-1.0, 2.0]]])
    W2 = np.array([[[1.0, -1.0, 0.0], [0.0, 1.0, -2.0]]])
    net = D.from_arrays([W1, W2], np.array([[1.0, -1.0]]), output_bias=-1.0)
    X = np.array([[1.0, 1.0], [2.0, 1.0], [0.0, 0.0], [1.0, -2.0]])
    _grid_check_relu(net, X, D.deep_min_flip_step(net, X))


# ------------------------------------------------------------------------------------ smooth roots

def _reference_root(sub, x, u, positive, t_max, n_grid=4000):
    ts = np.linspace(0.0, t_max, n_grid)
    fv = D.deep_forward(sub, x[None] + ts[:, None] * u[None])[0]  # kernels: checked against the reference
    flipped = fv < 0 if positive else fv >= 0
    flipped[0] = False
    if not flipped.any():
        return np.inf
    j = int(np.argmax(flipped))
    fun = lambda t: D._reference_forward(sub, (x + t * u)[None])[0, 0]  # noqa: E731
    return brentq(fun, ts[j - 1], ts[j], xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)


@settings(max_examples=25)
@given(st.data())
def test_smooth_root_against_dense_grid(data):
    act = data.draw(st.sampled_from(["softplus", "tanh", "gelu"]))
    net = data.draw(deep_nets(activation=act, integer=False))
    X = _points(data.draw, net, integer=False)
    res = D.deep_min_flip_step(net, X, max_delta=6.0)
    assert res.method == "root"
    for k in range(net.n_inits):
        sub = net.select(k)
        for i in range(len(X)):
            if res.grad_norm[k, i] == 0:
                assert res.delta[k, i] == np.inf
                continue
            u, positive = res.direction[k, i], res.f[k, i] >= 0
            ref = _reference_root(sub, X[i], u, positive, 6.0)
            got = res.delta[k, i]
            if np.isfinite(ref) and np.isfinite(got) and abs(got - ref) <= 1e-10 * ref + 1e-300:
                continue
            # the only allowed disagreement: a flipped window narrower than one of the two grids, which that
            # grid steps over. The library's grid (h = max(t_lin / resolution, max_delta / max_grid), the
            # defaults 16 and 4096, and max_delta itself) then sees no flip before its answer, and every answer
            # found is a real flip.
            flipped = lambda t: (lambda v: v < 0 if positive else v >= 0)(  # noqa: E731
                D._reference_forward(sub, (X[i] + t * u)[None])[0, 0])
            h = max(abs(res.f[k, i]) / res.grad_norm[k, i] / 16, 6.0 / 4096)
            grid = np.append(h * np.arange(1, int(np.ceil(6.0 / h))), 6.0)
            assert not any(flipped(t) for t in grid[grid < got]), (ref, got, h)
            # got is the flipped end of a bracket refined to adjacent floats; brentq's ref is within 4 eps
            # (relative) of a root, so 8 eps past it the ray has crossed
            eps = np.finfo(float).eps
            assert not np.isfinite(got) or flipped(got), (ref, got)
            assert not np.isfinite(ref) or flipped(ref * (1 + 8 * eps)), (ref, got)


def test_smooth_root_when_the_grid_step_exceeds_max_delta():
    """tanh saturated at x (f = -0.9993, ||grad f|| = 0.004): t_lin / resolution = 15 > max_delta = 6, so
    the grid used to hold no point in (0, 6] and missed the one crossing, at t = |w.x| / ||w|| = 1.407."""
    w = np.array([-1.3520300387176956, -2.4725043949871948])
    net = D.from_arrays([w[None, None, :]], np.array([[1.0]]), activation="tanh")
    x = np.array([[0.5483098754198845, 1.3035936025146144]])
    res = D.deep_min_flip_step(net, x, max_delta=6.0)
    expected = abs(w @ x[0]) / np.linalg.norm(w)
    assert res.flipped[0, 0] and abs(res.delta[0, 0] - expected) <= 1e-12 * expected
    assert D.deep_min_flip_step(net, x, max_delta=0.99 * expected).delta[0, 0] == np.inf


def test_relu_walk_touching_zero_from_below_is_a_flip():
    """d = 1, no biases, every a_s = -1: f < 0 on both sides of the origin and f = 0 there. With sign(0) = +1
    the ray flips at the origin (t* = |x|), although f is negative again just past it."""
    net = D.from_arrays([np.array([[[-0.93076361], [0.38383601]]])], np.array([[-1.0, -1.0]]))
    for x in (1.0, -2.0):
        res = D.deep_min_flip_step(net, np.array([[x]]), walk="layers")
        assert res.f[0, 0] < 0 and res.flipped[0, 0] and res.delta[0, 0] == pytest.approx(abs(x), rel=1e-12)


def test_smooth_root_is_machine_precise():
    net = D.init_deep_network(10, [40, 40], 2, parametrization="bubeck", activation="tanh", rng=3)
    X = bc.sample_sphere(8, 10, radius=np.sqrt(10), rng=4)
    res = D.deep_min_flip_step(net, X)
    assert res.flipped.mean() > 0.5
    for k in range(2):
        for i in np.flatnonzero(res.flipped[k]):
            t = res.delta[k, i]
            u = res.direction[k, i]
            sub = net.select(k)
            f_at = D.deep_forward(sub, np.array([X[i] + s * u for s in (t, t * (1 - 1e-10), t * (1 + 1e-10))]))[0]
            assert abs(f_at[0]) < 1e-14
            sign = 1.0 if res.f[k, i] >= 0 else -1.0
            assert sign * f_at[1] > 0 > sign * f_at[2]


# ------------------------------------------------------------------------------------ registry entries

BEYOND_IDS = {"bubeck2021_f_order_one": ("found", 0.0), "bubeck2021_grad_order_one": ("recon", 0.0),
              "bubeck2021_one_step_smooth": ("found", -0.5), "bubeck2021_one_step_relu": ("found", -0.5),
              "bartlett2021_gradient_dominance": ("recon", 0.5), "bartlett2021_one_step": ("recon", -0.5),
              "montanari2022_gradient_step": ("recon", -0.5)}


@pytest.mark.parametrize("bound_id", sorted(BEYOND_IDS))
def test_scaling_law_entries(bound_id):
    from boundcheck.bounds import get
    b = get(bound_id)
    status, exponent = BEYOND_IDS[bound_id]
    assert b.status == status and b.citation and b.formula
    assert b.constants["exponent_d"] == exponent
    (const, (value, why)), = b.reconstructed_constants(d=100).items()
    assert value == 1.0 and why == "not found"
    # the law C ||x||^p d^e: doubling d multiplies it by 2^e, the constant scales it
    v1 = float(b.evaluate(d=100, x_norm=10.0))
    assert float(b.evaluate(d=200, x_norm=10.0)) == pytest.approx(v1 * 2 ** exponent)
    assert float(b.evaluate(d=100, x_norm=10.0, **{const: 3.0})) == pytest.approx(3 * v1)
    assert float(b.failure(d=100)) == 0.0 and float(b.failure(d=100, gamma=0.05)) == 0.05


def test_regime_conditions_and_common_step():
    from boundcheck.bounds import get
    relu = get("bubeck2021_one_step_relu")
    assert relu.check_conditions(d=100, k=1000)["width_regime"] == np.array(False)   # log 1000 > 100^0.24
    assert relu.check_conditions(d=100, k=1000, c_exp=0.5)["width_regime"] == np.array(True)
    assert relu.check_conditions(d=100)["width_regime"] is None
    bart = get("bartlett2021_gradient_dominance")
    assert bart.check_conditions(d=100, min_width=5, max_width=400)["polynomial_widths"] == np.array(False)
    common = get("montanari2022_common_step")
    assert float(common.evaluate(gamma=0.1)) == pytest.approx(0.9) and common.direction == "lower"
    assert common.reconstructed_constants(gamma=0.1, s_d=2.0) == {"s_d": (2.0, "not found")}


# ------------------------------------------------------------------------------------ studies (tiny)

def test_deep_one_step_study_tiny(tmp_path):
    from boundcheck.studies import deep_one_step as S
    assert S.hidden_widths("growing", 4, 40) == [20, 40, 80] and S.hidden_widths("bottleneck", 4, 40) == [40, 5, 40]
    cfg = S.Config(dims=(16, 25, 36), depths=(2, 3), profiles=("equal", "bottleneck"), width=16, n_inits=2, n_points=3)
    res = S.STUDY.run(cfg, out_dir=tmp_path, progress=False)
    assert set(res.table.depth) == {2, 3} and len(res.table) == 12
    assert any("bartlett2021_one_step" in line for line in res.verdicts)
    samples = res.extra_tables["samples"]
    # delta* is a real flip: exact values against one more independent evaluation
    assert ((samples.delta >= 0) | ~samples.flipped).all()
    assert (samples.flipped == np.isfinite(samples.delta)).all()


def test_smooth_one_step_study_tiny(tmp_path):
    from boundcheck.studies import smooth_one_step as S
    cfg = S.Config(activations=("relu", "tanh"), dims=(16, 25, 36), depths=(2,), width=16, n_inits=2, n_points=3)
    res = S.STUDY.run(cfg, out_dir=tmp_path, progress=False)
    assert set(res.table.activation) == {"relu", "tanh"}
    assert any("montanari2022_common_step" in line for line in res.verdicts)
    assert any("bubeck2021_one_step_smooth" in line for line in res.verdicts)


# ------------------------------------------------------------------------------------ the deep lazy ball

from boundcheck import deep_lazy as DL  # noqa: E402


@given(st.data())
def test_deep_projection_is_exact(data):
    net = data.draw(deep_nets(integer=False))
    rng = np.random.default_rng(data.draw(seeds()))
    radii = [float(r) for r in rng.uniform(0, 1, len(net.widths))]
    Ws = [W + rng.standard_normal(W.shape) * rng.uniform(0, 1) for W in net.weights]
    bs = None if net.biases is None else [b + rng.standard_normal(b.shape) for b in net.biases]
    out = DL.project_deep_lazy(net, Ws, radii, bs)
    pW, pb = (out, None) if bs is None else out
    dev = DL.deep_lazy_distance(net, pW, pb)
    assert (dev <= np.array(radii)[None]).all()  # no rounding allowance: the projection guarantees it
    # rows inside stay, rows outside go radially to the sphere: the nearest point of a product of balls
    for l, (W, P, W0) in enumerate(zip(Ws, pW, net.weights)):
        rowW = W - W0 if bs is None else np.concatenate([W - W0, (bs[l] - net.biases[l])[..., None]], -1)
        rowP = P - W0 if bs is None else np.concatenate([P - W0, (pb[l] - net.biases[l])[..., None]], -1)
        nrm = np.linalg.norm(rowW, axis=-1, keepdims=True)
        want = np.where(nrm > radii[l], rowW * radii[l] / np.where(nrm > 0, nrm, 1), rowW)
        np.testing.assert_allclose(rowP, want, rtol=1e-12, atol=1e-14)
    # idempotent
    again = DL.project_deep_lazy(net, pW, radii, pb)
    np.testing.assert_allclose((again if bs is None else again[0])[0], pW[0], rtol=0, atol=1e-15)


@given(st.data())
def test_last_layer_range_equals_two_layer_f_range(data):
    net = data.draw(networks(integer=False))
    X = data.draw(inputs_for(net, on_sphere=False, integer=False))
    R = data.draw(st.floats(0.0, 1.0))
    fr = bc.f_range(net, X, R)
    lo, hi = DL.deep_f_range_last_layer(D.from_network(net), X, R)
    assert lo.kind == hi.kind == "exact"
    np.testing.assert_allclose(lo.value, fr.lower.value, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hi.value, fr.upper.value, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("act", ACTS)
def test_deep_worst_cases_are_ordered_and_attained(act):
    net = D.init_deep_network(5, [8, 7, 6], 2, parametrization="bubeck", activation=act, bias=True, rng=3)
    X = bc.sample_sphere(3, 5, radius=np.sqrt(5), rng=2)
    R = DL.deep_lazy_radii(net, 2.0)
    lo, hi = DL.deep_f_range_last_layer(net, X, R[-1])
    clo, chi = DL.deep_f_range_certified(net, X, R)
    hlo, hhi = DL.deep_f_range_heuristic(net, X, R, steps=10)
    f0 = D.deep_forward(net, X)
    tol = 1e-12
    assert (clo.value <= lo.value + tol).all() and (hi.value <= chi.value + tol).all()
    assert (clo.value <= hlo.value + tol).all() and (hhi.value <= chi.value + tol).all()
    assert (hlo.value <= f0 + tol).all() and (f0 <= hhi.value + tol).all()
    assert (lo.value <= f0 + tol).all() and (f0 <= hi.value + tol).all()
    # witnesses are in the ball and attain their values; random members of the last layer's ball never beat
    # the exact range
    for wc, sense in ((hi, 1), (lo, -1), (hhi, 1), (hlo, -1)):
        for i in range(len(X)):
            W, b = wc.witness(i)
            assert (DL.deep_lazy_distance(net, W, b) <= np.array(R)[None]).all()
            np.testing.assert_allclose(D.deep_forward(net, X[i:i + 1], W, b)[:, 0], wc.value[:, i], rtol=1e-10, atol=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(20):
        Wl = net.weights[-1] + rng.standard_normal(net.weights[-1].shape)
        bl = net.biases[-1] + rng.standard_normal(net.biases[-1].shape)
        pW, pb = DL.project_deep_lazy(net, [*net.weights[:-1], Wl], R, [*net.biases[:-1], bl])
        f = D.deep_forward(net, X, [*net.weights[:-1], pW[-1]], [*net.biases[:-1], pb[-1]])
        assert (f <= hi.value + tol).all() and (f >= lo.value - tol).all()


def test_deep_loss_gradient_finite_differences():
    net = D.init_deep_network(4, [6, 5], 1, parametrization="ntk", activation="tanh", bias=True, rng=5)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((7, 4))
    y = np.where(rng.random(7) < 0.5, -1.0, 1.0)
    loss, gW, gb, _ = DL.deep_loss_and_gradient(net, X, y)
    h = 1e-6
    for l in range(2):
        for (j, s) in [(0, 0), (2, 1), (4, 3)]:
            Wp = [W.copy() for W in net.weights]
            Wm = [W.copy() for W in net.weights]
            Wp[l][0, j, s] += h
            Wm[l][0, j, s] -= h
            fd = (DL.deep_loss_and_gradient(net, X, y, Wp)[0] - DL.deep_loss_and_gradient(net, X, y, Wm)[0]) / (2 * h)
            assert gW[l][j, s] == pytest.approx(fd, rel=1e-6, abs=1e-9)
        bp = [b.copy() for b in net.biases]
        bm = [b.copy() for b in net.biases]
        bp[l][0, 1] += h
        bm[l][0, 1] -= h
        fd = (DL.deep_loss_and_gradient(net, X, y, None, bp)[0] - DL.deep_loss_and_gradient(net, X, y, None, bm)[0]) / (2 * h)
        assert gb[l][1] == pytest.approx(fd, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("mode", ["stop", "project"])
def test_deep_lazy_sgd_matches_two_layer_trainer(mode):
    net = bc.init_network(6, 30, parametrization="paper_code", rng=2)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((120, 6))
    y = np.where(X[:, 0] + 0.3 * X[:, 1] > 0, 1.0, -1.0)
    a = bc.train_lazy_sgd(net, X, y, C0=3.0, epochs=6, batch_size=16, mode=mode, rng=4)
    b = DL.train_deep_lazy_sgd(D.from_network(net), X, y, radii=bc.lazy_radius(3.0, 30), epochs=6, batch_size=16,
                               mode=mode, rng=4)
    assert a.steps == b.steps and a.stopped_reason == b.stopped_reason
    np.testing.assert_allclose(b.weights[0], a.W, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.biases[0], a.b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mode", ["stop", "project"])
def test_deep_lazy_sgd_stays_in_the_ball(mode):
    net = D.init_deep_network(5, [12, 10], 1, parametrization="bubeck", activation="relu", rng=6)
    rng = np.random.default_rng(7)
    X = np.sqrt(5) * bc.sample_sphere(200, 5, rng=8)
    y = np.where(X[:, 0] > 0, 1.0, -1.0)
    R = DL.deep_lazy_radii(net, 1.0)
    seen = []

    def watch(step, Ws, bs):
        seen.append(DL.deep_lazy_distance(net, [W[None] for W in Ws])[0])

    res = DL.train_deep_lazy_sgd(net, X, y, radii=R, lr=0.5, epochs=30, mode=mode, rng=rng, on_step=watch)
    assert seen and (np.array(seen) <= np.array(R) * (1 + 1e-12)).all()
    if mode == "stop":
        assert res.stopped_reason == "left_ball"
    assert res.history.loss.iloc[-1] < res.history.loss.iloc[0]


def test_deep_lazy_mnist_study_tiny(tmp_path):
    from boundcheck.studies import deep_lazy_mnist as S
    try:
        S.load(3)
    except bc.MNISTNotFoundError:
        pytest.skip("MNIST is not available offline")
    cfg = S.Config(sizes=(3, 4, 5), depths=(3,), C0s=(5.0,), width=8, n_train=200, n_test=10, epochs=1)
    res = S.STUDY.run(cfg, out_dir=tmp_path, progress=False)
    assert len(res.table) == 3 and (res.table.dev_over_R <= 1 + 1e-12).all()
    assert set(res.table.stopped) <= {"left_ball", "epochs"}


def test_results_do_not_depend_on_the_thread_count():
    import numba
    net = D.init_deep_network(12, [20, 16, 12], 3, parametrization="bubeck", activation="relu", bias=True, rng=21)
    snet = D.init_deep_network(12, [20, 16], 2, parametrization="ntk", activation="gelu", rng=22)
    X = bc.sample_sphere(9, 12, radius=np.sqrt(12), rng=23)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = [D.deep_min_flip_step(net, X), D.deep_min_flip_step(snet, X)]
        numba.set_num_threads(max(2, before))
        two = [D.deep_min_flip_step(net, X), D.deep_min_flip_step(snet, X)]
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, two):
        for name in ("eta", "delta", "f", "grad_norm", "direction"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
