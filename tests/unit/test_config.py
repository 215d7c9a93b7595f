"""Settings come from KEEPTABS_* variables, once; a bad value names its variable."""

from __future__ import annotations

import pytest

from server.config import Settings, SettingsError, load_settings


def test_defaults_use_a_sqlite_file_in_the_data_dir() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.resolved_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.resolved_database_url.endswith("/var/keeptabs.db")
    assert not settings.is_postgres


def test_values_are_read_from_the_environment() -> None:
    settings = load_settings(
        {
            "KEEPTABS_DATABASE_URL": "postgresql+asyncpg://u@db/kt",
            "KEEPTABS_OPEN_REGISTRATION": "0",
            "KEEPTABS_PUSH_ALLOW_LOOPBACK": "1",
            "KEEPTABS_PUSH_TTL": "7200",
            "KEEPTABS_UNRELATED": "ignored",
            "OTHER": "ignored",
        }
    )
    assert settings.is_postgres and settings.resolved_database_url == "postgresql+asyncpg://u@db/kt"
    assert settings.open_registration is False
    assert settings.push_allow_loopback is True
    assert settings.push_ttl == 7200


@pytest.mark.parametrize(
    ("env", "name"),
    [({"KEEPTABS_PUSH_TTL": "60"}, "KEEPTABS_PUSH_TTL"), ({"KEEPTABS_BEHIND_HTTPS": "maybe"}, "KEEPTABS_BEHIND_HTTPS")],
)
def test_a_bad_value_names_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(env)


@pytest.mark.parametrize(
    "env",
    [
        {"KEEPTABS_DATABASE_POOL_MODE": "transaction"},  # SQLite
        {
            "KEEPTABS_DATABASE_URL": "postgresql+asyncpg://u@pgbouncer:6432/kt",
            "KEEPTABS_DATABASE_POOL_MODE": "transaction",
        },
    ],
)
def test_transaction_pooling_needs_a_direct_url_for_live_updates(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="KEEPTABS_DIRECT_DATABASE_URL"):
        load_settings(env)


def test_behind_pgbouncer_live_updates_use_the_direct_url() -> None:
    settings = load_settings(
        {
            "KEEPTABS_DATABASE_URL": "postgresql+asyncpg://u@pgbouncer:6432/kt",
            "KEEPTABS_DATABASE_POOL_MODE": "transaction",
            "KEEPTABS_DIRECT_DATABASE_URL": "postgresql+asyncpg://u@db:5432/kt",
        }
    )
    assert settings.listen_database_url == "postgresql+asyncpg://u@db:5432/kt"
    assert load_settings({"KEEPTABS_DATABASE_URL": "postgresql+asyncpg://u@db/kt"}).listen_database_url.endswith(
        "db/kt"
    )


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"KEEPTABS_MAX_STREAMS": "0"}, "KEEPTABS_MAX_STREAMS"),
        ({"KEEPTABS_HEADER_TIMEOUT": "0"}, "KEEPTABS_HEADER_TIMEOUT"),
        ({"KEEPTABS_DATABASE_POOL_MODE": "statement"}, "KEEPTABS_DATABASE_POOL_MODE"),
    ],
)
def test_bad_limits_name_their_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(env)
