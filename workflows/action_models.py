"""The wire contract of every action: its name and the one model it takes.

The workflow's handlers decode with this table (``workflows/handlers.py``), and
the client library publishes it (``orderclient/contract.py``). It imports only
names and models, never workflow code, so a client that loads it stays light.
"""

from __future__ import annotations

from typing import Final

from workflows import names
from workflows.models import (
    AcceptInput,
    Action,
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

ACTION_MODELS: Final[dict[str, type[Action]]] = {
    names.ADD_NOTE: AddNoteInput,
    names.UPDATE_CUSTOMER: UpdateCustomerInput,
    names.ISSUE_CONFIRMATION: IssueConfirmationInput,
    names.APPROVE: ApproveInput,
    names.REQUEST_CHANGES: RequestChangesInput,
    names.RECORD_PAYMENT: RecordPaymentInput,
    names.POST_UPDATE: PostUpdateInput,
    names.DELIVER: DeliverInput,
    names.ACCEPT: AcceptInput,
    names.REQUEST_REVISION: RequestRevisionInput,
    names.REQUEST_SUPPORT: SupportRequestInput,
    names.CANCEL: CancelInput,
    names.PROVIDE_PAYMENT_METHOD: ProvidePaymentMethodInput,
    names.PAYMENT_FAILED: PaymentFailedInput,
    names.PAYMENT_EVENT: PaymentEventInput,
    names.EXTEND_DEADLINE: ExtendDeadlineInput,
}
"""The one model each action takes, by action name (the signal and update name)."""
