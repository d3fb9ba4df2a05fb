# Set-up and the two main commands. `make demo` and `make test` each create the
# virtual environment .venv on first use (ROOT and the other dependencies from
# PyPI, then roonsbi built with CMake) and reuse it afterwards.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
SOURCES = $(shell find cpp cmake python -type f) CMakeLists.txt pyproject.toml

.PHONY: demo test lint install clean

# --overwrite: a second `make demo` replaces the outputs of the first in roonsbi-demo/ (the demo
# refuses to without it, and refuses a folder holding other files in any case)
demo: $(VENV)/.installed
	$(BIN)/roonsbi demo --out roonsbi-demo --overwrite

test: $(VENV)/.installed
	$(BIN)/pytest -q

# ruff (lint, import order) and mypy (types), configured in pyproject.toml
lint: $(VENV)/.installed
	$(BIN)/ruff check python tests benchmarks examples
	$(BIN)/mypy

install: $(VENV)/.installed

# ROOT and scikit-build-core go into the venv first so that the build of roonsbi
# reuses them (--no-build-isolation) instead of installing ROOT a second time.
$(VENV)/.installed: $(SOURCES)
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	$(BIN)/pip install --quiet ROOT "scikit-build-core>=0.10"
	$(BIN)/pip install --quiet --no-build-isolation ".[test]"
	touch $@

clean:
	rm -rf build $(VENV) roonsbi-demo
