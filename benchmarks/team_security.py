"""Team security's cost: claim+submit throughput on PostgreSQL with security on vs off.

Two projects with the same tasks are drained the same way, in the same run:

* **off**: a project in a schema without team security. Each worker opens it as the
  owner and drives ``project.queue(f"w{i}")``: the direct path (one CTE statement per
  claim, one per submit, in autocommit).
* **on**: a project in a schema after ``labelnb team init`` (row-level security on
  every table, the append-only triggers). Each worker is a real login role in the
  annotator group (``<prefix>_w<i>``, made with ``labelnb team add``) and drives its
  own ``project.queue()``: every claim and submit calls the ``SECURITY DEFINER``
  functions, which also check membership, compute the routing filters from the stored
  profile, decide the review sample and write an audit event (claim, submit) stamped
  with the database user.

Both use the project's default routing (``DefaultRouting``).

Pairing. The machine this runs on is shared, and its background load (CPU, and the
disk that every commit waits for) swings by more than the difference measured, so the
two are measured in many short alternating rounds by the same worker processes. Each
``spawn`` process opens both projects and claims and submits a few tasks of each
(setup, untimed). Then, round after round, all workers drain ``--per-round`` tasks
each from one project, meet at a barrier, and drain as many from the other; a round's
rate is its tasks over the wall time from the barrier to the last worker's finish.
Two rounds make a block (off-on, then on-off: each mode runs once right after the
other and once after itself, so the order's own effect cancels). The table gives the
throughput of all rounds together and the median of the blocks' on/off ratios (a load
spike spoils a block or two, not the result). Target: security costs under 20%
(on/off >= 0.8). The schemas, ``Databases`` and loading come from
``queue_throughput.py``.

Run from the repository root::

    .venv/bin/python benchmarks/team_security.py            # full run (~1-2 min)
    .venv/bin/python benchmarks/team_security.py --quick    # smoke run

Every schema and role the benchmark makes (``bench_<hex>``, ``lnbb<hex>_*``) is
dropped at the end, also on failure.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import queue_throughput as qt  # noqa: E402  (schemas, loading, status lines)

PROJECT = "bench"
TARGET_RATIO = 0.8
SETUP_TIMEOUT_S = 300.0
ROUND_TIMEOUT_S = 300.0
WARMUP = 10  # claim+submit per worker and mode before the clock starts


def paired_worker(index: int, off_url: str, on_url: str, rounds: int, per_round: int,
                  barrier: Any, results: Any) -> None:
    """One worker: both queues opened before the clock; then alternating rounds."""
    try:
        import labelnb

        off = labelnb.open(off_url, PROJECT).queue(f"w{index}")
        on_project = labelnb.open(on_url, PROJECT)
        assert on_project.security is not None and on_project.security.definer
        on = on_project.queue()
        queues = {"off": off, "on": on}
        choice = labelnb.Choice("a")
        for q in queues.values():
            _ = q.profile  # read (and cache) the annotator profile before the clock
            for _ in range(WARMUP):  # past the planner's first (custom) plans
                if q.claim() is not None:
                    q.submit(choice)
    except BaseException:
        results.put({"index": index, "error": traceback.format_exc()})
        barrier.abort()
        return
    try:
        for r in range(rounds):
            for mode in (("off", "on") if r % 2 == 0 else ("on", "off")):
                barrier.wait(timeout=SETUP_TIMEOUT_S if r == 0 else ROUND_TIMEOUT_S)
                q = queues[mode]
                done = 0
                t0 = time.perf_counter()
                while done < per_round and q.claim() is not None:
                    q.submit(choice)
                    done += 1
                t1 = time.perf_counter()
                results.put({"index": index, "round": r, "mode": mode, "t0": t0, "t1": t1,
                             "done": done})
    except threading.BrokenBarrierError:
        results.put({"index": index, "error": "barrier broken (another worker failed)"})
    except BaseException:
        results.put({"index": index, "error": traceback.format_exc()})
        barrier.abort()


def _url_as(url: str, user: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(username=user, password=None).render_as_string(
        hide_password=False)


def prepare(dbs: qt.Databases, n: int, workers: int, prefix: str
            ) -> tuple[str, list[str], str]:
    """Two fresh schemas with ``n`` tasks each; (off URL, on URL per worker, on URL)."""
    import labelnb
    from labelnb import team

    off = dbs.new("postgresql", "off")
    qt.labelnb_prepare("postgresql", off, n, name=PROJECT)
    on = dbs.new("postgresql", "on")
    qt.labelnb_prepare("postgresql", on, n, name=PROJECT)
    owner = labelnb.open(on, PROJECT)
    try:
        team.install(owner.store, prefix=prefix)
        names = [f"{prefix}_w{i}" for i in range(workers)]
        for name in names:
            team.add_member(owner, name, "annotator")
    finally:
        owner.close()
    qt._pg_analyze(on, ["tasks", "items", "leases", "annotations", "annotators", "events"])
    return off, [_url_as(on, name) for name in names], on


def run_paired(dbs: qt.Databases, workers: int, rounds: int, per_round: int,
               prefix: str) -> dict[str, Any]:
    n = workers * (per_round * rounds + WARMUP) + workers  # spare: no round runs dry
    with qt._status(f"load 2 x {n} tasks, team init, {workers} logins"):
        off_url, on_urls, on_url = prepare(dbs, n, workers, prefix)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers)
    results = ctx.Queue()
    procs = [ctx.Process(target=paired_worker, daemon=True,
                         args=(i, off_url, on_urls[i], rounds, per_round, barrier, results))
             for i in range(workers)]
    parts: list[dict[str, Any]] = []
    try:
        with qt._status(f"{workers} workers, {rounds} rounds of {per_round} tasks each, "
                        "off and on"):
            for p in procs:
                p.start()
            expected = workers * rounds * 2
            while len(parts) < expected:
                try:
                    msg = results.get(timeout=SETUP_TIMEOUT_S + ROUND_TIMEOUT_S)
                except Exception:
                    raise RuntimeError("no result from a worker (crashed?)") from None
                if "error" in msg:
                    raise RuntimeError(f"worker {msg['index']} failed:\n{msg['error']}")
                parts.append(msg)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
        dbs.drop("postgresql", off_url)
        dbs.drop("postgresql", on_url)
    per: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for m in parts:
        per.setdefault((m["round"], m["mode"]), []).append(m)
    walls: dict[str, list[float]] = {"off": [], "on": []}
    totals = {"off": [0, 0.0], "on": [0, 0.0]}
    for r in range(rounds):
        for mode in ("off", "on"):
            ms = per[(r, mode)]
            done = sum(m["done"] for m in ms)
            wall = max(m["t1"] for m in ms) - min(m["t0"] for m in ms)
            if done != workers * per_round:
                raise RuntimeError(f"round {r} {mode}: {done} tasks, expected "
                                   f"{workers * per_round}")
            walls[mode].append(wall)
            totals[mode][0] += done
            totals[mode][1] += wall
    # a block is two rounds, off-on then on-off: each mode runs once right after the
    # other (cold) and once after itself, so the order's own effect cancels
    ratios = [(walls["off"][b] + walls["off"][b + 1]) / (walls["on"][b] + walls["on"][b + 1])
              for b in range(0, rounds - 1, 2)]
    out = {"workers": workers, "rounds": rounds, "per_round": per_round,
           "off": totals["off"][0] / totals["off"][1], "on": totals["on"][0] / totals["on"][1],
           "median_ratio": statistics.median(ratios), "ratios": ratios,
           "tasks": totals["on"][0]}
    print(f"    off {out['off']:,.0f}/s, on {out['on']:,.0f}/s; per-block on/off "
          + " ".join(f"{x:.2f}" for x in ratios), file=sys.stderr, flush=True)
    return out


def print_table(rows: list[dict[str, Any]]) -> None:
    print("\n### Claim+submit throughput on PostgreSQL: team security on vs off\n")
    print("| workers | tasks per mode | off/s | on/s | on/off (all rounds) | median block "
          "on/off | cost | target | result |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        ratio = r["on"] / r["off"]
        med = r["median_ratio"]
        print(f"| {r['workers']} | {r['tasks']:,} ({r['rounds']} rounds) | {r['off']:,.0f} | "
              f"{r['on']:,.0f} | {ratio:.2f}x | {med:.2f}x | {1 - med:+.0%} | < 20% | "
              f"{'pass' if med >= TARGET_RATIO else 'FAIL'} |")
    print("\n(a block: two rounds, off-on then on-off; cost = 1 - the median of the blocks' "
          "on/off throughput ratios)")


def _drop_roles(pg_url: str, prefixes: list[str]) -> None:
    from labelnb.queue.store import Store
    from labelnb.team import drop_roles

    store = Store(pg_url, migrate=False)
    try:
        for prefix in prefixes:
            drop_roles(store, prefix)
    finally:
        store.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=qt._ints, default=[1, 4],
                    help="worker process counts (default 1,4)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="rounds per worker count (default 40; --quick 4)")
    ap.add_argument("--per-round", type=int, default=None,
                    help="tasks each worker claims and submits per round and mode "
                         "(default 120 / workers; --quick 60 / workers)")
    ap.add_argument("--pg-url", default=os.environ.get("LABELNB_TEST_PG_URL",
                                                       "postgresql://127.0.0.1/test"),
                    help="PostgreSQL database (its user must be able to create roles)")
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    args = ap.parse_args(argv)
    rounds = args.rounds or (4 if args.quick else 40)
    rounds += rounds % 2  # whole blocks
    try:
        import psycopg

        with psycopg.connect(qt._pg_dsn(args.pg_url), connect_timeout=5) as c:
            version = c.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    except Exception as e:
        print(f"PostgreSQL at {args.pg_url} is unreachable ({e}); pass --pg-url",
              file=sys.stderr)
        return 2
    print(f"labelnb team security benchmark: {platform.python_implementation()} "
          f"{platform.python_version()}, PostgreSQL {version}, {os.cpu_count()} CPUs"
          + (" (quick)" if args.quick else ""))
    dbs = qt.Databases(args.pg_url, None)
    prefixes: list[str] = []
    rows = []
    try:
        for w in args.workers:
            per_round = args.per_round or max(1, (60 if args.quick else 120) // w)
            prefix = "lnbb" + uuid.uuid4().hex[:8]
            prefixes.append(prefix)
            rows.append(run_paired(dbs, w, rounds, per_round, prefix))
    finally:
        dbs.close()
        _drop_roles(args.pg_url, prefixes)
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
