"""Three devices of one account edit offline and sync in random order against the real app (SQLite file), with
lost responses, retries and page sizes 1 to 4. After everyone syncs: every device equals the server, no word is
lost unless a device deleted it after seeing it, no mutation is applied twice, and the feed skipped nothing."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from litestar.testing import TestClient

from server.app import create_app
from server.config import Settings
from server.migrate import upgrade

FIELDS = ("title", "body", "tags", "pinned", "archived", "deleted", "reminder", "rev", "seq")
TAGS = ("home", "work", "later")


@dataclass
class Device:
    headers: dict[str, str]
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    cursor: int = 0

    def base_rev(self, note_id: str) -> int:
        return int(self.notes[note_id]["rev"]) if note_id in self.notes and "seq" in self.notes[note_id] else 0

    def edit(self, note_id: str, **fields: Any) -> None:
        """A local edit: applied to the local copy at once, queued for the server with the rev it started from."""
        base = self.base_rev(note_id)
        self.notes.setdefault(note_id, {"body": "", "tags": [], "pinned": False, "deleted": False}).update(fields)
        at = datetime.now(UTC).isoformat()
        self.outbox.append(
            {"id": str(uuid.uuid4()), "note_id": note_id, "base_rev": base, "edited_at": at, "set": fields}
        )

    def take(self, note: dict[str, Any]) -> None:
        current = self.notes.get(note["id"])
        if current is None or "seq" not in current or current["rev"] <= note["rev"]:
            self.notes[note["id"]] = note


class SyncMachine(RuleBasedStateMachine):
    client: ClassVar[TestClient[Any]]
    accounts: ClassVar[Iterator[int]] = itertools.count()

    def __init__(self) -> None:
        super().__init__()
        self.devices: list[Device] = []
        self.words = itertools.count()
        self.note_numbers = itertools.count(1)
        self.typed: set[str] = set()
        self.deleted: set[str] = set()
        self.outcomes: dict[str, str] = {}

    @initialize()
    def three_devices(self) -> None:
        email = f"machine-{next(self.accounts)}-{uuid.uuid4().hex[:6]}@example.org"
        body = {"email": email, "password": "correct horse battery", "device_name": "phone"}
        response = self.client.post("/api/auth/register", json=body)
        assert response.status_code == 201, response.text
        tokens = [response.json()["token"]]
        for name in ("laptop", "tablet"):
            response = self.client.post("/api/auth/login", json={**body, "device_name": name})
            tokens.append(response.json()["token"])
        self.devices = [Device({"Authorization": f"Bearer {t}"}) for t in tokens]

    def word(self) -> str:
        word = f"w{next(self.words)}"
        self.typed.add(word)
        return word

    @rule(device=st.integers(0, 2))
    def create(self, device: int) -> None:
        # Ids in creation order (each example has its own account): random ones would sort differently on every
        # replay, and the rules that pick a note by its place in that order would then pick another.
        note_id = str(uuid.UUID(int=next(self.note_numbers)))
        self.devices[device].edit(note_id, body=self.word() + "\n")

    @rule(device=st.integers(0, 2), pick=st.randoms(use_true_random=False), new_line=st.booleans())
    def type_word(self, device: int, pick: Any, new_line: bool) -> None:
        d = self.devices[device]
        if not d.notes:
            return
        note_id = pick.choice(sorted(d.notes))
        lines = d.notes[note_id]["body"].splitlines()
        at = pick.randint(0, len(lines))
        if new_line or not lines or at == len(lines):
            lines.insert(at, self.word())
        else:
            words = lines[at].split(" ")
            words.insert(pick.randint(0, len(words)), self.word())
            lines[at] = " ".join(words)
        d.edit(note_id, body="".join(line + "\n" for line in lines))

    @rule(device=st.integers(0, 2), pick=st.randoms(use_true_random=False))
    def delete_word(self, device: int, pick: Any) -> None:
        d = self.devices[device]
        candidates = [(n, w) for n, note in sorted(d.notes.items()) for w in note["body"].split()]
        if not candidates:
            return
        note_id, word = pick.choice(candidates)
        self.deleted.add(word)
        lines = [" ".join(w for w in line.split(" ") if w != word) for line in d.notes[note_id]["body"].splitlines()]
        d.edit(note_id, body="".join(line + "\n" for line in lines if line))

    @rule(device=st.integers(0, 2), pick=st.randoms(use_true_random=False), tag=st.sampled_from(TAGS))
    def toggle_tag(self, device: int, pick: Any, tag: str) -> None:
        d = self.devices[device]
        if d.notes:
            note_id = pick.choice(sorted(d.notes))
            tags = list(d.notes[note_id]["tags"])
            d.edit(note_id, tags=[t for t in tags if t != tag] if tag in tags else [*tags, tag])

    @rule(device=st.integers(0, 2), pick=st.randoms(use_true_random=False), flag=st.sampled_from(["pinned", "deleted"]))
    def toggle_flag(self, device: int, pick: Any, flag: str) -> None:
        d = self.devices[device]
        if d.notes:
            note_id = pick.choice(sorted(d.notes))
            d.edit(note_id, **{flag: not d.notes[note_id][flag]})

    @rule(device=st.integers(0, 2), limit=st.integers(1, 4), lose=st.booleans())
    def sync(self, device: int, limit: int, lose: bool) -> None:
        self.sync_device(self.devices[device], limit, lose)

    def sync_device(self, d: Device, limit: int, lose: bool = False) -> bool:
        """One round trip; returns whether more changes are waiting."""
        body = {"cursor": d.cursor, "limit": limit, "mutations": d.outbox}
        response = self.client.post("/api/sync", json=body, headers=d.headers)
        assert response.status_code == 200, response.text
        if lose:
            return True  # the server applied everything, but the device never hears of it
        data = response.json()
        assert not data["reset"]
        for sent, result in zip(d.outbox, data["results"], strict=True):
            assert result["status"] != "rejected", result
            if sent["id"] in self.outcomes:  # a retry after a lost response: never applied twice
                assert result["status"] == "duplicate", (sent, result)
            self.outcomes[sent["id"]] = result["status"]
            d.take(result["note"])
        d.outbox = []
        seqs = [n["seq"] for n in data["changes"]]
        assert seqs == sorted(set(seqs)) and all(s > d.cursor for s in seqs) and len(seqs) <= limit
        for note in data["changes"]:
            d.take(note)
        d.cursor = data["cursor"]
        return bool(data["more"])

    @precondition(lambda self: bool(self.devices))
    @rule()
    def everyone_syncs(self) -> None:
        for d in self.devices:  # first everything reaches the server, then everyone reads it all
            while self.sync_device(d, 4) or d.outbox:
                pass
        for d in self.devices:
            while self.sync_device(d, 3):
                pass
        self.check_converged()

    def check_converged(self) -> None:
        server = self.server_notes()
        for d in self.devices:
            assert {k: {f: n[f] for f in FIELDS} for k, n in d.notes.items()} == server
        words = [w for note in server.values() for w in note["body"].split()]
        assert self.typed - self.deleted <= set(words)
        assert len(words) == len(set(words)), "a word appears twice: some text was applied twice"

    def server_notes(self) -> dict[str, dict[str, Any]]:
        data = self.client.post("/api/sync", json={"limit": 1000}, headers=self.devices[0].headers).json()
        assert not data["more"]
        return {n["id"]: {f: n[f] for f in FIELDS} for n in data["changes"]}

    @invariant()
    def feed_is_ordered(self) -> None:
        if self.devices:
            seqs = [n["seq"] for n in self.server_notes().values()]
            assert len(seqs) == len(set(seqs))

    def teardown(self) -> None:
        if self.devices:
            self.everyone_syncs()


@pytest.fixture(scope="module")
def machine_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    data_dir: Path = tmp_path_factory.mktemp("machine")
    app_settings = Settings(data_dir=str(data_dir))
    upgrade(app_settings)
    with TestClient(app=create_app(app_settings)) as client:
        yield client


def run(client: TestClient[Any], examples: int, steps: int) -> None:
    SyncMachine.client = client
    options = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    run_state_machine_as_test(SyncMachine, settings=options)


def test_devices_converge(machine_client: TestClient[Any]) -> None:
    run(machine_client, examples=12, steps=40)


@pytest.mark.slow
def test_devices_converge_long(machine_client: TestClient[Any]) -> None:
    run(machine_client, examples=150, steps=80)
