"""``nglogger bench``: the harness, its scenarios (speed, memory, throughput, spool), the gate.

Private: import the public names from ``nglogger``."""
