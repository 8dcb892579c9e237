"""resources={r"/api/*": {...}}: CORS on /api/ only; /public/ has none."""

from flask import Flask, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
cors = CORS(app, resources={r"/api/*": {"origins": "https://app.example.com"}})


@app.route("/api/orders", methods=["GET", "POST"])
def orders():
    response = jsonify(orders=[], method=request.method)
    response.headers["X-Total-Count"] = "0"
    return response


@app.route("/api/orders/<int:order_id>", methods=["GET", "PUT", "DELETE"])
def order(order_id):
    response = jsonify(id=order_id, method=request.method)
    response.headers["X-Trace"] = "order"
    return response


@app.get("/public/status")
def status():
    response = jsonify(status="ok")
    response.headers["X-Trace"] = "status"
    return response
