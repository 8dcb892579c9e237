"""A parent and N worker processes (``_Parent``): the multi-process gateway.

The workers bind the public port with SO_REUSEPORT; the parent holds it,
serves the admin listener with metrics aggregated from all of them (in the
directory ``prepare_multiprocess_metrics`` sets up), restarts a worker that
dies, forwards reloads to them, and drains them on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..config import GatewayConfig
from .ports import ListenError, reserve_port
from .process import announce, new_event_loop, settle_garbage_collector
from .reload import Reloader, reload_on_change, with_overrides

log = logging.getLogger("gateway.supervisor")  # one logger for the whole process model


def _worker_main(config: GatewayConfig, port: int, conn, log_level: int) -> None:
    """A worker process: serve the public port until told to drain."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which drains us
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    logging.basicConfig(level=log_level, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s %(name)s[{os.getpid()}]: %(message)s")
    from ..logs import install_stdout_access_log, quiet_malformed_requests

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
    from ..server import Gateway

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    gateway = Gateway(config, worker=True)
    await gateway.start(port=port, admin=False, reuse_port=True)
    settle_garbage_collector()

    def on_message(message) -> None:
        kind, payload = message
        if kind == "reload":
            gateway.apply_config(payload)

    _listen(conn, loop, on_message, stop.set)  # EOF: the parent is gone, drain and exit
    conn.send(("ready", os.getpid()))
    shipping = loop.create_task(_ship_rejections(gateway, conn))
    await stop.wait()
    shipping.cancel()
    await gateway.stop()
    last = gateway.rejections.take_new()  # the draining requests' too
    if last:
        with contextlib.suppress(OSError, ValueError):
            conn.send(("rejections", last))


async def _ship_rejections(gateway, conn, interval: float = 1.0) -> None:
    """Hand the worker's new rejections to the parent, which serves the admin page, once a second."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        records = gateway.rejections.take_new()
        if gateway.rejections.dropped:
            log.warning("%s rejection records not handed to the admin page: more than %s in a second",
                        gateway.rejections.dropped, len(records))
            gateway.rejections.dropped = 0
        if records:
            try:
                await loop.run_in_executor(None, conn.send, ("rejections", records))
            except (OSError, ValueError):
                return  # the parent is gone: the pipe's EOF stops this worker


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
        from ..metrics import Metrics
        from ..rejections import RejectionLog
        from ..routes import RouteTable

        self.config = with_overrides(config, host, port)
        # Fixed at start: the workers' listeners were built with it.
        self.shutdown_timeout = self.config.shutdown_timeout
        self.path, self.host, self.port_override = path, host, port
        self.count = workers
        self.table = RouteTable(self.config)
        self.metrics = Metrics(self.table, self.config.metrics.max_origin_labels)
        # The workers' recent rejections, merged (each worker hands over its new ones once a second).
        self.rejections = RejectionLog(self.config.recent_rejections)
        self.context = multiprocessing.get_context("spawn")
        self.workers: dict[int, _Worker] = {}
        self.failures: dict[int, int] = {}  # slot -> deaths in a row before becoming ready
        self.draining = False
        self.port: int | None = None
        self.admin_port: int | None = None
        self._reserve: socket.socket | None = None
        self._lock: socket.socket | None = None

    def _reserve_port(self) -> int:
        """Hold the public port for the workers (``ports.reserve_port``)."""
        port, self._reserve, self._lock = reserve_port(self.config.listen_host, self.config.listen_port)
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
        kind, payload = message
        if kind == "ready":
            worker.ready = True
        elif kind == "rejections" and isinstance(payload, list):
            self.rejections.extend(payload[-self.rejections.capacity:] if self.rejections.capacity else [])

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
        from ..routes import RouteTable

        if config.shutdown_timeout != self.shutdown_timeout:
            log.warning("config reload: shutdown_timeout takes effect after a restart")
            config = dataclasses.replace(config, shutdown_timeout=self.shutdown_timeout)
        self.config = config
        self.table = RouteTable(config)
        self.metrics.use_table(self.table)
        loop = asyncio.get_running_loop()
        for worker in list(self.workers.values()):
            if not worker.exited.is_set():
                # A blocking send in a thread: a large config is written whole,
                # never half, whatever the pipe's buffer size.
                with contextlib.suppress(OSError):
                    await loop.run_in_executor(None, worker.conn.send, ("reload", config))

    def _admin_app(self):
        from ..admin import admin_application

        def not_ready() -> str | None:
            if self.draining:
                return "draining"
            ready = sum(1 for w in self.workers.values() if w.ready and not w.exited.is_set())
            return None if ready == self.count else "starting"

        # The same app, handlers and bearer-token check as a single process;
        # the token is read once, here (a reload's new token needs a restart).
        return admin_application(self.config.admin_token, self.metrics.exposition, not_ready,
                                 table=lambda: self.table, rejections=self.rejections, workers=self.count)

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
                reload_on_change(Reloader(self.path, self.host, self.port_override, self.metrics, self._apply),
                                 tasks, hup_pending=hup.is_set())
            announce(self.config, self.port, self.admin_port, self.count)
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
