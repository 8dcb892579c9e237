"""The public listener's TLS: a server SSLContext from ``listen.tls``, and its
certificate re-read when the files change.

Pure stdlib ``ssl``; the config loader uses ``server_context`` to check the
files (errors name the key), the gateway to serve them.  HTTP/1.1 only (ALPN
``http/1.1``): aiohttp serves no HTTP/2.
"""

from __future__ import annotations

import logging
import os
import ssl

__all__ = ["CertificateWatcher", "TlsError", "server_context"]

log = logging.getLogger("gateway.tls")

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


class TlsError(Exception):
    """A ``listen.tls`` file that cannot be used; ``key`` is the key to fix (``cert_file``, ``key_file``)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def _readable(path: str, key: str, what: str) -> None:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as err:
        raise TlsError(key, f"cannot read the {what} {path}: {err.strerror or err}") from None


def _no_passphrase() -> bytes:
    # Without a password callback OpenSSL would prompt on the terminal for an
    # encrypted key, blocking the event loop (or failing on stdin).
    return b""


def load_chain(context: ssl.SSLContext, cert_file: str, key_file: str) -> None:
    """Load the certificate chain and key into a new ``context``; TlsError if unusable."""
    _readable(cert_file, "cert_file", "certificate file")
    _readable(key_file, "key_file", "key file")
    try:
        with open(key_file, "rb") as handle:
            encrypted = b"ENCRYPTED" in handle.read(4096)
    except OSError:
        encrypted = False
    if encrypted:
        raise TlsError("key_file", f"{key_file} is an encrypted private key: the gateway cannot prompt for a "
                                   "passphrase; give it the key unencrypted (e.g. openssl pkey -in KEY -out PLAIN)")
    try:
        context.load_cert_chain(cert_file, key_file, password=_no_passphrase)
    except (OSError, ValueError) as err:  # not ssl.SSLError: e.g. a passphrase prompt that failed
        if isinstance(err, ssl.SSLError):
            raise _chain_error(err, cert_file, key_file) from None
        raise TlsError("key_file", f"cannot load the key {key_file}: {err}") from None


def _chain_error(err: ssl.SSLError, cert_file: str, key_file: str) -> TlsError:
    reason = err.reason or str(err)
    if "BAD_DECRYPT" in reason or "BAD_PASSWORD" in reason:
        return TlsError("key_file", f"{key_file} is an encrypted private key: give it unencrypted")
    if "KEY_VALUES_MISMATCH" in reason:
        return TlsError("key_file", f"the key in {key_file} does not match the certificate in {cert_file}")
    if "PEM" in reason or "NO_START_LINE" in reason:
        key = "key_file" if "KEY" in reason.upper() and "CERT" not in reason.upper() else "cert_file"
        return TlsError(key, f"not a PEM certificate chain and private key ({reason})")
    return TlsError("cert_file", f"cannot load the certificate chain and key: {reason}")


def server_context(settings) -> ssl.SSLContext:
    """An SSLContext for the public listener from ``TlsSettings``; TlsError if the files are unusable."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[settings.min_version]
    context.set_alpn_protocols(["http/1.1"])
    load_chain(context, settings.cert_file, settings.key_file)
    return context


def _stamp(paths: tuple[str, ...]) -> tuple:
    """What changes when a file is rewritten or a Kubernetes Secret's symlinks are swapped."""
    stamp = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            stamp.append(None)
        else:
            stamp.append((info.st_ino, info.st_mtime_ns, info.st_size))
    return tuple(stamp)


class CertificateWatcher:
    """The listener's SSLContext, and its certificate reloaded when told to or when the files change.

    The listener keeps one context for its lifetime (``context``); each
    handshake switches, in its SNI callback (called for every ClientHello,
    with or without a server name), to the context of the newest pair that
    loaded completely.  A pair is loaded into a fresh context, never into one
    in use: a failed ``load_cert_chain`` can leave a context half replaced.
    New connections get the new certificate; connections already open keep
    the one they shook hands with.  A pair that does not load (a rotation
    half written, an encrypted key) is logged and the previous one stays.
    """

    def __init__(self, settings):
        self.settings = settings
        self.current = server_context(settings)
        self.context = server_context(settings)  # the listener's: a fallback with the same pair
        self.context.sni_callback = self._select
        self._stamp = _stamp((settings.cert_file, settings.key_file))

    def _select(self, ssl_object, server_name, context) -> None:
        ssl_object.context = self.current

    def apply(self, settings) -> bool:
        """Use ``settings`` (a reload): new files, new minimum version.  False if they cannot be loaded."""
        stamp = _stamp((settings.cert_file, settings.key_file))
        try:
            fresh = server_context(settings)
        except TlsError as err:
            log.error("listen.tls.%s: %s; the previous certificate stays in use", err.key, err)
            self._stamp = stamp  # do not retry the same broken files every second
            return False
        # The version range is negotiated on the listener's context, before the switch.
        self.context.minimum_version = fresh.minimum_version
        self.current = fresh
        self.settings = settings
        self._stamp = stamp
        return True

    def check(self) -> bool:
        """Reload the certificate if its files changed since they were read; True when reloaded."""
        stamp = _stamp((self.settings.cert_file, self.settings.key_file))
        if stamp == self._stamp:
            return False
        if self.apply(self.settings):
            log.info("listen.tls: certificate reloaded from %s", self.settings.cert_file)
            return True
        return False
