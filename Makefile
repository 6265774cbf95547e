# Two commands do all set-up on a fresh machine (Python >= 3.11 and make):
#   make run    create .venv, install, serve on http://127.0.0.1:8080
#   make test   install what the suite starts (Chromium, Redis, nginx, HAProxy, wrk; as root), run it all
# Options for the server go in ARGS, e.g.  make run ARGS="--port 0 --log-level debug"
#   make unit   run tests at once (no lint, no apt), e.g. make unit ARGS="tests/server -k shout"
#   make wheelhouse   download every Python dependency into wheelhouse/ once; a copy of the
#               repository with that folder then installs with no network (a class room)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
ARGS ?=
WHEELHOUSE := wheelhouse
# With a wheelhouse (see `make wheelhouse`), pip installs from it alone, without a network.
PIP_INSTALL := $(BIN)/python -m pip install --quiet \
	$(if $(wildcard $(WHEELHOUSE)/*.whl),--no-index --find-links $(WHEELHOUSE))

.PHONY: run test unit lint format system-deps browser screenshot wheelhouse clean bench proxy

run: $(VENV)/.installed-run
	$(BIN)/python -m server $(ARGS)

# Behind a real reverse proxy on https://127.0.0.1:8443 (HTTP/2, TLS with the local CA):
#   make proxy PROXY=nginx      or PROXY=haproxy; launcher options and server options in ARGS
PROXY ?= nginx
proxy: $(VENV)/.installed-run
	$(BIN)/python -m scripts.proxy --proxy $(PROXY) $(ARGS)

test: lint system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The fast path for one test while you work (a lab's "Extend it"): no lint, no system
# packages. Tests that need Chromium or another missing component skip and say why.
unit: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -p no:cacheprovider $(ARGS)

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
	$(PIP_INSTALL) --upgrade pip

# Re-install whenever pyproject.toml changes. The client's extras (rich tables, matplotlib
# plots) come too: the labs use them, and a lab must work the first time.
$(VENV)/.installed-run: pyproject.toml $(VENV)/bin/python
	$(PIP_INSTALL) -e '.[client,plot]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/bin/python
	$(PIP_INSTALL) -e '.[dev]'
	touch $@ $(VENV)/.installed-run

# The real components the tests start (Chromium, redis-server, nginx, haproxy, wrk), from
# Debian; installed when missing (as root), otherwise the script says what to install.
# Playwright's own browser download is not used.
system-deps:
	@bash scripts/system-deps.sh

browser: system-deps

# Every wheel `make run`, `make unit` and `make test` install, for this machine's Python and
# platform, plus what pip needs to build the project itself. Run it where there is a network.
wheelhouse: $(VENV)/bin/python
	$(BIN)/python -m pip wheel --quiet --wheel-dir $(WHEELHOUSE) '.[dev]' pip 'setuptools>=77' wheel
	rm -f $(WHEELHOUSE)/protocol_lab-*.whl
	@echo "$(WHEELHOUSE)/ holds $$(ls $(WHEELHOUSE) | wc -l) wheels; copy the repository with it"

# The project against bare aiohttp and its peers, side by side (about 7 minutes, loopback
# only); rewrites docs/performance.md and docs/img/bench.png. BENCH_ARGS="--smoke --out DIR"
# for a tiny run.
BENCH_ARGS ?=
bench: $(VENV)/.installed-dev system-deps
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .autobahn build *.egg-info
