"""SSRF guard for push endpoints.

A push subscription names a URL the server will later POST to, and any signed-in user can send one. So the server
only talks to public https hosts: the host is resolved and every address it resolves to must be public, both when a
subscription is stored and again before each send (a DNS answer can change in between). The checked addresses are
what the sender then connects to, so a second, different DNS answer cannot slip in between check and connect.

"Public" is decided by an explicit list (the IANA IPv4 and IPv6 special-purpose registries, denied whole, even the
few entries the registry calls globally reachable: no push service lives there) and, for IPv6, by being in the
global unicast block 2000::/3. Python's `is_global` alone is not enough: it calls 192.0.0.8 global, for one.

With KEEPTABS_PUSH_ALLOW_LOOPBACK (tests and local development) the guard also admits http or https to exactly the
host literals `127.0.0.1`, `[::1]` and `localhost` (which means 127.0.0.1, without DNS), on any port; no other
spelling of a loopback address (`127.1`, `2130706433`, `[::ffff:127.0.0.1]`, a name that resolves to 127.0.0.1...).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import SplitResult, urlsplit

IPAddress = IPv4Address | IPv6Address
Resolver = Callable[[str, int], Awaitable[tuple[IPAddress, ...]]]

MAX_ENDPOINT_LENGTH = 2048
LOOPBACK_LITERALS: dict[str, IPAddress] = {
    "127.0.0.1": IPv4Address("127.0.0.1"),
    "[::1]": IPv6Address("::1"),
    "localhost": IPv4Address("127.0.0.1"),
}
"""The hosts, exactly as written in the URL, that KEEPTABS_PUSH_ALLOW_LOOPBACK admits, and where each connects."""
RESOLVE_TIMEOUT = 5.0
_NOT_IN_URL = re.compile(r"[\x00-\x20\x7f]")

_PRIVATE = "a private address"
_DOCUMENTATION = "a documentation address"
_PROTOCOL = "an IETF protocol address"
_AS112 = "an AS112 (reverse DNS sink) address"
SPECIAL_PURPOSE: tuple[tuple[IPv4Network | IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(network), reason)
    for network, reason in (
        # IPv4 special-purpose address registry, and multicast
        ("0.0.0.0/8", "an unspecified address"),
        ("10.0.0.0/8", _PRIVATE),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", _PRIVATE),
        ("192.0.0.0/24", _PROTOCOL),
        ("192.0.2.0/24", _DOCUMENTATION),
        ("192.31.196.0/24", _AS112),
        ("192.52.193.0/24", "an AMT relay address"),
        ("192.88.99.0/24", "a 6to4 relay address"),
        ("192.168.0.0/16", _PRIVATE),
        ("192.175.48.0/24", _AS112),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", _DOCUMENTATION),
        ("203.0.113.0/24", _DOCUMENTATION),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),  # with 255.255.255.255, the limited broadcast
        # IPv6 special-purpose address registry, and multicast (::ffff:0:0/96 and 64:ff9b::/96 carry an IPv4
        # address, checked as such first)
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("64:ff9b:1::/48", "a local-use translation address"),
        ("100::/64", "a discard-only address"),
        ("100:0:0:1::/64", "a dummy address"),
        ("2001::/23", _PROTOCOL),  # Teredo, ORCHID, AMT, anycast services...
        ("2001:db8::/32", _DOCUMENTATION),
        ("2002::/16", "a 6to4 address"),
        ("2620:4f:8000::/48", _AS112),
        ("3fff::/20", _DOCUMENTATION),
        ("5f00::/16", "a segment-routing address"),
        ("fc00::/7", _PRIVATE),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", _PRIVATE),
        ("ff00::/8", "a multicast address"),
    )
)
GLOBAL_UNICAST = IPv6Network("2000::/3")
NAT64 = IPv6Network("64:ff9b::/96")


class EndpointRefused(ValueError):
    """The endpoint is not a public https URL; the message says why, for the 422 the client gets."""


class HostUnresolvable(EndpointRefused):
    """The endpoint's host name does not resolve (now)."""


@dataclass(frozen=True)
class ResolvedEndpoint:
    endpoint: str
    scheme: str
    hostname: str
    port: int
    target: str
    """Path and query, as sent in the request line."""
    netloc: str
    """The URL's host[:port], for the Host header."""
    addresses: tuple[IPAddress, ...]

    @property
    def origin(self) -> str:
        """scheme://host without the port: the VAPID audience, and what the delivery record shows."""
        return f"{self.scheme}://{self.hostname}"

    def connect_url(self) -> str:
        """The URL with the host replaced by the first checked address (Host header and TLS SNI keep the name)."""
        ip = self.addresses[0]
        host = f"[{ip}]" if ip.version == 6 else str(ip)
        return f"{self.scheme}://{host}:{self.port}{self.target}"


def split_endpoint(endpoint: str) -> SplitResult:
    """The checks that need no DNS: length, characters, http(s), no credentials, a host and a valid port."""
    if len(endpoint) > MAX_ENDPOINT_LENGTH:
        raise EndpointRefused(f"the endpoint is longer than {MAX_ENDPOINT_LENGTH} characters")
    if not endpoint.isascii() or _NOT_IN_URL.search(endpoint):
        raise EndpointRefused("the endpoint contains characters a URL cannot hold")
    split = urlsplit(endpoint)
    try:
        split.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise EndpointRefused("the endpoint has an invalid port") from exc
    if split.username is not None or "@" in split.netloc:
        raise EndpointRefused("the endpoint must not contain credentials")
    if not split.hostname:
        raise EndpointRefused("the endpoint has no host")
    if split.scheme not in ("http", "https"):
        raise EndpointRefused("the endpoint must be an https URL")
    return split


def refusal(ip: IPAddress) -> str | None:
    """Why the server must not send to this address, or None when it is a public one."""
    if isinstance(ip, IPv6Address):
        embedded = ip.ipv4_mapped or (IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64 else None)
        if embedded is not None:
            reason = refusal(embedded)
            return f"{reason} (IPv4 inside IPv6)" if reason else None
    for network, reason in SPECIAL_PURPOSE:
        if ip in network:
            return reason
    if isinstance(ip, IPv6Address) and ip not in GLOBAL_UNICAST:
        return "not a public address"
    # Belt and braces: whatever Python's own tables know that the list above does not.
    return None if ip.is_global and not (ip.is_private or ip.is_reserved) else "not a public address"


def _literal_host(netloc: str) -> str:
    """The host exactly as written in the URL: `[::1]` keeps its brackets, no port, no case folding."""
    if netloc.startswith("["):
        return netloc[: netloc.find("]") + 1]
    return netloc.rsplit(":", 1)[0] if ":" in netloc else netloc


class EndpointGuard:
    """Checks endpoints; remembers a host's vetted addresses briefly so that a burst of sends resolves it once."""

    def __init__(self, allow_loopback: bool, cache_seconds: float = 60.0, resolver: Resolver | None = None) -> None:
        self.allow_loopback = allow_loopback
        self.cache_seconds = cache_seconds
        self.resolver = resolver or resolve
        self._cache: dict[tuple[str, int], tuple[float, tuple[IPAddress, ...]]] = {}

    async def check(self, endpoint: str, *, fresh: bool = False) -> ResolvedEndpoint:
        """The endpoint with its checked addresses; raises EndpointRefused. `fresh` skips the cache."""
        split = split_endpoint(endpoint)
        hostname = split.hostname or ""
        port = split.port or (443 if split.scheme == "https" else 80)
        target = (split.path or "/") + (f"?{split.query}" if split.query else "")
        literal = _literal_host(split.netloc)
        if self.allow_loopback and literal in LOOPBACK_LITERALS:
            addresses: tuple[IPAddress, ...] = (LOOPBACK_LITERALS[literal],)
            return ResolvedEndpoint(endpoint, split.scheme, hostname, port, target, split.netloc, addresses)
        if split.scheme != "https":
            raise EndpointRefused("the endpoint must be an https URL")
        addresses = await self._addresses(hostname, port, fresh)
        for ip in addresses:
            reason = refusal(ip)
            if reason:
                raise EndpointRefused(f"the endpoint's host resolves to {reason}")
        return ResolvedEndpoint(endpoint, split.scheme, hostname, port, target, split.netloc, addresses)

    async def _addresses(self, hostname: str, port: int, fresh: bool) -> tuple[IPAddress, ...]:
        literal = _ip_literal(hostname)
        if literal is not None:
            return (literal,)
        key = (hostname, port)
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached and cached[0] > now and not fresh:
            return cached[1]
        addresses = await self.resolver(hostname, port)
        if len(self._cache) > 10_000:
            self._cache.clear()  # a crude bound: the cache only saves DNS look-ups
        self._cache[key] = (now + self.cache_seconds, addresses)
        return addresses


async def resolve(hostname: str, port: int) -> tuple[IPAddress, ...]:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(hostname, port, type=socket.SOCK_STREAM), timeout=RESOLVE_TIMEOUT
        )
    except (OSError, UnicodeError, TimeoutError) as exc:
        raise HostUnresolvable("the endpoint's host does not resolve") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # IPv6 sockaddr may carry a zone ("fe80::1%eth0"); the zone is irrelevant to the address class.
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise HostUnresolvable("the endpoint's host does not resolve")
    return tuple(addresses)


def _ip_literal(hostname: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(hostname.split("%", 1)[0])
    except ValueError:
        return None
