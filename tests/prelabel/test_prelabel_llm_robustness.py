"""The pre-labelers against bad input: malformed replies, fatal errors under
concurrency, unusable answers and the cache, a schema the project lacks, plain
functions as LFs, repeated item ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import labelnb
from labelnb.errors import SchemaError
from labelnb.prelabel import LabelModel, LFAnalysis, prelabel_with_lfs
from labelnb.prelabel.lf import ABSTAIN, apply_lfs
from labelnb.prelabel.llm import (
    AnthropicProvider,
    LLMConfigError,
    LLMPrelabeler,
    OpenAIProvider,
    PromptCache,
    RetryPolicy,
)
from labelnb.schema import Schema
from labelnb.types import Choice

S = Schema("choice", ["pos", "neg"])
RETRY = RetryPolicy(max_retries=0, base_delay=0.01, jitter=0.0)


def oai(content: str, usage: Any = None, **choice: Any) -> dict[str, Any]:
    first: dict[str, Any] = {"message": {"role": "assistant", "content": content},
                             "finish_reason": "stop", **choice}
    return {"model": "m", "choices": [first],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5} if usage is None else usage}


def pre(fake: Any, schema: Schema | None = S, **kw: Any) -> LLMPrelabeler:
    kw.setdefault("cache", False)
    kw.setdefault("confidence", "none")
    return LLMPrelabeler(OpenAIProvider("m", base_url=fake.url, api_key="k", logprobs=False,
                                        retry=RETRY), schema, **kw)


# --- 1. a malformed reply is one item's error, not the batch's --------------------------

MALFORMED = {
    "message is a string": ({"model": "m", "choices": [{"message": "hi"}]},
                            "choices[0].message is 'hi'"),
    "content is a number": ({"model": "m", "choices": [{"message": {"content": 7}}]},
                            "choices[0].message.content is 7"),
    "logprob is null": (oai('{"label": "pos"}', logprobs={"content": [
        {"token": "x", "logprob": None}]}), "choices[0].logprobs.content[0].logprob is None"),
    "logprobs entry not an object": (oai('{"label": "pos"}', logprobs={"content": [5]}),
                                     "choices[0].logprobs.content[0] is 5"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_openai_reply_is_a_per_item_error(fake_llm: Any, tmp_path: Path,
                                                    case: str) -> None:
    body, says = MALFORMED[case]
    fake_llm.when("great film", fake_llm.reply(body=oai('{"label": "pos"}')))
    fake_llm.when("odd reply", fake_llm.reply(body=body))
    p = labelnb.Project.create(tmp_path / "p.db", "r", S)
    ids = p.add_items(["great film", "odd reply"])
    report = pre(fake_llm, concurrency=2).prelabel(p)
    assert report["error"].isna().tolist() == [True, False]
    err = report["error"].iloc[1]
    assert f"item {ids[1]}" in err and says in err and "malformed reply" in err
    assert p.predictions()["item_id"].tolist() == [ids[0]]  # the good item is written


@pytest.mark.parametrize("usage", [{"prompt_tokens": "ten", "completion_tokens": 5}, [1, 2],
                                   "x", {"prompt_tokens": -3, "completion_tokens": 1.5}])
def test_bad_usage_numbers_count_as_unknown(fake_llm: Any, usage: Any) -> None:
    fake_llm.when("great film", fake_llm.reply(body=oai('{"label": "pos"}', usage=usage)))
    pl = pre(fake_llm)
    [r] = pl.label(["great film"])
    assert r.ok and r.regions == (Choice("pos"),)
    assert r.input_tokens == 0 and r.output_tokens in (0, 5)


@pytest.mark.parametrize("usage", ["x", {"input_tokens": "a", "output_tokens": None}, [3]])
def test_anthropic_bad_usage_and_malformed_content(fake_llm: Any, usage: Any) -> None:
    ok = {"model": "c", "content": [{"type": "text", "text": '{"label": "neg"}'}],
          "usage": usage}
    bad = {"model": "c", "content": [{"type": "text", "text": None}], "usage": usage}
    fake_llm.when("dull plot", fake_llm.reply(body=ok))
    fake_llm.when("odd reply", fake_llm.reply(body=bad))
    pl = LLMPrelabeler(AnthropicProvider("c", base_url=fake_llm.url, api_key="k",
                                         retry=RETRY), S, cache=False, confidence="none")
    good, odd = pl.label(["dull plot", "odd reply"])
    assert good.ok and good.regions == (Choice("neg"),) and good.input_tokens == 0
    assert odd.error is not None and "item 1" in odd.error
    assert "content[0].text is None" in odd.error


# --- 2. a fatal error stops a concurrent run --------------------------------------------


def test_fatal_error_stops_a_concurrent_run(fake_llm: Any) -> None:
    fake_llm.when("review", fake_llm.reply(body={"error": {"message": "bad key"}},
                                           status=401, delay=0.05))
    pl = pre(fake_llm, concurrency=4)
    with pytest.raises(LLMConfigError, match="HTTP 401"):
        pl.label([f"review {i}" for i in range(200)])
    # those in flight when it came finish; nothing queued is sent
    assert len(fake_llm.requests) <= 12


# --- 3. only usable answers are cached --------------------------------------------------


@pytest.mark.parametrize("answer", ['{"label": "neutral"}', '{"label": "pos"',
                                    "Sorry, I cannot help."])
def test_an_unusable_answer_is_not_cached(fake_llm: Any, tmp_path: Path,
                                          answer: str) -> None:
    fake_llm.when("great film", fake_llm.reply(body=oai('{"label": "pos"}')))
    fake_llm.when("odd film", fake_llm.reply(body=oai(answer)))
    cache = PromptCache(tmp_path / "c.sqlite")
    first = pre(fake_llm, cache=cache).label(["great film", "odd film"])
    assert [r.ok for r in first] == [True, False]
    assert len(cache) == 1
    again = pre(fake_llm, cache=cache).label(["great film", "odd film"])
    assert [r.cached for r in again] == [True, False]  # the bad one is asked again
    assert len(fake_llm.requests) == 3


def test_an_answer_whose_every_region_is_rejected_is_not_cached(fake_llm: Any,
                                                                tmp_path: Path) -> None:
    ml = Schema("multi_choice", ["a", "b"])
    fake_llm.when("x", fake_llm.reply(body=oai('{"labels": ["zzz"]}')))
    cache = PromptCache(tmp_path / "c.sqlite")
    [r] = pre(fake_llm, ml, cache=cache).label(["x"])
    assert r.regions == () and r.rejections
    assert len(cache) == 0


# --- 4. the prelabeler's schema is checked against the project's first ------------------


def test_a_schema_the_project_lacks_fails_before_sending(fake_llm: Any,
                                                         tmp_path: Path) -> None:
    fake_llm.when("great film", fake_llm.reply(body=oai('{"label": "pos"}')))
    p = labelnb.Project.create(tmp_path / "p.db", "r", S)
    p.add_items(["great film"])
    with pytest.raises(SchemaError, match=r"\['mixed'\].*schema=None"):
        pre(fake_llm, Schema("choice", ["pos", "neg", "mixed"])).prelabel(p)
    with pytest.raises(SchemaError, match="kind 'multi_choice'.*'choice'"):
        pre(fake_llm, Schema("multi_choice", ["pos", "neg"])).prelabel(p)
    assert fake_llm.requests == []
    # a subset of the project's labels is fine
    report = pre(fake_llm, Schema("choice", ["pos"])).prelabel(p)
    assert report["error"].isna().all() and len(p.predictions()) == 1


# --- 5. plain functions as LFs go by their __name__ -------------------------------------


def kw(x: Any) -> str | int:
    return "pos" if "great" in x.text else ABSTAIN


def kw2(x: Any) -> str | int:
    return "pos" if "film" in x.text else ABSTAIN


def neg(x: Any) -> str | int:
    return "neg" if "dull" in x.text else ABSTAIN


def test_plain_function_lfs_are_named_after_the_function(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "p.db", "r", S)
    p.add_items(["great film", "dull plot", "a film", "great but dull"])
    report = prelabel_with_lfs(p, [kw, kw2, neg],
                               label_model=LabelModel(dependencies=[("kw", "kw2")]))
    model = report.attrs["label_model"]
    assert model.lf_names_ == ["kw", "kw2", "neg"]
    assert model.dependencies_ == [("kw", "kw2")]
    L = apply_lfs([kw, kw2, neg], [p.item(1)], classes=S.names)
    assert LFAnalysis(L, [kw, kw2, neg]).names == ["kw", "kw2", "neg"]


# --- 6. repeated item ids are labeled once ----------------------------------------------


def test_repeated_item_ids_are_labeled_once(fake_llm: Any, tmp_path: Path) -> None:
    fake_llm.when("great film", fake_llm.reply(body=oai('{"label": "pos"}')))
    fake_llm.when("dull plot", fake_llm.reply(body=oai('{"label": "neg"}')))
    p = labelnb.Project.create(tmp_path / "p.db", "r", S)
    a, b = p.add_items(["great film", "dull plot"])
    report = pre(fake_llm).prelabel(p, item_ids=[b, a, b, b])
    assert report["item_id"].tolist() == [b, a]
    assert sorted(p.predictions()["item_id"].tolist()) == [a, b]
    assert len(fake_llm.requests) == 2
    out = prelabel_with_lfs(p, [kw, neg], item_ids=[b, b, a], model_version="lf")
    assert out["item_id"].tolist() == [b, a]
    assert (p.predictions()["model_version"] == "lf").sum() == 2
