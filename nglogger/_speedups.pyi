"""Types of the C accelerator (nglogger/_speedups.c)."""

from collections.abc import Callable
from typing import Any

class LogMethod:
    level: int
    __wrapped__: Callable[..., None]
    def __init__(self, level: int, lname: str, fallback: Callable[..., None]) -> None: ...
    def __get__(self, obj: object, objtype: type | None = None) -> Callable[..., None]: ...
    def __call__(self, *args: Any, **kwargs: Any) -> None: ...

def setup(
    *,
    logger_type: type,
    level_type: type,
    fragments_type: type,
    storm_type: type,
    target_dict: dict[str, Any],
    context_var: Any,
    delivering: object,
    leaves: frozenset[Any],
    dumps: Callable[..., bytes],
    encode_error: type[BaseException],
    options: int,
    learn_flat: Callable[[dict[str, Any], Any], None],
    count_max: int,
    flat: int,
) -> None: ...
def timestamp(ns: int, /) -> str: ...
def count_key_ends(data: bytes, /) -> int: ...

class KeyScanner:
    def __init__(self, names: tuple[tuple[bytes, ...], ...]) -> None: ...
    def scan(self, data: bytes, /) -> bool: ...
