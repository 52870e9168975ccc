"""An application configured only by its environment, run as a real process by the tests.

    python -m tests.support.envapp '{"count": 2000, "pad": [500, 1500], "seed": 1}'

(as a module from the repository's root: run as a script, its folder would come first on
``sys.path`` and ``support/http.py`` would shadow the standard library's ``http``).

``nglogger.configure()`` with no argument (so ``NGLOGGER_*``, ``OTEL_*``... decide
everything), then ``count`` events ``log.info("event", id=i, pad=<hex>)`` whose pad is
``randint(*pad)`` random bytes in hex (2-3x that on the wire once gzipped: random hex
does not compress away); ``big`` maps ids to a pad of that many random bytes instead.
Then ``flush(flush_timeout)`` and one JSON line on stdout: ``{"flushed": ..., "started":
<time.monotonic() at the first log call>, "sinks": {name: counters}, "http": {name:
http_stats()}}`` (the monotonic clock is the machine's: the test compares it with its own). Then it waits for a line on stdin
(the test reads stderr meanwhile: nglogger's warnings arrive while the process runs)
and exits, shutting the pipeline down.
"""

from __future__ import annotations

import json
import random
import sys
import time

import nglogger


def main() -> int:
    spec = json.loads(sys.argv[1])
    pipeline = nglogger.configure()
    log = nglogger.get_logger("envapp")
    rng = random.Random(spec.get("seed", 0))
    low, high = spec.get("pad", [100, 100])
    big = {int(k): v for k, v in spec.get("big", {}).items()}
    started = time.monotonic()
    for i in range(spec["count"]):
        size = big.get(i, rng.randint(low, high))
        log.info("event", id=i, pad=rng.randbytes(size).hex())
    logged = time.monotonic() - started
    flushed = pipeline.flush(spec.get("flush_timeout", 60.0))
    stats = pipeline.stats()
    http = {}
    for worker in pipeline.workers:
        counters = getattr(worker.sink, "http_stats", None)
        if callable(counters):
            http[worker.sink.name] = counters()
    report = {
        "flushed": flushed,
        "started": started,
        "logging_seconds": logged,
        "sinks": {
            name: {
                "accepted": s.accepted,
                "exported": s.exported,
                "dropped": dict(s.dropped),
                "queued_events": s.queued_events,
                "last_error": s.last_error,
            }
            for name, s in stats.sinks.items()
        },
        "http": http,
    }
    sys.stdout.write(json.dumps(report, default=str) + "\n")
    sys.stdout.flush()
    sys.stdin.readline()
    nglogger.shutdown(timeout=5.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
