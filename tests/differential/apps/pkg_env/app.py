import os

from flask import Flask, jsonify
from flask_cors import CORS

ORIGINS = [origin.strip() for origin in os.environ["DIFF_CORS_ORIGINS"].split(",") if origin.strip()]

app = Flask(__name__)
CORS(app, resources={r"/api/*": {"origins": ORIGINS}})


@app.route("/api/data", methods=["GET", "DELETE"])
def data():
    return jsonify(data=[])
