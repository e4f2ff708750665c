# leadflow: the README's two commands are `make demo` and `make test`.
# Everything else (virtualenv, packages, local servers) is installed and started from here.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# uv installs the pinned set (constraints.txt) in seconds where pip takes a minute and a half
UV_VERSION ?= 0.13.9

.DEFAULT_GOAL := help
.PHONY: help install dbt-manifest managed-pg demo test test-all bench bench-test lint format dev up down status clean distclean

help:
	@echo "make demo      install, start local servers, migrate, seed, run the demo"
	@echo "make test      run the test suite against real local servers (what CI runs)"
	@echo "make lint      ruff check + format check, sqlfluff on the dbt SQL"
	@echo "make bench     run the benchmarks (BENCH_ROWS, BENCH_LEADS) and print their figures"
	@echo "make bench-test  the benchmarks' own tests (pytest -m bench)"
	@echo "make dev       dagster dev (UI on http://127.0.0.1:3000)"
	@echo "make dbt-manifest  parse the dbt project into dbt/target/manifest.json (a deployment's build step)"
	@echo "make down      stop the local servers"
	@echo "make clean     stop servers, remove .leadflow/ state (databases!)"

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "leadflow needs Python >= 3.11 (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e ".[local,deploy,dev]"
	touch $(STAMP)

# The manifest the dbt assets are built from. `dagster dev` parses the project itself, and so do
# `leadflow run`, `leadflow demo` and the test suite; a deployment runs this once per release
# (dagster-dbt's preparer runs the `dbt` on PATH: the virtualenv's).
dbt-manifest: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dagster-dbt project prepare-and-package --file leadflow/analytics/dbt_project.py

demo: install
	$(BIN)/leadflow up
	$(BIN)/leadflow migrate
	$(BIN)/leadflow seed
	$(BIN)/leadflow demo

test: install managed-pg
	$(BIN)/python -m pytest -m "not bench" -n 2 --dist loadgroup

test-all: install managed-pg
	$(BIN)/python -m pytest

# Debian's postgresql-15: the second PostgreSQL the deployment and hostile-tenant tests run on,
# as a managed service hands it over (a non-superuser owner, password auth). Installed with
# apt-get when missing and this is root on Debian; otherwise those tests skip and say why. The
# package's own cluster is not created (the tests start theirs under .leadflow/).
managed-pg:
	@if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  mkdir -p /etc/postgresql-common && \
	  echo "create_main_cluster = false" >> /etc/postgresql-common/createcluster.conf && \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null; \
	else echo "note: Debian's postgresql-15 is missing and cannot be installed here (needs root and apt-get): the managed-PostgreSQL tests will skip"; fi

BENCH_ROWS  ?= 200000
BENCH_LEADS ?= 100000

bench: install
	$(BIN)/leadflow up
	$(BIN)/leadflow bench ingest --rows $(BENCH_ROWS)
	$(BIN)/leadflow bench graph --leads $(BENCH_LEADS)
	$(BIN)/leadflow bench dbt --leads $(BENCH_LEADS)
	$(BIN)/leadflow bench recommend --leads $(BENCH_LEADS)
	$(BIN)/leadflow bench nightly --leads $(BENCH_LEADS)

bench-test: install
	$(BIN)/python -m pytest -m bench

# sqlfluff: the dbt models, tests and macros (rules and why in .sqlfluff; offline, no database)
lint: install
	$(BIN)/ruff check leadflow benchmarks tests scripts
	$(BIN)/ruff format --check leadflow benchmarks tests scripts
	$(BIN)/sqlfluff lint --disable-progress-bar dbt
	$(BIN)/mypy

# sqlfluff fix rewrites layout and spelling only (see .sqlfluff); review its diff like any other
format: install
	$(BIN)/ruff format leadflow benchmarks tests scripts
	$(BIN)/ruff check --fix leadflow benchmarks tests scripts
	$(BIN)/sqlfluff fix --disable-progress-bar dbt

dev: install
	$(BIN)/leadflow up
	eval "$$($(BIN)/leadflow env)" && \
	export DAGSTER_HOME="$${DAGSTER_HOME:-$(CURDIR)/.leadflow/dagster}" && mkdir -p "$$DAGSTER_HOME" && \
	export PATH="$(CURDIR)/$(BIN):$$PATH" && \
	$(BIN)/dagster dev -m leadflow.definitions

up: install
	$(BIN)/leadflow up

down:
	test ! -x $(BIN)/leadflow || $(BIN)/leadflow down

status: install
	$(BIN)/leadflow status

clean: down
	rm -rf .leadflow .pytest_cache

distclean: clean
	rm -rf $(VENV) *.egg-info
