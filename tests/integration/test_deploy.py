"""The deployment artifacts, checked offline (no Docker engine, no cluster).

* ``deploy/Dockerfile``: its shape (slim base, runtime dependencies only,
  uid 10001, ports, default config), and its exec-form CMD and HEALTHCHECK run
  on the host exactly as the image would run them, with the image's paths
  mapped into a temp dir and its ports onto free loopback ports.
* ``docker-compose.yml``: ``docker-compose config`` accepts it; every file it
  mounts or builds from exists; its ports, gateway config, scrape target and
  frontend page agree with each other.
* ``deploy/k8s``: the kustomize output (``kubectl kustomize`` when kubectl is
  installed, else this module's renderer of the plain-resources base) validates
  against the Kubernetes 1.30 schemas with kubernetes-validate; the
  ServiceMonitor, a CRD it has no schema for, is checked structurally; ports,
  probes, selectors, the ConfigMap mount and the gateway config are
  cross-checked.
* Every gateway config shipped in deploy/ passes ``cors-gateway check``.

Missing tools (docker-compose, kubectl, kubernetes-validate) fail the test
under CI and skip it elsewhere, saying why (``tests.support``).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

import pytest
import yaml

from gateway.config import ConfigError, load_config, parse_config
from tests.support import ROOT, free_port, require_binary, unavailable, wait_for_port

DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
DEMO_APP_DOCKERFILE = DEPLOY / "demo-app.Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_GATEWAY_CONFIG = DEPLOY / "compose" / "gateway.yaml"
FRONTEND_PAGE = DEPLOY / "compose" / "frontend" / "index.html"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
GRAFANA_DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
K8S = DEPLOY / "k8s"

# The documented config path inside the image.
IMAGE_CONFIG = "/etc/cors-gateway/gateway.yaml"
IMAGE_CMD = ["cors-gateway", "run", "--workers", "auto", "-c", IMAGE_CONFIG]
IMAGE_UID = 10001
# The Kubernetes version the manifests are validated against.
K8S_VERSION = "1.30.0"
VENV_BIN = Path(sys.executable).parent


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without the gateway's own overrides (a developer's shell may set them)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CORS_GATEWAY_") and k not in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")}
    env.update(extra)
    return env


def cors_gateway_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", "check", "-c", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=clean_env())


def assert_check_passes(path: Path) -> None:
    result = cors_gateway_check(path)
    assert result.returncode == 0, f"cors-gateway check -c {path}:\n{result.stdout}{result.stderr}"
    assert result.stdout.splitlines()[-1].startswith(f"{path}: OK"), result.stdout


# --------------------------------------------------------------------------
# Dockerfiles
# --------------------------------------------------------------------------

def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: comments dropped, `\\` continuations joined."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not current and not stripped):
            continue  # comments (also inside a continuation, as Docker does) and blank lines
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, rest = current.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        current = ""
    assert not current, f"{path}: the last instruction ends with a line continuation"
    return instructions


def stages(path: Path) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in dockerfile_instructions(path):
        if keyword == "FROM":
            result.append([])
        assert result, f"{path}: {keyword} before the first FROM"
        result[-1].append((keyword, rest))
    return result


def exec_form(rest: str, what: str) -> list[str]:
    assert rest.startswith("["), f"{what} must be in exec form (a JSON array), not {rest!r}"
    argv = json.loads(rest)
    assert isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv), what
    return argv


def last(stage: list[tuple[str, str]], keyword: str) -> str | None:
    values = [rest for kw, rest in stage if kw == keyword]
    return values[-1] if values else None


def image_argv(stage) -> list[str]:
    entrypoint = last(stage, "ENTRYPOINT")
    cmd = last(stage, "CMD")
    assert cmd is not None, "the final stage has no CMD"
    return (exec_form(entrypoint, "ENTRYPOINT") if entrypoint else []) + exec_form(cmd, "CMD")


def healthcheck_argv(stage) -> tuple[list[str], str]:
    rest = last(stage, "HEALTHCHECK")
    assert rest is not None, "the final stage has no HEALTHCHECK"
    match = re.fullmatch(r"((?:--[a-z-]+=\S+\s+)*)CMD\s+(.*)", rest, re.DOTALL)
    assert match, f"HEALTHCHECK must be [OPTIONS] CMD [exec form], not {rest!r}"
    return exec_form(match.group(2), "HEALTHCHECK CMD"), match.group(1)


def image_env(stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ENV":
            for item in shlex.split(rest):
                name, sep, value = item.partition("=")
                assert sep, f"ENV {rest!r}: use the NAME=value form"
                env[name] = value
    return env


def copies(stage) -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY/ADD from the build context (not --from)."""
    result = []
    for keyword, rest in stage:
        if keyword in ("COPY", "ADD"):
            parts = shlex.split(rest)
            flags = [p for p in parts if p.startswith("--")]
            paths = [p for p in parts if not p.startswith("--")]
            if not any(f.startswith("--from=") for f in flags):
                result.append((paths[:-1], paths[-1]))
    return result


def shipped_config_source() -> Path:
    """The file the image copies to /etc/cors-gateway/gateway.yaml."""
    for sources, destination in copies(stages(DOCKERFILE)[-1]):
        if destination == IMAGE_CONFIG:
            assert len(sources) == 1
            return ROOT / sources[0]
    pytest.fail(f"deploy/Dockerfile does not COPY a default config to {IMAGE_CONFIG}")


def dockerignored(path: str, patterns: list[str]) -> bool:
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        parts = PurePosixPath(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(p, pattern) or fnmatch.fnmatchcase(p, pattern.removeprefix("**/")) for p in prefixes):
            excluded = not negate
    return excluded


def test_dockerfile_shape():
    image_stages = stages(DOCKERFILE)
    for stage in image_stages:
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?( AS \w+)?", stage[0][1], re.IGNORECASE), stage[0][1]
    final = image_stages[-1]
    installs = [rest for stage in image_stages for kw, rest in stage if kw == "RUN" and "pip install" in rest]
    assert installs, "no pip install"
    for rest in installs:
        assert "--no-cache-dir" in rest, rest
        assert "[" not in rest and rest.split()[-1] == ".", f"runtime dependencies only, no extras: {rest}"
    user = last(final, "USER")
    assert user is not None and user.split(":")[0] == str(IMAGE_UID), user
    exposed = {p.split("/")[0] for rest in [r for k, r in final if k == "EXPOSE"] for p in rest.split()}
    assert {"8080", "9090"} <= exposed, exposed
    assert image_argv(final) == IMAGE_CMD
    health, _ = healthcheck_argv(final)
    assert health[0] == "python" and "/healthz" in " ".join(health), health
    assert shipped_config_source().is_file()


def test_dockerfile_copies_exist_and_are_not_dockerignored():
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.strip().startswith("#")]
    for excluded in (".venv", ".git", ".pytest_cache", "gateway/__pycache__"):
        assert dockerignored(excluded, patterns), f".dockerignore does not exclude {excluded}"
    for dockerfile in (DOCKERFILE, DEMO_APP_DOCKERFILE):
        for stage in stages(dockerfile):
            for sources, _ in copies(stage):
                for source in sources:
                    assert (ROOT / source).exists(), f"{dockerfile.name}: COPY {source}: no such file"
                    assert not dockerignored(source, patterns), f"{dockerfile.name}: COPY {source} is excluded by .dockerignore"


def test_demo_app_dockerfile_runs_the_demo_upstream():
    final = stages(DEMO_APP_DOCKERFILE)[-1]
    assert image_argv(final)[:3] == ["python", "-m", "gateway.demo.upstream"]
    user = last(final, "USER")
    assert user is not None and user.split(":")[0] == str(IMAGE_UID)


def test_shipped_gateway_configs_pass_check():
    assert_check_passes(shipped_config_source())
    assert_check_passes(COMPOSE_GATEWAY_CONFIG)


def test_shipped_config_is_for_the_sidecar_layout():
    config = yaml.safe_load(shipped_config_source().read_text())
    # The admin listener stays on loopback (the HEALTHCHECK reaches it there):
    # opening it takes CORS_GATEWAY_ADMIN_HOST with a token, never a default.
    assert config["admin"]["host"] == "127.0.0.1"
    assert "token" not in config["admin"] and "token_file" not in config["admin"]
    assert [u["url"] for u in config["upstreams"].values()] == ["http://127.0.0.1:5000"]


def _http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _wait_for_status(url: str, status: int, proc: subprocess.Popen, timeout: float = 20.0) -> bytes:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the gateway exited with {proc.returncode}"
        try:
            seen, body = _http_get(url)
        except OSError as err:
            seen = err
        else:
            if seen == status:
                return body
        time.sleep(0.1)
    raise AssertionError(f"GET {url}: wanted {status}, last saw {seen!r}")


def _image_layout_config(text: str, upstream_url: str) -> tuple[dict, int, int]:
    """A shipped config moved onto free loopback ports, proxying to the test's upstream."""
    config = yaml.safe_load(text)
    port, admin_port = free_port(), free_port()
    config["listen"] = {**(config.get("listen") or {}), "host": "127.0.0.1", "port": port}
    config["admin"] = {**(config.get("admin") or {}), "host": "127.0.0.1", "port": admin_port}
    for upstream in config["upstreams"].values():
        upstream["url"] = upstream_url
    return config, port, admin_port


def _write_configmap_volume(directory: Path, files: dict[str, str]) -> None:
    """Files laid out as the kubelet writes a ConfigMap volume: NAME -> ..data/NAME -> ..<timestamp>/NAME."""
    directory.mkdir(parents=True)
    payload = directory / "..2026_01_01_00_00_00.000000001"
    payload.mkdir()
    for name, text in files.items():
        (payload / name).write_text(text)
    (directory / "..data").symlink_to(payload.name)
    for name in files:
        (directory / name).symlink_to(f"..data/{name}")


@pytest.mark.parametrize("layout", ["image-default-config", "image-env-overrides", "k8s-configmap-volume"])
def test_dockerfile_cmd_and_healthcheck_run_as_in_the_image(tmp_path, recorded, layout):
    """Run the image's exact CMD and HEALTHCHECK argv on the host.

    The image's paths are mapped into tmp_path (/etc/cors-gateway/gateway.yaml
    becomes tmp_path/etc/cors-gateway/gateway.yaml), the venv's bin comes first
    on PATH where the image has its venv, and the config's ports become free
    loopback ports with its upstreams pointed at the recording Flask app.
    ``image-default-config`` uses the config the image ships, rewritten;
    ``image-env-overrides`` the same file unchanged, moved by the
    CORS_GATEWAY_* variables (as ``docker run -e`` would), which the
    HEALTHCHECK follows too; ``k8s-configmap-volume`` the ConfigMap's config,
    laid out as a kubelet ConfigMap volume, with the Deployment's environment
    (its Secret's admin token made up here) and probes.  Where a token is set,
    /metrics needs it and the probes and the HEALTHCHECK do without.
    """
    final = stages(DOCKERFILE)[-1]
    argv = image_argv(final)
    health, _ = healthcheck_argv(final)
    config_path = tmp_path / IMAGE_CONFIG.lstrip("/")
    env = clean_env(**{k: v for k, v in image_env(final).items() if k != "PATH"})
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    assert shutil.which(argv[0], path=env["PATH"]), f"{argv[0]} is not installed in {VENV_BIN}"
    probes = {"/healthz": b"ok\n"}
    admin_token = None

    if layout == "image-default-config":
        config, port, admin_port = _image_layout_config(shipped_config_source().read_text(), recorded.url)
        config_path.parent.mkdir(parents=True)
        config_path.write_text(yaml.safe_dump(config))
    elif layout == "image-env-overrides":
        config_path.parent.mkdir(parents=True)
        shutil.copyfile(shipped_config_source(), config_path)
        config = yaml.safe_load(config_path.read_text())
        port, admin_port = free_port(), free_port()
        admin_token = secrets.token_hex(16)
        env.update(CORS_GATEWAY_LISTEN_HOST="127.0.0.1", CORS_GATEWAY_LISTEN_PORT=str(port),
                   CORS_GATEWAY_ADMIN_HOST="127.0.0.1", CORS_GATEWAY_ADMIN_PORT=str(admin_port),
                   CORS_GATEWAY_UPSTREAM_URL=recorded.url, CORS_GATEWAY_ADMIN_TOKEN=admin_token)
    else:
        docs = k8s_rendered_docs()
        configmap_text = gateway_configmap(docs)["data"]["gateway.yaml"]
        config, port, admin_port = _image_layout_config(configmap_text, recorded.url)
        container = gateway_container(docs)
        mount = config_mount(docs)
        assert PurePosixPath(mount["mountPath"]) == PurePosixPath(IMAGE_CONFIG).parent
        _write_configmap_volume(tmp_path / mount["mountPath"].lstrip("/"), {"gateway.yaml": yaml.safe_dump(config)})
        for item in container.get("env", []):
            if "valueFrom" in item:  # the Secret, created out of band (see deployment.yaml)
                assert item["name"] == "CORS_GATEWAY_ADMIN_TOKEN", item
                env[item["name"]] = admin_token = secrets.token_hex(32)
            else:
                env[item["name"]] = item["value"].replace(IMAGE_CONFIG, str(config_path))
        assert admin_token is not None, "the Deployment gives the gateway no admin token"
        # The Pod's admin listener is on the Pod IP; here it is a loopback port like the others.
        assert env["CORS_GATEWAY_ADMIN_HOST"] == "0.0.0.0"
        env["CORS_GATEWAY_ADMIN_HOST"] = "127.0.0.1"
        assert "command" not in container and "args" not in container, "the gateway container runs the image's CMD"
        for probe in ("readinessProbe", "livenessProbe"):
            probes[container[probe]["httpGet"]["path"]] = None

    def in_tmp(args: list[str]) -> list[str]:
        return [arg.replace(IMAGE_CONFIG, str(config_path)) for arg in args]

    def healthcheck() -> subprocess.CompletedProcess:
        return subprocess.run(in_tmp(health), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)

    with open(tmp_path / "stdout", "wb") as stdout, open(tmp_path / "stderr", "wb") as stderr:
        proc = subprocess.Popen(in_tmp(argv), cwd=tmp_path, env=env, stdout=stdout, stderr=stderr,
                                start_new_session=True)
    try:
        try:
            wait_for_port(admin_port, proc, timeout=30)
            wait_for_port(port, proc, timeout=30)
            body = _wait_for_status(f"http://127.0.0.1:{admin_port}/readyz", 200, proc)
        except (RuntimeError, AssertionError) as err:
            pytest.fail(f"{shlex.join(argv)} did not come up: {err}\n{(tmp_path / 'stderr').read_text()}", pytrace=False)
        assert body == b"ready\n" or body.startswith(b"ready"), body
        for path, expected in probes.items():
            status, body = _http_get(f"http://127.0.0.1:{admin_port}{path}")
            assert status == 200, (path, status, body)
            if expected is not None:
                assert body == expected, (path, body)
        # /metrics: open on a loopback admin listener without a token; with one, only with it.
        metrics_url = f"http://127.0.0.1:{admin_port}/metrics"
        status, body = _http_get(metrics_url)
        if admin_token is None:
            assert status == 200 and b"cors_gateway_requests_total" in body, (status, body)
        else:
            assert status == 401, (status, body)
            status, body = _http_get(metrics_url, {"Authorization": f"Bearer {admin_token}"})
            assert status == 200 and b"cors_gateway_requests_total" in body, (status, body)

        # The gateway proxies to the upstream the config names.
        status, _ = _http_get(f"http://127.0.0.1:{port}/api/deploy-check?via=image-cmd")
        assert status == 404  # the recording app's own 404, forwarded
        assert [r["path"] for r in recorded.requests()] == ["/api/deploy-check"]

        result = healthcheck()
        assert result.returncode == 0, f"HEALTHCHECK failed:\n{result.stdout}{result.stderr}"

        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=float(config.get("shutdown_timeout", 30)) + 15)
        assert returncode == 0, (tmp_path / "stderr").read_text()
        assert healthcheck().returncode != 0, "the HEALTHCHECK passes with the gateway stopped"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --------------------------------------------------------------------------
# docker-compose.yml
# --------------------------------------------------------------------------

def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def bind_mounts(service: dict) -> list[tuple[str, str, str]]:
    result = []
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        assert source.startswith("./"), f"{volume}: only relative bind mounts are expected"
        result.append((source, target, mode[0] if mode else "rw"))
    return result


def published(service: dict) -> dict[int, str]:
    """container port -> the host side of each published port."""
    result = {}
    for entry in service.get("ports", []):
        *host, container = str(entry).split(":")
        result[int(container.split("/")[0])] = ":".join(host)
    return result


def test_docker_compose_config_accepts_the_file(tmp_path):
    tool = require_binary("docker-compose", "the docker-compose.yml check",
                          "apt-get install docker-compose: Debian's standalone Compose, no Docker engine needed")
    result = subprocess.run([tool, "-f", str(COMPOSE), "config"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert resolved["services"]["gateway"]["network_mode"] == "service:app"

    # The check is not vacuous: the same tool refuses a broken copy.
    broken = compose()
    broken["services"]["gateway"]["network_mode"] = "service:nope"
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(broken))
    result = subprocess.run([tool, "-f", str(tmp_path / "docker-compose.yml"), "config"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0


def test_compose_files_exist_and_images_are_pinned():
    services = compose()["services"]
    assert set(services) == {"app", "gateway", "frontend", "prometheus", "grafana"}
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name}: give every service an image name with a tag"
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest" and "/" not in tag, f"{name}: pin the tag of {image}"
        if "build" in service:
            assert (ROOT / service["build"]["context"]).is_dir(), name
            assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file(), name
        for source, _, _ in bind_mounts(service):
            assert (ROOT / source).exists(), f"{name}: mounts {source}, which does not exist"
    assert services["gateway"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["app"]["build"]["dockerfile"] == "deploy/demo-app.Dockerfile"


def test_compose_services_agree_with_each_other():
    services = compose()["services"]
    gateway, app = services["gateway"], services["app"]
    assert gateway["network_mode"] == "service:app"
    assert "ports" not in gateway, "the gateway's ports are published by app (shared network namespace)"
    assert ("./deploy/compose/gateway.yaml", IMAGE_CONFIG, "ro") in bind_mounts(gateway)

    config = yaml.safe_load(COMPOSE_GATEWAY_CONFIG.read_text())
    app_ports = published(app)
    assert config["listen"]["port"] in app_ports and config["listen"]["host"] == "0.0.0.0"
    # Prometheus scrapes the admin port from another container: compose opens
    # it, with a token from a file (the file itself stays loopback, no secret).
    assert config["admin"]["host"] == "127.0.0.1" and not {"token", "token_file"} & set(config["admin"])
    environment = gateway["environment"]
    assert environment["CORS_GATEWAY_ADMIN_HOST"] == "0.0.0.0"
    gateway_mounts = {target: source for source, target, _ in bind_mounts(gateway)}
    token_source = gateway_mounts[environment["CORS_GATEWAY_ADMIN_TOKEN_FILE"]]
    # Flask listens where the gateway's upstream points, on loopback only.
    command = app["command"]
    host, port = command[command.index("--host") + 1], command[command.index("--port") + 1]
    assert host == "127.0.0.1"
    assert [u["url"] for u in config["upstreams"].values()] == [f"http://127.0.0.1:{port}"]

    # Prometheus scrapes app:<admin port>; Grafana reads Prometheus.
    prometheus = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = [t for job in prometheus["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == [f"app:{config['admin']['port']}"]
    mounted = {target: source for source, target, _ in bind_mounts(services["prometheus"])}
    assert mounted["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    # ... sending the token the gateway was given (a relative path is relative to prometheus.yml).
    (job,) = prometheus["scrape_configs"]
    assert job["authorization"].get("type", "Bearer") == "Bearer"
    credentials = PurePosixPath("/etc/prometheus") / job["authorization"]["credentials_file"]
    assert mounted[str(credentials)] == token_source
    for rule_file in prometheus["rule_files"]:
        assert f"/etc/prometheus/{rule_file}" in mounted, rule_file
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    datasources = yaml.safe_load(GRAFANA_DATASOURCES.read_text())["datasources"]
    assert datasources[0]["url"] == "http://prometheus:9090"
    grafana_mounts = {target: source for source, target, _ in bind_mounts(services["grafana"])}
    for kind in ("datasources", "dashboards"):
        assert grafana_mounts[f"/etc/grafana/provisioning/{kind}"] == f"./deploy/grafana/provisioning/{kind}"
    assert grafana_mounts["/var/lib/grafana/dashboards"] == "./deploy/grafana/dashboards"
    assert services["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "true"

    # The frontend is the origin http://localhost:<its port>.
    assert 8000 in published(services["frontend"])
    assert "./deploy/compose/frontend" in [source for source, _, _ in bind_mounts(services["frontend"])]


# Host ports a developer trying the compose demo usually has a dev server on.
DEV_SERVER_PORTS = {3000: "React, Next.js, Rails, Express", 5000: "Flask", 5173: "Vite", 4200: "Angular"}


def test_compose_publishes_grafana_off_the_usual_frontend_dev_ports():
    services = compose()["services"]
    assert published(services["grafana"]) == {3000: "127.0.0.1:3001"}
    for name, service in services.items():
        for host in published(service).values():
            port = int(host.rsplit(":", 1)[-1])
            assert port not in DEV_SERVER_PORTS, f"{name} publishes {port}, where {DEV_SERVER_PORTS[port]} usually run"
    # Every pointer to Grafana names the port it is published on.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    compose_section = readme[readme.index("### Docker Compose"):readme.index("### Kubernetes")]
    header = COMPOSE.read_text().split("services:", 1)[0]
    page = FRONTEND_PAGE.read_text()
    for where, text in (("README's Docker Compose section", compose_section), ("docker-compose.yml's header", header),
                        ("the compose frontend page", page)):
        assert "localhost:3001" in text, where
        assert "localhost:3000" not in text, where
    assert 'id="grafana" href="http://localhost:3001/"' in page


def test_compose_gateway_config_needs_and_gets_the_admin_token():
    """The config as the compose gateway loads it: refused without the token, loaded with the mounted one."""
    gateway = compose()["services"]["gateway"]
    environment = dict(gateway["environment"])
    mounts = {target: source for source, target, _ in bind_mounts(gateway)}
    token_file = ROOT / mounts[environment["CORS_GATEWAY_ADMIN_TOKEN_FILE"]]
    with pytest.raises(ConfigError) as info:
        load_config(COMPOSE_GATEWAY_CONFIG, env={"CORS_GATEWAY_ADMIN_HOST": environment["CORS_GATEWAY_ADMIN_HOST"]})
    assert [issue.path for issue in info.value.errors] == ["admin.token"]
    config = load_config(COMPOSE_GATEWAY_CONFIG, env={**environment, "CORS_GATEWAY_ADMIN_TOKEN_FILE": str(token_file)})
    assert config.admin_host == "0.0.0.0"
    assert config.admin_token == token_file.read_text().strip()


@pytest.mark.parametrize(
    ("path", "decision"), [("/api/hello", "allowed"), ("/api/items/1", "allowed"), ("/admin/stats", "rejected")]
)
def test_compose_frontend_buttons_get_the_decisions_they_announce(path, decision):
    page = FRONTEND_PAGE.read_text()
    assert f'"{path}"' in page, f"the page has no call to {path}"
    assert ":8080" in page  # the gateway's published port
    method = ["--method", "PUT", "--header", "Content-Type"] if path == "/api/items/1" else []
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "explain", "-c", str(COMPOSE_GATEWAY_CONFIG),
         "--path", path, "--origin", "http://localhost:8000", *method],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=clean_env(),
    )
    assert result.returncode == 0, result.stderr
    assert f"decision: {decision}" in result.stdout.splitlines(), result.stdout


# --------------------------------------------------------------------------
# deploy/k8s
# --------------------------------------------------------------------------

# What this module's renderer implements: plain resource files, nothing else.
RENDERER_KEYS = {"apiVersion", "kind", "resources"}

EXPECTED_KINDS = {
    ("v1", "ConfigMap"),
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
}


def render_kustomization(directory: Path) -> list[dict]:
    """`kubectl kustomize` for a base that only lists plain resource files; fails on anything else."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - RENDERER_KEYS
    assert not unsupported, (
        f"kustomization.yaml uses {sorted(unsupported)}, which this test's renderer does not implement "
        "(install kubectl, or extend render_kustomization)"
    )
    assert kustomization.get("apiVersion") == "kustomize.config.k8s.io/v1beta1"
    assert kustomization.get("kind") == "Kustomization"
    docs = []
    for resource in kustomization["resources"]:
        path = directory / resource
        assert "://" not in resource and path.is_file(), f"resources: {resource} is not a file of the base"
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None)
    return docs


_rendered: list[dict] | None = None


def k8s_rendered_docs() -> list[dict]:
    """The kustomize output: kubectl's when kubectl is installed, else render_kustomization's."""
    global _rendered
    if _rendered is None:
        kubectl = shutil.which("kubectl")
        if kubectl:
            result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stderr
            _rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]
        else:
            print("\nkubectl is not installed: rendering deploy/k8s with the test's renderer")
            _rendered = render_kustomization(K8S)
    return _rendered


def one(docs: list[dict], kind: str) -> dict:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}(s)"
    return found[0]


def gateway_configmap(docs) -> dict:
    return one(docs, "ConfigMap")


def pod_spec(docs) -> dict:
    return one(docs, "Deployment")["spec"]["template"]["spec"]


def container(docs, name: str) -> dict:
    found = [c for c in pod_spec(docs)["containers"] if c["name"] == name]
    assert len(found) == 1, f"no container {name}"
    return found[0]


def gateway_container(docs) -> dict:
    return container(docs, "gateway")


def config_mount(docs) -> dict:
    volumes = {v["name"]: v for v in pod_spec(docs)["volumes"]}
    mounts = [m for m in gateway_container(docs)["volumeMounts"] if "configMap" in volumes[m["name"]]]
    assert len(mounts) == 1, mounts
    assert volumes[mounts[0]["name"]]["configMap"]["name"] == gateway_configmap(docs)["metadata"]["name"]
    return mounts[0]


def test_kubectl_kustomize_matches_the_renderer():
    kubectl = require_binary("kubectl", "the kustomize rendering check",
                             "apt-get install kubernetes-client, or any kubectl with `kubectl kustomize`")
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    def key(doc: dict) -> tuple[str, str, str]:
        return doc["apiVersion"], doc["kind"], doc["metadata"]["name"]

    by_kubectl = sorted((doc for doc in yaml.safe_load_all(result.stdout) if doc), key=key)
    assert by_kubectl == sorted(render_kustomization(K8S), key=key)


def test_k8s_manifests_validate_against_the_kubernetes_schemas():
    try:
        import kubernetes_validate
    except ImportError:
        unavailable("the Kubernetes schema check", "kubernetes-validate is not installed (pip install -e '.[test]')")
    docs = k8s_rendered_docs()
    assert {(doc["apiVersion"], doc["kind"]) for doc in docs} == EXPECTED_KINDS
    assert len(docs) == len(EXPECTED_KINDS)
    for doc in docs:
        if doc["kind"] == "ServiceMonitor":
            # A Prometheus Operator CRD: kubernetes-validate ships only the
            # built-in Kubernetes schemas, so it is checked structurally in
            # test_service_monitor_scrapes_the_admin_port instead.
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} is not a valid Kubernetes {K8S_VERSION} object: {err}")


def test_service_monitor_scrapes_the_admin_port():
    """Structural check of the ServiceMonitor (no schema for this CRD in kubernetes-validate)."""
    docs = k8s_rendered_docs()
    monitor, service = one(docs, "ServiceMonitor"), one(docs, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["kind"] == "ServiceMonitor"
    assert set(monitor["spec"]) <= {"selector", "endpoints", "jobLabel", "namespaceSelector"}
    selector = monitor["spec"]["selector"]
    assert set(selector) == {"matchLabels"}
    assert selector["matchLabels"].items() <= service["metadata"]["labels"].items()
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in service_ports, endpoint
        assert endpoint.get("path", "/metrics") == "/metrics"
        assert re.fullmatch(r"\d+[smh]", endpoint.get("interval", "15s"))
    admin = next(p for p in service["spec"]["ports"] if p["name"] == monitor["spec"]["endpoints"][0]["port"])
    assert resolve_port(gateway_container(docs), admin["targetPort"]) == gateway_config(docs)["admin"]["port"]


def resolve_port(container_spec: dict, port) -> int:
    ports = {p["name"]: p["containerPort"] for p in container_spec.get("ports", [])}
    if isinstance(port, str):
        assert port in ports, f"{port} is not a named port of container {container_spec['name']}"
        return ports[port]
    assert port in ports.values(), f"{port} is not a port of container {container_spec['name']}"
    return port


def gateway_config(docs) -> dict:
    return yaml.safe_load(gateway_configmap(docs)["data"]["gateway.yaml"])


def test_k8s_configmap_gateway_config_passes_check(tmp_path):
    docs = k8s_rendered_docs()
    path = tmp_path / "gateway.yaml"
    path.write_text(gateway_configmap(docs)["data"]["gateway.yaml"])
    assert_check_passes(path)
    config = gateway_config(docs)
    # The admin listener leaves loopback only through the Deployment, with the
    # Secret's token (test_k8s_admin_listener_needs_the_secret_token).
    assert config["listen"]["host"] == "0.0.0.0" and config["admin"]["host"] == "127.0.0.1"
    assert not {"token", "token_file"} & set(config["admin"]), "a secret has no place in a ConfigMap"
    app = container(docs, "app")
    args = app.get("command", []) + app.get("args", [])
    host, port = args[args.index("--host") + 1], args[args.index("--port") + 1]
    assert host == "127.0.0.1", "Flask is reachable only through the gateway"
    assert [u["url"] for u in config["upstreams"].values()] == [f"http://127.0.0.1:{port}"]


def test_k8s_admin_listener_needs_the_secret_token():
    docs = k8s_rendered_docs()
    env = {item["name"]: item for item in gateway_container(docs)["env"]}
    # On the Pod IP, for the kubelet's probes (open paths) and Prometheus ...
    assert env["CORS_GATEWAY_ADMIN_HOST"]["value"] == "0.0.0.0"
    # ... with the token from a Secret, required (a missing Secret stops the container) ...
    reference = env["CORS_GATEWAY_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert not reference.get("optional", False)
    # ... which the ServiceMonitor sends as a bearer token.
    for endpoint in one(docs, "ServiceMonitor")["spec"]["endpoints"]:
        authorization = endpoint["authorization"]
        assert authorization.get("type", "Bearer") == "Bearer"
        assert authorization["credentials"] == {"name": reference["name"], "key": reference["key"]}
    # The Secret is created out of band: a token in git would be everyone's.
    assert not [doc for doc in docs if doc["kind"] == "Secret"]
    # What the Pod loads: the ConfigMap's file with the Deployment's environment.
    text = gateway_configmap(docs)["data"]["gateway.yaml"]
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={"CORS_GATEWAY_ADMIN_HOST": "0.0.0.0"})
    assert [issue.path for issue in info.value.errors] == ["admin.token"]
    config = parse_config(text, env={"CORS_GATEWAY_ADMIN_HOST": "0.0.0.0",
                                     "CORS_GATEWAY_ADMIN_TOKEN": secrets.token_hex(32)})
    assert config.admin_host == "0.0.0.0" and config.admin_token


def test_k8s_ports_probes_and_selectors_agree():
    docs = k8s_rendered_docs()
    deployment, service = one(docs, "Deployment"), one(docs, "Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = one(docs, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", deployment["metadata"]["name"])

    gateway, config = gateway_container(docs), gateway_config(docs)
    ports = {p["name"]: resolve_port(gateway, p["targetPort"]) for p in service["spec"]["ports"]}
    assert ports == {"http": config["listen"]["port"], "admin": config["admin"]["port"]}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = gateway[probe]["httpGet"]
        assert get["path"] == path
        assert resolve_port(gateway, get["port"]) == config["admin"]["port"], probe
    assert "readinessProbe" in container(docs, "app") and "livenessProbe" in container(docs, "app")


def test_k8s_config_volume_hot_reloads_and_matches_the_image():
    docs = k8s_rendered_docs()
    gateway, mount = gateway_container(docs), config_mount(docs)
    assert "subPath" not in mount and "subPathExpr" not in mount, "a subPath mount never sees ConfigMap updates"
    assert mount.get("readOnly") is True
    env = {e["name"]: e.get("value") for e in gateway.get("env", [])}
    config_path = PurePosixPath(env["CORS_GATEWAY_CONFIG"])
    assert config_path.parent == PurePosixPath(mount["mountPath"])
    assert config_path.name in gateway_configmap(docs)["data"]
    # The gateway runs the image's CMD, whose -c names the same file.
    assert "command" not in gateway and "args" not in gateway
    assert IMAGE_CMD[IMAGE_CMD.index("-c") + 1] == str(config_path)
    # kustomize's configMapGenerator would rename the ConfigMap on every change (a rollout, not a reload).
    assert "configMapGenerator" not in yaml.safe_load((K8S / "kustomization.yaml").read_text())


def test_k8s_pod_security_and_resources():
    docs = k8s_rendered_docs()
    spec = pod_spec(docs)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == IMAGE_UID
    volumes = {v["name"]: v for v in spec["volumes"]}
    for c in spec["containers"]:
        security = c["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, c["name"]
        assert security["allowPrivilegeEscalation"] is False, c["name"]
        assert security["capabilities"]["drop"] == ["ALL"], c["name"]
        for section in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][section]), (c["name"], section)
        # A read-only root needs a writable /tmp: the gateway's multiprocess metrics live there.
        tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert tmp and "emptyDir" in volumes[tmp[0]["name"]], c["name"]
    # The HPA's CPU utilisation needs CPU requests; the grace period covers preStop + drain.
    metrics = one(docs, "HorizontalPodAutoscaler")["spec"]["metrics"]
    assert [(m["type"], m["resource"]["name"]) for m in metrics] == [("Resource", "cpu")]
    pre_stop = gateway_container(docs)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert spec["terminationGracePeriodSeconds"] > int(pre_stop[1]) + gateway_config(docs)["shutdown_timeout"]
