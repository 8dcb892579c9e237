"""Every Prometheus metric the gateway exports, declared in one place.

Each ``Metrics`` instance owns its own ``CollectorRegistry`` (served on the
admin listener), so several gateways in one process (tests) never collide.
Label values come only from configuration (route and upstream names) or from
fixed vocabularies (kinds, decisions, reasons, status classes): never from
request input, so every label set is bounded.  Known label combinations are
pre-initialised at zero so dashboards find every series on the first scrape.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from . import __version__
from .policy import Kind, Reason
from .routes import RouteTable

__all__ = ["Metrics", "NO_ROUTE"]

NO_ROUTE = "__no_route__"
DECISIONS = ("allowed", "rejected", "not_applicable")
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
UPSTREAM_ERROR_KINDS = ("connect", "timeout", "reset", "protocol")


class _CacheCollector:
    """Reads the decision cache's plain-int counters at scrape time (no hot-path cost)."""

    def __init__(self, table_getter):
        self._table = table_getter

    def collect(self):
        cache = self._table().cache
        hits = CounterMetricFamily("cors_gateway_decision_cache_hits", "Decision cache hits")
        hits.add_metric([], cache.hits)
        misses = CounterMetricFamily("cors_gateway_decision_cache_misses", "Decision cache misses")
        misses.add_metric([], cache.misses)
        entries = GaugeMetricFamily("cors_gateway_decision_cache_entries", "Entries in the decision cache")
        entries.add_metric([], len(cache))
        return [hits, misses, entries]


class Metrics:
    def __init__(self, table: RouteTable):
        self.table = table
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "cors_gateway_requests", "Requests by route, CORS kind and decision",
            ["route", "kind", "decision"], registry=registry,
        )
        self.rejected = Counter(
            "cors_gateway_rejected_requests", "Rejected CORS requests by route and reason",
            ["route", "reason"], registry=registry,
        )
        self.responses = Counter(
            "cors_gateway_responses", "Responses by route and status class",
            ["route", "code"], registry=registry,
        )
        self.upstream_errors = Counter(
            "cors_gateway_upstream_errors", "Upstream failures by kind",
            ["upstream", "kind"], registry=registry,
        )
        self.shadow_disagreements = Counter(
            "cors_gateway_shadow_disagreements",
            "Shadow mode: requests where the upstream's CORS answer and the gateway's differ for a browser",
            ["route", "kind"], registry=registry,
        )
        self.in_flight = Gauge("cors_gateway_in_flight_requests", "Requests being handled", registry=registry)
        build = Gauge("cors_gateway_build_info", "Build information", ["version"], registry=registry)
        build.labels(__version__).set(1)
        registry.register(_CacheCollector(lambda: self.table))
        self._prime(table)

    def _prime(self, table: RouteTable) -> None:
        names = [r.name for r in table.routes] + [NO_ROUTE]
        for name in names:
            for kind in Kind:
                for decision in DECISIONS:
                    self.requests.labels(name, kind.value, decision)
            for reason in Reason:
                self.rejected.labels(name, reason.value)
            for code in STATUS_CLASSES:
                self.responses.labels(name, code)
            self.shadow_disagreements.labels(name, Kind.PREFLIGHT.value)
            self.shadow_disagreements.labels(name, Kind.ACTUAL.value)
        for upstream in table.config.upstreams:
            for kind in UPSTREAM_ERROR_KINDS:
                self.upstream_errors.labels(upstream, kind)

    def observe(self, route: str, kind: str, decision: str, reason: str | None, status: int) -> None:
        self.requests.labels(route, kind, decision).inc()
        if reason is not None:
            self.rejected.labels(route, reason).inc()
        self.responses.labels(route, STATUS_CLASSES[min(max(status // 100, 1), 5) - 1]).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
