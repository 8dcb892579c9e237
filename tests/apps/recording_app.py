"""A plain Flask app with no CORS code, which records every request it receives.

Tests read ``GET /__requests`` (and clear it with ``DELETE /__requests``) to
assert whether, and how, the gateway forwarded a request.
"""

from __future__ import annotations

import gzip
import hashlib
import random
import threading
import time

from flask import Blueprint, Flask, Response, jsonify, redirect, request


def deterministic_bytes(size: int, seed: int) -> bytes:
    """The same pseudo-random bytes for the same (size, seed), in the app and in the tests."""
    return random.Random(seed).randbytes(size)


def create_app() -> Flask:
    app = Flask("recording_app")
    lock = threading.Lock()
    seen: list[dict] = []

    @app.before_request
    def record():
        if request.path == "/__requests":
            return None
        entry = {
            "method": request.method,
            "path": request.path,
            "raw_uri": request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI"),
            "query": request.query_string.decode("latin-1"),
            "headers": [[k, v] for k, v in request.headers.items()],
        }
        with lock:
            seen.append(entry)
        return None

    @app.route("/__requests", methods=["GET", "DELETE"])
    def requests_seen():
        with lock:
            if request.method == "DELETE":
                seen.clear()
                return "", 204
            return jsonify(seen)

    api = Blueprint("api", __name__)

    @api.route("/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
    def echo():
        body = request.get_data()
        response = jsonify(
            method=request.method,
            body_length=len(body),
            body=body[:200].decode("utf-8", "replace"),
            headers={k: v for k, v in request.headers.items()},
        )
        response.headers["X-Request-Id"] = "req-1"
        response.headers["X-Secret"] = "not-exposed"
        return response

    @api.get("/vary")
    def vary():
        response = jsonify(ok=True)
        response.headers["Vary"] = "Accept-Encoding, origin"
        return response

    @api.get("/multi-cookie")
    def cookies():
        response = jsonify(ok=True)
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return response

    @api.get("/gzip")
    def gzipped():
        body = gzip.compress(b'{"compressed": true}')
        return Response(body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    @api.get("/redirect")
    def moved():
        return redirect(request.path.rsplit("/", 1)[0] + "/echo", code=302)

    @api.get("/redirect-away")
    def moved_away():
        # To another origin (the upstream's own address, say): test-only, the target is the query's.
        return redirect(request.args["to"], code=302)

    @api.get("/status/<int:code>")
    def status(code: int):
        return Response(status=code)

    @api.get("/untyped")
    def untyped():
        response = Response(b"raw bytes")
        del response.headers["Content-Type"]
        response.headers["Proxy-Authenticate"] = 'Basic realm="upstream"'
        return response

    @api.get("/error")
    def error():
        return jsonify(error="boom"), 500

    @api.get("/slow")
    def slow():
        time.sleep(float(request.args.get("delay", "2")))
        return jsonify(slow=True)

    @api.get("/download")
    def download():
        size = int(request.args.get("size", "1048576"))
        chunk = b"x" * 65536

        def generate():
            left = size
            while left > 0:
                piece = chunk if left >= len(chunk) else chunk[:left]
                left -= len(piece)
                yield piece

        return Response(generate(), mimetype="application/octet-stream")

    @api.get("/broken-stream")
    def broken_stream():
        def generate():
            yield b"x" * 65536
            raise RuntimeError("upstream dies mid-body")

        return Response(generate(), headers={"Content-Length": str(10 * 65536)}, mimetype="application/octet-stream")

    @api.get("/set-cookie")
    def set_cookie():
        response = jsonify(set=True)
        response.set_cookie("session", "s3cret", path="/", samesite="Lax", httponly=True)
        return response

    @api.get("/whoami")
    def whoami():
        return jsonify(session=request.cookies.get("session"))

    @api.get("/drip")
    def drip():
        chunks = int(request.args.get("chunks", "4"))
        delay = float(request.args.get("delay", "0.2"))

        def generate():
            for i in range(chunks):
                yield (f"chunk-{i};".ljust(1024, ".")).encode()
                time.sleep(delay)

        return Response(generate(), mimetype="text/plain")

    @api.route("/sha256", methods=["POST", "PUT"])
    def sha256():
        digest, total = hashlib.sha256(), 0
        while True:
            piece = request.stream.read(65536)
            if not piece:
                break
            digest.update(piece)
            total += len(piece)
        return jsonify(sha256=digest.hexdigest(), length=total)

    @api.get("/random")
    def random_bytes():
        size, seed = int(request.args["size"]), int(request.args.get("seed", "1"))
        return Response(deterministic_bytes(size, seed), mimetype="application/octet-stream")

    @api.post("/upload")
    def upload():
        total = 0
        stream = request.stream
        while True:
            piece = stream.read(65536)
            if not piece:
                break
            total += len(piece)
        return jsonify(received=total)

    @api.route("/with-own-cors", methods=["GET"])
    def own_cors():
        response = jsonify(ok=True)
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Credentials"] = "true"
        return response

    # The same endpoints under every prefix the tests route differently.
    for prefix in ("/api", "/public", "/blocked", "/other", "/creds", "/anyhdr", "/credsany", "/wild", "/regex",
                   "/cached", "/nocache", "/timeout", "/pna", "/plain"):
        app.register_blueprint(api, url_prefix=prefix, name=prefix.strip("/"))
    return app
