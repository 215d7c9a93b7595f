"""Benchmark: live updates (issue 6).

1. Latency from a sync on device A to the note being in device B's store, B online and listening to /api/events
   (B syncs on each event, as the PWA does): p50/p95 over N changes, on SQLite (one `keeptabs serve`) and on
   PostgreSQL (two, A writing through one, B listening and syncing through the other). Target p95 < 1 s, aim 300 ms.
   Baseline from the same run: A's own sync round trip; the ratio says how many round trips propagation costs.
2. Sustained load on two processes on PostgreSQL: D devices (pairs of one user) each with a live stream open and a
   sync every I seconds (a third of them carrying an edit, so the partner's stream fires and it syncs too): p99
   sync latency, errors, events. Baseline: the same sync from one idle device, measured first.
3. Memory per stream: one `keeptabs serve` (SQLite, then PostgreSQL), its RSS idle, with S streams open (each has had
   its first event), and after they close, twice over. Baseline: the idle RSS of the same process. The second round
   tells a leak (RSS after close climbs again) from the allocator keeping freed memory for reuse (RSS stays put).

    .venv/bin/python bench/bench_live.py [--changes 200] [--devices 500] [--interval 30] [--duration 90]
                                         [--streams 2000] [--only latency,load,memory]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.auth import new_token  # noqa: E402
from server.config import Settings  # noqa: E402
from server.db import create_engine  # noqa: E402
from server.models import Device, Token, User  # noqa: E402
from server.services.events import plain_dsn  # noqa: E402
from tests.live import EventStream, SimDevice, login, register  # noqa: E402
from tests.server_process import ServerProcess  # noqa: E402

PG_URL = os.environ.get("KEEPTABS_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


# ----------------------------------------------------------------------------------------------------------- latency
async def live_latency(write_url: str, read_url: str, changes: int) -> tuple[list[float], list[float]]:
    """(from A's sync starting to the note in B's store, A's sync round trip) for each change."""
    latencies, round_trips = [], []
    async with (
        httpx.AsyncClient(base_url=write_url, timeout=10) as via_a,
        httpx.AsyncClient(base_url=read_url, timeout=10) as via_b,
    ):
        account = await register(via_a, "A")
        a, b = SimDevice(account["token"]), SimDevice(await login(via_b, account, "B"))
        async with EventStream(read_url, b.token) as b_hears:
            await b_hears.next_sync()
            for i in range(changes):
                note_id = str(uuid.uuid4())
                a.edit(note_id, title=f"change {i}")
                started = time.perf_counter()
                await a.sync(via_a)
                round_trips.append(time.perf_counter() - started)
                await b_hears.wait_for_cursor(a.cursor)
                await b.sync(via_b)
                assert note_id in b.notes
                latencies.append(time.perf_counter() - started)
    return latencies, round_trips


def report_latency(label: str, latencies: list[float], round_trips: list[float]) -> None:
    p50, p95, rtt = percentile(latencies, 50), percentile(latencies, 95), percentile(round_trips, 50)
    print(f"{label}: A sync -> note in B's store, n={len(latencies)}")
    print(f"  p50 {ms(p50)}   p95 {ms(p95)}   max {ms(max(latencies))}   (target p95 < 1000 ms, aim 300 ms)")
    print(f"  baseline: A's sync round trip p50 {ms(rtt)}; live p50 = {p50 / rtt:.1f}x a round trip")


# -------------------------------------------------------------------------------------------------------------- load
@dataclass
class LoadStats:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    events: int = 0
    streams_open: int = 0


@dataclass
class LoadDevice:
    device: SimDevice
    note_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    edits: int = 0

    async def sync(self, http: httpx.AsyncClient, stats: LoadStats, edit: bool) -> None:
        async with self.lock:  # a periodic sync and an event-driven one must not interleave on one device
            if edit:
                self.edits += 1
                self.device.edit(self.note_id, title=f"edit {self.edits}", body="x" * 200)
            started = time.perf_counter()
            try:
                await self.device.sync(http)
            except (httpx.HTTPError, AssertionError) as exc:
                stats.errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
                return
            stats.latencies.append(time.perf_counter() - started)


async def seed_devices(database_url: str, count: int) -> list[str]:
    """Tokens for `count` devices, two per user, written straight into the database: registering 500 devices
    through the API would spend the benchmark's first minute hashing passwords, which is not what is measured."""
    connection = await asyncpg.connect(plain_dsn(database_url))
    tokens = []
    try:
        async with connection.transaction():
            for pair in range(0, count, 2):
                user_id = str(uuid.uuid4())
                await connection.execute(
                    "INSERT INTO users (id, email, email_key, password_hash, seq, created_at)"
                    " VALUES ($1, $2, $2, 'x', 0, now())",
                    user_id,
                    f"load-{user_id}@example.org",
                )
                for _ in range(min(2, count - pair)):
                    device_id, (token, token_hash) = str(uuid.uuid4()), new_token()
                    await connection.execute(
                        "INSERT INTO devices (id, user_id, name, created_at, last_seen_at)"
                        " VALUES ($1, $2, 'load', now(), now())",
                        device_id,
                        user_id,
                    )
                    await connection.execute(
                        "INSERT INTO tokens (hash, device_id, user_id, created_at) VALUES ($1, $2, $3, now())",
                        token_hash,
                        device_id,
                        user_id,
                    )
                    tokens.append(token)
    finally:
        await connection.close()
    return tokens


async def listen(device: LoadDevice, stream: EventStream, http: httpx.AsyncClient, stats: LoadStats) -> None:
    async for message in stream.messages():
        if message.event == "sync" and message.cursor > device.device.cursor:
            stats.events += 1
            await device.sync(http, stats, edit=False)


async def tick(device: LoadDevice, http: httpx.AsyncClient, stats: LoadStats, interval: float, until: float) -> None:
    await asyncio.sleep(random.uniform(0, interval))  # devices wake at random phases, like real ones
    while time.monotonic() < until:
        await device.sync(http, stats, edit=random.random() < 1 / 3)
        await asyncio.sleep(interval)


async def sustained_load(urls: list[str], tokens: list[str], interval: float, duration: float) -> LoadStats:
    stats = LoadStats()
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=200)
    timeout = httpx.Timeout(30, read=None)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as streams_client:
        clients = [httpx.AsyncClient(base_url=url, limits=limits, timeout=30) for url in urls]
        devices = [LoadDevice(SimDevice(token)) for token in tokens]
        streams = [EventStream(urls[i % 2], d.device.token, client=streams_client) for i, d in enumerate(devices)]
        await asyncio.gather(*(s.__aenter__() for s in streams))
        stats.streams_open = sum(s.response is not None and s.response.status_code == 200 for s in streams)
        until = time.monotonic() + duration
        listeners = [
            asyncio.create_task(listen(d, s, clients[i % 2], stats))
            for i, (d, s) in enumerate(zip(devices, streams, strict=True))
        ]
        await asyncio.gather(*(tick(d, clients[(i + 1) % 2], stats, interval, until) for i, d in enumerate(devices)))
        stats.streams_open = min(stats.streams_open, sum(not task.done() for task in listeners))
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
        await asyncio.gather(*(s.__aexit__(None, None, None) for s in streams))
        for client in clients:
            await client.aclose()
    return stats


async def idle_baseline(url: str, rounds: int = 100) -> list[float]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        device = SimDevice((await register(http))["token"])
        times = []
        for i in range(rounds):
            if i % 3 == 0:
                device.edit(str(uuid.uuid4()), title=f"idle {i}", body="x" * 200)
            started = time.perf_counter()
            await device.sync(http)
            times.append(time.perf_counter() - started)
    return times


def report_load(stats: LoadStats, baseline: list[float], devices: int, interval: float, duration: float) -> None:
    p99, idle = percentile(stats.latencies, 99), percentile(baseline, 99)
    print(
        f"sustained load, 2 processes on PostgreSQL: {devices} devices, sync every {interval:.0f} s, {duration:.0f} s"
    )
    print(f"  syncs {len(stats.latencies)} ({len(stats.latencies) / duration:.1f}/s)   errors {len(stats.errors)}")
    print(f"  sync p50 {ms(percentile(stats.latencies, 50))}   p99 {ms(p99)}   max {ms(max(stats.latencies))}")
    print(f"  live streams open {stats.streams_open}/{devices} at the end; events that led to a sync {stats.events}")
    print(f"  baseline: idle sync p99 {ms(idle)}; under load p99 = {p99 / idle:.1f}x idle")
    for error in stats.errors[:5]:
        print(f"  error: {error}")


# ------------------------------------------------------------------------------------------------- memory per stream
def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def server_connections(port: int) -> int:
    """Connections the server still holds on its port (established, or closed by the client and not yet by it)."""
    held = {"01", "08"}  # ESTABLISHED, CLOSE_WAIT
    return sum(
        int(fields[1].split(":")[1], 16) == port and fields[3] in held
        for fields in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
    )


async def seed_streams(settings: Settings, count: int) -> list[str]:
    """A token per stream (one device each, two devices per user: under the per-device cap), straight into the
    database of either kind, through the server's own tables."""
    users = [str(uuid.uuid4()) for _ in range((count + 1) // 2)]
    devices = [(str(uuid.uuid4()), users[i // 2], *new_token()) for i in range(count)]
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            emails = [{"id": u, "email": f"m-{u}@example.org", "email_key": f"m-{u}@example.org"} for u in users]
            await conn.execute(insert(User), [{**e, "password_hash": "x", "seq": 0} for e in emails])
            await conn.execute(insert(Device), [{"id": d, "user_id": u, "name": "memory"} for d, u, _, _ in devices])
            await conn.execute(insert(Token), [{"hash": h, "device_id": d, "user_id": u} for d, u, _, h in devices])
    finally:
        await engine.dispose()
    return [token for _, _, token, _ in devices]


async def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.1)


async def stream_memory(server: ServerProcess, tokens: list[str], label: str, rounds: int = 2) -> None:
    assert server.process is not None
    pid = server.process.pid
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60, read=None)) as client:
        async with EventStream(server.base_url, tokens[0], client=client) as warm:  # every code path loaded once
            await warm.next_sync()
        await wait_for(lambda: server_connections(server.port) == 0)
        idle = rss_mb(pid)
        print(f"{label}: memory per stream, {len(tokens)} streams, RSS of the server process")
        print(f"  baseline: idle {idle:6.1f} MB")
        for number in range(1, rounds + 1):
            streams = [EventStream(server.base_url, t, client=client) for t in tokens]
            for start in range(0, len(streams), 200):  # connect in waves: the accept backlog is finite
                await asyncio.gather(*(s.__aenter__() for s in streams[start : start + 200]))
            await asyncio.gather(*(s.next_sync(timeout=60) for s in streams))
            held = rss_mb(pid)
            await asyncio.gather(*(s.__aexit__(None, None, None) for s in streams))
            await wait_for(lambda: server_connections(server.port) == 0)
            after = rss_mb(pid)
            per_stream = (held - idle) * 1024 * 1024 / len(tokens)
            print(
                f"  round {number}: open {held:6.1f} MB (+{held - idle:5.1f}, {per_stream / 1024:5.1f} KB a stream)"
                f"   closed {after:6.1f} MB (+{after - idle:5.1f} over idle)"
            )


async def memory_per_stream(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"KEEPTABS_DATA_DIR": tmp, "KEEPTABS_DATABASE_URL": "", "KEEPTABS_MAX_STREAMS": str(count + 10)}
        with ServerProcess(env) as server:
            await stream_memory(server, await seed_streams(Settings(data_dir=tmp), count), "SQLite")

    async def on_postgres(url: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            env = {"KEEPTABS_DATABASE_URL": url, "KEEPTABS_DATA_DIR": tmp, "KEEPTABS_MAX_STREAMS": str(count + 10)}
            with ServerProcess(env) as server:
                await stream_memory(server, await seed_streams(Settings(database_url=url), count), "PostgreSQL")

    await with_pg_database(on_postgres)


# -------------------------------------------------------------------------------------------------------------- main
async def with_pg_database(run: Callable[[str], Awaitable[None]]) -> None:
    name = f"kt_bench_live_{os.getpid()}"
    admin = await asyncpg.connect(plain_dsn(PG_URL))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
        await run(url)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main(args: argparse.Namespace) -> None:
    # The numbers mean little if other work shares the cores; say how busy the machine was.
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    sections = set(args.only.split(",")) if args.only else {"latency", "load", "memory"}
    if "latency" in sections:
        with (
            tempfile.TemporaryDirectory() as tmp,
            ServerProcess({"KEEPTABS_DATA_DIR": tmp, "KEEPTABS_DATABASE_URL": ""}) as one,
        ):
            report_latency("SQLite, one process", *await live_latency(one.base_url, one.base_url, args.changes))

    async def on_postgres(url: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            env = {"KEEPTABS_DATABASE_URL": url, "KEEPTABS_DATA_DIR": tmp}
            with ServerProcess(env) as a, ServerProcess(env) as b:
                if "latency" in sections:
                    latency = await live_latency(a.base_url, b.base_url, args.changes)
                    report_latency("PostgreSQL, two processes", *latency)
                if "load" in sections and args.devices:
                    baseline = await idle_baseline(a.base_url)
                    tokens = await seed_devices(url, args.devices)
                    stats = await sustained_load([a.base_url, b.base_url], tokens, args.interval, args.duration)
                    report_load(stats, baseline, args.devices, args.interval, args.duration)

    if sections & {"latency", "load"}:
        await with_pg_database(on_postgres)
    if "memory" in sections and args.streams:
        await memory_per_stream(args.streams)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--devices", type=int, default=500, help="0 skips the load test")
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--duration", type=float, default=90.0)
    parser.add_argument("--streams", type=int, default=2000, help="streams for 'memory per stream'; 0 skips it")
    parser.add_argument("--only", default="", help="comma-separated sections: latency, load, memory (default: all)")
    asyncio.run(main(parser.parse_args()))
