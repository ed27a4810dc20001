"""`make demo`: run the example DAG once against a seeded local sandbox.

Starts the sandbox on a free loopback port, points ``seller_center_default`` at it through
``AIRFLOW_CONN_SELLER_CENTER_DEFAULT``, runs ``airflow dags test cancel_short_stock_items``
in a throw-away AIRFLOW_HOME, prints the summary and the sandbox's before/after counts of
canceled items, and stops the sandbox.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
USER_ID = "demo@example.com"
API_KEY = "demo-api-key-not-a-secret"


def canceled_count(url: str) -> int:
    with urllib.request.urlopen(f"{url}_sandbox/state", timeout=10) as answer:
        state = json.load(answer)
    return sum(
        1 for order in state["orders"] for item in order["items"] if item["status"] == "canceled"
    )


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="seller-demo-"))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    }
    print(f"Airflow home: {home}; migrating its metadata DB...", flush=True)
    subprocess.run(
        [BIN / "airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=300
    )
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "airflow_seller_provider.sandbox", "--host", "127.0.0.1",
         "--port", "0", "--user-id", USER_ID, "--api-key", API_KEY, "--seed", "7",
         "--orders", "200", "--rate-limit", "50"],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        first = sandbox.stdout.readline() if sandbox.stdout else ""
        match = re.search(r"(http://\S+/)", first)
        if not match:
            print(f"The sandbox did not start: {first!r}", file=sys.stderr)
            return 1
        url = match.group(1)
        print(first.strip(), flush=True)
        env["AIRFLOW_CONN_SELLER_CENTER_DEFAULT"] = json.dumps(
            {
                "conn_type": "seller_center",
                "host": url,
                "login": USER_ID,
                "password": API_KEY,
                "extra": {"seller_id": "DEMO01", "business_unit": "FACL", "rate_limit": 40},
            }
        )
        before = canceled_count(url)
        print("Running: airflow dags test cancel_short_stock_items ...", flush=True)
        log_path = home / "dags-test.log"
        with log_path.open("w") as log:
            run = subprocess.run(
                [BIN / "airflow", "dags", "test", "cancel_short_stock_items"],
                env=env, stdout=log, stderr=subprocess.STDOUT, timeout=900, check=False,
            )  # fmt: skip
        after = canceled_count(url)
        text = log_path.read_text(errors="replace")
        summary = re.findall(r"Summary: (pending=\d+(?: \w+=\d+)*)", text)
        print(f"Summary: {summary[-1] if summary else '(not found: see the log)'}")
        print(f"Sandbox canceled items: before={before} after={after} (+{after - before})")
        print(f"Full log: {log_path}")
        if run.returncode != 0:
            print(f"airflow dags test exited {run.returncode}", file=sys.stderr)
            return run.returncode
        return 0
    finally:
        sandbox.terminate()
        try:
            sandbox.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sandbox.kill()


if __name__ == "__main__":
    sys.exit(main())
