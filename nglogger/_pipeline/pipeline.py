"""The pipeline: encoder, buffer, batcher thread, fan-out to sink workers.

``Pipeline`` owns one event path from the encoded bytes to the sinks and its
lifecycle: start, flush, shutdown, fork. The module also holds the one global,
the default pipeline, replaced as a whole by :func:`configure` and torn down by
:func:`shutdown`. Until something is configured, a lazy stand-in builds the
default pipeline (stdout at INFO: NDJSON, console text on a terminal) on the first event.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import replace
from typing import Any, cast

import orjson

from .._config.config import Config
from .._config.processors import Processor
from .._config.sampling import Sampler
from .._config.storm import StormLimit
from .._core import notice as _notice
from .._core.batch import Batch
from .._core.errors import ConfigError
from .._core.guard import Waker, enter_delivery
from .._core.levels import LevelRules
from .._core.reasons import DropReason
from .._core.sink import sink_name
from .._core.stats import Stats
from .._event.encode import OPTIONS, Encoder, Limits
from .._event.fields import FieldPrep
from .._event.layout import SCHEMAS, use_schema
from .._event.logger import shed
from .._event.redact import Redactor
from .._event.storm import StormGuard
from .._event.target import Direct
from .._event.trace import annotator, correlate
from .._spool.slots import OrphanReport, spools_for
from ..sinks import resolve_sink
from . import lifecycle
from .buffer import DRAINED, Buffer
from .console import SyncConsole, sync_consoles, writing_offer
from .holdmode import Holds
from .late import LateWriter, writes_late
from .levels_file import LevelsFile
from .memory import FLOORS, SAMPLE_INTERVAL, MemoryGuard, RssReader, build_guard
from .report import DropReport, LossReport
from .select import Selector, selector_for
from .worker import SinkWorker

__all__ = ["Pipeline"]

_dumps = orjson.dumps
_JSONEncodeError = orjson.JSONEncodeError
_monotonic = time.monotonic


class Pipeline:
    """Encoder + bounded buffer + batcher + one worker per sink.

    Build one with a :class:`Config`; it starts its threads at once. Use
    :func:`nglogger.configure` for the default pipeline; build your own for
    tests or for a separate stream of events.
    """

    def __init__(self, config: Config | None = None) -> None:
        config = config if config is not None else Config()
        self.config = config
        self.min_level: int = int(config.level)
        #: Per-logger levels; None when none are configured (loggers resolve them once).
        self.level_rules: LevelRules | None = (
            LevelRules(cast("Mapping[str, int]", config.levels), self.min_level)
            if config.levels
            else None
        )
        #: ``levels_file``: read now, then by the batcher when it changes (None: off).
        self._levels_file: LevelsFile | None = None
        if config.levels_file is not None:
            self._levels_file = LevelsFile(
                config.levels_file, cast("Mapping[str, int]", config.levels), self.min_level
            )
            found = self._levels_file.first(strict=config.config_errors == "raise")
            if found is not None:
                rules, self.min_level = found
                self.level_rules = LevelRules(rules, self.min_level) if rules else None
        #: Read by every enabled log call: None when no processor is configured.
        self.processors: tuple[Processor, ...] | None = tuple(config.processors) or None
        self.encoder = Encoder(
            Limits(
                max_event_bytes=config.max_event_bytes,
                oversize=config.oversize,
                max_field_length=config.max_field_length,
                max_depth=config.max_depth,
                max_repr_length=config.max_repr_length,
                max_traceback_bytes=config.max_traceback_bytes,
                strict=config.strict,
            ),
            SCHEMAS[config.schema],
        )
        self.schema = self.encoder.schema
        use_schema(self.schema)  # the caller side's reserved-name check covers it
        self._default = self.encoder.default
        self.redactor = Redactor(
            config.redact_keys,
            values=config.redact_values,
            max_depth=config.max_depth,
            count=self.encoder.count,
        )
        # Read by every log call with fields: None when no name is redacted.
        self.redact_known: Callable[[Any], bool] | None = (
            self.redactor.safe_names.issuperset if self.redactor.names else None
        )
        #: Names known to be plain: neither secret nor reserved (the logger learns them
        #: on a call's slow path); ``known_plain(fields)`` is the hot path's one check.
        self.plain_names: set[str] = set()
        self.known_plain: Callable[[Any], bool] = self.plain_names.issuperset
        limit = config.storm_limit
        if isinstance(limit, str):  # the NGLOGGER_STORM_LIMIT form, given to Config
            limit = StormLimit.parse(limit)
        self._storm_guard: StormGuard | None = (
            StormGuard(
                limit,
                tuple(config.storm_levels) if config.storm_levels else None,
                self.count_dropped,
            )
            if limit is not None
            else None
        )
        #: The log call's pre-encode hook, ``storm(logger, template, level, ns)``: does the
        #: call end here? None unless storm_limit is set or holds are in use (then the
        #: storm guard, or the hold gate around it: see ``holdmode``).
        self.storm: Callable[..., bool] | None = self._storm_guard
        #: While holds are in use, the lowest level they keep: the level cells let it
        #: through (``_logger.relevel``); None otherwise. Written by ``holdmode.Holds``.
        self.hold_floor: int | None = None
        self._holds = Holds(self)
        #: Strings longer than this are cut before orjson sees them (see _fields).
        self.max_field_length = config.max_field_length
        #: The slow path of a call's fields (see ``Logger`` and ``_fields``).
        self.field_prep = FieldPrep(self.encoder, self.redactor)
        self.prepare_fields: Callable[[dict[str, Any]], dict[str, Any]] = self.field_prep.fields
        #: The byte checks the logger applies to a list or dict it serialized itself.
        self.scan_keys: Callable[[bytes], bool] | None = self.redactor.scan
        self.long_string_in: Callable[[bytes], bool] = self.field_prep.has_long
        self.max_event_bytes = config.max_event_bytes
        self.strict = self._strict = config.strict
        self.static: dict[str, orjson.Fragment] = {
            **{k: self.encoder.fragment(v) for k, v in self.schema.static.items()},
            **{
                self.schema.rename(k): self.encoder.fragment(self.redactor.value(k, v))
                for k, v in config.context.items()
            },
        }
        #: How many ``":`` the static context's bytes hold (see ``FragmentDict.keys_in``).
        self.static_keys = orjson.dumps(self.static).count(b'":') - len(self.static)
        sinks = [resolve_sink(spec, config) for spec in config.sinks]
        names: set[str] = set()
        for sink in sinks:
            name = sink_name(sink)
            if name in names:
                raise ConfigError("sinks", name, "each sink configured once (names must differ)")
            names.add(name)
        spool_names = [sink_name(sink) for sink in sinks]
        spools = spools_for(
            config, spool_names, [getattr(sink, "spooled", True) is not False for sink in sinks]
        )
        #: Slots gone processes left with events: said after a grace, or at shutdown.
        self._orphans = OrphanReport(config.spool_dir, spool_names, spools, _monotonic())
        self.workers = [
            SinkWorker(
                sink,
                max_events=config.sink_queue_max_events,
                max_bytes=config.sink_queue_max_bytes,
                overflow=config.sink_queue_overflow,
                count_dropped=_weak_counter(weakref.ref(self)),
                spool=spool,
            )
            for sink, spool in zip(sinks, spools, strict=True)
        ]
        #: Per sink: the selector cutting its events out of each shared batch (level,
        #: filter), or None when it takes them all (see ``_select``).
        self._selectors: list[Any] = [selector_for(sink, self.schema) for sink in sinks]
        #: Stream sinks written on the caller's thread (``console_sync``: a terminal by
        #: default); empty otherwise, and then nothing below costs a log call anything.
        self._consoles: tuple[SyncConsole, ...] = sync_consoles(
            self.workers,
            self._selectors,
            max_events=config.sink_queue_max_events,
            max_bytes=config.sink_queue_max_bytes,
        )
        #: ``memory_limit``: the guard the batcher samples RSS for (None: off).
        guard = build_guard(config.memory_limit)
        self._memory: MemoryGuard | None = guard[0] if guard is not None else None
        self._rss: RssReader | None = guard[1] if guard is not None else None
        self._memory_dropped = 0  # memory_pressure drops of the current episode
        if guard is not None:  # a pipeline collected while shedding takes its floor along
            weakref.finalize(self, shed, id(self), 0).atexit = False
        self._init_runtime()
        self._start()

    def _init_runtime(self) -> None:
        config = self.config
        self._pid = os.getpid()
        self._wake_event = Waker()  # set() never waits: callable from a signal handler
        self.buffer = Buffer(
            max_events=config.buffer_max_events,
            max_bytes=config.buffer_max_bytes,
            batch_events=config.batch_max_events,
            batch_bytes=config.batch_max_bytes,
            overflow=config.overflow,
            block_timeout=config.block_timeout,
            wake=self._wake_event.set,
        )
        self._offer = self.buffer.make_appender()
        if self._consoles:  # each event is written to the terminal first, by its own call
            for console in self._consoles:
                console.reset(self._wake_event.set)
            self._offer = writing_offer(self._consoles, self._offer)
        self.emit: Callable[[dict[str, Any]], None] = self._make_emit(
            self._offer, self._after_offer
        )
        #: What the logger needs to encode and hand over an event itself, when ``emit``
        #: would do nothing more (no sampling or value patterns): see ``Direct``.
        schema = self.schema
        self.direct: Direct | None = (
            (
                self._default,
                self.config.max_event_bytes,
                self._offer,
                self._after_offer,
                self._annotate,
                None if schema.default else schema.head_table(),
                None if schema.default else schema.rewrite,
                None
                if self.processors is not None
                else (
                    self.max_field_length,
                    self.plain_names,
                    self.redactor,
                    self.static,
                    self.static_keys,
                    self.scan_keys,
                    self.redact_known,
                    self.long_string_in,
                    *self.buffer.hand_off(),
                ),
            )
            if self._plain_emit and not self._consoles  # a sync console: through emit
            else None
        )
        # RLocks: a signal handler or finalizer that logs (or asks for stats) on a
        # thread inside one of these sections never waits for itself (see _nested).
        self._dispatch_lock = threading.RLock()
        self._state_lock = threading.RLock()
        self._closed = False
        self._stopping = False
        self._done = threading.Event()
        self._seq = 0
        self._dispatched = 0
        self._batches = 0
        self._pre_dropped: dict[str, int] = {}
        #: Per sink (as ``workers``): events its selector left out, and filter errors.
        self._filtered = [0] * len(self.workers)
        self._filter_errors = [0] * len(self.workers)
        self._batcher: threading.Thread | None = None
        self._drop_report = DropReport(self.config.report_interval, _monotonic())
        loss_report = self.config.loss_report
        self._loss_report = LossReport(loss_report, _monotonic()) if loss_report else None
        #: After the exit shutdown: until when events are still written on the
        #: caller's thread (see _late_offer); None before it.
        self._late = LateWriter()
        self._holds.rebuilt()  # in a forked child, hold mode applies to the new emit

    def _start(self) -> None:
        if lifecycle.exiting() or sys.is_finalizing():
            # Built by a log call after the exit hooks (a finalizer at teardown, an
            # atexit handler that runs after ours): no thread can be started any
            # more, so it writes on the caller's thread from the start.
            lifecycle.LIVE.add(self)
            self._go_late(_monotonic() + self.config.shutdown_timeout)
            return
        for worker in self.workers:
            worker.start()
        self._batcher = threading.Thread(
            target=_batcher_main, args=(weakref.ref(self),), name="nglogger-batcher", daemon=True
        )
        self._batcher.start()
        # A pipeline dropped without shutdown(): let its sink threads drain and end.
        # Not at exit: weakref runs pending finalizers from its own atexit hook, which
        # would stop the workers before the exit shutdown delivers what late threads logged.
        weakref.finalize(self, lifecycle.stop_quietly, list(self.workers)).atexit = False
        lifecycle.register(self)

    def level_of(self, name: str) -> int:
        """The effective level of logger ``name`` (its ``levels`` rule, else ``level``).

        While holds are in use, no higher than the lowest level they keep (``hold_floor``):
        the level cells let those calls through to the hold gate, which checks the real
        level of a call outside a hold (``_event.hold.make_gate``).
        """
        rules = self.level_rules
        level = self.min_level if rules is None else rules.level_of(name)
        floor = self.hold_floor
        return level if floor is None or floor >= level else floor

    # --------------------------------------------------------------- hot path
    def _make_emit(
        self, offer: Callable[[bytes], int], after_offer: Callable[[int], None]
    ) -> Callable[[dict[str, Any]], None]:
        """Build ``emit``: a closure over this runtime's encoder and ``offer``.

        ``offer`` is the buffer's appender, or after the exit shutdown the late
        writer; ``after_offer`` runs when it returns non-zero.
        """
        default = self._default
        max_event_bytes = self.config.max_event_bytes
        slow = self._slow
        large = self._large

        scrub = self.redactor.scrub_bytes if self.redactor.values else None
        schema = self.schema
        heads = schema.head_table()
        rewrite = schema.rewrite

        def schema_emit(event: dict[str, Any]) -> None:
            """``emit`` with the schema's head bytes swapped in (see ``_layout``)."""
            try:
                data: bytes | None = _dumps(event, default=default, option=OPTIONS)
            except (_JSONEncodeError, RecursionError):
                data = slow(event)
            else:
                if len(data) > max_event_bytes:  # type: ignore[arg-type]
                    data = large(event, len(data))  # type: ignore[arg-type]
            if data is None:
                return
            # Literal offsets (cheaper than cell reads): 52 LEVEL_START, 41 TIMESTAMP_END,
            # 14 len(TIMESTAMP_OPEN); tests/test_schema.py checks them against _layout.
            head = heads[data[52]]
            if head is not None and data[41 : head[1]] == head[0]:
                data = head[2] + data[14:41] + head[3] + data[head[1] :]
            else:  # a level outside the table, or not the default layout
                data = rewrite(data)
            if scrub is not None:
                data = scrub(data)
            result = offer(data)
            if result:
                after_offer(result)

        def emit(event: dict[str, Any]) -> None:
            """Encode one event and buffer it. Never raises unless ``strict``."""
            try:
                data: bytes | None = _dumps(event, default=default, option=OPTIONS)
            except (_JSONEncodeError, RecursionError):
                data = slow(event)
            else:
                if len(data) > max_event_bytes:  # type: ignore[arg-type]
                    data = large(event, len(data))  # type: ignore[arg-type]
            if data is None:
                return
            if scrub is not None:
                data = scrub(data)
            result = offer(data)
            if result:
                after_offer(result)

        base = emit if schema.default else schema_emit
        add_ids = annotator(self.config.trace_context, schema, self.config.gcp_project)
        traced = (
            base
            if add_ids is None
            else correlate(base, self.config.trace_context, schema, self.config.gcp_project)
        )
        sampling = self.config.sample
        #: The span ids a log call adds before encoding its event itself (see ``direct``).
        self._annotate = add_ids
        self._plain_emit = scrub is None and sampling is None
        if sampling is None:
            return traced
        keep = Sampler(sampling).keep
        count = self._count_pre

        def sampled_emit(event: dict[str, Any]) -> None:
            reason = keep(event.get("level"))
            if reason is None:
                traced(event)
            else:
                count(reason)

        return sampled_emit

    def _emit_closed(self, _event: dict[str, Any]) -> None:
        """``emit`` after shutdown: count, keep nothing."""
        self._count_pre("after_shutdown")

    def emit_bytes(self, data: bytes) -> None:
        """Buffer an already encoded event (one JSON document plus newline)."""
        if self._late.until is not None:
            self._late_offer(data)
            return
        if self._closed:
            self._count_pre("after_shutdown")
            return
        result = self._offer(data)
        if result:
            self._after_offer(result)

    def _storm_summaries(self, *, final: bool = False) -> None:
        """Write the storm guard's summaries of finished periods (every one when ``final``)."""
        storm = self._storm_guard
        if storm is None:
            return
        try:
            for data in storm.drain() if final else storm.summaries():
                self.emit_bytes(self.schema.rewrite(data))
        except Exception:  # never fail a flush or the batcher over a summary
            self._count_pre("encode_error")

    def _after_offer(self, result: int) -> None:
        """Slow path after a hand-off: the inbox moved, a batch sealed or the event dropped.

        Where a fork that skipped the at-fork hook is noticed; the batcher is woken
        unless the inbox merely moved into the open batch.
        """
        if os.getpid() != self._pid:
            self._after_fork_child(detected=True)
            return
        if result != DRAINED:
            self._wake_event.set()

    def _slow(self, event: dict[str, Any]) -> bytes | None:
        if self._strict:
            return self.encoder.slow_encode(event)
        try:
            data = self.encoder.slow_encode(event)
        except BaseException:
            self._count_pre("encode_error")
            return None
        if data is None:
            self._count_pre("too_large")
        return data

    def _large(self, event: dict[str, Any], size: int) -> bytes | None:
        """An event over max_event_bytes: its large values cut (or dropped, by config)."""
        try:
            out = self.encoder.cut_oversize(event, size)
        except BaseException:
            if self._strict:
                raise
            self._count_pre("encode_error")
            return None
        if out is None:
            self._count_pre("too_large")
        return out

    def _count_pre(self, reason: DropReason, count: int = 1) -> None:
        with self._state_lock:
            self._pre_dropped[reason] = self._pre_dropped.get(reason, 0) + count

    def count_dropped(self, reason: DropReason, count: int = 1) -> None:
        """Count ``count`` events dropped before the buffer (guard, sampling, holds...)."""
        self._count_pre(reason, count)

    # ------------------------------------------------------------ after exit
    def _go_late(self, until: float) -> None:
        """From now on every event is written on the caller's thread, until ``until``.

        Called by the exit shutdown once the sink threads are gone (and by a
        pipeline built after it). Whatever reached the buffer meanwhile is
        written first.
        """
        self._late.until = until
        self._closed = True
        self.direct = None
        self.emit = self._make_emit(self._late_offer, _nothing)
        written = {console.worker for console in self._consoles}  # the buffer's events
        others = [worker for worker in self.workers if worker not in written]
        for data, count in self.buffer.take(seal=True):
            self._dispatched += count
            self._late.write(others, data, count, self._next_seq)
        for console in self._consoles:  # what waited for the batcher, in order
            console.move(self._next_seq, late=True)

    def _late_offer(self, data: bytes) -> int:
        """``offer`` after the exit shutdown: write one event to the sinks, now."""
        with self._state_lock:
            self._late.events += 1
        self._write_late(data, 1)
        return 0

    def _write_late(self, data: bytes, count: int) -> None:
        self._late.write(self.workers, data, count, self._next_seq)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # ---------------------------------------------------------------- batcher
    def _report_drops(self, now: float) -> None:
        """Every ``report_interval`` s, if events were dropped, one warning saying so.

        With ``loss_report`` also, at most every ``loss_report`` s, one ``nglogger loss
        report`` event with the drops by reason and by sink (see :class:`LossReport`).
        Both go through every sink as ordinary events.
        """
        if self._drop_report.due(now):
            event = self._drop_report.event(self.stats())
            if event is not None:
                self.emit_bytes(self.schema.rewrite(_dumps(event, option=OPTIONS)))
        loss_report = self._loss_report  # None unless loss_report is set
        if loss_report is not None and loss_report.due(now):
            event = loss_report.event(self.stats())
            if event is not None:
                self.emit_bytes(self.schema.rewrite(_dumps(event, option=OPTIONS)))

    def _memory_tick(self, now: float) -> None:
        """From the batcher, every ``SAMPLE_INTERVAL``: one RSS sample, and what follows."""
        memory = self._memory
        rss = self._rss
        if memory is None or rss is None:
            return
        memory.due = now + SAMPLE_INTERVAL
        size = rss.read()
        if size is None:
            return
        before, after = memory.observe(size, now)
        if after != before:
            if before == 0:
                self._memory_dropped = 0
                _notice.state(memory.started_text())
            shed(id(self), FLOORS[after])  # every level cell: DEBUG (then INFO) shed
            if after == 0:
                for worker in self.workers:
                    worker.relieved()
                _notice.state(memory.ended_text(now, self._memory_dropped))
        if after:
            self._relieve()

    def _relieve(self) -> None:
        """Under memory pressure: hand the buffer to the sinks, shrink their queues."""
        self._dispatch(seal=True)
        for worker in self.workers:
            self._memory_dropped += worker.relieve()

    def _end_shedding(self) -> None:
        """At shutdown: a pipeline that sheds stops (its floor goes, said once)."""
        memory = self._memory
        if memory is None or not memory.step:
            return
        memory.step = 0
        shed(id(self), 0)
        _notice.state(memory.ended_text(_monotonic(), self._memory_dropped, shutdown=True))

    def _dispatch(self, *, seal: bool) -> int:
        """Move sealed arenas to every sink queue as shared immutable batches."""
        buffer = self.buffer
        if self._dispatch_lock._is_owned():  # type: ignore[attr-defined]
            return 0  # a signal handler interrupted a dispatch on this thread: not now
        with self._dispatch_lock:
            for console in self._consoles:  # events a sync console could not write at once
                console.move(self._next_seq)
            moved = 0
            while True:
                entry = buffer.pop_sealed(seal=seal and not moved)
                if entry is None:
                    return moved
                count = entry[1]
                try:
                    data = buffer.extract(entry)
                except MemoryError:  # no copy, no loss: it waits for the next pass
                    buffer.restore(entry)
                    raise
                self._seq += 1
                batch = Batch(data, count, self._seq)
                for index, worker in enumerate(self.workers):
                    select = self._selectors[index]
                    if select is None:
                        worker.offer(batch)
                    else:
                        self._offer_selected(index, worker, select, batch)
                del batch
                buffer.release(entry)  # counted by the buffer until the sinks hold it
                moved += count
                self._dispatched += count
                self._batches += 1

    def _offer_selected(
        self, index: int, worker: SinkWorker, select: Selector, batch: Batch
    ) -> None:
        """Offer ``worker`` the part of ``batch`` its sink selects (under the dispatch lock)."""
        try:
            part, filtered, errors = select(batch)
        except Exception:  # never lose a batch to the selection: the sink gets it whole
            part, filtered, errors = batch, 0, 1
        self._filtered[index] += filtered
        self._filter_errors[index] += errors
        if part is not None:
            worker.offer(part)

    # -------------------------------------------------------------- lifecycle
    def flush(self, timeout: float | None = None, *, leave_to_spool: bool = False) -> bool:
        """Deliver everything buffered so far; True if done before ``timeout``.

        ``leave_to_spool`` (the exit): a sink that is not ready, with every event it
        has left on disk, is not waited for (False: the next start delivers them).
        """
        timeout = self.config.shutdown_timeout if timeout is None else timeout
        deadline = _monotonic() + max(0.0, timeout)
        self._check_fork()
        if self._closed:
            return True
        if self._nested():
            return False
        self._storm_summaries(final=True)
        self._dispatch(seal=True)
        ok = True
        for worker in self.workers:
            ok = worker.wait_idle(deadline, leave_to_spool=leave_to_spool) and ok
        return ok

    def shutdown(
        self, timeout: float | None = None, *, mode: lifecycle.ShutdownMode = "close"
    ) -> bool:
        """Flush, stop threads and close sinks within ``timeout`` seconds.

        Returns True when every event was delivered. Events still queued or in
        flight at the deadline are counted as ``shutdown_deadline``; a sink that
        never returns is abandoned (its thread is a daemon).

        ``mode``: ``"close"``: later events are counted ``after_shutdown``;
        ``"late"`` (the exit hook): later events are written on the caller's thread
        while the deadline allows, to the sinks that take that (``WritesLate``,
        left open); ``"freeze"`` (the last flush before a signal ends the process):
        the buffer is held for good, so a log call on another thread waits instead
        of returning with an event nobody will deliver.
        """
        timeout = self.config.shutdown_timeout if timeout is None else timeout
        deadline = _monotonic() + max(0.0, timeout)
        self._check_fork()
        if self._nested():
            return False
        with self._state_lock:
            if self._stopping:
                first = False
            else:
                first = self._stopping = True
        if not first:  # another thread is shutting down: wait for it, within our timeout
            return self._done.wait(max(0.0, deadline - _monotonic()))
        self._holds.abandon_open()  # requests in flight: their held events counted
        self._wake_event.set()
        batcher = self._batcher
        if batcher is not None and batcher is not threading.current_thread():
            batcher.join(max(0.0, min(0.5, deadline - _monotonic())))
        self._storm_summaries(final=True)  # what the guard folded: delivered with the rest
        self._end_shedding()
        if mode == "freeze":
            # The process ends next: hold the buffer so that no log call can return
            # with its event left behind (they wait, for the few ms until the end).
            self.buffer.freeze()
        self._dispatch(seal=True)
        if mode == "close":
            self._closed = True
            self.direct = None
            self.emit = self._emit_closed
            self._dispatch(seal=True)  # anything that raced in before _closed was seen
        # A process shorter than the grace: the slots still unheld now (before ours close).
        self._orphans.report()
        ok = True
        for worker in self.workers:
            # A sink that is down with every event left on disk: no wait (the next start's).
            ok = worker.wait_idle(deadline, leave_to_spool=True) and ok
        for worker in self.workers:
            if not worker.stop(deadline) and worker.abandon():
                ok = False
        sinks = [worker.sink for worker in self.workers]
        if mode == "late":
            # Events logged from here on are written on the caller's thread (see
            # _go_late): the sinks that take that stay open until the process ends.
            self._go_late(deadline)
            sinks = [sink for sink in sinks if not writes_late(sink)]
        lifecycle.close_all_within(
            sinks, max(deadline, _monotonic() + 0.05), _weak_counter(weakref.ref(self))
        )
        self._done.set()
        return ok

    def _nested(self) -> bool:
        """True on a thread that is inside one of this pipeline's locked sections.

        A signal handler or a finalizer runs on the thread it interrupted: a flush or
        shutdown from there could only wait for the section its own thread holds, so
        it does nothing (and returns False); the interrupted call finishes, and the
        next flush (or the exit hook) delivers.
        """
        return bool(
            self._dispatch_lock._is_owned()  # type: ignore[attr-defined]
            or self.buffer._reentered()
        )

    @property
    def closed(self) -> bool:
        """True once shutdown began; later events are counted ``after_shutdown``."""
        return self._closed

    # -------------------------------------------------- lifecycle.Hooked
    @property
    def shutdown_timeout(self) -> float:
        return self.config.shutdown_timeout

    def running_in(self, pid: int) -> bool:
        return self._pid == pid and not self._stopping

    def after_fork_child(self) -> None:
        self._after_fork_child()

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:
            self._after_fork_child(detected=True)

    def _after_fork_child(self, *, detected: bool = False) -> None:
        """In a forked child: fresh locks, empty buffer and queues, new threads.

        Events the parent had buffered stay the parent's to deliver. When the
        fork hook did not run (``detected``), the events this child buffered
        before the PID check noticed are indistinguishable from the parent's
        and are discarded too (counted ``fork``).
        """
        if self._stopping:  # shut down before the fork: stays shut down in the child
            self._pid = os.getpid()
            self._state_lock = threading.RLock()
            self._dispatch_lock = threading.RLock()
            self.buffer.discard_all()
            return
        held = self.buffer.discard_all() if detected else 0
        self.encoder._lock = threading.RLock()
        self.encoder._counts = {}
        self._init_runtime()
        if held:
            self._pre_dropped["fork"] = held
        for worker in self.workers:
            worker.after_fork_child()
        self._start()

    # ------------------------------------------------------------------ stats
    def stats(self) -> Stats:
        """A consistent-enough snapshot of every counter (see :class:`Stats`).

        On a thread inside a section (a signal handler that interrupted a log call) the
        dispatch lock is not taken: the batcher holds it while it waits for the buffer
        lock that thread holds. The figures are then read as they stand.
        """
        self._check_fork()
        with nullcontext() if self._nested() else self._dispatch_lock:
            buf = self.buffer.snapshot()
            dispatched = self._dispatched
            batches = self._batches
            filtered = list(self._filtered)
            filter_errors = list(self._filter_errors)
        for console in self._consoles:  # a sync console's level and filter: its own counts
            index = self.workers.index(console.worker)
            filtered[index] += console.filtered
            filter_errors[index] += console.filter_errors
        with self._state_lock:
            pre = dict(self._pre_dropped)
        dropped = dict(pre)
        if buf["dropped_incoming"] or buf["evicted"]:
            dropped["buffer_full"] = buf["dropped_incoming"] + buf["evicted"]
        if buf["lost_memory"]:
            dropped["memory_error"] = dropped.get("memory_error", 0) + buf["lost_memory"]
        with self._state_lock:
            late = self._late.events
        sinks = {}
        for index, worker in enumerate(self.workers):
            sinks[worker.name] = replace(
                worker.snapshot(), filtered=filtered[index], filter_errors=filter_errors[index]
            )
        fallbacks = dict(self.encoder.counts())
        processor_errors = fallbacks.pop("processor_error", 0)
        return Stats(
            submitted=buf["accepted"] + late + buf["dropped_incoming"] + sum(pre.values()),
            accepted=buf["accepted"] + late,
            dispatched=dispatched + late,
            dropped=dropped,
            buffered_events=buf["events"],
            buffered_bytes=buf["bytes"],
            high_water_events=buf["high_water_events"],
            high_water_bytes=buf["high_water_bytes"],
            batches=batches,
            fallbacks=fallbacks,
            processor_errors=processor_errors,
            sinks=sinks,
            memory=self._memory.figures() if self._memory is not None else {},
        )


def _batcher_main(ref: weakref.ReferenceType[Pipeline]) -> None:
    """The batcher: seal on the interval tick, dispatch whenever woken."""
    pipeline = ref()
    if pipeline is None:
        return
    enter_delivery(_weak_counter(ref))
    interval = pipeline.config.flush_interval
    wake = pipeline._wake_event
    memory = pipeline._memory  # None unless memory_limit is in force: RSS samples
    del pipeline
    next_tick = _monotonic() + interval
    while True:
        wake.wait((next_tick if memory is None else min(next_tick, memory.due)) - _monotonic())
        pipeline = ref()
        if pipeline is None or pipeline._stopping or pipeline._wake_event is not wake:
            return
        now = _monotonic()
        due = now >= next_tick
        if due:
            next_tick = now + interval
        try:
            if memory is not None and now >= memory.due:
                pipeline._memory_tick(now)
            if due:
                levels_file = pipeline._levels_file  # None unless NGLOGGER_LEVELS_FILE
                if levels_file is not None and now >= levels_file.due:
                    levels_file.check(pipeline, now)
                pipeline._report_drops(now)
                if pipeline._orphans.due(now):
                    pipeline._orphans.report()
                pipeline._storm_summaries()
                pipeline._holds.settle()  # out of hold mode after a tick without holds
            pipeline._dispatch(seal=due)
        except BaseException:  # never let the batcher die
            pipeline._count_pre("batcher_error")
        del pipeline


def _nothing(_result: int) -> None:
    """``after_offer`` of the late writer: there is no background to wake."""


def _weak_counter(ref: weakref.ReferenceType[Pipeline]) -> Callable[[DropReason], None]:
    """A drop counter that does not keep the pipeline alive."""

    def count(reason: DropReason) -> None:
        pipeline = ref()
        if pipeline is not None:
            pipeline.count_dropped(reason)

    return count
