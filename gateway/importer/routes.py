"""Route building: the app model -> the gateway routes, in the order flask-cors applies them.

``RouteBuilder`` walks the ``AppModel``: ``@cross_origin`` views first, then
blueprint extensions, then app extensions (the later-registered first), and
for each view rule or ``resources`` entry merges the options in effect, asks
``CorsTranslator`` for the ``cors`` block and adds an ``EmittedRoute``
unless an earlier route already has its scope.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .findings import UNTRANSLATABLE, WARNING, Findings, Problem, Site, quoted
from .flask_cors import CorsTranslator
from .model import Activation, AppModel, View, ViewRule
from .options import (
    DEFAULT_OPTIONS,
    Opt,
    Options,
    ensure_list,
    options_from_dict,
    options_from_keywords,
    probably_regex,
    re_fix,
    resource_sort_key,
)
from .paths import matches_every_path, regex_escape, resource_matches, rule_regex, rule_sample
from .regexes import runs_on_re2
from .source import Regex, Unresolved

__all__ = ["EmittedRoute", "RouteBuilder"]


@dataclass
class EmittedRoute:
    """One route of the emitted config (not ``gateway.config.Route``: this one is YAML-to-be)."""

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
        self.translator = CorsTranslator(findings, model.unread_config)
        self.routes: list[EmittedRoute] = []
        self._names: set[str] = set()

    def build(self) -> list[EmittedRoute]:
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

    def _add(self, route: EmittedRoute, *, shadow_note: str | None = None) -> None:
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
            **DEFAULT_OPTIONS,
            **self.model.config_options(None),
            **options_from_keywords(self.model.project, file, call.keywords),
        }
        for rule in view.rules:
            for path in rule.paths():
                self._view_route(view, rule, path, options, site, f"@cross_origin on {view.function.name}()")

    def _view_route(self, view: View, rule: ViewRule, path: str, options: Options, site: Site, what: str) -> None:
        if not path.startswith("/"):
            self.findings.add(
                (view.file.display, rule.line), WARNING, f"rule {path!r} does not start with '/'; skipped"
            )
            return
        cors = self.translator.block(options, site, route_methods=rule.methods, decorator=view.cross_origin is not None)
        regex = rule_regex(path, (view.file.display, rule.line), self.findings)
        self._add(
            EmittedRoute(f"{view.function.name} {path}", cors, site, f"{what}, rule {path!r}", path_regex=regex),
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
        base = _merge(DEFAULT_OPTIONS, *activation.options)
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
        base = _merge(DEFAULT_OPTIONS, config, *activation.options)
        resources = self._resources(activation, base, site)
        for pattern, resource_options, resource_site in resources or []:
            scope = self._resource_scope(pattern, resource_site)
            if scope is None:
                continue
            options = _merge(base, resource_options)
            cors = self.translator.block(options, site)
            path, path_regex, note = scope
            what = f"{activation.file.segment(activation.call, 60)}, resource {_shown(pattern)} ({note})"
            route = EmittedRoute(
                f"resource {_plain(pattern)}", cors, resource_site, what, path=path, path_regex=path_regex
            )
            self._add(route)

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
            self.findings.add(site, WARNING, f"resource {quoted(pattern)} does not start with '/', so it never "
                              "matched a path; no route emitted")
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
