"""Browser tests: the connection form in Airflow's UI, driven by Playwright (make test-browser)."""
