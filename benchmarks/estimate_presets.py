"""Estimated time of every study's default and ``--paper`` preset, from cells timed at reduced sizes.

Nothing long is run. For each (study, preset) the config is built (``STUDY.config()`` / ``.paper()``), its
grid enumerated, and a few representative cells (spread over the grid ordered by the product of the size
coordinates named in ``SPECS``: widths, dimensions, depths) are run twice at reduced repetition counts:
every field in ``scale`` is set to a fraction ``k1`` and then ``k2 = 2 k1`` of its preset value (e.g. the
number of Monte Carlo samples or inits, or the epochs). Each cell's cost is fitted as ``t(k) = a + b k``
(a fixed part: data, init, JIT-warm set-up, evaluation; a part linear in the repetitions) and extrapolated
to ``k = 1``. Cells not timed get the time of the timed cells with the same size coordinates, or a
log-log interpolation in the product of the size coordinates between the nearest timed ones. One cell is
also run at its full preset size where that is affordable, to check the model.

Timings are CPU seconds of the child process (``time.process_time``) with BLAS and Numba pinned to one
thread, so other processes on a loaded machine do not inflate them. The wall time on ``w`` cores is
``max(sum / w, largest cell)``: the engine runs the cells in ``--workers w`` processes of one BLAS thread
each (every study here runs its cells through the engine, so ``--workers 2`` applies to all of them).

Run: ``python benchmarks/estimate_presets.py [--workers 2] [--limit 120] [study[:preset] ...]``.
Results (one JSON line per preset) are appended to ``--out`` when given.

``--model`` prints instead what the studies' own cost models say (``Study.estimate``: the phases' ``cost``
functions, the estimate a run announces before its first cell), for every study and preset, in seconds;
nothing is run besides a 20 ms GEMM that measures the core's rate. ``--check N`` then times the N costliest
cells that the model puts under ``--limit / 4`` seconds at their preset size, and prints measured over
modelled CPU seconds for each (the model's calibration on this machine now).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

#: per (study, preset): the fields scaled by k (cost assumed linear in them), k1 (k2 = 2 k1), the size
#: coordinates that order/interpolate the cells, how many cells to time, and the note on what k = 1 means.
SPECS = {
    ("lemma_f_range", "paper"): dict(scale=("n_samples",), k1=0.01, sizes=("m",), sample=8),
    ("lemma_sign_flips", "paper"): dict(scale=("n_samples",), k1=0.01, sizes=("m",), sample=8),
    ("theorem_one_step", "paper"): dict(scale=("n_inits", "n_adversary"), k1=0.02, sizes=("d", "m"), sample=8),
    ("theorem_one_step", "default"): dict(scale=("n_inits", "n_adversary"), k1=0.25, sizes=("d", "m"), sample=5),
    ("corollary_robust_error", "paper"): dict(scale=("n_test", "n_calibration", "train_epochs"), k1=0.05, sizes=("d",),
                                              sample=2),
    ("corollary_robust_error", "default"): dict(scale=("n_test", "n_calibration", "train_epochs"), k1=0.1, sizes=("d",),
                                                sample=2),
    ("deep_lazy_mnist", "paper"): dict(scale=("epochs",), k1=0.001, sizes=("size", "depth", "C0"), sample=4,
                                       cap=True),
    ("deep_lazy_mnist", "default"): dict(scale=("epochs",), k1=0.05, sizes=("size", "depth", "C0"), sample=4,
                                         cap=True),
    ("deep_one_step", "paper"): dict(scale=("n_inits",), k1=0.125, sizes=("d", "depth"), sample=8),
    ("deep_one_step", "default"): dict(scale=("n_inits",), k1=0.25, sizes=("d", "depth"), sample=6),
    ("smooth_one_step", "paper"): dict(scale=("n_inits",), k1=0.125, sizes=("d", "depth"), sample=8),
    ("smooth_one_step", "default"): dict(scale=("n_inits",), k1=0.25, sizes=("d", "depth"), sample=6),
    ("minimal_perturbation", "paper"): dict(scale=("n_inits",), k1=0.2, sizes=("d", "m"), sample=8),
    ("robust_beyond_lazy", "paper"): dict(scale=("n_inits",), k1=0.25, sizes=("m",), sample=4),
    ("noise_separability_synthetic", "default"): dict(scale=("n_nets",), k1=0.1, sizes=("d", "m"), sample=6),
    ("mnist_lazy_sgd", "default"): dict(scale=("epochs",), k1=0.01, sizes=("d", "m"), sample=6, cap=True),
    ("mnist_adversarial_training", "default"): dict(scale=("epochs",), k1=0.1, sizes=("d", "m"), sample=4,
                                                    cap=True),
    ("noise_separability_mnist", "default"): dict(scale=(), k1=1.0, sizes=(), sample=3),
}

CHILD = r"""
import json, os, sys, time, dataclasses
from threadpoolctl import threadpool_limits
import numpy as np
from boundcheck.cli import load_study
from boundcheck._cells import Grid
job = json.loads(sys.argv[1])
study = load_study(job["study"]).STUDY
cfg = study.Config.paper() if job["preset"] == "paper" else study.Config()
phase = [p for p in study.phases if p.name == job["phase"]][0]
g = phase.grid(cfg); cells = list(g if isinstance(g, Grid) else Grid(g))
with threadpool_limits(1):
    for i, over in job["runs"]:
        c = dataclasses.replace(cfg, **over) if over else cfg
        t = time.process_time()
        phase.cell(cells[i], np.random.default_rng(0), c)
        print(json.dumps([i, over, time.process_time() - t]), flush=True)
"""


def _child(job, limit):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1")
    out = []
    try:
        p = subprocess.run([sys.executable, "-c", CHILD, json.dumps(job)], capture_output=True, text=True,
                           timeout=limit, env=env)
        stdout, err = p.stdout, (p.stderr[-1500:] if p.returncode else "")
    except subprocess.TimeoutExpired as exc:
        stdout, err = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or ""), "timeout"
    for line in stdout.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out, err


def _proxy(coords, sizes):
    return math.prod(float(coords[s]) for s in sizes)


def full_times(cells, sizes, timed):
    """Full-size time of every cell from ``timed`` ({cell index: seconds}): the timed cells themselves; a
    cell with the size coordinates of timed ones, their geometric mean; a cell between two timed sizes, a
    log-log interpolation in the product of the size coordinates; a cell beyond the costliest (or below
    the cheapest) timed size, that cell's time scaled linearly in the product (cost ~ d m, GEMM-bound)."""
    pts = sorted((_proxy(cells[i], sizes), t) for i, t in timed.items())
    xs = [math.log(p) for p, _ in pts]
    ys = [math.log(max(t, 1e-6)) for _, t in pts]
    out = []
    for i in range(len(cells)):
        if i in timed:
            out.append(timed[i])
            continue
        x = math.log(_proxy(cells[i], sizes))
        same = [y for xx, y in zip(xs, ys) if xx == x]
        if same:
            y = sum(same) / len(same)
        elif x < xs[0] or x > xs[-1]:
            j = 0 if x < xs[0] else len(xs) - 1
            y = ys[j] + (x - xs[j])
        else:
            j = next(j for j in range(len(xs)) if xs[j] > x)
            y = ys[j - 1] + (x - xs[j - 1]) / (xs[j] - xs[j - 1]) * (ys[j] - ys[j - 1])
        out.append(math.exp(y))
    return out


def _reduced(cfg, fields, k):
    return {f: max(1, round(getattr(cfg, f) * k)) for f in fields}


def estimate(name, preset, spec, workers=2, limit=120.0, log=print):
    from boundcheck._cells import Grid
    from boundcheck.cli import load_study

    study = load_study(name).STUDY
    cfg = study.Config.paper() if preset == "paper" else study.Config()
    k1 = spec["k1"]
    res = {"study": name, "preset": preset, "phases": {}, "sum_s": 0.0, "max_s": 0.0, "notes": []}
    for phase in study.phases:
        g = phase.grid(cfg)
        cells = list(g if isinstance(g, Grid) else Grid(g))
        sizes = [s for s in spec["sizes"] if s in cells[0]]
        order = sorted(range(len(cells)), key=lambda i: _proxy(cells[i], sizes))
        n = min(spec["sample"], len(cells))
        picked = sorted({order[round(j * (len(cells) - 1) / max(1, n - 1))] for j in range(n)},
                        key=lambda i: _proxy(cells[i], sizes))
        r1, r2 = _reduced(cfg, spec["scale"], k1), _reduced(cfg, spec["scale"], 2 * k1)
        f0 = spec["scale"][0] if spec["scale"] else None
        ka, kb = (r1[f0] / getattr(cfg, f0), r2[f0] / getattr(cfg, f0)) if f0 else (1.0, 1.0)
        runs = [[picked[0], r1]]  # warm-up (imports, JIT), discarded
        for i in picked:
            runs += [[i, r1], [i, r2]] if spec["scale"] else [[i, r1]]
        rows, err = _child({"study": name, "preset": preset, "phase": phase.name, "runs": runs}, limit)
        rows = rows[1:]
        fitted = {}
        for i in picked:
            t = {json.dumps(o, sort_keys=True): s for j, o, s in rows if j == i}
            t1, t2 = t.get(json.dumps(r1, sort_keys=True)), t.get(json.dumps(r2, sort_keys=True))
            if t1 is None or t2 is None:
                continue
            if not f0:  # timed at full size: nothing to extrapolate
                fitted[i] = (t1, 0.0, t1, t1)
                continue
            b = max(0.0, (t2 - t1) / (kb - ka))
            a = max(0.0, t1 - b * ka)
            fitted[i] = (a, b, t1, t2)
        if not fitted:
            res["phases"][phase.name] = {"cells": len(cells), "error": err or "no cell finished"}
            res["sum_s"] = math.inf
            log(f"{name} {preset} {phase.name}: no timed cell ({err[:200]})")
            continue
        times = full_times(cells, sizes, {i: sum(f[:2]) for i, f in fitted.items()})
        ph = {"cells": len(cells), "sum_s": sum(times), "max_s": max(times), "reduced": [r1, r2],
              "timed": {json.dumps(cells[i]): {"a": a, "b": b, "t_k1": t1, "t_k2": t2}
                        for i, (a, b, t1, t2) in fitted.items()}}
        if err:
            ph["incomplete"] = err[:300]
        res["phases"][phase.name] = ph
        res["sum_s"] += ph["sum_s"]
        res["max_s"] = max(res["max_s"], ph["max_s"])
        # validate: the costliest timed cell that the model says is affordable at full size
        cheap = [i for i in fitted if sum(fitted[i][:2]) < limit / 4]
        i0 = max(cheap, key=lambda i: sum(fitted[i][:2])) if cheap else None
        pred = sum(fitted[i0][:2]) if cheap else math.inf
        if cheap and f0:
            v, verr = _child({"study": name, "preset": preset, "phase": phase.name,
                              "runs": [[i0, r1], [i0, {}]]}, limit)
            if len(v) == 2:
                ph["validation"] = {"cell": cells[i0], "predicted_s": pred, "measured_s": v[1][2]}
        log(f"{name} {preset} {phase.name}: {len(cells)} cells, {len(fitted)} timed, sum {ph['sum_s']:.0f} CPU s, "
            f"largest {ph['max_s']:.0f} s; validation {ph.get('validation')}" + (f"; {err[:120]}" if err else ""))
    res["wall_s"] = max(res["sum_s"] / workers, res["max_s"])
    res["workers"] = workers
    res["cap"] = bool(spec.get("cap"))
    return res


def model_table(workers: int, targets=(), check: int = 0, limit: float = 120.0, log=print) -> list[dict]:
    """Every study's cost-model estimate (default and --paper), and optionally a timed check of a few cells."""
    from boundcheck._cells import Grid
    from boundcheck.cli import list_studies, load_study

    rows = []
    for name in list_studies():
        study = load_study(name).STUDY
        for preset in ("default", "paper"):
            if targets and name not in targets and f"{name}:{preset}" not in targets:
                continue
            if preset == "paper" and not study.has_paper:
                continue
            cfg = study.Config.paper() if preset == "paper" else study.Config()
            if all(p.cost is None for p in study.phases):
                rows.append({"study": name, "preset": preset, "model": None})
                log(f"{name} {preset}: no cost model (the run's estimate comes from its first timed cells)")
                continue
            est = study.estimate(cfg, workers=workers)
            row = {"study": name, "preset": preset, "wall_s": est["wall_s"], "phases": est["phases"], "checks": []}
            for phase in study.phases:
                if not check or phase.cost is None:
                    continue
                g = phase.grid(cfg)
                cells = list(g if isinstance(g, Grid) else Grid(g))
                costs = [phase.cost(dict(c), settings=cfg) for c in cells]
                cheap = sorted((i for i in range(len(cells)) if costs[i] < limit / 4), key=lambda i: -costs[i])
                runs = [[i, {}] for i in cheap[:check]]
                if not runs:
                    continue
                out, err = _child({"study": name, "preset": preset, "phase": phase.name, "runs": [runs[0]] + runs},
                                  limit)
                for i, _, seconds in out[1:]:
                    row["checks"].append({"phase": phase.name, "cell": cells[i], "model_s": costs[i],
                                          "measured_s": seconds, "ratio": seconds / costs[i]})
            rows.append(row)
            wall = "n/a" if est["wall_s"] is None else fmt(est["wall_s"])
            log(f"{name} {preset}: {wall} on {workers} cores (cost model)" + "".join(
                f"; {c['phase']} {json.dumps(c['cell'])}: measured {c['measured_s']:.1f} s, model {c['model_s']:.1f} s"
                for c in row["checks"]))
    return rows


def fmt(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "not bounded"
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", help="study or study:preset (default: every entry of SPECS)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=float, default=120.0, help="CPU-bound wall seconds per child process")
    parser.add_argument("--out", help="append one JSON line per preset to this file")
    parser.add_argument("--model", action="store_true", help="print the studies' own cost-model estimates")
    parser.add_argument("--check", type=int, default=0, help="with --model: time this many cells per phase")
    args = parser.parse_args()
    if args.model:
        with_threads = dict(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        os.environ.update(with_threads)
        rows = model_table(args.workers, args.targets, args.check, args.limit)
        if args.out:
            with open(args.out, "a") as fh:
                for row in rows:
                    fh.write(json.dumps(row) + "\n")
        return
    keys = list(SPECS)
    if args.targets:
        keys = [k for k in SPECS if k[0] in args.targets or f"{k[0]}:{k[1]}" in args.targets]
    for name, preset in keys:
        try:
            res = estimate(name, preset, SPECS[name, preset], args.workers, args.limit)
        except Exception as exc:  # a study that does not import or run is reported, not fatal
            print(f"{name} {preset}: failed ({type(exc).__name__}: {exc})", flush=True)
            continue
        print(f"==> {name} {preset}: about {fmt(res['wall_s'])} on {args.workers} cores"
              + (" (at the epoch cap: an upper bound)" if res["cap"] else ""), flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
