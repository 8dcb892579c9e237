"""The ``cors-gateway`` command: run, check, explain, diagnose, import, demo."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from . import __version__
from .config import DEFAULT_CONFIG_PATH, ConfigError, GatewayConfig, load_config
from .logs import install_stdout_access_log, quiet_malformed_requests

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


def cmd_explain(args: argparse.Namespace) -> int:
    from .explain import explain
    from .routes import RouteTable

    config = _load_or_report(_config_path(args.config), env=dict(os.environ))
    if config is None:
        return 1
    _print_environment(config)
    result = explain(RouteTable(config), path=args.path, origin=args.origin, method=args.method,
                     headers=tuple(args.header), host=args.host, preflight=args.preflight,
                     credentials=args.credentials)
    for line in result.lines:
        print(line)
    return 0


_MAX_MESSAGE = 64 * 1024


def cmd_diagnose(args: argparse.Namespace) -> int:
    import json

    from .browser_errors import KNOWN_FORMATS, parse
    from .diagnosis import diagnose
    from .routes import RouteTable

    text = args.message if args.message is not None else sys.stdin.read(_MAX_MESSAGE + 1)
    if not text.strip():
        print("cors-gateway diagnose: no message: paste the browser's console error as the argument or on "
              "standard input", file=sys.stderr)
        return 2
    if len(text) > _MAX_MESSAGE:
        print("cors-gateway diagnose: the message is longer than 64 KiB; paste the one console error", file=sys.stderr)
        return 2
    error = parse(text)
    if error is None:
        print("cors-gateway diagnose: not a CORS error message this command knows; it reads " + KNOWN_FORMATS,
              file=sys.stderr)
        return 1
    config = _load_or_report(_config_path(args.config), env=dict(os.environ))
    if config is None:
        return 2
    records, asked = (), "not asked (--offline)"
    url, origin = error.url or args.url, error.origin or args.origin
    if not args.offline and url and origin:
        records, asked = _recorded_rejections(config, url, origin)
    result = diagnose(error, RouteTable(config), url=args.url, origin=args.origin, method=args.method,
                      gateway_url=args.gateway_url, rejections=records)
    if args.json:
        print(json.dumps({**result.to_json(), "gateway": asked}, indent=2))
    else:
        for line in result.lines():
            print(line)
        print(f"gateway: {asked}")
    return 0


def _recorded_rejections(config: GatewayConfig, url: str, origin: str) -> tuple[tuple, str]:
    """Ask the running gateway's admin listener for its recent rejections of this path and origin."""
    import json
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode, urlsplit

    from .rejections import Record

    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(config.admin_host, config.admin_host)
    where = f"http://{'[' + host + ']' if ':' in host else host}:{config.admin_port}"
    try:
        path = urlsplit(url).path or "/"
    except ValueError:
        return (), "not asked (the URL does not parse)"
    request = urllib.request.Request(
        f"{where}/api/rejections?{urlencode({'path': path, 'origin': origin, 'limit': 20})}")
    if config.admin_token:
        request.add_header("Authorization", f"Bearer {config.admin_token}")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            data = json.loads(response.read(4 * 1024 * 1024))
        records = tuple(Record(**{k: r[k] for k in Record.__slots__}) for r in data["records"])
    except urllib.error.HTTPError as err:
        hint = " (set admin.token, or the variable it reads, as the gateway has it)" if err.code == 401 else ""
        return (), f"{where} answered {err.code}{hint}: diagnosed without its records"
    except OSError as err:
        return (), f"not reachable at {where} ({err.__class__.__name__}): diagnosed without its records"
    except (ValueError, KeyError, TypeError) as err:
        return (), (f"{where} answered something that is not its rejections ({err.__class__.__name__}: another "
                    "program on the admin port, or another version?): diagnosed without its records")
    return records, f"{where} recorded {len(records)} rejection(s) of {path} from {origin}"


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

    diagnose = sub.add_parser("diagnose", help="explain a browser's CORS console error: the cause under the config "
                                               "and the config edit that fixes it")
    diagnose.add_argument("message", nargs="?", metavar="MESSAGE",
                          help="the console error, as copied (default: read standard input)")
    diagnose.add_argument("-c", "--config", help=config_help)
    diagnose.add_argument("--json", action="store_true", help="print one JSON object")
    diagnose.add_argument("--url", help="the request's URL, when the message does not name it")
    diagnose.add_argument("--origin", help="the page's origin, when the message does not name it (Firefox)")
    diagnose.add_argument("--method", help="the request's method, when the message does not name it")
    diagnose.add_argument("--gateway-url", help="the gateway's URL as pages call it (behind a load balancer or "
                                                "with a port other than listen.port)")
    diagnose.add_argument("--offline", action="store_true",
                          help="do not ask the running gateway (its admin listener) for its recent rejections")
    diagnose.set_defaults(func=cmd_diagnose)

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
