"""Tests of boundcheck.store: atomic cells, manifests, resuming sweeps (including real killed sweeps)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundcheck.store as store_module
from boundcheck.montecarlo import Grid, coords_key, run_sweep
from boundcheck.store import ResultStore, StoreConfigError, StoredCell

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------------------
# Cells: round trips and atomicity
# ----------------------------------------------------------------------------------------------------------

def test_save_load_round_trip_dict(tmp_path):
    store = ResultStore(tmp_path / "s")
    result = {"f": 0.1 + 0.2, "n": 3, "big": 2**62 + 1, "flag": False, "name": "x", "nan": math.nan,
              "inf": -math.inf, "np": np.float32(1.5), "none": None}
    store.save({"d": 25, "C0": 0.5}, result, {"note": "hi"})
    assert store.has({"C0": 0.5, "d": 25}) and not store.has({"d": 25, "C0": 1.0})
    cell = store.load({"d": 25, "C0": 0.5})
    assert isinstance(cell, StoredCell) and cell.coords == {"d": 25, "C0": 0.5}
    value = cell.value
    assert value["f"] == 0.1 + 0.2 and value["big"] == 2**62 + 1 and type(value["n"]) is int
    assert value["flag"] is False and value["name"] == "x" and value["none"] is None
    assert math.isnan(value["nan"]) and value["inf"] == -math.inf and value["np"] == 1.5
    assert cell.meta["note"] == "hi" and {"version", "revision", "host", "written"} <= set(cell.meta)
    assert list(cell.frame().columns[:2]) == ["d", "C0"]
    with pytest.raises(KeyError, match="not in the store"):
        store.load({"d": 1})


SCALARS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2**70, 2**70), st.booleans(),
                   st.text(max_size=8), st.none())


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b and (not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))


@settings(max_examples=40, deadline=None)
@given(result=st.dictionaries(st.text(max_size=8).map("r_".__add__), SCALARS, max_size=6),
       coords=st.dictionaries(st.text(max_size=4).map("c_".__add__), st.one_of(st.integers(), st.text(max_size=4)),
                              min_size=1, max_size=3))
def test_round_trip_is_exact(result, coords):
    with tempfile.TemporaryDirectory() as folder:
        store = ResultStore(folder)
        store.save(coords, result)
        back = store.load(coords).value
    assert list(back) == list(result) and all(_same(result[k], back[k]) for k in result)


def test_save_load_round_trip_frame(tmp_path):
    store = ResultStore(tmp_path)
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"init": np.arange(4), "value": rng.standard_normal(4), "ok": [True, False, True, True]})
    store.save({"m": 100}, df)
    back = store.load({"m": 100}).value
    pd.testing.assert_frame_equal(back, df)  # floats bit-exact through JSON
    assert len(store) == 1 and [c.coords for c in store.cells()] == [{"m": 100}]


def test_crash_between_temp_write_and_rename(tmp_path, monkeypatch):
    # Simulate a crash after the temporary file is written and fsync'ed, before os.replace.
    store = ResultStore(tmp_path)
    store.save({"d": 1}, {"v": 1.0})

    def crash(src, dst):
        raise KeyboardInterrupt("killed before rename")

    monkeypatch.setattr(store_module.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.save({"d": 2}, {"v": 2.0})
    monkeypatch.undo()
    assert store.has({"d": 1}) and not store.has({"d": 2})
    assert [c.coords for c in store.cells()] == [{"d": 1}] and len(store) == 1
    # The writer removes its own temp file on an exception; a SIGKILL would not: leave one by hand.
    stray = store.cells_dir / ".tmp-abc.json"
    stray.write_text('{"coords": {"d": 2}, "resu')  # a half-written file
    assert not store.has({"d": 2}) and len(store) == 1
    assert [c.coords for c in store.cells()] == [{"d": 1}]
    store.start({"seed": 1})
    assert not stray.exists()  # cleaned when a sweep starts


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    # Overwriting a cell that fails half-way keeps the previous complete file.
    store = ResultStore(tmp_path)
    store.save({"d": 1}, {"v": 1.0})
    monkeypatch.setattr(store_module.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        store.save({"d": 1}, {"v": 2.0})
    monkeypatch.undo()
    assert store.load({"d": 1}).value == {"v": 1.0}
    assert not list(store.cells_dir.glob(".tmp-*"))



def test_atomic_replace_keeps_the_old_file_when_the_writer_fails(tmp_path):
    # The one atomic writer of the package (cells, manifests, tables, summaries, figures).
    target = tmp_path / "table.csv"
    store_module.atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError, match="writer failed"):
        with store_module.atomic_replace(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".tmp-") and tmp.suffix == ".csv"
            tmp.write_text("half")
            raise RuntimeError("writer failed")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]  # no temporary file left
    with store_module.atomic_replace(target) as tmp:
        tmp.write_bytes(b"new")
        assert target.read_text() == "old\n"  # replaced only on a clean exit
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_atomic_write_text_folder_and_mode(tmp_path):
    deep = tmp_path / "a" / "b" / "summary.txt"
    with pytest.raises(FileNotFoundError):  # by default a missing folder is an error (a store never recreates one)
        store_module.atomic_write_text(deep, "x")
    assert not (tmp_path / "a").exists()
    old = os.umask(0o027)
    try:
        store_module._umask.cache_clear()
        store_module.atomic_write_text(deep, "h\u00e9\n", make_parents=True)
        assert (deep.stat().st_mode & 0o777) == 0o640
    finally:
        os.umask(old)
        store_module._umask.cache_clear()
    assert deep.read_bytes() == "h\u00e9\n".encode("utf-8")


# ----------------------------------------------------------------------------------------------------------
# Every cell proves it belongs to the run: identity and checksum
# ----------------------------------------------------------------------------------------------------------

IDENTITY = {"study": "toy", "digest": "d" * 32, "sweep_seed": 0}


def test_cell_carries_identity_and_checksum(tmp_path):
    store = ResultStore(tmp_path)
    store.save({"d": 1}, {"v": 1.5}, identity=IDENTITY)
    doc = json.loads(next(store.cells_dir.glob("*.json")).read_text())
    assert doc["identity"] == IDENTITY and doc["coords"] == {"d": 1} and doc["key"] == coords_key({"d": 1})
    assert doc["checksum"] == store_module.result_checksum(doc["result"])
    cell, reason = store.verify({"d": 1}, IDENTITY)
    assert reason is None and cell.value == {"v": 1.5}
    assert store.verify({"d": 2}, IDENTITY) == (None, None)  # no file


@pytest.mark.parametrize("field, value, reason", [
    ("study", "other", "of another study"),
    ("digest", "e" * 32, "of another configuration"),
    ("sweep_seed", 1, "of another sweep seed"),
])
def test_foreign_cells_are_not_reused(tmp_path, field, value, reason):
    store = ResultStore(tmp_path)
    store.save({"d": 1}, {"v": 1.5}, identity=IDENTITY)
    cell, why = store.verify({"d": 1}, dict(IDENTITY, **{field: value}))
    assert cell is None and why.startswith(reason)


@pytest.mark.parametrize("damage, reason", [
    (lambda doc: doc["result"]["data"][0].append(9.0), "its result has the wrong shape"),
    (lambda doc: doc["result"]["data"][0].__setitem__(0, 2.5), "its result does not match its checksum"),
    (lambda doc: doc.__setitem__("coords", {"d": 2}), "its coordinates do not match its file name"),
    (lambda doc: doc.__setitem__("format", 1), "format 1"),
])
def test_damaged_cells_are_not_reused(tmp_path, damage, reason):
    store = ResultStore(tmp_path)
    store.save({"d": 1}, {"v": 1.5}, identity=IDENTITY)
    path = next(store.cells_dir.glob("*.json"))
    doc = json.loads(path.read_text())
    damage(doc)
    path.write_text(json.dumps(doc))
    cell, why = store.verify({"d": 1}, IDENTITY)
    assert cell is None and why.startswith(reason)
    with pytest.warns(store_module.CellRejected, match="was rejected"):
        moved = store.reject({"d": 1}, why)
    assert moved.parent == store.rejected_dir and not path.exists() and moved.read_text() == json.dumps(doc)


def test_run_sweep_recomputes_a_tampered_cell(tmp_path):
    table = run_sweep(counting_cell, {"d": [1, 2, 3]}, seed=5, store=tmp_path, progress=False)
    store = ResultStore(tmp_path)
    path = store._path({"d": 2})
    doc = json.loads(path.read_text())
    doc["result"]["data"][0][0] = 123.0  # a plausible number, not the cell's
    path.write_text(json.dumps(doc))
    with pytest.warns(store_module.CellRejected, match="does not match its checksum"):
        again = run_sweep(counting_cell, {"d": [1, 2, 3]}, seed=5, store=tmp_path, progress=False)
    pd.testing.assert_frame_equal(again, table)
    assert (store.rejected_dir / path.name).is_file()


def test_files_get_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        store_module._umask.cache_clear()
        store = ResultStore(tmp_path)
        store.save({"d": 1}, {"v": 1.0})
        assert (next(store.cells_dir.glob("*.json")).stat().st_mode & 0o777) == 0o640
    finally:
        os.umask(old)
        store_module._umask.cache_clear()


def test_reading_creates_nothing(tmp_path):
    ResultStore(tmp_path / "nothing", create=False)
    assert not (tmp_path / "nothing").exists()
    assert ResultStore.read_manifest(tmp_path / "nothing") is None


# ----------------------------------------------------------------------------------------------------------
# Manifests and resuming in-process
# ----------------------------------------------------------------------------------------------------------

CALLS: list = []


def counting_cell(coords, rng):
    CALLS.append(dict(coords))
    return {"x": float(rng.standard_normal()), "d2": coords["d"] ** 2}


def test_resume_skips_finished_cells_and_grid_may_grow(tmp_path):
    CALLS.clear()
    a = run_sweep(counting_cell, {"d": [1, 2, 3]}, seed=5, store=tmp_path, progress=False)
    assert len(CALLS) == 3
    again = run_sweep(counting_cell, {"d": [1, 2, 3]}, seed=5, store=tmp_path, progress=False)
    assert len(CALLS) == 3  # nothing recomputed
    pd.testing.assert_frame_equal(again, a)
    grown = run_sweep(counting_cell, {"d": [1, 2, 3, 4]}, seed=5, store=tmp_path, progress=False)
    assert CALLS[3:] == [{"d": 4}]  # only the new cell
    pd.testing.assert_frame_equal(grown.iloc[:3], a)
    pd.testing.assert_frame_equal(grown, run_sweep(counting_cell, {"d": [1, 2, 3, 4]}, seed=5, progress=False))
    store = ResultStore(tmp_path)
    pd.testing.assert_frame_equal(store.table(), grown)  # the manifest's grid is the latest run's
    pd.testing.assert_frame_equal(store.table({"d": [1, 2, 3]}), a)


def test_manifest_contents_and_cell_meta(tmp_path):
    run_sweep(counting_cell, {"d": [1, 2]}, seed=5, store=tmp_path, progress=False, config={"n_points": 7})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["seed"] == 5 and manifest["config"]["config"] == {"n_points": 7}
    assert manifest["config"]["cell_fn"] == "counting_cell" and manifest["grid"] == {"d": [1, 2]}
    assert manifest["run"]["cell_fn"].endswith(":counting_cell") and manifest["run"]["workers"] == 1
    assert manifest["version"] == store_module.package_version() != "" and "revision" in manifest
    cell = ResultStore(tmp_path).load({"d": 2})
    assert cell.meta["sweep_seed"] == 5 and cell.meta["config"] == manifest["config"]
    assert len(cell.meta["cell_seed"]["spawn_key"]) == 8 and cell.meta["elapsed_s"] >= 0
    assert (tmp_path / "cells" / f"{coords_key({'d': 2})}.json").is_file()


def test_config_mismatch_is_refused_unless_overwrite(tmp_path):
    CALLS.clear()
    run_sweep(counting_cell, {"d": [1, 2]}, seed=5, store=tmp_path, progress=False)
    with pytest.raises(StoreConfigError, match="seed: stored 5, now 6"):
        run_sweep(counting_cell, {"d": [1, 2]}, seed=6, store=tmp_path, progress=False)
    with pytest.raises(StoreConfigError, match="config"):
        run_sweep(counting_cell, {"d": [1, 2]}, seed=5, store=tmp_path, progress=False, config={"k": 1})
    assert len(CALLS) == 2
    t = run_sweep(counting_cell, {"d": [1, 2]}, seed=6, store=tmp_path, progress=False, overwrite=True)
    assert len(CALLS) == 4 and len(ResultStore(tmp_path)) == 2
    pd.testing.assert_frame_equal(t, run_sweep(counting_cell, {"d": [1, 2]}, seed=6, progress=False))


def test_resume_with_another_thread_count_warns(tmp_path):
    run_sweep(counting_cell, {"d": [1]}, seed=5, store=tmp_path, progress=False, threads_per_worker=1)
    assert json.loads((tmp_path / "manifest.json").read_text())["run"]["threads_per_worker"] == 1
    with pytest.warns(RuntimeWarning, match="threads_per_worker=2"):
        run_sweep(counting_cell, {"d": [1]}, seed=5, store=tmp_path, progress=False, threads_per_worker=2)


def test_store_lock_excludes_a_second_sweep(tmp_path):
    store = ResultStore(tmp_path)
    with store.lock():
        with pytest.raises(RuntimeError, match="another process"):
            run_sweep(counting_cell, {"d": [1]}, seed=5, store=tmp_path, progress=False)
    run_sweep(counting_cell, {"d": [1]}, seed=5, store=tmp_path, progress=False)  # released


def test_failed_sweep_keeps_finished_cells(tmp_path):
    def sometimes(coords, rng):
        if coords["d"] == 3:
            raise ValueError("bad cell")
        return {"v": float(rng.random())}

    with pytest.raises(Exception, match="bad cell"):
        run_sweep(sometimes, {"d": [1, 2, 3, 4]}, seed=1, store=tmp_path, progress=False)
    store = ResultStore(tmp_path)
    assert store.has({"d": 1}) and store.has({"d": 2}) and not store.has({"d": 3})


def test_table_without_grid(tmp_path):
    store = ResultStore(tmp_path)
    store.save({"d": 1}, {"v": 1.0})
    with pytest.raises(ValueError, match="grid="):
        store.table()
    assert store.table(Grid({"d": [1, 2]}))["v"].tolist() == [1.0]


# ----------------------------------------------------------------------------------------------------------
# A real sweep, killed part-way, then resumed with the same command
# ----------------------------------------------------------------------------------------------------------

SWEEP_SCRIPT = textwrap.dedent('''
    import os, sys, time
    import pandas as pd
    from boundcheck.montecarlo import run_sweep

    def cell(coords, rng):
        with open(os.environ["BC_LOG"], "a") as fh:  # one line per cell started, with the process id
            fh.write(f"{coords['a']} {coords['b']} {os.getpid()}\\n")
        time.sleep(0.15)
        return pd.DataFrame({"x": rng.standard_normal(2), "ab": [coords["a"] * coords["b"]] * 2})

    if __name__ == "__main__":
        table = run_sweep(cell, {"a": [1, 2, 3, 4], "b": [0.5, 1.0]}, seed=11, store=sys.argv[1],
                          workers=int(sys.argv[3]), progress=False)
        table.to_pickle(sys.argv[2])
''')
N_CELLS = 8


def _launch(script: Path, store: Path, out: Path, log: Path, workers: int = 1) -> subprocess.Popen:
    env = dict(os.environ, BC_LOG=str(log), PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    # Output goes to a file, not a pipe: orphaned workers would hold a pipe open and hang communicate().
    with open(log.with_suffix(".err"), "ab") as err:
        return subprocess.Popen([sys.executable, str(script), str(store), str(out), str(workers)], env=env,
                                cwd=script.parent, stdout=subprocess.DEVNULL, stderr=err)


def _finish(proc: subprocess.Popen, log: Path, timeout: float = 120) -> str:
    """Wait for the process; return its stderr so far."""
    proc.wait(timeout=timeout)
    return log.with_suffix(".err").read_text(errors="replace")


def _stored(store: Path) -> list[Path]:
    return sorted(p for p in (store / "cells").glob("*.json") if not p.name.startswith(".tmp-"))


@pytest.fixture(scope="module")
def sweep_script(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    script = folder / "sweep.py"
    script.write_text(SWEEP_SCRIPT)
    return script


@pytest.fixture(scope="module")
def uninterrupted(sweep_script):
    folder = sweep_script.parent / "uninterrupted"
    folder.mkdir()
    proc = _launch(sweep_script, folder / "store", folder / "table.pkl", folder / "log")
    err = _finish(proc, folder / "log")
    assert proc.returncode == 0, err
    return pd.read_pickle(folder / "table.pkl")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():  # a zombie (exited, not yet reaped by its new parent) is not alive
        return stat.read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    return True


@pytest.mark.parametrize("sig, workers", [(signal.SIGKILL, 1), (signal.SIGINT, 1), (signal.SIGKILL, 2)],
                         ids=["SIGKILL", "SIGINT", "SIGKILL-2-workers"])
def test_killed_sweep_resumes_to_the_same_table(sweep_script, uninterrupted, tmp_path, sig, workers):
    store, out, log = tmp_path / "store", tmp_path / "table.pkl", tmp_path / "log"
    proc = _launch(sweep_script, store, out, log, workers)
    deadline = time.monotonic() + 120
    while len(_stored(store)) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(sig)
    _finish(proc, log, timeout=60)
    assert proc.returncode != 0, "the sweep finished before it was killed: the test proved nothing"
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    if workers > 1:
        # The killed sweep's worker processes must not outlive it (they poll for their parent each 0.5 s).
        pids = {int(line.split()[2]) for line in log.read_text().splitlines()} - {proc.pid}
        assert pids, "no cell ran in a worker process"
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [p for p in pids if _alive(p)]
        for p in survivors:  # clean up the processes this test started before failing
            os.kill(p, signal.SIGKILL)
        assert not survivors, f"worker processes {survivors} outlived the killed sweep"
    before = {p.name: p.read_bytes() for p in _stored(store)}
    assert 3 <= len(before) < N_CELLS and not out.exists()
    started_first = len(log.read_text().splitlines())

    proc = _launch(sweep_script, store, out, log, workers)  # the same command
    err = _finish(proc, log)
    assert proc.returncode == 0, err
    # Only the missing cells were computed, and the finished ones were not rewritten.
    assert len(log.read_text().splitlines()) - started_first == N_CELLS - len(before)
    assert all((store / "cells" / name).read_bytes() == data for name, data in before.items())
    assert not list((store / "cells").glob(".tmp-*"))
    resumed = pd.read_pickle(out)
    pd.testing.assert_frame_equal(resumed, uninterrupted)
    pd.testing.assert_frame_equal(ResultStore(store).table(), uninterrupted)
    assert len(uninterrupted) == 2 * N_CELLS
