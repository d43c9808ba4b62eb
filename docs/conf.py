"""Sphinx configuration for the boundcheck site.

Pages are Markdown (MyST) except the API reference (reStructuredText, autodoc + numpydoc). Build with
``python docs/build.py`` (runs the studies in quick mode first) or, with the outputs already present,
``sphinx-build -W -b html docs docs/_build/html``: when Sphinx starts, this file regenerates the study pages
(``docs/studies/*.md``) from ``docs/_generated/studies/`` and the command-line help texts, so a bare
``sphinx-build`` never shows stale pages.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from docutils.parsers.rst import directives
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _load_build_module():
    spec = importlib.util.spec_from_file_location("boundcheck_docs_build", DOCS / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


docs_build = _load_build_module()

import boundcheck  # noqa: E402

project = "boundcheck"
author = "the boundcheck authors"
copyright = "the boundcheck authors"
release = boundcheck.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 shipped in a PyPI wheel, copied into _static: no CDN, no network
    "numpydoc",
]
# The offline copy (the extension sets the same path; said here so that the page never names a CDN).
mathjax_path = "mathjax/tex-chtml.js"
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store", "**/.ipynb_checkpoints"]
templates_path: list[str] = []

# MyST: $...$ and $$...$$ math, ::: fences, definition lists.
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]

# autodoc + numpydoc: types come from the docstrings, not the annotations.
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
autosummary_generate = False  # numpydoc loads autosummary; no stub pages are generated
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# Plain, offline theme (shipped with Sphinx); MathJax is served from the site's own _static folder.
html_theme = "alabaster"
html_theme_options = {
    "description": "Monte Carlo checks of adversarial robustness bounds in lazily trained networks",
    "fixed_sidebar": True,
    "page_width": "1100px",
}
html_title = f"boundcheck {release}"
html_static_path: list[str] = []
html_show_sourcelink = False

logger = logging.getLogger(__name__)


class OptionalAutomodule(SphinxDirective):
    """``.. optional-automodule:: boundcheck.attacks``: ``automodule`` if the module exists, else nothing.

    A module that exists but fails to import is an error, as with ``automodule``; a module that does not
    exist yet (a part of the library still being written) is skipped with an informational message, so
    that the API page can list every planned module.
    """

    required_arguments = 1
    has_content = False
    option_spec = {"members": directives.unchanged, "no-members": directives.flag}

    def run(self):
        name = self.arguments[0]
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # the parent package does not exist
            found = False
        if not found:
            logger.info(f"[api] {name} does not exist (yet): not documented")
            return []
        lines = [f".. automodule:: {name}"]
        if "no-members" in self.options:
            lines.append("   :no-members:")
        elif self.options.get("members"):
            lines.append(f"   :members: {self.options['members']}")
        return self.parse_text_to_nodes("\n".join(lines))


def _generate(app):
    """Study pages and CLI help texts, regenerated before Sphinx reads the sources."""
    docs_build.write_pages()
    docs_build.write_cli_help()
    docs_build.write_api_toplevel()
    docs_build.write_bounds_list()
    docs_build.write_further_pages()


_THEORY_LABELS = docs_build.theory_labels()


def _link_theory(app, what, name, obj, options, lines):
    """Docstrings cite the theory page as "theory section 5.4": make those links (in place)."""
    linked = docs_build.link_theory("\n".join(lines), _THEORY_LABELS).split("\n")
    if linked != lines and len(linked) == len(lines):
        lines[:] = linked


def setup(app):
    app.add_directive("optional-automodule", OptionalAutomodule)
    app.connect("autodoc-process-docstring", _link_theory)
    app.connect("builder-inited", _generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
