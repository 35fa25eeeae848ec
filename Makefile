# The two commands: `make run` (start the service on the embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
CONFIG ?= config/mailflow.example.toml
BIN := $(VENV)/bin
# Every core, and more workers than cores: most tests wait on real servers and subprocesses.
PYTEST_ARGS ?= -n 3 --dist loadgroup

.PHONY: run test test-encrypted lint bench fuzz clean

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

# Hostile input for a fixed budget: atheris over the inbound path seeded from ../shared/corpus (read in
# place), then the hypothesis properties with many random examples. Results in benchmarks/results/.
FUZZ_SECONDS ?= 300
FUZZ_EXAMPLES ?= 2000
fuzz: $(VENV)/.test-installed
	$(BIN)/pip install --quiet -e ".[test,fuzz]"
	$(BIN)/python benchmarks/fuzz_inbound.py --seconds $(FUZZ_SECONDS) --corpus ../shared/corpus
	MAILFLOW_HYPOTHESIS_PROFILE=fuzz MAILFLOW_HYPOTHESIS_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider tests/hostile

clean:
	rm -rf $(VENV) storage/*.sqlite3* storage/outgoing
