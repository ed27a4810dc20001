"""Stock sources other than Seller Center: a SQL query, a CSV/JSON file, a Python callable.

Every source yields ``{(business_unit, sku): units}``. ``business_unit`` is ``FACL``, ``FACO``
or ``FAPE`` (upper case), or ``None`` for a figure that applies to every unit; which figure
wins for an order is the caller's business. Parsing is strict on purpose: these figures
decide which customers' orders get canceled, so a row that could be read two ways (a
fractional or negative quantity, an unknown business unit, the same SKU twice) stops the
run with an error naming the source, the row and the field, before anything is canceled.

Airflow names (``BaseHook``, ``ObjectStoragePath``) come only through ``compat``.
"""

from __future__ import annotations

import csv
import importlib
import inspect
import io
import json
import math
import numbers
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from airflow_seller_provider.client.protocol import BUSINESS_UNITS, blank
from airflow_seller_provider.client.validation import show
from airflow_seller_provider.compat import ObjectStoragePath
from airflow_seller_provider.database import NotADatabase, database_hook

__all__ = [
    "StockKey",
    "StockSourceError",
    "check_read_only_sql",
    "classify_stock_source",
    "load_stock_callable",
    "parse_stock_rows",
    "read_callable_stock",
    "read_file_stock",
    "read_sql_stock",
    "read_stock_source",
]

StockKey = tuple[str | None, str]
"""(business unit upper case, or None = every unit; SKU)."""

StockSourceKind = Literal["seller_center", "sql", "file", "callable"]

FILE_SUFFIXES = (".csv", ".json")
_FIELDS = ("sku", "units", "business_unit")
_DIGITS = re.compile(r"[0-9]+")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_CALLABLE_PATH = re.compile(rf"{_IDENT}(\.{_IDENT})*:{_IDENT}(\.{_IDENT})*")
_ACCEPTED_FORMS = (
    "'seller_center' (or empty: the default), 'sql' (with stock_conn_id and stock_sql), "
    "a file URI ending in .csv or .json (file:///data/stock.csv, s3://bucket/stock.json), "
    "or a callable 'package.module:name'"
)
_NOTHING_CANCELED = "nothing was canceled"


class StockSourceError(ValueError):
    """A stock source is misconfigured or gave a row that cannot be trusted."""


def _shorten(value: Any) -> str:
    return show(value, 80)


def _fail(source: str, detail: str) -> StockSourceError:
    return StockSourceError(f"stock source {source}: {detail}; {_NOTHING_CANCELED}")


# ----------------------------------------------------------------------------- rows


def _row_error(source: str, where: str, row: Any, detail: str) -> StockSourceError:
    """A bad row, named by its place (``line 4``, ``row 2``, ``item 3``): never by its
    contents, which whoever reads the task log may not be entitled to read."""
    return _fail(source, f"{where}: {detail}")


def _kind(value: Any) -> str:
    """What a bad value is, without showing it."""
    if value is None:
        return "empty"
    if isinstance(value, str):
        return "text" if value.strip() else "blank text"
    return f"a {type(value).__name__}"


def _split_row(row: Any, source: str, where: str) -> tuple[Any, Any, Any]:
    """(sku, units, business_unit) of a sequence or mapping row, unconverted."""
    if isinstance(row, Mapping):
        fields: dict[str, Any] = {}
        for key, value in row.items():
            name = key.strip().lower() if isinstance(key, str) else key
            if name not in _FIELDS:
                raise _row_error(
                    source,
                    where,
                    row,
                    "has a field other than sku, units and business_unit (rename or drop it)",
                )
            if name in fields:
                raise _row_error(
                    source, where, row, f"field {name} is given twice"
                )  # an expected name
            fields[name] = value
        missing = [name for name in ("sku", "units") if name not in fields]
        if missing:
            raise _row_error(
                source,
                where,
                row,
                f"missing field {' and '.join(missing)}; every row needs sku and units "
                "(business_unit is optional)",
            )
        return fields["sku"], fields["units"], fields.get("business_unit")
    if isinstance(row, str | bytes) or not isinstance(row, Iterable):
        raise _row_error(
            source,
            where,
            row,
            f"a row must be (sku, units), (sku, units, business_unit) or a mapping with "
            f"those keys, not a {type(row).__name__}",
        )
    values = tuple(row)
    if len(values) not in (2, 3):
        raise _row_error(
            source,
            where,
            row,
            f"has {len(values)} columns; give exactly sku, units and optionally "
            "business_unit, in that order",
        )
    return values[0], values[1], values[2] if len(values) == 3 else None


def _parse_sku(value: Any, source: str, where: str, row: Any) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    hint = (
        "cast it to text in the source (e.g. CAST(sku AS TEXT)), keeping any leading zeros"
        if isinstance(value, numbers.Number)
        else "give the seller SKU as text"
    )
    raise _row_error(
        source, where, row, f"field sku ({_kind(value)}) must be a non-empty string; {hint}"
    )


def _parse_units(value: Any, source: str, where: str, row: Any) -> int:
    units: int | None = None
    if isinstance(value, bool):
        units = None  # True is not a quantity
    elif isinstance(value, numbers.Integral):
        units = int(value)
    elif isinstance(value, str):
        text = value.strip()
        units = int(text) if _DIGITS.fullmatch(text) else None
    elif isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            units = int(value)
    elif isinstance(value, numbers.Real):
        number = float(value)
        if math.isfinite(number) and number.is_integer():
            units = int(number)
    if units is None or units < 0:
        raise _row_error(
            source,
            where,
            row,
            f"field units ({_kind(value)}) is not a whole number >= 0 (such as 12); "
            "fix that row in the source",
        )
    return units


def _parse_business_unit(value: Any, source: str, where: str, row: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().upper() in BUSINESS_UNITS:
        return value.strip().upper()
    raise _row_error(
        source,
        where,
        row,
        f"field business_unit ({_kind(value)}) must be one of FACL, FACO, FAPE (any case), "
        "or empty for a figure that applies to every business unit",
    )


def _parse_numbered(numbered: Iterable[tuple[str, Any]], source: str) -> dict[StockKey, int]:
    """Parse ``(where, row)`` pairs; ``where`` ("row 3", "line 4") names the row in errors."""
    stock: dict[StockKey, int] = {}
    first_seen: dict[StockKey, str] = {}
    for where, row in numbered:
        sku_value, units_value, unit_value = _split_row(row, source, where)
        sku = _parse_sku(sku_value, source, where, row)
        units = _parse_units(units_value, source, where, row)
        unit = _parse_business_unit(unit_value, source, where, row)
        key = (unit, sku)
        if key in stock:
            scope = f"business unit {unit}" if unit else "every business unit"
            raise _row_error(
                source,
                where,
                row,
                f"its SKU for {scope} was already given in {first_seen[key]}; which "
                "figure holds is ambiguous: keep one row per SKU and business unit",
            )
        stock[key] = units
        first_seen[key] = where
    return stock


def parse_stock_rows(rows: Iterable[Any], *, source: str) -> dict[StockKey, int]:
    """Rows ``(sku, units[, business_unit])`` or mappings of those keys -> stock.

    Raises StockSourceError at the first bad row (1-based number in the message).
    """
    return _parse_numbered(((f"row {n}", row) for n, row in enumerate(rows, start=1)), source)


# ----------------------------------------------------------------------------- SQL


def _require_text(value: Any, name: str, source: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(source, f"{name} {_shorten(value)} must be a non-empty string: {what}")
    return value.strip()


def read_sql_stock(conn_id: str, sql: str) -> dict[StockKey, int]:
    """Run ``sql`` on an Airflow database connection; columns sku, units[, business_unit].

    Errors while the query runs (database down, bad SQL) propagate unchanged so the task's
    retries apply; a connection that is not a database one is a StockSourceError.
    """
    conn_id = _require_text(conn_id, "stock_conn_id", "sql", "the id of an Airflow connection")
    source = f"sql {conn_id}"
    sql = _require_text(sql, "stock_sql", source, "a query returning sku, units[, business_unit]")
    sql = check_read_only_sql(sql)  # before the connection is even looked up
    try:
        hook, conn_type = database_hook(conn_id)
    except NotADatabase as exc:
        raise _fail(source, f"{exc}; set stock_conn_id to a database connection") from exc
    records = _read_only_records(hook, conn_type, sql)
    return parse_stock_rows(records or [], source=source)


_WRITES = frozenset(
    {
        "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "REPLACE", "DROP", "CREATE",
        "ALTER", "TRUNCATE", "RENAME", "INTO", "GRANT", "REVOKE", "COPY", "CALL", "EXEC",
        "EXECUTE", "LOCK", "ATTACH", "DETACH", "PRAGMA", "VACUUM",
    }
)  # fmt: skip
"""Keywords that write, lock or reach outside the query, wherever they stand (a ``WITH``
may hold a ``DELETE``; ``SELECT ... INTO`` creates a table)."""

READ_ONLY_GUARDS = {
    "sqlite": "PRAGMA query_only = ON",
    "postgres": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "mysql": "SET SESSION TRANSACTION READ ONLY",
}
"""Per connection type, the statement that makes the session read-only before the query
runs: defence in depth behind ``check_read_only_sql`` (other databases run the checked
query as it is)."""


def check_read_only_sql(sql: Any) -> str:
    """``sql`` if it is one ``SELECT`` (or ``WITH ... SELECT``) that writes nothing; else a
    StockSourceError saying what it found. Split and typed with sqlparse, the library
    Airflow's common.sql provider splits statements with."""
    import sqlparse
    from sqlparse import tokens

    text = _require_text(sql, "stock_sql", "sql", "a query returning sku, units[, business_unit]")
    statements = [s for s in sqlparse.split(text) if s.strip().rstrip(";").strip()]
    if len(statements) != 1:
        raise _fail(
            "sql",
            f"stock_sql holds {len(statements)} statements; give exactly one SELECT (or "
            "WITH ... SELECT) returning sku, units[, business_unit]",
        )
    parsed = sqlparse.parse(statements[0])[0]
    kind = parsed.get_type()
    if kind != "SELECT":
        raise _fail(
            "sql",
            f"stock_sql is a{'n' if kind[:1] in 'AEIOU' else ''} {kind} statement; a stock "
            "query only reads: give one SELECT (or WITH ... SELECT)",
        )
    writes = sorted({t.normalized for t in parsed.flatten() if t.ttype in tokens.Keyword} & _WRITES)
    if writes:
        raise _fail(
            "sql",
            f"stock_sql uses {', '.join(writes)}, which write or lock; a stock query only "
            "reads: give one SELECT (or WITH ... SELECT) without them",
        )
    return statements[0]


def _read_only_records(hook: Any, conn_type: str, sql: str) -> list[Any]:
    """The rows of ``sql`` on a connection of its own, made read-only first where the
    database has a way (``READ_ONLY_GUARDS``); the connection is rolled back and closed."""
    conn = hook.get_conn()
    try:
        cursor = conn.cursor()
        try:
            guard = READ_ONLY_GUARDS.get(conn_type.lower())
            if guard:
                cursor.execute(guard)
            cursor.execute(sql)
            return list(cursor.fetchall())
        finally:
            cursor.close()
    finally:
        with suppress(Exception):  # nothing to undo; some drivers refuse without a transaction
            conn.rollback()
        conn.close()


# ----------------------------------------------------------------------------- files


def _safe_uri(uri: str) -> str:
    """The URI without a password, fit for an error message."""
    try:
        parts = urlsplit(uri)
        if parts.password is None:
            return uri
        netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparsable URI>"


def _file_suffix(uri: str) -> str:
    path = urlsplit(uri).path
    name = path.rsplit("/", 1)[-1]
    return name[name.rfind(".") :].lower() if "." in name else ""


def _check_file_uri(uri: Any) -> str:
    uri = _require_text(uri, "stock_source", "file", "a file URI ending in .csv or .json")
    if "://" not in uri:
        raise _fail(
            f"file {_safe_uri(uri)}",
            "a file source is a URI with a scheme (file:///data/stock.csv, s3://bucket/stock.json)",
        )
    suffix = _file_suffix(uri)
    if suffix not in FILE_SUFFIXES:
        raise _fail(
            f"file {_safe_uri(uri)}",
            f"the file name ends in {suffix or 'no suffix'!r}; name it .csv (header "
            "sku,units[,business_unit]) or .json (a list of objects with sku, units and "
            "optionally business_unit)",
        )
    return uri


def _csv_rows(text: str, source: str) -> Iterator[tuple[str, Any]]:
    """``("line N", {field: value})`` per data row; N is the row's first line in the file."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    last_line = 0
    for record in reader:
        line = last_line + 1
        last_line = reader.line_num
        if not any(field.strip() for field in record):
            continue  # a blank line, or a spreadsheet's trailing ",,"
        if header is None:
            header = [field.strip().lower() for field in record]
            if len(set(header)) != len(header) or set(header) not in (
                {"sku", "units"},
                {"sku", "units", "business_unit"},
            ):
                hint = " (separate columns with commas, not semicolons)" if ";" in text else ""
                raise _fail(
                    source,
                    f"line {line}: the header ({len(record)} column(s)) must name the "
                    f"columns sku,units or sku,units,business_unit, in any order, each "
                    f"once{hint}",
                )
            continue
        if len(record) != len(header):
            raise _fail(
                source,
                f"line {line}: has {len(record)} fields but the header has {len(header)} "
                f"({','.join(header)}); fix the row's commas or quoting",
            )
        yield f"line {line}", dict(zip(header, record, strict=True))
    if header is None:
        raise _fail(source, "the file is empty; it needs the header sku,units[,business_unit]")


def _json_rows(text: str, source: str) -> Iterator[tuple[str, Any]]:
    try:
        # Decimal keeps 3.0000000000000001 from passing as 3.
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise _fail(
            source, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(data, list):
        raise _fail(
            source,
            f"the JSON document is a {type(data).__name__}; it must be a list of objects "
            'like {"sku": "ABC-1", "units": 3, "business_unit": "FACL"}',
        )
    for n, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise _row_error(
                source,
                f"item {n}",
                item,
                "each item must be an object with sku, units and optionally business_unit",
            )
        yield f"item {n}", item


def read_file_stock(uri: str) -> dict[StockKey, int]:
    """Read a .csv or .json stock file at any ObjectStoragePath URI (file://, s3://...).

    CSV: UTF-8 (a BOM is fine), header ``sku,units[,business_unit]`` in any order and case;
    blank lines skipped; errors name the file line. JSON: a list of objects.
    """
    uri = _check_file_uri(uri)
    source = f"file {_safe_uri(uri)}"
    try:
        data = ObjectStoragePath(uri).read_bytes()
    except FileNotFoundError:
        raise _fail(source, "no file at that URI; check the path and bucket") from None
    except IsADirectoryError:
        raise _fail(source, "that URI is a directory; point it at the file") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(
            source, f"not UTF-8 (byte {exc.start}); save the file as UTF-8 and upload it again"
        ) from None
    rows = _csv_rows(text, source) if _file_suffix(uri) == ".csv" else _json_rows(text, source)
    return _parse_numbered(rows, source)


# ----------------------------------------------------------------------------- callables


def _takes_one_argument(target: Callable[..., Any]) -> bool:
    """Whether ``target(skus)`` is a valid call (else it may be a zero-arg factory)."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return True  # builtins and C callables: assume the documented skus -> stock form
    try:
        signature.bind(["SKU"])
    except TypeError:
        return False
    return True


def _check_callable_path(path: Any) -> str:
    path = _require_text(path, "stock_source", "callable", "'package.module:callable'")
    if not _CALLABLE_PATH.fullmatch(path):
        raise _fail(
            f"callable {path}",
            "a callable source must look like 'package.module:callable' (dotted module, "
            "a colon, then the name)",
        )
    return path


def load_stock_callable(path: str) -> Callable[[list[str]], Any]:
    """Import ``"package.module:name"`` and return its ``skus -> stock`` function.

    ``name`` may be a callable taking the SKU list, an object with ``get_stock(skus)``, or a
    class or zero-argument factory returning either of those.
    """
    path = _check_callable_path(path)
    source = f"callable {path}"
    module_name, _, attr_path = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the module raises on import
        raise _fail(
            source, f"cannot import module {module_name!r} ({type(exc).__name__}: {exc})"
        ) from exc
    for attr in attr_path.split("."):
        try:
            target = getattr(target, attr)
        except AttributeError:
            raise _fail(
                source, f"{module_name!r} has no attribute {attr_path!r}; check the name"
            ) from None
    if isinstance(target, type) or (
        callable(target) and not hasattr(target, "get_stock") and not _takes_one_argument(target)
    ):
        try:
            target = target()
        except Exception as exc:
            raise _fail(source, f"calling {attr_path} with no arguments failed ({exc!r})") from exc
    get_stock = getattr(target, "get_stock", None)
    if callable(get_stock):
        return get_stock
    if callable(target) and _takes_one_argument(target):
        return target
    raise _fail(
        source,
        f"{attr_path} gives a {type(target).__name__}, which is neither a function of the "
        "SKU list nor an object with get_stock(skus)",
    )


def read_callable_stock(path: str, skus: Sequence[str]) -> dict[StockKey, int]:
    """Call the source at ``path`` with the sorted SKUs; ``{sku: units}`` applies to every
    business unit, an iterable of rows is read as ``parse_stock_rows``."""
    fetch = load_stock_callable(path)
    source = f"callable {path.strip()}"
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    answer = fetch(wanted)
    if isinstance(answer, Mapping):
        return parse_stock_rows(answer.items(), source=source)
    if answer is None or isinstance(answer, str | bytes) or not isinstance(answer, Iterable):
        raise _fail(
            source,
            f"returned a {type(answer).__name__}; return {{sku: units}} or rows "
            "(sku, units[, business_unit])",
        )
    return parse_stock_rows(answer, source=source)


# ----------------------------------------------------------------------------- dispatch


def classify_stock_source(
    spec: str | None, *, stock_conn_id: str | None, stock_sql: str | None
) -> StockSourceKind:
    """Which kind of source ``spec`` names, checked before any request is made.

    ``stock_conn_id``/``stock_sql`` given with a source other than ``sql`` is an error:
    silently reading Seller Center's sellable stock instead of the warehouse's on-hand figure
    would change what counts as short.
    """
    if spec is not None and not isinstance(spec, str):
        raise _fail(f"{_shorten(spec)}", f"stock_source must be text: {_ACCEPTED_FORMS}")
    text = (spec or "").strip()
    kind: StockSourceKind
    if text in ("", "seller_center"):
        kind = "seller_center"
    elif text == "sql":
        missing = [
            name
            for name, value in (("stock_conn_id", stock_conn_id), ("stock_sql", stock_sql))
            if blank(value)
        ]
        if missing:
            raise _fail(
                "sql",
                f"set {' and '.join(missing)}: stock_conn_id names an Airflow database "
                "connection, stock_sql a query returning sku, units[, business_unit]",
            )
        for name, value in (("stock_conn_id", stock_conn_id), ("stock_sql", stock_sql)):
            if not isinstance(value, str):
                raise _fail("sql", f"{name} must be text, not {type(value).__name__}")
        check_read_only_sql(stock_sql)
        return "sql"
    elif "://" in text:
        _check_file_uri(text)
        kind = "file"
    elif ":" in text:
        _check_callable_path(text)
        kind = "callable"
    else:
        raise _fail(_shorten(text), f"unknown stock_source; use {_ACCEPTED_FORMS}")
    extra = [
        name
        for name, value in (("stock_conn_id", stock_conn_id), ("stock_sql", stock_sql))
        if not blank(value)
    ]
    if extra:
        raise _fail(
            kind if kind != "file" else f"file {_safe_uri(text)}",
            f"{' and '.join(extra)} only apply with stock_source='sql'; set "
            "stock_source='sql' or clear them",
        )
    return kind


def read_stock_source(
    spec: str | None,
    *,
    skus: Sequence[str],
    stock_conn_id: str | None = None,
    stock_sql: str | None = None,
) -> dict[StockKey, int]:
    """Read the SQL, file or callable source ``spec`` names (Seller Center is the hook's)."""
    kind = classify_stock_source(spec, stock_conn_id=stock_conn_id, stock_sql=stock_sql)
    if kind == "sql":
        return read_sql_stock(stock_conn_id or "", stock_sql or "")
    if kind == "file":
        return read_file_stock((spec or "").strip())
    if kind == "callable":
        return read_callable_stock((spec or "").strip(), skus)
    raise _fail(
        "seller_center",
        "read_stock_source reads only the sql, file and callable sources; Seller Center "
        "stock is read through the Seller Center hook",
    )
