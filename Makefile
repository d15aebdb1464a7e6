# gridgov — the two commands a newcomer types are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Django 6 needs Python >= 3.12: take the first such interpreter found (PATH, then pyenv).
PYTHON ?= $(shell for p in python3.12 python3.13 $$HOME/.pyenv/versions/3.12*/bin/python $$HOME/.pyenv/versions/3.13*/bin/python /root/.pyenv/versions/3.12*/bin/python /root/.pyenv/versions/3.13*/bin/python; do \
	  if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then command -v $$p; break; fi; done)
VENV := .venv
BIN := $(VENV)/bin
DEMO_SIZE ?= city
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help setup demo test test-sqlite test-postgres serve bench clean

help:
	@echo "make demo    set up, build the demo city (SQLite) and serve it on http://$(HOST):$(PORT)"
	@echo "make test    set up, then run the whole test suite (SQLite; PostgreSQL too when DATABASE_URL points to one)"
	@echo "make setup   create .venv, install Python and JS dependencies, migrate (idempotent)"
	@echo "make bench   run the benchmarks in bench/"

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then echo "gridgov needs Python >= 3.12 (Django 6). Install python3.12 or set PYTHON=/path/to/python3.12" >&2; exit 1; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed
	@# Migrations and static files run against the SQLite default unless DATABASE_URL says otherwise.
	$(BIN)/gridgov privacy init-keys
	$(BIN)/gridgov migrate --no-input -v 0
	$(BIN)/gridgov collectstatic --no-input -v 0

demo: setup
	$(BIN)/gridgov demo --size $(DEMO_SIZE) --if-empty
	$(BIN)/gridgov serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed node_modules/.installed
	env -u DATABASE_URL $(BIN)/pytest $(PYTEST_ARGS)
	@if [[ "$${DATABASE_URL:-}" == postgres* ]]; then \
	  echo "== the same suite on PostgreSQL ($${DATABASE_URL%%\?*}) =="; \
	  $(BIN)/pytest --create-db $(PYTEST_ARGS); \
	fi

bench: setup
	$(BIN)/python bench/locate.py
	$(BIN)/python bench/deadlines.py
	$(BIN)/python bench/intake.py

clean:
	rm -rf $(VENV) node_modules var .pytest_cache
