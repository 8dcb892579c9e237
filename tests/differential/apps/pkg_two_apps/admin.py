"""The admin server of the pkg_two_apps project: credentials, one origin, its own paths."""
from flask import Flask, jsonify
from flask_cors import CORS

app = Flask(__name__)
CORS(app, resources={r"/admin/*": {"origins": ["https://admin.example.com"]}}, supports_credentials=True)


@app.route("/admin/users", methods=["GET", "DELETE"])
def users():
    response = jsonify(users=[])
    response.headers["X-Trace"] = "admin"
    return response


@app.route("/api/catalog")
def catalog_copy():
    return jsonify(items=["admin's copy, never shared"])
