"""The spool's on-disk record format: one batch per record, framed and checksummed.

A record is a 20-byte header (magic ``NGS1``, payload length, event count, the
payload's CRC-32, then the CRC-32 of those 16 bytes) followed by the batch's bytes
as they are. A torn or flipped header fails its own checksum; a flipped payload
fails the payload's. Segment files are named by their number, in order.
"""

from __future__ import annotations

import errno
import os
import struct
import zlib
from typing import BinaryIO

__all__ = [
    "CRC_STEP",
    "HEADER",
    "MAGIC",
    "Corrupt",
    "Pos",
    "find_next",
    "parse_header",
    "payload_crc",
    "record_header",
    "segment_name",
    "truncate_quietly",
    "write_all",
]

MAGIC = b"NGS1"
_HEAD = struct.Struct("<4sIII")  # magic, length, count, crc32(payload)
_CRC = struct.Struct("<I")
HEADER = _HEAD.size + _CRC.size  # 20 bytes
CRC_STEP = 4096

Pos = tuple[int, int]  # (segment number, offset of the record's header)


class Corrupt:
    """A record whose payload checksum failed: discarded (``count`` events, as its header says)."""

    __slots__ = ("count", "pos")

    def __init__(self, pos: Pos, count: int) -> None:
        self.pos = pos
        self.count = count


def write_all(fd: int, iov: list[bytes], size: int) -> None:
    """Records in one ``writev``; after a short write, the rest (or the error: EFBIG...)."""
    written = os.writev(fd, iov)
    if written >= size:
        return
    rest = memoryview(b"".join(iov))[written:]
    while rest:
        n = os.write(fd, rest)
        if n <= 0:
            raise OSError(errno.EIO, f"short write ({size - len(rest)} of {size} bytes)")
        rest = rest[n:]


def truncate_quietly(fd: int, offset: int) -> None:
    try:
        os.ftruncate(fd, offset)
    except OSError:
        pass


def segment_name(number: int) -> str:
    return f"{number:016d}.seg"


def payload_crc(data: bytes) -> int:
    """``zlib.crc32`` in 4 KiB steps, keeping the GIL.

    Above 5 KiB zlib releases the GIL for the computation, and getting it back costs
    a thread switch interval (5 ms) while the application is busy: a 1 MB batch took
    ~4 ms that way, 0.3 ms like this (measured with a thread logging at full speed).
    """
    if len(data) <= CRC_STEP:
        return zlib.crc32(data)
    view = memoryview(data)
    crc = 0
    for at in range(0, len(data), CRC_STEP):
        crc = zlib.crc32(view[at : at + CRC_STEP], crc)
    return crc


def record_header(data: bytes, count: int) -> bytes:
    head = _HEAD.pack(MAGIC, len(data), count, payload_crc(data))
    return head + _CRC.pack(zlib.crc32(head))


def parse_header(raw: bytes) -> tuple[int, int, int] | None:
    """(length, count, payload crc) of a valid header, else None."""
    if len(raw) < HEADER:
        return None
    magic, length, count, crc = _HEAD.unpack_from(raw)
    if magic != MAGIC or _CRC.unpack_from(raw, _HEAD.size)[0] != zlib.crc32(raw[: _HEAD.size]):
        return None
    return length, count, crc


_SCAN_CHUNK = 64 * 1024


def find_next(f: BinaryIO, start: int, size: int) -> int | None:
    """The offset of the next valid header after a damaged one, in a file of ``size``
    bytes (None: none): a torn tail ends there, a damaged stretch is skipped."""
    at = start
    while at < size:
        f.seek(at)
        chunk = f.read(_SCAN_CHUNK + HEADER)
        i = chunk.find(MAGIC)
        while i != -1:
            if i + HEADER > len(chunk):
                break
            head = parse_header(chunk[i : i + HEADER])
            if head is not None and at + i + HEADER + head[0] <= size:
                return at + i
            i = chunk.find(MAGIC, i + 1)
        at += _SCAN_CHUNK
    return None
