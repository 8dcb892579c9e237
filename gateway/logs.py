"""Request logging: the JSON access log and the rate-limited rejection log.

* Access log (logger ``gateway.access``): one JSON object per request, on
  stdout when the CLI runs the gateway.  Fields: time, request_id, method,
  path (no query: queries carry tokens), route, origin, kind, decision,
  reason, status, bytes, duration_ms, upstream_ms.  ``access_log.enabled``
  switches it off; ``access_log.sample_rate`` keeps that share of lines, but
  rejections and 5xx answers are always written.  Request input is escaped by
  JSON and cut to a bounded length, so a line can never be forged or huge.
* Rejection log (logger ``gateway.rejections``, INFO): says why a request was
  rejected, at most once a minute per (route, origin, reason) and at most
  ``burst`` lines in a row before a steady ``per_second``, so a flood of
  origins cannot fill the disk; what was held back is counted in the next line.
  The origin shown is the bounded metrics label (an allowed-to-show origin,
  ``__other__`` or ``__malformed__``), never the raw header.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import OrderedDict

__all__ = ["RequestLog"]

access_log = logging.getLogger("gateway.access")
rejection_log = logging.getLogger("gateway.rejections")

MAX_FIELD = 300  # characters kept of request-supplied fields (path, origin)


def _clip(value: str | None) -> str | None:
    if value is None or len(value) <= MAX_FIELD:
        return value
    return value[:MAX_FIELD] + "..."


class RequestLog:
    def __init__(
        self,
        enabled: bool = True,
        sample_rate: float = 1.0,
        *,
        interval: float = 60.0,
        burst: int = 50,
        per_second: float = 10.0,
        max_keys: int = 10_000,
    ):
        self.enabled = enabled
        self.sample_rate = sample_rate
        self.interval = interval
        self.burst = burst
        self.per_second = per_second
        self.max_keys = max_keys
        self._last: OrderedDict[tuple, float] = OrderedDict()
        self._tokens = float(burst)
        self._refilled = time.monotonic()
        self.suppressed = 0

    def access(
        self, *, request_id: str, method: str, path: str, route: str, origin: str | None, kind: str,
        decision: str, reason: str | None, status: int, size: int, duration: float, upstream: float | None,
    ) -> None:
        if not self.enabled or not access_log.isEnabledFor(logging.INFO):
            return
        if self.sample_rate < 1.0 and reason is None and status < 500 and random.random() >= self.sample_rate:
            return
        now = time.time()  # one reading: two could straddle a second and be a second off
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
            "request_id": request_id,
            "method": _clip(method),
            "path": _clip(path),
            "route": route,
            "origin": _clip(origin),
            "kind": kind,
            "decision": decision,
            "reason": reason,
            "status": status,
            "bytes": size,
            "duration_ms": round(duration * 1000, 3),
            "upstream_ms": None if upstream is None else round(upstream * 1000, 3),
        }
        access_log.info(json.dumps(record, separators=(",", ":")))

    def rejection(self, route: str, origin_label: str, kind: str, reason: str, method: str) -> bool:
        """Log one rejection if the rate limits allow; True when written."""
        if not rejection_log.isEnabledFor(logging.INFO):
            return False
        now = time.monotonic()
        key = (route, origin_label, reason)
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self.suppressed += 1
            return False
        self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.per_second)
        self._refilled = now
        if self._tokens < 1.0:
            self.suppressed += 1
            return False
        self._tokens -= 1.0
        self._last[key] = now
        self._last.move_to_end(key)
        if len(self._last) > self.max_keys:
            self._last.popitem(last=False)
        held, self.suppressed = self.suppressed, 0
        rejection_log.info(
            "rejected %s %s on route %s from origin %s: %s%s",
            kind, _clip(method), route, origin_label, reason,
            f" ({held} similar lines held back)" if held else "",
        )
        return True
