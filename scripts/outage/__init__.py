"""The outage, replayed: worker processes log through nglogger while the backend fails and recovers.

``python -m scripts.outage [--quick] [--report docs/]`` starts a telemetry endpoint
(a threaded HTTP server on 127.0.0.1 in this process) and N worker processes (spawned,
default 8). Each worker configures nglogger with a small memory budget and one generic
HTTP sink (gzip NDJSON) pointed at the endpoint, then logs at a steady rate: every event
carries the worker's number ``w``, a per-process request id ``rid`` (0, 1, 2, ...) and the
monotonic time ``t`` it was logged (CLOCK_MONOTONIC is system-wide on Linux), so the
endpoint can check delivery event by event. The endpoint goes through four phases:

==============  ======================================================================
``healthy``     answers 200 and records every event
``503``         answers 503 Service Unavailable to everything
``black hole``  accepts and reads each request, never answers (the connection is
                closed unanswered when the phase ends); nothing is recorded
``recovery``    healthy again
==============  ======================================================================

One invocation makes three runs (``--runs``), each with the same settings and one
difference: the main run; the same behind a proxy that answers ``413 Request Entity Too
Large`` to a request whose gzip body is over ``--body-limit`` (nginx's
``client_max_body_size 1m``; the workers then log a fresh random payload per event, so
that requests travel at about half their size); the same with a spool
(``Config(spool_dir=)`` on one temporary directory, each worker taking a slot).

Measured every second: requests arriving at the endpoint (by outcome), each worker's
memory (tracemalloc current and peak inside the worker, sent over a pipe; VmRSS and
VmHWM read from ``/proc/<pid>/status`` here), nglogger's counters (accepted, exported,
dropped by reason, queued) and the longest log call. Checked at the end (exit status 1
if any check fails, 2 on bad usage):

1. memory: each worker's tracemalloc peak <= ``Config.memory_budget`` x (1 + slack)
   + a fixed allowance (interpreter objects, threads, the urllib3 pool, the sampler);
2. outage load: requests/s during the 503 and black-hole phases <= 10% of the healthy rate;
3. liveness: every worker exits 0 and reports, keeps its logging rate, and no log call
   takes longer than ``--max-call-ms``;
4. delivery: no event reaches the endpoint twice; each worker's delivered events equal
   its sink's ``exported`` count; every event delivered after recovery arrives within
   two flush intervals plus the longest wait (the backoff cap or the breaker's longest
   open period) of ``max(logged, recovery start)`` (with a spool: the first delivery
   does, and the spooled backlog drains within the recovery phase);
5. accounting: per worker, logged == exported + dropped (by reason) + still queued,
   exactly, and logged - delivered == dropped + queued (the endpoint's view): 0 events
   lost; only a full queue's reasons drop events, and after recovery no more than the
   fresh events displace;
6. per run: behind the proxy, the limit was met (413s) and no event was dropped
   ``too_large``; with a spool, nothing was dropped, every worker's spool outgrew its
   memory queue, and the spool ended empty.

``--report DIR`` writes ``outage.json`` (every figure of every run), ``outage.md`` (the
tables) and ``outage.png`` (the main run's request rate and memory over time; matplotlib
is imported for it only, ``--no-chart`` skips it). ``--json FILE`` keeps the raw results;
``--from-json FILE`` writes the report from them again without running. ``--quick`` runs
a ~20 s version of each run (short phases, time constants scaled down) used by
``tests/test_outage.py``.
"""
