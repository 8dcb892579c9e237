"""Start, pin, watch and stop the processes of a benchmark; read their costs from /proc.

Every server is started in its own session (process group) under ``taskset
-c CPUS`` and stopped by that group id: SIGTERM, then SIGKILL after a few
seconds.  Costs are read for the whole process tree (a gunicorn master and
its worker, nginx's master and worker, the gateway's parent and workers):

* CPU seconds: ``utime + stime`` (+ ``cutime + cstime``, reaped children)
  from ``/proc/<pid>/stat``;
* peak RSS: the sum of ``VmHWM`` over the tree (each process's own peak: an
  upper bound of the tree's peak);
* RSS now: the sum of ``VmRSS``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
# Never through an http_proxy from the environment: everything is on 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
KIB = 1024


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the kernel picks; closed again at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(cmd: list[str], cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus, *cmd] if cpus else list(cmd)


# --------------------------------------------------------------------------
# /proc readings
# --------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rfind(b")") + 2 :].split()
        children.setdefault(int(rest[1]), []).append(int(entry.name))
    return children


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants alive now."""
    children = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2 :].split()
        # fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / CLK_TCK


def memory_kib(pids: list[int]) -> tuple[int, int]:
    """(sum of VmRSS, sum of VmHWM) in KiB."""
    rss = hwm = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        hwm += int(line.split()[1])
        except OSError:
            continue
    return rss, hwm


def cpu_busy_ticks() -> dict[str, tuple[int, int]]:
    """Per CPU from /proc/stat: (busy ticks, total ticks)."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *values = line.split()
                nums = [int(v) for v in values[:8]]
                idle = nums[3] + nums[4]
                out[name] = (sum(nums) - idle, sum(nums))
    return out


def busy_fractions(before: dict, after: dict) -> dict[str, float]:
    out = {}
    for name, (busy1, total1) in after.items():
        busy0, total0 = before.get(name, (0, 0))
        out[name] = round((busy1 - busy0) / max(1, total1 - total0), 3)
    return out


class RssSampler:
    """Samples the tree's summed VmRSS every ``interval`` seconds in a thread; keeps the max."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.pid = pid
        self.interval = interval
        self.max_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pids = tree(self.pid)
        n = 0
        while not self._stop.is_set():
            if n % 50 == 0:
                pids = tree(self.pid)
            rss, _ = memory_kib(pids)
            self.max_kib = max(self.max_kib, rss)
            n += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:  # noqa: PYI034
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------


class StartError(RuntimeError):
    pass


class Server:
    """One server process (tree) of the benchmark."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        port: int,
        *,
        cpus: str | None,
        logdir: Path,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        ready_path: str = "/",
        ready_url: str | None = None,
    ):
        self.name = name
        self.cmd = pinned(cmd, cpus)
        self.port = port
        self.cpus = cpus
        self.env = env
        self.cwd = cwd
        self.ready_path = ready_path
        # With ready_url, only a 200 from it means ready (the gateway's /readyz);
        # otherwise any HTTP answer on ready_path does.
        self.ready_url = ready_url
        self.log_path = logdir / f"{name.replace(' ', '_').replace('/', '_')}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Server:
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                env=env, cwd=self.cwd, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}:\n"
                                 + self.log_tail())
            try:
                with _OPENER.open(self.ready_url or (self.url + self.ready_path), timeout=2):
                    return self
            except urllib.error.HTTPError:
                if self.ready_url is None:
                    return self  # it answers: that is all "ready" means here
                time.sleep(0.1)
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        self.stop()
        raise StartError(f"{self.name} did not answer on port {self.port} within {timeout:.0f} s; see {self.log_path}")

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def pids(self) -> list[int]:
        return tree(self.pid)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM to the process group, then SIGKILL; only this server's own group."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        # Stragglers of the group (a worker that outlived its parent).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def run_with_rusage(cmd: list[str], timeout: float) -> tuple[int, str, float]:
    """Run ``cmd``; return (exit status, stdout and stderr merged, its CPU seconds).

    Killed (its whole group) after ``timeout`` seconds.
    """
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    timer = threading.Timer(timeout, lambda: _kill_group(proc.pid))
    timer.start()
    try:
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        timer.cancel()
        proc.stdout.close()
    return proc.returncode, out.decode(errors="replace"), usage.ru_utime + usage.ru_stime


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
