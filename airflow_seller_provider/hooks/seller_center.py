"""SellerCenterHook: maps an Airflow connection onto one cached SellerCenterClient."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_seller_provider.client.errors import SellerCenterError
from airflow_seller_provider.compat import (
    AirflowFailException,
    AirflowNotFoundException,
    BaseHook,
    mask_secret,
)
from airflow_seller_provider.connection_fields import (
    CANCEL_SCOPES,
    DEFAULT_BASE_URL,
    EXTRA_FIELDS,
    UI_FIELD_BEHAVIOUR,
)

if TYPE_CHECKING:
    from airflow_seller_provider.client.api import SellerCenterClient


class ConnectionConfigError(AirflowFailException, ValueError):
    """The connection is incomplete or holds a value the client cannot use.

    A task fails at once, without retries: only fixing the connection helps.
    """


# The former name (it is about the connection's configuration, not the network).
# The client's argument names, as the connection's fields that set them.
_FIELDS = {
    "base_url": "host (Base URL)",
    "user_id": "login (UserID)",
    "api_key": "password (API key)",
    "response_format": "extra 'format'",
    "business_unit": "extra 'business_unit'",
    "seller_id": "extra 'seller_id'",
    "integration": "extra 'integration'",
}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class SellerCenterHook(BaseHook):
    """Signed, retried, rate-limited calls to Seller Center, configured by a connection.

    :param seller_center_conn_id: the ``seller_center`` connection: host is the base URL,
        login the UserID, password the API key; extras ``seller_id``, ``business_unit``,
        ``integration``, ``format``, ``timeout``, ``max_retries`` and ``rate_limit``.

    The client's calls are counted and timed through Airflow's ``Stats``, tagged with the
    connection id (``seller_center.api.*``, see ``airflow_seller_provider.metrics``).
    """

    conn_name_attr = "seller_center_conn_id"
    default_conn_name = "seller_center_default"
    conn_type = "seller_center"
    hook_name = "Seller Center"

    def __init__(self, seller_center_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seller_center_conn_id = seller_center_conn_id

    def __repr__(self) -> str:
        return f"SellerCenterHook(seller_center_conn_id={self.seller_center_conn_id!r})"

    def _connection(self) -> Any:
        """The Airflow connection; one that is not defined anywhere fails without retries
        (a retry finds it no more than the first try did)."""
        conn_id = self.seller_center_conn_id
        try:
            return self.get_connection(conn_id)
        except AirflowNotFoundException:
            raise ConnectionConfigError(
                f"Connection {conn_id!r} is not defined: create it (Admin > Connections, "
                f"AIRFLOW_CONN_{conn_id.upper()} or a secrets backend) or use the id of one "
                "that exists."
            ) from None

    # Airflow 2.11 builds the connection form from these two methods; Airflow 3 reads the same
    # definition (connection_fields.py) from the provider info and never calls them.
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return UI_FIELD_BEHAVIOUR

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import StringField

        return {
            name: StringField(
                lazy_gettext(field["label"]),
                widget=BS3TextFieldWidget(),
                description=field["description"],
            )
            for name, field in EXTRA_FIELDS.items()
        }

    def client_kwargs(self) -> dict[str, Any]:
        """The client's arguments read from the connection, checked field by field."""
        conn_id = self.seller_center_conn_id
        conn = self._connection()
        api_key = conn.password
        if not _blank(api_key):
            mask_secret(api_key)
        login = conn.login
        if login is None or _blank(login):
            raise ConnectionConfigError(
                f"Connection {conn_id!r} has no login: set it to the API user's e-mail (UserID)."
            )
        if _blank(api_key):
            raise ConnectionConfigError(
                f"Connection {conn_id!r} has no password: set it to the user's API key "
                "(Seller Center > My account > Integrations)."
            )
        extra = conn.extra_dejson or {}
        unknown = sorted(set(extra) - set(EXTRA_FIELDS))
        if unknown:
            self.log.warning("Connection %r: ignoring unknown extras %s", conn_id, unknown)
        host = (conn.host or "").strip() or DEFAULT_BASE_URL
        if conn.port and "://" in host:
            scheme, rest = host.split("://", 1)
            netloc, _, path = rest.partition("/")
            if ":" not in netloc:
                host = f"{scheme}://{netloc}:{conn.port}/{path}"
        kwargs: dict[str, Any] = {"base_url": host, "user_id": login.strip()}
        for name in ("seller_id", "business_unit", "integration", "format"):
            value = extra.get(name)
            if not _blank(value):
                key = "response_format" if name == "format" else name
                kwargs[key] = str(value).strip()
        for name, kind in (("timeout", float), ("rate_limit", float), ("max_retries", int)):
            value = extra.get(name)
            if value is None or _blank(value):
                continue
            try:
                number = kind(value) if not isinstance(value, bool) else None
            except (TypeError, ValueError):
                number = None
            if number is None or number <= 0:
                raise ConnectionConfigError(
                    f"Connection {conn_id!r}: extra {name!r} is {value!r}; it must be a "
                    f"positive {'integer' if kind is int else 'number'}."
                )
            kwargs[name] = number
        kwargs["api_key"] = api_key
        return kwargs

    @cached_property
    def client(self) -> SellerCenterClient:
        # Imported here so that parsing a DAG file does not load requests and lxml.
        from airflow_seller_provider.client.api import SellerCenterClient
        from airflow_seller_provider.metrics import api_observer

        kwargs = self.client_kwargs()
        try:
            # Every attempt of every call becomes metrics through Airflow's Stats (metrics.py).
            return SellerCenterClient(**kwargs, observer=api_observer(self.seller_center_conn_id))
        except (TypeError, ValueError) as exc:
            # "response_format 'YAML' must be..." -> "extra 'format' 'YAML' must be...".
            text = str(exc)
            name = text.split(" ", 1)[0]
            if name in _FIELDS:
                text = _FIELDS[name] + text[len(name) :]
            raise ConnectionConfigError(
                f"Connection {self.seller_center_conn_id!r}: {text}"
            ) from None

    def cancel_scope(self) -> str:
        """The connection's extra ``cancel_scope``: ``item`` (default) or ``package``."""
        extra = self._connection().extra_dejson or {}
        value = extra.get("cancel_scope")
        if _blank(value):
            return CANCEL_SCOPES[0]
        scope = str(value).strip().lower()
        if scope not in CANCEL_SCOPES:
            raise ConnectionConfigError(
                f"Connection {self.seller_center_conn_id!r}: extra 'cancel_scope' is {value!r}; "
                f"it must be one of {', '.join(CANCEL_SCOPES)}."
            )
        return scope

    def warehouses(self) -> dict[str, str]:
        """The connection's extra ``warehouses``: which seller warehouse (its
        SellerWarehouseId) holds each business unit's stock, ``{"FACL": "<id>", ...}``, for
        stock corrections where a unit has several. Empty when unset."""
        from airflow_seller_provider.client.protocol import BUSINESS_UNITS

        value = (self._connection().extra_dejson or {}).get("warehouses")
        if _blank(value):
            return {}
        where = f"Connection {self.seller_center_conn_id!r}: extra 'warehouses'"
        example = '{"FACL": "<SellerWarehouseId>", "FACO": "<SellerWarehouseId>"}'
        if not isinstance(value, dict):
            raise ConnectionConfigError(
                f"{where} is {type(value).__name__} {str(value)[:80]!r}; give an object such "
                f"as {example}."
            )
        clean: dict[str, str] = {}
        for unit, warehouse_id in value.items():
            key = str(unit).strip().upper()
            if key not in BUSINESS_UNITS:
                raise ConnectionConfigError(
                    f"{where} names business unit {str(unit)[:20]!r}; the units are "
                    f"{', '.join(BUSINESS_UNITS)}. Give an object such as {example}."
                )
            if (
                not isinstance(warehouse_id, str | int)
                or isinstance(warehouse_id, bool)
                or (not str(warehouse_id).strip())
            ):
                raise ConnectionConfigError(
                    f"{where}: {key}'s warehouse is {str(warehouse_id)[:40]!r}; give the "
                    "seller warehouse id (SellerWarehouseId, as GetStock lists it) as text."
                )
            if key in clean:
                raise ConnectionConfigError(f"{where} names {key} twice.")
            clean[key] = str(warehouse_id).strip()
        return clean

    def get_conn(self) -> SellerCenterClient:
        """The client for this connection, built once per hook."""
        return self.client

    def test_connection(self) -> tuple[bool, str]:
        """One cheap signed read (GetFailureReasons): proves URL, UserID and API key."""
        try:
            reasons = self.get_conn().get_failure_reasons()
        except SellerCenterError as exc:
            return False, str(exc)
        except (ConnectionConfigError, ValueError, TypeError) as exc:
            return False, str(exc)
        return True, (
            f"Connected to Seller Center as {self.client.user_id}: "
            f"{len(reasons)} failure reasons listed."
        )
