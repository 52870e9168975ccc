"""The durable spool: one sink's on-disk store of batches.

Private: import the public names from ``nglogger``."""
