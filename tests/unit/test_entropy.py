"""The read-ahead random bytes behind lease tokens and annotation ids."""

from __future__ import annotations

import os
import threading

from labelnb import _entropy
from labelnb._entropy import POOL_BYTES, token_bytes, token_hex


def test_no_byte_is_handed_out_twice_across_threads() -> None:
    got: list[bytes] = []
    guard = threading.Lock()

    def work() -> None:
        mine = [token_bytes(16) for _ in range(2_000)]  # several pool refills each
        with guard:
            got.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8_000 and len(set(got)) == 8_000
    assert all(len(b) == 16 for b in got)


def test_sizes_and_large_requests() -> None:
    assert len(token_hex(16)) == 32
    big = token_bytes(POOL_BYTES)  # larger than a pool share: straight from the OS
    assert len(big) == POOL_BYTES and big != token_bytes(POOL_BYTES)
    # a request that does not fit in what is left starts a new pool, never a short read
    left = POOL_BYTES - _entropy._at
    assert len(token_bytes(min(left + 1, POOL_BYTES // 4))) == min(left + 1, POOL_BYTES // 4)


def test_a_forked_child_does_not_repeat_the_parents_bytes() -> None:
    token_bytes(8)  # the parent has unread bytes in its pool
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next token, to the parent
        try:
            os.write(w, token_bytes(16))
        finally:
            os._exit(0)
    os.close(w)
    child = os.read(r, 16)
    os.close(r)
    os.waitpid(pid, 0)
    parent = token_bytes(16)
    assert len(child) == 16 and child != parent


def test_a_negative_size_is_refused_and_rewinds_nothing() -> None:
    import pytest

    a = token_bytes(16)
    with pytest.raises(ValueError, match=">= 0"):
        token_bytes(-16)
    assert token_bytes(16) != a and token_bytes(0) == b""
