"""``python -m bench``: the gateway against its peers under wrk, interleaved rounds, a table and a JSON file.

Run from the repository root with the venv's Python.  See README, "Benchmark".
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import engine, report
from .runner import REPO, Env, run_scenario, run_streams, summarise
from .scenarios import SCENARIOS
from .system import PYTHON_MODULES, Missing, cpu_plan, ensure_modules, ensure_tools, machine_info

DEFAULT_ROUNDS = 3
DEFAULT_DURATION = 5
DEFAULT_WARMUP = 2
DEFAULT_STREAM_MIB = 1024


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark cors-gateway against peer servers (wrk load, everything on 127.0.0.1).",
    )
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"interleaved rounds per scenario (default {DEFAULT_ROUNDS})")
    parser.add_argument("--duration", type=int, default=None,
                        help=f"seconds per measurement (default {DEFAULT_DURATION})")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)} (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1 round of 2 s, 1 s warm-up, 256 MiB streams, a short engine run")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="where to write the results (default bench/results-<date>.json)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--warmup", type=int, default=None,
                        help=f"seconds of unrecorded load per server before round 1 (default {DEFAULT_WARMUP})")
    parser.add_argument("--stream-mib", type=int, default=None,
                        help=f"S6 transfer size in MiB (default {DEFAULT_STREAM_MIB})")
    parser.add_argument("--no-engine", action="store_true", help="skip the engine microbenchmark at the end")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with server logs and configs")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    quick = args.quick
    if args.rounds is None:
        args.rounds = 1 if quick else DEFAULT_ROUNDS
    if args.duration is None:
        args.duration = 2 if quick else DEFAULT_DURATION
    if args.warmup is None:
        args.warmup = 1 if quick else DEFAULT_WARMUP
    if args.stream_mib is None:
        args.stream_mib = 256 if quick else DEFAULT_STREAM_MIB
    names = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in names if s not in SCENARIOS]
    if unknown or not names:
        parser.error(f"unknown scenario(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(SCENARIOS)}")
    args.scenarios = [s for s in SCENARIOS if s in names]  # run in the canonical order
    if args.rounds < 1 or args.duration < 1 or args.connections < 1 or args.threads < 1 or args.stream_mib < 1:
        parser.error("--rounds, --duration, --connections, --threads and --stream-mib must be at least 1")
    if args.json is None:
        args.json = str(REPO / "bench" / f"results-{datetime.date.today().isoformat()}.json")
    return args


def estimate_seconds(args: argparse.Namespace) -> float:
    """A rough wall-clock estimate: measurements, warm-ups, start-ups, streams, the engine."""
    units = sum(SCENARIOS[s].estimate_units for s in args.scenarios)
    total = units * (args.rounds * (args.duration + 0.6) + args.warmup + 0.6) + 4 * len(args.scenarios)
    if "S6" in args.scenarios:
        # 3 servers x 2 directions; ~2-4 s per GiB for the gateway, faster for the others.
        total += 6 * (args.rounds + 0.25) * max(1.0, 2.5 * args.stream_mib / 1024) + 5
    if not args.no_engine:
        total += 40 if not args.quick else 5
    return total


def requirements(scenarios: list[str]) -> tuple[list[str], list[str]]:
    tools = ["wrk", "taskset"]
    modules: list[str] = []
    for key in scenarios:
        for need in SCENARIOS[key].needs:
            if need == "nginx":
                tools.append(need)
            elif need in PYTHON_MODULES:
                modules.append(need)
    return sorted(set(tools)), sorted(set(modules))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools, modules = requirements(args.scenarios)
    try:
        ensure_tools(tools)
        ensure_modules(modules)
    except Missing as err:
        print(f"bench: {err}", file=sys.stderr)
        return 2

    info = machine_info()  # before the harness pins itself: nproc counts this process's CPUs
    server_cpus, client_cpus, all_cpus, cpu_note = cpu_plan()
    if client_cpus is not None:
        os.sched_setaffinity(0, {int(client_cpus)})  # the harness itself stays off the server's CPU
    command = "python -m bench" + ("" if argv is None and len(sys.argv) <= 1 else
                                   " " + shlex.join(sys.argv[1:] if argv is None else argv))
    print(f"cors-gateway benchmark: scenarios {','.join(args.scenarios)}, {args.rounds} round(s) of "
          f"{args.duration} s, wrk -t{args.threads} -c{args.connections}; {cpu_note}")
    print(f"estimated time: about {estimate_seconds(args) / 60:.1f} min; machine: {info['nproc']} CPUs, "
          f"{info['model']}, load average {info['loadavg_at_start'][0]:.2f}")
    code = info["code"]
    print(f"gateway code: commit {code['commit'] or '?'}"
          + (" with uncommitted changes under gateway/" if code["gateway_dirty"] else ""))
    if info["loadavg_at_start"][0] > 0.5:
        print("warning: the machine is not idle (load average above 0.5): other processes skew the results")

    workdir = Path(tempfile.mkdtemp(prefix="cors-gateway-bench-"))
    env = Env(workdir, server_cpus=server_cpus, client_cpus=client_cpus, all_cpus=all_cpus,
              connections=args.connections, threads=args.threads)
    started = time.time()
    results: list[dict] = []
    failed = False
    try:
        for key in args.scenarios:
            print(f"\n== {key}: {SCENARIOS[key].title}")
            if key == "S6":
                results.extend(run_streams(env, args.rounds, args.stream_mib * 2**20))
            else:
                results.extend(run_scenario(env, key, args.rounds, args.duration, args.warmup))
    except KeyboardInterrupt:
        failed = True
        print("\ninterrupted: stopping the servers", file=sys.stderr)
    finally:
        env.stop_all()
    summarise(results)

    engine_result = None
    if not args.no_engine and not failed:
        print("\n== engine microbenchmark (python -m bench.engine)")
        engine_result = engine.run(scale=0.1 if args.quick else 1.0, repeat=3 if args.quick else 5)
        print(engine.format_table(engine_result))

    elapsed = time.time() - started
    print("\n" + report.wrk_table(results))
    if any(r["group"].startswith("S6") for r in results):
        print("\n" + report.stream_table(results))
    for line in report.notes(results):
        print(f"note: {line}")
    verdicts = report.verdicts(results, engine_result)
    if verdicts:
        print("\ngoals:")
        for line in verdicts:
            print(f"  {line}")
    print(f"\n'x gateway' is each server's req/s (MB/s for S6) divided by the gateway's in the same group; "
          f"medians of {args.rounds} round(s).  Total time {elapsed / 60:.1f} min.")

    document = {
        "command": command,
        "started": datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "elapsed_s": round(elapsed, 1),
        "options": {k: v for k, v in vars(args).items() if k != "json"},
        "cpu_plan": cpu_note,
        "machine": info,
        "results": results,
        "engine": engine_result,
        "verdicts": verdicts,
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results written to {out}")
    if args.keep_logs:
        print(f"server logs and configs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0
