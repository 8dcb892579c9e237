"""Name an upstream failure: its kind, its status (502 or 504) and a one-line message.

``UpstreamError`` names its cause (one of ``metrics.UPSTREAM_ERROR_KINDS``:
dns, connect, tls, timeout, reset, protocol) in a message built only from the
configuration (upstream name, host:port, timeouts) and fixed vocabularies
(OpenSSL and resolver reasons), never from the request or the upstream's
bytes.  An ``http://`` upstream that hangs up on a request may be a TLS port:
``speaks_tls`` asks it (the pool runs that probe, at most once per upstream
every 30 s).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import re
import ssl

import aiohttp
from aiohttp import http_exceptions
from yarl import URL

from ..settings import Upstream
from . import pool

__all__ = ["UpstreamError"]


class UpstreamError(Exception):
    """The upstream could not give a response head."""

    def __init__(self, kind: str, status: int, detail: str):
        super().__init__(detail)
        self.kind = kind  # dns | connect | tls | timeout | reset | protocol (metrics.UPSTREAM_ERROR_KINDS)
        self.status = status  # 502 or 504


def _host_port(upstream: Upstream) -> tuple[str, str]:
    """The configured upstream's host (as resolved: ASCII) and ``host:port`` for messages."""
    url = URL(upstream.url)
    host = url.raw_host or ""
    return host, (f"[{host}]:{url.port}" if ":" in host else f"{host}:{url.port}")


_SSL_REASON = re.compile(r"[A-Z0-9_]{1,64}")
# OpenSSL's reasons for a handshake with something that answered, but not in TLS.
_NOT_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG",
                              "RECORD_LAYER_FAILURE", "UNEXPECTED_EOF_WHILE_READING"})
# aiohttp's parser errors, by class (its messages quote the upstream's bytes: never shown).
_PROTOCOL_DETAILS = (
    (http_exceptions.BadStatusLine, "bad status line"),
    (http_exceptions.LineTooLong, "header line too long"),
    (http_exceptions.InvalidHeader, "invalid header"),
    (http_exceptions.ContentLengthError, "body shorter than its Content-Length"),
    (http_exceptions.TransferEncodingError, "bad chunked body"),
    (http_exceptions.ContentEncodingError, "bad Content-Encoding"),
)


def _fixed_text(text: object, limit: int = 100) -> str:
    """A resolver's or OpenSSL's message, kept to printable ASCII and clipped."""
    text = "".join(c for c in str(text) if " " <= c <= "~").strip().rstrip(".")
    return text[:limit]


def _causes(err: BaseException):
    seen = 0
    while err is not None and seen < 8:
        yield err
        err = err.__cause__ or err.__context__
        seen += 1


def _classify(err: BaseException, upstream: Upstream, waited: float = 0.0, *,
              mid_body: bool = False) -> UpstreamError:
    """Name the failure: kind (the metric label), status and a one-line message.

    ``err`` is a ``pool.PoolError`` (proxied requests) or one of aiohttp's
    client errors (WebSocket handshakes).  ``waited``: seconds from the start
    of the upstream request to ``err`` (tells aiohttp's pool wait from its
    connect timeout).  ``mid_body``: the response head was already received.
    """
    if isinstance(err, pool.PoolError):
        return _classify_pool(err, upstream, mid_body)
    if isinstance(err, aiohttp.ClientConnectorDNSError):
        return _dns_failed(upstream, err.os_error)
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        return _certificate_failed(upstream, err.certificate_error)
    if isinstance(err, aiohttp.ClientSSLError):
        return _handshake_failed(upstream, err.os_error)
    if isinstance(err, aiohttp.ClientConnectorError):
        return _connect_failed(upstream, err.os_error)
    if isinstance(err, aiohttp.ConnectionTimeoutError):
        if waited >= upstream.connect_timeout + upstream.read_timeout - 0.002:
            # aiohttp's ``connect`` timeout (pool wait, name resolution and
            # connect together) fired, not ``sock_connect``.
            return _wait_timed_out(upstream)
        return _connect_timed_out(upstream)
    if isinstance(err, aiohttp.SocketTimeoutError):
        return _read_timed_out(upstream, mid_body)
    if isinstance(err, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return UpstreamError("timeout", 504, f"upstream timed out: {_host_port(upstream)[1]}")
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return _closed(upstream, False, mid_body)
    if isinstance(err, (aiohttp.ClientOSError, ConnectionResetError)):
        return _closed(upstream, getattr(err, "errno", None) == errno.ECONNRESET, mid_body)
    detail = "not valid HTTP/1.1"
    for cause in _causes(err):
        found = next((text for cls, text in _PROTOCOL_DETAILS if isinstance(cause, cls)), None)
        if found:
            detail = found
            break
    return _invalid(upstream, detail)


def _classify_pool(err: pool.PoolError, upstream: Upstream, mid_body: bool) -> UpstreamError:
    if isinstance(err, pool.ResolveFailed):
        return _dns_failed(upstream, err.os_error)
    if isinstance(err, pool.TlsFailed):
        if isinstance(err.ssl_error, ssl.SSLCertVerificationError):
            return _certificate_failed(upstream, err.ssl_error)
        return _handshake_failed(upstream, err.ssl_error)
    if isinstance(err, pool.ConnectFailed):
        return _connect_failed(upstream, err.os_error)
    if isinstance(err, pool.WaitTimeout):
        return _wait_timed_out(upstream)
    if isinstance(err, pool.ConnectTimeout):
        return _connect_timed_out(upstream)
    if isinstance(err, pool.ReadTimeout):
        return _read_timed_out(upstream, mid_body or err.mid_body)
    if isinstance(err, pool.Closed):
        return _closed(upstream, err.reset, mid_body or err.mid_body)
    if isinstance(err, pool.Invalid):
        return _invalid(upstream, err.detail)
    return _invalid(upstream, "not valid HTTP/1.1")


def _dns_failed(upstream: Upstream, os_error: BaseException | None) -> UpstreamError:
    host, _ = _host_port(upstream)
    reason = _fixed_text(getattr(os_error, "strerror", None) or "")
    return UpstreamError("dns", 502, f"upstream name resolution failed: {host} does not resolve"
                                     + (f" ({reason})" if reason else ""))


def _certificate_failed(upstream: Upstream, cert_error: BaseException) -> UpstreamError:
    name = upstream.name
    _, where = _host_port(upstream)
    reason = _fixed_text(getattr(cert_error, "verify_message", None) or getattr(cert_error, "reason", None) or "")
    advice = (f"checked against upstreams.{name}.ca_file" if upstream.ca_file
              else f"if a private CA signed it, set upstreams.{name}.ca_file")
    return UpstreamError("tls", 502, f"upstream TLS certificate verification failed: {where}"
                                     + (f" ({reason})" if reason else "") + f"; {advice}")


def _handshake_failed(upstream: Upstream, ssl_error: BaseException | None) -> UpstreamError:
    _, where = _host_port(upstream)
    reason = getattr(ssl_error, "reason", None) or ""
    reason = reason if _SSL_REASON.fullmatch(reason) else ""
    plain = f"; if it serves plain HTTP, use http:// in upstreams.{upstream.name}.url"
    if reason in _NOT_TLS_REASONS:
        return UpstreamError("tls", 502, f"upstream TLS handshake failed: {where} does not speak TLS ({reason})"
                                         + plain)
    # An alert (no common version or cipher, ...): it does speak TLS.
    return UpstreamError("tls", 502, f"upstream TLS handshake failed: {where}"
                                     + (f" ({reason})" if reason else plain))


def _connect_failed(upstream: Upstream, os_error: BaseException | None) -> UpstreamError:
    _, where = _host_port(upstream)
    if isinstance(os_error, ConnectionRefusedError):
        return UpstreamError("connect", 502, f"upstream refused the connection: {where}")
    reason = _fixed_text(getattr(os_error, "strerror", None) or "")
    return UpstreamError("connect", 502, f"upstream connection failed: {where}"
                                         + (f" ({reason})" if reason else ""))


def _wait_timed_out(upstream: Upstream) -> UpstreamError:
    host, where = _host_port(upstream)
    budget = upstream.connect_timeout + upstream.read_timeout
    resolving = "" if _is_ip(host) else f", or resolving {host} took that long"
    return UpstreamError("timeout", 504, f"upstream timed out: all max_connections "
                                         f"({upstream.max_connections}) to {where} stayed busy for "
                                         f"connect_timeout + read_timeout ({budget:g} s){resolving}")


def _connect_timed_out(upstream: Upstream) -> UpstreamError:
    _, where = _host_port(upstream)
    what = " (TCP and TLS handshake)" if upstream.url.startswith("https:") else ""
    return UpstreamError("timeout", 504, f"upstream timed out: connecting to {where}{what} took longer than "
                                         f"connect_timeout ({upstream.connect_timeout:g} s)")


def _read_timed_out(upstream: Upstream, mid_body: bool) -> UpstreamError:
    _, where = _host_port(upstream)
    waiting = "no body data" if mid_body else "no response head"
    return UpstreamError("timeout", 504, f"upstream timed out: {where} sent {waiting} within read_timeout "
                                         f"({upstream.read_timeout:g} s)")


def _closed(upstream: Upstream, reset: bool, mid_body: bool) -> UpstreamError:
    _, where = _host_port(upstream)
    before = "the end of the response" if mid_body else "a complete response head"
    how = "reset it" if reset else "closed it"
    return UpstreamError("reset", 502, f"upstream closed the connection: {where} {how} before {before}")


def _invalid(upstream: Upstream, detail: str) -> UpstreamError:
    _, where = _host_port(upstream)
    return UpstreamError("protocol", 502, f"upstream sent an invalid response: {where} ({detail})")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _might_be_tls(err: BaseException) -> bool:
    """An http:// upstream hung up on the request, reset it, or answered
    something that is not a status line: what a TLS port does with
    plain HTTP (Python's ssl servers close or reset, others send an alert)."""
    if isinstance(err, pool.PoolError):
        return err.might_be_tls
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return isinstance(err.message, str)  # no head begun (else the partial head it parsed)
    if isinstance(err, (aiohttp.ClientOSError, ConnectionResetError)):
        # Reset, or closed under a body still being sent (EPIPE).
        return not isinstance(err, aiohttp.ClientConnectorError) and (
            isinstance(err, ConnectionResetError) or getattr(err, "errno", None) in (errno.ECONNRESET, errno.EPIPE))
    if isinstance(err, aiohttp.ClientResponseError):
        return any(isinstance(cause, http_exceptions.BadStatusLine) for cause in _causes(err))
    return False


async def _speaks_tls(upstream: Upstream) -> bool:
    """Whether the upstream's host:port completes a TLS handshake (certificate
    not checked: nothing is sent over it), within ``connect_timeout``."""
    host, _ = _host_port(upstream)
    port = URL(upstream.url).port
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    writer = None
    try:
        async with asyncio.timeout(upstream.connect_timeout):
            _, writer = await asyncio.open_connection(host, port, ssl=context,
                                                      server_hostname=None if _is_ip(host) else host)
    except ssl.SSLError as err:
        # A TLS alert (no common version or cipher, a client certificate
        # required): it speaks TLS; a record that is not TLS: it does not.
        return (err.reason or "").startswith(("TLSV1_ALERT", "TLSV13_ALERT", "SSLV3_ALERT"))
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.transport.abort()  # nothing to say: no close_notify round trip to wait for
    return True
