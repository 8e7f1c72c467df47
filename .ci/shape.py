#!/usr/bin/env python3
"""The shape of the product code: small modules, short functions, imports that point one way,
docs that speak of the product.

    python3 .ci/shape.py        (from anywhere; stdlib only; exit 1 and a list on a break)

Fails when, in the product packages (PACKAGES, migrations excluded for sizes):

1. a module is over MAX_MODULE_LINES lines (its line count);
2. a function or method is over MAX_FUNCTION_LINES lines (`def` line to its last line;
   decorators not counted);
3. the modules import each other in a circle: every `import a.b` and `from a import b`
   anywhere in a module (inside functions and `if TYPE_CHECKING:` too), relative ones resolved,
   `from package import module` taken as an import of that module; each strongly connected
   group of modules is reported with one circle through it;
4. README.md, docs/*.md, bench/README.md or a .py file of the packages (migrations too)
   holds process words (PROCESS_WORDS: issue numbers, commit hashes, rounds of work). A
   commit hash has both digits and letters (so "31536000 (" is a number, not a hash).
   CHANGELOG.md is where such history belongs and is not read.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("exports", "accounts", "salesforce", "sandbox", "crmsync", "bench")
DOCS = ("README.md", "docs/*.md", "bench/README.md")
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
PROCESS_WORDS = re.compile(
    r"(?i:issue) [0-9]+"
    r"|\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b \("  # a hash: digits and letters
    r"|\bround(s)? [0-9]"
    r"|(First|Second|Third|Fourth|Fifth) round"
)


def main() -> int:
    modules = dict(_modules())
    problems = {
        f"modules over {MAX_MODULE_LINES} lines": _long_modules(modules),
        f"functions over {MAX_FUNCTION_LINES} lines": _long_functions(modules),
        "import circles": _import_circles(modules),
        "process words (issue numbers, commit hashes, rounds)": _process_words(),
    }
    failed = False
    for title, found in problems.items():
        if found:
            failed = True
            print(f"{title}:")
            for line in found:
                print(f"  {line}")
    if failed:
        return 1
    print(
        f"shape: {len(modules)} modules of {', '.join(PACKAGES)}: none over "
        f"{MAX_MODULE_LINES} lines, no function over {MAX_FUNCTION_LINES}, no import circle, "
        "no process words"
    )
    return 0


# --- the modules ----------------------------------------------------------------------------


def _python_files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _modules() -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of each module of the packages; a package is its __init__."""
    for path in _python_files():
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "migrations" in parts:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


# --- sizes ----------------------------------------------------------------------------------


def _long_modules(modules: dict[str, Path]) -> list[str]:
    out = []
    for path in modules.values():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            out.append(f"{_rel(path)}: {lines} lines")
    return out


def _long_functions(modules: dict[str, Path]) -> list[str]:
    out = []
    for path in modules.values():
        for name, node in _functions(_parse(path)):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                out.append(f"{_rel(path)}:{node.lineno} {name}: {length} lines")
    return out


def _functions(
    tree: ast.AST, prefix: str = ""
) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function, method and nested function, by its qualified name."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + node.name, node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


# --- import circles -------------------------------------------------------------------------


def _import_circles(modules: dict[str, Path]) -> list[str]:
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    out = []
    for group in _strongly_connected(graph):
        circle = _circle(sorted(group)[0], group, graph)
        line = " -> ".join(circle)
        if len(group) > len(circle) - 1:
            line += f"  (all of: {', '.join(sorted(group))})"
        out.append(line)
    return sorted(out)


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project's modules this one imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(_parse(path)):
        if isinstance(node, ast.Import):
            found.update(_known(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            for alias in node.names:
                submodule = f"{base}.{alias.name}" if base else alias.name
                found.add(submodule if submodule in modules else _known(base, modules))
    found.discard("")
    found.discard(name)
    return found


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - node.level + 1]) if node.level <= len(parts) else ""
    return ".".join(filter(None, [base, node.module]))


def _known(dotted: str, modules: dict[str, Path]) -> str:
    """The deepest project module a dotted name points at ("" when outside the project)."""
    parts = dotted.split(".")
    while parts:
        if ".".join(parts) in modules:
            return ".".join(parts)
        parts.pop()
    return ""


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative; only groups of two modules or more."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(group)
    return groups


def _circle(start: str, group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest path from `start` back to itself inside its group."""
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & group):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return [start]


# --- process words ----------------------------------------------------------------------------


def _process_words() -> list[str]:
    files = [path for pattern in DOCS for path in sorted(ROOT.glob(pattern))]
    files += list(_python_files())
    out = []
    for path in dict.fromkeys(files):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for match in PROCESS_WORDS.finditer(line):
                out.append(f"{_rel(path)}:{number}: {match.group(0)!r} in {line.strip()[:100]!r}")
    return out


if __name__ == "__main__":
    sys.exit(main())
