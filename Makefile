# The two quick-start commands: `make run` and `make test`. Both set everything up first.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# constraints.txt pins torch to the CPU wheel before anything can pull a CUDA build
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

run: setup
	$(BIN)/paperwire init
	$(BIN)/paperwire stats
	$(BIN)/paperwire serve --host $(HOST) --port $(PORT)

# the whole suite twice: on SQLite, then on a PostgreSQL server the tests start (tests/postgres.py)
test: setup
	$(BIN)/pytest
	PAPERWIRE_TEST_DATABASE=postgresql $(BIN)/pytest

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
