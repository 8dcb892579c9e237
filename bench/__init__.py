"""Benchmark harness for cors-gateway (issue 6).

* ``python -m bench``: the gateway against peer servers under ``wrk`` load,
  interleaved rounds, a table on stdout and a JSON file (see ``bench.cli``).
* ``python -m bench.engine``: a timeit microbenchmark of ``CorsPolicy``.
* ``python -m bench.profile``: py-spy samples of the gateway under S1/S2 load,
  summarised as text (top frames).

Nothing here is imported by the gateway, and nothing here binds anything but
127.0.0.1.  The peers live in ``bench.peers`` and run as their own processes.
"""

__all__ = ["SCENARIOS"]

from .scenarios import SCENARIOS
