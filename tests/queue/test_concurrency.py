"""The queue under real concurrency: 8 worker processes claim and submit until the pool
is empty, and one of them is killed with SIGKILL while it holds a lease.

Afterwards, from the database alone (plus what each worker logged as acknowledged):

1. no task was ever leased to two annotators at once (lease intervals never overlap);
2. every task ends done, with exactly one annotation, and every item has exactly its
   overlap of annotations, by distinct authors;
3. the killed worker's lease came back to the pool after its TTL: it ended as
   ``expired`` and the task was then claimed, and submitted, by another annotator;
4. every annotation a worker saw acknowledged is stored, with the task, author and
   ``client_id`` it was submitted with, and nothing else is stored (no duplicates).

Workers are separate interpreters (``sys.executable -c``), each opening the project by
URL as its own annotator, so SQLite file locking / PostgreSQL row locking is what keeps
them apart, as in real use. Runs on both databases via the ``db_url`` fixture.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import labelnb

N_WORKERS = 8
N_ITEMS = 80
OVERLAP = 2
LEASE_TTL_S = 2.0
VICTIM = "w3"
VICTIM_SUBMITS_FIRST = 3  # the victim does some real work before it "hangs"
WORKER_TIMEOUT_S = 120.0  # a worker gives up (and fails the test) after this long
STARTUP_TIMEOUT_S = 60.0  # all workers must have opened the project by then
PROJECT = "concurrency"

REPO_ROOT = Path(__file__).resolve().parents[2]

# Runs in each worker process. argv[1] is a JSON config. Writes (all fsync'ed):
#   <dir>/<name>.ready   once the project is open
#   <dir>/<name>.log     one JSON line per acknowledged submit (and per refused one)
#   <dir>/<name>.held    (victim only) the task it holds when it starts to hang
#   <dir>/<name>.error   a traceback, if the worker failed
WORKER_SRC = r'''
import json, os, random, sys, time, traceback
from datetime import UTC, datetime

cfg = json.loads(sys.argv[1])
name, d = cfg["name"], cfg["dir"]


def append(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")
        f.flush()
        os.fsync(f.fileno())


def publish(path, rec):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rec, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def iso():
    return datetime.now(UTC).isoformat()


def main():
    import labelnb
    from labelnb.errors import LeaseExpired

    project = labelnb.open(cfg["url"], cfg["project"])
    queue = project.queue(name)
    publish(os.path.join(d, name + ".ready"), {"pid": os.getpid()})
    deadline = time.monotonic() + cfg["timeout_s"]
    go = os.path.join(d, "go")
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            raise RuntimeError("never got the go signal")
        time.sleep(0.01)
    log = os.path.join(d, name + ".log")
    rng = random.Random(name)

    def victim_holds() -> bool:
        return any(f.endswith(".held") for f in os.listdir(d))

    seq = submitted = 0
    while True:
        if time.monotonic() > deadline:
            st = project.tasks()["status"].value_counts().to_dict()
            raise RuntimeError(f"pool still not empty after {cfg['timeout_s']} s: {st}")
        task = queue.claim()
        if task is None:
            # Nothing claimable right now; the pool is only empty when every task is
            # done (a dead worker's lease comes back only after its TTL).
            if (project.tasks()["status"] == "done").all():
                break
            time.sleep(0.05)
            continue
        if cfg["victim"] and submitted >= cfg["hold_after"]:
            publish(os.path.join(d, name + ".held"), {
                "task_id": task.id, "item_id": task.item.id, "token": task.token,
                "claimed_at": task.claimed_at.isoformat(),
                "expires_at": task.expires_at.isoformat()})
            # Hang while holding the lease (heartbeating, so it is surely live when
            # the parent kills us). The parent sends SIGKILL here.
            while True:
                time.sleep(cfg["ttl"] / 4)
                queue.heartbeat()
        seq += 1
        client_id = f"{name}-{seq}"
        claimed = iso()
        time.sleep(rng.uniform(0.0, 0.005))  # "work"
        if not cfg["victim"] and not victim_holds():
            # Until the victim holds its lease, the others go slower, so a fast queue
            # cannot drain the pool before the victim has done its first submits.
            time.sleep(0.02)
        try:
            ann_id = queue.submit(labelnb.Choice(rng.choice(["a", "b"])), client_id=client_id)
        except LeaseExpired as e:  # too slow under load: the task went back to the pool
            append(log, {"event": "refused", "task_id": task.id, "token": task.token,
                         "client_id": client_id, "error": str(e)})
            continue
        append(log, {"event": "submitted", "task_id": task.id, "item_id": task.item.id,
                     "token": task.token, "annotation_id": ann_id, "client_id": client_id,
                     "claimed_at": claimed, "submitted_at": iso()})
        submitted += 1
    project.close()


try:
    main()
except BaseException:
    publish(os.path.join(d, name + ".error"), {"traceback": traceback.format_exc()})
    sys.exit(1)
'''


def _utc(x: Any) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite gives naive UTC)."""
    ts = pd.Timestamp(x)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def _wait_for(cond: Any, timeout_s: float, what: str, procs: dict[str, subprocess.Popen[bytes]],
              d: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        dead = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
        if dead:
            pytest.fail(f"while waiting for {what}, workers exited early: {dead}\n"
                        + _diagnostics(d), pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}\n" + _diagnostics(d),
                        pytrace=False)
        time.sleep(0.02)


def _diagnostics(d: Path) -> str:
    """The tail of each failed worker's traceback (or of its stderr)."""
    out = []
    for f in sorted(d.glob("*.error")):
        try:
            text = json.loads(f.read_text())["traceback"]
        except (ValueError, KeyError):
            text = f.read_text(errors="replace")
        out.append(f"--- {f.stem}: traceback (tail)\n{text.strip()[-1500:]}")
    for f in sorted(d.glob("*.stderr")):
        text = f.read_text(errors="replace").strip()
        if text and not (d / f"{f.stem}.error").exists():
            out.append(f"--- {f.stem}: stderr (tail)\n{text[-1500:]}")
    return "\n".join(out)


def _read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals (SIGKILL)")
def test_eight_workers_and_a_sigkill(db_url: str, tmp_path: Path) -> None:
    project = labelnb.Project.create(db_url, PROJECT, labelnb.Schema("choice", ["a", "b"]),
                                     overlap=OVERLAP, lease_ttl_s=LEASE_TTL_S)
    item_ids = project.add_items([f"text {i}" for i in range(N_ITEMS)])
    assert len(set(item_ids)) == N_ITEMS
    n_tasks = N_ITEMS * OVERLAP

    d = tmp_path / "workers"
    d.mkdir()
    names = [f"w{i}" for i in range(N_WORKERS)]
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    stderr_files = []
    t0 = time.monotonic()
    try:
        for name in names:
            cfg = {"name": name, "dir": str(d), "url": db_url, "project": PROJECT,
                   "victim": name == VICTIM, "hold_after": VICTIM_SUBMITS_FIRST,
                   "ttl": LEASE_TTL_S, "timeout_s": WORKER_TIMEOUT_S}
            err = (d / f"{name}.stderr").open("wb")
            stderr_files.append(err)
            procs[name] = subprocess.Popen([sys.executable, "-c", WORKER_SRC, json.dumps(cfg)],
                                           stdout=subprocess.DEVNULL, stderr=err, env=env,
                                           cwd=str(tmp_path))

        # Start everyone at once, so they really contend.
        _wait_for(lambda: all((d / f"{n}.ready").exists() for n in names), STARTUP_TIMEOUT_S,
                  "all workers to open the project", procs, d)
        (d / "go").write_text("go")

        # Kill the victim while it holds a lease.
        held_path = d / f"{VICTIM}.held"
        _wait_for(held_path.exists, 60, f"{VICTIM} to hold its lease", procs, d)
        held = json.loads(held_path.read_text())
        victim = procs[VICTIM]
        assert victim.poll() is None, f"{VICTIM} exited before it could be killed"
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = datetime.now(UTC)
        assert victim.wait(timeout=30) == -signal.SIGKILL

        # The others drain the pool, including the dead worker's task once its lease
        # runs out.
        end = time.monotonic() + WORKER_TIMEOUT_S + 30
        for name, p in procs.items():
            if name == VICTIM:
                continue
            try:
                rc = p.wait(timeout=max(1.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"worker {name} did not finish in time\n" + _diagnostics(d),
                            pytrace=False)
            assert rc == 0, f"worker {name} failed with exit code {rc}\n" + _diagnostics(d)
        elapsed = time.monotonic() - t0
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
        for f in stderr_files:
            f.close()
        project.close()  # idempotent; the reads below reconnect

    tasks = project.tasks()
    leases = project.leases()
    anns = project.annotations()
    project.close()

    # --- every task done; exactly overlap annotations per item, one per task -----------
    assert len(tasks) == n_tasks, f"expected {n_tasks} tasks, found {len(tasks)}"
    not_done = tasks[tasks["status"] != "done"]
    assert not_done.empty, f"tasks not done: {not_done[['id', 'status', 'assignee']]}"
    assert len(anns) == n_tasks, (
        f"expected {n_tasks} annotations ({N_ITEMS} items x overlap {OVERLAP}), "
        f"found {len(anns)}")
    per_task = Counter(int(t) for t in anns["task_id"])
    assert set(per_task) == set(int(t) for t in tasks["id"])
    dup_tasks = {t: n for t, n in per_task.items() if n != 1}
    assert not dup_tasks, f"tasks with more than one annotation: {dup_tasks}"
    per_item = anns.groupby("item_id")["author"].agg(list)
    assert set(per_item.index) == set(item_ids)
    wrong = {i: a for i, a in per_item.items() if len(a) != OVERLAP or len(set(a)) != OVERLAP}
    assert not wrong, f"items without {OVERLAP} annotations by distinct authors: {wrong}"
    assert set(anns["author"]) <= set(names), Counter(anns["author"])

    # --- no task leased to two annotators at once -------------------------------------
    for task_id, group in leases.groupby("task_id"):
        # A lease is held from its claim until it is submitted or, if it was never
        # ended by its holder, until it expires: an expired lease's ended_at is when
        # someone else took the task over, which must itself be after expires_at.
        spans = sorted(
            (_utc(r.claimed_at),
             min(_utc(r.ended_at), _utc(r.expires_at)) if r.outcome == "submitted"
             else _utc(r.expires_at),
             r.annotator, r.token)
            for r in group.itertuples())
        held_until, holder = spans[0][1], spans[0]
        for span in spans[1:]:
            assert span[0] >= held_until, (
                f"task {task_id} was leased to {span[2]} at {span[0]} while the lease of "
                f"{holder[2]} (claimed {holder[0]}) ran until {held_until}")
            if span[1] > held_until:
                held_until, holder = span[1], span
        submitted = group[group["outcome"] == "submitted"]
        assert len(submitted) == 1, f"task {task_id}: {len(submitted)} submitted leases"
    # every lease was either submitted or expired and taken over (nobody skipped or
    # released here, and no task is left leased)
    unended = leases[leases["outcome"].isna()]
    assert unended.empty, (
        f"{len(unended)} leases never ended: "
        f"{unended[['task_id', 'annotator', 'claimed_at', 'expires_at']].head(10)}")
    assert set(leases["outcome"]) <= {"submitted", "expired"}, Counter(leases["outcome"])

    # --- the killed lease came back after its TTL ---------------------------------------
    vl = leases[leases["token"] == held["token"]]
    assert len(vl) == 1, f"the victim's lease {held['token'][:8]} is not in the leases table"
    v = vl.iloc[0]
    assert int(v["task_id"]) == held["task_id"] and v["annotator"] == VICTIM
    v_expires = _utc(v["expires_at"])
    assert killed_at < v_expires, (
        f"{VICTIM} was killed at {killed_at}, after its lease ran out at {v_expires}; "
        "it did not hold a live lease")
    assert v["outcome"] == "expired", f"the killed lease ended as {v['outcome']!r}"
    assert _utc(v["ended_at"]) > v_expires, "the killed lease was ended before it expired"
    later = leases[(leases["task_id"] == held["task_id"]) & (leases["token"] != held["token"])]
    later_claims = [_utc(c) for c in later["claimed_at"]]
    assert later_claims and all(c > v_expires for c in later_claims), (
        f"task {held['task_id']} was not re-leased strictly after the killed lease expired "
        f"at {v_expires}: {later[['annotator', 'claimed_at', 'outcome']]}")
    assert VICTIM not in set(later["annotator"])
    task_ann = anns[anns["task_id"] == held["task_id"]]
    assert len(task_ann) == 1 and task_ann.iloc[0]["author"] != VICTIM, (
        f"the killed worker's task {held['task_id']} was not finished by another worker")

    # --- every acknowledged annotation is stored, and nothing else ----------------------
    acked: list[dict[str, Any]] = []
    refused = 0
    for name in names:
        for rec in _read_log(d / f"{name}.log"):
            if rec["event"] == "submitted":
                acked.append({**rec, "author": name})
            else:
                refused += 1
    victim_acked = [a for a in acked if a["author"] == VICTIM]
    assert len(victim_acked) == VICTIM_SUBMITS_FIRST, (
        f"{VICTIM} logged {len(victim_acked)} submits before hanging, "
        f"expected {VICTIM_SUBMITS_FIRST}")
    ids = Counter(a["annotation_id"] for a in acked)
    assert all(n == 1 for n in ids.values()), "an annotation id was acknowledged twice"
    by_id = anns.set_index("id")
    missing = [a for a in acked if a["annotation_id"] not in by_id.index]
    assert not missing, f"{len(missing)} acknowledged annotations are missing: {missing[:5]}"
    for a in acked:
        row = by_id.loc[a["annotation_id"]]
        got = (int(row["task_id"]), int(row["item_id"]), row["author"], row["client_id"])
        want = (a["task_id"], a["item_id"], a["author"], a["client_id"])
        assert got == want, f"annotation {a['annotation_id']}: stored {got}, acknowledged {want}"
    unacked = set(by_id.index) - set(ids)
    assert not unacked, f"stored annotations nobody saw acknowledged: {sorted(unacked)[:5]}"
    assert anns["client_id"].notna().all()
    dup_clients = {c: n for c, n in Counter(anns["client_id"]).items() if n > 1}
    assert not dup_clients, f"duplicate client_ids: {dup_clients}"
    submitted_tokens = dict(zip(leases["token"], leases["outcome"], strict=True))
    assert all(submitted_tokens.get(a["token"]) == "submitted" for a in acked), (
        "an acknowledged submit's lease is not recorded as submitted")

    print(f"\n{db_url.split('://')[0] if '://' in db_url else 'sqlite'}: {n_tasks} tasks, "
          f"{len(leases)} leases ({(leases['outcome'] == 'expired').sum()} expired), "
          f"{refused} refused submits, workers ran {elapsed:.1f} s")
