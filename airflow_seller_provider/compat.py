"""The one place that imports Airflow's public names.

``airflow.providers.common.compat.sdk`` resolves each name to ``airflow.sdk`` on Airflow 3
and to its Airflow 2.11 home (``airflow.models``, ``airflow.decorators``, ...) otherwise, so
the rest of the package imports from here and runs on both lines.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    BaseHook,
    BaseOperator,
    ObjectStoragePath,
    Param,
    dag,
    get_current_context,
    mask_secret,
    redact,
    task,
)
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "AirflowException",
    "AirflowFailException",
    "BaseHook",
    "BaseOperator",
    "ObjectStoragePath",
    "Param",
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
