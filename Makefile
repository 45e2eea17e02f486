# The two commands: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The matching core is compiled with mypyc (typed Python -> C extension); the .so
# files sit beside the sources and are rebuilt whenever a core source changes.
CORE_SRC   := $(filter-out %/__init__.py %/_compiled.py,$(wildcard matcher/core/*.py))
CORE_STAMP := build/.core-compiled

.PHONY: run test lint typecheck pytest bench core clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || "$$(tools/find-python312)" -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv
	@$(VENV)/bin/uv pip install -q --python $(PY) -r requirements.txt -r requirements-dev.txt
	@touch $@

$(CORE_STAMP): $(STAMP) $(CORE_SRC)
	@mkdir -p build
	@echo "compiling the matching core with mypyc (build/mypyc.log)"
	@$(VENV)/bin/mypyc $(CORE_SRC) > build/mypyc.log 2>&1 || { tail -30 build/mypyc.log; exit 1; }
	@touch matcher/core/*.so $@

core: $(CORE_STAMP)

run: $(STAMP) $(CORE_STAMP)
	$(PY) -m devstack run

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP) $(CORE_STAMP)
	$(PY) -m pytest

bench: $(STAMP) $(CORE_STAMP)
	$(PY) -m bench.engine --json
	$(PY) -m bench.matcher --json

clean:
	rm -rf $(VENV) build *.so matcher/core/*.so .devstack .mypy_cache .ruff_cache .pytest_cache .hypothesis
