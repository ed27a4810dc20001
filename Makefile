# Every target builds its own environment from nothing: only python3 and make are needed.
PYTHON ?= python3
UV_VERSION := 0.13.9
SRC := airflow_seller_provider dags tests scripts benchmarks docs

# The default environment: Airflow 3.x. A second one serves the Airflow 2.11 line.
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/ci-lock.txt
VENV2 := .venv-airflow2
BIN2 := $(VENV2)/bin
LOCK2 := requirements/airflow2-lock.txt

.PHONY: venv venv-airflow2 typecheck test test-unit test-airflow2 test-all lint format demo bench lock clean test-distributed test-faults dist-debs test-browser test-scale dist test-dist docs

# The suite runs on two workers (pytest-xdist), each with its own Airflow home and metadata
# DB (tests/conftest.py); worksteal keeps both busy when the long DAG runs come last.
PYTEST_PARALLEL := -n 2 --dist worksteal

# $(call make-venv,DIR,LOCK): a venv with uv, the pinned packages, and this project editable.
define make-venv
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(1)/bin/uv pip install --python $(1)/bin/python -r $(2)
	$(1)/bin/uv pip install --python $(1)/bin/python --no-deps -e .
	touch $(1)/.installed
endef

venv: $(VENV)/.installed

$(VENV)/.installed: $(LOCK) pyproject.toml
	$(call make-venv,$(VENV),$(LOCK))

venv-airflow2: $(VENV2)/.installed

$(VENV2)/.installed: $(LOCK2) pyproject.toml
	$(call make-venv,$(VENV2),$(LOCK2))

# The whole suite on Airflow 3.x (the README's test command).
test: venv
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

# The type check alone ([tool.mypy] in pyproject.toml: the package, dags, benchmarks).
typecheck: venv
	$(BIN)/mypy

# The inner loop: everything but the tests that start Airflow task runs or CLIs.
test-unit: venv
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not airflow_process"

# The same suite on Airflow 2.11.x, from its own pinned environment.
test-airflow2: venv-airflow2
	$(BIN2)/python -m pytest $(PYTEST_PARALLEL)

test-all: test test-airflow2

# The provider on a production-shaped CeleryExecutor deployment on this machine
# (docs/deployment.md): its own venv (ci-lock + the Celery and PostgreSQL providers), Debian's
# redis-server and postgresql where missing (CI runs as root; the test runs PostgreSQL as the
# OS user postgres). test-distributed: the run on the stack; test-faults: the crash scenarios.
DIST_VENV := .venv-distributed
DIST_LOCK := requirements/distributed.txt
DIST_DEBS := $(if $(shell command -v redis-server),,redis-server) \
	$(if $(wildcard /usr/lib/postgresql/*/bin/initdb),,postgresql)

$(DIST_VENV)/.installed: $(LOCK) $(DIST_LOCK) pyproject.toml
	test -x $(DIST_VENV)/bin/python || $(PYTHON) -m venv $(DIST_VENV)
	$(DIST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(DIST_VENV)/bin/uv pip sync --python $(DIST_VENV)/bin/python $(LOCK) $(DIST_LOCK)
	$(DIST_VENV)/bin/uv pip install --python $(DIST_VENV)/bin/python --no-deps -e .
	touch $@

dist-debs:
	$(if $(strip $(DIST_DEBS)),apt-get -o DPkg::Lock::Timeout=300 update && \
	  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q $(DIST_DEBS),@true)

test-distributed: $(DIST_VENV)/.installed dist-debs
	RUN_DISTRIBUTED_TESTS=1 $(DIST_VENV)/bin/python -m pytest \
	  tests/distributed/test_celery_deployment.py -p no:cacheprovider

test-faults: $(DIST_VENV)/.installed dist-debs
	RUN_DISTRIBUTED_TESTS=1 $(DIST_VENV)/bin/python -m pytest \
	  tests/distributed/test_faults.py -p no:cacheprovider

# Headless Chromium against a live Airflow (tests/browser): the connection form (api-server),
# and approving / rejecting / not answering a large cancellation (api-server, scheduler,
# dag-processor; no triggerer: on 3.3 a waiting approval needs none). About 4 minutes here.
# Debian's chromium where missing (CI runs as root), Playwright pinned in requirements/browser.txt
# (never `playwright install`: Playwright drives /usr/bin/chromium).
test-browser: venv
	test -x /usr/bin/chromium || { apt-get -o DPkg::Lock::Timeout=300 update && \
	  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q chromium; }
	$(BIN)/uv pip install --python $(BIN)/python -r requirements/browser.txt
	RUN_BROWSER_TESTS=1 $(BIN)/python -m pytest tests/browser -p no:cacheprovider

# 20 connections in one run on a live LocalExecutor deployment (tests/scale): the pool cap,
# one broken connection failing alone, the Asset consumer, run time by connections
# (docs/many-sellers.md). Needs nothing beyond the default environment.
test-scale: venv
	RUN_SCALE_TESTS=1 $(BIN)/python -m pytest tests/scale -p no:cacheprovider

# A release: the sdist, then the wheel built from it, by the project's build backend (hatchling,
# pinned in requirements/build-constraints.txt) through uv, into dist/; `twine check --strict`
# on both (twine pinned in requirements/twine.txt, in its own small venv); then
# tests/test_dist.py checks those very files (contents, entry points, metadata).
RELEASE_VENV := .venv-release
BUILD_CONSTRAINTS := requirements/build-constraints.txt

$(RELEASE_VENV)/.installed: requirements/twine.txt
	test -x $(RELEASE_VENV)/bin/python || $(PYTHON) -m venv $(RELEASE_VENV)
	$(RELEASE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(RELEASE_VENV)/bin/uv pip install --python $(RELEASE_VENV)/bin/python -r requirements/twine.txt
	touch $@

dist: venv $(RELEASE_VENV)/.installed
	rm -rf dist
	$(RELEASE_VENV)/bin/uv build --build-constraints $(BUILD_CONSTRAINTS) --out-dir dist
	$(RELEASE_VENV)/bin/twine check --strict dist/*.tar.gz dist/*.whl
	ASP_DIST_DIR=dist $(BIN)/python -m pytest tests/test_dist.py -p no:cacheprovider

# The wheel in dist/ installed (not editable, from a temp dir) into fresh uv venvs beside
# Airflow 3.3 (pinned as in ci-lock, the rest resolved as a user's pip would) and beside
# Airflow 2.11 with requirements/airflow2.constraints (cryptography < 51): the provider and its
# connection type are listed, a connection with a password is stored, the example DAGs parse,
# a dry run against the wheel's own sandbox succeeds (scripts/test_dist.py; about 80 s here
# with uv's cache warm).
test-dist: dist
	$(RELEASE_VENV)/bin/python scripts/test_dist.py --uv $(RELEASE_VENV)/bin/uv --dist dist

# The docs site (docs/: Sphinx with MyST Markdown, the convention of Airflow's own providers),
# warnings as errors, into docs/_build/html; then scripts/check_docs.py checks that the
# reference pages name the hook, the operator, the client and the task group with every
# parameter their signatures have. Its own venv: ci-lock + requirements/docs.txt.
DOCS_VENV := .venv-docs
DOCS_LOCK := requirements/docs.txt

$(DOCS_VENV)/.installed: $(LOCK) $(DOCS_LOCK) pyproject.toml
	test -x $(DOCS_VENV)/bin/python || $(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(DOCS_VENV)/bin/uv pip sync --python $(DOCS_VENV)/bin/python $(LOCK) $(DOCS_LOCK)
	$(DOCS_VENV)/bin/uv pip install --python $(DOCS_VENV)/bin/python --no-deps -e .
	touch $@

docs: $(DOCS_VENV)/.installed
	rm -rf docs/_build
	$(DOCS_VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	$(DOCS_VENV)/bin/python scripts/check_docs.py docs/_build/html

lint: venv
	$(BIN)/ruff check $(SRC)

format: venv
	$(BIN)/ruff format $(SRC)
	$(BIN)/ruff check --fix $(SRC)

# The README's settings table, from the one definition (airflow_seller_provider/short_stock/settings.py).

demo: venv
	$(BIN)/python scripts/demo.py

bench: venv
	$(BIN)/python -m benchmarks

# Re-resolve the pinned environment (needs the package index).
lock: venv
	$(BIN)/uv pip compile pyproject.toml --extra test --python-version 3.11 \
		-c requirements/airflow3.constraints -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra test --python-version 3.11 \
		-c requirements/airflow2.constraints -o $(LOCK2)

clean:
	rm -rf $(VENV) $(VENV2) .venv-distributed $(RELEASE_VENV) $(DOCS_VENV) dist docs/_build \
		.pytest_cache .ruff_cache
