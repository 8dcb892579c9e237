"""Tables (plain text, also valid Markdown) from summarised results."""

from __future__ import annotations

# CPU (in cores) used during a measurement by neither the server, its upstream
# nor wrk, above which the round is reported as disturbed.
DISTURBED = 0.25


def _f(value, fmt: str, missing: str = "-") -> str:
    return missing if value is None else format(value, fmt)


def _flags(entry: dict) -> str:
    flags = []
    if entry.get("error"):
        flags.append(entry["error"].splitlines()[0][:80])
    m = entry.get("median") or {}
    server, client = m.get("server_cpu_busy"), m.get("client_cpu_busy")
    if server is not None and server < 0.9:
        side = f"; client CPU {client:.0%}" if client is not None else ""
        flags.append(f"server CPU only {server:.0%} busy{side}")
    disturbed = [r for r in entry.get("runs", ()) if (r.get("other_cpu") or 0) > DISTURBED]
    if disturbed:
        worst = max(r["other_cpu"] for r in disturbed)
        flags.append(f"disturbed: {len(disturbed)} of {len(entry['runs'])} rounds, up to {worst:.2f} CPU "
                     "used by other processes")
    expected_errors = entry["group"] == "S4" and entry["peer"] == "gateway"
    if m.get("non_2xx_3xx") and not expected_errors:
        flags.append(f"{m['non_2xx_3xx']} non-2xx")
    if m.get("socket_errors"):
        flags.append(f"{m['socket_errors']} socket errors")
    return "; ".join(flags)


def wrk_table(results: list[dict]) -> str:
    rows = [
        "| group | server | req/s | p50 ms | p99 ms | CPU s/10k | upstream CPU s/10k | peak RSS MiB | x gateway "
        "| notes |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for e in results:
        if e["group"].startswith("S6"):
            continue
        m = e.get("median") or {}
        rows.append(
            f"| {e['group']} | {e['label']} | {_f(m.get('rps'), ',.0f')} | {_f(m.get('p50_ms'), '.2f')} | "
            f"{_f(m.get('p99_ms'), '.2f')} | {_f(m.get('cpu_s_per_10k'), '.3f')} | "
            f"{_f(m.get('upstream_cpu_s_per_10k'), '.3f')} | {_f(m.get('peak_rss_mib'), '.1f')} | "
            f"{_f(e.get('ratio_to_gateway'), '.2f')} | {_flags(e)} |"
        )
    return "\n".join(rows)


def stream_table(results: list[dict]) -> str:
    rows = [
        "| group | server | MB/s | seconds | RSS growth MiB (max) | CPU s/GiB | x gateway | notes |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for e in results:
        if not e["group"].startswith("S6"):
            continue
        m = e.get("median") or {}
        rows.append(
            f"| {e['group']} | {e['label']} | {_f(m.get('mb_per_s'), ',.0f')} | {_f(m.get('seconds'), '.2f')} | "
            f"{_f(m.get('rss_growth_mib'), '.1f')} | {_f(m.get('cpu_s_per_gib'), '.2f')} | "
            f"{_f(e.get('ratio_to_gateway'), '.2f')} | {_flags(e)} |"
        )
    return "\n".join(rows)


def notes(results: list[dict]) -> list[str]:
    seen, out = set(), []
    for e in results:
        if e.get("note") and (e["group"], e["note"]) not in seen:
            seen.add((e["group"], e["note"]))
            out.append(f"{e['group']}: {e['note']}")
    return out


def _find(results: list[dict], group: str, peer: str) -> dict | None:
    return next((e for e in results if e["group"] == group and e["peer"] == peer), None)


def _cpu_over(results: list[dict], group: str, peer: str) -> float | None:
    """``peer``'s CPU per request divided by the gateway's, in ``group`` (above 1: the gateway costs less)."""
    entry, gateway = _find(results, group, peer), _find(results, group, "gateway")
    mine = (gateway.get("median") or {}).get("cpu_s_per_10k") if gateway else None
    theirs = (entry.get("median") or {}).get("cpu_s_per_10k") if entry else None
    return round(theirs / mine, 2) if mine and theirs else None


def _gateway_over(results: list[dict], group: str, peer: str) -> float | None:
    """The gateway's median divided by ``peer``'s, in ``group``."""
    entry = _find(results, group, peer)
    ratio = entry.get("ratio_to_gateway") if entry else None
    return round(1 / ratio, 2) if ratio else None


def _goal(name: str, value: float | None, target: float, *, unit: str = "x", below: bool = False,
          aim: bool = False) -> str:
    if value is None:
        return f"{name}: not measured"
    met = value < target if below else value >= target
    word = ("met" if met else "MISSED") if not aim else ("aim met" if met else "aim missed")
    cmp = "<" if below else ">="
    return f"{name}: {value:g}{unit} (goal {cmp} {target:g}{unit}) {word}"


def verdicts(results: list[dict], engine_result: dict | None) -> list[str]:
    """One line per goal that the run measured: issue 15's for S1, S2 and S6, issue 6's for the rest."""
    lines: list[str] = []
    groups = {e["group"] for e in results}
    if "S1" in groups:
        lines.append(_goal("S1 gateway / (2) bare aiohttp", _gateway_over(results, "S1", "bare"), 1.0))
        lines.append(_goal("S1 gateway / (4) Starlette", _gateway_over(results, "S1", "starlette"), 2))
    if "S2" in groups:
        lines.append(_goal("S2 gateway / (3) minimal aiohttp proxy", _gateway_over(results, "S2", "aioproxy"), 2.0))
        lines.append(_goal("S2 (3) minimal aiohttp proxy's CPU per request / gateway's",
                           _cpu_over(results, "S2", "aioproxy"), 2.0))
        lines.append(_goal("S2 gateway / (4) Starlette+httpx", _gateway_over(results, "S2", "starlette"), 2))
        lines.append(_goal("S2 gateway / (5) nginx", _gateway_over(results, "S2", "nginx"), 0.7))
        direct = _gateway_over(results, "S2", "upstream")
        lines.append(f"S2 gateway / (1) upstream direct: {direct}x (no goal; the price of a proxy hop)")
    if "S5" in groups:
        s5 = _find(results, "S5", "gateway-s2")
        ratio = s5.get("ratio_to_gateway") if s5 else None
        lines.append(_goal("S5 gateway (big policy) / gateway (S2 policy)", round(1 / ratio, 3) if ratio else None,
                           0.9))
    for direction in ("download", "upload"):
        group = f"S6/{direction}"
        if group in groups:
            lines.append(_goal(f"S6 {direction} gateway / nginx MB/s", _gateway_over(results, group, "nginx"), 0.9))
            gw = _find(results, group, "gateway")
            growth = (gw.get("median") or {}).get("rss_growth_mib") if gw else None
            # "unchanged": 2.8 MiB both ways before issue 15 (bench/RESULTS.md)
            lines.append(_goal(f"S6 {direction} gateway RSS growth", growth, 4, unit=" MiB", below=True))
    if engine_result:
        us = engine_result["us_per_call"]
        cached = max(us["cached allowed (actual GET)"], us["cached rejected (actual GET)"])
        lines.append(_goal("engine cached decision (worse of allowed/rejected)", cached, 1, unit=" us", below=True))
        lines.append(_goal("engine uncached S5 decision (10k mix mean)", us["uncached S5 decision (10k mix, mean)"], 10,
                           unit=" us", below=True))
        worst = max(v for k, v in us.items() if k.startswith("uncached S5 decision ("))
        lines.append(f"engine uncached S5 decision, worst kind: {worst:g} us")
        acrh = max(v for k, v in us.items() if k.startswith("preflight ACRH 10,000"))
        lines.append(_goal("engine 10,000-name ACRH preflight (worse of one line / 10,000 lines)", acrh, 1000,
                           unit=" us", below=True))
    return lines
