"""The vocabulary every layer uses: errors, levels, units, batches, counters, the re-entry
guard, the sink seam and nglogger's own notices on stderr.

Private: import the public names from ``nglogger``."""
