"""Imports inside nglogger go one way: no cycles, no import of a higher layer.

The layers, lowest first, are ``tests/support/imports.py``'s ``LAYERS``, one package
each: ``_core`` -> ``_config`` -> ``_event`` -> ``_delivery`` -> ``sinks`` -> ``_spool``
-> ``_pipeline`` -> integrations (``stdlib``, ``otel``, ``cli``...). The graph is read with ``ast`` from the source (nothing is
imported), every import counted: module level, in functions, under
``TYPE_CHECKING``. A function-level import of the package's own modules is
allowed only to load an optional feature when it is first used.
"""

from __future__ import annotations

from pathlib import Path

from support.imports import LAYERS, PACKAGE, cycles, edges, layer_of, modules, upward

ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: Function-level imports of our own modules that load an optional feature on first
#: use, so ``import nglogger`` stays light. Anything else is imported at the top.
LAZY_FEATURES: frozenset[tuple[str, str]] = frozenset(
    {
        (
            "nglogger._config.config",
            "nglogger._config.environ",
        ),  # Config.from_env: the environment parser
        ("nglogger._pipeline.default", "nglogger._config.report"),  # configure(): the same
        ("nglogger._config.sinkuri", "nglogger._config.otlp"),  # options of an otlp+http(s):// URI
        ("nglogger.cli", "nglogger._bench.harness"),  # `nglogger bench`
        ("nglogger.cli", "nglogger._bench.speed"),  # its targets, shown beside its figures
        ("nglogger.cli", "nglogger._bench.gate"),  # `nglogger bench --compare`
        ("nglogger.cli", "nglogger._demo"),  # `nglogger demo`
        ("nglogger.pytest_plugin", "nglogger.testing"),  # loaded by pytest in every run
        ("nglogger.sinks", "nglogger.sinks.file"),  # each sink module: when a URI names it
        ("nglogger.sinks", "nglogger.sinks.http"),
        ("nglogger.sinks", "nglogger.sinks.datadog"),
        ("nglogger.sinks", "nglogger.sinks.honeycomb"),
        ("nglogger.sinks", "nglogger.sinks.loki"),
        ("nglogger.sinks", "nglogger.sinks.elasticsearch"),
        ("nglogger.sinks", "nglogger.sinks.otlp"),
        ("nglogger.sinks", "nglogger.sinks.otlp_grpc"),
        ("nglogger.sinks.stream", "nglogger.sinks._console"),  # format=console only
        ("nglogger._bench.speed", "nglogger.stdlib"),  # the stdlib benchmark scenario
    }
)


def test_every_module_belongs_to_a_layer() -> None:
    """Each module of the package is placed in exactly one layer."""
    unplaced = []
    for name in modules(ROOT):
        try:
            layer_of(name)
        except KeyError:
            unplaced.append(name)
    assert unplaced == []
    names = [n for _, members in LAYERS for n in members]
    assert len(names) == len(set(names))


def test_no_import_cycles() -> None:
    """No module imports, directly or through others, a module that imports it."""
    assert cycles(edges(ROOT)) == []


def test_no_upward_imports() -> None:
    """No module imports one of a higher layer (settings never import sinks...)."""
    found = [f"{e.source}:{e.line} -> {e.target}" for e in upward(edges(ROOT))]
    assert found == []


def test_function_level_imports_only_load_optional_features() -> None:
    """A deferred import of our own modules is a listed optional feature, not a dodged cycle."""
    found = sorted(
        f"{e.source}:{e.line} -> {e.target}"
        for e in edges(ROOT)
        if e.deferred and (e.source, e.target) not in LAZY_FEATURES
    )
    assert found == []


def test_allow_lists_hold_only_edges_that_exist() -> None:
    """An allowed edge that no longer exists is removed from the lists (they only shrink)."""
    present = {(e.source, e.target) for e in edges(ROOT)}
    assert sorted(LAZY_FEATURES - present) == []


def test_the_checks_see_a_planted_upward_import_and_cycle(tmp_path: Path) -> None:
    """The analysis reports an upward import and a cycle planted in a copy of the layout."""
    package = tmp_path / PACKAGE
    (package / "sinks").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sinks" / "__init__.py").write_text("from .._config import X\n")
    (package / "_config.py").write_text("def f():\n    from .sinks import Y\n")
    found = edges(package)
    assert [("nglogger._config", "nglogger.sinks", True)] == [
        (e.source, e.target, e.deferred) for e in upward(found)
    ]
    assert [["nglogger._config", "nglogger.sinks"]] == cycles(found)
