# Two entry points for a fresh machine: `make demo` and `make test`. Both install into .venv first.
# `make test` is `make lint` (ruff check, ruff format --check, mypy: configured in pyproject.toml) then pytest.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo lint test fuzz bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "graphrec: installing into $(VENV) (first time: a few minutes, torch is the large download)"
	$(BIN)/python -m pip install --progress-bar on -e '.[test]'
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

# The hypothesis property tests (readers, config) with 1,000 examples each instead of the suite's 60.
FUZZ_EXAMPLES ?= 1000
fuzz: install
	GRAPHREC_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -p no:cacheprovider \
		tests/data/test_readers_properties.py tests/test_config_properties.py

bench: install
	$(BIN)/python benchmarks/gowalla.py

clean:
	rm -rf $(VENV) demo_run runs
