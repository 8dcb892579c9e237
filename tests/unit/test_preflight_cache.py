"""The per-route preflight answer table and the pre-encoded header lines (Decision.wire)."""

from __future__ import annotations

from gateway.cache import DecisionCache
from gateway.config import parse_config
from gateway.policy import MAX_CACHED_PREFLIGHTS, CorsPolicy, Decision, Kind, Reason

APP = "https://app.example.com"


def make_policy(cors: str = f'{{origins: ["{APP}"], allow_headers: [Content-Type], max_age: 60}}') -> CorsPolicy:
    config = parse_config(
        'upstreams: {app: {url: "http://127.0.0.1:5000"}}\n'
        f"routes: [{{name: r, path: /, upstream: app, cors: {cors}}}]\n"
    )
    return CorsPolicy("r", config.routes[0].cors, DecisionCache(100))


def test_a_repeated_preflight_is_answered_from_the_table():
    policy = make_policy()
    first = policy.preflight([APP], ["PUT"], ["content-type"])
    cache = policy._cache
    assert (cache.preflight_hits, cache.preflight_misses) == (0, 1)
    hits = cache.hits
    again = policy.preflight([APP], ["PUT"], ["content-type"])
    assert again is first  # no parsing, no new Decision
    # Counted as a preflight-table hit, not as a decision-cache hit (two caches, two series).
    assert (cache.preflight_hits, cache.preflight_misses, cache.hits) == (1, 1, hits)
    assert first.allowed is True
    # Any difference in the raw request headers is another key.
    assert policy.preflight([APP], ["PUT"], ["Content-Type"]) is not first
    assert policy.preflight([APP], ["PUT"], ["content-type", "x-other"]).reason is Reason.HEADER_NOT_ALLOWED
    assert policy.preflight([APP], ["PUT"], ["content-type"], ["true"]).reason is Reason.PRIVATE_NETWORK_NOT_ALLOWED


def test_the_table_is_bounded_and_long_keys_are_not_kept():
    policy = make_policy('{origins: ["https://*.example.com"], allow_headers: "*"}')
    for i in range(MAX_CACHED_PREFLIGHTS + 10):
        assert policy.preflight([f"https://a{i}.example.com"], ["PUT"]).allowed
        assert len(policy._preflights) <= MAX_CACHED_PREFLIGHTS
    policy._preflights.clear()
    long_headers = ", ".join(f"x-h{i}" for i in range(60))  # 60 names, about 400 characters: allowed
    assert policy.preflight([APP.replace("app", "b")], ["PUT"], [long_headers, long_headers]).allowed
    assert policy._preflights == {}  # over 512 characters of request headers: answered, not kept
    assert policy.preflight(["https://" + "a" * 300 + ".example.com"], ["PUT"]).reason is Reason.MALFORMED_ORIGIN
    assert policy._preflights == {}  # an over-long origin is never a key


def test_cached_rejections_stay_rejections():
    policy = make_policy()
    for _ in range(3):
        assert policy.preflight(["https://evil.example"], ["PUT"]).reason is Reason.ORIGIN_NOT_ALLOWED
        assert policy.preflight([APP], ["PUT", "PUT"]).reason is Reason.METHOD_NOT_ALLOWED
        assert policy.preflight([APP, APP], ["PUT"]).reason is Reason.MALFORMED_ORIGIN


def test_wire_is_the_header_lines_and_vary():
    policy = make_policy()
    decision = policy.preflight([APP], ["PUT"], ["content-type"])
    assert decision.wire == (
        b"Access-Control-Allow-Origin: https://app.example.com\r\n"
        b"Access-Control-Allow-Methods: GET, HEAD, POST, PUT, PATCH, DELETE\r\n"
        b"Access-Control-Allow-Headers: Content-Type\r\n"
        b"Access-Control-Max-Age: 60\r\n"
        b"Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers\r\n"
    )
    assert Decision(Kind.NON_CORS, None, None, (), ()).wire == b""


def test_long_method_or_pna_values_are_answered_but_not_kept():
    policy = make_policy()
    assert policy.preflight([APP], ["X" * 33]).reason is Reason.METHOD_NOT_ALLOWED
    assert policy.preflight([APP], ["GET"], [], ["t" * 17]).allowed
    assert policy.preflight([APP], ["GET", "PUT"]).reason is Reason.METHOD_NOT_ALLOWED
    assert policy._preflights == {}  # an attacker's 8 KiB values never become keys
