"""The demo upstream *before* the gateway: the same Flask app doing CORS itself with flask-cors.

This is the starting point of README "Migrating from flask-cors" > "Try it on
the demo app": ``cors-gateway import gateway/demo/legacy_app.py`` translates
the ``CORS(...)`` call below into a gateway config, the gateway runs in shadow
mode in front of this app, then enforces in front of the plain demo upstream
(``upstream.py``: the same routes with no CORS code).  The routes are
``upstream.py``'s own (``create_app``); only the flask-cors setup is added.
Its policy is ``demo.yaml``'s, as far as flask-cors can say it: the same
origins, methods, request and exposed headers, ``max_age``, no credentials.
(``on_reject: block`` has no flask-cors equivalent: flask-cors answers a
disallowed origin, only without CORS headers.)

Serve it like the demo upstream: ``python -m gateway.demo.legacy_app --port 5000``.
flask-cors is needed (``pip install 'cors-gateway[demo]'``); nothing else in
the gateway imports it.
"""

from __future__ import annotations

from flask_cors import CORS

from gateway.demo.upstream import create_app, serve

# The frontend page of `cors-gateway demo` (its default --frontend-port).
FRONTEND_ORIGINS = ["http://localhost:8000", "http://127.0.0.1:8000"]

app = create_app()
CORS(
    app,
    resources={
        r"/api/*": {
            "origins": FRONTEND_ORIGINS,
            "methods": ["GET", "POST", "PUT", "DELETE"],
            "allow_headers": ["Content-Type", "Authorization"],
            "expose_headers": ["X-Request-Id"],
            "max_age": 600,
        },
        r"/admin/*": {"origins": ["https://admin.example.com"]},
    },
    supports_credentials=False,
)


def main(argv: list[str] | None = None) -> None:
    """Serve the legacy app with Werkzeug: ``python -m gateway.demo.legacy_app --host H --port P``."""
    serve(app, "python -m gateway.demo.legacy_app",
          "Serve the demo Flask app with its own flask-cors setup (the 'before' of the migration).", argv)


if __name__ == "__main__":
    main()
