"""Tests of boundcheck.report's helpers shared by the studies (grid_ticks)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from boundcheck.report import grid_ticks  # noqa: E402


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
