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
