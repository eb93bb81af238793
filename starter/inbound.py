"""Inbound email: SendGrid Inbound Parse posts, on the portal's app.

SendGrid receives mail for a domain (its MX record points at
``mx.sendgrid.net``) and posts each message to ``POST /inbound/sendgrid``
as a multipart form: ``from``, ``to``, ``cc``, ``subject``, ``text``,
``html``, ``envelope`` (JSON), ``headers``, ``attachments`` (a count) and
one file part per attachment. The endpoint:

- is off unless ``ORDERS_INBOUND_SECRET`` is set; then it needs that secret,
  either in the URL (``/inbound/sendgrid/<secret>``) or as the basic-auth
  password (``https://any:<secret>@host/inbound/sendgrid``), and answers 401
  otherwise; a body over ``MAX_INBOUND_BYTES`` gets 413;
- trusts the ``From:`` address only when SendGrid's checks vouch for it
  (``authenticate``): ``SPF`` passed for the envelope sender and the envelope
  sender's domain is the ``From`` domain, or a ``dkim`` signature of the
  ``From`` domain passed. Anyone can write any ``From:``;
- tells a **reply** by the order's plus-address in the recipients
  (``orders+<order id>@...``, the ``Reply-To`` of customer mail when
  ``ORDERS_INBOUND_ADDRESS`` is set) or by ``Order <id>`` in the subject. A
  verified reply from the order's customer to an open order becomes a
  customer note; a reply to a closed order, from another address, or whose
  sender could not be verified, is not applied and goes to operations
  (``inbound_email_review``, with the reason);
- starts an order with channel ``email`` for a verified **new message**, with
  an order id derived from the message, so SendGrid posting it twice starts
  one order. New orders by email are rate-limited as the contact form is: per
  sender address (the contact form's limit) and per domain (``INBOUND_DOMAIN_FACTOR``
  times it). An unverified or rate-limited message starts nothing, so no
  acknowledgement goes to an address that may never have written: operations
  get it for review instead;
- stores no attachment: the note says how many there were.

It answers 200 to everything it handled (SendGrid retries anything else for
up to three days), and 503 when Temporal or the email backend cannot be
reached, so that SendGrid does retry then.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import html
import json
import logging
import re
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr
from typing import TYPE_CHECKING, Any, Final

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from activities.email import alert_operations
from starter.bodies import read_capped
from starter.client import OrderClosed, OrderError, OrderNotFound, TemporalUnreachable
from workflows.converter import describe
from workflows.models import (
    ORDER_ID_PATTERN,
    AddNoteInput,
    Channel,
    Customer,
    MessageKind,
    OrderView,
    StartOrderInput,
)

if TYPE_CHECKING:
    from starter.portal import Portal

INBOUND_PATH: Final = "/inbound/sendgrid"
MAX_INBOUND_BYTES: Final = 10 * 1024 * 1024
"""The largest post read (413 above it). SendGrid posts up to 30 MB with
attachments; this service keeps none, and a longer text is cut anyway."""
MAX_NOTE_TEXT: Final = 15_000
ORDER_ID_PREFIX: Final = "mail-"
PASS: Final = "pass"

_DKIM_RESULT = re.compile(r"@([A-Za-z0-9.-]+)\s*:\s*([A-Za-z]+)")

_ORDER_ID = re.compile(ORDER_ID_PATTERN)
_SUBJECT_ORDER = re.compile(r"\border\s+#?([A-Za-z0-9][A-Za-z0-9._-]{0,63})", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")
_STYLE = re.compile(r"<(style|script)\b.*?</\1>", re.IGNORECASE | re.DOTALL)

log = logging.getLogger("orders.inbound")


@dataclass(frozen=True)
class InboundMail:
    sender: str
    sender_name: str
    recipients: list[str]
    subject: str
    text: str
    attachments: int
    message_id: str
    envelope_sender: str = ""
    spf: str = "none"
    dkim: tuple[tuple[str, str], ...] = ()
    """SendGrid's DKIM results: (signing domain, result) for each signature."""

    @property
    def request_id(self) -> str:
        """One id per message: SendGrid posting it again is the same request."""
        seed = self.message_id or f"{self.sender}\x00{self.subject}\x00{self.text}"
        return "email:" + hashlib.sha256(seed.encode()).hexdigest()[:32]


def parse_mail(fields: dict[str, str], file_parts: int) -> InboundMail:
    """The parts of a SendGrid Inbound Parse post this service uses."""
    sender_name, sender = parseaddr(fields.get("from", ""))
    recipients = [address for _, address in getaddresses([fields.get("to", ""), fields.get("cc", "")]) if address]
    try:
        envelope = json.loads(fields.get("envelope") or "{}")
    except ValueError:
        envelope = {}
    envelope_sender = ""
    if isinstance(envelope, dict):
        envelope_to = envelope.get("to")
        if isinstance(envelope_to, list):
            recipients += [str(address) for address in envelope_to]
        if isinstance(envelope.get("from"), str):
            envelope_sender = envelope["from"]
    sender = sender or envelope_sender
    text = fields.get("text", "").strip()
    if not text and fields.get("html"):
        text = html.unescape(_TAGS.sub(" ", _STYLE.sub(" ", fields["html"])))
        text = "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
    try:
        attachments = int(fields.get("attachments") or 0)
    except ValueError:
        attachments = 0
    return InboundMail(
        sender=sender.strip().lower(),
        sender_name=" ".join(sender_name.split()),
        recipients=[r.strip().lower() for r in recipients],
        subject=" ".join(fields.get("subject", "").split()),
        text=text,
        attachments=max(attachments, file_parts),
        message_id=_message_id(fields.get("headers", "")),
        envelope_sender=envelope_sender.strip().lower(),
        spf=(fields.get("SPF") or fields.get("spf") or "none").strip().lower().split(" ")[0][:20] or "none",
        dkim=tuple((d.lower().rstrip("."), r.lower()) for d, r in _DKIM_RESULT.findall(fields.get("dkim", ""))),
    )


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().lower().rstrip(".")


def _aligned(domain: str, sender_domain: str) -> bool:
    """The same domain, or one a subdomain of the other (DMARC's relaxed alignment, roughly)."""
    if not domain or not sender_domain:
        return False
    return domain == sender_domain or sender_domain.endswith("." + domain) or domain.endswith("." + sender_domain)


def authenticate(mail: InboundMail) -> tuple[bool, str]:
    """Whether the ``From`` address is vouched for, and how (or why not), in words.

    SendGrid checks SPF for the envelope sender (the SMTP ``MAIL FROM``), not
    for ``From:``: an SPF pass counts only when the envelope sender's domain is
    the ``From`` domain. A DKIM signature counts only when it is the ``From``
    domain's (a mailing list or forwarder signs with its own).
    """
    domain = _domain(mail.sender)
    signed = [d for d, result in mail.dkim if result == PASS and _aligned(d, domain)]
    if signed:
        return True, f"DKIM pass for {signed[0]}"
    envelope_domain = _domain(mail.envelope_sender)
    if mail.spf == PASS and _aligned(envelope_domain, domain):
        return True, f"SPF pass for {envelope_domain}"
    spf = f"SPF {mail.spf} for {envelope_domain or 'an unknown envelope sender'}"
    if mail.spf == PASS:
        spf += f", which is not {domain or 'the sender'}'s domain"
    dkim = ", ".join(f"{r} for {d}" for d, r in mail.dkim) or "none"
    return False, f"its sender could not be verified ({spf}; DKIM: {dkim})"


def _message_id(headers: str) -> str:
    for line in headers.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "message-id":
            return value.strip()
    return ""


def order_reference(mail: InboundMail) -> tuple[str | None, str]:
    """The order a message answers, and how it was found: ``plus-address``, ``subject`` or ``""``."""
    for address in mail.recipients:
        local = address.rpartition("@")[0]
        if "+" in local:
            tag = local.split("+", 1)[1]
            if _ORDER_ID.match(tag):
                return tag, "plus-address"
    for candidate in _SUBJECT_ORDER.findall(mail.subject):
        candidate = candidate.rstrip("._-")
        if any(c.isdigit() for c in candidate) and _ORDER_ID.match(candidate):
            return candidate, "subject"
    return None, ""


def plus_address(address: str, order_id: str) -> str:
    """``orders@in.example.com`` and ``42`` give ``orders+42@in.example.com``."""
    local, _, domain = address.partition("@")
    return f"{local.split('+', 1)[0]}+{order_id}@{domain}"


def note_text(mail: InboundMail) -> str:
    text = mail.text[:MAX_NOTE_TEXT] + (" […]" if len(mail.text) > MAX_NOTE_TEXT else "")
    lines = [f"Email from {mail.sender}: {mail.subject or '(no subject)'}", "", text or "(no text)"]
    if mail.attachments:
        noun = "attachment was" if mail.attachments == 1 else "attachments were"
        lines += ["", f"({mail.attachments} {noun} not stored: ask the customer to send them another way if needed.)"]
    return "\n".join(lines)


def _authorized(request: Request, secret: str) -> bool:
    in_path = request.path_params.get("secret")
    if in_path is not None:
        return hmac.compare_digest(str(in_path).encode(), secret.encode())
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        _, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    return hmac.compare_digest(password.encode(), secret.encode())


def routes(portal: Portal) -> list[BaseRoute]:
    """``POST /inbound/sendgrid`` (basic auth) and ``POST /inbound/sendgrid/{secret}``."""

    async def receive(request: Request) -> Response:
        secret = portal.inbound_secret
        if secret is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        if not _authorized(request, secret):
            return JSONResponse(
                {"error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": 'Basic realm="inbound"'}
            )
        from starter.portal import FormTooLarge, _replay

        try:
            body = await _read(request)
        except FormTooLarge:
            log.warning("inbound mail refused: larger than %d bytes", MAX_INBOUND_BYTES)
            return JSONResponse({"error": "payload too large"}, status_code=413)
        replay = Request(request.scope, receive=_replay(body))
        fields: dict[str, str] = {}
        file_parts = 0
        try:
            async with replay.form(max_files=100, max_fields=200, max_part_size=MAX_INBOUND_BYTES) as form:
                for key, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        file_parts += 1  # counted, never kept
                    else:
                        fields.setdefault(key, value)
        except Exception as error:  # a broken multipart body: nothing to retry
            log.warning("inbound mail refused: not a form: %s", error)
            return JSONResponse({"error": "not a multipart form"}, status_code=400)
        mail = parse_mail(fields, file_parts)
        try:
            return await handle(portal, mail)
        except (TemporalUnreachable, OSError) as error:
            log.error("inbound mail from %s not handled, SendGrid will retry: %s", mail.sender, error)
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)

    return [
        Route(INBOUND_PATH, receive, methods=["POST"]),
        Route(INBOUND_PATH + "/{secret}", receive, methods=["POST"]),
    ]


async def _read(request: Request) -> bytes:
    from starter.portal import FormTooLarge

    body = await read_capped(request, MAX_INBOUND_BYTES)
    if body is None:
        raise FormTooLarge
    return body


async def handle(portal: Portal, mail: InboundMail) -> JSONResponse:
    """A note on the order it answers, a new order, or a notice to operations."""
    orders = await portal.orders()
    order_id, found_by = order_reference(mail)
    if order_id is not None:
        try:
            view = await orders.status(order_id)
        except OrderNotFound:
            view = None
        if view is None and found_by == "plus-address":
            return await _review(portal, mail, None, order_id, f"it was sent to order {order_id}, which does not exist")
        if view is not None:
            return await _reply(portal, mail, view)
    return await _new_order(portal, mail)


async def _reply(portal: Portal, mail: InboundMail, view: OrderView) -> JSONResponse:
    if view.status.is_final:
        return await _review(
            portal, mail, view, view.order_id, f"order {view.order_id} is closed ({view.status.value.lower()})"
        )
    if mail.sender != view.customer.email.lower():
        return await _review(portal, mail, view, view.order_id, "it comes from an address other than the customer's")
    verified, how = authenticate(mail)
    if not verified:
        return await _review(portal, mail, view, view.order_id, how)
    note = AddNoteInput(
        text=note_text(mail), author="customer", author_name=mail.sender_name or None, request_id=mail.request_id
    )
    try:
        await (await portal.orders()).add_note(view.order_id, note)
    except OrderClosed:
        return await _review(portal, mail, view, view.order_id, f"order {view.order_id} has closed")
    except OrderError as error:
        if isinstance(error, TemporalUnreachable):
            raise
        return await _review(portal, mail, view, view.order_id, f"the order did not take it: {error}")
    log.info("inbound mail from %s: note on order %s", mail.sender, view.order_id)
    return JSONResponse({"order_id": view.order_id, "note": True})


async def _new_order(portal: Portal, mail: InboundMail) -> JSONResponse:
    verified, how = authenticate(mail)
    if not verified:
        return await _review(portal, mail, None, None, how)
    order_id = ORDER_ID_PREFIX + mail.request_id.removeprefix("email:")[:12]
    orders = await portal.orders()
    try:
        await orders.status(order_id)
    except OrderNotFound:
        pass
    else:  # SendGrid posting a message again: not a new contact, and not counted as one
        return JSONResponse({"order_id": order_id, "started": False})
    limited = _rate_limited(portal, mail.sender)
    if limited:
        return await _review(portal, mail, None, None, limited)
    local = mail.sender.partition("@")[0]
    message = f"{mail.subject}\n\n{mail.text}".strip()[:MAX_NOTE_TEXT]
    if mail.attachments:
        message += f"\n\n({mail.attachments} attachment(s) not stored.)"
    try:
        start = StartOrderInput(
            order_id=order_id,
            customer=Customer(name=(mail.sender_name or local or "Customer")[:200], email=mail.sender),
            channel=Channel.EMAIL,
            message=message,
        )
    except ValidationError as error:
        return await _review(portal, mail, None, None, f"no order could be started from it: {describe(error)}")
    started = await orders.start(start)
    log.info("inbound mail from %s: order %s %s", mail.sender, started.order_id, "existed" if started.existing else "")
    return JSONResponse({"order_id": started.order_id, "started": not started.existing})


def _rate_limited(portal: Portal, sender: str) -> str | None:
    """Why a new order from ``sender`` is refused now (the contact form's limiter), or None."""
    from starter.portal import CONTACT_WINDOW

    minutes = int(CONTACT_WINDOW.total_seconds() // 60)
    if not portal.inbound_senders.allow(sender):
        return f"too many new messages from {sender} in {minutes} minutes: no order was started"
    domain = _domain(sender)
    if not portal.inbound_domains.allow(domain):
        return f"too many new messages from {domain} in {minutes} minutes: no order was started"
    return None


async def _review(
    portal: Portal, mail: InboundMail, view: OrderView | None, order_id: str | None, reason: str
) -> JSONResponse:
    """Not applied: operations get the message (without attachments) and the reason."""
    if view is not None:
        customer: dict[str, Any] = view.customer.model_dump(mode="json")
        status = view.status.value
    else:
        customer = {"name": mail.sender_name or mail.sender, "email": mail.sender, "company": None, "phone": None}
        status = "unknown"
    context = {
        "order": {"order_id": order_id or "none", "status": status, "customer": customer},
        "mail": {
            "from": mail.sender,
            "from_name": mail.sender_name,
            "subject": mail.subject,
            "text": mail.text[:MAX_NOTE_TEXT],
            "attachments": mail.attachments,
        },
        "reason": reason,
    }
    key = f"inbound:{mail.request_id}"
    await asyncio.to_thread(
        alert_operations,
        portal.settings,
        order_id or "none",
        MessageKind.INBOUND_EMAIL_REVIEW,
        context,
        message_key=key,
    )
    log.warning("inbound mail from %s not applied (%s): operations were told", mail.sender, reason)
    return JSONResponse({"order_id": order_id, "forwarded": reason})
