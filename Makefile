# Two entry points for a fresh machine: `make demo` and `make test`. Both install into .venv first.
# `make test` is `make lint` (ruff check, ruff format --check, mypy: configured in pyproject.toml) then pytest.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo lint test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/graphrec demo --out demo_run

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

test: install lint
	$(BIN)/python -m pytest --durations=10

bench: install
	$(BIN)/python benchmarks/gowalla.py

clean:
	rm -rf $(VENV) demo_run runs
