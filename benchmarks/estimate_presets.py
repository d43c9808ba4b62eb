"""Rough wall time of every study's ``--paper`` preset from two timed cells per sweep (nothing long is run).

For each study with a ``paper()`` preset and each of its sweeps (phases), the grid's cells are ordered by
the product of their numeric coordinates (widths, dimensions, C0, ... : a proxy for their cost); the
cheapest and the costliest are each run once, in a subprocess with one BLAS thread and a time limit. The
estimate for ``n`` cells and ``w`` workers is ``n * sqrt(t_min * t_max) / w``, with the range
``[n t_min / w, n t_max / w]``; a cell that hits the time limit gives a lower bound only. Each cell's time
is divided by the load factor measured around it (a 1000^3 float64 GEMM against 2e9 / 70 GFLOP/s, one
quiet core of this machine), so the estimates are for quiet cores.

The two MNIST studies have cost models of their own: ``benchmarks/estimate_paper_time.py`` (mnist_lazy_sgd)
and the note in docs/speed.md (mnist_adversarial_training). They are skipped here unless named.

Run: ``python benchmarks/estimate_presets.py [--workers 2] [--limit 300] [study ...]``.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys

CHILD = r"""
import sys, time
import numpy as np
from threadpoolctl import threadpool_limits
from boundcheck.cli import load_study
from boundcheck._cells import Grid
name, phase_name, index = sys.argv[1], sys.argv[2], int(sys.argv[3])
study = load_study(name).STUDY
cfg = study.Config.paper()
phase = [p for p in study.phases if p.name == phase_name][0]
g = phase.grid(cfg)
g = g if isinstance(g, Grid) else Grid(g)
coords = g[index]
A = np.random.default_rng(0).random((1000, 1000))
def gemm_seconds():
    t = time.perf_counter()
    A @ A
    return time.perf_counter() - t
with threadpool_limits(1):
    g0 = min(gemm_seconds() for _ in range(3))
    t = time.perf_counter()
    phase.cell(coords, np.random.default_rng(0), cfg)
    t = time.perf_counter() - t
    g1 = min(gemm_seconds() for _ in range(3))
print(t, (g0 + g1) / 2)
"""


QUIET_RATE = 70e9  # float64 GEMM FLOP/s of one quiet core of this machine (issue 12)


def cost_proxy(coords) -> float:
    p = 1.0
    for v in coords.values():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            p *= float(v)
    return p


def timed(name, phase, index, limit):
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, name, phase, str(index)], capture_output=True, text=True,
                             timeout=limit)
    except subprocess.TimeoutExpired:
        return math.inf
    if out.returncode:
        raise RuntimeError(f"{name}/{phase} cell {index} failed:\n{out.stderr[-2000:]}")
    seconds, gemm = (float(v) for v in out.stdout.strip().splitlines()[-1].split())
    # quiet-machine equivalent: a 1000^3 float64 GEMM takes 2e9 / QUIET_RATE seconds on a quiet core
    return seconds / max(1.0, gemm / (2e9 / QUIET_RATE))


def fmt(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "inf"
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("studies", nargs="*")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=float, default=300.0, help="seconds per timed cell")
    args = parser.parse_args()
    from boundcheck._cells import Grid
    from boundcheck.cli import discover_studies, load_study

    names = args.studies or [n for n in sorted(discover_studies()) if not n.startswith("mnist_")]
    for name in names:
        try:
            study = load_study(name).STUDY
        except Exception as exc:  # a study that does not import is reported, not fatal
            print(f"{name}: could not load ({type(exc).__name__}: {exc})", flush=True)
            continue
        if not study.has_paper:
            print(f"{name}: no --paper preset", flush=True)
            continue
        cfg = study.Config.paper()
        total_lo = total_mid = total_hi = 0.0
        parts = []
        for phase in study.phases:
            g = phase.grid(cfg)
            g = g if isinstance(g, Grid) else Grid(g)
            cells = list(g)
            order = sorted(range(len(cells)), key=lambda i: cost_proxy(cells[i]))
            try:
                t_min = timed(name, phase.name, order[0], args.limit)
                t_max = t_min if len(cells) == 1 else timed(name, phase.name, order[-1], args.limit)
            except RuntimeError as exc:
                print(f"{name}: {exc}", flush=True)
                break
            n = len(cells)
            lo, hi = n * t_min / args.workers, n * t_max / args.workers
            mid = n * math.sqrt(t_min * t_max) / args.workers if math.isfinite(t_max) else math.inf
            total_lo, total_mid, total_hi = total_lo + lo, total_mid + mid, total_hi + hi
            parts.append(f"{phase.name}: {n} cells, cheapest {t_min:.1f} s ({cells[order[0]]}), costliest "
                         + (f"{t_max:.1f} s" if math.isfinite(t_max) else f"> {args.limit:.0f} s")
                         + f" ({cells[order[-1]]})")
        print(f"{name}: about {fmt(total_mid)} (range {fmt(total_lo)} to "
              + (fmt(total_hi) if math.isfinite(total_hi) else f"more than {fmt(total_lo)}")
              + f"), {args.workers} workers; " + "; ".join(parts), flush=True)


if __name__ == "__main__":
    main()
