"""The app model: what the Flask app does, read from its source across all files.

``AppModel`` collects the blueprints (with their ``url_prefix`` and where
they are registered, nested too), the views and their URL rules
(``@app.route``, ``@bp.get``, ``add_url_rule``), the ``@cross_origin``
decorators, the ``CORS()`` / ``init_app`` activations and the ``CORS_*``
config values.  It translates nothing: findings about an object that may
never feed a CORS route are held back as ``Problem``s on it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from .findings import UNTRANSLATABLE, WARNING, Findings, Problem, Site
from .options import FC_CONFIG_KEYS, Opt, Options, options_from_keywords
from .source import Project, SourceFile, call_name

__all__ = ["Activation", "AppKey", "AppModel", "Blueprint", "ConfigValue", "View", "ViewRule"]

# A Flask app object: (module, name) of its ``Flask(...)`` assignment, shown as module:name.
AppKey = tuple[str, str]


@dataclass
class Blueprint:
    file: SourceFile
    name: str
    url_prefix: str | None
    line: int
    # (parent, prefix, line) for each register_blueprint of it
    registrations: list[tuple[Blueprint | None, str | None, int]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # the app of each top-level registration (parent None), by its index in registrations (None: unknown)
    registered_on: dict[int, AppKey | None] = field(default_factory=dict)
    elsewhere: bool = False  # registered on other apps only (``AppModel.select_app``)

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
    app: AppKey | None = None  # the app of an app-level rule (``@app.route``), when known

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
    app: AppKey | None = None  # which app, for an app activation whose target resolves to a Flask(...)


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
        # Every Flask(...) assignment in the scanned files: where it is (for findings).
        self.apps: dict[AppKey, Site] = {}
        self.uses_flask_cors = False
        self._consumed: set[int] = set()
        self._loaders: list[Problem] = []
        # Where config the importer could not read is loaded: CORS_* may be set there, so a
        # missing origins option is not flask-cors's default "*" (see ``CorsTranslator``).
        self.unread_config: list[Site] = []
        # Where each app is mounted under a path prefix: (prefix, site, certain). certain: a
        # DispatcherMiddleware mount; else a call that passes the app and a "/..." string.
        self.mounts: dict[AppKey, list[tuple[str, Site, bool]]] = {}
        self.unknown_mounts: list[Site] = []  # DispatcherMiddleware mounts not tied to a scanned app
        for file in project.files:
            self._find_blueprints(file)
            for name, call in file.assigned.items():
                if call_name(call).split(".")[-1] == "Flask":
                    self.apps[(file.module, name)] = (file.display, call.lineno)
        for file in project.files:
            self._read_file(file)
        if self.uses_flask_cors:
            for site, severity, message in self._loaders:
                findings.add(site, severity, message)
                self.unread_config.append(site)

    # -- blueprints -----------------------------------------------------------

    def _find_blueprints(self, file: SourceFile) -> None:
        for name, call in file.assigned.items():
            if call_name(call).split(".")[-1] == "Blueprint":
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

    def app_of(self, file: SourceFile, node: ast.expr | None) -> AppKey | None:
        """The Flask app ``node`` names, if it resolves to a ``Flask(...)`` assignment in the scanned files."""
        where = self.project.resolve_expr(file, node) if node is not None else None
        if where is None:
            return None
        key = (where[0].module, where[1])
        return key if key in self.apps else None

    def cors_apps(self) -> list[AppKey]:
        """The apps flask-cors is set up on (by an extension, a decorated view's rule, or a blueprint with CORS)."""
        found: list[AppKey] = []

        def add(key: AppKey | None) -> None:
            if key is not None and key not in found:
                found.append(key)
        cors_blueprints = {id(a.target) for a in self.activations if a.target is not None}
        for activation in self.activations:
            add(activation.app)
        for view in self.views:
            if view.cross_origin is None:
                continue
            for rule in view.rules:
                add(rule.app)
                if rule.blueprint is not None:
                    cors_blueprints.add(id(rule.blueprint))
        for blueprint in self.blueprints.values():
            if id(blueprint) in cors_blueprints:
                for _, chain in blueprint.mounts():
                    for registered in chain[-1].registered_on.values():
                        add(registered)
        return found

    def select_app(self, chosen: AppKey) -> None:
        """Keep only what belongs to ``chosen`` (or cannot be told apart): other apps' extensions, rules
        and blueprint registrations are dropped."""
        def other(key: AppKey | None) -> bool:
            return key is not None and key != chosen

        for blueprint in self.blueprints.values():
            kept = [(i, r) for i, r in enumerate(blueprint.registrations)
                    if not (r[0] is None and other(blueprint.registered_on.get(i)))]
            if len(kept) != len(blueprint.registrations):
                blueprint.registered_on = {new: blueprint.registered_on[old] for new, (old, _) in enumerate(kept)
                                           if old in blueprint.registered_on}
                blueprint.registrations = [r for _, r in kept]
                blueprint.elsewhere = not kept
        gone = {id(b) for b in self.blueprints.values() if b.elsewhere}

        def mounted_elsewhere(blueprint: Blueprint | None) -> bool:
            if blueprint is None:
                return False
            return all(any(id(b) in gone for b in chain) for _, chain in blueprint.mounts())

        # An extension on an app the scan cannot tie to a Flask(...) (CORS(make_app())) may be any app's:
        # left out of the chosen one's config, and said so, rather than merged into it.
        for activation in self.activations:
            if activation.target is None and activation.app is None:
                self.findings.add(
                    (activation.file.display, activation.call.lineno), UNTRANSLATABLE,
                    f"{activation.file.segment(activation.call)}: the importer cannot tell which Flask app this "
                    f"extension is for (not a Flask(...) of the scanned files), so the config for "
                    f"{chosen[0]}:{chosen[1]} leaves it out: if it is that app's, add its routes by hand",
                )
        self.activations = [a for a in self.activations
                            if not other(a.app) and not (a.target is None and a.app is None)
                            and not (a.target is not None and mounted_elsewhere(a.target))]
        for view in self.views:
            view.rules = [r for r in view.rules if not other(r.app) and not mounted_elsewhere(r.blueprint)]
            view.dead_rules = [r for r in view.dead_rules
                               if not other(r.app) and not mounted_elsewhere(r.blueprint)]

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
        else:
            self._read_mount(file, call)

    def _read_mount(self, file: SourceFile, call: ast.Call) -> None:
        """``DispatcherMiddleware(root, {"/api": api_app})``, or a helper given an app and a path
        (``register_app("/api", api_app)``): the app may be served under that prefix."""
        site = (file.display, call.lineno)
        if _callee(call) == "DispatcherMiddleware":
            mounts = call.args[1] if len(call.args) > 1 else next(
                (kw.value for kw in call.keywords if kw.arg == "mounts"), None)
            owner, node = self.project.node_of(file, mounts) if mounts is not None else (file, None)
            # Mounted inside another DispatcherMiddleware: the outer prefix adds to these (not followed).
            parent = file.parent(call)
            outer = file.parent(parent) if isinstance(parent, ast.Dict) else None
            nested = isinstance(outer, ast.Call) and _callee(outer) == "DispatcherMiddleware"
            if not isinstance(node, ast.Dict) or (isinstance(mounts, ast.Name) and _subscript_stored(file, mounts.id)):
                self.unknown_mounts.append(site)
                return
            for key, value in zip(node.keys, node.values, strict=True):
                app = self.app_of(owner, _unwrap_wsgi(value)) if value is not None else None
                prefix = self.project.value(owner, key) if key is not None else None
                if app is not None:
                    sure = isinstance(prefix, str) and not nested
                    self.mounts.setdefault(app, []).append((prefix if sure else "", site, sure))
                elif not (isinstance(value, ast.Call) and _callee(value) == "DispatcherMiddleware"):
                    self.unknown_mounts.append(site)  # create_api(), an app object from elsewhere
            return
        apps = [app for arg in call.args if (app := self.app_of(file, _unwrap_wsgi(arg))) is not None]
        paths = [v for arg in call.args if isinstance(v := self.project.value(file, arg), str) and v.startswith("/")]
        if len(apps) == 1 and len(paths) == 1:
            self.mounts.setdefault(apps[0], []).append((paths[0], site, False))

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
        # A parameter of the enclosing helper first: it may shadow a module-level name.
        passed = self._passed_in(file, target)
        blueprint = self.blueprint_of(file, target) if target is not None and passed is None else None
        app = self.app_of(file, target) if blueprint is None and passed is None else None
        if passed is None:
            self.activations.append(Activation(file, call, blueprint, options, app))
        elif not passed:
            self.findings.add(
                (file.display, call.lineno), WARNING,
                f"{file.segment(call)}: {file.segment(target)} is a parameter of a function the importer found no "
                "call of; translated as installed on the app (every path): if it is a blueprint, narrow the route "
                "to the blueprint's paths by hand",
            )
            self.activations.append(Activation(file, call, None, options, None))
        else:
            # CORS(bp) in a helper called once per blueprint (or app): one activation per call.
            for site, site_file, arg in passed:
                blueprint = self.blueprint_of(site_file, arg) if arg is not None else None
                app = self.app_of(site_file, arg) if blueprint is None and arg is not None else None
                if blueprint is None and app is None:
                    what = site_file.segment(arg) if arg is not None else "its argument through *args or **kwargs"
                    self.findings.add(
                        site, UNTRANSLATABLE,
                        f"{file.segment(call)} gets {what} here, only known at run time; no route "
                        "emitted for this call: add the routes of the app or blueprint it is by hand",
                    )
                    continue
                self.activations.append(Activation(file, call, blueprint, options, app))
        if _conditional(file, call):
            self.findings.add(
                (file.display, call.lineno), WARNING,
                "flask-cors is installed conditionally here (inside if/for/while/except); the gateway route "
                "applies always: delete it from the config if that branch does not run in production",
            )

    def _passed_in(self, file: SourceFile, target: ast.expr | None
                   ) -> list[tuple[Site, SourceFile, ast.expr | None]] | None:
        """When ``target`` is a parameter of the module-level function it is used in: the argument
        each call of that function in the scanned files passes for it (site, file, node); else None."""
        if not isinstance(target, ast.Name):
            return None
        function = file.parent(target)
        while function is not None and not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = file.parent(function)
        if function is None or file.parent(function) is not file.tree:
            return None
        arguments = function.args
        positional = [a.arg for a in [*arguments.posonlyargs, *arguments.args]]
        if target.id not in positional and target.id not in [a.arg for a in arguments.kwonlyargs]:
            return None
        index = positional.index(target.id) if target.id in positional else None
        default = _parameter_default(arguments, target.id)
        found: list[tuple[Site, SourceFile, ast.expr | None]] = []
        for other in self.project.files:
            for node in ast.walk(other.tree):
                if not isinstance(node, ast.Call) or self.project.resolve_expr(other, node.func) != (file,
                                                                                                      function.name):
                    continue
                site = (other.display, node.lineno)
                arg = next((kw.value for kw in node.keywords if kw.arg == target.id), None)
                starred = [a for a in node.args if isinstance(a, ast.Starred)]
                if arg is None and index is not None and index < len(node.args):
                    arg = node.args[index]
                    if any(node.args.index(a) <= index for a in starred):
                        arg = None  # *args: the position is only known at run time
                        found.append((site, other, None))
                        continue
                if isinstance(arg, ast.Starred) or (arg is None and (
                        starred or any(kw.arg is None for kw in node.keywords))):
                    found.append((site, other, None))
                elif arg is not None:
                    found.append((site, other, arg))
                elif default is not None:
                    found.append((site, file, default))  # left to its default, read where the helper is
        return found

    def _read_registration(self, file: SourceFile, call: ast.Call) -> None:
        if not call.args:
            return
        child = self.blueprint_of(file, call.args[0])
        if child is None:
            return
        parent = self.blueprint_of(file, call.func.value)  # type: ignore[attr-defined]
        prefix_node = next((kw.value for kw in call.keywords if kw.arg == "url_prefix"), None)
        if parent is None:
            child.registered_on[len(child.registrations)] = self.app_of(file, call.func.value)  # type: ignore[attr-defined]
        child.registrations.append((parent, self._prefix(file, prefix_node, child), call.lineno))

    # -- config ----------------------------------------------------------------

    def _read_config_item(self, file: SourceFile, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Subscript) and _is_config(target.value):
                key = self.project.value(file, target.slice)
                if isinstance(key, str):
                    self._config_value(file, key, node.value)
                else:
                    self._unread_key(file, node, file.segment(target))

    def _unread_key(self, file: SourceFile, node: ast.AST, what: str) -> None:
        """A config key only known at run time (``for k in dir(settings): app.config[k] = ...``)."""
        self._loaders.append((
            (file.display, node.lineno), WARNING,
            (f"{what} sets config keys only known at run time; if they include CORS_* keys, the importer did not "
             "see them: add their values to the emitted routes by hand"),
        ))

    def _config_value(self, file: SourceFile, key: str, node: ast.expr, value: Any = None,
                      at: tuple[SourceFile, int] | None = None) -> None:
        """``at``: where the value enters the app's config (a ``from_object`` call), when not where it is written."""
        if key not in FC_CONFIG_KEYS:
            return
        value = self.project.value(file, node) if value is None else value
        if value is None:
            return  # flask-cors skips config keys set to None
        enters, line = at if at is not None else (file, node.lineno)
        self.config.append(ConfigValue(enters, line, key, Opt(value, (file.display, node.lineno), node, file)))
        if _conditional(file, node):
            self.findings.add(
                (file.display, node.lineno), WARNING,
                f"{key} is set conditionally; the emitted config assumes it is set: check the branch production runs",
            )

    def _read_config_call(self, file: SourceFile, call: ast.Call, method: str) -> None:
        if method == "setdefault" and call.args:
            key = self.project.value(file, call.args[0])
            if isinstance(key, str):
                if len(call.args) > 1:
                    self._config_value(file, key, call.args[1])
            else:
                self._unread_key(file, call, file.segment(call))
            return
        if method == "from_object" and call.args:
            self._conditional_load(file, call)
            if self._settings_module(file, call.args[0], call.lineno):
                return
        if method in ("update", "from_mapping"):
            self._read_config_update(file, call)
        elif method == "from_object" and call.args and self._config_class(file, call.args[0]):
            return
        elif method in _CONFIG_LOADERS:
            self._loaders.append((
                (file.display, call.lineno), WARNING,
                (f"{file.segment(call)} loads config at run time{self._loaded_from(file, call, method)}; if it sets "
                 "CORS_* keys, the importer did not see them: add their values to the emitted routes by hand"),
            ))

    def _read_config_update(self, file: SourceFile, call: ast.Call) -> None:
        """``app.config.update(...)`` / ``from_mapping(...)``: keywords, literal dicts, a ``flask.Config``."""
        for keyword in call.keywords:
            if keyword.arg:
                self._config_value(file, keyword.arg, keyword.value)
            else:  # update(**mapping)
                self._unread_key(file, call, file.segment(call))
        for arg in call.args:
            if self._config_object(file, arg, call):
                continue
            owner, node = self.project.node_of(file, arg)
            if not isinstance(node, ast.Dict) or (isinstance(arg, ast.Name) and _subscript_stored(file, arg.id)):
                # json.load(...), os.environ, a list of pairs, a dict filled in later: not read
                self._unread_key(file, call, file.segment(call))
                continue
            for key, value in zip(node.keys, node.values, strict=True):
                key_value = self.project.value(owner, key) if key is not None else None
                if isinstance(key_value, str):
                    self._config_value(owner, key_value, value)
                else:
                    self._unread_key(file, call, file.segment(call))

    def _conditional_load(self, file: SourceFile, call: ast.Call) -> None:
        """A ``from_object`` under if/try/for: the values it loads sit elsewhere, so ``_config_value``
        cannot see the condition."""
        if _conditional(file, call):
            self.findings.add(
                (file.display, call.lineno), WARNING,
                f"{file.segment(call)} runs conditionally; the emitted config assumes it runs (the last of several "
                "branches wins): check the branch production runs",
            )

    def _config_object(self, file: SourceFile, arg: ast.expr, update: ast.Call) -> bool:
        """``config = flask.Config(root)`` filled, then ``app.config.update(config)``: read only in the plain
        form, else False (the caller reports the copy as config it cannot read).

        The plain form: the copy is a statement of its scope (not under if/try/for); before it, in the
        same scope, ``config`` is bound once to ``flask.Config(root)`` (no ``defaults=``) and only filled
        by statements ``config.from_object(...)``, ``config.update(KEY=...)``/``from_mapping(KEY=...)``
        and ``config["KEY"] = ...``; nothing else in the scope (a nested function included, before or
        after the copy) names ``config``.  The fills enter the app's config at the copy's line, in
        source order.
        """
        if not isinstance(arg, ast.Name):
            return False
        scope = file.enclosing_function(update) or file.tree
        name = arg.id
        fills: list[ast.stmt] = []
        bound = copied = False
        for statement in scope.body:
            if isinstance(statement, ast.Expr) and statement.value is update:
                copied = True
                continue
            mentions = any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(statement))
            if not mentions:
                continue
            if copied:
                return False  # used after the copy: its lists may be mutated in place, or it is copied again
            if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                    and isinstance(statement.targets[0], ast.Name) and statement.targets[0].id == name):
                if bound or not self._is_flask_config(file, statement.value):
                    return False
                bound = True
            elif bound and _config_fill(statement, name):
                fills.append(statement)
            else:
                return False
        if not (bound and copied):
            return False
        self._read_config_fills(file, fills, update)
        return True

    def _read_config_fills(self, file: SourceFile, fills: list[ast.stmt], update: ast.Call) -> None:
        """``_config_object``'s fills, in source order, entering the app's config at ``update``."""
        at = (file, update.lineno)
        for statement in fills:
            if isinstance(statement, ast.Assign):
                target = statement.targets[0]
                key = self.project.value(file, target.slice)  # type: ignore[attr-defined]
                if isinstance(key, str):
                    self._config_value(file, key, statement.value, at=at)
                else:
                    self._unread_key(file, statement, file.segment(target))
                continue
            call = statement.value  # type: ignore[attr-defined]
            if call.func.attr == "from_object":
                if not (self._settings_module(file, call.args[0], update.lineno)
                        or self._config_class(file, call.args[0], update.lineno)):
                    self._loaders.append((
                        (file.display, call.lineno), WARNING,
                        (f"{file.segment(call)} loads config at run time, and {file.segment(update)} copies it into "
                         "the app's; if it sets CORS_* keys, the importer did not see them: add their values to the "
                         "emitted routes by hand"),
                    ))
                continue
            for keyword in call.keywords:
                self._config_value(file, keyword.arg, keyword.value, at=at)

    def _is_flask_config(self, file: SourceFile, node: ast.expr) -> bool:
        """``flask.Config(root)`` or ``Config(root)`` imported from flask, with no ``defaults``."""
        if not isinstance(node, ast.Call) or node.keywords or len(node.args) > 1:
            return False
        func = node.func
        if isinstance(func, ast.Name):
            return file.imports.get(func.id) == ("flask", "Config")
        return (isinstance(func, ast.Attribute) and func.attr == "Config" and isinstance(func.value, ast.Name)
                and file.imports.get(func.value.id) == ("flask", None))

    def _loaded_from(self, file: SourceFile, call: ast.Call, method: str) -> str:
        """Where a config loader reads from, when the environment names it: the variables to look at."""
        if method == "from_prefixed_env":
            node = call.args[0] if call.args else next((kw.value for kw in call.keywords if kw.arg == "prefix"), None)
            prefix = self.project.value(file, node) if node is not None else "FLASK"
            if isinstance(prefix, str):
                return (f" from the environment ({prefix}_CORS_ORIGINS, {prefix}_CORS_SUPPORTS_CREDENTIALS and the "
                        "other CORS_* keys, each a JSON value)")
        if method == "from_envvar" and call.args:
            variable = self.project.value(file, call.args[0])
            if isinstance(variable, str):
                return f" from the file the environment variable {variable} names"
        return ""

    def _settings_module(self, file: SourceFile, node: ast.expr, line: int) -> bool:
        """``from_object("pkg.settings")``, ``from_object("pkg.settings.Config")`` or ``from_object(settings)``
        (an imported module) naming a scanned module: its CORS_* values are read."""
        value = self.project.value(file, node)
        module = None
        if isinstance(value, str):
            module = self.project.module(value)
            if module is None and "." in value:
                owner_name, _, cls_name = value.rpartition(".")
                owner = self.project.module(owner_name)
                if owner is not None and any(isinstance(n, ast.ClassDef) and n.name == cls_name
                                             for n in owner.tree.body):
                    return self._read_class(owner, cls_name, (file, line))
        elif isinstance(node, ast.Name) and node.id in file.imports:
            imported, attr = file.imports[node.id]
            module = self.project.module(imported if attr is None else f"{imported}.{attr}")
        if module is None:
            return False
        for name, value_node in module.constants.items():
            if name in FC_CONFIG_KEYS and name.isupper() and name not in module.mutated:
                self._config_value(module, name, value_node, at=(file, line))
        hidden = _hidden_cors_keys(module)
        if hidden:
            self._loaders.append((
                (file.display, line), WARNING,
                (f"{module.module} sets {', '.join(hidden)} where the importer cannot read it (inside if/try/for, "
                 "imported, from a star import, or set twice): add those values to the emitted routes by hand"),
            ))
        return True

    def _config_class(self, file: SourceFile, node: ast.expr, line: int | None = None) -> bool:
        """Read CORS_* attributes of ``from_object(SomeClass)`` when the class is in the scanned files
        (entering the app's config at ``line``, by default the call's)."""
        where = self.project.resolve_expr(file, node)
        if where is None:
            return False
        owner, name = where
        return self._read_class(owner, name, (file, node.lineno if line is None else line))

    def _read_class(self, owner: SourceFile, name: str, at: tuple[SourceFile, int]) -> bool:
        cls = next((n for n in owner.tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)
        if cls is None:
            return False
        if any(not (isinstance(base, ast.Name) and base.id == "object") for base in cls.bases):
            # (counted as unread config: a missing origins option is then not taken as "*")
            self._loaders.append((
                (owner.display, cls.lineno), WARNING,
                f"config class {name} has base classes; their CORS_* attributes were not read: check them by hand",
            ))
        for statement in cls.body:
            if isinstance(statement, ast.Assign):
                for target in statement.targets:
                    if isinstance(target, ast.Name):
                        self._config_value(owner, target.id, statement.value, at=at)
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
        rule = self._rule(file, decorator.args[0] if decorator.args else None, methods_node, methods, blueprint, view)
        if rule is not None and blueprint is None:
            rule.app = self.app_of(file, decorator.func.value)
        return rule

    def _is_app(self, file: SourceFile, node: ast.expr) -> bool:
        where = self.project.resolve_expr(file, node)
        if where is None:
            return False
        call = where[0].assigned.get(where[1])
        return call is not None and call_name(call).split(".")[-1] == "Flask"

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
            if blueprint is None:
                rule.app = self.app_of(file, call.func.value)  # type: ignore[attr-defined]
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


def _config_fill(statement: ast.stmt, name: str) -> bool:
    """Whether ``statement`` is one of the fills ``_config_object`` reads, on the Config called ``name``."""
    if isinstance(statement, ast.Assign):
        target = statement.targets[0]
        return (len(statement.targets) == 1 and isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Name) and target.value.id == name
                and not any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(statement.value)))
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
        return False
    call = statement.value
    func = call.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == name):
        return False
    others = [*call.args, *(k.value for k in call.keywords)]
    if any(isinstance(n, ast.Name) and n.id == name for node in others for n in ast.walk(node)):
        return False
    if func.attr == "from_object":
        return len(call.args) == 1 and not call.keywords
    return func.attr in ("update", "from_mapping") and not call.args and all(k.arg for k in call.keywords)


def _parameter_default(arguments: ast.arguments, name: str) -> ast.expr | None:
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults = dict(zip([a.arg for a in positional][len(positional) - len(arguments.defaults):],
                        arguments.defaults, strict=True))
    defaults.update({a.arg: d for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
                     if d is not None})
    return defaults.get(name)


def _hidden_cors_keys(module: SourceFile) -> list[str]:
    """CORS_* keys a settings module may set other than as one plain top-level assignment."""
    plain = {t.id for node in module.tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
             for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)}
    hidden: set[str] = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id in FC_CONFIG_KEYS and (
                node.id not in plain or node.id in module.mutated or _conditional(module, node)):
            hidden.add(node.id)
        elif isinstance(node, ast.ImportFrom):
            hidden.update(a.asname or a.name for a in node.names if (a.asname or a.name) in FC_CONFIG_KEYS)
    if module.star_modules:
        hidden.add("CORS_* keys through from ... import *")
    return sorted(hidden)


def _subscript_stored(file: SourceFile, name: str) -> bool:
    """``name[...] = ...`` anywhere in the file (a dict literal filled in afterwards)."""
    return any(isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == name for t in node.targets)
        for node in ast.walk(file.tree))


def _callee(call: ast.Call) -> str:
    """The called name: ``f`` of ``f(...)`` and of ``module.f(...)``."""
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _unwrap_wsgi(node: ast.expr) -> ast.expr:
    """``app.wsgi_app`` -> ``app``."""
    return node.value if isinstance(node, ast.Attribute) and node.attr == "wsgi_app" else node


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
