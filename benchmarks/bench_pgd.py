"""Speed of PGD-l2 and of projected adversarial training against their rooflines and PyTorch, in one run.

* **PGD**: :func:`boundcheck.attacks.pgd` (l2, 100 steps, box [0, 1], start at 0) on MNIST 0-vs-1 test
  points at d = 100 (10 x 10 images on the unit sphere; ``--size 28`` for d = 784), a ``paper_code``
  network of width m = 1000 lazily trained for 10 epochs (2000 random training images), in float64 and
  float32, against its roofline (per step the two BLAS products of the same shapes and dtype,
  ``X_adv W^T`` and ``coef W``, into preallocated arrays, nothing else), the plain-numpy reference loop
  (``attacks._pgd_reference``, float64 only), and, when PyTorch is installed (never a dependency):
  torchattacks ``PGDL2`` on the same model (autograd), and the same algorithm written by hand in PyTorch
  (two ``matmul`` per step, no autograd), each with the robust error it finds.
* **Adversarial training**: one epoch of :func:`boundcheck.train_adversarial` (PGD on every training point,
  then SGD with a projection after every step), in float64 and float32, against its roofline: the PGD
  products above for the training set plus the two products of every SGD step, in the same dtype (its
  default attack runs PGD in the training dtype).

Goals (issue 12): a PGD step within 1.2x of its two GEMMs; an adversarial-training epoch within 1.3x of its
PGD and SGD GEMMs. One BLAS / torch thread; CPU times of this process (``time.process_time``, robust to
other processes' load), the best of ``--repeats``, interleaved (each repeat times every contender once).

Run: ``NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_pgd.py [--repeats N] [--points N]
[--steps N] [--width M] [--eps E] [--dtypes float64 float32]``. Needs MNIST (offline copy); without it,
random points on the sphere are used.
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


def cpu(fn):
    """CPU time of this process for one call (one thread: robust to other processes' load)."""
    t = time.process_time()
    fn()
    return time.process_time() - t


def load(points, size=10):
    try:
        pair = bc.load_mnist_pair((0, 1), size=size, normalize="sphere")
        src = "MNIST 0/1"
        gen = np.random.default_rng(0)  # random subsets: the files list the images by class
        tr, te = gen.permutation(pair.n_train)[:2000], gen.permutation(pair.n_test)[:points]
        Xtr, ytr = pair.X_train[tr].astype(np.float64), pair.y_train[tr].astype(np.float64)
        Xte, yte = pair.X_test[te].astype(np.float64), pair.y_test[te].astype(np.float64)
    except Exception:  # no MNIST here: points on the sphere with a planted label
        src = "random sphere (MNIST not installed)"
        d = size * size
        X = np.abs(bc.sample_sphere(2000 + points, d, rng=0))
        y = np.where(X[:, 0] > np.median(X[:, 0]), 1.0, -1.0)
        Xtr, ytr, Xte, yte = X[:2000], y[:2000], X[2000:], y[2000:]
    return Xtr, ytr, Xte, yte, src


def bare_pgd(X, W, steps):
    """The roofline: the two products of every PGD step into preallocated arrays, nothing else."""
    n, d = X.shape
    pre = np.empty((n, W.shape[0]), W.dtype)
    g = np.empty((n, d), W.dtype)
    for _ in range(steps):
        np.matmul(X, W.T, out=pre)
        np.matmul(pre, W, out=g)
    return g


def bare_sgd_epoch(X, W, batch):
    """The roofline of an SGD epoch: per step ``X_B W^T`` and the in-place rank-B update of W."""
    W = W.copy()
    gemm = blas.dgemm if W.dtype == np.float64 else blas.sgemm
    G = np.full((batch, W.shape[0]), 1e-9, W.dtype)
    pre = np.empty((batch, W.shape[0]), W.dtype)
    for lo in range(0, len(X), batch):
        Xb = X[lo:lo + batch]
        np.matmul(Xb, W.T, out=pre[:len(Xb)])
        gemm(-1e-3, Xb.T, G[:len(Xb)].T, beta=1.0, c=W.T, trans_b=True, overwrite_c=True)


class TorchPeers:
    """The same model in PyTorch: torchattacks PGDL2 (autograd) and PGD-l2 by hand (explicit gradient)."""

    def __init__(self, net, W, b, X, y, eps, steps, dtype):
        import torch
        import torchattacks

        self.torch = torch
        tdt = torch.float64 if dtype == np.float64 else torch.float32
        self.W = torch.tensor(W, dtype=tdt)
        self.b = torch.tensor(b, dtype=tdt)
        self.a = torch.tensor(net.a[0] / np.sqrt(net.width), dtype=tdt)
        self.c = float(net.output_bias[0])
        self.X = torch.tensor(X, dtype=tdt)
        self.y = torch.tensor(y, dtype=tdt)
        self.eps, self.steps, self.alpha = eps, steps, 2.5 * eps / steps
        peers = self

        class Binary(torch.nn.Module):
            def forward(self, x):
                f = torch.relu(x.reshape(len(x), -1) @ peers.W.T + peers.b) @ peers.a + peers.c
                return torch.stack([torch.zeros_like(f), f], dim=1)  # CE with label (y+1)/2 = log(1 + exp(-y f))

        self.model = Binary().eval()
        self.atk = torchattacks.PGDL2(self.model, eps=eps, alpha=self.alpha, steps=steps, random_start=False)
        self.atk.set_model_training_mode(model_training=False)
        side = int(round(np.sqrt(X.shape[1])))
        self.images = self.X.reshape(len(X), 1, side, side)  # torchattacks wants images
        self.labels = torch.tensor((y > 0).astype(np.int64))

    def torchattacks(self):
        return self.atk(self.images, self.labels).reshape(len(self.X), -1)

    def by_hand(self):
        """PGD-l2 as attacks.pgd does it (best iterate, box [0, 1], projection), in PyTorch without autograd:
        two products per step (the pre-activations of an iterate give both its f and its gradient)."""
        torch = self.torch
        with torch.no_grad():
            X, W, y = self.X, self.W, self.y
            D = torch.zeros_like(X)
            pre = X @ W.T + self.b
            best_m = y * (torch.relu(pre) @ self.a + self.c)
            best_D = D.clone()
            step = (-y * self.alpha)[:, None]
            for _ in range(self.steps):
                g = (pre > 0).to(W.dtype) * self.a @ W
                gn = torch.linalg.vector_norm(g, dim=1, keepdim=True)
                D = D + torch.where(gn > 0, step / gn.clamp_min(1e-300), 0.0) * g
                D = (X + D).clamp(0.0, 1.0) - X
                dn = torch.linalg.vector_norm(D, dim=1, keepdim=True)
                D = D * torch.where(dn > self.eps, self.eps / dn.clamp_min(1e-300), 1.0)
                pre = (X + D) @ W.T + self.b
                m = y * (torch.relu(pre) @ self.a + self.c)
                better = m < best_m
                best_m = torch.where(better, m, best_m)
                best_D = torch.where(better[:, None], D, best_D)
            return X + best_D

    def f(self, Z):
        return self.torch.relu(Z @ self.W.T + self.b) @ self.a + self.c

    def robust_error(self, X_adv):
        with self.torch.no_grad():
            f_adv = self.f(X_adv).double().numpy()
            f_clean = self.f(self.X).double().numpy()
        y = self.y.double().numpy()
        return float(np.mean((y * f_adv <= 0) | (y * f_clean <= 0)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--points", type=int, default=600)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--size", type=int, default=10, help="image side (d = size^2)")
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    parser.add_argument("--no-training", action="store_true", help="skip the adversarial-training epoch")
    args = parser.parse_args()
    try:
        import torch
        torch.set_num_threads(1)
        import torchattacks
        have_torch, peer = True, f"torch {torch.__version__}, torchattacks {torchattacks.__version__}"
    except ImportError:
        have_torch, peer = False, "PyTorch / torchattacks not installed (skipped)"
    Xtr, ytr, X, y, src = load(args.points, args.size)
    n, d = X.shape
    m, steps, eps = args.width, args.steps, args.eps
    print(f"boundcheck {bc.__version__}; {platform.processor() or platform.machine()}; {os.cpu_count()} CPUs; "
          f"numpy {np.__version__}; {peer}; 1 thread; {src}, n={n}, d={d}, m={m}, {steps} steps, eps={eps}")
    with threadpool_limits(1):
        net = bc.init_network(d, m, parametrization="paper_code", rng=1)
        res = bc.train_lazy_sgd(net, Xtr, ytr, C0=10.0, lr=0.1, epochs=10, rng=2, eval_train=False)
        W, b = res.stacked()
        for name in args.dtypes:
            dt = np.dtype(name)
            kw = dict(norm="l2", steps=steps, box=(0.0, 1.0), W=W, b=b, dtype=dt)
            attacks.pgd(net, X[:4], y[:4], eps, **dict(kw, steps=2))  # compile
            Xd, Wd = X.astype(dt), W[0].astype(dt)
            runs = {"GEMMs": lambda: bare_pgd(Xd, Wd, steps), "boundcheck": lambda: attacks.pgd(net, X, y, eps, **kw)}
            if dt == np.float64:
                runs["numpy reference"] = lambda: attacks._pgd_reference(net, X, y, eps, **kw)
            if have_torch:
                peers = TorchPeers(net, W[0], b[0], X, y, eps, steps, dt)
                runs["torchattacks PGDL2"] = peers.torchattacks
                runs["PyTorch by hand"] = peers.by_hand
                for fn in (peers.torchattacks, peers.by_hand):
                    fn()
            times = {k: [] for k in runs}
            for r in range(args.repeats):
                for k, fn in runs.items():
                    if k == "numpy reference" and r > 0:
                        continue
                    times[k].append(cpu(fn))
            t = {k: min(v) for k, v in times.items()}
            err = bc.robust_error(net, X, y, eps, **kw)[0, 0]
            print(f"PGD-l2 {name}  | GEMMs {t['GEMMs']:6.3f} s | boundcheck {t['boundcheck'] / t['GEMMs']:5.2f}x "
                  f"(goal <= 1.2), robust error {err:.4f}", flush=True)
            if "numpy reference" in t:
                print(f"               | numpy reference loop {t['numpy reference'] / t['GEMMs']:5.2f}x", flush=True)
            if have_torch:
                for k, fn in (("torchattacks PGDL2", peers.torchattacks), ("PyTorch by hand", peers.by_hand)):
                    print(f"               | {k} {t[k] / t['GEMMs']:5.2f}x (boundcheck {t[k] / t['boundcheck']:4.2f}x "
                          f"faster), robust error {peers.robust_error(fn()):.4f}", flush=True)

        if args.no_training:
            return
        # adversarial training: one epoch on the training images (PGD with the same steps, SGD batch 32)
        n_adv = min(len(Xtr), 1000)
        Xa, ya = Xtr[:n_adv], ytr[:n_adv]
        for name in args.dtypes:
            dt = np.dtype(name)
            adv = dict(radius=10.0 / np.sqrt(m), eps=eps, pgd_steps=steps, lr=0.01, batch_size=32, epochs=1, rng=0,
                       box=(0.0, 1.0), dtype=dt)
            bc.train_adversarial(net, Xa[:64], ya[:64], **dict(adv, pgd_steps=2))
            Xad, Wd = Xa.astype(dt), W[0].astype(dt)
            t_adv, t_zero, t_pgd, t_sgd = [], [], [], []
            for _ in range(args.repeats):
                t_pgd.append(cpu(lambda: bare_pgd(Xad, Wd, steps)))
                t_sgd.append(cpu(lambda: bare_sgd_epoch(Xad, Wd, 32)))
                t_adv.append(cpu(lambda: bc.train_adversarial(net, Xa, ya, **adv)))
                t_zero.append(cpu(lambda: bc.train_adversarial(net, Xa, ya, **dict(adv, epochs=0))))
            roof = min(t_pgd) + min(t_sgd)
            epoch = min(t_adv) - min(t_zero)
            print(f"adv. training {name} | GEMMs {roof:6.3f} s (PGD {min(t_pgd):.3f} + SGD {min(t_sgd):.3f}, "
                  f"{n_adv} points) | boundcheck epoch {epoch / roof:5.2f}x (goal <= 1.3)", flush=True)


if __name__ == "__main__":
    main()
