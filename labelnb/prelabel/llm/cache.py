"""An on-disk cache of model answers, keyed by a hash of the request.

The key is the SHA-256 of the provider, the endpoint and the request body (model,
messages with the item's text or the image bytes, parameters) in canonical JSON; the
API key is never part of it. A rerun over the same items with the same prompt
therefore sends nothing. The store is one SQLite file (standard library ``sqlite3``),
safe to share between threads and processes.

>>> import tempfile, os
>>> cache = PromptCache(os.path.join(tempfile.mkdtemp(), "llm.sqlite"))
>>> key = request_key("openai", "https://api.example/v1/chat/completions", {"model": "m"})
>>> cache.get(key) is None
True
>>> cache.put(key, {"choices": []}, provider="openai", model="m")
>>> cache.get(key)
{'choices': []}
>>> len(cache)
1
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson

__all__ = ["PromptCache", "default_cache_path", "request_key"]


def request_key(provider: str, url: str, body: Any) -> str:
    """The cache key of one request."""
    raw = orjson.dumps({"provider": provider, "url": url, "body": body},
                       option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(raw).hexdigest()


def default_cache_path() -> Path:
    """``$LABELNB_CACHE_DIR/llm-cache.sqlite``, else ``~/.cache/labelnb/llm-cache.sqlite``."""
    base = os.environ.get("LABELNB_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "labelnb")
    return Path(base) / "llm-cache.sqlite"


class PromptCache:
    """Model answers (the raw response JSON) by request key."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        with self._lock, self._conn:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, provider TEXT, "
                "model TEXT, response BLOB NOT NULL, created_at REAL NOT NULL)")

    def get(self, key: str) -> Any:
        with self._lock:
            row = self._conn.execute("SELECT response FROM answers WHERE key = ?",
                                     (key,)).fetchone()
        return None if row is None else orjson.loads(row[0])

    def put(self, key: str, response: Any, *, provider: str = "", model: str = "") -> None:
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO answers (key, provider, model, response, created_at) "
                "VALUES (?, ?, ?, ?, ?)", (key, provider, model, orjson.dumps(response),
                                           time.time()))

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM answers").fetchone()[0])

    def clear(self) -> None:
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM answers")

    def close(self) -> None:
        self._conn.close()

    def __repr__(self) -> str:
        return f"PromptCache({str(self.path)!r})"
