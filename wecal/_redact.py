"""
Redaction: no secret in a message, a log line or a ``repr``.

:func:`redact` masks the values of secret-bearing wire names (query
parameters, headers, JSON keys) by pattern, and the secrets and tokens this
process handles literally. The generic names are listed here; each provider
folder registers its own with :func:`register_secret_names` when it is
imported, so this module imports nothing of wecal and knows no provider.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

__all__ = ["REDACTED", "redact", "register_secret_names"]

REDACTED = "***"

# Query parameters, headers and JSON keys whose values are secrets whatever the
# provider (OAuth 2's client secret); each provider adds its own, its token's
# name among them (register_secret_names, when wecal imports the provider
# folders). A value ends at the first character that cannot be part of a token
# or secret.
_NAMES: dict[str, None] = dict.fromkeys(("client_secret",))
_NAMES_LOCK = threading.Lock()


def _compile(names: Iterable[str]) -> re.Pattern[str]:
    # Not after "/": "/v1.0/oauth2/accessToken: 无效的…" is a path and the
    # provider's message, not a parameter (a Chinese message has no space to
    # end a "value", so the whole message was masked).
    return re.compile(
        r"(?<!/)(?P<key>(?:" + "|".join(re.escape(k) for k in names) + r"))"
        r"(?P<sep>[\"']?\s*[=:]\s*[\"']?)"
        r"(?P<value>[^&\s\"',;}\]]+)",
        re.IGNORECASE,
    )


_PATTERN = _compile(_NAMES)


def register_secret_names(names: Iterable[str]) -> None:
    """Mask the values of these wire names (query, header, JSON key) from now on."""
    global _PATTERN
    with _NAMES_LOCK:
        before = len(_NAMES)
        _NAMES.update(dict.fromkeys(names))
        if len(_NAMES) != before:
            _PATTERN = _compile(_NAMES)


def secret_names() -> tuple[str, ...]:
    """Every wire name whose value :func:`redact` masks."""
    with _NAMES_LOCK:
        return tuple(_NAMES)


# Secrets and tokens this process handles, masked literally by every redact()
# call: an echo of a token in a header, a request id or a body is masked even
# where no pattern names it. App secrets (one per app: few) are kept; tokens
# (a new one every two hours per app) are bounded, the oldest — long expired —
# forgotten first. Each is a dict used as an ordered set.
_KNOWN: dict[str, dict[str, None]] = {"secret": {}, "token": {}}
_KNOWN_LOCK = threading.Lock()
_MAX_KNOWN = {"secret": 4096, "token": 64}
# Shorter values are not masked literally (they would mask ordinary words).
_MIN_SECRET_LENGTH = 6


def _register_secret(value: str, *, kind: str = "secret") -> None:
    """Mask ``value`` (``kind`` "secret" or "token") in every string :func:`redact` sees."""
    if not isinstance(value, str) or len(value) < _MIN_SECRET_LENGTH:
        return
    with _KNOWN_LOCK:
        known = _KNOWN[kind]
        known.pop(value, None)
        known[value] = None
        while len(known) > _MAX_KNOWN[kind]:
            del known[next(iter(known))]


def redact(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """
    Return ``text`` with every secret replaced by ``***``.

    Values of secret wire names (``"client_secret": "…"``, and those each
    provider registers: its secret parameter, its token's name or header)
    are masked by pattern; ``secrets``, and the app secrets and tokens of this
    process's clients, are masked literally wherever they stand.

    >>> redact("GET /token?client_id=a1&client_secret=s3cr3t")
    'GET /token?client_id=a1&client_secret=***'
    """
    for secret in (*secrets, *tuple(_KNOWN["secret"]), *tuple(_KNOWN["token"])):
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return _PATTERN.sub(lambda m: m.group("key") + m.group("sep") + REDACTED, text)
