"""Model adapters: sklearn, callables, torch (if installed), and a Label Studio ML
backend served by a local HTTP server on 127.0.0.1 from recorded responses."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from labelnb.active import (
    CallableAdapter,
    LabelStudioMLBackend,
    Predictions,
    SklearnAdapter,
    as_adapter,
)
from labelnb.errors import LabelnbError, ValidationError
from labelnb.types import Box, Choice, Span

RECORDED = json.loads((Path(__file__).parent / "data" / "ls_ml_backend.json").read_text())


class FakeBackend:
    """A Label Studio ML backend stand-in: answers POST /predict from ``answers``
    (keyed by the task's text or image), records every request."""

    def __init__(self, answers: dict[str, Any], *, status: int = 200,
                 raw: bytes | None = None, top_level_version: str | None = None,
                 drop_one: bool = False) -> None:
        self.answers = answers
        self.status = status
        self.raw = raw
        self.top_level_version = top_level_version
        self.drop_one = drop_one
        self.requests: list[dict[str, Any]] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                backend.requests.append({"path": self.path, "headers": dict(self.headers),
                                         "json": json.loads(body)})
                if backend.raw is not None or backend.status != 200:
                    out = backend.raw or b'{"error": "model crashed"}'
                else:
                    tasks = json.loads(body)["tasks"]
                    results = [backend.answers[t["data"].get("text") or t["data"]["image"]]
                               for t in tasks]
                    if backend.drop_one:
                        results = results[:-1]
                    ans: dict[str, Any] = {"results": results}
                    if backend.top_level_version:
                        ans["model_version"] = backend.top_level_version
                    out = json.dumps(ans).encode()
                self.send_response(backend.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., FakeBackend]]:
    started: list[FakeBackend] = []

    def start(answers: dict[str, Any], **kw: Any) -> FakeBackend:
        b = FakeBackend(answers, **kw)
        started.append(b)
        return b

    yield start
    for b in started:
        b.close()


def test_ls_backend_text_classifier(serve: Callable[..., FakeBackend]) -> None:
    srv = serve(RECORDED["text_classifier"])
    texts = list(RECORDED["text_classifier"])
    m = LabelStudioMLBackend(srv.url, label_config="<View><Text name='text' value='$text'/>"
                             "<Choices name='sentiment' toName='text'><Choice value='pos'/>"
                             "<Choice value='neg'/></Choices></View>", project="7.1700000000",
                             batch_size=2)
    p = m.predict(texts)
    assert [r[0].label for r in p.regions] == ["pos", "neg", "pos"]
    assert p.scores is not None and p.scores.tolist() == [0.97, 0.88, 0.52]
    assert p.model_version == "bert-sentiment-3" and p.proba is None
    # the requests follow the protocol: POST /predict, tasks with id and data, in batches
    assert [r["path"] for r in srv.requests] == ["/predict", "/predict"]
    body = srv.requests[0]["json"]
    assert body["tasks"] == [{"id": 0, "data": {"text": texts[0]}},
                             {"id": 1, "data": {"text": texts[1]}}]
    assert body["project"] == "7.1700000000" and "<Choices" in body["label_config"]
    assert body["params"] == {"context": {}}
    assert srv.requests[1]["json"]["tasks"] == [{"id": 2, "data": {"text": texts[2]}}]
    assert srv.requests[0]["headers"]["Content-Type"] == "application/json"
    assert m.fitted and not m.can_fit
    with pytest.raises(LabelnbError, match="retrains itself"):
        m.fit(texts, ["pos"] * 3)


def test_ls_backend_ner_offsets_and_boxes(serve: Callable[..., FakeBackend]) -> None:
    srv = serve({**RECORDED["ner"], **RECORDED["detector"]}, top_level_version="v-old")
    text = "😀 Paris is in France"
    p = LabelStudioMLBackend(srv.url).predict([{"text": text}])
    spans = p.regions[0]
    # UTF-16 offsets from the browser world become code points
    assert spans == (Span(2, 7, "LOC", score=0.95), Span(14, 20, "LOC", score=0.55))
    assert [text[s.start:s.end] for s in spans if isinstance(s, Span)] == ["Paris", "France"]
    assert p.model_version == "spacy-ner-1"  # the prediction's own version wins
    img = LabelStudioMLBackend(srv.url, data_key="image").predict(
        ["https://example.org/street.jpg"])
    box = img.regions[0][0]
    assert box == Box(64, 96, 224, 336, "car", score=0.6)
    assert srv.requests[-1]["json"]["tasks"][0]["data"] == {
        "image": "https://example.org/street.jpg"}


def test_ls_backend_basic_auth_and_task_dicts(serve: Callable[..., FakeBackend]) -> None:
    srv = serve(RECORDED["text_classifier"])
    m = LabelStudioMLBackend(srv.url + "/", auth=("ls", "secret"))
    m.predict([{"data": {"text": "dull plot"}}, {"text": "it was a film", "meta": {"k": 1}}])
    req = srv.requests[0]
    assert req["headers"]["Authorization"] == "Basic " + base64.b64encode(b"ls:secret").decode()
    assert req["json"]["tasks"][1]["data"] == {"text": "it was a film"}  # meta stays home


def test_ls_backend_errors_are_explained(serve: Callable[..., FakeBackend]) -> None:
    srv = serve({}, status=500)
    with pytest.raises(LabelnbError, match=r"HTTP 500.*model crashed"):
        LabelStudioMLBackend(srv.url).predict(["x"])
    bad = serve({}, raw=b"<html>proxy error</html>")
    with pytest.raises(LabelnbError, match="not JSON"):
        LabelStudioMLBackend(bad.url).predict(["x"])
    short = serve(RECORDED["text_classifier"], drop_one=True)
    with pytest.raises(LabelnbError, match="sent 2 tasks .* got 1 results"):
        LabelStudioMLBackend(short.url).predict(["dull plot", "it was a film"])
    gone = FakeBackend({})
    url = gone.url
    gone.close()
    with pytest.raises(LabelnbError, match="unreachable"):
        LabelStudioMLBackend(url, timeout=2).predict(["x"])
    with pytest.raises(ValidationError, match="input 0"):
        LabelStudioMLBackend(url).predict([3.5])


def test_ls_backend_bad_result_names_the_input(serve: Callable[..., FakeBackend]) -> None:
    wrong = {"Paris": {"result": [{"type": "labels", "from_name": "l", "to_name": "text",
                                   "value": {"start": 0, "end": 5, "text": "Lyon",
                                             "labels": ["LOC"]}}]}}
    srv = serve(wrong)
    with pytest.raises(LabelnbError, match=r"input 0[\s\S]*Lyon"):
        LabelStudioMLBackend(srv.url).predict(["Paris"])


def test_sklearn_adapter() -> None:
    X = np.array([[0.0], [0.1], [1.0], [1.1], [2.0], [2.1]])
    est = LogisticRegression().fit(X, [0, 0, 1, 1, 2, 2])
    m = SklearnAdapter(est, classes=["a", "b", "c"])
    p = m.predict(np.array([[0.05], [2.05]]))
    assert p.classes == ("a", "b", "c") and p.top_labels() == ["a", "c"]
    assert p.proba is not None and np.allclose(p.proba, est.predict_proba([[0.05], [2.05]]))
    reg = p.regions[0][0]
    assert isinstance(reg, Choice) and reg.score == pytest.approx(p.proba[0].max())
    m.fit(X, ["x", "x", "y", "y", "z", "z"])  # retrained on label names
    assert m.predict(X[:1]).classes == ("x", "y", "z")
    assert not SklearnAdapter(LogisticRegression()).fitted
    with pytest.raises(ValidationError, match="3 class names"):
        SklearnAdapter(LogisticRegression().fit(X, [0, 0, 1, 1, 1, 1]),
                       classes=["a", "b", "c"]).predict(X)
    with pytest.raises(ValidationError, match="no predict_proba"):
        SklearnAdapter(object())


def test_callable_adapter_probabilities_or_regions() -> None:
    def proba(xs: list[str]) -> np.ndarray:
        return np.array([[0.8, 0.2] if "good" in x else [0.3, 0.7] for x in xs])

    p = CallableAdapter(proba, classes=["pos", "neg"]).predict(["good", "bad"])
    assert p.top_labels() == ["pos", "neg"]
    with pytest.raises(ValidationError, match="classes="):
        CallableAdapter(proba).predict(["good"])

    def detect(xs: list[str]) -> list[list[Any]]:
        return [[Box(0, 0, 5, 5, "car", score=0.4)],
                [{"type": "box", "x0": 1, "y0": 1, "x1": 2, "y1": 3, "label": "bus"}]]

    r = CallableAdapter(detect).predict(["a", "b"])
    assert r.proba is None and [x[0].label for x in r.regions] == ["car", "bus"]
    with pytest.raises(ValidationError, match=r"<lambda>\(inputs\)\[0\]"):
        CallableAdapter(lambda xs: [[{"type": "nope"}]]).predict(["a"])
    assert not CallableAdapter(detect).can_fit


def test_as_adapter_dispatch() -> None:
    est = LogisticRegression()
    assert isinstance(as_adapter(est), SklearnAdapter)
    assert isinstance(as_adapter("http://127.0.0.1:9090"), LabelStudioMLBackend)
    assert isinstance(as_adapter(lambda xs: xs, classes=["a"]), CallableAdapter)
    ad = SklearnAdapter(est)
    assert as_adapter(ad) is ad

    class Mine:
        fitted = True
        can_fit = False

        def predict(self, inputs: Any) -> Predictions:
            return Predictions(regions=[(Choice("a"),) for _ in inputs])

        def fit(self, inputs: Any, targets: Any) -> None:
            pass

    mine = Mine()
    assert as_adapter(mine) is mine
    with pytest.raises(ValidationError, match="URL of a Label Studio ML backend"):
        as_adapter("model.pkl")
    with pytest.raises(ValidationError, match="not a model"):
        as_adapter(42)


def test_torch_adapter() -> None:
    torch = pytest.importorskip("torch")
    from labelnb.active import TorchAdapter

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4))
    X = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    m = as_adapter(net, classes=list("abcd"))
    assert isinstance(m, TorchAdapter)
    p = m.predict(X)
    want = torch.softmax(net(torch.from_numpy(X)), dim=-1).detach().numpy()
    assert p.proba is not None and np.allclose(p.proba, want, atol=1e-6)
    assert p.top_labels() == [list("abcd")[k] for k in want.argmax(1)]
    with pytest.raises(ValidationError, match="classes"):
        as_adapter(net)
