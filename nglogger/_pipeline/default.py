"""The default pipeline: the one global, its stand-in, and the functions that replace it.

``configure()`` builds a pipeline from arguments, the environment and the defaults and
puts it in the slot every log call reads (``_target.current``); ``shutdown()`` puts the
stand-in back; ``get_pipeline()``, ``flush()`` and ``stats()`` act on whatever is there.
Until something is configured, the stand-in (``_Lazy``) answers the caller side's
questions from a default configuration without building anything, and builds the
default pipeline (stdout at INFO: console on a terminal, NDJSON otherwise) on the first
event. The fork and exit hooks of every live pipeline are the runtime's (``_pipeline``);
this module resets its own lock in a forked child.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from .._config.config import Config, Settings
from .._config.processors import Processor
from .._core.errors import ConfigError, ConfigWarning, outside_stacklevel
from .._core.forks import in_child
from .._core.levels import ACCEPTED_LEVELS, LevelRules, check_logger_levels, parse_level
from .._core.reasons import DropReason
from .._core.stats import Stats
from .._event import target as _target
from .._event.encode import Encoder, Limits
from .._event.fields import FieldPrep
from .._event.logger import relevel
from .._event.redact import Redactor
from ..sinks import resolve_sink
from .levels_file import apply_levels
from .pipeline import Pipeline
from .signals import handle_signals

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack for **kwargs is Python 3.12+

__all__ = ["configure", "flush", "get_pipeline", "set_levels", "shutdown", "stats"]


class _Lazy:
    """Stands in for the default pipeline until the first event needs it."""

    min_level: int = Config.__dataclass_fields__["level"].default  # type: ignore[assignment]
    static: Mapping[str, orjson.Fragment] = {}
    strict = False
    level_rules: LevelRules | None = None
    processors: tuple[Processor, ...] | None = None
    #: Never encodes an event itself: ``emit`` builds the default pipeline.
    direct: None = None
    static_keys = 0
    #: No storm guard before the default pipeline exists (its first event builds it).
    storm: None = None
    #: No hold mode before the default pipeline exists (a hold's entry builds it).
    hold_floor: None = None

    @property
    def plain_names(self) -> set[str]:
        """Nothing is remembered before the default pipeline exists (a fresh set)."""
        return set()

    @staticmethod
    def known_plain(_names: object) -> bool:
        """Until the default pipeline exists, every call takes the checked path."""
        return False

    def level_of(self, _name: str) -> int:
        """The default configuration has no per-logger levels."""
        return self.min_level

    def emit(self, event: dict[str, Any]) -> None:
        get_pipeline().emit(event)

    def emit_bytes(self, data: bytes) -> None:
        get_pipeline().emit_bytes(data)

    def count_dropped(self, reason: DropReason, count: int = 1) -> None:
        """Nothing was configured: nothing to count on (and nothing is built)."""

    @property
    def encoder(self) -> Encoder:
        """The encoder the default pipeline will use (no pipeline is built for it)."""
        return _default_parts()[0]

    @property
    def redactor(self) -> Redactor:
        """The redactor the default pipeline will use (no pipeline is built for it)."""
        return _default_parts()[1]

    @property
    def redact_known(self) -> Callable[[Any], bool] | None:
        """Redaction fast check of the default configuration (see Pipeline)."""
        redactor = _default_parts()[1]
        return redactor.safe_names.issuperset if redactor.names else None

    max_field_length: int = Config.__dataclass_fields__["max_field_length"].default  # type: ignore[assignment]

    @property
    def scan_keys(self) -> Callable[[bytes], bool] | None:
        """The default configuration's secret-key scan (see Pipeline)."""
        return _default_parts()[1].scan

    @property
    def long_string_in(self) -> Callable[[bytes], bool]:
        """The default configuration's long-string check (see Pipeline)."""
        return _default_parts()[2].has_long

    max_event_bytes: int = Config.__dataclass_fields__["max_event_bytes"].default  # type: ignore[assignment]

    @property
    def field_prep(self) -> FieldPrep:
        """The field checks the default pipeline will use (no pipeline is built for them)."""
        return _default_parts()[2]

    def prepare_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Prepare call fields with the default configuration (nothing is built)."""
        return _default_parts()[2].fields(fields)


_DEFAULT_PARTS: list[tuple[Encoder, Redactor, FieldPrep]] = []


def _default_parts() -> tuple[Encoder, Redactor, FieldPrep]:
    """Encoder, redactor and field checks of a default Config, before any pipeline exists."""
    if not _DEFAULT_PARTS:
        config = Config()
        encoder = Encoder(Limits(max_depth=config.max_depth))
        redactor = Redactor(config.redact_keys, max_depth=config.max_depth, count=encoder.count)
        _DEFAULT_PARTS.append((encoder, redactor, FieldPrep(encoder, redactor)))
    return _DEFAULT_PARTS[0]


_LAZY = _Lazy()
_target.current = _LAZY
_configure_lock = threading.RLock()


@in_child
def _reset_lock_in_child() -> None:
    global _configure_lock
    _configure_lock = threading.RLock()


def get_pipeline() -> Pipeline:
    """The default pipeline, built with default settings if none is configured.

    Default settings read no ``NGLOGGER_*`` variable (``configure()`` does), but they do
    honour ``NO_COLOR`` / ``FORCE_COLOR``: a terminal gets the console format by default.
    """
    pipeline = _target.current
    if isinstance(pipeline, Pipeline):
        return pipeline
    with _configure_lock:
        pipeline = _target.current
        if not isinstance(pipeline, Pipeline):
            from .._config.report import color_choice  # the NO_COLOR / FORCE_COLOR rule only

            colors = color_choice()
            config = Config() if colors is None else Config(colors=colors[0])
            pipeline = _target.current = Pipeline(config)
            relevel()
        return pipeline


def configure(config: Config | None = None, /, **settings: Unpack[Settings]) -> Pipeline:
    """Replace the default pipeline with one built from ``config`` or settings.

    Without a ``config``, settings come from the keyword arguments, then the
    environment (``NGLOGGER_*``, ``LOG_LEVEL``, ``NO_COLOR``, ``OTEL_SERVICE_NAME``...),
    then the defaults. The previous pipeline is shut down (flushed within its shutdown timeout).
    Invalid arguments raise :class:`~nglogger.ConfigError` and leave the current
    pipeline in place. An invalid or unknown environment variable does too with
    ``config_errors="raise"`` (``NGLOGGER_CONFIG_ERRORS=raise``); with ``"warn"``,
    the default, it is reported as a :class:`~nglogger.ConfigWarning` and its
    setting keeps its default, and a sink from the environment that cannot be
    built is left out: a misconfigured logger does not stop a service booting.
    """
    if config is None:
        from .._config.report import (
            config_from_env,  # the environment parser: loaded when first used
        )

        config = config_from_env(None, **settings)
        new = _pipeline_leaving_out_bad_sinks(config, sinks_given="sinks" in settings)
    else:
        if settings:
            config = config.replace(**settings)
        new = Pipeline(config)
    with _configure_lock:
        old = _target.current
        _target.current = new
        relevel()  # loggers' levels follow the new pipeline's level and levels
    if isinstance(old, Pipeline):
        old.shutdown()
    if new.config.handle_sigterm and not handle_signals():
        warnings.warn(
            "handle_sigterm needs configure() on the main thread (Python allows signal "
            "handlers there only): no SIGTERM handler was installed",
            ConfigWarning,
            stacklevel=outside_stacklevel(),
        )
    return new


def _pipeline_leaving_out_bad_sinks(config: Config, *, sinks_given: bool) -> Pipeline:
    """``Pipeline(config)``; with ``config_errors="warn"``, sinks from the environment
    that cannot be built (``NGLOGGER_SINKS=datadog`` without ``DD_API_KEY``) are left
    out with a ConfigWarning (``stdout`` if none is left) instead of failing the boot."""
    try:
        return Pipeline(config)
    except ConfigError:
        if config.config_errors != "warn" or sinks_given:
            raise
        problems = unbuildable_sinks(config)
        if not problems:
            raise  # not a sink of the environment's: the error stands
    kept = [spec for spec in config.sinks if spec not in problems]
    for problem in problems.values():
        warnings.warn(
            f"{problem}; that sink is left out (NGLOGGER_CONFIG_ERRORS=raise: an error)",
            ConfigWarning,
            stacklevel=outside_stacklevel(),
        )
    return Pipeline(config.replace(sinks=tuple(kept) or ("stdout",)))


_LOCAL_URIS = ("stdout", "stderr", "null", "file:")


def unbuildable_sinks(config: Config, *, local: bool = True) -> dict[str, ConfigError]:
    """The sink URIs of ``config`` that cannot be built, and why (each built and closed:
    no request is sent). ``local=False`` skips streams and files (no file is created)."""
    problems: dict[str, ConfigError] = {}
    for spec in config.sinks:
        if not isinstance(spec, str) or (not local and spec.strip().startswith(_LOCAL_URIS)):
            continue
        try:
            resolve_sink(spec, config).close()
        except ConfigError as bad:
            problems[spec] = bad
    return problems


def set_levels(levels: Mapping[str, int | str], *, level: int | str | None = None) -> None:
    """Replace the default pipeline's per-logger levels (and its ``level``) while it runs.

    ``levels`` follows the rule of ``Config.levels`` (``{"app.db": "debug"}``: the
    longest dotted prefix of a logger's name wins, else the base level); it replaces
    the rules in force. ``level``, if given, replaces the base level; else it is kept.
    Every existing logger (and its ``bind()``-ed children) obeys at once, and so do the
    stdlib loggers :func:`~nglogger.install` set levels on (nothing else of the stdlib
    is touched, and nothing at all if ``install()`` was not called). Everything is
    checked first: a bad name or level raises :class:`~nglogger.ConfigError` naming
    it, and changes nothing. With nothing configured yet, the default pipeline is
    built, as the first event would build it; a later ``configure()`` brings its own
    levels, and a change of ``levels_file`` replaces these again.
    """
    rules = check_logger_levels(levels, "levels")
    base: int | None = None
    if level is not None:
        try:
            base = parse_level(level)
        except ValueError:
            raise ConfigError("level", level, ACCEPTED_LEVELS) from None
    with _configure_lock:  # not while configure() or shutdown() swaps the pipeline
        pipeline = get_pipeline()
        apply_levels(pipeline, rules, pipeline.min_level if base is None else base)


def flush(timeout: float | None = None) -> bool:
    """Flush the default pipeline; True if everything was delivered in time."""
    pipeline = _target.current
    if isinstance(pipeline, Pipeline):
        return pipeline.flush(timeout)
    return True


def shutdown(timeout: float | None = None) -> bool:
    """Shut the default pipeline down; the next event starts a fresh default one."""
    with _configure_lock:
        pipeline = _target.current
        _target.current = _LAZY
        relevel()
    if isinstance(pipeline, Pipeline):
        return pipeline.shutdown(timeout)
    return True


def stats() -> Stats:
    """Counters of the default pipeline (zeros if nothing was logged yet)."""
    pipeline = _target.current
    if isinstance(pipeline, Pipeline):
        return pipeline.stats()
    return Stats.empty()
