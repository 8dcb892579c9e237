"""The bounded LRU decision cache (gateway/cache.py) and its use by policies."""

from __future__ import annotations

import pytest

from gateway.cache import DecisionCache
from gateway.config import CorsSettings
from gateway.origins import parse_pattern
from gateway.policy import CorsPolicy, Reason


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="^capacity must be at least 1$"):
        DecisionCache(0)
    assert DecisionCache(1).capacity == 1
    assert DecisionCache().capacity == 10_000


def test_bound_and_eviction_order():
    cache = DecisionCache(3)
    for key in "abcde":
        cache.put(key, key.upper())
    assert len(cache) == 3
    assert list(cache._data) == ["c", "d", "e"]
    assert cache.get("a") is None
    assert cache.get("b") is None
    assert cache.get("c") == "C"


def test_get_refreshes_recency():
    cache = DecisionCache(3)
    for key in "abc":
        cache.put(key, key)
    assert cache.get("a") == "a"  # a is now the most recently used
    cache.put("d", "d")  # evicts b, the least recently used
    assert list(cache._data) == ["c", "a", "d"]
    assert cache.get("b") is None


def test_put_of_existing_key_replaces_and_refreshes():
    cache = DecisionCache(3)
    for key in "abc":
        cache.put(key, key)
    cache.put("a", "A2")
    cache.put("d", "d")  # evicts b, not the just re-put a
    assert len(cache) == 3
    assert list(cache._data) == ["c", "a", "d"]
    assert cache.get("a") == "A2"


def test_hits_and_misses():
    cache = DecisionCache(2)
    assert (cache.hits, cache.misses) == (0, 0)
    assert cache.get("x") is None
    cache.put("x", 1)
    assert cache.get("x") == 1
    assert cache.get("x") == 1
    assert cache.get("y") is None
    assert (cache.hits, cache.misses) == (2, 2)


def test_namespaces_are_distinct_and_clear_empties():
    cache = DecisionCache(4)
    assert [cache.new_namespace() for _ in range(3)] == [0, 1, 2]
    cache.put((0, "o"), "zero")
    cache.put((1, "o"), "one")
    assert cache.get((0, "o")) == "zero"
    assert cache.get((1, "o")) == "one"
    cache.clear()
    assert len(cache) == 0
    assert cache.get((0, "o")) is None


def _policy(cache: DecisionCache, *origins: str, name: str = "p") -> CorsPolicy:
    settings = CorsSettings(origins=tuple(parse_pattern(o) for o in origins))
    return CorsPolicy(name, settings, cache)


def test_policy_cache_stays_bounded_after_20000_distinct_origins():
    cache = DecisionCache(1000)
    policy = _policy(cache, "https://*.example.com")
    for i in range(20_000):
        decision = policy.decide("GET", [f"https://o{i}.example.com"])
        assert decision.allowed is True
    assert len(cache) == 1000
    assert (cache.hits, cache.misses) == (0, 20_000)

    # The most recent origin is still cached; the first one was evicted.
    policy.decide("GET", ["https://o19999.example.com"])
    assert (cache.hits, cache.misses) == (1, 20_000)
    assert policy.decide("GET", ["https://o0.example.com"]).headers == (
        ("Access-Control-Allow-Origin", "https://o0.example.com"),
    )
    assert (cache.hits, cache.misses) == (1, 20_001)
    assert len(cache) == 1000


def test_rejected_and_malformed_origins_are_bounded_too():
    cache = DecisionCache(100)
    policy = _policy(cache, "https://app.example.com")
    for i in range(5_000):
        assert policy.decide("GET", [f"https://evil{i}.test"]).reason is Reason.ORIGIN_NOT_ALLOWED
        assert policy.decide("GET", [f"https://evil{i}.test/"]).reason is Reason.MALFORMED_ORIGIN
    assert len(cache) == 100


def test_oversized_origins_are_not_cached():
    cache = DecisionCache(10)
    policy = _policy(cache, "*")
    for i in range(50):
        origin = f"https://{i}" + "a" * 400 + ".test"
        assert policy.decide("GET", [origin]).reason is Reason.MALFORMED_ORIGIN
    assert len(cache) == 0
    assert (cache.hits, cache.misses) == (0, 0)


def test_policies_sharing_a_cache_do_not_see_each_others_verdicts():
    cache = DecisionCache(10)
    allows = _policy(cache, "https://a.test", name="allows")
    denies = _policy(cache, "https://b.test", name="denies")
    assert allows.decide("GET", ["https://a.test"]).allowed is True
    assert denies.decide("GET", ["https://a.test"]).allowed is False
    assert allows.decide("GET", ["https://a.test"]).allowed is True
    assert len(cache) == 2
    assert (cache.hits, cache.misses) == (1, 2)
