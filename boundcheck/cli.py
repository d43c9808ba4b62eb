"""The ``boundcheck`` command.

``boundcheck list``                 the studies and the registry's bounds, one line each
``boundcheck study NAME [options]`` run a study: table (CSV, Markdown), plots (PNG, SVG), verdicts
``boundcheck study --list``         the studies
``boundcheck report DIR``           rebuild tables and plots from a study's stored results

A study is a thin script ``studies/<name>.py`` that defines ``NAME``, ``DESCRIPTION``, a ``Config``
dataclass (with a ``quick()`` classmethod, and ``paper()`` where the study has the paper's full settings)
and ``run(config, *, out_dir, workers, scheduler, progress) -> StudyResult``. The studies folder is found
beside the package (a source checkout), or where ``BOUNDCHECK_STUDIES`` points.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import inspect
import math
import os
import sys
import time
from pathlib import Path

__all__ = ["main", "studies_dir", "list_studies", "load_study", "config_from_toml", "run_study"]


def studies_dir() -> Path:
    """The folder holding the study scripts."""
    env = os.environ.get("BOUNDCHECK_STUDIES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "studies"


def list_studies() -> list[str]:
    """Names of the available studies (the scripts in :func:`studies_dir`)."""
    folder = studies_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))


_STUDIES_ON_PATH: list[str] = []  # the studies folder this process put on sys.path (at most one)


def load_study(name: str):
    """Import ``studies/<name>.py`` as the module ``name``.

    The studies folder is put on ``sys.path`` so that worker processes (which inherit it) can import the
    study's module-level cell functions; with Dask, the module is registered with cloudpickle to travel by
    value. The folder is appended, so a study never shadows an installed module; a study whose name an
    installed module already takes is refused. When ``BOUNDCHECK_STUDIES`` changes within a process, the
    new folder replaces the old one, and a study loaded from the old folder is loaded again.
    """
    available = list_studies()
    if name not in available:
        where = ", ".join(available) or f"(none found in {studies_dir()})"
        raise SystemExit(f"boundcheck: unknown study {name!r}; available: {where}")
    folder = str(studies_dir())
    for old in _STUDIES_ON_PATH:
        if old != folder and old in sys.path:
            sys.path.remove(old)
    _STUDIES_ON_PATH[:] = [folder]
    if folder not in sys.path:
        sys.path.append(folder)
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__boundcheck_studies__", folder) != folder:
        del sys.modules[name]  # the same study name in another studies folder
    importlib.invalidate_caches()  # study files written since the last import (tests, notebooks)
    module = importlib.import_module(name)
    # the folder is resolved, not the file: a study may be a symbolic link to a file elsewhere
    if Path(getattr(module, "__file__", None) or "").absolute().parent.resolve() != Path(folder).resolve():
        raise SystemExit(f"boundcheck: study {name!r} clashes with an installed module of the same name "
                         f"({getattr(module, '__file__', None) or 'built-in'}); rename the study")
    module.__boundcheck_studies__ = folder
    try:
        import cloudpickle
        cloudpickle.register_pickle_by_value(module)
    except ImportError:  # Dask absent: nothing to register
        pass
    return module


def _load_toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def config_from_toml(config_cls, base, path) -> object:
    """Override the fields of ``base`` (a ``config_cls`` instance) with the keys of a TOML file.

    Unknown keys and values of the wrong type are refused with a message naming the key, the value and
    what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"boundcheck: --config {path}: no such file")
    try:
        data = _load_toml(path)
    except (ValueError, UnicodeDecodeError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise SystemExit(f"boundcheck: --config {path}: not valid TOML: {exc}") from None
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    updates = {}
    for key, value in data.items():
        if key not in fields:
            raise SystemExit(f"boundcheck: config key {key!r} is not a setting of this study; "
                             f"expected one of: {', '.join(sorted(fields))}")
        current = getattr(base, key)
        updates[key] = _coerce(key, value, current)
    try:
        return dataclasses.replace(base, **updates)
    except (TypeError, ValueError) as exc:  # the study's own checks of its settings
        raise SystemExit(f"boundcheck: --config {path}: {exc}") from None


def _coerce(key, value, current):
    def bad(expected):
        return SystemExit(f"boundcheck: config key {key!r} has value {value!r}; expected {expected}")

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
            proto = current[0]
            value = [_coerce(f"{key}[{i}]", v, proto) for i, v in enumerate(value)]
        return type(current)(value)
    return value


def run_study(name: str, *, quick: bool = False, paper: bool = False, config_file=None, out=None,
              seed: int | None = None, workers: int = 1, scheduler: str | None = None,
              quiet: bool = False):
    """Run a study by name and write its outputs; returns ``(StudyResult, out_dir)``."""
    from .report import write_study

    module = load_study(name)
    Config = module.Config
    if quick and paper:
        raise SystemExit("boundcheck: --quick and --paper exclude each other")
    if paper:
        if not hasattr(Config, "paper"):
            raise SystemExit(f"boundcheck: study {name!r} has no --paper configuration")
        config = Config.paper()
    elif quick:
        config = Config.quick()
    else:
        config = Config()
    if config_file is not None:
        config = config_from_toml(Config, config, config_file)
    if seed is not None:
        if not hasattr(config, "seed"):
            raise SystemExit(f"boundcheck: study {name!r} takes no seed")
        config = dataclasses.replace(config, seed=seed)
    mode = "paper" if paper else "quick" if quick else "default"
    out_dir = Path(out) if out is not None else Path("results") / (name if mode == "default" else f"{name}_{mode}")
    if out_dir.exists() and not out_dir.is_dir():
        raise SystemExit(f"boundcheck: --out {out_dir} exists and is not a folder")
    kwargs = dict(out_dir=out_dir)
    params = inspect.signature(module.run).parameters
    for key, value in (("workers", workers), ("scheduler", scheduler), ("progress", not quiet)):
        if key in params:
            kwargs[key] = value
        elif key != "progress" and value not in (None, 1):
            raise SystemExit(f"boundcheck: study {name!r} does not support --{key}")
    start = time.perf_counter()
    result = module.run(config, **kwargs)
    write_study(result, out_dir)
    elapsed = time.perf_counter() - start
    if not quiet:
        print(f"study {name} ({mode}) finished in {elapsed:.1f} s; outputs in {out_dir}")
        for line in result.verdicts:
            print("  " + line)
        for note in result.notes:
            print("  note: " + note)
    return result, out_dir


def _cmd_list(args) -> int:
    print("studies:")
    for name in list_studies():
        try:
            desc = load_study(name).DESCRIPTION
        except Exception as exc:  # a broken study must not hide the others
            desc = f"(cannot load: {exc})"
        print(f"  {name:32s} {desc}")
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
              seed=args.seed, workers=args.workers, scheduler=args.scheduler, quiet=args.quiet)
    return 0


def _cmd_report(args) -> int:
    folder = Path(args.dir)
    if not folder.is_dir():
        raise SystemExit(f"boundcheck: report: {folder} is not a folder")
    name = args.study or folder.name.removesuffix("_quick").removesuffix("_paper")
    module = load_study(name)
    if not hasattr(module, "report"):
        raise SystemExit(f"boundcheck: study {name!r} cannot rebuild its report from stored results")
    from .report import write_study
    try:
        result = module.report(folder)
    except FileNotFoundError as exc:
        raise SystemExit(f"boundcheck: report: {folder} holds no stored results of study {name!r} ({exc})") from None
    write_study(result, folder)
    if not args.quiet:
        print(f"rebuilt {name} in {folder}")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="boundcheck", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="list the studies and the registry's bounds")
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
    p_study.add_argument("--seed", type=_seed, help="the sweep seed")
    p_study.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    p_study.set_defaults(func=_cmd_study)
    p_report = sub.add_parser("report", help="rebuild tables and plots from stored results")
    p_report.add_argument("dir", help="a study's output folder")
    p_report.add_argument("--study", help="the study's name (default: from the folder's name)")
    p_report.add_argument("--quiet", action="store_true")
    p_report.set_defaults(func=_cmd_report)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
