"""Wall time of ``mnist_lazy_sgd --paper`` on this machine, from a measured slice and a cost model.

The preset (``studies/mnist_lazy_sgd.py``, ``Config.paper()``): settings raw_bias and sphere_nobias, d in
{25, 49, 100, 196, 400, 784}, m in {1000, 5000, 10000}, five seeds, all 12665 training images, lr 0.1,
batch 64, stop mode with checkpoints C0 in {1, 2, 5, 10, 20}, at most 1000 epochs; per C0 the train and test
accuracy and the exact minimal flip on all 2115 test points; plus one Fig 7 cell. 180 + 1 training runs.

Cost model of one cell (setting, d, m, seed)::

    seconds = E(setting, d) * epoch(d, m) + 5 * evaluation(d, m)

* ``E(setting, d, m)``: epochs until the run leaves the ball of the largest C0 (the stop; capped at the
  preset's epochs). Measured at a small width (``--stop-width``, default 250), seed 0, for every d; its
  dependence on m is measured for the two smallest d at m = 250, 1000 and 4000 and fitted as a power law
  ``E ~ m^alpha`` per setting (the stop is the first of m rows to reach a radius that scales like each row's
  gradient, ``1/sqrt(m)``, so wider networks stop sooner); the same alpha is assumed for the larger d.
* ``epoch(d, m)``: one epoch's training at m = 1000 (the best of a few epochs), divided by the bare GEMMs
  of the same epoch timed in the same run: the ratio ``r(d)``, which is robust to load. Projected to a quiet
  machine as ``r(d) * flops(d, m) / rate`` with ``flops = 4 n d m`` per epoch (two products) and ``rate``
  the GEMM rate of one quiet core (``--rate``; default the issue's measurement on this machine: 145 GFLOP/s
  float32, 70 float64); also reported as measured here, scaled linearly in m.
* ``evaluation(d, m)``: the per-checkpoint work (two accuracies, the exact flip search), measured at
  m = 1000 and scaled linearly in m (and by the same load factor for the quiet projection).

The total is divided by the number of worker processes (``--workers``, each with one BLAS thread; the
sweep's cells are independent). Nothing of the long run is executed.

Caveat, measured (2026-12-02): the power law in m does not hold for raw_bias at d = 784. That run does not
leave the C0 = 20 ball within 1000 epochs at m = 250 or at m = 1000 (run in full, seed 0: deviation /
radius 0.974 at the cap), while at m = 5000 it leaves after 556 epochs (run in full). The study's own
cost model (``studies/mnist_lazy_sgd.py``, ``stop_epochs``; printed last here and announced by the run)
anchors the power law at 1000 epochs for m = 1000 (550 at m = 5000, 426 at m = 10000).

Run: ``python benchmarks/estimate_paper_time.py [--dtype float32] [--workers 2] [--check-width]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.linalg import blas
from threadpoolctl import threadpool_limits

import boundcheck as bc
from boundcheck.attacks import min_flip_step
from boundcheck.train import evaluate

SETTINGS = {"raw_bias": ("none", "paper_code"), "sphere_nobias": ("sphere", "theory")}


def paper_config():
    path = Path(__file__).resolve().parents[1] / "studies" / "mnist_lazy_sgd.py"
    spec = importlib.util.spec_from_file_location("mnist_lazy_sgd_preset", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod.Config.paper()


def epochs_to_stop(setting, size, m, C0s, cap, dtype, resize):
    normalize, par = SETTINGS[setting]
    pair = bc.load_mnist_pair((0, 1), size=size, normalize=normalize, resize=resize)
    net = bc.init_network(pair.d, m, parametrization=par, rng=np.random.default_rng([0, 1]))
    res = bc.train_lazy_sgd(net, pair.X_train, pair.y_train, C0=max(C0s), lr=0.1, batch_size=64, epochs=cap,
                            mode="stop", rng=0, dtype=dtype, eval_train=False, checkpoints=C0s)
    return res, pair, net


def bare_epoch(X, W, batch=64):
    """The two GEMMs of every step of one epoch, nothing else (the roofline)."""
    gemm = blas.dgemm if W.dtype == np.float64 else blas.sgemm
    G = np.full((batch, W.shape[0]), 1e-9, dtype=W.dtype)
    for lo in range(0, len(X), batch):
        Xb = X[lo:lo + batch]
        Xb @ W.T
        gemm(-1e-3, Xb.T, G[:len(Xb)].T, beta=1.0, c=W.T, trans_b=True, overwrite_c=True)


def epoch_seconds(setting, size, m, dtype, resize, epochs=3):
    """(best epoch seconds, best bare-GEMM epoch seconds), measured in one run."""
    normalize, par = SETTINGS[setting]
    pair = bc.load_mnist_pair((0, 1), size=size, normalize=normalize, resize=resize)
    net = bc.init_network(pair.d, m, parametrization=par, rng=0)
    res = bc.train_lazy_sgd(net, pair.X_train, pair.y_train, C0=1e9, lr=1e-4, epochs=epochs, rng=0, dtype=dtype,
                            eval_train=False)
    X = pair.X_train.astype(dtype)
    W = net.W0[0].astype(dtype)
    gemms = []
    for _ in range(epochs):
        t = time.perf_counter()
        bare_epoch(X, W)
        gemms.append(time.perf_counter() - t)
    return float(res.history["seconds"].iloc[1:].min()), min(gemms)


def evaluation_seconds(res, pair, net):
    ck = res.checkpoints[max(res.checkpoints)]
    t = time.perf_counter()
    evaluate(net, ck.W, ck.b, pair.X_train, pair.y_train)
    evaluate(net, ck.W, ck.b, pair.X_test, pair.y_test)
    W, b = ck.stacked()
    min_flip_step(net, pair.X_test.astype(np.float64), W, b, y=pair.y_test)
    return time.perf_counter() - t


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dtype", default=None, help="override the preset's dtype")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stop-width", type=int, default=250)
    parser.add_argument("--rate", type=float, default=None, help="quiet GEMM GFLOP/s of one core")
    args = parser.parse_args()
    cfg = paper_config()
    dtype = np.dtype(args.dtype or cfg.dtype)
    sizes, widths, C0s = list(cfg.sizes), list(cfg.widths), tuple(float(c) for c in cfg.C0s)
    m0 = min(widths)
    rate = 1e9 * (args.rate or (145.0 if dtype == np.float32 else 70.0))
    print(f"mnist_lazy_sgd --paper: {len(cfg.settings)} settings x {len(sizes)} d x {len(widths)} m x {cfg.seeds} "
          f"seeds, C0 up to {max(C0s)}, {dtype.name}; epochs to stop at m = {args.stop_width}, epoch and "
          f"evaluation at m = {m0}, one seed; {args.workers} workers", flush=True)
    rows = []
    n_train = None
    with threadpool_limits(1):
        for setting in cfg.settings:
            for size in sizes:
                t = time.perf_counter()
                res, pair, net = epochs_to_stop(setting, size, args.stop_width, C0s, cfg.epochs, dtype, cfg.resize)
                run_seconds = time.perf_counter() - t
                n_train = pair.n_train
                spe, gemm = epoch_seconds(setting, size, m0, dtype, cfg.resize)
                net0 = bc.init_network(pair.d, m0, parametrization=SETTINGS[setting][1], rng=0)
                res0 = bc.train_lazy_sgd(net0, pair.X_train[:640], pair.y_train[:640], C0=max(C0s), epochs=1,
                                         rng=0, dtype=dtype, eval_train=False, checkpoints=C0s)
                ev = evaluation_seconds(res0, pair, net0)
                load = gemm / (4.0 * pair.n_train * pair.d * m0 / rate)
                rows.append(dict(setting=setting, d=size * size, epochs_to_stop=res.epochs_trained,
                                 stopped=res.stopped_reason, epoch_seconds_m0=spe, epoch_over_gemms=spe / gemm,
                                 eval_seconds_m0=ev, load_factor=load, stop_run_seconds=run_seconds))
                print(rows[-1], flush=True)
        table = pd.DataFrame(rows)
        alphas = {}
        for setting in cfg.settings:
            logs = []
            for size in sizes[:2]:
                ref = table[(table.setting == setting) & (table.d == size * size)].iloc[0]
                pts = [(args.stop_width, ref.epochs_to_stop)]
                for m in (1000, 4000):
                    res, _, _ = epochs_to_stop(setting, size, m, C0s, cfg.epochs, dtype, cfg.resize)
                    pts.append((m, res.epochs_trained))
                print(f"{setting} d={size * size}: epochs to stop at m = " +
                      ", ".join(f"{m}: {e:.2f}" for m, e in pts), flush=True)
                logs += [(np.log(m), np.log(e)) for m, e in pts]
            lx, ly = np.array(logs).T
            alphas[setting] = float(np.polyfit(lx, ly, 1)[0])
            print(f"{setting}: E ~ m^{alphas[setting]:.3f}", flush=True)
    E = {(r.setting, r.d, m): r.epochs_to_stop * (m / args.stop_width) ** alphas[r.setting]
         for _, r in table.iterrows() for m in widths}
    measured = quiet = 0.0
    for _, r in table.iterrows():
        for m in widths:
            scale = m / m0
            ev = len(C0s) * r.eval_seconds_m0 * scale
            e = min(E[(r.setting, r.d, m)], cfg.epochs)
            measured += cfg.seeds * (e * r.epoch_seconds_m0 * scale + ev)
            quiet += cfg.seeds * (e * r.epoch_over_gemms * 4.0 * n_train * r.d * m / rate + ev / r.load_factor)
    hist = table[(table.setting == cfg.hist_setting) & (table.d == cfg.hist_size ** 2)].iloc[0]
    hscale = cfg.hist_width / m0
    eh = E[(hist.setting, hist.d, cfg.hist_width)] if cfg.hist_width in widths else hist.epochs_to_stop
    measured += (eh * hist.epoch_seconds_m0 + hist.eval_seconds_m0) * hscale
    quiet += (eh * hist.epoch_over_gemms * 4.0 * n_train * hist.d * cfg.hist_width / rate
              + hist.eval_seconds_m0 * hscale / hist.load_factor)
    roof = sum(cfg.seeds * min(E[(r.setting, r.d, m)], cfg.epochs) * 4.0 * n_train * r.d * m / rate
               for _, r in table.iterrows() for m in widths)
    print("epochs to stop used (setting, d, m): " + ", ".join(f"{k[0]} {k[1]} {k[2]}: {v:.1f}" for k, v in E.items()))
    print(table.to_markdown(index=False, floatfmt=".3g"))
    print(f"\nestimated wall time of mnist_lazy_sgd --paper ({dtype.name}, {args.workers} workers): "
          f"{measured / args.workers / 3600:.2f} h as measured on this machine now; "
          f"{quiet / args.workers / 3600:.2f} h on quiet cores at {rate / 1e9:.0f} GFLOP/s each; "
          f"the training GEMMs alone (the roofline): {roof / args.workers / 3600:.2f} h")
    study = sys.modules["mnist_lazy_sgd_preset"].STUDY
    model = study.estimate(cfg, workers=args.workers)
    print(f"the study's own cost model (what `boundcheck study mnist_lazy_sgd --paper` announces): "
          f"{model['wall_s'] / 3600:.2f} h on {args.workers} cores at this core's GEMM rate now")


if __name__ == "__main__":
    main()
