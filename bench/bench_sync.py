"""Sync benchmarks, each against a floor measured in the same run (numbers printed, never pass/fail).

- Pull 10k notes of ~2 KB from cursor 0, page by page (limit 1000), through the app: uncompressed, with what browsers
  ask for (`gzip, deflate, br, zstd`: the server answers brotli), and gzip only. Floor: one raw SELECT of the same
  rows plus a msgspec encode. Target: under 1 s.
- Push 1k mutations in batches of 100 (each request one transaction). Target: under 2 s.
- Requests per second of a no-op sync (auth + feed read) vs a bare Litestar JSON endpoint, same client, same loop.
  Target: at least half the bare rate.
- Merge of two concurrent edits of a 2,000-line body (sync.text.merge_text) vs merge3's plain line merge.

Usage: .venv/bin/python bench/bench_sync.py [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/test]
The app runs in-process (litestar AsyncTestClient) on a fresh SQLite file, or on a fresh PostgreSQL database.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, post
from litestar.testing import AsyncTestClient
from merge3 import Merge3
from sqlalchemy import insert, select, update
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import memo  # noqa: E402
from server.app import create_app  # noqa: E402
from server.config import Settings  # noqa: E402
from server.db import create_engine, make_sessionmaker  # noqa: E402
from server.migrate import upgrade  # noqa: E402
from server.models.accounts import User  # noqa: E402
from server.models.notes import Note  # noqa: E402
from server.services.notes import COLUMNS, columns_of  # noqa: E402
from sync.state import NoteState  # noqa: E402
from sync.text import merge_text  # noqa: E402

_decode = msgspec.json.Decoder().decode
NOTES = 10_000
PUSHED = 1_000
BATCH = 100
NOOP_REQUESTS = 500
WORDS = [
    "milk",
    "eggs",
    "bread",
    "call",
    "mum",
    "about",
    "the",
    "trip",
    "book",
    "dentist",
    "pay",
    "rent",
    "water",
    "plants",
    "fix",
    "bike",
]


def body(rng: random.Random, size: int = 2000) -> str:
    text = []
    while sum(map(len, text)) < size:
        text.append(" ".join(rng.choice(WORDS) for _ in range(8)) + "\n")
    return "".join(text)[:size]


def mutation(note_id: str, **fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {"id": str(uuid.uuid4()), "note_id": note_id, "base_rev": 0, "edited_at": now, "set": fields}


def report(name: str, seconds: float, floor: float, floor_name: str, target: str) -> None:
    print(
        f"{name:<44} {seconds * 1000:9.1f} ms   {floor_name} {floor * 1000:8.1f} ms   "
        f"ratio {seconds / floor:5.2f}x   target {target}"
    )


@asynccontextmanager
async def database(pg_url: str | None) -> AsyncIterator[Settings]:
    if pg_url is None:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(data_dir=tmp)
            await asyncio.to_thread(upgrade, settings)
            yield settings
        return
    name = f"kt_bench_sync_{uuid.uuid4().hex[:8]}"
    admin = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    try:
        settings = Settings(database_url=make_url(pg_url).set(database=name).render_as_string(hide_password=False))
        await asyncio.to_thread(upgrade, settings)
        yield settings
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def account(client: AsyncTestClient[Litestar]) -> dict[str, str]:
    body_ = {
        "email": f"bench-{uuid.uuid4().hex[:8]}@example.org",
        "password": "correct horse battery",
        "device_name": "bench",
    }
    token = (await client.post("/api/auth/register", json=body_)).json()["token"]
    return {"Authorization": f"Bearer {token}"}


async def push(
    client: AsyncTestClient[Litestar], headers: dict[str, str], mutations: list[dict[str, Any]], batch: int
) -> float:
    start = time.perf_counter()
    for i in range(0, len(mutations), batch):
        response = await client.post(
            "/api/sync", json={"cursor": 0, "limit": 1, "mutations": mutations[i : i + batch]}, headers=headers
        )
        assert response.status_code == 200, response.text
    return time.perf_counter() - start


async def pull(client: AsyncTestClient[Litestar], headers: dict[str, str]) -> tuple[float, int, set[str]]:
    """Time to page through the whole feed; the number of notes seen and the Content-Encodings the server used."""
    start = time.perf_counter()
    cursor, count, more, encodings = 0, 0, True, set()
    while more:
        response = await client.post("/api/sync", json={"cursor": cursor, "limit": 1000}, headers=headers)
        encodings.add(response.headers.get("content-encoding", "identity"))
        data = _decode(response.content)  # as fast as a browser's JSON.parse; httpx's .json() is the stdlib's
        cursor, more, count = data["cursor"], data["more"], count + len(data["changes"])
    return time.perf_counter() - start, count, encodings


async def seed(settings: Settings, rng: random.Random, count: int) -> None:
    """The rest of the 10k notes, written straight to the table (pushing them all would only repeat the push test)."""
    engine = create_engine(settings)
    async with make_sessionmaker(engine)() as conn, conn.begin():
        user_id, seq = (await conn.execute(select(User.id, User.seq))).one()
        now = datetime.now(UTC)
        rows = [
            {
                **columns_of(NoteState(title=f"seeded {i}", body=body(rng))),
                "user_id": user_id,
                "id": str(uuid.uuid4()),
                "rev": 1,
                "seq": seq + 1 + i,
                "clocks": "{}",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(count)
        ]
        await conn.execute(insert(Note), rows)
        await conn.execute(update(User).values(seq=seq + count))
        memo.moved(conn, user_id, seq + count)  # like every writer of the feed
    await engine.dispose()


async def raw_pull(settings: Settings) -> float:
    engine = create_engine(settings)
    start = time.perf_counter()
    async with engine.connect() as conn:
        rows = (await conn.execute(select(*COLUMNS).order_by(Note.seq))).all()
    msgspec.json.encode([tuple(row) for row in rows])
    elapsed = time.perf_counter() - start
    await engine.dispose()
    return elapsed


async def rate(call: Callable[[], Any], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        response = await call()
        assert response.status_code in (200, 201)
    return count / (time.perf_counter() - start)


@post("/bare", status_code=200)
async def bare(data: dict[str, Any]) -> dict[str, Any]:
    return {"results": [], "changes": [], "cursor": data.get("cursor", 0), "more": False}


async def bench_api(settings: Settings) -> None:
    rng = random.Random(7)
    async with AsyncTestClient(app=create_app(settings)) as client:
        headers = await account(client)
        pushed = [mutation(str(uuid.uuid4()), title=f"note {i}", body=body(rng)) for i in range(PUSHED)]
        push_time = await push(client, headers, pushed, BATCH)
        await seed(settings, rng, NOTES - PUSHED)
        floor = await raw_pull(settings)
        for asked, label in (("identity", "uncompressed"), ("gzip, deflate, br, zstd", "browser"), ("gzip", "gzip")):
            pull_time, count, used = await pull(client, {**headers, "Accept-Encoding": asked})
            assert count == NOTES, count
            name = f"pull {NOTES} notes ~2 KB, {label} ({'/'.join(sorted(used))})"
            report(name, pull_time, floor, "raw SELECT+encode", "< 1000 ms")
        per = push_time / PUSHED
        print(
            f"{f'push {PUSHED} mutations, batches of {BATCH}':<44} {push_time * 1000:9.1f} ms   "
            f"{per * 1e6:.0f} us per mutation   target < 2000 ms"
        )
        noop = await rate(lambda: client.post("/api/sync", json={"cursor": NOTES}, headers=headers), NOOP_REQUESTS)
    async with AsyncTestClient(app=Litestar([bare])) as bare_client:
        floor_rate = await rate(lambda: bare_client.post("/bare", json={"cursor": NOTES}), NOOP_REQUESTS)
    print(
        f"{'no-op sync':<44} {noop:9.0f} req/s  bare endpoint {floor_rate:6.0f} req/s   "
        f"ratio {noop / floor_rate:5.2f}   target >= 0.50"
    )


def bench_merge() -> None:
    rng = random.Random(11)
    lines = [" ".join(rng.choice(WORDS) for _ in range(8)) + f" {i}\n" for i in range(2000)]
    stored, mine = list(lines), list(lines)
    for i in rng.sample(range(2000), 40):
        (stored if i % 2 else mine)[i] = f"edited {i} " + lines[i]
    stored[500] = "both changed this line: stored\n"
    mine[500] = "both changed this line: mine\n"
    base, a, b = "".join(lines), "".join(stored), "".join(mine)
    runs = 20
    start = time.perf_counter()
    for _ in range(runs):
        merged = merge_text(base, a, b)
    ours = (time.perf_counter() - start) / runs
    start = time.perf_counter()
    for _ in range(runs):
        list(Merge3(lines, stored, mine).merge_lines())
    floor = (time.perf_counter() - start) / runs
    assert "stored" in merged and "mine" in merged
    report("merge of a 2,000-line body (40 edits + clash)", ours, floor, "merge3 lines", "-")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", help="a PostgreSQL URL to run the API benchmarks on (a fresh database is made)")
    args = parser.parse_args()
    print(f"== sync benchmarks on {'PostgreSQL' if args.pg else 'SQLite'}")
    async with database(args.pg) as settings:
        await bench_api(settings)
    bench_merge()


if __name__ == "__main__":
    asyncio.run(main())
