"""allow_headers with a regex (flask-cors compiles strings that look like regexes) and a string origin."""

import re

from flask import Flask, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
CORS(app, origins="https://app.example.com", allow_headers=[r"X-Custom.*", "Content-Type"], methods="GET, POST, PUT")


@app.route("/uploads", methods=["GET", "POST"])
def uploads():
    response = jsonify(uploads=[], method=request.method)
    response.headers["X-Total-Count"] = "0"
    return response


@app.route("/uploads/<path:name>", methods=["GET", "PUT", "DELETE"])
def upload(name):
    response = jsonify(name=name, method=request.method, safe=bool(re.fullmatch(r"[\w./-]+", name)))
    response.headers["X-Trace"] = "upload"
    return response
