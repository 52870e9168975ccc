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
