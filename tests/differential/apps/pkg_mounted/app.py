from flask import Flask, jsonify
from flask_cors import CORS
from werkzeug.middleware.dispatcher import DispatcherMiddleware

app = Flask(__name__)  # the web UI, served at /
api = Flask("api")
CORS(api, resources={r"/v1/*": {"origins": "https://app.example.com"}})


@api.route("/v1/items")
def items():
    return jsonify(items=[])


@app.route("/v1/items")
def ui_page():
    return "the web UI's own page, not for other sites"


app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/api": api.wsgi_app})
