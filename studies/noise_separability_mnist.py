"""One-step adversarial noises on real MNIST: separable at initialization and in the lazy regime, less so far from it.

The claim (Zhang, Yu, Lu, He, AISTATS 2023, abstract): for random and lazily trained two-layer
networks, a linear classifier fit on the one-step noises of the training images classifies the noises
of the test images; as the network leaves the lazy regime the noises become less separable, yet stay
easier to classify than the raw inputs.

Setting. A seeded subset of MNIST (``boundcheck.data.load_mnist``), two tasks: the 10 digits
(:class:`~boundcheck.multiclass.MulticlassNetwork`, cross-entropy) and even vs odd (a binary
:class:`~boundcheck.network.Network`, logistic loss). Inputs are centred with the training mean and
scaled to norm ``sqrt(d)``, weights drawn ``N(0, I/d)`` (Bubeck et al.'s convention: pre-activations
``N(0, 1)``). The top layer is fixed; the first layer is trained by full-batch gradient descent
(:func:`~boundcheck.train.train_gd`):

* ``init``: no training;
* ``lazy``: projected after every step onto the lazy ball ``B_{2,inf}(W0, C0/sqrt(m))``;
* ``free``: the same width and steps, unconstrained;
* ``rich``: a narrow network from a small initialization (``init_scale`` times the above), trained
  far from its initialization (the small-init control of the "rich" regime).

The lazy and rich rows differ in width, steps, learning rate and init scale at once, so ``chain`` names a
path of ``free`` rows from the wide net to ``rich_x0.1`` that changes **one factor at a time** (width,
then steps, then learning rate, then init scale; checked by the config): the table
``one_factor_at_a_time`` says what each factor alone does to every measure.

For every net and both attacks (FGSM ``linf``, FGM ``l2``): the L2 logistic-regression probe's test
accuracy on the noises against the same probe on the raw pixels, the zero-shot accuracy of the
initialization's directions ``v_k = -sum_s A_ks w0_s``, the zero-shot accuracy of the same directions
built from the trained weights, a Hebbian probe from a few noises per class, the LP decision of exact
separability (binary task, ``n > 2(d+1)``) **with its control, the LP on the raw centred pixels of the
same images** (which are LP-separable too at n = 2000, so there the LP cannot tell noises from pixels),
and how far the weights moved: ``||W - W0|| / ||W0||`` and ``max_s ||w_s - w0_s||`` against the ball's
radius.

Threads: BLAS runs with ``blas_threads`` (default 1) threads; on a shared 2-core machine one thread was
faster than two for every product here (1.5x for 2000 x 784 x 512, 14x for the probes' skinny ones).

Predictions checked (accuracies compared by disjoint Clopper-Pearson intervals on the test images, so
every line says what drop it could have detected): (1) the noise probe beats the raw probe in every row;
(2) at initialization every binary zero-shot margin is positive (the reduced model puts ``P(gamma <= 0)``
at ``margin_prediction(784, 512, "l2").p_nonpositive`` = 2.7e-80 per test point at the default width, for
*any* input, since the init's law is rotation invariant; the line prints the value for the width used);
(3) from the lazy rows (init, lazy) to the rich rows the zero-shot accuracy drops ("less separable outside
the lazy regime"), judged beside the learned probe and the LP, which are predicted **not** to drop: for a
two-layer net the input gradients stay in the span of the m rows of W. Nor is the binary FGSM zero-shot
rule predicted to drop: the pixels that never vary in the training set (about 150 of 784 in a 2000-image
subset) receive no gradient, so there ``grad f`` keeps its init value, and its sign there still agrees
with the init direction (measured: on those pixels alone the rule classifies every test noise of the
``rich_x0.03`` row). The lines say "drop observed" / "no drop" against what was predicted; none of them
is a bound, so none reads VIOLATED.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from boundcheck import lazy_radius
from boundcheck.montecarlo import cell_seed
from boundcheck.multiclass import classification_accuracy, init_classifier
from boundcheck.report import StudyResult, verdict_line
from boundcheck.stats import compare_proportions
from boundcheck.study import (ConfigError, Phase, Record, Study, StudyConfig, TupleOf, boolean, choice, nonnegative,
                              nonnegative_int, positive, positive_int, probability, seed_domain, setting, text)
from boundcheck.train import train_gd
from boundcheck import noise_predictions as npred
from boundcheck import noises, probes

NAME = "noise_separability_mnist"
DESCRIPTION = "FGM/FGSM noises on MNIST (10-class, even/odd): probes on noise vs raw pixels, init -> lazy -> rich"

ATTACK = {"l2": "FGM", "linf": "FGSM"}


#: one row of ``nets``: (name, kind, m, steps, lr, init_scale, C0)
_NETS = TupleOf(Record(text, choice("init", "lazy", "free", "rich"), positive_int, nonnegative_int, positive, positive,
                       nonnegative, names=("name", "kind in init/lazy/free/rich", "m > 0", "steps >= 0", "lr > 0",
                                           "init_scale > 0", "C0 >= 0")),
                description="a non-empty tuple of (name, kind, m, steps, lr, init_scale, C0) rows")


@dataclass(frozen=True)
class Config(StudyConfig):
    """Settings of the MNIST noise-separability study.

    ``nets`` rows are ``(name, kind, m, steps, lr, init_scale, C0)``: ``kind`` in {"init", "lazy",
    "free", "rich"}; ``C0`` is the lazy-ball constant (radius ``C0 / sqrt(m)``) for ``"lazy"`` rows and
    ignored otherwise; ``init_scale`` multiplies the ``N(0, I/d)`` first layer.
    """

    tasks: tuple = setting(("10-class", "even-odd"), TupleOf(choice("10-class", "even-odd"), unique=True))
    n_train: int = setting(2000, positive_int)
    n_test: int = setting(1000, positive_int)
    nets: tuple = setting((
        ("init", "init", 512, 0, 1.0, 1.0, 0.0),
        ("lazy_C0=1", "lazy", 512, 100, 1.0, 1.0, 1.0),
        ("free", "free", 512, 100, 1.0, 1.0, 0.0),
        ("free_m64", "free", 64, 100, 1.0, 1.0, 0.0),
        ("free_m64_600st", "free", 64, 600, 1.0, 1.0, 0.0),
        ("free_m64_600st_lr2", "free", 64, 600, 2.0, 1.0, 0.0),
        ("rich_x0.1", "rich", 64, 600, 2.0, 0.1, 0.0),
        ("rich_x0.03", "rich", 64, 600, 4.0, 0.03, 0.0),
    ), _NETS)
    chain: tuple = setting(("free", "free_m64", "free_m64_600st", "free_m64_600st_lr2", "rich_x0.1"), TupleOf(text, min_len=0))
    random_label_nets: tuple = setting(("init", "rich_x0.03"), TupleOf(text, min_len=0))
    hebbian_per_class: int = setting(10, positive_int)
    lam: float = setting(1e-3, positive)
    probe_max_iter: int = setting(200, positive_int)
    lp_time_limit: float = setting(30.0, positive)
    lp_raw_time_limit: float = setting(180.0, positive)
    confidence: float = setting(0.99, probability)
    float32: bool = setting(True, boolean)
    blas_threads: int = setting(1, positive_int)
    seed: int = setting(0, seed_domain)

    def check(self):
        names = [spec[0] for spec in self.nets]
        specs = dict(zip(names, self.nets))
        unknown = [c for c in self.chain if c not in specs]
        if unknown:
            raise ConfigError(f"chain must name rows of nets ({names}), got unknown {unknown}")
        for a, b in zip(self.chain[:-1], self.chain[1:]):
            changed = [i for i in (2, 3, 4, 5) if specs[a][i] != specs[b][i]]
            if len(changed) != 1:
                raise ConfigError(f"chain must change one factor (m, steps, lr or init_scale) at a time; "
                                 f"{a!r} -> {b!r} changes {len(changed)}")

    @classmethod
    def quick(cls) -> "Config":
        return cls(n_train=500, n_test=300,
                   nets=(("init", "init", 128, 0, 1.0, 1.0, 0.0),
                         ("lazy_C0=1", "lazy", 128, 20, 1.0, 1.0, 1.0),
                         ("free", "free", 128, 20, 1.0, 1.0, 0.0),
                         ("free_m32", "free", 32, 20, 1.0, 1.0, 0.0),
                         ("free_m32_150st", "free", 32, 150, 1.0, 1.0, 0.0),
                         ("free_m32_150st_lr2", "free", 32, 150, 2.0, 1.0, 0.0),
                         ("rich_x0.1", "rich", 32, 150, 2.0, 0.1, 0.0)),
                   chain=("free", "free_m32", "free_m32_150st", "free_m32_150st_lr2", "rich_x0.1"),
                   random_label_nets=(), probe_max_iter=100, lp_time_limit=5.0, lp_raw_time_limit=5.0)


# ----------------------------------------------------------------------------------------------- data

@functools.lru_cache(maxsize=2)
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


def _lp_status(X, y, time_limit: float) -> str:
    if len(X) <= probes.cover_capacity(X.shape[1]):
        return "refused (n <= 2(d+1))"
    return probes.lp_separable(X, y, time_limit=time_limit).status


# ----------------------------------------------------------------------------------------------- one net

def _rows_for_net(cfg: Config, task: str, spec, data, raw_probe, lp_raw, rng: np.random.Generator) -> list[dict]:
    name, kind, m, steps, lr, init_scale, C0 = spec
    Xtr, ytr, Xte, yte = data
    n_classes = 10 if task == "10-class" else None
    d = Xtr.shape[1]
    gen_net, gen_lab = rng.spawn(2)  # rng: the engine's, from cell_seed(seed, {task, net})
    net = init_classifier(d, m, n_classes, init_scale=init_scale / math.sqrt(d), rng=gen_net)
    t0 = time.perf_counter()
    radius = lazy_radius(C0, m) if kind == "lazy" else None
    fit = train_gd(net, Xtr, ytr, steps=steps, lr=lr, radius=radius,
                      dtype=np.float32 if cfg.float32 else np.float64)
    train_seconds = time.perf_counter() - t0
    W = fit.W
    base = dict(task=task, net=name, kind=kind, m=m, init_scale=init_scale, steps=steps, lr=lr,
                lazy_C0=C0 if kind == "lazy" else np.nan, lazy_radius=radius if radius is not None else np.nan,
                relative_movement=float(fit.relative_movement[0]), max_row_movement=float(fit.max_row_movement[0]),
                net_train_acc=float(classification_accuracy(net, Xtr, ytr, W)[0]),
                net_test_acc=float(classification_accuracy(net, Xte, yte, W)[0]),
                train_seconds=train_seconds,
                probe_raw_train_acc=raw_probe.train_accuracy, probe_raw_test_acc=raw_probe.test_accuracy,
                lp_raw=lp_raw, d=d, n_test=len(yte))
    V0 = probes.zero_shot_directions(net)
    Vt = probes.zero_shot_directions(net, W)
    label_kinds = ["true"] + (["random"] if name in cfg.random_label_nets else [])
    rows = []
    for noise_labels in label_kinds:
        if noise_labels == "true":
            ltr, lte = ytr, yte
        else:
            ltr = noises.random_labels(len(ytr), n_classes=n_classes, rng=gen_lab)
            lte = noises.random_labels(len(yte), n_classes=n_classes, rng=gen_lab)
        t1 = time.perf_counter()
        noises_tr = noises.one_step_noises(net, Xtr, ltr, eps=1.0, W=W)
        noises_te = noises.one_step_noises(net, Xte, lte, eps=1.0, W=W)
        for norm in ("linf", "l2"):
            Dtr, Dte = noises_tr[norm][0], noises_te[norm][0]
            probe = probes.logistic_probe(Dtr, ltr, Dte, lte, lam=cfg.lam, max_iter=cfg.probe_max_iter,
                                      n_classes=n_classes)
            if n_classes is None:
                k = min(cfg.hebbian_per_class * 2, len(ltr))
                H = probes.hebbian_directions(Dtr[:k], ltr[:k])
                margins = probes.signed_margins(Dte, lte, V0[0])
                lp = _lp_status(Dtr, ltr, cfg.lp_time_limit)
            else:
                k = min(cfg.hebbian_per_class * 10, len(ltr))
                H = probes.hebbian_directions(Dtr[:k], ltr[:k], n_classes=10)
                margins = probes.multiclass_margins(Dte, lte, V0[0])
                lp = "n/a (binary only)"
            rows.append(dict(base, norm=norm, attack=ATTACK[norm], noise_labels=noise_labels,
                             probe_noise_train_acc=probe.train_accuracy, probe_noise_test_acc=probe.test_accuracy,
                             probe_converged=probe.converged,
                             zero_shot_acc=float((margins > 0).mean()),
                             zero_shot_min_margin=float(margins.min()),
                             zero_shot_trained_dirs_acc=float(probes.direction_accuracy(Dte, lte, Vt[0])),
                             hebbian_acc=float(probes.direction_accuracy(Dte, lte, H)), hebbian_n=k,
                             lp_noise=lp, noise_seconds=time.perf_counter() - t1))
            t1 = time.perf_counter()
    return rows


# ----------------------------------------------------------------------------------------------- verdicts, figure

#: the factors that distinguish two nets rows, in the order of a row spec
FACTORS = {"m": 2, "steps": 3, "lr": 4, "init_scale": 5}


def chain_table(table: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """One factor at a time from the lazy to the rich regime: every step of ``cfg.chain``, per task and attack.

    Consecutive nets of the chain differ in exactly one of width, steps, learning rate and init scale
    (checked), so each row says what that one factor does to the zero-shot accuracy, the learned probe and
    the distance travelled. ``*_change`` reads ``higher``/``lower``/``indistinguishable`` (disjoint
    Clopper-Pearson intervals at ``cfg.confidence`` on the test points).
    """
    specs = {s[0]: s for s in cfg.nets}
    rows = []
    true = table[table["noise_labels"] == "true"]
    for a, b in zip(cfg.chain[:-1], cfg.chain[1:]):
        changed = [f for f, i in FACTORS.items() if specs[a][i] != specs[b][i]]
        for (task, norm), g in true.groupby(["task", "norm"], sort=False):
            ra, rb = g[g["net"] == a], g[g["net"] == b]
            if not len(ra) or not len(rb):
                continue
            ra, rb = ra.iloc[0], rb.iloc[0]
            n = int(ra["n_test"])
            row = dict(task=task, attack=ATTACK[norm], step=f"{a} -> {b}", factor=", ".join(changed),
                       factor_from=", ".join(str(specs[a][FACTORS[f]]) for f in changed),
                       factor_to=", ".join(str(specs[b][FACTORS[f]]) for f in changed),
                       relative_movement_from=ra["relative_movement"], relative_movement_to=rb["relative_movement"])
            for col in ("zero_shot_acc", "probe_noise_test_acc", "hebbian_acc"):
                verdict, _, _ = compare_proportions(rb[col], n, ra[col], n, cfg.confidence)
                row.update({f"{col}_from": ra[col], f"{col}_to": rb[col], f"{col}_change": verdict})
            row["lp_noise_from"], row["lp_noise_to"] = ra["lp_noise"], rb["lp_noise"]
            rows.append(row)
    return pd.DataFrame(rows)


def _drop_line(name: str, lazy: pd.DataFrame, rich: pd.DataFrame, col: str, cfg: Config, predicted: bool,
               why: str) -> str:
    """Does ``col`` drop from the lazy rows (init, lazy) to the rich rows? Worst lazy row vs best rich row."""
    lz = lazy.loc[lazy[col].idxmin()]
    rc = rich.loc[rich[col].idxmax()]
    verdict, a, b = compare_proportions(lz[col], int(lz["n_test"]), rc[col], int(rc["n_test"]), cfg.confidence)
    drop = verdict == "higher"
    if drop and predicted:
        status = "drop observed, as predicted"
    elif drop:
        status = f"drop observed, NOT predicted ({why})"
    elif predicted and verdict == "indistinguishable":
        status = "no significant drop: the predicted drop is not seen"
    elif predicted:
        status = "RISES instead of the predicted drop"
    else:
        status = f"no drop, as predicted ({why})" if verdict != "lower" else f"rises ({why})"
    return (f"{name}: {status} (lazy min {lz[col]:.3f} [{float(a.low):.3f}, {float(a.high):.3f}] ({lz['net']}), "
            f"rich max {rc[col]:.3f} [{float(b.low):.3f}, {float(b.high):.3f}] ({rc['net']}); {cfg.confidence:.0%} "
            f"Clopper-Pearson on {int(lz['n_test'])} test points; detectable drop about "
            f"{max(float(a.width), float(b.width)):.3f})")


def _verdicts(table: pd.DataFrame, cfg: Config | None = None) -> list[str]:
    cfg = Config() if cfg is None else cfg
    lines = []
    true = table[table["noise_labels"] == "true"]
    # (1) noise vs raw pixels, by the same probe on the same test images
    counts = {"higher": 0, "lower": 0, "indistinguishable": 0}
    for _, r in true.iterrows():
        counts[compare_proportions(r["probe_noise_test_acc"], int(r["n_test"]), r["probe_raw_test_acc"],
                                   int(r["n_test"]), cfg.confidence)[0]] += 1
    bad = counts["lower"] + counts["indistinguishable"]
    lines.append(verdict_line("noise_probe_beats_raw_probe (disjoint Clopper-Pearson intervals)", len(true), bad)
                 + (f" ({counts['lower']} below, {counts['indistinguishable']} indistinguishable)" if bad else ""))
    lo = float(true["probe_noise_test_acc"].min()) if len(true) else math.nan
    lines.append(f"probe_noise_test_acc: min {lo:.3f} over {len(true)} rows (the learned probe separates the test "
                 f"noises of every net, rich ones included)")
    # (2) at initialization every binary zero-shot margin is positive
    init_bin = true[(true["kind"] == "init") & (true["task"] == "even-odd")]
    if len(init_bin):
        m = int(init_bin["m"].iloc[0])
        p = npred.margin_prediction(int(init_bin["d"].iloc[0]), m, "l2").p_nonpositive
        bad = init_bin["zero_shot_min_margin"] <= 0
        lines.append(verdict_line("binary_init_all_zero_shot_margins_positive", len(init_bin), int(bad.sum()))
                     + f" (reduced model: P(gamma <= 0) = {p:.2g} per test point for FGM at d = 784, m = {m})")
    # (3) lazy -> rich: zero-shot rule, learned probe, LP
    for (task, norm), h in true.groupby(["task", "norm"], sort=False):
        lazy = h[h["kind"].isin(["init", "lazy"])]
        rich = h[h["kind"] == "rich"]
        if not len(lazy) or not len(rich):
            continue
        binary_fgsm = task == "even-odd" and norm == "linf"
        lines.append(_drop_line(f"zero_shot_lazy>rich[{task}, {ATTACK[norm]}]", lazy, rich, "zero_shot_acc", cfg,
                                predicted=not binary_fgsm,
                                why="constant pixels keep the init's gradient sign" if binary_fgsm else ""))
        lines.append(_drop_line(f"probe_lazy>rich[{task}, {ATTACK[norm]}]", lazy, rich, "probe_noise_test_acc", cfg,
                                predicted=False, why="input gradients stay in the span of the m rows of W"))
    # (4) the LP certificate, with its raw-pixel control
    lp_rows = true[true["task"] == "even-odd"]
    if len(lp_rows):
        sep = lp_rows["lp_noise"] == "separable"
        raw = str(lp_rows["lp_raw"].iloc[0])
        if raw == "separable":
            tail = ("the raw-pixel control is LP-separable too on the same images, so exact separability does not "
                    "tell the noises from the pixels here: no power")
        elif raw.startswith("refused"):
            tail = "LP refused here (n_train <= 2(d+1)): no power"
        else:
            tail = f"raw-pixel control: {raw}"
        lines.append(f"lp_noise_separable[even-odd]: separable in {int(sep.sum())} of {len(lp_rows)} rows "
                     f"(rich rows included); {tail}")
    # (5) one factor at a time
    chain = chain_table(table, cfg)
    for (task, attack), g in chain.groupby(["task", "attack"], sort=False):
        moved = g[g["zero_shot_acc_change"] != "indistinguishable"]
        probe_moved = g[g["probe_noise_test_acc_change"] != "indistinguishable"]
        desc = "; ".join(f"{r['factor']} {r['factor_from']}->{r['factor_to']}: {r['zero_shot_acc_from']:.3f}->"
                         f"{r['zero_shot_acc_to']:.3f}" for _, r in moved.iterrows()) or "no factor"
        lines.append(f"one_factor_at_a_time[{task}, {attack}] ({' -> '.join(cfg.chain)}): zero-shot accuracy changes "
                     f"significantly with {desc}; the learned probe with "
                     + ("; ".join(f"{r['factor']} ({r['probe_noise_test_acc_from']:.3f}->"
                                  f"{r['probe_noise_test_acc_to']:.3f})" for _, r in probe_moved.iterrows())
                        or "no factor"))
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

#: columns of the raw-pixel control (one per task), filled in from the "raw" phase
_RAW = ("probe_raw_train_acc", "probe_raw_test_acc", "lp_raw")


class _NoProbe:
    train_accuracy = test_accuracy = math.nan


def _task_data(cfg: Config, task: str):
    Xtr, dtr, Xte, dte, _ = _data(cfg)
    return Xtr, _task_labels(task, dtr), Xte, _task_labels(task, dte)


def raw_grid(config: Config) -> dict:
    return {"task": config.tasks}


def raw_cell(coords: dict, rng: np.random.Generator, settings: Config) -> dict:
    """The raw-pixel control of one task: the same probe and the LP on the centred pixels."""
    from threadpoolctl import threadpool_limits

    Xtr, ytr, Xte, yte = _task_data(settings, coords["task"])
    n_classes = 10 if coords["task"] == "10-class" else None
    with threadpool_limits(settings.blas_threads, user_api="blas"):
        raw = probes.logistic_probe(Xtr, ytr, Xte, yte, lam=settings.lam, max_iter=settings.probe_max_iter,
                                    n_classes=n_classes)
        lp_raw = _lp_status(Xtr, ytr, settings.lp_raw_time_limit) if n_classes is None else "n/a (binary only)"
    return dict(probe_raw_train_acc=raw.train_accuracy, probe_raw_test_acc=raw.test_accuracy, lp_raw=lp_raw)


def net_grid(config: Config) -> dict:
    return {"task": config.tasks, "net": [spec[0] for spec in config.nets]}


def net_cell(coords: dict, rng: np.random.Generator, settings: Config) -> pd.DataFrame:
    """One (task, net) cell: train the net, then its noises and probes (the raw control comes from "raw")."""
    from threadpoolctl import threadpool_limits

    spec = {s[0]: s for s in settings.nets}[coords["net"]]
    with threadpool_limits(settings.blas_threads, user_api="blas"):
        rows = _rows_for_net(settings, coords["task"], spec, _task_data(settings, coords["task"]), _NoProbe(),
                             "", rng)
    return pd.DataFrame(rows).drop(columns=["task", "net", *_RAW])


def build(tables: dict, config: Config) -> StudyResult:
    cfg = config
    raw = tables["raw"].set_index("task")
    table = tables["main"].copy()
    for col in _RAW:
        table[col] = table["task"].map(raw[col])
    first = [c for c in table.columns if c not in _RAW]
    at = first.index("d") if "d" in first else len(first)
    table = table[first[:at] + list(_RAW) + first[at:]]
    Xtr, _, _, _, source = _data(cfg)
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
    return StudyResult(name=NAME, table=table, verdicts=_verdicts(table, cfg),
                       figures={"accuracy_vs_movement": _figure(table)},
                       extra_tables={"one_factor_at_a_time": chain_table(table, cfg)}, notes=notes)


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, build=build,
              phases=(Phase("raw", raw_grid, raw_cell), Phase("main", net_grid, net_cell)),
              timing_columns=("train_seconds", "noise_seconds"))  # in timings.json, not the tables
run, report = STUDY.run, STUDY.report
