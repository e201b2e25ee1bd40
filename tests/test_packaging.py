"""What a user installs: the distribution's metadata and license, the
description a package index shows, the error when a source tree shadows
the installed package, the compiled module's size."""
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import cydrop
from cydrop import _kernels


def _dist():
    return importlib.metadata.distribution("cydrop")


def test_metadata_a_package_index_expects():
    meta = _dist().metadata
    assert meta["Name"] == "cydrop" and meta["Version"] == cydrop.__version__
    assert meta["License-Expression"] == "BSD-3-Clause"
    classifiers = meta.get_all("Classifier")
    for wanted in ("Typing :: Typed", "Programming Language :: Cython",
                   "Operating System :: POSIX :: Linux", "Development Status :: 4 - Beta",
                   "Programming Language :: Python :: 3.11"):
        assert wanted in classifiers, wanted
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Homepage", "Source", "Issues", "Documentation"} <= set(urls)
    assert all(u.startswith("https://") for u in urls.values())
    assert meta["Author"] or meta["Author-email"]
    assert meta["Requires-Python"] == ">=3.9"


def test_license_text_is_installed():
    files = [f for f in (_dist().files or []) if f.name == "LICENSE"]
    assert files, "no LICENSE in the installed distribution"
    text = files[0].read_text()
    assert text.startswith("BSD 3-Clause License") and "Neither the name" in text


def test_long_description_renders_on_an_index_page():
    meta = _dist().metadata
    assert meta["Description-Content-Type"] == "text/markdown"
    body = meta.get_payload() or meta["Description"]
    assert body.startswith("# cydrop")
    # links and images must work away from the repository: absolute only
    targets = re.findall(r"\]\(([^)]*)\)", body) + re.findall(r'src="([^"]*)"', body)
    assert all(t.startswith(("https://", "http://")) for t in targets), targets
    # and its example runs as written
    (block,) = re.findall(r"```python\n(.*?)```", body, flags=re.S)
    exec(compile(block, "long_description", "exec"), {})


def test_compiled_module_carries_no_debug_info():
    if "-O0" in _kernels.BUILD_FLAGS or "sanitize" in _kernels.BUILD_FLAGS:
        pytest.skip("a debug or sanitizer build keeps its debug info on purpose")
    readelf = shutil.which("readelf")
    if readelf is None or sys.platform != "linux":
        pytest.skip("readelf (binutils) on Linux needed")
    sections = subprocess.run([readelf, "-S", "-W", _kernels.__file__], capture_output=True,
                              text=True, check=True).stdout
    assert ".debug_info" not in sections
    assert os.path.getsize(_kernels.__file__) < 1_500_000


def _editable():
    """Whether cydrop is installed in editable mode (setuptools' finder then
    maps every cydrop module to the clone, whatever sys.path says).  Every
    cydrop distribution is asked: run from a clone, the build's
    ``cydrop.egg-info`` there is found first, and it has no install record."""
    return any(json.loads(d.read_text("direct_url.json") or "{}")
               .get("dir_info", {}).get("editable", False)
               for d in importlib.metadata.distributions(name="cydrop"))


@pytest.mark.skipif(_editable(), reason="an editable install cannot be shadowed (its finder "
                    "maps cydrop to the clone); CI's wheel and sdist stages run this")
def test_source_tree_shadowing_an_install_says_so(tmp_path):
    # a copy of the package's Python sources with no compiled module, run
    # from its parent directory: what a clone with a non-editable install
    # (or an unpacked sdist) gives when Python starts there
    src = tmp_path / "cydrop"
    src.mkdir()
    here = os.path.dirname(cydrop.__file__)
    for name in os.listdir(here):
        if name.endswith(".py"):
            shutil.copy(os.path.join(here, name), src / name)
    proc = subprocess.run([sys.executable, "-c", "import cydrop; print(cydrop.__file__)"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0, proc.stdout
    err = proc.stderr
    assert "ImportError" in err and "circular import" not in err.splitlines()[-1]
    last = err.splitlines()[-1]
    assert "source tree" in last and str(src) in last
    assert "pip install -e ." in last and "another directory" in last
