"""Two jobs sharing one model, and a Modal handle's outcome under cancel and a dropped
connection (a stand-in call object: Modal cannot be reached here)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from labelnb.jobs import JobFailed, JobHandle, bodies, submit


def _png(h: int, w: int, v: int) -> bytes:
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx % 256, yy % 256, np.full_like(xx, v)], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def test_two_sam_jobs_at_once_get_their_own_embeddings() -> None:
    """The local pool runs two jobs at once on one cached model: without a lock on its
    predictor each read the other's features and sizes (about 20 of 24 wrong)."""
    tall = [_png(30, 40, i) for i in range(8)]
    wide = [_png(50, 20, 100 + i) for i in range(8)]
    sam = bodies.load_sam({"tiny": True})
    want = [bodies.embed_images(sam, imgs)["embeddings"] for imgs in (tall, wide)]
    handles = [submit("sam_embed", {"model": {"tiny": True}, "images": imgs})
               for imgs in (tall, wide)]
    got = [h.result(300)["embeddings"] for h in handles]
    for g, w in zip(got, want, strict=True):
        assert [e["original_size"] for e in g] == [e["original_size"] for e in w]
        assert all(a["features"] == b["features"] for a, b in zip(g, w, strict=True))


class _Call:
    """A modal.FunctionCall stand-in: ``get`` raises or returns what it is given."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.cancelled = False

    def get(self, timeout: float | None = None) -> Any:
        out = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(out, BaseException):
            raise out
        return out

    def cancel(self) -> None:
        self.cancelled = True


def _modal(call: _Call) -> JobHandle:
    h = JobHandle("sam_embed", "modal")
    h._call = call
    h._state = "running"
    return h


def test_cancel_after_a_modal_job_finished_keeps_its_result() -> None:
    h = _modal(_Call({"ok": 1}))
    assert h.result() == {"ok": 1}
    assert h.cancel() is False and h.status == "done"
    assert h.result() == {"ok": 1}


def test_a_dropped_connection_is_not_a_failed_job() -> None:
    h = _modal(_Call(ConnectionError("reset by peer"), TimeoutError(), {"ok": 2}))
    assert h.status == "running"  # Modal unreachable: still unknown, not failed
    assert h.status == "running"  # still running (the call timed out)
    assert h.result() == {"ok": 2} and h.status == "done"
    failing = _modal(_Call(ValueError("bad payload")))  # the job's own error is a failure
    with pytest.raises(JobFailed, match="ValueError"):
        failing.result()
    assert failing.status == "failed"


def test_retrain_learns_from_one_character_words_and_names_textless_input() -> None:
    """sklearn's default tokens have two characters or more: texts of single characters
    (CJK, or 'a'/'b') failed with its bare 'empty vocabulary' error."""
    split = {"texts": ["好", "坏", "好 好", "坏 坏"], "labels": ["pos", "neg", "pos", "neg"]}
    out = bodies.retrain({"train": split, "val": split})
    assert out["metrics"]["accuracy"] == 1.0
    from labelnb.errors import ValidationError

    with pytest.raises(ValidationError, match="'train.texts' has no words"):
        bodies.retrain({"train": {"texts": ["!", "?"], "labels": ["a", "b"]},
                        "val": {"texts": ["!"], "labels": ["a"]}})


def test_embed_items_shows_its_progress(tmp_path: Any, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    import labelnb
    from labelnb.jobs import embed_items
    from labelnb.segment.cache import EmbeddingCache

    for i in range(3):
        Image.open(io.BytesIO(_png(20 + i, 30, i))).save(tmp_path / f"{i}.png")
    p = labelnb.Project.create(tmp_path / "e.db", "e", labelnb.Schema("masks", ["coin"]))
    p.add_items([str(tmp_path / f"{i}.png") for i in range(3)])
    cache = EmbeddingCache(tmp_path / "emb")
    assert embed_items(p, {"tiny": True}, cache=cache) == {"embedded": 3, "cached": 0}
    assert "embedding images" not in capsys.readouterr().err  # 3 images: no bar by default
    assert embed_items(p, {"tiny": True}, cache=cache, progress=True) == {
        "embedded": 0, "cached": 3}
    err = capsys.readouterr().err
    assert "embedding images" in err and "3/3" in err


def test_cancel_of_a_finished_modal_job_asks_modal_first_and_keeps_the_result() -> None:
    """cancel() looked only at the cached state: a job that had finished on Modal, whose
    result nobody had fetched yet, was marked cancelled and its result thrown away."""
    call = _Call({"ok": 3})
    h = _modal(call)  # finished remotely; status never asked
    assert h.cancel() is False and not call.cancelled
    assert h.status == "done" and h.result() == {"ok": 3}
    failed = _Call(ValueError("bad payload"))
    hf = _modal(failed)
    assert hf.cancel() is False and not failed.cancelled and hf.status == "failed"
    with pytest.raises(JobFailed, match="ValueError"):
        hf.result()
    # still running on Modal: cancelled, and then it has no result
    running = _Call(TimeoutError())
    hr = _modal(running)
    assert hr.cancel() is True and running.cancelled and hr.status == "cancelled"
    with pytest.raises(InterruptedError, match="cancelled on Modal"):
        hr.result()
    assert hr.cancel() is True  # asked twice: still no result


def test_a_fetched_modal_result_is_not_fetched_again() -> None:
    call = _Call({"ok": 4}, RuntimeError("results expired on Modal"))
    h = _modal(call)
    assert h.result() == {"ok": 4}
    assert h.result() == {"ok": 4} and h.status == "done"
