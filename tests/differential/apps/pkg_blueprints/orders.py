from flask import Blueprint, jsonify

bp = Blueprint("orders", __name__)


@bp.route("/list", methods=["GET", "PUT"])
def index():
    return jsonify(orders=[])
