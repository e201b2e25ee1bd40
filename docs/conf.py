"""Sphinx configuration of cydrop's documentation site.

Build (what .ci/run's docs stage runs; warnings are errors)::

    pip install -e ".[docs]"        # torch and dask too: the API reference documents
    sphinx-build -W --keep-going -b html docs docs/_build/html

The pages are MyST markdown (docs/design.md itself is the design contract
page); the API reference is autosummary over ``cydrop``, ``cydrop.torch`` and
``cydrop.dask`` with numpydoc, whose validation makes a docstring that no
longer matches its signature a warning, hence an error; the gallery is
sphinx-gallery over ``examples/``, executed at every build.  Generated files
(``api/generated/``, ``auto_examples/``, ``sg_execution_times.rst``,
``_build/``) are git-ignored and left out of pytest's collection
(``conftest.py``).
"""
import importlib.util
import os
import re
import sys
from pathlib import Path

import cydrop

HERE = Path(__file__).resolve().parent

# -- the optional extras the API reference documents ---------------------------
_missing = [m for m in ("torch", "dask") if importlib.util.find_spec(m) is None]
if _missing:
    raise RuntimeError(
        f"the documentation documents cydrop.torch and cydrop.dask, so it needs "
        f"{' and '.join(_missing)} installed (pip install torch==2.13.0 "
        f"'dask[array,distributed]>=2024.1'; the docs extra leaves torch out on purpose: "
        f"pick its build yourself)")

# -- project ------------------------------------------------------------------
project = "cydrop"
author = "the cydrop developers"
copyright = "the cydrop developers"
version = release = cydrop.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.extlinks",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    # the package index's description (pyproject's readme), not a site page
    "index-description.md",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
    "auto_examples/*.md5",
    "**.ipynb_checkpoints",
]
templates_path = ["_templates"]
html_static_path = ["_static"]
nitpicky = False

# -- MyST ---------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
# "#the-random-stream-normative"-style links between pages, as GitHub makes them
myst_heading_anchors = 4

# -- the sources on GitHub: {source}`tests/test_field.py` ----------------------
REPO_URL = "https://github.com/cydrop/cydrop"
extlinks = {"source": (f"{REPO_URL}/blob/main/%s", "%s")}

# -- autodoc / autosummary / numpydoc -----------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"           # the signatures carry them; numpydoc the types
autodoc_inherit_docstrings = False   # torch.nn.Module's docstrings are torch's pages

numpydoc_show_class_members = True
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
# A docstring that no longer matches its signature fails the -W build:
#   PR01  a parameter of the signature is not documented
#   PR02  a documented parameter is not in the signature
#   PR03  parameters documented in another order than the signature's
#   PR06  a type written as "integer"/"boolean"/"string" instead of int/bool/str
#   PR10  "name: type" without the space before the colon
#   GL03  double blank lines in a docstring
#   GL09  the deprecation directive out of place
numpydoc_validation_checks = {"PR01", "PR02", "PR03", "PR06", "PR10", "GL03", "GL09"}
numpydoc_validation_exclude = {
    r"\._[a-z]",               # private helpers
    r"\.__[a-z]+__$",          # dunder methods
    r"^cydrop\.torch\.\w+\.(forward|extra_repr)$",   # torch.nn.Module's own contract
}

# -- sphinx-gallery -----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # every script is executed, not only plot_*.py; an error fails the build
    "filename_pattern": r".*",
    # run every example at every build, also when a previous build's outputs
    # are there (sphinx-gallery would skip an unchanged script by its MD5)
    "run_stale_examples": True,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "download_all_examples": False,
    "reset_modules": ("matplotlib",),
    "matplotlib_animations": False,
    "min_reported_time": 1,
    "image_scrapers": ("matplotlib",),
}

# -- matplotlib's plot directive (the stream picture in the guide) -----------
plot_basedir = str(HERE)       # {plot} file names are relative to docs/
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]

# -- HTML ---------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"cydrop {release}"
html_theme_options = {
    "github_url": REPO_URL,
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
html_show_sourcelink = False
html_css_files = ["cydrop.css"]


# -- every public name has a page ---------------------------------------------
# The API pages list the names by hand (grouped, as numpy's reference does);
# a public name missing from them is a warning, so an error under -W.
def _check_api_pages_cover_all(app):
    import importlib

    from sphinx.util import logging
    log = logging.getLogger("cydrop.conf")
    listed = set()
    module = None
    for page in sorted((HERE / "api").glob("*.rst")):
        for line in page.read_text().splitlines():
            m = re.match(r"\.\. (?:currentmodule|module):: (\S+)", line)
            if m:
                module = m.group(1)
            m = re.match(r"   ([A-Za-z_][\w.]*)\s*$", line)
            if m and module:
                listed.add(f"{module}.{m.group(1)}")
    for name in ("cydrop", "cydrop.torch", "cydrop.dask"):
        mod = importlib.import_module(name)
        for attr in mod.__all__:
            if attr == "__version__":
                continue
            if f"{name}.{attr}" not in listed:
                log.warning(f"{name}.{attr} is public ({name}.__all__) but no page of "
                            f"docs/api/ lists it")


# -- bare doctests in markdown ------------------------------------------------
# docs/design.md writes its doctests as bare ">>>" lines (pytest's
# --doctest-glob runs them); CommonMark would read ">>>" as three nested
# block quotes, so each run of such lines (up to the blank line that ends a
# doctest example) is fenced as a pycon block when the page is read.
def _fence_bare_doctests(app, docname, source):
    if not str(app.env.doc2path(docname)).endswith(".md"):
        return
    out, fence, block = [], None, False
    for line in source[0].split("\n"):
        stripped = line.lstrip()
        if block:
            if stripped == "":
                out.append("```")
                block = False
            out.append(line)
            continue
        if fence is None and stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
        elif fence is not None and stripped.startswith(fence):
            fence = None
        elif fence is None and line.startswith(">>> "):
            out.append("```pycon")
            block = True
        out.append(line)
    if block:
        out.append("```")
    source[0] = "\n".join(out)


def setup(app):
    app.connect("builder-inited", _check_api_pages_cover_all)
    app.connect("source-read", _fence_bare_doctests)
