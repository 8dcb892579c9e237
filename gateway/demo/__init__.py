"""``cors-gateway demo``: a Flask upstream, the gateway, and a page on another origin.

Everything binds to 127.0.0.1.  The upstream is a plain Flask app with no CORS
code at all (``upstream.py``); the gateway runs ``demo.yaml``; the page
(``page.html``) is served on a second port, so it is a different origin, and
its buttons make one allowed and one rejected cross-origin call.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from importlib import resources

from aiohttp import web

from ..config import ConfigError, parse_config

__all__ = ["demo_config_text", "run_demo"]


def demo_config_text(port: int, admin_port: int, upstream_port: int, frontend_port: int) -> str:
    template = resources.files(__package__).joinpath("demo.yaml").read_text(encoding="utf-8")
    values = {"port": port, "admin_port": admin_port, "upstream_port": upstream_port, "frontend_port": frontend_port}
    for key, value in values.items():
        template = template.replace("{" + key + "}", str(value))
    return template


def _start_upstream(port: int):
    try:
        from werkzeug.serving import make_server

        from .upstream import create_app
    except ImportError:
        print("the demo upstream needs Flask: pip install 'cors-gateway[demo]'", file=sys.stderr)
        return None
    server = make_server("127.0.0.1", port, create_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="demo-upstream", daemon=True)
    thread.start()
    return server


async def _frontend(port: int, gateway_url: str) -> web.AppRunner:
    page = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    page = page.replace("{gateway}", gateway_url)

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def run_demo(args: argparse.Namespace) -> int:
    from ..cli import new_event_loop
    from ..supervisor import serve_single

    text = demo_config_text(args.port, args.admin_port, args.upstream_port, args.frontend_port)
    try:
        config = parse_config(text, source="demo.yaml")
    except ConfigError as err:  # pragma: no cover - the bundled config is tested
        print(err, file=sys.stderr)
        return 1
    try:
        upstream = _start_upstream(args.upstream_port)
    except OSError as err:
        print(f"cannot start the demo upstream on port {args.upstream_port}: {err} (try --upstream-port)", file=sys.stderr)
        return 1
    if upstream is None:
        return 1
    gateway_url = f"http://localhost:{args.port}"
    frontend_url = f"http://localhost:{args.frontend_port}"

    async def main() -> None:
        runner = await _frontend(args.frontend_port, gateway_url)

        def ready(gateway) -> None:
            print(
                f"demo upstream (Flask, no CORS code): http://127.0.0.1:{args.upstream_port}\n"
                f"frontend page (another origin):      {frontend_url}/  <- open this in a browser\n"
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
    except OSError as err:
        print(f"cannot listen: {err} (try --port / --admin-port / --frontend-port)", file=sys.stderr)
        return 1
    finally:
        upstream.shutdown()
    return 0
