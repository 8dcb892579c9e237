"""CORS(app, origins=[...]): a fixed list of origins."""

from flask import Flask, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
CORS(app, origins=["https://app.example.com", "http://localhost:3000"])


@app.get("/api/users")
def users():
    response = jsonify(users=["ada", "linus"])
    response.headers["X-Total-Count"] = "2"
    return response


@app.route("/api/users/<name>", methods=["GET", "PUT", "DELETE"])
def user(name):
    response = jsonify(name=name, method=request.method)
    response.headers["X-Trace"] = "user"
    return response


@app.post("/api/login")
def login():
    response = jsonify(token="t0k3n")
    response.headers["X-Trace"] = "login"
    return response
