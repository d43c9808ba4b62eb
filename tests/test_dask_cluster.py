"""A study runs on a real Dask cluster (a scheduler and two workers started with the ``dask`` command, as
separate processes on localhost) to the table of an in-process run, byte for byte."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

BIN = Path(sys.executable).parent
DASK = shutil.which("dask", path=str(BIN))
BOUNDCHECK = shutil.which("boundcheck", path=str(BIN))

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(DASK is None or BOUNDCHECK is None, reason="the dask / boundcheck commands are not "
                                                                            "installed in this environment")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process we started (and its children: it leads its own session) by its id."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


def _wait_for_workers(address: str, n: int, timeout: float) -> None:
    from distributed import Client

    with Client(address, timeout=timeout) as client:
        client.wait_for_workers(n, timeout=timeout)


@pytest.fixture
def cluster(tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    procs = []
    logs = []
    try:
        log = open(tmp_path / "scheduler.log", "w")
        logs.append(log)
        procs.append(subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                       "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
                                      env=env, start_new_session=True))
        for i in range(2):
            log = open(tmp_path / f"worker{i}.log", "w")
            logs.append(log)
            procs.append(subprocess.Popen([DASK, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                           "--no-dashboard", "--name", f"w{i}"], stdout=log,
                                          stderr=subprocess.STDOUT, cwd=tmp_path, env=env, start_new_session=True))
        _wait_for_workers(address, 2, timeout=90)
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)
        for log in logs:
            log.close()


def test_study_on_a_real_cluster_matches_in_process(cluster, tmp_path):
    # run from an empty folder, so that nothing is found through the working directory
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "BOUNDCHECK_STUDIES"}
    name = "lemma_sign_flips"
    cmd = [BOUNDCHECK, "study", name, "--quick", "--quiet"]
    remote = subprocess.run(cmd + ["--scheduler", cluster, "--out", "dask"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=600)
    assert remote.returncode == 0, remote.stderr
    local = subprocess.run(cmd + ["--out", "local"], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert local.returncode == 0, local.stderr
    for suffix in (".csv", ".md", "_exponents.csv"):
        assert (work / "dask" / f"{name}{suffix}").read_bytes() == (work / "local" / f"{name}{suffix}").read_bytes()
    assert (work / "dask" / "summary.txt").read_bytes() == (work / "local" / "summary.txt").read_bytes()
    import json

    manifest = json.loads((work / "dask" / "cells" / "manifest.json").read_text())
    assert manifest["run"]["runner"] == "dask"


def test_unreachable_scheduler_fails_fast_in_one_line(tmp_path):
    port = _free_port()  # nothing listens there
    start = time.perf_counter()
    proc = subprocess.run([BOUNDCHECK, "study", "lemma_f_range", "--quick", "--quiet", "--scheduler",
                           f"tcp://127.0.0.1:{port}", "--connect-timeout", "2", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"boundcheck: cannot reach the Dask scheduler at "
                                                   f"'tcp://127.0.0.1:{port}' within 2 s"), proc.stderr
    assert elapsed < 30  # interpreter start-up included; the wait itself is the 2 s timeout
