"""A running gateway: its listeners, config reloads, and start-up and drain.

``Gateway`` is the request flow (``handler.RequestFlow``) with the public
listener (``listener._CappedServer``, TLS from ``tls``), the admin listener
(``admin.admin_application``), the upstream pool, ``apply_config`` for hot
reloads, and the once-a-second flush of metrics and logs.  One process runs
one (``supervisor``); so does each worker of a multi-process gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

from aiohttp import web

from ..admin import admin_application
from ..logs import flush_access_log
from ..routes import RouteTable
from ..settings import GatewayConfig
from ..tls import CertificateWatcher
from .handler import RequestFlow
from .listener import TlsSite, _CappedServer
from .upstream import UpstreamPool

__all__ = ["Gateway"]

log = logging.getLogger("gateway")  # the pre-split logger name (log lines show it)


class Gateway(RequestFlow):
    """A running gateway: config, compiled routes, upstream pool, listeners."""

    def __init__(self, config: GatewayConfig, *, worker: bool = False):
        """``worker``: a worker process of a multi-process gateway (its parent loads configs)."""
        super().__init__(config, worker=worker)
        self._retired: set[UpstreamPool] = set()
        self._server: _CappedServer | None = None  # the public listener's, once started
        self.tls: CertificateWatcher | None = None  # the public listener's TLS (listen.tls), once started
        self.ready = False
        self._runners: list[web.BaseRunner] = []
        self._sync_task: asyncio.Task | None = None
        self.port: int | None = None
        self.admin_port: int | None = None

    # -- reload ----------------------------------------------------------------

    def apply_config(self, config: GatewayConfig) -> None:
        """Swap in a new, already validated config.

        New requests use it at once; requests in flight finish under the config
        they started with (they hold their own table and pool).  A changed
        upstream set gets a new connection pool, and the old one is closed once
        its last request is done.  Listener addresses cannot change without a
        restart: that part of a new config is ignored with a warning.
        """
        old = self.config
        restart_only = ("listen_host", "listen_port", "admin_host", "admin_port", "admin_token", "shutdown_timeout",
                        "keepalive_timeout", "max_client_connections", "recent_rejections")
        changed = [name for name in restart_only if getattr(config, name) != getattr(old, name)]
        if changed:
            log.warning("config reload: %s take effect after a restart", ", ".join(changed))
            config = dataclasses.replace(config, **{name: getattr(old, name) for name in changed})
        # The parser's limits, the head timeout and the per-address cap are
        # fixed per listener; the body limit and the body and send timeouts
        # are read per request and change at once.
        limits = dataclasses.replace(old.limits, max_body_size=config.limits.max_body_size,
                                     body_timeout=config.limits.body_timeout,
                                     send_timeout=config.limits.send_timeout)
        if limits != config.limits:
            log.warning("config reload: listen.header_timeout, max_request_line, max_header_size, max_headers "
                        "and max_connections_per_ip take effect after a restart")
            config = dataclasses.replace(config, limits=limits)
        if (config.tls is None) != (old.tls is None):
            log.warning("config reload: turning listen.tls on or off takes effect after a restart")
            config = dataclasses.replace(config, tls=old.tls)
        elif self.tls is not None and config.tls is not None and not self.tls.apply(config.tls):
            config = dataclasses.replace(config, tls=old.tls)  # the old certificate stays (logged)
        table = RouteTable(config)
        if self._server is not None:
            # Read per connection: new connections follow the new config.
            self._server.trusted_proxies = config.trusted_proxies
            self._server.send_timeout = config.limits.send_timeout
        if self.pool is not None and config.upstreams != old.upstreams:
            retired, self.pool = self.pool, UpstreamPool(config.upstreams)
            self._retired.add(retired)
            asyncio.get_running_loop().create_task(self._retire(retired))
        self.metrics.use_table(table)
        self.metrics.max_origin_labels = config.metrics.max_origin_labels
        # The same RequestLog: a reload must not reset the rejection log's rate
        # limits (each reload would grant a new burst).  Its route fragments
        # are rebuilt as routes may have changed.
        self.logs.flush()
        self.logs.reconfigure(config.access_log.enabled, config.access_log.sample_rate)
        self.table = table
        self.config = config

    async def _retire(self, pool: UpstreamPool) -> None:
        """Close a replaced connection pool once the requests still using it are done."""
        while pool.active:
            await asyncio.sleep(0.5)
        if pool in self._retired:
            self._retired.discard(pool)
            await pool.close()

    # -- admin ---------------------------------------------------------------

    def admin_app(self) -> web.Application:
        # The token is read once, here: it changes with a restart, like the listener's address.
        return admin_application(self.config.admin_token, self.metrics.exposition,
                                 lambda: None if self.ready else "draining", table=lambda: self.table,
                                 rejections=self.rejections)

    # -- lifecycle -------------------------------------------------------------

    async def start(
        self, host: str | None = None, port: int | None = None, *, admin: bool = True, reuse_port: bool = False
    ) -> None:
        """Bind the listeners (port 0 picks a free port) and start serving.

        A worker of a multi-process gateway passes ``admin=False`` (its parent
        serves the admin endpoints for all workers) and ``reuse_port=True``
        (the workers share the public port through SO_REUSEPORT).
        """
        server = self._server = _CappedServer(
            self.handle, self.config.limits, self.config.max_client_connections,
            lambda reason: self.metrics.client_refused(reason), access_log=None, handler_cancellation=False,
            keepalive_timeout=self.config.keepalive_timeout,
            trusted_proxies=self.config.trusted_proxies,
            # Request bodies are forwarded byte for byte with the client's own
            # Content-Encoding and Content-Length: aiohttp must not inflate
            # them (it would by default), or the upstream would read a body
            # shorter than announced and take the rest from the next request
            # on a pooled connection.
            auto_decompress=False,
        )
        runner = web.ServerRunner(server, shutdown_timeout=self.config.shutdown_timeout)
        await runner.setup()
        self.tls = CertificateWatcher(self.config.tls) if self.config.tls is not None else None
        where = (host if host is not None else self.config.listen_host,
                 port if port is not None else self.config.listen_port)
        if self.tls is None:
            site = web.TCPSite(runner, *where, reuse_address=True, reuse_port=reuse_port or None)
        else:
            site = TlsSite(runner, *where, reuse_address=True, reuse_port=reuse_port or None,
                           ssl_context=self.tls.context, handshake_timeout=self.config.limits.header_timeout)
        self._runners.append(runner)
        await site.start()
        self.port = _bound_port(runner)
        # After the bind: a port in use must not leave an unclosed pool behind.
        self.pool = UpstreamPool(self.config.upstreams)

        if admin:
            admin_runner = web.AppRunner(self.admin_app(), access_log=None)
            await admin_runner.setup()
            admin_site = web.TCPSite(admin_runner, self.config.admin_host, self.config.admin_port, reuse_address=True)
            await admin_site.start()
            self._runners.append(admin_runner)
            self.admin_port = _bound_port(admin_runner)
        self._sync_task = asyncio.get_running_loop().create_task(self._sync_metrics())
        self.ready = True

    async def _sync_metrics(self) -> None:
        """Once a second: fold plain counters into metrics, write out batched log lines,
        and pick up a rotated TLS certificate (cert-manager rewrites the Secret's files)."""
        while True:
            await asyncio.sleep(1.0)
            self._flush()
            if self.tls is not None:
                try:
                    self.tls.check()
                except Exception:
                    log.exception("listen.tls: checking the certificate files failed")

    def _flush(self) -> None:
        """Fold the metric tallies in and write the access log out; never raises
        (a failed stdout write must not stop the metrics, or a shutdown)."""
        for step in (self.metrics.sync, self.logs.flush, flush_access_log):
            try:
                step()
            except Exception:
                log.exception("periodic %s failed", getattr(step, "__qualname__", step))

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (up to shutdown_timeout), close."""
        self.ready = False
        for runner in self._runners:  # metrics and logs keep flowing while requests drain
            await runner.cleanup()
        self._runners.clear()
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
            self._sync_task = None
        self._flush()  # a worker's last requests reach the shared multiprocess files and stdout
        for pool in [self.pool, *self._retired]:
            if pool is not None:
                await pool.close()
        self._retired.clear()
        self.pool = None


def _bound_port(runner: web.BaseRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return address[1]
    raise RuntimeError("listener has no TCP address")
