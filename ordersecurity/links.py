"""Signed, expiring action links for customer emails.

A call to action in an email ("approve or request changes", "pay now",
"accept the delivery") points at the company's web backend with a token:

    https://shop.example.com/orders/42/confirmation/2?token=<token>

The token is an HMAC-SHA256, keyed with ``ORDERS_LINK_SECRET``, over the order
id, the link's action, the version (confirmation version, delivery round) and
the expiry. The web backend verifies it (``OrderClient.verify_link``) and then
sends the matching update, so a click needs no login of its own. A token for
another order, another action, a tampered one or an expired one is refused.

Without ``ORDERS_LINK_SECRET`` the emails carry plain, unsigned links and the
web backend must authenticate the customer itself.

Two more rules keep links from doing too much or too little:

- A delivery link is signed for its delivery round (the version), and the
  backend passes that round on (``AcceptInput(round=...)``): a link from an
  older delivery cannot accept a newer one.
- A link is clicked more than once on purpose (a second card after a decline,
  a second support request), so its token alone is not a request id. The
  backend renders a fresh ``form_nonce()`` into each form it shows and sends
  ``link_request_id(token, nonce)``: a double click (the same form posted
  twice) is applied once, and a second real attempt gets a new id.

The card-authentication (3D Secure) address from Stripe reaches the customer
as a signed ``/orders/{id}/authenticate?token=...`` link that carries the
Stripe address in the signed payload; the backend verifies it and redirects
to ``LinkClaims.target``.

This module imports only the standard library, so web backends load it cheaply.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from workflows.action_registry import link_actions

SECRET_ENV: Final = "ORDERS_LINK_SECRET"

# A link opens a page of the order; the page offers one or more actions.
# Keys are the link actions signed into tokens, values the action names the
# page may send on the customer's behalf: those whose ``link_page`` in the
# action registry is that page.
LINK_ACTIONS: Final[dict[str, frozenset[str]]] = {
    **{page: link_actions(page) for page in ("confirmation", "pay", "delivery", "support")},
    # The read-only overview, linked from every customer email: it offers no action.
    "order": frozenset(),
    # The order's evidence certificate (PDF), linked from the approval's email: it offers no action.
    "evidence": frozenset(),
    # Not an order action: the page redirects to the signed Stripe address.
    "authenticate": frozenset({"authenticate"}),
}

OVERVIEW: Final = "order"
"""The link action of the overview link in every customer email: it opens the overview and acts on nothing."""

AUTHENTICATE: Final = "authenticate"
"""The link action of the card-authentication link: ``verify_link(..., action=AUTHENTICATE)``."""

EVIDENCE: Final = "evidence"
"""The link action of the evidence certificate's link: it opens the PDF and acts on nothing."""

KNOWN_ACTIONS: Final = frozenset().union(*LINK_ACTIONS.values())
"""Every action name some link page offers."""

REQUEST_ID_PREFIX: Final = "link-"

_FORMAT: Final = b"orders-link-v1"
_SEPARATOR: Final = "\n"


class InvalidLink(ValueError):
    """A link token that must not be acted on. ``reason`` is a stable code."""

    reason = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedLink(InvalidLink):
    reason = "malformed"


class TamperedLink(InvalidLink):
    reason = "tampered"


class ExpiredLink(InvalidLink):
    reason = "expired"


class WrongOrderLink(InvalidLink):
    """A valid token, replayed for another order."""

    reason = "replayed-for-another-order"


class WrongActionLink(InvalidLink):
    """A valid token used for an action its page does not offer, or another version."""

    reason = "wrong-action"


class LinkSigningDisabled(InvalidLink):
    """No secret is configured, so no token can be verified."""

    reason = "signing-disabled"


@dataclass(frozen=True)
class LinkClaims:
    order_id: str
    action: str
    """The page the link opens: a key of ``LINK_ACTIONS`` (``confirmation``, ``delivery``...)."""
    version: int | None
    """The confirmation version, or the delivery round, the link was sent for."""
    expires_at: datetime
    target: str | None = None
    """For an ``authenticate`` link: the Stripe address to redirect to (signed, so safe to follow)."""

    def allows(self, action_name: str) -> bool:
        """Whether the link's page may send ``action_name`` (``names.APPROVE``, ...)."""
        return action_name in LINK_ACTIONS.get(self.action, frozenset())


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise MalformedLink("the link token is not valid base64") from None


def _mac(secret: str, payload: bytes) -> bytes:
    if not secret:
        raise LinkSigningDisabled(f"link signing is off: set {SECRET_ENV}")
    return hmac.new(secret.encode("utf-8"), _FORMAT + b"\x00" + payload, hashlib.sha256).digest()


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _is_web_address(url: str) -> bool:
    return url.startswith(("https://", "http://")) and len(url) > 8 and not any(c.isspace() for c in url)


def sign_link(
    secret: str,
    order_id: str,
    action: str,
    version: int | None,
    expires_at: datetime,
    *,
    target: str | None = None,
) -> str:
    """A url-safe token binding the order, the action, the version, the expiry
    and, for an ``authenticate`` link, the http(s) address it redirects to."""
    for name, value in (("order_id", order_id), ("action", action)):
        if not value or _SEPARATOR in value:
            raise ValueError(f"{name} must be non-empty and on one line")
    if (action == AUTHENTICATE) != (target is not None):
        raise ValueError("an authenticate link, and only one, carries a target address")
    if target is not None and not _is_web_address(target):
        raise ValueError("the target must be an http(s) address")
    fields = [order_id, action, "" if version is None else str(int(version)), str(_epoch(expires_at))]
    if target is not None:
        fields.append(target)
    payload = _SEPARATOR.join(fields).encode("utf-8")
    return f"{_b64encode(payload)}.{_b64encode(_mac(secret, payload))}"


def verify_link(
    secret: str,
    token: str,
    *,
    now: datetime,
    order_id: str | None = None,
    action: str | None = None,
    version: int | None = None,
) -> LinkClaims:
    """The claims of a genuine, unexpired token, or ``InvalidLink`` saying why not.

    ``order_id`` (the order the request is about) and ``version`` are checked
    when given. The action is always checked: the token's page must be one
    this version of the code knows (``LINK_ACTIONS``), and ``action`` (an
    action name such as ``approve``), when given, must be one that page
    offers; an unknown action name is refused too. ``action=None`` is for
    opening the page: it returns the page in ``claims.action``, and the
    backend must verify again with the action the customer chose.
    """
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 2048:
        raise MalformedLink("the link token is malformed")
    encoded_payload, encoded_mac = token.split(".")
    payload, mac = _b64decode(encoded_payload), _b64decode(encoded_mac)
    # Authenticity first, in constant time: nothing of a forged payload is trusted.
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise TamperedLink("the link token's signature does not match")
    try:
        fields = payload.decode("utf-8").split(_SEPARATOR)
        if len(fields) not in (4, 5):
            raise ValueError("four or five fields")
        claimed_order, claimed_action, claimed_version, expiry = fields[:4]
        claims = LinkClaims(
            order_id=claimed_order,
            action=claimed_action,
            version=int(claimed_version) if claimed_version else None,
            expires_at=datetime.fromtimestamp(int(expiry), UTC),
            target=fields[4] if len(fields) == 5 else None,
        )
    except (UnicodeDecodeError, ValueError, OverflowError, OSError):
        raise MalformedLink("the link token's payload is malformed") from None
    # A page this code does not know offers nothing, whatever the caller asks.
    if claims.action not in LINK_ACTIONS:
        raise WrongActionLink(f"the link is for an unknown page {claims.action!r}")
    if (claims.action == AUTHENTICATE) != (claims.target is not None) or (
        claims.target is not None and not _is_web_address(claims.target)
    ):
        raise MalformedLink("the link token's target address is malformed")
    if _epoch(now) >= _epoch(claims.expires_at):
        raise ExpiredLink(f"the link expired at {claims.expires_at:%Y-%m-%d %H:%M} UTC")
    if order_id is not None and not hmac.compare_digest(claims.order_id.encode(), order_id.encode()):
        raise WrongOrderLink("the link was issued for another order")
    if action is not None and (action not in KNOWN_ACTIONS or not claims.allows(action)):
        raise WrongActionLink(f"the link does not allow {action}")
    if version is not None and claims.version != version:
        raise WrongActionLink(f"the link is for version {claims.version}, not {version}")
    return claims


class LinkSigner:
    """Signs links with a secret it never shows (not in ``repr``, not in templates)."""

    __slots__ = ("_secret",)

    def __init__(self, secret: str | None) -> None:
        self._secret = secret or None

    @property
    def enabled(self) -> bool:
        return self._secret is not None

    def sign(
        self, order_id: str, action: str, version: int | None, expires_at: datetime, *, target: str | None = None
    ) -> str | None:
        """A token, or None when signing is off (plain links)."""
        if self._secret is None:
            return None
        return sign_link(self._secret, order_id, action, version, expires_at, target=target)

    def __repr__(self) -> str:
        return f"LinkSigner(enabled={self.enabled})"


# --------------------------------------------------------------------------
# Request ids for the actions a link's form sends
# --------------------------------------------------------------------------

NONCE_BYTES: Final = 16


def form_nonce() -> str:
    """A fresh nonce for one rendering of a link's form (a hidden field).

    Render a new one each time the page is shown: the same form posted twice
    (a double click, a browser retry) carries the same nonce; a second real
    attempt comes from a new page and carries a new one.
    """
    return secrets.token_urlsafe(NONCE_BYTES)


def link_request_id(token: str, nonce: str) -> str:
    """The request id of an action sent from a link's form: ``link-`` + 32 hex digits.

    A hash of the link token **and** the form's nonce (``form_nonce``). The
    token alone is not enough: the ``pay`` and ``support`` links of an order
    are the same for every attempt, so an id of the token alone would drop a
    second card after a decline, or a second support request, as a repeat.
    """
    if not token or not nonce:
        raise ValueError("a link request id needs the token and the form's nonce")
    if len(nonce) > 200 or any(c.isspace() for c in nonce):
        raise ValueError("the form's nonce must be one word of at most 200 characters")
    digest = hashlib.sha256(b"orders-link-request\x00" + token.encode() + b"\x00" + nonce.encode()).hexdigest()
    return REQUEST_ID_PREFIX + digest[:32]
