from flask import Flask, jsonify

from .const import API_PREFIX, DOMAIN
from .extensions import *  # noqa: F403

app = Flask(__name__)
cors.init_app(app, resources={f"{API_PREFIX}/*": {"origins": [f"https://app.{DOMAIN}"]}})  # noqa: F405


@app.route("/api/things")
def things():
    return jsonify(things=[])


@app.route("/home")
def home():
    return "home"
