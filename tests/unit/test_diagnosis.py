"""``diagnosis.diagnose``: a browser's message and the config in, the cause and the config edit out."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gateway.browser_errors import parse
from gateway.config import parse_config
from gateway.diagnosis import BROWSER_SIDE, diagnose
from gateway.policy import Reason
from gateway.rejections import Record
from gateway.routes import RouteTable

GW = "http://localhost:8080"
APP = "http://localhost:3000"
CONFIG = f"""
listen: {{host: 127.0.0.1, port: 8080}}
upstreams: {{app: {{url: "http://127.0.0.1:5000"}}}}
defaults:
  cors:
    origins: ["{APP}"]
    methods: [GET, POST, PUT]
    allow_headers: [Content-Type]
    expose_headers: [X-Request-Id]
routes:
  - {{name: api, path: /api/, upstream: app}}
  - {{name: public, path: /public/, upstream: app, cors: {{origins: "*"}}}}
  - {{name: cached, path: /cached/, upstream: app, cors: {{max_age: 600}}}}
  - {{name: quiet, path: /quiet/, upstream: app, cors: {{refused_preflight: plain_403, methods: [GET]}}}}
  - {{name: legacy, path: /legacy/, upstream: app, cors: {{mode: shadow}}}}
  - {{name: readonly, path: /readonly/, upstream: app, cors: {{methods: [GET], origins: ["{APP}"]}}}}
"""
TABLE = RouteTable(parse_config(CONFIG))


def chromium(path: str, reason: str, origin: str = APP, url: str | None = None) -> str:
    return (f"Access to fetch at '{url or GW + path}' from origin '{origin}' has been blocked by CORS policy: "
            f"{reason}")


NO_ACAO = "No 'Access-Control-Allow-Origin' header is present on the requested resource."
PREFLIGHT = "Response to preflight request doesn't pass access control check: "


def run(message: str, **kwargs):
    error = parse(message)
    assert error is not None, message
    return diagnose(error, TABLE, **kwargs)


@pytest.mark.parametrize("message, route, reason, fixes", [
    (chromium("/api/items", NO_ACAO, origin="https://evil.example"), "api", "origin_not_allowed",
     [("defaults.cors.origins", 'add "https://evil.example"')]),
    (chromium("/api/items", PREFLIGHT + NO_ACAO, origin="https://evil.example"), "api", "origin_not_allowed",
     [("defaults.cors.origins", 'add "https://evil.example"')]),
    (chromium("/api/items", "Request header field x-secret is not allowed by Access-Control-Allow-Headers in "
                            "preflight response."), "api", "header_not_allowed",
     [("defaults.cors.allow_headers", 'add "x-secret"')]),
    (chromium("/api/items", "Method PATCH is not allowed by Access-Control-Allow-Methods in preflight response."),
     "api", "method_not_allowed", [("defaults.cors.methods", 'add "PATCH"')]),
    (chromium("/readonly/x", "Method DELETE is not allowed by Access-Control-Allow-Methods in preflight response."),
     "readonly", "method_not_allowed", [("routes.5.cors.methods", 'add "DELETE"')]),
    (chromium("/public/x", "The value of the 'Access-Control-Allow-Origin' header in the response must not be the "
                           "wildcard '*' when the request's credentials mode is 'include'."),
     "public", "credentials_on_public_route",
     [("routes.1.cors.origins", 'list the allowed origins instead of "*"'),
      ("routes.1.cors.supports_credentials", "set to true")]),
    (chromium("/api/x", "The value of the 'Access-Control-Allow-Credentials' header in the response is '' which must "
                        "be 'true' when the request's credentials mode is 'include'."),
     "api", "credentials_not_enabled", [("routes.0.cors.supports_credentials", "set to true")]),
    (chromium("/legacy/x", NO_ACAO), "legacy", "upstream_cors_headers",
     [("routes.4.cors.mode", "set to enforce (after shadow mode shows no disagreements)")]),
    (chromium("/api/x", "The 'Access-Control-Allow-Origin' header has a value 'http://localhost:4000' that is not "
                        "equal to the supplied origin."), "api", "answered_elsewhere", []),
    (chromium("/api/x", PREFLIGHT + "It does not have HTTP ok status."), "api", "answered_elsewhere", []),
    (chromium("/api/x", PREFLIGHT + "Redirect is not allowed for a preflight request."), "api", "answered_elsewhere",
     []),
    (chromium("/nowhere", NO_ACAO, origin="https://evil.example"), None, "no_route",
     [("routes", "add a route whose path covers /nowhere (no route matches it)"),
      ("defaults.cors.origins", 'add "https://evil.example"')]),
])
def test_diagnose_names_the_cause_and_the_key(message, route, reason, fixes):
    found = run(message)
    assert (found.route, found.reason) == (route, reason), found.lines()
    assert [(fix.key, fix.change) for fix in found.fixes] == fixes
    assert reason in {r.value for r in Reason} | set(BROWSER_SIDE) | {"no_route"}


def test_a_method_already_allowed_points_at_the_preflight_cache():
    found = run(chromium("/cached/x", "Method PUT is not allowed by Access-Control-Allow-Methods in preflight "
                                      "response."))
    assert found.reason == "preflight_cache"
    assert "defaults.cors.max_age" not in found.cause and "routes.2.cors.max_age is 600s" in found.cause


def test_not_through_the_gateway():
    found = run(chromium("/api/x", NO_ACAO, url="http://localhost:5000/api/x"))
    assert found.reason == "not_through_gateway"
    assert "port 5000" in found.cause and "port 8080" in found.cause
    assert [(f.key, f.change) for f in found.fixes] == [("(frontend)", "call the gateway's URL instead of "
                                                                       "http://localhost:5000")]
    named = run(chromium("/api/x", NO_ACAO, url="https://api.example.com/api/x"), gateway_url="https://gw.example.com")
    assert named.reason == "not_through_gateway" and "the gateway is https://gw.example.com" in named.cause
    same = run(chromium("/api/x", NO_ACAO, url="https://gw.example.com/api/x", origin="https://evil.example"),
               gateway_url="https://gw.example.com/")
    assert same.reason == "origin_not_allowed"


def test_redirected_to_another_origin():
    message = (f"Access to fetch at 'http://127.0.0.1:5000/api/echo' (redirected from '{GW}/api/redirect') from "
               f"origin '{APP}' has been blocked by CORS policy: {NO_ACAO}")
    found = run(message)
    assert found.reason == "redirected_elsewhere"
    assert found.cause.startswith(f"{GW}/api/redirect answered with a redirect to http://127.0.0.1:5000")


def test_a_header_read_that_is_not_exposed_needs_url_and_origin():
    message = 'Refused to get unsafe header "X-Total-Count"'
    assert run(message).cause.startswith("the message names no URL")
    found = run(message, url=GW + "/api/items", origin=APP)
    assert found.reason == "header_not_exposed"
    assert [(f.key, f.change) for f in found.fixes] == [("defaults.cors.expose_headers", 'add "X-Total-Count"')]


def test_an_ambiguous_preflight_lists_what_remains_possible_and_a_record_settles_it():
    message = chromium("/quiet/x", PREFLIGHT + NO_ACAO)
    open_ = run(message)
    assert open_.reason == "answered_elsewhere"
    text = "\n".join(open_.possible)
    assert "routes.3.cors.refused_preflight: plain_403" in text and "POST" in text
    record = Record(0.0, "quiet", "DELETE", "/quiet/x", APP, "preflight", "method_not_allowed",
                    'method "DELETE" is not in routes.3.cors.methods: add it there')
    settled = run(message, rejections=(record,))
    assert settled.reason == "method_not_allowed"
    assert [(f.key, f.change) for f in settled.fixes] == [("routes.3.cors.methods", 'add "DELETE"')]


def test_firefox_messages_need_the_origin():
    message = ("Cross-Origin Request Blocked: The Same Origin Policy disallows reading the remote resource at "
               f"{GW}/api/items. (Reason: CORS header ‘Access-Control-Allow-Origin’ missing). Status code: 200.")
    assert run(message).cause.startswith("the message names no origin")
    assert run(message, origin="https://evil.example").reason == "origin_not_allowed"


def test_file_pages_and_same_origin_mode():
    found = run("Access to XMLHttpRequest at 'file:///C:/data.json' from origin 'null' has been blocked by CORS "
                "policy: Cross origin requests are only supported for protocol schemes: http, https.")
    assert found.reason == "not_http"
    assert run(chromium("/api/x", "Cross origin requests are not allowed by request mode.")).reason == \
        "same_origin_mode"


# -- the command ---------------------------------------------------------------------------


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", "diagnose", *args], input=stdin, capture_output=True,
                          text=True, timeout=60)


def test_the_command_prints_text_and_json_and_reads_stdin(tmp_path):
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIG)
    message = chromium("/api/items", "Request header field x-secret is not allowed by Access-Control-Allow-Headers "
                                     "in preflight response.")
    text = cli("-c", str(path), "--offline", message)
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines() == [
        "browser: chromium",
        f"browser did: fetch {GW}/api/items from origin {APP}: sent a preflight (OPTIONS) first, and it failed",
        "browser refused: the preflight's Access-Control-Allow-Headers did not list a request header",
        "route: api (routes.0: path /api/, upstream app, mode enforce)",
        "gateway decision: rejected",
        "reason: header_not_allowed",
        'cause: requested header "x-secret" not in defaults.cors.allow_headers: add it there',
        'fix: defaults.cors.allow_headers: add "x-secret"',
        "gateway: not asked (--offline)",
    ]
    as_json = cli("-c", str(path), "--json", "--offline", stdin=message)
    assert as_json.returncode == 0, as_json.stderr
    found = json.loads(as_json.stdout)
    assert {k: found[k] for k in ("browser", "url", "origin", "route", "decision", "reason", "fixes", "message")} == {
        "browser": "chromium", "url": f"{GW}/api/items", "origin": APP, "route": "api", "decision": "rejected",
        "reason": "header_not_allowed", "fixes": [{"key": "defaults.cors.allow_headers", "change": 'add "x-secret"'}],
        "message": message,
    }


def test_the_command_exit_statuses(tmp_path):
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIG)
    unknown = cli("-c", str(path), "TypeError: Failed to fetch")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert "not a CORS error message this command knows" in unknown.stderr and "Firefox" in unknown.stderr
    empty = cli("-c", str(path), stdin="  \n")
    assert empty.returncode == 2 and "no message" in empty.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("routes: 3\n")
    bad_config = cli("-c", str(broken), chromium("/api/x", NO_ACAO))
    assert bad_config.returncode == 2 and "config refused" in bad_config.stderr


def test_the_readme_sample_is_a_real_run():
    from ..support import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n## Debugging a CORS error\n"):readme.index("\n## Test\n")]
    block = section.split("```\n", 2)[1]
    command, *expected = block.rstrip("\n").split("\n")
    prefix = "$ .venv/bin/cors-gateway diagnose -c config/gateway.yaml --offline "
    assert command.startswith(prefix + '"') and command.endswith('"')
    done = subprocess.run([sys.executable, "-m", "gateway", "diagnose", "-c", "config/gateway.yaml", "--offline",
                           command[len(prefix) + 1:-1]], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip("\n").split("\n") == expected


def test_a_message_that_names_the_cause_is_not_overruled_by_another_requests_record():
    other = Record(0.0, "api", "PATCH", "/api/items", APP, "preflight", "method_not_allowed", 'method "PATCH" ...')
    named = run(chromium("/api/items", "Request header field x-secret is not allowed by Access-Control-Allow-Headers "
                                       "in preflight response."), rejections=(other,))
    assert named.reason == "header_not_allowed"
    # An actual request's message is not explained by a preflight's record either.
    actual = run(chromium("/api/items", NO_ACAO, origin="https://evil.example"),
                 rejections=(Record(0.0, "api", "PATCH", "/api/items", "https://evil.example", "preflight",
                                    "method_not_allowed"),))
    assert actual.reason == "origin_not_allowed"


# -- found by review ----------------------------------------------------------------------


def test_an_unparseable_url_is_said_not_raised():
    found = run("Access to fetch at 'http://[::1/api/x' from origin 'http://localhost:3000' has been blocked by CORS "
                "policy: No 'Access-Control-Allow-Origin' header is present on the requested resource.")
    assert found.reason is None and found.cause.startswith("the URL 'http://[::1/api/x' does not parse")
    assert run(chromium("/x", NO_ACAO, url="http://localhost:99999/x")).cause.startswith("the URL")


def test_a_public_url_on_another_port_may_be_the_gateway_behind_a_load_balancer():
    found = run(chromium("/api/x", NO_ACAO, url="https://api.example.com/api/x", origin="https://evil.example"))
    assert found.reason == "origin_not_allowed"  # judged by the config, not sent away
    allowed = run(chromium("/api/x", NO_ACAO, url="https://api.example.com/api/x"))
    assert allowed.reason == "answered_elsewhere"
    assert allowed.possible[0].startswith("the page called https://api.example.com (port 443); the gateway listens "
                                          "on port 8080 (listen.port): unless a load balancer")


def test_routes_with_a_host_are_matched_by_the_urls_host():
    table = RouteTable(parse_config(f"""
upstreams: {{app: {{url: "http://127.0.0.1:5000"}}}}
routes:
  - {{name: a, host: a.example.com, path: /, upstream: app, cors: {{origins: ["{APP}"], methods: [GET]}}}}
  - {{name: b, host: b.example.com, path: /, upstream: app, cors: {{origins: ["{APP}"], methods: [GET, PUT]}}}}
"""))
    error = parse(chromium("/x", "Method DELETE is not allowed by Access-Control-Allow-Methods in preflight "
                                 "response.", url="https://b.example.com/x"))
    found = diagnose(error, table, gateway_url="https://b.example.com")
    assert (found.route, found.reason) == ("b", "method_not_allowed")
    assert [(f.key, f.change) for f in found.fixes] == [("routes.1.cors.methods", 'add "DELETE"')]


def test_firefox_does_not_name_the_method():
    message = ("Cross-Origin Request Blocked: The Same Origin Policy disallows reading the remote resource at "
               f"{GW}/api/x. (Reason: Did not find method in CORS header ‘Access-Control-Allow-Methods’). Status code: "
               "200.")
    found = run(message, origin=APP)
    assert (found.route, found.decision, found.reason) == ("api", "rejected", "method_not_allowed")
    assert found.cause == ("the page asked for a method defaults.cors.methods does not list (GET, POST, PUT); firefox "
                           "does not name it")
    assert run(message, origin=APP, method="DELETE").fixes[0].change == 'add "DELETE"'


def test_a_lowercase_method_is_the_frontends_to_fix():
    found = run(chromium("/api/x", "Method put is not allowed by Access-Control-Allow-Methods in preflight "
                                   "response."))
    assert found.reason == "method_not_allowed"
    assert [(f.key, f.change) for f in found.fixes] == [("(frontend)", 'send method "PUT"')]
    assert "fetch() uppercases only DELETE, GET, HEAD, OPTIONS, POST and PUT" in found.cause


def test_a_long_hostile_message_is_read_in_linear_time():
    import time

    for text in ("Access to " * 6553, "Access to fetch at '" * 3200, "Refused to get unsafe header \"" * 2000):
        started = time.monotonic()
        assert parse(text[:64 * 1024]) is None
        assert time.monotonic() - started < 0.5


def test_private_network_answers_and_permissions():
    pna = ("Access to fetch at 'http://localhost:8080/api/x' from origin 'http://localhost:3000' has been blocked by "
           "CORS policy: Response to preflight request doesn't pass access control check: No "
           "'Access-Control-Allow-Private-Network' header was present in the preflight response for this private "
           "network request targeting the `local` address space.")
    found = run(pna)
    assert (found.route, found.reason) == ("api", "private_network_not_allowed")
    assert [(f.key, f.change) for f in found.fixes] == [("routes.0.cors.allow_private_network",
                                                         "set to true (for origins you trust)")]
    denied = run(chromium("/api/x", "Permission was denied for this request to access the `loopback` address space."))
    assert denied.reason == "local_network_permission" and denied.fixes[0].key == "(frontend)"


def test_a_record_of_another_route_settles_nothing():
    table = RouteTable(parse_config(f"""
upstreams: {{app: {{url: "http://127.0.0.1:5000"}}}}
routes:
  - {{name: a, host: a.example.com, path: /, upstream: app, cors: {{origins: ["{APP}"], methods: [GET]}}}}
  - {{name: b, host: b.example.com, path: /, upstream: app, cors: {{origins: ["{APP}"], methods: [GET, DELETE]}}}}
"""))
    on_a = Record(0.0, "a", "DELETE", "/x", APP, "preflight", "method_not_allowed")
    error = parse(chromium("/x", PREFLIGHT + NO_ACAO, url="https://b.example.com/x"))
    found = diagnose(error, table, gateway_url="https://b.example.com", rejections=(on_a,))
    assert found.route == "b" and found.reason != "method_not_allowed"
    error_a = parse(chromium("/x", PREFLIGHT + NO_ACAO, url="https://a.example.com/x"))
    settled = diagnose(error_a, table, gateway_url="https://a.example.com", rejections=(on_a,))
    assert (settled.route, settled.reason) == ("a", "method_not_allowed")
