"""Billing a payment schedule: each instalment requested, reminded of and charged on its own.

An order without a schedule never comes here: the saga asks for the whole total on approval, as
it always did. With one (``OrderView.instalments``, planned in ``workflows/instalments.py``):

- the instalments due on approval are what the saga collects before work starts, for the amount
  ``balance_due`` says, with today's reminders and the cancellation when that money is overdue;
- every other instalment falls due when its event happens (``event``: a milestone completed, the
  delivery, the acceptance; ``alarms``: its date), plus the terms' ``payment_due``. It is then
  requested in its own email with its own reference and hosted invoice, charged to the saved card
  on its due date (after an advance notice), reminded of at the terms' offsets, and marked overdue
  past its date. After the last reminder operations are told. It never cancels the order: the order
  waits at the end of support (``AWAITING_FINAL_PAYMENT``) until it is paid.

Every Stripe call is keyed by the order and the instalment (``order-42:instalment:2:charge:3``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows import email_contexts as contexts
from workflows import facts, instalments
from workflows.activity_refs import PaymentRefs
from workflows.activity_refs import reason as why_failed
from workflows.alarms import Alarm
from workflows.continuation import Effects
from workflows.details import Details, log
from workflows.facts import ZERO
from workflows.mail import Mail
from workflows.models import (
    Audience,
    ChargeAttempt,
    ChargeRequest,
    Confirmation,
    InstalmentBill,
    InstalmentStatus,
    MessageKind,
    OrderState,
    OrderStatus,
    Payment,
    PaymentMethod,
    PaymentRequest,
    ProvidePaymentMethodInput,
    VoidInvoiceRequest,
)
from workflows.models import TimelineKind as TL
from workflows.payment_port import invoice_status, payment_step
from workflows.saga import PaymentSaga

S = OrderStatus

# A saved card is charged on the due date; the customer hears of it this long before.
CARD_NOTICE = timedelta(days=3)
# Once support has ended with money owed, the customer is reminded this often until it is paid.
DUNNING_INTERVAL = timedelta(days=7)
# Statuses in which instalments after the start of work are billed (the saga bills the ones before).
BILLING_STAGES = frozenset({S.IN_PROGRESS, S.AWAITING_ACCEPTANCE, S.IN_SUPPORT, S.AWAITING_FINAL_PAYMENT})

Fire = Callable[[], Awaitable[None]]


class Billing:
    """The instalments of an approved payment schedule that fall due after the work started."""

    def __init__(
        self,
        state: OrderState,
        effects: Effects,
        mail: Mail,
        published: Details,
        saga: PaymentSaga,
        wake: Callable[[], None],
    ) -> None:
        self._state = state
        self._effects = effects
        self._mail = mail
        self._details = published
        self._saga = saga
        self._wake = wake
        saga.counted = self._void_settled

    @property
    def _bills(self) -> list[InstalmentBill]:
        return self._state.order.instalments

    def _log(self, kind: TL, /, **fields: object) -> None:
        log(self._state, kind, **fields)

    # ------------------------------------------------------------------
    # What makes an instalment fall due
    # ------------------------------------------------------------------

    def plan(self, confirmation: Confirmation) -> None:
        """On approval: the schedule's bills (none without a schedule)."""
        self._state.order.instalments = instalments.plan(self._state, confirmation, workflow.now())

    def recompute(self) -> None:
        self._saga.recompute_balance()

    def change_approved(self, change: Confirmation, previous: Confirmation) -> Decimal:
        """A change order moved the total: the bills follow it, what it adds falls due now, and what
        was paid above the new total goes back. Returns that amount (zero when nothing goes back)."""
        instalments.reprice(self._state, change, previous)
        self._saga.recompute_balance()
        self.event(instalments.change_event(change))
        excess = self._state.order.overpaid
        if excess > ZERO:
            currency = self._state.order.currency
            reason = f"change order v{change.version} lowered the total to {currency} {change.amount_total}"
            self._saga.give_back(excess, f"refund:change:v{change.version}", reason)
        self._wake()
        return excess

    def event(self, event: str) -> None:
        """``delivery``, ``acceptance`` or ``milestone:<name>`` happened: the instalments due on it fall due."""
        for bill in list(instalments.falling_due_on(self._state, event)):
            self._fall_due(bill)

    def work_accepted(self) -> None:
        """The work is accepted: the instalments due on acceptance fall due, and so do those due on a
        milestone nobody marked completed (the accepted work includes it)."""
        self.event("acceptance")
        for bill in self._bills:
            if bill.fell_due_at is None and bill.due.startswith("milestone:"):
                self._fall_due(bill)

    def _fall_due(self, bill: InstalmentBill) -> None:
        now = workflow.now()
        bill.fell_due_at = now
        bill.due_at = now + facts.term(self._state, "payment_due")
        self._saga.recompute_balance()
        order = self._state.order
        self._log(TL.INSTALMENT_DUE, instalment=bill.name, currency=order.currency, amount=bill.unpaid, due=bill.due_at)
        if bill.unpaid > ZERO and not order.status.is_final:
            self._effects.spawn(self._request(bill))
        self._wake()
        self._details.publish()

    async def _request(self, bill: InstalmentBill) -> None:
        """Its own hosted invoice where the terms offer invoices, then its own email."""
        if PaymentMethod.INVOICE in facts.approved(self._state).terms.payment_methods:
            await self._create_invoice(bill)
        if bill.unpaid > ZERO and self._state.order.status in BILLING_STAGES:
            self._mail.email(MessageKind.INSTALMENT_DUE, **contexts.instalment_context(self._state, bill))

    async def _create_invoice(self, bill: InstalmentBill) -> None:
        order = self._state.order
        card = self._state.saved_card
        amount = bill.unpaid
        try:
            created = await payment_step(
                PaymentRefs.request_payment,
                PaymentRequest(
                    order_id=order.order_id,
                    methods=[PaymentMethod.INVOICE],
                    amount=amount,
                    currency=facts.approved(self._state).currency,
                    reference=bill.reference,
                    due_at=facts.require(bill.due_at, "instalment due date"),
                    idempotency_key=self._key(bill, "payment-request"),
                    customer_name=order.customer.name,
                    customer_email=order.customer.email,
                    stripe_customer_id=card.stripe_customer_id if card else self._state.last_stripe_customer,
                    line_items=instalments.invoice_lines(self._state, [bill]),
                    days_until_due=max(1, facts.term(self._state, "payment_due").days),
                ),
                f"create hosted invoice for instalment {bill.number}",
            )
        except ActivityError as error:
            message = why_failed(error)
            self._log(TL.HOSTED_INVOICE_FAILED, error=message)
            step = f"hosted invoice for instalment {bill.name!r}"
            self._mail.email(MessageKind.PAYMENT_ERROR, Audience.OPERATIONS, step=step, error=message)
            return
        bill.invoice_id, bill.invoice_url = created.invoice_id, created.invoice_url
        bill.invoice_amount = amount
        if created.invoice_id:
            self._log(TL.HOSTED_INVOICE_CREATED, invoice=created.invoice_id)
            self._void_settled()  # paid another way while Stripe made it

    # ------------------------------------------------------------------
    # Alarms: falling due on a date, reminders, the saved card, overdue
    # ------------------------------------------------------------------

    def alarms(self) -> list[Alarm]:
        """Every alarm of the instalments billed after the start of work (none without a schedule)."""
        found: list[Alarm] = []
        for bill in instalments.later(self._state):
            if bill.fell_due_at is None:
                if bill.falls_due_at is not None:
                    at, what = bill.falls_due_at, f"instalment {bill.name!r} falls due"
                    found.append(Alarm(f"instalment:{bill.number}:falls-due", at, what, self._falls_due(bill)))
            elif bill.unpaid > ZERO and bill.due_at is not None:
                found += self._payment_alarms(bill)
        return found

    def _payment_alarms(self, bill: InstalmentBill) -> list[Alarm]:
        due = facts.require(bill.due_at, "instalment due date")
        fell_due = facts.require(bill.fell_due_at, "instalment date")
        stamp = f"{bill.number}:{due:%Y%m%dT%H%M%S}"
        name = bill.name
        found = [Alarm(f"instalment:{stamp}:overdue", due, f"instalment {name!r} due", self._overdue(bill))]
        by_card = self._card_for(bill) is not None
        if by_card and f"instalment:{stamp}:charge" not in self._state.fired:
            found.append(
                Alarm(f"instalment:{stamp}:charge", due, f"instalment {name!r} card charge", self._charge_due(bill))
            )
            if due - CARD_NOTICE > fell_due:
                notice = Alarm(
                    f"instalment:{stamp}:notice",
                    due - CARD_NOTICE,
                    f"instalment {name!r} card notice",
                    self._notice(bill),
                )
                found.append(notice)
        offsets = instalments.reminders(self._state)
        for number, offset in enumerate(offsets, start=1):
            last = number == len(offsets)
            at = due + offset
            if (at <= fell_due and not last) or (by_card and offset <= timedelta(0)):
                continue  # before it was even asked for, or the card pays it on the day (a decline says so itself)
            found.append(
                Alarm(
                    f"instalment:{stamp}:reminder:{number}",
                    max(at, fell_due),
                    f"instalment {name!r} reminder",
                    self._remind(bill, last),
                )
            )
        if self._state.order.status is S.AWAITING_FINAL_PAYMENT and bill.overdue_alerted and bill.reminded_at:
            # Support is over and the order cannot complete: keep asking.
            at = bill.reminded_at + DUNNING_INTERVAL
            found.append(
                Alarm(
                    f"instalment:{stamp}:dunning:{bill.reminded_at:%Y%m%dT%H%M%S}",
                    at,
                    f"instalment {name!r} reminder",
                    self._remind(bill, False),
                )
            )
        return found

    def _falls_due(self, bill: InstalmentBill) -> Fire:
        async def fire() -> None:
            if bill.fell_due_at is None:
                self._fall_due(bill)

        return fire

    def _overdue(self, bill: InstalmentBill) -> Fire:
        async def fire() -> None:
            self._saga.recompute_balance()  # its status becomes overdue
            self._details.publish()

        return fire

    def _remind(self, bill: InstalmentBill, last: bool) -> Fire:
        async def fire() -> None:
            if bill.unpaid <= ZERO:
                return
            bill.reminded_at = workflow.now()
            currency = self._state.order.currency
            self._log(TL.INSTALMENT_REMINDER, instalment=bill.name, currency=currency, amount=bill.unpaid)
            self._mail.email(MessageKind.INSTALMENT_REMINDER, **contexts.instalment_context(self._state, bill))
            if last and not bill.overdue_alerted:
                bill.overdue_alerted = True
                self._log(TL.INSTALMENT_OVERDUE, instalment=bill.name, currency=currency, amount=bill.unpaid)
                context = contexts.instalment_context(self._state, bill)
                sent = len(instalments.reminders(self._state))
                self._mail.email(MessageKind.INSTALMENT_OVERDUE, Audience.OPERATIONS, **context, reminders_sent=sent)

        return fire

    def _notice(self, bill: InstalmentBill) -> Fire:
        async def fire() -> None:
            if bill.unpaid > ZERO and self._card_for(bill) is not None:
                self._mail.email(MessageKind.INSTALMENT_CHARGE_NOTICE, **contexts.instalment_context(self._state, bill))

        return fire

    def _charge_due(self, bill: InstalmentBill) -> Fire:
        async def fire() -> None:
            card = self._card_for(bill)
            if card is not None and bill.unpaid > ZERO and not self._saga.charging:
                self._effects.spawn(self._charge([bill], card))

        return fire

    # ------------------------------------------------------------------
    # The saved card
    # ------------------------------------------------------------------

    def _card_for(self, bill: InstalmentBill) -> ProvidePaymentMethodInput | None:
        """The card that pays this instalment on its due date, if the customer saved one and the terms allow cards."""
        if PaymentMethod.CARD not in facts.approved(self._state).terms.payment_methods:
            return None
        return self._state.saved_card

    def card_provided(self) -> None:
        """The customer gave a card after work started (the pay page, ``orders card``): what has
        fallen due is charged now; the later instalments on their dates."""
        card = self._state.saved_card
        due = [b for b in instalments.later(self._state) if b.fell_due_at and b.unpaid > ZERO]
        if card is not None and due and not self._saga.charging:
            self._effects.spawn(self._charge(due, card))  # all that is due now, as the pay page says
        self._wake()  # the card's notice and charge alarms

    async def _charge(self, bills: list[InstalmentBill], card: ProvidePaymentMethodInput) -> None:
        """Charge the saved card for these instalments' unpaid parts, keyed by the first of them."""
        order = self._state.order
        self._saga.charging = True  # a cancellation waits for it, and a second card waits too
        self._state.charge_seq += 1
        attempt = self._state.charge_seq
        bill = bills[0]
        amount = sum((b.unpaid for b in bills), ZERO)
        what = ", ".join(f"{b.name} (instalment {b.number} of {len(self._bills)})" for b in bills)
        try:
            result = await payment_step(
                PaymentRefs.charge_card,
                ChargeRequest(
                    order_id=order.order_id,
                    attempt=attempt,
                    amount=amount,
                    currency=facts.approved(self._state).currency,
                    stripe_customer_id=card.stripe_customer_id,
                    payment_method_id=card.payment_method_id,
                    description=f"Order {order.order_id}: {what}",
                    # The same key on every retry of this attempt, so Stripe charges once.
                    idempotency_key=self._key(bill, f"charge:{attempt}"),
                ),
                f"charge card for instalment {bill.number}, attempt {attempt}",
            )
        except ActivityError as error:
            message = why_failed(error)
            order.charge_attempts.append(
                ChargeAttempt(at=workflow.now(), attempt=attempt, status="error", message=message)
            )
            self._log(TL.INSTALMENT_CHARGE, instalment=bill.name, status="error", reason=message)
            step = f"automatic card charge of instalment {bill.name!r}, attempt {attempt}"
            self._mail.email(MessageKind.PAYMENT_ERROR, Audience.OPERATIONS, step=step, error=message)
            return
        finally:
            self._saga.charging = False
        order.charge_attempts.append(result.attempt(workflow.now(), attempt))
        self._log(TL.INSTALMENT_CHARGE, instalment=bill.name, status=result.status, reason=result.decline_code)
        if result.status == "succeeded" and result.payment_intent_id:
            self._saga.take_payment(
                Payment(
                    at=workflow.now(),
                    amount=result.amount or amount,
                    method=PaymentMethod.CARD,
                    reference=result.payment_intent_id,
                    currency=order.currency,
                )
            )
        elif result.status != "processing":
            self._declined(bill, result.message, result.status == "requires_action", result.hosted_url)
            if result.payment_intent_id:
                self._state.reported_failures.add(result.payment_intent_id)  # the webhook's report of it is a repeat

    def _declined(self, bill: InstalmentBill, message: str | None, requires_action: bool, url: str | None) -> None:
        """The customer pays another way (the pay link, the reminders); operations hear of it."""
        reason = message or "The card was declined."
        self._mail.email(
            MessageKind.INSTALMENT_CHARGE_FAILED,
            **contexts.instalment_context(self._state, bill),
            reason=reason,
            requires_action=requires_action,
            hosted_url=url,
        )
        step = f"automatic card charge of instalment {bill.name!r}"
        self._mail.email(MessageKind.PAYMENT_ERROR, Audience.OPERATIONS, step=step, error=reason)

    # ------------------------------------------------------------------
    # Invoices once the money is settled another way
    # ------------------------------------------------------------------

    def void_unpaid_invoices(self) -> None:
        """A cancelled order's open instalment invoices: nobody may pay them now."""
        for bill in self._bills:
            if bill.invoice_id and not bill.invoice_closed:
                self._effects.spawn(self._void(bill, bill.invoice_id))

    def _void_settled(self) -> None:
        """An instalment paid another way (a transfer, a card) while its hosted invoice is open: the
        invoice is voided, so that nobody pays it a second time."""
        paid_by = {payment.reference for payment in self._state.order.payments}
        for bill in self._bills:
            invoice = bill.invoice_id
            if invoice and not bill.invoice_closed and bill.status is InstalmentStatus.PAID:
                bill.invoice_closed = True
                if invoice not in paid_by:
                    self._effects.spawn(self._void(bill, invoice))

    async def _void(self, bill: InstalmentBill, invoice_id: str) -> None:
        bill.invoice_closed = True  # voided, or paid and counted below: either way nobody pays it again
        try:
            await payment_step(
                PaymentRefs.void_invoice,
                VoidInvoiceRequest(
                    order_id=self._state.order.order_id,
                    invoice_id=invoice_id,
                    idempotency_key=self._key(bill, "void-invoice"),
                ),
                f"void invoice {invoice_id} of instalment {bill.number}",
            )
            self._log(TL.INVOICE_VOIDED, invoice=invoice_id)
        except ActivityError as error:
            if invoice_status(error) == "paid":
                # Paid just before the void: money in, counted (what it paid above the total is overpaid).
                amount = bill.invoice_amount or bill.amount
                self._saga.take_payment(
                    Payment(
                        at=workflow.now(),
                        amount=amount,
                        method=PaymentMethod.INVOICE,
                        reference=invoice_id,
                        currency=self._state.order.currency,
                    )
                )
                return
            message = why_failed(error)
            self._log(TL.INVOICE_VOID_FAILED, error=message)
            self._mail.email(
                MessageKind.PAYMENT_ERROR, Audience.OPERATIONS, step=f"void invoice {invoice_id}", error=message
            )

    def _key(self, bill: InstalmentBill, step: str) -> str:
        return facts.key(self._state, f"instalment:{bill.number}:{step}")
