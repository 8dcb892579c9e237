"""Resources whose flask-cors order is neither dict order nor "longest first": literals first, then more "/"."""

from flask import Flask, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
CORS(
    app,
    resources={
        r"/api/.*secret.*": {"origins": ["https://secret.example.com"]},
        r"/api/v1/*": {"origins": ["https://app.example.com"], "expose_headers": ["X-Trace"]},
        "/api/v1/status": {"origins": "*"},
    },
)


@app.get("/api/v1/secret")
def v1_secret():
    response = jsonify(secret="v1", method=request.method)
    response.headers["X-Trace"] = "v1-secret"
    return response


@app.route("/api/v2/secret", methods=["GET", "PUT"])
def v2_secret():
    response = jsonify(secret="v2", method=request.method)
    response.headers["X-Trace"] = "v2-secret"
    return response


@app.get("/api/v1/status")
def status():
    response = jsonify(status="ok")
    response.headers["X-Trace"] = "status"
    return response
