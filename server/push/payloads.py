"""What a push message says: the reminder and test payloads (docs/api.md, "Push and reminders"), and the app's
address that a notification opens."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import msgspec

from server.push.webpush import MAX_PAYLOAD_BYTES

BODY_CHARS = 200
NOTE_PATH = "/#note/{note_id}"
"""Where the PWA opens a note (pwa/sw.js openNote)."""
DECLARATIVE_PUSH = 8030
MAX_APP_URL = 300
"""The column's size; a real origin is at most about 270 characters (a 253-character host name and a port)."""
_NETLOC = re.compile(r"[A-Za-z0-9.-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?")


@lru_cache(maxsize=4096)
def iso_z(when: datetime) -> str:
    # Cached: the reminders of a burst share a few due times, and strftime is a real cost per message.
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def reminder_payload(note_id: str, title: str, body: str, at: datetime, app_url: str) -> bytes:
    """The reminder message of docs/api.md, plus WebKit's declarative form so Safari 18.4+ shows it without the worker.

    Cut to fit MAX_PAYLOAD_BYTES: a 500-character title in a 4-byte script would not fit twice otherwise.
    """
    title_chars, body_chars = len(title), BODY_CHARS
    while True:
        message: dict[str, Any] = {
            "type": "reminder",
            "note_id": note_id,
            "title": title[:title_chars],
            "body": body[:body_chars],
            "at": iso_z(at),
        }
        if app_url:
            shown = title[:title_chars] or body[:body_chars].split("\n", 1)[0] or "Reminder"
            message["web_push"] = DECLARATIVE_PUSH
            message["notification"] = {
                "title": shown,
                "body": body[:body_chars],
                "navigate": app_url + NOTE_PATH.format(note_id=note_id),
                "tag": note_id,
                "mutable": True,  # a service worker, where there is one, shows it with the Done/Snooze actions
            }
        encoded = msgspec.json.encode(message)
        if len(encoded) <= MAX_PAYLOAD_BYTES:
            return encoded
        if title_chars > 60:
            title_chars //= 2
        else:
            body_chars //= 2


def ping_payload(app_url: str) -> bytes:
    message: dict[str, Any] = {"type": "test", "title": "KeepTabs", "body": "Notifications work on this device."}
    if app_url:
        notification = {"title": message["title"], "body": message["body"], "navigate": app_url + "/"}
        message.update(web_push=DECLARATIVE_PUSH, notification=notification)
    return msgspec.json.encode(message)


def app_origin(origin_header: str | None, base_url: str) -> str:
    """scheme://host[:port] the app runs at: the browser's Origin header when it is one, else the request's URL,
    else "" (the message then carries no link). Anything that is not a plain origin of at most MAX_APP_URL
    characters (a client may send any header) is passed over: it is only where a notification tap leads."""
    for candidate in (origin_header or "", base_url):
        try:
            split = urlsplit(candidate)
        except ValueError:  # "http://[::1" and the like
            continue
        origin = f"{split.scheme}://{split.netloc}"
        if split.scheme in ("http", "https") and _NETLOC.fullmatch(split.netloc) and len(origin) <= MAX_APP_URL:
            return origin
    return ""
