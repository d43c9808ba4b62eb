"""Atomic, resumable storage of sweep cells.

A :class:`ResultStore` is a directory::

    <directory>/
        manifest.json          the sweep's configuration (seed, cell function, user config), the grid of the
                               latest run, the package version and code revision, creation/update times
        cells/<key>.json       one file per finished cell: its identity (study, digest of the sweep's
                               configuration, sweep seed), coordinates, result and the result's checksum,
                               then seeds, config, version, revision, timing
                               (key = boundcheck._cells.coords_key(coords))
        rejected/              cell files that failed their check (corrupt, foreign), kept, not deleted
        .lock                  held (flock) while a sweep writes the store

A cell is reused only when its own file proves it belongs to the run: the study, the digest of the whole
sweep configuration (seed, cell function, settings), the sweep seed and the coordinates all match, and the
SHA-256 of its result matches the checksum stored beside it. The manifest is a record, never the proof.

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
import hashlib
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
from .errors import UserError

__all__ = ["ResultStore", "StoredCell", "StoreConfigError", "StoreLockedError", "CellRejected", "package_version",
           "code_revision", "sweep_digest", "result_checksum", "file_mode", "atomic_replace",
           "atomic_write_text"]

FORMAT = 2
_TMP_PREFIX = ".tmp-"


class StoreConfigError(UserError):
    """The store holds a sweep with a different configuration (or of another study)."""


class StoreLockedError(UserError, RuntimeError):
    """Another process is running a sweep in the store."""


class CellRejected(UserWarning):
    """A stored cell failed its check (corrupt or foreign): it was moved aside and is recomputed."""


def sweep_digest(config: Mapping) -> str:
    """SHA-256 (hex, 32 characters) of the canonical JSON of a sweep's configuration."""
    return hashlib.sha256(_canonical_json(config).encode()).hexdigest()[:32]


def result_checksum(result: Mapping) -> str:
    """SHA-256 (hex) of the canonical JSON of a canonical result."""
    return hashlib.sha256(_canonical_json(result).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def file_mode() -> int:
    """The mode of a new file under the process's umask (``0o666 & ~umask``), as ``open()`` would give."""
    return 0o666 & ~_umask()


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


@contextlib.contextmanager
def atomic_replace(path, *, make_parents: bool = False) -> Iterator[Path]:
    """Write a file atomically: yield a temporary path beside ``path`` to write to; on a clean exit give it
    the mode ``open()`` would give (``0o666`` less the umask), fsync it, rename it over ``path``
    (:func:`os.replace`) and fsync the folder; on an error remove it, leaving ``path`` as it was.

    Parameters
    ----------
    path : str or Path
        The final file.
    make_parents : bool
        Create the folder of ``path`` (and its parents) first; by default a missing folder is an error.

    Yields
    ------
    Path
        The temporary file (``.tmp-*`` with the suffix of ``path``; it exists, empty).
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX, suffix=path.suffix or ".txt")
    try:
        try:
            os.fchmod(fd, file_mode())  # mkstemp creates 0600; a finished file gets the umask's mode
        finally:
            os.close(fd)
        yield Path(tmp)
        fd = os.open(tmp, os.O_RDWR)  # (Windows flushes only a handle open for writing)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path, text: str, *, make_parents: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_replace`): the file is either the old
    one or complete. ``make_parents`` creates its folder first."""
    with atomic_replace(path, make_parents=make_parents) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)


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
        Created (with parents) if missing, unless ``create=False`` (for reading: nothing is written).

    Examples
    --------
    >>> import tempfile
    >>> store = ResultStore(tempfile.mkdtemp())
    >>> store.save({"d": 25}, {"value": 1.5})
    >>> store.has({"d": 25}), store.load({"d": 25}).value
    (True, {'value': 1.5})
    """

    def __init__(self, directory, *, create: bool = True):
        self.directory = Path(directory)
        self.cells_dir = self.directory / "cells"
        self.rejected_dir = self.directory / "rejected"
        if create:
            try:
                self.cells_dir.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                raise UserError(f"cannot create the store {self.directory}: a file stands in its path; "
                                "choose another output folder") from None
            except NotADirectoryError:
                raise UserError(f"cannot create the store {self.directory}: a part of its path is a file; "
                                "choose another output folder") from None
            except PermissionError:
                raise UserError(f"cannot create the store {self.directory}: permission denied (read-only?); "
                                "choose another output folder") from None
            except OSError as exc:
                raise UserError(f"cannot create the store {self.directory}: {exc.strerror or exc}; "
                                "choose another output folder") from None

    def __repr__(self) -> str:
        return f"ResultStore({str(self.directory)!r})"

    # -- manifest ----------------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.directory / "manifest.json"

    @staticmethod
    def read_manifest(directory) -> dict | None:
        """The manifest of the store in ``directory`` as a dict, or None if there is none.

        Raises StoreConfigError (one line, naming the file) if it is not a JSON object.
        """
        path = Path(directory) / "manifest.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (ValueError, UnicodeDecodeError) as exc:
            raise StoreConfigError(f"the manifest {path} is corrupt ({type(exc).__name__}); rerun the study with "
                                   "the same options to rebuild it (its cells are checked one by one)") from None
        if not isinstance(doc, dict):
            raise StoreConfigError(f"the manifest {path} is corrupt (not a JSON object); rerun the study with the "
                                   "same options to rebuild it (its cells are checked one by one)")
        return doc

    @property
    def manifest(self) -> dict | None:
        """The manifest as a dict, or None if no sweep was started in this store."""
        return self.read_manifest(self.directory)

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
            stored cells and starts afresh. A corrupt manifest is moved aside and rewritten (each cell is
            checked on its own before reuse).
        run : mapping, optional
            How this run executes (e.g. ``{"threads_per_worker": 1, "workers": 2}``), recorded in the
            manifest. A change of ``threads_per_worker`` on resume gives a warning: BLAS libraries may round
            differently with another thread count, so the resumed table could differ from an uninterrupted
            one in the last bits.
        """
        config = json.loads(_canonical_json(dict(config)))
        try:
            old = self.manifest
        except StoreConfigError as exc:
            self._reject(self.manifest_path, "corrupt manifest")
            warnings.warn(str(exc).split(";")[0] + "; moved aside and rewritten", CellRejected, stacklevel=3)
            old = None
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
            "digest": sweep_digest(config),
            "seed": config.get("seed"),
            "grid": (grid if isinstance(grid, Grid) else Grid(grid)).to_dict() if grid is not None else None,
            "run": json.loads(_canonical_json(dict(run))) if run is not None else None,
            "version": package_version(),
            "revision": code_revision(),
            "created": created,
            "updated": _now(),
        }
        atomic_write_text(self.manifest_path, _dumps(manifest))

    def _mismatch_message(self, old, new) -> str:
        old = old or {}
        old_study = (old.get("config") or {}).get("study") if isinstance(old.get("config"), dict) else None
        new_study = (new.get("config") or {}).get("study") if isinstance(new.get("config"), dict) else None
        if old_study != new_study:
            return (f"the folder {self.directory.parent if self.directory.name.startswith('cells') else self.directory}"
                    f" holds cells of study {old_study or 'unknown'}, not {new_study or 'this sweep'}; use another "
                    "output folder, or add --fresh (overwrite=True) to discard them")
        diffs = []
        for k in sorted(set(old) | set(new)):
            a, b = old.get(k), new.get(k)
            if _canonical_json(a) == _canonical_json(b):
                continue
            if isinstance(a, dict) and isinstance(b, dict):
                for kk in sorted(set(a) | set(b)):
                    aa, bb = a.get(kk), b.get(kk)
                    if isinstance(aa, dict) and isinstance(bb, dict):
                        diffs += [f"{kkk}: stored {aa.get(kkk)!r}, now {bb.get(kkk)!r}" for kkk in sorted(set(aa) | set(bb))
                                  if _canonical_json(aa.get(kkk)) != _canonical_json(bb.get(kkk))]
                    elif _canonical_json(aa) != _canonical_json(bb):
                        diffs.append(f"{k}.{kk}: stored {aa!r}, now {bb!r}")
            else:
                diffs.append(f"{k}: stored {a!r}, now {b!r}")
        diffs = list(dict.fromkeys(diffs))  # the seed is both the sweep's and a setting: say it once
        return (f"the store {self.directory} holds a sweep with a different configuration ("
                + "; ".join(diffs) + "); use another output folder, or add --fresh (overwrite=True) to discard "
                "its cells")

    # -- cells -------------------------------------------------------------------------------------------
    def _path(self, coords: Mapping) -> Path:
        return self.cells_dir / f"{coords_key(coords)}.json"

    def has(self, coords: Mapping) -> bool:
        """Whether the cell's file exists (see :meth:`verify` for whether it belongs to a run)."""
        return self._path(coords).is_file()

    def load(self, coords: Mapping) -> StoredCell:
        """Read one finished cell. Raises KeyError if it is not in the store, ValueError if it is corrupt."""
        coords = _canonical_coords(coords)
        path = self._path(coords)
        try:
            cell = self._read(path)
        except FileNotFoundError:
            raise KeyError(f"cell {coords} is not in the store {self.directory}") from None
        problem = self._check_doc(path, cell, coords)
        if problem:
            raise ValueError(f"the cell file {path} is not valid: {problem}")
        return cell

    @staticmethod
    def _read(path: Path) -> StoredCell:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        cell = StoredCell(coords=doc.get("coords"), result=doc.get("result"), meta=doc.get("meta") or {})
        object.__setattr__(cell, "_doc", doc)
        return cell

    @staticmethod
    def _check_doc(path: Path, cell: StoredCell, coords: Mapping | None = None) -> str | None:
        """Why the cell read from ``path`` is not sound (shape, key, checksum), or None."""
        doc = getattr(cell, "_doc", {})
        if doc.get("format") != FORMAT:
            return f"format {doc.get('format')!r} (this version writes {FORMAT})"
        if not isinstance(cell.coords, dict):
            return "no coordinates"
        try:
            key = coords_key(cell.coords)
        except (TypeError, ValueError) as exc:
            return f"bad coordinates ({exc})"
        if key != path.stem or doc.get("key") != key:
            return "its coordinates do not match its file name"
        if coords is not None and _canonical_json(_canonical_coords(coords)) != _canonical_json(cell.coords):
            return "its coordinates are not the cell's"
        res = cell.result
        if not isinstance(res, dict) or res.get("kind") not in ("row", "frame") or \
                not isinstance(res.get("columns"), list) or not isinstance(res.get("data"), list):
            return "its result has the wrong shape"
        width = len(res["columns"])
        if not all(isinstance(c, str) for c in res["columns"]) or \
                not all(isinstance(r, list) and len(r) == width for r in res["data"]) or \
                (res["kind"] == "row" and len(res["data"]) != 1):
            return "its result has the wrong shape"
        if doc.get("checksum") != result_checksum(res):
            return "its result does not match its checksum"
        return None

    def verify(self, coords: Mapping, identity: Mapping | None) -> tuple[StoredCell | None, str | None]:
        """Check the stored cell at ``coords`` against the run's ``identity``.

        Returns ``(cell, None)`` when it can be reused, ``(None, None)`` when there is no file, and
        ``(None, reason)`` when the file is corrupt or belongs to another sweep (study, digest, seed).
        """
        path = self._path(coords)
        try:
            cell = self._read(path)
        except FileNotFoundError:
            return None, None
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            return None, f"unreadable ({type(exc).__name__})"
        problem = self._check_doc(path, cell, coords)
        if problem:
            return None, problem
        if identity is not None:
            stored = getattr(cell, "_doc", {}).get("identity") or {}
            for field in ("study", "digest", "sweep_seed"):
                if _canonical_json(stored.get(field)) != _canonical_json(identity.get(field)):
                    what = {"study": "study", "digest": "configuration", "sweep_seed": "sweep seed"}[field]
                    return None, f"of another {what} ({field} {stored.get(field)!r}, this run {identity.get(field)!r})"
        return cell, None

    def _reject(self, path: Path, reason: str) -> Path:
        """Move ``path`` aside into ``rejected/`` (kept, never deleted); return where it went."""
        self.rejected_dir.mkdir(exist_ok=True)
        target = self.rejected_dir / path.name
        n = 0
        while target.exists():
            n += 1
            target = self.rejected_dir / f"{path.name}.{n}"
        os.replace(path, target)
        return target

    def reject(self, coords: Mapping, reason: str) -> Path:
        """Move the cell's file aside (see :meth:`verify`), with a warning naming it; return its new path."""
        path = self._path(coords)
        target = self._reject(path, reason)
        warnings.warn(f"the cell file {path} was rejected ({reason}); moved to {target} and recomputed", CellRejected,
                      stacklevel=2)
        return target

    def save(self, coords: Mapping, result, meta: Mapping | None = None, *, canonical: bool = False,
             identity: Mapping | None = None) -> None:
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
        identity : mapping, optional
            ``{"study", "digest", "sweep_seed"}`` of the run (by default from the manifest): checked by
            :meth:`verify` before the cell is reused.
        """
        coords = _canonical_coords(coords)
        res = dict(result) if canonical else _canonical_result(result, tuple(coords))
        manifest = self.manifest
        if identity is None:
            identity = self.identity(manifest)
        full_meta = dict(meta or {})
        full_meta.setdefault("config", manifest.get("config") if manifest else None)
        full_meta.update(version=package_version(), revision=code_revision(), host=socket.gethostname(),
                         written=_now())
        doc = {"format": FORMAT, "identity": dict(identity), "coords": coords, "key": coords_key(coords),
               "checksum": result_checksum(res), "result": res, "meta": full_meta}
        atomic_write_text(self._path(coords), _dumps(doc))

    @staticmethod
    def identity(manifest: Mapping | None) -> dict:
        """The identity a cell of this manifest's sweep carries: study, digest, sweep seed."""
        config = (manifest or {}).get("config") or {}
        user = config.get("config") if isinstance(config.get("config"), dict) else {}
        return {"study": user.get("study"), "digest": sweep_digest(config) if manifest else None,
                "sweep_seed": config.get("seed")}

    def cells(self) -> Iterator[StoredCell]:
        """Iterate over the finished cells (in file-name order; temporary and unreadable files are skipped)."""
        for path in sorted(self.cells_dir.glob("*.json")):
            if not path.name.startswith(_TMP_PREFIX):
                try:
                    cell = self._read(path)
                except (OSError, ValueError, UnicodeDecodeError):
                    continue
                if self._check_doc(path, cell) is None:
                    yield cell

    def __len__(self) -> int:
        return sum(1 for p in self.cells_dir.glob("*.json") if not p.name.startswith(_TMP_PREFIX))

    def scan(self, grid: Grid | Mapping, identity: Mapping | None = None) -> tuple[dict, list, list]:
        """Check every cell of ``grid``: ``(results by key, missing coords, [(coords, reason), ...] rejected)``.

        ``identity`` defaults to the manifest's. Nothing is written or moved.
        """
        grid = grid if isinstance(grid, Grid) else Grid(grid)
        if identity is None:
            identity = self.identity(self.manifest)
        results, missing, rejected = {}, [], []
        for coords in grid:
            cell, reason = self.verify(coords, identity)
            if cell is not None:
                results[coords_key(coords)] = cell.result
            else:
                missing.append(coords)
                if reason is not None:
                    rejected.append((coords, reason))
        return results, missing, rejected

    def table(self, grid: Grid | Mapping | None = None) -> pd.DataFrame:
        """The verified finished cells' rows, as :func:`run_sweep` returns them, in grid order.

        Parameters
        ----------
        grid : Grid or mapping, optional
            Defaults to the grid recorded by the latest run. Cells of the grid that are not finished (or
            fail their check against the manifest) are left out; stored cells outside the grid are ignored.
        """
        if grid is None:
            manifest = self.manifest
            if not manifest or not manifest.get("grid"):
                raise ValueError(f"the store {self.directory} records no grid; pass grid=")
            grid = manifest["grid"]
        grid = grid if isinstance(grid, Grid) else Grid(grid)
        results, _, _ = self.scan(grid)
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

        Raises StoreLockedError at once if another process holds it. A no-op where ``fcntl`` is missing.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, file_mode())
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreLockedError(f"another process is running a sweep in {self.directory}; wait for it to "
                                       "finish (or stop it), then run the same command again") from None
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
