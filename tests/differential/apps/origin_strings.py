"""Origin strings that do not mean what they seem to flask-cors: a glob (a regex to flask-cors), a trailing
slash (never equal to a browser's Origin), and a compiled regex."""

import re

from flask import Flask, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
CORS(
    app,
    origins=[
        "https://*.example.com",
        "https://app.example.com/",
        re.compile(r"https://(www|shop)\.example\.net"),
    ],
)


@app.route("/things", methods=["GET", "POST", "PUT"])
def things():
    response = jsonify(things=[], method=request.method)
    response.headers["X-Total-Count"] = "0"
    return response
