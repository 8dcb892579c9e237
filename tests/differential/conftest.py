"""Real processes for the differential suite.

For the whole session:

* ``app_servers``: one Werkzeug process serves every corpus app *with*
  flask-cors, each app on its own loopback port; a second one serves the same
  app files *without* flask-cors: the no-op stub in ``no_flask_cors/`` is first
  on its ``PYTHONPATH``, so ``from flask_cors import CORS, cross_origin`` finds
  it instead of the real package;
* ``deployments``: per app, ``gateway.importer.import_app(app_file)`` writes a
  config (switched from ``mode: shadow`` to ``enforce``) and a gateway is
  started with the CLI (``python -m gateway run -c FILE``) in front of the
  app's stubbed copy, its listeners and upstream set by the ``CORS_GATEWAY_*``
  environment overrides.

Every port is chosen by the kernel (port 0) and read back from the process, so
concurrent test runs cannot collide.  All processes start at once, and an app
whose import or gateway start fails records the error instead, so only that
app's tests fail.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ..support import ROOT, stop_process, wait_for_port

HERE = Path(__file__).resolve().parent
APPS_DIR = HERE / "apps"
STUB_DIR = HERE / "no_flask_cors"
# A corpus app is a module (apps/NAME.py) or a package of modules (apps/NAME/, served from NAME.app),
# for the setups real projects spread over several files.
PACKAGES = sorted(p.name for p in APPS_DIR.iterdir() if p.is_dir() and (p / "app.py").is_file())
# A package holding several Flask apps (issue 16, pattern 7) is in the corpus once per app:
# corpus name -> (package, the app's MODULE:NAME, given to the importer as --app).
MULTI_APP = {
    "pkg_two_apps": ("pkg_two_apps", "pkg_two_apps.app:app"),
    "pkg_two_apps_admin": ("pkg_two_apps", "pkg_two_apps.admin:app"),
}
APP_NAMES = sorted([
    *(p.stem for p in APPS_DIR.glob("*.py") if p.stem != "__init__"),
    *(name for name in PACKAGES if name not in {package for package, _ in MULTI_APP.values()}),
    *MULTI_APP,
])
# Both the apps and the gateways run with this environment: the corpus's
# environment-driven setups read it (flask-cors at start-up, the gateway's ${NAME}).
CORPUS_ENV = {"DIFF_CORS_ORIGINS": "https://app.example.com, https://admin.example.com"}


def app_path(name: str) -> Path:
    """The file or package directory the importer reads for corpus app ``name``."""
    if name in MULTI_APP:
        return APPS_DIR / MULTI_APP[name][0]
    return APPS_DIR / name if name in PACKAGES else APPS_DIR / f"{name}.py"


def app_choice(name: str) -> str | None:
    """The importer's ``--app MODULE:NAME`` for corpus app ``name`` (None: the scan holds one app)."""
    return MULTI_APP[name][1] if name in MULTI_APP else None


def _served(name: str) -> str:
    """SERVE's argument for corpus app ``name``: NAME=FILE, or NAME=PACKAGE_DIR:MODULE:ATTR."""
    if name in MULTI_APP:
        return f"{name}={app_path(name)}:{MULTI_APP[name][1]}"
    if name in PACKAGES:
        return f"{name}={app_path(name)}:{name}.app:app"
    return f"{name}={app_path(name)}"

# Serves each NAME=FILE (its module-level ``app``, the file loaded under a module name of
# its own) or NAME=PACKAGE_DIR:MODULE:ATTR on a port of its own (threaded Werkzeug, like
# tests/apps/serve.py), prints {"NAME": port, ...} once all listen, and records which
# flask_cors it got.
SERVE = r"""
import importlib.util, json, sys, threading
from pathlib import Path
from werkzeug.serving import make_server
import flask_cors
ports = {"__flask_cors__": getattr(flask_cors, "STUB", False) and "stub" or flask_cors.__file__}
servers = []
for arg in sys.argv[1:]:
    name, _, where = arg.partition("=")
    path, _, target = where.partition(":")
    path = Path(path)
    if target:  # a package: MODULE:ATTR imported with its parent on sys.path, its modules importing each other
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        module_name, _, attr = target.partition(":")
        flask_app = getattr(importlib.import_module(module_name), attr)
    else:
        spec = importlib.util.spec_from_file_location("differential_app_" + path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        flask_app = module.app
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    ports[name] = server.server_port
    servers.append(server)
for server in servers:
    threading.Thread(target=server.serve_forever, daemon=True).start()
print(json.dumps(ports), flush=True)
threading.Event().wait()
"""


@dataclass
class AppServers:
    proc: subprocess.Popen
    ports: dict[str, int]
    flask_cors: str  # the flask_cors module the process imported ("stub", or the real package's file)

    def url(self, app: str) -> str:
        return f"http://127.0.0.1:{self.ports[app]}"


@dataclass
class Deployment:
    """One app behind its imported gateway config (or why that could not be set up)."""

    name: str
    app_file: Path
    result: object = None  # gateway.importer.ImportResult
    config_path: Path | None = None
    port: int = 0
    proc: subprocess.Popen | None = None
    stderr_path: Path | None = None
    error: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text(errors="replace")


def enforced(config_yaml: str) -> str:
    """The imported config at its step 4: ``mode: enforce`` instead of the ``shadow`` it starts in.

    The importer emits ``mode: shadow`` (flask-cors still in charge, the gateway
    only counting disagreements); here flask-cors is gone, so the gateway decides.
    """
    config = yaml.safe_load(config_yaml)
    for cors in [config.get("defaults", {}).get("cors", {}), *(r.get("cors", {}) for r in config["routes"])]:
        if cors.get("mode") == "shadow":
            cors["mode"] = "enforce"
    return yaml.safe_dump(config, sort_keys=False)


LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+) ")


def _listening_port(deployment: Deployment, timeout: float = 20.0) -> int:
    """The public port the gateway bound, from its start-up line on stderr."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = LISTENING.search(deployment.stderr())
        if found:
            return int(found.group(1))
        if deployment.proc.poll() is not None:
            raise RuntimeError(f"exited with {deployment.proc.returncode}")
        time.sleep(0.05)
    raise RuntimeError(f"no 'listening on' line after {timeout}s")


def _serve_apps(stub: bool, stderr_path: Path) -> subprocess.Popen:
    env = {**os.environ, **CORPUS_ENV}
    if stub:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(STUB_DIR), env.get("PYTHONPATH", "")]))
    # Werkzeug logs each request on stderr: a file, never an unread pipe (it would fill and block).
    with open(stderr_path, "w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-c", SERVE, *(_served(name) for name in APP_NAMES)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )


def _ready(proc: subprocess.Popen, stderr_path: Path) -> AppServers:
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=10)
        raise RuntimeError(f"app server exited with {proc.returncode}: {stderr_path.read_text()}")
    ports = json.loads(line)
    return AppServers(proc, ports, ports.pop("__flask_cors__"))


@pytest.fixture(scope="session")
def app_servers(tmp_path_factory):
    """(with flask-cors, without flask-cors): every corpus app, served twice."""
    logs = tmp_path_factory.mktemp("differential-apps")
    real_log, stubbed_log = logs / "with-flask-cors.stderr", logs / "without-flask-cors.stderr"
    real, stubbed = _serve_apps(False, real_log), _serve_apps(True, stubbed_log)
    try:
        servers = _ready(real, real_log), _ready(stubbed, stubbed_log)
        assert servers[0].flask_cors != "stub", servers[0].flask_cors
        assert servers[1].flask_cors == "stub", servers[1].flask_cors
        yield servers
    finally:
        for proc in (real, stubbed):
            stop_process(proc)


@pytest.fixture(scope="session")
def deployments(app_servers, tmp_path_factory):
    """{app name: Deployment}: each app's imported config, served by the CLI in front of the stubbed app."""
    _, stubbed = app_servers
    tmp = tmp_path_factory.mktemp("differential")
    found: dict[str, Deployment] = {}
    try:
        from gateway.importer import import_app
    except Exception as exc:  # noqa: BLE001 - reported by every test that needs it
        import_app = None
        import_error = f"cannot import gateway.importer.import_app: {exc!r}"

    for name in APP_NAMES:
        deployment = Deployment(name, app_path(name))
        found[name] = deployment
        if import_app is None:
            deployment.error = import_error
            continue
        try:
            deployment.result = import_app(str(deployment.app_file), upstream=stubbed.url(name), app=app_choice(name))
        except Exception as exc:  # noqa: BLE001
            deployment.error = f"import_app({deployment.app_file.name}) raised {exc!r}"
            continue
        deployment.config_path = tmp / f"{name}.yaml"
        deployment.config_path.write_text(enforced(deployment.result.config_yaml))
        # Port 0 for both listeners: the kernel picks free ports (no race with
        # concurrent test runs) and the gateway prints the one it got.
        env = {
            **os.environ,
            **CORPUS_ENV,
            "CORS_GATEWAY_LISTEN_HOST": "127.0.0.1",
            "CORS_GATEWAY_LISTEN_PORT": "0",
            "CORS_GATEWAY_ADMIN_HOST": "127.0.0.1",
            "CORS_GATEWAY_ADMIN_PORT": "0",
            "CORS_GATEWAY_UPSTREAM_URL": stubbed.url(name),
        }
        deployment.stderr_path = tmp / f"{name}.stderr"
        with open(deployment.stderr_path, "w") as stderr:
            deployment.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "--workers", "1", "-c", str(deployment.config_path)],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
            )
    try:
        for deployment in found.values():
            if deployment.proc is None:
                continue
            try:
                deployment.port = _listening_port(deployment)
                wait_for_port(deployment.port, deployment.proc, timeout=20)
            except RuntimeError as exc:
                deployment.error = (
                    f"gateway for {deployment.name} did not start ({exc}):\n{deployment.stderr()}\n"
                    f"config:\n{deployment.result.config_yaml}"
                )
        yield found
    finally:
        for deployment in found.values():
            if deployment.proc is not None:
                stop_process(deployment.proc)
