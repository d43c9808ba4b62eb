"""Exact minimal-flip search against the authors' grid search, measured in one run.

Two settings, each on 2115 points (the MNIST 0-vs-1 test set), d = 784, m = 1000, one init:

* ``synthetic``: theory parametrization at W0, inputs uniform on the unit sphere (small margins: about
  30 grid steps per point);
* ``mnist``: the paper's main-text setting, the real MNIST 0-vs-1 test set in raw pixels, a network with
  biases (``paper_code``) lazily trained by SGD inside the ball of C0 = 10 (the margins, and so the number
  of grid steps, are those of a trained network). Skipped when MNIST is not installed.

Three timings per setting:

1. ``min_flip_step(method="exact")``: three BLAS products and a breakpoint scan per point.
2. ``min_flip_step(method="grid")``: the authors' procedure (steps of 0.001 in perturbation norm, at most
   5000), evaluating f by a forward pass at every grid point, vectorized over the points still searching,
   with early exit.
3. The authors' loop as written (theory section 6.3): one point at a time, one forward pass per grid step
   (their ``while`` loop calls the network three times per step; this counts one), in numpy. It is run on
   a subset of points and reported per point, then scaled to n.

Usage: ``python benchmarks/bench_attacks.py [--threads T] [--loop-points P]``.

Measured 2026-11-22, x86_64, 2 vCPUs (1 thread used), numpy 2.4.6 / OpenBLAS, numba 0.68.1:

=========  ===========  ============  =============  ==============  ==============
setting    grid steps   exact         grid mode      authors' loop   goal (>= 100x)
=========  ===========  ============  =============  ==============  ==============
synthetic  24 per point 126 us/point  9.9x slower    17x slower      not met
mnist      364 per pt   119 us/point  118x slower    275x slower     met
=========  ===========  ============  =============  ==============  ==============

The exact search costs about three matrix products per point whatever the margin; a grid costs one
forward pass per step, so the ratio grows with the margin: small at random inits, above 100x on the
trained networks of the paper's Section 5.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def authors_loop(net, X, W=None, b=None, h=1e-3, max_steps=5000):
    """The authors' per-point loop (numpy, one forward pass per step); returns delta* per point."""
    import boundcheck as bc
    W = net.W0 if W is None else W
    b = net.b0 if b is None else b
    Wk, a = W[0], net.a[0] / np.sqrt(net.width)
    bk = 0.0 if b is None else b[0]
    c = 0.0 if net.output_bias is None else net.output_bias[0]
    g = bc.input_gradient(net, X, W, b)[0]
    f0 = bc.forward(net, X, W, b)[0]
    out = np.empty(len(X))
    for i, x in enumerate(X):
        u = g[i] / np.linalg.norm(g[i])
        sgn = -1.0 if f0[i] >= 0 else 1.0
        s0 = f0[i] >= 0
        adv = x.copy()
        count = 0
        while count < max_steps:
            if (a @ np.maximum(Wk @ adv + bk, 0.0) + c >= 0) != s0:
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

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    print(f"boundcheck attacks benchmark ({platform.processor() or platform.machine()}, "
          f"{args.threads} thread(s))")
    with threadpool_limits(args.threads):
        net = bc.init_network(784, 1000, parametrization="theory", rng=0)
        X = bc.sample_sphere(args.n, 784, rng=1)
        compare("synthetic: sphere inputs, theory parametrization at W0", net, X, None, None, args)
        try:
            pair = bc.load_mnist_pair((0, 1), size=28, normalize="none")
        except bc.MNISTNotFoundError as exc:
            print(f"mnist: skipped ({exc.__class__.__name__})")
            return
        net = bc.init_network(784, 1000, parametrization="paper_code", rng=2)
        rng = np.random.default_rng(3)
        idx = rng.choice(len(pair.X_train), 3000, replace=False)
        trained = bc.train_lazy_sgd(net, pair.X_train[idx], pair.y_train[idx], C0=10.0, lr=0.1, epochs=3,
                                    mode="stop", rng=4)
        W, b = trained.stacked()
        compare(f"mnist: 0-vs-1 test set, raw pixels, paper_code net lazily trained (C0=10, "
                f"{trained.epochs_completed} epochs, {trained.stopped_reason})",
                net, pair.X_test[:args.n], W, b, args, y=pair.y_test[:args.n])


def compare(title, net, X, W, b, args, y=None):
    from boundcheck.attacks import min_flip_step

    n = len(X)
    min_flip_step(net, X[:3], W, b)                      # compile / warm up
    min_flip_step(net, X[:3], W, b, method="grid")
    t0 = time.perf_counter()
    exact = min_flip_step(net, X, W, b)
    t_exact = time.perf_counter() - t0
    t0 = time.perf_counter()
    grid = min_flip_step(net, X, W, b, method="grid")
    t_grid = time.perf_counter() - t0
    p = min(args.loop_points, n)
    t0 = time.perf_counter()
    loop = authors_loop(net, X[:p], W, b)
    t_loop = (time.perf_counter() - t0) / p * n

    diff = grid.delta - exact.delta
    steps = grid.delta / 1e-3
    print(f"{title}; n={n}")
    if y is not None:
        print(f"  test accuracy {np.mean(np.sign(exact.f[0]) == y):.4f}")
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
