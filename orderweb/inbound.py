"""Inbound email: SendGrid Inbound Parse posts, on the portal's app.

SendGrid receives mail for a domain (its MX record points at
``mx.sendgrid.net``) and posts each message to ``POST /inbound/sendgrid``
as a multipart form: ``from``, ``to``, ``cc``, ``subject``, ``text``,
``html``, ``envelope`` (JSON), ``headers``, ``attachments`` (a count) and
one file part per attachment. The endpoint:

- is off unless ``ORDERS_INBOUND_SECRET`` is set; then it needs that secret,
  either in the URL (``/inbound/sendgrid/<secret>``) or as the basic-auth
  password (``https://any:<secret>@host/inbound/sendgrid``), and answers 401
  otherwise;
- reads the post as a stream (``read_post``), keeping only the text fields it
  uses and counting the rest, so no attachment is ever held. Mail too big to
  apply (over ``MAX_INBOUND_BYTES``, ``MAX_ATTACHMENTS`` attachments or
  ``MAX_FIELDS`` fields) is not applied: operations get its sender, subject,
  size and the reason, and SendGrid its 200. Only a post larger than SendGrid
  ever sends (``MAX_INBOUND_POST``) gets 413, and a body that is not a
  multipart form 400;
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
from typing import Any, Final, Protocol

from pydantic import ValidationError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from temporalio.service import RPCError, RPCStatusCode

from activities.config import Settings
from activities.email import alert_operations
from orderclient.client import OrderClient, OrderClosed, OrderError, OrderNotFound, TemporalUnreachable
from orderweb.ratelimit import CONTACT_WINDOW, RateLimiter
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


class InboundSite(Protocol):
    """What inbound mail needs of the portal that serves it (``orderweb.site.Portal``)."""

    settings: Settings
    inbound_secret: str | None
    inbound_senders: RateLimiter
    """New orders per sender address."""
    inbound_domains: RateLimiter
    """New orders per sender domain."""

    async def orders(self) -> OrderClient: ...


INBOUND_PATH: Final = "/inbound/sendgrid"
MAX_INBOUND_BYTES: Final = 10 * 1024 * 1024
"""The largest mail applied; a larger one goes to operations. SendGrid posts
up to 30 MB with attachments; this service keeps none, and a longer text is
cut anyway."""
MAX_ATTACHMENTS: Final = 100
MAX_FIELDS: Final = 200
MAX_FIELD_BYTES: Final = 1024 * 1024
"""A kept text field (``text``, ``html``, ``headers``...) is cut at this size."""
KEPT_FIELDS: Final = frozenset(
    {"from", "to", "cc", "subject", "text", "html", "envelope", "headers", "attachments", "SPF", "spf", "dkim"}
)
MAX_INBOUND_POST: Final = 32 * 1024 * 1024
"""More than SendGrid ever posts (30 MB): 413, and nothing else is read."""
MAX_NOTE_TEXT: Final = 15_000
ORDER_ID_PREFIX: Final = "mail-"
PASS: Final = "pass"

_DKIM_RESULT = re.compile(r"@([A-Za-z0-9.-]+)\"?\s*:\s*\"?([A-Za-z]+)")
"""One signature's result in SendGrid's ``dkim`` field: ``{@example.com : pass, @list.example : fail}``
(a JSON-like ``{"@example.com": "pass"}`` is read too)."""

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


def routes(portal: InboundSite) -> list[BaseRoute]:
    """``POST /inbound/sendgrid`` (basic auth) and ``POST /inbound/sendgrid/{secret}``."""

    async def receive(request: Request) -> Response:
        secret = portal.inbound_secret
        if secret is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        if not _authorized(request, secret):
            return JSONResponse(
                {"error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": 'Basic realm="inbound"'}
            )
        try:
            post = await read_post(request)
        except PostTooLarge:
            log.warning("inbound post refused: larger than %d bytes", MAX_INBOUND_POST)
            return JSONResponse({"error": "payload too large"}, status_code=413)
        except NotAForm as error:  # a broken multipart body: nothing to retry
            log.warning("inbound mail refused: not a form: %s", error)
            return JSONResponse({"error": "not a multipart form"}, status_code=400)
        mail = parse_mail(post.fields, post.files)
        try:
            too_big = post.too_big()
            if too_big:
                order_id, _ = order_reference(mail)
                return await _review(portal, mail, None, order_id, too_big, size=post.size)
            return await handle(portal, mail)
        except (TemporalUnreachable, OSError) as error:
            log.error("inbound mail from %s not handled, SendGrid will retry: %s", mail.sender, error)
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)

    return [
        Route(INBOUND_PATH, receive, methods=["POST"]),
        Route(INBOUND_PATH + "/{secret}", receive, methods=["POST"]),
    ]


class PostTooLarge(Exception):
    """Larger than ``MAX_INBOUND_POST``: not something SendGrid sends."""


class NotAForm(Exception):
    """The body is not a multipart form."""


@dataclass
class InboundPost:
    """What ``read_post`` kept of a post: the text fields this service uses, and counts."""

    fields: dict[str, str]
    files: int
    field_count: int
    size: int

    def too_big(self) -> str | None:
        """Why the mail is too big to apply, or None."""
        if self.size > MAX_INBOUND_BYTES:
            return f"it is too big to apply: larger than {MAX_INBOUND_BYTES // (1024 * 1024)} MB ({_size(self.size)})"
        if self.files > MAX_ATTACHMENTS:
            return f"it is too big to apply: {self.files} attachments (at most {MAX_ATTACHMENTS})"
        if self.field_count > MAX_FIELDS:
            return f"it is too big to apply: too many form fields ({self.field_count}, at most {MAX_FIELDS})"
        return None


def _size(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 100 * 1024 else f"{size / 1024:.1f} KB"


class _PartReader:
    """python-multipart callbacks that keep the wanted text fields (cut at
    ``MAX_FIELD_BYTES``) and only count every other part: a post of any number
    of parts costs no more memory than its kept fields."""

    def __init__(self) -> None:
        self.fields: dict[str, bytearray] = {}
        self.files = 0
        self.field_count = 0
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._keep: bytearray | None = None

    def on_part_begin(self) -> None:
        self._disposition, self._keep = b"", None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        if len(self._header_value) < 8192:
            self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if bytes(self._header_name).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"filename" in options:
            self.files += 1  # counted, never kept
            return
        self.field_count += 1
        name = _decode(options.get(b"name", b""))
        if name in KEPT_FIELDS and name not in self.fields:
            self._keep = self.fields[name] = bytearray()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._keep is not None and len(self._keep) < MAX_FIELD_BYTES:
            self._keep += data[start : min(end, start + MAX_FIELD_BYTES - len(self._keep))]


def _decode(raw: bytes | bytearray) -> str:
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return bytes(raw).decode("latin-1")


async def read_post(request: Request) -> InboundPost:
    """Stream a SendGrid post through a multipart parser; ``PostTooLarge`` past
    ``MAX_INBOUND_POST`` bytes, ``NotAForm`` if it is not a multipart form."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_INBOUND_POST:
        raise PostTooLarge
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise NotAForm(f"content type {content_type.decode('latin-1')!r} with no multipart boundary")
    reader = _PartReader()
    callbacks: Any = {
        name: getattr(reader, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
        )
    }
    parser = MultipartParser(boundary, callbacks)
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_INBOUND_POST:
                raise PostTooLarge
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as error:
        raise NotAForm(str(error)) from None
    fields = {name: _decode(value) for name, value in reader.fields.items()}
    return InboundPost(fields=fields, files=reader.files, field_count=reader.field_count, size=size)


async def handle(portal: InboundSite, mail: InboundMail) -> JSONResponse:
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


async def _reply(portal: InboundSite, mail: InboundMail, view: OrderView) -> JSONResponse:
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
        await (await portal.orders()).act(view.order_id, note)
    except OrderClosed:
        return await _review(portal, mail, view, view.order_id, f"order {view.order_id} has closed")
    except OrderError as error:
        if isinstance(error, TemporalUnreachable):
            raise
        return await _review(portal, mail, view, view.order_id, f"the order did not take it: {error}")
    log.info("inbound mail from %s: note on order %s", mail.sender, view.order_id)
    return JSONResponse({"order_id": view.order_id, "note": True})


async def _new_order(portal: InboundSite, mail: InboundMail) -> JSONResponse:
    verified, how = authenticate(mail)
    if not verified:
        return await _review(portal, mail, None, None, how)
    order_id = ORDER_ID_PREFIX + mail.request_id.removeprefix("email:")[:12]
    orders = await portal.orders()
    if await _exists(orders, order_id):  # SendGrid posting a message again: not a new contact, not counted
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


async def _exists(orders: OrderClient, order_id: str) -> bool:
    """Whether the order was started (Temporal's own record: no worker needed, unlike a query)."""
    try:
        await orders.handle(order_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise TemporalUnreachable(f"cannot tell whether order {order_id} exists: {error.message}") from None
    return True


def _rate_limited(portal: InboundSite, sender: str) -> str | None:
    """Why a new order from ``sender`` is refused now (the contact form's limiter), or None."""
    minutes = int(CONTACT_WINDOW.total_seconds() // 60)
    if not portal.inbound_senders.allow(sender):
        return f"too many new messages from {sender} in {minutes} minutes: no order was started"
    domain = _domain(sender)
    if not portal.inbound_domains.allow(domain):
        return f"too many new messages from {domain} in {minutes} minutes: no order was started"
    return None


async def _review(
    portal: InboundSite,
    mail: InboundMail,
    view: OrderView | None,
    order_id: str | None,
    reason: str,
    *,
    size: int | None = None,
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
            "size": _size(size) if size is not None else None,
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
