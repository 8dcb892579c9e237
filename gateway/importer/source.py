"""Reading the app's source: files, ``ast`` trees, name resolution and static values.

The first stage of the pipeline.  ``read_sources`` parses a ``.py`` file, or
every one below a directory, and indexes what each binds (imports, module
constants, the local names of flask-cors's ``CORS`` and ``cross_origin``).
``Project`` resolves a name across the scanned files and evaluates an
expression statically: literals, constants, ``re.compile("...")``
(``Regex``) and ``timedelta(...)`` (``Duration``); anything else is an
``Unresolved`` saying why.  Nothing of the app is imported or run.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Duration", "EnvRef", "Project", "Regex", "SourceError", "SourceFile", "Unresolved", "call_name",
           "read_sources"]


class SourceError(Exception):
    """The app's source cannot be read: missing path, unreadable file, syntax error."""


@dataclass(frozen=True)
class Regex:
    """A ``re.compile(...)`` written in the source."""

    pattern: str
    ignorecase: bool


@dataclass(frozen=True)
class Duration:
    """A ``timedelta(...)`` written in the source."""

    seconds: float


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SKIPPED_DIRS = {"__pycache__", "node_modules", "site-packages"}


class Unresolved:
    """An option value that is only known at run time."""

    def __init__(self, text: str, why: str = ""):
        self.text = text
        self.why = why

    def __repr__(self) -> str:
        return f"Unresolved({self.text!r})"


class EnvRef(Unresolved):  # every option but origins treats it as only known at run time
    """An environment variable read in the source: ``os.environ["X"]``, ``os.getenv("X", default)``,
    ``os.environ.get(...)``; ``split``: split on commas (``.split(",")``, items stripped)."""

    def __init__(self, name: str, default: str | None = None, split: bool = False):
        self.text = f"environment variable {name}"
        self.why = "read from the environment"
        self.name = name
        self.default = default
        self.split = split

    def __repr__(self) -> str:
        return f"EnvRef({self.name!r}, {self.default!r}, split={self.split})"

    def placeholder(self) -> str | None:
        """The config's ``${NAME}`` / ``${NAME:-default}`` for it, or None when the default cannot be written so."""
        if self.default is None:
            return f"${{{self.name}}}"
        if "}" in self.default or "$" in self.default:
            return None
        return f"${{{self.name}:-{self.default}}}"


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
    star_modules: list[str] = field(default_factory=list)  # modules imported with ``from m import *``

    def exports(self, name: str) -> bool:
        """Whether ``from this_module import *`` binds ``name``: listed in a literal ``__all__``, else public."""
        declared = self.constants.get("__all__")
        if isinstance(declared, (ast.List, ast.Tuple)) and "__all__" not in self.mutated and all(
                isinstance(item, ast.Constant) and isinstance(item.value, str) for item in declared.elts):
            return name in {item.value for item in declared.elts}  # type: ignore[attr-defined]
        return not name.startswith("_")

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
        if isinstance(node, ast.Assign):
            targets = node.targets
        else:
            targets = [node.target] if isinstance(node, ast.AnnAssign) else []
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
        _index_import_from(source, node)
    elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        source.mutated.add(node.target.id)
    elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) for t in node.targets):
        # SETTINGS["CORS_ORIGINS"] = ...: the dict is not its literal any more
        source.mutated.update(t.value.id for t in node.targets  # type: ignore[attr-defined]
                              if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name))
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _MUTATORS:
        if isinstance(node.func.value, ast.Name):
            source.mutated.add(node.func.value.id)
    elif isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call):
        for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
            if isinstance(target, ast.Name):
                source.assigned[target.id] = node.value


def _index_import_from(source: SourceFile, node: ast.ImportFrom) -> None:
    module = _absolute_module(source, node)
    for alias in node.names:
        local = alias.asname or alias.name
        source.imports[local] = (module, alias.name)
        if alias.name == "*" and module.split(".")[0] != "flask_cors":
            source.star_modules.append(module)
        if module.split(".")[0] == "flask_cors":
            if alias.name in ("CORS", "*"):
                source.cors_names.add(local if alias.name == "CORS" else "CORS")
            if alias.name in ("cross_origin", "*"):
                source.cross_names.add(local if alias.name == "cross_origin" else "cross_origin")


def _absolute_module(source: SourceFile, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = source.package.split(".") if source.package else []
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join([*base, *([node.module] if node.module else [])])


class Project:
    """The scanned files, with name resolution across them."""

    def __init__(self, files: list[SourceFile]):
        self.files = files
        self.modules: dict[str, SourceFile] = {}
        for file in files:
            for key in _suffixes(file.module):
                self.modules.setdefault(key, file)
        # ``from pkg.extensions import *`` brings flask-cors's names along
        # (``CORS``, ``cross_origin``, the module), as far as ``__all__`` lets it;
        # chains of star imports take a pass each.
        for _ in range(5):
            changed = False
            for file in files:
                for module in file.star_modules:
                    other = self.module(module)
                    if other is None or other is file:
                        continue
                    for mine, theirs in ((file.cors_names, other.cors_names), (file.cross_names, other.cross_names),
                                         (file.fc_modules, other.fc_modules)):
                        new = {name for name in theirs if other.exports(name)} - mine
                        if new:
                            mine.update(new)
                            changed = True
            if not changed:
                break

    def module(self, name: str) -> SourceFile | None:
        return self.modules.get(name)

    def resolve(self, file: SourceFile, name: str, depth: int = 0,
                seen: set[int] | None = None) -> tuple[SourceFile, str] | None:
        """Where ``name`` as used in ``file`` is bound: (file, name) in a scanned file, or None."""
        if name in file.assigned or name in file.constants or _defines(file, name):
            return file, name
        target = file.imports.get(name)
        if target is None and depth <= 10:
            # ``from module import *``: the names it exports; a later star import
            # rebinds what an earlier one bound, as in Python.  Each module is
            # visited once (star imports can form cycles).
            seen = seen if seen is not None else {id(file)}
            for module in reversed(file.star_modules):
                other = self.module(module)
                if other is not None and id(other) not in seen and other.exports(name):
                    seen.add(id(other))
                    found = self.resolve(other, name, depth + 1, seen)
                    if found is not None:
                        return found
            return None
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
        """The value of ``node``, or an ``Unresolved`` saying why not (an ``EnvRef`` when it is
        one environment variable; one inside a list or dict makes the whole value Unresolved)."""
        try:
            value = self._eval(file, node, 0)
        except _NotStatic as err:
            return Unresolved(file.segment(node), str(err))
        if isinstance(value, (list, dict)) and _holds_env(value):
            return Unresolved(file.segment(node), "mixes values from the environment with others")
        return value

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
        return self._eval_more(file, node, depth)

    def _eval_more(self, file: SourceFile, node: ast.expr, depth: int) -> Any:
        """f-strings, and the environment: ``os.environ["X"]``, its comma list in a comprehension."""
        if isinstance(node, ast.JoinedStr):
            return self._eval_fstring(file, node, depth)
        if isinstance(node, ast.Subscript) and self._is_environ(file, node.value):
            return self._env_ref(file, node.slice, None, depth)
        if isinstance(node, ast.ListComp):
            return self._eval_env_list(file, node, depth)
        raise _NotStatic("computed at run time")

    def _eval_fstring(self, file: SourceFile, node: ast.JoinedStr, depth: int) -> str:
        """An f-string of constants (``f"{API_PREFIX}/*"``, ``f"https://{DOMAIN}:{PORT}"``), as Python formats it."""
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
                continue
            if not isinstance(value, ast.FormattedValue) or value.conversion not in (-1, ord("s")):
                raise _NotStatic("an f-string with a conversion or a value only known at run time")
            inner = self._eval(file, value.value, depth + 1)
            if isinstance(inner, bool) or not isinstance(inner, (str, int, float)):
                raise _NotStatic("an f-string with a value that is not a string or a number")
            spec = self._eval(file, value.format_spec, depth + 1) if value.format_spec is not None else ""
            try:
                parts.append(format(inner, spec))
            except (TypeError, ValueError):
                raise _NotStatic("an f-string with a format it cannot apply") from None
        return "".join(parts)

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

    def _is_environ(self, file: SourceFile, node: ast.expr) -> bool:
        """``os.environ`` (``import os``) or ``environ`` (``from os import environ``)."""
        if isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name):
            return file.imports.get(node.value.id) == ("os", None)
        return isinstance(node, ast.Name) and file.imports.get(node.id) == ("os", "environ")

    def _env_ref(self, file: SourceFile, name_node: ast.expr, default_node: ast.expr | None, depth: int) -> EnvRef:
        name = self._eval(file, name_node, depth + 1)
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            raise _NotStatic("an environment variable whose name is only known at run time")
        default = None
        if default_node is not None:
            default = self._eval(file, default_node, depth + 1)
            if not isinstance(default, str):
                raise _NotStatic("an environment variable with a default that is not a string")
        return EnvRef(name, default)

    def _eval_env_list(self, file: SourceFile, node: ast.ListComp, depth: int) -> EnvRef:
        """``[o.strip() for o in <env>.split(",")]`` (optionally ``if o`` / ``if o.strip()``): the comma list."""
        if len(node.generators) == 1 and not node.generators[0].is_async:
            loop = node.generators[0]
            item = loop.target.id if isinstance(loop.target, ast.Name) else None

            def is_item(expr: ast.expr) -> bool:
                return isinstance(expr, ast.Name) and expr.id == item

            def stripped(expr: ast.expr) -> bool:
                return (is_item(expr) or isinstance(expr, ast.Call) and not expr.args and not expr.keywords
                        and isinstance(expr.func, ast.Attribute) and expr.func.attr == "strip"
                        and is_item(expr.func.value))
            source = self._eval(file, loop.iter, depth + 1)
            if item and stripped(node.elt) and all(stripped(cond) for cond in loop.ifs) and isinstance(source, EnvRef) \
                    and source.split:
                return source
        raise _NotStatic("computed at run time")

    def _eval_call(self, file: SourceFile, node: ast.Call, depth: int) -> Any:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "split" and len(node.args) == 1 and not node.keywords:
            target = self._eval(file, func.value, depth + 1)
            if isinstance(target, EnvRef) and not target.split and self._eval(file, node.args[0], depth + 1) == ",":
                return EnvRef(target.name, target.default, split=True)
        if (1 <= len(node.args) <= 2 and not node.keywords and (
                (isinstance(func, ast.Attribute) and func.attr == "get" and self._is_environ(file, func.value))
                or (isinstance(func, ast.Attribute) and func.attr == "getenv" and isinstance(func.value, ast.Name)
                    and file.imports.get(func.value.id) == ("os", None))
                or (isinstance(func, ast.Name) and file.imports.get(func.id) == ("os", "getenv")))):
            return self._env_ref(file, node.args[0], node.args[1] if len(node.args) == 2 else None, depth)
        name = call_name(node)
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


def _holds_env(value: Any) -> bool:
    items = value.values() if isinstance(value, dict) else value
    return any(isinstance(item, EnvRef) or (isinstance(item, (list, dict)) and _holds_env(item)) for item in items)


def _suffixes(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


def _defines(file: SourceFile, name: str) -> bool:
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name
        for node in file.tree.body
    )


def call_name(node: ast.Call) -> str:
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
