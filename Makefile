# crmsync — `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint format run bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The demo: SQLite + the embedded broker under var/demo, whatever the environment says.
DEMO_ENV := env -u DATABASE_URL -u CELERY_BROKER_URL CRMSYNC_VAR_DIR=var/demo

demo: $(STAMP)
	rm -rf var/demo
	$(DEMO_ENV) $(PY) manage.py migrate -v 0
	$(DEMO_ENV) $(PY) manage.py crm_demo

# Pass 1: everything on SQLite (tests marked `postgres` skip there).
# Pass 2: the `postgres` and `concurrency` tests again on the machine's PostgreSQL.
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/crmsync

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest
	@if [ "$$CI" = "true" ] || $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; then \
		echo "== PostgreSQL pass ($(TEST_POSTGRES_URL))"; \
		DATABASE_URL=$(TEST_POSTGRES_URL) $(PY) -m pytest -m "postgres or concurrency"; \
	else \
		echo "!!! PostgreSQL is not reachable at 127.0.0.1:5432: the PostgreSQL pass was NOT run (it runs under CI=true)"; \
	fi

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) var
