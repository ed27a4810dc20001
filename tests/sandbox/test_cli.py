"""The command line: first line, serving, SIGTERM/SIGINT, --state persistence."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import requests

from ..e2e.helpers import declared_less_reserved
from .helpers import Client, pick_items

LINE = re.compile(r"^Seller Center sandbox listening on (http://127\.0\.0\.1:(\d+)/)$")


def start(*args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_seller_provider.sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(process.stdout.readline()))
    reader.start()
    reader.join(timeout=20)
    assert first, "no first line within 20 s"
    match = LINE.match(first[0].rstrip("\n"))
    assert match, first[0]
    return process, match.group(1)


def stop(process: subprocess.Popen, signum: int) -> None:
    process.send_signal(signum)
    assert process.wait(timeout=15) == 0, process.stderr.read()


def test_serve_cancel_stop_restart_keeps_the_state(tmp_path: Path):
    state_file = tmp_path / "state.json"
    creds = ["--user-id", "cli@example.com", "--api-key", "cli-key"]
    process, url = start(*creds, "--seed", "4", "--orders", "30", "--state", str(state_file))
    try:
        assert requests.get(f"{url}_sandbox/health", timeout=5).json() == {"status": "ok"}
        state = requests.get(f"{url}_sandbox/state", timeout=5).json()
        seller = next(u["seller_id"] for u in state["users"] if u["user_id"] == "cli@example.com")
        # the default clamps: no stock below zero, though some SKUs are oversold
        assert min(declared_less_reserved(state, "cli@example.com").values()) < 0
        assert min(v for p in state["products"] for v in p["stock"].values()) == 0
        target = pick_items(state, seller)[0]["order_item_id"]
        client = Client(url, "cli@example.com", "cli-key")
        assert client.cancel(target).ok
        client.session.close()
    finally:
        stop(process, signal.SIGTERM)
    saved = json.loads(state_file.read_text(encoding="utf-8"))
    assert saved["cancellations"] == {str(target): 1}

    process, url = start(*creds, "--state", str(state_file))
    try:
        client = Client(url, "cli@example.com", "cli-key")
        assert client.cancel(target).code == "E028"
        assert requests.get(f"{url}_sandbox/cancellations", timeout=5).json() == {str(target): 1}
        client.session.close()
    finally:
        stop(process, signal.SIGINT)


def test_bad_arguments_exit_with_usage():
    done = subprocess.run(
        [sys.executable, "-m", "airflow_seller_provider.sandbox", "--fault-rate", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "fault-rate" in done.stderr and done.stdout == ""


def test_an_unreadable_state_file_is_reported(tmp_path: Path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"orders": {}}', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "airflow_seller_provider.sandbox", "--state", str(broken)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "orders" in done.stderr


def test_the_console_script_is_declared():
    script = Path(sys.executable).with_name("seller-center-sandbox")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "--fault-delay-s" in done.stdout


def test_stock_and_scope_flags(tmp_path: Path):
    creds = ["--user-id", "cli@example.com", "--api-key", "cli-key"]
    process, url = start(
        *creds,
        "--seed",
        "2",
        "--orders",
        "60",
        "--business-unit",
        "FACO",
        "--business-units",
        "faco,FAPE",
        "--negative-stock",
        "show",
        "--cancel-scope",
        "package",
    )
    try:
        state = requests.get(f"{url}_sandbox/state", timeout=5).json()
        main = state["sellers"][0]
        assert (main["business_unit"], main["business_units"]) == ("FACO", ["FACO", "FAPE"])
        mine = [o for o in state["orders"] if o["seller_id"] == main["seller_id"]]
        assert {o["operator_code"] for o in mine} == {"faco", "fape"}
        # show: a stock below zero where a quantity is under its reservations
        stock = [v for p in state["products"] for v in p["stock"].values()]
        assert min(stock) < 0
        # package scope: a pending order of two seller-shipped items in one package
        order = next(
            o
            for o in mine
            if o["shipping_type"] != "Own Warehouse"
            and len(o["items"]) >= 2
            and o["items"][0]["package_id"] == o["items"][1]["package_id"]
            and o["items"][0]["status"] == o["items"][1]["status"] == "pending"
        )
        client = Client(url, "cli@example.com", "cli-key")
        reply = client.cancel(order["items"][0]["order_item_id"])
        assert reply.ok and len(reply.body["OrderItems"]["OrderItem"]) >= 2
        client.session.close()
    finally:
        stop(process, signal.SIGTERM)


def test_bad_stock_flags_exit_with_usage():
    for flag, value in (
        ("--negative-stock", "hide"),
        ("--cancel-scope", "order"),
        ("--business-units", "FACL,FABR"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "airflow_seller_provider.sandbox", flag, value],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2 and flag in done.stderr and done.stdout == ""
