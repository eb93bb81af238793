"""The customer's side: a portal behind every email link, the contact form and inbound email.

``orders portal`` serves this Starlette app (``orders dev`` starts it too, on
the port ``ORDERS_WEB_BASE_URL`` names). Its pages are rendered on the server
from Jinja2 templates (``orderweb/templates/portal/``), work without
JavaScript, and act on orders only through ``OrderClient``:

============================================  ===========================================
page                                          what the customer does there
============================================  ===========================================
``/contact``                                  first contact: starts an order (``web_form``)
``/orders/{id}?token=``                       the order's status (any link of the order)
``/orders/{id}/confirmation/{version}``       approve, or request changes
``.../{version}/confirmation.pdf``            the version's PDF, hash-checked (``documents``)
``/orders/{id}/receipts/{n}/receipt.pdf``     a payment's receipt, hash-checked (``receipts``)
``/orders/{id}/pay``                          bank details, invoice, a card (Stripe Checkout)
``/orders/{id}/authenticate``                 redirect to Stripe's card authentication
``/orders/{id}/delivery/{round}``             accept, or request a revision
``/orders/{id}/support``                      a new support request
``POST /inbound/sendgrid``                    SendGrid Inbound Parse: mail in (see ``inbound``)
============================================  ===========================================

The rules every page follows:

- **Signed links.** An order page opens only with the signed token of an email
  link (``ordersecurity.links``), verified before Temporal is asked anything: a
  bad, expired or other order's link gets a plain page saying why, and never
  tells whether the order exists. Without ``ORDERS_LINK_SECRET`` order pages
  refuse, and say so; the contact form still works.
- **Forms.** Every POST carries a CSRF token bound to a cookie (``_check_csrf``),
  and a fresh nonce per rendered form: the request id is
  ``link_request_id(token, nonce)``, so a double click is applied once and a
  second real attempt is a new request. The contact form derives the order id
  from its nonce, so a double submit starts one order.
- **Words, not stack traces.** The order's rejections (a superseded version,
  the wrong stage) are shown as the order words them; other failures get a
  short page, and the details go to the log.
- **Privacy.** A page shows the customer's own order only, never internal
  notes, operations alerts, held payments, rejected actions or failed emails
  (``customer_view``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from activities.config import Settings
from activities.email_format import is_web_url
from orderclient import tracing
from orderclient.client import OrderClient, OrderError
from ordersecurity.links import AUTHENTICATE, EVIDENCE, InvalidLink, LinkClaims
from orderweb import evidence, inbound
from orderweb.bodies import CLIENT_GONE
from orderweb.documents import PDF_NAME, pdf_response
from orderweb.evidence import EvidencePages
from orderweb.ratelimit import CONTACT_LIMIT
from orderweb.receipts import RECEIPT_PATH, receipt_links, serve_receipt
from orderweb.site import (
    CSRF_FIELD,
    SECURITY_HEADERS,
    FormTooLarge,
    OrdersFactory,
    SecurityHeaders,
    change_waiting,
    due_now,
    int_param,
    payment_open,
    read_form,
    verify_any,
)
from workflows import names
from workflows.action_registry import REGISTRY, ActionSpec
from workflows.models import (
    Action,
    Channel,
    Confirmation,
    ConfirmationState,
    Evidence,
    OrderStatus,
    OrderView,
    PaymentMethod,
    StartOrderInput,
)
from workflows.models.view import InstalmentStatus
from workflows.schedule import schedule_rows

HONEYPOT_FIELD: Final = "website"
"""A field people never see (hidden by CSS); bots fill it in."""

ORDER_ID_PREFIX: Final = "web-"

log = logging.getLogger("orders.portal")


def contact_order_id(nonce: str) -> str:
    """The order id of a contact form: from its nonce, so the same form posted twice starts one order."""
    digest = hashlib.sha256(b"orders-contact\x00" + nonce.encode()).hexdigest()
    return ORDER_ID_PREFIX + digest[:12]


DONE_NOTICES: Final[dict[str, str]] = {
    names.APPROVE: "Thank you: you approved the order confirmation. We have sent you the payment details.",
    names.REQUEST_CHANGES: "Thank you: we received your requested changes and will send a new version.",
    names.ACCEPT: "Thank you: you accepted the delivery. Your support period has started.",
    names.REQUEST_REVISION: "Thank you: we received your revision request and are on it.",
    names.REQUEST_SUPPORT: "Thank you: we received your support request and will answer soon.",
}


class PortalPages(EvidencePages):
    """Every page of the portal, one handler method each; ``routes`` maps the addresses to them."""

    # -- contact ---------------------------------------------------------

    async def contact_form(self, request: Request) -> Response:
        fields, cookie = self.form_context(request)
        return self.with_cookie(
            self.render("contact.html", title="Contact us", fields=fields, values={}, errors=[]), cookie
        )

    async def contact_submit(self, request: Request) -> Response:
        try:
            form = await read_form(request)
        except FormTooLarge:
            return self.message("Too long", "Your message is too long. Please shorten it.", 413)
        if not self.csrf_ok(request, form):
            return self.csrf_refused()
        nonce = form.get("nonce", "")
        if not nonce or len(nonce) > 200 or any(c.isspace() for c in nonce):
            return self.csrf_refused()
        if form.get(HONEYPOT_FIELD):
            log.info("contact form: honeypot filled in; dropped")
            return self.render("contact_done.html", title="Thank you", order_id=None, name="", email="")
        client_address = request.client.host if request.client else "unknown"
        if not self.contact_limiter.allow(client_address):
            return self.message(
                "Too many messages",
                f"We received several messages from your network in a short time. Please wait a few minutes, "
                f"or write to {self.settings.support_email}.",
                429,
            )
        values = {k: form.get(k, "").strip() for k in ("name", "email", "company", "phone", "message")}
        try:
            # One validation of the whole form, so that every field's problem is listed at once.
            start = StartOrderInput.model_validate(
                {
                    "order_id": contact_order_id(nonce),
                    "customer": {
                        "name": values["name"],
                        "email": values["email"],
                        "company": values["company"] or None,
                        "phone": values["phone"] or None,
                    },
                    "channel": Channel.WEB_FORM,
                    "message": values["message"],
                }
            )
        except ValidationError as error:
            fields = {CSRF_FIELD: form.get(CSRF_FIELD, ""), "nonce": nonce}
            problems = [_field_problem(e) for e in error.errors()]
            return self.render("contact.html", 400, title="Contact us", fields=fields, values=values, errors=problems)
        try:
            started = await (await self.orders()).start(start)
        except OrderError as error:
            return self.unavailable(error)
        log.info("contact form: order %s %s", started.order_id, "existed" if started.existing else "started")
        return self.render(
            "contact_done.html",
            title="Thank you",
            order_id=started.order_id,
            name=start.customer.name,
            email=start.customer.email,
        )

    # -- order pages -----------------------------------------------------

    async def overview(self, request: Request) -> Response:
        order_id = request.path_params["order_id"]
        token = request.query_params.get("token", "")
        try:
            claims = verify_any(self, token, order_id)
        except InvalidLink as error:
            return self.link_refused(error)
        loaded = await self.load(order_id)
        if isinstance(loaded, Response):
            return loaded
        done = request.query_params.get("done", "")
        notice = DONE_NOTICES.get(done.removesuffix("-again"))
        if notice and done.endswith("-again"):
            notice = "We had already received this; it was recorded once."
        del claims
        receipts = receipt_links(self, loaded, token)
        return self.order_page(
            request, "order.html", loaded, token, title=f"Order {order_id}", notice=notice, receipts=receipts
        )

    async def confirmation(self, request: Request) -> Response:
        loaded = await self.load_versioned(request, "confirmation", "version")
        if isinstance(loaded, Response):
            return loaded
        view, version, token = loaded
        order_id = view.order_id
        if version > len(view.confirmations):
            return self.message("Not found", "This version of the order confirmation does not exist.", 404)
        shown = view.confirmations[version - 1]
        current_url = self.newer_url(view, "confirmation", version, view.version or version)
        waiting = view.status == OrderStatus.AWAITING_APPROVAL or shown is change_waiting(view)
        can_answer = waiting and shown.state == ConfirmationState.ISSUED
        in_force = view.confirmations[shown.change_of - 1] if shown.change_of else None
        return self.order_page(
            request,
            "confirmation.html",
            view,
            token,
            title=f"Order {order_id}: confirmation, version {version}",
            confirmation=shown.model_dump(),
            terms=_terms(shown.terms.model_dump(), self.settings),
            schedule=_schedule(shown),
            current_url=current_url,
            can_answer=can_answer and current_url is None,
            in_force=in_force.model_dump() if in_force else None,
            agreement=AGREEMENT,
            pdf_url=self.page_url(order_id, "confirmation", version, PDF_NAME, token=token) if shown.document else None,
            **evidence.decision_context(self, order_id, shown, token),
        )

    async def confirmation_pdf(self, request: Request) -> Response:
        """The version's PDF, through the same signed link as its page, and only while
        the stored bytes still have the SHA-256 the order recorded."""
        loaded = await self.load_versioned(request, "confirmation", "version")
        if isinstance(loaded, Response):
            return loaded
        view, version, _ = loaded
        shown = next((c for c in view.confirmations if c.version == version), None)
        if shown is None or shown.document is None:
            return self.message("Not found", "There is no PDF of this version of the order confirmation yet.", 404)
        served = await pdf_response(self.settings, view.order_id, version, shown.document)
        return self.message("PDF not available", served, 500) if isinstance(served, str) else served

    async def receipt_pdf(self, request: Request) -> Response:
        """A payment's receipt, hash-checked (orderweb/receipts.py)."""
        return await serve_receipt(self, request)

    async def delivery(self, request: Request) -> Response:
        loaded = await self.load_versioned(request, "delivery", "round")
        if isinstance(loaded, Response):
            return loaded
        view, round_, token = loaded
        order_id = view.order_id
        shown = next((d for d in view.deliveries if d.round == round_), None)
        if shown is None:
            return self.message("Not found", "This delivery does not exist.", 404)
        current_url = self.newer_url(view, "delivery", round_, view.deliveries[-1].round)
        revision = next((r for r in view.revisions if r.round == round_), None)
        return self.order_page(
            request,
            "delivery.html",
            view,
            token,
            title=f"Order {order_id}: delivery {round_}",
            delivery=shown.model_dump(),
            revision=revision.model_dump() if revision else None,
            review_ends_at=shown.review_ends_at,
            deemed_acceptance=_deemed_acceptance(view),
            current_url=current_url,
            can_answer=view.status == OrderStatus.AWAITING_ACCEPTANCE and current_url is None,
        )

    async def answer_confirmation(self, request: Request) -> Response:
        return await self.answer(request, "confirmation", int_param(request, "version"))

    async def answer_delivery(self, request: Request) -> Response:
        return await self.answer(request, "delivery", int_param(request, "round"))

    async def support(self, request: Request) -> Response:
        loaded = await self.load_page(request, "support")
        if isinstance(loaded, Response):
            return loaded
        view, token = loaded
        order_id = view.order_id
        return self.order_page(
            request,
            "support.html",
            view,
            token,
            title=f"Order {order_id}: support",
            can_ask=view.status == OrderStatus.IN_SUPPORT,
        )

    async def support_submit(self, request: Request) -> Response:
        return await self.answer(request, "support", None, names.REQUEST_SUPPORT)

    async def answer(self, request: Request, page: str, number: int | None, action: str = "") -> Response:
        """A customer's answer from a link page: the action is the address's last part
        (``.../confirmation/2/request-changes``) and one the page offers (``link_page``)."""
        spec = REGISTRY.get(action or request.path_params.get("action", "").replace("-", "_"))
        if spec is None or spec.link_page != page:
            return await self.not_found(request, LookupError(page))
        return await self.act(
            request,
            request.path_params["order_id"],
            page,
            spec.name,
            number,
            lambda form, claims, request_id, token: link_payload(
                spec, form, claims, request_id, portal_evidence(request, form, token)
            ),
            refuse=_unagreed if spec.name == names.APPROVE else None,
        )

    async def pay(self, request: Request) -> Response:
        loaded = await self.load_page(request, "pay")
        if isinstance(loaded, Response):
            return loaded
        view, token = loaded
        return self.pay_page(request, view, token)

    def pay_page(self, request: Request, view: OrderView, token: str) -> Response:
        """The pay page of a loaded order: what is due now, and each way to pay it."""
        order_id = view.order_id
        methods = _payment_methods(view)
        instructions = view.payment_instructions
        bank = instructions.bank_transfer if instructions else None
        if bank is None and PaymentMethod.BANK_TRANSFER in methods:
            bank = self.settings.bank_details  # an older order: the company's details
        payable = payment_open(view)
        card_offered = PaymentMethod.CARD in methods and payable
        card_allowed = card_offered and self.stripe is not None
        latest_attempt = view.charge_attempts[-1] if view.charge_attempts else None
        notice = None
        if request.query_params.get("card") == "saved":
            notice = "Thank you: your card was saved. We will charge it and email you a receipt."
        return self.order_page(
            request,
            "pay.html",
            view,
            token,
            title=f"Order {order_id}: payment",
            notice=notice,
            payable=payable,
            reference=(instructions.reference if instructions else None) or view.payment_reference,
            bank=bank,
            invoice=_invoice(view, methods, self.stripe is not None),
            card_allowed=card_allowed,
            # The terms offer card, but this portal has no Stripe: say so rather than leave card out.
            card_unavailable=card_offered and self.stripe is None,
            stripe_test_double=self.settings.stripe_test_double,
            needs_authentication=latest_attempt is not None and latest_attempt.status == "requires_action",
            declined=latest_attempt if latest_attempt is not None and latest_attempt.status == "declined" else None,
            card_on_file=view.payment_method_on_file is not None,
            overdue=view.payment_due_at is not None and self.now() >= view.payment_due_at,
            **_instalments_due(view, self.now()),
        )

    async def pay_card(self, request: Request) -> Response:
        order_id = request.path_params["order_id"]
        posted = await self.link_form(request, order_id, "pay", names.PROVIDE_PAYMENT_METHOD, None)
        if isinstance(posted, Response):
            return posted
        _form, _claims, token, request_id = posted
        if self.stripe is None:
            return self.message("Card payments are not available", "Please pay by bank transfer.", 409)
        view = await self.load(order_id)
        if isinstance(view, Response):
            return view
        waiting = view.status == OrderStatus.AWAITING_PAYMENT or payment_open(view)
        if not waiting or PaymentMethod.CARD not in _payment_methods(view):
            return self.message(
                "No card payment is due",
                "This order is not waiting for a card payment.",
                409,
                link=("See your order", self.page_url(order_id, token=token)),
            )
        back = self.settings.web_base_url.rstrip("/") + self.page_url(order_id, "pay", token=token)
        try:
            url = await asyncio.to_thread(_checkout_session, self.stripe, view, request_id, back)
        except Exception as error:  # Stripe's errors, in words for the customer and in full in the log
            log.error("portal: Checkout Session for order %s failed: %s", order_id, error)
            return self.message(
                "Card payment is not available right now",
                "We could not open the card payment page. Please try again in a few minutes, or pay by bank transfer.",
                503,
            )
        return RedirectResponse(url, status_code=303)

    async def authenticate(self, request: Request) -> Response:
        order_id = request.path_params["order_id"]
        try:
            claims = self.verify(request.query_params.get("token", ""), order_id, AUTHENTICATE, action=AUTHENTICATE)
        except InvalidLink as error:
            return self.link_refused(error)
        if (
            claims.target is None
        ):  # verify_link refuses an authenticate link without one; never trust a redirect blindly
            return self.message("Link not valid", "This link does not say where to go.", 400)
        return RedirectResponse(claims.target, status_code=303)

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/contact", status_code=303)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        return self.message("Page not found", "There is no page at this address.", 404)

    async def server_error(self, request: Request, exc: Exception) -> Response:
        log.exception("portal: unexpected error on %s", request.url.path, exc_info=exc)
        failed = self.message("Something went wrong", "Please try again in a few minutes.", 500)
        failed.headers.update(SECURITY_HEADERS)  # this answer is sent outside the middleware
        return failed


ORDER: Final = "/orders/{order_id}"


def routes(pages: PortalPages) -> list[BaseRoute]:
    """The portal's addresses: one line per route, naming the page's handler."""
    return [
        Route("/", pages.home),
        Route("/contact", pages.contact_form, methods=["GET"]),
        Route("/contact", pages.contact_submit, methods=["POST"]),
        Route(ORDER, pages.overview, methods=["GET"]),
        Route(ORDER + "/confirmation/{version}", pages.confirmation, methods=["GET"]),
        Route(ORDER + "/confirmation/{version}/" + PDF_NAME, pages.confirmation_pdf, methods=["GET"]),
        Route(ORDER + "/confirmation/{version}/{action}", pages.answer_confirmation, methods=["POST"]),
        Route(ORDER + RECEIPT_PATH, pages.receipt_pdf, methods=["GET"]),
        Route(ORDER + "/pay", pages.pay, methods=["GET"]),
        Route(ORDER + "/pay/card", pages.pay_card, methods=["POST"]),
        Route(ORDER + "/authenticate", pages.authenticate, methods=["GET"]),
        Route(ORDER + "/delivery/{round}", pages.delivery, methods=["GET"]),
        Route(ORDER + "/delivery/{round}/{action}", pages.answer_delivery, methods=["POST"]),
        Route(ORDER + "/support", pages.support, methods=["GET"]),
        Route(ORDER + "/support", pages.support_submit, methods=["POST"]),
        Route(ORDER + "/" + EVIDENCE, pages.evidence_pdf, methods=["GET"]),
        *inbound.routes(pages),
    ]


def create_app(
    orders_factory: OrdersFactory,
    settings: Settings,
    *,
    stripe_client: Any | None = None,
    inbound_secret: str | None = None,
    contact_limit: int = CONTACT_LIMIT,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """The portal app. ``orders_factory`` is awaited once, on the first request that needs Temporal.

    ``settings`` give the link secret, the company's details and bank
    details; ``stripe_client`` (a ``stripe.StripeClient``) turns on card
    payments through Checkout; ``inbound_secret`` turns on ``/inbound/sendgrid``.
    """
    pages = PortalPages(
        orders_factory,
        settings,
        stripe_client=stripe_client,
        inbound_secret=inbound_secret,
        contact_limit=contact_limit,
        clock=clock,
    )
    return Starlette(
        routes=routes(pages),
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={404: pages.not_found, 405: pages.not_found, 500: pages.server_error, **CLIENT_GONE},
    )


LINK_CLAIMS: Final[dict[str, str]] = {"confirmation": "version", "delivery": "round"}
"""The field a link page's signed number fills: the confirmation's version, the delivery's round."""


def link_payload(
    spec: ActionSpec, form: Mapping[str, str], claims: LinkClaims, request_id: str, evidence: Evidence | None = None
) -> Action:
    """An action's model from a link page's form: the signed number comes from the link, the
    evidence of a decision from the portal itself, every other field from what the customer typed
    (an optional one left blank stays unset)."""
    data: dict[str, Any] = {"request_id": request_id}
    claim = LINK_CLAIMS.get(spec.link_page or "")
    if claim is not None:
        data[claim] = claims.version
    if "evidence" in spec.model.model_fields and evidence is not None:
        data["evidence"] = evidence
    for name, field in spec.model.model_fields.items():
        value = form.get(name, "").strip()
        if name not in data and name != "evidence" and (value or field.is_required()):
            data[name] = value
    return spec.model.model_validate(data)


AGREEMENT: Final = "I have read the order confirmation (PDF) and agree to its terms"
"""The box the customer ticks before approving a confirmation; the evidence says they did."""


def portal_evidence(request: Request, form: Mapping[str, str], token: str) -> Evidence:
    """What the portal knows of a customer's decision: the link (a digest of its token, never the
    token), the client's address (behind the trusted proxies only, see orderweb/serving.py), the
    browser, the box ticked and the hash of the PDF the page showed."""
    shown = form.get("document_sha256", "").strip().lower()
    return Evidence(
        channel="portal",
        link_id=hashlib.sha256(token.encode()).hexdigest()[:32],
        client_ip=request.client.host if request.client else None,
        user_agent=(request.headers.get("user-agent") or "")[:500] or None,
        agreed_to_terms=form.get("agree") == "yes",
        document_sha256=shown if len(shown) == 64 and all(c in "0123456789abcdef" for c in shown) else None,
    )


def _unagreed(form: Mapping[str, str]) -> str | None:
    """Why an approval is not sent: the customer did not tick the box."""
    if form.get("agree") == "yes":
        return None
    return f"Please tick “{AGREEMENT}” before approving. Nothing was sent."


def _field_problem(error: Mapping[str, Any]) -> str:
    location = [str(part) for part in error.get("loc", ()) if part != "customer"]
    field = location[-1] if location else "form"
    message = str(error.get("msg", "is not valid"))
    if field == "email":
        message = "not a valid email address"
    elif error.get("type") == "string_too_short":
        message = "please fill this in"
    return f"{field.replace('_', ' ')}: {message}"


def _payment_methods(view: OrderView) -> list[PaymentMethod]:
    number = view.approved_version or view.version
    if not number or number > len(view.confirmations):
        return [PaymentMethod.BANK_TRANSFER]
    return list(view.confirmations[number - 1].terms.payment_methods)


def _invoice(view: OrderView, methods: list[PaymentMethod], stripe: bool) -> dict[str, Any] | None:
    """The hosted invoice to pay now, if the terms offer invoices and the portal has Stripe: the
    order's, or with a payment schedule the invoice of the oldest instalment due now."""
    instructions = view.payment_instructions
    if instructions is None or PaymentMethod.INVOICE not in methods or not stripe:
        return None
    if view.instalments:
        bills = due_now(view)
        return {"url": bills[0].invoice_url, "pdf": None, "pending": bills[0].invoice_url is None} if bills else None
    return {"url": instructions.invoice_url, "pdf": instructions.invoice_pdf, "pending": instructions.invoice_pending}


def _instalments_due(view: OrderView, now: datetime) -> dict[str, Any]:
    """The pay page's words for a payment schedule: the instalments due now (each with its own
    bank reference), whether one is overdue, and the next one still waiting for its event."""
    if not view.instalments:
        return {"due_now": [], "instalment_overdue": None, "next_scheduled": None}
    bills = due_now(view)
    upcoming = next((b for b in view.instalments if b.status == InstalmentStatus.SCHEDULED), None)
    return {
        "due_now": [
            {**b.model_dump(include={"name", "amount", "paid", "reference", "due_at"}), "unpaid": b.unpaid}
            for b in bills
        ],
        "instalment_overdue": next(
            (
                b.model_dump(include={"name", "due_at"})
                for b in bills
                if b.status == InstalmentStatus.OVERDUE or (b.due_at and now >= b.due_at)
            ),
            None,
        ),
        "next_scheduled": upcoming.model_dump(include={"name", "due", "amount"}) if upcoming else None,
    }


def _deemed_acceptance(view: OrderView) -> bool:
    """Whether silence at the end of a review counts as acceptance under the approved terms."""
    number = view.approved_version
    if not number or number > len(view.confirmations):
        return False
    return view.confirmations[number - 1].terms.deemed_acceptance


def _terms(terms: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The terms with every left-out duration filled in from the company's defaults."""
    policy = settings.policy
    defaults = {
        "payment_due": policy.payment_due,
        "payment_grace": policy.payment_grace,
        "review_period": policy.review_period,
        "support_period": policy.support_period,
        "confirmation_expiry": policy.confirmation_expiry,
    }
    return {**terms, **{k: v for k, v in defaults.items() if terms.get(k) is None}}


def _schedule(confirmation: Confirmation) -> list[dict[str, Any]]:
    """Each instalment of the confirmation's payment schedule with its amount; none without one."""
    schedule = confirmation.terms.payment_schedule
    if schedule is None:
        return []
    return schedule_rows(confirmation.amount_total, confirmation.currency, schedule)


def _checkout_session(stripe_client: Any, view: OrderView, request_id: str, back_url: str) -> str:
    """A Stripe Checkout Session in ``setup`` mode for the order; its address.

    Blocking (the SDK's synchronous client): run it in a thread. Its
    ``checkout.session.completed`` webhook becomes ``provide_payment_method``
    (``orderweb/webhooks.py``). Idempotency keys come from the form's request
    id, so a double click opens the same session.
    """
    metadata = {"order_id": view.order_id}
    customer = stripe_client.v1.customers.create(
        {
            "email": view.customer.email,
            "name": view.customer.name,
            "metadata": metadata,
        },
        {"idempotency_key": f"{request_id}:customer"},
    )
    separator = "&" if "?" in back_url else "?"
    session = stripe_client.v1.checkout.sessions.create(
        {
            "mode": "setup",
            "currency": (view.currency or "EUR").lower(),
            "customer": customer.id,
            "payment_method_types": ["card"],
            "client_reference_id": view.order_id,
            "metadata": metadata,
            "setup_intent_data": {"metadata": metadata},
            "success_url": f"{back_url}{separator}card=saved",
            "cancel_url": back_url,
        },
        {"idempotency_key": f"{request_id}:checkout"},
    )
    url = session.url
    if not isinstance(url, str) or not is_web_url(url):
        raise RuntimeError("Stripe returned a Checkout Session without an address")
    return url


def build_stripe_client(settings: Settings) -> Any | None:
    """The official ``stripe.StripeClient``, built as the worker's gateway builds it; None without a key."""
    if not settings.stripe_api_key:
        return None
    import stripe

    from activities import stripe_http
    from activities.stripe_payments import STRIPE_API_VERSION

    return stripe.StripeClient(
        settings.stripe_api_key,
        base_addresses={"api": (settings.stripe_api_base or stripe.DEFAULT_API_BASE).rstrip("/")},
        stripe_version=STRIPE_API_VERSION,
        max_network_retries=0,
        http_client=stripe_http.http_client(settings.stripe_timeout),
    )


def serve(host: str = "127.0.0.1", port: int = 8000, *, settings: Settings | None = None) -> None:
    """Run the portal until Ctrl-C (``orders portal``)."""
    import os

    from ordersecurity.codec import require_encryption
    from orderweb.serving import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    chosen = settings or Settings.from_env()
    tracing.configure("orders-portal")  # OTEL_*: off when unset (orderclient/tracing.py)
    require_encryption()  # refuse to start rather than write customers' data in clear text
    app = create_app(
        lambda: OrderClient.connect(link_secret=chosen.link_secret, settings=chosen),
        chosen,
        stripe_client=build_stripe_client(chosen),
        inbound_secret=os.environ.get("ORDERS_INBOUND_SECRET", "").strip() or None,
    )
    run(app, host, port, chosen.http)
