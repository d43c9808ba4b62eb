"""Atomic, resumable storage of sweep cells.

A :class:`ResultStore` is a directory::

    <directory>/
        manifest.json          the sweep's configuration (seed, cell function, user config), the grid of the
                               latest run, the package version and code revision, creation/update times
        cells/<key>.json       one file per finished cell: coordinates, result, seeds, config, version,
                               revision, timing (key = boundcheck._cells.coords_key(coords))
        .lock                  held (flock) while a sweep writes the store

Every file is written atomically: to a temporary file ``.tmp-*`` in the same directory, flushed and
fsync'ed, then renamed over its final name with :func:`os.replace` (atomic on POSIX and Windows), and the
directory is fsync'ed. So a cell file either exists complete or does not exist: a sweep killed at any
moment (Ctrl-C, a crash, SIGKILL, a power cut after the rename) leaves only finished cells and, at worst,
a stray temporary file, which is ignored and removed when the next sweep starts.

The format is plain JSON (no pickle): floats are written with Python's shortest round-trip ``repr``, so
results read back are bit-identical, including NaN and infinities (as the non-standard JSON tokens
``NaN``/``Infinity`` that Python reads and writes).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import os
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ._cells import Grid, _assemble, _canonical_coords, _canonical_json, _canonical_result, _result_object, \
    coords_key

__all__ = ["ResultStore", "StoredCell", "StoreConfigError", "package_version", "code_revision"]

FORMAT = 1
_TMP_PREFIX = ".tmp-"


class StoreConfigError(ValueError):
    """The store holds a sweep with a different configuration."""


@functools.lru_cache(maxsize=1)
def package_version() -> str:
    """``boundcheck.__version__`` if defined, else the installed distribution's version, else "unknown"."""
    try:
        import boundcheck

        version = getattr(boundcheck, "__version__", None)
        if version:
            return str(version)
    except Exception:  # pragma: no cover - a broken package import must not stop the store
        pass
    try:
        from importlib.metadata import version as _dist_version

        return _dist_version("boundcheck")
    except Exception:
        return "unknown"


@functools.lru_cache(maxsize=1)
def code_revision() -> str:
    """The git commit of the source tree (``git rev-parse HEAD``), with ``-dirty`` when tracked files are
    modified; "unknown" outside a git checkout or without git."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=10)
        if rev.returncode != 0:
            return "unknown"
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                capture_output=True, text=True, timeout=10)
        dirty = status.returncode == 0 and status.stdout.strip() != ""
        return rev.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX). Silently skipped where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platform dependent
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - platform dependent
        pass
    finally:
        os.close(fd)


def _atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: temp file in the same directory, fsync, os.replace."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX, suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _dumps(obj) -> str:
    return json.dumps(obj, indent=1, allow_nan=True, sort_keys=False) + "\n"


@dataclass(frozen=True)
class StoredCell:
    """One finished cell as read from a store.

    Attributes
    ----------
    coords : dict
        The cell's coordinates.
    result : dict
        The canonical result: ``{"kind": "row"|"frame", "columns": [...], "data": [[...], ...]}``.
    meta : dict
        Seeds, config, package version, code revision, timing, host.
    """

    coords: dict
    result: dict
    meta: dict

    @property
    def value(self):
        """The result as the cell function returned it: a dict (one row) or a DataFrame."""
        return _result_object(self.result)

    def frame(self) -> pd.DataFrame:
        """The cell's rows with the coordinate columns first, as they appear in the sweep table."""
        return _assemble(Grid({k: [v] for k, v in self.coords.items()}), {coords_key(self.coords): self.result})


class ResultStore:
    """A directory of atomically written sweep cells; see the module docstring for the layout.

    Parameters
    ----------
    directory : str or path-like
        Created (with parents) if missing.

    Examples
    --------
    >>> import tempfile
    >>> store = ResultStore(tempfile.mkdtemp())
    >>> store.save({"d": 25}, {"value": 1.5})
    >>> store.has({"d": 25}), store.load({"d": 25}).value
    (True, {'value': 1.5})
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        self.cells_dir = self.directory / "cells"
        self.cells_dir.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"ResultStore({str(self.directory)!r})"

    # -- manifest ----------------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.directory / "manifest.json"

    @property
    def manifest(self) -> dict | None:
        """The manifest as a dict, or None if no sweep was started in this store."""
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def start(self, config: Mapping, *, grid: Grid | Mapping | None = None, overwrite: bool = False,
              run: Mapping | None = None) -> None:
        """Begin (or resume) a sweep: check the configuration, write the manifest, remove stray temp files.

        Parameters
        ----------
        config : mapping
            Everything that determines the cells' results (JSON-able): for :func:`run_sweep`, the sweep
            seed, the cell function's name and the user's config. The grid is not part of it: cells are
            keyed and seeded by their coordinates alone, so a grid may grow between runs and finished
            cells are reused.
        grid : Grid or mapping, optional
            The grid of this run, recorded in the manifest (and used by :meth:`table` by default).
        overwrite : bool
            If the stored configuration differs: False raises :class:`StoreConfigError`, True deletes the
            stored cells and starts afresh.
        run : mapping, optional
            How this run executes (e.g. ``{"threads_per_worker": 1, "workers": 2}``), recorded in the
            manifest. A change of ``threads_per_worker`` on resume gives a warning: BLAS libraries may round
            differently with another thread count, so the resumed table could differ from an uninterrupted
            one in the last bits.
        """
        config = json.loads(_canonical_json(dict(config)))
        old = self.manifest
        self.clean_temporary()
        created = _now()
        if old is not None:
            if _canonical_json(old.get("config")) != _canonical_json(config):
                if not overwrite:
                    raise StoreConfigError(self._mismatch_message(old.get("config"), config))
                for path in self.cells_dir.glob("*.json"):
                    path.unlink()
            else:
                created = old.get("created", created)
                old_threads = (old.get("run") or {}).get("threads_per_worker")
                new_threads = (run or {}).get("threads_per_worker")
                if old.get("run") is not None and run is not None and old_threads != new_threads:
                    warnings.warn(f"resuming the sweep in {self.directory} with threads_per_worker={new_threads}, "
                                  f"but it was run with {old_threads}; BLAS results may differ in the last bits "
                                  "between thread counts", RuntimeWarning, stacklevel=3)
                if old.get("revision") not in (None, code_revision()):
                    warnings.warn(f"resuming the sweep in {self.directory} with code revision {code_revision()}, "
                                  f"but it was started at {old.get('revision')}; each cell records its own "
                                  "revision", RuntimeWarning, stacklevel=3)
        manifest = {
            "format": FORMAT,
            "config": config,
            "seed": config.get("seed"),
            "grid": (grid if isinstance(grid, Grid) else Grid(grid)).to_dict() if grid is not None else None,
            "run": json.loads(_canonical_json(dict(run))) if run is not None else None,
            "version": package_version(),
            "revision": code_revision(),
            "created": created,
            "updated": _now(),
        }
        _atomic_write_text(self.manifest_path, _dumps(manifest))

    def _mismatch_message(self, old, new) -> str:
        old = old or {}
        diffs = [f"{k}: stored {old.get(k)!r}, now {new.get(k)!r}"
                 for k in sorted(set(old) | set(new)) if _canonical_json(old.get(k)) != _canonical_json(new.get(k))]
        return (f"the store {self.directory} holds a sweep with a different configuration ("
                + "; ".join(diffs) + "). Use another directory, or pass overwrite=True to discard its cells.")

    # -- cells -------------------------------------------------------------------------------------------
    def _path(self, coords: Mapping) -> Path:
        return self.cells_dir / f"{coords_key(coords)}.json"

    def has(self, coords: Mapping) -> bool:
        """Whether the cell is finished (its file exists; it is complete by construction)."""
        return self._path(coords).is_file()

    def load(self, coords: Mapping) -> StoredCell:
        """Read one finished cell. Raises KeyError if it is not in the store."""
        coords = _canonical_coords(coords)
        try:
            cell = self._read(self._path(coords))
        except FileNotFoundError:
            raise KeyError(f"cell {coords} is not in the store {self.directory}") from None
        if _canonical_json(cell.coords) != _canonical_json(coords):  # pragma: no cover - hash collision
            raise RuntimeError(f"cell file for {coords} holds coordinates {cell.coords}")
        return cell

    @staticmethod
    def _read(path: Path) -> StoredCell:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return StoredCell(coords=doc["coords"], result=doc["result"], meta=doc.get("meta", {}))

    def save(self, coords: Mapping, result, meta: Mapping | None = None, *, canonical: bool = False) -> None:
        """Write one finished cell atomically.

        Parameters
        ----------
        coords : mapping
            The cell's coordinates.
        result : dict or DataFrame
            The cell function's result (a dict of scalars or a DataFrame), or with ``canonical=True`` the
            engine's canonical form.
        meta : mapping, optional
            JSON-able metadata (seeds, timing). The store adds the config (from the manifest), the package
            version, the code revision, the host and the time of writing.
        """
        coords = _canonical_coords(coords)
        res = dict(result) if canonical else _canonical_result(result, tuple(coords))
        manifest = self.manifest
        full_meta = dict(meta or {})
        full_meta.setdefault("config", manifest.get("config") if manifest else None)
        full_meta.update(version=package_version(), revision=code_revision(), host=socket.gethostname(),
                         written=_now())
        doc = {"format": FORMAT, "coords": coords, "key": coords_key(coords), "result": res, "meta": full_meta}
        _atomic_write_text(self._path(coords), _dumps(doc))

    def cells(self) -> Iterator[StoredCell]:
        """Iterate over the finished cells (in file-name order; temporary files are skipped)."""
        for path in sorted(self.cells_dir.glob("*.json")):
            if not path.name.startswith(_TMP_PREFIX):
                yield self._read(path)

    def __len__(self) -> int:
        return sum(1 for p in self.cells_dir.glob("*.json") if not p.name.startswith(_TMP_PREFIX))

    def table(self, grid: Grid | Mapping | None = None) -> pd.DataFrame:
        """The finished cells' rows, as :func:`run_sweep` returns them, in grid order.

        Parameters
        ----------
        grid : Grid or mapping, optional
            Defaults to the grid recorded by the latest run. Cells of the grid that are not finished are
            left out; stored cells outside the grid are ignored.
        """
        if grid is None:
            manifest = self.manifest
            if not manifest or not manifest.get("grid"):
                raise ValueError(f"the store {self.directory} records no grid; pass grid=")
            grid = manifest["grid"]
        grid = grid if isinstance(grid, Grid) else Grid(grid)
        results = {}
        for coords in grid:
            if self.has(coords):
                results[coords_key(coords)] = self.load(coords).result
        return _assemble(grid, results)

    # -- housekeeping ------------------------------------------------------------------------------------
    def clean_temporary(self) -> int:
        """Remove temporary files left by an interrupted write; return how many were removed."""
        removed = 0
        for folder in (self.directory, self.cells_dir):
            for path in folder.glob(_TMP_PREFIX + "*"):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
        return removed

    @contextlib.contextmanager
    def lock(self):
        """Hold an exclusive lock on the store (POSIX ``flock``; released by the OS if the process dies).

        Raises RuntimeError at once if another process holds it. A no-op where ``fcntl`` is missing.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RuntimeError(f"another process is running a sweep in {self.directory}") from None
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
