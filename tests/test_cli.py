"""The ``boundcheck`` command: help, listing, errors that name what is wrong, and end-to-end runs.

Every test runs the CLI in-process through ``boundcheck.cli.main`` on throwaway studies written to a
temporary studies folder (``BOUNDCHECK_STUDIES``); one test calls the installed ``boundcheck`` script.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from boundcheck import cli

# A study with a sweep (progress bar), settings of every type, --quick and --paper, and a report()
# that rebuilds its outputs from the stored table. Its cell function lives in the study script itself,
# as a user's would.
TOY_STUDY = '''
"""A throwaway study for the CLI tests.

Statement
---------
The value of every cell is below its width.
"""
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from boundcheck.montecarlo import run_sweep
from boundcheck.report import StudyResult, verdict_line

NAME = "cli_toy"
DESCRIPTION = "a throwaway study for the CLI tests"


@dataclass(frozen=True)
class Config:
    n: int = 3
    scale: float = 1.0
    flag: bool = False
    label: str = "default"
    widths: tuple = (1, 2)
    seed: int = 0

    def __post_init__(self):
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")

    @classmethod
    def quick(cls):
        return cls(n=2, label="quick")

    @classmethod
    def paper(cls):
        return cls(n=4, label="paper")


def cell(coords, rng):
    return {"value": float(rng.random()) * coords["width"]}


def _result(table):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot(table["width"], table["value"], "o")
    n_bad = int((table["value"] > table["width"]).sum())
    extra = table.groupby("width", as_index=False)["value"].mean()
    return StudyResult(name=NAME, table=table, verdicts=[verdict_line("toy_bound", len(table), n_bad)],
                       figures={"cli_toy_values": fig}, extra_tables={"means": extra},
                       notes=["a note"])


def run(config, *, out_dir, workers=1, scheduler=None, progress=True):
    table = run_sweep(cell, {"width": list(config.widths), "i": list(range(config.n))}, seed=config.seed,
                      workers=workers, scheduler=scheduler, progress=progress)
    table["scale"] = config.scale
    table["flag"] = config.flag
    table["label"] = config.label
    return _result(table)


def report(folder):
    return _result(pd.read_csv(Path(folder) / f"{NAME}.csv"))
'''

# A study with no seed, no --paper, no report(), and a run() that takes neither workers nor scheduler.
PLAIN_STUDY = '''
"""A study without options."""
from dataclasses import dataclass

import pandas as pd

from boundcheck.report import StudyResult

NAME = "cli_plain"
DESCRIPTION = "a study without seed, paper settings or report"


@dataclass(frozen=True)
class Config:
    n: int = 2

    @classmethod
    def quick(cls):
        return cls(n=1)


def run(config, *, out_dir):
    return StudyResult(name=NAME, table=pd.DataFrame({"i": range(config.n)}), verdicts=["plain: holds in all 1 cells"])
'''

BROKEN_STUDY = 'raise RuntimeError("this study is broken on purpose")\n'


@pytest.fixture
def studies(tmp_path, monkeypatch):
    """A temporary studies folder with the throwaway studies, and a clean slate of loaded studies."""
    folder = tmp_path / "studies"
    folder.mkdir()
    (folder / "cli_toy.py").write_text(TOY_STUDY)
    (folder / "cli_plain.py").write_text(PLAIN_STUDY)
    (folder / "_helpers.py").write_text("# not a study: names starting with _ are skipped\n")
    monkeypatch.setenv("BOUNDCHECK_STUDIES", str(folder))
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:  # studies loaded by this test
        if name.startswith(("cli_", "boundcheck_study_")):
            del sys.modules[name]


def run_cli(argv):
    """``main(argv)``; returns its exit code (SystemExit included)."""
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return exc.code


def cli_error(argv) -> str:
    """The message of the SystemExit that ``main(argv)`` must raise."""
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert isinstance(info.value.code, str), f"expected an error message, got exit code {info.value.code!r}"
    return info.value.code


# ------------------------------------------------------------------------------------------------ help

@pytest.mark.parametrize("argv, expected", [
    ([], "{list,study,report}"),
    (["list"], "usage: boundcheck list"),
    (["study"], "--workers"),
    (["report"], "usage: boundcheck report"),
])
def test_help_on_every_command(argv, expected, capsys):
    assert run_cli(argv + ["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: boundcheck")
    assert expected in out


def test_study_help_names_every_option(capsys):
    run_cli(["study", "--help"])
    out = capsys.readouterr().out
    for option in ("--list", "--quick", "--paper", "--config", "--out", "--workers", "--scheduler", "--seed",
                   "--quiet"):
        assert option in out


def test_no_command_is_an_error(capsys):
    assert run_cli([]) == 2
    assert "required: command" in capsys.readouterr().err


def test_unknown_command_is_an_error(capsys):
    assert run_cli(["lsit"]) == 2
    assert "invalid choice: 'lsit'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ list

def test_list_prints_studies_and_bounds(studies, capsys):
    assert run_cli(["list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "studies:"
    assert any(ln.split()[:1] == ["cli_toy"] and "a throwaway study for the CLI tests" in ln for ln in lines)
    assert any(ln.split()[:1] == ["cli_plain"] for ln in lines)
    assert "_helpers" not in out
    bounds = pytest.importorskip("boundcheck.bounds")
    assert "bounds:" in lines
    listed = lines[lines.index("bounds:") + 1:]
    assert len(listed) == len(bounds.list_bounds())
    for line, bound in zip(listed, bounds.list_bounds()):
        assert line.split()[0] == bound.id
        assert bound.citation in line


def test_list_survives_a_broken_study(studies, capsys):
    (studies / "cli_broken.py").write_text(BROKEN_STUDY)
    assert run_cli(["list"]) == 0
    out = capsys.readouterr().out
    assert "cli_broken" in out and "cannot load: this study is broken on purpose" in out
    assert "cli_toy" in out


def test_study_list(studies, capsys):
    assert run_cli(["study", "--list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["cli_plain", "cli_toy"]
    assert run_cli(["study"]) == 0  # no name: the list too
    assert capsys.readouterr().out.splitlines() == ["cli_plain", "cli_toy"]


def test_list_with_no_studies_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BOUNDCHECK_STUDIES", str(tmp_path / "missing"))
    assert cli.list_studies() == []
    assert run_cli(["study", "--list"]) == 0
    assert capsys.readouterr().out == ""
    msg = cli_error(["study", "anything"])
    assert "unknown study 'anything'" in msg and "none found in" in msg and "missing" in msg


# ------------------------------------------------------------------------------------------------ study: errors

def test_unknown_study(studies):
    msg = cli_error(["study", "nope", "--quick"])
    assert msg == "boundcheck: unknown study 'nope'; available: cli_plain, cli_toy"


def test_quick_and_paper_exclude_each_other(studies, tmp_path):
    msg = cli_error(["study", "cli_toy", "--quick", "--paper", "--out", str(tmp_path / "o")])
    assert "--quick and --paper exclude each other" in msg
    assert not (tmp_path / "o").exists()


def test_paper_where_the_study_has_none(studies, tmp_path):
    msg = cli_error(["study", "cli_plain", "--paper", "--out", str(tmp_path / "o")])
    assert msg == "boundcheck: study 'cli_plain' has no --paper configuration"


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "argument --workers: expected a positive integer, got 0"),
    (["--workers", "-3"], "argument --workers: expected a positive integer, got -3"),
    (["--workers", "two"], "argument --workers: expected a positive integer, got 'two'"),
    (["--workers", "1.5"], "argument --workers: expected a positive integer, got '1.5'"),
    (["--seed", "-1"], "argument --seed: expected a non-negative integer seed, got -1"),
    (["--seed", "x"], "argument --seed: expected a non-negative integer seed, got 'x'"),
    (["--seed", "0.5"], "argument --seed: expected a non-negative integer seed, got '0.5'"),
    (["--seed"], "argument --seed: expected one argument"),
    (["--out"], "argument --out: expected one argument"),
    (["--config"], "argument --config: expected one argument"),
    (["--scheduler"], "argument --scheduler: expected one argument"),
    (["--bogus"], "unrecognized arguments: --bogus"),  # (reported by the top-level parser)
])
def test_bad_option_values(studies, argv, message, capsys):
    assert run_cli(["study", "cli_toy", "--quick"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: boundcheck")
    assert message in err


def test_seed_for_a_study_without_seed(studies, tmp_path):
    msg = cli_error(["study", "cli_plain", "--seed", "3", "--out", str(tmp_path / "o")])
    assert msg == "boundcheck: study 'cli_plain' takes no seed"


@pytest.mark.parametrize("argv, option", [(["--workers", "2"], "workers"), (["--scheduler", "local"], "scheduler")])
def test_option_the_study_does_not_support(studies, tmp_path, argv, option):
    msg = cli_error(["study", "cli_plain", "--quick", "--out", str(tmp_path / "o")] + argv)
    assert msg == f"boundcheck: study 'cli_plain' does not support --{option}"


def test_out_is_an_existing_file(studies, tmp_path):
    target = tmp_path / "a_file"
    target.write_text("x")
    msg = cli_error(["study", "cli_toy", "--quick", "--quiet", "--out", str(target)])
    assert msg == f"boundcheck: --out {target} exists and is not a folder"


# ------------------------------------------------------------------------------------------------ config files

def write_toml(tmp_path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_config_unknown_key(studies, tmp_path):
    path = write_toml(tmp_path, "widht = 3\n")
    msg = cli_error(["study", "cli_toy", "--config", str(path), "--out", str(tmp_path / "o")])
    assert msg == ("boundcheck: config key 'widht' is not a setting of this study; "
                   "expected one of: flag, label, n, scale, seed, widths")


@pytest.mark.parametrize("line, key, value, expected", [
    ('n = "3"', "n", "'3'", "an integer"),
    ("n = 2.5", "n", "2.5", "an integer"),
    ("n = true", "n", "True", "an integer"),
    ("n = [1, 2]", "n", "[1, 2]", "an integer"),
    ('scale = "big"', "scale", "'big'", "a number"),
    ("scale = false", "scale", "False", "a number"),
    ("scale = nan", "scale", "nan", "a finite number"),
    ("scale = inf", "scale", "inf", "a finite number"),
    ("scale = -inf", "scale", "-inf", "a finite number"),
    ("flag = 1", "flag", "1", "true or false"),
    ('flag = "yes"', "flag", "'yes'", "true or false"),
    ("label = 3", "label", "3", "a string"),
    ("widths = 3", "widths", "3", "a list"),
    ('widths = "1, 2"', "widths", "'1, 2'", "a list"),
    ('widths = [1, "two"]', "widths[1]", "'two'", "an integer"),
    ("widths = [1, 2.5]", "widths[1]", "2.5", "an integer"),
    ("seed = -0.5", "seed", "-0.5", "an integer"),
    ("seed = {a = 1}", "seed", "{'a': 1}", "an integer"),
])
def test_config_wrong_type(studies, tmp_path, line, key, value, expected):
    path = write_toml(tmp_path, line + "\n")
    msg = cli_error(["study", "cli_toy", "--config", str(path), "--out", str(tmp_path / "o")])
    assert msg == f"boundcheck: config key {key!r} has value {value}; expected {expected}"


def test_config_refused_by_the_study(studies, tmp_path):
    path = write_toml(tmp_path, "n = 0\n")
    msg = cli_error(["study", "cli_toy", "--config", str(path), "--out", str(tmp_path / "o")])
    assert msg == f"boundcheck: --config {path}: n must be >= 1, got 0"


def test_config_not_toml(studies, tmp_path):
    path = write_toml(tmp_path, "n = = 3\n")
    msg = cli_error(["study", "cli_toy", "--config", str(path), "--out", str(tmp_path / "o")])
    assert msg.startswith(f"boundcheck: --config {path}: not valid TOML: ")
    assert "line 1" in msg


def test_config_missing_file(studies, tmp_path):
    path = tmp_path / "nothing.toml"
    msg = cli_error(["study", "cli_toy", "--config", str(path), "--out", str(tmp_path / "o")])
    assert msg == f"boundcheck: --config {path}: no such file"


def test_config_overrides_and_seed_comes_last(studies, tmp_path):
    path = write_toml(tmp_path, """
        n = 1
        scale = 2          # an integer is a number
        flag = true
        label = "from toml"
        widths = [3]
        seed = 5
        """)
    out = tmp_path / "o"
    assert run_cli(["study", "cli_toy", "--quick", "--quiet", "--config", str(path), "--seed", "7",
                    "--out", str(out)]) == 0
    table = pd.read_csv(out / "cli_toy.csv")
    assert table[["width", "i"]].values.tolist() == [[3, 0]]
    assert table["scale"].tolist() == [2.0] and table["flag"].tolist() == [True]
    assert table["label"].tolist() == ["from toml"]
    # --seed 7 overrides seed = 5: the cell's value is the one of a seed-7 run (and not of seed 5)
    again = tmp_path / "o7"
    seven = write_toml(tmp_path, "n = 1\nwidths = [3]\nseed = 7\n")
    assert run_cli(["study", "cli_toy", "--quiet", "--config", str(seven), "--out", str(again)]) == 0
    assert pd.read_csv(again / "cli_toy.csv")["value"].tolist() == table["value"].tolist()
    five = write_toml(tmp_path, "n = 1\nwidths = [3]\nseed = 5\n")
    assert run_cli(["study", "cli_toy", "--quiet", "--config", str(five), "--out", str(again)]) == 0
    assert pd.read_csv(again / "cli_toy.csv")["value"].tolist() != table["value"].tolist()


def test_config_from_toml_directly(studies, tmp_path):
    module = cli.load_study("cli_toy")
    path = write_toml(tmp_path, "n = 4\n")
    config = cli.config_from_toml(module.Config, module.Config.quick(), path)
    assert config == module.Config(n=4, label="quick")


# ------------------------------------------------------------------------------------------------ end to end

def test_study_end_to_end_and_report(studies, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(["study", "cli_toy", "--quick", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "study cli_toy (quick) finished in" in captured.out and f"outputs in {out}" in captured.out
    assert "  toy_bound: holds in all 4 cells" in captured.out
    assert "  note: a note" in captured.out
    # the progress bar: cells done of the total, and the time left (tqdm's "[elapsed<left, rate]")
    assert "4/4" in captured.err and "<" in captured.err
    expected = {"cli_toy.csv", "cli_toy.md", "cli_toy_means.csv", "cli_toy_means.md", "cli_toy_values.png",
                "cli_toy_values.svg", "summary.txt"}
    assert expected <= {p.name for p in out.iterdir()}
    summary = (out / "summary.txt").read_text()
    assert summary == "study cli_toy\ntoy_bound: holds in all 4 cells\nnote: a note\n"
    table = pd.read_csv(out / "cli_toy.csv")
    assert list(table.columns[:3]) == ["width", "i", "value"] and len(table) == 4
    assert (out / "cli_toy.md").read_text().startswith("|   width |")
    assert (out / "cli_toy_values.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (out / "cli_toy_values.svg").read_bytes()[:2000]

    # report: rebuild everything from the stored table, computing nothing
    for name in ("cli_toy.md", "cli_toy_values.png", "cli_toy_values.svg", "summary.txt", "cli_toy_means.csv"):
        (out / name).unlink()
    assert run_cli(["report", str(out), "--study", "cli_toy"]) == 0
    assert f"rebuilt cli_toy in {out}" in capsys.readouterr().out
    assert expected <= {p.name for p in out.iterdir()}
    assert (out / "summary.txt").read_text() == summary
    pd.testing.assert_frame_equal(pd.read_csv(out / "cli_toy.csv"), table)


def test_quiet_prints_nothing(studies, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(["study", "cli_toy", "--quick", "--quiet", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert (out / "summary.txt").is_file()
    assert run_cli(["report", str(out), "--study", "cli_toy", "--quiet"]) == 0
    assert capsys.readouterr().out == ""


def test_default_output_folders(studies, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli(["study", "cli_toy", "--quick", "--quiet"]) == 0
    assert run_cli(["study", "cli_toy", "--paper", "--quiet"]) == 0
    assert run_cli(["study", "cli_plain", "--quiet"]) == 0
    for folder in ("cli_toy_quick", "cli_toy_paper", "cli_plain"):
        assert (tmp_path / "results" / folder / "summary.txt").is_file()
    assert len(pd.read_csv(tmp_path / "results" / "cli_toy_paper" / "cli_toy.csv")) == 8  # paper: n = 4
    # report finds the study from the folder's name, with or without the mode suffix
    assert run_cli(["report", "results/cli_toy_quick", "--quiet"]) == 0
    assert run_cli(["report", "results/cli_toy_paper", "--quiet"]) == 0


def test_same_results_with_two_workers(studies, tmp_path):
    # the study's own cell function must reach the worker processes
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli(["study", "cli_toy", "--quick", "--quiet", "--out", str(one)]) == 0
    assert run_cli(["study", "cli_toy", "--quick", "--quiet", "--workers", "2", "--out", str(two)]) == 0
    assert (one / "cli_toy.csv").read_text() == (two / "cli_toy.csv").read_text()


def test_run_study_from_python(studies, tmp_path):
    result, out_dir = cli.run_study("cli_toy", quick=True, out=tmp_path / "py", seed=3, quiet=True)
    assert out_dir == tmp_path / "py"
    assert result.verdicts == ["toy_bound: holds in all 4 cells"]
    assert (out_dir / "cli_toy.csv").is_file()


def test_studies_folder_can_change(studies, tmp_path, monkeypatch):
    # a study loaded from one folder must not be served for a same-named study in another
    assert cli.load_study("cli_toy").DESCRIPTION == "a throwaway study for the CLI tests"
    other = tmp_path / "other"
    other.mkdir()
    (other / "cli_toy.py").write_text(TOY_STUDY.replace('"a throwaway study for the CLI tests"', '"the other one"'))
    monkeypatch.setenv("BOUNDCHECK_STUDIES", str(other))
    assert cli.load_study("cli_toy").DESCRIPTION == "the other one"


# ------------------------------------------------------------------------------------------------ report: errors

def test_report_missing_folder(studies, tmp_path):
    missing = tmp_path / "nowhere"
    assert cli_error(["report", str(missing)]) == f"boundcheck: report: {missing} is not a folder"


def test_report_unknown_study(studies, tmp_path):
    folder = tmp_path / "mystery_quick"
    folder.mkdir()
    assert cli_error(["report", str(folder)]) == "boundcheck: unknown study 'mystery'; available: cli_plain, cli_toy"


def test_report_study_without_report(studies, tmp_path):
    folder = tmp_path / "cli_plain"
    folder.mkdir()
    assert cli_error(["report", str(folder)]) == \
        "boundcheck: study 'cli_plain' cannot rebuild its report from stored results"


def test_report_folder_without_results(studies, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    msg = cli_error(["report", str(folder), "--study", "cli_toy"])
    assert msg.startswith(f"boundcheck: report: {folder} holds no stored results of study 'cli_toy'")


# ------------------------------------------------------------------------------------------------ the installed script

def test_installed_entry_point(studies):
    script = shutil.which("boundcheck", path=str(Path(sys.executable).parent)) or shutil.which("boundcheck")
    if script is None:
        pytest.skip("the boundcheck script is not installed (pip install -e .)")
    env = dict(os.environ, BOUNDCHECK_STUDIES=str(studies))
    ok = subprocess.run([script, "study", "--list"], capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == ["cli_plain", "cli_toy"]
    bad = subprocess.run([script, "study", "nope"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "boundcheck: unknown study 'nope'; available: cli_plain, cli_toy"
    assert "Traceback" not in bad.stderr
