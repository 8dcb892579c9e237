"""Findings: what the user must know or do about one line of the app's source.

The one vocabulary every stage of the importer reports in: a ``Site`` (file
as displayed, line), the four severities, ``Finding`` and the ``Findings``
collection that keeps each finding once.  Imports nothing of the importer.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "INFO", "SECURITY", "UNTRANSLATABLE", "WARNING", "Finding", "Findings", "Problem", "Site", "quoted",
]


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


Site = tuple[str, int]  # (file as displayed, line)

# A finding held back until its object feeds a CORS route (an app may have
# blueprints and views flask-cors never touches): (site, severity, message).
Problem = tuple[Site, str, str]


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


def quoted(text: str) -> str:
    """A pattern in single quotes as written in the source (``repr`` would double every backslash)."""
    return f"'{text}'" if "'" not in text else repr(text)
