"""Settings, read once from KEEPTABS_* environment variables into one frozen Struct."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec

PREFIX = "KEEPTABS_"
MAX_BLOB_CEILING = 100 * 1024**2
"""The most KEEPTABS_BLOB_MAX_BYTES may be: the upload routes' hard cap on a request body."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = ""
    """Empty means a SQLite file in data_dir; `postgresql+asyncpg://...` for PostgreSQL."""
    data_dir: str = "./var"
    open_registration: bool = True
    push_allow_loopback: bool = False
    """Tests and local development: also admit push endpoints whose host is written exactly `127.0.0.1`, `[::1]` or
    `localhost` (127.0.0.1), over http or https, on any port. No other spelling of a loopback address."""
    vapid_subject: str = "mailto:admin@localhost"
    vapid_private_key: str = ""
    """PEM; empty means keys are made on first start and kept in data_dir."""
    vapid_public_key: str = ""
    push_ttl: Annotated[int, msgspec.Meta(ge=3600)] = 86400
    # Push limits (docs/deploy.md, "Push limits"): one user's endpoints must not delay everyone's reminders.
    push_subscriptions_per_device: Annotated[int, msgspec.Meta(ge=1)] = 1
    """A device's newer subscription replaces its oldest (a browser re-subscribing after pushsubscriptionchange)."""
    push_subscriptions_per_user: Annotated[int, msgspec.Meta(ge=1)] = 20
    """Beyond this, a new subscription replaces the user's least recently subscribed one."""
    push_sends_per_user: Annotated[int, msgspec.Meta(ge=1)] = 10
    """Messages to one user's endpoints in flight at once (per process); the rest wait their turn."""
    push_max_in_flight: Annotated[int, msgspec.Meta(ge=1)] = 200
    """Messages in flight at once, all users together (per process)."""
    push_test_burst: Annotated[int, msgspec.Meta(ge=1)] = 5
    """Test messages (POST /api/push/test) a user may ask for at once, per process ..."""
    push_test_refill_seconds: Annotated[float, msgspec.Meta(ge=1)] = 60.0
    """... and then one more each this many seconds (429 with Retry-After before that)."""
    behind_https: bool = False
    """Set when a TLS-terminating proxy is in front: adds HSTS."""
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 1024 * 1024
    max_streams: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    """Live-update streams one process holds; past it GET /api/events answers 503 with Retry-After."""
    streams_per_device: Annotated[int, msgspec.Meta(ge=1)] = 5
    """Open streams per device; a new one past it closes the device's oldest."""
    header_timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    """Seconds a request's line and headers may take to arrive, from the connection (or the request's first byte)."""
    body_timeout: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    """Seconds a request's body may take to arrive once its headers have: 408 (or the connection cut) after."""
    database_pool_size: Annotated[int, msgspec.Meta(ge=1)] = 10
    database_max_overflow: Annotated[int, msgspec.Meta(ge=0)] = 10
    database_pool_mode: Literal["session", "transaction"] = "session"
    """`transaction` when KEEPTABS_DATABASE_URL goes through a pooler in transaction mode (PgBouncer)."""
    direct_database_url: str = ""
    """PostgreSQL reached without a pooler, for live updates' LISTEN; required with database_pool_mode=transaction."""
    trusted_proxies: str = "127.0.0.1,::1"
    """Comma-separated addresses or networks (CIDR) of reverse proxies: only a request whose socket peer is one of
    them has its client address read from X-Forwarded-For (the right-most hop that is not itself trusted)."""
    login_failures_per_address: Annotated[int, msgspec.Meta(ge=1)] = 5
    """Failed sign-ins per email from one client address in 15 minutes; more are 429."""
    login_failures_per_email: Annotated[int, msgspec.Meta(ge=1)] = 50
    """Failed sign-ins per email from all addresses together in an hour; more are 429."""
    password_hash_workers: Annotated[int, msgspec.Meta(ge=0)] = 0
    """Threads that hash and verify passwords (argon2id, ~0.2 s of one core each); 0 means half the cores."""
    password_hash_queue: Annotated[int, msgspec.Meta(ge=0)] = 32
    """Sign-ins and registrations that may wait for a hashing thread; beyond that: 503 with Retry-After."""
    blob_store: Literal["disk", "s3"] = "disk"
    """Where photos go: files under blob_dir, or an S3-compatible bucket (several processes on several machines)."""
    blob_dir: str = ""
    """Empty means `blobs` in data_dir."""
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    """Empty means AWS; e.g. `https://minio.example.org:9000` for another S3-compatible store."""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    """Empty (with the secret) means boto3's own chain: AWS_* variables, ~/.aws, an instance role."""
    s3_secret_access_key: str = ""
    s3_prefix: str = ""
    """Prepended to every object key, to share a bucket with something else."""
    blob_quota_bytes: Annotated[int, msgspec.Meta(ge=0)] = 1024**3
    """Photos one user may keep, in bytes (the sum of their sizes)."""
    blob_max_bytes: Annotated[int, msgspec.Meta(ge=1024, le=MAX_BLOB_CEILING)] = 10 * 1024**2
    """The largest photo accepted (413 above)."""
    ocr: bool = True
    """`0` turns off reading the text in photos (also off, with a log line, when tesseract is not installed)."""
    ocr_timeout: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    """Seconds one photo's OCR may take before it is given up."""
    share_ttl_hours: Annotated[float, msgspec.Meta(gt=0)] = 24.0
    """How long a share received before the app was installed waits to be claimed by a signed-in device."""
    share_storage_bytes: Annotated[int, msgspec.Meta(ge=0)] = 512 * 1024**2
    """The photos every unclaimed share may hold together (POST /share answers 503 past it)."""

    def __post_init__(self) -> None:
        if self.database_pool_mode == "transaction" and not (self.is_postgres and self.direct_database_url):
            raise ValueError(
                "KEEPTABS_DATABASE_POOL_MODE=transaction needs PostgreSQL and KEEPTABS_DIRECT_DATABASE_URL"
                " (LISTEN cannot go through a pooler in transaction mode)"
            )
        for item in self.trusted_proxy_list:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{PREFIX}TRUSTED_PROXIES: {item!r} is not an IP address or network") from None
        if self.blob_store == "s3" and not self.s3_bucket:
            raise ValueError("KEEPTABS_BLOB_STORE=s3 needs KEEPTABS_S3_BUCKET")

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @property
    def blob_path(self) -> Path:
        return Path(self.blob_dir).expanduser().resolve() if self.blob_dir else self.data_path / "blobs"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_path / 'keeptabs.db'}"

    @property
    def is_postgres(self) -> bool:
        return self.resolved_database_url.startswith("postgresql")

    @property
    def listen_database_url(self) -> str:
        return self.direct_database_url or self.resolved_database_url

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [item.strip() for item in self.trusted_proxies.split(",") if item.strip()]

    @property
    def hash_workers(self) -> int:
        return self.password_hash_workers or max(1, (os.cpu_count() or 2) // 2)


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    fields = set(Settings.__struct_fields__)
    raw = {k[len(PREFIX) :].lower(): v for k, v in env.items() if k.startswith(PREFIX)}
    known = {k: v for k, v in raw.items() if k in fields}
    try:
        return msgspec.convert(known, Settings, strict=False)
    except msgspec.ValidationError as exc:
        # msgspec says "... - at `$.push_ttl`"; name the environment variable instead.
        message, _, where = str(exc).partition(" - at `$.")
        key = where.rstrip("`")
        if not key and message.startswith(PREFIX):  # a check across the whole Struct names its variable itself
            raise SettingsError(message) from exc
        name = f"{PREFIX}{key.upper()}" if key else "KEEPTABS_*"
        raise SettingsError(f"{name}: {message}") from exc
