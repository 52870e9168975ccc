"""``import nglogger.auto`` configures the default pipeline from the environment.

Equivalent to calling ``nglogger.configure()`` with no arguments: settings come
from ``NGLOGGER_*`` and the ecosystem variables, then the defaults. A bad or unknown
variable is a :class:`nglogger.ConfigWarning` naming it (its setting keeps its default),
or a :class:`nglogger.ConfigError` at import with ``NGLOGGER_CONFIG_ERRORS=raise``.
"""

from __future__ import annotations

from ._pipeline.default import configure

configure()
