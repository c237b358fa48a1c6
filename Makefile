# execfsm — every target sets up what it needs, so `make test` works on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install demo test lint typecheck check clean

help: #-- list the targets
	@grep -E '^[a-z-]+:.*#--' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*#-- /  make \1\t/' | expand -t 22

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) #-- create .venv and install execfsm with its dev tools

demo: $(STAMP) #-- run the scripted paper session; writes out/demo/
	$(BIN)/execfsm demo --out out/demo

test: $(STAMP) #-- run the test suite
	$(BIN)/python -m pytest

lint: $(STAMP) #-- ruff: lint and format check
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP) #-- mypy --strict over src
	$(BIN)/mypy --strict src

check: lint typecheck test #-- everything CI runs: lint, typecheck, tests

clean: #-- remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
