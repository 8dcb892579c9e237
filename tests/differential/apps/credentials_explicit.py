"""Credentials with an explicit list of origins."""

from flask import Flask, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
CORS(app, origins=["https://app.example.com", "https://www.example.com"], supports_credentials=True)


@app.route("/me", methods=["GET", "PUT"])
def me():
    response = jsonify(user="ada", method=request.method)
    response.headers["X-Trace"] = "me"
    return response


@app.route("/cart/<int:line>", methods=["GET", "POST", "DELETE"])
def cart(line):
    response = jsonify(line=line, method=request.method)
    response.headers["X-Total-Count"] = "3"
    return response
