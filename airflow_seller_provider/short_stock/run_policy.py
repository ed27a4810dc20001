"""What a DAG run may change of the short-stock workflow's settings.

A run's conf comes from whoever may trigger the DAG; Airflow leaves it to the DAG's author
to decide what such a user may change. Here: a run may change the run settings, a safety
setting only in the safer direction, and no author setting (the data sources, the
connections, who decides what a run may change) unless the author listed it in
``run_may_change``. Anything else fails the run before any request, naming the setting
and who may change it. Pure: no Airflow import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_seller_provider.short_stock.plan import ALWAYS, NEVER, ON_BRAKE
from airflow_seller_provider.short_stock.settings import (
    AUTHOR,
    LOWER,
    OFF,
    ON,
    SAFER_WORDS,
    SETTINGS,
    STRICTER,
    SUBSET,
    SettingsError,
    check_settings,
    check_value,
    show_value,
)

_STRICTNESS = {NEVER: 0, ON_BRAKE: 1, ALWAYS: 2}
"""``require_approval`` from the loosest to the strictest."""


def is_safer_or_same(direction: str, value: Any, author: Any) -> bool:
    """Whether ``value`` is at least as safe as the author's, for a safety setting."""
    if direction == LOWER:
        return bool(value <= author)
    if direction == STRICTER:
        return _STRICTNESS[value] >= _STRICTNESS[author]
    if direction == ON:
        return bool(value) or not author
    if direction == OFF:
        return value == "off" or value == author
    if direction == SUBSET:
        # Empty means anyone: narrower than any list only when the author's is empty too.
        return not author or (bool(value) and set(value) <= set(author))
    raise ValueError(f"unknown direction {direction!r}")


def _plain(value: Any) -> Any:
    """A param's value as JSON has it (Airflow 2.11 may hand back a tuple for an array)."""
    return list(value) if isinstance(value, tuple) else value


def run_settings(
    author: Mapping[str, Any],
    asked: Mapping[str, Any],
    *,
    hitl_available: bool,
) -> dict[str, Any]:
    """The settings a run works with: the author's, changed where ``asked`` (the run's
    params and conf) may change them. Raises SettingsError naming the first setting the
    run may not change that way, or a bad value."""
    widened = set(author.get("run_may_change") or ())
    values = dict(author)
    for name, raw in asked.items():
        setting = SETTINGS.get(name)
        if setting is None:
            continue  # the DAG's other params are not ours to judge
        value = check_value(name, _plain(raw))
        if value == author[name]:
            continue
        if name not in widened and (setting.kind == AUTHOR or name == "run_may_change"):
            raise SettingsError(
                f"{name} is set by the DAG's author ({author[name]!r}); a run's conf cannot "
                f"change it (this run asked for {show_value(value)}). Whoever deploys the DAG may "
                "change it in short_stock_cancellation(...) or [seller_center] "
                "short_stock_settings, or list it in run_may_change (docs/workflow.md, "
                "'Security model')"
            )
        if (
            setting.safer
            and name not in widened
            and not is_safer_or_same(setting.safer, value, author[name])
        ):
            raise SettingsError(
                f"{name}={show_value(value)} would loosen a safety setting: a run "
                f"{SAFER_WORDS[setting.safer]}, and the DAG's author set {author[name]!r}. "
                "Only whoever deploys the DAG may loosen it (docs/workflow.md, 'Security model')"
            )
        values[name] = value
    return check_settings(values, hitl_available=hitl_available)
