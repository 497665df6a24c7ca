"""LLM pre-labeling: prompts from the schema, OpenAI-compatible and Anthropic
providers, answer parsing with span repair, caching, confidence and cost.

>>> from labelnb.prelabel.llm import OpenAIProvider, AnthropicProvider, LLMPrelabeler
>>> OpenAIProvider("gpt-4o-mini", base_url="http://127.0.0.1:8000/v1/", api_key_env=None)
OpenAIProvider('gpt-4o-mini', base_url='http://127.0.0.1:8000/v1')
"""

from labelnb.prelabel.llm.cache import PromptCache, default_cache_path, request_key
from labelnb.prelabel.llm.confidence import TokenLogprob, agreement, span_probability
from labelnb.prelabel.llm.cost import CostTracker, Prices
from labelnb.prelabel.llm.parse import LLMOutputError, Parsed, extract_json, parse_answer
from labelnb.prelabel.llm.prelabeler import LLMItem, LLMPrelabeler, LLMResult, results_frame
from labelnb.prelabel.llm.prompt import (
    NORM_1,
    NORM_1000,
    PIXELS,
    YXYX_1000,
    BoxConvention,
    ImagePart,
    Prompt,
    build_prompt,
    image_part,
)
from labelnb.prelabel.llm.providers import (
    AnthropicProvider,
    Completion,
    LLMConfigError,
    LLMError,
    LLMHTTPError,
    LLMRetryError,
    LLMTimeout,
    MissingAPIKey,
    OpenAIProvider,
    Provider,
    Request,
    RetryPolicy,
)

__all__ = [
    "AnthropicProvider",
    "BoxConvention",
    "Completion",
    "CostTracker",
    "ImagePart",
    "LLMConfigError",
    "LLMError",
    "LLMHTTPError",
    "LLMItem",
    "LLMOutputError",
    "LLMPrelabeler",
    "LLMResult",
    "LLMRetryError",
    "LLMTimeout",
    "MissingAPIKey",
    "NORM_1",
    "NORM_1000",
    "OpenAIProvider",
    "PIXELS",
    "Parsed",
    "Prices",
    "PromptCache",
    "Prompt",
    "Provider",
    "Request",
    "RetryPolicy",
    "TokenLogprob",
    "YXYX_1000",
    "agreement",
    "build_prompt",
    "default_cache_path",
    "extract_json",
    "image_part",
    "parse_answer",
    "request_key",
    "results_frame",
    "span_probability",
]
