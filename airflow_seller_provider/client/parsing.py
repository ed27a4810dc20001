"""Response bodies -> one normalised tree -> ``Response``, or a raised ``SellerCenterError``.

Both formats become the same tree, shaped like the API's JSON: an element with children is a
dict (a repeated tag is a list in document order, a single child the object itself), a leaf
is its text (``""`` when empty), and every value is a string. The envelope is detected by
content, never by the declared format or the HTTP status: some deployments send errors with
200, others with 4xx, and a gateway in front of the API may answer with an HTML page.

XML is parsed by lxml with entity resolution, DTD loading and network access off; any
document that carries a DOCTYPE is refused (billion laughs, external entities), never expanded.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from typing import Any, TypedDict, cast

from lxml import etree

from airflow_seller_provider.client import retry_policy
from airflow_seller_provider.client.errors import (
    ResponseError,
    SellerCenterError,
    error_for_code,
    error_of_kind,
    normalize_code,
)
from airflow_seller_provider.client.models import Response, as_list
from airflow_seller_provider.client.protocol import SIGNATURE_IN_TEXT

__all__ = [
    "ENVELOPES",
    "excerpt",
    "looks_like_html",
    "parse_json",
    "parse_response",
    "parse_xml",
    "redact",
]

ENVELOPES = ("SuccessResponse", "ErrorResponse")
EXCERPT_CHARS = 200
MAX_ERROR_DETAILS = 50
MAX_MESSAGE_CHARS = 500

_WHITESPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"
_CODE_IN_MESSAGE = re.compile(r"^\s*(E[0-9]{1,4})\b")
_CODE = re.compile(r"E[0-9]{3,4}")
# Only markers no Seller Center answer has (its XML has <Head> and <Body>).
_HTML_MARKERS = (b"<!doctype html", b"<html")
# The prolog: an XML declaration, whitespace, comments and processing instructions. The
# only other "<!" allowed before the root element is a DOCTYPE, which is refused unparsed:
# libxml2 reads external parameter entities of an internal subset even with entity
# resolution off, so a DTD must never reach the parser.
XML_PROLOG = re.compile(rb"(?:\s+|<!--.*?-->|<\?.*?\?>)*", re.DOTALL)
_local = threading.local()


# What makes the parser safe for answers from the network: no entity expansion, no DTD
# loading or validation, no network access, no default attributes from a DTD, lxml's
# size limits kept (no huge_tree); comments, processing instructions and ids are dropped.
class ParserOptions(TypedDict):
    resolve_entities: bool
    no_network: bool
    load_dtd: bool
    dtd_validation: bool
    attribute_defaults: bool
    huge_tree: bool
    remove_comments: bool
    remove_pis: bool
    collect_ids: bool


HARDENED_PARSER_OPTIONS: ParserOptions = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "attribute_defaults": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
    "collect_ids": False,
}


def hardened_xml_parser() -> etree.XMLParser:
    """lxml with ``HARDENED_PARSER_OPTIONS`` (the sandbox reads request bodies with it).

    One parser per thread: lxml serialises concurrent use of a shared parser."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(**HARDENED_PARSER_OPTIONS)
        _local.parser = parser
    return parser


# --------------------------------------------------------------------------- XML


def _children_to_dict(element: Any) -> dict[str, Any]:
    # The hot loop of every XML answer: most children are leaves, so they take the short
    # path; setdefault makes the common "new tag" case one dict operation.
    out: dict[str, Any] = {}
    setdefault = out.setdefault
    for child in element:
        value = _children_to_dict(child) if len(child) else (child.text or "")
        tag = child.tag
        previous = setdefault(tag, value)
        if previous is not value:
            if type(previous) is list:
                previous.append(value)
            else:
                out[tag] = [previous, value]
    return out


def parse_xml(data: bytes) -> tuple[str, dict[str, Any]] | None:
    """Parse an XML envelope: ``(root tag, tree)``; None when it is not an envelope.

    Raises ResponseError for a document with a DTD (refused before parsing, never
    expanded) or in an encoding that is not ASCII-compatible; lets
    ``etree.XMLSyntaxError`` through for a body that is not well-formed XML.
    """
    if data[1:2] == b"\x00" or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ResponseError("refused an XML answer in UTF-16/32; Seller Center sends UTF-8")
    prolog = XML_PROLOG.match(data, 3 if data.startswith(_BOM) else 0)
    if data.startswith(b"<!", prolog.end() if prolog else 0):
        raise _dtd_refused()
    root = etree.fromstring(data, hardened_xml_parser())
    docinfo = root.getroottree().docinfo
    # lxml's DocInfo has ``doctype``; lxml-stubs' does not declare it.
    if (
        cast(Any, docinfo).doctype
        or docinfo.internalDTD is not None
        or docinfo.externalDTD is not None
    ):
        raise _dtd_refused()
    tag = root.tag
    if tag not in ENVELOPES:
        return None
    tree = _children_to_dict(root) if len(root) else {}
    return tag, tree


def _dtd_refused() -> ResponseError:
    return ResponseError(
        "refused an XML answer that declares a DOCTYPE/DTD (entities are never expanded); "
        "Seller Center never sends one, so something between you and the API is tampering "
        "with the answer"
    )


# -------------------------------------------------------------------------- JSON


def parse_json(data: bytes) -> tuple[str, dict[str, Any]] | None:
    """Parse a JSON envelope: ``(envelope name, tree)``; None when it is not an envelope.

    Numbers keep their exact text (``parse_int``/``parse_float``); the rare ``true``,
    ``false`` and ``null`` are turned into strings by one in-place pass that only rewrites
    what is not already a string. Lets ``ValueError`` through for a body that is not JSON.
    """
    document = json.loads(data, parse_int=str, parse_float=str, parse_constant=str)
    if not isinstance(document, dict) or len(document) != 1:
        return None
    name, tree = next(iter(document.items()))
    if name not in ENVELOPES:
        return None
    if tree == "" or tree is None:
        tree = {}
    if not isinstance(tree, dict):
        return None
    # Numbers are already text; only true/false/null can leave a non-string, and a body
    # without those words (the usual case: a C-speed search) needs no pass at all.
    if b"null" in data or b"true" in data or b"false" in data:
        _stringify(tree)
    return name, tree


def _stringify(container: dict[str, Any] | list[Any]) -> None:
    # Replacing a value (not adding a key) while iterating a dict is allowed.
    if isinstance(container, dict):
        for key, value in container.items():
            if type(value) is not str:
                container[key] = _stringified(value)
    else:
        for index, value in enumerate(container):
            if type(value) is not str:
                container[index] = _stringified(value)


def _stringified(value: Any) -> Any:
    """A JSON value that is not a string: containers stringified in place, the rest text."""
    kind = type(value)
    if kind is dict or kind is list:
        _stringify(value)
        return value
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------- the envelope


def parse_response(
    data: bytes,
    *,
    action: str | None = None,
    http_status: int = 200,
    response_format: str | None = None,
    content_type: str | None = None,
    secrets: Iterable[str] = (),
) -> Response:
    """Read one answer. Returns the SuccessResponse; raises the error it describes.

    ``response_format`` is what was asked for; the body's own content decides how it is
    read. ``secrets`` are redacted from any excerpt quoted in an error.
    """
    start = _content_start(data)
    first = data[start : start + 1]
    if first == b"<" and not _html_prolog(data, start):
        try:
            # Leading whitespace or a BOM before "<?xml" is forgiven.
            parsed = parse_xml(data[start:] if start else data)
        except etree.XMLSyntaxError as exc:
            if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data[:4096]:
                raise _with_action(_dtd_refused(), action, http_status) from None
            raise _not_an_envelope(
                data, action, http_status, content_type, secrets, f"XML not well-formed ({exc})"
            ) from None
        except ResponseError as exc:
            raise _with_action(exc, action, http_status) from None
    elif first in (b"{", b"["):
        try:
            parsed = parse_json(data)
        except (ValueError, RecursionError) as exc:
            reason = f"JSON unreadable ({type(exc).__name__})"
            raise _not_an_envelope(
                data, action, http_status, content_type, secrets, reason
            ) from None
    else:
        parsed = None
    if parsed is None:
        reason = "empty body" if not data.strip() else f"not a {' or '.join(ENVELOPES)}"
        raise _not_an_envelope(data, action, http_status, content_type, secrets, reason)
    envelope, tree = parsed
    head = tree.get("Head")
    if not isinstance(head, dict):
        raise ResponseError(
            f"the {envelope} has no Head (HTTP {http_status}); "
            "this is not an answer Seller Center sends",
            action=action,
            http_status=http_status,
        )
    body = tree.get("Body", "")
    if envelope == "ErrorResponse":
        raise _error_from_envelope(head, body, action, http_status)
    return Response(
        action=action or _str(head.get("RequestAction")),
        head=head,
        body=body,
        http_status=http_status,
    )


def _error_from_envelope(
    head: dict[str, Any], body: Any, action: str | None, http_status: int
) -> SellerCenterError:
    message = redact(_str(head.get("ErrorMessage")).strip())[:MAX_MESSAGE_CHARS]
    try:
        code = normalize_code(_str(head.get("ErrorCode")))
    except ValueError:  # e.g. non-ASCII digits
        code = None
    if code is None or not _CODE.fullmatch(code):
        found = _CODE_IN_MESSAGE.match(message)
        if found:
            code = normalize_code(found.group(1))
    action = action or _str(head.get("RequestAction")) or None
    details = _error_details(body)
    if code is None:
        # An error envelope without a code: fall back on the HTTP status for its kind.
        text = message or "Seller Center answered with an ErrorResponse without a code"
        return error_of_kind(
            retry_policy.uncoded_envelope_rule(http_status),
            text,
            action=action,
            http_status=http_status,
            details=details,
        )
    return error_for_code(
        code,
        message or code,
        action=action,
        http_status=http_status,
        details=details,
    )


def _error_details(body: Any) -> list[dict[str, str]]:
    if not isinstance(body, dict):
        return []
    details = []
    for entry in as_list(body.get("ErrorDetail"))[:MAX_ERROR_DETAILS]:
        if isinstance(entry, dict):
            details.append({k: v for k, v in entry.items() if isinstance(v, str)})
    return details


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _content_start(data: bytes) -> int:
    start = 3 if data.startswith(_BOM) else 0
    length = len(data)
    while start < length and data[start] in _WHITESPACE:
        start += 1
    return start


def _with_action(error: SellerCenterError, action: str | None, status: int) -> SellerCenterError:
    error.action = error.action or action
    error.http_status = error.http_status or status
    return error


# ------------------------------------------------------- bodies that are no envelope


def _html_prolog(data: bytes, start: int) -> bool:
    # Only the very start counts: a product description may quote HTML inside CDATA.
    head = data[start : start + 512].lower()
    return head.startswith(b"<html") or b"<!doctype html" in head


def looks_like_html(data: bytes, content_type: str | None = None) -> bool:
    """A gateway or proxy page rather than an API answer (used once the body is known not
    to be an envelope, so a quoted HTML snippet inside a real answer cannot trip it)."""
    if content_type and "html" in content_type.lower():
        return True
    head = data[:1024].lower()
    return any(marker in head for marker in _HTML_MARKERS)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Blank out signatures and the given secrets (the API key) from text quoted in errors."""
    text = SIGNATURE_IN_TEXT.sub(r"\1[redacted]", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def excerpt(data: bytes, secrets: Iterable[str] = (), limit: int = EXCERPT_CHARS) -> str:
    """A short, printable, redacted quote of a body for an error message."""
    text = data[: limit * 4].decode("utf-8", "replace")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    text = redact(text, secrets)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _not_an_envelope(
    data: bytes,
    action: str | None,
    http_status: int,
    content_type: str | None,
    secrets: Iterable[str],
    reason: str,
) -> SellerCenterError:
    html = looks_like_html(data, content_type)
    quote = excerpt(data, secrets)
    what = "an HTML page" if html else reason
    text = f"HTTP {http_status} with {what}, not a Seller Center answer"
    if quote:
        text += f": {quote!r}"
    rule = retry_policy.non_envelope_rule(http_status, html)
    if rule is retry_policy.FAULTS["not_an_envelope"]:
        return error_of_kind(rule, text, action=action, http_status=http_status)
    if rule is retry_policy.FAULTS["html_4xx"]:
        # A 404/403 page from a web server: wrong base URL or a firewall, not transient.
        text += ". Check the base URL: it must point at the Seller Center API"
    code = f"HTTP_{http_status}"
    return error_of_kind(rule, text, code=code, action=action, http_status=http_status)
