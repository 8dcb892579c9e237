"""``cors-gateway import`` (the gateway/importer/ package): flask-cors setups read statically.

Each test writes a small Flask app to ``tmp_path``, imports it, and checks
the emitted routes exactly, the findings (severity and line), and what the
gateway built from the emitted YAML decides.  A few tests also run the same
snippet under the real flask-cors (test code may run it; the importer never
does) to show the translation agrees with it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import unquote_to_bytes

import pytest
import yaml
from flask import Flask
from flask_cors import core as flask_cors_core

from gateway.config import parse_config
from gateway.importer import (
    Finding,
    ImportResult,
    SourceError,
    converter_regex,
    import_app,
    probably_regex,
    resource_sort_key,
)
from gateway.pathregex import compile_path_regex
from gateway.routes import RouteTable, normalize_path

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "gateway"]
DEFAULT_METHODS = ["GET", "HEAD", "POST", "OPTIONS", "PUT", "PATCH", "DELETE"]  # flask-cors's, in the usual order


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def write(tmp_path: Path, source: str, name: str = "app.py") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip("\n"))
    return path


def imported(tmp_path: Path, source: str, name: str = "app.py") -> ImportResult:
    """Import the snippet; the emitted config must always load."""
    result = import_app(write(tmp_path, source, name))
    parse_config(result.config_yaml)  # raises ConfigError on any error
    return result


def routes(result: ImportResult) -> list[tuple]:
    """(path or ("re", path_regex), cors) of each emitted route, in order."""
    out = []
    for route in yaml.safe_load(result.config_yaml)["routes"]:
        scope = route["path"] if "path" in route else ("re", route["path_regex"])
        out.append((scope, route["cors"]))
    return out


def found(result: ImportResult, severity: str) -> list[tuple[int, str]]:
    return [(f.line, f.message) for f in result.findings if f.severity == severity]


def table(result: ImportResult) -> RouteTable:
    return RouteTable(parse_config(result.config_yaml))


def decide(result: ImportResult, path: str, origin: str, method: str = "GET") -> tuple[str, str]:
    """(route name, decision label) the gateway gives an actual request."""
    route = table(result).match(None, path)
    assert route is not None
    return route.name, route.policy.actual(method, [origin]).label


CATCH_ALL = ("/", {"origins": []})


# --------------------------------------------------------------------------
# Every recognised form
# --------------------------------------------------------------------------

FORMS = {
    "CORS(app) defaults": (
        """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app)
        """,
        [("/", {"origins": ["*"], "methods": DEFAULT_METHODS, "allow_headers": "*"})],
    ),
    "CORS(app, origins=...) list": (
        """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, origins=["https://a.example.com", "http://localhost:3000"], methods=["GET", "post"],
             allow_headers=["Content-Type"], expose_headers="X-Total, X-Page", max_age=600)
        """,
        [("/", {"origins": ["https://a.example.com", "http://localhost:3000"], "methods": ["GET", "POST"],
                "allow_headers": ["Content-Type"], "expose_headers": ["X-Total", "X-Page"], "max_age": 600})],
    ),
    "alias, timedelta, credentials": (
        """
        from datetime import timedelta
        from flask import Flask
        from flask_cors import CORS as Cors
        app = Flask(__name__)
        Cors(app, origins="https://a.example.com", supports_credentials=True, max_age=timedelta(hours=1))
        """,
        [("/", {"origins": ["https://a.example.com"], "supports_credentials": True, "methods": DEFAULT_METHODS,
                "allow_headers": "*", "max_age": 3600})],
    ),
    "flask_cors.CORS": (
        """
        import flask
        import flask_cors
        app = flask.Flask(__name__)
        flask_cors.CORS(app, origins="https://a.example.com")
        """,
        [("/", {"origins": ["https://a.example.com"], "methods": DEFAULT_METHODS, "allow_headers": "*"})],
    ),
    "module alias": (
        """
        import flask_cors as fc
        from flask import Flask
        app = Flask(__name__)
        fc.CORS(app, origins="https://a.example.com")
        """,
        [("/", {"origins": ["https://a.example.com"], "methods": DEFAULT_METHODS, "allow_headers": "*"})],
    ),
    "init_app merges constructor and init_app options": (
        """
        from flask import Flask
        from flask_cors import CORS
        cors = CORS(origins="https://ctor.example.com", max_age=60)
        def create_app():
            app = Flask(__name__)
            cors.init_app(app, origins="https://init.example.com", resources="/api/*")
            return app
        """,
        [(("re", "(?:/api/*)(?s:.*)"), {"origins": ["https://init.example.com"], "methods": DEFAULT_METHODS,
                                       "allow_headers": "*", "max_age": 60}), CATCH_ALL],
    ),
    "resources dict with per-resource options": (
        """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, origins="https://all.example.com", resources={
            r"/api/*": {"origins": "https://api.example.com"},
            "/health": {},
        })
        """,
        [
            (("re", "/health"), {"origins": ["https://all.example.com"], "methods": DEFAULT_METHODS,
                                 "allow_headers": "*"}),
            (("re", "(?:/api/*)(?s:.*)"), {"origins": ["https://api.example.com"], "methods": DEFAULT_METHODS,
                                          "allow_headers": "*"}),
            CATCH_ALL,
        ],
    ),
    "resources list keeps its order": (
        """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, origins="https://a.example.com", resources=[r"/a/.*", r"/a/b/.*"])
        """,
        [
            (("re", "(?:/a/.*)(?s:.*)"), {"origins": ["https://a.example.com"], "methods": DEFAULT_METHODS,
                                         "allow_headers": "*"}),
            (("re", "(?:/a/b/.*)(?s:.*)"), {"origins": ["https://a.example.com"], "methods": DEFAULT_METHODS,
                                           "allow_headers": "*"}),
            CATCH_ALL,
        ],
    ),
    "resources '*' is every path (flask-cors's re_fix)": (
        """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, resources="*", origins="https://a.example.com")
        """,
        [("/", {"origins": ["https://a.example.com"], "methods": DEFAULT_METHODS, "allow_headers": "*"})],
    ),
    "app.config item, update(**kw), update(dict)": (
        """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        app.config["CORS_ORIGINS"] = ["https://cfg.example.com"]
        app.config.update(CORS_SUPPORTS_CREDENTIALS=True)
        app.config.update({"CORS_METHODS": ["GET", "PUT"], "CORS_MAX_AGE": 30, "SECRET_KEY": "x"})
        CORS(app)
        """,
        [("/", {"origins": ["https://cfg.example.com"], "supports_credentials": True, "methods": ["GET", "PUT"],
                "allow_headers": "*", "max_age": 30})],
    ),
    "CORS(app) kwargs outrank app.config": (
        """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        app.config.from_mapping(CORS_ORIGINS="https://cfg.example.com", CORS_EXPOSE_HEADERS=["X-A"])
        CORS(app, origins="https://kw.example.com")
        """,
        [("/", {"origins": ["https://kw.example.com"], "methods": DEFAULT_METHODS, "allow_headers": "*",
                "expose_headers": ["X-A"]})],
    ),
    "from_object(Config class)": (
        """
        from flask import Flask
        from flask_cors import CORS
        class Config:
            CORS_ORIGINS = "https://cls.example.com"
        app = Flask(__name__)
        app.config.from_object(Config)
        CORS(app)
        """,
        [("/", {"origins": ["https://cls.example.com"], "methods": DEFAULT_METHODS, "allow_headers": "*"})],
    ),
    "module constants and local constants": (
        """
        from flask import Flask
        from flask_cors import CORS
        FRONTENDS = ["https://a.example.com"]
        EXTRA = FRONTENDS + ["https://b.example.com"]
        def create_app():
            app = Flask(__name__)
            headers = ["X-Token"]
            CORS(app, origins=EXTRA, allow_headers=headers)
            return app
        """,
        [("/", {"origins": ["https://a.example.com", "https://b.example.com"], "methods": DEFAULT_METHODS,
                "allow_headers": ["X-Token"]})],
    ),
    "@cross_origin with @app.route": (
        """
        from flask import Flask
        from flask_cors import cross_origin
        app = Flask(__name__)
        @app.route("/items/<int:item_id>", methods=["GET", "PUT", "DELETE"])
        @cross_origin(origins="https://a.example.com", methods=["GET", "PUT"])
        def item(item_id):
            return ""
        """,
        [(("re", r"/items/\d+"), {"origins": ["https://a.example.com"], "methods": ["GET", "PUT"],
                                  "allow_headers": "*"}), CATCH_ALL],
    ),
    "@cross_origin with @app.get and @app.post": (
        """
        from flask import Flask
        from flask_cors import cross_origin
        app = Flask(__name__)
        @app.get("/a")
        @app.post("/b")
        @cross_origin(origins="https://a.example.com")
        def view():
            return ""
        """,
        [
            (("re", "/a"), {"origins": ["https://a.example.com"], "methods": ["GET", "HEAD", "OPTIONS"], "allow_headers": "*"}),
            (("re", "/b"), {"origins": ["https://a.example.com"], "methods": ["POST", "OPTIONS"], "allow_headers": "*"}),
            CATCH_ALL,
        ],
    ),
    "@cross_origin reads app.config (not CORS() options)": (
        """
        from flask import Flask
        from flask_cors import CORS, cross_origin
        app = Flask(__name__)
        app.config["CORS_EXPOSE_HEADERS"] = "X-Cfg"
        CORS(app, origins="https://ext.example.com", resources="/api/*")
        @app.route("/api/special")
        @cross_origin(origins="https://special.example.com")
        def special():
            return ""
        """,
        [
            (("re", "/api/special"), {"origins": ["https://special.example.com"], "methods": ["GET", "HEAD", "OPTIONS"],
                                      "allow_headers": "*", "expose_headers": ["X-Cfg"]}),
            (("re", "(?:/api/*)(?s:.*)"), {"origins": ["https://ext.example.com"], "methods": DEFAULT_METHODS,
                                          "allow_headers": "*", "expose_headers": ["X-Cfg"]}),
            CATCH_ALL,
        ],
    ),
    "add_url_rule with a decorated view": (
        """
        from flask import Flask
        from flask_cors import cross_origin
        app = Flask(__name__)
        @cross_origin(origins="https://a.example.com")
        def view():
            return ""
        app.add_url_rule("/added", view_func=view, methods=["POST"])
        """,
        [(("re", "/added"), {"origins": ["https://a.example.com"], "methods": ["POST", "OPTIONS"], "allow_headers": "*"}),
         CATCH_ALL],
    ),
}


@pytest.mark.parametrize(("source", "expected"), list(FORMS.values()), ids=list(FORMS))
def test_recognised_forms(tmp_path, source, expected):
    result = imported(tmp_path, source)
    assert routes(result) == expected
    assert result.routes_found == len([r for r in expected if r != CATCH_ALL])
    assert not found(result, "untranslatable")


def test_default_origins_are_explicit_and_reported(tmp_path):
    result = imported(tmp_path, FORMS["CORS(app) defaults"][0])
    assert found(result, "warning") == [(4, (
        'origins not set: flask-cors allows every origin by default ("*"), so every website can read these '
        'responses; emitted origins: "*" (the gateway answers "*" and, unlike flask-cors, refuses Origin: null). '
        "List your frontends' origins instead"
    ))]
    assert decide(result, "/anything", "https://any.example") == ("resource /*", "allowed")


def test_literal_origins_flask_cors_never_matched_are_left_out(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, origins=["HTTPS://App.Example.com", "https://b.example.com:443", "https://c.example.com/", "NULL"])
    """)
    assert routes(result)[0][1]["origins"] == ["https://app.example.com", "null"]
    messages = [m for _, m in found(result, "warning")]
    assert any(m.startswith("origin 'https://b.example.com:443': flask-cors compares it") for m in messages)
    assert any(m.startswith("origin 'https://c.example.com/' is not an origin a browser sends") for m in messages)


# --------------------------------------------------------------------------
# Regex origins: anchored fully, with a concrete origin that changes
# --------------------------------------------------------------------------

REGEXES = [
    (r"https://.*\.example\.com", "https://app.example.com"),
    (r"https://app\.example\.com", "https://app.example.com"),
    (r"https?://(www\.)?example\.org", "http://example.org"),
    (r"https://[a-z]+\.Example\.com", "https://eu.example.com"),
]


@pytest.mark.parametrize(("pattern", "legit"), REGEXES)
def test_regex_origin_security_finding_names_an_origin_the_gateway_refuses(tmp_path, pattern, legit):
    result = imported(tmp_path, f"""
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)

        CORS(app, origins=[{pattern!r}])
    """)
    security = found(result, "security")
    assert len(security) == 1
    line, message = security[0]
    assert line == 5
    example = re.search(r"accepted '([^']+)'", message).group(1)
    # True of flask-cors: re.match (case-insensitive) accepts it, a full match would not.
    assert re.match(pattern, example, re.IGNORECASE)
    assert not re.fullmatch(pattern, example, re.IGNORECASE)
    # True of the gateway built from the emitted YAML: refused, while a real origin still passes.
    assert decide(result, "/x", example) == ("resource /*", "rejected")
    assert decide(result, "/x", legit) == ("resource /*", "allowed")
    emitted = routes(result)[0][1]["origins"][0]
    assert emitted.startswith("re:^(") and emitted.endswith(")$")


def test_regex_origin_matches_flask_cors_own_decisions(tmp_path):
    pattern = r"https://.*\.example\.com"
    result = imported(tmp_path, f"""
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, origins=[{pattern!r}, "https://literal.example.net"])
    """)
    app = Flask("probe")
    flask_cors_core.LOG.disabled = True
    from flask_cors import CORS

    CORS(app, origins=[pattern, "https://literal.example.net"])
    app.add_url_rule("/x", "x", lambda: "x")
    client = app.test_client()
    for origin in ["https://a.example.com", "https://a.b.example.com", "https://literal.example.net",
                   "https://example.com", "https://evil.test"]:
        flask_cors_allows = client.get("/x", headers={"Origin": origin}).headers.get("Access-Control-Allow-Origin")
        assert (flask_cors_allows == origin) == (decide(result, "/x", origin)[1] == "allowed"), origin


def test_regex_without_a_browser_sendable_difference_is_info(tmp_path):
    result = imported(tmp_path, r"""
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, origins=r"http://localhost:\d+")
    """)
    assert found(result, "security") == []
    assert found(result, "info") == [(4, (
        r"origin regex 'http://localhost:\d+' becomes re:^(?:http://localhost:\d+)$: the gateway matches the whole "
        "origin, flask-cors only its start; check that the origins your pages use still match"
    ))]
    assert decide(result, "/", "http://localhost:8080")[1] == "allowed"


def test_wildcard_looking_origin_is_a_regex_to_flask_cors(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, origins="https://*.example.com")
    """)
    # The same regex, with "//*" (one or more "/") written "/+": `check` refuses "//*" as a mistaken wildcard.
    assert routes(result)[0][1]["origins"] == ["re:^(?:https:/+.example.com)$"]
    assert any("is a regex to flask-cors, not a subdomain wildcard" in m for _, m in found(result, "warning"))
    # Faithful: flask-cors never matched a subdomain with it, and neither does the translation.
    assert decide(result, "/", "https://app.example.com")[1] == "rejected"


def test_probably_regex_mirrors_flask_cors():
    for text in ["https://a.example.com", "https://.*", "/api/*", "/api/v1", "a$", "[x]", "(a)", "a?", "a\\b", "^a"]:
        assert probably_regex(text) == flask_cors_core.probably_regex(text), text


# --------------------------------------------------------------------------
# Credentials, private network, options without an equivalent
# --------------------------------------------------------------------------


def test_credentials_with_any_origin_is_refused_and_dropped(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, origins="*",
             supports_credentials=True)
    """)
    assert routes(result) == [("/", {"origins": ["*"], "methods": DEFAULT_METHODS, "allow_headers": "*"})]
    assert found(result, "security") == [(5, (
        'supports_credentials=True: with origins "*" flask-cors reflects every Origin with '
        "Access-Control-Allow-Credentials: true, so any website can act as your logged-in users. The gateway "
        'refuses that; the emitted route keeps origins "*" without credentials, so credentialed cross-origin '
        "requests fail. Fix: list your frontends' origins in origins and set supports_credentials: true"
    ))]
    route = table(result).match(None, "/x")
    decision = route.policy.actual("GET", ["https://evil.test"])
    assert decision.headers == (("Access-Control-Allow-Origin", "*"),)  # never credentials


def test_credentials_with_an_open_regex_is_dropped_too(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, origins=r"https?://.*", supports_credentials=True, allow_private_network=True)
    """)
    cors = routes(result)[0][1]
    assert cors == {"origins": ["re:^(?:https?://.*)$"], "methods": DEFAULT_METHODS, "allow_headers": "*"}
    assert [m.split(":")[0] for _, m in found(result, "security")] == [
        "supports_credentials=True", "allow_private_network=True with origins re"]


def test_credentials_with_send_wildcard_says_flask_cors_refused_to_start(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, supports_credentials=True, send_wildcard=True)
    """)
    assert "flask-cors raises ValueError at start-up" in found(result, "security")[0][1]


def test_credentials_with_listed_origins_are_kept(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, origins=["https://a.example.com"], supports_credentials=True, expose_headers="*")
    """)
    assert routes(result)[0][1] == {"origins": ["https://a.example.com"], "supports_credentials": True,
                                    "methods": DEFAULT_METHODS, "allow_headers": "*"}
    assert found(result, "security") == []
    assert any(m.startswith('expose_headers "*" with credentials') for _, m in found(result, "warning"))


def test_options_without_an_equivalent(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, origins="https://a.example.com",
             vary_header=False,
             always_send=True,
             automatic_options=True,
             intercept_exceptions=False,
             typo_option=1)
    """)
    assert [(line, severity) for line, severity, _ in
            [(f.line, f.severity, f.message) for f in result.findings]] == [
        (5, "warning"), (6, "warning"), (7, "info"), (8, "info"), (9, "warning")]
    assert found(result, "warning")[0][1].startswith("vary_header=False has no equivalent")
    assert found(result, "warning")[1][1].startswith("always_send has no equivalent")
    assert found(result, "warning")[2][1].startswith("flask-cors ignores the unknown option 'typo_option'")


def test_methods_that_leave_out_simple_methods_are_reported(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, origins="https://a.example.com", methods=["PUT", "OPTIONS"])
    """)
    assert routes(result)[0][1]["methods"] == ["OPTIONS", "PUT"]
    assert found(result, "warning")[0][1].startswith("methods leave out GET, POST: flask-cors never checks methods")


def test_header_regex_becomes_star_with_a_warning(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, origins="https://a.example.com", allow_headers=["Content-Type", "X-Custom-.*"])
    """)
    assert routes(result)[0][1]["allow_headers"] == "*"
    assert found(result, "warning")[0][1].startswith("allow_headers regex 'X-Custom-.*'")


# --------------------------------------------------------------------------
# Run-time values
# --------------------------------------------------------------------------


def test_runtime_origins_are_untranslatable_with_their_line(tmp_path):
    result = imported(tmp_path, """
        import os
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(
            app,
            origins=[o for o in ORIGIN_LIST if o],
            max_age=int(os.environ.get("MAX_AGE", "60")),
        )
    """)
    assert found(result, "untranslatable") == [
        (7, ('origins [o for o in ORIGIN_LIST if o] is only known at run time; emitted origins: [] '
            "(no origin allowed) meanwhile: replace it with the origins it has in production, e.g. "
            'origins: ["https://app.example.com"]')),
        (8, 'max_age int(os.environ.get("MAX_AGE", "60")) is only known at run time; left out: set it by hand'),
    ]
    assert routes(result) == [("/", {"origins": [], "methods": DEFAULT_METHODS, "allow_headers": "*"})]
    assert decide(result, "/", "https://app.example.com")[1] == "rejected"
    assert result.routes_found == 1


def test_runtime_resources_emit_no_route(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, resources=load_resources())
    """)
    assert result.routes_found == 0
    assert routes(result) == [CATCH_ALL]
    assert found(result, "untranslatable")[0][0] == 4


def test_mutated_or_reassigned_constants_are_not_trusted(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import CORS
        ORIGINS = ["https://a.example.com"]
        ORIGINS.append(load_more())
        app = Flask(__name__)
        CORS(app, origins=ORIGINS)
    """)
    assert found(result, "untranslatable")[0][0] == 6
    assert routes(result)[0][1]["origins"] == []


def test_config_set_after_cors_is_ignored_like_flask_cors_does(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app)
        app.config["CORS_ORIGINS"] = "https://late.example.com"
    """)
    assert routes(result)[0][1]["origins"] == ["*"]
    assert found(result, "warning")[-1][0] == 5
    assert found(result, "warning")[-1][1].startswith("CORS_ORIGINS is set after CORS() (line 4)")


# --------------------------------------------------------------------------
# Blueprints and views
# --------------------------------------------------------------------------


def test_blueprint_prefixes_from_constructor_registration_and_nesting(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask, Blueprint
        from flask_cors import cross_origin
        app = Flask(__name__)
        own = Blueprint("own", __name__, url_prefix="/own")
        moved = Blueprint("moved", __name__, url_prefix="/ignored")
        parent = Blueprint("parent", __name__, url_prefix="/parent")
        child = Blueprint("child", __name__, url_prefix="/child")

        @own.route("/a")
        @cross_origin(origins="https://a.example.com")
        def a():
            return ""

        @moved.route("/b")
        @cross_origin(origins="https://a.example.com")
        def b():
            return ""

        @child.route("")
        @cross_origin(origins="https://a.example.com")
        def c():
            return ""

        app.register_blueprint(own)
        app.register_blueprint(moved, url_prefix="/moved/")
        parent.register_blueprint(child)
        app.register_blueprint(parent)
    """)
    assert [scope for scope, _ in routes(result)] == [("re", "/own/a"), ("re", "/moved/b"), ("re", "/parent/child"), "/"]


def test_cors_on_a_blueprint_covers_its_views_only(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask, Blueprint
        from flask_cors import CORS
        app = Flask(__name__)
        api = Blueprint("api", __name__)
        CORS(api, origins="https://a.example.com")

        @api.route("/users/<uuid:uid>/files/<path:rest>", methods=["GET", "POST"])
        def files(uid, rest):
            return ""

        @app.route("/admin")
        def admin():
            return ""

        app.register_blueprint(api, url_prefix="/api")
    """)
    uuid = "[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}"
    assert routes(result) == [
        (("re", f"/api/users/{uuid}/files/[^/][^\\n]*"),
         {"origins": ["https://a.example.com"], "methods": ["GET", "HEAD", "POST", "OPTIONS"], "allow_headers": "*"}),
        CATCH_ALL,
    ]
    uid = "123e4567-e89b-12d3-a456-426614174000"
    assert decide(result, f"/api/users/{uid}/files/a/b.txt", "https://a.example.com")[1] == "allowed"
    assert decide(result, "/admin", "https://a.example.com") == ("no-cors", "rejected")
    assert decide(result, "/api/other", "https://a.example.com") == ("no-cors", "rejected")


def test_blueprint_resources_pick_views_like_flask_cors(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask, Blueprint
        from flask_cors import CORS
        app = Flask(__name__)
        bp = Blueprint("bp", __name__, url_prefix="/bp")
        CORS(bp, resources={"/bp/a": {"origins": "https://literal.example.com"},
                            r"/bp/.*": {"origins": "https://regex.example.com"}})

        @bp.route("/a")
        def a():
            return ""

        @bp.route("/a/b")
        def ab():
            return ""

        app.register_blueprint(bp)
    """)
    assert [(scope, cors["origins"]) for scope, cors in routes(result)] == [
        (("re", "/bp/a"), ["https://literal.example.com"]),
        (("re", "/bp/a/b"), ["https://regex.example.com"]),
        ("/", []),
    ]


def test_cors_on_a_blueprint_covers_blueprints_nested_in_it(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask, Blueprint
        from flask_cors import CORS
        api = Blueprint("api", __name__)
        CORS(api, origins="https://a.example.com")
        admin = Blueprint("admin", __name__, url_prefix="/admin")

        @admin.route("/users", methods=["GET", "DELETE"])
        def users():
            return ""

        api.register_blueprint(admin)
        app = Flask(__name__)
        app.register_blueprint(api, url_prefix="/v1")
        app.register_blueprint(api, url_prefix="/v2", name="api_v2")
        app.register_blueprint(admin, url_prefix="/direct")
    """)
    # Not /direct/users: there admin is not inside api, so CORS(api) never ran.
    assert [scope for scope, _ in routes(result)] == [("re", "/v1/admin/users"), ("re", "/v2/admin/users"), "/"]
    assert routes(result)[0][1]["methods"] == ["GET", "HEAD", "OPTIONS", "DELETE"]


def test_explicit_star_warns_that_null_is_refused(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, origins="*")
    """)
    assert found(result, "warning") == [(4, (
        'origins "*": flask-cors also allowed Origin: null (sandboxed iframes, file: pages); the gateway\'s "*" '
        'refuses Origin: null: add "null" to origins if such pages call this app'
    ))]
    assert decide(result, "/", "null")[1] == "rejected"


def test_blueprint_matches_flask_cors_on_real_requests(tmp_path):
    source = """
        from flask import Flask, Blueprint
        from flask_cors import CORS
        app = Flask(__name__)
        bp = Blueprint("bp", __name__, url_prefix="/bp")
        CORS(bp, origins="https://a.example.com")

        @bp.route("/v/<int:n>")
        def v(n):
            return "v"

        @app.route("/app")
        def plain():
            return "a"

        app.register_blueprint(bp)
    """
    result = imported(tmp_path, source)
    namespace: dict = {"__name__": "importer_snippet"}
    exec(compile(textwrap.dedent(source), "snippet", "exec"), namespace)  # noqa: S102 - the test runs it, the importer never does
    client = namespace["app"].test_client()
    for path in ["/bp/v/1", "/bp/v/x", "/bp/nope", "/app"]:
        got = client.get(path, headers={"Origin": "https://a.example.com"}).headers.get("Access-Control-Allow-Origin")
        assert (got is not None) == (decide(result, path, "https://a.example.com")[1] == "allowed"), path


def test_route_decorator_below_cross_origin_gets_no_cors(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import cross_origin
        app = Flask(__name__)
        @cross_origin()
        @app.route("/dead")
        def dead():
            return ""
    """)
    assert routes(result) == [CATCH_ALL]
    assert result.routes_found == 0
    assert found(result, "warning")[0][0] == 5
    assert "is below @cross_origin" in found(result, "warning")[0][1]


def test_two_views_on_one_path_are_reported(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import cross_origin
        app = Flask(__name__)
        @app.get("/x")
        @cross_origin(origins="https://a.example.com")
        def read():
            return ""
        @app.get("/x")
        @cross_origin(origins="https://b.example.com")
        def again():
            return ""
    """)
    assert len(routes(result)) == 2
    assert found(result, "warning")[-1][0] == 9


# --------------------------------------------------------------------------
# Ordering
# --------------------------------------------------------------------------

RESOURCES = {r"/api/*": "a", r"/api/v1/.*": "b", "/api/v1/users": "c", "/x": "d", r"/api/v1/*": "e", "/a": "f"}


def test_resource_order_is_flask_cors_order(tmp_path):
    source = """
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, resources={resources})
    """.replace("{resources}", repr({k: {"origins": f"https://{v}.example.com"} for k, v in RESOURCES.items()}))
    result = imported(tmp_path, source)
    emitted = [cors["origins"][0] for _, cors in routes(result)[:-1]]
    theirs = [f"https://{RESOURCES[getattr(p, 'pattern', p)]}.example.com" for p, _ in
              flask_cors_core.parse_resources({k: {} for k in RESOURCES})]
    assert emitted == theirs
    assert sorted(RESOURCES, key=resource_sort_key) == [
        getattr(p, "pattern", p) for p, _ in flask_cors_core.parse_resources({k: {} for k in RESOURCES})]
    # The gateway then picks the route flask-cors would have picked.
    for path, letter in [("/api/v1/users", "c"), ("/api/v1/users/2", "b"), ("/api/v1", "e"), ("/apiary", "a"),
                         ("/x", "d"), ("/x/y", None), ("/a", "f")]:
        _, label = decide(result, path, f"https://{letter}.example.com")
        assert label == ("allowed" if letter else "rejected"), path


def test_decorator_routes_come_before_resource_routes(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import CORS, cross_origin
        app = Flask(__name__)
        CORS(app, origins="https://ext.example.com")
        @app.route("/view")
        @cross_origin(origins="https://view.example.com")
        def view():
            return ""
    """)
    assert [scope for scope, _ in routes(result)] == [("re", "/view"), "/"]
    assert decide(result, "/view", "https://ext.example.com")[1] == "rejected"
    assert decide(result, "/view", "https://view.example.com")[1] == "allowed"
    assert decide(result, "/other", "https://ext.example.com")[1] == "allowed"


# --------------------------------------------------------------------------
# Directories, the bundled apps, errors
# --------------------------------------------------------------------------


def test_package_across_files(tmp_path):
    write(tmp_path, """
        from flask import Flask
        from .ext import cors
        from .views import bp as views_bp
        from . import settings

        def create_app():
            app = Flask(__name__)
            cors.init_app(app, origins=settings.ORIGINS, resources=r"/api/.*")
            app.register_blueprint(views_bp, url_prefix="/v")
            return app
    """, "pkg/__init__.py")
    write(tmp_path, "from flask_cors import CORS\ncors = CORS(max_age=300)\n", "pkg/ext.py")
    write(tmp_path, 'ORIGINS = ["https://a.example.com"]\n', "pkg/settings.py")
    write(tmp_path, """
        from flask import Blueprint
        from flask_cors import cross_origin
        bp = Blueprint("views", __name__)

        @bp.route("/one")
        @cross_origin(origins="https://one.example.com")
        def one():
            return ""
    """, "pkg/views.py")
    write(tmp_path, "print(", ".venv/lib/ignored.py")  # hidden dirs are skipped
    result = import_app(tmp_path / "pkg")
    parse_config(result.config_yaml)
    assert routes(result) == [
        (("re", "/v/one"), {"origins": ["https://one.example.com"], "methods": ["GET", "HEAD", "OPTIONS"], "allow_headers": "*"}),
        (("re", "(?:/api/.*)(?s:.*)"), {"origins": ["https://a.example.com"], "methods": DEFAULT_METHODS,
                                       "allow_headers": "*", "max_age": 300}),
        CATCH_ALL,
    ]
    assert result.routes_found == 2


def test_bundled_flask_cors_app(tmp_path):
    result = import_app(ROOT / "tests/apps/flask_cors_app.py")
    parse_config(result.config_yaml)
    assert routes(result) == [("/", {"origins": ["*"], "methods": DEFAULT_METHODS, "allow_headers": "*",
                                     "expose_headers": ["X-Upstream"]})]
    assert [(f.line, f.severity) for f in result.findings] == [(11, "warning"), (11, "security")]
    assert all(isinstance(f, Finding) and f.file.endswith("flask_cors_app.py") for f in result.findings)
    config = yaml.safe_load(result.config_yaml)
    assert config["upstreams"] == {"app": {"url": "http://127.0.0.1:5000"}}
    assert config["defaults"] == {"cors": {"origins": [], "mode": "shadow"}}
    assert config["listen"] == {"host": "0.0.0.0", "port": 8080}
    assert config["admin"] == {"host": "127.0.0.1", "port": 9090}


def test_demo_upstream_has_no_flask_cors(tmp_path):
    result = import_app(ROOT / "gateway/demo/upstream.py")
    assert result.routes_found == 0
    assert routes(result) == [CATCH_ALL]


def test_finding_str_and_upstream_option(tmp_path):
    result = import_app(write(tmp_path, "from flask_cors import CORS\nCORS(app)\n"), upstream="https://10.0.0.5:8443")
    assert yaml.safe_load(result.config_yaml)["upstreams"]["app"]["url"] == "https://10.0.0.5:8443"
    assert str(result.findings[0]).startswith(f"{tmp_path / 'app.py'}:2: warning: origins not set")


def test_source_errors(tmp_path):
    with pytest.raises(SourceError, match=r"app\.py:2: syntax error"):
        import_app(write(tmp_path, "x = 1\ndef broken(:\n"))
    with pytest.raises(SourceError, match="no such file or directory"):
        import_app(tmp_path / "missing.py")
    with pytest.raises(SourceError, match="--upstream"):
        import_app(write(tmp_path, "x = 1\n"), upstream="http://h/path")


# --------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_cli_prints_yaml_and_findings_and_exits_0():
    result = cli("import", "tests/apps/flask_cors_app.py")
    assert result.returncode == 0, result.stderr
    parse_config(result.stdout)
    assert "tests/apps/flask_cors_app.py:11: security: supports_credentials=True" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "cors-gateway import: 1 route(s) from tests/apps/flask_cors_app.py, 2 finding(s); "
        "the config passes check with 0 warning(s)"
    )


def test_cli_writes_a_file_that_check_accepts_and_maps_check_warnings_to_source(tmp_path):
    app = write(tmp_path, """
        import os
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, resources={r"/api/.*": {"origins": ORIGINS}}, max_age=86400)
    """)
    out = tmp_path / "gateway.yaml"
    result = cli("import", str(app), "-o", str(out), "--upstream", "http://127.0.0.1:8000")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert f"{app}:5: check: routes.0.cors.origins: warning: no origin is allowed: every cross-origin request to " \
           "this route is rejected" in lines
    assert f"{app}:5: check: routes.0.cors.max_age: warning: Chromium caps preflight caching at 7200 seconds" in lines
    check = cli("check", "-c", str(out))
    assert check.returncode == 0, check.stdout
    assert yaml.safe_load(out.read_text())["upstreams"]["app"]["url"] == "http://127.0.0.1:8000"


def test_cli_checks_origins_from_the_environment_and_check_needs_the_variable(tmp_path):
    app = write(tmp_path, """
        import os
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, origins=os.environ["ORIGINS"].split(","))
    """)
    out = tmp_path / "gateway.yaml"
    result = cli("import", str(app), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0].startswith(f"{app}:5: warning: origins come from the environment variable "
                                                    "ORIGINS (a comma-separated list of origins): emitted as ${ORIGINS}")
    unset = subprocess.run([*CLI, "check", "-c", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                           env={k: v for k, v in os.environ.items() if k != "ORIGINS"})
    assert unset.returncode == 1 and "environment variable ORIGINS is not set" in unset.stdout + unset.stderr
    given = subprocess.run([*CLI, "check", "-c", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                           env={**os.environ, "ORIGINS": "https://a.example.com,https://b.example.com"})
    assert given.returncode == 0, given.stdout + given.stderr


def test_cli_exit_1_when_nothing_usable(tmp_path):
    out = tmp_path / "gateway.yaml"
    result = cli("import", "gateway/demo/upstream.py", "-o", str(out))
    assert result.returncode == 1
    assert not out.exists()
    assert result.stderr.splitlines()[-1] == (
        "cors-gateway import: nothing usable found in gateway/demo/upstream.py; no config written")


def test_cli_exit_2_on_syntax_error_and_missing_path(tmp_path):
    bad = write(tmp_path, "from flask_cors import CORS\nCORS(app,\n")
    result = cli("import", str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith(f"cors-gateway import: {bad}:2: syntax error:")
    assert result.stdout == ""
    missing = cli("import", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert missing.stderr == f"cors-gateway import: {tmp_path / 'nope'}: no such file or directory\n"


# --------------------------------------------------------------------------
# Werkzeug converters as path regexes: exactly what Werkzeug 3.1 accepts
# --------------------------------------------------------------------------

CONVERTER_CASES = [
    # (converter, arguments, emitted regex)
    ("default", "", "[^/]+"),
    ("string", "", "[^/]+"),
    ("string", "length=2", "[^/]{2}"),
    ("string", "2", "[^/]{2,}"),
    ("string", "minlength=2, maxlength=4", "[^/]{2,4}"),
    ("string", "maxlength=3", "[^/]{1,3}"),
    ("int", "", r"\d+"),
    ("int", "signed=True", r"-?\d+"),
    ("int", "fixed_digits=4", r"\d+"),  # Werkzeug checks the length after matching (then 404, no other rule)
    ("int", "min=1, max=10", r"\d+"),
    ("int", "4, 1, 9999, True", r"-?\d+"),
    ("float", "", r"\d+\.\d+"),
    ("float", "signed=True", r"-?\d+\.\d+"),
    ("float", "min=0.5", r"\d+\.\d+"),
    ("path", "", "[^/][^\\n]*"),
    ("uuid", "", "[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}"),
    ("any", "about, help", "(?:about|help)"),
    ("any", "'a.b', \"c,d\", 'x+y', é", r"(?:a\.b|c,d|x\+y|é)"),
]
CONVERTER_SAMPLES = [
    "", "1", "12", "1234", "12345", "-1", "--1", "+1", "١", "١٢٣٤", "١٢٣٤٥", "-١", "１２", "߀", "²", "Ⅻ", "½", "1.5",
    "١.٥", "-1.5", "1.", ".5", "1e5", "x", "ab", "abc", "abcd", "abcde", "é", "ßx", "中文", "a b", "a\nb", "\n",
    "a\x85b", "a\u2028", "a/b", "/a", "a/", "about", "help", "abouthelp", "a.b", "aXb", "c,d", "x+y", "xy",
    "123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000",
    "123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400", "١23e4567-e89b-12d3-a456-426614174000",
]


@pytest.mark.parametrize(("converter", "args", "regex"), CONVERTER_CASES)
def test_converter_regex_accepts_what_werkzeug_accepts(converter, args, regex):
    from werkzeug.routing import Map
    from werkzeug.routing.rules import parse_converter_args

    assert converter_regex(converter, args) == regex
    url_map = Map()
    positional, keywords = parse_converter_args(args) if args else ((), {})
    werkzeug = url_map.converters[converter](url_map, *positional, **keywords)
    # How Werkzeug's matcher runs it: Python's re, .match with \Z (no DOTALL).
    werkzeug_regex = re.compile(f"(?:{werkzeug.regex})\\Z")
    ours = compile_path_regex(regex)
    for sample in CONVERTER_SAMPLES:
        assert (ours.fullmatch(sample) is not None) == (werkzeug_regex.match(sample) is not None), (regex, sample)


@pytest.mark.parametrize(("converter", "args"), [("string", "length=2000"), ("int", "bogus=1"), ("path", "x"),
                                                 ("any", "x+y"),
                                                 ("any", ""), ("unknown", "")])
def test_converter_regex_unknown_or_untranslatable(converter, args):
    assert converter_regex(converter, args) is None


def test_converter_routes_follow_flask_on_unicode_paths(tmp_path):
    source = """
        from flask import Flask
        from flask_cors import cross_origin
        app = Flask(__name__)

        @app.route("/users/<int:uid>")
        @cross_origin(origins="https://admin.example.com")
        def user(uid):
            return "u"

        @app.route("/prices/<float(signed=True):p>")
        @cross_origin(origins="https://a.example.com")
        def price(p):
            return "p"

        @app.route("/lang/<string(length=2):code>")
        @cross_origin(origins="https://a.example.com")
        def lang(code):
            return "l"

        @app.route("/café/<name>")
        @cross_origin(origins="https://a.example.com")
        def cafe(name):
            return "c"

        @app.route("/kind/<any(a, 'b.c'):k>")
        @cross_origin(origins="https://a.example.com")
        def kind(k):
            return "k"

        @app.route("/obj/<uuid:u>")
        @cross_origin(origins="https://a.example.com")
        def obj(u):
            return "o"

        @app.route("/<path:rest>")
        @cross_origin(origins="*")
        def anything(rest):
            return "a"
    """
    result = imported(tmp_path, source)
    assert [scope for scope, _ in routes(result)[:7]] == [
        ("re", r"/users/\d+"), ("re", r"/prices/-?\d+\.\d+"), ("re", "/lang/[^/]{2}"), ("re", "/café/[^/]+"),
        ("re", r"/kind/(?:a|b\.c)"), ("re", "/obj/[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-"
                                            "[A-Fa-f0-9]{12}"), ("re", "/[^/][^\\n]*"),
    ]
    namespace: dict = {"__name__": "importer_snippet"}
    exec(compile(textwrap.dedent(source), "snippet", "exec"), namespace)  # noqa: S102 - the test runs it, the importer never does
    adapter = namespace["app"].url_map.bind("h")
    gateway = table(result)
    for raw in ["/users/1", "/users/%D9%A1%D9%A2", "/users/١", "/users/%EF%BC%97", "/users/%C2%B2", "/users/-1",
                "/prices/-%D9%A1.%D9%A5", "/prices/1.5", "/prices/1", "/lang/%C3%A9t", "/lang/abc", "/caf%C3%A9/x",
                "/café/%E4%B8%AD", "/kind/b.c", "/kind/bxc", "/obj/123e4567-e89b-12d3-a456-426614174000",
                "/obj/%D9%A123e4567-e89b-12d3-a456-426614174000", "/x/y%20z"]:
        path = normalize_path(raw)
        assert path is not None, raw
        werkzeug_path = unquote_to_bytes(raw).decode("latin-1").encode("latin-1").decode("utf-8", "replace")
        endpoint, _ = adapter.match(werkzeug_path)
        route = gateway.match(None, path)
        assert route is not None and route.name.split(" ")[0] == endpoint, (raw, route and route.name, endpoint)


def test_resource_regex_the_gateway_refuses_is_untranslatable_with_the_reason(tmp_path):
    result = imported(tmp_path, r"""
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, resources={r"/api/\bv1": {"origins": "https://a.example.com"}})
    """)
    assert found(result, "untranslatable") == [
        (4, r"resource regex '/api/\bv1' cannot run on RE2 (\b is refused: RE2's word boundary is ASCII-only, "
            "Python's re (the upstream's router) treats letters like 'é' and digits like '١' as word characters; "
            "write the boundary out, e.g. (?:/|$) or a character class); no route emitted: add a route with a "
            "path_regex RE2 accepts"),
    ]


@pytest.mark.parametrize("origins, who", [
    (r'r"https://.*\.github\.io"', "strangers' sites such as"),
    (r'r"https://.*\.amazonaws\.com"', ""),
])
def test_credentials_with_origins_open_to_strangers_are_dropped_with_a_finding(tmp_path, origins, who):
    """The probes `check` refuses with (strangers' regexes, wildcards over public
    suffixes) also apply here: a finding and no credentials, never a config
    that fails check (it used to end in "internal error")."""
    result = imported(tmp_path, f"""
        from flask import Flask
        from flask_cors import CORS
        app = Flask(__name__)
        CORS(app, origins={origins}, supports_credentials=True, allow_private_network=True)
    """)
    cors = routes(result)[0][1]
    assert "supports_credentials" not in cors and "allow_private_network" not in cors
    messages = [m for _, m in found(result, "security") if m.startswith(("supports_credentials", "allow_private"))]
    assert [m.split(":")[0] for m in messages] == ["supports_credentials=True", "allow_private_network=True"]
    assert all(who in m for m in messages)
    assert "lets in" in messages[0]


@pytest.mark.parametrize("pattern, example", [
    (r".*.example.com", "https://a.example.com.evil.test"),
    (r".*example.com", "https://example.com.evil.test"),
    (r"(.*)\.example\.org", "https://a.example.org.evil.test"),
    (r"https://.*\.example\.com", "https://a.example.com.evil.test"),
    (r".*\.example\.com$", None),  # anchored at the end: re.match and the full match agree
    (r"^https://.*\.example\.com$", None),
    # a scheme class or a "//" start: the example is a web origin, not a://... or //...
    (r"[a-z]+://x\.com", "https://x.com.evil.test"),
    (r"\w+://.*\.example\.com", "https://a.example.com.evil.test"),
    (r".*//x\.example\.com", "https://x.example.com.evil.test"),
    (r"ftp://x\.com", "ftp://x.com.evil.test"),  # only another scheme matches: that one
])
def test_start_anchoring_examples_for_patterns_without_a_scheme(pattern, example):
    from gateway.importer.regexes import gateway_origin_regex, prefix_match_example

    assert prefix_match_example(pattern, 0, gateway_origin_regex(pattern, True)) == example


# --------------------------------------------------------------------------
# Several apps in one scan (issue 16, pattern 7): never merged silently
# --------------------------------------------------------------------------

SERVER_A = """
    from flask import Flask
    from flask_cors import CORS

    app = Flask(__name__)
    CORS(app, resources={r"/api/*": {"origins": "https://a.example.com"}})
"""
SERVER_B = """
    from flask import Flask, Blueprint
    from flask_cors import CORS

    app = Flask(__name__)
    admin = Blueprint("admin", __name__)
    CORS(admin, origins=["https://admin.example.com"], supports_credentials=True)


    @admin.route("/users")
    def users():
        return "[]"


    app.register_blueprint(admin, url_prefix="/admin")
    CORS(app, resources={r"/api/*": {"origins": "*"}})
"""


def two_servers(tmp_path: Path) -> Path:
    write(tmp_path, SERVER_A, "server_a.py")
    write(tmp_path, SERVER_B, "server_b.py")
    return tmp_path


def test_two_apps_with_flask_cors_are_never_merged(tmp_path):
    import io

    from gateway.importer import run_import
    from gateway.importer.pipeline import AppChoiceNeeded

    with pytest.raises(AppChoiceNeeded) as err:
        import_app(two_servers(tmp_path))
    assert err.value.apps == [("server_a", "app"), ("server_b", "app")]
    out, errors = io.StringIO(), io.StringIO()
    assert run_import(str(tmp_path), "http://127.0.0.1:5000", None, out, errors) == 2
    assert out.getvalue() == ""
    lines = errors.getvalue().splitlines()
    assert lines[0].startswith(f"{tmp_path / 'server_a.py'}:4: untranslatable: Flask app server_a:app: flask-cors "
                               "is set up on 2 apps in this scan (server_a:app, server_b:app)")
    assert lines[0].endswith("pick this one with --app server_a:app (or import its file alone)")
    assert lines[1].startswith(f"{tmp_path / 'server_b.py'}:4: untranslatable: Flask app server_b:app")
    assert lines[2] == ("cors-gateway import: flask-cors is set up on 2 Flask apps (server_a:app, server_b:app); "
                        "no config written: choose one with --app MODULE:NAME, or write one config per app with -o DIR")


def test_app_picks_one_apps_extensions_and_blueprints(tmp_path):
    two_servers(tmp_path)
    only_a = import_app(tmp_path, app="server_a:app")
    parse_config(only_a.config_yaml)
    assert [(scope, cors["origins"]) for scope, cors in routes(only_a)] == [
        (("re", "(?:/api/*)(?s:.*)"), ["https://a.example.com"]), ("/", []),
    ]
    only_b = import_app(tmp_path, app="server_b:app")
    parse_config(only_b.config_yaml)
    assert [(scope, cors["origins"]) for scope, cors in routes(only_b)] == [
        (("re", "/admin/users"), ["https://admin.example.com"]), (("re", "(?:/api/*)(?s:.*)"), ["*"]), ("/", []),
    ]


def test_app_must_name_an_app_of_the_scan(tmp_path):
    import io

    from gateway.importer import run_import

    two_servers(tmp_path)
    errors = io.StringIO()
    assert run_import(str(tmp_path), "http://127.0.0.1:5000", None, io.StringIO(), errors, app="server_c:app") == 2
    assert errors.getvalue() == ("cors-gateway import: --app 'server_c:app': no Flask app by that MODULE:NAME "
                                       "in the scanned files (found: server_a:app, server_b:app)\n")


def test_a_second_app_without_flask_cors_does_not_need_a_choice(tmp_path):
    write(tmp_path, SERVER_A, "server_a.py")
    write(tmp_path, """
        from flask import Flask

        app = Flask(__name__)  # a test fixture, say: no flask-cors

        @app.route("/ping")
        def ping():
            return "pong"
    """, "tests/fixture_app.py")
    result = import_app(tmp_path)
    assert [cors["origins"] for _, cors in routes(result)] == [["https://a.example.com"], []]


def test_the_cli_takes_app(tmp_path):
    two_servers(tmp_path)
    refused = subprocess.run([sys.executable, "-m", "gateway", "import", str(tmp_path)],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and refused.stdout == ""
    chosen = subprocess.run([sys.executable, "-m", "gateway", "import", str(tmp_path), "--app", "server_a:app"],
                            capture_output=True, text=True, timeout=60)
    assert chosen.returncode == 0, chosen.stderr
    assert "https://a.example.com" in chosen.stdout and "admin.example.com" not in chosen.stdout


def test_output_directory_gets_one_config_per_app(tmp_path):
    import io

    from gateway.importer import run_import

    scan = two_servers(tmp_path / "src")
    out_dir = tmp_path / "configs"  # not there yet: the trailing / says it is a directory
    out, errors = io.StringIO(), io.StringIO()
    assert run_import(str(scan), "http://127.0.0.1:5000", f"{out_dir}/", out, errors) == 0
    assert out.getvalue() == ""
    assert sorted(p.name for p in out_dir.iterdir()) == ["server_a.app.yaml", "server_b.app.yaml"]
    for name in ("server_a:app", "server_b:app"):
        written = (out_dir / f"{name.replace(':', '.')}.yaml").read_text()
        assert written == import_app(scan, app=name).config_yaml
        parse_config(written)
    text = errors.getvalue()
    assert text.startswith("cors-gateway import: flask-cors is set up on 2 Flask apps (server_a:app, server_b:app): "
                           f"one config each in {out_dir}/;")
    assert f"cors-gateway import: server_a:app -> {out_dir / 'server_a.app.yaml'}\n" in text
    assert f"cors-gateway import: server_b:app -> {out_dir / 'server_b.app.yaml'}\n" in text
    assert f"cors-gateway import: 1 route(s) from {scan} (server_a:app), " in text
    assert f"cors-gateway import: 2 route(s) from {scan} (server_b:app), " in text
    # --app with a directory writes that app's config only
    only = tmp_path / "only"
    only.mkdir()
    assert run_import(str(scan), "http://127.0.0.1:5000", str(only), io.StringIO(), io.StringIO(),
                      app="server_b:app") == 0
    assert [p.name for p in only.iterdir()] == ["server_b.app.yaml"]


def test_an_extension_on_an_unknown_app_stays_out_of_each_apps_config(tmp_path):
    import io

    from gateway.importer import run_import

    scan = two_servers(tmp_path / "src")
    write(scan, """
        from flask_cors import CORS
        from factory import make_app

        CORS(make_app(), origins="*")
    """, "server_c.py")
    out_dir = tmp_path / "out"
    errors = io.StringIO()
    assert run_import(str(scan), "http://127.0.0.1:5000", f"{out_dir}/", io.StringIO(), errors) == 0
    for name in ("server_a.app.yaml", "server_b.app.yaml"):
        assert "server_c.py" not in (out_dir / name).read_text(), name  # no route of its CORS(make_app())
    left_out = [line for line in errors.getvalue().splitlines() if ": untranslatable: CORS(make_app()" in line]
    assert [line.split("config for ")[1].split(" ")[0] for line in left_out] == ["server_a:app", "server_b:app"]
    assert left_out[0].startswith(f"{scan / 'server_c.py'}:4: untranslatable: CORS(make_app(), origins=\"*\"): the "
                                  "importer cannot tell which Flask app this extension is for")


def test_output_directory_is_made_only_when_a_config_is_written(tmp_path):
    import io

    from gateway.importer import run_import

    scan = two_servers(tmp_path / "src")
    errors = io.StringIO()
    assert run_import(str(scan), "http://127.0.0.1:5000", f"{tmp_path}/out/", io.StringIO(), errors,
                      app="nope:app") == 2
    assert not (tmp_path / "out").exists()
    write(tmp_path / "plain", "print('no flask here')\n", "tool.py")
    assert run_import(str(tmp_path / "plain"), "http://127.0.0.1:5000", f"{tmp_path}/out/", io.StringIO(),
                      io.StringIO()) == 1
    assert not (tmp_path / "out").exists()
    (tmp_path / "a-file").write_text("")
    errors = io.StringIO()
    assert run_import(str(scan), "http://127.0.0.1:5000", f"{tmp_path}/a-file/", io.StringIO(), errors) == 2
    assert errors.getvalue() == f"cors-gateway import: cannot write into {tmp_path}/a-file/: not a directory\n"


def test_output_directory_with_one_app_and_the_cli(tmp_path):
    write(tmp_path / "src", SERVER_A, "server_a.py")
    target = tmp_path / "out"
    target.mkdir()
    done = subprocess.run([sys.executable, "-m", "gateway", "import", str(tmp_path / "src"), "-o", str(target)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in target.iterdir()] == ["server_a.app.yaml"]
    assert "https://a.example.com" in (target / "server_a.app.yaml").read_text()
    two_servers(tmp_path / "src")
    both = subprocess.run([sys.executable, "-m", "gateway", "import", str(tmp_path / "src"), "-o", str(target)],
                          capture_output=True, text=True, timeout=60)
    assert both.returncode == 0, both.stderr
    assert sorted(p.name for p in target.iterdir()) == ["server_a.app.yaml", "server_b.app.yaml"]
    assert "admin.example.com" in (target / "server_b.app.yaml").read_text()
    assert "admin.example.com" not in (target / "server_a.app.yaml").read_text()


# --------------------------------------------------------------------------
# Constants folded across modules (issue 16, pattern 5)
# --------------------------------------------------------------------------


def test_f_strings_and_concatenations_of_constants_from_another_module(tmp_path):
    write(tmp_path, """
        API_PREFIX = "/api"
        DOMAIN = "example.com"
        PORT = 8443
    """, "pkg/const.py")
    write(tmp_path, "", "pkg/__init__.py")
    write(tmp_path, """
        from flask import Flask
        from flask_cors import CORS

        from . import const
        from .const import API_PREFIX, DOMAIN

        app = Flask(__name__)
        CORS(app, resources={
            f"{API_PREFIX}/*": {"origins": [f"https://app.{DOMAIN}", "https://admin." + DOMAIN,
                                            f"https://{DOMAIN}:{const.PORT}"]},
            API_PREFIX + "-public/*": {"origins": "*"},
        })
    """, "pkg/app.py")
    result = import_app(tmp_path)
    parse_config(result.config_yaml)
    assert [(scope, cors["origins"]) for scope, cors in routes(result)][:2] == [
        (("re", "(?:/api-public/*)(?s:.*)"), ["*"]),
        (("re", "(?:/api/*)(?s:.*)"), ["https://app.example.com", "https://admin.example.com",
                                       "https://example.com:8443"]),
    ]
    assert not found(result, "untranslatable")


@pytest.mark.parametrize("expression", ['f"{PREFIX!r}/*"', 'f"{os.environ[\'P\']}/*"', 'f"{FLAG}/*"'])
def test_f_strings_that_are_not_static_are_untranslatable(tmp_path, expression):
    result = imported(tmp_path, f"""
        import os
        from flask import Flask
        from flask_cors import CORS

        PREFIX = "/api"
        FLAG = True
        app = Flask(__name__)
        CORS(app, resources={{{expression}: {{"origins": "https://a.example.com"}}}})
    """)
    assert (8, f"resource {expression} is only known at run time; no route emitted for it: add it by hand") in found(
        result, "untranslatable")


# --------------------------------------------------------------------------
# Star imports (issue 16, pattern 3)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("exports, expected", [
    (None, ["https://a.example.com"]),  # no __all__: every public name
    ('["cors"]', ["https://a.example.com"]),
    ('["db"]', None),  # __all__ leaves cors out: the star import does not bind it
])
def test_an_extension_reached_through_a_star_import(tmp_path, exports, expected):
    write(tmp_path, "", "pkg/__init__.py")
    write(tmp_path, f"""
        from flask_cors import CORS

        {"" if exports is None else f"__all__ = {exports}"}
        cors = CORS()
        db = object()
    """, "pkg/extensions.py")
    write(tmp_path, """
        from flask import Flask

        from .extensions import *

        app = Flask(__name__)
        cors.init_app(app, resources={r"/api/*": {"origins": "https://a.example.com"}})
    """, "pkg/app.py")
    result = import_app(tmp_path)
    parse_config(result.config_yaml)
    if expected is None:
        assert result.routes_found == 0
    else:
        assert routes(result)[0] == (("re", "(?:/api/*)(?s:.*)"), routes(result)[0][1])
        assert routes(result)[0][1]["origins"] == expected


def test_cors_itself_through_a_chain_of_star_imports(tmp_path):
    write(tmp_path, "", "pkg/__init__.py")
    write(tmp_path, "from flask_cors import *\n", "pkg/base.py")
    write(tmp_path, "from .base import *\n", "pkg/extensions.py")
    write(tmp_path, """
        from flask import Flask

        from .extensions import *

        app = Flask(__name__)
        CORS(app, origins=["https://b.example.com"])


        @app.route("/x")
        @cross_origin(origins=["https://c.example.com"])
        def x():
            return "x"
    """, "pkg/app.py")
    result = import_app(tmp_path)
    parse_config(result.config_yaml)
    origins = [cors["origins"] for _, cors in routes(result)]
    assert ["https://c.example.com"] in origins and ["https://b.example.com"] in origins


# --------------------------------------------------------------------------
# Origins from the environment (issue 16, pattern 6)
# --------------------------------------------------------------------------


def env_imported(tmp_path: Path, source: str) -> ImportResult:
    """Import the snippet; the emitted config loads with its variables set to an origin."""
    result = import_app(write(tmp_path, source))
    parse_config(result.config_yaml, env={"CORS_ORIGINS": "https://a.example.com", "FRONTEND": "https://a.example.com"})
    return result


@pytest.mark.parametrize("expression, emitted", [
    ('os.environ["CORS_ORIGINS"].split(",")', "${CORS_ORIGINS}"),
    ('[o.strip() for o in os.environ["CORS_ORIGINS"].split(",")]', "${CORS_ORIGINS}"),
    ('[o.strip() for o in os.getenv("CORS_ORIGINS", "").split(",") if o.strip()]', "${CORS_ORIGINS:-}"),
    ('os.environ["FRONTEND"]', ["${FRONTEND}"]),
    ('os.environ.get("FRONTEND", "https://app.example.com")', ["${FRONTEND:-https://app.example.com}"]),
    ('environ.get("FRONTEND")', ["${FRONTEND}"]),
    ('getenv("FRONTEND")', ["${FRONTEND}"]),
    ("SETTING", "${CORS_ORIGINS}"),  # a module constant read from the environment
])
def test_origins_from_the_environment_become_placeholders(tmp_path, expression, emitted):
    result = env_imported(tmp_path, f"""
        import os
        from os import environ, getenv

        from flask import Flask
        from flask_cors import CORS

        SETTING = os.environ["CORS_ORIGINS"].split(",")
        app = Flask(__name__)
        CORS(app, origins={expression})
    """)
    assert routes(result)[0][1]["origins"] == emitted
    variable = "FRONTEND" if "FRONTEND" in str(emitted) else "CORS_ORIGINS"
    assert [m for _, m in found(result, "warning") if m.startswith(f"origins come from the environment variable "
                                                                    f"{variable} (")]
    assert not found(result, "untranslatable")


def test_environment_origins_are_read_by_the_gateway_from_its_own_environment(tmp_path):
    from gateway.config import ConfigError

    result = env_imported(tmp_path, """
        import os
        from flask import Flask
        from flask_cors import CORS

        app = Flask(__name__)
        CORS(app, origins=os.environ["CORS_ORIGINS"].split(","), supports_credentials=True)
    """)
    config = parse_config(result.config_yaml, env={"CORS_ORIGINS": "https://a.example.com, https://b.example.com"})
    route = config.routes[0]
    assert [pattern.text for pattern in route.cors.origins] == ["https://a.example.com", "https://b.example.com"]
    assert route.cors.supports_credentials is True
    with pytest.raises(ConfigError, match="CORS_ORIGINS is not set"):
        parse_config(result.config_yaml, env={})


def test_environment_values_mixed_into_a_list_stay_untranslatable(tmp_path):
    result = env_imported(tmp_path, """
        import os
        from flask import Flask
        from flask_cors import CORS

        app = Flask(__name__)
        CORS(app, origins=[os.environ["A"], "https://b.example.com"], allow_headers=os.environ["H"])
    """)
    assert routes(result)[0][1]["origins"] == []
    messages = [m for _, m in found(result, "untranslatable")]
    assert any(m.startswith('origins [os.environ["A"], "https://b.example.com"] is only known at run time')
               for m in messages)
    assert any("environment variable H" in m for m in messages), messages


# --------------------------------------------------------------------------
# Settings loaded by name (issue 16, pattern 1): read, or never assumed "*"
# --------------------------------------------------------------------------

SETTINGS = """
    CORS_ORIGINS = ["https://app.example.com"]
    CORS_SUPPORTS_CREDENTIALS = True


    class Production:
        CORS_ORIGINS = ["https://prod.example.com"]
"""


def settings_app(tmp_path: Path, load: str) -> ImportResult:
    """Import a package whose app loads SETTINGS with ``load`` before ``CORS(app)``."""
    write(tmp_path, "", "pkg/__init__.py")
    write(tmp_path, SETTINGS, "pkg/settings.py")
    write(tmp_path, f"""
        import flask
        from flask import Flask
        from flask_cors import CORS

        from pkg import settings

        app = Flask(__name__)
        {load}
        CORS(app)
    """, "pkg/app.py")
    return import_app(tmp_path)


@pytest.mark.parametrize("load, origins, credentials", [
    ('app.config.from_object("pkg.settings")', ["https://app.example.com"], True),
    ('app.config.from_object("pkg.settings.Production")', ["https://prod.example.com"], None),
    ("app.config.from_object(settings)", ["https://app.example.com"], True),
    # a flask.Config filled first, then copied in (issue 16, pattern 1)
    ('config = flask.Config(".")\n        config.from_object("pkg.settings")\n        app.config.update(config)',
     ["https://app.example.com"], True),
    ('config = flask.Config(".")\n        config.from_object(settings.Production)\n'
     '        app.config.from_mapping(config)', ["https://prod.example.com"], None),
    ('config = flask.Config(".")\n        config["CORS_ORIGINS"] = ["https://x.example.com"]\n'
     '        config.update(CORS_SUPPORTS_CREDENTIALS=True)\n        app.config.update(config)',
     ["https://x.example.com"], True),
])
def test_settings_modules_loaded_by_name_are_read(tmp_path, load, origins, credentials):
    result = settings_app(tmp_path, load)
    parse_config(result.config_yaml)
    cors = routes(result)[0][1]
    assert cors["origins"] == origins and cors.get("supports_credentials") == credentials
    assert not [m for _, m in found(result, "warning") if "origins not set" in m]


@pytest.mark.parametrize("load", [
    'app.config.from_object("pkg.missing")',
    'app.config.from_pyfile("settings.cfg")',
    'app.config.from_envvar("APP_SETTINGS")',
    "for key in dir(settings):\n            if key.startswith('CORS_'):\n"
    "                app.config.setdefault(key, getattr(settings, key))",
    "for key in dir(settings):\n            app.config[key] = getattr(settings, key)",
    'config = flask.Config(".")\n        config.from_pyfile("settings.cfg")\n        app.config.update(config)',
])
def test_unread_settings_never_fall_back_to_every_origin(tmp_path, load):
    result = settings_app(tmp_path, load)
    parse_config(result.config_yaml)
    assert routes(result)[0][1]["origins"] == []
    messages = [m for _, m in found(result, "untranslatable")]
    assert any(m.startswith("origins not set here, and config loaded where the importer cannot read it") for m in messages)
    assert not any("allows every origin" in m for _, m in found(result, "warning"))


def test_settings_loaded_in_branches_are_announced(tmp_path):
    write(tmp_path, 'CORS_ORIGINS = ["https://good.example.com"]\n', "prod.py")
    write(tmp_path, 'CORS_ORIGINS = ["http://localhost:3000"]\n', "dev.py")
    write(tmp_path, """
        import os
        from flask import Flask
        from flask_cors import CORS

        app = Flask(__name__)
        if os.environ.get("PROD"):
            app.config.from_object("prod")
        else:
            app.config.from_object("dev")
        CORS(app)
    """, "app.py")
    result = import_app(tmp_path)
    assert [(line, m.split(";")[0]) for line, m in found(result, "warning")] == [
        (7, 'app.config.from_object("prod") runs conditionally'),
        (9, 'app.config.from_object("dev") runs conditionally'),
    ]


def test_a_config_object_in_a_factory(tmp_path):
    write(tmp_path, "", "pkg/__init__.py")
    write(tmp_path, SETTINGS, "pkg/settings.py")
    write(tmp_path, """
        import flask
        from flask_cors import CORS


        def create_app():
            app = flask.Flask(__name__)
            config = flask.Config(app.root_path)
            config.from_object("pkg.settings")
            app.config.update(config)
            CORS(app)
            return app
    """, "pkg/app.py")
    result = import_app(tmp_path)
    parse_config(result.config_yaml)
    cors = routes(result)[0][1]
    assert cors["origins"] == ["https://app.example.com"] and cors["supports_credentials"] is True
    assert result.findings == ()


GOOD = ["https://good.example.com"]
# A flask.Config copied into the app's config: read only in the plain form (bound once in the copy's
# scope, filled by top-level statements, named nowhere else), in source order; any other form is
# config the importer cannot read, so origins are [] with a warning, never a wrong list.
CONFIG_OBJECT_CASES = {
    "defaults then override, in source order": ("""
        config = flask.Config(app.root_path)
        config.from_object("pkg.settings")
        config["CORS_ORIGINS"] = ["https://good.example.com"]
        app.config.update(config)
    """, GOOD),
    "the last of two fills wins": ("""
        config = flask.Config(app.root_path)
        config.update(CORS_ORIGINS="*")
        config["CORS_ORIGINS"] = ["https://good.example.com"]
        app.config.update(config)
    """, GOOD),
    "a same-named local in another function": ("""
        def dev_config():
            config = flask.Config(".")
            config["CORS_ORIGINS"] = "*"
            return config
        config = flask.Config(".")
        config["CORS_ORIGINS"] = ["https://good.example.com"]
        app.config.update(config)
    """, []),
    "a Config that is not flask's": ("""
        class Config(dict):
            pass
        config = Config(CORS_ORIGINS="*")
        app.config.update(config)
    """, []),
    "defaults= on the Config": ("""
        config = flask.Config(".", defaults={"CORS_ORIGINS": "*"})
        app.config.update(config)
    """, []),
    "filled by a helper": ("""
        def fill(c):
            c["CORS_ORIGINS"] = "*"
        config = flask.Config(".")
        fill(config)
        app.config.update(config)
    """, []),
    "rebound": ("""
        config = flask.Config(".")
        config["CORS_ORIGINS"] = ["https://good.example.com"]
        config = flask.Config(".")
        config["CORS_ORIGINS"] = "*"
        app.config.update(config)
    """, []),
    "an item deleted": ("""
        config = flask.Config(".")
        config["CORS_ORIGINS"] = ["https://good.example.com"]
        del config["CORS_ORIGINS"]
        app.config.update(config)
    """, []),
    "augmented": ("""
        config = flask.Config(".")
        config["CORS_ORIGINS"] = ["https://good.example.com"]
        config["CORS_ORIGINS"] += ["https://partner.example.com"]
        app.config.update(config)
    """, []),
    "filled under an if": ("""
        config = flask.Config(".")
        if DEBUG:
            config["CORS_ORIGINS"] = "*"
        app.config.update(config)
    """, []),
    "copied under an if": ("""
        config = flask.Config(".")
        config["CORS_ORIGINS"] = "*"
        if DEBUG:
            app.config.update(config)
    """, []),
    "mutated after the copy": ("""
        config = flask.Config(".")
        config["CORS_ORIGINS"] = ["https://good.example.com"]
        app.config.update(config)
        config["CORS_ORIGINS"].append("https://evil.example")
    """, []),
}


@pytest.mark.parametrize("case", sorted(CONFIG_OBJECT_CASES))
def test_a_config_object_is_read_only_in_its_plain_form(tmp_path, case):
    fill, origins = CONFIG_OBJECT_CASES[case]
    write(tmp_path, "", "pkg/__init__.py")
    write(tmp_path, 'CORS_ORIGINS = "*"\n', "pkg/settings.py")
    body = textwrap.dedent(fill).strip().replace("\n", "\n        ")
    write(tmp_path, f"""
        import flask
        from flask_cors import CORS

        DEBUG = False
        app = flask.Flask(__name__)
        {body}
        CORS(app)
    """, "pkg/app.py")
    result = import_app(tmp_path)
    parse_config(result.config_yaml)
    assert routes(result)[0][1]["origins"] == origins
    unread = [m for _, m in found(result, "warning") if "only known at run time" in m]
    assert bool(unread) == (origins == [])


@pytest.mark.parametrize("load, source", [
    ("app.config.from_prefixed_env()", "from the environment (FLASK_CORS_ORIGINS, FLASK_CORS_SUPPORTS_CREDENTIALS"),
    ('app.config.from_prefixed_env(prefix="MYAPP")', "from the environment (MYAPP_CORS_ORIGINS, "),
    ('app.config.from_envvar("APP_SETTINGS")', "from the file the environment variable APP_SETTINGS names;"),
])
def test_config_from_the_environment_names_the_variables(tmp_path, load, source):
    result = settings_app(tmp_path, load)
    assert routes(result)[0][1]["origins"] == []
    loaders = [m for _, m in found(result, "warning") if "loads config at run time" in m]
    assert len(loaders) == 1 and loaders[0].startswith(f"{load} loads config at run time {source}"), loaders


def test_settings_loaded_after_cors_are_ignored_as_flask_cors_did(tmp_path):
    write(tmp_path, "", "pkg/__init__.py")
    write(tmp_path, SETTINGS, "pkg/settings.py")
    write(tmp_path, """
        from flask import Flask
        from flask_cors import CORS

        app = Flask(__name__)
        CORS(app, origins=["https://early.example.com"])
        app.config.from_object("pkg.settings")
    """, "pkg/app.py")
    result = import_app(tmp_path)
    assert routes(result)[0][1]["origins"] == ["https://early.example.com"]
    assert any(m.startswith("CORS_ORIGINS is set after CORS() (line 5)") for _, m in found(result, "warning"))


# --------------------------------------------------------------------------
# CORS() in a helper called per blueprint (issue 16, pattern 2)
# --------------------------------------------------------------------------


def blueprint_package(tmp_path: Path, main: str) -> None:
    write(tmp_path, "", "app/__init__.py")
    write(tmp_path, "", "app/api/__init__.py")
    write(tmp_path, """
        from flask import Blueprint

        bp = Blueprint("users", __name__, url_prefix="/users")


        @bp.route("/")
        def index():
            return "[]"
    """, "app/api/users.py")
    write(tmp_path, """
        from flask import Blueprint

        bp = Blueprint("orders", __name__)


        @bp.route("/list")
        def index():
            return "[]"
    """, "app/api/orders.py")
    write(tmp_path, main, "app/main.py")


def test_cors_in_a_helper_called_per_blueprint_covers_each_blueprint_only(tmp_path):
    blueprint_package(tmp_path, """
        from flask import Flask
        from flask_cors import CORS

        from app.api import orders, users


        def enable_cors(blueprint):
            CORS(blueprint, origins="*")


        app = Flask(__name__)
        enable_cors(users.bp)
        enable_cors(blueprint=orders.bp)
        app.register_blueprint(users.bp)
        app.register_blueprint(orders.bp, url_prefix="/orders")


        @app.route("/admin")
        def admin():
            return "secret"
    """)
    result = import_app(tmp_path)
    parse_config(result.config_yaml)
    assert [(scope, cors["origins"]) for scope, cors in routes(result)] == [
        (("re", "/users/"), ["*"]), (("re", "/orders/list"), ["*"]), ("/", []),
    ]
    assert decide(result, "/admin", "https://evil.example")[1] != "allowed"


def test_cors_in_an_init_function_called_with_the_app(tmp_path):
    blueprint_package(tmp_path, """
        from flask import Flask
        from flask_cors import CORS


        def init_extensions(app):
            CORS(app, origins=["https://app.example.com"])


        def create_app():
            app = Flask(__name__)
            init_extensions(app)
            return app
    """)
    result = import_app(tmp_path)
    assert routes(result)[0] == ("/", routes(result)[0][1]) and routes(result)[0][1]["origins"] == [
        "https://app.example.com"]
    assert not found(result, "warning")


def test_cors_on_a_parameter_of_a_function_never_called_says_so(tmp_path):
    result = imported(tmp_path, """
        from flask_cors import CORS


        def setup(target):
            CORS(target, origins=["https://app.example.com"])
    """)
    assert routes(result)[0][1]["origins"] == ["https://app.example.com"]
    assert any(m.startswith('CORS(target, origins=["https://app.example.com"]): target is a parameter of a function '
                            "the importer found no call of") for _, m in found(result, "warning"))


# --------------------------------------------------------------------------
# Apps mounted under a prefix (issue 16, pattern 4)
# --------------------------------------------------------------------------

MOUNTED_API = """
    import os

    from flask import Flask
    from flask_cors import CORS
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    frontend = Flask(__name__)
    api = Flask("api")
    CORS(api, resources={r"/v1/*": {"origins": "https://app.example.com"}})


    @api.route("/v1/items")
    def items():
        return "[]"


    MOUNT
"""


def test_an_app_mounted_by_dispatcher_middleware_gets_its_prefix(tmp_path):
    result = imported(tmp_path, MOUNTED_API.replace(
        "MOUNT", 'frontend.wsgi_app = DispatcherMiddleware(frontend.wsgi_app, {"/api": api.wsgi_app})'))
    assert routes(result)[0][0] == ("re", "/api(?:(?:/v1/*)(?s:.*))")
    assert decide(result, "/api/v1/items", "https://app.example.com")[1] == "allowed"
    assert decide(result, "/v1/items", "https://app.example.com")[0] == "no-cors"  # the frontend's own path
    assert (17, "DispatcherMiddleware mounts app:api under /api: every emitted route's path starts with /api, as the "
                "server the gateway proxies to sees it") in found(result, "info")


@pytest.mark.parametrize("mount, message", [
    ('frontend.wsgi_app = DispatcherMiddleware(frontend.wsgi_app, {os.environ["P"]: api})',
     "DispatcherMiddleware mounts app:api under a prefix only known at run time"),
    ('register_app("/api", api)', "app:api is passed with the path '/api' here: if this mounts the app under /api"),
])
def test_a_prefix_that_cannot_be_known_is_announced(tmp_path, mount, message):
    result = imported(tmp_path, MOUNTED_API.replace("MOUNT", mount))
    assert routes(result)[0][0] == ("re", "(?:/v1/*)(?s:.*)")  # as served at /
    assert any(m.startswith(message) for _, m in found(result, "warning")), result.findings


# --------------------------------------------------------------------------
# From a review of the issue 16 changes: each of these was translated wrongly
# --------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [
    'import os\nif os.environ.get("ENV") == "prod":\n    CORS_ORIGINS = ["https://a.example.com"]\n'
    'else:\n    CORS_ORIGINS = ["https://b.example.com"]\n',
    "from pkg.base import *\n",
    "from pkg.base import CORS_ORIGINS\n",
])
def test_settings_the_importer_sees_only_in_part_never_give_every_origin(tmp_path, settings):
    write(tmp_path, "", "pkg/__init__.py")
    write(tmp_path, 'CORS_ORIGINS = ["https://app.example.com"]\n', "pkg/base.py")
    (tmp_path / "pkg/settings.py").write_text(settings)
    write(tmp_path, """
        from flask import Flask
        from flask_cors import CORS

        app = Flask(__name__)
        app.config.from_object("pkg.settings")
        CORS(app)
    """, "pkg/app.py")
    result = import_app(tmp_path)
    assert routes(result)[0][1]["origins"] == []
    assert any(m.startswith("origins not set here") for _, m in found(result, "untranslatable"))


@pytest.mark.parametrize("update", [
    "app.config.update(json.load(open('c.json')))",
    "app.config.update(SETTINGS)",  # SETTINGS is filled in after its literal
    "app.config.update(**SETTINGS)",
    "app.config.from_mapping(os.environ)",
])
def test_config_updates_that_cannot_be_read_never_give_every_origin(tmp_path, update):
    result = imported(tmp_path, f"""
        import json
        import os
        from flask import Flask
        from flask_cors import CORS

        SETTINGS = {{}}
        SETTINGS["CORS_ORIGINS"] = ["https://app.example.com"]
        app = Flask(__name__)
        {update}
        CORS(app)
    """)
    assert routes(result)[0][1]["origins"] == []


def test_the_last_star_import_wins_as_in_python(tmp_path):
    write(tmp_path, 'ALLOWED = "*"\n', "defaults.py")
    write(tmp_path, 'ALLOWED = ["https://app.example.com"]\n', "production.py")
    write(tmp_path, """
        from flask import Flask
        from flask_cors import CORS

        from defaults import *
        from production import *

        app = Flask(__name__)
        CORS(app, origins=ALLOWED)
    """, "app.py")
    assert routes(import_app(tmp_path))[0][1]["origins"] == ["https://app.example.com"]


def test_star_import_cycles_resolve_quickly(tmp_path):
    import time

    names = [f"m{i}" for i in range(6)]
    for name in names:
        write(tmp_path, "".join(f"from {other} import *\n" for other in names if other != name), f"{name}.py")
    write(tmp_path, """
        from flask import Flask
        from flask_cors import CORS

        from m0 import *

        app = Flask(__name__)
        CORS(app, origins=[UNKNOWN_A, UNKNOWN_B, UNKNOWN_C])
    """, "app.py")
    started = time.monotonic()
    import_app(tmp_path)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("helper, call", [
    ("def enable_cors(bp):", "enable_cors(api)"),  # the parameter shadows the module-level bp
    ("def enable_cors(app_, bp=api):", "enable_cors(app)"),  # left to its default
])
def test_a_helper_parameter_is_what_each_call_passes(tmp_path, helper, call):
    result = imported(tmp_path, f"""
        from flask import Blueprint, Flask
        from flask_cors import CORS

        app = Flask(__name__)
        bp = Blueprint("admin", __name__, url_prefix="/admin")
        api = Blueprint("api", __name__, url_prefix="/api")


        @bp.route("/secret")
        def secret():
            return "s"


        @api.route("/data")
        def data():
            return "d"


        {helper}
            CORS(bp, origins=["https://app.example.com"], supports_credentials=True)


        {call}
        app.register_blueprint(bp)
        app.register_blueprint(api)
    """)
    assert [(scope, cors["origins"]) for scope, cors in routes(result)] == [
        (("re", "/api/data"), ["https://app.example.com"]), ("/", [])]


def test_a_helper_given_its_argument_through_star_args_is_untranslatable(tmp_path):
    result = imported(tmp_path, """
        from flask import Blueprint, Flask
        from flask_cors import CORS

        app = Flask(__name__)
        api = Blueprint("api", __name__)


        def enable_cors(bp):
            CORS(bp, origins=["https://app.example.com"])


        enable_cors(*[api])
    """)
    assert result.routes_found == 0
    assert any("gets its argument through *args or **kwargs here" in m for _, m in found(result, "untranslatable"))


def test_nested_and_untied_mounts_are_announced_not_guessed(tmp_path):
    result = imported(tmp_path, """
        from flask import Flask
        from flask_cors import CORS
        from werkzeug.middleware.dispatcher import DispatcherMiddleware

        frontend = Flask(__name__)
        legacy = Flask("legacy")
        api = Flask("api")
        CORS(api, origins=["https://app.example.com"])


        def create_other():
            return Flask("other")


        frontend.wsgi_app = DispatcherMiddleware(
            frontend.wsgi_app, {"/v1": DispatcherMiddleware(legacy.wsgi_app, {"/api": api.wsgi_app}),
                                "/other": create_other()})
    """)
    assert routes(result)[0][0] == "/"  # no prefix guessed
    warnings = [m for _, m in found(result, "warning")]
    assert any(m.startswith("DispatcherMiddleware mounts app:api under a prefix only known at run time") for m in warnings)
    assert any(m.startswith("DispatcherMiddleware mounts an app the importer cannot tie") for m in warnings)


def test_an_environment_default_holding_commas_allows_nothing_as_flask_cors_did(tmp_path):
    result = imported(tmp_path, """
        import os
        from flask import Flask
        from flask_cors import CORS

        app = Flask(__name__)
        CORS(app, origins=os.environ.get("CORS_ORIGINS", "https://a.example.com,https://b.example.com"))
    """)
    assert routes(result)[0][1]["origins"] == []
    assert any(m.startswith("origins from the environment variable CORS_ORIGINS with the default")
               for _, m in found(result, "untranslatable"))
