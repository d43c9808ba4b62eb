"""Tests of boundcheck.report's helpers shared by the studies (grid_ticks, save_figure, write_table, timing_note)."""

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from boundcheck.report import grid_ticks, save_figure, timing_note, write_table  # noqa: E402


@pytest.fixture
def log_axes():
    fig, ax = plt.subplots()
    ax.set_xscale("log")
    ax.plot([20.0, 900.0], [1.0, 2.0])
    yield fig, ax
    plt.close(fig)


def _labels(fig, ax):
    fig.canvas.draw()
    major = [(t.get_loc(), t.label1.get_text()) for t in ax.xaxis.get_major_ticks()]
    minor = [t.label1.get_text() for t in ax.xaxis.get_minor_ticks()]
    return major, minor


def test_grid_ticks_only_the_grid_values(log_axes):
    fig, ax = log_axes
    before, before_minor = _labels(fig, ax)
    assert [loc for loc, _ in before] != [25.0, 100.0, 784.0]  # a log axis puts ticks at decades by itself
    grid_ticks(ax, [25, 100, 784])
    major, minor = _labels(fig, ax)
    assert major == [(25.0, "25"), (100.0, "100"), (784.0, "784")]
    assert minor == []  # no minor ticks, no crowded labels


def test_grid_ticks_labels(log_axes):
    fig, ax = log_axes
    grid_ticks(ax, [0.5, 2.0, 1e6])  # a whole number as an integer (not 1e+06), else {:g}
    assert [label for _, label in _labels(fig, ax)[0]] == ["0.5", "2", "1000000"]
    grid_ticks(ax, [0.5, 2.0, 1e6], fmt="{:g}")
    assert [label for _, label in _labels(fig, ax)[0]] == ["0.5", "2", "1e+06"]
    grid_ticks(ax, [3.0, 30.0], fmt="C0={:.1f}")
    assert [label for _, label in _labels(fig, ax)[0]] == ["C0=3.0", "C0=30.0"]


def test_save_figure_and_write_table_create_the_folder_and_leave_no_temporary(tmp_path, log_axes):
    fig, _ = log_axes
    out = tmp_path / "new" / "out"
    png, svg = save_figure(fig, out, "fig")
    first = png.read_bytes(), svg.read_bytes()
    assert first[0].startswith(b"\x89PNG") and b"<svg" in first[1]
    assert save_figure(fig, out, "fig") == (png, svg)
    assert (png.read_bytes(), svg.read_bytes()) == first  # byte-identical rerun, replaced in place
    csv, md = write_table(pd.DataFrame({"d": [25, 49], "v": [0.5, 0.25]}), tmp_path / "tables", "t")
    assert csv.read_text() == "d,v\n25,0.5\n49,0.25\n" and md.read_text().startswith("|")
    assert sorted(p.name for p in out.iterdir()) == ["fig.png", "fig.svg"]
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == ["t.csv", "t.md"]


def test_timing_note():
    assert timing_note([0.5, 0.25, 1.0], 2) == "3 samples in 2 cells; seconds per sample: mean 0.583, max 1.000"
    assert timing_note(np.array([[2.0], [4.0]]), 1, wall=12.34) == \
        "2 samples in 1 cells, 12.3 s; seconds per sample: mean 3.000, max 4.000"
    with pytest.raises(ValueError, match="seconds"):
        timing_note([], 0)


# ------------------------------------------------------------------------------------------ figure ownership

def _toy_result(i):
    from boundcheck.report import StudyResult

    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0.0, 1.0], [0.0, float(i)])
    return StudyResult(name="toy", table=pd.DataFrame({"i": [i]}), figures={"toy": fig})


def test_study_results_leave_no_figure_open():
    # A result's figures belong to it: building many results (a report rebuilt again and again) never piles
    # figures up in pyplot, which would warn "More than 20 figures have been opened" and keep them all alive.
    open_before = set(plt.get_fignums())
    limit = plt.rcParams["figure.max_open_warning"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        results = [_toy_result(i) for i in range(limit + 5)]
    assert set(plt.get_fignums()) == open_before
    assert all(r.figures["toy"].axes for r in results)  # the figures themselves are intact


def test_released_figure_saves_byte_identical(tmp_path):
    # releasing a figure from pyplot does not change what is saved
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0.0, 1.0], [1.0, 0.0])
    png, svg = save_figure(fig, tmp_path / "open", "f")
    from boundcheck.report import StudyResult

    StudyResult(name="toy", table=pd.DataFrame(), figures={"f": fig})
    assert fig.number not in plt.get_fignums()
    png2, svg2 = save_figure(fig, tmp_path / "released", "f")
    assert png.read_bytes() == png2.read_bytes() and svg.read_bytes() == svg2.read_bytes()


def test_rebuilding_a_study_report_leaves_no_figure_open(tmp_path):
    # the study engine's path: run once, then rebuild the report from the stored cells many times
    from boundcheck.report import StudyResult, verdict_line
    from boundcheck.study import Study, StudyConfig, positive_int, seed_domain, setting
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Config(StudyConfig):
        n: int = setting(2, positive_int)
        seed: int = setting(0, seed_domain)

    def build(table, config):
        fig, ax = plt.subplots(figsize=(2, 1.5))
        ax.plot(table["i"], table["value"], "o")
        return StudyResult(name="toy_figs", table=table, verdicts=[verdict_line("toy", len(table), 0)],
                           figures={"toy_figs": fig})

    study = Study(name="toy_figs", description="a toy", config=Config, grid=lambda c: {"i": list(range(c.n))},
                  cell=lambda coords, rng, settings: {"value": float(rng.random())}, build=build)
    open_before = set(plt.get_fignums())
    study.run(Config(), out_dir=tmp_path / "toy", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for _ in range(plt.rcParams["figure.max_open_warning"] + 2):
            study.report(tmp_path / "toy")
    assert set(plt.get_fignums()) == open_before
