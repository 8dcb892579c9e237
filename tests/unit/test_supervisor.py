"""The supervisor's pure parts: CPU counting, CLI overrides, the config file watcher."""

from __future__ import annotations

import asyncio
import os

from gateway import supervisor
from gateway.config import parse_config

CONFIG = 'upstreams:\n  app: {url: "http://127.0.0.1:5000"}\nroutes:\n  - {path: /, upstream: app}\n'


def test_usable_cpus_honours_affinity_and_cgroup_quota(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    real_path = supervisor.Path

    def fake(text):
        return tmp_path / "cpu.max" if text == "/sys/fs/cgroup/cpu.max" else real_path(text)

    monkeypatch.setattr(supervisor, "Path", fake)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert supervisor.usable_cpus() == 4
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # 1.5 CPUs: two workers
    assert supervisor.usable_cpus() == 2
    (tmp_path / "cpu.max").write_text("20000 100000\n")  # a fifth of a CPU: still one
    assert supervisor.usable_cpus() == 1
    (tmp_path / "cpu.max").unlink()
    assert supervisor.usable_cpus() == 4


def test_cli_host_and_port_outrank_the_file():
    config = parse_config(CONFIG)
    assert supervisor.with_overrides(config, None, None) is config
    changed = supervisor.with_overrides(config, "127.0.0.2", 1234)
    assert (changed.listen_host, changed.listen_port) == ("127.0.0.2", 1234)


async def test_watcher_waits_for_the_file_to_settle_and_reports_once(tmp_path):
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIG)
    seen: list[str] = []

    async def on_change(why: str) -> None:
        seen.append(path.read_text() if path.exists() else "<gone>")

    watcher = supervisor.ConfigWatcher(str(path), on_change, interval=0.05, settle=0.2)
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.sleep(0.2)
        assert seen == []  # nothing changed
        # An editor writing in three steps, faster than the settle time: one reload, of the final text.
        for part in ("upstreams:\n", "upstreams:\n  app: {url:", CONFIG + "# edited\n"):
            path.write_text(part)
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.6)
        assert seen == [CONFIG + "# edited\n"]
        # Replaced by a rename (as a ConfigMap update does): noticed too.
        (tmp_path / "new.yaml").write_text(CONFIG + "# renamed\n")
        os.replace(tmp_path / "new.yaml", path)
        await asyncio.sleep(0.6)
        assert seen[-1] == CONFIG + "# renamed\n" and len(seen) == 2
        # Deleted: reported as a change (the reload then fails and the old config stays).
        path.unlink()
        await asyncio.sleep(0.6)
        assert seen[-1] == "<gone>" and len(seen) == 3
    finally:
        task.cancel()


async def test_watcher_survives_a_failing_callback(tmp_path):
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIG)
    calls: list[str] = []

    async def on_change(why: str) -> None:
        calls.append(why)
        raise RuntimeError("boom")

    watcher = supervisor.ConfigWatcher(str(path), on_change, interval=0.05, settle=0.05)
    task = asyncio.create_task(watcher.run())
    try:
        path.write_text(CONFIG + "# 1\n")
        await asyncio.sleep(0.4)
        path.write_text(CONFIG + "# 2\n")
        await asyncio.sleep(0.4)
        assert len(calls) == 2 and not task.done()
    finally:
        task.cancel()
