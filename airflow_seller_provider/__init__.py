"""Apache Airflow provider for the Seller Center marketplace API."""

__version__ = "0.1.0"
