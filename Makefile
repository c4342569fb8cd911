# Two set-up commands (see README): `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= semfuse-demo

.PHONY: demo test test-all bench clean

demo: $(VENV)/.installed
	$(BIN)/semfuse demo --out $(DEMO_OUT) --overwrite

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

test-all: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m ""

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

clean:
	rm -rf $(VENV) $(DEMO_OUT) build *.egg-info src/*.egg-info
