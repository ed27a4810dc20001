"""5. DAG parse: loading ``dags/cancel_short_stock_items.py`` against a DAG file with one
``EmptyOperator`` task, each in a fresh interpreter.

Each run is a new ``python`` process (same environment, a temporary AIRFLOW_HOME) that loads
the DAG file the way Airflow's DAG processor does (``spec_from_file_location`` +
``exec_module``) and reports how long that took, Airflow's own import included, as nothing
is imported before. Time is the child's CPU time (``time.process_time``): on a shared
machine wall time of a 1-2 s import swings by hundreds of ms with other people's load, CPU
time much less; the wall-time medians are printed too. The runs rotate; a first run of each
is discarded (it writes Airflow's config and the byte-code cache, kept in a temporary
PYTHONPYCACHEPREFIX so that nothing is written into the project). Median of the rest.
Target: at most 1.2x.
Also printed: the provider's top entries of ``python -X importtime`` for the DAG file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from benchmarks.common import (
    PYTHON,
    REPO,
    Result,
    emit,
    median,
    note,
    run_standalone,
    temp_dir,
)

DAG_FILE = REPO / "dags" / "cancel_short_stock_items.py"
RUNS = 5
RUN_TIMEOUT_S = 120
TARGET = 1.2
TOP_ENTRIES = 8

EMPTY_DAG = '''"""One DAG, one empty task: the baseline of the DAG parse benchmark."""
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(
    dag_id="bench_empty", schedule=None, start_date=datetime(2026, 1, 1), catchup=False
):
    EmptyOperator(task_id="noop")
'''

# For reference only (not the baseline): the same single empty task written with TaskFlow
# (@dag/@task), which the example DAG uses for its Python steps.
TASKFLOW_DAG = '''"""One DAG, one empty @task: a reference for the DAG parse benchmark."""
from datetime import datetime

from airflow.sdk import dag, task


@dag(dag_id="bench_taskflow", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def bench_taskflow():
    @task
    def noop():
        pass

    noop()


bench_taskflow()
'''

# Run in the child: time the import of Airflow's SDK, then the DAG file itself.
LOADER = """
import importlib.util, json, sys, time
path = sys.argv[1]
started, cpu_started = time.perf_counter(), time.process_time()
import airflow.sdk
sdk, cpu_sdk = time.perf_counter(), time.process_time()
spec = importlib.util.spec_from_file_location("bench_dag_file", path)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
done, cpu_done = time.perf_counter(), time.process_time()
print(json.dumps({
    "total": cpu_done - cpu_started, "sdk": cpu_sdk - cpu_started, "file": cpu_done - cpu_sdk,
    "wall": done - started,
}))
"""


def _child_env(cache: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(cache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def load_once(path: Path, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(
        [PYTHON, "-c", LOADER, str(path)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"loading {path.name} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def provider_import_times(env: dict[str, str]) -> list[tuple[int, int, str]]:
    """(cumulative us, self us, module) of the provider's modules, biggest first."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", LOADER, str(DAG_FILE)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"-X importtime failed: {done.stderr[-2000:]}")
    rows: dict[str, tuple[int, int, str]] = {}
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s*(\S+)", line)
        if found and "airflow_seller_provider" in found.group(3):
            # A submodule a package __init__ already loaded is listed again, near zero:
            # keep each module's biggest line.
            row = (int(found.group(2)), int(found.group(1)), found.group(3))
            rows[row[2]] = max(rows.get(row[2], row), row)
    return sorted(rows.values(), reverse=True)


def run() -> list[Result]:
    work = temp_dir("seller-bench-dags-")
    empty = work / "empty_dag.py"
    empty.write_text(EMPTY_DAG)
    taskflow = work / "taskflow_dag.py"
    taskflow.write_text(TASKFLOW_DAG)
    env = _child_env(work / "pycache")
    files = {"project": DAG_FILE, "baseline": empty, "taskflow": taskflow}
    for path in files.values():
        load_once(path, env)  # warm-up: config file, byte-code cache
    times: dict[str, list[dict[str, float]]] = {name: [] for name in files}
    for number in range(RUNS):
        order = list(files.items())
        for name, path in order[number % 3 :] + order[: number % 3]:
            times[name].append(load_once(path, env))
    project = median([t["total"] for t in times["project"]])
    baseline = median([t["total"] for t in times["baseline"]])
    project_file = median([t["file"] for t in times["project"]])
    baseline_file = median([t["file"] for t in times["baseline"]])
    taskflow_total = median([t["total"] for t in times["taskflow"]])
    taskflow_file = median([t["file"] for t in times["taskflow"]])
    sdk = median([t["sdk"] for name in files for t in times[name]])
    walls = {name: median([t["wall"] for t in times[name]]) for name in files}
    result = Result(
        what="DAG file load in a fresh interpreter (CPU time): cancel_short_stock_items.py vs "
        "one EmptyOperator",
        project=f"{project * 1e3:.0f} ms",
        baseline=f"{baseline * 1e3:.0f} ms",
        ratio=project / baseline,
        target=f"<= {TARGET:g}x",
        met=project / baseline <= TARGET,
    )
    emit([result])
    note(
        f"CPU time, median of {RUNS} fresh interpreters each; of which 'import airflow.sdk' "
        f"{sdk * 1e3:.0f} ms, then the file itself {project_file * 1e3:.0f} ms vs "
        f"{baseline_file * 1e3:.0f} ms (EmptyOperator file); wall time "
        f"{walls['project'] * 1e3:.0f} ms vs {walls['baseline'] * 1e3:.0f} ms "
        f"({walls['project'] / walls['baseline']:.2f}x)"
    )
    note(
        f"reference, one empty TaskFlow @task instead of EmptyOperator: {taskflow_total * 1e3:.0f}"
        f" ms CPU (file itself {taskflow_file * 1e3:.0f} ms); the project DAG against it: "
        f"{project / taskflow_total:.2f}x"
    )
    rows = provider_import_times(env)
    note(f"python -X importtime, the provider's top {TOP_ENTRIES} (cumulative / self, us):")
    for cumulative, own, module in rows[:TOP_ENTRIES]:
        note(f"  {cumulative:>8} {own:>8}  {module}")
    return [result]


def main() -> int:
    return run_standalone("5. DAG parse", run)


if __name__ == "__main__":
    raise SystemExit(main())
