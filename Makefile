# One command runs the server, one runs the tests; each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint migrate seed bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)  ## serve on http://127.0.0.1:8000 with SQLite and the in-process bus
	$(BIN)/coup serve

# One pytest worker per core; each worker runs its own test servers and databases.
PYTEST_ARGS ?= -n auto

test: $(STAMP)  ## the whole suite: SQLite leg, then PostgreSQL + Redis (and multi-node)
	$(BIN)/ruff check coup tests
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check coup tests

migrate: $(STAMP)
	$(BIN)/coup db migrate

seed: $(STAMP)
	$(BIN)/coup db seed

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

bench: $(STAMP)  ## the benchmark scenarios side by side with the raw-Tornado ceiling
	$(BIN)/python -m bench.run $(BENCH_ARGS)
