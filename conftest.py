"""Collection rules for the doctests of the package (pytest runs the
docstrings of cydrop/ and the examples of docs/).  Optional extras' modules
are left out of the doctests when the extra is not installed; their own
tests in tests/ skip cleanly then."""
import importlib.util

collect_ignore = []
if importlib.util.find_spec("dask") is None:
    collect_ignore.append("cydrop/dask.py")
if importlib.util.find_spec("torch") is None:
    collect_ignore.append("cydrop/torch.py")
