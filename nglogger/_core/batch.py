"""The immutable batch that the batcher hands, as one object, to every sink.

A batch owns one right-sized ``bytes`` object holding NDJSON: every event is a
complete JSON object followed by ``b"\\n"``. orjson never emits a raw newline
inside a document, so splitting on ``b"\\n"`` recovers the events exactly and a
JSON array is a byte join. Worst-case footprint: ``len(data)`` plus a constant
(~100 B); the batch references no user object.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Batch"]


@dataclass(frozen=True, slots=True, eq=False)
class Batch:
    """An immutable run of serialized events shared by every sink.

    ``data`` is NDJSON (each event ends with a newline), ``count`` the number of
    events in it, ``seq`` its position in the pipeline's output order.
    """

    data: bytes
    count: int
    seq: int = 0

    @classmethod
    def from_events(cls, events: list[bytes], seq: int = 0) -> Batch:
        """Build a batch from single-event JSON documents (for tests and sinks)."""
        return cls(b"".join(e.rstrip(b"\n") + b"\n" for e in events), len(events), seq)

    @property
    def nbytes(self) -> int:
        """Size of ``data`` in bytes (what queues account for)."""
        return len(self.data)

    def split(self, max_bytes: int, max_events: int | None = None) -> list[Batch]:
        """This batch cut at event boundaries into batches of at most ``max_bytes`` and
        ``max_events`` each (an event larger than ``max_bytes`` is a batch of its own);
        ``[self]`` if it fits.

        Byte operations (``rfind``/``find``/``count`` in C, one ``find`` per event only
        when ``max_events`` binds): no event is parsed.
        """
        data = self.data
        end = len(data)
        if end <= max_bytes and (max_events is None or self.count <= max_events):
            return [self]
        out: list[Batch] = []
        start = 0
        while start < end:
            stop = start + max_bytes
            if stop >= end:
                stop = end
            else:
                nl = data.rfind(b"\n", start, stop)
                if nl < start:  # one event longer than max_bytes: it goes alone
                    nl = data.find(b"\n", stop)
                    nl = end - 1 if nl < 0 else nl
                stop = nl + 1
            count = data.count(b"\n", start, stop)
            if max_events is not None and count > max_events:
                stop = start
                for _ in range(max_events):
                    stop = data.index(b"\n", stop) + 1
                count = max_events
            out.append(Batch(data[start:stop], count, self.seq))
            start = stop
        return out

    def events(self) -> list[bytes]:
        """The events as separate JSON documents, without their newlines."""
        data = self.data
        if not data:
            return []
        return data[:-1].split(b"\n")

    def iter_events(self) -> Iterator[memoryview]:
        """Zero-copy views of each event (without newline), in order."""
        view = memoryview(self.data)
        data = self.data
        start = 0
        end = len(data)
        while start < end:
            nl = data.index(b"\n", start)
            yield view[start:nl]
            start = nl + 1

    def json_array(self) -> bytes:
        """The events as one JSON array: a byte operation, no re-serialization."""
        data = self.data
        if not data:
            return b"[]"
        return b"[" + data[:-1].replace(b"\n", b",") + b"]"

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"Batch(seq={self.seq}, count={self.count}, nbytes={len(self.data)})"
