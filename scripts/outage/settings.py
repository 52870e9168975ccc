"""The replay's settings (phases, rates, budgets) and their checks."""

from __future__ import annotations

from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB
LOOPBACK = "127.0.0.1"
WORKER_HEADER = "X-Replay-Worker"
OUTCOMES = ("ok", "503", "held")  # how the endpoint treated a request
MODES = ("healthy", "503", "black_hole")


@dataclass(frozen=True)
class Settings:
    """Everything a replay depends on (the defaults are the full-length run)."""

    workers: int = 8
    rate: float = 200.0  # events per second per worker
    event_bytes: int = 1024  # approximate size of one NDJSON event
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
    # HTTP sink: timeouts, RetryPolicy, CircuitBreaker (RetryBudget: library defaults)
    timeout: float = 2.0
    connect_timeout: float = 1.0
    batch_deadline: float = 30.0
    backoff_base: float = 0.5
    backoff_cap: float = 6.0
    max_attempts: int = 6
    breaker_failures: int = 5
    breaker_open: float = 3.0
    breaker_max_open: float = 4.0
    # checks
    memory_slack: float = 0.2
    memory_allowance: int = 1 * MiB
    max_call_ms: float = 50.0
    max_outage_ratio: float = 0.10
    min_rate_ratio: float = 0.95

    @property
    def delivery_bound(self) -> float:
        """The issue's bound: two flush intervals plus one backoff cap (seconds)."""
        return 2 * self.flush_interval + self.backoff_cap

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


def check_settings(s: Settings) -> list[str]:
    """Problems with ``s`` that would make the replay meaningless (empty when fine)."""
    problems = []
    if s.workers < 1 or s.rate <= 0 or s.event_bytes < 200:
        problems.append("need --workers >= 1, --rate > 0 and --event-bytes >= 200")
    if min(s.healthy, s.http_503, s.black_hole, s.recovery) <= 0:
        problems.append("every phase must last > 0 s")
    if s.breaker_max_open > s.backoff_cap:
        problems.append(
            "--breaker-max-open must not exceed --backoff-cap: the delivery bound "
            "(2 flush intervals + 1 backoff cap) assumes no wait is longer than the cap"
        )
    if s.recovery <= s.delivery_bound:
        problems.append(f"--recovery must be longer than the delivery bound ({s.delivery_bound} s)")
    return problems
