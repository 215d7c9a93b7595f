"""Benchmark: sign-in under abuse (issue 11, accounts), against a real `keeptabs serve`.

1. Another user's sync (each one carrying an edit, so it writes) while 100 registrations and 100 failed logins
   arrive at once: p95 idle (measured first, same run) and during the flood, their ratio (target < 3x), and the
   status codes of the flood (target: no 500; 503 and 429 carry Retry-After).
2. Login timing: the median time of a wrong password for an existing email and of an unknown email (interleaved,
   same run). Both verify one argon2 hash, so the ratio should be ~1.0x (it was ~40x).
3. 20 concurrent wrong passwords for one email from one address: 401 and 429 counts (target: at most 5 x 401).

    .venv/bin/python bench/bench_abuse.py [--pg] [--flood 100] [--syncs 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.server_process import ServerProcess  # noqa: E402

PG_URL = os.environ.get("KEEPTABS_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
PASSWORD = "correct horse battery"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


async def register(http: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await http.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def timed_sync(http: httpx.AsyncClient, headers: dict[str, str]) -> float:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    mutation = {"id": str(uuid.uuid4()), "note_id": str(uuid.uuid4()), "base_rev": 0, "edited_at": now,
                "set": {"title": "a bystander's note"}}
    started = time.perf_counter()
    response = await http.post("/api/sync", json={"cursor": 0, "limit": 1, "mutations": [mutation]}, headers=headers)
    response.raise_for_status()
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------------------ 1. flood
async def flood(http: httpx.AsyncClient, size: int, victims: list[str]) -> Counter[int]:
    async def one(path: str, body: dict[str, str]) -> int:
        response = await http.post(path, json=body)
        if response.status_code in (429, 503):
            assert int(response.headers["retry-after"]) >= 1, response.headers
        return response.status_code

    run = uuid.uuid4().hex[:6]
    registrations = [one("/api/auth/register", {"email": f"flood-{run}-{i}@example.org", "password": "flood password"})
                     for i in range(size)]
    logins = [one("/api/auth/login", {"email": victims[i % len(victims)] if i % 2 else f"nobody-{run}-{i}@example.org",
                                      "password": "wrong password"}) for i in range(size)]
    return Counter(await asyncio.gather(*registrations, *logins))


async def sync_under_flood(base_url: str, size: int, syncs: int) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        bystander = await register(http, f"bystander-{uuid.uuid4().hex[:6]}@example.org")
        victims = [f"victim-{uuid.uuid4().hex[:6]}@example.org" for _ in range(10)]
        for email in victims:
            await register(http, email)
        idle = [await timed_sync(http, bystander) for _ in range(syncs)]

        # The attacker is another process (another machine, really): its client work does not slow this one.
        attacker = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--attack", base_url, "--flood", str(size), "--victims", ",".join(victims),
            stdout=asyncio.subprocess.PIPE,
        )
        attack = asyncio.create_task(attacker.communicate())
        timeline: list[tuple[float, float]] = []  # (when it started, how long it took)
        while not attack.done():
            timeline.append((time.time(), await timed_sync(http, bystander)))
        report = json.loads((await attack)[0])
    statuses = Counter({int(k): v for k, v in report["statuses"].items()})
    busy = [took for at, took in timeline if report["started"] <= at <= report["ended"]]
    flood_took = report["ended"] - report["started"]

    idle_p95, busy_p95 = percentile(idle, 95), percentile(busy, 95)
    print(f"1. another user's sync while {size} registrations + {size} failed logins arrive at once")
    print(f"   idle  p50 {ms(percentile(idle, 50))}  p95 {ms(idle_p95)}  (n={len(idle)})")
    print(f"   flood p50 {ms(percentile(busy, 50))}  p95 {ms(busy_p95)}  max {ms(max(busy))}  (n={len(busy)})")
    print(f"   ratio p95 flood / idle = {busy_p95 / idle_p95:.1f}x   (target < 3x)")
    print(f"   flood answered in {flood_took:.1f} s: " + ", ".join(f"{n} x {s}" for s, n in sorted(statuses.items())))
    print(f"   500s: {statuses[500]}   (target 0)")


async def attack_only(base_url: str, size: int, victims: list[str]) -> None:
    limits = httpx.Limits(max_connections=3 * size, max_keepalive_connections=3 * size)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as http:
        started = time.time()
        statuses = await flood(http, size, victims)
        print(json.dumps({"statuses": statuses, "started": started, "ended": time.time()}))


# ----------------------------------------------------------------------------------------------------- 2. timing
async def login_timing(base_url: str, rounds: int) -> None:
    """Each attempt from its own address (a trusted proxy's X-Forwarded-For) and spread over ten accounts, so no
    limit answers instead of the password check."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        accounts = [f"timing-{uuid.uuid4().hex[:6]}@example.org" for _ in range(10)]
        for email in accounts:
            await register(http, email)

        async def attempt(email: str, n: int) -> float:
            headers = {"X-Forwarded-For": f"198.18.{n // 250}.{n % 250 + 1}"}
            started = time.perf_counter()
            response = await http.post("/api/auth/login", json={"email": email, "password": "wrong password"},
                                       headers=headers)
            assert response.status_code == 401, response.text
            return time.perf_counter() - started

        known, unknown = [], []
        for n in range(rounds):
            known.append(await attempt(accounts[n % len(accounts)], 2 * n))
            unknown.append(await attempt(f"nobody-{uuid.uuid4().hex[:8]}@example.org", 2 * n + 1))
    k, u = statistics.median(known), statistics.median(unknown)
    print(f"2. login time, median of {rounds} each (interleaved)")
    print(f"   wrong password, existing email {ms(k)}   unknown email {ms(u)}   ratio {k / u:.2f}x   (target ~1.0x)")


# ------------------------------------------------------------------------------------------------ 3. concurrency
async def concurrent_guesses(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        email = f"target-{uuid.uuid4().hex[:6]}@example.org"
        await register(http, email)
        body = {"email": email, "password": "wrong password"}
        answers = await asyncio.gather(*(http.post("/api/auth/login", json=body) for _ in range(20)))
    counts = Counter(a.status_code for a in answers)
    print("3. 20 concurrent wrong passwords, one email, one address: "
          + ", ".join(f"{n} x {s}" for s, n in sorted(counts.items())) + "   (target: at most 5 x 401)")


# -------------------------------------------------------------------------------------------------------- main
async def run_all(base_url: str, args: argparse.Namespace) -> None:
    await sync_under_flood(base_url, args.flood, args.syncs)
    await login_timing(base_url, args.rounds)
    await concurrent_guesses(base_url)


async def with_pg_database(run: Callable[[str], Awaitable[None]]) -> None:
    name = f"kt_bench_abuse_{os.getpid()}"
    admin = await asyncpg.connect(make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await run(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main(args: argparse.Namespace) -> None:
    # The numbers mean little if other work shares the cores; say how busy the machine was.
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    async def serve(database_url: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            env = {"KEEPTABS_DATA_DIR": tmp, "KEEPTABS_DATABASE_URL": database_url}
            with ServerProcess(env) as server:
                await asyncio.wait_for(run_all(server.base_url, args), timeout=600)

    if args.pg:
        print("PostgreSQL, one `keeptabs serve`")
        await with_pg_database(serve)
    else:
        print("SQLite, one `keeptabs serve`")
        await serve("")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attack", metavar="URL", help=argparse.SUPPRESS)  # the flood's own process
    parser.add_argument("--victims", default="", help=argparse.SUPPRESS)
    parser.add_argument("--pg", action="store_true", help="on PostgreSQL instead of SQLite")
    parser.add_argument("--flood", type=int, default=100, help="registrations, and as many failed logins")
    parser.add_argument("--syncs", type=int, default=60, help="idle syncs for the baseline")
    parser.add_argument("--rounds", type=int, default=20, help="logins of each kind for the timing comparison")
    arguments = parser.parse_args()
    if arguments.attack:
        asyncio.run(attack_only(arguments.attack, arguments.flood, arguments.victims.split(",")))
    else:
        asyncio.run(main(arguments))
