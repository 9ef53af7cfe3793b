"""Passwords out of PostgreSQL connection strings, and out of messages that echo them.

libpq takes a password in three places: the URI's userinfo (``postgresql://me:pw@host``),
the URI's ``password`` query parameter (percent-encoded, keyword too), and a key=value
conninfo string (``host=db password='it''s'`` with quotes and backslash escapes). Each
form is redacted here without needing the string to be valid: a malformed one is exactly
what ends up in an error message.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "***"
_URI_PREFIX = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.-]*://")
# keyword = value, where value is 'quoted (with \' escapes, maybe unterminated)' or a run
# of non-blanks with backslash escapes: libpq's conninfo grammar.
_CONNINFO_PAIR = re.compile(r"([A-Za-z_]+)(\s*=\s*)('(?:[^'\\]|\\.)*'?|(?:[^\s\\]|\\.)*)", re.S)


def redact_url(url: str | None) -> str:
    """The connection string with any password replaced by ``***``, safe to print, log
    and store."""
    if not url:
        return ""
    if _URI_PREFIX.match(url):
        return _redact_uri(url)
    return _CONNINFO_PAIR.sub(_mask_conninfo_password, url)


def passwords_in(url: str | None) -> list[str]:
    """Every spelling of the password the string carries (raw, percent-decoded, unquoted),
    longest first, so each can be taken out of a message that quotes it."""
    if not url:
        return []
    found: set[str] = set()
    if _URI_PREFIX.match(url):
        authority, _, query = url.partition("?")
        userinfo = _userinfo(authority)
        if userinfo is not None and ":" in userinfo:
            found.add(userinfo.split(":", 1)[1])
        for pair in query.split("&"):
            key, sep, value = pair.partition("=")
            if sep and unquote(key) == "password":
                found.add(value)
    else:
        for match in _CONNINFO_PAIR.finditer(url):
            if match.group(1) == "password":
                raw = match.group(3)
                found.add(raw)
                found.add(_unquote_conninfo(raw))
    found |= {unquote(p) for p in found}
    return sorted((p for p in found if p), key=len, reverse=True)


def redact_message(message: str, url: str | None) -> str:
    """A message (a libpq error, a log line) with the URL's password taken out wherever it
    appears, and any ``password=...`` it quotes masked."""
    for password in passwords_in(url):
        message = message.replace(password, MASK)
    return _CONNINFO_PAIR.sub(_mask_conninfo_password, message)


def _redact_uri(url: str) -> str:
    authority, sep, query = url.partition("?")
    userinfo = _userinfo(authority)
    if userinfo is not None and ":" in userinfo:
        scheme_end = _URI_PREFIX.match(authority)
        assert scheme_end is not None
        start = scheme_end.end()
        user = userinfo.split(":", 1)[0]
        authority = f"{authority[:start]}{user}:{MASK}{authority[start + len(userinfo) :]}"
    if sep:
        pairs = []
        for pair in query.split("&"):
            key, eq, _value = pair.partition("=")
            pairs.append(f"{key}={MASK}" if eq and unquote(key) == "password" else pair)
        query = "&".join(pairs)
    return authority + sep + query


def _userinfo(authority: str) -> str | None:
    """What comes before the last ``@`` of a URI's part before ``?``: a password holding
    an unescaped ``/`` or ``@`` is still all taken as the password."""
    prefix = _URI_PREFIX.match(authority)
    if prefix is None:
        return None
    rest = authority[prefix.end() :]
    at = rest.rfind("@")
    return rest[:at] if at >= 0 else None


def _mask_conninfo_password(match: re.Match[str]) -> str:
    if match.group(1) != "password":
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{MASK}"


def _unquote_conninfo(value: str) -> str:
    if value.startswith("'"):
        value = value[1:-1] if value.endswith("'") and len(value) > 1 else value[1:]
    return re.sub(r"\\(.)", r"\1", value, flags=re.S)
