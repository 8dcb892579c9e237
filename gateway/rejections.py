"""The last rejections and shadow disagreements of a process: a bounded ring buffer for the admin page.

``RejectionLog`` keeps the newest ``capacity`` records (default 200) of what
the gateway refused (and, in shadow mode, where it disagreed with the
upstream): time, route, method, path without its query, origin, kind,
reason, and the rejection's own words (``Decision.detail``).  Never a body, a
cookie, an ``Authorization`` value or a query string.  Attacker-chosen text
(path, origin) is clipped here and escaped by whoever shows it.

A worker process hands its new records to the parent (``take_new``), which
merges them into its own log (``extend``).  Pure: standard library only.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["DEFAULT_CAPACITY", "Record", "RejectionLog"]

DEFAULT_CAPACITY = 200
MAX_PATH = 512
MAX_ORIGIN = 300
MAX_METHOD = 32
MAX_DETAIL = 400
# Records a worker keeps for its parent between two hand-overs (the parent keeps ``capacity``).
MAX_PENDING = 1000


@dataclass(frozen=True, slots=True)
class Record:
    time: float  # seconds since the epoch
    route: str
    method: str  # a preflight's: the method it asked for (Access-Control-Request-Method)
    path: str
    origin: str | None
    kind: str  # preflight | actual, or "shadow" for a disagreement in shadow mode
    reason: str
    detail: str = ""

    def to_json(self) -> dict:
        return {"time": self.time, "route": self.route, "method": self.method, "path": self.path,
                "origin": self.origin, "kind": self.kind, "reason": self.reason, "detail": self.detail}


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _path_only(raw_path: str) -> str:
    """The path of a request target: never its query, fragment, or (absolute form) scheme, host and userinfo."""
    path = raw_path
    if not path.startswith("/"):  # absolute form (http://user:pass@host/path) or "*"
        try:
            path = urlsplit(path).path or "/"
        except ValueError:
            path = "/"
    for mark in ("?", "#"):
        path = path.partition(mark)[0]
    return path


class RejectionLog:
    """The newest ``capacity`` records, oldest dropped first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, *, worker: bool = False):
        """``worker``: a worker's log keeps only what ``take_new`` hands to the parent (which keeps the ring)."""
        self.capacity = capacity
        self._records: deque[Record] = deque(maxlen=0 if worker else capacity)
        self._new: deque[Record] | None = deque(maxlen=MAX_PENDING) if worker else None
        self.dropped = 0  # records a worker could not hand over (more than MAX_PENDING between two hand-overs)
        self.version = 0  # counts additions: what was built from the log is current while it stays the same

    def add(self, route: str, method: str, raw_path: str, origin: str | None, kind: str, reason: str,
            detail: str = "", now: float | None = None) -> None:
        record = Record(
            time.time() if now is None else now, route, _clip(method, MAX_METHOD) or "",
            _clip(_path_only(raw_path), MAX_PATH) or "", _clip(origin, MAX_ORIGIN), kind, reason,
            _clip(detail, MAX_DETAIL) or "",
        )
        self.version += 1
        self._records.append(record)
        if self._new is not None:
            if len(self._new) == MAX_PENDING:
                self.dropped += 1
            self._new.append(record)

    def take_new(self) -> list[Record]:
        """The records added since the last call (a worker's hand-over to its parent)."""
        if not self._new:
            return []
        taken = list(self._new)
        self._new.clear()
        return taken

    def extend(self, records: list[Record]) -> None:
        """Merge records from another process (a worker's), keeping time order and the bound."""
        fresh = [r for r in records if isinstance(r, Record)]
        if not fresh:
            return
        merged = sorted([*self._records, *fresh], key=lambda r: r.time)
        self._records = deque(merged[-self.capacity:], maxlen=self.capacity)
        self.version += 1

    def recent(self, *, path: str | None = None, origin: str | None = None, shadow: bool | None = None,
               limit: int | None = None) -> list[Record]:
        """Newest first; ``path``/``origin`` filter exactly; ``shadow``: only (or no) disagreements."""
        found = []
        for record in reversed(self._records):
            if path is not None and record.path != path:
                continue
            if origin is not None and record.origin != origin:
                continue
            if shadow is not None and (record.kind == "shadow") != shadow:
                continue
            found.append(record)
            if limit is not None and len(found) >= limit:
                break
        return found

    def groups(self, *, shadow: bool = False, path: str | None = None, origin: str | None = None,
               limit: int | None = None) -> list[dict]:
        """Counts by (route, origin, reason), the most frequent first, each with its newest record."""
        counts: dict[tuple, dict] = {}
        for record in self.recent(shadow=shadow, path=path, origin=origin):
            key = (record.route, record.origin, record.reason)
            group = counts.get(key)
            if group is None:
                counts[key] = {"route": record.route, "origin": record.origin, "reason": record.reason,
                               "count": 1, "last": record}
            else:
                group["count"] += 1
        ordered = sorted(counts.values(), key=lambda g: (-g["count"], -g["last"].time))
        return ordered if limit is None else ordered[:limit]

    def __len__(self) -> int:
        return len(self._records)
