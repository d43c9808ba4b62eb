import importlib
import os
import pkgutil

import numba
import numpy as np
import pytest

import boundcheck

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


def kernel_modules():
    """The compiled-kernel modules of the package: ``boundcheck/_kernels.py`` and ``boundcheck/_*_kernels.py``."""
    names = sorted(info.name for info in pkgutil.iter_modules(boundcheck.__path__)
                   if info.name == "_kernels" or (info.name.startswith("_") and info.name.endswith("_kernels")))
    return [importlib.import_module(f"boundcheck.{name}") for name in names]


@pytest.fixture(params=["compiled", "python"])
def kernels(request, monkeypatch):
    """Run a test twice: on the compiled kernels, and on their Python functions (Numba's ``py_func``).

    Like POT's backend fixture: the same test checks both, so a kernel whose compiled code drifts from its
    own Python source (or whose Python source is wrong, which the compiled code can hide) is caught. In
    ``"python"`` mode every dispatcher of every kernel module is replaced, for this test only, by its Python
    function; the kernels call each other through module globals, so nested calls run in Python too. The
    public functions call kernels as ``module.kernel``, so they pick up the replacement. Keep the inputs
    small: the Python functions are slow. Returns the mode.
    """
    if request.param == "python":
        swapped = 0
        for module in kernel_modules():
            for name, obj in list(vars(module).items()):
                if isinstance(obj, numba.core.registry.CPUDispatcher):
                    monkeypatch.setattr(module, name, obj.py_func)
                    swapped += 1
        assert swapped, "no compiled kernel found to swap"
    return request.param
