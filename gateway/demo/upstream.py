"""The demo upstream: an ordinary Flask app with no CORS code at all."""

from __future__ import annotations

import itertools

from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask("cors_gateway_demo")
    counter = itertools.count(1)
    items: dict[str, dict] = {"1": {"id": "1", "name": "first item"}}

    @app.after_request
    def request_id(response):
        response.headers["X-Request-Id"] = f"demo-{next(counter)}"
        return response

    @app.get("/api/hello")
    def hello():
        return jsonify(message="hello from the Flask upstream", origin_seen=request.headers.get("Origin"))

    @app.route("/api/items/<item_id>", methods=["GET", "PUT", "DELETE"])
    def item(item_id: str):
        if request.method == "PUT":
            items[item_id] = {"id": item_id, **(request.get_json(silent=True) or {})}
        elif request.method == "DELETE":
            items.pop(item_id, None)
            return "", 204
        return jsonify(items.get(item_id, {}))

    @app.get("/admin/stats")
    def stats():
        return jsonify(items=len(items))

    return app


def serve(app, prog: str, description: str, argv: list[str] | None = None) -> None:
    """Serve a Flask ``app`` with Werkzeug's threaded server: ``python -m PROG --host H --port P``."""
    import argparse
    import signal
    import sys

    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to bind (default 5000)")
    args = parser.parse_args(argv)
    # As a container's PID 1, Python would ignore SIGTERM (no default action
    # for PID 1): exit on it, as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    run_simple(args.host, args.port, app, threaded=True)


def main(argv: list[str] | None = None) -> None:
    """Serve the demo upstream with Werkzeug: ``python -m gateway.demo.upstream --host H --port P``."""
    serve(create_app(), "python -m gateway.demo.upstream",
          "Serve the demo Flask upstream (no CORS code) with Werkzeug's threaded server.", argv)


if __name__ == "__main__":
    main()
