"""The package's import graph, read with ``ast`` (nothing is imported).

``python tests/support/imports.py [package_dir]`` prints the figures the layer
rule is judged by: modules and their lines, import cycles, upward imports and
function-level imports of the package's own modules.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "nglogger"

#: Lowest first. A module may import its own layer and the layers before it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("_version", "_core")),
    ("config", ("_config",)),
    ("event", ("_event",)),
    ("delivery", ("_delivery",)),
    ("sinks", ("sinks",)),
    ("spool", ("_spool",)),
    ("pipeline", ("_pipeline",)),
    (
        "integrations",
        (
            "stdlib",
            "middleware",
            "typing",
            "otel",
            "testing",
            "pytest_plugin",
            "cli",
            "_bench",
            "_demo",
            "auto",
            "__main__",
            "",  # the package itself: its __init__ re-exports the public names
        ),
    ),
)


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target`` at ``line``; ``deferred`` when inside a function."""

    source: str
    target: str
    line: int
    deferred: bool
    type_only: bool


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(root, p): p for p in sorted(root.rglob("*.py"))}


def _resolve(current: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: -(level - 1)]
    return ".".join([*base, *([name] if name else [])])


def _walk(tree: ast.AST) -> Iterator[tuple[ast.AST, bool, bool]]:
    """Every import node, with (inside a function, under ``if TYPE_CHECKING``)."""

    def visit(
        node: ast.AST, deferred: bool, type_only: bool
    ) -> Iterator[tuple[ast.AST, bool, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, deferred, type_only
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from visit(child, True, type_only)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for stmt in child.body:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), deferred, True)
                for stmt in child.orelse:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), deferred, type_only)
            else:
                yield from visit(child, deferred, type_only)

    return visit(tree, False, False)


def edges(root: Path) -> list[Edge]:
    """Imports between the package's own modules (a submodule import counts its packages too)."""
    known = modules(root)
    found: list[Edge] = []
    for name, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        for node, deferred, type_only in _walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node.level, node.module)
                for alias in node.names:
                    sub = f"{base}.{alias.name}" if base else alias.name
                    targets.append(sub if sub in known else base)
            for target in targets:
                if target != PACKAGE and not target.startswith(PACKAGE + "."):
                    continue
                # a.b.c names the module itself (its packages' __init__ run first and
                # completely, so they are not a dependency of the importer)
                if target in known and target != name:
                    found.append(Edge(name, target, node.lineno, deferred, type_only))
    return sorted(set(found), key=lambda e: (e.source, e.line, e.target))


def layer_of(module: str) -> int:
    """The index in LAYERS of a module (``nglogger.sinks.http`` -> sinks)."""
    rest = module.removeprefix(PACKAGE).removeprefix(".")
    head = rest.split(".", 1)[0]
    for index, (_, names) in enumerate(LAYERS):
        if head in names:
            return index
    raise KeyError(f"{module} is in no layer: add it to LAYERS")


def upward(found: list[Edge]) -> list[Edge]:
    return [e for e in found if layer_of(e.target) > layer_of(e.source)]


def cycles(found: list[Edge]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for e in found:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = [0]

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(result)


def line_counts(root: Path) -> Mapping[str, int]:
    return {name: len(path.read_text().splitlines()) for name, path in modules(root).items()}


def _is_package(root: Path, name: str) -> bool:
    return modules(root)[name].name == "__init__.py"


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[2] / PACKAGE
    counts = line_counts(root)
    found = edges(root)
    root_modules = sorted(n for n in counts if n.count(".") == 1 and not _is_package(root, n))
    print(
        f"modules: {len(counts)} ({len(root_modules)} in the package root), "
        f"lines: {sum(counts.values())}, import arrows: {len(found)}"
    )
    print("layers, lowest first: modules, lines, arrows within the layer, arrows to lower layers")
    for index, (layer, heads) in enumerate(LAYERS):
        members = [n for n in counts if layer_of(n) == index]
        within = sum(1 for e in found if layer_of(e.source) == index == layer_of(e.target))
        down = sum(1 for e in found if layer_of(e.source) == index > layer_of(e.target))
        lines = sum(counts[n] for n in members)
        shown = " ".join(h or "(package)" for h in heads)
        print(f"  {layer:13s} {len(members):3d} {lines:6d} {within:4d} {down:4d}  {shown}")
    for name, lines in sorted(counts.items(), key=lambda item: -item[1]):
        any_count = sum("Any" in line for line in modules(root)[name].read_text().splitlines())
        print(f"  {lines:6d} lines  {any_count:4d} lines with Any  {name}")
    found_cycles = cycles(found)
    print(f"cycles: {len(found_cycles)}")
    for component in found_cycles:
        print(f"  {len(component)} modules: {' '.join(component)}")
    ups = upward(found)
    print(f"upward imports: {len(ups)}")
    for e in ups:
        print(f"  {e.source}:{e.line} -> {e.target}{' (in a function)' if e.deferred else ''}")
    deferred = [e for e in found if e.deferred]
    print(f"function-level imports of the package's own modules: {len(deferred)}")
    for e in deferred:
        print(f"  {e.source}:{e.line} -> {e.target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
