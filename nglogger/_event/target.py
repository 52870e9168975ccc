"""Where a log call sends its event: what the caller side asks of a pipeline, and the slot.

``Target`` is everything ``Logger``, the contextvars binder and the stdlib handler use
of a pipeline, as a Protocol: the caller side knows the pipeline only through it, so
it sits below the background layer that implements it (``_pipeline.Pipeline``, and the
stand-in of ``_default`` that builds the default pipeline on the first event).

``current`` is the one global: the default pipeline, read by every log call (one
module attribute lookup). Only ``_default`` writes it (``configure``, ``shutdown``,
the fork hook), under its lock; ``nglogger``'s ``__init__`` imports ``_default``, which
installs the stand-in, before any log call can run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import orjson

    from .._config.processors import Processor
    from .._core.levels import LevelRules
    from .._core.reasons import DropReason
    from .encode import Encoder
    from .fields import FieldPrep
    from .redact import Redactor

__all__ = ["Constants", "Direct", "Target", "current"]


#: ``Direct``'s last item, what the C log call (nglogger/_speedups.c) reads in one tuple
#: instead of one attribute each, all fixed when the pipeline is built: max_field_length,
#: plain_names, redactor, static, static_keys, scan_keys, redact_known, long_string_in,
#: then the buffer's small-event hand-off (``Buffer.hand_off``: inbox, its open flag,
#: FAST_MAX_BYTES, INBOX_EVENTS, the inbox's drain). None: the C call hands every call
#: to the Python method (processors are configured).
Constants = tuple[
    int,
    set[str],
    Any,
    dict[str, Any],
    int,
    Callable[[bytes], bool] | None,
    Callable[[Any], bool] | None,
    Callable[[bytes], bool],
    list[bytes],
    list[bool],
    int,
    int,
    Callable[[], int],
]

#: ``Target.direct``: the encoder's hook, max_event_bytes, the hand-off, what to call when
#: it answers non-zero, the span ids to add (None: trace correlation off), for an output
#: schema its head table and rewrite (None, None: the default schema), and the C log
#: call's ``Constants``.
Direct = tuple[
    Any,
    int,
    Callable[[bytes], int],
    Callable[[int], None],
    Callable[[dict[str, Any]], None] | None,
    Any,
    Callable[[bytes], bytes] | None,
    Constants | None,
]


class Target(Protocol):
    """What a log call reads of the pipeline it logs to."""

    @property
    def min_level(self) -> int:
        """Events below this level cost a comparison and nothing else."""

    @property
    def level_rules(self) -> LevelRules | None:
        """Per-logger levels (``levels``); None when none are configured."""

    def level_of(self, name: str, /) -> int:
        """The effective level of logger ``name`` (its rule, else ``min_level``)."""

    @property
    def processors(self) -> tuple[Processor, ...] | None:
        """The configured processors; None when there are none (the call's one check)."""

    @property
    def static(self) -> Mapping[str, orjson.Fragment]:
        """The configured static context, serialized once."""

    @property
    def strict(self) -> bool:
        """Raise on encoding problems instead of falling back (tests)."""

    @property
    def max_field_length(self) -> int:
        """``max_field_length``: longer top-level strings are cut before orjson sees them."""

    @property
    def max_event_bytes(self) -> int:
        """``max_event_bytes``: a value serialized larger than this is cut."""

    @property
    def encoder(self) -> Encoder:
        """Fallbacks, exception fields, counters."""

    @property
    def redactor(self) -> Redactor:
        """The redaction rule and its memo of safe names."""

    @property
    def field_prep(self) -> FieldPrep:
        """The slow path of a call's fields."""

    @property
    def storm(self) -> Callable[..., bool] | None:
        """The pre-encode hook: ``storm(logger, template, level, ns)``: does the call end
        here? None unless storm_limit is set or holds are in use (the hold gate; the stdlib
        handler passes ``check=False``: its records need no level check)."""

    @property
    def hold_floor(self) -> int | None:
        """While holds are in use, the lowest level they keep (the level cells let it
        through); None otherwise."""

    @property
    def static_keys(self) -> int:
        """How many ``":`` the static context's bytes hold (keys inside its values)."""

    @property
    def plain_names(self) -> set[str]:
        """Names known to be neither secret nor reserved (the logger adds to it)."""

    def known_plain(self, names: Any, /) -> bool:
        """Are all these names known to be plain? (the hot path's one name check)"""

    @property
    def direct(self) -> Direct | None:
        """``(default, max_event_bytes, offer, after_offer, add_span_ids, heads, rewrite)``
        when the logger may encode and hand over an event itself (``emit`` would do
        nothing more but add the active span's ids and swap a schema's head); else None."""

    @property
    def redact_known(self) -> Callable[[Any], bool] | None:
        """``known(names)``: are all these names known to be safe? None: nothing is redacted."""

    @property
    def scan_keys(self) -> Callable[[bytes], bool] | None:
        """``scan(json_bytes)``: may they hold a secret key? None: nothing is redacted."""

    @property
    def long_string_in(self) -> Callable[[bytes], bool]:
        """``check(json_bytes)``: may they hold a string over ``max_field_length``?"""

    def prepare_fields(self, fields: dict[str, Any], /) -> dict[str, Any]:
        """A call's fields redacted, cut and counted (see ``_fields``)."""

    def emit(self, event: dict[str, Any], /) -> None:
        """Encode one event and buffer it; never raises unless ``strict``."""

    def emit_bytes(self, data: bytes, /) -> None:
        """Buffer an already encoded event."""

    def count_dropped(self, reason: DropReason, count: int = 1, /) -> None:
        """Count ``count`` events dropped before the buffer."""


#: The default pipeline (or the stand-in that builds it). Written only by ``_default``.
current: Target
