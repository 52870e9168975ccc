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
from .chart import chart, timeline
from .report import markdown, summary_table
from .run import run
from .settings import (
    NGINX_1M,
    PAYLOADS,
    QUICK,
    QUICK_BODY_LIMIT,
    RUNS,
    Settings,
    check_settings,
    run_settings,
)


def _size(text: str) -> int:
    from nglogger._core.units import parse_size

    try:
        return parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 4MiB, 262144)") from None


def _nginx_size(text: str) -> int:
    """A size as nginx writes it (``1m`` is 1 MiB, ``512k`` 512 KiB), or any ``_size``."""
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    if len(text) > 1 and text[-1] in units and text[:-1].isdigit():
        return int(text[:-1]) * units[text[-1]]
    return _size(text)


def _runs(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown run {', '.join(unknown) or text!r}: choose from {', '.join(RUNS)}"
        )
    return [n for n in RUNS if n in names]  # report order, each once


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
        "--payload",
        choices=PAYLOADS,
        default=None,
        help="repeated: one random payload per worker (gzip shrinks a request ~60x); "
        "random: a fresh one per event (~2x) (default: repeated; random for the body-limit "
        "run, whose requests must meet the limit)",
    )
    g.add_argument(
        "--runs",
        type=_runs,
        default=list(RUNS),
        metavar="NAMES",
        help="comma-separated runs, each with these settings and one difference: "
        "main; body-limit (behind a proxy answering 413 to a body over --body-limit); "
        "spool (Config(spool_dir=) on a temporary directory)",
    )
    g.add_argument(
        "--body-limit",
        dest="body_limit_run",
        type=_nginx_size,
        default=None,
        metavar="SIZE",
        help="the body-limit run's client_max_body_size, on the gzip body as it travels "
        f"(nginx notation: 1m = 1 MiB) (default {NGINX_1M // 1024**2}m; --quick: "
        f"{QUICK_BODY_LIMIT // 1024}k, its queue being 1 MiB)",
    )
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
    g.add_argument(
        "--from-json",
        type=Path,
        metavar="FILE",
        help="make no run: analyse the raw results a --json FILE kept and write the report "
        "(with --report) as that run's command would have",
    )
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


#: Options that say where the output goes, not what runs: left out of a run's own command.
_OUTPUT_OPTIONS = {
    "--report": 1,
    "--json": 1,
    "--quiet": 0,
    "--no-chart": 0,
    "--runs": 1,
    "--from-json": 1,
}


def run_command(argv: Sequence[str], name: str) -> str:
    """The command line that makes run ``name`` alone, with the same settings."""
    kept: list[str] = []
    skip = 0
    for arg in argv:
        if skip:
            skip -= 1
            continue
        option = arg.split("=", 1)[0]
        if option in _OUTPUT_OPTIONS:
            skip = _OUTPUT_OPTIONS[option] if "=" not in arg else 0
            continue
        kept.append(arg)
    return "python -m scripts.outage " + shlex.join(["--runs", name, *kept])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the replays from the command line; the exit status says whether every check passed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    base = settings_from_args(args, argv)
    limit = args.body_limit_run or (QUICK_BODY_LIMIT if args.quick else NGINX_1M)
    plans = [(name, run_settings(base, name, limit, args.payload)) for name in args.runs]
    problems = sorted({problem for _name, s in plans for problem in check_settings(s)})
    if problems:
        for problem in problems:
            sys.stderr.write(f"scripts.outage: {problem}\n")
        return 2
    echo = (lambda _text: None) if args.quiet else sys.stdout.write
    command = ("python -m scripts.outage " + shlex.join(argv)).strip()
    runs = []
    if args.from_json:
        kept = json.loads(args.from_json.read_text())
        command = kept["command"]
        for name, r in kept["runs"].items():
            endpoint = r["raw"]["endpoint"]  # JSON made the per-second keys text
            endpoint["series"] = {int(k): v for k, v in endpoint["series"].items()}
            figures = analyse(r["raw"])
            sys.stdout.write(f"\n[{name}]\n" + summary_table(figures))
            runs.append({**r, "figures": figures})
        plans = []
    for name, s in plans:
        echo(f"run {name!r}\n")
        raw = run(s, echo)
        figures = analyse(raw)
        sys.stdout.write(f"\n[{name}]\n" + summary_table(figures))
        runs.append(
            {"name": name, "command": run_command(argv, name), "raw": raw, "figures": figures}
        )
    if args.json:
        full = {"command": command, "runs": {r["name"]: r for r in runs}}
        args.json.write_text(json.dumps(full, indent=1, default=str))
    if args.report:
        args.report.mkdir(parents=True, exist_ok=True)
        report = {
            "command": command,
            "runs": {
                r["name"]: {
                    "command": r["command"],
                    "settings": r["raw"]["settings"],
                    "spool": r["raw"]["spool"],
                    "figures": r["figures"],
                    "timeline": timeline(r["raw"]),
                }
                for r in runs
            },
        }
        (args.report / "outage.json").write_text(
            json.dumps(report, separators=(",", ":"), default=str) + "\n"
        )
        drawn = False
        main_run = [r for r in runs if r["name"] == "main"]
        if main_run and not args.no_chart:  # the chart is the main run's
            chart(main_run[0]["raw"], main_run[0]["figures"], args.report / "outage.png")
            drawn = True
        (args.report / "outage.md").write_text(markdown(runs, command, drawn))
        sys.stdout.write(
            f"report written to {args.report}/outage.{{md,json{',png' if drawn else ''}}}\n"
        )
    return 0 if all(r["figures"]["ok"] for r in runs) else 1
