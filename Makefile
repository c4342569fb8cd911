# Two set-up commands (see README): `make demo` and `make test`. Both create .venv on first use.
# `make docs` builds the documentation site (mkdocs.yml) into site/, strictly: a broken link or reference fails.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= semfuse-demo

.PHONY: demo test test-all bench docs clean

demo: $(VENV)/.installed
	$(BIN)/semfuse demo --out $(DEMO_OUT) --overwrite

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

test-all: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m ""

docs: $(VENV)/.installed-docs
	$(BIN)/python -m mkdocs build --strict

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/model_cost.py

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-docs: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@

clean:
	rm -rf $(VENV) $(DEMO_OUT) site build *.egg-info src/*.egg-info
