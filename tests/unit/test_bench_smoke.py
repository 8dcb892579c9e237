"""The benchmark harness must not rot: it imports, its CLI parses, its generated configs load,
its wrk parser reads wrk's output, and the engine microbenchmark runs (tiny counts).

No wrk, no nginx, no server is started here; the real benchmark is `python -m bench`.
"""

from __future__ import annotations

import pytest

import bench
from bench import cli, configs, engine, loadgen, report, runner, scenarios
from gateway.config import parse_config


def test_cli_parses_defaults_quick_and_subsets(tmp_path):
    args = cli.parse_args([])
    assert (args.rounds, args.duration, args.stream_mib) == (3, 5, 1024)
    assert args.scenarios == list(bench.SCENARIOS)
    assert args.json.endswith(".json") and "/bench/results-" in args.json

    quick = cli.parse_args(["--quick", "--scenarios", "s2,S1", "--json", str(tmp_path / "r.json")])
    assert (quick.rounds, quick.duration) == (1, 2)
    assert quick.scenarios == ["S1", "S2"]  # canonical order

    explicit = cli.parse_args(["--quick", "--rounds", "2"])
    assert explicit.rounds == 2

    with pytest.raises(SystemExit):
        cli.parse_args(["--scenarios", "S9"])
    with pytest.raises(SystemExit):
        cli.parse_args(["--duration", "0"])


def test_estimate_and_requirements():
    full = cli.parse_args([])
    assert 5 * 60 < cli.estimate_seconds(full) < 15 * 60  # the full run fits the 15-minute budget
    tools, modules = cli.requirements(["S4", "S5"])
    assert "wrk" in tools and "nginx" not in tools and modules == []
    tools, modules = cli.requirements(["S1"])
    assert "nginx" in tools and "starlette" in modules


def test_every_scenario_has_a_plan_with_one_baseline():
    for key in bench.SCENARIOS:
        if key == "S6":
            assert sum(1 for *_, baseline in scenarios.S6_PEERS if baseline) == 1
            continue
        for group in scenarios.plan(key):
            assert sum(p.baseline for p in group.peers) == 1, group.name


def test_generated_gateway_configs_load():
    for kwargs in ({}, {"on_reject": "omit"}, {"origins": configs.s5_patterns(), "on_reject": "omit"}):
        config = parse_config(configs.gateway_yaml(18080, 19090, 15000, **kwargs))
        assert config.listen_host == "127.0.0.1" and config.admin_host == "127.0.0.1"


def test_s5_origins_are_distinct_and_half_allowed():
    items = configs.s5_origins()
    assert len(items) == len({o for o, _, _ in items}) == 10_000
    assert sum(allowed for _, allowed, _ in items) == 5_000
    assert len(configs.s5_patterns()) == 1_120


def test_nginx_conf_listens_on_loopback_only(tmp_path):
    conf = configs.nginx_conf(tmp_path, 18080, 15000)
    assert "listen 127.0.0.1:18080;" in conf and "map $http_origin $cors_origin" in conf
    assert "always;" in conf


WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:1/api/data
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.01ms  350.12us   9.80ms   91.00%
    Req/Sec    15.96k     1.20k   17.10k    85.00%
  Latency Distribution
     50%    1.98ms
     75%    2.10ms
     90%    2.30ms
     99%  850.00us
  31760 requests in 2.00s, 5.12MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:  15876.54
Transfer/sec:      2.56MB
"""


def test_wrk_output_is_parsed():
    result = loadgen.parse_wrk(WRK_OUTPUT)
    assert result.requests == 31760 and result.seconds == 2.0 and result.rps == 15876.54
    assert (result.p50_ms, result.p99_ms) == (1.98, 0.85)
    assert result.non_2xx_3xx == 3 and result.socket_errors["timeout"] == 2
    with pytest.raises(ValueError):
        loadgen.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")
    cmd = loadgen.wrk_command("http://127.0.0.1:1/x", 2, connections=8, script="preflight.lua",
                              script_args=("https://a.example",))
    assert cmd[-2:] == ["--", "https://a.example"] and (loadgen.LUA_DIR / "preflight.lua").exists()
    assert (loadgen.LUA_DIR / "rotate_origins.lua").exists()


def test_summary_ratios_and_verdicts():
    def entry(group, peer, baseline, rps):
        run = {"rps": rps, "p50_ms": 1.0, "p99_ms": 2.0, "cpu_s_per_10k": 0.5, "upstream_cpu_s_per_10k": None,
               "server_util": 0.99, "server_cpu_busy": 0.99, "client_cpu_busy": 0.5, "peak_rss_mib": 50.0,
               "rss_mib": 49.0, "non_2xx_3xx": 0, "socket_errors": {}, "requests": int(rps * 5)}
        return {"group": group, "peer": peer, "label": peer, "baseline": baseline, "runs": [run], "error": None,
                "note": ""}

    results = [entry("S1", "gateway", True, 10_000), entry("S1", "bare", False, 20_000),
               entry("S1", "starlette", False, 4_000)]
    runner.summarise(results)
    assert results[1]["ratio_to_gateway"] == 2.0
    lines = report.verdicts(results, None)
    assert any("0.5x (goal >= 1x) MISSED" in line for line in lines)
    assert any("2.5x (goal >= 2x) met" in line for line in lines)
    assert "| S1 | bare | 20,000 |" in report.wrk_table(results)
    results = [entry("S2", "gateway", True, 10_000), entry("S2", "aioproxy", False, 4_000)]
    results[1]["runs"][0]["cpu_s_per_10k"] = 1.1
    runner.summarise(results)
    lines = report.verdicts(results, None)
    assert "S2 gateway / (3) minimal aiohttp proxy: 2.5x (goal >= 2x) met" in lines
    assert "S2 (3) minimal aiohttp proxy's CPU per request / gateway's: 2.2x (goal >= 2x) met" in lines


def test_engine_microbenchmark_runs_with_tiny_counts():
    result = engine.run(scale=0.0001, repeat=1, origins_count=200)
    us = result["us_per_call"]
    assert set(us) >= {"cached allowed (actual GET)", "cached rejected (actual GET)",
                       "uncached S5 decision (10k mix, mean)", "preflight ACRH 10,000 names, one line"}
    assert all(v > 0 for v in us.values())
    assert "us/call" in engine.format_table(result)


def test_the_post_scenario_sends_a_body_of_its_size():
    from bench import loadgen

    for group, size in zip(scenarios.plan("S8"), (1024, 65536), strict=True):
        request = group.peers[0].request
        assert request.method == "POST" and request.path == configs.UPLOAD_PATH
        assert request.check_body == b"x" * size and request.script_args[1] == str(size)
        assert (loadgen.LUA_DIR / request.script).is_file()


def test_the_parser_comparison_runs(capsys):
    from bench import parsers

    parsers.main(number=10)
    out = capsys.readouterr().out
    assert "framing.ResponseReader" in out and "aiohttp HttpResponseParser" in out
