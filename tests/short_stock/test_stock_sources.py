"""The SQL, file and callable stock sources: every parse rule, and each source for real
(a SQLite warehouse through an Airflow ``sqlite`` connection, files through
ObjectStoragePath ``file://``, callables imported by path)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_seller_provider import database
from airflow_seller_provider.short_stock import stock_sources
from airflow_seller_provider.short_stock.stock_sources import (
    StockSourceError,
    check_read_only_sql,
    classify_stock_source,
    load_stock_callable,
    parse_stock_rows,
    read_callable_stock,
    read_file_stock,
    read_sql_stock,
    read_stock_source,
)

# "tests.short_stock.test_stock_sources": the callables below are imported by this path
HERE = __name__


def parse(*rows: Any) -> dict:
    return parse_stock_rows(rows, source="test")


def parse_error(*rows: Any) -> str:
    with pytest.raises(StockSourceError) as info:
        parse(*rows)
    return str(info.value)


# ----------------------------------------------------------------------------- rows


def test_sequences_and_mappings() -> None:
    assert parse(
        ("A-1", 3),
        ["B-2", 0, "FACL"],
        {"sku": "C-3", "units": 7},
        {"SKU ": "D-4", " Units": 1, "Business_Unit": "fape"},
    ) == {(None, "A-1"): 3, ("FACL", "B-2"): 0, (None, "C-3"): 7, ("FAPE", "D-4"): 1}


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        (12, 12),
        (0, 0),
        ("12", 12),
        (" 12 ", 12),
        ("007", 7),
        (4.0, 4),
        (-0.0, 0),
        (Decimal("3"), 3),  # what SQL NUMERIC columns give
        (Decimal("3.00"), 3),
        (10**15, 10**15),
    ],
)
def test_units_accepted(units: Any, expected: int) -> None:
    assert parse(("SKU", units)) == {(None, "SKU"): expected}


@pytest.mark.parametrize(
    "units",
    [True, False, None, "", "  ", -1, "-1", 3.5, "3.5", "12.0", "abc", "+3", "1e3", "١٢",
     Decimal("3.5"), Decimal("-2"), Decimal("NaN"), float("nan"), float("inf"), [3]],
)  # fmt: skip
def test_units_rejected(units: Any) -> None:
    message = parse_error(("ok", 1), ("SKU-9", units))
    assert message.startswith("stock source test: row 2: field units (")
    assert "is not a whole number >= 0" in message
    assert message.endswith("nothing was canceled")
    assert "SKU-9" not in message  # the row's contents never reach the log
    if units not in (None, True, False, [3]) and str(units).strip():
        assert repr(units) not in message and f" {str(units).strip()} " not in message


def test_sku_whitespace_inner_spaces_and_non_ascii() -> None:
    assert parse(("  CAMISA AZUL M  ", 1), ("Ñandú-ç", 2), ("\tX\n", 3)) == {
        (None, "CAMISA AZUL M"): 1,
        (None, "Ñandú-ç"): 2,
        (None, "X"): 3,
    }


@pytest.mark.parametrize("sku", ["", "   ", None, 12345, b"ABC"])
def test_sku_rejected(sku: Any) -> None:
    message = parse_error((sku, 1))
    assert "row 1: field sku (" in message and "must be a non-empty string" in message
    if sku not in (None, ""):
        assert repr(sku) not in message


def test_numeric_sku_hint_keeps_leading_zeros() -> None:
    assert "CAST(sku AS TEXT)" in parse_error((12345, 1))


@pytest.mark.parametrize(
    ("unit", "expected"),
    [(None, None), ("", None), ("  ", None), ("FACL", "FACL"), ("facl", "FACL"),
     ("FaCo", "FACO"), (" fape ", "FAPE")],
)  # fmt: skip
def test_business_units(unit: Any, expected: str | None) -> None:
    assert parse(("SKU", 1, unit)) == {(expected, "SKU"): 1}


@pytest.mark.parametrize("unit", ["FAAR", "CL", "facl ,faco", 5, True])
def test_business_unit_rejected(unit: Any) -> None:
    message = parse_error(("SKU-7", 1, unit))
    assert "field business_unit (" in message and "FACL, FACO, FAPE" in message
    assert repr(unit) not in message and "SKU-7" not in message


@pytest.mark.parametrize(
    ("row", "detail"),
    [
        (("only-sku",), "has 1 columns"),
        (("a", 1, "FACL", "extra"), "has 4 columns"),
        ((), "has 0 columns"),
        ("A-1,3", "not a str"),
        (7, "not a int"),
        (None, "not a NoneType"),
        ({"sku": "A"}, "missing field units"),
        ({"units": 1}, "missing field sku"),
        ({}, "missing field sku and units"),
        ({"sku": "A", "units": 1, "qty": 2}, "a field other than sku, units and business_unit"),
        ({"sku": "A", "units": 1, "busines_unit": "F"}, "other than sku, units and business_unit"),
        ({"sku": "A", "SKU": "B", "units": 1}, "field sku is given twice"),
    ],
)
def test_bad_row_shapes(row: Any, detail: str) -> None:
    message = parse_error(("fine", 1), row)
    assert "row 2" in message
    assert detail in message


def test_duplicates_are_ambiguous() -> None:
    message = parse_error(("A", 1), ("B", 2), (" A ", 5))
    assert "row 3" in message and "already given in row 1" in message
    assert "every business unit" in message
    message = parse_error(("A", 1, "facl"), ("A", 2, "FACL"))
    assert "business unit FACL" in message and "row 1" in message


def test_unit_specific_and_general_rows_coexist() -> None:
    assert parse(("A", 5), ("A", 2, "FACL"), ("A", 0, "FACO")) == {
        (None, "A"): 5,
        ("FACL", "A"): 2,
        ("FACO", "A"): 0,
    }


def test_the_first_bad_row_raises_and_shows_none_of_its_contents() -> None:
    message = parse_error(("A", 1), ("B" * 500, -1), ("C", "x"))
    assert "row 2" in message and "row 3" not in message
    assert "BB" not in message and "-1" not in message


def test_empty_input() -> None:
    assert parse_stock_rows([], source="test") == {}
    assert parse_stock_rows(iter([("A", 1)]), source="test") == {(None, "A"): 1}


# ----------------------------------------------------------------------------- files


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path.as_uri()


def file_error(uri: str) -> str:
    with pytest.raises(StockSourceError) as info:
        read_file_stock(uri)
    return str(info.value)


def test_csv_through_object_storage(tmp_path: Path) -> None:
    uri = write(
        tmp_path,
        "stock.csv",
        "sku,units,business_unit\r\nA-1,3,\r\nA-1,1,facl\r\n\r\n"
        '"CAMISA, AZUL",0,FACO\r\nÑandú ,  12 ,fape\r\n',
    )
    assert uri.startswith("file:///")
    assert read_file_stock(uri) == {
        (None, "A-1"): 3,
        ("FACL", "A-1"): 1,
        ("FACO", "CAMISA, AZUL"): 0,
        ("FAPE", "Ñandú"): 12,
    }


def test_csv_bom_header_case_and_column_order(tmp_path: Path) -> None:
    uri = write(tmp_path, "stock.CSV", b"\xef\xbb\xbf Units ,BUSINESS_UNIT, Sku\n2,,X\n5,FACL,Y\n")
    assert read_file_stock(uri) == {(None, "X"): 2, ("FACL", "Y"): 5}
    uri = write(tmp_path, "two.csv", "units,sku\n\n  \n7,Z\n,,\n")
    assert read_file_stock(uri) == {(None, "Z"): 7}


def test_csv_errors_name_the_file_line(tmp_path: Path) -> None:
    uri = write(tmp_path, "stock.csv", "sku,units\n\nA,1\n\nB,-2\n")
    message = file_error(uri)
    assert message.startswith(f"stock source file {uri}: line 5: field units (text)")
    assert ",-2" not in message and "'-2'" not in message
    # A quoted field spanning two lines: the next row is numbered by its own first line.
    uri = write(tmp_path, "multi.csv", 'sku,units\n"A\nB",1\nC,x\n')
    assert "line 4" in file_error(uri)


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ("sku,qty\nA,1\n", "line 1: the header (2 column(s)) must name the columns"),
        ("sku,units,units\nA,1,2\n", "must name the columns"),
        ("sku,units,business_unit,price\nA,1,,3\n", "must name the columns"),
        ("sku;units\nA;1\n", "not semicolons"),
        ("sku,units\nA,1,FACL\n", "line 2: has 3 fields but the header has 2 (sku,units)"),
        ("sku,units\nA\n", "has 1 fields"),
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        ("sku,units\nA,1\nA,2\n", "already given in line 2"),
        ("sku,units,business_unit\nA,1,CL\n", "line 2: field business_unit (text) must be"),
    ],
)
def test_csv_content_errors(tmp_path: Path, content: str, detail: str) -> None:
    message = file_error(write(tmp_path, "stock.csv", content))
    assert detail in message
    assert message.endswith("nothing was canceled")


def test_csv_not_utf8(tmp_path: Path) -> None:
    uri = write(tmp_path, "stock.csv", "sku,units\nÑandú,1\n".encode("latin-1"))
    assert "not UTF-8" in file_error(uri)


def test_json_through_object_storage(tmp_path: Path) -> None:
    rows = [
        {"sku": "A-1", "units": 3},
        {"sku": "A-1", "units": "4", "business_unit": "faco"},
        {"sku": "B", "units": 2.0, "business_unit": None},
    ]
    uri = write(tmp_path, "stock.json", json.dumps(rows))
    assert read_file_stock(uri) == {(None, "A-1"): 3, ("FACO", "A-1"): 4, (None, "B"): 2}
    # With a BOM too.
    uri = write(tmp_path, "bom.json", b"\xef\xbb\xbf" + json.dumps(rows[:1]).encode())
    assert read_file_stock(uri) == {(None, "A-1"): 3}


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ('{"sku": "A", "units": 1}', "the JSON document is a dict; it must be a list"),
        ('[{"sku": "A", "units": 1},', "not valid JSON (line 1"),
        ('[["A", 1]]', "item 1: each item must be an object"),
        ('[{"sku": "A", "units": 1}, {"sku": "B", "units": 3.5}]', "item 2"),
        ('[{"sku": "A", "units": 3.0000000000000001}]', "item 1: field units (a Decimal)"),
        (
            '[{"sku": "A", "units": 1, "warehouse": "x"}]',
            "item 1: has a field other than sku, units",
        ),
    ],
)
def test_json_errors(tmp_path: Path, content: str, detail: str) -> None:
    assert detail in file_error(write(tmp_path, "stock.json", content))


def test_missing_file_and_bad_uris(tmp_path: Path) -> None:
    uri = (tmp_path / "nope.csv").as_uri()
    message = file_error(uri)
    assert uri in message and "no file at that URI" in message
    (tmp_path / "folder.csv").mkdir()
    assert "is a directory" in file_error((tmp_path / "folder.csv").as_uri())
    for bad in (write(tmp_path, "stock.xlsx", "x"), write(tmp_path, "stock", "x")):
        message = file_error(bad)
        assert ".csv" in message and ".json" in message
    assert "URI with a scheme" in file_error(str(tmp_path / "stock.csv"))
    assert "non-empty string" in file_error("")


def test_uri_passwords_stay_out_of_messages() -> None:
    message = file_error("s3://key:hunter2secret@bucket/stock.xlsx")
    assert "hunter2secret" not in message and "***" in message


# ----------------------------------------------------------------------------- SQL


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A SQLite warehouse file behind a real Airflow ``sqlite`` connection, warehouse_db.

    The sqlite provider (4.3.x on both Airflow lines) opens the connection's host as the
    database path (get_uri -> sqlite:///<host> -> sqlite3 "file:<host>").
    """
    path = tmp_path / "my warehouse" / "stock.db"
    path.parent.mkdir()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE warehouse_stock (sku TEXT, units NUMERIC, business_unit TEXT)")
        db.executemany(
            "INSERT INTO warehouse_stock VALUES (?, ?, ?)",
            [
                ("A-1", 3, None),
                ("A-1", 1, "facl"),
                ("CAMISA AZUL", 0, "FACO"),
                ("Ñandú", 12.0, " fape "),
                ("B-2", 5, ""),
            ],
        )
    db.close()
    monkeypatch.setenv(
        "AIRFLOW_CONN_WAREHOUSE_DB", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )
    return path


def test_sql_through_a_real_sqlite_connection(warehouse: Path) -> None:
    stock = read_sql_stock(
        "warehouse_db", "SELECT sku, units, business_unit FROM warehouse_stock ORDER BY rowid"
    )
    assert stock == {
        (None, "A-1"): 3,
        ("FACL", "A-1"): 1,
        ("FACO", "CAMISA AZUL"): 0,
        ("FAPE", "Ñandú"): 12,
        (None, "B-2"): 5,
    }
    two_columns = read_sql_stock("warehouse_db", "SELECT sku, units FROM warehouse_stock LIMIT 1")
    assert two_columns == {(None, "A-1"): 3}
    assert read_sql_stock("warehouse_db", "SELECT sku, units FROM warehouse_stock WHERE 0") == {}


def test_sql_bad_rows_name_the_connection(warehouse: Path) -> None:
    with sqlite3.connect(warehouse) as db:
        db.execute("INSERT INTO warehouse_stock VALUES ('C', 2.5, NULL)")
    db.close()
    with pytest.raises(
        StockSourceError, match=r"^stock source sql warehouse_db: row 6: field units \(a float\)"
    ):
        read_sql_stock("warehouse_db", "SELECT * FROM warehouse_stock ORDER BY rowid")
    with pytest.raises(StockSourceError, match="row 1: has 1 columns"):
        read_sql_stock("warehouse_db", "SELECT sku FROM warehouse_stock")


def test_sql_query_errors_propagate_for_retries(warehouse: Path) -> None:
    with pytest.raises(Exception, match="no such table") as info:
        read_sql_stock("warehouse_db", "SELECT sku, units FROM missing_table")
    assert not isinstance(info.value, StockSourceError)


def test_sql_connection_that_is_not_a_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SELLER_CENTER_X",
        json.dumps({"conn_type": "seller_center", "host": "http://127.0.0.1:1", "login": "u"}),
    )
    with pytest.raises(StockSourceError) as info:
        read_sql_stock("seller_center_x", "SELECT 1")
    message = str(info.value)
    assert "'seller_center_x'" in message and "type 'seller_center'" in message
    assert "not a database hook" in message


def test_sql_connection_type_without_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_NO_PROVIDER", json.dumps({"conn_type": "no_such_db", "host": "x"})
    )
    with pytest.raises(StockSourceError, match="type 'no_such_db' gives no hook.*install"):
        read_sql_stock("no_provider", "SELECT 1")


def test_sql_unknown_connection(airflow_db: Path) -> None:
    with pytest.raises(StockSourceError, match="cannot read Airflow connection 'not_defined_x'"):
        read_sql_stock("not_defined_x", "SELECT 1")


def test_sql_validates_before_any_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(conn_id: str) -> None:
        raise AssertionError("no connection lookup expected")

    monkeypatch.setattr(database.BaseHook, "get_connection", boom)
    with pytest.raises(StockSourceError, match="stock_conn_id '' must be a non-empty string"):
        read_sql_stock("", "SELECT 1")
    with pytest.raises(StockSourceError, match="stock_sql '  ' must be a non-empty string"):
        read_sql_stock("warehouse_db", "  ")
    with pytest.raises(StockSourceError, match="stock_sql None"):
        read_sql_stock("warehouse_db", None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT sku, units FROM warehouse_stock",
        "  select sku, units, business_unit from warehouse_stock ;  ",
        "WITH s AS (SELECT sku, units FROM warehouse_stock) SELECT sku, units FROM s",
        "-- the nightly snapshot\nSELECT sku, units FROM warehouse_stock",
        "SELECT replace(sku, ' ', '') AS sku, units FROM warehouse_stock",
        "SELECT sku, units FROM warehouse_stock WHERE note <> 'drop table; delete'",
    ],
)
def test_a_single_select_is_a_stock_query(sql: str) -> None:
    assert check_read_only_sql(sql).lstrip().lower().startswith(("select", "with", "--"))


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("CREATE TABLE pwned (a INT)", "is a CREATE statement"),
        ("DROP TABLE warehouse_stock", "is a DROP statement"),
        ("UPDATE warehouse_stock SET units = 0", "is an UPDATE statement"),
        ("DELETE FROM warehouse_stock", "is a DELETE statement"),
        ("INSERT INTO warehouse_stock VALUES ('x', 1, NULL)", "is an INSERT statement"),
        ("PRAGMA writable_schema = 1", "is an UNKNOWN statement"),
        ("SELECT 1; DROP TABLE warehouse_stock", "holds 2 statements"),
        ("SELECT sku, units FROM a; SELECT sku, units FROM b", "holds 2 statements"),
        ("WITH x AS (DELETE FROM t RETURNING *) SELECT sku, units FROM x", "uses DELETE"),
        ("SELECT sku, units INTO snapshot FROM warehouse_stock", "uses INTO"),
        ("SELECT sku, units FROM warehouse_stock FOR UPDATE", "uses UPDATE"),
        (";", "holds 0 statements"),
    ],
)
def test_anything_but_a_select_is_refused_before_a_connection_is_read(
    sql: str, why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(conn_id: str) -> None:
        raise AssertionError("no connection lookup expected")

    monkeypatch.setattr(database.BaseHook, "get_connection", boom)
    with pytest.raises(StockSourceError, match=why):
        read_sql_stock("warehouse_db", sql)
    with pytest.raises(StockSourceError, match=why):
        classify_stock_source("sql", stock_conn_id="warehouse_db", stock_sql=sql)


def test_the_query_runs_in_a_read_only_session(warehouse: Path) -> None:
    """Defence in depth: even a statement that got past the check could not write."""
    from airflow_seller_provider.compat import BaseHook

    hook = BaseHook.get_connection("warehouse_db").get_hook()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        stock_sources._read_only_records(hook, "sqlite", "CREATE TABLE pwned (a INT)")
    rows = stock_sources._read_only_records(hook, "sqlite", "SELECT count(*) FROM warehouse_stock")
    assert rows == [(5,)]
    with sqlite3.connect(warehouse) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert names == {"warehouse_stock"}


# ----------------------------------------------------------------------------- callables

CALLS: list[list[str]] = []


def stock_as_mapping(skus: Sequence[str]) -> dict[str, int]:
    CALLS.append(list(skus))
    return {sku: 2 for sku in skus}


def stock_as_rows(skus: Sequence[str]) -> list[tuple[str, Any, str | None]]:
    return [(sku, Decimal("1"), "facl") for sku in skus] + [("X", 9, None)]


def stock_as_generator(skus: Sequence[str]) -> Any:
    yield from ({"sku": sku, "units": "4"} for sku in skus)


def stock_bad_units(skus: Sequence[str]) -> dict[str, Any]:
    return {"A": -1}


def stock_none(skus: Sequence[str]) -> None:
    return None


class WarehouseClient:
    def get_stock(self, skus: Sequence[str]) -> dict[str, int]:
        return {sku: 7 for sku in skus}


warehouse_client = WarehouseClient()


def make_client() -> WarehouseClient:
    return WarehouseClient()


def make_function() -> Any:
    return stock_as_mapping


def make_nothing() -> int:
    return 3


NOT_CALLABLE = 42


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("stock_as_mapping", {(None, "A"): 2, (None, "B"): 2}),
        ("stock_as_rows", {("FACL", "A"): 1, ("FACL", "B"): 1, (None, "X"): 9}),
        ("stock_as_generator", {(None, "A"): 4, (None, "B"): 4}),
        ("warehouse_client", {(None, "A"): 7, (None, "B"): 7}),
        ("WarehouseClient", {(None, "A"): 7, (None, "B"): 7}),
        ("make_client", {(None, "A"): 7, (None, "B"): 7}),
        ("make_function", {(None, "A"): 2, (None, "B"): 2}),
        ("WarehouseClient.get_stock", None),  # unbound method: needs self
    ],
)
def test_callable_forms(name: str, expected: dict | None) -> None:
    if expected is None:
        with pytest.raises(StockSourceError):
            read_callable_stock(f"{HERE}:{name}", ["B", "A"])
        return
    assert read_callable_stock(f"{HERE}:{name}", ["B", "A", "B"]) == expected


def test_callable_gets_sorted_unique_skus_and_is_skipped_without_skus() -> None:
    CALLS.clear()
    read_callable_stock(f"{HERE}:stock_as_mapping", ["b", "a", "b"])
    assert CALLS == [["a", "b"]]
    assert read_callable_stock(f"{HERE}:stock_as_mapping", []) == {}
    assert CALLS == [["a", "b"]]


def test_load_stock_callable_returns_a_skus_function() -> None:
    assert load_stock_callable(f"{HERE}:stock_as_mapping") is stock_as_mapping
    assert load_stock_callable(f"{HERE}:warehouse_client")(["A"]) == {"A": 7}
    assert load_stock_callable(f" {HERE}:WarehouseClient ")(["A"]) == {"A": 7}


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("no_colon", "must look like 'package.module:callable'"),
        ("pkg.mod:", "must look like"),
        (":name", "must look like"),
        ("pkg mod:name", "must look like"),
        ("no_such_module_xyz.inner:fn", "cannot import module 'no_such_module_xyz.inner'"),
        (f"{HERE}:missing_name", "has no attribute 'missing_name'"),
        (f"{HERE}:NOT_CALLABLE", "gives a int, which is neither"),
        (f"{HERE}:make_nothing", "gives a int, which is neither"),
    ],
)
def test_callable_load_errors(path: str, detail: str) -> None:
    with pytest.raises(StockSourceError) as info:
        load_stock_callable(path)
    assert detail in str(info.value)
    assert str(info.value).startswith("stock source callable")


def test_callable_bad_answers() -> None:
    with pytest.raises(StockSourceError, match=r"callable .*:stock_bad_units: row 1: field units"):
        read_callable_stock(f"{HERE}:stock_bad_units", ["A"])
    with pytest.raises(StockSourceError, match="returned a NoneType"):
        read_callable_stock(f"{HERE}:stock_none", ["A"])


# ----------------------------------------------------------------------------- dispatch


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        (None, "seller_center"),
        ("", "seller_center"),
        ("  ", "seller_center"),
        ("seller_center", "seller_center"),
        ("file:///data/stock.csv", "file"),
        ("s3://bucket/path/Stock.JSON", "file"),
        ("s3://aws_default@bucket/stock.csv", "file"),
        ("my_company.stock:read", "callable"),
        ("pkg.mod:Client.factory", "callable"),
    ],
)
def test_classify(spec: str | None, kind: str) -> None:
    assert classify_stock_source(spec, stock_conn_id=None, stock_sql=None) == kind


def test_classify_sql() -> None:
    assert classify_stock_source("sql", stock_conn_id="wh", stock_sql="SELECT 1") == "sql"
    for conn_id, sql, missing in [
        (None, "SELECT 1", "set stock_conn_id:"),
        ("wh", "", "set stock_sql:"),
        (" ", None, "set stock_conn_id and stock_sql"),
    ]:
        with pytest.raises(StockSourceError, match=missing):
            classify_stock_source("sql", stock_conn_id=conn_id, stock_sql=sql)


@pytest.mark.parametrize(
    ("spec", "detail"),
    [
        ("warehouse", "unknown stock_source; use 'seller_center'"),
        ("SQL", "unknown stock_source"),
        ("/data/stock.csv", "unknown stock_source"),
        ("file:///data/stock.xlsx", "ends in '.xlsx'"),
        ("s3://bucket/stock", "ends in 'no suffix'"),
        ("pkg-x.mod:fn", "must look like 'package.module:callable'"),
        (3, "stock_source must be text"),
    ],
)
def test_classify_errors(spec: Any, detail: str) -> None:
    with pytest.raises(StockSourceError) as info:
        classify_stock_source(spec, stock_conn_id=None, stock_sql=None)
    assert detail in str(info.value)


def test_classify_refuses_sql_params_for_another_source() -> None:
    """Otherwise Seller Center's sellable stock would silently replace the warehouse's."""
    for spec in (None, "file:///x.csv", f"{HERE}:stock_as_mapping"):
        with pytest.raises(StockSourceError, match="stock_sql only apply with stock_source='sql'"):
            classify_stock_source(spec, stock_conn_id="", stock_sql="SELECT 1")


def test_read_stock_source_dispatches(tmp_path: Path, warehouse: Path) -> None:
    uri = write(tmp_path, "stock.csv", "sku,units\nA,1\n")
    assert read_stock_source(uri, skus=["A"]) == {(None, "A"): 1}
    assert read_stock_source(f"{HERE}:stock_as_mapping", skus=["Q"]) == {(None, "Q"): 2}
    assert read_stock_source(
        "sql",
        skus=["A-1"],
        stock_conn_id="warehouse_db",
        stock_sql="SELECT sku, units FROM warehouse_stock WHERE business_unit IS NULL",
    ) == {(None, "A-1"): 3}
    with pytest.raises(StockSourceError, match="Seller Center hook"):
        read_stock_source(None, skus=["A"])
