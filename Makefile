# The two commands: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The matching core is compiled with mypyc (typed Python -> C extension); the .so
# files sit beside the sources and are rebuilt whenever a core source changes.
CORE_SRC   := $(filter-out %/__init__.py %/_compiled.py,$(wildcard matcher/core/*.py))
CORE_STAMP := build/.core-compiled

# The API is served by the real Vercel CLI (`vercel dev --local`, npm package `vercel`, pinned
# in package-lock.json). It wants `python3` = 3.12 and `uv` first on PATH: both are linked
# into VERCEL_PATH (devstack/vercel.py puts it first), uv at the version @vercel/python pins.
NODE_STAMP  := node_modules/.installed
VERCEL_PATH := $(VENV)/vercel-path
VERCEL_UV   := 0.10.11
VPATH_STAMP := $(VERCEL_PATH)/.installed
# The web page's browser libraries (package.json's dependencies: socket.io-client, uPlot),
# copied from node_modules into public/vendor/ (gitignored) by `npm run vendor`, the step
# vercel.json's buildCommand runs on Vercel and `vercel dev` runs at start.
VENDOR_STAMP := public/vendor/uPlot.esm.js
# The browser test (tests/web) drives Debian's headless Chromium with Playwright.
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint typecheck pytest bench core vercel chromium clean

# requirements.txt: what the API functions import (Vercel installs it); the matcher's file
# adds its own on top; the dev file adds tools and test servers.
$(STAMP): requirements.txt requirements-matcher.txt requirements-dev.txt
	@test -x $(PY) || "$$(tools/find-python312)" -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv
	@$(VENV)/bin/uv pip install -q --python $(PY) -r requirements-matcher.txt -r requirements-dev.txt
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found (Node.js >= 18 is needed for vercel dev)" >&2; exit 1; }
	@echo "installing the Vercel CLI and the page's browser libraries (npm ci into node_modules/)"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(VPATH_STAMP): $(STAMP) tools/find-python312
	@rm -rf $(VERCEL_PATH) && mkdir -p $(VERCEL_PATH)/bin
	@ln -s "$$(tools/find-python312)" $(VERCEL_PATH)/bin/python3
	@$(PY) -m pip install -q --disable-pip-version-check --target $(VERCEL_PATH)/uv uv==$(VERCEL_UV)
	@ln -s ../uv/bin/uv $(VERCEL_PATH)/bin/uv
	@touch $@

$(VENDOR_STAMP): $(NODE_STAMP)
	@npm run --silent vendor
	@touch $@

vercel: $(NODE_STAMP) $(VPATH_STAMP) $(VENDOR_STAMP)

# Installed where missing (CI, a fresh machine): root runs apt-get itself, others via sudo.
$(CHROMIUM):
	@echo "installing Chromium for the browser test (apt-get install chromium chromium-driver)"
	@SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
	@test -x $@ && test -x /usr/bin/chromedriver

chromium: $(CHROMIUM)

$(CORE_STAMP): $(STAMP) $(CORE_SRC)
	@mkdir -p build
	@echo "compiling the matching core with mypyc (build/mypyc.log)"
	@$(VENV)/bin/mypyc $(CORE_SRC) > build/mypyc.log 2>&1 || { tail -30 build/mypyc.log; exit 1; }
	@touch matcher/core/*.so $@

core: $(CORE_STAMP)

run: $(STAMP) $(CORE_STAMP) vercel
	$(PY) -m devstack run

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP) $(CORE_STAMP) vercel $(CHROMIUM)
	$(PY) -m pytest

bench: $(STAMP) $(CORE_STAMP)
	$(PY) -m bench.engine --json
	$(PY) -m bench.matcher --json

# The REST API under open-loop load, on a throwaway stack (docs/BENCHMARKS.md); ~5 minutes.
.PHONY: bench-api
bench-api: $(STAMP) $(CORE_STAMP)
	$(PY) -m bench.api --json

# Socket.IO with 1,000 websocket clients while orders flow, matcher-served and standalone
# (docs/BENCHMARKS.md); ~4 minutes.
.PHONY: bench-ws
bench-ws: $(STAMP) $(CORE_STAMP)
	$(PY) -m bench.ws --json

clean:
	rm -rf $(VENV) build *.so matcher/core/*.so .devstack node_modules .vercel .env .mypy_cache .ruff_cache .pytest_cache .hypothesis public/vendor public/local
