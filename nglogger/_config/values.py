"""Text grammars shared by settings: comma lists and baggage-style ``k=v`` pairs.

``parse_pairs`` follows the OTel/W3C Baggage form ``k1=v1,k2=v2``: whitespace
around keys and values is trimmed, then keys and values are percent-decoded
(``,`` ``=`` ``%`` are written ``%2C`` ``%3D`` ``%25``; ``+`` stays a plus). A
value may contain a raw ``=`` (the first one splits); a later duplicate key
wins. A malformed entry raises ``ValueError`` whose text quotes the entry with
its secret parts masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote

from .secrets import mask_item

__all__ = ["PAIRS_ACCEPTED", "items", "parse_pairs"]

#: What a ``k=v`` pairs variable accepts (``NGLOGGER_CONTEXT``, ``NGLOGGER_HTTP_HEADERS``...).
PAIRS_ACCEPTED = "comma-separated key=value pairs; percent-encode ',' '=' '%' in keys and values"

_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def items(text: str) -> Iterator[tuple[int, str]]:
    """Non-empty stripped comma items, numbered from 1 as written."""
    for number, item in enumerate(text.split(","), start=1):
        stripped = item.strip()
        if stripped:
            yield number, stripped


def _percent_decode(text: str) -> str:
    if _BAD_PERCENT.search(text):
        raise ValueError("'%' must start an escape such as %25")
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise ValueError("percent-encoded bytes are not UTF-8") from None


def parse_pairs(text: str) -> dict[str, str]:
    """Baggage-like ``k=v,k2=v2`` with percent-decoding (see the module docstring)."""
    pairs: dict[str, str] = {}
    for number, item in items(text):
        shown = mask_item(item)
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"entry {number} {shown!r} has no '='")
        key = key.strip()
        if not key:
            raise ValueError(f"entry {number} {shown!r} has an empty key")
        try:
            pairs[_percent_decode(key)] = _percent_decode(value.strip())
        except ValueError as exc:
            raise ValueError(f"entry {number} {shown!r}: {exc}") from None
    return pairs
