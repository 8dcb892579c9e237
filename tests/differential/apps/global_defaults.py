"""CORS(app) with flask-cors's defaults: every origin, every path."""

from flask import Flask, abort, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
CORS(app)

ITEMS = {1: "apple", 2: "pear"}


@app.route("/items", methods=["GET", "POST"])
def items():
    if request.method == "POST":
        response = jsonify(created=True)
        response.status_code = 201
    else:
        response = jsonify(items=list(ITEMS.values()))
    response.headers["X-Total-Count"] = str(len(ITEMS))
    return response


@app.route("/items/<int:item_id>", methods=["GET", "PUT", "DELETE"])
def item(item_id):
    response = jsonify(id=item_id, method=request.method)
    response.headers["X-Trace"] = "items-" + str(item_id)
    return response


@app.route("/guarded", methods=["GET", "PUT"])
def guarded():
    if "Authorization" not in request.headers:
        abort(401)
    raise RuntimeError("the view fails")
