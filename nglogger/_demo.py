"""``nglogger demo``: a simulated service logging through the default pipeline."""

from __future__ import annotations

import random
import sys

import orjson

from ._event.context import bound_contextvars
from ._event.logger import get_logger
from ._pipeline import default as _default
from ._pipeline.default import configure

__all__ = ["run_demo"]


class PaymentDeclinedError(Exception):
    """A simulated business error."""


def _charge(amount: int, rng: random.Random) -> str:
    if rng.random() < 0.2:
        raise PaymentDeclinedError(f"card declined for amount {amount}")
    return f"ch_{rng.randrange(10**8):08d}"


def run_demo(requests: int = 20, seed: int = 7) -> int:
    """Handle ``requests`` fake requests with bound request ids; print stats; return 0."""
    configure()  # from the environment, like an application would
    rng = random.Random(seed)  # noqa: S311 - simulated traffic, not security
    log = get_logger("demo.api").bind(service="checkout", version="1.4.2")
    log.info("service started", port=8080)
    for n in range(requests):
        request_id = f"req-{n:05d}"
        with bound_contextvars(request_id=request_id, user_id=rng.randrange(1000)):
            amount = rng.randrange(100, 10_000)
            log.debug("request received", method="POST", path="/charge", amount=amount)
            try:
                charge = _charge(amount, rng)
            except PaymentDeclinedError:
                log.exception("charge failed", amount=amount, status=402)
            else:
                log.info(
                    "request handled",
                    status=200,
                    charge_id=charge,
                    duration_ms=rng.randrange(5, 80),
                )
    log.warning("shutting down", pending=0)
    pipeline = _default.get_pipeline()
    pipeline.flush(5.0)
    stats = pipeline.stats().as_dict()
    sys.stderr.write("nglogger stats: " + orjson.dumps(stats).decode() + "\n")
    return 0
