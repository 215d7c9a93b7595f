"""Access logs never show a token."""

from __future__ import annotations

import logging

import pytest

from server.hygiene import RedactTokens


def test_tokens_in_query_strings_are_redacted() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/events?token=s3cr3t-value&x=1", "1.1", 200),
        None,
    )
    assert RedactTokens().filter(record)
    line = record.getMessage()
    assert "s3cr3t" not in line and "token=[redacted]&x=1" in line


def access_line(path: str) -> str:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", path, "1.1", 200),
        None,
    )
    assert RedactTokens().filter(record)
    return record.getMessage()


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("/api/events?tok%65n=s3cr3t", "/api/events?tok%65n=[redacted]"),  # decodes to `token`
        ("/api/events?x=1&%74%6F%6B%65%6E=s3cr3t", "/api/events?x=1&%74%6F%6B%65%6E=[redacted]"),
        ("/api/events?tok%2565n=s3cr3t", "/api/events?tok%2565n=[redacted]"),  # encoded twice
        ("/api/events?TOKEN=s3cr3t;y=2", "/api/events?TOKEN=[redacted];y=2"),
        ("/api/events?access_token=s3cr3t", "/api/events?access_token=[redacted]"),
        ("/api/events%3Ftoken%3Ds3cr3t", "/api/events?[redacted]"),  # the separators themselves encoded
        ("/api/events%253Ftoken%253Ds3cr3t", "/api/events?[redacted]"),
        ("/tok%65n%3Ds3cr3t", "[redacted]"),
    ],
)
def test_encoded_token_names_are_redacted_too(path: str, kept: str) -> None:
    line = access_line(path)
    assert "s3cr3t" not in line
    assert f'"GET {kept} HTTP/1.1"' in line


@pytest.mark.parametrize("path", ["/api/sync", "/api/events?x=1&y=token", "/static/v1/app.js?v=2", "/a?token="])
def test_lines_without_a_token_are_left_alone(path: str) -> None:
    assert f'"GET {path} HTTP/1.1"' in access_line(path)
