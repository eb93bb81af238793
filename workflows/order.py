"""ServiceOrderWorkflow: one long-running workflow per customer order.

``run`` reads as the business process in the seed document:

    contact → agree on a confirmation → collect payment → do the work
            → delivery and acceptance → support period → completed

Customer and staff actions arrive as signals or updates (one implementation
for both) and change the order at once; timers drive reminders and deadlines.
Each stage waits on at most one timer, for its earliest due alarm, so an
order's history stays short and the workflow only wakes when something is
due or someone acted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from workflows import alarms, deadlines, details, facts, instalments, names, rules
    from workflows import email_contexts as contexts
    from workflows.action_registry import ACTION_MODELS
    from workflows.activity_refs import PolicyRefs
    from workflows.alarms import Alarm, AlarmLoop
    from workflows.billing import BILLING_STAGES, Billing
    from workflows.certificates import Certificates, CertifyHandler
    from workflows.confirmations import Confirmations, recorded
    from workflows.continuation import Effects, Handover
    from workflows.converter import describe, unvalidated
    from workflows.facts import ZERO, iso
    from workflows.handlers import ActionHandlers, Answers, Via, effect_of, one_start_input
    from workflows.mail import Mail
    from workflows.models import (
        AcceptInput,
        Action,
        ActionResult,
        AddNoteInput,
        ApproveInput,
        Audience,
        CancelInput,
        Cancellation,
        CancelledBy,
        Channel,
        Confirmation,
        Customer,
        DeliverInput,
        Delivery,
        ExtendDeadlineInput,
        HistoryPage,
        HistoryPageInput,
        IssueConfirmationInput,
        MessageKind,
        Milestone,
        Note,
        OrderResult,
        OrderState,
        OrderStatus,
        OrderView,
        Payment,
        PaymentEventInput,
        PaymentFailedInput,
        PostUpdateInput,
        ProgressUpdate,
        ProvidePaymentMethodInput,
        RecordPaymentInput,
        RejectedAction,
        RequestChangesInput,
        RequestRevisionInput,
        Revision,
        StartOrderInput,
        SupportRequest,
        SupportRequestInput,
        SupportWindow,
        UpdateCustomerInput,
    )
    from workflows.models import TimelineKind as TL
    from workflows.saga import PaymentSaga
    from workflows.support_desk import SUPPORT_DESK_BESIDE_EMAILS, SupportDesk

S = OrderStatus

# Timeouts and retries, next to the calls they govern.
POLICY_TIMEOUT = timedelta(seconds=10)

# workflow.patched ids: each guards a change that would not replay older orders.
PUBLISH_AT_START = "publish-search-attributes-at-start"
PAYMENT_EMAIL_FIRST = "payment-email-before-invoice"
# Orders recorded before it upserted ahead of the policy's local activity even when a
# signal in the first task had changed the status, and again for the deadline after it.
FIRST_UPSERT_AFTER_POLICY = "first-task-upserts-once-after-the-policy-loads"


@workflow.defn(name=names.WORKFLOW_TYPE)
class ServiceOrderWorkflow(ActionHandlers, CertifyHandler):
    @workflow.init
    @one_start_input
    def __init__(self, start: StartOrderInput) -> None:
        # Handlers may run before ``run`` (signal-with-start, or a signal that
        # arrives in the first task), so all state exists from here.
        self._start_error = start._decode_error
        now = workflow.now()
        if self._start_error is None:
            customer, channel, message = start.customer, start.channel, start.message
        else:
            customer = Customer.model_construct(name="(invalid start input)", email="")
            channel, message = Channel.OTHER, ""
        if start.resume is not None:
            self._state = start.resume.state
        else:
            order = OrderView(
                order_id=start.order_id if self._start_error is None else workflow.info().workflow_id,
                status=S.DISCUSSING,
                customer=customer,
                channel=channel,
                created_at=now,
                first_message=message,
            )
            self._state = OrderState(order=order)
        # What follows lives for this run only; everything else is in ``self._state``.
        self._effects = Effects()
        self._details = details.Details(self._state)
        self._mail = Mail(self._state, self._effects)
        self._desk = SupportDesk(self._state, self._effects, self._mail)
        self._saga = PaymentSaga(self._state, self._effects, self._mail, self._details, self._paid_in_full)
        self._handover = Handover(self._state, self._effects, self._details)
        self._answers = Answers(self._state)
        self._alarms = AlarmLoop(self._state, self._handover, self._details)
        self._billing = Billing(self._state, self._effects, self._mail, self._details, self._saga, self._alarms.wake)
        self._confirmations = Confirmations(
            self._state, self._effects, self._mail, self._details, self._billing, self._set_status, self._start_work
        )
        self._certificates = Certificates(self._state)  # the evidence certificate (the certify update)
        self._mail.certificates = self._certificates  # the email that closes the order carries the last one
        # Payloads that arrived in clear text while the worker encrypts: operations hear of it once.
        self._plain_seen = start._arrived_plain and start.resume is None
        if start.resume is not None:
            self._resume()
        else:
            self._log(TL.CONTACT_RECEIVED, channel=channel)

    @property
    def _order(self) -> OrderView:
        """The order as its customer and staff see it, inside the state."""
        return self._state.order

    # ------------------------------------------------------------------
    # The process
    # ------------------------------------------------------------------

    @workflow.run
    @one_start_input
    async def run(self, start: StartOrderInput) -> OrderResult:
        if self._start_error is not None:
            raise ApplicationError(
                f"invalid start input: {self._start_error}", type="InvalidStartInput", non_retryable=True
            )
        if start.resume is not None:
            self._details.describe()  # A continued order: the search attributes came along.
            self._apply_waiting()
        elif workflow.patched(PUBLISH_AT_START):
            # Searchable from the first moment, even when the starter set no search attributes.
            self._details.publish()
        else:
            self._details.describe()
        try:
            if start.resume is None:
                if self._upsert_before_policy():
                    self._details.upsert_changes()
                self._state.policy = await workflow.execute_local_activity_method(
                    PolicyRefs.load_order_policy,
                    start_to_close_timeout=POLICY_TIMEOUT,
                    summary="load default durations",
                )
                self._mail.email(
                    MessageKind.CONTACT_ACK, message=self._order.first_message, channel=self._order.channel
                )
                self._alert_plaintext()

            await self._agree_on_confirmation()
            await self._collect_payment()
            await self._do_the_work()
            await self._provide_support()
            await self._alarms.stay_while({S.AWAITING_FINAL_PAYMENT}, self._billing.alarms)
        except asyncio.CancelledError:
            # Signals that waited for a next run (a cancellation during the handover) come first.
            self._handover.stop()
            self._apply_waiting()
            # Cancel in the Temporal UI (or ``temporal workflow cancel``): the same
            # refund and void saga as any cancellation, then the run ends as cancelled.
            if not self._status.is_final:
                self._cancel_order("operator", "cancelled through Temporal (a workflow cancellation request)")
            await self._drain()
            raise
        await self._drain()
        return details.result(self._state)

    # ------------------------------------------------------------------
    # A long life in bounded runs: continue-as-new (workflows/continuation.py)
    # ------------------------------------------------------------------

    def _resume(self) -> None:
        self._details.every_patch()
        self._log(TL.RUN_CONTINUED, run=self._order.runs)

    def _upsert_before_policy(self) -> bool:
        """The policy's local activity answers in a second activation of the first
        workflow task. A signal in that task that left ``DISCUSSING`` sets a deadline
        only once the policy is known, so the one upsert waits for the stage's wait.
        """
        return self._status is S.DISCUSSING or not workflow.patched(FIRST_UPSERT_AFTER_POLICY)

    async def _drain(self) -> None:
        """Let emails, refunds and handlers in flight finish before closing."""
        self._details.upsert_changes()
        await self._effects.finish()
        self._details.upsert_changes()

    async def _agree_on_confirmation(self) -> None:
        """Seed 1.2 to 1.3: discuss, issue versions, until one is approved."""
        await self._alarms.stay_while({S.DISCUSSING, S.AWAITING_APPROVAL}, self._confirmations.approval_alarms)

    async def _collect_payment(self) -> None:
        """Seed 2.1 to 2.2: ask for the money, remind, cancel when overdue."""
        if self._status is not S.AWAITING_PAYMENT:
            return
        if self._state.payment_due_at is not None:
            # A continued run: the customer was asked already.
            await self._alarms.stay_while({S.AWAITING_PAYMENT}, self._payment_alarms)
            return
        self._state.payment_requested_at = workflow.now()
        self._state.payment_due_at = self._state.payment_requested_at + facts.term(self._state, "payment_due")
        if workflow.patched(PAYMENT_EMAIL_FIRST):
            await self._saga.ask_for_payment()
        else:
            await self._saga.prepare_then_ask()
        await self._alarms.stay_while({S.AWAITING_PAYMENT}, self._payment_alarms)

    async def _do_the_work(self) -> None:
        """Seed 3.1 to 4.2: commence, report, deliver, and revise until accepted."""
        while self._status in (S.IN_PROGRESS, S.AWAITING_ACCEPTANCE):
            await self._alarms.stay_while({S.IN_PROGRESS}, self._work_alarms)
            await self._alarms.stay_while({S.AWAITING_ACCEPTANCE}, self._review_alarms)

    async def _provide_support(self) -> None:
        """Seed 5.1: open the support period, forward requests, close it."""
        window = self._order.support
        if self._status is not S.IN_SUPPORT or window is None:
            return
        if self._state.support_started:
            # A continued run: the desk and the customer were told already.
            await self._alarms.stay_while({S.IN_SUPPORT}, self._support_alarms)
            return
        self._state.support_started = True
        notice = self._mail.request(
            MessageKind.SUPPORT_TEAM_NOTICE, Audience.SUPPORT, support=contexts.support_context(self._state)
        )
        if workflow.patched(SUPPORT_DESK_BESIDE_EMAILS):
            # The desk is only informed: the customer's email does not wait for its ticket.
            self._desk.opening = True
            self._effects.spawn(self._desk.open(notice))
            self._log(TL.SUPPORT_OPENED, until=window.ends_at.date())
            self._mail.email(MessageKind.SUPPORT_OPENED, support=contexts.support_context(self._state))
        else:
            await self._desk.open(notice)
            self._log(TL.SUPPORT_OPENED, until=window.ends_at.date(), ticket=window.ticket)
            self._mail.email(MessageKind.SUPPORT_OPENED, support=contexts.support_context(self._state))
        await self._alarms.stay_while({S.IN_SUPPORT}, self._support_alarms)

    # ------------------------------------------------------------------
    # Waiting: each stage's alarms (the loop is in workflows/alarms.py)
    # ------------------------------------------------------------------

    def _payment_alarms(self) -> list[Alarm]:
        return alarms.payment_alarms(self._state, self._remind_payment, self._payment_overdue)

    # Instalments of a payment schedule are billed, and a change order waits for its answer,
    # beside the work (neither has alarms in an order without them).
    def _work_alarms(self) -> list[Alarm]:
        stage = alarms.work_alarms(self._state, self._milestone_overdue, self._send_digest)
        return stage + self._billing.alarms() + self._confirmations.change_alarms()

    def _review_alarms(self) -> list[Alarm]:
        stage = alarms.review_alarms(self._state, self._remind_acceptance, self._review_ended)
        return stage + self._billing.alarms() + self._confirmations.change_alarms()

    def _support_alarms(self) -> list[Alarm]:
        return (
            alarms.support_alarms(self._state, self._remind_support_end, self._close_support) + self._billing.alarms()
        )

    # ------------------------------------------------------------------
    # What happens when an alarm fires
    # ------------------------------------------------------------------

    async def _remind_payment(self) -> None:
        self._log(TL.PAYMENT_REMINDER, balance=self._order.balance_due)
        self._mail.email(MessageKind.PAYMENT_REMINDER, **contexts.payment_context(self._state))

    async def _payment_overdue(self) -> None:
        self._mail.email(
            MessageKind.PAYMENT_OVERDUE_CANCELLED,
            amount_due=str(self._order.balance_due),
            currency=self._order.currency,
            due_at=iso(self._state.payment_due_at),
        )
        self._cancel_order("system", "payment overdue past the grace period", notify=False)

    def _milestone_overdue(self, milestone: Milestone) -> Callable[[], Awaitable[None]]:
        async def alert() -> None:
            milestone.overdue_alerted = True
            self._log(TL.MILESTONE_OVERDUE, milestone=milestone.name)
            self._mail.email(
                MessageKind.MILESTONE_OVERDUE,
                Audience.OPERATIONS,
                milestone={"name": milestone.name, "due_at": iso(milestone.due_at)},
            )

        return alert

    async def _send_digest(self) -> None:
        since = facts.require(self._state.last_update_at, "last update date")
        recent = [u for u in self._order.updates if u.at >= since]
        self._state.last_update_at = workflow.now()
        self._log(TL.PROGRESS_DIGEST)
        self._mail.email(
            MessageKind.PROGRESS_DIGEST,
            since=iso(since),
            milestones=contexts.milestones_context(self._state),
            recent_updates=[u.model_dump(mode="json") for u in recent],
        )

    async def _remind_acceptance(self) -> None:
        delivery = self._order.deliveries[-1]
        self._log(TL.ACCEPTANCE_REMINDER, delivery=delivery.round)
        self._mail.email(MessageKind.ACCEPTANCE_REMINDER, **contexts.delivery_context(self._state, delivery))

    async def _review_ended(self) -> None:
        delivery = self._order.deliveries[-1]
        if self._approved.terms.deemed_acceptance:
            self._mail.email(MessageKind.DEEMED_ACCEPTED, review_ended_at=iso(workflow.now()))
            self._enter_support(f"delivery {delivery.round} deemed accepted at the end of the review period")
        else:
            # Silence is not acceptance under these terms: staff must chase it.
            self._log(TL.REVIEW_PERIOD_LAPSED, delivery=delivery.round)
            self._mail.email(
                MessageKind.REVIEW_LAPSED,
                Audience.OPERATIONS,
                round=delivery.round,
                review_ended_at=iso(workflow.now()),
            )

    async def _remind_support_end(self) -> None:
        self._log(TL.SUPPORT_ENDING_SOON)
        self._mail.email(MessageKind.SUPPORT_ENDING_SOON, support=contexts.support_context(self._state))

    async def _close_support(self) -> None:
        window = facts.require(self._order.support, "support window")
        window.closed_at = workflow.now()
        if workflow.patched(SUPPORT_DESK_BESIDE_EMAILS):
            # The order closes once the desk has answered too (see ``_drain``).
            self._effects.spawn(self._desk.close())
        else:
            await self._desk.close()
        self._mail.email(MessageKind.SUPPORT_CLOSED, support=contexts.support_context(self._state))
        if instalments.owing(self._state):
            unpaid = (self._order.total or ZERO) - self._order.amount_paid
            self._set_status(S.AWAITING_FINAL_PAYMENT, f"support period ended, {self._order.currency} {unpaid} unpaid")
        else:
            self._set_status(S.COMPLETED, "support period ended")

    # ------------------------------------------------------------------
    # Actions: signal and update of the same name, one implementation
    # ------------------------------------------------------------------

    def _receive(self, action: str, request: Action, via: Via) -> ActionResult:
        if request._arrived_plain:
            self._plain_seen = True
            self._alert_plaintext()
        if via == "signal" and self._handover.busy() and not request._decode_error:
            return self._wait_for_next_run(action, request)
        repeat = self._answers.repeat(action, request)
        if repeat is not None:
            return repeat
        try:
            rules.check(self._state, action, request, charging=self._saga.charging)
        except rules.ActionRejected as rejected:
            self._reject(action, request, str(rejected), via)
            if via == "update":
                raise rejected.as_update_error() from None
            return ActionResult(
                order_id=self._order.order_id, status=self._status, applied=False, message=str(rejected)
            )
        self._apply(action, request)
        self._details.describe()  # a completed milestone or a payment moves the deadline without a new status
        result = ActionResult(order_id=self._order.order_id, status=self._status, applied=True)
        self._answers.remember(action, request, result)
        return result

    def _alert_plaintext(self) -> None:
        """Tell operations, once per order, that it received payloads in clear text.

        Only when the worker encrypts (its policy, recorded in the history, says
        so; orders recorded before this never do): a client without the key, or
        with ``ORDERS_ENCRYPTION=off``, wrote personal data to Temporal in clear.
        """
        policy = self._state.policy
        if not self._plain_seen or self._state.plaintext_alerted or policy is None or not policy.plaintext_alerts:
            return
        self._state.plaintext_alerted = True
        self._log(TL.PLAINTEXT_PAYLOADS)
        self._mail.email(MessageKind.PLAINTEXT_RECEIVED, Audience.OPERATIONS)

    def _wait_for_next_run(self, action: str, request: Action) -> ActionResult:
        """Keep a signal for the next run, which applies it before anything newer."""
        if self._handover.keep(action, request):
            self._apply_waiting()
        return ActionResult(
            order_id=self._order.order_id, status=self._status, applied=False, message="applied by the next run"
        )

    def _apply_waiting(self) -> None:
        """The signals that waited for this run, in the order they arrived."""
        for held in self._handover.take_waiting():
            model = ACTION_MODELS[held.action]
            try:
                request = model.model_validate(held.request)
            except ValidationError as error:
                request = unvalidated(model, None, describe(error))
            self._receive(held.action, request, "signal")

    def _validate(self, action: str, request: Action) -> None:
        if self._answers.repeat(action, request) is not None:
            return  # A repeat: the handler answers with the first result.
        if self._handover.busy():
            # Applied now, it would overtake the signals waiting for the next run.
            raise ApplicationError(
                "the order is moving on to a new run of its history; send the same update again in a moment",
                type=names.ORDER_BUSY_ERROR,
                non_retryable=True,
            )
        try:
            rules.check(self._state, action, request, charging=self._saga.charging)
        except rules.ActionRejected as rejected:
            raise rejected.as_update_error() from None

    def _reject(self, action: str, request: Action, reason: str, via: Via) -> None:
        workflow.logger.warning("rejected %s via %s: %s", action, via, reason)
        self._order.rejected.append(
            RejectedAction(at=workflow.now(), action=action, request_id=request.request_id, reason=reason, via=via)
        )

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> OrderView:
        """The order, with the recent part of each long list: bounded however long it lived."""
        return details.status_view(self._state)

    @workflow.query(name=names.HISTORY_PAGE_QUERY)
    def history_page(self, request: HistoryPageInput) -> HistoryPage:
        """Entries of one long list, oldest first, from ``start``; earlier runs hold the oldest."""
        return details.history_page(self._state, request)

    # ------------------------------------------------------------------
    # Applying actions (already checked)
    # ------------------------------------------------------------------

    @effect_of(names.ADD_NOTE)
    def _add_note(self, request: AddNoteInput) -> None:
        self._order.notes.append(
            Note(at=workflow.now(), author=request.author, author_name=request.author_name, text=request.text)
        )
        self._log(TL.NOTE, author=request.author)

    @effect_of(names.UPDATE_CUSTOMER)
    def _update_customer(self, request: UpdateCustomerInput) -> None:
        changes = rules.customer_changes(request)
        self._order.customer = self._order.customer.model_copy(update=changes)
        self._log(TL.CUSTOMER_UPDATED, changed=", ".join(sorted(changes)))

    @effect_of(names.ISSUE_CONFIRMATION)
    def _issue_confirmation(self, request: IssueConfirmationInput) -> None:
        self._confirmations.issue(request)

    @effect_of(names.APPROVE)
    def _approve(self, request: ApproveInput) -> None:
        self._confirmations.approve(request.evidence)

    @effect_of(names.REQUEST_CHANGES)
    def _request_changes(self, request: RequestChangesInput) -> None:
        self._confirmations.request_changes(request)

    @effect_of(names.RECORD_PAYMENT)
    def _record_payment(self, request: RecordPaymentInput) -> None:
        self._saga.take_payment(
            Payment(
                at=request.received_at or workflow.now(),
                amount=request.amount,
                method=request.method,
                reference=request.reference,
                currency=request.currency or self._order.currency,
            )
        )

    @effect_of(names.PROVIDE_PAYMENT_METHOD)
    def _provide_payment_method(self, request: ProvidePaymentMethodInput) -> None:
        self._state.last_stripe_customer = request.stripe_customer_id
        self._state.saved_card = request
        self._order.payment_method_on_file = request.payment_method_id
        self._log(TL.PAYMENT_METHOD_PROVIDED, payment_method=request.payment_method_id)
        if self._status in BILLING_STAGES:
            self._billing.card_provided()  # a later instalment of a payment schedule
        else:
            self._state.card = request
            self._saga.charge_card_if_ready()

    @effect_of(names.PAYMENT_FAILED)
    def _payment_failed(self, request: PaymentFailedInput) -> None:
        self._saga.payment_failed(request)

    @effect_of(names.PAYMENT_EVENT)
    def _payment_event(self, request: PaymentEventInput) -> None:
        self._saga.provider_reported(request)

    @effect_of(names.EXTEND_DEADLINE)
    def _extend_deadline(self, request: ExtendDeadlineInput) -> None:
        """Move a running deadline; the stage's timer follows at once (an updatable timer)."""
        deadlines.move(self._state, self._mail, request)
        self._saga.recompute_balance()  # an instalment moved past today is no longer overdue
        self._alarms.wake()

    @effect_of(names.POST_UPDATE)
    def _post_update(self, request: PostUpdateInput) -> None:
        now = workflow.now()
        update = ProgressUpdate(at=now, text=request.text, milestone=request.milestone)
        self._order.updates.append(update)
        if request.milestone is not None:
            milestone = facts.require(facts.milestone(self._state, request.milestone), "milestone")
            milestone.completed_at = now
            self._billing.event(f"milestone:{milestone.name}")
        self._state.last_update_at = now
        self._log(TL.PROGRESS_UPDATE, milestone=request.milestone)
        self._mail.email(
            MessageKind.PROGRESS_UPDATE,
            update=update.model_dump(mode="json"),
            milestones=contexts.milestones_context(self._state),
        )

    @effect_of(names.DELIVER)
    def _deliver(self, request: DeliverInput) -> None:
        delivery = Delivery(
            at=workflow.now(),
            round=len(self._order.deliveries) + 1,
            summary=request.summary,
            links=request.links,
            access_instructions=request.access_instructions,
        )
        self._order.deliveries.append(delivery)
        self._set_status(S.AWAITING_ACCEPTANCE, f"delivery {delivery.round}")
        self._mail.email(MessageKind.DELIVERED, **contexts.delivery_context(self._state, delivery))
        self._billing.event("delivery")

    @effect_of(names.ACCEPT)
    def _accept(self, request: AcceptInput) -> None:
        delivery = self._order.deliveries[-1]
        delivery.decision = recorded(self._state, request.evidence, delivery.round)
        self._mail.email(MessageKind.ACCEPTED, accepted_at=iso(workflow.now()))
        self._enter_support(f"delivery {self._order.deliveries[-1].round} accepted")

    @effect_of(names.REQUEST_REVISION)
    def _request_revision(self, request: RequestRevisionInput) -> None:
        delivery = self._order.deliveries[-1]
        delivery.decision = recorded(self._state, request.evidence, delivery.round)
        revision = Revision(at=workflow.now(), round=len(self._order.revisions) + 1, comments=request.comments)
        self._order.revisions.append(revision)
        self._state.last_update_at = revision.at
        self._mail.email(MessageKind.REVISION_RECEIVED, round=revision.round, comments=revision.comments)
        self._set_status(S.IN_PROGRESS, f"revision round {revision.round} requested")

    @effect_of(names.REQUEST_SUPPORT)
    def _request_support(self, request: SupportRequestInput) -> None:
        support_request = SupportRequest(at=workflow.now(), subject=request.subject, text=request.text)
        self._order.support_requests.append(support_request)
        self._log(TL.SUPPORT_REQUEST, subject=request.subject)
        self._effects.spawn(self._desk.forward(support_request))

    @effect_of(names.CANCEL)
    def _cancel(self, request: CancelInput) -> None:
        self._cancel_order(request.by, request.reason, notify=True)

    # ------------------------------------------------------------------
    # Steps shared by actions and alarms
    # ------------------------------------------------------------------

    def _set_status(self, status: OrderStatus, why: str) -> None:
        """The only place the status changes: timeline, search attributes, UI details."""
        self._order.status = status
        self._alarms.wake()
        self._log(TL.STATUS, status=status, why=why)
        self._details.publish()

    def _start_work(self, why: str) -> None:
        """Seed 3.1: set the milestones from today and tell the customer the timeline."""
        now = workflow.now()
        self._state.last_update_at = self._state.work_started_at = now
        self._order.milestones = [Milestone(name=m.name, due_at=now + m.due) for m in self._approved.terms.milestones]
        estimated = self._approved.terms.estimated_delivery
        self._set_status(S.IN_PROGRESS, why)
        self._mail.email(
            MessageKind.WORK_COMMENCED,
            milestones=[{"name": m.name, "due_at": iso(m.due_at)} for m in self._order.milestones],
            estimated_delivery_at=iso(now + estimated) if estimated else None,
        )

    def _paid_in_full(self) -> None:
        if self._status is S.AWAITING_FINAL_PAYMENT:
            self._set_status(S.COMPLETED, "the last instalment was paid")
        else:
            self._start_work("what is due on approval is paid" if self._order.instalments else "paid in full")

    def _enter_support(self, why: str) -> None:
        now = workflow.now()
        self._order.support = SupportWindow(
            opened_at=now,
            ends_at=now + facts.term(self._state, "support_period"),
            scope=self._approved.terms.support_scope,
        )
        self._set_status(S.IN_SUPPORT, why)
        self._billing.work_accepted()

    def _cancel_order(self, by: CancelledBy, reason: str, notify: bool = True) -> None:
        # Once the work is delivered nothing is refunded by itself: only staff
        # can cancel then (from Temporal), and they settle the money by hand.
        refund = self._status not in (S.AWAITING_ACCEPTANCE, S.IN_SUPPORT, S.AWAITING_FINAL_PAYMENT)
        self._order.cancellation = Cancellation(at=workflow.now(), by=by, reason=reason)
        self._set_status(S.CANCELLED, f"by {by}: {reason}")
        self._effects.spawn(self._saga.settle_cancellation(notify, refund))
        self._billing.void_unpaid_invoices()

    # ------------------------------------------------------------------
    # Small helpers
    # ------------------------------------------------------------------

    @property
    def _status(self) -> OrderStatus:
        return self._order.status

    @property
    def _approved(self) -> Confirmation:
        return facts.approved(self._state)

    def _log(self, kind: TL, /, **fields: object) -> None:
        details.log(self._state, kind, **fields)
