"""Credentials: passwords stay out of reprs, errors, logs and notebook output.

labelnb never needs a password in its own hands. Give PostgreSQL URLs without one
(``postgresql://ana@db.example.org/labels``, or ``postgresql:///labels`` or even
``postgresql://`` with everything from the environment) and libpq, underneath psycopg,
finds the rest where it always does:

* the ``PG*`` environment variables (``PGHOST``, ``PGPORT``, ``PGUSER``,
  ``PGDATABASE``, ``PGPASSWORD``, ``PGSERVICE``, ``PGPASSFILE`` ...);
* ``~/.pgpass`` (or ``PGPASSFILE``), which libpq reads only if its mode is 0600;
* ``pg_service.conf`` through ``?service=NAME`` (``postgresql:///?service=labels``).

A URL that does carry a password still works, but labelnb shows it only through
:func:`redact` (``postgresql://ana:***@host/db``): ``repr(project)``, ``repr(store)``,
``store.url``, error messages and log lines.

>>> redact("could not open postgresql://ana:s3cret@db/labels (password=s3cret)")
'could not open postgresql://ana:***@db/labels (password=***)'
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path

_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s]*):(?P<pw>[^@\s]*)@", re.I)
_KW_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^\s,;)]+)",
                          re.I)


def redact(text: str) -> str:
    """``text`` with every password in a URL (``scheme://user:PASSWORD@``) or a libpq
    keyword string (``password=PASSWORD``) replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:***@", text)
    return _KW_PASSWORD.sub(lambda m: f"{m.group('head')}***", text)


def safe_url(url: str) -> str:
    """A database URL as it may be shown: the password (if any) hidden."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return redact(url)


def generate_password() -> str:
    """A new random password (32 URL-safe characters, 192 bits)."""
    return secrets.token_urlsafe(24)


def pgpass_path() -> Path:
    """Where libpq reads passwords from: ``$PGPASSFILE``, else ``~/.pgpass``."""
    env = os.environ.get("PGPASSFILE")
    return Path(env).expanduser() if env else Path.home() / ".pgpass"


def _escape(field: str) -> str:
    return field.replace("\\", "\\\\").replace(":", "\\:")


def pgpass_line(host: str, port: str | int, dbname: str, user: str, password: str) -> str:
    """One ``hostname:port:database:username:password`` line (``:`` and ``\\`` escaped)."""
    return ":".join(_escape(str(f)) for f in (host, port, dbname, user, password))


def write_pgpass(path: str | os.PathLike[str], *, host: str, port: str | int, dbname: str,
                 user: str, password: str) -> Path:
    """Add (or replace) the entry for ``user`` at ``host:port/dbname`` in a pgpass file.

    The file is created with mode 0600 and an existing one is tightened to 0600 (libpq
    ignores a password file that others can read). Nothing is logged."""
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    key = pgpass_line(host, port, dbname, user, "")  # ends with ':'
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "r+", encoding="utf-8", closefd=False) as f:
            lines = [ln for ln in f.read().splitlines() if not ln.startswith(key)]
            lines.append(pgpass_line(host, port, dbname, user, password))
            f.seek(0)
            f.truncate()
            f.write("\n".join(lines) + "\n")
    finally:
        os.close(fd)
    return p


__all__ = ["generate_password", "pgpass_line", "pgpass_path", "redact", "safe_url",
           "write_pgpass"]
