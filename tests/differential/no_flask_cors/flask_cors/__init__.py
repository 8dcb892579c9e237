"""A stand-in for flask-cors that does nothing.

Put ``tests/differential/no_flask_cors`` first on ``PYTHONPATH`` and an app
written for flask-cors runs unchanged, but with no CORS code at all: the
gateway in front of it is then the only thing deciding CORS.
"""

from __future__ import annotations

__all__ = ["CORS", "cross_origin"]

STUB = True


class CORS:
    def __init__(self, app=None, **kwargs):
        self._options = kwargs

    def init_app(self, app, **kwargs):
        return None


def cross_origin(*args, **kwargs):
    def decorator(f):
        return f

    return decorator
