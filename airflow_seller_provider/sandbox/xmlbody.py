"""Request bodies in XML (UpdateStock's), parsed as the client parses answers: lxml with
entity resolution, DTD loading and network access off, and any document that carries a
DOCTYPE refused before it reaches the parser (billion laughs, external entities)."""

from __future__ import annotations

from typing import Any

from lxml import etree

# The same hardening as the client's answers: one definition of what is safe to parse.
from airflow_seller_provider.client.parsing import XML_PROLOG, hardened_xml_parser

_BOM = b"\xef\xbb\xbf"


class BodyError(ValueError):
    """The body is not a well-formed, DTD-free XML document in UTF-8."""


def parse(data: bytes) -> Any:
    """The root element of ``data``; BodyError when it cannot be read safely."""
    if data[1:2] == b"\x00" or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise BodyError("the body must be UTF-8")
    prolog = XML_PROLOG.match(data, 3 if data.startswith(_BOM) else 0)
    if data.startswith(b"<!", prolog.end() if prolog else 0):
        raise BodyError("a DOCTYPE is not allowed")
    try:
        root = etree.fromstring(data, hardened_xml_parser())
    except etree.XMLSyntaxError:
        raise BodyError("the body is not well-formed XML") from None
    docinfo = root.getroottree().docinfo
    doctype = docinfo.doctype  # type: ignore[union-attr]  # lxml-stubs lacks DocInfo.doctype
    if doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise BodyError("a DOCTYPE is not allowed")
    return root


def child_text(element: Any, tag: str) -> str | None:
    """The text of ``element``'s first ``tag`` child ("" when empty), None when absent."""
    child = element.find(tag)
    if child is None:
        return None
    return child.text or ""
