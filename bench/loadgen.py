"""Load: ``wrk`` for request rates, a small socket client for the 1 GiB streams.

``parse_wrk`` reads wrk's text output (``--latency``).  The stream client is
run as its own pinned process by the harness:

    python -m bench.loadgen download HOST PORT PATH SIZE [ORIGIN]
    python -m bench.loadgen upload HOST PORT PATH SIZE [ORIGIN]

and prints one JSON line: bytes moved, seconds, status.  Every socket
operation has a timeout and the whole transfer a deadline, so a stuck server
cannot hang the harness.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

LUA_DIR = Path(__file__).resolve().parent / "lua"

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


@dataclass
class WrkResult:
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float | None = None
    p75_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    non_2xx_3xx: int = 0
    socket_errors: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value.strip())
    if not m:
        raise ValueError(f"not a wrk duration: {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(text: str) -> WrkResult:
    """Parse ``wrk --latency`` output; raises ValueError if it has no result."""
    result = WrkResult()
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),", text, re.MULTILINE)
    if not m:
        raise ValueError("wrk printed no result:\n" + text[-2000:])
    result.requests = int(m.group(1))
    result.seconds = _ms(m.group(2) + m.group(3)) / 1e3
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    result.rps = float(m.group(1)) if m else result.requests / max(result.seconds, 1e-9)
    for pct in (50, 75, 90, 99):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", text, re.MULTILINE)
        if m:
            setattr(result, f"p{pct}_ms", round(_ms(m.group(1)), 4))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        result.non_2xx_3xx = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        result.socket_errors = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups()), strict=True))
    return result


def wrk_command(
    url: str,
    duration: int,
    *,
    connections: int,
    threads: int = 1,
    headers: tuple[str, ...] = (),
    script: str | None = None,
    script_args: tuple[str, ...] = (),
    timeout_s: int = 5,
) -> list[str]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", f"--timeout={timeout_s}s", "--latency"]
    for header in headers:
        cmd += ["-H", header]
    if script:
        cmd += ["-s", str(LUA_DIR / script)]
    cmd.append(url)
    if script_args:
        cmd += ["--", *script_args]
    return cmd


# --------------------------------------------------------------------------
# The stream client (S6)
# --------------------------------------------------------------------------

_BUF = 1024 * 1024


def _read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the response head")
        data += chunk
        if len(data) > 1 << 20:
            raise ValueError("response head too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def download(host: str, port: int, path: str, origin: str | None, deadline_s: float) -> dict:
    start = time.perf_counter()
    with socket.create_connection((host, port), timeout=30) as sock:
        extra = f"Origin: {origin}\r\n" if origin else ""
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}Connection: close\r\n\r\n".encode())
        status, headers, rest = _read_head(sock)
        length = int(headers["content-length"]) if "content-length" in headers else None
        received = len(rest)
        buf = bytearray(_BUF)
        view = memoryview(buf)
        stop_at = start + deadline_s
        while length is None or received < length:
            n = sock.recv_into(view)
            if n == 0:
                break
            received += n
            if time.perf_counter() > stop_at:
                raise TimeoutError(f"download not done after {deadline_s:.0f} s ({received} bytes)")
    seconds = time.perf_counter() - start
    return {"status": status, "bytes": received, "expected": length, "seconds": seconds,
            "acao": headers.get("access-control-allow-origin")}


def upload(host: str, port: int, path: str, size: int, origin: str | None, deadline_s: float) -> dict:
    start = time.perf_counter()
    payload = memoryview(bytes(_BUF))
    with socket.create_connection((host, port), timeout=30) as sock:
        extra = f"Origin: {origin}\r\n" if origin else ""
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}Content-Type: application/octet-stream\r\n"
            f"Content-Length: {size}\r\nConnection: close\r\n\r\n".encode()
        )
        left = size
        stop_at = start + deadline_s
        while left > 0:
            piece = payload if left >= _BUF else payload[:left]
            sock.sendall(piece)
            left -= len(piece)
            if time.perf_counter() > stop_at:
                raise TimeoutError(f"upload not done after {deadline_s:.0f} s ({size - left} bytes sent)")
        status, headers, rest = _read_head(sock)
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    seconds = time.perf_counter() - start
    try:
        received = json.loads(rest.decode())["received"]
    except (ValueError, KeyError):
        received = None
    return {"status": status, "bytes": size, "upstream_received": received, "seconds": seconds,
            "acao": headers.get("access-control-allow-origin")}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 5 or argv[0] not in ("download", "upload"):
        print(__doc__, file=sys.stderr)
        return 2
    what, host, port, path, size = argv[:5]
    origin = argv[5] if len(argv) > 5 else None
    deadline = 120.0
    if what == "download":
        out = download(host, int(port), f"{path}?size={int(size)}", origin, deadline)
    else:
        out = upload(host, int(port), path, int(size), origin, deadline)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
