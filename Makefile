# The two commands: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || "$$(tools/find-python312)" -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv
	@$(VENV)/bin/uv pip install -q --python $(PY) -r requirements.txt -r requirements-dev.txt
	@touch $@

run: $(STAMP)
	$(PY) -m devstack run

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m bench.engine --json

clean:
	rm -rf $(VENV) .devstack .mypy_cache .ruff_cache .pytest_cache .hypothesis
