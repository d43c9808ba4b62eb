"""Speed-up of a sweep on local worker processes, measured as ratios within one run.

Runs the same sweep (cells doing real BLAS work: chains of matrix products) three ways and prints the wall
times and the speed-ups against one worker with one BLAS thread:

- 1 worker (in-process), 1 BLAS thread per cell;
- 1 worker (in-process), 2 BLAS threads per cell (parallelism inside BLAS);
- 2 worker processes, 1 BLAS thread each (parallelism across cells; includes starting the workers).

It checks that the tables of 1 and 2 workers are identical, and prints how far the 2-thread table is
from them (OpenBLAS rounds some products differently with another thread count). Usage::

    python benchmarks/bench_sweep.py [--cells 8] [--size 400] [--products 80] [--workers 2]

Timings on a machine shared with other work are only meaningful next to its load: the script prints the
load average before and after, and the start-up time of the worker processes (spawned interpreters that
import numpy, pandas and boundcheck), with the speed-up computed with and without it.

Then it times a real study's default sweep (``--study``, default ``lemma_sign_flips``: 28 cells) with 1
and 2 workers and checks the tables are identical.

Measured 2026-11-22 on the project's 2-core build machine (Linux, Python 3.11, numpy 2.4 with OpenBLAS
0.3.31 SkylakeX), defaults, load average about 1:

=====================================  ========  ========
run                                    time (s)  speed-up
=====================================  ========  ========
toy sweep, 1 worker, 1 thread          2.42      1.00
toy sweep, 1 worker, 2 threads         1.35      1.80
toy sweep, 2 workers, 1 thread each    2.93      0.83  (1.5 s of it is starting the workers)
lemma_sign_flips default, 1 worker     44.6      1.00
lemma_sign_flips default, 2 workers    23.5      1.90  (identical tables)
=====================================  ========  ========
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from boundcheck.montecarlo import run_sweep  # noqa: E402


def matmul_cell(coords, rng):
    """Real numpy work: a chain of ``products`` products of ``size x size`` matrices (a power iteration)."""
    n, k = coords["size"], coords["products"]
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    B = rng.standard_normal((n, n))
    growth = 0.0
    for _ in range(k):
        B = A @ B
        scale = float(np.abs(B).max())
        growth += np.log(scale)
        B /= scale
    return {"log_growth_per_product": growth / k, "trace": float(np.trace(B))}


def noop_cell(coords, rng):
    """No work: times the start-up of the worker processes."""
    return {"x": float(rng.random())}


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=8, help="number of cells (default 8)")
    parser.add_argument("--size", type=int, default=400, help="matrix size (default 400)")
    parser.add_argument("--products", type=int, default=80, help="matrix products per cell (default 80)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the parallel run")
    parser.add_argument("--seed", type=int, default=2022)
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    parser.add_argument("--study", default="lemma_sign_flips",
                        help="a study whose default sweep is also timed with 1 and 2 workers ('' to skip)")
    args = parser.parse_args(argv)

    grid = {"cell": list(range(args.cells)), "size": [args.size], "products": [args.products]}
    runs = [("1 worker, 1 thread", dict(workers=1, threads_per_worker=1)),
            ("1 worker, 2 threads", dict(workers=1, threads_per_worker=2)),
            (f"{args.workers} workers, 1 thread each", dict(workers=args.workers, threads_per_worker=1))]
    print(f"{args.cells} cells of {args.products} products of {args.size} x {args.size} matrices; "
          f"{os.cpu_count()} CPUs; load average {_load()}", flush=True)
    tables, times = [], []
    for label, kwargs in runs:
        start = time.perf_counter()
        tables.append(run_sweep(matmul_cell, grid, seed=args.seed, progress=args.progress, **kwargs))
        times.append(time.perf_counter() - start)
        print(f"  {label:<28} {times[-1]:7.2f} s   speed-up {times[0] / times[-1]:5.2f}", flush=True)
    start = time.perf_counter()
    run_sweep(noop_cell, {"cell": list(range(args.workers))}, seed=0, workers=args.workers, progress=False)
    startup = time.perf_counter() - start
    print(f"  start-up of {args.workers} workers (empty cells): {startup:.2f} s; speed-up without it: "
          f"{times[0] / max(times[2] - startup, 1e-9):.2f}")
    print(f"load average after: {_load()}")
    identical = tables[2].equals(tables[0])
    num = ["log_growth_per_product", "trace"]
    rel = float(((tables[1][num] - tables[0][num]).abs() / tables[0][num].abs()).max().max())
    print(f"tables identical, 1 vs {args.workers} workers: {identical}")
    print(f"max relative difference, 1 vs 2 BLAS threads: {rel:.1e} (BLAS rounding; see boundcheck.montecarlo)")
    print(f"speed-up with {args.workers} workers: {times[0] / times[2]:.2f}")
    if args.study:
        identical &= study_speedup(args.study, args.workers)
    return 0 if identical else 1


def study_speedup(name: str, workers: int) -> bool:
    """Time a study's default sweep with 1 and ``workers`` workers, in fresh output folders."""
    import tempfile

    from boundcheck.cli import run_study

    times, tables = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for w in (1, workers):
            start = time.perf_counter()
            result, _ = run_study(name, out=f"{tmp}/{w}", workers=w, quiet=True)
            times.append(time.perf_counter() - start)
            tables.append(result.table)
    same = tables[0].equals(tables[1])
    print(f"study {name}, default sweep: 1 worker {times[0]:.1f} s, {workers} workers {times[1]:.1f} s, "
          f"speed-up {times[0] / times[1]:.2f}; tables identical: {same}")
    return same


if __name__ == "__main__":
    raise SystemExit(main())
