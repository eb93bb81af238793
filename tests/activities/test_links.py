"""Signed action links: tokens, their rejections, and the links in rendered emails."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from activities.config import ConfigError, Settings
from activities.email import EmailActivities, OutboxBackend, render
from activities.links import (
    ExpiredLink,
    InvalidLink,
    LinkClaims,
    LinkSigner,
    LinkSigningDisabled,
    MalformedLink,
    TamperedLink,
    WrongActionLink,
    WrongOrderLink,
    sign_link,
    verify_link,
)
from tests.activities.email_samples import ORDER_ID, sample_context, sample_request
from workflows import names
from workflows.models import MessageKind

SECRET = "test-link-secret-0123456789"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 10, 14, 5, tzinfo=UTC)


def token(order_id: str = "42", action: str = "confirmation", version: int | None = 2) -> str:
    return sign_link(SECRET, order_id, action, version, LATER)


def test_a_valid_token_gives_its_claims() -> None:
    claims = verify_link(SECRET, token(), now=NOW, order_id="42", action=names.APPROVE, version=2)
    assert claims == LinkClaims(order_id="42", action="confirmation", version=2, expires_at=LATER)
    assert claims.allows(names.APPROVE) and claims.allows(names.REQUEST_CHANGES)
    assert not claims.allows(names.ACCEPT)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token()), "url-safe, no padding"


def test_a_link_without_a_version() -> None:
    claims = verify_link(SECRET, token(action="support", version=None), now=NOW, order_id="42")
    assert claims.version is None and claims.allows(names.REQUEST_SUPPORT)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), id="signature"),
        pytest.param(
            lambda t: sign_link(SECRET, "43", "confirmation", 2, LATER).split(".")[0] + "." + t.split(".")[1],
            id="payload-swapped",
        ),
        pytest.param(lambda t: sign_link("another-secret-0123456789", "42", "confirmation", 2, LATER), id="other-key"),
    ],
)
def test_a_tampered_token_is_rejected(tamper: object) -> None:
    assert callable(tamper)
    with pytest.raises(TamperedLink) as caught:
        verify_link(SECRET, tamper(token()), now=NOW)
    assert caught.value.reason == "tampered"


def test_an_expired_token_is_rejected() -> None:
    with pytest.raises(ExpiredLink) as caught:
        verify_link(SECRET, token(), now=LATER + timedelta(seconds=1))
    assert caught.value.reason == "expired"
    with pytest.raises(ExpiredLink):
        verify_link(SECRET, token(), now=LATER)


def test_a_token_replayed_for_another_order_is_rejected() -> None:
    with pytest.raises(WrongOrderLink) as caught:
        verify_link(SECRET, token("42"), now=NOW, order_id="4")
    assert caught.value.reason == "replayed-for-another-order"


def test_a_token_for_another_action_or_version_is_rejected() -> None:
    with pytest.raises(WrongActionLink):
        verify_link(SECRET, token(), now=NOW, order_id="42", action=names.ACCEPT)
    with pytest.raises(WrongActionLink):
        verify_link(SECRET, token(), now=NOW, order_id="42", action=names.APPROVE, version=1)


@pytest.mark.parametrize(
    "bad",
    ["", "no-dot-at-all", "a.b.c", "x" * 3000 + ".y", "%%%.^^^"],
)
def test_a_malformed_token_is_rejected(bad: str) -> None:
    with pytest.raises(InvalidLink) as caught:
        verify_link(SECRET, bad, now=NOW)
    assert isinstance(caught.value, MalformedLink | TamperedLink)


def test_a_signed_but_garbled_payload_is_malformed() -> None:
    import base64
    import hashlib
    import hmac

    payload = b"42\nconfirmation\nnot-a-number\n1"
    mac = hmac.new(SECRET.encode(), b"orders-link-v1\x00" + payload, hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    with pytest.raises(MalformedLink):
        verify_link(SECRET, f"{b64(payload)}.{b64(mac)}", now=NOW)


def test_without_a_secret_nothing_verifies() -> None:
    with pytest.raises(LinkSigningDisabled):
        verify_link("", token(), now=NOW)
    assert LinkSigner(None).sign("42", "pay", 1, LATER) is None
    assert SECRET not in repr(LinkSigner(SECRET))


def test_the_secret_comes_from_the_environment_and_stays_out_of_repr() -> None:
    settings = Settings.from_env({"ORDERS_LINK_SECRET": SECRET})
    assert settings.link_secret == SECRET
    assert SECRET not in repr(settings)
    assert Settings.from_env({}).link_secret is None
    with pytest.raises(ConfigError, match="ORDERS_LINK_SECRET"):
        Settings.from_env({"ORDERS_LINK_SECRET": "short"})


def _links(text: str) -> list[str]:
    return re.findall(r"https?://\S+/orders/\S+", text)


def _token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def test_the_confirmation_email_carries_a_token_that_verifies(tmp_path: Path) -> None:
    settings = replace(Settings(), outbox_dir=tmp_path, link_secret=SECRET, web_base_url="https://shop.example.com")
    outgoing = EmailActivities(settings, OutboxBackend(tmp_path)).compose(
        sample_request(MessageKind.CONFIRMATION_ISSUED)
    )
    (url,) = {u for u in _links(outgoing.text)}
    assert url.startswith(f"https://shop.example.com/orders/{ORDER_ID}/confirmation/2?token=")
    claims = verify_link(SECRET, _token_of(url), now=NOW, order_id=ORDER_ID, action=names.APPROVE, version=2)
    assert claims.expires_at == datetime(2026, 12, 10, 14, 5, tzinfo=UTC)  # the confirmation's expiry
    assert _token_of(url) in outgoing.html
    # The signer is for rendering only: never in a provider's template data.
    assert not any("link" in key for key in outgoing.template_data)


@pytest.mark.parametrize(
    ("kind", "page", "expiry_key"),
    [
        (MessageKind.PAYMENT_REQUESTED, "pay", "cancel_at"),
        (MessageKind.DELIVERED, "delivery", "review_ends_at"),
        (MessageKind.ACCEPTANCE_REMINDER, "delivery", "review_ends_at"),
    ],
)
def test_pay_and_delivery_links_are_signed_until_their_deadline(kind: MessageKind, page: str, expiry_key: str) -> None:
    settings = replace(Settings(), link_secret=SECRET)
    context = sample_context(kind)
    if page == "pay":
        context["methods"] = ["card", *context["methods"]]  # the pay page is where a card is paid
    (url,) = {u for u in _links(render(kind, context, settings).text) if f"/{page}" in u}
    claims = verify_link(SECRET, _token_of(url), now=NOW, order_id=ORDER_ID)
    assert claims.action == page
    # A payment link lives until the order would be cancelled, else until the due date.
    expected = context.get(expiry_key) or context["due_at"]
    assert claims.expires_at == datetime.fromisoformat(expected.replace("Z", "+00:00"))


def test_without_a_secret_links_are_plain() -> None:
    text = render(MessageKind.CONFIRMATION_ISSUED, sample_context(MessageKind.CONFIRMATION_ISSUED), Settings()).text
    assert _links(text) == [f"http://localhost:8000/orders/{ORDER_ID}/confirmation/2"]
