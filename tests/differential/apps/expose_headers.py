"""expose_headers: the page may read X-Total-Count and X-Trace."""

from flask import Flask, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
CORS(app, origins="https://app.example.com", expose_headers=["X-Total-Count", "X-Trace"])


@app.route("/reports", methods=["GET", "POST"])
def reports():
    response = jsonify(reports=[], method=request.method)
    response.headers["X-Total-Count"] = "7"
    response.headers["X-Trace"] = "reports"
    return response


@app.route("/reports/<int:rid>", methods=["GET", "PUT", "DELETE"])
def report(rid):
    response = jsonify(id=rid, method=request.method)
    response.headers["X-Trace"] = "report"
    response.headers["X-Total-Count"] = "1"
    return response
