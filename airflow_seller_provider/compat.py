"""The one place that imports Airflow's public names.

Everything else imports them from here, so serving another Airflow line (2.11's
``airflow.models``/``airflow.decorators``) means changing this file only.
"""

from __future__ import annotations

from airflow.sdk import BaseHook, BaseOperator, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from airflow.sdk.log import mask_secret

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "BaseHook",
    "BaseOperator",
    "Param",
    "dag",
    "get_current_context",
    "mask_secret",
    "task",
]
