"""README "Run": the demo's printed banner and the sample curl answers are what a real run gives.

``cors-gateway demo`` is started (on free ports) as a user starts it, the
README's ``$ curl ...`` commands are run with the real ``curl``, and the
output is compared with the README text line by line.  Only what differs
between runs is ignored: the ``Date`` and ``X-Request-Id`` values and the
Werkzeug and Python versions in the Flask upstream's ``Server`` header.

The README's samples use the default ports (gateway 8080, admin 9090,
upstream 5000, page 8000); the test runs on free ports and writes them into
the README's text before comparing.  The page's origin shows up in the
answers (and in their ``Content-Length``), so its port has as many digits as
8000.
"""

from __future__ import annotations

import random
import re
import shlex
import socket
import subprocess
import sys
import time

from ..support import ROOT, free_port, require_binary, stop_process, wait_for_port

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("\n## Run\n"):README.index("\n## Debugging a CORS error\n")]
DEFAULTS = {"port": 8080, "admin-port": 9090, "upstream-port": 5000, "frontend-port": 8000}

CLI = [sys.executable, "-m", "gateway"]  # `cors-gateway`, from this tree


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```$", text, flags=re.S | re.M)


def four_digit_free_port() -> int:
    """A free port like 8000 (four digits), not one of the demo's defaults."""
    candidates = [p for p in range(2000, 10000) if p not in DEFAULTS.values()]
    random.shuffle(candidates)
    for port in candidates[:200]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free four-digit port")


def with_ports(text: str, ports: dict[str, int]) -> str:
    """The README's default ports replaced with the ones this run uses."""
    by_default = {str(DEFAULTS[name]): str(port) for name, port in ports.items()}
    return re.sub(r"(?<=localhost:|127\.0\.0\.1:)(8080|9090|5000|8000)\b", lambda m: by_default[m.group(1)], text)


def normalized(text: str) -> list[str]:
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    result = []
    for line in lines:
        line = re.sub(r"^Date: .*", "Date: (date)", line)
        line = re.sub(r"^X-Request-Id: .*", "X-Request-Id: (id)", line)
        line = re.sub(r"^Server: Werkzeug/\S+ Python/\S+$", "Server: Werkzeug/(version) Python/(version)", line)
        result.append(line)
    return result


def test_readme_demo_samples_come_from_a_real_run():
    curl = require_binary("curl", "the README demo samples", "apt-get install curl")
    blocks = code_blocks(SECTION)
    banner = next(b for b in blocks if b.startswith("cors-gateway "))
    samples = [b for b in blocks if b.startswith("$ curl ")]
    assert len(samples) == 2, "the README shows an allowed and a rejected call"
    # The commands the demo suggests are the ones whose answers the README shows.
    suggested = [line.strip() for line in banner.splitlines() if line.strip().startswith("curl ")]
    assert suggested == [b.splitlines()[0][2:] for b in samples]

    ports = {"port": free_port(), "admin-port": free_port(), "upstream-port": free_port(),
             "frontend-port": four_digit_free_port()}
    proc = subprocess.Popen([*CLI, "demo", *[f"--{name}={port}" for name, port in ports.items()]], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(ports["port"], proc)
        wait_for_port(ports["frontend-port"], proc)
        printed = []
        deadline = time.monotonic() + 20
        while not printed or printed[-1] != "Ctrl-C to stop.":
            assert time.monotonic() < deadline, printed
            line = proc.stdout.readline()
            assert line, f"the demo exited: {printed}"
            printed.append(line.rstrip("\n"))
        assert printed == with_ports(banner, ports).rstrip("\n").split("\n")

        for sample in samples:
            command, _, expected = sample.partition("\n")
            argv = shlex.split(with_ports(command[2:], ports))
            assert argv[0] == "curl"
            result = subprocess.run([curl, *argv[1:]], capture_output=True, timeout=30)
            assert result.returncode == 0, result.stderr
            actual = result.stdout.decode("utf-8")
            assert normalized(actual) == normalized(with_ports(expected, ports)), (command, actual)
    finally:
        stop_process(proc)
