"""The HTTP and CORS vocabulary every part of the gateway shares.

Header names, the RFC 9110 token grammar, Fetch's CORS-safelisted methods,
what makes a request a preflight, and comma-list splitting: defined once here
so the engine, the loader, the server, ``explain`` and the importer cannot
drift apart.  Standard library only.
"""

from __future__ import annotations

import re

__all__ = [
    "ACAC",
    "ACAH",
    "ACAM",
    "ACAO",
    "ACAPN",
    "ACEH",
    "ACMA",
    "ACRH",
    "ACRM",
    "ACRPN",
    "SAFE_METHODS",
    "SAFELISTED_METHODS",
    "TOKEN",
    "is_preflight",
    "split_comma_list",
]

# Response headers (Fetch, "HTTP responses" of the CORS protocol).
ACAO = "Access-Control-Allow-Origin"
ACAC = "Access-Control-Allow-Credentials"
ACAM = "Access-Control-Allow-Methods"
ACAH = "Access-Control-Allow-Headers"
ACEH = "Access-Control-Expose-Headers"
ACMA = "Access-Control-Max-Age"
ACAPN = "Access-Control-Allow-Private-Network"

# Request headers of a preflight.
ACRM = "Access-Control-Request-Method"
ACRH = "Access-Control-Request-Headers"
ACRPN = "Access-Control-Request-Private-Network"

# RFC 9110 5.6.2: a header name or method.
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# Fetch: methods a browser sends cross-origin without a preflight.
SAFELISTED_METHODS = frozenset({"GET", "HEAD", "POST"})
# RFC 9110 9.2.1: methods without side effects (what csrf lets through).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def is_preflight(method: str, headers) -> bool:
    """A CORS preflight: OPTIONS with Access-Control-Request-Method (Fetch 4.8).

    ``headers``: anything with ``in`` on header names (a CIMultiDict).
    """
    return method == "OPTIONS" and ACRM in headers


def split_comma_list(lines) -> list[str]:
    """The items of one or more comma-separated header lines, whitespace trimmed, empty ones dropped."""
    return [item for line in lines for item in (part.strip(" \t") for part in line.split(",")) if item]
