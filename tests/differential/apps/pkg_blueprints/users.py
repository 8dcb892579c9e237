from flask import Blueprint, jsonify

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.route("/list")
def index():
    return jsonify(users=[])
