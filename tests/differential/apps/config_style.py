"""Options from app.config (CORS_ORIGINS, CORS_SUPPORTS_CREDENTIALS, ...), then a bare CORS(app)."""

from flask import Flask, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
app.config["CORS_ORIGINS"] = ["https://app.example.com", "https://admin.example.com"]
app.config["CORS_SUPPORTS_CREDENTIALS"] = True
app.config["CORS_EXPOSE_HEADERS"] = ["X-Trace"]
CORS(app)


@app.route("/profile", methods=["GET", "PUT", "DELETE"])
def profile():
    response = jsonify(profile={}, method=request.method)
    response.headers["X-Trace"] = "profile"
    return response


@app.post("/profile/avatar")
def avatar():
    response = jsonify(uploaded=True)
    response.headers["X-Trace"] = "avatar"
    return response
