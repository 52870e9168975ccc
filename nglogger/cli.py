"""The ``nglogger`` command: ``bench``, ``config`` and ``demo``.

Exit codes: 0 success; 1 a benchmark gate failed; 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _bench(args: argparse.Namespace) -> int:
    import orjson

    from ._bench import run

    def progress(text: str) -> None:
        if not args.json:
            print(f"  .. {text}", file=sys.stderr, flush=True)

    report = run(quick=args.quick, progress=progress)
    if args.json:
        sys.stdout.write(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    env = report.environment
    print(
        f"nglogger bench ({'quick' if args.quick else 'full'}) - Python {env['python']}, "
        f"{env['cpus']} CPUs, orjson {env['orjson']}"
    )
    print(f"{'scenario':<16} {'metric':<26} {'value':>14} {'ratio':>8}  note")
    for r in report.results:
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}x"
        value = f"{r.value:,.1f} {r.unit}"
        print(f"{r.scenario:<16} {r.metric:<26} {value:>14} {ratio:>8}  {r.note}")
    return 0


def _config(args: argparse.Namespace) -> int:
    import os

    import orjson

    from ._env import describe_variables, resolve_with_sources
    from ._errors import ConfigError

    if args.variables:
        for name, description, accepted in describe_variables():
            print(f"{name}\n    {description}\n    accepted: {accepted}")
        return 0
    try:
        _config_value, sources = resolve_with_sources(os.environ)
    except ConfigError as error:
        print(f"nglogger: invalid configuration: {error}", file=sys.stderr)
        return 2
    if args.json:
        report = {
            name: {"value": _plain(value), "source": source}
            for name, (value, source) in sources.items()
        }
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    width = max(len(name) for name in sources)
    for name, (value, source) in sources.items():
        print(f"{name:<{width}}  {_shown(value):<40}  ({source})")
    return 0


def _plain(value: object) -> object:
    from collections.abc import Mapping

    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _shown(value: object) -> str:
    import orjson

    plain = _plain(value)
    if isinstance(plain, str):
        return plain
    return orjson.dumps(plain).decode()


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(requests=args.requests)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nglogger`` command."""
    parser = argparse.ArgumentParser(
        prog="nglogger", description="Memory-safe structured logging: tools."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser(
        "bench",
        help="measure hot-path cost (as ratios to a floor) and memory of the pipeline",
        description="Run the built-in scenarios and print a table (or --json).",
    )
    bench.add_argument("--quick", action="store_true", help="short run for CI (< 30 s)")
    bench.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    bench.set_defaults(func=_bench)
    config = sub.add_parser(
        "config",
        help="show the effective configuration from the environment, with sources",
        description=(
            "Resolve the configuration exactly as nglogger.configure() would (environment, then "
            "defaults) and show each setting with its source; secrets are masked. Exit 2 with "
            "the error when a value is invalid."
        ),
    )
    config.add_argument("--json", action="store_true", help="machine-readable output")
    config.add_argument(
        "--variables", action="store_true", help="list every environment variable nglogger reads"
    )
    config.set_defaults(func=_config)
    demo = sub.add_parser(
        "demo",
        help="log a simulated service's traffic through the pipeline, then print stats",
        description="A small realistic workload through the default pipeline.",
    )
    demo.add_argument("--requests", type=int, default=20, help="requests to simulate")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nglogger`` command."""
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
