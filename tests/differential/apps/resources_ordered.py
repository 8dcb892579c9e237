"""Several resources with different options: the most specific pattern wins, not dict order."""

from flask import Flask, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
CORS(
    app,
    resources={
        r"/api/*": {"origins": "*"},
        r"/api/admin/*": {
            "origins": ["https://admin.example.com"],
            "supports_credentials": True,
            "expose_headers": ["X-Trace"],
        },
        r"/api/v2/*": {"origins": ["https://app.example.com"], "methods": ["GET", "POST", "PUT"]},
    },
)


@app.get("/api/catalog")
def catalog():
    response = jsonify(catalog=["a", "b"])
    response.headers["X-Total-Count"] = "2"
    return response


@app.route("/api/admin/settings", methods=["GET", "PUT", "DELETE"])
def settings():
    response = jsonify(settings={}, method=request.method)
    response.headers["X-Trace"] = "admin"
    return response


@app.route("/api/v2/things", methods=["GET", "POST", "PUT", "DELETE"])
def things():
    response = jsonify(things=[], method=request.method)
    response.headers["X-Trace"] = "v2"
    return response
