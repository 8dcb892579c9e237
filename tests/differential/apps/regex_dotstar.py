"""An origin regex that starts with ".*" and has no scheme (seen in real projects).

flask-cors's re.match anchors only the start, and ".*" eats the scheme: it
accepts any origin that merely contains "<char>example.com" followed by
anything, https://a.example.com.com and https://a.example.com.evil.test
included.  The importer must say so as a security finding, not as info.
"""

from flask import Flask, jsonify, request
from flask_cors import CORS

app = Flask(__name__)
CORS(app, origins=[r".*.example.com"])


@app.route("/things", methods=["GET", "POST"])
def things():
    response = jsonify(things=[], method=request.method)
    response.headers["X-Total-Count"] = "0"
    return response
