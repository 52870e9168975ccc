"""The background: the bounded buffer, the batcher and fan-out, sink workers,
per-sink selection, signals, and the default pipeline.

Private: import the public names from ``nglogger``."""
