# The two commands: `make run` (start the service on the embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
CONFIG ?= config/mailflow.example.toml
BIN := $(VENV)/bin

.PHONY: run test test-encrypted lint bench clean

$(BIN)/mailflow: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: $(BIN)/mailflow
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

run: $(BIN)/mailflow
	$(BIN)/mailflow --config $(CONFIG) init
	$(BIN)/mailflow --config $(CONFIG) serve

test: $(VENV)/.test-installed
	$(BIN)/ruff check mailflow tests benchmarks
	$(BIN)/mypy mailflow
	$(BIN)/pytest $(PYTEST_ARGS)

# The committee's and the process's end-to-end tests with encryption at rest on (tests/support/crypt.py).
test-encrypted: $(VENV)/.test-installed
	MAILFLOW_TEST_ENCRYPTION=1 $(BIN)/pytest tests/e2e/test_committee.py tests/e2e/test_process.py $(PYTEST_ARGS)

lint: $(VENV)/.test-installed
	$(BIN)/ruff check mailflow tests benchmarks
	$(BIN)/ruff format --check mailflow tests benchmarks
	$(BIN)/mypy mailflow

bench: $(VENV)/.test-installed
	$(BIN)/python benchmarks/intake_throughput.py
	$(BIN)/python benchmarks/policy_gate.py

clean:
	rm -rf $(VENV) storage/*.sqlite3* storage/outgoing
