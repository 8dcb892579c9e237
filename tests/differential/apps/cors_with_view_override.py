"""App-wide CORS(app, ...) plus a @cross_origin(...) view that overrides it (the decorator wins)."""

from flask import Flask, jsonify, request
from flask_cors import CORS, cross_origin

app = Flask(__name__)
CORS(app, origins=["https://app.example.com"])


@app.route("/data", methods=["GET", "POST", "PUT"])
def data():
    response = jsonify(data=[], method=request.method)
    response.headers["X-Total-Count"] = "0"
    return response


@app.route("/embed", methods=["GET", "POST"])
@cross_origin(origins=["https://partner.example.net"], supports_credentials=True, expose_headers=["X-Trace"])
def embed():
    response = jsonify(embed=True, method=request.method)
    response.headers["X-Trace"] = "embed"
    return response
