"""Tables and plots: what every study writes out.

A study returns a :class:`StudyResult`; :func:`write_study` writes its table as CSV and Markdown, its
figures as PNG and SVG, and its verdict lines as ``summary.txt`` to an output folder, atomically (each file
is written to a temporary name and renamed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .store import atomic_replace, atomic_write_text

__all__ = ["StudyResult", "write_table", "save_figure", "grid_ticks", "timing_note", "write_study",
           "atomic_write_text", "verdict_line"]


@dataclass
class StudyResult:
    """What a study produces.

    Attributes
    ----------
    name : str
        The study's name (also the stem of its files).
    table : pandas.DataFrame
        The tidy main table: one row per cell (and per quantity where a study compares several).
    verdicts : list of str
        One line per bound: "holds", "violated in k of n cells", or "vacuous", with the bound's id.
    figures : dict of str to matplotlib.figure.Figure
        Named figures, saved as ``<name>.png`` and ``<name>.svg``. The result owns them: on construction
        they are released from pyplot's list of open figures (:func:`_release_figures`), so building a
        result, keeping it or dropping it without :func:`write_study` leaves no figure open (pyplot would
        otherwise keep every one alive and warn past 20). They still draw and save as before.
    extra_tables : dict of str to pandas.DataFrame
        Further tables (e.g. the exponent fits), saved beside the main one.
    notes : list of str
        Free text printed after the verdicts (settings reduced for speed, etc.).
    self_checks : list of str
        Lines of the checks that hold by construction (they test the implementation, not the paper; see
        :func:`boundcheck.checks.self_check_lines`), written apart under the heading
        :data:`boundcheck.checks.SELF_CHECK_HEADING`.
    """

    name: str
    table: pd.DataFrame
    verdicts: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    extra_tables: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    self_checks: list[str] = field(default_factory=list)

    def __post_init__(self):
        _release_figures(self.figures.values())


def _release_figures(figures) -> None:
    """Remove the given matplotlib figures from pyplot's list of open figures (``plt.close``).

    A figure made by ``plt.subplots`` stays registered with pyplot, and so alive, until it is closed; a
    study's figures belong to its :class:`StudyResult` instead, which may be built many times (a report
    rebuilt from stored cells, tests). A released figure keeps its canvas: it draws and saves as before, and
    is freed with the last reference to it. Figures that pyplot does not know are left alone.
    """
    import sys

    if "matplotlib.pyplot" not in sys.modules:  # then no figure is registered with pyplot
        return
    import matplotlib.pyplot as plt

    for fig in figures:
        plt.close(fig)


def write_table(df: pd.DataFrame, out_dir, name: str, *, floatfmt: str = ".4g") -> tuple[Path, Path]:
    """Write ``df`` as ``<name>.csv`` and ``<name>.md`` in ``out_dir``; return both paths."""
    out_dir = Path(out_dir)
    csv_path, md_path = out_dir / f"{name}.csv", out_dir / f"{name}.md"
    atomic_write_text(csv_path, df.to_csv(index=False), make_parents=True)
    atomic_write_text(md_path, df.to_markdown(index=False, floatfmt=floatfmt) + "\n")
    return csv_path, md_path


def save_figure(fig, out_dir, name: str) -> tuple[Path, Path]:
    """Save a matplotlib figure as ``<name>.png`` and ``<name>.svg`` in ``out_dir``; return both paths."""
    import matplotlib

    out_dir = Path(out_dir)
    paths = []
    for ext in ("png", "svg"):
        path = out_dir / f"{name}.{ext}"
        with atomic_replace(path, make_parents=True) as tmp:
            # byte-identical reruns: no date in the SVG, fixed ids (svg.hashsalt), no software version in the PNG
            metadata = {"Date": None} if ext == "svg" else {"Software": None}
            with matplotlib.rc_context({"svg.hashsalt": "boundcheck"}):
                fig.savefig(tmp, format=ext, dpi=150 if ext == "png" else None, bbox_inches="tight",
                            metadata=metadata)
        paths.append(path)
    return tuple(paths)


def grid_ticks(ax, values, *, fmt: str | None = None) -> None:
    """Put the x ticks of ``ax`` at the grid's values only, with no minor ticks or labels (a log axis
    otherwise crowds its minor labels).

    Parameters
    ----------
    ax : matplotlib Axes
    values : sequence of float
        The grid's values along x (e.g. the dimensions d of a sweep).
    fmt : str, optional
        A format for the labels (e.g. ``"{:g}"``); default: a whole number as an integer, else ``"{:g}"``.
    """
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter, NullLocator

    values = [float(v) for v in values]
    if fmt is None:
        labels = [str(int(v)) if v.is_integer() else f"{v:g}" for v in values]
    else:
        labels = [fmt.format(v) for v in values]
    ax.xaxis.set_major_locator(FixedLocator(values))
    ax.xaxis.set_major_formatter(FixedFormatter(labels))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def timing_note(seconds, n_cells: int, *, wall: float | None = None) -> str:
    """The note on how long a study's samples took: ``"N samples in C cells[, W s]; seconds per sample: mean
    M, max X"``.

    Parameters
    ----------
    seconds : array_like, shape (n_samples,)
        Seconds per sample (a table's ``seconds`` column).
    n_cells : int
        Number of cells the samples came from.
    wall : float, optional
        The run's wall time, when known (not in a rebuilt report: tables and notes are pure functions of the
        cells).
    """
    import numpy as np

    seconds = np.asarray(seconds, dtype=float).ravel()
    if seconds.size == 0:
        raise ValueError("seconds must hold at least one sample's time")
    return (f"{seconds.size} samples in {int(n_cells)} cells" + (f", {wall:.1f} s" if wall is not None else "")
            + f"; seconds per sample: mean {seconds.mean():.3f}, max {seconds.max():.3f}")


def verdict_line(bound_id: str, n_cells: int, n_violated: int, n_vacuous: int = 0) -> str:
    """One line per bound: ``VIOLATED in k of n cells``, ``vacuous`` or ``holds``, in that order.

    A violation always wins: a bound that is violated somewhere is reported as violated even where it is
    also vacuous. ``n_vacuous`` should count the cells that are vacuous and not violated.
    """
    if n_violated:
        status = f"VIOLATED in {n_violated} of {n_cells} cells"
    elif n_cells and n_vacuous == n_cells:
        status = f"vacuous in all {n_cells} cells"
    else:
        status = f"holds in all {n_cells} cells"
    if 0 < n_vacuous < n_cells or (n_violated and n_vacuous):
        status += f" (vacuous in {n_vacuous})"
    return f"{bound_id}: {status}"


def write_study(result: StudyResult, out_dir) -> Path:
    """Write a study's tables, figures and summary to ``out_dir`` and return the folder."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(result.table, out_dir, result.name)
    for name, df in result.extra_tables.items():
        write_table(df, out_dir, f"{result.name}_{name}")
    for name, fig in result.figures.items():
        save_figure(fig, out_dir, name)
        plt.close(fig)
    lines = [f"study {result.name}"] + result.verdicts
    if result.self_checks:
        from .checks import SELF_CHECK_HEADING

        lines += [f"{SELF_CHECK_HEADING}:"] + [f"  {line}" for line in result.self_checks]
    lines += [f"note: {n}" for n in result.notes]
    atomic_write_text(out_dir / "summary.txt", "\n".join(lines) + "\n")
    return out_dir
