"""allow_headers=[...]: only these request headers may be sent cross-origin."""

from flask import Flask, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
CORS(app, origins=["https://app.example.com"], allow_headers=["Content-Type", "X-Custom"])


@app.route("/notes", methods=["GET", "POST"])
def notes():
    response = jsonify(notes=[], method=request.method)
    response.headers["X-Total-Count"] = "0"
    return response


@app.route("/notes/<int:note>", methods=["GET", "PUT", "DELETE"])
def note(note):
    response = jsonify(note=note, method=request.method)
    response.headers["X-Trace"] = "note"
    return response
