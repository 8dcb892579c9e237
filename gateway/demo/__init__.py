"""``cors-gateway demo``: a Flask upstream, the gateway, and a page on another origin.

Everything binds to 127.0.0.1.  The upstream is a plain Flask app with no CORS
code at all (``upstream.py``); the gateway runs ``demo.yaml``; the page
(``page.html``) is served on a second port, so it is a different origin, and
its buttons make one allowed and one rejected cross-origin call.

Ports: when the default upstream port (5000, Flask's default, which macOS's
AirPlay Receiver holds) is taken, the upstream gets a free port and the demo
says which; any other port that is taken (one given with ``--upstream-port``,
the gateway's, the admin listener's, the page's) ends the demo with one line
naming host:port and the flag to change, exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import threading
from importlib import resources

from aiohttp import web

from ..config import ConfigError, parse_config
from ..supervisor import ListenError

__all__ = ["DEFAULT_UPSTREAM_PORT", "DEMO_SETTINGS", "demo_config_text", "run_demo"]

HOST = "127.0.0.1"
DEFAULT_UPSTREAM_PORT = 5000

# The flag that changes each listener's port (the demo always binds 127.0.0.1).
DEMO_SETTINGS = {
    (listener, part): flag
    for listener, flag in (("public", "--port"), ("admin", "--admin-port"), ("upstream", "--upstream-port"),
                           ("frontend", "--frontend-port"))
    for part in ("port", "host")
}


def demo_config_text(port: int, admin_port: int, upstream_port: int, frontend_port: int) -> str:
    template = resources.files(__package__).joinpath("demo.yaml").read_text(encoding="utf-8")
    values = {"port": port, "admin_port": admin_port, "upstream_port": upstream_port, "frontend_port": frontend_port}
    for key, value in values.items():
        template = template.replace("{" + key + "}", str(value))
    return template


def _listening_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Werkzeug's own server does
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _upstream_socket(requested: int | None) -> socket.socket:
    """The upstream's listening socket: the port asked for, or the default, else (default taken) a free one."""
    port = DEFAULT_UPSTREAM_PORT if requested is None else requested
    try:
        return _listening_socket(port)
    except OSError as err:
        if requested is not None:
            raise ListenError("upstream", HOST, port, err) from None
        try:
            sock = _listening_socket(0)
        except OSError:
            raise ListenError("upstream", HOST, port, err) from None
        holder = " (on macOS, AirPlay Receiver holds it)" if sys.platform == "darwin" and port == 5000 else ""
        print(f"port {port} is taken{holder}: the demo upstream listens on {HOST}:{sock.getsockname()[1]} "
              f"instead (--upstream-port picks one)", file=sys.stderr, flush=True)
        return sock


def _start_upstream(sock: socket.socket):
    """Serve the demo Flask app on ``sock`` with Werkzeug's threaded server, in a thread."""
    from werkzeug.serving import make_server

    from .upstream import create_app

    # Werkzeug serves a duplicate of the descriptor; ``sock`` can be closed.
    server = make_server(HOST, sock.getsockname()[1], create_app(), threaded=True, fd=sock.fileno())
    thread = threading.Thread(target=server.serve_forever, name="demo-upstream", daemon=True)
    thread.start()
    return server


def explain_rejection(config, method: str, path: str, origin: str, headers: list[str]) -> dict:
    """What the gateway decides for a call from the demo page, with the gateway's own engine.

    The page cannot read a refused answer (the browser hides it), so its own
    server says why: the route, the status and one-line message of the 403,
    and the detail naming the config key.
    """
    from ..policy import Kind
    from ..routes import RouteTable, normalize_path

    table = RouteTable(config)
    route = table.match(None, normalize_path(path) or "/")
    policy = route.policy if route is not None else table.fallback
    simple = method in ("GET", "HEAD", "POST") and not headers
    if simple:
        decision = policy.actual(method, [origin])
    else:
        decision = policy.preflight([origin], [method], [", ".join(headers)] if headers else [])
    name = f"{route.name} (routes.{route.route.index})" if route is not None else "(none)"
    if decision.allowed:
        return {"route": name, "status": 200, "message": "allowed", "detail": "the gateway allows this call"}
    status = decision.status if decision.kind is Kind.PREFLIGHT or (
        route is not None and route.route.cors.on_reject == "block") else 200
    return {"route": name, "status": status, "message": decision.message.strip(),
            "detail": decision.detail or "see cors-gateway explain"}


async def _frontend(port: int, gateway_url: str, config=None) -> web.AppRunner:
    page = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    page = page.replace("{gateway}", gateway_url)

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def explain(request: web.Request) -> web.Response:
        query = request.query
        headers = [h.strip().lower() for h in query.get("headers", "").split(",") if h.strip()][:16]
        answer = explain_rejection(config, query.get("method", "GET")[:16], query.get("path", "/")[:512],
                                   query.get("origin", "")[:256], headers)
        return web.json_response(answer)

    app = web.Application()
    app.router.add_get("/", index)
    if config is not None:
        app.router.add_get("/explain", explain)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def run_demo(args: argparse.Namespace) -> int:
    from ..supervisor import new_event_loop, serve_single

    try:
        import flask  # noqa: F401
    except ImportError:
        print("the demo upstream needs Flask: pip install 'cors-gateway[demo]'", file=sys.stderr)
        return 1
    try:
        sock = _upstream_socket(args.upstream_port)
    except ListenError as err:
        print(err.message(DEMO_SETTINGS), file=sys.stderr)
        return 1
    upstream_port = sock.getsockname()[1]
    text = demo_config_text(args.port, args.admin_port, upstream_port, args.frontend_port)
    try:
        config = parse_config(text, source="demo.yaml")
    except ConfigError as err:  # pragma: no cover - the bundled config is tested
        sock.close()
        print(err, file=sys.stderr)
        return 1
    with sock:
        upstream = _start_upstream(sock)
    gateway_url = f"http://localhost:{args.port}"
    frontend_url = f"http://localhost:{args.frontend_port}"

    async def main() -> None:
        try:
            runner = await _frontend(args.frontend_port, gateway_url, config)
        except OSError as err:
            raise ListenError("frontend", HOST, args.frontend_port, err) from None

        def ready(gateway) -> None:
            print(
                f"demo upstream (Flask, no CORS code): http://{HOST}:{upstream_port}\n"
                f"frontend page (another origin):      {frontend_url}/  <- open this in a browser\n"
                f"admin page (routes, rejections, diagnose): http://{HOST}:{gateway.admin_port}/\n"
                f"try:\n"
                f"  curl -si -H 'Origin: {frontend_url}' {gateway_url}/api/hello\n"
                f"  curl -si -H 'Origin: https://evil.example' {gateway_url}/api/hello\n"
                f"Ctrl-C to stop.",
                flush=True,
            )

        try:
            await serve_single(config, None, None, None, on_ready=ready)
        finally:
            await runner.cleanup()

    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(main())
    except ListenError as err:  # one line: host:port, why, and the flag to change
        print(err.message(DEMO_SETTINGS), file=sys.stderr)
        return 1
    except OSError as err:
        print(f"cannot listen: {err} (try --port / --admin-port / --frontend-port)", file=sys.stderr)
        return 1
    finally:
        upstream.shutdown()
        upstream.server_close()
    return 0
