"""Monte Carlo engine: sweeps of a cell function over a grid, resumable through a store.

The sweep engine: :func:`run_sweep` runs a cell function on every cell of a :class:`Grid` (seeded by
:func:`cell_seed` from the sweep seed and the cell's coordinates only; both live in
:mod:`boundcheck._cells`, the statistics in :mod:`boundcheck.stats`, re-exported here) in-process, on
local worker processes, or on a Dask cluster, optionally storing each finished cell in a
:class:`boundcheck.store.ResultStore` so that an interrupted sweep resumes where it stopped.

Determinism
-----------
The table returned by :func:`run_sweep` depends only on the cell function, the grid and the sweep seed: not
on the number of workers, the order in which cells finish, the scheduler, or whether the sweep was
interrupted and resumed. Each cell draws from ``numpy.random.default_rng(cell_seed(seed, coords))``; the
results are put through one canonical (JSON-exact) form whether or not they were stored; and the table is
sorted in grid order. The thread count (``threads_per_worker``) is different: it does not change the seeds or the draws,
but a threaded library may round differently with another number of threads. OpenBLAS 0.3.31 does: some
matrix products differ in the last bits (relative ~3e-15) between 1 and 2 threads, while each thread count
is deterministic from run to run. So keep ``threads_per_worker`` fixed (the default, 1) when tables must
agree bit for bit; a resume with another thread count warns. Numba kernels with parallel reductions
(``prange`` with ``+=``) have the same caveat.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import sys
import time
import uuid
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from ._cells import (Grid, _assemble, _canonical_json, _canonical_result, _check_sweep_seed,  # noqa: F401
                     _seed_descriptor, cell_seed, coords_key)
from ._validate import check_int, check_real
from .errors import UserError
from .stats import (Description, ExponentFit, Interval, ViolationSummary, clopper_pearson,  # noqa: F401
                    describe, fit_exponent, fit_exponents, mean_interval, summarize, tightness,
                    violation_summary)
from .store import ResultStore, sweep_digest

__all__ = [
    "Interval",
    "ViolationSummary",
    "ExponentFit",
    "Description",
    "clopper_pearson",
    "violation_summary",
    "tightness",
    "fit_exponent",
    "describe",
    "mean_interval",
    "summarize",
    "fit_exponents",
    "Grid",
    "cell_seed",
    "coords_key",
    "run_sweep",
    "SweepCellError",
    "gemm_rate",
    "gemm_seconds",
]


# --------------------------------------------------------------------------------------------------------
# Running cells
# --------------------------------------------------------------------------------------------------------

class SweepCellError(RuntimeError):
    """A cell function raised; ``coords`` names the cell, the original exception is the ``__cause__``."""

    def __init__(self, message: str, coords: Mapping):
        super().__init__(message)
        self.coords = dict(coords)

    def __reduce__(self):
        return (type(self), (self.args[0], self.coords))


@contextlib.contextmanager
def _thread_limits(threads: int | None):
    """Limit BLAS/OpenMP (threadpoolctl) and Numba threads to ``threads`` in this block, then restore.

    threadpoolctl limits are process-wide; Numba's are per calling thread. ``None`` changes nothing.
    """
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a dependency
            yield
            return
        previous = numba.get_num_threads()
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        try:
            yield
        finally:
            numba.set_num_threads(previous)


def _run_cell(cell_fn: Callable, coords: dict, seed: np.random.SeedSequence, threads: int | None):
    """Run one cell (in any process); return ``(canonical result, elapsed seconds)``."""
    start = time.perf_counter()
    with _thread_limits(threads):
        try:
            result = cell_fn(dict(coords), np.random.default_rng(seed))
            canonical = _canonical_result(result, tuple(coords))
        except Exception as exc:
            raise SweepCellError(f"cell {coords} failed: {type(exc).__name__}: {exc}", coords) from exc
    return canonical, time.perf_counter() - start


_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
               "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS")


def _exit_when_orphaned(parent_pid: int, interval: float) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent_pid:  # the sweep process died (e.g. SIGKILL): do not linger
            os._exit(70)


def _worker_init(threads: int | None, parent_pid: int | None = None) -> None:
    """Process-pool initializer: cap the thread pools of libraries that the worker has not loaded yet, and
    exit when the sweep process dies (a killed parent would otherwise leave its workers waiting forever)."""
    if threads is not None:
        for var in _THREAD_ENV:
            os.environ[var] = str(threads)
        # Numba read NUMBA_NUM_THREADS when the worker imported it (while unpickling this initializer), so
        # its config still says the machine's count. A kernel loaded from Numba's disk cache launches the
        # thread pool with that count without re-reading the environment, and the next compilation then
        # refuses the changed value ("Cannot set NUMBA_NUM_THREADS ... once the threads have been
        # launched"). Re-read the configuration now, before any thread is launched.
        numba_config = sys.modules.get("numba.core.config")
        if numba_config is not None:
            numba_config.reload_config()
    if os.name == "posix":  # Ctrl-C reaches the whole process group: the sweep process alone handles it
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent_pid is not None and os.name == "posix":
        import threading

        threading.Thread(target=_exit_when_orphaned, args=(parent_pid, 0.5), daemon=True,
                         name="boundcheck-orphan-watch").start()


def _callable_name(fn, *, module: bool = True) -> str:
    """``module:qualname`` of a function (``qualname`` alone with ``module=False``)."""
    base = getattr(fn, "func", fn)  # functools.partial
    name = getattr(base, "__qualname__", type(base).__name__)
    if module:
        name = f"{getattr(base, '__module__', '?')}:{name}"
    return name + ("(partial)" if base is not fn else "")


def run_sweep(cell_fn: Callable, grid, *, seed, store=None, workers: int = 1, scheduler=None,
              progress: bool = True, threads_per_worker: int | None = 1, config: Mapping | None = None,
              overwrite: bool = False, connect_timeout: float | None = None, command: str | None = None,
              label: str = "sweep", announce_after: float | None = 120.0,
              cell_cost: Callable | None = None) -> pd.DataFrame:
    """Run ``cell_fn`` on every cell of ``grid`` and return the tidy table of results.

    Parameters
    ----------
    cell_fn : callable
        ``cell_fn(coords: dict, rng: numpy.random.Generator) -> dict | DataFrame``. A dict of scalars is one
        row; a DataFrame is several rows (e.g. one per init and point; its index is dropped). Result
        columns must not reuse the coordinate names. Must be picklable (a module-level function) when
        ``workers > 1`` or with a process-based Dask cluster. It must draw all its randomness from ``rng``.
    grid : Grid or mapping of str to sequence
        The parameter grid.
    seed : int or numpy.random.SeedSequence
        The sweep seed (required: see :func:`cell_seed`).
    store : ResultStore or str or path-like, optional
        Where finished cells are written, one file each, atomically. Cells already in the store are not
        run again, so rerunning an interrupted sweep with the same arguments resumes it.
    workers : int
        1 (default) runs the cells in this process. More uses that many local worker processes
        (:class:`concurrent.futures.ProcessPoolExecutor`, spawn start method). With ``scheduler="local"``,
        the number of Dask workers; ignored for an existing cluster.
    scheduler : None, "local", str or distributed.Client
        None: local processes as above. ``"local"``: a ``distributed.LocalCluster`` of ``workers``
        single-threaded worker processes, closed at the end. Any other string: the address of a running
        Dask scheduler (e.g. ``"tcp://10.0.0.1:8786"``). A ``distributed.Client``: used as is, not closed.
        Dask is optional (``pip install boundcheck[dask]``).
    progress : bool
        Show a progress bar (cells done / total, time left) on stderr. False for scripts.
    threads_per_worker : int or None
        BLAS/OpenMP and Numba threads allowed inside each cell (threadpoolctl and
        :func:`numba.set_num_threads`, restored afterwards), so that ``workers x threads`` does not
        oversubscribe the cores. None leaves the libraries alone.
    config : mapping, optional
        Anything else that determines the results (e.g. the study's fixed settings), as JSON-able values.
        Stored in the manifest and in every cell; resuming with a different ``config``, ``seed`` or
        ``cell_fn`` name (its qualified name; the module may differ, e.g. ``__main__``) is refused unless
        ``overwrite=True``.
    overwrite : bool
        With a store holding a different configuration: discard its cells and start afresh.
    connect_timeout : float, optional
        Seconds to wait for a Dask scheduler given by address (default 10); an unreachable one raises
        :class:`boundcheck.errors.UserError` within about that time.
    command : str, optional
        The command line that runs the sweep, recorded in the store's manifest (so that a partial store can
        say how to complete it).
    label : str
        The progress bar's label.
    announce_after : float or None
        With ``progress``: if the sweep is estimated to take more than this many seconds, print one line
        with the estimate (the bar shows the time left too). The estimate comes from ``cell_cost`` before
        the first cell runs when it is given, and again once the first cells have been timed. None never
        prints.
    cell_cost : callable, optional
        ``cell_cost(coords) -> float``: a cost model, the estimated seconds of one cell on one core (e.g.
        its flops over :func:`gemm_rate`). With it, the sweep's wall time ``max(sum / workers, largest
        cell)`` is announced before the first cell runs (so a sweep of a few long cells is not silent until
        one of them has finished), and the progress bar and the estimate from the first timed cells weigh
        each cell by its cost rather than counting cells. Only timing depends on it, never a result.

    Returns
    -------
    DataFrame
        The coordinate columns (in grid order), then the result columns (in order of first appearance);
        one block of rows per cell, in grid order. The index is a fresh ``RangeIndex``.

    Raises
    ------
    SweepCellError
        When a cell function raises (its exception is the ``__cause__``). Cells finished before are kept in
        the store.

    Notes
    -----
    The table does not depend on ``workers``, ``scheduler``, the order of completion, or on interruptions;
    with BLAS-heavy cells it may depend on ``threads_per_worker`` in the last bits (see the module's notes
    on determinism). Results come back to this process, which alone writes the store, so a remote cluster
    needs no shared file system. With a Dask cluster, run one thread per worker process
    (``dask worker --nthreads 1``): threadpoolctl's limits are process-wide.

    Worker processes started here exit on their own if this process is killed (they watch their parent),
    and a killed sweep resumes with the same call.

    The store is locked while the sweep runs (POSIX), so that two sweeps cannot write it at once. A stored
    cell is reused only when its own file names this sweep (study, configuration digest, sweep seed,
    coordinates) and its result matches its checksum; any other cell file is moved aside to the store's
    ``rejected/`` folder with a :class:`boundcheck.store.CellRejected` warning, and the cell is recomputed.
    """
    if not callable(cell_fn):
        raise TypeError(f"cell_fn must be callable, got {type(cell_fn).__name__}")
    grid = grid if isinstance(grid, Grid) else Grid(grid)
    sweep_seed = _check_sweep_seed(seed)
    workers = check_int(workers, "workers", minimum=1)
    threads = None if threads_per_worker is None else check_int(threads_per_worker, "threads_per_worker",
                                                                  minimum=1)
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    try:
        user_config = json.loads(_canonical_json(dict(config or {})))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"config must be a mapping of JSON-serializable values: {exc}") from None
    # The module is left out of the compared config: a study run as a script (__main__) and imported
    # (studies.x) is the same sweep. It is recorded with the run information instead.
    sweep_config = {"seed": _seed_descriptor(seed), "cell_fn": _callable_name(cell_fn, module=False),
                    "config": user_config}

    if connect_timeout is not None:
        connect_timeout = check_real(connect_timeout, "connect_timeout", minimum=0.0, closed_min=False)
    if store is not None:
        if not isinstance(store, ResultStore):
            store = ResultStore(store)

    results: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        client = None
        if scheduler is not None:  # connect first: an unreachable scheduler fails before anything is written
            client = stack.enter_context(_dask_client(scheduler, workers,
                                                      10.0 if connect_timeout is None else connect_timeout))
        identity = None
        if store is not None:
            stack.enter_context(store.lock())
            runner = ("dask" if scheduler is not None else "processes" if workers > 1 else "in-process")
            store.start(sweep_config, grid=grid, overwrite=overwrite,
                        run={"threads_per_worker": threads, "workers": workers, "runner": runner,
                             "cell_fn": _callable_name(cell_fn), "command": command})
            identity = {"study": user_config.get("study"), "digest": sweep_digest(sweep_config),
                        "sweep_seed": sweep_config["seed"]}
        pending = []
        for coords in grid:
            key = coords_key(coords)
            if store is not None:
                cell, reason = store.verify(coords, identity)
                if cell is not None:
                    results[key] = cell.result
                    continue
                if reason is not None:
                    store.reject(coords, reason)
            pending.append(coords)

        from tqdm import tqdm

        weigh = _cost_weights(cell_cost, grid, pending)
        announce = progress and announce_after is not None
        if weigh is not None:  # the bar counts estimated seconds; its postfix counts the cells
            pending_cost = [weigh[coords_key(c)] for c in pending]
            total_cost = sum(weigh.values())
            bar = stack.enter_context(tqdm(total=total_cost, initial=total_cost - sum(pending_cost), desc=label,
                                           disable=not progress, dynamic_ncols=True,
                                           bar_format="{desc}: {percentage:3.0f}%|{bar}| "
                                                      "[{elapsed}<{remaining}{postfix}]"))
            bar.set_postfix_str(f"{len(grid) - len(pending)}/{len(grid)} cells", refresh=False)
            if announce and pending:
                estimate = max(sum(pending_cost) / min(workers, len(pending)), max(pending_cost))
                if estimate > announce_after:
                    bar.write(f"{label}: estimated {_duration(estimate)} for {len(pending)} cells on "
                              f"{min(workers, len(pending))} worker(s) (cost model, before the first cell; the "
                              f"largest cell about {_duration(max(pending_cost))})", file=sys.stderr)
        else:
            bar = stack.enter_context(tqdm(total=len(grid), initial=len(grid) - len(pending), unit="cell",
                                           desc=label, disable=not progress, dynamic_ncols=True))
        clock = {"start": time.perf_counter(), "done": 0, "done_cost": 0.0, "announced": not announce,
                 "left_cost": sum(pending_cost) if weigh is not None else 0.0}

        def finish(coords, canonical, elapsed, ss, where):
            if store is not None:
                store.save(coords, canonical, {
                    "sweep_seed": sweep_config["seed"],
                    "cell_seed": {"entropy": ss.entropy, "spawn_key": [int(k) for k in ss.spawn_key]},
                    "elapsed_s": elapsed, "runner": where, "threads_per_worker": threads,
                }, canonical=True, identity=identity)
            results[coords_key(coords)] = canonical
            clock["done"] += 1
            if weigh is not None:
                cost = weigh[coords_key(coords)]
                clock["done_cost"] += cost
                clock["left_cost"] -= cost
                bar.set_postfix_str(f"{len(grid) - len(pending) + clock['done']}/{len(grid)} cells", refresh=False)
                bar.update(cost)
            else:
                bar.update(1)
            if not clock["announced"] and clock["done"] >= min(len(pending), max(2, workers)):
                clock["announced"] = True
                spent = time.perf_counter() - clock["start"]
                if weigh is not None and clock["done_cost"] > 0:
                    left = spent / clock["done_cost"] * max(0.0, clock["left_cost"])
                    how = "weighted by the cost model"
                else:
                    left = spent / clock["done"] * (len(pending) - clock["done"])
                    how = None
                if left > announce_after:
                    bar.write(f"{label}: about {_duration(left)} left ({len(pending) - clock['done']} cells, "
                              f"estimated from the first {clock['done']} timed cells"
                              + (f", {how}" if how else "") + f"; {_duration(spent)} so far)", file=sys.stderr)

        jobs = [(coords, cell_seed(sweep_seed, coords)) for coords in pending]
        if not jobs:
            pass
        elif scheduler is not None:
            _run_dask(client, cell_fn, jobs, threads, finish)
        elif workers == 1:
            for coords, ss in jobs:
                canonical, elapsed = _run_cell(cell_fn, coords, ss, threads)
                finish(coords, canonical, elapsed, ss, "in-process")
        else:
            _run_pool(cell_fn, jobs, threads, workers, finish)
    return _assemble(grid, results)


def _cost_weights(cell_cost, grid, pending) -> dict | None:
    """``{coords key: estimated seconds}`` of every cell of ``grid`` from ``cell_cost``, or None without one.

    Costs that are not finite and positive count as a small positive weight (a cost model is advisory).
    """
    if cell_cost is None:
        return None
    if not callable(cell_cost):
        raise TypeError(f"cell_cost must be callable (coords -> estimated seconds), got {type(cell_cost).__name__}")
    out = {}
    for coords in grid:
        value = float(cell_cost(dict(coords)))
        out[coords_key(coords)] = value if np.isfinite(value) and value > 0 else 1e-3
    return out


_GEMM_RATES: dict[str, float] = {}


def gemm_rate(dtype="float64") -> float:
    """Flops per second of one core's matrix products in ``dtype`` on this machine, now (cached per process).

    Measured once per process by timing a few 384 x 384 x 384 products with BLAS pinned to one thread
    (about 20 ms in all); the machine's current load is part of the figure. For cost models
    (``run_sweep(cell_cost=...)``, a study phase's ``cost``): ``seconds = flops / gemm_rate(dtype) x r``,
    with ``r`` the loop's measured ratio to its bare products.
    """
    key = np.dtype(dtype).name
    if key not in ("float64", "float32"):
        raise ValueError(f"dtype must be float64 or float32, got {key!r}")
    if key not in _GEMM_RATES:
        from threadpoolctl import threadpool_limits

        n = 384
        a = np.random.default_rng(0).standard_normal((n, n)).astype(key)
        with threadpool_limits(limits=1):
            a @ a
            best = math.inf
            for _ in range(3):
                start = time.perf_counter()
                a @ a
                best = min(best, time.perf_counter() - start)
        _GEMM_RATES[key] = 2.0 * n ** 3 / max(best, 1e-9)
    return _GEMM_RATES[key]


def gemm_seconds(flops: float, dtype="float64") -> float:
    """Seconds that ``flops`` of matrix products take on one core of this machine now (:func:`gemm_rate`)."""
    return float(flops) / gemm_rate(dtype)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _check_picklable(cell_fn) -> None:
    try:
        pickle.dumps(cell_fn)
    except Exception as exc:
        raise TypeError("cell_fn must be picklable to run in worker processes: define it at module level "
                        f"(not a lambda or a nested function) and import it from a module ({exc})") from None


def _run_pool(cell_fn, jobs, threads, workers, finish) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    _check_picklable(cell_fn)
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx,
                               initializer=_worker_init, initargs=(threads, os.getpid()))
    try:
        futures = {pool.submit(_run_cell, cell_fn, coords, ss, threads): (coords, ss) for coords, ss in jobs}
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for fut in done:
                coords, ss = futures[fut]
                canonical, elapsed = fut.result()
                finish(coords, canonical, elapsed, ss, "process")
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        pool.shutdown(wait=True)


@contextlib.contextmanager
def _dask_client(scheduler, workers: int, connect_timeout: float):
    """A ``distributed.Client`` for ``scheduler`` (closed at the end unless it was given as a Client)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("scheduler= needs Dask's distributed scheduler: pip install 'dask[distributed]' "
                          "(or boundcheck[dask])") from None
    with contextlib.ExitStack() as stack:
        if isinstance(scheduler, Client):
            client = scheduler
        elif scheduler == "local":
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                       dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        elif isinstance(scheduler, str):
            try:
                client = stack.enter_context(Client(scheduler, timeout=connect_timeout))
            except Exception as exc:  # OSError, TimeoutError, ValueError of a malformed address
                raise UserError(f"cannot reach the Dask scheduler at {scheduler!r} within {connect_timeout:g} s "
                                f"({type(exc).__name__}); start one with `dask scheduler` or check the address "
                                "(--scheduler, --connect-timeout)") from None
        else:
            raise TypeError("scheduler must be None, 'local', a scheduler address or a distributed.Client, "
                            f"got {type(scheduler).__name__}")
        yield client


def _run_dask(client, cell_fn, jobs, threads, finish) -> None:
    from distributed import as_completed

    token = uuid.uuid4().hex[:8]
    futures, meta = [], {}
    for coords, ss in jobs:
        fut = client.submit(_run_cell, cell_fn, coords, ss, threads, pure=False,
                            key=f"boundcheck-cell-{coords_key(coords)[:12]}-{token}")
        futures.append(fut)
        meta[fut.key] = (coords, ss)
    try:
        for fut in as_completed(futures):
            coords, ss = meta[fut.key]
            canonical, elapsed = fut.result()
            finish(coords, canonical, elapsed, ss, "dask")
    except BaseException:
        client.cancel(futures)
        raise
