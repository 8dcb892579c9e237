"""A real Prometheus scrapes a real gateway: rejected origins show up, and every
dashboard panel and alert rule we ship evaluates against the live data.

Prometheus (Debian's package) runs on a loopback port scraping the gateway's
admin listener every second, with deploy/prometheus/alerts.yml loaded and the
shipped scrape job's ``authorization`` (the gateway's admin token from a file).
The gateway is started with the CLI in front of the recording Flask app, with
an admin token (CORS_GATEWAY_ADMIN_TOKEN), so /metrics answers nobody else.  Missing
Prometheus fails the test in CI and skips it (with the reason) elsewhere.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from ..support import ROOT, free_port, require_binary, stop_process, wait_for_port
from ..unit.test_deploy_files import (
    ALERTS,
    PROMETHEUS_CONFIG,
    alert_queries,
    dashboard_queries,
)

ALLOWED = "https://app.example.com"
EVIL = "https://evil.example"


def _prometheus_binary() -> str:
    return require_binary("prometheus", "the live Prometheus test", "Debian: apt-get install prometheus")


def _get(url: str, timeout: float = 5, headers: dict | None = None) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def _send(url: str, method: str = "GET", headers: dict | None = None) -> int:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture
def stack(tmp_path, upstream):
    binary = _prometheus_binary()
    port, admin, prom_port, dead = free_port(), free_port(), free_port(), free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(textwrap.dedent(f"""\
        listen: {{host: 127.0.0.1, port: {port}}}
        admin: {{host: 127.0.0.1, port: {admin}}}
        upstreams:
          app: {{url: "{upstream.url}"}}
          down: {{url: "http://127.0.0.1:{dead}", connect_timeout: 1}}
        routes:
          - name: api
            path: /api/
            upstream: app
            cors: {{origins: ["{ALLOWED}"], methods: [GET, PUT], on_reject: block}}
          - name: down
            path: /down/
            upstream: down
            cors: {{origins: ["{ALLOWED}"]}}
        """))
    token = secrets.token_hex(32)
    gateway = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "-c", str(config)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "CORS_GATEWAY_ADMIN_TOKEN": token},
    )
    # The shipped job's authorization, its token file (relative to the config) holding this gateway's token.
    (shipped,) = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]
    authorization = shipped["authorization"]
    (tmp_path / authorization["credentials_file"]).write_text(token + "\n")
    prom_config = tmp_path / "prometheus.yml"
    prom_config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [{
            "job_name": "cors-gateway",
            "authorization": authorization,
            "static_configs": [{"targets": [f"127.0.0.1:{admin}"]}],
        }],
    }))
    prometheus = subprocess.Popen(
        [binary, f"--config.file={prom_config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, gateway)
        wait_for_port(prom_port, prometheus, timeout=30)
        deadline = time.monotonic() + 30
        while _get(f"http://127.0.0.1:{prom_port}/-/ready")[0] != 200:
            assert time.monotonic() < deadline, "Prometheus never became ready"
            time.sleep(0.2)
        # Without the token the gateway answers nobody: Prometheus's scrapes below prove it sends it.
        wait_for_port(admin, gateway)
        assert _get(f"http://127.0.0.1:{admin}/metrics")[0] == 401
        assert _get(f"http://127.0.0.1:{admin}/metrics", headers={"Authorization": f"Bearer {token}"})[0] == 200
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{prom_port}"
    finally:
        stop_process(prometheus)
        stop_process(gateway)


def query(prom: str, expr: str) -> dict:
    status, body, _ = _get(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    answer = json.loads(body)
    assert status == 200 and answer["status"] == "success", f"{expr}: {answer}"
    return answer["data"]


def wait_for(prom: str, expr: str, expected: float, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = query(prom, expr)["result"]
        values = [float(r["value"][1]) for r in result]
        if values == [expected]:
            return
        assert time.monotonic() < deadline, f"{expr} = {values}, expected {expected}"
        time.sleep(0.5)


def grafana(expr: str) -> str:
    """The expression as Grafana sends it, for a 1 s scrape interval."""
    return expr.replace("$__rate_interval", "30s").replace("$__range", "5m").replace("$route", ".*")


def traffic(gw: str, wave: int) -> None:
    for _ in range(3):
        assert _send(gw + "/api/echo", headers={"Origin": ALLOWED}) == 200
        assert _send(gw + "/api/echo", headers={"Origin": EVIL}) == 403
        assert _send(gw + "/api/echo", method="OPTIONS",
                     headers={"Origin": ALLOWED, "Access-Control-Request-Method": "PUT"}) == 204
        assert _send(gw + "/api/echo", method="OPTIONS",
                     headers={"Origin": ALLOWED, "Access-Control-Request-Method": "DELETE"}) == 200  # name_cause
    assert _send(gw + "/api/echo", headers={"Origin": "https://EVIL.example/"}) == 403  # malformed
    assert _send(gw + "/api/echo") == 200  # not a CORS request
    assert _send(gw + "/down/x", headers={"Origin": ALLOWED}) == 502
    assert _send(gw + "/nowhere") == 404


def test_rejected_origins_and_every_shipped_query_against_real_prometheus(stack):
    gw, prom = stack
    rejected = f'sum(cors_gateway_rejected_origins_total{{route="api",origin="{EVIL}",reason="origin_not_allowed"}})'
    # Two waves, each seen by a scrape, so rates and increases have something to measure.
    traffic(gw, 1)
    wait_for(prom, rejected, 3)
    time.sleep(2)
    traffic(gw, 2)
    wait_for(prom, rejected, 6)
    wait_for(prom, 'sum(cors_gateway_rejected_origins_total{route="api",origin="__malformed__"})', 2)
    wait_for(prom, 'sum(cors_gateway_rejected_origins_total{route="api",reason="method_not_allowed"})', 6)
    wait_for(prom, 'sum(cors_gateway_upstream_errors_total{upstream="down",kind="connect"})', 2)
    wait_for(prom, 'up{job="cors-gateway"}', 1)  # every scrape authorized
    time.sleep(2)  # a few more scrapes after the last wave

    # Every dashboard panel returns data, every alert expression evaluates.
    empty = []
    for title, expr in dashboard_queries():
        if not query(prom, grafana(expr))["result"]:
            empty.append(title)
    assert empty == [], f"panels without data after the traffic: {empty}"
    for _name, expr in alert_queries():
        query(prom, expr)  # raises on any query error

    # Prometheus evaluated the shipped rules itself without errors.
    status, body, _ = _get(f"{prom}/api/v1/rules")
    groups = json.loads(body)["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == len(alert_queries())
    deadline = time.monotonic() + 10
    while any(rule.get("health") != "ok" for rule in rules):
        assert time.monotonic() < deadline, [(r["name"], r.get("health"), r.get("lastError")) for r in rules]
        time.sleep(0.5)
        rules = [r for g in json.loads(_get(f"{prom}/api/v1/rules")[1])["data"]["groups"] for r in g["rules"]]
