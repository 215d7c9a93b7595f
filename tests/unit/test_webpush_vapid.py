"""VAPID keys: made once into the data directory (0600), or taken from the settings."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.config import Settings
from server.push.vapid import KEY_FILE, VapidKeyError, generate_keys, load_or_create_keys


def test_keys_are_made_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path / "data"))
    first = load_or_create_keys(settings)
    path = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_keys(settings) == first
    assert list(path.parent.iterdir()) == [path]  # no temporary files left behind


def test_application_server_key_is_an_uncompressed_p256_point(tmp_path: Path) -> None:
    keys = load_or_create_keys(Settings(data_dir=str(tmp_path)))
    raw = base64.urlsafe_b64decode(keys.application_server_key + "=" * (-len(keys.application_server_key) % 4))
    assert len(raw) == 65 and raw[0] == 4
    assert "=" not in keys.application_server_key
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


def test_keys_from_settings_win_and_write_nothing(tmp_path: Path) -> None:
    given = generate_keys()
    one_line = given.private_pem.decode().replace("\n", "\\n")
    settings = Settings(data_dir=str(tmp_path), vapid_private_key=one_line, vapid_public_key=given.public_pem.decode())
    assert load_or_create_keys(settings) == given
    assert not (tmp_path / KEY_FILE).exists()
    settings = Settings(
        data_dir=str(tmp_path), vapid_private_key=one_line, vapid_public_key=given.application_server_key
    )
    assert load_or_create_keys(settings) == given


@pytest.mark.parametrize(
    ("private", "public", "message"),
    [
        ("not a key", "", "not an unencrypted PEM"),
        ("ed25519", "", "P-256"),
        ("ok", "mismatch", "does not belong"),
        ("ok", "garbage", "not a PEM public key"),
    ],
)
def test_unusable_keys_are_named(tmp_path: Path, private: str, public: str, message: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pems = {
        "ok": generate_keys().private_pem.decode(),
        "ed25519": ed25519.Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode(),
    }
    publics = {"": "", "mismatch": generate_keys().public_pem.decode(), "garbage": "-----BEGIN nonsense"}
    settings = Settings(
        data_dir=str(tmp_path), vapid_private_key=pems.get(private, private), vapid_public_key=publics[public]
    )
    with pytest.raises(VapidKeyError, match=message):
        load_or_create_keys(settings)
