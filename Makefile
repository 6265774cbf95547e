# Two commands do all set-up on a fresh machine (Python >= 3.11 and make):
#   make run    create .venv, install, serve on http://127.0.0.1:8080
#   make test   install everything the suite needs (Chromium too, as root) and run it all
# Options for the server go in ARGS, e.g.  make run ARGS="--port 0 --log-level debug"

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
ARGS ?=

.PHONY: run test lint format system-deps browser screenshot clean

run: $(VENV)/.installed-run
	$(BIN)/python -m server $(ARGS)

test: lint system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Protocol Lab needs Python >= 3.11; set PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes. The client's extras (rich tables, matplotlib
# plots) come too: the labs use them, and a lab must work the first time.
$(VENV)/.installed-run: pyproject.toml $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[client,plot]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

# The real components the tests start (Chromium, redis-server, nginx, haproxy, wrk), from
# Debian; installed when missing (as root), otherwise the script says what to install.
# Playwright's own browser download is not used.
system-deps:
	@bash scripts/system-deps.sh

browser: system-deps

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .autobahn build *.egg-info
