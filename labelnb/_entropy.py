"""Random bytes for ids and lease tokens, read from the OS a few kilobytes at a time.

``os.urandom`` is one ``getrandom`` system call per call; a claim+submit needs two
(the lease token and the annotation id), and in a sandboxed kernel a system call costs
microseconds (a ``py-spy --native`` profile of ``benchmarks/queue_throughput.py``'s
SQLite loop: ``getrandom`` about 5% of a claim+submit). The bytes handed out here are
the same OS randomness, read ahead: each byte is handed out once, under a lock
(threads), and a forked child throws the parent's unread bytes away (else parent and
child would hand out the same tokens).

>>> len(token_bytes(16)), token_bytes(8) != token_bytes(8)
(16, True)
>>> len(token_hex(16)), all(c in "0123456789abcdef" for c in token_hex(16))
(32, True)
"""

from __future__ import annotations

import os
import threading

#: bytes read from the OS at a time
POOL_BYTES = 4096

_lock = threading.Lock()
_pool = b""
_at = 0


def _forget_after_fork() -> None:
    global _pool, _at, _lock
    _lock = threading.Lock()  # (a lock held by another thread at the fork stays held)
    _pool, _at = b"", 0


os.register_at_fork(after_in_child=_forget_after_fork)


def token_bytes(n: int) -> bytes:
    """``n`` random bytes (as ``secrets.token_bytes(n)``)."""
    global _pool, _at
    if n < 0:
        raise ValueError(f"token_bytes: n is {n}; give a number of bytes >= 0")
    if n > POOL_BYTES // 4:
        return os.urandom(n)
    with _lock:
        at = _at
        end = at + n
        if end > len(_pool):
            _pool, at, end = os.urandom(POOL_BYTES), 0, n
        _at = end
        return _pool[at:end]


def token_hex(n: int) -> str:
    """``2 * n`` hex digits from ``n`` random bytes (as ``secrets.token_hex(n)``)."""
    return token_bytes(n).hex()
