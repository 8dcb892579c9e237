"""Where the gateway's time goes: py-spy samples of the gateway under S1/S2/S5 load, as text.

    python -m bench.profile [--scenarios S1,S2,S5] [--duration 10] [--rate 250] [--top 25] [--out DIR]

For each scenario the gateway runs alone on CPU 0 (one worker, shipped
defaults) with its upstream, wrk and py-spy on CPU 1.  wrk loads it for the
whole sampling window; ``py-spy record --format raw --function
--nonblocking`` samples it (idle time excluded), and the collapsed stacks
are summarised: self time by function, self time by module, inclusive time
by function.  The raw stacks (and, with ``--svg``, a flame graph) are written
to ``--out`` (a temp dir by default: they are not meant to be committed).
Needs py-spy (the bench extra) and ptrace rights (root, or
kernel.yama.ptrace_scope=0).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .loadgen import wrk_command
from .procs import pinned
from .runner import Env
from .scenarios import get_request, preflight_request
from .system import Missing, cpu_plan, ensure_tools

_SERVER = {"S1": "gateway", "S2": "gateway", "S5": "gateway-s5"}


def _request(key: str, env: Env):
    if key == "S1":
        return preflight_request()
    if key == "S2":
        return get_request()
    origins_file, _ = env.s5_data()
    from .scenarios import Request

    return Request(script="rotate_origins.lua", script_args=(str(origins_file),))


def parse_raw(path: Path) -> tuple[collections.Counter, list[tuple[list[str], int]]]:
    stacks = []
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        stacks.append((frames, int(count)))
        total += int(count)
    return collections.Counter({"total": total}), stacks


def _module(frame: str) -> str:
    """'func (path/to/file.py:12)' -> a short module label."""
    if "(" not in frame:
        return frame or "?"
    where = frame[frame.rfind("(") + 1 : -1].rsplit(":", 1)[0]
    parts = where.replace("\\", "/").split("/")
    for anchor in ("gateway", "aiohttp", "multidict", "yarl", "prometheus_client", "asyncio", "uvloop", "logging",
                   "json", "re2", "re"):
        if anchor in parts[:-1]:
            return "/".join(parts[parts.index(anchor):])
    return parts[-1]


# Entry frames every stack passes through: left out of the inclusive list.
_ENTRY = ("<module> ", "_run_module_as_main ", "_run_code ", "main (gateway/cli.py", "cmd_run ",
          "run (gateway/supervisor/__init__.py", "Runner.run ", "run (asyncio/runners.py",
          "serve_single (gateway/supervisor/single.py")


def _label(frame: str) -> str:
    # uvloop runs the loop in C: its own time (epoll, socket I/O, scheduling)
    # is charged to the Python frame that entered it.
    return frame + "  [uvloop event loop, C]" if frame.startswith("Runner.run ") else frame


def summarise(stacks: list[tuple[list[str], int]], top: int) -> str:
    total = sum(n for _, n in stacks) or 1
    self_time: collections.Counter = collections.Counter()
    by_module: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    for frames, n in stacks:
        # py-spy's raw format starts with the process/thread frame(s); the leaf is last.
        leaf = frames[-1]
        self_time[leaf] += n
        by_module[_module(leaf)] += n
        for frame in set(frames):
            inclusive[frame] += n
    out = [f"samples: {total}"]
    out.append(f"\nself time, top {top} functions:")
    out += [f"  {n / total:6.1%}  {_label(f)}" for f, n in self_time.most_common(top)]
    out.append(f"\nself time by module (top {top}):")
    out += [f"  {n / total:6.1%}  {m}" for m, n in by_module.most_common(top)]
    out.append(f"\ninclusive time, top {top} functions (entry frames left out):")
    out += [f"  {n / total:6.1%}  {f}" for f, n in inclusive.most_common() if not f.startswith(_ENTRY)][:top]
    return "\n".join(out)


def profile_one(env: Env, key: str, duration: int, rate: int, out: Path, svg: bool, top: int = 25,
                lines: bool = False) -> str:
    server = env.get(_SERVER[key])
    upstream = env.get("upstream")  # noqa: F841 - running for S2/S5; idle for S1
    request = _request(key, env)
    wrk = pinned(wrk_command(server.url + request.path, duration + 4, connections=env.connections,
                             headers=request.headers, script=request.script, script_args=request.script_args),
                 env.client_cpus)
    wrk_out: dict[str, str] = {}

    def load() -> None:
        done = subprocess.run(wrk, check=False, capture_output=True, text=True, timeout=duration + 40)
        wrk_out["text"] = done.stdout + done.stderr

    loader = threading.Thread(target=load)
    loader.start()
    time.sleep(1.5)
    raw = out / f"profile-{key.lower()}.txt"
    spy = pinned([shutil.which("py-spy") or "py-spy", "record", "--pid", str(server.pid), "--duration",
                  str(duration), "--rate", str(rate), "--format", "raw",
                  *(() if lines else ("--function",)), "--nonblocking", "-o", str(raw)], env.client_cpus)
    subprocess.run(spy, check=True, timeout=duration + 60, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if svg:
        spy_svg = [a if a != "raw" else "flamegraph" for a in spy]
        spy_svg[spy_svg.index(str(raw))] = str(out / f"profile-{key.lower()}.svg")
        subprocess.run(spy_svg, check=False, timeout=duration + 60, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    loader.join()
    rps = next((line.split()[-1] for line in wrk_out.get("text", "").splitlines()
                if line.startswith("Requests/sec")), "?")
    _, stacks = parse_raw(raw)
    expected = duration * rate
    total = sum(n for _, n in stacks)
    head = (f"== {key}: gateway under wrk -c{env.connections} ({rps} req/s while sampled); "
            f"{total} samples of {expected} possible ({total / max(expected, 1):.0%} of the time on CPU)")
    return head + "\n" + summarise(stacks, top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n")[0])
    parser.add_argument("--scenarios", default="S1,S2,S5", help="any of S1,S2,S5 (default all three)")
    parser.add_argument("--duration", type=int, default=10, help="seconds sampled per scenario (default 10)")
    parser.add_argument("--rate", type=int, default=250, help="samples per second (default 250)")
    parser.add_argument("--top", type=int, default=25, help="rows per list (default 25)")
    parser.add_argument("--out", help="directory for raw stacks (default: a new temp dir)")
    parser.add_argument("--svg", action="store_true", help="also record a flame graph SVG per scenario")
    parser.add_argument("--lines", action="store_true",
                        help="attribute samples to source lines, not functions (where inside a function)")
    args = parser.parse_args(argv)
    keys = [k.strip().upper() for k in args.scenarios.split(",") if k.strip()]
    if not keys or any(k not in _SERVER for k in keys):
        parser.error("--scenarios takes S1, S2 and/or S5")
    if shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists():
        print(f"bench.profile: py-spy is missing: {sys.executable} -m pip install -e '.[bench]'", file=sys.stderr)
        return 2
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    try:
        ensure_tools(["wrk", "taskset"])
    except Missing as err:
        print(f"bench.profile: {err}", file=sys.stderr)
        return 2
    server_cpus, client_cpus, all_cpus, note = cpu_plan()
    if client_cpus is not None:
        os.sched_setaffinity(0, {int(client_cpus)})
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="cors-gateway-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="cors-gateway-bench-"))
    env = Env(workdir, server_cpus=server_cpus, client_cpus=client_cpus, all_cpus=all_cpus, log=lambda s: None)
    print(f"profiling the gateway: {note}")
    try:
        for key in keys:
            print(profile_one(env, key, args.duration, args.rate, out, args.svg, args.top, args.lines), flush=True)
            print()
            env.release()
    finally:
        env.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"raw stacks in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
