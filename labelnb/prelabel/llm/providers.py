"""LLM providers: an OpenAI-compatible chat-completions endpoint and the Anthropic
messages API, over the standard library's HTTP client.

A :class:`Provider` turns a :class:`~labelnb.prelabel.llm.prompt.Prompt` into one HTTP
request (:meth:`~Provider.build_request`), sends it with retries (:meth:`~Provider.send`)
and reads the answer (:meth:`~Provider.parse`). The split lets the pre-labeler cache
answers by request before anything is sent.

**OpenAI-compatible** (:class:`OpenAIProvider`): ``POST {base_url}/chat/completions``
with ``Authorization: Bearer $OPENAI_API_KEY``; the body holds ``model``,
``messages`` (a ``system`` message, then a ``user`` message whose content is text, or
``text`` and ``image_url`` parts with a ``data:`` URL for images),
``response_format`` (``{"type": "json_schema", "json_schema": {"name", "strict",
"schema"}}`` by default), ``logprobs`` / ``top_logprobs`` and
``max_completion_tokens``. The answer is ``choices[0].message.content``, its token
log probabilities ``choices[0].logprobs.content``, the tokens
``usage.prompt_tokens`` / ``usage.completion_tokens``. ``base_url`` points it at any
compatible server (vLLM, llama.cpp, Ollama, a gateway).

**Anthropic** (:class:`AnthropicProvider`): ``POST {base_url}/messages`` with the
headers ``x-api-key: $ANTHROPIC_API_KEY`` and ``anthropic-version``; the body holds
``model``, ``max_tokens``, ``system`` and ``messages`` (images as ``{"type":
"image", "source": {"type": "base64", "media_type", "data"}}`` blocks before the
text). The answer is the text of ``content`` (``content[0].text``), the tokens
``usage.input_tokens`` / ``usage.output_tokens``. It offers no log probabilities.

**Retries**: a 429, a 5xx (Anthropic's 529 "overloaded" included), a timeout or a
dropped connection is retried up to ``retry.max_retries`` times. The wait is the
server's ``Retry-After`` (seconds or an HTTP date; OpenAI's ``retry-after-ms`` too)
when it sends one, else exponential backoff ``base_delay · 2^attempt`` (capped at
``max_delay``) with up to ``jitter`` random extra. Other 4xx answers are not retried.

>>> p = OpenAIProvider("gpt-4o-mini", api_key="sk-test")
>>> from labelnb.schema import Schema
>>> from labelnb.prelabel.llm.prompt import build_prompt
>>> req = p.build_request(build_prompt(Schema("choice", ["pos", "neg"]), text="fine"))
>>> req.url
'https://api.openai.com/v1/chat/completions'
>>> sorted(req.body)
['logprobs', 'max_completion_tokens', 'messages', 'model', 'response_format', 'temperature']
>>> a = AnthropicProvider("claude-x", api_key="k")
>>> sorted(a.build_request(build_prompt(Schema("choice", ["a", "b"]), text="t")).body)
['max_tokens', 'messages', 'model', 'system', 'temperature']
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

import orjson

from labelnb.errors import LabelnbError
from labelnb.prelabel.llm.confidence import TokenLogprob
from labelnb.prelabel.llm.parse import LLMOutputError
from labelnb.prelabel.llm.prompt import Prompt

__all__ = [
    "AnthropicProvider",
    "Completion",
    "LLMConfigError",
    "LLMError",
    "LLMHTTPError",
    "LLMRetryError",
    "LLMTimeout",
    "MissingAPIKey",
    "OpenAIProvider",
    "Provider",
    "Request",
    "RetryPolicy",
]

log = logging.getLogger("labelnb")

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class LLMError(LabelnbError):
    """A request to a model failed."""


class LLMConfigError(LLMError):
    """The provider is set up wrongly (no key, a rejected key, a wrong URL or model):
    every request would fail the same way, so the run stops."""


class MissingAPIKey(LLMConfigError):
    """The API key's environment variable is not set."""


class LLMHTTPError(LLMError):
    """The endpoint answered with an error status."""

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class LLMRetryError(LLMHTTPError):
    """A retryable failure (429, 5xx, timeout) persisted through every retry."""


class LLMTimeout(LLMRetryError):
    """The endpoint did not answer within the timeout, on every try."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of 429 / 5xx / timeouts: at most ``max_retries`` more tries, waiting
    ``Retry-After`` when sent (at most ``max_retry_after`` s), else
    ``min(max_delay, base_delay · 2^attempt)`` plus up to ``jitter`` of it at random."""

    max_retries: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.1
    max_retry_after: float = 300.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        d = min(self.max_delay, self.base_delay * (2.0 ** attempt))
        return d * (1.0 + self.jitter * (rng or random).random())


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, before authentication headers are added."""

    url: str
    body: dict[str, Any] = field(hash=False)


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's answer: its text, the model that wrote it, tokens in and out, token
    log probabilities where offered, why it stopped, and the raw response."""

    text: str
    model: str
    input_tokens: int
    output_tokens: int
    logprobs: tuple[TokenLogprob, ...] | None = None
    finish_reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, hash=False, repr=False)
    cached: bool = False

    @property
    def truncated(self) -> bool:
        return self.finish_reason in ("length", "max_tokens")


@runtime_checkable
class Provider(Protocol):
    """What the pre-labeler needs from a model endpoint."""

    name: str
    model: str
    offers_logprobs: bool

    def build_request(self, prompt: Prompt) -> Request: ...

    def send(self, request: Request) -> dict[str, Any]: ...

    def parse(self, raw: Mapping[str, Any], *, cached: bool = False) -> Completion: ...


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    v = headers.get("retry-after")
    if v is None:
        return None
    try:
        return max(0.0, float(v))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_message(body: str) -> str:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:300]
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return body[:300]


class _HTTPProvider:
    name = "http"
    offers_logprobs = False
    default_base_url = ""
    default_key_env: str | None = None

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 api_key_env: str | None = "", timeout: float = 60.0,
                 retry: RetryPolicy | None = None, max_tokens: int = 1024,
                 temperature: float | None = 0.0,
                 extra_body: Mapping[str, Any] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not isinstance(model, str) or not model:
            raise LLMConfigError(f"{type(self).__name__}: field 'model' must name a model, got "
                                 f"{model!r}")
        self.model = model
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.api_key = api_key
        self.api_key_env = self.default_key_env if api_key_env == "" else api_key_env
        self.timeout = float(timeout)
        self.retry = retry or RetryPolicy()
        self.max_tokens = int(max_tokens)
        self.temperature = temperature
        self.extra_body = dict(extra_body or {})
        self.sleep = sleep
        self.http_calls = 0  # requests actually sent (tries included)
        self._rng = random.Random()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r}, base_url={self.base_url!r})"

    # --- authentication -----------------------------------------------------------------
    def _key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key
        if self.api_key_env is None:
            return None  # e.g. a local server that needs no key
        key = os.environ.get(self.api_key_env)
        if not key:
            raise MissingAPIKey(
                f"{type(self).__name__}: no API key; the environment variable "
                f"{self.api_key_env} is not set. Fix: export {self.api_key_env}=... (or pass "
                f"api_key=...; for a server that needs no key, api_key_env=None)")
        return key

    def _headers(self) -> dict[str, str]:  # pragma: no cover - overridden
        raise NotImplementedError

    # --- sending ------------------------------------------------------------------------
    def send(self, request: Request) -> dict[str, Any]:
        """POST the request; retry 429 / 5xx / timeouts; return the JSON answer."""
        headers = {"content-type": "application/json", "accept": "application/json",
                   **self._headers()}
        data = orjson.dumps(request.body)
        last = ""
        tries = self.retry.max_retries + 1
        for attempt in range(tries):
            wait: float | None = None
            self.http_calls += 1
            req = urllib.request.Request(request.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    body = resp.read()
                try:
                    out = orjson.loads(body)
                except orjson.JSONDecodeError:
                    raise LLMHTTPError(
                        f"{type(self).__name__}: {request.url} answered 200 with a body that is "
                        f"not JSON ({body[:200]!r}); check base_url", 200,
                        body.decode("utf-8", "replace")) from None
                if not isinstance(out, dict):
                    raise LLMHTTPError(f"{type(self).__name__}: {request.url} answered with "
                                       f"{type(out).__name__} JSON, not an object", 200)
                return out
            except urllib.error.HTTPError as e:
                text = e.read().decode("utf-8", "replace") if e.fp is not None else ""
                msg = _error_message(text)
                if e.code not in RETRY_STATUS:
                    cls: type[LLMHTTPError] = LLMHTTPError
                    hint = ""
                    if e.code in (401, 403):
                        hint = (f" Fix: check the API key ({self.api_key_env or 'api_key'}) and "
                                "its access to this model")
                    elif e.code == 404:
                        hint = f" Fix: check base_url ({self.base_url}) and the model name"
                    err = cls(f"{type(self).__name__}: {request.url} answered HTTP {e.code}: "
                              f"{msg}.{hint}", e.code, text)
                    if e.code in (401, 403, 404):
                        raise LLMConfigError(str(err)) from None
                    raise err from None
                last = f"HTTP {e.code}: {msg}"
                wait = _retry_after(e.headers)
                if wait is not None:
                    wait = min(wait, self.retry.max_retry_after)
                status: int | None = e.code
            except (TimeoutError, urllib.error.URLError, http.client.HTTPException,
                    ConnectionError) as e:
                reason = getattr(e, "reason", e)
                timed_out = isinstance(e, TimeoutError) or isinstance(reason, TimeoutError)
                last = (f"no answer within {self.timeout:g} s" if timed_out
                        else f"connection failed ({reason})")
                status = None
                if attempt == tries - 1:
                    kind: type[LLMRetryError] = LLMTimeout if timed_out else LLMRetryError
                    raise kind(f"{type(self).__name__}: {request.url}: {last} on all {tries} "
                               "tries. Fix: raise timeout=..., lower the concurrency, or check "
                               "the endpoint") from None
            if attempt == tries - 1:
                raise LLMRetryError(
                    f"{type(self).__name__}: {request.url}: {last}; gave up after {tries} tries. "
                    "Fix: wait and rerun (answers already received are cached), lower the "
                    "concurrency, or raise retry=RetryPolicy(max_retries=...)", status)
            delay = wait if wait is not None else self.retry.backoff(attempt, self._rng)
            log.info("labelnb: %s: %s; retry %d/%d in %.2f s", type(self).__name__, last,
                     attempt + 1, tries - 1, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def complete(self, prompt: Prompt) -> Completion:
        """Build, send and parse in one call (no cache)."""
        comp: Completion = self.parse(  # type: ignore[attr-defined]
            self.send(self.build_request(prompt)))  # type: ignore[attr-defined]
        return comp


class OpenAIProvider(_HTTPProvider):
    """An OpenAI-compatible chat-completions endpoint (see the module docstring).

    ``structured``: ``"json_schema"`` (strict structured output), ``"json_object"``
    (JSON mode, for servers without schemas) or ``"none"``. ``logprobs`` asks for
    token log probabilities (``top_logprobs`` alternatives per token, if set).
    ``max_tokens_field``: ``"max_completion_tokens"`` (current OpenAI) or
    ``"max_tokens"`` (older compatible servers).
    """

    name = "openai"
    offers_logprobs = True
    default_base_url = "https://api.openai.com/v1"
    default_key_env = "OPENAI_API_KEY"

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 api_key_env: str | None = "", timeout: float = 60.0,
                 retry: RetryPolicy | None = None, max_tokens: int = 1024,
                 temperature: float | None = 0.0, logprobs: bool = True,
                 top_logprobs: int | None = None,
                 structured: Literal["json_schema", "json_object", "none"] = "json_schema",
                 max_tokens_field: Literal["max_completion_tokens", "max_tokens"] =
                 "max_completion_tokens", extra_body: Mapping[str, Any] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(model, base_url=base_url, api_key=api_key, api_key_env=api_key_env,
                         timeout=timeout, retry=retry, max_tokens=max_tokens,
                         temperature=temperature, extra_body=extra_body, sleep=sleep)
        if structured not in ("json_schema", "json_object", "none"):
            raise LLMConfigError(f"OpenAIProvider: structured={structured!r}; expected "
                                 "'json_schema', 'json_object' or 'none'")
        self.logprobs = bool(logprobs)
        self.offers_logprobs = self.logprobs
        self.top_logprobs = top_logprobs
        self.structured = structured
        self.max_tokens_field = max_tokens_field

    def _headers(self) -> dict[str, str]:
        key = self._key()
        return {"authorization": f"Bearer {key}"} if key else {}

    def build_request(self, prompt: Prompt) -> Request:
        content: Any
        if prompt.images:
            content = [{"type": "text", "text": prompt.user}] + [
                {"type": "image_url",
                 "image_url": {"url": f"data:{im.media_type};base64,{im.base64}"}}
                for im in prompt.images]
        else:
            content = prompt.user
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": prompt.system},
                         {"role": "user", "content": content}],
            self.max_tokens_field: self.max_tokens,
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.structured == "json_schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": f"labelnb_{prompt.kind}", "strict": True, "schema": prompt.json_schema}}
        elif self.structured == "json_object":
            body["response_format"] = {"type": "json_object"}
        if self.logprobs:
            body["logprobs"] = True
            if self.top_logprobs is not None:
                body["top_logprobs"] = int(self.top_logprobs)
        body.update(self.extra_body)
        return Request(f"{self.base_url}/chat/completions", body)

    def parse(self, raw: Mapping[str, Any], *, cached: bool = False) -> Completion:
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise LLMOutputError(f"OpenAIProvider: the response has no 'choices': "
                                 f"{orjson.dumps(raw)[:200]!r}")
        first = choices[0]
        model = _model_name(raw, self.model)
        usage = _usage(raw)
        used = (model, _tokens(usage, "prompt_tokens"), _tokens(usage, "completion_tokens"))
        msg = first.get("message")
        if msg is None:
            msg = {}
        if not isinstance(msg, dict):
            raise _malformed("OpenAIProvider", "choices[0].message", msg, "an object with "
                             "'content'", used)
        if msg.get("refusal"):
            err = LLMOutputError(f"the model refused: {msg['refusal']!r}")
            # a refusal is billed: the pre-labeler counts its tokens
            err.usage = used  # type: ignore[attr-defined]
            raise err
        content = msg.get("content")
        if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
            if not all(isinstance(b, dict) and isinstance(b.get("text", ""), str)
                       for b in content):
                raise _malformed("OpenAIProvider", "choices[0].message.content", content,
                                 "a string or a list of {'type': 'text', 'text': str} parts",
                                 used)
            content = "".join(b.get("text", "") for b in content
                              if b.get("type", "text") == "text")
        elif content is not None and not isinstance(content, str):
            raise _malformed("OpenAIProvider", "choices[0].message.content", content,
                             "a string", used)
        text = content or ""
        lp = first.get("logprobs")
        tokens: tuple[TokenLogprob, ...] | None = None
        if isinstance(lp, dict) and isinstance(lp.get("content"), list):
            out = []
            for k, t in enumerate(lp["content"]):
                where = f"choices[0].logprobs.content[{k}]"
                if not isinstance(t, dict):
                    raise _malformed("OpenAIProvider", where, t, "an object with 'token' "
                                     "and 'logprob'", used)
                val = t.get("logprob", 0.0)
                if isinstance(val, bool) or not isinstance(val, int | float):
                    raise _malformed("OpenAIProvider", f"{where}.logprob", val, "a number",
                                     used)
                b = t.get("bytes")
                if b is not None and not (isinstance(b, list)
                                          and all(isinstance(x, int) for x in b)):
                    raise _malformed("OpenAIProvider", f"{where}.bytes", b,
                                     "a list of integers or null", used)
                out.append(TokenLogprob(str(t.get("token", "")), float(val),
                                        tuple(b) if b is not None else None))
            tokens = tuple(out)
        finish = first.get("finish_reason")
        return Completion(text=text, model=model, input_tokens=used[1],
                          output_tokens=used[2], logprobs=tokens,
                          finish_reason=finish if isinstance(finish, str) else None,
                          raw=dict(raw), cached=cached)


class AnthropicProvider(_HTTPProvider):
    """The Anthropic messages API (see the module docstring). ``version`` is the
    ``anthropic-version`` header."""

    name = "anthropic"
    offers_logprobs = False
    default_base_url = "https://api.anthropic.com/v1"
    default_key_env = "ANTHROPIC_API_KEY"

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 api_key_env: str | None = "", timeout: float = 60.0,
                 retry: RetryPolicy | None = None, max_tokens: int = 1024,
                 temperature: float | None = 0.0, version: str = "2023-06-01",
                 extra_body: Mapping[str, Any] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(model, base_url=base_url, api_key=api_key, api_key_env=api_key_env,
                         timeout=timeout, retry=retry, max_tokens=max_tokens,
                         temperature=temperature, extra_body=extra_body, sleep=sleep)
        self.version = version

    def _headers(self) -> dict[str, str]:
        key = self._key()
        out = {"anthropic-version": self.version}
        if key:
            out["x-api-key"] = key
        return out

    def build_request(self, prompt: Prompt) -> Request:
        blocks: list[dict[str, Any]] = [
            {"type": "image", "source": {"type": "base64", "media_type": im.media_type,
                                         "data": im.base64}} for im in prompt.images]
        blocks.append({"type": "text", "text": prompt.user})
        body: dict[str, Any] = {"model": self.model, "max_tokens": self.max_tokens,
                                "system": prompt.system,
                                "messages": [{"role": "user", "content": blocks}]}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        body.update(self.extra_body)
        return Request(f"{self.base_url}/messages", body)

    def parse(self, raw: Mapping[str, Any], *, cached: bool = False) -> Completion:
        content = raw.get("content")
        model = _model_name(raw, self.model)
        usage = _usage(raw)
        tokens_in = _tokens(usage, "input_tokens") + _tokens(
            usage, "cache_creation_input_tokens") + _tokens(usage, "cache_read_input_tokens")
        used = (model, tokens_in, _tokens(usage, "output_tokens"))
        if not isinstance(content, list):
            err = LLMOutputError(f"AnthropicProvider: the response has no 'content' list: "
                                 f"{orjson.dumps(raw)[:200]!r}")
            err.usage = used  # type: ignore[attr-defined]
            raise err
        parts = []
        for k, b in enumerate(content):
            if not isinstance(b, dict):
                raise _malformed("AnthropicProvider", f"content[{k}]", b,
                                 "an object with 'type'", used)
            if b.get("type") == "text":
                t = b.get("text", "")
                if not isinstance(t, str):
                    raise _malformed("AnthropicProvider", f"content[{k}].text", t, "a string",
                                     used)
                parts.append(t)
        stop = raw.get("stop_reason")
        return Completion(text="".join(parts), model=model, input_tokens=used[1],
                          output_tokens=used[2], logprobs=None,
                          finish_reason=stop if isinstance(stop, str) else None,
                          raw=dict(raw), cached=cached)


def _model_name(raw: Mapping[str, Any], default: str) -> str:
    """The model the response names, or ``default`` where it names none (or no string)."""
    model = raw.get("model")
    return model if isinstance(model, str) and model else default


def _usage(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """The response's ``usage`` object; ``{}`` (usage unknown) where it is missing or not
    an object."""
    usage = raw.get("usage")
    if usage is not None and not isinstance(usage, Mapping):
        log.warning("labelnb: the response's 'usage' is %r, not an object; its tokens are "
                    "counted as 0", usage)
        return {}
    return usage or {}


def _tokens(usage: Mapping[str, Any], key: str) -> int:
    """``usage[key]`` as a token count; 0 (unknown) where it is missing, or not a
    non-negative integer (a gateway's ``"ten"`` does not fail the item)."""
    val = usage.get(key)
    if val is None:
        return 0
    if isinstance(val, bool) or not isinstance(val, int | float) or val < 0 or val != int(val):
        log.warning("labelnb: the response's usage.%s is %r, not a token count; counted as 0",
                    key, val)
        return 0
    return int(val)


def _malformed(provider: str, where: str, value: Any, expected: str,
               used: tuple[str, int, int]) -> LLMOutputError:
    """The error for a reply whose ``where`` is not the shape the API documents (its
    tokens attached: the reply was billed)."""
    err = LLMOutputError(f"{provider}: malformed reply: {where} is {value!r:.80}, expected "
                         f"{expected}; the server is not answering in the API's format "
                         "(check base_url, or the gateway in front of it)")
    err.usage = used  # type: ignore[attr-defined]
    return err
