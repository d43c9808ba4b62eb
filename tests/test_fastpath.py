"""The exact-in-distribution fast path at W0 against the full kernels (two-sample tests)."""

import numpy as np
import pytest
from scipy import stats

import boundcheck as bc
from boundcheck.fastpath import sample_at_init

ALPHA = 1e-3  # each two-sample test rejects a true null with probability <= 1e-3
#: Kernel tests run twice, on the compiled kernels and on their Python functions (fixture in conftest.py).
KERNELS = pytest.mark.usefixtures("kernels")


def full_kernel_sample(n, d, m, radius, seed):
    """n independent (init, x) pairs through the full O(m d) kernels."""
    net = bc.init_network(d, m, n_inits=n, parametrization="theory", rng=seed)
    x = bc.sample_sphere(1, d, rng=seed + 1)  # one x: the inits are independent, and the law is rotation invariant
    p = bc.network_pass(net, x, radius=radius)
    grad = p.input_gradient[:, 0]
    P = np.eye(d) - np.outer(x[0], x[0])
    return dict(f=p.forward[:, 0], f_lower=p.f_lower[:, 0], f_upper=p.f_upper[:, 0],
                n_active=p.activation_counts[:, 0], max_sign_flips=p.max_sign_flips[:, 0],
                grad_norm=np.linalg.norm(grad, axis=1), proj_grad_norm=np.linalg.norm(grad @ P, axis=1))


@KERNELS
@pytest.mark.parametrize("d,m,C0", [(12, 40, 1.0), (3, 15, 5.0)])
def test_fast_path_agrees_with_full_kernels(d, m, C0):
    n = 3000
    R = C0 / np.sqrt(m)
    full = full_kernel_sample(n, d, m, R, seed=11)
    fast = sample_at_init(n, d, m, radius=R, rng=12)
    for name in ("f", "f_lower", "f_upper", "grad_norm", "proj_grad_norm"):
        res = stats.ks_2samp(full[name], getattr(fast, name))
        assert res.pvalue > ALPHA, (name, res)
    for name in ("n_active", "max_sign_flips"):
        # counts are discrete: compare their frequency tables with a chi-square test of homogeneity
        a, b = full[name], getattr(fast, name)
        values = np.union1d(a, b)
        table = np.array([[np.sum(a == v) for v in values], [np.sum(b == v) for v in values]])
        table = table[:, table.sum(0) >= 10]  # pool-free: drop sparse cells (both samples alike)
        res = stats.chi2_contingency(table)
        assert res.pvalue > ALPHA, (name, res.pvalue)


def test_fast_path_exact_moments():
    # Var f = 1/2 and E||grad f||^2 = d/2 exactly; E N_+ = m/2; E #flips = m * erf(R/sqrt 2) (|g| < R).
    d, m, n, C0 = 50, 500, 20000, 2.0
    R = C0 / np.sqrt(m)
    s = sample_at_init(n, d, m, radius=R, rng=3)
    z = stats.norm.ppf(1 - ALPHA / 2)
    mu4 = np.mean((s.f - s.f.mean()) ** 4)
    assert abs(s.f.var(ddof=1) - 0.5) < z * np.sqrt((mu4 - 0.25) / n)
    g2 = s.grad_norm ** 2
    assert abs(g2.mean() - d / 2) < z * g2.std(ddof=1) / np.sqrt(n)
    # Binomial(m, 1/2): sd sqrt(m)/2
    assert abs(s.n_active.mean() - m / 2) < z * np.sqrt(m) / 2 / np.sqrt(n)
    from scipy.special import erf
    p = erf(R / np.sqrt(2))
    assert abs(s.max_sign_flips.mean() - m * p) < z * np.sqrt(m * p * (1 - p) / n)
    # E[sup f - f] = C0 / 2 exactly (theory section 5.1); the increment has sd <= R sqrt(m) / sqrt(m) ... use sample sd
    inc = s.f_upper - s.f
    assert abs(inc.mean() - C0 / 2) < z * inc.std(ddof=1) / np.sqrt(n) + 1e-12


def test_fast_path_reaches_huge_width_and_dimension():
    s = sample_at_init(20, 10**5, 10**6, radius=1e-3, rng=0)
    assert np.isfinite(s.grad_norm).all()
    # ||grad f|| / sqrt(d) -> 1/sqrt(2): 20 samples, relative sd of chi2_{d-1}/d ~ sqrt(2/d) ~ 0.0045
    assert abs(np.mean(s.grad_norm / np.sqrt(10**5)) - np.sqrt(0.5)) < 0.01


@KERNELS
def test_fast_path_reproducible_and_validated():
    a = sample_at_init(10, 5, 7, radius=0.1, rng=1)
    b = sample_at_init(10, 5, 7, radius=0.1, rng=1)
    np.testing.assert_array_equal(a.f, b.f)
    with pytest.raises(ValueError, match="m must be >= 1"):
        sample_at_init(10, 5, 0)
    with pytest.raises(ValueError, match="radius must be >= 0"):
        sample_at_init(10, 5, 7, radius=-1.0)
