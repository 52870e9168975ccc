"""The command line: options, presets and ``main``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .analysis import analyse
from .report import chart, markdown, summary_table, timeline
from .run import run
from .settings import QUICK, Settings, check_settings


def _size(text: str) -> int:
    from nglogger._core.units import parse_size

    try:
        return parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 4MiB, 262144)") from None


def build_parser() -> argparse.ArgumentParser:
    """The command line (every Settings field has an option)."""
    d = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m scripts.outage",
        description="Replay a backend outage (healthy -> 503 -> black hole -> recovered) "
        "against N processes logging through nglogger, measure request rate, memory, drops "
        "and delivery, and check them. Exit status: 0 all checks passed, 1 a check failed, "
        "2 bad usage.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
    )
    g = parser.add_argument_group("scenario")
    g.add_argument(
        "--quick",
        action="store_true",
        help="short phases and scaled-down time constants (~20 s); other options override it",
    )
    g.add_argument("--workers", type=int, default=d.workers, help="worker processes")
    g.add_argument("--rate", type=float, default=d.rate, help="events per second per worker")
    g.add_argument("--event-bytes", type=int, default=d.event_bytes, help="approximate event size")
    g.add_argument(
        "--phase-seconds",
        type=float,
        default=None,
        help="length of each of the 503, black-hole and recovery phases (each overridable)",
    )
    g.add_argument("--healthy", type=float, default=d.healthy, help="healthy phase, s")
    g.add_argument(
        "--http-503", type=float, default=None, help=f"503 phase, s (default {d.http_503:g})"
    )
    g.add_argument(
        "--black-hole",
        type=float,
        default=None,
        help=f"black-hole phase, s (default {d.black_hole:g})",
    )
    g.add_argument(
        "--recovery", type=float, default=None, help=f"recovery phase, s (default {d.recovery:g})"
    )
    g = parser.add_argument_group("nglogger pipeline (Config)")
    g.add_argument("--flush-interval", type=float, default=d.flush_interval)
    g.add_argument("--batch-max-events", type=int, default=d.batch_max_events)
    g.add_argument("--batch-max-bytes", type=_size, default=d.batch_max_bytes)
    g.add_argument("--buffer-max-events", type=int, default=d.buffer_max_events)
    g.add_argument("--buffer-max-bytes", type=_size, default=d.buffer_max_bytes)
    g.add_argument("--sink-queue-max-events", type=int, default=d.sink_queue_max_events)
    g.add_argument("--sink-queue-max-bytes", type=_size, default=d.sink_queue_max_bytes)
    g.add_argument("--shutdown-timeout", type=float, default=d.shutdown_timeout)
    g = parser.add_argument_group("HTTP sink (timeouts, RetryPolicy, CircuitBreaker)")
    g.add_argument("--timeout", type=float, default=d.timeout, help="read timeout, s")
    g.add_argument("--connect-timeout", type=float, default=d.connect_timeout)
    g.add_argument("--batch-deadline", type=float, default=d.batch_deadline)
    g.add_argument("--backoff-base", type=float, default=d.backoff_base)
    g.add_argument("--backoff-cap", type=float, default=d.backoff_cap)
    g.add_argument("--max-attempts", type=int, default=d.max_attempts)
    g.add_argument(
        "--breaker-failures",
        type=int,
        default=d.breaker_failures,
        help="consecutive failures that open the breaker",
    )
    g.add_argument(
        "--breaker-open", type=float, default=d.breaker_open, help="first open period, s"
    )
    g.add_argument(
        "--breaker-max-open",
        type=float,
        default=d.breaker_max_open,
        help="longest open period, s (<= backoff cap)",
    )
    g = parser.add_argument_group("checks")
    g.add_argument(
        "--memory-slack",
        type=float,
        default=d.memory_slack,
        help="peak may exceed memory_budget by this fraction",
    )
    g.add_argument(
        "--memory-allowance",
        type=_size,
        default=d.memory_allowance,
        help="plus this fixed amount (interpreter objects, threads, urllib3)",
    )
    g.add_argument(
        "--max-call-ms", type=float, default=d.max_call_ms, help="longest acceptable log call"
    )
    g.add_argument(
        "--max-outage-ratio",
        type=float,
        default=d.max_outage_ratio,
        help="outage request rate / healthy rate",
    )
    g = parser.add_argument_group("output")
    g.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="write outage.json, outage.md and outage.png into DIR",
    )
    g.add_argument(
        "--json", type=Path, metavar="FILE", help="write the raw results and figures to FILE"
    )
    g.add_argument("--no-chart", action="store_true", help="skip outage.png (no matplotlib needed)")
    g.add_argument("--quiet", action="store_true", help="print only the summary")
    return parser


def settings_from_args(args: argparse.Namespace, argv: Sequence[str]) -> Settings:
    """Settings from the parsed options: explicit options > ``--quick`` > defaults."""
    given = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    values: dict[str, Any] = {}
    if args.quick:
        values.update(QUICK)
    if args.phase_seconds is not None:
        values.update(
            http_503=args.phase_seconds, black_hole=args.phase_seconds, recovery=args.phase_seconds
        )
    for f in dataclasses.fields(Settings):
        option = "--" + f.name.replace("_", "-")
        value = getattr(args, f.name, None)
        if value is None:
            continue
        if option in given or f.name not in values:
            values[f.name] = value
    return Settings(**values)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the replay from the command line; the exit status says whether every check passed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    s = settings_from_args(args, argv)
    problems = check_settings(s)
    if problems:
        for problem in problems:
            sys.stderr.write(f"scripts.outage: {problem}\n")
        return 2
    echo = (lambda _text: None) if args.quiet else sys.stdout.write
    raw = run(s, echo)
    figures = analyse(raw)
    sys.stdout.write("\n" + summary_table(figures))
    command = ("python -m scripts.outage " + shlex.join(argv)).strip()
    if args.json:
        full = {"command": command, "raw": raw, "figures": figures}
        args.json.write_text(json.dumps(full, indent=1, default=str))
    if args.report:
        args.report.mkdir(parents=True, exist_ok=True)
        report = {
            "command": command,
            "settings": raw["settings"],
            "figures": figures,
            "timeline": timeline(raw),
        }
        (args.report / "outage.json").write_text(
            json.dumps(report, separators=(",", ":"), default=str) + "\n"
        )
        drawn = False
        if not args.no_chart:
            chart(raw, figures, args.report / "outage.png")
            drawn = True
        (args.report / "outage.md").write_text(markdown(raw, figures, command, drawn))
        sys.stdout.write(
            f"report written to {args.report}/outage.{{md,json{',png' if drawn else ''}}}\n"
        )
    return 0 if figures["ok"] else 1
