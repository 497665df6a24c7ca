"""Queue throughput: labelnb's claim+submit against the plain queue the database allows.

Table 1 -- throughput. For each database (SQLite, PostgreSQL) and each worker count
(1, 4, 8 processes) the same number of tasks is drained twice:

* **plain**: one table ``jobs(id, status, worker, token, leased_until, result)``, no
  routing, no audit trail. SQLite through the raw ``sqlite3`` module (WAL,
  ``busy_timeout``, ``synchronous=NORMAL``, ``BEGIN IMMEDIATE``); PostgreSQL through
  psycopg 3 with ``FOR UPDATE SKIP LOCKED``. A claim is one ``UPDATE ... WHERE id =
  (SELECT id ... WHERE status = 'open' ORDER BY id LIMIT 1) RETURNING id``
  transaction, a submit one ``UPDATE``. This is the floor the database allows.
* **labelnb**: ``labelnb.open(url, name).queue(f"w{i}")``, then ``claim()`` /
  ``submit(Choice("a"))`` until ``claim()`` returns None, with the project's default
  routing (``DefaultRouting``) on.

Each worker is a ``spawn`` process that connects (and imports) before a common
barrier; the wall time runs from the barrier to the last worker's finish, and
throughput is tasks / wall time. Each row is ``--rounds`` rounds (3) of plain then
labelnb, on fresh databases each round, and reports the median rates (this 2-core box
drifts by 10-20% from one minute to the next, which a single pair of runs took for a
difference in code). Target: labelnb >= 0.5x plain.

Table 2 -- claim latency under many annotators. ``--simulated`` annotators (2,000)
work against PostgreSQL for ``--sim-seconds``. They are spread over a few processes
(``--sim-procs``, 4); each process opens the project once (one pooled engine, so one
connection in use per process) and drives its annotators, each with its own
``Queue``, from an event scheduler: claim, "work" a random 2-6 s (a timestamp, not a
sleep), submit, claim again. The process sleeps until its next due event. Every
``claim()`` is timed with ``perf_counter``; the table prints count, p50, p95, p99 and
max, and the scheduler lag (how late events ran: if it grows, the processes are
saturated and the latencies understate what an annotator would wait). Target: p99 of
``claim()`` under 50 ms.

Run from the repository root::

    .venv/bin/python benchmarks/queue_throughput.py              # full run
    .venv/bin/python benchmarks/queue_throughput.py --quick      # smoke run, < 60 s

Every SQLite file lives in a temporary folder and every PostgreSQL schema
(``bench_<hex>``) is dropped at the end, also on failure.
"""

from __future__ import annotations

import argparse
import heapq
import math
import multiprocessing as mp
import os
import platform
import random
import secrets
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0
DEFAULT_TASKS = {"sqlite": 20_000, "postgresql": 5_000}
QUICK_TASKS = {"sqlite": 2_000, "postgresql": 800}
SETUP_TIMEOUT_S = 300.0
PROJECT = "bench"

RunFn = Callable[[float], dict[str, Any]]


# ---------------------------------------------------------------------------------
# process harness: setup (not timed) -> barrier -> timed loop
# ---------------------------------------------------------------------------------


def _entry(setup_name: str, index: int, args: tuple[Any, ...], barrier: Any, results: Any,
           deadline_s: float, profile_dir: str | None) -> None:
    """Worker body: build the loop, wait at the barrier, run it, report."""
    try:
        run: RunFn = globals()[setup_name](index, *args)
    except BaseException:
        results.put({"index": index, "error": traceback.format_exc()})
        barrier.abort()
        return
    try:
        barrier.wait(timeout=SETUP_TIMEOUT_S)
    except threading.BrokenBarrierError:
        results.put({"index": index, "error": "barrier broken (another worker failed)"})
        return
    t0 = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes on Linux
    try:
        if profile_dir:
            import cProfile

            prof = cProfile.Profile()
            out = prof.runcall(run, t0 + deadline_s)
            prof.dump_stats(os.path.join(profile_dir, f"{setup_name}-{index}.prof"))
        else:
            out = run(t0 + deadline_s)
    except BaseException:
        results.put({"index": index, "error": traceback.format_exc()})
        return
    t1 = time.perf_counter()
    results.put({"index": index, "t0": t0, "t1": t1, **out})


@dataclass
class RunResult:
    done: int
    wall_s: float
    capped: bool
    parts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.done / self.wall_s if self.wall_s > 0 else 0.0


def run_processes(setup_name: str, per_worker_args: list[tuple[Any, ...]], *,
                  deadline_s: float, profile_dir: str | None = None) -> RunResult:
    """Start one spawn process per args tuple; time from the barrier to the last finish."""
    ctx = mp.get_context("spawn")
    n = len(per_worker_args)
    barrier = ctx.Barrier(n + 1)
    results = ctx.Queue()
    procs = [ctx.Process(target=_entry, daemon=True,
                         args=(setup_name, i, a, barrier, results, deadline_s, profile_dir))
             for i, a in enumerate(per_worker_args)]
    for p in procs:
        p.start()
    parts: list[dict[str, Any]] = []
    try:
        try:
            barrier.wait(timeout=SETUP_TIMEOUT_S)
        except threading.BrokenBarrierError:
            pass  # a worker failed during setup; its error is in the queue
        while len(parts) < n:
            try:
                parts.append(results.get(timeout=deadline_s + SETUP_TIMEOUT_S))
            except Exception:
                dead = [p.pid for p in procs if not p.is_alive() and p.exitcode]
                raise RuntimeError(f"{setup_name}: no result from a worker (crashed: "
                                   f"{dead})") from None
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
    errors = [r["error"] for r in parts if "error" in r]
    if errors:
        raise RuntimeError(f"{setup_name} failed:\n" + "\n".join(errors))
    wall = max(r["t1"] for r in parts) - min(r["t0"] for r in parts)
    return RunResult(done=sum(r["done"] for r in parts), wall_s=wall,
                     capped=any(r.get("capped") for r in parts), parts=parts)


# ---------------------------------------------------------------------------------
# databases: temporary SQLite files and PostgreSQL schemas
# ---------------------------------------------------------------------------------


def pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


def _pg_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


class Databases:
    """Hands out fresh databases and removes them all at the end."""

    def __init__(self, pg_url: str, workdir: str | None) -> None:
        self.pg_url = pg_url
        self.tmp = tempfile.mkdtemp(prefix="labelnb-bench-", dir=workdir)
        self.schemas: list[str] = []

    def new(self, db: str, tag: str) -> str:
        """A URL (PostgreSQL) or a file path (SQLite) nobody else uses."""
        if db == "sqlite":
            return os.path.join(self.tmp, f"{tag}-{uuid.uuid4().hex[:8]}.db")
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(_pg_dsn(self.pg_url), autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{name}"')
        self.schemas.append(name)
        return pg_schema_url(self.pg_url, name)

    def drop(self, db: str, url: str) -> None:
        if db == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(url + suffix).unlink(missing_ok=True)
            return
        import psycopg

        name = url.rsplit("%3D", 1)[1]
        with psycopg.connect(_pg_dsn(self.pg_url), autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        self.schemas.remove(name)

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.schemas:
            import psycopg

            with psycopg.connect(_pg_dsn(self.pg_url), autocommit=True) as c:
                for name in list(self.schemas):
                    c.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            self.schemas.clear()


def _pg_analyze(url: str, tables: list[str]) -> None:
    """Give the planner statistics (a live database has them; a fresh bulk load not yet)."""
    import psycopg

    with psycopg.connect(_pg_dsn(url), autocommit=True) as c:
        for t in tables:
            c.execute(f"ANALYZE {t}")


# ---------------------------------------------------------------------------------
# the plain queue
# ---------------------------------------------------------------------------------

SQLITE_CLAIM = (
    "UPDATE jobs SET status = 'leased', worker = ?, token = ?, leased_until = ? "
    "WHERE id = (SELECT id FROM jobs WHERE status = 'open' ORDER BY id LIMIT 1) "
    "RETURNING id"
)
SQLITE_SUBMIT = "UPDATE jobs SET status = 'done', result = ? WHERE id = ? AND token = ?"
PG_CLAIM = (
    "UPDATE jobs SET status = 'leased', worker = %s, token = %s, "
    "leased_until = now() + interval '600 seconds' "
    "WHERE id = (SELECT id FROM jobs WHERE status = 'open' ORDER BY id LIMIT 1 "
    "FOR UPDATE SKIP LOCKED) RETURNING id"
)
PG_SUBMIT = "UPDATE jobs SET status = 'done', result = %s WHERE id = %s AND token = %s"
RESULT = '{"regions": [{"type": "choice", "label": "a"}]}'


def plain_prepare(db: str, url: str, n: int) -> None:
    if db == "sqlite":
        c = sqlite3.connect(url, isolation_level=None)
        c.execute("PRAGMA journal_mode=WAL")
        c.executescript("""
            CREATE TABLE jobs (id INTEGER PRIMARY KEY, status TEXT NOT NULL, worker TEXT,
                               token TEXT, leased_until REAL, result TEXT);
            CREATE INDEX jobs_status_id ON jobs (status, id);
        """)
        c.execute("BEGIN")
        c.executemany("INSERT INTO jobs (status) VALUES ('open')", ([] for _ in range(n)))
        c.execute("COMMIT")
        c.close()
        return
    import psycopg

    with psycopg.connect(_pg_dsn(url), autocommit=True) as pg:
        pg.execute("""CREATE TABLE jobs (id BIGSERIAL PRIMARY KEY, status TEXT NOT NULL,
                     worker TEXT, token TEXT, leased_until TIMESTAMPTZ, result TEXT)""")
        # partial: the claim's index scan never walks the rows already done (with the
        # full (status, id) index and stale statistics -- autovacuum off, as on the dev
        # box -- the planner walks the primary key past every done row: O(n) a claim)
        pg.execute("CREATE INDEX jobs_open ON jobs (id) WHERE status = 'open'")
        pg.execute("INSERT INTO jobs (status) SELECT 'open' FROM generate_series(1, %s)", (n,))
    _pg_analyze(url, ["jobs"])


def plain_sqlite_worker(index: int, path: str) -> RunFn:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA synchronous=NORMAL")
    name = f"w{index}"

    def run(deadline: float) -> dict[str, Any]:
        done = 0
        while True:
            token = secrets.token_hex(16)
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(SQLITE_CLAIM, (name, token, time.time() + 600)).fetchone()
            conn.execute("COMMIT")
            if row is None:
                return {"done": done}
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(SQLITE_SUBMIT, (RESULT, row[0], token))
            conn.execute("COMMIT")
            done += 1
            if time.perf_counter() > deadline:
                return {"done": done, "capped": True}

    return run


def plain_pg_worker(index: int, url: str) -> RunFn:
    import psycopg

    conn = psycopg.connect(_pg_dsn(url))
    name = f"w{index}"

    def run(deadline: float) -> dict[str, Any]:
        done = 0
        while True:
            token = secrets.token_hex(16)
            row = conn.execute(PG_CLAIM, (name, token)).fetchone()
            conn.commit()
            if row is None:
                return {"done": done}
            conn.execute(PG_SUBMIT, (RESULT, row[0], token))
            conn.commit()
            done += 1
            if time.perf_counter() > deadline:
                return {"done": done, "capped": True}

    return run


# ---------------------------------------------------------------------------------
# labelnb
# ---------------------------------------------------------------------------------


def labelnb_prepare(db: str, url: str, n: int, name: str = PROJECT) -> None:
    import labelnb

    project = labelnb.Project.create(url, name, labelnb.Schema("choice", ["a", "b"]),
                                     overlap=1, lease_ttl_s=600)
    for start in range(0, n, 20_000):
        project.add_items([f"benchmark item {i}" for i in range(start, min(n, start + 20_000))],
                          media="text", progress=False)
    project.close()
    if db == "postgresql":
        _pg_analyze(url, ["tasks", "items", "leases", "annotations", "annotators", "events"])


def labelnb_worker(index: int, url: str) -> RunFn:
    import labelnb

    project = labelnb.open(url, PROJECT)
    q = project.queue(f"w{index}")
    _ = q.profile  # read (and cache) the annotator profile before the clock starts
    choice = labelnb.Choice("a")

    def run(deadline: float) -> dict[str, Any]:
        done = 0
        while q.claim() is not None:
            q.submit(choice)
            done += 1
            if time.perf_counter() > deadline:
                return {"done": done, "capped": True}
        return {"done": done}

    return run


# ---------------------------------------------------------------------------------
# table 2: simulated annotators
# ---------------------------------------------------------------------------------


def sim_worker(index: int, url: str, names: list[str], seconds: float, work_s: tuple[float, float],
               seed: int) -> RunFn:
    import labelnb

    project = labelnb.open(url, "sim")  # one pooled engine: one connection in use
    queues = [project.queue(n) for n in names]
    for q in queues:
        _ = q.profile
    choice = labelnb.Choice("a")
    rng = random.Random(seed)
    lo, hi = work_s

    def run(deadline: float) -> dict[str, Any]:
        start = time.perf_counter()
        end = start + seconds
        # staggered start: each annotator's first claim somewhere in the first work cycle
        heap: list[tuple[float, int, str]] = [(start + rng.uniform(0, hi), j, "claim")
                                              for j in range(len(queues))]
        heapq.heapify(heap)
        claim_ms: list[float] = []
        submit_ms: list[float] = []
        lag_ms: list[float] = []
        empty = 0

        def claim(j: int) -> None:
            nonlocal empty
            t0 = time.perf_counter()
            task = queues[j].claim()
            t1 = time.perf_counter()
            claim_ms.append((t1 - t0) * 1000)
            if task is None:
                empty += 1
                heapq.heappush(heap, (t1 + 1.0, j, "claim"))
            else:
                heapq.heappush(heap, (t1 + rng.uniform(lo, hi), j, "submit"))

        while heap:
            due, j, kind = heap[0]
            if due >= end:
                break
            now = time.perf_counter()
            if due > now:
                time.sleep(min(due - now, end - now))
                continue
            heapq.heappop(heap)
            lag_ms.append((now - due) * 1000)
            if kind == "submit":
                t0 = time.perf_counter()
                queues[j].submit(choice)
                submit_ms.append((time.perf_counter() - t0) * 1000)
            claim(j)  # a submit is followed by the next claim at once
        return {"done": len(submit_ms), "claim_ms": claim_ms, "submit_ms": submit_ms,
                "lag_ms": lag_ms, "empty": empty}

    return run


def percentile(sorted_xs: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_xs:
        return float("nan")
    k = max(0, min(len(sorted_xs) - 1, math.ceil(p / 100 * len(sorted_xs)) - 1))
    return sorted_xs[k]


# ---------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------


@contextmanager
def _status(msg: str) -> Iterator[None]:
    print(f"  {msg} ...", end="", flush=True, file=sys.stderr)
    t = time.perf_counter()
    try:
        yield
    finally:
        print(f" {time.perf_counter() - t:.1f} s", flush=True, file=sys.stderr)


def throughput_table(args: argparse.Namespace, dbs: Databases) -> list[dict[str, Any]]:
    """Per (database, workers): ``--rounds`` rounds, each a plain run then a labelnb run
    on fresh databases (alternating, so a slow stretch of the machine hits both)."""
    rows = []
    for db in args.db:
        n = args.tasks or (QUICK_TASKS if args.quick else DEFAULT_TASKS)[db]
        for w in args.workers:
            row: dict[str, Any] = {"db": db, "workers": w, "tasks": n, "plain": [],
                                   "labelnb": []}
            for rnd in range(args.rounds):
                for kind in ("plain", "labelnb"):
                    res = _one_run(args, dbs, db, w, kind, n, rnd)
                    row[kind].append(res)
            rows.append(row)
    return rows


def _one_run(args: argparse.Namespace, dbs: Databases, db: str, w: int, kind: str, n: int,
             rnd: int) -> RunResult:
    url = dbs.new(db, kind)
    tag = f"{db} {w} workers {kind}" + (f" (round {rnd + 1})" if args.rounds > 1 else "")
    try:
        with _status(f"{tag}: load {n} tasks"):
            (plain_prepare if kind == "plain" else labelnb_prepare)(db, url, n)
        setup = {"plain": "plain_sqlite_worker" if db == "sqlite" else "plain_pg_worker",
                 "labelnb": "labelnb_worker"}[kind]
        prof = None
        if args.profile and kind == "labelnb":
            prof = os.path.join(args.profile, f"{db}-{w}-{rnd}")
            os.makedirs(prof, exist_ok=True)
        with _status(f"{tag}: run"):
            res = run_processes(setup, [(url,)] * w, deadline_s=args.max_run_s,
                                profile_dir=prof)
    finally:
        dbs.drop(db, url)
    if not res.capped and res.done != n:
        raise RuntimeError(f"{kind} on {db} with {w} workers finished {res.done} of {n} tasks")
    print(f"    {res.done} tasks in {res.wall_s:.2f} s = {res.rate:,.0f}/s"
          + (" (capped)" if res.capped else ""), file=sys.stderr, flush=True)
    return res


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    k = len(s) // 2
    return s[k] if len(s) % 2 else (s[k - 1] + s[k]) / 2


def print_throughput(rows: list[dict[str, Any]]) -> None:
    rounds = len(rows[0]["plain"]) if rows else 1
    print("\n### Claim+submit throughput (labelnb with DefaultRouting vs plain queue)\n")
    if rounds > 1:
        print(f"Median of {rounds} rounds (plain, then labelnb, on fresh databases each "
              "round); the ratio is of the medians, the range the rounds' own ratios.\n")
    print("| db | workers | tasks | plain/s | labelnb/s | ratio | rounds' ratios | target | "
          "result |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---|")
    for r in rows:
        plain = _median([x.rate for x in r["plain"]])
        lnb = _median([x.rate for x in r["labelnb"]])
        each = [b.rate / a.rate for a, b in zip(r["plain"], r["labelnb"], strict=True)
                if a.rate]
        ratio = lnb / plain if plain else 0.0
        capped = any(x.capped for x in r["plain"] + r["labelnb"])
        spread = f"{min(each):.2f}-{max(each):.2f}x" if len(each) > 1 else "-"
        print(f"| {r['db']} | {r['workers']} | {r['tasks']:,}{'*' if capped else ''} | "
              f"{plain:,.0f} | {lnb:,.0f} | {ratio:.2f}x | {spread} | >= {TARGET_RATIO}x | "
              f"{'pass' if ratio >= TARGET_RATIO else 'FAIL'} |")
    if any(x.capped for r in rows for x in r["plain"] + r["labelnb"]):
        print("\n\\* a run hit --max-run-s; its rate is the tasks done before the cap / time")


def sim_table(args: argparse.Namespace, dbs: Databases) -> dict[str, Any]:
    n, procs, secs = args.simulated, max(1, min(args.sim_procs, args.simulated)), args.sim_seconds
    lo, hi = args.sim_work
    # claims expected: each annotator one per ~mean work time, plus one in hand at the start
    pool = int(n * secs / ((lo + hi) / 2) * 1.5) + 2 * n + 100
    url = dbs.new("postgresql", "sim")
    try:
        with _status(f"sim: load {pool} items"):
            labelnb_prepare("postgresql", url, pool, name="sim")
        names = [f"ann{j:05d}" for j in range(n)]
        chunks = [names[i::procs] for i in range(procs)]
        with _status(f"sim: {n} annotators in {procs} processes for {secs:g} s"):
            res = run_processes("sim_worker",
                                [(url, c, secs, (lo, hi), 1000 + i) for i, c in enumerate(chunks)],
                                deadline_s=secs + 60)
    finally:
        dbs.drop("postgresql", url)
    claim = sorted(x for r in res.parts for x in r["claim_ms"])
    submit = sorted(x for r in res.parts for x in r["submit_ms"])
    lag = sorted(x for r in res.parts for x in r["lag_ms"])
    return {"annotators": n, "procs": procs, "seconds": secs, "pool": pool, "work": (lo, hi),
            "claim": claim,
            "submit": submit, "lag": lag, "empty": sum(r["empty"] for r in res.parts),
            "wall": res.wall_s}


def print_sim(s: dict[str, Any]) -> None:
    print(f"\n### Claim latency: {s['annotators']:,} simulated annotators on PostgreSQL "
          f"({s['procs']} processes, {s['seconds']:g} s, pool {s['pool']:,} tasks)\n")
    offered = s["annotators"] / (sum(s["work"]) / 2)
    print(f"Offered load about {offered:,.0f} claims/s (each annotator works "
          f"{s['work'][0]:g}-{s['work'][1]:g} s a task); achieved "
          f"{len(s['claim']) / s['wall']:,.0f} claims/s.\n")
    print("| op | count | per s | p50 ms | p95 ms | p99 ms | max ms | target | result |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, xs, target in (("claim()", s["claim"], TARGET_P99_MS),
                              ("submit()", s["submit"], None),
                              ("scheduler lag", s["lag"], None)):
        p99 = percentile(xs, 99)
        verdict = ("pass" if p99 < target else "FAIL") if target else "-"
        tgt = f"p99 < {target:g}" if target else "-"
        print(f"| {label} | {len(xs):,} | {len(xs) / s['wall']:,.0f} | "
              f"{percentile(xs, 50):.1f} | {percentile(xs, 95):.1f} | {p99:.1f} | "
              f"{(xs[-1] if xs else float('nan')):.1f} | {tgt} | {verdict} |")
    if s["empty"]:
        print(f"\n{s['empty']} claims found the queue empty (pool too small)")
    if s["lag"] and percentile(s["lag"], 99) > TARGET_P99_MS:
        print("\nscheduler lag p99 is above the target: the driver processes were saturated, "
              "so annotators waited longer than claim() alone shows")


def print_profile(path: str, top: int) -> None:
    import pstats

    for sub in sorted(os.listdir(path)):
        files = sorted(Path(path, sub).glob("*.prof"))
        if not files:
            continue
        st = pstats.Stats(*map(str, files), stream=sys.stdout)
        print(f"\n### cProfile of the labelnb workers: {sub} ({len(files)} processes)\n")
        st.sort_stats("cumulative").print_stats(top)
        st.sort_stats("tottime").print_stats(top)


# ---------------------------------------------------------------------------------
# table 3 (--breakdown): where one SQLite claim+submit's time goes
# ---------------------------------------------------------------------------------


class _TimedConnection:
    """A sqlite3 connection whose ``execute`` adds its seconds per statement kind."""

    _keys: dict[str, str] = {}  # SQL -> row label, made once per statement

    def __init__(self, conn: Any, spent: dict[str, list[float]]) -> None:
        self._conn, self._spent = conn, spent

    def execute(self, sql: str, params: Any = ()) -> Any:
        t = time.perf_counter()
        try:
            return self._conn.execute(sql, params)
        finally:
            entry = self._spent.setdefault(self._key(sql), [0.0, 0])
            entry[0] += time.perf_counter() - t
            entry[1] += 1

    @classmethod
    def _key(cls, sql: str) -> str:
        key = cls._keys.get(sql)
        if key is None:
            key = cls._keys[sql] = cls._label(sql)
        return key

    @staticmethod
    def _label(sql: str) -> str:
        key = " ".join(sql.split()[:3])
        if key.startswith("SELECT"):
            key = "SELECT (claim candidates)"
        elif key.startswith("UPDATE tasks SET"):
            key = "UPDATE tasks SET " + ("status='leased' (claim)"
                                         if "SET status = 'leased'" in sql
                                         else "status='done' (submit)")
        elif key.startswith("UPDATE jobs SET"):
            key = ("UPDATE jobs (claim)" if "SET status = 'leased'" in sql
                   else "UPDATE jobs (submit)")
        return key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def breakdown_table(args: argparse.Namespace, workdir: str) -> list[tuple[str, str, float, float]]:
    """One process, SQLite: ``n`` tasks through each queue with every statement timed.
    Rows: (queue, statement, microseconds per task, statements per task); the
    ``(outside SQL)`` row is the rest of the wall time (Python: validation, ids,
    conversion, the queue's bookkeeping)."""
    import labelnb
    from labelnb.queue import store as store_mod

    n = args.tasks or (2_000 if args.quick else 10_000)
    rows: list[tuple[str, str, float, float]] = []
    # labelnb
    path = os.path.join(workdir, "breakdown-labelnb.db")
    labelnb_prepare("sqlite", path, n)
    spent: dict[str, list[float]] = {}
    original = store_mod.Store._hot_connection

    def timed(self: Any) -> tuple[Any, Any]:
        raw, transient = original(self)
        return _TimedConnection(raw, spent), transient

    store_mod.Store._hot_connection = timed  # type: ignore[method-assign]
    try:
        project = labelnb.open(path, PROJECT)
        q = project.queue("w0")
        _ = q.profile
        choice = labelnb.Choice("a")
        t = time.perf_counter()
        done = 0
        while q.claim() is not None:
            q.submit(choice)
            done += 1
        wall = time.perf_counter() - t
        project.close()
    finally:
        store_mod.Store._hot_connection = original  # type: ignore[method-assign]
    rows += _breakdown_rows("labelnb", spent, wall, done)
    # the plain queue
    path = os.path.join(workdir, "breakdown-plain.db")
    plain_prepare("sqlite", path, n)
    spent = {}
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    for pragma in ("journal_mode=WAL", "busy_timeout=30000", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    c = _TimedConnection(conn, spent)
    t = time.perf_counter()
    done = 0
    while True:
        token = secrets.token_hex(16)
        c.execute("BEGIN IMMEDIATE")
        row = c.execute(SQLITE_CLAIM, ("w0", token, time.time() + 600)).fetchone()
        c.execute("COMMIT")
        if row is None:
            break
        c.execute("BEGIN IMMEDIATE")
        c.execute(SQLITE_SUBMIT, (RESULT, row[0], token))
        c.execute("COMMIT")
        done += 1
    wall = time.perf_counter() - t
    conn.close()
    rows += _breakdown_rows("plain", spent, wall, done)
    return rows


def _breakdown_rows(queue: str, spent: dict[str, list[float]], wall: float, done: int
                    ) -> list[tuple[str, str, float, float]]:
    out = [(queue, k, v[0] / done * 1e6, v[1] / done)
           for k, v in sorted(spent.items(), key=lambda kv: -kv[1][0])]
    sql = sum(v[0] for v in spent.values())
    out.append((queue, "(all SQL)", sql / done * 1e6, sum(v[1] for v in spent.values()) / done))
    out.append((queue, "(outside SQL)", (wall - sql) / done * 1e6, 0.0))
    out.append((queue, "(total per claim+submit)", wall / done * 1e6, 0.0))
    return out


def print_breakdown(rows: list[tuple[str, str, float, float]]) -> None:
    print("\n### Where one claim+submit's time goes (SQLite, 1 process, microseconds per "
          "task)\n")
    print("| queue | statement | us / task | statements / task |")
    print("|---|---|---:|---:|")
    for queue, what, us, count in rows:
        bold = what.startswith("(")
        print(f"| {queue} | {'**' + what + '**' if bold else what} | {us:.1f} | "
              f"{count:.2f} |" if count else f"| {queue} | **{what}** | {us:.1f} | - |")


def _ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x.strip()]


def _dbs(s: str) -> list[str]:
    out = [x.strip() for x in s.split(",") if x.strip()]
    bad = set(out) - {"sqlite", "postgresql"}
    if bad:
        raise argparse.ArgumentTypeError(f"unknown database {sorted(bad)}; use sqlite,postgresql")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=_ints, default=[1, 4, 8],
                    help="worker process counts (default 1,4,8)")
    ap.add_argument("--tasks", type=int, default=None,
                    help=f"tasks per run (default: sqlite {DEFAULT_TASKS['sqlite']}, "
                         f"postgresql {DEFAULT_TASKS['postgresql']}; --quick: "
                         f"{QUICK_TASKS['sqlite']} / {QUICK_TASKS['postgresql']})")
    ap.add_argument("--db", type=_dbs, default=["sqlite", "postgresql"],
                    help="databases (default sqlite,postgresql)")
    ap.add_argument("--pg-url", default=os.environ.get("LABELNB_TEST_PG_URL",
                                                       "postgresql://127.0.0.1/test"),
                    help="PostgreSQL database; the benchmark makes (and drops) its own schemas")
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--simulated", type=int, default=2000,
                    help="simulated annotators (default 2000; --quick 300)")
    ap.add_argument("--sim-seconds", type=float, default=None,
                    help="length of the latency run (default 30; --quick 6)")
    ap.add_argument("--sim-procs", type=int, default=None,
                    help="processes driving the simulated annotators (default 8; --quick 4)")
    ap.add_argument("--sim-work", type=float, nargs=2, default=(2.0, 6.0),
                    metavar=("MIN", "MAX"), help="seconds an annotator works on a task")
    ap.add_argument("--rounds", type=int, default=None,
                    help="plain/labelnb rounds per row of the throughput table; it reports "
                         "the medians (default 3; --quick 1)")
    ap.add_argument("--skip-sim", action="store_true", help="skip the latency table")
    ap.add_argument("--skip-throughput", action="store_true", help="skip the throughput table")
    ap.add_argument("--max-run-s", type=float, default=60.0,
                    help="stop a throughput run after this long (its rate is then done/time)")
    ap.add_argument("--workdir", default=None, help="folder for the SQLite files (default: tmp)")
    ap.add_argument("--profile", default=None, metavar="DIR",
                    help="cProfile the labelnb workers' timed loops into DIR and print the top")
    ap.add_argument("--profile-top", type=int, default=25)
    ap.add_argument("--breakdown", action="store_true",
                    help="also time each SQLite statement of one process's claim+submit, "
                         "labelnb's and the plain queue's (a third table)")
    args = ap.parse_args(argv)
    if args.sim_seconds is None:
        args.sim_seconds = 6.0 if args.quick else 30.0
    if args.quick and args.simulated == 2000:
        args.simulated = 300
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    if args.sim_procs is None:
        args.sim_procs = 4  # on 2 cores, more driver processes only add contention

    needs_pg = "postgresql" in args.db or not args.skip_sim
    if needs_pg:
        try:
            import psycopg

            with psycopg.connect(_pg_dsn(args.pg_url), connect_timeout=5) as c:
                pg_version = c.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        except Exception as e:
            print(f"PostgreSQL at {args.pg_url} is unreachable ({e}); pass --pg-url, or "
                  "--db sqlite --skip-sim", file=sys.stderr)
            return 2
    print(f"labelnb queue benchmark: {platform.python_implementation()} "
          f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}"
          + (f", PostgreSQL {pg_version}" if needs_pg else "")
          + f", {os.cpu_count()} CPUs" + (" (quick)" if args.quick else ""))
    dbs = Databases(args.pg_url, args.workdir)
    try:
        if not args.skip_throughput:
            rows = throughput_table(args, dbs)
            print_throughput(rows)
            sys.stdout.flush()
        if not args.skip_sim:
            print_sim(sim_table(args, dbs))
        if args.breakdown:
            with _status("breakdown: one SQLite process, every statement timed"):
                work = tempfile.mkdtemp(prefix="lnb-breakdown-", dir=args.workdir)
                try:
                    print_breakdown(breakdown_table(args, work))
                finally:
                    shutil.rmtree(work, ignore_errors=True)
        if args.profile:
            print_profile(args.profile, args.profile_top)
    finally:
        dbs.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
