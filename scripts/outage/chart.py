"""The run's time series: the 1 s columns kept in outage.json, and the outage.png chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .analysis import dropped_of, sample_at
from .settings import OUTCOMES, MiB, Settings


def timeline(raw: dict[str, Any]) -> dict[str, Any]:
    """The 1 s time series in columns (compact enough to keep next to the report)."""
    ep = raw["endpoint"]
    seconds = sorted(int(k) for k in ep["series"])
    requests = {o: [ep["series"][k].get(o, 0) for k in seconds] for o in OUTCOMES}
    workers = []
    for i, samples in enumerate(raw["samples"]):
        columns: dict[str, list[Any]] = {
            "t": [round(m["t"], 3) for m in samples],
            "dropped": [dropped_of(m) for m in samples],
            "breaker": [m["breaker"]["state"] for m in samples],
        }
        for key in (
            "logged",
            "exported",
            "queued",
            "buffered",
            "tm_current",
            "tm_peak",
            "max_call_ns",
            "max_blocked_ns",
            "requests",
            "spooled_events",
        ):
            columns[key] = [m[key] for m in samples]
        columns["rss"] = [[round(t, 1), r, hwm] for t, r, hwm in raw["rss"][i]]
        workers.append(columns)
    return {
        "transitions": raw["transitions"],
        "endpoint": {"second": seconds, **requests},
        "workers": workers,
    }


def chart(raw: dict[str, Any], figures: dict[str, Any], path: Path) -> None:
    """Request rate, memory and queues over time, phases shaded (matplotlib, imported here)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = Settings(**raw["settings"])
    ep = raw["endpoint"]
    fig, (ax_req, ax_mem, ax_rss, ax_q) = plt.subplots(
        4, 1, figsize=(11, 11), sharex=True, gridspec_kw={"height_ratios": [3, 3, 2, 2]}
    )
    seconds = sorted(int(k) for k in ep["series"] if int(k) >= 0)
    span = range((max(seconds) + 1) if seconds else 1)
    bottom = [0.0] * len(span)
    colors = {"ok": "tab:green", "413": "tab:orange", "503": "tab:red", "held": "tab:purple"}
    labels = {
        "ok": "200",
        "413": "413 (the proxy's body limit)",
        "503": "503",
        "held": "black-holed (never answered)",
    }
    for outcome in OUTCOMES:
        values = [
            float(ep["series"].get(k, ep["series"].get(str(k), {})).get(outcome, 0)) for k in span
        ]
        ax_req.bar(
            [k + 0.5 for k in span],
            values,
            width=1.0,
            bottom=bottom,
            color=colors[outcome],
            label=labels[outcome],
            linewidth=0,
        )
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax_req.set_yscale("symlog", linthresh=1.0)
    ax_req.set_ylabel("requests / s at the endpoint")
    ax_req.axhline(figures["healthy_rate"], color="grey", linestyle=":", linewidth=1)
    ax_req.axhline(
        figures["healthy_rate"] * s.max_outage_ratio,
        color="tab:red",
        linestyle=":",
        linewidth=1,
        label=f"{100 * s.max_outage_ratio:g}% of healthy",
    )
    ax_req.legend(loc="lower left", fontsize=8, ncols=2)
    for i, samples in enumerate(raw["samples"]):
        ax_mem.plot(
            [m["t"] for m in samples],
            [m["tm_current"] / MiB for m in samples],
            linewidth=0.8,
            label="tracemalloc current, per worker" if i == 0 else None,
            color="tab:blue",
            alpha=0.6,
        )
        ax_mem.plot(
            [m["t"] for m in samples],
            [m["tm_peak"] / MiB for m in samples],
            linewidth=0.5,
            label="tracemalloc peak per second" if i == 0 else None,
            color="tab:cyan",
            alpha=0.6,
        )
    budget = raw["budgets"][0]
    ax_mem.axhline(budget / MiB, color="black", linestyle="--", linewidth=1, label="memory_budget")
    ax_mem.axhline(
        (budget * (1 + s.memory_slack) + s.memory_allowance) / MiB,
        color="tab:red",
        linestyle="--",
        linewidth=1,
        label="checked limit",
    )
    ax_mem.set_ylabel("traced MiB per worker")
    ax_mem.set_ylim(bottom=0)
    ax_mem.legend(loc="center right", fontsize=8, ncols=2)
    for i, per in enumerate(raw["rss"]):
        ax_rss.plot(
            [r[0] for r in per],
            [r[1] / MiB for r in per],
            linewidth=0.8,
            color="tab:brown",
            alpha=0.6,
            label="VmRSS, per worker" if i == 0 else None,
        )
    ax_rss.set_ylabel("RSS MiB")
    ax_rss.legend(loc="center right", fontsize=8)
    times = sorted({round(m["t"]) for per in raw["samples"] for m in per})
    queued = []
    dropped = []
    for t in times:
        q = d = 0
        for per in raw["samples"]:
            m = sample_at(per, t + 0.5)
            if "queued" in m:
                q += m["queued"] + m["buffered"]
                d += sum(dropped_of(m).values())
        queued.append(q)
        dropped.append(d)
    ax_q.plot(times, queued, color="tab:orange", label="events queued (sum)")
    ax_q.plot(times, dropped, color="tab:red", label="events dropped so far (sum)")
    ax_q.set_ylabel("events")
    ax_q.set_xlabel("seconds since the workers started logging")
    ax_q.legend(loc="upper left", fontsize=8)
    start = 0.0
    for name, mode, length in s.phases():
        for ax in (ax_req, ax_mem, ax_rss, ax_q):
            if mode != "healthy":
                ax.axvspan(
                    start,
                    start + length,
                    color="tab:red" if mode == "503" else "tab:purple",
                    alpha=0.08,
                )
        ax_req.text(
            start + length / 2,
            1.02,
            name,
            transform=ax_req.get_xaxis_transform(),
            ha="center",
            fontsize=9,
        )
        start += length
    fig.suptitle(
        f"nglogger outage replay: {s.workers} workers x {s.rate:g} events/s", y=0.995, fontsize=11
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
