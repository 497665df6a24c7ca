"""How close to the plain queue can labelnb's SQLite claim+submit get? Its SQL alone.

One process, one SQLite file per loop, three loops drained in alternation for
``--rounds`` rounds (the fastest round of each is reported):

* **plain**: the one-table queue of ``queue_throughput.py`` (``BEGIN IMMEDIATE``,
  ``UPDATE jobs ... RETURNING``, ``COMMIT``; ``BEGIN IMMEDIATE``, ``UPDATE``, ``COMMIT``).
* **labelnb SQL**: labelnb's own statements (the claim's candidate ``SELECT`` and
  ``UPDATE``, the submit's task ``UPDATE`` and annotation ``INSERT``, each in its
  ``BEGIN IMMEDIATE`` ... ``COMMIT``), taken from ``labelnb.queue.queries`` and run
  on a raw ``sqlite3`` connection with the same pragmas labelnb sets, values made by a
  few lines of Python: the schema's SQL with next to no Python around it.
* **labelnb**: ``queue.claim()`` / ``queue.submit(Choice("a"))``.

The ratio plain / labelnb-SQL is the most labelnb could reach on SQLite with this
schema (task row with its routing indexes, the append-only annotation with its
provenance) if its Python cost nothing. Run from the repository root::

    .venv/bin/python benchmarks/queue_sql_floor.py            # 10,000 tasks, 5 rounds
    .venv/bin/python benchmarks/queue_sql_floor.py --tasks 2000 --rounds 2   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import labelnb  # noqa: E402
from labelnb.queue import queries as Q  # noqa: E402
from labelnb.queue.queries import sqlite_time  # noqa: E402
from labelnb.types import new_annotation_id  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from queue_throughput import (  # noqa: E402
    RESULT,
    SQLITE_CLAIM,
    SQLITE_SUBMIT,
    labelnb_prepare,
    plain_prepare,
)

Loop = Callable[[], bool]  # one claim+submit; False when the pool is empty


def _connect(path: str) -> sqlite3.Connection:
    c = sqlite3.connect(path, isolation_level=None, timeout=30)
    for pragma in ("busy_timeout=30000", "synchronous=NORMAL"):
        c.execute(f"PRAGMA {pragma}")
    return c


def plain_loop(path: str) -> Loop:
    c = _connect(path)

    def one() -> bool:
        token = secrets.token_hex(16)
        c.execute("BEGIN IMMEDIATE")
        row = c.execute(SQLITE_CLAIM, ("w0", token, time.time() + 600)).fetchone()
        c.execute("COMMIT")
        if row is None:
            return False
        c.execute("BEGIN IMMEDIATE")
        c.execute(SQLITE_SUBMIT, (RESULT, row[0], token))
        c.execute("COMMIT")
        return True

    return one


def labelnb_sql_loop(path: str) -> Loop:
    from datetime import UTC, datetime, timedelta

    project = labelnb.open(path, "bench")
    queue = project.queue("w0")
    stmts = queue._claim_sql(queue.profile)  # the statements claim() runs, routing included
    pid, version = project.id, project.schema_version
    project.close()
    c = _connect(path)
    c.execute("PRAGMA foreign_keys=ON")
    c.execute("PRAGMA mmap_size=268435456")
    pick, take = stmts.pick.sqlite, stmts.take.sqlite
    finish, insert = Q._FINISH_KEEP.sqlite, Q._INSERT_ANNOTATION.sqlite
    ttl = timedelta(seconds=600)
    regions = json.dumps([labelnb.Choice("a").to_json()])  # what submit(Choice("a")) stores

    def one() -> bool:
        now = datetime.now(UTC)
        p = {"pid": pid, "me": "w0", "now": sqlite_time(now), "token": secrets.token_hex(16),
             "expires": sqlite_time(now + ttl)}
        c.execute("BEGIN IMMEDIATE")
        r = c.execute(pick, p).fetchone()
        if r is None:
            c.execute("COMMIT")
            return False
        p["cid"] = tid = r[0]
        c.execute(take, p)
        c.execute("COMMIT")
        at = sqlite_time(datetime.now(UTC))
        row = {"id": new_annotation_id(), "project_id": pid, "item_id": r[6], "task_id": tid,
               "author": "w0", "source": "human", "schema_version": version,
               "regions": regions, "created_at": at, "submitted_at": at, "duration_s": 0.0,
               "corrects": None, "model_version": None, "client_id": None, "meta": "{}"}
        c.execute("BEGIN IMMEDIATE")
        done = c.execute(finish, {"tid": tid, "token": p["token"], "me": "w0", "now": at})
        if done.rowcount != 1:
            raise RuntimeError(f"task {tid}: the replayed submit finished nothing")
        c.execute(insert, row)
        c.execute("COMMIT")
        return True

    return one


def labelnb_loop(path: str) -> Loop:
    queue = labelnb.open(path, "bench").queue("w0")
    _ = queue.profile
    choice = labelnb.Choice("a")

    def one() -> bool:
        if queue.claim() is None:
            return False
        queue.submit(choice)
        return True

    return one


LOOPS: dict[str, tuple[str, Callable[[str], Loop]]] = {
    "plain": ("plain", plain_loop),
    "labelnb SQL": ("labelnb", labelnb_sql_loop),
    "labelnb": ("labelnb", labelnb_loop),
}


def one_round(workdir: str, n: int) -> dict[str, float]:
    """µs per claim+submit of each loop, each on a fresh file of ``n`` tasks."""
    out = {}
    for name, (kind, make) in LOOPS.items():
        path = os.path.join(workdir, f"{name.replace(' ', '_')}.db")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        if kind == "plain":
            plain_prepare("sqlite", path, n)
        else:
            labelnb_prepare("sqlite", path, n)
        step = make(path)
        warm = n // 10
        for _ in range(warm):
            step()
        t0, done = time.perf_counter(), 0
        while step():
            done += 1
        out[name] = (time.perf_counter() - t0) / done * 1e6
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="lnb_floor_")
    try:
        rounds = []
        for i in range(args.rounds):
            rounds.append(one_round(workdir, args.tasks))
            print(f"  round {i + 1}: " + ", ".join(f"{k} {v:.1f} us"
                                                   for k, v in rounds[-1].items()),
                  flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    best = {k: min(r[k] for r in rounds) for k in LOOPS}
    plain = best["plain"]
    print(f"\n### SQLite claim+submit, one process, {args.tasks:,} tasks, fastest of "
          f"{args.rounds} rounds\n")
    print("| loop | us / claim+submit | per s | plain / this |")
    print("|---|---:|---:|---:|")
    for k, us in best.items():
        print(f"| {k} | {us:.1f} | {1e6 / us:,.0f} | {plain / us:.2f}x |")
    python_budget = 2 * plain - best["labelnb SQL"]
    print(f"\nFor 0.5x of plain a claim+submit may take {2 * plain:.1f} us; labelnb's SQL "
          f"takes {best['labelnb SQL']:.1f} of them, which leaves {python_budget:.1f} us "
          f"for everything else (labelnb now spends "
          f"{best['labelnb'] - best['labelnb SQL']:.1f} us more than its SQL).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
