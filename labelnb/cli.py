"""The ``labelnb`` command line.

::

    labelnb init labels.db --name pets --kind boxes --labels cat,dog
    labelnb add labels.db --name pets 'photos/*.jpg'
    labelnb add labels.db --name reviews --text "great film" "dull plot"
    labelnb status labels.db [--name pets] [--json]
    labelnb import labels.db --name pets --format coco annotations.json [--images DIR]
    labelnb annotators labels.db --name pets add ana --role annotator --skills cat=0.9
    labelnb annotators labels.db --name pets list
    labelnb migrate labels.db
    labelnb demo [--dir demo-project] [--no-browser] [--port 8888]
    labelnb dashboard labels.db [--name pets] [--port 5006] [--no-show]
    labelnb team init --db postgresql://owner@host/labels --project pets
    labelnb team add ana --role annotator --db postgresql://owner@host/labels --project pets
    labelnb team list|role|remove|delete-annotation ... --db URL --project pets
    labelnb audit postgresql://owner@host/labels --name pets [--user ana] [--since 2026-11-01]

``DB`` is a SQLite file path or a ``postgresql://host/dbname`` URL (best without a
password: libpq reads ``PG*`` variables, ``~/.pgpass`` and ``pg_service.conf``; a
password given anyway is never printed). User errors print ``error: <message>`` on
stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelnb.errors import LabelnbError, ProjectNotFound, StoreError, ValidationError

if TYPE_CHECKING:
    from labelnb.schema import Kind, Schema

EXIT_USER_ERROR = 2
TASK_STATUSES = ("open", "leased", "expired", "done", "cancelled")
TASK_STAGES = ("annotate", "review", "adjudicate")


# --- helpers ------------------------------------------------------------------------
def _is_url(db: str) -> bool:
    return "://" in db


def _shown(db: str) -> str:
    """A database as it may be printed: a URL's password hidden."""
    if not _is_url(db):
        return db
    from labelnb.team.credentials import safe_url

    return safe_url(db)


def _check_db_exists(db: str) -> None:
    """Refuse a SQLite file (a path or a ``sqlite:///`` URL) that does not exist: a typo
    would create a stray file."""
    from labelnb.queue.store import sqlite_file

    path = sqlite_file(db)
    if path is not None and not Path(path).exists():
        shown = db if not _is_url(db) else path
        raise StoreError(f"database file {shown!r} does not exist; create a project in it with "
                         "'labelnb init DB --name NAME --kind KIND --labels a,b'")


def _project_names(db: str) -> list[str]:
    import labelnb

    return labelnb.projects(db)


def _open(db: str, name: str | None) -> Any:
    """Open one project; with no ``--name`` the database must hold exactly one."""
    import labelnb

    _check_db_exists(db)
    if name is None:
        names = _project_names(db)
        if len(names) != 1:
            if not names:
                raise ProjectNotFound(f"database {db!r} holds no project; create one with "
                                      "'labelnb init'")
            raise ProjectNotFound(f"database {db!r} holds {len(names)} projects "
                                  f"({', '.join(names)}); pick one with --name")
        name = names[0]
    return labelnb.open(db, name=name)


def _port(value: str) -> int:
    """argparse type of --port: a TCP port number, 0..65535 (0: any free port)."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number; give one in "
                                         "0..65535, e.g. 5006") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number; give one in "
                                         "0..65535, e.g. 5006")
    return port


def _split(value: str | None) -> list[str]:
    if value is None:
        return []
    return [v.strip() for v in value.split(",") if v.strip()]


def _parse_skills(value: str | None) -> dict[str, float] | None:
    if value is None:
        return None
    skills: dict[str, float] = {}
    for part in _split(value):
        label, sep, acc = part.partition("=")
        try:
            if not sep or not label.strip():
                raise ValueError
            skills[label.strip()] = float(acc)
        except ValueError:
            raise ValidationError(f"--skills: {part!r} is not LABEL=ACCURACY (e.g. "
                                  "--skills cat=0.9,dog=0.7)") from None
    return skills


def _plain(value: Any) -> Any:
    """JSON-safe: NaN → None, numpy scalars → Python, containers recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _fmt(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return ",".join(f"{k}={_fmt(v)}" for k, v in value.items()) or "-"
    return str(value)


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], indent: str = "") -> str:
    """Aligned text columns: numbers right-aligned, everything else left-aligned."""
    cells = [[_fmt(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, r, strict=True)]
    out = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for r in cells:
        out.append(indent + "  ".join(c.rjust(w) if _numeric(c) else c.ljust(w)
                                      for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(out)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip().lower() not in ("nan", "inf", "-inf", "infinity")


def _print_json(data: Any) -> None:
    print(json.dumps(_plain(data), indent=2, ensure_ascii=False))


# --- init ---------------------------------------------------------------------------
def _project_before(db: str, name: str) -> tuple[dict[str, Any], Schema | None]:
    """The settings and schema of project ``name`` in ``db`` if both exist (else none)."""
    import labelnb
    from labelnb.errors import ProjectNotFound

    try:
        project = labelnb.open(db, name=name)
    except ProjectNotFound:
        return {}, None
    try:
        return dict(project.settings), project.schema
    finally:
        project.close()


def _init_schema(kind: Kind, labels: list[str], old: Schema | None) -> Schema:
    """The schema ``init`` gives. For an existing project of this kind (--exist-ok): its
    own schema when the label names are the same, so colours, hotkeys, descriptions,
    attributes and instructions stay; else one built from it, in which the labels that
    stay keep their details and a new label gets a colour none of them has."""
    from labelnb.schema import PALETTE, LabelClass, Schema

    if old is None or old.kind != kind:  # (a changed kind is refused by create)
        return Schema(kind, labels)
    if labels == old.names:
        return old
    taken = {old[n].color for n in labels if n in old}
    free = iter([c for c in PALETTE if c not in taken])
    return Schema(kind, [old[n] if n in old else LabelClass(n, color=next(free, None))
                         for n in labels], old.attributes, old.instructions)


def cmd_init(args: argparse.Namespace) -> int:
    import labelnb

    labels = _split(args.labels)
    if not labels:
        raise ValidationError("--labels is empty; give the classes as a comma-separated list, "
                              "e.g. --labels cat,dog")
    # the settings given on this command line (the others keep their defaults, or an
    # existing project's values)
    given = {k: v for k, v in (("overlap", args.overlap), ("lease_ttl_s", args.lease_ttl),
                               ("review_fraction", args.review_fraction)) if v is not None}
    before, schema = _project_before(args.db, args.name) if args.exist_ok else ({}, None)
    project = labelnb.Project.create(  # with --exist-ok, applies the given settings
        args.db, args.name, _init_schema(args.kind, labels, schema), exist_ok=args.exist_ok,
        **given)
    try:
        old = {k: before[k] for k in given if k in before}
        changed = {k: project.settings[k] for k in old if old[k] != project.settings[k]}
        if changed:  # --exist-ok on a project made with other settings
            print("changed " + ", ".join(f"{k} {old[k]:g} -> {v:g}" for k, v in changed.items())
                  + (" (overlap: for items added from now on)" if "overlap" in changed else ""))
        print(f"project {project.name!r} ({project.schema.kind}: "
              f"{', '.join(project.schema.names)}) in {_shown(args.db)}; schema v"
              f"{project.schema_version}, overlap {project.settings['overlap']}, "
              f"review fraction {project.settings['review_fraction']:g}")
    finally:
        project.close()
    return 0


# --- add ----------------------------------------------------------------------------
def _read_item_file(path: str) -> list[str]:
    try:
        # one item a line, lines ending at "\n" ("\r\n" too): not splitlines(), which also
        # cuts at U+2028, U+0085 and other characters a text may hold
        # a leading byte-order mark (Windows editors write one) is not part of the
        # first item: kept, it would shift span offsets and make a duplicate text
        if path == "-":
            lines = sys.stdin.read().removeprefix("\ufeff").split("\n")
        else:
            lines = Path(path).expanduser().read_text(encoding="utf-8-sig").split("\n")
    except FileNotFoundError:
        raise ValidationError(f"--from-file {path!r}: the file does not exist") from None
    except UnicodeDecodeError:
        raise ValidationError(f"--from-file {path!r}: not a UTF-8 text file (one item per "
                              "line)") from None
    return [ln.strip() for ln in lines if ln.strip()]


def cmd_add(args: argparse.Namespace) -> int:
    from labelnb import media

    raw: list[str] = list(args.items)
    if args.from_file:
        raw += _read_item_file(args.from_file)
    if not raw:
        raise ValidationError("no items given; pass paths, globs, folders or URLs (or texts "
                              "with --text), or --from-file FILE")
    items: list[Any]
    if args.text:
        items, kind = raw, "text"
    else:
        for a in raw:
            if not (media.is_uri(a) or media.has_glob(a) or Path(a).expanduser().exists()):
                raise ValidationError(f"item {a!r}: no such file, folder or URL; fix the path "
                                      "(or pass --text to add it as a text)")
        # dicts, so a path is never mistaken for a text (text-only projects do that)
        items, kind = [{"uri": a} for a in raw], None
    project = _open(args.db, args.name)
    try:
        before = _item_total(project)
        ids = project.add_items(items, media=kind, group=args.group, progress=args.progress)
        after = _item_total(project)
        new = after - before
        # an item given twice in this batch (a file and a glob that matches it) is one
        # item: not "already there"
        there = max(len(set(ids)) - new, 0)
        repeats = len(ids) - len(set(ids))
        notes = ([f"{there} already there"] if there else []) + (
            [f"{repeats} given more than once"] if repeats else [])
        print(f"added {new} new item{'s' if new != 1 else ''} to {project.name!r}"
              + (f" ({', '.join(notes)})" if notes else "") + f"; {after} items in all")
    finally:
        project.close()
    return 0


def _item_total(project: Any) -> int:
    """How many items the project holds: one COUNT, not a load of every item (the
    items table of a large project takes seconds to read)."""
    from labelnb.queue import queries as q

    with project.store.read() as conn:
        return q.item_total(conn, project.id)


# --- status -------------------------------------------------------------------------
def project_status(project: Any) -> dict[str, Any]:
    """``project.stats()`` plus the schema, the settings and the pre-label count."""
    stats = project.stats()
    preds = project.predictions()
    return {
        "project": stats.pop("project"),
        "kind": project.schema.kind,
        "labels": list(project.schema.names),
        "settings": {k: project.settings[k] for k in ("overlap", "review_fraction",
                                                      "lease_ttl_s")},
        **stats,
        "predictions": int(len(preds)),
    }


def render_status(st: dict[str, Any]) -> str:
    s = st["settings"]
    by_media = ", ".join(f"{k} {v}" for k, v in sorted(st["items_by_media"].items()))
    lines = [
        f"project {st['project']!r}: {st['kind']}, schema v{st['schema_version']} "
        f"({', '.join(st['labels'])})",
        f"  settings     overlap {s['overlap']}, review fraction {s['review_fraction']:g}, "
        f"lease {s['lease_ttl_s']:g} s",
        f"  items        {st['items']}" + (f" ({by_media})" if by_media else ""),
        f"  progress     {st['items_done']} of {st['items']} items done "
        f"({100 * st['progress']:.1f}%)",
        f"  predictions  {st['predictions']}",
        f"  annotations  {st['annotations']}" + (" (" + ", ".join(
            f"{k} {v}" for k, v in sorted(st["annotations_by_source"].items())) + ")"
            if st["annotations_by_source"] else ""),
    ]
    counts: dict[str, dict[str, int]] = {}
    for key, n in st["tasks"].items():
        stage, _, status = key.partition(":")
        counts.setdefault(stage, {})[status] = int(n)
    lines.append("")
    if counts:
        statuses = [x for x in TASK_STATUSES if any(x in c for c in counts.values())]
        statuses += sorted({x for c in counts.values() for x in c} - set(statuses))
        stages = [x for x in TASK_STAGES if x in counts] + sorted(set(counts) - set(TASK_STAGES))
        lines.append("  tasks")
        lines.append(format_table(["stage", *statuses, "total"],
                                  [[stage, *(counts[stage].get(x, 0) for x in statuses),
                                    sum(counts[stage].values())] for stage in stages],
                                  indent="    "))
    else:
        lines.append("  tasks        none (add items with 'labelnb add')")
    if st["annotators"]:
        lines.append("")
        lines.append("  annotators")
        lines.append(format_table(
            ["name", "role", "annotations", "mean_s", "approved", "rejected", "corrected"],
            [[a["annotator"], a["role"], a["annotations"], a["mean_duration_s"],
              a["approved"], a["rejected"], a["corrected"]] for a in st["annotators"]],
            indent="    "))
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    import labelnb

    if args.name is not None:
        names = [args.name]
        _check_db_exists(args.db)
    else:
        _check_db_exists(args.db)
        names = _project_names(args.db)
        if not names:
            raise ProjectNotFound(f"database {args.db!r} holds no project; create one with "
                                  "'labelnb init'")
    out = []
    for name in names:
        project = labelnb.open(args.db, name=name)
        try:
            out.append(project_status(project))
        finally:
            project.close()
    if args.json:
        _print_json(out[0] if args.name is not None else out)
    else:
        print("\n\n".join(render_status(st) for st in out))
    return 0


# --- export -------------------------------------------------------------------------
def _parse_split(spec: str | None) -> dict[str, float] | None:
    if not spec:
        return None
    out: dict[str, float] = {}
    for part in spec.split(","):
        name, _, frac = part.partition("=")
        try:
            out[name.strip()] = float(frac)
        except ValueError:
            raise ValidationError(
                f"--split {spec!r}: {part!r} is not NAME=FRACTION; write e.g. "
                "train=0.8,val=0.1,test=0.1"
            ) from None
    return out


def cmd_export(args: argparse.Namespace) -> int:
    import labelnb

    project = _open(args.db, args.name)
    try:
        report = labelnb.export(project, args.format, args.out, policy=args.policy,
                                human_only=args.human_only, split=_parse_split(args.split),
                                seed=args.seed, overwrite=args.overwrite,
                                progress=args.progress)
    finally:
        project.close()
    print(report)
    _print_warnings(report.warnings)
    return 0


def _print_warnings(warnings: list[str]) -> None:
    """An export's or import's warnings under its summary line (the first 20)."""
    for w in warnings[:20]:
        print(f"  warning: {w}")
    if len(warnings) > 20:
        print(f"  ... and {len(warnings) - 20} more warnings")


# --- import -------------------------------------------------------------------------
def _parse_label_map(spec: str | None) -> dict[str, str | None] | None:
    if not spec:
        return None
    out: dict[str, str | None] = {}
    for part in spec.split(","):
        old, eq, new = part.partition("=")
        if not eq or not old.strip():
            raise ValidationError(
                f"--label-map {spec!r}: {part!r} is not OLD=NEW; write e.g. "
                "automobile=car,junk= (an empty NEW drops the label)"
            )
        out[old.strip()] = new.strip() or None
    return out


def cmd_import(args: argparse.Namespace) -> int:
    from labelnb.formats.importer import import_dataset

    project = _open(args.db, args.name)
    options: dict[str, Any] = {}
    if args.offsets is not None:
        options["offsets"] = args.offsets
    try:
        report = import_dataset(project, args.format, args.path, images=args.images,
                                label_map=_parse_label_map(args.label_map),
                                as_predictions=args.as_predictions,
                                model_version=args.model_version,
                                box_policy=args.box_policy, progress=args.progress,
                                options=options or None)
    finally:
        project.close()
    print(report)
    _print_warnings(report.warnings)
    return 0


# --- annotators ---------------------------------------------------------------------
def _annotator_fields(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if args.role is not None:
        fields["role"] = args.role
    if args.skills is not None:
        fields["skills"] = _parse_skills(args.skills)
    for key in ("qualifications", "languages", "kinds"):
        value = getattr(args, key)
        if value is not None:
            fields[key] = _split(value)
    if args.accuracy is not None:
        fields["accuracy"] = args.accuracy
    if getattr(args, "active", None) is not None:
        fields["active"] = args.active
    return fields


def cmd_annotators(args: argparse.Namespace) -> int:
    project = _open(args.db, args.name)
    try:
        if args.action == "list":
            table = project.annotators.table()
            work = project.annotators.stats()
            done = dict(zip(work["annotator"], work["annotations"], strict=True))
            rows = [] if table.empty else [
                {"name": r["name"], "role": r["role"], "active": bool(r["active"]),
                 "annotations": int(done.get(r["name"], 0)), "skills": r["skills"] or {},
                 "qualifications": r["qualifications"] or [], "languages": r["languages"] or [],
                 "kinds": r["kinds"] or [], "accuracy": r["accuracy"]}
                for r in table.to_dict("records")]
            if args.json:
                _print_json(rows)
            elif not rows:
                print(f"project {project.name!r} has no annotators yet; add one with "
                      "'labelnb annotators DB add NAME --role annotator'")
            else:
                cols = ["name", "role", "active", "annotations", "skills", "qualifications",
                        "languages"]
                print(format_table(cols, [[r[c] if c != "active" else
                                           ("yes" if r[c] else "no") for c in cols]
                                          for r in rows]))
        elif args.action == "add":
            fields = _annotator_fields(args)
            prof = project.annotators.add(args.annotator, **fields)
            print(f"added {prof.role} {prof.name!r} to project {project.name!r}")
        else:
            fields = _annotator_fields(args)
            if not fields:
                raise ValidationError("annotators update: nothing to change; pass --role, "
                                      "--skills, --qualifications, --languages, --kinds, "
                                      "--accuracy, --active or --inactive")
            prof = project.annotators.update(args.annotator, **fields)
            print(f"updated {prof.name!r} in project {project.name!r}: "
                  + ", ".join(f"{k}={_fmt(v)}" for k, v in fields.items()))
    finally:
        project.close()
    return 0


# --- migrate ------------------------------------------------------------------------
def cmd_migrate(args: argparse.Namespace) -> int:
    from alembic.script import ScriptDirectory

    from labelnb.errors import DatabaseTooNew
    from labelnb.queue import migrate
    from labelnb.queue.store import Store

    _check_db_exists(args.db)  # a typo would make a new, empty database "migrated"
    store = Store(args.db, migrate=False)
    try:
        if not store.has_labelnb_tables() and (others := store.table_names()):
            # another application's database: migrating would install labelnb's tables
            raise ProjectNotFound(
                f"database {_shown(args.db)} holds no labelnb tables (its tables are "
                f"another application's: {others[:8]}); nothing was changed. Check the "
                "path or URL, or create a labelnb project there with 'labelnb init DB "
                "--name NAME --kind KIND --labels a,b'")
        store.prepare_sqlite()  # labelnb's own database (or an empty one): WAL
        before = migrate.current_revision(store)
        head = migrate.head_revision()
        if before == head:
            print(f"database {_shown(args.db)}: schema revision {head} is current; nothing "
                  "to do")
            return 0
        script = ScriptDirectory.from_config(migrate.alembic_config())
        if before is not None and before not in {s.revision for s in script.walk_revisions()}:
            raise DatabaseTooNew(
                f"database {args.db!r} has schema revision {before!r}, written by a newer "
                f"labelnb than this one (which knows up to {head!r}). Fix: upgrade labelnb")
        migrate.upgrade(store)
        after = migrate.current_revision(store)
        print(f"database {_shown(args.db)}: migrated schema revision {before or '(empty)'} "
              f"-> {after}")
    finally:
        store.dispose()
    return 0


# --- demo ---------------------------------------------------------------------------
def _find_notebook() -> Path | None:
    rel = Path("notebooks") / "01_quickstart.ipynb"
    for root in (Path.cwd(), Path(__file__).resolve().parent.parent):
        if (root / rel).is_file():
            return root / rel
    return None


def _launch_lab(db: Path, port: int | None) -> int:
    from labelnb.errors import MissingExtra

    if importlib.util.find_spec("jupyterlab") is None:
        raise MissingExtra("jupyterlab", "dev", "'labelnb demo' (or pass --no-browser)")
    nb = _find_notebook()
    cmd = [sys.executable, "-m", "jupyter", "lab"]
    if nb is not None:
        cwd = nb.parent.parent
        cmd.append(str(nb.relative_to(cwd)))
    else:
        cwd = db.parent
    if port is not None:
        cmd.append(f"--port={port}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers: Jupyter refuses root
        cmd.append("--allow-root")
    env = {**os.environ, "LABELNB_DEMO_DB": str(db)}
    print(f"starting JupyterLab ({' '.join(cmd[2:])}) in {cwd} with LABELNB_DEMO_DB={db}",
          flush=True)
    proc = subprocess.Popen(cmd, cwd=cwd, env=env)
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:  # JupyterLab asks for confirmation itself
            continue


def cmd_demo(args: argparse.Namespace) -> int:
    from labelnb.demo import build_demo, describe

    db = build_demo(args.dir)
    print(describe(db))
    if args.no_browser:
        print(f"\nlook at it:  labelnb status {shlex.quote(str(db))}\n"
              f"in Python:   labelnb.open({str(db)!r}, name='images')")
        return 0
    return _launch_lab(db, args.port)


# --- dashboard ----------------------------------------------------------------------
def cmd_dashboard(args: argparse.Namespace) -> int:
    from labelnb.dashboard import serve

    # the project must exist (with no --name: the database holds exactly one) before
    # anything says it is being served
    project = _open(args.db, args.name)
    name = project.name
    project.close()
    opens = "" if args.no_show else "; a browser opens on it once its numbers are read"
    print(f"serving the dashboard of {name!r} at http://{args.address}:{args.port}/dashboard"
          f"{opens} (Ctrl+C stops it)", flush=True)
    try:
        serve(args.db, name, port=args.port, show=not args.no_show, address=args.address)
    except KeyboardInterrupt:
        pass
    return 0


# --- team ---------------------------------------------------------------------------
def _team_db(args: argparse.Namespace) -> str:
    db = args.db or os.environ.get("LABELNB_DB")
    if not db:
        raise ValidationError("team: give the database with --db URL (or set LABELNB_DB), e.g. "
                              "--db postgresql://owner@host/labels")
    return str(db)


def _print_member(m: Any, project: Any, pgpass: str | None) -> None:
    from labelnb.team.credentials import pgpass_line

    if not m.created:
        print(f"added the existing login {m.name!r} to project {project.name!r} as {m.role} "
              "(password unchanged)")
        return
    print(f"created the login {m.name!r} ({m.role}) in project {project.name!r}")
    print(f"they connect with:  {m.url}")
    if pgpass is not None:
        print(f"password: written to {pgpass} (mode 0600), not shown")
        return
    from sqlalchemy.engine import make_url

    u = make_url(m.url)
    line = pgpass_line(u.host or "localhost", u.port or 5432, u.database or "*", m.name,
                       m.password)
    print("password (shown this once, stored nowhere): " + m.password)
    print(f"for their ~/.pgpass (mode 0600):  {line}")


def cmd_team(args: argparse.Namespace) -> int:
    import labelnb
    from labelnb import team
    from labelnb.queue.store import sqlite_file

    db = _team_db(args)
    if db == ":memory:" or db.startswith("sqlite:") or sqlite_file(db) is not None:
        raise StoreError(f"team {args.action}: team security needs PostgreSQL; {_shown(db)} is "
                         "a SQLite database (one user, no roles: see docs/security.md). Fix: "
                         "give a postgresql:// database with --db (or $LABELNB_DB)")
    if args.action == "init":
        from labelnb.queue.store import Store

        store = Store(db)
        try:
            if args.project and args.project not in (names := labelnb.projects(db)):
                # before anything is installed: roles are cluster-wide, hard to take back
                from labelnb.errors import ProjectNotFound

                raise ProjectNotFound(f"project {args.project!r} is not in {_shown(db)} "
                                      f"(it holds {names or 'no project'}); nothing was "
                                      "installed")
            sec = team.install(store, prefix=args.prefix)
            groups = ", ".join(sec.groups.values())
            print(f"team security v{sec.version} installed in {_shown(db)}: group roles "
                  f"{groups}; row-level security, definer functions and the append-only "
                  "audit log are on")
            if args.project:
                project = labelnb.Project.open(store, args.project)
                changes: dict[str, Any] = {}
                if args.gold_rate is not None:
                    changes["gold_rate"] = args.gold_rate
                if args.hide_predictions is not None:
                    changes["hide_predictions"] = args.hide_predictions
                if changes:
                    project.configure(**changes)
                    print(f"project {project.name!r}: " + ", ".join(
                        f"{k}={_fmt(v)}" for k, v in changes.items()))
            where = f" --project {args.project}" if args.project else " --project NAME"
            print(f"next: labelnb team add NAME --role annotator --db {_shown(db)}{where}")
        finally:
            store.dispose()
        return 0
    if not args.project:
        raise ValidationError(f"team {args.action}: give the project with --project NAME")
    project = _open(db, args.project)
    try:
        if args.action == "add":
            pgpass = args.pgpass
            m = team.add_member(project, args.member, args.role, pgpass=pgpass)
            _print_member(m, project, pgpass)
        elif args.action == "role":
            team.set_role(project, args.member, args.role)
            print(f"{args.member!r} is now {args.role} in project {project.name!r}")
        elif args.action == "remove":
            team.remove_member(project, args.member)
            print(f"{args.member!r} is no longer an active member of project "
                  f"{project.name!r} (their work stays)")
        elif args.action == "delete-annotation":
            team.delete_annotation(project, args.annotation, reason=args.reason)
            print(f"annotation {args.annotation} removed; the audit log records who and why")
        else:
            rows = team.members(project)
            if args.json:
                _print_json(rows)
            elif not rows:
                print(f"project {project.name!r} has no members yet; add one with 'labelnb "
                      "team add NAME --role annotator'")
            else:
                print(format_table(["name", "role", "active", "login", "groups"],
                                   [[r["name"], r["role"], "yes" if r["active"] else "no",
                                     "yes" if r["login"] else "no", r["groups"]]
                                    for r in rows]))
    finally:
        project.close()
    return 0


# --- audit --------------------------------------------------------------------------
def cmd_audit(args: argparse.Namespace) -> int:
    from labelnb.team.audit import audit_log

    project = _open(args.db, args.name)
    try:
        df = audit_log(project, user=args.user, item=args.item, since=args.since,
                       until=args.until, kind=args.kind, limit=args.limit)
        rows = df.to_dict("records")
        if args.json:
            _print_json(rows)
        elif not rows:
            print("no events match")
        else:
            cols = ["id", "created_at", "kind", "actor", "db_user", "item_id", "task_id"]
            print(format_table([*cols, "payload"], [
                [*(r[c] for c in cols), json.dumps(_plain(r["payload"]), ensure_ascii=False)]
                for r in rows]))
    finally:
        project.close()
    return 0


# --- parser -------------------------------------------------------------------------
def _add_name(p: argparse.ArgumentParser, **kw: Any) -> None:
    p.add_argument("-n", "--name", metavar="PROJECT",
                   help="project name (may be left out when the database holds one)", **kw)


def _add_annotator_options(p: argparse.ArgumentParser, *, role_required: bool) -> None:
    from labelnb.project import ROLES

    p.add_argument("annotator", metavar="NAME", help="annotator name")
    p.add_argument("--role", choices=ROLES, required=False,
                   default="annotator" if role_required else None,
                   help="annotator, reviewer or lead" + (" (default annotator)"
                                                         if role_required else ""))
    p.add_argument("--skills", metavar="LABEL=ACC,...",
                   help="per-label accuracy in [0, 1], e.g. cat=0.9,dog=0.7")
    p.add_argument("--qualifications", metavar="A,B", help="e.g. senior,medical")
    p.add_argument("--languages", metavar="A,B", help="e.g. en,de")
    p.add_argument("--kinds", metavar="A,B", help="annotation kinds they may work on")
    p.add_argument("--accuracy", type=float, help="overall accuracy in [0, 1]")
    _add_name(p, default=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    from labelnb import __version__
    from labelnb.schema import KINDS

    parser = argparse.ArgumentParser(
        prog="labelnb", description="Notebook-native data labeling: projects, queue, demo. "
        "DB is a SQLite file path or a postgresql://host/dbname URL.")
    parser.add_argument("-V", "--version", action="version", version=f"labelnb {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="create a project (and the database, if new)")
    p.add_argument("db", metavar="DB")
    p.add_argument("-n", "--name", required=True, metavar="PROJECT", help="project name")
    p.add_argument("--kind", required=True, choices=KINDS, help="annotation kind")
    p.add_argument("--labels", required=True, metavar="A,B,C",
                   help="label classes, comma-separated")
    p.add_argument("--overlap", type=int, default=None,
                   help="annotators per item, blind to each other (default 1)")
    p.add_argument("--review-fraction", type=float, default=None, metavar="F",
                   help="share of submissions that get a review task, 0..1 (default 0)")
    p.add_argument("--lease-ttl", type=float, default=None, metavar="SECONDS",
                   help="how long a claimed task stays leased without a heartbeat "
                   "(default 600)")
    p.add_argument("--exist-ok", action="store_true",
                   help="reuse the project if it exists (its schema stays; a changed label "
                   "list becomes a new schema version in which the labels that stay keep "
                   "their details; the settings given here replace its own)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("add", help="add items (paths, globs, folders, URLs, or texts)")
    p.add_argument("db", metavar="DB")
    _add_name(p)
    p.add_argument("items", nargs="*", metavar="ITEM",
                   help="image/text file, folder, glob (quote it) or URL; with --text: texts")
    p.add_argument("--text", action="store_true", help="treat the arguments (and lines) as texts")
    p.add_argument("--from-file", metavar="FILE", help="read one item per line ('-': stdin)")
    p.add_argument("--group", metavar="G", help="group key stored with the items")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar (default: for 1000 items or more)")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("status", help="items, progress, tasks, annotations per project")
    p.add_argument("db", metavar="DB")
    _add_name(p)
    p.add_argument("--json", action="store_true",
                   help="print JSON (a list of projects; one object with --name)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("export", help="export final labels (COCO, VOC, YOLO, spaCy, HF "
                                      "datasets, TFRecord, WebDataset)")
    p.add_argument("db", metavar="DB")
    _add_name(p)
    p.add_argument("--format", required=True,
                   choices=["coco", "voc", "yolo", "spacy", "hf", "tfrecord", "webdataset"])
    p.add_argument("--out", required=True, metavar="PATH", help="folder to write (atomically)")
    p.add_argument("--policy", default="latest",
                   help="which annotation is final: latest (default), annotator:NAME, "
                   "consensus (majority of the annotators) or consensus:dawid_skene")
    p.add_argument("--human-only", action="store_true", help="ignore machine annotations")
    p.add_argument("--split", metavar="SPEC", help="e.g. train=0.8,val=0.1,test=0.1")
    p.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing export")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="import labeled data (COCO, VOC, YOLO, spaCy, JSONL, "
                                      "Label Studio) as items plus annotations or predictions; "
                                      "all or nothing")
    p.add_argument("db", metavar="DB")
    _add_name(p)
    p.add_argument("--format", required=True,
                   choices=["coco", "voc", "yolo", "spacy", "jsonl", "label_studio"])
    p.add_argument("path", metavar="PATH", help="the file or dataset folder to import")
    p.add_argument("--images", metavar="DIR",
                   help="where the images are (COCO, JSONL, Label Studio), if not beside")
    p.add_argument("--label-map", metavar="OLD=NEW,...",
                   help="rename labels; an empty NEW drops the label (e.g. car=vehicle,junk=)")
    p.add_argument("--as-predictions", action="store_true",
                   help="import the labels as predictions (pre-annotations)")
    p.add_argument("--model-version", metavar="V", help="the predictions' model version")
    p.add_argument("--box-policy", choices=["reject", "clip"], default="reject",
                   help="a box outside its image is a problem (default) or is clipped")
    p.add_argument("--offsets", choices=["utf16", "codepoints"],
                   help="Label Studio span offsets (default utf16, what its browser counts)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("annotators", help="list, add or update annotators")
    p.add_argument("db", metavar="DB")
    _add_name(p)
    asub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = asub.add_parser("list", help="list annotators")
    a.add_argument("--json", action="store_true", help="print JSON")
    _add_name(a, default=argparse.SUPPRESS)
    a = asub.add_parser("add", help="register an annotator")
    _add_annotator_options(a, role_required=True)
    a = asub.add_parser("update", help="change an annotator's profile")
    _add_annotator_options(a, role_required=False)
    g = a.add_mutually_exclusive_group()
    g.add_argument("--active", dest="active", action="store_const", const=True, default=None)
    g.add_argument("--inactive", dest="active", action="store_const", const=False)
    p.set_defaults(func=cmd_annotators)

    p = sub.add_parser("migrate", help="bring the database schema to this labelnb's revision")
    p.add_argument("db", metavar="DB")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("demo", help="build the demo project and open the quickstart notebook")
    p.add_argument("--dir", default="demo-project", metavar="DIR",
                   help="where the images and labels.db go (default ./demo-project)")
    p.add_argument("--no-browser", action="store_true",
                   help="only build the demo and print what it holds")
    p.add_argument("--port", type=_port, metavar="P", help="JupyterLab port")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("dashboard",
                       help="serve the team-lead dashboard (needs labelnb[dashboard])")
    p.add_argument("db", metavar="DB")
    _add_name(p)
    p.add_argument("--port", type=_port, default=5006, metavar="P",
                   help="port, 0..65535 (default 5006)")
    p.add_argument("--address", default="localhost", metavar="HOST",
                   help="address to listen on (default localhost)")
    p.add_argument("--no-show", action="store_true", help="do not open a browser")
    p.set_defaults(func=cmd_dashboard)

    _add_team_parser(sub)

    p = sub.add_parser("audit", help="the audit log: events by user, item or time range")
    p.add_argument("db", metavar="DB")
    _add_name(p)
    p.add_argument("--user", metavar="NAME", help="events by this actor or database user")
    p.add_argument("--item", type=int, metavar="ID", help="events of this item")
    p.add_argument("--since", metavar="TIME", help="from this time (ISO, e.g. 2026-11-30)")
    p.add_argument("--until", metavar="TIME", help="before this time (ISO)")
    p.add_argument("--kind", metavar="KIND", help="e.g. claim, submit, review_approve")
    p.add_argument("--limit", type=int, metavar="N", help="only the newest N events")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_audit)
    return parser


def _add_team_parser(sub: Any) -> None:
    from labelnb.project import ROLES
    from labelnb.team.credentials import pgpass_path
    from labelnb.team.roles import DEFAULT_PREFIX

    p = sub.add_parser("team", help="team security on PostgreSQL: roles, members, audit")
    tsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(a: argparse.ArgumentParser) -> None:
        a.add_argument("--db", metavar="URL",
                       help="postgresql:// URL (default: $LABELNB_DB); leave the password out")
        a.add_argument("--project", "-n", "--name", dest="project", metavar="NAME",
                       help="project name")

    a = tsub.add_parser("init", help="create the group roles and turn team security on (as "
                                     "the owner of the tables)")
    common(a)
    a.add_argument("--prefix", default=DEFAULT_PREFIX,
                   help=f"group roles are PREFIX_admin/_reviewer/_annotator (default "
                        f"{DEFAULT_PREFIX})")
    a.add_argument("--gold-rate", type=float, metavar="F",
                   help="share of annotate claims that serve a gold question, 0..1")
    a.add_argument("--hide-predictions", action=argparse.BooleanOptionalAction, default=None,
                   help="annotators see predictions only after submitting their own label")
    a = tsub.add_parser("add", help="create a login role for a person and add them")
    common(a)
    a.add_argument("member", metavar="NAME", help="their login (= annotator name)")
    a.add_argument("--role", choices=ROLES, default="annotator",
                   help="annotator (default), reviewer or lead")
    a.add_argument("--pgpass", nargs="?", const=str(pgpass_path()), default=None,
                   metavar="FILE", help=f"write the password to this pgpass file (default "
                                        f"{pgpass_path()}) instead of printing it once")
    a = tsub.add_parser("role", help="change a member's role (audited)")
    common(a)
    a.add_argument("member", metavar="NAME")
    a.add_argument("role", choices=ROLES)
    a = tsub.add_parser("remove", help="deactivate a member (their work stays)")
    common(a)
    a.add_argument("member", metavar="NAME")
    a = tsub.add_parser("list", help="members, roles and logins")
    common(a)
    a.add_argument("--json", action="store_true", help="print JSON")
    a = tsub.add_parser("delete-annotation",
                        help="the audited maintenance path: remove one annotation (admins)")
    common(a)
    a.add_argument("annotation", metavar="ID")
    a.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    p.set_defaults(func=cmd_team)


#: fixes in the library's errors that name a Python argument or call, and what the
#: command line calls the same thing
_CLI_WORDING: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"open it with labelnb\.open\(\.\.\., name=(.+?)\) or pass exist_ok=True"),
     r"use it (e.g. labelnb status DB --name \1), or pass --exist-ok"),
    (re.compile(r"override with allow_machine_eval=True, eval_reason='\.\.\.'"),
     "override in Python: labelnb.export(..., allow_machine_eval=True, "
     "eval_reason='...')"),
    (re.compile(r"\bexist_ok=True\b"), "--exist-ok"),
    (re.compile(r"\boverwrite=True\b"), "--overwrite"),
    (re.compile(r"\bas_predictions=True\b"), "--as-predictions"),
    (re.compile(r"\bimages=\.\.\."), "--images DIR"),
    (re.compile(r"\blabel_map=\{\.\.\.: 'name' or None\}"),
     "--label-map OLD=NEW (an empty NEW drops the label)"),
    (re.compile(r"\b(?:project\.)?annotators\.update\(\.\.\.\)"),
     "labelnb annotators DB update NAME"),
    (re.compile(r"\bproject\.annotators\.add\('([^']*)'\)"), r"labelnb annotators DB add \1"),
    (re.compile(r"\bskills=\{'([^']*)': ([0-9.]+)\}"), r"--skills \1=\2"),
    (re.compile(r"\bskills\['([^']*)'\] = "), r"--skills \1="),
    (re.compile(r"\bqualifications=\[\.\.\.\]"), "--qualifications A,B"),
)


def cli_wording(message: str, args: argparse.Namespace | None = None) -> str:
    """``message`` with the fixes it names in Python (``overwrite=True``) said as this
    command line's options (``--overwrite``). With the command's ``args``, a command it
    suggests names their database and project (``--name``) instead of ``DB``.

    >>> cli_wording("out/ exists; pass overwrite=True")
    'out/ exists; pass --overwrite'
    >>> cli_wording("add them with project.annotators.add('zed')",
    ...             argparse.Namespace(db="my labels.db", name="pets"))
    "add them with labelnb annotators 'my labels.db' --name pets add zed"
    """
    for pattern, repl in _CLI_WORDING:
        message = pattern.sub(repl, message)
    db = getattr(args, "db", None)
    if isinstance(db, str):
        name = getattr(args, "name", None)
        where = shlex.quote(db) + (f" --name {shlex.quote(name)}" if isinstance(name, str)
                                   else "")
        message = message.replace("labelnb annotators DB ", f"labelnb annotators {where} ")
    return message


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for user errors)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    after: list[str] = []  # `labelnb add DB --text -- -5 stars`: items, whatever they look like
    if "--" in argv:
        cut = argv.index("--")
        # the command is the first word (the top-level options take no values)
        if next((a for a in argv[:cut] if not a.startswith("-")), None) == "add":
            argv, after = argv[:cut], argv[cut + 1:]
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            # argparse leaves ITEMs that follow an option (add DB --name P a b) unparsed
            if args.command == "add" and not any(x.startswith("-") for x in extra):
                args.items = [*args.items, *extra]
            else:
                bad = [x for x in extra if x.startswith("-")] if args.command == "add" else extra
                parser.error(f"unrecognized arguments: {' '.join(bad)}")
        if after:
            args.items = [*args.items, *after]
    except SystemExit as e:  # --help, --version, usage errors
        return e.code if isinstance(e.code, int) else (0 if e.code is None else EXIT_USER_ERROR)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside this try, not at exit
        return code
    except LabelnbError as e:
        from labelnb.team.credentials import redact

        print(f"error: {redact(cli_wording(str(e), args))}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # the reader left (labelnb status --json | head): no error
        try:  # the interpreter's last flush of stdout must not fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141  # 128 + SIGPIPE, what a shell shows for a tool the pipe closed on
    except OSError as e:  # unwritable demo folder, full disk ...
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
