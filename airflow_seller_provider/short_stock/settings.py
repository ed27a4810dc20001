"""The one definition of the short-stock workflow's settings.

Each setting has a name, a default, a JSON schema (what Airflow's ``Param`` validates a
trigger form's value with), a description, and who may change it. The task group's keyword
arguments, the example DAG's params, the checks made when a DAG file is parsed and when a
run starts, and the README's table are all read from ``SETTINGS``.

Who may change a setting:

- ``author``: whoever writes the DAG (the arguments of ``short_stock_cancellation``). The
  data sources (a query, a file, a callable, a connection) and the connections served.
- ``run``: also a DAG run, through a param of the same name in its conf.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jsonschema

from airflow_seller_provider.client.transport import DEFAULT_MAX_CONCURRENCY
from airflow_seller_provider.short_stock.plan import (
    APPROVAL_TIMEOUT_MINUTES,
    FRACTION_MIN_ITEMS,
    MAX_CONNECTIONS,
    ON_BRAKE,
    REQUIRE_APPROVAL,
)
from airflow_seller_provider.short_stock.rule import STOCK_COUNTS

if TYPE_CHECKING:
    from airflow_seller_provider.compat import Param

AUTHOR, RUN = "author", "run"


class SettingsError(ValueError):
    """A setting that is unknown, or whose value is not allowed; the message names it and
    says what is allowed."""


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: Any
    schema: Mapping[str, Any]
    """JSON schema of the value (``Param``'s keywords: ``type``, ``minimum``, ``enum``...)."""
    description: str
    kind: str = RUN
    """``author`` or ``run``: see the module's docstring."""
    allowed: str = ""
    """What is allowed, in words, for error messages and the README's table."""

    def param(self, default: Any) -> Param:
        from airflow_seller_provider.compat import Param

        return Param(default, description=self.description, **self.schema)


def _setting(
    name: str,
    default: Any,
    description: str,
    *,
    allowed: str,
    kind: str = RUN,
    **schema: Any,
) -> Setting:
    return Setting(name, default, schema, description, kind, allowed)


_SETTINGS = (
    _setting(
        "seller_center_conn_id",
        "seller_center_default",
        "The seller_center connection served when seller_center_conn_ids is empty.",
        allowed="a connection id",
        kind=AUTHOR,
        type="string",
        minLength=1,
    ),
    _setting(
        "seller_center_conn_ids",
        None,
        "Serve several connections (sellers, countries) in one run, each on its own; "
        "empty: [seller_center_conn_id].",
        allowed=f"null, or a list of at most {MAX_CONNECTIONS} distinct connection ids",
        kind=AUTHOR,
        type=["null", "array"],
        items={"type": "string", "minLength": 1},
        maxItems=MAX_CONNECTIONS,
    ),
    _setting(
        "require_approval",
        ON_BRAKE,
        "on_brake: when the safety brake trips, ask a person in the UI (Airflow 3.1+; "
        "fails on 2.11); always: ask before every run's cancellations; never: a tripped "
        "brake fails the run.",
        allowed=", ".join(REQUIRE_APPROVAL),
        type="string",
        enum=list(REQUIRE_APPROVAL),
    ),
    _setting(
        "approval_timeout_minutes",
        APPROVAL_TIMEOUT_MINUTES,
        "No answer within this time cancels nothing and fails the run.",
        allowed="a number of minutes above 0, at most 10080 (7 days)",
        kind=AUTHOR,
        type="number",
        exclusiveMinimum=0,
        maximum=7 * 24 * 60,
    ),
    _setting(
        "dry_run",
        False,
        "Report, cancel nothing.",
        allowed="true or false",
        type="boolean",
    ),
    _setting(
        "lookback_days",
        30,
        "Pending orders created in the last this many days are scanned.",
        allowed="an integer from 1 to 365",
        type="integer",
        minimum=1,
        maximum=365,
    ),
    _setting(
        "reason_detail",
        "Out of stock",
        "Sent as-is with each cancellation.",
        allowed="null, or text of at most 1000 characters",
        type=["null", "string"],
        maxLength=1000,
    ),
    _setting(
        "batch_size",
        100,
        "Items per cancel task (an order is never split).",
        allowed="an integer from 1 to 1000",
        type="integer",
        minimum=1,
        maximum=1000,
    ),
    _setting(
        "max_concurrency",
        DEFAULT_MAX_CONCURRENCY,
        "Calls in flight at once, in the find step and in each cancel task; the "
        "connection's rate_limit paces them all. With 1000-order pages, 16 lets a large "
        "seller's find step start a page's item batches at once (README).",
        allowed="an integer from 1 to 64",
        type="integer",
        minimum=1,
        maximum=64,
    ),
    _setting(
        "max_cancellations",
        500,
        "Safety brake: more short items than this on one connection holds its cancellations.",
        allowed="an integer of 0 or more",
        type="integer",
        minimum=0,
    ),
    _setting(
        "max_cancel_fraction",
        0.5,
        "Safety brake: a larger share of a connection's pending items short holds its "
        "cancellations (checked from fraction_min_items short items on).",
        allowed="a number from 0 to 1",
        type="number",
        minimum=0,
        maximum=1,
    ),
    _setting(
        "fraction_min_items",
        FRACTION_MIN_ITEMS,
        "max_cancel_fraction applies from this many short items on, so that a small "
        "shop's few legitimate cancellations are not held.",
        allowed="an integer of 0 or more",
        type="integer",
        minimum=0,
    ),
    _setting(
        "stock_source",
        "seller_center",
        "Where stock comes from: seller_center, sql, a CSV/JSON URI (file:///..., "
        "s3://...), or 'package.module:callable'.",
        allowed="seller_center, sql, a .csv/.json URI, or 'package.module:callable'",
        kind=AUTHOR,
        type=["null", "string"],
    ),
    _setting(
        "stock_conn_id",
        None,
        "For sql: an Airflow database connection.",
        allowed="null, or a connection id",
        kind=AUTHOR,
        type=["null", "string"],
    ),
    _setting(
        "stock_sql",
        None,
        "For sql: a query whose rows are sku, units[, business_unit].",
        allowed="null, or a query",
        kind=AUTHOR,
        type=["null", "string"],
    ),
    _setting(
        "stock_counts",
        None,
        "What the figures count; empty: sellable for seller_center, on_hand for the others.",
        allowed="null, " + ", ".join(STOCK_COUNTS),
        kind=AUTHOR,
        type=["null", "string"],
        enum=[None, *STOCK_COUNTS],
    ),
)

SETTINGS: Mapping[str, Setting] = {s.name: s for s in _SETTINGS}
"""Every setting by name, in the order the trigger form and the README show them."""

DEFAULTS: Mapping[str, Any] = {s.name: s.default for s in _SETTINGS}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_value(name: str, value: Any) -> Any:
    """``value`` if the setting ``name`` allows it; raises SettingsError naming both."""
    setting = SETTINGS.get(name)
    if setting is None:
        raise SettingsError(
            f"unknown setting {name!r}; the settings are: {', '.join(SETTINGS)} (README, "
            "'The short-stock task group')"
        )
    try:
        jsonschema.validate(value, dict(setting.schema))
    except jsonschema.ValidationError as exc:
        raise SettingsError(
            f"setting {name}={_show(value)} is not allowed ({exc.message}): {name} takes "
            f"{setting.allowed}"
        ) from None
    return value


def check_settings(values: Mapping[str, Any], *, hitl_available: bool) -> dict[str, Any]:
    """Every setting, with ``values`` over the defaults, each checked on its own and
    together (the stock source and its connection and query; the connection list; the
    approval mode on this Airflow). Raises SettingsError naming the first bad one."""
    from airflow_seller_provider.short_stock.plan import run_connections
    from airflow_seller_provider.short_stock.stock_sources import (
        StockSourceError,
        classify_stock_source,
    )

    for name, value in values.items():
        check_value(name, value)
    merged = {**DEFAULTS, **values}
    try:
        classify_stock_source(
            merged["stock_source"] or None,
            stock_conn_id=merged["stock_conn_id"] or None,
            stock_sql=merged["stock_sql"] or None,
        )
        run_connections(merged, hitl_available=hitl_available)
    except (StockSourceError, ValueError) as exc:
        raise SettingsError(str(exc)) from None
    return merged


def short_stock_params(**settings: Any) -> dict[str, Param]:
    """The trigger form's params, one per setting, whose defaults are ``settings`` (checked)
    over the settings' own defaults: a DAG's ``params=short_stock_params(**same)`` shows
    what its group runs with."""
    for name, value in settings.items():
        check_value(name, value)
    values = {**DEFAULTS, **settings}
    return {name: setting.param(values[name]) for name, setting in SETTINGS.items()}


def run_settings(author: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """What a run works with: the author's settings, and where the run has a param of the
    same name, the run's value (each checked). Raises SettingsError naming a bad value."""
    values = dict(author)
    for name in SETTINGS:
        if name in params:
            values[name] = check_value(name, _plain(params[name]))
    return values


def _plain(value: Any) -> Any:
    """A param's value as JSON has it (Airflow 2.11 may hand back a tuple for an array)."""
    if isinstance(value, tuple):
        return list(value)
    return value


def settings_table() -> str:
    """The README's table of the settings (a test keeps the README's copy equal to it)."""
    rows = [
        "| setting | default | who may change it | allowed | what it does |",
        "|---|---|---|---|---|",
    ]
    for s in SETTINGS.values():
        default = "empty" if s.default is None else f"`{json.dumps(s.default)}`"
        who = "the DAG's author" if s.kind == AUTHOR else "the author, and a run"
        text = s.description.replace("|", "\\|")
        rows.append(f"| `{s.name}` | {default} | {who} | {s.allowed} | {text} |")
    return "\n".join(rows)
