"""Per-view methods under an app-wide extension (issue 16, pattern 9).

flask-cors decorates every response of a covered path, Flask's 405 for a method the view does not take
included, and its preflight lists its own default methods, not the view's.
"""
from flask import Flask, jsonify
from flask_cors import CORS, cross_origin

app = Flask(__name__)
CORS(app, resources={r"/api/*": {"origins": ["https://app.example.com"]}})


@app.route("/api/items", methods=["GET"])
def items():
    return jsonify(items=[])


@app.post("/api/items/new")
def new_item():
    return jsonify(created=True), 201


@app.route("/api/items/<int:item>", methods=["GET", "PUT"])
def item(item):
    return jsonify(item=item)


@app.route("/open", methods=["GET", "POST"])
@cross_origin(methods=["GET"])
def open_view():
    return jsonify(open=True)
