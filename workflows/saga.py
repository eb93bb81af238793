"""The payment saga: charge, invoice, refund, void, held money, and the settlement of a cancellation.

``PaymentSaga`` takes the order's state and the few services it needs (the
effects beside the process, mail, published details) and a callback for the
one status change it causes (paid in full: the work starts). Every call to
Stripe carries an idempotency key derived from the order and its step, so a
retry never charges or refunds twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows import email_contexts as contexts
from workflows import facts, instalments, receipts
from workflows.activity_refs import PaymentRefs
from workflows.activity_refs import reason as why_failed
from workflows.continuation import Effects
from workflows.details import Details, log
from workflows.facts import GIVEN_BACK, ZERO
from workflows.mail import Mail
from workflows.models import (
    Audience,
    ChargeAttempt,
    ChargeRequest,
    Confirmation,
    HeldPayment,
    InstalmentStatus,
    InvoicePhase,
    MessageKind,
    OrderState,
    OrderStatus,
    OrderView,
    Payment,
    PaymentEventInput,
    PaymentFailedInput,
    PaymentInstructions,
    PaymentMethod,
    PaymentRequest,
    ProvidePaymentMethodInput,
    Refund,
    RefundRequest,
    RefundResult,
    SagaPhase,
    VoidInvoiceRequest,
)
from workflows.models import TimelineKind as TL
from workflows.payment_port import invoice_status, payment_step

S = OrderStatus

# How long the payment email waits for Stripe's hosted invoice before it goes
# without the link; the link follows in its own email when Stripe answers.
INVOICE_WAIT = timedelta(seconds=30)


# workflow.patched ids: each guards a change that would not replay older orders.
VOID_INVOICE_WHEN_PAID = "void-open-invoice-when-paid-another-way"
REFUND_CARD_OVERPAYMENT = "refund-the-overpaid-part-of-a-card-payment"


class PaymentSaga:
    """The order's money: what comes in, what goes back, and what is still in flight."""

    def __init__(
        self, state: OrderState, effects: Effects, mail: Mail, published: Details, paid_in_full: Callable[[], None]
    ) -> None:
        self._state = state
        self._effects = effects
        self._mail = mail
        self._details = published
        self._paid_in_full = paid_in_full
        # Steps in flight, which a cancellation waits for before it works out the refund.
        self.charging = False  # a card charge
        self._returning = 0  # overpayment refunds
        # What else must follow a payment counted (billing voids an instalment's invoice paid another way).
        self.counted: Callable[[], None] = lambda: None

    @property
    def _order(self) -> OrderView:
        return self._state.order

    @property
    def _status(self) -> OrderStatus:
        return self._state.order.status

    @property
    def _approved(self) -> Confirmation:
        return facts.approved(self._state)

    @property
    def _approved_or_none(self) -> Confirmation | None:
        return facts.approved_or_none(self._state)

    def _log(self, kind: TL, /, **fields: object) -> None:
        log(self._state, kind, **fields)

    def _preparing(self) -> bool:
        """Stripe is still creating the hosted invoice (or, in older orders, the payment instructions)."""
        return self._state.invoice in (InvoicePhase.PREPARING, InvoicePhase.FOLLOWING)

    def _in_flight(self) -> bool:
        """A charge, an invoice or an overpayment refund that Stripe is still working on."""
        return self.charging or self._preparing() or self._returning > 0

    async def prepare_then_ask(self) -> None:
        """Orders that reached payment before ``PAYMENT_EMAIL_FIRST``: instructions first, then the email."""
        self._state.invoice = InvoicePhase.PREPARING
        instructions = self._order.payment_instructions = await self._prepare_payment()
        self._state.invoice = InvoicePhase.OPEN if instructions.invoice_id else InvoicePhase.NONE
        if self._status is S.AWAITING_PAYMENT:
            self._mail.email(MessageKind.PAYMENT_REQUESTED, **contexts.payment_context(self._state))
            self.charge_card_if_ready()

    async def ask_for_payment(self) -> None:
        """Email the payment request at once. Bank details need no provider; a
        hosted invoice joins the email when Stripe is quick, else it follows."""
        methods = self._approved.terms.payment_methods
        policy = facts.require(self._state.policy, "policy")
        instructions = PaymentInstructions(
            reference=facts.payment_reference(self._state),
            bank_transfer=policy.bank_transfer if PaymentMethod.BANK_TRANSFER in methods else None,
        )
        self._order.payment_instructions = instructions
        if PaymentMethod.INVOICE in methods:
            self._state.invoice = InvoicePhase.PREPARING
            instructions.invoice_pending = True
            self._effects.spawn(self._prepare_invoice())
            self._details.upsert_changes()
            try:
                await workflow.wait_condition(
                    lambda: not self._preparing() or self._status is not S.AWAITING_PAYMENT,
                    timeout=INVOICE_WAIT,
                    timeout_summary="payment email waits briefly for the hosted invoice",
                )
            except TimeoutError:
                if self._state.invoice is InvoicePhase.PREPARING:
                    self._state.invoice = InvoicePhase.FOLLOWING
                self._log(TL.HOSTED_INVOICE_DELAYED)
        if self._status is S.AWAITING_PAYMENT:
            self._mail.email(MessageKind.PAYMENT_REQUESTED, **contexts.payment_context(self._state))
            self.charge_card_if_ready()

    async def _prepare_invoice(self) -> None:
        """Seed 2.1, hosted invoice: created beside the order, so that no stage waits on Stripe."""
        instructions = facts.require(self._order.payment_instructions, "payment instructions")
        amount = self._order.balance_due
        try:
            created: PaymentInstructions | None = await payment_step(
                PaymentRefs.request_payment,
                self._payment_request([PaymentMethod.INVOICE], amount),
                "create hosted invoice",
            )
        except ActivityError as error:
            created = None
            message = why_failed(error)
            self._log(TL.HOSTED_INVOICE_FAILED, error=message)
            # The customer still has the reference (and bank details, where allowed); operations must act.
            self._mail.email(MessageKind.PAYMENT_ERROR, Audience.OPERATIONS, step="hosted invoice", error=message)
        finally:
            follows = self._state.invoice is InvoicePhase.FOLLOWING
            self._state.invoice = InvoicePhase.NONE
            instructions.invoice_pending = False
        if created is None or created.invoice_id is None:
            return
        instructions.invoice_id = created.invoice_id
        self._state.invoice = InvoicePhase.OPEN
        instructions.invoice_url = created.invoice_url
        instructions.invoice_pdf = created.invoice_pdf
        instructions.invoice_amount = amount
        self._log(TL.HOSTED_INVOICE_CREATED, invoice=created.invoice_id)
        if self._status is S.CANCELLED:
            return  # The cancellation, which waited for this, voids it.
        if self._status is not S.AWAITING_PAYMENT:
            # Paid another way while Stripe was busy: nobody may pay this invoice now.
            self._effects.spawn(self._void_invoice(created.invoice_id))
        elif follows:
            self._mail.email(MessageKind.INVOICE_READY, **contexts.payment_context(self._state))

    def _payment_request(self, methods: list[PaymentMethod], amount: Decimal) -> PaymentRequest:
        due_at = facts.require(self._state.payment_due_at, "payment due date")
        return PaymentRequest(
            order_id=self._order.order_id,
            methods=methods,
            amount=amount,
            currency=self._approved.currency,
            reference=facts.payment_reference(self._state),
            due_at=due_at,
            idempotency_key=facts.key(self._state, "payment-request"),
            customer_name=self._order.customer.name,
            customer_email=self._order.customer.email,
            stripe_customer_id=self._stripe_customer_id,
            line_items=instalments.invoice_items(self._state, self._approved),
            days_until_due=max(1, facts.term(self._state, "payment_due").days),
        )

    async def _prepare_payment(self) -> PaymentInstructions:
        """Before ``PAYMENT_EMAIL_FIRST``: ask the payment port for everything, then email."""
        try:
            instructions = await payment_step(
                PaymentRefs.request_payment,
                self._payment_request(self._approved.terms.payment_methods, self._order.balance_due),
                "prepare payment instructions",
            )
            return instructions
        except ActivityError as error:
            # Still ask for the money by reference; operations sort out the rest.
            message = why_failed(error)
            self._log(TL.PAYMENT_REQUEST_FAILED, error=message)
            self._mail.email(MessageKind.PAYMENT_ERROR, Audience.OPERATIONS, step="payment request", error=message)
            return PaymentInstructions(reference=facts.payment_reference(self._state))

    def provider_reported(self, request: PaymentEventInput) -> None:
        """Something the payment provider reports that needs no decision: it goes on the timeline,
        and a refund that failed after Stripe accepted it is owed again."""
        self._log(
            TL.PAYMENT_EVENT,
            event=request.event,
            reference=request.reference,
            currency=self._order.currency,
            amount=request.amount,
            text=request.detail,
        )
        if request.event == "refund_failed":
            self.refund_failed_later(request)

    def refund_failed_later(self, request: PaymentEventInput) -> None:
        """Stripe accepted a refund and failed it afterwards: the customer still waits for that money."""
        refund = next((r for r in self._order.refunds if request.reference in (r.refund_id or "").split(",")), None)
        if refund is not None:
            refund.status = "failed"
        for held in self._order.held_payments:
            if held.status == "refunded" and refund is None:
                held.status = "refund_failed"
                break
        amount = request.amount if request.amount is not None else (refund.amount if refund else ZERO)
        self._mail.email(
            MessageKind.REFUND_NEEDED,
            Audience.OPERATIONS,
            refund={
                "amount": str(amount),
                "method": (refund.method if refund else PaymentMethod.CARD).value,
                "status": "failed",
                "refund_id": request.reference,
            },
            currency=self._order.currency,
            payments=[p.model_dump(mode="json") for p in self._order.payments],
            reason=f"Stripe failed refund {request.reference} after accepting it: {request.detail or 'no reason'}",
        )

    def take_payment(self, payment: Payment) -> None:
        """Seed 2.2: count money in, confirm it, and start work once the balance is zero."""
        if self._already_paid(payment.method, payment.reference):
            # Stripe reports a payment both to the charge and to the webhook.
            self._log(TL.DUPLICATE_PAYMENT_IGNORED, reference=payment.reference)
            return
        problem = self._why_not_counted(payment)
        if problem is not None:
            self._hold(payment, problem)
            return
        overpaid_before, paid_before = self._order.overpaid, receipts.paid_so_far(self._state)
        self._order.payments.append(payment)
        self.recompute_balance()
        if payment.method is PaymentMethod.INVOICE:
            self._state.invoice = InvoicePhase.CLOSED
        self._log(TL.PAYMENT_RECORDED, currency=self._order.currency, amount=payment.amount, method=payment.method)
        if self._status is S.CANCELLED:
            # In flight when the order was cancelled: the settlement, which waited for it, refunds it.
            return
        overpaid_now = self._order.overpaid - overpaid_before
        if payment.method is PaymentMethod.CARD and overpaid_now > ZERO and workflow.patched(REFUND_CARD_OVERPAYMENT):
            # Paid twice (a card charge that landed after a transfer): the overpaid part goes back at once.
            self._effects.spawn(self._refund_overpayment(payment, min(overpaid_now, payment.amount)))
        else:
            self._confirm_payment(payment, overpaid_before, paid_before)
        self.counted()
        if self._status is S.AWAITING_PAYMENT and self._order.balance_due == ZERO:
            self._paid_in_full()
        elif self._status is S.AWAITING_FINAL_PAYMENT and not instalments.owing(self._state):
            self._paid_in_full()  # the last instalment: the order completes
        instructions = self._order.payment_instructions
        if (
            instructions is not None
            and instructions.invoice_id
            and self._state.invoice is not InvoicePhase.CLOSED
            and self._order.balance_due == ZERO
            and workflow.patched(VOID_INVOICE_WHEN_PAID)
        ):
            # Paid another way: an open invoice could be paid a second time.
            self._effects.spawn(self._void_invoice(instructions.invoice_id))

    def _confirm_payment(self, payment: Payment, overpaid_before: Decimal, paid_before: dict[int, Decimal]) -> None:
        """The payment confirmation with its receipt, and the overpayment alert for operations when it paid too much."""
        owing = self._status is S.AWAITING_PAYMENT and self._order.balance_due > ZERO and self._state.payment_due_at
        context = dict(
            payment=payment.model_dump(mode="json"),
            amount_paid=str(self._order.amount_paid),
            balance_due=str(self._order.balance_due),
            currency=self._order.currency,
            # A part payment: when the rest is due, and (through the payment page's link) how to pay it.
            **(contexts.balance_dates(self._state) if owing else {}),
            # A payment schedule: what this payment paid of it, and what is still to come.
            **contexts.schedule_context(self._state),
            **receipts.receipt_context(self._state, paid_before),
        )
        # Sent as before (the same command), and the receipt it carried is kept on the payment.
        self._effects.spawn(receipts.send_with_receipt(self._mail, self._state, context))
        if self._order.overpaid > overpaid_before:
            self._log(TL.OVERPAYMENT_FLAGGED, currency=self._order.currency, amount=self._order.overpaid)
            self._mail.email(
                MessageKind.OVERPAYMENT_ALERT,
                Audience.OPERATIONS,
                overpaid=str(self._order.overpaid),
                amount_paid=str(self._order.amount_paid),
                currency=self._order.currency,
                payment=payment.model_dump(mode="json"),
            )

    async def _refund_overpayment(self, payment: Payment, amount: Decimal) -> None:
        """Give back what a card payment paid beyond the order's total, with no fee
        (the customer paid twice), and tell the customer; a refund that fails goes
        to operations (``_refund``)."""
        self._returning += 1
        try:
            refund = await self._refund(
                amount,
                [payment],
                f"refund:overpaid:{payment.reference}",
                reason=f"card payment {payment.reference} paid {self._order.currency} {amount} more than due",
            )
            refund.overpaid_by = payment.reference
            self.recompute_balance()
        finally:
            self._returning -= 1
        self._mail.email(
            MessageKind.OVERPAYMENT_REFUNDED,
            payment=payment.model_dump(mode="json"),
            refund=refund.model_dump(mode="json"),
            amount_paid=str(self._order.amount_paid),
            currency=self._order.currency,
        )

    def give_back(self, amount: Decimal, step: str, reason: str) -> None:
        """Money paid above a lowered total goes back: card payments to their cards; a bank
        transfer is operations' to refund (``_refund`` tells them). Once given back it no longer counts."""
        self._effects.spawn(self._give_back(amount, step, reason))

    async def _give_back(self, amount: Decimal, step: str, reason: str) -> None:
        """Card payments first, the newest first: each refund is of one payment, so the payments
        still kept (``facts.kept_payments``) know what each has left for a later refund."""
        self._returning += 1
        try:
            payments = sorted(
                facts.kept_payments(self._state), key=lambda p: (p.method is not PaymentMethod.CARD, -p.at.timestamp())
            )
            for payment in payments:
                if amount <= ZERO:
                    break
                share = min(amount, payment.amount)
                refund = await self._refund(share, [payment], f"{step}:{payment.reference}", reason=reason)
                refund.overpaid_by = payment.reference
                amount -= share
            self.recompute_balance()
        finally:
            self._returning -= 1

    def _why_not_counted(self, payment: Payment) -> str | None:
        """Why this money cannot count towards the order, or ``None`` when it can."""
        if self._approved_or_none is None:
            return "it arrived before any order confirmation was approved"
        if self._status in (S.EXPIRED, S.COMPLETED) or (
            self._status is S.CANCELLED and self._state.saga is SagaPhase.SETTLED
        ):
            return f"it arrived after the order was {self._status}"
        currency = self._order.currency
        if payment.currency is not None and payment.currency != currency:
            return f"the payment is in {payment.currency}, but the order is in {currency}"
        if payment.method is PaymentMethod.INVOICE and any(
            bill.invoice_id == payment.reference for bill in self._order.instalments
        ):
            return None  # an instalment's own hosted invoice
        if payment.method is PaymentMethod.INVOICE:
            instructions = self._order.payment_instructions
            ours = instructions.invoice_id if instructions else None
            if payment.reference != ours:
                return f"invoice {payment.reference} is not this order's invoice ({ours or 'none was issued'})"
            expected = instructions.invoice_amount if instructions else None
            if expected is not None and payment.amount != expected:
                return f"invoice {ours} was paid {currency} {payment.amount}, but it asks for {currency} {expected}"
        return None

    def _hold(self, payment: Payment, reason: str) -> None:
        """Keep money that cannot be counted where everyone sees it, and hand it to operations."""
        held = HeldPayment(
            at=payment.at,
            amount=payment.amount,
            currency=payment.currency or self._order.currency,
            method=payment.method,
            reference=payment.reference,
            reason=reason,
        )
        self._order.held_payments.append(held)
        self._log(
            TL.PAYMENT_HELD,
            currency=held.currency,
            amount=held.amount,
            method=held.method,
            reference=held.reference,
            reason=reason,
        )
        # Money for a closed order goes back; a mismatch or an early payment is operations' call.
        refund = self._status in (S.CANCELLED, S.EXPIRED) and held.method is not PaymentMethod.BANK_TRANSFER
        self._mail.email(
            MessageKind.PAYMENT_NEEDS_REVIEW,
            Audience.OPERATIONS,
            payment=held.model_dump(mode="json", include={"at", "amount", "currency", "method", "reference"}),
            currency=self._order.currency or held.currency,
            reason=reason,
            action=(
                "It is being refunded in full through Stripe; you will hear again if that fails."
                if refund
                else "It was not counted towards the order. Please refund it or agree a credit with the customer."
            ),
        )
        if refund:
            self._effects.spawn(self._refund_held(held, len(self._order.held_payments)))

    async def _refund_held(self, held: HeldPayment, number: int) -> None:
        payment = Payment(
            at=held.at, amount=held.amount, method=held.method, reference=held.reference, currency=held.currency
        )
        refund = await self._refund(held.amount, [payment], f"refund:held:{number}", reason=held.reason)
        held.status = "refund_failed" if refund.status in ("manual", "failed", "partial") else "refunded"

    async def settle_cancellation(self, notify: bool, refund_allowed: bool = True) -> None:
        """Refund what was really paid, less the cancellation fee, then tell the customer.

        A charge or an invoice that Stripe is still working on decides what
        was paid, so the refund is worked out only once they have answered.
        """
        self._state.saga = SagaPhase.SETTLING
        if self._in_flight():
            # Only then: waiting even for a moment would reorder the commands of older orders.
            await workflow.wait_condition(lambda: not self._in_flight())
        instructions = self._order.payment_instructions
        invoice_id = instructions.invoice_id if instructions else None
        closed = self._state.invoice is InvoicePhase.CLOSED
        if invoice_id and not closed and not self._already_paid(PaymentMethod.INVOICE, invoice_id):
            await self._void_invoice(invoice_id)
        fee = self._approved.terms.cancellation_fee if self._approved_or_none else ZERO
        amount = max(self._order.amount_paid - fee, ZERO)
        # From here on, money that arrives is refunded on its own (see ``_hold``).
        self._state.saga = SagaPhase.SETTLED
        refund: Refund | None = None
        if amount > ZERO and refund_allowed:
            reason = self._order.cancellation.reason if self._order.cancellation else ""
            refund = await self._refund(amount, facts.kept_payments(self._state), "refund", reason=reason)
        elif amount > ZERO:
            self._log(TL.NO_AUTOMATIC_REFUND, currency=self._order.currency, amount=amount)
        if notify:
            self._mail.email(
                MessageKind.CANCELLED,
                cancellation=self._order.cancellation.model_dump(mode="json") if self._order.cancellation else None,
                amount_paid=str(self._order.amount_paid),
                currency=self._order.currency,
                refund=refund.model_dump(mode="json") if refund else None,
            )

    async def _refund(self, amount: Decimal, payments: list[Payment], step: str, *, reason: str) -> Refund:
        """Give money back through the payment port; what could not be refunded goes to operations."""
        currency = self._order.currency or next((p.currency for p in payments if p.currency), None) or ""
        try:
            result = await payment_step(
                PaymentRefs.refund_payment,
                RefundRequest(
                    order_id=self._order.order_id,
                    amount=amount,
                    currency=currency,
                    payments=payments,
                    idempotency_key=facts.key(self._state, step),
                ),
                f"refund {currency} {amount}",
            )
        except ActivityError as error:
            message = why_failed(error)
            result = RefundResult(
                amount=ZERO, method=payments[-1].method, status="failed", failed_amount=amount, message=message
            )
            self._log(TL.REFUND_FAILED, error=message)
        refund = Refund(
            at=workflow.now(),
            amount=result.amount,
            method=result.method,
            status=result.status,
            refund_id=result.refund_id,
            failed_amount=result.failed_amount,
        )
        self._order.refunds.append(refund)
        failed = refund.failed_amount or None  # nothing failed: no words for it
        self._log(TL.REFUND, status=refund.status, currency=currency, amount=refund.amount, failed=failed)
        if refund.status in ("manual", "failed", "partial"):
            outstanding = refund.failed_amount if refund.status != "manual" else refund.amount
            self._mail.email(
                MessageKind.REFUND_NEEDED,
                Audience.OPERATIONS,
                refund={**refund.model_dump(mode="json"), "amount": str(outstanding)},
                refunded=str(refund.amount) if refund.status == "partial" else None,
                currency=currency,
                payments=[p.model_dump(mode="json") for p in payments],
                reason=(f"{reason}. {result.message}" if result.message else reason),
            )
        return refund

    def charge_card_if_ready(self) -> None:
        """Charge the saved card once payment is due; each new card is one new attempt."""
        if self._state.card is None or self.charging or self._state.payment_due_at is None:
            return
        if self._status is not S.AWAITING_PAYMENT or PaymentMethod.CARD not in self._approved.terms.payment_methods:
            return
        card, self._state.card = self._state.card, None
        self.charging = True
        self._state.charge_seq += 1
        self._effects.spawn(self._charge_card(card, self._state.charge_seq))

    async def _charge_card(self, card: ProvidePaymentMethodInput, attempt: int) -> None:
        amount = self._order.balance_due
        try:
            result = await payment_step(
                PaymentRefs.charge_card,
                ChargeRequest(
                    order_id=self._order.order_id,
                    attempt=attempt,
                    amount=amount,
                    currency=self._approved.currency,
                    stripe_customer_id=card.stripe_customer_id,
                    payment_method_id=card.payment_method_id,
                    description=f"Order {self._order.order_id}",
                    # The same key on every retry of this attempt, so Stripe charges once.
                    idempotency_key=facts.key(self._state, f"charge:{attempt}"),
                ),
                f"charge card, attempt {attempt}",
            )
        except ActivityError as error:
            message = why_failed(error)
            self._order.charge_attempts.append(
                ChargeAttempt(at=workflow.now(), attempt=attempt, status="error", message=message)
            )
            self._log(TL.CARD_CHARGE_FAILED, error=message)
            self._mail.email(
                MessageKind.PAYMENT_ERROR, Audience.OPERATIONS, step=f"card charge, attempt {attempt}", error=message
            )
            return
        finally:
            self.charging = False
        self._order.charge_attempts.append(result.attempt(workflow.now(), attempt))
        if result.status == "succeeded" and result.payment_intent_id:
            self.take_payment(
                Payment(
                    at=workflow.now(),
                    amount=result.amount or amount,
                    method=PaymentMethod.CARD,
                    reference=result.payment_intent_id,
                    currency=self._approved.currency,
                )
            )
        elif result.status == "processing":
            self._log(TL.CARD_PAYMENT_PROCESSING, payment_intent=result.payment_intent_id)
        elif self._status is S.AWAITING_PAYMENT:
            self.payment_failed(
                PaymentFailedInput(
                    method=PaymentMethod.CARD,
                    reference=result.payment_intent_id or f"attempt {attempt}",
                    reason=result.message or "The card was declined.",
                    decline_code=result.decline_code,
                    requires_action=result.status == "requires_action",
                    hosted_url=result.hosted_url,
                )
            )

    async def _void_invoice(self, invoice_id: str) -> None:
        """Close the hosted invoice; one paid in the meantime is money in, and counted."""
        if self._state.invoice is InvoicePhase.CLOSED:
            return
        self._state.invoice = InvoicePhase.CLOSED
        try:
            await payment_step(
                PaymentRefs.void_invoice,
                VoidInvoiceRequest(
                    order_id=self._order.order_id,
                    invoice_id=invoice_id,
                    idempotency_key=facts.key(self._state, "void-invoice"),
                ),
                f"void invoice {invoice_id}",
            )
            self._log(TL.INVOICE_VOIDED, invoice=invoice_id)
        except ActivityError as error:
            if invoice_status(error) == "paid":
                self.take_payment(self._invoice_payment(invoice_id))
                return
            self._state.invoice = InvoicePhase.OPEN  # still open: operations must act
            message = why_failed(error)
            self._log(TL.INVOICE_VOID_FAILED, error=message)
            step = f"void invoice {invoice_id}"
            self._mail.email(MessageKind.PAYMENT_ERROR, Audience.OPERATIONS, step=step, error=message)

    def _invoice_payment(self, invoice_id: str) -> Payment:
        """The payment of our own hosted invoice, found paid when we tried to void it."""
        instructions = self._order.payment_instructions
        amount = instructions.invoice_amount if instructions and instructions.invoice_amount else None
        return Payment(
            at=workflow.now(),
            amount=amount if amount is not None else self._order.balance_due,
            method=PaymentMethod.INVOICE,
            reference=invoice_id,
            currency=self._order.currency,
        )

    def _already_paid(self, method: PaymentMethod, reference: str) -> bool:
        # Stripe ids are unique; a bank reference (SO-42) is reused by design.
        if method is PaymentMethod.BANK_TRANSFER:
            return False
        seen: list[Payment | HeldPayment] = [*self._order.payments, *self._order.held_payments]
        return any(p.method is method and p.reference == reference for p in seen)

    @property
    def _stripe_customer_id(self) -> str | None:
        return self._state.card.stripe_customer_id if self._state.card else self._state.last_stripe_customer

    def recompute_balance(self) -> None:
        # What an overpayment refund gave back no longer counts as paid (none in older orders).
        returned = sum((r.amount for r in self._order.refunds if r.overpaid_by and r.status in GIVEN_BACK), ZERO)
        paid = sum((p.amount for p in self._order.payments), ZERO) - returned
        total = self._order.total or ZERO
        self._order.amount_paid = paid
        self._order.balance_due = max(total - paid, ZERO)
        self._order.overpaid = max(paid - total, ZERO)
        if self._order.instalments:
            # A payment schedule: what is due now is what has fallen due and is unpaid.
            self._order.balance_due = self._allocate(paid)

    def _allocate(self, paid: Decimal) -> Decimal:
        was_paid = {bill.number for bill in self._order.instalments if bill.status is InstalmentStatus.PAID}
        due_now = instalments.allocate(self._state, paid, workflow.now())
        for bill in self._order.instalments:
            if bill.status is InstalmentStatus.PAID and bill.number not in was_paid:
                self._log(TL.INSTALMENT_PAID, instalment=bill.name)
        return due_now

    def payment_failed(self, request: PaymentFailedInput) -> None:
        if request.reference in self._state.reported_failures:
            # Stripe reports a decline both to the charge and to the webhook.
            self._log(TL.DUPLICATE_FAILURE_IGNORED, reference=request.reference)
            return
        self._state.reported_failures.add(request.reference)
        self._log(
            TL.PAYMENT_FAILED,
            method=request.method,
            reference=request.reference,
            reason=request.decline_code or request.reason,
        )
        self._mail.email(
            MessageKind.PAYMENT_DECLINED,
            **contexts.payment_context(self._state),
            reason=request.reason,
            requires_action=request.requires_action,
            hosted_url=request.hosted_url,
        )
