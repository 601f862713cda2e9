# The two Quick start commands (README): `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test lint install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/idp-bridge demo

lint: install
	$(BIN)/ruff check idp_bridge tests bench
	$(BIN)/mypy

test: install node_modules/.installed lint
	$(BIN)/pytest -n 2 --dist loadgroup --durations=30 $(PYTEST_ARGS)
