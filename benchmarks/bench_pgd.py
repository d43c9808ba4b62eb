"""Speed of PGD-l2 and of projected adversarial training against their rooflines and torchattacks, in one run.

* **PGD**: :func:`boundcheck.attacks.pgd` (l2, 100 steps, box [0, 1], start at 0) on MNIST 0-vs-1 test
  points at d = 100 (10 x 10 images on the unit sphere), a ``paper_code`` network of width m = 1000 lazily
  trained for one epoch, against its roofline (per step the two BLAS products of the same shapes,
  ``X_adv W^T`` and ``coef W``, into preallocated arrays, nothing else), the plain-numpy loop it replaced
  (``attacks._pgd_reference``), and torchattacks ``PGDL2`` on the same model (when installed; never a
  dependency), with the robust error each finds.
* **Adversarial training**: one epoch of :func:`boundcheck.train_adversarial` (PGD on every training point,
  then SGD with a projection after every step) against its roofline: the PGD products above for the
  training set plus the two products of every SGD step.

Goals (issue 12): a PGD step within 1.2x of its two GEMMs; an adversarial-training epoch within 1.3x of its
PGD and SGD GEMMs. One BLAS / torch thread; CPU times of this process (``time.process_time``, robust to
other processes' load), the best of ``--repeats``, interleaved. Float64 (the precision of
:mod:`boundcheck.attacks`).

Run: ``python benchmarks/bench_pgd.py [--repeats N] [--points N] [--steps N]``. Needs MNIST (offline copy);
without it, random points on the sphere are used.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from scipy.linalg import blas
from threadpoolctl import threadpool_limits

import boundcheck as bc
from boundcheck import attacks


def best(fn, repeats):
    """The least CPU time of this process (one thread) over the repeats (robust to other processes' load)."""
    out = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        out.append(time.process_time() - t)
    return min(out)


def load(points, size=10):
    try:
        pair = bc.load_mnist_pair((0, 1), size=size, normalize="sphere")
        src = "MNIST 0/1"
        Xtr, ytr = pair.X_train[:2000].astype(np.float64), pair.y_train[:2000].astype(np.float64)
        Xte, yte = pair.X_test[:points].astype(np.float64), pair.y_test[:points].astype(np.float64)
    except Exception:  # no MNIST here: points on the sphere with a planted label
        src = "random sphere (MNIST not installed)"
        d = size * size
        X = np.abs(bc.sample_sphere(2000 + points, d, rng=0))
        y = np.where(X[:, 0] > np.median(X[:, 0]), 1.0, -1.0)
        Xtr, ytr, Xte, yte = X[:2000], y[:2000], X[2000:], y[2000:]
    return Xtr, ytr, Xte, yte, src


def bare_pgd(X, W, steps):
    n, d = X.shape
    pre = np.empty((n, W.shape[0]))
    g = np.empty((n, d))
    for _ in range(steps):
        np.matmul(X, W.T, out=pre)
        np.matmul(pre, W, out=g)
    return g


def bare_sgd_epoch(X, W, batch):
    W = W.copy()
    G = np.full((batch, W.shape[0]), 1e-9)
    for lo in range(0, len(X), batch):
        Xb = X[lo:lo + batch]
        Xb @ W.T
        blas.dgemm(-1e-3, Xb.T, G[:len(Xb)].T, beta=1.0, c=W.T, trans_b=True, overwrite_c=True)


def torchattacks_pgd(net, W, b, X, y, eps, steps):
    import torch
    import torchattacks

    class Binary(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.W = torch.nn.Parameter(torch.tensor(W, dtype=torch.float64), requires_grad=False)
            self.b = torch.tensor(b, dtype=torch.float64)
            self.a = torch.tensor(net.a[0] / np.sqrt(net.width), dtype=torch.float64)
            self.c = float(net.output_bias[0])

        def forward(self, x):
            f = torch.relu(x.reshape(len(x), -1) @ self.W.T + self.b) @ self.a + self.c
            return torch.stack([torch.zeros_like(f), f], dim=1)  # CE with label (y+1)/2 = log(1 + exp(-y f))

    model = Binary().eval()
    atk = torchattacks.PGDL2(model, eps=eps, alpha=2.5 * eps / steps, steps=steps, random_start=False)
    atk.set_model_training_mode(model_training=False)
    side = int(round(np.sqrt(X.shape[1])))
    Xt = torch.tensor(X, dtype=torch.float64).reshape(len(X), 1, side, side)  # torchattacks wants images
    yt = torch.tensor((y > 0).astype(np.int64))

    def run():
        return atk(Xt, yt)

    return run, model, yt


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--points", type=int, default=600)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--eps", type=float, default=0.1)
    args = parser.parse_args()
    try:
        import torch
        torch.set_num_threads(1)
        import torchattacks  # noqa: F401
        have_torch, peer = True, f"torch {torch.__version__}, torchattacks {torchattacks.__version__}"
    except ImportError:
        have_torch, peer = False, "torchattacks not installed (skipped)"
    Xtr, ytr, X, y, src = load(args.points)
    n, d = X.shape
    m, steps, eps = args.width, args.steps, args.eps
    print(f"boundcheck {bc.__version__}; {platform.processor() or platform.machine()}; {os.cpu_count()} CPUs; "
          f"numpy {np.__version__}; {peer}; 1 thread; {src}, n={n}, d={d}, m={m}, {steps} steps, eps={eps}")
    with threadpool_limits(1):
        net = bc.init_network(d, m, parametrization="paper_code", rng=1)
        res = bc.train_lazy_sgd(net, Xtr, ytr, C0=10.0, lr=0.1, epochs=1, rng=2, eval_train=False)
        W, b = res.stacked()
        kw = dict(norm="l2", steps=steps, box=(0.0, 1.0), W=W, b=b)
        attacks.pgd(net, X[:4], y[:4], eps, **dict(kw, steps=2))  # compile
        run = None
        if have_torch:
            run, model, yt = torchattacks_pgd(net, W[0], b[0], X, y, eps, steps)
            run()
        # interleaved repeats, the best of each (the load of a shared machine drifts)
        t_pgd, t_bare, t_ref, t_ta = [], [], [], []
        for r in range(args.repeats):
            t_bare.append(best(lambda: bare_pgd(X, W[0], steps), 1))
            t_pgd.append(best(lambda: attacks.pgd(net, X, y, eps, **kw), 1))
            if r == 0:
                t_ref.append(best(lambda: attacks._pgd_reference(net, X, y, eps, **kw), 1))
            if have_torch:
                t_ta.append(best(run, 1))
        t_pgd, t_bare, t_ref = min(t_pgd), min(t_bare), min(t_ref)
        err = bc.robust_error(net, X, y, eps, **kw)[0, 0]
        line = (f"PGD-l2          | GEMMs {t_bare:6.2f} s | boundcheck {t_pgd / t_bare:5.2f}x (goal <= 1.2)"
                f" | numpy loop {t_ref / t_bare:5.2f}x | robust error {err:.4f}")
        if have_torch:
            t_ta = min(t_ta)
            X_adv = run()
            with torch.no_grad():
                f_adv = model(X_adv)[:, 1].numpy()
            f_clean = bc.forward(net, X, W, b)[0]
            err_ta = float(np.mean((y * f_adv <= 0) | (y * f_clean <= 0)))
            line += (f" | torchattacks PGDL2 {t_ta / t_bare:5.2f}x (boundcheck {t_ta / t_pgd:4.2f}x faster),"
                     f" robust error {err_ta:.4f}")
        print(line, flush=True)

        # adversarial training: one epoch on the training images (PGD with the same steps, SGD batch 32)
        n_adv = min(len(Xtr), 1000)
        Xa, ya = Xtr[:n_adv], ytr[:n_adv]
        adv = dict(radius=10.0 / np.sqrt(m), eps=eps, pgd_steps=steps, lr=0.01, batch_size=32, epochs=1, rng=0)
        bc.train_adversarial(net, Xa[:64], ya[:64], **dict(adv, pgd_steps=2))
        t_adv, t_roof = [], []
        for _ in range(args.repeats):
            t_roof.append(best(lambda: (bare_pgd(Xa, W[0], steps), bare_sgd_epoch(Xa, W[0], 32)), 1))
            t_adv.append(best(lambda: bc.train_adversarial(net, Xa, ya, **adv), 1)
                         - best(lambda: bc.train_adversarial(net, Xa, ya, **dict(adv, epochs=0)), 1))
        t_adv, t_roof = min(t_adv), min(t_roof)
        print(f"adv. training   | GEMMs {t_roof:6.2f} s (PGD + SGD, {n_adv} points) | boundcheck epoch "
              f"{t_adv / t_roof:5.2f}x (goal <= 1.3)", flush=True)


if __name__ == "__main__":
    main()
