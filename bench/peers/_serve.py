"""Serve an aiohttp low-level handler on 127.0.0.1 with uvloop until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

from . import use_uvloop


def serve(handler, port: int, *, on_startup=None, on_cleanup=None) -> None:
    loop = use_uvloop()
    asyncio.set_event_loop(loop)

    async def main() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if on_startup is not None:
            await on_startup()
        server = web.Server(handler, access_log=None, handler_cancellation=False)
        runner = web.ServerRunner(server, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True)
        await site.start()
        print(f"listening on 127.0.0.1:{port}", flush=True)
        await stop.wait()
        await runner.cleanup()
        if on_cleanup is not None:
            await on_cleanup()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
