from __future__ import annotations

import json
import logging

import pytest
import responses

from airflow_seller_provider.client import SellerCenterClient
from airflow_seller_provider.compat import redact
from airflow_seller_provider.hooks.seller_center import (
    ConnectionConfigError,
    SellerCenterHook,
)

API_KEY = "hook-test-secret-key-0123456789"
BASE = "https://sellercenter.example.test/"

REASONS_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<SuccessResponse><Head><RequestId/><RequestAction>GetFailureReasons</RequestAction>
<ResponseType>Reasons</ResponseType><Timestamp>2013-08-27T14:44:13+0000</Timestamp></Head>
<Body><Reasons><Reason><Type>canceled</Type><Name>Wrong address</Name></Reason></Reasons></Body>
</SuccessResponse>"""

E007_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<ErrorResponse><Head><RequestAction>GetFailureReasons</RequestAction><ErrorType>Sender</ErrorType>
<ErrorCode>7</ErrorCode><ErrorMessage>E007: Login failed. Signature mismatching</ErrorMessage>
</Head><Body/></ErrorResponse>"""


def set_conn(monkeypatch, conn_id="seller_center_default", **fields):
    conn = {
        "conn_type": "seller_center",
        "host": BASE,
        "login": "api@example.com",
        "password": API_KEY,
        "extra": {"seller_id": "JJJ123", "business_unit": "FACL"},
    }
    conn.update(fields)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def test_hook_metadata():
    assert SellerCenterHook.conn_type == "seller_center"
    assert SellerCenterHook.hook_name == "Seller Center"
    assert SellerCenterHook.conn_name_attr == "seller_center_conn_id"
    assert SellerCenterHook.default_conn_name == "seller_center_default"


def test_get_conn_maps_connection_and_caches(monkeypatch):
    set_conn(
        monkeypatch,
        extra={
            "seller_id": "JJJ123",
            "business_unit": "faco",
            "integration": "ACME",
            "format": "json",
            "timeout": "12.5",
            "max_retries": "3",
            "rate_limit": 7,
        },
    )
    hook = SellerCenterHook()
    client = hook.get_conn()
    assert isinstance(client, SellerCenterClient)
    assert hook.get_conn() is client
    assert client.base_url.startswith(BASE.rstrip("/"))
    assert client.user_id == "api@example.com"
    assert client.response_format == "JSON"
    assert client.business_unit == "FACO"
    assert client.timeout == 12.5
    assert client.max_retries == 3
    assert client.rate_limit == 7
    assert API_KEY not in repr(client) and API_KEY not in repr(hook)


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"login": None}, "login"),
        ({"login": "  "}, "login"),
        ({"password": None}, "password"),
        ({"password": ""}, "password"),
        ({"host": "ftp://sellercenter.example.test/"}, "ftp://"),
        ({"host": "sellercenter.example.test"}, "sellercenter.example.test"),
        ({"extra": {"business_unit": "FAXX"}}, "FAXX"),
        ({"extra": {"format": "YAML"}}, "YAML"),
        ({"extra": {"timeout": "soon"}}, "timeout"),
        ({"extra": {"rate_limit": "fast"}}, "rate_limit"),
        ({"extra": {"max_retries": "-2"}}, "max_retries"),
    ],
)
def test_bad_connection_names_conn_and_field(monkeypatch, fields, needle):
    set_conn(monkeypatch, conn_id="sc_bad", **fields)
    with responses.RequestsMock() as mocked:  # no request may be sent
        with pytest.raises(ConnectionConfigError) as info:
            SellerCenterHook("sc_bad").get_conn()
        assert not mocked.calls
    message = str(info.value)
    assert "sc_bad" in message
    assert needle in message
    assert API_KEY not in message


def test_a_connection_that_is_not_defined_fails_without_retries(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SC_NOWHERE", raising=False)
    for call in (lambda h: h.get_conn(), lambda h: h.cancel_scope()):
        with pytest.raises(ConnectionConfigError) as info:  # an AirflowFailException
            call(SellerCenterHook("sc_nowhere"))
        assert "'sc_nowhere' is not defined" in str(info.value)
        assert "AIRFLOW_CONN_SC_NOWHERE" in str(info.value)


def test_test_connection_success(monkeypatch):
    set_conn(monkeypatch)
    with responses.RequestsMock() as mocked:
        mocked.add(responses.GET, BASE, body=REASONS_XML, status=200)
        ok, message = SellerCenterHook().test_connection()
        assert len(mocked.calls) == 1
        assert "Action=GetFailureReasons" in mocked.calls[0].request.url
    assert ok is True
    assert "Connected" in message


def test_test_connection_failure_names_code(monkeypatch):
    set_conn(monkeypatch)
    with responses.RequestsMock() as mocked:
        mocked.add(responses.GET, BASE, body=E007_XML, status=400)
        ok, message = SellerCenterHook().test_connection()
    assert ok is False
    assert "E007" in message
    assert "API key" in message
    assert API_KEY not in message


def test_test_connection_reports_bad_config(monkeypatch):
    set_conn(monkeypatch, password="")
    ok, message = SellerCenterHook().test_connection()
    assert ok is False and "password" in message


def test_api_key_is_masked_in_logs(monkeypatch, caplog):
    set_conn(monkeypatch)
    caplog.set_level(logging.DEBUG)
    hook = SellerCenterHook()
    hook.get_conn()
    assert API_KEY not in str(redact(f"key is {API_KEY}"))
    assert all(API_KEY not in r.getMessage() for r in caplog.records)


def test_ui_field_methods_serve_airflow_2_from_the_same_definition():
    from airflow_seller_provider.connection_fields import EXTRA_FIELDS, UI_FIELD_BEHAVIOUR

    assert SellerCenterHook.get_ui_field_behaviour() is UI_FIELD_BEHAVIOUR
    try:
        widgets = SellerCenterHook.get_connection_form_widgets()
    except ImportError:  # Airflow 3 does not install Flask/WTForms; the method is 2.x only
        pytest.skip("Flask-AppBuilder/WTForms not installed (Airflow 3)")
    assert set(widgets) == set(EXTRA_FIELDS)
    assert str(widgets["business_unit"].args[0]) == EXTRA_FIELDS["business_unit"]["label"]
