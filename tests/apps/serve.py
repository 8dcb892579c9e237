"""Serve a WSGI app factory on a loopback port with Werkzeug's threaded server.

Used by the test fixtures to run real, unmodified Flask apps in their own
process:  python -m tests.apps.serve tests.apps.recording_app:create_app PORT
"""

from __future__ import annotations

import importlib
import sys

from werkzeug.serving import make_server


def main() -> None:
    target, port = sys.argv[1], int(sys.argv[2])
    module_name, factory = target.split(":")
    app = getattr(importlib.import_module(module_name), factory)()
    server = make_server("127.0.0.1", port, app, threaded=True)
    print(f"serving {target} on {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
