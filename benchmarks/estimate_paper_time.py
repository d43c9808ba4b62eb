"""Wall time of ``mnist_lazy_sgd --paper`` on this machine, from a measured slice and a cost model.

The preset (``studies/mnist_lazy_sgd.py``, ``Config.paper()``): settings raw_bias and sphere_nobias, d in
{25, 49, 100, 196, 400, 784}, m in {1000, 5000, 10000}, five seeds, all 12665 training images, lr 0.1,
batch 64, stop mode with checkpoints C0 in {1, 2, 5, 10, 20}, at most 1000 epochs; per C0 the train and test
accuracy and the exact minimal flip on all 2115 test points; plus one Fig 7 cell. 180 + 1 training runs.

Cost model of one cell (setting, d, m, seed)::

    seconds = E(setting, d) * epoch(d, m) + 5 * evaluation(d, m)

* ``E(setting, d)``: epochs until the run leaves the ball of the largest C0 (the stop; capped at the
  preset's epochs). Measured at m = 1000, seed 0. It does not depend on m: the radius ``C0/sqrt(m)`` and
  each row's gradient (``a_s/sqrt(m)`` times O(1)) both scale as ``1/sqrt(m)``; ``--check-width`` measures
  it at a second width too.
* ``epoch(d, m)``: one epoch's training, measured at m = 1000 for every d (a few epochs, the best), and
  scaled linearly in m (every per-step cost is O(batch m d) or O(batch m)); ``--check-width`` measures one
  epoch at m = 10000 to check the scaling.
* ``evaluation(d, m)``: the per-checkpoint work (two accuracies, the exact flip search), measured at
  m = 1000 and scaled linearly in m.

The total is divided by the number of worker processes (``--workers``, each with one BLAS thread; the
sweep's cells are independent). Nothing of the long run is executed.

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


def epoch_seconds(setting, size, m, dtype, resize, epochs=3):
    normalize, par = SETTINGS[setting]
    pair = bc.load_mnist_pair((0, 1), size=size, normalize=normalize, resize=resize)
    net = bc.init_network(pair.d, m, parametrization=par, rng=0)
    res = bc.train_lazy_sgd(net, pair.X_train, pair.y_train, C0=1e9, lr=1e-4, epochs=epochs, rng=0, dtype=dtype,
                            eval_train=False)
    return float(res.history["seconds"].iloc[1:].min())


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
    parser.add_argument("--check-width", action="store_true", help="also measure at m = 5000 / 10000")
    args = parser.parse_args()
    cfg = paper_config()
    dtype = np.dtype(args.dtype or cfg.dtype)
    sizes, widths, C0s = list(cfg.sizes), list(cfg.widths), tuple(float(c) for c in cfg.C0s)
    m0 = min(widths)
    print(f"mnist_lazy_sgd --paper: {len(cfg.settings)} settings x {len(sizes)} d x {len(widths)} m x {cfg.seeds} "
          f"seeds, C0 up to {max(C0s)}, {dtype.name}; slice at m = {m0}, one seed; {args.workers} workers", flush=True)
    rows = []
    with threadpool_limits(1):
        for setting in cfg.settings:
            for size in sizes:
                t = time.perf_counter()
                res, pair, net = epochs_to_stop(setting, size, m0, C0s, cfg.epochs, dtype, cfg.resize)
                run_seconds = time.perf_counter() - t
                spe = epoch_seconds(setting, size, m0, dtype, cfg.resize)
                ev = evaluation_seconds(res, pair, net)
                rows.append(dict(setting=setting, d=size * size, epochs_to_stop=res.epochs_trained,
                                 stopped=res.stopped_reason, epoch_seconds_m0=spe, eval_seconds_m0=ev,
                                 measured_run_seconds=run_seconds))
                print(rows[-1], flush=True)
        table = pd.DataFrame(rows)
        if args.check_width:
            for setting in cfg.settings:
                size = sizes[1]
                res, _, _ = epochs_to_stop(setting, size, max(widths) // 2, C0s, cfg.epochs, dtype, cfg.resize)
                ref = table[(table.setting == setting) & (table.d == size * size)].iloc[0]
                print(f"check: {setting} d={size * size}: epochs to stop at m={max(widths) // 2}: "
                      f"{res.epochs_trained:.2f} (m={m0}: {ref.epochs_to_stop:.2f})", flush=True)
            spe_big = epoch_seconds("raw_bias", sizes[-1], max(widths), dtype, cfg.resize, epochs=2)
            ref = table[(table.setting == "raw_bias") & (table.d == sizes[-1] ** 2)].iloc[0]
            print(f"check: one epoch at d={sizes[-1] ** 2}, m={max(widths)}: {spe_big:.2f} s, linear model "
                  f"{ref.epoch_seconds_m0 * max(widths) / m0:.2f} s", flush=True)
    per_cell = []
    for _, r in table.iterrows():
        for m in widths:
            scale = m / m0
            per_cell.append(cfg.seeds * (r.epochs_to_stop * r.epoch_seconds_m0 * scale
                                         + len(C0s) * r.eval_seconds_m0 * scale))
    hist = table[(table.setting == cfg.hist_setting) & (table.d == cfg.hist_size ** 2)].iloc[0]
    extra = (hist.epochs_to_stop * hist.epoch_seconds_m0 + hist.eval_seconds_m0) * cfg.hist_width / m0
    total = (sum(per_cell) + extra) / args.workers
    print(table.to_markdown(index=False, floatfmt=".3g"))
    print(f"\nestimated wall time of mnist_lazy_sgd --paper ({dtype.name}, {args.workers} workers): "
          f"{total / 3600:.2f} h")


if __name__ == "__main__":
    main()
