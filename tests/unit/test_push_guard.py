"""The SSRF guard: which push endpoints the server will talk to."""

from __future__ import annotations

import ipaddress

import pytest

from server.push.guard import EndpointGuard, EndpointRefused, IPAddress, refusal

REFUSED_ALWAYS = [
    "ftp://push.example.net/x",
    "https:///no-host",
    "https://user:secret@8.8.8.8/x",
    "https://8.8.8.8:99999/x",
    "https://8.8.8.8/a b",
    "https://8.8.8.8/" + "a" * 2100,
    "https://10.0.0.1/x",
    "https://172.16.5.4/x",
    "https://192.168.1.1/x",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/x",
    "https://0.0.0.0/x",
    "https://224.0.0.1/x",
    "https://240.0.0.1/x",
    "https://255.255.255.255/x",
    "https://192.0.2.10/x",
    "https://[fe80::1]/x",
    "https://[fc00::1]/x",
    "https://[fec0::1]/x",
    "https://[ff02::1]/x",
    "https://[::]/x",
    "https://[::ffff:10.0.0.1]/x",
    "https://[::ffff:169.254.169.254]/x",
    "https://[2002:a00:1::]/x",
    "https://[64:ff9b::a00:1]/x",
    "https://[2001:db8::1]/x",
    "https://nothing-here.invalid/x",
    "http://8.8.8.8/x",
    "http://push.example.net/x",
    "http://10.0.0.1/x",
]
SPECIAL_PURPOSE_REFUSED = [
    # Each entry of the IANA special-purpose registries (and multicast), at an address Python's is_global calls
    # global or that the list would otherwise miss: all refused, with or without the loopback setting.
    "https://192.0.0.8/x",  # IETF protocol assignments: is_global says True
    "https://192.0.0.9/x",  # PCP anycast
    "https://192.0.0.170/x",  # NAT64 discovery
    "https://192.31.196.1/x",  # AS112-v4
    "https://192.52.193.1/x",  # AMT
    "https://192.88.99.1/x",  # deprecated 6to4 relay anycast
    "https://192.175.48.1/x",  # direct delegation AS112
    "https://198.18.0.1/x",  # benchmarking
    "https://198.19.255.254/x",
    "https://198.51.100.1/x",  # TEST-NET-2
    "https://203.0.113.1/x",  # TEST-NET-3
    "https://100.127.255.254/x",  # shared address space
    "https://0.1.2.3/x",  # "this network"
    "https://250.1.2.3/x",  # reserved
    "https://[64:ff9b:1::808:808]/x",  # local-use IPv4/IPv6 translation
    "https://[100::1]/x",  # discard-only
    "https://[100:0:0:1::1]/x",  # dummy prefix
    "https://[2001::1]/x",  # Teredo
    "https://[2001:1::1]/x",  # PCP anycast
    "https://[2001:3::1]/x",  # AMT
    "https://[2001:4:112::1]/x",  # AS112-v6
    "https://[2001:20::1]/x",  # ORCHIDv2
    "https://[2002:808:808::1]/x",  # 6to4, even of a public IPv4 address
    "https://[2620:4f:8000::1]/x",  # direct delegation AS112
    "https://[3fff::1]/x",  # documentation
    "https://[5f00::1]/x",  # segment routing
    "https://[::808:808]/x",  # IPv4-compatible (deprecated), outside 2000::/3
    "https://[4000::1]/x",  # unallocated, outside 2000::/3
]
LOOPBACK_ADMITTED = [
    # Exactly these literal hosts, http or https, any port (KEEPTABS_PUSH_ALLOW_LOOPBACK only).
    "http://127.0.0.1/x",
    "https://127.0.0.1/x",
    "http://127.0.0.1:8123/push/1",
    "http://localhost:8123/push/1",
    "https://localhost/x",
    "http://[::1]:8123/push/1",
    "https://[::1]/x",
]
LOOPBACK_REFUSED = [
    # Other spellings of a loopback address: refused even with the setting.
    "https://127.1/x",
    "https://2130706433/x",
    "http://2130706433/x",
    "https://0x7f000001/x",
    "https://017700000001/x",
    "https://127.0.0.2/x",
    "http://127.000.000.001/x",
    "http://LOCALHOST/x",
    "http://localhost./x",
    "http://[0:0:0:0:0:0:0:1]/x",
    "https://[::ffff:127.0.0.1]/x",
    "https://[64:ff9b::7f00:1]/x",
    "https://[2002:7f00:1::]/x",
]
PUBLIC = ["https://8.8.8.8/push/abc", "https://[2606:4700:4700::1111]/push", "https://1.1.1.1:8443/p?x=1"]


@pytest.mark.parametrize("endpoint", REFUSED_ALWAYS + SPECIAL_PURPOSE_REFUSED + LOOPBACK_ADMITTED + LOOPBACK_REFUSED)
async def test_refused_without_loopback_setting(endpoint: str) -> None:
    with pytest.raises(EndpointRefused):
        await EndpointGuard(allow_loopback=False).check(endpoint)


@pytest.mark.parametrize("endpoint", REFUSED_ALWAYS + SPECIAL_PURPOSE_REFUSED + LOOPBACK_REFUSED)
async def test_loopback_setting_admits_nothing_else(endpoint: str) -> None:
    with pytest.raises(EndpointRefused):
        await EndpointGuard(allow_loopback=True).check(endpoint)


@pytest.mark.parametrize("endpoint", LOOPBACK_ADMITTED)
async def test_loopback_setting_admits_the_loopback_literals(endpoint: str) -> None:
    resolved = await EndpointGuard(allow_loopback=True).check(endpoint)
    assert [str(ip) for ip in resolved.addresses] == ["::1" if "[::1]" in endpoint else "127.0.0.1"]


async def test_loopback_setting_does_not_admit_a_name_that_resolves_to_loopback() -> None:
    async def resolver(host: str, port: int) -> tuple[IPAddress, ...]:
        return (ipaddress.ip_address("127.0.0.1"),)

    guard = EndpointGuard(allow_loopback=True, resolver=resolver)
    for endpoint in ("https://push.example.net/x", "http://push.example.net/x"):
        with pytest.raises(EndpointRefused):
            await guard.check(endpoint)


@pytest.mark.parametrize("endpoint", PUBLIC)
async def test_public_https_is_admitted(endpoint: str) -> None:
    resolved = await EndpointGuard(allow_loopback=False).check(endpoint)
    assert resolved.scheme == "https"


async def test_every_resolved_address_must_be_public() -> None:
    """A name that resolves to one public and one private address is refused (the connection might use either)."""
    answers: dict[str, tuple[IPAddress, ...]] = {
        "push.example.net": (ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("10.1.2.3")),
        "ok.example.net": (ipaddress.ip_address("8.8.4.4"), ipaddress.ip_address("2606:4700:4700::1111")),
    }

    async def resolver(host: str, port: int) -> tuple[IPAddress, ...]:
        return answers[host]

    guard = EndpointGuard(allow_loopback=False, resolver=resolver)
    with pytest.raises(EndpointRefused, match="private"):
        await guard.check("https://push.example.net/x")
    resolved = await guard.check("https://ok.example.net/x")
    assert resolved.connect_url() == "https://8.8.4.4:443/x"
    assert resolved.netloc == "ok.example.net"
    assert resolved.origin == "https://ok.example.net"


async def test_send_time_check_sees_a_changed_answer() -> None:
    """DNS rebinding: a host that was public when subscribed and resolves privately later is refused then."""
    answer = [ipaddress.ip_address("8.8.8.8")]

    async def resolver(host: str, port: int) -> tuple[IPAddress, ...]:
        return tuple(answer)

    guard = EndpointGuard(allow_loopback=False, cache_seconds=0, resolver=resolver)
    await guard.check("https://push.example.net/x")
    answer[:] = [ipaddress.ip_address("127.0.0.1")]
    with pytest.raises(EndpointRefused, match="loopback"):
        await guard.check("https://push.example.net/x")


async def test_connect_url_pins_the_checked_address() -> None:
    resolved = await EndpointGuard(allow_loopback=True).check("http://[::1]:8123/push/a?b=c")
    assert resolved.connect_url() == "http://[::1]:8123/push/a?b=c"
    assert resolved.netloc == "[::1]:8123"
    assert resolved.origin == "http://::1"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("127.0.0.1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("169.254.1.1", "a link-local address"),
        ("224.0.0.251", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("192.0.0.8", "an IETF protocol address"),
        ("198.18.0.1", "a benchmarking address"),
        ("::ffff:192.168.0.1", "a private address (IPv4 inside IPv6)"),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::7f00:1", "a loopback address (IPv4 inside IPv6)"),
        ("64:ff9b::808:808", None),  # NAT64 to a public IPv4 address
        ("64:ff9b:1::808:808", "a local-use translation address"),
        ("2001:db8::1", "a documentation address"),
        ("2606:4700:4700::1111", None),
        ("4000::1", "not a public address"),
    ],
)
def test_refusal_reasons(address: str, reason: str | None) -> None:
    assert refusal(ipaddress.ip_address(address)) == reason
