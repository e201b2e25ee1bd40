"""Collection rules for the doctests of the package (pytest runs the
docstrings of cydrop/ and the examples of docs/).  Optional extras' modules
are left out of the doctests when the extra is not installed; their own
tests in tests/ skip cleanly then."""
import importlib.util

# the documentation site: its Sphinx configuration and what the build
# generates (autosummary stubs, sphinx-gallery's copies of the examples, the
# HTML) and the scripts that draw the guide's figures are not tests; the
# pages' doctests (docs/**/*.md) are
collect_ignore = ["docs/conf.py"]
collect_ignore_glob = ["docs/_build/*", "docs/auto_examples/*", "docs/api/generated/*",
                      "docs/guide/plots/*"]
if importlib.util.find_spec("dask") is None:
    collect_ignore.append("cydrop/dask.py")
    collect_ignore.append("docs/guide/dask.md")
if importlib.util.find_spec("torch") is None:
    collect_ignore.append("cydrop/torch.py")
    collect_ignore.append("docs/guide/torch.md")
