"""max_age as an int on one resource and as a timedelta on another."""

from datetime import timedelta

from flask import Flask, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
CORS(
    app,
    origins=["https://app.example.com"],
    resources={
        r"/fast/*": {"max_age": 600},
        r"/slow/*": {"max_age": timedelta(hours=1)},
    },
)


@app.route("/fast/ping", methods=["GET", "PUT"])
def fast():
    response = jsonify(pong=True, method=request.method)
    response.headers["X-Trace"] = "fast"
    return response


@app.route("/slow/ping", methods=["GET", "DELETE"])
def slow():
    response = jsonify(pong=True, method=request.method)
    response.headers["X-Trace"] = "slow"
    return response
