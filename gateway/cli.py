"""The ``cors-gateway`` command: run, check, explain, import, demo."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from . import __version__
from .config import DEFAULT_CONFIG_PATH, ConfigError, GatewayConfig, load_config
from .http import SAFELISTED_METHODS
from .logs import install_stdout_access_log, quiet_malformed_requests
from .origins import PatternError, normalize_origin

__all__ = ["main"]


def _config_path(value: str | None) -> str:
    return value or os.environ.get("CORS_GATEWAY_CONFIG") or DEFAULT_CONFIG_PATH


def _load_or_report(path: str, env: dict[str, str] | None = None) -> GatewayConfig | None:
    try:
        config = load_config(path, env=env)
    except ConfigError as err:
        for issue in err.warnings:
            print(issue, file=sys.stderr)
        for issue in err.errors:
            print(issue, file=sys.stderr)
        print(f"{path}: {len(err.errors)} error(s); config refused", file=sys.stderr)
        return None
    for issue in config.warnings:
        print(issue, file=sys.stderr)
    return config


def _workers(value: str | None) -> int:
    from .supervisor import usable_cpus

    value = value or os.environ.get("CORS_GATEWAY_WORKERS") or "1"
    if value == "auto":
        return usable_cpus()
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"--workers must be a positive number or 'auto', not {value!r}")
    return int(value)


def cmd_run(args: argparse.Namespace) -> int:
    from .supervisor import ListenError, new_event_loop, run

    path = _config_path(args.config)
    workers = _workers(args.workers)
    config = _load_or_report(path, env=dict(os.environ))
    if config is None:
        return 1
    try:
        run(config, path, args.host, args.port, workers, new_event_loop)
    except ListenError as err:  # one line: host:port, why, and the flag or key to change
        print(err.message(), file=sys.stderr)
        return 1
    except OSError as err:
        print(f"cannot listen: {err}", file=sys.stderr)
        return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    path = _config_path(args.config)
    try:
        config = load_config(path, env=dict(os.environ))  # as `run` reads it: ${NAME}, CORS_GATEWAY_* overrides
    except ConfigError as err:
        for issue in [*err.errors, *err.warnings]:
            print(issue)
        print(f"{path}: {len(err.errors)} error(s), {len(err.warnings)} warning(s)")
        return 1
    for issue in config.warnings:
        print(issue)
    _print_environment(config)
    print(f"{path}: OK ({len(config.routes)} route(s), {len(config.warnings)} warning(s))")
    return 0


def _print_environment(config: GatewayConfig) -> None:
    """One line per key set from the environment, with its value as read (admin.token never shown)."""
    for value in config.environment:
        print(f"environment: {value}")


def _origin_problem(origin: str) -> str:
    if origin == "":
        return "the Origin header is empty"
    try:
        normal = normalize_origin(origin)
    except PatternError as err:
        return str(err)
    if normal != origin:
        return f'not in the form browsers send; a browser would send "{normal}"'
    return "not a serialized origin"


def cmd_explain(args: argparse.Namespace) -> int:
    from .routes import RouteTable, normalize_path

    config = _load_or_report(_config_path(args.config), env=dict(os.environ))
    if config is None:
        return 1
    _print_environment(config)
    table = RouteTable(config)
    path = normalize_path(args.path.partition("?")[0])
    if path is None:
        print("route: (none)  -- the path is refused with 400 (dot-segments, backslashes, '#', control characters "
              "or invalid UTF-8)")
        print("decision: rejected")
        print("reason: no_route")
        return 0
    route = table.match(args.host, path)
    method = args.method
    headers = [h.strip().lower() for h in args.header for h in h.split(",") if h.strip()]
    preflight = args.preflight or method not in SAFELISTED_METHODS or bool(headers)
    policy = route.policy if route is not None else table.fallback
    if preflight:
        decision = policy.preflight([args.origin], [method], [", ".join(headers)] if headers else [])
    else:
        decision = policy.actual(method, [args.origin])

    _explain_request(route, method, preflight)
    if route is not None and route.mode == "off":
        print("decision: allowed")
        print("reason: none (mode off: the gateway is a plain proxy here and adds no CORS headers)")
        return 0
    _explain_decision(route, policy, decision, args.origin)
    if args.credentials and decision.allowed:
        _explain_credentials(route, policy)
    _explain_answer(route, decision)
    return 0


def _explain_request(route, method: str, preflight: bool) -> None:
    """The route that serves the path, and whether a browser sends a preflight first."""
    if route is None:
        print("route: (none)  -- no route matches; the gateway answers 404, judged by defaults.cors")
    else:
        r = route.route
        where = f"path {r.path}" if r.path is not None else f"path_regex {r.path_regex}"
        print(f"route: {r.name} (routes.{r.index}: {where}, upstream {r.upstream}, mode {r.cors.mode})")
    if preflight:
        why = "method is not GET/HEAD/POST" if method not in SAFELISTED_METHODS else "non-safelisted headers"
        print(f"request: preflight (OPTIONS, Access-Control-Request-Method: {method}; a browser preflights: {why})")
    else:
        print(f"request: actual {method} (no preflight: simple method and no extra headers)")


def _explain_decision(route, policy, decision, origin: str) -> None:
    """decision, reason, and for a rejection what the policy allows and the key to change."""
    if route is None:
        print("decision: rejected")
        print("reason: no_route")
        reason = f" ({decision.reason.value})" if decision.reason else ""
        print(f"defaults.cors for this origin: {decision.label}{reason}")
    else:
        print(f"decision: {decision.label if decision.allowed is not None else 'allowed'}")
        print(f"reason: {decision.reason.value if decision.reason else 'none'}")
    if decision.reason is None:
        return
    settings = policy.settings
    detail = decision.message.split(": ", 2)[-1].strip()
    reason = decision.reason.value
    if reason == "malformed_origin":
        detail = _origin_problem(origin)
    elif reason == "origin_not_allowed":
        allowed = [("re:" if p.kind == "regex" else "") + p.text for p in settings.origins] or ["(none)"]
        detail += "; allowed origins: " + ", ".join(allowed)
    elif reason == "method_not_allowed":
        detail += "; allowed methods: " + (", ".join(settings.methods) if settings.methods is not None else "*")
    elif reason == "header_not_allowed":
        names = settings.allow_headers
        detail += "; allowed headers: " + (", ".join(names) if names is not None else "*")
    print(f"detail: {detail}")
    if decision.detail and reason != "malformed_origin":
        print(f"fix: {decision.detail}")


def _explain_credentials(route, policy) -> None:
    """``--credentials``: will the browser share an allowed answer with a credentialed request?"""
    where = f"routes.{route.route.index}.cors" if route is not None else "defaults.cors"
    if policy.public:
        print('browser: refuses the answer: a request with credentials (cookies, credentials: "include") is '
              'never shared with Access-Control-Allow-Origin: *')
        print(f"fix: list the allowed origins in {where}.origins and set {where}.supports_credentials: true")
    elif not policy.settings.supports_credentials:
        print("browser: refuses the answer: a request with credentials needs "
              "Access-Control-Allow-Credentials: true, which this route does not send")
        print(f"fix: set {where}.supports_credentials: true (the origins are listed, so this is safe)")
    else:
        print("browser: shares the answer with credentials (Access-Control-Allow-Credentials: true)")


def _explain_answer(route, decision) -> None:
    """What the gateway does with the request, and the headers it answers with."""
    from .policy import Kind

    if route is not None and decision.kind is not Kind.PREFLIGHT and decision.allowed is False:
        blocked = route.route.cors.on_reject == "block"
        action = "403, upstream not called" if blocked else "forwarded without CORS headers"
        print(f"on_reject: {route.route.cors.on_reject} ({action})")
    if route is not None and decision.kind is Kind.PREFLIGHT:
        print(f"status: {decision.status}")
    print("headers:")
    for name, value in decision.headers:
        print(f"  {name}: {value}")
    if decision.vary:
        print(f"  Vary: {', '.join(decision.vary)}")
    if not decision.headers and not decision.vary:
        print("  (none)")


def cmd_import(args: argparse.Namespace) -> int:
    from .importer import run_import

    return run_import(args.app_path, args.upstream, args.output, app=args.app)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cors-gateway",
        description="A reverse-proxy CORS gateway for unmodified upstream services.",
    )
    parser.add_argument("--version", action="version", version=f"cors-gateway {__version__}")
    parser.add_argument("--log-level", default=os.environ.get("CORS_GATEWAY_LOG_LEVEL", "INFO"),
                        help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True)
    config_help = f"config file (default: $CORS_GATEWAY_CONFIG, else {DEFAULT_CONFIG_PATH})"

    run = sub.add_parser("run", help="run the gateway")
    run.add_argument("-c", "--config", help=config_help)
    run.add_argument("--host", help="override listen.host")
    run.add_argument("--port", type=int, help="override listen.port")
    run.add_argument("--workers", metavar="N|auto",
                     help="worker processes sharing the port (default $CORS_GATEWAY_WORKERS, else 1; "
                          "auto: usable CPUs, honouring the container's CPU quota)")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate a config: exit 0 if it loads, 1 if not")
    check.add_argument("-c", "--config", help=config_help)
    check.set_defaults(func=cmd_check)

    explain = sub.add_parser("explain", help="say what the gateway would answer to a request, and why")
    explain.add_argument("-c", "--config", help=config_help)
    explain.add_argument("--path", required=True, help="request path, e.g. /api/users")
    explain.add_argument("--origin", required=True, help="the Origin header value")
    explain.add_argument("--method", default="GET", help="the method the page uses (default GET)")
    explain.add_argument("--header", action="append", default=[], metavar="NAME",
                         help="a request header the page sets (repeatable), e.g. Authorization")
    explain.add_argument("--host", help="the Host header, for routes with host:")
    explain.add_argument("--preflight", action="store_true", help="treat as a preflight even for a simple request")
    explain.add_argument("--credentials", action="store_true",
                         help='the page sends credentials (cookies; fetch credentials: "include"): say whether '
                              "the browser shares the answer")
    explain.set_defaults(func=cmd_explain)

    importer = sub.add_parser("import", help="translate a Flask app's flask-cors setup into a config (read, never run)")
    importer.add_argument("app_path", metavar="APP_PATH", help="a .py file, or a directory (every *.py below it)")
    importer.add_argument("--upstream", default="http://127.0.0.1:5000",
                          help="the app's URL, for upstreams.app.url (default http://127.0.0.1:5000)")
    importer.add_argument("-o", "--output", metavar="FILE|DIR",
                          help="write the config here (default: stdout); a directory (existing, or ending "
                               "with /) gets one config per Flask app with flask-cors, as MODULE.NAME.yaml")
    importer.add_argument("--app", metavar="MODULE:NAME",
                          help="the Flask app to translate when the files hold several with flask-cors "
                               "(e.g. server:app; import refuses to merge them; or use -o DIR)")
    importer.set_defaults(func=cmd_import)

    demo = sub.add_parser("demo", help="run a demo: Flask upstream, gateway and a frontend page on another origin")
    demo.add_argument("--port", type=int, default=8080, help="gateway port (default 8080)")
    demo.add_argument("--admin-port", type=int, default=9090, help="admin port (default 9090)")
    demo.add_argument("--upstream-port", type=int,
                      help="demo Flask upstream port (default 5000, or a free port if 5000 is taken)")
    demo.add_argument("--frontend-port", type=int, default=8000, help="frontend page port (default 8000)")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = getattr(logging, str(args.log_level).upper(), None)
    if not isinstance(level, int):
        parser.error(f"unknown log level {args.log_level!r}")
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The access log is one JSON object per line on stdout, whatever --log-level
    # says (config access_log.enabled switches it off).
    install_stdout_access_log()
    quiet_malformed_requests()
    return args.func(args)
