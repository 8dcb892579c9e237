"""Loading the config with the command line's overrides, and reloading it on SIGHUP and file changes."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import signal
from pathlib import Path

from ..config import ConfigError, GatewayConfig, load_config

log = logging.getLogger("gateway.supervisor")  # one logger for the whole process model

WATCH_INTERVAL = 1.0  # seconds between looks at the config file
SETTLE = 0.5  # a changed file must stay unchanged this long before it is read


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


class Reloader:
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


def reload_on_change(reloader: Reloader, tasks: list, *, hup_pending: bool = False) -> None:
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
