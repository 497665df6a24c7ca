"""``Project``: the facade a notebook user touches. Thin; it delegates to the store,
the queue and the routing policy.

>>> import labelnb, tempfile, os
>>> db = os.path.join(tempfile.mkdtemp(), "demo.db")
>>> p = labelnb.Project.create(db, "reviews", labelnb.Schema("choice", ["pos", "neg"]))
>>> p.add_items(["great film", "dull plot"])
[1, 2]
>>> q = p.queue("ana")
>>> task = q.claim()
>>> _ = q.submit(labelnb.Choice("pos"))
>>> p.annotations()[["item_id", "author", "labels"]].to_dict("records")
[{'item_id': 1, 'author': 'ana', 'labels': ['pos']}]
"""

from __future__ import annotations

import glob
import logging
import math
import numbers
import operator
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import Connection, Select
from sqlalchemy.exc import IntegrityError

from labelnb import media as media_mod
from labelnb._gc import gc_paused
from labelnb.errors import (
    AnnotationNotFound,
    AnnotatorNotFound,
    ItemNotFound,
    LabelnbError,
    MissingExtra,
    PermissionDenied,
    ProjectNotFound,
    SchemaError,
    ValidationError,
)
from labelnb.queue import queries as q
from labelnb.queue.queue import Item, Queue
from labelnb.queue.routing import (
    AnnotatorProfile,
    DefaultRouting,
    RoutingPolicy,
    policy_from_json,
)
from labelnb.queue.store import Store
from labelnb.queue.tables import annotations as annotations_t
from labelnb.queue.tables import predictions as predictions_t
from labelnb.schema import Schema, check_new_label_names
from labelnb.types import SOURCES, Annotation, Region, text_problem, unstorable

if TYPE_CHECKING:
    from labelnb.team.gold import Gold
    from labelnb.team.roles import TeamSecurity

log = logging.getLogger("labelnb")
Role = Literal["annotator", "reviewer", "lead"]
ROLES = ("annotator", "reviewer", "lead")
#: the review status of an annotation, as :meth:`Project.annotations` reports it
#: the media of an item, as :meth:`Project.items` filters them
_MEDIA = ("image", "text")
ANNOTATION_STATUSES = ("submitted", "approve", "reject", "correct", "corrected")
#: the columns of :meth:`Project.annotations`, matches or not
ANNOTATION_COLUMNS = ["id", "item_id", "task_id", "author", "source", "labels", "regions",
                      "status", "schema_version", "created_at", "submitted_at", "duration_s",
                      "corrects", "model_version", "client_id", "meta"]
_PROGRESS_MIN = 1000
#: how often (seconds) a project handle re-reads its settings and schema version
SETTINGS_TTL_S = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


#: first key of the PostgreSQL advisory lock that serialises Project.create per name
_CREATE_LOCK = 0x6C6E_6272  # "lnbr"


def _name_key(name: str) -> int:
    """A project name as the second (signed 32-bit) key of an advisory lock."""
    import hashlib

    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=4).digest(),
                          "big", signed=True)


DEFAULT_SETTINGS: dict[str, Any] = {
    "overlap": 1,
    "lease_ttl_s": 600,
    "review_fraction": 0.0,
    "routing": DefaultRouting().to_json(),
    "agreement": {},  # consensus thresholds: {"iou": 0.5, "dice": 0.8, "spans": "exact"}
    # machine labels: >= high auto-accepted, >= low one human verifies, else consensus
    "machine_tiers": {"high": 0.95, "low": 0.7, "consensus_overlap": 3},
    "gold_rate": 0.0,  # share of annotate claims that serve a gold question (labelnb.team.gold)
    "hide_predictions": False,  # team security: predictions only after one's own submit
}


class Project:
    """A labeling project in a SQLite file or a PostgreSQL database.

    Create one with :meth:`create`, reopen it with :func:`labelnb.open`.
    """

    def __init__(self, store: Store, row: Any) -> None:
        self.store = store
        self.id = int(row.id)
        self.name: str = row.name
        self._settings: dict[str, Any] = {**DEFAULT_SETTINGS, **dict(row.settings)}
        self._routing: RoutingPolicy = DefaultRouting()
        self._routing_problem: str | None = None
        self._set_routing(self._settings)
        self._settings_at = time.monotonic()
        self.schema_version = int(row.schema_version)
        self._schema = self._load_schema(self.schema_version)
        self.annotators = Annotators(self)
        self._atomic_local = threading.local()  # the connection of an open atomic() block

    # --- opening -------------------------------------------------------------------
    @classmethod
    def create(cls, url_or_path: str | os.PathLike[str], name: str, schema: Schema, *,
               overlap: int | None = None, lease_ttl_s: float | None = None,
               review_fraction: float | None = None, routing: RoutingPolicy | None = None,
               exist_ok: bool = False) -> Project:
        """Create a project (and the database, if new).

        ``overlap`` (default 1) is how many different annotators label each item (blind
        to each other); ``lease_ttl_s`` (default 600) how long a claim holds a task
        without a heartbeat; ``review_fraction`` (default 0) of submitted annotations get
        a review task; ``routing`` defaults to
        :class:`~labelnb.queue.routing.DefaultRouting`. With ``exist_ok=True`` an
        existing project is opened instead, and what is given here is applied to it:
        the schema (a new version if it differs) and the settings passed (as
        :meth:`configure` does; those left out keep the project's values).
        """
        if not isinstance(schema, Schema):
            raise SchemaError(f"project {name!r}: field 'schema' must be a labelnb.Schema, "
                              f"got {type(schema).__name__}")
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("project: field 'name' must be a non-empty string")
        if (bad := unstorable(name)) is not None:
            raise ValidationError(f"project {name!r}: field 'name' {bad}")
        given = {k: v for k, v in (("overlap", overlap), ("lease_ttl_s", lease_ttl_s),
                                   ("review_fraction", review_fraction)) if v is not None}
        checked = _checked_settings(name, given)
        routing_json = (_checked_routing(name, routing) if routing is not None
                        else DefaultRouting().to_json())
        store = Store(url_or_path)
        settings = {**DEFAULT_SETTINGS, **checked, "routing": routing_json}
        now = _now()
        with store.write() as conn:
            if store.dialect == "postgresql":
                # two creators of one name at once (several kernels, `labelnb init
                # --exist-ok` in parallel) take turns: the second sees the first's project
                # instead of failing on the unique name. (SQLite's BEGIN IMMEDIATE
                # already serialises writers.)
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(k)s, %(n)s)",
                                     {"k": _CREATE_LOCK, "n": _name_key(name)})
            existing = q.get_project(conn, name)
            if existing is not None:
                if not exist_ok:
                    raise ValidationError(
                        f"project {name!r} already exists in database {store.where}; open it with "
                        f"labelnb.open(..., name={name!r}) or pass exist_ok=True"
                    )
            else:
                check_new_label_names(schema)
                pid = q.insert_project(conn, name=name, settings=settings, now=now)
                q.insert_schema(conn, project_id=pid, version=1,
                                fingerprint=schema.fingerprint(), body=schema.to_json(),
                                now=now, created_by=None)
                q.insert_event(conn, project_id=pid, kind="project_created", actor="system",
                               now=now, payload={"settings": settings})
        project = cls.open(store, name)
        if existing is not None:
            project.set_schema(schema)
            changed = {k: v for k, v in checked.items() if project.settings.get(k) != v}
            if routing is not None and routing_json != project.settings.get("routing"):
                changed["routing"] = routing
            if changed:
                project.configure(**changed)
        return project

    @classmethod
    def open(cls, url_or_store: str | os.PathLike[str] | Store, name: str | None = None
             ) -> Project:
        if not isinstance(url_or_store, Store):
            path = _sqlite_path(url_or_store)
            if path is not None and not os.path.exists(path):
                raise ProjectNotFound(
                    f"there is no database at {path!r}; check the path, or create a project "
                    "with labelnb.Project.create(path, name, schema) (or `labelnb init`)"
                )
            if path is not None and os.path.isfile(path) and os.path.getsize(path) == 0:
                # opening would write labelnb's tables into it: not what a reader expects
                raise ProjectNotFound(
                    f"the database file {path!r} is empty (0 bytes): it holds no project; "
                    "create one with labelnb.Project.create(path, name, schema) (or "
                    "`labelnb init`)"
                )
        # opening reads: a database without labelnb's tables is refused, not given them
        store = (url_or_store if isinstance(url_or_store, Store)
                 else Store(url_or_store, create=False))
        with store.read() as conn:
            if name is None:
                names = q.list_project_names(conn)
                if len(names) != 1:
                    raise ProjectNotFound(
                        f"database {store.where} holds {len(names)} projects ({names}); "
                        "pass name=... to labelnb.open" if names else
                        f"database {store.where} holds no project; create one with "
                        "labelnb.Project.create"
                    )
                name = names[0]
            row = q.get_project(conn, name)
            if row is None:
                raise ProjectNotFound(
                    f"project {name!r} is not in database {store.where} (it has "
                    f"{q.list_project_names(conn)}); check the name or create it"
                )
        return cls(store, row)

    def close(self) -> None:
        self.store.dispose()

    @property
    def security(self) -> TeamSecurity | None:
        """Team security as the connected database user sees it (PostgreSQL after
        ``labelnb team init``; None otherwise): ``.user``, ``.role`` and whether the
        queue goes through the database's definer functions (``.definer``)."""
        if self.store.dialect != "postgresql":
            return None
        from labelnb.team.roles import security_of

        return security_of(self.store)

    def __repr__(self) -> str:
        return (f"<labelnb.Project {self.name!r} ({self.schema.kind}, "
                f"{len(self.schema.labels)} labels) in {self.store.url.split('://')[0]}>")

    # --- schema --------------------------------------------------------------------
    @property
    def schema(self) -> Schema:
        return self._schema

    def _load_schema(self, version: int) -> Schema:
        with self.store.read() as conn:
            row = q.get_schema(conn, self.id, version)
        if row is None:
            raise SchemaError(f"project {self.name!r}: schema version {version} is missing")
        return Schema.from_json(row.body, version=version)

    def schema_at(self, version: int) -> Schema:
        """The schema as it was at ``version``."""
        return self._load_schema(version)

    def set_schema(self, schema: Schema, *, by: str | None = None) -> int:
        """Make ``schema`` current. A changed schema becomes a new version (returned);
        annotations keep the version they were made under."""
        if not isinstance(schema, Schema):
            raise SchemaError(f"project {self.name!r}: set_schema takes a labelnb.Schema, got "
                              f"a {type(schema).__name__}; build one, e.g. "
                              "Schema('choice', ['cat', 'dog'])")
        if schema.kind != self.schema.kind:
            raise SchemaError(
                f"project {self.name!r}: field 'kind' cannot change from {self.schema.kind!r} "
                f"to {schema.kind!r}; create a new project for another kind"
            )
        if schema.fingerprint() == self.schema.fingerprint():
            return self.schema_version
        check_new_label_names(schema, keep=self.schema.names)
        now = _now()
        with self.store.write() as conn:
            q.lock_project(conn, self.id)
            row = q.get_project(conn, self.name)
            version = int(row.schema_version) + 1  # type: ignore[union-attr]
            q.insert_schema(conn, project_id=self.id, version=version,
                            fingerprint=schema.fingerprint(), body=schema.to_json(), now=now,
                            created_by=by)
            q.set_project_schema_version(conn, self.id, version)
            q.insert_event(conn, project_id=self.id, kind="schema_changed", actor=by or "system",
                           now=now, payload={"version": version, "labels": schema.names})
        self.schema_version = version
        self._schema = Schema.from_json(schema.to_json(), version=version)
        return version

    def schema_versions(self) -> pd.DataFrame:
        with self.store.read() as conn:
            rows = q.schema_versions(conn, self.id)
        return pd.DataFrame([{"version": r.version, "labels": [x["name"] for x in
                                                               r.body["labels"]],
                              "created_at": r.created_at, "created_by": r.created_by}
                             for r in rows])

    # --- settings ------------------------------------------------------------------
    @property
    def settings(self) -> dict[str, Any]:
        """The project's settings (overlap, lease TTL, review fraction, routing, gold
        rate ...). Re-read from the database every :data:`SETTINGS_TTL_S` seconds, so
        a lead's :meth:`configure` (or :meth:`set_schema`) in another kernel reaches the
        annotators' open handles within seconds."""
        if time.monotonic() - self._settings_at > SETTINGS_TTL_S:
            self.reload()
        return self._settings

    @property
    def routing(self) -> RoutingPolicy:
        """The project's routing policy (see :attr:`settings`)."""
        self.settings  # noqa: B018  (re-read when due)
        if self._routing_problem is not None:
            raise ValidationError(self._routing_problem)
        return self._routing

    def _set_routing(self, settings: Mapping[str, Any]) -> None:
        """Rebuild the routing policy from ``settings``. A stored one that does not
        rebuild (written by an older labelnb, or by hand) does not stop the project from
        opening, so that it can be repaired: :attr:`routing` (every claim, add_items)
        raises, naming the setting and the fix, until :meth:`configure` replaces it."""
        try:
            self._routing = _routing_policy(self.name, settings.get("routing"))
            self._routing_problem = None
        except ValidationError as e:
            self._routing = DefaultRouting()
            self._routing_problem = (
                f"{e} (the stored setting is {settings.get('routing')!r:.200}). Fix: store a "
                f"valid one: labelnb.open(...).configure(routing=DefaultRouting(...))")

    def reload(self) -> None:
        """Re-read the settings and the current schema version now (they are re-read
        every few seconds anyway)."""
        self._settings_at = time.monotonic()
        if self.store.in_memory:  # no other process can change it
            return
        with self.store.read() as conn:
            row = q.get_project_by_id(conn, self.id)
        if row is None:
            return
        fresh = {**DEFAULT_SETTINGS, **dict(row.settings)}
        if fresh != self._settings:
            self._settings = fresh
            self._set_routing(fresh)
        if int(row.schema_version) != self.schema_version:
            self._schema = self._load_schema(int(row.schema_version))
            self.schema_version = int(row.schema_version)

    def configure(self, **settings: Any) -> None:
        """Change ``overlap`` (for items added from now on), ``lease_ttl_s``,
        ``review_fraction`` or ``routing``."""
        unknown = set(settings) - set(DEFAULT_SETTINGS)
        if unknown:
            raise ValidationError(f"project {self.name!r}: unknown settings {sorted(unknown)}; "
                                  f"known: {sorted(DEFAULT_SETTINGS)}")
        settings = {**settings, **_checked_settings(self.name, settings)}
        # all checked before anything is written: a stored setting that does not rebuild
        # would fail every later claim (routing) or consensus run (agreement)
        if "routing" in settings:
            settings["routing"] = _checked_routing(self.name, settings["routing"])
        if "agreement" in settings:
            settings["agreement"] = _checked_agreement(self.name, settings["agreement"])
        if "machine_tiers" in settings:
            settings["machine_tiers"] = _checked_machine_tiers(self.name,
                                                               settings["machine_tiers"])
        if "gold_rate" in settings:
            rate = settings["gold_rate"]
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not (
                    0.0 <= float(rate) <= 1.0):
                raise ValidationError(f"project {self.name!r}: field 'gold_rate' is {rate!r}; "
                                      "give the share of claims that serve gold, in [0, 1]")
            settings["gold_rate"] = float(rate)
        if "hide_predictions" in settings and not isinstance(settings["hide_predictions"],
                                                             bool):
            raise ValidationError(f"project {self.name!r}: field 'hide_predictions' must be "
                                  "True or False")
        with self.store.write() as conn:
            row = q.get_project_by_id(conn, self.id)  # the stored ones: another kernel's
            # change since this handle last read them is kept
            base = dict(row.settings) if row is not None else self._settings
            new = {**DEFAULT_SETTINGS, **base, **settings}
            q.set_project_settings(conn, self.id, new)
            q.insert_event(conn, project_id=self.id, kind="settings_changed", actor="system",
                           now=_now(), payload=settings)
        self._settings = new
        self._set_routing(new)
        self._settings_at = time.monotonic()

    # --- transactions --------------------------------------------------------------
    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One transaction around several writes (what the importers use).

        Inside the block, :meth:`add_items`, :meth:`add_annotations` and
        :meth:`add_predictions` called from this thread join one database transaction:
        it commits when the block ends, and if anything in it raises, nothing of it is
        written. Blocks nest (a savepoint each)."""
        conn = getattr(self._atomic_local, "conn", None)
        if conn is not None:
            with conn.begin_nested():
                yield
            return
        with self.store.write() as conn:
            self._atomic_local.conn = conn
            try:
                yield
            finally:
                self._atomic_local.conn = None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction, or a savepoint in the open :meth:`atomic` block."""
        conn = getattr(self._atomic_local, "conn", None)
        if conn is None:
            with self.store.write() as fresh:
                yield fresh
        else:
            with conn.begin_nested():
                yield conn

    # --- items -----------------------------------------------------------------------
    def add_items(self, items: Any, *, media: Literal["image", "text"] | None = None,
                  group: str | None = None, difficulty: float | None = None,
                  priority: float = 0.0, required_skill: str | None = None,
                  language: str | None = None, deadline: datetime | None = None,
                  progress: bool | None = None, workers: int = 8) -> list[int]:
        """Add items and queue their tasks; returns the item ids in input order.

        ``items`` may be paths, globs, folders, URLs (``http(s)://``, ``s3://``,
        ``gs://``), texts, dicts (``{"image": ..., "meta": {...}}`` or
        ``{"text": ...}``) or a DataFrame with an ``image``/``uri``/``path`` or
        ``text`` column (other columns go to ``meta``). Media stay where they are
        (only their URI is stored). Items whose content is already in the project are
        not added twice: their existing id is returned. The batch is one transaction:
        if any item is bad, nothing is written.
        """
        from tqdm.auto import tqdm

        difficulty, priority, deadline = _task_fields(
            media=media, difficulty=difficulty, priority=priority,
            required_skill=required_skill, language=language, deadline=deadline)
        specs = self._item_specs(items, media, group)
        rows = self._probe(specs, progress, workers)
        overlap = int(self.settings["overlap"])
        now = _now()
        supply = self.annotators.skill_supply(required_skill) if required_skill else None
        prio = self.routing.priority(difficulty=difficulty, deadline=deadline,
                                     skill_supply=supply, base=priority)
        with self._write() as conn:
            q.lock_project(conn, self.id)  # concurrent imports of the same files queue here
            hashes = [r["content_hash"] for r in rows]
            known = q.existing_hashes(conn, self.id, hashes)
            fresh: dict[str, dict[str, Any]] = {}
            for r in rows:
                if r["content_hash"] not in known and r["content_hash"] not in fresh:
                    fresh[r["content_hash"]] = {**r, "project_id": self.id, "created_at": now}
            new_rows = list(fresh.values())
            ids: list[int] = []
            # the writes of a large batch take seconds too: a second bar, items then tasks
            bar = tqdm(total=len(new_rows) * (1 + overlap), desc="writing items and tasks",
                       unit="row", disable=not _show_progress(progress, len(specs)))
            try:
                for chunk in media_mod.iter_chunks(new_rows, 5000):
                    ids.extend(q.insert_items(conn, chunk))
                    bar.update(len(chunk))
                for r, i in zip(new_rows, ids, strict=True):
                    known[r["content_hash"]] = i
                task_rows = [dict(project_id=self.id, item_id=i, stage="annotate", slot=s,
                                  status="open", priority=prio, base_priority=float(priority),
                                  difficulty=difficulty,
                                  required_skill=required_skill, language=language,
                                  deadline=deadline, created_at=now, attempts=0)
                             for i in ids for s in range(overlap)]
                for chunk in media_mod.iter_chunks(task_rows, 5000):
                    q.insert_tasks(conn, chunk)
                    bar.update(len(chunk))
            finally:
                bar.close()
            q.insert_event(conn, project_id=self.id, kind="items_added", actor="system", now=now,
                           payload={"added": len(ids), "duplicates": len(rows) - len(ids),
                                    "overlap": overlap})
        if len(rows) - len(ids):
            log.info("labelnb: %d of %d items were already in project %r (same content)",
                     len(rows) - len(ids), len(rows), self.name)
        return [known[r["content_hash"]] for r in rows]

    def _item_specs(self, items: Any, media: str | None, group: str | None
                    ) -> list[dict[str, Any]]:
        if isinstance(items, pd.DataFrame):
            items = items.to_dict("records")
        elif isinstance(items, str | os.PathLike | Mapping):
            items = [items]
        elif items is None or not isinstance(items, Iterable):
            raise ValidationError(f"add_items: items is {type(items).__name__}; give a path, "
                                  "glob, folder, URL, text, dict, a list of these, or a "
                                  "DataFrame")
        specs: list[dict[str, Any]] = []
        text_only = self.schema.media == ("text",)
        # a project that labels no text takes a string as a path when it has a path's
        # shape, spaces and all ('photos/my cat.png': a missing file is reported as one)
        paths_only = media is None and "text" not in self.schema.media
        wanted = (media,) if media else self.schema.media  # what a folder gives
        for n, it in enumerate(items):
            where = f"item #{n}"
            if isinstance(it, os.PathLike):
                it = os.fspath(it)
            if isinstance(it, str):
                # a glob only when it looks like a path, or is one word that matches
                # files: "Why did it go up?" is a text (and costs no directory listing)
                is_path = media != "text" and (
                    media_mod.is_uri(it) or os.path.isfile(os.path.expanduser(it))
                    or (paths_only and (_path_shaped(it)
                                        or os.path.isdir(os.path.expanduser(it))))
                    or (_looks_like_path(it) and os.path.isdir(os.path.expanduser(it)))
                    or (media_mod.has_glob(it) and (_looks_like_path(it) or (
                        not any(c.isspace() for c in it)
                        and bool(glob.glob(os.path.expanduser(it), recursive=True))))))
                as_text = media == "text" or (media is None and not is_path and (
                    text_only or not _looks_like_path(it)))
                if as_text:
                    specs.append({"text": _checked_text(it, where), "meta": {}, "group": group})
                else:
                    specs.extend({"uri": u, "meta": {}, "group": group}
                                 for u in media_mod.expand(it, wanted))
            elif isinstance(it, Mapping):
                d = dict(it)
                raw_meta = d.pop("meta", None)
                if raw_meta is None or _isna(raw_meta):  # (a DataFrame's empty cell)
                    meta = {}
                elif isinstance(raw_meta, Mapping):
                    meta = dict(raw_meta)
                else:
                    raise ValidationError(
                        f"{where}: field 'meta' is a {type(raw_meta).__name__} "
                        f"({raw_meta!r:.60}); give a dict of key -> value (JSON text: "
                        "json.loads it first), or leave it out")
                g = d.pop("group", group)
                src = None
                for key in ("image", "uri", "path", "url"):
                    if key in d and d[key] is not None and not _isna(d[key]):
                        src = str(d.pop(key))
                        break
                text = d.pop("text", None)
                if src is not None and text is not None and not _isna(text):
                    d["text"] = text  # an image's caption: kept in meta like other keys
                meta.update(d)
                meta = _json_meta(meta, where)
                if src is not None:
                    specs.extend({"uri": u, "meta": meta, "group": g}
                                 for u in media_mod.expand(src, wanted))
                elif isinstance(text, str):
                    specs.append({"text": _checked_text(text, where), "meta": meta, "group": g})
                else:
                    raise ValidationError(
                        f"{where} ({it!r}): give an 'image' (or 'uri'/'path') or a 'text' field"
                    )
            else:
                raise ValidationError(
                    f"{where}: {type(it).__name__} is not an item; give a path, URL, text, "
                    "dict or DataFrame row"
                )
        if not specs:
            raise ValidationError("add_items: no items given")
        return specs

    def _probe(self, specs: list[dict[str, Any]], progress: bool | None, workers: int
               ) -> list[dict[str, Any]]:
        from tqdm.auto import tqdm

        show = _show_progress(progress, len(specs))

        def one(spec: dict[str, Any]) -> dict[str, Any]:
            if "text" in spec:
                return dict(media="text", uri=None, text=spec["text"],
                            content_hash=media_mod.text_hash(spec["text"]), width=None,
                            height=None, group_key=spec["group"], meta=spec["meta"])
            info = media_mod.probe(spec["uri"])
            return dict(media=info.media, uri=info.uri, text=info.text,
                        content_hash=info.content_hash, width=info.width, height=info.height,
                        group_key=spec["group"], meta=spec["meta"])

        rows: list[dict[str, Any]] = []
        bar = tqdm(total=len(specs), desc="adding items", unit="item", disable=not show)
        try:
            if any("uri" in s for s in specs) and workers > 1 and len(specs) > 16:
                with ThreadPoolExecutor(max_workers=workers) as ex:
                    for r in ex.map(one, specs):
                        rows.append(r)
                        bar.update()
            else:
                for s in specs:
                    rows.append(one(s))
                    bar.update()
        finally:
            bar.close()
        allowed = self.schema.media
        for r in rows:
            if r["uri"] is not None and r["text"] is not None:  # a text file's content
                _checked_text(r["text"], f"item {r['uri']!r}")
            if r["media"] not in allowed:
                name = r["uri"] or (r["text"][:40] + "…")
                raise ValidationError(
                    f"item {name!r}: field 'media' is {r['media']!r} but a "
                    f"{self.schema.kind!r} project labels {' or '.join(allowed)}; add "
                    f"{' or '.join(allowed)} items here, and {r['media']} items to a "
                    "project of a kind that labels them"
                    + (" (or pass media='text' to add the string itself as a text item)"
                       if "text" in allowed and r["uri"] is not None else ""))
        return rows

    def item(self, item_id: int) -> Item:
        item_id = _checked_id(item_id, f"project {self.name!r}: item()")
        with self.store.read() as conn:
            row = q.get_item(conn, item_id)
        if row is None or int(row.project_id) != self.id:
            raise ItemNotFound(f"item {item_id!r} is not in project {self.name!r}; list ids "
                               "with project.items()")
        return Item(id=int(row.id), media=row.media, uri=row.uri, text=row.text,
                    width=row.width, height=row.height, meta=dict(row.meta or {}),
                    group=row.group_key)

    def load_image(self, item_id: int) -> Any:
        """The item's image as a PIL image, EXIF orientation applied."""
        it = self.item(item_id)
        if it.uri is None:
            raise ValidationError(f"item {item_id}: it is a text item, not an image")
        try:
            return media_mod.load_image(it.uri)
        except ItemNotFound as e:  # it names the file: name the item too
            msg = str(e)
            raise ItemNotFound(msg.replace(f"item {it.uri!r}", f"item {it.id} ({it.uri!r})", 1)
                               if msg.startswith(f"item {it.uri!r}") else
                               f"item {it.id}: {msg}") from e

    def items(self, *, media: str | None = None, status: str | None = None,
              annotator: str | None = None, source: str | None = None,
              schema_version: int | None = None) -> pd.DataFrame:
        """Items with their task progress (``overlap``, ``done``, ``annotations``).

        ``status``: ``'todo'`` (not all overlap annotations in) or ``'done'``.
        ``annotator`` / ``source`` / ``schema_version``: only items that have an
        annotation by that author, from that source, or under that schema version."""
        # every filter checked first: a misspelt one would match nothing and read as an
        # empty project
        if media is not None and media not in _MEDIA:
            raise ValidationError(f"items(): media {media!r}; expected one of {list(_MEDIA)}")
        if status not in (None, "todo", "done"):
            raise ValidationError(f"items(): status {status!r}; expected 'todo' or 'done'")
        if source is not None and source not in SOURCES:
            raise ValidationError(f"items(): source {source!r}; expected one of "
                                  f"{list(SOURCES)}")
        if schema_version is not None:
            schema_version = _checked_version(schema_version, "items()")
        stmt = q.select_items(self.id)
        df = self._frame(stmt)
        if df.empty:
            return df
        if annotator is not None or source is not None or schema_version is not None:
            anns = self.annotations(annotator=annotator, source=source,
                                    schema_version=schema_version)
            df = df[df["id"].isin(set(anns["item_id"]))]
        if media is not None:
            df = df[df["media"] == media]
        if status == "done":
            df = df[df["done"] >= df["overlap"]]
        elif status == "todo":
            df = df[df["done"] < df["overlap"]]
        return df.reset_index(drop=True)

    # --- predictions -----------------------------------------------------------------
    def add_predictions(self, model_version: str, predictions: Any, *,
                        source: Literal["model", "llm", "labeling_function"] = "model") -> int:
        """Record pre-annotations. ``predictions`` maps item id → regions (or an
        iterable of ``(item_id, regions)`` / ``(item_id, regions, score)``, or
        Annotations). Validated against the schema; all or nothing."""
        if source not in ("model", "llm", "labeling_function"):
            raise ValidationError(f"add_predictions: source {source!r}; expected 'model', "
                                  "'llm' or 'labeling_function'")
        if not isinstance(model_version, str) or not model_version.strip():
            raise ValidationError(f"add_predictions: field 'model_version' is "
                                  f"{model_version!r}; give the model's name and version as "
                                  "a non-empty string, e.g. 'yolov8n-2024-05'")
        if (bad := unstorable(model_version)) is not None:
            raise ValidationError(f"add_predictions: field 'model_version' {bad}")
        entries: list[tuple[int, tuple[Region, ...], float | None]] = []
        if isinstance(predictions, Mapping):
            predictions = list(predictions.items())
        for n, p in enumerate(predictions):
            if isinstance(p, Annotation):
                entries.append((p.item_id, p.regions, None))
                continue
            try:
                item_id, regs, *rest = p
                regions = (regs,) if isinstance(regs, Region) else tuple(
                    r if isinstance(r, Region) else Region.from_json(r) for r in regs)
                score = float(rest[0]) if rest and rest[0] is not None else None
            except (TypeError, ValueError) as e:
                raise ValidationError(
                    f"prediction #{n} ({p!r:.80}): {e}; give {{item_id: [regions]}} or "
                    "(item_id, regions[, score]) with regions as Box/Span/... or their JSON"
                ) from None
            # (2.7 is no item id: int() would store it on item 2)
            item_id = _checked_id(item_id, f"prediction #{n} ({p!r:.80})")
            entries.append((item_id, regions, score))
            if score is not None and not 0.0 <= score <= 1.0:
                raise ValidationError(f"prediction #{n} (item {item_id}): field 'score' is "
                                      f"{score}; it must lie in [0, 1]")
        now = _now()
        with self._write() as conn:
            ids = sorted({e[0] for e in entries})
            found = q.existing_item_ids(conn, self.id, ids)
            missing = [i for i in ids if i not in found]
            if missing:
                raise ItemNotFound(f"add_predictions: items {missing[:10]} are not in project "
                                   f"{self.name!r}; add them first")
            rows = []
            cache: dict[int, Item] = {}
            for n, (item_id, regions, score) in enumerate(entries):
                it = cache.get(item_id) or self._item_from_row(q.get_item(conn, item_id))
                cache[item_id] = it
                try:  # checked as an annotation: what a person could not submit either (two
                    # Choices in a choice project, a span given twice) would stop routing
                    # and tier checks later
                    self.validate(Annotation(item_id=item_id, author="model", regions=regions),
                                  item=it)
                except SchemaError as e:
                    raise SchemaError(f"add_predictions({model_version!r}), prediction #{n}: "
                                      f"{e}") from None
                rows.append(dict(project_id=self.id, item_id=item_id, model_version=model_version,
                                 source=source, regions=[r.to_json() for r in regions],
                                 score=score, created_at=now))
            q.insert_predictions(conn, rows)
            q.insert_event(conn, project_id=self.id, kind="predictions_added", actor=model_version,
                           now=now, payload={"count": len(rows), "source": source})
        return len(rows)

    def predictions(self, item_id: int | None = None) -> pd.DataFrame:
        stmt = q.select_predictions(self.id)
        if item_id is not None:
            item_id = _checked_id(item_id, "predictions()")
            stmt = stmt.where(predictions_t.c.item_id == item_id)
        return self._frame(stmt)

    def prediction_regions(self, item_id: int, model_version: str | None = None
                           ) -> list[Region]:
        """The pre-annotation regions of an item (newest model version by default): those
        of that version's newest :meth:`add_predictions` call for the item (one call may
        give an item several rows; a rerun of the same version replaces, not adds)."""
        item_id = _checked_id(item_id, "prediction_regions()")
        with self.store.read() as conn:
            rows = q.predictions_for_item(conn, item_id)
        if not rows:
            return []
        mv = model_version or rows[-1].model_version
        mine = [row for row in rows if row.model_version == mv]
        if not mine:
            return []
        newest = mine[-1].created_at
        return [Region.from_json(r) for row in mine if row.created_at == newest
                for r in row.regions]

    # --- annotations -----------------------------------------------------------------
    def validate(self, ann: Annotation, *, item: Item | None = None) -> None:
        """Check an annotation against the schema and its item; raise on any problem."""
        it = item or self.item(ann.item_id)
        if ann.item_id != it.id:
            raise ValidationError(f"annotation {ann.id}: item {ann.item_id} is not {it.id}")
        # each region against the schema and the item, then the annotation-level rules
        self.schema.check_annotation(ann, width=it.width, height=it.height, text=it.text)

    def _check_regions(self, regions: Sequence[Region], it: Item) -> None:
        for i, r in enumerate(regions):
            self.schema.check_region(r, f"item {it.id}, region {i}", width=it.width,
                                     height=it.height, text=it.text)

    @staticmethod
    def _item_from_row(row: Any) -> Item:
        return Item(id=int(row.id), media=row.media, uri=row.uri, text=row.text,
                    width=row.width, height=row.height, meta=dict(row.meta or {}),
                    group=row.group_key)

    def _annotation_row(self, ann: Annotation, now: datetime) -> dict[str, Any]:
        return dict(id=ann.id, project_id=self.id, item_id=ann.item_id, task_id=ann.task_id,
                    author=ann.author, source=ann.source,
                    schema_version=ann.schema_version or self.schema_version,
                    regions=[r.to_json() for r in ann.regions], created_at=ann.created_at,
                    submitted_at=now, duration_s=ann.duration_s, corrects=ann.corrects,
                    model_version=ann.model_version, client_id=ann.client_id,
                    meta=dict(ann.meta))

    def add_annotations(self, anns: Iterable[Annotation], *, fill_tasks: bool = False,
                        skip_existing: bool = False,
                        event: tuple[str, str, dict[str, Any]]
                        | Callable[[Annotation], tuple[str, str, dict[str, Any]]]
                        | None = None) -> list[str]:
        """Store finished annotations outside the queue (imports, model labels,
        consensus). All validated first; one transaction. Returns the ids stored.

        ``fill_tasks``: each human annotation not made through the queue fills one open
        annotate slot of its item (done, by its author; the annotation points at it), so
        the queue does not hand the item out again, progress counts it and consensus
        counts it as one of the item's annotators; an author who already holds a slot of
        the item, or an item with no open slot left, fills none. ``skip_existing``: an
        annotation equal to one stored (same item, author, source and regions; a file
        imported twice) is not stored again. ``event``: what the audit log records,
        ``(kind, actor, payload)`` (default ``annotations_imported`` by ``system``, with
        the count); an event of one item carries its id. A function of the annotation
        instead records one event per annotation stored (consensus: one per item)."""
        anns = list(anns)
        now = _now()
        with self._write() as conn:
            cache: dict[int, Item] = {}
            rows = []
            found = q.get_items(conn, [a.item_id for a in anns])  # one IN query
            for a in anns:
                if a.item_id not in cache:
                    row = (found.get(a.item_id) if q.fits_id(a.item_id)
                           else q.get_item(conn, a.item_id))
                    if row is None or int(row.project_id) != self.id:
                        raise ItemNotFound(f"annotation {a.id}: item {a.item_id} is not in "
                                           f"project {self.name!r}")
                    cache[a.item_id] = self._item_from_row(row)
                self.validate(a, item=cache[a.item_id])
                rows.append(self._annotation_row(a, now))
            self._check_links(conn, anns)
            if skip_existing and anns:
                anns, rows = self._new_annotations(conn, anns, rows)
            if fill_tasks and anns:
                self._fill_slots(conn, anns, rows, now)
            try:  # all in one executemany; on a clash, row by row to name the annotation
                with conn.begin_nested():
                    q.insert_annotations(conn, rows)
            except self.store.integrity_errors:
                self._insert_each(conn, anns, rows)
            if callable(event):  # one event per annotation, in one executemany
                q.insert_events(conn, [
                    dict(project_id=self.id, kind=kind, actor=actor, item_id=a.item_id,
                         task_id=None, payload={**payload, "count": 1, "annotation_ids": [a.id]},
                         created_at=now)
                    for a in anns for kind, actor, payload in [event(a)]])
                return [a.id for a in anns]
            kind, actor, payload = event or ("annotations_imported", "system", {})
            items = {a.item_id for a in anns}
            q.insert_event(conn, project_id=self.id, kind=kind, actor=actor, now=now,
                           item_id=next(iter(items)) if len(items) == 1 else None,
                           payload={**payload, "count": len(rows),
                                    "annotation_ids": [a.id for a in anns][:100]})
        return [a.id for a in anns]

    def _insert_each(self, conn: Connection, anns: list[Annotation],
                     rows: list[dict[str, Any]]) -> None:
        """Insert the rows one by one, each in a savepoint: the first that clashes with
        what is stored raises, naming its annotation."""
        for r, a in zip(rows, anns, strict=True):
            try:
                with conn.begin_nested():
                    q.insert_annotation(conn, r)
            except self.store.integrity_errors:
                raise ValidationError(
                    f"annotation {a.id} of item {a.item_id}: it clashes with what is stored "
                    "(field 'id' already used, or 'task_id' / 'corrects' naming a task or "
                    "annotation that does not exist); fix those fields or leave them out"
                ) from None

    def _check_links(self, conn: Connection, anns: list[Annotation]) -> None:
        """What an annotation refers to exists in this project: its ``schema_version``,
        and the annotation (``corrects``) or task (``task_id``) of the same item (one of
        another project would change that project's results: its label would read as
        corrected)."""
        batch = {a.id: a.item_id for a in anns}
        # what the annotations name, looked up at once (chunked IN queries)
        named = q.annotation_owners(conn, [a.corrects for a in anns if a.corrects is not None
                                           and a.corrects not in batch])
        owners = q.task_owners(conn, [a.task_id for a in anns if type(a.task_id) is int])
        for a in anns:
            if a.schema_version is not None and not 1 <= a.schema_version <= self.schema_version:
                raise ValidationError(
                    f"annotation {a.id} of item {a.item_id}: field 'schema_version' is "
                    f"{a.schema_version}, but project {self.name!r} has versions 1.."
                    f"{self.schema_version}; leave it out (the current one is recorded)")
            if a.corrects is not None:
                target = batch.get(a.corrects)
                if target is None:
                    pid_iid = named.get(a.corrects)
                    target = (pid_iid[1] if pid_iid is not None and pid_iid[0] == self.id
                              else None)
                if target != a.item_id:
                    raise ValidationError(
                        f"annotation {a.id} of item {a.item_id}: field 'corrects' is "
                        f"{a.corrects!r}, which is no annotation of item {a.item_id} in "
                        f"project {self.name!r}; name the annotation it corrects, or leave "
                        "the field out")
            if a.task_id is not None:
                if type(a.task_id) is int and q.fits_id(a.task_id):
                    owner = owners.get(a.task_id)
                else:  # (as the driver takes it: a numpy or text id)
                    t = q.get_task(conn, a.task_id)
                    owner = None if t is None else (int(t.project_id), int(t.item_id))
                if owner is None or owner != (self.id, a.item_id):
                    raise ValidationError(
                        f"annotation {a.id} of item {a.item_id}: field 'task_id' is "
                        f"{a.task_id}, which is no task of item {a.item_id} in project "
                        f"{self.name!r}; leave it out (fill_tasks=True picks the item's "
                        "open slot)")

    def _new_annotations(self, conn: Connection, anns: list[Annotation],
                         rows: list[dict[str, Any]]
                         ) -> tuple[list[Annotation], list[dict[str, Any]]]:
        """``anns`` (and their rows) without those equal to a stored annotation or to an
        earlier one of the list."""
        def key(item: int, author: str, source: str, regions: Any) -> tuple[Any, ...]:
            return (int(item), author, source, orjson.dumps(regions, option=orjson.OPT_SORT_KEYS))

        seen = {key(r.item_id, r.author, r.source, r.regions)
                for r in q.annotations_of_items(conn, self.id, [a.item_id for a in anns])}
        keep_a, keep_r = [], []
        for a, r in zip(anns, rows, strict=True):
            k = key(a.item_id, a.author, a.source, r["regions"])
            if k not in seen:
                seen.add(k)
                keep_a.append(a)
                keep_r.append(r)
        return keep_a, keep_r

    def _fill_slots(self, conn: Connection, anns: list[Annotation], rows: list[dict[str, Any]],
                    now: datetime) -> None:
        """See ``fill_tasks`` in :meth:`add_annotations`: sets the rows' ``task_id``."""
        free: dict[int, list[int]] = {}
        holds: set[tuple[int, str]] = set()
        for t in q.annotate_slots(conn, self.id, [a.item_id for a in anns]):
            if t.assignee is not None:
                holds.add((int(t.item_id), str(t.assignee)))
            elif t.status == "open" and t.reserved_for is None:
                free.setdefault(int(t.item_id), []).append(int(t.id))
        # the slot each annotation takes if every open one is still open (the write
        # lock keeps it so on SQLite; on PostgreSQL a queue may claim one meanwhile),
        # filled at once; else, in a rolled-back savepoint, one by one as they come
        def needs_slot(a: Annotation, held: set[tuple[int, str]]) -> bool:
            return a.source == "human" and a.task_id is None and (a.item_id, a.author) not in held

        plan: list[tuple[dict[str, Any], int, str]] = []
        left = {k: list(v) for k, v in free.items()}
        held = set(holds)
        for a, r in zip(anns, rows, strict=True):
            if not needs_slot(a, held):
                continue
            slots = left.get(a.item_id)
            if slots:
                plan.append((r, slots.pop(0), a.author))
                held.add((a.item_id, a.author))
        if not plan:
            return
        fills = [(tid, who) for _, tid, who in plan]
        with conn.begin_nested() as nested:
            filled = q.fill_annotate_slots(conn, fills, now) == len(fills)
            if not filled:
                nested.rollback()
        if filled:
            for r, tid, _ in plan:
                r["task_id"] = tid
            return
        for a, r in zip(anns, rows, strict=True):
            if not needs_slot(a, holds):
                continue
            slots = free.get(a.item_id, [])
            while slots:
                tid = slots.pop(0)
                if q.fill_annotate_slot(conn, task_id=tid, assignee=a.author, now=now):
                    r["task_id"] = tid
                    holds.add((a.item_id, a.author))
                    break

    def _queue_review(self, conn: Connection, ann: Annotation, now: datetime) -> None:
        self._queue_reviews(conn, [ann], now)

    def _queue_reviews(self, conn: Connection, anns: Sequence[Annotation],
                       now: datetime) -> None:
        """A review task for each annotation (one statement)."""
        q.insert_tasks(conn, [dict(project_id=self.id, item_id=ann.item_id, stage="review",
                                   slot=0, status="open", priority=0.0, author=ann.author,
                                   target_annotation_id=ann.id, created_at=now, attempts=0)
                              for ann in anns])

    def request_review(self, annotation_id: str) -> None:
        """Queue a review task for one annotation (reviewed by someone else)."""
        with self.store.write() as conn:
            row = q.get_annotation(conn, annotation_id)
            if row is None or int(row.project_id) != self.id:
                raise AnnotationNotFound(f"annotation {annotation_id!r} is not in project "
                                         f"{self.name!r}; list ids with project.annotations()")
            now = _now()
            self._queue_review(conn, Annotation(item_id=int(row.item_id), author=row.author,
                                                id=row.id), now)
            q.insert_event(conn, project_id=self.id, kind="review_requested", actor="system",
                           now=now, item_id=int(row.item_id),
                           payload={"annotation_id": annotation_id, "author": row.author})

    def annotations(self, *, annotator: str | None = None, source: str | None = None,
                    status: str | None = None, schema_version: int | None = None,
                    item_id: int | None = None) -> pd.DataFrame:
        """Every raw annotation with its provenance: who (``author``, ``source``), when
        (``created_at``, ``submitted_at``), how long (``duration_s``), the task, the
        schema version, what it ``corrects``, and its review ``status``
        (submitted / approve / reject / correct / corrected)."""
        t = annotations_t
        stmt: Select[Any] = q.select_annotations(self.id)
        if annotator is not None:
            stmt = stmt.where(t.c.author == annotator)
        if source is not None:
            if source not in SOURCES:
                raise ValidationError(f"annotations(): source {source!r}; expected one of "
                                      f"{list(SOURCES)}")
            stmt = stmt.where(t.c.source == source)
        if status is not None and status not in ANNOTATION_STATUSES:
            raise ValidationError(f"annotations(): status {status!r}; expected one of "
                                  f"{list(ANNOTATION_STATUSES)}")
        if schema_version is not None:
            stmt = stmt.where(t.c.schema_version == _checked_version(schema_version,
                                                                     "annotations()"))
        if item_id is not None:
            stmt = stmt.where(t.c.item_id == _checked_id(item_id, "annotations()"))
        df = self._frame(stmt)
        if df.empty:  # the same columns as when something matches
            return pd.DataFrame(columns=ANNOTATION_COLUMNS)
        df["labels"] = [[r["label"] for r in regs] for regs in df["regions"]]
        if status is not None:
            df = df[df["status"] == status].reset_index(drop=True)
        return df[ANNOTATION_COLUMNS]

    def annotation_objects(self, **filters: Any) -> list[Annotation]:
        """Like :meth:`annotations` but as :class:`~labelnb.types.Annotation` objects."""
        df = self.annotations(**filters)
        keys = [k for k in df.columns if k not in ("labels", "status", "submitted_at")]
        # column by column: each missing value (NULL, NaN, NaT) as None
        columns = [[None if na else v for v, na in zip(df[k].tolist(), df[k].isna().tolist(),
                                                        strict=True)] for k in keys]
        created = df["created_at"].tolist()
        out = []
        for values, at in zip(zip(*columns, strict=True), created, strict=True):
            d = dict(zip(keys, values, strict=True))
            d["created_at"] = pd.Timestamp(at).to_pydatetime()
            for k in ("task_id", "schema_version"):  # pandas widens int columns with NULLs
                v = d.get(k)
                if v is not None:
                    d[k] = int(v)
            out.append(Annotation.from_json(d))
        return out

    def reviews(self) -> pd.DataFrame:
        return self._frame(q.select_reviews(self.id))

    def tasks(self) -> pd.DataFrame:
        """Every task of the project. Under team security an annotator or reviewer sees
        ``focus_label``, ``difficulty`` and ``priority`` as None (the model's label and
        confidence stay hidden from them)."""
        sec = self.security
        hidden = (q.MEMBER_HIDDEN_TASK_COLUMNS
                  if sec is not None and sec.role in ("annotator", "reviewer") else ())
        return self._frame(q.select_tasks(self.id, hidden=hidden))

    def leases(self) -> pd.DataFrame:
        return self._frame(q.select_leases(self.id))

    def events(self) -> pd.DataFrame:
        """The audit log (claims are in :meth:`leases`, submits in :meth:`annotations`)."""
        return self._frame(q.select_events(self.id))

    # --- queue ---------------------------------------------------------------------
    def _member(self, name: str | None, *, role: str | None = None, call: str = "queue"
                ) -> str:
        """The annotator a queue is for: registered on first use; under team security the
        connected login role, which must already be a member of the project. With
        ``role`` (review and adjudication queues) the name must be registered already:
        registering a mistyped reviewer as a plain annotator helps no one."""
        sec = self.security
        if sec is not None and sec.definer:
            if name is None:
                name = sec.user
            if name != sec.user:
                raise PermissionDenied(
                    f"project {self.name!r} is open as database user {sec.user!r}; under team "
                    f"security {name!r} works through their own login. Fix: "
                    f"labelnb.open('postgresql://{name}@host/db', {self.name!r})")
            with self.store.read() as conn:
                known = q.get_annotator(conn, self.id, name) is not None
            if not known:
                raise AnnotatorNotFound(
                    f"database user {name!r} is not a member of project {self.name!r}. Fix: "
                    f"a lead runs: labelnb team add {name} --role annotator --project "
                    f"{self.name}")
            return name
        if name is None:
            raise ValidationError(f"project {self.name!r}: give the annotator's name, e.g. "
                                  f"project.{call}('ana') (it may be left out only under team "
                                  "security, where the login names the annotator)")
        if role is not None:
            _check_annotator_name(name)
            with self.store.read() as conn:
                known = q.get_annotator(conn, self.id, name) is not None
            if not known:
                how = ("" if role == "annotator" else ", role='reviewer'"
                       if role == "reviewer" else ", role='lead'")
                raise AnnotatorNotFound(
                    f"{name!r} is not an annotator of project {self.name!r}; "
                    + ("retraining tasks are queued for annotators calibrate() flagged; "
                       "check the name" if role == "annotator" else
                       f"add them first: project.annotators.add({name!r}{how})")
                    + (" (or qualifications=['expert'])" if role == "lead" else ""))
            return name
        self.annotators.ensure(name)
        return name

    @property
    def gold(self) -> Gold:
        """The gold questions: ``project.gold.add(items, answers)``, ``.score()`` (see
        :mod:`labelnb.team.gold`)."""
        from labelnb.team.gold import Gold

        return Gold(self)

    def queue(self, annotator: str | None = None, *, routing: RoutingPolicy | None = None
              ) -> Queue:
        """The annotation queue for one annotator (registered on first use). Under team
        security it is the connected user's own queue (``annotator`` may be left out)."""
        name = self._member(annotator)
        return Queue(self, name, stages=("annotate",), routing=routing)

    def review_queue(self, reviewer: str | None = None) -> Queue:
        """The review queue: reviewers, leads and senior annotators; never their own work."""
        return Queue(self, self._member(reviewer, role="reviewer", call="review_queue"),
                     stages=("review",))

    def adjudication_queue(self, expert: str | None = None) -> Queue:
        """The adjudication queue: items whose annotators found no majority (or whose
        consensus a reviewer rejected). For role ``lead`` or the ``expert`` qualification."""
        return Queue(self, self._member(expert, role="lead", call="adjudication_queue"),
                     stages=("adjudicate",))

    def consensus(self, method: Literal["majority", "dawid_skene"] = "majority", *,
                  agreement: Any = None, queue_tasks: bool = True) -> pd.DataFrame:
        """Final labels with their tier and confidence (see
        :mod:`labelnb.queue.consensus`): unanimous items are accepted, majority items are
        accepted and queued for review, items with no majority go to adjudication.
        Raw annotations are never overwritten; consensus labels are new annotations
        (``source="consensus"``). Idempotent."""
        from labelnb.queue.consensus import run_consensus

        return run_consensus(self, method=method, agreement=agreement,
                             queue_tasks=queue_tasks)

    def retraining_queue(self, annotator: str | None = None) -> Queue:
        """An annotator's retraining tasks (their recent mistakes against consensus,
        queued by :meth:`calibrate`): ``claim()`` then ``acknowledge()``."""
        return Queue(self, self._member(annotator, role="annotator", call="retraining_queue"),
                     stages=("retrain",))

    def calibrate(self, *, threshold: float = 0.90, window: int = 200, min_items: int = 5,
                  retrain: bool = True) -> pd.DataFrame:
        """Rolling accuracy against consensus per annotator and label class; it updates
        the profiles that routing reads, flags annotators below ``threshold`` and queues
        their retraining (see :mod:`labelnb.queue.calibration`)."""
        from labelnb.queue.calibration import calibrate

        return calibrate(self, threshold=threshold, window=window, min_items=min_items,
                         retrain=retrain)

    def escalate(self, policy: Any = None, *, model_version: str | None = None
                 ) -> pd.DataFrame:
        """Adaptive redundancy: accept items whose one human label a confident model
        agrees with; give the others more annotators (see
        :mod:`labelnb.queue.redundancy`). Returns each decision with its reason."""
        from labelnb.queue.redundancy import escalate

        return escalate(self, policy, model_version=model_version)

    def dashboard(self, **kw: Any) -> Any:
        """The team-lead dashboard (Panel), for display in a notebook; it refreshes
        itself every ``refresh_s`` seconds (``refresh_s=None``: never; ``top_n``: rows of
        the disagreement browser). ``labelnb dashboard DB`` serves the same page."""
        try:
            from labelnb.dashboard import show
        except ImportError as e:
            raise MissingExtra("panel", "dashboard", f"the dashboard ({e})") from None
        return show(self, **kw)

    def annotate(self, annotator: str | None = None, **kw: Any) -> Any:
        """The annotation widget bound to this project's queue (needs the widgets). Under
        team security it works as the connected login role (``annotator`` may be left
        out): open the project with your own role, e.g.
        ``labelnb.open("postgresql://ana@db/labels", "pets").annotate()``."""
        try:
            from labelnb.widgets import annotate as _annotate
        except ImportError as e:
            raise LabelnbError(f"the annotation widgets are not available: {e}") from None
        return _annotate(self, self._member(annotator, call="annotate"), **kw)

    def review(self, reviewer: str | None = None, **kw: Any) -> Any:
        """The review widget bound to this project's review queue (needs the widgets):
        approve, reject with feedback, or correct each annotation; never the reviewer's
        own work. ``mode="acknowledge"`` walks an annotator through their retraining
        queue instead (see :func:`labelnb.widgets.review.review`)."""
        try:
            from labelnb.widgets.review import review as _review
        except ImportError as e:
            raise LabelnbError(f"the annotation widgets are not available: {e}") from None
        role = "annotator" if kw.get("mode") == "acknowledge" else "reviewer"
        return _review(self, self._member(reviewer, role=role, call="review"), **kw)

    # --- difficulty and priority -----------------------------------------------------
    def set_difficulty(self, difficulty: Mapping[int, float], *, focus_label:
                       Mapping[int, str] | None = None) -> int:
        """Set the difficulty (0 easy .. 1 hard) of each item's unfinished annotate tasks,
        and re-prioritise; returns how many tasks changed."""
        n = 0
        difficulty = {_checked_id(i, "set_difficulty"): d for i, d in difficulty.items()}
        if focus_label:
            focus_label = {_checked_id(i, "set_difficulty: focus_label"): v
                           for i, v in focus_label.items()}
        with self.store.write() as conn:
            ids = list(difficulty)
            missing = sorted(set(ids) - q.existing_item_ids(conn, self.id, ids))
            if missing:
                raise ItemNotFound(f"set_difficulty: items {missing[:10]} are not in project "
                                   f"{self.name!r}; list ids with project.items()")
            plain: list[dict[str, Any]] = []
            focused: list[dict[str, Any]] = []
            for item_id, d in difficulty.items():
                vals: dict[str, Any] = {"item_id": int(item_id), "difficulty":
                                        _checked_difficulty(d, f"set_difficulty: item {item_id}")}
                if focus_label and item_id in focus_label:
                    vals["focus_label"] = focus_label[item_id]
                    focused.append(vals)
                else:
                    plain.append(vals)
            # the annotate tasks: difficulty routes labeling to the best annotators, and
            # must not keep reviewers or experts without a measured accuracy from review
            # and adjudication tasks (each item's own values; one executemany per kind)
            n += q.set_annotate_fields(conn, self.id, plain)
            n += q.set_annotate_fields(conn, self.id, focused)
        self.reprioritize()
        return n

    def difficulty_from_predictions(self, model_version: str | None = None) -> dict[int, float]:
        """Difficulty = 1 - the model's confidence (mean region score) per item; the
        most confident label becomes the task's ``focus_label``."""
        df = self.predictions()
        if df.empty:
            return {}
        if model_version is not None:
            df = df[df["model_version"] == model_version]
        diff: dict[int, float] = {}
        focus: dict[int, str] = {}
        # one pass over the rows, by item (a groupby's per-group frames cost more than
        # the work): per item its regions' scores, its rows' scores, its labels, in row
        # order, so the means are summed in the same order
        by_item: dict[int, tuple[list[Any], list[Any], list[Any]]] = {}
        for item_id, regs, score in zip(df["item_id"], df["regions"], df["score"],
                                        strict=True):
            region_scores, row_scores, labels = by_item.setdefault(int(item_id), ([], [], []))
            region_scores += [r.get("score") for r in regs if r.get("score") is not None]
            if score is not None and not _isna(score):
                row_scores.append(score)
            labels += [r["label"] for r in regs]
        for item_id in sorted(by_item):
            region_scores, row_scores, labels = by_item[item_id]
            scores = region_scores + row_scores
            if scores:
                diff[item_id] = float(1.0 - sum(scores) / len(scores))
            if labels:
                focus[item_id] = max(set(labels), key=labels.count)
        self.set_difficulty(diff, focus_label=focus)
        return diff

    def difficulty_from_disagreement(self) -> dict[int, float]:
        """Difficulty = 1 - the share of annotators who agree with the most common
        label set, per item with two or more annotators: their own (annotate-stage)
        labels, the newest of each, as consensus counts them; stored consensus labels,
        reviews' corrections and adjudications are no votes."""
        from labelnb.queue.consensus import latest_human

        diff: dict[int, float] = {}
        tasks = self.tasks()
        stages = (dict(zip(tasks["id"].astype(int), tasks["stage"], strict=True))
                  if len(tasks) else {})
        df = latest_human(self.annotations(), stages)
        if df.empty:
            return diff
        # one pass over the rows, by item (a groupby's per-group frames cost more)
        by_item: dict[int, list[tuple[Any, ...]]] = {}
        for item_id, labels in zip(df["item_id"], df["labels"], strict=True):
            by_item.setdefault(int(item_id), []).append(tuple(sorted(labels)))
        for item_id in sorted(by_item):
            keys = by_item[item_id]
            if len(keys) < 2:
                continue
            top = max(Counter(keys).values())
            diff[item_id] = round(1.0 - top / len(keys), 6)
        self.set_difficulty(diff)
        return diff

    def set_priority(self, item_ids: Sequence[int], priority: float) -> int:
        """Give the unfinished tasks of ``item_ids`` the base priority ``priority`` (the
        routing policy adds difficulty and deadline back on :meth:`reprioritize`);
        returns how many tasks changed."""
        if not item_ids:
            return 0
        priority = _checked_priority(priority, "set_priority")
        ids = [_checked_id(i, "set_priority") for i in item_ids]
        prio = self.routing.priority(difficulty=None, deadline=None, skill_supply=None,
                                     base=float(priority))
        with self._write() as conn:
            missing = sorted(set(ids) - q.existing_item_ids(conn, self.id, ids))
            if missing:
                raise ItemNotFound(f"set_priority: items {missing[:10]} are not in project "
                                   f"{self.name!r}; list ids with project.items()")
            return q.set_task_fields(conn, self.id, ids, base_priority=float(priority),
                                     priority=prio)

    def route_tasks(self, *, cancel: Sequence[int] = (), reopen: Sequence[int] = (),
                    new_tasks: Sequence[Mapping[str, Any]] = (),
                    review: Sequence[Annotation] = (),
                    events: Sequence[tuple[str, int | None, Mapping[str, Any]]] = (),
                    actor: str = "system") -> None:
        """Change the annotate tasks of items in one write: cancel those of ``cancel``,
        reopen those of ``reopen``, add ``new_tasks`` (task rows), queue a review task
        for each annotation in ``review`` and log ``events`` ((kind, item id, payload)).
        What :mod:`labelnb.prelabel.tiers` and other routers call; joins an open
        :meth:`atomic` block."""
        now = _now()
        with self._write() as conn:
            if cancel:
                q.set_task_fields(conn, self.id, list(cancel), status="cancelled")
            if reopen:
                q.set_task_fields(conn, self.id, list(reopen), status="open")
            q.insert_tasks(conn, [dict(t) for t in new_tasks])
            q.insert_tasks(conn, [dict(project_id=self.id, item_id=a.item_id, stage="review",
                                       slot=0, status="open", priority=0.0, base_priority=0.0,
                                       author=a.author, target_annotation_id=a.id,
                                       created_at=now, attempts=0) for a in review])
            for kind, item_id, payload in events:
                q.insert_event(conn, project_id=self.id, kind=kind, actor=actor, now=now,
                               item_id=item_id, payload=dict(payload))

    def log_event(self, kind: str, payload: Mapping[str, Any], *, actor: str = "system",
                  item_id: int | None = None) -> None:
        """Append one event to the project's audit log (:meth:`events`)."""
        if item_id is not None:
            item_id = _checked_id(item_id, f"log_event({kind!r})")
        with self._write() as conn:
            q.insert_event(conn, project_id=self.id, kind=kind, actor=actor, now=_now(),
                           item_id=item_id, payload=dict(payload))

    def reprioritize(self) -> None:
        """Recompute the stored priority of unfinished tasks from the routing policy."""
        with self.store.write() as conn:
            rows = q.open_task_rows(conn, self.id)
            supply_cache: dict[str, int] = {}
            upd = []
            for r in rows:
                sup = None
                if r.required_skill:
                    if r.required_skill not in supply_cache:
                        supply_cache[r.required_skill] = self.annotators.skill_supply(
                            r.required_skill)
                    sup = supply_cache[r.required_skill]
                upd.append({"tid": r.id, "prio": self.routing.priority(
                    difficulty=r.difficulty, deadline=r.deadline, skill_supply=sup,
                    base=float(r.base_priority or 0.0))})
            q.set_priorities(conn, upd)

    # --- reporting -----------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counts of items, tasks by stage and status, annotations by source, and
        per-annotator throughput."""
        now = _now()
        with self.store.read() as conn:
            items = q.item_counts(conn, self.id)
            tasks = q.task_status_counts(conn, self.id, now)
            anns = q.annotation_counts(conn, self.id)
            done_items = q.items_done(conn, self.id)
        total_items = sum(items.values())
        return {
            "project": self.name,
            "schema_version": self.schema_version,
            "items": total_items,
            "items_by_media": items,
            "items_done": done_items,
            "progress": round(done_items / total_items, 4) if total_items else 0.0,
            "tasks": tasks,
            "annotations": sum(anns.values()),
            "annotations_by_source": anns,
            "annotators": self.annotators.stats().to_dict("records"),
        }

    def _frame(self, stmt: Select[Any]) -> pd.DataFrame:
        with self.store.read() as conn, gc_paused():
            res = conn.execute(stmt)
            cols = list(res.keys())
            return pd.DataFrame([tuple(r) for r in res.fetchall()], columns=cols)


class Annotators:
    """Annotator profiles of a project: role, skills, qualifications, languages."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def add(self, name: str, *, role: Role = "annotator", skills: Mapping[str, float] | None
            = None, qualifications: Sequence[str] = (), languages: Sequence[str] = (),
            kinds: Sequence[str] = (), accuracy: float | None = None) -> AnnotatorProfile:
        """Register an annotator. Raises if the name is taken (use :meth:`update`)."""
        _check_annotator_name(name)
        vals = self._clean(name, role=role, skills=skills or {}, qualifications=qualifications,
                           languages=languages, kinds=kinds, accuracy=accuracy)
        now = _now()
        with self.project.store.write() as conn:
            if q.get_annotator(conn, self.project.id, name) is not None:
                raise ValidationError(f"annotator {name!r} already exists in project "
                                      f"{self.project.name!r}; use annotators.update(...)")
            try:
                with conn.begin_nested():
                    q.insert_annotator(conn, dict(project_id=self.project.id, name=name,
                                                  active=True, created_at=now, updated_at=now,
                                                  **vals))
            except IntegrityError:
                raise ValidationError(f"annotator {name!r} already exists in project "
                                      f"{self.project.name!r}; use annotators.update(...)"
                                      ) from None
            q.insert_event(conn, project_id=self.project.id, kind="annotator_added",
                           actor="system", now=now, payload={"name": name, "role": role})
        return self.profile(name)

    def ensure(self, name: str) -> AnnotatorProfile:
        """The profile, registering the name as a plain annotator if it is new."""
        _check_annotator_name(name)
        with self.project.store.read() as conn:
            row = q.get_annotator(conn, self.project.id, name)
        if row is not None:
            return self.profile(name)
        try:
            return self.add(name)
        except ValidationError:
            return self.profile(name)  # another process added it meanwhile

    def update(self, name: str, **fields: Any) -> AnnotatorProfile:
        """Change role, skills, qualifications, languages, kinds, accuracy or active."""
        allowed = {"role", "skills", "qualifications", "languages", "kinds", "accuracy", "active"}
        bad = set(fields) - allowed
        if bad:
            raise ValidationError(f"annotator {name!r}: unknown fields {sorted(bad)}; "
                                  f"known: {sorted(allowed)}")
        if self.project.security is not None and "role" in fields:
            # a role is a database privilege there: changed by an admin, audited
            from labelnb.team.roles import set_role

            set_role(self.project, name, fields["role"])
        cur = self.profile(name)
        merged: dict[str, Any] = dict(
            role=cur.role, skills=cur.skills, qualifications=cur.qualifications,
            languages=cur.languages, kinds=cur.kinds, accuracy=cur.accuracy)
        merged.update({k: v for k, v in fields.items() if k != "active"})
        vals = self._clean(name, **merged)
        if "active" in fields:
            vals["active"] = bool(fields["active"])
        now = _now()
        with self.project.store.write() as conn:
            q.update_annotator(conn, self.project.id, name, {**vals, "updated_at": now})
            extra: dict[str, Any] = {}
            if "active" in fields and not vals["active"]:
                # their open rework takes nobody else while reserved: anyone's now (a
                # deactivated annotator takes no tasks, and the item would never finish)
                extra["tasks_unreserved"] = q.unreserve_rework(conn, self.project.id, name)
            q.insert_event(conn, project_id=self.project.id, kind="annotator_updated",
                           actor="system", now=now,
                           payload={"name": name, **{k: _plain(v) for k, v in fields.items()},
                                    **extra})
        return self.profile(name)

    def _clean(self, name: str, *, role: str, skills: Mapping[str, float],
               qualifications: Sequence[str], languages: Sequence[str], kinds: Sequence[str],
               accuracy: float | None) -> dict[str, Any]:
        if role not in ROLES:
            raise ValidationError(f"annotator {name!r}: field 'role' is {role!r}; expected one "
                                  f"of {list(ROLES)}")
        sk = {}
        unknown = sorted(set(map(str, dict(skills))) - self._labels_ever()) if skills else []
        if unknown:  # a typo would only make routing ignore the skill
            raise ValidationError(
                f"annotator {name!r}: skills {unknown} name no label of project "
                f"{self.project.name!r} ({', '.join(self.project.schema.names)}); skills are "
                "accuracies per label class, e.g. skills={" + repr(self.project.schema.names[0])
                + ": 0.9}; a qualification such as 'medical' goes in qualifications=[...]")
        for label, acc in dict(skills).items():
            try:
                a = float(acc)
            except (TypeError, ValueError):
                raise ValidationError(f"annotator {name!r}: skills[{label!r}] = {acc!r} is not "
                                      "a number; give an accuracy in [0, 1]") from None
            if not 0.0 <= a <= 1.0:
                raise ValidationError(f"annotator {name!r}: skills[{label!r}] = {acc} must be "
                                      "an accuracy in [0, 1]")
            sk[str(label)] = a
        if accuracy is not None and not 0.0 <= float(accuracy) <= 1.0:
            raise ValidationError(f"annotator {name!r}: field 'accuracy' must lie in [0, 1]")
        for field_name, seq in (("qualifications", qualifications), ("languages", languages),
                                ("kinds", kinds)):
            if isinstance(seq, str):
                raise ValidationError(f"annotator {name!r}: field {field_name!r} must be a list "
                                      f"of strings, not the string {seq!r}")
        from labelnb.schema import KINDS

        if bad_kinds := sorted(set(map(str, kinds)) - set(KINDS)):
            raise ValidationError(f"annotator {name!r}: kinds {bad_kinds} are not schema kinds; "
                                  f"certified kinds are among {list(KINDS)}")
        return dict(role=role, skills=sk, qualifications=list(qualifications),
                    languages=list(languages), kinds=list(kinds),
                    accuracy=None if accuracy is None else float(accuracy))

    def _labels_ever(self) -> set[str]:
        """The labels of every schema version of the project (skills may name a label the
        current version dropped: calibration measured it)."""
        with self.project.store.read() as conn:
            rows = q.schema_versions(conn, self.project.id)
        out = set(self.project.schema.names)
        for r in rows:
            body = r.body if isinstance(r.body, dict) else {}
            out.update(str(c.get("name") if isinstance(c, dict) else c)
                       for c in body.get("labels", []))
        return out

    def profile(self, name: str) -> AnnotatorProfile:
        with self.project.store.read() as conn:
            row = q.get_annotator(conn, self.project.id, name)
            best = q.best_accuracy(conn, self.project.id)
        if row is None:
            raise AnnotatorNotFound(
                f"annotator {name!r} is not in project {self.project.name!r}; add them with "
                f"project.annotators.add({name!r})"
            )
        return _profile(row, best)

    def __getitem__(self, name: str) -> AnnotatorProfile:
        return self.profile(name)

    def table(self) -> pd.DataFrame:
        return self.project._frame(q.select_annotators(self.project.id))

    def skill_supply(self, skill: str) -> int:
        df = self.table()
        if df.empty:
            return 0
        return int(sum(1 for quals, act in zip(df["qualifications"], df["active"], strict=True)
                       if act and skill in quals))

    def stats(self) -> pd.DataFrame:
        """Per annotator: role, annotations, mean and total time per annotation, and
        review outcomes of their work."""
        with self.project.store.read() as conn:
            work = {r.author: r for r in q.annotator_work(conn, self.project.id)}
            revs = q.review_counts(conn, self.project.id)
        rev: dict[str, dict[str, int]] = {}
        for author, decision, n in cast("list[tuple[str, str, int]]", revs):
            rev.setdefault(author, {})[decision] = int(n)
        df = self.table()
        names = list(df["name"]) if not df.empty else []
        names += [a for a in work if a not in names]
        roles = dict(zip(df["name"], df["role"], strict=True)) if not df.empty else {}
        out = []
        for n in names:
            w = work.get(n)
            out.append({
                "annotator": n, "role": roles.get(n, "(external)"),
                "annotations": int(w.annotations) if w else 0,
                "mean_duration_s": (round(float(w.mean_duration_s), 3)
                                    if w and w.mean_duration_s is not None else None),
                "total_duration_s": (round(float(w.total_duration_s), 3)
                                     if w and w.total_duration_s is not None else None),
                "approved": rev.get(n, {}).get("approve", 0),
                "rejected": rev.get(n, {}).get("reject", 0),
                "corrected": rev.get(n, {}).get("correct", 0),
            })
        df = pd.DataFrame(out, columns=["annotator", "role", "annotations", "mean_duration_s",
                                        "total_duration_s", "approved", "rejected",
                                        "corrected"])
        for col in ("mean_duration_s", "total_duration_s"):  # None, not NaN (JSON-safe)
            df[col] = df[col].astype(object).where(df[col].notna(), None)
        return df

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return str(self.table()._repr_html_())  # type: ignore[operator]


def _profile(row: Any, team_best: float | None = None) -> AnnotatorProfile:
    return AnnotatorProfile(name=row.name, role=row.role, skills=dict(row.skills or {}),
                            qualifications=tuple(row.qualifications or ()),
                            languages=tuple(row.languages or ()), kinds=tuple(row.kinds or ()),
                            accuracy=row.accuracy, active=bool(row.active),
                            team_best_accuracy=team_best)


def _utc(dt: datetime | None) -> datetime | None:
    """A user's datetime in UTC; a naive one is taken as local time (as Python's
    ``astimezone`` does)."""
    if dt is None:
        return None
    return dt.astimezone(UTC)


def _isna(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _plain(v: Any) -> Any:
    """numpy / pandas scalars → JSON-able Python values."""
    if hasattr(v, "item") and not isinstance(v, list | dict | str):
        try:
            return v.item()
        except (ValueError, AttributeError):
            return v
    if isinstance(v, tuple):
        return list(v)
    return v


def _checked_id(v: Any, where: str, field: str = "item_id",
                fix: str = "give an item id, a whole number (see project.items()['id'])"
                ) -> int:
    """An id the caller gave (an item id, a schema version) as a Python ``int``: numpy
    and other integer types through ``operator.index`` (SQLite binds a numpy integer as a
    BLOB, which equals no stored id, so a filter would silently match nothing). A bool, a
    float (2.7 is no id, and truncating it would pick another item) or a string is
    refused, naming ``field`` and the fix."""
    if type(v) is int:
        return v
    if not isinstance(v, bool):
        try:
            return operator.index(v)
        except TypeError:
            pass
    raise ValidationError(f"{where}: {field}={v!r} is a {type(v).__name__}, not a whole "
                          f"number; {fix}")


def _checked_version(v: Any, where: str) -> int:
    return _checked_id(v, where, "schema_version",
                       "give a schema version, a whole number (see "
                       "project.schema_versions())")


def _checked_difficulty(d: Any, where: str) -> float:
    """A task difficulty: a number in [0, 1] (0 easy, 1 hard)."""
    if isinstance(d, bool) or not isinstance(d, numbers.Real):
        raise ValidationError(f"{where}: difficulty={d!r} is not a number; give 0 (easy) .. "
                              "1 (hard)")
    if not 0.0 <= float(d) <= 1.0:  # (NaN too)
        raise ValidationError(f"{where}: difficulty={d!r} must lie in [0, 1] (0 easy .. 1 hard)")
    return float(d)


def _checked_priority(priority: Any, where: str) -> float:
    """A base priority: a finite number (higher is served first)."""
    give = "give a finite number (higher is served first; ordinary tasks have 0)"
    if isinstance(priority, bool) or not isinstance(priority, numbers.Real):
        raise ValidationError(f"{where}: priority={priority!r} is not a number; {give}")
    if not math.isfinite(float(priority)):
        raise ValidationError(f"{where}: priority={priority!r} must be a finite number (NaN "
                              f"and infinity cannot be ordered); {give}")
    return float(priority)


def _task_fields(*, media: Any, difficulty: Any, priority: Any, required_skill: Any,
                 language: Any, deadline: Any) -> tuple[float | None, float, datetime | None]:
    """add_items' routing arguments, checked as set_difficulty and set_priority check
    them (a NaN priority would jump the queue on PostgreSQL and fail on SQLite):
    ``(difficulty, priority, deadline as UTC)``."""
    if media not in (None, "image", "text"):
        raise ValidationError(f"add_items: media={media!r}; give 'image', 'text' or leave it "
                              "out (it is found from each item)")
    for name, v in (("required_skill", required_skill), ("language", language)):
        if v is not None and not isinstance(v, str):
            raise ValidationError(f"add_items: {name}={v!r} is a {type(v).__name__}; give one "
                                  "name as text (a task needs one skill / language)")
    if difficulty is not None:
        difficulty = _checked_difficulty(difficulty, "add_items")
    priority = _checked_priority(priority, "add_items")
    if deadline is pd.NaT or (isinstance(deadline, np.datetime64) and np.isnat(deadline)):
        deadline = None  # pandas' missing time: no deadline
    if isinstance(deadline, pd.Timestamp):
        # a plain datetime (a naive one stays naive: local time, as a datetime is read)
        deadline = deadline.to_pydatetime()
    if deadline is not None:
        if isinstance(deadline, str):
            try:
                deadline = datetime.fromisoformat(deadline)
            except ValueError:
                raise ValidationError(f"add_items: deadline={deadline!r} is not an ISO time "
                                      "('2030-01-31T18:00+00:00') or a datetime") from None
        elif isinstance(deadline, date) and not isinstance(deadline, datetime):
            deadline = datetime(deadline.year, deadline.month, deadline.day)
        if not isinstance(deadline, datetime):
            raise ValidationError(f"add_items: deadline={deadline!r} is a "
                                  f"{type(deadline).__name__}; give a datetime")
        deadline = _utc(deadline)  # stored as UTC (a naive datetime is local time)
    return difficulty, priority, deadline


def _json_meta(meta: Mapping[str, Any], where: str) -> dict[str, Any]:
    """An item's ``meta`` as JSON both databases store alike: numpy and pandas values as
    Python ones, a missing value (NaN, NA, NaT) as null, a time as ISO text; a value
    JSON cannot carry (infinity, bytes, a NUL character, an object) is refused naming the
    item and the key."""
    def conv(v: Any, key: str) -> Any:
        if v is None or isinstance(v, bool | int | str):
            if isinstance(v, str) and (bad := unstorable(v)) is not None:
                raise ValidationError(f"{where}: meta key {key!r} {bad}")
            return v
        if isinstance(v, Mapping):
            return {str(k): conv(x, f"{key}.{k}") for k, x in v.items()}
        if isinstance(v, list | tuple | set | frozenset) or (
                isinstance(v, np.ndarray) and v.ndim > 0):
            return [conv(x, f"{key}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, datetime | date | pd.Timestamp):
            return None if pd.isna(v) else v.isoformat()
        try:
            if pd.isna(v):
                return None
        except (TypeError, ValueError):
            pass
        v = _plain(v)
        if isinstance(v, bool | int | str):
            return conv(v, key)
        if isinstance(v, float):
            if not math.isfinite(v):
                raise ValidationError(f"{where}: meta key {key!r} is {v}, which JSON cannot "
                                      "carry; give a finite number or None")
            return v
        if isinstance(v, Decimal):
            return conv(float(v), key)
        raise ValidationError(f"{where}: meta key {key!r} is a {type(v).__name__} ({v!r:.60}), "
                              "which cannot be stored as JSON; give text, a number, a list or "
                              "a dict")
    return {str(k): conv(v, str(k)) for k, v in meta.items()}


def _show_progress(progress: bool | None, n: int) -> bool:
    """Whether add_items shows its progress bars: as asked, else for large batches."""
    return progress if progress is not None else n >= _PROGRESS_MIN


def _checked_text(text: str, where: str) -> str:
    """``text`` if it can be an item's text: something to label, storable as it is."""
    if (bad := text_problem(text)) is not None:
        raise ValidationError(f"{where}: field 'text' {bad}")
    return text


def _check_annotator_name(name: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"annotator: field 'name' is {name!r}; give a non-empty name")
    if (bad := unstorable(name)) is not None:
        raise ValidationError(f"annotator {name!r}: field 'name' {bad}")
    if name == "consensus":  # the author of every consensus annotation
        raise ValidationError("annotator 'consensus': the name is labelnb's own (the author "
                              "of consensus annotations); pick another")


def _checked_settings(project: str, settings: dict[str, Any]) -> dict[str, Any]:
    """``overlap``, ``lease_ttl_s`` and ``review_fraction`` of ``settings`` (those given)
    checked and converted; a bad value raises ValidationError naming the field and the
    fix (a project with overlap 0 would make items without tasks, and a negative lease
    TTL leases that are over before they start)."""
    out: dict[str, Any] = {}

    def number(field: str) -> float:
        v = settings[field]
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValidationError(f"project {project!r}: field {field!r} is {v!r}; give a "
                                  "number")
        return float(v)

    if "overlap" in settings:
        v = number("overlap")
        if v != int(v) or v < 1:
            raise ValidationError(f"project {project!r}: field 'overlap' is "
                                  f"{settings['overlap']!r}; give how many annotators label "
                                  "each item, a whole number >= 1")
        out["overlap"] = int(v)
    if "lease_ttl_s" in settings:
        out["lease_ttl_s"] = number("lease_ttl_s")
        if out["lease_ttl_s"] <= 0:
            raise ValidationError(f"project {project!r}: field 'lease_ttl_s' is "
                                  f"{settings['lease_ttl_s']!r}; give the seconds a lease "
                                  "lasts without a heartbeat, > 0 (default 600)")
    if "review_fraction" in settings:
        out["review_fraction"] = number("review_fraction")
        if not 0.0 <= out["review_fraction"] <= 1.0:
            raise ValidationError(f"project {project!r}: field 'review_fraction' is "
                                  f"{settings['review_fraction']!r}; give the share of "
                                  "submitted annotations that get a review task, in [0, 1]")
    return out


_ROUTING_FIX = ("give DefaultRouting(...) or NoRouting() (from labelnb.queue.routing), or "
                "their JSON, e.g. {'policy': 'default', 'hard_threshold': 0.8}")


def _routing_policy(project: str, data: Any) -> RoutingPolicy:
    """The routing policy of a project's ``routing`` setting (the JSON of a policy), or a
    ValidationError that names the setting, what is wrong and the fix: a misspelt key, a
    value of the wrong type or a policy name labelnb does not know would otherwise fail
    later, in every claim or when the project is opened."""
    from dataclasses import fields

    if data is not None and not isinstance(data, Mapping):
        raise ValidationError(f"project {project!r}: field 'routing' is {data!r:.80}; "
                              f"{_ROUTING_FIX}")
    known = [f.name for f in fields(DefaultRouting)]
    try:
        policy = policy_from_json(dict(data) if data else None)
    except TypeError as e:
        unknown = sorted(set(map(str, data or {})) - set(known) - {"policy"})
        raise ValidationError(
            f"project {project!r}: field 'routing' "
            + (f"has unknown keys {unknown}; known: {known}" if unknown else f"is invalid ({e})")
            + f"; {_ROUTING_FIX}") from None
    except ValidationError as e:
        raise ValidationError(f"project {project!r}: "
                              f"{str(e).removeprefix('project settings: ')}") from None
    if isinstance(policy, DefaultRouting):
        for f in fields(DefaultRouting):
            v = getattr(policy, f.name)
            if f.name == "require_certified_kind":
                if not isinstance(v, bool):
                    raise ValidationError(f"project {project!r}: field 'routing' key "
                                          f"'require_certified_kind' is {v!r}; give True or "
                                          "False")
            elif (isinstance(v, bool) or not isinstance(v, numbers.Real)
                  or not math.isfinite(float(v))):
                raise ValidationError(f"project {project!r}: field 'routing' key {f.name!r} "
                                      f"is {v!r}; give a finite number (default "
                                      f"{f.default!r})")
    return policy


def _checked_routing(project: str, value: Any) -> dict[str, Any]:
    """``configure(routing=...)``: a policy object or its JSON, checked (see
    :func:`_routing_policy`), as it is stored."""
    if isinstance(value, RoutingPolicy) and not isinstance(value, Mapping):
        data = value.to_json()
    elif isinstance(value, Mapping):
        data = dict(value)
    else:
        raise ValidationError(f"project {project!r}: field 'routing' is {value!r:.80}; "
                              f"{_ROUTING_FIX}")
    policy = _routing_policy(project, data)
    return {k: _plain(v) for k, v in policy.to_json().items()}


def _checked_agreement(project: str, value: Any) -> dict[str, Any]:
    """``configure(agreement=...)``: the consensus thresholds (a dict or an
    :class:`~labelnb.metrics.tiers.Agreement`), checked as consensus will read them."""
    from dataclasses import asdict, fields

    from labelnb.metrics.tiers import Agreement

    fix = ("give a dict of consensus thresholds, e.g. {'iou': 0.5, 'dice': 0.8, 'spans': "
           "'exact'} (or a labelnb.metrics.tiers.Agreement)")
    if isinstance(value, Agreement):
        return asdict(value)
    if not isinstance(value, Mapping):
        raise ValidationError(f"project {project!r}: field 'agreement' is {value!r:.80}; "
                              f"{fix}")
    d = {str(k): _plain(v) for k, v in value.items()}
    known = [f.name for f in fields(Agreement)]
    if unknown := sorted(set(d) - set(known)):
        raise ValidationError(f"project {project!r}: field 'agreement' has unknown keys "
                              f"{unknown}; known: {known}; {fix}")
    for k in ("iou", "dice"):
        if k in d:
            v = d[k]
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise ValidationError(f"project {project!r}: field 'agreement' key {k!r} is "
                                      f"{v!r}; give a number in (0, 1]")
            d[k] = float(v)
    try:
        Agreement(**d)
    except ValidationError as e:
        raise ValidationError(f"project {project!r}: field 'agreement': {e}") from None
    return d


def _checked_machine_tiers(project: str, value: Any) -> dict[str, Any]:
    """``configure(machine_tiers=...)``: checked as :mod:`labelnb.prelabel.tiers` reads
    them."""
    from labelnb.prelabel.tiers import MachineTiers

    if isinstance(value, MachineTiers):
        return value.to_json()
    if not isinstance(value, Mapping):
        raise ValidationError(f"project {project!r}: field 'machine_tiers' is {value!r:.80}; "
                              "give a dict such as {'high': 0.95, 'low': 0.7, "
                              "'consensus_overlap': 3} (or a MachineTiers)")
    d = {str(k): _plain(v) for k, v in value.items()}
    try:
        MachineTiers.from_json(d)
    except (ValidationError, TypeError, ValueError) as e:
        raise ValidationError(f"project {project!r}: field 'machine_tiers': {e}") from None
    return d


def _path_shaped(s: str) -> bool:
    """Whether ``s`` has the shape of a path or glob, spaces allowed (``photos/my
    cat.png``, ``~/scans``, ``my cat.png``, ``*.jpg``): what a project that labels no
    text takes as one. A sentence without a folder, extension or wildcard is not (it is
    refused as a text, with that reason)."""
    s = s.strip()
    ext = os.path.splitext(s)[1]
    return ("/" in s or os.sep in s or s.startswith("~") or media_mod.has_glob(s)
            or (len(ext) > 1 and ext[1:].isalnum()))


def _looks_like_path(s: str) -> bool:
    return (("/" in s or os.sep in s) and " " not in s.strip()) or (
        os.path.splitext(s)[1].lower() in media_mod.IMAGE_EXTS and " " not in s)


def _sqlite_path(url_or_path: str | os.PathLike[str]) -> str | None:
    """The SQLite file of a path or ``sqlite:`` URL (URL escapes decoded), else None."""
    from labelnb.queue.store import sqlite_file

    return sqlite_file(url_or_path)


def projects(url_or_path: str | os.PathLike[str]) -> list[str]:
    """The names of the projects in a database."""
    path = _sqlite_path(url_or_path)
    if path is not None and not os.path.exists(path):
        return []
    try:
        store = Store(url_or_path, create=False)  # a read: nothing is created
    except ProjectNotFound:
        return []
    try:
        with store.read() as conn:
            return q.list_project_names(conn)
    finally:
        store.dispose()


def open(url_or_path: str | os.PathLike[str], name: str | None = None) -> Project:  # noqa: A001
    """Open a project; ``name`` may be left out when the database holds one."""
    return Project.open(url_or_path, name)

