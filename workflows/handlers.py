"""Every action as a signal and an update of the same name.

Web backends fire-and-forget a signal, which is durable even while no worker
runs; callers that want the answer now send the update, whose validator
refuses a bad action before it reaches history. Both end in one place,
``ServiceOrderWorkflow._receive``. This mixin only declares the wire
contract, so the process in ``workflows/order.py`` stays readable.
"""

from __future__ import annotations

from typing import Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import names
    from workflows.models import (
        AcceptInput,
        Action,
        ActionResult,
        AddNoteInput,
        ApproveInput,
        CancelInput,
        DeliverInput,
        ExtendDeadlineInput,
        IssueConfirmationInput,
        PaymentEventInput,
        PaymentFailedInput,
        PostUpdateInput,
        ProvidePaymentMethodInput,
        RecordPaymentInput,
        RequestChangesInput,
        RequestRevisionInput,
        SupportRequestInput,
        UpdateCustomerInput,
    )

Via = Literal["signal", "update"]


class ActionHandlers:
    """Signal, update and validator for each action in ``names.ACTIONS``."""

    def _receive(self, action: str, request: Action, via: Via) -> ActionResult:
        raise NotImplementedError

    def _validate(self, action: str, request: Action) -> None:
        raise NotImplementedError

    @workflow.signal(name=names.ADD_NOTE)
    def add_note_signal(self, request: AddNoteInput) -> None:
        self._receive(names.ADD_NOTE, request, "signal")

    @workflow.update(name=names.ADD_NOTE)
    def add_note(self, request: AddNoteInput) -> ActionResult:
        return self._receive(names.ADD_NOTE, request, "update")

    @add_note.validator
    def _validate_add_note(self, request: AddNoteInput) -> None:
        self._validate(names.ADD_NOTE, request)

    @workflow.signal(name=names.UPDATE_CUSTOMER)
    def update_customer_signal(self, request: UpdateCustomerInput) -> None:
        self._receive(names.UPDATE_CUSTOMER, request, "signal")

    @workflow.update(name=names.UPDATE_CUSTOMER)
    def update_customer(self, request: UpdateCustomerInput) -> ActionResult:
        return self._receive(names.UPDATE_CUSTOMER, request, "update")

    @update_customer.validator
    def _validate_update_customer(self, request: UpdateCustomerInput) -> None:
        self._validate(names.UPDATE_CUSTOMER, request)

    @workflow.signal(name=names.ISSUE_CONFIRMATION)
    def issue_confirmation_signal(self, request: IssueConfirmationInput) -> None:
        self._receive(names.ISSUE_CONFIRMATION, request, "signal")

    @workflow.update(name=names.ISSUE_CONFIRMATION)
    def issue_confirmation(self, request: IssueConfirmationInput) -> ActionResult:
        return self._receive(names.ISSUE_CONFIRMATION, request, "update")

    @issue_confirmation.validator
    def _validate_issue_confirmation(self, request: IssueConfirmationInput) -> None:
        self._validate(names.ISSUE_CONFIRMATION, request)

    @workflow.signal(name=names.APPROVE)
    def approve_signal(self, request: ApproveInput) -> None:
        self._receive(names.APPROVE, request, "signal")

    @workflow.update(name=names.APPROVE)
    def approve(self, request: ApproveInput) -> ActionResult:
        return self._receive(names.APPROVE, request, "update")

    @approve.validator
    def _validate_approve(self, request: ApproveInput) -> None:
        self._validate(names.APPROVE, request)

    @workflow.signal(name=names.REQUEST_CHANGES)
    def request_changes_signal(self, request: RequestChangesInput) -> None:
        self._receive(names.REQUEST_CHANGES, request, "signal")

    @workflow.update(name=names.REQUEST_CHANGES)
    def request_changes(self, request: RequestChangesInput) -> ActionResult:
        return self._receive(names.REQUEST_CHANGES, request, "update")

    @request_changes.validator
    def _validate_request_changes(self, request: RequestChangesInput) -> None:
        self._validate(names.REQUEST_CHANGES, request)

    @workflow.signal(name=names.RECORD_PAYMENT)
    def record_payment_signal(self, request: RecordPaymentInput) -> None:
        self._receive(names.RECORD_PAYMENT, request, "signal")

    @workflow.update(name=names.RECORD_PAYMENT)
    def record_payment(self, request: RecordPaymentInput) -> ActionResult:
        return self._receive(names.RECORD_PAYMENT, request, "update")

    @record_payment.validator
    def _validate_record_payment(self, request: RecordPaymentInput) -> None:
        self._validate(names.RECORD_PAYMENT, request)

    @workflow.signal(name=names.POST_UPDATE)
    def post_update_signal(self, request: PostUpdateInput) -> None:
        self._receive(names.POST_UPDATE, request, "signal")

    @workflow.update(name=names.POST_UPDATE)
    def post_update(self, request: PostUpdateInput) -> ActionResult:
        return self._receive(names.POST_UPDATE, request, "update")

    @post_update.validator
    def _validate_post_update(self, request: PostUpdateInput) -> None:
        self._validate(names.POST_UPDATE, request)

    @workflow.signal(name=names.DELIVER)
    def deliver_signal(self, request: DeliverInput) -> None:
        self._receive(names.DELIVER, request, "signal")

    @workflow.update(name=names.DELIVER)
    def deliver(self, request: DeliverInput) -> ActionResult:
        return self._receive(names.DELIVER, request, "update")

    @deliver.validator
    def _validate_deliver(self, request: DeliverInput) -> None:
        self._validate(names.DELIVER, request)

    @workflow.signal(name=names.ACCEPT)
    def accept_signal(self, request: AcceptInput) -> None:
        self._receive(names.ACCEPT, request, "signal")

    @workflow.update(name=names.ACCEPT)
    def accept(self, request: AcceptInput) -> ActionResult:
        return self._receive(names.ACCEPT, request, "update")

    @accept.validator
    def _validate_accept(self, request: AcceptInput) -> None:
        self._validate(names.ACCEPT, request)

    @workflow.signal(name=names.REQUEST_REVISION)
    def request_revision_signal(self, request: RequestRevisionInput) -> None:
        self._receive(names.REQUEST_REVISION, request, "signal")

    @workflow.update(name=names.REQUEST_REVISION)
    def request_revision(self, request: RequestRevisionInput) -> ActionResult:
        return self._receive(names.REQUEST_REVISION, request, "update")

    @request_revision.validator
    def _validate_request_revision(self, request: RequestRevisionInput) -> None:
        self._validate(names.REQUEST_REVISION, request)

    @workflow.signal(name=names.REQUEST_SUPPORT)
    def request_support_signal(self, request: SupportRequestInput) -> None:
        self._receive(names.REQUEST_SUPPORT, request, "signal")

    @workflow.update(name=names.REQUEST_SUPPORT)
    def request_support(self, request: SupportRequestInput) -> ActionResult:
        return self._receive(names.REQUEST_SUPPORT, request, "update")

    @request_support.validator
    def _validate_request_support(self, request: SupportRequestInput) -> None:
        self._validate(names.REQUEST_SUPPORT, request)

    @workflow.signal(name=names.CANCEL)
    def cancel_signal(self, request: CancelInput) -> None:
        self._receive(names.CANCEL, request, "signal")

    @workflow.update(name=names.CANCEL)
    def cancel(self, request: CancelInput) -> ActionResult:
        return self._receive(names.CANCEL, request, "update")

    @cancel.validator
    def _validate_cancel(self, request: CancelInput) -> None:
        self._validate(names.CANCEL, request)

    @workflow.signal(name=names.PROVIDE_PAYMENT_METHOD)
    def provide_payment_method_signal(self, request: ProvidePaymentMethodInput) -> None:
        self._receive(names.PROVIDE_PAYMENT_METHOD, request, "signal")

    @workflow.update(name=names.PROVIDE_PAYMENT_METHOD)
    def provide_payment_method(self, request: ProvidePaymentMethodInput) -> ActionResult:
        return self._receive(names.PROVIDE_PAYMENT_METHOD, request, "update")

    @provide_payment_method.validator
    def _validate_provide_payment_method(self, request: ProvidePaymentMethodInput) -> None:
        self._validate(names.PROVIDE_PAYMENT_METHOD, request)

    @workflow.signal(name=names.PAYMENT_FAILED)
    def payment_failed_signal(self, request: PaymentFailedInput) -> None:
        self._receive(names.PAYMENT_FAILED, request, "signal")

    @workflow.update(name=names.PAYMENT_FAILED)
    def payment_failed(self, request: PaymentFailedInput) -> ActionResult:
        return self._receive(names.PAYMENT_FAILED, request, "update")

    @payment_failed.validator
    def _validate_payment_failed(self, request: PaymentFailedInput) -> None:
        self._validate(names.PAYMENT_FAILED, request)

    @workflow.signal(name=names.PAYMENT_EVENT)
    def payment_event_signal(self, request: PaymentEventInput) -> None:
        self._receive(names.PAYMENT_EVENT, request, "signal")

    @workflow.update(name=names.PAYMENT_EVENT)
    def payment_event(self, request: PaymentEventInput) -> ActionResult:
        return self._receive(names.PAYMENT_EVENT, request, "update")

    @payment_event.validator
    def _validate_payment_event(self, request: PaymentEventInput) -> None:
        self._validate(names.PAYMENT_EVENT, request)

    @workflow.signal(name=names.EXTEND_DEADLINE)
    def extend_deadline_signal(self, request: ExtendDeadlineInput) -> None:
        self._receive(names.EXTEND_DEADLINE, request, "signal")

    @workflow.update(name=names.EXTEND_DEADLINE)
    def extend_deadline(self, request: ExtendDeadlineInput) -> ActionResult:
        return self._receive(names.EXTEND_DEADLINE, request, "update")

    @extend_deadline.validator
    def _validate_extend_deadline(self, request: ExtendDeadlineInput) -> None:
        self._validate(names.EXTEND_DEADLINE, request)
