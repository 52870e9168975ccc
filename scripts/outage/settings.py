"""The replay's settings (phases, rates, budgets) and their checks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB
LOOPBACK = "127.0.0.1"
WORKER_HEADER = "X-Replay-Worker"
#: How the endpoint treated a request: delivered (200), refused by the proxy's body limit
#: (413), failed (503) or held unanswered (black hole).
OUTCOMES = ("ok", "413", "503", "held")
MODES = ("healthy", "503", "black_hole")
PAYLOADS = ("random", "repeated")


@dataclass(frozen=True)
class Settings:
    """Everything a replay depends on (the defaults are the full-length run)."""

    workers: int = 8
    rate: float = 200.0  # events per second per worker
    event_bytes: int = 1024  # approximate size of one NDJSON event
    # "repeated": one random hex payload per worker (gzip shrinks a request ~60x);
    # "random": a fresh one per event (gzip shrinks it only ~2x: a request travels at about
    # half its size, which the body-limit run needs to meet the proxy's limit)
    payload: str = "repeated"
    healthy: float = 20.0  # phase lengths, seconds
    http_503: float = 60.0
    black_hole: float = 60.0
    recovery: float = 60.0
    # nglogger pipeline (Config)
    flush_interval: float = 0.2
    batch_max_events: int = 1000
    batch_max_bytes: int = 256 * KiB
    buffer_max_events: int = 20_000
    buffer_max_bytes: int = 4 * MiB
    sink_queue_max_events: int = 20_000
    sink_queue_max_bytes: int = 4 * MiB
    shutdown_timeout: float = 5.0
    # the spool: Config(spool_dir=) on one temporary directory per run, shared by the
    # workers (each process takes a slot of the sink's spool)
    spool: bool = False
    # the proxy in front of the endpoint: a request whose body as it travels (gzip) is
    # over this many bytes is answered 413, like nginx's client_max_body_size (0: none)
    body_limit: int = 0
    # HTTP sink: timeouts (shorter than the library's 10 s / 5 s / 120 s, so a black-holed
    # request fails within the phase), RetryPolicy and CircuitBreaker (the library's
    # defaults: base 0.5 s, cap 4 s, 6 attempts; 5 failures, open 3 s growing to 4.5 s)
    # and RetryBudget (library default)
    timeout: float = 2.0
    connect_timeout: float = 1.0
    batch_deadline: float = 30.0
    backoff_base: float = 0.5
    backoff_cap: float = 4.0
    max_attempts: int = 6
    breaker_failures: int = 5
    breaker_open: float = 3.0
    breaker_max_open: float = 4.5
    # checks
    memory_slack: float = 0.2
    memory_allowance: int = 1 * MiB
    max_call_ms: float = 50.0
    max_outage_ratio: float = 0.10
    min_rate_ratio: float = 0.95

    @property
    def longest_wait(self) -> float:
        """The longest a sink waits before it sends again: a backoff or an open period."""
        return max(self.backoff_cap, self.breaker_max_open)

    @property
    def delivery_bound(self) -> float:
        """The issue's bound: two flush intervals plus one backoff cap (seconds).

        "One backoff cap" is the longest wait before the next attempt: with the library's
        defaults the breaker's longest open period (4.5 s) is longer than the backoff cap
        (4 s), so the bound takes the larger of the two.
        """
        return 2 * self.flush_interval + self.longest_wait

    def phases(self) -> list[tuple[str, str, float]]:
        """(name, endpoint mode, seconds) in order."""
        return [
            ("healthy", "healthy", self.healthy),
            ("503", "503", self.http_503),
            ("black hole", "black_hole", self.black_hole),
            ("recovery", "healthy", self.recovery),
        ]


#: ``--quick``: the same scenario in ~20 s; every time constant is scaled down with the
#: phases so the outage still spans many breaker periods (see docs/outage.md).
QUICK = {
    "rate": 200.0,
    "healthy": 3.0,
    "http_503": 4.0,
    "black_hole": 4.0,
    "recovery": 5.0,
    "flush_interval": 0.05,
    "batch_max_bytes": 64 * KiB,
    "buffer_max_bytes": 512 * KiB,
    "sink_queue_max_bytes": 1 * MiB,  # ~5 s of events: longer than a probe + an open period
    "timeout": 1.0,
    "connect_timeout": 0.5,
    "batch_deadline": 5.0,
    "backoff_base": 0.1,
    "backoff_cap": 3.0,
    "breaker_open": 1.0,
    "breaker_max_open": 1.5,
}

#: ``--quick``'s body limit for the "body-limit" run: its sink queue holds 1 MiB, so merged
#: requests (~0.55 MiB of gzip) would never meet a 1 MiB limit.
QUICK_BODY_LIMIT = 256 * KiB

#: nginx's ``client_max_body_size 1m`` (nginx's ``m`` is MiB).
NGINX_1M = 1 * MiB

#: The runs one invocation may make, in report order: the main run, the same behind a
#: proxy's body limit (``--body-limit``), the same with a spool.
RUNS = ("main", "body-limit", "spool")


def run_settings(
    base: Settings, name: str, body_limit: int, payload: str | None = None
) -> Settings:
    """The settings of run ``name``: the base settings and what that run changes.

    The body-limit run also logs a fresh random payload per event unless ``payload`` is
    given: with one repeated payload gzip shrinks a 4 MiB request to ~60 KiB, and no
    request would ever meet a 1 MiB limit.
    """
    if name == "body-limit":
        return dataclasses.replace(
            base, body_limit=body_limit, spool=False, payload=payload or "random"
        )
    chosen = payload or base.payload
    if name == "spool":
        return dataclasses.replace(base, spool=True, body_limit=0, payload=chosen)
    return dataclasses.replace(base, spool=False, body_limit=0, payload=chosen)


def check_settings(s: Settings) -> list[str]:
    """Problems with ``s`` that would make the replay meaningless (empty when fine)."""
    problems = []
    if s.workers < 1 or s.rate <= 0 or s.event_bytes < 200:
        problems.append("need --workers >= 1, --rate > 0 and --event-bytes >= 200")
    if min(s.healthy, s.http_503, s.black_hole, s.recovery) <= 0:
        problems.append("every phase must last > 0 s")
    if s.breaker_open > s.breaker_max_open:
        problems.append("--breaker-open must not exceed --breaker-max-open")
    if s.payload not in PAYLOADS:
        problems.append(f"--payload must be one of {', '.join(PAYLOADS)}")
    if s.body_limit < 0:
        problems.append("--body-limit must be >= 0")
    if s.recovery <= s.delivery_bound:
        problems.append(f"--recovery must be longer than the delivery bound ({s.delivery_bound} s)")
    return problems
