"""``import nglogger.auto`` configures the default pipeline from the environment.

Equivalent to calling ``nglogger.configure()`` with no arguments: settings come
from ``NGLOGGER_*`` and the ecosystem variables, then the defaults. A bad value
raises :class:`nglogger.ConfigError` at import, naming the variable.
"""

from __future__ import annotations

from ._default import configure

configure()
