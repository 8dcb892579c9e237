"""listen.* client limits and trusted proxies: defaults, parsing, refusals with key paths."""

from __future__ import annotations

import ipaddress

import pytest

from gateway.config import ClientLimits, ConfigError, parse_config

BASE = 'upstreams: {app: {url: "http://127.0.0.1:5000"}}\nroutes: [{path: /, upstream: app, cors: {origins: ["https://a.example"]}}]\n'


def errors(listen: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(f"listen: {listen}\n" + BASE)
    return [str(issue) for issue in info.value.errors]


def test_defaults():
    config = parse_config(BASE)
    assert config.limits == ClientLimits(
        header_timeout=10.0, max_request_line=8190, max_header_size=8190, max_headers=100,
        max_body_size=100 * 1024 * 1024,
    )
    assert config.trusted_proxies == ()


def test_limits_are_read():
    config = parse_config(
        "listen: {header_timeout: 2.5, max_request_line: 4096, max_header_size: 16384, max_headers: 50, "
        "max_body_size: 0}\n" + BASE
    )
    assert config.limits == ClientLimits(2.5, 4096, 16384, 50, 0)


@pytest.mark.parametrize(
    "listen, key",
    [
        ("{header_timeout: 0}", "listen.header_timeout"),
        ("{max_request_line: 10}", "listen.max_request_line"),
        ("{max_header_size: 10}", "listen.max_header_size"),
        ("{max_headers: 2}", "listen.max_headers"),
        ("{max_body_size: -1}", "listen.max_body_size"),
        ('{max_body_size: "1M"}', "listen.max_body_size"),
    ],
)
def test_out_of_range_limits_name_the_key(listen, key):
    [error] = errors(listen)
    assert error.startswith(key + ": ")


def test_trusted_proxies_are_networks_and_mapped_ipv4_is_folded():
    config = parse_config(
        'listen: {trusted_proxies: ["10.0.0.0/8", "192.0.2.7", "::1", "::ffff:127.0.0.1", "fd00::/8"]}\n' + BASE
    )
    assert config.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.0.2.7/32"), ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("fd00::/8"),
    )


def test_bad_trusted_proxies_are_all_reported_with_their_index():
    found = errors('{trusted_proxies: ["10.0.0.0/8", "proxy.internal", "10.0.0.1/8", "0.0.0.0/0", "::/0", '
                   '"::ffff:0.0.0.0/96"]}')
    assert [e.split(": ", 1)[0] for e in found] == [
        "listen.trusted_proxies.1", "listen.trusted_proxies.2", "listen.trusted_proxies.3", "listen.trusted_proxies.4",
        "listen.trusted_proxies.5",  # all of IPv4, written as mapped IPv6: as open as 0.0.0.0/0
    ]
    assert "is not an IP address or network" in found[0]
    assert "trusts every client" in found[2]
