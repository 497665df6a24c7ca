"""LLM providers and the pre-labeler against a local HTTP server that serves recorded
responses in each API's documented format (OpenAI chat completions, Anthropic
messages)."""

from __future__ import annotations

import base64
import io
import math
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import labelnb
from labelnb.prelabel.llm import (
    NORM_1000,
    PIXELS,
    YXYX_1000,
    AnthropicProvider,
    LLMConfigError,
    LLMHTTPError,
    LLMItem,
    LLMPrelabeler,
    LLMRetryError,
    LLMTimeout,
    MissingAPIKey,
    OpenAIProvider,
    PromptCache,
    RetryPolicy,
    build_prompt,
    image_part,
    parse_answer,
)
from labelnb.schema import Schema
from labelnb.types import Box, Choice, Span

CHOICE = Schema("choice", [{"name": "pos", "description": "the review praises the film",
                            "examples": ["a joy to watch"]},
                           {"name": "neg", "description": "the review pans the film"}],
                instructions="Label the overall sentiment.")
NER = Schema("spans", [{"name": "PER", "description": "a person"},
                       {"name": "ORG", "description": "a company"}])
DOC = "Tim Cook said that Apple will open a store in Cupertino; Apple fans cheered."


class Sleeps(list[float]):
    def __call__(self, s: float) -> None:
        self.append(s)


def openai(fake: Any, **kw: Any) -> OpenAIProvider:
    kw.setdefault("retry", RetryPolicy(max_retries=3, base_delay=0.01, jitter=0.0))
    return OpenAIProvider("gpt-4o-mini", base_url=fake.url, **kw)


def anthropic(fake: Any, **kw: Any) -> AnthropicProvider:
    kw.setdefault("retry", RetryPolicy(max_retries=3, base_delay=0.01, jitter=0.0))
    return AnthropicProvider("claude-sonnet-4-5", base_url=fake.url, **kw)


# --- request and response formats ------------------------------------------------------


def test_openai_chat_completions_format_and_logprob_confidence(fake_llm: Any, keys: None,
                                                               tmp_path: Path) -> None:
    fake_llm.when("great film", fake_llm.reply("openai_choice_pos.json"))
    fake_llm.when("dull plot", fake_llm.reply("openai_choice_neg.json"))
    pre = LLMPrelabeler(openai(fake_llm, top_logprobs=2), CHOICE, cache=tmp_path / "c.sqlite")
    res = pre.label(["great film", "dull plot"])
    assert [r.regions for r in res] == [(Choice("pos", score=0.92),), (Choice("neg", score=0.61),)]
    assert [r.score for r in res] == [0.92, 0.61]  # exp(logprob of the label token)
    assert {r.confidence for r in res} == {"logprobs"}
    assert [r.model for r in res] == ["gpt-4o-mini-2024-07-18"] * 2
    seen = fake_llm.requests[0]
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == "Bearer sk-test-openai"
    body = seen.body
    assert body["model"] == "gpt-4o-mini"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    system = body["messages"][0]["content"]
    assert '"pos": the review praises the film. Examples: "a joy to watch"' in system
    assert "Label the overall sentiment." in system
    assert "<<<\ngreat film\n>>>" in body["messages"][1]["content"] or \
        "<<<\ngreat film\n>>>" in fake_llm.requests[1].body["messages"][1]["content"]
    rf = body["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
    assert rf["json_schema"]["schema"]["properties"]["label"]["enum"] == ["pos", "neg"]
    assert body["logprobs"] is True and body["top_logprobs"] == 2
    assert body["max_completion_tokens"] == 1024 and body["temperature"] == 0.0


def test_a_server_without_logprobs_is_named_once(fake_llm: Any, keys: None,
                                                 tmp_path: Path) -> None:
    """A local OpenAI-compatible server may answer "logprobs": null: the confidence then
    comes from a second request (agreement), which doubles the cost: a warning says so,
    once, with the fix."""
    from tests.prelabel.conftest import fixture

    bare = fixture("openai_choice_pos.json")
    bare["choices"][0]["logprobs"] = None
    fake_llm.when("great film", fake_llm.reply(body=bare))
    fake_llm.when("fine film", fake_llm.reply(body=bare))
    pre = LLMPrelabeler(openai(fake_llm), CHOICE, cache=tmp_path / "c.sqlite")
    with pytest.warns(UserWarning, match="returned no log probabilities .* logprobs=False"
                      ) as seen:
        res = pre.label(["great film", "fine film"])
    assert len([w for w in seen if "log probabilities" in str(w.message)]) == 1
    assert {r.confidence for r in res} == {"agreement"} and len(fake_llm.requests) == 4
    quiet = LLMPrelabeler(openai(fake_llm, logprobs=False), CHOICE, cache=tmp_path / "d.sqlite")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert {r.confidence for r in quiet.label(["great film"])} == {"agreement"}


def test_anthropic_messages_format_and_agreement_confidence(fake_llm: Any, keys: None,
                                                            tmp_path: Path) -> None:
    # first wording: "Text (between ..." ; second wording: "Label this text:"
    fake_llm.when("Text (between", fake_llm.reply("anthropic_choice_pos.json"))
    fake_llm.when("Label this text", fake_llm.reply("anthropic_choice_neg.json"))
    pre = LLMPrelabeler(anthropic(fake_llm), CHOICE, cache=False)
    assert pre.confidence == "agreement"  # Anthropic offers no logprobs
    [r] = pre.label(["great film"])
    assert r.regions == (Choice("pos", score=0.5),) and r.score == 0.5  # the runs disagree
    assert r.model == "claude-sonnet-4-5-20250929"
    assert (r.input_tokens, r.output_tokens) == (402 + 404, 9 + 9)
    seen = fake_llm.requests[0]
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == "sk-ant-test"
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in seen.headers
    body = seen.body
    assert body["model"] == "claude-sonnet-4-5" and body["max_tokens"] == 1024
    assert "the review praises the film" in body["system"]
    assert body["messages"][0]["role"] == "user"
    assert body["messages"][0]["content"][-1]["type"] == "text"
    # two runs that agree: confidence 1
    fake_llm.rules.clear()
    fake_llm.when("great film", fake_llm.reply("anthropic_choice_pos.json"))
    [r] = pre.label(["great film"])
    assert r.score == 1.0 and r.regions == (Choice("pos", score=1.0),)


def test_agreement_of_two_models(fake_llm: Any, keys: None) -> None:
    fake_llm.when("/messages-never", fake_llm.reply("anthropic_choice_pos.json"))
    second = openai(fake_llm, logprobs=False)
    fake_llm.when('"model":"gpt-4o-mini"', fake_llm.reply("openai_choice_pos.json"))
    fake_llm.when('"model":"claude-sonnet-4-5"', fake_llm.reply("anthropic_choice_pos.json"))
    pre = LLMPrelabeler(anthropic(fake_llm), CHOICE, cache=False, second=second)
    [r] = pre.label(["great film"])
    assert r.score == 1.0
    assert {s.path for s in fake_llm.requests} == {"/v1/messages", "/v1/chat/completions"}


def test_missing_api_key_is_a_clear_error(fake_llm: Any, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    pre = LLMPrelabeler(openai(fake_llm), CHOICE, cache=False)
    with pytest.raises(MissingAPIKey, match="OPENAI_API_KEY is not set.*export OPENAI_API_KEY"):
        pre.label(["great film"])
    with pytest.raises(MissingAPIKey, match="ANTHROPIC_API_KEY"):
        LLMPrelabeler(anthropic(fake_llm), CHOICE, cache=False).label(["great film"])
    assert fake_llm.requests == []  # nothing was sent
    # a local server that needs no key
    fake_llm.when("great film", fake_llm.reply("openai_choice_pos.json"))
    [r] = LLMPrelabeler(openai(fake_llm, api_key_env=None), CHOICE, cache=False).label(
        ["great film"])
    assert r.ok and "authorization" not in fake_llm.requests[0].headers


# --- answers that need care --------------------------------------------------------------


def test_malformed_json_is_reported_per_item(fake_llm: Any, keys: None) -> None:
    fake_llm.when("great film", fake_llm.reply("openai_choice_pos.json"))
    fake_llm.when("so-so", fake_llm.reply("openai_malformed.json"))
    res = LLMPrelabeler(openai(fake_llm), CHOICE, cache=False).label(["great film", "so-so"])
    assert res[0].ok and res[0].regions == (Choice("pos", score=0.92),)
    assert not res[1].ok and res[1].regions == ()
    assert "item 1" in res[1].error and "holds no JSON object" in res[1].error  # type: ignore[operator]
    assert "clearly positive" in res[1].error  # type: ignore[operator]


def test_truncated_answer_names_the_fix(fake_llm: Any, keys: None) -> None:
    fake_llm.when("Tim Cook", fake_llm.reply("openai_truncated.json"))
    [r] = LLMPrelabeler(openai(fake_llm), NER, cache=False).label([DOC])
    assert r.error is not None and "raise max_tokens" in r.error


def test_span_offsets_repaired_or_rejected(fake_llm: Any, keys: None) -> None:
    fake_llm.when("Tim Cook", fake_llm.reply("openai_spans_offsets.json"))
    [r] = LLMPrelabeler(openai(fake_llm, logprobs=False), NER, cache=False,
                        confidence="none").label([DOC])
    assert r.ok
    assert [(s.start, s.end, s.label) for s in r.regions] == [(0, 8, "PER"), (19, 24, "ORG")]
    assert all(DOC[s.start:s.end] == q for s, q in  # type: ignore[attr-defined]
               zip(r.regions, ["Tim Cook", "Apple"], strict=True))
    [rep] = r.repairs
    assert rep["index"] == 1 and rep["from"] == [30, 35] and rep["to"] == [19, 24]
    assert "nearest of 2" in rep["reason"]
    reasons = {x["index"]: x["reason"] for x in r.rejections}
    assert reasons == {2: "the quote 'Microsoft' is not in the text",
                       3: "label 'LOC' is not in the schema (ORG, PER)"}


def test_fenced_json_and_nearest_occurrence() -> None:
    ans = 'Here:\n```json\n{"entities": [{"text": "Apple", "start": 55, "end": 60, ' \
          '"label": "ORG"}]}\n```'
    out = parse_answer(ans, NER, text=DOC)
    assert out.regions == (Span(57, 62, "ORG"),)  # the second "Apple" is nearer to 55
    # case-insensitive search keeps the document's characters
    out = parse_answer('{"entities": [{"text": "apple", "start": 0, "end": 5, "label": "ORG"}]}',
                       NER, text=DOC)
    assert out.regions == (Span(19, 24, "ORG"),)
    # no quote: rejected; code-point offsets with emoji
    doc = "😀 Apple"
    out = parse_answer('{"entities": [{"text": "Apple", "start": 2, "end": 7, "label": "ORG"}, '
                       '{"start": 0, "end": 1, "label": "PER"}]}', NER, text=doc)
    assert out.regions == (Span(2, 7, "ORG"),) and out.repairs == []
    assert out.rejections[0]["reason"].startswith("the entity has no 'text' quote")


def test_anthropic_fenced_spans(fake_llm: Any, keys: None) -> None:
    fake_llm.when("Tim Cook", fake_llm.reply("anthropic_spans_fenced.json"))
    [r] = LLMPrelabeler(anthropic(fake_llm), NER, cache=False, confidence="none").label([DOC])
    assert [(s.start, s.end, s.label) for s in r.regions] == [(0, 8, "PER"), (19, 24, "ORG")]
    assert r.repairs == [] and len(r.rejections) == 2


# --- retries --------------------------------------------------------------------------


def test_429_honours_retry_after(fake_llm: Any, keys: None) -> None:
    sleeps = Sleeps()
    fake_llm.queue.append(fake_llm.reply("openai_error_429.json", status=429,
                                         headers={"Retry-After": "2"}))
    fake_llm.queue.append(fake_llm.reply("openai_error_429.json", status=429,
                                         headers={"retry-after-ms": "250"}))
    fake_llm.when("great film", fake_llm.reply("openai_choice_pos.json"))
    [r] = LLMPrelabeler(openai(fake_llm, sleep=sleeps), CHOICE, cache=False).label(
        ["great film"])
    assert r.ok and r.regions[0].label == "pos"
    assert sleeps == [2.0, 0.25]
    assert len(fake_llm.requests) == 3


def test_529_overloaded_backs_off_exponentially(fake_llm: Any, keys: None) -> None:
    sleeps = Sleeps()
    for _ in range(2):
        fake_llm.queue.append(fake_llm.reply("anthropic_error_529.json", status=529))
    fake_llm.when("great film", fake_llm.reply("anthropic_choice_pos.json"))
    prov = anthropic(fake_llm, sleep=sleeps,
                     retry=RetryPolicy(max_retries=3, base_delay=0.5, jitter=0.0))
    [r] = LLMPrelabeler(prov, CHOICE, cache=False, confidence="none").label(["great film"])
    assert r.ok and sleeps == [0.5, 1.0]


def test_retries_exhausted_and_real_wait(fake_llm: Any, keys: None) -> None:
    for _ in range(3):
        fake_llm.queue.append(fake_llm.reply("anthropic_error_429.json", status=429,
                                             headers={"retry-after": "0.2"}))
    prov = anthropic(fake_llm, retry=RetryPolicy(max_retries=2, base_delay=5.0))
    req = prov.build_request(build_prompt(CHOICE, text="great film"))
    t0 = time.monotonic()
    with pytest.raises(LLMRetryError, match="HTTP 429: This request would exceed.*3 tries"):
        prov.send(req)
    assert 0.35 < time.monotonic() - t0 < 3.0  # waited Retry-After (0.2 s) twice, not 5 s
    assert prov.http_calls == 3


def test_client_errors_are_not_retried(fake_llm: Any, keys: None) -> None:
    fake_llm.queue.append(fake_llm.reply("openai_error_400.json", status=400))
    [r] = LLMPrelabeler(openai(fake_llm), CHOICE, cache=False).label(["great film"])
    assert r.error is not None and "HTTP 400" in r.error and "string too long" in r.error
    assert len(fake_llm.requests) == 1
    fake_llm.queue.append(fake_llm.reply("openai_error_401.json", status=401))
    with pytest.raises(LLMConfigError, match="HTTP 401.*check the API key"):
        LLMPrelabeler(openai(fake_llm), CHOICE, cache=False).label(["great film"])
    with pytest.raises(LLMHTTPError):
        fake_llm.queue.append(fake_llm.reply("openai_error_400.json", status=400))
        openai(fake_llm).complete(build_prompt(CHOICE, text="x"))


def test_timeout_is_retried_then_reported(fake_llm: Any, keys: None) -> None:
    slow = fake_llm.reply("openai_choice_pos.json", delay=1.0)
    fake_llm.queue.append(slow)
    fake_llm.when("great film", fake_llm.reply("openai_choice_pos.json"))
    prov = openai(fake_llm, timeout=0.3, retry=RetryPolicy(max_retries=2, base_delay=0.0))
    [r] = LLMPrelabeler(prov, CHOICE, cache=False).label(["great film"])
    assert r.ok and prov.http_calls == 2
    fake_llm.rules.clear()
    fake_llm.when("great film", slow)
    prov = openai(fake_llm, timeout=0.3, retry=RetryPolicy(max_retries=1, base_delay=0.0))
    with pytest.raises(LLMTimeout, match=r"no answer within 0.3 s on all 2 tries"):
        prov.send(prov.build_request(build_prompt(CHOICE, text="great film")))
    [r] = LLMPrelabeler(prov, CHOICE, cache=False).label(["great film"])
    assert r.error is not None and r.error.startswith("LLMTimeout")


# --- cache, cost, concurrency ---------------------------------------------------------------


def test_cache_hit_on_rerun_makes_no_http_call(fake_llm: Any, keys: None,
                                               tmp_path: Path) -> None:
    fake_llm.when("great film", fake_llm.reply("openai_choice_pos.json"))
    fake_llm.when("dull plot", fake_llm.reply("openai_choice_neg.json"))
    prices = {"gpt-4o-mini": (0.15, 0.60)}
    path = tmp_path / "cache.sqlite"
    first = LLMPrelabeler(openai(fake_llm), CHOICE, cache=path, prices=prices)
    a = first.label(["great film", "dull plot"])
    assert len(fake_llm.requests) == 2 and not any(r.cached for r in a)
    # cost: (181 + 183) prompt tokens, 5 + 5 completion tokens
    assert first.usage.total_usd == pytest.approx((364 * 0.15 + 10 * 0.60) / 1e6)
    rep = first.usage.report().iloc[0]
    assert (rep["model"], rep["requests"], rep["cached"], rep["input_tokens"],
            rep["output_tokens"]) == ("gpt-4o-mini-2024-07-18", 2, 0, 364, 10)
    # a new pre-labeler and provider on the same cache: nothing goes out
    second = LLMPrelabeler(openai(fake_llm), CHOICE, cache=PromptCache(path), prices=prices)
    b = second.label(["great film", "dull plot"])
    assert len(fake_llm.requests) == 2
    assert [r.regions for r in b] == [r.regions for r in a] and all(r.cached for r in b)
    assert second.usage.total_usd == 0.0
    assert second.usage.report().iloc[0]["saved_usd"] == pytest.approx(first.usage.total_usd)
    # another prompt (a changed schema) is another key; refresh=True asks again
    second.label(["great film"], schema=Schema("choice", ["pos", "neg", "mixed"]))
    second.label(["great film"], refresh=True)
    assert len(fake_llm.requests) == 4


def test_unpriced_model_costs_nan() -> None:
    from labelnb.prelabel.llm import CostTracker

    c = CostTracker({"gpt-4o": (2.5, 10.0)})
    c.add("claude-x", input_tokens=10, output_tokens=10)
    assert math.isnan(c.total_usd) and c.unpriced == ["claude-x"]
    assert c.price("gpt-4o-2024-08-06") == (2.5, 10.0)


def test_concurrency_limit(fake_llm: Any, keys: None) -> None:
    fake_llm.when("item", fake_llm.reply("openai_choice_pos.json", delay=0.25))
    pre = LLMPrelabeler(openai(fake_llm), CHOICE, cache=False, concurrency=3)
    t0 = time.monotonic()
    res = pre.label([f"item {i}" for i in range(9)])
    took = time.monotonic() - t0
    assert [r.item_id for r in res] == list(range(9)) and all(r.ok for r in res)
    assert fake_llm.max_in_flight == 3
    assert took < 9 * 0.25 * 0.75  # they overlapped


# --- images and boxes ---------------------------------------------------------------------


def _png(path: Path, size: tuple[int, int] = (640, 480)) -> Path:
    Image.new("RGB", size, (200, 120, 40)).save(path)
    return path


def test_boxes_from_a_multimodal_model(fake_llm: Any, keys: None, tmp_path: Path) -> None:
    fake_llm.when("Label this image", fake_llm.reply("anthropic_boxes.json"))
    schema = Schema("boxes", ["cat", "dog"])
    img = image_part(Image.open(_png(tmp_path / "a.png")))
    [r] = LLMPrelabeler(anthropic(fake_llm), schema, cache=False, confidence="none").label(
        [LLMItem(7, image=img, width=640, height=480)])
    assert r.regions == (Box(64, 96, 320, 432, "cat"), Box(352, 48, 640, 307.2, "dog"))
    reasons = sorted(x["reason"] for x in r.rejections)
    assert reasons[0].startswith("box [700, 700, 650, 800] has its corners swapped")
    assert reasons[1] == "label 'bird' is not in the schema (cat, dog)"
    block = fake_llm.requests[0].body["messages"][0]["content"][0]
    assert block["type"] == "image" and block["source"]["type"] == "base64"
    assert block["source"]["media_type"] == "image/png"
    sent = Image.open(io.BytesIO(base64.b64decode(block["source"]["data"])))
    assert sent.size == (640, 480)
    assert "normalized to 0-1000" in fake_llm.requests[0].body["system"]


def test_openai_image_url_part_and_pixel_convention(fake_llm: Any, keys: None,
                                                    tmp_path: Path) -> None:
    body = {**fake_llm.reply("openai_choice_pos.json").body}
    ans = '{"objects":[{"label":"cat","box":[10,20,110,220]}]}'
    body["choices"] = [{"index": 0, "message": {"role": "assistant", "content": ans},
                        "finish_reason": "stop", "logprobs": None}]
    fake_llm.when("image_url", fake_llm.reply(body=body))
    schema = Schema("boxes", ["cat", "dog"])
    # the image is sent downscaled to 320 x 240; the model answers in those pixels
    img = image_part(Image.open(_png(tmp_path / "b.png")), max_side=320)
    assert (img.width, img.height) == (320, 240)
    [r] = LLMPrelabeler(openai(fake_llm, logprobs=False), schema, cache=False,
                        boxes=PIXELS).label([LLMItem(1, image=img, width=640, height=480)])
    assert r.regions[0] == Box(20, 40, 220, 440, "cat", score=r.regions[0].score)
    part = fake_llm.requests[0].body["messages"][1]["content"][1]
    assert part["type"] == "image_url"
    assert part["image_url"]["url"].startswith("data:image/png;base64,")


def test_box_conventions() -> None:
    assert YXYX_1000.to_pixels([200, 100, 900, 500], width=640, height=480) == \
        NORM_1000.to_pixels([100, 200, 500, 900], width=640, height=480)
    schema = Schema("boxes", ["cat"])
    from labelnb.prelabel.llm import NORM_1

    out = parse_answer('{"objects": [{"label": "cat", "box": [0.5, 0.5, 1.2, 1.0]}, '
                       '{"label": "cat", "box": [1, 2, 3]}]}', schema, width=100, height=50,
                       boxes=NORM_1)
    assert out.regions == (Box(50, 25, 100, 50, "cat"),)  # clipped to the image
    assert out.rejections[0]["reason"].startswith("box [1, 2, 3] is not four numbers")


# --- into the project -----------------------------------------------------------------


def test_prelabel_writes_llm_predictions(fake_llm: Any, keys: None, tmp_path: Path) -> None:
    fake_llm.when("great film", fake_llm.reply("openai_choice_pos.json"))
    fake_llm.when("dull plot", fake_llm.reply("openai_choice_neg.json"))
    fake_llm.when("so-so", fake_llm.reply("openai_malformed.json"))
    p = labelnb.Project.create(tmp_path / "p.db", "reviews", CHOICE)
    ids = p.add_items(["great film", "dull plot", "so-so"])
    report = LLMPrelabeler(openai(fake_llm), cache=tmp_path / "c.sqlite").prelabel(p)
    assert report["item_id"].tolist() == ids
    assert report["error"].notna().tolist() == [False, False, True]
    preds = p.predictions()
    assert preds["item_id"].tolist() == ids[:2]
    assert set(preds["source"]) == {"llm"}
    assert set(preds["model_version"]) == {"llm:openai/gpt-4o-mini-2024-07-18"}
    assert preds["score"].tolist() == [0.92, 0.61]
    assert p.prediction_regions(ids[0]) == [Choice("pos", score=0.92)]


def test_prelabel_ner_project_and_image_project(fake_llm: Any, keys: None,
                                                tmp_path: Path) -> None:
    fake_llm.when("Tim Cook", fake_llm.reply("openai_spans_offsets.json"))
    p = labelnb.Project.create(tmp_path / "n.db", "ner", NER)
    [i] = p.add_items([DOC])
    LLMPrelabeler(openai(fake_llm, logprobs=False), cache=False, confidence="none").prelabel(p)
    assert p.prediction_regions(i) == [Span(0, 8, "PER"), Span(19, 24, "ORG")]
    fake_llm.when("Label this image", fake_llm.reply("anthropic_boxes.json"))
    q = labelnb.Project.create(tmp_path / "b.db", "boxes", Schema("boxes", ["cat", "dog"]))
    [j] = q.add_items([str(_png(tmp_path / "c.png"))])
    rep = LLMPrelabeler(anthropic(fake_llm), cache=False, confidence="none").prelabel(q)
    assert rep.attrs["model_version"] == "llm:anthropic/claude-sonnet-4-5-20250929"
    assert q.prediction_regions(j) == [Box(64, 96, 320, 432, "cat"),
                                       Box(352, 48, 640, 307.2, "dog")]


def test_unsupported_kind_is_refused() -> None:
    with pytest.raises(labelnb.errors.ValidationError, match="'masks' schema is not supported"):
        build_prompt(Schema("masks", ["cell"]), image=None, text="x")


def test_class_label_for_an_image(fake_llm: Any, keys: None, tmp_path: Path) -> None:
    fake_llm.when("image_url", fake_llm.reply("openai_choice_pos.json"))
    p = labelnb.Project.create(tmp_path / "i.db", "imgs", Schema("choice", ["pos", "neg"]))
    [i] = p.add_items([str(_png(tmp_path / "d.png", (3000, 1500)))])
    LLMPrelabeler(openai(fake_llm), cache=False, max_image_side=800).prelabel(p)
    assert p.prediction_regions(i) == [Choice("pos", score=0.92)]
    user = fake_llm.requests[0].body["messages"][1]["content"]
    assert user[0] == {"type": "text", "text": "Label this image."}
    sent = Image.open(io.BytesIO(base64.b64decode(user[1]["image_url"]["url"].split(",", 1)[1])))
    assert sent.size == (800, 400)  # downscaled before sending
