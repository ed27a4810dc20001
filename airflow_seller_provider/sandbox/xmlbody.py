"""Request bodies in XML (UpdateStock's), parsed as the client parses answers: lxml with
entity resolution, DTD loading and network access off, and any document that carries a
DOCTYPE refused before it reaches the parser (billion laughs, external entities)."""

from __future__ import annotations

import re
import threading
from typing import Any

from lxml import etree

# The prolog: an XML declaration, whitespace, comments and processing instructions. Any
# other "<!" before the root element is a DOCTYPE: refused unparsed, since libxml2 reads
# external parameter entities of an internal subset even with entity resolution off.
_PROLOG = re.compile(rb"(?:\s+|<!--.*?-->|<\?.*?\?>)*", re.DOTALL)
_BOM = b"\xef\xbb\xbf"
_local = threading.local()


class BodyError(ValueError):
    """The body is not a well-formed, DTD-free XML document in UTF-8."""


def _parser() -> etree.XMLParser:
    # One parser per thread: lxml serialises concurrent use of a shared parser.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            attribute_defaults=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


def parse(data: bytes) -> Any:
    """The root element of ``data``; BodyError when it cannot be read safely."""
    if data[1:2] == b"\x00" or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise BodyError("the body must be UTF-8")
    prolog = _PROLOG.match(data, 3 if data.startswith(_BOM) else 0)
    if data.startswith(b"<!", prolog.end() if prolog else 0):
        raise BodyError("a DOCTYPE is not allowed")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError:
        raise BodyError("the body is not well-formed XML") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise BodyError("a DOCTYPE is not allowed")
    return root


def child_text(element: Any, tag: str) -> str | None:
    """The text of ``element``'s first ``tag`` child ("" when empty), None when absent."""
    child = element.find(tag)
    if child is None:
        return None
    return child.text or ""
