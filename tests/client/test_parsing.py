"""Parsing: samples, the normalised tree, both formats, hostile and broken bodies."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from airflow_seller_provider.client import parsing
from airflow_seller_provider.client.api import order_items_by_order
from airflow_seller_provider.client.errors import (
    AuthenticationError,
    InvalidRequestError,
    InvalidStateError,
    NotFoundError,
    ResponseError,
    SellerCenterError,
    ServerError,
    ThrottlingError,
    TransportError,
)
from airflow_seller_provider.client.models import CancelResult, OrderItem, Product, children
from airflow_seller_provider.client.parsing import excerpt, parse_json, parse_response, parse_xml
from tests.client.helpers import (
    API_KEY,
    LOCAL_SAMPLES,
    SHARED_SAMPLES,
    json_error,
    json_ok,
    xml_error,
    xml_ok,
)
from tests.client.hostile_xml import BILLION_LAUGHS, EXTERNAL_DTD, PARAMETER_ENTITY, XXE

SAMPLE_NAMES = [
    "GetFailureReasons.xml",
    "GetMultipleOrderItems.xml",
    "GetOrderItems.xml",
    "GetOrders.xml",
    "GetProducts.xml",
    "SetStatusToCanceled.xml",
    "SetStatusToCanceled-E028.xml",
]


def parse(body: str | bytes, **kwargs):
    data = body.encode("utf-8") if isinstance(body, str) else body
    return parse_response(data, action=kwargs.pop("action", "GetOrders"), **kwargs)


# ------------------------------------------------------------------ samples


def _check_sample(path: Path) -> None:
    data = path.read_bytes()
    name = path.name
    if name == "SetStatusToCanceled-E028.xml":
        with pytest.raises(InvalidStateError) as info:
            parse_response(data, action="SetStatusToCanceled")
        assert info.value.code == "E028"
        assert info.value.action == "SetStatusToCanceled"
        assert not info.value.retryable
        return
    response = parse_response(data, action=name.removesuffix(".xml"))
    assert isinstance(response.head, dict) and isinstance(response.body, dict)
    body = response.body
    if name == "GetOrders.xml":
        orders = children(body, "Orders", "Order")
        assert [o["OrderId"] for o in orders] == ["4687503", "4687808"]
        assert orders[0]["Statuses"]["Status"] == ["delivered", "shipped"]
        assert orders[0]["Remarks"] == ""
    elif name == "GetOrderItems.xml":
        (item,) = children(body, "OrderItems", "OrderItem")
        model = OrderItem.from_node(item)
        assert (model.order_item_id, model.order_id, model.status) == (6750999, 4758978, "pending")
        assert model.sku == "DJFKLJOEDKLFJ" and model.reason == ""
    elif name == "GetMultipleOrderItems.xml":
        result = order_items_by_order(body)
        assert sorted(result) == [4687503, 4687808]
        assert result[4687503][0].order_item_id == 6653173
        assert result[4687808][0].shipping_type == "Dropshipping"
    elif name == "GetProducts.xml":
        products = [Product.from_node(p) for p in children(body, "Products", "Product")]
        assert [p.seller_sku for p in products] == ["jasku-10001", "jasku-10002", "jasku-10003"]
        assert all(p.stock == {"FACL": 100} for p in products)
        assert children(products[0].raw, "Images", "Image")[1].endswith("image2.jpg")
        assert products[0].raw["Description"] == "fdsfdsfds<span></span>"
    elif name == "GetFailureReasons.xml":
        reasons = children(body, "Reasons", "Reason")
        assert [r["Name"] for r in reasons][1] == "Wrong address"
    elif name == "SetStatusToCanceled.xml":
        (item,) = children(body, "OrderItems", "OrderItem")
        result = CancelResult.from_node(item, 6750999)
        assert result.purchase_order_number == "ABC-123456"
        assert result.package_id == "MPDS-200131783-9800"
    else:  # pragma: no cover - a new sample must get its own check
        raise AssertionError(f"unchecked sample {name}")


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_bundled_sample_parses(name: str) -> None:
    _check_sample(LOCAL_SAMPLES / name)


def test_bundled_samples_are_all_checked_and_licensed() -> None:
    assert sorted(p.name for p in LOCAL_SAMPLES.glob("*.xml")) == sorted(SAMPLE_NAMES)
    assert (LOCAL_SAMPLES / "LICENSE-samples.txt").is_file()


def test_every_shared_sample_parses() -> None:
    if not SHARED_SAMPLES.is_dir():
        pytest.skip(f"the shared samples folder {SHARED_SAMPLES} is absent (bundled copies tested)")
    names = sorted(p.name for p in SHARED_SAMPLES.glob("*.xml"))
    assert names, "no sample in the shared folder"
    for name in names:
        _check_sample(SHARED_SAMPLES / name)


# --------------------------------------------------------- the normalised tree


def test_tree_shape_one_child_many_children_empty() -> None:
    body = (
        "<Orders><Order><OrderId>1</OrderId><Statuses><Status>pending</Status></Statuses>"
        "<Empty/><Blank></Blank></Order>"
        "<Order><OrderId>2</OrderId><Statuses><Status>a</Status><Status>b</Status>"
        "<Status>c</Status></Statuses></Order></Orders>"
    )
    tree = parse(xml_ok(body)).body
    assert tree == {
        "Orders": {
            "Order": [
                {
                    "OrderId": "1",
                    "Statuses": {"Status": "pending"},
                    "Empty": "",
                    "Blank": "",
                },
                {"OrderId": "2", "Statuses": {"Status": ["a", "b", "c"]}},
            ]
        }
    }


def test_repeated_tags_keep_document_order_even_when_not_adjacent() -> None:
    tree = parse(xml_ok("<A>1</A><B>x</B><A>2</A><A>3</A>")).body
    assert tree == {"A": ["1", "2", "3"], "B": "x"}


def test_empty_body_and_empty_list_are_blank_strings() -> None:
    assert parse(xml_ok("")).body == ""
    assert parse(xml_ok("<Orders/>")).body == {"Orders": ""}
    assert children(parse(xml_ok("<Orders></Orders>")).body, "Orders", "Order") == []


def test_entities_cdata_and_non_ascii_are_read_as_text() -> None:
    body = (
        "<Name>caf\u00e9 &amp; &lt;b&gt; &#26481;</Name>"
        '<Description><![CDATA[<p>5 > 3 & "ok"</p>]]></Description>'
    )
    tree = parse(xml_ok(body)).body
    assert tree == {"Name": "café & <b> 東", "Description": '<p>5 > 3 & "ok"</p>'}


def test_comments_and_processing_instructions_are_ignored() -> None:
    tree = parse(xml_ok("<!-- hi --><A>1</A><?pi x?><B><!-- c --></B>")).body
    assert tree == {"A": "1", "B": ""}


def test_xml_and_json_give_the_same_tree_and_models() -> None:
    xml = xml_ok(
        "<Orders><Order><OrderId>7</OrderId><OrderNumber>N7</OrderNumber><OrderItems>"
        "<OrderItem><OrderItemId>70</OrderItemId><Sku>A</Sku><Status>pending</Status>"
        "<Reason/><CreatedAt>2024-05-01 10:00:00</CreatedAt></OrderItem>"
        "</OrderItems></Order><Order><OrderId>8</OrderId><OrderNumber>N8</OrderNumber>"
        "<OrderItems/></Order></Orders>",
        action="GetMultipleOrderItems",
    )
    # Written by hand as the API's JSON would be: one child is an object, an empty list "".
    js = """{"SuccessResponse": {"Head": {"RequestId": "", "RequestAction":
        "GetMultipleOrderItems", "ResponseType": "", "Timestamp": "2024-05-01T12:00:00+0000"},
        "Body": {"Orders": {"Order": [
          {"OrderId": "7", "OrderNumber": "N7", "OrderItems": {"OrderItem":
            {"OrderItemId": "70", "Sku": "A", "Status": "pending", "Reason": "",
             "CreatedAt": "2024-05-01 10:00:00"}}},
          {"OrderId": "8", "OrderNumber": "N8", "OrderItems": ""}]}}}}"""
    from_xml = parse(xml, action="GetMultipleOrderItems")
    from_json = parse(js, action="GetMultipleOrderItems")
    assert from_xml.body == from_json.body
    assert from_xml.head == from_json.head
    assert order_items_by_order(from_xml.body) == order_items_by_order(from_json.body)
    assert order_items_by_order(from_json.body)[8] == []


def test_json_scalars_become_strings() -> None:
    raw = (
        '{"SuccessResponse": {"Head": {"TotalCount": 12, "Flag": true, "Off": false,'
        ' "Nothing": null}, "Body": {"Orders": {"Order": [{"OrderId": 5, "Price": 10.50,'
        ' "List": [1, null]}]}}}}'
    )
    response = parse(raw)
    assert response.head == {"TotalCount": "12", "Flag": "true", "Off": "false", "Nothing": ""}
    assert response.total_count == 12
    order = response.body["Orders"]["Order"][0]
    assert order == {"OrderId": "5", "Price": "10.50", "List": ["1", ""]}


def test_json_empty_body_and_one_child() -> None:
    assert parse(json_ok("")).body == ""
    body = parse(json_ok({"OrderItems": {"OrderItem": {"OrderItemId": "1"}}})).body
    assert children(body, "OrderItems", "OrderItem") == [{"OrderItemId": "1"}]


def test_envelope_is_read_by_content_not_by_declared_format() -> None:
    # An XML answer to a JSON request, and the other way round, are both read.
    assert parse(xml_ok("<A>1</A>"), response_format="JSON").body == {"A": "1"}
    assert parse(json_ok({"A": "1"}), response_format="XML").body == {"A": "1"}


def test_bom_and_leading_whitespace_are_accepted() -> None:
    assert parse(b"\xef\xbb\xbf\n  " + xml_ok("<A>1</A>").encode()).body == {"A": "1"}
    assert parse(b"\n " + json_ok({"A": "1"}).encode()).body == {"A": "1"}


def test_latin1_declared_encoding_is_honoured() -> None:
    data = xml_ok("<Name>Peñalolén</Name>").replace("UTF-8", "ISO-8859-1").encode("latin-1")
    assert parse(data).body == {"Name": "Peñalolén"}


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize("status", [200, 400, 403, 500])
def test_error_envelope_under_any_status(status: int) -> None:
    body = xml_error(28, 'E028: It is not possible to set the order to the status "canceled"')
    with pytest.raises(InvalidStateError) as info:
        parse(body, action="SetStatusToCanceled", http_status=status)
    error = info.value
    assert (error.code, error.http_status, error.action) == ("E028", status, "SetStatusToCanceled")
    text = str(error)
    assert "SetStatusToCanceled" in text and "E028" in text and "pending" in text
    assert text.count("E028") == 1


@pytest.mark.parametrize(
    ("code", "kind", "retryable"),
    [
        ("E001", InvalidRequestError, False),
        ("E002", InvalidRequestError, False),
        ("E003", InvalidRequestError, False),
        ("E006", ServerError, True),
        ("E007", AuthenticationError, False),
        ("E009", AuthenticationError, False),
        ("E016", NotFoundError, False),
        ("E020", NotFoundError, False),
        ("E021", ServerError, True),
        ("E022", InvalidRequestError, False),
        ("E028", InvalidStateError, False),
        ("E038", InvalidRequestError, False),
        ("E119", ServerError, True),
        ("E429", ThrottlingError, True),
    ],
)
def test_every_error_code_gets_its_kind(code: str, kind: type, retryable: bool) -> None:
    number = int(code[1:])
    for body in (xml_error(number, f"{code}: message"), json_error(str(number), f"{code}: m")):
        with pytest.raises(kind) as info:
            parse(body)
        assert info.value.code == code
        assert info.value.retryable is retryable


def test_e007_says_what_to_do() -> None:
    with pytest.raises(AuthenticationError) as info:
        parse(xml_error(7, "E007: Login failed. Signature mismatching"))
    assert "login (UserID) and password (API key)" in str(info.value)


def test_unknown_error_code_is_an_error_not_retried() -> None:
    with pytest.raises(SellerCenterError) as info:
        parse(xml_error(987, "E987: Something new"))
    assert info.value.code == "E987"
    assert not info.value.retryable
    assert "E987" in str(info.value)


def test_code_taken_from_message_when_error_code_is_missing_or_junk() -> None:
    for code_field in ("", "junk"):
        with pytest.raises(NotFoundError) as info:
            parse(xml_error(code_field, 'E020: "5" Invalid Order Item ID'))
        assert info.value.code == "E020"


def test_error_without_any_code_follows_the_http_status() -> None:
    with pytest.raises(ServerError):
        parse(xml_error("", "boom"), http_status=503)
    with pytest.raises(ThrottlingError):
        parse(xml_error("", "slow down"), http_status=429)
    with pytest.raises(SellerCenterError) as info:
        parse(xml_error("", "odd"), http_status=400)
    assert not info.value.retryable


def test_error_details_are_kept() -> None:
    detail = (
        "<ErrorDetail><Field>SellerSku</Field><Message>bad</Message><Value>X</Value>"
        "<SellerSku>X</SellerSku></ErrorDetail>"
    )
    with pytest.raises(SellerCenterError) as info:
        parse(xml_error(70, "E070: corrupt", body=detail + detail))
    assert (
        info.value.details
        == [{"Field": "SellerSku", "Message": "bad", "Value": "X", "SellerSku": "X"}] * 2
    )


# ------------------------------------------------------------ hostile bodies

HOSTILE = [BILLION_LAUGHS, XXE, EXTERNAL_DTD, PARAMETER_ENTITY]
HOSTILE_IDS = ["laughs", "xxe", "dtd", "parameter-entity"]


@pytest.mark.parametrize("data", HOSTILE, ids=HOSTILE_IDS)
def test_documents_with_a_dtd_are_refused_never_expanded(data: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(ResponseError) as info:
        parse(data, action="GetOrders")
    assert time.perf_counter() - started < 1.0
    error = info.value
    assert "DOCTYPE" in str(error) and "GetOrders" in str(error)
    assert not error.retryable
    assert "root:" not in str(error) and "lollol" not in str(error)


@pytest.mark.parametrize("data", HOSTILE, ids=HOSTILE_IDS)
def test_a_dtd_never_reaches_the_xml_parser(data: bytes, monkeypatch) -> None:
    # libxml2 reads external parameter entities even with entity resolution off, so the
    # refusal must come before parsing.
    def parser_called(*args, **kwargs):
        raise AssertionError("the XML parser was given a document with a DTD")

    monkeypatch.setattr(parsing.etree, "fromstring", parser_called)
    with pytest.raises(ResponseError):
        parse_xml(data)
    with pytest.raises(ResponseError):
        parse_xml(b"\xef\xbb\xbf<!-- c --><?pi x?>\n" + data[data.index(b"<!DOCTYPE") :])


def test_utf16_bodies_are_refused() -> None:
    data = xml_ok("<A>1</A>").replace("UTF-8", "UTF-16").encode("utf-16")
    with pytest.raises(ResponseError):
        parse(data)


def test_truncated_xml_is_a_response_error_naming_the_action() -> None:
    body = xml_ok("<Orders><Order><OrderId>1</OrderId></Order></Orders>")[:-40]
    with pytest.raises(ResponseError) as info:
        parse(body, action="GetOrders", http_status=200)
    text = str(info.value)
    assert "GetOrders" in text and "HTTP 200" in text
    assert not info.value.retryable


GATEWAY_HTML = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    "<h1>Bad Gateway</h1>" + "x" * 500 + "</body></html>"
)


@pytest.mark.parametrize("status", [200, 502, 503, 504])
def test_html_gateway_page_is_a_retryable_transport_error(status: int) -> None:
    with pytest.raises(TransportError) as info:
        parse(GATEWAY_HTML, http_status=status, content_type="text/html")
    error = info.value
    assert error.retryable
    assert error.code == f"HTTP_{status}"
    assert "HTML" in str(error) and f"HTTP {status}" in str(error)
    quoted = str(error).split(": ", 2)[-1]
    assert len(quoted) <= 260  # the excerpt is at most 200 characters plus the framing


def test_html_not_found_page_is_not_retried() -> None:
    with pytest.raises(ResponseError) as info:
        parse(GATEWAY_HTML.replace("502 Bad Gateway", "404"), http_status=404)
    assert not info.value.retryable and "base URL" in str(info.value)


def test_html_inside_a_real_answer_does_not_look_like_a_gateway_page() -> None:
    body = xml_ok("<Description><![CDATA[<html><body>hi</body></html>]]></Description>")
    assert parse(body, content_type="text/html").body == {
        "Description": "<html><body>hi</body></html>"
    }


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        ("", 200, ResponseError),
        ("   ", 200, ResponseError),
        ("", 502, TransportError),
        ("Service Unavailable", 503, TransportError),
        ("too many", 429, ThrottlingError),
        ("plain text", 200, ResponseError),
        ("[1, 2]", 200, ResponseError),
        ('{"SuccessResponse": {"Head": {}}, "Extra": 1}', 200, ResponseError),
        ('{"Something": {"Head": {}}}', 200, ResponseError),
        ('{"SuccessResponse": []}', 200, ResponseError),
        ('{"SuccessResponse": {"Body": ""}}', 200, ResponseError),
        ('{"SuccessResponse": {"Head": "", "Body": ""}}', 200, ResponseError),
        ('{"SuccessResponse": {"Head": ', 200, ResponseError),
        ("<Other><Head/></Other>", 200, ResponseError),
        ("<SuccessResponse><Body/></SuccessResponse>", 200, ResponseError),
        ("<ErrorResponse><Body/></ErrorResponse>", 400, ResponseError),
    ],
)
def test_bodies_that_are_no_envelope(body: str, status: int, kind: type) -> None:
    with pytest.raises(kind) as info:
        parse(body, http_status=status, action="GetOrders")
    error = info.value
    assert type(error) is kind
    assert error.http_status == status
    assert "GetOrders" in str(error)
    assert error.retryable is (status >= 500 or status == 429)


def test_missing_head_says_so() -> None:
    with pytest.raises(ResponseError) as info:
        parse("<SuccessResponse><Body><A>1</A></Body></SuccessResponse>")
    assert "no Head" in str(info.value)


def test_excerpt_is_short_printable_and_redacted() -> None:
    page = (
        f"<html>\n\n<p>key {API_KEY} url /?Action=GetOrders&Signature=abcdef0123456789"
        "&UserID=x</p>\x00\x01" + "y" * 1000 + "</html>"
    ).encode()
    text = excerpt(page, secrets=(API_KEY,))
    assert len(text) <= 200
    assert API_KEY not in text and "abcdef0123456789" not in text
    assert "\n" not in text and "\x00" not in text
    with pytest.raises(SellerCenterError) as info:
        parse_response(page, action="GetOrders", http_status=500, secrets=(API_KEY,))
    assert API_KEY not in str(info.value) and "abcdef0123456789" not in str(info.value)


def test_error_message_from_the_server_is_bounded() -> None:
    with pytest.raises(SellerCenterError) as info:
        parse(xml_error(6, "E006: " + "z" * 5000))
    assert len(info.value.message) <= 500


def test_parse_json_rejects_wrong_shapes_without_raising_for_non_envelopes() -> None:
    assert parse_json(b"[]") is None
    assert parse_json(b'{"a": 1, "b": 2}') is None
    assert parse_json(b'{"SuccessResponse": "x"}') is None
    with pytest.raises(ValueError):
        parse_json(b"{nope")
    name, tree = parse_json(json.dumps({"ErrorResponse": {"Head": {"ErrorCode": 7}}}).encode())
    assert name == "ErrorResponse" and tree == {"Head": {"ErrorCode": "7"}}
