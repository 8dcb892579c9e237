"""Microbenchmark of the pure CORS engine (``gateway.policy.CorsPolicy``), timeit-based.

    python -m bench.engine [--scale F] [--repeat N] [--json PATH]

Cases (microseconds per call, best of ``--repeat`` timings):

* cached allowed / cached rejected: ``policy.actual("GET", (origin,))`` with
  the verdict already in the decision cache (the S5 policy; a hit does not
  depend on the policy's size);
* cached preflight: ``policy.preflight`` for an allowed origin, PUT and two
  requested headers (S1's decision);
* uncached, S5 policy: the 10,000 S5 request origins against 1,000 exact
  origins, 100 wildcards and 20 regexes, with a decision cache of one entry so
  every call misses (validation, matching, building the header set, the cache
  insert and eviction); also per kind of origin (exact, wildcard, regex, and
  rejected, which walks every pattern);
* a preflight whose Access-Control-Request-Headers holds 10,000 names, as one
  header line and as 10,000 lines, plus the largest list the gateway accepts
  (64 names) for comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit

from gateway.cache import DecisionCache
from gateway.config import parse_config
from gateway.policy import CorsPolicy

from . import configs as C

# Calls per timing at --scale 1: each timing takes about 0.05-0.3 s.
_COUNTS = {"cached": 200_000, "uncached_pass": 5, "acrh": 20_000}


def _policy(origins: list[str], cache_size: int, allow_headers: str | list[str] | None = None) -> CorsPolicy:
    headers = json.dumps(allow_headers if allow_headers is not None else list(C.ALLOW_HEADERS))
    text = (
        "upstreams: {app: {url: 'http://127.0.0.1:1'}}\n"
        "routes:\n  - name: api\n    path: /api/\n    upstream: app\n    cors:\n"
        f"      origins: {json.dumps(origins)}\n      allow_headers: {headers}\n      max_age: {C.MAX_AGE}\n"
    )
    config = parse_config(text, source="<bench.engine>")
    return CorsPolicy("api", config.routes[0].cors, DecisionCache(cache_size))


def _best(timer: timeit.Timer, number: int, repeat: int) -> float:
    """Seconds per call: the best of ``repeat`` timings of ``number`` calls."""
    return min(timer.repeat(repeat=repeat, number=number)) / number


def run(scale: float = 1.0, repeat: int = 5, origins_count: int = C.S5_REQUEST_ORIGINS) -> dict:
    """Run every case; returns {case: microseconds per call} plus a few facts."""
    n_cached = max(1, int(_COUNTS["cached"] * scale))
    n_acrh = max(1, int(_COUNTS["acrh"] * scale))
    passes = max(1, int(_COUNTS["uncached_pass"] * scale))
    patterns = C.s5_patterns()
    results: dict[str, float] = {}

    # Cached decisions (S5 policy, default cache size).
    policy = _policy(patterns, 10_000)
    allowed, rejected = ("https://app7.example.com",), ("https://evil.example",)
    policy.actual("GET", allowed)
    policy.actual("GET", rejected)
    assert policy.actual("GET", allowed).allowed and not policy.actual("GET", rejected).allowed
    actual = policy.actual
    results["cached allowed (actual GET)"] = _best(timeit.Timer(lambda: actual("GET", allowed)), n_cached, repeat)
    results["cached rejected (actual GET)"] = _best(timeit.Timer(lambda: actual("GET", rejected)), n_cached, repeat)
    preflight = policy.preflight
    acrm, acrh = ("PUT",), (C.PREFLIGHT_HEADERS,)
    assert preflight(allowed, acrm, acrh).allowed
    results["cached preflight (PUT, 2 headers)"] = _best(
        timeit.Timer(lambda: preflight(allowed, acrm, acrh)), n_cached, repeat)

    # Uncached: a one-entry cache, so every call of the rotation misses.
    cold = _policy(patterns, 1)
    items = C.s5_origins(origins_count)
    by_kind: dict[str, list[tuple[str]]] = {}
    for origin, ok, kind in items:
        by_kind.setdefault(kind, []).append((origin,))
        assert bool(cold.actual("GET", (origin,)).allowed) is ok, origin
    every = [(o,) for o, _, _ in items]
    cold_actual = cold.actual

    def sweep(origins=every):
        for origin in origins:
            cold_actual("GET", origin)

    results["uncached S5 decision (10k mix, mean)"] = _best(timeit.Timer(sweep), passes, repeat) / len(every)
    for kind in ("exact", "wildcard", "regex", "rejected"):
        some = by_kind.get(kind, [])
        if some:
            results[f"uncached S5 decision ({kind})"] = _best(
                timeit.Timer(lambda some=some: sweep(some)), passes, repeat) / len(some)

    # Access-Control-Request-Headers with 10,000 names.
    names = [f"x-h{i}" for i in range(10_000)]
    one_line = (", ".join(names),)
    many_lines = tuple(names)
    within = (", ".join(names[:64]),)
    star = _policy([C.ALLOWED_ORIGIN], 100, "*")  # echoes requested names: the full parse runs
    star.preflight((C.ALLOWED_ORIGIN,), acrm, within)
    for label, lines in (("10,000 names, one line", one_line), ("10,000 names, 10,000 lines", many_lines)):
        decision = star.preflight((C.ALLOWED_ORIGIN,), acrm, lines)
        assert decision.allowed is False
        results[f"preflight ACRH {label}"] = _best(
            timeit.Timer(lambda lines=lines: star.preflight((C.ALLOWED_ORIGIN,), acrm, lines)), n_acrh, repeat)
    assert star.preflight((C.ALLOWED_ORIGIN,), acrm, within).allowed
    results["preflight ACRH 64 names (largest accepted)"] = _best(
        timeit.Timer(lambda: star.preflight((C.ALLOWED_ORIGIN,), acrm, within)), n_acrh, repeat)

    return {
        "us_per_call": {k: round(v * 1e6, 4) for k, v in results.items()},
        "policy": {"exact": C.S5_EXACT, "wildcards": C.S5_WILDCARDS, "regexes": C.S5_REGEXES},
        "origins": len(every),
        "scale": scale,
        "repeat": repeat,
    }


def format_table(result: dict) -> str:
    rows = result["us_per_call"]
    width = max(len(k) for k in rows)
    lines = [f"{'case':{width}s}  us/call", f"{'-' * width}  -------"]
    lines += [f"{k:{width}s}  {v:9.3f}" for k, v in rows.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every iteration count (default 1)")
    parser.add_argument("--repeat", type=int, default=5, help="timings per case; the best is kept (default 5)")
    parser.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    args = parser.parse_args(argv)
    result = run(args.scale, args.repeat)
    print(format_table(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
