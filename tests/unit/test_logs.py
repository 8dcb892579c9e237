"""Request logging (gateway/logs.py): the JSON access log and the rate-limited rejection log."""

from __future__ import annotations

import json
import logging
import re
import time
import types

import pytest

import gateway.logs as logs_module
from gateway.logs import RequestLog

FIELDS = [
    "time", "request_id", "method", "path", "route", "origin", "kind",
    "decision", "reason", "status", "bytes", "duration_ms", "upstream_ms",
]


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def lines(self) -> list[str]:
        return [r.getMessage() for r in self.records]


def _capture(name: str, level: int = logging.INFO):
    logger = logging.getLogger(name)
    handler = Capture()
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)


@pytest.fixture
def access():
    yield from _capture("gateway.access")


@pytest.fixture
def rejections():
    yield from _capture("gateway.rejections")


class Clock:
    """Stands in for the ``time`` module inside gateway.logs."""

    def __init__(self, monotonic: float = 100.0, wall: float = 1_700_000_000.25):
        self.now = monotonic
        self.wall = wall
        self.gmtime = time.gmtime
        self.strftime = time.strftime

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.wall


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(logs_module, "time", fake)
    return fake


def request(**overrides) -> dict:
    values = dict(
        request_id="req-1", method="GET", path="/api/users", route="api", origin="https://a.test",
        kind="actual", decision="allowed", reason=None, status=200, size=1234, duration=0.0123456,
        upstream=0.004,
    )
    values.update(overrides)
    return values


# --------------------------------------------------------------------------
# The access log
# --------------------------------------------------------------------------


def test_one_json_line_per_request_with_exactly_the_fields(access, clock):
    log = RequestLog()
    log.access(**request())
    log.access(**request(request_id="req-2", origin=None, upstream=None, status=404, kind="non_cors",
                         decision="not_applicable", size=0, duration=0.5))
    assert len(access.records) == 2
    assert all(r.levelno == logging.INFO and r.name == "gateway.access" for r in access.records)
    first, second = (json.loads(line) for line in access.lines)
    assert list(first) == FIELDS
    assert first == {
        "time": "2023-11-14T22:13:20.250Z",  # 1_700_000_000.25, from a single clock reading
        "request_id": "req-1",
        "method": "GET",
        "path": "/api/users",
        "route": "api",
        "origin": "https://a.test",
        "kind": "actual",
        "decision": "allowed",
        "reason": None,
        "status": 200,
        "bytes": 1234,
        "duration_ms": 12.346,
        "upstream_ms": 4.0,
    }
    assert list(second) == FIELDS
    assert (second["request_id"], second["origin"], second["upstream_ms"], second["duration_ms"]) == (
        "req-2", None, None, 500.0,
    )
    # Compact, one line.
    assert access.lines[0].startswith('{"time":"2023-11-14T22:13:20.250Z","request_id":"req-1",')
    assert "\n" not in access.lines[0] and ", " not in access.lines[0]


def test_time_field_with_the_real_clock(access):
    before = time.time()
    RequestLog().access(**request())
    after = time.time()
    stamp = json.loads(access.lines[0])["time"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    assert time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(before)) <= stamp[:19]
    assert stamp[:19] <= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(after))


def test_request_supplied_fields_are_clipped_at_300_characters(access):
    long_path = "/api/" + "p" * 400
    long_origin = "https://" + "o" * 400 + ".test"
    long_method = "M" * 301
    log = RequestLog()
    log.access(**request(path=long_path, origin=long_origin, method=long_method))
    log.access(**request(path="/" + "x" * 299, origin="o" * 300, method="GET"))
    clipped, exact = (json.loads(line) for line in access.lines)
    assert clipped["path"] == long_path[:300] + "..."
    assert clipped["origin"] == long_origin[:300] + "..."
    assert clipped["method"] == "M" * 300 + "..."
    assert len(clipped["path"]) == len(clipped["origin"]) == len(clipped["method"]) == 303
    # Exactly 300 characters are kept whole.
    assert exact["path"] == "/" + "x" * 299
    assert exact["origin"] == "o" * 300
    assert len(access.lines[0]) < 1500


def test_control_characters_in_request_fields_are_escaped_never_raw(access):
    nasty = 'https://a.test\r\n{"forged":"line"}\n\x00\x1b[31m\x7f\u2028\u0085"\\'
    RequestLog().access(**request(origin=nasty, path="/api/\r\nx", method="G\nET"))
    [line] = access.lines
    for raw in ("\r", "\n", "\x00", "\x1b", "\x7f", "\u2028", "\u0085"):
        assert raw not in line
    assert "\\r\\n" in line and "\\u0000" in line and "\\u001b" in line and "\\u2028" in line
    record = json.loads(line)
    assert record["origin"] == nasty  # escaped, not altered
    assert record["path"] == "/api/\r\nx"
    assert record["method"] == "G\nET"
    assert list(record) == FIELDS


def test_disabled_access_log_writes_nothing(access):
    log = RequestLog(enabled=False)
    log.access(**request())
    log.access(**request(reason="origin_not_allowed", decision="rejected"))
    log.access(**request(status=502))
    assert access.records == []


def test_access_log_follows_the_logger_level(access):
    logging.getLogger("gateway.access").setLevel(logging.WARNING)
    RequestLog().access(**request(status=500))
    assert access.records == []


def test_sample_rate_zero_keeps_only_rejections_and_5xx(access):
    log = RequestLog(sample_rate=0.0)
    for status in (101, 200, 204, 302, 404, 499):
        log.access(**request(status=status))
    assert access.records == []
    log.access(**request(request_id="rejected", decision="rejected", reason="origin_not_allowed", status=200))
    log.access(**request(request_id="rejected-403", decision="rejected", reason="method_not_allowed", status=403))
    log.access(**request(request_id="failed", status=500))
    log.access(**request(request_id="bad-gateway", status=502))
    assert [json.loads(line)["request_id"] for line in access.lines] == [
        "rejected", "rejected-403", "failed", "bad-gateway",
    ]


@pytest.mark.parametrize(("draw", "written"), [(0.0, True), (0.2499, True), (0.25, False), (0.99, False)])
def test_sample_rate_keeps_that_share(access, monkeypatch, draw, written):
    monkeypatch.setattr(logs_module, "random", types.SimpleNamespace(random=lambda: draw))
    RequestLog(sample_rate=0.25).access(**request())
    assert len(access.records) == (1 if written else 0)


def test_sample_rate_one_never_draws(access, monkeypatch):
    def no_draw():
        raise AssertionError("sample_rate 1.0 must not draw")

    monkeypatch.setattr(logs_module, "random", types.SimpleNamespace(random=no_draw))
    log = RequestLog(sample_rate=1.0)
    for _ in range(3):
        log.access(**request())
    assert len(access.records) == 3


# --------------------------------------------------------------------------
# The rejection log
# --------------------------------------------------------------------------


def test_rejection_line(rejections, clock):
    log = RequestLog()
    assert log.rejection("api", "https://evil.test", "preflight", "origin_not_allowed", "OPTIONS") is True
    assert rejections.lines == ["rejected preflight OPTIONS on route api from origin https://evil.test: origin_not_allowed"]
    assert rejections.records[0].levelno == logging.INFO
    assert rejections.records[0].name == "gateway.rejections"


def test_rejection_clips_the_method(rejections, clock):
    RequestLog().rejection("api", "__other__", "actual", "method_not_allowed", "X" * 500)
    assert rejections.lines == [
        f"rejected actual {'X' * 300}... on route api from origin __other__: method_not_allowed"
    ]


def test_one_line_per_key_per_interval(rejections, clock):
    log = RequestLog(interval=10.0, burst=100, per_second=100.0)
    key = ("api", "https://a.test", "actual", "origin_not_allowed", "GET")
    assert log.rejection(*key) is True
    clock.now += 5.0
    assert log.rejection(*key) is False
    clock.now += 4.999
    assert log.rejection(*key) is False
    assert log.suppressed == 2
    # Other keys are not held back by this one: route, origin and reason each count.
    assert log.rejection("login", "https://a.test", "actual", "origin_not_allowed", "GET") is True
    assert log.rejection("api", "https://b.test", "actual", "origin_not_allowed", "GET") is True
    assert log.rejection("api", "https://a.test", "preflight", "method_not_allowed", "PUT") is True
    # The kind and method are not part of the key.
    assert log.rejection("api", "https://a.test", "preflight", "origin_not_allowed", "POST") is False
    clock.now += 0.001  # 10 s after the first line
    assert log.rejection(*key) is True
    assert rejections.lines == [
        "rejected actual GET on route api from origin https://a.test: origin_not_allowed",
        "rejected actual GET on route login from origin https://a.test: origin_not_allowed (2 similar lines held back)",
        "rejected actual GET on route api from origin https://b.test: origin_not_allowed",
        "rejected preflight PUT on route api from origin https://a.test: method_not_allowed",
        "rejected actual GET on route api from origin https://a.test: origin_not_allowed (1 similar lines held back)",
    ]
    assert log.suppressed == 0


def test_burst_then_steady_rate_caps_a_flood_of_distinct_keys(rejections, clock):
    log = RequestLog(interval=60.0, burst=5, per_second=4.0)
    # 100 distinct origins at one instant: the burst, then nothing.
    written = [log.rejection("api", f"https://o{i}.test", "actual", "origin_not_allowed", "GET") for i in range(100)]
    assert written == [True] * 5 + [False] * 95
    assert log.suppressed == 95
    # Then a steady flood, 16 a second for 10 s: 4 a second get through.
    start = clock.now
    results = []
    for k in range(1, 161):
        clock.now = start + k / 16
        results.append(log.rejection("api", f"https://p{k}.test", "actual", "origin_not_allowed", "GET"))
    assert results == [False, False, False, True] * 40
    assert len(rejections.lines) == 5 + 40
    assert rejections.lines[4] == "rejected actual GET on route api from origin https://o4.test: origin_not_allowed"
    assert rejections.lines[5] == (
        "rejected actual GET on route api from origin https://p4.test: origin_not_allowed "
        "(98 similar lines held back)"
    )
    assert all(line.endswith(": origin_not_allowed (3 similar lines held back)") for line in rejections.lines[6:])
    assert log.suppressed == 0


def test_tokens_refill_up_to_the_burst_only(rejections, clock):
    log = RequestLog(interval=60.0, burst=3, per_second=4.0)
    assert [log.rejection("api", f"https://a{i}.test", "actual", "origin_not_allowed", "GET") for i in range(4)] == [
        True, True, True, False,
    ]
    clock.now += 0.125  # half a token
    assert log.rejection("api", "https://b.test", "actual", "origin_not_allowed", "GET") is False
    clock.now += 0.125  # a whole one
    assert log.rejection("api", "https://b.test", "actual", "origin_not_allowed", "GET") is True
    assert rejections.lines[-1].endswith("(2 similar lines held back)")
    clock.now += 3600.0  # a long quiet hour refills to the burst, not beyond
    assert [log.rejection("api", f"https://c{i}.test", "actual", "origin_not_allowed", "GET") for i in range(5)] == [
        True, True, True, False, False,
    ]


def test_remembered_keys_are_bounded_by_max_keys(rejections, clock):
    log = RequestLog(interval=60.0, burst=10, per_second=1.0, max_keys=3)
    for origin in ("a", "b", "c", "d"):
        assert log.rejection("api", origin, "actual", "origin_not_allowed", "GET") is True
    assert list(log._last) == [
        ("api", "b", "origin_not_allowed"), ("api", "c", "origin_not_allowed"), ("api", "d", "origin_not_allowed"),
    ]
    clock.now += 1.0
    # "d" is remembered and held back; "a" was forgotten (oldest) and is written again.
    assert log.rejection("api", "d", "actual", "origin_not_allowed", "GET") is False
    assert log.rejection("api", "a", "actual", "origin_not_allowed", "GET") is True
    assert [k[1] for k in log._last] == ["c", "d", "a"]


def test_a_flood_of_keys_keeps_memory_and_output_bounded(rejections, clock):
    log = RequestLog(interval=60.0, burst=50, per_second=10.0, max_keys=100)
    for i in range(20_000):
        clock.now = 100.0 + i / 1000  # 20 s of 1000 distinct origins a second
        log.rejection("api", f"https://o{i}.test", "actual", "origin_not_allowed", "GET")
    assert len(log._last) == 100
    # 50 at once, then 10 a second over the 19.999 s that followed.
    assert len(rejections.lines) == 50 + 199
    assert log.suppressed + sum(
        int(m.group(1)) for m in (re.search(r"\((\d+) similar lines held back\)$", line) for line in rejections.lines)
        if m
    ) == 20_000 - len(rejections.lines)


def test_rejection_log_follows_the_logger_level(rejections, clock):
    logging.getLogger("gateway.rejections").setLevel(logging.WARNING)
    log = RequestLog(burst=1)
    assert log.rejection("api", "__other__", "actual", "origin_not_allowed", "GET") is False
    assert rejections.records == []
    # Nothing was spent or counted while the log was off.
    assert log.suppressed == 0
    logging.getLogger("gateway.rejections").setLevel(logging.INFO)
    assert log.rejection("api", "__other__", "actual", "origin_not_allowed", "GET") is True
    assert rejections.lines == ["rejected actual GET on route api from origin __other__: origin_not_allowed"]


def test_stdout_path_batches_raw_fields_and_formats_the_same_lines(access, clock, monkeypatch):
    import io

    stream = io.StringIO()
    handler = logs_module.BufferedLineHandler(stream)
    monkeypatch.setattr(logs_module, "_direct", handler)
    log = RequestLog()
    log.access(**request())
    log.access(**request(request_id="req-2", status=404, reason="no_route", decision="rejected"))
    assert stream.getvalue() == "" and access.records == []  # nothing formatted yet
    log.flush()
    handler.flush()
    batched = stream.getvalue().splitlines()
    assert [json.loads(line)["request_id"] for line in batched] == ["req-1", "req-2"]
    # The same bytes as the line-per-request path.
    monkeypatch.setattr(logs_module, "_direct", None)
    log.access(**request())
    assert batched[0] == access.lines[0]
    # A full batch is formatted and handed over without waiting for the tick.
    monkeypatch.setattr(logs_module, "_direct", handler)
    for i in range(logs_module.BATCH_LINES):
        log.access(**request(request_id=f"b{i}"))
    assert log._pending == []
    handler.flush()
    assert stream.getvalue().splitlines()[-1].startswith('{"time":"2023-11-14T22:13:20.250Z","request_id":"b255",')


def test_a_broken_stdout_loses_lines_but_never_raises(caplog):
    class Broken:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

    handler = logs_module.BufferedLineHandler(Broken())
    handler.append_lines(["a", "b"])
    with caplog.at_level(logging.WARNING, logger="gateway"):
        handler.flush()  # no exception
    assert handler.dropped == 2
    assert "access log: 2 line(s) lost" in caplog.text


def test_reconfigure_keeps_the_rejection_rate_limit(clock, rejections):
    log = RequestLog(burst=1, per_second=0.0)
    assert log.rejection("api", "https://a.test", "actual", "origin_not_allowed", "GET") is True
    assert log.rejection("api", "https://b.test", "actual", "origin_not_allowed", "GET") is False  # burst spent
    log.reconfigure(enabled=False, sample_rate=0.5)
    assert (log.enabled, log.sample_rate) == (False, 0.5)
    assert log.rejection("api", "https://c.test", "actual", "origin_not_allowed", "GET") is False  # still spent


def test_the_query_string_is_cut_off_in_the_log(access, clock):
    RequestLog().access(**request(path="/api/users?token=s3cret&x=1"))
    assert json.loads(access.lines[0])["path"] == "/api/users"
    assert "s3cret" not in access.lines[0]
