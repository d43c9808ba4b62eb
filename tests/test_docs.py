"""The documentation: study pages generated from study outputs, and the site built with warnings as errors.

The page-generation tests run a throwaway study in a temporary folder (fast). ``test_docs_build`` builds
the site with ``sphinx-build -W`` in a copy of ``docs/``, on quick-mode outputs: every study is run in
quick mode into ``docs/_generated/studies`` unless its outputs are already there (``make docs`` fills the
same cache). ``BOUNDCHECK_DOCS_STUDIES=a,b`` runs only these studies, ``=none`` none (their pages then
say that they have no outputs).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="the docs need sphinx (pip install boundcheck[docs])")
pytest.importorskip("myst_parser", reason="the docs need myst-parser (pip install boundcheck[docs])")
pytest.importorskip("numpydoc", reason="the docs need numpydoc (pip install boundcheck[docs])")

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

DOC_STUDY = '''
"""A throwaway study for the docs tests: values against a line.

Statement
---------
Every value is at most its bound, ``value <= bound``, see :func:`boundcheck.lazy_radius`.

Notes
-----
A note section.
"""
from dataclasses import dataclass

import pandas as pd

from boundcheck.report import StudyResult, verdict_line

NAME = "docs_toy"
DESCRIPTION = "a throwaway study for the docs tests"
BOUNDS = ("lemma_B5_f_range", "not_a_registered_bound")


@dataclass(frozen=True)
class Config:
    rows: int = 3
    seed: int = 0

    @classmethod
    def quick(cls):
        return cls(rows=2)


def run(config, *, out_dir, progress=True):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = pd.DataFrame({"x": range(config.rows), "value": [0.5] * config.rows, "bound": [1.0] * config.rows})
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot(table["x"], table["value"])
    return StudyResult(name=NAME, table=table, verdicts=[verdict_line("docs_bound", config.rows, 0)],
                       figures={"docs_toy_plot": fig}, extra_tables={"fit": table.head(1)},
                       notes=["quick settings"])
'''


@pytest.fixture(scope="module")
def build():
    """``docs/build.py`` as a module."""
    spec = importlib.util.spec_from_file_location("boundcheck_docs_build_test", DOCS / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A studies folder holding ``docs_toy``, and folders for its outputs and pages."""
    folder = tmp_path / "studies"
    folder.mkdir()
    (folder / "docs_toy.py").write_text(DOC_STUDY)
    monkeypatch.setenv("BOUNDCHECK_STUDIES", str(folder))
    before = set(sys.modules)
    yield tmp_path / "outputs", tmp_path / "pages"
    for name in set(sys.modules) - before:
        if "docs_toy" in name:
            del sys.modules[name]


def test_study_page_from_outputs(build, toy):
    outputs, pages = toy
    assert build.run_studies(["docs_toy"], outputs=outputs) == {"docs_toy": None}
    folder = outputs / "docs_toy"
    assert {"docs_toy.csv", "docs_toy.md", "docs_toy_fit.md", "docs_toy_plot.png", "summary.txt",
            "_docs.json"} <= {p.name for p in folder.iterdir()}
    page = build.render_study_page("docs_toy", outputs_root=outputs, page_dir=pages)
    assert page.startswith(build.GENERATED_MARK)
    assert "\n# docs_toy\n" in page and "*a throwaway study for the docs tests*" in page
    # the statement: the docstring as reStructuredText, its section titles as rubrics (no clashing ids)
    assert "```{eval-rst}\nA throwaway study for the docs tests: values against a line." in page
    assert ".. rubric:: Statement" in page and ".. rubric:: Notes" in page and "---------" not in page
    # the bounds: from the registry when registered, said so otherwise
    bounds = pytest.importorskip("boundcheck.bounds")
    registered = bounds.get("lemma_B5_f_range")
    assert registered.citation in page and registered.formula in page
    assert "`not_a_registered_bound`\n: (not in the bounds registry)" in page
    assert "`docs_bound`\n: (not in the bounds registry)" in page  # named by a verdict line
    # results: verdicts, notes, the plot, both tables, the CSV
    assert "- `docs_bound: holds in all 2 cells`" in page and "- quick settings" in page
    assert "```{figure} ../outputs/docs_toy/docs_toy_plot.png" in page
    assert "{download}`SVG <../outputs/docs_toy/docs_toy_plot.svg>`" in page
    assert "```{include} ../outputs/docs_toy/docs_toy.md\n```" in page
    assert "**fit**\n\n```{include} ../outputs/docs_toy/docs_toy_fit.md" in page
    assert "{download}`docs_toy.csv <../outputs/docs_toy/docs_toy.csv>`" in page
    # how to reproduce, with the quick settings
    assert "`boundcheck study docs_toy --quick`" in page
    assert "`--paper`" not in page  # this study has no paper settings
    assert "| `rows` | `2` |" in page and "| `seed` | `0` |" in page


def test_study_page_without_outputs(build, toy):
    outputs, pages = toy
    page = build.render_study_page("docs_toy", outputs_root=outputs, page_dir=pages)
    assert "No outputs yet: run `python docs/build.py --studies docs_toy`" in page
    for heading in ("### Verdicts", "### Plots", "### Tables", "{figure}", "{include}"):
        assert heading not in page
    assert "## Results" in page and "## Reproduce" in page and "| `rows` | `2` |" in page


def test_long_tables_are_cut(build, toy, monkeypatch):
    outputs, pages = toy
    build.run_studies(["docs_toy"], outputs=outputs)
    monkeypatch.setattr(build, "MAX_TABLE_ROWS", 1)
    page = build.render_study_page("docs_toy", outputs_root=outputs, page_dir=pages)
    assert "```{include} ../outputs/docs_toy/docs_toy.md\n:end-line: 3\n```\n\nThe first 1 of 2 rows." in page


def test_reuse_skips_studies_with_outputs(build, toy):
    outputs, _ = toy
    build.run_studies(["docs_toy"], outputs=outputs)
    summary = outputs / "docs_toy" / "summary.txt"
    summary.write_text("study docs_toy\nkept: holds in all 1 cells\n")
    build.run_studies(["docs_toy"], outputs=outputs, reuse=True)
    assert summary.read_text() == "study docs_toy\nkept: holds in all 1 cells\n"
    build.run_studies(["docs_toy"], outputs=outputs)
    assert "docs_bound: holds in all 2 cells" in summary.read_text()


def test_a_failing_study_is_reported_not_fatal(build, toy, tmp_path):
    outputs, _ = toy
    (Path(os.environ["BOUNDCHECK_STUDIES"]) / "docs_broken.py").write_text(
        DOC_STUDY.replace("def run(config, *, out_dir, progress=True):",
                          "def run(config, *, out_dir, progress=True):\n    raise RuntimeError('boom')"))
    errors = build.run_studies(["docs_broken", "docs_toy"], outputs=outputs)
    assert errors == {"docs_broken": "RuntimeError: boom", "docs_toy": None}


def test_write_pages_and_index(build, toy):
    outputs, pages = toy
    build.run_studies(["docs_toy"], outputs=outputs)
    pages.mkdir()
    (pages / "gone.md").write_text(build.GENERATED_MARK + "\n# a study that no longer exists\n")
    (pages / "handwritten.md").write_text("# not generated: never touched\n")
    written = build.write_pages(outputs_root=outputs, page_dir=pages)
    assert sorted(p.name for p in written) == ["docs_toy.md", "index.md"]
    assert not (pages / "gone.md").exists() and (pages / "handwritten.md").exists()
    index = (pages / "index.md").read_text()
    assert "- [docs_toy](docs_toy.md): a throwaway study for the docs tests" in index
    assert "*docs\\_bound: holds in all 2 cells*" in index  # free text is escaped: no stray emphasis
    assert "```{toctree}\n:hidden:\n\ndocs_toy\n```" in index
    assert build.write_pages(outputs_root=outputs, page_dir=pages) == []  # unchanged: nothing rewritten
    (pages / "docs_toy.md").write_text("# a hand-written page with a study's name\n")
    with pytest.raises(FileExistsError, match="docs_toy.md was not generated by docs/build.py"):
        build.write_pages(outputs_root=outputs, page_dir=pages)
    assert (pages / "docs_toy.md").read_text() == "# a hand-written page with a study's name\n"


def test_cli_help_texts(build, tmp_path):
    build.write_cli_help(tmp_path)
    texts = {p.stem: p.read_text() for p in tmp_path.glob("*.txt")}
    assert sorted(texts) == ["boundcheck", "list", "report", "study"]
    assert texts["study"].startswith("usage: boundcheck study")
    assert "--scheduler ADDRESS" in texts["study"]


def test_free_text_is_escaped(build):
    assert build._md_text("eta*, delta* and $x$ <b> [a](b)") == r"eta\*, delta\* and \$x\$ \<b\> \[a\](b)"
    assert build._md_code("a `b` c") == "``a `b` c``"


def test_docstring_rubrics(build):
    module = type(sys)("m")
    module.__doc__ = "Summary.\n\nTitle\n-----\nText.\n\n    Indented\n    --------\n"
    rst = build._docstring_rst(module)
    assert rst == "Summary.\n\n.. rubric:: Title\n\nText.\n\n    Indented\n    --------"


def _copy_docs_sources(dest: Path) -> Path:
    """docs/ without its build products (the HTML, the study outputs, the generated pages)."""
    def ignore(folder, names):
        skip = {"_build", "_generated", "__pycache__"} & set(names)
        if Path(folder).name == "studies":
            skip |= {n for n in names if n.endswith(".md")}
        return skip

    shutil.copytree(DOCS, dest, ignore=ignore)
    return dest


def _studies_to_run(real) -> list:
    """The real studies to run in quick mode for the docs: ``BOUNDCHECK_DOCS_STUDIES`` = all (default),
    none, or a comma-separated list."""
    value = os.environ.get("BOUNDCHECK_DOCS_STUDIES", "all").strip()
    if value == "all":
        return list(real)
    if value in ("", "none"):
        return []
    names = [s.strip() for s in value.split(",") if s.strip()]
    unknown = sorted(set(names) - set(real))
    if unknown:
        pytest.fail(f"BOUNDCHECK_DOCS_STUDIES names unknown studies {unknown}; available: {real}")
    return names


def test_docs_build(tmp_path):
    """The whole site, built with warnings as errors on quick-mode study outputs.

    1. The real studies (all of them, or those named by ``BOUNDCHECK_DOCS_STUDIES``; ``none`` for none)
       that have no outputs in ``docs/_generated/studies`` yet are run in quick mode into it (the same
       cache ``make docs`` fills, so a second run reuses them).
    2. The site is built in a copy of ``docs/`` (the source tree's pages are not touched), with the real
       studies plus the throwaway ``docs_toy``. A real study without outputs gets a page that says so.
    """
    from boundcheck.cli import list_studies, studies_dir

    real = list_studies()
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    start = time.perf_counter()
    wanted = _studies_to_run(real)
    if wanted:
        cmd = [sys.executable, str(DOCS / "build.py"), "--reuse", "--no-pages", "--studies", ",".join(wanted)]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
        assert proc.returncode == 0, f"quick studies failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
    studies_time = time.perf_counter() - start

    docs = _copy_docs_sources(tmp_path / "docs")
    studies = tmp_path / "studies"
    studies.mkdir()
    for name in real:
        (studies / f"{name}.py").symlink_to(studies_dir().resolve() / f"{name}.py")
    (studies / "docs_toy.py").write_text(DOC_STUDY)
    generated = docs / "_generated" / "studies"
    generated.mkdir(parents=True)
    for name in real:
        stored = DOCS / "_generated" / "studies" / name
        if (stored / "summary.txt").is_file():
            (generated / name).symlink_to(stored.resolve(), target_is_directory=True)
    cmd = [sys.executable, str(docs / "build.py"), "--reuse", "--studies", "docs_toy",
           "--out", str(tmp_path / "html")]
    proc = subprocess.run(cmd, cwd=ROOT, env=dict(env, BOUNDCHECK_STUDIES=str(studies)), capture_output=True,
                          text=True, timeout=1800)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, f"docs build failed ({elapsed:.0f} s):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"

    html = tmp_path / "html"
    for page in ("index", "theory", "cli", "data", "api", "extending", "studies/index"):
        assert (html / f"{page}.html").is_file(), page
    toy = (html / "studies" / "docs_toy.html").read_text()
    assert '<img alt="docs_toy_plot"' in toy
    assert '<span class="pre">docs_bound:</span> <span class="pre">holds</span>' in toy  # the verdict
    assert '<p class="rubric">Statement</p>' in toy and "<table" in toy
    for name in real:
        page = (html / "studies" / f"{name}.html").read_text()
        if name in wanted or (generated / name / "summary.txt").is_file():
            assert (generated / name / "summary.txt").is_file(), name
            assert "<img" in page or "draws no plot" in page, name
        else:
            assert "No outputs yet" in page, name
    api = (html / "api.html").read_text()
    for name in ("boundcheck.network.init_network", "boundcheck.ops.forward", "boundcheck.lazy.f_range",
                 "boundcheck.cli.run_study", "boundcheck.report.StudyResult"):
        assert f'id="{name}"' in api, name
    cli_page = (html / "cli.html").read_text()
    assert "usage: boundcheck study" in cli_page
    print(f"docs build: {elapsed:.1f} s, of which {studies_time:.1f} s running quick studies")
