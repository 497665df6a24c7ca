"""A fake LLM endpoint on 127.0.0.1 that serves recorded responses.

``fake_llm`` is an ``http.server`` in a thread. A test queues replies (served first,
in order) or sets rules (a reply for every request whose body contains a substring);
every request is recorded (path, headers, JSON body) and the most requests in flight
at once is tracked. Replies are the JSON fixtures in ``fixtures/``, recorded in each
API's documented format.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


@dataclass
class Reply:
    body: Any = None  # a dict (sent as JSON), a str (sent as is) or None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeLLM:
    def __init__(self) -> None:
        self.queue: deque[Reply] = deque()
        self.rules: list[tuple[str, Reply]] = []
        self.requests: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @staticmethod
    def reply(name: str | None = None, *, body: Any = None, status: int = 200,
              headers: dict[str, str] | None = None, delay: float = 0.0) -> Reply:
        """A reply: the fixture ``name`` (or ``body``) with that status and headers."""
        return Reply(fixture(name) if name else body, status, dict(headers or {}), delay)

    def when(self, substring: str, reply: Reply) -> None:
        self.rules.append((substring, reply))

    def pick(self, raw: str) -> Reply:
        with self._lock:
            if self.queue:
                return self.queue.popleft()
        for sub, reply in self.rules:
            if sub in raw:
                return reply
        return Reply({"error": {"message": "the fake server has no reply for this request"}},
                     status=500)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n).decode("utf-8")
                with fake._lock:
                    fake.requests.append(Seen(self.path, {k.lower(): v for k, v in
                                                          self.headers.items()},
                                              json.loads(raw)))
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                counted = True
                try:
                    reply = fake.pick(raw)
                    if reply.delay:
                        time.sleep(reply.delay)
                    data = (reply.body if isinstance(reply.body, str)
                            else json.dumps(reply.body)).encode("utf-8")
                    # no longer in flight once answered: the client may send its next
                    # request as soon as it has read this reply, before this handler
                    # returns (counted after the write, that request overlapped this one)
                    with fake._lock:
                        fake.in_flight -= 1
                        counted = False
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)
                finally:
                    if counted:
                        with fake._lock:
                            fake.in_flight -= 1

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    f = FakeLLM()
    try:
        yield f
    finally:
        f.close()


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
