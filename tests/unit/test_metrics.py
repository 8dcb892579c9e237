"""Metrics (gateway/metrics.py): the exported interface, bounded origin labels, observe, sync, reloads.

Pure code: every assertion reads the text exposition a scrape of /metrics
would get, parsed with prometheus_client's own parser.
"""

from __future__ import annotations

import time
import types

import pytest
from prometheus_client.parser import text_string_to_metric_families

import gateway.metrics as metrics_module
from gateway import __version__
from gateway.config import parse_config
from gateway.metrics import Metrics
from gateway.routes import RouteTable

CONFIG = """
upstreams:
  app: {url: "http://127.0.0.1:5000"}
  auth: {url: "http://127.0.0.1:5001"}
routes:
  - {name: api, path: /api, upstream: app, cors: {origins: "https://a.test"}}
  - {name: login, path: /login, upstream: auth, cors: {origins: "https://a.test"}}
"""

# The interface, written out here rather than imported from gateway.metrics,
# so that a change to a vocabulary there fails these tests.
ROUTES = ("api", "login", "__no_route__")
UPSTREAMS = ("app", "auth")
KINDS = ("preflight", "actual", "non_cors")
DECISIONS = ("allowed", "rejected", "not_applicable")
REASONS = (
    "origin_not_allowed",
    "method_not_allowed",
    "header_not_allowed",
    "private_network_not_allowed",
    "malformed_origin",
)
CODES = ("1xx", "2xx", "3xx", "4xx", "5xx")
UPSTREAM_ERROR_KINDS = ("dns", "connect", "tls", "timeout", "reset", "protocol")
LE = (
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0", "60.0", "+Inf",
)
TIMESTAMP = "cors_gateway_config_last_reload_success_timestamp_seconds"

Key = tuple[str, tuple[tuple[str, str], ...]]


def key(name: str, **labels: str) -> Key:
    return name, tuple(sorted(labels.items()))


def make_metrics(max_origin_labels: int = 100, config: str = CONFIG) -> Metrics:
    return Metrics(RouteTable(parse_config(config)), max_origin_labels=max_origin_labels)


def scrape(metrics: Metrics) -> tuple[dict[Key, float], dict[str, str]]:
    """Samples (without the ``_created`` ones) and family types of one scrape."""
    text = metrics.exposition().decode("utf-8")
    samples: dict[Key, float] = {}
    types_: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        if family.name.endswith("_created"):
            continue
        types_[family.name] = family.type
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            k = key(sample.name, **sample.labels)
            assert k not in samples, f"duplicate series {k}"
            samples[k] = sample.value
    return samples, types_


def changes(before: dict[Key, float], after: dict[Key, float]) -> dict[Key, float]:
    """The series whose value differs (or that are new) between two scrapes."""
    assert set(before) <= set(after), "a series disappeared"
    return {k: v for k, v in after.items() if before.get(k) != v}


def histogram(name: str, label: str, value: str, counts: dict[str, float], total: float, sum_: float) -> dict:
    """Every sample of one histogram child: cumulative ``counts`` by le (missing: 0), count, sum."""
    out = {key(f"{name}_bucket", **{label: value, "le": le}): counts.get(le, 0.0) for le in LE}
    out[key(f"{name}_count", **{label: value})] = total
    out[key(f"{name}_sum", **{label: value})] = sum_
    return out


def initial_series() -> dict[Key, float]:
    """Every series a fresh Metrics of CONFIG must expose, with its value (timestamp aside)."""
    expected: dict[Key, float] = {}
    for route in ROUTES:
        for kind in KINDS:
            for decision in DECISIONS + (("same_origin",) if kind == "actual" else ()):
                expected[key("cors_gateway_requests_total", route=route, kind=kind, decision=decision)] = 0.0
        for origin in ("__other__", "__malformed__"):
            for reason in REASONS:
                expected[key("cors_gateway_rejected_origins_total", route=route, origin=origin, reason=reason)] = 0.0
        for code in CODES:
            expected[key("cors_gateway_responses_total", route=route, code=code)] = 0.0
        expected.update(histogram("cors_gateway_request_duration_seconds", "route", route, {}, 0.0, 0.0))
        for kind in ("preflight", "actual"):
            expected[key("cors_gateway_shadow_disagreements_total", route=route, kind=kind)] = 0.0
    for upstream in UPSTREAMS:
        expected.update(histogram("cors_gateway_upstream_duration_seconds", "upstream", upstream, {}, 0.0, 0.0))
        for kind in UPSTREAM_ERROR_KINDS:
            expected[key("cors_gateway_upstream_errors_total", upstream=upstream, kind=kind)] = 0.0
    expected[key("cors_gateway_decision_cache_hits_total")] = 0.0
    expected[key("cors_gateway_decision_cache_misses_total")] = 0.0
    expected[key("cors_gateway_decision_cache_entries")] = 0.0
    expected[key("cors_gateway_preflight_cache_hits_total")] = 0.0
    expected[key("cors_gateway_preflight_cache_misses_total")] = 0.0
    expected[key("cors_gateway_in_flight_requests")] = 0.0
    expected[key("cors_gateway_config_reloads_total", result="success")] = 0.0
    expected[key("cors_gateway_config_reloads_total", result="failure")] = 0.0
    expected[key("cors_gateway_build_info", version=__version__)] = 1.0
    expected[key("cors_gateway_worker_restarts_total")] = 0.0
    for reason in ("header_timeout", "request_line_too_long", "headers_too_large", "malformed_request",
                   "body_too_large", "connection_limit", "ip_connection_limit", "body_timeout", "send_timeout"):
        expected[key("cors_gateway_client_refusals_total", reason=reason)] = 0.0
    return expected


# --------------------------------------------------------------------------
# The interface on the first scrape
# --------------------------------------------------------------------------


def test_every_family_and_series_exists_at_zero_on_the_first_scrape():
    before = time.time()
    metrics = make_metrics()
    after = time.time()
    samples, types_ = scrape(metrics)

    assert types_ == {
        "cors_gateway_requests": "counter",
        "cors_gateway_rejected_origins": "counter",
        "cors_gateway_responses": "counter",
        "cors_gateway_request_duration_seconds": "histogram",
        "cors_gateway_upstream_duration_seconds": "histogram",
        "cors_gateway_upstream_errors": "counter",
        "cors_gateway_decision_cache_hits": "counter",
        "cors_gateway_decision_cache_misses": "counter",
        "cors_gateway_decision_cache_entries": "gauge",
        "cors_gateway_preflight_cache_hits": "counter",
        "cors_gateway_preflight_cache_misses": "counter",
        "cors_gateway_in_flight_requests": "gauge",
        "cors_gateway_shadow_disagreements": "counter",
        "cors_gateway_config_reloads": "counter",
        TIMESTAMP: "gauge",
        "cors_gateway_build_info": "gauge",
        "cors_gateway_worker_restarts": "counter",
        "cors_gateway_client_refusals": "counter",
    }
    timestamp = samples.pop(key(TIMESTAMP))
    assert before <= timestamp <= after
    assert samples == initial_series()
    # 3 routes x (10 requests + 10 rejected + 5 responses + 21 histogram + 2 shadow)
    # + 2 upstreams x (21 histogram + 6 errors) + 10 single series (the timestamp popped above)
    # + 9 client refusal reasons
    assert len(samples) == 3 * 48 + 2 * 27 + 10 + 9


def test_sample_lines_are_written_as_dashboards_expect():
    lines = make_metrics().exposition().decode("utf-8").splitlines()
    for line in (
        'cors_gateway_requests_total{decision="allowed",kind="preflight",route="api"} 0.0',
        'cors_gateway_requests_total{decision="not_applicable",kind="non_cors",route="__no_route__"} 0.0',
        'cors_gateway_rejected_origins_total{origin="__other__",reason="origin_not_allowed",route="login"} 0.0',
        'cors_gateway_rejected_origins_total{origin="__malformed__",reason="malformed_origin",route="api"} 0.0',
        'cors_gateway_responses_total{code="5xx",route="__no_route__"} 0.0',
        'cors_gateway_request_duration_seconds_bucket{le="+Inf",route="api"} 0.0',
        'cors_gateway_upstream_duration_seconds_count{upstream="auth"} 0.0',
        'cors_gateway_upstream_errors_total{kind="timeout",upstream="app"} 0.0',
        "cors_gateway_decision_cache_hits_total 0.0",
        "cors_gateway_decision_cache_entries 0.0",
        "cors_gateway_in_flight_requests 0.0",
        'cors_gateway_config_reloads_total{result="failure"} 0.0',
        f'cors_gateway_build_info{{version="{__version__}"}} 1.0',
    ):
        assert line in lines


# --------------------------------------------------------------------------
# The bounded origin label
# --------------------------------------------------------------------------


def test_first_n_origins_per_route_keep_their_label_later_ones_are_other():
    metrics = make_metrics(max_origin_labels=3)
    label = metrics.origin_label
    assert [label("api", f"https://o{i}.test", False) for i in range(1, 6)] == [
        "https://o1.test", "https://o2.test", "https://o3.test", "__other__", "__other__",
    ]
    # A kept origin keeps its label; one that was __other__ stays __other__.
    assert label("api", "https://o2.test", False) == "https://o2.test"
    assert label("api", "https://o4.test", False) == "__other__"
    assert label("api", "https://o1.test", False) == "https://o1.test"
    # Each route has its own budget, __no_route__ too.
    assert label("login", "https://o4.test", False) == "https://o4.test"
    assert label("__no_route__", "https://o5.test", False) == "https://o5.test"
    assert [label("login", f"https://l{i}.test", False) for i in range(3)] == [
        "https://l0.test", "https://l1.test", "__other__",
    ]
    # A route the table does not know never gets a label of its own.
    assert label("unknown", "https://o1.test", False) == "__other__"


def test_malformed_origins_are_one_label_and_use_no_budget():
    metrics = make_metrics(max_origin_labels=1)
    label = metrics.origin_label
    assert label("api", "https://evil.test\r\nX: 1", True) == "__malformed__"
    assert label("api", None, False) == "__malformed__"
    assert label("api", None, True) == "__malformed__"
    # Neither took the only slot ...
    assert label("api", "https://first.test", False) == "https://first.test"
    assert label("api", "https://second.test", False) == "__other__"
    # ... and malformed wins over a kept origin.
    assert label("api", "https://first.test", True) == "__malformed__"


def test_zero_origin_labels_sends_everything_to_other():
    metrics = make_metrics(max_origin_labels=0)
    for route in ROUTES:
        for i in range(5):
            assert metrics.origin_label(route, f"https://o{i}.test", False) == "__other__"
        assert metrics.origin_label(route, "bogus", True) == "__malformed__"


def test_origin_labels_become_series_only_for_kept_origins():
    metrics = make_metrics(max_origin_labels=2)
    before, _ = scrape(metrics)
    for origin, malformed, reason in [
        ("https://a.example", False, "origin_not_allowed"),
        ("https://b.example", False, "method_not_allowed"),
        ("https://c.example", False, "origin_not_allowed"),
        ("https://a.example", False, "origin_not_allowed"),
        ("https://d.example", False, "header_not_allowed"),
        ("null\x00", True, "malformed_origin"),
    ]:
        label = metrics.origin_label("api", origin, malformed)
        metrics.observe("api", "actual", "rejected", reason, 200, 0.001, label)
    after, _ = scrape(metrics)
    delta = changes(before, after)
    histogram_samples = {k for k in delta if k[0].startswith("cors_gateway_request_duration_seconds")}
    assert {k: v for k, v in delta.items() if k not in histogram_samples} == {
        key("cors_gateway_rejected_origins_total", route="api", origin="https://a.example",
            reason="origin_not_allowed"): 2.0,
        key("cors_gateway_rejected_origins_total", route="api", origin="https://b.example",
            reason="method_not_allowed"): 1.0,
        key("cors_gateway_rejected_origins_total", route="api", origin="__other__", reason="origin_not_allowed"): 1.0,
        key("cors_gateway_rejected_origins_total", route="api", origin="__other__", reason="header_not_allowed"): 1.0,
        key("cors_gateway_rejected_origins_total", route="api", origin="__malformed__",
            reason="malformed_origin"): 1.0,
        key("cors_gateway_requests_total", route="api", kind="actual", decision="rejected"): 6.0,
        key("cors_gateway_responses_total", route="api", code="2xx"): 6.0,
    }
    origins = {dict(k[1])["origin"] for k in after if k[0] == "cors_gateway_rejected_origins_total"}
    assert origins == {"__other__", "__malformed__", "https://a.example", "https://b.example"}


def test_reload_keeps_the_origin_budget_and_adds_new_routes():
    metrics = make_metrics(max_origin_labels=2)
    assert metrics.origin_label("api", "https://a.example", False) == "https://a.example"
    assert metrics.origin_label("api", "https://b.example", False) == "https://b.example"
    reloaded = CONFIG + '  - {name: admin, path: /admin, upstream: app, cors: {origins: "https://a.test"}}\n'
    metrics.use_table(RouteTable(parse_config(reloaded)))
    # The budget is per process: a reload does not grant another one.
    assert metrics.origin_label("api", "https://c.example", False) == "__other__"
    assert metrics.origin_label("api", "https://a.example", False) == "https://a.example"
    # The new route has its series at zero and a budget of its own.
    assert metrics.origin_label("admin", "https://c.example", False) == "https://c.example"
    samples, _ = scrape(metrics)
    assert samples[key("cors_gateway_requests_total", route="admin", kind="preflight", decision="allowed")] == 0.0
    assert samples[key("cors_gateway_rejected_origins_total", route="admin", origin="__other__",
                       reason="private_network_not_allowed")] == 0.0
    metrics.observe("admin", "preflight", "rejected", "origin_not_allowed", 403, 0.0002, "https://c.example")
    samples, _ = scrape(metrics)
    assert samples[key("cors_gateway_rejected_origins_total", route="admin", origin="https://c.example",
                       reason="origin_not_allowed")] == 1.0
    assert samples[key("cors_gateway_responses_total", route="admin", code="4xx")] == 1.0


def test_a_flood_of_distinct_origins_leaves_the_exposition_small(capsys):
    """1,000,000 rejected requests from distinct origins, recorded as Gateway._finish does.

    The exposition can only grow by the origins that got a label: with the
    default 100 per route and 3 routes (with __no_route__), 300 series, each
    one ``_total`` and one ``_created`` line of under 200 bytes, on top of the
    fixed series (about 30 KB, measured below).  So about 100 KB, whatever
    the flood's size, where one series per origin would be hundreds of MB.
    """
    metrics = make_metrics()  # max_origin_labels defaults to 100
    assert metrics.max_origin_labels == 100
    baseline = len(metrics.exposition())

    flood = 1_000_000
    label, observe = metrics.origin_label, metrics.observe
    started = time.perf_counter()
    for i in range(flood):
        route = ROUTES[i % 3]
        reason = REASONS[i % 5]  # every 5th is malformed_origin
        origin = f"https://o{i}.example"
        observe(route, "actual", "rejected", reason, 200, 0.0005,
                label(route, origin, reason == "malformed_origin"))
    elapsed = time.perf_counter() - started

    body = metrics.exposition()
    samples, _ = scrape(metrics)
    rejected = {k: v for k, v in samples.items() if k[0] == "cors_gateway_rejected_origins_total"}
    kept_series = len(rejected) - 3 * 2 * 5
    longest = max(len(line) for line in body.splitlines())
    with capsys.disabled():
        print(
            f"\n[flood] {flood} origins in {elapsed:.2f}s; /metrics {len(body)} bytes "
            f"({len(body) / 1024:.1f} KiB), {baseline} before; {len(rejected)} rejected_origins series; "
            f"longest line {longest} bytes"
        )

    # Series: bounded by routes x (N + 2) x reasons, and here exactly the
    # fixed 3 x 2 x 5 plus one per kept origin (a kept origin came with one reason).
    assert len(rejected) <= len(ROUTES) * (100 + 2) * len(REASONS)
    assert kept_series == 3 * 100
    assert sum(rejected.values()) == flood
    for r, route in enumerate(ROUTES):
        # The first 100 well-formed origins of the route, in flood order.
        kept = [i for i in range(r, 600, 3) if i % 5 != 4][:100]
        for i in kept:
            reason = REASONS[i % 5]
            assert rejected[key("cors_gateway_rejected_origins_total", route=route, origin=f"https://o{i}.example",
                                reason=reason)] == 1.0
        requests = len(range(r, flood, 3))
        assert samples[key("cors_gateway_requests_total", route=route, kind="actual", decision="rejected")] == requests
        assert samples[key("cors_gateway_responses_total", route=route, code="2xx")] == requests
        assert sum(v for k, v in rejected.items() if dict(k[1])["route"] == route) == requests
        malformed = rejected[key("cors_gateway_rejected_origins_total", route=route, origin="__malformed__",
                                 reason="malformed_origin")]
        assert malformed == len(range(_first(r, 4), flood, 15))
        for reason in REASONS[:4]:
            assert rejected[key("cors_gateway_rejected_origins_total", route=route, origin="__malformed__",
                                reason=reason)] == 0.0

    # Size: the fixed part plus two lines per kept series, each under 200 bytes.
    assert longest < 200
    assert len(body) <= baseline + kept_series * 2 * 200
    assert len(body) < 128 * 1024
    assert elapsed < 20  # about 3.5 s on a 2-core VM; a generous ceiling against hangs, not a benchmark


def _first(route_index: int, reason_index: int) -> int:
    """The first i with i % 3 == route_index and i % 5 == reason_index."""
    return next(i for i in range(15) if i % 3 == route_index and i % 5 == reason_index)


# --------------------------------------------------------------------------
# observe()
# --------------------------------------------------------------------------


def test_observe_counts_request_response_and_duration_in_the_right_children():
    metrics = make_metrics()
    before, _ = scrape(metrics)
    metrics.observe("api", "actual", "allowed", None, 204, 0.003)
    metrics.observe("api", "actual", "allowed", None, 200, 0.0001)
    metrics.observe("__no_route__", "non_cors", "not_applicable", None, 404, 0.02)
    after, _ = scrape(metrics)
    expected = {
        key("cors_gateway_requests_total", route="api", kind="actual", decision="allowed"): 2.0,
        key("cors_gateway_responses_total", route="api", code="2xx"): 2.0,
        key("cors_gateway_requests_total", route="__no_route__", kind="non_cors", decision="not_applicable"): 1.0,
        key("cors_gateway_responses_total", route="__no_route__", code="4xx"): 1.0,
    }
    # 0.0001 falls in le=0.0001 (buckets are <=), 0.003 in le=0.005.
    api_counts = {le: 2.0 for le in LE[LE.index("0.005"):]} | {"0.0001": 1.0, "0.00025": 1.0, "0.0005": 1.0,
                                                               "0.001": 1.0, "0.0025": 1.0}
    expected.update(histogram("cors_gateway_request_duration_seconds", "route", "api", api_counts, 2.0, 0.0031))
    no_route_counts = {le: 1.0 for le in LE[LE.index("0.025"):]}
    expected.update(histogram("cors_gateway_request_duration_seconds", "route", "__no_route__", no_route_counts,
                              1.0, 0.02))
    delta = changes(before, after)
    assert delta.keys() == {k for k, v in expected.items() if v != 0.0}
    for k, v in delta.items():
        assert v == pytest.approx(expected[k], abs=1e-12), k


@pytest.mark.parametrize(
    ("status", "code"),
    [(101, "1xx"), (200, "2xx"), (204, "2xx"), (302, "3xx"), (304, "3xx"), (404, "4xx"), (499, "4xx"),
     (500, "5xx"), (502, "5xx"), (599, "5xx"), (600, "5xx"), (999, "5xx"), (0, "1xx")],
)
def test_status_classes(status, code):
    metrics = make_metrics()
    before, _ = scrape(metrics)
    metrics.observe("login", "preflight", "allowed", None, status, 0.0)
    assert metrics_module.status_class(status) == code
    delta = changes(before, scrape(metrics)[0])
    responses = {k: v for k, v in delta.items() if k[0] == "cors_gateway_responses_total"}
    assert responses == {key("cors_gateway_responses_total", route="login", code=code): 1.0}


def test_rejected_origins_only_with_both_a_reason_and_an_origin_label():
    metrics = make_metrics()
    before, _ = scrape(metrics)
    # A reason without a label: the no_route case, which has no origin series.
    metrics.observe("__no_route__", "actual", "rejected", "no_route", 404, 0.0)
    # A label without a reason: an allowed request records no rejection.
    metrics.observe("api", "actual", "allowed", None, 200, 0.0, "https://a.test")
    # Both: counted.
    metrics.observe("api", "preflight", "rejected", "method_not_allowed", 204, 0.0, "__other__")
    delta = changes(before, scrape(metrics)[0])
    rejected = {k: v for k, v in delta.items() if k[0] == "cors_gateway_rejected_origins_total"}
    assert rejected == {
        key("cors_gateway_rejected_origins_total", route="api", origin="__other__", reason="method_not_allowed"): 1.0
    }
    assert delta[key("cors_gateway_requests_total", route="__no_route__", kind="actual", decision="rejected")] == 1.0
    assert delta[key("cors_gateway_requests_total", route="api", kind="actual", decision="allowed")] == 1.0
    assert delta[key("cors_gateway_requests_total", route="api", kind="preflight", decision="rejected")] == 1.0


def test_observe_upstream_goes_to_its_upstream():
    metrics = make_metrics()
    before, _ = scrape(metrics)
    metrics.observe_upstream("auth", 0.75)
    delta = changes(before, scrape(metrics)[0])
    counts = {le: 1.0 for le in LE[LE.index("1.0"):]}
    expected = histogram("cors_gateway_upstream_duration_seconds", "upstream", "auth", counts, 1.0, 0.75)
    assert delta == {k: v for k, v in expected.items() if v != 0.0}


# --------------------------------------------------------------------------
# sync() and config_loaded()
# --------------------------------------------------------------------------


def cache_counters(metrics: Metrics) -> tuple[float, float, float]:
    samples, _ = scrape(metrics)  # exposition() syncs first, as a scrape does
    return (
        samples[key("cors_gateway_decision_cache_hits_total")],
        samples[key("cors_gateway_decision_cache_misses_total")],
        samples[key("cors_gateway_decision_cache_entries")],
    )


def value(metrics: Metrics, name: str, **labels: str) -> float:
    metrics.sync()  # the hot path tallies; a scrape (and the once-a-second task) folds them in
    return metrics.registry.get_sample_value(name, labels)


def test_sync_folds_the_cache_counts_in_exactly_once():
    metrics = make_metrics()
    cache = metrics.table.cache
    assert cache_counters(metrics) == (0.0, 0.0, 0.0)

    for k in ("a", "b", "c"):
        assert cache.get(k) is None  # 3 misses
        cache.put(k, object())
    cache.get("a")
    cache.get("b")  # 2 hits
    assert (cache.hits, cache.misses, len(cache)) == (2, 3, 3)

    metrics.sync()
    metrics.sync()
    assert value(metrics, "cors_gateway_decision_cache_hits_total") == 2.0
    assert value(metrics, "cors_gateway_decision_cache_misses_total") == 3.0
    assert value(metrics, "cors_gateway_decision_cache_entries") == 3.0
    # A scrape syncs again: still not doubled.
    assert cache_counters(metrics) == (2.0, 3.0, 3.0)
    assert cache_counters(metrics) == (2.0, 3.0, 3.0)

    cache.get("c")
    cache.get("zzz")
    cache.clear()
    assert cache_counters(metrics) == (3.0, 4.0, 0.0)


def test_sync_ignores_counts_from_before_the_metrics_existed():
    table = RouteTable(parse_config(CONFIG))
    table.cache.get("x")
    table.cache.put("x", 1)
    table.cache.get("x")
    metrics = Metrics(table)
    assert cache_counters(metrics) == (0.0, 0.0, 1.0)
    table.cache.get("x")
    assert cache_counters(metrics) == (1.0, 0.0, 1.0)


def test_sync_of_a_cache_that_fills_past_capacity():
    config = CONFIG.replace("upstreams:", "cache_size: 2\nupstreams:")
    metrics = make_metrics(config=config)
    cache = metrics.table.cache
    for k in range(5):
        cache.get(k)
        cache.put(k, k)
    assert cache_counters(metrics) == (0.0, 5.0, 2.0)


def test_config_loaded_counts_results_and_moves_the_timestamp_only_on_success(monkeypatch):
    clock = [1_000.0]
    monkeypatch.setattr(metrics_module, "time", types.SimpleNamespace(time=lambda: clock[0]))
    metrics = make_metrics()

    def state() -> tuple[float, float, float]:
        return (
            value(metrics, "cors_gateway_config_reloads_total", result="success"),
            value(metrics, "cors_gateway_config_reloads_total", result="failure"),
            value(metrics, TIMESTAMP),
        )

    assert state() == (0.0, 0.0, 1_000.0)
    clock[0] = 2_000.0
    metrics.config_loaded(False)
    assert state() == (0.0, 1.0, 1_000.0)
    clock[0] = 3_000.5
    metrics.config_loaded(True)
    assert state() == (1.0, 1.0, 3_000.5)
    clock[0] = 4_000.0
    metrics.config_loaded(False)
    metrics.config_loaded(False)
    assert state() == (1.0, 3.0, 3_000.5)
    samples, _ = scrape(metrics)
    assert samples[key(TIMESTAMP)] == 3_000.5
    assert samples[key("cors_gateway_config_reloads_total", result="failure")] == 3.0


def test_histogram_tally_gives_the_same_series_as_observe():
    from prometheus_client import CollectorRegistry, Histogram

    from gateway.metrics import DURATION_BUCKETS, _HistogramTally

    values = [0.0, 0.0001, 0.00010001, 0.001, 0.0049, 0.005, 0.7, 59.9, 60.0, 60.5, 1e9]
    native_registry, tallied_registry = CollectorRegistry(), CollectorRegistry()
    native = Histogram("d", "d", ["route"], buckets=DURATION_BUCKETS, registry=native_registry).labels("r")
    tally = _HistogramTally(Histogram("d", "d", ["route"], buckets=DURATION_BUCKETS, registry=tallied_registry)
                            .labels("r"))
    for v in values:
        native.observe(v)
        tally.observe(v)
    assert tallied_registry.get_sample_value("d_count", {"route": "r"}) == 0.0  # nothing until the fold
    tally.flush()
    tally.flush()  # a second flush adds nothing

    def samples(registry):
        return sorted((s.name, tuple(sorted(s.labels.items())), s.value)
                      for metric in registry.collect() for s in metric.samples)

    assert samples(tallied_registry) == samples(native_registry)
    assert tallied_registry.get_sample_value("d_bucket", {"route": "r", "le": "0.0001"}) == 2.0
    assert tallied_registry.get_sample_value("d_count", {"route": "r"}) == len(values)
