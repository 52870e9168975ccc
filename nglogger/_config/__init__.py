"""Settings: how each is declared, the environment parser, sink URIs, OTLP exporter
settings, secrets, and the frozen ``Config``.

Private: import the public names from ``nglogger``."""
