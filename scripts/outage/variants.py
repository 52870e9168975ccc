"""The report's sections for the runs that differ from the main one: behind a body limit,
and with a spool. Each: verdict, command, what differs, the figures next to the main run's,
per phase, per worker, what the figures say, and the checks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .analysis import reasons_text
from .main_run import _fresh_events, backlog_dropped
from .report import (
    _mib,
    _seconds,
    _table,
    checks_table,
    differs_text,
    dropped_text,
    outage_line,
    phase_table,
    run_title,
    size_text,
    verdict,
)
from .settings import KiB, MiB, Settings


def _main_of(runs: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    for r in runs:
        s = Settings(**r["raw"]["settings"])
        if not s.body_limit and not s.spool:
            return r
    return None


def _comparison(
    r: dict[str, Any], runs: Sequence[dict[str, Any]], extra: Sequence[tuple[str, Any]]
) -> str:
    """The run's figures next to the main run's (when it was made in the same invocation)."""
    main = _main_of(runs)

    def figures_of(run: dict[str, Any]) -> list[tuple[str, str]]:
        f = run["figures"]
        tot = f["totals"]
        by_phase = "/".join(str(tot["too_large_by_phase"][p["phase"]]) for p in f["phases"])
        return [
            ("events logged", f"{tot['logged']:,}"),
            ("delivered (received by the endpoint)", f"{tot['received']:,}"),
            ("**lost** (not delivered, not counted dropped)", f"**{tot['lost']}**"),
            ("dropped (by reason)", reasons_text(tot["dropped"])),
            ("still queued at the end", f"{tot['queued_at_end']}"),
            ("delivered twice", f"{tot['duplicates']}"),
            (
                "413s (healthy/503/black hole/recovery)",
                f"{tot['too_large_answers']} ({by_phase})",
            ),
            (
                "requests during the outage",
                (
                    f"{tot['outage_requests']} ({f['outage_rate']:.2f}/s, "
                    f"{100 * f['outage_ratio']:.1f}% of healthy)"
                ),
            ),
            (
                "first delivery after recovery (slowest worker)",
                _seconds(tot["first_after_recovery"]) + " s",
            ),
            (
                "backlog drained after recovery (slowest worker)",
                _seconds(tot["backlog_drained"]) + " s",
            ),
            ("max lag after recovery", f"{tot['max_lag']:.2f} s"),
            (
                "tracemalloc peak (budget)",
                f"{_mib(tot['tracemalloc_peak'])} MiB ({_mib(tot['budget'])} MiB)",
            ),
        ]

    mine = figures_of(r) + [(k, str(v)) for k, v in extra]
    if main is None:
        return _table(["figure", run_title(Settings(**r["raw"]["settings"]))], mine)
    theirs = dict(figures_of(main))
    return _table(
        ["figure", "this run", "main run"],
        [[k, v, theirs.get(k, "-")] for k, v in mine],
    )


def _head(r: dict[str, Any], summary: str) -> list[str]:
    s = Settings(**r["raw"]["settings"])
    return [
        f"## {run_title(s)}",
        "",
        f"**Verdict: {verdict(r['figures'])}.** {summary}",
        "",
        f"Command (this run alone): `{r['command']}`.",
        "",
        f"Differs from the main run: {differs_text(s)}",
        "",
    ]


def body_limit_section(r: dict[str, Any], runs: Sequence[dict[str, Any]]) -> list[str]:
    """Behind a proxy's body limit: the 413s, the splits, the caps learned, nothing lost."""
    raw, figures = r["raw"], r["figures"]
    s = Settings(**raw["settings"])
    tot = figures["totals"]
    workers = figures["workers"]
    done = [w for w in workers if w["reported"]]
    caps = [w["learned_cap"] for w in done if w["learned_cap"] is not None]
    refused_workers = sum(1 for w in workers if w["too_large_answers"])
    splits = sum(w["splits"] for w in done)
    by_phase = tot["too_large_by_phase"]
    phase_text = ", ".join(f"{n} in the {p} phase" for p, n in by_phase.items() if n) or "none"
    main = _main_of(runs)
    summary = (
        f"{tot['logged']:,} events logged, **{tot['lost']} lost**; "
        f"{tot['too_large_answers']} requests answered 413 ({phase_text}), each split in "
        "halves until it fitted; dropped: "
        f"{reasons_text(tot['dropped'])} (a full sink queue's reasons only: none "
        f"`too_large`); {tot['duplicates']} delivered twice."
    )
    lines = _head(r, summary)
    lines += [
        _comparison(
            r,
            runs,
            [
                ("requests split (413 answers acted on)", splits),
                (
                    "size cap learned (events before gzip, per worker)",
                    f"{min(caps) / KiB:,.0f}-{max(caps) / KiB:,.0f} KiB" if caps else "none",
                ),
            ],
        ),
        "",
        "**Per phase.**",
        "",
        phase_table(figures, raw["budgets"][0]),
        "",
        outage_line(figures),
        "",
        "**Per worker.**",
        "",
        _table(
            [
                "worker",
                "logged",
                "received",
                "duplicates",
                "dropped (by reason)",
                "lost",
                "413s",
                "splits",
                "cap learned KiB",
                "requests",
                "breaker opened / probes",
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
                    w.get("lost", "-"),
                    w["too_large_answers"],
                    w.get("splits", "-"),
                    "-" if w.get("learned_cap") is None else f"{w['learned_cap'] / KiB:,.0f}",
                    w.get("requests", "-"),
                    f"{w['breaker']['opened']} / {w['breaker']['probes']}"
                    if "breaker" in w
                    else "-",
                    _seconds(w["first_after_recovery"]),
                    _seconds(w["backlog_drained"]),
                    f"{w['max_lag']:.2f}",
                ]
                for w in workers
            ],
        ),
        "",
        "**What the figures say.**",
        "",
    ]
    healthy_413 = by_phase.get("healthy", 0)
    batch_wire = s.rate * s.flush_interval * s.event_bytes
    lines.append(
        "* **Who met the limit.** "
        + (f"{healthy_413} request(s)" if healthy_413 else "No request")
        + f" of the healthy phase: one flush interval's batch is ~{batch_wire / KiB:.0f} KiB "
        "of events. The requests over the limit were the ones carrying a backlog: during the "
        "outage the worker merges what its queue holds (up to "
        f"{_mib(s.sink_queue_max_bytes)} MiB) into one request of up to 5 MiB of events, "
        f"~{_mib(s.sink_queue_max_bytes * 0.5)} MiB of gzip, over the "
        f"{size_text(s.body_limit)} limit."
    )
    if caps:
        lines.append(
            f"* **Learned once.** {refused_workers} of {len(workers)} workers met a 413; each "
            "split the refused request in halves (a half over the limit split again) and "
            "kept the largest size accepted as the cap on what it merges: "
            f"{min(caps) / KiB:,.0f}-{max(caps) / KiB:,.0f} KiB of events (about half as "
            f"much gzip, under the {size_text(s.body_limit)} limit). Requests answered 413 "
            f"per worker: at most {max(w['too_large_answers'] for w in workers)}; after "
            "the cap was learned, no request met the limit again."
            if all(w["too_large_answers"] <= 3 for w in workers)
            else f"* **Learned.** {refused_workers} workers met a 413, up to "
            f"{max(w['too_large_answers'] for w in workers)} each; caps learned "
            f"{min(caps) / KiB:,.0f}-{max(caps) / KiB:,.0f} KiB of events."
        )
    if main is not None:
        m = main["figures"]
        lines.append(
            "* **What a 413 costs during the outage.** A 413 is an answer: the breaker "
            "records it as a success (`record_success`), so a probe answered 413 closes the "
            "half-open breaker and the halves go out at once; they meet the failing backend "
            "and the sink goes back to retries with backoff until "
            f"{s.breaker_failures} consecutive failures open the breaker again. Requests "
            f"during the outage: {tot['outage_requests']} here against "
            f"{m['totals']['outage_requests']} in the main run "
            f"({100 * figures['outage_ratio']:.1f}% vs {100 * m['outage_ratio']:.1f}% of "
            "healthy)"
            + (
                "; the overflow drops counted `sink_queue_full` rather than `breaker_open` "
                "are the ones that happened while a 413 had closed the breaker."
                if tot["dropped"].get("sink_queue_full")
                else "."
            )
        )
    lines.append(
        f"* **Recovery.** Every worker's first delivery came within "
        f"{_seconds(tot['first_after_recovery'])} s and its backlog within "
        f"{_seconds(tot['backlog_drained'])} s, in requests under the learned cap "
        f"({sum(figures['phases'][3]['requests'].values())} requests in the recovery phase)."
    )
    lines += _fresh_if_dropped(s, figures)
    lines += backlog_dropped(s, figures)
    lines += ["", "**Checks.**", "", checks_table(figures), ""]
    return lines


def _fresh_if_dropped(s: Settings, figures: dict[str, Any]) -> list[str]:
    """The bullet on fresh events dropped after recovery, when there were any."""
    tot = figures["totals"]
    dropped = sum(w.get("dropped_after_recovery", 0) for w in figures["workers"])
    if not dropped:
        return []
    return [_fresh_events(s, figures, tot["first_after_recovery"] or 0.0, dropped)]


def spool_section(r: dict[str, Any], runs: Sequence[dict[str, Any]]) -> list[str]:
    """With a spool: nothing dropped although the outage outlasts the memory queue."""
    raw, figures = r["raw"], r["figures"]
    s = Settings(**raw["settings"])
    tot = figures["totals"]
    workers = figures["workers"]
    done = [w for w in workers if w["reported"]]
    spool = raw.get("spool") or {"slots": [], "files": 0, "bytes": 0}
    main = _main_of(runs)
    high = [w["spool_high_water_bytes"] for w in done] or [0]
    outage = s.http_503 + s.black_hole
    summary = (
        f"{tot['logged']:,} events logged, **{tot['lost']} lost**, {dropped_text(tot)}, "
        f"{tot['duplicates']} delivered twice. The {outage:g} s outage built a backlog of "
        f"up to {max(high) / MiB:.2f} MiB per worker on disk against a "
        f"{_mib(s.sink_queue_max_bytes)} MiB memory queue"
        + (
            f" (without the spool, the main run dropped "
            f"{main['figures']['totals']['dropped_total']:,})"
            if main is not None
            else ""
        )
        + f"; {tot['spool_written_events']:,} events went through the spool and all were "
        "delivered after recovery."
    )
    lines = _head(r, summary)
    lines += [
        _comparison(
            r,
            runs,
            [
                ("`spool_written_events` (sum)", f"{tot['spool_written_events']:,}"),
                (
                    "`spooled_events`, most at once (sum of the workers' peaks)",
                    f"{tot['spooled_max']:,}",
                ),
                (
                    "`spool_high_water_bytes` (per worker)",
                    f"{min(high) / MiB:.2f}-{max(high) / MiB:.2f} MiB",
                ),
                ("`spooled_events` at the end", tot["spooled_events_end"]),
                ("`replayed`", tot["replayed"]),
                ("spool slots taken", len(spool["slots"])),
            ],
        ),
        "",
        "**Per phase.**",
        "",
        phase_table(figures, raw["budgets"][0]),
        "",
        outage_line(figures),
        "",
        "**Per worker** (the spool figures are `stats().sinks['endpoint']`'s).",
        "",
        _table(
            [
                "worker",
                "logged",
                "received",
                "duplicates",
                "dropped",
                "lost",
                "spool_written_events",
                "spooled_events (most)",
                "spool_high_water MiB",
                "replayed",
                "spooled at end",
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
                    w.get("lost", "-"),
                    f"{w.get('spool_written_events', 0):,}",
                    f"{w.get('spooled_max', 0):,}",
                    _mib(w.get("spool_high_water_bytes", 0)),
                    w.get("replayed", "-"),
                    w.get("spooled_events_end", "-"),
                    _seconds(w["first_after_recovery"]),
                    _seconds(w["backlog_drained"]),
                    f"{w['max_lag']:.2f}",
                ]
                for w in workers
            ],
        ),
        "",
        "**What the figures say.**",
        "",
        (
            "* **The spool was needed.** At "
            f"{s.rate:g} events/s of ~{s.event_bytes} B the memory queue "
            f"({_mib(s.sink_queue_max_bytes)} MiB) holds about "
            f"{s.sink_queue_max_bytes / (s.rate * s.event_bytes):.0f} s of events; the outage "
            f"lasted {outage:g} s. While the sink fails every batch goes to disk as it is "
            f"dispatched: each worker's spool peaked at {min(high) / MiB:.2f}-"
            f"{max(high) / MiB:.2f} MiB, "
            f"{max(high) / s.sink_queue_max_bytes:.1f}x what its memory queue could hold."
        ),
        (
            f"* **Replay.** After recovery the records were read back oldest first and sent "
            f"merged, one request in flight per worker: the first delivery came within "
            f"{_seconds(tot['first_after_recovery'])} s (bound {s.delivery_bound:g} s) and "
            f"every backlog was drained within {_seconds(tot['backlog_drained'])} s of "
            f"recovery (about {math.ceil(max(high) / (5 * MiB))} request(s) of up to 5 MiB of "
            "events for the largest). Events logged after recovery queue behind the spooled "
            "backlog (the order is kept), so the main run's bound, whose argument needs the "
            "backlog to fit one request, is checked here on the first delivery only; the "
            f"largest lag, {tot['max_lag']:.2f} s, is the drain's. `replayed` counts only "
            f"events a previous process left in a slot: {tot['replayed']} here, each worker "
            "having started on an empty slot."
        ),
        (
            f"* **Slots.** The {s.workers} workers shared one `spool_dir` and took "
            f"{len(spool['slots'])} slots ({', '.join(f'`{n}`' for n in spool['slots'][:2])}"
            f"{', ...' if len(spool['slots']) > 2 else ''}); at the end "
            f"{tot['spooled_events_end']} events were left on disk: {spool['files']} "
            f"files of {spool['bytes']:,} bytes in all "
            f"({', '.join(f'`{n}`' for n in spool.get('names', []))})."
        ),
        (
            f"* **Memory.** `memory_budget` counts one more sink queue for batches on their "
            f"way to disk ({_mib(tot['budget'])} MiB); the largest tracemalloc peak was "
            f"{_mib(tot['tracemalloc_peak'])} MiB: the disk holds the backlog, not the heap."
        ),
        *_fresh_if_dropped(s, figures),
        *backlog_dropped(s, figures),
        "",
        "**Checks.**",
        "",
        checks_table(figures),
        "",
    ]
    return lines
