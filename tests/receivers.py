"""Servers the notification tests run on 127.0.0.1: an SMTP server (aiosmtpd) that keeps
what it receives, and a Slack incoming-webhook receiver."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any


class Mailbox:
    """What the SMTP server received: (recipients, message), in order."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.mails.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def find(self, pattern: str) -> tuple[list[str], Any] | None:
        """The first mail whose subject matches ``pattern``."""
        for to, mail in self.mails:
            if re.search(pattern, str(mail["Subject"])):
                return to, mail
        return None


def html_of(mail: Any) -> str:
    (part,) = [p for p in mail.walk() if p.get_content_type() == "text/html"]
    return part.get_payload(decode=True).decode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def receivers(secret: str) -> Iterator[tuple[Mailbox, list[dict[str, Any]], int, str]]:
    """(the mailbox, the Slack payloads received, the SMTP port, the webhook URL, which
    ends with ``secret`` as a real webhook ends with its token)."""
    from aiosmtpd.controller import Controller

    received: list[dict[str, Any]] = []

    class Slack(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    box = Mailbox()
    port = free_port()
    smtp = Controller(box, hostname="127.0.0.1", port=port)
    smtp.start()
    http = HTTPServer(("127.0.0.1", 0), Slack)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        yield box, received, port, f"http://127.0.0.1:{http.server_port}/services/{secret}"
    finally:
        http.shutdown()
        smtp.stop()
