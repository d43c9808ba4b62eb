"""The wheel ships the studies, and a user's package adds its own through the entry-point group.

The wheel is built from a copy of the source tree and installed (without dependencies) in a fresh virtual
environment; the test environment's site-packages is appended to that environment's path (a plain path
entry, so its editable install of boundcheck stays inactive) to provide numpy, numba and the rest without
downloading them. Every command runs from an empty folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "bc-plugin-demo"
version = "0.0.1"

[project.entry-points."boundcheck.studies"]
demo_plugin = "bc_plugin_demo.demo_plugin"

[tool.setuptools]
packages = ["bc_plugin_demo"]
"""

PLUGIN_STUDY = '''
"""A study from a user's own package."""
from dataclasses import dataclass

from boundcheck.report import StudyResult, verdict_line
from boundcheck.study import Study, StudyConfig, positive_ints, seed_domain, setting

NAME = "demo_plugin"
DESCRIPTION = "a study added through the boundcheck.studies entry points"


@dataclass(frozen=True)
class Config(StudyConfig):
    widths: tuple = setting((1, 2, 3), positive_ints)
    seed: int = setting(0, seed_domain)


def grid(config):
    return {"width": config.widths}


def cell(coords, rng, settings):
    return {"value": float(rng.random()) * coords["width"]}


def build(table, config):
    bad = int((table["value"] > table["width"]).sum())
    return StudyResult(name=NAME, table=table, verdicts=[verdict_line("demo_bound", len(table), bad)])


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, grid=grid, cell=cell, build=build)
'''


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _isolation() -> list[str]:
    """Build with this environment's setuptools when it is recent enough (``make setup`` installs one),
    else in pip's isolated build environment (which downloads the build requirements)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        major = int(version("setuptools").split(".")[0])
        version("wheel")
    except (PackageNotFoundError, ValueError):
        return []
    return ["--no-build-isolation"] if major >= 77 else []


def _wheel(source: Path, dest: Path) -> Path:
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *_isolation(), "-w", str(dest),
          str(source)], cwd=source)
    wheels = sorted(dest.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh environment with the boundcheck wheel and the demo plugin's wheel installed."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, source / name)
    for folder in ("boundcheck", "studies"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheel = _wheel(source, tmp / "dist")

    plugin = tmp / "plugin"
    (plugin / "bc_plugin_demo").mkdir(parents=True)
    (plugin / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (plugin / "bc_plugin_demo" / "__init__.py").write_text("")
    (plugin / "bc_plugin_demo" / "demo_plugin.py").write_text(PLUGIN_STUDY)
    plugin_wheel = _wheel(plugin, tmp / "plugin_dist")

    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # the dependencies from the test environment, as a plain path entry after the new site-packages
    (site / "zz_test_environment_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index",
          str(wheel), str(plugin_wheel)])
    empty = tmp / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("BOUNDCHECK_STUDIES", "PYTHONPATH")}
    return dict(bin=env_dir / "bin", python=python, site=site, cwd=empty, env=env)


def test_the_installed_package_is_the_wheel(installed):
    out = _run([str(installed["python"]), "-c", "import boundcheck, boundcheck.studies; "
                "print(boundcheck.__file__); print(list(boundcheck.studies.__path__)[0])"],
               cwd=installed["cwd"], env=installed["env"]).stdout.splitlines()
    assert all(line.startswith(str(installed["site"])) for line in out), out


def test_list_shows_every_shipped_study_and_the_plugin(installed):
    out = _run([str(installed["bin"] / "boundcheck"), "list"], cwd=installed["cwd"], env=installed["env"]).stdout
    listed = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    shipped = sorted(p.stem for p in (ROOT / "studies").glob("*.py") if not p.name.startswith("_"))
    assert shipped
    for name in shipped:
        assert name in listed and "[boundcheck]" in listed[name], out
        assert "cannot load" not in listed[name], listed[name]
    assert "demo_plugin" in listed and "[entry point of bc-plugin-demo]" in listed["demo_plugin"], out


def test_a_shipped_study_runs_from_an_empty_folder(installed):
    cwd = installed["cwd"]
    _run([str(installed["bin"] / "boundcheck"), "study", "lemma_f_range", "--quick", "--quiet", "--out", "shipped"],
         cwd=cwd, env=installed["env"])
    assert (cwd / "shipped" / "lemma_f_range.csv").stat().st_size > 0
    assert (cwd / "shipped" / "summary.txt").read_text().startswith("study lemma_f_range")


def test_the_plugin_study_runs_and_reports(installed):
    cwd = installed["cwd"]
    bc = str(installed["bin"] / "boundcheck")
    _run([bc, "study", "demo_plugin", "--quiet", "--out", "plugin"], cwd=cwd, env=installed["env"])
    assert (cwd / "plugin" / "summary.txt").read_text() == "study demo_plugin\ndemo_bound: holds in all 3 cells\n"
    manifest = json.loads((cwd / "plugin" / "cells" / "manifest.json").read_text())
    assert manifest["config"]["config"]["study"] == "demo_plugin"
    out = _run([bc, "report", "plugin"], cwd=cwd, env=installed["env"]).stdout
    assert out.startswith("rebuilt demo_plugin in plugin")


def test_make_reinstalls_when_the_distribution_changes():
    # the Makefile's stamp depends on both files that define the distribution
    text = (ROOT / "Makefile").read_text()
    stamp_line = next(line for line in text.splitlines() if line.startswith("$(STAMP):"))
    assert "pyproject.toml" in stamp_line and "setup.py" in stamp_line
