"""methods=[...]: flask-cors only consults them for preflights."""

from flask import Flask, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
CORS(app, origins=["https://app.example.com"], methods=["GET", "PUT"])


@app.route("/docs", methods=["GET", "POST"])
def docs():
    response = jsonify(docs=[], method=request.method)
    response.headers["X-Total-Count"] = "0"
    return response


@app.route("/docs/<int:doc>", methods=["GET", "PUT", "DELETE", "PATCH"])
def doc(doc):
    response = jsonify(doc=doc, method=request.method)
    response.headers["X-Trace"] = "doc"
    return response
