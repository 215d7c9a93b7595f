"""`keeptabs serve | migrate | vapid`."""

from __future__ import annotations

import argparse
import copy
import sys
from typing import Any

from server.config import Settings, SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="keeptabs", description="KeepTabs server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="migrate the database, then serve the API and the PWA")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="processes (use PostgreSQL when more than one)")
    commands.add_parser("migrate", help="create or migrate the database, then exit")
    commands.add_parser("vapid", help="print the VAPID public key (applicationServerKey), making keys if needed")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"keeptabs: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, args.host, args.port, args.workers)
    if args.command == "migrate":
        _migrate(settings)
        return 0
    return _print_vapid(settings)


def _migrate(settings: Settings) -> None:
    from server.migrate import upgrade

    upgrade(settings)


def _serve(settings: Settings, host: str, port: int, workers: int) -> int:
    import uvicorn

    if workers > 1 and not settings.is_postgres:
        print("keeptabs: several workers need PostgreSQL (KEEPTABS_DATABASE_URL)", file=sys.stderr)
        return 2
    _migrate(settings)
    uvicorn.run(
        "server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxy_list,  # X-Forwarded-For/-Proto believed only from these peers
        timeout_graceful_shutdown=5,
        http="server.deadlines:DeadlineProtocol",  # headers and bodies that arrive too slowly are cut
        log_config=_log_config(),
    )
    return 0


def _log_config() -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": "server.hygiene.RedactTokens"}
    config["handlers"]["access"]["filters"] = ["redact_tokens"]
    return config


def _print_vapid(settings: Settings) -> int:
    from server.push.vapid import VapidKeyError, load_or_create_keys

    try:
        print(load_or_create_keys(settings).application_server_key)
    except VapidKeyError as exc:
        print(f"keeptabs: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
