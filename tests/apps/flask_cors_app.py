"""A Flask app that still runs flask-cors itself (the duplicate-header case)."""

from __future__ import annotations

from flask import Flask, jsonify
from flask_cors import CORS


def create_app() -> Flask:
    app = Flask("flask_cors_app")
    CORS(app, supports_credentials=True, expose_headers=["X-Upstream"])

    @app.route("/api/data", methods=["GET", "POST", "PUT"])
    @app.route("/fc/data", methods=["GET", "POST", "PUT"])
    def data():
        response = jsonify(source="flask-cors app")
        response.headers["X-Upstream"] = "yes"
        return response

    return app
