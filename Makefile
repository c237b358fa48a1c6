# execfsm — every target sets up what it needs, so `make test` works on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The benchmark's peer, nautilus_trader, needs Python 3.12: a working python3.12 on PATH, else pyenv's.
NAUTILUS_VENV := bench/.venv-nautilus
NAUTILUS_STAMP := $(NAUTILUS_VENV)/.installed
NAUTILUS_PYTHON ?= $(shell for p in $$(command -v python3.12) $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null && echo "$$p" && break; done)

.DEFAULT_GOAL := help
.PHONY: help install demo test soak crash-test stress bench bench-peer lint typecheck verify spec diagrams hooks check clean

help: #-- list the targets
	@grep -E '^[a-z-]+:.*#--' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*#-- /  make \1\t/' | expand -t 22

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,diagrams,fix,postgres]'
	touch $(STAMP)

install: $(STAMP) #-- create .venv and install execfsm with its dev, diagram, FIX and PostgreSQL extras

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

$(NAUTILUS_STAMP): bench/requirements-nautilus.txt
	@test -n "$(NAUTILUS_PYTHON)" || { echo "no Python 3.12 (python3.12 or pyenv): set NAUTILUS_PYTHON" >&2; exit 1; }
	rm -rf $(NAUTILUS_VENV)
	$(NAUTILUS_PYTHON) -m venv $(NAUTILUS_VENV)
	$(NAUTILUS_VENV)/bin/python -m pip install --quiet -r bench/requirements-nautilus.txt
	touch $(NAUTILUS_STAMP)

bench-peer: $(NAUTILUS_STAMP) #-- make bench/.venv-nautilus (Python 3.12, nautilus_trader) for the bench's peer

bench: $(STAMP) #-- targets side by side with nautilus_trader, speed checks; JSON in bench/results.json
	@$(MAKE) --no-print-directory $(NAUTILUS_STAMP) || echo "!! the nautilus_trader venv could not be made: the bench runs without its peer" >&2
	$(BIN)/python bench/bench.py --out bench/results.json --nautilus-python $(NAUTILUS_VENV)/bin/python

lint: $(STAMP) #-- ruff: lint and format check
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP) #-- mypy --strict over src
	$(BIN)/mypy --strict src

verify: $(STAMP) #-- fail on unreviewed machine drift; prove the safety properties
	$(BIN)/execfsm verify

spec: $(STAMP) #-- regenerate the committed spec/ from the declared machines
	$(BIN)/execfsm spec --write

# The report's date is the last commit's (SOURCE_DATE_EPOCH), so regenerating at a commit gives the same bytes.
diagrams: $(STAMP) #-- render diagrams and the governance report into docs/governance/
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null)} \
		$(BIN)/execfsm diagrams --out docs/governance

hooks: #-- regenerate spec/ and docs/governance/ in a git pre-commit hook
	git config core.hooksPath .githooks

check: lint typecheck verify test #-- everything CI runs: lint, typecheck, verify, tests

clean: #-- remove the virtualenv and caches
	rm -rf $(VENV) $(NAUTILUS_VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
