"""The release files: what the wheel and the sdist hold, their entry points and metadata.

``make dist`` runs this on the files it has just built (``ASP_DIST_DIR=dist``). Anywhere
else (``make test``) the test builds its own sdist and wheel into a temp dir the way
``make dist`` does (``uv build``, hatchling pinned by requirements/build-constraints.txt):
about two seconds.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from airflow_seller_provider import __version__
from airflow_seller_provider.get_provider_info import get_provider_info

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "airflow_seller_provider"
DIST_INFO = f"{PACKAGE}-{__version__}.dist-info"


def _uv() -> str | None:
    beside = Path(sys.executable).with_name("uv")
    return str(beside) if beside.exists() else shutil.which("uv")


@pytest.fixture(scope="module")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("ASP_DIST_DIR")
    if given:
        return (REPO / given).resolve()
    uv = _uv()
    if uv is None:
        pytest.skip("no uv beside this Python or on PATH to build the wheel (make venv adds it)")
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [uv, "build", "--build-constraints", "requirements/build-constraints.txt"]
        + ["--out-dir", str(out), "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"uv build failed:\n{done.stderr[-3000:]}"
    return out


def _one(dist_dir: Path, pattern: str) -> Path:
    found = sorted(dist_dir.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {dist_dir}, found {found}"
    return found[0]


@pytest.fixture(scope="module")
def wheel(dist_dir: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(_one(dist_dir, "*.whl"))


@pytest.fixture(scope="module")
def sdist_names(dist_dir: Path) -> set[str]:
    with tarfile.open(_one(dist_dir, "*.tar.gz")) as sdist:
        root = f"{PACKAGE}-{__version__}/"
        return {m.name.removeprefix(root) for m in sdist.getmembers() if m.isfile()}


@pytest.fixture(scope="module")
def metadata(wheel: zipfile.ZipFile) -> Message:
    return HeaderParser().parsestr(wheel.read(f"{DIST_INFO}/METADATA").decode())


def test_version_has_one_home_and_is_a_release() -> None:
    assert Version(__version__) >= Version("1.0.0")
    assert get_provider_info()["versions"] == [__version__]
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and "\nversion =" not in pyproject


def test_file_names_carry_the_version(dist_dir: Path) -> None:
    _one(dist_dir, f"{PACKAGE}-{__version__}-py3-none-any.whl")
    _one(dist_dir, f"{PACKAGE}-{__version__}.tar.gz")


def test_wheel_holds_the_package_and_nothing_else(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    source = {
        str(path.relative_to(REPO))
        for path in (REPO / PACKAGE).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    package = {n for n in names if not n.startswith(DIST_INFO + "/")}
    assert package == source, (
        f"missing: {sorted(source - package)}; unexpected: {sorted(package - source)}"
    )
    for needed in (
        f"{PACKAGE}/py.typed",
        f"{PACKAGE}/sandbox/__main__.py",
        f"{PACKAGE}/sandbox/testing.py",
        f"{PACKAGE}/sandbox/README.md",
    ):
        assert needed in names
    assert not [n for n in names if n.startswith(("tests/", "dags/")) or "conftest" in n]


def test_wheel_carries_the_license(wheel: zipfile.ZipFile, metadata: Message) -> None:
    text = wheel.read(f"{DIST_INFO}/licenses/LICENSE").decode()
    assert text == (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]


def test_entry_points(wheel: zipfile.ZipFile) -> None:
    points = configparser.ConfigParser()
    points.optionxform = str  # type: ignore[assignment,method-assign]
    points.read_string(wheel.read(f"{DIST_INFO}/entry_points.txt").decode())
    assert dict(points["apache_airflow_provider"]) == {
        "provider_info": f"{PACKAGE}.get_provider_info:get_provider_info"
    }
    assert dict(points["console_scripts"]) == {
        "seller-center-sandbox": f"{PACKAGE}.sandbox.__main__:main",
        "seller-center-ledger": f"{PACKAGE}.ledger.cli:main",
    }


def test_metadata_states_what_is_supported(metadata: Message) -> None:
    assert metadata["Name"] == "airflow-seller-provider"
    assert metadata["Version"] == __version__
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["Description-Content-Type"] == "text/markdown"
    classifiers = set(metadata.get_all("Classifier") or [])
    assert {
        "Framework :: Apache Airflow",
        "Framework :: Apache Airflow :: Provider",
        "Programming Language :: Python :: 3.11",
        "Typing :: Typed",
    } <= classifiers
    (airflow,) = [
        Requirement(r)
        for r in metadata.get_all("Requires-Dist") or []
        if Requirement(r).name == "apache-airflow" and Requirement(r).marker is None
    ]
    for tested in ("2.11.0", "2.11.2", "3.0.0", "3.3.2"):
        assert airflow.specifier.contains(tested), tested
    for unsupported in ("2.10.5", "4.0.0"):
        assert not airflow.specifier.contains(unsupported), unsupported
    urls = metadata.get_all("Project-URL") or []
    assert urls and all(u.split(", ", 1)[1].startswith("https://") for u in urls)


def test_sdist_builds_tests_and_docs(sdist_names: set[str]) -> None:
    for needed in (
        "pyproject.toml",
        "PKG-INFO",
        "LICENSE",
        "CHANGELOG.md",
        "README.md",
        "Makefile",
        "requirements/build-constraints.txt",
        "docs/conf.py",
        "dags/cancel_short_stock_items.py",
        "tests/test_dist.py",
        f"{PACKAGE}/py.typed",
    ):
        assert needed in sdist_names, needed
    assert not [n for n in sdist_names if n.startswith(("docs/_build/", ".venv"))]
