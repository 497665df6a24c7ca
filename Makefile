# labelnb build / test plumbing.  CI runs `bash .ci/run`, which runs `make test`.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Connection string for the `postgres`-marked tests (scripts/ensure_postgres.sh
# makes sure the server, a role for the current user and database `test` exist).
export LABELNB_TEST_PG_URL ?= postgresql://127.0.0.1/test
export PIP_DISABLE_PIP_VERSION_CHECK := 1

PIP_FLAGS := $(if $(CI),--progress-bar off,)
PYTEST_TIMEOUT ?= 600
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: help venv test demo lint typecheck bench clean distclean

help:
	@echo "make venv       create .venv and pip install -e '.[all,dev]'"
	@echo "make test       unit/integration tests + notebooks (nbval-lax); needs chromium + postgres"
	@echo "make demo       build the demo project and open JupyterLab  (DEMO_ARGS=--no-browser)"
	@echo "make lint       ruff check labelnb tests"
	@echo "make typecheck  mypy (strict, see pyproject.toml)"
	@echo "make bench      benchmarks/queue_throughput.py"
	@echo "make clean      remove caches and build/demo outputs (distclean also removes .venv)"

venv: $(STAMP)

# Reinstalls whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(PIP_FLAGS) --upgrade pip
	$(PY) -m pip install $(PIP_FLAGS) -e '.[all,dev]'
	touch $@

test: venv
	bash scripts/ensure_chromium.sh
	bash scripts/ensure_postgres.sh
	$(PY) -m pytest -p no:cacheprovider --timeout=$(PYTEST_TIMEOUT) --nbval-lax tests notebooks $(PYTEST_ARGS)

demo: venv
	$(VENV)/bin/labelnb demo $(DEMO_ARGS)

lint: venv
	$(VENV)/bin/ruff check labelnb tests

typecheck: venv
	$(VENV)/bin/mypy

bench: venv
	$(PY) benchmarks/queue_throughput.py

clean:
	find . -path ./$(VENV) -prune -o -type d \( -name __pycache__ -o -name .ipynb_checkpoints \) -print0 \
		| xargs -0 rm -rf
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info \
		demo-project benchmarks/_runs

distclean: clean
	rm -rf $(VENV)
