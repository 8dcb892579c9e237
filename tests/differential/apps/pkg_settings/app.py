from flask import Flask, jsonify
from flask_cors import CORS

app = Flask(__name__)
app.config.from_object("pkg_settings.settings")
CORS(app)


@app.route("/items", methods=["GET", "POST"])
def items():
    response = jsonify(items=[])
    response.headers["X-Total-Count"] = "0"
    return response
