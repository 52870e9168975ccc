"""The caller side: the Logger API, context, a call's fields, encoding, redaction, the
key scan, the event's byte layout, timestamps and trace correlation.

Private: import the public names from ``nglogger``."""
