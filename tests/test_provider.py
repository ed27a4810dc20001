"""The package as Airflow sees it: entry point, provider info, CLI commands."""

from __future__ import annotations

import json
import subprocess
from importlib.metadata import distribution, entry_points

import pytest

from airflow_seller_provider.get_provider_info import get_provider_info

from .conftest import AIRFLOW_BIN


def airflow(*args: str) -> str:
    done = subprocess.run(
        [AIRFLOW_BIN, *args], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_package_name_equals_distribution_name():
    info = get_provider_info()
    assert info["package-name"] == distribution("airflow-seller-provider").metadata["Name"]
    (point,) = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.value.startswith("airflow_seller_provider")
    ]
    assert point.load() is get_provider_info


def test_connection_type_metadata():
    (conn_type,) = get_provider_info()["connection-types"]
    assert conn_type["connection-type"] == "seller_center"
    assert conn_type["hook-name"] == "Seller Center"
    assert conn_type["hook-class-name"].endswith("hooks.seller_center.SellerCenterHook")
    behaviour = conn_type["ui-field-behaviour"]
    assert set(behaviour["hidden-fields"]) == {"schema", "port"}
    assert behaviour["relabeling"] == {"host": "Base URL", "login": "UserID", "password": "API key"}
    assert behaviour["placeholders"]["host"] == "https://sellercenter-api.falabella.com/"
    fields = conn_type["conn-fields"]
    assert set(fields) == {
        "seller_id",
        "business_unit",
        "integration",
        "format",
        "timeout",
        "max_retries",
        "rate_limit",
        "cancel_scope",
    }
    for field in fields.values():
        assert field["label"] and field["description"] and "type" in field["schema"]


@pytest.mark.airflow_process
def test_airflow_lists_the_provider_and_hook():
    providers = json.loads(airflow("providers", "list", "-o", "json"))
    assert any(p["package_name"] == "airflow-seller-provider" for p in providers)
    hooks = json.loads(airflow("providers", "hooks", "-o", "json"))
    (ours,) = [h for h in hooks if h["connection_type"] == "seller_center"]
    assert ours["class"].endswith("SellerCenterHook")
    assert ours["package_name"] == "airflow-seller-provider"
    assert ours["hook_name"] == "Seller Center"
    assert ours["conn_id_attribute_name"] == "seller_center_conn_id"


def test_connections_add_with_our_type(airflow_db):
    airflow(
        "connections",
        "add",
        "sc_cli_test",
        "--conn-type",
        "seller_center",
        "--conn-host",
        "https://sellercenter-api-staging.falabella.com/",
        "--conn-login",
        "api@example.com",
        "--conn-password",
        "cli-secret",
        "--conn-extra",
        json.dumps({"seller_id": "JJJ123", "business_unit": "FACL"}),
    )
    (stored,) = json.loads(airflow("connections", "get", "sc_cli_test", "-o", "json"))
    assert stored["conn_type"] == "seller_center"
    assert stored["extra_dejson"] == {"seller_id": "JJJ123", "business_unit": "FACL"}
