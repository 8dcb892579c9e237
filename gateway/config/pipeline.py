"""The one place YAML becomes a ``GatewayConfig``: ``parse_config`` (``load_config`` for a file).

``check``, ``run``, ``explain`` and every reload go through it.  The steps,
in order:

1. YAML to data (``loading.py``); an unquoted ``*`` is read as the quoted
   string it was meant to be, and reported.
2. The environment (``environment.py``): ``${NAME}``/``${NAME:-default}`` in
   string values are filled from the given environment, a string given for a
   list-valued key is split on commas, and the ``CORS_GATEWAY_*`` overrides
   are applied.
3. Pass 1, shape (``schema.py``, pydantic): types, ranges, unknown keys
   (typos), with the key path of each error (``routes.0.cors.max_age: ...``).
4. Pass 2, meaning (``compiler.py``, ``checks.py``): defaults merged into
   each route, origin patterns parsed, security mistakes refused.

*All* problems are reported together: when pass 1 fails, pass 2 still runs on
the data without the values pass 1 refused (``recovery.py``), so a typo
elsewhere cannot hide a security mistake; pass 1's errors come first.  Issues
about a value set from the environment name the variable.
"""

from __future__ import annotations

import os
from dataclasses import replace

from pydantic import ValidationError

from ..settings import GatewayConfig, Issue
from .compiler import _Compiler
from .environment import _annotated, _apply_env, _env_values, _expand_env, _split_list_strings, _under
from .errors import ConfigError
from .loading import _read_yaml, read_config_text
from .recovery import _shape_and_meaning_error
from .schema import _Config

DEFAULT_CONFIG_PATH = "config/gateway.yaml"


def load_config(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> GatewayConfig:
    """Read and validate a config file; raise ConfigError listing every problem.

    ``env`` (for example ``os.environ``) fills the file's ``${NAME}``
    references (without it, only their defaults apply) and may override a few
    keys for container use, see ``environment.ENV_OVERRIDES``.
    """
    if path is None:
        path = os.environ.get("CORS_GATEWAY_CONFIG") or DEFAULT_CONFIG_PATH
    return parse_config(read_config_text(path), source=str(path), env=env)


def parse_config(text: str, source: str = "<string>", env: dict[str, str] | None = None) -> GatewayConfig:
    """Validate a config's text; raise ConfigError listing every problem.

    The single place YAML becomes data: ``${NAME}`` references are filled from
    ``env`` (none set when it is None), a string given for a list-valued key
    is split on commas, then the ``CORS_GATEWAY_*`` overrides (only with an
    ``env``) are applied, then the two validation passes run.
    """
    data, early = _read_yaml(text, source)
    if data is None:
        raise ConfigError([*early, Issue(source, "config is empty")])
    if not isinstance(data, dict):
        raise ConfigError([*early, Issue(source, "config must be a mapping of keys (listen, upstreams, routes, ...)")])
    unset, expanded = _expand_env(data, env or {})
    _split_list_strings(data)
    applied = _apply_env(data, env, source) if env else {}
    # A value with an unset variable stood in as "": issues about it would be about the stand-in.
    unset = [issue for issue in unset if issue.path not in applied]
    gone = {issue.path for issue in unset}
    config: GatewayConfig | None = None
    try:
        config = _validate(data, source)
        errors, warnings = [], list(config.warnings)
    except ConfigError as err:
        errors, warnings = err.errors, err.warnings
    errors = [*early, *unset, *(_annotated(e, applied, expanded) for e in errors if not _under(e.path, gone))]
    warnings = [_annotated(w, applied, expanded) for w in warnings if not _under(w.path, gone)]
    if errors:
        raise ConfigError(errors, warnings)
    assert config is not None
    return replace(config, warnings=tuple(warnings), environment=_env_values(data, env or {}, applied, expanded))


def _validate(data: dict, source: str) -> GatewayConfig:
    try:
        model = _Config.model_validate(data)
    except ValidationError as err:
        raise _shape_and_meaning_error(data, err, source) from None
    return _Compiler(source).compile(model)
