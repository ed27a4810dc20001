"""Write the settings table of ``short_stock.settings`` into README.md between its markers
(``make readme``); ``tests/short_stock/test_group.py`` fails while the two differ."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from airflow_seller_provider.short_stock.settings import settings_table

README = Path(__file__).resolve().parents[1] / "README.md"
MARKERS = re.compile(r"(<!-- settings-table:start -->\n).*?(\n<!-- settings-table:end -->)", re.S)


def render(text: str) -> str:
    if not MARKERS.search(text):
        sys.exit(f"{README}: the settings-table markers are missing")
    return MARKERS.sub(lambda m: m.group(1) + settings_table() + m.group(2), text)


if __name__ == "__main__":
    README.write_text(render(README.read_text()))
