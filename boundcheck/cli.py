"""The ``boundcheck`` command.

``boundcheck list``                 the studies (with their origin) and the registry's bounds, one line each
``boundcheck study NAME [options]`` run a study: table (CSV, Markdown), plots (PNG, SVG), verdicts
``boundcheck study --list``         the studies
``boundcheck report DIR``           rebuild tables and plots from a study's stored results

A study is a module that defines ``STUDY``, a :class:`boundcheck.study.Study`. They come from three places,
in this order of precedence: the folder(s) named by ``BOUNDCHECK_STUDIES`` (study scripts, ``<name>.py``),
the entry-point group ``boundcheck.studies`` of installed packages (``name = "package.module"``), and the
studies shipped with boundcheck (the package ``boundcheck.studies``).

A user's mistake ends the command with one line on stderr naming the problem and the remedy, and exit
status 2; Ctrl-C ends it with one line saying that the same command resumes (status 130). Tracebacks only
with ``--debug``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import math
import os
import shlex
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError

__all__ = ["main", "studies_dir", "list_studies", "discover_studies", "load_study", "get_study",
           "config_from_toml", "run_study", "report_study", "StudySource"]

ENTRY_POINT_GROUP = "boundcheck.studies"


@dataclass(frozen=True)
class StudySource:
    """Where a study comes from: ``origin`` is "boundcheck", "entry point <dist>" or "folder <path>"."""

    name: str
    origin: str
    module: str
    path: Path | None = None


def studies_dir() -> Path:
    """The folder of the studies shipped with boundcheck (the package ``boundcheck.studies``)."""
    import boundcheck.studies

    return Path(next(iter(boundcheck.studies.__path__)))


def _folders() -> list[Path]:
    env = os.environ.get("BOUNDCHECK_STUDIES")
    return [Path(p) for p in env.split(os.pathsep) if p] if env else []


def discover_studies() -> dict[str, StudySource]:
    """Every available study by name (folder studies first, then entry points, then the shipped ones)."""
    found: dict[str, StudySource] = {}
    for folder in _folders():
        if folder.is_dir():
            for path in sorted(folder.glob("*.py")):
                if not path.name.startswith("_"):
                    found.setdefault(path.stem, StudySource(path.stem, f"folder {folder}", path.stem, path))
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
        found.setdefault(ep.name, StudySource(ep.name, f"entry point of {dist}", ep.value.split(":")[0]))
    import pkgutil

    import boundcheck.studies

    for info in sorted(pkgutil.iter_modules(boundcheck.studies.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            found.setdefault(info.name, StudySource(info.name, "boundcheck", f"boundcheck.studies.{info.name}"))
    return dict(sorted(found.items()))


def list_studies() -> list[str]:
    """Names of the available studies."""
    return list(discover_studies())


_FOLDER_MODULES: dict[str, str] = {}  # study module name -> the file it was loaded from


def _load_from_folder(source: StudySource):
    """Import a study script by path as the module ``source.name`` (its folder is put on ``sys.path`` so
    that local worker processes import it too; with Dask it travels by value through cloudpickle)."""
    folder = str(source.path.parent)
    if folder not in sys.path:
        sys.path.append(folder)
    path = str(source.path.resolve())
    loaded = sys.modules.get(source.name)
    if loaded is not None and _FOLDER_MODULES.get(source.name) != path:
        del sys.modules[source.name]  # the same study name from another folder
    importlib.invalidate_caches()
    spec = importlib.util.spec_from_file_location(source.name, source.path)
    if source.name not in sys.modules:
        module = importlib.util.module_from_spec(spec)
        sys.modules[source.name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[source.name]
            raise
    module = sys.modules[source.name]
    _FOLDER_MODULES[source.name] = path
    try:
        import cloudpickle

        cloudpickle.register_pickle_by_value(module)
    except ImportError:  # Dask absent: nothing to register
        pass
    return module


def load_study(name: str):
    """The module of the study ``name`` (it defines ``STUDY``)."""
    studies = discover_studies()
    source = studies.get(name)
    if source is None:
        raise UserError(f"unknown study {name!r}; `boundcheck list` shows the available studies")
    if source.path is not None:
        return _load_from_folder(source)
    return importlib.import_module(source.module)


def get_study(name: str):
    """The :class:`boundcheck.study.Study` of the study ``name``."""
    from .study import Study

    module = load_study(name)
    study = getattr(module, "STUDY", None)
    if not isinstance(study, Study):
        raise UserError(f"study {name!r} ({getattr(module, '__file__', module.__name__)}) defines no STUDY = "
                        "boundcheck.study.Study(...); see the study interface in boundcheck.study")
    return study


# --------------------------------------------------------------------------------------------------------
# Settings from TOML
# --------------------------------------------------------------------------------------------------------

def _load_toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def config_from_toml(config_cls, base, path) -> object:
    """Override the fields of ``base`` (a ``config_cls`` instance) with the keys of a TOML file.

    Each value is checked and standardized by the domain the study declares for the field (nested lists
    of mixed types included); unknown keys and values outside their domain are refused with one line
    naming the key, the value and what was expected.
    """
    from .study import ConfigError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"--config {path}: no such file")
    try:
        data = _load_toml(path)
    except (ValueError, UnicodeDecodeError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"--config {path}: not valid TOML: {first}") from None
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    updates = {}
    for key, value in data.items():
        if key not in fields:
            raise UserError(f"--config {path}: config key {key!r} is not a setting of this study; "
                            f"expected one of: {', '.join(sorted(fields))}")
        if fields[key].metadata.get("domain") is None:
            value = _coerce(key, value, getattr(base, key))
        updates[key] = value
    try:
        return dataclasses.replace(base, **updates)
    except (ConfigError, TypeError, ValueError) as exc:  # the domains and the study's own checks
        raise UserError(f"--config {path}: {exc}") from None


def _coerce(key, value, current):
    """For a field without a declared domain: the type of the default, position by position in tuples."""
    def bad(expected):
        return UserError(f"config key {key!r} has value {value!r}; expected {expected}")

    if isinstance(value, float) and not math.isfinite(value):
        raise bad("a finite number")
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(current, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if isinstance(current, str):
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if isinstance(current, (tuple, list)):
        if not isinstance(value, list):
            raise bad("a list")
        if current:
            same = all(type(c) is type(current[0]) for c in current)
            if same:
                value = [_coerce(f"{key}[{i}]", v, current[0]) for i, v in enumerate(value)]
            elif len(value) == len(current):  # a record of mixed types: position by position
                value = [_coerce(f"{key}[{i}]", v, c) for i, (v, c) in enumerate(zip(value, current))]
        return type(current)(value)
    return value


# --------------------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------------------

def run_study(name: str, *, quick: bool = False, paper: bool = False, config_file=None, out=None,
              seed: int | None = None, workers: int = 1, scheduler: str | None = None,
              quiet: bool = False, fresh: bool = False, connect_timeout: float | None = None,
              command: str | None = None):
    """Run a study by name and write its outputs; returns ``(StudyResult, out_dir)``.

    The config is made and checked completely before any file is written.
    """
    from .report import write_study

    if quick and paper:
        raise UserError("--quick and --paper exclude each other")
    study = get_study(name)
    Config = study.Config
    if paper:
        if not study.has_paper:
            raise UserError(f"study {name!r} has no --paper configuration; run it without --paper")
        config = Config.paper()
    elif quick:
        config = Config.quick()
    else:
        config = Config()
    if config_file is not None:
        config = config_from_toml(Config, config, config_file)
    if seed is not None:
        config = dataclasses.replace(config, seed=seed)
    mode = "paper" if paper else "quick" if quick else "default"
    out_dir = Path(out) if out is not None else Path("results") / (name if mode == "default" else f"{name}_{mode}")
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} exists and is not a folder; choose another --out")
    start = time.perf_counter()
    result = study.run(config, out_dir=out_dir, workers=workers, scheduler=scheduler, progress=not quiet,
                       overwrite=fresh, connect_timeout=connect_timeout, command=command)
    write_study(result, out_dir)
    elapsed = time.perf_counter() - start
    if not quiet:
        print(f"study {name} ({mode}) finished in {elapsed:.1f} s; outputs in {out_dir}")
        for line in result.verdicts:
            print("  " + line)
        for note in result.notes:
            print("  note: " + note)
    return result, out_dir


def _stored_study_name(folder: Path) -> str | None:
    from .store import ResultStore

    for store in sorted(p for p in folder.glob("cells*") if p.is_dir()):  # cells, or cells_<phase>
        manifest = ResultStore.read_manifest(store)
        if manifest is not None:  # "" for a store that does not name its study (an older format)
            stored = (manifest.get("config") or {}).get("config") or {}
            return (stored.get("study") if isinstance(stored, dict) else None) or ""
    return None


def report_study(folder, name: str | None = None):
    """Rebuild a study's outputs in ``folder`` from its stored cells; returns ``(StudyResult, name)``.

    The study is the one named by the store (``name``, when given, must agree). Nothing is written unless
    the store is complete.
    """
    from .report import write_study

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"report: {folder} is not a folder")
    stored = _stored_study_name(folder)
    if stored == "" and name is None:
        raise UserError(f"report: {folder} holds cells that do not name their study (an older format); rerun the "
                        f"study into it with --fresh: boundcheck study NAME --out {folder} --fresh")
    if stored is None and name is None:
        raise UserError(f"report: {folder} holds no stored cells of any study (run `boundcheck study NAME "
                        f"--out {folder}` first)")
    if name is not None and stored and stored != name:
        raise UserError(f"report: {folder} holds cells of study {stored}, not {name} (run: boundcheck report "
                        f"{folder} --study {stored})")
    name = name or stored
    study = get_study(name)
    result = study.report(folder)
    write_study(result, folder)
    return result, name


def _cmd_list(args) -> int:
    print("studies:")
    for name, source in discover_studies().items():
        try:
            desc = get_study(name).description
        except Exception as exc:  # a broken study must not hide the others
            desc = f"(cannot load: {type(exc).__name__}: {exc})".splitlines()[0]
        print(f"  {name:32s} [{source.origin}] {desc}")
    try:
        from .bounds import list_bounds
    except ImportError:
        return 0
    print("bounds:")
    for bound in list_bounds():
        print(f"  {bound.id:40s} {bound.citation}")
    return 0


def _cmd_study(args) -> int:
    if args.list or args.name is None:
        for name in list_studies():
            print(name)
        return 0
    run_study(args.name, quick=args.quick, paper=args.paper, config_file=args.config, out=args.out,
              seed=args.seed, workers=args.workers, scheduler=args.scheduler, quiet=args.quiet, fresh=args.fresh,
              connect_timeout=args.connect_timeout, command=args.command_line)
    return 0


def _cmd_report(args) -> int:
    result, name = report_study(args.dir, args.study)
    if not args.quiet:
        print(f"rebuilt {name} in {args.dir}")
        for line in result.verdicts:
            print("  " + line)
    return 0


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer seed, got {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer seed, got {value}")
    return value


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="boundcheck", description=__doc__.split("\n")[0])
    parser.add_argument("--debug", action="store_true", dest="debug_all", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="list the studies (with their origin) and the registry's bounds")
    p_list.add_argument("--debug", action="store_true", help="show tracebacks")
    p_list.set_defaults(func=_cmd_list)
    p_study = sub.add_parser("study", help="run a study and write its table, plots and verdicts")
    p_study.add_argument("name", nargs="?", help="the study's name (see --list)")
    p_study.add_argument("--list", action="store_true", help="list the studies")
    p_study.add_argument("--quick", action="store_true", help="a small configuration (seconds)")
    p_study.add_argument("--paper", action="store_true", help="the paper's full settings, where available")
    p_study.add_argument("--config", metavar="FILE.toml", help="override settings from a TOML file")
    p_study.add_argument("--out", metavar="DIR", help="output folder (default results/NAME[_quick|_paper])")
    p_study.add_argument("--workers", type=_positive_int, default=1, help="local worker processes")
    p_study.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler address, or 'local'")
    p_study.add_argument("--connect-timeout", type=_seconds, default=10.0, metavar="SECONDS",
                         help="how long to wait for the Dask scheduler (default 10)")
    p_study.add_argument("--seed", type=_seed, help="the sweep seed")
    p_study.add_argument("--fresh", action="store_true",
                         help="discard the cells stored in --out by another configuration and start over")
    p_study.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    p_study.add_argument("--debug", action="store_true", help="show tracebacks")
    p_study.set_defaults(func=_cmd_study)
    p_report = sub.add_parser("report", help="rebuild tables and plots from stored results")
    p_report.add_argument("dir", help="a study's output folder")
    p_report.add_argument("--study", help="the study's name (default: the one that wrote the folder)")
    p_report.add_argument("--quiet", action="store_true")
    p_report.add_argument("--debug", action="store_true", help="show tracebacks")
    p_report.set_defaults(func=_cmd_report)
    return parser


def _user_error_in(exc: BaseException) -> str | None:
    """The one-line message of a user's error raised inside a cell (a UserError, MNIST not installed), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, UserError):
            return str(exc)
        if type(exc).__name__ == "MNISTNotFoundError":
            from .data import ENV_DIR, MNIST_INSTALL_COMMAND

            tried = len(getattr(exc, "attempts", ()))
            return (f"MNIST is not available ({tried} sources tried); install it with `{MNIST_INSTALL_COMMAND}` or "
                    f"set ${ENV_DIR} to a folder of the four IDX files (python -c 'import boundcheck.data as d; "
                    f"d.load_mnist()' lists the sources and why each failed)")
        exc = exc.__cause__ or exc.__context__
    return None


def _one_line_warnings(message, category, filename, lineno, line=None):
    return f"boundcheck: warning: {message}\n"


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0, 1 for a failure of the code, 2 for a user error,
    130 after Ctrl-C)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command_line = "boundcheck " + shlex.join(argv)
    debug = args.debug_all or getattr(args, "debug", False) or os.environ.get("BOUNDCHECK_DEBUG") == "1"
    if debug:
        return args.func(args)
    previous = warnings.formatwarning
    warnings.formatwarning = _one_line_warnings
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"\nboundcheck: interrupted; finished cells are kept: run the same command again to resume "
              f"({args.command_line})", file=sys.stderr)
        return 130
    except UserError as exc:
        print(f"boundcheck: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the output was piped into a command that stopped reading (e.g. head)
        return 0
    except Exception as exc:  # a failure of the code, not of the user: one line, the traceback with --debug
        user = _user_error_in(exc)
        if user is not None:
            print(f"boundcheck: {user}", file=sys.stderr)
            return 2
        text = str(exc).splitlines()[0] if str(exc) else ""
        print(f"boundcheck: error: {type(exc).__name__}: {text} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1
    finally:
        warnings.formatwarning = previous


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
