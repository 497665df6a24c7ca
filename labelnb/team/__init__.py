"""Team security on PostgreSQL: roles, privileges, blind annotation, gold questions,
an append-only audit log, and credentials that stay secret. See docs/security.md.

>>> # labelnb team init --db postgresql://owner@db/labels --project pets
>>> # labelnb team add ana --role annotator --db postgresql://owner@db/labels --project pets
>>> # ana, in her notebook:  labelnb.open("postgresql://ana@db/labels", "pets").annotate()
"""

from labelnb.team.audit import audit_log
from labelnb.team.credentials import redact, safe_url, write_pgpass
from labelnb.team.gold import Gold
from labelnb.team.roles import (
    DEFAULT_PREFIX,
    Member,
    TeamSecurity,
    add_member,
    delete_annotation,
    drop_roles,
    install,
    members,
    remove_member,
    security_of,
    set_role,
)

__all__ = ["DEFAULT_PREFIX", "Gold", "Member", "TeamSecurity", "add_member", "audit_log",
           "delete_annotation", "drop_roles", "install", "members", "redact",
           "remove_member", "safe_url", "security_of", "set_role", "write_pgpass"]
