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
from ordersecurity.links import (
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
    (url,) = {u for u in _links(outgoing.text) if "/confirmation/" in u}
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
    assert _links(text) == [
        f"http://localhost:8000/orders/{ORDER_ID}/confirmation/2",
        f"http://localhost:8000/orders/{ORDER_ID}",  # the overview, in the footer
    ]


# --------------------------------------------------------------------------
# The action is always checked
# --------------------------------------------------------------------------


def _signed_payload(payload: bytes) -> str:
    """A token for any payload, signed with the right key (what a future or buggy signer could issue)."""
    import base64
    import hashlib
    import hmac

    mac = hmac.new(SECRET.encode(), b"orders-link-v1\x00" + payload, hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return f"{b64(payload)}.{b64(mac)}"


def test_without_an_action_the_page_must_still_be_a_known_one() -> None:
    # Yesterday action=None skipped the check: any signed page was accepted.
    unknown = sign_link(SECRET, "42", "admin", None, LATER)
    with pytest.raises(WrongActionLink):
        verify_link(SECRET, unknown, now=NOW, order_id="42")
    with pytest.raises(WrongActionLink):
        verify_link(SECRET, unknown, now=NOW, order_id="42", action="admin")
    # A known page opens, and says which it is; its actions are checked when the customer picks one.
    claims = verify_link(SECRET, token(action="delivery", version=3), now=NOW, order_id="42")
    assert (claims.action, claims.version) == ("delivery", 3)


def test_an_unknown_action_name_is_refused_even_for_a_known_page() -> None:
    with pytest.raises(WrongActionLink):
        verify_link(SECRET, token(), now=NOW, order_id="42", action="aprove")


def test_a_delivery_link_is_bound_to_its_round() -> None:
    round_1 = token(action="delivery", version=1)
    claims = verify_link(SECRET, round_1, now=NOW, order_id="42", action=names.ACCEPT)
    assert claims.version == 1  # the backend sends AcceptInput(round=claims.version)
    with pytest.raises(WrongActionLink):
        verify_link(SECRET, round_1, now=NOW, order_id="42", action=names.ACCEPT, version=2)


def test_the_delivery_email_links_carry_the_round() -> None:
    settings = replace(Settings(), link_secret=SECRET)
    for kind in (MessageKind.DELIVERED, MessageKind.ACCEPTANCE_REMINDER):
        context = sample_context(kind)
        round_number = context["delivery"]["round"]
        (url,) = {u for u in _links(render(kind, context, settings).text) if "/delivery" in u}
        assert f"/delivery/{round_number}?token=" in url
        claims = verify_link(SECRET, _token_of(url), now=NOW, order_id=ORDER_ID, action=names.REQUEST_REVISION)
        assert claims.version == round_number


# --------------------------------------------------------------------------
# Request ids for a link's forms
# --------------------------------------------------------------------------


def test_a_double_click_is_one_request_and_a_second_attempt_another() -> None:
    from ordersecurity.links import form_nonce, link_request_id

    pay = token(action="pay", version=None)
    first_form, second_form = form_nonce(), form_nonce()
    assert first_form != second_form
    double_click = {link_request_id(pay, first_form), link_request_id(pay, first_form)}
    assert len(double_click) == 1
    # The pay link is the same for every attempt: a second card after a decline is a new request.
    assert link_request_id(pay, second_form) not in double_click
    # Another order's link with the same nonce is another request too.
    assert link_request_id(token("43", "pay", None), first_form) not in double_click
    request_id = link_request_id(pay, first_form)
    assert re.fullmatch(r"link-[0-9a-f]{32}", request_id)
    for token_text, nonce in ((pay, ""), ("", first_form), (pay, "two words")):
        with pytest.raises(ValueError):
            link_request_id(token_text, nonce)


# --------------------------------------------------------------------------
# The card-authentication link
# --------------------------------------------------------------------------

STRIPE_3DS = "https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent=pi_3Q&publishable_key=pk"


def _declined_context() -> dict[str, object]:
    context = sample_context(MessageKind.PAYMENT_DECLINED)
    context.update(requires_action=True, hosted_url=STRIPE_3DS)
    return context


def test_the_authentication_link_is_signed_and_carries_stripes_address() -> None:
    from ordersecurity.links import AUTHENTICATE

    settings = replace(Settings(), link_secret=SECRET, web_base_url="https://shop.example.com")
    rendered = render(MessageKind.PAYMENT_DECLINED, _declined_context(), settings)
    assert STRIPE_3DS not in rendered.text and STRIPE_3DS not in rendered.html
    (url,) = {u for u in _links(rendered.text) if "/authenticate" in u}
    assert url.startswith(f"https://shop.example.com/orders/{ORDER_ID}/authenticate?token=")
    assert _token_of(url) in rendered.html
    claims = verify_link(SECRET, _token_of(url), now=NOW, order_id=ORDER_ID, action=AUTHENTICATE)
    assert claims.target == STRIPE_3DS  # where the backend redirects
    # It opens nothing else.
    for action in (names.PROVIDE_PAYMENT_METHOD, names.ACCEPT):
        with pytest.raises(WrongActionLink):
            verify_link(SECRET, _token_of(url), now=NOW, order_id=ORDER_ID, action=action)


def test_without_a_secret_the_authentication_link_is_stripes() -> None:
    rendered = render(MessageKind.PAYMENT_DECLINED, _declined_context(), Settings())
    assert STRIPE_3DS in rendered.text


def test_an_authentication_target_cannot_be_forged_or_left_out() -> None:
    from ordersecurity.links import AUTHENTICATE

    with pytest.raises(ValueError):
        sign_link(SECRET, "42", AUTHENTICATE, None, LATER)  # no target
    with pytest.raises(ValueError):
        sign_link(SECRET, "42", "pay", None, LATER, target=STRIPE_3DS)  # a target on another page
    with pytest.raises(ValueError):
        sign_link(SECRET, "42", AUTHENTICATE, None, LATER, target="javascript:alert(1)")
    signed = sign_link(SECRET, "42", AUTHENTICATE, None, LATER, target=STRIPE_3DS)
    mac = signed.split(".")[1]
    evil = sign_link(SECRET, "42", AUTHENTICATE, None, LATER, target="https://evil.example/")
    with pytest.raises(TamperedLink):
        verify_link(SECRET, f"{evil.split('.')[0]}.{mac}", now=NOW, order_id="42", action=AUTHENTICATE)
    # Even correctly signed, an authenticate page without an address, or with a bad one, is refused.
    for bad in (b"42\nauthenticate\n\n1893456000", b"42\nauthenticate\n\n1893456000\nftp://x"):
        with pytest.raises(MalformedLink):
            verify_link(SECRET, _signed_payload(bad), now=NOW, order_id="42")
