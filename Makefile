# execfsm — every target sets up what it needs, so `make test` works on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install demo test soak crash-test stress bench lint typecheck verify spec diagrams hooks check clean

help: #-- list the targets
	@grep -E '^[a-z-]+:.*#--' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*#-- /  make \1\t/' | expand -t 22

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,diagrams]'
	touch $(STAMP)

install: $(STAMP) #-- create .venv and install execfsm with its dev and diagram tools

demo: $(STAMP) #-- run the scripted paper session; writes out/demo/
	$(BIN)/execfsm demo --out out/demo

test: $(STAMP) #-- run the test suite
	$(BIN)/python -m pytest

soak: $(STAMP) #-- the stateful property tests with the long Hypothesis profile
	HYPOTHESIS_PROFILE=soak $(BIN)/python -m pytest tests/test_orchestrator_stateful.py tests/test_order_stateful.py

crash-test: $(STAMP) #-- SIGKILL durable sessions at 200 points (+50 in batches, +200 with 4 threads and a canceller), restart, check nothing is lost
	CRASH_POINTS=200 $(BIN)/python -m pytest -q tests/test_crash.py

stress: $(STAMP) #-- the thread test at 8 threads x 10,000 intents
	THREAD_INTENTS=10000 $(BIN)/python -m pytest -q tests/test_threads.py

bench: $(STAMP) #-- benchmarks: a table on stdout, JSON in bench/results.json
	$(BIN)/python bench/bench.py --out bench/results.json

lint: $(STAMP) #-- ruff: lint and format check
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP) #-- mypy --strict over src
	$(BIN)/mypy --strict src

verify: $(STAMP) #-- fail on unreviewed machine drift; prove the safety properties
	$(BIN)/execfsm verify

spec: $(STAMP) #-- regenerate the committed spec/ from the declared machines
	$(BIN)/execfsm spec --write

diagrams: $(STAMP) #-- render diagrams and the governance report into docs/governance/
	$(BIN)/execfsm diagrams --out docs/governance

hooks: #-- regenerate spec/ and docs/governance/ in a git pre-commit hook
	git config core.hooksPath .githooks

check: lint typecheck verify test #-- everything CI runs: lint, typecheck, verify, tests

clean: #-- remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
