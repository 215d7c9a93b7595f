"""Access logs never show a token."""

from __future__ import annotations

import logging

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
