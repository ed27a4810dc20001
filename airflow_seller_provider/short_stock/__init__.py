"""The short-stock workflow: find the pending items the stock cannot cover, plan, ask, cancel,
publish, summarize; as a task group any DAG can embed (``short_stock_cancellation``).

The modules below the group are plain Python (the rule imports nothing from Airflow), so
importing one of them must not import the group: its names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_seller_provider.short_stock.group import short_stock_cancellation
    from airflow_seller_provider.short_stock.settings import SETTINGS, short_stock_params

__all__ = ["SETTINGS", "short_stock_cancellation", "short_stock_params"]


def __getattr__(name: str) -> Any:
    if name == "short_stock_cancellation":
        from airflow_seller_provider.short_stock.group import short_stock_cancellation

        return short_stock_cancellation
    if name in ("SETTINGS", "short_stock_params"):
        from airflow_seller_provider.short_stock import settings

        return getattr(settings, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
