"""The one definition of the ``seller_center`` connection's form fields.

``get_provider_info()`` publishes it for Airflow 3's UI; the hook reads the same names, so a
field is added in one place. Kept free of Airflow imports so the provider info loads fast;
the business units and formats are the protocol's (``client.protocol``).
"""

from __future__ import annotations

from airflow_seller_provider.client.protocol import BUSINESS_UNITS, FORMATS

DEFAULT_BASE_URL = "https://sellercenter-api.falabella.com/"
CANCEL_SCOPES = ("item", "package")

# extra name -> (label, description, JSON-schema type, enum or None, default or None)
EXTRA_FIELDS: dict[str, dict] = {
    "seller_id": {
        "label": "Seller ID",
        "description": "Your seller id: the first part of the User-Agent Falabella requires.",
        "schema": {"type": ["string", "null"]},
    },
    "business_unit": {
        "label": "Business unit",
        "description": "FACL (Chile), FACO (Colombia) or FAPE (Peru): the last part of the "
        "User-Agent. Each order still uses its own country's stock (its OperatorCode).",
        "schema": {
            "type": ["string", "null"],
            "enum": [*BUSINESS_UNITS, None],
            # Airflow 3's dropdown shows these instead of the raw values ("null" for None).
            "values_display": {
                "FACL": "FACL (Chile)",
                "FACO": "FACO (Colombia)",
                "FAPE": "FAPE (Peru)",
                "null": "not set",
            },
        },
    },
    "integration": {
        "label": "Integration",
        "description": "User-Agent's integration part: PROPIA for your own integration, "
        "or your integrator's name.",
        "schema": {"type": ["string", "null"], "default": "PROPIA"},
    },
    "format": {
        "label": "Response format",
        "description": "XML (the API's default) or JSON.",
        "schema": {
            "type": ["string", "null"],
            "enum": [*FORMATS, None],
            "default": "XML",
            "values_display": {"XML": "XML", "JSON": "JSON", "null": "not set (XML)"},
        },
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Seconds to wait for each HTTP answer (default 30).",
        "schema": {"type": ["number", "null"], "default": 30},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Attempts per call on throttling and transient faults (default 5).",
        "schema": {"type": ["integer", "null"], "default": 5},
    },
    "rate_limit": {
        "label": "Rate limit (requests/s)",
        "description": "Your API budget in requests per second, shared by all calls of a "
        "task. Empty: no client-side limit.",
        "schema": {"type": ["number", "null"]},
    },
    "cancel_scope": {
        "label": "Cancel scope",
        "description": "What SetStatusToCanceled cancels on this account: item (default) or "
        "package (every pending item of the same PackageId). Undocumented: set package if "
        "runs report collateral_canceled items.",
        "schema": {
            "type": ["string", "null"],
            "enum": [*CANCEL_SCOPES, None],
            "default": "item",
            "values_display": {"item": "item", "package": "package", "null": "not set (item)"},
        },
    },
}

UI_FIELD_BEHAVIOUR: dict = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"host": "Base URL", "login": "UserID", "password": "API key"},
    "placeholders": {
        "host": DEFAULT_BASE_URL,
        "login": "api-user@example.com",
        "password": "your Seller Center API key",
        "seller_id": "JJJ123",
        "business_unit": "FACL",
        "integration": "PROPIA",
        "format": "XML",
        "timeout": "30",
        "max_retries": "5",
        "rate_limit": "10",
        "cancel_scope": "item",
    },
}


def conn_fields() -> dict:
    """The extras in the shape of provider info's ``conn-fields``."""
    return {
        name: {"label": f["label"], "description": f["description"], "schema": f["schema"]}
        for name, f in EXTRA_FIELDS.items()
    }
