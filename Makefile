# Two commands do all set-up on a fresh machine (Python >= 3.11 and make):
#   make run    create .venv, install, serve on http://127.0.0.1:8080
#   make test   install everything the suite needs (Chromium too, as root) and run it all
# Options for the server go in ARGS, e.g.  make run ARGS="--port 0 --log-level debug"

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
ARGS ?=

.PHONY: run test lint format browser screenshot clean

run: $(VENV)/.installed-run
	$(BIN)/python -m server $(ARGS)

test: lint browser
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

# The browser tests drive Debian's Chromium; Playwright's own browser download is not used.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian's chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; \
		else \
			echo "chromium is missing: run 'sudo apt-get install chromium' (browser tests will be skipped)"; \
		fi; }

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .autobahn build *.egg-info
