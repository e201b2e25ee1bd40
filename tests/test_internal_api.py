"""The package's internal API, checked from the sources.

- No cydrop module uses another cydrop module's underscored name (``from
  .functional import _x``, ``_checks._x``): what modules share has a name
  without an underscore in a private module (`cydrop._checks`,
  `cydrop._core`, `cydrop._processes`, ...).  The compiled module's entries
  (``_kernels._after_fork_child``) are its API and allowed; so is whatever
  ``ALLOWED`` lists, each with its reason.
- Every ``_kernels.X`` the package (and the tests) use is declared in
  ``cydrop/_kernels.pyi`` (stubtest, tests/test_typing.py, checks the
  declarations against the compiled module).
"""
import ast
from pathlib import Path

import pytest

import cydrop

PACKAGE = Path(cydrop.__file__).resolve().parent
TESTS = Path(__file__).resolve().parent
MODULES = sorted(PACKAGE.glob("*.py"))
SUBMODULES = {p.name.split(".")[0] for p in PACKAGE.iterdir()
              if p.suffix in (".py", ".pyi", ".so", ".pyd")}

# (module, "other_module._name") -> why it is allowed.  Empty: nothing needs it.
ALLOWED: dict = {}


def _dunder(name):
    return name.startswith("__") and name.endswith("__")


def _module_bindings(tree, this):
    """Names bound to cydrop modules in a module: alias -> module name
    ("" for the package itself)."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            pkg = node.level == 1 and node.module is None or node.module == "cydrop"
            for a in node.names:
                if pkg and a.name in SUBMODULES:
                    bound[a.asname or a.name] = a.name
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "cydrop" and a.asname is None:
                    bound["cydrop"] = ""
                elif a.name.startswith("cydrop.") and a.asname:
                    bound[a.asname] = a.name.split(".", 1)[1]
    return bound


def _resolve(expr, bound):
    """The cydrop module an expression names, or None."""
    if isinstance(expr, ast.Name):
        return bound.get(expr.id)
    if isinstance(expr, ast.Attribute) and _resolve(expr.value, bound) == "" \
            and expr.attr in SUBMODULES:
        return expr.attr
    return None


def _private_uses(path):
    this = path.stem
    tree = ast.parse(path.read_text(), str(path))
    bound = _module_bindings(tree, this)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                source = node.module
            elif node.module and node.module.startswith("cydrop."):
                source = node.module.split(".", 1)[1]
            else:
                continue
            for a in node.names:
                if a.name.startswith("_") and not _dunder(a.name) and a.name not in SUBMODULES:
                    yield node.lineno, f"{source}.{a.name}"
        elif isinstance(node, ast.Attribute):
            owner = _resolve(node.value, bound)
            if (owner and owner != this and node.attr.startswith("_")
                    and not _dunder(node.attr) and node.attr not in SUBMODULES
                    and owner != "_kernels"):
                yield node.lineno, f"{owner}.{node.attr}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_module_uses_another_modules_private_names(path):
    bad = [f"{path.name}:{line}: {name}" for line, name in _private_uses(path)
           if (path.stem, name) not in ALLOWED]
    assert not bad, ("private names of other modules (give them a public name in a "
                     "private module, e.g. cydrop/_core.py):\n" + "\n".join(bad))


def test_the_check_sees_a_private_use(tmp_path):
    """The check itself: it finds both forms."""
    probe = tmp_path / "probe.py"
    probe.write_text("from . import functional as F\nfrom ._checks import _x\n"
                     "F._y()\nfrom . import _kernels\n_kernels.default_forward\n")
    assert sorted(n for _, n in _private_uses(probe)) == ["_checks._x", "functional._y"]


def _stub_names():
    tree = ast.parse((PACKAGE / "_kernels.pyi").read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _kernel_uses():
    """``_kernels.X`` (and ``from cydrop._kernels import X``) in the
    package's modules and in the tests."""
    for path in MODULES + sorted(TESTS.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        bound = _module_bindings(tree, path.stem)
        where = path.name if path.parent == PACKAGE else f"tests/{path.name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _resolve(node.value, bound) == "_kernels":
                yield f"{where}:{node.lineno}", node.attr
            elif isinstance(node, ast.ImportFrom) and node.module in ("_kernels",
                                                                      "cydrop._kernels"):
                for a in node.names:
                    yield f"{where}:{node.lineno}", a.name


def test_the_kernel_stubs_declare_every_name_used():
    declared = _stub_names()
    uses = list(_kernel_uses())
    assert len(uses) > 50           # the scan finds the package's calls
    missing = sorted({f"{name} ({where})" for where, name in uses
                      if name not in declared and not _dunder(name)})
    assert not missing, "used but not declared in cydrop/_kernels.pyi:\n" + "\n".join(missing)
