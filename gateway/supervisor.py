"""Run the gateway as processes: one, or a parent with N workers; reload and drain.

* ``--workers 1``: one process serves the public and the admin listener.
* ``--workers N`` (or ``auto``: the usable CPUs, honouring the cgroup CPU
  quota): a parent process reserves the public port, starts N worker
  processes that each bind it with SO_REUSEPORT (each with its own event
  loop, upstream pool and decision cache), serves the admin listener itself
  with metrics aggregated from all workers (prometheus-client multiprocess
  mode, in a directory cleaned at start), and restarts a worker that dies
  (``cors_gateway_worker_restarts_total``).
* Reload: SIGHUP, or a change of the config file (polled once a second by
  content, so editors that write in several steps and Kubernetes ConfigMap
  symlink swaps both work; a change is applied once the file has been stable
  for half a second).  The new config is validated in full first; an
  invalid or unreadable one is refused, its key-path errors logged and
  ``cors_gateway_config_reloads_total{result="failure"}`` counted, and the
  old config stays live.  A valid one is swapped in atomically; requests in
  flight finish under the config they started with.
* SIGTERM/SIGINT: /readyz turns 503, listeners stop accepting, requests in
  flight get up to ``shutdown_timeout`` seconds, then the process exits 0.
* A listener that cannot bind (a port in use, an address this host does not
  have) raises ``ListenError``: one line naming host:port and what to change.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import gc
import hashlib
import logging
import math
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import __version__
from .config import ConfigError, GatewayConfig, load_config

__all__ = ["ConfigWatcher", "ListenError", "run", "usable_cpus"]

log = logging.getLogger("gateway.supervisor")

WATCH_INTERVAL = 1.0  # seconds between looks at the config file
SETTLE = 0.5  # a changed file must stay unchanged this long before it is read


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The event loop every gateway process runs: uvloop where it is installed."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where available
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def usable_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        count = os.cpu_count() or 1
    try:  # cgroup v2: "max 100000" or "<quota> <period>"
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        try:  # cgroup v1: a quota of -1 means none
            quota_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
            period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
            if quota_us > 0 and period_us > 0:
                count = min(count, max(1, math.ceil(quota_us / period_us)))
        except (OSError, ValueError):
            pass
    return max(1, count)


# What `cors-gateway run` lets a user change, per listener and part of its address.
RUN_SETTINGS = {
    ("public", "port"): "--port or listen.port",
    ("public", "host"): "--host or listen.host",
    ("admin", "port"): "admin.port",
    ("admin", "host"): "admin.host",
}
_LISTENERS = {"public": "", "admin": " (admin listener)", "upstream": " (demo upstream)", "frontend": " (demo page)"}


class ListenError(OSError):
    """A listener could not bind: which one, where, why, and what to change (one line)."""

    def __init__(self, listener: str, host: str, port: int, err: OSError | None = None, reason: str | None = None):
        code = err.errno if err is not None and err.errno is not None else errno.EADDRINUSE
        super().__init__(code, reason or _bind_reason(code))
        self.listener, self.host, self.port = listener, host, port
        # The part of the address to change: a host this machine lacks, else the port.
        self.part = "host" if code in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) else "port"

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def message(self, settings: dict[tuple[str, str], str] = RUN_SETTINGS) -> str:
        """``settings``: (listener, "port" or "host") -> the flag or config key that changes it."""
        what = _LISTENERS.get(self.listener, f" ({self.listener})")
        change = settings.get((self.listener, self.part))
        return f"cannot listen on {self.address}{what}: {self.strerror}" + (f"; change {change}" if change else "")

    def __str__(self) -> str:
        return self.message()


def _bind_reason(code: int) -> str:
    if code == errno.EADDRINUSE:
        return "address already in use (another process holds it)"
    if code == errno.EACCES:
        return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
    if code == errno.EADDRNOTAVAIL:
        return "this machine has no such address"
    return os.strerror(code).lower()  # not asyncio's strerror, which repeats the address


def with_overrides(config: GatewayConfig, host: str | None, port: int | None) -> GatewayConfig:
    """Apply the command line's --host/--port, which outrank the file and the environment."""
    changes = {}
    if host is not None:
        changes["listen_host"] = host
    if port is not None:
        changes["listen_port"] = port
    return dataclasses.replace(config, **changes) if changes else config


def load(path: str, host: str | None, port: int | None) -> GatewayConfig:
    """Load and validate the config file with the environment and CLI overrides."""
    return with_overrides(load_config(path, env=dict(os.environ)), host, port)


def _fingerprint(path: str) -> bytes | str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).digest()
    except OSError as err:
        return f"unreadable: {type(err).__name__}"


class ConfigWatcher:
    """Calls ``on_change`` when the file's content changes and has settled."""

    def __init__(self, path: str, on_change, interval: float = WATCH_INTERVAL, settle: float = SETTLE):
        self.path = path
        self.on_change = on_change
        self.interval = interval
        self.settle = settle
        self._last = _fingerprint(path)

    def seen(self) -> None:
        """The current content is the live one (after a SIGHUP reload, say)."""
        self._last = _fingerprint(self.path)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            current = _fingerprint(self.path)
            if current == self._last:
                continue
            while True:  # debounce: wait until the writer is done
                await asyncio.sleep(self.settle)
                again = _fingerprint(self.path)
                if again == current:
                    break
                current = again
            self._last = current
            try:
                await self.on_change("the config file changed")
            except Exception:  # noqa: BLE001 - the watcher must outlive any one reload
                log.exception("config reload failed")


class _Reloader:
    """Validate and apply a new config; count and log the outcome."""

    def __init__(self, path: str, host: str | None, port: int | None, metrics, apply):
        self.path, self.host, self.port = path, host, port
        self.metrics = metrics
        self.apply = apply  # async callable(GatewayConfig)
        self._lock = asyncio.Lock()

    async def reload(self, why: str) -> bool:
        async with self._lock:
            try:
                config = load(self.path, self.host, self.port)
            except ConfigError as err:
                for issue in err.errors:
                    log.error("config reload refused (%s): %s", why, issue)
                log.error("config reload refused: %d error(s); the previous config stays live", len(err.errors))
                self.metrics.config_loaded(False)
                return False
            for issue in config.warnings:
                log.warning("config: %s", issue)
            await self.apply(config)
            self.metrics.config_loaded(True)
            log.info("config reloaded (%s): %d route(s)", why, len(config.routes))
            return True


def _reload_on_change(reloader: _Reloader, tasks: list, *, hup_pending: bool = False) -> None:
    """Reload on SIGHUP and when the config file changes (one process, or the parent of workers).

    The watcher's task and each SIGHUP's reload task go to ``tasks``, to be
    cancelled at shutdown.  ``hup_pending``: a SIGHUP arrived before this was
    set up (it is acted on now).
    """
    loop = asyncio.get_running_loop()
    watcher = ConfigWatcher(reloader.path, reloader.reload)

    def on_hup() -> None:
        watcher.seen()
        tasks.append(loop.create_task(reloader.reload("SIGHUP")))

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    if hup_pending:
        on_hup()
    tasks.append(loop.create_task(watcher.run()))


def _settle_garbage_collector() -> None:
    """After start-up: move what exists now out of the collector's way, and collect young objects less often.

    Requests allocate many short-lived objects that reference counting frees;
    the cyclic collector then mostly rescans long-lived start-up objects (the
    compiled config, modules).  Freezing those and raising the first
    threshold cut collections per request (profiled: a young collection every
    18 requests, and full ones costing ~7 % of CPU under proxied load).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def _announce(config: GatewayConfig, port: int, admin_port: int | None, workers: int) -> None:
    # stdout carries only the JSON access log; people and supervisors read stderr.
    extra = f", {workers} workers" if workers > 1 else ""
    print(
        f"cors-gateway {__version__} listening on {'https' if config.tls is not None else 'http'}"
        f"://{config.listen_host}:{port} "
        f"(admin http://{config.admin_host}:{admin_port}/metrics{extra})",
        file=sys.stderr,
        flush=True,
    )


# ---------------------------------------------------------------------------
# One process
# ---------------------------------------------------------------------------


async def serve_single(config: GatewayConfig, path: str | None, host: str | None, port: int | None,
                       on_ready=None) -> None:
    """Run one gateway process until SIGTERM/SIGINT, reloading on SIGHUP and file changes."""
    from .server import Gateway

    config = with_overrides(config, host, port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # before anything starts: a signal now still drains
        loop.add_signal_handler(sig, stop.set)
    # A multi-worker gateway starting on this port does not listen yet, so a
    # bind would not notice it: its lock does.
    lock = _port_lock(config.listen_host, config.listen_port) if config.listen_port else None
    try:
        gateway = Gateway(config)
        try:
            await gateway.start()
        except OSError as err:
            await gateway.stop()  # what start() opened before the failing bind: a listener, the upstream pool
            if gateway.port is None:
                raise ListenError("public", config.listen_host, config.listen_port, err) from None
            raise ListenError("admin", config.admin_host, config.admin_port, err) from None
        _settle_garbage_collector()
        tasks = []
        if path is not None:
            async def apply(new: GatewayConfig) -> None:
                gateway.apply_config(new)

            _reload_on_change(_Reloader(path, host, port, gateway.metrics, apply), tasks)
        _announce(config, gateway.port, gateway.admin_port, 1)
        if on_ready is not None:
            on_ready(gateway)
        try:
            await stop.wait()
        finally:
            print("shutting down: draining in-flight requests", file=sys.stderr, flush=True)
            for task in tasks:
                task.cancel()
            await gateway.stop()
    finally:
        if lock is not None:
            lock.close()


# ---------------------------------------------------------------------------
# A parent and its workers
# ---------------------------------------------------------------------------


def _worker_main(config: GatewayConfig, port: int, conn, log_level: int) -> None:
    """A worker process: serve the public port until told to drain."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which drains us
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    logging.basicConfig(level=log_level, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s %(name)s[{os.getpid()}]: %(message)s")
    from .logs import install_stdout_access_log, quiet_malformed_requests

    install_stdout_access_log()
    quiet_malformed_requests()
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(_worker(config, port, conn))


def _listen(conn, loop: asyncio.AbstractEventLoop, on_message, on_eof) -> None:
    """Read a multiprocessing pipe in a daemon thread, handing messages to ``loop``.

    The pipe stays blocking: an event loop's add_reader would make it
    non-blocking, and Connection.recv then fails on a large message (a big
    config) that arrives in pieces.
    """

    def run() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                loop.call_soon_threadsafe(on_eof)
                return
            loop.call_soon_threadsafe(on_message, message)

    threading.Thread(target=run, name="cors-gateway-pipe", daemon=True).start()


async def _worker(config: GatewayConfig, port: int, conn) -> None:
    from .server import Gateway

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    gateway = Gateway(config, worker=True)
    await gateway.start(port=port, admin=False, reuse_port=True)
    _settle_garbage_collector()

    def on_message(message) -> None:
        kind, payload = message
        if kind == "reload":
            gateway.apply_config(payload)

    _listen(conn, loop, on_message, stop.set)  # EOF: the parent is gone, drain and exit
    conn.send(("ready", os.getpid()))
    await stop.wait()
    await gateway.stop()


class _Worker:
    """One worker slot's current process, its pipe, and whether it has exited."""

    __slots__ = ("process", "conn", "exited", "ready")

    def __init__(self, process, conn):
        self.process = process
        self.conn = conn
        self.exited = asyncio.Event()  # set by _Parent._reap, the one place that reaps
        self.ready = False


class _Parent:
    def __init__(self, config: GatewayConfig, path: str | None, host: str | None, port: int | None, workers: int):
        from .metrics import Metrics
        from .routes import RouteTable

        self.config = with_overrides(config, host, port)
        # Fixed at start: the workers' listeners were built with it.
        self.shutdown_timeout = self.config.shutdown_timeout
        self.path, self.host, self.port_override = path, host, port
        self.count = workers
        self.metrics = Metrics(RouteTable(self.config), self.config.metrics.max_origin_labels)
        self.context = multiprocessing.get_context("spawn")
        self.workers: dict[int, _Worker] = {}
        self.failures: dict[int, int] = {}  # slot -> deaths in a row before becoming ready
        self.draining = False
        self.port: int | None = None
        self.admin_port: int | None = None
        self._reserve: socket.socket | None = None
        self._lock: socket.socket | None = None

    def _reserve_port(self) -> int:
        """Hold the public port (bound, never listening) so workers can share it with SO_REUSEPORT.

        Nobody else may already serve the port (another gateway, whose
        workers would also use SO_REUSEPORT, say): sharing it would silently
        split the traffic.  A probe bind without SO_REUSEPORT fails while any
        socket listens on the port.  It sets SO_REUSEADDR, so the connections
        a gateway stopped a moment ago left in TIME_WAIT do not block a
        restart (``docker compose restart``); without it the restart failed
        for about a minute.  SO_REUSEADDR also lets the probe pass another
        gateway's reserved port before its workers listen, so a lock (an
        abstract Unix socket named after host:port, per network namespace
        like the port itself, released by the kernel when the process ends)
        refuses a second gateway in that window too.
        """
        host = self.config.listen_host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, self.config.listen_port))
            except OSError as err:
                raise ListenError("public", host, self.config.listen_port, err) from None
            port = probe.getsockname()[1]
        self._lock = _port_lock(host, port)
        sock = socket.socket(family)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
        except OSError as err:
            sock.close()
            self._release()
            raise ListenError("public", host, port, err) from None
        self._reserve = sock
        return port

    def _release(self) -> None:
        for sock in (self._reserve, self._lock):
            if sock is not None:
                sock.close()
        self._reserve = self._lock = None

    def _spawn(self, slot: int) -> None:
        loop = asyncio.get_running_loop()
        parent_end, child_end = self.context.Pipe()
        process = self.context.Process(
            target=_worker_main,
            args=(self.config, self.port, child_end, logging.getLogger().level),
            name=f"cors-gateway-worker-{slot}",
        )
        process.start()
        child_end.close()
        worker = self.workers[slot] = _Worker(process, parent_end)
        _listen(parent_end, loop, lambda message: self._on_message(worker, message), lambda: None)
        loop.add_reader(process.sentinel, self._on_exit, slot, worker)

    def _on_message(self, worker: _Worker, message) -> None:
        kind, _ = message
        if kind == "ready":
            worker.ready = True

    def _on_exit(self, slot: int, worker: _Worker) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(worker.process.sentinel)
        # The sentinel closes as the process exits, a moment before it can be reaped.
        loop.create_task(self._reap(slot, worker))

    async def _reap(self, slot: int, worker: _Worker) -> None:
        process = worker.process
        await asyncio.get_running_loop().run_in_executor(None, process.join)
        worker.conn.close()
        worker.exited.set()
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(process.pid)
        if self.draining:
            return
        failures = self.failures[slot] = 0 if worker.ready else self.failures.get(slot, 0) + 1
        delay = min(30.0, 0.5 * 2 ** failures) if failures else 0.0
        log.error("worker %s (pid %s) exited with %s; starting a new one%s", slot, process.pid, process.exitcode,
                  f" in {delay:.0f}s ({failures} failed starts in a row)" if delay else "")
        self.metrics.worker_restarts.inc()
        if delay:
            await asyncio.sleep(delay)
        if not self.draining:
            self._spawn(slot)

    async def _apply(self, config: GatewayConfig) -> None:
        from .routes import RouteTable

        if config.shutdown_timeout != self.shutdown_timeout:
            log.warning("config reload: shutdown_timeout takes effect after a restart")
            config = dataclasses.replace(config, shutdown_timeout=self.shutdown_timeout)
        self.config = config
        self.metrics.use_table(RouteTable(config))
        loop = asyncio.get_running_loop()
        for worker in list(self.workers.values()):
            if not worker.exited.is_set():
                # A blocking send in a thread: a large config is written whole,
                # never half, whatever the pipe's buffer size.
                with contextlib.suppress(OSError):
                    await loop.run_in_executor(None, worker.conn.send, ("reload", config))

    def _admin_app(self):
        from .admin import admin_application

        def not_ready() -> str | None:
            if self.draining:
                return "draining"
            ready = sum(1 for w in self.workers.values() if w.ready and not w.exited.is_set())
            return None if ready == self.count else "starting"

        # The same app, handlers and bearer-token check as a single process;
        # the token is read once, here (a reload's new token needs a restart).
        return admin_application(self.config.admin_token, self.metrics.exposition, not_ready)

    async def run(self, on_ready=None) -> None:
        from aiohttp import web

        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        hup = asyncio.Event()
        loop.add_signal_handler(signal.SIGHUP, hup.set)  # until the reloader is ready
        self.port = self._reserve_port()
        runner = web.AppRunner(self._admin_app(), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.config.admin_host, self.config.admin_port, reuse_address=True).start()
        except OSError as err:
            await runner.cleanup()
            self._release()
            raise ListenError("admin", self.config.admin_host, self.config.admin_port, err) from None
        self.admin_port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        tasks = []
        try:
            for slot in range(self.count):
                self._spawn(slot)
            if self.path is not None:
                _reload_on_change(_Reloader(self.path, self.host, self.port_override, self.metrics, self._apply),
                                  tasks, hup_pending=hup.is_set())
            _announce(self.config, self.port, self.admin_port, self.count)
            if on_ready is not None:
                on_ready(self)
            await stop.wait()
        finally:
            print("shutting down: draining in-flight requests", file=sys.stderr, flush=True)
            self.draining = True
            for task in tasks:
                task.cancel()
            for worker in self.workers.values():
                if not worker.exited.is_set():
                    with contextlib.suppress(ProcessLookupError):
                        worker.process.terminate()  # SIGTERM: the worker drains
            deadline = time.monotonic() + self.shutdown_timeout + 5
            for worker in self.workers.values():
                try:
                    await asyncio.wait_for(worker.exited.wait(), max(0.1, deadline - time.monotonic()))
                except asyncio.TimeoutError:
                    log.error("worker pid %s did not drain in time; killing it", worker.process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        worker.process.kill()
                    await worker.exited.wait()
            await runner.cleanup()
            self._release()


def _port_lock(host: str, port: int) -> socket.socket | None:
    """Claim host:port for this gateway (Linux); ListenError if another gateway holds it."""
    if not sys.platform.startswith("linux"):  # pragma: no cover - abstract sockets are Linux's
        return None
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind(f"\0cors-gateway/{host}:{port}")
    except OSError as err:
        lock.close()
        if err.errno != errno.EADDRINUSE:
            return None  # no lock on this system; the probe bind still guards a serving port
        raise ListenError("public", host, port, err,
                          reason="another cors-gateway is starting or serving on it") from None
    return lock


def prepare_multiprocess_metrics() -> str:
    """Point prometheus-client at a fresh shared directory; call before it is imported."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        for entry in Path(directory).glob("*.db"):  # stale files from an earlier run
            entry.unlink()
    else:
        directory = tempfile.mkdtemp(prefix="cors-gateway-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory


def run(config: GatewayConfig, path: str | None, host: str | None, port: int | None, workers: int,
        loop_factory) -> None:
    """Serve until SIGTERM/SIGINT with ``workers`` processes (1: this one)."""
    if workers <= 1:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            prepare_multiprocess_metrics()  # the variable was set for us: no stale files from a last run
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(serve_single(config, path, host, port))
        return
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    owned = directory is None
    directory = prepare_multiprocess_metrics()
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(_Parent(config, path, host, port, workers).run())
    finally:
        if owned:
            shutil.rmtree(directory, ignore_errors=True)
