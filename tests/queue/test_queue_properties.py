"""Property test of the queue's invariants: any interleaving of claim / submit / skip /
release / heartbeat by several annotators keeps

* at most one live lease per task;
* per item, at most ``overlap`` annotations, all by different annotators;
* every acknowledged submit stored exactly once.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import labelnb
from labelnb import Choice, Schema
from labelnb.errors import LeaseExpired

ANNOTATORS = ["ana", "bob", "cy"]


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.project = labelnb.Project.create(Path(self.dir.name) / "q.db", "p",
                                              Schema("choice", ["a", "b"]), overlap=2)
        self.project.add_items([f"item {i}" for i in range(4)])
        self.queues = {a: self.project.queue(a) for a in ANNOTATORS}
        self.acked: dict[str, tuple[str, int]] = {}

    def teardown(self) -> None:
        self.project.close()
        self.dir.cleanup()

    @rule(who=st.sampled_from(ANNOTATORS))
    def claim(self, who: str) -> None:
        self.queues[who].claim()

    @precondition(lambda self: any(q.current for q in self.queues.values()))
    @rule(who=st.sampled_from(ANNOTATORS), label=st.sampled_from(["a", "b"]),
          retry=st.booleans())
    def submit(self, who: str, label: str, retry: bool) -> None:
        q = self.queues[who]
        if q.current is None:
            return
        t = q.current
        cid = f"{who}-{t.id}-{t.token[:6]}"
        aid = q.submit(Choice(label), client_id=cid)
        self.acked[aid] = (who, t.item_id)
        if retry:  # a retried request with the same client id is a no-op
            assert q.submit(Choice(label), client_id=cid, task=t) == aid

    @precondition(lambda self: any(q.current for q in self.queues.values()))
    @rule(who=st.sampled_from(ANNOTATORS), skip=st.booleans())
    def give_back(self, who: str, skip: bool) -> None:
        q = self.queues[who]
        if q.current is not None:
            (q.skip if skip else q.release)()

    @rule(who=st.sampled_from(ANNOTATORS), other=st.sampled_from(ANNOTATORS))
    def steal(self, who: str, other: str) -> None:
        """Presenting another annotator's lease is always refused."""
        t = self.queues[other].current
        if t is None or who == other:
            return
        try:
            self.queues[who].submit(Choice("a"), task=t)
        except LeaseExpired:
            return
        raise AssertionError(f"{who} submitted {other}'s lease")

    @invariant()
    def one_live_lease_per_task(self) -> None:
        leases = self.project.leases()
        if leases.empty:
            return
        live = leases[leases["outcome"].isna()]
        assert not live["task_id"].duplicated().any(), live

    @invariant()
    def overlap_and_distinct_authors(self) -> None:
        df = self.project.annotations()
        if df.empty:
            return
        per_item = df.groupby("item_id")["author"].agg(list)
        for authors in per_item:
            assert len(authors) <= 2 and len(set(authors)) == len(authors)
        assert set(self.acked) == set(df["id"])
        assert not df["client_id"].dropna().duplicated().any()


QueueMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestQueueInvariants = QueueMachine.TestCase
