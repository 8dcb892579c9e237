"""A real Flask app: the S3 upstream (no CORS code) and peer (6) (flask-cors does CORS).

Under gunicorn, one worker of the gthread class (keep-alive, 4 threads):

    python -m gunicorn -w 1 -k gthread --threads 4 -b 127.0.0.1:P 'bench.peers.flask_app:create_app(False)'
    python -m gunicorn -w 1 -k gthread --threads 4 -b 127.0.0.1:P 'bench.peers.flask_app:create_app(True)'
"""

from __future__ import annotations

from flask import Flask, Response

from ..configs import ALLOW_HEADERS, ALLOWED_ORIGIN, MAX_AGE, METHODS, SMALL_JSON_BYTES


def create_app(with_cors: bool) -> Flask:
    app = Flask("bench_flask_cors" if with_cors else "bench_flask")

    @app.route("/api/data", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def data():
        return Response(SMALL_JSON_BYTES, mimetype="application/json")

    if with_cors:
        from flask_cors import CORS

        CORS(app, origins=[ALLOWED_ORIGIN], methods=list(METHODS), allow_headers=list(ALLOW_HEADERS),
             max_age=MAX_AGE)
    return app

