"""The bounded decision cache.

One LRU for the whole gateway, keyed by ``(policy namespace, raw Origin)``,
holding each origin's finished verdict and header set, so a repeat origin
costs one dict lookup.  Its size is the config's ``cache_size`` in all: a
flood of random origins evicts old entries instead of growing memory.
Values are immutable, so a hit can be shared without copying.
"""

from __future__ import annotations

from collections import OrderedDict
from itertools import count
from typing import Any, Hashable

__all__ = ["DecisionCache"]


class DecisionCache:
    """Per-origin verdicts of every policy of one route table, in one LRU budget.

    ``hits``/``misses`` count this cache.  ``preflight_hits``/``preflight_misses``
    count the policies' own preflight-answer tables (``policy.CorsPolicy``),
    kept here so metrics find every counter of a table in one place; they are
    separate series (``cors_gateway_preflight_cache_*``).
    """

    __slots__ = ("capacity", "hits", "misses", "preflight_hits", "preflight_misses", "_data", "_namespaces")

    def __init__(self, capacity: int = 10_000):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self.preflight_hits = 0
        self.preflight_misses = 0
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._namespaces = count()

    def new_namespace(self) -> int:
        """A key prefix for one policy, so policies can share the budget."""
        return next(self._namespaces)

    def get(self, key: Hashable) -> Any:
        data = self._data
        value = data.get(key)
        if value is None:
            self.misses += 1
            return None
        data.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: Hashable, value: Any) -> None:
        data = self._data
        data[key] = value
        data.move_to_end(key)  # a re-put entry is the most recently used
        if len(data) > self.capacity:
            data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()
