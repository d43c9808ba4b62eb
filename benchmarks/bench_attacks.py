"""Exact minimal-flip search against the authors' grid search, measured in one run.

Setting: the MNIST 0-vs-1 test-set size (n = 2115 points), d = 784, m = 1000, theory parametrization at
W0, one init, synthetic inputs uniform on the unit sphere. Three timings:

1. ``min_flip_step(method="exact")``: three BLAS products and a breakpoint scan per point.
2. ``min_flip_step(method="grid")``: the authors' procedure (steps of 0.001 in perturbation norm, at most
   5000), evaluating f by a forward pass at every grid point, vectorized over the points still searching,
   with early exit.
3. The authors' loop as written (spec section 6.3): one point at a time, one forward pass per grid step
   (their ``while`` loop calls the network three times per step; this counts one), in numpy. It is run on
   a subset of points and reported per point, then scaled to n.

Usage: ``python benchmarks/bench_attacks.py [--threads T] [--loop-points P]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def authors_loop(net, X, h=1e-3, max_steps=5000):
    """The authors' per-point loop (numpy, one forward pass per step); returns delta* per point."""
    import boundcheck as bc
    W, a = net.W0[0], net.a[0] / np.sqrt(net.width)
    g = bc.input_gradient(net, X)[0]
    f0 = bc.forward(net, X)[0]
    out = np.empty(len(X))
    for i, x in enumerate(X):
        u = g[i] / np.linalg.norm(g[i])
        sgn = -1.0 if f0[i] >= 0 else 1.0
        s0 = f0[i] >= 0
        adv = x.copy()
        count = 0
        while count < max_steps:
            if (a @ np.maximum(W @ adv, 0.0) >= 0) != s0:
                break
            adv = adv + sgn * h * u
            count += 1
        out[i] = count * h
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="BLAS and Numba threads (default 1)")
    parser.add_argument("--loop-points", type=int, default=100,
                        help="points timed with the authors' per-point loop (default 100)")
    parser.add_argument("--n", type=int, default=2115)
    args = parser.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    from threadpoolctl import threadpool_limits
    import numba

    import boundcheck as bc
    from boundcheck.attacks import min_flip_step

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    d, m, n = 784, 1000, args.n
    with threadpool_limits(args.threads):
        net = bc.init_network(d, m, parametrization="theory", rng=0)
        X = bc.sample_sphere(n, d, rng=1)
        min_flip_step(net, X[:3])                      # compile / warm up
        min_flip_step(net, X[:3], method="grid")

        t0 = time.perf_counter()
        exact = min_flip_step(net, X)
        t_exact = time.perf_counter() - t0

        t0 = time.perf_counter()
        grid = min_flip_step(net, X, method="grid")
        t_grid = time.perf_counter() - t0

        p = min(args.loop_points, n)
        t0 = time.perf_counter()
        loop = authors_loop(net, X[:p])
        t_loop = (time.perf_counter() - t0) / p * n

    diff = grid.delta - exact.delta
    steps = grid.delta / 1e-3
    print(f"boundcheck attacks benchmark ({platform.processor() or platform.machine()}, "
          f"{args.threads} thread(s)); n={n}, d={d}, m={m}, theory parametrization, one init")
    print(f"  grid steps per point: mean {steps.mean():.1f}, max {steps.max():.0f}; "
          f"flipped exact {exact.flipped.mean():.3f}, grid {grid.flipped.mean():.3f}")
    print(f"  grid - exact delta in [{diff.min():.2e}, {diff.max():.2e}] (one grid step = 1e-3); "
          f"authors' loop agrees with the grid mode on {np.mean(np.abs(loop - grid.delta[0, :p]) < 1e-9):.3f} "
          f"of {p} points")
    print(f"  exact search        : {t_exact:8.3f} s  ({t_exact / n * 1e6:8.1f} us/point)")
    print(f"  grid mode (vector.) : {t_grid:8.3f} s  ({t_grid / n * 1e6:8.1f} us/point)   "
          f"ratio {t_grid / t_exact:7.1f}x")
    print(f"  authors' loop       : {t_loop:8.3f} s  ({t_loop / n * 1e6:8.1f} us/point)   "
          f"ratio {t_loop / t_exact:7.1f}x   (timed on {p} points, scaled to {n})")


if __name__ == "__main__":
    main()
