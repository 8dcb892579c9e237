"""Load and validate the YAML config into the immutable ``settings`` objects.

``parse_config`` (``load_config`` for a file) is the one place YAML becomes
data; ``pipeline.py`` says the steps.  One module per job:

* ``pipeline.py``: ``parse_config``/``load_config``, the steps in order;
* ``loading.py``: the file's text, and YAML (duplicate keys refused, an
  unquoted ``*`` read as the string it was meant to be and reported);
* ``environment.py``: ``${NAME}``, comma-separated strings for list-valued
  keys, the ``CORS_GATEWAY_*`` overrides, and naming the variable in issues;
* ``schema.py``: pass 1, the shape (pydantic models);
* ``recovery.py``: pydantic's errors as key paths, and pass 2 on what pass 1
  did not refuse, so a typo cannot hide a security mistake;
* ``compiler.py``: pass 2, the meaning: the ``_Compiler`` that builds the
  ``settings`` objects and makes the listener, admin, upstream and route
  refusals;
* ``checks.py``: pass 2 for each ``cors`` block (merge over
  ``defaults.cors``, origin patterns, the credentials and private-network
  refusals);
* ``mistakes.py``: the classic mistakes, said with what to write instead;
* ``errors.py``: ``ConfigError`` and the issue collector.

I/O: reading the config file (``read_config_text``), and loading the files
the config names, as the server will, so that ``check`` catches what would
fail at start: the admin token file (``admin.token_file``), each upstream's
CA bundle (``ca_file``) and the listener's TLS certificate and key
(``listen.tls``).  The environment is read only as the mapping passed in,
except that ``load_config`` without a path looks up ``CORS_GATEWAY_CONFIG``.
Nothing is compiled for the hot path: ``policy.py`` and ``routes.py`` turn
these objects into matchers.
"""

from __future__ import annotations

from ..settings import (
    DEFAULT_METHODS,
    ClientLimits,
    CorsSettings,
    EnvValue,
    GatewayConfig,
    Issue,
    Route,
    Upstream,
)
from .environment import split_list
from .errors import ConfigError
from .loading import read_config_text
from .pipeline import DEFAULT_CONFIG_PATH, load_config, parse_config
from .schema import _Admin as _Admin  # imported by tests (the token's repr)

__all__ = [
    "ConfigError",
    "ClientLimits",
    "CorsSettings",
    "DEFAULT_METHODS",
    "EnvValue",
    "GatewayConfig",
    "Issue",
    "Route",
    "Upstream",
    "load_config",
    "parse_config",
    "read_config_text",
    "split_list",
    "DEFAULT_CONFIG_PATH",
]
