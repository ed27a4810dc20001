"""``make test-dist``: the built wheel, installed as a user installs it, works beside Airflow.

For each Airflow line (3.3, plain; 2.11 with requirements/airflow2.constraints, which keeps
cryptography below 51) it makes a fresh venv with uv and installs the wheel, not editable,
from a temp dir (so no checkout is on ``sys.path``), beside that Airflow. Then, with
``AIRFLOW_HOME`` a temp dir and its DB migrated:

1. the package is imported from the venv's site-packages, not from a checkout;
2. ``airflow providers list`` shows the provider with the wheel's version;
3. ``airflow providers hooks`` lists the connection type ``seller_center``;
4. a ``seller_center`` connection with a password is stored in the metadata DB and read back
   (what cryptography 51 breaks on Airflow 2.11.2);
5. the example DAG files, copied alone into a fresh DAGs folder, parse with no import error;
6. a dry run of ``cancel_short_stock_items`` against the sandbox the wheel ships (its console
   script ``seller-center-sandbox``) exits 0, logs its ``Summary:`` line, and cancels nothing.

Stdlib only. Usage: ``test_dist.py --uv UV --dist DIST [--only airflow3|airflow2] [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DIST_NAME = "airflow-seller-provider"
DAG_ID = "cancel_short_stock_items"
EXAMPLE_DAGS = {
    "cancel_short_stock_items",
    "cancel_short_stock_on_warehouse_load",
    "seller_center_cancellations_consumer",
}
SANDBOX_USER = "sandbox@example.com"
SANDBOX_KEY = "sandbox-api-key"
SANDBOX_BUSINESS_UNIT = "FACL"
SUMMARY = re.compile(r"Summary: (pending=\d+(?: \w+=\d+)*)")

INSTALL_TIMEOUT = 900
CLI_TIMEOUT = 300
DAG_TEST_TIMEOUT = 600
SANDBOX_START_TIMEOUT = 60


class Failure(Exception):
    """A check that failed, with what was seen."""


@dataclass(frozen=True)
class Flavor:
    name: str
    airflow: str  # the apache-airflow requirement installed beside the wheel
    constraints: Path
    local_flag: tuple[str, ...]  # `dags list`/`list-import-errors` parse local files (3.x: -l)


def pinned(lock: str, name: str) -> str:
    match = re.search(rf"^{re.escape(name)}==(\S+)$", (REPO / lock).read_text(), re.M)
    if match is None:
        raise SystemExit(f"{lock} pins no {name}")
    return match.group(1)


def flavors() -> list[Flavor]:
    return [
        Flavor(
            "airflow3",
            f"apache-airflow=={pinned('requirements/ci-lock.txt', 'apache-airflow')}",
            REPO / "requirements/airflow3.constraints",
            ("-l",),
        ),
        Flavor(
            "airflow2",
            f"apache-airflow=={pinned('requirements/airflow2-lock.txt', 'apache-airflow')}",
            REPO / "requirements/airflow2.constraints",
            (),
        ),
    ]


def say(text: str) -> None:
    print(f"test-dist: {text}", flush=True)


@contextmanager
def step(what: str) -> Iterator[None]:
    start = time.monotonic()
    say(f"{what}...")
    yield
    say(f"  ok ({time.monotonic() - start:.1f} s)")


def run(
    args: Sequence[str | Path],
    *,
    env: dict[str, str],
    cwd: Path,
    timeout: float,
    what: str,
    log: Path | None = None,
) -> str:
    """Run a command; its stdout (and stderr) go to ``log`` if given. Fails with the tail of
    its output when it exits non-zero or outlives ``timeout``."""
    command = [str(a) for a in args]
    try:
        done = subprocess.run(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise Failure(f"{what}: no end after {timeout:.0f} s: {' '.join(command)}") from exc
    except OSError as exc:
        raise Failure(f"{what}: cannot run {' '.join(command)}: {exc}") from exc
    output = done.stdout + done.stderr
    if log is not None:
        log.write_text(output)
    if done.returncode != 0:
        where = f" (full output: {log})" if log else ""
        raise Failure(
            f"{what}: exit code {done.returncode}{where}: {' '.join(command)}\n{output[-4000:]}"
        )
    return done.stdout


def json_output(text: str, what: str) -> Any:
    """The JSON value an Airflow CLI printed (``-o json``): the first line from which the
    rest of its output reads as JSON (log lines and warnings may come before it)."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.startswith(("[", "{")):
            try:
                return json.loads("".join(lines[index:]))
            except json.JSONDecodeError:
                continue
    raise Failure(f"{what}: no JSON in its output:\n{text[-2000:]}")


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment without anything that points Python or Airflow elsewhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV", "CONDA"))
    }
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    env.update(extra)
    return env


def install(uv: str, wheel: Path, flavor: Flavor, venv: Path, work: Path) -> None:
    env = clean_env({})
    run(
        [uv, "venv", "--quiet", "--python", sys.executable, venv],
        env=env,
        cwd=work,
        timeout=CLI_TIMEOUT,
        what="uv venv",
    )
    run(
        [uv, "pip", "install", "--python", venv / "bin/python", wheel, flavor.airflow]
        + ["--constraint", flavor.constraints],
        env=env,
        cwd=work,
        timeout=INSTALL_TIMEOUT,
        what=f"installing the wheel beside {flavor.airflow}",
        log=work / f"{flavor.name}-install.log",
    )


PROBE = """
import importlib.metadata as m, json, sys
import airflow_seller_provider as p
d = m.distribution("airflow-seller-provider")
print(json.dumps({
    "file": p.__file__, "version": p.__version__, "dist_version": d.version,
    "direct_url": d.read_text("direct_url.json"), "sys_path": sys.path,
    "versions": {n: m.version(n) for n in (
        "apache-airflow", "apache-airflow-providers-common-compat", "cryptography")},
}))
"""


def check_installed(venv: Path, version: str, env: dict[str, str], work: Path) -> None:
    found = json_output(
        run([venv / "bin/python", "-c", PROBE], env=env, cwd=work, timeout=120, what="probe"),
        "probe",
    )
    site = (venv / "lib").resolve()
    if not Path(found["file"]).resolve().is_relative_to(site):
        raise Failure(f"airflow_seller_provider imported from {found['file']}, not {site}")
    if found["version"] != version or found["dist_version"] != version:
        raise Failure(f"installed version {found['dist_version']} / {found['version']}")
    if found["direct_url"] and json.loads(found["direct_url"]).get("dir_info", {}).get("editable"):
        raise Failure("the provider is installed editable")
    on_path = [p for p in found["sys_path"] if p and Path(p).resolve().is_relative_to(REPO)]
    if on_path:
        raise Failure(f"the checkout is on sys.path: {on_path}")
    say(f"  installed: {DIST_NAME} {version} from {found['file']}")
    say(f"  beside: {', '.join(f'{n} {v}' for n, v in found['versions'].items())}")


def check_provider(airflow: Path, version: str, env: dict[str, str], work: Path) -> None:
    providers = json_output(
        run(
            [airflow, "providers", "list", "-o", "json"],
            env=env,
            cwd=work,
            timeout=CLI_TIMEOUT,
            what="airflow providers list",
        ),
        "airflow providers list",
    )
    ours = [p for p in providers if p.get("package_name") == DIST_NAME]
    if [p.get("version") for p in ours] != [version]:
        raise Failure(f"airflow providers list shows {ours or 'no ' + DIST_NAME}, not {version}")
    say(f"  airflow providers list: {DIST_NAME} {version}")
    hooks = json_output(
        run(
            [airflow, "providers", "hooks", "-o", "json"],
            env=env,
            cwd=work,
            timeout=CLI_TIMEOUT,
            what="airflow providers hooks",
        ),
        "airflow providers hooks",
    )
    types = [h for h in hooks if h.get("connection_type") == "seller_center"]
    if len(types) != 1 or not str(types[0].get("class", "")).endswith(".SellerCenterHook"):
        raise Failure(f"airflow providers hooks: seller_center is {types or 'not listed'}")
    say(f"  airflow providers hooks: seller_center -> {types[0]['class']}")


def check_stored_connection(airflow: Path, env: dict[str, str], work: Path) -> None:
    """A seller_center connection with a password is stored (encrypted) and read back: what
    cryptography 51 breaks on Airflow 2.11.2 (``MultiFernet`` has no ``is_encrypted``)."""
    run(
        [airflow, "connections", "add", "seller_center_stored", "--conn-type", "seller_center"]
        + ["--conn-host", "https://sellercenter-api.falabella.com/"]
        + ["--conn-login", "api-user@example.com", "--conn-password", "not-a-real-key"]
        + ["--conn-extra", json.dumps({"seller_id": "JJJ123", "business_unit": "FACL"})],
        env=env,
        cwd=work,
        timeout=CLI_TIMEOUT,
        what="airflow connections add (with a password)",
    )
    (stored,) = json_output(
        run(
            [airflow, "connections", "get", "seller_center_stored", "-o", "json"],
            env=env,
            cwd=work,
            timeout=CLI_TIMEOUT,
            what="airflow connections get",
        ),
        "airflow connections get",
    )
    if stored.get("conn_type") != "seller_center" or not stored.get("is_encrypted"):
        raise Failure(f"the stored connection reads back as {stored}")
    say("  a seller_center connection with a password is stored encrypted and read back")


def check_dags_parse(airflow: Path, flavor: Flavor, env: dict[str, str], work: Path) -> None:
    errors = json_output(
        run(
            [airflow, "dags", "list-import-errors", *flavor.local_flag, "-o", "json"],
            env=env,
            cwd=work,
            timeout=CLI_TIMEOUT,
            what="airflow dags list-import-errors",
        ),
        "airflow dags list-import-errors",
    )
    if errors:
        raise Failure(f"import errors in the example DAGs: {json.dumps(errors, indent=1)}")
    listed = json_output(
        run(
            [airflow, "dags", "list", *flavor.local_flag, "-o", "json"],
            env=env,
            cwd=work,
            timeout=CLI_TIMEOUT,
            what="airflow dags list",
        ),
        "airflow dags list",
    )
    ids = {d.get("dag_id") for d in listed}
    if not EXAMPLE_DAGS.issubset(ids):
        raise Failure(f"airflow dags list lacks {sorted(EXAMPLE_DAGS - ids)} (shows {ids})")
    say(f"  no import errors; airflow dags list: {', '.join(sorted(ids))}")


def http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.loads(answer.read())


@contextmanager
def sandbox(venv: Path, env: dict[str, str], work: Path) -> Iterator[str]:
    """The wheel's console script on 127.0.0.1, on a free port it picks itself (port 0);
    yields its URL, and stops it (SIGTERM, then SIGKILL) whatever happens."""
    log = (work / "sandbox.log").open("w")
    proc = subprocess.Popen(
        # "show": its oversold SKUs read below zero, so the dry run on Seller Center's own
        # stock has something to report (the default clamps at 0, as the live API does).
        [venv / "bin/seller-center-sandbox", "--host", "127.0.0.1", "--port", "0"]
        + ["--negative-stock", "show"]
        + ["--user-id", SANDBOX_USER, "--api-key", SANDBOX_KEY, "--orders", "60"],
        env=env,
        cwd=work,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], SANDBOX_START_TIMEOUT)
        line = proc.stdout.readline() if ready else ""
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+/)", line)
        if match is None:
            raise Failure(
                f"seller-center-sandbox did not start within {SANDBOX_START_TIMEOUT} s "
                f"(first line {line!r}, exit code {proc.poll()}; log {work / 'sandbox.log'})"
            )
        yield match.group(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


def check_dry_run(venv: Path, env: dict[str, str], work: Path) -> None:
    with sandbox(venv, env, work) as url:
        say(f"  seller-center-sandbox (from the wheel) listening on {url}")
        state = http_json(url + "_sandbox/state")
        (seller_id,) = [u["seller_id"] for u in state["users"] if u["user_id"] == SANDBOX_USER]
        conn = {
            "conn_type": "seller_center",
            "host": url,
            "login": SANDBOX_USER,
            "password": SANDBOX_KEY,
            "extra": {"seller_id": seller_id, "business_unit": SANDBOX_BUSINESS_UNIT},
        }
        log = work / "dags-test.log"
        run(
            [venv / "bin/airflow", "dags", "test", DAG_ID, "-c", json.dumps({"dry_run": True})],
            env={**env, "AIRFLOW_CONN_SELLER_CENTER_DEFAULT": json.dumps(conn)},
            cwd=work,
            timeout=DAG_TEST_TIMEOUT,
            what=f"airflow dags test {DAG_ID} (dry run)",
            log=log,
        )
        summaries = SUMMARY.findall(log.read_text())
        if not summaries:
            raise Failure(f"the dry run logged no 'Summary: pending=' line (log {log})")
        counts = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", summaries[-1])}
        # The seed oversells some SKUs: a dry run finds them, and would cancel, not cancel.
        if not (counts["pending"] and counts["short"]) or counts["canceled"] != 0:
            raise Failure(f"dry run summary: {summaries[-1]} (short items and none canceled?)")
        if not counts["short"] or counts["would_cancel"] != counts["short"]:
            raise Failure(f"dry run summary: {summaries[-1]} (would_cancel is not short)")
        canceled = http_json(url + "_sandbox/cancellations")
        if canceled:
            raise Failure(f"the dry run canceled items at the sandbox: {canceled}")
    say(f"  dry run: Summary: {summaries[-1]}")
    say("  the sandbox saw no cancellation")


def test_flavor(uv: str, wheel: Path, version: str, flavor: Flavor, work: Path) -> None:
    work.mkdir()
    venv = work / "venv"
    with step(f"[{flavor.name}] fresh venv: the wheel beside {flavor.airflow}"):
        install(uv, wheel, flavor, venv, work)
    home = work / "airflow-home"
    dags = home / "dags"
    dags.mkdir(parents=True)
    for dag_file in sorted((REPO / "dags").glob("*.py")):
        shutil.copy(dag_file, dags / dag_file.name)
    env = clean_env(
        {
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
    )
    airflow = venv / "bin/airflow"
    with step(f"[{flavor.name}] imported from the venv, not editable, no checkout on sys.path"):
        check_installed(venv, version, env, work)
    with step(f"[{flavor.name}] airflow db migrate"):
        run(
            [airflow, "db", "migrate"],
            env=env,
            cwd=work,
            timeout=CLI_TIMEOUT,
            what="airflow db migrate",
            log=work / "db-migrate.log",
        )
    with step(f"[{flavor.name}] the provider and its connection type"):
        check_provider(airflow, version, env, work)
    with step(f"[{flavor.name}] a connection with a password in the metadata DB"):
        check_stored_connection(airflow, env, work)
    with step(f"[{flavor.name}] the example DAGs, alone in {dags}, parse"):
        check_dags_parse(airflow, flavor, env, work)
    with step(f"[{flavor.name}] a dry run of {DAG_ID} against the wheel's sandbox"):
        check_dry_run(venv, env, work)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uv", required=True, help="the uv executable")
    parser.add_argument("--dist", type=Path, required=True, help="the folder with the wheel")
    parser.add_argument("--only", choices=[f.name for f in flavors()], help="one Airflow line")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir after success")
    args = parser.parse_args(argv)

    uv = shutil.which(args.uv)
    if uv is None:
        print(f"test-dist: no uv at {args.uv}", file=sys.stderr)
        return 2
    uv = str(Path(uv).resolve())
    wheels = sorted(args.dist.resolve().glob("*.whl"))
    if len(wheels) != 1:
        print(f"test-dist: expected one wheel in {args.dist}, found {wheels}", file=sys.stderr)
        return 2
    wheel = wheels[0]
    version = wheel.name.split("-")[1]
    work = Path(tempfile.mkdtemp(prefix="asp-test-dist-"))
    say(f"{wheel.name} (version {version}); work dir {work}")
    start = time.monotonic()
    failed: list[str] = []
    for flavor in flavors():
        if args.only and flavor.name != args.only:
            continue
        try:
            test_flavor(uv, wheel, version, flavor, work / flavor.name)
        except Failure as exc:
            failed.append(flavor.name)
            print(f"test-dist: FAILED [{flavor.name}] {exc}", file=sys.stderr, flush=True)
    took = time.monotonic() - start
    if failed:
        print(
            f"test-dist: FAILED {', '.join(failed)} in {took:.0f} s; logs kept in {work}",
            file=sys.stderr,
        )
        return 1
    if args.keep:
        say(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    say(f"all checks passed in {took:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
