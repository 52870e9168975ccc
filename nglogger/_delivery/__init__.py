"""Transports and the retry decision: the transport seam, the urllib3 transport,
retry policy, budget and circuit breaker.

Private: import the public names from ``nglogger``."""
