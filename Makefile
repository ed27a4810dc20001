# Every target builds its own environment from nothing: only python3 and make are needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
LOCK := requirements/ci-lock.txt
SRC := airflow_seller_provider dags tests scripts benchmarks

.PHONY: venv test lint format demo bench lock clean

venv: $(VENV)/.installed

$(VENV)/.installed: $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --python $(BIN)/python $(LOCK)
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	touch $@

test: venv
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check $(SRC)

format: venv
	$(BIN)/ruff format $(SRC)
	$(BIN)/ruff check --fix $(SRC)

demo: venv
	$(BIN)/python scripts/demo.py

bench: venv
	$(BIN)/python -m benchmarks

# Re-resolve the pinned environment (needs the package index).
lock:
	$(BIN)/uv pip compile pyproject.toml --extra test --python-version 3.11 -o $(LOCK)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
