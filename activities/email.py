"""Customer and staff email: render a template pair, hand it to a backend.

The workflow decides *that* a message goes out and with which data
(``EmailRequest``); this module decides *how* it reads and *where* it goes.
Each ``MessageKind`` has a plain-text and an HTML template under
``templates/``, both extending a shared layout. Backends sit behind the
``EmailBackend`` protocol: the built-in ``OutboxBackend`` writes ``.eml``
files to a directory (for development, tests and the ``orders outbox``
command), and ``SendGridBackend`` (``activities/sendgrid_backend.py``) sends
through SendGrid's v3 Mail Send API. ``backend_from_settings`` picks one.
The filters that show money, dates and durations are in ``email_format.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    UndefinedError,
    pass_context,
    select_autoescape,
)
from jinja2.exceptions import FilterArgumentError
from jinja2.runtime import Context
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.certificates import certificate_pdf
from activities.config import Settings
from activities.document_store import DocumentStore
from activities.documents import confirmation_pdf
from activities.email_format import as_utc, is_web_url, quote_text, with_formatting
from activities.outgoing import EmailBackend, OutgoingEmail
from activities.pdf_page import IssuedPdf
from activities.receipts import receipt_pdf
from ordersecurity.links import AUTHENTICATE, LINK_ACTIONS, OVERVIEW, LinkSigner
from workflows.activity_refs import EmailRefs
from workflows.models import Audience, EmailReceipt, EmailRequest, MessageKind
from workflows.names import SEND_EMAIL

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

INTERNAL_KINDS = frozenset(
    {
        MessageKind.OVERPAYMENT_ALERT,
        MessageKind.MILESTONE_OVERDUE,
        MessageKind.REVIEW_LAPSED,
        MessageKind.SUPPORT_TEAM_NOTICE,
        MessageKind.SUPPORT_REQUEST_FORWARDED,
        MessageKind.REFUND_NEEDED,
        MessageKind.PAYMENT_ERROR,
        MessageKind.PAYMENT_NEEDS_REVIEW,
        MessageKind.INSTALMENT_OVERDUE,
        MessageKind.EMAIL_FAILED,
        MessageKind.DOCUMENT_FAILED,
        MessageKind.INBOUND_EMAIL_REVIEW,
        MessageKind.PLAINTEXT_RECEIVED,
    }
)
"""Kinds written for staff (operations or support), not for the customer."""

# --------------------------------------------------------------------------
# Links and the template environment (the filters are in email_format.py)
# --------------------------------------------------------------------------


@pass_context
def order_url(context: Context, *parts: Any) -> str:
    """Absolute link into the order's web pages: ``order_url("pay")``."""
    base = str(context.resolve("web_base_url")).rstrip("/")
    order = context.resolve("order")
    order_id = order["order_id"] if isinstance(order, Mapping) and "order_id" in order else None
    if order_id is None:
        raise UndefinedError("order_url needs order.order_id")
    path = "/".join(quote(str(part), safe="") for part in (order_id, *parts))
    token = _link_token(context, str(order_id), order.get("version"), parts)
    return f"{base}/orders/{path}" + (f"?token={token}" if token else "")


LINK_SIGNER = "_link_signer"
"""Render-only variable holding the ``LinkSigner``; never in ``template_variables``."""

LINK_FALLBACK_LIFETIME = timedelta(days=30)
"""How long a signed link lives when its context names no deadline."""


def _link_token(context: Context, order_id: str, order_version: Any, parts: tuple[Any, ...]) -> str | None:
    """A signed token for a link that acts on the customer's behalf, or None (plain link).

    The page (``confirmation``, ``pay``, ``delivery``, ``support``) is the
    signed action; the token expires with what the page is about.
    """
    signer = context.get(LINK_SIGNER)
    if not isinstance(signer, LinkSigner) or not signer.enabled or not parts or parts[0] not in LINK_ACTIONS:
        return None
    if parts[0] == AUTHENTICATE:
        raise UndefinedError("an authentication link is built with authentication_url(hosted_url)")
    page = str(parts[0])
    version: Any = parts[1] if len(parts) > 1 else None
    expiry: Any = None
    if page == "confirmation":
        expiry = context.get("expires_at")
    elif page == "delivery":
        expiry = context.get("review_ends_at")
    elif page == "pay":
        version = order_version
        # An instalment's email says how long its link lives (past its due date: a later instalment
        # is not cancelled, it goes on being reminded of); the deposit's lives until cancellation.
        expiry = context.get("pay_link_until") or context.get("cancel_at") or context.get("due_at")
    elif page == "support":
        support = context.get("support")
        expiry = support.get("ends_at") if isinstance(support, Mapping) else None
    expires_at = as_utc(expiry, "order_url") if expiry else datetime.now(UTC) + LINK_FALLBACK_LIFETIME
    try:
        number = int(version) if version is not None else None
    except (TypeError, ValueError):
        raise FilterArgumentError(f"order_url: {version!r} is not a version number") from None
    return signer.sign(order_id, page, number, expires_at)


@pass_context
def authentication_url(context: Context, hosted_url: Any) -> str:
    """Where the customer confirms a card payment (3D Secure).

    With a link secret: a signed link to the web backend,
    ``/orders/{id}/authenticate?token=...``, whose token carries Stripe's
    address; the backend verifies it and redirects. The customer sees our
    address, and nobody can swap the Stripe one. Without a secret: Stripe's
    address as it is.
    """
    if not is_web_url(hosted_url):
        raise FilterArgumentError(f"authentication_url: {hosted_url!r} is not a web address")
    signer = context.get(LINK_SIGNER)
    if not isinstance(signer, LinkSigner) or not signer.enabled:
        return str(hosted_url)
    order = context.resolve("order")
    order_id = order["order_id"] if isinstance(order, Mapping) and "order_id" in order else None
    if order_id is None:
        raise UndefinedError("authentication_url needs order.order_id")
    # An instalment's card is charged on its due date, so a link ending then would be dead on arrival.
    expiry = context.get("pay_link_until") or context.get("due_at")
    expires_at = as_utc(expiry, "authentication_url") if expiry else datetime.now(UTC) + LINK_FALLBACK_LIFETIME
    token = signer.sign(str(order_id), AUTHENTICATE, None, expires_at, target=str(hosted_url))
    base = str(context.resolve("web_base_url")).rstrip("/")
    return f"{base}/orders/{quote(str(order_id), safe='')}/{AUTHENTICATE}?token={token}"


def _environment() -> Environment:
    env = with_formatting(
        Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
            trim_blocks=True,
            lstrip_blocks=True,
        )
    )
    env.filters["quote"] = quote_text
    env.globals["order_url"] = order_url
    env.globals["authentication_url"] = authentication_url
    return env


ENV = _environment()

# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


_BLANK_LINES = re.compile(r"\n{3,}")


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)) + "\n"


def template_variables(kind: MessageKind, context: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """What a template sees: the request's context plus the sender's details.

    The same variables (and the rendered ``subject``) are SendGrid's
    ``dynamic_template_data`` when a kind is mapped to a dynamic template.
    """
    kind = MessageKind(kind)
    return {
        **context,
        **_bank_details(context, settings),
        "company": settings.company_name,
        "support_email": settings.support_email,
        "from_email": settings.from_email,
        "web_base_url": settings.web_base_url.rstrip("/"),
        "kind": kind.value,
        "internal": kind in INTERNAL_KINDS,
        "overview_url": None if kind in INTERNAL_KINDS else _overview_url(context, settings),
    }


def _overview_url(context: Mapping[str, Any], settings: Settings) -> str | None:
    """The customer's link to the order's read-only overview, signed for the overview only.

    It works for ``settings.closed_order_visible`` after the email is sent, so
    an order's last email keeps the finished order readable that long.
    """
    order = context.get("order")
    order_id = order.get("order_id") if isinstance(order, Mapping) else None
    if not order_id:
        return None
    url = f"{settings.web_base_url.rstrip('/')}/orders/{quote(str(order_id), safe='')}"
    token = LinkSigner(settings.link_secret).sign(
        str(order_id), OVERVIEW, None, datetime.now(UTC) + settings.closed_order_visible
    )
    return f"{url}?token={token}" if token else url


def _bank_details(context: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The company's bank details where bank transfer is allowed and the order
    has none to give (an order whose payment request failed before they were
    taken from the worker's policy), so a payment email never lacks them."""
    instructions = context.get("instructions")
    methods = context.get("methods") or []
    if not isinstance(instructions, Mapping) or instructions.get("bank_transfer") or "bank_transfer" not in methods:
        return {}
    return {"instructions": {**instructions, "bank_transfer": settings.bank_details}}


def render(kind: MessageKind, context: Mapping[str, Any], settings: Settings) -> RenderedEmail:
    """Render one message. Raises ``jinja2.TemplateError`` when the template and
    the context disagree (a missing key, a value a filter cannot read)."""
    kind = MessageKind(kind)
    variables = template_variables(kind, context, settings)
    variables[LINK_SIGNER] = LinkSigner(settings.link_secret)
    text_template = ENV.get_template(f"{kind.value}.txt")
    subject_block = text_template.blocks.get("subject")
    if subject_block is None:
        raise TemplateError(f"{kind.value}.txt has no subject block")
    subject = "".join(subject_block(text_template.new_context(variables)))
    subject = " ".join(subject.split())
    if not subject:
        raise TemplateError(f"{kind.value}.txt renders an empty subject")
    variables["subject"] = subject
    text = _tidy_text(text_template.render(variables))
    html = ENV.get_template(f"{kind.value}.html").render(variables).strip() + "\n"
    return RenderedEmail(subject=subject, text=text, html=html)


# --------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------


_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


def outbox_filename(message_key: str) -> str:
    """``"order-42:email:3:payment_requested"`` is ``"order-42_email_3_payment_requested.eml"``."""
    return _UNSAFE_FILENAME.sub("_", message_key) + ".eml"


def message_id_for(message_key: str, from_email: str) -> str:
    """A Message-ID derived from the message key, so a retry reuses it."""
    digest = hashlib.sha256(message_key.encode()).hexdigest()[:32]
    domain = from_email.rpartition("@")[2] or "localhost"
    return f"<{digest}@{domain}>"


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _address(email_address: str, name: str | None) -> Address:
    return Address(display_name=_one_line(name or ""), addr_spec=email_address.strip())


def build_message(message: OutgoingEmail, message_id: str, date: datetime | None = None) -> EmailMessage:
    """The RFC 5322 form of ``message``: multipart/alternative, text then HTML."""
    mail = EmailMessage(policy=policy.default)
    mail["From"] = _address(message.from_email, message.from_name)
    mail["To"] = _address(message.to_email, message.to_name)
    if message.reply_to:
        mail["Reply-To"] = message.reply_to
    mail["Subject"] = _one_line(message.subject)
    mail["Date"] = format_datetime(date or datetime.now(UTC))
    mail["Message-ID"] = message_id
    mail["X-Order-Id"] = message.order_id
    mail["X-Message-Kind"] = message.kind
    mail["X-Message-Key"] = message.message_key
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    for attachment in message.attachments:
        # Turns the message into multipart/mixed: the text and HTML first, then the files.
        maintype, _, subtype = attachment.content_type.partition("/")
        mail.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return mail


def _read_headers(path: Path) -> EmailMessage:
    with path.open("rb") as handle:
        return BytesParser(policy=policy.default).parse(handle, headersonly=True)


class OutboxBackend:
    """Writes each message as an ``.eml`` file instead of sending it.

    The file is named after the message key, so a retried activity finds the
    file it wrote before and does not write a second copy.
    """

    name = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def send(self, message: OutgoingEmail) -> str | None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / outbox_filename(message.message_key)
        if path.exists():
            existing = _read_headers(path)["Message-ID"]
            return str(existing) if existing else message_id_for(message.message_key, message.from_email)
        message_id = message_id_for(message.message_key, message.from_email)
        data = build_message(message, message_id).as_bytes()
        fd, temp_name = tempfile.mkstemp(dir=self.directory, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return message_id


def backend_from_settings(settings: Settings) -> EmailBackend:
    """The configured backend: ``settings.email_backend`` (see ``Settings.from_env``)."""
    if settings.email_backend == "sendgrid":
        # Imported here so that a process on the outbox never loads SendGrid's client
        # (this is not hiding a cycle: sendgrid_backend imports activities.outgoing only).
        from activities.sendgrid_backend import SendGridBackend

        return SendGridBackend.from_settings(settings)
    return OutboxBackend(settings.outbox_dir)


def alert_operations(
    settings: Settings,
    order_id: str,
    kind: MessageKind,
    context: Mapping[str, Any],
    *,
    message_key: str,
    backend: EmailBackend | None = None,
) -> str | None:
    """Send operations (``ORDERS_OPS_EMAIL``) a staff notice from outside the worker.

    For the places that must not lose money in silence but have no workflow to
    send the notice for them: the webhook receiver and ``OrderClient`` meeting
    an order whose workflow has closed. Same templates, same backend choice
    (``backend_from_settings``) as the worker's email activity. Blocking: call
    it in a thread from async code. ``message_key`` names the notice (the
    outbox writes one file per key, so a retried webhook sends no second one).
    """
    kind = MessageKind(kind)
    if kind not in INTERNAL_KINDS:
        raise ValueError(f"{kind.value} is a customer email, not a notice for operations")
    request = EmailRequest(
        order_id=order_id,
        kind=kind,
        audience=Audience.OPERATIONS,
        message_key=message_key,
        context=dict(context),
    )
    chosen = backend or backend_from_settings(settings)
    return chosen.send(EmailActivities(settings, chosen).compose(request))


# --------------------------------------------------------------------------
# Reading the outbox (for ``orders outbox``)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxEntry:
    path: Path
    date: datetime | None
    to: str
    subject: str
    order_id: str
    kind: str
    sequence: int | None = None
    """The workflow's email sequence number, from the message key (``order-42:email:10:kind``)."""
    to_address: str = ""
    """The recipient's bare address, without the display name."""


_SEQUENCE = re.compile(r"[:_]email[:_](\d+)[:_]")


def message_sequence(message_key: str) -> int | None:
    """The email sequence number in a message key: ``"order-42:email:10:delivered"`` is 10.

    Outbox file names keep it too (``order-42_email_10_delivered.eml``).
    """
    found = _SEQUENCE.findall(message_key)
    return int(found[-1]) if found else None


def _header_date(mail: EmailMessage) -> datetime | None:
    header = mail["Date"]
    moment = getattr(header, "datetime", None)
    if not isinstance(moment, datetime):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _bare_address(mail: EmailMessage) -> str:
    addresses = getattr(mail["To"], "addresses", ())
    return ", ".join(a.addr_spec for a in addresses) or str(mail["To"] or "")


def _in_send_order(entries: list[OutboxEntry]) -> list[OutboxEntry]:
    """Oldest first, and each order's messages in the order its workflow sent them.

    The Date header has whole seconds only, and a retried message can be
    written after a later one, so the date alone misorders one order's
    messages. Orders interleave by date; within the slots an order's messages
    take in that interleaving, they follow the workflow's sequence number.
    """
    oldest = datetime.min.replace(tzinfo=UTC)
    by_date = sorted(entries, key=lambda e: (e.date or oldest, e.sequence or 0, e.path.name))
    slots: dict[str, list[int]] = {}
    for position, entry in enumerate(by_date):
        slots.setdefault(entry.order_id, []).append(position)
    ordered: list[OutboxEntry | None] = [None] * len(by_date)
    for order_id, positions in slots.items():
        mine = sorted(
            (e for e in by_date if e.order_id == order_id),
            key=lambda e: (e.sequence is None, e.sequence or 0, e.date or oldest, e.path.name),
        )
        for position, entry in zip(positions, mine, strict=True):
            ordered[position] = entry
    return [entry for entry in ordered if entry is not None]


def list_outbox(directory: Path | str) -> list[OutboxEntry]:
    """Every message in the outbox, in the order it was sent (see ``_in_send_order``)."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    entries = []
    for path in folder.glob("*.eml"):
        if path.name.startswith("."):
            continue
        mail = _read_headers(path)
        key = str(mail["X-Message-Key"] or "") or path.stem
        entries.append(
            OutboxEntry(
                path=path,
                date=_header_date(mail),
                to=str(mail["To"] or ""),
                subject=_one_line(str(mail["Subject"] or "")),  # a long subject comes back folded
                order_id=str(mail["X-Order-Id"] or ""),
                kind=str(mail["X-Message-Kind"] or ""),
                sequence=message_sequence(key),
                to_address=_bare_address(mail),
            )
        )
    return _in_send_order(entries)


def read_outbox_message(path: Path | str) -> EmailMessage:
    """One outbox file, parsed (``get_body(("plain",))`` gives the text part)."""
    with Path(path).open("rb") as handle:
        return BytesParser(policy=policy.default).parse(handle)


# --------------------------------------------------------------------------
# The activity
# --------------------------------------------------------------------------


# The emails that carry a PDF, and what makes it (blocking: run in a thread). Each PDF is
# stored write-once under an id from the order and the email's subject (the version,
# the payment), so a retried email attaches the same bytes.
PdfMaker = Callable[[EmailRequest, Settings, DocumentStore], IssuedPdf]
PDF_OF: dict[MessageKind, PdfMaker] = {
    MessageKind.CONFIRMATION_ISSUED: confirmation_pdf,
    MessageKind.PAYMENT_RECEIVED: receipt_pdf,
}


class EmailActivities(EmailRefs):
    def __init__(self, settings: Settings, backend: EmailBackend, documents: DocumentStore | None = None) -> None:
        """``documents`` is where the order's PDFs are kept (activities/document_store.py); without
        one (a process that only sends notices), an email that carries a PDF goes without it."""
        self._settings = settings
        self._backend = backend
        self._documents = documents

    def _recipient(self, request: EmailRequest) -> tuple[str, str | None]:
        if request.audience == Audience.OPERATIONS:
            return self._settings.ops_email, None
        if request.audience == Audience.SUPPORT:
            return self._settings.support_email, None
        if not request.to_email:
            raise ApplicationError(
                f"{request.kind.value} email for order {request.order_id} has no customer address",
                type="MissingRecipient",
                non_retryable=True,
            )
        return request.to_email, request.to_name

    def _reply_to(self, request: EmailRequest) -> str | None:
        # A forwarded support request is answered straight to the customer.
        if request.kind == MessageKind.SUPPORT_REQUEST_FORWARDED:
            customer = (request.context.get("order") or {}).get("customer") or {}
            if isinstance(customer, dict) and customer.get("email"):
                return str(customer["email"])
        # A customer's reply reaches the order itself (SendGrid Inbound Parse, orderweb/inbound.py).
        if request.audience == Audience.CUSTOMER and self._settings.inbound_address:
            local, _, domain = self._settings.inbound_address.partition("@")
            return f"{local.split('+', 1)[0]}+{request.order_id}@{domain}"
        return self._settings.reply_to

    def compose(self, request: EmailRequest) -> OutgoingEmail:
        """Render ``request`` into the message a backend sends (without attachments: ``send_email`` adds them)."""
        to_email, to_name = self._recipient(request)
        context = request.context
        if request.certificate is not None:  # the closing email says what it carries (activities/templates/_layout)
            context = {**context, "evidence_certificate": request.certificate.number}
        try:
            rendered = render(request.kind, context, self._settings)
        except TemplateError as exc:
            raise ApplicationError(
                f"cannot render the {request.kind.value} email: {exc.message or exc}",
                type="TemplateError",
                non_retryable=True,
            ) from exc
        return OutgoingEmail(
            order_id=request.order_id,
            kind=request.kind.value,
            message_key=request.message_key,
            to_email=to_email,
            to_name=to_name,
            from_email=self._settings.from_email,
            from_name=self._settings.from_name,
            reply_to=self._reply_to(request),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            template_data={
                **template_variables(request.kind, context, self._settings),
                "subject": rendered.subject,
            },
        )

    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, request: EmailRequest) -> EmailReceipt:
        """Render and send one message. A retry with the same key writes no second
        outbox file; through SendGrid, which has no idempotency key, it is at
        least once (see ``SendGridBackend``).

        The backend's ``send`` is blocking (file I/O, or SendGrid's synchronous
        HTTP client), so it runs in a thread: the worker's event loop stays free.
        Its errors propagate unchanged: a backend raises ``ApplicationError``
        with a type naming the cause, and whether it is retryable.

        An email that carries a PDF (``PDF_OF``: a confirmation carries its
        version's, a payment's confirmation its receipt) goes with it, rendered and stored here, and the receipt
        names it: that is how the order learns the PDF's id, size and hash,
        with no activity of its own. A retry finds the PDF already stored.
        The email that closes an order may carry its last evidence certificate
        too (``request.certificate``), made the same way.
        """
        message = self.compose(request)
        pdf, pdf_failure = await self._pdf(request, PDF_OF.get(request.kind))
        certificate, certificate_failure = await self._pdf(request, certificate_pdf if request.certificate else None)
        attachments = tuple(made.attachment for made in (pdf, certificate) if made is not None)
        if attachments:
            message = replace(message, attachments=attachments)
        message_id = await asyncio.to_thread(self._backend.send, message)
        activity.logger.info(
            "sent %s email for order %s (key %s) via %s",
            request.kind.value,
            request.order_id,
            request.message_key,
            self._backend.name,
            extra={
                "order_id": request.order_id,
                "kind": request.kind.value,
                "message_key": request.message_key,
                "audience": request.audience.value,
                "backend": self._backend.name,
            },
        )
        if pdf_failure is not None:
            await asyncio.to_thread(self._tell_operations_no_pdf, request, pdf_failure)
        if certificate_failure is not None:
            await asyncio.to_thread(self._tell_operations_no_pdf, request, certificate_failure, certificate=True)
        return EmailReceipt(
            message_key=request.message_key,
            message_id=message_id,
            backend=self._backend.name,
            document=pdf.document if pdf is not None else None,
            certificate=certificate.document if certificate is not None else None,
        )

    async def _pdf(self, request: EmailRequest, make: PdfMaker | None) -> tuple[IssuedPdf | None, str | None]:
        """A PDF of the email, stored and ready to attach; or, when it cannot be made, why not.
        Never raises: a missing PDF must not hold up the email itself."""
        if make is None or self._documents is None:
            return None, None
        try:
            return await asyncio.to_thread(make, request, self._settings, self._documents), None
        except Exception as error:  # whatever it is (a font, the disk, a changed file), the email goes
            # The type only: a renderer's message may quote the customer's text, which stays out of logs.
            activity.logger.error(
                "the %s PDF of order %s was not made (%s); its email goes without it",
                request.kind.value,
                request.order_id,
                type(error).__name__,
                extra={"order_id": request.order_id, "message_key": request.message_key},
            )
            return None, f"{type(error).__name__}: {error}"

    def _tell_operations_no_pdf(self, request: EmailRequest, failure: str, *, certificate: bool = False) -> None:
        """Operations hear of an email that went without its PDF (a confirmation's, a receipt),
        through the same backend, once per email (the notice's key follows the email's). Best effort:
        the email went, so a notice that cannot go is logged rather than sending the email again."""
        version = (request.context.get("confirmation") or {}).get("version")
        context = {"order": request.context.get("order") or {}, "version": version, "error": failure}
        if certificate and request.certificate is not None:
            what = f"evidence certificate {request.certificate.number}"
            context |= {"what": what, "email": request.kind.value.replace("_", " ")}
        elif request.kind is MessageKind.PAYMENT_RECEIVED:
            number = request.context.get("receipt_number")  # none in an email sent before receipts
            context |= {"what": f"receipt {number}" if number else "receipt", "email": "payment confirmation"}
        notice = EmailRequest(
            order_id=request.order_id,
            kind=MessageKind.DOCUMENT_FAILED,
            audience=Audience.OPERATIONS,
            # One notice per document the email should have carried.
            message_key=f"{request.message_key}:{MessageKind.DOCUMENT_FAILED.value}" + (":certificate" * certificate),
            context=context,
        )
        try:
            self._backend.send(self.compose(notice))
        except Exception as error:  # the customer's email went; this notice is all that is left to do
            activity.logger.error(
                "operations were not told that order %s's %s PDF is missing (%s)",
                request.order_id,
                request.kind.value,
                type(error).__name__,
                extra={"order_id": request.order_id, "message_key": notice.message_key},
            )
