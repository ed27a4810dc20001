"""Apache Airflow provider for the Seller Center marketplace API."""

__version__ = "1.0.0"
