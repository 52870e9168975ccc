"""``nglogger.hold()``: debug logs only for the requests that fail.

``hold()`` is a context manager and a decorator (functions and coroutine functions). Inside
it, the events of the context below the trigger level (``hold_trigger``, ERROR by default)
are kept, down to ``hold_level`` (DEBUG by default) even when the loggers' level is
higher, in a buffer of at most ``hold_bytes`` (256 KiB by default, the oldest dropped
beyond: ``held_dropped``); an event at or above the trigger sends them on, in order, with
their original timestamps, before itself. An exception (an ``Exception``, not a
cancellation or ``KeyboardInterrupt``) leaving the block sends them on too; otherwise they
are discarded when the block ends (``held_discarded``). The buffer and its semantics are
``nglogger._event.hold``'s; the pipeline's side (hold mode) is ``holdmode``'s.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar, cast, overload

from .._core.errors import ConfigError
from .._core.levels import ACCEPTED_LEVELS, parse_level
from .._event import target as _target
from .._event.hold import HOLDING, Held, HoldBudget, current_hold
from .default import get_pipeline

__all__ = ["Hold", "hold"]

_F = TypeVar("_F", bound=Callable[..., Any])
_get = HOLDING.get


class Hold:
    """``with nglogger.hold():`` / ``@nglogger.hold(...)``: see :func:`hold`.

    One object may be entered by several threads and tasks at once, and nested: each
    entry makes its own :class:`~nglogger.Held`, found again through the context.
    """

    __slots__ = ("_floor", "_max_bytes", "_trigger")

    def __init__(
        self,
        *,
        trigger: int | str | None = None,
        level: int | str | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self._trigger = None if trigger is None else _level("trigger", trigger)
        self._floor = None if level is None else _level("level", level)
        if max_bytes is not None and (
            isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1024
        ):
            raise ConfigError("max_bytes", max_bytes, "an integer >= 1024 (bytes per hold)")
        self._max_bytes = max_bytes
        if (
            self._trigger is not None
            and self._floor is not None
            and not self._floor < self._trigger
        ):
            raise ConfigError("level", level, f"a level below the trigger ({trigger})")

    def __repr__(self) -> str:
        return f"<nglogger.hold trigger={self._trigger} level={self._floor}>"

    def __enter__(self) -> Held:
        """Start holding this context's events (never raises: at worst, nothing is held)."""
        parent = current_hold()
        try:
            pipeline = get_pipeline()
            config = pipeline.config
            trigger = self._trigger if self._trigger is not None else int(config.hold_trigger)
            floor = self._floor if self._floor is not None else int(config.hold_level)
            floor = min(floor, trigger - 1)
            max_bytes = self._max_bytes if self._max_bytes is not None else config.hold_bytes
            held = Held(pipeline, trigger, floor, max_bytes, parent, pipeline._holds.budget)
            pipeline._holds.enter(floor, held)
        except Exception:  # a hold that holds nothing: its context logs as without it
            held = Held(_target.current, 0, 0, 0, parent, HoldBudget(0))
            held.ended = held.merged = True
        held.token = HOLDING.set(held)
        return held

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop holding: an ``Exception`` leaving the block emits what is held."""
        held = _get()
        if held is None:
            return
        try:
            if held.token is not None:
                HOLDING.reset(held.token)
        except ValueError:  # entered in another context (a generator moved across): as it can
            HOLDING.set(held.parent)
        if held.ended:  # the inert hold of a failed entry
            return
        try:
            held.end(failed=exc_type is not None and issubclass(exc_type, Exception))
        except Exception:  # never into the caller: its events are what is lost
            pass
        finally:
            holds = getattr(held.target, "_holds", None)
            if holds is not None:
                holds.exit(held)

    async def __aenter__(self) -> Held:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: _F) -> _F:
        """Decorate ``func`` (a function or a coroutine function): each call is held."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def held_coroutine(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await func(*args, **kwargs)

            return cast("_F", held_coroutine)

        @functools.wraps(func)
        def held_call(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return cast("_F", held_call)


def _level(name: str, value: object) -> int:
    try:
        return parse_level(value)
    except ValueError:
        raise ConfigError(name, value, ACCEPTED_LEVELS) from None


@overload
def hold(func: _F, /) -> _F: ...
@overload
def hold(
    *,
    trigger: int | str | None = None,
    level: int | str | None = None,
    max_bytes: int | None = None,
) -> Hold: ...
def hold(
    func: Callable[..., Any] | None = None,
    /,
    *,
    trigger: int | str | None = None,
    level: int | str | None = None,
    max_bytes: int | None = None,
) -> Any:
    """Keep this context's events below ``trigger`` until one at ``trigger`` or above is logged.

    ``with nglogger.hold():``, ``@nglogger.hold`` or ``@nglogger.hold(trigger="warning")``
    on a function or coroutine function. Inside, events below ``trigger`` (default
    ``hold_trigger``: ERROR) down to ``level`` (default ``hold_level``: DEBUG, even when
    the loggers' level is higher) are encoded as usual and kept, at most ``max_bytes``
    (default ``hold_bytes``: 256 KiB; the oldest dropped beyond, counted
    ``held_dropped``). An event at ``trigger`` or above sends them on, in order and with
    their original timestamps, before itself; from then on the context's events pass
    through. An ``Exception`` leaving the block sends them on too. Otherwise they are
    discarded when the block ends (counted ``held_discarded``). A hold nested in another
    hands what it kept to the outer one when it ends; an event at the trigger sends both.

    Covered: the context that entered it, the asyncio tasks it creates, and code run
    under a copy of its context (``asyncio.to_thread``, ``contextvars.copy_context().run``);
    not a ``threading.Thread`` started inside (it starts with an empty context). stdlib
    records reaching nglogger's handler are held the same way (a record below its stdlib
    logger's level is never made). ``with`` gives the :class:`~nglogger.Held`, whose
    ``release()`` sends what is held on at once. Bad arguments raise
    :class:`~nglogger.ConfigError`.
    """
    held = Hold(trigger=trigger, level=level, max_bytes=max_bytes)
    return held if func is None else held(func)
