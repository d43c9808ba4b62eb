"""mnist_adversarial_training: a rerun into a new folder writes the same summary and tables.

Its cells time every epoch (``seconds_per_epoch``, ...): those columns are the study's ``timing_columns``, so
they go to ``timings.json`` and the reproducible outputs (``summary.txt``, CSV, Markdown) are the same bytes
when the study is run twice with the same seed. Runs the real command line, ``--quick`` (seconds).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from boundcheck.cli import load_study
from boundcheck.study import ANNOUNCE_ENV, TIMINGS_FILE

NAME = "mnist_adversarial_training"


def _study(out, cwd):
    env = dict(os.environ, **{ANNOUNCE_ENV: "never"}, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "boundcheck.cli", "study", NAME, "--quick", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=900)


def _outputs(folder):
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".txt", ".csv", ".md"))


def test_cli_rerun_into_a_new_folder_writes_the_same_summary_and_tables(tmp_path):
    outs = [tmp_path / "A", tmp_path / "B"]
    for out in outs:
        p = _study(out, tmp_path)
        assert p.returncode == 0, p.stderr[-2000:]
    files = _outputs(outs[0])
    assert "summary.txt" in files and f"{NAME}.csv" in files and f"{NAME}.md" in files
    assert files == _outputs(outs[1])
    for f in files:
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
    timing_columns = load_study(NAME).TIMING_COLUMNS
    header = (outs[0] / f"{NAME}.csv").read_text().splitlines()[0].split(",")
    assert not set(timing_columns) & set(header)
    assert "time per epoch" not in (outs[0] / "summary.txt").read_text()
    # the timings are kept, beside the summary: every timing column of both phases, with positive times
    timings = json.loads((outs[0] / TIMINGS_FILE).read_text())
    assert timings["study"] == NAME
    for phase in ("eps", "radius"):
        columns = timings["phases"][phase]["columns"]
        assert set(columns) == set(timing_columns)
        assert columns["total_seconds"]["max"] > 0
