"""The photo settings: read from KEEPTABS_* variables, bad values named."""

from __future__ import annotations

import pytest

from server.config import MAX_BLOB_CEILING, SettingsError, load_settings


def test_photo_settings_are_read() -> None:
    settings = load_settings(
        {
            "KEEPTABS_DATA_DIR": "/srv/kt",
            "KEEPTABS_BLOB_STORE": "s3",
            "KEEPTABS_S3_BUCKET": "photos",
            "KEEPTABS_S3_ENDPOINT_URL": "https://minio.example.org:9000",
            "KEEPTABS_BLOB_QUOTA_BYTES": "2000000",
            "KEEPTABS_OCR": "0",
        }
    )
    assert (settings.blob_store, settings.s3_bucket, settings.blob_quota_bytes) == ("s3", "photos", 2_000_000)
    assert settings.s3_endpoint_url == "https://minio.example.org:9000" and settings.ocr is False
    assert str(load_settings({"KEEPTABS_DATA_DIR": "/srv/kt"}).blob_path) == "/srv/kt/blobs"


@pytest.mark.parametrize(
    "env, name",
    [
        ({"KEEPTABS_BLOB_STORE": "ftp"}, "KEEPTABS_BLOB_STORE"),
        ({"KEEPTABS_BLOB_MAX_BYTES": str(MAX_BLOB_CEILING + 1)}, "KEEPTABS_BLOB_MAX_BYTES"),
        ({"KEEPTABS_BLOB_QUOTA_BYTES": "-1"}, "KEEPTABS_BLOB_QUOTA_BYTES"),
        ({"KEEPTABS_OCR_TIMEOUT": "0"}, "KEEPTABS_OCR_TIMEOUT"),
        ({"KEEPTABS_BLOB_STORE": "s3"}, "KEEPTABS_S3_BUCKET"),
    ],
)
def test_a_bad_photo_setting_names_its_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(env)
