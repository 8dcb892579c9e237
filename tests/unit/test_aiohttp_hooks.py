"""The aiohttp internals the server side relies on are still there.

gateway/server/listener.py and gateway/server/upstream.py subclass aiohttp's request handler,
low-level server and stream response, and read or set private attributes of
them (each use is commented with the aiohttp version it was checked
against).  pyproject.toml pins aiohttp to that major version; this test fails
loudly, naming the hook, when an aiohttp release moves one, instead of the
gateway failing at run time.
"""

from __future__ import annotations

import inspect

import aiohttp
import pytest
from aiohttp import web, web_protocol
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

CHECKED_AGAINST = "3.14"

# (owner, attribute, what the gateway does with it)
HOOKS = [
    (web_protocol.RequestHandler, "_make_error_handler", "listener._GuardedHandler overrides it: 414/431 answers"),
    (web_protocol.RequestHandler, "data_received", "listener._GuardedHandler wraps it: the request-head deadline"),
    (web_protocol.RequestHandler, "connection_made", "listener._GuardedHandler: connection caps before aiohttp starts"),
    (web_protocol.RequestHandler, "pause_writing", "listener._GuardedHandler: the send_timeout watchdog"),
    (web_protocol.RequestHandler, "resume_writing", "listener._GuardedHandler: the send_timeout watchdog"),
    (web.Server, "connection_made", "listener._CappedServer overrides it"),
    (web.Server, "connection_lost", "listener._CappedServer: per-address counts"),
    (web.StreamResponse, "_prepare_headers", "upstream._ProxiedResponse: no invented Content-Type"),
]

# Instance attributes, read from a live object.
HANDLER_ATTRIBUTES = ["_manager", "_loop", "_request_count", "_messages", "_upgraded", "_payload_parser",
                      "_force_close", "_current_request"]
SERVER_ATTRIBUTES = ["_connections", "_kwargs", "_loop"]
RESPONSE_ATTRIBUTES = ["_status", "_reason", "_state", "_headers", "_eof_sent", "_keep_alive", "_body_length"]


def _fail(what: str) -> None:
    pytest.fail(f"aiohttp {aiohttp.__version__} no longer has {what}, which the gateway uses (checked against "
                f"aiohttp {CHECKED_AGAINST}); adapt gateway/server/listener.py or upstream.py before raising the pin in "
                "pyproject.toml", pytrace=False)


@pytest.mark.parametrize("owner, name, use", HOOKS, ids=[f"{o.__name__}.{n}" for o, n, _ in HOOKS])
def test_hooked_methods_exist(owner, name, use):
    if not callable(getattr(owner, name, None)):
        _fail(f"{owner.__name__}.{name} ({use})")


async def test_instance_attributes_exist():
    async def handler(request):  # pragma: no cover - never called
        return web.Response()

    server = web.Server(handler)
    for name in SERVER_ATTRIBUTES:
        if not hasattr(server, name):
            _fail(f"web.Server.{name}")
    protocol = server()  # a RequestHandler, its state set in __init__ (slots)
    for name in HANDLER_ATTRIBUTES:
        if not hasattr(protocol, name):
            _fail(f"RequestHandler.{name}")
    runner = web.ServerRunner(server)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        for name in ("_runner", "_host", "_port", "_ssl_context", "_backlog", "_reuse_address", "_reuse_port",
                     "_server", "_bound_port"):
            if not hasattr(site, name):
                _fail(f"TCPSite.{name} (server/listener.TlsSite re-does TCPSite.start with a TLS handshake timeout)")
    finally:
        await runner.cleanup()
    response = web.StreamResponse()
    for name in RESPONSE_ATTRIBUTES:
        if not hasattr(response, name):
            _fail(f"StreamResponse.{name}")


def test_constructor_hooks_exist():
    if "_real_headers" not in inspect.signature(web.StreamResponse.__init__).parameters:
        _fail("StreamResponse(_real_headers=...) (upstream: hands over response headers without a copy)")
    if "auto_decompress" not in inspect.signature(web_protocol.RequestHandler.__init__).parameters:
        _fail("RequestHandler(auto_decompress=...) (request bodies must never be inflated)")
    if "ceil_threshold" not in inspect.signature(aiohttp.ClientTimeout).parameters:
        _fail("ClientTimeout(ceil_threshold=...) (exact upstream timeouts)")
    assert issubclass(LineTooLong, BadHttpMessage)


def test_the_pin_matches_the_checked_version():
    major, minor = (int(part) for part in aiohttp.__version__.split(".")[:2])
    checked_major, checked_minor = (int(part) for part in CHECKED_AGAINST.split("."))
    assert major == checked_major and minor >= checked_minor, (
        f"aiohttp {aiohttp.__version__} is outside the range the hooks were checked against ({CHECKED_AGAINST}.x)")
