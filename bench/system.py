"""What the benchmark needs from the machine, and what the machine is."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
import sys

# Command -> Debian package.
SYSTEM_TOOLS = {"wrk": "wrk", "nginx": "nginx", "taskset": "util-linux"}
PYTHON_MODULES = ("starlette", "uvicorn", "httptools", "httpx", "gunicorn", "flask", "flask_cors")


class Missing(Exception):
    """Something the benchmark needs is not installed; the message says what to install."""


def ensure_tools(tools: list[str], log=print) -> None:
    """Make sure each command exists: install the Debian package with apt as root, else raise Missing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    packages = sorted({SYSTEM_TOOLS[t] for t in missing})
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise Missing(
            f"missing: {', '.join(missing)}.  Install with:\n    sudo apt-get install -y {' '.join(packages)}"
        )
    log(f"installing {' '.join(packages)} with apt-get (running as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env, stdout=subprocess.DEVNULL)
    done = subprocess.run(["apt-get", "install", "-y", "-q", *packages], check=False, env=env,
                          stdout=subprocess.DEVNULL)
    still = [t for t in missing if shutil.which(t) is None]
    if done.returncode != 0 or still:
        raise Missing(f"apt-get could not install {' '.join(packages)}; install it by hand: "
                      f"apt-get install -y {' '.join(packages)}")


def ensure_modules(modules: list[str]) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise Missing(
            f"missing Python packages for the peers: {', '.join(missing)}.  Install the bench extra:\n"
            f"    {sys.executable} -m pip install -e '.[bench]'"
        )


def _run(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    return (done.stdout + done.stderr).strip()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def code_version() -> dict:
    """The commit measured, and whether gateway/ differs from it (read-only git calls)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    git = ["git", "--no-optional-locks", "-C", root]
    commit = _run([*git, "rev-parse", "HEAD"])
    try:
        dirty = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", "gateway"], check=False,
                               capture_output=True, timeout=10).returncode == 1
    except (OSError, subprocess.TimeoutExpired):
        dirty = None
    return {"commit": commit if len(commit) == 40 else None, "gateway_dirty": dirty}


def machine_info() -> dict:
    lscpu = _run(["lscpu"]).splitlines()
    return {
        "nproc": _run(["nproc"]),
        "lscpu_head": lscpu[:10],
        "model": next((line.split(":", 1)[1].strip() for line in lscpu if line.startswith("Model name")), None),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {
            name: _version(name)
            for name in ("aiohttp", "uvloop", "cors-gateway", "starlette", "uvicorn", "httptools", "httpx",
                         "gunicorn", "flask", "flask-cors", "py-spy")
        },
        "nginx": _run(["nginx", "-v"]) if shutil.which("nginx") else None,
        "wrk": _run(["wrk", "-v"]).splitlines()[0] if shutil.which("wrk") else None,
        "loadavg_at_start": os.getloadavg(),
        "code": code_version(),
    }


def cpu_plan() -> tuple[str | None, str | None, str | None, str]:
    """(server CPUs, client CPUs, both, a note).  Needs two usable CPUs to pin."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None, None, f"only {len(cpus)} usable CPU: nothing is pinned, results mix server and client"
    a, b = cpus[0], cpus[1]
    note = f"servers under test on CPU {a}, wrk/clients/upstreams on CPU {b}"
    if len(cpus) > 2:
        note += f" (of {len(cpus)} usable)"
    return str(a), str(b), f"{a},{b}", note
