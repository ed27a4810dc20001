"""A local Seller Center that speaks the real protocol, for tests and demos (as moto is
for AWS). It keeps its own copies of the protocol's facts (units, caps, error texts, who
ships what) on purpose: an independent second implementation that the tests hold the
client against. Standard library plus lxml (UpdateStock's request body, parsed hardened); it
shares signing with the client, never its transport.

Run it with ``python -m airflow_seller_provider.sandbox`` or, in tests,
``airflow_seller_provider.sandbox.testing.run_sandbox()``.
"""

from airflow_seller_provider.sandbox.seed import seed_state
from airflow_seller_provider.sandbox.server import SandboxServer
from airflow_seller_provider.sandbox.store import Store

__all__ = ["SandboxServer", "Store", "seed_state"]
