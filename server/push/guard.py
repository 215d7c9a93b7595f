"""SSRF guard for push endpoints.

A push subscription names a URL the server will later POST to, and any signed-in user can send one. So the server
only talks to public https hosts: the host is resolved and every address it resolves to must be public, both when a
subscription is stored and again before each send (a DNS answer can change in between). The checked addresses are
what the sender then connects to, so a second, different DNS answer cannot slip in between check and connect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from urllib.parse import SplitResult, urlsplit

IPAddress = IPv4Address | IPv6Address
Resolver = Callable[[str, int], Awaitable[tuple[IPAddress, ...]]]

MAX_ENDPOINT_LENGTH = 2048
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
NAT64 = ipaddress.ip_network("64:ff9b::/96")
RESOLVE_TIMEOUT = 5.0
_NOT_IN_URL = re.compile(r"[\x00-\x20\x7f]")


class EndpointRefused(ValueError):
    """The endpoint is not a public https URL; the message says why, for the 422 the client gets."""


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


def split_endpoint(endpoint: str, allow_loopback: bool) -> SplitResult:
    """The checks that need no DNS: length, characters, scheme, no credentials, a host and a valid port."""
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
    if split.scheme == "https":
        return split
    if split.scheme == "http" and allow_loopback and split.hostname in LOOPBACK_NAMES:
        return split
    raise EndpointRefused("the endpoint must be an https URL")


def refusal(ip: IPAddress, allow_loopback: bool) -> str | None:
    """Why the server must not send to this address, or None when it may."""
    if isinstance(ip, IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            reason = refusal(embedded, allow_loopback)
            return f"{reason} (IPv4 inside IPv6)" if reason else None
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (isinstance(ip, IPv6Address) and ip.is_site_local, "a private address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


def _embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """IPv4-mapped (::ffff:a.b.c.d), 6to4 (2002::/16), Teredo and NAT64 addresses reach an IPv4 host."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


class EndpointGuard:
    """Checks endpoints; remembers a host's vetted addresses briefly so that a burst of sends resolves it once."""

    def __init__(self, allow_loopback: bool, cache_seconds: float = 60.0, resolver: Resolver | None = None) -> None:
        self.allow_loopback = allow_loopback
        self.cache_seconds = cache_seconds
        self.resolver = resolver or resolve
        self._cache: dict[tuple[str, int], tuple[float, tuple[IPAddress, ...]]] = {}

    async def check(self, endpoint: str, *, fresh: bool = False) -> ResolvedEndpoint:
        """The endpoint with its checked addresses; raises EndpointRefused. `fresh` skips the cache."""
        split = split_endpoint(endpoint, self.allow_loopback)
        hostname = split.hostname or ""
        port = split.port or (443 if split.scheme == "https" else 80)
        addresses = await self._addresses(hostname, port, fresh)
        for ip in addresses:
            reason = refusal(ip, self.allow_loopback)
            if reason:
                raise EndpointRefused(f"the endpoint's host resolves to {reason}")
        if split.scheme == "http" and not all(_is_loopback(ip) for ip in addresses):
            raise EndpointRefused("the endpoint must be an https URL")
        target = (split.path or "/") + (f"?{split.query}" if split.query else "")
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
        raise EndpointRefused("the endpoint's host does not resolve") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # IPv6 sockaddr may carry a zone ("fe80::1%eth0"); the zone is irrelevant to the address class.
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise EndpointRefused("the endpoint's host does not resolve")
    return tuple(addresses)


def _ip_literal(hostname: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(hostname.split("%", 1)[0])
    except ValueError:
        return None


def _is_loopback(ip: IPAddress) -> bool:
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback
