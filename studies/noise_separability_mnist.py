"""One-step adversarial noises on real MNIST: separable at initialization and in the lazy regime, less so far from it.

The claim (Zhang, Yu, Lu, He, AISTATS 2023, abstract): for random and lazily trained two-layer
networks, a linear classifier fit on the one-step noises of the training images classifies the noises
of the test images; as the network leaves the lazy regime the noises become less separable, yet stay
easier to classify than the raw inputs.

Setting. A seeded subset of MNIST (``boundcheck.data.load_mnist``), two tasks: the 10 digits
(:class:`~boundcheck.separability.MulticlassNetwork`, cross-entropy) and even vs odd (a binary
:class:`~boundcheck.network.Network`, logistic loss). Inputs are centred with the training mean and
scaled to norm ``sqrt(d)``, weights drawn ``N(0, I/d)`` (Bubeck et al.'s convention: pre-activations
``N(0, 1)``). The top layer is fixed; the first layer is trained by full-batch gradient descent
(:func:`~boundcheck.separability.train_gd`):

* ``init``: no training;
* ``lazy``: projected after every step onto the lazy ball ``B_{2,inf}(W0, C0/sqrt(m))``;
* ``free``: the same width and steps, unconstrained;
* ``rich``: a narrow network from a small initialization (``init_scale`` times the above), trained
  far from its initialization (the small-init control of the "rich" regime).

For every net and both attacks (FGSM ``linf``, FGM ``l2``): the L2 logistic-regression probe's test
accuracy on the noises against the same probe on the raw pixels, the zero-shot accuracy of the
initialization's directions ``v_k = -sum_s A_ks w0_s``, the zero-shot accuracy of the same directions
built from the trained weights, a Hebbian probe from a few noises per class, the LP decision of exact
separability (binary task, ``n > 2(d+1)``), and how far the weights moved: ``||W - W0|| / ||W0||`` and
``max_s ||w_s - w0_s||`` against the ball's radius.

Threads: BLAS runs with ``blas_threads`` (default 1) threads; on a shared 2-core machine one thread was
faster than two for every product here (1.5x for 2000 x 784 x 512, 14x for the probes' skinny ones).

Predictions checked: (1) the noise probe beats the raw probe in every row; (2) at initialization every
binary zero-shot margin is positive (the reduced model puts ``P(gamma <= 0)`` below ``1e-100`` at
``d = 784``, for *any* input, since the init's law is rotation invariant); (3) the zero-shot accuracy of
the lazy rows exceeds that of the rich rows ("less separable outside the lazy regime"). MNIST alone is
not expected to show a drop of the *learned* probe: for a two-layer net the input gradients stay in the
span of the m rows of W. Nor the binary FGSM zero-shot rule: the pixels that never vary in the training
set (about 150 of 784 in a 2000-image subset) receive no gradient, so there ``grad f`` keeps its init
value, and its sign there still agrees with the init direction (measured: on those pixels alone the rule
classifies every test noise of the ``rich_x0.03`` row).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from boundcheck import Network, lazy_radius
from boundcheck.montecarlo import cell_seed
from boundcheck.report import StudyResult, verdict_line
from boundcheck import separability as sp

NAME = "noise_separability_mnist"
DESCRIPTION = "FGM/FGSM noises on MNIST (10-class, even/odd): probes on noise vs raw pixels, init -> lazy -> rich"

ATTACK = {"l2": "FGM", "linf": "FGSM"}


@dataclass(frozen=True)
class Config:
    """Settings of the MNIST noise-separability study.

    ``nets`` rows are ``(name, kind, m, steps, lr, init_scale, C0)``: ``kind`` in {"init", "lazy",
    "free", "rich"}; ``C0`` is the lazy-ball constant (radius ``C0 / sqrt(m)``) for ``"lazy"`` rows and
    ignored otherwise; ``init_scale`` multiplies the ``N(0, I/d)`` first layer.
    """

    tasks: tuple = ("10-class", "even-odd")
    n_train: int = 2000
    n_test: int = 1000
    nets: tuple = (
        ("init", "init", 512, 0, 1.0, 1.0, 0.0),
        ("lazy_C0=1", "lazy", 512, 100, 1.0, 1.0, 1.0),
        ("free", "free", 512, 100, 1.0, 1.0, 0.0),
        ("rich_x0.1", "rich", 64, 600, 2.0, 0.1, 0.0),
        ("rich_x0.03", "rich", 64, 600, 4.0, 0.03, 0.0),
    )
    random_label_nets: tuple = ("init", "rich_x0.03")
    hebbian_per_class: int = 10
    lam: float = 1e-3
    probe_max_iter: int = 200
    lp_time_limit: float = 30.0
    float32: bool = True
    blas_threads: int = 1
    seed: int = 0

    @classmethod
    def quick(cls) -> "Config":
        return cls(n_train=500, n_test=300,
                   nets=(("init", "init", 128, 0, 1.0, 1.0, 0.0),
                         ("lazy_C0=1", "lazy", 128, 20, 1.0, 1.0, 1.0),
                         ("rich_x0.1", "rich", 32, 150, 2.0, 0.1, 0.0)),
                   random_label_nets=(), probe_max_iter=100, lp_time_limit=5.0)


# ----------------------------------------------------------------------------------------------- data

def _data(cfg: Config):
    from boundcheck.data import load_mnist

    mn = load_mnist()
    gen = np.random.default_rng(cell_seed(cfg.seed, {"part": "mnist-subset"}))
    tr = gen.choice(len(mn.train_labels), cfg.n_train, replace=False)
    te = gen.choice(len(mn.test_labels), cfg.n_test, replace=False)
    Xtr = mn.train_images[tr].reshape(cfg.n_train, -1).astype(np.float64) / 255.0
    Xte = mn.test_images[te].reshape(cfg.n_test, -1).astype(np.float64) / 255.0
    mu = Xtr.mean(axis=0)
    d = Xtr.shape[1]
    Xtr, Xte = Xtr - mu, Xte - mu
    Xtr *= math.sqrt(d) / np.linalg.norm(Xtr, axis=1, keepdims=True)
    Xte *= math.sqrt(d) / np.linalg.norm(Xte, axis=1, keepdims=True)
    return Xtr, mn.train_labels[tr].astype(np.int64), Xte, mn.test_labels[te].astype(np.int64), mn.source


def _task_labels(task: str, digits: np.ndarray) -> np.ndarray:
    if task == "10-class":
        return digits
    return np.where(digits % 2 == 0, 1, -1).astype(np.int64)


def _make_net(task: str, d: int, m: int, init_scale: float, gen):
    if task == "10-class":
        return sp.init_multiclass_network(d, m, 10, init_scale=init_scale / math.sqrt(d), rng=gen)
    a = np.where(gen.random(m) < 0.5, -1.0, 1.0)
    W0 = gen.standard_normal((m, d)) * (init_scale / math.sqrt(d))
    return Network(a=a, W0=W0)


def _net_accuracy(net, W, X, y) -> float:
    if isinstance(net, Network):
        from boundcheck import forward
        return float(np.mean(np.where(forward(net, X, W)[0] > 0, 1, -1) == y))
    return float(np.mean(np.argmax(sp.multiclass_forward(net, X, W)[0], axis=1) == y))


def _trained_directions(net, W) -> np.ndarray:
    if isinstance(net, Network):
        return -np.einsum("ks,ksd->kd", net.a, W)
    return -np.matmul(net.A, W)


# ----------------------------------------------------------------------------------------------- one net

def _rows_for_net(cfg: Config, task: str, spec, data, raw_probe, progress_note) -> list[dict]:
    name, kind, m, steps, lr, init_scale, C0 = spec
    Xtr, ytr, Xte, yte = data
    n_classes = 10 if task == "10-class" else None
    d = Xtr.shape[1]
    gen_net, gen_lab = (np.random.default_rng(s) for s in cell_seed(cfg.seed, {"task": task, "net": name}).spawn(2))
    net = _make_net(task, d, m, init_scale, gen_net)
    t0 = time.perf_counter()
    radius = lazy_radius(C0, m) if kind == "lazy" else None
    fit = sp.train_gd(net, Xtr, ytr, steps=steps, lr=lr, radius=radius,
                      dtype=np.float32 if cfg.float32 else np.float64)
    train_seconds = time.perf_counter() - t0
    W = fit.W
    base = dict(task=task, net=name, kind=kind, m=m, init_scale=init_scale, steps=steps, lr=lr,
                lazy_C0=C0 if kind == "lazy" else np.nan, lazy_radius=radius if radius is not None else np.nan,
                relative_movement=float(fit.relative_movement[0]), max_row_movement=float(fit.max_row_movement[0]),
                net_train_acc=_net_accuracy(net, W, Xtr, ytr), net_test_acc=_net_accuracy(net, W, Xte, yte),
                train_seconds=train_seconds,
                probe_raw_train_acc=raw_probe.train_accuracy, probe_raw_test_acc=raw_probe.test_accuracy)
    V0 = sp.zero_shot_directions(net)
    Vt = _trained_directions(net, W)
    label_kinds = ["true"] + (["random"] if name in cfg.random_label_nets else [])
    rows = []
    for noise_labels in label_kinds:
        if noise_labels == "true":
            ltr, lte = ytr, yte
        else:
            ltr = sp.random_labels(len(ytr), n_classes=n_classes, rng=gen_lab)
            lte = sp.random_labels(len(yte), n_classes=n_classes, rng=gen_lab)
        t1 = time.perf_counter()
        noises_tr = sp.one_step_noises(net, Xtr, ltr, eps=1.0, W=W)
        noises_te = sp.one_step_noises(net, Xte, lte, eps=1.0, W=W)
        for norm in ("linf", "l2"):
            Dtr, Dte = noises_tr[norm][0], noises_te[norm][0]
            probe = sp.logistic_probe(Dtr, ltr, Dte, lte, lam=cfg.lam, max_iter=cfg.probe_max_iter,
                                      n_classes=n_classes)
            if n_classes is None:
                k = min(cfg.hebbian_per_class * 2, len(ltr))
                H = sp.hebbian_directions(Dtr[:k], ltr[:k])
                margins = sp.signed_margins(Dte, lte, V0[0])
                lp = sp.lp_separable(Dtr, ltr, time_limit=cfg.lp_time_limit).status if len(Dtr) > 2 * (d + 1) else "refused"
            else:
                k = min(cfg.hebbian_per_class * 10, len(ltr))
                H = sp.hebbian_directions(Dtr[:k], ltr[:k], n_classes=10)
                margins = sp.multiclass_margins(Dte, lte, V0[0])
                lp = "n/a (binary only)"
            rows.append(dict(base, norm=norm, attack=ATTACK[norm], noise_labels=noise_labels,
                             probe_noise_train_acc=probe.train_accuracy, probe_noise_test_acc=probe.test_accuracy,
                             probe_converged=probe.converged,
                             zero_shot_acc=float((margins > 0).mean()),
                             zero_shot_min_margin=float(margins.min()),
                             zero_shot_trained_dirs_acc=float(sp.direction_accuracy(Dte, lte, Vt[0])),
                             hebbian_acc=float(sp.direction_accuracy(Dte, lte, H)), hebbian_n=k,
                             lp_noise=lp, noise_seconds=time.perf_counter() - t1))
            t1 = time.perf_counter()
    progress_note(f"{task} {name}: moved {base['relative_movement']:.3g}, net test acc {base['net_test_acc']:.3f}")
    return rows


# ----------------------------------------------------------------------------------------------- verdicts, figure

def _verdicts(table: pd.DataFrame) -> list[str]:
    lines = []
    true = table[table["noise_labels"] == "true"]
    bad = true["probe_noise_test_acc"] <= true["probe_raw_test_acc"]
    lines.append(verdict_line("noise_probe_beats_raw_probe", len(true), int(bad.sum())))
    init_bin = true[(true["kind"] == "init") & (true["task"] == "even-odd")]
    if len(init_bin):
        bad = init_bin["zero_shot_min_margin"] <= 0
        lines.append(verdict_line("binary_init_all_zero_shot_margins_positive", len(init_bin), int(bad.sum())))
    for task, g in true.groupby("task"):
        for norm, h in g.groupby("norm"):
            lazy = h[h["kind"].isin(["init", "lazy"])]
            rich = h[h["kind"] == "rich"]
            if len(lazy) and len(rich):
                ok = lazy["zero_shot_acc"].min() > rich["zero_shot_acc"].max()
                lines.append(verdict_line(f"zero_shot_lazy>rich_{task}_{ATTACK[norm]}", 1, int(not ok))
                             + f" (lazy min {lazy['zero_shot_acc'].min():.3f}, rich max {rich['zero_shot_acc'].max():.3f})")
    return lines


def _figure(table: pd.DataFrame):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true = table[table["noise_labels"] == "true"]
    tasks = list(dict.fromkeys(true["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.5 * len(tasks), 4.5), sharey=True, squeeze=False)
    floor = 1e-4
    for ax, task in zip(axes[0], tasks):
        g = true[true["task"] == task]
        for norm, marker in (("linf", "o"), ("l2", "s")):
            h = g[g["norm"] == norm].sort_values("relative_movement")
            x = np.maximum(h["relative_movement"], floor)
            ax.plot(x, h["probe_noise_test_acc"], marker=marker, label=f"LR probe on {ATTACK[norm]} noise")
            ax.plot(x, h["zero_shot_acc"], marker=marker, ls="--", label=f"zero-shot (init dirs), {ATTACK[norm]}")
            ax.plot(x, h["hebbian_acc"], marker=marker, ls=":", label=f"Hebbian, {ATTACK[norm]}")
        ax.axhline(g["probe_raw_test_acc"].iloc[0], color="k", ls="-.", label="LR probe on raw pixels")
        for _, r in g[g["norm"] == "linf"].iterrows():
            ax.annotate(r["net"], (max(r["relative_movement"], floor), 0.02), fontsize=7, rotation=90)
        ax.set(xscale="log", xlabel=f"||W - W0|| / ||W0||  (init plotted at {floor:g})", ylabel="test accuracy",
               title=f"MNIST {task}", ylim=(0, 1.02))
        ax.legend(fontsize=7, loc="center left")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------- run

def run(config: Config, *, out_dir=None, progress: bool = True) -> StudyResult:
    """Run the study; returns the table, verdicts and the accuracy-vs-movement figure."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(config.blas_threads, user_api="blas"):
        return _run(config, progress)


def _run(config: Config, progress: bool) -> StudyResult:
    cfg = config
    t0 = time.perf_counter()
    Xtr, dtr, Xte, dte, source = _data(cfg)

    def note(text):
        if progress:
            print(f"  [{time.perf_counter() - t0:6.1f} s] {text}", flush=True)

    rows = []
    for task in cfg.tasks:
        ytr, yte = _task_labels(task, dtr), _task_labels(task, dte)
        n_classes = 10 if task == "10-class" else None
        raw = sp.logistic_probe(Xtr, ytr, Xte, yte, lam=cfg.lam, max_iter=cfg.probe_max_iter, n_classes=n_classes)
        note(f"{task}: raw-pixel probe test acc {raw.test_accuracy:.3f}")
        for spec in cfg.nets:
            rows.extend(_rows_for_net(cfg, task, spec, (Xtr, ytr, Xte, yte), raw, note))
    table = pd.DataFrame(rows)
    constant = int(np.all(Xtr == 0, axis=0).sum())
    notes = [f"MNIST: {source}",
             f"{constant} of {Xtr.shape[1]} pixels are constant over the training subset: there the trained rows of W "
             f"keep their init values, so the input gradient keeps its init imprint on them whatever the training "
             f"(this keeps the binary FGSM zero-shot rule working in the rich rows)",
             f"{cfg.n_train} training / {cfg.n_test} test images (seeded subset), centred, ||x|| = sqrt(784)",
             "zero_shot_acc uses the init directions -sum_s A_ks w0_s; zero_shot_trained_dirs_acc the same built from "
             "the trained W",
             "probe accuracies are on held-out test noises; the raw probe is the same L2 logistic regression on the "
             "centred pixels"]
    return StudyResult(name=NAME, table=table, verdicts=_verdicts(table),
                       figures={"accuracy_vs_movement": _figure(table)}, notes=notes)
