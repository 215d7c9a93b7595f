"""A storm of mutations through two processes on one PostgreSQL; one process is SIGKILLed and restarted mid-storm.

Devices keep unacknowledged mutations and send them again (same ids), through whichever process answers. Afterwards
every mutation is applied exactly once, a device that followed the feed in small pages (woken by live events) saw
every change, and all devices hold the same notes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.live import EventStream, SimDevice, login, register
from tests.server_process import ServerProcess

USERS = 2
DEVICES_PER_USER = 3
NOTES_PER_DEVICE = 2
EDITS_PER_DEVICE = 30
EDITS_AFTER_RESTART = 5
KILL_AFTER = USERS * DEVICES_PER_USER * EDITS_PER_DEVICE // 3
WATCHER_PAGE = 3


@dataclass
class Storm:
    """What the devices share: the two processes (A is the one killed), and what happened to them."""

    env: dict[str, str]
    servers: list[ServerProcess]
    clients: list[httpx.AsyncClient]
    synced: int = 0
    transport_errors: int = 0
    synced_by_restarted: int = 0
    kill_now: asyncio.Event = field(default_factory=asyncio.Event)
    restarted: asyncio.Event = field(default_factory=asyncio.Event)

    async def sync(self, device: SimDevice, turn: int, limit: int = 500) -> None:
        """Sync through A or B by turn; when a process is down, the same outbox goes to the other one."""
        for attempt in range(100):
            index = (turn + attempt) % 2
            try:
                await device.sync(self.clients[index], limit=limit)
            except httpx.TransportError:
                self.transport_errors += 1
                continue
            if index == 0 and self.restarted.is_set():
                self.synced_by_restarted += 1
            return
        raise AssertionError("a device could not sync through either process")

    async def kill_and_restart_a(self) -> None:
        await self.kill_now.wait()
        await asyncio.to_thread(self.servers[0].kill)
        again = ServerProcess(self.env, port=self.servers[0].port)
        await asyncio.to_thread(again.start)
        self.servers[0] = again
        self.restarted.set()


@dataclass
class StormDevice:
    name: str
    device: SimDevice
    note_ids: list[str] = field(default_factory=lambda: [str(uuid.uuid4()) for _ in range(NOTES_PER_DEVICE)])
    lines: dict[str, list[str]] = field(default_factory=dict)
    edits: Counter[str] = field(default_factory=Counter)

    async def run(self, storm: Storm, turn: int) -> None:
        done_after_restart = 0
        edit = 0
        while edit < EDITS_PER_DEVICE or done_after_restart < EDITS_AFTER_RESTART:
            note_id = self.note_ids[edit % NOTES_PER_DEVICE]
            lines = self.lines.setdefault(note_id, [])
            lines.append(f"{self.name} line {edit}")
            self.device.edit(note_id, body="\n".join(lines))
            self.edits[note_id] += 1
            await storm.sync(self.device, turn + edit)
            done_after_restart += storm.restarted.is_set()
            storm.synced += 1
            if storm.synced >= KILL_AFTER:
                storm.kill_now.set()
            edit += 1


def snapshot(device: SimDevice) -> dict[str, tuple[int, int, str]]:
    return {note_id: (n["rev"], n["seq"], n["body"]) for note_id, n in device.notes.items()}


async def follow_live(storm: Storm, watcher: SimDevice, moved: asyncio.Event) -> None:
    """The PWA's way: listen on B (never killed) and sync on every event, here in pages of a few notes."""
    async with EventStream(storm.servers[1].base_url, watcher.token) as stream:
        turn = 0
        while True:
            await stream.next_sync(timeout=60)
            await storm.sync(watcher, turn, limit=WATCHER_PAGE)
            turn += 1
            moved.set()


async def wait_until_caught_up(watcher: SimDevice, moved: asyncio.Event, cursor: int) -> None:
    async with asyncio.timeout(30):
        while watcher.cursor < cursor:
            await moved.wait()
            moved.clear()


async def make_user(http: httpx.AsyncClient, number: int) -> tuple[dict[str, Any], list[StormDevice], SimDevice]:
    account = await register(http, f"user {number} device 0")
    tokens = [account["token"]] + [await login(http, account, f"device {i}") for i in range(1, DEVICES_PER_USER)]
    devices = [StormDevice(f"u{number}d{i}", SimDevice(token)) for i, token in enumerate(tokens)]
    return account, devices, SimDevice(await login(http, account, "watcher"))


def check_user(fresh: SimDevice, devices: list[StormDevice], watcher: SimDevice) -> None:
    final = snapshot(fresh)
    assert len(final) == DEVICES_PER_USER * NOTES_PER_DEVICE
    assert len({seq for _, seq, _ in final.values()}) == len(final), "two notes share a feed position"
    for storm_device in devices:
        assert storm_device.device.outbox == []
        assert snapshot(storm_device.device) == final, f"{storm_device.name} did not converge"
        for note_id, lines in storm_device.lines.items():
            rev, _, body = final[note_id]
            assert body == "\n".join(lines), f"{storm_device.name}: a line was lost or applied twice"
            assert rev == storm_device.edits[note_id], f"{storm_device.name}: {rev} changes for {storm_device.edits}"
    assert snapshot(watcher) == final, "the device that followed the feed page by page missed a change"


async def test_a_killed_process_loses_nothing(pg_database_url: str, tmp_path: Path) -> None:
    env = {"KEEPTABS_DATABASE_URL": pg_database_url, "KEEPTABS_DATA_DIR": str(tmp_path / "data")}
    servers = [ServerProcess(env).start(), ServerProcess(env).start()]
    try:
        async with (
            httpx.AsyncClient(base_url=servers[0].base_url, timeout=10) as via_a,
            httpx.AsyncClient(base_url=servers[1].base_url, timeout=10) as via_b,
        ):
            storm = Storm(env, servers, [via_a, via_b])
            await run_storm(storm, [await make_user(via_b, n) for n in range(USERS)])
    finally:
        for server in servers:
            server.stop()


async def run_storm(storm: Storm, users: list[tuple[dict[str, Any], list[StormDevice], SimDevice]]) -> None:
    moved = {account["user_id"]: asyncio.Event() for account, _, _ in users}
    followers = [asyncio.create_task(follow_live(storm, w, moved[a["user_id"]])) for a, _, w in users]
    try:
        everyone = [d for _, devices, _ in users for d in devices]
        await asyncio.gather(storm.kill_and_restart_a(), *(d.run(storm, i) for i, d in enumerate(everyone)))
        assert storm.transport_errors > 0, "the kill happened when nobody was talking to A"
        assert storm.synced_by_restarted > 0, "the restarted process served nobody"
        for account, devices, watcher in users:
            for storm_device in devices:
                await storm.sync(storm_device.device, 0)
            fresh = SimDevice(await login(storm.clients[1], account, "fresh"))
            await fresh.sync(storm.clients[1])
            await wait_until_caught_up(watcher, moved[account["user_id"]], fresh.cursor)
            check_user(fresh, devices, watcher)
    finally:
        for follower in followers:
            follower.cancel()
        outcomes = await asyncio.gather(*followers, return_exceptions=True)
    # A follower that failed (rather than being stopped) is why it never caught up: show that, not a timeout.
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
