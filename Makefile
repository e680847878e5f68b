# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install clean bench proof

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m compileall -q src  # bytecode ready: a start does not compile the project's modules
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/relai-bot serve

test: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/relai-bot flows validate
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports

# relai-bot serve against the bare stacks, side by side (bench/harness.py); writes docs/benchmarks.md.
# `make bench BENCH_ARGS=--quick` for a shorter run, BENCH_ARGS="--only sms --no-docs" for one scenario.
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# The fault, fuzz and attack suites only (pytest marker `proof`; all of tests/faults/), then docs/reliability.md
# from the figures they recorded (build/proof/figures.json). `make test` runs them too. The report is written even when a test failed
# (it says which); the target fails if a test failed or the report finds something lost.
proof: $(STAMP)
	rm -f build/proof/figures.json  # a run that records nothing must not leave an older run's figures
	$(BIN)/python -m pytest -m proof; status=$$?; \
	$(BIN)/python tools/proof_report.py || exit 1; exit $$status

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
