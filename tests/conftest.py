import os

import numpy as np
import pytest

from boundcheck.testing import register_profiles

register_profiles()
if os.environ.get("CI"):
    from hypothesis import settings
    settings.load_profile("boundcheck-ci")


@pytest.fixture(scope="session", autouse=True)
def warm_kernels():
    """Compile the kernels once, before Hypothesis starts timing examples."""
    import boundcheck as bc
    net = bc.init_network(3, 4, n_inits=2, parametrization="paper_code", rng=0)
    X = np.ones((2, 3))
    bc.network_pass(net, X, net.W0 + 0.1, net.b0, radius=0.5)
    bc.gradient_difference(net, X, X + 0.1)
    bc.gradient_difference(net, X, X + 0.1, W_prime=net.W0 + 0.1)
    bc.sign_flips(net, X, net.W0 + 0.1)
    bc.project_lazy(net.W0 + 1, net.W0, 0.5)
    bc.min_flip_step(net, X)
    bc.pgd(net, X, np.ones(2), 0.1, steps=2)
    yield
