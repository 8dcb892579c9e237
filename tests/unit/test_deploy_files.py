"""The monitoring files in deploy/ are valid and query only what the gateway exports.

* deploy/prometheus/prometheus.yml and alerts.yml pass ``promtool check``, and
  the alerts behave as tests/unit/alerts_test.yml says (``promtool test rules``);
* deploy/grafana/dashboards/cors-gateway.json is a well-formed dashboard whose
  queries parse and use only the exported metric families.

``dashboard_queries()`` and ``alert_queries()`` are importable so that a live
test can run every expression against a real Prometheus.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from tests.support import require_binary

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERTS_TEST = Path(__file__).resolve().with_name("alerts_test.yml")
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "cors-gateway.json"
GRAFANA_DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
GRAFANA_DASHBOARDS = DEPLOY / "grafana" / "provisioning" / "dashboards" / "cors-gateway.yml"

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# The metric families the gateway exports (a fixed interface), as the series
# names PromQL sees. Histograms expose _bucket, _sum and _count.
_HISTOGRAMS = ("cors_gateway_request_duration_seconds", "cors_gateway_upstream_duration_seconds")
EXPORTED_METRICS = frozenset(
    {
        "cors_gateway_requests_total",
        "cors_gateway_rejected_origins_total",
        "cors_gateway_responses_total",
        "cors_gateway_upstream_errors_total",
        "cors_gateway_decision_cache_hits_total",
        "cors_gateway_decision_cache_misses_total",
        "cors_gateway_decision_cache_entries",
        "cors_gateway_in_flight_requests",
        "cors_gateway_shadow_disagreements_total",
        "cors_gateway_config_reloads_total",
        "cors_gateway_config_last_reload_success_timestamp_seconds",
        "cors_gateway_build_info",
        "cors_gateway_worker_restarts_total",
        "cors_gateway_client_refusals_total",
    }
    | {f"{h}_{suffix}" for h in _HISTOGRAMS for suffix in ("bucket", "sum", "count")}
)
# Series Prometheus adds itself.
PROMETHEUS_METRICS = frozenset({"up"})

# Families with a route label: the dashboard must filter all of them by $route.
ROUTE_LABELLED = frozenset(
    {
        "cors_gateway_requests_total",
        "cors_gateway_rejected_origins_total",
        "cors_gateway_responses_total",
        "cors_gateway_shadow_disagreements_total",
        "cors_gateway_request_duration_seconds_bucket",
        "cors_gateway_request_duration_seconds_sum",
        "cors_gateway_request_duration_seconds_count",
    }
)

ALLOWED_VARIABLES = frozenset({"__rate_interval", "__range", "route", "datasource"})

# What each required panel is called and which visualisation it uses.
REQUIRED_PANELS = {
    "Request rate by kind and decision": "timeseries",
    "Top rejected origins": "table",
    "Top rejected origins over time": "timeseries",
    "Rejection reasons": "timeseries",
    "Preflight share": "timeseries",
    "Gateway overhead vs upstream latency (p50/p99)": "timeseries",
    "Response status classes": "timeseries",
    "Upstream errors by kind": "timeseries",
    "Decision-cache hit ratio": "timeseries",
    "Config reloads": "stat",
    "Time since last successful reload": "stat",
    "Shadow disagreements": "timeseries",
    "In-flight requests": "timeseries",
}

REQUIRED_ALERTS = (
    "CorsRejectedOriginsSpike",
    "CorsNewRejectedOrigin",
    "CorsUpstreamErrorRatio",
    "CorsConfigReloadFailing",
    "CorsOriginLabelOverflow",
    "CorsGatewayDown",
)

# ---------------------------------------------------------------------------
# Helpers, also used by the live-Prometheus test.


def load_dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels(container: dict) -> list[dict]:
    """All panels, with those nested in (collapsed) rows; rows themselves are not panels."""
    found = []
    for panel in container.get("panels", []):
        if panel.get("type") == "row":
            found.extend(_panels(panel))
        else:
            found.append(panel)
    return found


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expr) for every target of every panel of the dashboard."""
    return [
        (panel["title"], target["expr"])
        for panel in _panels(load_dashboard())
        for target in panel.get("targets", [])
    ]


def _rules() -> list[dict]:
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def alert_queries() -> list[tuple[str, str]]:
    """(alert name, expr) for every rule in deploy/prometheus/alerts.yml."""
    return [(rule.get("alert") or rule["record"], rule["expr"].strip()) for rule in _rules()]


_AGGREGATIONS = frozenset(
    "sum min max avg group stddev stdvar count count_values bottomk topk quantile".split()
)
_KEYWORDS = frozenset(
    "by without on ignoring group_left group_right offset bool and or unless atan2 inf nan".split()
)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (a lexer good enough for our queries)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"\$\{?\w+\}?|\d[\w.]*|(?P<id>[A-Za-z_:][\w:]*)", text):
        name = match.group("id")
        if name is None or name.lower() in _KEYWORDS or name in _AGGREGATIONS:
            continue
        if text[match.end():].lstrip().startswith("("):  # a function call
            continue
        names.add(name)
    return names


def variables(expr: str) -> set[str]:
    return set(re.findall(r"\$\{?(\w+)", expr))


def _with_sample_variables(expr: str) -> str:
    """What Grafana sends: the variables replaced by typical values."""
    return (
        expr.replace("$__rate_interval", "1m")
        .replace("$__range", "6h")
        .replace("$route", ".*")
    )


def _promtool() -> str:
    return require_binary("promtool", "the promtool checks", "Debian: apt-get install prometheus")


def _run_promtool(*args: str) -> str:
    result = subprocess.run(
        [_promtool(), *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    assert "SUCCESS" in output, output
    return output


# ---------------------------------------------------------------------------
# Prometheus: promtool


def test_promtool_check_config():
    _run_promtool("check", "config", str(PROMETHEUS_CONFIG))


def test_promtool_check_rules():
    output = _run_promtool("check", "rules", str(ALERTS))
    assert f"{len(_rules())} rules found" in output


def test_promtool_test_rules():
    _run_promtool("test", "rules", str(ALERTS_TEST))


def test_dashboard_queries_parse(tmp_path):
    """Every dashboard expr, with its variables filled in as Grafana would, is valid PromQL."""
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": _with_sample_variables(expr)}
                    for i, (_, expr) in enumerate(dashboard_queries())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    _run_promtool("check", "rules", str(path))


# ---------------------------------------------------------------------------
# Prometheus: the files themselves


def test_prometheus_config_scrapes_the_gateway():
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    assert config["global"]["scrape_interval"] == "15s"
    assert config["rule_files"] == ["alerts.yml"]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "cors-gateway"]
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == ["app:9090"]
    assert "network namespace" in PROMETHEUS_CONFIG.read_text(encoding="utf-8")
    # The gateway's admin listener off loopback needs its bearer token, read
    # from a file next to this config (promtool checks that it exists).
    assert job["authorization"].get("type", "Bearer") == "Bearer"
    token_file = PROMETHEUS_CONFIG.parent / job["authorization"]["credentials_file"]
    assert len(token_file.read_text(encoding="ascii").strip()) >= 16
    assert "credentials" not in job["authorization"], "a token in the config itself would be in every copy"


def test_alert_rules_are_complete():
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    assert [g["name"] for g in doc["groups"]] == ["cors-gateway"]
    rules = _rules()
    assert [r.get("alert") for r in rules] == list(REQUIRED_ALERTS)
    for rule in rules:
        name = rule["alert"]
        assert "for" in rule, name
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, name
        assert rule["annotations"]["summary"].strip(), name
        assert len(rule["annotations"]["description"]) > 80, name


def test_alert_queries_use_only_exported_metrics():
    for name, expr in alert_queries():
        unknown = metric_names(expr) - EXPORTED_METRICS - PROMETHEUS_METRICS
        assert not unknown, f"{name}: unknown metrics {sorted(unknown)}"
        assert metric_names(expr), name


def test_alert_shapes():
    rules = {name: expr for name, expr in alert_queries()}
    new_origin = rules["CorsNewRejectedOrigin"]
    assert "unless" in new_origin and "offset" in new_origin
    assert '__other__|__malformed__' in new_origin
    assert 'result="failure"' in rules["CorsConfigReloadFailing"]
    assert "cors_gateway_config_last_reload_success_timestamp_seconds" in rules["CorsConfigReloadFailing"]
    assert 'origin="__other__"' in rules["CorsOriginLabelOverflow"]
    assert rules["CorsGatewayDown"] == 'up{job="cors-gateway"} == 0'
    assert "> 0.05" in rules["CorsUpstreamErrorRatio"]


def test_alert_unit_tests_cover_the_tricky_alerts():
    doc = yaml.safe_load(ALERTS_TEST.read_text(encoding="utf-8"))
    cases = [case for test in doc["tests"] for case in test.get("alert_rule_test", [])]
    for alert in ("CorsNewRejectedOrigin", "CorsConfigReloadFailing"):
        mine = [c for c in cases if c["alertname"] == alert]
        assert any(c["exp_alerts"] for c in mine), f"{alert} is never shown to fire"
        assert any(not c["exp_alerts"] for c in mine), f"{alert} is never shown to stay quiet"


def test_metric_names_lexer():
    assert metric_names(
        'sum by (route, origin) (increase(cors_gateway_rejected_origins_total{origin!~"a|b"}[1d] offset 1d10m)) > 0'
    ) == {"cors_gateway_rejected_origins_total"}
    assert metric_names("time() - x_seconds") == {"x_seconds"}
    assert metric_names('histogram_quantile(0.99, sum by (le) (rate(h_bucket{route=~"$route"}[$__rate_interval])))') == {
        "h_bucket"
    }
    assert metric_names("a / on (job) group_left(version) b unless c offset 5m") == {"a", "b", "c"}


# ---------------------------------------------------------------------------
# Grafana


def test_dashboard_identity():
    dashboard = load_dashboard()
    assert dashboard["uid"] == "cors-gateway"
    assert dashboard["title"] == "cors-gateway"
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard.get("id") is None


def test_dashboard_variables():
    variables_by_name = {v["name"]: v for v in load_dashboard()["templating"]["list"]}
    ds = variables_by_name["datasource"]
    assert ds["type"] == "datasource"
    assert ds["query"] == "prometheus"
    # Provisioned, ${datasource} resolves through this default: the provisioned uid.
    assert ds["current"]["value"] == "prometheus"

    route = variables_by_name["route"]
    assert route["type"] == "query"
    assert route["datasource"] == DATASOURCE
    query = route["query"]["query"] if isinstance(route["query"], dict) else route["query"]
    assert query == "label_values(cors_gateway_requests_total, route)"
    assert route["definition"] == query
    assert route["multi"] is True
    assert route["includeAll"] is True
    assert route["allValue"] == ".*"
    assert set(variables_by_name) == {"datasource", "route"}


def test_every_panel_has_queries_on_the_datasource_variable():
    panels = _panels(load_dashboard())
    assert panels
    for panel in panels:
        title = panel["title"]
        assert panel["datasource"] == DATASOURCE, title
        targets = panel.get("targets", [])
        assert targets, f"{title}: no targets"
        ref_ids = [t.get("refId") for t in targets]
        assert all(ref_ids), f"{title}: a target has no refId"
        assert len(set(ref_ids)) == len(ref_ids), f"{title}: duplicate refIds"
        for target in targets:
            assert target.get("expr", "").strip(), f"{title}: empty expr"
            assert target["datasource"] == DATASOURCE, title
            assert target["datasource"]["uid"] == "${datasource}", title


def test_panel_titles_and_ids_are_unique():
    panels = _panels(load_dashboard())
    titles = [p["title"] for p in panels]
    assert len(set(titles)) == len(titles), titles
    ids = [p["id"] for p in panels]
    assert len(set(ids)) == len(ids), ids


def test_required_panels_exist():
    types = {p["title"]: p["type"] for p in _panels(load_dashboard())}
    for title, kind in REQUIRED_PANELS.items():
        assert title in types, f"missing panel {title!r}"
        assert types[title] == kind, f"{title}: {types[title]}, expected {kind}"


def test_dashboard_queries_use_only_exported_metrics_and_known_variables():
    for title, expr in dashboard_queries():
        names = metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        unknown = names - EXPORTED_METRICS - PROMETHEUS_METRICS
        assert not unknown, f"{title}: unknown metrics {sorted(unknown)}"
        assert variables(expr) <= ALLOWED_VARIABLES, f"{title}: {sorted(variables(expr) - ALLOWED_VARIABLES)}"


def test_route_labelled_series_are_filtered_by_route():
    for title, expr in dashboard_queries():
        for name in metric_names(expr) & ROUTE_LABELLED:
            for match in re.finditer(rf"\b{name}\b(\{{[^}}]*\}})?", expr):
                assert 'route=~"$route"' in (match.group(1) or ""), f"{title}: {name} not filtered by $route"


def test_panel_query_shapes():
    by_title: dict[str, list[str]] = {}
    for title, expr in dashboard_queries():
        by_title.setdefault(title, []).append(expr)
    panels = {p["title"]: p for p in _panels(load_dashboard())}

    (table_expr,) = by_title["Top rejected origins"]
    (table_target,) = panels["Top rejected origins"]["targets"]
    assert table_target["instant"] is True and table_target.get("format") == "table"
    assert table_expr.startswith("topk(") and "[$__range]" in table_expr
    assert "by (route, origin)" in table_expr

    (series_expr,) = by_title["Top rejected origins over time"]
    assert series_expr.startswith("topk(") and "rate(" in series_expr

    latency = by_title["Gateway overhead vs upstream latency (p50/p99)"]
    for family in _HISTOGRAMS:
        for q in ("0.5", "0.99"):
            assert any(
                e.startswith(f"histogram_quantile({q},") and f"{family}_bucket" in e and "[$__rate_interval]" in e
                for e in latency
            ), f"no p{q} for {family}"

    for title in ("Config reloads", "Time since last successful reload"):
        for target in panels[title]["targets"]:
            assert target["instant"] is True, title
    assert by_title["Config reloads"] == [
        "sum by (result) (increase(cors_gateway_config_reloads_total[$__range]))"
    ]
    assert by_title["Time since last successful reload"] == [
        "time() - cors_gateway_config_last_reload_success_timestamp_seconds"
    ]
    (share,) = by_title["Preflight share"]
    assert 'kind="preflight"' in share and 'kind=~"preflight|actual"' in share

    for title, exprs in by_title.items():
        for expr in exprs:
            if "rate(" in expr:
                assert "[$__rate_interval]" in expr or "[$__range]" in expr, f"{title}: {expr}"


def test_grafana_provisioning():
    datasources = yaml.safe_load(GRAFANA_DATASOURCES.read_text(encoding="utf-8"))
    (ds,) = datasources["datasources"]
    assert ds["type"] == "prometheus"
    assert ds["uid"] == "prometheus"
    assert ds["url"] == "http://prometheus:9090"

    providers = yaml.safe_load(GRAFANA_DASHBOARDS.read_text(encoding="utf-8"))
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
