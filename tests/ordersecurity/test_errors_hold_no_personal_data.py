"""Errors reach worker logs and Temporal's failure records: they name orders, never customers."""

from __future__ import annotations

import json

from activities.sendgrid_backend import error_details


def test_sendgrid_error_details_never_quote_an_email_address() -> None:
    body = json.dumps(
        {"errors": [{"message": "Invalid address zelda.quince@example.org in to", "field": "personalizations.0.to"}]}
    ).encode()
    details = error_details(body)
    assert "zelda" not in details and "example.org" not in details
    assert "<email address>" in details and "personalizations.0.to" in details
