"""stdout/stderr sinks: NDJSON by default, console text on a terminal, safe rendering."""

from __future__ import annotations

import io
import os
import select

import orjson
import pytest

import nglogger
from nglogger import Batch
from nglogger.sinks import StreamSink


def batch(*events: dict[str, object]) -> Batch:
    return Batch.from_events([orjson.dumps(e) for e in events])


EVENT = {
    "timestamp": "2026-11-26T13:47:50.800619Z",
    "level": "warning",
    "logger": "app",
    "message": "disk low",
    "free": 5,
}


class TextOnly(io.StringIO):
    """A text stream without a file descriptor (like pytest's capture), optionally a TTY."""

    def __init__(self, tty: bool = False) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty

    def fileno(self) -> int:
        raise io.UnsupportedOperation("no fd")


def test_json_format_writes_the_batch_bytes_verbatim() -> None:
    """format=json writes exactly the NDJSON bytes of the batch."""
    stream = TextOnly()
    sink = StreamSink(stream, format="json")
    assert sink.write(batch(EVENT)) is None
    assert orjson.loads(stream.getvalue()) == EVENT


def test_auto_is_json_when_not_a_terminal() -> None:
    """format=auto writes JSON to a pipe or file."""
    stream = TextOnly(tty=False)
    StreamSink(stream, format="auto").write(batch(EVENT))
    assert orjson.loads(stream.getvalue()) == EVENT


def test_auto_is_coloured_console_on_a_real_terminal() -> None:
    """format=auto renders aligned, coloured console text on a pseudo-terminal."""
    master, slave = os.openpty()
    try:
        with open(slave, "w", closefd=False) as tty:
            sink = StreamSink(tty, format="auto")
            assert sink.write(batch(EVENT)) is None
        ready, _, _ = select.select([master], [], [], 5)
        assert ready
        text = os.read(master, 4096).decode()
    finally:
        os.close(master)
        os.close(slave)
    assert "\x1b[" in text  # colour codes
    assert "disk low" in text
    assert "free" in text
    assert "{" not in text.split("disk low")[0]  # not JSON


@pytest.mark.parametrize("colors", [True, False])
def test_console_colours_follow_the_setting(colors: bool) -> None:
    """format=console honours colors=True/False whatever the stream is."""
    stream = TextOnly()
    StreamSink(stream, format="console", colors=colors).write(batch(EVENT))
    assert ("\x1b[" in stream.getvalue()) is colors
    assert "WARNING" in stream.getvalue()


def test_console_output_cannot_be_forged() -> None:
    """Control characters in values are escaped: one event renders as one line."""
    stream = TextOnly()
    evil = dict(EVENT, message="ok\n2026-01-01 INFO fake line\x1b[2J", user="a\rb")
    StreamSink(stream, format="console", colors=False).write(batch(evil))
    text = stream.getvalue()
    assert text.count("\n") == 1
    assert "\x1b" not in text
    assert "\\n" in text
    assert "\\x1b" in text or "\\u001b" in text


def test_broken_stream_drops_with_write_error() -> None:
    """A closed stream drops the batch (write_error) instead of raising."""
    stream = TextOnly()
    stream.close()
    outcome = StreamSink(stream).write(batch(EVENT, EVENT))
    assert outcome is not None
    assert outcome.dropped == {"write_error": 2}


def test_stdout_sink_follows_sys_stdout_replacement(capsys: pytest.CaptureFixture[str]) -> None:
    """The 'stdout' sink writes to whatever sys.stdout is at write time."""
    StreamSink("stdout").write(batch(EVENT))
    assert orjson.loads(capsys.readouterr().out) == EVENT


def test_configured_console_format_through_the_pipeline(capfd: pytest.CaptureFixture[str]) -> None:
    """configure(format="console") renders on the sink thread; the caller gets no JSON."""
    nglogger.configure(sinks=["stderr"], format="console", colors=False)
    nglogger.get_logger("svc").error("boom", code=7)
    assert nglogger.flush(5)
    err = capfd.readouterr().err
    assert "ERROR" in err
    assert "code=7" in err


def test_invalid_stream_names_rejected() -> None:
    """A stream name other than stdout/stderr is a clear error."""
    with pytest.raises(ValueError, match="stream='stdin' is invalid"):
        StreamSink("stdin")  # type: ignore[arg-type]
