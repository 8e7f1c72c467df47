# crmsync — `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint format run manage sandbox check-deploy bench clean install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# demo, test, run and sandbox are a development machine (CRMSYNC_DEV=1): keys missing from
# the environment are generated once into var/dev-keys.env (mode 0600, git-ignored) and the
# HTTPS-only settings are off. Production sets its own keys (docs/configuration.md).
# The demo: SQLite + the embedded broker under var/demo, whatever the environment says.
DEMO_ENV := env -u DATABASE_URL -u CELERY_BROKER_URL CRMSYNC_DEV=1 CRMSYNC_VAR_DIR=var/demo

demo: $(STAMP)
	rm -rf var/demo
	$(DEMO_ENV) $(PY) manage.py migrate -v 0
	$(DEMO_ENV) $(PY) manage.py crm_demo

# The Procfile stack (web, worker, notifier, beat, flower) with honcho. Separate processes
# need a broker with a server: Redis at 127.0.0.1:6379/0 unless CELERY_BROKER_URL says otherwise.
# DATABASE_URL picks PostgreSQL (default: SQLite under var/). Flower's login comes from
# FLOWER_BASIC_AUTH=user:password. The local sandbox org is not part of it: `make sandbox`
# in another terminal (its exit never stops the stack); its host is an allowed login host.
# See docs/operations.md › "make run".
SANDBOX_PORT ?= 8443
RUN_ENV := PATH="$(abspath $(VENV))/bin:$$PATH" CELERY_BROKER_URL="$${CELERY_BROKER_URL:-redis://127.0.0.1:6379/0}" \
	CRMSYNC_DEV="$${CRMSYNC_DEV-1}" CRMSYNC_EXTRA_LOGIN_HOSTS="$${CRMSYNC_EXTRA_LOGIN_HOSTS-127.0.0.1:$(SANDBOX_PORT)}"

run: $(STAMP)
	@$(RUN_ENV) $(PY) -c "$$BROKER_CHECK"
	$(RUN_ENV) $(PY) manage.py migrate -v 0
	$(RUN_ENV) $(PY) manage.py collectstatic --noinput -v 0
	$(RUN_ENV) $(VENV)/bin/honcho start -f Procfile

# A management command with the stack's environment, from a second terminal beside
# `make run`: make manage ARGS="createsuperuser", make manage ARGS="crm_account list".
# Set DATABASE_URL (and CELERY_BROKER_URL) here as for `make run`: without DATABASE_URL the
# command uses SQLite under var/, which it says first (on stderr: stdout is the command's).
manage: $(STAMP)
	@[ -n "$$DATABASE_URL" ] || echo "make manage: DATABASE_URL is not set: SQLite under $${CRMSYNC_VAR_DIR:-var}/" >&2
	@$(RUN_ENV) $(PY) manage.py $(ARGS)

# The local Salesforce sandbox org for `make run`'s accounts, in its own terminal.
sandbox: $(STAMP)
	$(RUN_ENV) $(PY) manage.py sandbox_org --port $(SANDBOX_PORT) --data-dir "$${CRMSYNC_VAR_DIR:-var}/sandbox"

define BROKER_CHECK
import os, sys
from kombu import Connection
url = os.environ["CELERY_BROKER_URL"]
if url.startswith("memory://"):
    sys.exit("make run: memory:// works only inside one process; set CELERY_BROKER_URL=redis://...")
try:
    Connection(url, connect_timeout=3).ensure_connection(max_retries=1)
except Exception as exc:
    sys.exit(f"make run: the broker {url.split('@')[-1]} is not reachable ({exc}); start Redis or set CELERY_BROKER_URL")
endef
export BROKER_CHECK

# The type checker ([tool.mypy] in pyproject.toml): its Django plugin loads the settings,
# which need the development keys.
MYPY := CRMSYNC_DEV=1 $(PY) -m mypy

# Pass 1: everything on SQLite (tests marked `postgres` skip there).
# Pass 2: the `postgres` and `concurrency` tests again on the machine's PostgreSQL.
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/crmsync

test: $(STAMP) check-deploy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(MYPY)
	$(PY) .ci/shape.py
	CRMSYNC_DEV=1 $(PY) -m pytest
	@if [ "$$CI" = "true" ] || $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; then \
		echo "== PostgreSQL pass ($(TEST_POSTGRES_URL))"; \
		CRMSYNC_DEV=1 DATABASE_URL=$(TEST_POSTGRES_URL) $(PY) -m pytest -m "postgres or concurrency"; \
	else \
		echo "!!! PostgreSQL is not reachable at 127.0.0.1:5432: the PostgreSQL pass was NOT run (it runs under CI=true)"; \
	fi

# `check --deploy` with production's environment (fresh keys, no development switch, an
# allowed host): any warning fails it.
check-deploy: $(STAMP)
	env -u CRMSYNC_DEV -u DJANGO_DEBUG -u DJANGO_HTTPS CRMSYNC_VAR_DIR=var/check-deploy \
		DJANGO_ALLOWED_HOSTS=crmsync.example.com \
		DJANGO_SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
		CRMSYNC_ENCRYPTION_KEY="$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
		$(PY) manage.py check --deploy --fail-level WARNING

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(MYPY)
	$(PY) .ci/shape.py

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# Benchmarks (bench/README.md): the sandbox org, Redis and PostgreSQL on 127.0.0.1 (a
# database crmsync_bench is created and dropped). Writes bench/results/bench-<time>.json/.md.
# BENCH_ARGS=--quick: a smoke run; --million: add the 1,000,000-record backlog series.
bench: $(STAMP)
	CRMSYNC_DEV=1 $(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var
