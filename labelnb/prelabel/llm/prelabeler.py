"""LLM pre-labeling of many items: concurrency, cache, confidence, cost, and the
project's predictions.

:class:`LLMPrelabeler` sends one prompt per item (built from the schema, see
:mod:`~labelnb.prelabel.llm.prompt`) on ``concurrency`` threads, answers from the
cache first (so a rerun sends nothing), parses and validates each answer (see
:mod:`~labelnb.prelabel.llm.parse`), scores it (see
:mod:`~labelnb.prelabel.llm.confidence`) and adds up tokens and dollars (see
:mod:`~labelnb.prelabel.llm.cost`). :meth:`LLMPrelabeler.prelabel` writes the
results to a project as predictions with ``source="llm"`` and the model's name as
``model_version``; items whose answer could not be used are reported, not written.

``confidence``:

* ``"logprobs"``: from the answer's token log probabilities (OpenAI);
* ``"agreement"``: a second run (the ``second`` provider, or the same provider with
  the prompt's second wording) and the agreement of the two;
* ``"auto"`` (default): log probabilities where the provider offers them, else
  agreement;
* ``"none"``: no score.

>>> # pre = LLMPrelabeler(OpenAIProvider("gpt-4o-mini"), prices={"gpt-4o-mini": (0.15, 0.6)})
>>> # report = pre.prelabel(project)          # predictions with source="llm"
>>> # pre.usage.report()                       # tokens and dollars per model
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from labelnb.errors import SchemaError, ValidationError
from labelnb.prelabel.llm.cache import PromptCache, request_key
from labelnb.prelabel.llm.confidence import (
    NO_AGREEMENT,
    agreement,
    mean_token_probability,
    region_agreement,
    span_probability,
)
from labelnb.prelabel.llm.cost import CostTracker, Prices
from labelnb.prelabel.llm.parse import LLMOutputError, Parsed, parse_answer
from labelnb.prelabel.llm.prompt import (
    NORM_1000,
    BoxConvention,
    ImagePart,
    build_prompt,
    image_part,
)
from labelnb.prelabel.llm.providers import Completion, LLMConfigError, LLMError, Provider
from labelnb.schema import Schema
from labelnb.types import Region

if TYPE_CHECKING:
    from labelnb.project import Project

__all__ = ["LLMItem", "LLMPrelabeler", "LLMResult"]

log = logging.getLogger("labelnb")
Confidence = Literal["auto", "logprobs", "agreement", "none"]
REPORT_COLUMNS = ["item_id", "labels", "score", "confidence", "n_regions", "repairs",
                  "rejections", "error", "cached", "input_tokens", "output_tokens"]


@dataclass(frozen=True, slots=True)
class LLMItem:
    """One item to label: its id, and its text or image. ``width``/``height`` are
    the original image's size (boxes are converted to it); default the sent size."""

    id: Any
    text: str | None = None
    image: ImagePart | None = None
    width: int | None = None
    height: int | None = None
    uri: str | None = None  # loaded (and encoded) on a worker thread when image is None


@dataclass(frozen=True, slots=True)
class LLMResult:
    """The outcome for one item."""

    item_id: Any
    regions: tuple[Region, ...] = ()
    score: float | None = None
    confidence: str = "none"
    repairs: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    cached: bool = False
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


class LLMPrelabeler:
    """Pre-label items with a model behind a :class:`~labelnb.prelabel.llm.providers.Provider`.

    Parameters
    ----------
    provider:
        The model endpoint.
    schema:
        The schema to label under (default: the project's, in :meth:`prelabel`).
    cache:
        A :class:`~labelnb.prelabel.llm.cache.PromptCache`, a path for one, ``True``
        (the default file, see :func:`~labelnb.prelabel.llm.cache.default_cache_path`)
        or ``False`` (no cache).
    concurrency:
        Requests in flight at once (threads).
    confidence, second:
        How items are scored (see the module docstring); ``second`` is the other model
        for ``"agreement"`` (default: the same one with a reworded prompt).
    boxes:
        The box convention the prompt asks for.
    prices:
        ``{model: (input, output)}`` dollars per million tokens, for :attr:`usage`.
    max_image_side, image_format:
        Images are downscaled to this longer side and encoded in this format.
    """

    def __init__(self, provider: Provider, schema: Schema | None = None, *,
                 cache: PromptCache | str | os.PathLike[str] | bool = True,
                 concurrency: int = 4, confidence: Confidence = "auto",
                 second: Provider | None = None, boxes: BoxConvention = NORM_1000,
                 prices: Prices | None = None, max_image_side: int = 1568,
                 image_format: Literal["PNG", "JPEG"] = "PNG",
                 progress: bool | None = None) -> None:
        if not isinstance(provider, Provider):
            raise ValidationError(f"LLMPrelabeler: {provider!r} is not a Provider (it needs "
                                  "name, model, offers_logprobs, build_request, send, parse)")
        if confidence not in ("auto", "logprobs", "agreement", "none"):
            raise ValidationError(f"LLMPrelabeler: confidence={confidence!r}; expected 'auto', "
                                  "'logprobs', 'agreement' or 'none'")
        if confidence == "logprobs" and not provider.offers_logprobs:
            raise ValidationError(
                f"LLMPrelabeler: confidence='logprobs' but {type(provider).__name__} offers no "
                "log probabilities; use confidence='agreement' (optionally with second=...)")
        if int(concurrency) < 1:
            raise ValidationError("LLMPrelabeler: concurrency must be >= 1")
        self.provider = provider
        self.schema = schema
        if cache is True:
            self.cache: PromptCache | None = PromptCache()
        elif cache is False or cache is None:
            self.cache = None
        elif isinstance(cache, PromptCache):
            self.cache = cache
        else:
            self.cache = PromptCache(cache)
        self.concurrency = int(concurrency)
        self.confidence: str = confidence
        if confidence == "auto":
            self.confidence = "logprobs" if provider.offers_logprobs else "agreement"
        self.second = second
        self.boxes = boxes
        self._told_no_logprobs = False
        self.usage = CostTracker(prices)
        self.max_image_side = int(max_image_side)
        self.image_format: Literal["PNG", "JPEG"] = image_format
        self.progress = progress

    # --- one request ----------------------------------------------------------------------
    def _ask(self, provider: Provider, prompt: Any, refresh: bool
             ) -> tuple[Completion, tuple[Provider, str, dict[str, Any]] | None]:
        """Ask (or read the cache); returns the answer and, for a fresh answer, what
        :meth:`_keep` caches once the answer proved usable."""
        req = provider.build_request(prompt)
        key = request_key(provider.name, req.url, req.body)
        raw = None if (self.cache is None or refresh) else self.cache.get(key)
        cached = raw is not None
        if raw is None:
            raw = provider.send(req)
        try:
            comp = provider.parse(raw, cached=cached)
        except LLMOutputError as e:
            used = getattr(e, "usage", None)  # (model, tokens in, tokens out): billed
            if used is not None and not cached:
                self.usage.add(used[0], input_tokens=used[1], output_tokens=used[2],
                               cached=False)
            raise
        self.usage.add(comp.model, input_tokens=comp.input_tokens,
                       output_tokens=comp.output_tokens, cached=cached)
        return comp, (None if cached or self.cache is None else (provider, key, dict(raw)))

    def _keep(self, pending: tuple[Provider, str, dict[str, Any]] | None,
              parsed: Parsed | None) -> None:
        """Cache a fresh answer, only if it parsed into regions the schema accepts: an
        error answered with status 200 (a gateway's "overloaded"), an answer that is not
        the JSON asked for, or one whose every region was rejected is asked again on the
        next run, not replayed."""
        if pending is None or self.cache is None or parsed is None:
            return
        if parsed.rejections and not parsed.regions:
            return
        provider, key, raw = pending
        self.cache.put(key, raw, provider=provider.name, model=provider.model)

    def _parse(self, comp: Completion, schema: Schema, item: LLMItem, img: ImagePart | None,
               where: str) -> Parsed:
        try:
            return parse_answer(comp.text, schema, text=item.text,
                                width=item.width or (img.width if img else None),
                                height=item.height or (img.height if img else None),
                                sent_size=(img.width, img.height) if img else None,
                                boxes=self.boxes, where=where)
        except LLMOutputError as e:
            if comp.truncated:
                raise LLMOutputError(f"{e} (the answer was cut off at the token limit; raise "
                                     "max_tokens=...)") from None
            raise

    def _one(self, schema: Schema, item: LLMItem, refresh: bool) -> LLMResult:
        where = f"item {item.id}"
        tokens_in = tokens_out = 0
        cached = False  # until an answer came from the cache
        model = self.provider.model
        try:
            img = item.image
            if img is None and item.uri is not None:
                from labelnb import media as media_mod

                img = image_part(media_mod.load_image(item.uri), max_side=self.max_image_side,
                                 fmt=self.image_format)
            prompt = build_prompt(schema, text=item.text, image=img, boxes=self.boxes,
                                  item_desc=where)
            comp, pending = self._ask(self.provider, prompt, refresh)
            model = comp.model
            tokens_in, tokens_out, cached = comp.input_tokens, comp.output_tokens, comp.cached
            parsed = self._parse(comp, schema, item, img, where)
            self._keep(pending, parsed)
            regions = list(parsed.regions)
            score: float | None = None
            how = "none"
            if self.confidence == "logprobs" and comp.logprobs:
                how = "logprobs"
                probs = [span_probability(comp.text, comp.logprobs, *s) if s else None
                         for s in parsed.label_spans]
                regions = [replace(r, score=round(p, 6)) if p is not None else r  # type: ignore[type-var]
                           for r, p in zip(regions, probs, strict=True)]
                known = [p for p in probs if p is not None]
                score = (sum(known) / len(known) if known
                         else mean_token_probability(comp.logprobs))
            elif self.confidence in ("agreement", "logprobs"):
                if self.confidence == "logprobs" and not self._told_no_logprobs:
                    self._told_no_logprobs = True  # once per prelabeler: a server trait
                    warnings.warn(
                        f"LLMPrelabeler: {self.provider.name} returned no log probabilities "
                        f"(model {model!r}); confidence is scored by agreement instead, a "
                        "second request per item. Say so up front with logprobs=False on "
                        "the provider (local servers often lack them), or "
                        "confidence='none' for no second request", UserWarning, stacklevel=2)
                how = "agreement"
                other = self.second or self.provider
                prompt2 = build_prompt(schema, text=item.text, image=img, boxes=self.boxes,
                                       item_desc=where, variant=0 if self.second else 1)
                comp2, pending2 = self._ask(other, prompt2, refresh)
                tokens_in += comp2.input_tokens
                tokens_out += comp2.output_tokens
                cached = cached and comp2.cached
                try:
                    parsed2 = self._parse(comp2, schema, item, img, where)
                except LLMOutputError:
                    parsed2 = None
                self._keep(pending2, parsed2)
                if parsed2 is None:  # a second answer that does not parse agrees with nothing
                    score = NO_AGREEMENT
                    regions = [replace(r, score=NO_AGREEMENT)  # type: ignore[type-var]
                               for r in regions]
                else:
                    other_regions = list(parsed2.regions)
                    score = agreement(regions, other_regions, schema.kind)
                    if parsed2.rejections:
                        score = min(score, NO_AGREEMENT)
                    regions = [replace(r, score=s)  # type: ignore[type-var]
                               for r, s in zip(regions, region_agreement(
                                   regions, other_regions, schema.kind), strict=True)]
            if parsed.rejections and score is not None:
                # the model labeled something that could not be kept (an unknown class, a
                # quote not in the text ...): what is left is not a confident answer
                score = min(score, NO_AGREEMENT)
            return LLMResult(item.id, tuple(regions),
                             None if score is None else round(float(score), 6), how,
                             parsed.repairs, parsed.rejections, None, cached, model, tokens_in,
                             tokens_out)
        except LLMConfigError:
            raise
        except (LLMError, ValidationError, OSError) as e:
            used = getattr(e, "usage", None)
            if used is not None:  # a refused answer's tokens
                tokens_in += used[1]
                tokens_out += used[2]
            msg = str(e) if str(e).startswith(where) else f"{where}: {e}"
            log.warning("labelnb: %s", msg)
            return LLMResult(item.id, error=f"{type(e).__name__}: {msg}", cached=cached,
                             model=model, input_tokens=tokens_in, output_tokens=tokens_out)

    # --- many items -----------------------------------------------------------------------
    def label(self, items: Sequence[LLMItem | str], *, schema: Schema | None = None,
              refresh: bool = False) -> list[LLMResult]:
        """Label ``items`` (:class:`LLMItem` or plain texts, ids 0..n-1), in order.
        ``refresh=True`` asks again instead of reading the cache (and re-caches)."""
        sch = schema or self.schema
        if sch is None:
            raise ValidationError("LLMPrelabeler.label: no schema; pass schema=... (or use "
                                  "prelabel(project), which takes the project's)")
        its = [it if isinstance(it, LLMItem) else LLMItem(i, text=it) for i, it in
               enumerate(items)]
        from tqdm.auto import tqdm

        show = self.progress if self.progress is not None else len(its) >= 50
        bar = tqdm(total=len(its), desc=f"LLM {self.provider.model}", unit="item",
                   disable=not show)
        try:
            if self.concurrency == 1 or len(its) <= 1:
                out = []
                for it in its:
                    out.append(self._one(sch, it, refresh))
                    bar.update()
                return out
            stop = threading.Event()  # set by the first fatal error (a bad key, ...)

            def work(it: LLMItem) -> LLMResult:
                if stop.is_set():
                    raise _Stopped
                try:
                    return self._one(sch, it, refresh)
                except LLMConfigError:
                    stop.set()
                    raise

            with ThreadPoolExecutor(max_workers=self.concurrency) as ex:
                futures = [ex.submit(work, it) for it in its]
                results = []
                try:
                    for f in futures:
                        results.append(f.result())
                        bar.update()
                except (LLMConfigError, _Stopped):
                    # a fatal error fails every item alike: send nothing more (queued
                    # items are cancelled, those in flight finish) and raise it
                    stop.set()
                    for f in futures:
                        f.cancel()
                    wait(futures)
                    for f in futures:
                        err = None if f.cancelled() else f.exception()
                        if isinstance(err, LLMConfigError):
                            raise err from None
                    raise  # pragma: no cover - a _Stopped always follows a fatal error
                return results
        finally:
            bar.close()

    def model_version(self, results: Sequence[LLMResult] = ()) -> str:
        """``llm:<provider>/<model>``, with the model name the API reported."""
        models = {r.model for r in results if r.ok and r.model}
        model = models.pop() if len(models) == 1 else self.provider.model
        return f"llm:{self.provider.name}/{model}"

    def prelabel(self, project: Project, item_ids: Sequence[int] | None = None, *,
                 model_version: str | None = None, refresh: bool = False,
                 write: bool = True) -> pd.DataFrame:
        """Label the project's items (all, or ``item_ids``) and add the usable results
        as predictions (``source="llm"``). Returns one report row per item (see
        ``REPORT_COLUMNS``); ``.attrs["model_version"]`` holds the version written."""
        schema = self.schema or project.schema
        if write and self.schema is not None:
            _check_schema(self.schema, project.schema)  # before any request is paid for
        if item_ids is None:
            df = project.items()
            item_ids = [int(i) for i in df["id"]] if len(df) else []
        else:  # each item once, in the order given
            item_ids = list(dict.fromkeys(int(i) for i in item_ids))
        its = []
        for i in item_ids:
            it = project.item(int(i))
            if it.media == "image":
                its.append(LLMItem(it.id, width=it.width, height=it.height, uri=it.uri))
            else:
                its.append(LLMItem(it.id, text=it.text))
        results = self.label(its, schema=schema, refresh=refresh)
        mv = model_version or self.model_version(results)
        good = [(int(r.item_id), list(r.regions), r.score) for r in results if r.ok]
        if write and good:
            project.add_predictions(mv, good, source="llm")
        report = results_frame(results)
        report.attrs["model_version"] = mv
        return report


def _check_schema(mine: Schema, theirs: Schema) -> None:
    """Raise if predictions made under ``mine`` could not be written to a project with
    the schema ``theirs`` (another kind, or labels the project lacks)."""
    if mine.kind != theirs.kind:
        raise SchemaError(
            f"LLMPrelabeler.prelabel: the prelabeler's schema is kind {mine.kind!r} but the "
            f"project's is {theirs.kind!r}; pass schema=None to label under the project's "
            "schema, or a schema of the project's kind")
    missing = [n for n in mine.names if n not in theirs.names]
    if missing:
        raise SchemaError(
            f"LLMPrelabeler.prelabel: the prelabeler's schema has labels {missing} that the "
            f"project's schema lacks (it has {theirs.names}); nothing was sent. Pass "
            "schema=None to label under the project's schema, drop those labels, or add "
            "them to the project's schema first")


class _Stopped(Exception):
    """An item skipped because an earlier one met a fatal error."""


def results_frame(results: Sequence[LLMResult]) -> pd.DataFrame:
    """One row per result (the columns of ``REPORT_COLUMNS``, plus ``regions``)."""
    rows = [{"item_id": r.item_id, "labels": [x.label for x in r.regions], "score": r.score,
             "confidence": r.confidence, "n_regions": len(r.regions),
             "repairs": r.repairs, "rejections": r.rejections, "error": r.error,
             "cached": r.cached, "input_tokens": r.input_tokens,
             "output_tokens": r.output_tokens, "regions": list(r.regions)} for r in results]
    return pd.DataFrame(rows, columns=[*REPORT_COLUMNS, "regions"])
