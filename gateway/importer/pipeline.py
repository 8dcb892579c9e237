"""The importer end to end: source -> model -> routes -> config text, and ``cors-gateway import``.

``import_app`` runs the pipeline (``source``, ``model``, ``routes`` with
``flask_cors``, ``render``) on a file or a directory; ``run_import`` is the
command: it prints the findings, checks the emitted config with
``gateway.config.parse_config`` (pointing each issue at its source line) and
writes the config (with ``-o DIR``, one per app flask-cors is set up on).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from ..config import ConfigError, parse_config
from .findings import INFO, UNTRANSLATABLE, WARNING, Finding, Findings, Site
from .model import AppKey, AppModel
from .render import CATCH_ALL_NAME, catch_all, render_config
from .routes import RouteBuilder
from .source import Project, SourceError, read_sources

__all__ = [
    "AppChoiceNeeded", "ImportResult", "config_file_name", "cors_app_names", "import_app", "import_app_traced",
    "run_import",
]


class AppChoiceNeeded(SourceError):
    """flask-cors is set up on several Flask apps in the scan: one config per app, so one must be chosen.

    ``findings``: one per app, at its ``Flask(...)`` line, saying how to pick it.
    """

    def __init__(self, apps: list[AppKey], findings: tuple[Finding, ...]):
        names = ", ".join(_app_name(app) for app in apps)
        super().__init__(f"flask-cors is set up on {len(apps)} Flask apps ({names}); no config written: "
                         f"choose one with --app MODULE:NAME, or write one config per app with -o DIR")
        self.apps = apps
        self.findings = findings


def _app_name(app: AppKey) -> str:
    return f"{app[0]}:{app[1]}"


@dataclass(frozen=True)
class ImportResult:
    """What ``import_app`` returns: the config text, the findings, how many routes were translated."""

    config_yaml: str  # a complete gateway config (listen, admin, upstreams.app.url, defaults, routes)
    findings: tuple[Finding, ...]
    routes_found: int  # number of CORS-bearing things translated (0 => nothing usable)


def _check_upstream(upstream: str) -> None:
    parts = urlsplit(upstream)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise SourceError(f"--upstream {upstream!r}: must be http://host[:port] or https://host[:port]")


def import_app_traced(
    path: str | os.PathLike, upstream: str = "http://127.0.0.1:5000", app: str | None = None,
) -> tuple[ImportResult, tuple[Site | None, ...]]:
    """``import_app`` plus, for each emitted route (``routes.<i>``), the source line it came from."""
    _check_upstream(upstream)
    findings = Findings()
    project = Project(read_sources(path))
    model = AppModel(project, findings)
    _choose_app(model, app)
    routes = RouteBuilder(model, findings).build()
    _mount_prefix(model, app, routes, findings)
    found = len(routes)
    if not any(route.path == "/" for route in routes):
        routes.append(catch_all())
    if found == 0:
        where = (str(path), 1)
        what = (
            "no flask-cors CORS() or @cross_origin found" if not model.uses_flask_cors
            else "no translatable flask-cors setup found"
        )
        findings.add(where, INFO, f"{what}; the config only proxies, with no CORS headers")
    text = render_config(str(path), upstream, routes)
    sources = tuple(route.source if route.name != CATCH_ALL_NAME else None for route in routes)
    return ImportResult(text, findings.sorted(), found), sources


def _mount_prefix(model: AppModel, app: str | None, routes: list, findings: Findings) -> None:
    """Prefix the routes with the path the app is mounted under (``DispatcherMiddleware``), or say it may be."""
    if app is not None:
        key: AppKey | None = tuple(app.partition(":")[::2])  # type: ignore[assignment]
    else:
        apps = model.cors_apps() or list(model.apps)
        key = apps[0] if len(apps) == 1 else None
    mounts = model.mounts.get(key, []) if key is not None else []
    for site in sorted(set(model.unknown_mounts)):
        findings.add(site, WARNING, "DispatcherMiddleware mounts an app the importer cannot tie to a Flask(...) in "
                                    "the scanned files (a factory call, say): if it is the app with flask-cors, "
                                    "every emitted route's path must start with its prefix (the routes assume /)")
    if not mounts or not routes:
        return
    certain = sorted({prefix.rstrip("/") for prefix, _, sure in mounts if sure and prefix.rstrip("/")})
    unknown = [site for prefix, site, sure in mounts if not sure and not prefix]
    maybe = [(prefix, site) for prefix, site, sure in mounts if not sure and prefix]
    name = _app_name(key)
    if len(certain) == 1 and not unknown:
        prefix = certain[0]
        site = next(site for p, site, sure in mounts if sure and p.rstrip("/") == prefix)
        for route in routes:
            if route.path is not None:
                route.path = prefix + route.path
            else:
                route.path_regex = re.escape(prefix) + f"(?:{route.path_regex})"
        findings.add(site, INFO, f"DispatcherMiddleware mounts {name} under {prefix}: every emitted route's path "
                                 f"starts with {prefix}, as the server the gateway proxies to sees it")
        return
    for site in unknown:
        findings.add(site, WARNING, f"DispatcherMiddleware mounts {name} under a prefix only known at run time: "
                                    "the emitted routes assume it is served at /; put that prefix before every "
                                    "route's path")
    if len(certain) > 1:
        findings.add(mounts[0][1], WARNING, f"DispatcherMiddleware mounts {name} under several prefixes "
                                            f"({', '.join(certain)}): the emitted routes assume it is served at /; "
                                            "copy them for each prefix")
    for prefix, site in maybe:
        findings.add(site, WARNING, f"{name} is passed with the path {prefix!r} here: if this mounts the app under "
                                    f"{prefix}, every route's path must start with {prefix} (the emitted routes "
                                    "assume the app is served at /)")


def _choose_app(model: AppModel, app: str | None) -> None:
    """Narrow ``model`` to the app ``--app MODULE:NAME`` names; refuse to merge several apps' setups."""
    if app is not None:
        module, _, name = app.partition(":")
        key = (module, name)
        if not module or not name or key not in model.apps:
            known = ", ".join(_app_name(k) for k in model.apps) or "none"
            raise SourceError(f"--app {app!r}: no Flask app by that MODULE:NAME in the scanned files "
                              f"(found: {known})")
        model.select_app(key)
        return
    apps = model.cors_apps()
    if len(apps) < 2:
        return
    names = ", ".join(_app_name(key) for key in apps)
    refusal = Findings()
    for key in apps:
        refusal.add(
            model.apps[key], UNTRANSLATABLE,
            f"Flask app {_app_name(key)}: flask-cors is set up on {len(apps)} apps in this scan ({names}); one "
            f"config holds one app's routes, and merging them would apply one app's policy to the other's "
            f"paths: pick this one with --app {_app_name(key)} (or import its file alone)",
        )
    raise AppChoiceNeeded(apps, refusal.sorted())


def import_app(path: str | os.PathLike, upstream: str = "http://127.0.0.1:5000", app: str | None = None
               ) -> ImportResult:
    """Translate the flask-cors setup of a ``.py`` file or of every ``*.py`` below a directory.

    ``app``: ``MODULE:NAME`` of the Flask app to translate, when the files hold several.
    Raises ``SourceError`` when the path is missing or a file has a syntax error, and
    ``AppChoiceNeeded`` (a ``SourceError``) when flask-cors is set up on several apps and
    ``app`` does not name one.
    """
    return import_app_traced(path, upstream, app)[0]


_ROUTE_INDEX = re.compile(r"^routes\.(\d+)")
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # ${NAME} without a default
# What an origins variable without a default holds while the emitted config is checked.
_CHECK_ORIGIN = "https://example.invalid"


def cors_app_names(path: str | os.PathLike) -> list[str]:
    """``MODULE:NAME`` of every Flask app in the scan that flask-cors is set up on, in source order."""
    model = AppModel(Project(read_sources(path)), Findings())
    return [_app_name(key) for key in model.cors_apps()]


def config_file_name(app: str | None) -> str:
    """The file ``-o DIR`` writes an app's config to: ``MODULE.NAME.yaml`` (a name never holds a dot)."""
    return f"{app.replace(':', '.')}.yaml" if app else "cors-gateway.yaml"


def _is_directory_output(output: str | None) -> bool:
    return bool(output) and (Path(output).is_dir() or output.endswith(("/", os.sep)))


def run_import(app_path: str, upstream: str, output: str | None, stdout: TextIO = sys.stdout,
               stderr: TextIO = sys.stderr, app: str | None = None) -> int:
    """The ``cors-gateway import`` command: 0 if something usable was found, 1 if not, 2 on bad input
    (several apps and no ``--app`` included).

    ``output`` naming a directory (existing, or ending with ``/``) writes one config per app flask-cors
    is set up on (``config_file_name``), each checked on its own; the exit status is the worst of them.
    """
    if not _is_directory_output(output):
        return _import_one(app_path, upstream, output, stdout, stderr, app)
    directory = Path(output)
    try:
        names = [app] if app else cors_app_names(app_path)
    except SourceError as err:
        print(f"cors-gateway import: {err}", file=stderr)
        return 2
    if directory.exists() and not directory.is_dir():
        print(f"cors-gateway import: cannot write into {output}: not a directory", file=stderr)
        return 2
    if len(names) > 1:
        print(f"cors-gateway import: flask-cors is set up on {len(names)} Flask apps ({', '.join(names)}): "
              f"one config each in {output}; each gateway goes in front of its own app, so set each "
              "config's upstreams.app.url (and listen port, on one host)", file=stderr)
    status = 0
    for name in names or [None]:
        target = str(directory / config_file_name(name))
        if len(names) > 1:
            print(f"cors-gateway import: {name} -> {target}", file=stderr)
        status = max(status, _import_one(app_path, upstream, target, stdout, stderr, name, make_parent=True))
    return status


def _import_one(app_path: str, upstream: str, output: str | None, stdout: TextIO, stderr: TextIO,
                app: str | None, make_parent: bool = False) -> int:
    """One config: to ``output`` (a file; its directory created when ``make_parent``) or to ``stdout``."""
    try:
        result, sources = import_app_traced(app_path, upstream, app)
    except AppChoiceNeeded as err:
        for finding in err.findings:
            print(finding, file=stderr)
        print(f"cors-gateway import: {err}", file=stderr)
        return 2
    except SourceError as err:
        print(f"cors-gateway import: {err}", file=stderr)
        return 2
    for finding in result.findings:
        print(finding, file=stderr)
    target = output or "<stdout>"
    # Origins read from the environment are emitted as ${NAME}: checked with a stand-in value.
    check_env = {name: _CHECK_ORIGIN for name in _ENV_REFERENCE.findall(result.config_yaml)}
    try:
        config = parse_config(result.config_yaml, source=target, env=check_env or None)
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
            if make_parent:  # -o DIR: created once there is something to write into it
                Path(output).parent.mkdir(parents=True, exist_ok=True)
            Path(output).write_text(result.config_yaml, encoding="utf-8")
        except OSError as err:
            print(f"cors-gateway import: cannot write {output}: {err}", file=stderr)
            return 2
    else:
        stdout.write(result.config_yaml)
    print(
        f"cors-gateway import: {result.routes_found} route(s) from {app_path}{f' ({app})' if app else ''}, "
        f"{len(result.findings)} finding(s); "
        f"the config passes check with {len(warnings)} warning(s)",
        file=stderr,
    )
    return 0
