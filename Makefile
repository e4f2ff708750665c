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
	@echo "make bench     run the benchmarks (python -m benchmarks; BENCH_ROWS, BENCH_LEADS), print their figures"
	@echo "make bench-test  the benchmarks' own tests (pytest -m bench)"
	@echo "make dev       dagster dev, UI on http://127.0.0.1:3000 (UI_PORT=… or LEADFLOW_UI_PORT);"
	@echo "               Ctrl-C or SIGTERM stops it and all its processes"
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
	$(BIN)/leadflow local up
	$(BIN)/leadflow db migrate
	$(BIN)/leadflow db seed
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

# python -m benchmarks: the checkout's benchmarks/ (not in the installed package); --help lists them
bench: install
	$(BIN)/leadflow local up
	$(BIN)/python -m benchmarks ingest --rows $(BENCH_ROWS)
	$(BIN)/python -m benchmarks graph --leads $(BENCH_LEADS)
	$(BIN)/python -m benchmarks dbt --leads $(BENCH_LEADS)
	$(BIN)/python -m benchmarks recommend --leads $(BENCH_LEADS)
	$(BIN)/python -m benchmarks nightly --leads $(BENCH_LEADS)

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

# The launcher (leadflow/platform/dev.py) runs `dagster dev` in a process group of its own and
# stops all of it on Ctrl-C, SIGTERM or SIGHUP, with or without a terminal; `exec` makes it
# make's own child, so a SIGTERM to make reaches it.
UI_PORT ?=

dev: install
	$(BIN)/leadflow local up
	exec $(BIN)/python -m leadflow.platform.dev $(if $(UI_PORT),--port $(UI_PORT))

up: install
	$(BIN)/leadflow local up

down:
	test ! -x $(BIN)/leadflow || $(BIN)/leadflow local down

status: install
	$(BIN)/leadflow local status

clean: down
	rm -rf .leadflow .pytest_cache

distclean: clean
	rm -rf $(VENV) *.egg-info
