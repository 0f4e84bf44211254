"""Client address: the socket peer, or X-Forwarded-For walked from the right past our proxies."""

from __future__ import annotations

from typing import Any

import pytest

from minifb.gateway.client_ip import client_ip, honour_forwarded_proto, parse_trusted
from tests.gateway.helpers import build_app, client_for, make_settings


def scope_from(peer: str | None, *forwarded_for: str) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded_for]
    return {
        "type": "http",
        "client": (peer, 1234) if peer is not None else None,
        "headers": headers,
    }


class TestWithoutTrustedProxies:
    def test_the_peer_is_the_client(self) -> None:
        assert client_ip(scope_from("1.2.3.4"), ()) == "1.2.3.4"

    def test_forwarded_for_is_ignored(self) -> None:
        assert client_ip(scope_from("1.2.3.4", "9.9.9.9"), ()) == "1.2.3.4"

    def test_forwarded_for_from_an_untrusted_peer_is_ignored(self) -> None:
        trusted = parse_trusted(["10.0.0.1"])
        assert client_ip(scope_from("1.2.3.4", "9.9.9.9"), trusted) == "1.2.3.4"

    def test_no_peer(self) -> None:
        assert client_ip(scope_from(None), ()) == "unknown"

    def test_an_ipv4_mapped_peer_is_its_ipv4_address(self) -> None:
        assert client_ip(scope_from("::ffff:1.2.3.4"), ()) == "1.2.3.4"

    def test_ipv6_is_canonical(self) -> None:
        assert client_ip(scope_from("2001:DB8:0:0::0001"), ()) == "2001:db8::1"


class TestBehindTrustedProxies:
    def test_a_trusted_ip_passes_on_the_client(self) -> None:
        trusted = parse_trusted(["10.0.0.1"])
        assert client_ip(scope_from("10.0.0.1", "203.0.113.7"), trusted) == "203.0.113.7"

    def test_a_trusted_cidr_with_several_hops(self) -> None:
        trusted = parse_trusted(["10.0.0.0/8"])
        scope = scope_from("10.1.1.1", "203.0.113.7, 10.2.2.2, 10.3.3.3")
        assert client_ip(scope, trusted) == "203.0.113.7"

    def test_spoofed_left_entries_are_ignored(self) -> None:
        # The client wrote "6.6.6.6, 5.5.5.5"; our proxy appended what it saw.
        trusted = parse_trusted(["10.0.0.0/8"])
        scope = scope_from("10.0.0.2", "6.6.6.6, 5.5.5.5, 198.51.100.9")
        assert client_ip(scope, trusted) == "198.51.100.9"

    def test_several_header_lines_are_one_list(self) -> None:
        trusted = parse_trusted(["10.0.0.0/8"])
        scope = scope_from("10.0.0.2", "6.6.6.6", "198.51.100.9, 10.0.0.3")
        assert client_ip(scope, trusted) == "198.51.100.9"

    def test_garbage_stops_the_walk_at_the_last_known_hop(self) -> None:
        trusted = parse_trusted(["10.0.0.0/8"])
        scope = scope_from("10.0.0.2", "not-an-ip, 10.0.0.9")
        assert client_ip(scope, trusted) == "10.0.0.9"

    def test_no_header_from_a_trusted_peer_is_the_peer(self) -> None:
        trusted = parse_trusted(["10.0.0.1"])
        assert client_ip(scope_from("10.0.0.1"), trusted) == "10.0.0.1"

    def test_all_hops_trusted_gives_the_left_most(self) -> None:
        trusted = parse_trusted(["10.0.0.0/8"])
        assert client_ip(scope_from("10.0.0.1", "10.0.0.7, 10.0.0.8"), trusted) == "10.0.0.7"

    def test_ipv6_proxies(self) -> None:
        trusted = parse_trusted(["fd00::/8"])
        assert client_ip(scope_from("fd00::1", "2001:db8::5"), trusted) == "2001:db8::5"


class TestParseTrusted:
    def test_ips_and_cidrs(self) -> None:
        networks = parse_trusted(["10.0.0.1", " 192.168.0.0/16 ", "", "fd00::/8"])
        assert [str(n) for n in networks] == ["10.0.0.1/32", "192.168.0.0/16", "fd00::/8"]

    def test_a_bad_entry_fails_at_start_up(self) -> None:
        with pytest.raises(ValueError, match=r"10\.0\.0\.300"):
            parse_trusted(["10.0.0.300"])


class TestOverHttp:
    async def test_forwarded_for_from_an_untrusted_peer_is_ignored(self) -> None:
        app = build_app(make_settings(rate_limit="off", trusted_proxies=["10.0.0.1"]))
        async with client_for(app, ip="1.2.3.4") as client:
            response = await client.get("/ip", headers={"X-Forwarded-For": "9.9.9.9"})
        assert response.json() == {"ip": "1.2.3.4"}

    async def test_honoured_from_a_trusted_ip(self) -> None:
        app = build_app(make_settings(rate_limit="off", trusted_proxies=["10.0.0.1"]))
        async with client_for(app, ip="10.0.0.1") as client:
            response = await client.get("/ip", headers={"X-Forwarded-For": "203.0.113.7"})
        assert response.json() == {"ip": "203.0.113.7"}

    async def test_honoured_from_a_trusted_cidr_with_spoofed_entries_ignored(self) -> None:
        app = build_app(make_settings(rate_limit="off", trusted_proxies=["10.0.0.0/8"]))
        async with client_for(app, ip="10.9.8.7") as client:
            response = await client.get(
                "/ip", headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.7, 10.1.1.1"}
            )
        assert response.json() == {"ip": "203.0.113.7"}

    async def test_trusted_proxies_from_the_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MINIFB_TRUSTED_PROXIES", "10.0.0.0/8, 172.16.0.1")
        app = build_app(make_settings(rate_limit="off"))
        async with client_for(app, ip="172.16.0.1") as client:
            response = await client.get("/ip", headers={"X-Forwarded-For": "203.0.113.7"})
        assert response.json() == {"ip": "203.0.113.7"}


def proto_scope(
    peer: str, *protos: str, kind: str = "http", scheme: str = "http"
) -> dict[str, Any]:
    return {
        "type": kind,
        "scheme": scheme,
        "client": (peer, 1234),
        "headers": [(b"x-forwarded-proto", value.encode()) for value in protos],
    }


class TestForwardedProto:
    trusted = parse_trusted(["10.0.0.0/8"])

    def scheme_of(self, scope: dict[str, Any]) -> str:
        honour_forwarded_proto(scope, self.trusted)
        return str(scope["scheme"])

    def test_https_from_a_trusted_proxy(self) -> None:
        assert self.scheme_of(proto_scope("10.0.0.1", "https")) == "https"

    def test_ignored_from_anyone_else(self) -> None:
        assert self.scheme_of(proto_scope("203.0.113.7", "https")) == "http"

    def test_ignored_from_a_peer_that_is_no_address(self) -> None:
        assert self.scheme_of(proto_scope("testclient", "https")) == "http"

    def test_the_right_most_value_is_our_proxy_s(self) -> None:
        # The client sent "https"; our proxy appended what it saw: plain http.
        assert self.scheme_of(proto_scope("10.0.0.1", "https, http")) == "http"
        assert self.scheme_of(proto_scope("10.0.0.1", "http", "HTTPS ")) == "https"

    def test_http_over_a_tls_hop_is_http(self) -> None:
        scope = proto_scope("10.0.0.1", "http", scheme="https")
        assert self.scheme_of(scope) == "http"

    def test_anything_else_is_ignored(self) -> None:
        assert self.scheme_of(proto_scope("10.0.0.1", "gopher")) == "http"

    def test_websockets_become_wss(self) -> None:
        scope = proto_scope("10.0.0.1", "https", kind="websocket", scheme="ws")
        assert self.scheme_of(scope) == "wss"

    def test_no_header_changes_nothing(self) -> None:
        assert self.scheme_of(proto_scope("10.0.0.1")) == "http"


class TestForwardedProtoOverHttp:
    def app(self) -> Any:
        return build_app(make_settings(rate_limit="off", trusted_proxies=["10.0.0.1"]))

    async def test_a_trusted_proxy_s_https_sends_hsts_and_https_links(self) -> None:
        async with client_for(self.app(), ip="10.0.0.1") as client:
            response = await client.get("/links", headers={"X-Forwarded-Proto": "https"})
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert response.json() == {
            "self": "https://testserver/links",
            "item": "https://testserver/items/7",
        }

    async def test_from_an_untrusted_peer_it_is_ignored(self) -> None:
        async with client_for(self.app(), ip="203.0.113.7") as client:
            response = await client.get("/links", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in response.headers
        assert response.json()["self"] == "http://testserver/links"

    async def test_without_trusted_proxies_it_is_ignored(self) -> None:
        async with client_for(build_app(), ip="10.0.0.1") as client:
            response = await client.get("/links", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in response.headers
        assert response.json()["item"] == "http://testserver/items/7"

    async def test_a_redirect_s_location_is_https(self) -> None:
        async with client_for(self.app(), ip="10.0.0.1") as client:
            response = await client.get("/items/7/", headers={"X-Forwarded-Proto": "https"})
        assert response.status_code == 307
        assert response.headers["location"] == "https://testserver/items/7"
