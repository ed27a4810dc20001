"""Sphinx configuration of the docs site (``make docs``: warnings are errors)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

# autodoc imports the package, hence Airflow: give Airflow a throw-away home rather than
# ~/airflow, and no example DAGs.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="asp-docs-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

from airflow_seller_provider import __version__  # noqa: E402

project = "airflow-seller-provider"
author = "airflow-seller-provider developers"
copyright = "airflow-seller-provider developers, Apache License 2.0"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "generated_pages",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
# _generated/ holds the pages generated_pages writes; they are included, not pages of their own.
exclude_patterns = ["_build", "_generated", "_ext"]

# The existing pages link to their own sections by anchor ("#the-timeouts-that-matter").
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "all"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"airflow-seller-provider {__version__}"
