# Two entry points for a fresh machine (see README):
#   make verify   set up .venv and run every theorem check in fast mode on built-in data
#   make test     set up .venv and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup verify verify-full test test-slow figures benchmarks docs clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

verify: $(STAMP)
	$(BIN)/python -m dynamics verify --fast

verify-full: $(STAMP)
	$(BIN)/python -m dynamics verify

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

figures: $(STAMP)
	$(BIN)/python -m dynamics figures

# The documentation site, strict (a broken link, a missing reference, a docstring that does not render
# or a notebook that raises fails it), into site/; notebooks executed in fast mode.
docs: $(STAMP)
	DYNAMICS_FAST=1 MPLBACKEND=Agg $(BIN)/python -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis site
