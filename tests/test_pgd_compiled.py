"""The compiled PGD loop (boundcheck._attack_kernels.pgd_run) against the plain-numpy loop
(boundcheck.attacks._pgd_reference).

The two do the same arithmetic in the same order: the products are one BLAS call per init on the same
(E * chunk)-row blocks (numpy's matmul in the reference, boundcheck._blas_kernels.gemm in the loop), the sums over a
row use the same lane order (attacks._lane_total), and every element-wise operation is the same IEEE
operation in the working dtype. So they agree **bit for bit**, iterate by iterate, which is what these tests
assert (a BLAS that rounded the same product differently in numpy and in SciPy's cython_blas would make
them fail; on this project's OpenBLAS builds it does not).
"""

import itertools
import math

import numpy as np
import pytest

import boundcheck as bc
from boundcheck import attacks
from boundcheck._attack_kernels import LANES

CASES = list(itertools.product([np.float64, np.float32], ["l2", "linf"], [(0.0, 1.0), None], [True, False],
                               ["paper_code", "theory"]))


def _problem(d, m, n, parametrization, K=2, seed=3):
    net = bc.init_network(d, m, n_inits=K, parametrization=parametrization, rng=seed)
    X = np.random.default_rng(seed + 1).random((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.where(np.random.default_rng(seed + 2).random(n) < 0.5, 1.0, -1.0)
    return net, X, y


@pytest.mark.parametrize("dtype, norm, box, random_start, parametrization", CASES)
def test_compiled_loop_is_bitwise_the_reference(dtype, norm, box, random_start, parametrization):
    """K = 2 inits, two budgets, chunks of 5 of 17 points (the last one short), m and d not multiples of
    the lane count (the tails of the sums); paper_code has first-layer and output biases, theory none."""
    net, X, y = _problem(12, 70, 17, parametrization)
    kw = dict(norm=norm, steps=12, random_start=random_start, box=box, rng=6, batch=5, dtype=dtype)
    eps = [0.05, 0.3]
    fast = attacks.pgd(net, X, y, eps, **kw)
    ref = attacks._pgd_reference(net, X, y, eps, **kw)
    assert fast.delta.dtype == ref.delta.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(fast.delta, ref.delta)
    np.testing.assert_array_equal(fast.f_adv, ref.f_adv)
    np.testing.assert_array_equal(fast.success, ref.success)
    # the attack moved (the comparison is not between two copies of the start)
    start = attacks.pgd(net, X, y, eps, **dict(kw, steps=0))
    assert (fast.loss > start.loss).any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("steps", [0, 1, 3])
def test_compiled_loop_few_steps_and_exact_lane_multiples(dtype, steps):
    """No step (the start is the answer), one step (no gradient after it), and m, d multiples of LANES."""
    net, X, y = _problem(2 * LANES, 3 * LANES, 9, "paper_code", K=1, seed=8)
    kw = dict(norm="l2", steps=steps, random_start=True, box=(0.0, 1.0), rng=1, dtype=dtype)
    fast = attacks.pgd(net, X, y, [0.0, 0.2, 1.0], **kw)
    ref = attacks._pgd_reference(net, X, y, [0.0, 0.2, 1.0], **kw)
    np.testing.assert_array_equal(fast.delta, ref.delta)
    np.testing.assert_array_equal(fast.f_adv, ref.f_adv)
    np.testing.assert_array_equal(fast.delta[0], 0.0)


def test_best_iterate_bookkeeping_is_a_running_minimum():
    """A run of s steps repeats the first s steps of a longer run bit for bit, so the returned margins of
    runs with s = 0..S steps must be non-increasing in s (the best iterate so far). With a step as large as
    the ball, l2 PGD overshoots and oscillates; returning the last iterate instead of the best would break
    this."""
    net, X, y = _problem(10, 50, 8, "paper_code", K=1, seed=11)
    kw = dict(norm="l2", step_size=0.5, box=None, random_start=True, rng=4)
    margins = np.array([y * attacks.pgd(net, X, y, 0.5, steps=s, **kw).f_adv[0, 0] for s in range(9)])
    assert (np.diff(margins, axis=0) <= 0).all()
    assert (margins[-1] < margins[0]).any()


def test_lane_total_is_a_sum_to_its_rounding_bound():
    """_lane_total against math.fsum: each lane is a running sum of ceil(n / LANES) terms followed by
    log2(LANES) additions, so the error is at most gamma_k * sum |v| with k = ceil(n / LANES) + log2(LANES)
    and gamma_k = k u / (1 - k u) (Higham, Accuracy and Stability, eq. 4.4)."""
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        u = np.finfo(dtype).eps / 2
        for n in (1, 31, 32, 33, 100, 1000):
            V = rng.standard_normal((5, n)).astype(dtype)
            got = attacks._lane_total(V)
            assert got.dtype == np.dtype(dtype)
            k = math.ceil(n / LANES) + int(math.log2(LANES))
            gamma = k * u / (1 - k * u)
            for row, s in zip(V, got):
                exact = math.fsum(row.astype(np.float64))
                assert abs(float(s) - exact) <= gamma * float(np.abs(row.astype(np.float64)).sum())


_THREAD_SCRIPT = """
import hashlib, json
import numpy as np
import boundcheck as bc
from threadpoolctl import threadpool_info
net = bc.init_network(784, 1000, parametrization="paper_code", rng=0)
X = np.random.default_rng(1).random((96, 784))
X /= np.linalg.norm(X, axis=1, keepdims=True)
y = np.where(np.arange(96) % 2 == 0, 1.0, -1.0)
out = {}
for dt in ("float64", "float32"):
    res = bc.pgd(net, X, y, [0.05, 0.2], steps=5, box=(0.0, 1.0), dtype=dt)
    out[dt] = hashlib.sha256(res.delta.tobytes() + res.f_adv.tobytes()).hexdigest()
blas = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
print(json.dumps(dict(hashes=out, blas=blas)))
"""


def _run_with_threads(k):
    import json
    import os
    import subprocess
    import sys
    env = dict(os.environ, NUMBA_NUM_THREADS=str(k), OPENBLAS_NUM_THREADS=str(k), OMP_NUM_THREADS=str(k),
               MKL_NUM_THREADS=str(k))
    proc = subprocess.run([sys.executable, "-c", _THREAD_SCRIPT], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_same_numbers_with_one_and_two_threads():
    """PGD's products run on one BLAS thread whatever the process allows, so a process with 2 threads gives
    the bits of a process with 1 (OpenBLAS's 2-thread products round differently at block edges)."""
    one, two = _run_with_threads(1), _run_with_threads(2)
    assert two["blas"] == 2  # the process really allowed two threads outside PGD
    assert one["hashes"] == two["hashes"]
