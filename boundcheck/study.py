"""The study interface: one way to write a study.

A study is a module (``studies/<name>.py``, shipped as ``boundcheck.studies.<name>``, or a module of a
user's package registered under the entry-point group ``boundcheck.studies``) that defines ``STUDY``, a
:class:`Study`:

.. code-block:: python

    @dataclass(frozen=True)
    class Config(StudyConfig):
        widths: tuple = setting((100, 1000), positive_ints)
        C0s: tuple = setting((0.5, 1.0), positives)
        n_samples: int = setting(400, positive_int)
        engine: str = setting("fast", choice("fast", "full"))
        seed: int = setting(0, seed_domain)

        @classmethod
        def quick(cls):
            return cls(n_samples=40)

    def grid(config):                      # the cells: coordinates only
        return {"m": config.widths, "C0": config.C0s}

    def cell(coords, rng, settings):       # settings: the Config itself
        ...
        return {"value": ...}              # or a DataFrame (several rows)

    def build(table, config):              # tables and plots from the cells
        return StudyResult(name=NAME, table=table, verdicts=[...])

    STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, grid=grid, cell=cell, build=build)
    run, report = STUDY.run, STUDY.report

Every field of the config declares its domain beside its default (:func:`setting`); a config is checked
completely when it is made (so before any file is written), and TOML overrides are standardized by the same
domains. :meth:`Study.run` runs the sweep on the engine (:func:`boundcheck.montecarlo.run_sweep`: resume,
workers, Dask) into ``out_dir/cells`` and builds the result; :meth:`Study.report` rebuilds it from the
stored cells alone, and refuses a partial store or another study's folder. A study with several sweeps
gives ``phases=(Phase("main", grid, cell), Phase("points", grid2, cell2))``; its ``build`` receives a dict
``{phase name: table}``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import numbers
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ._cells import Grid, _assemble
from .errors import UserError

__all__ = ["Study", "Phase", "StudyConfig", "StudyError", "ConfigError", "setting", "Domain", "Integer", "Real",
           "Choice", "Boolean", "Text", "TupleOf", "Record", "positive_int", "nonnegative_int", "seed_domain",
           "positive", "nonnegative", "probability", "positive_ints", "positives", "probabilities", "choice",
           "boolean", "text"]


class StudyError(UserError):
    """A user's error around a study (a folder of another study, a partial store, a bad config): one line."""


class ConfigError(StudyError):
    """A setting outside its declared domain."""


# --------------------------------------------------------------------------------------------------------
# Domains
# --------------------------------------------------------------------------------------------------------

class Domain:
    """The set of values a setting may take; calling it checks and standardizes a value.

    ``domain(value, name)`` returns the standardized value (e.g. a list becomes a tuple, an int a float
    where a real is expected) or raises :class:`ConfigError` naming the setting, the value and the domain.
    """

    description = "a value"

    def __call__(self, value, name: str):
        return self.standardize(value, name)

    def standardize(self, value, name: str):  # pragma: no cover - abstract
        raise NotImplementedError

    def fail(self, value, name: str):
        return ConfigError(f"setting {name!r} = {value!r}: expected {self.description}")

    def __repr__(self) -> str:
        return f"<{self.description}>"


class Integer(Domain):
    def __init__(self, minimum: int | None = None, maximum: int | None = None, description: str | None = None):
        self.minimum, self.maximum = minimum, maximum
        if description is None:
            description = ("an integer" + (f" >= {minimum}" if minimum is not None else "")
                           + (f" <= {maximum}" if maximum is not None else ""))
        self.description = description

    def standardize(self, value, name):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise self.fail(value, name)
        value = int(value)
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise self.fail(value, name)
        return value


class Real(Domain):
    def __init__(self, minimum: float | None = None, maximum: float | None = None, *, open_min: bool = False,
                 open_max: bool = False, description: str | None = None):
        self.minimum, self.maximum, self.open_min, self.open_max = minimum, maximum, open_min, open_max
        if description is None:
            parts = []
            if minimum is not None:
                parts.append(f"{'>' if open_min else '>='} {minimum:g}")
            if maximum is not None:
                parts.append(f"{'<' if open_max else '<='} {maximum:g}")
            description = "a finite number" + (" " + " and ".join(parts) if parts else "")
        self.description = description

    def standardize(self, value, name):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self.fail(value, name)
        value = float(value)
        if not math.isfinite(value):
            raise self.fail(value, name)
        lo, hi = self.minimum, self.maximum
        if lo is not None and (value <= lo if self.open_min else value < lo):
            raise self.fail(value, name)
        if hi is not None and (value >= hi if self.open_max else value > hi):
            raise self.fail(value, name)
        return value


class Choice(Domain):
    def __init__(self, *options):
        self.options = tuple(options)
        self.description = "one of " + ", ".join(repr(o) for o in self.options)

    def standardize(self, value, name):
        if not isinstance(value, (str, numbers.Number)) or value not in self.options:
            raise self.fail(value, name)
        return value


class Boolean(Domain):
    description = "true or false"

    def standardize(self, value, name):
        if not isinstance(value, bool):
            raise self.fail(value, name)
        return value


class Text(Domain):
    description = "a string"

    def standardize(self, value, name):
        if not isinstance(value, str):
            raise self.fail(value, name)
        return value


class TupleOf(Domain):
    """A tuple (a list in TOML) of values of one domain, with at least ``min_len`` of them."""

    def __init__(self, item: Domain, min_len: int = 1, *, unique: bool = False, description: str | None = None):
        self.item, self.min_len, self.unique = item, min_len, unique
        if description is None:
            what = "a non-empty tuple" if min_len == 1 else "a tuple" if min_len == 0 else \
                f"a tuple of at least {min_len} values"
            description = f"{what} of {item.description.removeprefix('a ').removeprefix('an ')}s" + \
                (" (no repeats)" if unique else "")
        self.description = description

    def standardize(self, value, name):
        if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
            raise self.fail(value, name)
        if len(value) < self.min_len:
            raise self.fail(value, name)
        out = []
        for i, v in enumerate(value):
            try:
                out.append(self.item(v, f"{name}[{i}]"))
            except ConfigError as exc:
                raise ConfigError(f"{exc}; the whole setting must be {self.description}") from None
        if self.unique and len({json.dumps(v) for v in out}) != len(out):
            raise self.fail(value, name)
        return tuple(out)


class Record(Domain):
    """A fixed-length tuple whose positions have their own domains (e.g. ``("init", 512, 0.0)``)."""

    def __init__(self, *items: Domain, names: tuple[str, ...] | None = None):
        self.items, self.names = items, names
        labels = names or tuple(i.description for i in items)
        self.description = f"a tuple ({', '.join(labels)})"

    def standardize(self, value, name):
        if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) or len(value) != len(self.items):
            raise self.fail(value, name)
        return tuple(dom(v, f"{name}[{i}]") for i, (dom, v) in enumerate(zip(self.items, value)))


positive_int = Integer(1, description="a positive integer")
nonnegative_int = Integer(0, description="an integer >= 0")
seed_domain = Integer(0, description="an integer seed >= 0")
positive = Real(0.0, open_min=True, description="a positive finite number")
nonnegative = Real(0.0, description="a finite number >= 0")
probability = Real(0.0, 1.0, open_min=True, open_max=True, description="a probability in (0, 1)")
positive_ints = TupleOf(positive_int, unique=True, description="a non-empty tuple of distinct positive integers")
positives = TupleOf(positive, unique=True, description="a non-empty tuple of distinct positive numbers")
probabilities = TupleOf(probability, unique=True, description="a non-empty tuple of distinct probabilities in (0, 1)")
boolean = Boolean()
text = Text()


def choice(*options) -> Choice:
    """The domain of one of ``options``."""
    return Choice(*options)


def setting(default, domain: Domain | None = None, *, doc: str = ""):
    """A config field with its domain declared beside its default (``dataclasses.field`` metadata)."""
    if domain is not None and not isinstance(domain, Domain):
        raise TypeError(f"domain must be a boundcheck.study.Domain, got {type(domain).__name__}")
    return dataclasses.field(default=default, metadata={"domain": domain, "doc": doc})


def _plain(value):
    """JSON-able form of a setting: tuples become lists, recursively."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _tuples(value):
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


@dataclass(frozen=True)
class StudyConfig:
    """Base of every study's ``Config`` (a frozen dataclass whose fields are declared with :func:`setting`).

    Every field is checked against its domain when the config is made (or changed with
    :func:`dataclasses.replace`), and standardized (lists become tuples, ints become floats where a real is
    expected). Cross-field conditions go in :meth:`check`.
    """

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            domain = f.metadata.get("domain")
            if domain is not None:
                value = domain(value, f.name)
            else:
                value = _tuples(value)
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Conditions between fields; raise :class:`ConfigError` naming the settings. Nothing by default."""

    @classmethod
    def quick(cls):
        """A configuration that runs in seconds (for smoke tests and docs builds)."""
        return cls()

    @classmethod
    def domains(cls) -> dict[str, Domain | None]:
        return {f.name: f.metadata.get("domain") for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, data: Mapping):
        """A config from plain values (a stored manifest, a TOML file); unknown keys are refused."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(map(repr, unknown))}; "
                              f"the settings are: {', '.join(names)}")
        return cls(**dict(data))

    def to_dict(self) -> dict:
        """The settings as plain JSON values (tuples as lists)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def digest(self) -> str:
        """SHA-256 (hex, 16 characters) of the canonical JSON of the settings."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------------------
# Studies
# --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Phase:
    """One sweep of a study: ``grid(config) -> Grid or mapping`` and ``cell(coords, rng, settings)``.

    ``cost(coords, settings) -> float``, optional: the cost model of a cell, its estimated seconds on one
    core (e.g. its flops over :func:`boundcheck.montecarlo.gemm_rate`). With it the run announces its
    estimated wall time before the first cell starts, and the progress bar weighs the cells by it
    (:func:`boundcheck.montecarlo.run_sweep`, ``cell_cost``). It affects no result.
    """

    name: str
    grid: Callable
    cell: Callable
    cost: Callable | None = None

    @property
    def store_name(self) -> str:
        return "cells" if self.name == "main" else f"cells_{self.name}"


class Study:
    """A study: its name and description, its config class, its sweep(s) and the build of its result.

    Parameters
    ----------
    name, description : str
    config : subclass of StudyConfig
        Frozen dataclass with declared domains, a ``seed`` field, ``quick()`` and optionally ``paper()``.
    grid : callable ``grid(config) -> Grid or mapping``
        The cells of the sweep (coordinates only; settings travel in ``settings``).
    cell : callable ``cell(coords, rng, settings) -> dict or DataFrame``
        One cell; ``settings`` is the config. Module level (picklable) so that workers can run it.
    build : callable ``build(table, config) -> StudyResult``
        Tables, plots and verdicts from the sweep's table (a dict ``{phase: table}`` with ``phases``).
    phases : sequence of Phase, optional
        Several sweeps instead of ``grid``/``cell``; they run in order.
    cost : callable ``cost(coords, settings) -> float``, optional
        With ``grid``/``cell``: the cost model of a cell in estimated seconds on one core (see
        :class:`Phase`). Each phase carries its own otherwise.
    timing_columns : sequence of str
        Result columns that hold timings (seconds per sample, per epoch, ...). They differ from run to
        run, so they are kept out of the outputs that must be reproducible: ``build`` receives the tables
        without them, and :meth:`run` / :meth:`report` write them to ``out_dir/timings.json`` (with each
        cell's wall seconds from the store). ``summary.txt`` and the tables are then the same bytes
        whenever the study is rerun with the same settings and seed, into any folder.
    """

    def __init__(self, *, name: str, description: str, config: type, build: Callable, grid: Callable | None = None,
                 cell: Callable | None = None, phases=None, cost: Callable | None = None, timing_columns=()):
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"a study's name must be an identifier, got {name!r}")
        if not (isinstance(config, type) and issubclass(config, StudyConfig) and dataclasses.is_dataclass(config)):
            raise TypeError(f"study {name}: config must be a dataclass subclass of boundcheck.study.StudyConfig")
        if "seed" not in {f.name for f in dataclasses.fields(config)}:
            raise TypeError(f"study {name}: its Config needs a seed field (the sweep seed)")
        if phases is None:
            if grid is None or cell is None:
                raise TypeError(f"study {name}: give grid= and cell=, or phases=")
            phases = (Phase("main", grid, cell, cost),)
        elif grid is not None or cell is not None or cost is not None:
            raise TypeError(f"study {name}: give grid= and cell= (and cost=), or phases=, not both")
        phases = tuple(phases)
        if not phases or not all(isinstance(p, Phase) for p in phases):
            raise TypeError(f"study {name}: phases must be a non-empty sequence of Phase")
        for p in phases:
            if p.cost is not None and not callable(p.cost):
                raise TypeError(f"study {name}: the cost of phase {p.name!r} must be callable "
                                f"(coords, settings) -> seconds, got {type(p.cost).__name__}")
        if len({p.name for p in phases}) != len(phases):
            raise TypeError(f"study {name}: phase names must differ")
        if isinstance(timing_columns, str) or not all(isinstance(c, str) for c in timing_columns):
            raise TypeError(f"study {name}: timing_columns must be a sequence of column names")
        self.name, self.description, self.Config, self.build, self.phases = name, description, config, build, phases
        self.timing_columns = tuple(timing_columns)

    def __repr__(self) -> str:
        return f"Study({self.name!r})"

    @property
    def has_paper(self) -> bool:
        return "paper" in vars(self.Config) or any("paper" in vars(k) for k in self.Config.__mro__[1:]
                                                    if k is not StudyConfig and k is not object)

    def _check_config(self, config):
        if not isinstance(config, self.Config):
            raise TypeError(f"study {self.name}: config must be a {self.Config.__qualname__}, "
                            f"got {type(config).__name__}")
        return config

    def sweep_config(self, config, phase: Phase) -> dict:
        """What determines the phase's cells, stored with each of them: the study, the phase, the settings."""
        return {"study": self.name, "phase": phase.name, "settings": config.to_dict()}

    def run(self, config, *, out_dir, workers: int = 1, scheduler=None, progress: bool = True,
            overwrite: bool = False, connect_timeout: float | None = None, command: str | None = None):
        """Run (or resume) the study's sweep(s) into ``out_dir`` and build its result (a StudyResult).

        ``overwrite=True`` discards stored cells of another configuration. ``command`` (the command line
        that ran it) is recorded in the store, so that a partial store can say how to complete it.
        """
        from .montecarlo import run_sweep
        from .store import ResultStore

        config = self._check_config(config)
        out_dir = Path(out_dir)
        announce_after = announce_threshold()
        if progress and announce_after is not None and len(self.phases) > 1 and \
                all(phase.cost is not None for phase in self.phases):
            # each phase announces itself when it starts; the total is said once, up front
            from .montecarlo import _duration

            total = self.estimate(config, workers=workers if scheduler is None else 1)["wall_s"]
            if total > announce_after:
                print(f"{self.name}: estimated {_duration(total)} in all for its {len(self.phases)} phases "
                      f"(cost model, before the first cell, counting cells already stored as well)", file=sys.stderr)
        tables = {}
        for phase in self.phases:
            store = ResultStore(out_dir / phase.store_name)
            cost = None if phase.cost is None else functools.partial(phase.cost, settings=config)
            tables[phase.name] = run_sweep(
                functools.partial(phase.cell, settings=config), phase.grid(config), seed=config.seed, store=store,
                workers=workers, scheduler=scheduler, progress=progress, config=self.sweep_config(config, phase),
                overwrite=overwrite, connect_timeout=connect_timeout, command=command,
                label=self.name if len(self.phases) == 1 else f"{self.name}:{phase.name}",
                announce_after=announce_after, cell_cost=cost)
        return self._build(tables, config, out_dir)

    def estimate(self, config, workers: int = 1) -> dict:
        """The cost model's estimate of a whole run (nothing is run): per phase and in all.

        Returns ``{"phases": {name: {"cells", "sum_s", "max_s", "wall_s"} or None}, "wall_s": float or
        None}``: estimated seconds on one core summed over the cells, the largest cell, and the wall time
        ``max(sum / workers, largest)`` on ``workers`` cores; None for a phase without a cost model (and
        for the total when any phase has none).
        """
        from ._validate import check_int

        config = self._check_config(config)
        workers = check_int(workers, "workers", minimum=1)
        phases, total = {}, 0.0
        for phase in self.phases:
            if phase.cost is None:
                phases[phase.name] = None
                total = None
                continue
            costs = [float(phase.cost(dict(c), settings=config)) for c in _grid(phase.grid(config))]
            wall = max(sum(costs) / min(workers, len(costs)), max(costs))
            phases[phase.name] = {"cells": len(costs), "sum_s": sum(costs), "max_s": max(costs), "wall_s": wall}
            if total is not None:
                total += wall
        return {"phases": phases, "wall_s": total}

    def _build(self, tables: dict, config, out_dir=None):
        """Split the timing columns off (into ``out_dir/timings.json``), then build from the rest."""
        clean = {}
        timings = {"study": self.name, "note": "timings of the run that computed the cells; not part of the "
                   "reproducible outputs (summary.txt and the tables)", "phases": {}}
        for phase in self.phases:
            table = tables[phase.name]
            cols = [c for c in self.timing_columns if c in table.columns]
            clean[phase.name] = table.drop(columns=cols)
            if out_dir is not None:
                timings["phases"][phase.name] = _phase_timings(table, cols, phase, config, Path(out_dir))
        if out_dir is not None and Path(out_dir).is_dir():
            from .report import atomic_write_text

            atomic_write_text(Path(out_dir) / TIMINGS_FILE,
                              json.dumps(timings, indent=1, allow_nan=True, default=_json_default) + "\n")
        if len(self.phases) == 1:
            return self.build(clean[self.phases[0].name], config)
        return self.build(clean, config)

    def stored_config(self, out_dir):
        """The config stored in ``out_dir`` (of the first phase's store). Raises StudyError if none is."""
        from .store import ResultStore

        out_dir = Path(out_dir)
        path = out_dir / self.phases[0].store_name
        manifest = ResultStore.read_manifest(path)
        if manifest is None:
            raise StudyError(f"{out_dir} holds no stored cells of study {self.name} "
                             f"(run: boundcheck study {self.name} --out {out_dir})")
        stored = (manifest.get("config") or {}).get("config") or {}
        owner = stored.get("study")
        if owner != self.name:
            raise StudyError(f"{out_dir} holds cells of study {owner or 'unknown (an older format)'}, not {self.name} "
                             f"(run: boundcheck report {out_dir} --study {owner})" if owner else
                             f"{out_dir} holds cells that do not name their study; rerun: "
                             f"boundcheck study {self.name} --out {out_dir} --fresh")
        try:
            return self.Config.from_dict(stored.get("settings") or {}), manifest
        except (ConfigError, TypeError) as exc:
            raise StudyError(f"{out_dir}: the stored config of study {self.name} is not valid: {exc}") from None

    def report(self, out_dir):
        """Rebuild the result from the cells stored in ``out_dir`` (nothing is recomputed).

        Refuses (StudyError, one line) a folder of another study, and a store that misses cells of the
        grid (with the command that completes it).
        """
        from .store import ResultStore

        out_dir = Path(out_dir)
        config, manifest = self.stored_config(out_dir)
        tables = {}
        for phase in self.phases:
            path = out_dir / phase.store_name
            if ResultStore.read_manifest(path) is None:
                raise StudyError(f"{out_dir} holds no cells of the {phase.name} sweep of study {self.name}; "
                                 f"complete it with: {_command(manifest, self.name, out_dir)}")
            store = ResultStore(path, create=False)
            grid = _grid(phase.grid(config))
            phase_manifest = store.manifest
            stored = ((phase_manifest.get("config") or {}).get("config") or {})
            if stored != self.sweep_config(config, phase):
                raise StudyError(f"{path} holds the {stored.get('phase')!r} sweep of study {stored.get('study')} "
                                 f"with other settings than {out_dir / self.phases[0].store_name}; rerun: "
                                 f"{_command(manifest, self.name, out_dir)} --fresh")
            results, missing, rejected = store.scan(grid)
            if missing:
                why = f", {len(rejected)} of them corrupt or foreign" if rejected else ""
                raise StudyError(f"{out_dir} is incomplete: {len(missing)} of {len(grid)} cells of study "
                                 f"{self.name} are missing{why}; complete it with: "
                                 f"{_command(manifest, self.name, out_dir)}")
            tables[phase.name] = _assemble(grid, results)
        return self._build(tables, config, out_dir)


#: The file beside summary.txt that holds the timings of a run (see ``Study(timing_columns=...)``).
TIMINGS_FILE = "timings.json"


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def _phase_timings(table, cols, phase: Phase, config, out_dir: Path) -> dict:
    """A phase's timings: per timing column its sum, mean and max; every cell's wall seconds (from the store);
    and the rows of the timing columns with the cell coordinates."""
    from .store import ResultStore

    coords = list(_grid(phase.grid(config)).names)
    out = {"columns": {c: {"sum": float(table[c].sum()), "mean": float(table[c].mean()),
                           "max": float(table[c].max())} for c in cols}}
    if cols:
        keep = [c for c in coords if c in table.columns] + cols
        out["rows"] = table[keep].drop_duplicates().to_dict(orient="records")
    path = out_dir / phase.store_name
    if ResultStore.read_manifest(path) is not None:
        cells = [{"coords": c.coords, "elapsed_s": (c.meta or {}).get("elapsed_s")}
                 for c in ResultStore(path, create=False).cells()]
        out["cells"] = cells
        out["cell_seconds_sum"] = float(sum(c["elapsed_s"] or 0.0 for c in cells))
    return out


#: Environment variable: seconds above which a run announces its estimated time (default 120).
ANNOUNCE_ENV = "BOUNDCHECK_ANNOUNCE_AFTER"


def announce_threshold() -> float | None:
    """Seconds above which a study run announces its estimated time: ``$BOUNDCHECK_ANNOUNCE_AFTER`` (a
    number >= 0; ``never`` or ``off`` turns the line off), 120 when unset."""
    import os

    raw = os.environ.get(ANNOUNCE_ENV, "").strip()
    if not raw:
        return 120.0
    if raw.lower() in ("never", "off"):
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise UserError(f"environment variable {ANNOUNCE_ENV}={raw!r}: expected a number of seconds >= 0 "
                        "(or 'never')")
    return value


def _grid(grid):
    return grid if isinstance(grid, Grid) else Grid(grid)


def _command(manifest: Mapping, name: str, out_dir) -> str:
    """The command that wrote the store, with ``--out`` pointing at ``out_dir`` (the folder may have moved)."""
    import shlex

    command = ((manifest or {}).get("run") or {}).get("command")
    if not command:
        return f"boundcheck study {name} --out {out_dir} (with the same options as before)"
    words = shlex.split(command)
    if "--out" in words and words.index("--out") + 1 < len(words):
        words[words.index("--out") + 1] = str(out_dir)
    else:
        words += ["--out", str(out_dir)]
    return shlex.join(words)
