"""Through a 503 storm and a black hole, 8 logging processes stay within budget and lose nothing.

The module runs ``python -m scripts.outage --quick`` once (a subprocess: 8 spawned worker
processes and a loopback endpoint; ~20 s) and each test reads one of the replay's checks
from the figures it writes. ``--quick`` keeps the scenario and scales its time constants
down with the phases (healthy 3 s, 503 4 s, black hole 4 s, recovery 5 s; flush interval
50 ms, breaker open 1-1.5 s, backoff cap 3 s), so the outage still spans several breaker
periods. The only wall-clock limits are the library's own promises: the delivery bound
(two flush intervals plus one backoff cap) and ``Config.block_timeout`` for a log call
(measured without the time the thread waited for a CPU, so a busy machine does not fail
it); rates are compared as ratios.
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
        timeout=150,
        env=_clean_env(),
        cwd=ROOT,
    )
    assert (out / "outage.json").exists(), done.stdout + done.stderr
    result = json.loads((out / "outage.json").read_text())
    return {
        "returncode": done.returncode,
        "stdout": done.stdout,
        "stderr": done.stderr,
        "figures": result["figures"],
        "settings": result["settings"],
        "markdown": (out / "outage.md").read_text(),
    }


def _workers(replay: dict[str, Any]) -> list[dict[str, Any]]:
    workers: list[dict[str, Any]] = replay["figures"]["workers"]
    assert len(workers) == WORKERS
    return workers


def test_the_replay_passes_every_check(replay: dict[str, Any]) -> None:
    """The script exits 0 and reports every check as passed."""
    failed = [c for c in replay["figures"]["checks"] if not c["ok"]]
    assert failed == [], replay["stdout"]
    assert replay["returncode"] == 0, replay["stdout"] + replay["stderr"]


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
    assert bound == 2 * settings["flush_interval"] + settings["backoff_cap"]
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


def test_settings_that_break_the_bound_are_refused() -> None:
    """A breaker open period longer than the backoff cap is refused with exit status 2."""
    done = subprocess.run(
        [*REPLAY, "--backoff-cap", "2", "--breaker-max-open", "5"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=_clean_env(),
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "--breaker-max-open must not exceed --backoff-cap" in done.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], {"http_503": 60.0, "black_hole": 60.0, "recovery": 60.0, "flush_interval": 0.2}),
        (["--phase-seconds", "30"], {"http_503": 30.0, "black_hole": 30.0, "recovery": 30.0}),
        (["--phase-seconds", "30", "--recovery", "45"], {"http_503": 30.0, "recovery": 45.0}),
        (["--quick"], {"http_503": 4.0, "flush_interval": 0.05, "rate": 200.0}),
        (["--quick", "--flush-interval", "0.1"], {"http_503": 4.0, "flush_interval": 0.1}),
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
