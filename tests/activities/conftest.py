"""Fixtures for the activity tests: the SendGrid double and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.config import Settings
from tests.doubles.sendgrid_api import TEST_API_KEY, SendGridDouble, serve


@pytest.fixture
def sendgrid_api() -> Iterator[SendGridDouble]:
    """A fresh SendGrid double per test, expecting ``TEST_API_KEY``."""
    yield from serve()


@pytest.fixture
def sendgrid_settings(tmp_path: Path, sendgrid_api: SendGridDouble) -> Settings:
    """What ``Settings.from_env`` gives with ``SENDGRID_API_KEY`` and
    ``SENDGRID_API_BASE`` pointing at the double."""
    return Settings.from_env(
        {
            "ORDERS_OUTBOX_DIR": str(tmp_path / "outbox"),
            "ORDERS_WEB_BASE_URL": "https://orders.example.com",
            "ORDERS_OPS_EMAIL": "ops@example.com",
            "ORDERS_SUPPORT_EMAIL": "help@example.com",
            "ORDERS_REPLY_TO": "replies@example.com",
            "SENDGRID_API_KEY": TEST_API_KEY,
            "SENDGRID_API_BASE": sendgrid_api.url,
            "SENDGRID_TIMEOUT": "5",
        }
    )
