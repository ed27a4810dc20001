"""An independent Seller Center client for the sandbox tests.

It signs with hmac/hashlib itself (not the project's signing module), so that the tests check
the sandbox against the documented protocol rather than against the project's own code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import requests

TIMEOUT = 10
UNRESERVED = "-._~"  # with A-Z a-z 0-9: what RFC 3986 leaves unencoded


def encode(text: str) -> str:
    return quote(text, safe=UNRESERVED, encoding="utf-8")


def string_to_sign(params: dict[str, str]) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    pairs.sort(key=lambda kv: kv[0].encode("utf-8"))
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in pairs)


def signature(params: dict[str, str], api_key: str) -> str:
    message = string_to_sign(params).encode("utf-8")
    return hmac.new(api_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def timestamp(shift: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + shift).replace(microsecond=0).isoformat()


def query_string(params: dict[str, str]) -> str:
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in params.items())


def to_tree(element: ET.Element) -> Any:
    """XML to the JSON form's shape: text leaves, one child an object, several a list,
    an empty element ""."""
    children = list(element)
    if not children:
        return element.text or ""
    tree: dict[str, Any] = {}
    repeated: set[str] = set()
    for child in children:
        value = to_tree(child)
        if child.tag not in tree:
            tree[child.tag] = value
        elif child.tag in repeated:
            tree[child.tag].append(value)
        else:
            tree[child.tag] = [tree[child.tag], value]
            repeated.add(child.tag)
    return tree


def as_list(value: Any) -> list[Any]:
    if value in (None, ""):
        return []
    return value if isinstance(value, list) else [value]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    content: bytes
    tree: dict[str, Any] | None = field(default=None)

    @property
    def kind(self) -> str | None:
        return next(iter(self.tree)) if self.tree else None

    @property
    def head(self) -> dict[str, Any]:
        return self.tree[self.kind]["Head"]

    @property
    def body(self) -> Any:
        return self.tree[self.kind]["Body"]

    @property
    def ok(self) -> bool:
        return self.kind == "SuccessResponse"

    @property
    def code(self) -> str | None:
        """``E028`` for an ErrorResponse, else None."""
        if self.kind != "ErrorResponse":
            return None
        return f"E{int(self.head['ErrorCode']):03d}"

    @property
    def message(self) -> str:
        return self.head.get("ErrorMessage", "") if self.kind == "ErrorResponse" else ""


def parse(status: int, headers: dict[str, str], content: bytes) -> Reply:
    ctype = headers.get("Content-Type", "")
    tree = None
    if ctype.startswith("application/json"):
        tree = json.loads(content.decode("utf-8"))
    elif ctype.startswith("application/xml"):
        root = ET.fromstring(content)
        tree = {root.tag: to_tree(root)}
    return Reply(status, headers, content, tree)


class Client:
    """Builds, signs and sends requests; every knob is exposed so tests can break them."""

    def __init__(self, url: str, user_id: str, api_key: str, fmt: str = "XML") -> None:
        self.url = url
        self.user_id = user_id
        self.api_key = api_key
        self.fmt = fmt
        self.session = requests.Session()

    def params(self, action: str | None, fmt: str | None = None, **extra: str) -> dict[str, str]:
        params = {
            "Format": fmt or self.fmt,
            "Timestamp": timestamp(),
            "UserID": self.user_id,
            "Version": "1.0",
            **{k: str(v) for k, v in extra.items()},
        }
        if action is not None:
            params["Action"] = action
        return params

    def signed(self, params: dict[str, str]) -> dict[str, str]:
        return {**params, "Signature": signature(params, self.api_key)}

    def send(self, params: dict[str, str], method: str = "GET", sign: bool = True) -> Reply:
        final = self.signed(params) if sign else params
        return self.send_query(query_string(final), method)

    def send_query(
        self,
        query: str,
        method: str = "GET",
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        response = self.session.request(
            method, f"{self.url}?{query}", data=data, headers=headers, timeout=TIMEOUT
        )
        return parse(response.status_code, dict(response.headers), response.content)

    def post_body(
        self,
        action: str,
        body: bytes,
        user_agent: str | None = None,
        fmt: str | None = None,
        **extra: Any,
    ) -> Reply:
        """A signed POST whose body (never signed) is ``body``."""
        headers = {"Content-Type": "application/xml; charset=utf-8"}
        if user_agent is not None:
            headers["User-Agent"] = user_agent
        query = query_string(self.signed(self.params(action, fmt, **extra)))
        return self.send_query(query, "POST", body, headers)

    def call(self, action: str, method: str = "GET", fmt: str | None = None, **extra: Any) -> Reply:
        return self.send(self.params(action, fmt, **extra), method)

    def cancel(self, item_id: Any, reason: str = "SHORTAGE", **extra: Any) -> Reply:
        return self.call("SetStatusToCanceled", "POST", OrderItemId=item_id, Reason=reason, **extra)


def raw_http(port: int, request: bytes, timeout: float = 5) -> bytes:
    """Send raw bytes and read until the server closes or answers one response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not data:
                break
            chunks.append(data)
            if _complete(b"".join(chunks)):
                break
        return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def items_by_id(state: dict[str, Any]) -> dict[int, tuple[dict[str, Any], dict[str, Any]]]:
    return {i["order_item_id"]: (o, i) for o in state["orders"] for i in o["items"]}


def pick_items(
    state: dict[str, Any], seller_id: str, *, status: str = "pending", fulfillment: bool = False
) -> list[dict[str, Any]]:
    return [
        i
        for o in state["orders"]
        if o["seller_id"] == seller_id
        for i in o["items"]
        if i["status"] == status and (i["shipping_type"] == "Fulfillment") == fulfillment
    ]


# Each business unit's country's time zone: body dates are local time without an offset.
ZONES = {"facl": "America/Santiago", "faco": "America/Bogota", "fape": "America/Lima"}
DATE = "%Y-%m-%d %H:%M:%S"


def local(stored_utc: str, operator_code: str) -> str:
    """A state date (UTC) as an answer shows it for an order of ``operator_code``."""
    if not stored_utc:
        return ""
    moment = datetime.strptime(stored_utc, DATE).replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(ZONES[operator_code.lower()])).strftime(DATE)


def utc(local_text: str, operator_code: str) -> str:
    """An answer's local date back to the state's UTC form."""
    moment = datetime.strptime(local_text, DATE).replace(tzinfo=ZoneInfo(ZONES[operator_code]))
    return moment.astimezone(UTC).strftime(DATE)


def without_stock(state: dict[str, Any]) -> dict[str, Any]:
    """The state less the products' derived ``stock`` (what a load keeps)."""
    return {
        **state,
        "products": [
            {k: v for k, v in p.items() if k != "stock"} for p in state.get("products", [])
        ],
    }
