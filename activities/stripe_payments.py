"""Stripe behind the payment port: hosted invoices, card charges, voids, refunds.

``StripeGateway`` wraps the official synchronous ``stripe.StripeClient`` (v1
API, version pinned) and runs each call in a worker thread, so the worker's
event loop never blocks on the network. The SDK's own retries are off
(``max_network_retries=0``): Temporal's retry policy is the only one, and every
retry of an activity sends the same ``Idempotency-Key``, derived in the
workflow, so Stripe performs each operation once.

``map_stripe_error`` (``activities/stripe_errors.py``) is the single place
that decides what a Stripe error means for the order; amounts go to Stripe in
minor units (``activities/stripe_money.py``).

**Unknown outcomes.** Stripe saves the first answer to an idempotency key once
the endpoint has started, 500s included, and replays it for 24 hours
(``Idempotent-Replayed: true``). So a retry with the same key can repeat a 500
for as long as Temporal retries, while the object may in fact exist. After a
5xx or no answer, each create therefore looks for its object first
(read-your-writes lists, never the eventually consistent Search API):

================  ==================================================================
create            how the gateway finds what a 500 may have made
================  ==================================================================
card charge       the customer's PaymentIntents, by ``metadata`` order_id and attempt
invoice           the customer's invoices, by ``metadata`` order_id and reference
invoice item      the invoice's items: item *n* exists when the invoice has *n* items
finalize          the invoice, when it is no longer a draft
void              the invoice, when it is void
refund            the PaymentIntent's refunds, by amount and ``metadata`` order_id and
                  payment reference
customer          not looked for: a spare customer holds no money
================  ==================================================================

What it finds is used as the answer. When nothing exists and Stripe *replayed*
a saved 5xx, the same key can never succeed, so the gateway goes on at once
with the next key ``<key>:2``, ``<key>:3``, … On every retry it walks the keys
from the workflow's own again, so the count of keys comes from Stripe's
answers, not from ``activity.info().attempt``: a key whose first request timed
out may still be running, and is only left behind once Stripe has replayed a
5xx for it (a request still running answers ``409``, a finished one its
answer). So nothing is charged twice, and a saved 500 costs one retry, not the
2-hour give-up. A fresh 5xx or no answer, with nothing found, is retried by
Temporal with the same key.

**3D Secure.** A PaymentIntent left ``requires_action`` returns
``ChargeResult(status="requires_action")`` with ``hosted_url`` set to the
bank's ``redirect_to_url`` when Stripe gives one; with ``use_stripe_sdk``
(Stripe.js authenticates) there is no URL, and the activity puts the order's
payment page there instead.

**Refunds over several payments** are made newest payment first
(``activities/stripe_refunds.py`` plans them and sums up the result), each with a
sub-key ``<key>:<n>``. A retryable error part-way is raised, and Temporal's
retry replays the refunds already made. A non-retryable error, or a refund
Stripe reports ``failed``, after some money went back, returns
``RefundResult(status="partial")`` with the amount really refunded,
``failed_amount`` and the reason. When the first one fails, the refund fails
as a whole (raised).

**Voids.** Voiding an invoice that is not open raises ``StripeInvoiceNotOpen``
(non-retryable) with ``details[0]`` = ``{"invoice_id", "status", "amount_paid",
"currency"}``: ``status`` ``"paid"`` means the customer paid it, and it is a
payment to count or refund. An invoice that is already void is not an error.

Only Stripe ids, amounts, statuses and decline codes reach logs and workflow
history: never card data, never the API key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import stripe
from stripe.params import (
    CustomerCreateParams,
    InvoiceCreateParams,
    InvoiceItemCreateParams,
    PaymentIntentCreateParams,
    RefundCreateParams,
)
from temporalio.exceptions import ApplicationError

from activities import stripe_http
from activities.config import Settings
from activities.stripe_errors import (
    DECLINE_MESSAGES,
    decline_message,
    is_authentication,
    map_stripe_error,
    outcome_unknown,
    replayed,
    stripe_failure,
)
from activities.stripe_money import from_minor_units, to_minor_units
from activities.stripe_refunds import Allocation, refund_plan, refund_result
from workflows.models import (
    ChargeRequest,
    ChargeResult,
    Payment,
    PaymentMethod,
    PaymentRequest,
    RefundRequest,
    RefundResult,
    VoidInvoiceRequest,
)

STRIPE_API_VERSION: Final = "2026-10-28.endive"
DEFAULT_TIMEOUT: Final = 20.0
MAX_KEYS: Final = 10
"""Fresh keys one create may use after saved 5xx answers, before it leaves the rest to Temporal."""
IDEMPOTENCY_WINDOW: Final = 25 * 3600
"""Seconds back a reconciliation looks: Stripe keeps a key's answer 24 hours."""
LIST_PAGE: Final = 100

T = TypeVar("T")

log = logging.getLogger("orders.stripe")


@dataclass(frozen=True)
class HostedInvoice:
    invoice_id: str
    url: str | None
    pdf: str | None


def _redirect_url(intent: stripe.PaymentIntent) -> str | None:
    """The bank's page for 3D Secure, when Stripe names one. ``next_action`` may be
    ``use_stripe_sdk`` (Stripe.js authenticates, no URL), so read it as a mapping:
    the SDK's objects raise ``AttributeError`` for a key they were not sent."""
    next_action = _field(intent, "next_action")
    redirect = _field(next_action, "redirect_to_url") if next_action is not None else None
    url = _field(redirect, "url") if redirect is not None else None
    return url if isinstance(url, str) and url else None


def _field(obj: stripe.StripeObject, name: str) -> Any:
    return obj[name] if name in obj else None  # noqa: SIM401 (a StripeObject has no .get)


def _has_metadata(obj: stripe.StripeObject, wanted: dict[str, str]) -> bool:
    metadata = _field(obj, "metadata")
    return metadata is not None and all(_field(metadata, k) == v for k, v in wanted.items())


class StripeGateway:
    """The Stripe calls the payment activities make. Each public method is a
    coroutine that runs the blocking SDK call in a thread."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        client: stripe.StripeClient | None = None,
    ) -> None:
        self._client = client or stripe.StripeClient(
            api_key,
            base_addresses={"api": (api_base or stripe.DEFAULT_API_BASE).rstrip("/")},
            stripe_version=STRIPE_API_VERSION,
            max_network_retries=0,
            http_client=stripe_http.http_client(timeout),  # a span per request when tracing
        )

    def __repr__(self) -> str:
        return "StripeGateway()"  # never the key

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeGateway | None:
        """The gateway when ``STRIPE_API_KEY`` is set, else ``None``."""
        if not settings.stripe_api_key:
            return None
        return cls(settings.stripe_api_key, api_base=settings.stripe_api_base, timeout=settings.stripe_timeout)

    # -- public, awaitable ---------------------------------------------

    async def create_invoice(self, request: PaymentRequest) -> HostedInvoice:
        return await asyncio.to_thread(self._create_invoice, request)

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        return await asyncio.to_thread(self._charge, request)

    async def void_invoice(self, request: VoidInvoiceRequest) -> str:
        return await asyncio.to_thread(self._void_invoice, request)

    async def refund(self, request: RefundRequest) -> RefundResult | None:
        return await asyncio.to_thread(self._refund, request)

    async def delete_order_customers(self, order_id: str) -> list[str]:
        """Delete the Customer objects this order made (``orders erase``); their ids."""
        return await asyncio.to_thread(self._delete_order_customers, order_id)

    # -- blocking ------------------------------------------------------

    def _create_once(self, create: Callable[[str], T], key: str, find: Callable[[], T | None] | None) -> T:
        """``create(key)``, made safe against Stripe's saved 500s.

        After a 5xx or no answer, ``find()`` looks for what the request may have
        made, and that is the answer. When nothing is found and Stripe replayed
        a saved 5xx, the key is spent: go on with ``<key>:2``, ``<key>:3``, ...
        A fresh 5xx or no answer is raised, for Temporal to retry with the same
        key (the first request may still be running)."""
        for number in range(1, MAX_KEYS + 1):
            attempt_key = key if number == 1 else f"{key}:{number}"
            try:
                return create(attempt_key)
            except stripe.StripeError as err:
                if not outcome_unknown(err):
                    raise
                found = find() if find is not None else None
                if found is not None:
                    log.warning("Stripe answered %s for key %s, but the work was done", err.http_status, attempt_key)
                    return found
                if not replayed(err):
                    raise
                log.warning("Stripe replays a saved %s for key %s: trying a new key", err.http_status, attempt_key)
        raise ApplicationError(
            f"Stripe answered {MAX_KEYS} idempotency keys with a saved server error",
            {"idempotency_key": key},
            type="StripeServerError",
        )

    def _create_invoice(self, request: PaymentRequest) -> HostedInvoice:
        """Customer (once), invoice, one item per line, finalize: each call with its own stable key."""
        key = request.idempotency_key
        currency = request.currency.lower()
        metadata = {"order_id": request.order_id, "reference": request.reference}
        v1 = self._client.v1
        try:
            customer = request.stripe_customer_id
            if not customer:
                customer_params: CustomerCreateParams = {
                    "name": request.customer_name or request.order_id,
                    **({"email": request.customer_email} if request.customer_email else {}),
                    "metadata": {"order_id": request.order_id},
                }
                customer = self._create_once(
                    lambda k: v1.customers.create(customer_params, {"idempotency_key": k}),
                    f"{key}:customer",
                    None,
                ).id
            invoice_params: InvoiceCreateParams = {
                "customer": customer,
                "collection_method": "send_invoice",
                "days_until_due": max(1, request.days_until_due),
                "currency": currency,
                "auto_advance": False,
                "pending_invoice_items_behavior": "exclude",
                "description": f"Order {request.order_id}, payment reference {request.reference}",
                "metadata": metadata,
            }
            invoice = self._create_once(
                lambda k: v1.invoices.create(invoice_params, {"idempotency_key": k}),
                f"{key}:invoice",
                lambda: self._find_invoice(customer, metadata),
            )
            invoice_id = invoice.id
            for number, (description, amount) in enumerate(self._invoice_lines(request), start=1):
                item: InvoiceItemCreateParams = {
                    "customer": customer,
                    "invoice": invoice_id,
                    "currency": currency,
                    "amount": amount,
                    "description": description,
                    "metadata": {"order_id": request.order_id},
                }
                self._create_invoice_item(item, f"{key}:item:{number}", number)
            final = self._create_once(
                lambda k: v1.invoices.finalize_invoice(invoice_id, {"auto_advance": False}, {"idempotency_key": k}),
                f"{key}:finalize",
                lambda: self._invoice_unless(invoice_id, "draft"),
            )
        except stripe.StripeError as err:
            raise stripe_failure(err) from None
        log.info(
            "invoice %s finalized for order %s (%s %s)",
            final.id,
            request.order_id,
            request.currency,
            request.amount,
            extra={"order_id": request.order_id, "invoice_id": final.id, "customer_id": customer},
        )
        return HostedInvoice(invoice_id=final.id, url=final.hosted_invoice_url, pdf=final.invoice_pdf)

    def _create_invoice_item(self, item: InvoiceItemCreateParams, key: str, number: int) -> stripe.InvoiceItem:
        invoice_id = item["invoice"]
        return self._create_once(
            lambda k: self._client.v1.invoice_items.create(item, {"idempotency_key": k}),
            key,
            lambda: self._find_invoice_item(invoice_id, number),
        )

    def _delete_order_customers(self, order_id: str) -> list[str]:
        # Only those the order made (metadata order_id, see _create_invoice): a customer id the
        # customer gave for a card payment belongs to the company's own customer records.
        found = self._client.v1.customers.search({"query": f"metadata['order_id']:'{order_id}'", "limit": 100})
        deleted = []
        for customer in found.data:
            try:
                self._client.v1.customers.delete(customer.id)
            except stripe.InvalidRequestError as err:
                if err.code != "resource_missing":  # deleted by an earlier attempt: done
                    raise
            deleted.append(customer.id)
        return deleted

    def _find_invoice(self, customer: str, metadata: dict[str, str]) -> stripe.Invoice | None:
        listing = self._client.v1.invoices.list({"customer": customer, "limit": LIST_PAGE})
        for invoice in listing.auto_paging_iter():
            if invoice.created < time.time() - IDEMPOTENCY_WINDOW:
                break  # newest first: older ones cannot be this request's
            if _has_metadata(invoice, metadata):
                return invoice
        return None

    def _find_invoice_item(self, invoice_id: str, number: int) -> stripe.InvoiceItem | None:
        """Items are made one after the other, so item ``number`` exists once the invoice has that many."""
        listing = self._client.v1.invoice_items.list({"invoice": invoice_id, "limit": LIST_PAGE})
        oldest_first = list(reversed(list(listing.auto_paging_iter())))
        return oldest_first[number - 1] if len(oldest_first) >= number else None

    def _invoice_unless(self, invoice_id: str, status: str) -> stripe.Invoice | None:
        invoice = self._client.v1.invoices.retrieve(invoice_id)
        return invoice if invoice.status != status else None

    @staticmethod
    def _invoice_lines(request: PaymentRequest) -> list[tuple[str, int]]:
        """One line per confirmation line, in minor units, balanced to the amount due."""
        lines: list[tuple[str, int]] = []
        for item in request.line_items:
            description = item.description
            if item.quantity != 1:
                quantity = f"{item.quantity.normalize():f}"
                description = f"{description} ({quantity} x {request.currency} {item.unit_price})"
            lines.append((description, to_minor_units(item.amount, request.currency)))
        due = to_minor_units(request.amount, request.currency)
        if not lines:
            return [(f"Order {request.order_id}", due)]
        difference = due - sum(amount for _, amount in lines)
        if difference:
            lines.append(("Already paid" if difference < 0 else "Adjustment", difference))
        return lines

    def _charge(self, request: ChargeRequest) -> ChargeResult:
        params: PaymentIntentCreateParams = {
            "amount": to_minor_units(request.amount, request.currency),
            "currency": request.currency.lower(),
            "customer": request.stripe_customer_id,
            "payment_method": request.payment_method_id,
            "off_session": True,
            "confirm": True,
            # A saved card is charged without the customer present: no redirects.
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "description": request.description,
            "metadata": {"order_id": request.order_id, "attempt": str(request.attempt)},
        }
        try:
            intent = self._create_once(
                lambda k: self._client.v1.payment_intents.create(params, {"idempotency_key": k}),
                request.idempotency_key,
                lambda: self._find_payment_intent(request),
            )
        except stripe.StripeError as err:
            outcome = map_stripe_error(err)
            if isinstance(outcome, ApplicationError):
                raise outcome from None
            return outcome
        return self._charge_result(intent)

    def _find_payment_intent(self, request: ChargeRequest) -> stripe.PaymentIntent | None:
        """This attempt's PaymentIntent, from the customer's (a list is read-your-writes; search is not)."""
        wanted = {"order_id": request.order_id, "attempt": str(request.attempt)}
        listing = self._client.v1.payment_intents.list({"customer": request.stripe_customer_id, "limit": LIST_PAGE})
        found: list[stripe.PaymentIntent] = []
        for intent in listing.auto_paging_iter():
            if intent.created < time.time() - IDEMPOTENCY_WINDOW:
                break  # newest first: older ones cannot be this attempt's
            if _has_metadata(intent, wanted):
                found.append(intent)
        # One, unless something else raced: then the one that took the money.
        return next((i for i in found if i.status == "succeeded"), found[0] if found else None)

    @staticmethod
    def _charge_result(intent: stripe.PaymentIntent) -> ChargeResult:
        status = intent.status
        if status == "succeeded":
            return ChargeResult(
                status="succeeded",
                payment_intent_id=intent.id,
                amount=from_minor_units(intent.amount_received or intent.amount, intent.currency),
            )
        if status == "requires_action":
            return ChargeResult(
                status="requires_action",
                payment_intent_id=intent.id,
                decline_code="authentication_required",
                message=DECLINE_MESSAGES["authentication_required"],
                hosted_url=_redirect_url(intent),
            )
        if status in ("requires_payment_method", "canceled"):
            error = intent.last_payment_error
            code = error.code if error is not None else None
            decline_code = (error.decline_code if error is not None else None) or code
            return ChargeResult(
                status="requires_action" if is_authentication(decline_code, code) else "declined",
                payment_intent_id=intent.id,
                decline_code=decline_code,
                message=decline_message(decline_code, code),
            )
        # processing, or a state Stripe settles later: the webhook reports the outcome.
        return ChargeResult(status="processing", payment_intent_id=intent.id)

    def _void_invoice(self, request: VoidInvoiceRequest) -> str:
        """``"void"``, or ``StripeInvoiceNotOpen`` with the invoice's status when it is paid (or otherwise closed)."""
        try:
            invoice = self._create_once(
                lambda k: self._client.v1.invoices.void_invoice(request.invoice_id, options={"idempotency_key": k}),
                request.idempotency_key,
                lambda: self._invoice_if(request.invoice_id, "void"),
            )
        except stripe.StripeError as err:
            failure = stripe_failure(err)
            if failure.type != "StripeInvoiceNotOpen":
                raise failure from None
            return self._not_open(request.invoice_id, failure)
        return str(invoice.status)

    def _invoice_if(self, invoice_id: str, status: str) -> stripe.Invoice | None:
        invoice = self._client.v1.invoices.retrieve(invoice_id)
        return invoice if invoice.status == status else None

    def _not_open(self, invoice_id: str, failure: ApplicationError) -> str:
        """An invoice already void is voided; any other status is raised, for the workflow to act on."""
        try:
            invoice = self._client.v1.invoices.retrieve(invoice_id)
        except stripe.StripeError as err:
            raise stripe_failure(err) from None
        if invoice.status == "void":
            return "void"
        raise ApplicationError(
            f"invoice {invoice_id} is {invoice.status}, not open: it cannot be voided",
            {
                "invoice_id": invoice_id,
                "status": invoice.status,
                "amount_paid": str(from_minor_units(invoice.amount_paid, invoice.currency)),
                "currency": invoice.currency.upper(),
            },
            type=failure.type,
            non_retryable=True,
        )

    def _refund(self, request: RefundRequest) -> RefundResult | None:
        """Refund through Stripe, or ``None`` when the refund must be made by hand."""
        plan = refund_plan(request.payments, request.amount)
        if plan is None:
            return None
        made: list[tuple[Allocation, stripe.Refund]] = []
        failure: ApplicationError | None = None
        for number, share in enumerate(plan, start=1):
            # One refund keeps the workflow's key as it is; several get stable sub-keys.
            key = request.idempotency_key if len(plan) == 1 else f"{request.idempotency_key}:{number}"
            try:
                made.append((share, self._refund_share(request, share, key)))
            except (stripe.StripeError, ApplicationError) as err:
                failure = stripe_failure(err) if isinstance(err, stripe.StripeError) else err
                if not failure.non_retryable or not made:
                    # Retryable: Temporal retries, and Stripe replays the refunds made. The first failed: nothing made.
                    raise failure from None
                break
        return refund_result(request, plan, made, failure)

    def _refund_share(self, request: RefundRequest, share: Allocation, key: str) -> stripe.Refund:
        intent = self._payment_intent_of(share.payment)
        amount = to_minor_units(share.amount, request.currency)
        metadata = {"order_id": request.order_id, "payment_reference": share.payment.reference}
        params: RefundCreateParams = {
            "payment_intent": intent,
            "amount": amount,
            "reason": "requested_by_customer",
            "metadata": metadata,
        }
        return self._create_once(
            lambda k: self._client.v1.refunds.create(params, {"idempotency_key": k}),
            key,
            lambda: self._find_refund(intent, metadata, amount),
        )

    def _find_refund(self, intent: str, metadata: dict[str, str], amount: int) -> stripe.Refund | None:
        listing = self._client.v1.refunds.list({"payment_intent": intent, "limit": LIST_PAGE})
        for refund in listing.auto_paging_iter():
            if refund.created < time.time() - IDEMPOTENCY_WINDOW:
                break
            if refund.amount == amount and _has_metadata(refund, metadata):
                return refund
        return None

    def _payment_intent_of(self, payment: Payment) -> str:
        """A card payment's reference is its PaymentIntent; an invoice's is found through its payments."""
        if payment.method is PaymentMethod.CARD:
            return payment.reference
        listing = self._client.v1.invoice_payments.list({"invoice": payment.reference})
        for item in listing.data:
            paid = item.payment
            if item.status == "paid" and paid.type == "payment_intent" and paid.payment_intent:
                intent = paid.payment_intent
                return intent if isinstance(intent, str) else intent.id
        raise ApplicationError(
            f"invoice {payment.reference} has no paid PaymentIntent to refund",
            type="StripePaymentNotFound",
            non_retryable=True,
        )
