"""cors-gateway: a reverse-proxy CORS gateway for unmodified upstream services."""

__version__ = "0.1.0"
