"""Credentials with flask-cors's default origins "*": flask-cors reflects ANY origin with credentials."""

from flask import Flask, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
CORS(app, supports_credentials=True)


@app.route("/account", methods=["GET", "POST", "PUT"])
def account():
    response = jsonify(balance=42, method=request.method)
    response.headers["X-Trace"] = "account"
    return response


@app.route("/account/cards/<int:card>", methods=["GET", "DELETE"])
def card(card):
    response = jsonify(card=card, method=request.method)
    response.headers["X-Total-Count"] = "1"
    return response
