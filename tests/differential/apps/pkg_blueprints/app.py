from flask import Flask
from flask_cors import CORS

from . import orders, users


def enable_cors(blueprint):
    CORS(blueprint, origins=["https://app.example.com"])


app = Flask(__name__)
enable_cors(users.bp)
enable_cors(orders.bp)
app.register_blueprint(users.bp)
app.register_blueprint(orders.bp, url_prefix="/orders")


@app.route("/admin")
def admin():
    return "not for other sites"
