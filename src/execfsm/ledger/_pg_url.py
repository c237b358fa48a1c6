"""
A PostgreSQL store's URL (shown without its passwords) and stream names: what the commands
check before they connect, so they need no database driver to refuse bad input.
"""

from __future__ import annotations

import re
import urllib.parse

from execfsm.errors import ConfigurationError

STREAM_TEXT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")


def is_url(target: object) -> bool:
    """
    Whether `target` names a PostgreSQL database (``postgresql://`` or ``postgres://``).
    """
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def _passwords(url: str) -> list[str]:
    """
    The passwords `url` carries: in its user part, and as ``?password=`` (libpq takes both).
    """
    parts = urllib.parse.urlsplit(url)
    found = [parts.password] if parts.password else []
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    found.extend(value for value in query.get("password", ()) if value)
    return found


def redacted(url: str) -> str:
    """
    `url` with its passwords (user part, ``?password=``) replaced by ``***``: what messages
    show.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        if not _passwords(url):
            return url
        if parts.password is not None:
            user = parts.username or ""
            host = parts.netloc.rsplit("@", 1)[-1]
            parts = parts._replace(netloc=f"{user}:***@{host}")
        query = [
            (name, "***" if name == "password" else value)
            for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        ]
        return urllib.parse.urlunsplit(
            parts._replace(query=urllib.parse.urlencode(query, safe="*"))
        )
    except ValueError:
        return "postgresql://(a URL that does not parse)"


def scrubbed(text: str, url: str) -> str:
    """
    `text` (a driver's message) without the passwords of `url`, plain or URL-quoted.
    """
    try:
        passwords = _passwords(url)
    except ValueError:
        passwords = []
    for password in passwords:
        text = text.replace(password, "***")
        text = text.replace(urllib.parse.quote(password, safe=""), "***")
        text = text.replace(urllib.parse.quote_plus(password, safe=""), "***")
    return text


def check_stream(stream: object) -> str:
    """
    A stream name: 1-100 letters, digits, ``.``, ``_``, ``:`` or ``-``.
    """
    if not isinstance(stream, str) or not STREAM_TEXT.fullmatch(stream):
        raise ConfigurationError(
            f"stream: must be 1-100 letters, digits, '.', '_', ':' or '-' (starting with a "
            f"letter or digit), got {stream!r}",
            field="stream",
            value=stream,
        )
    return stream
