"""The one place that imports Airflow's public names.

``airflow.providers.common.compat.sdk`` resolves each name to ``airflow.sdk`` on Airflow 3
and to its Airflow 2.11 home (``airflow.models``, ``airflow.decorators``, ...) otherwise, so
the rest of the package imports from here and runs on both lines.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import (
    DAG,
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSkipException,
    Asset,
    AssetAlias,
    BaseHook,
    BaseOperator,
    ObjectStoragePath,
    Param,
    TaskGroup,
    Variable,
    dag,
    get_current_context,
    mask_secret,
    redact,
    task,
)
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS


def _hitl_available() -> bool:
    # Found, not imported: the provider's hitl module is heavy for a DAG file's parse.
    from importlib.util import find_spec

    try:
        return (
            AIRFLOW_V_3_1_PLUS
            and find_spec("airflow.providers.standard.operators.hitl") is not None
        )
    except ImportError:
        return False


HITL_AVAILABLE = _hitl_available()
"""Human-in-the-loop operators (Airflow 3.1+, apache-airflow-providers-standard)."""

__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "HITL_AVAILABLE",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSkipException",
    "Asset",
    "AssetAlias",
    "BaseHook",
    "BaseOperator",
    "DAG",
    "ObjectStoragePath",
    "Param",
    "TaskGroup",
    "Variable",
    "dag",
    "get_current_context",
    "mask_secret",
    "redact",
    "task",
]

# Metrics (``airflow_seller_provider.metrics``): Airflow's own ``Stats``, so that the
# provider's metrics go wherever the deployment sends Airflow's (StatsD, OpenTelemetry,
# Datadog), and ``conf`` for ``[metrics] legacy_names_on``.
from airflow.providers.common.compat.sdk import Stats, conf  # noqa: E402

__all__ += ["Stats", "conf"]


ACTIVE_RUN_STATES = ("queued", "running")


def dag_run_is_active(ti: Any, dag_id: str, run_id: str) -> bool:
    """Whether the DAG run ``run_id`` is queued or running (Airflow 3: the task SDK's
    ``get_dr_count``; 2.11: the metadata DB)."""
    if AIRFLOW_V_3_0_PLUS:
        count = ti.get_dr_count(dag_id=dag_id, run_ids=[run_id], states=list(ACTIVE_RUN_STATES))
        return bool(count)
    from airflow.models.dagrun import DagRun

    runs = DagRun.find(dag_id=dag_id, run_id=run_id)
    return any(str(getattr(r.state, "value", r.state)) in ACTIVE_RUN_STATES for r in runs)


def variable_get(key: str) -> str | None:
    """An Airflow Variable's text, or None when it is not set (both Airflow lines)."""
    getter: Any = Variable.get  # 2.11's keyword is default_var, 3.x's default
    value = getter(key, default=None) if AIRFLOW_V_3_0_PLUS else getter(key, default_var=None)
    return None if value is None else str(value)


__all__ += ["dag_run_is_active", "variable_get"]
