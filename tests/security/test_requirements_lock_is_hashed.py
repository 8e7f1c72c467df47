"""Production installs are reproducible and tamper-evident: requirements.lock pins every
run-time dependency of pyproject.toml (and setuptools, to build crmsync) with its sha256
hashes, so `pip install --require-hashes -r requirements.lock` takes nothing else; and
`cryptography`, which holds the secrets at rest, has an upper bound."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.processes import REPO

PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s\\]+)")


def locked() -> dict[str, list[str]]:
    """name → hashes of every requirement in requirements.lock."""
    entries: dict[str, list[str]] = {}
    current = None
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match.group(1))
            entries[current] = []
        elif current and (hash_ := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            entries[current].append(hash_.group(1))
        elif line and not line.startswith((" ", "#")):
            raise AssertionError(f"requirements.lock: not a pinned requirement: {line!r}")
    return entries


def runtime_dependencies() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"]]


def test_every_runtime_dependency_is_pinned_with_hashes() -> None:
    entries = locked()

    missing = [r.name for r in runtime_dependencies() if canonicalize_name(r.name) not in entries]
    assert missing == []
    assert "setuptools" in entries
    assert {name for name, hashes in entries.items() if not hashes} == set()


def test_cryptography_is_bounded() -> None:
    [cryptography] = [r for r in runtime_dependencies() if r.name == "cryptography"]

    assert any(spec.operator == "<" for spec in cryptography.specifier)
