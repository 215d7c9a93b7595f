"""Benchmark: another user's reminder while one user's 400 push endpoints tarpit.

A real `keeptabs serve` (SQLite by default), a local push sink that decrypts what it gets (tests/pushsink.py), and a
tarpit in its own process: it accepts connections and never answers (or answers after --answer-after seconds).
In one run:
- baseline: Alice's reminders on an idle server, the delay from each one's time to its arrival at the sink;
- under the tarpit: Mallory has 400 subscriptions at the tarpit (stored directly, as rows from before the per-user
  cap would be) and 5 reminders due a moment before Alice's (2,000 messages that each wait out a timeout), and asks
  for test messages in a loop meanwhile (rate limited). Alice's reminders, due just after, are timed the same way.
Target: every one of Alice's reminders arrives within 2 s of its time under the tarpit.

    .venv/bin/python bench/bench_tarpit.py [--endpoints 400] [--reminders 5] [--accounts 1] [--origins 1]
                                           [--answer-after S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = 2.0
ALICE_REMINDERS = 3
# A valid P-256 point (the curve's generator), so that each message to the tarpit is encrypted like a real one.
GENERATOR = bytes.fromhex(
    "04"
    "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
)

Account = tuple[str, str, dict[str, str]]
"""user id, device id, headers."""


# --------------------------------------------------------------------------------------------------------- the tarpit
def run_tarpit(port_file: str, answer_after: float, origins: int) -> None:
    """Accepts every connection and reads what arrives; answers nothing (or 201 after `answer_after` seconds)."""

    counts = {"accepted": 0, "open": 0, "most_open": 0}

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counts["accepted"] += 1
        counts["open"] += 1
        counts["most_open"] = max(counts["most_open"], counts["open"])
        try:
            if answer_after > 0:
                await reader.readuntil(b"\r\n\r\n")
                await asyncio.sleep(answer_after)
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
            else:
                while await reader.read(65536):
                    pass
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        counts["open"] -= 1
        writer.close()

    async def main() -> None:
        servers = [await asyncio.start_server(hold, "127.0.0.1", 0, backlog=4096) for _ in range(origins)]
        Path(port_file).write_text(",".join(str(s.sockets[0].getsockname()[1]) for s in servers))
        while True:  # what the report shows: that Mallory's messages really were stuck there
            Path(port_file + ".counts").write_text(json.dumps(counts))
            await asyncio.sleep(0.2)

    asyncio.run(main())


# ------------------------------------------------------------------------------------------------------ the clients
def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def register(http: httpx.Client, name: str) -> Account:
    email = f"{name}-{uuid.uuid4().hex[:8]}@bench.example"
    data = http.post("/api/auth/register", json={"email": email, "password": "bench password 1", "device_name": name})
    body = data.json()
    return body["user_id"], body["device_id"], {"Authorization": f"Bearer {body['token']}"}


def set_reminders(http: httpx.Client, headers: dict[str, str], at: datetime, count: int, title: str) -> list[str]:
    note_ids = [str(uuid.uuid4()) for _ in range(count)]
    reminder = {"at": iso(at), "repeat": "none", "tz": "UTC", "done": False}
    now = iso(datetime.now(UTC))
    mutations = [
        {
            "id": str(uuid.uuid4()),
            "note_id": n,
            "base_rev": 0,
            "edited_at": now,
            "set": {"title": title, "reminder": reminder},
        }
        for n in note_ids
    ]
    response = http.post("/api/sync", json={"mutations": mutations}, headers=headers)
    assert response.status_code == 200, response.text
    return note_ids


def alice_delays(http: httpx.Client, sink: Any, headers: dict[str, str], first: datetime) -> list[float]:
    """Alice's reminders due at `first` and a second apart: seconds from each one's time to its arrival."""
    due = {}
    for n in range(ALICE_REMINDERS):
        at = first + timedelta(seconds=n)
        [note_id] = set_reminders(http, headers, at, 1, f"alice {n}")
        due[note_id] = at.timestamp()
    deadline = time.monotonic() + (first - datetime.now(UTC)).total_seconds() + ALICE_REMINDERS + 60
    while time.monotonic() < deadline:
        arrived = {m.payload["note_id"]: m.at for m in sink.messages() if m.plaintext and m.payload["note_id"] in due}
        if len(arrived) == len(due):
            return [arrived[n] - due[n] for n in due]
        time.sleep(0.02)  # polls the in-process sink; the arrival times are its own timestamps
    return [float("inf")]


async def tarpit_rows(url: str, accounts: list[Account], per_account: int, ports: list[int]) -> None:
    """Subscriptions at the tarpit, written to the database directly (the API stops at 20 per user)."""
    from sqlalchemy import insert

    from server.config import Settings
    from server.db import create_engine
    from server.models.push import PushSubscription
    from tests.pushsink import b64url

    rows = [
        {
            "id": str(uuid.uuid4()),
            "user_id": user_id,
            "device_id": device_id,
            "app_url": "",
            "endpoint": f"http://127.0.0.1:{ports[n % len(ports)]}/push/tarpit-{uuid.uuid4().hex}",
            "p256dh": b64url(GENERATOR),
            "auth": b64url(os.urandom(16)),
        }
        for a, (user_id, device_id, _) in enumerate(accounts)
        for n in range(a, a + per_account)
    ]
    engine = create_engine(Settings(database_url=url))
    async with engine.begin() as conn:
        await conn.execute(insert(PushSubscription), rows)
    await engine.dispose()


def flood_tests(base_url: str, accounts: list[Account], stop_at: float, statuses: dict[int, int]) -> None:
    """Mallory asks for test messages as fast as answers come, counting the answers' statuses."""
    with httpx.Client(base_url=base_url, timeout=10) as http:
        while time.monotonic() < stop_at:
            for _, _, headers in accounts:
                status = http.post("/api/push/test", headers=headers).status_code
                statuses[status] = statuses.get(status, 0) + 1
            time.sleep(0.05)


# -------------------------------------------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", type=int, default=400, help="tarpitting subscriptions in all")
    parser.add_argument("--reminders", type=int, default=5, help="reminders due per tarpitting account")
    parser.add_argument("--accounts", type=int, default=1, help="tarpitting accounts sharing the endpoints")
    parser.add_argument("--answer-after", type=float, default=0.0, help="seconds; 0: the tarpit never answers")
    parser.add_argument("--origins", type=int, default=1, help="tarpit ports (each one a separate push origin)")
    parser.add_argument("--database-url", default="", help="default: a SQLite file in a temporary directory")
    parser.add_argument("--tarpit", metavar="PORT_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tarpit:
        run_tarpit(args.tarpit, args.answer_after, args.origins)
        return 0
    return bench(args)


def bench(args: argparse.Namespace) -> int:
    from tests.pushsink import PushSink
    from tests.server_process import ServerProcess

    tmp = Path(tempfile.mkdtemp(prefix="kt-tarpit-"))
    port_file = tmp / "tarpit.port"
    command = [sys.executable, __file__, "--tarpit", str(port_file), "--answer-after", str(args.answer_after)]
    command += ["--origins", str(args.origins)]
    tarpit = subprocess.Popen(command)
    url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'keeptabs.db'}"
    env = {"KEEPTABS_DATABASE_URL": url, "KEEPTABS_DATA_DIR": str(tmp / "data"), "KEEPTABS_PUSH_ALLOW_LOOPBACK": "1"}
    load_before = os.getloadavg()[0]
    flood: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
        tarpit_ports = [int(port) for port in port_file.read_text().split(",")]
        with (
            ServerProcess(env) as server,
            PushSink() as sink,
            httpx.Client(base_url=server.base_url, timeout=30) as http,
        ):
            sink.vapid_public_key = http.get("/api/push/key").json()["public_key"]
            _, _, alice = register(http, "alice")
            assert http.post("/api/push/subscriptions", json=sink.subscription(), headers=alice).status_code == 201
            idle = alice_delays(http, sink, alice, datetime.now(UTC) + timedelta(seconds=1))

            mallory = [register(http, f"mallory{n}") for n in range(args.accounts)]
            asyncio.run(tarpit_rows(url, mallory, args.endpoints // args.accounts, tarpit_ports))
            soon = datetime.now(UTC) + timedelta(seconds=1.5)
            for _, _, headers in mallory:
                set_reminders(http, headers, soon, args.reminders, "slow")
            stop = time.monotonic() + (soon - datetime.now(UTC)).total_seconds() + ALICE_REMINDERS + 2
            flooding = threading.Thread(target=flood_tests, args=(server.base_url, mallory, stop, flood))
            flooding.start()
            loaded = alice_delays(http, sink, alice, soon + timedelta(seconds=1))
            flooding.join()
            time.sleep(0.3)
            stuck = json.loads(Path(f"{port_file}.counts").read_text())
    finally:
        tarpit.terminate()
        tarpit.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    report(args, idle, loaded, flood, load_before)
    print(f"tarpit connections: {stuck['accepted']} accepted, at most {stuck['most_open']} open at once")
    ok = max(loaded) <= TARGET
    print("PASS" if ok else "MISSED TARGET")
    return 0 if ok else 1


def report(
    args: argparse.Namespace, idle: list[float], loaded: list[float], flood: dict[int, int], load: float
) -> None:
    messages = args.endpoints * args.reminders
    mode = f"answers after {args.answer_after:g} s" if args.answer_after else "never answers"
    print(
        f"tarpit: {args.endpoints} endpoints at {args.origins} origin(s) over {args.accounts} account(s), {mode}; "
        f"{messages} messages due at once"
    )
    print(f"idle baseline, Alice's reminder delay: max {max(idle):.3f} s, median {statistics.median(idle):.3f} s")
    print(
        f"under the tarpit, Alice's reminder delay: max {max(loaded):.3f} s, median {statistics.median(loaded):.3f} s "
        f"(target {TARGET:.0f} s)"
    )
    print(
        f"ratio under the tarpit / idle (medians): {statistics.median(loaded) / max(statistics.median(idle), 1e-3):.1f}"
    )
    print(f"Mallory's POST /api/push/test answers meanwhile: {dict(sorted(flood.items()))}")
    print(f"load average before the run: {load:.2f}, after: {os.getloadavg()[0]:.2f} (2 cores, shared)")


if __name__ == "__main__":
    sys.exit(main())
