"""Byte-level checks of serialized values: secret key names and over-long strings.

A nested value is serialized once, by orjson; these functions then read the bytes
(in C) to decide whether the value needs the slow path (a Python walk that
redacts or cuts). A typical value never does, so the caller pays one scan of its
bytes, never a walk.

**Secret keys.** In orjson's output a key is ``"name":`` and nothing else can
produce ``"`` followed by ``:`` (a quote inside a string is written ``\\"``). A
configured name such as ``api_key`` is split into words (at ``-``, ``_``, ``.``,
spaces and camelCase humps: ``api``, ``key``), and a key is secret when it ends
with those words in order, ignoring case, with any of ``-``, ``_``, ``.`` or a
space (or nothing) between them and after them: ``apiKey``, ``X-Api-Key``,
``DB.API_KEY`` and ``api_key_`` match; ``api_keys`` and ``apikeyring`` do not.
That rule's home is ``_secrets.secret_name`` (for a Python string); this module
compiles the same rule over bytes.

Three engines, same answers (tests hold them to each other):

* Hyperscan (``pip install 'nglogger[fast]'``), when installed: one SIMD
  multi-pattern scan, ~0.25 ns per byte here (2.4 us for a 10 KB payload, where
  ``orjson.dumps`` of it takes ~9 us). Each thread gets its own scratch space.
* otherwise the C accelerator's scan (``_speedups.KeyScanner``, where it is built and the
  names are ASCII): each key end (``":``) read backwards against each name's words,
  ~1 ns per byte;
* otherwise a compiled ``re`` over ``data.lower()``, behind a literal pre-filter: the
  regex runs only when, with separators deleted, some name's words followed by ``":``
  appear in the bytes (``in``, in C); ~25 ns per byte for the regex on a 2-core VM,
  ~5 ns per byte for the pre-filter that usually answers alone.

**Long strings.** A string of more than N characters is written as more than N
bytes between two quotes. :func:`has_long_string` first looks for a window of N/2
bytes without a quote (windows laid end to end, one ``memchr`` each: a run of N
quote-free bytes fills one of them), and only then for a run of N bytes after an
opening quote with ``re``, after blanking escaped quotes and backslashes (same
length, so the quote parity stays right); a run that turns out to be outside a
string (a long list of numbers) is skipped. No false negatives; false positives
(multi-byte text) only cost the walk that decides exactly.

Worst-case footprint: one compiled pattern per redactor, one Hyperscan scratch
(~kilobytes) per thread that scanned.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable

from .._config.secrets import secret_name, words

try:  # the C accelerator's scan, for installs without Hyperscan (setup.py builds it)
    import nglogger._speedups as _speedups  # noqa: PLR0402 - the layer test reads this form

    _BUILT = True
except ImportError:  # pragma: no cover - a pure-Python install
    _BUILT = False

__all__ = [
    "compile_secret_keys",
    "engine",
    "has_long_string",
    "long_string_check",
    "secret_name",
    "words",
]

_SEP = "[-_. ]"
_SEPARATORS = b"-_. "


def _letter(c: str) -> bytes:
    """Bytes matching character ``c`` in UTF-8 JSON, whatever its case.

    ASCII letters stay lower-case (both engines fold ASCII case); other characters
    become an alternation of the UTF-8 forms of their cases.
    """
    if c == "k":
        return b"(?:k|\xe2\x84\xaa)"  # KELVIN SIGN lower-cases to "k"
    if c.isascii():
        return re.escape(c.lower().encode())
    forms = sorted({f.lower() if f.isascii() else f for f in (c, c.lower(), c.upper())})
    return b"(?:" + b"|".join(re.escape(f.encode()) for f in forms) + b")"


def _names(names: Iterable[str]) -> list[tuple[str, ...]]:
    return sorted({w for w in (words(n) for n in names) if w})


def compile_secret_keys(
    names: Iterable[str], engine: str = "auto"
) -> Callable[[bytes], bool] | None:
    """A predicate on serialized JSON: does it hold a key that is secret under ``names``?

    None when there is no name to look for. ``engine``: ``"auto"`` (Hyperscan when
    it is installed, else ``re``), ``"hyperscan"`` (None if it is not installed) or
    ``"re"``.
    """
    sep = _SEP.encode() + b"*"
    alts = [sep.join(b"".join(_letter(c) for c in word) for word in name) for name in _names(names)]
    if not alts:
        return None
    source = b"(?:" + b"|".join(alts) + b")" + sep + b'":'
    if engine == "re":
        return _regex(source, _literals(names))
    if engine == "c":
        return _compiled(names)
    fast = _hyperscan(source)
    if engine == "hyperscan":
        return fast
    return fast or _compiled(names) or _regex(source, _literals(names))


def _compiled(names: Iterable[str]) -> Callable[[bytes], bool] | None:
    """The scan of the C accelerator (``_speedups.KeyScanner``): None where it is not built,
    or when a name has a word that is not all ASCII (the regex handles those)."""
    if not _BUILT:
        return None
    chosen = _names(names)
    if not all(word.isascii() for name in chosen for word in name):
        return None
    scanner = _speedups.KeyScanner(tuple(tuple(w.encode() for w in name) for name in chosen))
    return scanner.scan


def _literals(names: Iterable[str]) -> tuple[bytes, ...] | None:
    """What every secret key's end becomes once separators are deleted, for the pre-filter.

    A key secret under a name ends with the name's words, separators (``-_. ``) allowed
    between and after them, then ``":``: in the bytes lower-cased with every separator
    deleted, the words joined then ``":`` appear as they are. One literal per name, those
    containing another dropped. None when a name has a word that is not all ASCII (the
    regex then always runs).
    """
    chosen: set[bytes] = set()
    for name in _names(names):
        if not all(word.isascii() for word in name):
            return None
        chosen.add("".join(name).encode() + b'":')
    kept = {w for w in chosen if not any(o != w and o in w for o in chosen)}
    return tuple(sorted(kept, key=len))


def _regex(source: bytes, literals: tuple[bytes, ...] | None) -> Callable[[bytes], bool]:
    search = re.compile(source).search
    if literals is None:

        def scan_all(data: bytes) -> bool:
            """True when ``data`` may hold a secret key (the regex engine)."""
            return search(data.lower()) is not None

        return scan_all

    def scan(data: bytes) -> bool:
        """True when ``data`` may hold a secret key (the regex engine, pre-filtered).

        In ASCII bytes, lower-cased and without separators, a secret key leaves its
        name's words joined and followed by ``":`` (``_literals``): when no name's
        does, the regex need not run. Other bytes (the KELVIN SIGN folds to ``k``)
        always go to the regex.
        """
        low = data.lower()
        if low.isascii():
            stripped = low.translate(None, _SEPARATORS)
            for literal in literals:
                if literal in stripped:
                    break
            else:
                return False
        return search(low) is not None

    return scan


def _hyperscan(source: bytes) -> Callable[[bytes], bool] | None:
    try:
        import hyperscan
    except ImportError:
        return None
    try:
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(
            expressions=[source],
            ids=[0],
            elements=1,
            flags=[hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH],
        )
    except Exception:  # an unexpected build or platform: the regex engine answers the same
        return None
    local = threading.local()  # a scratch space must not be shared between threads
    run = database.scan
    new_scratch = hyperscan.Scratch
    stopped = hyperscan.ScanTerminated

    def stop(*_match: object) -> bool:
        return True  # the first match ends the scan (hyperscan raises ScanTerminated)

    def scan(data: bytes) -> bool:
        """True when ``data`` may hold a secret key (Hyperscan)."""
        try:
            scratch = local.scratch
        except AttributeError:
            scratch = local.scratch = new_scratch(database)
        try:
            # positional: (data, handler, flags, context, scratch); keywords cost ~250 ns more
            run(data, stop, 0, None, scratch)
        except stopped:
            return True
        except Exception:  # never let the accelerator fail a log call: let the walk decide
            return True
        return False

    return scan


def engine() -> str:
    """The engine :func:`compile_secret_keys` uses here: ``"hyperscan"``, ``"c"`` (the
    accelerator's scan, without Hyperscan) or ``"re"``."""
    if _hyperscan(b"x") is not None:
        return "hyperscan"
    return "c" if _BUILT else "re"


def long_string_check(limit: int) -> Callable[[bytes], bool]:
    """``check(json_bytes)``: may they hold a string longer than ``limit`` characters?

    Cheap below the limit (a length test); above it, a ``memchr`` per window of half the
    limit, and the ``re`` search only where a window holds no quote (module doc).
    """
    search = re.compile(b'"[^"]{%d}' % limit).search
    half = max(1, limit // 2)

    def check(data: bytes) -> bool:
        if len(data) <= limit:
            return False
        if b"\\" in data:  # blank escaped backslashes, then escaped quotes: lengths unchanged
            data = data.replace(_ESCAPES[0], _BLANK).replace(_ESCAPES[1], _BLANK)
        end = len(data) - half
        pos = 0
        while pos <= end:
            if data.find(b'"', pos, pos + half) < 0:
                break  # a quote-free window: a long run may be here
            pos += half
        else:
            return False
        start = max(0, pos - half - 1)
        while start >= 0:
            match = search(data, start)
            if match is None:
                return False
            if data.count(b'"', 0, match.start()) % 2 == 0:  # an opening quote: a string's run
                return True
            start = data.find(b'"', match.end())  # a run outside strings: skip it
        return False

    return check


_ESCAPES = (b"\\\\", b'\\"')
_BLANK = b".."


def has_long_string(data: bytes, limit: int) -> bool:
    """Whether serialized JSON may hold a string longer than ``limit`` characters."""
    return long_string_check(limit)(data)
