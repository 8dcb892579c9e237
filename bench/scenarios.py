"""The scenarios: which servers each one starts, which request wrk sends, what a correct answer is.

Each scenario yields *groups*; the peers of a group are measured interleaved
(A B C A B C ...) for ``--rounds`` rounds, and each is compared with the
group's baseline (the gateway).  Servers under test run on CPU 0; wrk, the
stream client and the upstreams behind a proxy run on CPU 1 (see
``bench.runner.Env``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import configs as C


@dataclass(frozen=True)
class ScenarioInfo:
    key: str
    title: str
    needs: tuple[str, ...]  # system tools and Python modules beyond the gateway's own
    estimate_units: int  # interleaved wrk measurements per round (for the time estimate)


SCENARIOS: dict[str, ScenarioInfo] = {
    s.key: s
    for s in (
        ScenarioInfo("S1", "preflight from an allowed origin", ("nginx", "starlette", "uvicorn", "httptools",
                                                                 "gunicorn", "flask", "flask_cors"), 5),
        ScenarioInfo("S2", "proxied GET, allowed origin, small JSON, tiny aiohttp upstream",
                     ("nginx", "starlette", "uvicorn", "httptools", "httpx"), 5),
        ScenarioInfo("S3", "proxied GET, allowed origin, Flask under gunicorn",
                     ("gunicorn", "flask", "flask_cors"), 3),
        ScenarioInfo("S4", "disallowed origin, on_reject: block (and omit for reference)", (), 2),
        ScenarioInfo("S5", "1,000 exact + 100 wildcard + 20 regex origins, 10,000 rotating request origins", (), 2),
        ScenarioInfo("S6", "streaming: 1 GiB download and 1 GiB upload", ("nginx",), 0),
        ScenarioInfo("S7", "--workers 2 vs 1 on the S1 and S2 loads", (), 4),
        ScenarioInfo("S8", "proxied POST, allowed origin, 1 KiB and 64 KiB bodies, tiny aiohttp upstream",
                     ("nginx",), 8),
    )
}


@dataclass
class Request:
    """What wrk sends: a path plus headers, or a Lua script with arguments."""

    path: str = C.PATH
    headers: tuple[str, ...] = ()
    script: str | None = None
    script_args: tuple[str, ...] = ()
    # For the one-off correctness check before measuring.
    method: str = "GET"
    check_headers: dict[str, str] = field(default_factory=dict)
    check_body: bytes = b""


def preflight_request() -> Request:
    return Request(
        script="preflight.lua",
        script_args=(C.ALLOWED_ORIGIN, C.PREFLIGHT_METHOD, C.PREFLIGHT_HEADERS),
        method="OPTIONS",
        check_headers={
            "Origin": C.ALLOWED_ORIGIN,
            "Access-Control-Request-Method": C.PREFLIGHT_METHOD,
            "Access-Control-Request-Headers": C.PREFLIGHT_HEADERS,
        },
    )


def get_request(origin: str | None = C.ALLOWED_ORIGIN) -> Request:
    if origin is None:
        return Request()
    return Request(headers=(f"Origin: {origin}",), check_headers={"Origin": origin})


def post_request(size: int, origin: str = C.ALLOWED_ORIGIN) -> Request:
    """A simple POST (text/plain) of ``size`` bytes to the upstreams' body sink."""
    return Request(path=C.UPLOAD_PATH, script="post.lua", script_args=(origin, str(size)), method="POST",
                   check_headers={"Origin": origin, "Content-Type": "text/plain"}, check_body=b"x" * size)


@dataclass
class Expect:
    """A correct answer: one of ``statuses``, and ``Access-Control-Allow-Origin`` equal to ``acao``
    (None: must be absent; ``ECHO``: the request's Origin; ``...``: not checked)."""

    statuses: tuple[int, ...]
    acao: object = ...

    def problem(self, status: int, acao: str | None, origin: str | None = None) -> str | None:
        if status not in self.statuses:
            return f"status {status}, expected {'/'.join(map(str, self.statuses))}"
        want = origin if self.acao is ECHO else self.acao
        if want is not ... and acao != want:
            return f"Access-Control-Allow-Origin {acao!r}, expected {want!r}"
        return None


ECHO = object()


ALLOWED_PREFLIGHT = Expect((200, 204), C.ALLOWED_ORIGIN)
ALLOWED_GET = Expect((200,), C.ALLOWED_ORIGIN)
PLAIN_GET = Expect((200,), None)  # a peer without CORS


@dataclass
class PeerPlan:
    """One contestant of a group: how to start it (a key of Env's factories) and what to send it."""

    key: str  # unique within the scenario
    label: str
    server: str  # Env server key
    request: Request
    expect: Expect
    baseline: bool = False
    upstream: str | None = None  # Env server key of the upstream behind it, if any (for its CPU cost)


@dataclass
class GroupPlan:
    name: str  # e.g. "S1", "S7/S1"
    title: str
    peers: list[PeerPlan]
    note: str = ""


def plan(key: str) -> list[GroupPlan]:
    """The groups of scenario ``key`` (server keys are resolved by ``bench.runner.Env``)."""
    return _PLANS[key]()


def _s1() -> list[GroupPlan]:
    pf = preflight_request
    return [GroupPlan("S1", SCENARIOS["S1"].title, [
        PeerPlan("gateway", "gateway", "gateway", pf(), ALLOWED_PREFLIGHT, baseline=True),
        PeerPlan("bare", "(2) bare aiohttp 204", "bare", pf(), ALLOWED_PREFLIGHT),
        PeerPlan("starlette", "(4) Starlette CORSMiddleware/uvicorn", "starlette", pf(), ALLOWED_PREFLIGHT),
        PeerPlan("nginx", "(5) nginx map+add_header", "nginx", pf(), ALLOWED_PREFLIGHT),
        PeerPlan("flask-cors", "(6) Flask+flask-cors/gunicorn", "flask-cors", pf(), ALLOWED_PREFLIGHT),
    ])]


def _s2() -> list[GroupPlan]:
    g = get_request
    up = "upstream"
    return [GroupPlan("S2", SCENARIOS["S2"].title, [
        PeerPlan("gateway", "gateway", "gateway", g(), ALLOWED_GET, baseline=True, upstream=up),
        PeerPlan("upstream", "(1) upstream direct", "upstream-direct", g(), PLAIN_GET),
        PeerPlan("aioproxy", "(3) minimal aiohttp proxy, no CORS", "aioproxy", g(), PLAIN_GET, upstream=up),
        PeerPlan("starlette", "(4) Starlette CORS+httpx/uvicorn", "starlette", g(), ALLOWED_GET, upstream=up),
        PeerPlan("nginx", "(5) nginx map+add_header", "nginx", g(), ALLOWED_GET, upstream=up),
    ])]


def _s3() -> list[GroupPlan]:
    g = get_request
    up = "flask"
    return [GroupPlan("S3", SCENARIOS["S3"].title, [
        PeerPlan("gateway", "gateway -> Flask", "gateway-flask", g(), ALLOWED_GET, baseline=True, upstream=up),
        PeerPlan("flask", "(1) Flask direct (no CORS)", "flask-direct", g(), PLAIN_GET),
        PeerPlan("flask-cors", "(6) Flask+flask-cors/gunicorn", "flask-cors", g(), ALLOWED_GET),
    ], note="Flask (gunicorn, 1 gthread worker, 4 threads) behind the gateway runs on CPU 1 with wrk.")]


def _s4() -> list[GroupPlan]:
    g = get_request(C.DISALLOWED_ORIGIN)
    return [GroupPlan("S4", SCENARIOS["S4"].title, [
        PeerPlan("gateway", "gateway, on_reject: block (403)", "gateway", g, Expect((403,), None), baseline=True),
        PeerPlan("gateway-omit", "gateway, on_reject: omit (forwarded)", "gateway-omit", g, Expect((200,), None),
                 upstream="upstream"),
    ])]


def _s5() -> list[GroupPlan]:
    rotate = Request(script="rotate_origins.lua", script_args=("{origins_file}",),
                     check_headers={"Origin": "{first_allowed_origin}"})
    return [GroupPlan("S5", SCENARIOS["S5"].title, [
        PeerPlan("gateway-s5", "gateway, S5 policy, 10k rotating origins", "gateway-s5", rotate, Expect((200,), ECHO),
                 baseline=True, upstream="upstream"),
        PeerPlan("gateway-s2", "gateway, S2 policy (1 origin), same settings", "gateway-omit", get_request(),
                 ALLOWED_GET, upstream="upstream"),
    ], note="on_reject: omit for both, so the half that is rejected is still proxied (same work as S2).")]


def _s7() -> list[GroupPlan]:
    note = ("this machine has 2 cores: with --workers 2 the gateway runs on CPUs 0-1 and competes with wrk "
            "(and the upstream) for CPU 1, so the ratio is not a per-core scaling figure.")
    return [
        GroupPlan("S7/S1", "workers 2 vs 1, S1 load (preflight)", [
            PeerPlan("w1", "gateway --workers 1 (CPU 0)", "gateway", preflight_request(), ALLOWED_PREFLIGHT,
                     baseline=True),
            PeerPlan("w2", "gateway --workers 2 (CPUs 0-1)", "gateway-w2", preflight_request(), ALLOWED_PREFLIGHT),
        ], note=note),
        GroupPlan("S7/S2", "workers 2 vs 1, S2 load (proxied GET)", [
            PeerPlan("w1", "gateway --workers 1 (CPU 0)", "gateway", get_request(), ALLOWED_GET, baseline=True,
                     upstream="upstream"),
            PeerPlan("w2", "gateway --workers 2 (CPUs 0-1)", "gateway-w2", get_request(), ALLOWED_GET,
                     upstream="upstream"),
        ], note=note),
    ]


def _s8() -> list[GroupPlan]:
    up = "upstream"
    groups = []
    for size, name in ((1024, "1KiB"), (65536, "64KiB")):
        post = post_request(size)
        groups.append(GroupPlan(f"S8/{name}", f"proxied POST, {name} body", [
            PeerPlan("gateway", "gateway", "gateway", post, ALLOWED_GET, baseline=True, upstream=up),
            PeerPlan("upstream", "(1) upstream direct", "upstream-direct", post, PLAIN_GET),
            PeerPlan("aioproxy", "(3) minimal aiohttp proxy, no CORS", "aioproxy", post, PLAIN_GET, upstream=up),
            PeerPlan("nginx", "(5) nginx map+add_header", "nginx", post, ALLOWED_GET, upstream=up),
        ], note="the body is what the gateway buffers (request_buffering) before the upstream request starts"))
    return groups


_PLANS: dict[str, Callable[[], list[GroupPlan]]] = {
    "S1": _s1, "S2": _s2, "S3": _s3, "S4": _s4, "S5": _s5, "S7": _s7, "S8": _s8,
}

# S6 is not a wrk scenario: see bench.runner.run_streams.
S6_PEERS = (
    ("gateway", "gateway", "gateway", True),
    ("nginx", "(5) nginx, buffering off", "nginx", False),
    ("upstream", "(1) upstream direct", "upstream-direct", False),
)
