"""Regex origins: flask-cors compiles them and uses re.match (anchored at the start only)."""

from flask import Flask, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
CORS(app, origins=[r"https://.*\.example\.com", "https://app.example.org"])


@app.route("/search", methods=["GET", "POST"])
def search():
    response = jsonify(results=[], method=request.method)
    response.headers["X-Total-Count"] = "0"
    return response


@app.route("/search/<term>", methods=["GET", "PUT", "DELETE"])
def search_term(term):
    response = jsonify(term=term, method=request.method)
    response.headers["X-Trace"] = "term"
    return response
