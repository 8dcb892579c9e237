"""Translate a Flask app's flask-cors setup, read statically, into a cors-gateway config.

That is this module's one job (``cors-gateway import``).  The app's source is
parsed with ``ast`` only: nothing of it is imported or run.  What it
recognises:

* ``CORS(app, ...)``, ``CORS(blueprint, ...)``, ``cors = CORS(...)`` then
  ``cors.init_app(app, ...)``, aliases (``from flask_cors import CORS as X``,
  ``import flask_cors as fc``) and ``flask_cors.CORS(...)``;
* ``resources=`` as a dict of path pattern -> options, a list or a string;
* ``@cross_origin(...)`` with the ``@app.route`` / ``@bp.get`` / ...
  decorators above it (and ``add_url_rule(..., view_func=f)``);
* blueprints with literal ``url_prefix`` (on ``Blueprint(...)`` or on
  ``register_blueprint``, nested too);
* ``app.config["CORS_X"] = ...``, ``app.config.update(...)`` /
  ``from_mapping(...)`` with keywords or a dict, and ``from_object(Class)``
  when the class is in the scanned files;
* option values that are literals, module-level constants (also imported from
  a scanned module), constants assigned once in the enclosing function,
  ``re.compile("...")`` and ``timedelta(...)``.

Anything computed at run time becomes a ``Finding`` ("untranslatable") with
its file and line and the manual edit to make, and the emitted config takes
the narrow choice meanwhile (no origin, no credentials).

flask-cors's semantics are mirrored from its source (6.0): the defaults, the
``probably_regex`` heuristic that decides whether a string is a regex, the
start-only anchoring of ``re.match``, the order of a ``resources`` dict
(literal paths first, then regexes; more ``/`` first, then longer first), the
``CORS_*`` config keys.  Nothing here guesses beyond that heuristic.  Every
place where the gateway deliberately behaves differently is reported as a
finding; README "Migrating from flask-cors" lists them.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from re import (
    _constants as sre_constants,  # the sampler walks CPython's own regex parse tree
)
from re import _parser as sre_parser
from typing import Any, TextIO
from urllib.parse import urlsplit

import re2
import yaml

from .config import ConfigError, parse_config
from .origins import (
    QUIET_RE2,
    PatternError,
    is_serialized_origin,
    normalize_origin,
    parse_pattern,
    regex_matches_any,
)
from .pathregex import PathRegexError, compile_path_regex

__all__ = ["Finding", "ImportResult", "SourceError", "import_app", "import_app_traced", "run_import"]

SECURITY, WARNING, UNTRANSLATABLE, INFO = "security", "warning", "untranslatable", "info"


@dataclass(frozen=True)
class Finding:
    """Something the user must know or do about one line of the app's source."""

    file: str
    line: int
    severity: str  # "security" | "warning" | "untranslatable" | "info"
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class ImportResult:
    config_yaml: str  # a complete gateway config (listen, admin, upstreams.app.url, defaults, routes)
    findings: tuple[Finding, ...]
    routes_found: int  # number of CORS-bearing things translated (0 => nothing usable)


class SourceError(Exception):
    """The app's source cannot be read: missing path, unreadable file, syntax error."""


Site = tuple[str, int]  # (file as displayed, line)

# --------------------------------------------------------------------------
# flask-cors's semantics, mirrored from its source (flask_cors/core.py, 6.0)
# --------------------------------------------------------------------------

FC_ALL_METHODS = ["GET", "HEAD", "POST", "OPTIONS", "PUT", "PATCH", "DELETE"]
FC_DEFAULTS: dict[str, Any] = {
    "origins": "*",
    "methods": FC_ALL_METHODS,
    "allow_headers": "*",
    "expose_headers": None,
    "supports_credentials": False,
    "max_age": None,
    "send_wildcard": False,
    "automatic_options": True,
    "vary_header": True,
    "resources": r"/*",
    "intercept_exceptions": True,
    "always_send": True,
    "allow_private_network": False,
}
FC_CONFIG_KEYS = {f"CORS_{name.upper()}": name for name in FC_DEFAULTS}
# flask-cors's own heuristic: a string with any of these is compiled as a regex.
_REGEX_HINT_CHARS = frozenset("*\\]?$^[]()")
SIMPLE_METHODS = ("GET", "POST")  # never preflighted; HEAD goes with GET in the gateway
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True)
class Regex:
    """A ``re.compile(...)`` written in the source."""

    pattern: str
    ignorecase: bool


@dataclass(frozen=True)
class Duration:
    """A ``timedelta(...)`` written in the source."""

    seconds: float


def probably_regex(value: str | Regex) -> bool:
    """flask-cors's test for "this string is a regex" (core.probably_regex)."""
    return isinstance(value, Regex) or not _REGEX_HINT_CHARS.isdisjoint(value)


def re_fix(value: Any) -> Any:
    """flask-cors turns a bare ``*`` into the regex ``.*`` (core.re_fix)."""
    return ".*" if value == "*" else value


def resource_sort_key(pattern: str | Regex) -> tuple[int, int, int, int]:
    """The order of a ``resources`` dict (core.parse_resources): literals, compiled, regex strings."""
    if isinstance(pattern, Regex):
        return (1, 0, -pattern.pattern.count("/"), -len(pattern.pattern))
    if probably_regex(pattern):
        return (1, 1, -pattern.count("/"), -len(pattern))
    return (0, 0, -pattern.count("/"), -len(pattern))


def flexible_str(value: Any) -> str | None:
    """How flask-cors renders methods and expose_headers (core.flexible_str)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(str(item) for item in sorted(value, key=str))
    return str(value)


def quoted(text: str) -> str:
    """A pattern in single quotes as written in the source (``repr`` would double every backslash)."""
    return f"'{text}'" if "'" not in text else repr(text)


def ensure_list(value: Any) -> list:
    """A scalar (or string) as a one-item list (core.ensure_iterable)."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


# --------------------------------------------------------------------------
# Reading the source
# --------------------------------------------------------------------------

_SKIPPED_DIRS = {"__pycache__", "node_modules", "site-packages"}


class Unresolved:
    """An option value that is only known at run time."""

    def __init__(self, text: str, why: str = ""):
        self.text = text
        self.why = why

    def __repr__(self) -> str:
        return f"Unresolved({self.text!r})"


class _NotStatic(Exception):
    pass


@dataclass
class SourceFile:
    """One parsed ``.py`` file and what is bound where in it."""

    path: Path
    display: str
    module: str
    package: str
    text: str
    tree: ast.Module
    parents: dict[int, ast.AST] = field(default_factory=dict)
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # name -> (module, attr|None)
    constants: dict[str, ast.expr] = field(default_factory=dict)  # module-level NAME = value
    mutated: set[str] = field(default_factory=set)  # names assigned twice, augmented or mutated
    assigned: dict[str, ast.Call] = field(default_factory=dict)  # name -> the call bound to it (any scope)
    cors_names: set[str] = field(default_factory=set)  # local names of flask_cors.CORS
    cross_names: set[str] = field(default_factory=set)  # local names of flask_cors.cross_origin
    fc_modules: set[str] = field(default_factory=set)  # local names of the flask_cors module

    def segment(self, node: ast.AST, limit: int = 80) -> str:
        text = ast.get_source_segment(self.text, node) or ast.unparse(node)
        text = " ".join(text.split())
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(id(node))

    def enclosing_function(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        """The function whose scope ``node`` is evaluated in (decorators belong to the outer one)."""
        child, current = node, self.parent(node)
        while current is not None:
            if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef)) and child in current.body:
                return current
            child, current = current, self.parent(current)
        return None


def _python_files(root: Path) -> list[Path]:
    """Every ``*.py`` below ``root``, sorted; hidden dirs, caches and virtualenvs are skipped."""
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and d not in _SKIPPED_DIRS and not (Path(directory, d) / "pyvenv.cfg").exists()
        )
        found.extend(Path(directory, f) for f in files if f.endswith(".py"))
    return sorted(found)


def _module_names(path: Path, root: Path | None) -> tuple[str, str]:
    """(module, package) dotted names of ``path`` relative to the scanned directory."""
    parts = list(path.relative_to(root).with_suffix("").parts) if root else [path.stem]
    if root is not None and (root / "__init__.py").exists():
        parts.insert(0, root.resolve().name)
    if parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def read_sources(path: str | os.PathLike) -> list[SourceFile]:
    """Parse the file, or every file below the directory; SourceError if impossible."""
    given = Path(path)
    if not given.exists():
        raise SourceError(f"{given}: no such file or directory")
    root = given if given.is_dir() else None
    paths = _python_files(given) if root else [given]
    files = []
    for file in paths:
        display = str(given / file.relative_to(given)) if root else str(given)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise SourceError(f"{display}: cannot read: {err}") from None
        try:
            tree = ast.parse(text, filename=display)
        except SyntaxError as err:
            raise SourceError(f"{display}:{err.lineno}: syntax error: {err.msg}") from None
        module, package = _module_names(file, root)
        source = SourceFile(file, display, module, package, text, tree)
        _index(source)
        files.append(source)
    return files


def _index(source: SourceFile) -> None:
    """Fill in parents, imports, constants and flask-cors names of one file."""
    for node in ast.walk(source.tree):
        for child in ast.iter_child_nodes(node):
            source.parents[id(child)] = node
    counts: dict[str, int] = {}
    for node in source.tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if getattr(node, "value", None) is None:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                counts[target.id] = counts.get(target.id, 0) + 1
                source.constants[target.id] = node.value
    source.mutated.update(name for name, count in counts.items() if count > 1)
    for node in ast.walk(source.tree):
        _index_node(source, node)


_MUTATORS = {"append", "extend", "insert", "add", "update", "remove", "pop", "clear", "setdefault", "discard"}


def _index_node(source: SourceFile, node: ast.AST) -> None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            local = alias.asname or alias.name.split(".")[0]
            source.imports[local] = (alias.name if alias.asname else alias.name.split(".")[0], None)
            if alias.name.split(".")[0] == "flask_cors":
                source.fc_modules.add(local)
    elif isinstance(node, ast.ImportFrom):
        module = _absolute_module(source, node)
        for alias in node.names:
            local = alias.asname or alias.name
            source.imports[local] = (module, alias.name)
            if module.split(".")[0] == "flask_cors":
                if alias.name in ("CORS", "*"):
                    source.cors_names.add(local if alias.name == "CORS" else "CORS")
                if alias.name in ("cross_origin", "*"):
                    source.cross_names.add(local if alias.name == "cross_origin" else "cross_origin")
    elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        source.mutated.add(node.target.id)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _MUTATORS:
        if isinstance(node.func.value, ast.Name):
            source.mutated.add(node.func.value.id)
    elif isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call):
        for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
            if isinstance(target, ast.Name):
                source.assigned[target.id] = node.value


def _absolute_module(source: SourceFile, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = source.package.split(".") if source.package else []
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join([*base, *([node.module] if node.module else [])])


# --------------------------------------------------------------------------
# The project: files, symbol resolution and static values
# --------------------------------------------------------------------------


class Project:
    """The scanned files, with name resolution across them."""

    def __init__(self, files: list[SourceFile]):
        self.files = files
        self.modules: dict[str, SourceFile] = {}
        for file in files:
            for key in _suffixes(file.module):
                self.modules.setdefault(key, file)

    def module(self, name: str) -> SourceFile | None:
        return self.modules.get(name)

    def resolve(self, file: SourceFile, name: str, depth: int = 0) -> tuple[SourceFile, str] | None:
        """Where ``name`` as used in ``file`` is bound: (file, name) in a scanned file, or None."""
        if name in file.assigned or name in file.constants or _defines(file, name):
            return file, name
        target = file.imports.get(name)
        if target is None or depth > 10:
            return None
        module, attr = target
        other = self.module(module)
        if other is None or attr is None:
            return None
        return self.resolve(other, attr, depth + 1)

    def resolve_expr(self, file: SourceFile, node: ast.expr) -> tuple[SourceFile, str] | None:
        """Resolve ``name`` or ``module.name`` to where it is bound."""
        if isinstance(node, ast.Name):
            return self.resolve(file, node.id)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            target = file.imports.get(node.value.id)
            if target is not None:
                module = target[0] if target[1] is None else f"{target[0]}.{target[1]}"
                other = self.module(module)
                if other is not None:
                    return self.resolve(other, node.attr)
        return None

    # -- static values ----------------------------------------------------

    def value(self, file: SourceFile, node: ast.expr) -> Any:
        """The value of ``node``, or an ``Unresolved`` saying why not."""
        try:
            return self._eval(file, node, 0)
        except _NotStatic as err:
            return Unresolved(file.segment(node), str(err))

    def node_of(self, file: SourceFile, node: ast.expr) -> tuple[SourceFile, ast.expr]:
        """Follow a name to the literal it is bound to (to read a dict key by key)."""
        for _ in range(10):
            if not isinstance(node, (ast.Name, ast.Attribute)):
                break
            found = self._constant_node(file, node)
            if found is None:
                break
            file, node = found
        return file, node

    def _constant_node(self, file: SourceFile, node: ast.expr) -> tuple[SourceFile, ast.expr] | None:
        if isinstance(node, ast.Name):
            local = _function_constant(file, node)
            if local is not None:
                return file, local
            if _is_local_name(file, node):
                return None
        where = self.resolve_expr(file, node)
        if where is None:
            return None
        owner, name = where
        if name in owner.mutated or name not in owner.constants:
            return None
        return owner, owner.constants[name]

    def _eval(self, file: SourceFile, node: ast.expr, depth: int) -> Any:
        if depth > 20:
            raise _NotStatic("too deeply nested")
        if isinstance(node, ast.Constant) and not isinstance(node.value, bytes):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            if any(isinstance(item, ast.Starred) for item in node.elts):
                raise _NotStatic("unpacks a value")
            return [self._eval(file, item, depth + 1) for item in node.elts]
        if isinstance(node, ast.Dict):
            return self._eval_dict(file, node, depth)
        if isinstance(node, (ast.Name, ast.Attribute)):
            found = self._constant_node(file, node)
            if found is None:
                raise _NotStatic("a name whose value is only known at run time")
            return self._eval(found[0], found[1], depth + 1)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self._eval(file, node.left, depth + 1), self._eval(file, node.right, depth + 1)
            if type(left) is type(right) and isinstance(left, (str, list)):
                return left + right
            raise _NotStatic("adds values that are not both strings or both lists")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            operand = self._eval(file, node.operand, depth + 1)
            if isinstance(operand, (int, float)) and not isinstance(operand, bool):
                return -operand
        if isinstance(node, ast.Call):
            return self._eval_call(file, node, depth)
        raise _NotStatic("computed at run time")

    def _eval_dict(self, file: SourceFile, node: ast.Dict, depth: int) -> dict:
        result: dict = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                spread = self._eval(file, value, depth + 1)
                if not isinstance(spread, dict):
                    raise _NotStatic("unpacks a value that is not a dict")
                result.update(spread)
                continue
            evaluated = self._eval(file, key, depth + 1)
            try:
                result[evaluated] = self._eval(file, value, depth + 1)
            except TypeError:
                raise _NotStatic("a dict key that is not a plain value") from None
        return result

    def _eval_call(self, file: SourceFile, node: ast.Call, depth: int) -> Any:
        name = _call_name(node)
        if name in ("re.compile", "compile") and node.args and not node.keywords:
            pattern = self._eval(file, node.args[0], depth + 1)
            flags = [_flag_name(arg) for arg in node.args[1:]]
            if isinstance(pattern, str) and all(f in ("I", "IGNORECASE") for f in flags) and len(flags) <= 1:
                return Regex(pattern, bool(flags))
            raise _NotStatic("re.compile with flags other than re.IGNORECASE")
        if name in ("timedelta", "datetime.timedelta"):
            return Duration(_timedelta_seconds(self, file, node, depth))
        if name in ("list", "tuple", "set", "frozenset") and len(node.args) == 1 and not node.keywords:
            value = self._eval(file, node.args[0], depth + 1)
            if isinstance(value, (list, str)):
                return list(value)
        if name == "dict" and not node.args:
            return {kw.arg: self._eval(file, kw.value, depth + 1) for kw in node.keywords if kw.arg}
        raise _NotStatic("computed at run time")


_TIMEDELTA_ARGS = ("days", "seconds", "microseconds", "milliseconds", "minutes", "hours", "weeks")
_TIMEDELTA_SECONDS = {"days": 86400, "seconds": 1, "microseconds": 1e-6, "milliseconds": 1e-3,
                      "minutes": 60, "hours": 3600, "weeks": 604800}


def _timedelta_seconds(project: Project, file: SourceFile, node: ast.Call, depth: int) -> float:
    pairs = list(zip(_TIMEDELTA_ARGS, node.args, strict=False))
    pairs += [(kw.arg, kw.value) for kw in node.keywords if kw.arg in _TIMEDELTA_SECONDS]
    if len(pairs) != len(node.args) + len(node.keywords):
        raise _NotStatic("timedelta with arguments that are not literal")
    total = 0.0
    for unit, arg in pairs:
        amount = project._eval(file, arg, depth + 1)
        if not isinstance(amount, (int, float)) or isinstance(amount, bool):
            raise _NotStatic("timedelta with a non-number")
        total += amount * _TIMEDELTA_SECONDS[unit]
    return total


def _suffixes(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


def _defines(file: SourceFile, name: str) -> bool:
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name
        for node in file.tree.body
    )


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return ""


def _flag_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _function_scope_names(function: ast.AST) -> list[tuple[str, ast.stmt]]:
    """(name, statement) for every name bound in ``function``, nested functions excluded."""
    bound: list[tuple[str, ast.stmt]] = []
    args = function.args  # type: ignore[attr-defined]
    for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if arg is not None:
            bound.append((arg.arg, function))  # type: ignore[arg-type]
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            if not isinstance(node, ast.Lambda):
                bound.append((node.name, node))
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.append((node.id, node))  # type: ignore[arg-type]
        stack.extend(ast.iter_child_nodes(node))
    return bound


def _is_local_name(file: SourceFile, node: ast.Name) -> bool:
    function = file.enclosing_function(node)
    return function is not None and any(name == node.id for name, _ in _function_scope_names(function))


def _function_constant(file: SourceFile, node: ast.Name) -> ast.expr | None:
    """The value of a local assigned exactly once, as a plain statement of the enclosing function."""
    function = file.enclosing_function(node)
    if function is None or node.id in file.mutated:
        return None
    bindings = [stmt for name, stmt in _function_scope_names(function) if name == node.id]
    if len(bindings) != 1:
        return None
    statement = file.parent(bindings[0])
    if (
        isinstance(statement, ast.Assign)
        and statement in function.body
        and len(statement.targets) == 1
        and statement.targets[0] is bindings[0]
    ):
        return statement.value
    return None


# --------------------------------------------------------------------------
# Option values with the place they were written
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Opt:
    """One flask-cors option: its value and where it was written (None: flask-cors's default)."""

    value: Any
    site: Site | None = None
    node: ast.expr | None = field(default=None, compare=False, repr=False)  # the expression written
    file: SourceFile | None = field(default=None, compare=False, repr=False)  # the file it is in


Options = dict[str, Opt]
_DEFAULT_OPTIONS: Options = {name: Opt(value) for name, value in FC_DEFAULTS.items()}


def options_from_keywords(project: Project, file: SourceFile, keywords: list[ast.keyword]) -> Options:
    """Options passed as ``name=value``; ``**spread`` is expanded when it is a literal dict."""
    options: Options = {}
    for keyword in keywords:
        if keyword.arg is not None:
            site = (file.display, keyword.value.lineno)
            options[keyword.arg] = Opt(project.value(file, keyword.value), site, keyword.value, file)
            continue
        owner, node = project.node_of(file, keyword.value)
        if isinstance(node, ast.Dict):
            options.update(options_from_dict(project, owner, node))
        else:
            options["**"] = Opt(Unresolved(file.segment(keyword.value)), (file.display, keyword.value.lineno))
    return options


def options_from_dict(project: Project, file: SourceFile, node: ast.Dict) -> Options:
    """Options written as a dict literal ``{"origins": ..., ...}``, key by key."""
    options: Options = {}
    for key, value in zip(node.keys, node.values, strict=True):
        key_value = project.value(file, key) if key is not None else None
        where = (file.display, value.lineno)
        if not isinstance(key_value, str):
            options["**"] = Opt(Unresolved(file.segment(value)), where)
            continue
        options[key_value] = Opt(project.value(file, value), where, value, file)
    return options


# --------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------


class Findings:
    """Collected findings, each reported once."""

    def __init__(self) -> None:
        self.items: list[Finding] = []
        self._seen: set[Finding] = set()

    def add(self, site: Site, severity: str, message: str) -> None:
        finding = Finding(site[0], site[1], severity, message)
        if finding not in self._seen:
            self._seen.add(finding)
            self.items.append(finding)

    def sorted(self) -> tuple[Finding, ...]:
        return tuple(sorted(self.items, key=lambda f: (f.file, f.line)))


# --------------------------------------------------------------------------
# Origin regexes: anchoring and a concrete example of what changes
# --------------------------------------------------------------------------


def _sample_char(items: list) -> str | None:
    """A character a regex character class accepts (for the example origin)."""
    negate = bool(items) and items[0][0] == sre_constants.NEGATE
    if negate:
        return next((c for c in "ax0-." if not _class_has(c, items[1:])), None)
    for op, av in items:
        if op == sre_constants.LITERAL:
            return chr(av)
        if op == sre_constants.RANGE:
            lo, hi = av
            return next((c for c in "a1" if lo <= ord(c) <= hi), chr(lo))
        if op == sre_constants.CATEGORY:
            return _CATEGORY_SAMPLES.get(av, "a")
    return None


_CATEGORY_SAMPLES = {
    sre_constants.CATEGORY_DIGIT: "1",
    sre_constants.CATEGORY_NOT_DIGIT: "a",
    sre_constants.CATEGORY_SPACE: " ",
    sre_constants.CATEGORY_NOT_SPACE: "a",
    sre_constants.CATEGORY_WORD: "a",
    sre_constants.CATEGORY_NOT_WORD: "-",
}


def _class_has(char: str, items: list) -> bool:
    for op, av in items:
        if op == sre_constants.LITERAL and chr(av) == char:
            return True
        if op == sre_constants.RANGE and av[0] <= ord(char) <= av[1]:
            return True
        if op == sre_constants.CATEGORY and _CATEGORY_SAMPLES.get(av) is not None:
            probe = {sre_constants.CATEGORY_DIGIT: r"\d", sre_constants.CATEGORY_NOT_DIGIT: r"\D",
                     sre_constants.CATEGORY_SPACE: r"\s", sre_constants.CATEGORY_NOT_SPACE: r"\S",
                     sre_constants.CATEGORY_WORD: r"\w", sre_constants.CATEGORY_NOT_WORD: r"\W"}[av]
            if re.fullmatch(probe, char):
                return True
    return False


def _sample(tree: Iterable) -> str:
    """One short string the parsed regex matches (first branch, one repetition)."""
    out = []
    for op, av in tree:
        if op == sre_constants.LITERAL:
            out.append(chr(av))
        elif op == sre_constants.NOT_LITERAL:
            out.append("a" if av != ord("a") else "b")
        elif op == sre_constants.ANY:
            out.append("a")
        elif op == sre_constants.IN:
            char = _sample_char(av)
            if char is None:
                raise ValueError("empty class")
            out.append(char)
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, getattr(sre_constants, "POSSESSIVE_REPEAT", None)):
            lo, hi, sub = av
            out.append(_sample(sub) * (lo if lo > 0 else min(hi, 1)))
        elif op == sre_constants.SUBPATTERN:
            out.append(_sample(av[-1]))
        elif op == getattr(sre_constants, "ATOMIC_GROUP", None):
            out.append(_sample(av))
        elif op == sre_constants.BRANCH:
            out.append(_sample(av[1][0]))
        elif op in (sre_constants.AT, sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            continue
        else:
            raise ValueError(f"cannot sample {op}")
    return "".join(out)


_EXAMPLE_SUFFIXES = (".evil.test", "-evil.test", "evil.test")


def prefix_match_example(pattern: str, flags: int, gateway_regex: str) -> str | None:
    """An origin a browser can send that ``re.match`` accepts and the gateway's full match refuses."""
    try:
        sample = _sample(sre_parser.parse(pattern, flags)).lower()
        compiled = re.compile(pattern, flags)
    except (re.error, ValueError, TypeError, OverflowError):
        return None
    gateway = re2.compile(gateway_regex, options=QUIET_RE2)
    for suffix in _EXAMPLE_SUFFIXES:
        candidate = sample + suffix
        if compiled.match(candidate) and not gateway.fullmatch(candidate) and is_serialized_origin(candidate):
            return candidate
    return None


def gateway_origin_regex(pattern: str, ignorecase: bool) -> str:
    """flask-cors's ``re.match`` (case-insensitive for strings) as a gateway full-match pattern.

    Browsers send lowercase origins, so ``(?i:`` only matters when the
    pattern has an uppercase letter; it is used exactly then.
    """
    group = "(?i:" if ignorecase and any(c.isupper() for c in pattern) else "(?:"
    # "https://*.example.com" is a regex to flask-cors, where "//*" is one or
    # more "/": written "/+", the same regex, as `check` refuses "//*" (in a
    # config it is a mistaken wildcard; here it is translated on purpose).
    pattern = _STAR_AFTER_SLASHES.sub(r"\1+", pattern)
    return f"^{group}{pattern})$"


_STAR_AFTER_SLASHES = re.compile(r"(/|\\/)(?:/|\\/)\*")


def _anchored_already(pattern: str) -> bool:
    return pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith("\\$")


# --------------------------------------------------------------------------
# Options -> one gateway ``cors`` block
# --------------------------------------------------------------------------


def runs_on_re2(findings, regex: str, site: Site, what: str, consequence: str, *, path: bool = False) -> bool:
    """Whether the gateway can compile ``regex``; if not, an untranslatable finding says so.

    ``path``: a ``path_regex``, compiled as the gateway compiles those
    (``gateway.pathregex``: Python's Unicode classes, or a refusal saying why).
    """
    try:
        if path:
            compile_path_regex(regex)
        else:
            re2.compile(regex, options=QUIET_RE2)
    except PathRegexError as err:
        findings.add(site, UNTRANSLATABLE, f"{what} cannot run on RE2 ({err}); {consequence}")
        return False
    except re2.error:
        findings.add(site, UNTRANSLATABLE, f"{what} cannot run on RE2 (backreferences or lookaround); {consequence}")
        return False
    return True


class CorsTranslator:
    """Turns merged flask-cors options into a gateway ``cors`` block, reporting every difference."""

    def __init__(self, findings: Findings):
        self.findings = findings

    def block(
        self, options: Options, anchor: Site, route_methods: set[str] | None = None, *, decorator: bool = False
    ) -> dict:
        """The ``cors`` block for these options.

        ``anchor``: where findings about flask-cors's defaults point (the
        CORS() call or the decorator); ``route_methods``: the view's methods,
        when the route is one view's rule.
        """
        self._unknown_options(options, anchor)
        cors: dict[str, Any] = {}
        # Options unpacked at run time may hold the origins: allow none meanwhile.
        origins = [] if "**" in options else self._origins(options["origins"], anchor)
        credentials = self._flag(options, "supports_credentials", anchor)
        private_network = self._flag(options, "allow_private_network", anchor)
        credentials = self._credentials_check(origins, credentials, options, anchor)
        private_network = self._private_network_check(origins, private_network, options, anchor)
        cors["origins"] = origins
        if credentials:
            cors["supports_credentials"] = True
        methods = self._methods(options["methods"], anchor, route_methods)
        if methods is not None:
            cors["methods"] = methods
        allow_headers = self._allow_headers(options["allow_headers"], anchor)
        if allow_headers is not None:
            cors["allow_headers"] = allow_headers
        expose = self._expose_headers(options["expose_headers"], anchor, credentials)
        if expose:
            cors["expose_headers"] = expose
        max_age = self._max_age(options["max_age"], anchor)
        if max_age is not None:
            cors["max_age"] = max_age
        if private_network:
            cors["allow_private_network"] = True
        self._no_equivalent(options, decorator, public="*" in origins)
        return cors

    def _site(self, opt: Opt, anchor: Site) -> Site:
        return opt.site or anchor

    def _unknown_options(self, options: Options, anchor: Site) -> None:
        for name, opt in options.items():
            if name == "**":
                self.findings.add(
                    self._site(opt, anchor), UNTRANSLATABLE,
                    f"options unpacked from {opt.value.text} are only known at run time; the emitted route uses "
                    "the other options and no origin: add the unpacked options to the route's cors block by hand",
                )
            elif name not in FC_DEFAULTS:
                self.findings.add(
                    self._site(opt, anchor), WARNING,
                    f"flask-cors ignores the unknown option {name!r} (it only logs a warning); so does the config",
                )

    # -- origins ------------------------------------------------------------

    def _origins(self, opt: Opt, anchor: Site) -> list[str]:
        site = self._site(opt, anchor)
        value = opt.value
        if isinstance(value, Unresolved):
            self.findings.add(
                site, UNTRANSLATABLE,
                f"origins {value.text} is only known at run time; emitted origins: [] (no origin allowed) "
                'meanwhile: replace it with the origins it has in production, e.g. origins: ["https://app.example.com"]',
            )
            return []
        if isinstance(value, dict):
            self.findings.add(site, UNTRANSLATABLE, "origins is a dict; emitted origins: [] (list the origins by hand)")
            return []
        entries = [re_fix(entry) for entry in ensure_list(value)]
        if opt.site is None:
            self.findings.add(
                site, WARNING,
                'origins not set: flask-cors allows every origin by default ("*"), so every website can read these '
                'responses; emitted origins: "*" (the gateway answers "*" and, unlike flask-cors, refuses Origin: '
                "null). List your frontends' origins instead",
            )
        origins: list[str] = []
        for entry in entries:
            for origin in self._origin(entry, site):
                if origin not in origins:
                    origins.append(origin)
        if "*" in origins:
            if opt.site is not None:
                self.findings.add(
                    site, WARNING,
                    'origins "*": flask-cors also allowed Origin: null (sandboxed iframes, file: pages); the '
                    'gateway\'s "*" refuses Origin: null: add "null" to origins if such pages call this app',
                )
            origins = ["*"]  # the other entries are redundant (check would warn)
        return origins

    def _origin(self, entry: Any, site: Site) -> list[str]:
        if entry == ".*":
            return ["*"]
        if isinstance(entry, Regex):
            return self._origin_regex(entry.pattern, entry.ignorecase, site)
        if not isinstance(entry, str):
            self.findings.add(site, WARNING, f"origin {entry!r} is not a string, so flask-cors never matched it; left out")
            return []
        if probably_regex(entry):
            return self._origin_regex(entry, True, site)
        return self._origin_literal(entry, site)

    def _origin_literal(self, entry: str, site: Site) -> list[str]:
        # flask-cors compares a literal with the Origin header, ignoring case.
        text = entry.casefold()
        if text == "null":
            return ["null"]
        try:
            normal = normalize_origin(entry)
        except PatternError as err:
            self.findings.add(
                site, WARNING,
                f"origin {entry!r} is not an origin a browser sends ({err}), so flask-cors never matched it; left out",
            )
            return []
        if normal != text:
            self.findings.add(
                site, WARNING,
                f"origin {entry!r}: flask-cors compares it with the Origin header as text, and browsers send "
                f"{normal!r}, so it never matched; left out (add {normal!r} if you meant it)",
            )
            return []
        return [normal]

    def _origin_regex(self, pattern: str, ignorecase: bool, site: Site) -> list[str]:
        regex = gateway_origin_regex(pattern, ignorecase)
        if not runs_on_re2(self.findings, regex, site, f"origin regex {quoted(pattern)}",
                                 "left out: rewrite it as a re:^...$ pattern RE2 accepts, or list the origins"):
            return []
        self._wildcard_hint(pattern, site)
        example = prefix_match_example(pattern, re.IGNORECASE if ignorecase else 0, regex)
        if example is not None:
            self.findings.add(
                site, SECURITY,
                f"origin regex {quoted(pattern)}: flask-cors matches it with re.match, which anchors only the start, so it "
                f"accepted {example!r}; the gateway matches the whole origin (re:{regex}) and refuses that origin. "
                "Keep it refused; if an origin your pages use no longer matches, add it",
            )
        elif not _anchored_already(pattern):
            self.findings.add(
                site, INFO,
                f"origin regex {quoted(pattern)} becomes re:{regex}: the gateway matches the whole origin, flask-cors "
                "only its start; check that the origins your pages use still match",
            )
        return [f"re:{regex}"]

    def _wildcard_hint(self, pattern: str, site: Site) -> None:
        try:
            kind = parse_pattern(pattern).kind
        except PatternError:
            return
        if kind == "wildcard":
            self.findings.add(
                site, WARNING,
                f"origin {quoted(pattern)} is a regex to flask-cors, not a subdomain wildcard ('*' repeats the '/' "
                f"before it, '.' is any character), so it never matched a subdomain; translated as that regex. "
                f"For every subdomain, write {quoted(pattern)} in the gateway config without re: (a gateway wildcard)",
            )

    # -- credentials and private network -------------------------------------

    def _flag(self, options: Options, name: str, anchor: Site) -> bool:
        opt = options[name]
        if isinstance(opt.value, Unresolved):
            self.findings.add(
                self._site(opt, anchor), UNTRANSLATABLE,
                f"{name} {opt.value.text} is only known at run time; emitted false: set {name}: true by hand "
                "if it is true in production",
            )
            return False
        return bool(opt.value)

    def _open_to_all(self, origins: list[str]) -> str | None:
        """'"*"' or the re: pattern that matches any origin, if the origins are open to every site."""
        if "*" in origins:
            return '"*"'
        for origin in origins:
            if origin.startswith("re:") and regex_matches_any(parse_pattern(origin)) is not None:
                return origin
        return None

    def _credentials_check(self, origins: list[str], credentials: bool, options: Options, anchor: Site) -> bool:
        open_to = self._open_to_all(origins)
        if not credentials or open_to is None:
            return credentials
        site = self._site(options["supports_credentials"], anchor)
        raises = open_to == '"*"' and options["send_wildcard"].value is True
        what = (
            "flask-cors raises ValueError at start-up for this (send_wildcard is on)"
            if raises
            else f"with origins {open_to} flask-cors reflects every Origin with Access-Control-Allow-Credentials: "
            "true, so any website can act as your logged-in users"
        )
        self.findings.add(
            site, SECURITY,
            f"supports_credentials=True: {what}. The gateway refuses that; the emitted route keeps origins "
            f"{open_to} without credentials, so credentialed cross-origin requests fail. Fix: list your "
            "frontends' origins in origins and set supports_credentials: true",
        )
        return False

    def _private_network_check(self, origins: list[str], allowed: bool, options: Options, anchor: Site) -> bool:
        open_to = self._open_to_all(origins)
        if not allowed or open_to is None:
            return allowed
        self.findings.add(
            self._site(options["allow_private_network"], anchor), SECURITY,
            f"allow_private_network=True with origins {open_to}: every public website could reach this private "
            "service (CVE-2024-6221); emitted allow_private_network: false. Fix: list the allowed origins and "
            "set it to true",
        )
        return False

    # -- methods and headers --------------------------------------------------

    def _methods(self, opt: Opt, anchor: Site, route_methods: set[str] | None) -> list[str] | None:
        site = self._site(opt, anchor)
        if isinstance(opt.value, Unresolved):
            self.findings.add(
                site, UNTRANSLATABLE,
                f"methods {opt.value.text} is only known at run time; the gateway's default methods apply: "
                "set methods by hand",
            )
            return None
        text = flexible_str(opt.value) or ""
        tokens = [t.strip().upper() for t in text.split(",") if t.strip()]
        methods: list[str] = []
        for token in tokens:
            if token == "*":
                self.findings.add(
                    site, WARNING,
                    "methods '*' is no wildcard to flask-cors (no preflighted method matched it); left out",
                )
            elif not _TOKEN.fullmatch(token):
                self.findings.add(site, WARNING, f"method {token!r} is not a valid HTTP token; left out")
            elif token not in methods:
                # OPTIONS stays: a page's fetch(url, {method: "OPTIONS"}) is
                # preflighted with Access-Control-Request-Method: OPTIONS, which
                # flask-cors's default list allows.
                methods.append(token)
        if route_methods is not None:
            # Flask answers OPTIONS on every route (automatic options).
            methods = [m for m in methods if m in route_methods or m == "OPTIONS"]
        # flask-cors sorts a list alphabetically; written in the usual order here.
        methods.sort(key=lambda m: FC_ALL_METHODS.index(m) if m in FC_ALL_METHODS else len(FC_ALL_METHODS))
        relevant = [m for m in SIMPLE_METHODS if route_methods is None or m in route_methods]
        missing = [m for m in relevant if m not in methods]
        if missing:
            self.findings.add(
                site, WARNING,
                f"methods leave out {', '.join(missing)}: flask-cors never checks methods on requests a browser "
                "does not preflight, so cross-origin " + "/".join(missing) + " requests still got CORS headers; "
                "the gateway checks methods on every request: add them if your pages send them",
            )
        return methods

    def _header_names(self, opt: Opt, anchor: Site, what: str, *, regexes: bool) -> list[str] | str | None:
        site = self._site(opt, anchor)
        if isinstance(opt.value, Unresolved):
            self.findings.add(
                site, UNTRANSLATABLE,
                f"{what} {opt.value.text} is only known at run time; the gateway's default applies: set {what} by hand",
            )
            return None
        if opt.value is None:
            return []
        items = [re_fix(item) for item in ensure_list(opt.value)] if regexes else ensure_list(opt.value)
        names: list[str] = []
        for item in items:
            if item in (".*", "*"):
                return "*"
            if regexes and (isinstance(item, Regex) or (isinstance(item, str) and probably_regex(item))):
                shown = item.pattern if isinstance(item, Regex) else item
                self.findings.add(
                    site, WARNING,
                    f"{what} regex {quoted(shown)}: the gateway has no header regexes; emitted \"*\" (every header "
                    "allowed): list the header names to narrow it",
                )
                return "*"
            for name in str(item).split(","):
                name = name.strip()
                if name and not _TOKEN.fullmatch(name):
                    self.findings.add(site, WARNING, f"{what}: {name!r} is not a valid header name; left out")
                elif name and name.lower() not in (n.lower() for n in names):
                    names.append(name)
        return names

    def _allow_headers(self, opt: Opt, anchor: Site) -> list[str] | str | None:
        return self._header_names(opt, anchor, "allow_headers", regexes=True)

    def _expose_headers(self, opt: Opt, anchor: Site, credentials: bool) -> list[str] | str | None:
        names = self._header_names(opt, anchor, "expose_headers", regexes=False)
        if names == "*" and credentials:
            self.findings.add(
                self._site(opt, anchor), WARNING,
                'expose_headers "*" with credentials: browsers read it as a header named "*", so nothing was '
                "exposed; left out: list the header names",
            )
            return None
        return names

    def _max_age(self, opt: Opt, anchor: Site) -> int | None:
        value = opt.value
        site = self._site(opt, anchor)
        if isinstance(value, Unresolved):
            self.findings.add(site, UNTRANSLATABLE, f"max_age {value.text} is only known at run time; left out: set it by hand")
            return None
        if value is None:
            return None
        if isinstance(value, Duration):
            return max(int(value.seconds), 0)
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        self.findings.add(site, WARNING, f"max_age {value!r} is not a whole number of seconds; left out")
        return None

    # -- options without an equivalent ---------------------------------------

    def _no_equivalent(self, options: Options, decorator: bool, public: bool) -> None:
        def explicit(name: str) -> Opt | None:
            opt = options[name]
            return opt if opt.site is not None else None

        if (opt := explicit("send_wildcard")) and opt.value is True and public:
            self.findings.add(opt.site, INFO, 'send_wildcard: the gateway answers "*" itself on a route whose '
                              'origins are "*" without credentials')
        if (opt := explicit("vary_header")) and opt.value is not True:
            self.findings.add(opt.site, WARNING, "vary_header=False has no equivalent: the gateway always sends "
                              "Vary: Origin (except on the allowed answers of a public route), so caches stay correct")
        if (opt := explicit("always_send")) and opt.value is not False:
            self.findings.add(opt.site, WARNING, "always_send has no equivalent: the gateway never sends "
                              "Access-Control-Allow-Origin to a request without Origin (browsers always send Origin "
                              "on cross-origin requests, so only non-browser clients see a difference)")
        if (opt := explicit("automatic_options")) is not None:
            if decorator and opt.value is False:
                self.findings.add(opt.site, WARNING, "automatic_options=False: flask-cors answered this view's "
                                  "preflights without CORS headers (so they failed); the gateway answers them")
            else:
                self.findings.add(opt.site, INFO, "automatic_options: the gateway always answers preflights itself")
        if (opt := explicit("intercept_exceptions")) is not None:
            self.findings.add(opt.site, INFO, "intercept_exceptions: the gateway decorates every answer, errors "
                              "included, with the route's CORS headers")


# --------------------------------------------------------------------------
# What the app does: blueprints, config, views, CORS activations
# --------------------------------------------------------------------------


# A finding held back until its object feeds a CORS route (an app may have
# blueprints and views flask-cors never touches): (site, severity, message).
Problem = tuple[Site, str, str]


@dataclass
class Blueprint:
    file: SourceFile
    name: str
    url_prefix: str | None
    line: int
    registrations: list[tuple[Blueprint | None, str | None, int]] = field(default_factory=list)  # (parent, prefix, line)
    problems: list[Problem] = field(default_factory=list)

    def mounts(self, depth: int = 0) -> list[tuple[str | None, tuple[Blueprint, ...]]]:
        """(URL prefix, the blueprints from this one up to the app) for every place it is mounted.

        A prefix of None is the app root.  Nesting joins prefixes as Flask does.
        """
        if not self.registrations:
            return [(self.url_prefix, (self,))]
        result: list[tuple[str | None, tuple[Blueprint, ...]]] = []
        for parent, prefix, _ in self.registrations:
            own = prefix if prefix is not None else self.url_prefix
            parents = parent.mounts(depth + 1) if parent is not None and depth < 10 else [(None, ())]
            for above, chain in parents:
                if above is not None and own is not None:
                    joined: str | None = above.rstrip("/") + "/" + own.lstrip("/")
                else:
                    joined = own if own is not None else above
                result.append((joined, (self, *chain)))
        return result

    def problems_up(self) -> list[Problem]:
        """This blueprint's held-back findings and those of the blueprints it is nested in."""
        return [p for _, chain in self.mounts() for b in chain for p in b.problems]


@dataclass
class ViewRule:
    """One URL rule of a view: ``@app.route(rule)`` or ``add_url_rule``."""

    rule: str
    methods: set[str]
    blueprint: Blueprint | None
    line: int

    def paths(self, within: Blueprint | None = None) -> list[str]:
        """The full rules, with each mount prefix of the blueprint (Flask's join).

        ``within``: only where the blueprint is mounted inside that blueprint
        (itself included).
        """
        if self.blueprint is None:
            return [self.rule]
        paths = []
        for prefix, chain in self.blueprint.mounts():
            if within is not None and within not in chain:
                continue
            if prefix is None:
                paths.append(self.rule)
            elif self.rule:
                paths.append("/".join((prefix.rstrip("/"), self.rule.lstrip("/"))))
            else:
                paths.append(prefix)
        return paths


@dataclass
class View:
    file: SourceFile
    function: ast.FunctionDef | ast.AsyncFunctionDef
    rules: list[ViewRule] = field(default_factory=list)
    cross_origin: ast.Call | None = None
    dead_rules: list[ViewRule] = field(default_factory=list)  # route decorators below @cross_origin
    problems: list[tuple[Blueprint | None, Problem]] = field(default_factory=list)  # (the rule's blueprint, problem)


@dataclass
class Activation:
    """One CORS extension installed on an app or a blueprint."""

    file: SourceFile
    call: ast.Call
    target: Blueprint | None  # None: the app
    options: list[Options]  # constructor kwargs, then init_app kwargs


@dataclass
class ConfigValue:
    file: SourceFile
    line: int
    key: str
    opt: Opt


_ROUTE_METHODS = {"get": "GET", "post": "POST", "put": "PUT", "delete": "DELETE", "patch": "PATCH"}
_CONFIG_LOADERS = ("from_object", "from_pyfile", "from_envvar", "from_file", "from_prefixed_env")


class AppModel:
    """Everything the importer read about the app, across all files."""

    def __init__(self, project: Project, findings: Findings):
        self.project = project
        self.findings = findings
        self.blueprints: dict[tuple[str, str], Blueprint] = {}
        self.views: list[View] = []
        self.activations: list[Activation] = []
        self.config: list[ConfigValue] = []
        self.uses_flask_cors = False
        self._consumed: set[int] = set()
        self._loaders: list[Problem] = []
        for file in project.files:
            self._find_blueprints(file)
        for file in project.files:
            self._read_file(file)
        if self.uses_flask_cors:
            for site, severity, message in self._loaders:
                findings.add(site, severity, message)

    # -- blueprints -----------------------------------------------------------

    def _find_blueprints(self, file: SourceFile) -> None:
        for name, call in file.assigned.items():
            if _call_name(call).split(".")[-1] == "Blueprint":
                blueprint = Blueprint(file, name, None, call.lineno)
                prefix = next((kw.value for kw in call.keywords if kw.arg == "url_prefix"), None)
                blueprint.url_prefix = self._prefix(file, prefix, blueprint)
                self.blueprints[(file.display, name)] = blueprint

    def _prefix(self, file: SourceFile, node: ast.expr | None, blueprint: Blueprint) -> str | None:
        if node is None:
            return None
        value = self.project.value(file, node)
        if isinstance(value, str) or value is None:
            return value
        blueprint.problems.append((
            (file.display, node.lineno), UNTRANSLATABLE,
            (f"url_prefix {file.segment(node)} is only known at run time; routes assume no prefix: "
            "fix their paths by hand"),
        ))
        return None

    def blueprint_of(self, file: SourceFile, node: ast.expr) -> Blueprint | None:
        where = self.project.resolve_expr(file, node)
        return self.blueprints.get((where[0].display, where[1])) if where else None

    # -- one file ------------------------------------------------------------

    def _read_file(self, file: SourceFile) -> None:
        self.uses_flask_cors |= bool(file.cors_names or file.cross_names or file.fc_modules)
        nodes = sorted(ast.walk(file.tree), key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._read_view(file, node)
        for node in nodes:
            if isinstance(node, ast.Call):
                self._read_call(file, node)
            elif isinstance(node, ast.Assign):
                self._read_config_item(file, node)
        for node in ast.walk(file.tree):
            if isinstance(node, ast.Call) and self._is_cross_origin(file, node.func) and id(node) not in self._consumed:
                self.findings.add(
                    (file.display, node.lineno), UNTRANSLATABLE,
                    f"{file.segment(node)} is not a decorator of a view function; add a route for the views it "
                    "wraps by hand",
                )

    def _is_cors(self, file: SourceFile, func: ast.expr) -> bool:
        if isinstance(func, ast.Name):
            return func.id in file.cors_names
        return isinstance(func, ast.Attribute) and func.attr == "CORS" and _root_name(func) in file.fc_modules

    def _is_cross_origin(self, file: SourceFile, func: ast.expr) -> bool:
        if isinstance(func, ast.Name):
            return func.id in file.cross_names
        return isinstance(func, ast.Attribute) and func.attr == "cross_origin" and _root_name(func) in file.fc_modules

    def _read_call(self, file: SourceFile, call: ast.Call) -> None:
        func = call.func
        if self._is_cors(file, func):
            self._read_cors(file, call)
        elif isinstance(func, ast.Attribute) and func.attr == "init_app" and self._cors_instance(file, func.value):
            ctor = self._cors_instance(file, func.value)
            ctor_file = self._instance_file(file, func.value)
            target = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "app"), None)
            ctor_opts = options_from_keywords(self.project, ctor_file, [k for k in ctor.keywords if k.arg != "app"])
            opts = options_from_keywords(self.project, file, [k for k in call.keywords if k.arg != "app"])
            self._activate(file, call, target, [ctor_opts, opts])
        elif isinstance(func, ast.Attribute) and func.attr == "register_blueprint":
            self._read_registration(file, call)
        elif isinstance(func, ast.Attribute) and func.attr == "add_url_rule":
            self._read_url_rule(file, call)
        elif isinstance(func, ast.Attribute) and _is_config(func.value):
            self._read_config_call(file, call, func.attr)

    def _cors_instance(self, file: SourceFile, node: ast.expr) -> ast.Call | None:
        where = self.project.resolve_expr(file, node)
        if where is None:
            return None
        owner, name = where
        call = owner.assigned.get(name)
        return call if call is not None and self._is_cors(owner, call.func) else None

    def _instance_file(self, file: SourceFile, node: ast.expr) -> SourceFile:
        where = self.project.resolve_expr(file, node)
        return where[0] if where else file

    def _read_cors(self, file: SourceFile, call: ast.Call) -> None:
        target = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "app"), None)
        if target is None or (isinstance(target, ast.Constant) and target.value is None):
            return  # cors = CORS(...): installed later by init_app
        opts = options_from_keywords(self.project, file, [k for k in call.keywords if k.arg != "app"])
        self._activate(file, call, target, [opts])

    def _activate(self, file: SourceFile, call: ast.Call, target: ast.expr | None, options: list[Options]) -> None:
        blueprint = self.blueprint_of(file, target) if target is not None else None
        self.activations.append(Activation(file, call, blueprint, options))
        if _conditional(file, call):
            self.findings.add(
                (file.display, call.lineno), WARNING,
                "flask-cors is installed conditionally here (inside if/for/while/except); the gateway route "
                "applies always: delete it from the config if that branch does not run in production",
            )

    def _read_registration(self, file: SourceFile, call: ast.Call) -> None:
        if not call.args:
            return
        child = self.blueprint_of(file, call.args[0])
        if child is None:
            return
        parent = self.blueprint_of(file, call.func.value)  # type: ignore[attr-defined]
        prefix_node = next((kw.value for kw in call.keywords if kw.arg == "url_prefix"), None)
        child.registrations.append((parent, self._prefix(file, prefix_node, child), call.lineno))

    # -- config ----------------------------------------------------------------

    def _read_config_item(self, file: SourceFile, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Subscript) and _is_config(target.value):
                key = self.project.value(file, target.slice)
                if isinstance(key, str):
                    self._config_value(file, key, node.value)

    def _config_value(self, file: SourceFile, key: str, node: ast.expr, value: Any = None) -> None:
        if key not in FC_CONFIG_KEYS:
            return
        value = self.project.value(file, node) if value is None else value
        if value is None:
            return  # flask-cors skips config keys set to None
        self.config.append(ConfigValue(file, node.lineno, key, Opt(value, (file.display, node.lineno), node, file)))
        if _conditional(file, node):
            self.findings.add(
                (file.display, node.lineno), WARNING,
                f"{key} is set conditionally; the emitted config assumes it is set: check the branch production runs",
            )

    def _read_config_call(self, file: SourceFile, call: ast.Call, method: str) -> None:
        if method in ("update", "from_mapping"):
            for keyword in call.keywords:
                if keyword.arg:
                    self._config_value(file, keyword.arg, keyword.value)
            for arg in call.args:
                owner, node = self.project.node_of(file, arg)
                if isinstance(node, ast.Dict):
                    for key, value in zip(node.keys, node.values, strict=True):
                        key_value = self.project.value(owner, key) if key is not None else None
                        if isinstance(key_value, str):
                            self._config_value(owner, key_value, value)
        elif method == "from_object" and call.args and self._config_class(file, call.args[0]):
            return
        elif method in _CONFIG_LOADERS:
            self._loaders.append((
                (file.display, call.lineno), WARNING,
                (f"{file.segment(call)} loads config at run time; if it sets CORS_* keys, the importer did not see "
                "them: add their values to the emitted routes by hand"),
            ))

    def _config_class(self, file: SourceFile, node: ast.expr) -> bool:
        """Read CORS_* attributes of ``from_object(SomeClass)`` when the class is in the scanned files."""
        where = self.project.resolve_expr(file, node)
        if where is None:
            return False
        owner, name = where
        cls = next((n for n in owner.tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)
        if cls is None:
            return False
        if any(not (isinstance(base, ast.Name) and base.id == "object") for base in cls.bases):
            self.findings.add(
                (owner.display, cls.lineno), WARNING,
                f"config class {name} has base classes; their CORS_* attributes were not read: check them by hand",
            )
        for statement in cls.body:
            if isinstance(statement, ast.Assign):
                for target in statement.targets:
                    if isinstance(target, ast.Name):
                        self._config_value(owner, target.id, statement.value)
        return True

    # -- views -------------------------------------------------------------------

    def _read_view(self, file: SourceFile, function: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        view = View(file, function)
        seen_cross = False
        for decorator in function.decorator_list:
            if isinstance(decorator, ast.Call) and self._is_cross_origin(file, decorator.func):
                view.cross_origin, seen_cross = decorator, True
                self._consumed.add(id(decorator))
                continue
            if self._is_cross_origin(file, decorator):
                self.findings.add(
                    (file.display, decorator.lineno), WARNING,
                    "@cross_origin without parentheses replaces the view with flask-cors's decorator factory, so "
                    "this view never served CORS; write @cross_origin()",
                )
                continue
            rule = self._route_decorator(file, decorator, view)
            if rule is not None:
                (view.dead_rules if seen_cross else view.rules).append(rule)
        self.views.append(view)

    def _route_decorator(self, file: SourceFile, decorator: ast.expr, view: View) -> ViewRule | None:
        if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
            return None
        kind = decorator.func.attr
        if kind != "route" and kind not in _ROUTE_METHODS:
            return None
        blueprint = self.blueprint_of(file, decorator.func.value)
        if kind != "route" and blueprint is None and not self._is_app(file, decorator.func.value):
            return None
        methods_node = next((kw.value for kw in decorator.keywords if kw.arg == "methods"), None)
        methods = [_ROUTE_METHODS[kind]] if kind in _ROUTE_METHODS else ["GET"]
        return self._rule(file, decorator.args[0] if decorator.args else None, methods_node, methods, blueprint, view)

    def _is_app(self, file: SourceFile, node: ast.expr) -> bool:
        where = self.project.resolve_expr(file, node)
        if where is None:
            return False
        call = where[0].assigned.get(where[1])
        return call is not None and _call_name(call).split(".")[-1] == "Flask"

    def _rule(
        self, file: SourceFile, rule_node: ast.expr | None, methods_node: ast.expr | None,
        methods: list[str], blueprint: Blueprint | None, view: View,
    ) -> ViewRule | None:
        if rule_node is None:
            return None
        rule = self.project.value(file, rule_node)
        if not isinstance(rule, str):
            view.problems.append((blueprint, (
                (file.display, rule_node.lineno), UNTRANSLATABLE,
                f"route rule {file.segment(rule_node)} is only known at run time; add a route for it by hand",
            )))
            return None
        if methods_node is not None:
            given = self.project.value(file, methods_node)
            if isinstance(given, list) and all(isinstance(m, str) for m in given):
                methods = [m.upper() for m in given]
            else:
                view.problems.append((blueprint, (
                    (file.display, methods_node.lineno), UNTRANSLATABLE,
                    (f"route methods {file.segment(methods_node)} are only known at run time; assumed GET: "
                    "fix the route's methods by hand"),
                )))
        method_set = set(methods)
        if "GET" in method_set:
            method_set.add("HEAD")  # Werkzeug adds HEAD wherever GET is
        return ViewRule(rule, method_set, blueprint, rule_node.lineno)

    def _read_url_rule(self, file: SourceFile, call: ast.Call) -> None:
        view_node = next((kw.value for kw in call.keywords if kw.arg == "view_func"), None)
        if view_node is None and len(call.args) >= 3:
            view_node = call.args[2]
        if not isinstance(view_node, ast.Name):
            return
        view = next((v for v in self.views if v.file is file and v.function.name == view_node.id), None)
        if view is None:
            return
        blueprint = self.blueprint_of(file, call.func.value)  # type: ignore[attr-defined]
        methods_node = next((kw.value for kw in call.keywords if kw.arg == "methods"), None)
        rule = self._rule(file, call.args[0] if call.args else None, methods_node, ["GET"], blueprint, view)
        if rule is not None:
            view.rules.append(rule)

    # -- config layers -------------------------------------------------------

    def config_options(self, before: tuple[SourceFile, int] | None) -> Options:
        """CORS_* config as options; ``before``: only what was set before this call in its file."""
        options: Options = {}
        for item in self.config:
            if before is not None and item.file is before[0] and item.line > before[1]:
                self.findings.add(
                    (item.file.display, item.line), WARNING,
                    f"{item.key} is set after CORS() (line {before[1]}), which had already read the config, so "
                    "the extension ignores it (only @cross_origin views see it); the emitted config does too",
                )
                continue
            options[FC_CONFIG_KEYS[item.key]] = item.opt
        return options


def _root_name(node: ast.expr) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def _is_config(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "config"


def _conditional(file: SourceFile, node: ast.AST) -> bool:
    current = file.parent(node)
    while current is not None and not isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
        if isinstance(current, (ast.If, ast.For, ast.While, ast.IfExp, ast.ExceptHandler, ast.match_case)):
            return True
        current = file.parent(current)
    return False


# --------------------------------------------------------------------------
# Paths: Flask rules and flask-cors resources as gateway routes
# --------------------------------------------------------------------------

# Werkzeug's rule syntax: <converter(args):name> (werkzeug/routing/rules.py).
_RULE_VARIABLE = re.compile(
    r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\((?P<args>.*?)\))?:)?(?P<variable>[a-zA-Z_][a-zA-Z0-9_]*)>"
)
# Werkzeug 3.1's converter regexes (werkzeug/routing/converters.py).  The
# emitted path_regex is compiled by gateway.pathregex, so \d is Unicode as in
# Python's re (<int:id> serves /users/١) and these accept exactly what the
# converters' regexes accept.  PathConverter's "[^/].*?" (no DOTALL: "." stops
# at "\n") becomes "[^/][^\n]*": the gateway's "." matches "\n".
_CONVERTERS = {
    "default": "[^/]+",
    "string": "[^/]+",
    "int": r"\d+",
    "float": r"\d+\.\d+",
    "path": "[^/][^\\n]*",
    "uuid": "[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}",
}
# Positional parameters of each converter's __init__ after ``map``.
_CONVERTER_PARAMS = {
    "default": ("minlength", "maxlength", "length"),
    "string": ("minlength", "maxlength", "length"),
    "int": ("fixed_digits", "min", "max", "signed"),
    "float": ("min", "max", "signed"),
    "path": (),
    "uuid": (),
}
_RE2_MAX_REPEAT = 1000  # RE2 refuses {n} above this
# werkzeug.routing.rules._converter_args_re, and its _pythonize.
_CONVERTER_ARG = re.compile(
    r"""
    \s*
    ((?P<name>\w+)\s*=\s*)?
    (?P<value>
        True|False|
        \d+.\d+|
        \d+.|
        \d+|
        [\w\d_.]+|
        [urUR]?(?P<stringval>"[^"]*?"|'[^']*')
    )\s*,
    """,
    re.VERBOSE,
)
_RE2_SPECIAL = set(".^$*+?()[]{}|\\")
_CONVERTER_SAMPLES = {"int": "1", "float": "1.5", "uuid": "00000000-0000-0000-0000-000000000000"}


def regex_escape(text: str) -> str:
    """Escape regex metacharacters only (what RE2 and Python agree on)."""
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in text)


def _converter_value(text: str) -> Any:
    constants = {"None": None, "True": True, "False": False}
    if text in constants:
        return constants[text]
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text[:1] == text[-1:] and text[:1] in ("'", '"'):
        text = text[1:-1]
    return text


def converter_args(text: str) -> tuple[list, dict] | None:
    """Werkzeug's ``parse_converter_args``: (positional, keyword) values, or None if it would refuse them."""
    text += ","
    args: list = []
    kwargs: dict = {}
    position = 0
    for item in _CONVERTER_ARG.finditer(text):
        if item.start() != position:
            return None
        value = item.group("stringval")
        value = _converter_value(item.group("value") if value is None else value)
        if item.group("name"):
            kwargs[item.group("name")] = value
        else:
            args.append(value)
        position = item.end()
    return args, kwargs  # like Werkzeug, text after the last argument it reads is ignored


def _length(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def converter_regex(converter: str, args_text: str) -> str | None:
    """The regex Werkzeug 3.1's ``converter`` matches a variable with, or None if unknown or unreadable.

    ``int``/``float``: ``signed`` adds ``-?``; ``fixed_digits``, ``min`` and
    ``max`` leave the regex alone, as in Werkzeug, which matches the rule on
    the regex and then answers 404 (it tries no other rule) when
    ``to_python`` refuses the value.  ``default``/``string``: ``minlength``,
    ``maxlength`` and ``length`` are part of the regex (``[^/]{2}``), so a
    value of another length goes to the next rule, as in Werkzeug.
    """
    parsed = converter_args(args_text) if args_text.strip() else ([], {})
    if parsed is None:
        return None
    args, kwargs = parsed
    if converter == "any":
        if kwargs or not args:
            return None
        return "(?:" + "|".join(regex_escape(str(choice)) for choice in args) + ")"
    if converter not in _CONVERTERS:
        return None
    params = _CONVERTER_PARAMS[converter]
    if len(args) > len(params) or any(name not in params for name in kwargs):
        return None
    values = {**dict(zip(params, args)), **kwargs}
    if converter in ("int", "float"):
        return ("-?" if values.get("signed") else "") + _CONVERTERS[converter]
    if converter in ("default", "string") and values:
        if values.get("length") is not None:
            length = _length(values["length"])
            repeat = None if length is None else f"{{{length}}}"
        else:
            low = _length(values.get("minlength", 1))
            high = None if values.get("maxlength") is None else _length(values["maxlength"])
            bad_high = values.get("maxlength") is not None and high is None
            repeat = None if low is None or bad_high else f"{{{low},{'' if high is None else high}}}"
        if repeat is None or any(int(n) > _RE2_MAX_REPEAT for n in re.findall(r"\d+", repeat)):
            return None
        return "[^/]" + repeat
    return _CONVERTERS[converter]


def rule_regex(rule: str, site: Site, findings: Findings) -> str:
    """A Flask URL rule as a full-match path regex (converters as Werkzeug defines them)."""
    rule = re.sub("/{2,}", "/", rule)  # Werkzeug merges repeated slashes in rules (merge_slashes)
    out, position = [], 0
    for match in _RULE_VARIABLE.finditer(rule):
        out.append(regex_escape(rule[position : match.start()]))
        converter = match.group("converter") or "default"
        regex = converter_regex(converter, match.group("args") or "")
        if regex is not None:
            out.append(regex)
        elif converter in _CONVERTERS or converter == "any":
            fallback = _CONVERTERS.get(converter, "[^/]+")
            out.append(fallback)
            findings.add(site, WARNING, f"URL converter {match.group(0)!r} in {rule!r}: its arguments could not be "
                         f"translated; matched as {fallback}; fix path_regex by hand if Werkzeug matches less")
        else:
            out.append("[^/]+")
            findings.add(site, WARNING, f"custom URL converter {converter!r} in {rule!r}: matched as one path "
                         "segment ([^/]+); fix path_regex by hand if it matches more")
        position = match.end()
    out.append(regex_escape(rule[position:]))
    return "".join(out)


def rule_sample(rule: str) -> str:
    """A concrete path the rule serves (to test a resource pattern against a view)."""
    def one(match: re.Match) -> str:
        converter = match.group("converter") or "default"
        if converter == "any":
            return (match.group("args") or "x").split(",")[0].strip().strip("'\"")
        return _CONVERTER_SAMPLES.get(converter, "x")

    return _RULE_VARIABLE.sub(one, rule)


def resource_matches(pattern: str | Regex, path: str) -> bool:
    """flask-cors's resource test on a path: ``re.match`` for regexes, equality for literals."""
    if isinstance(pattern, Regex):
        return bool(re.match(pattern.pattern, path, re.IGNORECASE if pattern.ignorecase else 0))
    if probably_regex(pattern):
        try:
            return bool(re.match(pattern, path))
        except re.error:
            return False
    return path == pattern


def matches_every_path(pattern: str | Regex) -> bool:
    """flask-cors's default resource ``/*`` and re_fix's ``.*`` (from ``*``) cover every path."""
    return pattern in ("/*", ".*")


# --------------------------------------------------------------------------
# Emitted routes
# --------------------------------------------------------------------------


@dataclass
class Route:
    name: str
    cors: dict
    source: Site
    comment: str
    path: str | None = None
    path_regex: str | None = None

    @property
    def scope(self) -> tuple[str | None, str | None]:
        return (self.path, self.path_regex)

    def as_yaml(self, upstream_name: str) -> dict:
        entry: dict[str, Any] = {"name": self.name}
        if self.path is not None:
            entry["path"] = self.path
        else:
            entry["path_regex"] = self.path_regex
        entry["upstream"] = upstream_name
        entry["cors"] = self.cors
        return entry


class RouteBuilder:
    """Builds the gateway routes in the order flask-cors applies its settings."""

    def __init__(self, model: AppModel, findings: Findings):
        self.model = model
        self.findings = findings
        self.translator = CorsTranslator(findings)
        self.routes: list[Route] = []
        self._names: set[str] = set()

    def build(self) -> list[Route]:
        # 1. @cross_origin views: flask-cors marks their responses, so no
        #    extension touches them afterwards.
        for view in self.model.views:
            if view.cross_origin is not None:
                self._decorated_view(view)
        # 2. Blueprint extensions: Flask runs a blueprint's after_request
        #    hooks before the app's.
        app_activations = [a for a in self.model.activations if a.target is None]
        for activation in self.model.activations:
            if activation.target is not None:
                self._blueprint_activation(activation, also_app=bool(app_activations))
        # 3. App extensions: Flask runs the later-registered hook first.
        for activation in reversed(app_activations):
            self._app_activation(activation, several=len(app_activations) > 1)
        return self.routes

    def _report(self, problems: Iterable[Problem]) -> None:
        for site, severity, message in problems:
            self.findings.add(site, severity, message)

    def _add(self, route: Route, *, shadow_note: str | None = None) -> None:
        earlier = next((r for r in self.routes if r.scope == route.scope), None)
        if earlier is not None:
            if shadow_note:
                self.findings.add(route.source, WARNING, shadow_note.format(earlier=earlier.name))
            return
        name, n = route.name, 2
        while name in self._names:
            name, n = f"{route.name} #{n}", n + 1
        route.name = name
        self._names.add(name)
        self.routes.append(route)

    # -- decorators --------------------------------------------------------------

    def _decorated_view(self, view: View) -> None:
        file, call = view.file, view.cross_origin
        assert call is not None
        site = (file.display, call.lineno)
        self._report(problem for _, problem in view.problems)
        for rule in view.rules:
            self._report(rule.blueprint.problems_up() if rule.blueprint else ())
        for dead in view.dead_rules:
            self.findings.add(
                (file.display, dead.line), WARNING,
                f"the route decorator for {dead.rule!r} is below @cross_origin, so Flask registered the view "
                "without it and flask-cors never ran for this rule; no CORS emitted for it (move @cross_origin "
                "below the route decorators if you meant it)",
            )
        if not view.rules and not view.dead_rules:
            self.findings.add(
                site, UNTRANSLATABLE,
                f"@cross_origin on {view.function.name}(), but no route for it was found statically; add a route "
                "for its path by hand",
            )
            return
        options = {
            **_DEFAULT_OPTIONS,
            **self.model.config_options(None),
            **options_from_keywords(self.model.project, file, call.keywords),
        }
        for rule in view.rules:
            for path in rule.paths():
                self._view_route(view, rule, path, options, site, f"@cross_origin on {view.function.name}()")

    def _view_route(self, view: View, rule: ViewRule, path: str, options: Options, site: Site, what: str) -> None:
        if not path.startswith("/"):
            self.findings.add((view.file.display, rule.line), WARNING, f"rule {path!r} does not start with '/'; skipped")
            return
        cors = self.translator.block(options, site, route_methods=rule.methods, decorator=view.cross_origin is not None)
        regex = rule_regex(path, (view.file.display, rule.line), self.findings)
        self._add(
            Route(f"{view.function.name} {path}", cors, site, f"{what}, rule {path!r}", path_regex=regex),
            shadow_note="another view already serves this path ({earlier}); the gateway applies that route's "
                        "CORS to this view's methods too: merge the two by hand",
        )

    # -- blueprint extensions ----------------------------------------------------

    def _blueprint_activation(self, activation: Activation, also_app: bool) -> None:
        blueprint = activation.target
        assert blueprint is not None
        site = (activation.file.display, activation.call.lineno)
        if also_app:
            self.findings.add(
                site, WARNING,
                f"CORS({blueprint.name}) and a CORS() on the app both cover this blueprint's views: flask-cors "
                "runs the blueprint's first and the app's next, so an origin one rejects the other may allow; the "
                "gateway applies the blueprint's route only: merge the origins by hand if you relied on both",
            )
        # A blueprint has no config: flask-cors reads no CORS_* keys for it.
        base = _merge(_DEFAULT_OPTIONS, *activation.options)
        resources = self._resources(activation, base, site)
        if resources is None:
            return
        # Flask runs a blueprint's hooks for the views of blueprints nested in it too.
        def inside(rule: ViewRule) -> bool:
            return rule.blueprint is not None and any(blueprint in chain for _, chain in rule.blueprint.mounts())

        self._report(blueprint.problems_up())
        views = [v for v in self.model.views if any(inside(r) for r in v.rules)]
        for view in self.model.views:
            self._report(problem for owner, problem in view.problems if owner is blueprint)
        if not views:
            self.findings.add(
                site, UNTRANSLATABLE,
                f"CORS({blueprint.name}) on a blueprint whose views were not found statically; add routes for "
                "its paths by hand",
            )
        for view in views:
            if view.cross_origin is not None:
                continue
            for rule in (r for r in view.rules if inside(r)):
                self._report(rule.blueprint.problems_up())  # type: ignore[union-attr]
                for path in rule.paths(within=blueprint):
                    self._blueprint_view(activation, view, rule, path, resources, base)
        if not blueprint.registrations:
            self.findings.add(
                (blueprint.file.display, blueprint.line), WARNING,
                f"blueprint {blueprint.name} is not registered in the scanned files; its routes assume url_prefix "
                f"{blueprint.url_prefix!r}",
            )

    def _blueprint_view(
        self, activation: Activation, view: View, rule: ViewRule, path: str,
        resources: list[tuple[Any, Options, Site]], base: Options,
    ) -> None:
        sample = rule_sample(path)
        for pattern, resource_options, resource_site in resources:
            if not (matches_every_path(pattern) or resource_matches(pattern, sample)):
                continue
            if sample != path and not matches_every_path(pattern):
                self.findings.add(
                    resource_site, WARNING,
                    f"resource {_shown(pattern)} was matched against {path!r} using the sample path {sample!r}; "
                    "check that it covers the whole rule",
                )
            options = _merge(base, resource_options)
            what = f"CORS({activation.target.name}) on view {view.function.name}()"  # type: ignore[union-attr]
            self._view_route(view, rule, path, options, resource_site, what)
            return

    # -- app extensions ----------------------------------------------------------

    def _app_activation(self, activation: Activation, several: bool) -> None:
        site = (activation.file.display, activation.call.lineno)
        if several:
            self.findings.add(
                site, WARNING,
                "the app has more than one flask-cors extension: flask-cors runs each in turn, and an origin one "
                "rejects another may allow; the gateway applies the first matching route only (the later "
                "extension's routes come first, as Flask runs its hook first): merge them into one CORS() call",
            )
        config = self.model.config_options((activation.file, activation.call.lineno))
        base = _merge(_DEFAULT_OPTIONS, config, *activation.options)
        resources = self._resources(activation, base, site)
        for pattern, resource_options, resource_site in resources or []:
            scope = self._resource_scope(pattern, resource_site)
            if scope is None:
                continue
            options = _merge(base, resource_options)
            cors = self.translator.block(options, site)
            path, path_regex, note = scope
            what = f"{activation.file.segment(activation.call, 60)}, resource {_shown(pattern)} ({note})"
            self._add(Route(f"resource {_plain(pattern)}", cors, resource_site, what, path=path, path_regex=path_regex))

    def _resource_scope(self, pattern: Any, site: Site) -> tuple[str | None, str | None, str] | None:
        if matches_every_path(pattern):
            return "/", None, "every path"
        if isinstance(pattern, Regex) or probably_regex(pattern):
            source = pattern.pattern if isinstance(pattern, Regex) else pattern
            group = "(?i:" if isinstance(pattern, Regex) and pattern.ignorecase else "(?:"
            regex = f"{group}{source})(?s:.*)"
            if not runs_on_re2(self.findings, regex, site, f"resource regex {quoted(source)}",
                               "no route emitted: add a route with a path_regex RE2 accepts", path=True):
                return None
            return None, regex, "flask-cors: re.match, a prefix match"
        if not pattern.startswith("/"):
            self.findings.add(site, WARNING, f"resource {quoted(pattern)} does not start with '/', so it never matched a "
                              "path; no route emitted")
            return None
        return None, regex_escape(pattern), "flask-cors: a literal path, matched exactly"

    def _resources(self, activation: Activation, base: Options, site: Site) -> list[tuple[Any, Options, Site]] | None:
        """(pattern, per-resource options, where) in flask-cors's order, or None if unreadable."""
        opt = base["resources"]
        where = opt.site or site
        if "**" in base:
            self.findings.add(
                where, UNTRANSLATABLE,
                f"{base['**'].value.text} is unpacked at run time, so the resources are unknown; no route emitted "
                "for this CORS(): add its routes by hand",
            )
            return None
        node_info = self._resources_node(opt)
        if node_info is not None:
            return node_info
        value = opt.value
        if isinstance(value, Unresolved):
            self.findings.add(
                where, UNTRANSLATABLE,
                f"resources {value.text} is only known at run time; no route emitted for this CORS(): add a route "
                "per resource path by hand",
            )
            return None
        if isinstance(value, dict):
            pairs = [(re_fix(k), self._literal_options(v, where), where) for k, v in value.items()]
            return sorted(pairs, key=lambda p: resource_sort_key(p[0]))
        return [(re_fix(pattern), {}, where) for pattern in ensure_list(value) if isinstance(pattern, (str, Regex))]

    def _resources_node(self, opt: Opt) -> list[tuple[Any, Options, Site]] | None:
        """A resources dict read key by key (per-resource lines), when it is a literal in the source."""
        if opt.site is None:
            return None
        if opt.node is None or opt.file is None:
            return None
        owner, node = self.model.project.node_of(opt.file, opt.node)
        if not isinstance(node, ast.Dict) or any(k is None for k in node.keys):
            return None
        pairs = []
        for key, value in zip(node.keys, node.values, strict=True):
            pattern = self.model.project.value(owner, key)
            where = (owner.display, key.lineno)
            if not isinstance(pattern, (str, Regex)):
                self.findings.add(where, UNTRANSLATABLE, f"resource {owner.segment(key)} is only known at run time; "
                                  "no route emitted for it: add it by hand")
                continue
            value_owner, value_node = self.model.project.node_of(owner, value)
            if isinstance(value_node, ast.Dict):
                options = options_from_dict(self.model.project, value_owner, value_node)
            else:
                options = self._literal_options(self.model.project.value(owner, value), where)
            pairs.append((re_fix(pattern), options, where))
        # A literal dict keeps the last value of a repeated key, at the first key's place.
        unique: dict[Any, tuple[Any, Options, Site]] = {}
        for pair in pairs:
            unique[pair[0]] = pair if pair[0] not in unique else (pair[0], pair[1], unique[pair[0]][2])
        return sorted(unique.values(), key=lambda p: resource_sort_key(p[0]))

    def _literal_options(self, value: Any, site: Site) -> Options:
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {k: Opt(v, site) for k, v in value.items()}
        self.findings.add(site, UNTRANSLATABLE, "resource options are not a literal dict; the resource uses the "
                          "CORS() options only: add its own options by hand")
        return {}


def _merge(*layers: Options) -> Options:
    merged: Options = {}
    for layer in layers:
        merged.update(layer)
    return merged


def _plain(pattern: Any) -> str:
    return pattern.pattern if isinstance(pattern, Regex) else str(pattern)


def _shown(pattern: Any) -> str:
    return quoted(pattern.pattern if isinstance(pattern, Regex) else str(pattern))


# --------------------------------------------------------------------------
# The config text
# --------------------------------------------------------------------------

CATCH_ALL_NAME = "no-cors"
_HEADER = """\
# Generated by `cors-gateway import {source}` from the app's flask-cors setup.
# Each route says which source line it came from.  Next steps (README,
# "Migrating from flask-cors"):
#   1. cors-gateway check -c THIS_FILE
#   2. deploy with mode: shadow (below), flask-cors still in the app
#   3. watch cors_gateway_shadow_disagreements_total until it stays at 0
#   4. set mode: enforce, then delete flask-cors from the app
"""


def _dump(value: Any, indent: int) -> str:
    text = yaml.safe_dump(value, sort_keys=False, default_flow_style=None, allow_unicode=True, width=1000)
    return "".join(" " * indent + line + "\n" for line in text.splitlines())


def render_config(source: str, upstream: str, routes: list[Route]) -> str:
    parts = [_HEADER.format(source=source)]
    parts.append(_dump({"listen": {"host": "0.0.0.0", "port": 8080}, "admin": {"host": "127.0.0.1", "port": 9090}}, 0))
    parts.append(_dump({"upstreams": {"app": {"url": upstream}}}, 0))
    parts.append("defaults:\n  cors:\n")
    parts.append("    # flask-cors adds no CORS headers outside its resources and decorated views\n")
    parts.append("    origins: []\n")
    parts.append("    # step 4: enforce once cors_gateway_shadow_disagreements_total stays at 0\n")
    parts.append("    mode: shadow\n")
    parts.append("routes:\n")
    for route in routes:
        where = f"{route.source[0]}:{route.source[1]}: " if route.name != CATCH_ALL_NAME else ""
        parts.append(f"  # {where}{route.comment}\n")
        parts.append(_dump([route.as_yaml("app")], 2))
    return "".join(parts)


def _catch_all() -> Route:
    return Route(CATCH_ALL_NAME, {"origins": []}, ("", 0),
                 "paths flask-cors does not cover: proxied with no CORS headers, as flask-cors did", path="/")


def _check_upstream(upstream: str) -> None:
    parts = urlsplit(upstream)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise SourceError(f"--upstream {upstream!r}: must be http://host[:port] or https://host[:port]")


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------


def import_app_traced(
    path: str | os.PathLike, upstream: str = "http://127.0.0.1:5000"
) -> tuple[ImportResult, tuple[Site | None, ...]]:
    """``import_app`` plus, for each emitted route (``routes.<i>``), the source line it came from."""
    _check_upstream(upstream)
    findings = Findings()
    project = Project(read_sources(path))
    model = AppModel(project, findings)
    routes = RouteBuilder(model, findings).build()
    found = len(routes)
    if not any(route.path == "/" for route in routes):
        routes.append(_catch_all())
    if found == 0:
        where = (str(path), 1)
        what = "no flask-cors CORS() or @cross_origin found" if not model.uses_flask_cors else "no translatable flask-cors setup found"
        findings.add(where, INFO, f"{what}; the config only proxies, with no CORS headers")
    text = render_config(str(path), upstream, routes)
    sources = tuple(route.source if route.name != CATCH_ALL_NAME else None for route in routes)
    return ImportResult(text, findings.sorted(), found), sources


def import_app(path: str | os.PathLike, upstream: str = "http://127.0.0.1:5000") -> ImportResult:
    """Translate the flask-cors setup of a ``.py`` file or of every ``*.py`` below a directory.

    Raises ``SourceError`` when the path is missing or a file has a syntax error.
    """
    return import_app_traced(path, upstream)[0]


_ROUTE_INDEX = re.compile(r"^routes\.(\d+)")


def run_import(app_path: str, upstream: str, output: str | None, stdout: TextIO = sys.stdout,
               stderr: TextIO = sys.stderr) -> int:
    """The ``cors-gateway import`` command: 0 if something usable was found, 1 if not, 2 on bad input."""
    try:
        result, sources = import_app_traced(app_path, upstream)
    except SourceError as err:
        print(f"cors-gateway import: {err}", file=stderr)
        return 2
    for finding in result.findings:
        print(finding, file=stderr)
    target = output or "<stdout>"
    try:
        config = parse_config(result.config_yaml, source=target)
        errors, warnings = [], list(config.warnings)
    except ConfigError as err:
        errors, warnings = list(err.errors), list(err.warnings)
    for issue in [*errors, *warnings]:
        match = _ROUTE_INDEX.match(issue.path)
        site = sources[int(match.group(1))] if match and int(match.group(1)) < len(sources) else None
        where = f"{site[0]}:{site[1]}: check" if site else f"{target}: check ({CATCH_ALL_NAME} route, expected)"
        print(f"{where}: {issue}", file=stderr)
    if errors:
        print(f"cors-gateway import: internal error: the emitted config fails check ({len(errors)} error(s))",
              file=stderr)
        return 1
    if result.routes_found == 0:
        print(f"cors-gateway import: nothing usable found in {app_path}; no config written", file=stderr)
        return 1
    if output:
        try:
            Path(output).write_text(result.config_yaml, encoding="utf-8")
        except OSError as err:
            print(f"cors-gateway import: cannot write {output}: {err}", file=stderr)
            return 2
    else:
        stdout.write(result.config_yaml)
    print(
        f"cors-gateway import: {result.routes_found} route(s) from {app_path}, {len(result.findings)} finding(s); "
        f"the config passes check with {len(warnings)} warning(s)",
        file=stderr,
    )
    return 0
