"""One gateway process: the public and admin listeners, reloads and the drain, all in this process."""

from __future__ import annotations

import asyncio
import signal
import sys

from ..config import GatewayConfig
from .ports import ListenError, port_lock
from .process import announce, settle_garbage_collector
from .reload import Reloader, reload_on_change, with_overrides


async def serve_single(config: GatewayConfig, path: str | None, host: str | None, port: int | None,
                       on_ready=None) -> None:
    """Run one gateway process until SIGTERM/SIGINT, reloading on SIGHUP and file changes."""
    from ..server import Gateway

    config = with_overrides(config, host, port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # before anything starts: a signal now still drains
        loop.add_signal_handler(sig, stop.set)
    # A multi-worker gateway starting on this port does not listen yet, so a
    # bind would not notice it: its lock does.
    lock = port_lock(config.listen_host, config.listen_port) if config.listen_port else None
    try:
        gateway = Gateway(config)
        try:
            await gateway.start()
        except OSError as err:
            await gateway.stop()  # what start() opened before the failing bind: a listener, the upstream pool
            if gateway.port is None:
                raise ListenError("public", config.listen_host, config.listen_port, err) from None
            raise ListenError("admin", config.admin_host, config.admin_port, err) from None
        settle_garbage_collector()
        tasks = []
        if path is not None:
            async def apply(new: GatewayConfig) -> None:
                gateway.apply_config(new)

            reload_on_change(Reloader(path, host, port, gateway.metrics, apply), tasks)
        announce(config, gateway.port, gateway.admin_port, 1)
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
