"""crmsync's own settings, from the environment: what its apps (accounts, exports) read.

crmsync's settings module (crmsync/settings.py) star-imports them, and so does the settings
module of a Django project that installs crmsync's apps (docs/integration.md › Installed
into your project):

    from crmsync.defaults import *  # noqa: F403  (CRMSYNC_* and CELERY_* settings)

Django reads the upper-case names (the settings); `env_bool`, `env_int`, `env_float` and
`cache_config` are helpers a settings module may use too. Every variable read here is listed
in docs/configuration.md. A project may override any setting after the import.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from crmsync import keys
from salesforce import login_hosts


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


# A development machine (`make demo`, `make test`, `make run` set CRMSYNC_DEV=1; DJANGO_DEBUG=1
# too): keys missing from the environment come from var/dev-keys.env (generated once), and
# the HTTPS-only settings default to off. Never set it in production (`check --deploy` warns).
CRMSYNC_DEV = env_bool("CRMSYNC_DEV", False) or env_bool("DJANGO_DEBUG", False)
DEV_KEYS_FILE = Path(__file__).resolve().parent.parent / "var" / "dev-keys.env"

# --- Secrets at rest ----------------------------------------------------------
# CRMSYNC_ENCRYPTION_KEY: comma-separated Fernet keys; the first encrypts, all decrypt
# (rotation: put the new key first, run `manage.py crm_rotate_secrets`, drop the old).
CRMSYNC_ENCRYPTION_KEYS = keys.fernet_keys(
    keys.required_key(keys.ENCRYPTION_KEY_VAR, os.environ, DEV_KEYS_FILE if CRMSYNC_DEV else None)
)

# --- Where logins may go -------------------------------------------------------
# CRMSYNC_EXTRA_LOGIN_HOSTS: comma-separated host[:port] (no port: 443) allowed as login
# URL and instance URL besides Salesforce's own *.salesforce.com and *.force.com, e.g.
# the local sandbox org: 127.0.0.1:8443 (salesforce/login_hosts.py).
try:
    CRMSYNC_EXTRA_LOGIN_HOSTS = login_hosts.parse_extra_hosts(
        os.environ.get(login_hosts.ENV_NAME, "")
    )
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from None

# --- Export behaviour -----------------------------------------------------------
# Stop starting new batches above this share of the daily API limit.
CRMSYNC_API_QUOTA_SHARE = env_float("CRMSYNC_API_QUOTA_SHARE", 0.9)
# Batches (sObject Collections upserts of <= batch_size records) sent in one API call: 1 sends
# each batch alone; 2-5 packs consecutive batches into one Composite request (Salesforce takes
# at most 5 Collections subrequests in one), so a call carries up to 1,000 records.
CRMSYNC_BATCHES_PER_CALL = env_int("CRMSYNC_BATCHES_PER_CALL", 5)
if not 1 <= CRMSYNC_BATCHES_PER_CALL <= 5:
    raise ImproperlyConfigured(
        f"CRMSYNC_BATCHES_PER_CALL must be 1 to 5 (Salesforce's limit), got {CRMSYNC_BATCHES_PER_CALL}"
    )
# Records per call adapt to the org under the ceiling (batch_size x CRMSYNC_BATCHES_PER_CALL):
# a call that meets the Apex CPU limit halves it, a call slower than this many seconds
# shrinks it to fit, fast calls grow it back by a quarter. CRMSYNC_ADAPTIVE_CALLS=false keeps
# every call at the ceiling.
CRMSYNC_CALL_TARGET_S = env_float("CRMSYNC_CALL_TARGET_S", 5.0)
CRMSYNC_ADAPTIVE_CALLS = env_bool("CRMSYNC_ADAPTIVE_CALLS", True)
# How long an object's describe (field types, external id case sensitivity) is kept.
CRMSYNC_DESCRIBE_TTL_S = env_int("CRMSYNC_DESCRIBE_TTL_S", 3600)
# Requests in flight at once to one org (same instance URL and connected app), counted
# across every worker on every host through the Django cache (salesforce/org_slots.py);
# 0: no cap. Salesforce refuses more than 25 long-running ones per org. A request over the
# cap waits up to CRMSYNC_ORG_SLOT_WAIT_S for a free slot, then is retried with backoff.
CRMSYNC_ORG_CONCURRENCY = env_int("CRMSYNC_ORG_CONCURRENCY", 10)
CRMSYNC_ORG_SLOT_WAIT_S = env_float("CRMSYNC_ORG_SLOT_WAIT_S", 60.0)
if CRMSYNC_ORG_CONCURRENCY < 0 or CRMSYNC_ORG_SLOT_WAIT_S < 0:
    raise ImproperlyConfigured(
        "CRMSYNC_ORG_CONCURRENCY and CRMSYNC_ORG_SLOT_WAIT_S must be 0 or more, got "
        f"{CRMSYNC_ORG_CONCURRENCY} and {CRMSYNC_ORG_SLOT_WAIT_S:g}"
    )
# An export_batch task (one link of a run's chain) makes calls one after the other for up to
# this long, then hands over to the next link (0: one call per link). Keep it well below
# CELERY_TASK_SOFT_TIME_LIMIT.
CRMSYNC_LINK_SECONDS = env_float("CRMSYNC_LINK_SECONDS", 1.0)
# One sender per account: a link claims the right to send for the request timeout plus this
# margin, renewed with every cursor move (exports/run/claim.py). A copy of a link whose worker
# is gone takes over once the claim has expired; keep it well below the visibility timeout.
CRMSYNC_CLAIM_MARGIN_S = env_float("CRMSYNC_CLAIM_MARGIN_S", 30.0)
# Transient faults: retries per batch and the base of the exponential backoff.
CRMSYNC_MAX_RETRIES = env_int("CRMSYNC_MAX_RETRIES", 6)
CRMSYNC_RETRY_BACKOFF_S = env_int("CRMSYNC_RETRY_BACKOFF_S", 2)
CRMSYNC_RETRY_BACKOFF_MAX_S = env_int("CRMSYNC_RETRY_BACKOFF_MAX_S", 300)

# --- Alerts, metrics, retention (docs/alerts.md › Alerts, Metrics, Retention) ----------------------
# Links in alerts point at this admin (no trailing slash).
CRMSYNC_BASE_URL = os.environ.get("CRMSYNC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# Also emailed about every account (comma-separated), besides each account's own recipients.
CRMSYNC_ALERT_EMAILS = os.environ.get("CRMSYNC_ALERT_EMAILS", "")
# Webhooks to private, loopback or link-local addresses are refused unless this is on.
CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS = env_bool("CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS", False)
# A webhook delivery ends after this many seconds in all (connect, send, the answer's status
# and headers), however slowly the receiver answers; then it is retried like a timeout.
CRMSYNC_WEBHOOK_DEADLINE_S = env_float("CRMSYNC_WEBHOOK_DEADLINE_S", 10.0)
if not CRMSYNC_WEBHOOK_DEADLINE_S > 0:
    raise ImproperlyConfigured(
        f"CRMSYNC_WEBHOOK_DEADLINE_S must be more than 0 seconds, got {CRMSYNC_WEBHOOK_DEADLINE_S:g}"
    )
# A delivery that failed transiently is retried this often, backoff base/cap in seconds.
CRMSYNC_ALERT_MAX_RETRIES = env_int("CRMSYNC_ALERT_MAX_RETRIES", 8)
CRMSYNC_ALERT_RETRY_BACKOFF_S = env_float("CRMSYNC_ALERT_RETRY_BACKOFF_S", 30)
CRMSYNC_ALERT_RETRY_BACKOFF_MAX_S = env_float("CRMSYNC_ALERT_RETRY_BACKOFF_MAX_S", 3600)
# "run failing": this many runs in a row failed for a reason that is not a record.
CRMSYNC_ALERT_FAILED_RUNS = env_int("CRMSYNC_ALERT_FAILED_RUNS", 3)
# Circuit breaker: after this many runs in a row fail to log in, scheduled runs wait
# (10 min, then doubling) up to CRMSYNC_CIRCUIT_MAX_WAIT_S before the next login.
CRMSYNC_CIRCUIT_AUTH_FAILURES = env_int("CRMSYNC_CIRCUIT_AUTH_FAILURES", 3)
CRMSYNC_CIRCUIT_MAX_WAIT_S = env_int("CRMSYNC_CIRCUIT_MAX_WAIT_S", 3600)
# /metrics (every tenant's slug, backlog, pause and error codes) is closed until configured:
# a scrape sends `Authorization: Bearer <CRMSYNC_METRICS_TOKEN>`, or, with
# CRMSYNC_METRICS_ALLOW_LOOPBACK on, a client on this host needs none; never with a reverse
# proxy on the host (a request it relays comes from 127.0.0.1 too). docs/alerts.md › Metrics.
CRMSYNC_METRICS_TOKEN = os.environ.get("CRMSYNC_METRICS_TOKEN", "").strip()
CRMSYNC_METRICS_ALLOW_LOOPBACK = env_bool("CRMSYNC_METRICS_ALLOW_LOOPBACK", False)
# The HTTP intake (POST /api/v1/accounts/<slug>/records, docs/integration.md › The HTTP
# intake): the largest body in bytes (413 beyond), the most records in one request (413
# beyond), and requests per token and minute, counted in the shared cache (429 beyond; 0: no
# limit).
CRMSYNC_INTAKE_MAX_BYTES = env_int("CRMSYNC_INTAKE_MAX_BYTES", 10 * 1024 * 1024)
CRMSYNC_INTAKE_MAX_RECORDS = env_int("CRMSYNC_INTAKE_MAX_RECORDS", 10_000)
CRMSYNC_INTAKE_RATE_PER_MINUTE = env_int("CRMSYNC_INTAKE_RATE_PER_MINUTE", 60)
if CRMSYNC_INTAKE_MAX_BYTES < 1 or CRMSYNC_INTAKE_MAX_RECORDS < 1:
    raise ImproperlyConfigured(
        "CRMSYNC_INTAKE_MAX_BYTES and CRMSYNC_INTAKE_MAX_RECORDS must be 1 or more, got "
        f"{CRMSYNC_INTAKE_MAX_BYTES} and {CRMSYNC_INTAKE_MAX_RECORDS}"
    )
# crm_prune (daily CRMExport_Prune): exported outbox rows, closed ExportErrors, ExportRuns and
# Notifications older than these are deleted, CRMSYNC_PRUNE_CHUNK rows per transaction.
CRMSYNC_RETAIN_RECORDS_DAYS = env_int("CRMSYNC_RETAIN_RECORDS_DAYS", 30)
CRMSYNC_RETAIN_ERRORS_DAYS = env_int("CRMSYNC_RETAIN_ERRORS_DAYS", 90)
CRMSYNC_RETAIN_RUNS_DAYS = env_int("CRMSYNC_RETAIN_RUNS_DAYS", 90)
CRMSYNC_PRUNE_CHUNK = env_int("CRMSYNC_PRUNE_CHUNK", 2000)
# After each chunk the prune rests this many times as long as the chunk took (0: no rest).
CRMSYNC_PRUNE_REST = env_float("CRMSYNC_PRUNE_REST", 1.0)

# --- Celery -----------------------------------------------------------------------
# CELERY_BROKER_URL: redis://127.0.0.1:6379/0 in production. Default memory://:
# an embedded broker for `make demo` and `crm_export`, which then runs a worker
# inside its own process. No result backend: outcomes live in
# ExportRun rows.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task is acknowledged after it ran, and comes back if its worker dies.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Must outlast the longest batch and the longest retry countdown; the run lease
# is aligned with it. Seconds.
CRMSYNC_VISIBILITY_TIMEOUT_S = env_int("CRMSYNC_VISIBILITY_TIMEOUT_S", 3600)
# kombu looks for messages past their visibility timeout only every
# unacked_restore_interval × unacked_restore_throttle seconds (10 × 10 by default): a
# killed worker's task would come back up to 100 s late. Sweep every N seconds instead.
CRMSYNC_UNACKED_RESTORE_INTERVAL_S = env_int("CRMSYNC_UNACKED_RESTORE_INTERVAL_S", 10)
# A sweep holds a lock in Redis that kombu lets expire after 300 s: a worker killed in the
# middle of one kept every other worker from restoring a killed worker's task for five
# minutes (seen in the chaos tests). A sweep takes milliseconds; the lock expires sooner.
CRMSYNC_UNACKED_MUTEX_EXPIRE_S = 30
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CRMSYNC_VISIBILITY_TIMEOUT_S,
    "unacked_restore_interval": CRMSYNC_UNACKED_RESTORE_INTERVAL_S,
    "unacked_restore_throttle": 1,
    "unacked_mutex_expire": CRMSYNC_UNACKED_MUTEX_EXPIRE_S,
}
CRMSYNC_RUN_LEASE_S = env_int("CRMSYNC_RUN_LEASE_S", CRMSYNC_VISIBILITY_TIMEOUT_S + 60)
# Celery's Django fixup closes the database connection before and after every task
# unless this is set; then a worker reuses its connection for that many tasks. A new
# PostgreSQL connection per batch (connect, plus a new backend's cold catalog caches)
# cost ~20 ms a batch in bench/. exports.tasks closes a connection that failed, so a
# database restart costs a task one retry. 0: a new connection for every task.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 100) or None
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 660)
# Flower shows tasks only when workers send events (received, started, succeeded, failed).
CELERY_WORKER_SEND_TASK_EVENTS = True
# A "task-sent" event per message sent (Flower then lists tasks still waiting in the queue)
# is a second Redis publish per message: a third of a 5,000-account tick's time. Off.
CELERY_TASK_SEND_SENT_EVENT = env_bool("CELERY_TASK_SEND_SENT_EVENT", False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Alerts travel on a queue of their own, served by the Procfile's `notifier` (a worker
# started with `-Q` this queue): a slow webhook receiver never holds an export worker.
CRMSYNC_NOTIFICATIONS_QUEUE = os.environ.get("CRMSYNC_NOTIFICATIONS_QUEUE") or "notifications"
CELERY_TASK_ROUTES = {"exports.tasks.send_notification": {"queue": CRMSYNC_NOTIFICATIONS_QUEUE}}


def cache_config(url: str) -> dict[str, object]:
    """CRMSYNC_CACHE_URL as Django's CACHES["default"]: Redis (shared by every worker on
    every host: tokens, describes, per-org call slots) or this process's memory. Either
    holds JSON, never pickles (salesforce/cache_entries.py): an entry is data, not code."""
    if url.startswith(("redis://", "rediss://")):
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "crmsync",
            "OPTIONS": {
                "socket_connect_timeout": 3,
                "socket_timeout": 3,
                "serializer": "salesforce.cache_entries.JsonSerializer",
            },
        }
    if url in {"locmem://", "locmem:"}:
        return {"BACKEND": "salesforce.cache_entries.JsonLocMemCache"}
    raise ImproperlyConfigured(
        f"CRMSYNC_CACHE_URL must be redis://host:port/db, rediss://... or locmem://, "
        f"got {url.split('@')[-1]!r}"
    )
