"""Pass 1's errors as key paths, and pass 2 despite them.

pydantic's error locations become the user's key paths (``routes.0.cors.origins.1``,
without pydantic's union-member tags), with messages that say what to do.

A shape error must not hide a security mistake elsewhere (``max_age: 1.5``
next to ``"*"`` with credentials).  So the values pass 1 refused are taken
out of a copy of the data and, if what is left validates, pass 2 (the
``_Compiler``) runs on it too; its issues at or under a refused value's path
are dropped, as they would only be about the gap.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from ..settings import Issue
from .compiler import _Compiler
from .errors import ConfigError
from .mistakes import NO_VALUE
from .schema import _CORS_KEYS, _STR_OR_LIST_KEYS, _Config

# A shape error must not hide a security mistake elsewhere (`max_age: 1.5`
# next to `"*"` with credentials).  So the values pass 1 refused are taken out
# of a copy of the data and, if what is left validates, pass 2 runs on it too.
# Its issues at or under a refused value's path are dropped: they would only
# be about the gap.  Where a gap would make pass 2 say something misleading
# elsewhere, the value is replaced by a stand-in instead:
#
# * a list item, because removing it would renumber the items after it;
# * a key of a ``cors`` block, because without it the route would fall back
#   to ``defaults.cors`` (null keeps the key set, meaning "not set");
# * an upstream, whose absence would make its routes' ``upstream`` unknown;
# * a required key, or one whose absence pass 2 judges: with no ``path`` a
#   route has "neither path nor path_regex", and a default port may clash
#   with the other listener's (port 0 never clashes).
#
# A stand-in's own issues are at the refused value's path, so they are dropped.
_MAX_PRUNE_ATTEMPTS = 5
_STAND_INS: dict[str, Any] = {"url": "", "upstream": "", "path": "", "path_regex": "", "port": 0}
_ROUTE_STAND_IN = {"path": "", "upstream": ""}
_UPSTREAM_STAND_IN = {"url": ""}


def _shape_errors(err: ValidationError) -> list[dict]:
    return [e for e in err.errors() if not _redundant_union_error(e)]


def _shape_and_meaning_error(data: dict, err: ValidationError, source: str) -> ConfigError:
    shape = _shape_errors(err)
    errors = [_pydantic_issue(e) for e in shape]
    pruned: set[str] = set()
    model = _validate_pruned(data, shape, pruned)
    if model is None:
        return ConfigError(errors)
    compiler = _Compiler(source)
    try:
        compiler.compile(model)
    except ConfigError:
        pass  # its issues are on the compiler

    def new(issue: Issue) -> bool:
        return not any(issue.path == p or issue.path.startswith(f"{p}.") for p in pruned)

    return ConfigError(
        errors + [i for i in compiler.errors if new(i)],
        [i for i in compiler.warnings if new(i)],
    )


def _validate_pruned(data: dict, shape: list[dict], pruned: set[str]) -> _Config | None:
    """Validate a copy of ``data`` without the values pydantic refused, or None.

    ``pruned`` receives the key path of every value taken out: those of pass 1,
    and any a later attempt refused (a YAML alias can share a value).
    """
    copied = copy.deepcopy(data)
    for _ in range(_MAX_PRUNE_ATTEMPTS):
        for error in shape:
            loc = tuple(p for i, p in enumerate(error["loc"]) if not _is_union_tag(error["loc"], i))
            if not _prune(copied, loc, error["type"]):
                return None
            pruned.add(_pydantic_issue(error).path)
        try:
            return _Config.model_validate(copied)
        except ValidationError as err:
            shape = _shape_errors(err)
    return None


def _prune(data: dict, loc: tuple, kind: str) -> bool:
    """Take the value at ``loc`` out of ``data``, or put a stand-in there.

    False when that cannot fix the problem (``routes`` or ``upstreams`` is
    missing or refused as a whole).
    """
    if loc and loc[-1] == "[key]":  # a mapping key of the wrong type: drop the entry
        loc, kind = loc[:-1], "invalid_key"
    if not loc:
        return False
    parent = _container(data, loc[:-1])
    key = loc[-1]
    if isinstance(parent, list):
        if type(key) is int and 0 <= key < len(parent):
            parent[key] = copy.deepcopy(_ROUTE_STAND_IN) if loc[:-1] == ("routes",) else ""
        return True
    if not isinstance(parent, dict):
        return True  # (None: already gone with a container taken out before)
    if kind in ("extra_forbidden", "invalid_key"):
        if _has_key(parent, key):
            del parent[key]
        return True
    if len(loc) == 2 and loc[0] == "upstreams":
        parent[key] = copy.deepcopy(_UPSTREAM_STAND_IN)
    elif len(loc) >= 2 and loc[-2] == "cors" and key in _CORS_KEYS:
        parent[key] = None
    elif key in _STAND_INS:
        parent[key] = _STAND_INS[key]
    elif kind == "missing":
        return False
    elif _has_key(parent, key):
        del parent[key]
    return True


def _container(data: dict, loc: tuple) -> Any:
    """The value at ``loc`` in ``data``, or None when it (or a container on the way) is gone."""
    node: Any = data
    for part in loc:
        if isinstance(node, dict) and _has_key(node, part):
            node = node[part]
        elif isinstance(node, list) and type(part) is int and 0 <= part < len(node):
            node = node[part]
        else:
            return None
    return node


def _has_key(mapping: dict, key: Any) -> bool:
    try:
        return key in mapping
    except TypeError:  # unhashable
        return False


# pydantic reports the members of the ``str | list[str]`` cors keys as extra
# loc parts ("str", "list[str]") right after the key.  Only those positions
# are union tags: elsewhere "str" may be a user's key (an upstream's name).
_UNION_TAGS = ("str", "list[str]")


def _is_union_tag(loc: tuple, i: int) -> bool:
    return loc[i] in _UNION_TAGS and i >= 2 and loc[i - 1] in _STR_OR_LIST_KEYS and loc[i - 2] == "cors"


def _redundant_union_error(error: dict) -> bool:
    # A list with a bad item also fails the "str" member; the "list[str]"
    # member's error names the item, so the "str" one only misleads.
    loc = error["loc"]
    return bool(loc) and loc[-1] == "str" and _is_union_tag(loc, len(loc) - 1) and isinstance(error.get("input"), list)


def _pydantic_issue(error: dict) -> Issue:
    # Drop the union tags so the path is the user's key path.
    loc = error["loc"]
    parts = [str(p) for i, p in enumerate(loc) if not _is_union_tag(loc, i)]
    path = ".".join(parts) or "<root>"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see README for the config reference)"
    elif error["type"] == "string_type" and error.get("input") is None and type(loc[-1]) is int:
        if "origins" in loc:
            message = f'{NO_VALUE}: for the opaque origin null, quote it: "null"'
        else:
            message = f"{NO_VALUE}: write the value, or remove the item"
    return Issue(path, message)

