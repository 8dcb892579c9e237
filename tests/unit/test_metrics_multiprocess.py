"""In prometheus-client's multiprocess mode every family is still there from the first scrape.

The multiprocess collector omits series that were never touched, so this is
what the pre-initialisation at zero is for.  The mode is chosen when
prometheus_client is imported, hence a fresh interpreter.
"""

import json
import subprocess
import sys

from tests.support import ROOT

SCRIPT = """
import json
from gateway.config import parse_config
from gateway.routes import RouteTable
from gateway.metrics import Metrics
config = parse_config('upstreams:\\n  app: {url: "http://127.0.0.1:1"}\\n'
                      'routes:\\n  - {name: api, path: /api/, upstream: app}\\n')
metrics = Metrics(RouteTable(config))
metrics.observe("api", "actual", "rejected", "origin_not_allowed", 200, 0.001,
                metrics.origin_label("api", "https://evil.example", False))
text = metrics.exposition().decode()
print(json.dumps([line for line in text.splitlines() if line and not line.startswith("#")]))
"""

FAMILIES = {
    "cors_gateway_requests_total", "cors_gateway_rejected_origins_total", "cors_gateway_responses_total",
    "cors_gateway_request_duration_seconds_bucket", "cors_gateway_upstream_duration_seconds_bucket",
    "cors_gateway_upstream_errors_total", "cors_gateway_decision_cache_hits_total",
    "cors_gateway_decision_cache_misses_total", "cors_gateway_decision_cache_entries",
    "cors_gateway_in_flight_requests", "cors_gateway_shadow_disagreements_total",
    "cors_gateway_config_reloads_total", "cors_gateway_config_last_reload_success_timestamp_seconds",
    "cors_gateway_build_info",
}


def test_every_family_and_preinitialised_series_in_multiprocess_mode(tmp_path):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    lines = json.loads(result.stdout)
    assert any(path.name.startswith("counter_") for path in tmp_path.iterdir())  # really multiprocess
    assert {line.split("{")[0].split(" ")[0] for line in lines} >= FAMILIES
    assert 'cors_gateway_requests_total{decision="allowed",kind="preflight",route="api"} 0.0' in lines
    assert 'cors_gateway_rejected_origins_total{origin="__other__",reason="header_not_allowed",route="api"} 0.0' in lines
    assert 'cors_gateway_config_reloads_total{result="failure"} 0.0' in lines
    assert ('cors_gateway_rejected_origins_total{origin="https://evil.example",reason="origin_not_allowed",route="api"}'
            ' 1.0') in lines
