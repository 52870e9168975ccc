"""The exceptions nglogger raises, all at configuration time.

::

    NgloggerError
    ├── ConfigError      bad configuration value (names the setting, value, accepted values)
    ├── EncodeError      a value could not be serialized (strict mode only)
    └── PipelineClosedError  submitting to a pipeline after shutdown (strict mode only)

    ConfigWarning (UserWarning)  a setting nglogger ignored, or a handler install() removed

Log calls never raise (unless ``strict=True`` is configured).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = [
    "ConfigError",
    "ConfigWarning",
    "EncodeError",
    "NgloggerError",
    "PipelineClosedError",
    "describe_exception",
    "outside_stacklevel",
]


class NgloggerError(Exception):
    """Base class of every exception nglogger raises."""


class ConfigError(NgloggerError, ValueError):
    """A configuration value is invalid.

    The message names the setting (argument or environment variable), the bad
    value (masked when it is a secret) and what is accepted.
    """

    def __init__(
        self, setting: str, value: object, accepted: str, hint: str = "", *, reason: str = ""
    ) -> None:
        self.setting = setting
        self.value = value
        self.accepted = accepted
        self.hint = hint
        self.reason = reason
        if reason:  # what is wrong first, then what would be right
            message = f"{setting}={value!r}: {reason}; accepted: {accepted}"
        else:
            message = f"{setting}={value!r} is invalid; accepted: {accepted}"
        if hint:
            message = f"{message} ({hint})"
        super().__init__(message)


class PipelineClosedError(NgloggerError, RuntimeError):
    """An event was submitted to a pipeline that was shut down (strict mode)."""


class EncodeError(NgloggerError, ValueError):
    """A value could not be serialized and ``strict=True`` asked to raise."""


class ConfigWarning(UserWarning):
    """A configuration problem nglogger worked around instead of raising.

    With ``config_errors="warn"`` (the default for settings read from the
    environment) a bad or unknown variable is reported with this warning and
    its setting keeps its default; ``install(keep_handlers=False)`` uses it to
    name the handlers it removed. Filter it like any warning
    (``warnings.simplefilter("error", nglogger.ConfigWarning)`` turns it into an error).
    """


#: The package's directory (this file is in nglogger/_core/).
_PACKAGE = str(Path(__file__).resolve().parent.parent)


def outside_stacklevel() -> int:
    """``warnings.warn``'s ``stacklevel`` for the caller's first frame outside nglogger.

    Frames of this package and of the import machinery (``import nglogger.auto``) are
    skipped, so a configuration warning points at the application's line.
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith("<frozen importlib"):  # warnings.warn skips these by itself
            frame = frame.f_back  # type: ignore[assignment]
            continue
        if not str(Path(name).resolve()).startswith(_PACKAGE + os.sep):
            break
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def describe_exception(exc: BaseException, limit: int = 300) -> str:
    """``"Type: message"``, at most ``limit`` characters: kept instead of the exception
    object, which would pin its traceback's frames (and everything they reference)."""
    try:
        text = f"{type(exc).__name__}: {exc}"
    except BaseException:  # a __str__ that raises
        text = type(exc).__name__
    return text[:limit]
