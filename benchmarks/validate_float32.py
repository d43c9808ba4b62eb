"""Float32 against float64 on the paper's MNIST settings: stop step, test accuracy, eta*, robust error.

The authors train and attack in float32. For each setting this trains the same init with the same order in
both precisions and compares what the studies report:

* lazy SGD (``mnist_lazy_sgd``: lr 0.1, batch 64, all 12665 training images, stop mode, one run through the
  C0 grid with checkpoints): the stop step of every C0, the test accuracy (all 2115 test images), and the
  distribution of the exact minimal flip step eta* over the correctly classified test points (median, 5%
  and 95% quantiles, two-sample Kolmogorov-Smirnov distance);
* projected adversarial training (``mnist_adversarial_training``, reduced: PGD-l2 with 10 steps, box
  [0, 1]): the robust test error and the clean test error.

Run: ``python benchmarks/validate_float32.py [--epochs N] [--sizes 10 28] [--width M]``; prints Markdown
tables (docs/speed.md quotes them). One BLAS thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

import boundcheck as bc
from boundcheck.attacks import min_flip_step
from boundcheck.train import evaluate

SETTINGS = {"raw_bias": ("none", "paper_code"), "sphere_nobias": ("sphere", "theory")}


def lazy(setting, size, m, C0s, epochs, seed):
    normalize, par = SETTINGS[setting]
    pair = bc.load_mnist_pair((0, 1), size=size, normalize=normalize, resize="bilinear")
    net = bc.init_network(pair.d, m, parametrization=par, rng=np.random.default_rng([seed, 1]))
    out = {}
    for dt in (np.float64, np.float32):
        t = time.perf_counter()
        res = bc.train_lazy_sgd(net, pair.X_train, pair.y_train, C0=max(C0s), lr=0.1, batch_size=64, epochs=epochs,
                                mode="stop", rng=seed, dtype=dt, eval_train=False, checkpoints=C0s)
        per = {}
        for C0, ck in res.checkpoints.items():
            W, b = ck.stacked()
            acc = evaluate(net, ck.W, ck.b, pair.X_test, pair.y_test)[1]
            fl = min_flip_step(net, pair.X_test, W, b, y=pair.y_test)
            ok = fl.correct[0]
            per[C0] = dict(steps=ck.steps, reason=ck.stopped_reason, test_acc=acc, eta=fl.eta[0][ok])
        out[np.dtype(dt).name] = dict(per=per, seconds=time.perf_counter() - t, spe=res.seconds_per_epoch,
                                      spp=res.steps_per_epoch)
    rows = []
    for C0 in C0s:
        a, b = out["float64"]["per"][C0], out["float32"]["per"][C0]
        ea, eb = a["eta"][np.isfinite(a["eta"])], b["eta"][np.isfinite(b["eta"])]
        qa, qb = np.quantile(ea, [0.05, 0.5, 0.95]), np.quantile(eb, [0.05, 0.5, 0.95])
        rows.append(dict(setting=setting, d=size * size, m=m, C0=C0,
                         stop_step_f64=a["steps"], stop_step_f32=b["steps"],
                         epochs_f64=round(a["steps"] / out["float64"]["spp"], 2),
                         reason=a["reason"] + ("" if a["reason"] == b["reason"] else f"/{b['reason']}"),
                         test_acc_f64=a["test_acc"], test_acc_f32=b["test_acc"],
                         eta_median_f64=qa[1], eta_median_f32=qb[1],
                         eta_q05_rel_diff=qb[0] / qa[0] - 1, eta_q95_rel_diff=qb[2] / qa[2] - 1,
                         eta_ks=stats.ks_2samp(ea, eb).statistic,
                         sec_per_epoch_f64=out["float64"]["spe"], sec_per_epoch_f32=out["float32"]["spe"]))
    return rows


def adversarial(size, m, seed, eps=0.1, C0=10.0):
    pair = bc.load_mnist_pair((0, 1), size=size, normalize="sphere", resize="bilinear")
    net = bc.init_network(pair.d, m, parametrization="paper_code", rng=np.random.default_rng([seed, 2]))
    gen = np.random.default_rng([seed, 3])
    idx = np.sort(gen.permutation(pair.n_train)[:1000])
    tidx = np.sort(gen.permutation(pair.n_test)[:500])
    row = dict(d=size * size, m=m, eps=eps, C0=C0)
    for dt in (np.float64, np.float32):
        res = bc.train_adversarial(net, pair.X_train[idx], pair.y_train[idx], radius=C0 / np.sqrt(m), eps=eps,
                                   pgd_steps=10, lr=1.0, batch_size=32, epochs=5, patience=3, box=(0.0, 1.0),
                                   X_test=pair.X_test[tidx], y_test=pair.y_test[tidx], test_every=5, rng=seed,
                                   dtype=dt)
        last = res.history.iloc[-1]
        name = np.dtype(dt).name[-2:]
        row[f"robust_err_f{name}"] = 1 - last["robust_test_acc"]
        row[f"clean_err_f{name}"] = 1 - last["test_acc"]
        row[f"epochs_f{name}"] = res.epochs_completed
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 28])
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--C0s", type=float, nargs="+", default=[1.0, 2.0, 5.0, 10.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write the tables to this CSV prefix")
    args = parser.parse_args()
    pd.set_option("display.width", 250)
    with threadpool_limits(1):
        rows = []
        for setting in SETTINGS:
            for size in args.sizes:
                rows += lazy(setting, size, args.width, tuple(args.C0s), args.epochs, args.seed)
                print(pd.DataFrame(rows[-len(args.C0s):]).to_string(index=False), flush=True)
        table = pd.DataFrame(rows)
        adv = pd.DataFrame([adversarial(size, args.width, args.seed) for size in args.sizes])
    print("\n## lazy SGD, float32 vs float64\n")
    print(table.to_markdown(index=False, floatfmt=".4g"))
    print("\n## adversarial training, float32 vs float64\n")
    print(adv.to_markdown(index=False, floatfmt=".4g"))
    if args.out:
        table.to_csv(args.out + "_lazy.csv", index=False)
        adv.to_csv(args.out + "_adversarial.csv", index=False)


if __name__ == "__main__":
    main()
