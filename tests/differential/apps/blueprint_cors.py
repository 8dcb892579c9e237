"""CORS(bp) on a blueprint registered with a url_prefix; the app's own routes have no CORS."""

from flask import Blueprint, Flask, jsonify, request
from flask_cors import CORS

api = Blueprint("api", __name__)
CORS(api, origins=["https://app.example.com"], expose_headers=["X-Total-Count"])


@api.route("/widgets", methods=["GET", "POST"])
def widgets():
    response = jsonify(widgets=[], method=request.method)
    response.headers["X-Total-Count"] = "0"
    return response


@api.route("/widgets/<int:wid>", methods=["GET", "PUT", "DELETE"])
def widget(wid):
    response = jsonify(id=wid, method=request.method)
    response.headers["X-Trace"] = "widget"
    return response


app = Flask(__name__)
app.register_blueprint(api, url_prefix="/api/v1")


@app.get("/health")
def health():
    response = jsonify(ok=True)
    response.headers["X-Trace"] = "health"
    return response
