"""Tests of boundcheck.report's helpers shared by the studies (grid_ticks, save_figure, write_table, timing_note)."""

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
