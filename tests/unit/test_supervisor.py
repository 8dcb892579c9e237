"""The supervisor's pure parts: CPU counting, CLI overrides, the config file watcher, the port reservation."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket

import pytest

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


def _parent(port: int) -> supervisor._Parent:
    return supervisor._Parent(parse_config(CONFIG), None, "127.0.0.1", port, 2)


def test_a_port_another_gateway_is_starting_on_is_refused():
    """Between a gateway's reservation and its workers' listen, SO_REUSEADDR lets the probe bind pass:
    the per-port lock refuses the second gateway then too, and frees the port with the first."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    first, second = _parent(port), _parent(port)
    assert first._reserve_port() == port
    try:
        with pytest.raises(supervisor.ListenError) as info:
            second._reserve_port()
        assert info.value.message() == (f"cannot listen on 127.0.0.1:{port}: another cors-gateway is starting or "
                                        "serving on it; change --port or listen.port")
        assert second._reserve is None and second._lock is None
        # A single-process gateway would bind beside the reservation (both SO_REUSEADDR): the lock refuses it.
        single = dataclasses.replace(parse_config(CONFIG), listen_host="127.0.0.1", listen_port=port)
        with pytest.raises(supervisor.ListenError) as info:
            asyncio.run(supervisor.serve_single(single, None, None, None))
        assert "another cors-gateway is starting or serving on it" in str(info.value)
    finally:
        first._release()
    assert second._reserve_port() == port
    second._release()


def test_a_listening_port_is_refused_with_its_address_and_the_key_to_change():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(supervisor.ListenError) as info:
            _parent(port)._reserve_port()
    assert str(info.value) == (f"cannot listen on 127.0.0.1:{port}: address already in use (another process "
                               "holds it); change --port or listen.port")
    error = supervisor.ListenError("admin", "::1", 9090, OSError(99, "x"))
    assert error.message() == ("cannot listen on [::1]:9090 (admin listener): this machine has no such address; "
                               "change admin.host")


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


def test_the_startup_lock_is_named_after_the_address_not_its_spelling():
    """127.1 and 127.0.0.1 are one address: two gateways starting on it at once must meet one lock."""
    import sys

    from gateway.supervisor.ports import ListenError, port_lock

    if not sys.platform.startswith("linux"):
        pytest.skip("abstract Unix sockets are Linux's")
    lock = port_lock("127.0.0.1", 1)
    try:
        with pytest.raises(ListenError):
            port_lock("127.1", 1)
    finally:
        lock.close()
