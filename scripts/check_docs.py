"""Check the built docs site (``make docs``): the reference pages document the hook, the
operator, the client and the task group with every parameter of their signatures, and the
task group's page lists every setting of the one definition.

The expected names come from the code (``inspect.signature``, ``SETTINGS``), so a new
parameter or setting the pages miss fails the build. Usage: ``check_docs.py HTML_DIR``.
"""

from __future__ import annotations

import html
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_seller_provider.client import SellerCenterClient
from airflow_seller_provider.hooks.seller_center import SellerCenterHook
from airflow_seller_provider.operators.cancel_order_item import CancelOrderItemOperator
from airflow_seller_provider.short_stock.group import short_stock_cancellation
from airflow_seller_provider.short_stock.settings import SETTINGS

# (page, the documented object's id in the page, the object)
DOCUMENTED: list[tuple[str, str, Callable[..., Any]]] = [
    (
        "reference/hook.html",
        "airflow_seller_provider.hooks.seller_center.SellerCenterHook",
        SellerCenterHook,
    ),
    (
        "reference/operator.html",
        "airflow_seller_provider.operators.cancel_order_item.CancelOrderItemOperator",
        CancelOrderItemOperator,
    ),
    (
        "reference/client.html",
        "airflow_seller_provider.client.SellerCenterClient",
        SellerCenterClient,
    ),
    (
        "reference/task-group.html",
        "airflow_seller_provider.short_stock.short_stock_cancellation",
        short_stock_cancellation,
    ),
]
TASK_GROUP_PAGE = "reference/task-group.html"
SETTINGS_PAGE = "settings.html"


def parameters(obj: Callable[..., Any]) -> list[str]:
    """A function's parameters, or a class's (its ``__init__``'s but ``self``)."""
    return list(inspect.signature(obj).parameters)


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def table_first_column(page: str) -> set[str]:
    """The first cell of every body row of every table in the page."""
    return {
        _text(cell)
        for table in re.findall(r"<table.*?</table>", page, re.S)
        for cell in re.findall(r"<tr[^>]*>\s*<td[^>]*>(.*?)</td>", table, re.S)
    }


def signature_names(page: str, object_id: str) -> set[str]:
    """The parameter names in the signature (``<dt id=...>``) of one documented object."""
    match = re.search(rf'<dt class="sig[^"]*" id="{re.escape(object_id)}">(.*?)</dt>', page, re.S)
    if match is None:
        return set()
    params = re.findall(r'<em class="sig-param">(.*?)</em>', match.group(1), re.S)
    return {
        html.unescape(name.group(1))
        for param in params
        if (name := re.search(r'<span class="n"><span class="pre">([^<]+)</span>', param))
    }


def check(site: Path) -> list[str]:
    problems = []
    for page_name, object_id, obj in DOCUMENTED:
        page_path = site / page_name
        if not page_path.exists():
            problems.append(f"{page_name}: missing")
            continue
        shown = signature_names(page_path.read_text(), object_id)
        if not shown:
            problems.append(f"{page_name}: no signature of {object_id}")
            continue
        missing = [p for p in parameters(obj) if p not in shown]
        if missing:
            problems.append(f"{page_name}: {object_id} lacks parameters {missing}")
    for page_name in (TASK_GROUP_PAGE, SETTINGS_PAGE):
        if not (site / page_name).exists():
            problems.append(f"{page_name}: missing")
            continue
        rows = table_first_column((site / page_name).read_text())
        missing = [name for name in SETTINGS if name not in rows]
        if missing:
            problems.append(f"{page_name}: settings missing from the table: {missing}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(Path(argv[0]))
    for problem in problems:
        print(f"check_docs: {problem}", file=sys.stderr)
    if problems:
        return 1
    documented = ", ".join(
        f"{obj.__name__}({', '.join(parameters(obj))})" for _, _, obj in DOCUMENTED
    )
    print(f"check_docs: documented with every parameter: {documented}")
    print(f"check_docs: {len(SETTINGS)} settings in the generated tables")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
