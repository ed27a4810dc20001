"""What a cancel task is asked to cancel: order item ids, with their order ids when known.

Checked before anything is sent: a bad entry is an error that names it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from airflow_seller_provider.client.validation import validate_order_id, validate_order_item_id


@dataclass(frozen=True, slots=True)
class Target:
    order_item_id: int
    order_id: int | None = None


def parse_targets(value: Any) -> list[Target]:
    """One id, a list of ids, or ``{"order_item_id": .., "order_id": ..}`` entries.

    Raises ValueError/TypeError naming the bad entry; nothing is sent before this passes.
    """
    if isinstance(value, dict | str | int) or value is None:
        entries: list[Any] = [value]
    elif isinstance(value, Iterable):
        entries = list(value)
    else:
        raise TypeError(
            f"order_item_id {value!r} must be an id, a list of ids, or "
            '{"order_item_id": ..., "order_id": ...} entries'
        )
    if not entries:
        raise ValueError("order_item_id is an empty list: give at least one order item id")
    targets: dict[int, Target] = {}
    for position, entry in enumerate(entries):
        where = f" (entry {position})" if len(entries) > 1 else ""
        try:
            if isinstance(entry, dict):
                unknown = set(entry) - {"order_item_id", "order_id"}
                if unknown or "order_item_id" not in entry:
                    raise ValueError(
                        f"entry {entry!r} must have the keys order_item_id and, optionally, "
                        "order_id"
                    )
                order_id = entry.get("order_id")
                target = Target(
                    validate_order_item_id(entry["order_item_id"]),
                    None if order_id in (None, "") else validate_order_id(order_id),
                )
            else:
                target = Target(validate_order_item_id(entry))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{exc}{where}") from None
        known = targets.get(target.order_item_id)
        if known is None or (known.order_id is None and target.order_id is not None):
            targets[target.order_item_id] = target
    return list(targets.values())
