"""Rows written under an older schema, for the upgrade test (tests/api/test_migrations.py).

Each filler writes realistic rows into the tables that exist at its revision, through the schema reflected from the
database, not through today's models (which may have moved on). A migration that creates a table adds a filler for
its own revision here, so the upgrade test of every later migration covers that table's rows too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import Connection, Table, insert

from server.auth import hash_token

PASSWORD = "correct horse battery"
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Filled:
    """What a test can use the filled database with: each user's email and a working token."""

    emails: tuple[str, ...]
    tokens: tuple[str, ...]
    note_ids: tuple[str, ...]


@dataclass(frozen=True)
class Writer:
    conn: Connection
    tables: Mapping[str, Table]

    def at(self, minutes: int) -> datetime:
        """A time `minutes` after START, as this database stores it (SQLite: naive UTC)."""
        moment = START + timedelta(minutes=minutes)
        return moment.replace(tzinfo=None) if self.conn.dialect.name == "sqlite" else moment

    def rows(self, table: str, rows: list[dict[str, object]]) -> None:
        self.conn.execute(insert(self.tables[table]), rows)


def _state(title: str, body: str, tags: list[str], reminder: dict[str, object] | None = None) -> str:
    return json.dumps({"title": title, "body": body, "tags": tags, "reminder": reminder}, ensure_ascii=False)


def _note(user: str, note_id: str, n: int, w: Writer, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "user_id": user, "id": note_id, "title": "", "body": "", "tags": [], "pinned": False, "archived": False,
        "deleted": False, "reminder_at": None, "reminder_repeat": "none", "reminder_tz": "UTC",
        "reminder_done": False, "rev": 1, "seq": n, "clocks": "{}", "created_at": w.at(n), "updated_at": w.at(n),
    }
    return base | fields


def fill_0001(w: Writer) -> Filled:
    """Two users, two devices each, notes of every kind (reminders, trash, archive, unicode), their revisions, the
    devices' views, applied mutation ids, a push subscription, a sent reminder and its delivery record."""
    password_hash = PasswordHasher().hash(PASSWORD)
    users = ["00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"]
    emails = ("ana@example.org", "Tom.Nguyen@Example.org")
    tokens = ("token-of-ana-phone", "token-of-tom-laptop")
    w.rows("users", [
        {"id": u, "email": e, "email_key": e.lower(), "password_hash": password_hash, "seq": 3, "created_at": w.at(0)}
        for u, e in zip(users, emails, strict=True)
    ])
    devices = [f"10000000-0000-4000-8000-00000000000{i}" for i in range(4)]
    w.rows("devices", [
        {"id": d, "user_id": users[i // 2], "name": f"device {i} ✓", "created_at": w.at(i), "last_seen_at": w.at(60)}
        for i, d in enumerate(devices)
    ])
    w.rows("tokens", [
        {"hash": hash_token(tokens[0]), "device_id": devices[0], "user_id": users[0], "created_at": w.at(1)},
        {"hash": hash_token(tokens[1]), "device_id": devices[3], "user_id": users[1], "created_at": w.at(1)},
    ])
    note_ids = tuple(f"20000000-0000-4000-8000-00000000000{i}" for i in range(6))
    reminder = {"at": "2026-11-02T09:00:00Z", "repeat": "daily", "tz": "Europe/Paris", "done": False}
    w.rows("notes", [
        _note(users[0], note_ids[0], 1, w, title="Career fair", body="Met Priya Shah, Stripe\npriya@stripe.com",
              tags=["fair", "stripe"], pinned=True, rev=2),
        _note(users[0], note_ids[1], 2, w, body="Email Ana about the data course ☕ 😀", reminder_at=w.at(1500),
              reminder_repeat="daily", reminder_tz="Europe/Paris"),
        _note(users[0], note_ids[2], 3, w, body="old idea", deleted=True),
        _note(users[1], note_ids[3], 1, w, title="咖啡", body="مرحبا — e\u0301cole", archived=True),
        _note(users[1], note_ids[4], 2, w, body="Call Bob", reminder_at=w.at(30), reminder_done=True),
        # The same client-made id under another user: ids are scoped to their user.
        _note(users[1], note_ids[0], 3, w, body="Tom's note with Ana's id"),
    ])
    w.rows("note_revisions", [
        {"user_id": users[0], "note_id": note_ids[0], "rev": 1, "state": _state("Career fair", "Met Priya", ["fair"]),
         "created_at": w.at(1)},
        {"user_id": users[0], "note_id": note_ids[0], "rev": 2,
         "state": _state("Career fair", "Met Priya Shah, Stripe\npriya@stripe.com", ["fair", "stripe"]),
         "created_at": w.at(2)},
        {"user_id": users[0], "note_id": note_ids[1], "rev": 1,
         "state": _state("", "Email Ana about the data course ☕ 😀", [], reminder), "created_at": w.at(2)},
    ])
    w.rows("device_note_views", [
        {"user_id": users[0], "note_id": note_ids[0], "device_id": devices[0], "rev": 2,
         "state": _state("Career fair", "Met Priya Shah, Stripe\npriya@stripe.com", ["fair", "stripe"])},
    ])
    w.rows("applied_mutations", [
        {"user_id": users[0], "id": f"30000000-0000-4000-8000-00000000000{i}", "note_id": note_ids[i],
         "applied_at": w.at(i)}
        for i in range(3)
    ])
    w.rows("push_subscriptions", [
        {"id": "40000000-0000-4000-8000-000000000000", "user_id": users[1], "device_id": devices[3],
         "endpoint": "https://push.example.org/send/abc", "p256dh": "BPk" + "A" * 84, "auth": "c2VjcmV0c2VjcmV0",
         "app_url": "https://keeptabs.example.org", "created_at": w.at(5), "updated_at": w.at(5)},
    ])
    w.rows("reminder_occurrences", [
        {"user_id": users[1], "note_id": note_ids[4], "at": w.at(30), "lease_until": w.at(31), "finished_at": w.at(30)},
    ])
    w.rows("push_deliveries", [
        {"user_id": users[1], "kind": "reminder", "note_id": note_ids[4], "occurrence_at": w.at(30),
         "subscription_id": "40000000-0000-4000-8000-000000000000", "device_id": devices[3],
         "push_service": "https://push.example.org", "status": "delivered", "http_status": 201, "attempts": 1,
         "error": None, "sent_at": w.at(30)},
    ])
    w.rows("login_failures", [{"email_key": emails[0].lower(), "failed_at": w.at(50)}])
    return Filled(emails, tokens, note_ids)


def fill_0002(w: Writer) -> None:
    """Failed sign-ins with the client address 0002 added (IPv4, an IPv6 /64, and one from before addresses)."""
    w.rows("login_failures", [
        {"email_key": "tom.nguyen@example.org", "client_address": "203.0.113.7", "failed_at": w.at(51)},
        {"email_key": "tom.nguyen@example.org", "client_address": "2001:db8:1:2::/64", "failed_at": w.at(52)},
        {"email_key": "nobody@example.org", "client_address": None, "failed_at": w.at(53)},
    ])


def fill_0003(w: Writer) -> None:
    """Ana's photos (one read by OCR, one queued and leased, one HEIC skipped) and a share nobody has claimed."""
    ana = "00000000-0000-4000-8000-000000000001"
    w.rows("blobs", [
        {"user_id": ana, "sha256": "a" * 64, "type": "image/jpeg", "size": 301_234, "width": 2048, "height": 1536,
         "ocr_state": "done", "ocr_text": "Priya Shah\npriya.shah@stripe.com", "ocr_attempts": 1,
         "ocr_lease_until": None, "created_at": w.at(70)},
        {"user_id": ana, "sha256": "b" * 64, "type": "image/png", "size": 12_000, "width": 640, "height": 480,
         "ocr_state": "pending", "ocr_text": "", "ocr_attempts": 1, "ocr_lease_until": w.at(72),
         "created_at": w.at(71)},
        {"user_id": ana, "sha256": "c" * 64, "type": "image/heic", "size": 900_000, "width": None, "height": None,
         "ocr_state": "skipped", "ocr_text": "", "ocr_attempts": 0, "ocr_lease_until": None, "created_at": w.at(72)},
    ])
    w.rows("pending_shares", [
        {"id_hash": "d" * 64, "title": "Booth sign ✓", "text": "Stripe is hiring", "url": "https://stripe.com/jobs",
         "images": [{"sha256": "e" * 64, "type": "image/webp", "size": 5_000, "width": 100, "height": 50,
                     "name": "sign.webp"}],
         "refused": ["notes.pdf: Only JPEG, PNG, WebP, HEIC and AVIF images are accepted. Not kept."],
         "size": 5_000, "created_at": w.at(80), "expires_at": w.at(80 + 24 * 60)},
    ])


Filler = Callable[[Writer], Filled | None]

FILLERS: dict[str, Filler] = {"0001": fill_0001, "0002": fill_0002, "0003": fill_0003}
"""Revision -> the filler of the tables that revision created."""
