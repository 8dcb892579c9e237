"""``ConfigError``, and the collector that every validation step reports its issues to.

An ``Issue`` (``gateway/settings.py``) is a key path and a message; a problem
is reported once however often the value it is about is checked
(``defaults.cors`` is checked on its own and again under every route that
inherits from it).
"""

from __future__ import annotations

from ..settings import Issue


class ConfigError(Exception):
    """The config cannot be loaded; ``errors`` lists every problem found."""

    def __init__(self, errors: list[Issue], warnings: list[Issue] | None = None):
        self.errors = errors
        self.warnings = warnings or []
        super().__init__("\n".join(str(e) for e in errors))


class _Issues:
    """The errors and warnings found so far, each once."""

    def __init__(self) -> None:
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []

    # defaults.cors is validated once on its own and again under every route
    # that inherits from it: report each problem once.
    def error(self, path: str, message: str) -> None:
        issue = Issue(path, message)
        if issue not in self.errors:
            self.errors.append(issue)

    def warn(self, path: str, message: str) -> None:
        issue = Issue(path, f"warning: {message}")
        if issue not in self.warnings:
            self.warnings.append(issue)
