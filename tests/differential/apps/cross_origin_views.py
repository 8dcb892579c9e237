"""Per-view @cross_origin(...): each view its own policy, one view with none."""

from flask import Flask, abort, jsonify, request
from flask_cors import cross_origin

app = Flask(__name__)


@app.route("/open", methods=["GET", "POST"])
@cross_origin()
def open_view():
    response = jsonify(view="open", method=request.method)
    response.headers["X-Trace"] = "open"
    return response


@app.route("/partner/<int:pid>", methods=["GET", "PUT", "DELETE"])
@cross_origin(origins=["https://partner.example.net"], methods=["GET", "PUT"], expose_headers="X-Trace")
def partner(pid):
    response = jsonify(view="partner", pid=pid, method=request.method)
    response.headers["X-Trace"] = "partner"
    return response


@app.route("/internal", methods=["GET", "POST"])
def internal():
    response = jsonify(view="internal")
    response.headers["X-Trace"] = "internal"
    return response


@app.get("/legacy")
@cross_origin(automatic_options=False)
def legacy():
    response = jsonify(view="legacy")
    response.headers["X-Trace"] = "legacy"
    return response


@app.route("/guarded", methods=["GET", "PUT"])
@cross_origin(origins=["https://partner.example.net"])
def guarded():
    if "Authorization" not in request.headers:
        abort(401)
    raise RuntimeError("the view fails")
