"""The reminder message: the fields docs/api.md promises, WebKit's declarative form, and never more than 3 KB."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.push.payloads import app_origin, iso_z, ping_payload, reminder_payload
from server.push.webpush import MAX_PAYLOAD_BYTES

AT = datetime(2026, 11, 27, 17, 5, 0, 123456, tzinfo=UTC)
NOTE = "5f0c5a4e-8a57-4a4b-9bfb-2f3b7b0f6a11"


def test_fields_and_declarative_form() -> None:
    message = json.loads(reminder_payload(NOTE, "Call Ana", "x" * 500, AT, "https://notes.example"))
    assert {k: message[k] for k in ("type", "note_id", "title", "at")} == {
        "type": "reminder",
        "note_id": NOTE,
        "title": "Call Ana",
        "at": "2026-11-27T17:05:00.123Z",
    }
    assert message["body"] == "x" * 200
    assert message["web_push"] == 8030
    assert message["notification"] == {
        "title": "Call Ana",
        "body": "x" * 200,
        "navigate": f"https://notes.example/#note/{NOTE}",
        "tag": NOTE,
        "mutable": True,
    }


def test_untitled_note_shows_its_first_line() -> None:
    message = json.loads(reminder_payload(NOTE, "", "Buy milk\nand bread", AT, "https://notes.example"))
    assert message["title"] == ""
    assert message["notification"]["title"] == "Buy milk"


def test_no_origin_no_declarative_form() -> None:
    message = json.loads(reminder_payload(NOTE, "t", "b", AT, ""))
    assert "web_push" not in message and "notification" not in message


@given(title=st.text(max_size=500), body=st.text(max_size=100_000))
def test_always_fits_in_3_kb(title: str, body: str) -> None:
    payload = reminder_payload(NOTE, title, body, AT, "https://notes.example")
    assert len(payload) <= MAX_PAYLOAD_BYTES
    message = json.loads(payload)
    assert title.startswith(message["title"]) and body.startswith(message["body"])
    assert len(message["body"]) <= 200


def test_the_widest_title_still_fits() -> None:
    payload = reminder_payload(NOTE, "\U0001f600" * 500, "\U0001f600" * 200, AT, "https://notes.example")
    assert len(payload) <= MAX_PAYLOAD_BYTES
    assert len(json.loads(payload)["title"]) >= 60


def test_test_message() -> None:
    message = json.loads(ping_payload("https://notes.example"))
    assert message["type"] == "test" and message["notification"]["navigate"] == "https://notes.example/"


@pytest.mark.parametrize(
    ("origin", "base", "expected"),
    [
        ("https://notes.example", "http://10.0.0.2:8000/", "https://notes.example"),
        (None, "http://127.0.0.1:8000/api/push/subscriptions", "http://127.0.0.1:8000"),
        ("null", "https://notes.example/", "https://notes.example"),
        ("https://user@evil.example", "https://notes.example/", "https://notes.example"),
    ],
)
def test_app_origin(origin: str | None, base: str, expected: str) -> None:
    assert app_origin(origin, base) == expected


def test_iso_z_has_milliseconds_and_z() -> None:
    assert iso_z(AT) == "2026-11-27T17:05:00.123Z"
