"""The importer end to end: source -> model -> routes -> config text, and ``cors-gateway import``.

``import_app`` runs the pipeline (``source``, ``model``, ``routes`` with
``flask_cors``, ``render``) on a file or a directory; ``run_import`` is the
command: it prints the findings, checks the emitted config with
``gateway.config.parse_config`` (pointing each issue at its source line) and
writes the config.
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
from .findings import INFO, Finding, Findings, Site
from .model import AppModel
from .render import CATCH_ALL_NAME, catch_all, render_config
from .routes import RouteBuilder
from .source import Project, SourceError, read_sources

__all__ = ["ImportResult", "import_app", "import_app_traced", "run_import"]


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
