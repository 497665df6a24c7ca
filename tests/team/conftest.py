"""A team on the real PostgreSQL: a fresh schema, team security installed, and real login
roles (annotators ana and bob, reviewer rita, lead lena) created in the test database.

Role names are cluster-wide, so every team gets its own prefix (``lnbt<hex>``): its
group roles are ``lnbt<hex>_admin`` / ``_reviewer`` / ``_annotator`` and its members
``lnbt<hex>_ana`` and so on; parallel runs never meet. Everything is dropped afterwards
(the schema, then the roles), also when a test fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

import labelnb
from labelnb import team as team_mod
from labelnb.queue.store import Store

PROJECT = "pets"
MEMBERS = {"ana": "annotator", "bob": "annotator", "rita": "reviewer", "lena": "lead"}


def schema_url(base: str, schema: str, user: str | None = None) -> str:
    u = make_url(base.replace("postgresql+psycopg://", "postgresql://"))
    if user is not None:
        u = u.set(username=user, password=None)
    s = u.render_as_string(hide_password=False)
    sep = "&" if "?" in s else "?"
    return f"{s}{sep}options=-csearch_path%3D{schema}"


@dataclass
class Team:
    base: str
    schema: str
    prefix: str
    owner: labelnb.Project
    opened: list[Any] = field(default_factory=list)

    def name(self, short: str) -> str:
        """The login role of a member (``ana`` → ``lnbt<hex>_ana``)."""
        return f"{self.prefix}_{short}"

    def url(self, short: str | None = None) -> str:
        """The schema's URL as the owner (None) or as a member."""
        return schema_url(self.base, self.schema, None if short is None else self.name(short))

    def url_of(self, role: str) -> str:
        """The schema's URL as any database role (its full name)."""
        return schema_url(self.base, self.schema, role)

    def open(self, short: str | None = None) -> labelnb.Project:
        """The project, opened by a member through their own login (or by the owner)."""
        p = labelnb.open(self.url(short), PROJECT)
        self.opened.append(p)
        return p

    def sql(self, short: str | None = None) -> psycopg.Connection[Any]:
        """A plain psycopg connection as a member (autocommit): what any Python code
        running with their credentials could do, without labelnb in the way."""
        c = psycopg.connect(self.url(short), autocommit=True)
        self.opened.append(c)
        return c

    @property
    def groups(self) -> dict[str, str]:
        return team_mod.TeamSecurity(1, self.prefix, "", None).groups


def _admin_conn(base: str) -> psycopg.Connection[Any]:
    return psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"),
                           autocommit=True, connect_timeout=5)


@pytest.fixture
def new_team(pg_url: str) -> Iterator[Any]:
    """A factory: ``new_team(overlap=2, review_fraction=1.0, ...)`` -> :class:`Team`
    (``install=False``: the project only, team security not yet installed)."""
    made: list[Team] = []
    schemas: list[str] = []
    prefixes: list[str] = []

    def make(*, kind: str = "choice", labels: tuple[str, ...] = ("cat", "dog"),
             members: dict[str, str] | None = None, items: int = 4, install: bool = True,
             **settings: Any) -> Team:
        schema = "t_" + uuid.uuid4().hex[:12]
        prefix = "lnbt" + uuid.uuid4().hex[:8]
        with _admin_conn(pg_url) as c:
            c.execute(f'CREATE SCHEMA "{schema}"')
        schemas.append(schema)
        prefixes.append(prefix)
        owner = labelnb.Project.create(schema_url(pg_url, schema), PROJECT,
                                       labelnb.Schema(kind, list(labels)), **settings)
        if items:
            owner.add_items([f"item {i}" for i in range(items)], media="text")
        t = Team(pg_url, schema, prefix, owner)
        made.append(t)
        if not install:
            return t
        team_mod.install(owner.store, prefix=prefix)
        for short, role in (MEMBERS if members is None else members).items():
            team_mod.add_member(owner, t.name(short), role)  # type: ignore[arg-type]
        return t

    try:
        yield make
    finally:
        for t in made:
            for o in t.opened:
                o.close()
            t.owner.close()
        from tests.conftest import dispose_stores_of  # what a failed test left open

        for s in schemas:
            dispose_stores_of(s)
        with _admin_conn(pg_url) as c:
            for s in schemas:
                c.execute(f'DROP SCHEMA IF EXISTS "{s}" CASCADE')
        drop_team_roles(pg_url, prefixes)


def drop_team_roles(pg_url: str, prefixes: list[str]) -> None:
    """The groups and logins of these teams, and any role a test made under the prefix
    (a removed member is in no group any more)."""
    store = Store(pg_url, migrate=False)
    try:
        for prefix in prefixes:
            team_mod.drop_roles(store, prefix)
    finally:
        store.dispose()
    with _admin_conn(pg_url) as c:
        for prefix in prefixes:
            rows = c.execute("SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)",
                             (prefix + "_",)).fetchall()
            for (name,) in rows:
                c.execute(f'DROP OWNED BY "{name}"')
                c.execute(f'DROP ROLE "{name}"')


@pytest.fixture
def team(new_team: Any) -> Team:
    """Overlap 2 (two blind annotations per item), every submission reviewed."""
    t: Team = new_team(overlap=2, review_fraction=1.0)
    return t
