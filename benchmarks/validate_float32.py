"""Float32 against float64 on the paper's MNIST settings: stop step, test accuracy, eta*, robust error.

The authors train and attack in float32. For each setting this trains the same init with the same order in
both precisions and compares what the studies report:

* lazy SGD (``mnist_lazy_sgd``: lr 0.1, batch 64, all 12665 training images, stop mode, one run through the
  C0 grid with checkpoints): the stop step of every C0, the test accuracy (all 2115 test images), and the
  distribution of the exact minimal flip step eta* over the correctly classified test points (median, 5%
  and 95% quantiles, two-sample Kolmogorov-Smirnov distance);
* projected adversarial training (``mnist_adversarial_training``, reduced: 1000 training and 500 test
  images, PGD-l2 with 10 steps, box [0, 1], 5 epochs; SGD and PGD both in the precision compared; eps from
  ``--adv-eps``): the robust and clean test errors, and the final models attacked by PGD-l2 with 100 steps
  in their own precision (robust error and the number of test points whose outcome differs);
* the PGD attack alone at the paper's Section 5.2 setting (``--only pgd`` runs just this part): sphere inputs,
  width 1000, radius 10 / sqrt(m), for every eps of the ``--paper`` grid (0 to 0.3 by 0.02, 0.4, 0.5) a
  network adversarially trained at that eps (float64, reduced: 2000 training images, PGD with 10 steps, 2
  epochs, lr 1.0), attacked on all 2115 test images by PGD-l2 with the paper's 100 steps of 2.5 eps / 100,
  box [0, 1], in float64 and in float32 (``attacks.pgd(dtype=...)``, same network): the robust error of
  each and the per-point agreement of the outcome (attacked or not), with the float64 margins of the
  points where the two disagree.

Run: ``python benchmarks/validate_float32.py [--epochs N] [--sizes 10 28] [--width M] [--only lazy|adv|pgd]``;
prints Markdown tables (docs/speed.md quotes them). One BLAS thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

import boundcheck as bc
from boundcheck.attacks import min_flip_step, pgd
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
    """Training and its PGD (train_adversarial's default attack, in the training dtype) both in float64, then
    both in float32; the final models attacked on the test images by PGD-l2 with the paper's 100 steps, each
    in its own precision (per-point agreement)."""
    pair = bc.load_mnist_pair((0, 1), size=size, normalize="sphere", resize="bilinear")
    net = bc.init_network(pair.d, m, parametrization="paper_code", rng=np.random.default_rng([seed, 2]))
    gen = np.random.default_rng([seed, 3])
    idx = np.sort(gen.permutation(pair.n_train)[:1000])
    tidx = np.sort(gen.permutation(pair.n_test)[:500])
    Xt, yt = pair.X_test[tidx], pair.y_test[tidx]
    row = dict(d=size * size, m=m, eps=eps, C0=C0)
    outcome = {}
    for dt in (np.float64, np.float32):
        res = bc.train_adversarial(net, pair.X_train[idx], pair.y_train[idx], radius=C0 / np.sqrt(m), eps=eps,
                                   pgd_steps=10, lr=1.0, batch_size=32, epochs=5, patience=3, box=(0.0, 1.0),
                                   X_test=Xt, y_test=yt, test_every=5, rng=seed, dtype=dt)
        last = res.history.iloc[-1]
        name = np.dtype(dt).name[-2:]
        row[f"robust_err_f{name}"] = 1 - last["robust_test_acc"]
        row[f"clean_err_f{name}"] = 1 - last["test_acc"]
        row[f"epochs_f{name}"] = res.epochs_completed
        W, b = res.stacked()
        outcome[dt] = pgd(net, Xt, yt, eps, norm="l2", steps=100, box=(0.0, 1.0), W=W, b=b, dtype=dt).success[0, 0]
        row[f"robust_err_100_f{name}"] = outcome[dt].mean()
    row["outcomes_differ_100"] = int((outcome[np.float64] != outcome[np.float32]).sum())
    row["points"] = len(tidx)
    return row


PAPER_EPS = tuple(round(0.02 * i, 2) for i in range(16)) + (0.4, 0.5)


def pgd_precision(size, m, seed, eps_grid=PAPER_EPS, steps=100, C0=10.0):
    """Per eps: a float64 adversarially trained network, attacked in float64 and float32 on the test set."""
    pair = bc.load_mnist_pair((0, 1), size=size, normalize="sphere", resize="bilinear")
    net = bc.init_network(pair.d, m, parametrization="paper_code", rng=np.random.default_rng([seed, 4]))
    gen = np.random.default_rng([seed, 5])
    idx = np.sort(gen.permutation(pair.n_train)[:2000])
    rows = []
    for eps in eps_grid:
        res = bc.train_adversarial(net, pair.X_train[idx], pair.y_train[idx], radius=C0 / np.sqrt(m), eps=eps,
                                   pgd_steps=10, lr=1.0, batch_size=32, epochs=2, box=(0.0, 1.0), rng=seed)
        W, b = res.stacked()
        out, secs = {}, {}
        for dt in (np.float64, np.float32):
            t = time.process_time()
            out[dt] = pgd(net, pair.X_test, pair.y_test, eps, norm="l2", steps=steps, box=(0.0, 1.0), W=W, b=b,
                          dtype=dt)
            secs[dt] = time.process_time() - t
        r64, r32 = out[np.float64], out[np.float32]
        s64, s32 = r64.success[0, 0], r32.success[0, 0]
        margin64 = pair.y_test * r64.f_adv[0, 0]
        differ = s64 != s32
        rows.append(dict(d=pair.d, m=m, eps=eps, robust_err_f64=s64.mean(), robust_err_f32=s32.mean(),
                         points=s64.size, outcomes_differ=int(differ.sum()),
                         max_abs_margin_f64_where_differ=float(np.abs(margin64[differ]).max()) if differ.any()
                         else float("nan"),
                         median_abs_margin_f64=float(np.median(np.abs(margin64))),
                         max_abs_f_diff=float(np.abs(r64.f_adv - r32.f_adv).max()),
                         cpu_f32_over_f64=secs[np.float32] / secs[np.float64]))
        print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 28])
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--C0s", type=float, nargs="+", default=[1.0, 2.0, 5.0, 10.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write the tables to this CSV prefix")
    parser.add_argument("--adv-eps", type=float, nargs="+", default=[0.1],
                        help="budgets of the adversarial-training comparison")
    parser.add_argument("--only", choices=("lazy", "adv", "pgd"), nargs="+", default=("lazy", "adv", "pgd"),
                        help="run only these parts")
    args = parser.parse_args()
    pd.set_option("display.width", 250)
    tables = {}
    with threadpool_limits(1):
        if "lazy" in args.only:
            rows = []
            for setting in SETTINGS:
                for size in args.sizes:
                    rows += lazy(setting, size, args.width, tuple(args.C0s), args.epochs, args.seed)
                    print(pd.DataFrame(rows[-len(args.C0s):]).to_string(index=False), flush=True)
            tables["lazy SGD"] = ("lazy", pd.DataFrame(rows))
        if "adv" in args.only:
            tables["adversarial training"] = ("adversarial", pd.DataFrame(
                [adversarial(size, args.width, args.seed, eps=eps) for size in args.sizes for eps in args.adv_eps]))
        if "pgd" in args.only:
            rows = []
            for size in args.sizes:
                rows += pgd_precision(size, args.width, args.seed)
            tables["PGD-l2 at the paper's eps grid (100 steps)"] = ("pgd", pd.DataFrame(rows))
    for title, (name, table) in tables.items():
        print(f"\n## {title}, float32 vs float64\n")
        print(table.to_markdown(index=False, floatfmt=".4g"))
        if args.out:
            table.to_csv(f"{args.out}_{name}.csv", index=False)


if __name__ == "__main__":
    main()
