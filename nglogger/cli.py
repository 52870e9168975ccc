"""The ``nglogger`` command: ``bench``, ``config`` and ``demo``.

Exit codes: 0 success; 1 a benchmark gate failed; 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._config.report import (
    describe_memory,
    describe_otel,
    describe_variables,
    resolve_with_sources,
    settings_table,
    variables_table,
)
from ._core.errors import ConfigError, ConfigWarning
from ._pipeline.default import unbuildable_sinks
from ._spool.slots import unusable_spool_dir
from ._version import __version__

__all__ = ["main"]


def _percent(text: str) -> float:
    value = text.strip().rstrip("%")
    return float(value) / 100.0


def _tolerances(specs: list[str]) -> tuple[float, dict[str, float]]:
    """``["10%", "basic=15%", "stalled_sink.peak_bytes=5%"]`` -> (default, per metric)."""
    default = 0.10
    per_metric: dict[str, float] = {}
    for spec in specs:
        name, sep, value = spec.rpartition("=")
        if sep:
            per_metric[name.strip()] = _percent(value)
        else:
            default = _percent(value)
    return default, per_metric


def _bench(args: argparse.Namespace) -> int:
    import orjson

    from ._bench.gate import compare
    from ._bench.harness import run
    from ._bench.speed import TARGETS

    try:
        default, per_metric = _tolerances(args.max_regression)
    except ValueError:
        print(f"nglogger bench: bad --max-regression {args.max_regression!r}", file=sys.stderr)
        return 2
    baseline = None
    if args.compare:
        try:
            baseline = orjson.loads(Path(args.compare).read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            print(f"nglogger bench: cannot read baseline {args.compare}: {exc}", file=sys.stderr)
            return 2
    if args.plot:
        import importlib.util

        try:
            found = importlib.util.find_spec("matplotlib") is not None
        except (ImportError, ValueError):  # a broken or blocked installation
            found = False
        if not found:  # say so before a long run, not after it
            print(
                "nglogger bench: --plot needs matplotlib (pip install 'nglogger[plot]')",
                file=sys.stderr,
            )
            return 2
    terminal = sys.stderr.isatty()
    step = [0]

    def progress(text: str) -> None:
        """One line per step on stderr: rewritten in place on a terminal, appended when piped."""
        step[0] += 1
        if terminal:
            sys.stderr.write(f"\r\x1b[K[{step[0]:2d}] {text}")
        else:
            sys.stderr.write(f"nglogger bench [{step[0]:2d}] {text}\n")
        sys.stderr.flush()

    report = run(quick=args.quick, progress=progress)
    if terminal:
        sys.stderr.write("\r\x1b[K")
    data = report.as_dict()
    if args.save_baseline:
        Path(args.save_baseline).write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    if args.plot:
        status = _plot(report, args.plot)
        if status:
            return status
    regressions: list[Any] = []
    rows: list[tuple[str, str, float, float, float]] = []
    if baseline is not None:
        regressions, rows = compare(baseline, data, tolerance=default, per_metric=per_metric)
    if args.json:
        data["regressions"] = [
            {
                "scenario": r.scenario,
                "metric": r.metric,
                "baseline": r.baseline,
                "current": r.current,
                "change": r.change,
                "tolerance": r.tolerance,
            }
            for r in regressions
        ]
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 1 if regressions else 0
    env = report.environment
    print(
        f"nglogger bench ({'quick' if args.quick else 'full'}) - Python {env['python']}, "
        f"{env['cpus']} CPUs, orjson {env['orjson']}, redaction scan: {env['redaction_scan']}"
    )
    scan_note = _scan_note(env)
    if scan_note:
        print(scan_note)
    print(_log_call_note(env))
    print(
        "ratio: to the floor with the same fields (median of interleaved rounds, median over "
        f"{env.get('speed_processes', 1)} processes); band: quartiles of the rounds, all processes"
    )
    header = f"{'scenario':<22} {'metric':<26} {'value':>16} {'of':>13} {'ratio':>8} {'band':>11}"
    print(f"{header}  note")
    for r in report.results:
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}x"
        band = "" if r.low is None or r.high is None else f"{r.low:.2f}-{r.high:.2f}"
        value = f"{_amount(r.value, r.unit)}"
        # the denominator of the ratio (the floor, the budget, the deep clone...)
        of = "" if not r.ratio else _amount(r.value / r.ratio, r.unit)
        note = r.note
        target = TARGETS.get(r.scenario) if r.metric == "ns_per_call" else None
        if target is not None and r.ratio is not None:
            note = f"{note}; target <= {target}x: {'met' if r.ratio <= target else 'NOT met'}"
        print(f"{r.scenario:<22} {r.metric:<26} {value:>16} {of:>13} {ratio:>8} {band:>11}  {note}")
    if baseline is not None:
        print()
        print(f"compared with {args.compare} (ratios where available, else values):")
        print(f"{'scenario':<22} {'metric':<26} {'baseline':>12} {'now':>12} {'change':>8}")
        for scenario, metric, before, after, change in rows:
            mark = (
                "  REGRESSION"
                if any(r.scenario == scenario and r.metric == metric for r in regressions)
                else ""
            )
            print(
                f"{scenario:<22} {metric:<26} {before:>12,.2f} {after:>12,.2f} "
                f"{change:>+7.1%}{mark}"
            )
        if regressions:
            print(f"\n{len(regressions)} regression(s) beyond tolerance", file=sys.stderr)
            return 1
    return 0


def _scan_note(env: dict[str, Any]) -> str:
    """What the redaction scan costs here, and how to get the fast one when it is slow."""
    per_byte = env.get("redaction_scan_ns_per_byte")
    if not isinstance(per_byte, (int, float)) or not per_byte:
        return ""
    cost = f"{per_byte:.2f} ns per byte of an event holding dicts or lists with keys"
    if env.get("redaction_scan") == "hyperscan":
        return f"redaction scan: Hyperscan, {cost}"
    if env.get("redaction_scan") == "c":
        return (
            f"redaction scan: the C accelerator's (Hyperscan is not installed), {cost}; "
            "Hyperscan (~0.2 ns per byte): pip install 'nglogger[fast]', where the platform "
            "can build it"
        )
    return (
        f"redaction scan: the pure-Python fallback, {cost} (a 10 KB nested field: "
        f"~{per_byte * 10:.0f} us more per call). Hyperscan (~0.2 ns per byte) is a default "
        "dependency on Linux x86-64, macOS and Windows x86-64; here: "
        "pip install 'nglogger[fast]' (or hyperscan), where the platform can build it"
    )


def _log_call_note(env: dict[str, Any]) -> str:
    """Which log call ran: the C accelerator, or the pure-Python one and why."""
    if env.get("log_call") == "c":
        return "log call: the C accelerator (nglogger._speedups)"
    if os.environ.get("NGLOGGER_PURE_PYTHON", "") not in {"", "0"}:
        why = "NGLOGGER_PURE_PYTHON is set"
    else:
        why = (
            "nglogger._speedups is not built here: install a wheel of nglogger, or a C "
            "compiler and reinstall from source"
        )
    return f"log call: pure Python ({why}); the C accelerator writes the same bytes faster"


def _amount(value: float, unit: str) -> str:
    """``16931489 B`` -> ``16.1 MiB``; other units as they are."""
    if unit == "B" and abs(value) >= 1024:
        for name, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if abs(value) >= size:
                return f"{value / size:,.1f} {name}"
    return f"{value:,.1f} {unit}"


def _plot(report: object, path: str) -> int:
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        print(
            "nglogger bench: --plot needs matplotlib: pip install 'nglogger[plot]'", file=sys.stderr
        )
        return 2
    series = getattr(report, "series", {})
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, points in series.items():
        ax = axes[0] if "stalled" in name else axes[1]
        xs = [p[0] for p in points]
        ys = [p[1] / 2**20 for p in points]
        ax.plot(xs, ys, label=name)
    axes[0].set_title("stalled sink: traced memory (MiB) over events")
    axes[1].set_title("10 KB context: deep clone per event vs nglogger")
    for ax in axes:
        ax.set_xlabel("events logged")
        ax.set_ylabel("MiB")
        ax.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return 0


def _config(args: argparse.Namespace) -> int:
    import os

    import orjson

    if args.markdown:
        print(settings_table())
        print(variables_table(), end="")
        return 0
    if args.variables:
        for name, description, accepted in describe_variables():
            print(f"{name}\n    {description}\n    accepted: {accepted}")
        return 0
    import warnings

    here = str(Path.cwd())
    if "" not in sys.path and here not in sys.path:
        sys.path.insert(0, here)  # NGLOGGER_PROCESSORS=myapp.logs:fn, found as `python -m` would
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConfigWarning)
            config_value, sources = resolve_with_sources(os.environ)
        sources.update(describe_otel(config_value) or {})  # resolved OTel settings
        sources.update(describe_memory(config_value))  # memory_limit in force (auto: cgroup)
    except ConfigError as error:
        print(f"nglogger: invalid configuration: {error}", file=sys.stderr)
        return 2
    if args.json:
        report = {
            name: {"value": _plain(value), "source": source}
            for name, (value, source) in sources.items()
        }
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        width = max(len(name) for name in sources)
        for name, (value, source) in sources.items():
            print(f"{name:<{width}}  {_shown(value):<40}  ({source})")
    # What a running pipeline would warn about and ignore (NGLOGGER_CONFIG_ERRORS=warn):
    # shown, and exit 2, so that `nglogger config` is a check a CI job can run.
    problems = [str(w.message) for w in caught if issubclass(w.category, ConfigWarning)]
    problems += [  # what configure() would leave out; local sinks are not built (no file made)
        f"{error}; that sink would be left out"
        for error in unbuildable_sinks(config_value, local=False).values()
    ]
    if config_value.spool_dir:  # checked offline: nothing is created or locked
        spool_problem = unusable_spool_dir(config_value.spool_dir)
        if spool_problem is not None:
            problems.append(f"{spool_problem}; the sinks would run without a spool")
    for problem in problems:
        print(f"nglogger: invalid configuration: {problem}", file=sys.stderr)
    return 2 if problems else 0


def _plain(value: object) -> object:
    from collections.abc import Mapping

    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(value) and hasattr(value, "__qualname__"):  # a processor: its import path
        return f"{getattr(value, '__module__', '?')}:{value.__qualname__}"
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
    parser.add_argument(
        "--version", action="version", version=f"nglogger {__version__}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser(
        "bench",
        help="measure hot-path cost (as ratios to a floor) and memory of the pipeline",
        description="Run the built-in scenarios and print a table (or --json).",
    )
    bench.add_argument("--quick", action="store_true", help="short run for CI (< 30 s)")
    bench.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    bench.add_argument("--save-baseline", metavar="PATH", help="write this run's report to PATH")
    bench.add_argument(
        "--compare", metavar="PATH", help="compare with a saved baseline; exit 1 on regressions"
    )
    bench.add_argument(
        "--max-regression",
        action="append",
        default=[],
        metavar="[NAME=]PCT",
        help="allowed worsening, e.g. 10%% (default) or basic=15%% / stalled_sink.peak_bytes=5%%",
    )
    bench.add_argument(
        "--plot", metavar="PNG", help="chart memory over events (needs matplotlib: nglogger[plot])"
    )
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
        "--markdown",
        action="store_true",
        help="print the settings and variables tables (Markdown, as in the README)",
    )
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
