# The two commands of the README: `make table` (the main job) and `make test`.
# Both set up everything they need in .venv first.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: setup table tune test test-slow lint

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

table: $(STAMP)
	$(VENV)/bin/precisec table --out docs --jobs 2

tune: $(STAMP)
	$(VENV)/bin/precisec tune benchmarks_fptuner/jet.c -o jet.tuned.c

lint: $(STAMP)
	$(VENV)/bin/ruff check precisec tests benchmarks

test: lint
	$(VENV)/bin/python -m pytest -m "not slow"

test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -m slow
