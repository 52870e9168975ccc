"""Through a 503 storm and a black hole, 8 logging processes stay within budget and lose nothing.

The module runs ``python -m scripts.outage --quick`` once (a subprocess: three runs of 8
spawned worker processes and a loopback endpoint, ~20 s each) and each test reads one of
the replay's checks from the figures it writes. ``--quick`` keeps the scenario and scales
its time constants down with the phases (healthy 3 s, 503 4 s, black hole 4 s, recovery
5 s; flush interval 50 ms, breaker open 1-1.5 s, backoff cap 3 s), so the outage still
spans several breaker periods. The three runs: the main one; the same behind a proxy that
answers 413 to a gzip body over 256 KiB (the quick queue holds 1 MiB); the same with a
spool. The only wall-clock limits are the library's own promises: the delivery bound (two
flush intervals plus the longest wait, a backoff cap or an open period) and
``Config.block_timeout`` for a log call (measured without the time the thread waited for a
CPU, so a busy machine does not fail it); rates are compared as ratios.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nglogger import Config

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
#: The replay's entry point (``scripts/outage/``), run from the repository root.
REPLAY = [sys.executable, "-m", "scripts.outage"]
WORKERS = 8
#: A log call may wait at most this long (the library's promise; drop_newest never waits).
BLOCK_MS = Config().block_timeout * 1000
#: What an outage may cost, by reason; anything else would be a bug.
OUTAGE_REASONS = {"breaker_open", "sink_queue_full", "shutdown_deadline"}


def _clean_env() -> dict[str, str]:
    """The environment without nglogger's or the ecosystem's settings."""
    prefixes = ("NGLOGGER_", "OTEL_", "DD_", "HONEYCOMB_", "LOKI_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the quick replay once; its exit status, output, figures and report."""
    out = tmp_path_factory.mktemp("outage")
    command = [
        *REPLAY,
        "--quick",
        "--workers",
        str(WORKERS),
        "--max-call-ms",
        str(BLOCK_MS),
        "--report",
        str(out),
        "--no-chart",
        "--quiet",
    ]
    done = subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        timeout=450,
        env=_clean_env(),
        cwd=ROOT,
    )
    assert (out / "outage.json").exists(), done.stdout + done.stderr
    result = json.loads((out / "outage.json").read_text())
    assert list(result["runs"]) == ["main", "body-limit", "spool"]
    main = result["runs"]["main"]
    return {
        "returncode": done.returncode,
        "stdout": done.stdout,
        "stderr": done.stderr,
        "figures": main["figures"],
        "settings": main["settings"],
        "runs": result["runs"],
        "markdown": (out / "outage.md").read_text(),
    }


def _workers(replay: dict[str, Any], run: str = "main") -> list[dict[str, Any]]:
    workers: list[dict[str, Any]] = replay["runs"][run]["figures"]["workers"]
    assert len(workers) == WORKERS
    return workers


def test_the_replay_passes_every_check(replay: dict[str, Any]) -> None:
    """The script reports every check of every run as passed (the known library issue apart: see below)."""
    from scripts.outage.analysis import EXCESS_CHECK

    failed = [
        (name, c)
        for name, run in replay["runs"].items()
        for c in run["figures"]["checks"]
        if not c["ok"] and c["check"] != EXCESS_CHECK
    ]
    assert failed == [], replay["stdout"]
    excess = any(
        not c["ok"] and c["check"] == EXCESS_CHECK
        for run in replay["runs"].values()
        for c in run["figures"]["checks"]
    )
    assert replay["returncode"] == (1 if excess else 0), replay["stdout"] + replay["stderr"]


def test_the_backlog_held_at_recovery_is_delivered_not_dropped(replay: dict[str, Any]) -> None:
    """Once the endpoint is back, only the events fresh ones displace may be dropped, in every run."""
    from scripts.outage.analysis import EXCESS_CHECK

    for name, run in replay["runs"].items():
        check = next(c for c in run["figures"]["checks"] if c["check"] == EXCESS_CHECK)
        assert check["ok"], (name, check)


def test_each_process_stays_within_its_memory_budget(replay: dict[str, Any]) -> None:
    """Every worker's tracemalloc peak stays within memory_budget x 1.2 + the fixed allowance, with its sink queue full."""
    settings = replay["settings"]
    for w in _workers(replay):
        assert w["tracemalloc_peak"] <= w["memory_limit"], w
        # the outage did press on the limits: the sink queue reached its byte limit
        assert w["queue_high_water_bytes"] >= 0.9 * settings["sink_queue_max_bytes"], w
        assert w["queue_high_water_bytes"] <= settings["sink_queue_max_bytes"], w


def test_outage_request_rate_is_at_most_a_tenth_of_healthy(replay: dict[str, Any]) -> None:
    """Requests reaching the endpoint during the 503 and black-hole phases stay <= 10% of the healthy rate."""
    figures = replay["figures"]
    settings = replay["settings"]
    # healthy: about one request per flush interval per worker
    assert figures["healthy_rate"] >= 0.8 * WORKERS / settings["flush_interval"]
    assert figures["outage_ratio"] <= 0.10
    phases = {p["phase"]: p for p in figures["phases"]}
    assert phases["503"]["requests"]["503"] > 0  # the outage was seen...
    assert phases["black hole"]["requests"]["held"] > 0
    assert phases["503"]["requests"]["ok"] == phases["black hole"]["requests"]["ok"] == 0


def test_no_process_crashes_or_blocks(replay: dict[str, Any]) -> None:
    """Every worker exits 0 after reporting, keeps its logging rate, and no log call waits longer than block_timeout (CPU waits aside)."""
    keys = ("exitcode", "reported", "max_call_ms", "max_blocked_ms", "rate_achieved", "sink_errors")
    views: list[dict[str, Any]] = [
        {k: w.get(k) for k in ("worker", *keys)} for w in _workers(replay)
    ]
    bad = [
        v
        for v in views
        if v["exitcode"] != 0
        or not v["reported"]
        or v["max_blocked_ms"] > BLOCK_MS
        or v["rate_achieved"] < 0.95
        or v["sink_errors"] != 0
    ]
    assert bad == [], replay["stdout"]


def test_every_accepted_event_is_delivered_exactly_once_within_the_bound(
    replay: dict[str, Any],
) -> None:
    """After recovery every event not counted dropped arrives once, within two flush intervals plus one backoff cap."""
    bound = replay["figures"]["delivery_bound"]
    settings = replay["settings"]
    longest_wait = max(settings["backoff_cap"], settings["breaker_max_open"])
    assert bound == 2 * settings["flush_interval"] + longest_wait
    for w in _workers(replay):
        assert w["duplicates"] == 0, w
        assert w["received"] == w["exported"], w
        assert w["logged"] - w["received"] == w["dropped_total"] + w["queued"], w
        assert w["queued"] == 0, w  # the final flush delivered the rest
        assert w["first_after_recovery"] is not None, w
        assert w["max_lag"] <= bound, w


def test_drop_counters_account_for_every_other_event(replay: dict[str, Any]) -> None:
    """Per worker, logged == exported + dropped by reason + queued exactly, and only outage reasons appear."""
    for w in _workers(replay):
        assert w["logged"] == w["submitted"], w
        assert w["pipeline_identity"], w
        assert w["sink_identity"], w
        assert w["logged"] == w["exported"] + w["dropped_total"] + w["queued"], w
        assert w["dropped_total"] > 0, w  # the outage cost events, and they are counted
        assert set(w["dropped"]) <= OUTAGE_REASONS, w
        assert w["breaker"]["opened"] >= 1, w


def test_drain_after_recovery_keeps_one_request_in_flight_per_process(
    replay: dict[str, Any],
) -> None:
    """The backlog drains with at most one request in flight per process at the endpoint."""
    assert [w["max_inflight"] for w in _workers(replay)] == [1] * WORKERS


def test_the_endpoint_leaves_no_thread_or_socket_behind(replay: dict[str, Any]) -> None:
    """Closing the endpoint releases held requests and joins every handler thread."""
    check = {c["check"]: c for c in replay["figures"]["checks"]}
    assert check["endpoint cleaned up (threads, sockets)"]["ok"], check


def test_the_report_holds_the_figures(replay: dict[str, Any]) -> None:
    """The markdown report names every phase and every check with its verdict."""
    text = replay["markdown"]
    for phase in ("| healthy |", "| 503 |", "| black hole |", "| recovery |"):
        assert phase in text
    for c in replay["figures"]["checks"]:
        assert f"| {c['check']} | pass |" in text


def test_behind_a_body_limit_nothing_is_lost(replay: dict[str, Any]) -> None:
    """Behind a proxy answering 413 to a gzip body over the limit, requests are split until they fit: 0 lost, none dropped too_large."""
    run = replay["runs"]["body-limit"]
    assert run["settings"]["body_limit"] == 256 * 1024
    assert run["settings"]["payload"] == "random"
    totals = run["figures"]["totals"]
    assert totals["too_large_answers"] > 0  # the limit was met...
    assert totals["too_large_by_phase"]["healthy"] == 0  # ...by backlogs, not healthy batches
    assert totals["lost"] == 0
    assert totals["duplicates"] == 0
    assert set(totals["dropped"]) <= OUTAGE_REASONS - {"shutdown_deadline"}
    for w in _workers(replay, "body-limit"):
        assert w["logged"] - w["received"] == w["dropped_total"] + w["queued"], w
        if w["too_large_answers"]:  # a 413 split the request and taught the sink a cap
            assert w["splits"] >= 1, w
            assert w["learned_cap"] is not None, w
    phases = {p["phase"]: p for p in run["figures"]["phases"]}
    assert sum(p["requests"]["413"] for p in phases.values()) == totals["too_large_answers"]
    assert "## Behind a 256 KiB body limit" in replay["markdown"]


def test_with_a_spool_nothing_is_dropped(replay: dict[str, Any]) -> None:
    """With a spool the outage outlasts the memory queue and still nothing is dropped or lost; the spool ends empty."""
    run = replay["runs"]["spool"]
    settings = run["settings"]
    assert settings["spool"] is True
    totals = run["figures"]["totals"]
    assert totals["lost"] == 0
    assert totals["dropped_total"] == 0
    assert totals["duplicates"] == 0
    assert totals["spool_written_events"] > 0
    assert totals["spooled_events_end"] == 0
    for w in _workers(replay, "spool"):
        # the backlog outgrew the memory queue: without the spool it would have been dropped
        assert w["spool_high_water_bytes"] > settings["sink_queue_max_bytes"], w
        assert w["received"] == w["logged"], w
        assert w["spool_error"] is None, w
    # each worker took a slot of its own in the shared directory
    assert len(run["spool"]["slots"]) == WORKERS
    # the main run, with the same outage and no spool, did drop events
    assert replay["figures"]["totals"]["dropped_total"] > 0
    assert "## With a spool" in replay["markdown"]


def test_settings_that_make_no_sense_are_refused() -> None:
    """A first open period longer than the longest, or a recovery shorter than the bound, is refused with exit status 2."""
    for argv, message in (
        (["--breaker-open", "5", "--breaker-max-open", "4"], "--breaker-open must not exceed"),
        (["--recovery", "2"], "--recovery must be longer than the delivery bound"),
    ):
        done = subprocess.run(
            [*REPLAY, *argv],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            env=_clean_env(),
            cwd=ROOT,
        )
        assert done.returncode == 2, argv
        assert message in done.stderr, done.stderr


def test_the_default_delivery_settings_are_the_librarys() -> None:
    """The replay's RetryPolicy and CircuitBreaker defaults are nglogger's (cap 4 s; open 3 s growing to 4.5 s)."""
    from scripts.outage.report import library_defaults
    from scripts.outage.settings import Settings

    library = library_defaults()
    settings = Settings()
    for name in (
        "backoff_base",
        "backoff_cap",
        "max_attempts",
        "breaker_failures",
        "breaker_open",
        "breaker_max_open",
    ):
        assert getattr(settings, name) == library[name], name
    assert settings.delivery_bound == 2 * settings.flush_interval + 4.5


def test_the_proxy_answers_413_like_nginx() -> None:
    """A body over the limit gets nginx's 413 page and Connection: close, and records nothing; one at the limit is delivered."""
    import gzip
    import http.client

    from scripts.outage.endpoint import TOO_LARGE_PAGE, Endpoint
    from scripts.outage.settings import WORKER_HEADER

    endpoint = Endpoint(1, body_limit=1024)
    try:
        endpoint.start(0.0)
        small = gzip.compress(b'{"w": 0, "rid": 0, "t": 0.0}\n')
        large = small + bytes(1025 - len(small))
        answers = []
        for body in (large, small):
            conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
            conn.request(
                "POST",
                "/ingest",
                body=body,
                headers={"Content-Encoding": "gzip", WORKER_HEADER: "0"},
            )
            response = conn.getresponse()
            answers.append((response.status, response.getheader("Connection"), response.read()))
            conn.close()
    finally:
        endpoint.close()
    assert answers[0] == (413, "close", TOO_LARGE_PAGE)
    assert answers[1][0] == 200
    view = endpoint.workers[0]
    assert (view.too_large, view.received) == (1, 1)
    assert endpoint.phases["healthy"]["413"] == 1
    assert endpoint.threads_left == endpoint.sockets_left == 0


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], {"http_503": 60.0, "black_hole": 60.0, "recovery": 60.0, "flush_interval": 0.2}),
        (["--phase-seconds", "30"], {"http_503": 30.0, "black_hole": 30.0, "recovery": 30.0}),
        (["--phase-seconds", "30", "--recovery", "45"], {"http_503": 30.0, "recovery": 45.0}),
        (["--quick"], {"http_503": 4.0, "flush_interval": 0.05, "rate": 200.0}),
        (["--quick", "--flush-interval", "0.1"], {"http_503": 4.0, "flush_interval": 0.1}),
        ([], {"backoff_cap": 4.0, "breaker_open": 3.0, "breaker_max_open": 4.5}),
    ],
)
def test_explicit_options_override_presets_which_override_defaults(
    argv: list[str], expected: dict[str, float]
) -> None:
    """Settings come from explicit options, then --phase-seconds or --quick, then the defaults."""
    from scripts.outage import cli as replay

    settings = replay.settings_from_args(replay.build_parser().parse_args(argv), argv)
    assert {k: getattr(settings, k) for k in expected} == expected
    assert replay.check_settings(settings) == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], {"main": {}, "body-limit": {"body_limit": 1 << 20, "payload": "random"}}),
        (["--quick"], {"body-limit": {"body_limit": 256 << 10}}),
        (["--runs", "spool", "--body-limit", "512k"], {"spool": {"spool": True, "body_limit": 0}}),
        (["--runs", "body-limit", "--body-limit", "2m"], {"body-limit": {"body_limit": 2 << 20}}),
        (["--payload", "random"], {"main": {"payload": "random"}, "spool": {"spool": True}}),
    ],
)
def test_each_run_differs_from_the_main_one_as_its_options_say(
    argv: list[str], expected: dict[str, dict[str, Any]]
) -> None:
    """--runs picks the runs; --body-limit (nginx notation: 1m = 1 MiB) is the body-limit run's limit."""
    from scripts.outage import cli as replay
    from scripts.outage.settings import QUICK_BODY_LIMIT, run_settings

    args = replay.build_parser().parse_args(argv)
    base = replay.settings_from_args(args, argv)
    limit = args.body_limit_run or (QUICK_BODY_LIMIT if args.quick else 1 << 20)
    assert set(expected) <= set(args.runs)
    for name, fields in expected.items():
        settings = run_settings(base, name, limit, args.payload)
        assert {k: getattr(settings, k) for k in fields} == fields
        assert replay.check_settings(settings) == []
    main = run_settings(base, "main", limit, args.payload)
    assert (main.body_limit, main.spool) == (0, False)
