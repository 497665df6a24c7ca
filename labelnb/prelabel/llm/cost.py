"""Cost accounting: tokens × prices per model.

Prices are yours to give (they change): ``{model: (input, output)}`` in US dollars
per million tokens. A model is priced by its exact name, else by the longest priced
name it starts with (``"gpt-4o-mini-2024-07-18"`` takes ``"gpt-4o-mini"``'s price).
Answers served from the cache cost nothing; what they would have cost is reported as
``saved_usd``.

>>> c = CostTracker({"small-model": (0.15, 0.60)})
>>> c.add("small-model-2025", input_tokens=1_000_000, output_tokens=500_000)
>>> c.add("small-model-2025", input_tokens=2_000, output_tokens=100, cached=True)
>>> round(c.total_usd, 4)
0.45
>>> c.report()[["model", "requests", "cached", "cost_usd", "saved_usd"]].to_dict("records")
[{'model': 'small-model-2025', 'requests': 2, 'cached': 1, 'cost_usd': 0.45, 'saved_usd': 0.00036}]
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from labelnb.errors import ValidationError

__all__ = ["CostTracker", "Prices"]

Prices = Mapping[str, tuple[float, float]]


@dataclass
class _Row:
    requests: int = 0
    cached: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cached_output_tokens: int = 0


class CostTracker:
    """Tokens and dollars per model, thread-safe (one tracker per pre-labeler)."""

    def __init__(self, prices: Prices | None = None) -> None:
        self.prices: dict[str, tuple[float, float]] = {}
        for model, p in (prices or {}).items():
            try:
                inp, out = (float(x) for x in p)
            except (TypeError, ValueError):
                raise ValidationError(f"prices[{model!r}] = {p!r}: give (input, output) dollars "
                                      "per million tokens") from None
            if inp < 0 or out < 0 or not (math.isfinite(inp) and math.isfinite(out)):
                raise ValidationError(f"prices[{model!r}] = {p!r}: prices must be >= 0")
            self.prices[model] = (inp, out)
        self._rows: dict[str, _Row] = {}
        self._lock = threading.Lock()

    def price(self, model: str) -> tuple[float, float] | None:
        """(input, output) dollars per million tokens, or None when unpriced."""
        if model in self.prices:
            return self.prices[model]
        best = max((m for m in self.prices if model.startswith(m)), key=len, default=None)
        return self.prices[best] if best is not None else None

    def add(self, model: str, *, input_tokens: int, output_tokens: int,
            cached: bool = False) -> None:
        with self._lock:
            r = self._rows.setdefault(model, _Row())
            r.requests += 1
            if cached:
                r.cached += 1
                r.cached_input_tokens += int(input_tokens)
                r.cached_output_tokens += int(output_tokens)
            else:
                r.input_tokens += int(input_tokens)
                r.output_tokens += int(output_tokens)

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        """Dollars for that many tokens (NaN when the model has no price)."""
        p = self.price(model)
        if p is None:
            return float("nan")
        return (input_tokens * p[0] + output_tokens * p[1]) / 1e6

    @property
    def total_usd(self) -> float:
        """Dollars spent on requests that went out (NaN if a used model is unpriced)."""
        return float(sum(self.cost(m, r.input_tokens, r.output_tokens)
                         for m, r in self._rows.items()))

    @property
    def unpriced(self) -> list[str]:
        return sorted(m for m in self._rows if self.price(m) is None)

    def report(self) -> pd.DataFrame:
        """Per model: requests, cached answers, tokens sent and received (cache hits
        excluded), ``cost_usd``, and ``saved_usd`` by the cache."""
        with self._lock:
            rows = [{"model": m, "requests": r.requests, "cached": r.cached,
                     "input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
                     "cost_usd": round(self.cost(m, r.input_tokens, r.output_tokens), 8),
                     "saved_usd": round(self.cost(m, r.cached_input_tokens,
                                                  r.cached_output_tokens), 8)}
                    for m, r in sorted(self._rows.items())]
        return pd.DataFrame(rows, columns=["model", "requests", "cached", "input_tokens",
                                           "output_tokens", "cost_usd", "saved_usd"])
