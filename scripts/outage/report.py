"""The report page (outage.md): the verdict, the table of runs, the settings, the bound, and the
helpers every run's section uses (the main run's in ``main_run``, the others' in ``variants``)."""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .analysis import reasons_text
from .settings import OUTCOMES, KiB, MiB, Settings


def _mib(n: float) -> str:
    return f"{n / MiB:.2f}"


def summary_table(figures: dict[str, Any]) -> str:
    """The plain-text summary printed at the end of a run."""
    lines = [
        (
            f"{'phase':<11} {'req/s':>7} {'vs healthy':>10} {'logged':>8} {'received':>9} "
            f"{'tm peak MiB':>11} {'call ms*':>8}  dropped"
        ),
    ]
    lines += [
        f"{p['phase']:<11} {p['requests_per_s']:>7.2f} {100 * p['rate_vs_healthy']:>9.1f}% "
        f"{p['events_logged']:>8} {p['events_received']:>9} "
        f"{_mib(p['tracemalloc_peak_max']):>11} {p['max_blocked_ms']:>8.2f}  "
        f"{reasons_text(p['dropped'])}"
        for p in figures["phases"]
    ]
    lines.append("* longest log call, minus the time its thread waited for a CPU")
    tot = figures["totals"]
    lines.append(
        f"events logged {tot['logged']}, delivered {tot['received']}, lost {tot['lost']}, "
        f"dropped {tot['dropped_total']}, duplicates {tot['duplicates']}, 413s "
        f"{tot['too_large_answers']}, through the spool {tot['spool_written_events']}\n"
    )
    width = max(len(c["check"]) for c in figures["checks"])
    for c in figures["checks"]:
        mark = "PASS" if c["ok"] else "FAIL"
        lines.append(f"{mark}  {c['check']:<{width}}  {c['measured']}  (limit {c['limit']})")
    return "\n".join(lines) + "\n"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def describe_provenance() -> str:
    """nglogger's version and, in a git checkout, the commit (and whether nglogger/ was edited)."""
    import subprocess

    import nglogger

    root = Path(__file__).resolve().parent.parent
    text = f"nglogger {nglogger.__version__}"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "nglogger"],  # noqa: S607
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return text
    return f"{text} at commit {sha}" + (" with uncommitted changes in nglogger/" if dirty else "")


def library_defaults() -> dict[str, float]:
    """The delivery defaults of the nglogger the report runs with (the workers' library)."""
    import inspect

    from nglogger._delivery.retry import CircuitBreaker, RetryPolicy
    from nglogger.sinks.http import HttpSink

    breaker = inspect.signature(CircuitBreaker.__init__).parameters
    sink = inspect.signature(HttpSink.__init__).parameters
    policy = RetryPolicy()
    return {
        "backoff_base": policy.base,
        "backoff_cap": policy.cap,
        "max_attempts": policy.max_attempts,
        "breaker_failures": breaker["failure_threshold"].default,
        "breaker_open": breaker["open_duration"].default,
        "breaker_max_open": breaker["max_open_duration"].default,
        "timeout": sink["timeout"].default,
        "connect_timeout": sink["connect_timeout"].default,
        "batch_deadline": sink["batch_deadline"].default,
        "max_request_bytes": sink["max_request_bytes"].default,
    }


def verdict(figures: dict[str, Any]) -> str:
    return "all checks passed" if figures["ok"] else "SOME CHECKS FAILED"


def run_title(s: Settings) -> str:
    """The section title of a run."""
    if s.body_limit:
        return f"Behind a {size_text(s.body_limit)} body limit"
    if s.spool:
        return "With a spool"
    return "The main run"


def size_text(n: int) -> str:
    """1 MiB, 256 KiB, or bytes."""
    if n % MiB == 0:
        return f"{n // MiB} MiB"
    if n % KiB == 0:
        return f"{n // KiB} KiB"
    return f"{n:,} B"


def anchor(title: str) -> str:
    """The GitHub-style anchor of a heading (``myst_heading_anchors``)."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def runs_table(runs: Sequence[dict[str, Any]]) -> str:
    """One row per run: verdict, what differs and the headline figures."""
    rows = []
    for r in runs:
        s = Settings(**r["raw"]["settings"])
        f = r["figures"]
        tot = f["totals"]
        title = run_title(s)
        by_phase = "/".join(str(tot["too_large_by_phase"][p["phase"]]) for p in f["phases"])
        rows.append(
            [
                f"[{title}](#{anchor(title)})",
                "pass" if f["ok"] else "**FAIL**",
                differs_text(s, short=True),
                f"{tot['logged']:,}",
                f"{tot['received']:,}",
                f"**{tot['lost']}**",
                reasons_text(tot["dropped"]),
                tot["duplicates"],
                f"{tot['too_large_answers']} ({by_phase})",
                (
                    f"{tot['outage_requests']} ({f['outage_rate']:.2f}/s, "
                    f"{100 * f['outage_ratio']:.1f}%)"
                ),
                _seconds(tot["first_after_recovery"]),
                f"{_mib(tot['tracemalloc_peak'])} ({_mib(tot['budget'])})",
            ]
        )
    return _table(
        [
            "run",
            "verdict",
            "differs",
            "events logged",
            "delivered",
            "lost",
            "dropped (by reason)",
            "duplicates",
            "413s (healthy/503/black hole/recovery)",
            "requests during the outage (per s, vs healthy)",
            "first delivery after recovery s",
            "tracemalloc peak MiB (budget)",
        ],
        rows,
    )


def differs_text(s: Settings, *, short: bool = False) -> str:
    """What a run changes against the main run."""
    if s.body_limit:
        if short:
            return f"proxy: 413 over {size_text(s.body_limit)} of gzip body" + (
                "; random payload" if s.payload == "random" else ""
            )
        return (
            (
                "each event carries a fresh random payload (gzip ~2x instead of the main "
                "run's ~60x: with the repeated payload a merged 4 MiB request travels as "
                "~60 KiB and never meets the limit); and "
                if s.payload == "random"
                else ""
            )
            + f"a proxy in front of the endpoint refuses a request whose body as it travels "
            f"(gzip) is over {size_text(s.body_limit)} ({s.body_limit:,} bytes, nginx's "
            f"`client_max_body_size {_nginx(s.body_limit)}`): it answers "
            "`413 Request Entity Too Large` with nginx's HTML error page and "
            "`Connection: close`, reads and discards the body, and records nothing. It "
            "decides on `Content-Length` before forwarding, so in every phase: the proxy is "
            "up while the backend behind it fails."
        )
    if s.spool:
        if short:
            return "`spool_dir=` (one temporary directory)"
        return (
            "`Config(spool_dir=...)`: one temporary directory for the run, shared by the "
            f"{s.workers} workers (each process takes a slot of the sink's spool), removed "
            "after the run; the spool's other settings are the defaults (`spool_max_bytes` "
            "1 GiB per slot, `spool_fsync='interval'`). `Config.memory_budget` grows by one "
            "`sink_queue_max_bytes` (batches on their way to disk)."
        )
    return "-"


def _nginx(n: int) -> str:
    if n % MiB == 0:
        return f"{n // MiB}m"
    if n % KiB == 0:
        return f"{n // KiB}k"
    return str(n)


def markdown(runs: Sequence[dict[str, Any]], command: str, chart: bool) -> str:
    """docs/outage.md: what was run, the settings, and per run the figures and checks."""
    from . import main_run, variants

    first = runs[0]
    s = Settings(**first["raw"]["settings"])
    d = Settings()
    lib = library_defaults()
    budget = first["raw"]["budgets"][0]
    ok = all(r["figures"]["ok"] for r in runs)
    many = len(runs) > 1
    lost = sum(r["figures"]["totals"]["lost"] for r in runs)
    failing = [r for r in runs if not r["figures"]["ok"]]
    if ok:
        headline = "all checks passed" + (" in every run" if many else "")
    else:
        headline = (
            "SOME CHECKS FAILED ("
            + "; ".join(
                f"{_lower(run_title(Settings(**r['raw']['settings'])))}: "
                + ", ".join(c["check"] for c in r["figures"]["checks"] if not c["ok"])
                for r in failing
            )
            + ")"
        )
    lines = [
        "# The outage, replayed",
        "",
        "<!-- Generated by python -m scripts.outage --report; do not edit by hand. -->",
        "",
        (
            f"**Verdict: {headline}; events lost: {lost}.** "
            f"{s.workers} processes logged through nglogger's generic HTTP sink to a loopback "
            "endpoint that was healthy, answered 503 for "
            f"{s.http_503:g} s, black-holed requests for {s.black_hole:g} s and recovered"
            + (
                f", in {len(runs)} runs: " + "; ".join(_headline(r) for r in runs) + ". "
                if many
                else ". " + _headline(first) + ". "
            )
            + "Events lost: not delivered and not counted dropped."
        ),
        "",
        (
            f"Command: `{command}`, on {platform.python_implementation()} "
            f"{platform.python_version()}, {os.cpu_count()} CPUs (shared with other work), "
            f"{platform.system()} {platform.machine()}; {first['raw']['provenance']}; "
            f"run at {first['raw'].get('finished_at') or time.strftime('%Y-%m-%d %H:%M %Z')}."
        ),
        "",
        runs_table(runs),
        "",
        (
            "Each run has the settings below and what its row says differs; its section has "
            "the command that makes it alone. Dropped events are counted by the library with a "
            "reason; the only reasons allowed are a full sink queue's (`breaker_open`, "
            "`sink_queue_full`): the memory queue holds about "
            f"{s.sink_queue_max_bytes / (s.rate * s.event_bytes):.0f} s of events, the "
            f"outage lasts {s.http_503 + s.black_hole:g} s."
        ),
        "",
        "## What runs",
        "",
        (
            "* **Endpoint**: a `ThreadingHTTPServer` on 127.0.0.1 in the parent process "
            "(keep-alive). Healthy: reads, gunzips and parses each request, records every "
            "`(w, rid)` and answers 200. 503: answers `503` (no `Retry-After`). Black hole: "
            "reads the request and never answers; the held connections are closed unanswered "
            "when the phase ends (nothing they carried is recorded, like packets lost in a "
            "partition). Requests are counted when they arrive, per second and per phase."
        ),
        (
            "* **Proxy** (the body-limit run): the endpoint checks each request's "
            "`Content-Length` (the gzip body) first, like nginx with `client_max_body_size`; "
            "over the limit it answers `413 Request Entity Too Large` (nginx's page, "
            "`Connection: close`), discards the body and records nothing."
        ),
        (
            "* **Spool** (the spool run): every worker's `Config` has `spool_dir=` set to "
            "one temporary directory; each process takes its own slot of the sink's spool "
            "(`<sink dir>`, `<sink dir>.1`, ...)."
        ),
        (
            f"* **Workers**: {s.workers} spawned processes. Each runs "
            "`nglogger.configure(...)` with the settings below and one `HttpSink` "
            "(gzip NDJSON), then logs "
            f'`log.info("request handled", rid=n, t=monotonic(), payload=...)` at '
            f"{s.rate:g} events/s (events of ~{s.event_bytes} B), timing every call. "
            + _payload_text(s)
            + "tracemalloc runs from before `configure` (after the imports) to the end; once "
            "a second each worker sends its traced memory (current, and the peak since the "
            "last sample), `nglogger.stats()` and its longest log call over a pipe. The "
            "parent reads `VmRSS`/`VmHWM` from `/proc/<pid>/status` every second."
        ),
        (
            "* **End**: when the recovery phase ends the workers stop logging, "
            "`nglogger.flush()`, `nglogger.shutdown()` and report their final counters; the "
            "endpoint then closes (held requests released, every socket shut, every handler "
            "thread joined)."
        ),
        "",
        "## Settings",
        "",
        _settings_table(s, budget, lib),
        "",
        "## The delivery bound",
        "",
        _bound_text(s),
        "",
    ]
    for r in runs:
        rs = Settings(**r["raw"]["settings"])
        if rs.body_limit:
            lines += variants.body_limit_section(r, runs)
        elif rs.spool:
            lines += variants.spool_section(r, runs)
        else:
            lines += main_run.sections(r, chart)
    lines += [
        (
            "Every figure of every run, and the 1 s time series behind the chart, are in "
            "`outage.json`. Re-run with `python -m scripts.outage --report docs/` (about "
            f"{math.ceil(3 * (d.healthy + d.http_503 + d.black_hole + d.recovery + 20) / 60)} "
            "min for the three runs at the default lengths), or `--quick` for a short "
            "version (what `tests/test_outage.py` runs)."
        ),
        "",
    ]
    return "\n".join(lines)


def _lower(title: str) -> str:
    return title[0].lower() + title[1:]


def _headline(r: dict[str, Any]) -> str:
    s = Settings(**r["raw"]["settings"])
    tot = r["figures"]["totals"]
    name = _lower(run_title(s))
    text = (
        f"{name}: {tot['logged']:,} events logged, **{tot['lost']} lost**, "
        f"{dropped_text(tot)}, {tot['duplicates']} delivered twice"
    )
    if s.body_limit:
        text += f", {tot['too_large_answers']} requests answered 413"
    if s.spool:
        text += f", {tot['spool_written_events']:,} events through the spool"
    return text


def _payload_text(s: Settings) -> str:
    if s.payload == "repeated":
        return (
            "The payload is one random hex string per worker, the same in every event: "
            "gzip shrinks a request ~60x. The body-limit run makes a fresh one for every "
            "event (before the timed call): gzip shrinks that only ~2x, so requests travel "
            "at about half their size (real logs compress 5-10x, in between). "
        )
    return (
        "The payload is fresh random hex for every event (made before the timed call): "
        "gzip shrinks a request only ~2x, so requests travel at about half their size "
        "(real logs compress 5-10x). "
    )


def dropped_text(tot: dict[str, Any]) -> str:
    """ "N dropped (by reason)", or "0 dropped"."""
    if not tot["dropped_total"]:
        return "0 dropped"
    return f"{tot['dropped_total']:,} dropped ({reasons_text(tot['dropped'])})"


def _settings_table(s: Settings, budget: int, lib: dict[str, float]) -> str:
    def default_or(names: Sequence[str], why: str) -> str:
        same = all(getattr(s, n) == lib[n] for n in names)
        return "the library's defaults" if same else why

    return _table(
        ["setting", "value", "why"],
        [
            [
                "phases",
                (
                    f"healthy {s.healthy:g} s, 503 {s.http_503:g} s, black hole "
                    f"{s.black_hole:g} s, recovery {s.recovery:g} s"
                ),
                "the issue's 60 s outages"
                if min(s.http_503, s.black_hole) >= 60
                else "shortened (the issue's outages last 60 s each)",
            ],
            ["workers x rate", f"{s.workers} x {s.rate:g} events/s of ~{s.event_bytes} B", ""],
            [
                "payload",
                s.payload,
                "gzip shrinks a request ~60x (the body-limit run: `random`, ~2x)"
                if s.payload == "repeated"
                else "gzip shrinks a request ~2x",
            ],
            [
                "`flush_interval`",
                f"{s.flush_interval:g} s",
                "healthy: one request per interval per worker",
            ],
            [
                "`batch_max_events` / `batch_max_bytes`",
                f"{s.batch_max_events} / {s.batch_max_bytes // KiB} KiB",
                "",
            ],
            [
                "`buffer_max_events` / `buffer_max_bytes`",
                f"{s.buffer_max_events} / {_mib(s.buffer_max_bytes)} MiB",
                "small limits",
            ],
            [
                "`sink_queue_max_events` / `sink_queue_max_bytes`",
                f"{s.sink_queue_max_events} / {_mib(s.sink_queue_max_bytes)} MiB",
                (
                    f"the backlog an outage may build in memory: "
                    f"~{s.sink_queue_max_bytes / (s.rate * s.event_bytes):.0f} s of events"
                ),
            ],
            [
                "`Config.memory_budget`",
                f"{_mib(budget)} MiB",
                (
                    "buffer + 3 x batch + sink queue + 3 x merged request (the spool run: + one "
                    "more sink queue)"
                ),
            ],
            [
                "HTTP timeouts",
                (
                    f"connect {s.connect_timeout:g} s, read {s.timeout:g} s, "
                    f"batch deadline {s.batch_deadline:g} s"
                ),
                default_or(
                    ("timeout", "connect_timeout", "batch_deadline"),
                    f"shorter than the library's {lib['connect_timeout']:g} s / "
                    f"{lib['timeout']:g} s / {lib['batch_deadline']:g} s, so that requests "
                    "held by the black hole time out within the phase",
                ),
            ],
            [
                "`max_request_bytes`",
                f"{_mib(lib['max_request_bytes'])} MiB (of events, before gzip)",
                "the generic sink's default: what the worker merges into one request",
            ],
            [
                "`RetryPolicy`",
                (
                    f"base {s.backoff_base:g} s, cap {s.backoff_cap:g} s, "
                    f"{s.max_attempts} attempts, statuses 408/429/500/502/503/504, full jitter"
                ),
                default_or(
                    ("backoff_base", "backoff_cap", "max_attempts"),
                    f"the library's: base {lib['backoff_base']:g} s, cap "
                    f"{lib['backoff_cap']:g} s, {lib['max_attempts']:g} attempts",
                ),
            ],
            [
                "`RetryBudget`",
                "library default: 10% of first attempts + 0.1/s, 10 s window",
                "",
            ],
            [
                "`CircuitBreaker`",
                (
                    f"opens after {s.breaker_failures} consecutive failures; "
                    f"open {s.breaker_open:g} s, then U({s.breaker_open:g}, "
                    f"{s.breaker_max_open:g}) s"
                ),
                default_or(
                    ("breaker_failures", "breaker_open", "breaker_max_open"),
                    f"the library's: {lib['breaker_failures']:g} failures, open "
                    f"{lib['breaker_open']:g} s growing to {lib['breaker_max_open']:g} s",
                ),
            ],
            [
                "memory check",
                f"peak <= budget x {1 + s.memory_slack:g} + {_mib(s.memory_allowance)} MiB",
                "see the main run",
            ],
        ],
    )


def _bound_text(s: Settings) -> str:
    return (
        "The issue asks for delivery within two flush intervals plus one backoff cap. The "
        "cap stands for the longest a sink waits before it sends again: a backoff (at most "
        f"the cap, {s.backoff_cap:g} s) or the breaker's open period (at most "
        f"`max_open_duration`, {s.breaker_max_open:g} s"
        + (
            ": with the library's defaults the open period is the longer"
            if s.breaker_max_open > s.backoff_cap
            else ""
        )
        + f"). So the bound is 2 x {s.flush_interval:g} s + "
        f"max({s.backoff_cap:g} s, {s.breaker_max_open:g} s) = **{s.delivery_bound:g} s**, "
        "measured for every event that arrives after recovery as arrival - max(time logged, "
        "recovery start), the arrival being when the endpoint has read and parsed the "
        "request. Why it holds: at recovery a sink is waiting for its breaker or a backoff; "
        "a request held by the black hole fails when the endpoint recovers (its connection "
        "is closed), which reopens the breaker for at most `max_open_duration`. So the "
        f"first request after recovery goes within {s.longest_wait:g} s. The backlog the "
        f"memory queue holds ({_mib(s.sink_queue_max_bytes)} MiB at most) fits one merged "
        "request (up to 5 MiB of events) and goes with it; an event logged meanwhile waits "
        "at most one interval to be batched and one more behind the request in flight. "
        f"What is left for sending the backlog itself is the two intervals, "
        f"{2 * s.flush_interval:g} s: the check is tight by design. With a spool the "
        "backlog is the whole outage, several requests, and fresh events queue behind it: "
        "the spool run checks its first delivery against the bound and its drain against "
        "the recovery phase. The breaker's open periods are also what keeps the outage load low: "
        f"one probe per {s.breaker_open:g}-{s.breaker_max_open:g} s per worker against "
        f"{1 / s.flush_interval:g} requests/s when healthy."
    )


def phase_table(figures: dict[str, Any], budget: int) -> str:
    """Requests, events, drops, memory and latency per phase."""
    return _table(
        [
            "phase",
            "s",
            "requests (200/413/503/held)",
            "req/s",
            "vs healthy",
            "events logged",
            "events received",
            "dropped (by reason)",
            f"tracemalloc peak MiB (budget {_mib(budget)})",
            "RSS max MiB",
            "longest log call ms (without CPU wait)",
            "max latency s",
        ],
        [
            [
                p["phase"],
                f"{p['seconds']:g}",
                "/".join(str(p["requests"][o]) for o in OUTCOMES),
                f"{p['requests_per_s']:.2f}",
                f"{100 * p['rate_vs_healthy']:.1f}%",
                f"{p['events_logged']:,}",
                f"{p['events_received']:,}",
                reasons_text(p["dropped"]),
                _mib(p["tracemalloc_peak_max"]),
                _mib(p["rss_max"]),
                f"{p['max_call_ms']:.2f} ({p['max_blocked_ms']:.2f})",
                "-" if p["max_latency_s"] is None else f"{p['max_latency_s']:.2f}",
            ]
            for p in figures["phases"]
        ],
    )


def checks_table(figures: dict[str, Any]) -> str:
    return _table(
        ["check", "result", "measured", "limit"],
        [
            [c["check"], "pass" if c["ok"] else "**FAIL**", c["measured"], c["limit"]]
            for c in figures["checks"]
        ],
    )


def outage_line(figures: dict[str, Any]) -> str:
    workers = figures["workers"]
    return (
        f"Outage (503 + black hole): **{figures['outage_rate']:.2f} requests/s = "
        f"{100 * figures['outage_ratio']:.1f}% of the healthy "
        f"{figures['healthy_rate']:.2f}/s**. "
        f"Busiest second of the recovery: {figures['recovery_peak_rate']} requests "
        "(the backlog draining; the most requests the endpoint had in flight from one "
        f"worker at once: {max(w['max_inflight'] for w in workers)})."
    )
