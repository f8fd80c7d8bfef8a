"""The caches behind the pages: bounded, and each value computed once even under concurrency."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from policywatch.web.reader import LRU
from policywatch.web.responses import PageCache


def test_lru_computes_a_missing_value_once_for_concurrent_callers() -> None:
    cache: LRU[str, int] = LRU(4)
    calls = 0
    lock = threading.Lock()

    def slow() -> int:
        nonlocal calls
        with lock:
            calls += 1
        time.sleep(0.05)
        return 42

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: cache.get("k", slow), range(8)))
    assert results == [42] * 8
    assert calls == 1
    assert cache.misses == 1


def test_lru_evicts_the_least_recently_used() -> None:
    cache: LRU[int, int] = LRU(2)
    cache.get(1, lambda: 1)
    cache.get(2, lambda: 2)
    cache.get(1, lambda: -1)  # touch 1: 2 is now the oldest
    cache.get(3, lambda: 3)
    assert 1 in cache and 3 in cache and 2 not in cache
    assert len(cache) == 2


def test_lru_does_not_cache_failures() -> None:
    cache: LRU[str, int] = LRU(2)

    def boom() -> int:
        raise RuntimeError("git failed")

    with pytest.raises(RuntimeError):
        cache.get("k", boom)
    assert cache.get("k", lambda: 7) == 7


def test_lru_refuses_a_size_of_zero() -> None:
    with pytest.raises(ValueError):
        LRU(0)


def test_page_cache_is_bounded_by_bytes_and_skips_huge_pages() -> None:
    cache = PageCache(max_bytes=100)
    cache.put("a", b"x" * 20)
    cache.put("b", b"y" * 20)
    cache.put("huge", b"z" * 30)  # over a quarter of the budget: not kept
    assert cache.get("huge") is None
    cache.get("a")
    for key in "cdef":
        cache.put(key, b"w" * 20)
    kept = set(cache.keys())
    assert sum(20 for _ in kept) <= 100
    assert "a" in kept and "b" not in kept  # a was used recently, b was the oldest
