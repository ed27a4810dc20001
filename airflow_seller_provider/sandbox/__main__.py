"""``python -m airflow_seller_provider.sandbox`` (also the ``seller-center-sandbox`` script).

Prints ``Seller Center sandbox listening on http://HOST:PORT/`` as its first line of standard
output, serves until SIGTERM or SIGINT, then saves the state to ``--state`` if given.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from airflow_seller_provider.sandbox.faults import ALL_KINDS
from airflow_seller_provider.sandbox.seed import BUSINESS_UNITS, seed_state
from airflow_seller_provider.sandbox.server import SandboxServer
from airflow_seller_provider.sandbox.store import (
    CANCEL_SCOPES,
    DEFAULT_NEGATIVE_STOCK,
    NEGATIVE_STOCK,
    Store,
)

DEFAULT_USER_ID = "sandbox@example.com"
DEFAULT_API_KEY = "sandbox-api-key"


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be within 0..1")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = set(kinds) - set(ALL_KINDS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown kinds {sorted(unknown)}")
    return kinds


def _units(text: str) -> tuple[str, ...]:
    units = tuple(dict.fromkeys(u.strip().upper() for u in text.split(",") if u.strip()))
    unknown = set(units) - set(BUSINESS_UNITS)
    if unknown or not units:
        raise argparse.ArgumentTypeError(f"units must be among {','.join(BUSINESS_UNITS)}")
    return units


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seller-center-sandbox",
        description="A local Seller Center API that speaks the real protocol, for tests.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    add("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    add("--user-id", default=DEFAULT_USER_ID, help="UserID of the admin API user")
    add("--api-key", default=DEFAULT_API_KEY, help="that user's API key")
    add("--seed", type=int, default=1, help="seed of the generated data and faults")
    add("--orders", type=int, default=200, help="orders of the main seller (default 200)")
    add(
        "--business-unit",
        choices=BUSINESS_UNITS,
        default="FACL",
        help="the seller's default business unit (User-Agent fallback; default FACL)",
    )
    add(
        "--business-units",
        type=_units,
        default=BUSINESS_UNITS,
        help="comma-separated units the seller sells in (default FACL,FACO,FAPE)",
    )
    add(
        "--negative-stock",
        choices=NEGATIVE_STOCK,
        default=DEFAULT_NEGATIVE_STOCK,
        help="report a stock below zero as 0 (clamp) or as is (show); "
        f"default {DEFAULT_NEGATIVE_STOCK}",
    )
    add(
        "--cancel-scope",
        choices=CANCEL_SCOPES,
        default="item",
        help="a cancel takes one item (item, default) or its pending package (package)",
    )
    add("--latency-ms", type=_non_negative, default=0.0, help="added to every API answer")
    add("--rate-limit", type=float, default=None, help="requests per second per user")
    add("--fault-rate", type=_fraction, default=0.0, help="fraction of API requests that fail")
    add(
        "--fault-delay-s",
        type=_non_negative,
        default=40.0,
        help="how long a 'delayed answer' fault waits (default 40)",
    )
    add(
        "--fault-kinds",
        type=_kinds,
        default=None,
        help=f"comma-separated kinds of fault to draw from (default all: {','.join(ALL_KINDS)})",
    )
    add("--state", type=Path, default=None, help="JSON state: loaded if present, saved on exit")
    add("-v", "--verbose", action="store_true", help="log every request to standard error")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.state is not None and args.state.exists():
            state = Store.read_file(args.state)
        else:
            state = seed_state(
                user_id=args.user_id,
                api_key=args.api_key,
                seed=args.seed,
                orders=args.orders,
                business_unit=args.business_unit,
                business_units=args.business_units,
            )
        store = Store(state, negative_stock=args.negative_stock, cancel_scope=args.cancel_scope)
        server = SandboxServer(
            store,
            host=args.host,
            port=args.port,
            seed=args.seed,
            latency_ms=args.latency_ms,
            rate_limit=args.rate_limit,
            fault_rate=args.fault_rate,
            fault_delay_s=args.fault_delay_s,
            fault_kinds=args.fault_kinds,
            primary_user=(args.user_id, args.api_key),
        )
    except (OSError, ValueError) as exc:
        print(f"seller-center-sandbox: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    print(f"Seller Center sandbox listening on {server.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        if args.state is not None:
            store.save(args.state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
