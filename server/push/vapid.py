"""VAPID keys (RFC 8292): taken from the settings, or made on first start and kept in the data directory."""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.config import Settings

KEY_FILE = "vapid_private.pem"


class VapidKeyError(ValueError):
    """The configured or stored VAPID key cannot be used; the message says which one."""


@dataclass(frozen=True)
class VapidKeys:
    private_pem: bytes
    public_pem: bytes
    application_server_key: str
    """The public key as browsers take it in `pushManager.subscribe()`: uncompressed P-256 point, base64url."""


def load_or_create_keys(settings: Settings) -> VapidKeys:
    """Keys from KEEPTABS_VAPID_PRIVATE_KEY when set, else from (or newly into) `<data_dir>/vapid_private.pem`."""
    if settings.vapid_private_key.strip():
        keys = keys_from_private_pem(_pem(settings.vapid_private_key), source="KEEPTABS_VAPID_PRIVATE_KEY")
        _check_public_key(keys, settings.vapid_public_key)
        return keys
    path = settings.data_path / KEY_FILE
    if not path.exists():
        _create_key_file(path)
    return keys_from_private_pem(path.read_bytes(), source=str(path))


def _pem(text: str) -> bytes:
    # Environment variables often carry a PEM on one line, with a literal backslash-n for each line break.
    return text.strip().replace("\\n", "\n").encode()


def _check_public_key(keys: VapidKeys, given: str) -> None:
    """A public key set beside the private one must be its pair (PEM or applicationServerKey form)."""
    if not given.strip():
        return
    if given.strip() == keys.application_server_key:
        return
    try:
        public_key = serialization.load_pem_public_key(_pem(given))
    except (ValueError, TypeError) as exc:
        raise VapidKeyError(f"KEEPTABS_VAPID_PUBLIC_KEY: not a PEM public key ({exc})") from exc
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    if pem != keys.public_pem:
        raise VapidKeyError("KEEPTABS_VAPID_PUBLIC_KEY does not belong to KEEPTABS_VAPID_PRIVATE_KEY")


def keys_from_private_pem(pem: bytes, source: str = "key") -> VapidKeys:
    try:
        private_key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise VapidKeyError(f"{source}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(private_key.curve, ec.SECP256R1):
        raise VapidKeyError(f"{source}: VAPID needs an EC P-256 (prime256v1) key")
    return _keys_from(private_key)


def generate_keys() -> VapidKeys:
    return _keys_from(ec.generate_private_key(ec.SECP256R1()))


def _keys_from(private_key: ec.EllipticCurvePrivateKey) -> VapidKeys:
    public_key = private_key.public_key()
    point = public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return VapidKeys(
        private_pem=private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        public_pem=public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        application_server_key=base64.urlsafe_b64encode(point).rstrip(b"=").decode(),
    )


def _create_key_file(path: Path) -> None:
    """Write a new key so that it is never readable by others and two processes starting at once agree on one key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vapid-", suffix=".tmp")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(generate_keys().private_pem)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o600)
        # link() fails if another process created the key first; then its key wins and ours is dropped.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
