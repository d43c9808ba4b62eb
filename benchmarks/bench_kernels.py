"""Speed of the full kernel pass, as ratios measured in one run.

The full pass (:func:`boundcheck.network_pass`: forward, input gradient, activation and flip counts,
exact f range and max flips over the lazy ball) is timed against

* its roofline: the bare BLAS products the pass needs (``X @ W.T``, ``X @ W0.T``, ``coef @ W``);
* plain vectorized numpy, what a user would write: the products, masks as temporaries, a Python loop
  over inits.

Goals (issue 2): the full pass within 1.5x of the bare products in both cases, and at least 2x faster
than the numpy version in the many-inits case.

Run: ``python benchmarks/bench_kernels.py`` (``--repeats N``).

Measured 2026-11-22, x86_64, 2 vCPUs, OpenBLAS (numpy 2.4.6), numba 0.68.1, best of 5, quiet machine:

====================================  =========  =========  =======  =========  ==========
case                                  full pass  bare BLAS  numpy    full/BLAS  numpy/full
====================================  =========  =========  =======  =========  ==========
n=1024, m=4096, d=784, K=1            288 ms     265 ms     321 ms   1.09       1.11
n=256, m=512, d=100, K=64             131 ms     111 ms     153 ms   1.18       1.17
====================================  =========  =========  =======  =========  ==========

The first goal is met. The second (2x faster than numpy with many inits) is not, and cannot be on this
machine: the numpy version itself runs within 1.4x of the bare products, so a 2x gain would need the
pass to beat its own roofline. The element-wise kernel is branch-free (a neuron's activity is a coin
flip, which a branch mispredicts half the time); with branches the many-inits pass took 2x the BLAS time.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import boundcheck as bc


def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bare_products(net, X, W):
    K, m, d = W.shape
    pre = X @ W.reshape(K * m, d).T
    pre0 = X @ net.W0.reshape(K * m, d).T
    coef = np.ascontiguousarray(pre.reshape(len(X), K, m).transpose(1, 0, 2))
    return np.matmul(coef, W), pre0


def numpy_version(net, X, W, R):
    K, m, d = W.shape
    rho = np.linalg.norm(X, axis=1)[:, None]
    out = []
    for k in range(K):
        pre = X @ W[k].T
        pre0 = X @ net.W0[k].T
        active = pre > 0
        f = (np.maximum(pre, 0) @ net.a[k]) / np.sqrt(m)
        grad = ((active * net.a[k]) / np.sqrt(m)) @ W[k]
        counts = active.sum(1)
        flips = (active != (pre0 > 0)).sum(1)
        sgn = np.sign(net.a[k])
        up = np.maximum(pre0 + sgn * R * rho, 0) @ net.a[k] / np.sqrt(m)
        lo = np.maximum(pre0 - sgn * R * rho, 0) @ net.a[k] / np.sqrt(m)
        reach = ((pre0 > -R * rho) & (pre0 <= R * rho)).sum(1)
        out.append((f, grad, counts, flips, up, lo, reach))
    return out


def case(n, m, d, K, repeats):
    net = bc.init_network(d, m, n_inits=K, parametrization="theory", rng=0)
    X = bc.sample_sphere(n, d, rng=1)
    R = 1.0 / np.sqrt(m)
    W = bc.project_lazy(net.W0 + np.random.default_rng(2).standard_normal(net.W0.shape), net.W0, R)
    # one whole chunk, so the comparison is kernel for kernel
    full = lambda: bc.network_pass(net, X, W, radius=R, batch=n)  # noqa: E731
    full()  # compile
    t_full = best_time(full, repeats)
    t_blas = best_time(lambda: bare_products(net, X, W), repeats)
    t_numpy = best_time(lambda: numpy_version(net, X, W, R), repeats)
    print(f"n={n:5d} m={m:5d} d={d:4d} K={K:3d} | full pass {t_full * 1e3:8.1f} ms | bare BLAS {t_blas * 1e3:8.1f} ms"
          f" | numpy {t_numpy * 1e3:8.1f} ms | full/BLAS {t_full / t_blas:5.2f} (goal <= 1.5)"
          f" | numpy/full {t_numpy / t_full:5.2f} (goal >= 2 with many inits)")
    return t_full / t_blas, t_numpy / t_full


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"boundcheck {bc.__version__}; {platform.processor() or platform.machine()}; {os.cpu_count()} CPUs; "
          f"numpy {np.__version__}")
    case(1024, 4096, 784, 1, args.repeats)
    case(256, 512, 100, 64, args.repeats)


if __name__ == "__main__":
    main()
