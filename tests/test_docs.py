"""The documentation: study pages generated from study outputs, and the site built with warnings as errors.

The page-generation tests run a throwaway study in a temporary folder (fast). ``test_docs_build`` builds
the site with ``sphinx-build -W`` in a copy of ``docs/``: a study with stored default-settings results
(``docs/results/<name>``) shows them; the others are run in quick mode into ``docs/_generated/studies``
unless their outputs are already there (``make docs`` fills the same cache), and so is ``SMOKE_STUDIES``
always, so that the quick pipeline of a real study is exercised even when every study has stored results.
``BOUNDCHECK_DOCS_STUDIES`` = ``auto`` (that, the default), ``all``, ``none`` or a comma-separated list.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from boundcheck.report import verdict_line

pytest.importorskip("sphinx", reason="the docs need sphinx (pip install boundcheck[docs])")
pytest.importorskip("myst_parser", reason="the docs need myst-parser (pip install boundcheck[docs])")
pytest.importorskip("numpydoc", reason="the docs need numpydoc (pip install boundcheck[docs])")
pytest.importorskip("sphinx-mathjax-offline",
                    reason="the docs need sphinx-mathjax-offline, MathJax without a CDN (pip install boundcheck[docs])")

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

from boundcheck.report import StudyResult, verdict_line
from boundcheck.study import Study, StudyConfig, positive_int, seed_domain, setting

NAME = "docs_toy"
DESCRIPTION = "a throwaway study for the docs tests"
BOUNDS = ("lemma_B5_f_range", "not_a_registered_bound")


@dataclass(frozen=True)
class Config(StudyConfig):
    rows: int = setting(3, positive_int)
    seed: int = setting(0, seed_domain)

    @classmethod
    def quick(cls):
        return cls(rows=2)


def grid(config):
    return {"x": list(range(config.rows))}


def cell(coords, rng, settings):
    return {"value": 0.5, "bound": 1.0}


def build(table, config):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot(table["x"], table["value"])
    return StudyResult(name=NAME, table=table, verdicts=[verdict_line("docs_bound", config.rows, 0)],
                       figures={"docs_toy_plot": fig}, extra_tables={"fit": table.head(1)},
                       notes=["some settings"])


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, grid=grid, cell=cell, build=build)
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
    # results: marked as a quick smoke run; verdicts, notes, the plot, both tables, the CSV
    assert "**Quick-mode smoke output, not results**" in page
    assert "`python docs/build.py --refresh-results docs_toy` computes and stores them" in page
    assert f"- `{verdict_line('docs_bound', 2, 0)}`" in page and "- some settings" in page
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
    assert verdict_line("docs_bound", 2, 0) in summary.read_text()


def test_a_failing_study_is_reported_not_fatal(build, toy, tmp_path):
    outputs, _ = toy
    (Path(os.environ["BOUNDCHECK_STUDIES"]) / "docs_broken.py").write_text(
        DOC_STUDY.replace('NAME = "docs_toy"', 'NAME = "docs_broken"').replace(
            "def build(table, config):", "def build(table, config):\n    raise RuntimeError('boom')"))
    errors = build.run_studies(["docs_broken", "docs_toy"], outputs=outputs)
    assert errors == {"docs_broken": "RuntimeError: boom", "docs_toy": None}


def test_write_pages_and_index(build, toy):
    outputs, pages = toy
    build.run_studies(["docs_toy"], outputs=outputs)
    pages.mkdir()
    (pages / "gone.md").write_text(build.GENERATED_MARK + "\n# a study that no longer exists\n")
    (pages / "handwritten.md").write_text("# not generated: never touched\n")
    written = build.write_pages(["docs_toy"], outputs_root=outputs, page_dir=pages)
    assert sorted(p.name for p in written) == ["docs_toy.md", "index.md"]
    assert not (pages / "gone.md").exists() and (pages / "handwritten.md").exists()
    index = (pages / "index.md").read_text()
    assert "- [docs_toy](docs_toy.md): a throwaway study for the docs tests" in index
    # free text is escaped (no stray emphasis), and the quick run is marked as such
    assert f"*quick-mode smoke output: {build._md_text(verdict_line('docs_bound', 2, 0))}*" in index
    assert "docs\\_bound" in index
    assert "```{toctree}\n:hidden:\n\ndocs_toy\n```" in index
    assert build.write_pages(["docs_toy"], outputs_root=outputs, page_dir=pages) == []  # unchanged: nothing rewritten
    (pages / "docs_toy.md").write_text("# a hand-written page with a study's name\n")
    with pytest.raises(FileExistsError, match="docs_toy.md was not generated by docs/build.py"):
        build.write_pages(["docs_toy"], outputs_root=outputs, page_dir=pages)
    assert (pages / "docs_toy.md").read_text() == "# a hand-written page with a study's name\n"


def test_refresh_results_stores_default_settings(build, toy, tmp_path):
    """``--refresh-results``: the default settings run, published with the command and the date."""
    outputs, pages = toy
    results, runs = tmp_path / "results", tmp_path / "runs"
    assert build.refresh_results(["docs_toy"], results=results, runs=runs, quiet=True) == {"docs_toy": None}
    folder = results / "docs_toy"
    assert {p.name for p in folder.iterdir()} == {"docs_toy.csv", "docs_toy.md", "docs_toy_fit.csv",
                                                   "docs_toy_fit.md", "docs_toy_plot.png", "docs_toy_plot.svg",
                                                   "summary.txt", "timings.json", "_docs.json"}  # no cell store
    meta = json.loads((folder / "_docs.json").read_text())
    assert meta["mode"] == "default" and meta["config"] == {"rows": 3, "seed": 0}
    assert meta["command"] == "python docs/build.py --refresh-results docs_toy"
    assert meta["date"][:4].isdigit() and meta["date"].endswith("+00:00") and meta["elapsed_s"] >= 0
    assert verdict_line("docs_bound", 3, 0) in (folder / "summary.txt").read_text()  # 3 rows: the defaults

    # the page shows the stored results, not the quick outputs, and says how to regenerate them
    build.run_studies(["docs_toy"], outputs=outputs)
    page = build.render_study_page("docs_toy", outputs_root=outputs, page_dir=pages, results_root=results)
    assert "Results of the study's **default settings**" in page and meta["date"] in page
    assert "Regenerate them with `python docs/build.py --refresh-results docs_toy`" in page
    assert "Quick-mode smoke output" not in page
    assert f"- `{verdict_line('docs_bound', 3, 0)}`" in page
    assert "```{figure} ../results/docs_toy/docs_toy_plot.png" in page
    assert "Default settings:" in page and "| `rows` | `3` |" in page
    assert "`boundcheck study docs_toy`, run by `python docs/build.py --refresh-results docs_toy`" in page
    index = build.render_index(["docs_toy"], outputs_root=outputs, results_root=results)
    assert f"*default settings, {meta['date'][:10]}: " in index

    # a failing refresh leaves the published results as they were
    (Path(os.environ["BOUNDCHECK_STUDIES"]) / "docs_toy.py").write_text(
        DOC_STUDY.replace("def build(table, config):", "def build(table, config):\n    raise RuntimeError('boom')"))
    for name in [n for n in sys.modules if "docs_toy" in n]:
        del sys.modules[name]
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert build.refresh_results(["docs_toy"], results=results, runs=runs, quiet=True) == {
        "docs_toy": "RuntimeError: boom"}
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_self_checks_are_shown_apart(build, tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "summary.txt").write_text(
        "study s\nb1: holds in all 2 cells\n"
        "consistency checks of the implementation (hold by construction; they test the code, not the paper):\n"
        "  b2: holds in all 2 cells\nb3: vacuous in all 2 cells\nnote: a note\n")
    out = build.read_outputs(folder, "s")
    assert out.verdicts == ["b1: holds in all 2 cells", "b3: vacuous in all 2 cells"]
    assert out.self_checks == ["b2: holds in all 2 cells"] and out.notes == ["a note"]


def test_publish_results_replaces_the_whole_folder(build, tmp_path):
    source, dest = tmp_path / "run", tmp_path / "results" / "s"
    (source / "cells").mkdir(parents=True)
    (source / "summary.txt").write_text("study s\n")
    (source / "s.csv").write_text("a\n1\n")
    (source / "cells" / "c.json").write_text("{}")
    dest.mkdir(parents=True)
    (dest / "stale.png").write_bytes(b"old")
    build.publish_results(source, dest, {"mode": "default"})
    assert sorted(p.name for p in dest.iterdir()) == ["_docs.json", "s.csv", "summary.txt"]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["s"]  # no temporary folder left
    with pytest.raises(FileNotFoundError, match="holds no summary.txt"):
        build.publish_results(tmp_path / "empty", dest, {})


@pytest.mark.parametrize("argv, message", [
    (["--refresh-results", "no_such_study"], "unknown study no_such_study"),
    (["--refresh-results", "--studies", "a"], "--refresh-results runs no quick study"),
    (["--resume"], "--resume goes with --refresh-results"),
    (["--refresh-results", "--workers", "0"], "--workers must be a positive integer"),
])
def test_build_refuses_bad_options(build, argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        build.main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_stored_results_say_how_they_were_made(build):
    """Every folder of ``docs/results`` is a study's default-settings run, with its command and date."""
    from boundcheck.cli import list_studies

    results = DOCS / "results"
    folders = sorted(p for p in results.iterdir() if p.is_dir()) if results.is_dir() else []
    for folder in folders:
        assert folder.name in list_studies(), f"{folder}: no such study"
        outputs = build.read_outputs(folder, folder.name, kind="stored")
        assert outputs is not None and outputs.verdicts, folder
        meta = json.loads((folder / "_docs.json").read_text())
        assert meta["mode"] == "default" and meta["study"] == folder.name, folder
        assert meta["command"] == f"python docs/build.py --refresh-results {folder.name}", folder
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T.*", meta["date"]), folder
        assert not (folder / "cells").exists(), folder
        for figure in outputs.figures:
            assert figure.with_suffix(".svg").is_file(), figure


def _python_blocks(page: Path) -> list:
    return re.findall(r"```python\n(.*?)```", page.read_text(), re.S)


def test_extending_examples_run(tmp_path, monkeypatch):
    """The code of the "check a lemma of your own" page runs as printed: the registry entry, its Monte Carlo
    check, and the study of one's own, run from a folder (with tiny settings) and rebuilt by report."""
    import dataclasses

    from boundcheck.bounds import unregister
    from boundcheck.cli import get_study, list_studies

    blocks = _python_blocks(DOCS / "extending.md")
    entry = next(b for b in blocks if "@register_bound" in b)
    check = next(b for b in blocks if "compare_to_bound(counts" in b and "def cell" not in b)
    study = next(b for b in blocks if "STUDY = Study(" in b)
    namespace = {}
    try:
        for block in blocks[:blocks.index(entry)] + [entry, check]:
            exec(compile(block, "docs/extending.md", "exec"), namespace)
        assert namespace["row"]["verdict"] == "holds"
    finally:
        with contextlib.suppress(KeyError):
            unregister("my_active_count")
    folder = tmp_path / "my_studies"
    folder.mkdir()
    # as the page says: the registry entry pasted into the study's module, above the cell
    (folder / "active_count.py").write_text(study.replace("\ndef grid(config):", "\n" + entry + "\n\ndef grid(config):"))
    monkeypatch.setenv("BOUNDCHECK_STUDIES", str(folder))
    try:
        assert "active_count" in list_studies()
        spec = get_study("active_count")
        config = dataclasses.replace(spec.Config.quick(), widths=(100,), gammas=(0.1,), n_samples=50)
        result = spec.run(config, out_dir=tmp_path / "out", progress=False)
        assert [line.split(":")[0] for line in result.verdicts] == ["my_active_count"]
        assert "holds" in result.verdicts[0]
        assert spec.report(tmp_path / "out").table.equals(result.table)
    finally:
        with contextlib.suppress(KeyError):
            unregister("my_active_count")
        sys.modules.pop("active_count", None)


def _repository_files() -> list:
    """The files of the repository: tracked and untracked-but-not-ignored (git), else a walk of the tree."""
    try:
        proc = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                              capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        proc = None
    if proc is not None and proc.returncode == 0:
        return [ROOT / name for name in proc.stdout.decode().split("\0") if name]
    skip = {".git", ".venv", "__pycache__", "_build", "_generated", ".pytest_cache", ".hypothesis"}
    files = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in skip]
        files += [Path(folder) / name for name in names]
    return files


# Built from pieces, so that this file does not name them itself.
_OUTSIDE = re.compile("|".join([re.escape(".." + "/shared"), re.escape("shared" + "/spec"),
                                re.escape("shared" + "/seeds"), "(?i:spec" + r"\s+sections?\b)",
                                r"\b[Ss]" + "pec" + r" \d"]))


def test_nothing_names_files_outside_the_repository():
    """No file of the repository cites the project's private spec: the docs' theory page is the reference.

    Code and docs cite ``docs/theory.md`` by section ("theory §5.4"), never a file outside the repository
    (the project's shared folder beside it) nor a section of the private spec.
    """
    offenders = []
    for path in _repository_files():
        if ".git" in path.parts or ".venv" in path.parts or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files (images, the MNIST fixture)
        for number, line in enumerate(text.splitlines(), 1):
            if _OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not offenders, "references outside the repository:\n" + "\n".join(offenders)


def test_outside_references_are_recognized():
    for line in [".." + "/shared" + "/x.md", "shared" + "/spec/paper.md", "(spec" + " section 5.4)",
                 "Spec" + " section 3", "(spec" + " 5.4)", "spec" + " 6.3"]:
        assert _OUTSIDE.search(line), line
    for line in ["theory §5.4", "docs/theory.md §3", "SPEC 7 (Scientific Python)", "importlib.util.spec_from_file",
                 "specification", "for name, (spec, value) in pairs", "value, status = spec"]:
        assert not _OUTSIDE.search(line), line


_CITED = re.compile(r"\b[Tt]heory (?:section|§)\s?(\d+(?:\.\d+)?)")


def test_cited_theory_sections_exist(build):
    """Every "theory section N.M" that the code and the docs cite is a section of docs/theory.md."""
    labels = build.theory_labels()
    missing = []
    for path in _repository_files():
        if ".git" in path.parts or ".venv" in path.parts or not path.is_file() or path.suffix not in (
                ".py", ".md", ".rst", ".txt", ".toml", ".tmpl"):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for match in _CITED.finditer(line):
                if match.group(1) not in labels:
                    missing.append(f"{path.relative_to(ROOT)}:{number}: theory section {match.group(1)}")
    assert not missing, "cited sections that docs/theory.md does not have:\n" + "\n".join(missing)


def test_cli_help_texts(build, tmp_path):
    build.write_cli_help(tmp_path)
    texts = {p.stem: p.read_text() for p in tmp_path.glob("*.txt")}
    assert sorted(texts) == ["boundcheck", "list", "report", "study"]
    assert texts["study"].startswith("usage: boundcheck study")
    assert "--scheduler ADDRESS" in texts["study"]


def test_free_text_is_escaped(build):
    assert build._md_text("eta*, delta* and $x$ <b> [a](b)") == r"eta\*, delta\* and \$x\$ \<b\> \[a\](b)"
    assert build._md_code("a `b` c") == "``a `b` c``"


def test_further_pages_are_linked(build, tmp_path):
    """A top-level page that the main table of contents does not list gets into "Further pages"."""
    for name in ("index", "theory", "speed", "beyond_minimal", "beyond_deep", "zebra"):
        (tmp_path / f"{name}.md").write_text(f"# {name}\n")
    assert build.render_further_pages(tmp_path) == (
        "```{toctree}\n:maxdepth: 2\n:caption: Further pages\n\nbeyond_deep\nbeyond_minimal\nspeed\nzebra\n```\n")
    for name in ("speed", "beyond_minimal", "beyond_deep", "zebra"):
        (tmp_path / f"{name}.md").unlink()
    assert build.render_further_pages(tmp_path) == "<!-- no further pages -->\n"


def test_theory_references_become_links(build):
    labels = build.theory_labels()
    assert {"0", "3", "5.4", "6.4", "9.3", "10.5", "11"} <= labels  # the sections the code cites exist
    unknown = "Theory" + " section 99"  # a section the page does not have (in pieces: see test_cited_...)
    rst = f"Statement (theory section 5.1); ``theory section 5.2``; {unknown}.\n\nA::\n\n    theory section 3\n"
    assert build.link_theory(rst, labels) == (
        f"Statement (:ref:`theory section 5.1 <theory-5-1>`); ``theory section 5.2``; {unknown}.\n\n"
        "A::\n\n    theory section 3")
    # bars of the prose (|f(x)| written for help()) are escaped: they are not RST substitutions
    rst = "a |f(x)| b ``|g|`` :math:`|x|` c\n\n.. code-block:: python\n\n    abs(x) | y\n\nA::\n\n    |f|\n\nd |f|"
    assert build.link_theory(rst, labels, escape_bars=True) == (
        "a \\|f(x)\\| b ``|g|`` :math:`|x|` c\n\n.. code-block:: python\n\n    abs(x) | y\n\nA::\n\n    |f|\n\nd \\|f\\|")


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


#: Real studies the docs test always runs in quick mode (cheap: about 15 s), stored results or not.
SMOKE_STUDIES = ("lemma_f_range",)


def _studies_to_run(real) -> list:
    """The real studies to run in quick mode for the docs: ``BOUNDCHECK_DOCS_STUDIES`` = auto (default: those
    without stored results, plus ``SMOKE_STUDIES``), all, none, or a comma-separated list."""
    value = os.environ.get("BOUNDCHECK_DOCS_STUDIES", "auto").strip()
    if value == "all":
        return list(real)
    if value == "auto":
        return [name for name in real
                if name in SMOKE_STUDIES or not (DOCS / "results" / name / "summary.txt").is_file()]
    if value in ("", "none"):
        return []
    names = [s.strip() for s in value.split(",") if s.strip()]
    unknown = sorted(set(names) - set(real))
    if unknown:
        pytest.fail(f"BOUNDCHECK_DOCS_STUDIES names unknown studies {unknown}; available: {real}")
    return names


_REMOTE = re.compile(r"""<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""",
                     re.IGNORECASE)
_REMOTE_CSS = re.compile(r"""(?:@import\s+|url\(\s*)["']?(?:https?:)?//""", re.IGNORECASE)


def remote_references(html: Path) -> list:
    """Every script, stylesheet, image or frame of the built site that would be fetched from the network.

    Links a reader may follow (``<a href="https://arxiv.org/...">``) are fine; what the browser loads by
    itself to show a page (scripts such as MathJax, stylesheets, fonts, images) must come from the site.
    """
    found = []
    for path in sorted(html.rglob("*.html")):
        for match in _REMOTE.finditer(path.read_text(errors="replace")):
            found.append(f"{path.relative_to(html)}: {match.group(0)}")
    for path in sorted(html.rglob("*.css")):
        for match in _REMOTE_CSS.finditer(path.read_text(errors="replace")):
            found.append(f"{path.relative_to(html)}: {match.group(0)}")
    return found


def test_remote_references_are_found(tmp_path):
    """The offline check itself: it flags CDN scripts, stylesheets and CSS imports, not plain links."""
    (tmp_path / "a.html").write_text(
        '<a href="https://arxiv.org/abs/2207.00411">paper</a>\n<script src="_static/mathjax/tex-chtml.js"></script>')
    (tmp_path / "s.css").write_text("body { background: url(img.png); }")
    assert remote_references(tmp_path) == []
    (tmp_path / "b.html").write_text('<script defer src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js">')
    (tmp_path / "c.html").write_text("<link rel='stylesheet' href='//fonts.example.org/x.css'>")
    (tmp_path / "t.css").write_text('@import url("https://fonts.example.org/css");')
    assert len(remote_references(tmp_path)) == 3


def test_docs_build(tmp_path):
    """The whole site, built with warnings as errors, with no network: stored results and a quick smoke run.

    1. The real studies without stored results, and ``SMOKE_STUDIES`` (or those named by
       ``BOUNDCHECK_DOCS_STUDIES``), that have no outputs in ``docs/_generated/studies`` yet are run in
       quick mode into it (the same cache ``make docs`` fills, so a second run reuses them): the smoke test
       of the whole pipeline.
    2. The site is built in a copy of ``docs/`` (the source tree's pages are not touched), with the real
       studies plus the throwaway ``docs_toy``. A study with stored default-settings results
       (``docs/results/<name>``) shows them; one without shows its quick-mode output, marked as such; one
       without either gets a page that says so.
    3. The built site loads nothing from the network: MathJax comes from its own ``_static`` folder.
    """
    from boundcheck.cli import list_studies

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
    studies = tmp_path / "studies"  # the shipped studies, plus a throwaway one from a folder
    studies.mkdir()
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
    for page in ("index", "theory", "cli", "data", "api", "extending", "design", "studies/index"):
        assert (html / f"{page}.html").is_file(), page
    index = (html / "index.html").read_text()
    for page in sorted(p.stem for p in docs.glob("*.md") if p.stem != "index"):  # every page, linked
        assert (html / f"{page}.html").is_file() and f'href="{page}.html"' in index, page
    # formulas render offline: MathJax is served by the site itself, and nothing is fetched from a CDN
    assert remote_references(html) == []
    theory = (html / "theory.html").read_text()
    assert '<script defer="defer" src="_static/mathjax/tex-chtml.js"></script>' in theory
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    assert 'class="math' in theory and 'id="theory-5-4"' in theory
    toy = (html / "studies" / "docs_toy.html").read_text()
    assert '<img alt="docs_toy_plot"' in toy
    assert '<span class="pre">docs_bound:</span> <span class="pre">holds</span>' in toy  # the verdict
    assert '<p class="rubric">Statement</p>' in toy and "<table" in toy
    assert "Quick-mode smoke output, not results" in toy
    for name in real:
        page = (html / "studies" / f"{name}.html").read_text()
        if name in wanted:
            assert (generated / name / "summary.txt").is_file(), name  # the smoke run worked
        if (DOCS / "results" / name / "summary.txt").is_file():
            assert "default settings</strong>" in page and "--refresh-results" in page, name
            assert "<img" in page or "draws no plot" in page, name
        elif (generated / name / "summary.txt").is_file():
            assert "Quick-mode smoke output, not results" in page, name
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
