"""What every page of the customer portal stands on: ``Portal``, its state and plumbing.

Templates and what a customer sees of an order (``customer_view``), security
headers, form bodies, CSRF, signed links, loading an order and sending an
action. ``orderweb/portal.py`` holds the pages themselves and their routes;
``orderweb/inbound.py`` uses the same ``Portal`` for mail in.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from activities.config import Settings
from activities.email import LINK_FALLBACK_LIFETIME
from activities.email_format import format_date, format_duration, with_formatting
from orderclient.client import (
    ActionRejected,
    NoWorkerAvailable,
    OrderClient,
    OrderError,
    OrderNotFound,
)
from orderclient.errors import OrderErased
from ordersecurity import links
from ordersecurity.links import AUTHENTICATE, InvalidLink, LinkClaims, LinkSigner, form_nonce, link_request_id
from orderweb.bodies import read_capped
from orderweb.ratelimit import CONTACT_LIMIT, CONTACT_WINDOW, RateLimiter
from workflows.converter import describe
from workflows.models import Confirmation, ConfirmationState, OrderStatus, OrderView
from workflows.models.view import InstalmentBill, InstalmentStatus

TEMPLATES_DIR: Final = Path(__file__).resolve().parent / "templates" / "portal"

CSRF_COOKIE: Final = "orders_csrf"
CSRF_FIELD: Final = "csrf"
INBOUND_DOMAIN_FACTOR: Final = 4
"""New orders by email per sender domain: this many times the per-sender (contact form) limit."""

MAX_FORM_BYTES: Final = 64 * 1024
"""The largest form body an order page or the contact form reads (413 above it)."""

log = logging.getLogger("orders.portal")

OrdersFactory = Callable[[], Awaitable[OrderClient]]


# --------------------------------------------------------------------------
# What the customer sees of an order
# --------------------------------------------------------------------------

STAGES: Final[dict[OrderStatus, tuple[str, str]]] = {
    OrderStatus.DISCUSSING: ("We are discussing your request", "We will send you an order confirmation to review."),
    OrderStatus.AWAITING_APPROVAL: (
        "Your order confirmation is ready",
        "Please review the order confirmation: approve it or request changes.",
    ),
    OrderStatus.AWAITING_PAYMENT: ("Awaiting your payment", "Please pay the amount due; work starts once it is paid."),
    OrderStatus.IN_PROGRESS: ("Work in progress", "We are working on your order and will keep you posted."),
    OrderStatus.AWAITING_ACCEPTANCE: (
        "Delivered: awaiting your review",
        "Please review the delivery: accept it or request a revision.",
    ),
    OrderStatus.IN_SUPPORT: ("Delivered and accepted", "Your support period is open: ask us whenever you need help."),
    OrderStatus.AWAITING_FINAL_PAYMENT: (
        "Awaiting your final payment",
        "Your support period has ended. Please pay what is still due: the order completes once it is paid.",
    ),
    OrderStatus.COMPLETED: ("Completed", "The order and its support period are complete. Thank you!"),
    OrderStatus.CANCELLED: ("Cancelled", "This order was cancelled."),
    OrderStatus.EXPIRED: ("Expired", "The order confirmation expired before it was approved."),
}

STEPS: Final = (
    (OrderStatus.DISCUSSING, "Request"),
    (OrderStatus.AWAITING_APPROVAL, "Confirmation"),
    (OrderStatus.AWAITING_PAYMENT, "Payment"),
    (OrderStatus.IN_PROGRESS, "Work"),
    (OrderStatus.AWAITING_ACCEPTANCE, "Delivery"),
    (OrderStatus.IN_SUPPORT, "Support"),
)

FINAL_PAYMENT_STEP: Final = (OrderStatus.AWAITING_FINAL_PAYMENT, "Final payment")
"""Only an order with a payment schedule can wait for money after its support ends."""

INSTALMENT_PAYABLE: Final = frozenset(
    {
        OrderStatus.IN_PROGRESS,
        OrderStatus.AWAITING_ACCEPTANCE,
        OrderStatus.IN_SUPPORT,
        OrderStatus.AWAITING_FINAL_PAYMENT,
    }
)
"""Where, besides ``AWAITING_PAYMENT``, an order with a payment schedule may have an instalment to pay."""


def steps_for(view: OrderView) -> tuple[tuple[OrderStatus, str], ...]:
    """The progress shown for the order: ``STEPS``, and a last one for a schedule's final payment."""
    return (*STEPS, FINAL_PAYMENT_STEP) if view.instalments else STEPS


def payment_open(view: OrderView) -> bool:
    """Whether the customer has money to pay now: before work starts, or an instalment fallen due since."""
    if view.status == OrderStatus.AWAITING_PAYMENT:
        return view.balance_due > 0
    return bool(view.instalments) and view.status in INSTALMENT_PAYABLE and view.balance_due > 0


def due_now(view: OrderView) -> list[InstalmentBill]:
    """The instalments fallen due and not yet paid in full, oldest first."""
    return [b for b in view.instalments if b.status in (InstalmentStatus.OPEN, InstalmentStatus.OVERDUE)]


def _instalment(bill: InstalmentBill) -> dict[str, Any]:
    """What the customer sees of an instalment: never the alerts and reminders sent about it."""
    return {
        **bill.model_dump(include={"number", "name", "due", "amount", "paid", "status", "reference", "due_at"}),
        "status": bill.status.value,
        "invoice_url": bill.invoice_url,
    }


def customer_view(view: OrderView) -> dict[str, Any]:
    """The order as its customer may see it.

    Only what the customer's own emails say, or the customer wrote: never
    staff notes, held payments and their reasons, rejected actions, failed
    emails, charge attempts' internals or the timeline (operators' view).
    """
    return {
        "order_id": view.order_id,
        "status": view.status.value,
        "customer": {"name": view.customer.name, "company": view.customer.company},
        "created_at": view.created_at,
        "first_message": view.first_message,
        "version": view.version,
        "approved_version": view.approved_version,
        "currency": view.currency,
        "total": view.total,
        "payment_reference": view.payment_reference,
        "payments": [p.model_dump() for p in view.payments],
        "amount_paid": view.amount_paid,
        "balance_due": view.balance_due,
        "instalments": [_instalment(b) for b in view.instalments],
        "refunds": [{"at": r.at, "amount": r.amount, "status": r.status} for r in view.refunds],
        "milestones": [m.model_dump(exclude={"overdue_alerted"}) for m in view.milestones],
        "updates": [u.model_dump() for u in view.updates],
        "deliveries": [d.model_dump() for d in view.deliveries],
        "revisions": [r.model_dump() for r in view.revisions],
        "support": view.support.model_dump(exclude={"ticket"}) if view.support else None,
        "support_requests": [s.model_dump() for s in view.support_requests],
        "notes": [n.model_dump() for n in view.notes if n.author == "customer"],
        "messages": customer_messages(view),
        "cancellation": {"at": view.cancellation.at} if view.cancellation else None,
        "payment_due_at": view.payment_due_at,
        "payment_cancel_at": view.payment_cancel_at,
        "next_deadline": view.next_deadline.model_dump() if view.next_deadline else None,
        "contract": contract_history(view),
        "change_waiting": _change_waiting(view),
    }


def contract_history(view: OrderView) -> list[dict[str, Any]]:
    """Once the order has change orders, each version the customer approved, oldest first, with
    what it changed and whether it is in force; none without change orders (nothing to tell)."""
    if not any(c.change_of is not None for c in view.confirmations):
        return []
    approved = sorted((c for c in view.confirmations if c.state == ConfirmationState.APPROVED), key=lambda c: c.version)
    return [
        {
            "version": c.version,
            "approved_at": c.approved_at,  # None for a version approved before the date was recorded
            "total": c.amount_total,
            "currency": c.currency,
            "first": n == 0,
            "changes": c.changes,
            "in_force": c.version == view.approved_version,
        }
        for n, c in enumerate(approved)
    ]


def change_label(version: int) -> str:
    """The words of the link to a change order waiting for an answer, on the hub and the line about it."""
    return f"Review change order {version}"


def _change_waiting(view: OrderView) -> dict[str, Any] | None:
    change = change_waiting(view)
    if change is None:
        return None
    return {
        "version": change.version,
        "change_of": change.change_of,
        "total": change.amount_total,
        "currency": change.currency,
        "label": change_label(change.version),
    }


def customer_messages(view: OrderView) -> list[dict[str, Any]]:
    """Everything the customer sent, oldest first: the first contact, their notes, change
    requests, revision requests and support requests."""
    sent: list[dict[str, Any]] = [{"at": view.created_at, "what": "Your first message", "text": view.first_message}]
    sent += [{"at": n.at, "what": "Your message", "text": n.text} for n in view.notes if n.author == "customer"]
    for c in view.confirmations:
        if c.comments is not None:
            # Orders from before comments_at: the changes came before the next version.
            at = c.comments_at or _next_issue(view, c.version) or c.issued_at
            sent.append({"at": at, "what": f"Changes you asked for (version {c.version})", "text": c.comments})
    sent += [
        {"at": r.at, "what": f"Revision you asked for (delivery {r.round})", "text": r.comments} for r in view.revisions
    ]
    sent += [{"at": s.at, "what": f"Support request: {s.subject}", "text": s.text} for s in view.support_requests]
    return sorted(sent, key=lambda m: m["at"])


def _next_issue(view: OrderView, version: int) -> datetime | None:
    later = [c.issued_at for c in view.confirmations if c.version == version + 1]
    return later[0] if later else None


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


LINK_REASONS: Final[dict[str, str]] = {
    "malformed": "The link is incomplete or damaged. Please open it again from the email, or copy it whole.",
    "tampered": "The link is not one we sent: it was changed, or it is from another system.",
    "expired": "The link has expired.",
    "replayed-for-another-order": "The link belongs to another order.",
    "wrong-action": "The link is for another page or another version of this order.",
    "signing-disabled": (
        "This site does not sign its email links (ORDERS_LINK_SECRET is not set), so it cannot tell who you are "
        "and does not act on orders from links. Please reply to our email instead."
    ),
}


def _environment() -> Environment:
    return with_formatting(
        Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=select_autoescape(enabled_extensions=("html",), default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
    )


SECURITY_HEADERS: Final[dict[str, str]] = {
    # The pages load nothing but their own inline <style> (base.html) and
    # style attributes: no script, font, frame or remote image. Forms post to
    # the portal, and the card form's answer redirects to Stripe Checkout, so
    # form-action is left open (Chrome applies it to that redirect too).
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"
    ),
    # Older browsers' equivalent of frame-ancestors: no page of the portal in
    # a frame (clickjacking); the CSRF check refuses a framed post as well.
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Order links carry their signed token in the URL: never send it on to another site.
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """ASGI middleware: ``SECURITY_HEADERS`` on every response (pages, redirects, errors, JSON)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class FormTooLarge(Exception):
    pass


async def read_form(request: Request, limit: int = MAX_FORM_BYTES) -> dict[str, str]:
    """The url-encoded or multipart form's text fields; ``FormTooLarge`` above ``limit`` bytes."""
    body = await read_capped(request, limit)
    if body is None:
        raise FormTooLarge
    replay = Request(request.scope, receive=_replay(body))
    async with replay.form(max_files=0, max_fields=50) as form:
        return {key: value for key, value in form.items() if isinstance(value, str)}


def _replay(body: bytes) -> Callable[[], Awaitable[dict[str, Any]]]:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


# --------------------------------------------------------------------------
# The portal's state and plumbing
# --------------------------------------------------------------------------


class Portal:
    """The portal's state and plumbing; ``PortalPages`` (orderweb/portal.py) adds the pages."""

    def __init__(
        self,
        orders_factory: OrdersFactory,
        settings: Settings,
        *,
        stripe_client: Any | None = None,
        inbound_secret: str | None = None,
        contact_limit: int = CONTACT_LIMIT,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self._orders_factory = orders_factory
        self._orders: OrderClient | None = None
        self._connecting = asyncio.Lock()
        self.stripe = stripe_client
        self.inbound_secret = inbound_secret or None
        self.signer = LinkSigner(settings.link_secret)
        # The CSRF key: derived from the link secret when there is one, so
        # several portal processes agree; otherwise one per process.
        seed = settings.link_secret or secrets.token_urlsafe(32)
        self._csrf_key = hashlib.sha256(b"orders-portal-csrf\x00" + seed.encode()).digest()
        self.contact_limiter = RateLimiter(contact_limit, CONTACT_WINDOW)
        # New orders by email, per sender address and per sender domain (orderweb/inbound.py).
        self.inbound_senders = RateLimiter(contact_limit, CONTACT_WINDOW)
        self.inbound_domains = RateLimiter(contact_limit * INBOUND_DOMAIN_FACTOR, CONTACT_WINDOW)
        self.env = _environment()
        self._clock = clock or (lambda: datetime.now(UTC))
        self.secure_cookies = settings.web_base_url.startswith("https://")

    # -- plumbing --------------------------------------------------------

    def now(self) -> datetime:
        return self._clock()

    async def orders(self) -> OrderClient:
        async with self._connecting:
            if self._orders is None:
                self._orders = await self._orders_factory()
            return self._orders

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        variables = {
            "company": self.settings.company_name,
            "support_email": self.settings.support_email,
            "title": "",
            "notice": None,
            **context,
        }
        html = self.env.get_template(template).render(variables)
        return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})

    def message(self, title: str, text: str, status_code: int, *, link: tuple[str, str] | None = None) -> HTMLResponse:
        return self.render("message.html", status_code, title=title, text=text, link=link)

    def link_refused(self, error: InvalidLink) -> HTMLResponse:
        reason = LINK_REASONS.get(error.reason, "The link cannot be used.")
        if error.reason == "expired":
            reason += f" Please reply to our latest email, or write to {self.settings.support_email}, and we will help."
        return self.message("This link cannot be used", reason + " Nothing was changed.", 403)

    def unavailable(self, error: Exception) -> HTMLResponse:
        log.error("portal: the order service failed: %s", error)
        return self.message(
            "Please try again in a few minutes",
            "We cannot reach our order system right now. Nothing was lost: please try again shortly.",
            503,
        )

    def csrf_token(self, cookie: str) -> str:
        return hmac.new(self._csrf_key, cookie.encode(), hashlib.sha256).hexdigest()[:40]

    def form_context(self, request: Request) -> tuple[dict[str, str], str | None]:
        """Hidden fields for a form (CSRF token and a fresh nonce), and a new cookie to set if any."""
        cookie = request.cookies.get(CSRF_COOKIE)
        new_cookie = None
        if not cookie or len(cookie) > 100:
            cookie = new_cookie = secrets.token_urlsafe(24)
        return {CSRF_FIELD: self.csrf_token(cookie), "nonce": form_nonce()}, new_cookie

    def with_cookie(self, response: Response, cookie: str | None) -> Response:
        if cookie:
            response.set_cookie(
                CSRF_COOKIE, cookie, httponly=True, samesite="lax", secure=self.secure_cookies, path="/"
            )
        return response

    def csrf_ok(self, request: Request, form: Mapping[str, str]) -> bool:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        sent = form.get(CSRF_FIELD, "")
        return bool(cookie and sent) and hmac.compare_digest(self.csrf_token(cookie), sent)

    def csrf_refused(self) -> HTMLResponse:
        return self.message(
            "Please send the form again",
            "We could not check that this form came from our page (its security token is missing or out of date)."
            " Nothing was changed. Go back, reload the page and send it again.",
            403,
        )

    def verify(
        self, token: str, order_id: str, page: str, *, action: str | None = None, version: int | None = None
    ) -> LinkClaims:
        """The token's claims for ``page`` of ``order_id``, or ``InvalidLink``."""
        if not self.settings.link_secret:
            raise links.LinkSigningDisabled("link signing is off")
        claims = links.verify_link(
            self.settings.link_secret, token, now=self.now(), order_id=order_id, action=action, version=version
        )
        if claims.action != page:
            raise links.WrongActionLink(f"the link opens the {claims.action} page, not {page}")
        return claims

    def sign(self, order_id: str, page: str, version: int | None, view: OrderView) -> str | None:
        """A fresh link token for another page of an order the customer has a valid link to."""
        expires = view.next_deadline.at if view.next_deadline else self.now() + LINK_FALLBACK_LIFETIME
        expires = max(expires, self.now() + timedelta(days=1))
        return self.signer.sign(order_id, page, version, expires)

    def page_url(self, order_id: str, *parts: str | int, token: str | None, **query: str) -> str:
        path = "/".join(quote(str(p), safe="") for p in (order_id, *parts))
        params = {**({"token": token} if token else {}), **query}
        return f"/orders/{path}" + (f"?{urlencode(params)}" if params else "")

    def hub_links(self, view: OrderView) -> list[tuple[str, str]]:
        """The pages the customer can act on now, with fresh signed links."""
        found: list[tuple[str, str]] = []
        order_id = view.order_id
        if view.status == OrderStatus.AWAITING_APPROVAL and view.version:
            token = self.sign(order_id, "confirmation", view.version, view)
            found.append(
                ("Review the order confirmation", self.page_url(order_id, "confirmation", view.version, token=token))
            )
        change = change_waiting(view)
        if change is not None:
            token = self.sign(order_id, "confirmation", change.version, view)
            found.append(
                (
                    change_label(change.version),
                    self.page_url(order_id, "confirmation", change.version, token=token),
                )
            )
        if view.status == OrderStatus.AWAITING_PAYMENT or payment_open(view):
            token = self.sign(order_id, "pay", view.version, view)
            found.append(("Pay", self.page_url(order_id, "pay", token=token)))
        if view.status == OrderStatus.AWAITING_ACCEPTANCE and view.deliveries:
            latest = view.deliveries[-1].round
            token = self.sign(order_id, "delivery", latest, view)
            found.append(("Review the delivery", self.page_url(order_id, "delivery", latest, token=token)))
        if view.status == OrderStatus.IN_SUPPORT:
            token = self.sign(order_id, "support", None, view)
            found.append(("Ask for support", self.page_url(order_id, "support", token=token)))
        return found

    async def load(self, order_id: str) -> OrderView | HTMLResponse:
        """The order, or the page that says why it cannot be shown (the link was valid).

        A closed order stays readable for ``settings.closed_order_visible`` after
        it closed, whatever link opens it; then its pages are gone.
        """
        try:
            view = await (await self.orders()).status(order_id)
            kept = self.settings.closed_order_visible
            if view.closed_at is not None and self.now() > view.closed_at + kept:
                return self.message(
                    "This order is closed",
                    f"Order {order_id} closed on {format_date(view.closed_at)}. We keep an order's pages for "
                    f"{format_duration(kept)} after it closes. Please write to {self.settings.support_email} "
                    "if you need anything about it.",
                    410,
                )
            return view
        except OrderNotFound:
            return self.message("Order not found", "This order is no longer available.", 404)
        except OrderErased as gone:
            return self.message(
                "This order's personal data was erased",
                f"This order's personal data was erased on {format_date(gone.record.erased_at)}. Please write to "
                f"{self.settings.support_email} if you need anything about it.",
                410,
            )
        except NoWorkerAvailable as error:
            return self.unavailable(error)
        except OrderError as error:
            return self.unavailable(error)

    async def load_page(
        self, request: Request, page: str, version: int | None = None
    ) -> tuple[OrderView, str] | Response:
        """Check that the request's link opens ``page`` (of this ``version``) of its
        order, then load the order. The order and the token; or the page that says why not."""
        order_id = request.path_params["order_id"]
        token = request.query_params.get("token", "")
        try:
            self.verify(token, order_id, page, version=version)
        except InvalidLink as error:
            return self.link_refused(error)
        view = await self.load(order_id)
        if isinstance(view, Response):
            return view
        return view, token

    async def load_versioned(self, request: Request, page: str, param: str) -> tuple[OrderView, int, str] | Response:
        """``load_page`` for a page of one version (a confirmation, a delivery round),
        named by the query parameter ``param``: the order, the version and the token."""
        version = int_param(request, param)
        if version is None:
            return self.link_refused(links.MalformedLink(f"no {param}"))
        loaded = await self.load_page(request, page, version)
        if isinstance(loaded, Response):
            return loaded
        view, token = loaded
        return view, version, token

    def newer_url(self, view: OrderView, page: str, shown: int, latest: int) -> str | None:
        """A signed link to the newest version, when the one shown is older; else ``None``."""
        if latest <= shown:
            return None
        return self.page_url(view.order_id, page, latest, token=self.sign(view.order_id, page, latest, view))

    def order_page(self, request: Request, template: str, view: OrderView, token: str, **context: Any) -> Response:
        fields, cookie = self.form_context(request)
        stage, next_step = STAGES[view.status]
        response = self.render(
            template,
            order=customer_view(view),
            stage=stage,
            next_step=next_step,
            steps=steps_for(view),
            step_index=_step_index(view.status, steps_for(view)),
            token=token,
            fields=fields,
            overview_url=self.page_url(view.order_id, token=token),
            hub=self.hub_links(view),
            **context,
        )
        return self.with_cookie(response, cookie)

    async def link_form(
        self, request: Request, order_id: str, page: str, action: str, version: int | None, too_long: str = ""
    ) -> tuple[Mapping[str, str], LinkClaims, str, str] | Response:
        """A form POSTed from a link page, checked: its fields, the link's claims, its token and the
        request id (``link_request_id``), or the page that refuses it (too long, CSRF, a bad link)."""
        try:
            form = await read_form(request)
        except FormTooLarge:
            return self.message("Too long", f"The form is too long. {too_long}".strip(), 413)
        if not self.csrf_ok(request, form):
            return self.csrf_refused()
        token, nonce = form.get("token", ""), form.get("nonce", "")
        try:
            claims = self.verify(token, order_id, page, action=action, version=version)
            request_id = link_request_id(token, nonce)
        except InvalidLink as error:
            return self.link_refused(error)
        except ValueError:
            return self.csrf_refused()
        return form, claims, token, request_id

    async def act(
        self,
        request: Request,
        order_id: str,
        page: str,
        action: str,
        version: int | None,
        build: Callable[[Mapping[str, str], LinkClaims, str, str], Any],
        refuse: Callable[[Mapping[str, str]], str | None] | None = None,
    ) -> Response:
        """A form POST from a link page: CSRF, the link, the action, then back to the order's page.
        ``refuse`` says why the form cannot be sent (a box not ticked), or None."""
        posted = await self.link_form(request, order_id, page, action, version, "Please shorten your text.")
        if isinstance(posted, Response):
            return posted
        form, claims, token, request_id = posted
        problem = refuse(form) if refuse else None
        if problem is not None:
            return self.message("Please check the form", problem, 400)
        try:
            payload = build(form, claims, request_id, token)
        except ValidationError as error:
            return self.message(
                "Please check the form", f"Nothing was sent: {describe(error)}. Go back and try again.", 400
            )
        try:
            result = await (await self.orders()).update(order_id, action, payload)
        except NoWorkerAvailable:
            return self.message(
                "Received",
                "We have received your answer; it will be recorded in a minute. There is no need to send it again.",
                202,
                link=("Back to your order", self.page_url(order_id, token=token)),
            )
        except ActionRejected as error:
            return self.message(
                "Your answer was not recorded",
                _sentence(error.reason),
                409,
                link=("See your order", self.page_url(order_id, token=token)),
            )
        except OrderNotFound:
            return self.message("Order not found", "This order is no longer available.", 404)
        except OrderError as error:
            return self.unavailable(error)
        done = action if result.applied else f"{action}-again"
        return RedirectResponse(self.page_url(order_id, token=token, done=done), status_code=303)


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return "The order did not accept it."
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _step_index(status: OrderStatus, steps: tuple[tuple[OrderStatus, str], ...] = STEPS) -> int:
    for number, (step, _) in enumerate(steps):
        if step == status:
            return number
    return len(steps) if status == OrderStatus.COMPLETED else -1


def change_waiting(view: OrderView) -> Confirmation | None:
    """The change order waiting for the customer's answer while the work goes on, if there is one."""
    latest = view.confirmations[-1] if view.confirmations else None
    if latest is None or latest.change_of is None or latest.state != ConfirmationState.ISSUED:
        return None
    return latest if view.status in (OrderStatus.IN_PROGRESS, OrderStatus.AWAITING_ACCEPTANCE) else None


def verify_any(portal: Portal, token: str, order_id: str) -> LinkClaims:
    """Any page's link of the order opens its overview (not the authentication link: it only redirects)."""
    if not portal.settings.link_secret:
        raise links.LinkSigningDisabled("link signing is off")
    claims = links.verify_link(portal.settings.link_secret, token, now=portal.now(), order_id=order_id)
    if claims.action == AUTHENTICATE:
        raise links.WrongActionLink("an authentication link opens no page")
    return claims


def int_param(request: Request, name: str) -> int | None:
    raw = str(request.path_params.get(name, ""))
    try:
        number = int(raw)
    except (TypeError, ValueError):
        return None
    return number if number >= 1 else None
