"""An app factory: cors = CORS() at import, cors.init_app(app, ...) inside create_app()."""

from flask import Flask, jsonify, request
from flask_cors import CORS

cors = CORS()


def create_app():
    app = Flask(__name__)
    cors.init_app(app, resources=r"/api/*", origins=["https://app.example.com"], max_age=120)

    @app.route("/api/tasks", methods=["GET", "POST"])
    def tasks():
        response = jsonify(tasks=[], method=request.method)
        response.headers["X-Total-Count"] = "0"
        return response

    @app.route("/api/tasks/<int:task>", methods=["GET", "PUT", "DELETE"])
    def task(task):
        response = jsonify(task=task, method=request.method)
        response.headers["X-Trace"] = "task"
        return response

    @app.get("/home")
    def home():
        response = jsonify(home=True)
        response.headers["X-Trace"] = "home"
        return response

    return app


app = create_app()
