"""The one definition of the short-stock workflow's settings.

Each setting has a name, a default, a JSON schema (what Airflow's ``Param`` validates a
trigger form's value with), a description, and who may change it. The task group's keyword
arguments, the example DAG's params, the checks made when a DAG file is parsed and when a
run starts, and the docs' table (docs/settings.md) are all read from ``SETTINGS``.

Who may change a setting (docs/workflow.md, "Security model"):

- ``author``: whoever writes the DAG (the arguments of ``short_stock_cancellation``) or runs
  the deployment (``[seller_center] short_stock_settings``): the data sources (a query, a
  file, a callable, a connection), the connections served, and which settings a run may
  change beyond these rules (``run_may_change``). A run's conf cannot change them.
- ``run``: also a DAG run, through its conf; a safety setting (``safer``) only in the safer
  direction (``run_policy``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jsonschema

from airflow_seller_provider.client.transport import DEFAULT_MAX_CONCURRENCY
from airflow_seller_provider.client.validation import show
from airflow_seller_provider.ledger.table import DEFAULT_TABLE as DEFAULT_LEDGER_TABLE
from airflow_seller_provider.ledger.table import TABLE_PATTERN as LEDGER_TABLE_PATTERN
from airflow_seller_provider.short_stock.plan import (
    APPROVAL_TIMEOUT_MINUTES,
    FRACTION_MIN_ITEMS,
    MAX_CONNECTIONS,
    ON_BRAKE,
    REQUIRE_APPROVAL,
)
from airflow_seller_provider.short_stock.rule import STOCK_COUNTS
from airflow_seller_provider.short_stock.stock_correction import (
    CORRECT_LOWER,
    CORRECT_OFF,
    CORRECT_STOCK,
    MAX_STOCK_CORRECTIONS,
)

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
    """What is allowed, in words, for error messages and the docs' table."""
    safer: str | None = None
    """For a safety setting, which way a run may move it: ``lower`` (a smaller number),
    ``stricter`` (never -> on_brake -> always) or ``on`` (true, or false only where the
    author's is false), ``off`` (``"off"``, or on only where the author's is on) or
    ``subset`` (some of the author's list; any list where the author's is empty)."""

    @property
    def rule(self) -> str:
        """Who may change it, in words."""
        if self.kind == AUTHOR:
            return "the DAG's author"
        if self.safer is None:
            return "the author, and a run"
        return "the author; a run " + SAFER_WORDS[self.safer]

    def param(self, default: Any) -> Param:
        from airflow_seller_provider.compat import Param

        text = self.description
        if self.safer:
            text += f" A run {SAFER_WORDS[self.safer]} (the DAG's value: {json.dumps(default)})."
        return Param(default, description=text, **self.schema)


LOWER, STRICTER, ON, OFF, SUBSET = "lower", "stricter", "on", "off", "subset"
SAFER_WORDS = {
    SUBSET: "may only name some of the author's (any, where the author's list is empty)",
    LOWER: "may only lower it",
    STRICTER: "may only make it stricter (never -> on_brake -> always)",
    ON: "may turn it on, and off only where the author's is off",
    OFF: "may turn it off, and on only where the author's is on",
}


def _setting(
    name: str,
    default: Any,
    description: str,
    *,
    allowed: str,
    kind: str = RUN,
    safer: str | None = None,
    **schema: Any,
) -> Setting:
    return Setting(name, default, schema, description, kind, allowed, safer)


_SETTINGS: tuple[Setting, ...] = (
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
        safer=STRICTER,
        type="string",
        enum=list(REQUIRE_APPROVAL),
    ),
    _setting(
        "approval_timeout_minutes",
        APPROVAL_TIMEOUT_MINUTES,
        "No answer within this time cancels nothing and fails the run.",
        allowed="a number of minutes above 0, at most 10080 (7 days)",
        safer=LOWER,
        type="number",
        exclusiveMinimum=0,
        maximum=7 * 24 * 60,
    ),
    _setting(
        "approvers",
        [],
        "Airflow user ids who may answer the approval (Airflow's human-in-the-loop "
        "assigned_users: anyone else is refused). Empty: anyone who may act on the DAG. No "
        "effect on Airflow 2.11 (no approval there).",
        allowed="a list of Airflow user ids (non-blank text)",
        safer=SUBSET,
        type="array",
        items={"type": "string", "pattern": r"\S"},
        uniqueItems=True,
    ),
    _setting(
        "dry_run",
        False,
        "Report, cancel nothing.",
        allowed="true or false",
        safer=ON,
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
        "seller's find step start a page's item batches at once (docs/workflow.md).",
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
        safer=LOWER,
        type="integer",
        minimum=0,
    ),
    _setting(
        "max_cancel_fraction",
        0.5,
        "Safety brake: a larger share of a connection's pending items short holds its "
        "cancellations (checked from fraction_min_items short items on).",
        allowed="a number from 0 to 1",
        safer=LOWER,
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
        safer=LOWER,
        type="integer",
        minimum=0,
    ),
    _setting(
        "correct_stock",
        CORRECT_OFF,
        "lower: before canceling, lower Seller Center's stock (UpdateStock) wherever it "
        "declares more than the warehouse has, so the oversold units stop selling; never "
        "raises a figure. Needs a stock source other than seller_center.",
        allowed=", ".join(CORRECT_STOCK),
        safer=OFF,
        type="string",
        enum=list(CORRECT_STOCK),
    ),
    _setting(
        "max_stock_corrections",
        MAX_STOCK_CORRECTIONS,
        "Safety brake: more stock corrections than this on one connection holds them, with "
        "its cancellations (a feed of zeros must not empty the shop).",
        allowed="an integer of 0 or more",
        safer=LOWER,
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
    _setting(
        "notify_emails",
        [],
        "E-mail addresses told when an approval is requested, when a run cancels items, and "
        "when a run fails or an approval is refused or not given (Airflow's smtp provider).",
        allowed="a list of e-mail addresses",
        kind=AUTHOR,
        type="array",
        items={"type": "string", "pattern": r"^[^@\s]+@[^@\s]+$"},
        uniqueItems=True,
    ),
    _setting(
        "notify_smtp_conn_id",
        None,
        "The SMTP connection for notify_emails; empty: smtp_default.",
        allowed="null, or a connection id",
        kind=AUTHOR,
        type=["null", "string"],
    ),
    _setting(
        "notify_slack_conn_id",
        None,
        "A Slack incoming-webhook connection (Airflow's slack provider: "
        "airflow-seller-provider[slack]) told the same as notify_emails.",
        allowed="null, or a connection id",
        kind=AUTHOR,
        type=["null", "string"],
    ),
    _setting(
        "ledger_conn_id",
        None,
        "A database connection (any DbApiHook: SQLite, PostgreSQL, MySQL...) whose table "
        "ledger_table records every item a run decides to cancel and every stock change, "
        "written before anything is sent; empty: no ledger.",
        allowed="null, or a database connection id",
        kind=AUTHOR,
        type=["null", "string"],
    ),
    _setting(
        "ledger_table",
        DEFAULT_LEDGER_TABLE,
        "The ledger's table, created if missing (docs/ledger.md).",
        allowed="a plain table name ([schema.]table: letters, digits, _)",
        kind=AUTHOR,
        type="string",
        pattern=LEDGER_TABLE_PATTERN,
    ),
)
_WIDENABLE = [s.name for s in _SETTINGS]
_SETTINGS += (
    _setting(
        "run_may_change",
        [],
        "Settings a run's conf may change beyond the rules (an author setting, or a safety "
        "setting in the looser direction): for deployments that trust everyone who may "
        "trigger the DAG. docs/workflow.md, 'Security model', says what each gives away.",
        allowed="a list of setting names",
        kind=AUTHOR,
        type="array",
        items={"type": "string", "enum": _WIDENABLE},
        uniqueItems=True,
    ),
)

SETTINGS: Mapping[str, Setting] = {s.name: s for s in _SETTINGS}
"""Every setting by name, in the order the trigger form and the docs show them."""

DEFAULTS: Mapping[str, Any] = {s.name: s.default for s in _SETTINGS}


def show_value(value: Any) -> str:
    """A value for an error message, cut short."""
    return show(value, 80)


def check_value(name: str, value: Any) -> Any:
    """``value`` if the setting ``name`` allows it; raises SettingsError naming both."""
    setting = SETTINGS.get(name)
    if setting is None:
        raise SettingsError(
            f"unknown setting {name!r}; the settings are: {', '.join(SETTINGS)} (docs/settings.md)"
        )
    try:
        jsonschema.validate(value, dict(setting.schema))
    except jsonschema.ValidationError as exc:
        raise SettingsError(
            f"setting {name}={show_value(value)} is not allowed ({exc.message}): {name} takes "
            f"{setting.allowed}"
        ) from None
    return value


def check_settings(values: Mapping[str, Any], *, hitl_available: bool) -> dict[str, Any]:
    """Every setting, with ``values`` over the defaults, each checked on its own and
    together (the stock source and its connection and query; the connection list; the
    approval mode on this Airflow). Raises SettingsError naming the first bad one."""
    from airflow_seller_provider.short_stock.find import SELLER_CENTER
    from airflow_seller_provider.short_stock.plan import run_connections
    from airflow_seller_provider.short_stock.stock_sources import (
        StockSourceError,
        classify_stock_source,
    )

    for name, value in values.items():
        check_value(name, value)
    merged = {**DEFAULTS, **values}
    try:
        kind = classify_stock_source(
            merged["stock_source"] or None,
            stock_conn_id=merged["stock_conn_id"] or None,
            stock_sql=merged["stock_sql"] or None,
        )
        run_connections(merged, hitl_available=hitl_available)
    except (StockSourceError, ValueError) as exc:
        raise SettingsError(str(exc)) from None
    if merged["correct_stock"] == CORRECT_LOWER and kind == SELLER_CENTER:
        raise SettingsError(
            "correct_stock='lower' needs a stock source other than Seller Center: it sets "
            "Seller Center's stock to what the warehouse has, and with stock_source="
            "'seller_center' there is no warehouse figure to enforce. Set stock_source (sql, "
            "a CSV/JSON URI or a callable), or leave correct_stock 'off'."
        )
    return merged


DEPLOYMENT_SECTION, DEPLOYMENT_KEY = "seller_center", "short_stock_settings"
"""The deployment's own defaults for every short-stock group: a JSON object in Airflow's
config, ``[seller_center] short_stock_settings`` (or the environment variable
``AIRFLOW__SELLER_CENTER__SHORT_STOCK_SETTINGS``). Only whoever runs the deployment sets it;
a group's arguments override it."""


def deployment_settings() -> dict[str, Any]:
    """The deployment's defaults (``DEPLOYMENT_SECTION``), checked one by one."""
    from airflow_seller_provider.compat import conf

    option = f"[{DEPLOYMENT_SECTION}] {DEPLOYMENT_KEY}"
    text = conf.get(DEPLOYMENT_SECTION, DEPLOYMENT_KEY, fallback="") or ""
    if not text.strip():
        return {}
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"Airflow config {option} is not JSON ({exc.msg}, character {exc.pos}); give "
            'an object such as {"stock_source": "sql", "stock_conn_id": "warehouse"}'
        ) from None
    if not isinstance(values, dict):
        raise SettingsError(
            f"Airflow config {option} is a JSON {type(values).__name__}; give an object of settings"
        )
    try:
        for name, value in values.items():
            check_value(name, value)
    except SettingsError as exc:
        raise SettingsError(f"Airflow config {option}: {exc}") from None
    return values


def author_settings(settings: Mapping[str, Any], *, hitl_available: bool) -> dict[str, Any]:
    """What the DAG's author fixed: the defaults, then the deployment's
    (``deployment_settings``), then ``settings`` (a group's arguments), checked."""
    return check_settings({**deployment_settings(), **settings}, hitl_available=hitl_available)


def run_changeable(author: Mapping[str, Any]) -> list[str]:
    """The settings a run may change (some only in the safer direction), in form order."""
    widened = set(author.get("run_may_change") or ())
    return [n for n, s in SETTINGS.items() if s.kind == RUN or n in widened]


def short_stock_params(**settings: Any) -> dict[str, Param]:
    """The trigger form's params: one per setting a run may change, its default the
    author's value (``settings`` over the deployment's and the settings' own defaults). A
    DAG's ``params=short_stock_params(**same)`` beside ``short_stock_cancellation(**same)``
    shows what its group runs with; ``fixed_settings_note`` says what a run cannot change."""
    from airflow_seller_provider.compat import HITL_AVAILABLE

    author = author_settings(settings, hitl_available=HITL_AVAILABLE)
    return {name: SETTINGS[name].param(author[name]) for name in run_changeable(author)}


def fixed_settings_note(**settings: Any) -> str:
    """Markdown: the author's settings a run cannot change, with their values (for a DAG's
    doc, shown beside its trigger form)."""
    from airflow_seller_provider.compat import HITL_AVAILABLE

    author = author_settings(settings, hitl_available=HITL_AVAILABLE)
    changeable = set(run_changeable(author))
    lines = [
        f"- `{name}`: `{json.dumps(author[name])}`" for name in SETTINGS if name not in changeable
    ]
    return "**Fixed by the DAG's author** (a run's conf cannot change them):\n\n" + "\n".join(lines)


def settings_table() -> str:
    """The table of the settings: the docs build writes it into docs/settings.md and
    docs/workflow.md (docs/_ext/generated_pages.py), so it cannot drift."""
    rows = [
        "| setting | default | who may change it | allowed | what it does |",
        "|---|---|---|---|---|",
    ]
    for s in SETTINGS.values():
        default = "empty" if s.default is None else f"`{json.dumps(s.default)}`"
        text = s.description.replace("|", "\\|")
        rows.append(f"| `{s.name}` | {default} | {s.rule} | {s.allowed} | {text} |")
    return "\n".join(rows)
