"""GPU-heavy jobs, run here or dispatched to Modal, with one code path.

``submit(job, payload, backend="local"|"modal") -> JobHandle``. The local backend runs
the job's body (:mod:`labelnb.jobs.bodies`) in a worker thread of this process; the
Modal backend spawns the function of the same name deployed from ``gpu_jobs/``, which
calls the very same body. A handle has ``status``, ``result()``, ``logs()`` and
``cancel()``; a failed job raises :class:`JobFailed` carrying the traceback of where
it failed (the remote one on Modal).

>>> h = submit("retrain", {"train": {"texts": ["good", "great", "bad", "awful"],
...                                  "labels": ["pos", "pos", "neg", "neg"]},
...                        "val": {"texts": ["good", "awful"], "labels": ["pos", "neg"]}})
>>> h.result(timeout=60)["metrics"]["n_train"], h.status
(4, 'done')
"""

from __future__ import annotations

import threading
import traceback
import uuid
from collections.abc import Mapping
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Literal

from labelnb.errors import LabelnbError, ValidationError
from labelnb.jobs.bodies import JOBS, model_id_for

Backend = Literal["local", "modal"]

#: the deployed Modal app and function of each job (see gpu_jobs/README.md)
MODAL_FUNCTIONS: dict[str, tuple[str, str]] = {
    "sam_embed": ("labelnb-sam", "sam_embed"),
    "retrain": ("labelnb-retrain", "retrain"),
}

_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="labelnb-job")


class JobFailed(LabelnbError):
    """A job raised; ``remote_traceback`` is the traceback where it failed."""

    def __init__(self, job: str, job_id: str, error: str, remote_traceback: str) -> None:
        super().__init__(f"job {job} ({job_id}) failed: {error}\n--- traceback of the job ---\n"
                         f"{remote_traceback}")
        self.job = job
        self.job_id = job_id
        self.error = error
        self.remote_traceback = remote_traceback


class JobHandle:
    """A submitted job. ``status`` is one of queued, running, done, failed, cancelled."""

    def __init__(self, job: str, backend: Backend) -> None:
        self.job = job
        self.backend = backend
        self.id = uuid.uuid4().hex[:12]
        self._logs: list[str] = []
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._state = "queued"
        self._future: Future[Any] | None = None
        self._call: Any = None  # modal.FunctionCall
        self._failure: JobFailed | None = None
        self._output: Any = None  # a Modal job's result, once fetched

    def __repr__(self) -> str:
        return f"JobHandle({self.job!r}, id={self.id!r}, backend={self.backend!r}, {self.status})"

    def _log(self, msg: str) -> None:
        with self._lock:
            self._logs.append(msg)

    def logs(self) -> list[str]:
        """The job's log lines so far (local); on Modal, see the app's logs
        (``modal app logs <app>``), which this handle cannot read."""
        with self._lock:
            return list(self._logs)

    @property
    def status(self) -> str:
        if self.backend == "modal" and self._state in ("queued", "running"):
            try:
                self._result_modal(timeout=0)
            except TimeoutError:
                self._state = "running"
            except JobFailed:
                pass
            except Exception as e:  # Modal unreachable for now: the state is unknown
                if not _client_side(e):
                    raise
        return self._state

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the result (``TimeoutError`` after ``timeout`` s); a failed job
        raises :class:`JobFailed`, a cancelled one ``InterruptedError``."""
        if self.backend == "modal":
            return self._result_modal(timeout)
        assert self._future is not None
        try:
            return self._future.result(timeout=timeout)
        except FutureTimeout:
            raise TimeoutError(f"job {self.job} ({self.id}) is still {self._state} after "
                               f"{timeout} s") from None
        except CancelledError:  # cancelled before it started: the future never ran
            raise self._interrupted("before it started") from None

    def _interrupted(self, when: str) -> InterruptedError:
        return InterruptedError(f"job {self.job} ({self.id}) was cancelled {when}; it has "
                                "no result (submit it again to run it)")

    def _result_modal(self, timeout: float | None) -> Any:
        if self._failure is not None:
            raise self._failure
        if self._state == "cancelled":
            raise self._interrupted("on Modal")
        if self._state == "done":
            return self._output
        try:
            out = self._call.get(timeout=timeout)
        except TimeoutError:
            raise
        except Exception as e:  # modal re-raises the remote exception with its traceback
            if _client_side(e):  # the connection failed, not the job: ask again later
                raise
            self._state = "failed"
            self._failure = JobFailed(self.job, self.id, f"{type(e).__name__}: {e}",
                                      "".join(traceback.format_exception(e)))
            raise self._failure from e
        self._output = out
        self._state = "done"
        return out

    def cancel(self) -> bool:
        """Ask the job to stop: a queued job never starts; a running local job stops at
        its next checkpoint (``sam_embed``: between images and after the last one;
        ``retrain``: before and after the fit; work done by then is dropped) and ends
        ``cancelled``; a Modal call is cancelled. True when the job will not deliver a
        result (``result()`` then raises ``InterruptedError``), False when it had finished
        already."""
        if self.backend == "modal":
            _ = self.status  # asks Modal: a job that has finished keeps its outcome
            if self._state in ("done", "failed"):  # settled: its outcome stays
                return False
            if self._state == "cancelled":
                return True
            self._cancel.set()
            self._call.cancel()
            self._state = "cancelled"
            return True
        assert self._future is not None
        with self._lock:  # _run_local settles the outcome under the same lock
            self._cancel.set()
            if self._future.cancel():
                self._state = "cancelled"
                return True
            return self._state in ("queued", "running", "cancelled")


def _client_side(e: BaseException) -> bool:
    """Whether ``e`` is this process failing to reach Modal (a dropped connection, an
    expired token) rather than the remote job's own exception."""
    if isinstance(e, ConnectionError | OSError):
        return True
    kind = type(e)
    mod = kind.__module__ or ""
    return mod.startswith(("grpclib", "modal.exception")) and kind.__name__ in (
        "ConnectionError", "AuthError", "StreamTerminatedError", "GRPCError",
        "ClientClosedError")


def _run_local(handle: JobHandle, fn: Any, payload: Mapping[str, Any]) -> Any:
    if handle._cancel.is_set():
        handle._state = "cancelled"
        raise handle._interrupted("before it started")
    handle._state = "running"
    handle._log(f"{handle.job}: started (local)")
    try:
        out = fn(payload, log=handle._log, cancelled=handle._cancel.is_set)
    except InterruptedError:
        handle._state = "cancelled"
        raise
    except Exception as e:
        handle._state = "failed"
        handle._log(f"{handle.job}: failed: {type(e).__name__}: {e}")
        raise JobFailed(handle.job, handle.id, f"{type(e).__name__}: {e}",
                        traceback.format_exc()) from e
    with handle._lock:  # a cancel() that answered True must not see a result delivered
        late = handle._cancel.is_set()
        handle._state = "cancelled" if late else "done"
    if late:
        handle._log(f"{handle.job}: cancelled after its last step; the result is dropped")
        raise handle._interrupted("while it ran")
    handle._log(f"{handle.job}: done")
    return out


def submit(job: str, payload: Mapping[str, Any], backend: Backend = "local") -> JobHandle:
    """Run ``job`` (``"sam_embed"`` or ``"retrain"``) on ``payload``; see the module."""
    if job not in JOBS:
        raise ValidationError(f"unknown job {job!r}; the jobs are {', '.join(sorted(JOBS))}")
    handle = JobHandle(job, backend)
    if backend == "local":
        handle._future = _POOL.submit(_run_local, handle, JOBS[job], payload)
    elif backend == "modal":
        try:
            import modal
        except ImportError as e:
            raise LabelnbError("backend='modal' needs the modal package: pip install "
                               "'labelnb[modal]', then deploy gpu_jobs/ "
                               "(gpu_jobs/README.md)") from e
        app_name, fn_name = MODAL_FUNCTIONS[job]
        try:
            fn = modal.Function.from_name(app_name, fn_name)
            handle._call = fn.spawn(dict(payload))
        except Exception as e:  # no token, app not deployed, network: say how to fix it
            raise LabelnbError(
                f"job {job}: could not start {app_name}.{fn_name} on Modal "
                f"({type(e).__name__}: {e}). Run `modal setup` for a token and "
                f"`modal deploy gpu_jobs/{'sam_embed' if job == 'sam_embed' else job}.py` "
                f"(gpu_jobs/README.md), or use backend='local'") from e
        handle._state = "running"
        handle._log(f"{job}: spawned on Modal ({app_name}.{fn_name}, call "
                    f"{getattr(handle._call, 'object_id', '?')})")
    else:
        raise ValidationError(f"backend must be 'local' or 'modal', got {backend!r}")
    return handle


#: images from which :func:`embed_items` shows a progress bar by default
EMBED_PROGRESS_MIN = 50


def embed_items(project: Any, segmenter_config: Mapping[str, Any], item_ids: Any = None, *,
                backend: Backend = "local", batch: int = 16, cache: Any = None,
                progress: bool | None = None) -> dict[str, int]:
    """Fill the project's embedding cache through the ``sam_embed`` job (locally or on
    Modal), in batches; returns ``{"embedded", "cached"}`` counts. ``progress``: a
    ``tqdm.auto`` bar over the images (by default from 50 of them)."""
    import io

    import numpy as np
    from PIL import Image
    from tqdm.auto import tqdm

    from labelnb.segment.cache import image_digest, project_cache
    from labelnb.segment.sam import Embedding, as_rgb_array

    cache = cache or project_cache(project)
    model_id = model_id_for(segmenter_config)
    if item_ids is None:
        items = project.items()
        item_ids = [int(i) for i, m in zip(items["id"], items["media"], strict=True)
                    if m == "image"]
    todo: list[tuple[str, bytes]] = []
    counts = {"embedded": 0, "cached": 0}

    def flush() -> None:
        if not todo:
            return
        # the job names its embeddings as this process does (a remote worker would
        # name a checkpoint file by its own copy of it)
        model = {**segmenter_config, "model_id": model_id}
        out = submit("sam_embed", {"model": model, "images": [b for _, b in todo]},
                     backend).result()
        for (key, _), e in zip(todo, out["embeddings"], strict=True):
            feats = np.frombuffer(e["features"], np.float16).reshape(e["shape"]).copy()
            cache.put(out["model_id"], key, Embedding(feats, tuple(e["original_size"]),
                                                      tuple(e["input_size"]), out["model_id"]))
            counts["embedded"] += 1
        todo.clear()

    item_ids = list(item_ids)
    show = progress if progress is not None else len(item_ids) >= EMBED_PROGRESS_MIN
    bar = tqdm(item_ids, desc="embedding images", unit="image", disable=not show)
    for item_id in bar:
        arr = as_rgb_array(project.load_image(int(item_id)))
        key = image_digest(arr)
        if cache.get(model_id, key) is not None:
            counts["cached"] += 1
            continue
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG")
        todo.append((key, buf.getvalue()))
        if len(todo) >= batch:
            flush()
    flush()
    return counts


__all__ = ["JobFailed", "JobHandle", "embed_items", "submit"]
