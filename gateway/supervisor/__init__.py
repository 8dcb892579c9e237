"""Run the gateway as processes: one, or a parent with N workers; reload and drain.

* ``--workers 1``: one process serves the public and the admin listener.
* ``--workers N`` (or ``auto``: the usable CPUs, honouring the cgroup CPU
  quota): a parent process reserves the public port, starts N worker
  processes that each bind it with SO_REUSEPORT (each with its own event
  loop, upstream pool and decision cache), serves the admin listener itself
  with metrics aggregated from all workers (prometheus-client multiprocess
  mode, in a directory cleaned at start), and restarts a worker that dies
  (``cors_gateway_worker_restarts_total``).
* Reload: SIGHUP, or a change of the config file (polled once a second by
  content, so editors that write in several steps and Kubernetes ConfigMap
  symlink swaps both work; a change is applied once the file has been stable
  for half a second).  The new config is validated in full first; an
  invalid or unreadable one is refused, its key-path errors logged and
  ``cors_gateway_config_reloads_total{result="failure"}`` counted, and the
  old config stays live.  A valid one is swapped in atomically; requests in
  flight finish under the config they started with.
* SIGTERM/SIGINT: /readyz turns 503, listeners stop accepting, requests in
  flight get up to ``shutdown_timeout`` seconds, then the process exits 0.
* A listener that cannot bind (a port in use, an address this host does not
  have) raises ``ListenError``: one line naming host:port and what to change.

This module: ``run`` (one process or a parent with workers) and
``usable_cpus``.  The parts:

* ``single``: one process (``serve_single``).
* ``workers``: the parent and its workers, restarts, the shared metrics directory.
* ``reload``: the config loaded with the CLI's overrides, ``ConfigWatcher``,
  reloads on SIGHUP and file changes.
* ``ports``: the probe bind, the per-port startup lock, ``ListenError``.
* ``process``: every process's event loop, garbage-collector settling and
  start-up line.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
from pathlib import Path

from ..config import GatewayConfig
from .ports import ListenError
from .process import new_event_loop
from .reload import ConfigWatcher, load, with_overrides
from .single import serve_single
from .workers import _Parent, prepare_multiprocess_metrics

__all__ = ["ConfigWatcher", "ListenError", "load", "new_event_loop", "run", "serve_single", "usable_cpus",
           "with_overrides"]


def usable_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        count = os.cpu_count() or 1
    try:  # cgroup v2: "max 100000" or "<quota> <period>"
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        try:  # cgroup v1: a quota of -1 means none
            quota_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
            period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
            if quota_us > 0 and period_us > 0:
                count = min(count, max(1, math.ceil(quota_us / period_us)))
        except (OSError, ValueError):
            pass
    return max(1, count)


def run(config: GatewayConfig, path: str | None, host: str | None, port: int | None, workers: int,
        loop_factory) -> None:
    """Serve until SIGTERM/SIGINT with ``workers`` processes (1: this one)."""
    if workers <= 1:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            prepare_multiprocess_metrics()  # the variable was set for us: no stale files from a last run
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(serve_single(config, path, host, port))
        return
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    owned = directory is None
    directory = prepare_multiprocess_metrics()
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(_Parent(config, path, host, port, workers).run())
    finally:
        if owned:
            shutil.rmtree(directory, ignore_errors=True)
