"""The demo's host app: the example app's rows (crmsync/example: a tenant mapped onto the demo
account, companies, people, one touchpoint per person) and how they reach the outbox.

- The bulk is created with `bulk_create` (no signals: nothing is enqueued), then
  `crm_backfill` enqueues each declared export's rows, parents first.
- Later rows: `bulk_create` again, then `export_objects(...)`, as docs/integration.md says.
- Single saves and deletions go through the ORM and are captured by crmsync's signals.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

from django.core.management import call_command

from accounts.models import Account
from crmsync.example.models import Company, Person, Tenant, Touchpoint
from exports.mapping import export_objects

TENANT = "Demo shop"
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken")
CHANNELS = ("Web", "Email", "Event", "Webinar")
EXPORTS = ("CompanyExport", "PersonExport", "TouchpointExport")  # parents first
START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def fresh_tenant(account: Account) -> Tenant:
    """The demo's tenant, mapped onto `account` (a previous demo's rows deleted first)."""
    Tenant.objects.filter(name=TENANT).delete()
    return Tenant.objects.create(name=TENANT, crm_account=account)


def create_companies(tenant: Tenant, n: int) -> list[Company]:
    return Company.objects.bulk_create(
        [Company(tenant=tenant, name=f"Company {i}") for i in range(1, n + 1)]
    )


def create_people(
    tenant: Tenant, start: int, n: int, bad: set[int], companies: list[Company]
) -> tuple[list[Person], list[Touchpoint]]:
    """People `start`..`start + n - 1` (bad ones: Customers without an email), each with one
    touchpoint, in two `bulk_create`s (no signals)."""
    people = Person.objects.bulk_create(
        [
            _person(tenant, i, i in bad, companies[i % len(companies)])
            for i in range(start, start + n)
        ]
    )
    touchpoints = Touchpoint.objects.bulk_create(
        [
            Touchpoint(
                tenant=tenant,
                person=person,
                channel=CHANNELS[i % len(CHANNELS)],
                occurred_at=START + dt.timedelta(minutes=7 * i),
            )
            for i, person in enumerate(people, start=start)
        ]
    )
    return people, touchpoints


def _person(tenant: Tenant, i: int, bad: bool, company: Company) -> Person:
    return Person(
        tenant=tenant,
        company=company,
        first_name=FIRST_NAMES[i % len(FIRST_NAMES)],
        last_name=person_name(i),
        email="" if bad else f"person{i}@example.com",
        kind="Customer" if bad else "Lead",
        birthday=dt.date(1960 + i % 40, 1 + i % 12, 1 + i % 28),
        score=Decimal(i % 400) / 4,
    )


def person_name(i: int) -> str:
    return f"Person {i}"


def person(tenant: Tenant, i: int) -> Person:
    return Person.objects.get(tenant=tenant, last_name=person_name(i))


def name_of(external_id: str) -> str:
    """The name of the person an external id names ("" if none), for the demo's lines."""
    found = Person.objects.filter(uuid=external_id).first()
    return found.last_name if found is not None else ""


def backfill(slug: str) -> list[str]:
    """`crm_backfill` of each declared export, parents first: each run's last line."""
    lines = []
    for export in EXPORTS:
        out = StringIO()
        call_command("crm_backfill", account=slug, export=export, no_progress=True, stdout=out)
        lines.append(out.getvalue().strip().splitlines()[-1])
    return lines


def enqueue_new(people: list[Person], touchpoints: list[Touchpoint]) -> int:
    """Rows made with `bulk_create` sent no signal: enqueue them (people first)."""
    return export_objects(people) + export_objects(touchpoints)
