"""Speed and memory of the deep-network kernels (:mod:`boundcheck.deep`), as ratios measured in one run.

* forward + input gradient (:func:`boundcheck.deep.deep_pass`) against its roofline, the bare BLAS products
  it needs (``X W1^T``, ``H_{l-1} W_l^T`` forward, ``D_l W_l`` backward);
* the exact one-step flip of a deep ReLU network (:func:`boundcheck.deep.deep_min_flip_step`: the pass, then
  the ray walk over every layer's breakpoints, which costs about two matrix-vector products per layer and
  piece) against the same products, with the mean number of pieces walked;
* the smooth (tanh) flip search (grid + bracketed root, forward passes only) against the same products;
* PyTorch autograd on forward + input gradient, when PyTorch is installed (never a dependency);
* the peak memory of the pass (tracemalloc, numpy's allocations) next to the documented bound
  ``3 batch K sum_l m_l`` floats.

Run: ``python benchmarks/bench_deep.py`` (``--repeats N``, ``--quick`` for small shapes). Results depend on
the machine: the ratios, not the times, are the point.

Measured 2026-12-02, x86_64, 2 vCPUs shared with other jobs (load about 10, so times are noisy), numpy 2.4.6
(OpenBLAS), numba 0.68.1, one thread, best of 3 (ReLU nets, parametrization "bubeck", points on the sphere of
radius sqrt(d); "flip" is the exact walk with the rank-k update of the layer above the switching one):

==================================  =======  =======  ======  =======  ======  ======  =======  ======  ==========
case                                BLAS ms  pass ms  pass/B  flip ms  flip/B  pieces  tanh ms  tanh/B  pass/torch
==================================  =======  =======  ======  =======  ======  ======  =======  ======  ==========
n=128, d=784, 3x[512], K=1          18.6     19.3     1.04    731      39      29.5    1274     69      1.27
n=128, d=784, 5x[256], K=1          5.5      9.3      1.70    322      59      24.3    736      134     1.39
n=64, d=100, 3x[256], K=8           11.4     17.2     1.50    489      43      35.3    1287     113     1.64
n=64, d=100, [256,32,256], K=8      2.0      2.5      1.23    162      80      49.6     621     305     0.59
==================================  =======  =======  ======  =======  ======  ======  =======  ======  ==========

The pass (forward + input gradient) runs within 1.0-1.7x of its GEMMs, and within 0.6-1.6x of PyTorch
autograd on the same work (an earlier run on the same machine gave 0.4-1.0x: the machine was shared). Peak
memory of the pass stayed under the documented bound in every case. The exact walk costs, per piece, a
rank-k update of the layer above the switching one and a forward of the layers above that (compiled loops,
not BLAS): with 25-50 pieces per point it is 40-80x the pass's GEMMs. The smooth search is a grid of
forward passes plus about 40 refinement passes.
"""

from __future__ import annotations

import argparse
import platform
import time
import tracemalloc

import numpy as np

from boundcheck import deep as D


def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bare_products(net, X):
    """The forward and backward GEMMs of the pass, nothing else."""
    Ws = net.weights
    K, m1, d = Ws[0].shape
    H = (X @ Ws[0].reshape(K * m1, d).T).reshape(len(X), K, m1).transpose(1, 0, 2).copy()
    Hs = [H]
    for W in Ws[1:]:
        Hs.append(np.matmul(Hs[-1], W.transpose(0, 2, 1)))
    G = Hs[-1]
    for W in Ws[:0:-1]:
        G = np.matmul(G, W)
    return np.matmul(G, Ws[0])


def case(name, d, widths, K, n, repeats, act_smooth="tanh"):
    net = D.init_deep_network(d, widths, K, parametrization="bubeck", activation="relu", rng=0)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, d))
    X *= np.sqrt(d) / np.linalg.norm(X, axis=1, keepdims=True)
    D.deep_pass(net, X[:2])
    D.deep_min_flip_step(net, X[:2])
    t_blas = best_time(lambda: bare_products(net, X), repeats)
    t_pass = best_time(lambda: D.deep_pass(net, X), repeats)
    res = D.deep_min_flip_step(net, X)
    t_flip = best_time(lambda: D.deep_min_flip_step(net, X), max(1, repeats // 2))
    snet = D.init_deep_network(d, widths, K, parametrization="bubeck", activation=act_smooth, rng=0)
    D.deep_min_flip_step(snet, X)  # warm-up: compiles the kernels for these shapes
    t_smooth = best_time(lambda: D.deep_min_flip_step(snet, X), max(1, repeats // 2))
    tracemalloc.start()
    D.deep_pass(net, X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    bound = 3 * n * K * sum(widths) * 8 + K * n * d * 8   # work arrays + the gradient output
    line = (f"{name:<34} {t_blas * 1e3:9.1f} {t_pass * 1e3:9.1f} {t_pass / t_blas:7.2f} {t_flip * 1e3:10.1f} "
            f"{t_flip / t_blas:8.1f} {np.mean(res.pieces):7.1f} {t_smooth * 1e3:10.1f} {t_smooth / t_blas:8.1f} "
            f"{peak / 2**20:8.1f} {bound / 2**20:8.1f}")
    print(line, flush=True)
    torch_line(net, X, repeats, t_pass)


def torch_line(net, X, repeats, t_pass):
    try:
        import torch
    except ImportError:
        print("    (PyTorch not installed: no torch comparison)")
        return
    torch.set_num_threads(1)
    Ws = [torch.tensor(W) for W in net.weights]
    a = torch.tensor(net.a)

    def run():
        x = torch.tensor(X, requires_grad=True)
        h = x.unsqueeze(0).expand(len(Ws[0]), -1, -1)
        for W in Ws:
            h = torch.relu(h @ W.transpose(1, 2))
        f = (h * a[:, None, :]).sum(-1) * net.output_scale
        f.sum().backward()
        return x.grad

    run()
    t = best_time(run, repeats)
    print(f"    torch autograd f + grad: {t * 1e3:.1f} ms; deep_pass / torch = {t_pass / t:.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small shapes (seconds)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and Numba threads (default 1)")
    args = parser.parse_args(argv)
    import numba
    from threadpoolctl import threadpool_limits
    threadpool_limits(args.threads)
    numba.set_num_threads(args.threads)
    print(f"{platform.machine()}, numpy {np.__version__}; best of {args.repeats}; {args.threads} thread(s)")
    print(f"{'case':<34} {'BLAS ms':>9} {'pass ms':>9} {'pass/B':>7} {'flip ms':>10} {'flip/B':>8} {'pieces':>7} "
          f"{'tanh ms':>10} {'tanh/B':>8} {'peak MiB':>8} {'bnd MiB':>8}")
    if args.quick:
        case("n=64, d=100, 3x[128], K=2", 100, [128] * 3, 2, 64, args.repeats)
        case("n=64, d=100, [128,16,128], K=2", 100, [128, 16, 128], 2, 64, args.repeats)
        return 0
    case("n=128, d=784, 3x[512], K=1", 784, [512] * 3, 1, 128, args.repeats)
    case("n=128, d=784, 5x[256], K=1", 784, [256] * 5, 1, 128, args.repeats)
    case("n=64, d=100, 3x[256], K=8", 100, [256] * 3, 8, 64, args.repeats)
    case("n=64, d=100, [256,32,256], K=8", 100, [256, 32, 256], 8, 64, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
