"""The figures and checks computed from a run's raw samples."""

from __future__ import annotations

import itertools
import math
from typing import Any

from .settings import OUTCOMES, MiB, Settings

#: Drop reasons of a full sink queue: the only loss allowed while the endpoint is down.
QUEUE_OVERFLOW = frozenset({"breaker_open", "sink_queue_full"})

#: The check that the backlog held at recovery is delivered, not dropped: only the events
#: fresh ones displace (drop_oldest) may be dropped once the endpoint is back.
EXCESS_CHECK = "no backlog dropped at recovery beyond what fresh events displaced"


def dropped_of(counters: dict[str, Any]) -> dict[str, int]:
    """Drops by reason, before the buffer and in the sink, as one mapping."""
    total: dict[str, int] = {}
    for part in (counters["pre_dropped"], counters["sink_dropped"]):
        for reason, n in part.items():
            total[reason] = total.get(reason, 0) + n
    return total


def sample_at(samples: list[dict[str, Any]], t: float) -> dict[str, Any]:
    """The last sample taken at or before ``t`` (an empty one before the first)."""
    best: dict[str, Any] = {"logged": 0, "exported": 0, "pre_dropped": {}, "sink_dropped": {}}
    for sample in samples:
        if sample["t"] <= t:
            best = sample
    return best


def _cumulative(
    samples: list[dict[str, Any]], final: dict[str, Any]
) -> list[tuple[float, dict[str, int]]]:
    """(time, counters) points of one worker: logged, exported and each drop reason."""

    def point(m: dict[str, Any]) -> dict[str, int]:
        return {"logged": m["logged"], "exported": m["exported"], **dropped_of(m)}

    points = [(0.0, {"logged": 0, "exported": 0})]
    points += [(m["t"], point(m)) for m in samples]
    points.append((math.inf, point(final)))
    return points


def _interpolate(points: list[tuple[float, dict[str, int]]], t: float) -> dict[str, float]:
    """Counters at time ``t``, linear between the two samples around it (exact at the end)."""
    for (t1, v1), (t2, v2) in itertools.pairwise(points):
        if t1 <= t <= t2:
            if math.isinf(t2) or t2 == t1:
                return dict(v1 if not math.isinf(t) else v2)
            share = (t - t1) / (t2 - t1)
            keys = set(v1) | set(v2)
            return {k: v1.get(k, 0) + share * (v2.get(k, 0) - v1.get(k, 0)) for k in keys}
    return dict(points[-1][1])


def logged_at(samples: list[dict[str, Any]], t: float) -> float:
    """Events a worker had logged at time ``t``: linear between its 1 s samples (it logs
    at a steady rate, so this is within an event or two)."""
    points: list[tuple[float, int]] = [(0.0, 0)]
    points += [(float(m["t"]), int(m["logged"])) for m in samples]
    for (t1, n1), (t2, n2) in itertools.pairwise(points):
        if t1 <= t <= t2 and t2 > t1:
            return n1 + (t - t1) / (t2 - t1) * (n2 - n1)
    return float(points[-1][1])


def _after_recovery(
    missing: list[list[int]],
    samples: list[dict[str, Any]],
    recovery: float,
    rate: float,
    logged: int,
) -> dict[str, Any]:
    """The events logged after recovery that never arrived (all counted dropped, or the
    accounting check fails), and when they were logged, in seconds after recovery."""
    first = math.ceil(logged_at(samples, recovery))
    count = 0
    ranges = []
    for start, end in missing:
        a = max(start, first)
        if a > end or a >= logged:
            continue
        count += end - a + 1
        ranges.append([round((a - first) / rate, 2), round((end + 1 - first) / rate, 2)])
    return {
        "rid_at_recovery": first,
        "dropped_after_recovery": count,
        "dropped_after_ranges": ranges,
    }


def _dropped_at_recovery(
    s: Settings,
    samples: list[dict[str, Any]],
    final: dict[str, Any],
    recovery: float,
    first: float | None,
) -> dict[str, Any]:
    """Events dropped after the endpoint recovered, and how many more than the fresh events
    could have displaced.

    With ``drop_oldest`` a batch dispatched while the queue is full evicts the oldest
    queued batches, as many bytes as it brings: until the first delivery after recovery
    empties the queue, the events dropped are at most the events logged meanwhile, plus a
    batch or two of rounding (batches are one flush interval each), plus one second of
    sampling (the counter at recovery is interpolated between 1 s samples), plus what the
    sink held over its queue's capacity at recovery (a request in flight handed back).
    A whole merged backlog evicted for one fresh batch exceeds this.
    """
    points = _cumulative(samples, final)
    at = _interpolate(points, recovery)
    end = _interpolate(points, math.inf)
    reasons = set(at) | set(end)
    dropped = sum(end.get(r, 0) - at.get(r, 0) for r in reasons if r not in ("logged", "exported"))
    window = (first if first is not None else s.recovery) + 2 * s.flush_interval + 1.0
    # Deferred displacement: while the black hole held a request, fresh events filled the
    # queue behind it (drop_oldest admits against the queue alone); when the endpoint
    # came back the held request failed and its events rejoined the queue at the head,
    # over the limit by what was in flight: the oldest of them make room then, at once.
    capacity = min(s.sink_queue_max_events, s.sink_queue_max_bytes / s.event_bytes)
    held_over = max(0.0, _queued_at(samples, recovery, s.rate) - capacity)
    allowance = s.rate * window + held_over
    # the largest rise of the drop counter between two samples in the first seconds after
    # recovery: a whole merged batch evicted at once shows as one jump
    series = [
        (m["t"], sum(dropped_of(m).values()))
        for m in samples
        if recovery - 1.0 <= m["t"] <= recovery + window + 1.0
    ]
    jump = max((b - a for (_, a), (_, b) in itertools.pairwise(series)), default=0)
    return {
        "dropped_in_recovery": round(dropped),
        "largest_drop_jump": jump,
        "displacement_allowance": round(allowance),
        "excess_dropped_at_recovery": max(0, round(dropped - allowance)),
    }


def _queued_at(samples: list[dict[str, Any]], t: float, rate: float) -> float:
    """Events a worker's sink held (queue and requests in flight) at ``t``, at most: the
    last sample at or before it, plus what was logged since (samples are 1 s apart)."""
    before = [m for m in samples if m["t"] <= t]
    if not before:
        return 0.0
    return float(before[-1]["queued"]) + rate * (t - float(before[-1]["t"]))


def _percentile_us(hist: list[int], q: float) -> float:
    """Upper edge (microseconds) of the histogram bucket holding quantile ``q``."""
    total = sum(hist)
    if not total:
        return 0.0
    rank = q * total
    seen = 0
    for k, n in enumerate(hist):
        seen += n
        if seen >= rank:
            return float(2**k)
    return float(2 ** (len(hist) - 1))


def analyse(raw: dict[str, Any]) -> dict[str, Any]:
    """Figures per phase and per worker, and every check with its verdict."""
    s = Settings(**raw["settings"])
    ep = raw["endpoint"]
    finals: dict[int, dict[str, Any] | None] = {int(k): v for k, v in raw["final"].items()}
    budgets = raw["budgets"]
    limit = [b * (1 + s.memory_slack) + s.memory_allowance for b in budgets]
    bounds = []
    start = 0.0
    for name, _mode, seconds in s.phases():
        bounds.append((name, start, start + seconds))
        start += seconds

    # ---- per phase
    phases = []
    healthy_rate = 0.0
    for name, begin, end in bounds:
        counts = ep["phases"].get(name, {})
        requests = {o: int(counts.get(o, 0)) for o in OUTCOMES}
        total = sum(requests.values())
        rate = total / (end - begin)
        if name == "healthy":
            healthy_rate = rate
        logged = delivered_by_workers = 0.0
        drops: dict[str, float] = {}
        tm_peak = 0
        call_ns = blocked_ns = 0
        for i in range(s.workers):
            samples = raw["samples"][i]
            final = finals[i]
            if final is not None:
                points = _cumulative(samples, final)
                a = _interpolate(points, begin)
                b = _interpolate(points, end if name != "recovery" else math.inf)
                logged += b["logged"] - a["logged"]
                delivered_by_workers += b["exported"] - a["exported"]
                for reason in set(a) | set(b):
                    if reason not in ("logged", "exported"):
                        drops[reason] = drops.get(reason, 0) + b.get(reason, 0) - a.get(reason, 0)
            for sample in samples:
                if begin < sample["t"] - 0.5 <= end:
                    tm_peak = max(tm_peak, sample["tm_peak"])
                    call_ns = max(call_ns, sample["max_call_ns"])
                    blocked_ns = max(blocked_ns, sample["max_blocked_ns"])
        rss_max = max(
            (r for per in raw["rss"] for (t, r, _hwm) in per if begin < t <= end), default=0
        )
        phases.append(
            {
                "phase": name,
                "start": begin,
                "seconds": end - begin,
                "requests": requests,
                "requests_per_s": rate,
                "events_logged": round(logged),
                "events_received": int(counts.get("events", 0)),
                "exported_by_workers": round(delivered_by_workers),
                "dropped": {r: round(n) for r, n in sorted(drops.items()) if round(n)},
                "max_latency_s": counts.get("max_latency"),
                "wire_mib": counts.get("wire_bytes", 0) / MiB,
                "tracemalloc_peak_max": tm_peak,
                "rss_max": rss_max,
                "max_call_ms": call_ns / 1e6,
                "max_blocked_ms": blocked_ns / 1e6,
            }
        )
    for p in phases:
        p["rate_vs_healthy"] = p["requests_per_s"] / healthy_rate if healthy_rate else math.inf
    outage = [p for p in phases if p["phase"] in ("503", "black hole")]
    outage_requests = sum(sum(p["requests"].values()) for p in outage)
    outage_seconds = sum(p["seconds"] for p in outage)
    outage_rate = outage_requests / outage_seconds
    recovery_series = [
        sum(row.get(o, 0) for o in OUTCOMES)
        for sec, row in ep["series"].items()
        if bounds[3][1] <= int(sec) < bounds[3][2]
    ]

    # ---- per worker
    workers = []
    for i in range(s.workers):
        fin = finals[i]
        view = ep["workers"][i]
        rss_series = raw["rss"][i]
        rss_peak = max((hwm for (_t, _r, hwm) in rss_series), default=0)
        row: dict[str, Any] = {
            "worker": i,
            "pid": raw["pids"][i],
            "exitcode": raw["exitcodes"][i],
            "reported": fin is not None,
            "budget": budgets[i],
            "memory_limit": limit[i],
            "rss_start": raw["rss_start"][i],
            "rss_peak": rss_peak,
            "received": view["received"],
            "duplicates": view["duplicates"],
            "max_inflight": view["max_inflight"],
            "too_large_answers": view["too_large"],
            "first_after_recovery": view["first_after_recovery"],
            "backlog_drained": view["backlog_drained"],
            "max_lag": view["max_lag"],
        }
        if fin is not None:
            dropped = dropped_of(fin)
            expected = s.rate * fin["elapsed"]
            row.update(
                {
                    "logged": fin["logged"],
                    "rate_achieved": fin["logged"] / expected if expected else 0.0,
                    "submitted": fin["submitted"],
                    "exported": fin["exported"],
                    "dropped": dict(sorted(dropped.items())),
                    "dropped_total": sum(dropped.values()),
                    "queued": fin["queued"] + fin["buffered"],
                    "tracemalloc_peak": fin["tm_peak"],
                    "queue_high_water_bytes": fin["queue_high_water_bytes"],
                    "buffer_high_water_bytes": fin["buffer_high_water_bytes"],
                    "max_call_ms": fin["max_call_ns"] / 1e6,
                    "max_blocked_ms": fin["max_blocked_ns"] / 1e6,
                    "schedstat": fin["schedstat"],
                    "p99_call_us": _percentile_us(fin["hist"], 0.99),
                    "p999_call_us": _percentile_us(fin["hist"], 0.999),
                    "slow_calls": fin["slow_calls"],
                    "late_max": fin["late_max"],
                    "flushed": fin["flushed"],
                    "sink_errors": fin["sink_errors"],
                    "requests": fin["http"].get("requests", 0),
                    "retries": fin["http"].get("retries", 0),
                    "budget_denied": fin["http"].get("budget_denied", 0),
                    "breaker": fin["http"]["breaker"],
                    "retry_budget": fin["http"]["budget"],
                    # lost although the queue had room: any reason but the queue's overflow
                    "lost_with_room": sum(n for r, n in dropped.items() if r not in QUEUE_OVERFLOW),
                    **_after_recovery(
                        view["missing"], raw["samples"][i], bounds[3][1], s.rate, fin["logged"]
                    ),
                    **_dropped_at_recovery(
                        s, raw["samples"][i], fin, bounds[3][1], view["first_after_recovery"]
                    ),
                    # a queue emptied at once during the outage (a whole merged batch evicted)
                    "largest_queue_fall": max(
                        (
                            a["queued"] - b["queued"]
                            for a, b in itertools.pairwise(raw["samples"][i])
                            if bounds[1][1] < b["t"] <= bounds[2][2]
                        ),
                        default=0,
                    ),
                    "backlog_bytes": sample_at(raw["samples"][i], bounds[3][1]).get(
                        "queued_bytes", 0
                    ),
                    # not delivered and not counted dropped (nor still queued: on disk with
                    # a spool) - what the issue calls lost
                    "lost": fin["logged"]
                    - view["received"]
                    - sum(dropped.values())
                    - (fin["queued"] + fin["buffered"]),
                    "learned_cap": fin["learned_cap"],
                    "splits": fin["http"].get("split", 0),
                    "replayed": fin["replayed"],
                    "spooled_events_end": fin["spooled_events"],
                    "spool_written_events": fin["spool_written_events"],
                    "spool_high_water_bytes": fin["spool_high_water_bytes"],
                    "spool_corrupt_records": fin["spool_corrupt_records"],
                    "spool_error": fin["spool_error"],
                    "spooled_max": max((m["spooled_events"] for m in raw["samples"][i]), default=0),
                    "pipeline_identity": fin["submitted"]
                    == fin["dispatched"] + fin["buffered"] + sum(fin["pre_dropped"].values()),
                    "sink_identity": fin["sink_accepted"] + fin["replayed"]
                    == fin["exported"] + sum(fin["sink_dropped"].values()) + fin["queued"],
                }
            )
        workers.append(row)

    # ---- checks
    checks = []

    def check(name: str, ok: bool, measured: str, limit_text: str) -> None:
        checks.append({"check": name, "ok": bool(ok), "measured": measured, "limit": limit_text})

    done = [w for w in workers if w["reported"]]
    silent = [w["worker"] for w in workers if not w["reported"]]
    unreported = f"; workers {silent} did not report" if silent else ""
    everyone = not silent

    def worst(key: str, pick: Any = max, default: float = 0.0) -> float:
        return float(pick((w[key] for w in done), default=default))

    check(
        "memory within budget (tracemalloc peak, every worker)",
        everyone and all(w["tracemalloc_peak"] <= w["memory_limit"] for w in done),
        f"max {worst('tracemalloc_peak') / MiB:.2f} MiB{unreported}",
        f"{budgets[0] / MiB:.2f} MiB x {1 + s.memory_slack:g} + "
        f"{s.memory_allowance / MiB:g} MiB = {limit[0] / MiB:.2f} MiB",
    )
    ratio = outage_rate / healthy_rate if healthy_rate else math.inf
    check(
        "request rate during the outage <= 10% of healthy",
        ratio <= s.max_outage_ratio and healthy_rate > 0,
        f"{outage_rate:.2f}/s vs {healthy_rate:.2f}/s = {100 * ratio:.1f}%",
        f"<= {100 * s.max_outage_ratio:g}%",
    )
    check(
        "no worker crashed (exit 0, final report)",
        everyone and all(w["exitcode"] == 0 for w in workers) and not raw["crashed_during_run"],
        f"exit codes {sorted({w['exitcode'] for w in workers}, key=str)}{unreported}",
        "all 0",
    )
    check(
        "no log call blocked",
        everyone and worst("max_blocked_ms") <= s.max_call_ms,
        f"longest call {worst('max_call_ms'):.2f} ms; without waiting for a CPU "
        f"{worst('max_blocked_ms'):.2f} ms{unreported}",
        f"<= {s.max_call_ms:g} ms",
    )
    lowest = worst("rate_achieved", min, 0.0)
    check(
        "every worker kept its logging rate",
        everyone and lowest >= s.min_rate_ratio,
        f"lowest {100 * lowest:.1f}% of {s.rate:g}/s{unreported}",
        f">= {100 * s.min_rate_ratio:g}%",
    )
    dups = sum(w["duplicates"] for w in workers)
    check("no event delivered twice", dups == 0, f"{dups} duplicates", "0")
    mismatched = [
        w["worker"] for w in done if w["received"] != w["exported"] or w["received"] > w["logged"]
    ]
    check(
        "endpoint received == sink exported (every worker)",
        everyone and not mismatched,
        (f"mismatch in workers {mismatched}" if mismatched else "equal") + unreported,
        "equal",
    )
    missing_unexplained = [
        w["worker"] for w in done if w["logged"] - w["received"] != w["dropped_total"] + w["queued"]
    ]
    check(
        "every event not counted dropped was received",
        everyone and not missing_unexplained,
        (
            f"unexplained in workers {missing_unexplained}"
            if missing_unexplained
            else "logged - received == dropped + queued"
        )
        + unreported,
        "exact",
    )
    worst_lag = max((w["max_lag"] for w in workers), default=math.inf)
    late = [w["worker"] for w in workers if w["first_after_recovery"] is None]
    if not s.spool:
        check(
            "delivered within 2 flush intervals + the longest wait after recovery",
            worst_lag <= s.delivery_bound and not late,
            f"max lag {worst_lag:.2f} s" + (f"; nothing from workers {late}" if late else ""),
            f"<= {s.delivery_bound:g} s",
        )
    else:
        # The bound's argument needs the backlog to fit one request; a spool's backlog is
        # the whole outage, replayed oldest first (events logged after recovery queue
        # behind it): the first delivery is bounded, the drain is measured and must end
        # within the recovery phase.
        first = max(
            (w["first_after_recovery"] for w in workers if w["first_after_recovery"] is not None),
            default=math.inf,
        )
        check(
            "first delivery within 2 flush intervals + the longest wait after recovery",
            first <= s.delivery_bound and not late,
            f"{first:.2f} s" + (f"; nothing from workers {late}" if late else ""),
            f"<= {s.delivery_bound:g} s",
        )
        drained = max((w["backlog_drained"] or 0.0 for w in workers), default=0.0)
        check(
            "the spooled backlog drained within the recovery phase (max lag measured)",
            drained <= s.recovery and worst_lag <= s.recovery and not late,
            f"drained after {drained:.2f} s; max lag {worst_lag:.2f} s",
            f"<= {s.recovery:g} s",
        )
    broken = [
        w["worker"]
        for w in done
        if not (w["pipeline_identity"] and w["sink_identity"] and w["logged"] == w["submitted"])
    ]
    check(
        "accounting exact (logged = exported + dropped + queued)",
        everyone and not broken,
        (f"broken in workers {broken}" if broken else "exact") + unreported,
        "exact",
    )
    anomalies = {
        k: v
        for k, v in ep["counters"].items()
        if k in ("answer_lost", "bad_requests", "foreign_events", "handler_errors") and v
    }
    with_room = [w["worker"] for w in done if w["lost_with_room"]]
    check(
        "events lost while the sink queue had room = 0 (only queue overflow loses events)",
        everyone and not with_room,
        (
            f"{sum(w['lost_with_room'] for w in done)} lost in workers {with_room}"
            if with_room
            else "0"
        )
        + unreported,
        "0",
    )
    after = sum(w["dropped_after_recovery"] for w in done)
    hit = [w["worker"] for w in done if w["dropped_after_recovery"]]
    check(
        "events logged after recovery dropped = 0 (drop_oldest keeps the fresh ones)",
        everyone and after == 0,
        f"{after}" + (f" in workers {hit}" if hit else "") + unreported,
        "0",
    )
    excess = sum(w["excess_dropped_at_recovery"] for w in done)
    over = [w["worker"] for w in done if w["excess_dropped_at_recovery"]]
    check(
        EXCESS_CHECK,
        everyone and excess == 0,
        (
            f"{excess} more than displaced, in workers {over} (dropped after recovery: "
            f"{', '.join(str(w['dropped_in_recovery']) for w in done if w['worker'] in over)})"
            if over
            else "0"
        )
        + unreported,
        "dropped after recovery <= events logged until the first delivery + 2 flush "
        "intervals + 1 s of sampling",
    )
    lost = sum(w["lost"] for w in done)
    check(
        "events lost (not delivered, not counted dropped) = 0",
        everyone and lost == 0,
        f"{lost}{unreported}",
        "0",
    )
    too_large_answers = sum(w["too_large_answers"] for w in workers)
    if s.body_limit:
        check(
            "the proxy's body limit was met (requests answered 413)",
            too_large_answers > 0,
            f"{too_large_answers} answered 413",
            "> 0",
        )
        refused = sum(w["dropped"].get("too_large", 0) for w in done)
        check(
            "no event dropped too_large (each 413 split until it fit)",
            everyone and refused == 0,
            f"{refused}{unreported}",
            "0",
        )
    if s.spool:
        dropped_any = sum(w["dropped_total"] for w in done)
        check(
            "nothing dropped (the spool took what the memory queue could not)",
            everyone and dropped_any == 0,
            f"{dropped_any} dropped{unreported}",
            "0",
        )
        high = [w["spool_high_water_bytes"] for w in done] or [0]
        short = [w["worker"] for w in done if w["spool_high_water_bytes"] <= s.sink_queue_max_bytes]
        check(
            "the spool was needed: every worker's backlog outgrew its memory queue",
            everyone and not short,
            f"spool high water {min(high) / MiB:.2f}-{max(high) / MiB:.2f} MiB"
            + (f"; not in workers {short}" if short else "")
            + unreported,
            f"> {s.sink_queue_max_bytes / MiB:.2f} MiB (sink_queue_max_bytes)",
        )
        left = sum(w["spooled_events_end"] for w in done)
        trouble = [w["worker"] for w in done if w["spool_error"] or w["spool_corrupt_records"]]
        check(
            "the spool was emptied, without error",
            everyone and left == 0 and not trouble,
            f"{left} events left on disk"
            + (f"; errors in workers {trouble}" if trouble else "")
            + unreported,
            "0, none",
        )
    peak = max(recovery_series, default=0)
    drain_limit = 2 * healthy_rate + s.workers  # one request in flight per worker
    check(
        "drain request rate <= 2x healthy + concurrency",
        peak <= drain_limit,
        f"peak {peak}/s after recovery (healthy {healthy_rate:.1f}/s)",
        f"<= {drain_limit:.1f}/s",
    )
    check(
        "endpoint: every 200 reached its client, every request well-formed",
        not anomalies,
        reasons_text(anomalies) if anomalies else "no anomaly",
        "none",
    )
    check(
        "endpoint cleaned up (threads, sockets)",
        ep["threads_left"] == 0 and ep["sockets_left"] == 0,
        f"{ep['threads_left']} threads, {ep['sockets_left']} sockets left",
        "0, 0",
    )
    dropped_by_reason: dict[str, int] = {}
    for w in done:
        for reason, n in w["dropped"].items():
            dropped_by_reason[reason] = dropped_by_reason.get(reason, 0) + n
    totals = {
        "logged": sum(w["logged"] for w in done),
        "received": sum(w["received"] for w in workers),
        "lost": lost,
        "dropped": dict(sorted(dropped_by_reason.items())),
        "dropped_total": sum(dropped_by_reason.values()),
        "queued_at_end": sum(w["queued"] for w in done),
        "duplicates": dups,
        "too_large_answers": too_large_answers,
        "too_large_by_phase": {p["phase"]: p["requests"]["413"] for p in phases},
        "outage_requests": outage_requests,
        "first_after_recovery": max(
            (w["first_after_recovery"] for w in workers if w["first_after_recovery"] is not None),
            default=None,
        ),
        "backlog_drained": max(
            (w["backlog_drained"] for w in workers if w["backlog_drained"] is not None),
            default=None,
        ),
        "max_lag": worst_lag,
        "dropped_in_recovery": sum(w["dropped_in_recovery"] for w in done),
        "excess_dropped_at_recovery": excess,
        "tracemalloc_peak": worst("tracemalloc_peak"),
        "budget": budgets[0],
        "memory_limit": limit[0],
        "spool_written_events": sum(w["spool_written_events"] for w in done),
        "spooled_max": sum(w["spooled_max"] for w in done),
        "spooled_events_end": sum(w["spooled_events_end"] for w in done),
        "replayed": sum(w["replayed"] for w in done),
        "spool_high_water_bytes": max((w["spool_high_water_bytes"] for w in done), default=0),
    }
    return {
        "totals": totals,
        "healthy_rate": healthy_rate,
        "outage_rate": outage_rate,
        "outage_ratio": ratio,
        "recovery_peak_rate": max(recovery_series, default=0),
        "backlog_bytes_at_recovery": sum(w.get("backlog_bytes", 0) for w in done),
        "recovery_requests": sum(phases[3]["requests"].values()),
        "delivery_bound": s.delivery_bound,
        "phases": phases,
        "workers": workers,
        "checks": checks,
        "ok": all(c["ok"] for c in checks),
    }


def reasons_text(drops: dict[str, int]) -> str:
    return ", ".join(f"{r} {n}" for r, n in sorted(drops.items())) or "-"
