"""``nglogger bench``: the harness, its scenarios and the spool throughput run.

Private: import the public names from ``nglogger``."""
