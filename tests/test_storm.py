"""The log-storm guard: one call site held to its rate, summarized, the others untouched."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

import nglogger
from nglogger import Config, ConfigError
from nglogger._config.storm import StormLimit
from nglogger.sinks import MemorySink


@pytest.fixture
def sink() -> Iterator[MemorySink]:
    memory = MemorySink()
    yield memory
    nglogger.shutdown(5)


def storm_setup(sink: MemorySink, **settings: Any) -> None:
    nglogger.configure(
        sinks=[sink],
        flush_interval=0.05,
        buffer_max_events=1_000_000,
        buffer_max_bytes=512 << 20,
        sink_queue_max_events=1_000_000,
        sink_queue_max_bytes=512 << 20,
        **settings,
    )


def summaries(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if "nglogger_suppressed" in e]


def test_a_storm_from_one_site_is_held_to_its_rate_and_summarized(sink: MemorySink) -> None:
    """100,000 calls from one site beside a quiet one: exact counts, the quiet site untouched."""
    storm_setup(sink, storm_limit="100/s")
    log = nglogger.get_logger("app.db")
    quiet = nglogger.get_logger("app.web")
    for i in range(100_000):
        log.info("retrying %s", i)
        if i % 1000 == 0:
            quiet.info("request handled", n=i)
    assert nglogger.flush(10)
    events = sink.events()
    kept = [e for e in events if e["message"].startswith("retrying")]
    folded = summaries(events)
    suppressed = nglogger.stats().dropped["storm_suppressed"]
    assert len(kept) + suppressed == 100_000
    assert sum(s["nglogger_suppressed"]["count"] for s in folded) == suppressed
    windows = {s["nglogger_suppressed"]["first"][:19] for s in folded}
    assert len(kept) <= 100 * (len(windows) + 1)  # the limit in each second it spanned
    for summary in folded:
        inner = summary["nglogger_suppressed"]
        assert inner["template"] == "retrying %s"
        assert summary["logger"] == "app.db"
        assert inner["first"] <= inner["last"]
        assert summary["message"] == f"log storm: {inner['count']:,} events suppressed"
    assert [e["n"] for e in events if e["logger"] == "app.web"] == list(range(0, 100_000, 1000))


def test_levels_outside_storm_levels_are_never_suppressed(sink: MemorySink) -> None:
    storm_setup(sink, storm_limit="5/s", storm_levels=("debug", "info"))
    log = nglogger.get_logger("app")
    for i in range(50):
        log.warning("disk almost full", n=i)
        log.info("tick", n=i)
    assert nglogger.flush(10)
    events = sink.events()
    assert len([e for e in events if e["message"] == "disk almost full"]) == 50
    assert len([e for e in events if e["message"] == "tick"]) <= 10  # 5 per second it spanned
    assert nglogger.stats().dropped["storm_suppressed"] >= 40


def test_stdlib_records_are_guarded_by_their_template(sink: MemorySink) -> None:
    storm_setup(sink, storm_limit="3/s")
    logger = logging.getLogger("storm.stdlib")
    handler = nglogger.LoggingHandler()
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        for i in range(20):
            logger.info("job %s failed", i)
    finally:
        logger.removeHandler(handler)
    assert nglogger.flush(10)
    events = sink.events()
    kept = [e for e in events if e["message"].startswith("job ")]
    folded = summaries(events)
    assert len(kept) + sum(s["nglogger_suppressed"]["count"] for s in folded) == 20
    assert {s["nglogger_suppressed"]["template"] for s in folded} == {"job %s failed"}


def test_threads_on_one_site_count_exactly(sink: MemorySink) -> None:
    storm_setup(sink, storm_limit="50/s")
    log = nglogger.get_logger("app")

    def hammer() -> None:
        for i in range(5000):
            log.info("busy", i=i)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert nglogger.flush(10)
    events = sink.events()
    kept = sum(1 for e in events if e["message"] == "busy")
    suppressed = nglogger.stats().dropped["storm_suppressed"]
    assert kept + suppressed == 20_000
    assert sum(s["nglogger_suppressed"]["count"] for s in summaries(events)) == suppressed


def test_off_by_default_and_the_settings_are_checked() -> None:
    assert Config().storm_limit is None
    config = Config.from_env({"NGLOGGER_STORM_LIMIT": "6000/m", "NGLOGGER_STORM_LEVELS": "info"})
    assert StormLimit.parse(str(config.storm_limit)) == StormLimit(6000, 60.0)
    assert tuple(config.storm_levels or ()) == ("info",)
    assert StormLimit.parse("50/500ms") == StormLimit(50, 0.5)
    assert StormLimit.parse("off") is None
    with pytest.raises(ConfigError, match="storm_limit"):
        Config(storm_limit="lots")
    with pytest.raises(ConfigError, match="storm_levels"):
        Config(storm_levels=("loud",))
    with pytest.raises(ConfigError, match="NGLOGGER_STORM_LIMIT"):
        Config.from_env(
            {"NGLOGGER_STORM_LIMIT": "100 per second", "NGLOGGER_CONFIG_ERRORS": "raise"}
        )


def test_summaries_of_a_quiet_period_are_written_by_the_tick(sink: MemorySink) -> None:
    """A site that stopped logging still gets its summary, without another call from it."""
    storm_setup(sink, storm_limit="2/s")
    log = nglogger.get_logger("app")
    for _ in range(10):
        log.info("burst")

    def summarized() -> bool:
        return bool(summaries(sink.events()))

    from support.waiting import require

    require(summarized, timeout=10)  # the batcher's tick after the second is over
    counts = Counter(e["message"] for e in sink.events())
    assert counts["burst"] + summaries(sink.events())[0]["nglogger_suppressed"]["count"] == 10
