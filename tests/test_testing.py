"""The Hypothesis strategies of boundcheck.testing do what they promise."""

import numpy as np
from hypothesis import given, strategies as st

import boundcheck as bc
from boundcheck.testing import inputs_for, lazy_weights_for, networks, radii


@given(networks(max_inits=4, max_width=6, max_dim=3))
def test_networks_have_valid_shapes(net):
    K, m, d = net.W0.shape
    assert 1 <= K <= 4 and 1 <= m <= 6 and 1 <= d <= 3
    assert net.a.shape == (K, m)
    assert np.isfinite(net.W0).all()


@given(networks(parametrization="theory"))
def test_parametrization_is_respected(net):
    assert net.b0 is None and net.output_bias is None
    assert net.parametrization in ("theory", "custom")  # integer networks are labelled custom


@given(networks(parametrization="paper_code", integer=False))
def test_paper_code_networks_have_biases(net):
    assert net.has_bias and net.output_bias is not None


@given(st.data())
def test_inputs_on_sphere_have_the_parametrization_radius(data):
    net = data.draw(networks(integer=False))
    X = data.draw(inputs_for(net, on_sphere=True))
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), net.input_radius or 1.0, rtol=1e-12)


@given(st.data())
def test_lazy_weights_inside_on_outside(data):
    net = data.draw(networks())
    R = data.draw(radii().filter(lambda r: r > 0))
    W, b, where = data.draw(lazy_weights_for(net, R))
    dist = bc.lazy_distance(W, net.W0, b=b, b0=net.b0) if net.has_bias else bc.lazy_distance(W, net.W0)
    if where == "inside":
        assert dist.max() <= R * (1 + 1e-12)
    elif where == "on":
        rows = np.sqrt(((W - net.W0) ** 2).sum(-1) + (0 if b is None else (b - net.b0) ** 2))
        # W = W0 + D rounds at the scale of W0, so the distance is exact only to that scale
        np.testing.assert_allclose(rows, R, rtol=1e-12, atol=1e-14 * (1 + np.abs(net.W0).max()))
    else:
        assert dist.max() > R


def test_integer_strategies_produce_exact_ties():
    """Some drawn (integer network, integer input) pairs sit exactly on a kink: w . x + b = 0."""
    found = []

    @given(st.data())
    def probe(data):
        net = data.draw(networks(integer=True))
        X = data.draw(inputs_for(net, on_sphere=False, integer=True))
        if (bc.preactivations(net, X) == 0).any():
            found.append(True)

    probe()
    assert found, "no exact tie was generated"
