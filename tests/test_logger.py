"""The Logger API: event shape, levels, context, exceptions, never raising."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timezone

import orjson
import pytest

import nglogger
from nglogger._event import timestamp as _timestamp
from nglogger.sinks import MemorySink

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _events(sink: MemorySink) -> list[dict[str, object]]:
    assert nglogger.flush(5.0)
    return sink.events()


def test_default_keys_come_first_in_order(capture: MemorySink) -> None:
    """An event starts with timestamp, level, logger and message, then the fields."""
    nglogger.get_logger("app").info("hello", status=200, path="/x")
    (event,) = _events(capture)
    assert list(event) == ["timestamp", "level", "logger", "message", "status", "path"]
    assert event["level"] == "info"
    assert event["logger"] == "app"
    assert event["message"] == "hello"
    assert event["status"] == 200


def test_timestamp_is_rfc3339_utc_with_microseconds(capture: MemorySink) -> None:
    """The timestamp has a fixed RFC 3339 shape and matches the wall clock."""
    before = datetime.now(timezone.utc)
    nglogger.get_logger("app").info("t")
    after = datetime.now(timezone.utc)
    (event,) = _events(capture)
    text = str(event["timestamp"])
    assert TS.match(text), text
    parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert before.replace(microsecond=0) <= parsed <= after


@pytest.mark.parametrize(
    ("ns", "expected"),
    [
        (0, "1970-01-01T00:00:00.000000Z"),
        (1_795_000_000_123_456_789, "2026-11-18T11:06:40.123456Z"),
        (1_795_000_000_000_000_000, "2026-11-18T11:06:40.000000Z"),
        (1_795_000_000_999_999_999, "2026-11-18T11:06:40.999999Z"),
    ],
)
def test_timestamp_formatting_table(ns: int, expected: str) -> None:
    """timestamp(ns) always prints six fraction digits, including exact seconds."""
    assert _timestamp.timestamp(ns) == expected


def test_levels_and_names(capture: MemorySink) -> None:
    """Each level method writes its lower-case level name."""
    log = nglogger.get_logger("lv")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    log.critical("c")
    log.log("warning", "named")
    log.log(40, "numbered")
    assert [e["level"] for e in _events(capture)] == [
        "debug",
        "info",
        "warning",
        "error",
        "critical",
        "warning",
        "error",
    ]


def test_disabled_levels_record_nothing(memory_sink: MemorySink) -> None:
    """Below the configured level nothing is encoded or counted."""
    nglogger.configure(sinks=[memory_sink], level="warning")
    log = nglogger.get_logger("lv")
    log.debug("d")
    log.info("i")
    log.warning("w")
    assert [e["message"] for e in _events(memory_sink)] == ["w"]
    assert nglogger.stats().submitted == 1
    assert not log.is_enabled_for("info")
    assert log.is_enabled_for("error")
    assert log.is_enabled_for(30)


def test_get_logger_defaults_to_calling_module_name(capture: MemorySink) -> None:
    """get_logger() without a name uses the caller's module name."""
    assert nglogger.get_logger().name == __name__


def test_bind_is_immutable_and_serialized_once(capture: MemorySink) -> None:
    """bind returns a new logger; later mutation of the bound object changes nothing."""
    base = nglogger.get_logger("b")
    tags = ["a"]
    bound = base.bind(user="bob", tags=tags)
    tags.append("mutated")
    base.info("plain")
    bound.info("bound", extra=1)
    plain, with_ctx = _events(capture)
    assert "user" not in plain
    assert with_ctx["user"] == "bob"
    assert with_ctx["tags"] == ["a"]
    assert list(with_ctx)[4:] == ["user", "tags", "extra"]
    assert bound.context == {"user": "bob", "tags": ["a"]}


def test_call_field_overrides_bound_context_without_duplicates(capture: MemorySink) -> None:
    """A call field replaces a bound field of the same name; keys never repeat."""
    nglogger.get_logger("b").bind(user="bob", n=1).info("x", user="alice")
    line = capture.lines()[0] if nglogger.flush(5) else b""
    assert line.count(b'"user"') == 1
    assert orjson.loads(line)["user"] == "alice"


def test_unbind_and_new(capture: MemorySink) -> None:
    """unbind drops keys (ignoring missing ones); new starts from empty context."""
    log = nglogger.get_logger("b").bind(a=1, b=2, c=3)
    assert log.unbind("b", "missing").context == {"a": 1, "c": 3}
    assert log.new(z=9).context == {"z": 9}
    assert log.context == {"a": 1, "b": 2, "c": 3}


def test_reserved_names_get_a_trailing_underscore(capture: MemorySink) -> None:
    """Fields named like reserved keys are kept, renamed with a trailing underscore."""
    log = nglogger.get_logger("r").bind(logger="bound")
    log.info("real", message="fake", level="fake", timestamp="fake")
    (event,) = _events(capture)
    assert event["message"] == "real"
    assert event["level"] == "info"
    assert event["logger"] == "r"
    assert event["message_"] == "fake"
    assert event["level_"] == "fake"
    assert event["timestamp_"] == "fake"
    assert event["logger_"] == "bound"


def test_exception_fields(capture: MemorySink) -> None:
    """exception() records type, message and a traceback text of the active exception."""
    log = nglogger.get_logger("x")
    try:
        raise ValueError("bad value")
    except ValueError:
        log.exception("failed", op="parse")
    (event,) = _events(capture)
    assert event["level"] == "error"
    assert event["op"] == "parse"
    exc = event["exception"]
    assert isinstance(exc, dict)
    assert exc["type"] == "ValueError"
    assert exc["message"] == "bad value"
    assert "Traceback (most recent call last)" in exc["stacktrace"]
    assert 'raise ValueError("bad value")' in exc["stacktrace"]


def test_exc_info_forms(capture: MemorySink) -> None:
    """exc_info accepts True, an exception instance or a sys.exc_info() tuple."""
    log = nglogger.get_logger("x")
    err = KeyError("k")
    log.error("instance", exc_info=err)
    try:
        raise OSError("disk")
    except OSError:
        import sys

        log.warning("tuple", exc_info=sys.exc_info())
        log.info("true", exc_info=True)
    log.info("none active", exc_info=True)
    events = _events(capture)
    assert [e.get("exception", {}).get("type") for e in events] == [  # type: ignore[union-attr]
        "KeyError",
        "OSError",
        "OSError",
        None,
    ]


def test_exception_outside_except_block_has_no_exception_field(capture: MemorySink) -> None:
    """exception() with no active exception logs the message without an exception field."""
    nglogger.get_logger("x").exception("nothing")
    (event,) = _events(capture)
    assert "exception" not in event


def test_traceback_is_bounded(memory_sink: MemorySink) -> None:
    """A deep traceback is cut to max_traceback_bytes with an elision marker."""
    nglogger.configure(sinks=[memory_sink], max_traceback_bytes=2048)

    def ping(n: int) -> None:
        if n == 0:
            raise RuntimeError("deep")
        pong(n - 1)

    def pong(n: int) -> None:
        ping(n)

    try:
        ping(100)
    except RuntimeError:
        nglogger.get_logger("x").exception("deep")
    (event,) = _events(memory_sink)
    text = event["exception"]["stacktrace"]  # type: ignore[index]
    assert "chars elided" in text
    assert len(text) < 2048 + 100
    assert text.rstrip().endswith("RuntimeError: deep")


def test_non_str_message_is_stringified(capture: MemorySink) -> None:
    """A non-string message becomes its str(); a str() that raises gets a marker."""

    class Bad:
        def __str__(self) -> str:
            raise RuntimeError("no")

    log = nglogger.get_logger("m")
    log.info(42)  # type: ignore[arg-type]
    log.info(Bad())  # type: ignore[arg-type]
    first, second = _events(capture)
    assert first["message"] == "42"
    assert second["message"] == "<unprintable Bad message>"


def test_logged_objects_are_not_referenced_after_the_call(capture: MemorySink) -> None:
    """Mutating a logged dict after the call changes nothing that was logged."""
    payload = {"items": [1, 2, 3], "nested": {"k": "v"}}
    nglogger.get_logger("m").info("snap", payload=payload)
    payload["items"].append(4)  # type: ignore[attr-defined]
    payload["nested"]["k"] = "changed"  # type: ignore[index]
    (event,) = _events(capture)
    assert event["payload"] == {"items": [1, 2, 3], "nested": {"k": "v"}}


def test_log_calls_never_raise(capture: MemorySink) -> None:
    """Unserializable values, broken reprs and odd keys never raise into the caller."""

    class BrokenRepr:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    cyclic: list[object] = []
    cyclic.append(cyclic)
    log = nglogger.get_logger("m")
    log.info("a", obj=BrokenRepr(), cyc=cyclic, big=2**100, keys={1: "x", None: "y"})
    log.info("b", s="\udc80", f=float("nan"), b=b"\xff")
    first, second = _events(capture)
    assert first[
        "obj"
    ] == "<unserializable test_logger.BrokenRepr: repr() raised RuntimeError>" or str(
        first["obj"]
    ).startswith("<unserializable")
    assert first["cyc"] == ["<cycle>"]
    assert first["big"] == str(2**100)
    assert first["keys"] == {"1": "x", "null": "y"}
    assert sorted(first["nglogger_fallback"]) == ["big_int", "cycle", "non_str_key", "repr_error"]  # type: ignore[arg-type]
    assert second["s"] == "\\udc80"
    assert second["f"] is None
    assert second["b"] == "\\xff"


def test_strict_mode_raises(memory_sink: MemorySink) -> None:
    """With strict=True, an unserializable value raises instead of falling back."""
    nglogger.configure(sinks=[memory_sink], strict=True)
    with pytest.raises(nglogger.EncodeError, match="cannot serialize"):
        nglogger.get_logger("s").info("x", obj=object())


def test_contextvars_bind_unbind_clear(capture: MemorySink) -> None:
    """Contextvars context appears in events after bound context, until removed."""
    log = nglogger.get_logger("c").bind(svc="api")
    nglogger.bind_contextvars(request_id="r1", user="u")
    log.info("one")
    nglogger.unbind_contextvars("user")
    log.info("two")
    nglogger.clear_contextvars()
    log.info("three")
    one, two, three = _events(capture)
    assert list(one)[4:] == ["svc", "request_id", "user"]
    assert two["request_id"] == "r1"
    assert "user" not in two
    assert "request_id" not in three
    assert nglogger.get_contextvars() == {}


def test_bound_contextvars_restores_on_exit(capture: MemorySink) -> None:
    """bound_contextvars restores the previous context when the block ends."""
    nglogger.bind_contextvars(a=1)
    with nglogger.bound_contextvars(a=2, b=3):
        assert nglogger.get_contextvars() == {"a": 2, "b": 3}
    assert nglogger.get_contextvars() == {"a": 1}
    token = nglogger.bind_contextvars(c=4)
    nglogger.reset_contextvars(token)
    assert nglogger.get_contextvars() == {"a": 1}


def test_contextvars_are_per_thread(capture: MemorySink) -> None:
    """A context bound in one thread is invisible in another."""
    nglogger.bind_contextvars(owner="main")
    seen: dict[str, object] = {}

    def worker() -> None:
        seen["before"] = nglogger.get_contextvars()
        nglogger.bind_contextvars(owner="thread")
        seen["after"] = nglogger.get_contextvars()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(5)
    assert seen == {"before": {}, "after": {"owner": "thread"}}
    assert nglogger.get_contextvars() == {"owner": "main"}


def test_contextvars_are_per_asyncio_task(capture: MemorySink) -> None:
    """Concurrent asyncio tasks each see only their own bound context."""
    import asyncio

    async def handle(rid: str) -> None:
        with nglogger.bound_contextvars(request_id=rid):
            await asyncio.sleep(0)
            nglogger.get_logger("a").info("handled")
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(handle(f"r{i}") for i in range(20)))

    asyncio.run(main())
    events = _events(capture)
    assert sorted(e["request_id"] for e in events) == sorted(f"r{i}" for i in range(20))  # type: ignore[type-var]


def test_static_context_from_config(memory_sink: MemorySink) -> None:
    """Config.context fields appear on every event, before bound context."""
    nglogger.configure(sinks=[memory_sink], context={"service": "checkout", "env": "prod"})
    nglogger.get_logger("s").bind(user="u").info("x", env="override")
    (event,) = _events(memory_sink)
    assert list(event)[4:] == ["service", "env", "user"]
    assert event["env"] == "override"


def test_zero_config_writes_ndjson_to_stdout(capfd: pytest.CaptureFixture[str]) -> None:
    """With no configuration an INFO event goes to stdout as one JSON line."""
    nglogger.get_logger("zero").info("hi", n=1)
    nglogger.get_logger("zero").debug("hidden")
    assert nglogger.flush(5.0)
    out = capfd.readouterr().out.splitlines()
    assert len(out) == 1
    event = orjson.loads(out[0])
    assert event["message"] == "hi"
    assert event["n"] == 1


# -- positional arguments: stdlib-style messages ------------------------------------


class _Watched:
    """An argument that records whether it was formatted."""

    def __init__(self) -> None:
        self.formatted = 0

    def __str__(self) -> str:
        self.formatted += 1
        return "watched"


def test_positional_arguments_format_the_message_like_logging(
    memory_sink: nglogger.sinks.MemorySink,
) -> None:
    """``log.info("user %s logged in", name)`` formats %-style, a single mapping by name."""
    nglogger.configure(sinks=[memory_sink])
    log = nglogger.get_logger("fmt")
    log.info("user %s logged in", "bob", request_id="r-1")
    log.warning("%(a)s-%(b)d", {"a": "x", "b": 2})
    log.log("error", "code %d", 7)
    log.info("100%% done")  # no arguments: the message is left as it is, as logging does
    assert nglogger.flush(5)
    events = memory_sink.events()
    assert [e["message"] for e in events] == ["user bob logged in", "x-2", "code 7", "100%% done"]
    assert events[0]["request_id"] == "r-1"
    assert nglogger.stats().fallbacks == {}


def test_a_format_mismatch_keeps_the_raw_message_and_never_raises(
    memory_sink: nglogger.sinks.MemorySink,
) -> None:
    """Wrong arguments: the raw message, the arguments as reprs, a marker and a counter."""
    nglogger.configure(sinks=[memory_sink])
    log = nglogger.get_logger("fmt")
    log.info("bad %d", "not a number", k=1)
    log.info("too few %s %s", 1)  # noqa: PLE1206 - the mismatch is the point
    assert nglogger.flush(5)
    first, second = memory_sink.events()
    assert first["message"] == "bad %d"
    assert first["message_args"] == ["'not a number'"]
    assert first["nglogger_fallback"] == ["format_error"]
    assert first["k"] == 1
    assert second["message"] == "too few %s %s"
    assert nglogger.stats().fallbacks == {"format_error": 2}
    assert nglogger.stats().dropped == {}


def test_arguments_are_formatted_only_when_the_level_is_enabled(
    memory_sink: nglogger.sinks.MemorySink,
) -> None:
    """A disabled call formats nothing: the argument's __str__ is never called."""
    nglogger.configure(sinks=[memory_sink], level="info")
    watched = _Watched()
    log = nglogger.get_logger("fmt")
    log.debug("skipped %s", watched)
    assert watched.formatted == 0
    log.info("kept %s", watched)
    assert watched.formatted == 1
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed %s", "op")
    assert nglogger.flush(5)
    kept, failed = memory_sink.events()
    assert kept["message"] == "kept watched"
    assert failed["message"] == "failed op"
    assert failed["exception"]["type"] == "ValueError"


def test_event_keyword_is_the_message_and_a_call_without_one_never_raises(
    capture: MemorySink,
) -> None:
    """structlog users write ``log.info(event="login", ...)``; ``log.info()`` logs an empty
    message (both raised TypeError into the application before)."""
    log = nglogger.get_logger("app")
    log.info(event="login", user="ada")
    log.info()
    log.info("given", event="a field then")
    log.bind(request_id="r1").warning(event="bound")
    log.log("error", event="by name")
    log.exception(event="no exception active")
    assert nglogger.flush(5.0)
    got = [
        (e["level"], e["message"], {k: v for k, v in e.items() if k not in _HEAD})
        for e in _events(capture)
    ]
    assert got == [
        ("info", "login", {"user": "ada"}),
        ("info", "", {}),
        ("info", "given", {"event": "a field then"}),
        ("warning", "bound", {"request_id": "r1"}),
        ("error", "by name", {}),
        ("error", "no exception active", {}),
    ]


def test_event_keyword_is_the_message_for_processors_too(memory_sink: MemorySink) -> None:
    seen: list[object] = []

    def look(event: dict[str, object]) -> dict[str, object]:
        seen.append(event["message"])
        return event

    nglogger.configure(sinks=[memory_sink], processors=[look], flush_interval=0.01)
    nglogger.get_logger("app").info(event="login", user="ada")
    assert nglogger.flush(5.0)
    assert seen == ["login"]
    [event] = _events(memory_sink)
    assert (event["message"], event["user"]) == ("login", "ada")


_HEAD = frozenset({"timestamp", "level", "logger", "message"})
