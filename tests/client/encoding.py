"""Values that are hard to percent-encode, and an RFC 3986 encoder written independently of
the client's, shared by the signing and the loopback tests."""

from __future__ import annotations

TRICKY = [
    "two words",
    "!'()*~",
    "a+b",
    "x&y=z",
    "100%",
    "Canción ñandú 東京",
    'quote " and \\ backslash',
    "line\nbreak\ttab",
    "emoji 🚚",
]
UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def rfc3986(text: str) -> str:
    """An encoder written independently of the client's, byte by byte."""
    return "".join(chr(b) if b in UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))
