"""What the API's handlers see of a running sandbox org (`server.SandboxOrg` is one):
named here so the handlers do not import the server that dispatches to them."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from sandbox.auth import Tokens
from sandbox.delete import Deleter
from sandbox.faults import Faults
from sandbox.paging import QueryLocators
from sandbox.rules import Rules
from sandbox.stats import Stats
from sandbox.store import Store
from sandbox.upsert import Upserter


class Org(Protocol):
    data_dir: Path
    faults: Faults
    stats: Stats
    query_locators: QueryLocators
    rules: Rules
    store: Store
    tokens: Tokens
    upserter: Upserter
    deleter: Deleter
    control_token: str

    @property
    def url(self) -> str: ...

    def apply_rules(self, rules: Rules) -> None: ...
