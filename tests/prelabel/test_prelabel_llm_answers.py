"""LLM answers that are wrong in ways models really produce: labels that are not class
names, regions that had to be rejected, second runs that cannot be read, refusals and
errors answered with status 200. Each must end in a score a router does not accept on
its own, a per-item error, or a counted cost, never a crash or a confident label."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from labelnb.prelabel.llm import LLMPrelabeler, OpenAIProvider, PromptCache, RetryPolicy
from labelnb.prelabel.llm.confidence import region_agreement
from labelnb.prelabel.llm.parse import parse_answer
from labelnb.schema import Schema
from labelnb.types import Box, Choice

NER = Schema("spans", ["PER", "ORG"])
TEXT = "Tim Cook runs Apple."


def _chat(content: str, *, refusal: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if refusal is not None:
        msg = {"role": "assistant", "content": None, "refusal": refusal}
    return {"model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 12}}


def _provider(fake: Any) -> OpenAIProvider:
    return OpenAIProvider("gpt-4o-mini", base_url=fake.url, api_key_env=None, logprobs=False,
                          retry=RetryPolicy(max_retries=0, base_delay=0.01, jitter=0.0))


def test_labels_that_are_not_names_are_rejected_not_a_crash() -> None:
    choice = Schema("choice", ["pos", "neg"])
    multi = Schema("multi_choice", ["pos", "neg"])
    import pytest

    from labelnb.prelabel.llm.parse import LLMOutputError

    with pytest.raises(LLMOutputError, match=r"label \['neg'\] is not in the schema"):
        parse_answer('{"label": ["neg"]}', choice)
    got = parse_answer('{"labels": [{"label": "pos"}, "neg"]}', multi)
    assert got.regions == (Choice("neg"),) and len(got.rejections) == 1
    got = parse_answer(json.dumps({"entities": [
        {"text": "Tim Cook", "start": 0, "end": 8, "label": ["PER"]},
        {"text": "Apple", "start": 14, "end": 19, "label": "ORG"}]}), NER, text=TEXT)
    assert [s.label for s in got.regions] == ["ORG"]
    assert "is not in the schema" in got.rejections[0]["reason"]
    boxes = Schema("boxes", ["car"])
    got = parse_answer('{"objects": [{"label": {"name": "car"}, "box": [0, 0, 500, 500]}]}',
                       boxes, width=100, height=100)
    assert got.regions == () and len(got.rejections) == 1


def test_label_spans_skip_entities_whose_label_is_not_a_string() -> None:
    """The log-probability span of each kept entity is its own label's, even after an
    entity with a null label (it used to take its neighbour's)."""
    answer = json.dumps({"entities": [
        {"text": "Tim", "start": 0, "end": 3, "label": None},
        {"text": "Tim Cook", "start": 0, "end": 8, "label": "PER"},
        {"text": "Apple", "start": 14, "end": 19, "label": "ORG"}]})
    got = parse_answer(answer, NER, text=TEXT)
    assert [s.label for s in got.regions] == ["PER", "ORG"]
    assert [answer[a:b] for a, b in got.label_spans] == ["PER", "ORG"]  # type: ignore[misc]


def test_rejected_regions_and_unreadable_second_runs_are_not_confident(
        fake_llm: Any, tmp_path: Path) -> None:
    # every region rejected (a class the schema lacks), twice: an empty answer is left
    bad = json.dumps({"entities": [{"text": "Tim Cook", "start": 0, "end": 8,
                                    "label": "PERSON"}]})
    fake_llm.when("Tim Cook", fake_llm.reply(body=_chat(bad)))
    pre = LLMPrelabeler(_provider(fake_llm), NER, cache=False)
    [r] = pre.label([TEXT])
    assert r.regions == () and r.rejections and r.score == 0.5
    # a first run that finds nothing, a second run that is prose: no agreement either
    fake_llm.rules.clear()
    fake_llm.when("Text (between", fake_llm.reply(body=_chat('{"entities": []}')))
    fake_llm.when("Label this text", fake_llm.reply(body=_chat("I cannot help with that.")))
    [r] = pre.label([TEXT])
    assert r.regions == () and r.score == 0.5 and r.error is None
    # and two runs that agree on a clean answer still score 1
    fake_llm.rules.clear()
    good = json.dumps({"entities": [{"text": "Apple", "start": 14, "end": 19,
                                     "label": "ORG"}]})
    fake_llm.when("Tim Cook", fake_llm.reply(body=_chat(good)))
    [r] = pre.label([TEXT])
    assert r.score == 1.0 and [s.score for s in r.regions] == [1.0]


def test_an_error_answered_with_200_is_not_cached_and_a_refusal_is_billed(
        fake_llm: Any, tmp_path: Path) -> None:
    cache = PromptCache(tmp_path / "c.sqlite")
    fake_llm.when("Tim Cook", fake_llm.reply(body={"error": {"message": "overloaded"}}))
    pre = LLMPrelabeler(_provider(fake_llm), NER, cache=cache, confidence="none")
    [r] = pre.label([TEXT])
    assert r.error is not None and "no 'choices'" in r.error and r.cached is False
    fake_llm.rules.clear()
    good = json.dumps({"entities": [{"text": "Apple", "start": 14, "end": 19,
                                     "label": "ORG"}]})
    fake_llm.when("Tim Cook", fake_llm.reply(body=_chat(good)))
    [r] = pre.label([TEXT])  # asked again: the error was not kept
    assert r.error is None and [s.label for s in r.regions] == ["ORG"]
    assert len(fake_llm.requests) == 2
    # a refusal costs its tokens and is no cache hit
    fake_llm.rules.clear()
    fake_llm.when("Tim Cook", fake_llm.reply(body=_chat("", refusal="I can't do that")))
    pre2 = LLMPrelabeler(_provider(fake_llm), NER, cache=False, confidence="none")
    [r] = pre2.label([TEXT])
    assert r.error is not None and "refused" in r.error
    assert (r.input_tokens, r.output_tokens, r.cached) == (900, 12, False)
    rep = pre2.usage.report()
    assert int(rep["input_tokens"].sum()) == 900 and int(rep["output_tokens"].sum()) == 12


def test_region_agreement_with_several_boxes_of_one_class() -> None:
    a = [Box(0, 0, 10, 10, "car"), Box(50, 50, 60, 60, "car")]
    b = [Box(1, 1, 10, 10, "car"), Box(50, 50, 61, 61, "car")]
    assert region_agreement(a, b, "boxes") == [1.0, 1.0]
    assert region_agreement(a, b[:1], "boxes") == [1.0, 0.5]
