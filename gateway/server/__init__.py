"""The public side of the gateway: aiohttp listeners, the per-request CORS flow, the upstream proxy.

* ``gateway``: ``Gateway``, a running gateway: listeners, reloads, start and drain.
* ``handler``: the request flow (refuse, route, judge, answer or forward, record).
* ``answers``: the answers the gateway writes itself and the CORS headers it adds.
* ``checks``: what is judged besides CORS (framing, header bytes, WebSocket
  handshakes, same-origin, csrf).
* ``listener``: the aiohttp server and protocol subclasses (connection caps,
  deadlines) and the prebuilt preflight answer.
* ``headers``: the headers that cross the proxy, and X-Request-Id.
* ``bodies``: request bodies, buffered under a per-process budget or streamed.
* ``upstream``: the upstream pools, forwarding and streaming, WebSocket relay.
* ``diagnose``: upstream failures named (dns, connect, tls, timeout, reset, protocol).

``listener`` and ``upstream`` are the only modules that touch aiohttp's
private API (tests/unit/test_aiohttp_hooks.py checks those hooks).
"""

from .gateway import Gateway

__all__ = ["Gateway"]
