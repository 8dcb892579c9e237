"""One blueprint with CORS(bp), registered twice (two prefixes) and a nested child blueprint."""

from flask import Blueprint, Flask, jsonify, request
from flask_cors import CORS

api = Blueprint("api", __name__)
CORS(api, origins=["https://app.example.com"], supports_credentials=True)

admin = Blueprint("admin", __name__, url_prefix="/admin")


@api.route("/items", methods=["GET", "POST"])
def items():
    response = jsonify(items=[], method=request.method)
    response.headers["X-Total-Count"] = "0"
    return response


@admin.route("/users", methods=["GET", "DELETE"])
def users():
    response = jsonify(users=[], method=request.method)
    response.headers["X-Trace"] = "admin-users"
    return response


api.register_blueprint(admin)

app = Flask(__name__)
app.register_blueprint(api, url_prefix="/v1")
app.register_blueprint(api, url_prefix="/v2", name="api_v2")
