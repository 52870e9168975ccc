"""Secrets in settings: which names hold one, and how a value is made safe to show.

The one home of the rules used by error messages, reprs, ``nglogger config`` and
sink names:

* :func:`is_secret_name`: a variable (or key) whose name contains KEY, TOKEN,
  SECRET, PASS, AUTH, HEADERS, CREDENTIAL, COOKIE or DSN (any case) holds a
  secret; ``NGLOGGER_REDACT_KEYS`` is the one exemption (it lists key names);
* :func:`secret_name`: the redaction rule for field names: a name is secret when it
  ends with the words of a configured name in order, ignoring case, with ``-``,
  ``_``, ``.``, a space or nothing between and after them (:func:`words` splits a
  configured name at those separators and at camelCase humps); so ``DB_PASSWORD``,
  ``X-Api-Key`` and ``apiKey`` are secret, ``token_count`` is not;
* :func:`is_secret_key`: that rule for the default redaction names;
* :func:`mask_secret`: ``****`` for a secret variable (nothing of it kept, not
  even its length), else the value with URI user-info, secret-named query
  parameters and secret-named ``k=v`` items masked;
* :func:`safe_url`: a URL fit to show: scheme, host, port and path only (no
  user-info, query or fragment); an unparsable URL is ``****``;
* :func:`shown_setting`: a Config setting's value made safe to print.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "MASK",
    "REDACTED",
    "is_secret_key",
    "is_secret_name",
    "mask_secret",
    "mask_uri",
    "normalize",
    "safe_url",
    "secret_name",
    "shown_setting",
    "words",
]

#: What a masked setting shows.
MASK = "****"
#: What a redacted event value becomes.
REDACTED = "[REDACTED]"

#: Field names redacted unless ``redact_keys`` says otherwise.
DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "set-cookie",
    "session",
    "session_id",
    "private_key",
    "card_number",
    "credit_card",
    "cc_number",
    "cvv",
)

_SECRET_MARKERS = (
    "KEY",
    "TOKEN",
    "SECRET",
    "PASS",
    "AUTH",
    "HEADERS",
    "CREDENTIAL",
    "COOKIE",
    "DSN",
)
_NOT_SECRET = frozenset({"NGLOGGER_REDACT_KEYS"})
_NORMALIZE = str.maketrans("", "", "-_. ")


def normalize(name: str) -> str:
    """``"X-Api-Key"`` -> ``"xapikey"``: a name without case and separators."""
    return name.lower().translate(_NORMALIZE)


_SEPARATOR = "[-_. ]"
_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def words(name: str) -> tuple[str, ...]:
    """``"X-Api_Key"`` -> ``("x", "api", "key")``; ``"apiKey"`` -> ``("api", "key")``."""
    parts = re.split(_SEPARATOR, _HUMP.sub("_", name))
    return tuple(p.lower() for p in parts if p)


def secret_name(names: Iterable[str]) -> Callable[[str], bool]:
    """The redaction rule for ``names``: a predicate on a field name (see module doc)."""
    alternatives = sorted({w for w in (words(n) for n in names) if w})
    if not alternatives:
        return lambda _key: False
    pattern = "|".join(f"{_SEPARATOR}*".join(re.escape(w) for w in name) for name in alternatives)
    search = re.compile(f"(?:{pattern}){_SEPARATOR}*\\Z", re.IGNORECASE).search
    return lambda key: search(key) is not None


is_secret_key: Callable[[str], bool] = secret_name(DEFAULT_REDACT_KEYS)
"""True if a field called ``name`` is redacted by the default names."""


def is_secret_name(name: str) -> bool:
    """True if a variable (or key) of this name is treated as holding a secret."""
    upper = name.upper()
    return upper not in _NOT_SECRET and any(marker in upper for marker in _SECRET_MARKERS)


def mask_secret(name: str, value: str) -> str:
    """``value`` made safe to show: ``****`` for a secret variable, else secret parts masked.

    A non-secret value keeps its text except URI user-info (``https://u:p@h``),
    URI query parameters with secret names (``?api_key=...``) and comma-separated
    ``k=v`` items with secret names (``password=...``).
    """
    if is_secret_name(name):
        return MASK if value else value
    if "://" not in value and "=" not in value:
        return value
    return ",".join(mask_item(item) for item in value.split(","))


def mask_item(item: str) -> str:
    """One ``k=v`` item or URI with its secret part masked."""
    if "://" in item:
        return mask_uri(item)
    key, sep, _ = item.partition("=")
    if sep and (is_secret_name(key.strip()) or is_secret_key(key.strip())):
        return f"{key}={MASK}"
    return item


def mask_uri(uri: str) -> str:
    """``uri`` with user-info and secret-named query parameters masked (the rest kept)."""
    try:
        parts = urlsplit(uri.strip())
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = "&".join(mask_item(param) for param in parts.query.split("&")) if parts.query else ""
    if netloc == parts.netloc and query == parts.query:
        return uri
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def safe_url(url: object) -> object:
    """A URL fit for a message or a sink name: no user-info, no query, no fragment.

    Anything that is not a string is returned as it is; a string that does not
    parse as a URL becomes ``****``.
    """
    if not isinstance(url, str):
        return url
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return MASK
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def safe_url_text(url: str) -> str:
    """:func:`safe_url` for a string."""
    shown = safe_url(url)
    assert isinstance(shown, str)
    return shown


def shown_setting(setting: str, value: object) -> object:
    """A Config setting's value made safe to print (reprs, ``nglogger config``)."""
    if setting == "sinks" and isinstance(value, tuple):
        return tuple(mask_uri(v) if isinstance(v, str) else v for v in value)
    if setting == "context" and isinstance(value, Mapping):
        return MappingProxyType(
            {
                k: MASK if isinstance(k, str) and (is_secret_name(k) or is_secret_key(k)) else v
                for k, v in value.items()
            }
        )
    if setting == "sink_env" and isinstance(value, Mapping):
        return MappingProxyType({k: mask_secret(k, str(v)) for k, v in value.items()})
    return value
