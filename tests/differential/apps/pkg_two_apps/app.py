"""Two servers in one project (issue 16, pattern 7): the public API here, the admin app in admin.py.

Imported together they must not merge: one config per app (--app or -o DIR).
"""
from flask import Flask, jsonify
from flask_cors import CORS

app = Flask(__name__)
CORS(app, resources={r"/api/*": {"origins": "*"}})


@app.route("/api/catalog")
def catalog():
    return jsonify(items=[])


@app.route("/admin/users")
def not_the_admin():
    return "the public server's own page, never shared"
