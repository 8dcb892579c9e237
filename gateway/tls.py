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


def load_chain(context: ssl.SSLContext, cert_file: str, key_file: str) -> None:
    """Load (or replace) the certificate chain and key of ``context``; TlsError if unusable."""
    _readable(cert_file, "cert_file", "certificate file")
    _readable(key_file, "key_file", "key file")
    try:
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as err:
        reason = err.reason or str(err)
        if "KEY_VALUES_MISMATCH" in reason:
            raise TlsError("key_file", f"the key in {key_file} does not match the certificate in {cert_file}") from None
        if "PEM" in reason or "NO_START_LINE" in reason:
            key = "key_file" if "KEY" in reason.upper() and "CERT" not in reason.upper() else "cert_file"
            raise TlsError(key, f"not a PEM certificate chain and private key ({reason})") from None
        raise TlsError("cert_file", f"cannot load the certificate chain and key: {reason}") from None


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
    """Keeps one server SSLContext and reloads its certificate when told to or when the files change.

    New connections get the new certificate; connections already open keep
    the one they shook hands with.  A broken new pair is refused with an
    error log and the old one stays in use.
    """

    def __init__(self, settings):
        self.settings = settings
        self.context = server_context(settings)
        self._stamp = _stamp((settings.cert_file, settings.key_file))

    def apply(self, settings) -> bool:
        """Use ``settings`` (a reload): new files, new minimum version.  False if they cannot be loaded."""
        try:
            # Into a throwaway context first: a failed load_cert_chain can
            # leave a context half replaced (a new certificate, the old key),
            # and the listener's context is the one every handshake uses.
            server_context(settings)
            load_chain(self.context, settings.cert_file, settings.key_file)
        except TlsError as err:
            log.error("listen.tls.%s: %s; the previous certificate stays in use", err.key, err)
            return False
        self.context.minimum_version = _VERSIONS[settings.min_version]
        self.settings = settings
        self._stamp = _stamp((settings.cert_file, settings.key_file))
        return True

    def check(self) -> bool:
        """Reload the certificate if its files changed since they were read; True when reloaded."""
        stamp = _stamp((self.settings.cert_file, self.settings.key_file))
        if stamp == self._stamp:
            return False
        if self.apply(self.settings):
            log.info("listen.tls: certificate reloaded from %s", self.settings.cert_file)
            return True
        self._stamp = stamp  # do not retry the same broken files every second
        return False
