"""The user is told how long a run takes, and reruns give the same summary and tables.

* A study run announces its estimated time: from the phases' cost models before the first cell runs, and
  from the first timed cells (the threshold comes from ``$BOUNDCHECK_ANNOUNCE_AFTER``; here 0, so that a
  quick run counts as long). Nothing here times anything.
* The studies whose single cells are long at their --paper settings carry a cost model, so that the
  estimate comes before the first of those cells.
* Timings go to ``timings.json``, not to ``summary.txt`` or the tables: a rerun into a new folder with the
  same seed writes the same bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from boundcheck.cli import load_study, run_study
from boundcheck.errors import UserError
from boundcheck.study import ANNOUNCE_ENV, TIMINGS_FILE, announce_threshold

#: --paper presets whose single cells last long (minutes to hours): the estimate must not wait for one
LONG_CELL_PRESETS = ("mnist_lazy_sgd", "deep_lazy_mnist", "corollary_robust_error", "theorem_one_step",
                     "mnist_adversarial_training")


def _cli(args, tmp_path, threshold="0"):
    env = dict(os.environ, **{ANNOUNCE_ENV: threshold}, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "boundcheck.cli", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=900)


def test_cli_announces_the_cost_model_estimate_before_the_first_cell(tmp_path):
    # a real run through the command line; theorem_one_step has a cost model. Its cells print nothing, so the
    # order is read from the progress bar: the estimate comes before the bar has counted any cell
    out = tmp_path / "run"
    p = _cli(["study", "theorem_one_step", "--quick", "--out", str(out)], tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    err = p.stderr.replace("\r", "\n")
    lines = err.splitlines()
    announced = [i for i, ln in enumerate(lines) if "(cost model, before the first cell" in ln]
    assert len(announced) == 1, err[-3000:]
    assert lines[announced[0]].startswith("theorem_one_step: estimated ")
    counted = [i for i, ln in enumerate(lines) if "/12 cells" in ln and not ln.rstrip().endswith("0/12 cells")]
    assert counted and announced[0] < min(counted), err[-3000:]
    # the bar shows the time left (elapsed<left) and the cells done
    assert "12/12 cells" in err and "<" in err
    assert (out / "summary.txt").is_file() and (out / TIMINGS_FILE).is_file()


def test_cli_is_quiet_below_the_threshold(tmp_path):
    p = _cli(["study", "lemma_flip_probability", "--quick", "--out", str(tmp_path / "run")], tmp_path,
             threshold="never")
    assert p.returncode == 0, p.stderr[-2000:]
    assert "estimated" not in p.stderr and " left (" not in p.stderr


@pytest.mark.parametrize("raw, expected", [("", 120.0), ("0", 0.0), ("30.5", 30.5), ("never", None), ("OFF", None)])
def test_announce_threshold_from_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv(ANNOUNCE_ENV, raw)
    assert announce_threshold() == expected


@pytest.mark.parametrize("raw", ["-1", "soon", "nan", "inf"])
def test_announce_threshold_refuses_a_bad_value(monkeypatch, raw):
    monkeypatch.setenv(ANNOUNCE_ENV, raw)
    with pytest.raises(UserError, match=ANNOUNCE_ENV):
        announce_threshold()


@pytest.mark.parametrize("name", LONG_CELL_PRESETS)
def test_long_cell_presets_have_a_cost_model_that_announces_up_front(name, monkeypatch):
    # every phase has a cost model, and the paper preset's estimate is above the default threshold, so that
    # `boundcheck study NAME --paper` prints it before its first cell (the engine's rule)
    monkeypatch.delenv(ANNOUNCE_ENV, raising=False)
    study = load_study(name).STUDY
    assert all(phase.cost is not None for phase in study.phases)
    estimate = study.estimate(study.Config.paper(), workers=2)
    assert estimate["wall_s"] is not None and estimate["wall_s"] > announce_threshold()
    for phase in estimate["phases"].values():
        assert phase["wall_s"] >= phase["max_s"] > 0 and phase["sum_s"] >= phase["max_s"]


def test_estimate_wall_time_is_the_larger_of_sum_over_workers_and_the_largest_cell():
    study = load_study("theorem_one_step").STUDY
    config = study.Config.quick()
    one, many = study.estimate(config, workers=1), study.estimate(config, workers=1000)
    main1, main_many = one["phases"]["main"], many["phases"]["main"]
    assert main1["wall_s"] == pytest.approx(main1["sum_s"])
    assert main_many["wall_s"] == pytest.approx(main_many["max_s"])
    with pytest.raises(ValueError, match="workers"):
        study.estimate(config, workers=0)


@pytest.mark.parametrize("name", ["lemma_gradient_lower", "lemma_gradient_difference"])
def test_rerun_into_a_new_folder_writes_the_same_summary_and_tables(tmp_path, name):
    # these studies time every sample; the times go to timings.json, so summary and tables are reproducible
    outs = []
    for k in range(2):
        _, out = run_study(name, quick=True, out=tmp_path / f"run{k}", quiet=True)
        outs.append(Path(out))
    files = sorted(p.name for p in outs[0].iterdir() if p.suffix in (".csv", ".md", ".txt"))
    assert "summary.txt" in files and any(f.endswith(".csv") for f in files)
    assert files == sorted(p.name for p in outs[1].iterdir() if p.suffix in (".csv", ".md", ".txt"))
    for f in files:
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
    for out in outs:
        timings = json.loads((out / TIMINGS_FILE).read_text())
        assert timings["study"] == name
        main = timings["phases"]["main"]
        assert main["columns"]["seconds"]["max"] > 0 and len(main["cells"]) > 0
        assert "seconds" not in (out / f"{name}.csv").read_text().splitlines()[0].split(",")
        assert "seconds per sample" not in (out / "summary.txt").read_text()


def test_study_refuses_a_bad_cost_or_timing_columns():
    from boundcheck.study import Phase, Study

    base = load_study("lemma_flip_probability")
    kw = dict(name="x", description="x", config=base.Config, build=base.build)
    with pytest.raises(TypeError, match="timing_columns"):
        Study(grid=base.grid, cell=base.cell, timing_columns="seconds", **kw)
    with pytest.raises(TypeError, match="must be callable"):
        Study(phases=(Phase("main", base.grid, base.cell, cost=3.0),), **kw)
    with pytest.raises(TypeError, match="not both"):
        Study(phases=(Phase("main", base.grid, base.cell),), cost=lambda c, settings: 1.0, **kw)


@pytest.mark.parametrize("threshold", ["0", "never"])
def test_a_multi_phase_run_announces_its_total_before_the_first_phase(tmp_path, monkeypatch, capsys, threshold):
    # each phase announces itself when it starts; a study of several phases also says its total up front
    from boundcheck import montecarlo

    monkeypatch.setenv(ANNOUNCE_ENV, threshold)
    study = load_study("mnist_adversarial_training").STUDY
    assert len(study.phases) > 1 and all(phase.cost is not None for phase in study.phases)

    def first_phase(*args, **kwargs):
        raise RuntimeError("first phase reached")

    monkeypatch.setattr(montecarlo, "run_sweep", first_phase)
    with pytest.raises(RuntimeError, match="first phase reached"):
        study.run(study.Config.quick(), out_dir=tmp_path / "run", workers=2)
    err = capsys.readouterr().err
    line = "mnist_adversarial_training: estimated "
    if threshold == "never":
        assert line not in err
    else:
        assert line in err and f"in all for its {len(study.phases)} phases" in err
