"""Every Prometheus metric the gateway exports, declared in one place.

Names and labels are an interface (dashboards and alerts are built on them):

=====================================================  =============================================
cors_gateway_requests_total{route,kind,decision}       kind preflight|actual|non_cors, decision
                                                       allowed|rejected|not_applicable (+ same_origin
                                                       for kind actual)
cors_gateway_rejected_origins_total{route,origin,reason}  origin bounded, see below
cors_gateway_responses_total{route,code}               code 1xx..5xx
cors_gateway_request_duration_seconds{route}           whole time in the gateway
cors_gateway_upstream_duration_seconds{upstream}       time to the upstream's response head
cors_gateway_upstream_errors_total{upstream,kind}      kind dns|connect|tls|timeout|reset|protocol
cors_gateway_decision_cache_{hits,misses}_total, cors_gateway_decision_cache_entries
cors_gateway_preflight_cache_{hits,misses}_total        the routes' prebuilt preflight answers
cors_gateway_in_flight_requests
cors_gateway_shadow_disagreements_total{route,kind}
cors_gateway_config_reloads_total{result}              result success|failure
cors_gateway_config_last_reload_success_timestamp_seconds
cors_gateway_build_info{version}
cors_gateway_worker_restarts_total                     workers that died and were restarted
cors_gateway_client_refusals_total{reason}             refused before routing, see CLIENT_REFUSAL_REASONS
=====================================================  =============================================

Label values come only from configuration (route and upstream names) or
fixed vocabularies, except ``origin``, which is bounded: the first
``max_origin_labels`` distinct origins per route (per process) keep their own
series, later ones count as ``__other__``, malformed ones as ``__malformed__``
(a malformed value never becomes a label).  Every known label combination is
created at zero up front, so dashboards and alerts find all series on the
first scrape, also in multiprocess mode, whose collector omits untouched ones.

Multiprocess: when ``PROMETHEUS_MULTIPROC_DIR`` is set (before
prometheus_client is imported), values live in shared files and
``exposition`` aggregates every worker with ``MultiProcessCollector``; the
gauges declare how workers combine (``livesum``, ``max``).  Counters the hot
path touches are plain tallies (``_CounterTally``, ``_HistogramTally``: an
integer add and a bisect, no label lookup and no lock per request) that
``sync`` folds into the Prometheus children once a second and before every
scrape, as it does with the decision cache's plain hit/miss integers.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from . import __version__
from .policy import Kind, Reason
from .routes import RouteTable

__all__ = ["Metrics", "NO_ROUTE", "OTHER_ORIGIN", "MALFORMED_ORIGIN", "status_class"]

NO_ROUTE = "__no_route__"
OTHER_ORIGIN = "__other__"
MALFORMED_ORIGIN = "__malformed__"
DECISIONS = ("allowed", "rejected", "not_applicable")
# Same-origin requests (a page served through the gateway calling its own
# origin) are actual requests that CORS does not apply to.
SAME_ORIGIN_DECISION = "same_origin"
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
UPSTREAM_ERROR_KINDS = ("dns", "connect", "tls", "timeout", "reset", "protocol")
RELOAD_RESULTS = ("success", "failure")
REJECTION_REASONS = tuple(r.value for r in Reason if r is not Reason.NO_ROUTE)
# Clients refused by the listener's limits (listen.*), most before a route is
# known: slow heads (408), long request lines (414), large or too many headers
# (431), other unparsable or ambiguous HTTP (400), bodies over max_body_size
# (413) and connections over max_connections (reset).
CLIENT_REFUSAL_REASONS = ("header_timeout", "request_line_too_long", "headers_too_large", "malformed_request",
                          "body_too_large", "connection_limit", "ip_connection_limit", "body_timeout",
                          "send_timeout")

# Resolve sub-millisecond gateway overhead as well as slow upstreams.
DURATION_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)


# No `_created` series: they double the size of /metrics and no dashboard uses them.
disable_created_metrics()


def status_class(status: int) -> str:
    return STATUS_CLASSES[min(max(status // 100, 1), 5) - 1]


_STATUS_CLASS_OF = tuple(status_class(hundreds * 100) for hundreds in range(6))  # status // 100 -> class


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


class _CounterTally:
    """A counter child's increments, kept as a plain integer until ``flush``."""

    __slots__ = ("child", "count")

    def __init__(self, child) -> None:
        self.child = child
        self.count = 0

    def flush(self) -> None:
        if self.count:
            count, self.count = self.count, 0
            self.child.inc(count)


class _HistogramTally:
    """A histogram child's observations as per-bucket integers and a sum, until ``flush``.

    prometheus-client's ``observe`` takes a lock and walks the buckets in
    Python on every call; this is one bisect.  ``flush`` adds the tallies to
    the child's own bucket and sum values (prometheus-client keeps each bucket
    non-cumulative, in ``_buckets``, with the bounds in ``_upper_bounds``;
    tests/unit/test_metrics.py checks the exposition this produces).
    """

    __slots__ = ("bounds", "child", "counts", "total")

    def __init__(self, child) -> None:
        self.child = child
        self.bounds = tuple(child._upper_bounds)  # ends with +Inf
        self.counts = [0] * len(self.bounds)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bound >= value, as observe() picks
        self.total += value

    def flush(self) -> None:
        counts = self.counts
        if not any(counts):
            return
        self.counts = [0] * len(self.bounds)
        total, self.total = self.total, 0.0
        buckets = self.child._buckets
        for index, count in enumerate(counts):
            if count:
                buckets[index].inc(count)
        self.child._sum.inc(total)


class Metrics:
    def __init__(self, table: RouteTable, max_origin_labels: int = 100, *, config_owner: bool = True):
        """``config_owner``: this process loads configs (not a worker fed by its parent), so
        it sets the last-successful-load time; a restarted worker must not look like a reload."""
        self.table = table
        self.max_origin_labels = max_origin_labels
        self.registry = registry = CollectorRegistry(auto_describe=True)

        self.requests = Counter(
            "cors_gateway_requests", "Requests by route, CORS kind and decision",
            ["route", "kind", "decision"], registry=registry,
        )
        self.rejected_origins = Counter(
            "cors_gateway_rejected_origins",
            "Requests the CORS policy rejected, by route, origin (bounded) and reason",
            ["route", "origin", "reason"], registry=registry,
        )
        self.responses = Counter(
            "cors_gateway_responses", "Responses by route and status class", ["route", "code"], registry=registry,
        )
        self.request_duration = Histogram(
            "cors_gateway_request_duration_seconds", "Time from request to the end of the response, in the gateway",
            ["route"], buckets=DURATION_BUCKETS, registry=registry,
        )
        self.upstream_duration = Histogram(
            "cors_gateway_upstream_duration_seconds", "Time from sending to the upstream to its response head",
            ["upstream"], buckets=DURATION_BUCKETS, registry=registry,
        )
        self.upstream_errors = Counter(
            "cors_gateway_upstream_errors", "Upstream failures by kind", ["upstream", "kind"], registry=registry,
        )
        self.cache_hits = Counter("cors_gateway_decision_cache_hits", "Decision cache hits", registry=registry)
        self.cache_misses = Counter("cors_gateway_decision_cache_misses", "Decision cache misses", registry=registry)
        self.preflight_hits = Counter("cors_gateway_preflight_cache_hits",
                                      "Preflights answered from a route's table of prebuilt answers", registry=registry)
        self.preflight_misses = Counter("cors_gateway_preflight_cache_misses",
                                        "Preflights judged anew (not in the route's table)", registry=registry)
        self.cache_entries = Gauge(
            "cors_gateway_decision_cache_entries", "Entries in the decision cache",
            registry=registry, multiprocess_mode="livesum",
        )
        self.in_flight = Gauge(
            "cors_gateway_in_flight_requests", "Requests being handled",
            registry=registry, multiprocess_mode="livesum",
        )
        self.shadow_disagreements = Counter(
            "cors_gateway_shadow_disagreements",
            "Shadow mode: requests where a browser would judge the upstream's CORS answer differently",
            ["route", "kind"], registry=registry,
        )
        self.config_reloads = Counter(
            "cors_gateway_config_reloads", "Config reloads by result", ["result"], registry=registry,
        )
        self.config_last_success = Gauge(
            "cors_gateway_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful config load", registry=registry, multiprocess_mode="max",
        )
        self.worker_restarts = Counter(
            "cors_gateway_worker_restarts", "Worker processes that died and were restarted", registry=registry,
        )
        self.client_refusals = Counter(
            "cors_gateway_client_refusals",
            "Requests or connections refused by the listener's limits (slow, oversized or malformed), by reason",
            ["reason"], registry=registry,
        )
        self._refusals = {reason: self.client_refusals.labels(reason) for reason in CLIENT_REFUSAL_REASONS}
        build = Gauge(
            "cors_gateway_build_info", "Build information", ["version"], registry=registry, multiprocess_mode="max",
        )
        build.labels(__version__).set(1)
        for result in RELOAD_RESULTS:
            self.config_reloads.labels(result)
        if config_owner:
            self.config_last_success.set(time.time())
        # The cache's plain counters (attribute names), each with the value last folded into its Counter.
        self._cache_counters = {"hits": self.cache_hits, "misses": self.cache_misses,
                                "preflight_hits": self.preflight_hits, "preflight_misses": self.preflight_misses}
        self._synced = dict.fromkeys(self._cache_counters, 0)
        # Requests being handled: a plain integer the gateway moves, copied
        # into the gauge by sync (once a second and before every scrape).
        self.in_flight_count = 0
        self.use_table(table)

    def use_table(self, table: RouteTable) -> None:
        """Pre-create every series of ``table``'s routes and upstreams, and resolve the hot-path children.

        On a reload the old table's children are kept: requests still in
        flight under the old config record into them (and their series exist
        anyway), so nothing is lost and nothing raises.
        """
        if getattr(self, "table", None) is not None and self.table is not table:
            self.sync()  # fold what the old decision cache counted
        self.table = table
        self._requests: dict[tuple[str, str, str], _CounterTally] = getattr(self, "_requests", {})
        self._responses: dict[tuple[str, str], _CounterTally] = getattr(self, "_responses", {})
        self._durations: dict[str, _HistogramTally] = getattr(self, "_durations", {})
        # The origin budget is per process: a reload keeps the origins already
        # given a series (their series stay), or each reload would grant another.
        self._origins: dict[str, set[str]] = getattr(self, "_origins", {})
        for name in [r.name for r in table.routes] + [NO_ROUTE]:
            for kind in Kind:
                for decision in DECISIONS + ((SAME_ORIGIN_DECISION,) if kind is Kind.ACTUAL else ()):
                    if (name, kind.value, decision) not in self._requests:
                        self._requests[name, kind.value, decision] = _CounterTally(
                            self.requests.labels(name, kind.value, decision))
            for reason in REJECTION_REASONS:
                self.rejected_origins.labels(name, OTHER_ORIGIN, reason)
                self.rejected_origins.labels(name, MALFORMED_ORIGIN, reason)
            for code in STATUS_CLASSES:
                if (name, code) not in self._responses:
                    self._responses[name, code] = _CounterTally(self.responses.labels(name, code))
            if name not in self._durations:
                self._durations[name] = _HistogramTally(self.request_duration.labels(name))
            self.shadow_disagreements.labels(name, Kind.PREFLIGHT.value)
            self.shadow_disagreements.labels(name, Kind.ACTUAL.value)
            self._origins.setdefault(name, set())
        self._upstream_durations = getattr(self, "_upstream_durations", {})
        for upstream in table.config.upstreams:
            if upstream not in self._upstream_durations:
                self._upstream_durations[upstream] = _HistogramTally(self.upstream_duration.labels(upstream))
            for kind in UPSTREAM_ERROR_KINDS:
                self.upstream_errors.labels(upstream, kind)
        self._synced = {name: getattr(table.cache, name) for name in self._cache_counters}

    # -- the hot path ----------------------------------------------------------

    def origin_label(self, route: str, origin: str | None, malformed: bool) -> str:
        """The bounded ``origin`` label value for a rejected request."""
        if malformed or origin is None:
            return MALFORMED_ORIGIN
        seen = self._origins.get(route)
        if seen is None:
            return OTHER_ORIGIN
        if origin in seen:
            return origin
        if len(seen) < self.max_origin_labels:
            seen.add(origin)
            return origin
        return OTHER_ORIGIN

    def observe(
        self, route: str, kind: str, decision: str, reason: str | None, status: int,
        duration: float, origin_label: str | None = None,
    ) -> None:
        self._requests[route, kind, decision].count += 1
        if reason is not None and origin_label is not None:
            self.rejected_origins.labels(route, origin_label, reason).inc()
        self._responses[route, _STATUS_CLASS_OF[status // 100] if status < 600 else "5xx"].count += 1
        self._durations[route].observe(duration)

    def client_refused(self, reason: str) -> None:
        """One refusal by the listener's limits (rare: counted directly)."""
        self._refusals[reason].inc()

    def observe_upstream(self, upstream: str, seconds: float) -> None:
        self._upstream_durations[upstream].observe(seconds)

    # -- reloads and scrapes -----------------------------------------------------

    def config_loaded(self, success: bool) -> None:
        self.config_reloads.labels("success" if success else "failure").inc()
        if success:
            self.config_last_success.set(time.time())

    def sync(self) -> None:
        """Fold the hot path's tallies and the decision cache's plain counters into the Prometheus ones."""
        for tallies in (self._requests, self._responses, self._durations, self._upstream_durations):
            for tally in tallies.values():
                tally.flush()
        self.in_flight.set(self.in_flight_count)
        cache = self.table.cache
        synced = self._synced
        for name, counter in self._cache_counters.items():
            now = getattr(cache, name)
            if now > synced[name]:
                counter.inc(now - synced[name])
            synced[name] = now
        self.cache_entries.set(len(cache))

    def exposition(self) -> bytes:
        self.sync()
        directory = multiprocess_dir()
        if directory:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=directory)
            return generate_latest(registry)
        return generate_latest(self.registry)
