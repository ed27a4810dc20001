"""A Sphinx extension that writes, before any page is read, the parts of the docs that the
code and the project's metadata define, so that the pages cannot drift from them:

- ``_generated/settings-table.md``: the short-stock settings table, from the one definition
  (``airflow_seller_provider.short_stock.settings.settings_table``);
- ``_generated/supported-versions.md``: the supported Python and Airflow versions, from
  ``pyproject.toml`` (requires-python, the classifiers, the apache-airflow range), and the
  versions CI tests, from the pinned locks.

Pages include them with MyST's ``{include}`` directive.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

from airflow_seller_provider.short_stock.settings import settings_table

REPO = Path(__file__).resolve().parents[2]
# The pinned environments CI runs the suite in: (lock, make target).
AIRFLOW_LOCKS = [
    ("requirements/ci-lock.txt", "make test"),
    ("requirements/airflow2-lock.txt", "make test-airflow2"),
]


def _pinned(lock: str, name: str) -> str:
    match = re.search(rf"^{re.escape(name)}==(\S+)$", (REPO / lock).read_text(), re.M)
    if match is None:
        raise RuntimeError(f"{lock} pins no {name}")
    return match.group(1)


def supported_versions() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pythons = [
        c.rsplit(" :: ", 1)[1]
        for c in project["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    (airflow,) = [d for d in project["dependencies"] if re.match(r"apache-airflow[<>=!~ ]", d)]
    tested_airflow = "; ".join(
        f"{_pinned(lock, 'apache-airflow')} (`{target}`, `{lock}`)"
        for lock, target in AIRFLOW_LOCKS
    )
    return (
        "\n".join(
            [
                "| | supported (the package's metadata) | tested in CI |",
                "|---|---|---|",
                f"| Python | `{project['requires-python']}` (classifiers: {', '.join(pythons)}) "
                f"| {_pinned_python()} |",
                f"| Apache Airflow | `{airflow}` | {tested_airflow}; and `make test-dist` installs "
                "the wheel beside 3.3 and beside 2.11 |",
            ]
        )
        + "\n"
    )


def _pinned_python() -> str:
    """The Python the locks are resolved for (``--python-version`` in their header)."""
    match = re.search(r"--python-version (\S+)", (REPO / "requirements/ci-lock.txt").read_text())
    if match is None:
        raise RuntimeError("requirements/ci-lock.txt names no --python-version")
    return match.group(1)


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def write_generated(app: Sphinx) -> None:
    out = Path(app.srcdir) / "_generated"
    out.mkdir(exist_ok=True)
    _write(out / "settings-table.md", settings_table() + "\n")
    _write(out / "supported-versions.md", supported_versions())


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", write_generated)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
