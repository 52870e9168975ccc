"""The main run's sections of the report: per phase, delivery after recovery, memory and
liveness per worker, what the figures say, the checks and the chart."""

from __future__ import annotations

import math
from typing import Any

from .analysis import reasons_text
from .report import (
    _mib,
    _seconds,
    _table,
    checks_table,
    outage_line,
    phase_table,
    verdict,
)
from .settings import KiB, MiB, Settings


def sections(r: dict[str, Any], chart: bool) -> list[str]:
    """The main run: per phase, per worker, memory, observations, checks, the chart."""
    raw, figures = r["raw"], r["figures"]
    s = Settings(**raw["settings"])
    budget = raw["budgets"][0]
    phases = figures["phases"]
    workers = figures["workers"]
    done = [w for w in workers if w["reported"]]
    lines = [
        "## The main run",
        "",
        (
            f"**Verdict: {verdict(figures)}.** During the outage the endpoint saw "
            f"{100 * figures['outage_ratio']:.1f}% of its healthy request rate; no event was "
            "delivered twice; every event not counted as dropped arrived, the last of them "
            f"{max(w['max_lag'] for w in workers):.2f} s after recovery (bound "
            f"{s.delivery_bound:g} s); events lost: {figures['totals']['lost']}; the largest "
            f"tracemalloc peak was {figures['totals']['tracemalloc_peak'] / MiB:.2f} MiB for "
            f"a {budget / MiB:.2f} MiB budget."
        ),
        "",
        f"Command (this run alone): `{r['command']}`.",
        "",
        "### Per phase",
        "",
        (
            "Requests and received events are counted at the endpoint, by arrival. Events "
            "logged and dropped come from each worker's 1 s samples, interpolated at the phase "
            "boundaries (the recovery row ends with the final counters, after the last flush). "
            "Memory is the largest per-second tracemalloc peak of any worker. Latency is "
            "arrival - time logged: events delivered in the recovery phase include the "
            "backlog logged during the outage."
        ),
        "",
        phase_table(figures, budget),
        "",
        outage_line(figures),
        "",
        "### Delivery after recovery",
        "",
        (
            "First delivery after recovery (the first successful probe) came after at most "
            f"{max(w['first_after_recovery'] or 0 for w in workers):.2f} s (the longest "
            f"wait is {s.longest_wait:g} s); each worker's backlog was drained "
            f"at most {max(w['backlog_drained'] or 0 for w in workers):.2f} s after recovery; "
            "every event that arrived after recovery did so within "
            f"{max(w['max_lag'] for w in workers):.2f} s of max(logged, recovery start) "
            f"(bound {s.delivery_bound:g} s). The workers stop logging at their first "
            "once-a-second sample after the recovery phase ends, so a few logged up to one "
            "second more than others."
        ),
        "",
        _table(
            [
                "worker",
                "logged",
                "received",
                "duplicates",
                "dropped (by reason)",
                "queued at end",
                "lost",
                "first delivery after recovery s",
                "backlog drained after s",
                "max lag s",
            ],
            [
                [
                    w["worker"],
                    f"{w.get('logged', 0):,}",
                    f"{w['received']:,}",
                    w["duplicates"],
                    reasons_text(w.get("dropped", {})),
                    w.get("queued", "-"),
                    w.get("lost", "-"),
                    _seconds(w["first_after_recovery"]),
                    _seconds(w["backlog_drained"]),
                    f"{w['max_lag']:.2f}",
                ]
                for w in workers
            ],
        ),
        "",
        "### Memory and liveness per worker",
        "",
        _table(
            [
                "worker",
                "tracemalloc peak MiB",
                "limit MiB",
                "queue high water MiB",
                "RSS start MiB",
                "RSS peak MiB",
                "longest call ms (without CPU wait)",
                "p99.9 call us (bucket)",
                "calls > 1 ms",
                "rate kept",
                "requests",
                "retries",
                "breaker opened / probes",
            ],
            [
                [
                    w["worker"],
                    _mib(w.get("tracemalloc_peak", 0)),
                    _mib(w["memory_limit"]),
                    _mib(w.get("queue_high_water_bytes", 0)),
                    _mib(w["rss_start"]),
                    _mib(w["rss_peak"]),
                    f"{w.get('max_call_ms', 0):.2f} ({w.get('max_blocked_ms', 0):.2f})",
                    f"<= {w.get('p999_call_us', 0):g}",
                    w.get("slow_calls", "-"),
                    f"{100 * w.get('rate_achieved', 0):.1f}%",
                    w.get("requests", "-"),
                    w.get("retries", "-"),
                    f"{w['breaker']['opened']} / {w['breaker']['probes']}"
                    if "breaker" in w
                    else "-",
                ]
                for w in workers
            ],
        ),
        "",
        (
            "Log calls are timed with `perf_counter_ns` around each call. On a machine with "
            "more runnable threads than CPUs a call can be descheduled half-way; the kernel's "
            "per-thread `run_delay` (`/proc/thread-self/schedstat`) says how long the thread "
            "waited for a CPU, so the check subtracts it from calls over 1 ms: what remains is "
            "time the call itself waited (a lock, the GIL, I/O). Both figures are shown; where "
            "the kernel has no schedstat the wall time is checked."
        ),
        "",
        (
            "The memory allowance: tracemalloc counts every Python allocation of the process "
            "after the imports, not only the pipeline's buffers. Besides the budgeted bytes it "
            "sees the threads' frames and objects, the urllib3 pool and connection, the HTTP "
            "sink's working copies of the batch in flight (the per-event list, the request body "
            "and its gzip copy: a few times one batch, which `memory_budget` counts once), "
            "`stats()` snapshots and the sampler's own objects. The healthy phase, where the "
            f"queues stay nearly empty, shows that fixed part: "
            f"{_mib(phases[0]['tracemalloc_peak_max'])} MiB. RSS also holds the interpreter, "
            "the imported modules and tracemalloc's own tables; its growth from start to peak "
            f"was at most {_mib(max(w['rss_peak'] - w['rss_start'] for w in workers))} MiB."
        ),
        "",
        "### Observations",
        "",
        *_observations(s, figures),
        "### Checks",
        "",
        checks_table(figures),
        "",
    ]
    if done:
        lines += [
            (
                "Accounting, per worker at the end: `logged == submitted == exported + "
                "sum(dropped) + queued` and `logged - received == sum(dropped) + queued`, both "
                "exact; `received == exported` (the endpoint and the sink agree on every "
                "request's fate)."
            ),
            "",
        ]
    if chart:
        lines += [
            "### Over time",
            "",
            "![Request rate, memory and queues over time](outage.png)",
            "",
            (
                "From the top: requests per second at the endpoint by outcome (symmetric log "
                "scale; dotted: the healthy rate and 10% of it); each worker's tracemalloc "
                "current and per-second peak against `memory_budget` and the checked limit; each "
                "worker's VmRSS; events queued (buffer + sink queue) and events dropped so far, "
                "summed over the workers. Shaded: the 503 (red) and black-hole (purple) phases."
            ),
            "",
        ]
    return lines


def _observations(s: Settings, figures: dict[str, Any]) -> list[str]:
    """Bullet points read off the figures (what the numbers say beyond pass/fail)."""
    phases = {p["phase"]: p for p in figures["phases"]}
    done = [w for w in figures["workers"] if w["reported"]]
    if not done:
        return ["No worker reported: nothing to observe.", ""]
    outage_drops: dict[str, int] = {}
    for name in ("503", "black hole", "recovery"):
        for reason, n in phases[name]["dropped"].items():
            outage_drops[reason] = outage_drops.get(reason, 0) + n
    with_room = sum(w["lost_with_room"] for w in done)
    lost_after = sum(w["dropped_after_recovery"] for w in done)
    healthy = figures["healthy_rate"]
    drained = max(w["backlog_drained"] or 0.0 for w in done)
    first = max(w["first_after_recovery"] or 0.0 for w in done)
    queue_hw = max(w["queue_high_water_bytes"] for w in done)
    buffer_hw = max(w["buffer_high_water_bytes"] for w in done)
    requests = sum(w["requests"] for w in done)
    retries = sum(w["retries"] for w in done)
    backlog = max(w.get("backlog_bytes", 0) for w in done)
    per_request = 5 * MiB  # the generic sink's max_request_bytes
    burst = figures["recovery_peak_rate"] / max(healthy, 1e-9)
    outage_requests = sum(sum(phases[n]["requests"].values()) for n in ("503", "black hole"))
    outage_seconds = phases["503"]["seconds"] + phases["black hole"]["seconds"]
    opened = max(w["breaker"]["opened"] for w in done)
    return [
        (
            f"* **Where the outage's cost lands.** The sink queues filled to their byte limit "
            f"({_mib(queue_hw)} of {_mib(s.sink_queue_max_bytes)} MiB); from then on the "
            "oldest queued batches made room for new ones and were counted "
            f"({reasons_text(outage_drops) or 'none'}; `sink_queue_overflow='drop_oldest'`, the "
            f"default). Events lost while a queue had room: **{with_room}**. The buffer never "
            f"held more than {buffer_hw / KiB:.0f} KiB: the batcher keeps moving events to the "
            "sink queue, so the buffer limit is not what bounds an outage."
        ),
        (
            f"* **The wire stays quiet.** {outage_requests} requests in {outage_seconds:g} s of "
            f"outage from {len(done)} workers: one probe per open period per worker (at most "
            f"{opened} openings each); a batch whose retry the budget denied went back to its "
            "queue instead of being dropped."
        ),
        _fresh_events(s, figures, first, lost_after),
        (
            "* **The drain goes out in full requests.** Each worker's backlog at recovery "
            f"(at most {_mib(backlog)} MiB"
            + (
                "; where it was not dropped at recovery: see the last point"
                if any(w.get("excess_dropped_at_recovery") for w in done)
                else ""
            )
            + ") is merged, oldest first, into requests of up to "
            f"{_mib(per_request)} MiB: about {max(1, math.ceil(backlog / per_request))} "
            f"request(s) per worker, sent within {drained:.2f} s of recovery; the busiest "
            f"second saw {figures['recovery_peak_rate']} requests against {healthy:.1f}/s when "
            f"healthy ({burst:.1f}x), never more than one in flight per worker."
        ),
        (
            f"* **Retries stayed within the budget.** {retries} retries for {requests} requests "
            f"({100 * retries / max(1, requests):.1f}%) over the whole run."
        ),
        *backlog_dropped(s, figures),
        "",
    ]


def backlog_dropped(s: Settings, figures: dict[str, Any]) -> list[str]:
    """A bullet when the backlog held at recovery was dropped rather than delivered."""
    hit = [w for w in figures["workers"] if w.get("excess_dropped_at_recovery")]
    if not hit:
        return []
    excess = sum(w["excess_dropped_at_recovery"] for w in hit)
    dropped = [w["dropped_in_recovery"] for w in hit]
    jumps = [w.get("largest_drop_jump", 0) for w in hit]
    batch = s.rate * s.flush_interval
    return [
        (
            f"* **Backlog dropped at recovery instead of delivered.** In {len(hit)} of "
            f"{len(figures['workers'])} workers, {min(dropped):,}-{max(dropped):,} events were "
            f"dropped after the endpoint recovered, {excess:,} more in all than the events "
            "logged until the first delivery could have displaced; the drop counter rose by "
            f"{min(jumps):,}-{max(jumps):,} events between two 1 s samples around the "
            f"recovery, where a batch is ~{batch:.0f} events. What the figures and a small "
            "reproduction show: the probe the black hole held carried the queue merged into "
            "one batch (as much as a request takes: the queue's "
            f"{_mib(s.sink_queue_max_bytes)} MiB, or the cap learned from a 413); when the "
            "endpoint closed it at recovery it failed as a probe (it was on a fresh "
            "connection, the earlier ones having timed out, so it was not resent as a stale "
            "keep-alive), the breaker reopened and the merged batch went back to the head "
            "of the queue. The next batch dispatched found the queue full, and "
            "`drop_oldest` evicted the oldest batch: the whole merged backlog, to make room "
            "for one flush interval's events. Counted (`breaker_open`), so not lost, but "
            "more than the queue limits force: a library matter "
            "(`nglogger/_pipeline/worker.py`: a handed-back merged write, evicted whole by "
            "`SinkWorker.offer`), reported to its owner. The same eviction shows during the "
            "outage, leaving a queue far below its limit until it fills again (a recovery "
            "then would find that much less to deliver): a worker's queue fell by up to "
            f"{max(w.get('largest_queue_fall', 0) for w in figures['workers']):,} events "
            "between two samples (in the main run's chart: the falls of the queued curve)."
        )
    ]


def _fresh_events(s: Settings, figures: dict[str, Any], first: float, dropped: int) -> str:
    """Whether the events logged after recovery all arrived; where they did not, when."""
    if not dropped:
        return (
            f"* **Fresh events survive the recovery.** The first request after recovery "
            f"succeeded within {first:.2f} s (a probe, when the breaker's open period ended); "
            "meanwhile new events pushed out the oldest queued ones, so events logged after "
            "the endpoint had recovered that were dropped: **0**."
        )
    hit = [w for w in figures["workers"] if w.get("dropped_after_recovery")]
    spans = "; ".join(
        f"worker {w['worker']}: {w['dropped_after_recovery']} logged "
        + ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in w["dropped_after_ranges"][:3])
        + f" after recovery (its first delivery: {_seconds(w['first_after_recovery'])} s)"
        for w in hit
    )
    return (
        f"* **Not every fresh event survived the recovery.** {dropped} events logged after "
        f"the endpoint had recovered were dropped (counted, so not lost), in "
        f"{len(hit)} of {len(figures['workers'])} workers: {spans}. They were logged while "
        "the worker's first request after recovery was in flight, carrying the whole "
        f"backlog (up to {_mib(s.sink_queue_max_bytes)} MiB of events, the queue's limit, "
        "merged into one request): the batches being written keep counting against the "
        "sink queue's limits, and `drop_oldest` evicts only batches still queued, so a "
        "batch dispatched meanwhile finds the queue full of the write in flight and is "
        "dropped itself, the newest instead of the oldest. It shows when that request "
        f"takes longer than a flush interval ({s.flush_interval:g} s): gzip of a "
        f"{_mib(s.sink_queue_max_bytes)} MiB body on a busy CPU. A library matter "
        "(`nglogger/_pipeline/worker.py`, `SinkWorker.offer`), reported to its owner."
    )
