"""Envelopes in XML and JSON, with the API's quirks.

A body is a tree of plain values: a dict is an element with children in order, a list under
a key is that element repeated, a str is text, None or "" an empty element. JSON follows the
API: every value a string, a list of one an object, an empty element or list ``""``.
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.sax.saxutils import escape

from airflow_seller_provider.sandbox.dates import head_timestamp
from airflow_seller_provider.sandbox.errors import ApiError

Node = dict[str, Any] | list[Any] | str | None
XML_TYPE = "application/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
# Characters XML 1.0 cannot carry, even escaped; they become U+FFFD.
_REPLACEMENT = "\ufffd"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def success(
    action: str, response_type: str, body: Node, fmt: str, head_extra: dict[str, str] | None = None
) -> tuple[bytes, str]:
    head = {
        "RequestId": None,
        "RequestAction": action,
        "ResponseType": response_type,
        "Timestamp": head_timestamp(),
        **(head_extra or {}),
    }
    return envelope("SuccessResponse", {"Head": head, "Body": body}, fmt)


def error(err: ApiError, action: str, fmt: str) -> tuple[bytes, str]:
    head = {
        "RequestAction": action,
        "ErrorType": err.error_type,
        "ErrorCode": str(err.code),
        "ErrorMessage": err.message,
    }
    body = {"ErrorDetail": err.details} if err.details else None
    return envelope("ErrorResponse", {"Head": head, "Body": body}, fmt)


def envelope(root: str, tree: dict[str, Any], fmt: str) -> tuple[bytes, str]:
    """``(body bytes, content type)``."""
    if fmt == "JSON":
        text = json.dumps({root: to_json(tree)}, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8"), JSON_TYPE
    return to_xml(root, tree).encode("utf-8"), XML_TYPE


def to_xml(root: str, node: Node) -> str:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    _xml(parts, root, node)
    # One pass over the whole text for the characters XML cannot carry (tag names are
    # ASCII), instead of one per value: the same text, at a fraction of the cost.
    return _NOT_XML.sub(_REPLACEMENT, "".join(parts))


def _xml(parts: list[str], name: str, node: Node) -> None:
    # Hot: every value of every answer. Text comes first, as most nodes are text.
    if isinstance(node, str):
        if not node:
            parts.append(f"<{name}/>")
        elif "&" in node or "<" in node or ">" in node:
            parts.append(f"<{name}>{escape(node)}</{name}>")
        else:
            parts.append(f"<{name}>{node}</{name}>")
    elif isinstance(node, list):
        for child in node:
            _xml(parts, name, child)
    elif _empty(node):
        parts.append(f"<{name}/>")
    elif isinstance(node, dict):
        parts.append(f"<{name}>")
        for key, child in node.items():
            _xml(parts, key, child)
        parts.append(f"</{name}>")
    else:
        parts.append(f"<{name}>{escape(str(node))}</{name}>")


def _empty(node: Node) -> bool:
    if node is None or node == "":
        return True
    if isinstance(node, dict):
        return all(isinstance(v, list) and not v for v in node.values())
    return False


def to_json(node: Node) -> Any:
    if node is None:
        return ""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, child in node.items():
            if isinstance(child, list):
                if child:
                    values = [to_json(c) for c in child]
                    out[key] = values[0] if len(values) == 1 else values
            else:
                out[key] = to_json(child)
        return out or ""
    return str(node)
