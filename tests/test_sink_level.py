"""Per-sink level and filter: one serialization, each sink gets its part of the shared batch.

A sink's ``level`` (``?level=`` on its URI, ``level=`` on an object) and ``filter``
are applied by the batcher with byte operations over the batch, never in a log
call; what a sink does not get is counted ``filtered`` on that sink (not a drop),
and its accounting (``accepted == exported + dropped + queued``) stays exact.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest
from support.http import LoopbackServer

import nglogger
from nglogger import Batch, Config, ConfigError
from nglogger._config.sinkuri import parse_sink_uri
from nglogger._core.levels import ERROR, WARNING
from nglogger._event.timestamp import timestamp
from nglogger._pipeline.select import Selector, selector_for
from nglogger.sinks import MemorySink, NullSink
from nglogger.sinks.file import FileSink
from nglogger.sinks.http import HttpSink

LEVELS = ("debug", "info", "warning", "error", "critical")


def _event(level: str, i: int) -> bytes:
    # a nested "timestamp"/"level" pair must not be taken for the event's own head
    return orjson.dumps(
        {
            "timestamp": timestamp(),
            "level": level,
            "logger": "app",
            "message": f"m{i}",
            "inner": {"timestamp": "2026-12-02T01:11:33.641457Z", "level": "critical"},
        }
    )


@pytest.mark.parametrize("threshold", LEVELS)
def test_a_level_keeps_exactly_the_events_at_or_above_it(threshold: str) -> None:
    """Every event at or above the level, in order; anything without the layout kept too."""
    events = [_event(LEVELS[i % 5], i) for i in range(50)]
    events.insert(7, b'{"not":"an nglogger head"}')
    batch = Batch.from_events(events, seq=9)
    selected = Selector(LEVELS.index(threshold) * 10 + 10, None)(batch)
    expected = [
        e
        for e in events
        if b"timestamp" not in e[:14]
        or LEVELS.index(orjson.loads(e)["level"]) >= LEVELS.index(threshold)
    ]
    kept = selected.batch
    if threshold == "debug":
        assert kept is batch  # nothing left out: the shared batch itself
    assert kept is not None
    assert kept.events() == expected
    assert kept.count == len(expected)
    assert kept.seq == 9
    assert selected.filtered == len(events) - len(expected)
    assert kept.data.endswith(b"\n")


def test_a_batch_with_nothing_selected_gives_no_batch() -> None:
    """All events below the level: no batch for the sink, all counted filtered."""
    batch = Batch.from_events([_event("info", i) for i in range(5)])
    assert Selector(ERROR, None)(batch) == (None, 5, 0)


def test_a_filter_sees_each_event_and_a_raising_one_keeps_it() -> None:
    """filter(event_bytes) decides after the level; an exception keeps the event, counted."""
    seen: list[bytes] = []

    def keep(event: bytes) -> bool:
        seen.append(event)
        if b'"m3"' in event:
            raise ValueError("broken filter")
        return b'"m1"' in event

    events = [_event("warning", i) for i in range(5)] + [_event("info", 5)]
    selected = Selector(WARNING, keep)(Batch.from_events(events))
    assert seen == events[:5]  # the info event never reached the filter
    assert selected.batch is not None
    assert selected.batch.events() == [events[1], events[3]]
    assert (selected.filtered, selected.filter_errors) == (4, 1)


def test_level_option_on_uris_and_objects() -> None:
    """?level= on any URI (removed before the sink sees it), level= on every sink class."""
    assert parse_sink_uri("datadog?level=error").level == ERROR
    assert parse_sink_uri("datadog?level=error").kind == "datadog"
    file_uri = parse_sink_uri("file:///var/log/a.ndjson?max_bytes=1MiB&level=WARNING")
    assert (file_uri.target, file_uri.level, file_uri.file) == (
        "/var/log/a.ndjson",
        WARNING,
        {"max_bytes": 1024 * 1024},
    )
    http = parse_sink_uri("https://logs.example.com/in?token=abc&level=40")
    assert (http.target, http.level) == ("https://logs.example.com/in?token=abc", ERROR)
    assert parse_sink_uri("stdout").level is None
    for sink in (
        MemorySink(level="error"),
        NullSink(level=40),
        FileSink("/tmp/never-opened.ndjson", level="error"),
        HttpSink("http://127.0.0.1:9/x", level="ERROR"),
    ):
        assert sink.level == ERROR
        assert selector_for(sink) is not None
    assert selector_for(MemorySink()) is None
    assert selector_for(MemorySink(level="debug")) is None  # keeps everything anyway


def test_datadog_sink_takes_a_level() -> None:
    """DatadogSink(..., level="error"): the vendor sinks pass level= to the HTTP base."""
    from nglogger.sinks.datadog import DatadogSink

    sink = DatadogSink(api_key="k" * 32, level="error")
    assert sink.level == ERROR


def test_bad_level_values_are_clear_config_errors() -> None:
    """A bad ?level= names the sink, the option, the value and what is accepted."""
    with pytest.raises(ConfigError) as info:
        Config(sinks=["stdout", "datadog?level=loud"])
    text = str(info.value)
    assert text.startswith(
        "sinks='datadog?level=loud': bad value for level: 'loud'; accepted: level= one of debug"
    )
    with pytest.raises(ConfigError) as info:
        Config(sinks=["https://user:pw@logs.example.com/x?level=verbose&token=t"])
    text = str(info.value)
    assert "bad value for level: 'verbose'" in text
    assert "pw" not in text
    assert "token" not in text
    with pytest.raises(ConfigError, match=r"level given twice"):
        Config(sinks=["stdout?level=info&level=error"])
    with pytest.raises(ConfigError, match=r"level='loud' is invalid; accepted: None, or debug"):
        MemorySink(level="loud")
    with pytest.raises(ConfigError, match=r"filter=3 is invalid"):
        MemorySink(filter=3)  # type: ignore[arg-type]


def _invariant(stats: nglogger.Stats) -> None:
    for name, sink in stats.sinks.items():
        assert sink.accepted == sink.exported + sum(sink.dropped.values()) + sink.queued_events, (
            name
        )


def test_two_sinks_get_their_parts_and_counters_stay_exact() -> None:
    """Everything to one sink, errors only to the other: exact contents, filtered counted."""
    everything = MemorySink(name="everything")
    errors = MemorySink(name="errors", level="error")
    nglogger.configure(sinks=[everything, errors], level="debug")
    log = nglogger.get_logger("app")
    for i in range(300):
        getattr(log, LEVELS[i % 5])("event", i=i)
    assert nglogger.flush(5)
    assert [e["i"] for e in everything.events()] == list(range(300))
    assert [(e["i"], e["level"]) for e in errors.events()] == [
        (i, LEVELS[i % 5]) for i in range(300) if i % 5 >= 3
    ]
    stats = nglogger.stats()
    assert stats.dispatched == 300
    assert stats.sinks["everything"].accepted == 300
    assert stats.sinks["everything"].filtered == 0
    assert stats.sinks["errors"].accepted == 120
    assert stats.sinks["errors"].exported == 120
    assert stats.sinks["errors"].filtered == 180
    assert stats.sinks["errors"].dropped == {}
    _invariant(stats)


def test_selection_runs_on_the_batcher_thread() -> None:
    """The filter is called by the batcher, not by the thread that logged."""
    threads: set[str] = set()

    def keep(_event: bytes) -> bool:
        threads.add(threading.current_thread().name)
        return True

    sink = MemorySink(filter=keep)
    nglogger.configure(sinks=[sink], flush_interval=0.05)
    nglogger.get_logger("app").info("one")
    assert sink.wait_for(1, timeout=10)  # delivered by the interval tick: no flush() here
    assert threads == {"nglogger-batcher"}


def test_memory_budget_counts_the_cut() -> None:
    """A sink with a level adds one batch being cut (and its pieces) to the budget."""
    plain = Config(sinks=["stdout", "null"])
    cut = Config(sinks=["stdout", "null?level=error"])
    filtered = Config(sinks=[NullSink(filter=bool)])
    extra = 2 * plain.batch_max_bytes + 64 * plain.batch_max_events
    assert cut.memory_budget == plain.memory_budget + extra
    assert filtered.memory_budget == Config(sinks=[NullSink()]).memory_budget + extra


def _run(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NGLOGGER_", "OTEL_", "DD_"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**base, **env},
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_level_in_nglogger_sinks_in_a_real_process(tmp_path: Path) -> None:
    """NGLOGGER_SINKS=file:///all,file:///errors?level=error,http://...?level=warning: exact."""
    everything = tmp_path / "all.ndjson"
    errors = tmp_path / "errors.ndjson"
    code = (
        "import logging, nglogger\n"
        "nglogger.install()\n"
        "log = nglogger.get_logger('app')\n"
        "for i, level in enumerate(['debug', 'info', 'warning', 'error', 'critical']):\n"
        "    getattr(log, level)('native', i=i)\n"
        "    getattr(logging.getLogger('std'), level)('stdlib %d', i)\n"
        "assert nglogger.flush(10)\n"
        "print(nglogger.stats().sinks[next(n for n in nglogger.stats().sinks if 'errors' in n)]"
        ".filtered)\n"
    )
    with LoopbackServer() as server:
        result = _run(
            code,
            {
                "NGLOGGER_LEVEL": "debug",
                "NGLOGGER_SINKS": (
                    f"file://{everything},file://{errors}?level=error,"
                    f"{server.url}/ingest?level=warning"
                ),
            },
            tmp_path,
        )
        assert result.returncode == 0, result.stderr
        received = [e for request in server.requests for e in request.ndjson()]
    assert result.stdout.split() == ["6"]  # debug, info, warning: twice each
    every = [orjson.loads(line) for line in everything.read_bytes().splitlines()]
    assert [(e["level"], e["message"]) for e in every] == [
        (level, message) for i, level in enumerate(LEVELS) for message in ("native", f"stdlib {i}")
    ]
    assert errors.read_bytes() == b"".join(
        line + b"\n"
        for line in everything.read_bytes().splitlines()
        if orjson.loads(line)["level"] in ("error", "critical")
    )
    assert [(e["level"], e["message"]) for e in received] == [
        (e["level"], e["message"]) for e in every if e["level"] in ("warning", "error", "critical")
    ]
