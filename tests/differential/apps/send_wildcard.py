"""send_wildcard=True: a literal Access-Control-Allow-Origin: * instead of the reflected origin."""

from flask import Flask, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
CORS(app, send_wildcard=True, expose_headers="X-Total-Count")


@app.route("/feed", methods=["GET", "POST"])
def feed():
    response = jsonify(feed=[], method=request.method)
    response.headers["X-Total-Count"] = "0"
    return response


@app.route("/feed/<int:entry>", methods=["GET", "PUT", "DELETE"])
def entry(entry):
    response = jsonify(entry=entry, method=request.method)
    response.headers["X-Trace"] = "entry"
    return response
